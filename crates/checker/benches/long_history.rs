//! How the linearizability check scales with a healthy history's length: wall time and
//! the process's peak memory for histories of 100,000 to 3.2 million operations (three
//! clients on three keys, as the simulator's default workload; one write or cas in 500
//! timing out). Run with `cargo bench -p checker --bench long_history`; pass a number to
//! stop at that many operations. "history MB" is the process's memory with the history
//! built, before the check; "peak MB" its high-water mark after it (the lengths run from
//! the shortest up, so each line's peak is its own).

#[path = "../tests/common/mod.rs"]
mod common;

use checker::linearizability::{check, Budget, Model};
use std::time::Instant;

/// The process's resident memory now ("VmRSS") or at its peak ("VmHWM"), in MB (Linux
/// only).
fn memory_mb(which: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(which))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn main() {
    let most: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3_200_000);
    println!(
        "{:>10} {:>10} {:>12} {:>12} {:>10}",
        "ops", "check s", "ns per op", "history MB", "peak MB"
    );
    let mut ops = 100_000;
    while ops <= most {
        let history = common::healthy_history(1, ops, 3, 3, 500);
        let held = memory_mb("VmRSS:");
        let started = Instant::now();
        let outcome = check(
            &history,
            Model::Kv,
            Budget {
                time: None,
                steps: None,
                threads: 1,
            },
        );
        let wall = started.elapsed();
        assert_eq!(outcome.name(), "linearizable", "{outcome:?}");
        let mb = |m: Option<u64>| m.map_or("?".into(), |m| m.to_string());
        println!(
            "{ops:>10} {:>10.3} {:>12.0} {:>12} {:>10}",
            wall.as_secs_f64(),
            wall.as_nanos() as f64 / ops as f64,
            mb(held),
            mb(memory_mb("VmHWM:"))
        );
        ops *= 2;
    }
}
