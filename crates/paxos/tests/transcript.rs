//! Golden transcripts (as etcd-io/raft's `testdata/*.txt`): each scenario is written as
//! steps (`> ...` lines), followed by every input and output of the nodes, and compared
//! byte for byte with `tests/transcripts/<name>`, so a change of behaviour shows up in
//! review as a changed line. `UPDATE_TRANSCRIPTS=1 cargo test -p paxos --test transcript`
//! rewrites them; read the diff before committing it.

mod common;

use common::*;
use protocol::{MessageKind, OpId, Reply, Role};

#[test]
fn phase_1_re_proposes_in_each_slot_the_value_of_the_highest_ballot_reported() {
    // PMMC's leader (`pmax` over its scout's pvalues) and Paxos Made Simple §2.2 (P2c): a
    // new leader must propose, in every slot, the value accepted in the highest ballot
    // that any acceptor of its quorum reports, whichever acceptor reports it and in
    // whatever order the promises arrive.
    //
    // The durable images are what this history leaves (five acceptors):
    // - ballot (1, n1): n1 proposes a@1, b@2, c@3; n2 accepts all three, n3 accepts a@1.
    // - ballot (2, n4): n4's quorum {n3, n4, n5} reports a@1 only, so n4 re-proposes a@1
    //   and puts new commands d@2 and e@3; n3 accepts a@1 and d@2, e@3 reaches no one.
    // - n1 and n4 are down; n5 runs phase 1 with ballot (3, n5).
    // Its quorum {n5, n3, n2} reports slot 1: a in (2, n4) and in (1, n1); slot 2: d in
    // (2, n4) (from n3) and b in (1, n1) (from n2); slot 3: c in (1, n1) only. n3's promise
    // arrives first, so at slot 2 the lower ballot arrives second and must not win.
    let b1 = ballot(1, 1);
    let b2 = ballot(2, 4);
    let a = value(b1, command(1, write("a", 1)));
    let b = value(b1, command(2, write("b", 1)));
    let c = value(b1, command(3, write("c", 1)));
    let d = value(b2, command(4, write("b", 2)));
    let e = value(b2, command(5, write("c", 2)));
    let images = [
        (
            n(1),
            durable(
                1,
                b1,
                &[(1, b1, a.clone()), (2, b1, b.clone()), (3, b1, c.clone())],
            ),
        ),
        (
            n(2),
            durable(
                0,
                b1,
                &[(1, b1, a.clone()), (2, b1, b.clone()), (3, b1, c.clone())],
            ),
        ),
        (
            n(3),
            durable(0, b2, &[(1, b2, a.clone()), (2, b2, d.clone())]),
        ),
        (
            n(4),
            durable(2, b2, &[(1, b2, a.clone()), (2, b2, d.clone()), (3, b2, e)]),
        ),
        (n(5), durable(0, b2, &[])),
    ];
    let mut c5 = cluster_with(config(5), images.into_iter().collect());
    c5.crash(n(1));
    c5.crash(n(4));

    c5.start_transcript();
    c5.note("n5's election timer fires: phase 1 for every slot from 1 with ballot (3, n5)");
    c5.fire_election(n(5));
    c5.note("n3 then n2 promise; n5 merges their accepted values");
    assert!(c5.deliver_kind(n(5), n(3), "Prepare"));
    assert!(c5.deliver_kind(n(5), n(2), "Prepare"));
    assert!(c5.deliver_kind(n(3), n(5), "Promise"));
    assert_eq!(c5.role(n(5)).0, Role::Candidate, "two promises of five");
    assert!(c5.deliver_kind(n(2), n(5), "Promise"));
    c5.note("phase 2 of the recovered values; n5 announces them chosen");
    c5.deliver_all();
    c5.check_transcript("phase1_pmax.txt");

    let leader = ballot(3, 5);
    assert_eq!(c5.leads(n(5)), Some(leader));
    assert!(c5.marked("paxos.recovered_accepted_value"));
    assert!(!c5.marked("paxos.hole_filled_with_noop"));
    let want = vec![(1, Some(OpId(1))), (2, Some(OpId(4))), (3, Some(OpId(3)))];
    for id in [2, 3, 5] {
        assert_eq!(c5.applied(n(id)), want, "n{id}");
        let accepted = &c5.durable(n(id)).accepted;
        assert_eq!(
            accepted[&1],
            (leader, a.clone()),
            "n{id}: a keeps its origin"
        );
        assert_eq!(
            accepted[&2],
            (leader, d.clone()),
            "n{id}: the higher ballot's d"
        );
        assert_eq!(
            accepted[&3],
            (leader, c.clone()),
            "n{id}: the only report, c"
        );
    }
    let kv = c5.node(n(2)).kv();
    assert_eq!(
        (kv.read("a"), kv.read("b"), kv.read("c")),
        (Some(1), Some(2), Some(1))
    );
}

#[test]
fn a_hole_is_filled_with_a_no_op_and_no_replica_executes_past_it() {
    // PMMC's leader and Howard & Mortier (a Paxos leader recovers in phase 1 every slot it
    // may be missing): a new leader fills a slot that no acceptor of its quorum accepted
    // with a no-op, re-proposes the accepted slot after it, and replicas execute in slot
    // order only (PMMC's replica: never past a hole).
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    let first = c.client(n(1), write("x", 1));
    c.deliver_all();
    c.announce(n(1));
    assert_eq!(c.reply(first), Some(&WRITTEN));

    c.start_transcript();
    c.note("n1 proposes x=2 at slot 2; its Accepts are lost: only n1 accepted slot 2");
    let lost = c.client(n(1), write("x", 2));
    assert_eq!(c.drop_where(|e| e.msg.kind() == "Accept").len(), 2);
    c.note("n1 proposes x=3 at slot 3; every acceptor accepts it and n1 learns it chosen");
    let kept = c.client(n(1), write("x", 3));
    c.deliver_all();
    assert_eq!(c.node(n(1)).executed(), 1, "slot 3 waits for slot 2");
    c.note("n1 is cut off (to the others, dead); after the fence n2 runs phase 1");
    c.isolate(n(1));
    c.outlast_fence();
    c.fire_election(n(2));
    c.deliver_all();
    c.note("the cut heals; n2's heartbeat reaches n1, which steps down and catches up");
    c.heal();
    c.announce(n(2));
    c.check_transcript("hole_filled_with_noop.txt");

    let b2 = c.leads(n(2)).expect("n2 leads");
    assert!(b2 > b1);
    assert!(c.marked("paxos.hole_filled_with_noop"));
    assert!(c.marked("paxos.recovered_accepted_value"));
    assert!(c.marked("paxos.catch_up_requested"));
    // Slot 2 is the no-op of the new ballot, slot 3 keeps x=3 (and its origin, b1).
    let want = vec![(1, Some(first)), (2, None), (3, Some(kept))];
    for id in 1..=3 {
        assert_eq!(c.applied(n(id)), want, "n{id}");
        assert_eq!(c.node(n(id)).kv().read("x"), Some(3), "n{id}");
        assert_eq!(c.node(n(id)).chosen()[&2], paxos::Value::noop(b2), "n{id}");
    }
    // n1 knew slot 3 chosen long before slot 2, and applied it only after slot 2.
    let n1: Vec<String> = c
        .reports
        .iter()
        .filter(|(who, _)| *who == n(1))
        .filter_map(|(_, r)| match r {
            protocol::Report::Commit { index, .. } => Some(format!("commit {index}")),
            protocol::Report::Apply { index, .. } => Some(format!("apply {index}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        n1,
        ["commit 1", "apply 1", "commit 3", "commit 2", "apply 2", "apply 3"]
    );
    // Both of n1's commands were in flight when it lost leadership: indeterminate, and
    // never ok, even x=3 that a later ballot chose.
    for op in [lost, kept] {
        let replies = c.replies_to(op);
        assert_eq!(replies.len(), 1, "{op}: {replies:?}");
        assert!(indeterminate(replies[0]), "{op}: {replies:?}");
    }
}

#[test]
fn a_preempted_leader_goes_passive_until_its_election_timer_fires() {
    // PMMC §3 (liveness): a leader preempted by a higher ballot does not start a new
    // phase 1 at once — two proposers doing so preempt each other forever — but waits for
    // its randomised election timeout. PML §5.3: the command it held fails.
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    c.note("(setup) n1 leads; the n1-n2 link is cut and n2 wins phase 1 with n3");
    c.cut(n(1), n(2));
    // n1 hears from no majority for longer than an election timeout: it is not a leader
    // a majority follows (which would raise its ballot instead, PML §5.2).
    c.outlast_fence();
    c.advance(c.config.heartbeat_interval);
    let b2 = c.elect(n(2));
    assert!(c.leads(n(1)).is_some(), "n1 has not heard of n2's ballot");

    c.start_transcript();
    c.note("a client writes to n1, which still leads (1, n1); n3 answers with a Nack");
    let op = c.client(n(1), write("x", 1));
    c.deliver_all();
    c.note("n1 is passive: no Prepare; it sends a client away; time passes, n2 stays silent");
    assert_eq!(c.in_flight("Prepare"), 0);
    let refused = c.client(n(1), write("x", 2));
    assert_eq!(c.reply(refused), Some(&Reply::NotLeader { hint: None }));
    c.outlast_fence();
    c.note("n1's election timer fires: only now does it run phase 1 again");
    c.fire_election(n(1));
    c.deliver_all();
    c.check_transcript("preempted_leader_goes_passive.txt");

    assert!(c.marked("paxos.preempted"));
    let b3 = c.leads(n(1)).expect("n1 leads again");
    assert!(b1 < b2 && b2 < b3, "{b1} {b2} {b3}");
    let replies = c.replies_to(op);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(indeterminate(replies[0]), "{replies:?}");
    // Indeterminate indeed: n1 accepted its own x=1 in (1, n1), and its new phase 1
    // recovers it.
    assert_eq!(c.node(n(1)).accepted()[&1].1.op(), Some(op));
}
