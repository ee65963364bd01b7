//! A small deterministic cluster for transcript-like tests: the test decides which
//! message is delivered or dropped, which timer fires, when a write completes, and when a
//! node crashes (losing everything but the durable image its completed writes produced).
//! It models the contract's storage rules: writes of a node complete in issue order; an
//! `AfterWrites` send leaves only when every write issued before it has completed.
#![allow(dead_code)]

use protocol::{
    Command, Config, Delivery, Input, LocalTime, MessageKind, NodeId, Op, OpId, Output, Outputs,
    Protocol, Reply, Report, Role, TimerId,
};
use raft::{Durable, Message, Raft, Write, TIMER_ELECTION, TIMER_HEARTBEAT};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message,
}

enum Held {
    Send(Envelope),
    Reply(OpId, Reply),
}

pub struct Node {
    pub raft: Option<Raft>,
    pub durable: Durable,
    writes: VecDeque<(u64, Write)>,
    issued: u64,
    completed: u64,
    held: Vec<(u64, Held)>,
    pub timers: BTreeMap<TimerId, (Duration, Duration)>,
    /// Added to the cluster's clock to give this node's local time.
    pub clock_offset: Duration,
}

pub struct Cluster {
    pub config: Config,
    pub nodes: BTreeMap<NodeId, Node>,
    /// Messages in flight, in send order.
    pub net: Vec<Envelope>,
    pub reports: Vec<(NodeId, Report)>,
    pub replies: Vec<(NodeId, OpId, Reply)>,
    /// Links that drop every message (both directions).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub now: Duration,
    /// Complete every write as soon as the step that issued it returns.
    pub auto_write: bool,
    next_op: u64,
    pub steps: u64,
    /// Print every input (for debugging a failing schedule).
    pub trace: bool,
    /// When set, every input and output is written here, one line each (a transcript).
    pub transcript: Option<Vec<String>>,
}

pub fn n(i: u32) -> NodeId {
    NodeId(i)
}

pub fn config(nodes: u32) -> Config {
    Config::new((1..=nodes).map(NodeId).collect())
}

pub fn write(key: &str, value: u64) -> Op {
    Op::Write {
        key: key.into(),
        value,
    }
}

pub fn read(key: &str) -> Op {
    Op::Read { key: key.into() }
}

impl Cluster {
    pub fn new(config: Config) -> Cluster {
        Cluster::with_durable(config, BTreeMap::new())
    }

    /// A cluster whose nodes first start from the given durable images (others empty).
    pub fn with_durable(config: Config, mut durable: BTreeMap<NodeId, Durable>) -> Cluster {
        Raft::check_config(&config).expect("test config is valid");
        let mut cluster = Cluster {
            config: config.clone(),
            nodes: BTreeMap::new(),
            net: Vec::new(),
            reports: Vec::new(),
            replies: Vec::new(),
            cut: BTreeSet::new(),
            now: Duration::from_secs(1),
            auto_write: true,
            next_op: 1,
            steps: 0,
            trace: false,
            transcript: None,
        };
        for &id in &config.voters {
            cluster.nodes.insert(
                id,
                Node {
                    raft: None,
                    durable: durable.remove(&id).unwrap_or_default(),
                    writes: VecDeque::new(),
                    issued: 0,
                    completed: 0,
                    held: Vec::new(),
                    timers: BTreeMap::new(),
                    clock_offset: Duration::ZERO,
                },
            );
            cluster.restart(id);
        }
        cluster
    }

    pub fn local_now(&self, id: NodeId) -> LocalTime {
        LocalTime::from_duration(self.now + self.nodes[&id].clock_offset)
    }

    pub fn raft(&self, id: NodeId) -> &Raft {
        self.nodes[&id].raft.as_ref().expect("node is up")
    }

    pub fn role(&self, id: NodeId) -> (Role, u64) {
        self.raft(id).role()
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn handle_outputs(&mut self, id: NodeId, mut out: Outputs<Message, Write>) {
        for output in out.drain() {
            if let Some(lines) = self.transcript.as_mut() {
                lines.push(format!("  {id} {}", describe_output(&output)));
            }
            let node = self.nodes.get_mut(&id).unwrap();
            match output {
                Output::Send { to, msg, delivery } => {
                    let env = Envelope { from: id, to, msg };
                    if delivery == Delivery::AfterWrites && node.completed < node.issued {
                        node.held.push((node.issued, Held::Send(env)));
                    } else {
                        self.post(env);
                    }
                }
                Output::Reply {
                    id: op,
                    reply,
                    delivery,
                } => {
                    if delivery == Delivery::AfterWrites && node.completed < node.issued {
                        node.held.push((node.issued, Held::Reply(op, reply)));
                    } else {
                        self.replies.push((id, op, reply));
                    }
                }
                Output::SetTimer { timer, min, max } => {
                    node.timers.insert(timer, (min, max));
                }
                Output::CancelTimer { timer } => {
                    node.timers.remove(&timer);
                }
                Output::Write { tag, write } => {
                    node.issued += 1;
                    node.writes.push_back((tag, write));
                }
                Output::Report(report) => self.reports.push((id, report)),
            }
        }
    }

    fn post(&mut self, env: Envelope) {
        if !self.cut.contains(&(env.from, env.to)) {
            self.net.push(env);
        }
    }

    /// Runs one input on a live node and collects its outputs.
    pub fn step(&mut self, id: NodeId, input: Input<Message>) {
        if self.trace {
            eprintln!("{id} <- {input:?}");
        }
        if let Some(lines) = self.transcript.as_mut() {
            lines.push(format!("{id} <- {}", describe_input(&input)));
        }
        let now = self.local_now(id);
        let mut out = Outputs::new();
        let node = self.nodes.get_mut(&id).unwrap();
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        raft.step(now, input, &mut out);
        self.steps += 1;
        self.handle_outputs(id, out);
        if self.auto_write {
            self.complete_writes(id);
        }
    }

    /// Completes the oldest pending write of `id`; false if none.
    pub fn complete_one_write(&mut self, id: NodeId) -> bool {
        let node = self.nodes.get_mut(&id).unwrap();
        let Some((tag, write)) = node.writes.pop_front() else {
            return false;
        };
        Raft::persist(&mut node.durable, &write);
        node.completed += 1;
        let completed = node.completed;
        let (ready, rest): (Vec<_>, Vec<_>) = node
            .held
            .drain(..)
            .partition(|(after, _)| *after <= completed);
        node.held = rest;
        for (_, held) in ready {
            match held {
                Held::Send(env) => self.post(env),
                Held::Reply(op, reply) => self.replies.push((id, op, reply)),
            }
        }
        let auto = self.auto_write;
        self.auto_write = false;
        self.step(id, Input::WriteDone { tag });
        self.auto_write = auto;
        true
    }

    pub fn complete_writes(&mut self, id: NodeId) {
        while self.complete_one_write(id) {}
    }

    pub fn pending_writes(&self, id: NodeId) -> usize {
        self.nodes[&id].writes.len()
    }

    pub fn timer_set(&self, id: NodeId, timer: TimerId) -> bool {
        self.nodes[&id].timers.contains_key(&timer)
    }

    /// Fires a timer the node has set (panics if it has not: the test is wrong).
    pub fn fire(&mut self, id: NodeId, timer: TimerId) {
        let removed = self.nodes.get_mut(&id).unwrap().timers.remove(&timer);
        assert!(removed.is_some(), "{id} has no timer {timer:?} set");
        self.step(id, Input::Timer(timer));
    }

    pub fn fire_election(&mut self, id: NodeId) {
        self.fire(id, TIMER_ELECTION);
    }

    pub fn fire_heartbeat(&mut self, id: NodeId) {
        self.fire(id, TIMER_HEARTBEAT);
    }

    /// Delivers the first in-flight message matching `pred`; false if none does.
    pub fn deliver_where(&mut self, pred: impl Fn(&Envelope) -> bool) -> bool {
        let Some(i) = self.net.iter().position(pred) else {
            return false;
        };
        let env = self.net.remove(i);
        self.step(
            env.to,
            Input::Message {
                from: env.from,
                msg: env.msg,
            },
        );
        true
    }

    pub fn deliver(&mut self, from: NodeId, to: NodeId, kind: &str) -> bool {
        self.deliver_where(|e| e.from == from && e.to == to && e.msg.kind() == kind)
    }

    /// Removes (loses) every in-flight message matching `pred`; returns them.
    pub fn drop_where(&mut self, pred: impl Fn(&Envelope) -> bool) -> Vec<Envelope> {
        let (dropped, kept) = self.net.drain(..).partition(|e| pred(e));
        self.net = kept;
        dropped
    }

    /// Takes a message out of the network to re-inject later (a delayed message).
    pub fn hold(&mut self, from: NodeId, to: NodeId, kind: &str) -> Envelope {
        let i = self
            .net
            .iter()
            .position(|e| e.from == from && e.to == to && e.msg.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} from {from} to {to} in flight"));
        self.net.remove(i)
    }

    pub fn inject(&mut self, env: Envelope) {
        self.step(
            env.to,
            Input::Message {
                from: env.from,
                msg: env.msg,
            },
        );
    }

    /// Delivers in-flight messages in send order until none is left.
    pub fn deliver_all(&mut self) {
        for _ in 0..100_000 {
            if self.net.is_empty() {
                return;
            }
            let env = self.net.remove(0);
            self.step(
                env.to,
                Input::Message {
                    from: env.from,
                    msg: env.msg,
                },
            );
        }
        panic!("network did not quiesce");
    }

    pub fn isolate(&mut self, id: NodeId) {
        for &other in &self.config.voters.clone() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
        let cut = self.cut.clone();
        self.net.retain(|e| !cut.contains(&(e.from, e.to)));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crash: volatile state, pending writes, held sends, timers and inbound messages go.
    pub fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        node.raft = None;
        node.writes.clear();
        node.held.clear();
        node.timers.clear();
        node.issued = 0;
        node.completed = 0;
        self.net.retain(|e| e.to != id);
    }

    /// Rebuilds the node from its durable image.
    pub fn restart(&mut self, id: NodeId) {
        let now = self.local_now(id);
        let mut out = Outputs::new();
        let node = self.nodes.get_mut(&id).unwrap();
        node.raft = Some(Raft::start(id, &self.config, &node.durable, now, &mut out));
        self.handle_outputs(id, out);
        if self.auto_write {
            self.complete_writes(id);
        }
    }

    pub fn client(&mut self, id: NodeId, op: Op) -> OpId {
        let op_id = OpId(self.next_op);
        self.next_op += 1;
        self.step(id, Input::Client(Command { id: op_id, op }));
        op_id
    }

    /// Asks `id` to add or remove one server.
    pub fn change(&mut self, id: NodeId, change: protocol::MembershipChange) {
        self.step(id, Input::ChangeMembership(change));
    }

    pub fn reply(&self, op: OpId) -> Option<&Reply> {
        self.replies.iter().find(|r| r.1 == op).map(|r| &r.2)
    }

    /// Fires `id`'s election timer (twice under pre-vote is not needed: a pre-vote win
    /// starts the election at once) and delivers everything.
    pub fn elect(&mut self, id: NodeId) {
        self.fire_election(id);
        self.deliver_all();
        assert_eq!(self.role(id).0, Role::Leader, "{id} failed to win");
    }

    pub fn marks(&self, id: NodeId) -> Vec<&'static str> {
        self.reports
            .iter()
            .filter(|(n, _)| *n == id)
            .filter_map(|(_, r)| match r {
                Report::Mark(m) => Some(*m),
                _ => None,
            })
            .collect()
    }

    pub fn marked(&self, mark: &str) -> bool {
        self.reports
            .iter()
            .any(|(_, r)| matches!(r, Report::Mark(m) if *m == mark))
    }

    /// Every (index, term, op) `id` reported committed, in order.
    pub fn commits(&self, id: NodeId) -> Vec<(u64, u64, Option<OpId>)> {
        self.reports
            .iter()
            .filter(|(n, _)| *n == id)
            .filter_map(|(_, r)| match r {
                Report::Commit { index, term, op } => Some((*index, *term, *op)),
                _ => None,
            })
            .collect()
    }

    pub fn log_terms(&self, id: NodeId) -> Vec<u64> {
        self.raft(id).log().iter().map(|e| e.term).collect()
    }

    pub fn in_flight(&self, kind: &str) -> usize {
        self.net.iter().filter(|e| e.msg.kind() == kind).count()
    }
}

fn describe_input(input: &Input<Message>) -> String {
    match input {
        Input::Message { from, msg } => {
            format!("from {from}: {}", describe_msg(msg))
        }
        Input::Timer(t) => format!("timer {}", t.0),
        Input::Client(c) => format!("client {} {}", c.id, c.op),
        Input::WriteDone { tag } => format!("write done {tag}"),
        Input::Disconnected { peer } => format!("disconnected {peer}"),
        Input::ChangeMembership(change) => format!("{} {}", change.name(), change.node()),
    }
}

fn describe_msg(msg: &Message) -> String {
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

fn describe_output(output: &Output<Message, Write>) -> String {
    match output {
        Output::Send { to, msg, delivery } => format!(
            "-> {to} {}{}",
            describe_msg(msg),
            if *delivery == Delivery::AfterWrites {
                " (after writes)"
            } else {
                ""
            }
        ),
        Output::SetTimer { timer, .. } => format!("set timer {}", timer.0),
        Output::CancelTimer { timer } => format!("cancel timer {}", timer.0),
        Output::Reply { id, reply, .. } => format!("reply {id} {reply:?}"),
        Output::Write { tag, write } => match write {
            Write::HardState { term, voted_for } => {
                format!("write {tag} hard state term {term} vote {voted_for:?}")
            }
            Write::Log(raft::LogWrite::Append { index, entries }) => {
                format!("write {tag} append {} at {index}", entries.len())
            }
            Write::Log(raft::LogWrite::Truncate { from }) => {
                format!("write {tag} truncate from {from}")
            }
        },
        Output::Report(r) => format!("report {r:?}"),
    }
}
