//! A safety bug of correct Paxos in lease mode, found by the swarm at seed 5708 once its
//! worlds drew storage faults without `corrupt_max` (`sim fuzz scenarios/swarm.toml
//! --protocol paxos --seeds 0..20000`), and frozen here with the world that seed drew
//! (`tests/worlds/paxos_follower_lease_damaged_record_world.toml`: six servers, lease reads,
//! a storage fault every two seconds or so).
//!
//! A follower answers a read under its lease once it executed every slot it accepted: the
//! leader granted the lease counting those acceptances, and may have executed any of them.
//! n1 had accepted the slot of write(k3, 50), which the leader executed and acknowledged at
//! 40.28 s; a storage fault at 40.41 s damaged n1's record of that slot, its last. n1
//! restarted with the record unreadable, so its last intact acceptance was an earlier slot,
//! and at 40.59 s, under a fresh lease, it read 47 to the client that had written 50
//! (`linearizability`). The fix: a damaged record counts as an acceptance the follower has
//! yet to execute (`paxos.follower_read_behind_its_accepts` at 40.59 s).

mod common;

#[test]
fn a_follower_whose_last_accepted_record_is_damaged_serves_no_lease_read_until_it_catches_up() {
    let j = common::frozen_bug_passes(
        "paxos",
        "paxos_follower_lease_damaged_record_world.toml",
        5708,
        6,
        Some("paxos.follower_read_behind_its_accepts"),
        "linearizability",
    );
    assert!(j.passed());
}
