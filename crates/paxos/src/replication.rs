//! Phase 2 and what follows it: the leader proposes commands in free slots, acceptors
//! accept them durably, a value is chosen once a majority accepted it in the leader's
//! ballot, and every replica executes the chosen slots in order, never past a hole.
//!
//! Replicas learn what is chosen from the leader's announcements (`chosen_upto` on its
//! Accepts and heartbeats, and `Chosen`): a slot it accepted in that leader's ballot holds
//! the chosen value. A replica missing a value asks for it (catch-up, PML §5.5); one
//! behind the sender's compacted prefix gets its snapshot first. Every
//! `snapshot_every` executed slots a node writes a snapshot of its state machine, and only
//! once that is durable drops the accepted slots it covers (PMMC §4.2) — keeping its
//! promise as it was.

use crate::{
    next_chosen, Acks, Ballot, Effect, Message, Paxos, Proposal, Snapshot, Value, Write,
    MAX_SLOTS_IN_FLIGHT, MAX_SLOTS_PER_MESSAGE, TIMER_HEARTBEAT,
};
use protocol::{Command, LocalTime, NodeId, Op, OpResult, Outputs, ReadMode, Reply, Report};
use std::sync::Arc;

/// Most heartbeat rounds whose start time the leader remembers for its lease.
const MAX_ROUNDS_REMEMBERED: usize = 4096;

impl Paxos {
    /// Leader: a client command takes the next free slot.
    pub(crate) fn propose_command(
        &mut self,
        now: LocalTime,
        command: Command,
        out: &mut Outputs<Message, Write>,
    ) {
        let executed = self.executed;
        let leader = self.leader.as_mut().expect("leader");
        if leader.next_slot - 1 - executed.min(leader.next_slot - 1) >= MAX_SLOTS_IN_FLIGHT {
            out.reply(
                command.id,
                Reply::Error {
                    reason: "too many commands in flight",
                    maybe_applied: false,
                },
            );
            return;
        }
        let slot = leader.next_slot;
        leader.next_slot += 1;
        // One copy of the command, shared by the proposal and the client's wait.
        let command = Arc::new(command);
        let value = Value {
            origin: leader.ballot,
            command: Some(Arc::clone(&command)),
        };
        leader.pending.insert(slot, command);
        leader.proposals.insert(
            slot,
            Proposal {
                value,
                acks: Acks::default(),
                sent_at: now,
            },
        );
        leader.unsent.push(slot);
    }

    /// End of every step: the leader accepts what it proposed in this step (one durable
    /// write) and sends it to every acceptor (one Accept each), and announces how far the
    /// chosen prefix reaches if that moved.
    pub(crate) fn flush(&mut self, out: &mut Outputs<Message, Write>) {
        let executed = self.executed;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let ballot = leader.ballot;
        if !leader.unsent.is_empty() {
            let slots = std::mem::take(&mut leader.unsent);
            let entries: Vec<(u64, Value)> = slots
                .iter()
                .filter_map(|s| leader.proposals.get(s).map(|p| (*s, p.value.clone())))
                .collect();
            for (slot, value) in &entries {
                self.accepted.insert(*slot, (ballot, value.clone()));
                self.damaged.remove(slot);
            }
            leader.announced_upto = executed;
            for chunk in entries.chunks(MAX_SLOTS_PER_MESSAGE) {
                for &p in &self.peers {
                    out.send(
                        p,
                        Message::Accept {
                            ballot,
                            entries: chunk.to_vec(),
                            chosen_upto: executed,
                        },
                    );
                }
            }
            // Accepting its own ballot promises it, in memory as on disk (a no-op while
            // the leader's promise already covers its ballot, as phase 1 leaves it).
            let promise = self.promised.max(ballot);
            self.promised = promise;
            let votes = crate::votes(&entries);
            self.write(
                Write::Accept {
                    ballot,
                    promise,
                    entries,
                },
                Effect::SelfAccept(ballot, votes),
                out,
            );
        } else if leader.announced_upto < executed {
            leader.announced_upto = executed;
            for &p in &self.peers {
                out.send(
                    p,
                    Message::Chosen {
                        ballot,
                        upto: executed,
                    },
                );
            }
        }
    }

    /// Leader, every heartbeat interval: a heartbeat round (leadership confirmation,
    /// leases, the chosen prefix) and the retransmission of proposals not yet accepted.
    pub(crate) fn leader_tick(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        self.start_round(now, out);
        self.grant_leases(now, out);
        let interval = self.config.heartbeat_interval;
        let executed = self.executed;
        let leader = self.leader.as_mut().expect("leader");
        let ballot = leader.ballot;
        for &p in &self.peers {
            let entries: Vec<(u64, Value)> = leader
                .proposals
                .iter()
                .filter(|(s, prop)| {
                    !prop.acks.contains(&p)
                        && now.since(prop.sent_at) >= interval
                        && !leader.unsent.contains(s)
                })
                .take(MAX_SLOTS_PER_MESSAGE)
                .map(|(s, prop)| (s, prop.value.clone()))
                .collect();
            if !entries.is_empty() {
                out.mark("paxos.accept_retransmitted");
                out.send(
                    p,
                    Message::Accept {
                        ballot,
                        entries,
                        chosen_upto: executed,
                    },
                );
            }
        }
        for prop in leader.proposals.values_mut() {
            if now.since(prop.sent_at) >= interval {
                prop.sent_at = now;
            }
        }
        out.set_timer(TIMER_HEARTBEAT, interval, interval);
    }

    /// Sends a heartbeat round to every peer.
    pub(crate) fn start_round(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let executed = self.executed;
        let leader = self.leader.as_mut().expect("leader");
        leader.round += 1;
        leader.round_started.push_back((leader.round, now));
        if leader.round_started.len() > MAX_ROUNDS_REMEMBERED {
            leader.round_started.pop_front();
        }
        leader.announced_upto = executed;
        for &p in &self.peers {
            out.send(
                p,
                Message::Heartbeat {
                    ballot: leader.ballot,
                    round: leader.round,
                    chosen_upto: executed,
                },
            );
        }
    }

    /// A leader's message of a ballot below this acceptor's promise gets a Nack naming the
    /// promise (PMMC A2: nothing below it is accepted); one at or above it ends any
    /// lower leadership or candidacy of this node. True when refused.
    fn refuse_lower_ballot(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        out: &mut Outputs<Message, Write>,
    ) -> bool {
        self.highest_round_seen = self.highest_round_seen.max(ballot.round);
        if self.nack_below_promise(from, ballot, out) {
            return true;
        }
        self.yield_to(ballot, out);
        false
    }

    /// Answers a ballot below the promise with a Nack naming the promise (PMMC A1, A2:
    /// nothing below it is promised or accepted). True when it did.
    pub(crate) fn nack_below_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        out: &mut Outputs<Message, Write>,
    ) -> bool {
        if ballot >= self.promised {
            return false;
        }
        out.send(
            from,
            Message::Nack {
                ballot,
                promised: self.promised,
            },
        );
        true
    }

    /// This node heard from a leader whose ballot is not lower than its promise.
    fn note_leader(&mut self, now: LocalTime, from: NodeId, out: &mut Outputs<Message, Write>) {
        self.leader_hint = Some(from);
        if self.leader.is_none() && self.candidate.is_none() {
            self.reset_election_timer(out);
        }
        // Having answered the leader, refuse every other proposer for the minimum election
        // timeout, counted on this node's own clock from now (PML §5.2: the lease the
        // master's reads rely on in lease mode; a fence against disruption in every mode).
        self.lease_granted = Some((from, now + self.config.election_timeout.0));
    }

    /// PMMC A2: a phase-2 message the acceptor answers raises its promise to the message's
    /// ballot, so that nothing below it is accepted or answered afterwards: an Accept, and
    /// a Heartbeat, which is an Accept of no slot (answering it extends that leader's
    /// lease, so a lower ballot must not then take the grant, `note_leader`). True when the
    /// promise rose: an Accept writes it with the slots it accepts; a Heartbeat does not
    /// (`handle_heartbeat` says why).
    fn raise_promise(&mut self, ballot: Ballot) -> bool {
        if self.bugs.accept_without_raising_promise || ballot <= self.promised {
            return false;
        }
        self.promised = ballot;
        true
    }

    /// Acceptor: phase 2a.
    pub(crate) fn handle_accept(
        &mut self,
        now: LocalTime,
        from: NodeId,
        ballot: Ballot,
        entries: Vec<(u64, Value)>,
        chosen_upto: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        if self.refuse_lower_ballot(from, ballot, out) {
            return;
        }
        let promise_raised = self.raise_promise(ballot);
        let promise = self.promised;
        self.note_leader(now, from, out);
        let low_water = self.low_water();
        let mut slots = Vec::with_capacity(entries.len());
        let mut fresh = Vec::new();
        for (slot, value) in entries {
            slots.push(slot);
            if slot <= low_water {
                // Executed and compacted here: chosen, so the value proposed is the one
                // chosen.
                out.mark("paxos.accept_below_low_water");
                continue;
            }
            if self
                .accepted
                .get(&slot)
                .is_some_and(|(b, v)| *b == ballot && *v == value)
            {
                continue; // a retransmission: already accepted (durable or on its way)
            }
            self.accepted.insert(slot, (ballot, value.clone()));
            if self.damaged.remove(&slot) {
                out.mark("paxos.damaged_record_overwritten");
            }
            fresh.push((slot, value));
        }
        if !fresh.is_empty() || promise_raised {
            let votes = crate::votes(&fresh);
            self.write(
                Write::Accept {
                    ballot,
                    promise,
                    entries: fresh,
                },
                Effect::Accepted(ballot, votes),
                out,
            );
        }
        out.send_after_writes(from, Message::Accepted { ballot, slots });
        self.learn_chosen(now, from, ballot, chosen_upto, out);
    }

    pub(crate) fn handle_accepted(
        &mut self,
        now: LocalTime,
        from: NodeId,
        ballot: Ballot,
        slots: Vec<u64>,
        out: &mut Outputs<Message, Write>,
    ) {
        if let Some(&last) = slots.iter().max() {
            self.note_peer_progress(from, last);
            if self.config.read_mode == ReadMode::Lease {
                let a = self.peer_accepted.entry(from).or_insert(0);
                *a = (*a).max(last);
            }
        }
        self.count_acceptance(now, from, ballot, &slots, out);
    }

    /// Leader (the learner): `who` accepted these slots in `ballot`. A value is chosen
    /// once a majority accepted it in one ballot (Paxos Made Simple §2.3).
    pub(crate) fn count_acceptance(
        &mut self,
        now: LocalTime,
        who: NodeId,
        ballot: Ballot,
        slots: &[u64],
        out: &mut Outputs<Message, Write>,
    ) {
        let quorum = self.quorum();
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        if ballot != leader.ballot {
            return;
        }
        // The slots this acceptance completes, then their values: in vectors kept
        // between calls (this runs on every acceptance).
        let mut newly = std::mem::take(&mut self.newly_chosen);
        newly.clear();
        for slot in slots {
            let Some(p) = leader.proposals.get_mut(slot) else {
                continue;
            };
            p.acks.insert(who);
            if p.acks.len() >= quorum {
                newly.push(*slot);
            }
        }
        // With follower leases a chosen slot may wait for a lease holder before it is
        // executed: keep sending it to those that did not accept it.
        let keep = self.config.read_mode == ReadMode::Lease;
        let mut values = std::mem::take(&mut self.newly_chosen_values);
        values.clear();
        values.extend(newly.iter().map(|&slot| {
            let value = if keep {
                leader.proposals[&slot].value.clone()
            } else {
                leader.proposals.remove(&slot).expect("proposal").value
            };
            (slot, value)
        }));
        self.newly_chosen = newly;
        for (slot, value) in values.drain(..) {
            self.learn(now, slot, value, out);
        }
        self.newly_chosen_values = values;
    }

    /// Replica: the leader of `ballot` says every slot up to `upto` is chosen; a slot
    /// accepted here in that ballot holds the chosen value.
    pub(crate) fn learn_chosen(
        &mut self,
        now: LocalTime,
        from: NodeId,
        ballot: Ballot,
        upto: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let mut slot = self.executed + 1;
        while slot <= upto {
            if !self.chosen.contains_key(&slot) {
                match self.accepted.get(&slot) {
                    Some((b, v)) if *b == ballot => {
                        let v = v.clone();
                        self.learn(now, slot, v, out);
                    }
                    _ => break,
                }
            }
            slot += 1;
        }
        if self.executed < upto {
            self.request_catch_up(now, from, out);
        }
    }

    fn request_catch_up(
        &mut self,
        now: LocalTime,
        from: NodeId,
        out: &mut Outputs<Message, Write>,
    ) {
        let due = self
            .last_catch_up
            .is_none_or(|t| now.since(t) >= self.config.heartbeat_interval);
        if due {
            self.last_catch_up = Some(now);
            out.mark("paxos.catch_up_requested");
            out.send(
                from,
                Message::CatchUp {
                    from: self.executed + 1,
                },
            );
        }
    }

    /// Any node that knows: the chosen values from `slot` on, after its snapshot when the
    /// asker is behind the compacted prefix.
    pub(crate) fn handle_catch_up(
        &mut self,
        to: NodeId,
        slot: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let low_water = self.low_water();
        let (snapshot, from) = if slot <= low_water {
            out.mark("paxos.catch_up_by_snapshot");
            (self.snapshot.clone(), low_water + 1)
        } else {
            (None, slot)
        };
        // With follower leases only executed slots leave: one chosen but held for a
        // lease holder must not reach a replica that serves reads.
        let last = if self.config.read_mode == ReadMode::Lease {
            self.executed
        } else {
            u64::MAX
        };
        let mut entries = Vec::new();
        let mut s = from;
        while let Some(v) = self.chosen.get(&s).filter(|_| s <= last) {
            if entries.len() >= MAX_SLOTS_PER_MESSAGE {
                break;
            }
            entries.push((s, v.clone()));
            s += 1;
        }
        if snapshot.is_some() || !entries.is_empty() {
            out.send(to, Message::Decided { snapshot, entries });
        }
    }

    pub(crate) fn handle_decided(
        &mut self,
        now: LocalTime,
        snapshot: Option<Arc<Snapshot>>,
        entries: Vec<(u64, Value)>,
        out: &mut Outputs<Message, Write>,
    ) {
        if let Some(s) = snapshot {
            if s.upto > self.executed {
                out.mark("paxos.replica_installed_snapshot");
                self.install_snapshot(now, &s, out);
            }
        }
        for (slot, value) in entries {
            self.learn(now, slot, value, out);
        }
    }

    /// The state machine jumps to a snapshot (every slot up to `upto` executed).
    pub(crate) fn install_snapshot(
        &mut self,
        _now: LocalTime,
        snapshot: &Snapshot,
        out: &mut Outputs<Message, Write>,
    ) {
        debug_assert!(snapshot.upto > self.executed);
        out.mark("paxos.snapshot_installed");
        self.kv = snapshot.kv.clone();
        self.applied = snapshot.applied.clone();
        self.executed = snapshot.upto;
        self.chosen.retain_from(snapshot.upto + 1);
        if let Some(leader) = self.leader.as_mut() {
            leader.proposals.retain_from(snapshot.upto + 1);
        }
        self.execute(out);
    }

    /// The node learns that `slot` holds `value`, chosen.
    pub(crate) fn learn(
        &mut self,
        _now: LocalTime,
        slot: u64,
        value: Value,
        out: &mut Outputs<Message, Write>,
    ) {
        if slot <= self.executed {
            return;
        }
        match self.chosen.get(&slot) {
            Some(known) if *known == value => return,
            Some(known) => {
                // One value per slot: a correct cluster never gets here.
                assert!(
                    self.bugs.any,
                    "{}: slot {slot} learned chosen twice: {known:?}, then {value:?}",
                    self.id,
                );
                out.mark("paxos.slot_chosen_twice");
                return;
            }
            None => {
                out.report(Report::Commit {
                    index: slot,
                    term: value.origin.as_term(),
                    op: value.op(),
                });
                self.chosen.insert(slot, value);
            }
        }
        self.execute(out);
    }

    /// Applies every chosen slot that follows the executed prefix, in order, and never
    /// past a hole.
    pub(crate) fn execute(&mut self, out: &mut Outputs<Message, Write>) {
        let limit = self.execute_limit();
        while let Some(value) = next_chosen(&self.chosen, self.executed) {
            if self.executed + 1 > limit {
                out.mark("paxos.execution_held_for_lease_holder");
                break;
            }
            let slot = self.executed + 1;
            let result = match &value.command {
                Some(c) if self.applied.insert(c.id) => Some(self.kv.apply(&c.op)),
                Some(_) => {
                    // PMMC: a command chosen in two slots is applied once.
                    out.mark("paxos.duplicate_command_skipped");
                    None
                }
                None => None,
            };
            let op = value.op();
            let origin = value.origin;
            self.executed = slot;
            if let Some(leader) = self.leader.as_mut() {
                leader.proposals.remove(&slot);
            }
            out.report(Report::Apply {
                index: slot,
                term: origin.as_term(),
                op,
                state: self.kv.digest(),
            });
            let waiting = match self.leader.as_mut() {
                Some(l) => l.pending.remove(&slot),
                None => None,
            }
            .or_else(|| self.carried_pending.remove(&slot));
            if let Some(command) = waiting {
                let reply = match result {
                    Some(r) if op == Some(command.id) => Reply::Ok(r),
                    _ if self.bugs.no_epoch_fence => {
                        // The bug: the slot executed, so the command is taken as done.
                        out.mark("paxos.ok_across_leadership_change");
                        Reply::Ok(naive_result(&command.op, &self.kv))
                    }
                    None if op == Some(command.id) => Reply::Error {
                        reason: "the command was already applied in an earlier slot",
                        maybe_applied: true,
                    },
                    _ => {
                        // A later leader chose another value here: this node was deposed
                        // without knowing it, and its proposal lost (it stays in no
                        // other slot: a re-proposal keeps its slot).
                        out.mark("paxos.pending_slot_taken_by_later_ballot");
                        Reply::Error {
                            reason: "a later leader chose another value in the command's slot",
                            maybe_applied: false,
                        }
                    }
                };
                out.reply(command.id, reply);
            }
        }
        if let Some(leader) = self.leader.as_mut() {
            if self.executed >= leader.next_slot {
                // Values were chosen in slots this leader never proposed: a higher ballot
                // chose them, so a majority promised it, and ours can choose nothing more.
                out.mark("paxos.leader_overtaken_by_chosen_slots");
                self.step_down(out);
                self.reset_election_timer(out);
            }
        }
        self.maybe_snapshot(out);
        self.try_serve_reads(out);
    }

    fn maybe_snapshot(&mut self, out: &mut Outputs<Message, Write>) {
        if self.snapshot_in_flight {
            return;
        }
        // A damaged record of an executed slot is repaired by a snapshot covering it
        // (Protocol-Aware Recovery: rebuild from what is known chosen), whatever the
        // snapshot interval.
        let repair = self.damaged.first().is_some_and(|&s| s <= self.executed);
        if repair {
            out.mark("paxos.snapshot_repairs_damaged_record");
        } else if self.snapshot_every == 0
            || self.executed < self.low_water().saturating_add(self.snapshot_every)
        {
            return;
        }
        // One copy of the state, shared by this node, its write and its durable image.
        let snapshot = Arc::new(Snapshot {
            upto: self.executed,
            kv: self.kv.clone(),
            applied: self.applied.clone(),
        });
        out.mark("paxos.snapshot_taken");
        self.snapshot_in_flight = true;
        self.chosen.retain_from(self.executed + 1);
        // The snapshot speaks for the slots it covers, damaged ones included.
        self.damaged = self.damaged.split_off(&(self.executed + 1));
        self.snapshot = Some(Arc::clone(&snapshot));
        self.write(
            Write::Snapshot(snapshot),
            Effect::Snapshot(self.executed),
            out,
        );
    }

    /// The snapshot up to `upto` is durable: drop the accepted slots it covers (PML §5.5:
    /// truncate only after the snapshot is durable), keeping the promise.
    pub(crate) fn snapshot_durable(&mut self, upto: u64, out: &mut Outputs<Message, Write>) {
        self.snapshot_in_flight = false;
        // PMMC §4.2: compaction drops accepted slots, never the promise.
        let promise = if self.bugs.prune_forgets_promise {
            self.accepted
                .range(upto + 1..)
                .map(|(_, (b, _))| *b)
                .max()
                .unwrap_or(Ballot::ZERO)
        } else {
            self.promised
        };
        if promise != self.promised {
            out.mark("paxos.promise_lost_in_compaction");
        }
        self.promised = promise;
        self.accepted.retain_from(upto + 1);
        self.write(Write::Compact { upto, promise }, Effect::None, out);
        self.maybe_snapshot(out);
    }

    pub(crate) fn handle_heartbeat(
        &mut self,
        now: LocalTime,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        chosen_upto: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        if self.refuse_lower_ballot(from, ballot, out) {
            return;
        }
        // As an Accept does (seed 27115: a stale heartbeat of a deposed leader, still
        // admitted by the old promise, moved the grant to it inside this leader's lease).
        // The raise is not written and the ack does not wait for a write: the ack backs no
        // vote (no phase 1 counts it, it accepts no value), only the lease, whose other
        // half, the grant, is volatile too. A restarted acceptor that forgot both is in the
        // state of one the heartbeat never reached, and in lease mode refuses every Prepare
        // for the election timeout, as it does for the grant alone.
        if self.raise_promise(ballot) {
            out.mark("paxos.heartbeat_raised_promise");
        }
        self.note_leader(now, from, out);
        out.send(
            from,
            Message::HeartbeatAck {
                ballot,
                round,
                executed: self.executed,
                at: now,
            },
        );
        self.learn_chosen(now, from, ballot, chosen_upto, out);
    }
}

/// `paxos.no_epoch_fence`: what a leader that takes "the slot executed" for "my command
/// executed" tells its client.
fn naive_result(op: &Op, kv: &protocol::Kv) -> OpResult {
    match op {
        Op::Read { key } => OpResult::Read(kv.read(key)),
        Op::Write { .. } => OpResult::Written,
        Op::Cas { .. } => OpResult::Cas(true),
    }
}
