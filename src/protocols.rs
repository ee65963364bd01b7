//! The one place that names the protocols: everything else is generic over
//! `protocol::Protocol`.

use protocol::Protocol;
use simulator::sim::RunOutput;
use simulator::{RunOptions, Scenario, Simulation};

pub const NAMES: &[&str] = &["raft", "zab"];

/// Why a run could not happen (exit 2) or did not finish.
pub enum RunError {
    /// Bad input: the protocol or the configuration (the message names file and field).
    Input(String),
    /// The run itself stopped (event budget exceeded).
    Aborted(String),
    /// The protocol panicked: it asserted one of its own invariants (a bug found).
    Panicked(String),
}

fn run_as<P: Protocol>(sc: &Scenario, options: &RunOptions) -> Result<RunOutput, RunError> {
    let sim = Simulation::<P>::new(sc, options)
        .map_err(|e| RunError::Input(format!("{}: {e}", sc.file)))?;
    sim.run().map_err(RunError::Aborted)
}

/// Runs `sc` under the protocol called `name`.
pub fn run(name: &str, sc: &Scenario, options: &RunOptions) -> Result<RunOutput, RunError> {
    match name {
        "raft" => run_as::<raft::Raft>(sc, options),
        "zab" => run_as::<zab::Zab>(sc, options),
        other => Err(RunError::Input(format!(
            "{}: protocol: expected one of {}, got {other:?}",
            sc.file,
            NAMES.join(", ")
        ))),
    }
}

fn check_as<P: Protocol>(sc: &Scenario, options: &RunOptions) -> Result<(), RunError> {
    Simulation::<P>::new(sc, options)
        .map(drop)
        .map_err(|e| RunError::Input(format!("{}: {e}", sc.file)))
}

/// Checks that `sc` can run under the protocol called `name`, without running it.
pub fn check(name: &str, sc: &Scenario, options: &RunOptions) -> Result<(), RunError> {
    match name {
        "raft" => check_as::<raft::Raft>(sc, options),
        "zab" => check_as::<zab::Zab>(sc, options),
        other => Err(RunError::Input(format!(
            "{}: protocol: expected one of {}, got {other:?}",
            sc.file,
            NAMES.join(", ")
        ))),
    }
}

/// The mutants (name, one-line summary) the protocol called `name` can switch on.
pub fn bugs(name: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let list: &[protocol::Bug] = match name {
        "raft" => <raft::Raft as Protocol>::BUGS,
        "zab" => <zab::Zab as Protocol>::BUGS,
        _ => return None,
    };
    Some(list.iter().map(|b| (b.name, b.summary)).collect())
}
