//! Reads: through the log, ReadIndex (thesis §6.4), lease (thesis §6.4.1), local.

mod common;

use common::*;
use protocol::{Config, OpResult, ReadMode, Reply, Report, Role};
use raft::{AppendOutcome, Message, Raft};
use std::time::Duration;

fn with_mode(nodes: u32, mode: ReadMode) -> Config {
    let mut cfg = config(nodes);
    cfg.read_mode = mode;
    cfg
}

fn with_bug(mut cfg: Config, bug: &str) -> Config {
    cfg.bugs.insert(bug.to_string());
    cfg
}

fn is_vote(e: &Envelope) -> bool {
    matches!(
        e.msg,
        Message::RequestVote { .. } | Message::RequestVoteResp { .. }
    )
}

#[test]
fn a_read_in_log_mode_is_an_entry_answered_when_applied() {
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    c.client(n(1), write("x", 4));
    let op = c.client(n(1), read("x"));
    assert_eq!(c.reply(op), None);
    c.deliver_all();
    assert_eq!(c.reply(op), Some(&Reply::Ok(OpResult::Read(Some(4)))));
    assert!(c.commits(n(1)).contains(&(3, 1, Some(op))));
    assert!(!c
        .reports
        .iter()
        .any(|(_, r)| matches!(r, Report::ReadServed { .. })));
}

/// n1 led term 1 and committed x=1 (index 2) with n2's ack; n2 learned only commit 1.
/// n1 crashed; n2 won term 2 with n3's vote (n3's log is [1]); no AppendEntries of term
/// 2 has landed yet. A client reads x at n2; then n2's probes reach n3, which rejects
/// them (it lacks index 2) but so confirms n2's leadership for their rounds.
fn new_leader_reads_before_its_noop_commits(cfg: Config) -> (Cluster, protocol::OpId) {
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    let w = c.client(n(1), write("x", 1));
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    assert!(c.deliver_kind(n(2), n(1), "AppendEntriesResp"));
    assert_eq!(c.reply(w), Some(&Reply::Ok(OpResult::Written)));
    c.net.clear();
    c.crash(n(1));
    c.fire_election(n(2));
    while c.deliver_where(is_vote) {}
    assert_eq!(c.role(n(2)), (Role::Leader, 2));
    assert_eq!(c.node(n(2)).commit_index(), 1);
    let r = c.client(n(2), read("x"));
    let rejected_probe = |e: &Envelope| match &e.msg {
        Message::AppendEntries { prev_log_index, .. } => *prev_log_index == 2,
        Message::AppendEntriesResp { outcome, .. } => {
            matches!(outcome, AppendOutcome::Rejected { .. })
        }
        _ => false,
    };
    while c.deliver_where(rejected_probe) {}
    (c, r)
}

#[test]
fn read_index_waits_for_the_leaders_first_commit_in_its_term() {
    // Thesis §6.4: the commit index of a new leader may lag; it is current only once an
    // entry of its own term has committed.
    let (mut c, r) = new_leader_reads_before_its_noop_commits(with_mode(3, ReadMode::ReadIndex));
    assert!(c.marked("raft.read_index_waits_for_term_commit"));
    assert_eq!(c.reply(r), None);
    c.deliver_all();
    assert_eq!(c.reply(r), Some(&Reply::Ok(OpResult::Read(Some(1)))));
    // A quorum confirmed it: not a read on the leader's own authority.
    assert!(!c
        .reports
        .iter()
        .any(|(_, r)| matches!(r, Report::ReadServed { .. })));
}

#[test]
fn mutant_readindex_before_term_commit_serves_a_stale_read() {
    let (c, r) = new_leader_reads_before_its_noop_commits(with_bug(
        with_mode(3, ReadMode::ReadIndex),
        "raft.readindex_before_term_commit",
    ));
    assert_eq!(
        c.reply(r),
        Some(&Reply::Ok(OpResult::Read(None))),
        "x = 1 was acknowledged before this read began"
    );
}

#[test]
fn read_index_waits_for_a_quorum_heartbeat_round_started_after_the_read() {
    // Thesis §6.4 step 2: the leader confirms it still leads after the read arrived.
    let mut c = Cluster::new(with_mode(3, ReadMode::ReadIndex));
    c.elect(n(1));
    c.client(n(1), write("x", 2));
    c.deliver_all();
    let r = c.client(n(1), read("x"));
    assert_eq!(c.reply(r), None);
    assert_eq!(
        c.in_flight("AppendEntries"),
        2,
        "a round to confirm leadership"
    );
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    assert!(c.deliver_kind(n(2), n(1), "AppendEntriesResp"));
    assert_eq!(c.reply(r), Some(&Reply::Ok(OpResult::Read(Some(2)))));
}

#[test]
fn a_deposed_leader_never_answers_a_read_index_read_and_says_it_did_not_happen() {
    let mut c = Cluster::new(with_mode(3, ReadMode::ReadIndex));
    c.elect(n(1));
    c.deliver_all();
    c.isolate(n(1));
    let r = c.client(n(1), read("x"));
    let w = c.client(n(1), write("x", 9));
    c.fire_heartbeat(n(1));
    assert_eq!(c.reply(r), None);
    c.heal();
    c.isolate(n(1));
    c.heal_link(n(2), n(3));
    c.elect(n(2));
    c.heal();
    c.fire_heartbeat(n(2));
    c.deliver_all();
    assert_eq!(c.role(n(1)), (Role::Follower, 2));
    assert!(matches!(
        c.reply(r),
        Some(Reply::Error {
            maybe_applied: false,
            ..
        })
    ));
    assert!(matches!(
        c.reply(w),
        Some(Reply::Error {
            maybe_applied: true,
            ..
        })
    ));
}

/// n1 is elected at t0 with lease reads; returns the cluster and t0.
fn leased(cfg: Config) -> (Cluster, Duration) {
    let mut c = Cluster::new(cfg);
    // Freshly started nodes fence their votes for a minimum election timeout (see the
    // restart test below); an election timer never fires earlier anyway.
    c.advance(Duration::from_millis(150));
    let t0 = c.now;
    c.elect(n(1));
    c.deliver_all();
    (c, t0)
}

fn lease_until(c: &Cluster) -> Vec<protocol::LocalTime> {
    c.reports
        .iter()
        .filter_map(|(_, r)| match r {
            Report::Lease { term: 1, until } => Some(*until),
            _ => None,
        })
        .collect()
}

#[test]
fn lease_reads_are_served_within_the_lease_and_not_after_it() {
    // Thesis §6.4.1: the lease runs from the start of the last quorum-acked round for
    // the minimum election timeout shrunk by the drift bound (150ms * 0.95).
    let cfg = with_mode(3, ReadMode::Lease);
    let lease = protocol::lease_duration(&cfg);
    assert_eq!(lease, Duration::from_micros(142_500));
    let (mut c, t0) = leased(cfg);
    assert_eq!(
        lease_until(&c),
        vec![protocol::LocalTime::from_duration(t0 + lease)]
    );
    c.isolate(n(1));
    c.advance(Duration::from_millis(140));
    let inside = c.client(n(1), read("x"));
    assert_eq!(c.reply(inside), Some(&Reply::Ok(OpResult::Read(None))));
    assert!(c.reports.contains(&(n(1), Report::ReadServed { term: 1 })));
    c.advance(Duration::from_millis(5));
    let outside = c.client(n(1), read("x"));
    assert!(c.marked("raft.lease_read_fell_back_to_read_index"));
    assert_eq!(
        c.reply(outside),
        None,
        "cut off and out of lease: no answer"
    );
    c.heal();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.reply(outside), Some(&Reply::Ok(OpResult::Read(None))));
    assert!(
        lease_until(&c).len() >= 2,
        "the answered round extended the lease"
    );
}

#[test]
fn mutant_lease_no_drift_margin_serves_reads_past_the_drift_safe_lease() {
    let cfg = with_bug(with_mode(3, ReadMode::Lease), "raft.lease_no_drift_margin");
    let (mut c, t0) = leased(cfg);
    assert_eq!(
        lease_until(&c),
        vec![protocol::LocalTime::from_duration(
            t0 + Duration::from_millis(150)
        )]
    );
    c.isolate(n(1));
    c.advance(Duration::from_millis(145));
    let late = c.client(n(1), read("x"));
    assert_eq!(c.reply(late), Some(&Reply::Ok(OpResult::Read(None))));
}

#[test]
fn local_reads_answer_at_once_from_a_possibly_stale_follower() {
    let mut c = Cluster::new(with_mode(3, ReadMode::Local));
    c.elect(n(1));
    c.isolate(n(3));
    c.client(n(1), write("x", 5));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    let fresh = c.client(n(2), read("x"));
    let stale = c.client(n(3), read("x"));
    assert_eq!(c.reply(fresh), Some(&Reply::Ok(OpResult::Read(Some(5)))));
    assert_eq!(c.reply(stale), Some(&Reply::Ok(OpResult::Read(None))));
}

#[test]
fn raft_rejects_read_modes_it_does_not_serve_and_observers() {
    use protocol::Protocol;
    let mut cfg = with_mode(3, ReadMode::Sync);
    assert_eq!(
        Raft::check_config(&cfg).unwrap_err().field,
        "workload.read_mode"
    );
    cfg.read_mode = ReadMode::Log;
    cfg.observers.push(n(4));
    assert_eq!(
        Raft::check_config(&cfg).unwrap_err().field,
        "nodes.observers"
    );
    let mut cfg = config(3);
    cfg.bugs.insert("raft.no_such_bug".into());
    assert!(Raft::check_config(&cfg)
        .unwrap_err()
        .message
        .contains("raft.no_such_bug"));
}

#[test]
fn with_leases_a_restarted_follower_grants_no_vote_for_an_election_timeout() {
    // Thesis §6.4.1: a lease holds only while the nodes that acknowledged it elect no
    // one else; a restart must not erase that promise.
    let (mut c, _) = leased(with_mode(3, ReadMode::Lease));
    c.crash(n(2));
    c.restart(n(2));
    c.isolate(n(1));
    c.fire_election(n(3));
    c.deliver_all();
    assert_eq!(c.role(n(3)), (Role::Candidate, 2));
    assert_eq!(c.role(n(2)), (Role::Follower, 1), "fenced: term unchanged");
    c.advance(Duration::from_millis(150));
    c.fire_election(n(3));
    c.deliver_all();
    assert_eq!(c.role(n(3)), (Role::Leader, 3));
}
