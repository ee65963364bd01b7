//! The client history as a run records it: one fixed-size record per operation, with no
//! heap allocation of its own, and each key's name kept once (issue #13: a long run
//! holds millions of operations, and a `String` key each cost more than the rest of the
//! record). [`HistoryOp`] is the readable form, built on demand.

use crate::sim::Outcome;
use protocol::{Op, OpId, OpResult};
use std::collections::BTreeMap;

/// Bits of an operation id that name its client: an id is `(n << CLIENT_BITS) | client`,
/// where `n` counts the run's operations from 1 in invocation order.
pub const CLIENT_BITS: u32 = 10;

/// One client operation from invocation to its end.
#[derive(Clone, Debug)]
pub struct HistoryOp {
    pub process: u64,
    pub client: u32,
    pub id: OpId,
    pub op: Op,
    pub invoke_ns: u64,
    pub return_ns: Option<u64>,
    pub outcome: Outcome,
    /// The node that answered (0 when none did).
    pub node: u32,
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Write,
    Cas,
}

/// How an operation ended, without its result's value (see [`ClientHistory::outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Indeterminate (also: still open at the end of the run).
    Info,
    Fail,
    Written,
    /// A read that saw the key never written.
    ReadNothing,
    /// A read that returned a value: for a read, its `b`.
    Read,
    Cas(bool),
}

/// One operation, 48 bytes.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub invoke_ns: u64,
    /// `u64::MAX` while it has none (open, or indeterminate).
    return_raw: u64,
    /// write: the value; cas: the value compared with.
    pub a: u64,
    /// cas: the new value; read: the value it returned (with [`End::Read`]).
    pub b: u64,
    pub process: u32,
    /// The key, as an index into [`ClientHistory::key_name`].
    pub key: u32,
    pub client: u16,
    /// The node that answered (0 when none did).
    pub node: u16,
    pub kind: OpKind,
    pub end: End,
}

impl Record {
    pub fn return_ns(&self) -> Option<u64> {
        (self.return_raw != u64::MAX).then_some(self.return_raw)
    }

    pub fn is_ok(&self) -> bool {
        !matches!(self.end, End::Info | End::Fail)
    }
}

/// Every client operation of a run, in invocation order.
#[derive(Clone, Debug, Default)]
pub struct ClientHistory {
    records: Vec<Record>,
    names: Vec<String>,
    ids: BTreeMap<String, u32>,
    /// The value a write or a cas was answered with as if it were a read (no correct
    /// node does this; a record has no room for it), by place.
    odd_reads: BTreeMap<usize, u64>,
}

impl ClientHistory {
    pub fn new() -> ClientHistory {
        ClientHistory::default()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The name of key `key` (a [`Record::key`]).
    pub fn key_name(&self, key: u32) -> &str {
        &self.names[key as usize]
    }

    /// How many distinct keys the history names.
    pub fn key_count(&self) -> usize {
        self.names.len()
    }

    /// The value the operation at `index` read, when it ended with [`End::Read`].
    pub fn read_value(&self, index: usize) -> u64 {
        let r = &self.records[index];
        debug_assert_eq!(r.end, End::Read);
        match r.kind {
            OpKind::Read => r.b,
            _ => self.odd_reads[&index],
        }
    }

    /// How the operation at `index` ended.
    pub fn outcome(&self, index: usize) -> Outcome {
        match self.records[index].end {
            End::Info => Outcome::Info,
            End::Fail => Outcome::Fail,
            End::Written => Outcome::Ok(OpResult::Written),
            End::ReadNothing => Outcome::Ok(OpResult::Read(None)),
            End::Read => Outcome::Ok(OpResult::Read(Some(self.read_value(index)))),
            End::Cas(swapped) => Outcome::Ok(OpResult::Cas(swapped)),
        }
    }

    /// The id of the operation at `index`.
    pub fn id(&self, index: usize) -> OpId {
        OpId(((index as u64 + 1) << CLIENT_BITS) | u64::from(self.records[index].client))
    }

    /// The operation at `index` as the client sent it.
    pub fn op(&self, index: usize) -> Op {
        let r = &self.records[index];
        let key = self.names[r.key as usize].clone();
        match r.kind {
            OpKind::Read => Op::Read { key },
            OpKind::Write => Op::Write { key, value: r.a },
            OpKind::Cas => Op::Cas {
                key,
                from: r.a,
                to: r.b,
            },
        }
    }

    /// The operation at `index` in its readable form.
    pub fn get(&self, index: usize) -> HistoryOp {
        let r = &self.records[index];
        HistoryOp {
            process: u64::from(r.process),
            client: u32::from(r.client),
            id: self.id(index),
            op: self.op(index),
            invoke_ns: r.invoke_ns,
            return_ns: r.return_ns(),
            outcome: self.outcome(index),
            node: u32::from(r.node),
        }
    }

    /// Every operation in its readable form, in invocation order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = HistoryOp> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Records an invocation; `id` must be the one [`ClientHistory::id`] gives its place.
    pub fn invoke(&mut self, process: u64, client: u32, id: OpId, op: &Op, invoke_ns: u64) {
        let key = match self.ids.get(op.key()) {
            Some(&k) => k,
            None => {
                let k = u32::try_from(self.names.len()).expect("fewer than 2^32 keys");
                self.names.push(op.key().to_string());
                self.ids.insert(op.key().to_string(), k);
                k
            }
        };
        let (kind, a, b) = match *op {
            Op::Read { .. } => (OpKind::Read, 0, 0),
            Op::Write { value, .. } => (OpKind::Write, value, 0),
            Op::Cas { from, to, .. } => (OpKind::Cas, from, to),
        };
        self.records.push(Record {
            invoke_ns,
            return_raw: u64::MAX,
            a,
            b,
            process: u32::try_from(process).expect("fewer than 2^32 client processes"),
            key,
            client: u16::try_from(client).expect("clients fit in an operation id's low bits"),
            node: 0,
            kind,
            end: End::Info,
        });
        assert_eq!(
            self.id(self.len() - 1),
            id,
            "operation ids count the history's operations"
        );
    }

    /// Records how the operation at `index` ended.
    pub fn end(&mut self, index: usize, return_ns: Option<u64>, outcome: &Outcome, node: u32) {
        let r = &mut self.records[index];
        r.return_raw = return_ns.unwrap_or(u64::MAX);
        r.node = u16::try_from(node).expect("node ids fit in 16 bits");
        r.end = match outcome {
            Outcome::Info => End::Info,
            Outcome::Fail => End::Fail,
            Outcome::Ok(OpResult::Written) => End::Written,
            Outcome::Ok(OpResult::Read(None)) => End::ReadNothing,
            Outcome::Ok(OpResult::Read(Some(v))) => {
                if r.kind == OpKind::Read {
                    r.b = *v;
                } else {
                    self.odd_reads.insert(index, *v);
                }
                End::Read
            }
            Outcome::Ok(OpResult::Cas(swapped)) => End::Cas(*swapped),
        };
    }
}

impl<'h> IntoIterator for &'h ClientHistory {
    type Item = HistoryOp;
    type IntoIter = Box<dyn ExactSizeIterator<Item = HistoryOp> + 'h>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation reads back as it was recorded, key names included.
    #[test]
    fn an_operation_reads_back_as_it_was_recorded() {
        let mut h = ClientHistory::new();
        let ops = [
            Op::Write {
                key: "k1".into(),
                value: 7,
            },
            Op::Read { key: "k0".into() },
            Op::Cas {
                key: "k1".into(),
                from: 7,
                to: 9,
            },
            Op::Read { key: "k1".into() },
        ];
        let outcomes = [
            Outcome::Ok(OpResult::Written),
            Outcome::Ok(OpResult::Read(None)),
            Outcome::Ok(OpResult::Cas(true)),
            Outcome::Ok(OpResult::Read(Some(9))),
        ];
        for (i, op) in ops.iter().enumerate() {
            let client = i as u32 % 3;
            let id = OpId(((i as u64 + 1) << CLIENT_BITS) | u64::from(client));
            h.invoke(i as u64 + 10, client, id, op, 100 * i as u64);
        }
        h.end(0, Some(50), &outcomes[0], 2);
        h.end(1, Some(150), &outcomes[1], 3);
        h.end(2, Some(250), &outcomes[2], 1);
        h.end(3, Some(350), &outcomes[3], 4);
        // A write answered as if it were a read keeps its value and the answer.
        h.invoke(
            0,
            1,
            OpId((5 << CLIENT_BITS) | 1),
            &Op::Write {
                key: "k2".into(),
                value: 11,
            },
            500,
        );
        h.end(4, Some(550), &Outcome::Ok(OpResult::Read(Some(3))), 1);
        assert_eq!(h.get(4).outcome, Outcome::Ok(OpResult::Read(Some(3))));
        assert_eq!(
            h.get(4).op,
            Op::Write {
                key: "k2".into(),
                value: 11
            }
        );
        assert_eq!(h.key_count(), 3);
        for (i, op) in h.iter().take(4).enumerate() {
            assert_eq!(op.op, ops[i]);
            assert_eq!(op.outcome, outcomes[i]);
            assert_eq!(op.process, i as u64 + 10);
            assert_eq!(op.invoke_ns, 100 * i as u64);
            assert_eq!(op.return_ns, Some(50 + 100 * i as u64));
        }
        let mut open = ClientHistory::new();
        open.invoke(0, 0, OpId(1 << CLIENT_BITS), &ops[0], 5);
        assert_eq!(open.get(0).outcome, Outcome::Info);
        assert_eq!(open.get(0).return_ns, None);
        assert_eq!(std::mem::size_of::<Record>(), 48);
    }
}
