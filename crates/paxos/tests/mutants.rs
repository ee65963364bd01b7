//! Every mutant switch in `Paxos::BUGS` against a short schedule that triggers it: the
//! correct code keeps the rule the schedule tests, and the switch on breaks it. Each
//! scenario returns `Ok` when the rule held and `Err(what broke)` when it did not; each
//! test is named after the rule and cites where it comes from (PAXOS.md's mutant table).
//! A new switch fails `every_mutant_switch_has_a_schedule_that_it_breaks` until it has one.

mod common;

use common::*;
use paxos::{Message, Paxos};
use protocol::{Config, OpId, ReadMode, Reply};
use std::time::Duration;

/// A schedule, run with `bug` switched on (or none): Ok when its rule held.
type Scenario = fn(Option<&str>) -> Result<(), String>;

const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "paxos.ignore_accepted_in_promises",
        a_new_leader_re_proposes_a_value_a_majority_accepted,
    ),
    ("paxos.promise_not_durable", a_promise_survives_a_crash),
    (
        "paxos.count_stale_promises",
        a_promise_for_an_older_ballot_does_not_count,
    ),
    (
        "paxos.prune_forgets_promise",
        compaction_does_not_lower_the_promise,
    ),
    (
        "paxos.proposer_ballot_reuse_after_restart",
        a_restarted_proposer_never_reuses_a_ballot,
    ),
    (
        "paxos.accept_without_raising_promise",
        an_acceptance_is_a_promise,
    ),
    (
        "paxos.no_ballot_boost",
        a_returning_proposer_does_not_depose_a_followed_leader,
    ),
    (
        "paxos.ghost_reappearance",
        a_lease_read_waits_for_the_recovered_slots,
    ),
    (
        "paxos.gc_without_low_water_mark",
        a_leader_behind_compaction_takes_the_snapshot_instead_of_filling_no_ops,
    ),
    (
        "paxos.no_epoch_fence",
        a_deposed_leaders_command_never_returns_ok,
    ),
    (
        "paxos.master_lease_no_drift_margin",
        the_masters_lease_ends_before_the_acceptors_promise_on_a_fast_clock,
    ),
    (
        "paxos.serial_read_without_repair",
        a_quorum_read_finishes_the_recovered_slots_first,
    ),
    (
        "paxos.commit_while_peer_leases_stale",
        a_write_completes_only_once_every_lease_holder_accepted_it,
    ),
    (
        "paxos.truncate_on_corruption",
        a_damaged_copy_of_a_chosen_value_does_not_vote_for_nothing,
    ),
];

/// `config` with `bug` switched on, if any.
fn with_bug(mut config: Config, bug: Option<&str>) -> Config {
    if let Some(bug) = bug {
        config.bugs.insert(bug.to_string());
    }
    config
}

/// A cluster whose invariant monitor records violations instead of panicking.
fn lenient(config: Config) -> Cluster {
    let mut c = cluster(config);
    c.monitor.strict = false;
    c
}

/// Err with the monitor's violations, if any.
fn no_violations(c: &Cluster) -> Result<(), String> {
    match c.monitor.violations.as_slice() {
        [] => Ok(()),
        v => Err(v.join("; ")),
    }
}

/// Runs `bug`'s schedule without and with the switch: the first keeps the rule, the
/// second breaks it.
fn check(bug: &str) {
    let (_, scenario) = SCENARIOS
        .iter()
        .find(|(name, _)| *name == bug)
        .unwrap_or_else(|| panic!("no schedule for {bug}"));
    if let Err(e) = scenario(None) {
        panic!("the correct code breaks the rule of {bug}'s schedule: {e}");
    }
    match scenario(Some(bug)) {
        Ok(()) => panic!("{bug} switched on still keeps the rule"),
        Err(e) => eprintln!("{bug}: {e}"),
    }
}

#[test]
fn every_mutant_switch_has_a_schedule_that_it_breaks() {
    let listed: Vec<&str> = Paxos::BUGS.iter().map(|b| b.name).collect();
    let covered: Vec<&str> = SCENARIOS.iter().map(|(name, _)| *name).collect();
    for name in &listed {
        assert!(covered.contains(name), "{name} has no schedule here");
    }
    for name in &covered {
        assert!(listed.contains(name), "{name} is no longer in Paxos::BUGS");
    }
}

// ---- One value per slot ----

#[test]
fn a_new_leader_re_proposes_every_value_a_majority_may_have_chosen() {
    // Paxos Made Simple §2.2 (P2c) / PMMC `pmax`; mutant paxos.ignore_accepted_in_promises.
    check("paxos.ignore_accepted_in_promises");
}

fn a_new_leader_re_proposes_a_value_a_majority_accepted(bug: Option<&str>) -> Result<(), String> {
    // x=1 is chosen by n1 and n2 and acknowledged; n1 crashes before announcing it; n3
    // leads with n2's promise and takes a new command.
    let mut c = lenient(with_bug(config(3), bug));
    c.elect(n(1));
    let first = c.client(n(1), write("x", 1));
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    assert!(c.deliver_kind(n(2), n(1), "Accepted"));
    assert_eq!(c.reply(first), Some(&WRITTEN));
    c.crash_losing_sent(n(1));
    c.outlast_fence();
    c.elect(n(3));
    c.client(n(3), write("x", 5));
    c.deliver_all();
    no_violations(&c)?;
    match c.node(n(3)).chosen().get(&1).and_then(|v| v.op()) {
        Some(op) if op == first => Ok(()),
        other => Err(format!(
            "slot 1 holds {other:?}, not the acknowledged {first}"
        )),
    }
}

#[test]
fn an_acceptor_keeps_its_promise_across_a_crash() {
    // Paxos Made Simple §2.2 (an acceptor remembers its promise even if it fails and
    // restarts); mutant paxos.promise_not_durable.
    check("paxos.promise_not_durable");
}

fn a_promise_survives_a_crash(bug: Option<&str>) -> Result<(), String> {
    // n1 and n3 cannot reach each other. n1's Prepare (1, n1) to n2 is delayed. n3 wins
    // phase 1 with (1, n3) and n2's promise, and proposes x=1, its Accept to n2 delayed.
    // n2 restarts. Then n1's Prepare reaches n2.
    let mut c = lenient(with_bug(config(3), bug));
    c.cut(n(1), n(3));
    c.fire_election(n(1));
    let late_prepare = c.hold(n(1), n(2), "Prepare");
    c.drop_where(|_| true);
    c.fire_election(n(3));
    assert!(c.deliver_kind(n(3), n(2), "Prepare"));
    assert!(c.deliver_kind(n(2), n(3), "Promise"));
    assert!(c.leads(n(3)).is_some());
    c.client(n(3), write("x", 1));
    let late_accept = c.hold(n(3), n(2), "Accept");
    c.drop_where(|_| true);
    c.crash(n(2));
    c.restart(n(2));
    c.inject(late_prepare);
    if let Some(Message::Promise { ballot: b, .. }) = c.in_flight_between(n(2), n(1)).first() {
        // n1 now leads (1, n1) with n2 and chooses x=2 in slot 1.
        assert_eq!(*b, ballot(1, 1));
        c.deliver_all();
        c.client(n(1), write("x", 2));
        c.deliver_all();
    }
    // n3's delayed Accept (1, n3) x=1 reaches n2, which (having promised (1, n1) at most)
    // accepts it: n3 chooses x=1 in slot 1.
    c.inject(late_accept);
    c.deliver_all();
    no_violations(&c)
}

#[test]
fn a_stale_promise_never_completes_a_later_phase_1() {
    // Tencent/phxpaxos#145: a promise answers one ballot and says nothing of what the
    // acceptor accepted since; mutant paxos.count_stale_promises.
    check("paxos.count_stale_promises");
}

fn a_promise_for_an_older_ballot_does_not_count(bug: Option<&str>) -> Result<(), String> {
    // n2's Promise for n1's first ballot is delayed; n3 leads and chooses x=1 with n2; n1
    // tries again with a higher ballot and the old Promise arrives.
    let mut c = lenient(with_bug(config(3), bug));
    c.fire_election(n(1));
    assert!(c.deliver_kind(n(1), n(2), "Prepare"));
    let stale = c.hold(n(2), n(1), "Promise");
    c.drop_where(|_| true);
    c.isolate(n(1));
    c.fire_election(n(3));
    c.deliver_all();
    let chosen = c.client(n(3), write("x", 1));
    c.deliver_all();
    assert_eq!(c.reply(chosen), Some(&WRITTEN));
    c.fire_election(n(1));
    assert!(c.node(n(1)).promised() > ballot(1, 3));
    c.inject(stale);
    if c.leads(n(1)).is_some() {
        // It leads without having heard of slot 1, and fills it with a new command.
        c.heal();
        c.client(n(1), write("x", 2));
        c.deliver_all();
        no_violations(&c)?;
        return Err(format!(
            "n1 leads {:?} on a promise for (1, n1)",
            c.leads(n(1))
        ));
    }
    no_violations(&c)
}

#[test]
fn a_ballot_is_never_used_twice_even_across_a_restart_of_its_proposer() {
    // PAXOS.md #1 (Tencent/phxpaxos#145): the round is durable before a Prepare uses it;
    // mutant paxos.proposer_ballot_reuse_after_restart.
    check("paxos.proposer_ballot_reuse_after_restart");
}

fn a_restarted_proposer_never_reuses_a_ballot(bug: Option<&str>) -> Result<(), String> {
    // n1 leads with n2's promise (a copy of it is delayed in the network) and chooses x=1
    // with n2. n1 restarts and runs phase 1 again; the old copy of n2's promise arrives,
    // and n3 promises too. Then n1 takes x=2.
    let mut c = lenient(with_bug(config(3), bug));
    c.fire_election(n(1));
    c.drop_where(|e| e.to == n(3));
    assert!(c.deliver_kind(n(1), n(2), "Prepare"));
    let promise = c.hold(n(2), n(1), "Promise");
    c.inject(promise.clone());
    assert!(c.leads(n(1)).is_some());
    let first = c.client(n(1), write("x", 1));
    c.drop_where(|e| e.to == n(3));
    c.deliver_kinds(&["Accept", "Accepted"]);
    assert_eq!(c.reply(first), Some(&WRITTEN));
    c.crash_losing_sent(n(1));
    c.restart(n(1));
    c.fire_election(n(1));
    c.drop_where(|e| e.to == n(2));
    c.inject(promise);
    c.deliver_kinds(&["Prepare", "Promise"]);
    if c.leads(n(1)).is_none() {
        return Err("n1 did not lead again".into());
    }
    c.client(n(1), write("x", 2));
    c.deliver_all();
    no_violations(&c)
}

#[test]
fn accepting_in_a_ballot_promises_it() {
    // PMMC invariant A2 (PAXOS.md #2): an acceptor that accepts in ballot b refuses every
    // lower ballot from then on, even though it never saw b's Prepare; mutant
    // paxos.accept_without_raising_promise.
    check("paxos.accept_without_raising_promise");
}

fn an_acceptance_is_a_promise(bug: Option<&str>) -> Result<(), String> {
    // Five acceptors. n1 leads (1, n1) with n2 and n3 and proposes x=1 in slot 1; its
    // Accept to n2 is delayed (the rest lost). n5 leads (1, n5) with n3 and n4 (n2 never
    // sees its Prepare) and, cut off from n3, chooses x=2 with n2 and n4. n1's delayed
    // Accept reaches n2. Then n1 restarts and n3 runs phase 1 with n1 and n2: n2 must
    // report x=2, in the higher ballot.
    let mut c = lenient(with_bug(config(5), bug));
    c.cut(n(1), n(4));
    c.cut(n(1), n(5));
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    let late = c.hold(n(1), n(2), "Accept");
    c.drop_where(|_| true);
    c.outlast_fence();
    c.fire_election(n(5));
    c.drop_where(|e| e.to == n(2));
    c.deliver_kinds(&["Prepare", "Promise"]);
    if c.leads(n(5)).is_none() {
        return Err("n5 did not lead".into());
    }
    c.cut(n(3), n(5)); // n3 never learns what (1, n5) chose
    let chosen = c.client(n(5), write("x", 2));
    c.deliver_all();
    assert_eq!(c.reply(chosen), Some(&WRITTEN));
    c.inject(late);
    c.deliver_all();
    c.isolate(n(4));
    c.isolate(n(5));
    // n1 restarts (in the mutant it still leads (1, n1), whose acceptor refuses others).
    c.crash(n(1));
    c.restart(n(1));
    c.outlast_fence();
    c.elect(n(3));
    no_violations(&c)?;
    match c.node(n(3)).chosen().get(&1).and_then(|v| v.op()) {
        Some(op) if op == chosen => Ok(()),
        other => Err(format!("slot 1 holds {other:?}, not the chosen {chosen}")),
    }
}

#[test]
fn compaction_never_lowers_the_promise() {
    // PAXOS.md #2 and scylladb#6154; mutant paxos.prune_forgets_promise.
    check("paxos.prune_forgets_promise");
}

fn compaction_does_not_lower_the_promise(bug: Option<&str>) -> Result<(), String> {
    // Snapshots every 3 slots. n1 leads (1, n1); slots 1-2 chosen everywhere; n1 proposes
    // x=9 in slot 3, its Accept to n3 delayed, and is cut off. n2 leads (2, n2) with n3,
    // chooses x=7 in slot 3, and n3 executes and compacts through slot 3 (on n2's Chosen).
    // Then n1's Accept (1, n1) reaches n3, before n2's next heartbeat would raise the
    // promise again.
    let mut c = lenient(with_bug(snapshot_every(config(3), 3), bug));
    c.elect(n(1));
    for v in 1..=2 {
        c.client(n(1), write("x", v));
    }
    c.deliver_all();
    c.announce(n(1));
    c.client(n(1), write("x", 9));
    let late = c.hold(n(1), n(3), "Accept");
    c.drop_where(|_| true);
    c.isolate(n(1));
    c.outlast_fence();
    c.elect(n(2));
    c.client(n(2), write("x", 7));
    c.deliver_all();
    assert_eq!(c.node(n(3)).low_water(), 3, "n3 compacted through slot 3");
    c.heal_link(n(1), n(3));
    c.inject(late);
    c.deliver_all();
    no_violations(&c)
}

#[test]
fn a_new_leader_behind_the_compacted_prefix_takes_the_snapshot_rather_than_no_ops() {
    // PMMC §4.2 (a promise reports the acceptor's low-water mark); mutant
    // paxos.gc_without_low_water_mark.
    check("paxos.gc_without_low_water_mark");
}

fn a_leader_behind_compaction_takes_the_snapshot_instead_of_filling_no_ops(
    bug: Option<&str>,
) -> Result<(), String> {
    // Snapshots every 2 slots. n3 is cut off while n1 and n2 choose, execute and compact
    // slots 1-2; n1 crashes; n3 leads with n2's promise and takes a new command.
    let mut c = lenient(with_bug(snapshot_every(config(3), 2), bug));
    leader_behind_compaction(&mut c);
    c.client(n(3), write("y", 1));
    c.deliver_all();
    no_violations(&c)?;
    match c.node(n(3)).kv().read("x") {
        Some(2) => Ok(()),
        other => Err(format!("n3 reads x = {other:?} after x=2 was chosen")),
    }
}

// ---- Liveness: a stable leader ----

#[test]
fn a_leader_a_majority_follows_raises_its_ballot_over_a_proposer_returning_from_a_partition() {
    // PML §5.2 (ballot boosting; PAXOS.md #6): one acceptor's higher promise, raised by a
    // partitioned proposer's lone elections, must not depose a leader the majority
    // follows; mutant paxos.no_ballot_boost.
    check("paxos.no_ballot_boost");
}

/// Moves the clock by `d` in heartbeat intervals; at each, every node that has its
/// heartbeat timer set (a working leader, a candidate's retry) fires it, and the network
/// runs until quiet.
fn run_for(c: &mut Cluster, d: Duration) {
    let step = c.config.heartbeat_interval;
    let mut passed = Duration::ZERO;
    while passed < d {
        c.advance(step);
        passed += step;
        for id in 1..=3 {
            c.fire_if_set(n(id), paxos::TIMER_HEARTBEAT);
        }
        c.deliver_all();
    }
}

fn a_returning_proposer_does_not_depose_a_followed_leader(bug: Option<&str>) -> Result<(), String> {
    // n1 leads and n2 follows it; n3, cut off, runs three lone elections (its round
    // reaches 4, its own acceptor promises it). The cut heals and n1's heartbeat meets
    // n3's promise. Time then passes with n1 working as leaders do, and n3's election
    // timer fires.
    let mut c = lenient(with_bug(config(3), bug));
    let (timeout_min, timeout_max) = c.config.election_timeout;
    c.elect(n(1));
    c.isolate(n(3));
    run_for(&mut c, timeout_min);
    for _ in 0..3 {
        c.fire_election(n(3));
    }
    assert_eq!(c.node(n(3)).promised(), ballot(4, 3));
    c.heal();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    run_for(&mut c, timeout_max);
    c.fire_if_set(n(3), paxos::TIMER_ELECTION);
    c.deliver_all();
    match c.leaders_of_term(c.role(n(3)).1).as_slice() {
        [who] if *who == n(3) => Err(format!(
            "n3, back from a partition, deposed n1 (leaders: {:?})",
            c.leader_reports()
        )),
        _ if c.leads(n(1)).is_none() => Err("n1 lost its leadership".into()),
        _ if !c.marked("paxos.ballot_boosted") => Err("n1 was never Nacked".into()),
        _ => Ok(()),
    }
}

// ---- Client semantics ----

#[test]
fn a_command_that_spans_a_loss_of_leadership_never_returns_ok() {
    // PML §5.3 (epoch numbers); mutant paxos.no_epoch_fence.
    check("paxos.no_epoch_fence");
}

fn a_deposed_leaders_command_never_returns_ok(bug: Option<&str>) -> Result<(), String> {
    // n1 takes x=1 into slot 1 (accepted by itself only) and is cut off; n2 chooses x=2
    // in slot 1; the cut heals and n1 learns slot 1.
    let mut c = lenient(with_bug(config(3), bug));
    c.elect(n(1));
    let lost = c.client(n(1), write("x", 1));
    c.drop_where(|_| true);
    c.isolate(n(1));
    c.outlast_fence();
    c.elect(n(2));
    c.client(n(2), write("x", 2));
    c.deliver_all();
    c.heal();
    c.announce(n(2));
    no_violations(&c)?;
    let applied = c.applied(n(1)).iter().any(|&(_, op)| op == Some(lost));
    match c
        .replies_to(lost)
        .iter()
        .find(|r| matches!(r, Reply::Ok(_)))
    {
        Some(ok) if !applied => Err(format!("{lost} answered {ok:?}, never applied")),
        _ => Ok(()),
    }
}

// ---- Reads ----

/// The value the read `r` returned, if it was answered ok.
fn read_value(c: &Cluster, r: OpId) -> Option<Option<u64>> {
    c.replies_to(r).iter().find_map(|reply| match reply {
        Reply::Ok(protocol::OpResult::Read(v)) => Some(*v),
        _ => None,
    })
}

#[test]
fn a_lease_read_never_misses_a_write_an_earlier_leader_acknowledged() {
    // PAXOS.md #11 (Summerset: serve only with the commit point past every slot a peer
    // accepted); mutant paxos.ghost_reappearance.
    check("paxos.ghost_reappearance");
}

fn a_lease_read_waits_for_the_recovered_slots(bug: Option<&str>) -> Result<(), String> {
    let (mut c, acknowledged) =
        acknowledged_write_lost_with_its_leader(with_bug(config_reading(3, ReadMode::Lease), bug));
    assert!(c.deliver_kind(n(2), n(3), "Heartbeat"));
    assert!(c.deliver_kind(n(3), n(2), "HeartbeatAck"));
    let r = c.client(n(2), read("x"));
    c.deliver_all();
    match read_value(&c, r) {
        Some(Some(2)) | None => Ok(()),
        Some(v) => Err(format!("read x = {v:?} after {acknowledged} wrote 2")),
    }
}

#[test]
fn a_quorum_read_never_misses_a_write_an_earlier_leader_acknowledged() {
    // PAXOS.md #10 (CASSANDRA-12126, scylladb#6299); mutant
    // paxos.serial_read_without_repair.
    check("paxos.serial_read_without_repair");
}

fn a_quorum_read_finishes_the_recovered_slots_first(bug: Option<&str>) -> Result<(), String> {
    let (mut c, acknowledged) =
        acknowledged_write_lost_with_its_leader(with_bug(config_reading(3, ReadMode::Quorum), bug));
    let r = c.client(n(2), read("x"));
    c.deliver_kinds(&["Heartbeat", "HeartbeatAck"]);
    c.deliver_all();
    match read_value(&c, r) {
        Some(Some(2)) | None => Ok(()),
        Some(v) => Err(format!("read x = {v:?} after {acknowledged} wrote 2")),
    }
}

#[test]
fn the_leaders_lease_ends_before_any_acceptors_promise_to_refuse_others() {
    // PML §5.2 (the master's lease is shorter than the replicas', by the clock drift
    // bound); mutant paxos.master_lease_no_drift_margin.
    check("paxos.master_lease_no_drift_margin");
}

fn the_masters_lease_ends_before_the_acceptors_promise_on_a_fast_clock(
    bug: Option<&str>,
) -> Result<(), String> {
    // n1 leads from true time T; n2 and n3 promise, on their own clocks, to refuse others
    // until T + 150 ms. n1 is cut off. Their clocks run 3.4% fast (within the 5% bound):
    // at true T + 145 ms they read T + 150 ms, elect n2, and write x=2. A client then reads
    // at n1, whose own clock says T + 145 ms.
    let mut c = lenient(with_bug(config_reading(3, ReadMode::Lease), bug));
    c.outlast_fence();
    c.elect(n(1));
    c.client(n(1), write("x", 1));
    c.deliver_all();
    c.isolate(n(1));
    c.advance(Duration::from_millis(145));
    for id in [2, 3] {
        c.nodes.get_mut(&n(id)).expect("a node").clock_offset = Duration::from_millis(5);
    }
    c.elect(n(2));
    let w = c.client(n(2), write("x", 2));
    c.deliver_all();
    assert_eq!(c.reply(w), Some(&WRITTEN));
    let r = c.client(n(1), read("x"));
    match read_value(&c, r) {
        Some(Some(2)) | None => Ok(()),
        Some(v) => Err(format!(
            "n1 read x = {v:?} from its lease after n2 was elected and {w} wrote 2"
        )),
    }
}

/// Ceph monitor #7736 (PROTOCOLS.md): a write acknowledged while a follower that never
/// accepted it still holds a read lease lets that follower serve the old value after it.
fn a_write_completes_only_once_every_lease_holder_accepted_it(
    bug: Option<&str>,
) -> Result<(), String> {
    let mut c = followers_holding_leases(with_bug(config_reading(3, ReadMode::Lease), bug));
    let w = c.client(n(1), write("x", 2));
    assert!(c.deliver_kind(n(1), n(2), "Accept"));
    assert!(c.deliver_kind(n(2), n(1), "Accepted"));
    if c.reply(w).is_none() {
        return Ok(());
    }
    let r = c.client(n(3), read("x"));
    match c.reply(r) {
        Some(reply) if *reply == read_ok(Some(1)) => {
            Err("x=2 was acknowledged, then n3 read x=1 under its lease".into())
        }
        _ => Ok(()),
    }
}

#[test]
fn a_lease_holder_never_serves_a_value_a_completed_write_replaced() {
    check("paxos.commit_while_peer_leases_stale");
}

/// Protocol-Aware Recovery (FAST'18): an acceptor that truncates its log at a damaged
/// record answers phase 1 as if it had never accepted the chosen value there, and a new
/// leader fills the slot with something else.
fn a_damaged_copy_of_a_chosen_value_does_not_vote_for_nothing(
    bug: Option<&str>,
) -> Result<(), String> {
    let mut c = lenient(with_bug(config(3), bug));
    chosen_value_with_one_damaged_copy(&mut c);
    if c.leads(n(3)).is_some() {
        c.announce(n(3));
    }
    no_violations(&c)?;
    match c.node(n(3)).kv().read("x") {
        None if c.leads(n(3)).is_some() => Err("n3 leads and x=1 is gone".into()),
        _ => Ok(()),
    }
}

#[test]
fn a_chosen_value_survives_a_damaged_copy() {
    check("paxos.truncate_on_corruption");
}
