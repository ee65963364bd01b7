//! Transcript-like scenarios on a hand-driven cluster (see `common`).

mod common;

use common::*;
use protocol::{Output, Protocol, ReadMode, Reply, Report, Role};
use std::collections::BTreeMap;
use std::time::Duration;
use zab::{make_zxid, Durable, Message, Txn, Write};

fn established(c: &mut Cluster) -> protocol::NodeId {
    c.settle();
    c.established_leader().expect("a leader is established")
}

fn log_of(epoch: u64, n: u64) -> Vec<Txn> {
    txns(epoch, 1..=n)
}

/// FLE: with equal (epoch, zxid) the highest sid wins; Role{Leader} is reported once, when
/// a quorum acked NEWLEADER (ZAB DSN'11 §IV, FastLeaderElection.totalOrderPredicate).
#[test]
fn three_fresh_servers_elect_the_highest_sid_and_establish_it_once() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    let l = established(&mut c);
    assert_eq!(l, n(3));
    assert_eq!(c.leader_reports(), vec![(n(3), 1)]);
    for f in [n(1), n(2)] {
        assert_eq!(c.node(f).role(), (Role::Following, 1));
        assert_eq!(c.node(f).current_epoch(), 1);
    }
    c.check_invariants();
}

/// FLE orders votes by epoch first, then zxid, then sid.
#[test]
fn five_servers_elect_the_highest_epoch_then_zxid_not_the_highest_sid() {
    let mut durables = BTreeMap::new();
    // n2 has the highest currentEpoch, n4 a longer log of an older epoch.
    durables.insert(
        n(2),
        Durable {
            accepted_epoch: 2,
            current_epoch: 2,
            log: log_of(1, 2),
            ..Durable::default()
        },
    );
    durables.insert(
        n(4),
        Durable {
            accepted_epoch: 1,
            current_epoch: 1,
            log: log_of(1, 3),
            ..Durable::default()
        },
    );
    let mut c = cluster_with_durables(config(5, 0, ReadMode::Local), durables);
    let l = established(&mut c);
    assert_eq!(l, n(2));
    assert_eq!(
        c.leader_reports(),
        vec![(n(2), 3)],
        "newEpoch = max acceptedEpoch + 1"
    );
    // Everyone now holds n2's history (n4's extra 1:3 was truncated away: never committed).
    for i in 1..=5 {
        assert_eq!(c.node(n(i)).log(), log_of(1, 2).as_slice(), "n{i}");
    }
    assert!(c.marked("zab.sync_trunc") || c.marked("zab.sync_snap"));

    let mut c5 = cluster_with_durables(config(5, 0, ReadMode::Local), {
        let mut d = BTreeMap::new();
        d.insert(
            n(1),
            Durable {
                accepted_epoch: 1,
                current_epoch: 1,
                log: log_of(1, 1),
                ..Durable::default()
            },
        );
        d
    });
    assert_eq!(
        established(&mut c5),
        n(1),
        "a higher zxid beats a higher sid"
    );
    c.check_invariants();
}

/// ZAB integrity: a txn acked by a quorum survives the leader's crash into the new epoch.
#[test]
fn a_txn_acked_by_a_quorum_survives_the_leaders_crash() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    assert_eq!(established(&mut c), n(3));
    let op = c.client(n(3), write("x", 7));
    c.complete_write(n(3));
    // The proposal reaches n1 only (n2's connection resets); n1 logs and acks; the leader
    // commits, but its COMMIT to n1 is lost with the crash.
    c.reset_link(n(3), n(2));
    assert!(c.deliver(n(3), n(1)));
    c.complete_write(n(1));
    assert!(c.deliver(n(1), n(3)));
    assert!(c.monitor.committed.contains_key(&make_zxid(1, 1)));
    c.crash_losing_sent(n(3));
    // n1 and n2 notice the silent leader.
    c.tick_all(Duration::from_millis(400));
    c.tick_all(Duration::from_millis(400));
    let l = c.established_leader().expect("new leader");
    assert_eq!(l, n(1), "n1 holds the highest zxid");
    assert_eq!(c.node(n(1)).role(), (Role::Leader, 2));
    for f in [n(1), n(2)] {
        assert!(
            c.monitor.applied(f).contains(&(make_zxid(1, 1), Some(op))),
            "{f} applied the txn"
        );
    }
    // The restarted old leader rejoins the round it missed (its round is behind).
    c.restart(n(3));
    c.settle();
    assert_eq!(c.node(n(3)).role(), (Role::Following, 2));
    assert!(c
        .monitor
        .applied(n(3))
        .contains(&(make_zxid(1, 1), Some(op))));
    c.check_invariants();
}

fn cluster_with_writes(writes: u64) -> Cluster {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    assert_eq!(established(&mut c), n(3));
    for v in 0..writes {
        c.client(n(3), write("x", v));
        c.deliver_all();
    }
    c
}

/// LearnerHandler.syncFollower: a restarted follower whose last zxid is in the leader's log
/// and misses only a little gets a DIFF, and recovers the leader's state.
#[test]
fn a_restarted_follower_that_missed_one_txn_is_synced_by_diff() {
    let mut c = cluster_with_writes(4);
    c.crash(n(1));
    let op = c.client(n(3), write("x", 99));
    c.deliver_all();
    assert!(matches!(c.reply(op), Some(Reply::Ok(_))));
    c.reports.clear();
    c.restart(n(1));
    c.settle();
    assert!(
        c.marks(n(3)).contains(&"zab.sync_diff"),
        "{:?}",
        c.marks(n(3))
    );
    assert_eq!(c.node(n(1)).role(), (Role::Following, 1));
    assert_eq!(c.node(n(1)).log(), c.node(n(3)).log());
    assert_eq!(c.node(n(1)).applied(), make_zxid(1, 5));
    // The recovered follower serves local reads from the synced state.
    let r = c.client(n(1), read("x"));
    assert_eq!(
        c.reply(r),
        Some(&Reply::Ok(protocol::OpResult::Read(Some(99))))
    );
    c.check_invariants();
}

/// A follower holding a txn outside the new leader's history is truncated (TRUNC), then
/// given the missing tail (ZOOKEEPER-1154).
#[test]
fn a_follower_with_an_extra_uncommitted_txn_is_synced_by_trunc() {
    let mut c = cluster_with_writes(4);
    // n3 (leader) logs 1:5 but no one else sees it.
    c.client(n(3), write("x", 55));
    c.complete_write(n(3));
    c.crash_losing_sent(n(3));
    c.tick_all(Duration::from_millis(400));
    c.tick_all(Duration::from_millis(400));
    let l = c.established_leader().expect("new leader");
    assert_eq!(l, n(2));
    c.client(n(2), write("x", 66));
    c.deliver_all();
    c.reports.clear();
    c.restart(n(3));
    c.settle();
    assert!(
        c.marks(n(2)).contains(&"zab.sync_trunc"),
        "{:?}",
        c.marks(n(2))
    );
    assert!(c.marks(n(3)).contains(&"zab.learner_truncated"));
    assert_eq!(c.node(n(3)).log(), c.node(n(2)).log());
    assert!(c.node(n(3)).log().iter().all(|t| t.zxid != make_zxid(1, 5)));
    assert!(c.nodes[&n(3)]
        .durable
        .log
        .iter()
        .all(|t| t.zxid != make_zxid(1, 5)));
    c.check_invariants();
}

/// A learner with an empty log (or more than a third of the leader's log behind) gets SNAP.
#[test]
fn an_empty_follower_is_synced_by_snap() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    c.crash(n(1));
    c.tick_all(Duration::from_millis(400));
    assert_eq!(c.established_leader(), Some(n(3)));
    for v in 0..3 {
        c.client(n(3), write("y", v));
        c.deliver_all();
    }
    c.reports.clear();
    c.restart(n(1));
    c.settle();
    assert!(
        c.marks(n(3)).contains(&"zab.sync_snap"),
        "{:?}",
        c.marks(n(3))
    );
    assert_eq!(c.nodes[&n(1)].durable.log, c.node(n(3)).log().to_vec());
    assert_eq!(c.node(n(1)).applied(), make_zxid(1, 3));
    c.check_invariants();
}

/// Observers learn committed txns through INFORM; they never ACK a proposal and their
/// notifications never count towards a quorum.
#[test]
fn an_observer_learns_commits_by_inform_but_never_acks_or_votes() {
    let mut c = cluster(config(3, 1, ReadMode::Local));
    assert_eq!(established(&mut c), n(3));
    // The observer re-sends its notifications on its timer and learns the leader.
    c.tick_all(Duration::from_millis(300));
    assert_eq!(c.node(n(4)).role(), (Role::Observing, 1));
    let op = c.client(n(4), write("z", 5));
    c.deliver_all();
    assert_eq!(c.reply(op), Some(&Reply::Ok(protocol::OpResult::Written)));
    assert!(c
        .monitor
        .applied(n(4))
        .contains(&(make_zxid(1, 1), Some(op))));
    let sent_by_observer: Vec<&'static str> = c.nodes[&n(4)]
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(protocol::MessageKind::kind(msg)),
            _ => None,
        })
        .collect();
    assert!(sent_by_observer.contains(&"REQUEST"));
    assert!(c.nodes[&n(4)].outputs.iter().all(|o| !matches!(
        o,
        Output::Send { msg: Message::Ack { zxid }, .. } if zxid & 0xffff_ffff != 0
    )));
    assert!(c.nodes[&n(3)].outputs.iter().any(|o| matches!(
        o,
        Output::Send { to, msg: Message::Inform { .. }, .. } if *to == n(4)
    )));
    // Two voters down: one voter and the observer elect no one.
    c.crash(n(3));
    c.crash(n(2));
    for _ in 0..4 {
        c.tick_all(Duration::from_millis(400));
    }
    assert_eq!(c.established_leader(), None);
    assert!(!matches!(
        c.node(n(1)).role().0,
        Role::Leading | Role::Leader
    ));
    c.check_invariants();
}

/// The follower persists the synced history, THEN currentEpoch, THEN acks NEWLEADER, and
/// the ack waits for both writes (ZOOKEEPER-4643, ZOOKEEPER-3911).
#[test]
fn a_follower_persists_history_then_current_epoch_then_acks_newleader() {
    let mut c = cluster_with_writes(4);
    c.crash(n(1));
    c.client(n(3), write("x", 9));
    c.deliver_all();
    c.restart(n(1));
    c.settle();
    let outs = &c.nodes[&n(1)].outputs;
    let pos = |f: &dyn Fn(&Output<Message, Write>) -> bool| outs.iter().rposition(f).unwrap();
    let log_write = pos(&|o| {
        matches!(
            o,
            Output::Write {
                write: Write::Append(_) | Write::Snapshot(_) | Write::Truncate(_),
                ..
            }
        )
    });
    let epoch_write = pos(&|o| {
        matches!(
            o,
            Output::Write {
                write: Write::CurrentEpoch(1),
                ..
            }
        )
    });
    let ack = pos(&|o| {
        matches!(o, Output::Send { msg: Message::Ack { zxid }, delivery, .. }
            if *zxid == make_zxid(1, 0) && *delivery == protocol::Delivery::AfterWrites)
    });
    assert!(
        log_write < epoch_write && epoch_write < ack,
        "{log_write} {epoch_write} {ack}"
    );
}

/// ZOOKEEPER-1675: ZooKeeper's sync is answered by the leader without a quorum round, so an
/// isolated leader answers; sync_quorum waits for a quorum to echo a PING round.
#[test]
fn sync_quorum_confirms_with_a_quorum_while_sync_does_not() {
    for mode in [ReadMode::Sync, ReadMode::SyncQuorum] {
        let mut c = cluster(config(3, 0, mode));
        assert_eq!(established(&mut c), n(3));
        c.client(n(3), write("x", 1));
        c.deliver_all();
        // The leader is cut off: nothing it sends is delivered yet.
        let r = c.client(n(3), read("x"));
        let answered = c.reply(r).cloned();
        let served = c
            .reports
            .iter()
            .any(|(id, rep)| *id == n(3) && matches!(rep, Report::ReadServed { term: 1 }));
        match mode {
            ReadMode::Sync => {
                assert_eq!(answered, Some(Reply::Ok(protocol::OpResult::Read(Some(1)))));
                assert!(served, "sync is served on the leader's own authority");
            }
            _ => {
                assert_eq!(answered, None, "no quorum echoed yet");
                assert!(matches!(c.peek(n(3), n(1)), Some(Message::Ping { .. })));
                c.deliver(n(3), n(1));
                c.deliver(n(1), n(3));
                assert_eq!(
                    c.reply(r),
                    Some(&Reply::Ok(protocol::OpResult::Read(Some(1))))
                );
                assert!(!served);
            }
        }
        // A follower's sync read goes through the leader and sees the latest write.
        let w = c.client(n(3), write("x", 2));
        c.complete_write(n(3));
        let r2 = c.client(n(1), read("x"));
        c.deliver_all();
        assert!(matches!(c.reply(w), Some(Reply::Ok(_))));
        assert_eq!(
            c.reply(r2),
            Some(&Reply::Ok(protocol::OpResult::Read(Some(2))))
        );
    }
}

/// A leader that loses its quorum of synced followers steps down (ZooKeeper's syncLimit
/// check); followers that lose the leader go back to LOOKING and re-elect.
#[test]
fn a_leader_without_a_quorum_steps_down_and_a_link_reset_sends_learners_looking() {
    let mut c = cluster_with_writes(1);
    c.reset_link(n(3), n(1));
    assert_eq!(c.node(n(1)).role().0, Role::Looking);
    assert_eq!(c.node(n(3)).role(), (Role::Leader, 1), "n2 is still synced");
    c.reset_link(n(3), n(2));
    assert_eq!(c.node(n(3)).role().0, Role::Looking);
    assert!(c.marked("zab.leader_lost_quorum"));
    c.settle();
    let l = c.established_leader().expect("re-elected");
    assert_eq!(c.node(l).role(), (Role::Leader, 2));
    c.check_invariants();
}

/// Higher round resets the tally (FastLeaderElection: logicalclock).
#[test]
fn a_notification_of_a_higher_round_resets_the_tally() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    c.crash_losing_sent(n(3));
    c.deliver_all();
    c.fire(n(1), common::zab_timer::FINALIZE);
    c.fire(n(2), common::zab_timer::FINALIZE);
    c.deliver_all();
    let l = c.established_leader().expect("n2 leads n1");
    assert_eq!(l, n(2));
    c.reset_link(n(1), n(2));
    c.settle();
    // n3 restarts at round 1 while the others are at a higher round.
    c.crash(n(2));
    c.restart(n(3));
    c.settle();
    c.tick_all(Duration::from_millis(400));
    assert!(c.marked("zab.fle_round_reset"));
    c.check_invariants();
}

#[test]
fn check_config_rejects_other_read_modes_and_nodes_both_voter_and_observer() {
    let mut cfg = config(3, 0, ReadMode::ReadIndex);
    assert_eq!(
        zab::Zab::check_config(&cfg).unwrap_err().field,
        "workload.read_mode"
    );
    cfg.read_mode = ReadMode::Local;
    cfg.observers = vec![n(3)];
    assert!(zab::Zab::check_config(&cfg).is_err());
    cfg.voters.clear();
    cfg.observers = vec![n(1)];
    assert!(zab::Zab::check_config(&cfg).is_err());
    assert!(zab::Zab::check_config(&config(3, 2, ReadMode::SyncQuorum)).is_ok());
}

/// Links are FIFO by contract; if one ever delivers out of order, the learner drops the
/// connection and re-syncs as ZooKeeper would on a broken TCP stream (never logs a hole).
#[test]
fn a_learner_that_sees_proposals_out_of_order_drops_the_connection_and_resyncs() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    assert_eq!(established(&mut c), n(3));
    c.client(n(3), write("x", 1));
    c.client(n(3), write("x", 2));
    let q = c.links.get_mut(&(n(3), n(1))).unwrap();
    assert_eq!(q.len(), 2);
    q.swap(0, 1);
    c.deliver(n(3), n(1));
    c.deliver(n(3), n(1));
    assert!(c.marks(n(1)).contains(&"zab.learner_saw_fifo_violation"));
    assert_eq!(c.node(n(1)).role().0, Role::Looking);
    c.settle();
    assert_eq!(c.node(n(1)).role(), (Role::Following, 1));
    assert_eq!(c.node(n(1)).log(), c.node(n(3)).log());
    c.check_invariants();
}

/// FastLeaderElection.sendNotifications goes to the voters only; a voter answers a
/// non-voter at once. Two LOOKING observers used to answer each other's notifications
/// for ever (with zero latency, at one instant: the run stopped at its event budget).
#[test]
fn looking_observers_notify_voters_only_and_never_answer_each_other() {
    let mut c = cluster(config(3, 2, ReadMode::Local));
    for v in [n(1), n(2), n(3)] {
        c.crash(v);
    }
    c.crash(n(4));
    c.crash(n(5));
    c.restart(n(4));
    c.restart(n(5));
    // deliver_all panics on a network that does not quiesce.
    c.deliver_all();
    for o in [n(4), n(5)] {
        let told: Vec<protocol::NodeId> = c.nodes[&o]
            .outputs
            .iter()
            .filter_map(|out| match out {
                Output::Send {
                    to,
                    msg: Message::Notification { .. },
                    ..
                } => Some(*to),
                _ => None,
            })
            .collect();
        assert!(!told.is_empty());
        assert!(
            told.iter().all(|t| [n(1), n(2), n(3)].contains(t)),
            "{o} told {told:?}"
        );
    }
    // The voters come back, elect a leader, and the observers learn it by asking.
    for v in [n(1), n(2), n(3)] {
        c.restart(v);
    }
    c.settle();
    c.tick_all(Duration::from_millis(600));
    assert!(c.established_leader().is_some());
    for o in [n(4), n(5)] {
        assert_eq!(c.node(o).role().0, Role::Observing, "{o}");
    }
    c.check_invariants();
}

/// Delivers messages, and only messages, until every link is quiet: writes stay pending.
fn deliver_messages(c: &mut Cluster) {
    loop {
        let links: Vec<_> = c.links.keys().copied().collect();
        let mut moved = false;
        for (from, to) in links {
            moved |= c.deliver(from, to);
        }
        if !moved {
            return;
        }
    }
}

/// A learner that leaves its leader closes the connection (ZooKeeper's learner closes its
/// socket: `Learner.closeSocket`), so an ACK its old session held behind a log write is
/// lost with it rather than read by the leader as the first packet of the next session,
/// the NEWLEADER ack (`Leader.waitForNewLeaderAck`), where it would not count and the real
/// NEWLEADER ack after it would be ignored: the proposal it acked could then never reach a
/// quorum (swarm seed 95508, `tests/zab_rejoin_closes_connection.rs`).
#[test]
fn a_learner_that_leaves_its_leader_closes_the_connection_before_it_rejoins() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    assert_eq!(established(&mut c), n(3));
    // n2 hears nothing more from the leader: the proposal needs n1's ack.
    c.cut(n(3), n(2));
    c.client(n(3), write("x", 1));
    c.complete_writes(n(3));
    // n1 logs the proposal; its ACK waits for the append.
    assert!(c.deliver(n(3), n(1)));
    assert_eq!(c.pending_writes(n(1)), 1);
    // A clock step: n1's leader timeout fires before the append completes.
    c.nodes.get_mut(&n(1)).unwrap().outputs.clear();
    c.advance(c.config.election_timeout.0 + Duration::from_millis(1));
    c.fire(n(1), common::zab_timer::TICK);
    assert!(c.marks(n(1)).contains(&"zab.learner_lost_leader"));
    let first = c.nodes[&n(1)]
        .outputs
        .iter()
        .find(|o| matches!(o, Output::Send { .. } | Output::Disconnect { .. }));
    assert!(
        matches!(first, Some(Output::Disconnect { peer }) if *peer == n(3)),
        "n1 closes its connection to n3 before it sends anything: {first:?}"
    );
    // The leader still leads (n2 counts as synced) and n1 re-joins it at once, while its
    // append is still in flight.
    deliver_messages(&mut c);
    assert_eq!(c.node(n(1)).role(), (Role::Following, 1));
    assert_eq!(c.node(n(3)).role(), (Role::Leader, 1));
    c.complete_writes(n(1));
    deliver_messages(&mut c);
    assert!(!c.marked("zab.newleader_ack_of_other_zxid"));
    assert!(
        c.monitor.committed.contains_key(&make_zxid(1, 1)),
        "n1's NEWLEADER ack vouches for the txn it logged: committed by n1 and n3"
    );
    c.heal();
    c.settle();
    c.check_invariants();
}

/// A learner takes a PING as word from its leader only when its round is new: a leader's
/// rounds only rise on a FIFO link, so a repeat is another learner's echo. Swarm seed 3269
/// (`tests/zab_ping_echo.rs`): two servers that each followed the other kept one PING
/// bouncing between them, neither timed out, and no one led. Cut off from its leader and
/// fed that leader's last round again and again, a learner still leaves it in time; each
/// new round, as a live leader sends, keeps it following.
#[test]
fn a_learner_fed_only_an_old_ping_round_leaves_its_leader() {
    let mut c = cluster(config(3, 0, ReadMode::Local));
    let leader = established(&mut c);
    let f = n(1);
    let tick = protocol::TimerId(2);
    let step = Duration::from_millis(50);
    // One PING round from the leader reaches the learner: that round is now heard.
    let mut round = None;
    while round.is_none() {
        c.advance(step);
        c.fire_if_set(leader, tick);
        round = c.envelopes().find_map(|e| match e.msg {
            Message::Ping { round } if e.from == leader && e.to == f => Some(round),
            _ => None,
        });
    }
    let round = round.unwrap();
    while c.deliver(leader, f) {}
    c.cut(leader, f);
    let feed = |c: &mut Cluster, round: u64| {
        c.inject(protocol::testkit::Envelope {
            from: leader,
            to: f,
            msg: Message::Ping { round },
        });
    };
    // New rounds: each one is word from the leader, for well past the election timeout.
    for r in 1..=20 {
        c.advance(step);
        feed(&mut c, round + r);
        c.fire_if_set(f, tick);
        assert_eq!(c.role(f).0, Role::Following, "a new round every {step:?}");
    }
    // The same round again: an echo, not word from the leader.
    let last = round + 20;
    for _ in 0..20 {
        c.advance(step);
        feed(&mut c, last);
        c.fire_if_set(f, tick);
    }
    assert_eq!(c.role(f).0, Role::Looking, "only echoes for a second");
    assert!(c.marked("zab.learner_ping_echo_ignored"));
}
