//! A liveness failure of correct Raft that was the client model's, found by the swarm at
//! seed 65798 and frozen here with the world that seed drew
//! (`tests/worlds/raft_sticky_timeout_walk_world.toml`: 7 servers, members n1..n6 and a
//! spare, pre-vote, one sticky client, timeout 2.8 s, election timeout 332..1088 ms).
//!
//! `reconfigure` faults removed n2 (index 20, 35.5s), added the spare n7 (index 22) and
//! removed it (index 25, 38.9s), and removed n3 (index 29, 39.8s), leaving n1 n4 n5 n6.
//! At the final heal (50s) n1 was lost for good; n4 led term 34 from 51.3s with n5 and
//! n6. Removed n2, n3 and n7 hear from no leader and name none (thesis §6.2), so a sticky
//! session kept at each for an election's patience (1.088 s) before moving to the next
//! server of the ring: from n7, n7 -> n2 -> n3 takes 3.26 s, longer than the 2.8 s
//! timeout. On each timeout the session
//! moved to a server drawn at random, and the draw gave n7 three times (operations 29, 30
//! and 31, from 51.2s), so no operation reached n4..n6 and none invoked after the heal
//! completed (`liveness`); the protocol was not at fault (all safety checks passed, n4
//! could commit with n5 and n6).
//!
//! The fix is the client's: a session that times out while its server names no leader
//! moves to the server after that one, continuing its walk down the ring instead of
//! restarting it at random, so each such timeout advances the session past at least one
//! server that names none.

mod common;

#[test]
fn a_timed_out_sticky_session_moves_on_from_the_server_it_last_tried() {
    common::frozen_bug_passes(
        "raft",
        "raft_sticky_timeout_walk_world.toml",
        65798,
        7,
        None,
        "liveness",
    );
}
