//! Snapshots and the purge of the transaction log (ZooKeeper's SyncRequestProcessor and
//! PurgeTxnLog), SNAP for a learner behind the oldest txn the leader kept, and restarts
//! from a snapshot.

mod common;

use common::*;
use protocol::{Config, OptionValue, Output, Protocol, ReadMode, Reply, Role};
use std::time::Duration;
use zab::{make_zxid, Write, OPTION_SNAPSHOT_EVERY};

fn snapshot_every(every: u64) -> Config {
    let mut cfg = config(3, 0, ReadMode::Local);
    cfg.options
        .insert(OPTION_SNAPSHOT_EVERY.name.into(), OptionValue::Count(every));
    cfg
}

fn established(c: &mut Cluster) -> protocol::NodeId {
    c.settle();
    c.established_leader().expect("a leader is established")
}

fn write_many(c: &mut Cluster, leader: protocol::NodeId, from: u64, count: u64) {
    for v in from..from + count {
        c.client(leader, write(&format!("k{v}"), v));
        c.deliver_all();
    }
}

#[test]
fn every_snapshot_every_applied_txns_a_node_snapshots_then_purges_its_log() {
    let mut c = cluster(snapshot_every(3));
    let l = established(&mut c);
    write_many(&mut c, l, 0, 7);
    let node = c.node(l);
    let snapshot = node.snapshot().expect("a snapshot");
    assert_eq!(snapshot.zxid, make_zxid(1, 6));
    assert_eq!(snapshot.kv.read("k5"), Some(5));
    assert_eq!(node.log().len(), 1);
    assert_eq!(node.last_zxid(), make_zxid(1, 7));
    let durable = &c.nodes[&l].durable;
    assert_eq!(
        durable.snapshot.as_ref().map(|s| s.zxid),
        Some(make_zxid(1, 6))
    );
    assert_eq!(durable.log.len(), 1);
    assert!(c.marked("zab.snapshot_taken"));
    // The snapshot is written before the purge of what it covers.
    let writes: Vec<&Write> = c.nodes[&l]
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Write { write, .. } => Some(write),
            _ => None,
        })
        .filter(|w| matches!(w, Write::SaveSnapshot(_) | Write::Purge(_)))
        .collect();
    assert!(matches!(writes[0], Write::SaveSnapshot(s) if s.zxid == make_zxid(1, 3)));
    assert_eq!(writes[1], &Write::Purge(make_zxid(1, 3)));
    c.check_invariants();
}

#[test]
fn a_learner_behind_the_oldest_kept_txn_is_synced_by_snap_with_the_leaders_snapshot() {
    let mut c = cluster(snapshot_every(3));
    let l = established(&mut c);
    assert_eq!(l, n(3));
    c.crash(n(1));
    write_many(&mut c, l, 0, 7);
    c.reports.clear();
    c.restart(n(1));
    c.settle();
    assert!(c.marks(n(3)).contains(&"zab.sync_snap_behind_compaction"));
    assert!(c.marks(n(1)).contains(&"zab.snapshot_installed"));
    let learner = c.node(n(1));
    assert_eq!(learner.role(), (Role::Following, 1));
    assert_eq!(learner.applied(), make_zxid(1, 7));
    assert_eq!(learner.snapshot().map(|s| s.zxid), Some(make_zxid(1, 6)));
    let r = c.client(n(1), read("k0"));
    assert_eq!(
        c.reply(r),
        Some(&Reply::Ok(protocol::OpResult::Read(Some(0))))
    );
    // What it wrote: the snapshot, then the txns after it.
    let durable = &c.nodes[&n(1)].durable;
    assert_eq!(
        durable.snapshot.as_ref().map(|s| s.zxid),
        Some(make_zxid(1, 6))
    );
    assert_eq!(durable.log, c.node(n(3)).log().to_vec());
    c.check_invariants();
}

#[test]
fn a_restarted_node_starts_from_its_snapshot_and_applies_only_what_follows() {
    let mut c = cluster(snapshot_every(3));
    let l = established(&mut c);
    write_many(&mut c, l, 0, 4);
    c.crash(n(1));
    c.restart(n(1));
    assert!(c.marks(n(1)).contains(&"zab.restart_from_snapshot"));
    assert_eq!(c.node(n(1)).applied(), make_zxid(1, 3));
    assert_eq!(c.node(n(1)).kv().read("k2"), Some(2));
    c.settle();
    c.tick_all(Duration::from_millis(100));
    assert_eq!(c.node(n(1)).applied(), make_zxid(1, 4));
    assert_eq!(c.node(n(1)).kv().read("k3"), Some(3));
    c.check_invariants();
}

#[test]
fn a_crash_between_the_snapshot_and_the_purge_keeps_the_covered_txns_until_restart() {
    let mut c = cluster(snapshot_every(3));
    let l = established(&mut c);
    write_many(&mut c, l, 0, 2);
    c.client(l, write("k2", 2));
    // Deliver everything and complete every write but n1's until n1 applied zxid 3: its
    // log append, then the snapshot and the purge, are pending.
    for _ in 0..100 {
        if c.node(n(1)).applied() == make_zxid(1, 3) {
            break;
        }
        for (from, to) in [(n(1), n(3)), (n(3), n(1)), (n(2), n(3)), (n(3), n(2))] {
            c.deliver(from, to);
        }
        c.complete_writes(n(2));
        c.complete_writes(n(3));
    }
    assert_eq!(c.node(n(1)).applied(), make_zxid(1, 3));
    assert_eq!(c.pending_writes(n(1)), 3);
    c.complete_write(n(1));
    c.complete_write(n(1));
    c.crash(n(1));
    let durable = &c.nodes[&n(1)].durable;
    assert_eq!(
        durable.snapshot.as_ref().map(|s| s.zxid),
        Some(make_zxid(1, 3))
    );
    assert_eq!(durable.log.len(), 3);
    c.restart(n(1));
    assert!(c.marks(n(1)).contains(&"zab.restart_finishes_purge"));
    assert!(c.node(n(1)).log().is_empty());
    assert_eq!(c.node(n(1)).last_zxid(), make_zxid(1, 3));
    assert_eq!(c.node(n(1)).kv().read("k2"), Some(2));
}

/// What the leader-completeness check reads off a crashed server's durable image is what
/// the server restarted from it votes with: the same currentEpoch and last zxid, with a
/// snapshot ahead of its log, behind it (a crash before the purge), alone, and with a
/// currentEpoch write lost after its snapshot file (ZOOKEEPER-1653's repair).
#[test]
fn a_durable_images_standing_is_the_restarted_servers() {
    let snapshot = |epoch: u64, counter: u64| {
        Some(zab::Snapshot {
            zxid: make_zxid(epoch, counter),
            kv: protocol::Kv::default(),
        })
    };
    let images = [
        zab::Durable::default(),
        zab::Durable {
            accepted_epoch: 3,
            current_epoch: 2,
            log: txns(2, 1..=4),
            ..Default::default()
        },
        zab::Durable {
            accepted_epoch: 2,
            current_epoch: 2,
            log: txns(2, 3..=6),
            snapshot: snapshot(2, 4),
            ..Default::default()
        },
        zab::Durable {
            accepted_epoch: 2,
            current_epoch: 2,
            log: txns(2, 1..=3),
            snapshot: snapshot(2, 5),
            ..Default::default()
        },
        zab::Durable {
            accepted_epoch: 3,
            current_epoch: 2,
            log: txns(3, 1..=2),
            snapshot_zxid: make_zxid(3, 2),
            ..Default::default()
        },
    ];
    let cfg = config(3, 0, protocol::ReadMode::Local);
    let mut standings = Vec::new();
    for (i, durable) in images.iter().enumerate() {
        let mut out = protocol::Outputs::new();
        let server = zab::Zab::start(n(1), &cfg, durable, protocol::LocalTime(0), &mut out);
        let restarted = server.last_entry();
        assert_eq!(
            zab::Zab::durable_last_entry(durable),
            restarted,
            "image {i}"
        );
        standings.push(restarted.expect("a voter stands"));
    }
    assert_eq!(
        standings,
        [
            (0, 0),
            (2, make_zxid(2, 4)),
            (2, make_zxid(2, 6)),
            (2, make_zxid(2, 5)),
            (3, make_zxid(3, 2))
        ]
    );
}
