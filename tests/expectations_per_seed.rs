//! Expectations are per seed (docs/scenarios.md, `[expect]`): every shipped scenario that
//! says a checker "catches a violation" holds at its shipped seed, in its default read mode
//! and in every mode its `[expect.read_mode.*]` tables name; at another seed it need not.

use sim::protocols;
use simulator::judge::judge;
use simulator::{RunOptions, Scenario};
use std::path::{Path, PathBuf};

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

/// The expectations of `sc` that failed, at `seed`.
fn failed(sc: &Scenario, seed: u64) -> Vec<String> {
    let options = RunOptions {
        seed,
        keep_events: false,
        bugs: vec![],
        swarm: false,
        describe: false,
        ..RunOptions::default()
    };
    let out =
        protocols::run(&sc.protocol, sc, &options).unwrap_or_else(|e| panic!("{}: {e:?}", sc.file));
    judge(sc, &out)
        .expectations
        .iter()
        .filter(|e| !e.held)
        .map(|e| format!("{} ({})", e.what, e.detail))
        .collect()
}

#[test]
fn every_scenario_that_catches_a_violation_does_so_at_its_shipped_seed_in_every_mode_it_names() {
    let mut catching = 0;
    let mut failures = Vec::new();
    for path in shipped() {
        let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let modes: Vec<Option<protocol::ReadMode>> = std::iter::once(sc.workload.read_mode)
            .chain(sc.expect.by_read_mode.iter().map(|m| Some(m.mode)))
            .collect();
        for mode in modes {
            let mut run = sc.clone();
            run.workload.read_mode = mode;
            if run.expect.checkers_for(mode).1.is_empty() {
                continue;
            }
            catching += 1;
            let failed = failed(&run, run.seed);
            if !failed.is_empty() {
                failures.push(format!(
                    "{} (read mode {mode:?}, seed {}): {}",
                    path.display(),
                    run.seed,
                    failed.join("; ")
                ));
            }
        }
    }
    assert!(catching >= 3, "only {catching} runs expect a violation");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The example docs/scenarios.md gives: at seed 2, sync reads in zab_local_reads happen to
/// stay linearizable, so "linearizability catches a violation" does not hold there.
#[test]
fn a_caught_violation_is_a_property_of_the_seed_zab_sync_reads_at_seed_2_are_linearizable() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/zab_local_reads.toml");
    let mut sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    sc.workload.read_mode = Some(protocol::ReadMode::Sync);
    assert!(
        failed(&sc, sc.seed).is_empty(),
        "the shipped seed catches it"
    );
    let at_2 = failed(&sc, 2);
    assert!(
        at_2.len() == 1 && at_2[0].starts_with("linearizability catches a violation"),
        "{at_2:?}"
    );
}
