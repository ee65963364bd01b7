//! Elections: Raft §5.2, §5.4.1, thesis §4.2.3 (vote fence), §6.2 (check-quorum),
//! §9.6 (pre-vote).

mod common;

use common::*;
use protocol::{Reply, Report, Role};
use raft::{Message, TIMER_CHECK_QUORUM};
use std::time::Duration;

#[test]
fn a_leader_is_elected_and_replicates_a_write_to_every_node() {
    // Raft §5.2 (election) and §5.3 (replication): the leader's write commits and applies
    // everywhere once the followers hear the new commit index.
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    assert_eq!(c.role(n(2)), (Role::Follower, 1));
    assert!(c.reports.contains(&(
        n(1),
        Report::Role {
            role: Role::Leader,
            term: 1
        }
    )));
    let op = c.client(n(1), write("x", 7));
    c.deliver_all();
    assert_eq!(c.reply(op), Some(&Reply::Ok(protocol::OpResult::Written)));
    c.fire_heartbeat(n(1));
    c.deliver_all();
    for i in 1..=3 {
        assert_eq!(c.commits(n(i)), vec![(1, 1, None), (2, 1, Some(op))], "{i}");
        assert_eq!(c.node(n(i)).kv().read("x"), Some(7));
    }
}

#[test]
fn a_follower_redirects_clients_to_the_leader_it_knows() {
    // Raft §8: clients are redirected to the leader.
    let mut c = Cluster::new(config(3));
    let before = c.client(n(2), write("x", 1));
    assert_eq!(c.reply(before), Some(&Reply::NotLeader { hint: None }));
    c.elect(n(1));
    let op = c.client(n(2), write("x", 1));
    assert_eq!(c.reply(op), Some(&Reply::NotLeader { hint: Some(n(1)) }));
}

#[test]
fn a_vote_reply_never_leaves_before_the_vote_is_durable() {
    // Raft Figure 2: persistent state is updated on stable storage before responding.
    let mut c = Cluster::new(config(3));
    c.auto_write = false;
    c.fire_election(n(1));
    assert_eq!(
        c.in_flight("RequestVote"),
        0,
        "the candidate's own vote is not durable yet"
    );
    c.complete_writes(n(1));
    assert_eq!(c.in_flight("RequestVote"), 2);
    assert!(c.deliver_kind(n(1), n(2), "RequestVote"));
    assert!(c.reports.contains(&(
        n(2),
        Report::Vote {
            term: 1,
            candidate: n(1)
        }
    )));
    assert_eq!(
        c.in_flight("RequestVoteResp"),
        0,
        "the vote is still in flight to disk"
    );
    c.complete_writes(n(2));
    assert_eq!(c.in_flight("RequestVoteResp"), 1);
    assert_eq!(c.nodes[&n(2)].durable.voted_for, Some(n(1)));
}

#[test]
fn after_a_crash_a_node_still_refuses_a_second_vote_in_the_same_term() {
    // Raft §5.2: at most one vote per term, kept across crashes (votedFor is durable).
    let mut c = Cluster::new(config(3));
    c.fire_election(n(1));
    assert!(c.deliver_kind(n(1), n(2), "RequestVote"));
    c.net.clear();
    c.crash(n(2));
    c.restart(n(2));
    assert_eq!(c.node(n(2)).voted_for(), Some(n(1)));
    c.fire_election(n(3)); // n3 also campaigns in term 1
    assert_eq!(c.role(n(3)), (Role::Candidate, 1));
    assert!(c.deliver_kind(n(3), n(2), "RequestVote"));
    let resp = c.hold(n(2), n(3), "RequestVoteResp");
    assert_eq!(
        resp.msg,
        Message::RequestVoteResp {
            term: 1,
            granted: false
        }
    );
}

#[test]
fn a_node_denies_its_vote_to_a_candidate_with_a_less_up_to_date_log() {
    // Raft §5.4.1: the voter denies its vote if its own log is more up to date.
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    c.isolate(n(3));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    c.heal();
    // n3 missed the write; its campaign must fail although its term is higher.
    c.fire_election(n(3));
    c.deliver_all();
    assert_ne!(c.role(n(3)).0, Role::Leader);
    assert!(!c.reports.iter().any(|(who, r)| *who != n(3)
        && matches!(r, Report::Vote { candidate, .. } if *candidate == n(3))));
}

#[test]
fn pre_vote_keeps_a_partitioned_node_from_bumping_its_term() {
    // Thesis §9.6: a node that cannot win does not increment its term, so it does not
    // depose a healthy leader when it comes back.
    let mut cfg = config(3);
    cfg.pre_vote = true;
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.isolate(n(3));
    for _ in 0..5 {
        c.fire_election(n(3));
        assert_eq!(c.role(n(3)), (Role::PreCandidate, 1));
    }
    c.heal();
    c.fire_election(n(3));
    c.deliver_all();
    assert!(
        c.marked("raft.prevote_rejected"),
        "the cluster refused the pre-vote"
    );
    assert_eq!(
        c.role(n(1)),
        (Role::Leader, 1),
        "the leader was not disturbed"
    );
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.role(n(3)), (Role::Follower, 1));
}

#[test]
fn without_pre_vote_a_returning_partitioned_node_deposes_the_leader() {
    // The contrast to the test above (thesis §9.6 motivation).
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    c.isolate(n(3));
    for _ in 0..3 {
        c.fire_election(n(3));
    }
    assert_eq!(c.role(n(3)), (Role::Candidate, 4));
    c.heal();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.role(n(1)), (Role::Follower, 4));
}

#[test]
fn a_pre_vote_grant_carries_the_proposed_term_and_changes_no_term() {
    // Thesis §9.6 / etcd#8243: the reply carries the pre-candidate's proposed term.
    let mut cfg = config(3);
    cfg.pre_vote = true;
    let mut c = Cluster::new(cfg);
    c.fire_election(n(1));
    assert!(c.deliver_kind(n(1), n(2), "PreVote"));
    assert_eq!(c.role(n(2)), (Role::Follower, 0));
    let resp = c.hold(n(2), n(1), "PreVoteResp");
    assert_eq!(
        resp.msg,
        Message::PreVoteResp {
            term: 1,
            granted: true
        }
    );
    c.inject(resp);
    assert_eq!(c.role(n(1)), (Role::Candidate, 1));
}

#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    // Thesis §6.2: a leader that has not heard from a majority within an election
    // timeout steps down.
    let mut cfg = config(3);
    cfg.check_quorum = true;
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.fire(n(1), TIMER_CHECK_QUORUM);
    assert_eq!(c.role(n(1)), (Role::Leader, 1), "a majority answered");
    c.isolate(n(1));
    c.fire_heartbeat(n(1));
    c.fire(n(1), TIMER_CHECK_QUORUM);
    assert_eq!(c.role(n(1)), (Role::Follower, 1));
    assert!(c.marked("raft.leader_stepdown_check_quorum"));
}

#[test]
fn without_check_quorum_an_isolated_leader_keeps_leading() {
    let mut c = Cluster::new(config(3));
    c.elect(n(1));
    assert!(!c.timer_set(n(1), TIMER_CHECK_QUORUM));
    c.isolate(n(1));
    for _ in 0..10 {
        c.fire_heartbeat(n(1));
    }
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
}

#[test]
fn a_follower_that_heard_from_the_leader_within_the_election_timeout_ignores_votes() {
    // Thesis §4.2.3 (the vote fence): neither the term nor the vote changes.
    let mut cfg = config(3);
    cfg.check_quorum = true;
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    // One link cut: n3 no longer hears n1 and campaigns; n2 still hears n1.
    c.cut(n(1), n(3));
    c.fire_election(n(3));
    c.deliver_all();
    assert!(c.marked("raft.vote_fenced"));
    assert_eq!(c.role(n(2)), (Role::Follower, 1));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
    // Once the election timeout passes without the leader, the fence lifts.
    c.isolate(n(1));
    c.advance(Duration::from_millis(200));
    c.heal();
    c.cut(n(1), n(3));
    c.cut(n(1), n(2));
    c.fire_election(n(3));
    c.deliver_all();
    assert_eq!(c.role(n(3)), (Role::Leader, 3));
}

#[test]
fn a_single_node_cluster_elects_itself_once_its_vote_is_durable_and_commits_once_its_write_is() {
    // Raft §5.2 with a quorum of one; the leader counts only its durable log. Its own
    // vote is a quorum, but were it to lead before that vote is written, a crash would
    // lose term 1 and another node (after a membership change) could lead term 1 too.
    let mut c = Cluster::new(config(1));
    c.auto_write = false;
    c.fire_election(n(1));
    assert_eq!(c.role(n(1)), (Role::Candidate, 1));
    assert!(c.marked("raft.sole_voter_waits_for_its_vote_to_be_durable"));
    c.complete_write(n(1));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
    let op = c.client(n(1), write("k", 3));
    assert_eq!(c.reply(op), None);
    c.complete_writes(n(1));
    assert_eq!(c.reply(op), Some(&Reply::Ok(protocol::OpResult::Written)));
}

fn with_bug(mut cfg: protocol::Config, bug: &str) -> protocol::Config {
    cfg.bugs.insert(bug.to_string());
    cfg
}

/// n1 and n3 (logs [1, 1]) campaign in term 2; n2 (log [1]) votes for n1, n1 wins, and
/// its first AppendEntries reaches n2 (rejected: n2 lacks index 2, but n2 now knows its
/// leader); then n3's delayed RequestVote of term 2 reaches n2.
fn delayed_vote_after_leader_known(cfg: protocol::Config) -> Cluster {
    let mut durable = std::collections::BTreeMap::new();
    for (id, len) in [(1, 2), (2, 1), (3, 2)] {
        durable.insert(
            n(id),
            raft::Durable {
                term: 1,
                voted_for: None,
                log: vec![raft::Entry::noop(1); len],
                ..Default::default()
            },
        );
    }
    let mut c = Cluster::with_durable(cfg, durable);
    c.fire_election(n(1));
    c.fire_election(n(3));
    let late = c.hold(n(3), n(2), "RequestVote");
    assert!(c.deliver_kind(n(1), n(2), "RequestVote"));
    assert!(c.deliver_kind(n(2), n(1), "RequestVoteResp"));
    assert_eq!(c.role(n(1)), (Role::Leader, 2));
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    assert_eq!(c.node(n(2)).leader_hint(), Some(n(1)));
    c.inject(late);
    c.deliver_kind(n(2), n(3), "RequestVoteResp");
    c
}

#[test]
fn a_node_that_learns_its_terms_leader_keeps_its_vote() {
    // Raft §5.2: each server votes for at most one candidate in a given term.
    let c = delayed_vote_after_leader_known(config(3));
    assert_eq!(c.node(n(2)).voted_for(), Some(n(1)));
    assert_eq!(c.leaders_of_term(2), vec![n(1)]);
}

#[test]
fn mutant_forget_vote_on_leader_discovery_votes_twice_and_elects_two_leaders() {
    let c = delayed_vote_after_leader_known(with_bug(
        config(3),
        "raft.forget_vote_on_leader_discovery",
    ));
    assert!(c.marked("raft.vote_forgotten_on_leader_discovery"));
    assert_eq!(c.leaders_of_term(2), vec![n(1), n(3)]);
}

/// n2 votes for n1 in term 1 with writes held; returns whether the reply left before
/// the vote was durable; then n2 crashes (losing the write) and n3 asks in term 1.
fn vote_then_crash(cfg: protocol::Config) -> (Cluster, bool) {
    let mut c = Cluster::new(cfg);
    c.fire_election(n(1));
    c.auto_write = false;
    assert!(c.deliver_kind(n(1), n(2), "RequestVote"));
    let replied_early = c.in_flight("RequestVoteResp") == 1;
    c.crash(n(2));
    c.auto_write = true;
    c.restart(n(2));
    c.fire_election(n(3));
    assert!(c.deliver_kind(n(3), n(2), "RequestVote"));
    (c, replied_early)
}

#[test]
fn a_vote_lost_in_a_crash_was_never_announced() {
    // Raft Figure 2: the vote reply waits for the write, so a crash loses both.
    let (c, replied_early) = vote_then_crash(config(3));
    assert!(!replied_early);
    assert!(c.in_flight("RequestVoteResp") == 1);
    assert!(!c.net.iter().any(|e| e.from == n(2) && e.to == n(1)));
}

#[test]
fn mutant_vote_not_durable_answers_before_the_write_and_votes_again_after_restart() {
    let (c, replied_early) = vote_then_crash(with_bug(config(3), "raft.vote_not_durable"));
    assert!(replied_early, "the grant left with nothing durable");
    let grants: Vec<_> = c
        .reports
        .iter()
        .filter(|(who, r)| *who == n(2) && matches!(r, Report::Vote { term: 1, .. }))
        .collect();
    assert_eq!(grants.len(), 2, "two votes in term 1: {grants:?}");
}

/// n1 is at term 5 after failed campaigns, n2 and n3 at term 3 (all logs empty);
/// n1 runs a pre-vote.
fn pre_candidate_ahead_in_term(cfg: protocol::Config) -> Cluster {
    let mut durable = std::collections::BTreeMap::new();
    for (id, term) in [(1, 5), (2, 3), (3, 3)] {
        durable.insert(
            n(id),
            raft::Durable {
                term,
                voted_for: None,
                log: Vec::new(),
                ..Default::default()
            },
        );
    }
    let mut cfg = cfg;
    cfg.pre_vote = true;
    let mut c = Cluster::with_durable(cfg, durable);
    c.fire_election(n(1));
    c.deliver_all();
    c
}

#[test]
fn a_pre_candidate_ahead_in_term_still_wins_with_grants_carrying_its_proposed_term() {
    // Thesis §9.6 / etcd#8243: grants carry the proposed term, so they are not stale.
    let c = pre_candidate_ahead_in_term(config(3));
    assert_eq!(c.role(n(1)), (Role::Leader, 6));
}

#[test]
fn mutant_prevote_reply_local_term_leaves_the_pre_candidate_stuck() {
    let c = pre_candidate_ahead_in_term(with_bug(config(3), "raft.prevote_reply_local_term"));
    assert_eq!(c.role(n(1)), (Role::PreCandidate, 5));
    assert!(c.marked("raft.prevote_grant_ignored_as_stale"));
}

/// check-quorum on; n1 leads; the link n1-n3 is cut, so n3 campaigns while n2 still
/// hears from n1.
fn one_link_cut(cfg: protocol::Config) -> Cluster {
    let mut cfg = cfg;
    cfg.check_quorum = true;
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.cut(n(1), n(3));
    c.fire_election(n(3));
    c.deliver_all();
    c
}

#[test]
fn with_the_vote_fence_one_cut_link_does_not_depose_the_leader() {
    // Thesis §4.2.3: followers that heard from a leader recently ignore RequestVote.
    let c = one_link_cut(config(3));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
    assert_eq!(c.role(n(2)), (Role::Follower, 1));
}

#[test]
fn mutant_no_vote_fence_lets_the_cut_off_node_take_over() {
    let c = one_link_cut(with_bug(config(3), "raft.no_vote_fence"));
    assert!(!c.marked("raft.vote_fenced"));
    assert_eq!(c.role(n(3)), (Role::Leader, 2));
    assert_eq!(c.role(n(2)), (Role::Follower, 2));
}

#[test]
fn a_candidate_asks_again_the_peers_that_did_not_answer() {
    // Raft §5.1: RPCs are retried when no response arrives in time.
    let mut c = Cluster::new(config(3));
    c.fire_election(n(1));
    c.drop_where(|e| e.to == n(2));
    assert!(c.deliver_kind(n(1), n(3), "RequestVote"));
    c.drop_where(|_| true); // n3's grant is lost too
    c.fire_heartbeat(n(1));
    assert_eq!(c.in_flight("RequestVote"), 2);
    assert!(c.deliver_kind(n(1), n(2), "RequestVote"));
    assert!(c.deliver_kind(n(2), n(1), "RequestVoteResp"));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
}
