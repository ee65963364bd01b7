//! Disruption: a node takes office from a leader that a majority of its membership was
//! still steadily hearing (Raft thesis §4.2.3 and §9.6, the vote fence; Paxos Made Live
//! §5.2, ballot boosting). No safety property breaks when it happens: the new leader is
//! legitimate, every leadership commits. What breaks is the promise that one cut link, or
//! one node back from a partition, does not unseat a working leader.
//!
//! The record is online and cheap, as a run that keeps no events needs: per (leader,
//! node) pair the stretch of fence-renewing messages the node handled from that leader
//! (its first and last), per node its role, term and membership as last reported, and
//! when it was last crashed, restarted, paused, resumed or had its clock stepped or its
//! rate changed. O(nodes²) memory, O(1) per delivery.
//!
//! Definitions (all times true time, in nanoseconds):
//! - *g(j)*, node j's fence in true time: the minimum election timeout, counted on j's
//!   own clock, shrunk by j's clock rate and by the drift bound (whichever is shorter).
//! - *D*, how long a vote may take from its grant to the candidate taking office: the
//!   largest latency, lateness (reordering, duplication) and disk write, and the longest
//!   fence (on the slowest clock the drift bound allows).
//! - j *steadily hears* L at time t: j handled messages of L's reign that the protocol
//!   reads as word of L's leadership ([`Signal::Renews`]: Raft's AppendEntries, Paxos's
//!   Accept and Heartbeat, anything from the leader a ZAB learner follows), each as a
//!   follower of L's very term, with no gap of g(j) or more between two of them or between
//!   the last and t, the first at or before t − D; and nothing disturbed j or L since
//!   (crash, restart, pause, resume, clock step or rate change; a FIFO connection reset
//!   between them).
//! - **Votes** (the vote fence, Raft thesis §4.2.3, §9.6): node N takes office in a term
//!   above L's while L leads (or left office in the very step it granted N its vote), N
//!   and L report the same membership, and L with the members steadily hearing it is a
//!   majority of it. Whoever of them helped N did so within its fence.
//! - **Leadership** (ballot boosting, PML §5.2): L leaves office without standing again at
//!   once (its new role is not a candidate's), no one took office since L did, L knew
//!   itself followed (a majority, L included, acknowledged a heartbeat round L started
//!   within g(L): each message echoes the send time of the last leader message its sender
//!   took as word of leadership, so an acknowledgement dates the round it answers, as the
//!   leader's own `quorum_since` does), and L with the members steadily hearing it is a
//!   majority; and the next node to take office is not L.

use crate::safety::Verdict;

/// What the protocol promises (the simulator passes the protocol's own declaration,
/// `protocol::Fence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promise {
    /// Nothing is judged.
    None,
    /// The vote fence: no node takes office while a majority steadily hears a leader.
    Votes,
    /// The vote fence, and a followed leader leaves office only to stand again at once.
    Leadership,
}

/// A node's role as the checker needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Leader,
    Follower,
    /// Campaigning (candidate, pre-candidate, looking).
    Candidate,
    /// Anything else (leading but not established, observing, crashed).
    Other,
}

/// The world's timing the definitions need.
#[derive(Clone, Debug)]
pub struct Timing {
    /// The minimum election timeout, on a node's own clock.
    pub election_min_ns: u64,
    /// The clock drift bound the protocol is configured with.
    pub drift_bound: f64,
    pub heartbeat_ns: u64,
    /// The largest one-way latency.
    pub latency_max_ns: u64,
    /// How much later than its latency a reordered or duplicated message may arrive (0
    /// when the network neither reorders nor duplicates).
    pub late_max_ns: u64,
    pub write_max_ns: u64,
}

/// What a handled message said about the fence (the protocol's own reading of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    None,
    /// The receiver's leader is alive.
    Renews,
    /// The receiver leads, and the sender acknowledges its leadership.
    Acks,
}

#[derive(Clone, Copy, Debug)]
struct Stretch {
    first_ns: u64,
    last_ns: u64,
}

#[derive(Clone, Debug)]
struct NodeState {
    standing: Standing,
    /// The term last reported; `u64::MAX` while unknown (after a crash, before the restart
    /// reports one).
    term: u64,
    /// Its last reign, kept after it leaves office: the fences its followers hold run on.
    reign: Option<Reign>,
    members: Vec<u32>,
    rate: f64,
    /// The step in which it last left office.
    left_step: u64,
}

#[derive(Clone, Copy, Debug)]
struct Reign {
    term: u64,
    since_ns: u64,
    /// When it left office (None while in office).
    until_ns: Option<u64>,
    /// The vote (candidate, term) it granted in the very step it left office: a leader
    /// that grants a vote while it still leads helps the candidate as much as a
    /// follower that still hears it.
    helped: Option<(u32, u64)>,
}

/// A leader that left office while followed, waiting to see who takes office next.
#[derive(Clone, Debug)]
struct Abdication {
    node: u32,
    term: u64,
    at_ns: u64,
    heard_by: String,
    /// The start of the latest heartbeat round a majority acknowledged.
    round_ns: u64,
}

/// Watches a run as it goes and judges every election against the leader it replaced.
#[derive(Clone, Debug)]
pub struct DisruptionWatch {
    promise: Promise,
    timing: Timing,
    window_ns: u64,
    nodes: Vec<NodeState>,
    /// Indexed `leader * n + node` (0-based): the stretch `node` steadily hears `leader`.
    heard: Vec<Option<Stretch>>,
    /// Indexed as `heard`: the send time of the last message of `leader` that `node` took
    /// as word of its leadership (what `node` echoes in its next message to `leader`).
    renewed_by: Vec<u64>,
    /// Indexed as `heard`: the latest send time of `leader`'s messages that `node`'s acks,
    /// handled by `leader`, echoed (a heartbeat round `node` acknowledged, by its start).
    acked: Vec<u64>,
    /// When a node last took office.
    last_took_office_ns: u64,
    abdication: Option<Abdication>,
    /// Counts the protocol's steps, so that reports of one step are known as such.
    steps: u64,
    elections: u64,
    judged: u64,
    failure: Option<String>,
}

fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

impl DisruptionWatch {
    /// `members`: the initial voting membership; `rates`: each node's clock rate (node
    /// ids 1..=rates.len()).
    pub fn new(promise: Promise, timing: Timing, members: &[u32], rates: &[f64]) -> Self {
        let n = rates.len();
        // The longest a fence lasts in true time: on the slowest clock the bound allows.
        let fence_max =
            (timing.election_min_ns as f64 / (1.0 - timing.drift_bound).max(0.05)) as u64;
        let window_ns = timing.latency_max_ns
            + timing.late_max_ns
            + timing.write_max_ns
            + fence_max
            + 10_000_000;
        DisruptionWatch {
            promise,
            window_ns,
            nodes: rates
                .iter()
                .map(|&rate| NodeState {
                    standing: Standing::Follower,
                    term: 0,
                    reign: None,
                    members: members.to_vec(),
                    rate,
                    left_step: 0,
                })
                .collect(),
            heard: vec![None; n * n],
            renewed_by: vec![0; n * n],
            acked: vec![0; n * n],
            last_took_office_ns: 0,
            abdication: None,
            steps: 0,
            elections: 0,
            judged: 0,
            failure: None,
            timing,
        }
    }

    fn n(&self) -> usize {
        self.nodes.len()
    }

    fn state(&self, id: u32) -> &NodeState {
        &self.nodes[id as usize - 1]
    }

    /// Node j's fence in true time: the minimum election timeout on its clock.
    fn fence_ns(&self, id: u32) -> u64 {
        let min = self.timing.election_min_ns as f64;
        let rate = self.state(id).rate.max(1e-9);
        let by_bound = min * (1.0 - self.timing.drift_bound).max(0.0);
        let by_rate = min / rate;
        // A microsecond less, for the rounding of local clocks.
        (by_bound.min(by_rate) as u64).saturating_sub(1_000)
    }

    fn forget_pair(&mut self, leader: usize, node: usize) {
        let i = leader * self.n() + node;
        self.heard[i] = None;
        self.renewed_by[i] = 0;
        self.acked[i] = 0;
    }

    fn forget_pairs_of(&mut self, id: u32) {
        let i = id as usize - 1;
        for k in 0..self.n() {
            self.forget_pair(i, k);
            self.forget_pair(k, i);
        }
    }

    /// Whether anything is judged (the driver may skip asking the protocol otherwise).
    pub fn judges(&self) -> bool {
        self.promise != Promise::None
    }

    /// What a message `from` sends `to` now echoes: the send time of the last message of
    /// `to` that `from` took as word of `to`'s leadership (0 if none).
    pub fn echo(&self, from: u32, to: u32) -> u64 {
        let n = self.n();
        self.renewed_by[(to as usize - 1) * n + (from as usize - 1)]
    }

    /// Node `to` handled a message from `from`, sent at `sent_ns` and echoing `echo_ns`
    /// (see [`DisruptionWatch::echo`]), which the protocol read as `signal`.
    pub fn handled(
        &mut self,
        at_ns: u64,
        from: u32,
        to: u32,
        sent_ns: u64,
        echo_ns: u64,
        signal: Signal,
    ) {
        if self.promise == Promise::None || from == to {
            return;
        }
        let n = self.n();
        if signal == Signal::Acks {
            if let Some(reign) = self.state(to).reign.filter(|r| r.until_ns.is_none()) {
                let i = (to as usize - 1) * n + (from as usize - 1);
                if echo_ns >= reign.since_ns && echo_ns > self.acked[i] {
                    self.acked[i] = echo_ns;
                }
            }
            return;
        }
        if signal != Signal::Renews {
            return;
        }
        let Some(reign) = self.state(from).reign.filter(|r| r.until_ns.is_none()) else {
            return;
        };
        let receiver = self.state(to);
        if sent_ns < reign.since_ns
            || receiver.standing != Standing::Follower
            || receiver.term != reign.term
        {
            return;
        }
        let g = self.fence_ns(to);
        let i = (from as usize - 1) * n + (to as usize - 1);
        self.renewed_by[i] = sent_ns;
        let slot = &mut self.heard[i];
        *slot = match *slot {
            Some(s) if at_ns - s.last_ns < g => Some(Stretch {
                first_ns: s.first_ns,
                last_ns: at_ns,
            }),
            _ => Some(Stretch {
                first_ns: at_ns,
                last_ns: at_ns,
            }),
        };
    }

    /// The leader and the members of its membership that steadily hear it at `at_ns`, as
    /// text for a verdict; None when they are not a majority of it.
    fn majority_hearing(&self, leader: u32, at_ns: u64) -> Option<String> {
        let members = &self.state(leader).members;
        if !members.contains(&leader) {
            return None;
        }
        let n = self.n();
        let mut hearing = Vec::new();
        for &j in members.iter().filter(|&&j| j != leader) {
            if j == 0 || j as usize > n {
                continue;
            }
            let Some(s) = self.heard[(leader as usize - 1) * n + (j as usize - 1)] else {
                continue;
            };
            let g = self.fence_ns(j);
            if at_ns - s.last_ns < g && s.first_ns + self.window_ns <= at_ns {
                hearing.push((j, s));
            }
        }
        if 1 + hearing.len() < members.len() / 2 + 1 {
            return None;
        }
        let mut parts = vec![format!("n{leader} itself")];
        for (j, s) in &hearing {
            parts.push(format!(
                "n{j} (heard it since {}, last at {})",
                secs(s.first_ns),
                secs(s.last_ns)
            ));
        }
        Some(format!(
            "a majority of its membership {{{}}} steadily heard it: {}",
            members
                .iter()
                .map(|m| format!("n{m}"))
                .collect::<Vec<_>>()
                .join(","),
            parts.join(", ")
        ))
    }

    /// Node `id` reported its role and term.
    pub fn role(&mut self, at_ns: u64, id: u32, standing: Standing, term: u64) {
        let was = self.state(id).clone();
        let leads_now = standing == Standing::Leader;
        let in_office = was.reign.filter(|r| r.until_ns.is_none());
        let new_reign = leads_now && in_office.is_none_or(|r| r.term != term);
        if let Some(r) = in_office.filter(|r| !leads_now || r.term != term) {
            if !leads_now && standing != Standing::Candidate {
                self.left_office(at_ns, id, r.term);
            }
            let steps = self.steps;
            let s = &mut self.nodes[id as usize - 1];
            s.left_step = steps;
            if let Some(r) = s.reign.as_mut() {
                r.until_ns = Some(at_ns);
            }
        }
        if new_reign {
            self.took_office(at_ns, id, term);
            self.forget_pairs_of_leader(id);
            self.nodes[id as usize - 1].reign = Some(Reign {
                term,
                since_ns: at_ns,
                until_ns: None,
                helped: None,
            });
        }
        let s = &mut self.nodes[id as usize - 1];
        s.standing = standing;
        s.term = term;
    }

    /// The protocol is about to take a step (reports until the next one are its).
    pub fn step(&mut self) {
        self.steps += 1;
    }

    /// Node `id` granted its vote to `candidate` in `term`.
    pub fn voted(&mut self, id: u32, term: u64, candidate: u32) {
        let steps = self.steps;
        let s = &mut self.nodes[id as usize - 1];
        if s.left_step == steps && steps > 0 {
            if let Some(r) = s.reign.as_mut() {
                r.helped = Some((candidate, term));
            }
        }
    }

    fn forget_pairs_of_leader(&mut self, id: u32) {
        let i = id as usize - 1;
        for k in 0..self.n() {
            self.forget_pair(i, k);
        }
    }

    fn took_office(&mut self, at_ns: u64, id: u32, term: u64) {
        self.elections += 1;
        self.last_took_office_ns = at_ns;
        if self.promise == Promise::None {
            return;
        }
        if let Some(a) = self.abdication.take() {
            if a.node != id && self.failure.is_none() {
                self.failure = Some(format!(
                    "n{id} took office in term {term} at {} after n{}, leader of term {}, left office at {} without standing again while it knew itself followed (a majority acknowledged its heartbeat round of {}) and {}; a leader a majority follows, preempted by a higher ballot, raises its own (ballot boosting, Paxos Made Live §5.2) rather than hand over",
                    secs(at_ns),
                    a.node,
                    a.term,
                    secs(a.at_ns),
                    secs(a.round_ns),
                    a.heard_by,
                ));
            }
        }
        for l in 1..=self.n() as u32 {
            if l == id {
                continue;
            }
            let old = self.state(l);
            let Some(reign) = old.reign else {
                continue;
            };
            if reign.term >= term || old.members != self.state(id).members {
                continue;
            }
            if self.failure.is_some() {
                continue;
            }
            // Judged while the old leader leads (a leader grants no vote, and its
            // followers follow it and no one else), or when it left office in the very
            // step it granted its vote to this candidate. A leader that left office
            // otherwise (check-quorum) may rightly vote for anyone.
            let office = match reign.until_ns {
                None => "was still in office".to_string(),
                Some(until) if reign.helped == Some((id, term)) => format!(
                    "left office at {} granting its own vote to n{id}",
                    secs(until)
                ),
                Some(_) => continue,
            };
            self.judged += 1;
            let Some(heard_by) = self.majority_hearing(l, at_ns) else {
                continue;
            };
            self.failure = Some(format!(
                "n{id} took office in term {term} at {} while n{l}, leader of term {} since {}, {office}, and {heard_by}; a node that heard a live leader within the minimum election timeout helps no other node take office (the vote fence, Raft thesis §4.2.3, §9.6)",
                secs(at_ns),
                reign.term,
                secs(reign.since_ns),
            ));
        }
    }

    fn left_office(&mut self, at_ns: u64, id: u32, term: u64) {
        if self.promise != Promise::Leadership {
            return;
        }
        let Some(reign) = self.state(id).reign else {
            return;
        };
        // Its reign is the latest: a leader displaced by one that took office since is
        // judged when that one took office.
        if self.last_took_office_ns != reign.since_ns {
            return;
        }
        // It knew itself followed: a majority (itself included) acknowledged a round it
        // started within its fence, on its own clock (Paxos's `quorum_since`).
        let members = &self.state(id).members;
        let n = self.n();
        let mut echoes: Vec<u64> = members
            .iter()
            .filter(|&&j| j != id && j >= 1 && j as usize <= n)
            .map(|&j| self.acked[(id as usize - 1) * n + (j as usize - 1)])
            .collect();
        echoes.sort_unstable_by(|a, b| b.cmp(a));
        let needed = members.len() / 2; // besides itself
        let round_ns = match needed.checked_sub(1) {
            None => at_ns,
            Some(k) => match echoes.get(k) {
                Some(&e) if e > 0 => e,
                _ => return,
            },
        };
        if at_ns - round_ns >= self.fence_ns(id) {
            return;
        }
        if let Some(heard_by) = self.majority_hearing(id, at_ns) {
            self.abdication = Some(Abdication {
                node: id,
                term,
                at_ns,
                heard_by,
                round_ns,
            });
        }
    }

    /// Node `id` crashed, restarted, paused, resumed, or its clock was stepped: what it
    /// heard, and what was heard of it, no longer says what its fence holds.
    pub fn disturbed(&mut self, id: u32) {
        self.forget_pairs_of(id);
    }

    /// Node `id` crashed: it leads nothing and its term is unknown until it reports one.
    pub fn crashed(&mut self, id: u32) {
        self.forget_pairs_of(id);
        let s = &mut self.nodes[id as usize - 1];
        s.standing = Standing::Other;
        s.term = u64::MAX;
        s.reign = None;
    }

    /// Node `id`'s clock now runs at `rate`.
    pub fn clock_rate(&mut self, id: u32, rate: f64) {
        self.forget_pairs_of(id);
        self.nodes[id as usize - 1].rate = rate;
    }

    /// The FIFO connection between `a` and `b` broke (a ZAB learner leaves its leader).
    pub fn connection_reset(&mut self, a: u32, b: u32) {
        let n = self.n();
        let (i, k) = (a as usize - 1, b as usize - 1);
        self.heard[i * n + k] = None;
        self.heard[k * n + i] = None;
    }

    /// Node `id` reported its voting membership.
    pub fn members(&mut self, id: u32, members: &[u32]) {
        self.nodes[id as usize - 1].members = members.to_vec();
    }

    pub fn verdict(&self) -> Verdict {
        if let Some(f) = &self.failure {
            return Verdict::fail(f.clone());
        }
        match self.promise {
            Promise::None => Verdict::pass(format!(
                "not judged: this configuration promises no vote fence ({} elections)",
                self.elections
            )),
            _ => Verdict::pass(format!(
                "{} elections, {} judged against a leader in office: none took office while a majority steadily heard that leader",
                self.elections, self.judged
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn timing() -> Timing {
        Timing {
            election_min_ns: 150 * MS,
            drift_bound: 0.0,
            heartbeat_ns: 20 * MS,
            latency_max_ns: 5 * MS,
            late_max_ns: 0,
            write_max_ns: 5 * MS,
        }
    }

    /// Three nodes; n1 leads term 1 from 100ms and sends heartbeats every 20ms to the
    /// nodes in `to` until `until_ms`.
    fn three_nodes(promise: Promise, to: &[u32], until_ms: u64) -> DisruptionWatch {
        let mut w = DisruptionWatch::new(promise, timing(), &[1, 2, 3], &[1.0, 1.0, 1.0]);
        for id in 1..=3 {
            w.role(0, id, Standing::Follower, 1);
        }
        w.role(100 * MS, 1, Standing::Leader, 1);
        let mut t = 100;
        while t <= until_ms {
            for &j in to {
                w.handled(t * MS + MS, 1, j, t * MS, 0, Signal::Renews);
                // Each follower acks the heartbeat at once.
                w.handled(t * MS + 2 * MS, j, 1, t * MS + MS, t * MS, Signal::Acks);
            }
            t += 20;
        }
        w
    }

    #[test]
    fn a_node_taking_office_from_a_leader_a_majority_steadily_hears_is_a_disruption() {
        // n3 is cut off from n1; n2 still hears n1 and yet helps n3 to office.
        let mut w = three_nodes(Promise::Votes, &[2], 1_000);
        w.role(1_010 * MS, 3, Standing::Leader, 2);
        let v = w.verdict();
        assert_eq!(v.result, crate::safety::Outcome::Fail, "{v}");
        assert!(v.detail.starts_with("n3 took office in term 2"), "{v}");
        assert!(v.detail.contains("n1, leader of term 1"), "{v}");
        assert!(v.detail.contains("n1 itself, n2 (heard it since"), "{v}");
    }

    #[test]
    fn a_leader_that_the_majority_stopped_hearing_may_be_replaced() {
        // n1's heartbeats stop reaching n2 at 700ms: by 1010ms its fence has run out.
        let mut w = three_nodes(Promise::Votes, &[2], 700);
        w.role(1_010 * MS, 3, Standing::Leader, 2);
        assert_eq!(w.verdict().result, crate::safety::Outcome::Pass);
    }

    #[test]
    fn a_crash_or_restart_in_the_window_excuses_the_node() {
        let mut w = three_nodes(Promise::Votes, &[2], 900);
        w.crashed(2);
        w.disturbed(2);
        w.role(950 * MS, 2, Standing::Follower, 1);
        for t in [960, 980, 1_000] {
            w.handled(t * MS, 1, 2, t * MS - MS, 0, Signal::Renews);
        }
        w.role(1_010 * MS, 3, Standing::Leader, 2);
        assert_eq!(w.verdict().result, crate::safety::Outcome::Pass);
    }

    #[test]
    fn a_node_in_a_higher_term_does_not_hear_the_old_leader() {
        // n2 adopted term 2 at 500ms (a vote it gave when its fence had run out): the old
        // leader's messages after that do not renew anything.
        let mut w = three_nodes(Promise::Votes, &[], 0);
        for t in (120..=480).step_by(20) {
            w.handled(t * MS, 1, 2, t * MS - MS, 0, Signal::Renews);
        }
        w.role(500 * MS, 2, Standing::Follower, 2);
        for t in (520..=1_000).step_by(20) {
            w.handled(t * MS, 1, 2, t * MS - MS, 0, Signal::Renews);
        }
        w.role(1_010 * MS, 3, Standing::Leader, 2);
        assert_eq!(w.verdict().result, crate::safety::Outcome::Pass);
    }

    #[test]
    fn nothing_is_judged_without_a_promise() {
        let mut w = three_nodes(Promise::None, &[2], 1_000);
        w.role(1_010 * MS, 3, Standing::Leader, 2);
        let v = w.verdict();
        assert_eq!(v.result, crate::safety::Outcome::Pass);
        assert!(v.detail.starts_with("not judged"), "{v}");
    }

    #[test]
    fn a_followed_leader_that_boosts_its_ballot_is_not_a_disruption_but_one_that_hands_over_is() {
        // Boost: n1 stands again at once and takes office again.
        let mut w = three_nodes(Promise::Leadership, &[2, 3], 1_000);
        w.role(1_005 * MS, 1, Standing::Candidate, 5);
        w.role(1_015 * MS, 1, Standing::Leader, 5);
        assert_eq!(w.verdict().result, crate::safety::Outcome::Pass);
        // No boost: n1 goes passive and n3 takes over once the fences ran out.
        let mut w = three_nodes(Promise::Leadership, &[2, 3], 1_000);
        w.role(1_005 * MS, 1, Standing::Follower, 4);
        w.role(1_300 * MS, 3, Standing::Leader, 6);
        let v = w.verdict();
        assert_eq!(v.result, crate::safety::Outcome::Fail, "{v}");
        assert!(
            v.detail.contains("n1, leader of term 1, left office"),
            "{v}"
        );
        assert!(v.detail.starts_with("n3 took office in term 6"), "{v}");
        // The same with no ack reaching n1 for its fence: it could not know itself
        // followed, and going passive is its right.
        let mut w = three_nodes(Promise::Leadership, &[], 0);
        for t in (120..=1_000).step_by(20) {
            w.handled(t * MS + MS, 1, 2, t * MS, 0, Signal::Renews);
            w.handled(t * MS + MS, 1, 3, t * MS, 0, Signal::Renews);
        }
        w.handled(800 * MS, 2, 1, 799 * MS, 780 * MS, Signal::Acks);
        w.role(1_005 * MS, 1, Standing::Follower, 4);
        w.role(1_300 * MS, 3, Standing::Leader, 6);
        assert_eq!(w.verdict().result, crate::safety::Outcome::Pass);
    }
}
