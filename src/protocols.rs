//! The registry: the one place that names the protocols. Everything else is generic over
//! `protocol::Protocol`, or asks this table what a protocol can do (its capabilities, read
//! from the trait's constants), and never compares protocol names.
//!
//! Adding a protocol is one line in [`PROTOCOLS`], plus its crate as a workspace member
//! and a dependency in Cargo.toml (docs/adding-a-protocol.md).

use protocol::{Bug, ConfigError, LinkKind, Protocol, ReadMode};
use simulator::report::Revisions;
use simulator::sim::RunOutput;
use simulator::swarm::Capabilities;
use simulator::{RunOptions, Scenario, Simulation};
use std::fmt;

/// Every protocol the `sim` binary and the workspace tests run, in the order help texts
/// list them; the first is `sim bench`'s default.
pub const PROTOCOLS: &[Entry] = &[
    entry::<raft::Raft>(),
    entry::<zab::Zab>(),
    entry::<paxos::Paxos>(),
];

/// One protocol: how to run it, and what it can do.
pub struct Entry {
    /// As written in scenario files and `--protocol` (`Protocol::NAME`).
    pub name: &'static str,
    /// How it unfolds a run (`Protocol::REVISION`), as traces record it.
    pub revision: u32,
    /// The mutants it can switch on (`Protocol::BUGS`).
    pub bugs: &'static [Bug],
    /// The marks a correct run never takes, besides the `.bug.` ones
    /// (`Protocol::NEVER_WHEN_CORRECT`).
    pub never_when_correct: &'static [&'static str],
    /// What it can do: read modes, links, membership, storage faults, observers, client
    /// retries, options, kinds of write and message, coverage marks (what drawing a swarm
    /// world for it needs to know, too).
    pub capabilities: Capabilities,
    run: fn(&Scenario, &RunOptions) -> Result<RunOutput, RunError>,
    check: fn(&Scenario, &RunOptions) -> Result<(), RunError>,
}

/// The registry entry of `P`: everything read from the trait, nothing written twice.
const fn entry<P: Protocol>() -> Entry {
    Entry {
        name: P::NAME,
        revision: P::REVISION,
        bugs: P::BUGS,
        never_when_correct: P::NEVER_WHEN_CORRECT,
        capabilities: Capabilities::of::<P>(),
        run: run_as::<P>,
        check: check_as::<P>,
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// The revisions a run of this protocol is made by: the simulator's and its own.
    pub fn revisions(&self) -> Revisions {
        Revisions {
            simulator: simulator::REVISION,
            protocol: self.revision,
        }
    }
}

/// Why a run could not happen (exit 2) or did not finish.
#[derive(Debug)]
pub enum RunError {
    /// Bad input: the protocol or the configuration (the message names file and field).
    Input(String),
    /// The run itself stopped (event budget exceeded).
    Aborted(String),
    /// The protocol panicked: it asserted one of its own invariants (a bug found).
    Panicked(String),
}

/// `file:line` when the scenario's file writes `field`, else `file`.
fn place(sc: &Scenario, field: &str) -> String {
    match sc.line_of(field) {
        Some(line) => format!("{}:{line}", sc.file),
        None => sc.file.clone(),
    }
}

fn config_error(sc: &Scenario, e: ConfigError) -> RunError {
    RunError::Input(format!("{}: {e}", place(sc, &e.field)))
}

fn run_as<P: Protocol>(sc: &Scenario, options: &RunOptions) -> Result<RunOutput, RunError> {
    let sim = Simulation::<P>::new(sc, options).map_err(|e| config_error(sc, e))?;
    sim.run().map_err(RunError::Aborted)
}

fn check_as<P: Protocol>(sc: &Scenario, options: &RunOptions) -> Result<(), RunError> {
    Simulation::<P>::new(sc, options)
        .map(drop)
        .map_err(|e| config_error(sc, e))
}

impl Entry {
    /// The world `sc` is for this protocol at `seed`: the one the seed draws from its
    /// `[swarm]` ranges (`simulator::swarm::draw`), or `sc` itself when it has none.
    /// Judge a run against this world, not against `sc`.
    pub fn world<'a>(
        &self,
        sc: &'a Scenario,
        seed: u64,
    ) -> Result<std::borrow::Cow<'a, Scenario>, RunError> {
        if sc.swarm.is_none() {
            return Ok(std::borrow::Cow::Borrowed(sc));
        }
        simulator::swarm::draw(sc, &self.capabilities, seed)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| config_error(sc, e))
    }

    /// Runs `sc` under this protocol (in the world its seed draws, for a swarm scenario).
    pub fn run(&self, sc: &Scenario, options: &RunOptions) -> Result<RunOutput, RunError> {
        check_option_tables(sc)?;
        let world = self.world(sc, options.seed)?;
        (self.run)(&world, options)
    }

    /// Checks that `sc` can run under this protocol, without running it.
    pub fn check(&self, sc: &Scenario, options: &RunOptions) -> Result<(), RunError> {
        check_option_tables(sc)?;
        let world = self.world(sc, options.seed)?;
        (self.check)(&world, options)
    }

    /// Whether it serves read mode `mode`.
    pub fn serves(&self, mode: ReadMode) -> bool {
        self.capabilities.read_modes.contains(&mode)
    }

    /// The read mode a scenario that names none runs with.
    pub fn default_read_mode(&self) -> ReadMode {
        ReadMode::default_for(self.capabilities.read_modes)
    }

    /// The names of the read modes it serves.
    pub fn read_mode_names(&self) -> Vec<&'static str> {
        self.capabilities
            .read_modes
            .iter()
            .map(|m| m.name())
            .collect()
    }

    /// What it can do, in one line (for help texts).
    pub fn describe(&self) -> String {
        let modes = self.read_mode_names();
        let mut text = format!(
            "read modes {} (default {}); {} links",
            modes.join(", "),
            self.default_read_mode().name(),
            match self.capabilities.links {
                LinkKind::Datagram => "datagram",
                LinkKind::Fifo => "FIFO",
            }
        );
        if self.capabilities.membership {
            text.push_str("; membership changes");
        }
        if self.capabilities.storage_faults {
            text.push_str("; storage faults");
        }
        if self.capabilities.deduplicates {
            text.push_str("; client retries");
        }
        text.push_str(&format!("; {} mutants", self.bugs.len()));
        text
    }
}

/// A table `[options.NAME]` must name a registered protocol: a misspelt one would
/// otherwise be ignored by every run.
fn check_option_tables(sc: &Scenario) -> Result<(), RunError> {
    let swarm_tables = sc.swarm.iter().flat_map(|s| s.by_protocol.keys());
    let unknown = |name: &&String| find(name).is_none();
    let bad = (sc
        .options
        .by_protocol
        .keys()
        .find(unknown)
        .map(|n| ("options", n)))
    .or_else(|| {
        swarm_tables
            .clone()
            .find(unknown)
            .map(|n| ("swarm.options", n))
    });
    match bad {
        None => Ok(()),
        Some((table, name)) => {
            let field = format!("{table}.{name}");
            Err(RunError::Input(format!(
                "{}: {field}: expected a table named after a protocol ({}), got {name:?}",
                place(sc, &field),
                names().join(", ")
            )))
        }
    }
}

/// The registered protocols' names, in registry order.
pub fn names() -> Vec<&'static str> {
    PROTOCOLS.iter().map(|e| e.name).collect()
}

/// The protocol called `name`, if one is registered.
pub fn find(name: &str) -> Option<&'static Entry> {
    PROTOCOLS.iter().find(|e| e.name == name)
}

/// The protocol called `name`, or what was expected.
pub fn lookup(name: &str) -> Result<&'static Entry, String> {
    find(name).ok_or_else(|| format!("expected one of {}, got {name:?}", names().join(", ")))
}

/// The protocol `sim bench` measures when none is named.
pub const DEFAULT: &str = PROTOCOLS[0].name;

fn entry_for(name: &str, sc: &Scenario) -> Result<&'static Entry, RunError> {
    lookup(name).map_err(|m| {
        // The name came from the scenario's `protocol` unless the command line overrode it.
        let at = if sc.protocol == name {
            place(sc, "protocol")
        } else {
            sc.file.clone()
        };
        RunError::Input(format!("{at}: protocol: {m}"))
    })
}

/// Runs `sc` under the protocol called `name`.
pub fn run(name: &str, sc: &Scenario, options: &RunOptions) -> Result<RunOutput, RunError> {
    entry_for(name, sc)?.run(sc, options)
}

/// The world `sc` is at `seed` under the protocol called `name` (see [`Entry::world`]).
pub fn world<'a>(
    name: &str,
    sc: &'a Scenario,
    seed: u64,
) -> Result<std::borrow::Cow<'a, Scenario>, RunError> {
    entry_for(name, sc)?.world(sc, seed)
}

/// Checks that `sc` can run under the protocol called `name`, without running it.
pub fn check(name: &str, sc: &Scenario, options: &RunOptions) -> Result<(), RunError> {
    entry_for(name, sc)?.check(sc, options)
}

/// The protocol that has the mutant `bug`, if any does.
pub fn owner_of(bug: &str) -> Option<&'static Entry> {
    PROTOCOLS
        .iter()
        .find(|e| e.bugs.iter().any(|b| b.name == bug))
}

/// clap's parser for `--protocol`: the registered names, listed by `--help`.
pub fn value_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        PROTOCOLS
            .iter()
            .map(|e| clap::builder::PossibleValue::new(e.name).help(e.describe())),
    )
}

/// `--read-mode`'s long help: which protocol serves which mode.
pub fn read_mode_help() -> String {
    let mut text = String::from("Override the scenario's read mode. Each protocol serves its own:");
    for e in PROTOCOLS {
        let modes = e.read_mode_names();
        text.push_str(&format!("\n  {:<6} {}", e.name, modes.join(", ")));
    }
    text
}

/// Every protocol's own options (`[options.NAME]` in a scenario), for help texts.
pub fn options_help() -> String {
    let mut text = String::new();
    for e in PROTOCOLS {
        if e.capabilities.options.is_empty() {
            text.push_str(&format!("\n  [options.{}]  (none)", e.name));
            continue;
        }
        text.push_str(&format!("\n  [options.{}]", e.name));
        for o in e.capabilities.options {
            text.push_str(&format!(
                "\n    {} = {}  ({}; default {})",
                o.name,
                o.kind.describe(),
                o.summary,
                o.default
            ));
        }
    }
    text
}
