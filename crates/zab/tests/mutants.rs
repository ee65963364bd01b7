//! Each mutant of `Zab::BUGS` changes exactly what its row in PROTOCOLS.md describes.

mod common;

use common::*;
use protocol::{Delivery, Output, Protocol, ReadMode};
use std::time::Duration;
use zab::{make_zxid, Durable, Message, Write, Zab};

fn with_bug(bug: Option<&str>) -> Cluster {
    let mut cfg = config(3, 0, ReadMode::Local);
    if let Some(b) = bug {
        cfg.bugs.insert(b.to_string());
    }
    let mut c = cluster(cfg);
    c.settle();
    assert_eq!(c.established_leader(), Some(n(3)));
    for v in 0..4 {
        c.client(n(3), write("x", v));
        c.deliver_all();
    }
    c
}

#[test]
fn bugs_lists_exactly_the_implemented_switches_and_check_config_accepts_them() {
    let names: Vec<&str> = Zab::BUGS.iter().map(|b| b.name).collect();
    assert_eq!(
        names,
        [
            "zab.diff_instead_of_trunc",
            "zab.ack_newleader_before_durable",
            "zab.current_epoch_before_history",
            "zab.propose_only_to_acked_newleader",
            "zab.snap_in_memory_only",
            "zab.retain_db_across_election",
            "zab.ack_proposal_before_ack_newleader",
            "zab.epoch_file_gap"
        ]
    );
    for b in Zab::BUGS {
        let mut cfg = config(3, 0, ReadMode::Local);
        cfg.bugs.insert(b.name.into());
        assert!(Zab::check_config(&cfg).is_ok());
    }
    let mut cfg = config(3, 0, ReadMode::Local);
    cfg.bugs.insert("zab.no_such_bug".into());
    assert_eq!(Zab::check_config(&cfg).unwrap_err().field, "bugs");
}

/// The TRUNC scenario: n3 logged 1:5 alone, crashed; n2 leads epoch 2; n3 rejoins.
fn rejoin_with_extra_txn(bug: Option<&str>) -> Cluster {
    let mut c = with_bug(bug);
    c.client(n(3), write("x", 55));
    c.complete_write(n(3));
    c.crash_losing_sent(n(3));
    c.tick_all(Duration::from_millis(400));
    assert_eq!(c.established_leader(), Some(n(2)));
    c.client(n(2), write("x", 66));
    c.deliver_all();
    c.restart(n(3));
    c.settle();
    c
}

/// ZOOKEEPER-2832: DIFF where TRUNC was needed leaves the learner with a txn outside the
/// leader's history, which it then delivers.
#[test]
fn diff_instead_of_trunc_leaves_an_uncommitted_txn_in_the_learners_history() {
    let good = rejoin_with_extra_txn(None);
    assert!(good.marked("zab.sync_trunc"));
    assert_eq!(good.node(n(3)).log(), good.node(n(2)).log());
    good.check_invariants();

    let bad = rejoin_with_extra_txn(Some("zab.diff_instead_of_trunc"));
    assert!(bad.marked("zab.bug.diff_instead_of_trunc"));
    assert!(!bad.marked("zab.sync_trunc"));
    let extra = make_zxid(1, 5);
    assert!(bad.node(n(3)).log().iter().any(|t| t.zxid == extra));
    assert!(bad.node(n(2)).log().iter().all(|t| t.zxid != extra));
    assert!(bad.monitor.applied(n(3)).iter().any(|(z, _)| *z == extra));
}

fn newleader_outputs(bug: Option<&str>) -> Vec<Output<Message, Write>> {
    let mut c = with_bug(bug);
    c.crash(n(1));
    c.client(n(3), write("x", 9));
    c.deliver_all();
    c.restart(n(1));
    c.settle();
    c.nodes[&n(1)].outputs.clone()
}

fn index_of(outs: &[Output<Message, Write>], f: impl Fn(&Output<Message, Write>) -> bool) -> usize {
    outs.iter().rposition(f).expect("output present")
}

fn is_newleader_ack(o: &Output<Message, Write>) -> Option<Delivery> {
    match o {
        Output::Send {
            msg: Message::Ack { zxid },
            delivery,
            ..
        } if *zxid == make_zxid(1, 0) => Some(*delivery),
        _ => None,
    }
}

/// ZOOKEEPER-3911: the NEWLEADER ack no longer waits for the synced history to be durable.
#[test]
fn ack_newleader_before_durable_sends_the_ack_at_once() {
    for (bug, expected) in [
        (None, Delivery::AfterWrites),
        (
            Some("zab.ack_newleader_before_durable"),
            Delivery::Immediate,
        ),
    ] {
        let outs = newleader_outputs(bug);
        let ack = index_of(&outs, |o| is_newleader_ack(o).is_some());
        assert_eq!(is_newleader_ack(&outs[ack]), Some(expected), "{bug:?}");
        // The write order is untouched: history, then currentEpoch, before the ack.
        let epoch = index_of(&outs, |o| {
            matches!(
                o,
                Output::Write {
                    write: Write::CurrentEpoch(1),
                    ..
                }
            )
        });
        let history = index_of(&outs, |o| {
            matches!(
                o,
                Output::Write {
                    write: Write::Append(_) | Write::Snapshot(_),
                    ..
                }
            )
        });
        assert!(history < epoch && epoch < ack, "{bug:?}");
    }
}

/// ZOOKEEPER-4643: currentEpoch is written before the synced history.
#[test]
fn current_epoch_before_history_reverses_the_two_writes_only() {
    for (bug, epoch_first) in [
        (None, false),
        (Some("zab.current_epoch_before_history"), true),
    ] {
        let outs = newleader_outputs(bug);
        let ack = index_of(&outs, |o| is_newleader_ack(o).is_some());
        let epoch = index_of(&outs, |o| {
            matches!(
                o,
                Output::Write {
                    write: Write::CurrentEpoch(1),
                    ..
                }
            )
        });
        let history = index_of(&outs, |o| {
            matches!(
                o,
                Output::Write {
                    write: Write::Append(_) | Write::Snapshot(_),
                    ..
                }
            )
        });
        assert_eq!(epoch < history, epoch_first, "{bug:?}");
        assert!(epoch < ack && history < ack);
        assert_eq!(is_newleader_ack(&outs[ack]), Some(Delivery::AfterWrites));
    }
}

/// ZooKeeper protocol-spec issue: a learner synced but not yet acked NEWLEADER gets no
/// PROPOSAL for a txn proposed in between, and misses it for good.
#[test]
fn propose_only_to_acked_newleader_makes_a_syncing_learner_miss_a_txn() {
    for bug in [None, Some("zab.propose_only_to_acked_newleader")] {
        let mut c = with_bug(bug);
        c.crash(n(1));
        let seen = c.nodes[&n(3)].outputs.len();
        c.restart(n(1));
        // Deliver until the leader has sent n1 its sync and NEWLEADER; n1 has not got them.
        let newleader_sent = |c: &Cluster| {
            c.nodes[&n(3)].outputs[seen..].iter().any(|o| {
                matches!(o, Output::Send { to, msg: Message::NewLeader { .. }, .. } if *to == n(1))
            })
        };
        'outer: for _ in 0..100 {
            let keys: Vec<_> = c.links.keys().copied().collect();
            for (a, b) in keys {
                c.deliver(a, b);
                for id in [n(1), n(2), n(3)] {
                    while c.complete_write(id) {}
                }
                if newleader_sent(&c) {
                    break 'outer;
                }
            }
        }
        assert!(newleader_sent(&c));
        let op = c.client(n(3), write("x", 77));
        let z = c.node(n(3)).last_zxid();
        c.settle();
        assert!(matches!(c.reply(op), Some(protocol::Reply::Ok(_))));
        let has = c.node(n(1)).log().iter().any(|t| t.zxid == z);
        assert_eq!(has, bug.is_none(), "{bug:?}: n1 holds {z:#x}: {has}");
        assert_eq!(
            c.marked("zab.bug.propose_only_to_acked_newleader"),
            bug.is_some()
        );
    }
}

/// ZOOKEEPER-1653: a snapshot of a newer epoch than currentEpoch is on disk. Before the fix
/// the server refuses to start, every time; the fix finishes the currentEpoch write.
#[test]
fn epoch_file_gap_leaves_a_server_that_never_starts_where_the_fix_repairs_it() {
    let durable = Durable {
        accepted_epoch: 2,
        current_epoch: 1,
        log: vec![],
        snapshot_zxid: make_zxid(2, 0),
        ..Durable::default()
    };
    for bug in [None, Some("zab.epoch_file_gap")] {
        let mut cfg = config(3, 0, ReadMode::Local);
        if let Some(b) = bug {
            cfg.bugs.insert(b.to_string());
        }
        let mut out = protocol::Outputs::new();
        let z = Zab::start(n(1), &cfg, &durable, protocol::LocalTime(0), &mut out);
        let outs: Vec<Output<Message, Write>> = out.drain().collect();
        let refused = outs.iter().any(|o| {
            matches!(
                o,
                Output::Report(protocol::Report::Mark("zab.bug.epoch_file_gap"))
            )
        });
        let sends = outs.iter().any(|o| matches!(o, Output::Send { .. }));
        let repaired = outs.iter().any(|o| {
            matches!(
                o,
                Output::Write {
                    write: Write::CurrentEpoch(2),
                    ..
                }
            )
        });
        assert_eq!(refused, bug.is_some(), "{bug:?}");
        assert_eq!(
            sends,
            bug.is_none(),
            "{bug:?}: an inert server sends nothing"
        );
        assert_eq!(repaired, bug.is_none(), "{bug:?}");
        assert_eq!(z.current_epoch(), if bug.is_some() { 1 } else { 2 });
    }
}

/// ZOOKEEPER-4685: the follower's ACK of a synced, uncommitted proposal leaves before its
/// NEWLEADER ack; the leader does not count it, and without that follower no quorum forms.
#[test]
fn ack_proposal_before_ack_newleader_keeps_the_leader_from_establishing() {
    for bug in [None, Some("zab.ack_proposal_before_ack_newleader")] {
        let mut c = with_bug(bug);
        c.monitor.checking = bug.is_none();
        // n3 logs a proposal nobody acks; everyone restarts, so the next leader (n3, the
        // longest log) syncs its followers with a proposal above its commit point.
        c.client(n(3), write("x", 99));
        c.complete_write(n(3));
        for i in 1..=3 {
            c.crash_losing_sent(n(i));
        }
        for i in 1..=3 {
            c.restart(n(i));
        }
        c.settle();
        assert_eq!(c.established_leader().is_some(), bug.is_none(), "{bug:?}");
        assert_eq!(
            c.marked("zab.newleader_ack_of_other_zxid"),
            bug.is_some(),
            "{bug:?}"
        );
    }
}

/// ZOOKEEPER-2845: a leader that steps down keeps only what it applied in memory, so the
/// zxid it reports next is below a txn its log file still holds.
#[test]
fn retain_db_across_election_reports_the_applied_zxid_and_keeps_the_tail_on_disk() {
    for bug in [None, Some("zab.retain_db_across_election")] {
        let mut c = with_bug(bug);
        c.client(n(3), write("x", 55));
        c.complete_write(n(3));
        let extra = c.node(n(3)).last_zxid();
        c.reset_link(n(3), n(1));
        c.reset_link(n(3), n(2));
        assert_ne!(c.node(n(3)).role().0, protocol::Role::Leader);
        assert!(c.nodes[&n(3)].durable.log.iter().any(|t| t.zxid == extra));
        let in_memory = c.node(n(3)).log().iter().any(|t| t.zxid == extra);
        assert_eq!(in_memory, bug.is_none(), "{bug:?}");
        assert_eq!(c.marked("zab.bug.retain_db_across_election"), bug.is_some());
    }
}

/// ZOOKEEPER-3642: a SNAP taken into memory only; the learner leaves before NEWLEADER and
/// its disk never gets the snapshot it reports having.
#[test]
fn snap_in_memory_only_loses_the_snapshot_when_the_learner_leaves_before_newleader() {
    for bug in [None, Some("zab.snap_in_memory_only")] {
        let mut cfg = config(3, 0, ReadMode::Local);
        if let Some(b) = bug {
            cfg.bugs.insert(b.to_string());
        }
        let mut c = cluster(cfg);
        c.settle();
        c.crash(n(1));
        for v in 0..4 {
            c.client(n(3), write("x", v));
            c.deliver_all();
        }
        c.restart(n(1));
        // Deliver until n1 has taken the SNAP, with NEWLEADER still on the link.
        let mut took = false;
        for _ in 0..200 {
            if matches!(c.peek(n(3), n(1)), Some(Message::NewLeader { .. }))
                && c.node(n(1)).log().len() == 4
            {
                took = true;
                break;
            }
            let keys: Vec<_> = c.links.keys().copied().collect();
            for (a, b) in keys {
                if matches!(c.peek(a, b), Some(Message::NewLeader { .. })) && b == n(1) {
                    continue;
                }
                c.deliver(a, b);
            }
        }
        assert!(took, "{bug:?}: n1 took the SNAP");
        assert!(c.marked("zab.sync_snap"));
        c.reset_link(n(3), n(1));
        while c.complete_write(n(1)) {}
        assert_eq!(c.node(n(1)).log().len(), 4);
        let on_disk = c.nodes[&n(1)].durable.log.len();
        assert_eq!(on_disk, if bug.is_some() { 0 } else { 4 }, "{bug:?}");
    }
}
