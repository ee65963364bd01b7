//! Verdicts and expectations: runs every checker over a run's records, then evaluates the
//! scenario's expectations (which checkers must pass or fail, windows with no new leader
//! or no commit, progress after a heal) against them.

use crate::duration::format_duration;
use crate::history::{ClientHistory, End, OpKind};
use crate::scenario::Scenario;
use crate::sim::RunOutput;
use checker::history::{Func, History, Operation, Status, Value};
use checker::linearizability::{self, Budget, Model};
use checker::safety::{self, Outcome, Verdict};

/// One expectation and whether it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectationResult {
    pub what: String,
    pub held: bool,
    pub detail: String,
    /// A checker could not decide (its budget ran out, or the run ended too soon).
    pub undecided: bool,
}

#[derive(Clone, Debug)]
pub struct Judgement {
    /// Every checker's verdict, by name, in a fixed order; first, only for a run a
    /// protocol's own assertion stopped, the failed [`ASSERTIONS`].
    pub verdicts: Vec<(&'static str, Verdict)>,
    pub expectations: Vec<ExpectationResult>,
}

impl Judgement {
    /// Every expectation held.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.held)
    }

    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.verdicts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// A checker's verdict was unknown where the scenario needed an answer.
    pub fn inconclusive(&self) -> bool {
        !self.passed()
            && self
                .expectations
                .iter()
                .filter(|e| !e.held)
                .all(|e| e.undecided)
    }
}

fn window_text(w: &crate::scenario::Window) -> String {
    let nodes = if w.nodes.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = w.nodes.iter().map(|n| format!("n{n}")).collect();
        format!(" among {}", names.join(","))
    };
    format!(
        "{nodes} between {} and {}",
        format_duration(w.from),
        format_duration(w.to)
    )
}

fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// Operation counts: ok, failed (did not happen), indeterminate.
pub fn op_counts(out: &RunOutput) -> (u64, u64, u64) {
    let mut counts = (0, 0, 0);
    for r in out.history.records() {
        match r.end {
            End::Info => counts.2 += 1,
            End::Fail => counts.1 += 1,
            _ => counts.0 += 1,
        }
    }
    counts
}

/// The operation at `index` in the checker's model, with the key given.
fn operation(h: &ClientHistory, index: usize, key: String) -> Operation {
    let r = &h.records()[index];
    let int = |v: u64| Value::Int(v as i64);
    let (f, value, to) = match r.kind {
        OpKind::Read => (Func::Read, Value::Nil, None),
        OpKind::Write => (Func::Write, int(r.a), None),
        OpKind::Cas => (Func::Cas, int(r.a), Some(int(r.b))),
    };
    let (status, output, cas_ok) = match r.end {
        End::Read => (Status::Ok, Some(int(h.read_value(index))), None),
        End::ReadNothing => (Status::Ok, Some(Value::Nil), None),
        End::Cas(swapped) => (Status::Ok, None, Some(swapped)),
        End::Written => (Status::Ok, None, None),
        End::Fail => (Status::Fail, None, None),
        End::Info => (Status::Info, None, None),
    };
    Operation {
        process: u64::from(r.process),
        call: r.invoke_ns,
        ret: r.return_ns(),
        f,
        key,
        value,
        to,
        output,
        cas_ok,
        status,
        line: None,
    }
}

/// The run's client history in the checker's model (and the native history format).
pub fn history(out: &RunOutput) -> History {
    let h = &out.history;
    let ops = h
        .records()
        .iter()
        .enumerate()
        .map(|(i, r)| operation(h, i, h.key_name(r.key).to_string()))
        .collect();
    History { ops }
}

/// Search steps the linearizability checker may take per key in a simulated run: a step
/// budget, not a time budget, so that the same run always gets the same verdict. About
/// four seconds of one core, spent only by the rare history that needs it: raft seed 4 of
/// 30-minute swarm worlds, whose clients timed out 5392 operations around 931 that
/// completed, needs between 20 and 40 million steps on its key k0 (20 million was the
/// budget before).
pub const LINEARIZABILITY_STEPS: u64 = 100_000_000;

/// Steps per operation of the history the budget grows by past `LINEARIZABILITY_STEPS`:
/// a healthy history takes about one step per operation (issue #13), so that a long
/// healthy run is judged, not *unknown* because it is long.
pub const LINEARIZABILITY_STEPS_PER_OP: u64 = 20;

/// The per-key step budget for a history of `ops` operations.
pub fn linearizability_steps(ops: usize) -> u64 {
    LINEARIZABILITY_STEPS.max(LINEARIZABILITY_STEPS_PER_OP.saturating_mul(ops as u64))
}

/// Linearizability of the run's history. Keys are searched one at a time, each made from
/// the compact history only when its turn comes (a long run's history in the checker's
/// model is several times the size of the run's own record); a history that is not
/// linearizable, or that runs out of budget, is searched again as a whole for the report.
fn linearizability_verdict(out: &RunOutput) -> Verdict {
    let budget = Budget {
        time: None,
        steps: Some(linearizability_steps(out.history.len())),
        // One thread: parallelism lives between runs (a fuzz campaign's jobs).
        threads: 1,
    };
    let records = out.history.records();
    let mut by_key: Vec<Vec<u32>> = vec![Vec::new(); out.history.key_count()];
    for (i, r) in records.iter().enumerate() {
        by_key[r.key as usize].push(i as u32);
    }
    // Keys are searched apart from each other, so their names are not needed here.
    let keys = by_key.into_iter().map(|places| {
        places
            .into_iter()
            .map(|i| operation(&out.history, i as usize, String::new()))
    });
    let outcome = linearizability::check_each_key(keys, budget.steps)
        .unwrap_or_else(|| linearizability::check(&history(out), Model::Kv, budget));
    match outcome {
        linearizability::Outcome::Linearizable { keys, ops } => {
            Verdict::pass(format!("{ops} operations on {keys} keys are linearizable"))
        }
        linearizability::Outcome::NotLinearizable(v) => Verdict::fail(v.to_string()),
        linearizability::Outcome::Unknown { explored } => Verdict {
            result: Outcome::Unknown,
            detail: format!("unknown: {explored}"),
        },
    }
}

pub fn judge(sc: &Scenario, out: &RunOutput) -> Judgement {
    let records = out.history.records();
    // Liveness reads of the operations only whether there are any and the first return
    // of those invoked after the last heal: one entry that says both (rather than one per
    // operation of a long run).
    let ops: Vec<(u64, Option<u64>)> = if records.is_empty() {
        Vec::new()
    } else {
        let first = records
            .iter()
            .filter(|r| r.invoke_ns >= out.last_heal_ns && r.is_ok())
            .filter_map(|r| r.return_ns())
            .min();
        vec![(out.last_heal_ns, first)]
    };
    let events = &out.node_events;
    let within = sc.expect.liveness_within.as_nanos() as u64;
    let acked: Vec<(u64, u64)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| match r.kind {
            OpKind::Write => r.is_ok(),
            OpKind::Cas => r.end == End::Cas(true),
            OpKind::Read => false,
        })
        .map(|(i, r)| (out.history.id(i).0, r.return_ns().unwrap_or(out.end_ns)))
        .collect();
    let mut verdicts = vec![
        ("linearizability", linearizability_verdict(out)),
        (
            "acknowledged_writes",
            safety::acknowledged_writes(events, &acked),
        ),
        ("election_safety", safety::election_safety(events)),
        ("log_safety", out.log_safety.clone()),
        ("split_brain", safety::split_brain(events)),
        ("lease_exclusivity", safety::lease_exclusivity(events)),
        ("disruption", out.disruption.clone()),
        (
            "liveness",
            match (&out.stopped, &out.stranded) {
                (Some(stop), _) => Verdict {
                    result: Outcome::Unknown,
                    detail: format!("not judged: {}", stopped_text(stop)),
                },
                (None, Some(why)) => Verdict {
                    result: Outcome::Unknown,
                    detail: format!("not judged: {why}"),
                },
                (None, None) => {
                    safety::liveness(events, &ops, out.last_heal_ns, within, out.end_ns)
                }
            },
        ),
    ];
    let mut expectations = Vec::new();
    // The checkers above judge what happened up to a stop: a violation in it is one in
    // any run that goes on. What a stopped run was still to do is not judged.
    if let Some(stop) = &out.stopped {
        let detail = stop.to_string();
        verdicts.insert(0, (ASSERTIONS, Verdict::fail(detail.clone())));
        expectations.push(ExpectationResult {
            undecided: false,
            what: format!("{ASSERTIONS} passes"),
            held: false,
            detail,
        });
    }
    let find = |name: &str| {
        verdicts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let (pass, fail) = sc.expect.checkers_for(sc.workload.read_mode);
    for name in &pass {
        let v = find(name).expect("scenario validation admits only known checkers");
        expectations.push(ExpectationResult {
            undecided: v.result == Outcome::Unknown,
            what: format!("{name} passes"),
            held: v.result == Outcome::Pass,
            detail: v.result.name().to_string(),
        });
    }
    for name in &fail {
        let v = find(name).expect("scenario validation admits only known checkers");
        expectations.push(ExpectationResult {
            undecided: v.result == Outcome::Unknown,
            what: format!("{name} catches a violation"),
            held: v.result == Outcome::Fail,
            detail: v.result.name().to_string(),
        });
    }
    for w in &sc.expect.no_new_leader {
        let (from, to) = (w.from.as_nanos() as u64, w.to.as_nanos() as u64);
        let elected: Vec<String> = out
            .leaders
            .iter()
            .filter(|l| l.at_ns >= from && l.at_ns <= to)
            .filter(|l| w.nodes.is_empty() || w.nodes.contains(&l.node))
            .map(|l| format!("n{} term {} at {}", l.node, l.term, secs(l.at_ns)))
            .collect();
        expectations.push(ExpectationResult {
            undecided: false,
            what: format!("no new leader{}", window_text(w)),
            held: elected.is_empty(),
            detail: if elected.is_empty() {
                "no node became leader in the window".into()
            } else {
                format!("elected: {}", elected.join(", "))
            },
        });
    }
    let commits = if sc.expect.no_commit.is_empty() {
        Vec::new()
    } else {
        out.commits()
    };
    for w in &sc.expect.no_commit {
        let (from, to) = (w.from.as_nanos() as u64, w.to.as_nanos() as u64);
        let committed: Vec<String> = commits
            .iter()
            .filter(|c| c.at_ns >= from && c.at_ns <= to)
            .filter(|c| w.nodes.is_empty() || w.nodes.contains(&c.node))
            .take(5)
            .map(|c| format!("index {} by n{} at {}", c.index, c.node, secs(c.at_ns)))
            .collect();
        expectations.push(ExpectationResult {
            undecided: false,
            what: format!("nothing commits{}", window_text(w)),
            held: committed.is_empty(),
            detail: if committed.is_empty() {
                "no index was first committed in the window".into()
            } else {
                format!("committed: {}", committed.join(", "))
            },
        });
    }
    // What a run stopped by an assertion did not live to do is not judged (below).
    let to_come = expectations.len();
    for p in &sc.expect.progress {
        let (after, within) = (p.after.as_nanos() as u64, p.within.as_nanos() as u64);
        let first = records
            .iter()
            .filter(|r| r.invoke_ns >= after && r.is_ok())
            .filter_map(|r| r.return_ns())
            .min();
        let held = first.is_some_and(|t| t <= after + within);
        expectations.push(ExpectationResult {
            undecided: false,
            what: format!(
                "an operation invoked after {} completes within {}",
                format_duration(p.after),
                format_duration(p.within)
            ),
            held,
            detail: match first {
                Some(t) => format!("first completed at {} ({} after)", secs(t), secs(t - after)),
                None => "no operation invoked in that period completed".into(),
            },
        });
    }
    for mark in &sc.expect.marks {
        // A mark is named after the protocol whose path it is (`zab.sync_trunc`): a run of
        // another protocol cannot take it, so one scenario can run under every protocol.
        if let Some(owner) = mark_of_another_protocol(mark, out.protocol) {
            expectations.push(ExpectationResult {
                undecided: false,
                what: format!("the path {mark} is taken"),
                held: true,
                detail: format!(
                    "not judged: a path of {owner}, and this run is {}",
                    out.protocol
                ),
            });
            continue;
        }
        let hits = out.marks.get(mark.as_str()).copied().unwrap_or(0);
        expectations.push(ExpectationResult {
            undecided: false,
            what: format!("the path {mark} is taken"),
            held: hits > 0,
            detail: format!("{hits} times"),
        });
    }
    if sc.expect.ops_ok_at_least > 0 {
        let ok = op_counts(out).0;
        expectations.push(ExpectationResult {
            undecided: false,
            what: format!("at least {} operations succeed", sc.expect.ops_ok_at_least),
            held: ok >= sc.expect.ops_ok_at_least,
            detail: format!("{ok} succeeded"),
        });
    }
    if let Some(stop) = &out.stopped {
        for e in expectations[to_come..].iter_mut().filter(|e| !e.held) {
            e.undecided = true;
            e.detail = format!("not judged: {}; {}", stopped_text(stop), e.detail);
        }
    }
    Judgement {
        verdicts,
        expectations,
    }
}

/// The protocol a coverage mark belongs to (`zab.sync_trunc`: zab), when that is not
/// `protocol`: a run of `protocol` cannot take it, and does not judge it.
pub fn mark_of_another_protocol<'m>(mark: &'m str, protocol: &str) -> Option<&'m str> {
    mark.split_once('.')
        .map(|(owner, _)| owner)
        .filter(|&owner| owner != protocol)
}

/// The verdict a run stopped by a protocol's own assertion fails (listed first, and only
/// then).
pub const ASSERTIONS: &str = "assertions";

fn stopped_text(stop: &crate::sim::Stop) -> String {
    format!(
        "the run stopped at {}, on n{}'s own assertion",
        secs(stop.at_ns),
        stop.node
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #13: a healthy history takes about a step per operation, so the budget
    /// grows with the history past the fixed one, and is never below it.
    #[test]
    fn the_linearizability_budget_grows_with_the_history_past_the_fixed_one() {
        assert_eq!(linearizability_steps(0), LINEARIZABILITY_STEPS);
        assert_eq!(linearizability_steps(1_000_000), LINEARIZABILITY_STEPS);
        assert_eq!(
            linearizability_steps(10_000_000),
            10_000_000 * LINEARIZABILITY_STEPS_PER_OP
        );
    }
}
