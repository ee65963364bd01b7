//! Scenario files: what cluster to build, what world it lives in, which faults to inject
//! when, and what must hold at the end. `docs/scenarios.md` documents every field.
//!
//! Parsing is two steps: serde reads the TOML into raw structs that refuse unknown fields
//! (the TOML parser then names the line), and [`Scenario::from_toml`] checks what serde
//! cannot (node ids inside the cluster, a node in two partition groups, ranges the right
//! way round) and turns the raw structs into the validated form the simulator runs.

use crate::duration::{Dur, SignedDur};
use crate::swarm::SwarmOption;
use protocol::ReadMode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Largest cluster a scenario may ask for.
pub const MAX_NODES: u32 = 64;
/// Largest number of simulated clients.
pub const MAX_CLIENTS: u32 = 1000;
/// Most times a client may send one operation again (`[workload] retries`).
pub const MAX_RETRIES: u32 = 100;

/// A scenario file that cannot be run, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

// ---------------------------------------------------------------------------------------
// Raw form, as serde reads it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    protocol: String,
    nodes: u32,
    #[serde(default)]
    seed: u64,
    duration: Dur,
    #[serde(default)]
    bugs: Vec<String>,
    #[serde(default)]
    options: RawOptions,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    clocks: RawClocks,
    #[serde(default)]
    workload: RawWorkload,
    /// Each fault is read on its own (`validate`), so that an error inside one names it
    /// and its line rather than the start of the list.
    #[serde(default)]
    faults: Vec<toml::Spanned<toml::Value>>,
    nemesis: Option<RawNemesis>,
    #[serde(default)]
    expect: RawExpect,
    swarm: Option<RawSwarm>,
}

/// `[swarm]`: the ranges each seed draws its own world from (`crate::swarm`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwarm {
    nodes: Option<[u32; 2]>,
    observers: Option<[u32; 2]>,
    spare: Option<f64>,
    grow_from_one: Option<f64>,
    election_timeout: Option<[Dur; 2]>,
    election_spread: Option<[Dur; 2]>,
    heartbeat_interval: Option<[Dur; 2]>,
    pre_vote: Option<f64>,
    check_quorum: Option<f64>,
    backtrack: Option<f64>,
    clock_drift_bound: Option<[f64; 2]>,
    latency: Option<[Dur; 2]>,
    loss: Option<[f64; 2]>,
    duplicate: Option<[f64; 2]>,
    reorder: Option<[f64; 2]>,
    write_latency: Option<[Dur; 2]>,
    offset: Option<[SignedDur; 2]>,
    drift: Option<[f64; 2]>,
    clients: Option<[u32; 2]>,
    retries: Option<[u32; 2]>,
    keys: Option<[u32; 2]>,
    read: Option<[f64; 2]>,
    write: Option<[f64; 2]>,
    cas: Option<[f64; 2]>,
    timeout: Option<[Dur; 2]>,
    think: Option<[Dur; 2]>,
    targets: Option<Vec<String>>,
    read_modes: Option<Vec<String>>,
    kind_on: Option<f64>,
    rate_scale: Option<[f64; 2]>,
    reorder_delay: Option<[Dur; 2]>,
    fault_duration_scale: Option<[f64; 2]>,
    crash_writing_kinds: Option<f64>,
    crash_sending_kinds: Option<f64>,
    on_new_leader: Option<f64>,
    on_mark: Option<f64>,
    intensity: Option<[f64; 2]>,
    clock_extremes: Option<f64>,
    corners: Option<f64>,
    final_loss: Option<f64>,
    #[serde(default)]
    options: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    election_timeout: Option<[Dur; 2]>,
    heartbeat_interval: Option<Dur>,
    pre_vote: Option<bool>,
    check_quorum: Option<bool>,
    clock_drift_bound: Option<f64>,
    observers: Option<u32>,
    backtrack: Option<String>,
    members: Option<Vec<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency: Option<[Dur; 2]>,
    loss: Option<f64>,
    duplicate: Option<f64>,
    reorder: Option<f64>,
    reorder_delay: Option<[Dur; 2]>,
    fifo: Option<bool>,
    client_latency: Option<[Dur; 2]>,
    calm_after_heal: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    write_latency: Option<[Dur; 2]>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClocks {
    offset: Option<[SignedDur; 2]>,
    drift: Option<[f64; 2]>,
    extremes: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    clients: Option<u32>,
    keys: Option<u32>,
    read: Option<f64>,
    write: Option<f64>,
    cas: Option<f64>,
    read_mode: Option<String>,
    timeout: Option<Dur>,
    think: Option<[Dur; 2]>,
    target: Option<String>,
    read_only_at: Option<Vec<u32>>,
    retries: Option<u32>,
    start: Option<Dur>,
    stop: Option<Dur>,
}

/// A node named in a fault: a number, `"leader"` (whoever leads when the fault fires) or
/// `"crashed"` (the node crashed most recently that is still down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeSel {
    Id(u32),
    Leader,
    /// The node crashed most recently that is still down.
    Crashed,
}

impl<'de> Deserialize<'de> for NodeSel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NodeSel;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node id (1, 2, ...), \"leader\" or \"crashed\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NodeSel, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|&n| n >= 1)
                    .map(NodeSel::Id)
                    .ok_or_else(|| E::custom(format!("expected a node id from 1, got {v}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NodeSel, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeSel, E> {
                match v {
                    "leader" => Ok(NodeSel::Leader),
                    "crashed" => Ok(NodeSel::Crashed),
                    _ => Err(E::custom(format!(
                        "expected a node id, \"leader\" or \"crashed\", got {v:?}"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawFault {
    Partition {
        at: Dur,
        groups: Vec<Vec<u32>>,
    },
    Bridge {
        at: Dur,
        groups: [Vec<u32>; 2],
        bridge: u32,
    },
    OneWay {
        at: Dur,
        from: Vec<u32>,
        to: Vec<u32>,
    },
    Isolate {
        at: Dur,
        node: NodeSel,
    },
    Heal {
        at: Dur,
    },
    Crash {
        at: Dur,
        node: NodeSel,
    },
    Lose {
        at: Dur,
        node: NodeSel,
    },
    Restart {
        at: Dur,
        node: NodeSel,
    },
    Pause {
        at: Dur,
        node: NodeSel,
    },
    Resume {
        at: Dur,
        node: NodeSel,
    },
    ClockStep {
        at: Dur,
        node: NodeSel,
        by: SignedDur,
    },
    Drift {
        at: Dur,
        node: NodeSel,
        rate: f64,
    },
    Loss {
        at: Dur,
        probability: f64,
    },
    Clog {
        at: Dur,
        from: Vec<u32>,
        to: Vec<u32>,
    },
    Unclog {
        at: Dur,
    },
    HealAll {
        at: Dur,
    },
    AddServer {
        at: Dur,
        node: u32,
    },
    RemoveServer {
        at: Dur,
        node: u32,
    },
    Corrupt {
        at: Dur,
        node: NodeSel,
        pick: Option<RawPick>,
    },
}

/// A corrupt fault's `pick`: signed, as TOML integers are, so that a negative one is
/// refused by name (in `validate_fault`) rather than as a mismatched type.
struct RawPick(i64);

impl<'de> Deserialize<'de> for RawPick {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawPick;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number >= 0 for pick (which record to damage)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawPick, E> {
                Ok(RawPick(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawPick, E> {
                i64::try_from(v)
                    .map(RawPick)
                    .map_err(|_| E::custom(format!("pick {v} is too large")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNemesis {
    start: Option<Dur>,
    stop: Option<Dur>,
    fault_duration: Option<[Dur; 2]>,
    crash: Option<f64>,
    partition: Option<f64>,
    pause: Option<f64>,
    clock_step: Option<f64>,
    clog: Option<f64>,
    loss: Option<f64>,
    clock_step_max: Option<Dur>,
    corrupt_max: Option<u32>,
    loss_max: Option<f64>,
    final_loss: Option<f64>,
    crash_leader: Option<f64>,
    pause_leader: Option<f64>,
    isolate_leader: Option<f64>,
    crash_writing: Option<f64>,
    drift: Option<f64>,
    crash_new_leader: Option<f64>,
    reconfigure: Option<f64>,
    corrupt: Option<f64>,
    crash_duration: Option<[Dur; 2]>,
    partition_duration: Option<[Dur; 2]>,
    pause_duration: Option<[Dur; 2]>,
    clog_duration: Option<[Dur; 2]>,
    loss_duration: Option<[Dur; 2]>,
    crash_leader_duration: Option<[Dur; 2]>,
    pause_leader_duration: Option<[Dur; 2]>,
    isolate_leader_duration: Option<[Dur; 2]>,
    crash_writing_duration: Option<[Dur; 2]>,
    drift_duration: Option<[Dur; 2]>,
    crash_new_leader_duration: Option<[Dur; 2]>,
    corrupt_duration: Option<[Dur; 2]>,
    crash_writing_kinds: Option<Vec<String>>,
    on_new_leader: Option<Vec<String>>,
    on_mark: Option<Vec<String>>,
    trigger_marks: Option<Vec<String>>,
    crash_sending: Option<f64>,
    crash_sending_duration: Option<[Dur; 2]>,
    crash_sending_kinds: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    pass: Option<Vec<String>>,
    #[serde(default)]
    fail: Vec<String>,
    #[serde(default)]
    no_new_leader: Vec<RawWindow>,
    #[serde(default)]
    no_commit: Vec<RawWindow>,
    #[serde(default)]
    progress: Vec<RawProgress>,
    ops_ok_at_least: Option<u64>,
    liveness_within: Option<Dur>,
    #[serde(default)]
    marks: Vec<String>,
    /// `[expect.read_mode.<mode>]`: checkers expected otherwise under that read mode.
    #[serde(default)]
    read_mode: std::collections::BTreeMap<String, RawModeExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModeExpect {
    #[serde(default)]
    pass: Vec<String>,
    #[serde(default)]
    fail: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    from: Dur,
    to: Dur,
    nodes: Option<Vec<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgress {
    after: Dur,
    within: Dur,
}

// ---------------------------------------------------------------------------------------
// Validated form.

/// A scenario ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it was read from (for messages and replay commands).
    pub file: String,
    /// The file's text, kept so a trace can re-run exactly this scenario.
    pub source: String,
    pub name: String,
    pub description: String,
    pub protocol: String,
    pub nodes: u32,
    pub seed: u64,
    pub duration: Duration,
    pub bugs: Vec<String>,
    pub options: Options,
    pub network: NetworkSpec,
    pub storage: StorageSpec,
    pub clocks: ClockSpec,
    pub workload: WorkloadSpec,
    pub faults: Vec<ScheduledFault>,
    pub nemesis: Option<NemesisSpec>,
    pub expect: Expect,
    /// `[swarm]`: each seed draws its own world from these ranges (`crate::swarm::draw`)
    /// before it runs. `None` for a scenario without the table, and for a drawn world.
    pub swarm: Option<crate::swarm::SwarmSpec>,
    /// The seed a drawn world was drawn for (`None`: the scenario as written). A drawn
    /// world's nemesis is already its swarm mix, so `RunOptions::swarm` leaves it alone.
    pub drawn: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub election_timeout: (Duration, Duration),
    pub heartbeat_interval: Duration,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub clock_drift_bound: f64,
    pub observers: u32,
    /// Raft, `backtrack = "to_term_start"`: see `protocol::Config::backtrack_to_term_start`.
    pub backtrack_to_term_start: bool,
    /// The initial voting membership (`members = [1, 2, 3, 4]`), ascending; `None`: every
    /// voting node. Nodes outside it start empty and silent until a change adds them.
    pub members: Option<Vec<u32>>,
    /// `[options.<protocol>]` tables: options only that protocol has, by protocol name and
    /// then option name, as written. A run converts its own protocol's table by the kinds
    /// the protocol declares (`sim::config_for`) and ignores the others, so one scenario
    /// can carry options for every protocol it is meant to run under.
    pub by_protocol: BTreeMap<String, BTreeMap<String, ProtocolOption>>,
}

/// One protocol-specific option as the scenario file writes it (`snapshot_every = 100`
/// under `[options.paxos]`). Its kind is the protocol's to declare, so it is checked only
/// when that protocol runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolOption {
    pub value: toml::Value,
    /// The line the option is written on (`None` for a scenario built in code).
    pub line: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct NetworkSpec {
    pub latency: (Duration, Duration),
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub reorder_delay: (Duration, Duration),
    /// `None`: the protocol's default (FIFO for ZAB, datagrams otherwise).
    pub fifo: Option<bool>,
    pub client_latency: (Duration, Duration),
    /// The nemesis's final heal also ends loss, duplication and reordering (a swarm world's
    /// "everything heals"): liveness is then judged on a network that keeps its timing.
    pub calm_after_heal: bool,
}

#[derive(Clone, Debug)]
pub struct StorageSpec {
    pub write_latency: (Duration, Duration),
}

#[derive(Clone, Debug)]
pub struct ClockSpec {
    /// Initial offset range in nanoseconds, drawn per node.
    pub offset_nanos: (i64, i64),
    /// Initial rate range (1.0 = true time), drawn per node.
    pub drift: (f64, f64),
    /// Adversarial clocks: each node's rate is one end of `drift`, never between, and a
    /// `drift` fault sets one end of the widest band the drift bound tolerates (the slowest
    /// leader against the fastest followers, where a lease's margin is spent).
    pub extremes: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Send to the node the client believes leads; follow redirects.
    Leader,
    /// Send each operation to a node chosen at random; still follow redirects.
    Random,
    /// Start every operation at the client's own server, `1 + client mod nodes`, as a
    /// ZooKeeper session does; a redirect is followed for that operation only. A server
    /// naming no leader for longer than an election timeout moves the session on to the
    /// next server of the ring, and so does an operation timing out while its server names
    /// none (any other timeout moves it to a random server).
    Sticky,
}

#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub clients: u32,
    pub keys: u32,
    /// Weights of read, write, cas (normalised).
    pub mix: [f64; 3],
    /// `None`: the protocol's linearizable default (`ReadMode::default_for`).
    pub read_mode: Option<ReadMode>,
    pub timeout: Duration,
    pub think: (Duration, Duration),
    pub target: Target,
    /// Clients whose own server (with `Target::Sticky`) is one of these only read.
    pub read_only_at: Vec<u32>,
    /// How many times a client sends an operation that timed out again, under the same
    /// command id, before it gives up on it (only to a protocol that deduplicates).
    pub retries: u32,
    pub start: Duration,
    pub stop: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Nodes in different groups cannot talk; nodes in no group form one more group.
    Partition {
        groups: Vec<Vec<u32>>,
    },
    /// Two sides that cannot talk to each other, both reaching the bridge node.
    Bridge {
        groups: [Vec<u32>; 2],
        bridge: u32,
    },
    /// Messages from `from` to `to` are lost; the reverse direction still works.
    OneWay {
        from: Vec<u32>,
        to: Vec<u32>,
    },
    Isolate {
        node: NodeSel,
    },
    /// Removes every partition (not clogs, not loss).
    Heal,
    Crash {
        node: NodeSel,
    },
    /// A node lost for good: crashed, and never restarted again (not by `restart`, not by
    /// a heal); clients stop sending to it, as an operator would drop a dead server from
    /// their list. A cluster must stay live without it while a majority remains.
    Lose {
        node: NodeSel,
    },
    Restart {
        node: NodeSel,
    },
    Pause {
        node: NodeSel,
    },
    Resume {
        node: NodeSel,
    },
    ClockStep {
        node: NodeSel,
        by_nanos: i64,
    },
    Drift {
        node: NodeSel,
        rate: f64,
    },
    Loss {
        probability: f64,
    },
    /// Messages on these links are held (not lost) until `Unclog`.
    Clog {
        from: Vec<u32>,
        to: Vec<u32>,
    },
    Unclog,
    /// Undoes everything: heals partitions, releases clogs, restores the scenario's loss,
    /// resumes paused nodes and restarts crashed ones (the nemesis does this at its stop).
    HealAll,
    /// Asks whoever leads to add `node` to the voting membership (skipped if no one leads).
    AddServer {
        node: u32,
    },
    /// Asks whoever leads to remove `node` from the voting membership.
    RemoveServer {
        node: u32,
    },
    /// A storage fault: crashes the node if it is up, then damages one record of its
    /// durable image (`Protocol::corrupt`), which the node finds when it restarts. `pick`
    /// chooses the record; `None` (a schedule that names none) draws it from the run's
    /// fault stream when the fault fires, and the applied fault carries the drawn pick.
    /// Only for protocols that model storage faults (`Protocol::STORAGE_FAULTS`).
    Corrupt {
        node: NodeSel,
        pick: Option<u64>,
    },
}

impl Fault {
    /// The node a single-node fault acts on.
    pub fn node(&self) -> Option<NodeSel> {
        let mut f = self.clone();
        f.node_mut().map(|n| *n)
    }

    pub fn node_mut(&mut self) -> Option<&mut NodeSel> {
        match self {
            Fault::Isolate { node }
            | Fault::Crash { node }
            | Fault::Lose { node }
            | Fault::Restart { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::ClockStep { node, .. }
            | Fault::Drift { node, .. }
            | Fault::Corrupt { node, .. } => Some(node),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Bridge { .. } => "bridge",
            Fault::OneWay { .. } => "one_way",
            Fault::Isolate { .. } => "isolate",
            Fault::Heal => "heal",
            Fault::Crash { .. } => "crash",
            Fault::Lose { .. } => "lose",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::ClockStep { .. } => "clock_step",
            Fault::Drift { .. } => "drift",
            Fault::Loss { .. } => "loss",
            Fault::Clog { .. } => "clog",
            Fault::Unclog => "unclog",
            Fault::HealAll => "heal_all",
            Fault::AddServer { .. } => "add_server",
            Fault::RemoveServer { .. } => "remove_server",
            Fault::Corrupt { .. } => "corrupt",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    pub at: Duration,
    pub fault: Fault,
}

#[derive(Clone, Debug)]
pub struct NemesisSpec {
    pub start: Duration,
    pub stop: Duration,
    pub fault_duration: (Duration, Duration),
    /// Mean faults per simulated second, per kind, in the order of [`NEMESIS_KINDS`].
    pub rates: [f64; NEMESIS_KIND_COUNT],
    /// How long a fault of each kind lasts before it is undone, where the scenario gives
    /// the kind its own range (`crash_duration = [..]`); `fault_duration` otherwise.
    pub durations: [Option<(Duration, Duration)>; NEMESIS_KIND_COUNT],
    pub clock_step_max: Duration,
    /// At most this many `corrupt` faults in a run (`None`: no limit). A protocol
    /// survives damaged records only while an intact copy of each remains (Protocol-Aware
    /// Recovery, FAST'18); many corruptions can destroy every copy of a value, and a
    /// correct protocol then blocks rather than lose it.
    pub corrupt_max: Option<u32>,
    pub loss_max: f64,
    /// The chance that the final heal (at `stop`) also loses a node for good (`Fault::Lose`):
    /// whoever leads then, or a random node while no one does. The rest must elect a leader
    /// and serve again without it, from where it was left behind.
    pub final_loss: f64,
    /// Each `crash_writing` fault aims at one of these kinds of write (the protocol's
    /// `Protocol::WRITE_KINDS`), drawn uniformly, and crashes its node at a random instant
    /// while such a write is in flight; empty: inside any write, right after it is issued.
    pub crash_writing_kinds: Vec<String>,
    /// Each `crash_sending` fault aims at one of these kinds of message (the protocol's
    /// `Protocol::MESSAGE_KINDS`), drawn uniformly; empty: any message.
    pub crash_sending_kinds: Vec<String>,
    /// The kinds whose faults wait for the next node to become leader and strike right
    /// after the step in which it takes office (the kinds aimed at the leader strike the
    /// new one): the moment a new leader has committed nothing of its own yet.
    pub on_new_leader: [bool; NEMESIS_KIND_COUNT],
    /// The kinds whose faults wait for a node to take one of `trigger_marks` (a coverage
    /// mark, `Protocol::MARKS`) and strike right after that step, at that node where the
    /// kind picks one: a rare path of the protocol, caught in the act (BUGGIFY's aim).
    pub on_mark: [bool; NEMESIS_KIND_COUNT],
    /// The coverage marks the kinds in `on_mark` wait for.
    pub trigger_marks: Vec<String>,
}

/// Whether faults of this nemesis kind are undone after a span (`<kind>_duration`): a clock
/// step and a membership change are not, and `[nemesis]` takes no duration for them.
pub fn kind_is_undone(kind: &str) -> bool {
    !matches!(kind, "clock_step" | "reconfigure")
}

impl NemesisSpec {
    /// The range a fault of kind `k` (an index into [`NEMESIS_KINDS`]) lasts.
    pub fn duration_of(&self, k: usize) -> (Duration, Duration) {
        self.durations[k].unwrap_or(self.fault_duration)
    }
}

pub const NEMESIS_KIND_COUNT: usize = 15;

/// The nemesis's fault kinds, each with a rate field of its name in `[nemesis]`. The
/// first six pick their node (or link) at random; the targeted kinds pick the node a bug
/// needs: `crash_leader`, `pause_leader` and `isolate_leader` act on whoever leads when
/// the fault fires (skipped while no one does), `crash_writing` crashes a node while one
/// of its durable writes is still in flight (the window of "reply before persist" bugs),
/// `drift` sets a node's clock rate within the drift a correct lease tolerates, and
/// `crash_new_leader` crashes the next node to become leader right after the step in
/// which it takes office (Raft's Figure 8 needs leaders that die young). `reconfigure`
/// asks the leader to add a random non-member or remove a random member (keeping at
/// least three), by the membership the leader last reported; it is not undone.
/// `corrupt` crashes a random node and damages one record of its durable image (a
/// storage fault, for protocols that model them), and restarts it after its duration.
/// `crash_sending` crashes the next node to send a message (of a kind it aims at, drawn
/// per fault from `crash_sending_kinds`) right after the step that sent it: a message is
/// a claim about its sender's state, which must survive the crash.
/// New kinds go at the end: a scenario that leaves them off draws the same random
/// numbers, and so runs the same, as before they existed.
pub const NEMESIS_KINDS: [&str; NEMESIS_KIND_COUNT] = [
    "crash",
    "partition",
    "pause",
    "clock_step",
    "clog",
    "loss",
    "crash_leader",
    "pause_leader",
    "isolate_leader",
    "crash_writing",
    "drift",
    "crash_new_leader",
    "reconfigure",
    "corrupt",
    "crash_sending",
];

#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub from: Duration,
    pub to: Duration,
    /// Only these nodes (all when empty).
    pub nodes: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub after: Duration,
    pub within: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// Checkers that must pass.
    pub pass: Vec<String>,
    /// Checkers that must find a violation (scenarios that show a checker working).
    pub fail: Vec<String>,
    pub no_new_leader: Vec<Window>,
    pub no_commit: Vec<Window>,
    pub progress: Vec<Progress>,
    pub ops_ok_at_least: u64,
    /// The liveness checker's bound: after the last heal, a leader and a completed
    /// operation within this long.
    pub liveness_within: Duration,
    /// Coverage marks (rare paths a protocol names) that must each be hit at least once.
    pub marks: Vec<String>,
    /// Per read mode (`[expect.read_mode.<mode>]`), checkers that must pass or fail
    /// instead when the run reads in that mode (the scenario's `read_mode`, or
    /// `--read-mode`): one scenario shows which read modes a fault defeats.
    pub by_read_mode: Vec<ModeExpect>,
}

/// The checkers a read mode expects otherwise than `[expect]` does.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeExpect {
    pub mode: ReadMode,
    pub pass: Vec<String>,
    pub fail: Vec<String>,
}

impl Expect {
    /// The checkers that must pass and those that must fail in a run reading in `mode`
    /// (`None`: the protocol's default, which no `[expect.read_mode.*]` names).
    pub fn checkers_for(&self, mode: Option<ReadMode>) -> (Vec<String>, Vec<String>) {
        let mut pass = self.pass.clone();
        let mut fail = self.fail.clone();
        if let Some(m) = self.by_read_mode.iter().find(|m| Some(m.mode) == mode) {
            for name in &m.pass {
                fail.retain(|f| f != name);
                if !pass.contains(name) {
                    pass.push(name.clone());
                }
            }
            for name in &m.fail {
                pass.retain(|p| p != name);
                if !fail.contains(name) {
                    fail.push(name.clone());
                }
            }
        }
        (pass, fail)
    }
}

struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            line: None,
            field: field.into(),
            message: message.into(),
        }
    }
    fn line_at(&self, offset: usize) -> usize {
        self.source[..offset.min(self.source.len())]
            .matches('\n')
            .count()
            + 1
    }
    fn err_at(
        &self,
        offset: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            line: Some(self.line_at(offset)),
            ..self.err(field, message)
        }
    }
    /// The line a top-level key or table header starts on, for errors serde cannot place.
    fn line_of(&self, needle: &str) -> Option<usize> {
        self.source
            .lines()
            .position(|l| {
                // `crash` names the line `crash = 1`, not `crash_leader = 1`.
                l.trim_start().strip_prefix(needle).is_some_and(|rest| {
                    !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .map(|i| i + 1)
    }
    fn err_near(
        &self,
        needle: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            line: self.line_of(needle),
            ..self.err(field, message)
        }
    }
}

fn range(pair: Option<[Dur; 2]>, default: (Duration, Duration)) -> (Duration, Duration) {
    pair.map(|[a, b]| (a.0, b.0)).unwrap_or(default)
}

/// The checkers whose names a scenario may use in `expect.pass` / `expect.fail`.
pub const CHECKERS: &[&str] = &[
    "linearizability",
    "acknowledged_writes",
    "election_safety",
    "log_safety",
    "split_brain",
    "lease_exclusivity",
    "disruption",
    "liveness",
];

/// Checkers that must pass when a scenario names none.
pub const DEFAULT_PASS: &[&str] = &[
    "linearizability",
    "acknowledged_writes",
    "election_safety",
    "log_safety",
    "split_brain",
    "lease_exclusivity",
];

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the scenario file: {e}"),
        })?;
        Scenario::from_toml(&file, &source)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn from_toml(file: &str, source: &str) -> Result<Scenario, ScenarioError> {
        let cx = Ctx { file, source };
        let toml_error = |e: toml::de::Error| {
            let offset = e.span().map(|s| s.start.min(source.len()));
            ScenarioError {
                file: file.to_string(),
                line: offset.map(|o| source[..o].matches('\n').count() + 1),
                field: offset.map(|o| field_at(source, o)).unwrap_or_default(),
                message: e.message().trim().to_string(),
            }
        };
        // The `[options.<protocol>]` tables are taken out before serde reads the rest, whose
        // fields are fixed: only the protocol that runs knows what its own table may hold.
        let mut doc = toml::de::DeTable::parse(source).map_err(toml_error)?;
        let by_protocol = take_protocol_options(&cx, doc.get_mut())?;
        let raw =
            RawScenario::deserialize(toml::de::Deserializer::from(doc)).map_err(toml_error)?;
        let mut sc = validate(&cx, raw)?;
        sc.options.by_protocol = by_protocol;
        Ok(sc)
    }

    /// The line of the scenario's file that writes `field`, a dotted name as errors give it
    /// (`options.heartbeat_interval`, `faults[2].node`, `options.paxos.lease`); `None` when
    /// the file does not write it (a default, or a value set on the command line). A field
    /// below a plain value (`nodes.observers`) is placed on that value's line.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        if let Some((name, key)) = field
            .strip_prefix("options.")
            .and_then(|rest| rest.split_once('.'))
        {
            if let Some(option) = self.options.by_protocol.get(name).and_then(|t| t.get(key)) {
                return option.line;
            }
        }
        line_of_dotted(&self.source, field)
    }

    /// The field that writes the first fault of kind `kind` (`"corrupt"`) in the scenario's
    /// file, as errors name it: `faults[2].kind`, indexed in the file's order (the parsed
    /// schedule is sorted by time, so its index may differ); `faults` when the file's text
    /// writes none.
    pub fn fault_field(&self, kind: &str) -> String {
        let index = toml::de::DeTable::parse(&self.source).ok().and_then(|doc| {
            let faults = doc.get_ref().get("faults")?.get_ref().as_array()?;
            faults.iter().position(|f| {
                f.get_ref()
                    .as_table()
                    .and_then(|t| t.get("kind"))
                    .and_then(|k| k.get_ref().as_str())
                    == Some(kind)
            })
        });
        match index {
            Some(i) => format!("faults[{i}].kind"),
            None => "faults".to_string(),
        }
    }

    /// Voting members and observers as node ids, voters first.
    pub fn voter_count(&self) -> u32 {
        self.nodes - self.options.observers
    }

    /// The time the last scheduled or random fault is undone (zero if there are none).
    pub fn last_heal(&self) -> Duration {
        let scheduled = self.faults.iter().map(|f| f.at).max().unwrap_or_default();
        let nemesis = self.nemesis.as_ref().map(|n| n.stop).unwrap_or_default();
        scheduled.max(nemesis)
    }
}

/// The line of `source` that writes `field` (a dotted name, `faults[2].node`), if any.
pub(crate) fn line_of_dotted(source: &str, field: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(source).ok()?;
    let line = |offset: usize| source[..offset.min(source.len())].matches('\n').count() + 1;
    let mut table = doc.get_ref();
    let mut segments = field.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.strip_suffix(']')?.parse::<usize>().ok()),
            None => (segment, None),
        };
        let (key_span, mut value) = table.get_key_value(key).map(|(k, v)| (k.span(), v))?;
        let mut at = key_span.start;
        if let Some(i) = index {
            value = value.get_ref().as_array()?.get(i)?;
            at = value.span().start;
        }
        match value.get_ref() {
            toml::de::DeValue::Table(inner) if segments.peek().is_some() => table = inner,
            _ => return Some(line(at)),
        }
    }
    None
}

/// Takes the `[options.<protocol>]` tables (any table inside `[options]`) out of the
/// parsed document, each option with its line.
fn take_protocol_options(
    cx: &Ctx,
    doc: &mut toml::de::DeTable,
) -> Result<BTreeMap<String, BTreeMap<String, ProtocolOption>>, ScenarioError> {
    use toml::de::DeValue;
    let mut by_protocol = BTreeMap::new();
    // Anything but a table named `options` is serde's to reject.
    let Some(DeValue::Table(options)) = doc.get_mut("options").map(|v| v.get_mut()) else {
        return Ok(by_protocol);
    };
    let names: Vec<String> = options
        .iter()
        .filter(|(_, v)| v.get_ref().is_table())
        .map(|(k, _)| k.get_ref().to_string())
        .collect();
    for name in names {
        let Some(DeValue::Table(table)) = options.remove(name.as_str()).map(|v| v.into_inner())
        else {
            continue;
        };
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let offset = key.span().start;
            let key = key.into_inner().into_owned();
            let value = toml::Value::deserialize(toml::de::ValueDeserializer::from(value))
                .map_err(|e| cx.err_at(offset, format!("options.{name}.{key}"), e.message()))?;
            let line = cx.line_at(offset);
            values.insert(
                key,
                ProtocolOption {
                    value,
                    line: Some(line),
                },
            );
        }
        by_protocol.insert(name, values);
    }
    Ok(by_protocol)
}

/// The dotted name of the key whose line holds `offset` (`workload.read_mode`), found from
/// the line's `key =` and the nearest table header above it; empty when there is none.
fn field_at(source: &str, offset: usize) -> String {
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let Some((key, _)) = line.split_once('=') else {
        return String::new();
    };
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.contains(char::is_whitespace) {
        return String::new();
    }
    let table = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    }
}

fn check_probability(cx: &Ctx, field: &str, p: f64) -> Result<f64, ScenarioError> {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return Err(cx.err_near(
            field.rsplit('.').next().unwrap_or(field),
            field,
            format!("expected a probability between 0 and 1, got {p}"),
        ));
    }
    Ok(p)
}

fn check_range(
    cx: &Ctx,
    field: &str,
    r: (Duration, Duration),
) -> Result<(Duration, Duration), ScenarioError> {
    if r.0 > r.1 {
        return Err(cx.err_near(
            field.rsplit('.').next().unwrap_or(field),
            field,
            format!(
                "expected [min, max] with min <= max, got [{:?}, {:?}]",
                r.0, r.1
            ),
        ));
    }
    Ok(r)
}

fn validate(cx: &Ctx, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    if raw.name.trim().is_empty() {
        return Err(cx.err_near("name", "name", "expected a non-empty name"));
    }
    if raw.nodes == 0 || raw.nodes > MAX_NODES {
        return Err(cx.err_near(
            "nodes",
            "nodes",
            format!(
                "expected a cluster of 1 to {MAX_NODES} nodes, got {}",
                raw.nodes
            ),
        ));
    }
    if raw.duration.0.is_zero() {
        return Err(cx.err_near(
            "duration",
            "duration",
            "expected a positive duration, got 0",
        ));
    }
    let n = raw.nodes;
    let duration = raw.duration.0;

    let o = raw.options;
    let options = Options {
        election_timeout: check_range(
            cx,
            "options.election_timeout",
            range(
                o.election_timeout,
                (Duration::from_millis(150), Duration::from_millis(300)),
            ),
        )?,
        heartbeat_interval: o
            .heartbeat_interval
            .map(|d| d.0)
            .unwrap_or(Duration::from_millis(50)),
        pre_vote: o.pre_vote.unwrap_or(false),
        check_quorum: o.check_quorum.unwrap_or(false),
        clock_drift_bound: o.clock_drift_bound.unwrap_or(0.05),
        observers: o.observers.unwrap_or(0),
        members: o.members.map(|mut m| {
            m.sort_unstable();
            m
        }),
        by_protocol: BTreeMap::new(),
        backtrack_to_term_start: match o.backtrack.as_deref() {
            None | Some("skip_term") => false,
            Some("to_term_start") => true,
            Some(other) => {
                return Err(cx.err_near(
                    "backtrack",
                    "options.backtrack",
                    format!("expected \"skip_term\" or \"to_term_start\", got {other:?}"),
                ))
            }
        },
    };
    if !(0.0..1.0).contains(&options.clock_drift_bound) {
        return Err(cx.err_near(
            "clock_drift_bound",
            "options.clock_drift_bound",
            format!(
                "expected a fraction in [0, 1), got {}",
                options.clock_drift_bound
            ),
        ));
    }
    if options.observers >= n {
        return Err(cx.err_near(
            "observers",
            "options.observers",
            format!(
                "expected fewer observers than nodes ({n}) so that some node votes, got {}",
                options.observers
            ),
        ));
    }
    if let Some(members) = &options.members {
        let voters = n - options.observers;
        if members.is_empty() {
            return Err(cx.err_near(
                "members",
                "options.members",
                "expected at least one initial member",
            ));
        }
        if let Some(bad) = members.iter().find(|&&id| id == 0 || id > voters) {
            return Err(cx.err_near(
                "members",
                "options.members",
                format!("unknown voting node id {bad}: expected ids from 1 to {voters}"),
            ));
        }
        if let Some(w) = members.windows(2).find(|w| w[0] == w[1]) {
            return Err(cx.err_near(
                "members",
                "options.members",
                format!("node {} is listed twice; expected distinct ids", w[0]),
            ));
        }
    }

    let w = raw.network;
    let network = NetworkSpec {
        latency: check_range(
            cx,
            "network.latency",
            range(
                w.latency,
                (Duration::from_millis(1), Duration::from_millis(10)),
            ),
        )?,
        loss: check_probability(cx, "network.loss", w.loss.unwrap_or(0.0))?,
        duplicate: check_probability(cx, "network.duplicate", w.duplicate.unwrap_or(0.0))?,
        reorder: check_probability(cx, "network.reorder", w.reorder.unwrap_or(0.0))?,
        reorder_delay: check_range(
            cx,
            "network.reorder_delay",
            range(
                w.reorder_delay,
                (Duration::from_millis(10), Duration::from_millis(50)),
            ),
        )?,
        fifo: w.fifo,
        client_latency: check_range(
            cx,
            "network.client_latency",
            range(
                w.client_latency,
                (Duration::from_micros(100), Duration::from_millis(1)),
            ),
        )?,
        calm_after_heal: w.calm_after_heal.unwrap_or(false),
    };
    let storage = StorageSpec {
        write_latency: check_range(
            cx,
            "storage.write_latency",
            range(raw.storage.write_latency, (Duration::ZERO, Duration::ZERO)),
        )?,
    };
    let clocks = ClockSpec {
        offset_nanos: raw.clocks.offset.map(|[a, b]| (a.0, b.0)).unwrap_or((0, 0)),
        drift: raw.clocks.drift.map(|[a, b]| (a, b)).unwrap_or((1.0, 1.0)),
        extremes: raw.clocks.extremes.unwrap_or(false),
    };
    if clocks.offset_nanos.0 > clocks.offset_nanos.1 {
        return Err(cx.err_near(
            "offset",
            "clocks.offset",
            "expected [min, max] with min <= max",
        ));
    }
    if !(clocks.drift.0 > 0.0 && clocks.drift.0 <= clocks.drift.1 && clocks.drift.1 <= 10.0) {
        return Err(cx.err_near(
            "drift",
            "clocks.drift",
            format!(
                "expected [min, max] rates with 0 < min <= max <= 10, got {:?}",
                clocks.drift
            ),
        ));
    }

    let wl = raw.workload;
    let read_mode = match wl.read_mode {
        None => None,
        Some(name) => Some(ReadMode::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = ReadMode::ALL.iter().map(|m| m.name()).collect();
            cx.err_near(
                "read_mode",
                "workload.read_mode",
                format!("expected one of {}, got {name:?}", names.join(", ")),
            )
        })?),
    };
    let target = match wl.target.as_deref().unwrap_or("leader") {
        "leader" => Target::Leader,
        "random" => Target::Random,
        "sticky" => Target::Sticky,
        other => {
            return Err(cx.err_near(
                "target",
                "workload.target",
                format!("expected \"leader\", \"random\" or \"sticky\", got {other:?}"),
            ))
        }
    };
    let read_only_at = wl.read_only_at.unwrap_or_default();
    if !read_only_at.is_empty() && target != Target::Sticky {
        return Err(cx.err_near(
            "read_only_at",
            "workload.read_only_at",
            "expected target = \"sticky\" (clients have no server of their own otherwise)",
        ));
    }
    if let Some(&bad) = read_only_at.iter().find(|&&id| id == 0 || id > n) {
        return Err(cx.err_near(
            "read_only_at",
            "workload.read_only_at",
            format!("unknown node id {bad}: expected ids from 1 to {n}"),
        ));
    }
    let mix = [
        wl.read.unwrap_or(0.4),
        wl.write.unwrap_or(0.4),
        wl.cas.unwrap_or(0.2),
    ];
    if mix.iter().any(|&x| !(x >= 0.0 && x.is_finite())) || mix.iter().sum::<f64>() <= 0.0 {
        return Err(cx.err_near(
            "read",
            "workload.read/write/cas",
            format!("expected non-negative weights with a positive sum, got {mix:?}"),
        ));
    }
    let clients = wl.clients.unwrap_or(3);
    if clients > MAX_CLIENTS {
        return Err(cx.err_near(
            "clients",
            "workload.clients",
            format!("expected at most {MAX_CLIENTS} clients, got {clients}"),
        ));
    }
    let retries = wl.retries.unwrap_or(0);
    if retries > MAX_RETRIES {
        return Err(cx.err_near(
            "retries",
            "workload.retries",
            format!("expected at most {MAX_RETRIES} retries, got {retries}"),
        ));
    }
    let keys = wl.keys.unwrap_or(3);
    if keys == 0 && clients > 0 {
        return Err(cx.err_near("keys", "workload.keys", "expected at least one key"));
    }
    let workload = WorkloadSpec {
        clients,
        keys,
        mix,
        read_mode,
        timeout: wl.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(1)),
        think: check_range(
            cx,
            "workload.think",
            range(wl.think, (Duration::ZERO, Duration::from_millis(10))),
        )?,
        target,
        read_only_at,
        retries,
        start: wl.start.map(|d| d.0).unwrap_or(Duration::ZERO),
        stop: wl.stop.map(|d| d.0).unwrap_or(duration),
    };
    if workload.timeout.is_zero() {
        return Err(cx.err_near("timeout", "workload.timeout", "expected a positive timeout"));
    }

    let mut faults = Vec::with_capacity(raw.faults.len());
    for (i, spanned) in raw.faults.into_iter().enumerate() {
        let offset = spanned.span().start;
        let field = format!("faults[{i}]");
        let raw = RawFault::deserialize(spanned.into_inner())
            .map_err(|e| cx.err_at(offset, field.clone(), e.message().trim()))?;
        let fault = validate_fault(cx, n, offset, &field, raw)?;
        if fault.at > duration {
            return Err(cx.err_at(
                offset,
                format!("{field}.at"),
                format!(
                    "expected a time within the run's duration ({:?}), got {:?}",
                    duration, fault.at
                ),
            ));
        }
        faults.push(fault);
    }
    // A stable sort keeps file order for faults at the same instant.
    faults.sort_by_key(|f| f.at);

    let swarm_write_latency_max = raw
        .swarm
        .as_ref()
        .and_then(|s| s.write_latency)
        .map(|[_, max]| max.0);
    let nemesis = match raw.nemesis {
        None => None,
        Some(r) => {
            let rates = [
                r.crash,
                r.partition,
                r.pause,
                r.clock_step,
                r.clog,
                r.loss,
                r.crash_leader,
                r.pause_leader,
                r.isolate_leader,
                r.crash_writing,
                r.drift,
                r.crash_new_leader,
                r.reconfigure,
                r.corrupt,
                r.crash_sending,
            ]
            .map(|x| x.unwrap_or(0.0));
            for (rate, kind) in rates.iter().zip(NEMESIS_KINDS) {
                if !(*rate >= 0.0 && *rate <= 1000.0) {
                    return Err(cx.err_near(
                        kind,
                        format!("nemesis.{kind}"),
                        format!(
                            "expected a rate in faults per second between 0 and 1000, got {rate}"
                        ),
                    ));
                }
            }
            let spec = NemesisSpec {
                start: r.start.map(|d| d.0).unwrap_or(Duration::ZERO),
                stop: r.stop.map(|d| d.0).unwrap_or(duration),
                fault_duration: check_range(
                    cx,
                    "nemesis.fault_duration",
                    range(
                        r.fault_duration,
                        (Duration::from_millis(200), Duration::from_secs(3)),
                    ),
                )?,
                rates,
                durations: nemesis_durations(
                    cx,
                    duration,
                    [
                        r.crash_duration,
                        r.partition_duration,
                        r.pause_duration,
                        None,
                        r.clog_duration,
                        r.loss_duration,
                        r.crash_leader_duration,
                        r.pause_leader_duration,
                        r.isolate_leader_duration,
                        r.crash_writing_duration,
                        r.drift_duration,
                        r.crash_new_leader_duration,
                        // A membership change is not undone.
                        None,
                        r.corrupt_duration,
                        r.crash_sending_duration,
                    ],
                )?,
                corrupt_max: r.corrupt_max,
                clock_step_max: r
                    .clock_step_max
                    .map(|d| d.0)
                    .unwrap_or(Duration::from_secs(1)),
                loss_max: check_probability(cx, "nemesis.loss_max", r.loss_max.unwrap_or(0.3))?,
                final_loss: check_probability(
                    cx,
                    "nemesis.final_loss",
                    r.final_loss.unwrap_or(0.0),
                )?,
                crash_writing_kinds: r.crash_writing_kinds.unwrap_or_default(),
                crash_sending_kinds: r.crash_sending_kinds.unwrap_or_default(),
                on_new_leader: anchored_kinds(cx, "on_new_leader", r.on_new_leader)?,
                on_mark: anchored_kinds(cx, "on_mark", r.on_mark)?,
                trigger_marks: r.trigger_marks.unwrap_or_default(),
            };
            if spec.stop > duration || spec.start > spec.stop {
                return Err(cx.err_near(
                    "[nemesis]",
                    "nemesis.stop",
                    "expected start <= stop <= the run's duration",
                ));
            }
            // Kinds waiting for marks that no mark sets off would never strike: refused,
            // as is a kind told to wait both for a mark and for a new leader.
            if spec.on_mark.contains(&true) && spec.trigger_marks.is_empty() {
                return Err(cx.err_near(
                    "on_mark",
                    "nemesis.trigger_marks",
                    "expected at least one mark for the kinds in on_mark to wait for",
                ));
            }
            if let Some(k) =
                (0..NEMESIS_KIND_COUNT).find(|&k| spec.on_mark[k] && spec.on_new_leader[k])
            {
                return Err(cx.err_near(
                    "on_mark",
                    "nemesis.on_mark",
                    format!(
                        "expected kinds not also in on_new_leader (a fault waits for one moment), got {:?}",
                        NEMESIS_KINDS[k]
                    ),
                ));
            }
            // A crash at the moment a write is issued is only "before it completes" when
            // writes take time.
            let crash_writing = NEMESIS_KINDS.iter().position(|&k| k == "crash_writing");
            // A swarm that may draw slow disks turns the kind off in worlds without them.
            let swarm_disks = swarm_write_latency_max.is_some_and(|d| !d.is_zero());
            if crash_writing.is_some_and(|k| spec.rates[k] > 0.0)
                && storage.write_latency.1.is_zero()
                && !swarm_disks
            {
                return Err(cx.err_near(
                    "crash_writing",
                    "nemesis.crash_writing",
                    "expected [storage] write_latency above zero: with instant writes no write is ever in flight to crash inside",
                ));
            }
            Some(spec)
        }
    };

    let e = raw.expect;
    let pass = e
        .pass
        .unwrap_or_else(|| DEFAULT_PASS.iter().map(|s| s.to_string()).collect());
    for name in pass.iter().chain(e.fail.iter()) {
        if !CHECKERS.contains(&name.as_str()) {
            return Err(cx.err_near(
                "pass",
                "expect.pass/fail",
                format!(
                    "unknown checker {name:?}; expected one of {}",
                    CHECKERS.join(", ")
                ),
            ));
        }
        if pass.contains(name) && e.fail.contains(name) {
            return Err(cx.err_near(
                "fail",
                "expect.fail",
                format!("checker {name:?} cannot be expected both to pass and to fail"),
            ));
        }
    }
    let mut by_read_mode = Vec::new();
    for (name, m) in e.read_mode {
        let field = format!("expect.read_mode.{name}");
        let mode = ReadMode::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = ReadMode::ALL.iter().map(|m| m.name()).collect();
            cx.err_near(
                &format!("[expect.read_mode.{name}"),
                field.clone(),
                format!(
                    "unknown read mode {name:?}; expected one of {}",
                    names.join(", ")
                ),
            )
        })?;
        for checker in m.pass.iter().chain(m.fail.iter()) {
            if !CHECKERS.contains(&checker.as_str()) {
                return Err(cx.err_near(
                    &format!("[expect.read_mode.{name}"),
                    field.clone(),
                    format!(
                        "unknown checker {checker:?}; expected one of {}",
                        CHECKERS.join(", ")
                    ),
                ));
            }
            if m.pass.contains(checker) && m.fail.contains(checker) {
                return Err(cx.err_near(
                    &format!("[expect.read_mode.{name}"),
                    field.clone(),
                    format!("checker {checker:?} cannot be expected both to pass and to fail"),
                ));
            }
        }
        by_read_mode.push(ModeExpect {
            mode,
            pass: m.pass,
            fail: m.fail,
        });
    }
    let windows = |list: Vec<RawWindow>, field: &str| -> Result<Vec<Window>, ScenarioError> {
        let key = field.rsplit('.').next().unwrap_or(field);
        list.into_iter()
            .map(|w| {
                let nodes = w.nodes.unwrap_or_default();
                if w.from.0 > w.to.0 {
                    Err(cx.err_near(key, field, "expected from <= to"))
                } else if let Some(bad) = nodes.iter().find(|&&id| id == 0 || id > n) {
                    Err(cx.err_near(
                        key,
                        format!("{field}.nodes"),
                        format!("unknown node id {bad}: the cluster's nodes are 1 to {n}"),
                    ))
                } else {
                    Ok(Window {
                        from: w.from.0,
                        to: w.to.0,
                        nodes,
                    })
                }
            })
            .collect()
    };
    let expect = Expect {
        pass,
        fail: e.fail,
        no_new_leader: windows(e.no_new_leader, "expect.no_new_leader")?,
        no_commit: windows(e.no_commit, "expect.no_commit")?,
        progress: e
            .progress
            .into_iter()
            .map(|p| Progress {
                after: p.after.0,
                within: p.within.0,
            })
            .collect(),
        ops_ok_at_least: e.ops_ok_at_least.unwrap_or(0),
        liveness_within: e
            .liveness_within
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(5)),
        marks: e.marks,
        by_read_mode,
    };

    let swarm = match raw.swarm {
        None => None,
        Some(r) => Some(validate_swarm(cx, r, &faults, &workload)?),
    };

    Ok(Scenario {
        file: cx.file.to_string(),
        source: cx.source.to_string(),
        name: raw.name,
        description: raw.description,
        protocol: raw.protocol,
        nodes: n,
        seed: raw.seed,
        duration,
        bugs: raw.bugs,
        options,
        network,
        storage,
        clocks,
        workload,
        faults,
        nemesis,
        expect,
        swarm,
        drawn: None,
    })
}

/// Validates the per-kind `<kind>_duration` ranges (indexed like [`NEMESIS_KINDS`]).
/// The kinds `[nemesis] on_new_leader` (or `on_mark`) names; every nemesis kind but those
/// already aimed at a moment of their own ([`UNANCHORED`]) may wait for a new leader (or a
/// trigger mark).
fn anchored_kinds(
    cx: &Ctx,
    field: &str,
    names: Option<Vec<String>>,
) -> Result<[bool; NEMESIS_KIND_COUNT], ScenarioError> {
    let mut on = [false; NEMESIS_KIND_COUNT];
    for name in names.unwrap_or_default() {
        match NEMESIS_KINDS.iter().position(|k| *k == name) {
            Some(k) if !UNANCHORED.contains(&name.as_str()) => on[k] = true,
            _ => {
                let kinds: Vec<&str> = NEMESIS_KINDS
                    .iter()
                    .copied()
                    .filter(|k| !UNANCHORED.contains(k))
                    .collect();
                return Err(cx.err_near(
                    field,
                    format!("nemesis.{field}"),
                    format!(
                        "expected nemesis kinds among {}, got {name:?}",
                        kinds.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(on)
}

/// The nemesis kinds already aimed at a moment of their own, which cannot also wait for
/// a new leader.
pub const UNANCHORED: [&str; 3] = ["crash_writing", "crash_new_leader", "crash_sending"];

fn nemesis_durations(
    cx: &Ctx,
    run: Duration,
    raw: [Option<[Dur; 2]>; NEMESIS_KIND_COUNT],
) -> Result<[Option<(Duration, Duration)>; NEMESIS_KIND_COUNT], ScenarioError> {
    let mut out = [None; NEMESIS_KIND_COUNT];
    for (k, pair) in raw.into_iter().enumerate() {
        let Some([lo, hi]) = pair else { continue };
        let key = format!("{}_duration", NEMESIS_KINDS[k]);
        let field = format!("nemesis.{key}");
        if lo.0 > hi.0 || hi.0.is_zero() || hi.0 > run {
            return Err(cx.err_near(
                &key,
                field,
                format!(
                    "expected [min, max] with min <= max, max above zero and at most the run's duration ({run:?}), got [{:?}, {:?}]",
                    lo.0, hi.0
                ),
            ));
        }
        out[k] = Some((lo.0, hi.0));
    }
    Ok(out)
}

fn validate_fault(
    cx: &Ctx,
    n: u32,
    offset: usize,
    field: &str,
    raw: RawFault,
) -> Result<ScheduledFault, ScenarioError> {
    let node_ok = |id: u32, sub: &str| -> Result<u32, ScenarioError> {
        if id == 0 || id > n {
            Err(cx.err_at(
                offset,
                format!("{field}.{sub}"),
                format!("unknown node id {id}: the cluster's nodes are 1 to {n}"),
            ))
        } else {
            Ok(id)
        }
    };
    let sel_ok = |s: NodeSel| -> Result<NodeSel, ScenarioError> {
        if let NodeSel::Id(id) = s {
            node_ok(id, "node")?;
        }
        Ok(s)
    };
    let list_ok = |list: &[u32], sub: &str| -> Result<(), ScenarioError> {
        if list.is_empty() {
            return Err(cx.err_at(
                offset,
                format!("{field}.{sub}"),
                "expected at least one node",
            ));
        }
        list.iter().try_for_each(|&id| node_ok(id, sub).map(drop))
    };
    let disjoint = |groups: &[Vec<u32>], sub: &str| -> Result<(), ScenarioError> {
        let mut seen = std::collections::BTreeSet::new();
        for g in groups {
            list_ok(g, sub)?;
            for &id in g {
                if !seen.insert(id) {
                    return Err(cx.err_at(
                        offset,
                        format!("{field}.{sub}"),
                        format!("node {id} is in two partition groups; expected each node in at most one group"),
                    ));
                }
            }
        }
        Ok(())
    };
    let (at, fault) = match raw {
        RawFault::Partition { at, groups } => {
            disjoint(&groups, "groups")?;
            (at, Fault::Partition { groups })
        }
        RawFault::Bridge { at, groups, bridge } => {
            disjoint(&groups, "groups")?;
            node_ok(bridge, "bridge")?;
            if groups.iter().any(|g| g.contains(&bridge)) {
                return Err(cx.err_at(
                    offset,
                    format!("{field}.bridge"),
                    format!("the bridge node {bridge} must not be in either group"),
                ));
            }
            (at, Fault::Bridge { groups, bridge })
        }
        RawFault::OneWay { at, from, to } => {
            list_ok(&from, "from")?;
            list_ok(&to, "to")?;
            (at, Fault::OneWay { from, to })
        }
        RawFault::Clog { at, from, to } => {
            list_ok(&from, "from")?;
            list_ok(&to, "to")?;
            (at, Fault::Clog { from, to })
        }
        RawFault::Isolate { at, node } => (
            at,
            Fault::Isolate {
                node: sel_ok(node)?,
            },
        ),
        RawFault::Heal { at } => (at, Fault::Heal),
        RawFault::Unclog { at } => (at, Fault::Unclog),
        RawFault::HealAll { at } => (at, Fault::HealAll),
        RawFault::AddServer { at, node } => (
            at,
            Fault::AddServer {
                node: node_ok(node, "node")?,
            },
        ),
        RawFault::RemoveServer { at, node } => (
            at,
            Fault::RemoveServer {
                node: node_ok(node, "node")?,
            },
        ),
        RawFault::Crash { at, node } => (
            at,
            Fault::Crash {
                node: sel_ok(node)?,
            },
        ),
        RawFault::Lose { at, node } => (
            at,
            Fault::Lose {
                node: sel_ok(node)?,
            },
        ),
        RawFault::Corrupt { at, node, pick } => {
            let pick = match pick {
                None => None,
                Some(RawPick(p)) => Some(u64::try_from(p).map_err(|_| {
                    cx.err_at(
                        offset,
                        format!("{field}.pick"),
                        format!(
                            "expected a whole number >= 0 choosing the record to damage, got {p}"
                        ),
                    )
                })?),
            };
            (
                at,
                Fault::Corrupt {
                    node: sel_ok(node)?,
                    pick,
                },
            )
        }
        RawFault::Restart { at, node } => (
            at,
            Fault::Restart {
                node: sel_ok(node)?,
            },
        ),
        RawFault::Pause { at, node } => (
            at,
            Fault::Pause {
                node: sel_ok(node)?,
            },
        ),
        RawFault::Resume { at, node } => (
            at,
            Fault::Resume {
                node: sel_ok(node)?,
            },
        ),
        RawFault::ClockStep { at, node, by } => (
            at,
            Fault::ClockStep {
                node: sel_ok(node)?,
                by_nanos: by.0,
            },
        ),
        RawFault::Drift { at, node, rate } => {
            if !(rate > 0.0 && rate <= 10.0) {
                return Err(cx.err_at(
                    offset,
                    format!("{field}.rate"),
                    format!("expected a clock rate in (0, 10], got {rate}"),
                ));
            }
            (
                at,
                Fault::Drift {
                    node: sel_ok(node)?,
                    rate,
                },
            )
        }
        RawFault::Loss { at, probability } => {
            if !(0.0..=1.0).contains(&probability) {
                return Err(cx.err_at(
                    offset,
                    format!("{field}.probability"),
                    format!("expected a probability between 0 and 1, got {probability}"),
                ));
            }
            (at, Fault::Loss { probability })
        }
    };
    Ok(ScheduledFault { at: at.0, fault })
}

fn dur(d: Duration) -> String {
    format!("\"{}\"", crate::duration::format_duration(d))
}

fn dur_range(r: (Duration, Duration)) -> String {
    format!("[{}, {}]", dur(r.0), dur(r.1))
}

fn signed(ns: i64) -> String {
    let text = crate::duration::format_duration(Duration::from_nanos(ns.unsigned_abs()));
    if ns < 0 {
        format!("\"-{text}\"")
    } else {
        format!("\"{text}\"")
    }
}

fn sel(s: NodeSel) -> String {
    match s {
        NodeSel::Id(id) => id.to_string(),
        NodeSel::Leader => "\"leader\"".into(),
        NodeSel::Crashed => "\"crashed\"".into(),
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        toml_string(key)
    }
}

/// A value on one line (a nested table inline).
fn toml_value(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_value(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        toml::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(toml_value).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// `[swarm]`: the ranges a seed draws its world from.

/// Largest factor `[swarm] rate_scale` may multiply a nemesis rate by.
pub const MAX_RATE_SCALE: f64 = 100.0;

/// Largest factor `[swarm] fault_duration_scale` may stretch a fault's duration by.
pub const MAX_DURATION_SCALE: f64 = 10.0;

impl Ctx<'_> {
    /// An error about `field` (dotted, `swarm.nodes`), placed on the line that writes it.
    fn err_field(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            line: line_of_dotted(self.source, field),
            ..self.err(field, message)
        }
    }
}

fn swarm_count(
    cx: &Ctx,
    key: &str,
    r: Option<[u32; 2]>,
    lo: u32,
    hi: u32,
) -> Result<Option<(u32, u32)>, ScenarioError> {
    let Some([a, b]) = r else { return Ok(None) };
    if a > b || a < lo || b > hi {
        return Err(cx.err_field(
            &format!("swarm.{key}"),
            format!("expected [min, max] with {lo} <= min <= max <= {hi}, got [{a}, {b}]"),
        ));
    }
    Ok(Some((a, b)))
}

fn swarm_fraction(
    cx: &Ctx,
    key: &str,
    r: Option<[f64; 2]>,
    hi: f64,
) -> Result<Option<(f64, f64)>, ScenarioError> {
    let Some([a, b]) = r else { return Ok(None) };
    if !(a >= 0.0 && a <= b && b <= hi) {
        return Err(cx.err_field(
            &format!("swarm.{key}"),
            format!("expected [min, max] with 0 <= min <= max <= {hi}, got [{a}, {b}]"),
        ));
    }
    Ok(Some((a, b)))
}

fn swarm_chance(cx: &Ctx, key: &str, p: Option<f64>) -> Result<Option<f64>, ScenarioError> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) => Err(cx.err_field(
            &format!("swarm.{key}"),
            format!("expected a probability between 0 and 1, got {p}"),
        )),
        p => Ok(p),
    }
}

fn swarm_durations(
    cx: &Ctx,
    key: &str,
    r: Option<[Dur; 2]>,
    positive: bool,
) -> Result<Option<(Duration, Duration)>, ScenarioError> {
    let Some([a, b]) = r else { return Ok(None) };
    if a.0 > b.0 || (positive && a.0.is_zero()) {
        return Err(cx.err_field(
            &format!("swarm.{key}"),
            format!(
                "expected [min, max] with {}min <= max, got [{:?}, {:?}]",
                if positive { "0 < " } else { "" },
                a.0,
                b.0
            ),
        ));
    }
    Ok(Some((a.0, b.0)))
}

/// The node ids a fault names (for checking them against the smallest cluster a swarm
/// draws).
fn fault_node_ids(f: &Fault) -> Vec<u32> {
    match f {
        Fault::Partition { groups } => groups.iter().flatten().copied().collect(),
        Fault::Bridge { groups, bridge } => {
            groups.iter().flatten().copied().chain([*bridge]).collect()
        }
        Fault::OneWay { from, to } | Fault::Clog { from, to } => {
            from.iter().chain(to).copied().collect()
        }
        Fault::AddServer { node } | Fault::RemoveServer { node } => vec![*node],
        other => match other.node() {
            Some(NodeSel::Id(id)) => vec![id],
            _ => Vec::new(),
        },
    }
}

fn validate_swarm(
    cx: &Ctx,
    r: RawSwarm,
    faults: &[ScheduledFault],
    workload: &WorkloadSpec,
) -> Result<crate::swarm::SwarmSpec, ScenarioError> {
    let nodes = swarm_count(cx, "nodes", r.nodes, 1, MAX_NODES)?;
    if let Some((smallest, _)) = nodes {
        let named = faults
            .iter()
            .flat_map(|f| fault_node_ids(&f.fault))
            .chain(workload.read_only_at.iter().copied())
            .max();
        if let Some(id) = named.filter(|&id| id > smallest) {
            return Err(cx.err_field(
                "swarm.nodes",
                format!(
                    "the scenario names node {id}, but a seed may draw a cluster of {smallest}; expected a smallest cluster of at least {id} (or faults that name \"leader\" or \"crashed\")"
                ),
            ));
        }
    }
    let read_modes = match r.read_modes {
        None => Vec::new(),
        Some(names) => {
            let mut modes = Vec::new();
            for name in names {
                let mode = ReadMode::from_name(&name).ok_or_else(|| {
                    let all: Vec<&str> = ReadMode::ALL.iter().map(|m| m.name()).collect();
                    cx.err_field(
                        "swarm.read_modes",
                        format!("expected read modes among {}, got {name:?}", all.join(", ")),
                    )
                })?;
                modes.push(mode);
            }
            if modes.is_empty() {
                return Err(cx.err_field(
                    "swarm.read_modes",
                    "expected at least one read mode (or leave the field out)",
                ));
            }
            modes
        }
    };
    let targets = match r.targets {
        None => Vec::new(),
        Some(names) => {
            let mut targets = Vec::new();
            for name in names {
                targets.push(match name.as_str() {
                    "leader" => Target::Leader,
                    "random" => Target::Random,
                    "sticky" => Target::Sticky,
                    other => {
                        return Err(cx.err_field(
                            "swarm.targets",
                            format!("expected \"leader\", \"random\" or \"sticky\", got {other:?}"),
                        ))
                    }
                });
            }
            if targets.is_empty() {
                return Err(cx.err_field(
                    "swarm.targets",
                    "expected at least one target (or leave the field out)",
                ));
            }
            targets
        }
    };
    let offset_nanos = match r.offset {
        None => None,
        Some([a, b]) if a.0 > b.0 => {
            return Err(cx.err_field("swarm.offset", "expected [min, max] with min <= max"))
        }
        Some([a, b]) => Some((a.0, b.0)),
    };
    let mut by_protocol = BTreeMap::new();
    for (name, table) in r.options {
        let mut options = BTreeMap::new();
        for (key, value) in table {
            let field = format!("swarm.options.{name}.{key}");
            let range = match &value {
                toml::Value::Float(p) if (0.0..=1.0).contains(p) => SwarmOption::Chance(*p),
                toml::Value::Array(a) => match a.as_slice() {
                    [toml::Value::Integer(x), toml::Value::Integer(y)] if 0 <= *x && x <= y => {
                        SwarmOption::Counts(*x as u64, *y as u64)
                    }
                    [toml::Value::String(x), toml::Value::String(y)] => {
                        let parse = |t: &str| {
                            crate::duration::parse_duration(t).map_err(|m| cx.err_field(&field, m))
                        };
                        let (x, y) = (parse(x)?, parse(y)?);
                        if x > y {
                            return Err(cx.err_field(
                                &field,
                                format!("expected [min, max] with min <= max, got [{x:?}, {y:?}]"),
                            ));
                        }
                        SwarmOption::Durations(x, y)
                    }
                    _ => return Err(cx.err_field(&field, SWARM_OPTION_EXPECTED)),
                },
                _ => return Err(cx.err_field(&field, SWARM_OPTION_EXPECTED)),
            };
            options.insert(key, range);
        }
        by_protocol.insert(name, options);
    }
    let spec = crate::swarm::SwarmSpec {
        nodes,
        observers: swarm_count(cx, "observers", r.observers, 0, MAX_NODES)?,
        spare: swarm_chance(cx, "spare", r.spare)?,
        grow_from_one: swarm_chance(cx, "grow_from_one", r.grow_from_one)?,
        election_timeout: swarm_durations(cx, "election_timeout", r.election_timeout, true)?,
        election_spread: swarm_durations(cx, "election_spread", r.election_spread, false)?,
        heartbeat_interval: swarm_durations(cx, "heartbeat_interval", r.heartbeat_interval, true)?,
        pre_vote: swarm_chance(cx, "pre_vote", r.pre_vote)?,
        check_quorum: swarm_chance(cx, "check_quorum", r.check_quorum)?,
        backtrack: swarm_chance(cx, "backtrack", r.backtrack)?,
        clock_drift_bound: swarm_fraction(cx, "clock_drift_bound", r.clock_drift_bound, 0.5)?,
        latency: swarm_durations(cx, "latency", r.latency, false)?,
        loss: swarm_fraction(cx, "loss", r.loss, 1.0)?,
        duplicate: swarm_fraction(cx, "duplicate", r.duplicate, 1.0)?,
        reorder: swarm_fraction(cx, "reorder", r.reorder, 1.0)?,
        write_latency: swarm_durations(cx, "write_latency", r.write_latency, false)?,
        offset_nanos,
        drift: swarm_fraction(cx, "drift", r.drift, 1.0)?,
        clients: swarm_count(cx, "clients", r.clients, 0, MAX_CLIENTS)?,
        retries: swarm_count(cx, "retries", r.retries, 0, MAX_RETRIES)?,
        keys: swarm_count(cx, "keys", r.keys, 1, 1_000_000)?,
        read: swarm_fraction(cx, "read", r.read, 1000.0)?,
        write: swarm_fraction(cx, "write", r.write, 1000.0)?,
        cas: swarm_fraction(cx, "cas", r.cas, 1000.0)?,
        timeout: swarm_durations(cx, "timeout", r.timeout, true)?,
        think: swarm_durations(cx, "think", r.think, false)?,
        targets,
        read_modes,
        kind_on: swarm_chance(cx, "kind_on", r.kind_on)?.unwrap_or(0.5),
        rate_scale: swarm_fraction(cx, "rate_scale", r.rate_scale, MAX_RATE_SCALE)?
            .unwrap_or((0.25, 2.0)),
        by_protocol,
        reorder_delay: swarm_durations(cx, "reorder_delay", r.reorder_delay, false)?,
        fault_duration_scale: swarm_fraction(
            cx,
            "fault_duration_scale",
            r.fault_duration_scale,
            MAX_DURATION_SCALE,
        )?,
        crash_writing_kinds: swarm_chance(cx, "crash_writing_kinds", r.crash_writing_kinds)?,
        crash_sending_kinds: swarm_chance(cx, "crash_sending_kinds", r.crash_sending_kinds)?,
        on_new_leader: swarm_chance(cx, "on_new_leader", r.on_new_leader)?,
        on_mark: swarm_chance(cx, "on_mark", r.on_mark)?,
        intensity: swarm_fraction(cx, "intensity", r.intensity, MAX_RATE_SCALE)?,
        clock_extremes: swarm_chance(cx, "clock_extremes", r.clock_extremes)?,
        corners: swarm_chance(cx, "corners", r.corners)?,
        final_loss: swarm_chance(cx, "final_loss", r.final_loss)?,
    };
    if let (Some((_, hi)), Some((lo, _))) = (spec.heartbeat_interval, spec.election_timeout) {
        if hi >= lo {
            return Err(cx.err_field(
                "swarm.heartbeat_interval",
                format!("expected a largest heartbeat below the smallest election timeout ({lo:?}), got {hi:?}"),
            ));
        }
    }
    Ok(spec)
}

const SWARM_OPTION_EXPECTED: &str = "expected a probability (0.5) for a true/false option, [min, max] whole numbers for a count, or [\"min\", \"max\"] durations";

impl Scenario {
    /// Writes the scenario back as a scenario file that parses to the same scenario
    /// (every field explicit, so a reader sees exactly what runs).
    pub fn to_toml(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = writeln!(t, "name = {}", toml_string(&self.name));
        if !self.description.is_empty() {
            let _ = writeln!(t, "description = {}", toml_string(self.description.trim()));
        }
        let _ = writeln!(t, "protocol = {}", toml_string(&self.protocol));
        let _ = writeln!(t, "nodes = {}", self.nodes);
        let _ = writeln!(t, "seed = {}", self.seed);
        let _ = writeln!(t, "duration = {}", dur(self.duration));
        if !self.bugs.is_empty() {
            let bugs: Vec<String> = self.bugs.iter().map(|b| toml_string(b)).collect();
            let _ = writeln!(t, "bugs = [{}]", bugs.join(", "));
        }
        let o = &self.options;
        let _ = writeln!(t, "\n[options]");
        let _ = writeln!(t, "election_timeout = {}", dur_range(o.election_timeout));
        let _ = writeln!(t, "heartbeat_interval = {}", dur(o.heartbeat_interval));
        let _ = writeln!(
            t,
            "pre_vote = {}\ncheck_quorum = {}",
            o.pre_vote, o.check_quorum
        );
        let _ = writeln!(
            t,
            "clock_drift_bound = {:?}\nobservers = {}",
            o.clock_drift_bound, o.observers
        );
        if o.backtrack_to_term_start {
            let _ = writeln!(t, "backtrack = \"to_term_start\"");
        }
        if let Some(members) = &o.members {
            let _ = writeln!(t, "members = {members:?}");
        }
        for (name, table) in &o.by_protocol {
            let _ = writeln!(t, "\n[options.{}]", toml_key(name));
            for (key, option) in table {
                let _ = writeln!(t, "{} = {}", toml_key(key), toml_value(&option.value));
            }
        }
        let n = &self.network;
        let _ = writeln!(t, "\n[network]");
        let _ = writeln!(t, "latency = {}", dur_range(n.latency));
        let _ = writeln!(
            t,
            "loss = {:?}\nduplicate = {:?}\nreorder = {:?}",
            n.loss, n.duplicate, n.reorder
        );
        let _ = writeln!(t, "reorder_delay = {}", dur_range(n.reorder_delay));
        if let Some(fifo) = n.fifo {
            let _ = writeln!(t, "fifo = {fifo}");
        }
        let _ = writeln!(t, "client_latency = {}", dur_range(n.client_latency));
        if n.calm_after_heal {
            let _ = writeln!(t, "calm_after_heal = true");
        }
        let _ = writeln!(
            t,
            "\n[storage]\nwrite_latency = {}",
            dur_range(self.storage.write_latency)
        );
        let c = &self.clocks;
        let _ = writeln!(
            t,
            "\n[clocks]\noffset = [{}, {}]\ndrift = [{:?}, {:?}]",
            signed(c.offset_nanos.0),
            signed(c.offset_nanos.1),
            c.drift.0,
            c.drift.1
        );
        if c.extremes {
            let _ = writeln!(t, "extremes = true");
        }
        let w = &self.workload;
        let _ = writeln!(
            t,
            "\n[workload]\nclients = {}\nkeys = {}",
            w.clients, w.keys
        );
        let _ = writeln!(
            t,
            "read = {:?}\nwrite = {:?}\ncas = {:?}",
            w.mix[0], w.mix[1], w.mix[2]
        );
        if let Some(mode) = w.read_mode {
            let _ = writeln!(t, "read_mode = \"{}\"", mode.name());
        }
        let _ = writeln!(
            t,
            "timeout = {}\nthink = {}",
            dur(w.timeout),
            dur_range(w.think)
        );
        let target = match w.target {
            Target::Leader => "leader",
            Target::Random => "random",
            Target::Sticky => "sticky",
        };
        if !w.read_only_at.is_empty() {
            let ids: Vec<String> = w.read_only_at.iter().map(u32::to_string).collect();
            let _ = writeln!(t, "read_only_at = [{}]", ids.join(", "));
        }
        if w.retries > 0 {
            let _ = writeln!(t, "retries = {}", w.retries);
        }
        let _ = writeln!(
            t,
            "target = \"{target}\"\nstart = {}\nstop = {}",
            dur(w.start),
            dur(w.stop)
        );
        for f in &self.faults {
            let _ = writeln!(
                t,
                "\n[[faults]]\nat = {}\nkind = \"{}\"",
                dur(f.at),
                f.fault.name()
            );
            let list = |v: &[u32]| format!("{v:?}");
            match &f.fault {
                Fault::Partition { groups } => {
                    let _ = writeln!(t, "groups = {groups:?}");
                }
                Fault::Bridge { groups, bridge } => {
                    let _ = writeln!(
                        t,
                        "groups = [{}, {}]\nbridge = {bridge}",
                        list(&groups[0]),
                        list(&groups[1])
                    );
                }
                Fault::OneWay { from, to } | Fault::Clog { from, to } => {
                    let _ = writeln!(t, "from = {}\nto = {}", list(from), list(to));
                }
                Fault::Isolate { node }
                | Fault::Crash { node }
                | Fault::Lose { node }
                | Fault::Restart { node }
                | Fault::Pause { node }
                | Fault::Resume { node } => {
                    let _ = writeln!(t, "node = {}", sel(*node));
                }
                Fault::ClockStep { node, by_nanos } => {
                    let _ = writeln!(t, "node = {}\nby = {}", sel(*node), signed(*by_nanos));
                }
                Fault::Drift { node, rate } => {
                    let _ = writeln!(t, "node = {}\nrate = {rate:?}", sel(*node));
                }
                Fault::Loss { probability } => {
                    let _ = writeln!(t, "probability = {probability:?}");
                }
                Fault::AddServer { node } | Fault::RemoveServer { node } => {
                    let _ = writeln!(t, "node = {node}");
                }
                Fault::Corrupt { node, pick } => {
                    let _ = writeln!(t, "node = {}", sel(*node));
                    if let Some(pick) = pick {
                        let _ = writeln!(t, "pick = {pick}");
                    }
                }
                Fault::Heal | Fault::Unclog | Fault::HealAll => {}
            }
        }
        if let Some(nem) = &self.nemesis {
            let _ = writeln!(
                t,
                "\n[nemesis]\nstart = {}\nstop = {}",
                dur(nem.start),
                dur(nem.stop)
            );
            let _ = writeln!(t, "fault_duration = {}", dur_range(nem.fault_duration));
            for (kind, rate) in NEMESIS_KINDS.iter().zip(nem.rates) {
                let _ = writeln!(t, "{kind} = {rate:?}");
            }
            for (kind, range) in NEMESIS_KINDS.iter().zip(nem.durations) {
                if let Some(range) = range {
                    let _ = writeln!(t, "{kind}_duration = {}", dur_range(range));
                }
            }
            let _ = writeln!(
                t,
                "clock_step_max = {}\nloss_max = {:?}",
                dur(nem.clock_step_max),
                nem.loss_max
            );
            if let Some(max) = nem.corrupt_max {
                let _ = writeln!(t, "corrupt_max = {max}");
            }
            if nem.final_loss > 0.0 {
                let _ = writeln!(t, "final_loss = {:?}", nem.final_loss);
            }
            for (key, kinds) in [
                ("crash_writing_kinds", &nem.crash_writing_kinds),
                ("crash_sending_kinds", &nem.crash_sending_kinds),
            ] {
                if !kinds.is_empty() {
                    let names: Vec<String> = kinds.iter().map(|k| toml_string(k)).collect();
                    let _ = writeln!(t, "{key} = [{}]", names.join(", "));
                }
            }
            let anchored: Vec<String> = NEMESIS_KINDS
                .iter()
                .zip(nem.on_new_leader)
                .filter(|(_, on)| *on)
                .map(|(k, _)| toml_string(k))
                .collect();
            if !anchored.is_empty() {
                let _ = writeln!(t, "on_new_leader = [{}]", anchored.join(", "));
            }
            let on_mark: Vec<String> = NEMESIS_KINDS
                .iter()
                .zip(nem.on_mark)
                .filter(|(_, on)| *on)
                .map(|(k, _)| toml_string(k))
                .collect();
            if !on_mark.is_empty() {
                let _ = writeln!(t, "on_mark = [{}]", on_mark.join(", "));
            }
            if !nem.trigger_marks.is_empty() {
                let names: Vec<String> = nem.trigger_marks.iter().map(|k| toml_string(k)).collect();
                let _ = writeln!(t, "trigger_marks = [{}]", names.join(", "));
            }
        }
        let e = &self.expect;
        let names = |v: &[String]| {
            v.iter()
                .map(|s| toml_string(s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            t,
            "\n[expect]\npass = [{}]\nfail = [{}]",
            names(&e.pass),
            names(&e.fail)
        );
        let windows = |ws: &[Window]| {
            let items: Vec<String> = ws
                .iter()
                .map(|w| {
                    let nodes = if w.nodes.is_empty() {
                        String::new()
                    } else {
                        format!(", nodes = {:?}", w.nodes)
                    };
                    format!("{{ from = {}, to = {}{nodes} }}", dur(w.from), dur(w.to))
                })
                .collect();
            items.join(", ")
        };
        let _ = writeln!(t, "no_new_leader = [{}]", windows(&e.no_new_leader));
        let _ = writeln!(t, "no_commit = [{}]", windows(&e.no_commit));
        let progress: Vec<String> = e
            .progress
            .iter()
            .map(|p| format!("{{ after = {}, within = {} }}", dur(p.after), dur(p.within)))
            .collect();
        let _ = writeln!(t, "progress = [{}]", progress.join(", "));
        let _ = writeln!(t, "ops_ok_at_least = {}", e.ops_ok_at_least);
        let _ = writeln!(t, "liveness_within = {}", dur(e.liveness_within));
        let _ = writeln!(t, "marks = [{}]", names(&e.marks));
        for m in &e.by_read_mode {
            let _ = writeln!(
                t,
                "\n[expect.read_mode.{}]\npass = [{}]\nfail = [{}]",
                m.mode.name(),
                names(&m.pass),
                names(&m.fail)
            );
        }
        if let Some(spec) = &self.swarm {
            t.push_str(&swarm_toml(spec));
        }
        t
    }
}

/// `[swarm]` as a scenario file writes it (every range the spec holds).
fn swarm_toml(spec: &crate::swarm::SwarmSpec) -> String {
    use crate::swarm::SwarmOption;
    use std::fmt::Write as _;
    let mut t = String::from("\n[swarm]\n");
    let mut line = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            let _ = writeln!(t, "{key} = {v}");
        }
    };
    let counts = |r: Option<(u32, u32)>| r.map(|(a, b)| format!("[{a}, {b}]"));
    let durs = |r: Option<(Duration, Duration)>| r.map(dur_range);
    let fracs = |r: Option<(f64, f64)>| r.map(|(a, b)| format!("[{a:?}, {b:?}]"));
    let chance = |p: Option<f64>| p.map(|p| format!("{p:?}"));
    line("nodes", counts(spec.nodes));
    line("observers", counts(spec.observers));
    line("spare", chance(spec.spare));
    line("grow_from_one", chance(spec.grow_from_one));
    line("election_timeout", durs(spec.election_timeout));
    line("election_spread", durs(spec.election_spread));
    line("heartbeat_interval", durs(spec.heartbeat_interval));
    line("pre_vote", chance(spec.pre_vote));
    line("check_quorum", chance(spec.check_quorum));
    line("backtrack", chance(spec.backtrack));
    line("clock_drift_bound", fracs(spec.clock_drift_bound));
    line("latency", durs(spec.latency));
    line("loss", fracs(spec.loss));
    line("duplicate", fracs(spec.duplicate));
    line("reorder", fracs(spec.reorder));
    line("write_latency", durs(spec.write_latency));
    line(
        "offset",
        spec.offset_nanos
            .map(|(a, b)| format!("[{}, {}]", signed(a), signed(b))),
    );
    line("drift", fracs(spec.drift));
    line("clients", counts(spec.clients));
    line("retries", counts(spec.retries));
    line("keys", counts(spec.keys));
    line("read", fracs(spec.read));
    line("write", fracs(spec.write));
    line("cas", fracs(spec.cas));
    line("timeout", durs(spec.timeout));
    line("think", durs(spec.think));
    if !spec.targets.is_empty() {
        let names: Vec<String> = spec
            .targets
            .iter()
            .map(|t| {
                toml_string(match t {
                    Target::Leader => "leader",
                    Target::Random => "random",
                    Target::Sticky => "sticky",
                })
            })
            .collect();
        line("targets", Some(format!("[{}]", names.join(", "))));
    }
    if !spec.read_modes.is_empty() {
        let names: Vec<String> = spec
            .read_modes
            .iter()
            .map(|m| toml_string(m.name()))
            .collect();
        line("read_modes", Some(format!("[{}]", names.join(", "))));
    }
    line("kind_on", Some(format!("{:?}", spec.kind_on)));
    line("rate_scale", fracs(Some(spec.rate_scale)));
    line("reorder_delay", durs(spec.reorder_delay));
    line("fault_duration_scale", fracs(spec.fault_duration_scale));
    line(
        "crash_writing_kinds",
        spec.crash_writing_kinds.map(|p| format!("{p:?}")),
    );
    line(
        "crash_sending_kinds",
        spec.crash_sending_kinds.map(|p| format!("{p:?}")),
    );
    line(
        "on_new_leader",
        spec.on_new_leader.map(|p| format!("{p:?}")),
    );
    line("on_mark", spec.on_mark.map(|p| format!("{p:?}")));
    line("intensity", fracs(spec.intensity));
    line(
        "clock_extremes",
        spec.clock_extremes.map(|p| format!("{p:?}")),
    );
    line("corners", spec.corners.map(|p| format!("{p:?}")));
    line("final_loss", spec.final_loss.map(|p| format!("{p:?}")));
    for (name, table) in &spec.by_protocol {
        let _ = writeln!(t, "\n[swarm.options.{}]", toml_key(name));
        for (key, range) in table {
            let value = match range {
                SwarmOption::Chance(p) => format!("{p:?}"),
                SwarmOption::Counts(a, b) => format!("[{a}, {b}]"),
                SwarmOption::Durations(a, b) => dur_range((*a, *b)),
            };
            let _ = writeln!(t, "{} = {value}", toml_key(key));
        }
    }
    t
}
