//! The disruption checker (issue #11, point 2): the two mutants that depose a working
//! leader, which no safety checker sees, fail it on their tailored scenarios while the
//! correct protocol passes the same seeds. (Their finds in the general swarm campaign are
//! replayed, with and without the mutant, by tests/swarm_finds.rs.)

mod common;

use checker::safety::Outcome;
use sim::hunt;
use simulator::judge::judge;
use simulator::Scenario;

fn load(path: &str) -> Scenario {
    Scenario::load(&common::root().join(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// The `disruption` verdict of `sc` (drawn for `protocol` when it is a swarm) at `seed`.
fn disruption(sc: &Scenario, protocol: &str, bugs: &[&str], seed: u64) -> (Outcome, String) {
    let bugs: Vec<String> = bugs.iter().map(|b| b.to_string()).collect();
    let options = hunt::campaign_options(&bugs, seed, false);
    let (world, out) = hunt::run_world(protocol, sc, &options)
        .unwrap_or_else(|_| panic!("{protocol} seed {seed} runs"));
    let v = judge(&world, &out)
        .verdict("disruption")
        .expect("every run gets a disruption verdict")
        .clone();
    (v.result, v.detail)
}

#[test]
fn a_follower_that_grants_votes_while_it_hears_the_leader_is_caught_and_the_correct_raft_passes() {
    // Raft thesis §4.2.3: a bridge partition (one link cut) and a node that grants
    // (pre)votes while it still hears the leader.
    let sc = load("scenarios/mutants/one_link_cut.toml");
    let (with, why) = disruption(&sc, "raft", &["raft.no_vote_fence"], 1);
    assert_eq!(with, Outcome::Fail, "{why}");
    assert!(
        why.starts_with("n1 took office in term 2 at 2.212s while n3, leader of term 1"),
        "{why}"
    );
    assert!(why.contains("n2 (heard it since"), "{why}");
    assert_eq!(disruption(&sc, "raft", &[], 1).0, Outcome::Pass);
}

#[test]
fn a_followed_leader_that_hands_over_instead_of_boosting_is_caught_and_the_correct_paxos_passes() {
    // PML §5.2: n5 returns from a partition with a high round; the leader a majority
    // follows must raise its own ballot, not go passive.
    let sc = load("scenarios/paxos_lagging_replica.toml");
    let (with, why) = disruption(&sc, "paxos", &["paxos.no_ballot_boost"], 1);
    assert_eq!(with, Outcome::Fail, "{why}");
    assert!(why.starts_with("n5 took office"), "{why}");
    assert!(
        why.contains("left office at 10.008s without standing again"),
        "{why}"
    );
    assert_eq!(disruption(&sc, "paxos", &[], 1).0, Outcome::Pass);
}

#[test]
fn a_configuration_without_a_vote_fence_is_not_judged() {
    // partition_3_3 runs Raft without pre-vote, check-quorum or lease reads.
    let sc = load("scenarios/partition_3_3.toml");
    let (v, why) = disruption(&sc, "raft", &[], 1);
    assert_eq!(v, Outcome::Pass);
    assert!(why.starts_with("not judged"), "{why}");
}
