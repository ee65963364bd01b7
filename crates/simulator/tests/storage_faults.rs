//! Storage faults (`corrupt`), checked with a toy protocol that models them: each node
//! appends one checksummed record to its durable log on every tick, and when it starts it
//! replays its log, reporting each record whose checksum holds as an Apply of its index
//! and each one that fails as the mark `log_toy.found_damaged_record`. What a restarted
//! node saw is then in the trace, record by record.

use protocol::{
    Bug, Config, Input, LocalTime, MessageKind, NodeId, Outputs, Protocol, ReadMode, Report, Role,
    TimerId,
};
use simulator::judge::judge;
use simulator::report::{read_trace, summary_text, timeline_line, write_trace};
use simulator::scenario::{Fault, NodeSel, NEMESIS_KINDS};
use simulator::sim::RunOutput;
use simulator::trace::{Event, Kind};
use simulator::{RunOptions, Scenario, Simulation};
use std::collections::BTreeSet;
use std::time::Duration;

/// The toy sends nothing; the type is only there because the trait asks for one.
#[derive(Clone, Debug, Hash)]
enum Msg {}

impl MessageKind for Msg {
    fn kind(&self) -> &'static str {
        match *self {}
    }
}

#[derive(Clone, Debug, Hash)]
struct Record {
    value: u64,
    checksum: u64,
}

fn checksum(value: u64) -> u64 {
    value.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

#[derive(Clone, Debug, Default)]
struct Log {
    records: Vec<Record>,
}

struct LogToy {
    id: u32,
    next: u64,
    tick: Duration,
}

const TICK: TimerId = TimerId(0);
const FOUND_DAMAGE: &str = "log_toy.found_damaged_record";

impl Protocol for LogToy {
    type Message = Msg;
    type Durable = Log;
    type Write = Record;
    const NAME: &'static str = "log_toy";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = &[];
    const READ_MODES: &'static [ReadMode] = &[ReadMode::Log];
    const STORAGE_FAULTS: bool = true;

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Log,
        _now: LocalTime,
        out: &mut Outputs<Msg, Record>,
    ) -> Self {
        for (i, r) in durable.records.iter().enumerate() {
            if r.checksum == checksum(r.value) {
                out.report(Report::Apply {
                    index: i as u64 + 1,
                    term: 0,
                    op: None,
                    state: 0,
                });
            } else {
                out.mark(FOUND_DAMAGE);
            }
        }
        let tick = config.heartbeat_interval;
        out.set_timer(TICK, tick, tick);
        LogToy {
            id: id.0,
            next: durable.records.len() as u64 + 1,
            tick,
        }
    }

    fn step(&mut self, _now: LocalTime, input: Input<Msg>, out: &mut Outputs<Msg, Record>) {
        if let Input::Timer(TICK) = input {
            let value = u64::from(self.id) << 32 | self.next;
            out.write(
                self.next,
                Record {
                    value,
                    checksum: checksum(value),
                },
            );
            self.next += 1;
            out.set_timer(TICK, self.tick, self.tick);
        }
    }

    fn persist(durable: &mut Log, write: &Record) {
        durable.records.push(write.clone());
    }

    /// Flips bits of one record's value, so that its checksum no longer matches. A record
    /// is keyed by its index (from 1); a spared one is passed over for the next.
    fn corrupt(durable: &mut Log, pick: u64, spared: &BTreeSet<u64>) -> Option<String> {
        let count = durable.records.len() as u64;
        let drawn = (0..count)
            .cycle()
            .skip((pick % count.max(1)) as usize)
            .take(count as usize)
            .find(|i| !spared.contains(&(i + 1)))?;
        durable.records[drawn as usize].value ^= 0xff;
        Some(format!("record {} of {count}", drawn + 1))
    }

    fn damaged(durable: &Log) -> Vec<u64> {
        (1..)
            .zip(&durable.records)
            .filter(|(_, r)| r.checksum != checksum(r.value))
            .map(|(i, _)| i)
            .collect()
    }

    fn role(&self) -> (Role, u64) {
        (Role::Follower, 0)
    }
}

/// The same toy without storage faults, as every protocol is by default.
struct PlainToy(LogToy);

impl Protocol for PlainToy {
    type Message = Msg;
    type Durable = Log;
    type Write = Record;
    const NAME: &'static str = "plain_toy";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = &[];
    const READ_MODES: &'static [ReadMode] = &[ReadMode::Log];

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Log,
        now: LocalTime,
        out: &mut Outputs<Msg, Record>,
    ) -> Self {
        PlainToy(LogToy::start(id, config, durable, now, out))
    }

    fn step(&mut self, now: LocalTime, input: Input<Msg>, out: &mut Outputs<Msg, Record>) {
        self.0.step(now, input, out)
    }

    fn persist(durable: &mut Log, write: &Record) {
        LogToy::persist(durable, write);
    }

    fn role(&self) -> (Role, u64) {
        self.0.role()
    }
}

fn scenario(extra: &str) -> Scenario {
    scenario_of(3, extra)
}

fn scenario_of(nodes: u32, extra: &str) -> Scenario {
    let text = format!(
        "name = \"storage\"\nprotocol = \"log_toy\"\nnodes = {nodes}\nduration = \"2s\"\n\
         [options]\nheartbeat_interval = \"50ms\"\n[workload]\nclients = 0\n{extra}\n"
    );
    Scenario::from_toml("storage.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn options(seed: u64) -> RunOptions {
    RunOptions {
        seed,
        keep_events: true,
        bugs: vec![],
        swarm: false,
        describe: true,
        ..RunOptions::default()
    }
}

fn run_with(sc: &Scenario, options: &RunOptions) -> RunOutput {
    Simulation::<LogToy>::new(sc, options)
        .unwrap_or_else(|e| panic!("{e}"))
        .run()
        .expect("run")
}

fn run(sc: &Scenario, seed: u64) -> RunOutput {
    run_with(sc, &options(seed))
}

fn events_of(out: &RunOutput, node: u32) -> Vec<(usize, Event)> {
    out.log
        .events
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, e)| e.node == node)
        .collect()
}

/// The indexes node `node` replayed from its log when it started at `at_ns`, and the
/// damaged records it found there.
fn seen_at_start(out: &RunOutput, node: u32, at_ns: u64) -> (Vec<u64>, usize) {
    let at_start: Vec<Event> = events_of(out, node)
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.at_ns == at_ns)
        .collect();
    let applied = at_start
        .iter()
        .filter(|e| e.kind == Kind::Apply)
        .map(|e| e.a)
        .collect();
    let damaged = at_start
        .iter()
        .filter(|e| e.kind == Kind::Mark && e.label == FOUND_DAMAGE)
        .count();
    (applied, damaged)
}

const MS: u64 = 1_000_000;

#[test]
fn corrupt_crashes_a_live_node_and_damages_the_record_its_pick_chooses_which_the_node_finds_on_restart(
) {
    let sc = scenario(
        "[[faults]]\nat = \"1s\"\nkind = \"corrupt\"\nnode = 2\npick = 5\n\
         [[faults]]\nat = \"1.5s\"\nkind = \"restart\"\nnode = 2",
    );
    let out = run(&sc, 3);
    let n2 = events_of(&out, 2);
    // In order: the fault, the crash, the damage (pick 5 in `a`).
    let at_fault: Vec<(Kind, &str, u64)> = n2
        .iter()
        .filter(|(_, e)| e.at_ns == 1000 * MS)
        .map(|(_, e)| (e.kind, e.label, e.a))
        .collect();
    assert_eq!(
        at_fault,
        vec![
            (Kind::Fault, "corrupt", 0),
            (Kind::Crash, "crash", 0),
            (Kind::Corrupt, "damaged", 5)
        ]
    );
    // Its log held one record per completed write (writes take no time here).
    let corrupt_at = n2
        .iter()
        .find(|(_, e)| e.kind == Kind::Corrupt)
        .map(|(i, _)| *i)
        .unwrap();
    let records = n2
        .iter()
        .filter(|(i, e)| e.kind == Kind::WriteDone && *i < corrupt_at)
        .count() as u64;
    assert!(records >= 15, "{records} records by 1s at one per 50ms");
    let damaged = 5 % records + 1;
    let what = format!("record {damaged} of {records}");
    assert_eq!(out.faults[0].outcome.as_deref(), Some(what.as_str()));
    assert_eq!(
        out.faults[0].fault,
        Fault::Corrupt {
            node: NodeSel::Id(2),
            pick: Some(5)
        }
    );
    // `sim run`'s faults line and `sim replay --timeline` say which.
    let summary = summary_text(&sc, &out, &judge(&sc, &out), None);
    assert!(
        summary.contains(&format!("1.000s corrupt n2 ({what}) · 1.500s restart n2")),
        "{summary}"
    );
    let line = timeline_line(
        &out.log.events[corrupt_at],
        out.log.detail(corrupt_at as u64),
    );
    assert!(
        line.ends_with(&format!("n2  STORAGE FAULT: damaged (pick 5): {what}")),
        "{line}"
    );
    // Down until the restart: nothing happens to it.
    assert!(n2
        .iter()
        .all(|(_, e)| e.at_ns <= 1000 * MS || e.at_ns >= 1500 * MS));
    // On restart it replays every record but the damaged one, and finds that one damaged.
    let (applied, found) = seen_at_start(&out, 2, 1500 * MS);
    let intact: Vec<u64> = (1..=records).filter(|&i| i != damaged).collect();
    assert_eq!(applied, intact);
    assert_eq!(found, 1);
    // The other nodes' logs are whole: none of them found damage, ever.
    assert_eq!(out.marks.get(FOUND_DAMAGE), Some(&1));
}

#[test]
fn corrupt_on_a_node_already_down_damages_it_without_a_second_crash_and_draws_its_pick() {
    let sc = scenario(
        "[[faults]]\nat = \"500ms\"\nkind = \"crash\"\nnode = 3\n\
         [[faults]]\nat = \"800ms\"\nkind = \"corrupt\"\nnode = \"crashed\"\n\
         [[faults]]\nat = \"1s\"\nkind = \"restart\"\nnode = \"crashed\"",
    );
    let out = run(&sc, 1);
    let crashes = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Crash)
        .count();
    assert_eq!(crashes, 1);
    // "crashed" named n3 for the corrupt, and still named it for the restart after.
    let applied: Vec<(&str, Option<u32>)> = out
        .faults
        .iter()
        .map(|f| (f.fault.name(), f.node))
        .collect();
    assert_eq!(
        applied,
        vec![
            ("crash", Some(3)),
            ("corrupt", Some(3)),
            ("restart", Some(3))
        ]
    );
    // The schedule named no record: the applied fault carries the one drawn, and the
    // trace records it.
    let Fault::Corrupt {
        pick: Some(pick), ..
    } = out.faults[1].fault
    else {
        panic!("{:?}", out.faults[1]);
    };
    let event = out
        .log
        .events
        .iter()
        .find(|e| e.kind == Kind::Corrupt)
        .unwrap();
    assert_eq!((event.node, event.label, event.a), (3, "damaged", pick));
    let (applied, found) = seen_at_start(&out, 3, 1000 * MS);
    assert_eq!(found, 1);
    assert!(applied.len() >= 8, "{applied:?}");
    // Another seed draws another record.
    let other = run(&sc, 2);
    assert_ne!(other.faults[1].fault, out.faults[1].fault);
}

#[test]
fn corrupt_with_nothing_durable_crashes_the_node_and_records_that_nothing_was_damaged() {
    let sc = scenario(
        "[[faults]]\nat = \"0ms\"\nkind = \"corrupt\"\nnode = 1\n\
         [[faults]]\nat = \"300ms\"\nkind = \"restart\"\nnode = 1",
    );
    let out = run(&sc, 1);
    let at_fault: Vec<(Kind, &str)> = events_of(&out, 1)
        .iter()
        .filter(|(_, e)| e.at_ns == 0 && e.kind != Kind::Timer)
        .map(|(_, e)| (e.kind, e.label))
        .collect();
    assert_eq!(
        at_fault,
        vec![
            (Kind::Fault, "corrupt"),
            (Kind::Crash, "crash"),
            (Kind::Corrupt, "nothing_to_damage")
        ]
    );
    assert_eq!(out.faults[0].outcome.as_deref(), Some("nothing to damage"));
    let summary = summary_text(&sc, &out, &judge(&sc, &out), None);
    assert!(
        summary.contains("0.000s corrupt n1 (nothing to damage)"),
        "{summary}"
    );
    assert_eq!(seen_at_start(&out, 1, 300 * MS), (vec![], 0));
    assert_eq!(out.marks.get(FOUND_DAMAGE), None);
}

/// What each storage fault damaged, in a run of `nodes` with `corrupt` faults at 1s,
/// 1.2s, 1.4s, ... on the nodes and with the picks listed.
fn damaged_by(nodes: u32, corrupts: &[(u32, u64)]) -> Vec<String> {
    let faults: String = corrupts
        .iter()
        .enumerate()
        .map(|(k, (node, pick))| {
            format!(
                "[[faults]]\nat = \"{}ms\"\nkind = \"corrupt\"\nnode = {node}\npick = {pick}\n",
                1000 + 200 * k
            )
        })
        .collect();
    run(&scenario_of(nodes, &faults), 1)
        .faults
        .iter()
        .map(|f| f.outcome.clone().unwrap_or_default())
        .collect()
}

#[test]
fn a_storage_fault_spares_a_record_already_damaged_on_as_many_nodes_as_the_fault_model_allows() {
    // Three nodes: an intact majority of copies leaves room for one damaged copy of each
    // record. n1's record 1 is damaged; the same pick on n2 then passes over record 1.
    // Then record 2 is damaged on n2 and record 1 on n1: n3's pick 1 lands on record 2,
    // and both are spared, so it takes record 3.
    let three = damaged_by(3, &[(1, 0), (2, 0), (3, 1)]);
    let starts = |outcomes: &[String], records: [u32; 3]| {
        for (outcome, record) in outcomes.iter().zip(records) {
            assert!(
                outcome.starts_with(&format!("record {record} of ")),
                "{outcomes:?}"
            );
        }
    };
    starts(&three, [1, 2, 3]);
    // Five nodes leave room for two damaged copies: the second damages record 1 as well,
    // the third passes over it.
    starts(&damaged_by(5, &[(1, 0), (2, 0), (3, 0)]), [1, 1, 2]);
    // Two nodes have no copy to spare: a damaged one leaves no intact majority.
    assert_eq!(
        damaged_by(2, &[(1, 0)]),
        ["nothing damaged: 2 voters have no copy to spare"]
    );
}

/// The nemesis's applied faults of one kind, as (time, node, pick).
fn nemesis_corrupts(out: &RunOutput) -> Vec<(u64, u32, Option<u64>)> {
    out.faults
        .iter()
        .filter(|f| f.from_nemesis)
        .filter_map(|f| match f.fault {
            Fault::Corrupt { pick, .. } => Some((f.at_ns, f.node.unwrap(), pick)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_corrupt_nemesis_damages_random_nodes_restarts_each_after_its_duration_and_is_deterministic()
{
    let sc = scenario(
        "[nemesis]\nstart = \"200ms\"\nstop = \"1800ms\"\ncorrupt = 10.0\n\
         corrupt_duration = [\"30ms\", \"30ms\"]",
    );
    let out = run(&sc, 4);
    let corrupts = nemesis_corrupts(&out);
    assert!(corrupts.len() >= 5, "{corrupts:?}");
    let restarts: Vec<(u64, u32)> = out
        .faults
        .iter()
        .filter(|f| f.from_nemesis && f.fault.name() == "restart")
        .map(|f| (f.at_ns, f.node.unwrap()))
        .collect();
    for &(at, node, pick) in &corrupts {
        assert!(pick.is_some(), "the nemesis draws every pick");
        let back = (at + 30 * MS).min(1800 * MS);
        assert!(
            restarts.contains(&(back, node)),
            "n{node} corrupted at {at} was not restarted at {back}: {restarts:?}"
        );
    }
    let nodes: std::collections::BTreeSet<u32> = corrupts.iter().map(|c| c.1).collect();
    assert!(nodes.len() >= 2, "random nodes: {nodes:?}");
    let damaged = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Corrupt && e.label == "damaged")
        .count();
    assert_eq!(damaged, corrupts.len(), "every node had records by 200ms");
    assert!(out.marks.get(FOUND_DAMAGE).copied().unwrap_or(0) >= corrupts.len() as u64);
    // The same seed is the same run; another seed is another.
    let again = run(&sc, 4);
    assert_eq!(again.log.hash(), out.log.hash());
    assert_eq!(nemesis_corrupts(&again), corrupts);
    assert_ne!(run(&sc, 5).log.hash(), out.log.hash());
}

#[test]
fn swarm_turns_the_corrupt_kind_on_and_off_and_rescales_it_like_the_others() {
    let sc = scenario("[nemesis]\ncrash = 1.0\ncorrupt = 1.0");
    let k = |name: &str| NEMESIS_KINDS.iter().position(|&n| n == name).unwrap();
    assert_eq!(k("corrupt"), 13, "new kinds go last");
    assert_eq!(
        k("crash_sending"),
        NEMESIS_KINDS.len() - 1,
        "new kinds go last"
    );
    let mut mixes = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let options = RunOptions {
            swarm: true,
            ..options(seed)
        };
        let out = run_with(&sc, &options);
        let rates = out.nemesis.expect("a nemesis").rates;
        let (crash, corrupt) = (rates[k("crash")], rates[k("corrupt")]);
        for rate in [crash, corrupt] {
            assert!(rate == 0.0 || (0.25..=2.0).contains(&rate), "{rate}");
        }
        assert!(crash > 0.0 || corrupt > 0.0, "swarm keeps one kind on");
        mixes.insert((crash > 0.0, corrupt > 0.0));
    }
    assert_eq!(mixes.len(), 3, "{mixes:?}");
}

#[test]
fn a_protocol_without_storage_faults_refuses_every_way_of_asking_for_one() {
    let options = options(1);
    // The corrupt is the file's second fault but the schedule's first (it is earlier):
    // the error names the file's.
    let explicit = "[[faults]]\nat = \"1s\"\nkind = \"crash\"\nnode = 1\n\
                    [[faults]]\nat = \"500ms\"\nkind = \"corrupt\"\nnode = 2";
    for (extra, field, what) in [
        (explicit, "faults[1].kind", "schedules corrupt at 500ms"),
        (
            "[nemesis]\ncrash = 1.0\ncorrupt = 0.5",
            "nemesis.corrupt",
            "draws storage faults",
        ),
    ] {
        let sc = scenario(extra);
        let Err(e) = Simulation::<PlainToy>::new(&sc, &options) else {
            panic!("plain_toy accepted {extra}");
        };
        assert_eq!(e.field, field, "{e}");
        assert_eq!(
            e.message,
            format!("plain_toy does not model storage faults, but the scenario {what}; run it under a protocol that does")
        );
        let line = sc.line_of(&e.field).expect("the field's line");
        let written = sc.source.lines().nth(line - 1).unwrap();
        assert!(written.contains("corrupt"), "line {line}: {written}");
        assert!(Simulation::<LogToy>::new(&sc, &options).is_ok(), "{extra}");
    }
    // A rate of zero asks for nothing.
    let sc = scenario("[nemesis]\ncrash = 1.0\ncorrupt = 0.0");
    assert!(Simulation::<PlainToy>::new(&sc, &options).is_ok());
}

#[test]
fn a_nemesis_run_with_storage_faults_replays_to_its_hash_from_its_trace_and_as_an_explicit_schedule(
) {
    let sc = scenario(
        "[nemesis]\nstart = \"100ms\"\nstop = \"1500ms\"\ncrash = 2.0\npause = 2.0\ncorrupt = 6.0",
    );
    let out = run(&sc, 9);
    let corrupts = nemesis_corrupts(&out);
    assert!(corrupts.len() >= 4, "{corrupts:?}");
    let dir = std::env::temp_dir().join(format!("storage-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replay = |path: &std::path::Path| {
        let header = read_trace(path).unwrap_or_else(|e| panic!("{e}"));
        let sc = header.scenario(path).unwrap_or_else(|e| panic!("{e}"));
        let out = run_with(&sc, &header.settings().options(true, false));
        (header.trace_hash, out)
    };
    // `sim replay` of the nemesis run.
    let path = dir.join("nemesis.json");
    write_trace(&path, &sc, &out, &judge(&sc, &out)).unwrap();
    let (recorded, again) = replay(&path);
    assert_eq!(recorded, simulator::trace::hash_hex(out.log.hash()));
    assert_eq!(again.log.hash(), out.log.hash());
    // `sim shrink`'s first step: the faults it applied as an explicit schedule, each
    // corrupt with the record it chose, written out and read back as a scenario file.
    let explicit = simulator::shrink::explicit(&sc, &out);
    assert!(explicit.nemesis.is_none());
    let written: Vec<(u64, Fault)> = explicit
        .faults
        .iter()
        .filter(|f| f.fault.name() == "corrupt")
        .map(|f| (f.at.as_nanos() as u64, f.fault.clone()))
        .collect();
    let applied: Vec<(u64, Fault)> = corrupts
        .iter()
        .map(|&(at, node, pick)| {
            (
                at,
                Fault::Corrupt {
                    node: NodeSel::Id(node),
                    pick,
                },
            )
        })
        .collect();
    assert_eq!(written, applied);
    assert!(explicit.source.contains("pick = "), "{}", explicit.source);
    let reread =
        Scenario::from_toml("explicit.toml", &explicit.source).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reread.faults, explicit.faults);
    let explicit_out = run(&reread, 9);
    assert_eq!(explicit_out.log.hash(), out.log.hash(), "the same run");
    // And the explicit run's own trace replays to its hash.
    let path = dir.join("explicit.json");
    write_trace(
        &path,
        &reread,
        &explicit_out,
        &judge(&reread, &explicit_out),
    )
    .unwrap();
    let (_, again) = replay(&path);
    assert_eq!(again.log.hash(), out.log.hash());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_written_pick_chooses_the_record_and_the_same_pick_gives_the_same_run() {
    let with_pick = |pick: u64| {
        scenario(&format!(
            "[[faults]]\nat = \"1s\"\nkind = \"corrupt\"\nnode = 2\npick = {pick}\n\
             [[faults]]\nat = \"1.5s\"\nkind = \"restart\"\nnode = 2"
        ))
    };
    let a = run(&with_pick(1), 3);
    let b = run(&with_pick(2), 3);
    assert_eq!(a.faults[0].outcome.as_deref(), Some("record 2 of 19"));
    assert_eq!(b.faults[0].outcome.as_deref(), Some("record 3 of 19"));
    let missing = |out: &RunOutput| {
        let (applied, _) = seen_at_start(out, 2, 1500 * MS);
        (1..=19)
            .filter(|i| !applied.contains(i))
            .collect::<Vec<u64>>()
    };
    assert_eq!((missing(&a), missing(&b)), (vec![2], vec![3]));
    assert_ne!(a.log.hash(), b.log.hash());
    assert_eq!(run(&with_pick(1), 3).log.hash(), a.log.hash());
}
