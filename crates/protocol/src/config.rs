use crate::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// How a protocol serves a client read. Which guarantee each gives under which fault is
/// one of the things the testbed exists to show.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ReadMode {
    /// The read goes through the log like a write (linearizable).
    Log,
    /// Raft ReadIndex: record commitIndex, confirm leadership with a quorum round, wait
    /// until applied (linearizable).
    ReadIndex,
    /// The leader serves locally while its lease holds (linearizable only if clocks behave).
    Lease,
    /// Any node answers from its own state (stale; sequentially consistent at best).
    Local,
    /// ZooKeeper `sync` + read: the leader does not confirm it still leads (ZOOKEEPER-1675).
    Sync,
    /// `sync` where the leader first confirms its leadership with a quorum (linearizable).
    SyncQuorum,
    /// Paxos quorum read with repair: the value a quorum of acceptors reports, after any
    /// accepted-but-unchosen slot it reveals has been finished (CASSANDRA-12126).
    Quorum,
}

impl ReadMode {
    pub const ALL: [ReadMode; 7] = [
        ReadMode::Log,
        ReadMode::ReadIndex,
        ReadMode::Lease,
        ReadMode::Local,
        ReadMode::Sync,
        ReadMode::SyncQuorum,
        ReadMode::Quorum,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ReadMode::Log => "log",
            ReadMode::ReadIndex => "read_index",
            ReadMode::Lease => "lease",
            ReadMode::Local => "local",
            ReadMode::Sync => "sync",
            ReadMode::SyncQuorum => "sync_quorum",
            ReadMode::Quorum => "quorum",
        }
    }

    /// The linearizable mode a protocol serves when a scenario names none.
    pub fn default_for(modes: &[ReadMode]) -> ReadMode {
        [ReadMode::Log, ReadMode::SyncQuorum, ReadMode::ReadIndex]
            .into_iter()
            .find(|m| modes.contains(m))
            .or_else(|| modes.first().copied())
            .unwrap_or(ReadMode::Log)
    }

    pub fn from_name(name: &str) -> Option<ReadMode> {
        ReadMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Everything a node of any protocol is configured with. Fields a protocol does not use
/// are ignored by it; fields it cannot honour are rejected by `Protocol::check_config`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Voting members, in ascending order.
    pub voters: Vec<NodeId>,
    /// Non-voting learners (ZAB observers).
    pub observers: Vec<NodeId>,
    /// The initial voting membership, for protocols that change membership at run time
    /// (`Protocol::SUPPORTS_MEMBERSHIP`): a subset of `voters`, ascending. `None` means
    /// every voter. Voters outside it start as non-members (empty, silent) and take part
    /// once a membership change adds them.
    pub members: Option<Vec<NodeId>>,
    pub read_mode: ReadMode,
    /// Election timeout range, in local time; each timer draws from it.
    pub election_timeout: (Duration, Duration),
    pub heartbeat_interval: Duration,
    /// Raft thesis §9.6: pre-vote before disrupting a cluster.
    pub pre_vote: bool,
    /// Raft thesis §6.2: a leader steps down when it has not heard from a quorum for an
    /// election timeout.
    pub check_quorum: bool,
    /// The relative clock drift the lease assumes at most (0.05 = 5%).
    pub clock_drift_bound: f64,
    /// Raft: after a rejection that names the follower's conflicting term, continue at
    /// the first index the follower holds of that term (the Raft paper's §5.3 variant),
    /// not after the leader's own last entry of that term (thesis §5.3, etcd). The former
    /// may resume before the point of divergence, so an AppendEntries then verifies only
    /// a prefix of what the follower holds.
    pub backtrack_to_term_start: bool,
    /// Mutants switched on (names from `Protocol::BUGS`).
    pub bugs: BTreeSet<String>,
    /// Options only this protocol has (`Protocol::OPTIONS`), by name; an option left out
    /// takes its spec's default.
    pub options: BTreeMap<String, OptionValue>,
}

impl Config {
    pub fn new(voters: Vec<NodeId>) -> Config {
        Config {
            voters,
            observers: Vec::new(),
            members: None,
            read_mode: ReadMode::Log,
            election_timeout: (Duration::from_millis(150), Duration::from_millis(300)),
            heartbeat_interval: Duration::from_millis(50),
            pre_vote: false,
            check_quorum: false,
            clock_drift_bound: 0.05,
            backtrack_to_term_start: false,
            bugs: BTreeSet::new(),
            options: BTreeMap::new(),
        }
    }

    pub fn bug(&self, name: &str) -> bool {
        self.bugs.contains(name)
    }

    /// The voting membership the cluster starts with (`members`, or every voter).
    pub fn initial_members(&self) -> Vec<NodeId> {
        self.members.clone().unwrap_or_else(|| self.voters.clone())
    }

    /// Every node, voters then observers.
    pub fn all_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.observers.iter()).copied()
    }
}

/// The links a protocol assumes between peers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LinkKind {
    /// Datagrams: a message may be lost, duplicated or overtaken by a later one.
    Datagram,
    /// FIFO connections (TCP): in order, and a loss breaks the connection
    /// (`Input::Disconnected`) rather than leaving a hole.
    Fifo,
}

/// The kind of value a protocol option takes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum OptionKind {
    Bool,
    /// A non-negative whole number (entries, slots, pages).
    Count,
    /// A duration, written in scenario files as `"250ms"`.
    Duration,
}

impl OptionKind {
    /// What a scenario must write, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            OptionKind::Bool => "true or false",
            OptionKind::Count => "a whole number >= 0",
            OptionKind::Duration => "a duration such as \"250ms\"",
        }
    }
}

/// A protocol-specific option's value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum OptionValue {
    Bool(bool),
    Count(u64),
    Duration(Duration),
}

impl OptionValue {
    pub fn kind(self) -> OptionKind {
        match self {
            OptionValue::Bool(_) => OptionKind::Bool,
            OptionValue::Count(_) => OptionKind::Count,
            OptionValue::Duration(_) => OptionKind::Duration,
        }
    }
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Count(n) => write!(f, "{n}"),
            OptionValue::Duration(d) => write!(f, "{d:?}"),
        }
    }
}

/// One option a protocol declares (`Protocol::OPTIONS`).
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// As written in the scenario's `[options.PROTOCOL]` table.
    pub name: &'static str,
    pub kind: OptionKind,
    /// The value when the scenario leaves it out.
    pub default: OptionValue,
    /// What it does, in one sentence (for help texts and docs).
    pub summary: &'static str,
}

impl Config {
    /// The value of a protocol option: the scenario's, or the spec's default.
    pub fn option(&self, spec: &OptionSpec) -> OptionValue {
        self.options.get(spec.name).copied().unwrap_or(spec.default)
    }
    pub fn option_bool(&self, spec: &OptionSpec) -> bool {
        match self.option(spec) {
            OptionValue::Bool(b) => b,
            other => panic!(
                "option {} is {other}, not a bool: check_options lets no such config through",
                spec.name
            ),
        }
    }
    pub fn option_count(&self, spec: &OptionSpec) -> u64 {
        match self.option(spec) {
            OptionValue::Count(n) => n,
            other => panic!(
                "option {} is {other}, not a count: check_options lets no such config through",
                spec.name
            ),
        }
    }
    pub fn option_duration(&self, spec: &OptionSpec) -> Duration {
        match self.option(spec) {
            OptionValue::Duration(d) => d,
            other => panic!(
                "option {} is {other}, not a duration: check_options lets no such config through",
                spec.name
            ),
        }
    }
}
