//! Replication and commitment: Raft §5.3, §5.4.2, thesis §3.6.2 (Figure 8), and the
//! mutants that break them.

mod common;

use common::*;
use protocol::{Config, Reply, Report, Role};
use raft::{
    AppendOutcome, Durable, Entry, Message, MAX_ENTRIES_PER_MESSAGE,
    PROBE_MISSES_BEFORE_COMMIT_INDEX,
};
use std::collections::BTreeMap;

fn entries(terms: &[u64]) -> Vec<Entry> {
    terms.iter().map(|&term| Entry::noop(term)).collect()
}

fn with_bug(mut cfg: Config, bug: &str) -> Config {
    cfg.bugs.insert(bug.to_string());
    cfg
}

#[test]
fn a_stale_leaders_uncommitted_entries_are_truncated_on_conflict() {
    // Raft §5.3: a follower deletes a conflicting entry and all that follow it.
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    c.isolate(n(1));
    let lost_a = c.client(n(1), write("x", 1));
    let lost_b = c.client(n(1), write("x", 2));
    assert_eq!(c.log_terms(n(1)), vec![1, 1, 1]);
    c.heal();
    c.isolate(n(1));
    c.heal_link(n(2), n(3));
    c.elect(n(2));
    let kept = c.client(n(2), write("x", 3));
    c.deliver_all();
    c.heal();
    c.fire_heartbeat(n(2));
    c.deliver_all();
    assert!(c.marked("raft.conflict_truncated"));
    assert_eq!(c.role(n(1)), (Role::Follower, 2));
    assert_eq!(c.log_terms(n(1)), vec![1, 2, 2]);
    assert_eq!(c.node(n(1)).log(), c.node(n(2)).log());
    // The deposed leader told its clients their writes may or may not have happened.
    for op in [lost_a, lost_b] {
        assert!(matches!(
            c.reply(op),
            Some(Reply::Error {
                maybe_applied: true,
                ..
            })
        ));
    }
    assert_eq!(c.reply(kept), Some(&Reply::Ok(protocol::OpResult::Written)));
    c.fire_heartbeat(n(2));
    c.deliver_all();
    assert_eq!(c.node(n(1)).kv().read("x"), Some(3));
}

/// n1 leads and has replicated [noop, a, b] to n2; the AppendEntries that carried `a`
/// is duplicated and the copy arrives after `b`. Returns the cluster and the copy.
fn reordered_append(cfg: Config) -> (Cluster, Envelope) {
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.client(n(1), write("a", 1));
    let carrying_a = c.hold(n(1), n(2), "AppendEntries");
    c.client(n(1), write("b", 2));
    c.inject(carrying_a.clone());
    c.deliver_all();
    assert_eq!(c.log_terms(n(2)), vec![1, 1, 1]);
    (c, carrying_a)
}

#[test]
fn a_reordered_old_append_entries_never_truncates_matching_entries() {
    // Raft §5.3: only a *conflicting* entry and those after it are deleted; an entry
    // that matches is kept, so a delayed duplicate cannot delete acknowledged entries.
    let (mut c, late_copy) = reordered_append(config(3));
    c.inject(late_copy);
    assert_eq!(c.log_terms(n(2)), vec![1, 1, 1]);
    assert!(!c.marked("raft.conflict_truncated"));
}

#[test]
fn mutant_truncate_without_conflict_drops_matching_entries_on_a_reordered_append() {
    let (mut c, late_copy) =
        reordered_append(with_bug(config(3), "raft.truncate_without_conflict"));
    c.inject(late_copy);
    assert_eq!(
        c.log_terms(n(2)),
        vec![1, 1],
        "entry 3 was acknowledged and dropped"
    );
    assert!(c.marked("raft.truncated_without_conflict"));
}

const BATCH: u64 = MAX_ENTRIES_PER_MESSAGE as u64;
/// Index of the leader's no-op in the Figure 8 transcript.
const NOOP: u64 = BATCH + 8;

/// Thesis §3.6.2, Figure 8, with 5 nodes. n1 (term 2 entries at 2..NOOP, shared with
/// n2) wins term 4 with n3 and n4; n5 holds a term-3 entry at index 2. n1 cannot reach
/// n2 or n5; its first batch to n3 and n4 carries BATCH old-term entries (up to index
/// BATCH + 1) but not its no-op, so a majority holds index BATCH + 1 of term 2.
fn figure_8(cfg: Config) -> Cluster {
    let mut old = vec![1];
    old.extend(vec![2; NOOP as usize - 2]);
    let mut durable = BTreeMap::new();
    for (id, log) in [
        (1, old.clone()),
        (2, old),
        (3, vec![1]),
        (4, vec![1]),
        (5, vec![1, 3]),
    ] {
        durable.insert(
            n(id),
            Durable {
                term: 3,
                voted_for: None,
                log: entries(&log),
                ..Default::default()
            },
        );
    }
    let mut c = Cluster::with_durable(cfg, durable);
    for other in [2, 5] {
        c.cut(n(1), n(other));
    }
    c.fire_election(n(1));
    // Votes and the probes (the first, at prevLogIndex NOOP - 1, is rejected by n3 and
    // n4); hold back any later message that would land the no-op.
    for _ in 0..20 {
        let delivered = c.deliver_where(|e| match &e.msg {
            Message::AppendEntries {
                prev_log_index,
                entries,
                ..
            } => *prev_log_index == NOOP - 1 || prev_log_index + (entries.len() as u64) < NOOP,
            _ => true,
        });
        if !delivered {
            break;
        }
    }
    assert_eq!(c.role(n(1)), (Role::Leader, 4));
    // At least the first batch of old entries, nothing of term 4 (with the mutant there
    // is no no-op, and every old entry arrives).
    for id in [3, 4] {
        let log = c.node(n(id)).log();
        assert!(log.len() as u64 > BATCH, "n{id}: {} entries", log.len());
        assert!(log.iter().all(|e| e.term < 4), "n{id} holds a term-4 entry");
    }
    c
}

/// n1 crashes before its no-op spreads; n5 wins term 5 (its last term 3 beats term 2)
/// and overwrites index 2 onward everywhere it reaches.
fn figure_8_continued(c: &mut Cluster) {
    c.net.clear();
    c.crash(n(1));
    c.heal();
    for other in [2, 3, 4, 5] {
        c.cut(n(1), n(other));
    }
    c.fire_election(n(5)); // term 4: n3, n4 already voted for n1
    c.deliver_all();
    c.fire_election(n(5));
    c.deliver_all();
    assert_eq!(c.role(n(5)), (Role::Leader, 5));
    c.fire_heartbeat(n(5));
    c.deliver_all();
}

#[test]
fn an_old_term_entry_on_a_majority_is_not_committed_by_counting() {
    // Thesis §3.6.2 (Figure 8): only current-term entries commit by counting replicas.
    let mut c = figure_8(config(5));
    assert!(c.marked("raft.prior_term_entry_not_committed_by_count"));
    assert_eq!(c.node(n(1)).commit_index(), 0);
    assert!(c.commits(n(1)).is_empty());
    figure_8_continued(&mut c);
    // The entries n5 overwrote were never reported committed by anyone.
    let mut at_two = c
        .reports
        .iter()
        .filter_map(|(_, r)| match r {
            Report::Commit { index: 2, term, .. } => Some(*term),
            _ => None,
        })
        .collect::<Vec<_>>();
    at_two.dedup();
    assert_eq!(at_two, vec![3]);
}

#[test]
fn mutant_commit_prior_term_by_count_commits_an_entry_that_is_later_overwritten() {
    let mut c = figure_8(with_bug(config(5), "raft.commit_prior_term_by_count"));
    assert!(c.marked("raft.committed_prior_term_by_count"));
    assert!(c.node(n(1)).commit_index() > BATCH);
    assert!(c.marked("raft.no_noop_on_election"));
    assert!(c.commits(n(1)).contains(&(2, 2, None)));
    figure_8_continued(&mut c);
    assert!(
        c.commits(n(5)).contains(&(2, 3, None)),
        "index 2 committed twice"
    );
}

/// n1 leads 3 nodes; its own write of a client entry is still in flight when n2's
/// acknowledgement arrives.
fn ack_before_own_write(cfg: Config) -> (Cluster, protocol::OpId) {
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.auto_write = false;
    let op = c.client(n(1), write("x", 1));
    assert_eq!(c.pending_writes(n(1)), 1);
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    c.complete_writes(n(2));
    assert!(c.deliver_kind(n(2), n(1), "AppendEntriesResp"));
    (c, op)
}

#[test]
fn the_leader_counts_its_own_entry_toward_the_quorum_only_once_it_is_durable() {
    // Raft §5.3 with thesis §10.2.1: the leader may write in parallel with replication,
    // but a commit counts only durable copies. Here {n1 (not durable), n2} is no quorum.
    let (mut c, op) = ack_before_own_write(config(3));
    assert_eq!(c.node(n(1)).commit_index(), 1);
    assert_eq!(c.reply(op), None);
    c.complete_writes(n(1));
    assert_eq!(c.node(n(1)).commit_index(), 2);
    assert_eq!(c.reply(op), Some(&Reply::Ok(protocol::OpResult::Written)));
}

#[test]
fn mutant_commit_before_self_persist_commits_on_a_copy_that_is_not_durable() {
    let (c, op) = ack_before_own_write(with_bug(config(3), "raft.commit_before_self_persist"));
    assert_eq!(c.node(n(1)).commit_index(), 2);
    assert_eq!(c.reply(op), Some(&Reply::Ok(protocol::OpResult::Written)));
}

#[test]
fn a_follower_acknowledges_entries_only_once_they_are_durable() {
    // Raft Figure 2: respond after persisting.
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    c.auto_write = false;
    c.client(n(1), write("x", 1));
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    assert_eq!(c.in_flight("AppendEntriesResp"), 0);
    c.complete_writes(n(2));
    assert_eq!(c.in_flight("AppendEntriesResp"), 1);
}

#[test]
fn mutant_commit_before_self_persist_lets_a_follower_acknowledge_before_its_write() {
    let mut c = Cluster::new(with_bug(config(3), "raft.commit_before_self_persist"));
    c.elect(n(1));
    c.auto_write = false;
    c.client(n(1), write("x", 1));
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    assert_eq!(c.in_flight("AppendEntriesResp"), 1);
    assert_eq!(c.pending_writes(n(2)), 1);
}

/// n3 holds a stale tail [1, 1, 1] from term 1; n1 leads term 2 with [1, 2, 2] committed
/// through 3. An AppendEntries that verifies only index 1 (a batch that stopped there)
/// arrives with leaderCommit 3.
fn stale_tail(cfg: Config) -> Cluster {
    let mut durable = BTreeMap::new();
    durable.insert(
        n(3),
        Durable {
            term: 1,
            voted_for: None,
            log: entries(&[1, 1, 1]),
            ..Default::default()
        },
    );
    let mut c = Cluster::with_durable(cfg, durable);
    c.inject(Envelope {
        from: n(1),
        to: n(3),
        msg: Message::AppendEntries {
            term: 2,
            prev_log_index: 1,
            prev_log_term: 1,
            entries: Vec::new(),
            leader_commit: 3,
            round: 1,
        },
    });
    c
}

#[test]
fn a_follower_commits_only_up_to_the_last_entry_the_message_verified() {
    // Raft Figure 2: commitIndex = min(leaderCommit, index of last new entry); entries
    // after prevLogIndex were not checked against the leader's log.
    let c = stale_tail(config(3));
    assert_eq!(c.node(n(3)).commit_index(), 1);
    assert_eq!(c.commits(n(3)), vec![(1, 1, None)]);
    let resp = c.net.last().expect("a reply");
    assert!(matches!(
        resp.msg,
        Message::AppendEntriesResp {
            outcome: AppendOutcome::Accepted { match_index: 1 },
            ..
        }
    ));
}

#[test]
fn mutant_follower_commit_beyond_verified_commits_a_stale_tail() {
    let c = stale_tail(with_bug(config(3), "raft.follower_commit_beyond_verified"));
    assert_eq!(c.node(n(3)).commit_index(), 3);
    assert_eq!(
        c.commits(n(3)),
        vec![(1, 1, None), (2, 1, None), (3, 1, None)]
    );
}

/// n3 holds `stale` and n1, n2 hold `current`, all at term `term`; n1 is elected without
/// n3 (term `term + 1`), then the links heal and n1 sends its first heartbeat.
fn diverged(term: u64, stale: &[u64], current: &[u64]) -> Cluster {
    let mut durable = BTreeMap::new();
    for (id, log) in [(1, current), (2, current), (3, stale)] {
        durable.insert(
            n(id),
            Durable {
                term,
                voted_for: None,
                log: entries(log),
                ..Default::default()
            },
        );
    }
    let mut c = Cluster::with_durable(config(3), durable);
    c.cut(n(3), n(1));
    c.elect(n(1));
    c.heal();
    c.fire_heartbeat(n(1));
    c
}

/// How many AppendEntries n3 rejected for a conflict.
fn rejections_by_n3(c: &Cluster) -> usize {
    c.reports
        .iter()
        .filter(|(who, r)| *who == n(3) && *r == Report::Mark("raft.append_rejected_conflict"))
        .count()
}

#[test]
fn the_leader_skips_a_whole_conflicting_term_when_backtracking() {
    // Thesis §5.3 (conflict hint): one rejection per conflicting term, not per entry.
    let mut long_stale = vec![1];
    long_stale.extend([2; 30]);
    let mut c = diverged(2, &long_stale, &[1, 1, 1]);
    c.deliver_all();
    assert_eq!(rejections_by_n3(&c), 1);
    assert_eq!(c.log_terms(n(3)), vec![1, 1, 1, 3]);
}

#[test]
fn a_follower_diverged_through_many_one_entry_terms_is_repaired_in_a_few_round_trips() {
    // Leaders deposed as they took office, nothing committed: n3's log and the others'
    // diverge after index 1 through forty one-entry terms each, interleaved (n3 holds the
    // even terms, n1 and n2 the odd ones). The hint skips one term per rejection, so the
    // walk alone would take forty round trips; after a few misses the leader resumes
    // after n3's commit index, which every leader's log holds.
    let odd: Vec<u64> = std::iter::once(1)
        .chain((1..40).map(|i| 2 * i + 1))
        .collect();
    let even: Vec<u64> = std::iter::once(1).chain((1..40).map(|i| 2 * i)).collect();
    let mut c = diverged(80, &even, &odd);
    // `deliver_all`, noting where each AppendEntries to n3 probes.
    let mut probes = Vec::new();
    loop {
        for id in [n(1), n(2), n(3)] {
            c.complete_writes(id);
        }
        if c.net.is_empty() {
            break;
        }
        let env = c.net.remove(0);
        if let (true, Message::AppendEntries { prev_log_index, .. }) = (env.to == n(3), &env.msg) {
            probes.push(*prev_log_index);
        }
        c.inject(env);
    }
    let rejections = rejections_by_n3(&c);
    let misses = PROBE_MISSES_BEFORE_COMMIT_INDEX as usize;
    assert_eq!(rejections, misses, "probes at {probes:?}");
    // At n1's last entry before its no-op, a term back by the hint at each miss, then
    // after n3's commit index (0: nothing committed).
    let mut expected: Vec<u64> = (0..misses as u64).map(|i| 40 - i).collect();
    expected.push(0);
    assert_eq!(probes[..=misses], expected[..]);
    assert_eq!(c.node(n(3)).log(), c.node(n(1)).log());
}

#[test]
fn the_leader_ships_at_most_a_window_of_unacknowledged_entries_to_a_follower() {
    // Flow control (etcd's inflight limit): a follower that stops answering is sent at
    // most MAX_UNACKED_ENTRIES beyond what it acknowledged, however long the log grows.
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    for v in 0..200 {
        c.client(n(1), write("x", v));
        while c.deliver_where(|e| e.from != n(3) && e.to != n(3)) {}
    }
    let shipped: usize = c
        .net
        .iter()
        .filter(|e| e.to == n(3))
        .map(|e| match &e.msg {
            Message::AppendEntries { entries, .. } => entries.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(shipped as u64, raft::MAX_UNACKED_ENTRIES);
    // Once it answers, the rest follows and it catches up.
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.node(n(3)).commit_index(), 201);
}
