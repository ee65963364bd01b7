//! Property tests over whole scenarios: proptest picks a seed and a family of worlds (the
//! `[swarm]` ranges of `scenarios/swarm.toml`, narrowed: at most so many nodes and clients,
//! these fault kinds, faults until then), the seed draws its world through the same code
//! that `sim run`, `sim fuzz` and `sim mutants` use for a swarm scenario
//! (`simulator::swarm::draw`, by the protocol's capabilities in the registry), and the
//! simulator must find every checker passing for the correct protocols, liveness included.
//!
//! Every registered protocol is covered, and what its worlds hold follows from its
//! capabilities, never from its name: datagram links get loss, duplication and reordering,
//! FIFO links keep order; reads use the linearizable modes the protocol serves; a protocol
//! that changes membership gets spares and `reconfigure`; one that takes observers gets
//! some; one that models storage faults gets `corrupt`.
//!
//! The family shrinks toward fewer fault kinds, nodes and clients and an earlier end of the
//! faults; it becomes TOML when it runs, so the parser is exercised and a failure is a file
//! a person can read and `sim run --seed N` (the seed draws the same world there).
//!
//! A failure is kept twice: proptest appends its seed to
//! `tests/properties.proptest-regressions` (replayed first on every later run, as long as
//! the strategies are unchanged), and the shrunk scenario itself is saved under `traces/`
//! with the run's trace, so the panic message ends with the `sim run` and `sim replay`
//! commands that reproduce it, whatever becomes of the strategies.
//!
//! `PROPTEST_CASES` sets the cases per protocol (default [`DEFAULT_CASES`]).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};
use protocol::{LinkKind, ReadMode};
use sim::hunt::{failed_checks, run_world};
use sim::protocols::{self, Entry, RunError};
use simulator::judge::judge;
use simulator::report::{save_new_file, save_new_trace};
use simulator::scenario::{NEMESIS_KINDS, NEMESIS_KIND_COUNT};
use simulator::{RunOptions, Scenario};
use std::fmt::Write as _;
use std::path::Path;

/// Cases per protocol when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 64;
/// Shrinking steps when `PROPTEST_MAX_SHRINK_ITERS` is not set: each step is a whole run.
const DEFAULT_SHRINK_ITERS: u32 = 400;
/// Shrinking time in milliseconds when `PROPTEST_MAX_SHRINK_TIME` is not set (a run whose
/// history exhausts the linearizability budget takes seconds).
const DEFAULT_SHRINK_TIME_MS: u32 = 60_000;

/// The general swarm scenario, whose ranges every case narrows.
const SWARM: &str = include_str!("../scenarios/swarm.toml");

/// One case: a seed, and the family of worlds it draws from.
#[derive(Clone, Debug)]
struct Case {
    protocol: &'static Entry,
    seed: u64,
    /// The largest cluster and client count the family draws (from 3 and 1).
    nodes_max: u32,
    clients_max: u32,
    /// Which of the swarm scenario's fault kinds the family keeps (by `NEMESIS_KINDS`).
    kinds: [bool; NEMESIS_KIND_COUNT],
    /// When the faults stop, in seconds after the start (the swarm scenario's at most).
    faults_until_s: u32,
}

fn case(protocol: &'static Entry) -> impl Strategy<Value = Case> {
    (
        0u64..1_000_000,
        3u32..=7,
        1u32..=6,
        prop::array::uniform15(any::<bool>()),
        2u32..=8,
    )
        .prop_map(
            move |(seed, nodes_max, clients_max, kinds, faults_until_s)| Case {
                protocol,
                seed,
                nodes_max,
                clients_max,
                kinds,
                faults_until_s,
            },
        )
}

/// Replaces the line that starts with `key =` in `text` (the first, from `after` on).
fn set(text: &mut String, after: &str, key: &str, value: &str) {
    let from = text
        .find(after)
        .expect("the section is in the swarm scenario");
    let at = from
        + text[from..]
            .find(&format!("\n{key} ="))
            .expect("the key is in the section")
        + 1;
    let end = at + text[at..].find('\n').expect("a line end");
    text.replace_range(at..end, &format!("{key} = {value}"));
}

impl Case {
    fn name(&self) -> String {
        format!("properties_{}", self.protocol.name)
    }

    /// The swarm scenario with this case's narrower ranges.
    fn to_toml(&self) -> String {
        let mut t = SWARM.to_string();
        set(&mut t, "\nname", "name", &format!("\"{}\"", self.name()));
        set(
            &mut t,
            "\nname",
            "protocol",
            &format!("\"{}\"", self.protocol.name),
        );
        set(
            &mut t,
            "\n[swarm]\n",
            "nodes",
            &format!("[3, {}]", self.nodes_max),
        );
        set(
            &mut t,
            "\n[swarm]\n",
            "clients",
            &format!("[1, {}]", self.clients_max),
        );
        set(
            &mut t,
            "\n[nemesis]\n",
            "stop",
            &format!("\"{}ms\"", self.faults_until_s * 1000),
        );
        for (k, kind) in NEMESIS_KINDS.iter().enumerate() {
            if !self.kinds[k] {
                set(&mut t, "\n[nemesis]\n", kind, "0.0");
            }
        }
        t
    }
}

// ---------------------------------------------------------------------------------------
// Running a case, and keeping a failure.

fn parse(case: &Case, file: &str) -> Result<Scenario, String> {
    Scenario::from_toml(file, &case.to_toml())
        .map_err(|e| format!("the generator wrote a scenario the parser rejects: {e}"))
}

fn options(case: &Case, keep_events: bool) -> RunOptions {
    RunOptions {
        seed: case.seed,
        keep_events,
        bugs: vec![],
        swarm: false,
        describe: false,
        ..RunOptions::default()
    }
}

/// What the case fails, in words; `Ok` when every expectation holds.
fn check(case: &Case) -> Result<(), String> {
    let sc = parse(case, "<generated>")?;
    match run_world(case.protocol.name, &sc, &options(case, false)) {
        Ok((world, out)) => {
            let j = judge(&world, &out);
            if j.passed() {
                return Ok(());
            }
            let failed: Vec<String> = j
                .verdicts
                .iter()
                .filter(|(_, v)| v.result != checker::safety::Outcome::Pass)
                .map(|(name, v)| format!("{name}: {}", v.detail))
                .collect();
            Err(format!(
                "fails {}\n  {}",
                failed_checks(&j).join(", "),
                failed.join("\n  ")
            ))
        }
        Err(RunError::Input(m)) => Err(format!("the simulator rejects the scenario: {m}")),
        Err(RunError::Aborted(m)) => Err(format!("the run stopped: {m}")),
        Err(RunError::Panicked(m)) => Err(format!("a panic outside any protocol step: {m}")),
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `path` as a command typed at the repository root would name it.
fn shown(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Saves the shrunk failing case under `traces/`: its scenario file (never replacing one)
/// and, when the run completes, its trace; returns how to reproduce it.
fn keep(case: &Case) -> String {
    let dir = repo().join("traces");
    let text = case.to_toml();
    let base = format!("{}-seed{}", case.name(), case.seed);
    let file = match save_new_file(&dir, &base, "toml", |tmp| std::fs::write(tmp, &text)) {
        Ok(path) => path,
        Err(e) => {
            return format!(
                "could not save the scenario under {}: {e}\n{text}",
                dir.display()
            )
        }
    };
    let mut how = format!(
        "scenario saved: {}\nReproduce with: sim run {} --seed {} --protocol {}\n",
        shown(&file),
        shown(&file),
        case.seed,
        case.protocol.name
    );
    let sc = match parse(case, &shown(&file)) {
        Ok(sc) => sc,
        Err(m) => return how + &m,
    };
    match run_world(case.protocol.name, &sc, &options(case, true)) {
        Ok((world, out)) => {
            let j = judge(&world, &out);
            match save_new_trace(&dir, &world, &out, &j) {
                Ok(trace) => {
                    let _ = writeln!(how, "           or: sim replay {}", shown(&trace));
                    let _ = writeln!(how, "Minimize with: sim shrink {}", shown(&trace));
                }
                Err(e) => {
                    let _ = writeln!(how, "could not save the trace: {e}");
                }
            }
        }
        Err(_) => how.push_str("(the run does not complete, so there is no trace)\n"),
    }
    how
}

/// Cases per protocol from `PROPTEST_CASES`; a fixed RNG seed unless `PROPTEST_RNG_SEED`
/// names one, so that CI runs the same cases every time (a red build is a change's doing,
/// never the luck of the draw) and a wider search is one variable away.
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0);
    }
    config.cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        config.max_shrink_iters = DEFAULT_SHRINK_ITERS;
    }
    if std::env::var_os("PROPTEST_MAX_SHRINK_TIME").is_none() {
        config.max_shrink_time = DEFAULT_SHRINK_TIME_MS;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/properties.proptest-regressions"
    ))));
    config
}

/// Runs the generated cases for one protocol; a failure comes back shrunk, in words, with
/// how to reproduce it.
fn every_checker_passes(protocol: &'static Entry) -> Result<(), String> {
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case(protocol), |c| check(&c).map_err(TestCaseError::fail));
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, c)) => Err(format!(
            "a generated {} scenario fails (shrunk; its proptest seed is saved in \
             tests/properties.proptest-regressions):\n{why}\n\n{}\n{}",
            protocol.name,
            c.to_toml(),
            keep(&c)
        )),
        Err(TestError::Abort(why)) => Err(format!("{}: proptest gave up: {why}", protocol.name)),
    }
}

/// Every registered protocol, side by side (each on its own thread, as separate tests
/// would run).
#[test]
fn every_checker_passes_for_every_protocol_in_generated_scenarios() {
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = protocols::PROTOCOLS
            .iter()
            .map(|p| s.spawn(move || every_checker_passes(p)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("no panic outside a run").err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The linearizable read modes a protocol serves (what `scenarios/swarm.toml` lists).
fn read_modes(protocol: &Entry) -> Vec<ReadMode> {
    protocol
        .capabilities
        .read_modes
        .iter()
        .copied()
        .filter(|m| !matches!(m, ReadMode::Local | ReadMode::Sync))
        .collect()
}

/// The worlds cover what the swarm claims: every cluster size, every linearizable read
/// mode the protocol serves, links of its kind, and every fault kind, option and shape it
/// has, in a few hundred drawn worlds per protocol; and nothing it lacks (observers,
/// spares, `reconfigure`, `corrupt`, Raft's switches). Each case renders to a scenario the
/// parser accepts, whose world the protocol accepts (so a case that fails is a case that
/// ran), with time after the faults for liveness.
#[test]
fn drawn_worlds_parse_and_cover_every_fault_kind_and_option() {
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for protocol in protocols::PROTOCOLS {
        let name = protocol.name;
        let strategy = case(protocol);
        for _ in 0..300 {
            let c = strategy.new_tree(&mut runner).expect("a case").current();
            let sc = parse(&c, "<generated>").unwrap_or_else(|e| panic!("{e}\n{}", c.to_toml()));
            let w = protocol
                .world(&sc, c.seed)
                .unwrap_or_else(|e| panic!("{e:?}\n{}", c.to_toml()));
            let options = options(&c, false);
            if let Err(e) = protocol.check(&w, &options) {
                panic!("{name} refuses a drawn world: {e:?}\n{}", w.to_toml());
            }
            assert!(w.last_heal() + w.expect.liveness_within <= w.duration);
            seen.insert(format!("{name} nodes {}", w.nodes));
            let mode = w.workload.read_mode.unwrap_or(protocol.default_read_mode());
            seen.insert(format!("{name} read_mode {}", mode.name()));
            if w.network.duplicate > 0.0 && w.network.reorder > 0.0 && w.network.loss > 0.0 {
                seen.insert(format!("{name} loses, duplicates and reorders"));
            }
            if w.options.observers > 0 {
                seen.insert(format!("{name} observers"));
            }
            if w.options.members.is_some() {
                seen.insert(format!("{name} spare"));
            }
            for (on, switch) in [
                (w.options.pre_vote, "pre_vote"),
                (w.options.check_quorum, "check_quorum"),
                (w.options.backtrack_to_term_start, "backtrack"),
            ] {
                if on {
                    seen.insert(format!("{name} {switch}"));
                }
            }
            if w.storage.write_latency.1 >= std::time::Duration::from_millis(50) {
                seen.insert(format!("{name} slow disks"));
            }
            let nem = w
                .nemesis
                .as_ref()
                .expect("the swarm scenario has a nemesis");
            for (k, kind) in NEMESIS_KINDS.iter().enumerate() {
                if nem.rates[k] > 0.0 {
                    seen.insert(format!("{name} {kind}"));
                    if *kind == "clock_step" && mode == ReadMode::Lease {
                        seen.insert(format!("{name} clock_step under lease"));
                    }
                }
            }
        }
    }
    let mut want: Vec<String> = Vec::new();
    let mut never: Vec<String> = Vec::new();
    for protocol in protocols::PROTOCOLS {
        let name = protocol.name;
        for n in 3..=7 {
            want.push(format!("{name} nodes {n}"));
        }
        for kind in NEMESIS_KINDS {
            let has = match kind {
                "reconfigure" => protocol.capabilities.membership,
                "corrupt" => protocol.capabilities.storage_faults,
                _ => true,
            };
            if has {
                want.push(format!("{name} {kind}"));
            } else {
                never.push(format!("{name} {kind}"));
            }
        }
        want.push(format!("{name} slow disks"));
        never.push(format!("{name} clock_step under lease"));
        for mode in read_modes(protocol) {
            want.push(format!("{name} read_mode {}", mode.name()));
        }
        let datagram = protocol.capabilities.links == LinkKind::Datagram;
        let lossy = format!("{name} loses, duplicates and reorders");
        if datagram {
            want.push(lossy);
        } else {
            never.push(lossy);
        }
        let spare = format!("{name} spare");
        if protocol.capabilities.membership {
            want.push(spare);
        } else {
            never.push(spare);
        }
        let observers = format!("{name} observers");
        if protocol.capabilities.observers {
            want.push(observers);
        } else {
            never.push(observers);
        }
        for switch in ["pre_vote", "check_quorum", "backtrack"] {
            let seen_switch = format!("{name} {switch}");
            if protocol.capabilities.switches.contains(&switch) {
                want.push(seen_switch);
            } else {
                never.push(seen_switch);
            }
        }
    }
    let missing: Vec<&String> = want.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "never drawn: {missing:?}");
    let wrong: Vec<&String> = never.iter().filter(|w| seen.contains(*w)).collect();
    assert!(wrong.is_empty(), "drawn without the capability: {wrong:?}");
}

/// The draw is a pure function of (scenario, protocol, seed): the same world every time,
/// and different seeds draw different worlds.
#[test]
fn the_same_seed_draws_the_same_world_and_seeds_differ() {
    let sc = Scenario::from_toml("scenarios/swarm.toml", SWARM).expect("swarm.toml parses");
    for protocol in protocols::PROTOCOLS {
        let a = protocol.world(&sc, 7).expect("a world").to_toml();
        let b = protocol.world(&sc, 7).expect("a world").to_toml();
        let c = protocol.world(&sc, 8).expect("a world").to_toml();
        assert_eq!(a, b, "{}", protocol.name);
        assert_ne!(a, c, "{}", protocol.name);
    }
}
