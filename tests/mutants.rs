//! The testbed finds real bugs. For every row of the mutant table
//! (`scenarios/mutants/mutants.toml`): fuzzing the row's scenario with the mutant switched
//! on finds a failing seed within the row's *seed* budget (never a wall-clock one); the
//! checker the row names is among what failed; the same seed passes with the mutant off;
//! and the failure shrinks to a strictly smaller run that fails the same way, whose saved
//! trace replays to the same hash. Every mutant of every protocol must have a row: a
//! mutant nothing finds means the simulator lacks a fault.

use sim::hunt::{self, MutantRow};
use sim::protocols;
use simulator::judge::judge;
use simulator::report::{read_trace, save_new_trace};
use simulator::trace::hash_hex;
use simulator::{RunOptions, Scenario};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Candidates a shrink may try per mutant here (`sim shrink` defaults to more): enough to
/// show the failure shrinks, few enough to keep CI quick.
const SHRINK_RUNS: u64 = 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn table() -> Vec<MutantRow> {
    hunt::load_table(&root().join(hunt::MUTANT_TABLE)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_mutant_of_every_protocol_has_a_row_in_the_table() {
    let rows = table();
    let missing: Vec<&str> = protocols::PROTOCOLS
        .iter()
        .flat_map(|p| p.bugs)
        .map(|bug| bug.name)
        .filter(|bug| !rows.iter().any(|r| r.bug == *bug))
        .collect();
    assert!(
        missing.is_empty(),
        "mutants with no hunting scenario: {missing:?}"
    );
}

/// Everything `sim mutants` and `sim shrink` promise for one row; an error says what broke.
fn hunt_row(row: &MutantRow, scratch: &Path) -> Result<String, String> {
    let mut sc = Scenario::load(&row.scenario).map_err(|e| e.to_string())?;
    sc.protocol = row.protocol.clone();
    // The first seed at which the row's checker catches it, as `sim mutants` reports.
    let found = hunt::first_failure(&sc, &row.bug, 0..row.seeds, row.swarm, &row.caught_by)?;
    let found = found.ok_or_else(|| {
        format!(
            "{} did not catch it in {} seeds of {}",
            row.caught_by,
            row.seeds,
            row.scenario.display()
        )
    })?;
    let without = hunt::seed_failures(&sc, &[], found.seed, row.swarm)?;
    if !without.is_empty() {
        return Err(format!(
            "seed {} also fails without the mutant: {without:?}",
            found.seed
        ));
    }
    let options = RunOptions {
        seed: found.seed,
        keep_events: true,
        bugs: vec![row.bug.clone()],
        swarm: row.swarm,
        describe: false,
        ..RunOptions::default()
    };
    let out = hunt::run_caught(&sc.protocol, &sc, &options).map_err(|_| {
        format!(
            "seed {} ends in an aborted run or a panic: nothing to shrink",
            found.seed
        )
    })?;
    let want = hunt::failure_signature(&judge(&sc, &out));
    let shrunk = hunt::shrink_failure(&sc, &options, &out, SHRINK_RUNS)?;
    let got = hunt::failure_signature(&shrunk.judgement);
    if got != want {
        return Err(format!("the shrunk run fails {got:?}, not {want:?}"));
    }
    let before = (out.log.len(), out.faults.len(), out.history.len());
    let after = (
        shrunk.out.log.len(),
        shrunk.out.faults.len(),
        shrunk.out.history.len(),
    );
    if !(after.0 <= before.0 && after.1 <= before.1 && after.2 <= before.2 && after != before) {
        return Err(format!(
            "shrinking did not make the run smaller (events/faults/ops {before:?} -> {after:?})"
        ));
    }
    // The shrunk trace, saved as `sim shrink` saves it, replays to the same hash.
    let saved = save_new_trace(scratch, &shrunk.scenario, &shrunk.out, &shrunk.judgement)
        .map_err(|e| format!("cannot save the shrunk trace: {e}"))?;
    let header = read_trace(&saved)?;
    let replayed_sc =
        Scenario::from_toml(&header.scenario_file, &header.scenario).map_err(|e| e.to_string())?;
    let replayed = hunt::run_caught(
        &header.protocol,
        &replayed_sc,
        &RunOptions {
            seed: header.seed,
            keep_events: false,
            bugs: header.bugs.clone(),
            swarm: header.swarm,
            describe: false,
            ..RunOptions::default()
        },
    )
    .map_err(|_| "the saved shrunk trace no longer runs".to_string())?;
    if hash_hex(replayed.log.hash()) != header.trace_hash {
        return Err(format!(
            "{} does not replay to its own hash",
            saved.display()
        ));
    }
    Ok(format!(
        "{:<42} seed {:>4} of {:<5} {:<40} shrunk {:?} -> {:?}",
        row.bug,
        found.seed,
        row.seeds,
        found.failed.join(","),
        before,
        after
    ))
}

#[test]
fn every_mutant_is_found_within_its_seed_budget_and_its_failure_shrinks() {
    // A row may state instead why nothing reaches its mutant yet (`sim mutants` reports
    // it as not found); every mutant is reached now, so such a row fails here: a mutant
    // that cannot be reached wants a fault, not a pass.
    let (rows, unreached): (Vec<MutantRow>, Vec<MutantRow>) =
        table().into_iter().partition(|r| r.unreached.is_none());
    let gaps: Vec<String> = unreached
        .iter()
        .map(|r| format!("{}: {}", r.bug, r.unreached.as_deref().unwrap_or("")))
        .collect();
    assert!(gaps.is_empty(), "mutants not reached:\n{}", gaps.join("\n"));
    let scratch = std::env::temp_dir().join(format!("sim-test-mutants-{}", std::process::id()));
    let results: Mutex<Vec<(usize, Result<String, String>)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                let r = hunt_row(row, &scratch);
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let mut failures = Vec::new();
    for (i, r) in results {
        match r {
            Ok(line) => eprintln!("{line}"),
            Err(e) => failures.push(format!("{}: {e}", rows[i].bug)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
