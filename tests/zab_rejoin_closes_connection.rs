//! A liveness bug of correct ZAB that was the model's, found by the swarm at seed 95508
//! (`sim fuzz scenarios/swarm.toml --protocol zab --seeds 60000..120000`) and frozen here
//! with the world that seed drew (`tests/worlds/zab_rejoin_closes_connection_world.toml`:
//! 4 voters, zero latency, 100 ms disk writes, clock steps, loss, crashed leaders).
//!
//! n3 led epoch 4. At 38.4329s it proposed 0x4_0000_0145; n4 logged it (the append took
//! 100 ms) and held its ACK until the append was durable. In the same instant a clock step
//! fired n4's leader timeout (`zab.learner_lost_leader`): n4 went LOOKING, heard that n3
//! still led (`zab.fle_joined_established`) and re-joined it at once, with FOLLOWERINFO
//! (its last zxid the txn still being written), DIFF with no txns and NEWLEADER; its
//! NEWLEADER ack waited for the append too. When the append completed, the ACK of the old
//! session left first on the one FIFO link n3 and n4 share, and n3, faithful to
//! ZooKeeper's `LearnerHandler` (`Leader.waitForNewLeaderAck` reads the learner's next
//! packet as its NEWLEADER ack), took it for the NEWLEADER ack without counting it
//! (`zab.newleader_ack_of_other_zxid`) and ignored the real one after it. n2 did the same
//! 100 ms later. The txn kept the acks of n3 and n1 only, 2 of the quorum of 3, neither n2
//! nor n4 would ever ack it again, and every later proposal waited behind it: no operation
//! invoked after the final heal (50s) completed (`liveness`), though every learner pinged.
//!
//! ZooKeeper cannot do this: a learner that stops following closes its socket
//! (`Learner.closeSocket`), so its re-join is a new TCP connection served by a new
//! `LearnerHandler`, and nothing the old session queued can arrive as the first packet of
//! the new one. The fix models that close: a learner that leaves its leader for any reason
//! closes their connection (`Output::Disconnect`), which loses the old session's ACK; the
//! leader's handling of an early ACK is untouched (the mutant
//! `zab.ack_proposal_before_ack_newleader`, ZOOKEEPER-4685, is caught by exactly that).

mod common;

#[test]
fn a_learner_that_rejoins_its_leader_does_so_on_a_new_connection() {
    common::frozen_bug_passes(
        "zab",
        "zab_rejoin_closes_connection_world.toml",
        95508,
        4,
        None,
        "liveness",
    );
}
