//! Durations as written in scenario files: `"150ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"250us"`.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The longest duration a scenario may name: a day of simulated time. Anything longer is
/// almost certainly a typo (a missing unit suffix multiplies by a thousand).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses `"150ms"` into a non-negative duration, or says what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed = parse_signed_nanos(text)?;
    if signed < 0 {
        return Err(format!("expected a non-negative duration, got {text:?}"));
    }
    Ok(Duration::from_nanos(signed as u64))
}

/// Parses `"-50ms"` or `"2s"` into signed nanoseconds (for clock steps).
pub fn parse_signed_nanos(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let unit_nanos: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" if number.chars().all(|c| c == '0' || c == '.') && !number.is_empty() => 0.0,
        _ => {
            return Err(format!(
                "expected a duration with a unit, like \"150ms\" or \"5s\" (units: ns, us, ms, s, m, h), got {text:?}"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration like \"150ms\" or \"5s\", got {text:?}"))?;
    let nanos = value * unit_nanos;
    if !nanos.is_finite() || nanos > MAX_DURATION.as_nanos() as f64 {
        return Err(format!("expected a duration of at most 24h, got {text:?}"));
    }
    let nanos = nanos.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

/// Renders a duration the way scenario files write them.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0s".to_string()
    } else if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// A non-negative duration field of a scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

/// A signed duration field (a clock step may go backwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedDur(pub i64);

struct DurVisitor {
    signed: bool,
}

impl Visitor<'_> for DurVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.signed {
            f.write_str("a duration string like \"-50ms\" or \"2s\"")
        } else {
            f.write_str("a duration string like \"150ms\" or \"5s\"")
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        if self.signed {
            parse_signed_nanos(v).map_err(E::custom)
        } else {
            parse_duration(v)
                .map(|d| d.as_nanos() as i64)
                .map_err(E::custom)
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if v == 0 {
            Ok(0)
        } else {
            Err(E::custom(format!(
                "expected a duration string with a unit, like \"{v}ms\" or \"{v}s\", got the bare number {v}"
            )))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        self.visit_i64(v as i64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(E::custom(format!(
            "expected a duration string with a unit, like \"{v}s\", got the bare number {v}"
        )))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let nanos = d.deserialize_any(DurVisitor { signed: false })?;
        Ok(Dur(Duration::from_nanos(nanos as u64)))
    }
}

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SignedDur(d.deserialize_any(DurVisitor { signed: true })?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_print_round_trip() {
        for (text, nanos) in [
            ("150ms", 150_000_000u64),
            ("5s", 5_000_000_000),
            ("1.5s", 1_500_000_000),
            ("250us", 250_000),
            ("2m", 120_000_000_000),
            ("0", 0),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_nanos() as u64, nanos, "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn negative_unitless_and_absurd_durations_are_rejected_with_what_was_expected() {
        assert!(parse_duration("-5s").unwrap_err().contains("non-negative"));
        assert!(parse_duration("150").unwrap_err().contains("with a unit"));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("with a unit"));
        assert!(parse_duration("100000h")
            .unwrap_err()
            .contains("at most 24h"));
        assert_eq!(parse_signed_nanos("-50ms").unwrap(), -50_000_000);
    }
}
