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
//! `local`: any node answers from what it executed (stale).

use crate::{Message, Paxos, PendingRead, Write};
use protocol::{Command, LocalTime, Op, OpResult, Outputs, ReadMode, Reply, Report};

impl Paxos {
    pub(crate) fn client_read(
        &mut self,
        now: LocalTime,
        command: Command,
        out: &mut Outputs<Message, Write>,
    ) {
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
        _now: LocalTime,
        from: protocol::NodeId,
        ballot: crate::Ballot,
        round: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if ballot != leader.ballot {
            return;
        }
        let acked = leader.acked_round.entry(from).or_insert(0);
        *acked = (*acked).max(round);
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
            .map(|p| leader.acked_round.get(p).copied().unwrap_or(0))
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
