//! A safety bug of correct Paxos in lease mode, found by the swarm at seed 75484
//! (`sim fuzz scenarios/swarm.toml --protocol paxos --seeds 46000..106000`) and frozen here
//! with the world that seed drew (`tests/worlds/paxos_follower_lease_late_copy_world.toml`:
//! five servers, a quarter of the datagrams duplicated and half held back by up to 0.8 s,
//! the leader paused for 0.4 s).
//!
//! A follower's read lease counts from the moment it acked a heartbeat round, and the
//! leader grants it for the last round the follower acked. n4 led; its heartbeats and
//! grants to n5 kept arriving out of order and twice. While n4 was paused, n5's lease ran
//! out as n4 counted it, and on resuming n4 committed a compare-and-set (34 -> 35) without
//! n5, as it may. Then copies of heartbeat rounds 125 and 127, sent before the pause, reached
//! n5 at 41.37 s; n5 noted them as new asks (the first asks of those rounds had left its
//! list of sixteen), and a copy of the grant for round 127, also sent before the pause,
//! arrived 4 ms later: n5 counted that lease from the copy, and at 41.42 s read 34 to the
//! client that had been told its compare-and-set to 35 succeeded (`linearizability`). The
//! fix: a follower notes a round only above the last it noted (a leader's rounds only
//! rise), so a copy never moves an ask later.

mod common;

#[test]
fn a_follower_lease_counts_from_the_first_ack_of_its_round_not_a_late_copy() {
    let j = common::frozen_bug_passes(
        "paxos",
        "paxos_follower_lease_late_copy_world.toml",
        75484,
        5,
        Some("paxos.follower_lease_read"),
        "linearizability",
    );
    assert!(j.passed());
}
