//! Leadership and client commands: redirection, stepping down, and the epoch fence
//! (PAXOS.md pieces #5 and #12; PML §5.3).

mod common;

use common::*;
use paxos::Message;
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
fn a_leader_refuses_other_proposers_prepares_as_its_own_acceptor() {
    // PAXOS.md #5 (stable leader): the leader's own acceptor answers to the leader it is,
    // as a follower's does (the fence), so a proposer that lost touch with it cannot
    // collect the leader's promise.
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    c.outlast_fence();
    c.fire_election(n(2));
    assert!(c.deliver_kind(n(2), n(1), "Prepare"));
    assert!(c.marks(n(1)).contains(&"paxos.prepare_refused_by_leader"));
    assert!(
        c.in_flight_between(n(1), n(2)).is_empty(),
        "no Promise, no Nack"
    );
    assert_eq!(c.leads(n(1)), Some(b1));
    assert_eq!(c.node(n(1)).promised(), b1);
}

#[test]
fn a_leader_that_hears_of_a_higher_ballot_steps_down_and_its_command_is_indeterminate() {
    // PML §5.3: n1's x=1 is accepted by n3, then n1 is cut off from n2, which wins phase 1
    // with n3 and re-proposes x=1 (pmax). When n1 hears n2's heartbeat it steps down: x=1
    // fails as "maybe applied" — and it was applied, so a definite failure would be a lie.
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    let op = c.client(n(1), write("x", 1));
    assert!(c.deliver_kind(n(1), n(3), "Accept"));
    c.drop_where(|_| true);
    c.cut(n(1), n(2));
    c.outlast_fence();
    let b2 = c.elect(n(2));
    assert!(b2 > b1);
    assert_eq!(c.leads(n(1)), Some(b1), "n1 has not heard of b2");
    assert!(c.replies_to(op).is_empty());
    c.heal();
    c.announce(n(2));
    assert!(c.marks(n(1)).contains(&"paxos.yielded_to_higher_ballot"));
    assert_eq!(c.role(n(1)).0, Role::Follower);
    let replies = c.replies_to(op);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(indeterminate(replies[0]), "{replies:?}");
    for id in 1..=3 {
        assert_eq!(c.applied(n(id)), vec![(1, Some(op))], "n{id}");
    }
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

#[test]
fn a_command_whose_slot_a_later_ballot_filled_fails_definitely_though_its_leader_never_heard_of_it()
{
    // PAXOS.md #12 (PML §5.3): n1 leads (2, n1) and takes w into slot 2, but n2 leads
    // (3, n2) without n1's promise and chooses v there. n1 learns slot 2 from a catch-up
    // that a stale announcement of the first leader (1, n3) sets off, before it hears of
    // (3, n2) at all. w was never chosen and never will be (a later leader re-proposes a
    // value only in its own slot): the failure is definite, and never ok. The same
    // catch-up shows n1 a slot past every one it proposed, chosen: it steps down.
    let mut c = cluster(config(3));
    let b0 = c.elect(n(3));
    c.client(n(3), write("x", 1));
    c.drop_where(|e| e.to == n(1));
    c.deliver_kinds(&["Accept", "Accepted"]);
    let stale = c.hold(n(3), n(1), "Chosen");
    c.deliver_all();
    assert_eq!(c.node(n(1)).executed(), 0);

    // n1 leads (2, n1) with n2; nothing it sends arrives.
    c.outlast_fence();
    c.fire_election(n(1));
    c.drop_where(|e| e.to == n(3));
    c.deliver_kinds(&["Prepare", "Promise"]);
    let b1 = c.leads(n(1)).expect("n1 leads with n2's promise");
    let w = c.client(n(1), write("x", 2));
    c.drop_where(|_| true);
    c.isolate(n(1));

    // n3 restarts; n2 leads (3, n2) with it and chooses v in slot 2.
    c.crash(n(3));
    c.restart(n(3));
    c.outlast_fence();
    let b2 = c.elect(n(2));
    assert!(b0 < b1 && b1 < b2);
    let v = c.client(n(2), write("x", 3));
    let after = c.client(n(2), write("y", 1));
    c.deliver_all();
    c.announce(n(2));
    assert!(c.applied(n(3)).ends_with(&[(2, Some(v)), (3, Some(after))]));

    // The stale announcement of (1, n3) reaches n1, which asks n3 for what it lacks.
    c.heal_link(n(1), n(3));
    c.inject(stale);
    c.deliver_all();
    assert!(c
        .marks(n(1))
        .contains(&"paxos.pending_slot_taken_by_later_ballot"));
    assert_eq!(
        c.applied(n(1)),
        [(1, c.applied(n(2))[0].1), (2, Some(v)), (3, Some(after))]
    );
    // Slot 3 was never n1's to propose: a higher ballot chose it, so n1 leads no more.
    assert!(c
        .marks(n(1))
        .contains(&"paxos.leader_overtaken_by_chosen_slots"));
    assert_eq!(c.role(n(1)).0, Role::Follower);
    let replies = c.replies_to(w);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        matches!(
            replies[0],
            Reply::Error {
                maybe_applied: false,
                ..
            }
        ),
        "{replies:?}"
    );
}

#[test]
fn a_leader_a_boost_just_elected_boosts_again_when_the_returning_proposer_outbids_it() {
    // PML §5.2 (ballot boosting): n1 leads; n3, back from a partition, refuses n1 with a
    // promise raised by its lone elections, and n1 boosts with a new phase 1. Meanwhile
    // n3's timer fires again and its round reaches n1's new one with a higher node id.
    // n2's promise makes n1 leader; n3's refusal of that ballot arrives before n1's first
    // heartbeat round completes. The majority that promised answered n1 just now, so n1
    // is followed and boosts again rather than hand over to the node furthest behind
    // (paxos_lagging_replica.toml seed 145: n5 took office 200 ms after the heal).
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    c.send(
        n(3),
        n(1),
        Message::Nack {
            ballot: b1,
            promised: ballot(4, 3),
        },
    );
    assert!(c.marked("paxos.ballot_boosted"));
    c.complete_writes(n(1));
    assert!(c.deliver_kind(n(1), n(2), "Prepare"));
    assert!(c.deliver_kind(n(2), n(1), "Promise"));
    c.complete_writes(n(1));
    let b5 = c.leads(n(1)).expect("n1 leads again after its boost");
    assert_eq!(b5, ballot(5, 1));
    c.send(
        n(3),
        n(1),
        Message::Nack {
            ballot: b5,
            promised: ballot(5, 3),
        },
    );
    let boosts = c
        .marks(n(1))
        .iter()
        .filter(|&&m| m == "paxos.ballot_boosted")
        .count();
    assert_eq!(boosts, 2, "marks of n1: {:?}", c.marks(n(1)));
    assert!(!c.marks(n(1)).contains(&"paxos.preempted"));
    c.deliver_all();
    assert_eq!(c.leads(n(1)), Some(ballot(6, 1)));
}
