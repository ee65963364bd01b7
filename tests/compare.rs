//! `sim compare`: one row per protocol (× read mode) with every column, the same table
//! whatever the number of jobs, refusals as rows, bad input as exit 2, and the read-mode
//! matrix of docs/read-modes.md regenerated and compared with the page.

mod common;

use common::{root, sim, temp_dir, text};

/// The columns every row of the table has, in order, after protocol, read mode and runs.
const COLUMNS: &[&str] = &[
    "lin p/f/u",
    "acked p/f/u",
    "elect p/f/u",
    "log p/f/u",
    "split p/f/u",
    "lease p/f/u",
    "live p/f/u",
    "leader gap p50/p99/max",
    "unavailable max (fault)",
    "latency p50/p99",
    "ops/sim s",
    "msgs/op",
    "writes/op",
    "elections/run",
];

/// The table's lines without its title (which carries the wall time).
fn table_body(stdout: &str) -> Vec<String> {
    stdout.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn partition_3_3_gives_a_row_per_protocol_with_every_column() {
    let out = sim(
        &["compare", "scenarios/partition_3_3.toml", "--seeds", "0..3"],
        &root(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines = table_body(&stdout);
    let header = &lines[0];
    let mut at = 0;
    for c in ["protocol", "read mode", "runs"].iter().chain(COLUMNS) {
        let i = header[at..]
            .find(c)
            .unwrap_or_else(|| panic!("column {c:?} missing or out of order in {header:?}"));
        at += i + c.len();
    }
    for protocol in ["raft", "zab", "paxos"] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("{protocol} ")))
            .unwrap_or_else(|| panic!("no row for {protocol}:\n{stdout}"));
        // Every checker passed on every seed: seven 3/0/0 cells.
        assert_eq!(row.matches("3/0/0").count(), 7, "{row}");
        // The 3/3 split stops everything for ~4 s.. 10 s: the longest stretch without a
        // completed operation is the partition's, and is seconds long.
        assert!(
            row.contains("(partition [[1, 2, 3], [4, 5, 6]] at 5.000s)"),
            "{row}"
        );
        assert!(!row.contains(" - "), "an empty cell in {row}");
        let elections = row.rsplit("  ").next().unwrap();
        assert!(elections.contains("(max "), "{row}");
    }
    // The same figures as JSON: no side of a 3/3 split commits, so the longest gap after
    // a fault (the partition) and the longest stretch without a completed operation both
    // span the partition's 10 s, and a leader commits within a second of the heal.
    let out = sim(
        &[
            "compare",
            "scenarios/partition_3_3.toml",
            "--seeds",
            "0..3",
            "--json",
        ],
        &root(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for row in v["rows"].as_array().unwrap() {
        let gap = &row["leader_gap_ms"];
        assert_eq!(gap["faults"], 6, "a partition and a heal per seed: {row}");
        let max = gap["max"].as_f64().unwrap();
        assert!((10_000.0..11_000.0).contains(&max), "{row}");
        assert!(gap["p50"].as_f64().unwrap() < 1_000.0, "{row}");
        let longest = row["unavailable"]["longest_ms"].as_f64().unwrap();
        assert!((10_000.0..11_000.0).contains(&longest), "{row}");
        assert!(row["messages_per_committed_op"].as_f64().unwrap() > 1.0);
        assert!(row["durable_writes_per_committed_op"].as_f64().unwrap() >= 1.0);
        assert_eq!(
            row["elections_max"].as_u64().map(|m| m >= 2),
            Some(true),
            "{row}"
        );
    }
}

#[test]
fn the_json_object_holds_the_same_figures_and_a_checker_failure_names_its_seed_and_replay() {
    let out = sim(
        &[
            "compare",
            "scenarios/clock_skew_lease.toml",
            "--seeds",
            "0..2",
            "--protocols",
            "raft,zab",
            "--json",
        ],
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let raft = &rows[0];
    assert_eq!(raft["protocol"], "raft");
    assert_eq!(raft["read_mode"], "lease");
    assert_eq!(raft["runs"], 2);
    let lin = &raft["checkers"]["linearizability"];
    assert_eq!(lin["failed"], 2, "{raft}");
    assert_eq!(lin["first_failed_seed"], 0);
    let replay = lin["replay"].as_str().unwrap();
    assert_eq!(
        replay,
        "sim run scenarios/clock_skew_lease.toml --protocol raft --read-mode lease --seed 0"
    );
    for key in [
        "leader_gap_ms",
        "unavailable",
        "latency_ms",
        "ops_per_sim_s",
        "messages_per_committed_op",
        "durable_writes_per_committed_op",
        "elections_per_run",
    ] {
        assert!(!raft[key].is_null(), "{key} missing in {raft}");
    }
    assert!(
        raft["latency_ms"]["p50"].as_f64().unwrap() <= raft["latency_ms"]["p99"].as_f64().unwrap()
    );
    // ZAB serves no lease reads: the scenario asks for them, so ZAB refuses it, as a row.
    let zab = &rows[1];
    assert_eq!(zab["protocol"], "zab");
    let why = zab["refused"].as_str().expect("zab's row is a refusal");
    assert!(why.contains("read_mode") && why.contains("lease"), "{why}");
    // The printed replay line reproduces the failure.
    let words: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let dir = temp_dir("compare-replay");
    let mut args: Vec<&str> = words.clone();
    let traces = dir.display().to_string();
    args.extend(["--json", "--traces-dir", &traces]);
    let again = sim(&args, &root());
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let text_all = summary.to_string();
    assert!(
        text_all.contains("not linearizable"),
        "the replay line does not reproduce the failure: {text_all}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_table_is_the_same_for_one_job_and_for_several() {
    let run = |jobs: &str| {
        let out = sim(
            &[
                "compare",
                "scenarios/compare/3_leader_isolated.toml",
                "--seeds",
                "0..4",
                "--read-modes",
                "lease,local,sync",
                "--jobs",
                jobs,
            ],
            &root(),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        table_body(&text(&out.stdout))
    };
    let one = run("1");
    assert_eq!(one, run("3"));
    // raft and paxos in lease and local, zab in local and sync.
    let rows = one
        .iter()
        .filter(|l| ["raft ", "zab ", "paxos "].iter().any(|p| l.starts_with(p)))
        .count();
    assert_eq!(rows, 6, "{one:#?}");
}

#[test]
fn a_protocol_lacking_a_scenario_feature_is_a_refused_row_not_an_error() {
    let out = sim(
        &[
            "compare",
            "scenarios/storage_faults.toml",
            "--seeds",
            "0..1",
            "--protocols",
            "zab,paxos",
        ],
        &root(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let zab = stdout.lines().find(|l| l.starts_with("zab ")).unwrap();
    assert!(
        zab.contains("refused:") && zab.contains("storage faults"),
        "{zab}"
    );
    let paxos = stdout.lines().find(|l| l.starts_with("paxos ")).unwrap();
    assert!(!paxos.contains("refused"), "{paxos}");
}

#[test]
fn bad_input_names_the_flag_and_what_was_expected_and_exits_2() {
    let dir = temp_dir("compare-bad");
    let unwritable = dir.join("no/such/dir/page.html");
    let unwritable = unwritable.display().to_string();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--protocols", "raft,raf"],
            &["--protocols", "raf", "raft, zab, paxos"],
        ),
        (&["--seeds", "9..3"], &["--seeds", "start < end"]),
        (&["--seeds", "x"], &["--seeds", "0..1000"]),
        (
            &["--read-modes", "psychic"],
            &["--read-modes", "psychic", "read_index"],
        ),
        (&["--jobs", "0"], &["--jobs", "at least 1"]),
        (&["--html", &unwritable], &["--html", "does not exist"]),
        (
            &["--html", "scenarios/partition_3_3.toml"],
            &["--html", "input"],
        ),
    ];
    let before = std::fs::read(root().join("scenarios/partition_3_3.toml")).unwrap();
    for (extra, wanted) in cases {
        let mut args = vec!["compare", "scenarios/partition_3_3.toml"];
        args.extend_from_slice(extra);
        let out = sim(&args, &root());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for w in *wanted {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(
        std::fs::read(root().join("scenarios/partition_3_3.toml")).unwrap(),
        before,
        "the scenario named as --html was overwritten"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The command docs/read-modes.md says generated its table.
const MATRIX: &[&str] = &[
    "compare",
    "--matrix",
    "scenarios/compare",
    "--seeds",
    "0..5",
    "--markdown",
];

#[test]
fn docs_read_modes_holds_the_matrix_sim_compare_prints_now() {
    let started = std::time::Instant::now();
    let out = sim(MATRIX, &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fresh = text(&out.stdout);
    let page = std::fs::read_to_string(root().join("docs/read-modes.md")).unwrap();
    let (begin, end) = ("<!-- matrix:begin -->\n", "<!-- matrix:end -->");
    let from = page.find(begin).expect("the page marks the matrix's start") + begin.len();
    let to = page.find(end).expect("the page marks the matrix's end");
    let shipped = &page[from..to];
    assert!(
        fresh.starts_with(&format!("<!-- generated by `sim {}`", MATRIX.join(" "))),
        "{fresh}"
    );
    assert_eq!(
        shipped,
        fresh,
        "docs/read-modes.md is stale: run `sim {}` and paste its output between the markers",
        MATRIX.join(" ")
    );
    // Rows are the scenarios, columns every protocol's read modes.
    for fault in [
        "partition_3_3",
        "partition_2_3",
        "leader_isolated",
        "leader_paused",
        "clock_step_back",
        "drift_within_bound",
        "drift_beyond_bound",
        "message_loss",
    ] {
        assert!(fresh.contains(&format!("| `{fault}` |")), "{fault}");
    }
    for col in [
        "raft `log`",
        "raft `read_index`",
        "raft `lease`",
        "raft `local`",
        "zab `sync_quorum`",
        "zab `sync`",
        "zab `local`",
        "paxos `log`",
        "paxos `quorum`",
        "paxos `lease`",
    ] {
        assert!(fresh.contains(col), "{col}");
    }
    eprintln!("the matrix took {:.1}s", started.elapsed().as_secs_f64());
}

#[test]
fn the_matrix_catches_the_stale_reads_it_exists_to_show() {
    // Local reads under a partition and lease reads after a clock step back are stale;
    // ReadIndex on the same run is not (the row of clock_skew_lease, in every protocol).
    let out = sim(
        &[
            "compare",
            "--matrix",
            "scenarios/compare",
            "--seeds",
            "0..1",
            "--protocols",
            "raft",
            "--read-modes",
            "read_index,lease",
        ],
        &root(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let section = stdout
        .split("\nclock_step_back\n")
        .nth(1)
        .expect("a clock_step_back section");
    let lines: Vec<&str> = section.lines().take(2).collect();
    assert!(
        lines[0].contains("read_index") && lines[0].contains("linearizable 1/1"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("lease") && lines[1].contains("stale 1/1, first seed 0"),
        "{lines:?}"
    );
    assert!(stdout.contains(
        "sim run scenarios/compare/5_clock_step_back.toml --protocol raft --read-mode lease --seed 0"
    ));
}
