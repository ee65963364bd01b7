//! What a step receives and what it asks for.

use crate::kv::{Command, OpId, OpResult};
use crate::time::LocalTime;
use crate::NodeId;
use std::time::Duration;

/// A protocol-chosen timer name (for example `TimerId(0)` for the election timer).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimerId(pub u32);

/// One thing that happened to the node.
#[derive(Clone, Debug)]
pub enum Input<M> {
    /// A message from a peer.
    Message { from: NodeId, msg: M },
    /// A timer set earlier fired.
    Timer(TimerId),
    /// A client asks for an operation; answer it with [`Output::Reply`] quoting `id`.
    Client(Command),
    /// The write issued with this tag is durable.
    WriteDone { tag: u64 },
    /// The FIFO connection to `peer` was reset (TCP), or one end closed it
    /// ([`Output::Disconnect`]): messages sent on it after the last one delivered are
    /// lost. Only drivers with FIFO links send this.
    Disconnected { peer: NodeId },
    /// The operator asks this node, if it leads, to change the voting membership by one
    /// server. Only protocols with `Protocol::SUPPORTS_MEMBERSHIP` act on it; a node that
    /// cannot start the change now (not the leader, a change still in progress) ignores it.
    ChangeMembership(MembershipChange),
}

/// A single-server membership change (Raft thesis §4.1): one voter joins or leaves.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MembershipChange {
    Add(NodeId),
    Remove(NodeId),
}

impl MembershipChange {
    /// The server that joins or leaves.
    pub fn node(self) -> NodeId {
        match self {
            MembershipChange::Add(n) | MembershipChange::Remove(n) => n,
        }
    }
    /// "add_server" or "remove_server", as scenario files name it.
    pub fn name(self) -> &'static str {
        match self {
            MembershipChange::Add(_) => "add_server",
            MembershipChange::Remove(_) => "remove_server",
        }
    }
}

/// When a send may leave the node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Delivery {
    /// At once, even ahead of writes still in progress.
    Immediate,
    /// Only once every write issued before it has completed; a crash first discards it.
    AfterWrites,
}

/// What a client gets back.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Reply {
    Ok(OpResult),
    /// This node does not serve the request; `hint` is who it believes leads.
    NotLeader {
        hint: Option<NodeId>,
    },
    /// The request failed. `maybe_applied` is false only when the node knows the operation
    /// did not and will not take effect.
    Error {
        reason: &'static str,
        maybe_applied: bool,
    },
}

/// Roles across protocols. ZAB's `Leading` is a leader not yet established (before a
/// quorum acked NEWLEADER); ZAB reports `Leader` once established.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
    Looking,
    Following,
    Leading,
    Observing,
    Crashed,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
            Role::Looking => "looking",
            Role::Following => "following",
            Role::Leading => "leading",
            Role::Observing => "observing",
            Role::Crashed => "crashed",
        }
    }
}

/// What a node says about itself for the checkers and the ghost record. Reports are
/// facts the protocol asserts about its own state at the moment of the step.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Report {
    /// The node's role or term (epoch, ballot) changed. `Leader` means the node now acts
    /// as the leader of `term`.
    Role { role: Role, term: u64 },
    /// The node granted its vote in `term`.
    Vote { term: u64, candidate: NodeId },
    /// The node learned that the entry at `index` (a zxid, a slot) is committed (chosen).
    /// `term` is the entry's term (epoch, ballot); `op` the client operation, if any.
    Commit {
        index: u64,
        term: u64,
        op: Option<OpId>,
    },
    /// The node applied the entry at `index` to its state machine, whose digest
    /// ([`crate::Kv::digest`]) is `state` afterwards.
    Apply {
        index: u64,
        term: u64,
        op: Option<OpId>,
        state: u64,
    },
    /// The leader of `term` holds a read lease until local time `until`.
    Lease { term: u64, until: LocalTime },
    /// The leader of `term` answered a read on its own authority — from a lease, or from
    /// local state — with no quorum confirming its leadership after the read arrived.
    /// (A ReadIndex or quorum-confirmed read is not reported: it linearizes at the
    /// confirmation, even when served later.) The split-brain checker counts these.
    ReadServed { term: u64 },
    /// The node, as an acceptor, accepted the entry at `index` (`term` and `op` as in
    /// `Commit`) in ballot `ballot`, and the acceptance is durable (report it when the
    /// write completes, not when it is issued: a crash before then takes the vote back).
    /// An entry that a majority of the voters accepted in one ballot is chosen (Paxos
    /// Made Simple §2.2) whether or not any node learns it, so log safety fails when two
    /// entries are chosen at one index, and when an acceptor accepts an index in a lower
    /// ballot than it accepted there before (accepting a ballot promises it). For protocols whose acceptors vote in ballots, as
    /// Paxos's do; not Raft's (a majority may hold an entry of an earlier term that a
    /// later leader overwrites, Raft §5.4.2) nor ZAB's.
    Accepted {
        index: u64,
        ballot: u64,
        term: u64,
        op: Option<OpId>,
    },
    /// The node's voting membership changed: from now on `members` vote and make up its
    /// quorums (Raft: a configuration entry was appended, or truncated away).
    Members { members: Vec<NodeId> },
    /// A rare path was taken (coverage mark, for campaign reports and unit tests).
    Mark(&'static str),
}

/// One thing a step asks for.
#[derive(Clone, Debug)]
pub enum Output<M, W> {
    Send {
        to: NodeId,
        msg: M,
        delivery: Delivery,
    },
    /// Fire `Input::Timer(timer)` after a local duration drawn from `min..=max`.
    SetTimer {
        timer: TimerId,
        min: Duration,
        max: Duration,
    },
    CancelTimer {
        timer: TimerId,
    },
    Reply {
        id: OpId,
        reply: Reply,
        delivery: Delivery,
    },
    /// Write to a durable cell; completion comes back as `Input::WriteDone { tag }`.
    Write {
        tag: u64,
        write: W,
    },
    Report(Report),
    /// Close the FIFO connection to `peer` (TCP): what is in flight on it either way, and
    /// sends held until writes complete, are lost; both ends then get
    /// [`Input::Disconnected`], each before anything sent to it on the next connection.
    /// Drivers with datagram links ignore it.
    Disconnect {
        peer: NodeId,
    },
}

/// The buffer a step pushes its outputs into, in order.
#[derive(Debug)]
pub struct Outputs<M, W> {
    items: Vec<Output<M, W>>,
}

impl<M, W> Default for Outputs<M, W> {
    fn default() -> Self {
        Outputs { items: Vec::new() }
    }
}

impl<M, W> Outputs<M, W> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, output: Output<M, W>) {
        self.items.push(output);
    }
    pub fn send(&mut self, to: NodeId, msg: M) {
        self.push(Output::Send {
            to,
            msg,
            delivery: Delivery::Immediate,
        });
    }
    /// Sends once every write issued so far is durable.
    pub fn send_after_writes(&mut self, to: NodeId, msg: M) {
        self.push(Output::Send {
            to,
            msg,
            delivery: Delivery::AfterWrites,
        });
    }
    pub fn set_timer(&mut self, timer: TimerId, min: Duration, max: Duration) {
        debug_assert!(min <= max, "timer range {min:?}..{max:?} is empty");
        self.push(Output::SetTimer { timer, min, max });
    }
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.push(Output::CancelTimer { timer });
    }
    pub fn reply(&mut self, id: OpId, reply: Reply) {
        self.push(Output::Reply {
            id,
            reply,
            delivery: Delivery::Immediate,
        });
    }
    pub fn reply_after_writes(&mut self, id: OpId, reply: Reply) {
        self.push(Output::Reply {
            id,
            reply,
            delivery: Delivery::AfterWrites,
        });
    }
    pub fn write(&mut self, tag: u64, write: W) {
        self.push(Output::Write { tag, write });
    }
    pub fn report(&mut self, report: Report) {
        self.push(Output::Report(report));
    }
    /// Closes the FIFO connection to `peer` (see [`Output::Disconnect`]).
    pub fn disconnect(&mut self, peer: NodeId) {
        self.push(Output::Disconnect { peer });
    }
    pub fn mark(&mut self, name: &'static str) {
        self.push(Output::Report(Report::Mark(name)));
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Output<M, W>> {
        self.items.iter()
    }
    /// Takes every output, leaving the buffer empty (and its allocation for reuse).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output<M, W>> {
        self.items.drain(..)
    }
}
