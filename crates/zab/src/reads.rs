//! Reads: `local`, `sync` and `sync_quorum`.
//!
//! - `local` (ZooKeeper's default): the server the client talks to answers from its own
//!   applied state once it is serving (an established leader, or a learner past UPTODATE).
//!   Sequentially consistent, not linearizable.
//! - `sync` (ZooKeeper's `sync` + read): a learner forwards SYNC to the leader; the leader
//!   answers once it has committed every txn it had proposed when it saw the SYNC
//!   (`Leader.processSync`), and the learner answers the read once it has applied up to
//!   that zxid. The leader does *not* check that it still leads (ZOOKEEPER-1675), so a
//!   deposed leader that has not noticed yet answers stale data.
//! - `sync_quorum`: the same, but the leader first runs a PING round and waits until a
//!   quorum of voters (itself included) echoed it: linearizable.
//!
//! `Report::ReadServed{term}` means "the leader of `term` answered on its own authority"
//! (the split-brain checker counts these), so only a leader emits it: for a `local` read it
//! answers itself, and for every `sync` it answers without a quorum round (its own client's
//! or a learner's SYNC). A learner's local read is a follower read, not a leader's.

use crate::sync::PeerStage;
use crate::{Message, Phase, Write, Zab, Zxid};
use protocol::{Command, LocalTime, NodeId, OpResult, Outputs, ReadMode, Reply, Report};

#[derive(Debug)]
pub(crate) enum Waiter {
    /// A client of the leader itself.
    Local(Command),
    /// SYNC number `id` from a learner.
    Remote(NodeId, u64),
}

#[derive(Debug)]
pub(crate) struct SyncWaiter {
    /// The leader's last proposed zxid when the sync arrived.
    target: Zxid,
    /// The PING round that must be echoed by a quorum (sync_quorum only).
    round: Option<u64>,
    waiter: Waiter,
}

impl SyncWaiter {
    pub(crate) fn remote_peer(&self) -> Option<NodeId> {
        match self.waiter {
            Waiter::Remote(p, _) => Some(p),
            Waiter::Local(_) => None,
        }
    }
}

impl Zab {
    fn serving_epoch(&self) -> Option<u64> {
        match &self.phase {
            Phase::Leading(s) if s.established => s.epoch,
            Phase::Following(l) if l.up_to_date => l.epoch,
            _ => None,
        }
    }

    fn answer_read(
        &mut self,
        cmd: Command,
        quorum_confirmed: bool,
        out: &mut Outputs<Message, Write>,
    ) {
        let value = self.kv.read(cmd.op.key());
        if !quorum_confirmed {
            self.report_leader_read(out);
        }
        out.reply(cmd.id, Reply::Ok(OpResult::Read(value)));
    }

    fn report_leader_read(&self, out: &mut Outputs<Message, Write>) {
        if let Phase::Leading(s) = &self.phase {
            if let (true, Some(term)) = (s.established, s.epoch) {
                out.report(Report::ReadServed { term });
            }
        }
    }

    pub(crate) fn on_client_read(
        &mut self,
        _now: LocalTime,
        cmd: Command,
        out: &mut Outputs<Message, Write>,
    ) {
        if self.serving_epoch().is_none() {
            out.reply(
                cmd.id,
                Reply::NotLeader {
                    hint: self.leader(),
                },
            );
            return;
        }
        match self.config.read_mode {
            ReadMode::Sync | ReadMode::SyncQuorum => match &mut self.phase {
                Phase::Leading(_) => self.leader_on_sync(Waiter::Local(cmd), out),
                Phase::Following(l) => {
                    let id = l.next_sync_id;
                    l.next_sync_id += 1;
                    l.pending_syncs.insert(id, cmd);
                    out.send(l.leader, Message::Sync { id });
                }
                Phase::Looking(_) => unreachable!("serving while looking"),
            },
            // check_config admits only local, sync and sync_quorum.
            _ => self.answer_read(cmd, false, out),
        }
    }

    pub(crate) fn leader_on_sync(&mut self, waiter: Waiter, out: &mut Outputs<Message, Write>) {
        let target = self.last_zxid();
        let quorum = self.config.read_mode == ReadMode::SyncQuorum;
        let s = self.leader_state();
        let round = if quorum {
            s.ping_round += 1;
            let r = s.ping_round;
            for (&p, peer) in &s.learners {
                if !peer.observer && peer.stage == PeerStage::NewLeaderAcked {
                    out.send(p, Message::Ping { round: r });
                }
            }
            Some(r)
        } else {
            None
        };
        s.sync_waiters.push(SyncWaiter {
            target,
            round,
            waiter,
        });
        self.check_sync_waiters(out);
    }

    /// Answers the leader's syncs whose target is committed (and round confirmed).
    pub(crate) fn check_sync_waiters(&mut self, out: &mut Outputs<Message, Write>) {
        let committed = self.committed;
        let q = self.quorum();
        let Phase::Leading(s) = &mut self.phase else {
            return;
        };
        if !s.established || s.sync_waiters.is_empty() {
            return;
        }
        let confirmed = |r: u64| {
            1 + s
                .learners
                .values()
                .filter(|p| {
                    !p.observer && p.stage == PeerStage::NewLeaderAcked && p.echoed_round >= r
                })
                .count()
                >= q
        };
        let ready = |w: &SyncWaiter| committed >= w.target && w.round.is_none_or(confirmed);
        // Called after every commit and apply: most calls find nothing ready.
        if !s.sync_waiters.iter().any(ready) {
            return;
        }
        let (ready, waiting): (Vec<SyncWaiter>, Vec<SyncWaiter>) =
            std::mem::take(&mut s.sync_waiters)
                .into_iter()
                .partition(ready);
        s.sync_waiters = waiting;
        for w in ready {
            match w.waiter {
                Waiter::Local(cmd) => self.answer_read(cmd, w.round.is_some(), out),
                Waiter::Remote(p, id) => {
                    if w.round.is_none() {
                        self.report_leader_read(out);
                    }
                    out.send(p, Message::SyncReply { id, zxid: w.target });
                }
            }
        }
    }

    pub(crate) fn learner_on_sync_reply(
        &mut self,
        id: u64,
        zxid: Zxid,
        out: &mut Outputs<Message, Write>,
    ) {
        if let Phase::Following(l) = &mut self.phase {
            if let Some(cmd) = l.pending_syncs.remove(&id) {
                l.read_waiters.push((zxid, cmd));
            }
        }
        self.after_apply(out);
    }

    /// Answers a learner's reads whose sync point it has applied; re-checks the leader's.
    pub(crate) fn after_apply(&mut self, out: &mut Outputs<Message, Write>) {
        let applied = self.applied;
        let quorum = self.config.read_mode == ReadMode::SyncQuorum;
        match &mut self.phase {
            Phase::Following(l) => {
                if l.read_waiters.iter().all(|(z, _)| *z > applied) {
                    return;
                }
                let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut l.read_waiters)
                    .into_iter()
                    .partition(|(z, _)| *z <= applied);
                l.read_waiters = waiting;
                for (_, cmd) in ready {
                    self.answer_read(cmd, quorum, out);
                }
            }
            Phase::Leading(_) => self.check_sync_waiters(out),
            Phase::Looking(_) => {}
        }
    }

    /// The connection to the leader is gone: reads waiting on it fail (a read never takes
    /// effect, so `maybe_applied` is false).
    pub(crate) fn fail_pending_reads(&mut self, out: &mut Outputs<Message, Write>) {
        let mut failed: Vec<Command> = Vec::new();
        match &mut self.phase {
            Phase::Following(l) => {
                failed.extend(std::mem::take(&mut l.pending_syncs).into_values());
                failed.extend(
                    std::mem::take(&mut l.read_waiters)
                        .into_iter()
                        .map(|(_, c)| c),
                );
            }
            Phase::Leading(s) => {
                for w in std::mem::take(&mut s.sync_waiters) {
                    if let Waiter::Local(cmd) = w.waiter {
                        failed.push(cmd);
                    }
                }
            }
            Phase::Looking(_) => {}
        }
        for cmd in failed {
            out.reply(
                cmd.id,
                Reply::Error {
                    reason: "lost the connection to the leader",
                    maybe_applied: false,
                },
            );
        }
    }
}
