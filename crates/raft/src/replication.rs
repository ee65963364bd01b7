//! Log replication: AppendEntries with its consistency check and conflict truncation
//! (Raft §5.3), the leader's commit rule (Raft §5.4.2, thesis §3.6.2), and applying
//! committed entries to the state machine.

use crate::{
    AppendOutcome, Entry, LogWrite, Message, Outputs, Raft, Shipping, Write,
    MAX_ENTRIES_PER_MESSAGE, MAX_ROUNDS_REMEMBERED, MAX_UNACKED_ENTRIES,
    PROBE_MISSES_BEFORE_COMMIT_INDEX,
};
use protocol::{Command, LocalTime, NodeId, Reply, Report, Role};

/// Builds the AppendEntries that ships entries `next..=upto` (at most a message's
/// worth; none if `upto < next`) from a log whose first entry is at `offset + 1` (the
/// entry at `offset`, compacted, was of `offset_term`); returns it with the index of the
/// last entry it carries.
#[allow(clippy::too_many_arguments)]
fn append_message(
    log: &[Entry],
    offset: u64,
    offset_term: u64,
    term: u64,
    leader_commit: u64,
    round: u64,
    next: u64,
    upto: u64,
) -> (Message, u64) {
    debug_assert!(next > offset, "entry {next} is compacted (offset {offset})");
    let prev_log_index = next - 1;
    let prev_log_term = if prev_log_index == offset {
        offset_term
    } else {
        log[(prev_log_index - offset) as usize - 1].term
    };
    let from = (prev_log_index - offset) as usize;
    let to = (upto.saturating_sub(offset) as usize)
        .min(log.len())
        .min(from + MAX_ENTRIES_PER_MESSAGE)
        .max(from);
    let entries = log[from..to].to_vec();
    let msg = Message::AppendEntries {
        term,
        prev_log_index,
        prev_log_term,
        entries,
        leader_commit,
        round,
    };
    (msg, offset + to as u64)
}

impl Raft {
    /// Ships what follower `index` (in `progress`) lacks. A heartbeat sends even when
    /// there is nothing new (an empty AppendEntries) and unpauses a probe.
    pub(crate) fn send_append(
        &mut self,
        index: usize,
        heartbeat: bool,
        out: &mut Outputs<Message, Write>,
    ) {
        if !self.ships_to(self.peers[index]) {
            // Thesis §4.2.3: not a member of the latest configuration (a spare not yet
            // added, a server removed by a committed change).
            return;
        }
        self.ship(index, heartbeat, out);
    }

    /// `send_append` without asking whether the peer is replicated to.
    pub(crate) fn ship(
        &mut self,
        index: usize,
        heartbeat: bool,
        out: &mut Outputs<Message, Write>,
    ) {
        let (offset, offset_term) = (self.offset, self.offset_term);
        let leader = self.leader.as_mut().expect("only a leader replicates");
        let p = &mut leader.progress[index];
        let last = offset + self.log.len() as u64;
        if p.next <= offset {
            // Thesis §5.1: what the follower lacks next is compacted; send the snapshot.
            let waiting = matches!(
                p.shipping,
                Shipping::Probe { paused: true } | Shipping::Snapshot { .. }
            );
            if waiting && !heartbeat {
                return;
            }
            self.send_snapshot(index, out);
            return;
        }
        debug_assert!(
            p.next >= 1 && p.next <= last + 1,
            "next {} beyond {last}",
            p.next
        );
        match p.shipping {
            Shipping::Probe { .. } | Shipping::Snapshot { .. } => {
                let paused = p.shipping != (Shipping::Probe { paused: false });
                if paused && !heartbeat {
                    return;
                }
                let (msg, _) = append_message(
                    &self.log,
                    offset,
                    offset_term,
                    self.term,
                    self.commit_index,
                    leader.round,
                    p.next,
                    last,
                );
                p.shipping = Shipping::Probe { paused: true };
                out.send(p.id, msg);
            }
            Shipping::Replicate => {
                // Flow control (etcd's inflight limit): at most MAX_UNACKED_ENTRIES past
                // what the follower acknowledged, so that a lagging follower whose
                // batches arrive reordered does not make the leader resend its whole
                // backlog on every rejection.
                let window_end = (p.matched + MAX_UNACKED_ENTRIES).min(last);
                let mut sent = false;
                while p.next <= window_end {
                    let (msg, sent_to) = append_message(
                        &self.log,
                        offset,
                        offset_term,
                        self.term,
                        self.commit_index,
                        leader.round,
                        p.next,
                        window_end,
                    );
                    out.send(p.id, msg);
                    // Optimistic: assume delivery; a rejection walks `next` back.
                    p.next = sent_to + 1;
                    sent = true;
                }
                if heartbeat && !sent {
                    // Empty, at next - 1: a rejection reveals a lost batch.
                    let (msg, _) = append_message(
                        &self.log,
                        offset,
                        offset_term,
                        self.term,
                        self.commit_index,
                        leader.round,
                        p.next,
                        p.next - 1,
                    );
                    out.send(p.id, msg);
                }
            }
        }
    }

    pub(crate) fn broadcast_append(&mut self, out: &mut Outputs<Message, Write>) {
        for i in 0..self.peers.len() {
            self.send_append(i, false, out);
        }
    }

    /// A new heartbeat round: every follower gets an AppendEntries carrying it.
    pub(crate) fn heartbeat(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        self.start_round(now);
        for i in 0..self.peers.len() {
            self.send_append(i, true, out);
        }
        self.update_quorum_round(now, out);
    }

    pub(crate) fn start_round(&mut self, now: LocalTime) {
        let leader = self.leader.as_mut().expect("only a leader runs rounds");
        leader.round += 1;
        leader.round_started.push_back((leader.round, now));
        if leader.round_started.len() > MAX_ROUNDS_REMEMBERED {
            // Forgetting a start time only forgoes a lease extension (the safe side).
            leader.round_started.pop_front();
        }
    }

    /// The leader appends a client command (a write, a cas, or a read in Log mode).
    pub(crate) fn client_append(
        &mut self,
        now: LocalTime,
        command: Command,
        out: &mut Outputs<Message, Write>,
    ) {
        debug_assert_eq!(self.role, Role::Leader);
        let id = command.id;
        let index = self.append_own(Entry::command(self.term, command), out);
        let leader = self.leader.as_mut().expect("leader state");
        leader.pending_entries.insert(index, id);
        self.broadcast_append(out);
        if self.bugs.commit_before_self_persist {
            self.maybe_commit(now, out);
        }
    }

    /// Raft Figure 2, AppendEntries receiver (the term rules already ran: the sender is
    /// the leader of our term).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_append_entries(
        &mut self,
        now: LocalTime,
        from: NodeId,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        debug_assert_eq!(self.role, Role::Follower);
        if self.leader_hint.is_none() && self.bugs.forget_vote_on_leader_discovery {
            self.voted_for = None;
            self.persist_hard_state(out);
            out.mark("raft.vote_forgotten_on_leader_discovery");
        }
        self.leader_hint = Some(from);
        self.last_leader_contact = Some(now);
        self.needed_by_lagging_candidate = false;
        self.reset_election_timer(out);

        let (mut prev_log_index, mut prev_log_term, mut entries) =
            (prev_log_index, prev_log_term, entries);
        if prev_log_index < self.offset {
            // The message starts inside what our snapshot covers: committed entries, which
            // match the leader's. Keep only those after the compaction point.
            out.mark("raft.append_below_snapshot");
            let covered = (self.offset - prev_log_index).min(entries.len() as u64);
            if prev_log_index + covered == self.offset {
                entries.drain(..covered as usize);
                prev_log_index = self.offset;
                prev_log_term = self.offset_term;
            } else {
                // Nothing after the compaction point: all of it is ours already.
                let reply = Message::AppendEntriesResp {
                    term: self.term,
                    round,
                    outcome: AppendOutcome::Accepted {
                        match_index: prev_log_index + entries.len() as u64,
                    },
                };
                out.send_after_writes(from, reply);
                return;
            }
        }
        let last = self.last_index();
        let commit_index = self.commit_index;
        let reject = |hint_index, hint_term| AppendOutcome::Rejected {
            prev_log_index,
            hint_index,
            hint_term,
            commit_index,
        };
        let outcome = match self.term_at(prev_log_index) {
            None => reject(last + 1, None),
            Some(term) if term != prev_log_term => {
                // Thesis §5.3: name our conflicting term and where it starts, so the
                // leader can skip all of it in one round trip.
                let mut first = prev_log_index;
                while first > self.commit_index + 1 && self.term_at(first - 1) == Some(term) {
                    first -= 1;
                }
                if prev_log_index <= self.commit_index {
                    // Log matching says a committed entry matches every later leader.
                    assert!(
                        self.bugs.any,
                        "{}: committed entry {prev_log_index} (term {term}) conflicts with leader {from}'s term {prev_log_term}",
                        self.id
                    );
                }
                out.mark("raft.append_rejected_conflict");
                reject(first, Some(term))
            }
            Some(_) => {
                let verified = prev_log_index + entries.len() as u64;
                self.accept_entries(prev_log_index, entries, out);
                let known = if self.bugs.follower_commit_beyond_verified {
                    self.last_index()
                } else {
                    verified
                };
                // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
                let commit = leader_commit.min(known);
                if commit > self.commit_index {
                    self.commit_to(now, commit, out);
                }
                AppendOutcome::Accepted {
                    match_index: verified,
                }
            }
        };
        let reply = Message::AppendEntriesResp {
            term: self.term,
            round,
            outcome,
        };
        if self.bugs.commit_before_self_persist {
            out.send(from, reply);
        } else {
            // The acknowledgement says "durable through match_index": hold it until the
            // writes it depends on (these entries, earlier ones, the term) complete.
            out.send_after_writes(from, reply);
        }
    }

    /// Appends the entries after `prev_log_index` (which matched): skips entries we
    /// already hold, truncates at the first conflict only (Raft §5.3), appends the rest.
    fn accept_entries(
        &mut self,
        prev_log_index: u64,
        entries: Vec<Entry>,
        out: &mut Outputs<Message, Write>,
    ) {
        let mut skip = 0;
        if self.bugs.truncate_without_conflict {
            if !entries.is_empty() && self.last_index() > prev_log_index {
                self.truncate(prev_log_index + 1, out);
                out.mark("raft.truncated_without_conflict");
            }
        } else {
            for (k, entry) in entries.iter().enumerate() {
                let index = prev_log_index + 1 + k as u64;
                match self.term_at(index) {
                    None => break,
                    Some(term) if term == entry.term => skip = k + 1,
                    Some(_) => {
                        out.mark("raft.conflict_truncated");
                        self.truncate(index, out);
                        break;
                    }
                }
            }
        }
        if skip == entries.len() {
            return;
        }
        let index = prev_log_index + 1 + skip as u64;
        debug_assert_eq!(index, self.last_index() + 1);
        let mut entries = entries;
        let new: Vec<Entry> = if skip == 0 {
            std::mem::take(&mut entries)
        } else {
            entries.split_off(skip)
        };
        let mut prev_term = self.last_term();
        for e in &new {
            // Log matching: terms never decrease along the log, and never exceed ours.
            debug_assert!(
                e.term >= prev_term && e.term <= self.term,
                "{}: appending an entry of term {} after term {prev_term} at term {}",
                self.id,
                e.term,
                self.term
            );
            prev_term = e.term;
        }
        self.log.extend(new.iter().cloned());
        self.write(
            Write::Log(LogWrite::Append {
                index,
                entries: new,
            }),
            out,
        );
        // Thesis §4.1: a configuration entry takes effect as soon as it is appended.
        self.refresh_membership(index, out);
    }

    /// Deletes the entry at `from` and all after it.
    fn truncate(&mut self, from: u64, out: &mut Outputs<Message, Write>) {
        assert!(
            self.role != Role::Leader,
            "leader {} of term {} truncating its own log at {from}",
            self.id,
            self.term
        );
        if from <= self.commit_index {
            assert!(
                self.bugs.any,
                "{}: truncating committed entries from {from} (commit index {})",
                self.id, self.commit_index
            );
            out.mark("raft.committed_entry_truncated");
        }
        debug_assert!(
            from > self.offset,
            "{}: truncating at {from}, compacted to {}",
            self.id,
            self.offset
        );
        self.log.truncate((from - self.offset) as usize - 1);
        self.write(Write::Log(LogWrite::Truncate { from }), out);
        // A truncated configuration entry no longer counts: the previous one is back.
        if self.config_index >= from {
            out.mark("raft.conf_entry_truncated");
        }
        self.refresh_membership(from, out);
    }

    /// The leader learns how a follower's log stands.
    pub(crate) fn handle_append_response(
        &mut self,
        now: LocalTime,
        from: NodeId,
        round: u64,
        outcome: AppendOutcome,
        out: &mut Outputs<Message, Write>,
    ) {
        let Some(index) = self.peers.iter().position(|&p| p == from) else {
            return;
        };
        let last = self.last_index();
        let (log, offset) = (&self.log, self.offset);
        let term_at = |i: u64| log[(i - offset) as usize - 1].term;
        let to_term_start = self.config.backtrack_to_term_start;
        let leader = self.leader.as_mut().expect("leader state");
        let p = &mut leader.progress[index];
        p.recent_active = true;
        p.acked_round = p.acked_round.max(round);
        let mut resend = true;
        match outcome {
            AppendOutcome::Accepted { match_index } => {
                debug_assert!(match_index <= last, "{from} matched {match_index} > {last}");
                p.matched = p.matched.max(match_index);
                p.misses = 0;
                p.next = p.next.max(p.matched + 1);
                match p.shipping {
                    Shipping::Snapshot { index } if match_index < index => {
                        // Not the snapshot's answer: a duplicate or reordered reply, or a
                        // follower that ignored an older snapshot. Sending the snapshot
                        // again on each such reply multiplied them (swarm seed 141876:
                        // with duplication every reply begot a snapshot and every
                        // snapshot a reply, 11 GiB of messages in flight 8 s in). The
                        // heartbeat resends it if it was lost.
                        resend = false;
                    }
                    Shipping::Probe { .. } | Shipping::Snapshot { .. } => {
                        p.next = p.matched + 1;
                        p.shipping = Shipping::Replicate;
                    }
                    Shipping::Replicate => {}
                }
            }
            AppendOutcome::Rejected {
                prev_log_index,
                hint_index,
                hint_term,
                commit_index,
            } => {
                if prev_log_index <= p.matched {
                    // Stale: the follower has since matched this far (etcd's rule; with
                    // durable acks a matched entry is never lost, so only a reordered
                    // reply, or a mutant, gets here; resending would ping-pong forever).
                    resend = false;
                } else if p.shipping == Shipping::Replicate {
                    // An optimistic message did not land (lost or reordered).
                    p.next = p.matched + 1;
                    p.shipping = Shipping::Probe { paused: false };
                } else if prev_log_index + 1 != p.next {
                    resend = false;
                } else {
                    // Skip the follower's conflicting term: continue after our last entry
                    // of that term if we have one, else at the start of theirs. (With
                    // `backtrack_to_term_start`, always at the start of theirs, the Raft
                    // paper's §5.3 variant: possibly before the divergence, so the next
                    // AppendEntries may verify only a prefix of the follower's log.)
                    let mut next = hint_index;
                    if let Some(term) = hint_term.filter(|_| !to_term_start) {
                        let mut i = prev_log_index.min(last);
                        // (Not into the compacted prefix: a follower that far behind gets
                        // the snapshot.)
                        while i > offset && term_at(i) > term {
                            i -= 1;
                        }
                        if i > offset && term_at(i) == term {
                            next = i + 1;
                        }
                    }
                    // Thesis §5.3 leaves the worst case to the implementation: a walk by
                    // terms takes a round trip per term, and logs that diverged through
                    // many one-entry terms (leaders deposed as they took office, nothing
                    // committed) cost seconds to repair (soak seed 2706 of Raft: 674
                    // terms at 36 ms each, past the liveness bound). Once the hint has
                    // missed a few times in a row, resume after the follower's commit
                    // index, which every leader's log holds (Leader Completeness), and
                    // send what follows in batches: one more round trip, however deep.
                    p.misses += 1;
                    let floor = commit_index.max(offset) + 1;
                    if p.misses >= PROBE_MISSES_BEFORE_COMMIT_INDEX && floor < next {
                        next = floor;
                    }
                    p.next = next.min(prev_log_index).max(p.matched + 1);
                    p.shipping = Shipping::Probe { paused: false };
                    out.mark("raft.leader_backtracks");
                }
            }
        }
        if resend {
            self.send_append(index, false, out);
        }
        self.maybe_commit(now, out);
        self.update_quorum_round(now, out);
    }

    /// The leader appends one entry of its own (its no-op, a command, a configuration) and
    /// starts writing it; returns its index.
    pub(crate) fn append_own(&mut self, entry: Entry, out: &mut Outputs<Message, Write>) -> u64 {
        let index = self.last_index() + 1;
        self.log.push(entry.clone());
        self.write(
            Write::Log(LogWrite::Append {
                index,
                entries: vec![entry],
            }),
            out,
        );
        index
    }

    /// Raft §5.4.2 / thesis §3.6.2: commit the highest index a majority holds durably, but
    /// only by counting replicas of an entry of the current term (Figure 8).
    pub(crate) fn maybe_commit(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let leader = self.leader.as_ref().expect("leader state");
        let own = if self.bugs.commit_before_self_persist {
            self.last_index()
        } else {
            self.durable_index
        };
        let n = quorum_value(
            &mut self.scratch,
            &self.members,
            self.id,
            own,
            leader.progress.iter().map(|p| (p.id, p.matched)),
        );
        if n <= self.commit_index {
            return;
        }
        let term = self.entry(n).term;
        if term == self.term {
            self.commit_to(now, n, out);
        } else if self.bugs.commit_prior_term_by_count {
            out.mark("raft.committed_prior_term_by_count");
            self.commit_to(now, n, out);
        } else {
            out.mark("raft.prior_term_entry_not_committed_by_count");
        }
    }

    /// Advances the commit index, reporting every newly committed entry, then applies.
    pub(crate) fn commit_to(
        &mut self,
        now: LocalTime,
        index: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let old = self.commit_index;
        assert!(
            index > old,
            "{}: commit index going from {old} to {index}",
            self.id
        );
        debug_assert!(index <= self.last_index());
        for i in old + 1..=index {
            let e = self.entry(i);
            out.report(Report::Commit {
                index: i,
                term: e.term,
                op: e.command.as_ref().map(|c| c.id),
            });
        }
        self.commit_index = index;
        self.apply_committed(out);
        if self.role == Role::Leader {
            let noop = self.leader.as_ref().expect("leader state").noop_index;
            if old < noop && index >= noop {
                self.on_own_term_commit(now, out);
            }
            if old < self.config_index && index >= self.config_index {
                self.tell_removed_servers(out);
            }
            self.try_serve_reads(out);
        }
    }

    /// Applies committed entries in order; the leader answers the clients waiting on them.
    fn apply_committed(&mut self, out: &mut Outputs<Message, Write>) {
        let upto = self.commit_index.min(self.last_index());
        while self.last_applied < upto {
            self.last_applied += 1;
            let index = self.last_applied;
            let entry = &self.log[(index - self.offset) as usize - 1];
            let result = entry.command.as_ref().map(|c| self.kv.apply(&c.op));
            let op = entry.command.as_ref().map(|c| c.id);
            out.report(Report::Apply {
                index,
                term: entry.term,
                op,
                state: self.kv.digest(),
            });
            if let Some(leader) = self.leader.as_mut() {
                if let Some(id) = leader.pending_entries.remove(&index) {
                    debug_assert_eq!(Some(id), op, "leader's entry {index} changed");
                    let result = result.expect("a pending entry carries a command");
                    out.reply(id, Reply::Ok(result));
                }
            }
        }
        self.maybe_snapshot(out);
    }
}

/// The highest value a majority of the latest configuration has reached (thesis §4.1):
/// `own` counts only if `me` is a member, each peer's value only if it is one. Used for
/// the commit index (match indexes) and for confirmed heartbeat rounds (reads, lease).
pub(crate) fn quorum_value(
    scratch: &mut Vec<u64>,
    members: &[NodeId],
    me: NodeId,
    own: u64,
    peers: impl Iterator<Item = (NodeId, u64)>,
) -> u64 {
    scratch.clear();
    // Membership as a bit set when the ids allow (they do in any simulated cluster, whose
    // ids run from 1 to at most 64; bit `id - 1`): this runs on every acknowledgement,
    // twice. Ids past the set fall back to searching the member list (a 64-node cluster
    // once searched it for every peer of every acknowledgement: most of such a run's time).
    let mut bits = 0u64;
    let mut small = true;
    for m in members {
        if (1..=64).contains(&m.0) {
            bits |= 1 << (m.0 - 1);
        } else {
            small = false;
        }
    }
    let is_member = |id: NodeId| {
        if small {
            (1..=64).contains(&id.0) && bits >> (id.0 - 1) & 1 == 1
        } else {
            members.contains(&id)
        }
    };
    if is_member(me) {
        scratch.push(own);
    }
    for (id, value) in peers {
        if is_member(id) {
            scratch.push(value);
        }
    }
    // The quorum-th highest value: for a few values an insertion sort (highest first),
    // cheaper than the general selection's partitioning; a selection beyond.
    let k = protocol::quorum(members.len()) - 1;
    if scratch.len() <= SMALL_QUORUM {
        for i in 1..scratch.len() {
            let v = scratch[i];
            let mut j = i;
            while j > 0 && scratch[j - 1] < v {
                scratch[j] = scratch[j - 1];
                j -= 1;
            }
            scratch[j] = v;
        }
        return scratch[k];
    }
    *scratch.select_nth_unstable_by(k, |a, b| b.cmp(a)).1
}

/// Up to this many values, [`quorum_value`] sorts them rather than selecting.
const SMALL_QUORUM: usize = 9;

#[cfg(test)]
mod tests {
    use super::*;

    /// The quorum value is the `quorum(n)`-th highest among the members' values, whatever
    /// the ids: small ones (the bit set), node 64 (which a 64-bit set left out) and ids
    /// past the bit set (the member list); non-members never count.
    #[test]
    fn the_quorum_value_counts_exactly_the_members_whatever_their_ids() {
        for (ids, me) in [
            ((1..=5).collect::<Vec<u32>>(), 1),
            ((1..=10).collect(), 3),
            ((1..=11).collect(), 11),
            ((1..=64).collect(), 64),
            ((1..=65).collect(), 65),
            ((60..=70).collect(), 70),
            ((120..=140).collect(), 130),
        ] {
            let members: Vec<NodeId> = ids.iter().skip(1).map(|&i| NodeId(i)).collect();
            let value = |id: u32| u64::from(id) * 7 % 31;
            // Every id reports, the first (not a member) with the highest value of all.
            let peers = ids
                .iter()
                .filter(|&&i| i != me)
                .map(|&i| (NodeId(i), if i == ids[0] { 1000 } else { value(i) }));
            let mut scratch = Vec::new();
            let got = quorum_value(&mut scratch, &members, NodeId(me), value(me), peers);
            let mut expected: Vec<u64> = members.iter().map(|m| value(m.0)).collect();
            expected.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(
                got,
                expected[protocol::quorum(members.len()) - 1],
                "{ids:?}"
            );
        }
    }
}
