//! Multi-Paxos with a stable leader (Lamport, "Paxos Made Simple", 2001; van Renesse &
//! Altinbuken, "Paxos Made Moderately Complex" (PMMC), 2015; Chandra, Griesemer &
//! Redstone, "Paxos Made Live" (PML), 2007) as a pure step function.
//!
//! Every node plays the three parts at once: *acceptor* (it promises ballots and accepts
//! values), *replica* (it applies chosen slots, in order, to a [`protocol::Kv`]) and
//! potential *leader* (it proposes). A ballot is `(round, node id)`, unique because the
//! round is durable before a Prepare uses it. A leader runs phase 1 once for every slot
//! from the first one it does not know chosen: its Prepare names that slot, and each
//! acceptor's Promise returns every value it accepted at or above it (in bounded pages),
//! with its low-water mark (the slots it compacted into a snapshot). With promises from a
//! majority, the leader re-proposes in each slot the value of the highest ballot reported
//! (PMMC's `pmax`), fills the holes with no-ops, and only then takes new commands in free
//! slots. After that it runs phase 2 alone: Accept to every acceptor, a value is chosen
//! once a majority accepted it in this ballot, and the leader tells the replicas how far
//! the chosen prefix reaches. A replica that misses values asks for them (catch-up), and
//! one behind the leader's compacted prefix gets the leader's snapshot first.
//!
//! Acceptor state is durable before any reply that depends on it (sends with
//! `Delivery::AfterWrites`): the promise, and per slot the highest-ballot accepted
//! `(ballot, value)`. Accepting raises the promise, and compaction never lowers it. With a
//! stable leader each replica writes once per chosen command (PML §4): its accept.
//!
//! The leader is stable: it sends heartbeats; a follower starts phase 1 only after it
//! missed the leader for a randomised election timeout; a preempted leader (an acceptor
//! answered with a higher promise) goes passive and waits a randomised timeout before it
//! tries again (PMMC §3), so duelling proposers settle.
//!
//! Reads: through the log (a read is a command like a write); `quorum` (the leader
//! confirms with a heartbeat round a majority answers after the read arrived, then waits
//! until it executed every slot it had proposed, finishing any in-progress one first);
//! `lease` (Chubby's master lease, PML §5.2: an acceptor that acknowledged the leader
//! refuses other proposers' Prepares for the minimum election timeout, and the leader
//! trusts its lease for that time shrunk by the clock drift bound); and `local` (any node
//! answers from what it executed: stale). A command in flight when its leader loses
//! leadership fails or is indeterminate, never ok (PML §5.3's epoch numbers).
//!
//! The code is split by story: `election.rs` (ballots, phase 1, preemption, timers),
//! `replication.rs` (phase 2, learning, execution, catch-up, compaction) and `reads.rs`.
//! This file holds the types, the [`Protocol`] implementation, the dispatch, and the
//! invariants every step asserts.

mod election;
mod reads;
mod replication;
mod slots;

pub use slots::Slots;

use protocol::{
    Bug, Command, Config, ConfigError, Input, Kv, LocalTime, MessageKind, NodeId, OpId, OptionKind,
    OptionSpec, OptionValue, Outputs, Protocol, ReadMode, Reply, Report, Role, TimerId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The election timer: a follower that missed the leader this long starts phase 1; a
/// candidate whose phase 1 did not complete tries again with a higher ballot.
pub const TIMER_ELECTION: TimerId = TimerId(0);
/// The leader's heartbeat (and retransmission) timer; a candidate's Prepare retry timer.
pub const TIMER_HEARTBEAT: TimerId = TimerId(1);

/// Most accepted slots one Promise page carries (PMMC §4.1: bounded messages).
pub const PROMISE_PAGE_SLOTS: usize = 64;
/// Most slots one Accept or Decided message carries.
pub const MAX_SLOTS_PER_MESSAGE: usize = 64;
/// Most slots the leader has proposed and not yet seen chosen; a command beyond it is
/// refused (a limit on the leader's memory and on the pipeline).
pub const MAX_SLOTS_IN_FLIGHT: u64 = 1024;
/// Node ids must stay below this for a ballot to map onto a term number.
pub const MAX_NODE_ID: u32 = 1000;

/// The options only Paxos has (`[options.paxos]` in a scenario).
pub const OPTION_SNAPSHOT_EVERY: OptionSpec = OptionSpec {
    name: "snapshot_every",
    kind: OptionKind::Count,
    default: OptionValue::Count(1000),
    summary: "every this many executed slots a node snapshots its state machine and drops the accepted slots it covers (0: never)",
};

/// A ballot: `(round, node)`, ordered by round and then by node, so two proposers never
/// share one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

impl Ballot {
    /// Lower than any ballot a proposer uses.
    pub const ZERO: Ballot = Ballot {
        round: 0,
        node: NodeId(0),
    };

    pub fn new(round: u64, node: NodeId) -> Ballot {
        Ballot { round, node }
    }

    /// The ballot as the one number the checkers call a term: `round * 1000 + node`, so
    /// ballot (12, n3) reads as 12003 and the order is kept.
    pub fn as_term(self) -> u64 {
        self.round * u64::from(MAX_NODE_ID) + u64::from(self.node.0)
    }
}

impl Default for Ballot {
    fn default() -> Ballot {
        Ballot::ZERO
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.round, self.node)
    }
}

/// What a slot holds: a client command, or the no-op a leader fills a hole with. `origin`
/// is the ballot of the leader that first proposed it: a value re-proposed by a later
/// leader keeps it, so one chosen value is one `(origin, command)` everywhere.
///
/// The command is shared, not copied, by every proposal, message, write and durable
/// record that holds the value (it never changes once proposed); an `Arc` hashes, compares
/// and prints as the command itself, so digests are unchanged.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Value {
    pub origin: Ballot,
    pub command: Option<Arc<Command>>,
}

impl Value {
    pub fn noop(origin: Ballot) -> Value {
        Value {
            origin,
            command: None,
        }
    }
    pub fn op(&self) -> Option<OpId> {
        self.command.as_ref().map(|c| c.id)
    }
}

/// The state machine as of a slot: every slot up to `upto` executed.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Snapshot {
    pub upto: u64,
    pub kv: Kv,
    /// Commands applied lately (PMMC's replica applies a command chosen in two slots
    /// once).
    pub applied: Applied,
}

/// The most recent [`APPLIED_REMEMBERED`] commands applied, to apply a command chosen in
/// two slots once (PMMC's replica). A command is re-proposed only in its own slot, so two
/// slots can hold one command only when a client handed it to two leaders; those slots are
/// close, and a bounded memory keeps a node's state from growing with the run.
///
/// Every replica asks it once per executed slot, and a snapshot copies it: membership is
/// an open-addressing table of the ids in `order` (a flat array, copied in one go),
/// not a tree. It hashes, compares and prints as the `VecDeque` and `BTreeSet` pair it
/// replaced (unit test), so snapshot digests are unchanged.
#[derive(Clone, Default)]
pub struct Applied {
    order: VecDeque<OpId>,
    set: IdSet,
}

/// How many applied commands a replica remembers for deduplication.
pub const APPLIED_REMEMBERED: usize = 4096;

impl Applied {
    /// Records `id` as applied; false if it already was.
    pub fn insert(&mut self, id: OpId) -> bool {
        if !self.set.insert(id.0) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > APPLIED_REMEMBERED {
            let old = self.order.pop_front().expect("non-empty");
            let removed = self.set.remove(old.0);
            debug_assert!(removed, "{old} was in the order but not in the set");
        }
        true
    }
    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// The remembered ids in ascending order (what the set part hashes and prints).
    ///
    /// Every snapshot's digest asks for it, so it is not a comparison sort of 4096 ids
    /// (which costs as much as the thousand slots executed between two snapshots). Ids
    /// are handed out in sequence and applied soon after, so `order` is nearly sorted
    /// already (an id is out of place by about the number of operations in flight): an
    /// insertion sort does it in a pass. One that has to move ids too often (ids from
    /// far apart interleaved) stops and leaves it to [`Applied::bucket_sorted`].
    fn sorted(&self) -> Vec<OpId> {
        let mut ids: Vec<OpId> = self.order.iter().copied().collect();
        let budget = 8 * ids.len();
        let mut moves = 0;
        for i in 1..ids.len() {
            let id = ids[i];
            let mut j = i;
            while j > 0 && ids[j - 1] > id {
                ids[j] = ids[j - 1];
                j -= 1;
            }
            ids[j] = id;
            moves += i - j;
            if moves > budget {
                return self.bucket_sorted();
            }
        }
        ids
    }

    /// [`Applied::sorted`] for any order: the remembered ids spread over a range, about
    /// one per bucket, and the buckets are sorted each in place.
    fn bucket_sorted(&self) -> Vec<OpId> {
        let (Some(min), Some(max)) = (self.order.iter().min(), self.order.iter().max()) else {
            return Vec::new();
        };
        let n = self.order.len();
        // Buckets of 2^shift ids each, at most n of them: span >> shift < 2^floor(log2 n).
        let span_bits = u64::BITS - (max.0 - min.0).leading_zeros();
        let shift = span_bits.saturating_sub(usize::BITS - 1 - n.leading_zeros());
        let bucket = |id: &OpId| ((id.0 - min.0) >> shift) as usize;
        let mut start = vec![0usize; bucket(max) + 2];
        for id in &self.order {
            start[bucket(id) + 1] += 1;
        }
        for b in 1..start.len() {
            start[b] += start[b - 1];
        }
        let mut next = start.clone();
        let mut ids = vec![OpId(0); n];
        for id in &self.order {
            let b = bucket(id);
            ids[next[b]] = *id;
            next[b] += 1;
        }
        for w in start.windows(2) {
            if w[1] - w[0] > 1 {
                ids[w[0]..w[1]].sort_unstable();
            }
        }
        ids
    }
}

/// The set holds exactly the ids of `order`: equal orders, equal sets.
impl PartialEq for Applied {
    fn eq(&self, other: &Applied) -> bool {
        self.order == other.order
    }
}

impl Eq for Applied {}

/// As the derived hash of `{ order: VecDeque<OpId>, set: BTreeSet<OpId> }`: the order,
/// then the set's length and its ids ascending.
impl std::hash::Hash for Applied {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.order.hash(state);
        let sorted = self.sorted();
        state.write_usize(sorted.len());
        for id in &sorted {
            id.hash(state);
        }
    }
}

/// As the derived `Debug` of `{ order: VecDeque<OpId>, set: BTreeSet<OpId> }`.
impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Set(Vec<OpId>);
        impl fmt::Debug for Set {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_set().entries(&self.0).finish()
            }
        }
        f.debug_struct("Applied")
            .field("order", &self.order)
            .field("set", &Set(self.sorted()))
            .finish()
    }
}

/// A set of `u64` ids of bounded size: linear probing in a power-of-two table kept about
/// half full, removal by backward shift (no tombstones, so probes stay short however many
/// ids pass through). A slot holds `id + 1`, 0 when empty; the id `u64::MAX` is a flag.
#[derive(Clone, Default)]
struct IdSet {
    slots: Vec<u64>,
    len: usize,
    has_max: bool,
}

impl IdSet {
    /// The most ids ever held: the remembered ones and the one being added.
    const MAX_IDS: usize = APPLIED_REMEMBERED + 1;
    /// At least twice as many slots.
    const SLOTS: usize = Self::MAX_IDS.next_power_of_two();

    #[inline]
    fn home(word: u64) -> usize {
        // Fibonacci hashing: consecutive ids land far apart.
        (word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - Self::SLOTS.trailing_zeros())) as usize
    }

    /// Where `word` is, or the empty slot where it would go.
    #[inline]
    fn find(&self, word: u64) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = Self::home(word);
        loop {
            match self.slots[i] {
                0 => return (i, false),
                w if w == word => return (i, true),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `id`; false if it was there.
    fn insert(&mut self, id: u64) -> bool {
        let Some(word) = id.checked_add(1) else {
            return !std::mem::replace(&mut self.has_max, true);
        };
        if self.slots.is_empty() {
            self.slots = vec![0; Self::SLOTS];
        }
        let (i, found) = self.find(word);
        if found {
            return false;
        }
        assert!(
            self.len < Self::MAX_IDS,
            "applied-id set over its bound of {} ids",
            Self::MAX_IDS
        );
        self.slots[i] = word;
        self.len += 1;
        true
    }

    /// Removes `id`; false if it was not there.
    fn remove(&mut self, id: u64) -> bool {
        let Some(word) = id.checked_add(1) else {
            return std::mem::replace(&mut self.has_max, false);
        };
        if self.slots.is_empty() {
            return false;
        }
        let (mut hole, found) = self.find(word);
        if !found {
            return false;
        }
        // Backward shift: pull each later member of the probe run that may sit in the
        // hole (its home is not cyclically after the hole) back into it.
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let w = self.slots[j];
            if w == 0 {
                break;
            }
            let home = Self::home(w);
            if (hole.wrapping_sub(home) & mask) < (j.wrapping_sub(home) & mask) {
                self.slots[hole] = w;
                hole = j;
            }
        }
        self.slots[hole] = 0;
        self.len -= 1;
        true
    }
}

/// What a node keeps across a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// The highest round this node's proposer used (PAXOS.md #1: durable before a
    /// Prepare uses it).
    pub round: u64,
    /// The acceptor's promise: no ballot below it is accepted or promised.
    pub promised: Ballot,
    /// Per slot above the snapshot, the highest-ballot value accepted.
    pub accepted: Slots<(Ballot, Value)>,
    /// The latest snapshot; the accepted slots it covers are dropped. Shared (it never
    /// changes once taken) with the node's memory and the write that made it durable.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Slots whose accepted record fails its checksum (a storage fault): what this
    /// acceptor accepted there is unknown until a new accept overwrites the record or a
    /// snapshot covers the slot.
    pub damaged: BTreeSet<u64>,
}

impl Durable {
    /// The highest slot the snapshot covers (0 without one).
    pub fn low_water(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.upto)
    }
}

/// One write to a durable cell: the proposer's round, the acceptor's promise, its
/// accepted slots, the snapshot.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Write {
    Round(u64),
    Promise(Ballot),
    /// Accept `entries` in `ballot` and set the promise to `promise` (the ballot itself,
    /// unless the promise was already higher: accepting raises the promise, PMMC A2).
    Accept {
        ballot: Ballot,
        promise: Ballot,
        entries: Vec<(u64, Value)>,
    },
    Snapshot(Arc<Snapshot>),
    /// Drop every accepted slot at or below `upto` (written once the snapshot covering
    /// them is durable). `promise` is what the promise cell holds afterwards.
    Compact {
        upto: u64,
        promise: Ballot,
    },
}

/// Messages between Paxos nodes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Message {
    /// Phase 1a: promise `ballot` for every slot from `first_slot` on.
    Prepare { ballot: Ballot, first_slot: u64 },
    /// Phase 1b, one page of it: the accepted values at or above the Prepare's first slot,
    /// the acceptor's low-water mark, and (on page 0, when the low-water mark is at or past
    /// the first slot) its snapshot.
    Promise {
        ballot: Ballot,
        page: u32,
        pages: u32,
        low_water: u64,
        snapshot: Option<Arc<Snapshot>>,
        accepted: Vec<(u64, Ballot, Value)>,
    },
    /// The acceptor refused `ballot`: it promised `promised`, which is higher.
    Nack { ballot: Ballot, promised: Ballot },
    /// Phase 2a: accept these values in `ballot`. `chosen_upto`: every slot up to it is
    /// chosen (with the value this leader sent).
    Accept {
        ballot: Ballot,
        entries: Vec<(u64, Value)>,
        chosen_upto: u64,
    },
    /// Phase 2b: the acceptor accepted these slots in `ballot` (durable before it leaves).
    Accepted { ballot: Ballot, slots: Vec<u64> },
    /// The leader's heartbeat; `round` numbers it for leadership confirmation and leases.
    Heartbeat {
        ballot: Ballot,
        round: u64,
        chosen_upto: u64,
    },
    /// `at`: the acker's local time as it acked, which a lease granted for the round
    /// counts from.
    HeartbeatAck {
        ballot: Ballot,
        round: u64,
        executed: u64,
        at: LocalTime,
    },
    /// Every slot up to `upto` is chosen, with the value the leader of `ballot` sent.
    Chosen { ballot: Ballot, upto: u64 },
    /// A replica asks for the chosen values from slot `from` on (PML §5.5 catch-up).
    CatchUp { from: u64 },
    /// Chosen values, after a snapshot when the asker is behind the sender's compaction.
    Decided {
        snapshot: Option<Arc<Snapshot>>,
        entries: Vec<(u64, Value)>,
    },
    // Last, so that the digests of the messages above (their discriminants) stay as they
    // were: traces of runs that use neither follower leases nor storage faults keep their
    // hashes.
    /// Lease mode: the leader of `ballot` grants a read lease for `duration`, counted on
    /// the follower's clock from `acked_at`, when it sent its ack of heartbeat `round`,
    /// echoed from that ack (Ceph's monitor leases, bounded by the leader's own master
    /// lease).
    LeaseGrant {
        ballot: Ballot,
        round: u64,
        acked_at: LocalTime,
        duration: Duration,
    },
    /// The last page of a Promise from an acceptor whose storage is damaged: the slots at
    /// or above the Prepare's first slot whose accepted record it cannot read. They are
    /// missing from its other pages, and the candidate must hear of them from others.
    Damaged {
        ballot: Ballot,
        page: u32,
        pages: u32,
        slots: Vec<u64>,
    },
}

impl MessageKind for Message {
    fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "Prepare",
            Message::Promise { .. } => "Promise",
            Message::Nack { .. } => "Nack",
            Message::Accept { .. } => "Accept",
            Message::Accepted { .. } => "Accepted",
            Message::Heartbeat { .. } => "Heartbeat",
            Message::HeartbeatAck { .. } => "HeartbeatAck",
            Message::LeaseGrant { .. } => "LeaseGrant",
            Message::Damaged { .. } => "Damaged",
            Message::Chosen { .. } => "Chosen",
            Message::CatchUp { .. } => "CatchUp",
            Message::Decided { .. } => "Decided",
        }
    }
}

/// The chosen value of the slot after the executed prefix `executed`, if known (asked
/// after every step and every execution: one subtraction in the window).
fn next_chosen(chosen: &Slots<Value>, executed: u64) -> Option<&Value> {
    chosen.get(&(executed + 1))
}

/// The mutant switches, read once at start so the hot path tests a bool.
#[derive(Clone, Copy, Debug, Default)]
struct Bugs {
    ignore_accepted_in_promises: bool,
    ghost_reappearance: bool,
    promise_not_durable: bool,
    count_stale_promises: bool,
    prune_forgets_promise: bool,
    proposer_ballot_reuse_after_restart: bool,
    accept_without_raising_promise: bool,
    no_ballot_boost: bool,
    gc_without_low_water_mark: bool,
    no_epoch_fence: bool,
    master_lease_no_drift_margin: bool,
    serial_read_without_repair: bool,
    commit_while_peer_leases_stale: bool,
    truncate_on_corruption: bool,
    /// Any switch on: cross-node invariants (a chosen slot never changes) are no longer
    /// this node's to assert; the checkers judge them.
    any: bool,
}

impl Bugs {
    fn from_config(config: &Config) -> Bugs {
        Bugs {
            ignore_accepted_in_promises: config.bug("paxos.ignore_accepted_in_promises"),
            ghost_reappearance: config.bug("paxos.ghost_reappearance"),
            promise_not_durable: config.bug("paxos.promise_not_durable"),
            count_stale_promises: config.bug("paxos.count_stale_promises"),
            prune_forgets_promise: config.bug("paxos.prune_forgets_promise"),
            proposer_ballot_reuse_after_restart: config
                .bug("paxos.proposer_ballot_reuse_after_restart"),
            accept_without_raising_promise: config.bug("paxos.accept_without_raising_promise"),
            no_ballot_boost: config.bug("paxos.no_ballot_boost"),
            gc_without_low_water_mark: config.bug("paxos.gc_without_low_water_mark"),
            no_epoch_fence: config.bug("paxos.no_epoch_fence"),
            master_lease_no_drift_margin: config.bug("paxos.master_lease_no_drift_margin"),
            serial_read_without_repair: config.bug("paxos.serial_read_without_repair"),
            commit_while_peer_leases_stale: config.bug("paxos.commit_while_peer_leases_stale"),
            truncate_on_corruption: config.bug("paxos.truncate_on_corruption"),
            any: !config.bugs.is_empty(),
        }
    }
}

/// What the completion of one of this node's writes means to it.
#[derive(Clone, Debug)]
enum Effect {
    /// Nothing to do on completion (the round, a promise, a compaction).
    None,
    /// The node's own promise of its own ballot is durable: it counts as a promise.
    SelfPromise(Ballot),
    /// A follower's accept of these slots in this ballot is durable: its votes stand
    /// (`Report::Accepted`).
    Accepted(Ballot, Votes),
    /// The leader's own accept of these slots is durable: its votes stand, and count as
    /// its acceptance.
    SelfAccept(Ballot, Votes),
    /// The snapshot up to this slot is durable: the log it covers may now be dropped.
    Snapshot(u64),
}

/// Accepted entries as votes: (slot, the entry's term, its operation).
type Votes = Vec<(u64, u64, Option<OpId>)>;

fn votes(entries: &[(u64, Value)]) -> Votes {
    entries
        .iter()
        .map(|(slot, value)| (*slot, value.origin.as_term(), value.op()))
        .collect()
}

/// Tells the checkers of votes that are now durable: each entry accepted in `ballot` (a
/// value a majority accepts in one ballot is chosen, whether or not anyone learns it).
fn report_accepted(ballot: Ballot, votes: &Votes, out: &mut Outputs<Message, Write>) {
    for &(index, term, op) in votes {
        out.report(Report::Accepted {
            index,
            ballot: ballot.as_term(),
            term,
            op,
        });
    }
}

/// One acceptor's answer to phase 1, as the candidate assembles it from pages.
#[derive(Clone, Debug, Default)]
struct PromisePages {
    pages: u32,
    received: BTreeSet<u32>,
}

/// Volatile state of a node running phase 1.
#[derive(Debug)]
struct Candidate {
    ballot: Ballot,
    first_slot: u64,
    /// Acceptors whose every page arrived (self included once its promise is durable).
    promised: BTreeSet<NodeId>,
    pages: BTreeMap<NodeId, PromisePages>,
    /// Per slot, the highest-ballot value reported (PMMC `pmax`).
    merged: BTreeMap<u64, (Ballot, Value)>,
    /// Per slot, the acceptors whose record of it is damaged: their promise says nothing
    /// of it, so a majority of the others must report on it.
    damaged: BTreeMap<u64, BTreeSet<NodeId>>,
    /// The most advanced snapshot reported by an acceptor whose low-water mark is at or
    /// past `first_slot`.
    snapshot: Option<Arc<Snapshot>>,
    /// When the Prepare went out (local time): the majority that promised answered it
    /// after this, so the leader it makes is followed from then (`Leader::quorum_since`).
    started: LocalTime,
}

/// A slot the leader proposed and has not seen chosen.
#[derive(Debug)]
struct Proposal {
    value: Value,
    /// Acceptors that accepted it in the leader's ballot (self once durable).
    acks: Acks,
    /// When it was last sent (local time), for retransmission.
    sent_at: LocalTime,
}

/// A set of acceptors, one bit per node id up to 64 (the simulator's limit) and a list
/// beyond: a proposal's acceptances are counted on every Accepted, and a tree set cost
/// an allocation per proposal.
#[derive(Clone, Debug, Default)]
struct Acks {
    low: u64,
    high: Vec<NodeId>,
}

impl Acks {
    fn insert(&mut self, id: NodeId) {
        match id.0.checked_sub(1).filter(|&b| b < 64) {
            Some(bit) => self.low |= 1 << bit,
            None if !self.high.contains(&id) => self.high.push(id),
            None => {}
        }
    }

    fn contains(&self, id: &NodeId) -> bool {
        match id.0.checked_sub(1).filter(|&b| b < 64) {
            Some(bit) => self.low & (1 << bit) != 0,
            None => self.high.contains(id),
        }
    }

    fn len(&self) -> usize {
        self.low.count_ones() as usize + self.high.len()
    }
}

/// A read the leader answers once a quorum confirmed it leads and the read point is
/// executed.
#[derive(Clone, Debug)]
struct PendingRead {
    id: OpId,
    key: String,
    /// Every slot up to this one is executed before the read is answered.
    read_point: u64,
    /// The heartbeat round a quorum must answer (sent after the read arrived).
    round: u64,
}

/// A peer's ack of a heartbeat round, as its leader keeps it for the lease it grants.
#[derive(Clone, Copy, Debug)]
struct Ack {
    round: u64,
    /// What the peer said it had executed (true of the incarnation that sent it: the
    /// grant reaches no later one).
    executed: u64,
    /// The peer's local time as it acked, which the grant echoes.
    at: LocalTime,
}

/// Volatile state only a leader has.
#[derive(Debug)]
struct Leader {
    ballot: Ballot,
    /// The next free slot for a new command.
    next_slot: u64,
    proposals: Slots<Proposal>,
    /// The chosen prefix last announced to the replicas (the leader executes every slot
    /// as soon as the prefix reaches it, so its own chosen prefix is `executed`).
    announced_upto: u64,
    /// The last slot phase 1 recovered: the leader serves no read on its own authority
    /// before it executed through it (an earlier leader may have used those slots).
    recovery_end: u64,
    /// Client commands awaiting execution, by slot.
    pending: Slots<Arc<Command>>,
    reads: VecDeque<PendingRead>,
    /// Proposals made but not yet sent (flushed at the end of the step, one Accept per
    /// peer).
    unsent: Vec<u64>,
    round: u64,
    /// Start time (local) of each heartbeat round not yet known to be quorum-acked.
    round_started: VecDeque<(u64, LocalTime)>,
    /// Each peer's ack of the latest round it acked.
    acks: BTreeMap<NodeId, Ack>,
    quorum_round: u64,
    /// When the latest round a majority answered started (local time): a majority
    /// still followed this leader then. Phase 1 is the first such round.
    quorum_since: Option<LocalTime>,
    lease_until: Option<LocalTime>,
}

/// One Multi-Paxos node: acceptor, replica and potential leader.
#[derive(Debug)]
pub struct Paxos {
    id: NodeId,
    config: Config,
    peers: Vec<NodeId>,
    bugs: Bugs,
    lease_duration: Duration,
    snapshot_every: u64,

    // Durable state, mirrored in memory (written through `Write`).
    round: u64,
    promised: Ballot,
    accepted: Slots<(Ballot, Value)>,
    snapshot: Option<Arc<Snapshot>>,
    /// Slots whose accepted record is damaged (see [`Durable::damaged`]).
    damaged: BTreeSet<u64>,

    // Volatile state.
    role: Role,
    reported: Option<(Role, u64)>,
    leader_hint: Option<NodeId>,
    /// The highest round seen in any ballot (Nacks, Prepares): the next phase 1 goes past.
    highest_round_seen: u64,
    /// Known chosen values not yet dropped by compaction (executed ones serve catch-up).
    chosen: Slots<Value>,
    /// Every slot up to this one is executed.
    executed: u64,
    kv: Kv,
    applied: Applied,
    last_catch_up: Option<LocalTime>,
    /// This acceptor refuses other proposers' Prepares while the leader it last answered
    /// may still be alive (until local time: the leader's lease in lease mode), and in
    /// lease mode for a while after a restart (it may have granted one it forgot).
    lease_granted: Option<(NodeId, LocalTime)>,
    refuse_prepares_until: Option<LocalTime>,
    /// The local time of the step being taken (lease expiry is judged against it).
    now: LocalTime,
    /// Lease mode, as a follower: a read lease from the leader of this ballot, until this
    /// local time; void once the node promises a higher ballot.
    follower_lease: Option<(Ballot, LocalTime)>,
    /// When (local time) this incarnation started: a lease granted to an ack sent
    /// before it was granted to an earlier incarnation, caught up to what that one had
    /// executed.
    started: LocalTime,
    /// Lease mode, as a (possibly former) leader: the leases it granted, each until this
    /// local time at the latest (the holder's lease ends before this node's clock reads
    /// it). Kept across a loss of leadership: they bind what this node executes.
    lease_holders: BTreeMap<NodeId, LocalTime>,
    /// Per peer, a slot it is known to have accepted or executed: a lease holder that
    /// accepted a slot serves no read before it executed it.
    peer_progress: BTreeMap<NodeId, u64>,
    /// Lease mode: per peer, the highest slot it accepted (accepted records are durable,
    /// so this survives the peer's restarts, unlike what it executed).
    peer_accepted: BTreeMap<NodeId, u64>,
    candidate: Option<Box<Candidate>>,
    leader: Option<Box<Leader>>,
    /// `paxos.no_epoch_fence`: the client commands of a leadership this node lost.
    carried_pending: Slots<Arc<Command>>,
    next_tag: u64,
    writes_in_flight: VecDeque<(u64, Effect)>,
    snapshot_in_flight: bool,
    /// Scratch for `count_acceptance`: the slots an acceptance completes, and their
    /// values (empty between steps; kept for their allocations).
    newly_chosen: Vec<u64>,
    newly_chosen_values: Vec<(u64, Value)>,
}

impl Paxos {
    /// The mutants this crate can switch on.
    pub const BUGS: &'static [Bug] = &[
        Bug {
            name: "paxos.ignore_accepted_in_promises",
            summary: "a new leader proposes no-ops and new commands instead of the highest-ballot values its promises report (Paxos Made Simple §2.2)",
        },
        Bug {
            name: "paxos.promise_not_durable",
            summary: "the acceptor keeps a new promise in memory only and the Promise leaves at once; after a restart it accepts a ballot it had promised to refuse (Paxos Made Simple §2.5)",
        },
        Bug {
            name: "paxos.count_stale_promises",
            summary: "promises for an older ballot of the same proposer count toward the current phase 1, with the accepted values as they were then (Tencent/phxpaxos#145)",
        },
        Bug {
            name: "paxos.prune_forgets_promise",
            summary: "compacting executed slots also resets the acceptor's promise to the highest ballot among the slots it keeps, so a stale Accept of a lower ballot succeeds (scylladb#6154)",
        },
        Bug {
            name: "paxos.proposer_ballot_reuse_after_restart",
            summary: "the proposer's round counter is volatile and blind to its own durable promise: after a restart it may reuse a ballot it already used, and old promises of that ballot complete its quorum (Tencent/phxpaxos#145)",
        },
        Bug {
            name: "paxos.accept_without_raising_promise",
            summary: "accepting (b, v) (or answering a heartbeat of b) does not raise the acceptor's promise to b, so a delayed Accept of a lower ballot, still above the old promise, overwrites a chosen value (scylladb#6139)",
        },
        Bug {
            name: "paxos.no_ballot_boost",
            summary: "a leader that a majority still follows goes passive when one acceptor answers with a higher promise, instead of raising its ballot with a new phase 1, so a proposer returning from a partition with a high round deposes it (PML §5.2)",
        },
        Bug {
            name: "paxos.ghost_reappearance",
            summary: "a new leader serves lease reads before it has executed every slot phase 1 recovered from earlier leaders (Paxos Made Simple §3: an earlier leader may have used them)",
        },
        Bug {
            name: "paxos.gc_without_low_water_mark",
            summary: "promises do not report the acceptor's low-water mark or snapshot, so a new leader sees nothing at compacted slots and fills them with no-ops (PMMC §4.2)",
        },
        Bug {
            name: "paxos.no_epoch_fence",
            summary: "client commands survive a loss of leadership, and a re-elected leader answers ok when their slot executes, whatever it holds (PML §5.3)",
        },
        Bug {
            name: "paxos.master_lease_no_drift_margin",
            summary: "the leader trusts its lease for the full time the acceptors refuse other proposers, with no margin for clock drift (PML §5.2)",
        },
        Bug {
            name: "paxos.commit_while_peer_leases_stale",
            summary: "the leader executes and announces a chosen slot once a majority accepted it, while a follower that has not accepted it still holds a read lease and serves the old value (Ceph monitor #7736)",
        },
        Bug {
            name: "paxos.truncate_on_corruption",
            summary: "an acceptor that finds an accepted record failing its checksum when it starts discards it and every later one, and answers Prepares as if it had never accepted them (Alagappan et al., FAST'18, Protocol-Aware Recovery)",
        },
        Bug {
            name: "paxos.serial_read_without_repair",
            summary: "a quorum read answers from what the leader executed once a quorum confirms it, without first finishing the slots in progress (scylladb#6299, CASSANDRA-12126)",
        },
    ];

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn promised(&self) -> Ballot {
        self.promised
    }
    /// The ballot this node leads with, if it leads.
    pub fn leader_ballot(&self) -> Option<Ballot> {
        self.leader.as_ref().map(|l| l.ballot)
    }
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader_hint
    }
    pub fn executed(&self) -> u64 {
        self.executed
    }
    pub fn kv(&self) -> &Kv {
        &self.kv
    }
    /// The acceptor's accepted slots (in memory; may run ahead of the durable image).
    pub fn accepted(&self) -> &Slots<(Ballot, Value)> {
        &self.accepted
    }
    /// Known chosen values not yet compacted away.
    pub fn chosen(&self) -> &Slots<Value> {
        &self.chosen
    }
    /// The slot up to which this node compacted its log (0: none).
    pub fn low_water(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.upto)
    }

    fn quorum(&self) -> usize {
        protocol::quorum(self.config.voters.len())
    }

    /// Issues a durable write and remembers what its completion means.
    fn write(&mut self, write: Write, effect: Effect, out: &mut Outputs<Message, Write>) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.writes_in_flight.push_back((tag, effect));
        out.write(tag, write);
    }

    /// Reports the role and term if either changed since the last report. A follower's
    /// term is the ballot it promised.
    fn report_role(&mut self, out: &mut Outputs<Message, Write>) {
        let now = self.role();
        if self.reported != Some(now) {
            self.reported = Some(now);
            out.report(Report::Role {
                role: now.0,
                term: now.1,
            });
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
        } else if self.leader.is_some() {
            self.propose_command(now, command, out);
        } else {
            out.reply(
                command.id,
                Reply::NotLeader {
                    hint: self.leader_hint.filter(|&h| h != self.id),
                },
            );
        }
    }

    fn step_message(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        if !self.config.voters.contains(&from) || from == self.id {
            out.mark("paxos.message_from_non_member_ignored");
            return;
        }
        match msg {
            Message::Prepare { ballot, first_slot } => {
                self.handle_prepare(now, from, ballot, first_slot, out)
            }
            Message::Promise {
                ballot,
                page,
                pages,
                low_water,
                snapshot,
                accepted,
            } => self.handle_promise(
                now,
                from,
                ballot,
                page,
                pages,
                low_water,
                snapshot,
                accepted,
                Vec::new(),
                out,
            ),
            Message::Damaged {
                ballot,
                page,
                pages,
                slots,
            } => self.handle_promise(
                now,
                from,
                ballot,
                page,
                pages,
                0,
                None,
                Vec::new(),
                slots,
                out,
            ),
            Message::Nack { ballot, promised } => self.handle_nack(now, ballot, promised, out),
            Message::Accept {
                ballot,
                entries,
                chosen_upto,
            } => self.handle_accept(now, from, ballot, entries, chosen_upto, out),
            Message::Accepted { ballot, slots } => {
                self.handle_accepted(now, from, ballot, slots, out)
            }
            Message::Heartbeat {
                ballot,
                round,
                chosen_upto,
            } => self.handle_heartbeat(now, from, ballot, round, chosen_upto, out),
            Message::HeartbeatAck {
                ballot,
                round,
                executed,
                at,
            } => self.handle_heartbeat_ack(from, ballot, round, executed, at, out),
            Message::LeaseGrant {
                ballot,
                acked_at,
                duration,
                ..
            } => self.handle_lease_grant(ballot, acked_at, duration),
            Message::Chosen { ballot, upto } => {
                // A leader of a higher ballot chose values: ours is over.
                self.yield_to(ballot, out);
                self.learn_chosen(now, from, ballot, upto, out)
            }
            Message::CatchUp { from: slot } => self.handle_catch_up(from, slot, out),
            Message::Decided { snapshot, entries } => {
                self.handle_decided(now, snapshot, entries, out)
            }
        }
    }

    fn handle_write_done(&mut self, now: LocalTime, tag: u64, out: &mut Outputs<Message, Write>) {
        while let Some((t, _)) = self.writes_in_flight.front() {
            if *t > tag {
                break;
            }
            let (_, effect) = self.writes_in_flight.pop_front().expect("front exists");
            match effect {
                Effect::None => {}
                Effect::SelfPromise(ballot) => self.self_promised(now, ballot, out),
                Effect::Accepted(ballot, votes) => report_accepted(ballot, &votes, out),
                Effect::SelfAccept(ballot, votes) => {
                    report_accepted(ballot, &votes, out);
                    let id = self.id;
                    let slots: Vec<u64> = votes.iter().map(|v| v.0).collect();
                    self.count_acceptance(now, id, ballot, &slots, out)
                }
                Effect::Snapshot(upto) => self.snapshot_durable(upto, out),
            }
        }
    }

    /// Invariants that hold after every step (TigerBeetle style: the second line of
    /// defence).
    fn check_invariants(&self) {
        debug_assert!(
            self.damaged.first().is_none_or(|&s| s > self.low_water()),
            "{}: a damaged record at or below the low-water mark {} is still kept",
            self.id,
            self.low_water()
        );
        debug_assert!(
            self.chosen
                .first_key_value()
                .is_none_or(|(s, _)| s > self.low_water()),
            "{}: a chosen slot at or below the low-water mark {} is still kept",
            self.id,
            self.low_water()
        );
        debug_assert!(
            next_chosen(&self.chosen, self.executed).is_none()
                || self.executed + 1 > self.execute_limit(),
            "{}: slot {} is chosen but not executed",
            self.id,
            self.executed + 1
        );
        if let Some(leader) = &self.leader {
            debug_assert!(self.candidate.is_none());
            debug_assert!(
                self.promised == leader.ballot || self.bugs.any,
                "{} leads {} but promised {}",
                self.id,
                leader.ballot,
                self.promised
            );
            debug_assert!(
                leader
                    .proposals
                    .first_key_value()
                    .is_none_or(|(s, _)| s > self.executed)
                    && leader
                        .proposals
                        .last_key_value()
                        .is_none_or(|(s, _)| s < leader.next_slot),
                "{}: a proposal outside (executed {}, next slot {})",
                self.id,
                self.executed,
                leader.next_slot
            );
        }
        if let Some(c) = &self.candidate {
            debug_assert!(self.promised >= c.ballot || self.bugs.any);
        }
        debug_assert!(
            self.round >= self.promised.round || self.promised.node != self.id || self.bugs.any,
            "{}: promised its own ballot {} beyond its durable round {}",
            self.id,
            self.promised,
            self.round
        );
    }
}

impl Protocol for Paxos {
    type Message = Message;
    type Durable = Durable;
    type Write = Write;

    const NAME: &'static str = "paxos";
    const REVISION: u32 = 3;
    const BUGS: &'static [Bug] = Paxos::BUGS;
    const READ_MODES: &'static [ReadMode] = &[
        ReadMode::Log,
        ReadMode::Quorum,
        ReadMode::Lease,
        ReadMode::Local,
    ];
    const OPTIONS: &'static [OptionSpec] = &[OPTION_SNAPSHOT_EVERY];
    const STORAGE_FAULTS: bool = true;
    // A replica applies a command chosen in two slots once (`Applied`, PMMC).
    const DEDUPLICATES: bool = true;

    /// In every mode an acceptor that answered the leader refuses other proposers for the
    /// minimum election timeout (`lease_granted`), and a followed leader preempted by a
    /// higher ballot boosts its own (PML §5.2) rather than hand over.
    fn fence(_config: &Config) -> protocol::Fence {
        protocol::Fence::Leadership
    }

    /// An Accept or Heartbeat not below the promise renews the acceptor's
    /// `lease_granted` (`note_leader`); a HeartbeatAck of the leader's ballot is what
    /// tells the leader it is followed (`quorum_since`, the boost's condition).
    fn fence_signal(&self, _from: NodeId, msg: &Message) -> protocol::FenceSignal {
        match msg {
            Message::Accept { ballot, .. } | Message::Heartbeat { ballot, .. }
                if *ballot >= self.promised =>
            {
                protocol::FenceSignal::Renews
            }
            Message::HeartbeatAck { ballot, .. }
                if self.leader.as_ref().is_some_and(|l| l.ballot == *ballot) =>
            {
                protocol::FenceSignal::Acks
            }
            _ => protocol::FenceSignal::None,
        }
    }
    /// Every coverage mark `out.mark(..)` can report (`sim fuzz --marks` lists them;
    /// tests/marks.rs checks this list against the crate's source).
    const MESSAGE_KINDS: &'static [&'static str] = &[
        "Prepare",
        "Promise",
        "Nack",
        "Accept",
        "Accepted",
        "Heartbeat",
        "HeartbeatAck",
        "LeaseGrant",
        "Damaged",
        "Chosen",
        "CatchUp",
        "Decided",
    ];
    const WRITE_KINDS: &'static [&'static str] =
        &["round", "promise", "accept", "snapshot", "compact"];
    const MARKS: &'static [&'static str] = &[
        "paxos.accept_below_low_water",
        "paxos.accept_retransmitted",
        "paxos.ballot_boosted",
        "paxos.catch_up_by_snapshot",
        "paxos.catch_up_requested",
        "paxos.damaged_record_overwritten",
        "paxos.duplicate_command_skipped",
        "paxos.execution_held_for_lease_holder",
        "paxos.follower_lease_granted",
        "paxos.follower_lease_read",
        "paxos.follower_read_behind_its_accepts",
        "paxos.heartbeat_raised_promise",
        "paxos.hole_filled_with_noop",
        "paxos.leader_installed_snapshot_from_promise",
        "paxos.leader_overtaken_by_chosen_slots",
        "paxos.lease_read_before_recovery",
        "paxos.lease_read_fell_back_to_quorum",
        "paxos.message_from_non_member_ignored",
        "paxos.ok_across_leadership_change",
        "paxos.own_acceptor_refused_own_ballot",
        "paxos.pending_slot_taken_by_later_ballot",
        "paxos.phase1_waits_for_intact_reports",
        "paxos.preempted",
        "paxos.prepare_refused_after_restart",
        "paxos.prepare_refused_by_leader",
        "paxos.prepare_refused_leader_alive",
        "paxos.prepare_repeated",
        "paxos.prepare_retransmit_held_for_writes",
        "paxos.promise_lost_in_compaction",
        "paxos.recovered_accepted_value",
        "paxos.replica_installed_snapshot",
        "paxos.slot_chosen_twice",
        "paxos.snapshot_installed",
        "paxos.snapshot_repairs_damaged_record",
        "paxos.snapshot_taken",
        "paxos.stale_promise_counted",
        "paxos.started_with_damaged_records",
        "paxos.truncated_at_damaged_record",
        "paxos.yielded_to_higher_ballot",
    ];
    const NEVER_WHEN_CORRECT: &'static [&'static str] = &[
        // Only a mutant takes these paths.
        "paxos.lease_read_before_recovery",
        "paxos.ok_across_leadership_change",
        "paxos.own_acceptor_refused_own_ballot",
        "paxos.promise_lost_in_compaction",
        "paxos.stale_promise_counted",
        "paxos.truncated_at_damaged_record",
        // An invariant broken: it asserts unless a mutant is on.
        "paxos.slot_chosen_twice",
        // An input no driver gives: a message from outside the servers, or from itself.
        "paxos.message_from_non_member_ignored",
    ];

    fn check_config(config: &Config) -> Result<(), ConfigError> {
        protocol::check_common(Self::NAME, Self::BUGS, Self::READ_MODES, config)?;
        protocol::check_options(Self::NAME, Self::OPTIONS, config)?;
        if !config.observers.is_empty() {
            return Err(ConfigError {
                field: "options.observers".into(),
                message: "paxos has no non-voting learners; remove the observers".into(),
            });
        }
        if let Some(n) = config.voters.iter().find(|n| n.0 >= MAX_NODE_ID) {
            return Err(ConfigError {
                field: "nodes".into(),
                message: format!("paxos numbers ballots by node id below {MAX_NODE_ID}, got {n}"),
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
    ) -> Paxos {
        let bugs = Bugs::from_config(config);
        let lease_duration = if bugs.master_lease_no_drift_margin {
            config.election_timeout.0
        } else {
            protocol::lease_duration(config)
        };
        let snapshot = durable.snapshot.clone();
        let mut accepted = durable.accepted.clone();
        // A damaged record the durable snapshot covers is moot (a crash can fall between
        // the snapshot and the compaction that drops what it covers).
        let mut damaged: BTreeSet<u64> = durable
            .damaged
            .range(durable.low_water() + 1..)
            .copied()
            .collect();
        if let Some(&first) = damaged.first() {
            out.mark("paxos.started_with_damaged_records");
            if bugs.truncate_on_corruption {
                // The bug: a checksum mismatch is taken for a torn tail, and the log is
                // cut there, as if this acceptor had never accepted anything from it on.
                out.mark("paxos.truncated_at_damaged_record");
                accepted.split_off(&first);
                damaged.clear();
            }
        }
        let (executed, kv, applied) = match &snapshot {
            Some(s) => (s.upto, s.kv.clone(), s.applied.clone()),
            None => (0, Kv::default(), Applied::default()),
        };
        let mut paxos = Paxos {
            id,
            peers: config.voters.iter().copied().filter(|&p| p != id).collect(),
            bugs,
            lease_duration,
            snapshot_every: config.option_count(&OPTION_SNAPSHOT_EVERY),
            config: config.clone(),
            round: if bugs.proposer_ballot_reuse_after_restart {
                0 // the bug: the counter starts over
            } else {
                durable.round
            },
            promised: durable.promised,
            accepted,
            snapshot,
            damaged,
            role: Role::Follower,
            reported: None,
            leader_hint: None,
            highest_round_seen: 0,
            chosen: Slots::new(),
            executed,
            kv,
            applied,
            last_catch_up: None,
            lease_granted: None,
            refuse_prepares_until: (config.read_mode == ReadMode::Lease)
                .then(|| now + config.election_timeout.0),
            now,
            follower_lease: None,
            started: now,
            lease_holders: BTreeMap::new(),
            peer_progress: BTreeMap::new(),
            peer_accepted: BTreeMap::new(),
            candidate: None,
            leader: None,
            carried_pending: Slots::new(),
            next_tag: 0,
            writes_in_flight: VecDeque::new(),
            snapshot_in_flight: false,
            newly_chosen: Vec::new(),
            newly_chosen_values: Vec::new(),
        };
        paxos.report_role(out);
        paxos.reset_election_timer(out);
        paxos.check_invariants();
        paxos
    }

    fn step(&mut self, now: LocalTime, input: Input<Message>, out: &mut Outputs<Message, Write>) {
        self.now = now;
        match input {
            Input::Message { from, msg } => self.step_message(now, from, msg, out),
            Input::Timer(timer) => self.handle_timer(now, timer, out),
            Input::Client(command) => self.handle_client(now, command, out),
            Input::WriteDone { tag } => self.handle_write_done(now, tag, out),
            // Paxos tolerates message loss; a reset connection needs no action.
            Input::Disconnected { .. } => {}
            // Check_no_membership refuses such scenarios; nothing to do.
            Input::ChangeMembership(_) => {}
        }
        if !self.lease_holders.is_empty() {
            // A lease holder caught up or a lease expired: execution may go on.
            self.prune_lease_holders();
            self.execute(out);
        }
        self.flush(out);
        self.report_role(out);
        self.check_invariants();
    }

    fn persist(durable: &mut Durable, write: &Write) {
        match write {
            Write::Round(round) => durable.round = durable.round.max(*round),
            Write::Promise(ballot) => {
                // PMMC A1: a promise only ever rises (compaction, below, keeps it).
                assert!(
                    *ballot > durable.promised,
                    "promise going from {} to {ballot}",
                    durable.promised
                );
                durable.promised = *ballot;
            }
            Write::Accept {
                ballot,
                promise,
                entries,
            } => {
                assert!(
                    *promise >= durable.promised,
                    "accepting in {ballot} lowers the promise from {} to {promise}",
                    durable.promised
                );
                durable.promised = *promise;
                let low_water = durable.low_water();
                for (slot, value) in entries {
                    if *slot > low_water {
                        durable.accepted.insert(*slot, (*ballot, value.clone()));
                        durable.damaged.remove(slot);
                    }
                }
            }
            Write::Snapshot(snapshot) => {
                if snapshot.upto > durable.low_water() {
                    durable.snapshot = Some(snapshot.clone());
                }
            }
            Write::Compact { upto, promise } => {
                assert!(
                    *upto <= durable.low_water(),
                    "compacting up to {upto} past the durable snapshot at {}",
                    durable.low_water()
                );
                durable.accepted.retain_from(upto + 1);
                durable.damaged = durable.damaged.split_off(&(upto + 1));
                durable.promised = *promise;
            }
        }
    }

    /// Damages one accepted record (the promise and the snapshot are left whole).
    fn corrupt(durable: &mut Durable, pick: u64, spared: &BTreeSet<u64>) -> Option<String> {
        let count = durable.accepted.len() as u64;
        if count == 0 {
            return None;
        }
        let drawn = durable.accepted.keys().nth((pick % count) as usize)?;
        let mut slot = drawn;
        if spared.contains(&drawn) {
            // Another draw from the same pick, among the records that may be damaged.
            let open = |s: &u64| !spared.contains(s);
            let left = durable.accepted.keys().filter(open).count() as u64;
            if left == 0 {
                return None;
            }
            slot = durable
                .accepted
                .keys()
                .filter(open)
                .nth(((pick / count) % left) as usize)?;
        }
        durable.accepted.remove(&slot);
        durable.damaged.insert(slot);
        Some(if slot == drawn {
            format!("accepted record of slot {slot}")
        } else {
            format!(
                "accepted record of slot {slot}; slot {drawn}, drawn first, {}",
                protocol::SPARED
            )
        })
    }

    fn damaged(durable: &Durable) -> Vec<u64> {
        durable.damaged.iter().copied().collect()
    }

    fn write_kind(write: &Write) -> &'static str {
        match write {
            Write::Round(_) => "round",
            Write::Promise(_) => "promise",
            Write::Accept { .. } => "accept",
            Write::Snapshot(_) => "snapshot",
            Write::Compact { .. } => "compact",
        }
    }

    fn role(&self) -> (Role, u64) {
        match (&self.leader, &self.candidate) {
            (Some(l), _) => (Role::Leader, l.ballot.as_term()),
            (None, Some(c)) => (Role::Candidate, c.ballot.as_term()),
            (None, None) => (Role::Follower, self.promised.as_term()),
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
                b.ignore_accepted_in_promises,
                b.ghost_reappearance,
                b.promise_not_durable,
                b.count_stale_promises,
                b.prune_forgets_promise,
                b.proposer_ballot_reuse_after_restart,
                b.accept_without_raising_promise,
                b.no_ballot_boost,
                b.gc_without_low_water_mark,
                b.no_epoch_fence,
                b.master_lease_no_drift_margin,
                b.serial_read_without_repair,
                b.commit_while_peer_leases_stale,
                b.truncate_on_corruption,
            ]
        };
        let mut seen = vec![false; flags(&Bugs::default()).len()];
        for bug in Paxos::BUGS {
            let mut config = Config::new(vec![NodeId(1)]);
            config.bugs.insert(bug.name.to_string());
            assert!(Paxos::check_config(&config).is_ok(), "{}", bug.name);
            let b = Bugs::from_config(&config);
            assert!(b.any);
            let on: Vec<usize> = (0..seen.len()).filter(|&i| flags(&b)[i]).collect();
            assert_eq!(on.len(), 1, "{} switches {on:?}", bug.name);
            seen[on[0]] = true;
        }
        assert!(seen.iter().all(|&s| s), "a switch no BUGS entry turns on");
    }

    /// The layout `Applied` had (its hash and print are the ones to keep), under its name.
    /// Acceptances count each acceptor once, by bit up to id 64 and by list beyond
    /// (ids the simulator never hands out, but a library user may).
    #[test]
    fn acks_count_each_acceptor_once_whatever_its_id() {
        let mut a = super::Acks::default();
        for id in [1, 64, 65, 0, 200, 1, 64, 65, 0, 200, 7] {
            a.insert(NodeId(id));
        }
        assert_eq!(a.len(), 6);
        for id in [0, 1, 7, 64, 65, 200] {
            assert!(a.contains(&NodeId(id)), "n{id}");
        }
        for id in [2, 63, 66, 199] {
            assert!(!a.contains(&NodeId(id)), "n{id}");
        }
    }

    mod before {
        use super::super::{OpId, APPLIED_REMEMBERED};
        use std::collections::{BTreeSet, VecDeque};

        #[derive(Default, Hash, Debug)]
        pub struct Applied {
            pub order: VecDeque<OpId>,
            pub set: BTreeSet<OpId>,
        }

        impl Applied {
            pub fn insert(&mut self, id: OpId) -> bool {
                if !self.set.insert(id) {
                    return false;
                }
                self.order.push_back(id);
                if self.order.len() > APPLIED_REMEMBERED {
                    let old = self.order.pop_front().expect("non-empty");
                    self.set.remove(&old);
                }
                true
            }
        }
    }

    #[test]
    fn applied_answers_hashes_and_prints_as_a_deque_and_a_tree_set() {
        fn hash_of(x: &impl std::hash::Hash) -> u64 {
            use std::hash::Hasher;
            let mut h = std::hash::DefaultHasher::new();
            x.hash(&mut h);
            h.finish()
        }
        let mut applied = Applied::default();
        let mut model = before::Applied::default();
        assert_eq!(hash_of(&applied), hash_of(&model));
        assert_eq!(format!("{applied:?}"), format!("{model:?}"));
        let mut x: u64 = 11;
        for step in 0..30_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly fresh ids, some repeats of recent and forgotten ones, and the edges.
            let id = match (x >> 40) % 8 {
                0 => OpId(step.saturating_sub((x >> 20) % 6000)),
                3 if (10_000..12_000).contains(&step) => OpId(step << 20),
                1 if step % 97 == 0 => OpId(u64::MAX),
                2 if step % 89 == 0 => OpId(0),
                _ => OpId(step),
            };
            assert_eq!(applied.insert(id), model.insert(id), "step {step}, {id}");
            assert_eq!(applied.len(), model.order.len());
            if step % 1000 == 0 || step > 29_990 {
                assert_eq!(hash_of(&applied), hash_of(&model), "step {step}");
                assert_eq!(applied, applied.clone());
            }
        }
        assert_eq!(format!("{applied:?}"), format!("{model:?}"));
        assert_eq!(
            applied.set.len,
            model.set.len() - usize::from(applied.set.has_max)
        );
    }

    /// `sorted` gives the ids ascending both when the order is nearly sorted already (the
    /// insertion sort's pass) and when it is far from it (past the insertion sort's budget,
    /// the bucket sort).
    #[test]
    fn applied_ids_come_out_ascending_whether_nearly_in_order_or_far_from_it() {
        let mut x: u64 = 5;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for far in [false, true] {
            let mut applied = Applied::default();
            let mut ids: Vec<u64> = (0..APPLIED_REMEMBERED as u64 + 500).collect();
            if far {
                for i in (1..ids.len()).rev() {
                    ids.swap(i, next() as usize % (i + 1));
                }
            } else {
                // Each id late by up to ten places: operations in flight.
                for i in 0..ids.len() {
                    let j = (i + next() as usize % 10).min(ids.len() - 1);
                    ids.swap(i, j);
                }
            }
            for &id in &ids {
                applied.insert(OpId(id));
            }
            let mut expected: Vec<OpId> = applied.order.iter().copied().collect();
            expected.sort_unstable();
            assert_eq!(applied.sorted(), expected, "far: {far}");
            assert_eq!(applied.bucket_sorted(), expected, "far: {far}");
        }
    }

    #[test]
    fn ballots_order_by_round_then_node_and_map_onto_ordered_terms() {
        let a = Ballot::new(3, NodeId(5));
        let b = Ballot::new(4, NodeId(1));
        let c = Ballot::new(4, NodeId(2));
        assert!(Ballot::ZERO < a && a < b && b < c);
        assert!(a.as_term() < b.as_term() && b.as_term() < c.as_term());
        assert_eq!(c.as_term(), 4002);
    }
}
