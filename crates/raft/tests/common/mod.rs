//! Raft's side of the shared test driver ([`protocol::testkit`]): the cluster type, the
//! election and heartbeat timers, `elect`, and compact transcript lines for AppendEntries
//! and log writes (so the golden transcripts stay short).
#![allow(dead_code, unused_imports)] // each test file uses a part of it

use protocol::testkit::{self, Formats};
pub use protocol::testkit::{config, n, read, write};
use protocol::{NodeId, Role};
use raft::{LogWrite, Message, Raft, Write, TIMER_ELECTION, TIMER_HEARTBEAT};

pub type Cluster = testkit::Cluster<Raft>;
pub type Envelope = testkit::Envelope<Message>;

/// How Raft transcripts show messages and writes.
pub const FORMATS: Formats<Raft> = Formats {
    message: describe_message,
    write: describe_write,
};

/// What only Raft tests ask of the cluster.
pub trait RaftCluster {
    fn fire_election(&mut self, id: NodeId);
    fn fire_heartbeat(&mut self, id: NodeId);
    /// Fires `id`'s election timer (under pre-vote a won pre-vote starts the election at
    /// once) and delivers everything; `id` must win.
    fn elect(&mut self, id: NodeId);
    /// The term of each entry of `id`'s log.
    fn log_terms(&self, id: NodeId) -> Vec<u64>;
}

impl RaftCluster for Cluster {
    fn fire_election(&mut self, id: NodeId) {
        self.fire(id, TIMER_ELECTION);
    }

    fn fire_heartbeat(&mut self, id: NodeId) {
        self.fire(id, TIMER_HEARTBEAT);
    }

    fn elect(&mut self, id: NodeId) {
        self.fire_election(id);
        self.deliver_all();
        assert_eq!(self.role(id).0, Role::Leader, "{id} failed to win");
    }

    fn log_terms(&self, id: NodeId) -> Vec<u64> {
        self.node(id).log().iter().map(|e| e.term).collect()
    }
}

/// AppendEntries with the terms of its entries only; other messages as `Debug`.
fn describe_message(msg: &Message) -> String {
    match msg {
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            round,
        } => {
            let terms: Vec<u64> = entries.iter().map(|e| e.term).collect();
            format!(
                "AppendEntries term {term} prev ({prev_log_index}, {prev_log_term}) entries {terms:?} commit {leader_commit} round {round}"
            )
        }
        other => format!("{other:?}"),
    }
}

fn describe_write(write: &Write) -> String {
    match write {
        Write::HardState { term, voted_for } => {
            format!("hard state term {term} vote {voted_for:?}")
        }
        Write::Log(LogWrite::Append { index, entries }) => {
            format!("append {} at {index}", entries.len())
        }
        Write::Log(LogWrite::Truncate { from }) => format!("truncate from {from}"),
        Write::Log(LogWrite::Compact { upto, term }) => format!("compact to {upto} (term {term})"),
        Write::Log(LogWrite::Reset { index, term }) => {
            format!("reset the log to start after {index} (term {term})")
        }
        Write::Snapshot(s) => format!("snapshot to {} (term {})", s.index, s.term),
    }
}
