//! `sim fuzz` as a campaign reports it (issue #11): with any number of jobs it reports the
//! lowest failing seed of the range it ran, not the first to finish, and its summary says
//! what happened to the seeds running when it stopped and which seeds did not run.

mod common;

use common::root;
use std::process::Command;

/// Runs `sim fuzz` and returns its exit code, JSON lines and stderr.
fn fuzz(args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let dir = std::env::temp_dir().join(format!("sim-fuzz-campaign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("fuzz")
        .args(args)
        .args([
            "--json",
            "--traces-dir",
            dir.join("traces").to_str().unwrap(),
        ])
        .current_dir(&dir)
        .output()
        .expect("sim runs");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (
        out.status.code(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn summary(lines: &[serde_json::Value]) -> &serde_json::Value {
    let last = lines.last().expect("a summary line");
    assert_eq!(last["summary"], true, "{last}");
    last
}

#[test]
fn the_lowest_failing_seed_is_reported_whatever_the_number_of_jobs() {
    // With the lease's drift margin gone, seeds 9, 10, 13, 31 and 58 of 0..60 fail (all
    // of them, from one job with --keep-going).
    let scenario = root().join("scenarios/mutants/lease_drift.toml");
    let scenario = scenario.to_str().unwrap();
    let bug = ["--bug", "raft.lease_no_drift_margin"];
    let (code, lines, _) = fuzz(
        &[
            &[scenario, "--seeds", "0..60", "--jobs", "1", "--keep-going"][..],
            &bug,
        ]
        .concat(),
    );
    assert_eq!(code, Some(1));
    let all = summary(&lines)["failures"].clone();
    assert_eq!(all, serde_json::json!([9, 10, 13, 31, 58]));
    for jobs in ["1", "2", "4"] {
        let (code, lines, stderr) =
            fuzz(&[&[scenario, "--seeds", "0..60", "--jobs", jobs][..], &bug].concat());
        assert_eq!(code, Some(1), "{stderr}");
        let s = summary(&lines);
        assert_eq!(s["first_failure"], 9, "jobs {jobs}: {s}");
        assert_eq!(s["ended"], "stopped at a failure");
        // The one failure reported in full (its trace saved) is the lowest.
        assert_eq!(lines.len(), 2, "jobs {jobs}: {lines:?}");
        assert_eq!(lines[0]["seed"], 9, "jobs {jobs}");
        assert!(stderr.contains("FAIL seed 9:"), "jobs {jobs}: {stderr}");
        // Every failure listed is one that fails, and the seeds run are the range's first
        // ones: all of 0..=9 ran, and the rest can be resumed.
        let run = s["seeds_run"].as_u64().unwrap();
        assert!(run >= 10, "{s}");
        for f in s["failures"].as_array().unwrap() {
            assert!(all.as_array().unwrap().contains(f), "{s}");
            assert!(f.as_u64().unwrap() < run, "{s}");
        }
        assert_eq!(s["not_run"].as_u64().unwrap(), 60 - run);
        assert_eq!(s["not_run_in_flight"], serde_json::json!([]));
        if run < 60 {
            assert_eq!(s["resume_seeds"], format!("{run}..60"));
        }
        // The seeds running at the stop finished (and are counted in seeds_run).
        let in_flight = s["in_flight_at_stop"].as_array().unwrap();
        if in_flight.is_empty() {
            assert!(s["in_flight"].is_null(), "{s}");
        } else {
            assert_eq!(s["in_flight"], "finished", "{s}");
            assert!(in_flight.iter().all(|x| x.as_u64().unwrap() < run), "{s}");
        }
    }
    // A shard reports its own lowest failure: shard 1/2 runs the odd seeds.
    let (_, lines, _) = fuzz(
        &[
            &[
                scenario, "--seeds", "0..60", "--jobs", "3", "--shard", "1/2",
            ][..],
            &bug,
        ]
        .concat(),
    );
    assert_eq!(summary(&lines)["first_failure"], 9);
    let (_, lines, _) = fuzz(
        &[
            &[
                scenario, "--seeds", "0..60", "--jobs", "3", "--shard", "0/2",
            ][..],
            &bug,
        ]
        .concat(),
    );
    assert_eq!(summary(&lines)["first_failure"], 10);
}

#[test]
fn a_campaign_stopped_by_its_time_budget_says_which_seeds_did_not_run() {
    let scenario = root().join("scenarios/mutants/lease_drift.toml");
    let (code, lines, stderr) = fuzz(&[
        scenario.to_str().unwrap(),
        "--seeds",
        "100..100000",
        "--jobs",
        "2",
        "--time",
        "1ms",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let s = summary(&lines);
    assert_eq!(s["ended"], "time budget reached", "{s}");
    let run = s["seeds_run"].as_u64().unwrap();
    assert!((1..1000).contains(&run), "{s}");
    assert_eq!(run + s["not_run"].as_u64().unwrap(), 99_900, "{s}");
    // What ran is the range's first seeds: the rest is one range to resume from.
    assert_eq!(s["resume_seeds"], format!("{}..100000", 100 + run), "{s}");
    assert!(
        s["in_flight"].is_null() || s["in_flight"] == "finished",
        "{s}"
    );
}

#[test]
fn a_scenarios_expected_paths_are_judged_over_the_campaign_not_at_every_seed() {
    // paxos_log_holes.toml expects a slot filled with a no-op: its own seed has one, and
    // about one seed in five does. A campaign passes when some seed took each path.
    let scenario = root().join("scenarios/paxos_log_holes.toml");
    let scenario = scenario.to_str().unwrap();
    let (code, lines, stderr) =
        fuzz(&[scenario, "--seeds", "0..30", "--jobs", "2", "--keep-going"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("judged over the campaign"), "{stderr}");
    let s = summary(&lines);
    assert_eq!(s["failures"], serde_json::json!([]), "{s}");
    let holes = s["marks_expected"]["paxos.hole_filled_with_noop"]
        .as_u64()
        .expect("a count");
    assert!(0 < holes && holes < 30, "{s}");
    assert_eq!(s["marks_missing"], serde_json::json!([]));
    assert_eq!(s["marks_judged"], true);

    // A path no seed takes fails the campaign, by name: partition_3_3 asks for no
    // membership change.
    let dir = std::env::temp_dir().join(format!("sim-fuzz-marks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/partition_3_3.toml")).unwrap();
    let file = dir.join("never.toml");
    std::fs::write(
        &file,
        format!("{text}\nmarks = [\"raft.conf_change_started\"]\n"),
    )
    .unwrap();
    let (code, lines, _) = fuzz(&[file.to_str().unwrap(), "--seeds", "0..4", "--keep-going"]);
    assert_eq!(code, Some(1));
    let s = summary(&lines);
    assert_eq!(s["failures"], serde_json::json!([]), "{s}");
    assert_eq!(
        s["marks_missing"],
        serde_json::json!(["raft.conf_change_started"])
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "fuzz",
            file.to_str().unwrap(),
            "--seeds",
            "0..4",
            "--traces-dir",
        ])
        .arg(dir.join("traces"))
        .output()
        .expect("sim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL expected paths taken by no seed: raft.conf_change_started"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
