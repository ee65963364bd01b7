//! A run that keeps nothing it does not need judges exactly as one that keeps everything.
//!
//! Long runs drop their events (hashed, or streamed to a spool file for a trace) and keep
//! of the nodes' commit and apply reports only those the checkers read, judging log safety
//! as the reports arrive (`checker::safety::LogWatch`). These tests run every frozen
//! regression (each a mutant's failing seed) and correct protocols on the general
//! scenarios both ways, and compare every verdict word for word; and they check that a
//! trace written from a spool is the same file, byte for byte, as one written from memory.

mod common;

use sim::hunt;
use simulator::judge::judge;
use simulator::report::write_trace;
use simulator::sim::RunOutput;
use simulator::{RunOptions, Scenario};
use std::path::Path;

fn run(sc: &Scenario, options: &RunOptions) -> (Scenario, RunOutput) {
    let (world, out) = hunt::run_world(&sc.protocol, sc, options)
        .unwrap_or_else(|e| panic!("{}: the run stopped: {e:?}", sc.file));
    (world.into_owned(), out)
}

/// Runs `sc` keeping nothing and keeping everything, and compares the two judgements.
fn same_both_ways(sc: &Scenario, options: &RunOptions, what: &str) {
    let lean = RunOptions {
        keep_events: false,
        ..options.clone()
    };
    let full = RunOptions {
        keep_events: true,
        ..options.clone()
    };
    let (world, a) = run(sc, &lean);
    let (_, b) = run(sc, &full);
    assert_eq!(
        a.log.hash(),
        b.log.hash(),
        "{what}: keeping events changed the run"
    );
    let (ja, jb) = (judge(&world, &a), judge(&world, &b));
    for ((name, va), (_, vb)) in ja.verdicts.iter().zip(&jb.verdicts) {
        // An undecided search says how long it took (wall time), which no two runs share.
        if va.result == checker::safety::Outcome::Unknown
            && va.detail.contains("budget exhausted after")
        {
            assert_eq!(
                va.result, vb.result,
                "{what}: {name} differs between a lean and a full run"
            );
            continue;
        }
        assert_eq!(
            va, vb,
            "{what}: {name} differs between a lean and a full run"
        );
    }
    assert_eq!(
        checker::safety::log_safety(&b.node_events, world.voter_count() as usize),
        b.log_safety_record,
        "{what}: log safety judged as the run went differs from judging its whole record"
    );
    assert!(
        a.node_events.len() <= b.node_events.len(),
        "{what}: a lean run kept more reports than a full one"
    );
}

#[test]
fn every_frozen_regression_is_judged_the_same_whether_or_not_its_run_keeps_its_events() {
    let root = common::root();
    let dir = root.join("tests/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "expected the frozen regressions, found {}",
        files.len()
    );
    for file in files {
        let reg = hunt::load_regression(&file, &root).unwrap();
        let mut sc = Scenario::load(&root.join(&reg.scenario)).unwrap();
        sc.protocol = hunt::protocol_of(&reg.bug).unwrap().to_string();
        let options = RunOptions {
            seed: reg.seed,
            bugs: vec![reg.bug.clone()],
            swarm: reg.swarm,
            ..RunOptions::default()
        };
        same_both_ways(&sc, &options, &file.display().to_string());
    }
}

#[test]
fn correct_protocols_on_the_general_scenarios_are_judged_the_same_either_way() {
    let root = common::root();
    for scenario in ["scenarios/nemesis_mix.toml", "scenarios/swarm.toml"] {
        let mut sc = Scenario::load(&root.join(scenario)).unwrap();
        for entry in sim::protocols::PROTOCOLS {
            sc.protocol = entry.name.to_string();
            for seed in 0..4 {
                let options = RunOptions {
                    seed,
                    swarm: true,
                    ..RunOptions::default()
                };
                same_both_ways(
                    &sc,
                    &options,
                    &format!("{scenario} {} seed {seed}", entry.name),
                );
            }
        }
    }
}

#[test]
fn a_healthy_lean_run_keeps_about_one_commit_report_per_index_not_one_per_node() {
    let root = common::root();
    let sc = Scenario::load(&root.join("scenarios/partition_3_3.toml")).unwrap();
    let (_, out) = run(&sc, &RunOptions::default());
    let commits = out.commits().len();
    let reports = out
        .node_events
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                checker::safety::What::Commit { .. } | checker::safety::What::Apply { .. }
            )
        })
        .count();
    assert!(commits > 1000, "the run committed {commits}");
    assert!(
        reports <= commits + commits / 10,
        "{reports} commit and apply reports kept for {commits} indexes on 6 nodes"
    );
}

fn trace_bytes(sc: &Scenario, out: &RunOutput, path: &Path) -> Vec<u8> {
    write_trace(path, sc, out, &judge(sc, out)).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn a_trace_streamed_to_disk_is_the_file_a_trace_kept_in_memory_gives_and_leaves_no_spool() {
    let root = common::root();
    let dir = common::temp_dir("spool");
    for (scenario, protocol) in [
        ("scenarios/partition_3_3.toml", "raft"),
        ("scenarios/nemesis_mix.toml", "zab"),
        ("scenarios/nemesis_mix.toml", "paxos"),
    ] {
        let mut sc = Scenario::load(&root.join(scenario)).unwrap();
        sc.protocol = protocol.to_string();
        let kept = RunOptions {
            keep_events: true,
            ..RunOptions::default()
        };
        let spooled = RunOptions {
            spool_dir: Some(dir.clone()),
            ..RunOptions::default()
        };
        let (world, a) = run(&sc, &kept);
        let (_, b) = run(&sc, &spooled);
        assert!(
            b.log.events.is_empty(),
            "a spooled run kept its events in memory"
        );
        let from_memory = trace_bytes(&world, &a, &dir.join("memory.json"));
        let from_spool = trace_bytes(&world, &b, &dir.join("spool.json"));
        assert!(
            from_memory == from_spool,
            "{scenario} {protocol}: the spooled trace differs from the one kept in memory"
        );
        drop(b);
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".sim-events"))
            .collect();
        assert!(left.is_empty(), "spool files left behind: {left:?}");
    }
    // A run that kept nothing cannot write a trace, and says so rather than writing an
    // empty one.
    let sc = Scenario::load(&root.join("scenarios/partition_3_3.toml")).unwrap();
    let (world, lean) = run(&sc, &RunOptions::default());
    let err = write_trace(&dir.join("lean.json"), &world, &lean, &judge(&world, &lean))
        .expect_err("a lean run has no events to write");
    assert!(err.to_string().contains("kept no events"), "{err}");
    assert!(!dir.join("lean.json").exists());
}
