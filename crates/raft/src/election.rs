//! Elections: the election timer, pre-vote (thesis §9.6), RequestVote (Raft §5.2, §5.4.1),
//! becoming leader, the vote fence (thesis §4.2.3) and check-quorum (thesis §6.2).

use crate::{
    Entry, Leader, Message, Outputs, Progress, Raft, Shipping, Write, TIMER_CHECK_QUORUM,
    TIMER_ELECTION, TIMER_HEARTBEAT,
};
use protocol::{LocalTime, NodeId, Report, Role, TimerId};
use std::collections::{BTreeMap, VecDeque};

impl Raft {
    pub(crate) fn reset_election_timer(&mut self, out: &mut Outputs<Message, Write>) {
        let (min, max) = self.config.election_timeout;
        out.set_timer(TIMER_ELECTION, min, max);
    }

    pub(crate) fn handle_timer(
        &mut self,
        now: LocalTime,
        timer: TimerId,
        out: &mut Outputs<Message, Write>,
    ) {
        match timer {
            TIMER_ELECTION => {
                if self.role == Role::Leader {
                    return;
                }
                if !self.may_campaign() {
                    // Thesis §4.2.2: a server outside its latest configuration, known
                    // committed, does not campaign (a spare not yet added, or a removed
                    // server that knows it).
                    out.mark("raft.non_member_does_not_campaign");
                    // Thesis §6.2: a follower must discard the leader it knows when it
                    // starts an election, or two servers may redirect a client to each
                    // other for ever. One that declines to stand discards it all the same:
                    // the timer fired, so no leader has been heard for an election
                    // timeout (hashicorp/raft's runFollower clears the leader on a
                    // heartbeat timeout before it declines to campaign). A removed server
                    // hears no leader again: kept, its hint names one long gone (swarm
                    // seed 89132: removed n3 named n2, lost, and removed n4 named n3, so
                    // the only client's operations went between them until they timed out).
                    if self.leader_hint.take().is_some() {
                        out.mark("raft.non_member_forgets_silent_leader");
                    }
                    self.reset_election_timer(out);
                    return;
                }
                if !self.is_member(self.id) {
                    if self.commit_index < self.config_index {
                        out.mark("raft.non_member_campaigns_until_its_removal_commits");
                    } else {
                        out.mark("raft.non_member_campaigns_for_a_lagging_candidate");
                    }
                }
                if self.config.pre_vote {
                    self.become_pre_candidate(now, out);
                } else {
                    self.become_candidate(now, out);
                }
            }
            TIMER_HEARTBEAT => match self.role {
                Role::Leader => {
                    self.heartbeat(now, out);
                    out.set_timer(
                        TIMER_HEARTBEAT,
                        self.config.heartbeat_interval,
                        self.config.heartbeat_interval,
                    );
                }
                Role::Candidate => self.retry_request_vote(out),
                _ => {}
            },
            TIMER_CHECK_QUORUM => {
                if self.role == Role::Leader {
                    self.check_quorum(out);
                }
            }
            _ => out.mark("raft.unknown_timer_ignored"),
        }
    }

    /// Thesis §4.2.3 and §9.6: while this node believes a leader is alive (it heard from
    /// one within the minimum election timeout, or it leads), it grants no (pre)vote.
    /// Active with pre-vote, check-quorum, or lease reads (a lease is only sound if the
    /// followers that acked it refuse to elect another leader for that long; with leases
    /// a node also fences for a minimum election timeout after a restart, having
    /// forgotten when it last acknowledged the leader).
    ///
    /// The fence counts from the last word of a leader, whatever term this node moved to
    /// since: a reply carrying a higher term (a refused pre-vote, a vote reply) moves a
    /// follower to that term without a leader, and it must still not vote in it before
    /// the leader it acknowledged could have lost its lease. Fenced only by knowing a
    /// leader, a follower of n1 took term 4 from a stale pre-vote refusal and voted n2 in
    /// 40 ms later, while n1's lease, which its ack had extended, ran 83 ms more (raft
    /// swarm seed 17901, lease_exclusivity).
    pub(crate) fn vote_fenced(&self, now: LocalTime) -> bool {
        if !self.fence_active || self.bugs.no_vote_fence {
            return false;
        }
        self.fenced_after_restart_until
            .is_some_and(|until| now < until)
            || self.leader_alive(now)
    }

    /// This node leads, or heard from a leader (of any term) within the minimum election
    /// timeout: what both vote fences take for "a leader is alive".
    fn leader_alive(&self, now: LocalTime) -> bool {
        self.role == Role::Leader
            || self
                .last_leader_contact
                .is_some_and(|heard| now.since(heard) < self.config.election_timeout.0)
    }

    /// Thesis §4.2.3 (Raft §6): a server removed from the configuration hears no more
    /// heartbeats, so it times out and campaigns with ever higher terms; were they
    /// adopted, each would depose the leader. So, whatever the options, a node that heard
    /// from a leader within the minimum election timeout (or leads) neither updates its
    /// term nor votes for a candidate outside its latest configuration. (`vote_fenced`,
    /// with pre-vote, check-quorum or leases, does so for every candidate.) Such a
    /// candidate is never needed while a leader of this configuration is alive; once that
    /// leader falls silent the fence lapses, and the vote goes by the log alone (§4.1), as
    /// a removed server may hold the entry that must commit (§4.2.2). A removed server
    /// learns its removal committed only from a leader, and forgets it on a restart (the
    /// commit index is volatile): without this, three restarted removed servers kept a
    /// cluster of three from keeping a leader for a second (raft swarm seed 21944).
    pub(crate) fn non_member_vote_fenced(&self, now: LocalTime, from: NodeId) -> bool {
        !self.bugs.no_vote_fence && !self.is_member(from) && self.leader_alive(now)
    }

    /// A (pre-)candidate asked this server, outside its latest configuration, for its
    /// vote: the candidate's configuration counts it. If the candidate's log is behind,
    /// this server may be the only one that can win, so it campaigns until it hears a
    /// leader (`may_campaign`). Only a candidate of this server's latest configuration
    /// counts: one outside it was removed by an entry this server holds and the candidate
    /// lacks, so it can win no election that matters, and is no reason to stand (raft
    /// swarm seed 1619 of worlds grown from one voter: two removed servers, one still
    /// campaigning in its old configuration and the other standing for it, won, stepped
    /// down once its no-op committed and stood again at the next call, and kept the two
    /// members left from electing either of them for ten seconds after the heal).
    fn note_lagging_candidate(
        &mut self,
        from: NodeId,
        candidate_up_to_date: bool,
        out: &mut Outputs<Message, Write>,
    ) {
        if !candidate_up_to_date
            && !self.is_member(self.id)
            && self.is_member(from)
            && !self.needed_by_lagging_candidate
        {
            out.mark("raft.non_member_needed_by_lagging_candidate");
            self.needed_by_lagging_candidate = true;
        }
    }

    /// Raft §5.4.1: the candidate's log is at least as up to date as ours.
    fn log_up_to_date(&self, last_log_index: u64, last_log_term: u64) -> bool {
        (last_log_term, last_log_index) >= (self.last_term(), self.last_index())
    }

    /// Thesis §9.6: grant a pre-vote if the candidate could win (its log is up to date and
    /// its proposed term is ahead of ours) and we have not heard from a live leader.
    /// The grant carries the proposed term, the refusal our own.
    pub(crate) fn handle_pre_vote(
        &mut self,
        now: LocalTime,
        from: NodeId,
        proposed_term: u64,
        last_log_index: u64,
        last_log_term: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        debug_assert!(proposed_term >= self.term);
        let could_vote = proposed_term > self.term
            || (self.leader_hint.is_none()
                && (self.voted_for.is_none() || self.voted_for == Some(from)));
        let fenced = self.vote_fenced(now);
        let up_to_date = self.log_up_to_date(last_log_index, last_log_term);
        self.note_lagging_candidate(from, up_to_date, out);
        let granted = could_vote && !fenced && up_to_date;
        if fenced {
            out.mark("raft.prevote_fenced");
        }
        let term = if granted && !self.bugs.prevote_reply_local_term {
            proposed_term
        } else {
            self.term
        };
        if !granted {
            out.mark("raft.prevote_rejected");
        }
        out.send_after_writes(from, Message::PreVoteResp { term, granted });
    }

    /// Raft Figure 2, RequestVote: one vote per term, only for an up-to-date log; the
    /// reply leaves only once the vote is durable.
    pub(crate) fn handle_request_vote(
        &mut self,
        now: LocalTime,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        debug_assert_eq!(term, self.term, "term rules run before the vote");
        // A node fenced in this term (it took the term from a reply, not from a leader)
        // votes for no one new; a vote already given is repeated.
        let free = self.voted_for.is_none() && !self.vote_fenced(now);
        if self.voted_for.is_none() && !free {
            out.mark("raft.vote_fenced_in_term");
        }
        let up_to_date = self.log_up_to_date(last_log_index, last_log_term);
        self.note_lagging_candidate(from, up_to_date, out);
        let granted = (free || self.voted_for == Some(from)) && up_to_date;
        let reply = Message::RequestVoteResp {
            term: self.term,
            granted,
        };
        if !granted {
            out.send_after_writes(from, reply);
            return;
        }
        if self.voted_for != Some(from) {
            debug_assert!(
                self.voted_for.is_none(),
                "{} votes twice in term {}: {:?} then {from}",
                self.id,
                self.term,
                self.voted_for
            );
            self.voted_for = Some(from);
            if !self.bugs.vote_not_durable {
                self.persist_hard_state(out);
            }
            out.report(Report::Vote {
                term: self.term,
                candidate: from,
            });
        }
        // Figure 2: granting a vote resets the election timer. Not for a server outside
        // our latest configuration: it stands only in case it is needed (thesis §4.2.2),
        // and learns terms only from the answers to its own RequestVotes, so it often asks
        // for a term the members already spent, and restarted by each such grant, a
        // member whose log could win never stood (Raft soak seed 4399: 9.5 s without a
        // leader after the heal). The member's own timer runs on from its last leader,
        // vote for a member, or candidacy.
        if self.is_member(from) {
            self.reset_election_timer(out);
        }
        if self.bugs.vote_not_durable {
            out.send(from, reply);
        } else {
            out.send_after_writes(from, reply);
        }
    }

    /// Thesis §9.6: ask whether we could win before disrupting anyone; the term stays.
    fn become_pre_candidate(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        self.role = Role::PreCandidate;
        self.leader_hint = None;
        self.votes.clear();
        // Thesis §4.2.2: a server outside its latest configuration does not count its
        // own vote.
        if self.is_member(self.id) {
            self.votes.push(self.id);
        }
        self.report_role(out);
        self.reset_election_timer(out);
        let msg = Message::PreVote {
            term: self.term + 1,
            last_log_index: self.last_index(),
            last_log_term: self.last_term(),
        };
        for &peer in self.members.iter().filter(|&&p| p != self.id) {
            out.send(peer, msg.clone());
        }
        if self.votes.len() >= self.quorum() {
            self.become_candidate(now, out);
        }
    }

    /// Raft §5.2: bump the term, vote for ourselves (durably, before any RequestVote
    /// leaves), ask everyone else.
    fn become_candidate(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        self.term += 1;
        self.voted_for = Some(self.id);
        self.leader_hint = None;
        self.last_leader_contact = None;
        self.role = Role::Candidate;
        self.persist_hard_state(out);
        self.report_role(out);
        out.report(Report::Vote {
            term: self.term,
            candidate: self.id,
        });
        self.votes.clear();
        if self.is_member(self.id) {
            self.votes.push(self.id);
        }
        self.answered.clear();
        self.reset_election_timer(out);
        self.retry_request_vote(out);
        self.maybe_win_alone(now, out);
    }

    /// A candidate whose own vote is a quorum (a configuration of one) takes office only
    /// once that vote and its term are durable: were it to crash before, it would restart
    /// in the old term, and another node could lead the term it claimed. (Other voters'
    /// grants answer a RequestVote that left after the write, so they come later anyway.)
    pub(crate) fn maybe_win_alone(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        if self.role != Role::Candidate || self.votes.len() < self.quorum() {
            return;
        }
        if self.writes_in_flight.iter().any(|(_, len)| len.is_none()) {
            out.mark("raft.sole_voter_waits_for_its_vote_to_be_durable");
            return;
        }
        self.become_leader(now, out);
    }

    /// Sends RequestVote to every peer that has not answered this term's round, and
    /// asks again after a heartbeat interval (Raft §5.1: servers retry RPCs that get no
    /// response in time; a lost request or reply need not cost the whole election).
    fn retry_request_vote(&mut self, out: &mut Outputs<Message, Write>) {
        let msg = Message::RequestVote {
            term: self.term,
            last_log_index: self.last_index(),
            last_log_term: self.last_term(),
        };
        for &peer in self.members.iter().filter(|&&p| p != self.id) {
            if !self.answered.contains(&peer) {
                out.send_after_writes(peer, msg.clone());
            }
        }
        out.set_timer(
            TIMER_HEARTBEAT,
            self.config.heartbeat_interval,
            self.config.heartbeat_interval,
        );
    }

    /// A grant in the current (pre-)election; a quorum moves to the next stage.
    pub(crate) fn count_vote(
        &mut self,
        now: LocalTime,
        from: NodeId,
        out: &mut Outputs<Message, Write>,
    ) {
        if !self.is_member(from) {
            // Thesis §4.1: only the members of the candidate's configuration count.
            out.mark("raft.vote_from_non_member_not_counted");
            return;
        }
        if !self.votes.contains(&from) {
            self.votes.push(from);
        }
        if self.votes.len() >= self.quorum() {
            match self.role {
                Role::PreCandidate => self.become_candidate(now, out),
                Role::Candidate => self.become_leader(now, out),
                _ => {}
            }
        }
    }

    /// Raft §5.2, §8: lead the term; append a no-op of this term at once so that earlier
    /// entries commit (thesis §3.6.2) and reads learn the commit index (thesis §6.4).
    fn become_leader(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        debug_assert_eq!(self.role, Role::Candidate);
        self.role = Role::Leader;
        self.leader_hint = Some(self.id);
        self.needed_by_lagging_candidate = false;
        self.report_role(out);
        out.cancel_timer(TIMER_ELECTION);
        let next = self.last_index() + 1;
        let progress = self
            .peers
            .iter()
            .map(|&id| Progress {
                id,
                next,
                matched: 0,
                shipping: Shipping::Probe { paused: false },
                recent_active: false,
                acked_round: 0,
                misses: 0,
            })
            .collect();
        let mut round_started = VecDeque::new();
        round_started.push_back((1, now));
        self.leader = Some(Box::new(Leader {
            progress,
            noop_index: next,
            pending_entries: BTreeMap::new(),
            reads: VecDeque::new(),
            round: 1,
            round_started,
            quorum_round: 0,
            lease_until: None,
        }));
        if self.bugs.commit_prior_term_by_count {
            // As the implementations that had this bug (canonical/raft before #336, which
            // added both the rule and the no-op): nothing of the new term until a client
            // writes, so the old entries it ships are what it commits.
            out.mark("raft.no_noop_on_election");
        } else {
            self.append_own(Entry::noop(self.term), out);
        }
        self.broadcast_append(out);
        out.set_timer(
            TIMER_HEARTBEAT,
            self.config.heartbeat_interval,
            self.config.heartbeat_interval,
        );
        if self.config.check_quorum {
            let period = self.config.election_timeout.0;
            out.set_timer(TIMER_CHECK_QUORUM, period, period);
        }
        // A one-node cluster is its own quorum.
        self.update_quorum_round(now, out);
    }

    /// Thesis §6.2: a leader that has not heard from a majority (itself included) within
    /// an election timeout steps down, so clients can find the real leader.
    fn check_quorum(&mut self, out: &mut Outputs<Message, Write>) {
        let quorum = self.quorum();
        let self_member = usize::from(self.is_member(self.id));
        let members = &self.members;
        let leader = self.leader.as_mut().expect("leader state");
        let active = self_member
            + leader
                .progress
                .iter()
                .filter(|p| p.recent_active && members.binary_search(&p.id).is_ok())
                .count();
        for p in leader.progress.iter_mut() {
            p.recent_active = false;
        }
        if active >= quorum {
            let period = self.config.election_timeout.0;
            out.set_timer(TIMER_CHECK_QUORUM, period, period);
        } else {
            out.mark("raft.leader_stepdown_check_quorum");
            let term = self.term;
            self.become_follower(term, None, out);
        }
    }
}
