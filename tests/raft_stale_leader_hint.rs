//! A liveness bug of correct Raft, found by the swarm at seed 89132 (the one failure of
//! seeds 80000..90000) and frozen here with the world that seed drew
//! (`tests/worlds/raft_stale_leader_hint_world.toml`: 6 servers, members n1..n5 and a
//! spare, check-quorum, lease reads, one client sending each operation to a random
//! server and following redirects).
//!
//! Membership changes removed n4 (index 87, 38.0s), n3 (index 90, 39.2s) and n1 (index
//! 108, 46.2s), leaving n2 n5 n6. Each removed server learned its removal committed and
//! kept quiet (`raft.non_member_does_not_campaign`), so it never started an election nor
//! changed term, and kept for good the leader it last heard: n4 named n3 (leader of term
//! 34 at 37.1s), n3 named n2 (leader of term 36 at 40.6s). At the final heal (50s) n2 was
//! lost for good and n5 led term 41 from 51.0s, but the client's operation went to n3,
//! which named n2; n2 being lost, the client tried the next server, n4, which named n3,
//! and so on: 1856 redirects until the operation timed out after 2s, and the next four
//! operations started at n3 or n4 again. No operation invoked after the heal completed
//! (`liveness`).
//!
//! The fix is thesis §6.2's rule for followers ("they must discard this information when
//! starting a new election or when changing terms", else "two servers [may] redirect to
//! each other"), applied to the server that declines to start one: when the election
//! timer fires at a server that does not campaign, it forgets the leader it has not heard
//! from for an election timeout, as hashicorp/raft's follower does on a heartbeat timeout
//! (`raft.non_member_forgets_silent_leader`).

mod common;

#[test]
fn a_removed_server_names_no_leader_it_has_not_heard_for_an_election_timeout() {
    common::frozen_bug_passes(
        "raft",
        "raft_stale_leader_hint_world.toml",
        89132,
        6,
        Some("raft.non_member_forgets_silent_leader"),
        "liveness",
    );
}
