//! Fast Leader Election (ZooKeeper's `FastLeaderElection.lookForLeader`).
//!
//! A LOOKING voter starts a new round of its logical clock, votes for itself with
//! `(currentEpoch, lastZxid, sid)` and tells everyone. It adopts any larger vote of the
//! same round and re-broadcasts; a notification of a higher round resets its tally and
//! makes it adopt that round (`zab.fle_round_reset`); a lower-round notification is answered
//! with its own vote so the laggard catches up. Once a quorum of the round's votes equals
//! its own, it waits the finalize interval for a better vote (unless every voter already
//! agrees), then follows or leads. Peers that are no longer LOOKING answer with the vote
//! that elected their leader and their state; a quorum of those naming a leader that itself
//! says LEADING lets a late peer (or an observer) join at once (`checkLeader`).
//! Observers never vote: their notifications are answered but never counted, and
//! notifications go to voters only, as in ZooKeeper.

use crate::{Message, PeerState, Phase, Vote, Zab, TIMER_ELECTION, TIMER_FINALIZE};
use protocol::{LocalTime, NodeId, Outputs, Role};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Election {
    /// Votes of this round from voters (LOOKING ones, and decided ones of the same round),
    /// including this node's own.
    recv: BTreeMap<NodeId, Vote>,
    /// Votes of voters that are no longer LOOKING, with their state.
    out_of_election: BTreeMap<NodeId, (Vote, PeerState)>,
    finalizing: bool,
}

impl Zab {
    fn self_vote(&self) -> Vote {
        Vote {
            epoch: self.current_epoch,
            zxid: self.last_zxid(),
            sid: self.id,
        }
    }

    fn peer_state(&self) -> PeerState {
        match &self.phase {
            Phase::Looking(_) => PeerState::Looking,
            Phase::Following(_) if self.is_observer => PeerState::Observing,
            Phase::Following(_) => PeerState::Following,
            Phase::Leading(_) => PeerState::Leading,
        }
    }

    fn notification(&self) -> Message {
        Message::Notification {
            vote: self.vote,
            round: self.round,
            state: self.peer_state(),
        }
    }

    /// `FastLeaderElection.sendNotifications`: to the voters only
    /// (`getCurrentAndNextConfigVoters`). A voter answers an observer's notification at
    /// once (`WorkerReceiver`: a non-voter is responded to right away), so observers learn
    /// the leader by asking; were observers sent notifications too, two LOOKING observers
    /// would answer each other forever (with zero latency, at one instant of time).
    fn broadcast_notification(&self, out: &mut Outputs<Message, crate::Write>) {
        let msg = self.notification();
        for &p in self.voters().iter().filter(|&&p| p != self.id) {
            out.send(p, msg.clone());
        }
    }

    pub(crate) fn start_election(
        &mut self,
        now: LocalTime,
        out: &mut Outputs<Message, crate::Write>,
    ) {
        self.round += 1;
        self.vote = self.self_vote();
        let mut e = Election::default();
        if !self.is_observer {
            e.recv.insert(self.id, self.vote);
        }
        self.phase = Phase::Looking(e);
        self.report_role(Role::Looking, self.current_epoch, out);
        out.cancel_timer(TIMER_FINALIZE);
        let (lo, hi) = self.config.election_timeout;
        out.set_timer(TIMER_ELECTION, lo, hi);
        if std::mem::take(&mut self.quiet_election) {
            // After a leader refused us, wait for the timer before asking again (ZooKeeper
            // pays a reconnect delay here); answering at once would spin without time passing.
            return;
        }
        self.broadcast_notification(out);
        self.check_election(now, out);
    }

    pub(crate) fn on_election_timer(
        &mut self,
        _now: LocalTime,
        out: &mut Outputs<Message, crate::Write>,
    ) {
        if let Phase::Looking(_) = self.phase {
            // FLE re-sends its notifications when it has heard nothing for a while.
            self.broadcast_notification(out);
            let (lo, hi) = self.config.election_timeout;
            out.set_timer(TIMER_ELECTION, lo, hi);
        }
    }

    pub(crate) fn on_finalize_timer(
        &mut self,
        now: LocalTime,
        out: &mut Outputs<Message, crate::Write>,
    ) {
        let vote = self.vote;
        let q = self.quorum();
        let Phase::Looking(e) = &mut self.phase else {
            return;
        };
        e.finalizing = false;
        if e.recv.values().filter(|v| **v == vote).count() >= q {
            self.decide(now, vote, out);
        }
    }

    pub(crate) fn on_notification(
        &mut self,
        now: LocalTime,
        from: NodeId,
        vote: Vote,
        round: u64,
        state: PeerState,
        out: &mut Outputs<Message, crate::Write>,
    ) {
        if !matches!(self.phase, Phase::Looking(_)) {
            // A decided peer tells a LOOKING one whom it follows.
            if state == PeerState::Looking {
                out.send(from, self.notification());
            }
            return;
        }
        if !self.is_voter(from) {
            // Observers never vote; answer a LOOKING one so it learns the leader (answering
            // a decided one too would ping-pong forever).
            if state == PeerState::Looking {
                out.send(from, self.notification());
            }
            return;
        }
        let own = self.self_vote();
        let me = self.id;
        let is_observer = self.is_observer;
        match state {
            PeerState::Looking => {
                if is_observer {
                    return;
                }
                let mut rebroadcast = false;
                if round > self.round {
                    out.mark("zab.fle_round_reset");
                    self.round = round;
                    self.vote = vote.max(own);
                    if let Phase::Looking(e) = &mut self.phase {
                        e.recv.clear();
                        e.recv.insert(me, self.vote);
                    }
                    rebroadcast = true;
                } else if round < self.round {
                    out.send(from, self.notification());
                    return;
                } else if vote > self.vote {
                    self.vote = vote;
                    if let Phase::Looking(e) = &mut self.phase {
                        e.recv.insert(me, vote);
                    }
                    rebroadcast = true;
                }
                if let Phase::Looking(e) = &mut self.phase {
                    e.recv.insert(from, vote);
                }
                if rebroadcast {
                    self.broadcast_notification(out);
                }
            }
            PeerState::Following | PeerState::Leading => {
                let my_round = self.round;
                if let Phase::Looking(e) = &mut self.phase {
                    e.out_of_election.insert(from, (vote, state));
                    if round == my_round && !is_observer {
                        e.recv.insert(from, vote);
                    }
                }
            }
            PeerState::Observing => {}
        }
        self.check_election(now, out);
    }

    /// Decides if a quorum agrees: first the out-of-election rule, then this round's tally.
    fn check_election(&mut self, now: LocalTime, out: &mut Outputs<Message, crate::Write>) {
        let q = self.quorum();
        let all = self.voters().len();
        let me = self.id;
        let vote = self.vote;
        let Phase::Looking(e) = &mut self.phase else {
            return;
        };
        // Decided peers agree when they name the same leader: as in ZooKeeper's
        // `Vote.equals` outside LOOKING, the rest of a follower's vote may date from an
        // earlier election of the same leader. The leader's own vote is the one adopted.
        let joined = e.out_of_election.iter().find_map(|(&sid, (v, state))| {
            let agree = e
                .out_of_election
                .values()
                .filter(|(w, _)| w.sid == sid)
                .count();
            (*state == PeerState::Leading && v.sid == sid && sid != me && agree >= q).then_some(*v)
        });
        if let Some(v) = joined {
            out.mark("zab.fle_joined_established");
            self.decide(now, v, out);
            return;
        }
        if self.is_observer {
            return;
        }
        let agree = e.recv.values().filter(|v| **v == vote).count();
        if agree >= q {
            if agree == all {
                self.decide(now, vote, out);
            } else if !e.finalizing {
                e.finalizing = true;
                let wait = self.config.heartbeat_interval;
                out.set_timer(TIMER_FINALIZE, wait, wait);
            }
        }
    }

    fn decide(&mut self, now: LocalTime, vote: Vote, out: &mut Outputs<Message, crate::Write>) {
        out.cancel_timer(TIMER_ELECTION);
        out.cancel_timer(TIMER_FINALIZE);
        self.vote = vote;
        if vote.sid == self.id {
            assert!(!self.is_observer, "observer n{} elected itself", self.id.0);
            self.become_leader(now, out);
        } else {
            self.become_learner(now, vote.sid, out);
        }
    }
}
