//! Reads in each mode (PAXOS.md pieces #10 and #11): through the log, quorum-confirmed
//! with repair, under the master lease, and local.

mod common;

use common::*;
use paxos::Message;
use protocol::{ReadMode, Reply, Report};

fn reads_served(c: &Cluster) -> usize {
    c.reports
        .iter()
        .filter(|(_, r)| matches!(r, Report::ReadServed { .. }))
        .count()
}

#[test]
fn a_leader_serves_a_lease_read_only_after_executing_the_slots_phase_1_recovered() {
    // PAXOS.md #11 (Summerset's lease conditions) and PML §5.2: a new leader holding a
    // lease may still miss writes an earlier leader acknowledged — they sit in the slots
    // its phase 1 recovered. It answers alone only once it has executed them.
    let (mut c, acknowledged) =
        acknowledged_write_lost_with_its_leader(config_reading(3, ReadMode::Lease));
    assert!(c.deliver_kind(n(2), n(3), "Heartbeat"));
    assert!(c.deliver_kind(n(3), n(2), "HeartbeatAck"));
    assert!(
        c.reports
            .iter()
            .any(|(who, r)| *who == n(2) && matches!(r, Report::Lease { .. })),
        "n2 holds a lease"
    );
    let early = c.client(n(2), read("x"));
    assert!(c.marked("paxos.lease_read_fell_back_to_quorum"));
    assert!(!c.marked("paxos.lease_read_before_recovery"));
    assert_eq!(c.reply(early), None, "slot 2 is not executed yet");
    assert_eq!(reads_served(&c), 0);
    c.deliver_all();
    assert_eq!(
        c.reply(early),
        Some(&read_ok(Some(2))),
        "sees {acknowledged}"
    );
    // Recovered: now a read within the lease is the leader's alone.
    let later = c.client(n(2), read("x"));
    assert_eq!(c.reply(later), Some(&read_ok(Some(2))));
    assert_eq!(reads_served(&c), 1);
    assert_eq!(c.envelopes().count(), 0, "no message for a lease read");
}

#[test]
fn a_quorum_read_waits_until_every_slot_the_leader_proposed_is_executed() {
    // PAXOS.md #10 (CASSANDRA-12126, scylladb#6299: a serial read finishes any
    // in-progress round first): confirmed by a quorum is not enough while a recovered
    // slot, here holding an acknowledged write, is unexecuted.
    let (mut c, acknowledged) =
        acknowledged_write_lost_with_its_leader(config_reading(3, ReadMode::Quorum));
    let r = c.client(n(2), read("x"));
    c.deliver_kinds(&["Heartbeat", "HeartbeatAck"]);
    assert_eq!(c.reply(r), None, "confirmed, but slot 2 is not executed");
    c.deliver_all();
    assert_eq!(c.reply(r), Some(&read_ok(Some(2))), "sees {acknowledged}");
    assert_eq!(reads_served(&c), 0, "a confirmed read is not a lease read");
}

#[test]
fn a_lease_read_is_answered_by_the_leader_alone_while_its_lease_lasts() {
    // PML §5.2: within the lease no other leader can have been chosen, so the master
    // answers from its own state, with no message; the checkers count it (ReadServed).
    let mut c = cluster(config_reading(3, ReadMode::Lease));
    c.outlast_fence();
    let b1 = c.elect(n(1));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    let r = c.client(n(1), read("x"));
    assert_eq!(c.reply(r), Some(&read_ok(Some(1))));
    assert_eq!(c.envelopes().count(), 0);
    assert!(c
        .reports
        .contains(&(n(1), Report::ReadServed { term: b1.as_term() })));
}

#[test]
fn a_read_after_the_lease_ran_out_is_confirmed_by_a_quorum_first() {
    // PML §5.2: past its lease the leader may have been replaced; it must hear from a
    // majority again (a heartbeat round started after the read arrived).
    let mut c = cluster(config_reading(3, ReadMode::Lease));
    c.outlast_fence();
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    let lease = protocol::lease_duration(&c.config);
    c.advance(lease);
    let r = c.client(n(1), read("x"));
    assert!(c.marked("paxos.lease_read_fell_back_to_quorum"));
    assert_eq!(c.reply(r), None);
    assert_eq!(c.in_flight("Heartbeat"), 2);
    c.deliver_all();
    assert_eq!(c.reply(r), Some(&read_ok(Some(1))));
    assert_eq!(reads_served(&c), 0);
}

#[test]
fn a_read_pending_when_its_leader_loses_leadership_fails_and_is_known_not_applied() {
    // PAXOS.md #12 (PML §5.3) for reads: an unconfirmed read cannot be answered by a
    // deposed leader; a read changes nothing, so the failure is definite.
    let mut c = cluster(config_reading(3, ReadMode::Quorum));
    c.elect(n(1));
    let r = c.client(n(1), read("x"));
    assert_eq!(c.drop_where(|e| e.msg.kind() == "Heartbeat").len(), 2);
    c.outlast_fence();
    c.fire_election(n(2));
    c.deliver_all();
    assert!(c.leads(n(2)).is_some());
    assert!(c.marks(n(1)).contains(&"paxos.yielded_to_higher_ballot"));
    let replies = c.replies_to(r);
    assert_eq!(replies.len(), 1);
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
fn in_log_mode_a_read_is_ordered_through_the_log_like_a_write() {
    // PAXOS.md #10: the simplest linearizable read takes a slot.
    let mut c = cluster(config(3));
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    let r = c.client(n(1), read("x"));
    assert_eq!(c.in_flight("Accept"), 4, "one Accept per command per peer");
    assert_eq!(c.reply(r), None);
    c.deliver_all();
    assert_eq!(c.reply(r), Some(&read_ok(Some(1))));
    assert_eq!(c.node(n(1)).executed(), 2);
    let follower = c.client(n(2), read("x"));
    assert_eq!(
        c.reply(follower),
        Some(&Reply::NotLeader { hint: Some(n(1)) })
    );
}

#[test]
fn a_local_read_answers_from_what_the_node_executed_however_stale() {
    // PAXOS.md #10: `local` reads are the fast, stale baseline the checkers must flag.
    let mut c = cluster(config_reading(3, ReadMode::Local));
    c.elect(n(1));
    c.isolate(n(3));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    let stale = c.client(n(3), read("x"));
    assert_eq!(c.reply(stale), Some(&read_ok(None)));
    let fresh = c.client(n(1), read("x"));
    assert_eq!(c.reply(fresh), Some(&read_ok(Some(1))));
    assert_eq!(
        reads_served(&c),
        1,
        "only the leader's counts as its own authority"
    );
}

#[test]
fn a_follower_answers_under_its_lease_and_a_write_waits_for_every_lease_holder() {
    // Ceph's monitor leases (PROTOCOLS.md, Ceph #7736): a follower holding a lease answers
    // alone; the leader completes no write a lease holder has not accepted, and a holder
    // that accepted a slot answers nothing before it executed it.
    let mut c = followers_holding_leases(config_reading(3, ReadMode::Lease));
    let before = c.client(n(3), read("x"));
    assert_eq!(c.reply(before), Some(&read_ok(Some(1))));
    assert!(c.marked("paxos.follower_lease_read"));
    assert_eq!(
        c.envelopes().count(),
        0,
        "no message for a follower's lease read"
    );
    assert_eq!(reads_served(&c), 0, "a follower read is not a leader's");

    let w = c.client(n(1), write("x", 2));
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    assert!(c.deliver_kind(n(2), n(1), "Accepted"));
    assert_eq!(
        c.reply(w),
        None,
        "chosen, but n3 holds a lease and has not accepted it"
    );
    assert!(c.marked("paxos.execution_held_for_lease_holder"));
    assert_eq!(c.node(n(1)).executed(), 1);
    let during = c.client(n(3), read("x"));
    assert_eq!(
        c.reply(during),
        Some(&read_ok(Some(1))),
        "the write is not complete"
    );

    assert!(c.deliver_kind(n(1), n(3), "Accept"));
    let behind = c.client(n(3), read("x"));
    assert!(
        matches!(c.reply(behind), Some(Reply::NotLeader { .. })),
        "n3 accepted slot 2 and has not executed it: {:?}",
        c.reply(behind)
    );
    assert!(c.marked("paxos.follower_read_behind_its_accepts"));
    assert!(c.deliver_kind(n(3), n(1), "Accepted"));
    assert_eq!(c.reply(w), Some(&Reply::Ok(protocol::OpResult::Written)));
    c.deliver_all();
    let after = c.client(n(3), read("x"));
    assert_eq!(c.reply(after), Some(&read_ok(Some(2))));
}

#[test]
fn a_follower_lease_runs_out_and_then_binds_the_leader_no_more() {
    // The lease is counted from the follower's ack, so it ends before the leader's own;
    // once it ran out, the follower redirects reads and the leader completes writes
    // without it.
    let mut c = followers_holding_leases(config_reading(3, ReadMode::Lease));
    c.advance(c.config.election_timeout.0);
    let r = c.client(n(3), read("x"));
    assert!(matches!(c.reply(r), Some(Reply::NotLeader { .. })));
    c.isolate(n(3));
    let w = c.client(n(1), write("x", 2));
    c.deliver_all();
    assert_eq!(c.reply(w), Some(&Reply::Ok(protocol::OpResult::Written)));
}

/// n3, holding a lease from n1, acks heartbeat round 1000 (at local time `acked`); then
/// either the lease any grant for that round could give runs out, or n3 restarts at once;
/// a copy of the heartbeat then reaches n3, and then the grant of round 1000, held back.
/// Whether n3 answers a read alone after each.
fn read_alone_after_late_grant(restart: bool) -> (bool, bool) {
    let mut c = followers_holding_leases(config_reading(3, ReadMode::Lease));
    let ballot = c.leads(n(1)).expect("n1 leads");
    let lease = protocol::lease_duration(&c.config);
    let heartbeat = Message::Heartbeat {
        ballot,
        round: 1000,
        chosen_upto: 1,
    };
    let acked = c.local_now(n(3));
    c.send(n(1), n(3), heartbeat.clone());
    if restart {
        c.crash(n(3));
        c.advance(std::time::Duration::from_millis(1));
        c.restart(n(3));
    } else {
        c.advance(lease);
    }
    c.send(n(1), n(3), heartbeat);
    let alone = |c: &mut Cluster| {
        let r = c.client(n(3), read("x"));
        !matches!(c.reply(r), Some(Reply::NotLeader { .. }))
    };
    let before = alone(&mut c);
    c.send(
        n(1),
        n(3),
        Message::LeaseGrant {
            ballot,
            round: 1000,
            acked_at: acked,
            duration: lease,
        },
    );
    (before, alone(&mut c))
}

#[test]
fn a_late_grant_counts_from_the_first_ack_not_from_a_late_copy_of_the_heartbeat() {
    // Swarm seed 75484 (tests/paxos_follower_lease_late_copy.rs): a follower's lease counts
    // from its ack of the round the grant names, which came before the grant, and the
    // grant carries that ack's time. A copy of the heartbeat, delivered late and acked
    // again, does not move it (the follower counted from the copy: a late copy of the
    // grant outlasted the leader's lease).
    assert_eq!(read_alone_after_late_grant(false), (false, false));
}

#[test]
fn a_grant_to_an_ack_sent_before_a_restart_gives_no_lease() {
    // A restarted follower takes no grant that answers its earlier incarnation: the leader
    // judged that one caught up, and this one starts over from its snapshot. (Counting from
    // the copy's ack, as it did, it took it.)
    assert_eq!(read_alone_after_late_grant(true), (false, false));
}
