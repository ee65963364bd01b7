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
        assert_eq!(c.raft(n(i)).kv().read("x"), Some(7));
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
    assert!(c.deliver(n(1), n(2), "RequestVote"));
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
    assert!(c.deliver(n(1), n(2), "RequestVote"));
    c.net.clear();
    c.crash(n(2));
    c.restart(n(2));
    assert_eq!(c.raft(n(2)).voted_for(), Some(n(1)));
    c.fire_election(n(3)); // n3 also campaigns in term 1
    assert_eq!(c.role(n(3)), (Role::Candidate, 1));
    assert!(c.deliver(n(3), n(2), "RequestVote"));
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
    assert!(c.deliver(n(1), n(2), "PreVote"));
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
    c.cut.insert((n(1), n(3)));
    c.cut.insert((n(3), n(1)));
    c.fire_election(n(3));
    c.deliver_all();
    assert!(c.marked("raft.vote_fenced"));
    assert_eq!(c.role(n(2)), (Role::Follower, 1));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
    // Once the election timeout passes without the leader, the fence lifts.
    c.isolate(n(1));
    c.advance(Duration::from_millis(200));
    c.heal();
    c.cut.insert((n(1), n(3)));
    c.cut.insert((n(3), n(1)));
    c.cut.insert((n(1), n(2)));
    c.cut.insert((n(2), n(1)));
    c.fire_election(n(3));
    c.deliver_all();
    assert_eq!(c.role(n(3)), (Role::Leader, 3));
}

#[test]
fn a_single_node_cluster_elects_itself_and_commits_once_its_write_is_durable() {
    // Raft §5.2 with a quorum of one; the leader counts only its durable log.
    let mut c = Cluster::new(config(1));
    c.auto_write = false;
    c.fire_election(n(1));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
    let op = c.client(n(1), write("k", 3));
    assert_eq!(c.reply(op), None);
    c.complete_writes(n(1));
    assert_eq!(c.reply(op), Some(&Reply::Ok(protocol::OpResult::Written)));
}
