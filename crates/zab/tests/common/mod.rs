//! A small deterministic driver for ZAB nodes: one FIFO queue per directed link, messages
//! delivered in the order the test chooses, timers fired by hand, writes completed
//! explicitly, crash = rebuild from the persisted `Durable`, link reset = drop both queues
//! and tell both ends `Disconnected`.
#![allow(dead_code)]

use protocol::{
    Command, Config, Delivery, Input, LocalTime, NodeId, Op, OpId, Output, Outputs, Protocol,
    ReadMode, Reply, Report, TimerId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use zab::{Durable, Message, Write, Zab};

pub type Out = Output<Message, Write>;

#[derive(Default)]
pub struct Node {
    pub zab: Option<Zab>,
    pub durable: Durable,
    pub writes: VecDeque<(u64, Write)>,
    pub issued: u64,
    pub completed: u64,
    pub held: Vec<(u64, Out)>,
    pub timers: BTreeSet<TimerId>,
    /// Every output this node produced, in order (for transcript assertions).
    pub outputs: Vec<Out>,
    /// Apply reports of the current incarnation: (zxid, op).
    pub applied: Vec<(u64, Option<OpId>)>,
}

pub struct Cluster {
    pub config: Config,
    pub nodes: BTreeMap<NodeId, Node>,
    pub links: BTreeMap<(NodeId, NodeId), VecDeque<Message>>,
    pub now: LocalTime,
    pub reports: Vec<(NodeId, Report)>,
    pub replies: Vec<(NodeId, OpId, Reply)>,
    /// Every (zxid, op) any node reported committed.
    pub committed: BTreeMap<u64, Option<OpId>>,
    /// Epoch -> nodes that reported `Role{Leader, epoch}`.
    pub leaders: BTreeMap<u64, BTreeSet<NodeId>>,
    /// Every Apply sequence of every incarnation that ended (crashes) plus live ones at check.
    pub finished_sequences: Vec<Vec<(u64, Option<OpId>)>>,
    /// Assert the ZAB invariants as reports arrive (off for mutants, which break them).
    pub checking: bool,
    next_op: u64,
}

pub fn n(i: u32) -> NodeId {
    NodeId(i)
}

pub fn config(voters: u32, observers: u32, read_mode: ReadMode) -> Config {
    let mut c = Config::new((1..=voters).map(NodeId).collect());
    c.observers = (voters + 1..=voters + observers).map(NodeId).collect();
    c.read_mode = read_mode;
    c
}

impl Cluster {
    pub fn new(config: Config) -> Cluster {
        Cluster::with_durables(config, BTreeMap::new())
    }

    pub fn with_durables(config: Config, durables: BTreeMap<NodeId, Durable>) -> Cluster {
        Zab::check_config(&config).expect("valid config");
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            links: BTreeMap::new(),
            now: LocalTime(1_000_000_000),
            reports: Vec::new(),
            replies: Vec::new(),
            committed: BTreeMap::new(),
            leaders: BTreeMap::new(),
            finished_sequences: Vec::new(),
            checking: true,
            next_op: 1,
            config,
        };
        let ids: Vec<NodeId> = c.config.all_nodes().collect();
        for id in ids {
            let node = Node {
                durable: durables.get(&id).cloned().unwrap_or_default(),
                ..Node::default()
            };
            c.nodes.insert(id, node);
            c.restart(id);
        }
        c
    }

    pub fn zab(&self, id: NodeId) -> &Zab {
        self.nodes[&id].zab.as_ref().expect("node is up")
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[&id].zab.is_some()
    }

    fn handle(&mut self, id: NodeId, mut outs: Outputs<Message, Write>) {
        let items: Vec<Out> = outs.drain().collect();
        for o in items {
            if std::env::var_os("ZAB_TRACE").is_some() {
                eprintln!("   {id} -> {o:?}");
            }
            self.nodes.get_mut(&id).unwrap().outputs.push(o.clone());
            match o {
                Output::Send {
                    to,
                    msg,
                    delivery: Delivery::Immediate,
                } => self.links.entry((id, to)).or_default().push_back(msg),
                Output::Send {
                    delivery: Delivery::AfterWrites,
                    ..
                }
                | Output::Reply {
                    delivery: Delivery::AfterWrites,
                    ..
                } => {
                    let node = self.nodes.get_mut(&id).unwrap();
                    if node.completed >= node.issued {
                        self.release(id, o);
                    } else {
                        let need = node.issued;
                        node.held.push((need, o));
                    }
                }
                Output::Reply { id: op, reply, .. } => self.replies.push((id, op, reply)),
                Output::Write { tag, write } => {
                    let node = self.nodes.get_mut(&id).unwrap();
                    node.writes.push_back((tag, write));
                    node.issued += 1;
                }
                Output::SetTimer { timer, .. } => {
                    self.nodes.get_mut(&id).unwrap().timers.insert(timer);
                }
                Output::CancelTimer { timer } => {
                    self.nodes.get_mut(&id).unwrap().timers.remove(&timer);
                }
                Output::Report(r) => self.on_report(id, r),
            }
        }
    }

    fn release(&mut self, id: NodeId, o: Out) {
        match o {
            Output::Send { to, msg, .. } => self.links.entry((id, to)).or_default().push_back(msg),
            Output::Reply { id: op, reply, .. } => self.replies.push((id, op, reply)),
            _ => unreachable!(),
        }
    }

    fn on_report(&mut self, id: NodeId, r: Report) {
        match &r {
            Report::Role {
                role: protocol::Role::Leader,
                term,
            } => {
                self.leaders.entry(*term).or_default().insert(id);
                // Committed txns are never lost: an established leader holds them all.
                let log = self.zab(id).log();
                for (&z, &op) in self.committed.iter().filter(|_| self.checking) {
                    assert!(
                        log.iter().any(|t| t.zxid == z && Some(t.cmd.id) == op),
                        "{id} established epoch {term} without committed txn {z:#x} ({op:?})"
                    );
                }
            }
            Report::Commit { index, op, .. } => {
                if let Some(prev) = self.committed.insert(*index, *op) {
                    assert!(
                        !self.checking || prev == *op,
                        "zxid {index:#x} committed with two ops: {prev:?} and {op:?}"
                    );
                }
            }
            Report::Apply { index, op, .. } => {
                self.nodes.get_mut(&id).unwrap().applied.push((*index, *op));
            }
            _ => {}
        }
        self.reports.push((id, r));
    }

    pub fn step(&mut self, id: NodeId, input: Input<Message>) {
        if std::env::var_os("ZAB_TRACE").is_some() {
            eprintln!("{id} <- {input:?}");
        }
        let now = self.now;
        let mut outs = Outputs::new();
        let Some(z) = self.nodes.get_mut(&id).unwrap().zab.as_mut() else {
            return;
        };
        z.step(now, input, &mut outs);
        self.handle(id, outs);
    }

    /// Delivers the oldest message on `from -> to`; false if there is none.
    pub fn deliver(&mut self, from: NodeId, to: NodeId) -> bool {
        let Some(msg) = self.links.get_mut(&(from, to)).and_then(|q| q.pop_front()) else {
            return false;
        };
        self.step(to, Input::Message { from, msg });
        true
    }

    /// Peeks at the oldest message on `from -> to`.
    pub fn peek(&self, from: NodeId, to: NodeId) -> Option<&Message> {
        self.links.get(&(from, to)).and_then(|q| q.front())
    }

    /// Drops the oldest message on `from -> to` (for tests that cut a link silently).
    pub fn drop_head(&mut self, from: NodeId, to: NodeId) -> Option<Message> {
        self.links.get_mut(&(from, to)).and_then(|q| q.pop_front())
    }

    /// Completes the node's oldest pending write; false if there is none.
    pub fn complete_write(&mut self, id: NodeId) -> bool {
        let node = self.nodes.get_mut(&id).unwrap();
        let Some((tag, w)) = node.writes.pop_front() else {
            return false;
        };
        Zab::persist(&mut node.durable, &w);
        node.completed += 1;
        let done = node.completed;
        let (ready, held): (Vec<_>, Vec<_>) = std::mem::take(&mut node.held)
            .into_iter()
            .partition(|(need, _)| *need <= done);
        node.held = held;
        for (_, o) in ready {
            self.release(id, o);
        }
        self.step(id, Input::WriteDone { tag });
        true
    }

    pub fn fire(&mut self, id: NodeId, timer: TimerId) -> bool {
        if !self.nodes.get_mut(&id).unwrap().timers.remove(&timer) {
            return false;
        }
        self.step(id, Input::Timer(timer));
        true
    }

    pub fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        if node.zab.take().is_none() {
            return;
        }
        node.writes.clear();
        node.issued = 0;
        node.completed = 0;
        node.held.clear();
        node.timers.clear();
        let seq = std::mem::take(&mut node.applied);
        self.finished_sequences.push(seq);
        for ((_, to), q) in self.links.iter_mut() {
            if *to == id {
                q.clear();
            }
        }
    }

    /// Crashes `id` and also loses everything it had sent that was not yet delivered.
    pub fn crash_losing_sent(&mut self, id: NodeId) {
        self.crash(id);
        for ((from, _), q) in self.links.iter_mut() {
            if *from == id {
                q.clear();
            }
        }
    }

    pub fn restart(&mut self, id: NodeId) {
        if self.is_up(id) {
            return;
        }
        let mut outs = Outputs::new();
        let durable = self.nodes[&id].durable.clone();
        let z = Zab::start(id, &self.config, &durable, self.now, &mut outs);
        self.nodes.get_mut(&id).unwrap().zab = Some(z);
        self.handle(id, outs);
    }

    pub fn reset_link(&mut self, a: NodeId, b: NodeId) {
        for k in [(a, b), (b, a)] {
            if let Some(q) = self.links.get_mut(&k) {
                q.clear();
            }
        }
        self.step(a, Input::Disconnected { peer: b });
        self.step(b, Input::Disconnected { peer: a });
    }

    pub fn client(&mut self, at: NodeId, op: Op) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        self.step(at, Input::Client(Command { id, op }));
        id
    }

    pub fn write(&mut self, at: NodeId, key: &str, value: u64) -> OpId {
        self.client(
            at,
            Op::Write {
                key: key.into(),
                value,
            },
        )
    }

    pub fn read(&mut self, at: NodeId, key: &str) -> OpId {
        self.client(at, Op::Read { key: key.into() })
    }

    pub fn reply(&self, op: OpId) -> Option<&Reply> {
        self.replies
            .iter()
            .find(|(_, o, _)| *o == op)
            .map(|(_, _, r)| r)
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    /// Delivers every message and completes every write among up nodes, round robin,
    /// until nothing moves. Messages to crashed nodes are dropped.
    pub fn run_until_quiet(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for &id in &ids {
                if self.is_up(id) {
                    while self.complete_write(id) {
                        moved = true;
                    }
                }
            }
            let keys: Vec<(NodeId, NodeId)> = self.links.keys().copied().collect();
            for (a, b) in keys {
                if !self.is_up(b) {
                    if let Some(q) = self.links.get_mut(&(a, b)) {
                        moved |= !q.is_empty();
                        q.clear();
                    }
                    continue;
                }
                if self.deliver(a, b) {
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        let heads: Vec<_> = self
            .links
            .iter()
            .filter_map(|(k, q)| q.front().map(|m| (k, m.clone())))
            .collect();
        let roles: Vec<_> = self
            .nodes
            .iter()
            .filter_map(|(id, n)| n.zab.as_ref().map(|z| (id, z.role())))
            .collect();
        panic!("cluster did not quiesce: {roles:?} {heads:?}");
    }

    /// Runs until quiet, firing FLE finalize timers (the only timers that complete an
    /// election when not every voter agreed) until no more are set.
    pub fn settle(&mut self) {
        for _ in 0..50 {
            self.run_until_quiet();
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let mut fired = false;
            for id in ids {
                fired |= self.fire(id, zab_timer::FINALIZE);
            }
            if !fired {
                return;
            }
        }
    }

    /// Passes `d` in heartbeat-sized steps; at each step every pending timer fires once
    /// (a coarse clock: election timers fire early, which only re-sends notifications),
    /// then the cluster settles.
    pub fn tick_all(&mut self, d: Duration) {
        let step = self.config.heartbeat_interval;
        let mut left = d;
        while !left.is_zero() {
            let dt = step.min(left);
            left -= dt;
            self.advance(dt);
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                let timers: Vec<TimerId> = self.nodes[&id].timers.iter().copied().collect();
                for t in timers {
                    self.fire(id, t);
                }
            }
            self.settle();
        }
    }

    pub fn established_leader(&self) -> Option<NodeId> {
        self.nodes.iter().find_map(|(&id, node)| {
            node.zab
                .as_ref()
                .filter(|z| z.role().0 == protocol::Role::Leader)
                .map(|_| id)
        })
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

    pub fn any_mark(&self, mark: &str) -> bool {
        self.reports
            .iter()
            .any(|(_, r)| matches!(r, Report::Mark(m) if *m == mark))
    }

    /// The ZAB invariants over everything recorded so far.
    pub fn check_invariants(&self) {
        // What a node holds in memory is on disk once its writes completed.
        for (id, node) in &self.nodes {
            if let (Some(z), true) = (&node.zab, node.writes.is_empty()) {
                assert_eq!(node.durable.log, z.log(), "{id}: durable log lags memory");
            }
        }
        for (e, ls) in &self.leaders {
            assert!(
                ls.len() <= 1,
                "epoch {e} has two established leaders: {ls:?}"
            );
        }
        let mut seqs: Vec<&Vec<(u64, Option<OpId>)>> = self.finished_sequences.iter().collect();
        seqs.extend(self.nodes.values().map(|n| &n.applied));
        for a in &seqs {
            for b in &seqs {
                let k = a.len().min(b.len());
                assert_eq!(a[..k], b[..k], "delivered sequences diverge");
            }
        }
    }
}

/// The crate's timer ids (as a test sees them in outputs).
pub mod zab_timer {
    use protocol::TimerId;
    pub const ELECTION: TimerId = TimerId(0);
    pub const FINALIZE: TimerId = TimerId(1);
    pub const TICK: TimerId = TimerId(2);
}
