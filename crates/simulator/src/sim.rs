//! The event loop: one queue ordered by (true time, sequence number), one protocol state
//! machine per node, and the world around them.
//!
//! Everything that happens is an event in the queue; nothing happens between events. A
//! node's step runs to completion, then its outputs take effect in order: sends enter the
//! network (or wait for the node's writes), timers are armed in local time, writes enter
//! the node's disk queue, replies travel back to clients, and reports reach the trace and
//! the ghost record.

use crate::history::{ClientHistory, OpKind, CLIENT_BITS};
use crate::queue::{ArmedTimers, DueTimer, EventQueue, TimerSet};
use crate::rng::{Rng, Stream};
use crate::scenario::{
    Fault, NemesisSpec, NodeSel, Scenario, Target, NEMESIS_KINDS, NEMESIS_KIND_COUNT,
};
use crate::trace::{digest, Event, EventLog, Kind};
use crate::world::{Clock, Links};
use checker::disruption::{self, DisruptionWatch, Standing};
use checker::safety::{Committed, LogWatch, NodeEvent, Standing as ElectionStanding, What};
use protocol::{
    Command, Config, Delivery, Input, LocalTime, MembershipChange, MessageKind, NodeId, Op, OpId,
    OpResult, Output, Outputs, Protocol, Reply, Report, Role, TimerId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a client waits before retrying elsewhere when a node knows no leader.
const REDIRECT_BACKOFF_NS: u64 = 10_000_000;

/// Runs with more events than this stop with an error rather than running away, unless
/// `RunOptions::max_events` says otherwise.
pub const MAX_EVENTS: u64 = 200_000_000;

/// The largest event budget a run may be given (`--max-events`): the event queue's
/// sequence numbers (2^40) leave room for this many events, each arming timers and
/// sending to up to 63 peers.
pub const MAX_EVENTS_LIMIT: u64 = 10_000_000_000;

/// At most this many events wait in the queue at once (messages in flight, armed client
/// turns, faults to undo). A healthy run holds a few thousand; one whose messages each
/// beget more than one (a reply per duplicate that sends a new request) grows without
/// bound, a gigabyte every second or so, and is stopped with a message (exit 3) before
/// it exhausts the machine (Raft swarm seed 141876 held 21 M at 8.4 s simulated, 11 GiB).
pub const MAX_WAITING_EVENTS: usize = 1 << 22;

/// Where a message or a reply is in its life.
enum Ev<M> {
    Deliver {
        from: u32,
        to: u32,
        wire: Wire<M>,
    },
    WriteDone {
        node: u32,
        incarnation: u32,
    },
    Disconnected {
        node: u32,
        peer: u32,
        incarnation: u32,
    },
    ClientArrive {
        node: u32,
        incarnation: u32,
        cmd: Command,
    },
    ClientReply {
        client: u32,
        id: OpId,
        reply: Reply,
        node: u32,
    },
    ClientTimeout {
        client: u32,
        id: OpId,
    },
    ClientNext {
        client: u32,
    },
    Fault {
        fault: Fault,
        from_nemesis: bool,
    },
    NemesisTick,
    NemesisHealAll,
    /// A node just became leader: the faults waiting for one strike.
    NemesisOnLeader,
    /// Node `node` just took a trigger mark: the faults of `kinds` that waited for one
    /// strike, at it.
    NemesisOnMark {
        node: u32,
        kinds: [bool; NEMESIS_KIND_COUNT],
    },
}

/// What the event loop takes next: a queued event (by its slot) or a due timer.
enum Next {
    Event(u32),
    Timer(DueTimer),
}

/// Something a node handles: at once, or on resume (in arrival order) if it is paused.
enum Stashed<M> {
    Message {
        from: u32,
        msg: M,
        sent_at: u64,
        echo_ns: u64,
    },
    Timer {
        timer: TimerId,
        generation: u64,
    },
    WriteDone {
        tag: u64,
    },
    Disconnected {
        peer: u32,
    },
    Client(Command),
    Membership(MembershipChange),
}

/// A message on its way: what was sent, when, on which FIFO connection and as which of its
/// messages, to which incarnation of the receiver.
struct Wire<M> {
    msg: M,
    sent_at: u64,
    /// The FIFO connection it was sent on (bumped by every reset).
    epoch: u32,
    /// Its place on that connection: the receiver hands messages over in this order.
    seq: u64,
    to_incarnation: u32,
    /// For the disruption checker: the send time of the last message of the receiver
    /// (as leader) the sender had taken as word of its leadership (0 if none).
    echo_ns: u64,
}

/// What a node holds until its writes complete.
enum Held<M> {
    /// `epoch`: the FIFO connection to `to` when the step sent it (see `notify_write`).
    Send {
        to: u32,
        msg: M,
        epoch: u32,
    },
    Reply {
        id: OpId,
        reply: Reply,
    },
}

struct Node<P: Protocol> {
    id: u32,
    state: Option<P>,
    durable: P::Durable,
    incarnation: u32,
    paused: bool,
    stash: VecDeque<Stashed<P::Message>>,
    clock: Clock,
    /// The clock rate the scenario gave this node (a `drift` fault's undo returns to it).
    base_rate: f64,
    /// Armed timers: id -> (generation, local deadline). The one that has not fired yet
    /// waits in the simulation's [`TimerSet`]; one that fired while the node was paused
    /// waits in the stash, still armed.
    timers: ArmedTimers,
    timer_generation: u64,
    /// Writes issued and not yet complete, oldest first.
    writes: VecDeque<(u64, P::Write)>,
    last_write_done_at: u64,
    writes_issued: u64,
    /// Completions the node has been told of (a paused node learns of them on resume).
    writes_notified: u64,
    held: VecDeque<(u64, Held<P::Message>)>,
    role: Role,
    term: u64,
    /// The read lease this node last reported: (term, local deadline). Its end in true time
    /// moves when the node's clock is stepped or drifts, so the ghost record follows it.
    lease: Option<(u64, u64)>,
    /// The voting members this node last reported (the initial membership until then).
    members: Vec<u32>,
    /// `members` changed since the leader-completeness check last read them.
    members_changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(OpResult),
    /// The operation did not happen.
    Fail,
    /// The operation may or may not have happened (timeout, or an error that says so).
    Info,
}

pub use crate::history::HistoryOp;

struct Client {
    process: u64,
    current: Option<usize>,
    target: u32,
    leader_guess: Option<u32>,
    /// The time of this client's timeout entry still in the queue, and the timeout of a
    /// later operation deferred to it: (true time, sequence number, operation). An
    /// operation that completes leaves its timeout queued; the next one's, always later,
    /// waits for it rather than adding another.
    timeout_carrier: Option<u64>,
    deferred_timeout: Option<(u64, u64, OpId)>,
    /// A sticky session's own server. It moves when an operation times out: a session
    /// whose server stopped answering (crashed for good, or removed from the membership
    /// and so told of no leader) reconnects elsewhere, as ZooKeeper's and etcd's clients do.
    home: u32,
    /// Since when the session's server has answered that it knows no leader.
    leaderless_since: Option<u64>,
    /// How many more times the current operation may be sent again when it times out
    /// (`[workload] retries`).
    retries_left: u32,
}

/// A leader as the ghost record saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderRecord {
    pub node: u32,
    pub term: u64,
    pub at_ns: u64,
}

/// The first moment each index was known committed anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    pub index: u64,
    pub term: u64,
    pub op: Option<OpId>,
    pub node: u32,
    pub at_ns: u64,
}

/// A lease interval in true time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    pub node: u32,
    pub term: u64,
    pub from_ns: u64,
    pub until_ns: u64,
}

/// A fault as it was actually applied (scheduled or drawn by the nemesis).
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedFault {
    pub at_ns: u64,
    pub fault: Fault,
    /// The node a selector such as "leader" resolved to.
    pub node: Option<u32>,
    pub from_nemesis: bool,
    /// What the fault did, where its kind says more than its name: for `corrupt`, the
    /// record the protocol damaged, or that there was nothing to damage.
    pub outcome: Option<String>,
}

/// A protocol's own assertion that stopped a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The node whose step asserted.
    pub node: u32,
    pub at_ns: u64,
    /// The assertion's message.
    pub message: String,
}

impl std::fmt::Display for Stop {
    /// `n2 at 6.551s: <message>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n{} at {:.3}s: {}",
            self.node,
            self.at_ns as f64 / 1e9,
            self.message
        )
    }
}

/// What a panic said (its payload, when it is text).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunOutput {
    pub protocol: &'static str,
    /// The protocol's `Protocol::REVISION`.
    pub protocol_revision: u32,
    pub seed: u64,
    /// Mutants on in this run (the scenario's and the command line's).
    pub bugs: Vec<String>,
    pub swarm: bool,
    /// The nemesis as this run drew it (after swarm choices), if any.
    pub nemesis: Option<NemesisSpec>,
    pub end_ns: u64,
    pub log: EventLog,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub queue_events: u64,
    /// Operation ids carry their client in the low bits so a reply finds its way home
    /// (see [`crate::history::CLIENT_BITS`]).
    pub history: ClientHistory,
    /// What nodes said about themselves: roles, crashes, leases, reads on their own
    /// authority, and of commits and applies the first of each index and any that
    /// disagrees (all of them when the run keeps its events).
    pub node_events: Vec<NodeEvent>,
    /// Log safety, judged as the run went (from every commit and apply, and ahead of
    /// time from the nodes' standings: `LogWatch::completeness`).
    pub log_safety: checker::safety::Verdict,
    /// Log safety over the record alone (what `checker::safety::log_safety` gives for
    /// every event the run reported), without what only the running nodes showed.
    pub log_safety_record: checker::safety::Verdict,
    /// Disruption, judged as the run went (from every role report, fault and message a
    /// node handled).
    pub disruption: checker::safety::Verdict,
    pub leaders: Vec<LeaderRecord>,
    pub leases: Vec<LeaseRecord>,
    pub faults: Vec<AppliedFault>,
    pub marks: BTreeMap<&'static str, u64>,
    /// Each node's role and term at the end, and its clock offset from true time.
    pub final_roles: Vec<(u32, Role, u64, i64)>,
    /// The time of the last fault of any kind, or of the nemesis's final heal (liveness is
    /// judged from here).
    pub last_heal_ns: u64,
    /// Set when, after the last fault, no live voter can exchange messages both ways with a
    /// majority of its membership (itself included): crashed or paused nodes and cuts or
    /// clogs left in place. No leader-based protocol can then make progress, so liveness is
    /// not judged; the text says who was up and what each could reach.
    pub stranded: Option<String>,
    /// Set when a protocol's own assertion stopped the run (at `end_ns`): everything
    /// above is what happened up to it, and the last event is the stop.
    pub stopped: Option<Stop>,
}

impl RunOutput {
    /// The first moment each index was known committed anywhere, by index. Derived from
    /// `node_events`, which keep every index's first commit report (see
    /// `checker::safety::LogWatch::observe`), rather than kept beside them: a long run
    /// commits millions of indexes.
    pub fn commits(&self) -> Vec<CommitRecord> {
        let mut firsts: Vec<CommitRecord> = self
            .node_events
            .iter()
            .filter_map(|e| match e.what {
                What::Commit { index, term, op } => Some(CommitRecord {
                    index,
                    term,
                    op: op.map(OpId),
                    node: e.node,
                    at_ns: e.at_ns,
                }),
                _ => None,
            })
            .collect();
        // A stable sort keeps each index's reports in time order: the first stays first.
        firsts.sort_by_key(|c| c.index);
        firsts.dedup_by_key(|c| c.index);
        firsts
    }
}

/// Run-time switches that do not come from the scenario file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep every event in memory (for a timeline or a page drawn from them); the hash is
    /// computed either way.
    pub keep_events: bool,
    /// Stream every event to a temporary file in this directory as the run goes, for a
    /// trace file to copy them from (memory stays flat however long the run). The file
    /// goes when the run's output is dropped.
    pub spool_dir: Option<PathBuf>,
    /// Extra mutants switched on (`--bug`).
    pub bugs: Vec<String>,
    /// Keep a readable description of each message, write, operation and fault beside
    /// the events (for `sim replay --timeline`; costs formatting on every event).
    pub describe: bool,
    /// Swarm testing: this seed draws its own fault mix (which nemesis kinds are on, and
    /// how often) from the scenario's rates, so rare combinations get whole runs.
    pub swarm: bool,
    /// Told how the run is going every [`WATCH_EVERY`] events; may stop it.
    pub watch: Option<Watch>,
    /// Stop the run with an error past this many events (default [`MAX_EVENTS`], at most
    /// [`MAX_EVENTS_LIMIT`]).
    pub max_events: Option<u64>,
}

/// How often (in events) a run tells its [`Watch`] how it is going.
pub const WATCH_EVERY: u64 = 1 << 16;

/// How far a run has got, as its [`Watch`] is told.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Simulated time reached, and the run's end.
    pub now_ns: u64,
    pub end_ns: u64,
    /// Events handled so far.
    pub events: u64,
}

/// Watches a run as it goes (a progress bar, a memory budget): returning an error stops
/// the run with that message, as a budget does.
#[derive(Clone)]
pub struct Watch(pub Arc<WatchFn>);

/// What a [`Watch`] calls: `Err` stops the run with that message.
pub type WatchFn = dyn Fn(&Progress) -> Result<(), String> + Send + Sync;

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Watch(..)")
    }
}

pub struct Simulation<'s, P: Protocol> {
    sc: &'s Scenario,
    describe: bool,
    seed: u64,
    swarm: bool,
    nemesis: Option<NemesisSpec>,
    config: Config,
    fifo: bool,
    now: u64,
    end: u64,
    seq: u64,
    /// Pending events ordered by (true time, sequence number), pointing into `slots`:
    /// the heap moves 24-byte keys, never messages.
    queue: EventQueue,
    slots: Vec<Option<Ev<P::Message>>>,
    free_slots: Vec<u32>,
    /// An event found the queue full (`MAX_WAITING_EVENTS`): the run stops.
    flooded: bool,
    /// Armed timers, beside the queue and ordered by the same key (see [`TimerSet`]).
    timers: TimerSet,
    nodes: Vec<Node<P>>,
    /// Held messages carry their send time and the FIFO connection they were sent on.
    links: Links<Wire<P::Message>>,
    /// Closes not yet told to the far end, as `(closer, far end, epoch of the closer's
    /// side after the close)`: the FIN waits on a cut or clogged link (see `reset_link`).
    fins: Vec<(u32, u32, u32)>,
    loss: f64,
    clients: Vec<Client>,
    next_process: u64,
    next_op: u64,
    next_value: u64,
    known_values: Vec<Option<u64>>,
    /// The key names, `k0`, `k1`, ..., written once rather than formatted for every
    /// operation.
    key_names: Vec<String>,
    rng_net: Rng,
    rng_storage: Rng,
    rng_work: Rng,
    rng_nemesis: Rng,
    rng_timers: Vec<Rng>,
    out: Outputs<P::Message, P::Write>,
    log: EventLog,
    watch: Option<Watch>,
    /// Set at the nemesis's final heal when the network calms then (`calm_after_heal`).
    calm: bool,
    messages_sent: u64,
    messages_dropped: u64,
    queue_events: u64,
    max_events: u64,
    history: ClientHistory,
    node_events: Vec<NodeEvent>,
    log_watch: LogWatch,
    /// Per node (by id − 1), how it would stand in an election now, for a protocol whose
    /// voters compare logs (`Protocol::last_entry`; empty for any other): leader
    /// completeness is checked ahead of time against `committed` (`LogWatch::completeness`).
    /// None for a node that takes no part: lost for good, an observer.
    standings: Vec<Option<ElectionStanding>>,
    /// The latest entry (by term, then index) any node reported committed.
    committed: Option<Committed>,
    /// Which candidates a change since the last completeness check may have made
    /// electable.
    completeness_due: Due,
    disruption: DisruptionWatch,
    leaders: Vec<LeaderRecord>,
    leases: Vec<LeaseRecord>,
    faults: Vec<AppliedFault>,
    marks: BTreeMap<&'static str, u64>,
    last_heal_ns: u64,
    /// A `crash_writing` fault that found no write in flight waits for the next write
    /// any live node issues (of the kind it aims at, if any); it holds how long the crash
    /// lasts.
    crash_on_next_write: Option<(u64, Option<&'static str>)>,
    /// A `crash_sending` fault waits for the next message sent (of this kind, if any);
    /// it holds how long the crash lasts.
    crash_on_next_send: Option<(u64, Option<&'static str>)>,
    /// Faults drawn of the kinds in `NemesisSpec::on_new_leader`, by kind, waiting for
    /// the next node to become leader.
    waiting_for_leader: [bool; NEMESIS_KIND_COUNT],
    /// Faults drawn of the kinds in `NemesisSpec::on_mark`, by kind, waiting for a node
    /// to take one of `NemesisSpec::trigger_marks`.
    waiting_for_mark: [bool; NEMESIS_KIND_COUNT],
    /// A `crash_new_leader` fault waits for the next node to become leader; it crashes
    /// right after that step and stays down this long.
    crash_on_next_leader_ns: Option<u64>,
    /// `corrupt` faults the nemesis has applied (for `NemesisSpec::corrupt_max`).
    corrupts_drawn: u32,
    /// Nodes lost for good (`Fault::Lose`), ascending: never restarted, and clients no
    /// longer turn to them.
    lost: Vec<u32>,
    /// The node whose protocol code is running (`start_node`, `step`): a panic then is
    /// that protocol's own assertion, which stops the run, not the simulator's bug.
    stepping: Option<u32>,
    stopped: Option<Stop>,
}

/// The server after `id` in the ring of `nodes`, skipping those lost for good (`id`'s
/// successor if every one is).
fn next_live(id: u32, nodes: u32, lost: &[u32]) -> u32 {
    let mut next = 1 + id % nodes;
    for _ in 0..nodes {
        if !lost.contains(&next) {
            return next;
        }
        next = 1 + next % nodes;
    }
    1 + id % nodes
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// A role as the disruption checker needs it.
fn standing(role: Role) -> Standing {
    match role {
        Role::Leader => Standing::Leader,
        Role::Follower | Role::Following => Standing::Follower,
        Role::Candidate | Role::PreCandidate | Role::Looking => Standing::Candidate,
        Role::Leading | Role::Observing | Role::Crashed => Standing::Other,
    }
}

/// What may have changed on a node's disk since its standing was last taken
/// (`Simulation::stand`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disk {
    /// Nothing: a step.
    Same,
    /// A write completed that leaves the restart's members as they were
    /// (`Protocol::moves_members` says which do not).
    Vote,
    /// Anything: a write that may move the members, a start, a crash.
    All,
}

/// Which candidates the next leader-completeness check looks at (`Simulation::stand`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    Nothing,
    /// Only this node (by id − 1): its standing rose, which can make no other electable.
    Node(usize),
    /// Every node: the committed entry moved, or a vote fell.
    All,
}

impl Due {
    /// Both at once.
    fn and(self, other: Due) -> Due {
        match (self, other) {
            (Due::Nothing, d) | (d, Due::Nothing) => d,
            (Due::Node(a), Due::Node(b)) if a == b => Due::Node(a),
            _ => Due::All,
        }
    }
}

/// The disruption checker for a run: what the protocol promises in this configuration,
/// and the timing of the world it runs in.
fn disruption_watch<P: Protocol>(
    sc: &Scenario,
    config: &Config,
    nodes: &[Node<P>],
) -> DisruptionWatch {
    let promise = match P::fence(config) {
        protocol::Fence::None => disruption::Promise::None,
        protocol::Fence::Votes => disruption::Promise::Votes,
        protocol::Fence::Leadership => disruption::Promise::Leadership,
    };
    let net = &sc.network;
    let late = net.reorder > 0.0 || net.duplicate > 0.0;
    let timing = disruption::Timing {
        election_min_ns: ns(config.election_timeout.0),
        drift_bound: config.clock_drift_bound,
        heartbeat_ns: ns(config.heartbeat_interval),
        latency_max_ns: ns(net.latency.1),
        late_max_ns: if late { ns(net.reorder_delay.1) } else { 0 },
        write_max_ns: ns(sc.storage.write_latency.1),
    };
    let members: Vec<u32> = config.initial_members().iter().map(|m| m.0).collect();
    let rates: Vec<f64> = nodes.iter().map(|n| n.clock.rate).collect();
    DisruptionWatch::new(promise, timing, &members, &rates)
}

/// Swarm testing (VOPR's `options_swarm`): each kind the scenario enables stays on with
/// probability one half (at least one stays on) at a rate scaled by 0.25–2. The scaled
/// rates are shares: faults keep coming at the scenario's total rate (`nemesis_gap`), so
/// the kinds a seed keeps get the room of those it left out (Groce et al., ISSTA 2012).
fn swarm_mix(rng: &mut Rng, nem: &mut NemesisSpec) {
    let enabled: Vec<usize> = (0..nem.rates.len())
        .filter(|&k| nem.rates[k] > 0.0)
        .collect();
    if enabled.is_empty() {
        return;
    }
    let keep = enabled[rng.index(enabled.len())];
    for &k in &enabled {
        if k != keep && rng.chance(0.5) {
            nem.rates[k] = 0.0;
        } else {
            nem.rates[k] *= 0.25 + 1.75 * rng.unit();
        }
    }
}

/// Refuses a `[nemesis] <field>` that names a kind (of message, of write) the protocol
/// does not have.
fn check_kinds<P: Protocol>(
    field: &str,
    what: &str,
    listed: &[String],
    known: &[&str],
) -> Result<(), protocol::ConfigError> {
    match listed.iter().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(kind) => Err(protocol::ConfigError {
            field: format!("nemesis.{field}"),
            message: format!(
                "expected one of {}'s {what} kinds ({}), got {kind:?}",
                P::NAME,
                known.join(", ")
            ),
        }),
    }
}

/// Refuses a scenario that changes membership for a protocol that cannot.
fn check_no_membership(sc: &Scenario, protocol: &str) -> Result<(), protocol::ConfigError> {
    let refuse = |field: &'static str, what: &str| {
        Err(protocol::ConfigError {
            field: field.into(),
            message: format!(
                "{protocol} does not support membership changes, but the scenario {what}; run it under a protocol that does"
            ),
        })
    };
    if sc.options.members.is_some() {
        return refuse("options.members", "sets an initial membership");
    }
    if let Some(f) = sc.faults.iter().find(|f| {
        matches!(
            f.fault,
            Fault::AddServer { .. } | Fault::RemoveServer { .. }
        )
    }) {
        return refuse("faults", &format!("schedules {}", f.fault.name()));
    }
    let reconfigure = NEMESIS_KINDS.iter().position(|&k| k == "reconfigure");
    if let (Some(nem), Some(k)) = (&sc.nemesis, reconfigure) {
        if nem.rates[k] > 0.0 {
            return refuse("nemesis.reconfigure", "draws membership changes");
        }
    }
    Ok(())
}

/// Refuses a scenario that damages storage for a protocol that does not model it.
fn check_no_storage_faults(sc: &Scenario, protocol: &str) -> Result<(), protocol::ConfigError> {
    let refuse = |field: String, what: &str| {
        Err(protocol::ConfigError {
            field,
            message: format!(
                "{protocol} does not model storage faults, but the scenario {what}; run it under a protocol that does"
            ),
        })
    };
    if let Some(i) = sc
        .faults
        .iter()
        .position(|f| matches!(f.fault, Fault::Corrupt { .. }))
    {
        let at = crate::duration::format_duration(sc.faults[i].at);
        return refuse(
            sc.fault_field("corrupt"),
            &format!("schedules corrupt at {at}"),
        );
    }
    let corrupt = NEMESIS_KINDS.iter().position(|&k| k == "corrupt");
    if let (Some(nem), Some(k)) = (&sc.nemesis, corrupt) {
        if nem.rates[k] > 0.0 {
            return refuse("nemesis.corrupt".into(), "draws storage faults");
        }
    }
    Ok(())
}

/// Builds the configuration a scenario describes for protocol `P`: its `[options.NAME]`
/// table converted by the kinds `P::OPTIONS` declares (other protocols' tables ignored).
/// An option `P` does not have, or of the wrong kind, is an error naming
/// `options.NAME.key`.
pub fn config_for<P: Protocol>(
    sc: &Scenario,
    extra_bugs: &[String],
) -> Result<Config, protocol::ConfigError> {
    let voters = sc.voter_count();
    let mut config = Config::new((1..=voters).map(NodeId).collect());
    config.observers = (voters + 1..=sc.nodes).map(NodeId).collect();
    config.read_mode = sc
        .workload
        .read_mode
        .unwrap_or(protocol::ReadMode::default_for(P::READ_MODES));
    config.election_timeout = sc.options.election_timeout;
    config.heartbeat_interval = sc.options.heartbeat_interval;
    config.pre_vote = sc.options.pre_vote;
    config.check_quorum = sc.options.check_quorum;
    config.clock_drift_bound = sc.options.clock_drift_bound;
    config.backtrack_to_term_start = sc.options.backtrack_to_term_start;
    config.members = sc
        .options
        .members
        .as_ref()
        .map(|m| m.iter().copied().map(NodeId).collect());
    config.bugs = sc.bugs.iter().chain(extra_bugs).cloned().collect();
    config.options = protocol_options(P::NAME, P::OPTIONS, sc)?;
    Ok(config)
}

/// The scenario's `[options.NAME]` table as typed values, by the protocol's option specs:
/// `true`/`false` for a bool, a whole number >= 0 for a count, a duration string such as
/// `"250ms"` (the same syntax as every duration of the file) for a duration.
fn protocol_options(
    name: &str,
    specs: &[protocol::OptionSpec],
    sc: &Scenario,
) -> Result<BTreeMap<String, protocol::OptionValue>, protocol::ConfigError> {
    use protocol::{OptionKind, OptionValue};
    let mut values = BTreeMap::new();
    let Some(table) = sc.options.by_protocol.get(name) else {
        return Ok(values);
    };
    for (key, option) in table {
        let field = format!("options.{name}.{key}");
        let Some(spec) = specs.iter().find(|s| s.name == key) else {
            return Err(protocol::unknown_option(name, specs, key));
        };
        let wrong = |message: String| protocol::ConfigError {
            field: field.clone(),
            message,
        };
        let value = match (spec.kind, &option.value) {
            (OptionKind::Bool, toml::Value::Boolean(b)) => OptionValue::Bool(*b),
            (OptionKind::Count, toml::Value::Integer(n)) if *n >= 0 => {
                OptionValue::Count(*n as u64)
            }
            (OptionKind::Duration, toml::Value::String(text)) => {
                OptionValue::Duration(crate::duration::parse_duration(text).map_err(wrong)?)
            }
            (kind, other) => {
                let got = match other {
                    toml::Value::Table(_) => "a table".to_string(),
                    toml::Value::Array(_) => "an array".to_string(),
                    other => other.to_string(),
                };
                return Err(wrong(format!("expected {}, got {got}", kind.describe())));
            }
        };
        values.insert(key.clone(), value);
    }
    Ok(values)
}

impl<'s, P: Protocol> Simulation<'s, P> {
    /// Prepares a run; fails when the protocol rejects the configuration.
    pub fn new(sc: &'s Scenario, options: &RunOptions) -> Result<Self, protocol::ConfigError> {
        let config = config_for::<P>(sc, &options.bugs)?;
        P::check_config(&config)?;
        if !P::SUPPORTS_MEMBERSHIP {
            check_no_membership(sc, P::NAME)?;
        }
        if !P::STORAGE_FAULTS {
            check_no_storage_faults(sc, P::NAME)?;
        }
        if !P::DEDUPLICATES && sc.workload.retries > 0 {
            return Err(protocol::ConfigError {
                field: "workload.retries".into(),
                message: format!(
                    "{} does not say a command handed to it twice takes effect once, so a client may not send one again under its id; set retries = 0, or run it under a protocol that deduplicates",
                    P::NAME
                ),
            });
        }
        if let Some(nem) = &sc.nemesis {
            check_kinds::<P>(
                "crash_sending_kinds",
                "message",
                &nem.crash_sending_kinds,
                P::MESSAGE_KINDS,
            )?;
            check_kinds::<P>(
                "crash_writing_kinds",
                "write",
                &nem.crash_writing_kinds,
                P::WRITE_KINDS,
            )?;
            check_kinds::<P>("trigger_marks", "mark", &nem.trigger_marks, P::MARKS)?;
        }
        let seed = options.seed;
        let n = sc.nodes;
        let mut rng_clocks = Rng::new(seed, Stream::Clocks);
        let nodes: Vec<Node<P>> = (1..=n)
            .map(|id| {
                let (lo, hi) = sc.clocks.offset_nanos;
                let offset = lo + rng_clocks.range_u64(0, (hi - lo) as u64) as i64;
                let (rlo, rhi) = sc.clocks.drift;
                let u = rng_clocks.unit();
                let rate = match sc.clocks.extremes {
                    true if u < 0.5 => rlo,
                    true => rhi,
                    false => rlo + (rhi - rlo) * u,
                };
                Node {
                    id,
                    state: None,
                    durable: P::Durable::default(),
                    incarnation: 0,
                    paused: false,
                    stash: VecDeque::new(),
                    clock: Clock::new(offset, rate),
                    base_rate: rate,
                    timers: ArmedTimers::default(),
                    timer_generation: 0,
                    writes: VecDeque::new(),
                    last_write_done_at: 0,
                    writes_issued: 0,
                    writes_notified: 0,
                    held: VecDeque::new(),
                    role: Role::Follower,
                    term: 0,
                    lease: None,
                    members: Vec::new(),
                    members_changed: false,
                }
            })
            .collect();
        let fifo = sc
            .network
            .fifo
            .unwrap_or(P::LINKS == protocol::LinkKind::Fifo);
        let disruption = disruption_watch::<P>(sc, &config, &nodes);
        let mut nemesis = sc.nemesis.clone();
        // A drawn world's nemesis is already its seed's swarm mix.
        if let (true, None, Some(nem)) = (options.swarm, sc.drawn, nemesis.as_mut()) {
            swarm_mix(&mut Rng::new(seed, Stream::Swarm), nem);
        }
        Ok(Simulation {
            sc,
            describe: options.describe,
            seed,
            swarm: options.swarm && sc.drawn.is_none(),
            nemesis,
            config,
            fifo,
            now: 0,
            end: ns(sc.duration),
            seq: 0,
            queue: EventQueue::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            flooded: false,
            timers: TimerSet::new(),
            nodes,
            links: Links::new(n),
            fins: Vec::new(),
            loss: sc.network.loss,
            clients: Vec::new(),
            next_process: 0,
            next_op: 0,
            next_value: 0,
            known_values: vec![None; sc.workload.keys as usize],
            key_names: (0..sc.workload.keys).map(|k| format!("k{k}")).collect(),
            rng_net: Rng::new(seed, Stream::Network),
            rng_storage: Rng::new(seed, Stream::Storage),
            rng_work: Rng::new(seed, Stream::Workload),
            rng_nemesis: Rng::new(seed, Stream::Nemesis),
            rng_timers: (1..=n)
                .map(|id| Rng::new(seed, Stream::Timers(id)))
                .collect(),
            out: Outputs::new(),
            log: match &options.spool_dir {
                Some(dir) => EventLog::spooled(options.keep_events, dir),
                None => EventLog::new(options.keep_events),
            },
            watch: options.watch.clone(),
            calm: false,
            messages_sent: 0,
            messages_dropped: 0,
            queue_events: 0,
            max_events: options
                .max_events
                .unwrap_or(MAX_EVENTS)
                .min(MAX_EVENTS_LIMIT),
            history: ClientHistory::new(),
            node_events: Vec::new(),
            log_watch: LogWatch::with_voters(sc.voter_count() as usize),
            standings: if P::durable_last_entry(&P::Durable::default()).is_some() {
                vec![None; sc.nodes as usize]
            } else {
                Vec::new()
            },
            committed: None,
            completeness_due: Due::Nothing,
            disruption,
            leaders: Vec::new(),
            leases: Vec::new(),
            faults: Vec::new(),
            marks: BTreeMap::new(),
            last_heal_ns: 0,
            crash_on_next_write: None,
            crash_on_next_send: None,
            waiting_for_leader: [false; NEMESIS_KIND_COUNT],
            waiting_for_mark: [false; NEMESIS_KIND_COUNT],
            crash_on_next_leader_ns: None,
            corrupts_drawn: 0,
            lost: Vec::new(),
            stepping: None,
            stopped: None,
        })
    }

    fn push(&mut self, at: u64, ev: Ev<P::Message>) {
        self.seq += 1;
        self.push_keyed(at, self.seq, ev);
    }

    /// Arms timer `timer` of node `id` as `generation`, due at true time `at`, under the
    /// next sequence number (its place among events due at the same time).
    fn queue_timer(&mut self, id: u32, timer: TimerId, generation: u64, at: u64) {
        self.seq += 1;
        self.timers.set(DueTimer {
            at,
            seq: self.seq,
            node: id,
            timer,
            generation,
        });
    }

    /// Queues `ev` under a sequence number taken earlier (a deferred client timeout's).
    fn push_keyed(&mut self, at: u64, seq: u64, ev: Ev<P::Message>) {
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(ev);
                slot
            }
            None if self.slots.len() >= MAX_WAITING_EVENTS => {
                // The run stops after this step: the step budget's check, on every
                // step already, ends it (`run`); the event is moot.
                self.flooded = true;
                self.max_events = 0;
                return;
            }
            None => {
                self.slots.push(Some(ev));
                (self.slots.len() - 1) as u32
            }
        };
        self.queue.push(at, seq, slot);
    }

    #[inline]
    fn record(&mut self, kind: Kind, node: u32, peer: u32, label: &'static str, a: u64, b: u64) {
        self.log.push(Event {
            at_ns: self.now,
            kind,
            node,
            peer,
            label,
            a,
            b,
        });
    }

    /// Records what a node said about itself for the checkers: log safety is judged as it
    /// arrives, and a commit or apply that repeats its index's first is not kept (unless
    /// the run keeps everything), so a long run's record grows with its log, not with
    /// its log times its nodes.
    fn node_event(&mut self, e: NodeEvent) {
        if self.log_watch.observe(&e) || self.log.keeps() {
            self.node_events.push(e);
        }
    }

    /// Attaches a description to the event just recorded (only when describing).
    #[inline]
    fn describe(&mut self, text: impl FnOnce() -> String) {
        if self.describe {
            let index = self.log.len() - 1;
            self.log.details.push((index, text()));
        }
    }

    /// Runs the scenario to its end and hands back everything it recorded. A protocol
    /// that panics in its own code (an assertion of an invariant: mutants can trip them)
    /// stops the run there, and what was recorded up to it comes back with
    /// [`RunOutput::stopped`] saying so; any other panic is the simulator's and goes on.
    pub fn run(mut self) -> Result<RunOutput, String> {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_events()));
        match run {
            Ok(result) => result?,
            Err(panic) => match self.stepping.take() {
                Some(node) => self.stop(node, panic_message(panic.as_ref())),
                None => std::panic::resume_unwind(panic),
            },
        }
        Ok(self.finish())
    }

    /// A protocol's assertion stopped the run at `node`: the last event says so.
    fn stop(&mut self, node: u32, message: String) {
        self.out = Outputs::new();
        self.record(Kind::Stop, node, 0, "assertion", digest(&message), 0);
        self.describe(|| message.clone());
        self.stopped = Some(Stop {
            node,
            at_ns: self.now,
            message,
        });
    }

    fn run_events(&mut self) -> Result<(), String> {
        for id in 1..=self.sc.nodes {
            self.start_node(id);
        }
        for f in &self.sc.faults {
            let at = ns(f.at);
            self.push(
                at,
                Ev::Fault {
                    fault: f.fault.clone(),
                    from_nemesis: false,
                },
            );
        }
        if let Some(nem) = &self.nemesis {
            let (start, stop) = (ns(nem.start), ns(nem.stop));
            let first = start + self.nemesis_gap();
            if first < stop {
                self.push(first, Ev::NemesisTick);
            }
            self.push(stop, Ev::NemesisHealAll);
        }
        let w = &self.sc.workload;
        let (clients, start) = (w.clients, ns(w.start));
        for c in 0..clients {
            let target = 1 + self.rng_work.index(self.sc.nodes as usize) as u32;
            self.clients.push(Client {
                process: u64::from(c),
                current: None,
                target,
                leader_guess: None,
                timeout_carrier: None,
                deferred_timeout: None,
                home: 1 + c % self.sc.nodes,
                leaderless_since: None,
                retries_left: 0,
            });
            let think = self.think();
            self.push(start + think, Ev::ClientNext { client: c });
        }
        self.next_process = u64::from(clients);

        loop {
            // The earlier of the queue's next event and the next timer (keys are unique).
            let (at, next) = match self.queue.pop_before(self.timers.peek()) {
                Some((at, _, slot)) => (at, Next::Event(slot)),
                None => match self.timers.pop() {
                    Some(t) => (t.at, Next::Timer(t)),
                    None => break,
                },
            };
            if at > self.end {
                break;
            }
            self.now = at;
            self.queue_events += 1;
            if self.queue_events > self.max_events {
                if self.flooded {
                    return Err(format!(
                        "the run had {MAX_WAITING_EVENTS} events waiting at once by simulated time {:.3}s (messages in flight, timers, client turns): its messages multiply, each answered by more than one, or its load is beyond what a run holds",
                        self.now as f64 / 1e9
                    ));
                }
                return Err(format!(
                    "the run exceeded {} steps (events taken off the queue) by simulated time {:.3}s; shorten the scenario, lower its load, or raise --max-events (at most {MAX_EVENTS_LIMIT})",
                    self.max_events,
                    self.now as f64 / 1e9
                ));
            }
            if self.queue_events.is_multiple_of(WATCH_EVERY) {
                if let Some(watch) = &self.watch {
                    (watch.0)(&Progress {
                        now_ns: at,
                        end_ns: self.end,
                        events: self.queue_events,
                    })?;
                }
            }
            match next {
                Next::Event(slot) => {
                    let ev = self.slots[slot as usize]
                        .take()
                        .expect("a queued slot holds its event");
                    self.free_slots.push(slot);
                    self.handle(ev);
                }
                Next::Timer(t) => self.timer_due(t),
            }
        }
        self.now = self.end;
        Ok(())
    }

    fn finish(mut self) -> RunOutput {
        self.log.finish();
        let end = self.now;
        let final_roles = self
            .nodes
            .iter()
            .map(|n| {
                let role = if n.state.is_none() {
                    Role::Crashed
                } else {
                    n.role
                };
                (n.id, role, n.term, n.clock.offset_ns(end))
            })
            .collect();
        let stranded = self.stranded();
        RunOutput {
            protocol: P::NAME,
            protocol_revision: P::REVISION,
            seed: self.seed,
            bugs: self.config.bugs.iter().cloned().collect(),
            swarm: self.swarm,
            nemesis: self.nemesis,
            end_ns: end,
            log: self.log,
            messages_sent: self.messages_sent,
            messages_dropped: self.messages_dropped,
            queue_events: self.queue_events,
            history: self.history,
            node_events: self.node_events,
            log_safety: self.log_watch.verdict(),
            log_safety_record: self.log_watch.record_verdict(),
            disruption: self.disruption.verdict(),
            leaders: self.leaders,
            leases: self.leases,
            faults: self.faults,
            marks: self.marks,
            final_roles,
            last_heal_ns: self.last_heal_ns,
            stranded,
            stopped: self.stopped,
        }
    }

    /// Whether the world the last fault left (nothing changes after it) strands every
    /// voter: see `RunOutput::stranded`.
    fn stranded(&self) -> Option<String> {
        // A reported member outside the cluster (no such node) counts as down.
        let up = |id: u32| {
            (id as usize)
                .checked_sub(1)
                .and_then(|i| self.nodes.get(i))
                .is_some_and(|n| n.state.is_some() && !n.paused)
        };
        let both_ways = |a: u32, b: u32| {
            a == b
                || !(self.links.is_cut(a, b)
                    || self.links.is_cut(b, a)
                    || self.links.is_clogged(a, b)
                    || self.links.is_clogged(b, a))
        };
        let mut reach = Vec::new();
        for n in self.nodes.iter().filter(|n| up(n.id)) {
            if !n.members.contains(&n.id) {
                continue;
            }
            let reached = n
                .members
                .iter()
                .filter(|&&m| up(m) && both_ways(n.id, m))
                .count();
            if reached > n.members.len() / 2 {
                return None;
            }
            reach.push(format!("n{} {} of {}", n.id, reached, n.members.len()));
        }
        let down: Vec<String> = (1..=self.sc.nodes)
            .filter(|&id| !up(id))
            .map(|id| format!("n{id}"))
            .collect();
        Some(format!(
            "after the last fault no voter reaches a majority of its membership (down or paused: {}; live voters reach {})",
            if down.is_empty() { "none".into() } else { down.join(", ") },
            if reach.is_empty() { "nothing".into() } else { reach.join(", ") }
        ))
    }

    /// An armed timer is due: its node handles it (or, paused, stashes it).
    fn timer_due(&mut self, t: DueTimer) {
        let n = &self.nodes[t.node as usize - 1];
        debug_assert!(
            n.state.is_some() && n.timers.get(&t.timer).map(|a| a.0) == Some(t.generation),
            "n{}: timer {:?} due as generation {} but armed as {:?}",
            t.node,
            t.timer,
            t.generation,
            n.timers.get(&t.timer)
        );
        self.give(
            t.node,
            Stashed::Timer {
                timer: t.timer,
                generation: t.generation,
            },
        );
    }

    fn handle(&mut self, ev: Ev<P::Message>) {
        match ev {
            Ev::Deliver { from, to, wire } => self.deliver(from, to, wire),
            Ev::WriteDone { node, incarnation } => {
                let n = &mut self.nodes[node as usize - 1];
                if n.incarnation != incarnation {
                    return;
                }
                let (tag, write) = n
                    .writes
                    .pop_front()
                    .expect("a write completion without a pending write");
                P::persist(&mut n.durable, &write);
                if !self.standings.is_empty() {
                    let disk = if P::moves_members(&write) {
                        Disk::All
                    } else {
                        Disk::Vote
                    };
                    self.stand(node, disk);
                }
                self.record(Kind::WriteDone, node, 0, "write", tag, digest(&write));
                self.describe(|| format!("{write:?}"));
                // Durable now; the node learns of it when it runs.
                self.give(node, Stashed::WriteDone { tag });
            }
            Ev::Disconnected {
                node,
                peer,
                incarnation,
            } => {
                let n = &mut self.nodes[node as usize - 1];
                if n.state.is_none() || n.incarnation != incarnation {
                    return;
                }
                self.give(node, Stashed::Disconnected { peer });
            }
            Ev::ClientArrive {
                node,
                incarnation,
                cmd,
            } => {
                let n = &mut self.nodes[node as usize - 1];
                if n.state.is_none() || n.incarnation != incarnation {
                    return; // the client will time out
                }
                self.give(node, Stashed::Client(cmd));
            }
            Ev::ClientReply {
                client,
                id,
                reply,
                node,
            } => self.client_reply(client, id, reply, node),
            Ev::ClientTimeout { client, id } => self.client_timeout(client, id),
            Ev::ClientNext { client } => self.client_next(client),
            Ev::Fault {
                fault,
                from_nemesis,
            } => self.apply_fault(fault, from_nemesis),
            Ev::NemesisTick => self.nemesis_tick(),
            Ev::NemesisHealAll => self.apply_fault(Fault::HealAll, true),
            Ev::NemesisOnLeader => {
                let waiting = std::mem::take(&mut self.waiting_for_leader);
                let stop = self.nemesis.as_ref().map_or(0, |n| ns(n.stop));
                for kind in (0..NEMESIS_KIND_COUNT).filter(|&k| waiting[k]) {
                    if self.now < stop {
                        self.nemesis_fault(kind, None);
                    }
                }
            }
            Ev::NemesisOnMark { node, kinds } => {
                let stop = self.nemesis.as_ref().map_or(0, |n| ns(n.stop));
                for kind in (0..NEMESIS_KIND_COUNT).filter(|&k| kinds[k]) {
                    if self.now < stop {
                        self.nemesis_fault(kind, Some(node));
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Nodes

    fn start_node(&mut self, id: u32) {
        let i = id as usize - 1;
        let local = LocalTime(self.nodes[i].clock.local(self.now));
        let mut out = std::mem::take(&mut self.out);
        let n = &mut self.nodes[i];
        n.incarnation += 1;
        n.role = Role::Follower;
        n.term = 0;
        // A node starts with the initial membership unless its durable state says (and
        // reports) otherwise.
        n.members = self.config.initial_members().iter().map(|m| m.0).collect();
        n.members_changed = true;
        self.stepping = Some(id);
        n.state = Some(P::start(
            NodeId(id),
            &self.config,
            &n.durable,
            local,
            &mut out,
        ));
        self.stepping = None;
        self.out = out;
        self.apply_outputs(id);
        self.stand(id, Disk::All);
    }

    fn step(&mut self, id: u32, input: Input<P::Message>) {
        let i = id as usize - 1;
        let local = LocalTime(self.nodes[i].clock.local(self.now));
        self.disruption.step();
        match self.nodes[i].state.as_mut() {
            Some(state) => {
                self.stepping = Some(id);
                state.step(local, input, &mut self.out);
                self.stepping = None;
            }
            None => unreachable!("step on crashed node n{id}"),
        }
        self.apply_outputs(id);
        if !self.standings.is_empty() {
            self.stand_after_step(id);
        }
    }

    /// `stand(id, Disk::Same)` after a step, with the common case first: a live node whose
    /// log end and members stayed as they were, and no new commit.
    #[inline]
    fn stand_after_step(&mut self, id: u32) {
        let i = id as usize - 1;
        let n = &self.nodes[i];
        let unchanged = !n.members_changed
            && self.completeness_due == Due::Nothing
            && match (&n.state, &self.standings[i]) {
                (Some(state), Some(s)) => !s.crashed && state.last_entry() == Some(s.last),
                _ => false,
            };
        if !unchanged {
            self.stand(id, Disk::Same);
        }
    }

    /// Refreshes node `id`'s election standing (a live node's log and members, a crashed
    /// one's as it would restart, none for a node that takes no part), what it would stand
    /// and vote with after a restart when its durable image may have changed (`disk`), and
    /// checks leader completeness ahead of time where the change may have made a node
    /// electable.
    fn stand(&mut self, id: u32, disk: Disk) {
        if self.standings.is_empty() {
            return;
        }
        let i = id as usize - 1;
        let members_changed = std::mem::take(&mut self.nodes[i].members_changed);
        let n = &self.nodes[i];
        // A node lost for good, or an observer, neither stands nor votes.
        let live = if self.lost.binary_search(&id).is_ok()
            || self.config.observers.contains(&NodeId(id))
        {
            None
        } else {
            match &n.state {
                // None: it takes no part now (a ZAB server that refused to start).
                Some(state) => state.last_entry().map(Some),
                None => Some(None),
            }
        };
        let Some(last) = live else {
            // One candidate and one voter fewer: no one gains.
            self.standings[i] = None;
            return self.check_completeness();
        };
        let old = self.standings[i].as_ref();
        let vote_last = match (disk, old) {
            (Disk::Same, Some(s)) => s.vote_last,
            _ => P::durable_last_entry(&n.durable).unwrap_or_default(),
        };
        let restart_members: Option<Vec<u32>> = match (disk, old) {
            (Disk::Same | Disk::Vote, Some(_)) => None,
            _ => Some(
                P::durable_members(&self.config, &n.durable)
                    .iter()
                    .map(|m| m.0)
                    .collect(),
            ),
        };
        let crashed = last.is_none();
        let last = last.unwrap_or(vote_last);
        let due = match &mut self.standings[i] {
            Some(s) => {
                let restart_members = restart_members.filter(|m| *m != s.restart_members);
                // A crashed node campaigns in the members it would restart with.
                let members = if crashed {
                    restart_members.as_deref().or(Some(&s.restart_members[..]))
                } else {
                    // Compared only when the node reported a change (a compare on every
                    // step costs as much as the rest of the check).
                    members_changed.then_some(&n.members[..])
                };
                let members = members.filter(|m| *m != s.members).map(<[u32]>::to_vec);
                let changed = (s.last, s.vote_last, s.crashed) != (last, vote_last, crashed)
                    || members.is_some()
                    || restart_members.is_some();
                let vote_fell = vote_last < s.vote_last;
                (s.last, s.vote_last, s.crashed) = (last, vote_last, crashed);
                if let Some(members) = members {
                    s.members = members;
                }
                if let Some(members) = restart_members {
                    s.restart_members = members;
                }
                match (changed, vote_fell) {
                    (false, _) => Due::Nothing,
                    // Its vote rose or held: only its own candidacy may have gained.
                    (true, false) => Due::Node(i),
                    (true, true) => Due::All,
                }
            }
            slot @ None => {
                let restart_members = restart_members.unwrap_or_default();
                *slot = Some(ElectionStanding {
                    last,
                    members: if crashed {
                        restart_members.clone()
                    } else {
                        n.members.clone()
                    },
                    vote_last,
                    restart_members,
                    crashed,
                });
                Due::All
            }
        };
        self.completeness_due = self.completeness_due.and(due);
        self.check_completeness();
    }

    /// Checks leader completeness ahead of time for the candidates a change since the last
    /// check may have made electable.
    fn check_completeness(&mut self) {
        let only = match std::mem::replace(&mut self.completeness_due, Due::Nothing) {
            Due::Nothing => return,
            Due::Node(i) => Some(i),
            Due::All => None,
        };
        if let Some(committed) = &self.committed {
            self.log_watch.completeness(
                self.now,
                &self.standings,
                only,
                committed,
                P::position_text,
                P::VOTE_RULE,
            );
        }
    }

    fn apply_outputs(&mut self, id: u32) {
        let mut out = std::mem::take(&mut self.out);
        for output in out.drain() {
            match output {
                Output::Send { to, msg, delivery } => {
                    let n = &mut self.nodes[id as usize - 1];
                    if delivery == Delivery::AfterWrites && n.writes_issued > n.writes_notified {
                        let epoch = self.links.epoch[self.links.index(id, to.0)];
                        let send = Held::Send {
                            to: to.0,
                            msg,
                            epoch,
                        };
                        n.held.push_back((n.writes_issued, send));
                    } else {
                        self.send(id, to.0, msg);
                    }
                }
                Output::SetTimer { timer, min, max } => {
                    let d = self.rng_timers[id as usize - 1].duration(min, max);
                    let n = &mut self.nodes[id as usize - 1];
                    let deadline = n.clock.local(self.now) + ns(d);
                    n.timer_generation += 1;
                    let generation = n.timer_generation;
                    n.timers.insert(timer, (generation, deadline));
                    let at = n.clock.true_at(deadline, self.now);
                    self.queue_timer(id, timer, generation, at);
                }
                Output::CancelTimer { timer } => {
                    self.nodes[id as usize - 1].timers.remove(&timer);
                    self.timers.remove(id, timer);
                }
                Output::Reply {
                    id: op,
                    reply,
                    delivery,
                } => {
                    let n = &mut self.nodes[id as usize - 1];
                    if delivery == Delivery::AfterWrites && n.writes_issued > n.writes_notified {
                        n.held
                            .push_back((n.writes_issued, Held::Reply { id: op, reply }));
                    } else {
                        self.reply(id, op, reply);
                    }
                }
                Output::Write { tag, write } => {
                    // Only a crash waiting for a write asks which kind this one is.
                    let aimed_kind = self
                        .crash_on_next_write
                        .is_some()
                        .then(|| P::write_kind(&write));
                    let (lo, hi) = self.sc.storage.write_latency;
                    let latency = ns(self.rng_storage.duration(lo, hi));
                    let n = &mut self.nodes[id as usize - 1];
                    // One disk queue per node: writes complete in the order they were issued.
                    let done = (self.now + latency).max(n.last_write_done_at);
                    n.last_write_done_at = done;
                    n.writes_issued += 1;
                    n.writes.push_back((tag, write));
                    let incarnation = n.incarnation;
                    self.push(
                        done,
                        Ev::WriteDone {
                            node: id,
                            incarnation,
                        },
                    );
                    if let Some(kind) = aimed_kind {
                        self.crash_in_write(id, kind, done);
                    }
                }
                // A node that closes a connection (ZooKeeper's learner leaving its leader
                // closes its socket) strands what is on the wire and what it held for
                // writes: both carry the old epoch. The Disconnected events are queued now,
                // ahead of anything the node sends next, so each end sees the close before
                // the first message of a new connection.
                Output::Disconnect { peer } => {
                    if self.fifo {
                        self.reset_link(id, peer.0, "close");
                    }
                }
                Output::Report(report) => self.report(id, report),
            }
        }
        self.out = out;
    }

    fn notify_write(&mut self, id: u32, tag: u64) {
        let n = &mut self.nodes[id as usize - 1];
        n.writes_notified += 1;
        let notified = n.writes_notified;
        let mut release = Vec::new();
        while n
            .held
            .front()
            .is_some_and(|(needed, _)| *needed <= notified)
        {
            release.push(n.held.pop_front().expect("front exists").1);
        }
        self.step(id, Input::WriteDone { tag });
        for held in release {
            match held {
                // A step that wrote to a FIFO connection before its writes were durable
                // wrote to that connection: if it was reset meanwhile, the message went
                // with it (ZooKeeper's ACKEPOCH to a leader it had since lost sync with
                // must not arrive on the next connection as an answer to a new
                // LEADERINFO).
                Held::Send { to, msg, epoch }
                    if self.fifo && self.links.epoch[self.links.index(id, to)] != epoch =>
                {
                    self.messages_sent += 1;
                    self.messages_dropped += 1;
                    self.record(Kind::Drop, to, id, "reset", digest(&msg), self.now);
                }
                Held::Send { to, msg, .. } => self.send(id, to, msg),
                Held::Reply { id: op, reply } => self.reply(id, op, reply),
            }
        }
    }

    fn report(&mut self, id: u32, report: Report) {
        let at_ns = self.now;
        match report {
            Report::Role { role, term } => {
                let n = &mut self.nodes[id as usize - 1];
                n.role = role;
                n.term = term;
                self.record(Kind::Role, id, 0, role.name(), term, 0);
                self.disruption.role(at_ns, id, standing(role), term);
                let leader = role == Role::Leader;
                if leader {
                    self.leaders.push(LeaderRecord {
                        node: id,
                        term,
                        at_ns,
                    });
                    if let Some(lasting) = self.crash_on_next_leader_ns.take() {
                        self.crash_after_step(id, lasting);
                    }
                    if self.waiting_for_leader.contains(&true) {
                        // One nanosecond on, after the step in which it took office.
                        self.push(self.now + 1, Ev::NemesisOnLeader);
                    }
                }
                self.node_event(NodeEvent {
                    at_ns,
                    node: id,
                    what: What::Role { leader, term },
                });
            }
            Report::Vote { term, candidate } => {
                self.record(Kind::Vote, id, candidate.0, "vote", term, 0);
                self.disruption.voted(id, term, candidate.0);
            }
            Report::Commit { index, term, op } => {
                self.record(Kind::Commit, id, 0, "commit", index, term);
                if !self.standings.is_empty()
                    && self
                        .committed
                        .is_none_or(|c| (term, index) > (c.term, c.index))
                {
                    self.committed = Some(Committed {
                        term,
                        index,
                        node: id,
                        at_ns,
                    });
                    self.completeness_due = Due::All;
                }
                let op = op.map(|o| o.0);
                self.node_event(NodeEvent {
                    at_ns,
                    node: id,
                    what: What::Commit { index, term, op },
                });
            }
            Report::Apply {
                index,
                term,
                op,
                state,
            } => {
                self.record(Kind::Apply, id, 0, "apply", index, term);
                let op = op.map(|o| o.0);
                self.node_event(NodeEvent {
                    at_ns,
                    node: id,
                    what: What::Apply {
                        index,
                        term,
                        op,
                        state: Some(state),
                    },
                });
            }
            Report::Accepted {
                index,
                ballot,
                term,
                op,
            } => {
                // Judged by log safety as it arrives, not recorded: the messages around it
                // are, and a run's events (and hash) are the same as before it was reported.
                self.node_event(NodeEvent {
                    at_ns,
                    node: id,
                    what: What::Accepted {
                        index,
                        ballot,
                        term,
                        op: op.map(|o| o.0),
                    },
                });
            }
            Report::Lease { term, until } => {
                self.nodes[id as usize - 1].lease = Some((term, until.0));
                self.record_lease(id, term, until.0, "lease");
            }
            Report::ReadServed { term } => {
                self.record(Kind::ReadServed, id, 0, "read_served", term, 0);
                self.node_event(NodeEvent {
                    at_ns,
                    node: id,
                    what: What::ReadServed { term },
                });
            }
            Report::Members { members } => {
                let bits = members.iter().fold(0u64, |b, m| b | 1 << (m.0 - 1));
                self.record(Kind::Members, id, 0, "members", members.len() as u64, bits);
                self.describe(|| format!("{members:?}"));
                let n = &mut self.nodes[id as usize - 1];
                n.members = members.iter().map(|m| m.0).collect();
                n.members_changed = true;
                self.disruption
                    .members(id, &self.nodes[id as usize - 1].members);
            }
            Report::Mark(name) => {
                self.record(Kind::Mark, id, 0, name, 0, 0);
                *self.marks.entry(name).or_insert(0) += 1;
                if self.waiting_for_mark.contains(&true)
                    && self
                        .nemesis
                        .as_ref()
                        .is_some_and(|nem| nem.trigger_marks.iter().any(|m| m == name))
                {
                    // One nanosecond on, after the step in which the node took the mark.
                    let kinds = std::mem::take(&mut self.waiting_for_mark);
                    self.push(self.now + 1, Ev::NemesisOnMark { node: id, kinds });
                }
            }
        }
    }

    fn crash(&mut self, id: u32) {
        let n = &mut self.nodes[id as usize - 1];
        if n.state.is_none() {
            return;
        }
        n.state = None;
        n.incarnation += 1; // strands deliveries, write completions and client requests
        n.paused = false;
        n.stash.clear();
        n.timers.clear();
        self.timers.remove_node(id);
        n.writes.clear(); // incomplete writes are lost
        n.held.clear();
        n.writes_issued = 0;
        n.writes_notified = 0;
        n.last_write_done_at = 0;
        n.role = Role::Crashed;
        n.lease = None;
        self.record(Kind::Crash, id, 0, "crash", 0, 0);
        self.disruption.crashed(id);
        self.node_event(NodeEvent {
            at_ns: self.now,
            node: id,
            what: What::Crash,
        });
        self.stand(id, Disk::All);
        if self.fifo {
            for peer in 1..=self.sc.nodes {
                if peer != id {
                    self.reset_link(id, peer, "reset");
                }
            }
        }
    }

    fn restart(&mut self, id: u32) {
        if self.nodes[id as usize - 1].state.is_some() || self.lost.contains(&id) {
            return;
        }
        self.record(Kind::Restart, id, 0, "restart", 0, 0);
        self.disruption.disturbed(id);
        self.start_node(id);
    }

    /// Gives a live node something to handle: now, or on resume if it is paused.
    fn give(&mut self, id: u32, item: Stashed<P::Message>) {
        let n = &mut self.nodes[id as usize - 1];
        if n.paused {
            n.stash.push_back(item);
        } else {
            self.perform(id, item);
        }
    }

    /// Has a running node handle one thing (the one place each kind becomes an input).
    fn perform(&mut self, id: u32, item: Stashed<P::Message>) {
        match item {
            Stashed::Message {
                from,
                msg,
                sent_at,
                echo_ns,
            } => {
                self.record(Kind::Recv, id, from, msg.kind(), digest(&msg), sent_at);
                if self.disruption.judges() {
                    let signal = match self.nodes[id as usize - 1].state.as_ref() {
                        Some(s) => s.fence_signal(NodeId(from), &msg),
                        None => protocol::FenceSignal::None,
                    };
                    let heard = match signal {
                        protocol::FenceSignal::None => disruption::Signal::None,
                        protocol::FenceSignal::Renews => disruption::Signal::Renews,
                        protocol::FenceSignal::Acks => disruption::Signal::Acks,
                    };
                    let now = self.now;
                    self.disruption
                        .handled(now, from, id, sent_at, echo_ns, heard);
                }
                self.describe(|| format!("{msg:?}"));
                self.step(
                    id,
                    Input::Message {
                        from: NodeId(from),
                        msg,
                    },
                );
            }
            Stashed::Timer { timer, generation } => {
                // Still armed as it was? (A stashed timer may have been re-armed since.)
                let n = &mut self.nodes[id as usize - 1];
                if n.timers.get(&timer).map(|t| t.0) == Some(generation) {
                    n.timers.remove(&timer);
                    self.record(Kind::Timer, id, 0, "timer", u64::from(timer.0), 0);
                    self.step(id, Input::Timer(timer));
                }
            }
            Stashed::WriteDone { tag } => self.notify_write(id, tag),
            Stashed::Disconnected { peer } => {
                self.step(id, Input::Disconnected { peer: NodeId(peer) })
            }
            Stashed::Client(cmd) => self.step(id, Input::Client(cmd)),
            Stashed::Membership(change) => self.step(id, Input::ChangeMembership(change)),
        }
    }

    fn resume(&mut self, id: u32) {
        let n = &mut self.nodes[id as usize - 1];
        if !n.paused {
            return;
        }
        n.paused = false;
        self.disruption.disturbed(id);
        // One at a time from the stash itself, so that a connection the node closes as it
        // resumes takes what is still unread on it (`reset_link`).
        while let Some(item) = self.nodes[id as usize - 1].stash.pop_front() {
            // A step crashes no node, but stay safe if that ever changes.
            if self.nodes[id as usize - 1].state.is_none() {
                break;
            }
            self.perform(id, item);
        }
    }

    /// A paused (or resuming) node's connection to `peer` was closed or reset: what it
    /// had not yet read from `peer` is lost with it, as a closed socket's buffer is. ZAB
    /// seed 143115: a learner that left its leader on resuming read, on its new session,
    /// the LEADERINFO, SNAP and NEWLEADER sent to its old one.
    fn drop_unread(&mut self, node: u32, peer: u32) {
        let stash = &mut self.nodes[node as usize - 1].stash;
        if stash.is_empty() {
            return;
        }
        let (lost, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(stash)
            .into_iter()
            .partition(|item| matches!(item, Stashed::Message { from, .. } if *from == peer));
        self.nodes[node as usize - 1].stash = kept;
        for item in lost {
            if let Stashed::Message { msg, sent_at, .. } = item {
                self.drop_msg(peer, node, &msg, sent_at, "reset");
            }
        }
    }

    /// Records that `id` holds a lease for `term` until the local time `until_local`, in
    /// true time as the node's clock now maps it.
    fn record_lease(&mut self, id: u32, term: u64, until_local: u64, label: &'static str) {
        let at_ns = self.now;
        let until_ns = self.nodes[id as usize - 1]
            .clock
            .true_at(until_local, at_ns);
        self.record(Kind::Lease, id, 0, label, term, until_ns);
        let what = What::Lease { term, until_ns };
        self.node_event(NodeEvent {
            at_ns,
            node: id,
            what,
        });
        self.leases.push(LeaseRecord {
            node: id,
            term,
            from_ns: at_ns,
            until_ns,
        });
    }

    /// After a clock step or rate change, armed timers fire at new true times, and a lease
    /// the node holds ends at a new true time (a clock stepped back stretches it).
    fn clock_changed(&mut self, id: u32) {
        self.rearm_timers(id);
        let n = &self.nodes[id as usize - 1];
        if let (Some((term, until_local)), true) = (n.lease, n.state.is_some()) {
            if until_local > n.clock.local(self.now) {
                self.record_lease(id, term, until_local, "lease_moved");
            }
        }
    }

    fn rearm_timers(&mut self, id: u32) {
        let now = self.now;
        let n = &mut self.nodes[id as usize - 1];
        let mut rearmed = Vec::new();
        for (timer, (generation, deadline)) in n.timers.iter_mut() {
            n.timer_generation += 1;
            *generation = n.timer_generation;
            rearmed.push((n.clock.true_at(*deadline, now), *timer, *generation));
        }
        for (at, timer, generation) in rearmed {
            self.queue_timer(id, timer, generation, at);
        }
    }

    // -----------------------------------------------------------------------------------
    // Network

    fn send(&mut self, from: u32, to: u32, msg: P::Message) {
        self.messages_sent += 1;
        if let Some((lasting, aimed)) = self.crash_on_next_send {
            if aimed.is_none_or(|k| k == msg.kind()) {
                self.crash_on_next_send = None;
                self.crash_after_step(from, lasting);
            }
        }
        if to == 0 || to > self.sc.nodes {
            panic!(
                "n{from} sent {} to n{to}, which is not in the cluster",
                msg.kind()
            );
        }
        let i = self.links.index(from, to);
        let seq = if self.fifo {
            self.links.take_send_seq(i)
        } else {
            0
        };
        let wire = Wire {
            msg,
            sent_at: self.now,
            epoch: self.links.epoch[i],
            seq,
            to_incarnation: self.nodes[to as usize - 1].incarnation,
            echo_ns: self.disruption.echo(from, to),
        };
        if self.links.is_cut(from, to) && !self.fifo {
            self.drop_msg(from, to, &wire.msg, wire.sent_at, "partition");
            return;
        }
        if self.links.is_clogged(from, to) || self.links.is_cut(from, to) {
            // Clogged, or a partitioned TCP connection: held, nothing said to either end;
            // it leaves when the link is clear unless the connection is reset.
            self.hold(from, to, wire);
            return;
        }
        if self.rng_net.chance(self.loss) {
            self.drop_msg(from, to, &wire.msg, wire.sent_at, "loss");
            return;
        }
        self.transmit(from, to, wire);
    }

    fn hold(&mut self, from: u32, to: u32, wire: Wire<P::Message>) {
        self.record(
            Kind::Clogged,
            to,
            from,
            wire.msg.kind(),
            digest(&wire.msg),
            wire.sent_at,
        );
        let i = self.links.index(from, to);
        self.links.held[i].push_back(wire);
    }

    /// Sends on what links now clear held. A message whose FIFO connection was reset
    /// meanwhile (a crash) is lost; the others keep their sequence numbers, so the
    /// receiver still takes them in send order.
    fn release_held(&mut self) {
        // A close's FIN first: queued now, it reaches the far end ahead of everything sent
        // after it, which leaves below with a later arrival.
        for (a, b, epoch) in std::mem::take(&mut self.fins) {
            if self.links.epoch[self.links.index(a, b)] != epoch {
                continue; // reset since (a crash): both ends were told then
            }
            if self.links.is_cut(a, b) || self.links.is_clogged(a, b) {
                self.fins.push((a, b, epoch));
                continue;
            }
            self.tell_disconnected(b, a);
        }
        for (from, to, wire) in self.links.take_clear() {
            let i = self.links.index(from, to);
            if self.fifo && self.links.epoch[i] != wire.epoch {
                self.drop_msg(from, to, &wire.msg, wire.sent_at, "reset");
            } else {
                self.transmit(from, to, wire);
            }
        }
    }

    /// Puts a message on the wire with a latency drawn for it.
    fn transmit(&mut self, from: u32, to: u32, wire: Wire<P::Message>) {
        let net = &self.sc.network;
        let (reorder, duplicate) = if self.calm {
            (0.0, 0.0)
        } else {
            (net.reorder, net.duplicate)
        };
        let mut latency = ns(self.rng_net.duration(net.latency.0, net.latency.1));
        if self.fifo {
            let i = self.links.index(from, to);
            let at = (self.now + latency).max(self.links.last_arrival[i]);
            self.links.last_arrival[i] = at;
            self.push(at, Ev::Deliver { from, to, wire });
            return;
        }
        if self.rng_net.chance(reorder) {
            latency += ns(self
                .rng_net
                .duration(net.reorder_delay.0, net.reorder_delay.1));
        }
        if self.rng_net.chance(duplicate) {
            // The copy is a message of its own: it may be held back out of order like any
            // other, so a duplicate can arrive long after the original (a retransmitting
            // middlebox), answering a question its receiver asked a leadership ago.
            let mut again = ns(self.rng_net.duration(net.latency.0, net.latency.1));
            if self.rng_net.chance(reorder) {
                again += ns(self
                    .rng_net
                    .duration(net.reorder_delay.0, net.reorder_delay.1));
            }
            let copy = Wire {
                msg: wire.msg.clone(),
                ..wire
            };
            self.push(
                self.now + again,
                Ev::Deliver {
                    from,
                    to,
                    wire: copy,
                },
            );
        }
        self.push(self.now + latency, Ev::Deliver { from, to, wire });
    }

    fn drop_msg(&mut self, from: u32, to: u32, msg: &P::Message, sent_at: u64, why: &'static str) {
        self.messages_dropped += 1;
        self.record(Kind::Drop, to, from, why, digest(msg), sent_at);
        if self.fifo && why != "reset" && why != "crashed" {
            // On a FIFO link a lost message is a broken connection, never a hole.
            self.reset_link(from, to, "reset");
        }
    }

    /// Breaks the FIFO connection between two nodes (`why`: "reset", or "close" when `a`
    /// closed it): what is in flight is lost and both ends are told; the next connection
    /// numbers its messages from zero.
    fn reset_link(&mut self, a: u32, b: u32, why: &'static str) {
        for (x, y) in [(a, b), (b, a)] {
            let i = self.links.index(x, y);
            self.links.reset(i);
        }
        self.record(Kind::Reset, a, b, why, 0, 0);
        self.disruption.connection_reset(a, b);
        self.drop_unread(a, b);
        self.drop_unread(b, a);
        self.tell_disconnected(a, b);
        // A close reaches the far end as TCP's FIN does, on the link: one that is cut or
        // clogged holds it, ahead of what the closer sends next, until it clears. (Told
        // through a partition, a cut-off ZAB leader would step down the moment its
        // learners gave up on it, rather than when it notices their silence.)
        if why == "close" && (self.links.is_cut(a, b) || self.links.is_clogged(a, b)) {
            let epoch = self.links.epoch[self.links.index(a, b)];
            self.fins.push((a, b, epoch));
        } else {
            self.tell_disconnected(b, a);
        }
    }

    /// Queues, at the current instant, `node`'s news that its connection to `peer` is gone.
    fn tell_disconnected(&mut self, node: u32, peer: u32) {
        let n = &self.nodes[node as usize - 1];
        if n.state.is_some() {
            let incarnation = n.incarnation;
            self.push(
                self.now,
                Ev::Disconnected {
                    node,
                    peer,
                    incarnation,
                },
            );
        }
    }

    fn deliver(&mut self, from: u32, to: u32, wire: Wire<P::Message>) {
        let i = self.links.index(from, to);
        if self.links.is_cut(from, to) {
            if self.fifo && self.links.epoch[i] == wire.epoch {
                // A TCP connection cut while the message was in flight retransmits it later.
                self.hold(from, to, wire);
            } else {
                // The partition began while the message was in flight.
                self.drop_msg(from, to, &wire.msg, wire.sent_at, "partition");
            }
            return;
        }
        if !self.fifo {
            self.hand_over(from, to, wire);
            return;
        }
        if self.links.epoch[i] != wire.epoch {
            self.drop_msg(from, to, &wire.msg, wire.sent_at, "reset");
            return;
        }
        // TCP reassembly: hand over in sequence; what arrives early waits for its turn.
        if wire.seq != self.links.next_recv[i] {
            debug_assert!(
                wire.seq > self.links.next_recv[i],
                "a FIFO message arrived twice"
            );
            self.links.early[i].insert(wire.seq, wire);
            return;
        }
        let epoch = wire.epoch;
        let mut next = Some(wire);
        while let Some(wire) = next {
            self.links.next_recv[i] += 1;
            self.hand_over(from, to, wire);
            // A step may have reset this very connection (which clears what waited).
            next = if self.links.epoch[i] == epoch {
                let seq = self.links.next_recv[i];
                self.links.early[i].remove(&seq)
            } else {
                None
            };
        }
    }

    /// Gives an arrived message to its node: lost if the node crashed since it was sent,
    /// kept for later if the node is paused.
    fn hand_over(&mut self, from: u32, to: u32, wire: Wire<P::Message>) {
        let n = &self.nodes[to as usize - 1];
        if n.state.is_none() || n.incarnation != wire.to_incarnation {
            self.drop_msg(from, to, &wire.msg, wire.sent_at, "crashed");
            return;
        }
        let Wire {
            msg,
            sent_at,
            echo_ns,
            ..
        } = wire;
        let message = Stashed::Message {
            from,
            msg,
            sent_at,
            echo_ns,
        };
        self.give(to, message);
    }

    // -----------------------------------------------------------------------------------
    // Clients

    fn think(&mut self) -> u64 {
        let (lo, hi) = self.sc.workload.think;
        ns(self.rng_work.duration(lo, hi))
    }

    fn client_latency(&mut self) -> u64 {
        let (lo, hi) = self.sc.network.client_latency;
        ns(self.rng_work.duration(lo, hi))
    }

    fn client_next(&mut self, c: u32) {
        if self.now >= ns(self.sc.workload.stop) {
            return;
        }
        let w = &self.sc.workload;
        let key_index = self.rng_work.index(w.keys as usize);
        let key = self.key_names[key_index].clone();
        let [r, wr, _] = w.mix;
        let total: f64 = w.mix.iter().sum();
        let x = self.rng_work.unit() * total;
        // A sticky client whose server is read-only draws as the others do, then reads.
        let home = self.clients[c as usize].home;
        let read_only = w.target == Target::Sticky && w.read_only_at.contains(&home);
        let op = if x < r || read_only {
            Op::Read { key }
        } else if x < r + wr {
            self.next_value += 1;
            Op::Write {
                key,
                value: self.next_value,
            }
        } else {
            self.next_value += 1;
            let from = match self.known_values[key_index] {
                Some(v) if self.rng_work.chance(0.8) => v,
                _ => self.rng_work.range_u64(1, self.next_value),
            };
            Op::Cas {
                key,
                from,
                to: self.next_value,
            }
        };
        self.next_op += 1;
        let id = OpId((self.next_op << CLIENT_BITS) | u64::from(c));
        let target = match self.sc.workload.target {
            Target::Leader => {
                let client = &self.clients[c as usize];
                client.leader_guess.unwrap_or(client.target)
            }
            Target::Random => self.client_pick(),
            Target::Sticky => home,
        };
        let client = &mut self.clients[c as usize];
        client.current = Some(self.history.len());
        client.target = target;
        client.retries_left = self.sc.workload.retries;
        self.history.invoke(client.process, c, id, &op, self.now);
        self.record(Kind::Invoke, target, c, "invoke", id.0, 0);
        self.describe(|| op.to_string());
        self.arm_timeout(c, id);
        self.client_send(target, Command { id, op }, 0);
    }

    /// Client `c` gives up on (or sends again) operation `id` a timeout from now.
    fn arm_timeout(&mut self, c: u32, id: OpId) {
        let at = self.now + ns(self.sc.workload.timeout);
        self.seq += 1;
        let seq = self.seq;
        let client = &mut self.clients[c as usize];
        if client.timeout_carrier.is_some_and(|t| t <= at) {
            client.deferred_timeout = Some((at, seq, id));
        } else {
            client.timeout_carrier = Some(at);
            client.deferred_timeout = None;
            self.push_keyed(at, seq, Ev::ClientTimeout { client: c, id });
        }
    }

    fn client_send(&mut self, node: u32, cmd: Command, delay_ns: u64) {
        let at = self.now + delay_ns + self.client_latency();
        let incarnation = self.nodes[node as usize - 1].incarnation;
        self.push(
            at,
            Ev::ClientArrive {
                node,
                incarnation,
                cmd,
            },
        );
    }

    fn reply(&mut self, node: u32, id: OpId, reply: Reply) {
        let client = (id.0 & ((1 << CLIENT_BITS) - 1)) as u32;
        if client as usize >= self.clients.len() {
            panic!("n{node} replied to {id}, which no client sent");
        }
        let at = self.now + self.client_latency();
        self.push(
            at,
            Ev::ClientReply {
                client,
                id,
                reply,
                node,
            },
        );
    }

    fn current_op(&self, c: u32, id: OpId) -> Option<usize> {
        self.clients[c as usize]
            .current
            .filter(|&h| self.history.id(h) == id)
    }

    fn end_op(&mut self, c: u32, h: usize, outcome: Outcome, node: u32) {
        self.clients[c as usize].leaderless_since = None;
        let label = match &outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        let return_ns = (outcome != Outcome::Info).then_some(self.now);
        self.history.end(h, return_ns, &outcome, node);
        let id = self.history.id(h);
        self.record(Kind::Return, node, c, label, id.0, 0);
        if let Outcome::Ok(result) = &outcome {
            self.describe(|| result.to_string());
        }
        let client = &mut self.clients[c as usize];
        client.current = None;
        if outcome == Outcome::Info {
            // Jepsen: a process whose operation is indeterminate never issues another.
            client.process = self.next_process;
            self.next_process += 1;
        }
        if let Outcome::Ok(result) = outcome {
            let r = self.history.records()[h];
            let index: usize = self.history.key_name(r.key)[1..]
                .parse()
                .expect("keys are k<number>");
            self.known_values[index] = match (r.kind, result) {
                (_, OpResult::Read(v)) => v,
                (OpKind::Write, _) => Some(r.a),
                (OpKind::Cas, OpResult::Cas(true)) => Some(r.b),
                _ => self.known_values[index],
            };
        }
        let think = self.think();
        self.push(self.now + think, Ev::ClientNext { client: c });
    }

    fn client_reply(&mut self, c: u32, id: OpId, reply: Reply, node: u32) {
        let Some(h) = self.current_op(c, id) else {
            self.record(Kind::Return, node, c, "late", id.0, 0);
            return;
        };
        match reply {
            Reply::Ok(result) => self.end_op(c, h, Outcome::Ok(result), node),
            // One attempt of an operation sent again failed: another may still apply it.
            Reply::Error {
                maybe_applied: false,
                ..
            } if self.clients[c as usize].retries_left < self.sc.workload.retries => {
                self.end_op(c, h, Outcome::Info, node)
            }
            Reply::Error {
                maybe_applied: false,
                ..
            } => self.end_op(c, h, Outcome::Fail, node),
            Reply::Error {
                maybe_applied: true,
                ..
            } => self.end_op(c, h, Outcome::Info, node),
            Reply::NotLeader { hint } => {
                self.record(
                    Kind::Return,
                    node,
                    c,
                    "redirect",
                    id.0,
                    hint.map_or(0, |h| u64::from(h.0)),
                );
                let next = match hint {
                    Some(h)
                        if h.0 != node
                            && h.0 >= 1
                            && h.0 <= self.sc.nodes
                            && !self.lost.contains(&h.0) =>
                    {
                        h.0
                    }
                    // A session stays with its own server while that server has no leader
                    // to name (ZAB: electing), for as long as an election may take; a
                    // server that names none for longer (removed from the membership, or
                    // a spare) loses the session to the next server.
                    _ if self.sc.workload.target == Target::Sticky => {
                        let patience = ns(self.sc.options.election_timeout.1);
                        let nodes = self.sc.nodes;
                        let client = &mut self.clients[c as usize];
                        let since = *client.leaderless_since.get_or_insert(self.now);
                        if self.now - since > patience {
                            client.home = next_live(client.home, nodes, &self.lost);
                            client.leaderless_since = None;
                        }
                        client.home
                    }
                    _ => next_live(node, self.sc.nodes, &self.lost),
                };
                self.clients[c as usize].leader_guess = Some(next);
                self.clients[c as usize].target = next;
                let cmd = Command {
                    id,
                    op: self.history.op(h),
                };
                // A short back-off keeps a leaderless cluster from a redirect storm.
                let backoff = if hint.is_some() {
                    0
                } else {
                    REDIRECT_BACKOFF_NS
                };
                self.client_send(next, cmd, backoff);
            }
        }
    }

    fn client_timeout(&mut self, c: u32, id: OpId) {
        let client = &mut self.clients[c as usize];
        if client.timeout_carrier == Some(self.now) {
            client.timeout_carrier = None;
        }
        if let Some((at, seq, deferred)) = client.deferred_timeout.take() {
            client.timeout_carrier = Some(at);
            self.push_keyed(
                at,
                seq,
                Ev::ClientTimeout {
                    client: c,
                    id: deferred,
                },
            );
        }
        if let Some(h) = self.current_op(c, id) {
            let retry = self.clients[c as usize].retries_left > 0;
            self.clients[c as usize].leader_guess = None;
            let mut elsewhere = self.client_pick();
            if self.sc.workload.target == Target::Sticky {
                // A session that timed out while walking servers that name no leader
                // moves on from the one it last tried, down the same ring, rather than
                // to a server drawn at random: a draw may start the walk again where it
                // began, and a run of such servers (removed, or spares), each kept for
                // an election's patience, may be longer than a timeout, so a walk
                // restarted at random may never get past them. Otherwise (its server
                // named a leader, or never answered) it goes where the draw says. The
                // draw is made either way, so the workload's later draws stay as they
                // were.
                let client = &self.clients[c as usize];
                if client.leaderless_since.is_some() {
                    elsewhere = next_live(client.target, self.sc.nodes, &self.lost);
                }
                self.clients[c as usize].home = elsewhere;
            }
            self.clients[c as usize].target = elsewhere;
            if retry {
                // The same command, under its id, to the server the timeout picks: the
                // operation stays open from its first invocation to its one reply.
                self.clients[c as usize].retries_left -= 1;
                self.record(Kind::Timeout, elsewhere, c, "retry", id.0, 0);
                self.arm_timeout(c, id);
                let cmd = Command {
                    id,
                    op: self.history.op(h),
                };
                self.client_send(elsewhere, cmd, 0);
            } else {
                self.record(Kind::Timeout, 0, c, "timeout", id.0, 0);
                self.end_op(c, h, Outcome::Info, 0);
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Faults

    /// The node that leads now: the live node reporting Leader with the highest term.
    fn current_leader(&self) -> Option<u32> {
        self.nodes
            .iter()
            .filter(|n| n.state.is_some() && n.role == Role::Leader)
            .max_by_key(|n| (n.term, std::cmp::Reverse(n.id)))
            .map(|n| n.id)
    }

    fn resolve(&self, sel: NodeSel) -> Option<u32> {
        match sel {
            NodeSel::Id(id) => Some(id),
            NodeSel::Leader => self.current_leader(),
            NodeSel::Crashed => self
                .faults
                .iter()
                .rev()
                .filter_map(|f| match f.fault {
                    Fault::Crash { .. } | Fault::Corrupt { .. } => f.node,
                    _ => None,
                })
                .find(|&id| {
                    self.nodes[id as usize - 1].state.is_none() && !self.lost.contains(&id)
                }),
        }
    }

    fn apply_fault(&mut self, fault: Fault, from_nemesis: bool) {
        // A membership change goes to whoever leads (like a leader-targeted fault).
        let to_leader = matches!(fault, Fault::AddServer { .. } | Fault::RemoveServer { .. });
        let node = match fault.node() {
            None if to_leader => match self.current_leader() {
                Some(id) => Some(id),
                None => {
                    self.record(Kind::FaultSkipped, 0, 0, fault.name(), 0, 0);
                    return;
                }
            },
            Some(sel) => match self.resolve(sel) {
                Some(id) => Some(id),
                None => {
                    self.record(Kind::FaultSkipped, 0, 0, fault.name(), 0, 0);
                    return;
                }
            },
            None => None,
        };
        // A node lost for good is never brought back.
        if matches!(fault, Fault::Restart { .. }) && node.is_some_and(|id| self.lost.contains(&id))
        {
            self.record(Kind::FaultSkipped, 0, 0, fault.name(), 0, 0);
            return;
        }
        // A corrupt fault that names no record draws one now, from the fault stream, and
        // is recorded with it: an explicit schedule made of the applied faults (shrinking)
        // then damages the same record without drawing.
        let fault = match fault {
            Fault::Corrupt { node, pick: None } => Fault::Corrupt {
                node,
                pick: Some(self.draw_pick()),
            },
            other => other,
        };
        self.record(Kind::Fault, node.unwrap_or(0), 0, fault.name(), 0, 0);
        self.describe(|| format!("{fault:?}"));
        // Liveness is judged from the last fault of any kind, so a crash never followed by
        // a restart cannot pass it vacuously.
        self.last_heal_ns = self.now;
        self.faults.push(AppliedFault {
            at_ns: self.now,
            fault: fault.clone(),
            node,
            from_nemesis,
            outcome: None,
        });
        self.disruption_sees(&fault, node);
        let n = self.sc.nodes;
        match fault {
            Fault::Partition { groups } => {
                let mut group = vec![usize::MAX; n as usize + 1];
                for (g, members) in groups.iter().enumerate() {
                    for &m in members {
                        group[m as usize] = g;
                    }
                }
                for a in 1..=n {
                    for b in 1..=n {
                        if group[a as usize] != group[b as usize] {
                            self.links.cut(a, b);
                        }
                    }
                }
            }
            Fault::Bridge { groups, .. } => {
                for &a in &groups[0] {
                    for &b in &groups[1] {
                        self.links.cut(a, b);
                        self.links.cut(b, a);
                    }
                }
            }
            Fault::OneWay { from, to } => {
                for &a in &from {
                    for &b in &to {
                        self.links.cut(a, b);
                    }
                }
            }
            Fault::Isolate { .. } => {
                let id = node.expect("resolved above");
                for other in 1..=n {
                    self.links.cut(id, other);
                    self.links.cut(other, id);
                }
            }
            Fault::Heal => {
                self.links.heal();
                self.release_held();
            }
            Fault::Crash { .. } => self.crash(node.expect("resolved above")),
            Fault::Corrupt { pick, .. } => {
                let pick = pick.expect("drawn above");
                self.corrupt(node.expect("resolved above"), pick);
            }
            Fault::Restart { .. } => {
                self.restart(node.expect("resolved above"));
            }
            Fault::Pause { .. } => {
                self.nodes[node.expect("resolved above") as usize - 1].paused = true
            }
            Fault::Resume { .. } => {
                self.resume(node.expect("resolved above"));
            }
            Fault::ClockStep { by_nanos, .. } => {
                let id = node.expect("resolved above");
                self.nodes[id as usize - 1].clock.step(self.now, by_nanos);
                self.clock_changed(id);
            }
            Fault::Drift { rate, .. } => {
                let id = node.expect("resolved above");
                self.nodes[id as usize - 1].clock.set_rate(self.now, rate);
                self.clock_changed(id);
            }
            Fault::Loss { probability } => {
                self.loss = probability;
            }
            Fault::Clog { from, to } => {
                for &a in &from {
                    for &b in &to {
                        self.links.clog(a, b);
                    }
                }
            }
            Fault::Unclog => {
                self.links.unclog();
                self.release_held();
            }
            Fault::HealAll => {
                self.heal_all();
                if from_nemesis && self.sc.network.calm_after_heal {
                    self.calm = true;
                    self.loss = 0.0;
                }
                if from_nemesis {
                    self.final_loss();
                }
            }
            Fault::Lose { .. } => {
                let id = node.expect("resolved above");
                self.crash(id);
                if let Err(at) = self.lost.binary_search(&id) {
                    self.lost.insert(at, id);
                }
                self.stand(id, Disk::All);
            }
            Fault::AddServer { node: server } => {
                let change = MembershipChange::Add(NodeId(server));
                self.give(node.expect("resolved above"), Stashed::Membership(change));
            }
            Fault::RemoveServer { node: server } => {
                let change = MembershipChange::Remove(NodeId(server));
                self.give(node.expect("resolved above"), Stashed::Membership(change));
            }
        }
    }

    /// What a fault changes for the disruption checker: whose fence it disturbs (crash,
    /// restart and resume are seen where they happen; heal_all does them too).
    fn disruption_sees(&mut self, fault: &Fault, node: Option<u32>) {
        match fault {
            Fault::Pause { .. } | Fault::ClockStep { .. } => {
                self.disruption.disturbed(node.expect("resolved above"))
            }
            Fault::Drift { rate, .. } => {
                let id = node.expect("resolved above");
                self.disruption.clock_rate(id, *rate)
            }
            _ => {}
        }
    }

    /// The time to the next fault, at the scenario's total rate whatever this seed's swarm
    /// mix kept (the mix decides which kind each fault is).
    fn nemesis_gap(&mut self) -> u64 {
        let total: f64 = self
            .sc
            .nemesis
            .as_ref()
            .map_or(0.0, |n| n.rates.iter().sum());
        if total <= 0.0 {
            return u64::MAX / 4;
        }
        ns(self
            .rng_nemesis
            .exponential(Duration::from_secs_f64(1.0 / total)))
    }

    /// A record choice for a storage fault: 63 bits, so that a schedule written from the
    /// applied faults (TOML integers are signed) can carry it.
    fn draw_pick(&mut self) -> u64 {
        self.rng_nemesis.next_u64() >> 1
    }

    /// A storage fault on node `id`: it crashes if it is up, then the protocol damages
    /// one record of its durable image (what it will find when it restarts).
    fn corrupt(&mut self, id: u32, pick: u64) {
        self.crash(id);
        let spared = self.spared_records(id);
        let damaged = spared
            .as_ref()
            .and_then(|spared| P::corrupt(&mut self.nodes[id as usize - 1].durable, pick, spared));
        let (label, text) = match (&damaged, &spared) {
            (Some(what), _) => ("damaged", what.clone()),
            (None, Some(_)) => ("nothing_to_damage", "nothing to damage".to_string()),
            // The same label (and trace event): only the words say why.
            (None, None) => (
                "nothing_to_damage",
                format!(
                    "nothing damaged: {} voters have no copy to spare",
                    self.sc.voter_count()
                ),
            ),
        };
        self.record(Kind::Corrupt, id, 0, label, pick, digest(&damaged));
        self.describe(|| text.clone());
        if let Some(applied) = self.faults.last_mut() {
            applied.outcome = Some(text);
        }
    }

    /// The records a storage fault on `id` must leave intact to stay within the fault model
    /// a protocol that survives damaged records has (Protocol-Aware Recovery, FAST'18): an
    /// intact copy of every record on a majority, so at most `n - majority` damaged copies
    /// of any one. Those already damaged on that many other nodes; None when the cluster has
    /// no copy to spare (two nodes: one damaged copy leaves no intact majority).
    fn spared_records(&self, id: u32) -> Option<BTreeSet<u64>> {
        let n = self.sc.voter_count() as usize;
        let allowed = n - protocol::quorum(n);
        if allowed == 0 {
            return None;
        }
        let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if i + 1 != id as usize {
                for record in P::damaged(&node.durable) {
                    *copies.entry(record).or_default() += 1;
                }
            }
        }
        Some(
            copies
                .into_iter()
                .filter(|&(_, damaged)| damaged >= allowed)
                .map(|(record, _)| record)
                .collect(),
        )
    }

    /// One of `listed` (kinds of write or message the scenario aims at), drawn uniformly,
    /// as the protocol's own name for it; None when the scenario aims at none.
    fn draw_aim(&mut self, listed: &[String], known: &[&'static str]) -> Option<&'static str> {
        if listed.is_empty() {
            return None;
        }
        let name = listed[self.rng_nemesis.index(listed.len())].as_str();
        known.iter().copied().find(|k| *k == name)
    }

    fn random_node(&mut self) -> u32 {
        1 + self.rng_nemesis.index(self.sc.nodes as usize) as u32
    }

    /// The node a fault aims at, else one drawn at random.
    fn aimed_node(&mut self, aim: Option<u32>) -> u32 {
        match aim {
            Some(id) => id,
            None => self.random_node(),
        }
    }

    /// Draws one fault from the nemesis's mix and applies it (or, for a kind in
    /// `on_mark` or `on_new_leader`, leaves it waiting for the next trigger mark or
    /// leader), then schedules the next.
    fn nemesis_tick(&mut self) {
        let Some(nem) = self.nemesis.as_ref() else {
            return;
        };
        let stop = ns(nem.stop);
        let total: f64 = nem.rates.iter().sum();
        let mut x = self.rng_nemesis.unit() * total;
        let mut kind = 0;
        for (k, rate) in nem.rates.iter().enumerate() {
            if x < *rate {
                kind = k;
                break;
            }
            x -= rate;
        }
        if nem.on_mark[kind] {
            self.waiting_for_mark[kind] = true;
        } else if nem.on_new_leader[kind] {
            self.waiting_for_leader[kind] = true;
        } else {
            self.nemesis_fault(kind, None);
        }
        self.schedule_nemesis_tick(stop);
    }

    /// Applies one fault of nemesis kind `kind` and schedules its undo. Aimed at node
    /// `aim` (it just took a trigger mark), a kind that picks a node picks it: it crashes,
    /// pauses, is damaged, steps or drifts its clock, is clogged from a peer; the kinds
    /// aimed at the leader act on it whether it leads or not, and a partition puts it on
    /// the side cut off first. The other kinds strike as usual.
    fn nemesis_fault(&mut self, kind: usize, aim: Option<u32>) {
        let Some(nem) = self.nemesis.clone() else {
            return;
        };
        let stop = ns(nem.stop);
        let (lo, hi) = nem.duration_of(kind);
        let lasting = ns(self.rng_nemesis.duration(lo, hi));
        let undo_at = (self.now + lasting).min(stop);
        let n = self.sc.nodes;
        let (fault, undo) = match NEMESIS_KINDS[kind] {
            "crash" => {
                let id = self.aimed_node(aim);
                (
                    Fault::Crash {
                        node: NodeSel::Id(id),
                    },
                    Some(Fault::Restart {
                        node: NodeSel::Id(id),
                    }),
                )
            }
            "corrupt" => {
                if nem
                    .corrupt_max
                    .is_some_and(|max| self.corrupts_drawn >= max)
                {
                    self.record(Kind::FaultSkipped, 0, 0, "corrupt", 0, 0);
                    return;
                }
                self.corrupts_drawn += 1;
                let node = NodeSel::Id(self.aimed_node(aim));
                let pick = Some(self.draw_pick());
                (Fault::Corrupt { node, pick }, Some(Fault::Restart { node }))
            }
            "pause" => {
                let id = self.aimed_node(aim);
                (
                    Fault::Pause {
                        node: NodeSel::Id(id),
                    },
                    Some(Fault::Resume {
                        node: NodeSel::Id(id),
                    }),
                )
            }
            "partition" => {
                let shape = self.rng_nemesis.index(3);
                let mut order: Vec<u32> = (1..=n).collect();
                for i in (1..order.len()).rev() {
                    let j = self.rng_nemesis.index(i + 1);
                    order.swap(i, j);
                }
                if let Some(id) = aim {
                    let at = order.iter().position(|&m| m == id).unwrap_or(0);
                    order.swap(0, at);
                }
                let split = 1 + self.rng_nemesis.index((n as usize - 1).max(1));
                let (a, b) = order.split_at(split.min(order.len()));
                let fault = match shape {
                    0 if n >= 3 && b.len() >= 2 => Fault::Bridge {
                        groups: [a.to_vec(), b[1..].to_vec()],
                        bridge: b[0],
                    },
                    1 => Fault::OneWay {
                        from: a.to_vec(),
                        to: b.to_vec(),
                    },
                    _ => Fault::Partition {
                        groups: vec![a.to_vec(), b.to_vec()],
                    },
                };
                (fault, Some(Fault::Heal))
            }
            "clock_step" => {
                let id = self.aimed_node(aim);
                let max = ns(nem.clock_step_max) as i64;
                let by = self.rng_nemesis.range_u64(0, 2 * max as u64) as i64 - max;
                (
                    Fault::ClockStep {
                        node: NodeSel::Id(id),
                        by_nanos: by,
                    },
                    None,
                )
            }
            "clog" => {
                let a = self.aimed_node(aim);
                let b = self.random_node();
                (
                    Fault::Clog {
                        from: vec![a],
                        to: vec![b],
                    },
                    Some(Fault::Unclog),
                )
            }
            "crash_leader" | "pause_leader" | "isolate_leader" => {
                let Some(id) = aim.or_else(|| self.current_leader()) else {
                    self.record(Kind::FaultSkipped, 0, 0, NEMESIS_KINDS[kind], 0, 0);
                    return;
                };
                let node = NodeSel::Id(id);
                match NEMESIS_KINDS[kind] {
                    "crash_leader" => (Fault::Crash { node }, Some(Fault::Restart { node })),
                    "pause_leader" => (Fault::Pause { node }, Some(Fault::Resume { node })),
                    _ => (Fault::Isolate { node }, Some(Fault::Heal)),
                }
            }
            "crash_writing" => {
                let aimed = self.draw_aim(&nem.crash_writing_kinds, P::WRITE_KINDS);
                let writing: Vec<u32> = self
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.state.is_some()
                            && match aimed {
                                None => !n.writes.is_empty(),
                                Some(kind) => {
                                    n.writes.iter().any(|(_, w)| P::write_kind(w) == kind)
                                }
                            }
                    })
                    .map(|n| n.id)
                    .collect();
                if writing.is_empty() {
                    // Crash whichever node issues the next write (of the kind aimed at),
                    // while it is in flight.
                    self.crash_on_next_write = Some((lasting, aimed));
                    return;
                }
                let node = NodeSel::Id(writing[self.rng_nemesis.index(writing.len())]);
                (Fault::Crash { node }, Some(Fault::Restart { node }))
            }
            "crash_sending" => {
                // Crash whichever node next sends a message of the kind aimed at, right
                // after the step that sent it.
                let aimed = self.draw_aim(&nem.crash_sending_kinds, P::MESSAGE_KINDS);
                self.crash_on_next_send = Some((lasting, aimed));
                return;
            }
            "crash_new_leader" => {
                // Crash whichever node next becomes leader, right after it does.
                self.crash_on_next_leader_ns = Some(lasting);
                return;
            }
            "reconfigure" => {
                // Add a non-member or remove a member (keeping three), by the membership
                // the leader last reported; skipped while no one leads.
                let Some(leader) = self.current_leader() else {
                    self.record(Kind::FaultSkipped, 0, 0, "reconfigure", 0, 0);
                    return;
                };
                let members = self.nodes[leader as usize - 1].members.clone();
                let others: Vec<u32> = (1..=n).filter(|id| !members.contains(id)).collect();
                let remove =
                    members.len() > 3 && (others.is_empty() || self.rng_nemesis.chance(0.5));
                let fault = if remove {
                    Fault::RemoveServer {
                        node: members[self.rng_nemesis.index(members.len())],
                    }
                } else if !others.is_empty() {
                    Fault::AddServer {
                        node: others[self.rng_nemesis.index(others.len())],
                    }
                } else {
                    self.record(Kind::FaultSkipped, 0, 0, "reconfigure", 0, 0);
                    return;
                };
                (fault, None)
            }
            "drift" => {
                let id = self.aimed_node(aim);
                // Within the widest rates a lease of this drift bound tolerates; adversarial
                // clocks take an end of that band, rounded inwards as the swarm's are.
                let bound = self.sc.options.clock_drift_bound;
                let u = 2.0 * self.rng_nemesis.unit() - 1.0;
                let (slowest, fastest) = crate::swarm::drift_band(bound, 1.0);
                let rate = match self.sc.clocks.extremes {
                    true if u < 0.0 => slowest,
                    true => fastest,
                    false => 1.0 + crate::swarm::widest_drift(bound) * u,
                };
                let base = self.nodes[id as usize - 1].base_rate;
                let node = NodeSel::Id(id);
                (
                    Fault::Drift { node, rate },
                    Some(Fault::Drift { node, rate: base }),
                )
            }
            "loss" => {
                let p = self.rng_nemesis.unit() * nem.loss_max;
                (
                    Fault::Loss { probability: p },
                    Some(Fault::Loss {
                        probability: self.sc.network.loss,
                    }),
                )
            }
            other => unreachable!("nemesis kind {other} has no fault"),
        };
        self.apply_fault(fault, true);
        if let Some(undo) = undo {
            self.push(
                undo_at,
                Ev::Fault {
                    fault: undo,
                    from_nemesis: true,
                },
            );
        }
    }

    fn schedule_nemesis_tick(&mut self, stop: u64) {
        let next = self.now + self.nemesis_gap();
        if next < stop {
            self.push(next, Ev::NemesisTick);
        }
    }

    /// A `crash_writing` fault waiting for a write saw node `id` issue one of kind `kind`,
    /// due to complete at `done`. Aimed at no kind, it crashes the node as soon as the step
    /// ends; aimed at this kind, at a random instant while the write is in flight (the
    /// writes queued before it may complete first: a crash between two writes).
    fn crash_in_write(&mut self, id: u32, kind: &'static str, done: u64) {
        match self.crash_on_next_write {
            Some((lasting, None)) => {
                self.crash_on_next_write = None;
                self.crash_after_step(id, lasting);
            }
            Some((lasting, Some(k))) if k == kind => {
                self.crash_on_next_write = None;
                let first = self.now + 1;
                let at = self.rng_nemesis.range_u64(first, done.max(first));
                let stop = self.nemesis.as_ref().map_or(self.end, |n| ns(n.stop));
                if at < stop {
                    self.crash_at(id, at, lasting);
                }
            }
            _ => {}
        }
    }

    /// A `crash_writing` fault caught node `id` issuing a write (or `crash_new_leader`
    /// caught it taking office): it crashes as soon as the step ends (before the write can
    /// complete, or its first entry reach anyone), and restarts `lasting` later (no later
    /// than the nemesis's stop).
    fn crash_after_step(&mut self, id: u32, lasting: u64) {
        // One nanosecond on, so that the same crash in an explicit schedule (which
        // `sim shrink` replays, and which fires before anything else queued for its
        // instant) also lands after the step that issued the write.
        self.crash_at(id, self.now + 1, lasting);
    }

    /// Crashes node `id` at `at` (not before the step under way ends) and restarts it
    /// `lasting` after the crash (no later than the nemesis's stop).
    fn crash_at(&mut self, id: u32, at: u64, lasting: u64) {
        let stop = self.nemesis.as_ref().map_or(self.end, |n| ns(n.stop));
        if self.now >= stop {
            return;
        }
        let node = NodeSel::Id(id);
        let fault = Fault::Crash { node };
        let undo = Fault::Restart { node };
        let from_nemesis = true;
        self.push(
            at,
            Ev::Fault {
                fault,
                from_nemesis,
            },
        );
        let undo_at = (at + lasting.max(1) - 1).min(stop);
        self.push(
            undo_at,
            Ev::Fault {
                fault: undo,
                from_nemesis,
            },
        );
    }

    /// A node for a client to turn to, drawn uniformly among those not lost for good.
    fn client_pick(&mut self) -> u32 {
        let n = self.sc.nodes as usize;
        let live = n - self.lost.len().min(n);
        if self.lost.is_empty() || live == 0 {
            return 1 + self.rng_work.index(n) as u32;
        }
        let mut id = 1 + self.rng_work.index(live) as u32;
        for &gone in &self.lost {
            if gone <= id {
                id += 1;
            }
        }
        id
    }

    /// `[nemesis] final_loss`: with that chance the final heal also loses a node for good,
    /// whoever leads then (a random node while no one does). Draws nothing when the chance
    /// is 0, so scenarios without it run as before it existed. A run that damaged a record
    /// loses no node: repairing the record may need the lost node's copy, and a correct
    /// protocol then blocks rather than guess (liveness could not be judged).
    fn final_loss(&mut self) {
        let chance = self.nemesis.as_ref().map_or(0.0, |nem| nem.final_loss);
        let damaged = self
            .faults
            .iter()
            .any(|f| matches!(f.fault, Fault::Corrupt { .. }));
        if chance <= 0.0 || damaged || !self.rng_nemesis.chance(chance) {
            return;
        }
        let id = match self.current_leader() {
            Some(id) => id,
            None => self.random_node(),
        };
        self.apply_fault(
            Fault::Lose {
                node: NodeSel::Id(id),
            },
            true,
        );
    }

    /// At the nemesis's stop time every fault it left is undone, so liveness can be judged.
    fn heal_all(&mut self) {
        self.crash_on_next_write = None;
        self.crash_on_next_leader_ns = None;
        self.waiting_for_leader = [false; NEMESIS_KIND_COUNT];
        self.waiting_for_mark = [false; NEMESIS_KIND_COUNT];
        self.crash_on_next_send = None;
        self.links.heal();
        self.links.unclog();
        self.release_held();
        self.loss = self.sc.network.loss;
        for id in 1..=self.sc.nodes {
            self.resume(id);
            self.restart(id);
        }
    }
}
