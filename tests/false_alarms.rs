//! Checkers never cry wolf: every false alarm found on a correct protocol is frozen under
//! `tests/regressions/false_alarms/` (a scenario, a seed, the checker that was wrong, and a
//! two-line postmortem). Each replays here: the seed passes every expectation, the checker
//! passes, and the run still shows what once fooled it, so a change to the simulator or a
//! protocol that moves the seed away from the story shows up here rather than leaving a
//! regression that no longer tests anything.

use checker::history::{Func, History, Status};
use checker::safety::{NodeEvent, Outcome, What};
use serde::Deserialize;
use simulator::judge::judge;
use simulator::{RunOptions, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FalseAlarm {
    scenario: String,
    protocol: String,
    read_mode: Option<String>,
    seed: u64,
    swarm: bool,
    /// The checker that failed a correct run.
    checker: String,
    postmortem: String,
}

fn load(path: &Path) -> FalseAlarm {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let alarm: FalseAlarm =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines = alarm.postmortem.trim().lines().count();
    assert!(
        (1..=3).contains(&lines),
        "{}: postmortem: expected two lines a person can read, got {lines}",
        path.display()
    );
    alarm
}

/// What fooled `split_brain` before issue #11: a leader of an earlier term commits a new
/// index while a leader of a later term leads, and that later leader then serves a read on
/// its own authority while the earlier one still acts as leader. Returns the first such
/// pair, in words.
fn deposed_leader_commits_while_its_successor_reads(events: &[NodeEvent]) -> Option<String> {
    let mut leading: BTreeMap<u32, u64> = BTreeMap::new();
    let mut committed = std::collections::BTreeSet::new();
    // (earlier leader, its term, later leader, its term, commit time)
    let mut late_commits: Vec<(u32, u64, u32, u64, u64)> = Vec::new();
    for e in events {
        match e.what {
            What::Role { leader: true, term } => {
                leading.insert(e.node, term);
            }
            What::Role { leader: false, .. } | What::Crash => {
                leading.remove(&e.node);
            }
            What::Commit { index, .. } => {
                let new = committed.insert(index);
                if let (true, Some(&term)) = (new, leading.get(&e.node)) {
                    for (&other, &later) in &leading {
                        if other != e.node && later > term {
                            late_commits.push((e.node, term, other, later, e.at_ns));
                        }
                    }
                }
            }
            What::ReadServed { .. } => {
                let Some(&term) = leading.get(&e.node) else {
                    continue;
                };
                let story = late_commits
                    .iter()
                    .find(|&&(old, old_term, new, new_term, _)| {
                        new == e.node && new_term == term && leading.get(&old) == Some(&old_term)
                    });
                if let Some(&(old, old_term, new, new_term, at)) = story {
                    return Some(format!(
                        "n{old} (leader of term {old_term}) committed at {at}ns while n{new} led term {new_term}, which served a read at {}ns",
                        e.at_ns
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// What left `linearizability` *unknown* on correct Raft (swarm seed 8431): a key with
/// dozens of timed-out writes and cas, all still open when its first operation
/// completes (a minute of faults in which nothing on it completed). Returns the key with
/// the most, in words, if it has at least forty.
fn timed_out_writes_open_before_a_key_first_completes(history: &History) -> Option<String> {
    let mut first_return: BTreeMap<&str, u64> = BTreeMap::new();
    for op in &history.ops {
        if let (Status::Ok, Some(ret)) = (op.status, op.ret) {
            let first = first_return.entry(op.key.as_str()).or_insert(ret);
            *first = (*first).min(ret);
        }
    }
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for op in &history.ops {
        let timed_out_update = op.status == Status::Info && matches!(op.f, Func::Write | Func::Cas);
        if timed_out_update
            && first_return
                .get(op.key.as_str())
                .is_none_or(|&r| op.call < r)
        {
            *open.entry(op.key.as_str()).or_default() += 1;
        }
    }
    let (key, count) = open.into_iter().max_by_key(|&(_, count)| count)?;
    (count >= 40).then(|| {
        format!(
            "key {key}: {count} timed-out writes and cas open before its first operation completed at {}ns",
            first_return.get(key).map_or("never".to_string(), |r| r.to_string())
        )
    })
}

/// What failed the `progress` expectation of `zab_leader_crash_mid_broadcast` under correct
/// Raft (seeds 310 and 824), when its window was two seconds: after a crash, the first
/// operation to succeed completed more than two client timeouts later (a retry passed from
/// server to server into the crashed one, and timed out again). Returns the first such
/// window, in words.
fn progress_slower_than_two_client_timeouts(sc: &Scenario, history: &History) -> Option<String> {
    let limit = 2 * sc.workload.timeout.as_nanos() as u64;
    sc.expect.progress.iter().find_map(|p| {
        let after = p.after.as_nanos() as u64;
        let first = history
            .ops
            .iter()
            .filter(|op| op.status == Status::Ok && op.call >= after)
            .filter_map(|op| op.ret)
            .min()?;
        (first - after > limit).then(|| {
            format!("the first operation invoked after {after}ns completed at {first}ns, over two client timeouts later")
        })
    })
}

/// What failed `liveness` on correct Paxos in `storage_faults.toml` (seeds 8, and 6 under
/// swarm): a storage fault drew a record already damaged on as many other nodes as the
/// fault model allows (the last intact majority of its copies), so no phase 1 could read
/// the slot and the cluster rightly stayed without a leader. The nemesis now damages
/// another record instead, and says so. Returns the first such fault, in words.
fn storage_fault_drawn_beyond_the_fault_model(
    faults: &[simulator::sim::AppliedFault],
) -> Option<String> {
    faults.iter().find_map(|f| {
        let outcome = f.outcome.as_deref()?;
        outcome
            .contains(&format!("drawn first, {}", protocol::SPARED))
            .then(|| format!("at {}ns: {outcome}", f.at_ns))
    })
}

#[test]
fn every_frozen_false_alarm_passes_and_still_shows_what_fooled_its_checker() {
    let dir = root().join("tests/regressions/false_alarms");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/regressions/false_alarms/")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut problems = Vec::new();
    for file in &files {
        let alarm = load(file);
        let name = file.display();
        let mut sc =
            Scenario::load(&root().join(&alarm.scenario)).unwrap_or_else(|e| panic!("{name}: {e}"));
        sc.protocol = alarm.protocol.clone();
        if let Some(mode) = &alarm.read_mode {
            sc.workload.read_mode = Some(
                protocol::ReadMode::from_name(mode)
                    .unwrap_or_else(|| panic!("{name}: unknown read mode {mode:?}")),
            );
        }
        let options = RunOptions {
            seed: alarm.seed,
            keep_events: false,
            bugs: vec![],
            swarm: alarm.swarm,
            describe: false,
            ..RunOptions::default()
        };
        // A scenario with a `[swarm]` table runs in the world its seed draws.
        let (world, out) = sim::hunt::run_world(&sc.protocol, &sc, &options)
            .unwrap_or_else(|e| panic!("{name}: the run stopped: {e:?}"));
        let j = judge(&world, &out);
        let failed: Vec<String> = j
            .expectations
            .iter()
            .filter(|e| !e.held)
            .map(|e| format!("{} ({})", e.what, e.detail))
            .collect();
        if !failed.is_empty() {
            problems.push(format!("{name}: seed {} fails {failed:?}", alarm.seed));
            continue;
        }
        // A scenario's `progress` expectation is no checker: that it held is checked above.
        if alarm.checker != "progress" {
            match j.verdict(&alarm.checker) {
                Some(v) if v.result == Outcome::Pass => {}
                other => problems.push(format!("{name}: {} gave {other:?}", alarm.checker)),
            }
        }
        let story = match alarm.checker.as_str() {
            "split_brain" => deposed_leader_commits_while_its_successor_reads(&out.node_events),
            "linearizability" => {
                timed_out_writes_open_before_a_key_first_completes(&simulator::judge::history(&out))
            }
            "progress" => {
                progress_slower_than_two_client_timeouts(&world, &simulator::judge::history(&out))
            }
            "liveness" => storage_fault_drawn_beyond_the_fault_model(&out.faults),
            other => panic!("{name}: no story known for checker {other:?}"),
        };
        if story.is_none() {
            problems.push(format!(
                "{name}: seed {} no longer shows what fooled {} (the run changed): find a seed that does (`sim fuzz` with the old checker) and freeze it instead",
                alarm.seed, alarm.checker
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_story_finder_sees_a_late_commit_beside_a_successors_read_and_nothing_else() {
    let ev = |at_ns, node, what| NodeEvent { at_ns, node, what };
    let leads = |term| What::Role { leader: true, term };
    let commit = |index| What::Commit {
        index,
        term: 1,
        op: None,
    };
    let story = vec![
        ev(1, 3, leads(1)),
        ev(2, 2, leads(2)),
        ev(3, 3, commit(1)),
        ev(4, 2, What::ReadServed { term: 2 }),
    ];
    assert!(deposed_leader_commits_while_its_successor_reads(&story).is_some());
    // The commit came before the successor took office: nothing late about it.
    let early = vec![
        story[0].clone(),
        story[2].clone(),
        story[1].clone(),
        story[3].clone(),
    ];
    assert!(deposed_leader_commits_while_its_successor_reads(&early).is_none());
    // The earlier leader stepped down before the read.
    let mut stepped_down = story.clone();
    stepped_down.insert(
        3,
        ev(
            3,
            3,
            What::Role {
                leader: false,
                term: 2,
            },
        ),
    );
    assert!(deposed_leader_commits_while_its_successor_reads(&stepped_down).is_none());
}

#[test]
fn the_linearizability_story_finder_counts_timed_out_updates_called_before_a_key_first_completes() {
    use checker::history::{Operation, Value};
    let op = |call, ret: Option<u64>, f| Operation {
        process: call,
        call,
        ret,
        f,
        key: "k".into(),
        value: Value::Int(call as i64),
        to: (f == Func::Cas).then_some(Value::Int(0)),
        output: (f == Func::Read).then_some(Value::Nil),
        cas_ok: None,
        status: Status::of_return(ret),
        line: None,
    };
    let mut history = History::default();
    for k in 0..39 {
        let f = if k % 3 == 0 { Func::Cas } else { Func::Write };
        history.ops.push(op(k, None, f));
    }
    history.ops.push(op(100, Some(110), Func::Read));
    // A timed-out read and an update called after the read returned do not count.
    history.ops.push(op(101, None, Func::Read));
    history.ops.push(op(120, None, Func::Write));
    assert_eq!(
        timed_out_writes_open_before_a_key_first_completes(&history),
        None
    );
    history.ops.push(op(50, None, Func::Write));
    let story = timed_out_writes_open_before_a_key_first_completes(&history).expect("forty");
    assert!(
        story.contains("40 timed-out") && story.contains("at 110ns"),
        "{story}"
    );
}
