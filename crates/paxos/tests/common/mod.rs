//! Paxos's side of the shared test driver ([`protocol::testkit`]): the cluster type with
//! the Paxos invariants checked as reports arrive ([`PaxosInvariants`]), the election and
//! heartbeat timers, `elect`, durable images built by hand, compact transcript lines, and
//! the golden-file comparison. `PAXOS_TRACE=1` prints every input and output;
//! `UPDATE_TRANSCRIPTS=1` rewrites the golden transcripts instead of comparing them.
#![allow(dead_code, unused_imports)] // each test file uses a part of it

use paxos::{Ballot, Durable, Message, Paxos, Snapshot, Value, Write};
use paxos::{TIMER_ELECTION, TIMER_HEARTBEAT};
use protocol::testkit::{self, Formats, Monitor};
pub use protocol::testkit::{config, n, read, write, Envelope};
pub use protocol::MessageKind;
use protocol::{
    Command, Config, NodeId, Op, OpId, OpResult, OptionValue, ReadMode, Reply, Report, Role,
};
use std::collections::BTreeMap;
use std::time::Duration;

pub type Cluster = testkit::Cluster<Paxos, PaxosInvariants>;

/// How Paxos transcripts show messages and writes.
pub const FORMATS: Formats<Paxos> = Formats {
    message: describe_message,
    write: describe_write,
};

/// A Paxos cluster of `config`, every node started from an empty durable image.
pub fn cluster(config: Config) -> Cluster {
    cluster_with(config, BTreeMap::new())
}

/// A Paxos cluster whose nodes start from the given durable images (others empty).
pub fn cluster_with(config: Config, durables: BTreeMap<NodeId, Durable>) -> Cluster {
    let mut c = Cluster::unstarted(config, durables, PaxosInvariants::default());
    c.formats = FORMATS;
    c.trace = std::env::var_os("PAXOS_TRACE").is_some();
    c.start_all();
    c
}

/// `config(voters)` reading in `mode`.
pub fn config_reading(voters: u32, mode: ReadMode) -> Config {
    let mut config = config(voters);
    config.read_mode = mode;
    config
}

/// `config` with a snapshot every `slots` executed slots (`options.paxos.snapshot_every`).
pub fn snapshot_every(mut config: Config, slots: u64) -> Config {
    config.options.insert(
        paxos::OPTION_SNAPSHOT_EVERY.name.to_string(),
        OptionValue::Count(slots),
    );
    config
}

/// `config(voters)` with the mutant `bug` switched on.
pub fn config_with_bug(voters: u32, bug: &str) -> Config {
    let mut config = config(voters);
    config.bugs.insert(bug.to_string());
    config
}

/// The ballot `(round, n<node>)`.
pub fn ballot(round: u64, node: u32) -> Ballot {
    Ballot::new(round, n(node))
}

/// Client command `op<id>`.
pub fn command(id: u64, op: Op) -> Command {
    Command { id: OpId(id), op }
}

/// A value first proposed by the leader of `origin`.
pub fn value(origin: Ballot, command: Command) -> Value {
    Value {
        origin,
        command: Some(command.into()),
    }
}

/// A durable image: `promised`, the proposer's `round`, and per slot the (ballot, value)
/// accepted.
pub fn durable(round: u64, promised: Ballot, accepted: &[(u64, Ballot, Value)]) -> Durable {
    Durable {
        round,
        promised,
        accepted: accepted
            .iter()
            .map(|(slot, b, v)| (*slot, (*b, v.clone())))
            .collect(),
        snapshot: None,
        damaged: Default::default(),
    }
}

/// The Paxos invariants of PROTOCOLS.md and PAXOS.md, as reports arrive.
///
/// - one value per slot: every Commit of a slot, on any node, names the same value;
/// - a replica applies chosen slots in order and never past a hole: each Apply follows the
///   node's own Commit of that slot and the Apply of the slot before (unless the node has
///   just installed a snapshot).
///
/// With `strict` (the default) a violation panics at once, with the offending report;
/// mutant tests turn it off and read [`PaxosInvariants::violations`].
pub struct PaxosInvariants {
    pub strict: bool,
    pub violations: Vec<String>,
    /// Slot -> (term of the value's origin, op), as first reported chosen.
    pub chosen: BTreeMap<u64, (u64, Option<OpId>)>,
    /// Per node, the current incarnation's Commits (slot -> op) and last Apply.
    committed: BTreeMap<NodeId, BTreeMap<u64, Option<OpId>>>,
    last_applied: BTreeMap<NodeId, Option<u64>>,
    /// Every (slot, op) each node applied, across incarnations, in order.
    pub applied: BTreeMap<NodeId, Vec<(u64, Option<OpId>)>>,
}

impl Default for PaxosInvariants {
    fn default() -> Self {
        PaxosInvariants {
            strict: true,
            violations: Vec::new(),
            chosen: BTreeMap::new(),
            committed: BTreeMap::new(),
            last_applied: BTreeMap::new(),
            applied: BTreeMap::new(),
        }
    }
}

impl PaxosInvariants {
    fn violated(&mut self, what: String) {
        assert!(!self.strict, "invariant violated: {what}");
        self.violations.push(what);
    }
}

impl Monitor<Paxos> for PaxosInvariants {
    fn report(&mut self, id: NodeId, _node: &Paxos, report: &Report) {
        match *report {
            Report::Commit { index, term, op } => {
                match self.chosen.get(&index) {
                    Some(&first) if first != (term, op) => self.violated(format!(
                        "slot {index} chosen twice: {first:?}, then {:?} at {id}",
                        (term, op)
                    )),
                    Some(_) => {}
                    None => {
                        self.chosen.insert(index, (term, op));
                    }
                }
                self.committed.entry(id).or_default().insert(index, op);
            }
            Report::Apply {
                index, term, op, ..
            } => {
                let committed = self.committed.get(&id).and_then(|c| c.get(&index));
                if committed != Some(&op) {
                    self.violated(format!(
                        "{id} applied slot {index} ({op:?}) that it never learned chosen (it learned {committed:?})"
                    ));
                }
                if let Some(Some(last)) = self.last_applied.get(&id) {
                    if index != last + 1 {
                        self.violated(format!(
                            "{id} applied slot {index} right after slot {last}: past a hole"
                        ));
                    }
                }
                if self.chosen.get(&index).is_some_and(|&c| c != (term, op)) {
                    self.violated(format!(
                        "{id} applied {:?} at slot {index}, chosen as {:?}",
                        (term, op),
                        self.chosen[&index]
                    ));
                }
                self.last_applied.insert(id, Some(index));
                self.applied.entry(id).or_default().push((index, op));
            }
            Report::Mark("paxos.snapshot_installed") => {
                // The state machine jumped: the next Apply follows the snapshot.
                self.last_applied.insert(id, None);
            }
            _ => {}
        }
    }

    fn crashed(&mut self, id: NodeId) {
        // Chosen values and the executed prefix are volatile (the snapshot is not).
        self.committed.remove(&id);
        self.last_applied.insert(id, None);
    }
}

/// What only Paxos tests ask of the cluster.
pub trait PaxosCluster {
    fn fire_election(&mut self, id: NodeId);
    fn fire_heartbeat(&mut self, id: NodeId);
    /// Lets the minimum election timeout pass: every acceptor's promise to refuse other
    /// proposers while its leader lives (the fence; the master lease in lease mode) and the
    /// lease-mode refusal after a start have run out.
    fn outlast_fence(&mut self);
    /// Fires `id`'s election timer and delivers everything; `id` must lead. Its ballot.
    fn elect(&mut self, id: NodeId) -> Ballot;
    /// `id`'s heartbeat, delivered: every node hears the chosen prefix.
    fn announce(&mut self, id: NodeId);
    /// A line of its own in the transcript: a step of the scenario, as etcd's datadriven
    /// tests write the command before its output.
    fn note(&mut self, step: &str);
    /// The transcript so far, compared byte for byte with `tests/transcripts/<name>`.
    fn check_transcript(&mut self, name: &str);
    /// Every (slot, op) `id` applied, in order, across its incarnations.
    fn applied(&self, id: NodeId) -> Vec<(u64, Option<OpId>)>;
    /// Every reply any node gave `op`.
    fn replies_to(&self, op: OpId) -> Vec<&Reply>;
    /// `id` is up and leads (the ballot it leads with).
    fn leads(&self, id: NodeId) -> Option<Ballot>;
    /// Hands `to` a message from `from` now (one a real node could have sent: a delayed
    /// or duplicated one, or one the test writes to reach a state directly).
    fn send(&mut self, from: NodeId, to: NodeId, msg: Message);
    /// The messages in flight from `from` to `to`, oldest first.
    fn in_flight_between(&self, from: NodeId, to: NodeId) -> Vec<Message>;
    /// Delivers messages of these kinds (those their delivery sends too) until none is in
    /// flight; every other message waits.
    fn deliver_kinds(&mut self, kinds: &[&str]);
    /// Runs the cluster until quiet as [`testkit::Cluster::deliver_all`] does, except that
    /// nothing is delivered to `id` and its writes stay pending.
    fn deliver_all_but(&mut self, id: NodeId);
    /// The durable writes `id` issued, in order (needs `record_outputs`).
    fn writes_issued(&self, id: NodeId) -> Vec<Write>;
}

impl PaxosCluster for Cluster {
    fn fire_election(&mut self, id: NodeId) {
        self.fire(id, TIMER_ELECTION);
    }

    fn fire_heartbeat(&mut self, id: NodeId) {
        self.fire(id, TIMER_HEARTBEAT);
    }

    fn outlast_fence(&mut self) {
        let fence = self.config.election_timeout.0;
        self.advance(fence);
    }

    fn elect(&mut self, id: NodeId) -> Ballot {
        self.fire_election(id);
        self.deliver_all();
        assert_eq!(self.role(id).0, Role::Leader, "{id} failed to win");
        self.node(id)
            .leader_ballot()
            .expect("a leader has a ballot")
    }

    fn announce(&mut self, id: NodeId) {
        self.fire_heartbeat(id);
        self.deliver_all();
    }

    fn note(&mut self, step: &str) {
        if self.trace {
            eprintln!("> {step}");
        }
        if let Some(lines) = self.transcript.as_mut() {
            lines.push(format!("> {step}"));
        }
    }

    fn check_transcript(&mut self, name: &str) {
        let got = self.take_transcript() + "\n";
        let path = format!("{}/tests/transcripts/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_TRANSCRIPTS").is_some() {
            std::fs::write(&path, &got).unwrap_or_else(|e| panic!("writing {path}: {e}"));
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}; write it with UPDATE_TRANSCRIPTS=1 cargo test -p paxos")
        });
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(g, w)| g != w)
                .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
            panic!(
                "transcript {name} changed at line {}; review the new one and write it with \
                 UPDATE_TRANSCRIPTS=1 cargo test -p paxos --test transcript\n\
                 want: {:?}\n got: {:?}\nnew transcript:\n{got}",
                first + 1,
                want.lines().nth(first),
                got.lines().nth(first),
            );
        }
    }

    fn applied(&self, id: NodeId) -> Vec<(u64, Option<OpId>)> {
        self.monitor.applied.get(&id).cloned().unwrap_or_default()
    }

    fn replies_to(&self, op: OpId) -> Vec<&Reply> {
        self.replies
            .iter()
            .filter(|r| r.1 == op)
            .map(|r| &r.2)
            .collect()
    }

    fn leads(&self, id: NodeId) -> Option<Ballot> {
        if !self.is_up(id) {
            return None;
        }
        self.node(id).leader_ballot()
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: Message) {
        self.inject(Envelope { from, to, msg });
    }

    fn deliver_kinds(&mut self, kinds: &[&str]) {
        while self.deliver_where(|e| kinds.contains(&e.msg.kind())) {}
    }

    fn deliver_all_but(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|&o| o != id).collect();
        loop {
            for &o in &others {
                if self.is_up(o) {
                    self.complete_writes(o);
                }
            }
            if !self.deliver_where(|e| e.to != id) {
                return;
            }
        }
    }

    fn writes_issued(&self, id: NodeId) -> Vec<Write> {
        assert!(self.record_outputs, "writes_issued needs record_outputs");
        self.nodes[&id]
            .outputs
            .iter()
            .filter_map(|o| match o {
                protocol::Output::Write { write, .. } => Some(write.clone()),
                _ => None,
            })
            .collect()
    }

    fn in_flight_between(&self, from: NodeId, to: NodeId) -> Vec<Message> {
        self.envelopes()
            .filter(|e| e.from == from && e.to == to)
            .map(|e| e.msg.clone())
            .collect()
    }
}

/// Whether a reply is an honest failure of a command that may or may not take effect.
pub fn indeterminate(reply: &Reply) -> bool {
    matches!(
        reply,
        Reply::Error {
            maybe_applied: true,
            ..
        }
    )
}

pub const WRITTEN: Reply = Reply::Ok(OpResult::Written);

pub fn read_ok(v: Option<u64>) -> Reply {
    Reply::Ok(OpResult::Read(v))
}

// ---- Transcript lines ----

pub fn show_value(v: &Value) -> String {
    match &v.command {
        Some(c) => format!("{} {} by {}", c.id, c.op, v.origin),
        None => format!("no-op by {}", v.origin),
    }
}

fn show_entries(entries: &[(u64, Value)]) -> String {
    let shown: Vec<String> = entries
        .iter()
        .map(|(s, v)| format!("{s}: {}", show_value(v)))
        .collect();
    format!("[{}]", shown.join("; "))
}

fn show_snapshot(s: &Snapshot) -> String {
    format!("snapshot to {} ({} ops applied)", s.upto, s.applied.len())
}

fn describe_message(msg: &Message) -> String {
    match msg {
        Message::Prepare { ballot, first_slot } => {
            format!("Prepare {ballot} from slot {first_slot}")
        }
        Message::Promise {
            ballot,
            page,
            pages,
            low_water,
            snapshot,
            accepted,
        } => {
            let shown: Vec<String> = accepted
                .iter()
                .map(|(s, b, v)| format!("{s} in {b}: {}", show_value(v)))
                .collect();
            format!(
                "Promise {ballot} page {}/{pages} low water {low_water}{} accepted [{}]",
                page + 1,
                snapshot
                    .as_ref()
                    .map_or(String::new(), |s| format!(" {}", show_snapshot(s))),
                shown.join("; ")
            )
        }
        Message::Nack { ballot, promised } => format!("Nack {ballot} promised {promised}"),
        Message::Accept {
            ballot,
            entries,
            chosen_upto,
        } => format!(
            "Accept {ballot} {} chosen to {chosen_upto}",
            show_entries(entries)
        ),
        Message::Accepted { ballot, slots } => format!("Accepted {ballot} slots {slots:?}"),
        Message::Heartbeat {
            ballot,
            round,
            chosen_upto,
        } => format!("Heartbeat {ballot} round {round} chosen to {chosen_upto}"),
        Message::HeartbeatAck {
            ballot,
            round,
            executed,
            ..
        } => format!("HeartbeatAck {ballot} round {round} executed {executed}"),
        Message::LeaseGrant {
            ballot,
            round,
            duration,
            ..
        } => format!("LeaseGrant {ballot} for round {round}, {duration:?}"),
        Message::Damaged {
            ballot,
            page,
            pages,
            slots,
        } => format!("Damaged {ballot} page {page}/{pages} slots {slots:?}"),
        Message::Chosen { ballot, upto } => format!("Chosen {ballot} to {upto}"),
        Message::CatchUp { from } => format!("CatchUp from {from}"),
        Message::Decided { snapshot, entries } => format!(
            "Decided{} {}",
            snapshot
                .as_ref()
                .map_or(String::new(), |s| format!(" {}", show_snapshot(s))),
            show_entries(entries)
        ),
    }
}

fn describe_write(write: &Write) -> String {
    match write {
        Write::Round(round) => format!("round {round}"),
        Write::Promise(ballot) => format!("promise {ballot}"),
        Write::Accept {
            ballot,
            promise,
            entries,
        } => format!(
            "accept {ballot} promise {promise} {}",
            show_entries(entries)
        ),
        Write::Snapshot(s) => show_snapshot(s),
        Write::Compact { upto, promise } => format!("compact to {upto} promise {promise}"),
    }
}

// ---- Schedules several files share ----

/// A leader behind the compacted prefix (run on a cluster of three snapshotting every 2
/// slots): n3 is cut off while n1 and n2 choose, execute and compact x=1 and x=2 (slots
/// 1-2); n1 crashes; after the fence n3 leads with n2's promise, whose low-water mark is 2.
pub fn leader_behind_compaction(c: &mut Cluster) {
    c.elect(n(1));
    c.isolate(n(3));
    for v in 1..=2 {
        c.client(n(1), write("x", v));
    }
    c.deliver_all();
    c.announce(n(1));
    assert_eq!(c.node(n(2)).low_water(), 2);
    c.crash(n(1));
    c.heal();
    c.outlast_fence();
    c.elect(n(3));
}

/// PML §5.2's "ghost" setting (and CASSANDRA-12126's): n1 leads, x=1 is chosen and
/// executed everywhere; x=2 is accepted by n1 and n2, chosen, and acknowledged to its
/// client (in lease mode, once the leases its heartbeat granted ran out); n1 crashes with
/// everything it sent still in flight (no one else learns slot 2 chosen). After the fence n2 wins phase 1 with n3's promise: it recovered slot 2 from its
/// own acceptor but has not executed it. Its Heartbeats and the Accept of slot 2 are in
/// flight. Returns the acknowledged write.
pub fn acknowledged_write_lost_with_its_leader(config: Config) -> (Cluster, OpId) {
    let mut c = cluster(config);
    c.outlast_fence(); // in lease mode, every node refuses Prepares right after it starts
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    c.announce(n(1));
    // In lease mode the heartbeat granted n2 and n3 leases; once they ran out, n1 completes
    // a write without waiting for n3 to accept it.
    c.outlast_fence();
    let op = c.client(n(1), write("x", 2));
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    assert!(c.deliver_kind(n(2), n(1), "Accepted"));
    assert_eq!(c.reply(op), Some(&WRITTEN), "x=2 is acknowledged");
    c.crash_losing_sent(n(1));
    c.outlast_fence();
    c.fire_election(n(2));
    c.deliver_kinds(&["Prepare", "Promise"]);
    assert!(c.leads(n(2)).is_some(), "n2 leads with n3's promise");
    assert_eq!(
        c.node(n(2)).executed(),
        1,
        "slot 2 recovered, not yet executed"
    );
    (c, op)
}

/// `config` in lease mode, three nodes: n1 leads, x=1 is chosen and executed everywhere, and a second
/// heartbeat round granted n2 and n3 read leases (Ceph's monitor leases). Nothing in
/// flight.
pub fn followers_holding_leases(config: Config) -> Cluster {
    assert_eq!(config.read_mode, ReadMode::Lease);
    let mut c = cluster(config);
    c.outlast_fence();
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    c.announce(n(1));
    assert!(c.marked("paxos.follower_lease_granted"));
    c
}

/// A storage fault in the setting of Protocol-Aware Recovery (FAST'18), on a fresh
/// three-node cluster: n1 leads and x=1 is accepted by n1 and n2 only (n3 cut off), so
/// chosen and acknowledged; n1 crashes with everything it sent in flight; n2 restarts with
/// its record of slot 1 damaged; n3 is back and campaigns. Nothing is in flight. Returns
/// the acknowledged write.
pub fn chosen_value_with_one_damaged_copy(c: &mut Cluster) -> OpId {
    c.elect(n(1));
    c.isolate(n(3));
    let op = c.client(n(1), write("x", 1));
    c.deliver_all();
    assert_eq!(c.reply(op), Some(&WRITTEN));
    c.crash_losing_sent(n(1));
    c.crash(n(2));
    assert_eq!(
        c.corrupt(n(2), 0).as_deref(),
        Some("accepted record of slot 1")
    );
    c.restart(n(2));
    assert!(c.marked("paxos.started_with_damaged_records"));
    c.heal();
    c.outlast_fence();
    c.fire_election(n(3));
    c.deliver_all();
    op
}
