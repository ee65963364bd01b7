//! Membership changes, one server at a time (Ongaro's thesis §4.1).
//!
//! A configuration is an ordinary log entry naming the voting members. A node uses the
//! latest configuration in its log, committed or not, from the moment it appends it; a
//! truncation that removes a configuration entry puts the previous one back in force.
//! Every quorum is a majority of that configuration: votes, the commit index, heartbeat
//! rounds (ReadIndex, lease) and check-quorum. Adding or removing one server keeps any
//! majority of the old configuration overlapping any majority of the new one, so one
//! change at a time is safe as long as a leader never stacks changes:
//!
//! - a change starts only once the previous configuration entry has committed, and
//! - only once an entry of the leader's own term has committed (raft-dev, 2015). Without
//!   this, a leader of term 1 may append C1 (add a server) on itself and the new server
//!   only, and a leader of term 2 that never saw C1 may append C2 (remove a server) and
//!   commit it; C1 and C2 differ by two servers, a majority of each can be disjoint, and
//!   the first leader can later win an election under C1 and overwrite what C2's majority
//!   committed. Committing an entry of its own term first makes the new leader's majority
//!   of the old configuration hold a log no C1-holder can beat in an election.
//!
//! The leader ships entries to the members of its latest configuration (§4.2.3), and
//! also to a server that configuration removed until the removal commits, with one last
//! heartbeat carrying that commit, so that a removed server that is up learns it is out
//! (etcd likewise keeps a removed server's progress until the change applies). A leader
//! that removed itself keeps leading, without counting itself, until the entry that
//! removes it commits, and then steps down (§4.2.2). A server outside its latest
//! configuration still campaigns while it does not know that configuration committed (it
//! may be needed to commit it, §4.2.2), without counting its own vote; once it knows, or
//! if it never was a member (a spare), it stays quiet. Every server answers RequestVote
//! and AppendEntries whatever its configuration says (§4.1), with one exception (§4.2.3):
//! while a node hears a leader, a RequestVote from a candidate outside its configuration
//! neither moves its term nor gets its vote, whatever the options. A removed server
//! learns that its removal committed only from a leader, misses that last heartbeat if it
//! is down or cut off, and forgets it when it restarts (the commit index is volatile), and
//! then campaigns for ever; unfenced, each of its terms would depose the leader.

use crate::{Entry, Message, Outputs, Raft, Shipping, Write};
use protocol::{LocalTime, MembershipChange, NodeId, Report, Role};

impl Raft {
    pub(crate) fn is_member(&self, id: NodeId) -> bool {
        self.members.binary_search(&id).is_ok()
    }

    /// Whether the leader replicates to `id`: a member, or a server the latest
    /// configuration removed while that configuration is not yet committed. Only members'
    /// answers count.
    pub(crate) fn ships_to(&self, id: NodeId) -> bool {
        self.is_member(id)
            || (self.config_index > self.commit_index
                && self.previous_members.binary_search(&id).is_ok())
    }

    /// Votes, acknowledgements and heartbeat answers needed: a majority of the members.
    pub(crate) fn quorum(&self) -> usize {
        protocol::quorum(self.members.len())
    }

    /// Re-reads the configuration in force after the log changed from index `first_changed`
    /// on (entries appended there, or everything from there truncated; 0: the whole log and
    /// the snapshot changed): the latest configuration entry, else the snapshot's, else the
    /// initial membership. Reports a change.
    pub(crate) fn refresh_membership(
        &mut self,
        first_changed: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        // Below `first_changed` the log is as it was, and `config_index` was its latest
        // configuration entry; if that entry is gone, look through the whole log.
        let incremental = first_changed > 0 && self.config_index < first_changed;
        let lowest = if incremental { first_changed } else { 1 }.max(self.offset + 1);
        let found = (lowest..=self.last_index())
            .rev()
            .find(|&i| self.entry(i).config.is_some());
        let (index, members, previous) = match found {
            Some(i) => {
                let (members, previous) = self.config_entry(i);
                (i, members, previous)
            }
            None if incremental => return,
            None => self.base_config(),
        };
        if incremental && index == self.config_index {
            return;
        }
        self.config_index = index;
        self.previous_members = if index == 0 { Vec::new() } else { previous };
        if members != self.members {
            let was = std::mem::replace(&mut self.members, members);
            out.report(Report::Members {
                members: self.members.clone(),
            });
            self.on_members_changed(&was);
        }
    }

    /// A leader starts probing a server its configuration just added.
    fn on_members_changed(&mut self, was: &[NodeId]) {
        let last = self.last_index();
        let members = self.members.clone();
        if let Some(leader) = self.leader.as_mut() {
            for p in leader.progress.iter_mut() {
                if members.contains(&p.id) && !was.contains(&p.id) {
                    p.next = last.max(p.matched + 1).min(last + 1);
                    p.shipping = Shipping::Probe { paused: false };
                    p.recent_active = true;
                }
            }
        }
    }

    /// Thesis §4.1: the world asks the leader to add or remove one server.
    pub(crate) fn change_membership(
        &mut self,
        now: LocalTime,
        change: MembershipChange,
        out: &mut Outputs<Message, Write>,
    ) {
        if self.role != Role::Leader {
            out.mark("raft.conf_change_not_leader");
            return;
        }
        if self.config_index > self.commit_index {
            // One change at a time: the previous configuration must have committed.
            out.mark("raft.conf_change_waits_for_previous");
            return;
        }
        if !self.own_term_committed() {
            if !self.bugs.conf_change_before_term_commit {
                // raft-dev 2015: not before an entry of this leader's term has committed.
                out.mark("raft.conf_change_waits_for_term_commit");
                return;
            }
            out.mark("raft.conf_change_before_term_commit");
        }
        let node = change.node();
        let mut members = self.members.clone();
        match change {
            MembershipChange::Add(_) => {
                if node != self.id && !self.peers.contains(&node) || members.contains(&node) {
                    out.mark("raft.conf_change_nothing_to_do");
                    return;
                }
                members.push(node);
                members.sort_unstable();
            }
            MembershipChange::Remove(_) => {
                if !members.contains(&node) || members.len() == 1 {
                    out.mark("raft.conf_change_nothing_to_do");
                    return;
                }
                members.retain(|&m| m != node);
            }
        }
        out.mark("raft.conf_change_started");
        let index = self.append_own(Entry::config(self.term, members), out);
        self.refresh_membership(index, out);
        self.broadcast_append(out);
        // The quorum may have shrunk: earlier entries may commit now.
        self.maybe_commit(now, out);
        self.update_quorum_round(now, out);
    }

    /// Thesis §4.2.2: a server outside its latest configuration still starts elections
    /// while it may be needed: while it does not know that configuration committed (it
    /// may be needed to commit it), and while a candidate that asked for its vote lags
    /// behind its log (`needed_by_lagging_candidate`). A RequestVote goes only to the
    /// candidate's members, so the candidate's latest configuration, one this server has
    /// not received (a leader added it back, then fell), counts it; and a quorum of that
    /// configuration may need its vote, which the log rule (Raft §5.4.1) refuses to every
    /// candidate behind it. Then only this server can win, not counting its own vote
    /// (swarm seed 3901: removed n3 held term-64 entries, n4 had added n3 back and needed
    /// all three survivors, n2 lagged both; no leader for the last 10 s).
    pub(crate) fn may_campaign(&self) -> bool {
        self.is_member(self.id)
            || self.commit_index < self.config_index
            || self.needed_by_lagging_candidate
    }

    /// The removal committed: one last heartbeat to each server it removed carries the
    /// commit index, so that a removed server that is up knows it is out for good.
    pub(crate) fn tell_removed_servers(&mut self, out: &mut Outputs<Message, Write>) {
        for i in 0..self.peers.len() {
            let peer = self.peers[i];
            if !self.is_member(peer) && self.previous_members.binary_search(&peer).is_ok() {
                self.ship(i, true, out);
            }
        }
    }

    /// Thesis §4.2.2: a leader that is not in the configuration it committed steps down,
    /// once an entry of its own term has committed too. A server elected outside a
    /// configuration it knew committed (`needed_by_lagging_candidate`) was elected to
    /// bring its log to the others: its no-op committing replaces, on a quorum, the
    /// uncommitted entries that kept every other candidate from winning. Stepping down as
    /// it takes office would leave the logs as they were, and the cluster without a
    /// leader for good. (Otherwise the removal commits only with the no-op, Raft §5.4.2,
    /// so the two conditions are met at once.)
    pub(crate) fn step_down_if_removed(&mut self, out: &mut Outputs<Message, Write>) {
        let own_term_committed = self
            .leader
            .as_ref()
            .is_some_and(|l| self.commit_index >= l.noop_index);
        if self.role == Role::Leader
            && !self.is_member(self.id)
            && self.commit_index >= self.config_index
            && own_term_committed
        {
            out.mark("raft.removed_leader_steps_down");
            let term = self.term;
            self.become_follower(term, None, out);
        }
    }
}
