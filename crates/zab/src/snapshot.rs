//! Snapshots and the purge of the transaction log (ZooKeeper's `SyncRequestProcessor`,
//! which snapshots the data tree every `snapCount` txns, and `PurgeTxnLog`, which deletes
//! the log files a retained snapshot covers).
//!
//! Every `snapshot_every` applied txns a node writes a snapshot of its state (the kv and the
//! zxid of the last txn it covers), then a purge of the logged txns at or below that zxid.
//! A node's writes complete in the order issued, so the log never loses a txn that no
//! durable snapshot covers; a crash between the two leaves the covered txns in the log,
//! and the restarted node drops them. Only applied (so committed) txns are snapshotted, so
//! every later leader's history holds them.
//!
//! Synchronisation (`sync.rs`) uses the snapshot as ZooKeeper's `syncFollower` uses its
//! on-disk snapshot: a learner whose last zxid is below the oldest txn the leader kept
//! (and is not the snapshot's own zxid) gets SNAP, carrying the leader's snapshot and the
//! txns after it. A learner that already applied past that snapshot keeps its state and
//! only takes the snapshot as its own (its state at that zxid is the same, since
//! committed txns agree), so it never applies a txn twice.

use crate::{Durable, Message, Write, WriteEffect, Zab, Zxid};
use protocol::{Kv, OptionKind, OptionSpec, OptionValue, Outputs};
use std::hash::{Hash, Hasher};

/// The options only ZAB has (`[options.zab]` in a scenario).
pub const OPTION_SNAPSHOT_EVERY: OptionSpec = OptionSpec {
    name: "snapshot_every",
    kind: OptionKind::Count,
    // As deployments run (etcd and ZooKeeper snapshot every 100,000 by default; fewer here,
    // where a long run's memory is the point): a node's log is bounded by its
    // configuration, not by the run's length. No shipped scenario applies this many
    // entries, so their runs and trace hashes are what they were with snapshots off.
    default: OptionValue::Count(10_000),
    summary: "every this many applied txns a node snapshots its state and purges the logged txns the snapshot covers (0: never)",
};

/// A snapshot of the replicated state: every txn up to `zxid` applied.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Snapshot {
    pub zxid: Zxid,
    pub kv: Kv,
}

/// The snapshot a SNAP carries, if the leader has one. Hashes nothing when absent, so a
/// SNAP of a leader that never compacted digests exactly as before snapshots existed.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SnapBase(pub Option<Box<Snapshot>>);

impl Hash for SnapBase {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if let Some(snapshot) = &self.0 {
            snapshot.hash(state);
        }
    }
}

impl Zab {
    /// After applying: snapshot once `snapshot_every` txns were applied since the last one.
    pub(crate) fn maybe_snapshot(&mut self, out: &mut Outputs<Message, Write>) {
        if self.snapshot_every == 0 || self.applied_since_snapshot < self.snapshot_every {
            return;
        }
        let zxid = self.applied;
        debug_assert!(zxid <= self.committed && zxid > self.snapshot_zxid());
        out.mark("zab.snapshot_taken");
        let snapshot = Snapshot {
            zxid,
            kv: self.kv.clone(),
        };
        self.set_snapshot(snapshot.clone());
        // The snapshot is durable before the purge of what it covers (writes complete in
        // the order issued).
        self.write(Write::SaveSnapshot(snapshot), WriteEffect::None, out);
        self.write(Write::Purge(zxid), WriteEffect::None, out);
    }

    /// Takes `snapshot` as this node's latest and drops the txns it covers from memory.
    pub(crate) fn set_snapshot(&mut self, snapshot: Snapshot) {
        let zxid = snapshot.zxid;
        let covered = match self.position(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.log.drain(..covered);
        self.snapshot = Some(Box::new(snapshot));
        self.applied_since_snapshot = 0;
    }

    /// A learner takes a SNAP that carries the leader's snapshot: the state at its zxid,
    /// unless this node already applied that far (then only the snapshot record: the state
    /// it applied to that point is the same). Returns the writes, snapshot first.
    pub(crate) fn take_snap_base(
        &mut self,
        base: Snapshot,
        out: &mut Outputs<Message, Write>,
    ) -> Vec<Write> {
        let mut writes = Vec::new();
        if self.applied >= base.zxid {
            out.mark("zab.learner_snap_behind_applied");
        } else {
            out.mark("zab.snapshot_installed");
            self.kv = base.kv.clone();
            self.applied = base.zxid;
            self.committed = self.committed.max(base.zxid);
        }
        if base.zxid > self.snapshot_zxid() {
            writes.push(Write::SaveSnapshot(base.clone()));
            self.snapshot = Some(Box::new(base));
            self.applied_since_snapshot = 0;
        }
        writes
    }

    /// At start: the state from the durable snapshot; the log keeps the txns after it.
    pub(crate) fn recover_snapshot(
        &mut self,
        durable: &Durable,
        out: &mut Outputs<Message, Write>,
    ) {
        let Some(s) = &durable.snapshot else {
            return;
        };
        out.mark("zab.restart_from_snapshot");
        if self.log.first().is_some_and(|t| t.zxid <= s.zxid) {
            // A crash fell between the snapshot and the purge.
            out.mark("zab.restart_finishes_purge");
            self.write(Write::Purge(s.zxid), WriteEffect::None, out);
        }
        self.kv = s.kv.clone();
        self.applied = s.zxid;
        self.committed = s.zxid;
        self.set_snapshot(s.clone());
    }
}
