//! The replicated state machine every protocol applies committed commands to: a map from
//! string keys to integer values with read, write and compare-and-set.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub type Key = String;
pub type Value = u64;

/// Identifies one client operation for the whole run (unique across clients).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub u64);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op{}", self.0)
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Op {
    Read { key: Key },
    Write { key: Key, value: Value },
    Cas { key: Key, from: Value, to: Value },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } => key,
        }
    }
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Read { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read { key } => write!(f, "read({key})"),
            Op::Write { key, value } => write!(f, "write({key}, {value})"),
            Op::Cas { key, from, to } => write!(f, "cas({key}, {from} -> {to})"),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpResult {
    /// The value read; `None` when the key was never written.
    Read(Option<Value>),
    Written,
    /// Whether the compare matched (and so the swap happened).
    Cas(bool),
}

impl fmt::Display for OpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpResult::Read(Some(v)) => write!(f, "{v}"),
            OpResult::Read(None) => write!(f, "nil"),
            OpResult::Written => write!(f, "ok"),
            OpResult::Cas(ok) => write!(f, "{ok}"),
        }
    }
}

/// A client operation as it travels through a protocol's log.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Command {
    pub id: OpId,
    pub op: Op,
}

/// The replicated key-value state machine.
#[derive(Clone, Default, Debug, PartialEq, Eq, Hash)]
pub struct Kv {
    map: BTreeMap<Key, Value>,
}

impl Kv {
    pub fn apply(&mut self, op: &Op) -> OpResult {
        match op {
            Op::Read { key } => OpResult::Read(self.map.get(key).copied()),
            Op::Write { key, value } => {
                self.map.insert(key.clone(), *value);
                OpResult::Written
            }
            Op::Cas { key, from, to } => match self.map.get_mut(key) {
                Some(current) if *current == *from => {
                    *current = *to;
                    OpResult::Cas(true)
                }
                _ => OpResult::Cas(false),
            },
        }
    }

    /// Answers a read without changing anything (for reads not ordered through the log).
    pub fn read(&self, key: &str) -> Option<Value> {
        self.map.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_swaps_only_on_match_and_missing_keys_read_nil() {
        let mut kv = Kv::default();
        let k = || "x".to_string();
        assert_eq!(kv.apply(&Op::Read { key: k() }), OpResult::Read(None));
        assert_eq!(
            kv.apply(&Op::Cas {
                key: k(),
                from: 0,
                to: 1
            }),
            OpResult::Cas(false)
        );
        assert_eq!(
            kv.apply(&Op::Write { key: k(), value: 3 }),
            OpResult::Written
        );
        assert_eq!(
            kv.apply(&Op::Cas {
                key: k(),
                from: 2,
                to: 9
            }),
            OpResult::Cas(false)
        );
        assert_eq!(
            kv.apply(&Op::Cas {
                key: k(),
                from: 3,
                to: 9
            }),
            OpResult::Cas(true)
        );
        assert_eq!(kv.read("x"), Some(9));
    }
}
