//! The simulated world consensus protocols run in: one seeded, single-threaded event loop
//! with a network (latency, loss, duplication, reordering, partitions of any shape, clogs,
//! FIFO links whose loss is a connection reset), per-node durable storage with write
//! latency, per-node clocks with offset, drift and steps, crashes, restarts and pauses,
//! simulated clients, and a random nemesis. A run records a trace with a stable hash.
//!
//! What this crate is not: a protocol (it is generic over `protocol::Protocol`) or a judge
//! (verdicts come from the `checker` crate; this crate only evaluates a scenario's
//! expectations with them).
//!
//! The one rule: the same scenario and seed give the same run, byte for byte.

pub mod duration;
pub mod queue;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod swarm;
pub mod trace;
pub mod world;

pub use scenario::{Scenario, ScenarioError};

/// How this simulator unfolds a run, as a number. Bump it with any change that alters the
/// events of some run (the network's, storage's or clocks' draws, the nemesis, the
/// workload, a swarm world's draw, the order of anything in the queue): a trace records it
/// beside its protocol's `Protocol::REVISION`, so that `sim replay` can tell a trace made
/// by an older build from a determinism bug.
pub const REVISION: u32 = 2;
pub use sim::{RunOptions, RunOutput, Simulation};
pub mod export;
pub mod history;
pub mod judge;
pub mod report;
pub mod shrink;
