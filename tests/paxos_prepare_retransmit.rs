//! A safety bug of correct Paxos, found by the swarm at seed 14981 (past the 5000 seeds
//! the campaign had passed; seed 12350 failed the same way) and frozen here with the world
//! that seed drew (`tests/worlds/paxos_prepare_retransmit_world.toml`). With 100 ms disks,
//! n2 became a candidate of ballot 6 (first slot 10) and retransmitted its Prepare on the
//! next heartbeat tick, before its round was durable; it crashed, came back with round 5,
//! and ran for ballot 6 again, now from slot 6. Promises to the first Prepare (no accepted
//! value below slot 10) completed its quorum, and it filled chosen slots 6 to 9 with
//! no-ops (`log_safety`, and linearizability at 12350). A retransmitted Prepare now waits
//! for the writes before it, as the first one does (`paxos.prepare_retransmit_held_for_writes`).

mod common;

#[test]
fn a_prepare_retransmitted_before_its_round_is_durable_waits_for_it() {
    common::frozen_bug_passes(
        "paxos",
        "paxos_prepare_retransmit_world.toml",
        14981,
        7,
        Some("paxos.prepare_retransmit_held_for_writes"),
        "log_safety",
    );
}
