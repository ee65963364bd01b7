//! ZAB's side of the shared test driver ([`protocol::testkit`], FIFO links): the ZAB
//! invariants kept as reports arrive ([`ZabInvariants`]), and the helpers that finish Fast
//! Leader Election (`settle`, `tick_all`). ZAB clusters complete writes by hand (or in
//! `deliver_all`) and record every output, for assertions on write and send order.
//! `ZAB_TRACE=1` prints every input and output.
#![allow(dead_code, unused_imports)] // each test file uses a part of it

use protocol::testkit::{self, Monitor};
pub use protocol::testkit::{n, read, write, Envelope};
use protocol::{Config, NodeId, OpId, Protocol, ReadMode, Report, Role};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use zab::{Durable, Zab};

pub type Cluster = testkit::Cluster<Zab, ZabInvariants>;

pub fn config(voters: u32, observers: u32, read_mode: ReadMode) -> Config {
    let mut c = Config::new((1..=voters).map(NodeId).collect());
    c.observers = (voters + 1..=voters + observers).map(NodeId).collect();
    c.read_mode = read_mode;
    c
}

/// Txns of `epoch` at `counters`, each a write of its counter to key "k" (operation id
/// 1000 + counter): a durable log to start a server from.
pub fn txns(epoch: u64, counters: std::ops::RangeInclusive<u64>) -> Vec<zab::Txn> {
    counters
        .map(|i| {
            zab::Txn::new(
                zab::make_zxid(epoch, i),
                protocol::Command {
                    id: OpId(1000 + i),
                    op: protocol::Op::Write {
                        key: "k".into(),
                        value: i,
                    },
                },
            )
        })
        .collect()
}

/// A ZAB cluster of `config` started from empty durable images.
pub fn cluster(config: Config) -> Cluster {
    cluster_with_durables(config, BTreeMap::new())
}

pub fn cluster_with_durables(config: Config, durables: BTreeMap<NodeId, Durable>) -> Cluster {
    let mut c = Cluster::unstarted(config, durables, ZabInvariants::default());
    c.auto_write = false;
    c.record_outputs = true;
    c.trace = std::env::var_os("ZAB_TRACE").is_some();
    c.start_all();
    c
}

/// The ZAB invariants of PROTOCOLS.md, recorded as reports arrive.
pub struct ZabInvariants {
    /// Every (zxid, op) any node reported committed.
    pub committed: BTreeMap<u64, Option<OpId>>,
    /// Epoch -> nodes that reported `Role{Leader, epoch}`.
    pub leaders: BTreeMap<u64, BTreeSet<NodeId>>,
    /// Apply reports of each node's current incarnation: (zxid, op).
    applied: BTreeMap<NodeId, Vec<(u64, Option<OpId>)>>,
    /// The Apply sequence of every incarnation that ended in a crash.
    pub finished_sequences: Vec<Vec<(u64, Option<OpId>)>>,
    /// Assert the invariants as reports arrive (off for mutants, which break them).
    pub checking: bool,
}

impl Default for ZabInvariants {
    fn default() -> Self {
        ZabInvariants {
            committed: BTreeMap::new(),
            leaders: BTreeMap::new(),
            applied: BTreeMap::new(),
            finished_sequences: Vec::new(),
            checking: true,
        }
    }
}

impl ZabInvariants {
    /// What `id` applied since it last started.
    pub fn applied(&self, id: NodeId) -> &[(u64, Option<OpId>)] {
        self.applied.get(&id).map_or(&[], |a| a.as_slice())
    }
}

impl Monitor<Zab> for ZabInvariants {
    fn report(&mut self, id: NodeId, node: &Zab, report: &Report) {
        match report {
            Report::Role {
                role: Role::Leader,
                term,
            } => {
                self.leaders.entry(*term).or_default().insert(id);
                // Committed txns are never lost: an established leader holds them all (in
                // its log, or in the snapshot that covers them).
                if self.checking {
                    let log = node.log();
                    for (&z, &op) in &self.committed {
                        assert!(
                            z <= node.snapshot_zxid()
                                || log.iter().any(|t| t.zxid == z && Some(t.cmd.id) == op),
                            "{id} established epoch {term} without committed txn {z:#x} ({op:?})"
                        );
                    }
                }
            }
            Report::Commit { index, op, .. } => {
                if let Some(prev) = self.committed.insert(*index, *op) {
                    assert!(
                        !self.checking || prev == *op,
                        "zxid {index:#x} committed with two ops: {prev:?} and {op:?}"
                    );
                }
            }
            Report::Apply { index, op, .. } => {
                self.applied.entry(id).or_default().push((*index, *op));
            }
            _ => {}
        }
    }

    fn crashed(&mut self, id: NodeId) {
        let sequence = self.applied.remove(&id).unwrap_or_default();
        self.finished_sequences.push(sequence);
    }
}

/// What only ZAB tests ask of the cluster.
pub trait ZabCluster {
    /// Runs until quiet, firing FLE finalize timers (the only timers that complete an
    /// election when not every voter agreed) until no more are set.
    fn settle(&mut self);
    /// Passes `d` in heartbeat-sized steps; at each step every pending timer fires once
    /// (a coarse clock: election timers fire early, which only re-sends notifications),
    /// then the cluster settles.
    fn tick_all(&mut self, d: Duration);
    fn established_leader(&self) -> Option<NodeId>;
    /// The ZAB invariants over everything recorded so far.
    fn check_invariants(&self);
}

impl ZabCluster for Cluster {
    fn settle(&mut self) {
        for _ in 0..50 {
            self.deliver_all();
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let mut fired = false;
            for id in ids {
                fired |= self.fire_if_set(id, zab_timer::FINALIZE);
            }
            if !fired {
                return;
            }
        }
    }

    fn tick_all(&mut self, d: Duration) {
        let step = self.config.heartbeat_interval;
        let mut left = d;
        while !left.is_zero() {
            let dt = step.min(left);
            left -= dt;
            self.advance(dt);
            self.fire_all_timers();
            self.settle();
        }
    }

    fn established_leader(&self) -> Option<NodeId> {
        self.nodes.iter().find_map(|(&id, node)| {
            node.state
                .as_ref()
                .filter(|z| z.role().0 == Role::Leader)
                .map(|_| id)
        })
    }

    fn check_invariants(&self) {
        // What a node holds in memory is on disk once its writes completed.
        for (id, node) in &self.nodes {
            if let (Some(z), 0) = (&node.state, self.pending_writes(*id)) {
                // (The file may still hold txns a newer snapshot covers.)
                let durable: Vec<_> = node
                    .durable
                    .log
                    .iter()
                    .filter(|t| t.zxid > z.snapshot_zxid())
                    .cloned()
                    .collect();
                assert_eq!(durable, z.log(), "{id}: durable log lags memory");
            }
        }
        for (e, ls) in &self.monitor.leaders {
            assert!(
                ls.len() <= 1,
                "epoch {e} has two established leaders: {ls:?}"
            );
        }
        let mut seqs: Vec<&[(u64, Option<OpId>)]> = self
            .monitor
            .finished_sequences
            .iter()
            .map(|s| s.as_slice())
            .collect();
        seqs.extend(self.nodes.keys().map(|&id| self.monitor.applied(id)));
        // Agreement: over the zxids both delivered (an incarnation that started from a
        // snapshot delivers only what follows it), two sequences hold the same txns.
        for a in &seqs {
            assert!(a.windows(2).all(|w| w[0].0 < w[1].0), "deliveries go back");
            for b in &seqs {
                let (Some(a0), Some(b0)) = (a.first(), b.first()) else {
                    continue;
                };
                let from = a0.0.max(b0.0);
                let to = a.last().unwrap().0.min(b.last().unwrap().0);
                let within = |s: &[(u64, Option<OpId>)]| -> Vec<(u64, Option<OpId>)> {
                    s.iter()
                        .filter(|(z, _)| (from..=to).contains(z))
                        .copied()
                        .collect()
                };
                assert_eq!(within(a), within(b), "delivered sequences diverge");
            }
        }
    }
}

/// The crate's timer ids (as a test sees them in outputs).
pub mod zab_timer {
    use protocol::TimerId;
    pub const ELECTION: TimerId = TimerId(0);
    pub const FINALIZE: TimerId = TimerId(1);
    pub const TICK: TimerId = TimerId(2);
}
