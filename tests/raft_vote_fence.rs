//! A safety bug of correct Raft with lease reads, found by the swarm at seed 17901 (past
//! the 5000 seeds the campaign had passed) and frozen here with the world that seed drew
//! (`tests/worlds/raft_vote_fence_world.toml`). n1 led term 3; n3 acknowledged its
//! heartbeat at 26.548s, extending n1's lease to 26.691s. A refusal of n3's own earlier
//! pre-vote then arrived carrying term 4, and n3 moved to term 4 without a leader: its vote
//! fence held only while it knew a leader, so at 26.588s it voted n2 in, and n2 led term 4
//! inside n1's lease (`lease_exclusivity`). The fence now counts from the last word of a
//! leader whatever term the node moved to since, and a node fenced in its own term votes
//! for no one new (`raft.vote_fenced_in_term`).

mod common;

#[test]
fn a_follower_that_takes_a_higher_term_from_a_reply_still_keeps_the_lease_it_acknowledged() {
    common::frozen_bug_passes(
        "raft",
        "raft_vote_fence_world.toml",
        17901,
        3,
        Some("raft.vote_fenced_in_term"),
        "lease_exclusivity",
    );
}
