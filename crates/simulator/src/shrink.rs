//! Shrinking a failing run to something a person can read: delta debugging (Zeller's
//! ddmin) over the fault schedule, then a shorter duration, fewer clients and operations,
//! and, where it still fails, fewer nodes — keeping only changes after which the run fails
//! the same way (the same expectations fail).
//!
//! A run with a nemesis is first turned into an explicit schedule of the faults it
//! applied. Every concern draws from its own random stream, so removing the nemesis stream
//! leaves the network, workload and timer draws as they were: the explicit run is the
//! same run.

use crate::scenario::{Fault, NodeSel, Scenario, ScheduledFault};
use crate::sim::RunOutput;
use std::time::Duration;

/// The scenario that replays `out`'s faults explicitly, without a nemesis. Each fault is
/// written as it was applied: a selector as the node it resolved to, a `corrupt` with the
/// record it chose (`pick`), so the schedule draws nothing from the fault stream.
pub fn explicit(sc: &Scenario, out: &RunOutput) -> Scenario {
    let mut explicit = sc.clone();
    explicit.nemesis = None;
    explicit.faults = out
        .faults
        .iter()
        .map(|f| {
            let mut fault = f.fault.clone();
            if let (Some(id), Some(node)) = (f.node, fault.node_mut()) {
                *node = NodeSel::Id(id);
            }
            ScheduledFault {
                at: Duration::from_nanos(f.at_ns),
                fault,
            }
        })
        .collect();
    // The scenario's text is what a saved trace embeds and replay re-runs: it must be this
    // schedule's, not the nemesis file it came from.
    explicit.source = explicit.to_toml();
    explicit
}

/// Progress of a shrink, for the caller to report.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub runs: u64,
    pub accepted: u64,
}

/// How big a failing run is, as a person reading its trace sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub events: u64,
    pub operations: u64,
}

impl Size {
    /// No bigger than `other` in any measure.
    pub fn fits_in(self, other: Size) -> bool {
        self.events <= other.events && self.operations <= other.operations
    }
}

/// Shrinks `start` (whose run has size `start_size`) while `fails` says a candidate still
/// fails the same way, giving its run's size, trying at most `max_runs` candidates. A
/// candidate is kept only if its run is no bigger in events or operations than the
/// original (removing a crash can make a run busier), so the result is never bigger in any
/// measure, and smaller in faults, time, clients or nodes.
/// Candidates are re-validated through their TOML form, so the result is always a
/// scenario file a user could have written.
pub fn shrink(
    start: Scenario,
    start_size: Size,
    max_runs: u64,
    mut fails: impl FnMut(&Scenario) -> Option<Size>,
) -> (Scenario, Stats) {
    let mut stats = Stats::default();
    let mut best = start;
    let mut attempt = |candidate: Scenario, stats: &mut Stats| -> Option<Scenario> {
        if stats.runs >= max_runs {
            return None;
        }
        let candidate = Scenario::from_toml(&candidate.file, &candidate.to_toml()).ok()?;
        stats.runs += 1;
        match fails(&candidate) {
            Some(size) if size.fits_in(start_size) => {
                stats.accepted += 1;
                Some(candidate)
            }
            _ => None,
        }
    };
    // 0. An earlier end. Failures in a long random schedule usually happen early, and a
    // shorter run makes every later candidate cheaper: search for the earliest time t such
    // that the schedule cut at t (the faults before it, a final heal moved to t, and the
    // same quiet tail after) still fails.
    if let Some(last) = best.faults.iter().map(|f| f.at).max() {
        let (mut lo, mut hi) = (Duration::ZERO, last);
        // To a sixteenth of the schedule: ddmin below does the fine work.
        let resolution = (last / 16).max(Duration::from_millis(20));
        while hi.saturating_sub(lo) > resolution && stats.runs < max_runs {
            let mid = lo + (hi - lo) / 2;
            match attempt(cut_at(&best, mid), &mut stats) {
                Some(smaller) => {
                    best = smaller;
                    hi = mid;
                }
                None => lo = mid,
            }
        }
    }
    loop {
        let before = stats.accepted;
        // 1. ddmin over the fault schedule.
        let mut chunk = best.faults.len().div_ceil(2).max(1);
        while !best.faults.is_empty() && stats.runs < max_runs {
            let mut removed_any = false;
            let mut start_at = 0;
            while start_at < best.faults.len() {
                let mut candidate = best.clone();
                let end = (start_at + chunk).min(candidate.faults.len());
                candidate.faults.drain(start_at..end);
                match attempt(candidate, &mut stats) {
                    Some(smaller) => {
                        best = smaller;
                        removed_any = true;
                    }
                    None => start_at += chunk,
                }
            }
            if chunk == 1 && !removed_any {
                break;
            }
            if !removed_any {
                chunk = chunk.div_ceil(2);
            }
        }
        // 2. A shorter run: halve the time after the last fault while it still fails.
        let floor = best.faults.iter().map(|f| f.at).max().unwrap_or_default();
        let mut span = best.duration.saturating_sub(floor);
        while span > Duration::from_millis(10) && stats.runs < max_runs {
            span /= 2;
            let mut candidate = best.clone();
            // Whole milliseconds keep the shrunk file readable.
            candidate.duration = Duration::from_millis((floor + span).as_millis() as u64 + 1);
            candidate.workload.stop = candidate.workload.stop.min(candidate.duration);
            if let Some(smaller) = attempt(candidate, &mut stats) {
                best = smaller;
                span = best.duration.saturating_sub(floor);
            }
        }
        // 3. Fewer clients, then fewer operations (clients stop earlier).
        while best.workload.clients > 1 && stats.runs < max_runs {
            let mut candidate = best.clone();
            candidate.workload.clients /= 2;
            match attempt(candidate, &mut stats) {
                Some(smaller) => best = smaller,
                None => break,
            }
        }
        let mut window = best.workload.stop.saturating_sub(best.workload.start);
        while window > Duration::from_millis(50) && stats.runs < max_runs {
            window /= 2;
            let mut candidate = best.clone();
            candidate.workload.stop =
                Duration::from_millis((candidate.workload.start + window).as_millis() as u64 + 1);
            match attempt(candidate, &mut stats) {
                Some(smaller) => {
                    best = smaller;
                    window = best.workload.stop.saturating_sub(best.workload.start);
                }
                None => break,
            }
        }
        // 4. Fewer nodes, where it still fails.
        while best.nodes > 1 && stats.runs < max_runs {
            match attempt(without_last_node(&best), &mut stats) {
                Some(smaller) => best = smaller,
                None => break,
            }
        }
        if stats.accepted == before || stats.runs >= max_runs {
            return (best, stats);
        }
    }
}

/// The scenario ended early: the faults before `t`, its final heal (if the schedule ends
/// with one) moved to `t` with whatever came in the same instant after it (a node lost
/// for good at the final heal), and as long a quiet tail after the last fault as it had.
fn cut_at(sc: &Scenario, t: Duration) -> Scenario {
    let mut out = sc.clone();
    let last = sc.faults.iter().map(|f| f.at).max().unwrap_or_default();
    let tail = sc.duration.saturating_sub(last);
    let final_heal = sc
        .faults
        .iter()
        .rposition(|f| f.at == last && matches!(f.fault, Fault::HealAll));
    let ending: Vec<ScheduledFault> = final_heal
        .map(|i| {
            sc.faults[i..]
                .iter()
                .filter(|f| f.at == last)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    out.faults.retain(|f| f.at < t);
    for mut f in ending {
        f.at = t;
        out.faults.push(f);
    }
    let end = out.faults.iter().map(|f| f.at).max().unwrap_or(t);
    // Whole milliseconds keep the shrunk file readable.
    out.duration = Duration::from_millis((end + tail).as_millis() as u64 + 1).min(sc.duration);
    out.workload.stop = out.workload.stop.min(out.duration);
    out
}

/// The scenario with its highest-numbered node gone: faults and expectations that name it
/// lose it, and faults left with nothing to act on are dropped.
fn without_last_node(sc: &Scenario) -> Scenario {
    let gone = sc.nodes;
    let mut out = sc.clone();
    out.nodes -= 1;
    out.options.observers = out.options.observers.min(out.nodes.saturating_sub(1));
    out.workload.read_only_at.retain(|&n| n != gone);
    let keep = |v: &mut Vec<u32>| v.retain(|&n| n != gone);
    out.faults.retain_mut(|f| match &mut f.fault {
        Fault::Partition { groups } => {
            groups.iter_mut().for_each(keep);
            groups.retain(|g| !g.is_empty());
            groups.len() > 1
        }
        Fault::Bridge { groups, bridge } => {
            groups.iter_mut().for_each(keep);
            *bridge != gone && groups.iter().all(|g| !g.is_empty())
        }
        Fault::OneWay { from, to } | Fault::Clog { from, to } => {
            keep(from);
            keep(to);
            !from.is_empty() && !to.is_empty()
        }
        other => other.node() != Some(NodeSel::Id(gone)),
    });
    for w in out
        .expect
        .no_new_leader
        .iter_mut()
        .chain(out.expect.no_commit.iter_mut())
    {
        keep(&mut w.nodes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(faults: usize) -> Scenario {
        let mut text =
            String::from("name = \"s\"\nprotocol = \"raft\"\nnodes = 5\nduration = \"20s\"\n");
        for k in 0..faults {
            text.push_str(&format!(
                "[[faults]]\nat = \"{}s\"\nkind = \"crash\"\nnode = {}\n",
                k + 1,
                k % 5 + 1
            ));
        }
        Scenario::from_toml("s.toml", &text).unwrap()
    }

    #[test]
    fn an_earlier_end_keeps_the_final_heal_and_the_loss_that_came_with_it() {
        let text = "name = \"s\"\nprotocol = \"raft\"\nnodes = 5\nduration = \"15s\"\n\
            faults = [{ at = \"1s\", kind = \"crash\", node = 1 }, \
            { at = \"6s\", kind = \"crash\", node = 2 }, \
            { at = \"8s\", kind = \"heal_all\" }, { at = \"8s\", kind = \"lose\", node = 3 }]\n";
        let sc = Scenario::from_toml("s.toml", text).unwrap();
        let cut = cut_at(&sc, Duration::from_secs(4));
        let kept: Vec<(Duration, &str)> =
            cut.faults.iter().map(|f| (f.at, f.fault.name())).collect();
        let at = |s| Duration::from_secs(s);
        assert_eq!(
            kept,
            [(at(1), "crash"), (at(4), "heal_all"), (at(4), "lose")]
        );
        assert_eq!(
            cut.duration,
            Duration::from_millis(11_001),
            "the same 7 s tail"
        );
        let again = Scenario::from_toml("s.toml", &cut.to_toml()).unwrap();
        assert_eq!(
            again.faults, cut.faults,
            "a lose survives the TOML round trip"
        );
    }

    #[test]
    fn ddmin_finds_the_one_fault_that_matters_among_many() {
        // The "bug" needs the crash at 7s and nothing else.
        let culprit = Duration::from_secs(7);
        let (small, stats) = shrink(scenario(12), Size::default(), 500, |sc| {
            sc.faults
                .iter()
                .any(|f| {
                    f.at == culprit
                        && f.fault
                            == Fault::Crash {
                                node: NodeSel::Id(2),
                            }
                })
                .then_some(Size::default())
        });
        assert_eq!(small.faults.len(), 1, "{:?}", small.faults);
        assert_eq!(small.faults[0].at, culprit);
        assert!(
            small.duration < Duration::from_secs(20),
            "the run should have been shortened"
        );
        assert_eq!(small.workload.clients, 1);
        assert_eq!(small.nodes, 2, "n2 is needed, n3..n5 are not");
        assert!(stats.runs < 500);
    }

    #[test]
    fn a_scenario_that_stops_failing_is_never_accepted() {
        let (same, stats) = shrink(scenario(3), Size::default(), 100, |_| None);
        assert_eq!(same.faults.len(), 3);
        assert_eq!(stats.accepted, 0);
    }

    #[test]
    fn removing_a_node_drops_it_from_groups_and_drops_faults_on_it() {
        let text = "name = \"s\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"5s\"\n\
            [[faults]]\nat = \"1s\"\nkind = \"partition\"\ngroups = [[1], [2, 3]]\n\
            [[faults]]\nat = \"2s\"\nkind = \"crash\"\nnode = 3\n";
        let sc = Scenario::from_toml("s.toml", text).unwrap();
        let smaller = without_last_node(&sc);
        assert_eq!(smaller.nodes, 2);
        assert_eq!(smaller.faults.len(), 1);
        assert_eq!(
            smaller.faults[0].fault,
            Fault::Partition {
                groups: vec![vec![1], vec![2]]
            }
        );
    }
}
