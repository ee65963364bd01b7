//! A simulator bug that made correct ZAB stop on its own assertion, found by the swarm at
//! seed 143115 (`sim fuzz scenarios/swarm.toml --protocol zab --seeds 120000..160000`) and
//! frozen here with the world that seed drew
//! (`tests/worlds/zab_paused_learner_closed_session_world.toml`: three voters and two
//! observers, 25-29 ms links, snapshots every 5 txns, pauses and clock steps).
//!
//! Messages that reach a paused node wait in its socket buffers and are handed to it, in
//! order, when it resumes. Learner n2 was paused again and again; while it was paused,
//! its leader n3 answered a FOLLOWERINFO of n2's with LEADERINFO, SNAP and NEWLEADER. On
//! resuming, n2 first handled its leader timeout: it left n3 and closed their connection
//! (as ZooKeeper's learner closes its socket), and re-joined at once. The simulator then
//! handed it the messages still waiting from the closed connection, and n2 took them for
//! its new session's, so two syncs' messages interleaved on one session and n2 was told to
//! commit a txn it never received (`zab.commit_of_missing_txn`, which asserts with no
//! mutant on). What was unread on a connection that was closed or reset is now lost with
//! it, as a closed socket's buffer is.

mod common;

#[test]
fn a_learner_that_closes_its_connection_on_resuming_reads_nothing_more_from_it() {
    common::frozen_bug_passes(
        "zab",
        "zab_paused_learner_closed_session_world.toml",
        143115,
        5,
        None,
        "liveness",
    );
}
