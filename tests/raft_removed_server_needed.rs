//! A liveness bug of correct Raft, found by the swarm at seed 3901 once faults were aimed
//! at coverage marks (`on_mark`), and frozen here with the world that seed drew
//! (`tests/worlds/raft_removed_server_needed_world.toml`: 4 servers, check-quorum, no
//! pre-vote, clocks at the ends of the drift bound, 28% duplication, reconfigure faults).
//!
//! Leader n3 removed itself (index 753, term 59, committed 48.61s), so n3 knew its
//! removal committed and kept quiet (`raft.non_member_does_not_campaign`). n4 led term
//! 60 and added n3 back at 49.49s (index 768), an entry only n4 ever held; n4 stepped
//! down (check-quorum) and n1 won term 64 with n2 (log to 761), then shipped term-64
//! entries from 762 to n3 (its removal not yet known committed on n1), which replaced
//! n3's own 762. At the final heal (50s) n1 was lost for good. Left: n2 (log to 759,
//! term 59; configuration n1 n2 n4), n3 (to 767, term 64; not a member) and n4 (to 768,
//! term 60; configuration n1..n4, so a quorum of three: every survivor). n4 could not
//! win without n3, whose log is newer; n2 could not win without n4, whose log is newer;
//! n3, the one server every other would have voted for, never stood. n4 and n2 raised
//! the term from 64 to 95 by 60s, with no leader after the heal (`liveness`).
//!
//! The fix (thesis §4.2.2: a server outside its latest configuration still starts
//! elections while it may be needed): a removed server that a candidate behind its log
//! asks for its vote campaigns until it hears a leader, since the RequestVote proves a
//! configuration it has not received counts it
//! (`raft.non_member_campaigns_for_a_lagging_candidate`); and a leader outside its
//! committed configuration steps down only once an entry of its own term has committed,
//! so that its log replaces, on a quorum, the entries that kept every other server from
//! winning. n3 leads term 66 at 50.5s, steps down, and n2 leads term 67.
//!
//! Re-frozen without the fix's mark: since a leader waits for a snapshot's own answer
//! (swarm seed 141876), the snapshots shipped in this world (a snapshot every few entries,
//! 28% duplication) go differently, the cluster never reaches that deadlock, and none of
//! this world's seeds 0..3000 fails liveness even with the fix reverted. The world stays
//! as a liveness check; the fix itself is exercised by
//! `a_removed_server_a_lagging_candidate_counts_on_campaigns_and_leads_until_its_term_commits`
//! in `crates/raft/tests/membership.rs`.

mod common;

#[test]
fn a_removed_server_a_lagging_candidate_needs_campaigns() {
    common::frozen_bug_passes(
        "raft",
        "raft_removed_server_needed_world.toml",
        3901,
        4,
        None,
        "liveness",
    );
}
