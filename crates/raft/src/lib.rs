//! Raft (Ongaro & Ousterhout 2014; Ongaro's thesis 2014) as a pure step function.
//!
//! A cluster of voters agrees on one log of client commands. Time is cut into *terms*;
//! each term has at most one leader, elected by a majority of votes. A node votes at most
//! once per term, and only for a candidate whose log is at least as up to date as its own
//! (last term, then last index), so every elected leader holds every committed entry
//! (leader completeness). The leader appends client commands to its log and replicates
//! them with AppendEntries; a follower accepts entries only after a consistency check on
//! the entry that precedes them (prevLogIndex, prevLogTerm), deletes a conflicting suffix
//! (never a matching entry), and acknowledges once the entries are durable. The leader
//! commits an index once a majority holds it *and* the entry is of its own term (thesis
//! §3.6.2, the "Figure 8" rule); to commit earlier entries promptly it appends a no-op at
//! the start of its term. Committed entries are applied, in order, to a [`protocol::Kv`].
//!
//! Around that core: randomised election timeouts (the driver draws the value from the
//! configured range); pre-vote (thesis §9.6), where a node first asks whether it *could*
//! win before it bumps its term; check-quorum (thesis §6.2), where a leader that has not
//! heard from a majority for an election timeout steps down; the vote fence (thesis
//! §4.2.3), where a node that heard from a leader within the minimum election timeout
//! ignores (pre)votes (always those of a candidate outside its configuration, a removed
//! server; of every candidate with pre-vote, check-quorum or leases); and four read
//! paths: through the log, ReadIndex (thesis §6.4), leader lease (thesis §6.4.1) and
//! local (stale) reads.
//!
//! The node performs no I/O: it asks for durable writes ([`Write`]) and sends, and learns
//! of completed writes through `Input::WriteDone`. Everything that depends on a write
//! (a vote, an AppendEntries acknowledgement, messages of a new term) leaves with
//! `Delivery::AfterWrites`, and the leader counts its own log towards a commit quorum only
//! up to the index its completed writes cover.
//!
//! Replication follows etcd's progress states: a follower whose match point is unknown
//! is probed one AppendEntries at a time (walking back a whole conflicting term per
//! rejection, and resuming after the follower's commit index once that walk has missed
//! [`PROBE_MISSES_BEFORE_COMMIT_INDEX`] times in a row), one that matched is streamed to
//! optimistically, in batches of at most [`MAX_ENTRIES_PER_MESSAGE`] and never more than
//! [`MAX_UNACKED_ENTRIES`] past its acknowledged index.
//!
//! The code is split by story: `election.rs` (timers, pre-vote, votes, check-quorum),
//! `replication.rs` (AppendEntries, commit, apply, client writes) and `reads.rs`
//! (ReadIndex, lease and local reads). This file holds the types, the [`Protocol`]
//! implementation, the dispatch on role, and the transitions every story shares.
//!
//! Membership changes one server at a time (thesis §4.1, `membership.rs`): a
//! configuration entry in the log names the voting members, takes effect on every node as
//! soon as it is appended (not when it commits), and every quorum (votes, commit,
//! heartbeat rounds, check-quorum) is a majority of the latest configuration in the log.
//! A leader starts a change only once the previous one committed and an entry of its own
//! term committed (the fix Ongaro posted to raft-dev in 2015: without it, two leaders of
//! consecutive terms can each change the same committed configuration, and the two
//! changes' majorities need not overlap).
//!
//! Snapshots and log compaction (thesis §5, `snapshot.rs`): with the option
//! `snapshot_every` a node snapshots its state machine every that many applied entries
//! (with the index, term and configuration of the last entry it covers) and drops the log
//! prefix the snapshot covers, the snapshot reaching the disk before the compaction does.
//! A follower whose next entry the leader compacted away gets `InstallSnapshot`; one that
//! already committed past a snapshot's index acknowledges it without installing it (etcd's
//! and hashicorp/raft's guard). A restarted node starts from its snapshot and the log after it.
//!
//! What this crate is not: a new server joins as a voter at once (no non-voting catch-up
//! phase, thesis §4.2.1).

mod election;
mod membership;
mod reads;
mod replication;
mod snapshot;

pub use snapshot::{Snapshot, OPTION_SNAPSHOT_EVERY};

use protocol::{
    Bug, Command, Config, ConfigError, Input, Kv, LocalTime, MessageKind, NodeId, OpId, Outputs,
    Protocol, ReadMode, Report, Role, TimerId,
};
use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// The election timer (followers, pre-candidates, candidates).
pub const TIMER_ELECTION: TimerId = TimerId(0);
/// The leader's heartbeat timer; a candidate's RequestVote retry timer.
pub const TIMER_HEARTBEAT: TimerId = TimerId(1);
/// The leader's check-quorum timer (thesis §6.2), set only with `config.check_quorum`.
pub const TIMER_CHECK_QUORUM: TimerId = TimerId(2);

/// Most entries one AppendEntries carries (a limit on message size). Kept small on
/// purpose: a follower more than a batch behind is where the commit rules are tested
/// (a batch that ends inside old-term entries: Figure 8; a batch that verifies less
/// than the leader's commit index: the follower's commit rule), and fuzzing should get
/// there without thousands of writes.
pub const MAX_ENTRIES_PER_MESSAGE: usize = 8;
/// Most entries the leader ships to one follower beyond what it acknowledged (a limit
/// on the optimistic replication window).
pub const MAX_UNACKED_ENTRIES: u64 = 8 * MAX_ENTRIES_PER_MESSAGE as u64;
/// Most heartbeat rounds whose start time the leader remembers for its lease.
const MAX_ROUNDS_REMEMBERED: usize = 4096;
/// Rejections in a row by one follower, each walking back a term by its hint, after
/// which the leader resumes after the follower's commit index instead: a few terms are
/// the common case, and the walk repairs them sending nothing twice; a deep one is a
/// log grown through many one-entry terms, which the walk would take a round trip each
/// to cross.
pub const PROBE_MISSES_BEFORE_COMMIT_INDEX: u32 = 4;

/// One log entry: the term of the leader that created it and what it carries: a client
/// command, a configuration (thesis §4.1), or neither (the leader's no-op).
///
/// The command and configuration are shared, not copied: an entry lives in the leader's
/// log, its durable image, every AppendEntries that carries it and every follower's two
/// logs, and all of them hold the one command the client sent (it never changes once
/// appended). An `Arc` hashes, compares and prints as what it points to (a shared slice
/// as the `Vec` it was made from), so digests are unchanged; and an entry is 32 bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub term: u64,
    pub command: Option<Arc<Command>>,
    /// A configuration entry: the voting members (ascending), in force on a node from the
    /// moment it holds this entry until a later configuration entry replaces it.
    pub config: Option<Arc<[NodeId]>>,
}

impl Entry {
    /// The no-op a new leader appends.
    pub fn noop(term: u64) -> Entry {
        Entry {
            term,
            command: None,
            config: None,
        }
    }
    pub fn command(term: u64, command: Command) -> Entry {
        Entry {
            term,
            command: Some(Arc::new(command)),
            config: None,
        }
    }
    /// A configuration entry naming the voting members.
    pub fn config(term: u64, members: Vec<NodeId>) -> Entry {
        debug_assert!(members.windows(2).all(|w| w[0] < w[1]), "{members:?}");
        Entry {
            term,
            command: None,
            config: Some(members.into()),
        }
    }
}

/// Hashes an entry without a configuration exactly as it hashed before entries could
/// carry one, so that message digests (and so the trace hashes of runs without
/// membership changes) stay what they were.
impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.term.hash(state);
        self.command.hash(state);
        if let Some(members) = &self.config {
            members.hash(state);
        }
    }
}

/// What a node keeps across a crash (Raft Figure 2: currentTerm, votedFor, log[]; thesis
/// §5.1: the latest snapshot). `log[0]` is the entry at index `log_start + 1`: the log
/// file starts after the compaction point (`log_start`, of term `log_start_term`), as
/// etcd's storage keeps a dummy entry for it.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Durable {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: Vec<Entry>,
    /// The index the log was compacted up to (0: never compacted).
    pub log_start: u64,
    /// The term of the entry at `log_start` (0 when it is 0).
    pub log_start_term: u64,
    /// The latest snapshot written. A correct node compacts only what a durable snapshot
    /// covers, so `log_start <= snapshot.index` (a crash between the two writes leaves the
    /// covered prefix in the log file, which the restarted node drops).
    pub snapshot: Option<Snapshot>,
}

/// One write to a durable cell. Term and vote form one cell (the "hard state"); the log is
/// another, written incrementally.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Write {
    HardState {
        term: u64,
        voted_for: Option<NodeId>,
    },
    Log(LogWrite),
    /// The state machine snapshot (replaces the previous one).
    Snapshot(Snapshot),
}

/// An incremental change to the durable log.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum LogWrite {
    /// Append `entries`, the first of which lands at `index` (the log's end).
    Append { index: u64, entries: Vec<Entry> },
    /// Delete the entry at `from` and every entry after it.
    Truncate { from: u64 },
    /// Drop every entry at or below `upto` (of term `term`), which a snapshot covers.
    Compact { upto: u64, term: u64 },
    /// Drop the whole log: it now starts after `index` (of term `term`), the point of an
    /// installed snapshot that no entry of the log matched (thesis §5.1: discard the log).
    Reset { index: u64, term: u64 },
}

/// The follower's answer to an AppendEntries.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum AppendOutcome {
    /// The log matches the leader's through `match_index` (durable before this leaves).
    Accepted { match_index: u64 },
    /// The consistency check on `prev_log_index` failed. The hint lets the leader skip a
    /// whole conflicting term at once (thesis §5.3): `hint_term` is the follower's term at
    /// `prev_log_index` (None when its log is shorter) and `hint_index` the first index the
    /// follower holds of that term (or its last index + 1). `commit_index` is the
    /// follower's: every later leader's log holds that prefix (Leader Completeness), so
    /// an AppendEntries after it always matches.
    Rejected {
        prev_log_index: u64,
        hint_index: u64,
        hint_term: Option<u64>,
        commit_index: u64,
    },
}

/// Messages between Raft nodes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Message {
    /// Thesis §9.6: "would you vote for me in `term`?" (`term` is the proposed term; the
    /// sender's own term is `term - 1` and does not change).
    PreVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    /// A granted reply carries the proposed term; a refusal the responder's own term.
    PreVoteResp {
        term: u64,
        granted: bool,
    },
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteResp {
        term: u64,
        granted: bool,
    },
    /// Replicates `entries` after (prev_log_index, prev_log_term); empty = heartbeat.
    /// `round` names the leader's heartbeat round (ReadIndex, lease) and is echoed back.
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
    },
    AppendEntriesResp {
        term: u64,
        round: u64,
        outcome: AppendOutcome,
    },
    /// Thesis §5.1: the leader's snapshot, for a follower whose next entry the leader has
    /// compacted away. Answered with an `AppendEntriesResp` (accepted through the snapshot's
    /// index, or through the follower's commit index when that is further).
    InstallSnapshot {
        term: u64,
        snapshot: Box<Snapshot>,
        round: u64,
    },
}

impl Message {
    pub fn term(&self) -> u64 {
        match self {
            Message::PreVote { term, .. }
            | Message::PreVoteResp { term, .. }
            | Message::RequestVote { term, .. }
            | Message::RequestVoteResp { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResp { term, .. }
            | Message::InstallSnapshot { term, .. } => *term,
        }
    }
}

impl MessageKind for Message {
    fn kind(&self) -> &'static str {
        match self {
            Message::PreVote { .. } => "PreVote",
            Message::PreVoteResp { .. } => "PreVoteResp",
            Message::RequestVote { .. } => "RequestVote",
            Message::RequestVoteResp { .. } => "RequestVoteResp",
            Message::AppendEntries { .. } => "AppendEntries",
            Message::AppendEntriesResp { .. } => "AppendEntriesResp",
            Message::InstallSnapshot { .. } => "InstallSnapshot",
        }
    }
}

/// The mutant switches, read once at start so the hot path tests a bool.
#[derive(Clone, Copy, Debug, Default)]
struct Bugs {
    commit_prior_term_by_count: bool,
    follower_commit_beyond_verified: bool,
    forget_vote_on_leader_discovery: bool,
    vote_not_durable: bool,
    readindex_before_term_commit: bool,
    lease_no_drift_margin: bool,
    commit_before_self_persist: bool,
    truncate_without_conflict: bool,
    prevote_reply_local_term: bool,
    no_vote_fence: bool,
    conf_change_before_term_commit: bool,
    snapshot_before_durable: bool,
    install_snapshot_regresses: bool,
    /// Any switch on: cross-node invariants (never truncate a committed entry, at most
    /// one leader per term) are no longer this node's to assert; the checkers judge them.
    any: bool,
}

impl Bugs {
    fn from_config(config: &Config) -> Bugs {
        Bugs {
            commit_prior_term_by_count: config.bug("raft.commit_prior_term_by_count"),
            follower_commit_beyond_verified: config.bug("raft.follower_commit_beyond_verified"),
            forget_vote_on_leader_discovery: config.bug("raft.forget_vote_on_leader_discovery"),
            vote_not_durable: config.bug("raft.vote_not_durable"),
            readindex_before_term_commit: config.bug("raft.readindex_before_term_commit"),
            lease_no_drift_margin: config.bug("raft.lease_no_drift_margin"),
            commit_before_self_persist: config.bug("raft.commit_before_self_persist"),
            truncate_without_conflict: config.bug("raft.truncate_without_conflict"),
            prevote_reply_local_term: config.bug("raft.prevote_reply_local_term"),
            no_vote_fence: config.bug("raft.no_vote_fence"),
            conf_change_before_term_commit: config.bug("raft.conf_change_before_term_commit"),
            snapshot_before_durable: config.bug("raft.snapshot_before_durable"),
            install_snapshot_regresses: config.bug("raft.install_snapshot_regresses"),
            any: !config.bugs.is_empty(),
        }
    }
}

/// How the leader ships entries to one follower (etcd's progress states).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shipping {
    /// The match point is unknown: one AppendEntries at a time (`paused` until an answer
    /// or the next heartbeat), walking `next` back on rejections.
    Probe { paused: bool },
    /// The follower matched: stream entries optimistically, advancing `next` as sent.
    Replicate,
    /// A snapshot up to `index` is on its way (etcd's `StateSnapshot`): nothing more is
    /// sent until an answer shows the follower at `index` or beyond, or the next heartbeat
    /// resends it (it may have been lost).
    Snapshot { index: u64 },
}

/// The leader's view of one follower.
#[derive(Clone, Debug)]
struct Progress {
    id: NodeId,
    next: u64,
    matched: u64,
    shipping: Shipping,
    /// Heard from in this check-quorum period (thesis §6.2).
    recent_active: bool,
    /// Highest heartbeat round this follower answered in the leader's term.
    acked_round: u64,
    /// Rejections in a row that walked `next` back by the follower's hint since it last
    /// matched (`handle_append_response`).
    misses: u32,
}

/// A read the leader answers without the log once its conditions hold.
#[derive(Clone, Debug)]
struct PendingRead {
    id: OpId,
    key: String,
    /// The commit index recorded for the read; valid only once `round` is non-zero.
    read_index: u64,
    /// The heartbeat round a quorum must answer; 0 while waiting for the leader's first
    /// commit in its term (thesis §6.4).
    round: u64,
}

/// Volatile state only a leader has.
#[derive(Debug)]
struct Leader {
    progress: Vec<Progress>,
    /// Index of this term's no-op: once committed, the leader's commit index is current.
    noop_index: u64,
    /// Client writes (and log reads) awaiting their entry's application, by log index.
    pending_entries: BTreeMap<u64, OpId>,
    reads: VecDeque<PendingRead>,
    /// The current heartbeat round (every AppendEntries carries it).
    round: u64,
    /// Start time (local) of each round not yet known to be quorum-acked.
    round_started: VecDeque<(u64, LocalTime)>,
    /// Highest round a quorum (self included) has answered.
    quorum_round: u64,
    /// The leader may serve lease reads while `now < lease_until` (Lease mode).
    lease_until: Option<LocalTime>,
}

/// One Raft node.
#[derive(Debug)]
pub struct Raft {
    id: NodeId,
    config: Config,
    /// Every other node of the cluster (`Config::voters`), member or not: the leader
    /// keeps a progress entry for each, and ships entries to those that are members.
    peers: Vec<NodeId>,
    /// The voting members: the latest configuration entry in the log, or the initial
    /// membership when the log holds none (thesis §4.1). Ascending.
    members: Vec<NodeId>,
    /// Index of the log entry `members` comes from (0: the initial membership).
    config_index: u64,
    /// The configuration the one at `config_index` replaced (empty for the initial one).
    previous_members: Vec<NodeId>,
    bugs: Bugs,
    /// Thesis §4.2.3 / §9.6: ignore (pre)votes while a leader is known to be alive.
    fence_active: bool,
    lease_duration: Duration,

    // Durable state, mirrored in memory (written through `Write`).
    term: u64,
    voted_for: Option<NodeId>,
    /// The entries after `offset`: `log[0]` is the entry at `offset + 1`.
    log: Vec<Entry>,
    /// The index the log is compacted up to: the latest snapshot's (0: none).
    offset: u64,
    /// The term of the entry at `offset`.
    offset_term: u64,
    /// The latest snapshot taken or installed; it covers exactly up to `offset`.
    snapshot: Option<Box<Snapshot>>,
    /// Applied entries between snapshots (`snapshot_every`; 0: never snapshot).
    snapshot_every: u64,

    // Volatile state.
    role: Role,
    reported: Option<(Role, u64)>,
    leader_hint: Option<NodeId>,
    /// When this node last heard from a leader, of this term or an earlier one (the vote
    /// fence).
    last_leader_contact: Option<LocalTime>,
    /// Outside its latest configuration, this node refused its vote to a candidate whose
    /// log is behind its own, since it last heard from a leader: a configuration it has
    /// not received counts on it, and only it may be able to win (`may_campaign`).
    needed_by_lagging_candidate: bool,
    /// Lease mode: a restarted node may have acknowledged a lease round it no longer
    /// remembers, so it grants no vote before this local time (start + the minimum
    /// election timeout).
    fenced_after_restart_until: Option<LocalTime>,
    commit_index: u64,
    last_applied: u64,
    kv: Kv,
    /// Grants received in the current (pre-)election, self included.
    votes: Vec<NodeId>,
    /// Peers that answered the current RequestVote round (granted or not); the others
    /// are asked again every heartbeat interval (Raft §5.1: RPCs are retried).
    answered: Vec<NodeId>,
    next_tag: u64,
    /// Writes issued and not yet done: (tag, log length they leave durable, for log
    /// writes; clamped by later truncations).
    writes_in_flight: VecDeque<(u64, Option<u64>)>,
    /// The prefix of the current log that is durable on this node.
    durable_index: u64,
    leader: Option<Box<Leader>>,
    scratch: Vec<u64>,
}

impl Raft {
    /// The mutants this crate can switch on.
    pub const BUGS: &'static [Bug] = &[
        Bug {
            name: "raft.commit_prior_term_by_count",
            summary: "the leader commits an entry of an earlier term once a majority holds it (ignores thesis §3.6.2, Figure 8), and, like the implementations that had this bug (canonical/raft before #336 added both), appends no no-op on election",
        },
        Bug {
            name: "raft.follower_commit_beyond_verified",
            summary: "a follower sets commitIndex = min(leaderCommit, its last index) instead of the last index this message verified",
        },
        Bug {
            name: "raft.forget_vote_on_leader_discovery",
            summary: "a node clears votedFor when it learns its term's leader, so a delayed RequestVote of that term wins a second vote",
        },
        Bug {
            name: "raft.vote_not_durable",
            summary: "a granted vote is kept in memory only and the reply leaves at once; after a restart the node votes again in the same term",
        },
        Bug {
            name: "raft.readindex_before_term_commit",
            summary: "a new leader serves ReadIndex (and lease) reads before an entry of its own term has committed",
        },
        Bug {
            name: "raft.lease_no_drift_margin",
            summary: "the leader lease lasts the full minimum election timeout, with no margin for clock drift",
        },
        Bug {
            name: "raft.commit_before_self_persist",
            summary: "the leader counts its own not-yet-durable entries toward the commit quorum, and followers acknowledge before their write completes",
        },
        Bug {
            name: "raft.truncate_without_conflict",
            summary: "a follower drops every entry after prevLogIndex before appending, even entries that match (a reordered old AppendEntries deletes acknowledged entries)",
        },
        Bug {
            name: "raft.prevote_reply_local_term",
            summary: "a granted pre-vote reply carries the responder's own term instead of the proposed term, so a pre-candidate ahead in term ignores it; and, as etcd's Step did then (etcd#8243), a pre-vote of a lower term is dropped unanswered, so the node behind never learns the term",
        },
        Bug {
            name: "raft.no_vote_fence",
            summary: "nodes that heard from a leader within the election timeout still grant (pre)votes",
        },
        Bug {
            name: "raft.conf_change_before_term_commit",
            summary: "a new leader starts a single-server membership change before an entry of its own term has committed",
        },
        Bug {
            name: "raft.snapshot_before_durable",
            summary: "a node drops the log prefix a new snapshot covers before the snapshot is durable (the compaction is written first); a crash between the two writes restarts it from the older snapshot and a log that starts after the gap, its state machine missing committed entries (the order etcd's raftexample and hashicorp/raft's snapshot store keep, snapshot then compaction; etcd#10219's WAL/snapshot crash window)",
        },
        Bug {
            name: "raft.install_snapshot_regresses",
            summary: "a follower installs a snapshot older than its commit index (a delayed or duplicated InstallSnapshot): its state machine, commit index and log go back to the snapshot, and it applies entries again (etcd's raft.restore refuses a snapshot at or below its commit index; hashicorp/raft's installSnapshot likewise)",
        },
    ];

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The leader this node believes in for its current term, if any.
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader_hint
    }
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }
    pub fn last_applied(&self) -> u64 {
        self.last_applied
    }
    /// The in-memory log after the compaction point ([`Raft::log_offset`]); it may run
    /// ahead of the durable one.
    pub fn log(&self) -> &[Entry] {
        &self.log
    }
    /// The index the log is compacted up to (`log()[0]` is the entry after it).
    pub fn log_offset(&self) -> u64 {
        self.offset
    }
    /// The latest snapshot this node took or installed.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_deref()
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    /// The replicated state machine as applied on this node.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }
    /// The voting members as this node sees them (the latest configuration in its log).
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn last_index(&self) -> u64 {
        self.offset + self.log.len() as u64
    }
    fn last_term(&self) -> u64 {
        self.log.last().map_or(self.offset_term, |e| e.term)
    }
    /// Term of the entry at `index` (0 for index 0, the snapshot's term at the compaction
    /// point); `None` beyond the log or below the compaction point.
    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.offset {
            Some(self.offset_term)
        } else if index < self.offset {
            None
        } else {
            self.log
                .get((index - self.offset) as usize - 1)
                .map(|e| e.term)
        }
    }
    /// The entry at `index`, which must be after the compaction point.
    fn entry(&self, index: u64) -> &Entry {
        debug_assert!(
            index > self.offset,
            "{}: entry {index} is compacted (offset {})",
            self.id,
            self.offset
        );
        &self.log[(index - self.offset) as usize - 1]
    }

    /// Issues a durable write and returns its tag.
    fn write(&mut self, write: Write, out: &mut Outputs<Message, Write>) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        let durable_len = match &write {
            Write::HardState { .. } | Write::Snapshot(_) | Write::Log(LogWrite::Compact { .. }) => {
                None
            }
            Write::Log(LogWrite::Append { .. }) => Some(self.last_index()),
            // After a truncation, or a reset to an installed snapshot's point, the log ends
            // at `kept`: earlier appends in flight leave at most that much durable.
            Write::Log(LogWrite::Truncate { from }) => Some(self.clamp_durable(from - 1)),
            Write::Log(LogWrite::Reset { index, .. }) => Some(self.clamp_durable(*index)),
        };
        self.writes_in_flight.push_back((tag, durable_len));
        out.write(tag, write);
        tag
    }

    fn clamp_durable(&mut self, kept: u64) -> u64 {
        for (_, len) in self.writes_in_flight.iter_mut() {
            if let Some(len) = len {
                *len = (*len).min(kept);
            }
        }
        self.durable_index = self.durable_index.min(kept);
        kept
    }

    fn persist_hard_state(&mut self, out: &mut Outputs<Message, Write>) {
        let write = Write::HardState {
            term: self.term,
            voted_for: self.voted_for,
        };
        self.write(write, out);
    }

    /// Reports the role and term if either changed since the last report.
    fn report_role(&mut self, out: &mut Outputs<Message, Write>) {
        let now = (self.role, self.term);
        if self.reported != Some(now) {
            self.reported = Some(now);
            out.report(Report::Role {
                role: self.role,
                term: self.term,
            });
        }
    }

    /// Becomes a follower of `term` (adopting it, and clearing the vote, if higher).
    /// A leader that steps down fails its pending client requests.
    fn become_follower(
        &mut self,
        term: u64,
        leader: Option<NodeId>,
        out: &mut Outputs<Message, Write>,
    ) {
        debug_assert!(term >= self.term, "term {} going back to {term}", self.term);
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.leader_hint = None;
            // `last_leader_contact` stays: the vote fence outlives the term (see
            // `vote_fenced`).
            self.persist_hard_state(out);
        }
        let was_leader = self.role == Role::Leader;
        if was_leader {
            self.step_down(out);
        } else if self.role == Role::Candidate {
            out.cancel_timer(TIMER_HEARTBEAT);
        }
        self.role = Role::Follower;
        if leader.is_some() {
            self.leader_hint = leader;
        }
        self.votes.clear();
        // Figure 2: the election timer restarts on hearing the leader or granting a vote,
        // not on merely adopting a higher term. A follower or candidate keeps the timer it
        // has: were it restarted by every stale candidate's RequestVote, the one node whose
        // log could win would never stand (two candidates behind it, alternating, kept a
        // cluster leaderless for seconds). A deposed leader has none running, so it starts one.
        if was_leader || leader.is_some() {
            self.reset_election_timer(out);
        }
        self.report_role(out);
    }

    /// Leaves leadership: fails every client request the leader still holds.
    fn step_down(&mut self, out: &mut Outputs<Message, Write>) {
        let Some(leader) = self.leader.take() else {
            return;
        };
        out.cancel_timer(TIMER_HEARTBEAT);
        out.cancel_timer(TIMER_CHECK_QUORUM);
        if self.leader_hint == Some(self.id) {
            self.leader_hint = None;
        }
        for (_, id) in leader.pending_entries {
            // The entry is in the log and may still commit under the next leader.
            out.reply(
                id,
                protocol::Reply::Error {
                    reason: "leader stepped down before the entry was applied",
                    maybe_applied: true,
                },
            );
        }
        for read in leader.reads {
            out.reply(
                read.id,
                protocol::Reply::Error {
                    reason: "leader stepped down before the read was confirmed",
                    maybe_applied: false,
                },
            );
        }
    }

    /// Handles a peer's message: the term rules every role shares (Figure 2, "Rules for
    /// Servers"), then the role's own handler.
    fn step_message(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        if !self.config.voters.contains(&from) || from == self.id {
            out.mark("raft.message_from_non_member_ignored");
            return;
        }
        let term = msg.term();
        if term > self.term {
            match &msg {
                // Thesis §9.6: a pre-vote never changes the receiver's term, and a granted
                // pre-vote reply carries the term the pre-candidate proposed.
                Message::PreVote { .. } | Message::PreVoteResp { granted: true, .. } => {}
                Message::RequestVote { .. } if self.vote_fenced(now) => {
                    // Thesis §4.2.3: a node that heard from a live leader within the
                    // minimum election timeout neither updates its term nor votes.
                    out.mark("raft.vote_fenced");
                    return;
                }
                Message::RequestVote { .. } if self.non_member_vote_fenced(now, from) => {
                    out.mark("raft.non_member_vote_fenced");
                    return;
                }
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => {
                    self.become_follower(term, Some(from), out)
                }
                _ => self.become_follower(term, None, out),
            }
        } else if term < self.term {
            match msg {
                // Figure 2: reply false with currentTerm so the stale sender learns it (a
                // stale InstallSnapshot is answered as the AppendEntries it stands for).
                Message::AppendEntries { prev_log_index, .. } => {
                    self.reject_stale_append(from, prev_log_index, out)
                }
                Message::InstallSnapshot { snapshot, .. } => {
                    self.reject_stale_append(from, snapshot.index, out)
                }
                Message::RequestVote { .. } => out.send_after_writes(
                    from,
                    Message::RequestVoteResp {
                        term: self.term,
                        granted: false,
                    },
                ),
                // etcd, when #8243 was filed, dropped every message of a lower term,
                // pre-votes included: the pre-candidate behind never learns the term.
                Message::PreVote { .. } if self.bugs.prevote_reply_local_term => {
                    out.mark("raft.prevote_from_lower_term_dropped")
                }
                Message::PreVote { .. } => {
                    out.mark("raft.prevote_rejected");
                    out.send_after_writes(
                        from,
                        Message::PreVoteResp {
                            term: self.term,
                            granted: false,
                        },
                    )
                }
                // Replies of an older term answer a question no longer asked. (With
                // raft.prevote_reply_local_term, granted pre-votes end up here.)
                Message::PreVoteResp { granted: true, .. } => {
                    out.mark("raft.prevote_grant_ignored_as_stale")
                }
                _ => {}
            }
            return;
        }
        match msg {
            Message::PreVote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_pre_vote(now, from, term, last_log_index, last_log_term, out),
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_request_vote(now, from, term, last_log_index, last_log_term, out),
            msg => match self.role {
                Role::Leader => self.step_leader(now, from, msg, out),
                Role::Candidate | Role::PreCandidate => self.step_candidate(now, from, msg, out),
                _ => self.step_follower(now, from, msg, out),
            },
        }
    }

    /// Leader: acknowledgements of replication and heartbeat rounds.
    fn step_leader(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        match msg {
            Message::AppendEntriesResp { round, outcome, .. } => {
                self.handle_append_response(now, from, round, outcome, out)
            }
            Message::AppendEntries { term, .. } | Message::InstallSnapshot { term, .. } => {
                // Election safety: two leaders of one term. Only a mutant gets here.
                assert!(
                    self.bugs.any,
                    "election safety violated: {} leads term {term} and got AppendEntries from {from}",
                    self.id
                );
                out.mark("raft.second_leader_in_term");
            }
            // Late votes for an election already won.
            _ => {}
        }
    }

    /// Pre-candidate and candidate: count grants; a leader of this term ends the election.
    fn step_candidate(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        match msg {
            Message::PreVoteResp { granted, .. } => {
                if self.role == Role::PreCandidate && granted {
                    self.count_vote(now, from, out);
                }
            }
            Message::RequestVoteResp { granted, .. } => {
                if self.role == Role::Candidate {
                    if !self.answered.contains(&from) {
                        self.answered.push(from);
                    }
                    if granted {
                        self.count_vote(now, from, out);
                    }
                }
            }
            Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => {
                // Figure 2: a candidate that hears from the leader of its term follows it.
                let term = self.term;
                self.become_follower(term, Some(from), out);
                self.step_follower(now, from, msg, out);
            }
            Message::AppendEntriesResp { .. } | Message::PreVote { .. } => {}
            Message::RequestVote { .. } => {}
        }
    }

    /// Follower: replication from the leader.
    fn step_follower(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        match msg {
            Message::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
                ..
            } => self.handle_append_entries(
                now,
                from,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
                out,
            ),
            Message::InstallSnapshot {
                snapshot, round, ..
            } => self.handle_install_snapshot(now, from, *snapshot, round, out),
            _ => {}
        }
    }

    fn handle_client(
        &mut self,
        now: LocalTime,
        command: Command,
        out: &mut Outputs<Message, Write>,
    ) {
        if command.op.is_read() && self.config.read_mode != ReadMode::Log {
            self.client_read(now, command, out);
        } else if self.role == Role::Leader {
            self.client_append(now, command, out);
        } else {
            out.reply(
                command.id,
                protocol::Reply::NotLeader {
                    hint: self.leader_hint,
                },
            );
        }
    }

    fn handle_write_done(&mut self, now: LocalTime, tag: u64, out: &mut Outputs<Message, Write>) {
        let mut durable = None;
        while let Some(&(t, len)) = self.writes_in_flight.front() {
            if t > tag {
                break;
            }
            self.writes_in_flight.pop_front();
            if len.is_some() {
                durable = len;
            }
        }
        if let Some(len) = durable {
            debug_assert!(len <= self.last_index());
            self.durable_index = len;
            if self.role == Role::Leader {
                self.maybe_commit(now, out);
            }
        }
        self.maybe_win_alone(now, out);
    }

    /// Invariants that hold after every step (TigerBeetle style: the second line of
    /// defence). Mutants that break them on purpose relax only the ones they break.
    fn check_invariants(&self) {
        if !self.bugs.any {
            debug_assert!(
                self.last_applied <= self.commit_index && self.commit_index <= self.last_index(),
                "{}: applied {} <= committed {} <= last {} violated",
                self.id,
                self.last_applied,
                self.commit_index,
                self.last_index()
            );
        }
        debug_assert!(self.durable_index <= self.last_index());
        debug_assert!(
            self.snapshot.as_ref().map_or(0, |s| s.index) == self.offset,
            "{}: the log is compacted to {} but the snapshot covers {:?}",
            self.id,
            self.offset,
            self.snapshot.as_ref().map(|s| s.index)
        );
        debug_assert!(!self.members.is_empty(), "{}: no members", self.id);
        debug_assert!(
            self.config_index <= self.offset
                || self.entry(self.config_index).config.as_deref() == Some(&self.members[..]),
            "{}: members {:?} are not the configuration entry at {}",
            self.id,
            self.members,
            self.config_index
        );
        debug_assert!(
            self.role != Role::Leader || self.voted_for == Some(self.id),
            "{} leads term {} without having voted for itself ({:?})",
            self.id,
            self.term,
            self.voted_for
        );
        debug_assert!(
            self.last_term() <= self.term,
            "{}: last log term {} is ahead of current term {}",
            self.id,
            self.last_term(),
            self.term
        );
    }
}

impl Raft {
    /// Refuses an AppendEntries (or InstallSnapshot) of a lower term, at `prev_log_index`,
    /// with this node's term, so that the stale leader learns it was deposed.
    fn reject_stale_append(
        &self,
        from: NodeId,
        prev_log_index: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        out.send_after_writes(
            from,
            Message::AppendEntriesResp {
                term: self.term,
                round: 0,
                outcome: AppendOutcome::Rejected {
                    prev_log_index,
                    hint_index: self.last_index() + 1,
                    hint_term: None,
                    commit_index: self.commit_index,
                },
            },
        );
    }
}

impl Protocol for Raft {
    type Message = Message;
    type Durable = Durable;
    type Write = Write;

    const NAME: &'static str = "raft";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = Raft::BUGS;
    const READ_MODES: &'static [ReadMode] = &[
        ReadMode::Log,
        ReadMode::ReadIndex,
        ReadMode::Lease,
        ReadMode::Local,
    ];
    const SUPPORTS_MEMBERSHIP: bool = true;
    const SWITCHES: &'static [&'static str] = &["pre_vote", "check_quorum", "backtrack"];
    /// Every coverage mark `out.mark(..)` can report (`sim fuzz --marks` lists them;
    /// tests/marks.rs checks this list against the crate's source).
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "PreVote",
        "PreVoteResp",
        "RequestVote",
        "RequestVoteResp",
        "AppendEntries",
        "AppendEntriesResp",
        "InstallSnapshot",
    ];
    const WRITE_KINDS: &'static [&'static str] = &[
        "hard_state",
        "append",
        "truncate",
        "compact",
        "reset",
        "snapshot",
    ];
    const MARKS: &'static [&'static str] = &[
        "raft.append_rejected_conflict",
        "raft.committed_entry_truncated",
        "raft.committed_prior_term_by_count",
        "raft.conf_change_before_term_commit",
        "raft.conf_change_not_leader",
        "raft.conf_change_nothing_to_do",
        "raft.conf_change_started",
        "raft.conf_change_waits_for_previous",
        "raft.conf_change_waits_for_term_commit",
        "raft.conf_entry_truncated",
        "raft.conflict_truncated",
        "raft.leader_backtracks",
        "raft.leader_stepdown_check_quorum",
        "raft.lease_read_fell_back_to_read_index",
        "raft.message_from_non_member_ignored",
        "raft.no_noop_on_election",
        "raft.non_member_campaigns_for_a_lagging_candidate",
        "raft.non_member_campaigns_until_its_removal_commits",
        "raft.non_member_does_not_campaign",
        "raft.non_member_forgets_silent_leader",
        "raft.non_member_needed_by_lagging_candidate",
        "raft.non_member_vote_fenced",
        "raft.prevote_fenced",
        "raft.prevote_from_lower_term_dropped",
        "raft.prevote_grant_ignored_as_stale",
        "raft.prevote_rejected",
        "raft.prior_term_entry_not_committed_by_count",
        "raft.read_index_waits_for_term_commit",
        "raft.removed_leader_steps_down",
        "raft.second_leader_in_term",
        "raft.sole_voter_waits_for_its_vote_to_be_durable",
        "raft.truncated_without_conflict",
        "raft.unknown_timer_ignored",
        "raft.vote_fenced",
        "raft.vote_fenced_in_term",
        "raft.vote_forgotten_on_leader_discovery",
        "raft.vote_from_non_member_not_counted",
        "raft.append_below_snapshot",
        "raft.bug.snapshot_before_durable",
        "raft.bug.stale_snapshot_installed",
        "raft.restart_finishes_compaction",
        "raft.restart_from_snapshot",
        "raft.restart_with_log_gap",
        "raft.snapshot_installed",
        "raft.snapshot_installed_keeps_log_suffix",
        "raft.snapshot_sent",
        "raft.snapshot_taken",
        "raft.stale_snapshot_ignored",
    ];
    const NEVER_WHEN_CORRECT: &'static [&'static str] = &[
        // Only a mutant takes these paths.
        "raft.committed_prior_term_by_count",
        "raft.conf_change_before_term_commit",
        "raft.no_noop_on_election",
        "raft.prevote_from_lower_term_dropped",
        "raft.truncated_without_conflict",
        "raft.vote_forgotten_on_leader_discovery",
        // Invariants broken: each asserts unless a mutant is on.
        "raft.committed_entry_truncated",
        "raft.restart_with_log_gap",
        "raft.second_leader_in_term",
        // Inputs no driver gives: a message from outside the servers, or from itself; a
        // timer the protocol never set.
        "raft.message_from_non_member_ignored",
        "raft.unknown_timer_ignored",
    ];
    const OPTIONS: &'static [protocol::OptionSpec] = &[OPTION_SNAPSHOT_EVERY];

    /// The vote fence holds with pre-vote, check-quorum or lease reads (`fence_active`,
    /// thesis §4.2.3, §9.6); without them a node that lost touch with the leader may win
    /// votes from nodes that still hear it, as Raft §5.2 allows. (A candidate outside the
    /// voter's configuration is fenced whatever the options, `non_member_vote_fenced`,
    /// but no member is, so nothing is promised.)
    fn fence(config: &Config) -> protocol::Fence {
        if config.pre_vote || config.check_quorum || config.read_mode == ReadMode::Lease {
            protocol::Fence::Votes
        } else {
            protocol::Fence::None
        }
    }

    /// Only the leader's AppendEntries and InstallSnapshot tell a follower that a leader
    /// is alive (`last_leader_contact`).
    fn fence_signal(&self, _from: NodeId, msg: &Message) -> protocol::FenceSignal {
        match msg {
            Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => {
                protocol::FenceSignal::Renews
            }
            _ => protocol::FenceSignal::None,
        }
    }

    fn check_config(config: &Config) -> Result<(), ConfigError> {
        protocol::check_common(Self::NAME, Self::BUGS, Self::READ_MODES, config)?;
        protocol::check_options(Self::NAME, Self::OPTIONS, config)?;
        if !config.observers.is_empty() {
            return Err(ConfigError {
                field: "nodes.observers".into(),
                message: "raft has no non-voting members; remove the observers".into(),
            });
        }
        protocol::check_clock_drift_bound(config)
    }

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Durable,
        now: LocalTime,
        out: &mut Outputs<Message, Write>,
    ) -> Raft {
        let bugs = Bugs::from_config(config);
        let lease_duration = if bugs.lease_no_drift_margin {
            config.election_timeout.0
        } else {
            protocol::lease_duration(config)
        };
        let mut raft = Raft {
            id,
            peers: config.voters.iter().copied().filter(|&p| p != id).collect(),
            members: config.initial_members(),
            config_index: 0,
            previous_members: Vec::new(),
            bugs,
            fence_active: config.pre_vote
                || config.check_quorum
                || config.read_mode == ReadMode::Lease,
            lease_duration,
            config: config.clone(),
            term: durable.term,
            voted_for: durable.voted_for,
            log: durable.log.clone(),
            offset: durable.log_start,
            offset_term: durable.log_start_term,
            snapshot: None,
            snapshot_every: config.option_count(&OPTION_SNAPSHOT_EVERY),
            role: Role::Follower,
            reported: None,
            leader_hint: None,
            last_leader_contact: None,
            needed_by_lagging_candidate: false,
            fenced_after_restart_until: (config.read_mode == ReadMode::Lease)
                .then(|| now + config.election_timeout.0),
            commit_index: 0,
            last_applied: 0,
            kv: Kv::default(),
            votes: Vec::new(),
            answered: Vec::new(),
            next_tag: 0,
            writes_in_flight: VecDeque::new(),
            durable_index: durable.log_start + durable.log.len() as u64,
            leader: None,
            scratch: Vec::new(),
        };
        raft.recover_snapshot(durable, out);
        raft.report_role(out);
        raft.refresh_membership(0, out);
        // Every node keeps an election timer; one that is not a member lets it run out
        // without campaigning, and stands once a configuration entry adds it.
        raft.reset_election_timer(out);
        raft.check_invariants();
        raft
    }

    fn step(&mut self, now: LocalTime, input: Input<Message>, out: &mut Outputs<Message, Write>) {
        match input {
            Input::Message { from, msg } => self.step_message(now, from, msg, out),
            Input::Timer(timer) => self.handle_timer(now, timer, out),
            Input::Client(command) => self.handle_client(now, command, out),
            Input::WriteDone { tag } => self.handle_write_done(now, tag, out),
            Input::ChangeMembership(change) => self.change_membership(now, change, out),
            // Raft tolerates message loss; a reset connection needs no action.
            Input::Disconnected { .. } => {}
        }
        self.step_down_if_removed(out);
        self.check_invariants();
    }

    fn persist(durable: &mut Durable, write: &Write) {
        match write {
            Write::HardState { term, voted_for } => {
                assert!(
                    *term >= durable.term,
                    "durable term going back from {} to {term}",
                    durable.term
                );
                durable.term = *term;
                durable.voted_for = *voted_for;
            }
            Write::Log(LogWrite::Append { index, entries }) => {
                assert_eq!(
                    *index,
                    durable.log_start + durable.log.len() as u64 + 1,
                    "log append at {index} does not land at the durable log's end ({} entries after {})",
                    durable.log.len(),
                    durable.log_start
                );
                durable.log.extend(entries.iter().cloned());
            }
            Write::Log(LogWrite::Truncate { from }) => {
                assert!(
                    *from > durable.log_start
                        && *from <= durable.log_start + durable.log.len() as u64 + 1,
                    "truncate from {from} outside the durable log of {} entries after {}",
                    durable.log.len(),
                    durable.log_start
                );
                durable
                    .log
                    .truncate((*from - durable.log_start) as usize - 1);
            }
            Write::Log(LogWrite::Compact { upto, term }) => {
                if *upto > durable.log_start {
                    let dropped = ((*upto - durable.log_start) as usize).min(durable.log.len());
                    durable.log.drain(..dropped);
                    durable.log_start = *upto;
                    durable.log_start_term = *term;
                }
            }
            Write::Log(LogWrite::Reset { index, term }) => {
                durable.log.clear();
                durable.log_start = *index;
                durable.log_start_term = *term;
            }
            Write::Snapshot(snapshot) => durable.snapshot = Some(snapshot.clone()),
        }
    }

    fn write_kind(write: &Write) -> &'static str {
        match write {
            Write::HardState { .. } => "hard_state",
            Write::Log(LogWrite::Append { .. }) => "append",
            Write::Log(LogWrite::Truncate { .. }) => "truncate",
            Write::Log(LogWrite::Compact { .. }) => "compact",
            Write::Log(LogWrite::Reset { .. }) => "reset",
            Write::Snapshot(_) => "snapshot",
        }
    }

    fn role(&self) -> (Role, u64) {
        (self.role, self.term)
    }

    const VOTE_RULE: &'static str = "a voter grants its vote only to a candidate whose last entry is of a later term, or of the same term and at least as far, Raft §5.4.1";

    fn last_entry(&self) -> Option<(u64, u64)> {
        Some((self.last_term(), self.last_index()))
    }

    fn durable_last_entry(durable: &Durable) -> Option<(u64, u64)> {
        Some(snapshot::restarted_last_entry(durable))
    }

    fn durable_members(config: &Config, durable: &Durable) -> Vec<NodeId> {
        snapshot::restarted_members(config, durable)
    }

    /// A term and vote, or an append without a configuration entry, leave a restart's
    /// configuration as it was; a truncation, a compaction or a snapshot may not.
    fn moves_members(write: &Write) -> bool {
        match write {
            Write::HardState { .. } => false,
            Write::Log(LogWrite::Append { entries, .. }) => {
                entries.iter().any(|e| e.config.is_some())
            }
            Write::Log(_) | Write::Snapshot(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_bug_switches_exactly_one_behaviour_and_every_switch_is_listed() {
        let flags = |b: &Bugs| -> Vec<bool> {
            vec![
                b.commit_prior_term_by_count,
                b.follower_commit_beyond_verified,
                b.forget_vote_on_leader_discovery,
                b.vote_not_durable,
                b.readindex_before_term_commit,
                b.lease_no_drift_margin,
                b.commit_before_self_persist,
                b.truncate_without_conflict,
                b.prevote_reply_local_term,
                b.no_vote_fence,
                b.conf_change_before_term_commit,
                b.snapshot_before_durable,
                b.install_snapshot_regresses,
            ]
        };
        let mut seen = vec![false; flags(&Bugs::default()).len()];
        for bug in Raft::BUGS {
            let mut config = Config::new(vec![NodeId(1)]);
            config.bugs.insert(bug.name.to_string());
            assert!(Raft::check_config(&config).is_ok(), "{}", bug.name);
            let b = Bugs::from_config(&config);
            assert!(b.any);
            let on: Vec<usize> = (0..seen.len()).filter(|&i| flags(&b)[i]).collect();
            assert_eq!(on.len(), 1, "{} switches {on:?}", bug.name);
            seen[on[0]] = true;
        }
        assert!(seen.iter().all(|&s| s), "a switch no BUGS entry turns on");
    }
}
