//! Every shipped scenario passes its own expectations under every protocol, and the same
//! scenario and seed always give the same run.

use sim::protocols::{self, RunError};
use simulator::judge::judge;
use simulator::sim::RunOutput;
use simulator::trace::hash_hex;
use simulator::{RunOptions, Scenario};
use std::path::{Path, PathBuf};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn shipped() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

fn load(path: &Path) -> Scenario {
    Scenario::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(sc: &Scenario, protocol: &str, seed: u64) -> RunOutput {
    run_with(sc, protocol, seed, true, false)
}

fn run_with(sc: &Scenario, protocol: &str, seed: u64, keep_events: bool, swarm: bool) -> RunOutput {
    let options = RunOptions {
        seed,
        keep_events,
        bugs: vec![],
        swarm,
        describe: false,
        ..RunOptions::default()
    };
    match protocols::run(protocol, sc, &options) {
        Ok(out) => out,
        Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
            panic!("{m}")
        }
    }
}

/// What running every shipped scenario under one protocol came to.
#[derive(Default)]
struct Tally {
    ran: Vec<String>,
    /// Scenarios the protocol refuses (a read mode it does not serve, membership change it
    /// lacks, observers): each says why.
    skipped: Vec<String>,
    failures: Vec<String>,
}

fn passes_under(entry: &protocols::Entry) -> Tally {
    let mut tally = Tally::default();
    for path in shipped() {
        let sc = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let options = RunOptions {
            seed: sc.seed,
            keep_events: false,
            bugs: vec![],
            swarm: false,
            describe: false,
            ..RunOptions::default()
        };
        if protocols::find(&sc.protocol).is_none() {
            tally.failures.push(format!(
                "{name}: protocol {:?} is not registered",
                sc.protocol
            ));
            continue;
        }
        if let Err(RunError::Input(why)) = entry.check(&sc, &options) {
            if sc.protocol == entry.name {
                tally
                    .failures
                    .push(format!("{name}: its own protocol refuses it: {why}"));
            } else {
                tally.skipped.push(format!("{name} ({why})"));
            }
            continue;
        }
        let out = match entry.run(&sc, &options) {
            Ok(out) => out,
            Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
                tally
                    .failures
                    .push(format!("{name} under {}: {m}", entry.name));
                continue;
            }
        };
        tally.ran.push(name.clone());
        // A swarm scenario runs in the world its seed draws; judge against that world.
        let world = entry
            .world(&sc, sc.seed)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let j = judge(&world, &out);
        if !j.passed() {
            let failed: Vec<String> = j
                .expectations
                .iter()
                .filter(|e| !e.held)
                .map(|e| format!("{} ({})", e.what, e.detail))
                .collect();
            tally.failures.push(format!(
                "{} under {}: {}",
                path.display(),
                entry.name,
                failed.join("; ")
            ));
        }
    }
    tally
}

/// Every shipped scenario runs under every registered protocol (the scenario's
/// `protocol` is only its default) and passes its expectations, unless the protocol
/// refuses it for lack of a capability the scenario needs; its own protocol never does.
#[test]
fn every_shipped_scenario_passes_its_expectations_under_every_protocol() {
    let tallies: Vec<(&str, Tally)> = std::thread::scope(|s| {
        let handles: Vec<_> = protocols::PROTOCOLS
            .iter()
            .map(|entry| s.spawn(move || (entry.name, passes_under(entry))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    let mut failures = Vec::new();
    for (name, tally) in tallies {
        eprintln!(
            "{name}: {} scenarios ran; refused: {}",
            tally.ran.len(),
            if tally.skipped.is_empty() {
                "none".to_string()
            } else {
                tally.skipped.join("; ")
            }
        );
        if tally.ran.is_empty() {
            failures.push(format!("{name} ran no shipped scenario"));
        }
        failures.extend(tally.failures);
    }
    assert!(
        failures.is_empty(),
        "scenarios failed their expectations:\n{}",
        failures.join("\n")
    );
}

/// Runs whose hashes are frozen with the revisions that made them: (protocol, its
/// `Protocol::REVISION`, `simulator::REVISION`, scenario, seed, trace hash). A partition
/// and a swarm world each, so that most paths of a protocol and of the simulator are in
/// some run.
const REVISED_RUNS: &[(&str, u32, u32, &str, u64, &str)] = &[
    ("raft", 1, 2, "partition_3_3.toml", 1, "08521d74ae33f0f7"),
    ("raft", 1, 2, "swarm.toml", 1, "88c111d7a9d8136e"),
    ("zab", 1, 2, "partition_3_3.toml", 1, "5884e489309a87a8"),
    ("zab", 1, 2, "swarm.toml", 1, "8e2103d8c367009d"),
    ("paxos", 3, 2, "partition_3_3.toml", 1, "93eca6eb3fdd590e"),
    ("paxos", 3, 2, "swarm.toml", 1, "4591ed088e638897"),
];

/// A change that alters how a run unfolds bumps the revision of what changed, so that
/// `sim replay` of an older trace says why it no longer replays instead of crying
/// determinism bug. The frozen runs catch a change that forgot to.
#[test]
fn a_run_that_changed_comes_with_a_new_revision() {
    let mut stale = Vec::new();
    for entry in protocols::PROTOCOLS {
        let rows: Vec<_> = REVISED_RUNS.iter().filter(|r| r.0 == entry.name).collect();
        assert!(
            !rows.is_empty(),
            "{} has no frozen run in REVISED_RUNS",
            entry.name
        );
        for &&(name, revision, sim_revision, file, seed, frozen) in &rows {
            let hash = hash_hex(
                run(&load(&scenarios_dir().join(file)), name, seed)
                    .log
                    .hash(),
            );
            let same_revisions = (revision, sim_revision) == (entry.revision, simulator::REVISION);
            if same_revisions && hash == frozen {
                continue;
            }
            stale.push(if same_revisions {
                format!(
                    "{name} {file} seed {seed}: hash {hash}, frozen {frozen}, and neither \
                     revision moved: bump {name}'s Protocol::REVISION if it changed, \
                     simulator::REVISION if the simulator did, then freeze the row"
                )
            } else {
                format!(
                    "{name} {file} seed {seed}: freeze the row at {name} revision {}, \
                     simulator revision {}, hash {hash}",
                    entry.revision,
                    simulator::REVISION
                )
            });
        }
    }
    assert!(stale.is_empty(), "REVISED_RUNS:\n{}", stale.join("\n"));
}

#[test]
fn every_protocols_runs_are_deterministic() {
    let sc = load(&scenarios_dir().join("leader_crash.toml"));
    for entry in protocols::PROTOCOLS {
        for seed in 0..10 {
            let a = run(&sc, entry.name, seed);
            let b = run(&sc, entry.name, seed);
            assert_eq!(a.log.hash(), b.log.hash(), "{} seed {seed}", entry.name);
        }
    }
}

#[test]
fn the_same_seed_gives_an_identical_run_and_different_seeds_differ_over_50_seeds() {
    let sc = load(&scenarios_dir().join("partition_3_3.toml"));
    let mut hashes = std::collections::BTreeSet::new();
    for seed in 0..50 {
        let a = run(&sc, &sc.protocol, seed);
        let b = run(&sc, &sc.protocol, seed);
        assert_eq!(
            a.log.hash(),
            b.log.hash(),
            "seed {seed}: trace hashes differ"
        );
        assert_eq!(
            a.log.events, b.log.events,
            "seed {seed}: event sequences differ"
        );
        hashes.insert(a.log.hash());
    }
    assert_eq!(
        hashes.len(),
        50,
        "different seeds should give different traces"
    );
}

#[test]
fn trace_files_of_the_same_seed_are_byte_identical() {
    let sc = load(&scenarios_dir().join("leader_crash.toml"));
    let dir = std::env::temp_dir().join(format!("sim-trace-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in [1, 2, 3] {
        let mut files = Vec::new();
        for k in 0..2 {
            let out = run(&sc, &sc.protocol, seed);
            let j = judge(&sc, &out);
            let path = dir.join(format!("{seed}-{k}.json"));
            simulator::report::write_trace(&path, &sc, &out, &j).unwrap();
            files.push(std::fs::read(&path).unwrap());
        }
        assert!(files[0] == files[1], "seed {seed}: trace files differ");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lease_reads_under_a_clock_step_are_caught_while_read_index_reads_of_the_same_run_pass() {
    // Raft's lease (the scenario's own protocol).
    let sc = load(&scenarios_dir().join("clock_skew_lease.toml"));
    let out = run(&sc, &sc.protocol, sc.seed);
    let j = judge(&sc, &out);
    assert!(j.passed(), "{:?}", j.expectations);
    for caught in ["lease_exclusivity", "split_brain"] {
        assert_eq!(
            j.verdict(caught).unwrap().result,
            checker::safety::Outcome::Fail,
            "{caught}"
        );
    }
    let mut read_index = sc.clone();
    read_index.workload.read_mode = Some(protocol::ReadMode::ReadIndex);
    let out = run(&read_index, &sc.protocol, sc.seed);
    let j = judge(&read_index, &out);
    for name in [
        "election_safety",
        "log_safety",
        "lease_exclusivity",
        "split_brain",
    ] {
        assert_eq!(
            j.verdict(name).unwrap().result,
            checker::safety::Outcome::Pass,
            "{name}: {:?}",
            j.verdict(name)
        );
    }
}

#[test]
fn zab_local_and_sync_reads_under_a_partition_are_caught_while_quorum_synced_reads_pass() {
    use checker::safety::Outcome;
    let sc = load(&scenarios_dir().join("zab_local_reads.toml"));
    let linearizable = |mode: protocol::ReadMode, seed: u64| {
        let mut sc = sc.clone();
        sc.workload.read_mode = Some(mode);
        let out = run(&sc, &sc.protocol, seed);
        let j = judge(&sc, &out);
        j.verdict("linearizability").unwrap().result
    };
    // The shipped seed in each read mode, as `sim run --read-mode M` runs it: every
    // expectation holds, and the scenario's own [expect] (with its
    // [expect.read_mode.sync_quorum]) says linearizability fails for local and sync reads
    // and passes for sync_quorum.
    for (mode, verdict) in [
        (protocol::ReadMode::Local, Outcome::Fail),
        (protocol::ReadMode::Sync, Outcome::Fail),
        (protocol::ReadMode::SyncQuorum, Outcome::Pass),
    ] {
        let mut sc = sc.clone();
        sc.workload.read_mode = Some(mode);
        let out = run(&sc, &sc.protocol, sc.seed);
        let j = judge(&sc, &out);
        assert!(j.passed(), "{}: {:?}", mode.name(), j.expectations);
        assert_eq!(
            j.verdict("linearizability").unwrap().result,
            verdict,
            "{}",
            mode.name()
        );
        let (pass, fail) = sc.expect.checkers_for(Some(mode));
        let listed = if verdict == Outcome::Pass { pass } else { fail };
        assert!(
            listed.iter().any(|c| c == "linearizability"),
            "{}: the scenario's [expect] does not state the verdict",
            mode.name()
        );
    }
    // ZooKeeper's sync (ZOOKEEPER-1675): the cut-off leader answers a sync at once when it
    // has no proposal outstanding, so whether a seed catches it is a race; the shipped seed
    // does, and so do most.
    let caught = (1..=8)
        .filter(|&seed| linearizable(protocol::ReadMode::Sync, seed) == Outcome::Fail)
        .count();
    assert!(caught >= 4, "sync caught in only {caught} of 8 seeds");
    // The leader confirms with a quorum first: never caught.
    for seed in 1..=8 {
        assert_eq!(
            linearizable(protocol::ReadMode::SyncQuorum, seed),
            Outcome::Pass,
            "sync_quorum, seed {seed}"
        );
    }
}

#[test]
fn fifo_links_never_show_zab_a_hole_in_its_stream_under_random_faults() {
    // ZAB re-syncs when it sees a gap in a connection's messages; the simulator's TCP
    // model must never make one (loss resets the connection instead).
    let sc = load(&scenarios_dir().join("nemesis_mix.toml"));
    for seed in 0..30 {
        let options = RunOptions {
            seed,
            keep_events: false,
            bugs: vec![],
            swarm: true,
            describe: false,
            ..RunOptions::default()
        };
        let out = match protocols::run("zab", &sc, &options) {
            Ok(out) => out,
            Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
                panic!("{m}")
            }
        };
        assert_eq!(
            out.marks.get("zab.learner_saw_fifo_violation"),
            None,
            "seed {seed}"
        );
    }
}

#[test]
fn liveness_is_judged_while_a_majority_can_work_and_not_when_the_last_fault_strands_it() {
    use checker::safety::Outcome;
    let liveness = |faults: &str, protocol: &str| {
        let text = format!(
            "name = \"stranded\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"8s\"\n{faults}\n[expect]\npass = [\"liveness\"]\n"
        );
        let sc = Scenario::from_toml("stranded.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let out = run(&sc, protocol, 1);
        let j = judge(&sc, &out);
        let (_, v) = j
            .verdicts
            .iter()
            .find(|(n, _)| *n == "liveness")
            .expect("a liveness verdict");
        (v.result, v.detail.clone())
    };
    for protocol in protocols::names() {
        // One of three down for good: the other two must elect and serve.
        let (result, detail) = liveness(
            "faults = [{ at = \"1s\", kind = \"crash\", node = \"leader\" }]",
            protocol,
        );
        assert_eq!(result, Outcome::Pass, "{protocol}: {detail}");
        // Two of three down for good, or the one live node cut off from the other: no
        // protocol can make progress, so liveness is not judged (rather than failed).
        for faults in [
            "faults = [{ at = \"1s\", kind = \"crash\", node = 1 }, { at = \"1s\", kind = \"crash\", node = 2 }]",
            "faults = [{ at = \"1s\", kind = \"crash\", node = 1 }, { at = \"1s\", kind = \"isolate\", node = 2 }]",
            "faults = [{ at = \"1s\", kind = \"pause\", node = 1 }, { at = \"1s\", kind = \"crash\", node = 2 }]",
        ] {
            let (result, detail) = liveness(faults, protocol);
            assert_eq!(result, Outcome::Unknown, "{protocol} {faults}: {detail}");
            assert!(
                detail.contains("no voter reaches a majority"),
                "{protocol}: {detail}"
            );
        }
        // A cut that leaves a majority connected is still judged.
        let (result, detail) = liveness(
            "faults = [{ at = \"1s\", kind = \"isolate\", node = \"leader\" }]",
            protocol,
        );
        assert_eq!(result, Outcome::Pass, "{protocol}: {detail}");
    }
}

/// A node lost for good (`lose` in a schedule, or `[nemesis] final_loss` at the final heal)
/// stays down: no `restart` and no heal brings it back, clients stop turning to it once
/// their operation there times out, and the rest elect a leader and serve again, so every
/// correct protocol passes liveness without it. The nemesis's loss is an applied fault like
/// any other: the explicit schedule `sim shrink` starts from loses the same node.
#[test]
fn a_node_lost_for_good_stays_down_and_the_rest_recover_without_it() {
    use checker::safety::Outcome;
    use simulator::trace::Kind;
    let scripted = "faults = [{ at = \"2s\", kind = \"lose\", node = \"leader\" }, { at = \"3s\", kind = \"restart\", node = 1 }, { at = \"3s\", kind = \"restart\", node = 2 }, { at = \"3s\", kind = \"restart\", node = 3 }, { at = \"4s\", kind = \"heal_all\" }]";
    let drawn = "[nemesis]\nstop = \"4s\"\ncrash = 1.0\ncrash_duration = [\"50ms\", \"300ms\"]\nfinal_loss = 1.0";
    for protocol in protocols::names() {
        for (name, faults, lost_at) in [("scripted", scripted, 2.0), ("final_loss", drawn, 4.0)] {
            let text = format!(
                "name = \"lost\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"12s\"\n{faults}\n[workload]\nclients = 3\ntarget = \"sticky\"\ntimeout = \"1s\"\n[expect]\npass = [\"liveness\", \"linearizability\", \"log_safety\"]\nliveness_within = \"6s\"\n"
            );
            let sc = Scenario::from_toml("lost.toml", &text).unwrap_or_else(|e| panic!("{e}"));
            let out = run(&sc, protocol, 1);
            let lose = out
                .faults
                .iter()
                .find(|f| f.fault.name() == "lose")
                .unwrap_or_else(|| panic!("{protocol} {name}: no node was lost"));
            let at = (lost_at * 1e9) as u64;
            assert_eq!(lose.at_ns, at, "{protocol} {name}");
            let gone = lose.node.expect("a lost node is resolved");
            for e in &out.log.events {
                assert!(
                    !(e.kind == Kind::Restart && e.node == gone && e.at_ns >= at),
                    "{protocol} {name}: n{gone} restarted at {} after it was lost",
                    e.at_ns
                );
                // An operation already sent there times out (1 s); after that no client
                // sends there again.
                assert!(
                    !(e.kind == Kind::Invoke && e.node == gone && e.at_ns > at + 1_500_000_000),
                    "{protocol} {name}: a client turned to the lost n{gone} at {}",
                    e.at_ns
                );
            }
            let j = judge(&sc, &out);
            for check in ["liveness", "linearizability", "log_safety"] {
                let v = j.verdict(check).expect("judged");
                assert_eq!(
                    v.result,
                    Outcome::Pass,
                    "{protocol} {name} {check}: {}",
                    v.detail
                );
            }
            if name == "final_loss" {
                let explicit = simulator::shrink::explicit(&sc, &out);
                let again = run(&explicit, protocol, 1);
                let names = |o: &RunOutput| -> Vec<(u64, &'static str, Option<u32>)> {
                    o.faults
                        .iter()
                        .map(|f| (f.at_ns, f.fault.name(), f.node))
                        .collect()
                };
                assert_eq!(
                    names(&again),
                    names(&out),
                    "{protocol}: the explicit schedule"
                );
                assert_eq!(again.history.len(), out.history.len(), "{protocol}");
            }
        }
    }
}

/// A storage fault, scheduled or drawn by the nemesis, is refused by every protocol that
/// does not model storage faults (`sim` exits 2 with this message), naming the file, the
/// line and the field that asks for it, and accepted by every protocol that does.
#[test]
fn a_storage_fault_is_refused_naming_its_field_by_exactly_the_protocols_without_them() {
    let options = RunOptions {
        seed: 1,
        keep_events: false,
        bugs: vec![],
        swarm: false,
        describe: false,
        ..RunOptions::default()
    };
    let base = "name = \"corrupt\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"4s\"\n";
    for (extra, place, what) in [
        (
            "\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\nnode = 1\n\n[[faults]]\nat = \"2s\"\nkind = \"corrupt\"\nnode = 2\n",
            "corrupt.toml:13: faults[1].kind",
            "schedules corrupt at 2s",
        ),
        (
            "\n[nemesis]\ncrash = 1.0\ncorrupt = 0.5\n",
            "corrupt.toml:8: nemesis.corrupt",
            "draws storage faults",
        ),
    ] {
        let sc = Scenario::from_toml("corrupt.toml", &format!("{base}{extra}"))
            .unwrap_or_else(|e| panic!("{e}"));
        for entry in protocols::PROTOCOLS {
            match (entry.capabilities.storage_faults, entry.check(&sc, &options)) {
                (true, Ok(())) => {}
                (false, Err(RunError::Input(m))) => assert_eq!(
                    m,
                    format!(
                        "{place}: {} does not model storage faults, but the scenario {what}; run it under a protocol that does",
                        entry.name
                    )
                ),
                (models, result) => panic!(
                    "{} (storage faults: {models}) gave {:?} for {extra}",
                    entry.name,
                    result.err()
                ),
            }
        }
    }
}

/// A `[swarm]` range that cannot be drawn from is bad input naming the file, the line and
/// the field, and what was expected; nothing is run.
#[test]
fn a_malformed_swarm_range_is_refused_naming_file_line_and_field() {
    let text = std::fs::read_to_string(scenarios_dir().join("swarm.toml")).unwrap();
    for (from, to, field, expected) in [
        (
            "nodes = [3, 7]",
            "nodes = [7, 3]",
            "swarm.nodes",
            "min <= max",
        ),
        ("nodes = [3, 7]", "nodes = [3, 65]", "swarm.nodes", "<= 64"),
        (
            "loss = [0.0, 0.05]",
            "loss = [0.0, 1.5]",
            "swarm.loss",
            "<= 1",
        ),
        ("spare = 0.3", "spare = 2.0", "swarm.spare", "probability"),
        (
            "grow_from_one = 0.2",
            "grow_from_one = -0.1",
            "swarm.grow_from_one",
            "probability",
        ),
        (
            "retries = [0, 1]",
            "retries = [1, 0]",
            "swarm.retries",
            "min <= max",
        ),
        (
            "election_timeout = [\"150ms\", \"400ms\"]",
            "election_timeout = [\"400ms\", \"150ms\"]",
            "swarm.election_timeout",
            "min <= max",
        ),
        (
            "read_modes = [",
            "read_modes = [\"fast\", ",
            "swarm.read_modes",
            "expected read modes",
        ),
        (
            "targets = [",
            "targets = [\"nearest\", ",
            "swarm.targets",
            "expected",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let bad = text.replacen(from, to, 1);
        let line = bad.lines().position(|l| l.starts_with(to)).unwrap() + 1;
        let e = Scenario::from_toml("bad.toml", &bad).expect_err(to);
        assert_eq!(
            (e.file.as_str(), e.line, e.field.as_str()),
            ("bad.toml", Some(line), field),
            "{e}"
        );
        assert!(e.message.contains(expected), "{e}");
    }
}

/// Swarm testing of a scenario without `[swarm]` (docs/scenarios.md): a seed keeps some
/// fault kinds at scaled rates, and those rates are shares of the scenario's total, which
/// stays: faults come as often as without the mix, and the kinds kept get the room of
/// those left out. The mixes' own totals average well below the file's, so faults drawn
/// at the mix's total would come a third less often, and this test would fail.
#[test]
fn a_swarm_mix_shares_the_scenarios_total_fault_rate_among_the_kinds_it_keeps() {
    let sc = load(&scenarios_dir().join("nemesis_mix.toml"));
    let file_total: f64 = sc.nemesis.as_ref().unwrap().rates.iter().sum();
    let nemesis_faults = |out: &RunOutput| out.faults.iter().filter(|f| f.from_nemesis).count();
    let (mut plain, mut mixed, mut mix_share) = (0, 0, 0.0);
    let seeds = 40;
    for seed in 0..seeds {
        plain += nemesis_faults(&run_with(&sc, "raft", seed, false, false));
        let out = run_with(&sc, "raft", seed, false, true);
        mixed += nemesis_faults(&out);
        let mix: f64 = out.nemesis.as_ref().unwrap().rates.iter().sum();
        mix_share += mix / file_total / seeds as f64;
    }
    assert!(
        mix_share < 0.8,
        "the mixes keep {mix_share:.2} of the file's total on average: no test of the rate"
    );
    let ratio = mixed as f64 / plain as f64;
    assert!(
        (0.85..1.15).contains(&ratio),
        "nemesis faults with the mix {mixed}, without {plain} (ratio {ratio:.2}): the mix \
         should share the file's total rate, not draw its own (its totals average \
         {mix_share:.2} of the file's)"
    );
}

/// A swarm seed's world is drawn the same way by `sim run --seed N` and by the replay of
/// its trace (both re-draw it from the scenario's text and the recorded seed), and its
/// read mode, recorded in the trace, draws the same world again.
#[test]
fn a_swarm_seed_draws_the_same_world_and_run_every_time() {
    let sc = load(&scenarios_dir().join("swarm.toml"));
    for entry in protocols::PROTOCOLS {
        for seed in [1, 2] {
            let world = entry.world(&sc, seed).unwrap();
            assert_eq!(world.drawn, Some(seed));
            let a = run(&sc, entry.name, seed);
            let b = run(&world, entry.name, seed);
            assert_eq!(a.log.hash(), b.log.hash(), "{} seed {seed}", entry.name);
            let mut again = sc.clone();
            again.workload.read_mode = world.workload.read_mode;
            assert_eq!(
                entry.world(&again, seed).unwrap().to_toml(),
                world.to_toml(),
                "{} seed {seed}: the recorded read mode draws another world",
                entry.name
            );
        }
    }
}

/// A drawn world written out as a scenario (what `sim shrink` saves) loads again and runs
/// the same under the protocol it was drawn for: every field the draw sets is one the
/// scenario format takes back.
#[test]
fn a_drawn_world_written_out_loads_again_and_runs_the_same() {
    let sc = load(&scenarios_dir().join("swarm.toml"));
    for entry in protocols::PROTOCOLS {
        for seed in 0..40 {
            let world = entry.world(&sc, seed).unwrap();
            let text = world.to_toml();
            let again = Scenario::from_toml("world.toml", &text)
                .unwrap_or_else(|e| panic!("{} seed {seed}: {e}\n{text}", entry.name));
            // Drawn for this protocol (swarm.toml names raft), it says so written out.
            assert_eq!(
                again.protocol, entry.name,
                "seed {seed}: the world's protocol"
            );
            if seed < 3 {
                let a = run(&world, entry.name, seed);
                let b = run(&again, entry.name, seed);
                assert_eq!(a.log.hash(), b.log.hash(), "{} seed {seed}", entry.name);
            }
        }
    }
}

/// Every world the swarm draws meets the timing requirement its protocols need to elect a
/// leader at all (broadcast time ≪ election timeout), boundary values included, in true
/// time whatever the clocks' rates: the fastest clock's smallest timeout covers one and a
/// half elections, and the slowest clock's earliest timeout comes two vote requests (one
/// per node where the leader may be lost for good) before the fastest clock's latest.
#[test]
fn every_swarm_world_can_elect_a_leader_in_time() {
    let sc = load(&scenarios_dir().join("swarm.toml"));
    let mut skewed = 0;
    for entry in protocols::PROTOCOLS {
        for seed in 0..300 {
            let w = entry.world(&sc, seed).unwrap();
            let request = (w.network.latency.1 + w.storage.write_latency.1).as_secs_f64();
            let loses = w.nemesis.as_ref().is_some_and(|n| n.final_loss > 0.0);
            let spread = request * if loses { f64::from(w.nodes) } else { 2.0 };
            let (lo, hi) = w.options.election_timeout;
            let (slowest, fastest) = w.clocks.drift;
            skewed += usize::from(fastest > 1.1);
            let (lo, hi) = (lo.as_secs_f64(), hi.as_secs_f64());
            assert!(
                lo / fastest >= 3.0 * request - 1e-9
                    && hi / fastest - lo / slowest >= spread - 1e-9,
                "{} seed {seed}: election {lo}..{hi} s on clocks at {slowest}..{fastest}, requests taking {request} s",
                entry.name
            );
            // The bound after the heal covers two init limits on the slowest clock, and
            // the run lasts that long after it.
            let within = w.expect.liveness_within.as_secs_f64();
            let stop = w.nemesis.as_ref().unwrap().stop;
            assert!(
                within >= 4.0 * hi / slowest + 2.0 - 1e-3
                    && w.duration >= stop + w.expect.liveness_within,
                "{} seed {seed}: liveness within {within} s, run {:?}, election up to {hi} s on a clock at {slowest}",
                entry.name,
                w.duration
            );
        }
    }
    assert!(
        skewed > 50,
        "only {skewed} worlds with clocks 10% fast or more"
    );
}

/// Draws `protocol`'s world of swarm seed `seed`, checks it is the one pinned (clocks at
/// 0.67 and 1.33 of true time), runs it, and asserts every expectation holds.
fn skewed_world_passes(protocol: &str, seed: u64) -> Scenario {
    let sc = load(&scenarios_dir().join("swarm.toml"));
    let w = protocols::world(protocol, &sc, seed).unwrap();
    assert_eq!(
        w.clocks.drift,
        (0.6667, 1.3333),
        "not the world of seed {seed}"
    );
    let out = run(&w, protocol, seed);
    let j = judge(&w, &out);
    assert!(j.passed(), "{:?}", j.verdict("liveness").map(|v| &v.detail));
    w.into_owned()
}

/// Swarm seed 160983 drew for Raft a world whose liveness failed with no protocol at
/// fault: four servers, one lost for good at the heal, pre-vote off, clocks at 0.67 and
/// 1.33 of true time, and election timeouts (390–910 ms) checked against the timing
/// requirement in local time only. The survivor with the fastest clock and an empty log
/// stood again and again; the one whose log could win, on the slowest clock, was rarely
/// first by a vote request's margin, and took office 11.9 s after the heal, past the 10 s
/// bound. Drawn in true time the timeouts are 520–1734 ms, and a leader serves in time.
#[test]
fn a_world_with_skewed_clocks_gets_timeouts_its_slowest_node_can_win_with() {
    let w = skewed_world_passes("raft", 160983);
    assert_eq!(
        w.options.election_timeout,
        (
            std::time::Duration::from_millis(520),
            std::time::Duration::from_millis(1734)
        )
    );
}

/// Swarm seed 56183 drew for ZAB six nodes (two observers) on clocks at 0.67 and 1.33,
/// and lost its leader for good at the heal. The true-time rule above gave it timeouts of
/// 496–1984 ms, so an init limit of nearly 6 s on the slowest clock: the establishing
/// leader waited one out for a follower that was gone, stood again 8.4 s after the heal,
/// and had not synced its followers by the 10 s bound. The bound, and the run after the
/// heal, now grow to two init limits on the slowest clock and two seconds more.
#[test]
fn a_world_with_long_timeouts_on_slow_clocks_gets_a_liveness_bound_that_covers_them() {
    let w = skewed_world_passes("zab", 56183);
    assert_eq!(
        w.options.election_timeout.1,
        std::time::Duration::from_millis(1984)
    );
    assert!(w.expect.liveness_within > std::time::Duration::from_secs(13));
}

/// `[swarm] corners` puts a share of each dimension at one end of its range, both ends
/// reached; `clock_extremes` marks that share of worlds' clocks adversarial; and
/// `intensity` multiplies every fault rate of a world by one factor.
#[test]
fn swarm_boundary_values_clock_extremes_and_intensity_draw_what_they_say() {
    let text = std::fs::read_to_string(scenarios_dir().join("swarm.toml")).unwrap();
    let sc = Scenario::from_toml("swarm.toml", &text).unwrap();
    let spec = sc.swarm.as_ref().unwrap();
    let (lat_lo, lat_hi) = spec.latency.unwrap();
    let (disk_lo, disk_hi) = spec.write_latency.unwrap();
    let (mut lat_ends, mut disk_ends, mut extremes, mut both) = (0, 0, 0, [false; 4]);
    let seeds = 400;
    for seed in 0..seeds {
        let w = protocols::world("raft", &sc, seed).unwrap();
        let lat = w.network.latency;
        if lat == (lat_lo, lat_lo) || lat == (lat_hi, lat_hi) {
            lat_ends += 1;
            both[usize::from(lat.0 == lat_hi)] = true;
        }
        let disk = w.storage.write_latency;
        if disk == (disk_lo, disk_lo) || disk == (disk_hi, disk_hi) {
            disk_ends += 1;
            both[2 + usize::from(disk.0 == disk_hi)] = true;
        }
        extremes += usize::from(w.clocks.extremes);
        assert!(
            w.to_toml().contains("extremes = true") == w.clocks.extremes,
            "seed {seed}: the printed world keeps its clocks"
        );
    }
    // 40% of worlds at an end (a few more by chance inside the range), half the clocks
    // adversarial: far from either within 400 seeds only if the draw is broken.
    for (what, n, lo, hi) in [
        ("latency at an end", lat_ends, 0.3, 0.55),
        ("disk at an end", disk_ends, 0.3, 0.55),
        ("adversarial clocks", extremes, 0.4, 0.6),
    ] {
        let share = n as f64 / seeds as f64;
        assert!(share > lo && share < hi, "{what}: {share}");
    }
    assert_eq!(both, [true; 4], "both ends of latency and disk are drawn");

    // No corners, no adversarial clocks: no world has them.
    let plain = Scenario::from_toml(
        "swarm.toml",
        &text
            .replace("corners = 0.4", "")
            .replace("clock_extremes = 0.5", ""),
    )
    .unwrap();
    for seed in 0..50 {
        assert!(
            !protocols::world("raft", &plain, seed)
                .unwrap()
                .clocks
                .extremes
        );
    }

    // Intensity draws after every rate (before boundary values, which may turn
    // crash_writing off): the same world, every fault rate times the factor.
    // (Worlds grown from one voter ask for membership changes at a floor of their own.)
    let plain_text = text
        .replace("corners = 0.4", "")
        .replace("clock_extremes = 0.5", "")
        .replace("grow_from_one = 0.2", "");
    let doubled = plain_text.replace("[swarm]\n", "[swarm]\nintensity = [2.0, 2.0]\n");
    let doubled = Scenario::from_toml("swarm.toml", &doubled).unwrap();
    let plain = Scenario::from_toml("swarm.toml", &plain_text).unwrap();
    for seed in 0..50 {
        let a = protocols::world("raft", &plain, seed).unwrap();
        let b = protocols::world("raft", &doubled, seed).unwrap();
        let (ra, rb) = (
            a.nemesis.as_ref().unwrap().rates,
            b.nemesis.as_ref().unwrap().rates,
        );
        for (x, y) in ra.iter().zip(rb.iter()) {
            assert!(
                (y - 2.0 * x).abs() < 1e-3,
                "seed {seed}: {x} doubled is {y}"
            );
        }
    }
}

/// `[clocks] extremes`: every node starts at one end of the drift band (a drift fault's
/// undo returns a node to it), and every drift fault sets one end of the widest band the
/// drift bound tolerates, rounded inwards; without it, rates fall inside.
#[test]
fn adversarial_clocks_run_only_at_the_ends_of_their_band() {
    let text = r#"
name = "clocks"
protocol = "raft"
nodes = 5
duration = "6s"
[options]
clock_drift_bound = 0.2
[clocks]
drift = [0.95, 1.05]
extremes = true
[nemesis]
start = "100ms"
stop = "5s"
drift = 20.0
drift_duration = ["10ms", "100ms"]
"#;
    let rates = |text: &str| -> Vec<f64> {
        let sc = Scenario::from_toml("clocks.toml", text).unwrap();
        run(&sc, "raft", 1)
            .faults
            .iter()
            .filter_map(|f| match f.fault {
                simulator::scenario::Fault::Drift { rate, .. } => Some(rate),
                _ => None,
            })
            .collect()
    };
    let ends = [0.95, 1.05, 0.8889, 1.1111];
    let adversarial = rates(text);
    assert!(adversarial.len() > 50, "{} drift faults", adversarial.len());
    for r in &adversarial {
        assert!(ends.contains(r), "rate {r} is not an end: {adversarial:?}");
    }
    for end in ends {
        assert!(adversarial.contains(&end), "{end} never drawn");
    }
    let uniform = rates(&text.replace("extremes = true", ""));
    assert!(
        uniform.iter().any(|r| !ends.contains(r)),
        "without extremes rates fall inside the band"
    );
}

/// `[nemesis] on_mark`: a fault of a waiting kind strikes only right after a node takes
/// one of `trigger_marks`, at that node (here a crash, and `isolate_leader` cutting off the
/// marked node whether it leads or not); the kinds that do not wait strike as drawn.
#[test]
fn faults_waiting_for_a_trigger_mark_strike_the_node_that_took_it() {
    let text = r#"
name = "marks"
protocol = "raft"
nodes = 5
duration = "20s"
[options]
pre_vote = true
[network]
latency = ["1ms", "10ms"]
[nemesis]
start = "500ms"
stop = "18s"
partition = 1.0
crash = 2.0
isolate_leader = 2.0
crash_duration = ["5ms", "100ms"]
fault_duration = ["100ms", "1s"]
on_mark = ["crash", "isolate_leader"]
trigger_marks = ["raft.prevote_rejected", "raft.leader_backtracks", "raft.append_rejected_conflict"]
"#;
    let sc = Scenario::from_toml("marks.toml", text).unwrap();
    let triggers = &sc.nemesis.as_ref().unwrap().trigger_marks;
    let out = run(&sc, "raft", 3);
    let marked: Vec<(u64, u32)> = out
        .log
        .events
        .iter()
        .filter(|e| e.kind.name() == "mark" && triggers.iter().any(|t| t == e.label))
        .map(|e| (e.at_ns, e.node))
        .collect();
    let aimed: Vec<(u64, u32)> = out
        .faults
        .iter()
        .filter_map(|f| match f.fault {
            simulator::scenario::Fault::Crash { .. }
            | simulator::scenario::Fault::Isolate { .. } => Some((
                f.at_ns,
                f.node.expect("a crash or isolation names its node"),
            )),
            _ => None,
        })
        .collect();
    assert!(aimed.len() >= 3, "{} aimed faults: {aimed:?}", aimed.len());
    for (at, node) in &aimed {
        assert!(
            marked.contains(&(at - 1, *node)),
            "a fault at {at} on n{node} follows no trigger mark of n{node}"
        );
    }
    let partitions = out
        .faults
        .iter()
        .filter(|f| {
            matches!(
                f.fault,
                simulator::scenario::Fault::Partition { .. }
                    | simulator::scenario::Fault::OneWay { .. }
                    | simulator::scenario::Fault::Bridge { .. }
            )
        })
        .count();
    assert!(partitions > 5, "{partitions} partitions");
}

/// `[swarm] on_mark` draws from a stream of its own: a world differs from the one drawn
/// without the field only in which kinds wait for marks and which marks they wait for
/// (declared marks, none of the mutants' own), and a world in which no kind waits is the
/// same world.
#[test]
fn swarm_on_mark_changes_only_which_faults_wait_for_which_marks() {
    let text = std::fs::read_to_string(scenarios_dir().join("swarm.toml")).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("on_mark = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let with = without.replace("[swarm]\n", "[swarm]\non_mark = 0.25\n");
    let with = Scenario::from_toml("swarm.toml", &with).unwrap();
    let without = Scenario::from_toml("swarm.toml", &without).unwrap();
    let (mut waiting, mut plain) = (0, 0);
    for entry in protocols::PROTOCOLS {
        for seed in 0..60 {
            let a = entry.world(&with, seed).unwrap();
            let b = entry.world(&without, seed).unwrap();
            let (na, nb) = (a.nemesis.as_ref().unwrap(), b.nemesis.as_ref().unwrap());
            assert!(!nb.on_mark.contains(&true) && nb.trigger_marks.is_empty());
            if na.on_mark.contains(&true) {
                waiting += 1;
                assert!(!na.trigger_marks.is_empty(), "{} seed {seed}", entry.name);
            } else {
                plain += 1;
                assert!(na.trigger_marks.is_empty(), "{} seed {seed}", entry.name);
            }
            for m in &na.trigger_marks {
                assert!(!m.contains(".bug."), "{} seed {seed}: {m}", entry.name);
                assert!(
                    m.starts_with(&format!("{}.", entry.name)),
                    "{} seed {seed}: {m}",
                    entry.name
                );
            }
            for (k, on) in na.on_mark.iter().enumerate() {
                assert!(!on || (na.rates[k] > 0.0 && !na.on_new_leader[k]));
            }
            let strip = |t: String| -> String {
                t.lines()
                    .filter(|l| !l.starts_with("on_mark = ") && !l.starts_with("trigger_marks = "))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(
                strip(a.to_toml()),
                strip(b.to_toml()),
                "{} seed {seed}",
                entry.name
            );
        }
    }
    assert!(
        waiting > 20 && plain > 5,
        "{waiting} worlds wait for marks, {plain} do not"
    );
}

/// `scenarios/swarm.toml` as it is, and without its line `line` (which it must have).
fn swarm_with_and_without(line: &str) -> (Scenario, Scenario) {
    let text = std::fs::read_to_string(scenarios_dir().join("swarm.toml")).unwrap();
    assert!(
        text.contains(&format!("\n{line}\n")),
        "swarm.toml has {line}"
    );
    let without: String = text
        .lines()
        .filter(|l| *l != line)
        .map(|l| format!("{l}\n"))
        .collect();
    (
        Scenario::from_toml("swarm.toml", &text).unwrap(),
        Scenario::from_toml("swarm.toml", &without).unwrap(),
    )
}

/// `[swarm] grow_from_one` draws from a stream of its own: only a protocol with membership
/// change grows worlds from one voter, about as often as the field says; a grown world
/// starts with node 1 alone, asks for membership changes at one a second or more as they
/// come (waiting for no leader and no mark), and loses no server for good at the heal;
/// every other world is the one drawn without the field.
#[test]
fn swarm_grow_from_one_changes_only_the_worlds_it_grows() {
    let (with, without) = swarm_with_and_without("grow_from_one = 0.2");
    let k = simulator::scenario::NEMESIS_KINDS
        .iter()
        .position(|&name| name == "reconfigure")
        .unwrap();
    let seeds = 200;
    for entry in protocols::PROTOCOLS {
        let mut grown = 0;
        for seed in 0..seeds {
            let a = entry.world(&with, seed).unwrap();
            let b = entry.world(&without, seed).unwrap();
            if a.options.members == Some(vec![1]) {
                grown += 1;
                let nem = a.nemesis.as_ref().unwrap();
                assert!(nem.rates[k] >= 1.0, "{} seed {seed}", entry.name);
                assert!(!nem.on_mark[k] && !nem.on_new_leader[k]);
                assert_eq!(nem.final_loss, 0.0, "{} seed {seed}", entry.name);
                assert_eq!(
                    nem.on_mark.contains(&true),
                    !nem.trigger_marks.is_empty(),
                    "{} seed {seed}",
                    entry.name
                );
            } else {
                assert_eq!(a.to_toml(), b.to_toml(), "{} seed {seed}", entry.name);
            }
        }
        if entry.capabilities.membership {
            let share = grown as f64 / seeds as f64;
            assert!(share > 0.1 && share < 0.3, "{}: {share}", entry.name);
        } else {
            assert_eq!(grown, 0, "{}", entry.name);
        }
    }
}

/// `[swarm] retries` draws from a stream of its own, and only for a protocol that
/// deduplicates commands: every world is the one drawn without the field but for its
/// clients' retries, which are 0 for every other protocol.
#[test]
fn swarm_retries_are_drawn_only_for_a_protocol_that_deduplicates() {
    let (with, without) = swarm_with_and_without("retries = [0, 1]");
    for entry in protocols::PROTOCOLS {
        let mut drawn = [0; 2];
        for seed in 0..200 {
            let mut a = entry.world(&with, seed).unwrap().into_owned();
            let b = entry.world(&without, seed).unwrap();
            drawn[a.workload.retries as usize] += 1;
            a.workload.retries = 0;
            assert_eq!(a.to_toml(), b.to_toml(), "{} seed {seed}", entry.name);
        }
        if entry.capabilities.deduplicates {
            assert!(drawn.iter().all(|&n| n > 60), "{}: {drawn:?}", entry.name);
            // A drawn world written out (as `sim shrink` writes it) keeps its retries.
            let world = (0..200)
                .map(|seed| entry.world(&with, seed).unwrap().into_owned())
                .find(|w| w.workload.retries > 0)
                .unwrap();
            let again = Scenario::from_toml("world.toml", &world.to_toml()).unwrap();
            assert_eq!(again.workload.retries, world.workload.retries);
        } else {
            assert_eq!(drawn[0], 200, "{}", entry.name);
        }
    }
}

/// A client whose operation timed out sends it again under its id (`[workload] retries`):
/// the operation stays open from its first invocation to its one reply, Paxos applies the
/// command once however many of its copies are chosen, and the run passes. A protocol
/// that does not deduplicate refuses the field, naming it.
#[test]
fn retried_operations_are_applied_once_and_refused_by_protocols_that_do_not_deduplicate() {
    let text = r#"
name = "retries"
protocol = "paxos"
nodes = 3
duration = "20s"
[network]
latency = ["1ms", "40ms"]
duplicate = 0.1
[workload]
clients = 4
keys = 2
timeout = "150ms"
retries = 3
[nemesis]
stop = "15s"
partition = 0.5
pause = 0.5
pause_duration = ["100ms", "600ms"]
"#;
    let sc = Scenario::from_toml("retries.toml", text).unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        seed: 1,
        keep_events: true,
        ..RunOptions::default()
    };
    let out = protocols::run("paxos", &sc, &options).unwrap_or_else(|e| panic!("{e:?}"));
    let j = judge(&sc, &out);
    assert!(j.passed(), "{j:?}");
    assert!(out.marks.contains_key("paxos.duplicate_command_skipped"));
    let retried: std::collections::BTreeSet<u64> = out
        .log
        .events
        .iter()
        .filter(|e| e.label == "retry")
        .map(|e| e.a)
        .collect();
    assert!(retried.len() > 5, "{} operations retried", retried.len());
    let answered = out
        .log
        .events
        .iter()
        .filter(|e| e.label == "ok" && retried.contains(&e.a))
        .count();
    assert!(answered > 0, "a retried operation got its reply");
    for entry in protocols::PROTOCOLS {
        let refused = entry.check(&sc, &options);
        if entry.capabilities.deduplicates {
            assert!(refused.is_ok(), "{}: {refused:?}", entry.name);
        } else {
            match refused {
                Err(RunError::Input(m)) => assert!(
                    m.contains("workload.retries") && m.contains("deduplicates"),
                    "{}: {m}",
                    entry.name
                ),
                other => panic!("{}: {other:?}", entry.name),
            }
        }
    }
}

/// `swarm_soak.toml` is `swarm.toml` in longer worlds: the same ranges and faults, field
/// for field; only its name, description and length differ, and its faults end as long
/// before the run does.
#[test]
fn the_soak_scenario_is_the_swarm_in_longer_worlds() {
    let table = |name: &str| -> toml::Table {
        let text = std::fs::read_to_string(scenarios_dir().join(name)).unwrap();
        let mut table: toml::Table = text.parse().unwrap();
        for key in ["name", "description", "duration"] {
            assert!(table.remove(key).is_some(), "{name} has {key}");
        }
        let nemesis = table.get_mut("nemesis").and_then(|n| n.as_table_mut());
        assert!(
            nemesis.unwrap().remove("stop").is_some(),
            "{name} has nemesis.stop"
        );
        table
    };
    assert_eq!(table("swarm.toml"), table("swarm_soak.toml"));
    let [swarm, soak] = ["swarm.toml", "swarm_soak.toml"].map(|f| load(&scenarios_dir().join(f)));
    let calm = |sc: &Scenario| sc.duration - sc.nemesis.as_ref().unwrap().stop;
    assert_eq!(calm(&swarm), calm(&soak));
    assert_eq!(soak.duration.as_secs(), 30 * swarm.duration.as_secs());
}
