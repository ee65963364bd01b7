//! A liveness bug of correct Raft without pre-vote, check-quorum or leases, found by the
//! swarm at seed 21944 and frozen here with the world that seed drew
//! (`tests/worlds/raft_removed_server_world.toml`: 6 servers, membership changes).
//!
//! By 10.4s the configuration was n3 n4 n6; n1, n5 and n2 had been removed. Each learned
//! its removal committed and kept quiet (`raft.non_member_does_not_campaign`) until a
//! crash: the commit index is volatile, so a restarted removed server no longer knew it,
//! and campaigned again, as thesis §4.2.2 has a removed server do while its removal may be
//! uncommitted (n1 restarted at 9.15s, n5 at 14.84s, n2 at 23.76s). No leader ships to a
//! server whose removal committed, so none learned it again, and every election timeout
//! of theirs brought a RequestVote of a higher term that deposed the leader (thesis
//! §4.2.3): n4 led term 263 from 50.164s; at 50.284s n1, whose log ends at index 8 of term
//! 2, asked for term 264 and n4 became its follower. Terms ran on at six a second, to 326,
//! and no operation invoked after the heal at 50s completed (`liveness`).
//!
//! The fix is the thesis's: a node that heard from a leader within the minimum election
//! timeout (or leads) neither updates its term nor votes for a candidate outside its
//! configuration, whatever the options (`raft.non_member_vote_fenced`).

mod common;

#[test]
fn a_removed_server_that_campaigns_does_not_depose_the_leader_of_the_configuration() {
    common::frozen_bug_passes(
        "raft",
        "raft_removed_server_world.toml",
        21944,
        6,
        Some("raft.non_member_vote_fenced"),
        "liveness",
    );
}
