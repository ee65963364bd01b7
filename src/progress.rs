//! Watching one long run: a progress bar on a terminal (simulated time, events per second,
//! memory), a plain line every 10 seconds otherwise, and the memory budget that stops a run
//! before it exhausts the machine.
//!
//! The simulator calls the watch every `simulator::sim::WATCH_EVERY` events; nothing here
//! touches the run's course, so a watched run is the same run (same hash) as any other.

use simulator::sim::{Progress, Watch};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a run goes before it shows a progress bar (short runs stay quiet).
const BAR_AFTER: Duration = Duration::from_secs(1);
/// How often a plain progress line is written when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// The process's resident memory in bytes, where the system says (Linux), else `None`.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The machine's memory in bytes, where the system says (Linux).
fn physical_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The default memory budget of one run: three quarters of the machine's memory (8 GiB
/// where that is unknown).
pub fn default_budget() -> u64 {
    physical_bytes().map_or(8 << 30, |b| b / 4 * 3)
}

/// Parses a size such as `512MiB`, `4GiB`, `2GB` or a plain number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "expected a size such as 512MiB or 4GiB, got unit {other:?} in {text:?}"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("expected a size such as 512MiB or 4GiB, got {text:?}"))?;
    let bytes = value * scale as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "expected a size of at least one byte, got {text:?}"
        ));
    }
    Ok(bytes as u64)
}

/// A size as people read it: `512.0 MiB`, `4.20 GiB`.
pub fn bytes_text(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

struct State {
    started: Instant,
    last_line: Instant,
    bar: Option<indicatif::ProgressBar>,
    peak: u64,
}

/// What watches one run; dropping it clears the progress bar.
pub struct RunWatch {
    state: Arc<Mutex<State>>,
    watch: Watch,
}

impl RunWatch {
    /// A watch that stops the run when its resident memory passes `budget` bytes
    /// (`flag` names the option that sets it, for the message), and shows progress on
    /// stderr when `show` (a terminal gets a bar, anything else a line every 10 s).
    pub fn new(budget: u64, flag: &'static str, show: bool) -> RunWatch {
        let now = Instant::now();
        let state = Arc::new(Mutex::new(State {
            started: now,
            last_line: now,
            bar: None,
            peak: 0,
        }));
        let terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let shared = Arc::clone(&state);
        let watch = Watch(Arc::new(move |p: &Progress| {
            let memory = resident_bytes().unwrap_or(0);
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.peak = s.peak.max(memory);
            if memory > budget {
                if let Some(bar) = s.bar.take() {
                    bar.finish_and_clear();
                }
                return Err(format!(
                    "the run used {} of memory, over its budget of {} ({flag}), at simulated time {:.3}s after {} events; shorten the scenario, lower its load, or raise {flag}",
                    bytes_text(memory),
                    bytes_text(budget),
                    p.now_ns as f64 / 1e9,
                    p.events
                ));
            }
            if show {
                s.show(p, memory, terminal);
            }
            Ok(())
        }));
        RunWatch { state, watch }
    }

    pub fn watch(&self) -> Watch {
        self.watch.clone()
    }

    /// The highest resident memory seen while watching.
    pub fn peak(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).peak
    }
}

impl State {
    fn show(&mut self, p: &Progress, memory: u64, terminal: bool) {
        let elapsed = self.started.elapsed();
        let rate = p.events as f64 / elapsed.as_secs_f64().max(1e-9);
        let text = format!(
            "{:.1}s of {:.1}s simulated · {:.2} M steps/s · {}",
            p.now_ns as f64 / 1e9,
            p.end_ns as f64 / 1e9,
            rate / 1e6,
            bytes_text(memory)
        );
        if terminal {
            if self.bar.is_none() && elapsed >= BAR_AFTER {
                let bar = indicatif::ProgressBar::new(p.end_ns.max(1));
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {percent}% · {msg} · eta {eta}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                self.bar = Some(bar);
            }
            if let Some(bar) = &self.bar {
                bar.set_position(p.now_ns);
                bar.set_message(text);
            }
        } else if self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            eprintln!("progress: {text}");
        }
    }
}

impl Drop for RunWatch {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = s.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_unit_and_bad_ones_say_what_was_expected() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
        assert_eq!(parse_bytes("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        for bad in ["", "lots", "4 parsecs", "0", "-1GiB", "GiB"] {
            let e = parse_bytes(bad).expect_err(bad);
            assert!(e.contains("expected"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_watch_over_budget_stops_the_run_with_a_message_naming_the_option() {
        let w = RunWatch::new(1, "--max-memory", false);
        let p = Progress {
            now_ns: 2_500_000_000,
            end_ns: 10_000_000_000,
            events: 65536,
        };
        if resident_bytes().is_some() {
            let e = (w.watch().0)(&p).expect_err("any process uses more than one byte");
            assert!(e.contains("--max-memory") && e.contains("2.500s"), "{e}");
            assert!(w.peak() > 1);
        }
        let roomy = RunWatch::new(u64::MAX, "--max-memory", false);
        assert!((roomy.watch().0)(&p).is_ok());
    }
}
