//! The testbed finds real bugs: each mutant below (a re-created historical bug) is found by
//! fuzzing a shipped scenario within a fixed budget of seeds (not of wall time). A testbed
//! change that weakens a fault or a checker fails here. (Mutants not listed are not found
//! by `nemesis_mix` yet; see `sim mutants`.)

use sim::protocols::{self, RunError};
use simulator::judge::judge;
use simulator::{RunOptions, Scenario};
use std::path::Path;

/// The first seed (swarm on) below `budget` at which `bug` makes a run fail, with what failed.
fn first_failure(protocol: &str, bug: &str, budget: u64) -> Option<(u64, Vec<String>)> {
    first_failure_in("nemesis_mix", protocol, bug, budget)
}

fn first_failure_in(
    scenario: &str,
    protocol: &str,
    bug: &str,
    budget: u64,
) -> Option<(u64, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{scenario}.toml"));
    let mut sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    sc.protocol = protocol.to_string();
    (0..budget).find_map(|seed| {
        let options = RunOptions {
            seed,
            keep_events: false,
            bugs: vec![bug.to_string()],
            swarm: true,
            describe: false,
        };
        let out = match protocols::run(protocol, &sc, &options) {
            Ok(out) => out,
            Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
                panic!("{m}")
            }
        };
        let j = judge(&sc, &out);
        let failed: Vec<String> = j
            .expectations
            .iter()
            .filter(|e| !e.held)
            .map(|e| e.what.clone())
            .collect();
        (!failed.is_empty()).then_some((seed, failed))
    })
}

#[test]
fn raft_mutants_found_by_nemesis_mix_within_their_seed_budgets() {
    for (bug, budget, caught_by) in [
        ("raft.truncate_without_conflict", 10, "log_safety passes"),
        ("raft.commit_before_self_persist", 40, "log_safety passes"),
        (
            "raft.forget_vote_on_leader_discovery",
            40,
            "election_safety passes",
        ),
    ] {
        let (seed, failed) = first_failure("raft", bug, budget)
            .unwrap_or_else(|| panic!("{bug} not found in {budget} seeds"));
        assert!(
            failed.iter().any(|f| f == caught_by),
            "{bug} at seed {seed}: {failed:?}"
        );
    }
}

#[test]
fn raft_readindex_before_term_commit_is_found_with_read_index_reads() {
    let bug = "raft.readindex_before_term_commit";
    let (seed, failed) = first_failure_in("nemesis_read_index", "raft", bug, 30)
        .unwrap_or_else(|| panic!("{bug} not found in 30 seeds"));
    assert!(
        failed.iter().any(|f| f == "linearizability passes"),
        "seed {seed}: {failed:?}"
    );
}

#[test]
fn zab_mutants_found_by_nemesis_mix_within_their_seed_budgets() {
    let (seed, failed) = first_failure("zab", "zab.propose_only_to_acked_newleader", 30)
        .unwrap_or_else(|| panic!("zab.propose_only_to_acked_newleader not found in 30 seeds"));
    assert!(
        failed.iter().any(|f| f == "linearizability passes"),
        "seed {seed}: {failed:?}"
    );
}

#[test]
fn the_correct_protocols_pass_the_same_seeds() {
    for (scenario, protocol) in [
        ("nemesis_mix", "raft"),
        ("nemesis_mix", "zab"),
        ("nemesis_read_index", "raft"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{scenario}.toml"));
        let mut sc = Scenario::load(&path).unwrap();
        sc.protocol = protocol.to_string();
        for seed in 0..40 {
            let options = RunOptions {
                seed,
                keep_events: false,
                bugs: vec![],
                swarm: true,
                describe: false,
            };
            let out = protocols::run(protocol, &sc, &options)
                .unwrap_or_else(|_| panic!("{protocol} seed {seed}"));
            let j = judge(&sc, &out);
            assert!(
                j.passed(),
                "{protocol} seed {seed}: {:?}",
                j.expectations
                    .iter()
                    .filter(|e| !e.held)
                    .collect::<Vec<_>>()
            );
        }
    }
}
