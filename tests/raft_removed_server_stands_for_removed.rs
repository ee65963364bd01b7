//! A liveness bug of correct Raft, found by a trial of `[swarm] grow_from_one` (a cluster
//! that starts from one voter and grows by `reconfigure`) at seed 1619, and frozen here with
//! the world that seed drew (`tests/worlds/raft_removed_server_stands_for_removed_world.toml`:
//! five servers, membership [1] at the start, 30 ms links, clocks at the ends of a 50%
//! bound, check-quorum on, pre-vote off, the leader lost for good at the final heal).
//!
//! By the heal the membership was n1 n3 n5; n2 and n4 had been removed. n1 was lost, so
//! n3 and n5 had to elect one of themselves. n2 did not know its removal had committed
//! and campaigned in its old configuration, which counted n4; n4, removed and knowing it,
//! took n2's lagging log for a sign that only n4 could win (the rule of seed 3901, a
//! removed server that holds the entry the members need stands for them) and stood. n3
//! and n5 voted for it, as its log was ahead; it stepped down once its no-op committed,
//! n2 called again, and so on: no operation invoked after the heal completed within the
//! bound. The fix: only a lagging candidate of the server's own latest configuration
//! counts. A candidate outside it was removed by an entry the server holds and the
//! candidate lacks, so it can win no election that matters.

mod common;

#[test]
fn a_removed_server_does_not_stand_for_another_removed_server() {
    common::frozen_bug_passes(
        "raft",
        "raft_removed_server_stands_for_removed_world.toml",
        1619,
        5,
        None,
        "liveness",
    );
}
