//! How many steps per second the protocol takes through the test cluster (which adds
//! its own bookkeeping, so this is a lower bound for the step function alone).
//! Run by hand: `cargo test -p raft --release --test throughput -- --ignored --nocapture`.

mod common;

use common::*;
use protocol::{Input, Reply};
use raft::TIMER_HEARTBEAT;
use std::time::{Duration, Instant};

#[test]
#[ignore = "a measurement, not a check; run by hand"]
fn steps_per_second_for_five_nodes_under_a_write_load() {
    let mut c = Cluster::new(config(5));
    c.elect(n(1));
    let writes = 20_000u64;
    let started = Instant::now();
    let steps_before = c.steps;
    for i in 0..writes {
        c.client(n(1), write("x", i));
        c.deliver_all();
        if i % 8 == 0 {
            c.step(n(1), Input::Timer(TIMER_HEARTBEAT));
            c.advance(Duration::from_millis(50));
        }
    }
    let elapsed = started.elapsed();
    let steps = c.steps - steps_before;
    let ok = c
        .replies
        .iter()
        .filter(|r| matches!(r.2, Reply::Ok(_)))
        .count() as u64;
    assert_eq!(ok, writes);
    assert_eq!(c.role(n(1)).0, protocol::Role::Leader);
    eprintln!(
        "{writes} writes, {steps} steps in {elapsed:?}: {:.0} steps/s, {} reports",
        steps as f64 / elapsed.as_secs_f64(),
        c.reports.len()
    );
}
