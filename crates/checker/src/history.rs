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
    /// read / get: the value read; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
