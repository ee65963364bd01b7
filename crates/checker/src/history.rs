//! The history model: client operations with their process, call and return times,
//! function, key, input, output and status, as every format is read into.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value a register or map key can hold or an operation can carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Never written (reads as nil / the empty string for get).
    #[default]
    Nil,
    Int(i64),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::Read => "read",
            Func::Write => "write",
            Func::Cas => "cas",
            Func::Get => "get",
            Func::Put => "put",
            Func::Append => "append",
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It happened, with the output given.
    Ok,
    /// It did not happen.
    Fail,
    /// Indeterminate: it may have happened at any point after its call, or never.
    Info,
}

impl Status {
    /// What a client knows of an operation that did not fail: it happened if it returned
    /// (`ret`), else it is indeterminate.
    pub fn of_return(ret: Option<u64>) -> Status {
        if ret.is_some() {
            Status::Ok
        } else {
            Status::Info
        }
    }
}

/// A field that is present is `Some`, even when it is `null`; absence gives `None`
/// through `#[serde(default)]`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One operation. Times are in any unit that orders events (nanoseconds, or line numbers
/// for logs that carry no times).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub process: u64,
    pub call: u64,
    /// Absent when the operation never returned (then its status is `info`).
    #[serde(default)]
    pub ret: Option<u64>,
    pub f: Func,
    /// The key; registers use one key (`""`).
    #[serde(default)]
    pub key: String,
    /// write / put / append: the value written; cas: the expected value.
    #[serde(default)]
    pub value: Value,
    /// cas: the new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
    /// read / get: the value read; absent when unknown. `null` is a read that saw the key
    /// never written, so a present `null` must stay `Some(Nil)` (serde's own `Option`
    /// would read it as absent and the read would constrain nothing).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Value>,
    /// cas: whether the compare matched, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_ok: Option<bool>,
    pub status: Status,
    /// Where the operation came from (line of its invocation), for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!("{:?}, ", self.key)
        };
        match self.f {
            Func::Read | Func::Get => {
                write!(f, "{}({})", self.f.name(), key.trim_end_matches(", "))?;
                match &self.output {
                    Some(v) => write!(f, " -> {v}"),
                    None => write!(f, " -> ?"),
                }
            }
            Func::Write | Func::Put | Func::Append => {
                write!(f, "{}({key}{})", self.f.name(), self.value)
            }
            Func::Cas => {
                let to = self.to.clone().unwrap_or_default();
                write!(f, "cas({key}{} -> {to})", self.value)?;
                match self.cas_ok {
                    Some(ok) => write!(f, " -> {ok}"),
                    None => write!(f, " -> ?"),
                }
            }
        }?;
        write!(f, " by process {}", self.process)
    }
}

/// A whole history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Operation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that returned `null` saw the key never written: an observation, not an
    /// unknown output (docs/history-format.md, `output`).
    #[test]
    fn a_null_output_is_a_read_of_nothing_and_an_absent_one_is_unknown() {
        let seen: Operation = serde_json::from_str(
            r#"{"process":0,"call":1,"ret":2,"f":"read","key":"x","output":null,"status":"ok"}"#,
        )
        .unwrap();
        assert_eq!(seen.output, Some(Value::Nil));
        let unknown: Operation = serde_json::from_str(
            r#"{"process":0,"call":1,"ret":2,"f":"read","key":"x","status":"ok"}"#,
        )
        .unwrap();
        assert_eq!(unknown.output, None);
        let again: Operation =
            serde_json::from_str(&serde_json::to_string(&seen).unwrap()).unwrap();
        assert_eq!(again, seen, "a null output survives a round trip");
    }

    /// A read of nothing after a completed write is stale (linearizability: the write
    /// precedes the read in real time), and the JSON reader must not hide it.
    #[test]
    fn a_null_read_after_a_completed_write_is_not_linearizable() {
        use crate::linearizability::{check, Budget, Model, Outcome};
        let h: History = serde_json::from_str(
            r#"{"ops":[
              {"process":0,"call":1,"ret":2,"f":"write","key":"x","value":1,"status":"ok"},
              {"process":1,"call":3,"ret":4,"f":"read","key":"x","output":null,"status":"ok"}]}"#,
        )
        .unwrap();
        let outcome = check(&h, Model::Kv, Budget::default());
        assert!(
            matches!(outcome, Outcome::NotLinearizable(_)),
            "{}",
            outcome.name()
        );
    }
}
