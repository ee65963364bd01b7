//! What the tests that drive the `sim` binary share.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `sim` binary in `cwd`.
pub fn sim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("sim runs")
}

/// The checkout (where `scenarios/` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory for one test (each test binary is its own process).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A bug of a correct protocol, frozen with the world its swarm seed drew
/// (`tests/worlds/<file>`: the draw written out, so that a change to what the swarm draws
/// cannot move it). Runs `protocol` there at `seed` and checks that the world is the one
/// frozen (`nodes`), that the run still takes `mark` (the path the fix added, when it
/// added one), and that it passes every expectation, `checker` (the one that failed)
/// among them; a lease checker must also have seen leases taken (passing on none proves
/// nothing). Returns the judgement for the test's own checks.
pub fn frozen_bug_passes(
    protocol: &str,
    file: &str,
    seed: u64,
    nodes: u32,
    mark: Option<&str>,
    checker: &str,
) -> simulator::judge::Judgement {
    let sc = simulator::Scenario::load(&root().join("tests/worlds").join(file))
        .unwrap_or_else(|e| panic!("{e}"));
    let options = sim::hunt::campaign_options(&[], seed, false);
    let (world, out) = sim::hunt::run_world(protocol, &sc, &options)
        .unwrap_or_else(|e| panic!("{protocol} does not run {file}: {e:?}"));
    assert_eq!(world.nodes, nodes, "{file}: not the world frozen");
    if let Some(mark) = mark {
        assert!(
            out.marks.get(mark).copied().unwrap_or(0) > 0,
            "{file}: the run no longer takes {mark}: {:?}",
            out.marks
        );
    }
    let j = simulator::judge::judge(&world, &out);
    let verdict = j
        .verdict(checker)
        .unwrap_or_else(|| panic!("{file}: no {checker} verdict"));
    assert!(j.passed(), "{file}: {checker}: {}", verdict.detail);
    if checker == "lease_exclusivity" {
        assert!(
            verdict.detail.contains("lease extensions"),
            "{file}: no leases were taken: {}",
            verdict.detail
        );
    }
    j
}
