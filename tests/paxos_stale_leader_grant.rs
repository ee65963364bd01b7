//! A safety bug of correct Paxos with master leases, found by the swarm at seed 27115 and
//! frozen here with the world that seed drew
//! (`tests/worlds/paxos_stale_leader_grant_world.toml`).
//!
//! n3 had promised ballot 15 (n2) and never ballot 16, whose leader n1 it answered at
//! 10.206s, extending n1's lease. A heartbeat of ballot 15 that n2 had sent a leadership
//! earlier arrived a fraction of a millisecond later (the network held it back most of a
//! second); the promise, still 15, admitted it, and answering it moved n3's grant
//! (`lease_granted`) to n2. n2's next Prepare passed the fence, and n2 led from 10.267s
//! inside n1's lease, which held until 10.275s (`lease_exclusivity`).
//!
//! A heartbeat now raises the promise to its ballot as an accept does (PMMC A2; a
//! heartbeat is an accept of no slot), so the stale heartbeat of 15 gets a Nack
//! (`paxos.heartbeat_raised_promise`). The mutant `paxos.accept_without_raising_promise`
//! leaves both unraised.

mod common;

#[test]
fn a_stale_leaders_heartbeat_does_not_move_a_live_grant() {
    common::frozen_bug_passes(
        "paxos",
        "paxos_stale_leader_grant_world.toml",
        27115,
        3,
        Some("paxos.heartbeat_raised_promise"),
        "lease_exclusivity",
    );
}
