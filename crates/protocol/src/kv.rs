//! The replicated state machine every protocol applies committed commands to: a map from
//! string keys to integer values with read, write and compare-and-set.

use serde::{Deserialize, Serialize};
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
#[derive(Clone, Default)]
pub struct Kv {
    /// The map, as (key, value) pairs in ascending key order: every replica applies every
    /// command, so a lookup runs on every apply of every node, and a workload has a
    /// handful of keys, where a binary search on a vector beats a tree's node walk.
    /// Equality, hashing and printing are a `BTreeMap`'s (see below).
    map: Vec<(Key, Value)>,
    /// The sum of [`entry_digest`] over the map, kept as it changes: two replicas that
    /// applied the same log from the same state have the same digest (FoundationDB's
    /// consistency check, at every applied index and for free).
    digest: u64,
}

// The digest is a function of the map, so equality, hashing and printing look at the map
// alone (and a trace hash that covers a state machine is the one it always was).
impl PartialEq for Kv {
    fn eq(&self, other: &Kv) -> bool {
        self.map == other.map
    }
}

impl Eq for Kv {}

/// As a `BTreeMap<Key, Value>` hashes: its length, then each key and value in order.
impl std::hash::Hash for Kv {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.map.len());
        for (key, value) in &self.map {
            key.hash(state);
            value.hash(state);
        }
    }
}

/// As a `BTreeMap` prints: `Kv { map: {"k0": 1} }`.
impl fmt::Debug for Kv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Map<'a>(&'a [(Key, Value)]);
        impl fmt::Debug for Map<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, v)| (k, v)))
                    .finish()
            }
        }
        f.debug_struct("Kv").field("map", &Map(&self.map)).finish()
    }
}

/// Orders keys as `str` does (bytes, then length), inline: keys are a few bytes, where a
/// call to `memcmp` costs more than the comparison.
#[inline]
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}

/// One key's part of a [`Kv`]'s digest: FNV-1a over the key and value, then a finalizer
/// that spreads it (so that sums of digests rarely collide).
fn entry_digest(key: &str, value: Value) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    // The key's bytes, then the value's: two plain loops (a chained iterator tests which
    // half it is in at every byte).
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    for b in value.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

impl Kv {
    /// Where `key` is, or would be inserted (a binary search written out, so that it
    /// inlines with its comparison).
    #[inline]
    fn find(&self, key: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.map.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match key_order(&self.map[mid].0, key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn get(&self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.map[i].1)
    }

    pub fn apply(&mut self, op: &Op) -> OpResult {
        match op {
            Op::Read { key } => OpResult::Read(self.get(key)),
            Op::Write { key, value } => {
                // The key is copied only the first time it is written.
                match self.find(key) {
                    Ok(i) => {
                        let old = std::mem::replace(&mut self.map[i].1, *value);
                        self.digest = self.digest.wrapping_sub(entry_digest(key, old));
                    }
                    Err(i) => self.map.insert(i, (key.clone(), *value)),
                }
                self.digest = self.digest.wrapping_add(entry_digest(key, *value));
                OpResult::Written
            }
            Op::Cas { key, from, to } => match self.find(key).ok().map(|i| &mut self.map[i].1) {
                Some(current) if *current == *from => {
                    *current = *to;
                    self.digest = self
                        .digest
                        .wrapping_sub(entry_digest(key, *from))
                        .wrapping_add(entry_digest(key, *to));
                    OpResult::Cas(true)
                }
                _ => OpResult::Cas(false),
            },
        }
    }

    /// A digest of the whole state: equal states have equal digests (and unequal ones,
    /// almost surely, unequal digests).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Answers a read without changing anything (for reads not ordered through the log).
    pub fn read(&self, key: &str) -> Option<Value> {
        self.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::hash::{Hash, Hasher};

    #[test]
    fn behaves_hashes_and_prints_as_a_btreemap_of_the_same_writes() {
        fn hash_of(x: &impl Hash) -> u64 {
            let mut h = std::hash::DefaultHasher::new();
            x.hash(&mut h);
            h.finish()
        }
        let mut kv = Kv::default();
        let mut model: BTreeMap<Key, Value> = BTreeMap::new();
        let keys = ["k1", "k10", "k", "k2", "a", "k0", "kk", "", "k11", "b9"];
        let mut x: u64 = 7;
        for step in 0..2_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = keys[(x >> 33) as usize % keys.len()].to_string();
            let value = (x >> 20) % 4;
            let op = match step % 3 {
                0 => Op::Read { key },
                1 => Op::Write { key, value },
                _ => Op::Cas {
                    key,
                    from: value,
                    to: step,
                },
            };
            let expected = match &op {
                Op::Read { key } => OpResult::Read(model.get(key).copied()),
                Op::Write { key, value } => {
                    model.insert(key.clone(), *value);
                    OpResult::Written
                }
                Op::Cas { key, from, to } => match model.get_mut(key) {
                    Some(v) if *v == *from => {
                        *v = *to;
                        OpResult::Cas(true)
                    }
                    _ => OpResult::Cas(false),
                },
            };
            assert_eq!(kv.apply(&op), expected, "{op}");
            assert_eq!(hash_of(&kv), hash_of(&model));
            assert_eq!(format!("{kv:?}"), format!("Kv {{ map: {model:?} }}"));
        }
        assert!(model.len() > 5);
    }

    #[test]
    fn digest_follows_the_state_not_the_path() {
        let w = |k: &str, v| Op::Write {
            key: k.to_string(),
            value: v,
        };
        let mut a = Kv::default();
        let mut b = Kv::default();
        assert_eq!(a.digest(), b.digest());
        a.apply(&w("x", 1));
        a.apply(&w("y", 2));
        a.apply(&Op::Cas {
            key: "x".into(),
            from: 1,
            to: 3,
        });
        b.apply(&w("y", 2));
        b.apply(&w("x", 3));
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        b.apply(&w("x", 4));
        assert_ne!(a.digest(), b.digest());
        b.apply(&Op::Cas {
            key: "x".into(),
            from: 9,
            to: 3,
        });
        assert_ne!(a.digest(), b.digest(), "a failed cas changes nothing");
        b.apply(&w("x", 3));
        assert_eq!(a.digest(), b.digest());
    }

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
