//! The contract between a consensus protocol and the world that drives it.
//!
//! A protocol is a pure step function: [`Protocol::step`] takes the node's local time and
//! one [`Input`], and pushes what it wants done into [`Outputs`]. It performs no I/O, reads
//! no clock, draws no random numbers and spawns no threads; what it needs from the world
//! (a randomised timeout, persistence, a message to a peer) it asks for as an output, and
//! the driver (the simulator, or a real runtime) answers with a later input.
//!
//! Rules every driver honours and every protocol may rely on:
//! - Outputs of one step take effect after the step returns, in the order they were pushed.
//! - A durable write ([`Output::Write`]) completes later and is reported back as
//!   [`Input::WriteDone`]; writes of one node complete in the order they were issued.
//! - A send marked [`Delivery::AfterWrites`] leaves only once every write issued before it
//!   has completed; [`Delivery::Immediate`] may leave at once (and so may overtake a write).
//! - A crash discards every write not yet complete, every held send, every timer, every
//!   message in flight to the node and all volatile state. The node is rebuilt with
//!   [`Protocol::start`] from exactly the durable state its completed writes produced
//!   (applied with [`Protocol::persist`]), and nothing else.
//! - A FIFO connection that breaks, or that a node closes ([`Output::Disconnect`]), takes
//!   what was in flight on it and the sends to that peer held for writes; each end gets
//!   [`Input::Disconnected`] before any message sent on the next connection reaches it, so
//!   nothing of one connection is ever read as part of the next (a new TCP connection).
//! - Setting a timer that is already set replaces it. The driver picks the duration from
//!   the requested range with its own seeded randomness and counts it in *local* time, so a
//!   clock that runs slow or steps back makes the timer fire late in true time.
//!
//! What this crate is not: a simulator, a network, or a checker. It names the shared
//! vocabulary (node ids, time, client operations, reports) and the replicated key-value
//! state machine that every protocol applies committed commands to.

mod config;
mod io;
mod kv;
mod time;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{Config, LinkKind, OptionKind, OptionSpec, OptionValue, ReadMode};
pub use io::{Delivery, Input, MembershipChange, Output, Outputs, Reply, Report, Role, TimerId};
pub use kv::{Command, Key, Kv, Op, OpId, OpResult, Value};
pub use time::LocalTime;

use std::collections::BTreeSet;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

/// A node of the cluster. Scenario files number nodes from 1.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A message type names its kind for traces and summaries ("AppendEntries", "PROPOSAL").
pub trait MessageKind {
    fn kind(&self) -> &'static str;
}

/// A historical bug a protocol can re-introduce behind a runtime switch.
#[derive(Clone, Copy, Debug)]
pub struct Bug {
    /// The switch, as written in a scenario's `bugs = [...]` or `--bug NAME`.
    pub name: &'static str,
    /// What the switch changes, in one sentence.
    pub summary: &'static str,
}

/// A configuration the protocol cannot run with; the text reads as a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration field at fault, as named in a scenario file
    /// (`options.heartbeat_interval`, `options.paxos.snapshot_every`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// How a storage fault's outcome says that the record its pick drew first was spared
/// ([`Protocol::corrupt`]): "accepted record of slot 265; slot 385, drawn first, {SPARED}".
pub const SPARED: &str = "is damaged on as many other nodes as the fault model allows";

/// A consensus protocol as a pure step function.
pub trait Protocol: Sized {
    /// What one node sends another.
    type Message: Clone + fmt::Debug + Hash + MessageKind;
    /// Everything the node keeps across a crash (Raft: term, vote, log).
    type Durable: Clone + Default + fmt::Debug;
    /// One write to a named durable cell (Raft: "hard state" or "log append").
    type Write: Clone + fmt::Debug + Hash;

    /// The protocol's name as written in scenario files: "raft", "zab", "paxos".
    const NAME: &'static str;
    /// How this implementation unfolds a run, as a number. Bump it with any change that
    /// alters the events of some run (a message's fields, a timer, a decision, their
    /// order): a trace records the revision that made it, so `sim replay` can tell a
    /// trace made by an older implementation from a determinism bug.
    const REVISION: u32;
    /// The mutants this protocol can switch on (all off by default).
    const BUGS: &'static [Bug];
    /// Read modes this protocol serves.
    const READ_MODES: &'static [ReadMode];
    /// Whether the protocol changes its voting membership at run time
    /// ([`Input::ChangeMembership`], `Config::members`). A driver must refuse to run a
    /// scenario that asks a protocol without it to change membership.
    const SUPPORTS_MEMBERSHIP: bool = false;
    /// The links the protocol assumes between peers: datagrams that may be lost,
    /// duplicated and reordered (Raft, Paxos), or FIFO connections whose loss is a reset
    /// (ZAB assumes TCP). A scenario's `network.fifo` overrides it.
    const LINKS: LinkKind = LinkKind::Datagram;
    /// Options only this protocol has, set in a scenario's `[options.NAME]` table and
    /// handed over in `Config::options` (checked against these specs by `check_common`).
    const OPTIONS: &'static [OptionSpec] = &[];
    /// Whether the protocol models storage faults: [`Protocol::corrupt`] damages a record
    /// of its durable image, and the node detects the damage when it starts (a checksum
    /// mismatch, as Protocol-Aware Recovery, FAST'18, models it). A driver must refuse to
    /// run a scenario that corrupts the storage of a protocol without it.
    const STORAGE_FAULTS: bool = false;
    /// Whether the protocol takes non-voting observers (`Config::observers`, ZAB's
    /// observers). A driver that draws worlds (swarm testing) gives observers only to a
    /// protocol that takes them.
    const OBSERVERS: bool = false;
    /// Whether a command handed to it again under the same id (a client that timed out
    /// sends it once more, perhaps to another node) takes effect at most once. A driver
    /// retries an operation under its id only with a protocol that says so; with any
    /// other, a retry is a new operation.
    const DEDUPLICATES: bool = false;
    /// Which of the shared `[options]` switches the protocol honours: `"pre_vote"`,
    /// `"check_quorum"`, `"backtrack"` (Raft's). A driver that draws worlds draws only
    /// these; the others would change nothing.
    const SWITCHES: &'static [&'static str] = &[];
    /// Every coverage mark the protocol reports with [`Outputs::mark`]: the rare paths it
    /// names, so that a campaign can list those no seed reached (FoundationDB's
    /// `CODE_PROBE`). A mark reported but not listed here is a defect the driver reports.
    const MARKS: &'static [&'static str] = &[];
    /// The marks of [`Protocol::MARKS`] that a correct run never takes, besides those named
    /// `<protocol>.bug.<words>` (a mutant's own, never taken by a correct run by name):
    /// other paths only a mutant takes, and guards of an invariant (each asserts unless a
    /// mutant is on) or of an input a driver that keeps this crate's contract never gives.
    /// A campaign with no mutant on lists them apart from the paths no seed reached, and
    /// flags a run that takes one.
    const NEVER_WHEN_CORRECT: &'static [&'static str] = &[];
    /// The kinds of durable write the protocol issues, as [`Protocol::write_kind`] names
    /// them: a nemesis can aim its crashes at the writes of one kind (BUGGIFY's rare
    /// paths: a crash inside a snapshot's write is as likely as inside a log append's).
    /// Kinds only a mutant writes are left out.
    const WRITE_KINDS: &'static [&'static str] = &[];
    /// Every kind its messages name ([`MessageKind::kind`]): a nemesis can crash a node
    /// right after it sends a message of one kind (a claim about its state that must
    /// survive the crash).
    const MESSAGE_KINDS: &'static [&'static str] = &[];

    /// What this configuration promises against disruption: whether a node that still
    /// hears a live leader may help another node take office (see [`Fence`]). The
    /// `disruption` checker judges a run only as far as this says. Nothing by default.
    fn fence(config: &Config) -> Fence {
        let _ = config;
        Fence::None
    }

    /// What `msg` from `from` tells this node, in its present state, about the fence:
    /// that its leader is alive ([`FenceSignal::Renews`]: Raft's AppendEntries and
    /// InstallSnapshot restart a follower's clock of "heard from a leader", a reply to a
    /// stale vote request does not; a ZAB learner hears only the leader it follows), or,
    /// to a leader, that the sender follows it ([`FenceSignal::Acks`]: the ack of a
    /// heartbeat round by which a Paxos leader knows it is followed). Asked by the driver
    /// just before the node handles the message, only when [`Protocol::fence`] promises
    /// something.
    fn fence_signal(&self, from: NodeId, msg: &Self::Message) -> FenceSignal {
        let _ = (from, msg);
        FenceSignal::None
    }

    /// Rejects a configuration this protocol cannot run with (exit 2 in the CLI).
    fn check_config(config: &Config) -> Result<(), ConfigError> {
        check_common(Self::NAME, Self::BUGS, Self::READ_MODES, config)?;
        check_options(Self::NAME, Self::OPTIONS, config)
    }

    /// (Re)starts node `id` from the durable state its completed writes left behind.
    /// A node's first start sees `Durable::default()`.
    fn start(
        id: NodeId,
        config: &Config,
        durable: &Self::Durable,
        now: LocalTime,
        out: &mut Outputs<Self::Message, Self::Write>,
    ) -> Self;

    /// Handles one input at local time `now`.
    fn step(
        &mut self,
        now: LocalTime,
        input: Input<Self::Message>,
        out: &mut Outputs<Self::Message, Self::Write>,
    );

    /// Applies one completed write to the durable image. The driver calls this when the
    /// write completes, so the image never holds what a crash would have lost.
    fn persist(durable: &mut Self::Durable, write: &Self::Write);

    /// A storage fault on a crashed node: damages one record of `durable` (`pick` chooses
    /// which, uniformly among those there are but the ones keyed in `spared`) so that its
    /// checksum no longer matches, and says which, for the trace. None when there is
    /// nothing to damage. Only called when [`Protocol::STORAGE_FAULTS`] is true.
    ///
    /// A record's key is the one [`Protocol::damaged`] names it by (Paxos: its slot). The
    /// simulator spares the records already damaged on as many other nodes as the fault
    /// model allows (Protocol-Aware Recovery, FAST'18: an intact copy on a majority), so
    /// that a correct protocol is never asked to survive the loss of every copy.
    fn corrupt(durable: &mut Self::Durable, pick: u64, spared: &BTreeSet<u64>) -> Option<String> {
        let _ = (durable, pick, spared);
        None
    }

    /// The keys of the records of `durable` that are damaged now: a record damaged by
    /// [`Protocol::corrupt`] until the protocol rewrites it, or drops it (a snapshot).
    fn damaged(durable: &Self::Durable) -> Vec<u64> {
        let _ = durable;
        Vec::new()
    }

    /// The node's role and term/epoch/ballot as it believes them (for summaries).
    fn role(&self) -> (Role, u64);

    /// For a protocol whose voters compare logs (Raft §5.4.1: a vote goes only to a
    /// candidate whose log is at least as up to date as the voter's), the term and index
    /// of the last entry of the node's log, by which voters rank it; None (the default) for
    /// a protocol elected otherwise. With the members the node reports
    /// ([`Report::Members`]) and [`Protocol::durable_last_entry`], it lets a driver check
    /// leader completeness ahead of time: no node whose log lacks a committed entry may be
    /// able to win the votes of a majority of its configuration, for such a node wins
    /// once the others are cut off, and overwrites what was committed.
    fn last_entry(&self) -> Option<(u64, u64)> {
        None
    }

    /// [`Protocol::last_entry`] of the node [`Protocol::start`] would make of `durable`:
    /// how the node ranks as a voter once it crashes and restarts (it acknowledges only
    /// what it wrote, so what it acknowledged is there).
    fn durable_last_entry(durable: &Self::Durable) -> Option<(u64, u64)> {
        let _ = durable;
        None
    }

    /// How a check speaks of a [`Protocol::last_entry`], or of a committed entry's term
    /// and index: "term 3, index 41".
    fn position_text(term: u64, index: u64) -> String {
        format!("term {term}, index {index}")
    }

    /// The rule by which voters rank candidates' [`Protocol::last_entry`], for a check's
    /// message.
    const VOTE_RULE: &'static str =
        "a voter grants its vote only to a candidate whose log is at least as up to date as its own";

    /// The voting members of the node [`Protocol::start`] would make of `durable`, as it
    /// would report them ([`Report::Members`]): what a node would campaign in after a
    /// crash.
    fn durable_members(config: &Config, durable: &Self::Durable) -> Vec<NodeId> {
        let _ = durable;
        config.initial_members()
    }

    /// Whether applying `write` may change [`Protocol::durable_members`] (a driver asks
    /// it again only then: it may read the whole log). True unless the protocol says
    /// which writes cannot.
    fn moves_members(write: &Self::Write) -> bool {
        let _ = write;
        true
    }

    /// Which of [`Protocol::WRITE_KINDS`] a write is.
    fn write_kind(write: &Self::Write) -> &'static str {
        let _ = write;
        "write"
    }
}

/// What a protocol promises about a leader that a majority still hears, for the
/// `disruption` checker. "Hears" is counted on the follower's own clock: a message of
/// the leader's that [`Protocol::renews_fence`] names, handled within the minimum election
/// timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// Nothing: a node that hears a live leader may still help depose it.
    None,
    /// The vote fence (Raft thesis §4.2.3, §9.6): a node that heard from a live leader
    /// within the minimum election timeout helps no other node take office (grants no
    /// (pre)vote, promise or FLE vote), so no node takes office while a leader that a
    /// majority steadily hears still leads.
    Votes,
    /// The vote fence, and a leader that a majority follows never leaves office to
    /// another node: when a higher ballot preempts it, it stands again at once with a
    /// higher one of its own (Paxos Made Live §5.2, ballot boosting).
    Leadership,
}

/// What a message tells its receiver about the fence (see [`Protocol::fence_signal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceSignal {
    None,
    /// The receiver's leader is alive: its fence starts again.
    Renews,
    /// The receiver leads, and the sender acknowledges a heartbeat round of its
    /// leadership (answering the last message of the leader it handled).
    Acks,
}

/// The checks every protocol shares: known bugs, a supported read mode, sane timing.
pub fn check_common(
    name: &str,
    bugs: &[Bug],
    read_modes: &[ReadMode],
    config: &Config,
) -> Result<(), ConfigError> {
    for bug in &config.bugs {
        if !bugs.iter().any(|b| b.name == bug) {
            let known: Vec<&str> = bugs.iter().map(|b| b.name).collect();
            return Err(ConfigError {
                field: "bugs".into(),
                message: format!(
                    "{name} has no mutant named {bug:?}; expected one of: {}",
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
    }
    if !read_modes.contains(&config.read_mode) {
        let modes: Vec<&str> = read_modes.iter().map(|m| m.name()).collect();
        return Err(ConfigError {
            field: "workload.read_mode".into(),
            message: format!(
                "{name} does not serve read mode {:?}; expected one of: {}",
                config.read_mode.name(),
                modes.join(", ")
            ),
        });
    }
    if config.voters.is_empty() {
        return Err(ConfigError {
            field: "nodes".into(),
            message: "at least one voting node is needed".into(),
        });
    }
    if let Some(members) = &config.members {
        if members.is_empty() {
            return Err(ConfigError {
                field: "options.members".into(),
                message: "expected at least one initial member".into(),
            });
        }
        if let Some(m) = members.iter().find(|m| !config.voters.contains(m)) {
            return Err(ConfigError {
                field: "options.members".into(),
                message: format!("{m} is not a voting node of the cluster"),
            });
        }
        if members.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ConfigError {
                field: "options.members".into(),
                message: "expected distinct node ids in ascending order".into(),
            });
        }
    }
    let (lo, hi) = config.election_timeout;
    if lo.is_zero() || hi < lo {
        return Err(ConfigError {
            field: "options.election_timeout".into(),
            message: format!("expected a range min <= max with min > 0, got {lo:?}..{hi:?}"),
        });
    }
    if config.heartbeat_interval.is_zero() || config.heartbeat_interval >= lo {
        return Err(ConfigError {
            field: "options.heartbeat_interval".into(),
            message: format!(
                "expected a positive interval shorter than the election timeout minimum ({lo:?}), got {:?}",
                config.heartbeat_interval
            ),
        });
    }
    Ok(())
}

/// Checks `config.options` against a protocol's option specs: every name known, every
/// value of the declared kind. (Ranges are the protocol's own `check_config` to check.)
pub fn check_options(name: &str, specs: &[OptionSpec], config: &Config) -> Result<(), ConfigError> {
    for (key, value) in &config.options {
        let field = format!("options.{name}.{key}");
        let Some(spec) = specs.iter().find(|s| s.name == key) else {
            return Err(unknown_option(name, specs, key));
        };
        if value.kind() != spec.kind {
            return Err(ConfigError {
                field,
                message: format!("expected {}, got {value}", spec.kind.describe()),
            });
        }
    }
    Ok(())
}

/// The error for an option `key` that protocol `name` (with these specs) does not have.
pub fn unknown_option(name: &str, specs: &[OptionSpec], key: &str) -> ConfigError {
    let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
    ConfigError {
        field: format!("options.{name}.{key}"),
        message: format!(
            "{name} has no option {key:?}; expected one of: {}",
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        ),
    }
}

/// Rejects a clock drift bound outside [0, 1) (for protocols with leases).
pub fn check_clock_drift_bound(config: &Config) -> Result<(), ConfigError> {
    if (0.0..1.0).contains(&config.clock_drift_bound) {
        Ok(())
    } else {
        Err(ConfigError {
            field: "options.clock_drift_bound".into(),
            message: format!(
                "expected a relative drift in [0, 1), got {}",
                config.clock_drift_bound
            ),
        })
    }
}

/// Majority of `n` voters.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The duration a lease may be trusted for after the quorum ack that started it: the
/// election timeout minimum, shrunk by the clock drift bound (Raft thesis §6.4.1).
pub fn lease_duration(config: &Config) -> Duration {
    let base = config.election_timeout.0;
    base.mul_f64((1.0 - config.clock_drift_bound).max(0.0))
}
