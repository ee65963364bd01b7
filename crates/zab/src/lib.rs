//! ZAB, ZooKeeper's atomic broadcast, as a pure step function.
//!
//! ZAB (Junqueira, Reed, Serafini, DSN 2011; Medeiros 2012) orders state changes through a
//! single primary. Every transaction carries a *zxid* = `epoch << 32 | counter`: the epoch
//! names the leader that proposed it, the counter its place in that leader's stream. A node
//! moves through four phases, and this crate keeps one story per file:
//!
//! 1. **Fast Leader Election** (`election.rs`, ZooKeeper's `FastLeaderElection`). A LOOKING
//!    peer votes for itself with `(currentEpoch, lastZxid, sid)` and adopts any larger vote
//!    it hears, in that order. Notifications carry the sender's election round (a logical
//!    clock); a higher round resets the tally. A peer that sees a quorum agree on its vote
//!    waits a short *finalize* interval for a better vote, then becomes LEADING or
//!    FOLLOWING. A peer that hears a quorum of FOLLOWING/LEADING peers name a leader that
//!    itself says LEADING joins it directly (the "out of election" rule).
//! 2. **Discovery** (`sync.rs`, `Leader.getEpochToPropose` / `Learner.registerWithLeader`).
//!    Learners send FOLLOWERINFO with their acceptedEpoch; once a quorum answered, the leader
//!    picks `newEpoch = max + 1` and sends LEADERINFO. A follower accepts only a newEpoch
//!    greater than its acceptedEpoch, persists it, and answers ACKEPOCH with its
//!    currentEpoch and last zxid (an equal epoch — a reconnection to the same leader — is
//!    answered without acking, as ZooKeeper does).
//! 3. **Synchronisation** (`sync.rs`, `LearnerHandler.syncFollower`). The leader brings each
//!    learner to its own history with DIFF (the learner's last zxid is in the leader's log),
//!    TRUNC (the learner holds txns the leader does not have; then the missing tail) or SNAP
//!    (the learner is too far behind: more than a third of the leader's log would be sent,
//!    our stand-in for ZooKeeper's `snapshotSizeFactor` = 0.33), then NEWLEADER. The
//!    learner persists the synced txns, *then* writes currentEpoch, *then* ACKs NEWLEADER.
//!    A quorum of NEWLEADER acks (the leader's own once its currentEpoch is durable)
//!    establishes the leader: its whole log is committed and it sends UPTODATE.
//! 4. **Broadcast** (`broadcast.rs`). PROPOSAL to followers, ACK once logged, COMMIT in zxid
//!    order on a quorum of acks, never past a gap; observers receive INFORM (the committed
//!    txn) and never ack or vote. PING every heartbeat; a leader that has not heard from a
//!    quorum of synced followers within `election_timeout.0` (our syncLimit) steps down.
//!
//! Reads (`reads.rs`): `local` (ZooKeeper's default, answered from the server's own
//! committed state), `sync` (ZooKeeper's `sync`: the leader answers once it committed what
//! it had proposed when it saw the sync, *without* confirming it still leads —
//! ZOOKEEPER-1675) and `sync_quorum` (the leader first confirms with a quorum PING round).
//!
//! Links are FIFO (TCP). A connection reset arrives as `Input::Disconnected`: a learner
//! that loses its leader goes back to LOOKING and re-syncs later; a leader drops the
//! learner and steps down if it no longer has a quorum of synced followers. A learner that
//! leaves its leader for any other reason (silence past syncLimit, a FIFO violation, a
//! stale LEADERINFO) closes the connection (`Output::Disconnect`), as ZooKeeper's learner
//! closes its socket, so each session with a leader is a connection of its own. A leader
//! that steps down closes nothing: its learners notice the silence.
//!
//! Durable cells, each its own [`Write`]: acceptedEpoch, currentEpoch, the transaction
//! log (written incrementally: append, truncate, or replace on SNAP) and the latest
//! snapshot. Everything else is volatile: after a restart the node takes its state from
//! its snapshot and re-applies the log after it once a leader tells it what is committed,
//! so its `Report::Apply` sequence restarts after the snapshot's zxid.
//!
//! Snapshots (`snapshot.rs`, ZooKeeper's `SyncRequestProcessor` / `PurgeTxnLog`): with the
//! option `snapshot_every`, every that many applied txns a node writes a snapshot of its
//! state (the kv and the last zxid it covers) and then drops the logged txns it covers.
//! A learner whose last zxid is older than the oldest txn the leader kept is synced by
//! SNAP, which then carries the leader's snapshot and the txns after it.
//!
//! Reports: `Role` on every change of role or epoch (Looking/Following/Observing carry
//! the node's currentEpoch or the epoch it accepted from its leader; `Leading` the epoch
//! being established; `Leader` exactly when a quorum acked NEWLEADER). `Commit` when this
//! node learns a txn committed, `Apply` for each delivered txn in zxid order (every txn
//! carries a client op). `ReadServed` only from an established leader answering a `local`
//! read or a `sync` without a quorum round. `Report::Vote` is not emitted: an FLE vote
//! changes many times within a round and is not a grant. Coverage marks name rare paths
//! (`zab.sync_diff`, `zab.sync_trunc`, `zab.sync_snap`, `zab.fle_round_reset`,
//! `zab.fle_joined_established`, `zab.ackepoch_same_epoch`, `zab.leader_lost_quorum`,
//! `zab.learner_lost_leader`, `zab.follower_ahead_of_leader`, `zab.bug.*` when a mutant acts).
//!
//! Timers: 0 re-sends FLE notifications while LOOKING (`election_timeout` range), 1 is the
//! finalize wait (`heartbeat_interval`), 2 the leader's PING / learner's liveness tick
//! (`heartbeat_interval`; syncLimit = `election_timeout.0`, initLimit = 2 × `election_timeout.1`).
//!
//! What this crate is not: a network, a disk or a clock. It reads nothing but its inputs.

mod broadcast;
mod election;
mod reads;
mod snapshot;
mod sync;

pub use snapshot::{SnapBase, Snapshot, OPTION_SNAPSHOT_EVERY};

use protocol::{
    Bug, Command, Config, ConfigError, Input, Kv, LocalTime, MessageKind, NodeId, OpId, Outputs,
    Protocol, ReadMode, Reply, Report, Role, TimerId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// `epoch << 32 | counter`.
pub type Zxid = u64;

pub fn make_zxid(epoch: u64, counter: u64) -> Zxid {
    debug_assert!(
        counter <= u32::MAX as u64,
        "zxid counter {counter} overflows"
    );
    (epoch << 32) | counter
}

pub fn epoch_of(zxid: Zxid) -> u64 {
    zxid >> 32
}

pub fn counter_of(zxid: Zxid) -> u64 {
    zxid & 0xffff_ffff
}

/// One transaction of the log. Every txn carries a client command (ZAB needs no no-op:
/// NEWLEADER establishes a leader's history).
///
/// The command is shared, not copied: a txn lives in the leader's log, its durable image,
/// every PROPOSAL (or INFORM, DIFF, SNAP) that carries it and every learner's two logs,
/// and all of them hold the one command the client sent (it never changes once
/// proposed). An `Arc` hashes, compares and prints as the command itself, so digests are
/// unchanged.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Txn {
    pub zxid: Zxid,
    pub cmd: Arc<Command>,
}

impl Txn {
    pub fn new(zxid: Zxid, cmd: Command) -> Txn {
        Txn {
            zxid,
            cmd: Arc::new(cmd),
        }
    }
}

/// An FLE vote, ordered by (epoch, zxid, sid) — `FastLeaderElection.totalOrderPredicate`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Vote {
    pub epoch: u64,
    pub zxid: Zxid,
    pub sid: NodeId,
}

/// The sender's state in a notification (`QuorumPeer.ServerState`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Message {
    Notification {
        vote: Vote,
        round: u64,
        state: PeerState,
    },
    FollowerInfo {
        accepted_epoch: u64,
        last_zxid: Zxid,
        observer: bool,
    },
    LeaderInfo {
        epoch: u64,
    },
    /// `current_epoch` is `None` when the learner had already accepted this epoch (a
    /// reconnection): ZooKeeper sends -1 and the leader does not count it as an epoch ack.
    AckEpoch {
        current_epoch: Option<u64>,
        last_zxid: Zxid,
    },
    Diff {
        txns: Vec<Txn>,
        committed: Zxid,
    },
    Trunc {
        to: Zxid,
        txns: Vec<Txn>,
        committed: Zxid,
    },
    /// The leader's snapshot (when it compacted its log; hashed only when present, so a
    /// SNAP without one digests as it did before snapshots existed) and its txns after it.
    Snap {
        txns: Vec<Txn>,
        committed: Zxid,
        base: SnapBase,
    },
    NewLeader {
        epoch: u64,
    },
    /// Acks a proposal, or NEWLEADER when the counter of `zxid` is 0 (as in ZooKeeper).
    Ack {
        zxid: Zxid,
    },
    UpToDate {
        committed: Zxid,
    },
    Proposal {
        txn: Txn,
    },
    Commit {
        zxid: Zxid,
    },
    Inform {
        txn: Txn,
    },
    /// Leader to learner, echoed back; `round` also confirms leadership for sync_quorum.
    Ping {
        round: u64,
    },
    Request {
        cmd: Command,
    },
    Sync {
        id: u64,
    },
    SyncReply {
        id: u64,
        zxid: Zxid,
    },
}

impl MessageKind for Message {
    fn kind(&self) -> &'static str {
        match self {
            Message::Notification { .. } => "NOTIFICATION",
            Message::FollowerInfo { .. } => "FOLLOWERINFO",
            Message::LeaderInfo { .. } => "LEADERINFO",
            Message::AckEpoch { .. } => "ACKEPOCH",
            Message::Diff { .. } => "DIFF",
            Message::Trunc { .. } => "TRUNC",
            Message::Snap { .. } => "SNAP",
            Message::NewLeader { .. } => "NEWLEADER",
            // The ack of NEWLEADER is ZooKeeper's ACK packet with counter 0, but it is a
            // different claim (the whole synced history is durable) from a proposal's ack:
            // named apart, a crash aimed at it (`crash_sending`) is not spent on the many
            // proposal acks.
            Message::Ack { zxid } if counter_of(*zxid) == 0 => "ACKNEWLEADER",
            Message::Ack { .. } => "ACK",
            Message::UpToDate { .. } => "UPTODATE",
            Message::Proposal { .. } => "PROPOSAL",
            Message::Commit { .. } => "COMMIT",
            Message::Inform { .. } => "INFORM",
            Message::Ping { .. } => "PING",
            Message::Request { .. } => "REQUEST",
            Message::Sync { .. } | Message::SyncReply { .. } => "SYNC",
        }
    }
}

/// What survives a crash.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Durable {
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    pub log: Vec<Txn>,
    /// The zxid of the newest snapshot file (ZooKeeper names snapshots by zxid), 0 for
    /// none, as `QuorumPeer.loadDataBase` compares it with currentEpoch: only
    /// `zab.epoch_file_gap` writes one.
    pub snapshot_zxid: Zxid,
    /// The latest state snapshot (`snapshot_every`); the log keeps the txns after it (a
    /// crash between the snapshot and the purge of the txns it covers leaves them there).
    pub snapshot: Option<Snapshot>,
}

/// One write to one durable cell.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Write {
    AcceptedEpoch(u64),
    CurrentEpoch(u64),
    /// Appends txns with zxids above the log's last.
    Append(Vec<Txn>),
    /// Drops every txn above `to`.
    Truncate(Zxid),
    /// Replaces the whole log (SNAP).
    Snapshot(Vec<Txn>),
    /// Writes txns into the log file at their zxids, keeping what is there: the file of a
    /// node whose in-memory log no longer mirrors it (mutants only).
    Merge(Vec<Txn>),
    /// A snapshot file named by this zxid (`zab.epoch_file_gap` only).
    TakeSnapshot(Zxid),
    /// The state snapshot (replaces the previous one).
    SaveSnapshot(Snapshot),
    /// Drops every logged txn at or below this zxid (a durable snapshot covers them).
    Purge(Zxid),
}

const TIMER_ELECTION: TimerId = TimerId(0);
const TIMER_FINALIZE: TimerId = TimerId(1);
const TIMER_TICK: TimerId = TimerId(2);

/// What a completed write lets the node do next.
#[derive(Clone, Copy, Debug)]
enum WriteEffect {
    None,
    LogDurable(Zxid),
    AcceptedEpochDurable(u64),
    CurrentEpochDurable(u64),
}

/// The node's phase; `step` dispatches on it.
#[derive(Debug)]
enum Phase {
    Looking(election::Election),
    Following(sync::LearnerState),
    Leading(Box<sync::LeaderState>),
}

#[derive(Debug)]
pub struct Zab {
    id: NodeId,
    config: Config,
    is_observer: bool,
    // Mirrors of the durable cells (in memory they run ahead of the disk).
    accepted_epoch: u64,
    current_epoch: u64,
    /// The txns after the snapshot's zxid.
    log: Vec<Txn>,
    /// The latest snapshot taken or received: every txn at or below its zxid is applied.
    snapshot: Option<Box<Snapshot>>,
    /// Applied txns between snapshots (0: never snapshot).
    snapshot_every: u64,
    /// Txns applied since the latest snapshot.
    applied_since_snapshot: u64,
    // Volatile.
    committed: Zxid,
    applied: Zxid,
    kv: Kv,
    next_tag: u64,
    write_effects: VecDeque<(u64, WriteEffect)>,
    /// FLE logical clock and the vote this node holds (also sent in replies when not
    /// LOOKING: the vote that elected its leader).
    round: u64,
    vote: Vote,
    /// FOLLOWERINFOs that reached us before we knew we lead (a learner's connection that
    /// waits in the listen backlog).
    early_infos: BTreeMap<NodeId, (u64, Zxid, bool)>,
    /// Client writes this node accepted and will answer when it applies them.
    pending_writes: BTreeSet<OpId>,
    /// The next election starts without announcing itself (after a refused LEADERINFO).
    quiet_election: bool,
    /// The log file holds txns the in-memory log does not (only under
    /// `zab.retain_db_across_election` / `zab.snap_in_memory_only`): appends merge by zxid.
    disk_diverged: bool,
    /// Refused to start (`zab.epoch_file_gap`): takes no part in anything until a restart.
    inert: bool,
    phase: Phase,
    role_reported: (Role, u64),
}

impl Zab {
    pub const BUGS_LIST: &'static [Bug] = &[
        Bug {
            name: "zab.diff_instead_of_trunc",
            summary: "the leader sends DIFF where the learner holds txns outside the leader's history that must be truncated (ZOOKEEPER-2832)",
        },
        Bug {
            name: "zab.ack_newleader_before_durable",
            summary: "a follower ACKs NEWLEADER before the synced txns and currentEpoch are durable (ZOOKEEPER-3911)",
        },
        Bug {
            name: "zab.current_epoch_before_history",
            summary: "a follower writes currentEpoch before the synced history (ZOOKEEPER-4643)",
        },
        Bug {
            name: "zab.propose_only_to_acked_newleader",
            summary: "the leader sends new proposals only to followers that already acked NEWLEADER, so a learner in sync misses them",
        },
        Bug {
            name: "zab.snap_in_memory_only",
            summary: "a learner takes a SNAP into memory and saves it only at NEWLEADER; if it leaves first, the snapshot is never written (ZOOKEEPER-3642, ZOOKEEPER-5094)",
        },
        Bug {
            name: "zab.retain_db_across_election",
            summary: "a leader that steps down keeps its in-memory database (its committed txns) and reports that last zxid, so a txn only it logged is never truncated from its log file (ZOOKEEPER-2845)",
        },
        Bug {
            name: "zab.ack_proposal_before_ack_newleader",
            summary: "a follower ACKs the synced proposals above the leader's commit point before it ACKs NEWLEADER; the leader takes that ACK for its NEWLEADER ack and drops it (ZOOKEEPER-4685)",
        },
        Bug {
            name: "zab.epoch_file_gap",
            summary: "a learner writes a snapshot of the new epoch at NEWLEADER before rewriting currentEpoch, and a server whose currentEpoch is below its snapshot's epoch refuses to start (ZOOKEEPER-1653)",
        },
    ];

    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(self.snapshot_zxid(), |t| t.zxid)
    }

    /// The zxid the latest snapshot covers up to (0: none).
    pub fn snapshot_zxid(&self) -> Zxid {
        self.snapshot.as_ref().map_or(0, |s| s.zxid)
    }

    /// The replicated state as applied on this node.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// The latest snapshot this node took or received.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_deref()
    }

    /// The node's log (for tests and summaries).
    pub fn log(&self) -> &[Txn] {
        &self.log
    }

    pub fn committed(&self) -> Zxid {
        self.committed
    }

    pub fn applied(&self) -> Zxid {
        self.applied
    }

    pub fn accepted_epoch(&self) -> u64 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// The leader this node follows or is (None while LOOKING).
    pub fn leader(&self) -> Option<NodeId> {
        match &self.phase {
            Phase::Looking(_) => None,
            Phase::Following(l) => Some(l.leader),
            Phase::Leading(_) => Some(self.id),
        }
    }

    fn voters(&self) -> &[NodeId] {
        &self.config.voters
    }

    fn is_voter(&self, n: NodeId) -> bool {
        self.config.voters.contains(&n)
    }

    fn quorum(&self) -> usize {
        protocol::quorum(self.config.voters.len())
    }

    /// Where `zxid` is in the log, or would be inserted (as `binary_search`: zxids in the
    /// log strictly increase, so the answer is unique). A leader numbers an epoch's txns
    /// without holes, so a zxid of the last txn's epoch is nearly always exactly as far
    /// from the end as its counter is from the last one's: look there first.
    fn position(&self, zxid: Zxid) -> Result<usize, usize> {
        if let Some(last) = self.log.last() {
            if zxid > last.zxid {
                return Err(self.log.len());
            }
            if epoch_of(zxid) == epoch_of(last.zxid) {
                let back = (last.zxid - zxid) as usize;
                if let Some(i) = (self.log.len() - 1).checked_sub(back) {
                    if self.log[i].zxid == zxid {
                        return Ok(i);
                    }
                }
            }
        }
        self.log.binary_search_by_key(&zxid, |t| t.zxid)
    }

    fn write(&mut self, w: Write, effect: WriteEffect, out: &mut Outputs<Message, Write>) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.write_effects.push_back((tag, effect));
        out.write(tag, w);
    }

    fn report_role(&mut self, role: Role, term: u64, out: &mut Outputs<Message, Write>) {
        if self.role_reported != (role, term) {
            self.role_reported = (role, term);
            out.report(Report::Role { role, term });
        }
    }

    /// Appends to the in-memory log, asserting zxid order, and writes the new txns.
    fn append_and_write(&mut self, txns: Vec<Txn>, out: &mut Outputs<Message, Write>) {
        if txns.is_empty() {
            return;
        }
        let mut last = self.last_zxid();
        for t in &txns {
            assert!(
                t.zxid > last,
                "n{}: appending zxid {:#x} after {:#x} breaks zxid order",
                self.id.0,
                t.zxid,
                last
            );
            last = t.zxid;
        }
        self.log.extend(txns.iter().cloned());
        let w = self.log_append_write(txns);
        self.write(w, WriteEffect::LogDurable(last), out);
    }

    /// The write that puts txns appended in memory on disk.
    fn log_append_write(&self, txns: Vec<Txn>) -> Write {
        if self.disk_diverged {
            Write::Merge(txns)
        } else {
            Write::Append(txns)
        }
    }

    /// Marks everything up to `zxid` committed and applies it. ZAB: a txn commits only
    /// once every earlier one has; never past a gap (the txn must be in our log).
    fn commit_to(&mut self, zxid: Zxid, out: &mut Outputs<Message, Write>) {
        if zxid <= self.committed {
            return;
        }
        let end = match self.position(zxid) {
            Ok(i) => i + 1,
            Err(_) => {
                // Only a mutant can send a COMMIT for a txn this node never received; let
                // the checkers see what follows rather than stop the run.
                assert!(
                    !self.config.bugs.is_empty(),
                    "n{}: asked to commit zxid {:#x} which is not in its log (last {:#x}): a gap",
                    self.id.0,
                    zxid,
                    self.last_zxid()
                );
                out.mark("zab.commit_of_missing_txn");
                return;
            }
        };
        let start = match self.position(self.committed) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        for i in start..end {
            let t = &self.log[i];
            out.report(Report::Commit {
                index: t.zxid,
                term: epoch_of(t.zxid),
                op: Some(t.cmd.id),
            });
        }
        self.committed = zxid;
        self.apply_committed(out);
    }

    fn apply_committed(&mut self, out: &mut Outputs<Message, Write>) {
        let start = match self.position(self.applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let mut i = start;
        while i < self.log.len() && self.log[i].zxid <= self.committed {
            let t = &self.log[i];
            assert!(
                t.zxid > self.applied,
                "n{}: delivering zxid {:#x} after {:#x}: deliveries must strictly increase",
                self.id.0,
                t.zxid,
                self.applied
            );
            let result = self.kv.apply(&t.cmd.op);
            self.applied = t.zxid;
            out.report(Report::Apply {
                index: t.zxid,
                term: epoch_of(t.zxid),
                op: Some(t.cmd.id),
                state: self.kv.digest(),
            });
            if self.pending_writes.remove(&t.cmd.id) {
                out.reply(t.cmd.id, Reply::Ok(result));
            }
            self.applied_since_snapshot += 1;
            i += 1;
        }
        self.maybe_snapshot(out);
        self.after_apply(out);
    }

    /// Leaves whatever phase the node is in and starts a new election round
    /// (`QuorumPeer` run loop: back to LOOKING). A learner first closes its connection to
    /// the leader, as ZooKeeper's does on every way out of `Follower.followLeader` /
    /// `Observer.observeLeader` (`Learner.closeSocket`): its next session is a new TCP
    /// connection served by a new `LearnerHandler`, so nothing the old session still had
    /// to say (an ACK held until its log write completes) can reach the leader as the
    /// first packet of the new one, the NEWLEADER ack (`Leader.waitForNewLeaderAck`).
    /// Without the close, swarm seed 95508 stalled: an old session's ACK was taken for the
    /// NEWLEADER ack and the proposal it acked never reached a quorum.
    fn go_looking(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        if let Phase::Following(l) = &self.phase {
            out.disconnect(l.leader);
        }
        self.enter_looking(now, out);
    }

    /// `go_looking` once the connection to the leader (if any) is gone.
    fn enter_looking(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        for id in std::mem::take(&mut self.pending_writes) {
            out.reply(
                id,
                Reply::Error {
                    reason: "lost the connection to the leader",
                    maybe_applied: true,
                },
            );
        }
        self.fail_pending_reads(out);
        if let Phase::Following(l) = &mut self.phase {
            if l.unsaved_snapshot.take().is_some() {
                // zab.snap_in_memory_only: the snapshot was never written; what this node
                // reports from now on is a history its disk does not hold.
                out.mark("zab.unsaved_snapshot_abandoned");
                self.disk_diverged = true;
            }
            for w in std::mem::take(&mut l.sync_writes) {
                self.write(w, WriteEffect::None, out);
            }
        }
        if matches!(self.phase, Phase::Leading(_))
            && self.config.bug("zab.retain_db_across_election")
        {
            // ZOOKEEPER-2845: the in-memory database holds only what this node applied;
            // the txns it logged past that stay in its log file, unreported.
            let keep = match self.position(self.committed) {
                Ok(i) => i + 1,
                Err(i) => i,
            };
            if keep < self.log.len() {
                out.mark("zab.bug.retain_db_across_election");
                self.log.truncate(keep);
                self.disk_diverged = true;
            }
        }
        out.cancel_timer(TIMER_TICK);
        self.start_election(now, out);
    }
}

impl Protocol for Zab {
    type Message = Message;
    type Durable = Durable;
    type Write = Write;

    const NAME: &'static str = "zab";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = Zab::BUGS_LIST;
    const READ_MODES: &'static [ReadMode] =
        &[ReadMode::Local, ReadMode::Sync, ReadMode::SyncQuorum];
    const LINKS: protocol::LinkKind = protocol::LinkKind::Fifo;
    const OBSERVERS: bool = true;

    /// A FOLLOWING server never votes (it answers a LOOKING one with the leader it
    /// follows, FLE's `checkLeader`), and leaves its leader only after hearing nothing
    /// from it for the minimum election timeout (`learner_tick`) or when the connection
    /// breaks.
    fn fence(_config: &Config) -> protocol::Fence {
        protocol::Fence::Votes
    }

    /// Every message from the leader a learner follows renews its `last_heard`
    /// (`learner_on_message`); notifications are FLE's, answered to anyone.
    fn fence_signal(&self, from: NodeId, msg: &Message) -> protocol::FenceSignal {
        match &self.phase {
            Phase::Following(l)
                if !self.inert
                    && l.leader == from
                    && !matches!(msg, Message::Notification { .. }) =>
            {
                protocol::FenceSignal::Renews
            }
            _ => protocol::FenceSignal::None,
        }
    }
    /// Every coverage mark `out.mark(..)` can report (`sim fuzz --marks` lists them;
    /// tests/marks.rs checks this list against the crate's source).
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "NOTIFICATION",
        "FOLLOWERINFO",
        "LEADERINFO",
        "ACKEPOCH",
        "DIFF",
        "TRUNC",
        "SNAP",
        "NEWLEADER",
        "ACKNEWLEADER",
        "ACK",
        "UPTODATE",
        "PROPOSAL",
        "COMMIT",
        "INFORM",
        "PING",
        "REQUEST",
        "SYNC",
    ];
    const WRITE_KINDS: &'static [&'static str] = &[
        "accepted_epoch",
        "current_epoch",
        "append",
        "truncate",
        "snap",
        "save_snapshot",
        "purge",
    ];
    const MARKS: &'static [&'static str] = &[
        "zab.ackepoch_same_epoch",
        "zab.bug.ack_newleader_before_durable",
        "zab.bug.ack_proposal_before_ack_newleader",
        "zab.bug.current_epoch_before_history",
        "zab.bug.diff_instead_of_trunc",
        "zab.bug.epoch_file_gap",
        "zab.bug.propose_only_to_acked_newleader",
        "zab.bug.retain_db_across_election",
        "zab.bug.snap_in_memory_only",
        "zab.commit_of_missing_txn",
        "zab.current_epoch_repaired",
        "zab.fle_joined_established",
        "zab.fle_round_reset",
        "zab.follower_ahead_of_leader",
        "zab.leader_lost_quorum",
        "zab.leader_not_established_in_time",
        "zab.leaderinfo_stale_epoch",
        "zab.learner_disconnected",
        "zab.learner_lost_leader",
        "zab.learner_ping_echo_ignored",
        "zab.learner_saw_fifo_violation",
        "zab.learner_timed_out",
        "zab.learner_took_snap",
        "zab.learner_truncated",
        "zab.newleader_ack_of_other_zxid",
        "zab.sync_diff",
        "zab.sync_dropped_applied_txn",
        "zab.sync_snap",
        "zab.sync_trunc",
        "zab.unsaved_snapshot_abandoned",
        "zab.learner_snap_behind_applied",
        "zab.restart_finishes_purge",
        "zab.restart_from_snapshot",
        "zab.snapshot_installed",
        "zab.snapshot_taken",
        "zab.sync_snap_behind_compaction",
    ];
    const NEVER_WHEN_CORRECT: &'static [&'static str] = &[
        // Only a mutant takes this path (zab.snap_in_memory_only).
        "zab.unsaved_snapshot_abandoned",
        // Invariants broken: each asserts unless a mutant is on.
        "zab.commit_of_missing_txn",
        "zab.sync_dropped_applied_txn",
        // An input no driver gives: links are FIFO by contract.
        "zab.learner_saw_fifo_violation",
    ];
    const OPTIONS: &'static [protocol::OptionSpec] = &[OPTION_SNAPSHOT_EVERY];

    fn check_config(config: &Config) -> Result<(), ConfigError> {
        protocol::check_common(Self::NAME, Self::BUGS, Self::READ_MODES, config)?;
        protocol::check_options(Self::NAME, Self::OPTIONS, config)?;
        if let Some(n) = config.observers.iter().find(|o| config.voters.contains(o)) {
            return Err(ConfigError {
                field: "nodes".into(),
                message: format!("{n} is listed both as a voter and as an observer"),
            });
        }
        let mut all: Vec<NodeId> = config.all_nodes().collect();
        all.sort();
        let before = all.len();
        all.dedup();
        if all.len() != before {
            return Err(ConfigError {
                field: "nodes".into(),
                message: "a node is listed twice".into(),
            });
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Durable,
        now: LocalTime,
        out: &mut Outputs<Message, Write>,
    ) -> Zab {
        assert!(
            durable.current_epoch <= durable.accepted_epoch,
            "n{}: durable currentEpoch {} > acceptedEpoch {}",
            id.0,
            durable.current_epoch,
            durable.accepted_epoch
        );
        // QuorumPeer.loadDataBase: a currentEpoch below the epoch of the newest snapshot
        // means the server stopped between the snapshot and the currentEpoch write.
        let snapshot_epoch = epoch_of(durable.snapshot_zxid);
        let epoch_gap = snapshot_epoch > durable.current_epoch;
        let mut z = Zab {
            id,
            config: config.clone(),
            is_observer: config.observers.contains(&id),
            accepted_epoch: durable.accepted_epoch,
            current_epoch: durable.current_epoch,
            log: durable.log.clone(),
            snapshot: None,
            snapshot_every: config.option_count(&OPTION_SNAPSHOT_EVERY),
            applied_since_snapshot: 0,
            committed: 0,
            applied: 0,
            kv: Kv::default(),
            next_tag: 0,
            write_effects: VecDeque::new(),
            round: 0,
            vote: Vote {
                epoch: 0,
                zxid: 0,
                sid: id,
            },
            early_infos: BTreeMap::new(),
            pending_writes: BTreeSet::new(),
            quiet_election: false,
            disk_diverged: false,
            inert: false,
            phase: Phase::Looking(election::Election::default()),
            role_reported: (Role::Crashed, u64::MAX),
        };
        z.recover_snapshot(durable, out);
        if epoch_gap {
            if config.bug("zab.epoch_file_gap") {
                // Before ZOOKEEPER-1653: "The current epoch is older than the last zxid";
                // the server exits, on every start.
                out.mark("zab.bug.epoch_file_gap");
                z.inert = true;
                return z;
            }
            // ZOOKEEPER-1653's repair: the snapshot is complete, only the currentEpoch
            // write was lost; finish it.
            out.mark("zab.current_epoch_repaired");
            z.current_epoch = snapshot_epoch;
            z.write(Write::CurrentEpoch(snapshot_epoch), WriteEffect::None, out);
        }
        z.start_election(now, out);
        z
    }

    fn step(&mut self, now: LocalTime, input: Input<Message>, out: &mut Outputs<Message, Write>) {
        if self.inert {
            // A server that refused to start answers no one; a client's connection fails.
            if let Input::Client(cmd) = input {
                out.reply(cmd.id, Reply::NotLeader { hint: None });
            }
            return;
        }
        match input {
            Input::WriteDone { tag } => self.on_write_done(now, tag, out),
            Input::Client(cmd) => self.on_client(now, cmd, out),
            Input::Message {
                from,
                msg: Message::Notification { vote, round, state },
            } => self.on_notification(now, from, vote, round, state, out),
            Input::Message {
                from,
                msg:
                    Message::FollowerInfo {
                        accepted_epoch,
                        last_zxid,
                        observer,
                    },
            } => {
                if matches!(self.phase, Phase::Leading(_)) {
                    self.leader_on_follower_info(
                        now,
                        from,
                        accepted_epoch,
                        last_zxid,
                        observer,
                        out,
                    );
                } else {
                    self.early_infos
                        .insert(from, (accepted_epoch, last_zxid, observer));
                }
            }
            Input::Message { from, msg } => match self.phase {
                Phase::Looking(_) => {}
                Phase::Following(_) => self.learner_on_message(now, from, msg, out),
                Phase::Leading(_) => self.leader_on_message(now, from, msg, out),
            },
            Input::Timer(TIMER_ELECTION) => self.on_election_timer(now, out),
            Input::Timer(TIMER_FINALIZE) => self.on_finalize_timer(now, out),
            Input::Timer(TIMER_TICK) => match self.phase {
                Phase::Looking(_) => {}
                Phase::Following(_) => self.learner_tick(now, out),
                Phase::Leading(_) => self.leader_tick(now, out),
            },
            Input::Timer(_) => {}
            // No membership change in ZAB (SUPPORTS_MEMBERSHIP is false); drivers refuse it.
            Input::ChangeMembership(_) => {}
            Input::Disconnected { peer } => {
                self.early_infos.remove(&peer);
                match self.phase {
                    Phase::Looking(_) => {}
                    Phase::Following(ref l) => {
                        // Drivers tell of a connection's end before anything sent on the
                        // next one arrives (the protocol crate's contract), so this is the
                        // connection of the session we are in, not one we closed to re-join.
                        if l.leader == peer {
                            out.mark("zab.learner_disconnected");
                            self.enter_looking(now, out);
                        }
                    }
                    Phase::Leading(_) => self.leader_drop_learner(now, peer, out),
                }
            }
        }
    }

    fn persist(durable: &mut Durable, write: &Write) {
        match write {
            Write::AcceptedEpoch(e) => durable.accepted_epoch = *e,
            Write::CurrentEpoch(e) => durable.current_epoch = *e,
            Write::Append(txns) => {
                let mut last = durable.log.last().map_or(0, |t| t.zxid);
                for t in txns {
                    assert!(
                        t.zxid > last,
                        "durable log append of {:#x} after {:#x}",
                        t.zxid,
                        last
                    );
                    last = t.zxid;
                }
                durable.log.extend(txns.iter().cloned());
            }
            Write::Truncate(to) => durable.log.retain(|t| t.zxid <= *to),
            Write::Snapshot(txns) => durable.log = txns.clone(),
            Write::Merge(txns) => {
                for t in txns {
                    if let Err(i) = durable.log.binary_search_by_key(&t.zxid, |x| x.zxid) {
                        durable.log.insert(i, t.clone());
                    }
                }
            }
            Write::TakeSnapshot(zxid) => durable.snapshot_zxid = *zxid,
            Write::SaveSnapshot(snapshot) => durable.snapshot = Some(snapshot.clone()),
            Write::Purge(zxid) => durable.log.retain(|t| t.zxid > *zxid),
        }
    }

    fn write_kind(write: &Write) -> &'static str {
        match write {
            Write::AcceptedEpoch(_) => "accepted_epoch",
            Write::CurrentEpoch(_) => "current_epoch",
            Write::Append(_) => "append",
            Write::Truncate(_) => "truncate",
            Write::Snapshot(_) => "snap",
            Write::Merge(_) => "merge",
            Write::TakeSnapshot(_) => "take_snapshot",
            Write::SaveSnapshot(_) => "save_snapshot",
            Write::Purge(_) => "purge",
        }
    }

    fn role(&self) -> (Role, u64) {
        match &self.phase {
            Phase::Looking(_) => (Role::Looking, self.current_epoch),
            Phase::Following(l) => (
                if self.is_observer {
                    Role::Observing
                } else {
                    Role::Following
                },
                l.epoch.unwrap_or(self.current_epoch),
            ),
            Phase::Leading(s) => match s.epoch {
                Some(e) if s.established => (Role::Leader, e),
                Some(e) => (Role::Leading, e),
                None => (Role::Leading, self.accepted_epoch),
            },
        }
    }

    /// FastLeaderElection's order: a voter adopts a vote for a higher (currentEpoch,
    /// last zxid) than its own (`totalOrderPredicate`; the server id only breaks ties). An
    /// observer never stands, and a server that refused to start takes no part.
    const VOTE_RULE: &'static str = "a voter adopts a vote only for a later currentEpoch, or the same and a zxid at least as high, FastLeaderElection's totalOrderPredicate";

    fn last_entry(&self) -> Option<(u64, u64)> {
        (!self.is_observer && !self.inert).then(|| (self.current_epoch, self.last_zxid()))
    }

    fn durable_last_entry(durable: &Durable) -> Option<(u64, u64)> {
        Some(restarted_last_entry(durable))
    }

    /// ZAB's voters are the configuration's, whatever a server wrote.
    fn moves_members(_: &Write) -> bool {
        false
    }

    fn position_text(epoch: u64, zxid: u64) -> String {
        format!("epoch {epoch}, zxid {zxid:#x}")
    }
}

/// The currentEpoch and last zxid of the server [`Protocol::start`] makes of `durable`:
/// a currentEpoch behind its snapshot file's epoch is repaired to it (ZOOKEEPER-1653), and
/// the log keeps the txns after the snapshot.
fn restarted_last_entry(durable: &Durable) -> (u64, u64) {
    let snapshot = durable.snapshot.as_ref().map_or(0, |s| s.zxid);
    let last = durable.log.last().map_or(0, |t| t.zxid).max(snapshot);
    let epoch = durable.current_epoch.max(epoch_of(durable.snapshot_zxid));
    (epoch, last)
}

impl Zab {
    fn on_write_done(&mut self, now: LocalTime, tag: u64, out: &mut Outputs<Message, Write>) {
        while let Some(&(t, effect)) = self.write_effects.front() {
            if t > tag {
                break;
            }
            self.write_effects.pop_front();
            match effect {
                WriteEffect::None => {}
                WriteEffect::LogDurable(z) => self.leader_on_own_log_durable(now, z, out),
                WriteEffect::AcceptedEpochDurable(e) => {
                    self.leader_on_accepted_epoch_durable(now, e, out)
                }
                WriteEffect::CurrentEpochDurable(e) => {
                    self.leader_on_current_epoch_durable(now, e, out)
                }
            }
        }
    }

    fn on_client(&mut self, now: LocalTime, cmd: Command, out: &mut Outputs<Message, Write>) {
        if cmd.op.is_read() {
            self.on_client_read(now, cmd, out);
            return;
        }
        let hint = self.leader();
        match &self.phase {
            Phase::Leading(s) if s.established => {
                if self.pending_writes.insert(cmd.id) {
                    self.leader_propose(now, cmd, out);
                }
            }
            Phase::Following(l) if l.up_to_date => {
                let leader = l.leader;
                if self.pending_writes.insert(cmd.id) {
                    out.send(leader, Message::Request { cmd });
                }
            }
            _ => out.reply(cmd.id, Reply::NotLeader { hint }),
        }
    }
}
