//! The simulated world's mechanics, checked with a toy protocol: node 1 leads for ever,
//! persists each client write, replicates it, and answers once a majority has it durable.
//! It is small enough that every event it causes can be predicted.

use protocol::{
    Bug, Command, Config, Input, LocalTime, MessageKind, NodeId, Outputs, Protocol, ReadMode,
    Reply, Report, Role, TimerId,
};
use simulator::sim::{Outcome, RunOutput};
use simulator::trace::Kind;
use simulator::{RunOptions, Scenario, Simulation};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Hash)]
enum Msg {
    Append { index: u64, cmd: (u64, String) },
    Ack { index: u64 },
    Beat,
}

impl MessageKind for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Append { .. } => "Append",
            Msg::Ack { .. } => "Ack",
            Msg::Beat => "Beat",
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Durable {
    log: Vec<u64>,
}

#[derive(Clone, Debug, Hash)]
struct Append(u64);

struct Toy {
    id: NodeId,
    voters: usize,
    log: Vec<u64>,
    acks: Vec<BTreeSet<u32>>,
    heartbeat: std::time::Duration,
    answers_twice: bool,
    asserts: bool,
}

/// The toy's one switch: a follower answers every heartbeat with two, so the messages in
/// flight double with each round trip, as they did when every duplicated reply to a
/// snapshot made Raft send the snapshot again (swarm seed 141876).
const ANSWERS_TWICE: &str = "toy.answers_heartbeats_twice";

/// The toy's other switch: node 2 asserts that it never receives the third append, a
/// protocol's own invariant check as a mutant can trip one.
const ASSERTS: &str = "toy.n2_asserts_at_append_3";

const BEAT: TimerId = TimerId(0);

impl Protocol for Toy {
    type Message = Msg;
    type Durable = Durable;
    type Write = Append;
    const NAME: &'static str = "toy";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = &[
        Bug {
            name: ANSWERS_TWICE,
            summary: "a follower answers every heartbeat with two",
        },
        Bug {
            name: ASSERTS,
            summary: "node 2 asserts that it never receives the third append",
        },
    ];
    const READ_MODES: &'static [ReadMode] = &[ReadMode::Log];

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Durable,
        _now: LocalTime,
        out: &mut Outputs<Msg, Append>,
    ) -> Self {
        if id.0 == 1 {
            out.report(Report::Role {
                role: Role::Leader,
                term: 1,
            });
            out.set_timer(BEAT, config.heartbeat_interval, config.heartbeat_interval);
        }
        Toy {
            id,
            voters: config.voters.len(),
            log: durable.log.clone(),
            acks: Vec::new(),
            heartbeat: config.heartbeat_interval,
            answers_twice: config.bug(ANSWERS_TWICE),
            asserts: config.bug(ASSERTS),
        }
    }

    fn step(&mut self, _now: LocalTime, input: Input<Msg>, out: &mut Outputs<Msg, Append>) {
        match input {
            Input::Client(Command { id, .. }) if self.id.0 != 1 => out.reply(
                id,
                Reply::NotLeader {
                    hint: Some(NodeId(1)),
                },
            ),
            Input::Client(Command { id, op }) => {
                let index = self.log.len() as u64 + 1;
                self.log.push(id.0);
                self.acks.push(BTreeSet::new());
                out.write(index, Append(id.0));
                for peer in 2..=self.voters as u32 {
                    out.send(
                        NodeId(peer),
                        Msg::Append {
                            index,
                            cmd: (id.0, op.to_string()),
                        },
                    );
                }
            }
            Input::Message {
                from,
                msg: Msg::Append { index, cmd },
            } => {
                assert!(
                    !self.asserts || self.id.0 != 2 || index < 3,
                    "n2 got append {index}, which it never should"
                );
                // Reported so tests can see the order Appends arrived in.
                out.report(Report::Apply {
                    index,
                    term: 0,
                    op: None,
                    state: 0,
                });
                out.write(index, Append(cmd.0));
                out.send_after_writes(from, Msg::Ack { index });
            }
            Input::Message {
                from,
                msg: Msg::Ack { index },
            } => self.ack(index, from.0, out),
            Input::WriteDone { tag } if self.id.0 == 1 => self.ack(tag, 1, out),
            Input::Message {
                from,
                msg: Msg::Beat,
            } if self.answers_twice => {
                out.send(from, Msg::Beat);
                out.send(from, Msg::Beat);
            }
            Input::Timer(BEAT) => {
                for peer in 2..=self.voters as u32 {
                    out.send(NodeId(peer), Msg::Beat);
                }
                out.set_timer(BEAT, self.heartbeat, self.heartbeat);
            }
            _ => {}
        }
    }

    fn persist(durable: &mut Durable, write: &Append) {
        durable.log.push(write.0);
    }

    fn role(&self) -> (Role, u64) {
        (
            if self.id.0 == 1 {
                Role::Leader
            } else {
                Role::Follower
            },
            1,
        )
    }
}

impl Toy {
    fn ack(&mut self, index: u64, from: u32, out: &mut Outputs<Msg, Append>) {
        let Some(acks) = self.acks.get_mut(index as usize - 1) else {
            return;
        };
        let before = acks.len();
        acks.insert(from);
        if before < self.voters / 2 + 1 && acks.len() == self.voters / 2 + 1 {
            let op = protocol::OpId(self.log[index as usize - 1]);
            out.report(Report::Commit {
                index,
                term: 1,
                op: Some(op),
            });
            out.report(Report::Apply {
                index,
                term: 1,
                op: Some(op),
                state: 0,
            });
            out.reply(op, Reply::Ok(protocol::OpResult::Written));
        }
    }
}

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "toy"
protocol = "toy"
nodes = 3
duration = "2s"
[workload]
clients = 2
keys = 2
read = 0.0
write = 1.0
cas = 0.0
timeout = "300ms"
{extra}
"#
    );
    Scenario::from_toml("toy.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn run(sc: &Scenario, seed: u64) -> RunOutput {
    run_as::<Toy>(sc, seed)
}

fn run_as<P: Protocol>(sc: &Scenario, seed: u64) -> RunOutput {
    let options = RunOptions {
        seed,
        keep_events: true,
        ..RunOptions::default()
    };
    Simulation::<P>::new(sc, &options)
        .expect("config")
        .run()
        .expect("run")
}

#[test]
fn the_same_seed_gives_the_same_trace_hash_and_different_seeds_differ() {
    let sc = scenario(
        "[network]\nlatency = [\"1ms\", \"20ms\"]\nloss = 0.05\nduplicate = 0.05\nreorder = 0.1",
    );
    let mut hashes = BTreeSet::new();
    for seed in 0..50 {
        let a = run(&sc, seed);
        let b = run(&sc, seed);
        assert_eq!(a.log.hash(), b.log.hash(), "seed {seed}");
        assert_eq!(a.log.events, b.log.events, "seed {seed}");
        hashes.insert(a.log.hash());
    }
    assert_eq!(hashes.len(), 50, "every seed should give its own run");
}

#[test]
fn clients_get_answers_once_a_majority_has_the_write_durable() {
    let sc = scenario("[storage]\nwrite_latency = [\"1ms\", \"3ms\"]");
    let out = run(&sc, 1);
    let ok = out
        .history
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
        .count();
    assert!(ok > 100, "only {ok} operations completed");
    // Every Ack left only after the follower's write for it completed.
    let mut last_write_done = std::collections::BTreeMap::new();
    for e in &out.log.events {
        match e.kind {
            Kind::WriteDone => {
                last_write_done.insert(e.node, e.at_ns);
            }
            Kind::Recv if e.label == "Ack" => {
                assert!(
                    last_write_done.contains_key(&e.peer),
                    "an Ack from n{} arrived before any write",
                    e.peer
                );
            }
            _ => {}
        }
    }
}

#[test]
fn fifo_links_deliver_in_send_order_while_datagram_links_reorder() {
    // The leader sends Appends in index order; followers report each index on arrival.
    let arrivals = |fifo: bool| {
        let sc = scenario(&format!(
            "[network]\nlatency = [\"1ms\", \"30ms\"]\nfifo = {fifo}"
        ));
        let out = run(&sc, 3);
        let mut per_node: std::collections::BTreeMap<u32, Vec<u64>> = Default::default();
        for e in &out.log.events {
            if e.kind == Kind::Apply && e.b == 0 {
                per_node.entry(e.node).or_default().push(e.a);
            }
        }
        per_node
    };
    let in_order = |seq: &Vec<u64>| seq.windows(2).all(|w| w[0] < w[1]);
    let fifo = arrivals(true);
    assert!(fifo[&2].len() > 50 && fifo[&3].len() > 50);
    assert!(
        in_order(&fifo[&2]) && in_order(&fifo[&3]),
        "a FIFO link delivered out of order"
    );
    let datagram = arrivals(false);
    assert!(
        !in_order(&datagram[&2]) || !in_order(&datagram[&3]),
        "30ms jitter should reorder datagrams"
    );
}

#[test]
fn a_partition_stops_messages_across_it_until_healed() {
    let sc = scenario(
        "[[faults]]\nat = \"500ms\"\nkind = \"partition\"\ngroups = [[1], [2, 3]]\n\
         [[faults]]\nat = \"1s\"\nkind = \"heal\"",
    );
    let out = run(&sc, 7);
    let across =
        |e: &&simulator::trace::Event| (e.node == 1) != (e.peer == 1) && e.peer != 0 && e.node != 0;
    let recv_during = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Recv && e.at_ns > 520_000_000 && e.at_ns < 1_000_000_000)
        .filter(across)
        .count();
    assert_eq!(recv_during, 0, "messages crossed the partition");
    let dropped = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Drop && e.label == "partition")
        .count();
    assert!(dropped > 0);
    let recv_after = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Recv && e.at_ns > 1_050_000_000)
        .filter(across)
        .count();
    assert!(recv_after > 0, "the heal did not restore traffic");
}

#[test]
fn a_crash_loses_incomplete_writes_and_held_sends() {
    // Writes take 100ms; n2 crashes 50ms after receiving Appends, so its last writes are
    // incomplete and its Acks for them never leave.
    let sc = scenario(
        "[storage]\nwrite_latency = [\"100ms\", \"100ms\"]\n\
         [[faults]]\nat = \"1s\"\nkind = \"crash\"\nnode = 2\n\
         [[faults]]\nat = \"1.5s\"\nkind = \"restart\"\nnode = 2",
    );
    let out = run(&sc, 11);
    let recv_before_crash = out
        .log
        .events
        .iter()
        .filter(|e| {
            e.kind == Kind::Recv
                && e.node == 2
                && e.label == "Append"
                && e.at_ns > 900_000_000
                && e.at_ns < 1_000_000_000
        })
        .count();
    assert!(recv_before_crash > 0);
    let acks_from_2_late = out
        .log
        .events
        .iter()
        .filter(|e| {
            e.kind == Kind::Recv
                && e.peer == 2
                && e.label == "Ack"
                && e.at_ns >= 1_000_000_000
                && e.at_ns < 1_500_000_000
        })
        .count();
    assert_eq!(
        acks_from_2_late, 0,
        "an Ack held for an incomplete write left a crashed node"
    );
    let writes_done_while_down = out
        .log
        .events
        .iter()
        .filter(|e| {
            e.kind == Kind::WriteDone
                && e.node == 2
                && e.at_ns > 1_000_000_000
                && e.at_ns < 1_500_000_000
        })
        .count();
    assert_eq!(
        writes_done_while_down, 0,
        "a write completed on a crashed node"
    );
}

#[test]
fn a_paused_node_handles_nothing_until_it_resumes_then_everything_in_order() {
    let sc = scenario(
        "[[faults]]\nat = \"500ms\"\nkind = \"pause\"\nnode = 1\n\
         [[faults]]\nat = \"800ms\"\nkind = \"resume\"\nnode = 1",
    );
    let out = run(&sc, 5);
    let during = out
        .log
        .events
        .iter()
        .filter(|e| {
            e.node == 1
                && matches!(e.kind, Kind::Recv | Kind::Timer)
                && e.at_ns > 500_000_000
                && e.at_ns < 800_000_000
        })
        .count();
    assert_eq!(during, 0);
    let at_resume = out
        .log
        .events
        .iter()
        .filter(|e| e.node == 1 && e.kind == Kind::Recv && e.at_ns == 800_000_000)
        .count();
    assert!(
        at_resume > 0,
        "the stashed messages were not handled on resume"
    );
}

#[test]
fn a_clock_stepped_back_delays_that_nodes_timers_in_true_time() {
    let text = r#"
name = "toy"
protocol = "toy"
nodes = 3
duration = "2s"
[options]
heartbeat_interval = "50ms"
election_timeout = ["150ms", "300ms"]
[workload]
clients = 0
[[faults]]
at = "1s"
kind = "clock_step"
node = 1
by = "-300ms"
"#;
    let sc = Scenario::from_toml("toy.toml", text).unwrap();
    let out = run(&sc, 1);
    let beats: Vec<u64> = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Timer && e.node == 1)
        .map(|e| e.at_ns)
        .collect();
    let gap = beats.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        gap >= 300_000_000,
        "the longest gap between heartbeats was {gap}ns"
    );
}

#[test]
fn a_partitioned_fifo_link_holds_messages_in_order_until_the_heal_and_tells_no_one() {
    // Wide jitter, so that messages in flight across the heal would overtake released ones
    // if the receiving end did not reassemble the stream in send order.
    let sc = scenario(
        "[network]\nfifo = true\nlatency = [\"1ms\", \"40ms\"]\n\
         [[faults]]\nat = \"500ms\"\nkind = \"partition\"\ngroups = [[1], [2, 3]]\n\
         [[faults]]\nat = \"1s\"\nkind = \"heal\"",
    );
    for seed in 0..20 {
        let out = run(&sc, seed);
        let lost = out
            .log
            .events
            .iter()
            .filter(|e| e.kind == Kind::Drop)
            .count();
        assert_eq!(lost, 0, "a partition on a FIFO link loses nothing");
        assert_eq!(
            out.log
                .events
                .iter()
                .filter(|e| e.kind == Kind::Reset)
                .count(),
            0,
            "and resets nothing"
        );
        assert!(out.log.events.iter().any(|e| e.kind == Kind::Clogged));
        for follower in [2, 3] {
            let arrivals: Vec<u64> = out
                .log
                .events
                .iter()
                .filter(|e| e.kind == Kind::Apply && e.b == 0 && e.node == follower)
                .map(|e| e.a)
                .collect();
            assert!(
                arrivals.windows(2).all(|w| w[0] + 1 == w[1]),
                "seed {seed}, n{follower}: {arrivals:?}"
            );
        }
        let during = out
            .log
            .events
            .iter()
            .filter(|e| {
                e.kind == Kind::Recv
                    && e.node == 2
                    && e.peer == 1
                    && e.at_ns > 541_000_000
                    && e.at_ns < 1_000_000_000
            })
            .count();
        assert_eq!(during, 0);
    }
}

#[test]
fn messages_held_across_a_crash_of_their_sender_are_lost_with_its_connections() {
    let sc = scenario(
        "[network]\nfifo = true\n\
         [[faults]]\nat = \"500ms\"\nkind = \"partition\"\ngroups = [[1], [2, 3]]\n\
         [[faults]]\nat = \"700ms\"\nkind = \"crash\"\nnode = 1\n\
         [[faults]]\nat = \"1s\"\nkind = \"heal\"",
    );
    let out = run(&sc, 2);
    let reset_after_heal = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Drop && e.label == "reset" && e.at_ns == 1_000_000_000)
        .count();
    assert!(
        reset_after_heal > 0,
        "what n1 sent before it crashed must not arrive after the heal"
    );
    let delivered_from_1 = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Recv && e.peer == 1 && e.at_ns >= 1_000_000_000)
        .count();
    assert_eq!(delivered_from_1, 0);
}

/// The nemesis's applied faults of one kind of fault text, as (time, node).
fn nemesis_faults(out: &RunOutput, name: &str) -> Vec<(u64, u32)> {
    out.faults
        .iter()
        .filter(|f| f.from_nemesis && f.fault.name() == name)
        .map(|f| (f.at_ns, f.node.expect("a single-node fault")))
        .collect()
}

#[test]
fn crash_leader_crashes_whoever_leads_and_restarts_it_after_its_own_duration() {
    let sc = scenario(
        "[nemesis]\nstart = \"200ms\"\nstop = \"1800ms\"\ncrash_leader = 5.0\n\
         crash_leader_duration = [\"30ms\", \"30ms\"]",
    );
    let out = run(&sc, 4);
    let crashes = nemesis_faults(&out, "crash");
    let restarts = nemesis_faults(&out, "restart");
    assert!(crashes.len() >= 3, "{crashes:?}");
    // The toy's leader is n1, for ever.
    assert!(crashes.iter().all(|&(_, node)| node == 1), "{crashes:?}");
    for &(at, node) in &crashes {
        assert!(
            restarts.contains(&(at + 30_000_000, node)),
            "n{node} crashed at {at} and did not restart 30ms later: {restarts:?}"
        );
    }
}

#[test]
fn crash_leader_is_skipped_while_no_one_leads() {
    // n1, the only leader, is down from 100ms to the end: every crash_leader finds none.
    let sc = scenario(
        "[[faults]]\nat = \"100ms\"\nkind = \"crash\"\nnode = 1\n\
         [nemesis]\nstart = \"200ms\"\nstop = \"1800ms\"\ncrash_leader = 5.0\npause_leader = 5.0",
    );
    let out = run(&sc, 4);
    assert!(out
        .faults
        .iter()
        .all(|f| !f.from_nemesis || f.fault.name() == "heal_all"));
    let skipped = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::FaultSkipped)
        .count();
    assert!(skipped >= 3, "{skipped}");
}

#[test]
fn crash_writing_crashes_a_node_while_one_of_its_writes_is_in_flight() {
    let sc = scenario(
        "[storage]\nwrite_latency = [\"20ms\", \"20ms\"]\n\
         [nemesis]\nstart = \"200ms\"\nstop = \"1800ms\"\ncrash_writing = 5.0\n\
         crash_writing_duration = [\"5ms\", \"50ms\"]",
    );
    let out = run(&sc, 7);
    let crashes = nemesis_faults(&out, "crash");
    // A follower writes each Append it receives (tag = index, reported as an Apply);
    // writes complete in order, so the last one issued before the crash never did.
    let mut followers = 0;
    for &(at, node) in crashes.iter().filter(|&&(_, node)| node != 1) {
        let last_issued = out
            .log
            .events
            .iter()
            .rev()
            .find(|e| e.kind == Kind::Apply && e.node == node && e.at_ns <= at)
            .map(|e| (e.a, e.at_ns))
            .expect("a follower that wrote");
        let completed = out.log.events.iter().any(|e| {
            e.kind == Kind::WriteDone
                && e.node == node
                && e.a == last_issued.0
                && e.at_ns >= last_issued.1
                && e.at_ns <= at
        });
        assert!(
            !completed,
            "n{node} crashed at {at} with no write in flight (its last, {last_issued:?}, had completed)"
        );
        followers += 1;
    }
    assert!(followers >= 2, "{crashes:?}");
}

#[test]
fn drift_keeps_every_rate_within_what_the_lease_tolerates_and_undoes_it() {
    let sc = scenario(
        "[options]\nclock_drift_bound = 0.2\n\
         [nemesis]\nstart = \"200ms\"\nstop = \"1800ms\"\ndrift = 10.0\n\
         drift_duration = [\"50ms\", \"100ms\"]",
    );
    let out = run(&sc, 3);
    let d = 0.2 / (2.0 - 0.2);
    let rates: Vec<(u32, f64)> = out
        .faults
        .iter()
        .filter_map(|f| match f.fault {
            simulator::scenario::Fault::Drift { rate, .. } => Some((f.node.unwrap(), rate)),
            _ => None,
        })
        .collect();
    assert!(rates.len() >= 10, "{rates:?}");
    assert!(
        rates.iter().all(|&(_, r)| (r - 1.0).abs() <= d),
        "{rates:?}"
    );
    assert!(
        rates.iter().any(|&(_, r)| (r - 1.0).abs() > d / 2.0),
        "drift should use its band: {rates:?}"
    );
    // Each drift is undone by a drift back to the scenario's rate (here 1).
    let drifts = nemesis_faults(&out, "drift");
    let back = rates.iter().filter(|&&(_, r)| r == 1.0).count();
    assert_eq!(back * 2, drifts.len(), "{rates:?}");
}

#[test]
fn crash_new_leader_crashes_the_next_node_to_take_office_right_as_it_does() {
    // The toy's n1 takes office again each time it restarts (at 500ms and 1100ms here).
    let sc = scenario(
        "[[faults]]\nat = \"400ms\"\nkind = \"crash\"\nnode = 1\n\
         [[faults]]\nat = \"500ms\"\nkind = \"restart\"\nnode = 1\n\
         [[faults]]\nat = \"1s\"\nkind = \"crash\"\nnode = 1\n\
         [[faults]]\nat = \"1100ms\"\nkind = \"restart\"\nnode = 1\n\
         [nemesis]\nstart = \"200ms\"\nstop = \"1800ms\"\ncrash_new_leader = 20.0\n\
         crash_new_leader_duration = [\"30ms\", \"30ms\"]",
    );
    let out = run(&sc, 3);
    let crashes = nemesis_faults(&out, "crash");
    let restarts = nemesis_faults(&out, "restart");
    let took_office: Vec<u64> = out
        .leaders
        .iter()
        .filter(|l| l.at_ns > 200_000_000)
        .map(|l| l.at_ns)
        .collect();
    assert!(!took_office.is_empty());
    // Every nemesis crash lands 1 ns after n1 took office, and is undone 30ms later.
    assert!(!crashes.is_empty(), "{:?}", out.faults);
    for &(at, node) in &crashes {
        assert_eq!(node, 1);
        assert!(
            took_office.contains(&(at - 1)),
            "crash at {at}, took office at {took_office:?}"
        );
        assert!(restarts.contains(&(at - 1 + 30_000_000, 1)), "{restarts:?}");
    }
}

/// The toy with membership changes: it answers a change by reporting the membership it
/// would have (the requested server added or removed), so a test sees where it went.
struct MemberToy {
    toy: Toy,
    members: Vec<NodeId>,
}

impl Protocol for MemberToy {
    type Message = Msg;
    type Durable = Durable;
    type Write = Append;
    const NAME: &'static str = "member_toy";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = &[];
    const READ_MODES: &'static [ReadMode] = &[ReadMode::Log];
    const SUPPORTS_MEMBERSHIP: bool = true;

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Durable,
        now: LocalTime,
        out: &mut Outputs<Msg, Append>,
    ) -> Self {
        MemberToy {
            toy: Toy::start(id, config, durable, now, out),
            members: config.initial_members(),
        }
    }

    fn step(&mut self, now: LocalTime, input: Input<Msg>, out: &mut Outputs<Msg, Append>) {
        match input {
            Input::ChangeMembership(change) => {
                match change {
                    protocol::MembershipChange::Add(n) => self.members.push(n),
                    protocol::MembershipChange::Remove(n) => self.members.retain(|&m| m != n),
                }
                self.members.sort_unstable();
                out.report(Report::Members {
                    members: self.members.clone(),
                });
            }
            input => self.toy.step(now, input, out),
        }
    }

    fn persist(durable: &mut Durable, write: &Append) {
        Toy::persist(durable, write);
    }

    fn role(&self) -> (Role, u64) {
        self.toy.role()
    }
}

#[test]
fn a_protocol_without_membership_change_refuses_every_way_of_asking_for_one() {
    let options = RunOptions {
        seed: 1,
        keep_events: false,
        bugs: vec![],
        swarm: false,
        describe: false,
        ..RunOptions::default()
    };
    for (extra, field) in [
        ("[options]\nmembers = [1, 2]", "options.members"),
        (
            "[[faults]]\nat = \"1s\"\nkind = \"add_server\"\nnode = 3",
            "faults",
        ),
        ("[nemesis]\nreconfigure = 1.0", "nemesis.reconfigure"),
    ] {
        let sc = scenario(extra);
        let Err(e) = Simulation::<Toy>::new(&sc, &options) else {
            panic!("toy accepted {extra}");
        };
        assert_eq!(e.field, field, "{e}");
        assert!(
            e.message
                .contains("toy does not support membership changes"),
            "{e}"
        );
        assert!(
            Simulation::<MemberToy>::new(&sc, &options).is_ok(),
            "{extra}"
        );
    }
}

#[test]
fn a_membership_change_goes_to_whoever_leads_and_the_ghost_follows_its_report() {
    let sc = scenario(
        "[options]\nmembers = [1, 2]\n\n[[faults]]\nat = \"1s\"\nkind = \"add_server\"\nnode = 3\n\n[[faults]]\nat = \"1.5s\"\nkind = \"remove_server\"\nnode = 1",
    );
    let out = run_as::<MemberToy>(&sc, 1);
    let applied: Vec<(&str, Option<u32>)> = out
        .faults
        .iter()
        .map(|f| (f.fault.name(), f.node))
        .collect();
    assert_eq!(
        applied,
        vec![("add_server", Some(1)), ("remove_server", Some(1))]
    );
    // Bit i - 1 stands for node i: {1, 2, 3}, then {2, 3}.
    let members: Vec<(u32, u64, u64)> = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::Members)
        .map(|e| (e.node, e.a, e.b))
        .collect();
    assert_eq!(members, vec![(1, 3, 0b111), (1, 2, 0b110)]);
}

#[test]
fn a_membership_change_with_no_leader_is_skipped_and_recorded() {
    // The toy's node 1 leads for ever; crash it and no one leads.
    let sc = scenario(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\nnode = 1\n\n[[faults]]\nat = \"1.1s\"\nkind = \"add_server\"\nnode = 3",
    );
    let out = run_as::<MemberToy>(&sc, 1);
    assert!(out
        .log
        .events
        .iter()
        .any(|e| e.kind == Kind::FaultSkipped && e.label == "add_server"));
    assert!(!out.log.events.iter().any(|e| e.kind == Kind::Members));
}

#[test]
fn the_reconfigure_nemesis_adds_non_members_and_never_drops_below_three_members() {
    // Members {1, 2} of three nodes: the only change it may draw is adding n3; after that
    // three members remain and no one is left to add, so it skips.
    let sc = scenario("[options]\nmembers = [1, 2]\n\n[nemesis]\nreconfigure = 20.0");
    let out = run_as::<MemberToy>(&sc, 3);
    use simulator::scenario::Fault;
    let changes: Vec<(Fault, Option<u32>)> = out
        .faults
        .iter()
        .filter(|f| f.from_nemesis && f.fault.name() != "heal_all")
        .map(|f| (f.fault.clone(), f.node))
        .collect();
    assert_eq!(changes, vec![(Fault::AddServer { node: 3 }, Some(1))]);
    let skipped = out
        .log
        .events
        .iter()
        .filter(|e| e.kind == Kind::FaultSkipped && e.label == "reconfigure")
        .count();
    assert!(skipped > 10, "{skipped} reconfigure draws skipped");
}

/// The toy with options of its own, one of each kind, set in `[options.tuned_toy]`.
struct TunedToy(Toy);

const SNAPSHOT_EVERY: protocol::OptionSpec = protocol::OptionSpec {
    name: "snapshot_every",
    kind: protocol::OptionKind::Count,
    default: protocol::OptionValue::Count(100),
    summary: "entries between snapshots",
};
const LEASE: protocol::OptionSpec = protocol::OptionSpec {
    name: "lease",
    kind: protocol::OptionKind::Bool,
    default: protocol::OptionValue::Bool(false),
    summary: "serve reads under a lease",
};
const BOOST_INTERVAL: protocol::OptionSpec = protocol::OptionSpec {
    name: "boost_interval",
    kind: protocol::OptionKind::Duration,
    default: protocol::OptionValue::Duration(std::time::Duration::from_millis(500)),
    summary: "how often to boost",
};

impl Protocol for TunedToy {
    type Message = Msg;
    type Durable = Durable;
    type Write = Append;
    const NAME: &'static str = "tuned_toy";
    const REVISION: u32 = 1;
    const BUGS: &'static [Bug] = &[];
    const READ_MODES: &'static [ReadMode] = &[ReadMode::Log];
    const OPTIONS: &'static [protocol::OptionSpec] = &[SNAPSHOT_EVERY, LEASE, BOOST_INTERVAL];

    fn start(
        id: NodeId,
        config: &Config,
        durable: &Durable,
        now: LocalTime,
        out: &mut Outputs<Msg, Append>,
    ) -> Self {
        TunedToy(Toy::start(id, config, durable, now, out))
    }

    fn step(&mut self, now: LocalTime, input: Input<Msg>, out: &mut Outputs<Msg, Append>) {
        self.0.step(now, input, out)
    }

    fn persist(durable: &mut Durable, write: &Append) {
        Toy::persist(durable, write);
    }

    fn role(&self) -> (Role, u64) {
        self.0.role()
    }
}

#[test]
fn a_protocols_own_options_reach_its_config_by_their_declared_kinds() {
    use protocol::OptionValue;
    use std::time::Duration;
    let sc = scenario(
        "[options.tuned_toy]\nsnapshot_every = 7\nlease = true\nboost_interval = \"1.5s\"\n\
         [options.paxos]\nsnapshot_every = \"not for this protocol\"\n",
    );
    let config = simulator::sim::config_for::<TunedToy>(&sc, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.options.get("snapshot_every"),
        Some(&OptionValue::Count(7))
    );
    assert_eq!(config.options.get("lease"), Some(&OptionValue::Bool(true)));
    assert_eq!(
        config.option_duration(&BOOST_INTERVAL),
        Duration::from_millis(1500)
    );
    // The other protocol's table is ignored, and a protocol without options gets none.
    let toy = simulator::sim::config_for::<Toy>(&sc, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(toy.options.is_empty());
    // Left out: the spec's default.
    let sc = scenario("[options.tuned_toy]\nlease = true\n");
    let config = simulator::sim::config_for::<TunedToy>(&sc, &[]).unwrap();
    assert_eq!(config.option_count(&SNAPSHOT_EVERY), 100);
    run_as::<TunedToy>(&sc, 1);
}

#[test]
fn an_unknown_option_or_one_of_the_wrong_kind_names_its_field_line_and_what_was_expected() {
    let options = RunOptions {
        seed: 1,
        keep_events: false,
        bugs: vec![],
        swarm: false,
        describe: false,
        ..RunOptions::default()
    };
    for (value, field, says) in [
        ("lease = 1", "lease", "expected true or false, got 1"),
        ("lease = \"yes\"", "lease", "expected true or false, got \"yes\""),
        ("snapshot_every = -1", "snapshot_every", "expected a whole number >= 0, got -1"),
        ("snapshot_every = 1.5", "snapshot_every", "expected a whole number >= 0, got 1.5"),
        ("snapshot_every = \"100\"", "snapshot_every", "expected a whole number >= 0"),
        ("boost_interval = 5", "boost_interval", "expected a duration such as \"250ms\", got 5"),
        ("boost_interval = \"5\"", "boost_interval", "expected a duration with a unit"),
        ("boost_interval = \"-1s\"", "boost_interval", "non-negative"),
        ("boost_interval = [\"1s\"]", "boost_interval", "got an array"),
        ("boost_interval = { a = 1 }", "boost_interval", "got a table"),
        ("snapshot = 5", "snapshot", "tuned_toy has no option \"snapshot\"; expected one of: snapshot_every, lease, boost_interval"),
    ] {
        let sc = scenario(&format!("[options.tuned_toy]\n{value}\n"));
        let Err(e) = Simulation::<TunedToy>::new(&sc, &options) else {
            panic!("{value} accepted");
        };
        assert_eq!(e.field, format!("options.tuned_toy.{field}"), "{value}: {e}");
        assert!(e.message.contains(says), "{value}: {e}");
        // The field is placed on the option's own line.
        let line = sc.line_of(&e.field).expect("a line");
        assert!(
            sc.source.lines().nth(line - 1).unwrap().starts_with(field),
            "{value}: line {line}"
        );
    }
    // A protocol without options has none to set.
    let sc = scenario("[options.toy]\nsnapshot_every = 1\n");
    let Err(e) = Simulation::<Toy>::new(&sc, &options) else {
        panic!("toy took an option");
    };
    assert_eq!(e.field, "options.toy.snapshot_every");
    assert!(e.message.contains("expected one of: (none)"), "{e}");
}

#[test]
fn a_run_whose_messages_multiply_stops_with_a_message_before_it_exhausts_the_machine() {
    let sc = scenario("");
    let options = RunOptions {
        seed: 1,
        keep_events: false,
        ..RunOptions::default()
    };
    let options = RunOptions {
        bugs: vec![ANSWERS_TWICE.to_string()],
        ..options
    };
    let err = match Simulation::<Toy>::new(&sc, &options).expect("config").run() {
        Ok(_) => panic!("a run whose messages double every round trip finished"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("events waiting at once") && err.contains("multiply"),
        "{err}"
    );
}

#[test]
fn a_protocol_assertion_stops_the_run_there_with_what_it_recorded_and_a_failed_verdict() {
    let sc = scenario("");
    let asserting = RunOptions {
        seed: 7,
        keep_events: true,
        bugs: vec![ASSERTS.into()],
        ..RunOptions::default()
    };
    let run_asserting = || {
        Simulation::<Toy>::new(&sc, &asserting)
            .expect("config")
            .run()
            .expect("run")
    };
    let out = run_asserting();
    let stop = out.stopped.clone().expect("n2 asserted");
    assert_eq!(stop.node, 2);
    assert_eq!(stop.message, "n2 got append 3, which it never should");
    assert_eq!(out.end_ns, stop.at_ns);
    assert!(stop.at_ns < 2_000_000_000, "well before the end");
    let last = out.log.events.last().expect("events");
    assert_eq!(
        (last.kind, last.node, last.label, last.at_ns),
        (Kind::Stop, 2, "assertion", stop.at_ns)
    );
    assert!(
        out.history.len() >= 3,
        "the appends' writes are in the history"
    );
    // The same seed stops at the same event.
    let again = run_asserting();
    assert_eq!(again.log.hash(), out.log.hash());
    assert_eq!(again.stopped, out.stopped);

    let j = simulator::judge::judge(&sc, &out);
    assert!(!j.passed() && !j.inconclusive());
    let v = j.verdict("assertions").expect("a verdict for the stop");
    assert_eq!(v.result, checker::safety::Outcome::Fail);
    assert!(v.detail.contains("n2 got append 3"), "{}", v.detail);
    assert_eq!(j.verdicts[0].0, "assertions", "listed first");
    assert_eq!(
        j.verdict("liveness").map(|v| v.result),
        Some(checker::safety::Outcome::Unknown),
        "the run did not live to its end"
    );
    assert_eq!(
        j.verdict("linearizability").map(|v| v.result),
        Some(checker::safety::Outcome::Pass),
        "what it recorded is judged"
    );
    let text = simulator::report::summary_text(&sc, &out, &j, None);
    assert!(
        text.contains("stopped by n2's own assertion")
            && text.contains("FAILED  assertions passes (n2 at"),
        "{text}"
    );
    // A run that never asserts has no such verdict.
    let fine = simulator::judge::judge(&sc, &run(&sc, 7));
    assert!(fine.verdict("assertions").is_none(), "{fine:?}");
}
