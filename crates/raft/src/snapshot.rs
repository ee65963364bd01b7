//! Snapshots and log compaction (Ongaro's thesis, chapter 5).
//!
//! Every `snapshot_every` applied entries a node snapshots its state machine: the key-value
//! state, the index and term of the last entry the snapshot covers, and the configuration in
//! force there (thesis §5.1: the snapshot must carry the latest configuration, since the
//! entries that held it are about to go). It then drops that prefix of its log. On disk the
//! order matters: the snapshot is written first and the compaction after it, and a node's
//! writes complete in the order issued, so the log file never loses an entry that no
//! durable snapshot covers (the `raft.snapshot_before_durable` mutant writes the two the
//! other way round). A crash between the two writes leaves a log file that still holds the
//! covered prefix; the restarted node drops it and finishes the compaction.
//!
//! A leader whose next entry for a follower is compacted sends its snapshot instead
//! (`InstallSnapshot`, thesis §5.1 Figure 5.3). The follower:
//! - ignores a snapshot at or below its commit index, answering with its commit index
//!   (etcd's `raft.restore` returns false for `index <= committed`; hashicorp/raft likewise
//!   refuses to go back): installing it would move its state machine back in time;
//! - keeps the entries after the snapshot when its log holds the snapshot's last entry
//!   (same index and term), and otherwise discards the whole log;
//! - takes the snapshot's state machine, commit index and configuration.
//!
//! The answer is an ordinary `AppendEntriesResp` accepting through the snapshot's index, so
//! the leader's progress tracking needs nothing new.

use crate::{AppendOutcome, Durable, Entry, LogWrite, Message, Outputs, Raft, Shipping, Write};
use protocol::{Config, Kv, LocalTime, NodeId, OptionKind, OptionSpec, OptionValue};

/// The options only Raft has (`[options.raft]` in a scenario).
pub const OPTION_SNAPSHOT_EVERY: OptionSpec = OptionSpec {
    name: "snapshot_every",
    kind: OptionKind::Count,
    // As deployments run (etcd and ZooKeeper snapshot every 100,000 by default; fewer here,
    // where a long run's memory is the point): a node's log is bounded by its
    // configuration, not by the run's length. No shipped scenario applies this many
    // entries, so their runs and trace hashes are what they were with snapshots off.
    default: OptionValue::Count(10_000),
    summary: "every this many applied entries a node snapshots its state machine and drops the log prefix the snapshot covers (0: never)",
};

/// A snapshot of the replicated state machine (thesis §5.1).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Snapshot {
    /// The last entry it covers, and that entry's term.
    pub index: u64,
    pub term: u64,
    /// The configuration in force at `index`: the index of its entry (0: the initial
    /// membership), its members, and the configuration that one replaced.
    pub config_index: u64,
    pub members: Vec<NodeId>,
    pub previous_members: Vec<NodeId>,
    /// The state machine after applying every entry through `index`.
    pub kv: Kv,
}

/// Whether the durable log holds the last entry `s` covers (when the snapshot reaches past
/// the log's start): a restart then keeps the log after it, and otherwise drops the log.
fn log_holds_snapshot_point(durable: &Durable, s: &Snapshot) -> bool {
    s.index
        .checked_sub(durable.log_start + 1)
        .and_then(|at| durable.log.get(at as usize))
        .is_some_and(|e| e.term == s.term)
}

/// The log a node restarted from `durable` keeps, and the snapshot it restores
/// (`recover_snapshot`): a snapshot reaching past the log's start drops the prefix it
/// covers, or the whole log when the log does not hold its last entry.
fn restarted_log(durable: &Durable) -> (&[Entry], Option<&Snapshot>) {
    match &durable.snapshot {
        Some(s) if s.index >= durable.log_start => {
            let at = (s.index - durable.log_start) as usize;
            let kept = if at == 0 {
                &durable.log[..]
            } else if log_holds_snapshot_point(durable, s) {
                &durable.log[at..]
            } else {
                &[]
            };
            (kept, Some(s))
        }
        _ => (&durable.log[..], None),
    }
}

/// The term and index of the last entry of the log a node restarted from `durable` holds.
pub(crate) fn restarted_last_entry(durable: &Durable) -> (u64, u64) {
    let (kept, snapshot) = restarted_log(durable);
    let (term, index) = snapshot.map_or((durable.log_start_term, durable.log_start), |s| {
        (s.term, s.index)
    });
    (
        kept.last().map_or(term, |e| e.term),
        index + kept.len() as u64,
    )
}

/// The members of the configuration a node restarted from `durable` is in
/// (`refresh_membership` after `recover_snapshot`): its log's latest configuration entry,
/// else its snapshot's, else the initial membership.
pub(crate) fn restarted_members(config: &Config, durable: &Durable) -> Vec<NodeId> {
    let (kept, snapshot) = restarted_log(durable);
    match kept.iter().rev().find_map(|e| e.config.as_deref()) {
        Some(members) => members.to_vec(),
        None => snapshot.map_or_else(|| config.initial_members(), |s| s.members.clone()),
    }
}

impl Raft {
    /// The configuration in force at the compaction point: the snapshot's, or the initial
    /// membership. Returns (config_index, members, previous members).
    pub(crate) fn base_config(&self) -> (u64, Vec<NodeId>, Vec<NodeId>) {
        match &self.snapshot {
            Some(s) => (
                s.config_index,
                s.members.clone(),
                s.previous_members.clone(),
            ),
            None => (0, self.config.initial_members(), Vec::new()),
        }
    }

    /// The members of the configuration entry at `i` (kept in the log), and those of the
    /// configuration it replaced: the entry before it, else the snapshot's (the initial
    /// membership before any compaction).
    pub(crate) fn config_entry(&self, i: u64) -> (Vec<NodeId>, Vec<NodeId>) {
        let members_at = |j: u64| {
            self.entry(j)
                .config
                .as_deref()
                .expect("a configuration entry")
                .to_vec()
        };
        let previous = match (self.offset + 1..i)
            .rev()
            .find(|&j| self.entry(j).config.is_some())
        {
            Some(j) => members_at(j),
            None if self.offset == 0 => self.config.initial_members(),
            None => self.base_config().1,
        };
        (members_at(i), previous)
    }

    /// The configuration in force at `index` (at or after the compaction point): the last
    /// configuration entry at or below it, else the snapshot's.
    fn config_at(&self, index: u64) -> (u64, Vec<NodeId>, Vec<NodeId>) {
        if self.config_index <= index {
            return (
                self.config_index,
                self.members.clone(),
                self.previous_members.clone(),
            );
        }
        let found = (self.offset + 1..=index)
            .rev()
            .find(|&i| self.entry(i).config.is_some());
        let Some(i) = found else {
            return self.base_config();
        };
        let (members, previous) = self.config_entry(i);
        (i, members, previous)
    }

    /// After applying: snapshot once `snapshot_every` entries were applied since the last
    /// snapshot.
    pub(crate) fn maybe_snapshot(&mut self, out: &mut Outputs<Message, Write>) {
        if self.snapshot_every == 0
            || self.last_applied < self.offset.saturating_add(self.snapshot_every)
        {
            return;
        }
        let index = self.last_applied;
        debug_assert!(index <= self.commit_index && index > self.offset);
        let term = self.entry(index).term;
        let (config_index, members, previous_members) = self.config_at(index);
        let snapshot = Snapshot {
            index,
            term,
            config_index,
            members,
            previous_members,
            kv: self.kv.clone(),
        };
        out.mark("raft.snapshot_taken");
        self.log.drain(..(index - self.offset) as usize);
        self.offset = index;
        self.offset_term = term;
        self.snapshot = Some(Box::new(snapshot.clone()));
        let compact = Write::Log(LogWrite::Compact { upto: index, term });
        if self.bugs.snapshot_before_durable {
            // The compaction reaches the disk first: a crash before the snapshot's write
            // completes leaves neither the entries nor a snapshot that covers them.
            out.mark("raft.bug.snapshot_before_durable");
            self.write(compact, out);
            self.write(Write::Snapshot(snapshot), out);
        } else {
            // Thesis §5.1 / PML §5.5: the snapshot is durable before the log it covers
            // goes (writes complete in the order issued).
            self.write(Write::Snapshot(snapshot), out);
            self.write(compact, out);
        }
    }

    /// The leader sends its snapshot to follower `index` (in `progress`), whose next entry
    /// it compacted, and waits for the answer (or the next heartbeat) before sending more.
    pub(crate) fn send_snapshot(&mut self, index: usize, out: &mut Outputs<Message, Write>) {
        let snapshot = self
            .snapshot
            .clone()
            .expect("a compacted log has a snapshot");
        let term = self.term;
        let leader = self.leader.as_mut().expect("only a leader sends snapshots");
        let p = &mut leader.progress[index];
        debug_assert!(p.next <= snapshot.index);
        p.shipping = Shipping::Snapshot {
            index: snapshot.index,
        };
        out.mark("raft.snapshot_sent");
        out.send(
            p.id,
            Message::InstallSnapshot {
                term,
                snapshot,
                round: leader.round,
            },
        );
    }

    /// Thesis §5.1, InstallSnapshot receiver (the term rules already ran: the sender is the
    /// leader of our term).
    pub(crate) fn handle_install_snapshot(
        &mut self,
        now: LocalTime,
        from: NodeId,
        snapshot: crate::Snapshot,
        round: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        self.leader_hint = Some(from);
        self.last_leader_contact = Some(now);
        self.needed_by_lagging_candidate = false;
        self.reset_election_timer(out);
        let match_index = if snapshot.index <= self.commit_index
            && !(self.bugs.install_snapshot_regresses && snapshot.index < self.commit_index)
        {
            // Everything it covers is already committed here: installing it would take the
            // state machine back (etcd raft.restore: `index <= committed`).
            out.mark("raft.stale_snapshot_ignored");
            self.commit_index
        } else {
            if snapshot.index < self.commit_index {
                out.mark("raft.bug.stale_snapshot_installed");
            }
            let index = snapshot.index;
            self.install_snapshot(snapshot, out);
            index
        };
        out.send_after_writes(
            from,
            Message::AppendEntriesResp {
                term: self.term,
                round,
                outcome: AppendOutcome::Accepted { match_index },
            },
        );
    }

    /// Takes `snapshot` as this node's state: the state machine, the commit point, the
    /// configuration, and the log after it if the log holds the snapshot's last entry.
    fn install_snapshot(&mut self, snapshot: Snapshot, out: &mut Outputs<Message, Write>) {
        out.mark("raft.snapshot_installed");
        let (index, term) = (snapshot.index, snapshot.term);
        let keeps_suffix = index >= self.offset && self.term_at(index) == Some(term);
        let log_write = if keeps_suffix {
            // Figure 5.3 step 6: the entries after the snapshot stay.
            out.mark("raft.snapshot_installed_keeps_log_suffix");
            self.log.drain(..(index - self.offset) as usize);
            LogWrite::Compact { upto: index, term }
        } else {
            // Step 7: discard the entire log.
            self.log.clear();
            LogWrite::Reset { index, term }
        };
        self.offset = index;
        self.offset_term = term;
        self.kv = snapshot.kv.clone();
        self.commit_index = index;
        self.last_applied = index;
        self.snapshot = Some(Box::new(snapshot.clone()));
        self.write(Write::Snapshot(snapshot), out);
        self.write(Write::Log(log_write), out);
        // The configuration may come from the snapshot, or from an entry kept after it.
        self.refresh_membership(0, out);
    }

    /// At start: the state machine from the durable snapshot, the log after it.
    pub(crate) fn recover_snapshot(
        &mut self,
        durable: &Durable,
        out: &mut Outputs<Message, Write>,
    ) {
        match &durable.snapshot {
            Some(s) if s.index >= durable.log_start => {
                out.mark("raft.restart_from_snapshot");
                if s.index > durable.log_start {
                    // A crash fell between the snapshot's write and the compaction: the
                    // log file still holds the prefix the snapshot covers.
                    out.mark("raft.restart_finishes_compaction");
                    // Keep the log after the snapshot only if the log holds the
                    // snapshot's last entry (a crash can also fall between installing a
                    // snapshot and resetting a log that does not match it).
                    let write = if log_holds_snapshot_point(durable, s) {
                        self.log.drain(..(s.index - durable.log_start) as usize);
                        LogWrite::Compact {
                            upto: s.index,
                            term: s.term,
                        }
                    } else {
                        self.log.clear();
                        LogWrite::Reset {
                            index: s.index,
                            term: s.term,
                        }
                    };
                    self.write(Write::Log(write), out);
                }
                self.offset = s.index;
                self.offset_term = s.term;
                self.durable_index = self.last_index();
                self.kv = s.kv.clone();
                self.snapshot = Some(Box::new(s.clone()));
            }
            None if durable.log_start == 0 => {}
            older => {
                // The log file was compacted past every durable snapshot: only
                // `raft.snapshot_before_durable` gets here. The node cannot know what the
                // gap held; like a server that replays its log onto its last snapshot, it
                // carries on from the log with a state machine missing the gap's entries.
                assert!(
                    self.bugs.any,
                    "{}: the log starts after {} but the durable snapshot covers only {:?}",
                    self.id,
                    durable.log_start,
                    older.as_ref().map(|s| s.index)
                );
                out.mark("raft.restart_with_log_gap");
                let (config_index, members, previous_members, kv) = match older {
                    Some(s) => (
                        s.config_index,
                        s.members.clone(),
                        s.previous_members.clone(),
                        s.kv.clone(),
                    ),
                    None => (0, self.config.initial_members(), Vec::new(), Kv::default()),
                };
                self.kv = kv.clone();
                self.snapshot = Some(Box::new(Snapshot {
                    index: durable.log_start,
                    term: durable.log_start_term,
                    config_index,
                    members,
                    previous_members,
                    kv,
                }));
            }
        }
        self.commit_index = self.offset;
        self.last_applied = self.offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::testkit::{config, n};
    use protocol::{Outputs, Protocol};

    /// A snapshot through `index` (of `term`) whose configuration is `members`.
    fn snapshot(index: u64, term: u64, members: &[u32]) -> Snapshot {
        Snapshot {
            index,
            term,
            config_index: index,
            members: members.iter().map(|&m| n(m)).collect(),
            previous_members: Vec::new(),
            kv: Kv::default(),
        }
    }

    /// What the leader-completeness check reads off a crashed node's durable image is
    /// what the node restarted from it holds: the same last entry and the same members,
    /// for every way a restart treats its snapshot and log.
    #[test]
    fn a_durable_images_standing_is_the_restarted_nodes() {
        let cfg = config(5);
        let conf =
            |term, members: &[u32]| Entry::config(term, members.iter().map(|&m| n(m)).collect());
        let log = vec![
            Entry::noop(2),
            conf(2, &[1, 2, 3, 4]),
            Entry::noop(3),
            Entry::noop(3),
        ];
        let images = [
            // No snapshot: the log as written, its configuration entry in force.
            Durable {
                log: log.clone(),
                ..Durable::default()
            },
            // Nothing at all: the initial membership.
            Durable::default(),
            // Compacted to the snapshot's point: the snapshot's members until a log entry.
            Durable {
                log: vec![Entry::noop(3)],
                log_start: 6,
                log_start_term: 3,
                snapshot: Some(snapshot(6, 3, &[1, 2, 3])),
                ..Durable::default()
            },
            Durable {
                log: Vec::new(),
                log_start: 6,
                log_start_term: 3,
                snapshot: Some(snapshot(6, 3, &[1, 2, 3])),
                ..Durable::default()
            },
            // A crash between the snapshot and the compaction, the log holding the
            // snapshot's point: the prefix goes, its configuration entry with it.
            Durable {
                log: log.clone(),
                snapshot: Some(snapshot(2, 2, &[1, 2, 3, 4, 5])),
                ..Durable::default()
            },
            Durable {
                log: log.clone(),
                snapshot: Some(snapshot(3, 3, &[2, 3, 4])),
                ..Durable::default()
            },
            // ... and not holding it (an installed snapshot the log does not match): the
            // whole log goes, and the node ends at the snapshot's point, below its log's end.
            Durable {
                log: log.clone(),
                snapshot: Some(snapshot(3, 4, &[1, 2, 3])),
                ..Durable::default()
            },
            Durable {
                log: log.clone(),
                snapshot: Some(snapshot(9, 5, &[1, 3, 5])),
                ..Durable::default()
            },
        ];
        let mut ends = Vec::new();
        for (i, durable) in images.iter().enumerate() {
            let durable = &Durable {
                term: 5,
                ..durable.clone()
            };
            let mut out = Outputs::new();
            let node = Raft::start(n(1), &cfg, durable, LocalTime(0), &mut out);
            let expected = (node.last_term(), node.last_index());
            assert_eq!(restarted_last_entry(durable), expected, "image {i}");
            assert_eq!(
                Raft::durable_last_entry(durable),
                Some(expected),
                "image {i}"
            );
            assert_eq!(
                restarted_members(&cfg, durable),
                node.members(),
                "image {i}"
            );
            ends.push((expected, node.members().len()));
        }
        // Each image is a case of its own, not the same one seen eight times.
        assert_eq!(
            ends,
            [
                ((3, 4), 4),
                ((0, 0), 5),
                ((3, 7), 3),
                ((3, 6), 3),
                ((3, 4), 5),
                ((3, 4), 3),
                ((4, 3), 3),
                ((5, 9), 3)
            ]
        );
    }
}
