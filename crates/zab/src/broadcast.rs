//! Broadcast (DSN'11 §IV Phase 3; ZooKeeper's `Leader.propose` / `processAck` /
//! `tryToCommit`), and the leader's heartbeat.
//!
//! The established leader gives each client write the next zxid of its epoch, logs it and
//! sends PROPOSAL to every follower in the forwarding set (synced, NEWLEADER sent). A
//! follower logs it and ACKs once the write is durable; the leader counts its own ack only
//! when its own log write completed. A txn commits once a quorum acked it *and* every
//! earlier txn committed (`tryToCommit` never commits past an outstanding proposal). COMMIT
//! goes to followers, INFORM (with the txn) to observers.

use crate::sync::PeerStage;
use crate::{make_zxid, Message, Phase, Txn, Write, Zab, Zxid, TIMER_TICK};
use protocol::{Command, LocalTime, NodeId, Outputs};
use std::collections::BTreeSet;

impl Zab {
    pub(crate) fn leader_propose(
        &mut self,
        _now: LocalTime,
        cmd: Command,
        out: &mut Outputs<Message, Write>,
    ) {
        let only_acked = self.config.bug("zab.propose_only_to_acked_newleader");
        let s = self.leader_state();
        debug_assert!(s.established, "proposing before the leader is established");
        let epoch = s.epoch.expect("established leader has an epoch");
        s.counter += 1;
        let zxid = make_zxid(epoch, s.counter);
        s.acks.insert(zxid, BTreeSet::new());
        let txn = Txn::new(zxid, cmd);
        for (&p, peer) in &s.learners {
            let forward = if only_acked {
                peer.stage == PeerStage::NewLeaderAcked
            } else {
                peer.stage >= PeerStage::Synced
            };
            if only_acked && peer.stage == PeerStage::Synced && !peer.observer {
                out.mark("zab.bug.propose_only_to_acked_newleader");
            }
            if forward && !peer.observer {
                out.send(p, Message::Proposal { txn: txn.clone() });
            }
        }
        self.append_and_write(vec![txn], out);
    }

    /// The leader's own log write up to `zxid` is durable: its ack counts now.
    pub(crate) fn leader_on_own_log_durable(
        &mut self,
        _now: LocalTime,
        zxid: Zxid,
        out: &mut Outputs<Message, Write>,
    ) {
        let me = self.id;
        let Phase::Leading(s) = &mut self.phase else {
            return;
        };
        for (_, set) in s.acks.range_mut(..=zxid) {
            set.insert(me);
        }
        self.try_commit(out);
    }

    pub(crate) fn leader_on_ack(
        &mut self,
        from: NodeId,
        zxid: Zxid,
        out: &mut Outputs<Message, Write>,
    ) {
        let s = self.leader_state();
        if let Some(set) = s.acks.get_mut(&zxid) {
            set.insert(from);
            self.try_commit(out);
        }
    }

    /// Commits the outstanding proposals, oldest first, while each has a quorum of acks.
    pub(crate) fn try_commit(&mut self, out: &mut Outputs<Message, Write>) {
        let q = self.quorum();
        loop {
            let s = self.leader_state();
            let Some((&zxid, set)) = s.acks.first_key_value() else {
                break;
            };
            if set.len() < q {
                break;
            }
            s.acks.pop_first();
            let pos = self.position(zxid).unwrap_or_else(|_| {
                panic!(
                    "n{}: leader commits zxid {zxid:#x} missing from its own log",
                    self.id.0
                )
            });
            let txn = self.log[pos].clone();
            let s = self.leader_state();
            for (&p, peer) in &s.learners {
                if peer.stage < PeerStage::Synced {
                    continue;
                }
                if peer.observer {
                    out.send(p, Message::Inform { txn: txn.clone() });
                } else {
                    out.send(p, Message::Commit { zxid });
                }
            }
            self.commit_to(zxid, out);
        }
        self.check_sync_waiters(out);
    }

    /// Every heartbeat: drop learners silent past syncLimit, step down without a quorum
    /// (or when not established within initLimit), and PING the rest.
    pub(crate) fn leader_tick(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let sync_limit = self.config.election_timeout.0;
        let init_limit = self.config.election_timeout.1 * 2;
        let s = self.leader_state();
        let silent: Vec<NodeId> = s
            .learners
            .iter()
            .filter(|(_, p)| now.since(p.last_heard) > sync_limit)
            .map(|(&n, _)| n)
            .collect();
        if !s.established && now.since(s.since) > init_limit {
            out.mark("zab.leader_not_established_in_time");
            self.go_looking(now, out);
            return;
        }
        for p in silent {
            out.mark("zab.learner_timed_out");
            let s = self.leader_state();
            s.learners.remove(&p);
            s.sync_waiters.retain(|w| w.remote_peer() != Some(p));
        }
        if !self.check_leader_quorum(now, out) {
            return;
        }
        let s = self.leader_state();
        s.ping_round += 1;
        let round = s.ping_round;
        for &p in s.learners.keys() {
            out.send(p, Message::Ping { round });
        }
        let hb = self.config.heartbeat_interval;
        out.set_timer(TIMER_TICK, hb, hb);
    }
}
