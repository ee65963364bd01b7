//! The safety checkers against the versions they replaced (issue #13), kept here as the
//! reference: those rescanned every reign for every lease and every pair of reigns, kept
//! a tree node per log index, and gathered every commit of every leader. On random
//! records of elections, step-downs, crashes, commits, applies, leases and reads, in
//! time order, each checker must give the same verdict in the same words.

use checker::safety::{self, NodeEvent, What};
use proptest::prelude::*;

/// The checkers as they were before issue #13 (commit 354dc84), unchanged.
mod reference {
    use checker::safety::{NodeEvent, Outcome, Verdict, What};
    use std::collections::BTreeMap;

    fn ms(ns: u64) -> String {
        if ns >= 1_000_000_000 {
            format!("{:.3}s", ns as f64 / 1e9)
        } else {
            format!("{:.3}ms", ns as f64 / 1e6)
        }
    }

    fn op_text(op: Option<u64>) -> String {
        op.map_or_else(|| "no-op".to_string(), |o| format!("op{o}"))
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
                What::Apply {
                    index, term, op, ..
                } => {
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
                What::Role { .. }
                | What::Accepted { .. }
                | What::Lease { .. }
                | What::ReadServed { .. } => continue,
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

    /// No acknowledged write is lost: every write (or successful cas) a client saw succeed
    /// must have been committed by some node by the end of the record. Together with
    /// `log_safety` (a committed index never changes its entry) this means it stays.
    /// `acked` lists (operation id, true time the client got its answer).
    pub fn acknowledged_writes(events: &[NodeEvent], acked: &[(u64, u64)]) -> Verdict {
        let committed: std::collections::BTreeSet<u64> = events
            .iter()
            .filter_map(|e| match e.what {
                What::Commit { op: Some(op), .. } | What::Apply { op: Some(op), .. } => Some(op),
                _ => None,
            })
            .collect();
        let lost: Vec<&(u64, u64)> = acked
            .iter()
            .filter(|(op, _)| !committed.contains(op))
            .collect();
        match lost.first() {
            None => Verdict::pass(format!("{} acknowledged writes, all committed", acked.len())),
            Some((op, at)) => Verdict::fail(format!(
                "{} acknowledged writes were never committed by any node; the first, op{op}, was acknowledged at {}",
                lost.len(),
                ms(*at)
            )),
        }
    }

    /// When a node acted as leader, from its `Role{leader}` report to its next role report or
    /// crash (or `end_ns`, the end of the run, for a reign still open then).
    #[derive(Clone, Debug)]
    struct Reign {
        node: u32,
        term: u64,
        from_ns: u64,
        until_ns: u64,
        /// Times it committed a new index or served a read without the log while leading.
        acts: Vec<(u64, &'static str)>,
    }

    /// A reign's act of answering a client on its own authority.
    const READ: &str = "served a read";

    fn reigns(events: &[NodeEvent], end_ns: u64) -> Vec<Reign> {
        let mut open: BTreeMap<u32, Reign> = BTreeMap::new();
        let mut done = Vec::new();
        let end = end_ns.max(events.last().map_or(0, |e| e.at_ns));
        let mut first_commit: BTreeMap<u64, u64> = BTreeMap::new();
        for e in events {
            match e.what {
                What::Role { leader, term } => {
                    if let Some(r) = open.remove(&e.node) {
                        done.push(Reign {
                            until_ns: e.at_ns,
                            ..r
                        });
                    }
                    if leader {
                        open.insert(
                            e.node,
                            Reign {
                                node: e.node,
                                term,
                                from_ns: e.at_ns,
                                until_ns: end,
                                acts: Vec::new(),
                            },
                        );
                    }
                }
                What::Crash => {
                    if let Some(r) = open.remove(&e.node) {
                        done.push(Reign {
                            until_ns: e.at_ns,
                            ..r
                        });
                    }
                }
                What::Commit { index, .. } => {
                    // Only a commit of an index nobody had committed before is an act of
                    // leadership; learning an old commit is not.
                    if first_commit.insert(index, e.at_ns).is_none() {
                        if let Some(r) = open.get_mut(&e.node) {
                            r.acts.push((e.at_ns, "committed"));
                        }
                    }
                }
                What::ReadServed { .. } => {
                    if let Some(r) = open.get_mut(&e.node) {
                        r.acts.push((e.at_ns, READ));
                    }
                }
                What::Apply { .. } | What::Accepted { .. } | What::Lease { .. } => {}
            }
        }
        done.extend(open.into_values());
        done.sort_by_key(|r| (r.from_ns, r.node));
        done
    }

    /// Split brain: a leader acts as one after it was deposed, or two leaders of one term both
    /// act.
    ///
    /// - A read answered on a leader's own authority (a lease or local read, `ReadServed`) is
    ///   split brain when a leader of a later term had already taken office: the reader was
    ///   deposed and did not know it, so the value it answered may already be overwritten
    ///   (thesis §6.4: a leader must know it still leads before it answers alone).
    /// - Two leaders of the *same* term that both commit a new index or serve such a read
    ///   while both lead are split brain too (Raft §5.2; `election_safety` reports the two
    ///   elections, this check that both acted).
    ///
    /// What is not: a deposed leader that has not noticed yet and does nothing, or commits. A
    /// deposed Raft leader may still learn, from acks already in flight, that an entry of its
    /// own term is on a majority and commit it (§5.4): that is true, and leader completeness
    /// puts the entry in every later leader's log. Commits that disagree are a log safety
    /// violation, which `log_safety` reports. Nor is the new leader's read while the old one
    /// commits: the new leader is the one that leads.
    pub fn split_brain(events: &[NodeEvent]) -> Verdict {
        // (true time, sentence) of the earliest violation found by either rule.
        let mut first: Option<(u64, String)> = None;
        // Rule 1, in event order (a leader that took office at the same true time but later in
        // the record had not yet deposed the reader).
        let mut leading: BTreeMap<u32, u64> = BTreeMap::new();
        let mut took_office: BTreeMap<(u64, u32), u64> = BTreeMap::new();
        for e in events {
            match e.what {
                What::Role { leader, term } => {
                    leading.remove(&e.node);
                    if leader {
                        leading.insert(e.node, term);
                        took_office.entry((term, e.node)).or_insert(e.at_ns);
                    }
                }
                What::Crash => {
                    leading.remove(&e.node);
                }
                What::ReadServed { .. } => {
                    let Some(&term) = leading.get(&e.node) else {
                        continue;
                    };
                    let deposer = took_office
                        .range((term + 1, 0)..)
                        .filter(|(&(_, node), _)| node != e.node)
                        .min_by_key(|(&(t, node), &at)| (at, t, node));
                    if let Some((&(later, node), &at)) = deposer {
                        first = Some((
                            e.at_ns,
                            format!(
                                "split brain: n{} (leader of term {term}) served a read on its own authority at {}, after n{node} became leader of term {later} at {}: it had been deposed",
                                e.node,
                                ms(e.at_ns),
                                ms(at)
                            ),
                        ));
                        break;
                    }
                }
                What::Commit { .. }
                | What::Apply { .. }
                | What::Accepted { .. }
                | What::Lease { .. } => {}
            }
        }
        // Rule 2: two leaders of one term, both acting while both lead. Acts happen at events,
        // so reigns need last no longer than the last event here.
        let reigns = reigns(events, 0);
        for (i, a) in reigns.iter().enumerate() {
            for b in &reigns[i + 1..] {
                if b.from_ns >= a.until_ns || a.node == b.node || a.term != b.term {
                    continue;
                }
                let (lo, hi) = (a.from_ns.max(b.from_ns), a.until_ns.min(b.until_ns));
                let within =
                    |r: &'_ Reign| r.acts.iter().find(|(t, _)| *t >= lo && *t <= hi).copied();
                if let Some(((ta, wa), (tb, wb))) = within(a).zip(within(b)) {
                    let at = ta.max(tb);
                    if first.as_ref().is_none_or(|(t, _)| at < *t) {
                        first = Some((
                            at,
                            format!(
                                "split brain between {} and {}: n{} (leader of term {}) {wa} at {} while n{} (leader of term {}) {wb} at {}",
                                ms(lo),
                                ms(hi),
                                a.node,
                                a.term,
                                ms(ta),
                                b.node,
                                b.term,
                                ms(tb)
                            ),
                        ));
                    }
                }
            }
        }
        match first {
            Some((_, detail)) => Verdict::fail(detail),
            None => Verdict::pass(format!(
                "{} leaderships, none acting at once with another",
                reigns.len()
            )),
        }
    }

    /// A read lease as the record holds it: held by `node` for `term` from the moment it was
    /// reported until the true time it ends, or until its holder reported another end for it,
    /// stepped down or crashed (whichever comes first).
    struct HeldLease {
        node: u32,
        term: u64,
        from_ns: u64,
        until_ns: u64,
    }

    /// Lease exclusivity in true time (thesis §6.4.1): no read lease of one term is held while
    /// a leader of a later term leads. Every lease interval is compared with every later
    /// leader's reign, whichever was recorded first: a leader elected inside a lease that still
    /// holds, and a lease taken or extended while a later leader already leads (a paused
    /// leader that resumes and counts acknowledgements queued during the pause) both fail,
    /// whether or not a read happens to be served in the overlap. Finds a lease bug before a
    /// stale read is observed. A lease holds while its holder leads: one that steps down (it
    /// saw a higher term) or crashes serves no more reads from it, and may then vote for the
    /// next leader itself.
    pub fn lease_exclusivity(events: &[NodeEvent]) -> Verdict {
        let mut held: Vec<HeldLease> = Vec::new();
        // (node, term) -> its latest report in `held`, while it may still hold.
        let mut open: BTreeMap<(u32, u64), usize> = BTreeMap::new();
        // The term each node leads (None: it reported that it does not lead, or crashed).
        let mut leads: BTreeMap<u32, Option<u64>> = BTreeMap::new();
        for e in events {
            match e.what {
                What::Lease { term, until_ns } => {
                    // A report about a lease its holder no longer leads by is not a lease (the
                    // simulator re-times the lease a node last took when its clock changes,
                    // even after it stepped down). A node that never said its role is taken
                    // at its word.
                    if leads.get(&e.node).is_some_and(|&t| t != Some(term)) {
                        continue;
                    }
                    // A later report replaces an earlier one: an extension moves the end later,
                    // a clock step can move it either way.
                    if let Some(i) = open.insert((e.node, term), held.len()) {
                        held[i].until_ns = held[i].until_ns.min(e.at_ns);
                    }
                    held.push(HeldLease {
                        node: e.node,
                        term,
                        from_ns: e.at_ns,
                        until_ns,
                    });
                }
                What::Crash | What::Role { .. } => {
                    // A crashed node's lease dies with its memory of it; a deposed leader's
                    // with its leadership.
                    let keep = match e.what {
                        What::Role { leader: true, term } => Some(term),
                        _ => None,
                    };
                    leads.insert(e.node, keep);
                    open.retain(|&(node, t), &mut i| {
                        let ends = node == e.node && keep != Some(t);
                        if ends {
                            held[i].until_ns = held[i].until_ns.min(e.at_ns);
                        }
                        !ends
                    });
                }
                _ => {}
            }
        }
        // An open reign lasts for ever: a lease reported at the record's last event still
        // overlaps it.
        let reigns = reigns(events, u64::MAX);
        // (start of the overlap, sentence) of the earliest clash.
        let mut first: Option<(u64, String)> = None;
        for lease in held.iter().filter(|l| l.until_ns > l.from_ns) {
            for r in &reigns {
                if r.node == lease.node || r.term <= lease.term || r.from_ns >= lease.until_ns {
                    continue;
                }
                let elected_inside = lease.from_ns <= r.from_ns;
                if !elected_inside && r.until_ns <= lease.from_ns {
                    continue;
                }
                let at = lease.from_ns.max(r.from_ns);
                if first.as_ref().is_some_and(|(t, _)| *t <= at) {
                    continue;
                }
                let detail = if elected_inside {
                    format!(
                        "n{} became leader of term {} at {} while n{}'s lease for term {} held until {}",
                        r.node,
                        r.term,
                        ms(r.from_ns),
                        lease.node,
                        lease.term,
                        ms(lease.until_ns)
                    )
                } else {
                    format!(
                        "n{} extended its lease for term {} at {} to {}, while n{} had led term {} since {}",
                        lease.node,
                        lease.term,
                        ms(lease.from_ns),
                        ms(lease.until_ns),
                        r.node,
                        r.term,
                        ms(r.from_ns)
                    )
                };
                first = Some((at, detail));
            }
        }
        if let Some((_, detail)) = first {
            return Verdict::fail(detail);
        }
        if held.is_empty() {
            Verdict::pass("no leases were taken")
        } else {
            Verdict::pass(format!(
                "{} lease extensions, none overlapping a later leader",
                held.len()
            ))
        }
    }

    /// Liveness after the last fault heals: by `heal_ns + within_ns` some node acts as leader,
    /// and an operation invoked at or after `heal_ns` completed successfully. `ops` holds each
    /// operation's invocation time and, if it succeeded, its completion time. Unknown when the
    /// record ends before the bound.
    pub fn liveness(
        events: &[NodeEvent],
        ops: &[(u64, Option<u64>)],
        heal_ns: u64,
        within_ns: u64,
        end_ns: u64,
    ) -> Verdict {
        let deadline = heal_ns.saturating_add(within_ns);
        if deadline > end_ns {
            return Verdict {
                result: Outcome::Unknown,
                detail: format!(
                    "unknown: the run ended at {}, before the bound {} ({} after the last heal at {})",
                    ms(end_ns),
                    ms(deadline),
                    ms(within_ns),
                    ms(heal_ns)
                ),
            };
        }
        // Prefer a leader elected after the heal over one left from before it (which may be
        // deposed without knowing it yet). A reign nothing ended lasts to the end of the run,
        // however long ago its last reported event (a read-only workload commits nothing).
        let all = reigns(events, end_ns);
        let leading = all
            .iter()
            .rev()
            .find(|r| r.from_ns >= heal_ns && r.from_ns <= deadline)
            .or_else(|| {
                all.iter()
                    .find(|r| r.until_ns > heal_ns && r.from_ns <= deadline)
            })
            .cloned();
        let Some(leader) = leading else {
            return Verdict::fail(format!(
                "no node acted as leader between the last heal at {} and {}",
                ms(heal_ns),
                ms(deadline)
            ));
        };
        if ops.is_empty() {
            return Verdict::pass(format!(
                "n{} led term {} after the last heal; no operations to complete",
                leader.node, leader.term
            ));
        }
        let first = ops
            .iter()
            .filter(|(invoked, _)| *invoked >= heal_ns)
            .filter_map(|(_, done)| *done)
            .min();
        match first {
            Some(t) if t <= deadline => Verdict::pass(format!(
                "n{} led term {} after the last heal at {}; the first new operation completed {} later",
                leader.node,
                leader.term,
                ms(heal_ns),
                ms(t - heal_ns)
            )),
            Some(t) => Verdict::fail(format!(
                "the first operation invoked after the last heal at {} completed only at {}, past the bound {}",
                ms(heal_ns),
                ms(t),
                ms(deadline)
            )),
            None => Verdict::fail(format!(
                "no operation invoked after the last heal at {} completed (bound {})",
                ms(heal_ns),
                ms(deadline)
            )),
        }
    }
}

/// A log position: a Raft-like index, or (one record in three) a ZAB-like zxid with the
/// epoch in the high 32 bits, so that positions are sparse as well as dense.
fn position(zxid: bool, epoch: u64, counter: u64) -> u64 {
    if zxid {
        epoch << 32 | counter
    } else {
        counter
    }
}

/// Random records: up to four nodes taking office in a few terms (two in one term now
/// and then), stepping down, crashing, committing and applying a small set of positions
/// (now and then a different entry, or backwards), taking leases and serving reads.
fn records() -> impl Strategy<Value = Vec<NodeEvent>> {
    // (time step, node, kind, term, position, op)
    let event = (0u64..30, 1u32..5, 0u8..10, 1u64..6, 1u64..14, 0u64..8);
    (any::<bool>(), prop::collection::vec(event, 0..120)).prop_map(|(zxid, spec)| {
        let mut at_ns = 0;
        spec.into_iter()
            .map(|(step, node, kind, term, counter, op)| {
                at_ns += step;
                let index = position(zxid, term, counter);
                let op = (op > 0).then_some(op);
                let what = match kind {
                    0 => What::Role { leader: true, term },
                    1 => What::Role {
                        leader: false,
                        term,
                    },
                    2 => What::Crash,
                    3 | 4 => What::Commit { index, term, op },
                    5 | 6 => What::Apply {
                        index,
                        term,
                        op,
                        state: None,
                    },
                    7 | 8 => What::Lease {
                        term,
                        until_ns: at_ns + 10 * counter,
                    },
                    _ => What::ReadServed { term },
                };
                NodeEvent { at_ns, node, what }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn log_safety_gives_the_references_verdict(events in records()) {
        prop_assert_eq!(safety::log_safety(&events, 0), reference::log_safety(&events));
    }

    #[test]
    fn acknowledged_writes_gives_the_references_verdict(
        events in records(),
        acked in prop::collection::vec((0u64..10, 0u64..3_000), 0..8),
    ) {
        prop_assert_eq!(
            safety::acknowledged_writes(&events, &acked),
            reference::acknowledged_writes(&events, &acked)
        );
    }

    #[test]
    fn split_brain_gives_the_references_verdict(events in records()) {
        prop_assert_eq!(safety::split_brain(&events), reference::split_brain(&events));
    }

    #[test]
    fn lease_exclusivity_gives_the_references_verdict(events in records()) {
        prop_assert_eq!(
            safety::lease_exclusivity(&events),
            reference::lease_exclusivity(&events)
        );
    }

    #[test]
    fn liveness_gives_the_references_verdict(
        events in records(),
        ops in prop::collection::vec((0u64..2_000, prop::option::of(0u64..1_000)), 0..6),
        heal_ns in 0u64..2_000,
        within_ns in 0u64..1_500,
        end_ns in 0u64..4_000,
    ) {
        // (invoked, completed after so long) as (invoked, completed at).
        let ops: Vec<(u64, Option<u64>)> =
            ops.into_iter().map(|(at, took)| (at, took.map(|t| at + t))).collect();
        prop_assert_eq!(
            safety::liveness(&events, &ops, heal_ns, within_ns, end_ns),
            reference::liveness(&events, &ops, heal_ns, within_ns, end_ns)
        );
    }
}
