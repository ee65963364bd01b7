//! Phase 2 and what follows it: choosing, executing in order, catch-up, compaction and
//! snapshots (PAXOS.md pieces #7, #8, #9; PMMC's replica; PML §5.5).

mod common;

use common::*;
use paxos::{Ballot, Message, Value, Write, MAX_SLOTS_PER_MESSAGE};
use protocol::{Input, OpId, Reply};

#[test]
fn a_value_is_chosen_only_by_a_majority_of_accepted_in_one_ballot() {
    // Paxos Made Simple §2.3 (a value is chosen when a majority accepted the same
    // proposal) and PMMC's commander: acceptances count only for the ballot they answer.
    // Five acceptors: n1 (own) and n3 accept in ballot 2, while n2's acceptance of the
    // same value in ballot 1 arrives late. Three acceptances, two ballots: not chosen.
    let mut c = cluster(config(5));
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    let late = c.hold(n(2), n(1), "Accepted");
    c.drop_where(|_| true);
    c.crash(n(1));
    c.restart(n(1));
    c.fire_election(n(1));
    c.deliver_kinds(&["Prepare", "Promise"]);
    let b2 = c.leads(n(1)).expect("n1 leads again");
    assert_eq!(b2, ballot(2, 1));
    assert!(c.deliver_kind(n(1), n(3), "Accept"));
    assert!(c.deliver_kind(n(3), n(1), "Accepted"));
    c.inject(late);
    assert!(
        c.commits(n(1)).is_empty(),
        "chosen with acceptances from two ballots"
    );
    assert!(c.deliver_kind(n(1), n(4), "Accept"));
    assert!(c.deliver_kind(n(4), n(1), "Accepted"));
    assert_eq!(c.commits(n(1)).len(), 1, "three acceptances in ballot 2");
}

#[test]
fn a_replica_never_executes_past_a_hole() {
    // PMMC's replica performs decisions in slot order: a value learned for a later slot
    // waits until every slot before it is chosen.
    let mut c = cluster(config(3));
    c.elect(n(1));
    c.isolate(n(3));
    let ops: Vec<OpId> = (1..=3).map(|v| c.client(n(1), write("x", v))).collect();
    c.deliver_all();
    c.heal();
    let chosen = c.node(n(1)).chosen().clone();
    let decided = |slot: u64| Message::Decided {
        snapshot: None,
        entries: vec![(slot, chosen[&slot].clone())],
    };
    c.send(n(1), n(3), decided(3));
    assert_eq!(c.commits(n(3)).len(), 1, "slot 3 is known chosen");
    assert_eq!(c.node(n(3)).executed(), 0);
    assert!(c.applied(n(3)).is_empty());
    c.send(n(1), n(3), decided(1));
    assert_eq!(
        c.applied(n(3)),
        vec![(1, Some(ops[0]))],
        "slot 3 still waits"
    );
    c.send(n(1), n(3), decided(2));
    let want: Vec<_> = (1..=3).zip(&ops).map(|(s, op)| (s, Some(*op))).collect();
    assert_eq!(c.applied(n(3)), want);
    assert_eq!(c.node(n(3)).kv().read("x"), Some(3));
}

#[test]
fn a_replica_that_missed_chosen_values_catches_up_from_the_leader() {
    // PML §5.5 and PAXOS.md #7: a replica that learns the chosen prefix reaches past what
    // it holds asks for the missing values, and the leader sends them.
    let mut c = cluster(config(3));
    c.elect(n(1));
    c.isolate(n(3));
    let ops: Vec<OpId> = (1..=3).map(|v| c.client(n(1), write("x", v))).collect();
    c.deliver_all();
    assert!(c.applied(n(3)).is_empty());
    c.heal();
    c.announce(n(1));
    assert!(c.marks(n(3)).contains(&"paxos.catch_up_requested"));
    let want: Vec<_> = (1..=3).zip(&ops).map(|(s, op)| (s, Some(*op))).collect();
    assert_eq!(c.applied(n(3)), want);
}

#[test]
fn catch_up_is_sent_in_bounded_messages_and_resumes_where_the_replica_stopped() {
    // PAXOS.md #3/#7 with TIGER_STYLE's "a limit on everything": a Decided carries at most
    // MAX_SLOTS_PER_MESSAGE values; the replica asks again, from where it stopped, at the
    // next announcement a heartbeat interval later.
    let slots = MAX_SLOTS_PER_MESSAGE as u64 + 6;
    let mut c = cluster(config(3));
    c.elect(n(1));
    c.isolate(n(3));
    for v in 1..=slots {
        c.client(n(1), write("x", v));
    }
    c.deliver_all();
    c.heal();
    c.fire_heartbeat(n(1));
    assert!(c.deliver_kind(n(1), n(3), "Heartbeat"));
    assert_eq!(
        c.in_flight_between(n(3), n(1)).last(),
        Some(&Message::CatchUp { from: 1 })
    );
    c.deliver_all();
    assert_eq!(c.node(n(3)).executed(), MAX_SLOTS_PER_MESSAGE as u64);
    // An announcement before the interval passed asks nothing (one request in flight).
    c.announce(n(1));
    assert_eq!(c.node(n(3)).executed(), MAX_SLOTS_PER_MESSAGE as u64);
    c.advance(c.config.heartbeat_interval);
    c.fire_heartbeat(n(1));
    assert!(c.deliver_kind(n(1), n(3), "Heartbeat"));
    assert_eq!(
        c.in_flight_between(n(3), n(1)).last(),
        Some(&Message::CatchUp {
            from: MAX_SLOTS_PER_MESSAGE as u64 + 1
        })
    );
    c.deliver_all();
    assert_eq!(c.node(n(3)).executed(), slots);
    assert_eq!(c.node(n(3)).kv().read("x"), Some(slots));
}

#[test]
fn a_replica_behind_the_compacted_prefix_gets_the_snapshot_then_the_rest() {
    // PML §5.5 and PAXOS.md #7: values below the sender's low-water mark are gone; the
    // replica gets the snapshot, then the chosen values after it.
    let mut c = cluster(snapshot_every(config(3), 2));
    c.elect(n(1));
    c.isolate(n(3));
    let ops: Vec<OpId> = (1..=5).map(|v| c.client(n(1), write("x", v))).collect();
    c.deliver_all();
    assert_eq!(c.node(n(1)).low_water(), 4);
    assert!(c.node(n(1)).accepted().keys().all(|s| s > 4));
    c.heal();
    c.announce(n(1));
    assert!(c.marks(n(1)).contains(&"paxos.catch_up_by_snapshot"));
    assert!(c.marks(n(3)).contains(&"paxos.replica_installed_snapshot"));
    assert_eq!(c.node(n(3)).executed(), 5);
    assert_eq!(c.node(n(3)).kv(), c.node(n(1)).kv());
    assert_eq!(
        c.applied(n(3)),
        vec![(5, Some(ops[4]))],
        "slots 1-4 came in the snapshot, slot 5 after it"
    );
}

#[test]
fn the_log_is_dropped_only_after_the_snapshot_is_durable_and_compaction_keeps_the_promise() {
    // PML §5.5 and PAXOS.md #8 (truncate only after the snapshot is durable); PAXOS.md #2
    // and scylladb#6154 (compaction never lowers the promise). n3 executes slots 1-2 and
    // snapshots them while its writes lag; a higher Prepare arrives before the snapshot
    // is durable.
    let mut c = cluster(snapshot_every(config(3), 2));
    let b1 = c.elect(n(1));
    c.auto_write = false;
    c.record_outputs = true;
    c.client(n(1), write("x", 1));
    c.client(n(1), write("x", 2));
    c.deliver_all_but(n(3));
    c.deliver_kinds(&["Accept", "Chosen"]);
    assert_eq!(c.node(n(3)).executed(), 2, "n3 executed from memory");
    assert!(c.marks(n(3)).contains(&"paxos.snapshot_taken"));
    assert_eq!(c.pending_writes(n(3)), 3, "two accepts and the snapshot");
    assert_eq!(
        c.node(n(3)).accepted().len(),
        2,
        "kept until the snapshot is durable"
    );
    c.outlast_fence();
    let b2 = ballot(5, 2);
    c.send(
        n(2),
        n(3),
        Message::Prepare {
            ballot: b2,
            first_slot: 3,
        },
    );
    assert!(c.complete_write(n(3)));
    assert!(c.complete_write(n(3)));
    assert_eq!(c.durable(n(3)).accepted.len(), 2);
    assert!(c.complete_write(n(3)), "the snapshot");
    assert_eq!(c.durable(n(3)).low_water(), 2);
    assert_eq!(
        c.durable(n(3)).accepted.len(),
        2,
        "compaction not yet durable"
    );
    assert!(
        c.node(n(3)).accepted().is_empty(),
        "dropped once the snapshot is"
    );
    c.complete_writes(n(3));
    assert!(c.durable(n(3)).accepted.is_empty());
    assert_eq!(c.durable(n(3)).promised, b2);
    assert_eq!(c.node(n(3)).promised(), b2);
    let writes = c.writes_issued(n(3));
    let snapshot = writes
        .iter()
        .position(|w| matches!(w, Write::Snapshot(s) if s.upto == 2))
        .expect("a snapshot to slot 2");
    let compact = writes
        .iter()
        .position(|w| matches!(w, Write::Compact { upto: 2, .. }))
        .expect("a compaction to slot 2");
    assert!(snapshot < compact);
    assert_eq!(
        writes[compact],
        Write::Compact {
            upto: 2,
            promise: b2
        }
    );
    // The promise holds after a restart from the compacted image: a stale Accept of the
    // old leader is refused.
    c.crash(n(3));
    c.restart(n(3));
    c.auto_write = true;
    c.send(
        n(1),
        n(3),
        Message::Accept {
            ballot: b1,
            entries: vec![(3, value(b1, command(9, write("x", 9))))],
            chosen_upto: 2,
        },
    );
    assert_eq!(
        c.in_flight_between(n(3), n(1)).last(),
        Some(&Message::Nack {
            ballot: b1,
            promised: b2
        })
    );
}

#[test]
fn a_command_chosen_in_two_slots_is_applied_once() {
    // PAXOS.md #9 (PMMC's replica: a command already performed is not performed again). A
    // client retries op100 at the new leader, which had also recovered it in slot 1; in
    // between, x=2 is written. Applying op100 twice would leave x=1.
    let mut c = cluster(config(3));
    c.elect(n(1));
    let retried = command(100, write("x", 1));
    c.step(n(1), Input::Client(retried.clone()));
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    c.drop_where(|_| true);
    c.crash(n(1));
    c.outlast_fence();
    c.elect(n(2));
    let second = c.client(n(2), write("x", 2));
    c.step(n(2), Input::Client(retried.clone()));
    c.deliver_all();
    assert!(c.marked("paxos.duplicate_command_skipped"));
    assert_eq!(
        c.applied(n(2)),
        vec![
            (1, Some(retried.id)),
            (2, Some(second)),
            (3, Some(retried.id))
        ]
    );
    for id in [2, 3] {
        c.announce(n(2));
        assert_eq!(c.node(n(id)).kv().read("x"), Some(2), "n{id}");
    }
    assert_eq!(c.reply(second), Some(&WRITTEN));
    assert!(
        c.replies_to(retried.id).iter().all(|r| !matches!(
            r,
            Reply::Error {
                maybe_applied: false,
                ..
            }
        )),
        "op100 was applied: no reply may say it was not"
    );
}

#[test]
fn a_leader_retransmits_an_accept_that_was_not_acknowledged_after_a_heartbeat_interval() {
    // Paxos is safe when messages are lost, and live only if a lost Accept is sent again;
    // the leader re-sends after a heartbeat interval, not at every tick, so a slow
    // acceptor is not flooded.
    let mut c = cluster(config(3));
    c.elect(n(1));
    let op = c.client(n(1), write("x", 1));
    assert_eq!(c.drop_where(|e| e.msg.kind() == "Accept").len(), 2);
    c.fire_heartbeat(n(1));
    assert_eq!(c.in_flight("Accept"), 0, "sent less than an interval ago");
    c.deliver_all();
    c.advance(c.config.heartbeat_interval);
    c.fire_heartbeat(n(1));
    assert!(c.marked("paxos.accept_retransmitted"));
    assert_eq!(c.in_flight("Accept"), 2);
    c.deliver_all();
    assert_eq!(c.reply(op), Some(&WRITTEN));
}

#[test]
fn a_new_leader_fills_holes_before_any_new_command_and_keeps_the_origin_of_re_proposals() {
    // PMMC's leader (it adopts the pvalues phase 1 reports before proposing) and
    // PAXOS.md #4: new commands go only after the last recovered slot, and a re-proposed
    // value keeps the ballot that first proposed it, so one chosen value is one
    // (origin, command) everywhere.
    let b1 = ballot(1, 1);
    let v = value(b1, command(7, write("y", 7)));
    let images = [
        (n(1), durable(1, b1, &[(3, b1, v.clone())])),
        (n(2), durable(0, b1, &[(3, b1, v.clone())])),
    ];
    let mut c = cluster_with(config(3), images.into_iter().collect());
    c.crash(n(1));
    let b3 = c.elect(n(3));
    let op = c.client(n(3), write("x", 1));
    c.deliver_all();
    let chosen = c.node(n(3)).chosen();
    assert_eq!(chosen[&1], Value::noop(b3));
    assert_eq!(chosen[&2], Value::noop(b3));
    assert_eq!(chosen[&3], v);
    assert_eq!(chosen[&4].op(), Some(op));
    assert_eq!(c.reply(op), Some(&WRITTEN));
    assert!(b3 > b1 && b1 > Ballot::ZERO);
}

#[test]
fn a_new_leader_behind_an_acceptors_low_water_mark_takes_its_snapshot_from_the_promise() {
    // PMMC §4.2 and PAXOS.md #3: a Promise carries the acceptor's low-water mark and, when
    // the candidate is behind it, its snapshot; the new leader starts from that state and
    // proposes nothing at or below the mark.
    let mut c = cluster(snapshot_every(config(3), 2));
    leader_behind_compaction(&mut c);
    assert!(c
        .marks(n(3))
        .contains(&"paxos.leader_installed_snapshot_from_promise"));
    assert_eq!(c.node(n(3)).executed(), 2);
    assert_eq!(c.node(n(3)).kv().read("x"), Some(2));
    let op = c.client(n(3), write("y", 1));
    c.deliver_all();
    assert_eq!(
        c.applied(n(3)),
        vec![(3, Some(op))],
        "the new command after the mark"
    );
}

#[test]
fn a_duplicate_accept_for_a_compacted_slot_is_acknowledged_without_a_write() {
    // PMMC §4.2: a slot below the low-water mark was chosen and executed; an Accept for it
    // in a ballot at or above the promise carries the chosen value (Paxos's safety), so
    // the acceptor acknowledges it and writes nothing — it no longer holds the slot.
    let mut c = cluster(snapshot_every(config(3), 2));
    let b1 = c.elect(n(1));
    c.client(n(1), write("x", 1));
    let duplicate = c
        .envelopes()
        .find(|e| e.to == n(3) && e.msg.kind() == "Accept")
        .expect("the Accept of slot 1 to n3")
        .clone();
    c.client(n(1), write("x", 2));
    c.deliver_all();
    c.announce(n(1));
    assert_eq!(c.node(n(3)).low_water(), 2);
    let before = c.durable(n(3)).clone();
    c.record_outputs = true;
    c.inject(duplicate);
    assert!(c.marks(n(3)).contains(&"paxos.accept_below_low_water"));
    assert_eq!(
        c.in_flight_between(n(3), n(1)),
        vec![Message::Accepted {
            ballot: b1,
            slots: vec![1]
        }]
    );
    assert!(c.writes_issued(n(3)).is_empty());
    assert_eq!(c.durable(n(3)), &before);
}

/// The acceptances `id` reported (`Report::Accepted`): (slot, ballot, entry's term).
fn votes(c: &Cluster, id: protocol::NodeId) -> Vec<(u64, u64, u64)> {
    c.reports
        .iter()
        .filter(|(who, _)| *who == id)
        .filter_map(|(_, r)| match r {
            protocol::Report::Accepted {
                index,
                ballot,
                term,
                ..
            } => Some((*index, *ballot, *term)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_acceptance_counts_as_a_vote_for_log_safety_only_once_it_is_durable() {
    // A vote is a fact only once it survives a crash (Paxos Made Simple §2.5): a value a
    // majority accepted in one ballot is chosen, and log safety holds the run to one
    // chosen value per slot. An accept whose write a crash cut short was never a vote.
    let mut c = cluster(config(3));
    let b = c.elect(n(1));
    c.auto_write = false;
    c.client(n(1), write("x", 1));
    let slot = c.node(n(1)).executed() + 1;
    assert!(votes(&c, n(1)).iter().all(|v| v.0 != slot));
    c.complete_writes(n(1));
    assert_eq!(
        votes(&c, n(1)).last(),
        Some(&(slot, b.as_term(), b.as_term())),
        "the leader's own accept, once written"
    );
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    assert!(c.deliver_kind(n(1), n(3), "Accept"));
    assert!(votes(&c, n(2)).iter().all(|v| v.0 != slot));
    c.crash(n(3));
    assert!(c.complete_write(n(2)));
    assert_eq!(
        votes(&c, n(2)).last(),
        Some(&(slot, b.as_term(), b.as_term()))
    );
    assert!(
        votes(&c, n(3)).iter().all(|v| v.0 != slot),
        "n3 crashed before its accept was durable"
    );
}
