//! Histories and the checkers that judge them: linearizability of client histories
//! (from the simulator or from anywhere: Jepsen EDN and logs, Porcupine's formats, a
//! native JSON), and safety and liveness over what nodes reported about themselves.
//!
//! What this crate is not: a simulator. It knows nothing of how a history was made.

pub mod disruption;
pub mod formats;
pub mod history;
pub mod html;
pub mod linearizability;
pub mod safety;
