//! Discovery and synchronisation, from both ends (ZooKeeper's `Leader.lead`,
//! `LearnerHandler.run`/`syncFollower`, `Learner.registerWithLeader`/`syncWithLeader`).
//!
//! Leader: collect FOLLOWERINFO from a quorum (itself included), pick
//! `newEpoch = max(acceptedEpoch) + 1`, persist it as its own acceptedEpoch, send LEADERINFO.
//! Once a quorum ACKEPOCHed (itself once its acceptedEpoch is durable), refuse to lead if a
//! follower is ahead of it (`Follower is ahead of the leader`), write currentEpoch, and sync
//! each learner: DIFF / TRUNC / SNAP, then NEWLEADER. A quorum of NEWLEADER acks (itself
//! once currentEpoch is durable) establishes it: its whole log commits, UPTODATE goes out.
//!
//! Learner: FOLLOWERINFO; accept LEADERINFO only if its epoch exceeds acceptedEpoch (DSN'11
//! §IV Phase 1), persist it, ACKEPOCH; take the sync into memory; on NEWLEADER persist the
//! synced history, *then* currentEpoch, *then* ACK (ZOOKEEPER-4643 / -3911 are the orders
//! that break this); on UPTODATE start serving.

use crate::{
    counter_of, epoch_of, make_zxid, Message, Phase, SnapBase, Write, WriteEffect, Zab, Zxid,
    TIMER_TICK,
};
use protocol::{Command, LocalTime, NodeId, Outputs, Protocol, Role};
use std::collections::{BTreeMap, BTreeSet};

/// A learner is sent a snapshot rather than a diff when the diff would carry more than
/// this fraction of the leader's log (ZooKeeper's `snapshotSizeFactor` = 0.33 compares the
/// txn-log bytes to send with the snapshot size; our snapshot is the log itself).
pub const SNAP_FRACTION_NUMERATOR: usize = 1;
pub const SNAP_FRACTION_DENOMINATOR: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum LearnerStage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovering,
    /// ACKEPOCH sent, taking DIFF/TRUNC/SNAP until NEWLEADER.
    Syncing,
    /// NEWLEADER acked; UPTODATE may follow; proposals are logged and acked.
    Synced,
}

#[derive(Debug)]
pub(crate) struct LearnerState {
    pub leader: NodeId,
    pub epoch: Option<u64>,
    pub stage: LearnerStage,
    pub up_to_date: bool,
    pub last_heard: LocalTime,
    /// The highest PING round heard from the leader: its rounds only rise, so one that
    /// does not is an echo (see `learner_on_message`).
    pub ping_round: u64,
    pub next_sync_id: u64,
    pub pending_syncs: BTreeMap<u64, Command>,
    pub read_waiters: Vec<(Zxid, Command)>,
    /// The sync's log writes held back until NEWLEADER: only under the mutant
    /// `zab.current_epoch_before_history` (flushed if the learner leaves first).
    pub sync_writes: Vec<Write>,
    /// A SNAP held in memory until NEWLEADER (its writes: the snapshot, if it carried one,
    /// then the log): only under `zab.snap_in_memory_only` (dropped, never written, if the
    /// learner leaves first).
    pub unsaved_snapshot: Option<Vec<Write>>,
    /// The snapshot write a SNAP's base asked for, issued with the SNAP's log write.
    pub snap_base_writes: Vec<Write>,
    /// The commit point the leader's sync carried: txns above it are the sync's
    /// proposals not yet committed (ZooKeeper's `packetsNotCommitted`).
    pub sync_committed: Zxid,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum PeerStage {
    Info,
    LeaderInfoSent,
    EpochAcked,
    /// Sync and NEWLEADER sent: in the forwarding set.
    Synced,
    NewLeaderAcked,
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub observer: bool,
    pub stage: PeerStage,
    pub last_heard: LocalTime,
    pub last_zxid: Zxid,
    /// The leader's last zxid when this learner was synced: its NEWLEADER ack vouches
    /// for every txn up to here.
    pub synced_to: Zxid,
    pub echoed_round: u64,
}

#[derive(Debug)]
pub(crate) struct LeaderState {
    pub epoch: Option<u64>,
    pub epoch_durable: bool,
    /// (currentEpoch, lastZxid) when elected: `leaderStateSummary`.
    pub summary: (u64, Zxid),
    pub since: LocalTime,
    pub learners: BTreeMap<NodeId, Peer>,
    pub infos: BTreeSet<NodeId>,
    pub max_info_epoch: u64,
    pub epoch_acked: BTreeSet<NodeId>,
    pub syncing: bool,
    pub newleader_acked: BTreeSet<NodeId>,
    pub established: bool,
    pub counter: u64,
    pub acks: BTreeMap<Zxid, BTreeSet<NodeId>>,
    pub ping_round: u64,
    pub sync_waiters: Vec<crate::reads::SyncWaiter>,
}

impl Zab {
    pub(crate) fn leader_state(&mut self) -> &mut LeaderState {
        match &mut self.phase {
            Phase::Leading(s) => s,
            _ => unreachable!("n{} is not leading", self.id.0),
        }
    }

    pub(crate) fn become_learner(
        &mut self,
        now: LocalTime,
        leader: NodeId,
        out: &mut Outputs<Message, Write>,
    ) {
        self.early_infos.clear();
        self.phase = Phase::Following(LearnerState {
            leader,
            epoch: None,
            stage: LearnerStage::Discovering,
            up_to_date: false,
            last_heard: now,
            ping_round: 0,
            next_sync_id: 0,
            pending_syncs: BTreeMap::new(),
            read_waiters: Vec::new(),
            sync_writes: Vec::new(),
            unsaved_snapshot: None,
            snap_base_writes: Vec::new(),
            sync_committed: 0,
        });
        let role = if self.is_observer {
            Role::Observing
        } else {
            Role::Following
        };
        self.report_role(role, self.current_epoch, out);
        out.send(
            leader,
            Message::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
                last_zxid: self.last_zxid(),
                observer: self.is_observer,
            },
        );
        out.set_timer(
            TIMER_TICK,
            self.config.heartbeat_interval,
            self.config.heartbeat_interval,
        );
    }

    pub(crate) fn become_leader(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let mut infos = BTreeSet::new();
        infos.insert(self.id);
        self.phase = Phase::Leading(Box::new(LeaderState {
            epoch: None,
            epoch_durable: false,
            summary: (self.current_epoch, self.last_zxid()),
            since: now,
            learners: BTreeMap::new(),
            infos,
            max_info_epoch: self.accepted_epoch,
            epoch_acked: BTreeSet::new(),
            syncing: false,
            newleader_acked: BTreeSet::new(),
            established: false,
            counter: 0,
            acks: BTreeMap::new(),
            ping_round: 0,
            sync_waiters: Vec::new(),
        }));
        self.report_role(Role::Leading, self.accepted_epoch, out);
        out.set_timer(
            TIMER_TICK,
            self.config.heartbeat_interval,
            self.config.heartbeat_interval,
        );
        for (from, (acc, last, observer)) in std::mem::take(&mut self.early_infos) {
            self.leader_on_follower_info(now, from, acc, last, observer, out);
        }
        self.try_choose_epoch(out);
    }

    /// A FOLLOWERINFO is a new connection (a new `LearnerHandler`): it replaces whatever
    /// this leader knew of that learner.
    pub(crate) fn leader_on_follower_info(
        &mut self,
        now: LocalTime,
        from: NodeId,
        accepted_epoch: u64,
        last_zxid: Zxid,
        observer: bool,
        out: &mut Outputs<Message, Write>,
    ) {
        let voter = self.is_voter(from) && !observer;
        let s = self.leader_state();
        s.learners.insert(
            from,
            Peer {
                observer: !voter,
                stage: PeerStage::Info,
                last_heard: now,
                last_zxid,
                synced_to: 0,
                echoed_round: 0,
            },
        );
        s.sync_waiters.retain(|w| w.remote_peer() != Some(from));
        match s.epoch {
            None => {
                s.max_info_epoch = s.max_info_epoch.max(accepted_epoch);
                if voter {
                    s.infos.insert(from);
                }
                self.try_choose_epoch(out);
            }
            Some(epoch) if s.epoch_durable => {
                s.learners.get_mut(&from).expect("just inserted").stage = PeerStage::LeaderInfoSent;
                out.send(from, Message::LeaderInfo { epoch });
            }
            Some(_) => {}
        }
    }

    fn try_choose_epoch(&mut self, out: &mut Outputs<Message, Write>) {
        let q = self.quorum();
        let s = self.leader_state();
        if s.epoch.is_some() || s.infos.len() < q {
            return;
        }
        let epoch = s.max_info_epoch + 1;
        s.epoch = Some(epoch);
        assert!(
            epoch > self.accepted_epoch,
            "n{}: new epoch {epoch} not above acceptedEpoch {}",
            self.id.0,
            self.accepted_epoch
        );
        self.accepted_epoch = epoch;
        self.write(
            Write::AcceptedEpoch(epoch),
            WriteEffect::AcceptedEpochDurable(epoch),
            out,
        );
        self.report_role(Role::Leading, epoch, out);
    }

    pub(crate) fn leader_on_accepted_epoch_durable(
        &mut self,
        now: LocalTime,
        epoch: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let me = self.id;
        let Phase::Leading(s) = &mut self.phase else {
            return;
        };
        if s.epoch != Some(epoch) || s.epoch_durable {
            return;
        }
        s.epoch_durable = true;
        s.epoch_acked.insert(me);
        for (&p, peer) in s.learners.iter_mut() {
            if peer.stage == PeerStage::Info {
                peer.stage = PeerStage::LeaderInfoSent;
                out.send(p, Message::LeaderInfo { epoch });
            }
        }
        self.try_epoch_quorum(now, out);
    }

    fn try_epoch_quorum(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let q = self.quorum();
        let s = self.leader_state();
        if s.syncing || !s.epoch_durable || s.epoch_acked.len() < q {
            return;
        }
        s.syncing = true;
        let epoch = s.epoch.expect("epoch chosen before acks");
        let ready: Vec<NodeId> = s
            .learners
            .iter()
            .filter(|(_, p)| p.stage == PeerStage::EpochAcked)
            .map(|(&n, _)| n)
            .collect();
        assert!(
            epoch <= self.accepted_epoch,
            "n{}: currentEpoch {epoch} would exceed acceptedEpoch {}",
            self.id.0,
            self.accepted_epoch
        );
        self.current_epoch = epoch;
        self.write(
            Write::CurrentEpoch(epoch),
            WriteEffect::CurrentEpochDurable(epoch),
            out,
        );
        self.report_role(Role::Leading, epoch, out);
        for p in ready {
            self.sync_learner(now, p, out);
        }
    }

    /// `LearnerHandler.syncFollower`: choose DIFF, TRUNC or SNAP from the learner's last
    /// zxid, send it and NEWLEADER, and put the learner in the forwarding set.
    fn sync_learner(&mut self, _now: LocalTime, peer: NodeId, out: &mut Outputs<Message, Write>) {
        let leader_last = self.last_zxid();
        let committed = self.committed;
        let diff_bug = self.config.bug("zab.diff_instead_of_trunc");
        let peer_last = self.leader_state().learners[&peer].last_zxid;
        let too_many =
            |n: usize, len: usize| n * SNAP_FRACTION_DENOMINATOR > len * SNAP_FRACTION_NUMERATOR;
        let len = self.log.len();
        let msg = if peer_last == leader_last {
            out.mark("zab.sync_diff");
            Message::Diff {
                txns: Vec::new(),
                committed,
            }
        } else if peer_last > leader_last {
            if diff_bug {
                out.mark("zab.bug.diff_instead_of_trunc");
                Message::Diff {
                    txns: Vec::new(),
                    committed,
                }
            } else {
                out.mark("zab.sync_trunc");
                Message::Trunc {
                    to: leader_last,
                    txns: Vec::new(),
                    committed,
                }
            }
        } else {
            match self.position(peer_last) {
                Ok(i) if peer_last != 0 && !too_many(len - i - 1, len) => {
                    out.mark("zab.sync_diff");
                    Message::Diff {
                        txns: self.log[i + 1..].to_vec(),
                        committed,
                    }
                }
                // (i > 0: a learner behind the oldest txn kept, a compacted one, gets SNAP.)
                Err(i) if peer_last != 0 && i > 0 && !too_many(len - i, len) => {
                    // The learner's last zxid is not in our history: truncate it back to
                    // the last zxid we share below it, then send the rest.
                    if diff_bug {
                        out.mark("zab.bug.diff_instead_of_trunc");
                        Message::Diff {
                            txns: self.log[i..].to_vec(),
                            committed,
                        }
                    } else {
                        out.mark("zab.sync_trunc");
                        Message::Trunc {
                            to: self.log[i - 1].zxid,
                            txns: self.log[i..].to_vec(),
                            committed,
                        }
                    }
                }
                _ => {
                    out.mark("zab.sync_snap");
                    if self.snapshot.is_some() && peer_last <= self.snapshot_zxid() {
                        // The learner is behind the oldest txn this leader kept: only the
                        // snapshot can bring it up (ZooKeeper: below minCommittedLog).
                        out.mark("zab.sync_snap_behind_compaction");
                    }
                    Message::Snap {
                        txns: self.log.clone(),
                        committed,
                        base: SnapBase(self.snapshot.clone()),
                    }
                }
            }
        };
        let s = self.leader_state();
        let epoch = s.epoch.expect("syncing after the epoch was chosen");
        let p = s.learners.get_mut(&peer).expect("syncing a known learner");
        p.stage = PeerStage::Synced;
        p.synced_to = leader_last;
        out.send(peer, msg);
        out.send(peer, Message::NewLeader { epoch });
    }

    pub(crate) fn leader_on_current_epoch_durable(
        &mut self,
        now: LocalTime,
        epoch: u64,
        out: &mut Outputs<Message, Write>,
    ) {
        let me = self.id;
        let Phase::Leading(s) = &mut self.phase else {
            return;
        };
        if s.epoch != Some(epoch) {
            return;
        }
        s.newleader_acked.insert(me);
        self.try_establish(now, out);
    }

    fn try_establish(&mut self, _now: LocalTime, out: &mut Outputs<Message, Write>) {
        let q = self.quorum();
        let s = self.leader_state();
        if s.established || !s.syncing || s.newleader_acked.len() < q {
            return;
        }
        s.established = true;
        let epoch = s.epoch.expect("established with an epoch");
        // DSN'11 §IV Phase 2: once a quorum acked NEWLEADER the leader's initial history
        // is committed.
        self.report_role(Role::Leader, epoch, out);
        let last = self.last_zxid();
        self.commit_to(last, out);
        let committed = self.committed;
        let s = self.leader_state();
        for (&p, peer) in &s.learners {
            if peer.stage == PeerStage::NewLeaderAcked {
                out.send(p, Message::UpToDate { committed });
            }
        }
        self.check_sync_waiters(out);
    }

    pub(crate) fn leader_on_message(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        let summary = self.leader_state().summary;
        let voter = self.is_voter(from);
        let s = self.leader_state();
        let Some(peer) = s.learners.get_mut(&from) else {
            return;
        };
        peer.last_heard = now;
        match msg {
            Message::AckEpoch {
                current_epoch,
                last_zxid,
            } => {
                if peer.stage != PeerStage::LeaderInfoSent {
                    return;
                }
                peer.stage = PeerStage::EpochAcked;
                peer.last_zxid = last_zxid;
                if let Some(c) = current_epoch {
                    // Leader.waitForEpochAck: while the epoch quorum is still forming, a
                    // follower more recent than the leader means FLE chose wrongly.
                    if !s.syncing && (c, last_zxid) > summary {
                        out.mark("zab.follower_ahead_of_leader");
                        self.go_looking(now, out);
                        return;
                    }
                    if voter && !peer.observer {
                        s.epoch_acked.insert(from);
                    }
                } else {
                    out.mark("zab.ackepoch_same_epoch");
                }
                if s.syncing {
                    self.sync_learner(now, from, out);
                } else {
                    self.try_epoch_quorum(now, out);
                }
            }
            Message::Ack { zxid } if counter_of(zxid) == 0 => {
                if peer.stage != PeerStage::Synced || s.epoch != Some(epoch_of(zxid)) {
                    return;
                }
                peer.stage = PeerStage::NewLeaderAcked;
                let synced_to = peer.synced_to;
                let counts = voter && !peer.observer;
                if counts {
                    s.newleader_acked.insert(from);
                    // The learner persisted our log up to `synced_to` before this ack.
                    for (_, set) in s.acks.range_mut(..=synced_to) {
                        set.insert(from);
                    }
                }
                if s.established {
                    let committed = self.committed;
                    out.send(from, Message::UpToDate { committed });
                    self.try_commit(out);
                } else {
                    self.try_establish(now, out);
                }
            }
            Message::Ack { .. } if peer.stage == PeerStage::Synced => {
                // LearnerHandler reads the learner's next packet as its NEWLEADER ack
                // (Leader.waitForNewLeaderAck): an ACK of any other zxid is logged and not
                // counted, and the real one, arriving later, is just an ACK.
                out.mark("zab.newleader_ack_of_other_zxid");
                peer.stage = PeerStage::NewLeaderAcked;
                if s.established {
                    let committed = self.committed;
                    out.send(from, Message::UpToDate { committed });
                }
            }
            Message::Ack { zxid } if voter && !peer.observer && peer.stage >= PeerStage::Synced => {
                self.leader_on_ack(from, zxid, out);
            }
            Message::Ping { round } => {
                peer.echoed_round = peer.echoed_round.max(round);
                self.check_sync_waiters(out);
            }
            Message::Request { cmd } if s.established => {
                self.leader_propose(now, cmd, out);
            }
            Message::Sync { id } if s.established && peer.stage == PeerStage::NewLeaderAcked => {
                self.leader_on_sync(crate::reads::Waiter::Remote(from, id), out);
            }
            _ => {}
        }
    }

    /// The connection to `peer` is gone (reset, or silent past syncLimit).
    pub(crate) fn leader_drop_learner(
        &mut self,
        now: LocalTime,
        peer: NodeId,
        out: &mut Outputs<Message, Write>,
    ) {
        let s = self.leader_state();
        if s.learners.remove(&peer).is_some() {
            s.sync_waiters.retain(|w| w.remote_peer() != Some(peer));
            self.check_leader_quorum(now, out);
        }
    }

    /// ZooKeeper's leader loop: without a quorum of synced followers, stop leading.
    pub(crate) fn check_leader_quorum(
        &mut self,
        now: LocalTime,
        out: &mut Outputs<Message, Write>,
    ) -> bool {
        let q = self.quorum();
        let s = self.leader_state();
        if !s.established {
            return true;
        }
        let synced = 1 + s
            .learners
            .values()
            .filter(|p| !p.observer && p.stage == PeerStage::NewLeaderAcked)
            .count();
        if synced < q {
            out.mark("zab.leader_lost_quorum");
            self.go_looking(now, out);
            return false;
        }
        true
    }

    pub(crate) fn learner_on_message(
        &mut self,
        now: LocalTime,
        from: NodeId,
        msg: Message,
        out: &mut Outputs<Message, Write>,
    ) {
        let Phase::Following(l) = &mut self.phase else {
            return;
        };
        if from != l.leader {
            return;
        }
        if let Message::Ping { round } = msg {
            if round <= l.ping_round {
                // A leader's PING rounds only rise (links are FIFO): this one is another
                // learner's echo. Two servers that each joined the other as an
                // "established" leader that had just stepped down would otherwise echo
                // one PING back and forth forever, each keeping the other following.
                out.mark("zab.learner_ping_echo_ignored");
                return;
            }
            l.ping_round = round;
        }
        l.last_heard = now;
        let stage = l.stage;
        match msg {
            Message::LeaderInfo { epoch } if stage == LearnerStage::Discovering => {
                if epoch > self.accepted_epoch {
                    l.epoch = Some(epoch);
                    l.stage = LearnerStage::Syncing;
                    self.accepted_epoch = epoch;
                    self.write(Write::AcceptedEpoch(epoch), WriteEffect::None, out);
                    let role = self.role().0;
                    self.report_role(role, epoch, out);
                    out.send_after_writes(
                        from,
                        Message::AckEpoch {
                            current_epoch: Some(self.current_epoch),
                            last_zxid: self.last_zxid(),
                        },
                    );
                } else if epoch == self.accepted_epoch {
                    // Reconnecting to the leader of the epoch we already accepted: tell it
                    // our last zxid without acking the epoch again (ZooKeeper sends -1).
                    out.mark("zab.ackepoch_same_epoch");
                    l.epoch = Some(epoch);
                    l.stage = LearnerStage::Syncing;
                    let role = self.role().0;
                    self.report_role(role, epoch, out);
                    out.send(
                        from,
                        Message::AckEpoch {
                            current_epoch: None,
                            last_zxid: self.last_zxid(),
                        },
                    );
                } else {
                    // DSN'11 §IV: never accept an epoch below acceptedEpoch.
                    out.mark("zab.leaderinfo_stale_epoch");
                    self.quiet_election = true;
                    self.go_looking(now, out);
                }
            }
            Message::Diff { txns, committed } if stage == LearnerStage::Syncing => {
                self.learner_take_sync(None, txns, false, committed, out);
            }
            Message::Trunc {
                to,
                txns,
                committed,
            } if stage == LearnerStage::Syncing => {
                self.learner_take_sync(Some(to), txns, false, committed, out);
            }
            Message::Snap {
                txns,
                committed,
                base,
            } if stage == LearnerStage::Syncing => {
                if let Some(base) = base.0 {
                    self.learner_take_snap_base(*base, out);
                }
                self.learner_take_sync(None, txns, true, committed, out);
            }
            Message::NewLeader { epoch }
                if stage == LearnerStage::Syncing && l.epoch == Some(epoch) =>
            {
                self.learner_on_newleader(epoch, out);
            }
            Message::UpToDate { committed } if stage == LearnerStage::Synced => {
                l.up_to_date = true;
                self.commit_to(committed, out);
            }
            Message::Proposal { txn } if stage == LearnerStage::Synced && !self.is_observer => {
                let zxid = txn.zxid;
                // A leader numbers its proposals without holes and sends each to every
                // synced follower, so the next one is exactly last + 1 (or counter 1 of a
                // newer epoch). Only the propose_only mutant leaves holes on purpose.
                let last = self.last_zxid();
                let next = if epoch_of(zxid) == epoch_of(last) {
                    zxid == last + 1
                } else {
                    epoch_of(zxid) > epoch_of(last) && counter_of(zxid) == 1
                };
                let holes = self.config.bug("zab.propose_only_to_acked_newleader");
                if !next && (zxid <= last || !holes) {
                    self.fifo_broken(now, out);
                    return;
                }
                self.append_and_write(vec![txn], out);
                out.send_after_writes(from, Message::Ack { zxid });
            }
            Message::Commit { zxid } if stage == LearnerStage::Synced => {
                if zxid > self.committed
                    && self.position(zxid).is_err()
                    && !self.config.bug("zab.propose_only_to_acked_newleader")
                {
                    self.fifo_broken(now, out);
                    return;
                }
                self.commit_to(zxid, out);
            }
            Message::Inform { txn } if stage == LearnerStage::Synced => {
                let zxid = txn.zxid;
                if zxid > self.committed && zxid < self.last_zxid() && self.position(zxid).is_err()
                {
                    self.fifo_broken(now, out);
                    return;
                }
                if self.position(zxid).is_err() {
                    self.append_and_write(vec![txn], out);
                }
                self.commit_to(zxid, out);
            }
            Message::Ping { round } => out.send(from, Message::Ping { round }),
            Message::SyncReply { id, zxid } => self.learner_on_sync_reply(id, zxid, out),
            _ => {}
        }
    }

    /// A SNAP's snapshot: the state at its zxid (`snapshot.rs`); its write goes out with
    /// the SNAP's log write, snapshot first.
    fn learner_take_snap_base(&mut self, base: crate::Snapshot, out: &mut Outputs<Message, Write>) {
        let writes = self.take_snap_base(base, out);
        if let Phase::Following(l) = &mut self.phase {
            l.snap_base_writes = writes;
        }
    }

    /// Takes DIFF / TRUNC / SNAP into memory; the writes wait for NEWLEADER.
    fn learner_take_sync(
        &mut self,
        trunc_to: Option<Zxid>,
        mut txns: Vec<Txn>,
        snap: bool,
        committed: Zxid,
        out: &mut Outputs<Message, Write>,
    ) {
        let mut writes = Vec::new();
        if let Phase::Following(l) = &mut self.phase {
            l.sync_committed = committed;
        }
        let snap_writes = if snap {
            let held = match &mut self.phase {
                Phase::Following(l) => std::mem::take(&mut l.snap_base_writes),
                _ => Vec::new(),
            };
            // The txns after our snapshot (a SNAP without one starts at the first txn).
            let own = self.snapshot_zxid();
            self.log = txns.iter().filter(|t| t.zxid > own).cloned().collect();
            let mut w = held;
            w.push(Write::Snapshot(std::mem::take(&mut txns)));
            w
        } else {
            Vec::new()
        };
        if snap && self.config.bug("zab.snap_in_memory_only") {
            // ZOOKEEPER-3642: the snapshot is deserialised into memory and saved only when
            // NEWLEADER arrives.
            out.mark("zab.bug.snap_in_memory_only");
            if let Phase::Following(l) = &mut self.phase {
                l.unsaved_snapshot = Some(snap_writes);
            }
        } else if snap {
            out.mark("zab.learner_took_snap");
            self.disk_diverged = false;
            writes.extend(snap_writes);
        } else {
            if let Some(to) = trunc_to {
                out.mark("zab.learner_truncated");
                self.log.retain(|t| t.zxid <= to);
                writes.push(Write::Truncate(to));
            }
            let mut last = self.last_zxid();
            for t in &txns {
                assert!(
                    t.zxid > last,
                    "n{}: sync appends zxid {:#x} after {:#x}",
                    self.id.0,
                    t.zxid,
                    last
                );
                last = t.zxid;
            }
            self.log.extend(txns.iter().cloned());
            if !txns.is_empty() {
                writes.push(self.log_append_write(txns));
            }
        }
        // What this node applied must still be in its history: committed txns are in
        // every later leader's log (ZAB primary integrity). Only a mutant breaks this; the
        // checkers are then to see it, so rebuild from the new history instead of panicking.
        let applied_kept = self.applied == 0
            || self.applied == self.snapshot_zxid()
            || self.position(self.applied).is_ok();
        if !applied_kept || self.committed > self.last_zxid() {
            assert!(
                !self.config.bugs.is_empty(),
                "n{}: sync dropped txn {:#x} it had already applied (committed {:#x}, last now {:#x})",
                self.id.0,
                self.applied,
                self.committed,
                self.last_zxid()
            );
            out.mark("zab.sync_dropped_applied_txn");
            let (kv, zxid) = match &self.snapshot {
                Some(s) => (s.kv.clone(), s.zxid),
                None => (protocol::Kv::default(), 0),
            };
            self.kv = kv;
            self.applied = zxid;
            self.committed = zxid;
        }
        if self.config.bug("zab.current_epoch_before_history") {
            // The mutant needs the history writes still unissued at NEWLEADER to put
            // currentEpoch ahead of them.
            if let Phase::Following(l) = &mut self.phase {
                l.sync_writes.extend(writes);
            }
        } else {
            // Issued now, so the disk never lags what this node holds in memory (a learner
            // that leaves before NEWLEADER must not keep a history it never wrote); they
            // still complete before the currentEpoch write NEWLEADER issues.
            for w in writes {
                self.write(w, WriteEffect::None, out);
            }
        }
        self.commit_to(committed.min(self.last_zxid()), out);
    }

    fn learner_on_newleader(&mut self, epoch: u64, out: &mut Outputs<Message, Write>) {
        let Phase::Following(l) = &mut self.phase else {
            return;
        };
        let leader = l.leader;
        l.stage = LearnerStage::Synced;
        let sync_committed = l.sync_committed;
        let unsaved_snapshot = l.unsaved_snapshot.take();
        let writes = std::mem::take(&mut l.sync_writes);
        if let Some(writes) = unsaved_snapshot {
            self.disk_diverged = false;
            for w in writes {
                self.write(w, WriteEffect::None, out);
            }
        }
        assert!(
            epoch <= self.accepted_epoch,
            "n{}: currentEpoch {epoch} would exceed acceptedEpoch {}",
            self.id.0,
            self.accepted_epoch
        );
        let epoch_first = self.config.bug("zab.current_epoch_before_history");
        if epoch_first {
            out.mark("zab.bug.current_epoch_before_history");
            self.write(Write::CurrentEpoch(epoch), WriteEffect::None, out);
        }
        for w in writes {
            self.write(w, WriteEffect::None, out);
        }
        if self.config.bug("zab.epoch_file_gap") {
            // Before ZOOKEEPER-1653: the snapshot of the new epoch goes to disk first, and
            // nothing marks that currentEpoch is about to follow.
            self.write(
                Write::TakeSnapshot(make_zxid(epoch, 0)),
                WriteEffect::None,
                out,
            );
        }
        if !epoch_first {
            // Persist the synced history, THEN currentEpoch, THEN ack (ZOOKEEPER-4643).
            self.write(Write::CurrentEpoch(epoch), WriteEffect::None, out);
        }
        self.current_epoch = epoch;
        let last = self.last_zxid();
        if self.config.bug("zab.ack_proposal_before_ack_newleader") && last > sync_committed {
            // ZOOKEEPER-4685: the synced proposals not yet committed are acked as they are
            // logged, ahead of the NEWLEADER ack.
            out.mark("zab.bug.ack_proposal_before_ack_newleader");
            out.send_after_writes(leader, Message::Ack { zxid: last });
        }
        let ack = Message::Ack {
            zxid: make_zxid(epoch, 0),
        };
        if self.config.bug("zab.ack_newleader_before_durable") {
            out.mark("zab.bug.ack_newleader_before_durable");
            out.send(leader, ack);
        } else {
            out.send_after_writes(leader, ack);
        }
    }

    /// The link to the leader delivered out of order or skipped a message: the contract
    /// promises FIFO links, so treat it as the broken TCP connection it would be in
    /// ZooKeeper (drop it and re-sync) rather than log a hole.
    fn fifo_broken(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        out.mark("zab.learner_saw_fifo_violation");
        self.go_looking(now, out);
    }

    pub(crate) fn learner_tick(&mut self, now: LocalTime, out: &mut Outputs<Message, Write>) {
        let timeout = self.config.election_timeout.0;
        let Phase::Following(l) = &self.phase else {
            return;
        };
        if now.since(l.last_heard) > timeout {
            out.mark("zab.learner_lost_leader");
            self.go_looking(now, out);
        } else {
            let hb = self.config.heartbeat_interval;
            out.set_timer(TIMER_TICK, hb, hb);
        }
    }
}

use crate::Txn;
