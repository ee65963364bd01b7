//! A deterministic cluster driven by hand, for protocol tests (behind the `testkit` feature).
//!
//! The test is the scheduler: it decides which message is delivered, dropped, delayed or
//! injected, which timer fires, when a durable write completes and when a node crashes.
//! Nothing happens on its own, so a test reads as a transcript of one schedule, and a
//! failing one replays exactly. Every protocol crate's tests use this one driver; what a
//! crate adds in its own `tests/common` is only what is truly its own (Raft's `elect`, ZAB's
//! invariant bookkeeping, a compact way to print a message).
//!
//! It honours the contract of this crate (see the crate docs):
//! - **Storage.** A node's writes complete in the order it issued them; [`P::persist`]
//!   applies each to the node's durable image as it completes, then the node gets
//!   [`Input::WriteDone`]. A [`Delivery::AfterWrites`] send or reply is held until every
//!   write issued before it has completed. With [`Cluster::auto_write`] (the default) each
//!   step's writes complete as soon as it returns; without, the test completes them with
//!   [`Cluster::complete_write`].
//! - **Timers** are recorded, never fired by the driver: the test fires them
//!   ([`Cluster::fire`]). Each node's local time is the cluster clock [`Cluster::now`] plus
//!   its own [`Node::clock_offset`].
//! - **Crash** ([`Cluster::crash`]) drops the node's volatile state, its pending writes,
//!   held sends, timers and every message in flight to it; [`Cluster::restart`] rebuilds it
//!   with [`P::start`] from exactly its durable image. What it sent stays in flight
//!   ([`Cluster::crash_losing_sent`] loses that too), and its FIFO peers are told nothing
//!   unless the test resets their links (the simulator resets them all).
//! - **Links** follow [`Protocol::LINKS`]. [`LinkKind::Datagram`]: one list of messages in
//!   flight in send order ([`Cluster::net`]) from which the test delivers, drops, duplicates
//!   or holds any message; a cut link loses them. [`LinkKind::Fifo`]: one queue per
//!   directed link ([`Cluster::links`]) delivered in order; a cut link holds its queue until
//!   it heals, and [`Cluster::reset_link`] breaks a connection (both queues and the held
//!   sends between the two lost, both ends told [`Input::Disconnected`]), as does a node's
//!   [`Output::Disconnect`] (both ends told once the closing step's outputs are handled).
//!   [`Cluster::deliver_all`] runs the network until it is quiet, and fails rather than
//!   hang if it never is.
//!
//! Everything the nodes report is kept in [`Cluster::reports`] (with helpers for marks,
//! commits and leaders), client replies in [`Cluster::replies`]. A [`Monitor`] sees each
//! report at the moment it is made, with the reporting node's state, for invariants that
//! must be checked then. [`Cluster::start_transcript`] records every input and output as
//! one line (messages and writes through [`Formats`], `Debug` unless a test supplies
//! better), which is how golden transcripts are written; [`Cluster::trace`] prints the same
//! lines as they happen.
//!
//! A test of a new protocol starts like this:
//!
//! ```ignore
//! use protocol::testkit::{config, n, write, Cluster};
//!
//! let mut c = Cluster::<Paxos>::new(config(3));
//! c.fire(n(1), paxos::TIMER_ELECTION);
//! c.deliver_all();
//! let op = c.client(n(1), write("x", 1));
//! c.deliver_all();
//! assert_eq!(c.reply(op), Some(&Reply::Ok(OpResult::Written)));
//! assert!(c.marked("paxos.some_rare_path"));
//! ```
//!
//! A protocol crate's `tests/common/mod.rs` then holds only what is its own: a type alias
//! (`pub type Cluster = testkit::Cluster<Paxos>;`), an extension trait for helpers such as
//! `elect` (a foreign type takes no inherent methods), [`Formats`] for compact transcripts,
//! and, for invariants checked as reports arrive, a [`Monitor`] given to
//! [`Cluster::unstarted`].
//!
//! [`P::persist`]: Protocol::persist
//! [`P::start`]: Protocol::start

use crate::{
    Command, Config, Delivery, Input, LinkKind, LocalTime, MembershipChange, MessageKind, NodeId,
    Op, OpId, Output, Outputs, Protocol, Reply, Report, Role, TimerId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

/// Node `i` (scenario files number nodes from 1).
pub fn n(i: u32) -> NodeId {
    NodeId(i)
}

/// A configuration of `voters` voting nodes, n1 to n`voters`, with every default.
pub fn config(voters: u32) -> Config {
    Config::new((1..=voters).map(NodeId).collect())
}

/// A client write of `value` to `key`.
pub fn write(key: &str, value: u64) -> Op {
    Op::Write {
        key: key.into(),
        value,
    }
}

/// A client read of `key`.
pub fn read(key: &str) -> Op {
    Op::Read { key: key.into() }
}

/// A message on its way from one node to another.
#[derive(Clone, Debug)]
pub struct Envelope<M> {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: M,
}

/// Sees every report as it is made, with the state of the node that made it, and every
/// crash: the place for invariants that must be checked at that moment (a leader holds
/// every committed entry when it takes office), or bookkeeping that a later
/// `reports.clear()` must not erase. `()` watches nothing.
pub trait Monitor<P: Protocol> {
    /// `node` has just pushed `report` (its step has returned; the outputs before this one
    /// have been handled).
    fn report(&mut self, id: NodeId, node: &P, report: &Report) {
        let _ = (id, node, report);
    }
    /// `id` crashed (it was up).
    fn crashed(&mut self, id: NodeId) {
        let _ = id;
    }
}

impl<P: Protocol> Monitor<P> for () {}

/// How transcript and trace lines show a message and a durable write.
pub struct Formats<P: Protocol> {
    pub message: fn(&P::Message) -> String,
    pub write: fn(&P::Write) -> String,
}

impl<P: Protocol> Clone for Formats<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Protocol> Copy for Formats<P> {}

impl<P: Protocol> Default for Formats<P> {
    /// `Debug` for both.
    fn default() -> Self {
        Formats {
            message: debug::<P::Message>,
            write: debug::<P::Write>,
        }
    }
}

fn debug<T: fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

/// What a send or reply waits for before it leaves.
enum Held<M> {
    Send(Envelope<M>),
    Reply(OpId, Reply),
}

/// One node: its protocol state while it is up, and what survives a crash.
pub struct Node<P: Protocol> {
    /// The running protocol; `None` while crashed.
    pub state: Option<P>,
    /// What its completed writes produced; the only thing a restart sees.
    pub durable: P::Durable,
    /// Issued, not yet complete, oldest first.
    writes: VecDeque<(u64, P::Write)>,
    /// Writes issued and completed by this incarnation.
    issued: u64,
    completed: u64,
    /// `AfterWrites` sends and replies, each with the count of writes it waits for.
    held: Vec<(u64, Held<P::Message>)>,
    /// Timers set and not yet fired or cancelled, with the requested range.
    pub timers: BTreeMap<TimerId, (Duration, Duration)>,
    /// Added to the cluster's clock to give this node's local time.
    pub clock_offset: Duration,
    /// Every output the node produced, in order, when [`Cluster::record_outputs`] is on.
    pub outputs: Vec<Output<P::Message, P::Write>>,
}

/// A cluster of `P` nodes driven by hand. `Mon` watches reports as they are made.
pub struct Cluster<P: Protocol, Mon: Monitor<P> = ()> {
    pub config: Config,
    /// Every node of the configuration (voters and observers).
    pub nodes: BTreeMap<NodeId, Node<P>>,
    /// Datagram links: every message in flight, in send order (unused with FIFO links).
    pub net: Vec<Envelope<P::Message>>,
    /// FIFO links: one queue per directed link, oldest first (unused with datagrams).
    pub links: BTreeMap<(NodeId, NodeId), VecDeque<Envelope<P::Message>>>,
    /// Directed links that are cut. A datagram sent on one is lost; a FIFO connection
    /// keeps its messages (TCP retransmits) and delivers them once the link heals.
    pub cuts: BTreeSet<(NodeId, NodeId)>,
    /// The cluster clock; a node's local time adds its `clock_offset`. Starts at 1 s.
    pub now: Duration,
    /// Every report, in the order made.
    pub reports: Vec<(NodeId, Report)>,
    /// Every client reply that left a node: (node, operation, reply).
    pub replies: Vec<(NodeId, OpId, Reply)>,
    /// Complete every write as soon as the step that issued it returns.
    pub auto_write: bool,
    /// Keep every output in its node's `outputs`.
    pub record_outputs: bool,
    /// Print every transcript line to stderr as it happens (for a failing schedule).
    pub trace: bool,
    /// When set, every input and output is written here, one line each.
    pub transcript: Option<Vec<String>>,
    /// How transcript and trace lines show messages and writes.
    pub formats: Formats<P>,
    pub monitor: Mon,
    /// Steps taken (inputs handled by live nodes).
    pub steps: u64,
    /// [`Cluster::deliver_all`] panics after this many deliveries and write completions
    /// in one call: a network that does not quiesce is a failure, not a hang.
    pub quiesce_limit: u64,
    next_op: u64,
}

impl<P: Protocol> Cluster<P> {
    /// A cluster of every node in `config`, started from empty durable images.
    pub fn new(config: Config) -> Self {
        Self::with_durable(config, BTreeMap::new())
    }

    /// A cluster whose nodes first start from the given durable images (others empty).
    pub fn with_durable(config: Config, durable: BTreeMap<NodeId, P::Durable>) -> Self {
        let mut cluster = Self::unstarted(config, durable, ());
        cluster.start_all();
        cluster
    }
}

impl<P: Protocol, Mon: Monitor<P>> Cluster<P, Mon> {
    /// A cluster whose nodes are all down, holding the given durable images (others
    /// empty): set what must hold from the first start (`auto_write`, `record_outputs`,
    /// `trace`), then [`Cluster::start_all`] or [`Cluster::restart`] each node.
    pub fn unstarted(
        config: Config,
        mut durable: BTreeMap<NodeId, P::Durable>,
        monitor: Mon,
    ) -> Self {
        if let Err(e) = P::check_config(&config) {
            panic!("the test's configuration is invalid: {e}");
        }
        let nodes = config
            .all_nodes()
            .map(|id| {
                let node = Node {
                    state: None,
                    durable: durable.remove(&id).unwrap_or_default(),
                    writes: VecDeque::new(),
                    issued: 0,
                    completed: 0,
                    held: Vec::new(),
                    timers: BTreeMap::new(),
                    clock_offset: Duration::ZERO,
                    outputs: Vec::new(),
                };
                (id, node)
            })
            .collect();
        assert!(
            durable.is_empty(),
            "durable images for nodes outside the configuration: {:?}",
            durable.keys().collect::<Vec<_>>()
        );
        Cluster {
            config,
            nodes,
            net: Vec::new(),
            links: BTreeMap::new(),
            cuts: BTreeSet::new(),
            now: Duration::from_secs(1),
            reports: Vec::new(),
            replies: Vec::new(),
            auto_write: true,
            record_outputs: false,
            trace: false,
            transcript: None,
            formats: Formats::default(),
            monitor,
            steps: 0,
            quiesce_limit: 100_000,
            next_op: 1,
        }
    }

    /// Starts every node that is down, in configuration order.
    pub fn start_all(&mut self) {
        let ids: Vec<NodeId> = self.config.all_nodes().collect();
        for id in ids {
            self.restart(id);
        }
    }

    // ---- Nodes ----

    fn slot(&self, id: NodeId) -> &Node<P> {
        self.nodes
            .get(&id)
            .unwrap_or_else(|| panic!("{id} is not a node of the cluster"))
    }

    fn slot_mut(&mut self, id: NodeId) -> &mut Node<P> {
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("{id} is not a node of the cluster"))
    }

    /// The running protocol of `id` (panics if it is down: the test is wrong).
    pub fn node(&self, id: NodeId) -> &P {
        self.slot(id)
            .state
            .as_ref()
            .unwrap_or_else(|| panic!("{id} is down"))
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.slot(id).state.is_some()
    }

    /// `id`'s role and term as it believes them (panics if it is down).
    pub fn role(&self, id: NodeId) -> (Role, u64) {
        self.node(id).role()
    }

    /// Every node's (id, role, term); a crashed node is `Role::Crashed` (for messages).
    pub fn roles(&self) -> Vec<(NodeId, Role, u64)> {
        self.nodes
            .iter()
            .map(|(&id, node)| match &node.state {
                Some(p) => {
                    let (role, term) = p.role();
                    (id, role, term)
                }
                None => (id, Role::Crashed, 0),
            })
            .collect()
    }

    /// What `id`'s completed writes produced.
    pub fn durable(&self, id: NodeId) -> &P::Durable {
        &self.slot(id).durable
    }

    // ---- Time and timers ----

    pub fn local_now(&self, id: NodeId) -> LocalTime {
        LocalTime::from_duration(self.now + self.slot(id).clock_offset)
    }

    /// Moves the cluster clock on (no timer fires by itself).
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn timer_set(&self, id: NodeId, timer: TimerId) -> bool {
        self.slot(id).timers.contains_key(&timer)
    }

    /// The timers `id` has set, in id order.
    pub fn timers(&self, id: NodeId) -> Vec<TimerId> {
        self.slot(id).timers.keys().copied().collect()
    }

    /// Fires a timer the node has set (panics if it has not: the test is wrong).
    pub fn fire(&mut self, id: NodeId, timer: TimerId) {
        assert!(
            self.fire_if_set(id, timer),
            "{id} has no timer {timer:?} set"
        );
    }

    /// Fires the timer if `id` has it set; false if not.
    pub fn fire_if_set(&mut self, id: NodeId, timer: TimerId) -> bool {
        if self.slot_mut(id).timers.remove(&timer).is_none() {
            return false;
        }
        self.step(id, Input::Timer(timer));
        true
    }

    /// Node by node, fires each timer the node has set (unless an earlier one of its own
    /// cancelled it).
    pub fn fire_all_timers(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            for timer in self.timers(id) {
                self.fire_if_set(id, timer);
            }
        }
    }

    // ---- Steps and storage ----

    /// Runs one input on `id` if it is up (a crashed node takes nothing) and handles its
    /// outputs.
    pub fn step(&mut self, id: NodeId, input: Input<P::Message>) {
        if !self.is_up(id) {
            return;
        }
        if self.logging() {
            let line = format!("{id} <- {}", self.describe_input(&input));
            self.log(line);
        }
        let now = self.local_now(id);
        let mut out = Outputs::new();
        let state = self.slot_mut(id).state.as_mut().expect("checked up");
        state.step(now, input, &mut out);
        self.steps += 1;
        self.handle_outputs(id, out);
        if self.auto_write {
            self.complete_writes(id);
        }
    }

    fn handle_outputs(&mut self, id: NodeId, mut out: Outputs<P::Message, P::Write>) {
        // Peers whose connection this step closed: told once its outputs are handled.
        let mut closed = Vec::new();
        for output in out.drain() {
            if self.logging() {
                let line = format!("  {id} {}", self.describe_output(&output));
                self.log(line);
            }
            let record = self.record_outputs;
            let node = self.slot_mut(id);
            if record {
                node.outputs.push(output.clone());
            }
            let waiting = node.completed < node.issued;
            match output {
                Output::Send { to, msg, delivery } => {
                    let env = Envelope { from: id, to, msg };
                    if delivery == Delivery::AfterWrites && waiting {
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
                    if delivery == Delivery::AfterWrites && waiting {
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
                Output::Report(report) => {
                    let state = self.nodes[&id].state.as_ref().expect("a live node");
                    self.monitor.report(id, state, &report);
                    self.reports.push((id, report));
                }
                Output::Disconnect { peer } => {
                    // Lost at once, so what this step sends after the close goes on the
                    // next connection.
                    if P::LINKS == LinkKind::Fifo {
                        self.drop_connection(id, peer);
                        closed.push(peer);
                    }
                }
            }
        }
        for peer in closed {
            self.step(id, Input::Disconnected { peer });
            self.step(peer, Input::Disconnected { peer: id });
        }
    }

    /// Loses what is on the connection between `a` and `b`, both ways, and what each end
    /// held for its writes to send to the other (it was written to that connection).
    fn drop_connection(&mut self, a: NodeId, b: NodeId) {
        for (from, to) in [(a, b), (b, a)] {
            if let Some(queue) = self.links.get_mut(&(from, to)) {
                queue.clear();
            }
            if let Some(node) = self.nodes.get_mut(&from) {
                node.held
                    .retain(|(_, h)| !matches!(h, Held::Send(env) if env.to == to));
            }
        }
    }

    /// Completes the oldest pending write of `id`: applies it to the durable image,
    /// releases what waited for it, then steps `WriteDone`. False if none is pending.
    pub fn complete_write(&mut self, id: NodeId) -> bool {
        let node = self.slot_mut(id);
        let Some((tag, write)) = node.writes.pop_front() else {
            return false;
        };
        P::persist(&mut node.durable, &write);
        node.completed += 1;
        let completed = node.completed;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut node.held)
            .into_iter()
            .partition(|(after, _)| *after <= completed);
        node.held = waiting;
        for (_, held) in ready {
            match held {
                Held::Send(env) => self.post(env),
                Held::Reply(op, reply) => self.replies.push((id, op, reply)),
            }
        }
        // Writes the WriteDone step issues complete in the caller's loop, in order.
        let auto = std::mem::replace(&mut self.auto_write, false);
        self.step(id, Input::WriteDone { tag });
        self.auto_write = auto;
        true
    }

    /// Completes every pending write of `id`, including those the completions issue.
    pub fn complete_writes(&mut self, id: NodeId) {
        let mut completed = 0u64;
        while self.complete_write(id) {
            completed += 1;
            assert!(
                completed <= self.quiesce_limit,
                "{id} kept issuing writes: {completed} completed in a row"
            );
        }
    }

    /// Writes `id` issued that have not completed.
    pub fn pending_writes(&self, id: NodeId) -> usize {
        self.slot(id).writes.len()
    }

    // ---- Crash and restart ----

    /// Crashes `id` (nothing if it is down): its volatile state, pending writes, held
    /// sends and replies, timers and every message in flight to it are lost.
    pub fn crash(&mut self, id: NodeId) {
        let node = self.slot_mut(id);
        if node.state.take().is_none() {
            return;
        }
        node.writes.clear();
        node.held.clear();
        node.timers.clear();
        node.issued = 0;
        node.completed = 0;
        self.net.retain(|e| e.to != id);
        for ((_, to), queue) in self.links.iter_mut() {
            if *to == id {
                queue.clear();
            }
        }
        self.monitor.crashed(id);
        if self.logging() {
            self.log(format!("{id} crashes"));
        }
    }

    /// Crashes `id` and also loses everything it sent that is still in flight.
    pub fn crash_losing_sent(&mut self, id: NodeId) {
        self.crash(id);
        self.net.retain(|e| e.from != id);
        for ((from, _), queue) in self.links.iter_mut() {
            if *from == id {
                queue.clear();
            }
        }
    }

    /// A storage fault on `id`, which must be down: [`Protocol::corrupt`] damages one
    /// record of its durable image (`pick` chooses which), sparing none: a test may damage
    /// every copy of a record on purpose. What was damaged, if anything.
    pub fn corrupt(&mut self, id: NodeId, pick: u64) -> Option<String> {
        assert!(
            !self.is_up(id),
            "{id} must be down for its storage to be corrupted"
        );
        let node = self.nodes.get_mut(&id).expect("a node of the cluster");
        let what = P::corrupt(&mut node.durable, pick, &BTreeSet::new());
        if self.logging() {
            self.log(format!(
                "{id}'s storage: {}",
                what.as_deref().unwrap_or("nothing to damage")
            ));
        }
        what
    }

    /// Starts `id` with [`Protocol::start`] from its durable image (nothing if it is up).
    pub fn restart(&mut self, id: NodeId) {
        if self.is_up(id) {
            return;
        }
        if self.logging() {
            self.log(format!("{id} starts"));
        }
        let now = self.local_now(id);
        let mut out = Outputs::new();
        let node = self.nodes.get_mut(&id).expect("checked above");
        node.state = Some(P::start(id, &self.config, &node.durable, now, &mut out));
        self.handle_outputs(id, out);
        if self.auto_write {
            self.complete_writes(id);
        }
    }

    // ---- Network ----

    /// Puts a message on its link (a datagram on a cut link is lost).
    fn post(&mut self, env: Envelope<P::Message>) {
        match P::LINKS {
            LinkKind::Datagram => {
                if !self.cuts.contains(&(env.from, env.to)) {
                    self.net.push(env);
                }
            }
            LinkKind::Fifo => self
                .links
                .entry((env.from, env.to))
                .or_default()
                .push_back(env),
        }
    }

    /// Hands a message to its destination now (lost if the destination is down).
    pub fn inject(&mut self, env: Envelope<P::Message>) {
        self.step(
            env.to,
            Input::Message {
                from: env.from,
                msg: env.msg,
            },
        );
    }

    /// Delivers the oldest message in flight from `from` to `to`; false if there is none
    /// (or the FIFO link is cut).
    pub fn deliver(&mut self, from: NodeId, to: NodeId) -> bool {
        self.deliver_where(|e| e.from == from && e.to == to)
    }

    /// Delivers the oldest message of `kind` from `from` to `to` ([`MessageKind::kind`]);
    /// with FIFO links only if it is the oldest on its link.
    pub fn deliver_kind(&mut self, from: NodeId, to: NodeId, kind: &str) -> bool {
        self.deliver_where(|e| e.from == from && e.to == to && e.msg.kind() == kind)
    }

    /// Delivers the first deliverable message matching `pred`: with datagrams, any in
    /// flight in send order; with FIFO links, the oldest of each uncut link, in link order.
    /// False if none matches.
    pub fn deliver_where(&mut self, pred: impl Fn(&Envelope<P::Message>) -> bool) -> bool {
        let env = match P::LINKS {
            LinkKind::Datagram => match self.net.iter().position(pred) {
                Some(i) => self.net.remove(i),
                None => return false,
            },
            LinkKind::Fifo => {
                let cuts = &self.cuts;
                let link = self.links.iter().find_map(|(link, queue)| {
                    let head = queue.front()?;
                    (!cuts.contains(link) && pred(head)).then_some(*link)
                });
                match link {
                    Some(link) => self.links.get_mut(&link).and_then(|q| q.pop_front()),
                    None => return false,
                }
                .expect("the head just matched")
            }
        };
        self.inject(env);
        true
    }

    /// The oldest message in flight from `from` to `to`.
    pub fn peek(&self, from: NodeId, to: NodeId) -> Option<&P::Message> {
        match P::LINKS {
            LinkKind::Datagram => self.net.iter().find(|e| e.from == from && e.to == to),
            LinkKind::Fifo => self.links.get(&(from, to)).and_then(|q| q.front()),
        }
        .map(|e| &e.msg)
    }

    /// Loses the oldest message in flight from `from` to `to`. On a FIFO link this leaves a
    /// hole, which the contract never does ([`Cluster::reset_link`] is the honest loss).
    pub fn drop_next(&mut self, from: NodeId, to: NodeId) -> Option<Envelope<P::Message>> {
        self.take_first(|e| e.from == from && e.to == to)
    }

    /// Loses every message in flight matching `pred`; returns them.
    pub fn drop_where(
        &mut self,
        pred: impl Fn(&Envelope<P::Message>) -> bool,
    ) -> Vec<Envelope<P::Message>> {
        let mut dropped = Vec::new();
        let mut keep = |e: Envelope<P::Message>| {
            if pred(&e) {
                dropped.push(e);
                None
            } else {
                Some(e)
            }
        };
        self.net = std::mem::take(&mut self.net)
            .into_iter()
            .filter_map(&mut keep)
            .collect();
        for queue in self.links.values_mut() {
            *queue = std::mem::take(queue)
                .into_iter()
                .filter_map(&mut keep)
                .collect();
        }
        dropped
    }

    /// Takes the oldest message of `kind` from `from` to `to` out of the network, to
    /// [`Cluster::inject`] later (a delayed message). Panics if there is none.
    pub fn hold(&mut self, from: NodeId, to: NodeId, kind: &str) -> Envelope<P::Message> {
        self.take_first(|e| e.from == from && e.to == to && e.msg.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind} from {from} to {to} in flight"))
    }

    /// Removes the first message in flight matching `pred`, at any position.
    fn take_first(
        &mut self,
        pred: impl Fn(&Envelope<P::Message>) -> bool,
    ) -> Option<Envelope<P::Message>> {
        if let Some(i) = self.net.iter().position(&pred) {
            return Some(self.net.remove(i));
        }
        self.links.values_mut().find_map(|queue| {
            let i = queue.iter().position(&pred)?;
            queue.remove(i)
        })
    }

    /// Every message in flight: datagrams in send order, or FIFO links in link order.
    pub fn envelopes(&self) -> impl Iterator<Item = &Envelope<P::Message>> {
        self.net.iter().chain(self.links.values().flatten())
    }

    /// How many messages of `kind` are in flight.
    pub fn in_flight(&self, kind: &str) -> usize {
        self.envelopes().filter(|e| e.msg.kind() == kind).count()
    }

    /// Runs the cluster until nothing moves: every pending write of a live node completes
    /// and every message is delivered (one to a crashed node is lost). Datagrams go in
    /// send order; FIFO links take turns, one message each per round, in link order (a cut
    /// FIFO link keeps its messages). Panics after [`Cluster::quiesce_limit`] events.
    pub fn deliver_all(&mut self) {
        let mut events = 0u64;
        loop {
            let mut moved = 0u64;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for &id in &ids {
                while self.is_up(id) && self.complete_write(id) {
                    moved += 1;
                }
            }
            match P::LINKS {
                LinkKind::Datagram => {
                    if !self.net.is_empty() {
                        let env = self.net.remove(0);
                        self.inject(env);
                        moved += 1;
                    }
                }
                LinkKind::Fifo => {
                    let links: Vec<(NodeId, NodeId)> = self.links.keys().copied().collect();
                    for (from, to) in links {
                        if !self.is_up(to) {
                            let queue = self.links.get_mut(&(from, to)).expect("listed");
                            moved += queue.len() as u64;
                            queue.clear();
                        } else if self.deliver(from, to) {
                            moved += 1;
                        }
                    }
                }
            }
            if moved == 0 {
                return;
            }
            events += moved;
            if events > self.quiesce_limit {
                let heads: Vec<String> = self
                    .envelopes()
                    .take(6)
                    .map(|e| format!("{} -> {}: {}", e.from, e.to, (self.formats.message)(&e.msg)))
                    .collect();
                panic!(
                    "the cluster did not quiesce within {} events; roles {:?}; in flight (first 6): {heads:?}",
                    self.quiesce_limit,
                    self.roles()
                );
            }
        }
    }

    /// Breaks the FIFO connection between `a` and `b`: both queues are lost, and so are
    /// the sends to the other end either node held for its writes; each end that is up
    /// gets [`Input::Disconnected`]. (Datagram links have no connection.)
    pub fn reset_link(&mut self, a: NodeId, b: NodeId) {
        assert_eq!(
            P::LINKS,
            LinkKind::Fifo,
            "{} has datagram links: there is no connection to reset",
            P::NAME
        );
        self.drop_connection(a, b);
        self.step(a, Input::Disconnected { peer: b });
        self.step(b, Input::Disconnected { peer: a });
    }

    /// Cuts the link between `a` and `b` both ways. Datagrams in flight on it are lost,
    /// and so is every one sent on it until it heals; FIFO messages wait for the heal.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cuts.insert((a, b));
        self.cuts.insert((b, a));
        self.net
            .retain(|e| !(e.from == a && e.to == b || e.from == b && e.to == a));
    }

    /// Heals the link between `a` and `b` both ways.
    pub fn heal_link(&mut self, a: NodeId, b: NodeId) {
        self.cuts.remove(&(a, b));
        self.cuts.remove(&(b, a));
    }

    /// Cuts every link of `id`.
    pub fn isolate(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|&o| o != id).collect();
        for other in others {
            self.cut(id, other);
        }
    }

    /// Heals every link.
    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    // ---- Clients and operators ----

    /// A client asks `id` for `op`, with a fresh operation id.
    pub fn client(&mut self, id: NodeId, op: Op) -> OpId {
        let op_id = OpId(self.next_op);
        self.next_op += 1;
        self.step(id, Input::Client(Command { id: op_id, op }));
        op_id
    }

    /// The operator asks `id` to add or remove one server.
    pub fn change(&mut self, id: NodeId, change: MembershipChange) {
        self.step(id, Input::ChangeMembership(change));
    }

    /// The first reply to `op` that left a node.
    pub fn reply(&self, op: OpId) -> Option<&Reply> {
        self.replies.iter().find(|r| r.1 == op).map(|r| &r.2)
    }

    // ---- Reports ----

    /// The coverage marks `id` reported, in order.
    pub fn marks(&self, id: NodeId) -> Vec<&'static str> {
        self.reports
            .iter()
            .filter(|(who, _)| *who == id)
            .filter_map(|(_, r)| match r {
                Report::Mark(m) => Some(*m),
                _ => None,
            })
            .collect()
    }

    /// Whether any node reported `mark`.
    pub fn marked(&self, mark: &str) -> bool {
        self.reports
            .iter()
            .any(|(_, r)| matches!(r, Report::Mark(m) if *m == mark))
    }

    /// Every (index, term, op) `id` reported committed, in order.
    pub fn commits(&self, id: NodeId) -> Vec<(u64, u64, Option<OpId>)> {
        self.reports
            .iter()
            .filter(|(who, _)| *who == id)
            .filter_map(|(_, r)| match r {
                Report::Commit { index, term, op } => Some((*index, *term, *op)),
                _ => None,
            })
            .collect()
    }

    /// Every (node, term) that reported taking office as leader, in order.
    pub fn leader_reports(&self) -> Vec<(NodeId, u64)> {
        self.reports
            .iter()
            .filter_map(|(who, r)| match r {
                Report::Role {
                    role: Role::Leader,
                    term,
                } => Some((*who, *term)),
                _ => None,
            })
            .collect()
    }

    /// The nodes that reported leading `term`, in order.
    pub fn leaders_of_term(&self, term: u64) -> Vec<NodeId> {
        self.leader_reports()
            .into_iter()
            .filter(|&(_, t)| t == term)
            .map(|(who, _)| who)
            .collect()
    }

    // ---- Transcript ----

    /// Starts recording a transcript (dropping any recorded so far).
    pub fn start_transcript(&mut self) {
        self.transcript = Some(Vec::new());
    }

    /// The transcript so far, one line each, and stops recording.
    pub fn take_transcript(&mut self) -> String {
        self.transcript
            .take()
            .expect("no transcript was started")
            .join("\n")
    }

    fn logging(&self) -> bool {
        self.trace || self.transcript.is_some()
    }

    fn log(&mut self, line: String) {
        if self.trace {
            eprintln!("{line}");
        }
        if let Some(lines) = self.transcript.as_mut() {
            lines.push(line);
        }
    }

    fn describe_input(&self, input: &Input<P::Message>) -> String {
        match input {
            Input::Message { from, msg } => format!("from {from}: {}", (self.formats.message)(msg)),
            Input::Timer(t) => format!("timer {}", t.0),
            Input::Client(c) => format!("client {} {}", c.id, c.op),
            Input::WriteDone { tag } => format!("write done {tag}"),
            Input::Disconnected { peer } => format!("disconnected {peer}"),
            Input::ChangeMembership(change) => format!("{} {}", change.name(), change.node()),
        }
    }

    fn describe_output(&self, output: &Output<P::Message, P::Write>) -> String {
        match output {
            Output::Send { to, msg, delivery } => format!(
                "-> {to} {}{}",
                (self.formats.message)(msg),
                if *delivery == Delivery::AfterWrites {
                    " (after writes)"
                } else {
                    ""
                }
            ),
            Output::SetTimer { timer, .. } => format!("set timer {}", timer.0),
            Output::CancelTimer { timer } => format!("cancel timer {}", timer.0),
            Output::Reply { id, reply, .. } => format!("reply {id} {reply:?}"),
            Output::Write { tag, write } => format!("write {tag} {}", (self.formats.write)(write)),
            Output::Report(r) => format!("report {r:?}"),
            Output::Disconnect { peer } => format!("close connection to {peer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The driver's own rules, on a toy protocol: a client write is one durable write,
    //! followed by a `Note` of the value to every peer and a reply, both after writes.
    use super::*;
    use crate::{Bug, OpResult, ReadMode};

    #[derive(Clone, Debug, Hash, PartialEq)]
    enum Msg {
        Note(u64),
        /// Answered with `Ping(k + 1)` to the sender, forever.
        Ping(u64),
    }

    impl MessageKind for Msg {
        fn kind(&self) -> &'static str {
            match self {
                Msg::Note(_) => "Note",
                Msg::Ping(_) => "Ping",
            }
        }
    }

    /// `FIFO` picks the links.
    struct Toy<const FIFO: bool> {
        peers: Vec<NodeId>,
        notes: Vec<(NodeId, u64)>,
        disconnected: Vec<NodeId>,
        next_tag: u64,
    }

    impl<const FIFO: bool> Protocol for Toy<FIFO> {
        type Message = Msg;
        type Durable = Vec<u64>;
        type Write = u64;
        const NAME: &'static str = "toy";
        const REVISION: u32 = 1;
        const BUGS: &'static [Bug] = &[];
        const READ_MODES: &'static [ReadMode] = &[ReadMode::Log];
        const LINKS: LinkKind = if FIFO {
            LinkKind::Fifo
        } else {
            LinkKind::Datagram
        };

        fn start(
            id: NodeId,
            config: &Config,
            _durable: &Vec<u64>,
            _now: LocalTime,
            out: &mut Outputs<Msg, u64>,
        ) -> Self {
            out.set_timer(
                TimerId(0),
                Duration::from_millis(1),
                Duration::from_millis(2),
            );
            Toy {
                peers: config.all_nodes().filter(|&p| p != id).collect(),
                notes: Vec::new(),
                disconnected: Vec::new(),
                next_tag: 0,
            }
        }

        fn step(&mut self, _now: LocalTime, input: Input<Msg>, out: &mut Outputs<Msg, u64>) {
            match input {
                Input::Client(Command {
                    id,
                    op: Op::Write { value, .. },
                }) => {
                    out.write(self.next_tag, value);
                    self.next_tag += 1;
                    for &peer in &self.peers {
                        out.send_after_writes(peer, Msg::Note(value));
                    }
                    out.reply_after_writes(id, Reply::Ok(OpResult::Written));
                }
                // A read closes every connection, then sends Note(99) on the next one.
                Input::Client(Command {
                    op: Op::Read { .. },
                    ..
                }) => {
                    for &peer in &self.peers {
                        out.disconnect(peer);
                        out.send(peer, Msg::Note(99));
                    }
                }
                Input::Message {
                    from,
                    msg: Msg::Note(value),
                } => self.notes.push((from, value)),
                Input::Message {
                    from,
                    msg: Msg::Ping(k),
                } => out.send(from, Msg::Ping(k + 1)),
                Input::Timer(_) => out.mark("toy.timer_fired"),
                Input::Disconnected { peer } => self.disconnected.push(peer),
                _ => {}
            }
        }

        fn persist(durable: &mut Vec<u64>, write: &u64) {
            durable.push(*write);
        }

        fn role(&self) -> (Role, u64) {
            (Role::Follower, 0)
        }
    }

    type Datagrams = Cluster<Toy<false>>;
    type Fifo = Cluster<Toy<true>>;

    fn notes<const F: bool, Mon: Monitor<Toy<F>>>(
        c: &Cluster<Toy<F>, Mon>,
        id: NodeId,
    ) -> Vec<u64> {
        c.node(id).notes.iter().map(|&(_, v)| v).collect()
    }

    #[test]
    fn an_after_writes_send_and_reply_leave_once_the_writes_before_them_complete() {
        let mut c = Datagrams::new(config(3));
        c.auto_write = false;
        let op = c.client(n(1), write("x", 7));
        assert_eq!((c.envelopes().count(), c.reply(op)), (0, None));
        assert_eq!(c.pending_writes(n(1)), 1);
        assert!(
            c.durable(n(1)).is_empty(),
            "not durable before it completes"
        );
        assert!(c.complete_write(n(1)));
        assert_eq!(c.durable(n(1)), &vec![7]);
        assert_eq!(c.in_flight("Note"), 2);
        assert_eq!(c.reply(op), Some(&Reply::Ok(OpResult::Written)));
        assert!(!c.complete_write(n(1)));
    }

    #[test]
    fn a_crash_loses_pending_writes_held_sends_timers_and_messages_to_the_node() {
        let mut c = Datagrams::new(config(3));
        c.auto_write = false;
        c.client(n(2), write("x", 8));
        c.complete_writes(n(2));
        let lost = c.client(n(1), write("x", 7));
        c.crash(n(1));
        assert!(!c.is_up(n(1)));
        assert!(c.timers(n(1)).is_empty());
        assert!(c.envelopes().all(|e| e.to != n(1)), "{:?}", c.net);
        assert!(!c.complete_write(n(1)), "the pending write is lost");
        c.restart(n(1));
        assert!(c.durable(n(1)).is_empty());
        assert!(c.timer_set(n(1), TimerId(0)), "started again");
        c.deliver_all();
        assert_eq!(c.reply(lost), None, "the held reply is lost");
        assert_eq!(notes(&c, n(3)), vec![8], "the held notes are lost");
    }

    #[test]
    fn a_datagram_may_overtake_and_a_cut_loses_it() {
        let mut c = Cluster::<Toy<false>>::new(config(3));
        c.client(n(1), write("x", 1));
        c.client(n(1), write("x", 2));
        assert!(c.deliver_where(|e| e.to == n(2) && e.msg == Msg::Note(2)));
        c.cut(n(1), n(2));
        c.client(n(1), write("x", 3));
        c.deliver_all();
        assert_eq!(notes(&c, n(2)), vec![2]);
        assert_eq!(notes(&c, n(3)), vec![1, 2, 3]);
        c.heal();
        c.client(n(1), write("x", 4));
        c.deliver_all();
        assert_eq!(notes(&c, n(2)), vec![2, 4]);
    }

    #[test]
    fn a_fifo_link_delivers_in_order_keeps_messages_through_a_cut_and_loses_them_on_reset() {
        let mut c = Fifo::new(config(3));
        c.client(n(1), write("x", 1));
        c.client(n(1), write("x", 2));
        assert!(
            !c.deliver_where(|e| e.msg == Msg::Note(2)),
            "behind Note(1)"
        );
        c.cut(n(1), n(2));
        assert!(!c.deliver(n(1), n(2)));
        c.deliver_all();
        assert_eq!(notes(&c, n(2)), Vec::<u64>::new());
        assert_eq!(notes(&c, n(3)), vec![1, 2]);
        c.heal();
        c.deliver_all();
        assert_eq!(notes(&c, n(2)), vec![1, 2]);
        c.client(n(1), write("x", 3));
        c.reset_link(n(1), n(2));
        assert_eq!(c.peek(n(1), n(2)), None);
        assert_eq!(c.node(n(1)).disconnected, vec![n(2)]);
        assert_eq!(c.node(n(2)).disconnected, vec![n(1)]);
        c.deliver_all();
        assert_eq!(notes(&c, n(2)), vec![1, 2]);
        assert_eq!(notes(&c, n(3)), vec![1, 2, 3]);
    }

    #[test]
    fn a_closed_connection_loses_what_was_on_it_and_held_for_it_and_both_ends_are_told() {
        let mut c = Fifo::new(config(2));
        c.auto_write = false;
        // n1's Note(1) waits for its write; n2's Note(5) is on the wire to n1.
        c.client(n(1), write("x", 1));
        c.client(n(2), write("x", 5));
        c.complete_writes(n(2));
        c.client(n(1), read("x"));
        assert_eq!(c.node(n(1)).disconnected, vec![n(2)]);
        assert_eq!(c.node(n(2)).disconnected, vec![n(1)]);
        assert_eq!(
            c.peek(n(1), n(2)),
            Some(&Msg::Note(99)),
            "the next connection"
        );
        c.complete_writes(n(1));
        c.deliver_all();
        assert_eq!(
            notes(&c, n(2)),
            vec![99],
            "the held Note(1) went with the connection"
        );
        assert_eq!(notes(&c, n(1)), Vec::<u64>::new(), "Note(5) went with it");
    }

    #[test]
    fn a_closed_datagram_link_is_no_connection_and_loses_nothing() {
        let mut c = Datagrams::new(config(2));
        c.auto_write = false;
        c.client(n(1), write("x", 1));
        c.client(n(1), read("x"));
        c.complete_writes(n(1));
        c.deliver_all();
        assert_eq!(notes(&c, n(2)), vec![99, 1]);
        assert!(c.node(n(1)).disconnected.is_empty());
    }

    #[test]
    #[should_panic(expected = "did not quiesce within 1000 events")]
    fn deliver_all_fails_when_the_network_never_quiesces() {
        let mut c = Datagrams::new(config(2));
        c.quiesce_limit = 1000;
        c.inject(Envelope {
            from: n(2),
            to: n(1),
            msg: Msg::Ping(0),
        });
        c.deliver_all();
    }

    #[test]
    fn a_transcript_has_one_line_per_input_and_output() {
        let mut c = Datagrams::new(config(2));
        c.start_transcript();
        c.client(n(1), write("x", 5));
        c.crash(n(2));
        assert_eq!(
            c.take_transcript(),
            "n1 <- client op1 write(x, 5)\n  \
             n1 write 0 5\n  \
             n1 -> n2 Note(5) (after writes)\n  \
             n1 reply op1 Ok(Written)\n\
             n1 <- write done 0\n\
             n2 crashes"
        );
    }

    #[derive(Default)]
    struct Seen {
        marks: Vec<(NodeId, usize)>,
        crashed: Vec<NodeId>,
    }

    impl Monitor<Toy<false>> for Seen {
        /// With the number of notes the node holds when it reports.
        fn report(&mut self, id: NodeId, node: &Toy<false>, report: &Report) {
            if matches!(report, Report::Mark(_)) {
                self.marks.push((id, node.notes.len()));
            }
        }
        fn crashed(&mut self, id: NodeId) {
            self.crashed.push(id);
        }
    }

    #[test]
    fn a_monitor_sees_each_report_with_the_reporting_nodes_state_and_each_crash() {
        let mut c = Cluster::unstarted(config(2), BTreeMap::new(), Seen::default());
        c.start_all();
        c.client(n(1), write("x", 5));
        c.deliver_all();
        c.fire(n(2), TimerId(0));
        c.crash(n(2));
        c.crash(n(2));
        assert_eq!(c.monitor.marks, vec![(n(2), 1)]);
        assert_eq!(
            c.monitor.crashed,
            vec![n(2)],
            "a node that is down does not crash"
        );
        assert!(c.marked("toy.timer_fired"));
    }
}
