//! Every saved run replays (issue 14): a run made with command-line overrides saves a trace
//! that `sim replay`, `sim export` and `sim shrink` re-run as it ran, and the `sim run` line
//! printed for it gives the same run. (That every `sim run` override is recorded is checked
//! in src/main.rs's tests, which list the arguments from clap's definition.)

mod common;

use common::{root, sim, temp_dir, text};
use std::path::{Path, PathBuf};

/// The hash after "trace hash " in a run's summary.
fn trace_hash(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("trace hash "))
        .unwrap_or_else(|| panic!("no trace hash in:\n{stdout}"))
        .trim()
        .to_string()
}

fn saved_traces(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    found.sort();
    found
}

/// The two commands, then export, shrink and the printed `sim run` line.
#[test]
fn a_run_with_read_mode_sync_replays_exports_and_shrinks_to_its_own_hash() {
    let dir = temp_dir("read-mode");
    let scenario = root().join("scenarios/zab_local_reads.toml");
    let traces = dir.join("T");
    let run = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--read-mode",
            "sync",
            "--seed",
            "2",
            "--traces-dir",
            traces.to_str().unwrap(),
        ],
        &dir,
    );
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    // At seed 2, sync reads happen to stay linearizable: the scenario's "catches a
    // violation" does not hold at this seed (docs/scenarios.md: expectations are per seed),
    // so the run fails and its trace is saved.
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("FAILED  linearizability catches a violation"),
        "{stdout}"
    );
    let hash = trace_hash(&stdout);
    let saved = saved_traces(&traces);
    assert_eq!(saved.len(), 1, "{stderr}");
    let trace = saved[0].to_str().unwrap();

    let replay = sim(&["replay", trace], &dir);
    let replay_err = text(&replay.stderr);
    assert!(
        replay_err.contains(&format!("replay matches: trace hash {hash}")),
        "{replay_err}"
    );
    assert_eq!(
        replay.status.code(),
        Some(1),
        "the same verdict: {replay_err}"
    );

    let edn = dir.join("h.edn");
    let perfetto = dir.join("p.json");
    let export = sim(
        &[
            "export",
            trace,
            "--edn",
            edn.to_str().unwrap(),
            "--perfetto",
            perfetto.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(export.status.code(), Some(0), "{}", text(&export.stderr));
    assert!(edn.exists() && perfetto.exists());

    // The line printed after "or:" is a `sim run` that gives the same run.
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("or: sim run "))
        .unwrap_or_else(|| panic!("no reproduction line in:\n{stderr}"));
    assert!(line.contains("--read-mode sync"), "{line}");
    let elsewhere = dir.join("again");
    let words: Vec<&str> = std::iter::once("run")
        .chain(line.split_whitespace())
        .chain(["--traces-dir", elsewhere.to_str().unwrap()])
        .collect();
    let again = sim(&words, &dir);
    assert_eq!(trace_hash(&text(&again.stdout)), hash, "`sim run {line}`");

    let shrink = sim(&["shrink", trace, "--max-runs", "30"], &dir);
    let shrink_out = text(&shrink.stdout);
    assert_eq!(shrink.status.code(), Some(0), "{}", text(&shrink.stderr));
    let shrunk = shrink_out
        .lines()
        .find_map(|l| l.strip_prefix("saved: "))
        .unwrap_or_else(|| panic!("no saved trace in:\n{shrink_out}"));
    let shrunk_replay = sim(&["replay", shrunk], &dir);
    assert!(
        text(&shrunk_replay.stderr).contains("replay matches"),
        "{}",
        text(&shrunk_replay.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trace edited to name a read mode that does not exist is bad input (exit 2) naming the
/// file and the field, not a panic or a silent run in another mode.
#[test]
fn a_trace_with_an_unknown_read_mode_is_refused_naming_the_file_and_field() {
    let dir = temp_dir("bad-read-mode");
    let scenario = root().join("scenarios/zab_local_reads.toml");
    let trace = dir.join("t.json");
    let run = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--read-mode",
            "sync_quorum",
            "--trace",
            trace.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let body = std::fs::read_to_string(&trace).unwrap();
    assert!(body.contains("\"read_mode\":\"sync_quorum\""));
    std::fs::write(
        &trace,
        body.replace("\"read_mode\":\"sync_quorum\"", "\"read_mode\":7"),
    )
    .unwrap();
    for command in ["replay", "export", "shrink"] {
        let mut args = vec![command, trace.to_str().unwrap()];
        if command == "export" {
            args.extend(["--edn", "x.edn"]);
        }
        let out = sim(&args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains("t.json") && err.contains("\"read_mode\"") && !err.contains("panicked"),
            "{command}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
