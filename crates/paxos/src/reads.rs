//! Reads that do not go through the log.
//!
//! `quorum`: the leader starts a heartbeat round after the read arrives; once a majority
//! answered it in the leader's ballot, no other leader chose anything before the read
//! arrived (a majority had not promised a higher ballot). The read point is the last slot
//! the leader had proposed — every slot phase 1 recovered and every command it took — and
//! the read is answered once all of them are executed: an in-progress slot is finished
//! before the read sees the state (the repair of CASSANDRA-12126).
//!
//! `lease` (Chubby's master lease, PML §5.2): every acceptor that answers the leader
//! refuses other proposers' Prepares for the minimum election timeout of its own clock, so
//! a round a majority answered gives the leader a lease from the round's start for that
//! time shrunk by the clock drift bound. Under it the leader answers alone, once it has
//! executed every slot phase 1 recovered (an earlier leader may have used them). Outside
//! the lease a read takes the quorum path.
//!
//! Followers in lease mode hold read leases too, as Ceph's monitors do: with each
//! heartbeat round the leader grants every follower that is caught up a lease no longer
//! than what is left of its own, counted on the follower's clock from when the follower
//! acked the round (so however late the grant arrives, the follower's lease ends before
//! the leader's). A follower serves a read alone while its lease holds and it executed
//! every slot it accepted. The leader, in turn, executes and announces a chosen slot only
//! once every lease holder accepted it or its lease ran out: a write cannot complete while
//! a follower that never saw it still answers reads (Ceph monitor #7736).
//!
//! `local`: any node answers from what it executed (stale).

use crate::{Ack, Ballot, Message, Paxos, PendingRead, Write};
use protocol::{Command, LocalTime, NodeId, Op, OpResult, Outputs, ReadMode, Reply, Report};
use std::time::Duration;

impl Paxos {
    pub(crate) fn client_read(
        &mut self,
        now: LocalTime,
        command: Command,
        out: &mut Outputs<Message, Write>,
    ) {
        if self.leader.is_none() && self.follower_lease_read(now, &command, out) {
            return;
        }
        let Op::Read { key } = command.op else {
            unreachable!("client_read is called for reads only");
        };
        if self.config.read_mode == ReadMode::Local {
            out.reply(command.id, Reply::Ok(OpResult::Read(self.kv.read(&key))));
            if let Some(l) = &self.leader {
                out.report(Report::ReadServed {
                    term: l.ballot.as_term(),
                });
            }
            return;
        }
        let executed = self.executed;
        let ghost = self.bugs.ghost_reappearance;
        let serial = self.bugs.serial_read_without_repair;
        let Some(leader) = self.leader.as_mut() else {
            out.reply(
                command.id,
                Reply::NotLeader {
                    hint: self.leader_hint.filter(|&h| h != self.id),
                },
            );
            return;
        };
        if self.config.read_mode == ReadMode::Lease {
            let recovered = executed >= leader.recovery_end || ghost;
            match leader.lease_until {
                Some(until) if now < until && recovered => {
                    if executed < leader.recovery_end {
                        out.mark("paxos.lease_read_before_recovery");
                    }
                    out.reply(command.id, Reply::Ok(OpResult::Read(self.kv.read(&key))));
                    out.report(Report::ReadServed {
                        term: leader.ballot.as_term(),
                    });
                    return;
                }
                _ => out.mark("paxos.lease_read_fell_back_to_quorum"),
            }
        }
        let read_point = if serial {
            executed
        } else {
            leader.next_slot - 1
        };
        self.start_round(now, out);
        let leader = self.leader.as_mut().expect("leader");
        leader.reads.push_back(PendingRead {
            id: command.id,
            key,
            read_point,
            round: leader.round,
        });
        self.update_quorum_round(out);
    }

    pub(crate) fn handle_heartbeat_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        executed: u64,
        at: LocalTime,
        out: &mut Outputs<Message, Write>,
    ) {
        self.note_peer_progress(from, executed);
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if ballot != leader.ballot {
            return;
        }
        if leader.acks.get(&from).is_none_or(|a| round >= a.round) {
            leader.acks.insert(
                from,
                Ack {
                    round,
                    executed,
                    at,
                },
            );
        }
        self.update_quorum_round(out);
    }

    /// Recomputes the highest round a majority (the leader included) answered; extends
    /// the lease and serves the reads it confirms.
    pub(crate) fn update_quorum_round(&mut self, out: &mut Outputs<Message, Write>) {
        let quorum = self.quorum();
        let lease_mode = self.config.read_mode == ReadMode::Lease;
        let lease_duration = self.lease_duration;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let mut rounds: Vec<u64> = self
            .peers
            .iter()
            .map(|p| leader.acks.get(p).map_or(0, |a| a.round))
            .collect();
        rounds.push(leader.round);
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let q = rounds[quorum - 1];
        if q > leader.quorum_round {
            leader.quorum_round = q;
            while leader.round_started.front().is_some_and(|&(r, _)| r < q) {
                leader.round_started.pop_front();
            }
            if let Some(&(r, started)) = leader.round_started.front() {
                if r == q {
                    leader.quorum_since = Some(started);
                }
                if r == q && lease_mode {
                    let until = started + lease_duration;
                    if leader.lease_until.is_none_or(|old| until > old) {
                        leader.lease_until = Some(until);
                        out.report(Report::Lease {
                            term: leader.ballot.as_term(),
                            until,
                        });
                    }
                }
            }
        }
        self.try_serve_reads(out);
    }

    /// Answers, in arrival order, every read whose round a majority confirmed and whose
    /// read point is executed.
    pub(crate) fn try_serve_reads(&mut self, out: &mut Outputs<Message, Write>) {
        let executed = self.executed;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        while let Some(read) = leader.reads.front() {
            if leader.quorum_round < read.round || executed < read.read_point {
                break;
            }
            let read = leader.reads.pop_front().expect("front exists");
            // No ReadServed: a majority confirmed this leader after the read arrived.
            out.reply(read.id, Reply::Ok(OpResult::Read(self.kv.read(&read.key))));
        }
    }
}

/// Follower read leases (lease mode).
impl Paxos {
    /// Whether this node grants follower leases and holds its execution for them.
    fn follower_leases(&self) -> bool {
        self.config.read_mode == ReadMode::Lease
    }

    /// A follower with a live lease answers a read alone, once it executed every slot it
    /// accepted, damaged records included (the leader may have executed any of them). True
    /// when it answered.
    fn follower_lease_read(
        &mut self,
        now: LocalTime,
        command: &Command,
        out: &mut Outputs<Message, Write>,
    ) -> bool {
        let Op::Read { key } = &command.op else {
            return false;
        };
        let Some((ballot, until)) = self.follower_lease else {
            return false;
        };
        if ballot < self.promised || now >= until {
            self.follower_lease = None;
            return false;
        }
        // A damaged record is an acceptance whose value is unknown: the leader may have
        // counted it (and executed the slot) when it granted the lease (swarm seed 5708: a
        // follower restarted with its last accepted slot damaged, and read the value the
        // write in that slot had replaced).
        let accepted = self.accepted.last_key().unwrap_or(0);
        let damaged = self.damaged.last().copied().unwrap_or(0);
        if self.executed < accepted.max(damaged) {
            out.mark("paxos.follower_read_behind_its_accepts");
            return false;
        }
        out.mark("paxos.follower_lease_read");
        out.reply(command.id, Reply::Ok(OpResult::Read(self.kv.read(key))));
        true
    }

    /// Follower: a lease from the leader of `ballot`, counted from `acked_at`, when this
    /// node sent the ack the grant answers, and shrunk by the drift bound twice (this
    /// clock may run slow where the leader's runs fast). The ack came before the grant, so
    /// however late the grant or a copy of it arrives, the lease ends before the leader's.
    /// It was the follower that remembered when it acked a round, until a copy of the
    /// heartbeat, held back, was taken for the ask: counted from the copy, a late grant
    /// outlasted the leader's lease (swarm seed 75484, a follower that had missed a write
    /// read the value before it), and a restarted follower, which remembers no ask, would
    /// count a grant sent to its earlier incarnation from a copy acked after the restart.
    /// A grant to an ack of an earlier incarnation is ignored: the leader judged that one
    /// caught up, and this one starts from its snapshot.
    pub(crate) fn handle_lease_grant(
        &mut self,
        ballot: Ballot,
        acked_at: LocalTime,
        duration: Duration,
    ) {
        if ballot < self.promised || acked_at < self.started {
            return;
        }
        let drift = self.config.clock_drift_bound;
        let factor = ((1.0 - drift) / (1.0 + drift)).max(0.0);
        let until = acked_at + duration.mul_f64(factor);
        let extends = match self.follower_lease {
            Some((b, old)) => b < ballot || until > old,
            None => true,
        };
        if extends {
            self.follower_lease = Some((ballot, until));
        }
    }

    /// Leader, with each heartbeat round: a lease to every follower that acked a round and
    /// is caught up (it accepted or executed every slot this node executed), for what is
    /// left of this leader's own lease. Only after it executed what phase 1 recovered.
    pub(crate) fn grant_leases(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        if !self.follower_leases() {
            return;
        }
        let executed = self.executed;
        let Some(leader) = self.leader.as_ref() else {
            return;
        };
        let Some(until) = leader.lease_until.filter(|&u| now < u) else {
            return;
        };
        if executed < leader.recovery_end {
            return;
        }
        let ballot = leader.ballot;
        let duration = until.since(now);
        for &p in &self.peers {
            let Some(&ack) = leader.acks.get(&p) else {
                continue;
            };
            // Caught up: it accepted a slot at or past ours (its reads then wait until it
            // executed it), or said in its ack of this very round that it executed ours. Not
            // what an earlier incarnation executed: a restart starts from the snapshot.
            let accepted = self.peer_accepted.get(&p).copied().unwrap_or(0);
            if accepted.max(ack.executed) < executed {
                continue;
            }
            let held = self.lease_holders.entry(p).or_insert(until);
            *held = (*held).max(until);
            out.mark("paxos.follower_lease_granted");
            out.send(
                p,
                Message::LeaseGrant {
                    ballot,
                    round: ack.round,
                    acked_at: ack.at,
                    duration,
                },
            );
        }
    }

    /// Records that `peer` accepted or executed `slot`.
    pub(crate) fn note_peer_progress(&mut self, peer: NodeId, slot: u64) {
        if self.follower_leases() {
            let p = self.peer_progress.entry(peer).or_insert(0);
            *p = (*p).max(slot);
        }
    }

    /// The last slot this node may execute: every live lease it granted belongs to a
    /// follower that accepted or executed it (`u64::MAX` without follower leases).
    pub(crate) fn execute_limit(&self) -> u64 {
        if self.bugs.commit_while_peer_leases_stale {
            return u64::MAX;
        }
        self.lease_holders
            .iter()
            .filter(|&(_, &until)| self.now < until)
            .map(|(p, _)| self.peer_progress.get(p).copied().unwrap_or(0))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Forgets the leases that ran out.
    pub(crate) fn prune_lease_holders(&mut self) {
        let now = self.now;
        self.lease_holders.retain(|_, until| now < *until);
    }
}
