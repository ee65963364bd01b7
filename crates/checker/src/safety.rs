//! Safety checks over what nodes reported about themselves: election safety (at most one
//! leader per term, epoch or ballot) and log safety (committed and applied entries agree
//! at every index across nodes, and a committed entry is never replaced).
//!
//! The input is a plain list of [`NodeEvent`]s in time order, so histories that did not
//! come from the simulator can be checked too. Each violation names the nodes, the term or
//! index, the times, and the first events that show it.

use std::collections::BTreeMap;
use std::fmt;

/// One thing a node said about itself, at a true time in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEvent {
    pub at_ns: u64,
    pub node: u32,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// The node now acts in `role` for `term`; `leader` is true when it acts as leader.
    Role { leader: bool, term: u64 },
    /// The node crashed (it no longer acts in any role).
    Crash,
    /// The node learned that the entry at `index` is committed.
    Commit { index: u64, term: u64, op: Option<u64> },
    /// The node applied the entry at `index`.
    Apply { index: u64, term: u64, op: Option<u64> },
}

/// A checker's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub result: Outcome,
    /// A sentence or a few: what was checked, or what went wrong and where.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Unknown,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.result.name(), self.detail)
    }
}

impl Verdict {
    pub fn pass(detail: impl Into<String>) -> Verdict {
        Verdict { result: Outcome::Pass, detail: detail.into() }
    }
    pub fn fail(detail: impl Into<String>) -> Verdict {
        Verdict { result: Outcome::Fail, detail: detail.into() }
    }
}

fn ms(ns: u64) -> String {
    format!("{:.3}ms", ns as f64 / 1e6)
}

fn op_text(op: Option<u64>) -> String {
    op.map_or_else(|| "no-op".to_string(), |o| format!("op{o}"))
}

/// Raft §5.2 / ZAB / Paxos: at most one node becomes leader of any one term.
pub fn election_safety(events: &[NodeEvent]) -> Verdict {
    let mut first_leader: BTreeMap<u64, (u32, u64)> = BTreeMap::new();
    let mut terms = 0usize;
    for e in events {
        if let What::Role { leader: true, term } = e.what {
            match first_leader.get(&term) {
                None => {
                    first_leader.insert(term, (e.node, e.at_ns));
                    terms += 1;
                }
                Some(&(node, at)) if node != e.node => {
                    return Verdict::fail(format!(
                        "two leaders in term {term}: n{node} became leader at {} and n{} at {}",
                        ms(at),
                        e.node,
                        ms(e.at_ns)
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Verdict::pass(format!("{terms} terms had a leader, each exactly one"))
}

/// State-machine safety and committed-never-lost: every node that commits or applies an
/// index agrees on the entry there (its term and operation) with the first node that
/// committed it; and each node applies indexes in increasing order (a restart may start
/// again from the beginning of its log).
pub fn log_safety(events: &[NodeEvent]) -> Verdict {
    // index -> (term, op, node, at, how) of the first commit or apply seen.
    let mut agreed: BTreeMap<u64, (u64, Option<u64>, u32, u64, &'static str)> = BTreeMap::new();
    let mut last_applied: BTreeMap<u32, u64> = BTreeMap::new();
    let mut applies = 0u64;
    for e in events {
        let (index, term, op, how) = match e.what {
            What::Commit { index, term, op } => (index, term, op, "committed"),
            What::Apply { index, term, op } => {
                let last = last_applied.entry(e.node).or_insert(0);
                if index <= *last && index != 0 {
                    return Verdict::fail(format!(
                        "n{} applied index {index} at {} after it had applied index {}: applies must go forward",
                        e.node,
                        ms(e.at_ns),
                        *last
                    ));
                }
                *last = index;
                applies += 1;
                (index, term, op, "applied")
            }
            What::Crash => {
                last_applied.remove(&e.node);
                continue;
            }
            What::Role { .. } => continue,
        };
        match agreed.get(&index) {
            None => {
                agreed.insert(index, (term, op, e.node, e.at_ns, how));
            }
            Some(&(t0, op0, n0, at0, how0)) if (t0, op0) != (term, op) => {
                return Verdict::fail(format!(
                    "logs diverge at index {index}: n{n0} {how0} {} of term {t0} at {}, but n{} {how} {} of term {term} at {}",
                    op_text(op0),
                    ms(at0),
                    e.node,
                    op_text(op),
                    ms(e.at_ns)
                ));
            }
            Some(_) => {}
        }
    }
    Verdict::pass(format!(
        "{} indexes committed or applied, {applies} applies, all nodes agree",
        agreed.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ns: u64, node: u32, what: What) -> NodeEvent {
        NodeEvent { at_ns, node, what }
    }

    #[test]
    fn two_leaders_in_one_term_fail_election_safety_and_name_both() {
        let events = vec![
            ev(1, 1, What::Role { leader: true, term: 2 }),
            ev(2, 1, What::Role { leader: false, term: 3 }),
            ev(3, 2, What::Role { leader: true, term: 3 }),
            ev(4, 3, What::Role { leader: true, term: 3 }),
        ];
        let v = election_safety(&events);
        assert_eq!(v.result, Outcome::Fail);
        assert!(v.detail.contains("term 3") && v.detail.contains("n2") && v.detail.contains("n3"), "{v}");
        assert_eq!(election_safety(&events[..3]).result, Outcome::Pass);
    }

    #[test]
    fn a_different_entry_at_a_committed_index_fails_log_safety() {
        let ok = vec![
            ev(1, 1, What::Commit { index: 1, term: 1, op: Some(7) }),
            ev(2, 2, What::Apply { index: 1, term: 1, op: Some(7) }),
        ];
        assert_eq!(log_safety(&ok).result, Outcome::Pass);
        let mut bad = ok.clone();
        bad.push(ev(3, 3, What::Apply { index: 1, term: 2, op: Some(9) }));
        let v = log_safety(&bad);
        assert_eq!(v.result, Outcome::Fail);
        assert!(v.detail.contains("index 1") && v.detail.contains("n3"), "{v}");
    }

    #[test]
    fn a_restarted_node_may_apply_its_log_again_but_never_backwards_while_up() {
        let restart = vec![
            ev(1, 1, What::Apply { index: 1, term: 1, op: None }),
            ev(2, 1, What::Crash),
            ev(3, 1, What::Apply { index: 1, term: 1, op: None }),
        ];
        assert_eq!(log_safety(&restart).result, Outcome::Pass);
        let backwards = vec![
            ev(1, 1, What::Apply { index: 2, term: 1, op: None }),
            ev(3, 1, What::Apply { index: 1, term: 1, op: None }),
        ];
        assert_eq!(log_safety(&backwards).result, Outcome::Fail);
    }
}
