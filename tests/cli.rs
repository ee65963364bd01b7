//! The `sim` binary as a user runs it: exit codes, messages, saved traces and replay.

mod common;

use common::{root, sim, temp_dir, text};
use sim::protocols;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[test]
fn run_prints_a_json_summary_with_the_documented_fields_and_exits_0() {
    let scenario = root().join("scenarios/partition_3_3.toml");
    let out = sim(
        &["run", scenario.to_str().unwrap(), "--json"],
        &temp_dir("json"),
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for field in [
        "scenario",
        "protocol",
        "seed",
        "trace_hash",
        "sim_time_ms",
        "events",
        "ops",
        "leaders",
        "verdicts",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    for field in ["ok", "fail", "indeterminate"] {
        assert!(v["ops"][field].is_u64(), "ops.{field}");
    }
    assert_eq!(v["verdicts"]["election_safety"]["result"], "pass");
    assert!(v["leaders"][0]["term"].is_u64() && v["leaders"][0]["at_ms"].is_f64());
}

#[test]
fn a_bad_scenario_exits_2_naming_file_line_and_field_without_panicking() {
    let dir = temp_dir("bad");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"5s\"\n[[faults]]\nat = \"1s\"\nkind = \"isolate\"\nnode = 9\n",
    )
    .unwrap();
    let out = sim(&["run", bad.to_str().unwrap()], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml:5")
            && err.contains("faults[0].node")
            && err.contains("unknown node id 9"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let missing = sim(&["run", "no/such/file.toml"], &dir);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no/such/file.toml"));

    let scenario = root().join("scenarios/leader_crash.toml");
    let unknown = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--protocol",
            "carrier-pigeon",
        ],
        &dir,
    );
    assert_eq!(unknown.status.code(), Some(2));
    let err = text(&unknown.stderr);
    assert!(err.contains("carrier-pigeon"), "{err}");
    for name in protocols::names() {
        assert!(
            err.contains(name),
            "the registry's {name} is not offered: {err}"
        );
    }
    // The same mistake in the file names its line.
    let misnamed = dir.join("misnamed.toml");
    std::fs::write(
        &misnamed,
        "name = \"x\"\nprotocol = \"carrier-pigeon\"\nnodes = 3\nduration = \"5s\"\n",
    )
    .unwrap();
    let out = sim(&["run", misnamed.to_str().unwrap()], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("misnamed.toml:2: protocol: expected one of")
            && protocols::names().iter().all(|n| err.contains(n)),
        "{err}"
    );

    let bug = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--bug",
            "raft.no_such_bug",
        ],
        &dir,
    );
    assert_eq!(bug.status.code(), Some(2));
    assert!(text(&bug.stderr).contains("no_such_bug"));
}

#[test]
fn replay_says_whether_a_trace_was_made_by_other_revisions_or_shows_a_determinism_bug() {
    let dir = temp_dir("revisions");
    let scenario = root().join("scenarios/partition_3_3.toml");
    let trace = dir.join("run.json");
    let args = ["run", scenario.to_str().unwrap(), "--trace", "run.json"];
    assert_eq!(sim(&args, &dir).status.code(), Some(0));
    let saved = text(&std::fs::read(&trace).unwrap());
    let sim_revision = simulator::REVISION;
    let revisions = format!(r#""revisions":{{"protocol":1,"simulator":{sim_revision}}}"#);
    let revisions = revisions.as_str();
    assert!(saved.contains(revisions), "the trace records its revisions");
    let replay = |name: &str, body: String| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        let out = sim(&["replay", path.to_str().unwrap()], &dir);
        (out.status.code(), text(&out.stderr))
    };
    // Another hash: a trace made by an older raft says so, and how to run the seed now.
    let older = saved
        .replace(
            revisions,
            &format!(r#""revisions":{{"protocol":0,"simulator":{sim_revision}}}"#),
        )
        .replace("08521d74ae33f0f7", "0000000000000000");
    let (code, err) = replay("older.json", older);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("note: raft (revision 0 then, 1 now) changed"),
        "{err}"
    );
    assert!(
        err.contains("REPLAY DIVERGED")
            && err.contains("Expected: only a build of the trace's revisions replays it exactly")
            && err.contains("What the seed does now: sim run ")
            && err.contains("partition_3_3.toml --seed 1 --protocol raft"),
        "{err}"
    );
    // The same revisions: nothing but a bug (or an edit) explains it.
    let (code, err) = replay(
        "same.json",
        saved.replace("08521d74ae33f0f7", "0000000000000000"),
    );
    assert_eq!(code, Some(4), "{err}");
    assert!(!err.contains("note:"), "{err}");
    assert!(
        err.contains(&format!("(raft 1, simulator {sim_revision})"))
            && err.contains("determinism bug"),
        "{err}"
    );
    // A trace from before revisions were recorded says it cannot tell.
    let (code, err) = replay(
        "unrecorded.json",
        saved.replace(&format!("{revisions},"), ""),
    );
    assert_eq!(code, Some(0), "an unchanged run still replays: {err}");
    assert!(
        err.contains("note: the trace records no revisions"),
        "{err}"
    );
    // Malformed revisions are bad input naming the field.
    let bad = saved.replace(revisions, r#""revisions":{"protocol":"one"}"#);
    let (code, err) = replay("bad.json", bad);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.json: field \"revisions\""), "{err}");
}

#[test]
fn a_failed_expectation_exits_1_saves_a_new_trace_and_prints_a_replay_that_reproduces_it() {
    let dir = temp_dir("fail");
    // Impossible on purpose: a healthy cluster always elects a leader in its first second.
    let scenario = dir.join("impossible.toml");
    std::fs::write(
        &scenario,
        "name = \"impossible\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"3s\"\nseed = 4\n\
         [expect]\nno_new_leader = [{ from = \"0s\", to = \"3s\" }]\n",
    )
    .unwrap();
    let first = sim(&["run", scenario.to_str().unwrap()], &dir);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    let err = text(&first.stderr);
    let replay_line = err
        .lines()
        .find(|l| l.contains("Reproduce with: sim replay "))
        .expect(&err);
    let trace = replay_line
        .split("sim replay ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert!(dir.join(&trace).exists(), "{trace}");

    // Running again saves under a new name; the first trace is untouched.
    let saved = std::fs::read(dir.join(&trace)).unwrap();
    let second = sim(&["run", scenario.to_str().unwrap()], &dir);
    assert_eq!(second.status.code(), Some(1));
    let traces: Vec<_> = std::fs::read_dir(dir.join("traces")).unwrap().collect();
    assert_eq!(
        traces.len(),
        2,
        "a second failure must not overwrite the first trace"
    );
    assert_eq!(std::fs::read(dir.join(&trace)).unwrap(), saved);

    // Replay reproduces the run and its verdict.
    let replay = sim(&["replay", &trace], &dir);
    assert_eq!(replay.status.code(), Some(1), "{}", text(&replay.stderr));
    assert!(
        text(&replay.stderr).contains("replay matches"),
        "{}",
        text(&replay.stderr)
    );

    // An edited trace (another seed) is caught as a divergence, not a panic.
    let edited = dir.join("edited.json");
    let body = text(&saved).replacen("\"seed\":4", "\"seed\":5", 1);
    std::fs::write(&edited, body).unwrap();
    let diverged = sim(&["replay", edited.to_str().unwrap()], &dir);
    assert_eq!(
        diverged.status.code(),
        Some(4),
        "{}",
        text(&diverged.stderr)
    );
    assert!(text(&diverged.stderr).contains("REPLAY DIVERGED"));

    // A truncated trace is bad input with its line, exit 2.
    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, &saved[..saved.len() / 2]).unwrap();
    let bad = sim(&["replay", truncated.to_str().unwrap()], &dir);
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert!(
        err.contains("truncated.json:") && err.contains("not a complete trace file"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let scenario = root().join("scenarios/leader_crash.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", scenario.to_str().unwrap()])
        .current_dir(temp_dir("pipe"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let out = child.wait_with_output().unwrap();
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

fn porcupine() -> Option<PathBuf> {
    let dir = std::env::var_os("PORCUPINE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data/porcupine"));
    if dir.join("kv").exists() {
        Some(dir)
    } else if std::env::var("REQUIRE_PORCUPINE_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "the Porcupine corpus is required but absent at {}",
            dir.display()
        );
    } else {
        eprintln!("skipping: no Porcupine corpus at {}", dir.display());
        None
    }
}

#[test]
fn check_gives_every_exit_code_and_names_the_line_of_bad_input() {
    let dir = temp_dir("check");
    let Some(corpus) = porcupine() else { return };
    let ok = sim(
        &["check", corpus.join("kv/c10-ok.txt").to_str().unwrap()],
        &dir,
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("c10-ok.txt: linearizable"));

    let page = dir.join("violation.html");
    let bad = sim(
        &[
            "check",
            corpus.join("kv/c10-bad.txt").to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(bad.status.code(), Some(1));
    let out = text(&bad.stdout);
    assert!(
        out.contains("NOT LINEARIZABLE") && out.contains("cannot take effect"),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("#c00000") && html.contains("Explanation"));
    assert!(
        !html.contains("http://") || html.contains("http://www.w3.org/2000/svg"),
        "the page must load nothing"
    );

    let whole = sim(&["check", corpus.to_str().unwrap(), "--json"], &dir);
    assert_eq!(whole.status.code(), Some(1));
    let verdicts: Vec<serde_json::Value> = text(&whole.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 108);
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| v["verdict"] == "linearizable")
            .count(),
        26
    );

    let broken = dir.join("broken.edn");
    std::fs::write(&broken, "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 3}\n").unwrap();
    let unreadable = sim(&["check", broken.to_str().unwrap()], &dir);
    assert_eq!(unreadable.status.code(), Some(2));
    let err = text(&unreadable.stderr);
    assert!(
        err.contains("broken.edn:2:") && err.contains("without an invocation"),
        "{err}"
    );
    assert!(!err.contains("panicked"));

    // Fourteen concurrent writes and a read of a value nobody wrote: deciding it needs more
    // steps than a zero budget allows.
    let mut ops: Vec<String> = (0..14)
        .map(|p| format!("{{\"process\": {p}, \"call\": {p}, \"ret\": {}, \"f\": \"write\", \"value\": {p}, \"status\": \"ok\"}}", 1000 + p))
        .collect();
    ops.push("{\"process\": 99, \"call\": 2000, \"ret\": 2001, \"f\": \"read\", \"output\": 42, \"status\": \"ok\"}".into());
    let hard = dir.join("hard.json");
    std::fs::write(&hard, format!("{{\"ops\": [{}]}}", ops.join(",\n"))).unwrap();
    let unknown = sim(&["check", hard.to_str().unwrap(), "--budget", "0s"], &dir);
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown.stdout));
}

#[test]
fn check_reads_the_history_inside_a_sim_trace() {
    let dir = temp_dir("check-trace");
    let scenario = root().join("scenarios/leader_crash.toml");
    let trace = dir.join("run.json");
    let run = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(run.status.code(), Some(0));
    let check = sim(&["check", trace.to_str().unwrap()], &dir);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("linearizable"));
}

#[test]
fn check_on_a_saved_trace_agrees_with_the_runs_own_verdict() {
    // The history stored in a trace is the one the run judged: checking it again from the
    // file must give the same verdict. (The `null`-output regression itself is pinned by
    // the checker's unit test of a lone stale nil read.)
    let dir = temp_dir("check-agrees");
    let scenario = root().join("scenarios/stale_reads.toml");
    let trace = dir.join("stale.json");
    let run = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
            "--json",
        ],
        &dir,
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["verdicts"]["linearizability"]["result"], "fail");
    let check = sim(&["check", trace.to_str().unwrap()], &dir);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stdout));
}

#[test]
fn a_run_that_ends_before_a_checker_can_decide_exits_3() {
    let dir = temp_dir("undecided");
    // The liveness bound (5s after the last fault, at 2s) lies past the run's 4s end.
    let scenario = dir.join("short.toml");
    std::fs::write(
        &scenario,
        "name = \"short\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"4s\"\n\
         [[faults]]\nat = \"2s\"\nkind = \"crash\"\nnode = 1\n\
         [expect]\npass = [\"liveness\"]\n",
    )
    .unwrap();
    let out = sim(&["run", scenario.to_str().unwrap(), "--json"], &dir);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdicts"]["liveness"]["result"], "unknown");
}

#[test]
fn shrink_writes_a_smaller_trace_beside_the_original_that_replays_and_fails_the_same_way() {
    let dir = temp_dir("shrink");
    let scenario = root().join("scenarios/nemesis_mix.toml");
    let original = dir.join("run.json");
    let run = sim(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--seed",
            "1",
            "--swarm",
            "--bug",
            "raft.truncate_without_conflict",
            "--trace",
            original.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let before = std::fs::read(&original).unwrap();
    let out = sim(
        &["shrink", original.to_str().unwrap(), "--max-runs", "6"],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&original).unwrap(),
        before,
        "the original is untouched"
    );
    let saved = stdout
        .lines()
        .find_map(|l| l.strip_prefix("saved: "))
        .unwrap_or_else(|| panic!("no saved line in {stdout}"));
    let saved = PathBuf::from(saved);
    assert_eq!(
        saved.parent(),
        original.parent(),
        "saved beside the original"
    );
    let size = |name: &str| -> u64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {stdout}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert!(size("after") < size("before"), "{stdout}");
    let replay = sim(&["replay", saved.to_str().unwrap()], &dir);
    let replay_err = text(&replay.stderr) + &text(&replay.stdout);
    assert_eq!(replay.status.code(), Some(1), "{replay_err}");
    assert!(!replay_err.contains("diverged"), "{replay_err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutants_hunts_the_rows_of_a_table_and_names_a_bad_row() {
    let dir = temp_dir("mutants");
    let table = dir.join("table.toml");
    let scenario = root().join("scenarios/nemesis_mix.toml");
    std::fs::write(
        &table,
        format!(
            "[[mutant]]\nbug = \"raft.truncate_without_conflict\"\nscenario = {:?}\nseeds = 3\ncaught_by = \"log_safety\"\n",
            scenario.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = sim(
        &[
            "mutants",
            "--table",
            table.to_str().unwrap(),
            "--only",
            "truncate_without_conflict",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("raft.truncate_without_conflict") && stdout.contains("seed 0"),
        "{stdout}"
    );
    // A mutant with no row is reported as not found: exit 1.
    let out = sim(
        &[
            "mutants",
            "--table",
            table.to_str().unwrap(),
            "--only",
            "commit_before_self_persist",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("it has no row in the table"));
    std::fs::write(
        &table,
        "[[mutant]]\nbug = \"raft.no_such_bug\"\nscenario = \"x.toml\"\nseeds = 3\ncaught_by = \"log_safety\"\n",
    )
    .unwrap();
    let out = sim(&["mutants", "--table", table.to_str().unwrap()], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("table.toml:1") && err.contains("mutant.bug"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const SMALL: &str = "name = \"x\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"2s\"\n";

/// Runs `text` as a scenario under `protocol`; the exit code and stderr.
fn run_text(dir: &Path, text: &str, protocol: &str) -> (Option<i32>, String) {
    let file = dir.join("options.toml");
    std::fs::write(&file, text).unwrap();
    let out = sim(
        &["run", file.to_str().unwrap(), "--protocol", protocol],
        dir,
    );
    (out.status.code(), text_of(&out))
}

fn text_of(out: &Output) -> String {
    text(&out.stderr) + &text(&out.stdout)
}

#[test]
fn an_unknown_protocol_option_exits_2_naming_file_line_and_field() {
    let dir = temp_dir("options");
    for entry in protocols::PROTOCOLS {
        let (code, err) = run_text(
            &dir,
            &format!("{SMALL}\n[options.{}]\nno_such_option = 1\n", entry.name),
            entry.name,
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "options.toml:7: options.{}.no_such_option: {} has no option \"no_such_option\"",
                entry.name, entry.name
            )),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // A table for a protocol that does not exist would be ignored by every run: refused.
    let (code, err) = run_text(
        &dir,
        &format!("{SMALL}\n[options.pxos]\nlease = true\n"),
        "raft",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("options.toml:6: options.pxos: expected a table named after a protocol"),
        "{err}"
    );
    // Another protocol's table is ignored: each protocol reads only its own.
    for entry in protocols::PROTOCOLS {
        let others: String = protocols::PROTOCOLS
            .iter()
            .filter(|o| o.name != entry.name)
            .map(|o| format!("\n[options.{}]\nno_such_option = 1\n", o.name))
            .collect();
        let (code, err) = run_text(&dir, &format!("{SMALL}{others}"), entry.name);
        assert_eq!(code, Some(0), "{}: {err}", entry.name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_protocol_option_of_the_wrong_kind_exits_2_naming_file_line_field_and_kind() {
    // Every option of every protocol, given a value of another kind (a protocol without
    // options has nothing to check here; crates/simulator/tests/world.rs checks each kind
    // with a toy protocol).
    let dir = temp_dir("option-kinds");
    for entry in protocols::PROTOCOLS {
        for spec in entry.capabilities.options {
            let wrong = match spec.kind {
                protocol::OptionKind::Bool => "\"yes\"",
                protocol::OptionKind::Count => "-1",
                protocol::OptionKind::Duration => "250",
            };
            let (code, err) = run_text(
                &dir,
                &format!(
                    "{SMALL}\n[options.{}]\n{} = {wrong}\n",
                    entry.name, spec.name
                ),
                entry.name,
            );
            assert_eq!(code, Some(2), "{err}");
            assert!(
                err.contains(&format!(
                    "options.toml:7: options.{}.{}: expected {}",
                    entry.name,
                    spec.name,
                    spec.kind.describe()
                )),
                "{err}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_configuration_the_protocol_refuses_names_the_line_of_its_field() {
    let dir = temp_dir("config-line");
    let (code, err) = run_text(
        &dir,
        &format!("{SMALL}[options]\nheartbeat_interval = \"400ms\"\n"),
        "raft",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("options.toml:6: options.heartbeat_interval: expected a positive interval"),
        "{err}"
    );
    // A read mode the protocol does not serve, named in the file.
    for entry in protocols::PROTOCOLS {
        let Some(mode) = protocol::ReadMode::ALL
            .into_iter()
            .find(|m| !entry.serves(*m))
        else {
            continue;
        };
        let (code, err) = run_text(
            &dir,
            &format!("{SMALL}[workload]\nread_mode = \"{}\"\n", mode.name()),
            entry.name,
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("options.toml:6: workload.read_mode:"),
            "{}: {err}",
            entry.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_over_its_memory_budget_stops_with_exit_3_and_a_message_naming_the_option() {
    let dir = temp_dir("memory-budget");
    let scenario = root().join("scenarios/partition_3_3.toml");
    let scenario = scenario.to_str().unwrap();
    let out = sim(&["run", scenario, "--max-memory", "1MiB"], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("over its budget of 1.0 MiB (--max-memory)"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "a stopped run has no verdict to print"
    );
    assert!(!dir.join("traces").exists(), "a stopped run saved a trace");
    let out = sim(&["run", scenario, "--max-memory", "lots"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--max-memory"));
    // Within the budget, a watched run is the same run.
    let out = sim(&["run", scenario, "--max-memory", "20GiB", "--json"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("08521d74ae33f0f7"));
}

#[test]
fn a_run_over_its_event_budget_stops_with_exit_3_and_the_budget_can_be_raised() {
    let dir = temp_dir("event-budget");
    let scenario = root().join("scenarios/partition_3_3.toml");
    let scenario = scenario.to_str().unwrap();
    let out = sim(&["run", scenario, "--max-events", "10000"], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the run exceeded 10000 steps (events taken off the queue) by simulated time")
            && err.contains("raise --max-events"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "a stopped run has no verdict to print"
    );
    assert!(!dir.join("traces").exists(), "a stopped run saved a trace");
    for bad in ["0", "lots", "10000000001", "2.5"] {
        let out = sim(&["run", scenario, "--max-events", bad], &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("--max-events")
                && err.contains("expected a whole number of events from 1 to 10000000000"),
            "{bad}: {err}"
        );
    }
    // A raised budget is the same run.
    let out = sim(
        &["run", scenario, "--max-events", "1_000_000_000", "--json"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("08521d74ae33f0f7"));
}

#[test]
fn aimed_faults_name_a_kind_the_protocol_has_or_exit_2_listing_its_kinds() {
    let dir = temp_dir("aims");
    let nemesis = |body: &str| {
        format!("{SMALL}\n[storage]\nwrite_latency = [\"1ms\", \"2ms\"]\n\n[nemesis]\n{body}\n")
    };
    // Each: the [nemesis] body, the protocol, what the refusal (exit 2) says. Kinds
    // waiting for marks with none to wait for would never strike; a kind cannot wait
    // both for a mark and for a new leader.
    for (body, protocol, expected) in [
        (
            "crash_writing = 1.0\ncrash_writing_kinds = [\"promise\"]",
            "raft",
            "nemesis.crash_writing_kinds: expected one of raft's write kinds (hard_state, append, truncate, compact, reset, snapshot), got \"promise\"",
        ),
        (
            "crash_sending = 1.0\ncrash_sending_kinds = [\"Promise\"]",
            "zab",
            "nemesis.crash_sending_kinds: expected one of zab's message kinds (NOTIFICATION,",
        ),
        (
            "crash = 1.0\non_new_leader = [\"crash_writing\"]",
            "raft",
            "options.toml:11: nemesis.on_new_leader: expected nemesis kinds among crash,",
        ),
        (
            "crash = 1.0\non_mark = [\"crash\"]\ntrigger_marks = [\"zab.sync_trunc\"]",
            "raft",
            "nemesis.trigger_marks: expected one of raft's mark kinds (raft.append_rejected_conflict,",
        ),
        (
            "crash = 1.0\non_mark = [\"crash\"]",
            "raft",
            "nemesis.trigger_marks: expected at least one mark for the kinds in on_mark to wait for",
        ),
        (
            "crash = 1.0\non_new_leader = [\"crash\"]\non_mark = [\"crash\"]\ntrigger_marks = [\"raft.snapshot_taken\"]",
            "raft",
            "nemesis.on_mark: expected kinds not also in on_new_leader (a fault waits for one moment), got \"crash\"",
        ),
    ] {
        let (code, err) = run_text(&dir, &nemesis(body), protocol);
        assert_eq!(code, Some(2), "{body}: {err}");
        assert!(err.contains(expected), "{body}: {err}");
    }
    // The same kinds where each protocol has them run (and pass).
    for (protocol, aim) in [
        ("raft", "crash_writing_kinds = [\"snapshot\", \"hard_state\"]\ncrash_sending_kinds = [\"RequestVoteResp\"]"),
        ("zab", "crash_writing_kinds = [\"current_epoch\"]\ncrash_sending_kinds = [\"ACK\", \"SNAP\"]"),
        ("paxos", "crash_writing_kinds = [\"compact\"]\ncrash_sending_kinds = [\"Promise\"]"),
    ] {
        let mark = format!("{protocol}.snapshot_taken");
        let body = format!("crash_writing = 2.0\ncrash_sending = 2.0\ncrash = 1.0\non_new_leader = [\"crash\"]\npause = 1.0\non_mark = [\"pause\"]\ntrigger_marks = [\"{mark}\"]\n{aim}");
        let (code, err) = run_text(&dir, &nemesis(&body), protocol);
        assert_eq!(code, Some(0), "{protocol}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sim fuzz --read-mode` runs every seed in that read mode (as `sim run --read-mode`
/// does), says so in its header, and refuses a mode the protocol does not serve with exit
/// 2 naming the scenario, the field and the modes it serves.
#[test]
fn fuzz_takes_a_read_mode_for_every_seed_and_refuses_one_the_protocol_lacks() {
    let dir = temp_dir("fuzz-read-mode");
    let scenario = root().join("scenarios/partition_3_3.toml");
    let scenario = scenario.to_str().unwrap();
    let ok = sim(
        &[
            "fuzz",
            scenario,
            "--protocol",
            "raft",
            "--read-mode",
            "lease",
            "--seeds",
            "0..2",
        ],
        &dir,
    );
    let err = text(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{err}");
    assert!(
        err.contains("protocol raft · read mode lease · seeds 0..2"),
        "{err}"
    );
    let bad = sim(
        &[
            "fuzz",
            scenario,
            "--protocol",
            "zab",
            "--read-mode",
            "lease",
            "--seeds",
            "0..2",
        ],
        &dir,
    );
    let err = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(
        err.contains("partition_3_3.toml")
            && err.contains("workload.read_mode")
            && err.contains("local, sync, sync_quorum"),
        "{err}"
    );
}
