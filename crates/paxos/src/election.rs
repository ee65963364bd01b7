//! Ballots and phase 1: who leads, and what a new leader must re-propose.
//!
//! A follower that missed the leader for a randomised election timeout picks a round past
//! every round it has seen, makes it durable, promises its own ballot, and sends Prepare
//! naming the first slot it does not know chosen (PMMC §4.1: one phase 1 for all slots).
//! An acceptor promises a ballot higher than its promise, durably, before it answers with
//! every value it accepted from that slot on, in pages, and its low-water mark (with its
//! snapshot when the candidate is behind it). With a majority of complete promises the
//! candidate leads: per slot it re-proposes the highest-ballot value reported (`pmax`),
//! fills holes with no-ops, and takes new commands only after the last recovered slot.
//!
//! A Nack (an acceptor promised a higher ballot) preempts a leader or candidate: it goes
//! passive and waits a randomised election timeout before it tries again (PMMC §3), so
//! two proposers do not preempt each other forever.

use crate::{
    Acks, Ballot, Candidate, Effect, Leader, Message, Paxos, Proposal, Slots, Snapshot, Value,
    Write, PROMISE_PAGE_SLOTS, TIMER_ELECTION, TIMER_HEARTBEAT,
};
use protocol::{LocalTime, NodeId, Outputs, ReadMode, Reply, Role};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

impl Paxos {
    pub(crate) fn reset_election_timer(&mut self, out: &mut Outputs<Message, Write>) {
        let (lo, hi) = self.config.election_timeout;
        out.set_timer(TIMER_ELECTION, lo, hi);
    }

    pub(crate) fn handle_timer(
        &mut self,
        now: LocalTime,
        timer: protocol::TimerId,
        out: &mut Outputs<Message, Write>,
    ) {
        match timer {
            TIMER_ELECTION if self.leader.is_none() => self.start_phase1(now, out),
            TIMER_HEARTBEAT if self.leader.is_some() => self.leader_tick(now, out),
            TIMER_HEARTBEAT if self.candidate.is_some() => {
                // Retransmit the Prepare to the acceptors whose promise is not complete,
                // once this ballot's round is durable, as the first Prepare went: sent
                // before, a crash could lose the round, and the restarted node reuse the
                // ballot with another first slot while promises to the first still come
                // in (swarm seed 14981: they reported no accepted value below slot 10,
                // and the new leader filled chosen slots 6 to 9 with no-ops).
                let c = self.candidate.as_ref().expect("candidate");
                let prepare = Message::Prepare {
                    ballot: c.ballot,
                    first_slot: c.first_slot,
                };
                let missing: Vec<NodeId> = self
                    .peers
                    .iter()
                    .copied()
                    .filter(|p| !c.promised.contains(p))
                    .collect();
                if !self.writes_in_flight.is_empty() {
                    out.mark("paxos.prepare_retransmit_held_for_writes");
                }
                for p in missing {
                    out.send_after_writes(p, prepare.clone());
                }
                out.set_timer(
                    TIMER_HEARTBEAT,
                    self.config.heartbeat_interval,
                    self.config.heartbeat_interval,
                );
            }
            _ => {}
        }
    }

    /// Whether this acceptor refuses `proposer`'s Prepare: it heard from a live leader
    /// within the minimum election timeout (a stable leader is not deposed by a node that
    /// merely lost touch with it — one cut link must not unseat it; in lease mode this is
    /// PML §5.2's promise to the master), or, in lease mode, it restarted too recently to
    /// know which lease it granted.
    fn prepare_refused(&self, now: LocalTime, proposer: NodeId) -> Option<&'static str> {
        if self.leader.is_some() && proposer != self.id {
            // The leader is the live leader its own acceptor answers to.
            return Some("paxos.prepare_refused_by_leader");
        }
        if let Some((holder, until)) = self.lease_granted {
            if holder != proposer && now < until {
                return Some("paxos.prepare_refused_leader_alive");
            }
        }
        if self.config.read_mode == ReadMode::Lease
            && self.refuse_prepares_until.is_some_and(|until| now < until)
        {
            return Some("paxos.prepare_refused_after_restart");
        }
        None
    }

    /// Starts phase 1 with a ballot past every one this node has seen.
    pub(crate) fn start_phase1(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        debug_assert!(self.leader.is_none());
        if let Some(mark) = self.prepare_refused(now, self.id) {
            // While the leader it answered is alive, this node helps no other proposer,
            // itself included.
            out.mark(mark);
            self.reset_election_timer(out);
            return;
        }
        // PAXOS.md #1: past the durable round and every promise seen, and durable before
        // the Prepare that uses it leaves.
        let round = if self.bugs.proposer_ballot_reuse_after_restart {
            // The bug: a volatile counter that ignores the durable promise.
            self.round.max(self.highest_round_seen) + 1
        } else {
            self.round
                .max(self.promised.round)
                .max(self.highest_round_seen)
                + 1
        };
        self.round = round;
        if !self.bugs.proposer_ballot_reuse_after_restart {
            self.write(Write::Round(round), Effect::None, out);
        }
        let ballot = Ballot::new(round, self.id);
        let first_slot = self.executed + 1;
        self.candidate = Some(Box::new(Candidate {
            ballot,
            first_slot,
            promised: BTreeSet::new(),
            pages: BTreeMap::new(),
            merged: BTreeMap::new(),
            damaged: BTreeMap::new(),
            snapshot: None,
            started: now,
        }));
        self.leader_hint = None;
        if ballot > self.promised {
            self.promised = ballot;
            self.write(Write::Promise(ballot), Effect::SelfPromise(ballot), out);
        } else {
            out.mark("paxos.own_acceptor_refused_own_ballot");
        }
        for &p in &self.peers {
            out.send_after_writes(p, Message::Prepare { ballot, first_slot });
        }
        self.reset_election_timer(out);
        out.set_timer(
            TIMER_HEARTBEAT,
            self.config.heartbeat_interval,
            self.config.heartbeat_interval,
        );
    }

    /// Acceptor: phase 1a.
    pub(crate) fn handle_prepare(
        &mut self,
        now: LocalTime,
        from: NodeId,
        ballot: Ballot,
        first_slot: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        self.highest_round_seen = self.highest_round_seen.max(ballot.round);
        if let Some(mark) = self.prepare_refused(now, from) {
            out.mark(mark);
            return;
        }
        if self.nack_below_promise(from, ballot, out) {
            return;
        }
        if ballot > self.promised {
            // PMMC A1: promise only a ballot higher than every one promised, durably
            // before the answer leaves.
            self.promised = ballot;
            if !self.bugs.promise_not_durable {
                self.write(Write::Promise(ballot), Effect::None, out);
            }
            self.yield_to(ballot, out);
            self.leader_hint = None;
            self.reset_election_timer(out);
        } else {
            // A Prepare seen before, or one arriving after a heartbeat of its ballot raised
            // the promise without writing it (`handle_heartbeat`): that proposer already
            // leads the ballot and counts no more promises of it.
            out.mark("paxos.prepare_repeated");
        }
        self.send_promise(from, ballot, first_slot, out);
    }

    /// Phase 1b in pages of at most [`PROMISE_PAGE_SLOTS`] accepted slots.
    fn send_promise(
        &self,
        to: NodeId,
        ballot: Ballot,
        first_slot: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let accepted: Vec<(u64, Ballot, Value)> = self
            .accepted
            .range(first_slot..)
            .map(|(s, (b, v))| (s, *b, v.clone()))
            .collect();
        let (low_water, snapshot) = if self.bugs.gc_without_low_water_mark {
            (0, None)
        } else {
            let low_water = self.low_water();
            let snapshot = (low_water >= first_slot)
                .then(|| self.snapshot.clone())
                .flatten();
            (low_water, snapshot)
        };
        let pages: Vec<&[(u64, Ballot, Value)]> = if accepted.is_empty() {
            vec![&[]]
        } else {
            accepted.chunks(PROMISE_PAGE_SLOTS).collect()
        };
        // Records that fail their checksum are not reported as empty: a last page names
        // them (Protocol-Aware Recovery, FAST'18: a damaged copy must not count as a vote
        // for "nothing here").
        let damaged: Vec<u64> = self.damaged.range(first_slot..).copied().collect();
        let count = pages.len() as u32 + u32::from(!damaged.is_empty());
        if !damaged.is_empty() {
            let msg = Message::Damaged {
                ballot,
                page: count - 1,
                pages: count,
                slots: damaged,
            };
            out.send_after_writes(to, msg);
        }
        for (i, page) in pages.into_iter().enumerate() {
            let msg = Message::Promise {
                ballot,
                page: i as u32,
                pages: count,
                low_water,
                snapshot: if i == 0 { snapshot.clone() } else { None },
                accepted: page.to_vec(),
            };
            if self.bugs.promise_not_durable {
                out.send(to, msg);
            } else {
                out.send_after_writes(to, msg);
            }
        }
    }

    /// Candidate: one page of a promise.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_promise(
        &mut self,
        now: LocalTime,
        from: NodeId,
        ballot: Ballot,
        page: u32,
        pages: u32,
        _low_water: u64,
        snapshot: Option<Arc<Snapshot>>,
        accepted: Vec<(u64, Ballot, Value)>,
        damaged: Vec<u64>,
        out: &mut Outputs<Message, Write>,
    ) {
        let ignore_accepted = self.bugs.ignore_accepted_in_promises;
        let count_stale = self.bugs.count_stale_promises;
        let id = self.id;
        let Some(c) = self.candidate.as_mut() else {
            return;
        };
        // A promise counts only for the ballot it answers: an older one of ours says
        // nothing of what the acceptor accepted since.
        let stale_counted =
            count_stale && ballot != c.ballot && ballot.node == id && ballot < c.ballot;
        if (ballot != c.ballot && !stale_counted) || c.promised.contains(&from) || page >= pages {
            return;
        }
        if stale_counted {
            out.mark("paxos.stale_promise_counted");
        }
        let entry = c.pages.entry(from).or_default();
        entry.pages = pages;
        if !entry.received.insert(page) {
            return;
        }
        if let Some(s) = snapshot {
            if s.upto >= c.first_slot && c.snapshot.as_ref().is_none_or(|b| s.upto > b.upto) {
                c.snapshot = Some(s);
            }
        }
        if !ignore_accepted {
            merge(&mut c.merged, c.first_slot, accepted);
        }
        for slot in damaged.into_iter().filter(|&s| s >= c.first_slot) {
            c.damaged.entry(slot).or_default().insert(from);
        }
        if entry.received.len() as u32 == pages {
            c.promised.insert(from);
            self.maybe_lead(now, out);
        }
    }

    /// The node's own promise of its own ballot is durable.
    pub(crate) fn self_promised(
        &mut self,
        now: LocalTime,
        ballot: Ballot,
        out: &mut Outputs<Message, Write>,
    ) {
        let ignore_accepted = self.bugs.ignore_accepted_in_promises;
        let Some(c) = self.candidate.as_mut() else {
            return;
        };
        if c.ballot != ballot {
            return;
        }
        if !ignore_accepted {
            let own: Vec<(u64, Ballot, Value)> = self
                .accepted
                .range(c.first_slot..)
                .map(|(s, (b, v))| (s, *b, v.clone()))
                .collect();
            merge(&mut c.merged, c.first_slot, own);
        }
        for &slot in self.damaged.range(c.first_slot..) {
            c.damaged.entry(slot).or_default().insert(self.id);
        }
        c.promised.insert(self.id);
        self.maybe_lead(now, out);
    }

    /// Leads once a majority promised and, for every slot some promise could not read, a
    /// majority of the promises read it: `pmax` over them still meets every majority that
    /// may have chosen a value there.
    fn maybe_lead(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let quorum = self.quorum();
        let Some(c) = self.candidate.as_ref() else {
            return;
        };
        if c.promised.len() < quorum {
            return;
        }
        let intact = |unread: &BTreeSet<NodeId>| c.promised.difference(unread).count() >= quorum;
        if !c.damaged.values().all(intact) {
            out.mark("paxos.phase1_waits_for_intact_reports");
            return;
        }
        self.become_leader(now, out);
    }

    /// Phase 1 is complete: recover every slot from the first unknown one to the highest
    /// reported (PMMC `pmax`; holes get no-ops), then serve.
    fn become_leader(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let c = self.candidate.take().expect("candidate");
        if let Some(snapshot) = c.snapshot {
            if snapshot.upto > self.executed {
                // PMMC §4.2: slots below an acceptor's low-water mark were executed and
                // compacted; take its state rather than re-proposing into them.
                out.mark("paxos.leader_installed_snapshot_from_promise");
                self.install_snapshot(now, &snapshot, out);
            }
        }
        let start = self.executed + 1;
        let max_slot = [
            c.merged.keys().next_back().copied(),
            self.chosen.last_key(),
            Some(self.executed),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        let mut proposals = Slots::new();
        for slot in start..=max_slot {
            let value = if let Some(v) = self.chosen.get(&slot) {
                v.clone()
            } else if let Some((_, v)) = c.merged.get(&slot) {
                out.mark("paxos.recovered_accepted_value");
                v.clone()
            } else {
                out.mark("paxos.hole_filled_with_noop");
                Value::noop(c.ballot)
            };
            proposals.insert(
                slot,
                Proposal {
                    value,
                    acks: Acks::default(),
                    sent_at: now,
                },
            );
        }
        let pending = if self.bugs.no_epoch_fence {
            std::mem::take(&mut self.carried_pending)
        } else {
            Slots::new()
        };
        self.leader = Some(Box::new(Leader {
            ballot: c.ballot,
            next_slot: max_slot + 1,
            unsent: proposals.keys().collect(),
            proposals,
            announced_upto: 0,
            recovery_end: max_slot,
            pending,
            reads: VecDeque::new(),
            round: 0,
            round_started: VecDeque::new(),
            acks: BTreeMap::new(),
            quorum_round: 0,
            // A majority promised this ballot in answer to the Prepare: a boost that won
            // it is followed at once, and a lagging proposer's nack arriving before the
            // first heartbeat round completes boosts again rather than depose it (seed 145
            // of paxos_lagging_replica.toml: the nack of a round that raced the boost).
            quorum_since: Some(c.started),
            lease_until: None,
        }));
        self.role = Role::Leader;
        // Phase 1 needed this node's own promise, so no other leader's lease binds it.
        self.lease_granted = None;
        self.leader_hint = Some(self.id);
        out.cancel_timer(TIMER_ELECTION);
        self.report_role(out);
        // Assert the new leadership at once, and start the first lease round.
        self.leader_tick(now, out);
    }

    /// An acceptor refused our ballot: a leader or candidate of it is preempted.
    pub(crate) fn handle_nack(
        &mut self,
        now: LocalTime,
        ballot: Ballot,
        promised: Ballot,
        out: &mut Outputs<Message, Write>,
    ) {
        self.highest_round_seen = self.highest_round_seen.max(promised.round);
        if promised <= ballot {
            return;
        }
        let ours = self.leader.as_ref().is_some_and(|l| l.ballot == ballot)
            || self.candidate.as_ref().is_some_and(|c| c.ballot == ballot);
        if !ours {
            return;
        }
        let followed = self.leader.as_ref().is_some_and(|l| {
            l.ballot == ballot
                && l.quorum_since
                    .is_some_and(|t| now.since(t) < self.config.election_timeout.0)
        });
        // A boost under way (its own acceptor still answers to it) boosts again.
        let boosting = self.candidate.is_some()
            && self
                .lease_granted
                .is_some_and(|(holder, until)| holder == self.id && now < until);
        if (followed || boosting) && !self.bugs.no_ballot_boost {
            // PML §5.2: a majority answered this leader within the election timeout, so
            // the higher promise belongs to a proposer that never won one (back from a
            // partition, its round raised by failed attempts). Raise our ballot past it
            // with a new phase 1: the majority, still refusing others while it follows
            // us, promises it, and that proposer cannot depose a working leader.
            out.mark("paxos.ballot_boosted");
            self.step_down(out);
            // Its own acceptor still answers to the leader it was: while the boost runs it
            // refuses other proposers, as the majority does.
            if followed {
                self.lease_granted = Some((self.id, now + self.config.election_timeout.0));
            }
            self.start_phase1(now, out);
            return;
        }
        out.mark("paxos.preempted");
        self.step_down(out);
        // PMMC §3: go passive; the randomised election timeout is the back-off.
        self.reset_election_timer(out);
    }

    /// This node's acceptor took a ballot higher than the one it leads or campaigns with.
    pub(crate) fn yield_to(&mut self, ballot: Ballot, out: &mut Outputs<Message, Write>) {
        let lower = self.leader.as_ref().is_some_and(|l| l.ballot < ballot)
            || self.candidate.as_ref().is_some_and(|c| c.ballot < ballot);
        if lower {
            out.mark("paxos.yielded_to_higher_ballot");
            self.step_down(out);
            self.reset_election_timer(out);
        }
    }

    /// Leaves leadership or candidacy. A leader fails every client request it holds: a
    /// command in flight across a loss of leadership never returns ok (PML §5.3).
    pub(crate) fn step_down(&mut self, out: &mut Outputs<Message, Write>) {
        self.candidate = None;
        self.role = Role::Follower;
        let Some(leader) = self.leader.take() else {
            out.cancel_timer(TIMER_HEARTBEAT);
            return;
        };
        out.cancel_timer(TIMER_HEARTBEAT);
        if self.leader_hint == Some(self.id) {
            self.leader_hint = None;
        }
        if self.bugs.no_epoch_fence {
            self.carried_pending = leader.pending;
        } else {
            for command in leader.pending.into_values() {
                out.reply(
                    command.id,
                    Reply::Error {
                        reason: "leader lost its leadership before the command was executed",
                        maybe_applied: true,
                    },
                );
            }
        }
        for read in leader.reads {
            out.reply(
                read.id,
                Reply::Error {
                    reason: "leader lost its leadership before the read was confirmed",
                    maybe_applied: false,
                },
            );
        }
    }
}

/// PMMC `pmax`: keeps, per slot at or after `first_slot`, the highest-ballot value.
fn merge(
    merged: &mut BTreeMap<u64, (Ballot, Value)>,
    first_slot: u64,
    accepted: Vec<(u64, Ballot, Value)>,
) {
    for (slot, ballot, value) in accepted {
        if slot < first_slot {
            continue;
        }
        match merged.get(&slot) {
            Some((b, _)) if *b >= ballot => {}
            _ => {
                merged.insert(slot, (ballot, value));
            }
        }
    }
}
