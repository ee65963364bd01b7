//! A history gets one verdict however it is read (issue 14): `sim export --edn` keeps what
//! the JSON history keeps, and reading the EDN back by `:time` or by line order (as
//! Knossos and Elle do) gives the verdict the JSON gets.

use checker::formats::{self, Format};
use checker::history::{History, Operation};
use checker::linearizability::{check, Budget, Model};
use sim::protocols;
use simulator::judge::history;
use simulator::{RunOptions, Scenario};
use std::path::Path;

fn exported(file: &str, protocol: Option<&str>) -> (History, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        seed: sc.seed,
        keep_events: true,
        bugs: vec![],
        swarm: false,
        describe: false,
        ..RunOptions::default()
    };
    let out = protocols::run(protocol.unwrap_or(&sc.protocol), &sc, &options)
        .unwrap_or_else(|e| panic!("{file}: {e:?}"));
    (history(&out), simulator::export::edn_history(&out))
}

/// Operations in one order, without the line each came from.
fn normal(h: &History) -> Vec<Operation> {
    let mut ops: Vec<Operation> = h
        .ops
        .iter()
        .cloned()
        .map(|mut o| {
            o.line = None;
            o
        })
        .collect();
    ops.sort_by_key(|o| (o.call, o.process));
    ops
}

fn verdict(h: &History) -> &'static str {
    check(h, Model::Kv, Budget::default()).name()
}

/// The EDN's lines without their `:time`: what a reader that takes line order sees.
fn untimed(edn: &str) -> String {
    edn.lines()
        .map(|l| {
            let at = l.find(", :time ").expect(":time");
            let end = l[at + 2..].find(',').map_or(l.len() - 1, |k| at + 2 + k);
            format!("{}{}\n", &l[..at], &l[end..])
        })
        .collect()
}

#[test]
fn exported_edn_reads_back_as_the_json_history_and_gets_its_verdict_by_time_or_line_order() {
    for (file, protocol, expected) in [
        ("scenarios/partition_3_3.toml", None, "linearizable"),
        (
            "scenarios/zab_leader_crash_mid_broadcast.toml",
            None,
            "linearizable",
        ),
        (
            "scenarios/paxos_duelling_proposers.toml",
            None,
            "linearizable",
        ),
        ("scenarios/nemesis_mix.toml", Some("zab"), "linearizable"),
        ("scenarios/zab_local_reads.toml", None, "not linearizable"),
    ] {
        let (json, edn) = exported(file, protocol);
        let from_edn = formats::parse(&edn, Format::Edn).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            normal(&from_edn),
            normal(&json),
            "{file}: the EDN does not read back as the JSON history"
        );
        let failed_compares = json.ops.iter().filter(|o| o.cas_ok == Some(false)).count();
        assert!(
            expected == "not linearizable" || failed_compares > 0,
            "{file}: no cas failed its compare; the test would not see them kept"
        );
        let by_lines = formats::parse(&untimed(&edn), Format::Edn)
            .unwrap_or_else(|e| panic!("{file} without :time: {e}"));
        assert_eq!(verdict(&json), expected, "{file}: JSON");
        assert_eq!(verdict(&from_edn), expected, "{file}: EDN by :time");
        assert_eq!(verdict(&by_lines), expected, "{file}: EDN by line order");
    }
}

/// Each process has one operation outstanding at a time in the file's order, as Jepsen's
/// tools require, and times never run backwards.
#[test]
fn exported_edn_is_a_well_formed_jepsen_history() {
    let (_, edn) = exported("scenarios/nemesis_mix.toml", Some("paxos"));
    let mut open = std::collections::BTreeSet::new();
    let mut last = 0u64;
    for (n, l) in edn.lines().enumerate() {
        let field = |name: &str| {
            let at = l
                .find(name)
                .unwrap_or_else(|| panic!("line {n}: no {name}"))
                + name.len();
            l[at..].split([',', '}']).next().unwrap().trim().to_string()
        };
        let process: u64 = field(":process ").parse().unwrap();
        let time: u64 = field(":time ").parse().unwrap();
        assert!(time >= last, "line {n}: time runs backwards");
        last = time;
        assert_eq!(field(":index ").parse::<usize>().unwrap(), n);
        if field(":type ") == ":invoke" {
            assert!(
                open.insert(process),
                "line {n}: process {process} already busy"
            );
        } else {
            assert!(
                open.remove(&process),
                "line {n}: process {process} completes nothing"
            );
        }
    }
}
