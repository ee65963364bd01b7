//! Every mutant found is frozen under `tests/regressions/`: a scenario, a seed, the switch,
//! the exact checks that seed fails, and a two-line postmortem. Each replays here: with its
//! switch on, the seed fails exactly as recorded; with it off, the same seed passes. A change
//! to the simulator, a checker or a protocol that moves any of these shows up as a diff in
//! what a known bug does, not as a silent loss of a finding.

use sim::hunt;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn regression_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/regressions"))
        .expect("tests/regressions/")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_frozen_mutant_fails_exactly_as_recorded_and_passes_without_its_switch() {
    let files = regression_files();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            hunt::load_regression(f, &root())
                .and_then(|r| hunt::replay_regression(&r))
                .err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_mutant_in_the_table_is_frozen_as_a_regression() {
    let table =
        hunt::load_table(&root().join(hunt::MUTANT_TABLE)).unwrap_or_else(|e| panic!("{e}"));
    let frozen: Vec<String> = regression_files()
        .iter()
        .map(|f| {
            hunt::load_regression(f, &root())
                .unwrap_or_else(|e| panic!("{e}"))
                .bug
        })
        .collect();
    let missing: Vec<&str> = table
        .iter()
        .filter(|r| r.unreached.is_none())
        .map(|r| r.bug.as_str())
        .filter(|b| !frozen.iter().any(|f| f == b))
        .collect();
    assert!(
        missing.is_empty(),
        "found mutants not frozen under tests/regressions/: {missing:?}"
    );
}

#[test]
fn a_regression_file_with_a_wrong_verdict_is_reported_not_passed() {
    let dir = std::env::temp_dir().join(format!("sim-test-regressions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.toml");
    // truncate_without_conflict at seed 1 of nemesis_mix fails log_safety and liveness;
    // "liveness" alone is not what it fails, so the replay must say so.
    std::fs::write(
        &file,
        r#"bug = "raft.truncate_without_conflict"
scenario = "scenarios/nemesis_mix.toml"
seed = 1
fails = ["liveness"]
postmortem = """
A deliberately wrong record.
The replay must refuse it."""
"#,
    )
    .unwrap();
    let r = hunt::load_regression(&file, &root()).unwrap();
    let err = hunt::replay_regression(&r).unwrap_err();
    assert!(err.contains("should fail exactly"), "{err}");
    std::fs::write(&file, "bug = \"raft.no_such_bug\"\n").unwrap();
    let err = hunt::load_regression(&file, &root()).unwrap_err();
    assert!(err.contains("wrong.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_row_either_says_how_fuzzing_finds_its_mutant_or_why_nothing_does() {
    let dir = std::env::temp_dir().join(format!("sim-test-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("table.toml");
    std::fs::write(
        &file,
        "[[mutant]]\nbug = \"raft.truncate_without_conflict\"\nunreached = \"no fault for it yet\"\n",
    )
    .unwrap();
    let rows = hunt::load_table(&file).unwrap();
    assert_eq!(rows[0].unreached.as_deref(), Some("no fault for it yet"));
    // Half of each is neither.
    std::fs::write(
        &file,
        "[[mutant]]\nbug = \"raft.truncate_without_conflict\"\nunreached = \"x\"\nseeds = 3\n",
    )
    .unwrap();
    let err = hunt::load_table(&file).unwrap_err();
    assert!(
        err.contains("table.toml:1") && err.contains("mutant.unreached"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
