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

mod common;

use sim::hunt;
use simulator::judge::judge;
use simulator::Scenario;

#[test]
fn two_learners_that_follow_each_other_stop_echoing_and_elect_a_leader() {
    let sc = Scenario::load(&common::root().join("tests/worlds/zab_ping_echo_world.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let options = hunt::campaign_options(&[], 3269, false);
    let (world, out) = hunt::run_world("zab", &sc, &options).expect("zab runs the world");
    assert_eq!(world.nodes, 4, "the world drawn is the one frozen");
    assert!(
        out.marks
            .get("zab.learner_ping_echo_ignored")
            .copied()
            .unwrap_or(0)
            > 0,
        "the run no longer reaches the echo: {:?}",
        out.marks
    );
    let j = judge(&world, &out);
    let liveness = j.verdict("liveness").expect("a liveness verdict");
    assert!(j.passed(), "{}", liveness.detail);
}
