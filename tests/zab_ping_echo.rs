//! A liveness bug of correct ZAB, found by a trial swarm (election spreads from 5 ms) at
//! seed 3269 and frozen here. The leader n1 stepped down on a clock step, and n1 and n3
//! each joined the other as the "established" leader. A learner echoes every PING to its
//! leader, so one PING went back and forth between them forever. Each echo counted as word
//! from the leader, so neither timed out, and no one led from 2.9 s to the end. A leader's
//! PING rounds only rise on FIFO links, so a learner now ignores a round it has already
//! heard (`zab.learner_ping_echo_ignored`).
//!
//! The world is frozen as drawn (`tests/worlds/zab_ping_echo_world.toml`, the swarm's draw
//! for that seed written out), not as the swarm's ranges: a change to what the swarm draws
//! (a new message kind to aim at moves every later draw) would otherwise lose it.
//!
//! Since a learner that leaves its leader closes their connection (as ZooKeeper's closes
//! its socket; `tests/zab_rejoin_closes_connection.rs`), the PING that started the echo,
//! sent on a connection one of the two had since left, is lost with it: this world no
//! longer reaches the echo (`zab.learner_ping_echo_ignored` was taken at 4 of its seeds
//! 0..3000 before, at none after). The test still holds the world to liveness; the guard
//! stays, for an echo whose first PING no close strands, and a unit test in
//! `crates/zab/tests/scenarios.rs` (`a_learner_fed_only_an_old_ping_round_leaves_its_leader`)
//! exercises it.

mod common;

#[test]
fn two_learners_that_follow_each_other_stop_echoing_and_elect_a_leader() {
    common::frozen_bug_passes("zab", "zab_ping_echo_world.toml", 3269, 4, None, "liveness");
}
