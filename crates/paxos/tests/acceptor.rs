//! The acceptor and the proposer's ballots: PAXOS.md pieces #1 (unique ballots), #2
//! (acceptor state), #3 (phase 1 over all slots, in pages) and #5 (the fence that keeps a
//! stable leader), with PMMC's acceptor invariants A1–A3.

mod common;

use common::*;
use paxos::{Ballot, Message, Paxos, Value, PROMISE_PAGE_SLOTS};
use protocol::{ReadMode, Role};
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn a_promise_leaves_only_after_the_promise_is_durable() {
    // PAXOS.md #2; Paxos Made Simple §2.2 (an acceptor remembers the highest prepare it
    // answered even if it fails and restarts): the Promise waits for the write.
    let mut c = cluster(config(3));
    c.auto_write = false;
    c.fire_election(n(1));
    assert_eq!(
        c.in_flight("Prepare"),
        0,
        "n1's round and own promise are not durable yet"
    );
    c.complete_writes(n(1));
    assert_eq!(c.in_flight("Prepare"), 2);

    assert!(c.deliver_kind(n(1), n(2), "Prepare"));
    let b = ballot(1, 1);
    assert_eq!(c.node(n(2)).promised(), b, "promised in memory");
    assert_eq!(c.durable(n(2)).promised, Ballot::ZERO);
    assert_eq!(c.pending_writes(n(2)), 1);
    assert_eq!(
        c.in_flight("Promise"),
        0,
        "no Promise while its write is pending"
    );

    assert!(c.complete_write(n(2)));
    assert_eq!(c.durable(n(2)).promised, b);
    assert_eq!(c.in_flight_between(n(2), n(1)).len(), 1);
    assert!(matches!(
        c.in_flight_between(n(2), n(1))[0],
        Message::Promise { ballot, .. } if ballot == b
    ));
}

#[test]
fn a_proposer_makes_its_round_durable_before_a_prepare_uses_it_and_never_reuses_it() {
    // PAXOS.md #1 (Tencent/phxpaxos#145, Ceph's `last_pn`): a ballot is unique only if
    // its round survives a crash of the proposer that used it.
    let mut c = cluster(config(3));
    c.auto_write = false;
    c.fire_election(n(1));
    assert_eq!(c.durable(n(1)).round, 0);
    assert_eq!(c.in_flight("Prepare"), 0);
    c.complete_writes(n(1));
    assert_eq!(c.durable(n(1)).round, 1);
    // Its Prepares are lost and it crashes before hearing anything.
    c.drop_where(|_| true);
    c.crash(n(1));
    c.restart(n(1));
    c.fire_election(n(1));
    c.complete_writes(n(1));
    let rounds: Vec<u64> = c
        .envelopes()
        .filter_map(|e| match e.msg {
            Message::Prepare { ballot, .. } => Some(ballot.round),
            _ => None,
        })
        .collect();
    assert_eq!(rounds, vec![2, 2], "a fresh round after the restart");
}

#[test]
fn an_acceptor_nacks_a_prepare_below_its_promise_even_after_a_restart() {
    // PMMC A1 / PAXOS.md #2: a promise never decreases, and it is durable, so a restart
    // does not forget it. The Nack names the promise, so the proposer can go past it.
    let promised = ballot(2, 3);
    let images = [
        (n(2), durable(0, promised, &[])),
        (n(3), durable(2, promised, &[])),
    ];
    let mut c = cluster_with(config(3), images.into_iter().collect());
    c.crash(n(2));
    c.restart(n(2));
    c.fire_election(n(1));
    assert_eq!(
        c.in_flight_between(n(1), n(2)),
        vec![Message::Prepare {
            ballot: ballot(1, 1),
            first_slot: 1
        }]
    );
    assert!(c.deliver(n(1), n(2)));
    assert_eq!(
        c.in_flight_between(n(2), n(1)),
        vec![Message::Nack {
            ballot: ballot(1, 1),
            promised
        }]
    );
    assert_eq!(c.node(n(2)).promised(), promised);
    assert_eq!(c.durable(n(2)).promised, promised);
    // n1 is preempted by the Nacks, and its next phase 1 goes past the promise it learned.
    c.deliver_all();
    assert!(c.marked("paxos.preempted"));
    assert_eq!(c.role(n(1)).0, Role::Follower);
    assert_eq!(c.elect(n(1)), ballot(3, 1));
}

#[test]
fn an_acceptor_nacks_an_accept_below_its_promise_and_accepts_nothing() {
    // PMMC A2: an acceptor accepts a pvalue only in a ballot at or above its promise.
    let promised = ballot(2, 3);
    let mut c = cluster_with(
        config(3),
        [(n(2), durable(0, promised, &[]))].into_iter().collect(),
    );
    let v = value(ballot(1, 1), command(1, write("x", 1)));
    c.send(
        n(1),
        n(2),
        Message::Accept {
            ballot: ballot(1, 1),
            entries: vec![(1, v)],
            chosen_upto: 0,
        },
    );
    assert_eq!(
        c.in_flight_between(n(2), n(1)),
        vec![Message::Nack {
            ballot: ballot(1, 1),
            promised
        }]
    );
    assert!(c.node(n(2)).accepted().is_empty());
    assert!(c.durable(n(2)).accepted.is_empty());
    assert_eq!(c.durable(n(2)).promised, promised);
}

#[test]
fn accepting_raises_the_promise_to_the_accepted_ballot() {
    // PMMC A2 / PAXOS.md #2: an acceptor that accepts in ballot b has promised b — an
    // acceptor that missed b's Prepare must not later promise a ballot below b.
    let mut c = cluster_with(
        config(3),
        [(n(2), durable(0, ballot(1, 1), &[]))]
            .into_iter()
            .collect(),
    );
    let b = ballot(3, 3);
    let v = value(b, command(1, write("x", 1)));
    c.send(
        n(3),
        n(2),
        Message::Accept {
            ballot: b,
            entries: vec![(1, v.clone())],
            chosen_upto: 0,
        },
    );
    assert_eq!(c.durable(n(2)).promised, b);
    assert_eq!(c.durable(n(2)).accepted[&1], (b, v));
    assert_eq!(
        c.in_flight_between(n(2), n(3)),
        vec![Message::Accepted {
            ballot: b,
            slots: vec![1]
        }]
    );
    c.outlast_fence();
    c.send(
        n(1),
        n(2),
        Message::Prepare {
            ballot: ballot(2, 1),
            first_slot: 1,
        },
    );
    assert_eq!(
        c.in_flight_between(n(2), n(1)),
        vec![Message::Nack {
            ballot: ballot(2, 1),
            promised: b
        }]
    );
}

#[test]
fn a_repeated_prepare_is_answered_again_without_a_new_promise() {
    // PMMC's acceptor answers every phase 1a with its current ballot: a candidate re-sends
    // its Prepare to the acceptors whose promise it lacks, and an acceptor whose Promise
    // was lost answers again without a second durable write.
    let mut c = cluster(config(3));
    c.fire_election(n(1));
    assert!(c.deliver_kind(n(1), n(2), "Prepare"));
    let lost = c.drop_where(|e| e.msg.kind() == "Promise" || e.to == n(3));
    assert_eq!(lost.len(), 2, "n2's Promise and the Prepare to n3");
    c.record_outputs = true;
    c.advance(c.config.heartbeat_interval);
    c.fire_heartbeat(n(1));
    assert_eq!(
        c.in_flight_between(n(1), n(2)),
        vec![Message::Prepare {
            ballot: ballot(1, 1),
            first_slot: 1
        }],
        "the candidate's retry timer re-sends to the acceptors missing"
    );
    assert!(c.deliver(n(1), n(2)));
    assert!(c.marked("paxos.prepare_repeated"));
    assert!(
        c.writes_issued(n(2)).is_empty(),
        "the promise is durable already"
    );
    assert!(matches!(
        c.in_flight_between(n(2), n(1)).as_slice(),
        [Message::Promise { ballot: b, .. }] if *b == ballot(1, 1)
    ));
    c.deliver_all();
    assert_eq!(c.leads(n(1)), Some(ballot(1, 1)));
}

#[test]
fn a_candidate_leads_only_once_every_page_of_a_promise_has_arrived() {
    // PAXOS.md #3 (PMMC §4.1 with bounded messages): a Promise carries every value
    // accepted from the Prepare's slot on, in pages of at most PROMISE_PAGE_SLOTS; a
    // promise is complete, and counts, only with all its pages.
    let slots = 2 * PROMISE_PAGE_SLOTS as u64 + 2;
    let b1 = ballot(1, 2);
    let accepted: Vec<_> = (1..=slots)
        .map(|s| (s, b1, value(b1, command(s, write("x", s)))))
        .collect();
    let mut c = cluster_with(
        config(3),
        [(n(2), durable(1, b1, &accepted))].into_iter().collect(),
    );
    c.fire_election(n(3));
    c.drop_where(|e| e.to == n(1));
    assert!(c.deliver(n(3), n(2)));
    let pages: Vec<_> = c.envelopes().filter(|e| e.from == n(2)).collect();
    assert_eq!(pages.len(), 3);
    for (i, e) in pages.iter().enumerate() {
        let Message::Promise {
            page,
            pages,
            accepted,
            ..
        } = &e.msg
        else {
            panic!("{:?}", e.msg);
        };
        assert_eq!((*page, *pages), (i as u32, 3));
        assert!(accepted.len() <= PROMISE_PAGE_SLOTS);
    }
    // Pages 1 and 3 first: the promise is incomplete.
    assert!(c.deliver_where(|e| matches!(e.msg, Message::Promise { page: 0, .. })));
    assert!(c.deliver_where(|e| matches!(e.msg, Message::Promise { page: 2, .. })));
    assert_eq!(c.role(n(3)).0, Role::Candidate);
    assert!(c.deliver_where(|e| matches!(e.msg, Message::Promise { page: 1, .. })));
    let b3 = c.leads(n(3)).expect("n3 leads once the last page arrived");
    let proposed: BTreeMap<u64, Option<protocol::OpId>> = c
        .node(n(3))
        .accepted()
        .iter()
        .map(|(s, (b, v))| {
            assert_eq!(*b, b3);
            (s, v.op())
        })
        .collect();
    let want: BTreeMap<_, _> = (1..=slots).map(|s| (s, Some(protocol::OpId(s)))).collect();
    assert_eq!(proposed, want, "every page's values re-proposed");
    c.deliver_all();
    assert_eq!(c.node(n(3)).executed(), slots);
}

#[test]
fn an_acceptor_that_answered_a_live_leader_refuses_other_prepares_for_the_minimum_election_timeout()
{
    // PAXOS.md #5 (stable leader; PMMC §3, the DSLabs handout): one cut link must not
    // unseat a leader the rest of the cluster hears. n3 lost n1; n2 still hears n1.
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    c.cut(n(1), n(3));
    let fence = c.config.election_timeout.0;
    let beat = c.config.heartbeat_interval;
    // n1 keeps n2 fresh while n3's own fence (from n1's first heartbeat) runs out.
    let mut waited = Duration::ZERO;
    while waited < fence {
        c.advance(beat);
        waited += beat;
        c.announce(n(1));
    }
    c.fire_election(n(3));
    assert!(c.deliver_kind(n(3), n(2), "Prepare"));
    assert!(c
        .marks(n(2))
        .contains(&"paxos.prepare_refused_leader_alive"));
    assert!(
        c.in_flight_between(n(2), n(3)).is_empty(),
        "no Promise, no Nack"
    );
    c.deliver_all();
    assert_eq!(c.leads(n(1)), Some(b1));
    assert_eq!(c.node(n(2)).promised(), b1);
    // Once n1 is silent for the minimum election timeout, n3 gets its promise.
    c.crash(n(1));
    c.advance(fence);
    c.fire_election(n(3));
    c.deliver_all();
    assert!(c.leads(n(3)).is_some_and(|b| b > b1));
}

#[test]
fn a_node_that_answered_a_live_leader_does_not_start_phase_1_itself() {
    // PAXOS.md #5: the fence holds for the node's own proposer too — its own acceptor
    // would refuse another ballot while the leader it answered may be alive.
    let mut c = cluster(config(3));
    let b1 = c.elect(n(1));
    c.advance(c.config.election_timeout.0 - Duration::from_millis(1));
    c.fire_election(n(2));
    assert!(c
        .marks(n(2))
        .contains(&"paxos.prepare_refused_leader_alive"));
    assert_eq!(c.in_flight("Prepare"), 0);
    assert_eq!(c.role(n(2)).0, Role::Follower);
    assert!(
        c.timer_set(n(2), paxos::TIMER_ELECTION),
        "it tries again later"
    );
    c.advance(Duration::from_millis(1));
    c.fire_election(n(2));
    assert_eq!(c.in_flight("Prepare"), 2);
    assert_eq!(c.leads(n(1)), Some(b1));
}

#[test]
fn in_lease_mode_an_acceptor_that_acknowledged_the_leader_refuses_another_prepare_until_its_lease_passed(
) {
    // PML §5.2 (master leases): an acceptor that acknowledged the master promises, on its
    // own clock, to refuse other proposers for the lease time; the master's lease is
    // shorter by the clock drift bound, so it ends before any acceptor's promise does.
    let mut c = cluster(config_reading(3, ReadMode::Lease));
    c.cut(n(1), n(3)); // n3 never hears n1: it grants no lease and will campaign
    c.outlast_fence(); // the refusal every node starts with in lease mode
    let granted_at = c.local_now(n(2));
    let b1 = c.elect(n(1));
    let lease = c.config.election_timeout.0;
    let leader_lease = c
        .reports
        .iter()
        .find_map(|(who, r)| match r {
            protocol::Report::Lease { until, .. } if *who == n(1) => Some(*until),
            _ => None,
        })
        .expect("a quorum acknowledged n1's first heartbeat round");
    assert!(
        leader_lease < granted_at + lease,
        "the master's lease {leader_lease} ends before n2's promise {}",
        granted_at + lease
    );

    c.advance(lease - Duration::from_millis(1));
    c.fire_election(n(3));
    assert!(c.deliver_kind(n(3), n(2), "Prepare"));
    assert!(c
        .marks(n(2))
        .contains(&"paxos.prepare_refused_leader_alive"));
    assert!(c.in_flight_between(n(2), n(3)).is_empty());
    assert_eq!(c.node(n(2)).promised(), b1);

    c.advance(Duration::from_millis(1));
    c.fire_heartbeat(n(3)); // the candidate's retry of the same Prepare
    c.deliver_all();
    let b3 = c
        .leads(n(3))
        .expect("n2 promised once its lease to n1 ran out");
    assert!(b3 > b1);
}

#[test]
fn in_lease_mode_a_restarted_acceptor_refuses_prepares_for_an_election_timeout() {
    // PML §5.2: a restarted acceptor does not know which lease it granted before the
    // crash, so it honours the longest one it could have. Log mode has no lease to honour.
    for mode in [ReadMode::Lease, ReadMode::Log] {
        let lease = mode == ReadMode::Lease;
        let mut c = cluster(config_reading(3, mode));
        c.fire_election(n(1));
        assert_eq!(
            c.marked("paxos.prepare_refused_after_restart"),
            lease,
            "{mode:?}: n1's own acceptor has just started"
        );
        assert_eq!(
            c.in_flight("Prepare"),
            if lease { 0 } else { 2 },
            "{mode:?}"
        );
        c.drop_where(|_| true);
        c.outlast_fence();
        c.crash(n(2));
        c.restart(n(2));
        c.reports.clear();
        c.fire_election(n(1));
        // The Prepares alone: n1's heartbeats, once it leads, raise every promise.
        c.deliver_kinds(&["Prepare"]);
        assert_eq!(
            c.marks(n(2))
                .contains(&"paxos.prepare_refused_after_restart"),
            lease,
            "{mode:?}"
        );
        let promised = c.node(n(2)).promised();
        assert_eq!(promised == Ballot::ZERO, lease, "{mode:?}: {promised}");
        c.deliver_all();
        assert!(c.leads(n(1)).is_some(), "{mode:?}: n3 promised");
    }
}

#[test]
fn a_message_from_a_node_outside_the_configuration_is_ignored() {
    // Only voters take part: a Prepare from elsewhere must not move a promise.
    let mut c = cluster(config(3));
    c.send(
        n(9),
        n(2),
        Message::Prepare {
            ballot: ballot(5, 9),
            first_slot: 1,
        },
    );
    assert!(c.marked("paxos.message_from_non_member_ignored"));
    assert_eq!(c.node(n(2)).promised(), Ballot::ZERO);
    assert_eq!(c.envelopes().count(), 0);
}

#[test]
fn a_damaged_record_is_not_a_report_of_nothing_and_is_repaired_by_the_next_accept() {
    // Protocol-Aware Recovery (FAST'18): a record that fails its checksum may have been
    // one of the majority that chose a value. n2's promise names slot 1 as unreadable, so
    // n3 does not lead on {n2, n3}: pmax over one intact report could miss x=1. Once n1 is
    // back its promise reports x=1, n3 leads and re-proposes it, and n2's accept of it
    // replaces the damaged record.
    let mut c = cluster(config(3));
    chosen_value_with_one_damaged_copy(&mut c);
    assert!(c.marked("paxos.phase1_waits_for_intact_reports"));
    assert_eq!(c.leads(n(3)), None, "only one intact report of slot 1");
    c.restart(n(1));
    c.fire_heartbeat(n(3)); // the Prepare goes out again to the acceptor it misses
    c.deliver_all();
    assert!(c.leads(n(3)).is_some());
    c.announce(n(3));
    for id in [n(1), n(2), n(3)] {
        assert_eq!(c.node(id).kv().read("x"), Some(1), "{id}");
    }
    assert!(c.marked("paxos.damaged_record_overwritten"));
    assert!(c.durable(n(2)).damaged.is_empty());
}

#[test]
fn a_damaged_record_of_an_executed_slot_is_repaired_by_a_snapshot() {
    // A replica that learns the chosen value of a slot it cannot read executes it, and a
    // snapshot then covers the slot, whatever snapshot_every says.
    let mut c = cluster(config(3));
    c.elect(n(1));
    let op = c.client(n(1), write("x", 1));
    c.deliver_all();
    assert_eq!(c.reply(op), Some(&WRITTEN));
    c.crash(n(2));
    c.corrupt(n(2), 0).expect("slot 1 is there to damage");
    c.restart(n(2));
    c.announce(n(1)); // n2 hears slot 1 is chosen, cannot read it, and catches up
    assert_eq!(c.node(n(2)).kv().read("x"), Some(1));
    assert!(c.marked("paxos.snapshot_repairs_damaged_record"));
    assert!(c.durable(n(2)).damaged.is_empty());
    assert_eq!(c.durable(n(2)).low_water(), 1);
}

#[test]
fn a_damaged_record_the_durable_snapshot_covers_is_moot() {
    // A crash between a durable snapshot and the compaction that drops what it covers
    // leaves those accepted records on disk; one of them failing its checksum says nothing
    // the snapshot does not.
    let b = ballot(1, 1);
    let mut image = durable(1, b, &[(3, b, value(b, command(1, write("x", 1))))]);
    image.snapshot = Some(std::sync::Arc::new(paxos::Snapshot {
        upto: 5,
        kv: Default::default(),
        applied: Default::default(),
    }));
    image.accepted.remove(&3);
    image.damaged.insert(3);
    let c = cluster_with(config(3), [(n(1), image)].into_iter().collect());
    assert!(!c.marked("paxos.started_with_damaged_records"));
    assert_eq!(c.node(n(1)).executed(), 5);
}

#[test]
fn a_storage_fault_that_draws_a_spared_record_damages_another_and_says_so() {
    // The simulator spares the records already damaged on as many other nodes as the
    // fault model allows; a pick that lands on one draws again among the rest.
    use protocol::Protocol;
    let b = ballot(1, 1);
    let entries: Vec<(u64, Ballot, Value)> = (1..=4)
        .map(|slot| (slot, b, value(b, command(slot, write("x", slot)))))
        .collect();
    let image = durable(1, b, &entries);
    let none = std::collections::BTreeSet::new();
    let mut plain = image.clone();
    // Pick 5 of four records is the second, slot 2.
    let what = Paxos::corrupt(&mut plain, 5, &none).expect("a record");
    assert_eq!(what, "accepted record of slot 2");
    assert_eq!(Paxos::damaged(&plain), vec![2]);

    let spared: std::collections::BTreeSet<u64> = [2, 3].into_iter().collect();
    let mut kept = image.clone();
    let what = Paxos::corrupt(&mut kept, 5, &spared).expect("a record");
    assert!(
        what.starts_with("accepted record of slot ")
            && what.contains("slot 2, drawn first, is damaged on as many other nodes"),
        "{what}"
    );
    let damaged = Paxos::damaged(&kept);
    assert_eq!(damaged.len(), 1);
    assert!(!spared.contains(&damaged[0]), "{damaged:?}");
    assert!(kept.accepted.contains_key(&2) && kept.accepted.contains_key(&3));

    // Every record spared: nothing is damaged.
    let all: std::collections::BTreeSet<u64> = (1..=4).collect();
    let mut whole = image.clone();
    assert_eq!(Paxos::corrupt(&mut whole, 5, &all), None);
    assert_eq!(whole, image);
}
