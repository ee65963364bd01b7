//! Snapshots and log compaction (thesis chapter 5), InstallSnapshot, restarts from a
//! snapshot, and the two snapshot mutants.

mod common;

use common::*;
use protocol::{Config, OptionValue, Output, Role};
use raft::{LogWrite, Message, Write, OPTION_SNAPSHOT_EVERY};

fn snapshot_every(voters: u32, every: u64) -> Config {
    let mut cfg = config(voters);
    cfg.options
        .insert(OPTION_SNAPSHOT_EVERY.name.into(), OptionValue::Count(every));
    cfg
}

fn with_bug(mut cfg: Config, bug: &str) -> Config {
    cfg.bugs.insert(bug.to_string());
    cfg
}

/// Writes `count` values to keys k0..k{count-1} through leader `leader`, delivering all.
fn write_many(c: &mut Cluster, leader: protocol::NodeId, from: u64, count: u64) {
    for i in from..from + count {
        c.client(leader, write(&format!("k{i}"), i));
        c.deliver_all();
    }
    c.fire_heartbeat(leader);
    c.deliver_all();
}

#[test]
fn every_snapshot_every_applied_entries_a_node_snapshots_and_compacts_its_log() {
    let mut c = Cluster::new(snapshot_every(3, 4));
    c.elect(n(1));
    write_many(&mut c, n(1), 0, 9);
    // Ten entries (the no-op and nine writes): snapshots at 4 and 8 on every node.
    for id in [n(1), n(2), n(3)] {
        let node = c.node(id);
        assert_eq!(node.log_offset(), 8, "{id}");
        assert_eq!(node.log().len(), 2, "{id}");
        let snapshot = node.snapshot().expect("a snapshot");
        assert_eq!((snapshot.index, snapshot.term), (8, 1));
        assert_eq!(snapshot.kv.read("k6"), Some(6));
        assert_eq!(snapshot.members, vec![n(1), n(2), n(3)]);
        let durable = c.durable(id);
        assert_eq!(durable.snapshot.as_ref().map(|s| s.index), Some(8));
        assert_eq!((durable.log_start, durable.log.len()), (8, 2));
        assert_eq!(node.kv().read("k8"), Some(8));
    }
    assert!(c.marked("raft.snapshot_taken"));
}

#[test]
fn the_snapshot_is_written_before_the_compaction_that_drops_what_it_covers() {
    let mut c = Cluster::new(snapshot_every(3, 4));
    c.elect(n(1));
    c.record_outputs = true;
    write_many(&mut c, n(1), 0, 4);
    let writes: Vec<String> = c.nodes[&n(2)]
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Write {
                write: Write::Snapshot(s),
                ..
            } => Some(format!("snapshot to {}", s.index)),
            Output::Write {
                write: Write::Log(LogWrite::Compact { upto, .. }),
                ..
            } => Some(format!("compact to {upto}")),
            _ => None,
        })
        .collect();
    assert_eq!(writes, vec!["snapshot to 4", "compact to 4"]);
}

#[test]
fn a_follower_cut_off_across_compactions_catches_up_by_install_snapshot() {
    let mut c = Cluster::new(snapshot_every(3, 4));
    c.elect(n(1));
    c.isolate(n(3));
    write_many(&mut c, n(1), 0, 12);
    assert_eq!(c.node(n(1)).log_offset(), 12);
    assert_eq!(c.node(n(3)).log_offset(), 0);
    c.heal();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert!(c.marked("raft.snapshot_sent"));
    assert!(c.marked("raft.snapshot_installed"));
    let follower = c.node(n(3));
    assert_eq!(follower.log_offset(), 12);
    assert_eq!(follower.commit_index(), 13);
    assert_eq!(follower.kv(), c.node(n(1)).kv());
    assert_eq!(c.durable(n(3)).snapshot.as_ref().map(|s| s.index), Some(12));
    // And it keeps replicating.
    write_many(&mut c, n(1), 100, 1);
    assert_eq!(c.node(n(3)).kv().read("k100"), Some(100));
}

#[test]
fn a_snapshot_at_or_below_the_followers_commit_index_is_acknowledged_not_installed() {
    let (mut c, stale) = delayed_snapshot(snapshot_every(3, 4));
    let before = c.node(n(3)).commit_index();
    let kv = c.node(n(3)).kv().clone();
    c.inject(stale);
    c.deliver_all();
    assert!(c.marked("raft.stale_snapshot_ignored"));
    assert!(!c.marked("raft.bug.stale_snapshot_installed"));
    assert_eq!(c.node(n(3)).commit_index(), before);
    assert_eq!(c.node(n(3)).kv(), &kv);
}

#[test]
fn mutant_install_snapshot_regresses_takes_the_follower_back_in_time() {
    let (mut c, stale) = delayed_snapshot(with_bug(
        snapshot_every(3, 4),
        "raft.install_snapshot_regresses",
    ));
    let before = c.node(n(3)).commit_index();
    c.inject(stale);
    assert!(c.marked("raft.bug.stale_snapshot_installed"));
    assert!(c.node(n(3)).commit_index() < before);
    // It applies the same entries a second time: the log safety checker's "applies must
    // go forward".
    c.reports.clear();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    let reapplied = c.reports.iter().any(|(id, r)| {
        *id == n(3) && matches!(r, protocol::Report::Apply { index, .. } if *index <= before)
    });
    assert!(reapplied);
}

/// n3 is cut off while n1 compacts; n1's InstallSnapshot to it is held back and a copy is
/// kept; n3 then catches up (and past the snapshot). Returns the cluster and the copy.
fn delayed_snapshot(cfg: Config) -> (Cluster, Envelope) {
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.isolate(n(3));
    write_many(&mut c, n(1), 0, 8);
    c.heal();
    c.fire_heartbeat(n(1));
    while c.deliver_where(|e| !matches!(e.msg, Message::InstallSnapshot { .. })) {}
    let copy = c.hold(n(1), n(3), "InstallSnapshot");
    c.inject(copy.clone());
    c.deliver_all();
    // Two more entries: n3 commits past the snapshot (8) without snapshotting again.
    write_many(&mut c, n(1), 100, 2);
    assert_eq!(c.node(n(3)).commit_index(), 11);
    assert_eq!(c.node(n(3)).log_offset(), 8);
    (c, copy)
}

#[test]
fn a_restarted_node_starts_from_its_snapshot_and_the_log_after_it() {
    let mut c = Cluster::new(snapshot_every(3, 4));
    c.elect(n(1));
    write_many(&mut c, n(1), 0, 5);
    let kv = c.node(n(2)).kv().clone();
    c.crash(n(2));
    c.restart(n(2));
    assert!(c.marked("raft.restart_from_snapshot"));
    let node = c.node(n(2));
    assert_eq!(node.log_offset(), 4);
    assert_eq!(node.commit_index(), 4);
    assert_eq!(node.log().len(), 2);
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.node(n(2)).kv(), &kv);
}

#[test]
fn a_crash_between_the_snapshot_and_the_compaction_restarts_from_the_snapshot() {
    let mut c = Cluster::new(snapshot_every(3, 4));
    c.elect(n(1));
    write_many(&mut c, n(1), 0, 2);
    c.auto_write = false;
    c.client(n(1), write("k2", 2));
    c.deliver(n(1), n(2));
    c.complete_writes(n(2));
    c.deliver(n(2), n(1));
    c.complete_writes(n(1));
    c.fire_heartbeat(n(1));
    c.deliver(n(1), n(2));
    // n2 applies index 4 and issues the snapshot, then the compaction: only the first
    // completes before it crashes.
    assert_eq!(c.node(n(2)).log_offset(), 4);
    assert_eq!(c.pending_writes(n(2)), 2);
    c.complete_write(n(2));
    c.crash(n(2));
    let durable = c.durable(n(2));
    assert_eq!(durable.snapshot.as_ref().map(|s| s.index), Some(4));
    assert_eq!(durable.log_start, 0);
    c.auto_write = true;
    c.restart(n(2));
    assert!(c.marked("raft.restart_finishes_compaction"));
    assert_eq!(c.node(n(2)).log_offset(), 4);
    assert_eq!(c.durable(n(2)).log_start, 4);
    assert_eq!(c.node(n(2)).kv().read("k2"), Some(2));
}

#[test]
fn mutant_snapshot_before_durable_loses_committed_entries_in_that_crash() {
    let mut c = Cluster::new(with_bug(
        snapshot_every(3, 4),
        "raft.snapshot_before_durable",
    ));
    c.elect(n(1));
    write_many(&mut c, n(1), 0, 2);
    c.auto_write = false;
    c.client(n(1), write("k2", 2));
    c.deliver(n(1), n(2));
    c.complete_writes(n(2));
    c.deliver(n(2), n(1));
    c.complete_writes(n(1));
    c.fire_heartbeat(n(1));
    c.deliver(n(1), n(2));
    assert_eq!(c.pending_writes(n(2)), 2);
    // The compaction completes, the snapshot does not.
    c.complete_write(n(2));
    c.crash(n(2));
    assert_eq!(c.durable(n(2)).snapshot, None);
    assert_eq!(c.durable(n(2)).log_start, 4);
    c.auto_write = true;
    c.restart(n(2));
    assert!(c.marked("raft.restart_with_log_gap"));
    // It believes it applied through 4, but its state machine saw none of it.
    assert_eq!(c.node(n(2)).commit_index(), 4);
    assert_eq!(c.node(n(2)).kv().read("k0"), None);
    assert_eq!(c.role(n(2)).0, Role::Follower);
}
