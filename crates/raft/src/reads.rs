//! Reads that bypass the log (thesis §6.4): ReadIndex, the leader lease (§6.4.1) and
//! local (stale) reads. Reads in `ReadMode::Log` are ordinary entries (replication.rs).
//!
//! ReadIndex: the leader records its commit index as the read index, confirms it still
//! leads with a heartbeat round a quorum answers *after* the read arrived, waits until it
//! has applied the read index, then answers from its state machine. The recorded commit
//! index is only current once the leader committed an entry of its own term (its no-op),
//! so reads that arrive earlier wait for that commit.
//!
//! Lease: a quorum that answered a round started at local time `t` will not elect another
//! leader before `t` + the minimum election timeout of *their* clocks (the vote fence), so
//! the leader may answer alone until `t + lease_duration`, which shrinks the timeout by the
//! assumed clock drift bound. Outside the lease a read falls back to ReadIndex.

use crate::{Message, Outputs, PendingRead, Raft, Write};
use protocol::{Command, LocalTime, Op, OpId, OpResult, ReadMode, Reply, Report, Role};

impl Raft {
    /// A client read in any mode but `Log`.
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
            // Any node answers from what it has applied: possibly stale.
            self.serve_read(command.id, &key, out);
            return;
        }
        if self.role != Role::Leader {
            out.reply(
                command.id,
                Reply::NotLeader {
                    hint: self.leader_hint,
                },
            );
            return;
        }
        let own_term_committed =
            self.own_term_committed() || self.bugs.readindex_before_term_commit;
        if self.config.read_mode == ReadMode::Lease {
            let leader = self.leader.as_ref().expect("leader state");
            match leader.lease_until {
                Some(until) if now < until && own_term_committed => {
                    debug_assert_eq!(self.last_applied, self.commit_index);
                    self.serve_read(command.id, &key, out);
                    return;
                }
                _ => out.mark("raft.lease_read_fell_back_to_read_index"),
            }
        }
        if !own_term_committed {
            // Thesis §6.4: until the no-op commits, our commit index may lag what earlier
            // leaders acknowledged.
            out.mark("raft.read_index_waits_for_term_commit");
            let leader = self.leader.as_mut().expect("leader state");
            leader.reads.push_back(PendingRead {
                id: command.id,
                key,
                read_index: 0,
                round: 0,
            });
            return;
        }
        let read_index = self.commit_index;
        self.start_round(now);
        for i in 0..self.peers.len() {
            self.send_append(i, true, out);
        }
        let leader = self.leader.as_mut().expect("leader state");
        leader.reads.push_back(PendingRead {
            id: command.id,
            key,
            read_index,
            round: leader.round,
        });
        self.update_quorum_round(now, out);
    }

    pub(crate) fn own_term_committed(&self) -> bool {
        self.leader
            .as_ref()
            .is_some_and(|l| self.commit_index >= l.noop_index)
    }

    /// The no-op of this term committed: reads held for it get the commit index and a
    /// confirmation round of their own.
    pub(crate) fn on_own_term_commit(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let leader = self.leader.as_ref().expect("leader state");
        if !leader.reads.iter().any(|r| r.round == 0) {
            return;
        }
        self.start_round(now);
        for i in 0..self.peers.len() {
            self.send_append(i, true, out);
        }
        let commit = self.commit_index;
        let leader = self.leader.as_mut().expect("leader state");
        let round = leader.round;
        for read in leader.reads.iter_mut().filter(|r| r.round == 0) {
            read.read_index = commit;
            read.round = round;
        }
        self.update_quorum_round(now, out);
    }

    /// Recomputes the highest round a quorum answered; extends the lease and serves the
    /// reads it confirms.
    pub(crate) fn update_quorum_round(
        &mut self,
        _now: LocalTime,
        out: &mut Outputs<Message, Write>,
    ) {
        let leader = self.leader.as_mut().expect("leader state");
        // A majority of the latest configuration answered (thesis §4.1).
        let q = crate::replication::quorum_value(
            &mut self.scratch,
            &self.members,
            self.id,
            leader.round,
            leader.progress.iter().map(|p| (p.id, p.acked_round)),
        );
        if q > leader.quorum_round {
            leader.quorum_round = q;
            while leader.round_started.front().is_some_and(|&(r, _)| r < q) {
                leader.round_started.pop_front();
            }
            if let Some(&(r, started)) = leader.round_started.front() {
                if r == q {
                    let until = started + self.lease_duration;
                    if !matches!(leader.lease_until, Some(old) if old >= until) {
                        leader.lease_until = Some(until);
                        if self.config.read_mode == ReadMode::Lease {
                            out.report(Report::Lease {
                                term: self.term,
                                until,
                            });
                        }
                    }
                }
            }
        }
        self.try_serve_reads(out);
    }

    /// Answers, in arrival order, every read whose round a quorum confirmed and whose
    /// read index is applied.
    pub(crate) fn try_serve_reads(&mut self, out: &mut Outputs<Message, Write>) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        while let Some(read) = leader.reads.front() {
            let ready = read.round != 0
                && leader.quorum_round >= read.round
                && self.last_applied >= read.read_index;
            if !ready {
                break;
            }
            let read = leader.reads.pop_front().expect("front exists");
            let value = self.kv.read(&read.key);
            // No ReadServed: a quorum confirmed this leader after the read arrived, so
            // the read is not an act on the leader's own authority (it linearizes at the
            // confirmation even when served later, after a pause).
            out.reply(read.id, Reply::Ok(OpResult::Read(value)));
        }
    }

    fn serve_read(&mut self, id: OpId, key: &str, out: &mut Outputs<Message, Write>) {
        out.reply(id, Reply::Ok(OpResult::Read(self.kv.read(key))));
        if self.role == Role::Leader {
            out.report(Report::ReadServed { term: self.term });
        }
    }
}
