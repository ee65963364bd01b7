//! Leadership and client commands: redirection, stepping down, and the epoch fence
//! (PAXOS.md pieces #5 and #12; PML §5.3).

mod common;

use common::*;
use protocol::{Reply, Role};

#[test]
fn a_follower_redirects_clients_to_the_leader_it_heard_from() {
    // A command is proposed by the leader only (PMMC: replicas send requests to leaders);
    // a follower names the leader it last heard, or none.
    let mut c = cluster(config(3));
    let before = c.client(n(2), write("x", 1));
    assert_eq!(c.reply(before), Some(&Reply::NotLeader { hint: None }));
    c.elect(n(1));
    let after = c.client(n(2), write("x", 1));
    assert_eq!(c.reply(after), Some(&Reply::NotLeader { hint: Some(n(1)) }));
}

#[test]
fn a_command_in_flight_when_its_leader_is_deposed_fails_and_never_returns_ok() {
    // PAXOS.md #12 (PML §5.3, epoch numbers): n1 took x=1 into slot 1, accepted only by
    // itself, and was cut off; n2's ballot chose x=2 in slot 1. When n1 hears of it, x=1
    // must fail — it was never applied — and never be reported done.
    let mut c = cluster(config(3));
    c.elect(n(1));
    let lost = c.client(n(1), write("x", 1));
    assert_eq!(c.drop_where(|e| e.msg.kind() == "Accept").len(), 2);
    c.isolate(n(1));
    c.outlast_fence();
    c.elect(n(2));
    let other = c.client(n(2), write("x", 2));
    c.deliver_all();
    c.heal();
    c.announce(n(2));
    assert!(c.marks(n(1)).contains(&"paxos.yielded_to_higher_ballot"));
    let replies = c.replies_to(lost);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(indeterminate(replies[0]), "{replies:?}");
    assert_eq!(c.applied(n(1)), vec![(1, Some(other))]);
    assert_eq!(c.node(n(1)).kv().read("x"), Some(2));
    assert!(!c.marked("paxos.ok_across_leadership_change"));
}

#[test]
fn a_leader_that_promises_a_higher_ballot_steps_down_and_its_command_is_indeterminate() {
    // PMMC A1 and PML §5.3: a leader's own acceptor promising a higher ballot ends its
    // leadership at once; its command fails as "maybe applied" — and here it is applied,
    // since its promise hands the value to the new leader (pmax).
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    let op = c.client(n(1), write("x", 1));
    assert_eq!(c.drop_where(|e| e.msg.kind() == "Accept").len(), 2);
    c.outlast_fence();
    c.fire_election(n(2));
    assert!(c.deliver_kind(n(2), n(1), "Prepare"));
    assert_eq!(c.role(n(1)).0, Role::Follower);
    assert!(c.node(n(1)).promised() > b1);
    let replies = c.replies_to(op);
    assert_eq!(replies.len(), 1);
    assert!(indeterminate(replies[0]), "{replies:?}");
    c.deliver_all();
    c.announce(n(2));
    for id in 1..=3 {
        assert_eq!(c.applied(n(id)), vec![(1, Some(op))], "n{id}");
    }
    assert_eq!(c.replies_to(op).len(), 1, "no second answer");
}

#[test]
fn a_preempted_candidate_waits_for_its_election_timer_before_trying_again() {
    // PMMC §3: the back-off applies to a candidate too; each Nack preempts at most once.
    let images = [(n(2), durable(0, ballot(4, 3), &[]))];
    let mut c = cluster_with(config(3), images.into_iter().collect());
    c.crash(n(3));
    c.fire_election(n(1));
    c.deliver_all();
    assert!(c.marked("paxos.preempted"));
    assert_eq!(c.role(n(1)).0, Role::Follower);
    assert_eq!(c.in_flight("Prepare"), 0);
    assert!(c.timer_set(n(1), paxos::TIMER_ELECTION));
    assert!(
        !c.timer_set(n(1), paxos::TIMER_HEARTBEAT),
        "no Prepare retry either"
    );
    assert_eq!(
        c.elect(n(1)),
        ballot(5, 1),
        "past the promise the Nack named"
    );
}
