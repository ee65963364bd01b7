//! A message storm of correct Raft, found by the swarm at seed 141876 (the one failure of
//! seeds 90000..150000) and frozen here with the world that seed drew
//! (`tests/worlds/raft_snapshot_reply_storm_world.toml`: 6 servers, a snapshot every 3
//! entries, clients that never pause, no network latency and 22% of datagrams delivered
//! twice).
//!
//! The leader compacted its log every few milliseconds, so a follower it had lost sight
//! of (n2) needed a snapshot. The leader sent one and waited for the answer, but *any*
//! answer ended the wait: a duplicated reply, a reordered one, or n2's answer to an older
//! snapshot it ignored (it was already past it) made the leader send its newest snapshot
//! again, and each of those begot another reply, some of them twice. The messages in
//! flight grew by a fifth with every round trip: 21 million events waiting 8.4 s into the
//! run, 11 GiB, until the event queue's limits stopped it (reported then as an invariant
//! of the protocol; the simulator now stops such a run with its own message).
//!
//! The fix is etcd's `StateSnapshot`: while a snapshot is on its way the leader sends that
//! follower nothing until an answer shows the follower at the snapshot's index or beyond;
//! the next heartbeat resends it if it was lost.

mod common;

#[test]
fn a_leader_sends_a_follower_one_snapshot_per_answer_that_shows_it_installed() {
    let j = common::frozen_bug_passes(
        "raft",
        "raft_snapshot_reply_storm_world.toml",
        141876,
        6,
        Some("raft.snapshot_sent"),
        "liveness",
    );
    assert!(j.passed());
    // The run is the size of its load: before the fix the same world never finished.
    let sc = simulator::Scenario::load(
        &common::root().join("tests/worlds/raft_snapshot_reply_storm_world.toml"),
    )
    .unwrap();
    let options = sim::hunt::campaign_options(&[], 141876, false);
    let (_, out) = sim::hunt::run_world("raft", &sc, &options).unwrap();
    assert!(
        out.messages_sent < 200_000,
        "{} messages sent in 60 s",
        out.messages_sent
    );
    let sent = out.marks.get("raft.snapshot_sent").copied().unwrap_or(0);
    assert!(sent < 2_000, "{sent} snapshots sent");
}
