//! Safety checks over what nodes reported about themselves: election safety (at most one
//! leader per term, epoch or ballot) and log safety (committed and applied entries agree
//! at every index across nodes, and a committed entry is never replaced).
//!
//! The input is a plain list of [`NodeEvent`]s in time order, so histories that did not
//! come from the simulator can be checked too. Each violation names the nodes, the term or
//! index, the times, and the first events that show it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One thing a node said about itself, at a true time in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEvent {
    pub at_ns: u64,
    pub node: u32,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// The node now acts in `role` for `term`; `leader` is true when it acts as leader.
    Role { leader: bool, term: u64 },
    /// The node crashed (it no longer acts in any role).
    Crash,
    /// The node learned that the entry at `index` is committed.
    Commit {
        index: u64,
        term: u64,
        op: Option<u64>,
    },
    /// The node applied the entry at `index`; its state machine's digest afterwards is
    /// `state`, when the record has it.
    Apply {
        index: u64,
        term: u64,
        op: Option<u64>,
        state: Option<u64>,
    },
    /// The node, as an acceptor, durably accepted the entry at `index` in ballot
    /// `ballot`. An entry a majority of the voters accepted in one ballot is chosen, even
    /// if no node learns it ([`LogWatch::with_voters`]).
    Accepted {
        index: u64,
        ballot: u64,
        term: u64,
        op: Option<u64>,
    },
    /// The leader of `term` holds a read lease until true time `until_ns`.
    Lease { term: u64, until_ns: u64 },
    /// The leader of `term` answered a read on its own authority (lease or local state),
    /// with no quorum confirming its leadership after the read arrived.
    ReadServed { term: u64 },
}

/// A checker's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub result: Outcome,
    /// A sentence or a few: what was checked, or what went wrong and where.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Unknown,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.result.name(), self.detail)
    }
}

impl Verdict {
    pub fn pass(detail: impl Into<String>) -> Verdict {
        Verdict {
            result: Outcome::Pass,
            detail: detail.into(),
        }
    }
    pub fn fail(detail: impl Into<String>) -> Verdict {
        Verdict {
            result: Outcome::Fail,
            detail: detail.into(),
        }
    }
}

/// A true time for messages: "812.345ms" below a second, "15.313s" above.
fn ms(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3}s", ns as f64 / 1e9)
    } else {
        format!("{:.3}ms", ns as f64 / 1e6)
    }
}

fn op_text(op: Option<u64>) -> String {
    op.map_or_else(|| "no-op".to_string(), |o| format!("op{o}"))
}

/// A map from log positions (Raft indexes, ZAB zxids, Paxos slots) to values, kept as
/// runs of consecutive positions, each run's values in one `Vec`: a log fills its
/// positions in order, so a long history is a few runs (one per epoch for zxids) and a
/// lookup is a search among them, where a map of its own per position costs a tree node
/// each. A position filled out of order may start a run of its own; filling the gap before
/// it joins the two again (Paxos reports slots chosen out of order all the time, and runs
/// left apart would pile up by the thousand, each lookup behind the last one a tree
/// search).
struct Runs<T> {
    /// Every run but the last, by first position.
    runs: BTreeMap<u64, Vec<T>>,
    /// The run that starts last (first position, values), kept out of the map: the log
    /// grows at its end, so nearly every lookup and insertion lands here.
    last: Option<(u64, Vec<T>)>,
    len: usize,
}

impl<T> Runs<T> {
    fn new() -> Runs<T> {
        Runs {
            runs: BTreeMap::new(),
            last: None,
            len: 0,
        }
    }

    fn get(&self, index: u64) -> Option<&T> {
        let (start, run) = match &self.last {
            Some((start, run)) if *start <= index => (*start, run),
            _ => {
                let (&start, run) = self.runs.range(..=index).next_back()?;
                (start, run)
            }
        };
        run.get(usize::try_from(index - start).ok()?)
    }

    fn get_mut(&mut self, index: u64) -> Option<&mut T> {
        let (start, run) = match &mut self.last {
            Some((start, run)) if *start <= index => (*start, run),
            _ => {
                let (&start, run) = self.runs.range_mut(..=index).next_back()?;
                (start, run)
            }
        };
        run.get_mut(usize::try_from(index - start).ok()?)
    }

    /// Adds a value at a position that has none yet.
    fn insert_new(&mut self, index: u64, value: T) {
        debug_assert!(self.get(index).is_none(), "position {index} already set");
        self.len += 1;
        match &mut self.last {
            Some((start, run)) if *start < index => {
                if *start + run.len() as u64 == index {
                    run.push(value);
                } else {
                    // A gap: a run of its own, now the last.
                    let (start, run) = self.last.take().expect("matched");
                    self.runs.insert(start, run);
                    self.last = Some((index, vec![value]));
                }
                return;
            }
            Some(_) => {}
            None => {
                self.last = Some((index, vec![value]));
                return;
            }
        }
        if let Some((&start, run)) = self.runs.range_mut(..index).next_back() {
            if start + run.len() as u64 == index {
                run.push(value);
                self.join_after(start, index + 1);
                return;
            }
        }
        self.runs.insert(index, vec![value]);
        self.join_after(index, index + 1);
    }

    /// The run in the map at `start` now ends just before `end`: if a run starts there,
    /// the two become one (the later one's values move: it began at a gap lately filled,
    /// so it is the shorter as a rule).
    fn join_after(&mut self, start: u64, end: u64) {
        if self.last.as_ref().is_some_and(|(s, _)| *s == end) {
            let (_, tail) = self.last.take().expect("checked");
            let mut run = self.runs.remove(&start).expect("the run just extended");
            run.extend(tail);
            self.last = Some((start, run));
        } else if let Some(tail) = self.runs.remove(&end) {
            self.runs
                .get_mut(&start)
                .expect("the run just extended")
                .extend(tail);
        }
    }
}

/// Raft §5.2 / ZAB / Paxos: at most one node becomes leader of any one term.
pub fn election_safety(events: &[NodeEvent]) -> Verdict {
    let mut first_leader: BTreeMap<u64, (u32, u64)> = BTreeMap::new();
    let mut terms = 0usize;
    for e in events {
        if let What::Role { leader: true, term } = e.what {
            match first_leader.get(&term) {
                None => {
                    first_leader.insert(term, (e.node, e.at_ns));
                    terms += 1;
                }
                Some(&(node, at)) if node != e.node => {
                    return Verdict::fail(format!(
                        "two leaders in term {term}: n{node} became leader at {} and n{} at {}",
                        ms(at),
                        e.node,
                        ms(e.at_ns)
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Verdict::pass(format!("{terms} terms had a leader, each exactly one"))
}

/// State-machine safety and committed-never-lost: every node that commits or applies an
/// index agrees on the entry there (its term and operation) with the first node that
/// committed it; and each node applies indexes in increasing order (a restart may start
/// again from the beginning of its log). With `voters` (0: none known), also one entry
/// chosen at each index by the acceptances reported ([`LogWatch::with_voters`]).
pub fn log_safety(events: &[NodeEvent], voters: usize) -> Verdict {
    let mut watch = LogWatch::with_voters(voters);
    for e in events {
        watch.observe(e);
    }
    watch.verdict()
}

/// [`log_safety`] as the events arrive, for a run too long to keep them: every commit and
/// apply is judged when it is observed, and [`LogWatch::observe`] says which of them the
/// other checkers still need: the first report of each index, its first commit (a reign's
/// act, for `split_brain`), and any that disagrees with them. The rest repeat what those
/// say, so a healthy run keeps about one report per index, not one per node.
pub struct LogWatch {
    agreed: Runs<Agreed>,
    /// How many voters a ballot's majority is drawn from; 0: acceptances are not judged.
    voters: usize,
    /// The entry chosen at each index (the first to win a majority of one ballot there).
    chosen: Runs<Chosen>,
    /// The acceptors that accepted an entry in a ballot, by (index, ballot, term, op),
    /// for the entries not chosen: a healthy run has a few, those of the slots still being
    /// voted on and of proposals a new leader overtook (their votes minorities for ever).
    tallies: BTreeMap<(u64, u64, u64, u64), Tally>,
    accepts: u64,
    /// Per node (by id), the highest ballot it accepted at each index: eight bytes per
    /// voter for every index a run's acceptors vote on.
    ballots: Vec<Runs<u64>>,
    /// Per node (by id), the last index it applied since it (re)started; 0 for none.
    last_applied: Vec<u64>,
    applies: u64,
    /// The first violation the record shows, and when.
    failure: Option<String>,
    failed_at_ns: u64,
    /// The first violation seen ahead of time ([`LogWatch::completeness`]), and when: a
    /// running simulation's finding, which the record alone does not show.
    foresight: Option<(u64, String)>,
}

/// The first commit or apply seen at an index. Forty bytes: a long run keeps one for
/// every index of its log.
struct Agreed {
    term: u64,
    at_ns: u64,
    /// The operation id, [`NO_OP`] for none.
    op: u64,
    /// The first state digest reported after applying it ...
    state: u64,
    node: u32,
    /// ... and the node that reported it (0: none yet; digests come from the simulator,
    /// whose node ids are at most `MAX_NODES` = 64).
    state_node: u8,
    /// The first report was an apply (not a commit).
    applied_first: bool,
    /// Whether a commit (not only an apply) of it has been seen.
    committed: bool,
}

/// [`Agreed::op`] of an entry that carries no client operation.
const NO_OP: u64 = u64::MAX;

/// The acceptors (a bit per node id 1..=64) that accepted an entry in a ballot, and when
/// the last of them did.
#[derive(Clone, Copy, Default)]
struct Tally {
    by: u64,
    at_ns: u64,
}

/// The entry chosen at an index, in the ballot whose majority chose it first. Forty
/// bytes, for every index a run's acceptors vote on.
#[derive(Clone, Copy)]
struct Chosen {
    ballot: u64,
    term: u64,
    op: u64,
    tally: Tally,
}

impl Chosen {
    fn describe(&self) -> String {
        let by: Vec<String> = (0..64)
            .filter(|b| self.tally.by & (1 << b) != 0)
            .map(|b| format!("n{}", b + 1))
            .collect();
        format!(
            "{} of term {} (ballot {}: accepted by {}, the last at {})",
            op_text((self.op != NO_OP).then_some(self.op)),
            self.term,
            self.ballot,
            by.join(", "),
            ms(self.tally.at_ns)
        )
    }
}

impl Agreed {
    fn op(&self) -> Option<u64> {
        (self.op != NO_OP).then_some(self.op)
    }

    fn how(&self) -> &'static str {
        if self.applied_first {
            "applied"
        } else {
            "committed"
        }
    }
}

impl Default for LogWatch {
    fn default() -> LogWatch {
        LogWatch::new()
    }
}

impl LogWatch {
    pub fn new() -> LogWatch {
        LogWatch {
            agreed: Runs::new(),
            voters: 0,
            chosen: Runs::new(),
            tallies: BTreeMap::new(),
            accepts: 0,
            ballots: Vec::new(),
            last_applied: Vec::new(),
            applies: 0,
            failure: None,
            failed_at_ns: 0,
            foresight: None,
        }
    }

    /// Also judges acceptances ([`What::Accepted`]): an entry is chosen at an index once
    /// a majority of `voters` (node ids 1 to 64) accepted it in one ballot, and two
    /// entries chosen at one index fail log safety, whether or not any node learned or
    /// applied the second. So does an acceptor that accepts an index in a lower ballot
    /// than one it accepted there before: accepting a ballot promises it (Paxos Made
    /// Simple's P1a), so a stale Accept must be refused, whether or not the value it
    /// carries ever wins. Without voters (`new`), acceptances are counted, not judged.
    pub fn with_voters(voters: usize) -> LogWatch {
        LogWatch {
            voters,
            ..LogWatch::new()
        }
    }

    /// Tallies an acceptance; a second entry chosen at its index is a failure.
    fn accepted(&mut self, e: &NodeEvent, index: u64, ballot: u64, term: u64, op: Option<u64>) {
        self.accepts += 1;
        if self.voters == 0 || self.failure.is_some() || !(1..=64).contains(&e.node) {
            return;
        }
        let node = e.node as usize;
        if node >= self.ballots.len() {
            self.ballots.resize_with(node + 1, Runs::new);
        }
        match self.ballots[node].get_mut(index) {
            Some(highest) if ballot < *highest => {
                self.failed_at_ns = e.at_ns;
                self.failure = Some(format!(
                    "n{} accepted index {index} in ballot {ballot} at {} after it had accepted it in ballot {}: accepting a ballot promises it, so an acceptor's vote at an index never goes back to a lower ballot",
                    e.node,
                    ms(e.at_ns),
                    *highest
                ));
                return;
            }
            Some(highest) => *highest = ballot,
            None => self.ballots[node].insert_new(index, ballot),
        }
        let op = op.unwrap_or(NO_OP);
        let first = self.chosen.get(index).copied();
        if first.is_some_and(|c| (c.term, c.op) == (term, op)) {
            return;
        }
        let tally = self.tallies.entry((index, ballot, term, op)).or_default();
        tally.by |= 1 << (e.node - 1);
        tally.at_ns = e.at_ns;
        if (tally.by.count_ones() as usize) < self.voters / 2 + 1 {
            return;
        }
        let won = Chosen {
            ballot,
            term,
            op,
            tally: *tally,
        };
        let Some(first) = first else {
            self.chosen.insert_new(index, won);
            // Later votes for it are dropped above; tallies of it in other ballots, left
            // by a leader that re-proposed it before its own ballot won, stay (a few).
            self.tallies.remove(&(index, ballot, term, op));
            return;
        };
        self.failed_at_ns = e.at_ns;
        self.failure = Some(format!(
            "two entries chosen at index {index}: {}, and {} (a majority of the {} voters accepted each in one ballot)",
            first.describe(),
            won.describe(),
            self.voters
        ));
    }

    /// Judges `e`; returns whether a checker reading the event list still needs it (false
    /// only for a commit or apply that repeats what its index's kept reports say, and for
    /// an acceptance, which only this checker reads).
    pub fn observe(&mut self, e: &NodeEvent) -> bool {
        let (index, term, op, commit, state) = match e.what {
            What::Accepted {
                index,
                ballot,
                term,
                op,
            } => {
                self.accepted(e, index, ballot, term, op);
                return false;
            }
            What::Commit { index, term, op } => (index, term, op, true, None),
            What::Apply {
                index,
                term,
                op,
                state,
            } => (index, term, op, false, state),
            What::Crash => {
                if let Some(last) = self.last_applied.get_mut(e.node as usize) {
                    *last = 0;
                }
                return true;
            }
            What::Role { .. } | What::Lease { .. } | What::ReadServed { .. } => return true,
        };
        if !commit && self.failure.is_none() {
            let node = e.node as usize;
            if node >= self.last_applied.len() {
                self.last_applied.resize(node + 1, 0);
            }
            let last = &mut self.last_applied[node];
            if index <= *last && index != 0 {
                self.failed_at_ns = e.at_ns;
                self.failure = Some(format!(
                    "n{} applied index {index} at {} after it had applied index {}: applies must go forward",
                    e.node,
                    ms(e.at_ns),
                    *last
                ));
            }
            *last = index;
            self.applies += 1;
        }
        let Some(first) = self.agreed.get_mut(index) else {
            self.agreed.insert_new(
                index,
                Agreed {
                    term,
                    op: op.unwrap_or(NO_OP),
                    node: e.node,
                    at_ns: e.at_ns,
                    applied_first: !commit,
                    committed: commit,
                    state: state.unwrap_or(0),
                    state_node: if state.is_some() { e.node as u8 } else { 0 },
                },
            );
            return true;
        };
        let first_commit = commit && !first.committed;
        first.committed |= commit;
        if (first.term, first.op()) == (term, op) {
            let Some(digest) = state else {
                return first_commit;
            };
            if first.state_node == 0 {
                first.state = digest;
                first.state_node = e.node as u8;
                return first_commit;
            }
            if first.state == digest {
                return first_commit;
            }
            if self.failure.is_none() {
                self.failed_at_ns = e.at_ns;
                self.failure = Some(format!(
                    "state machines diverge at index {index}: n{} applied {} of term {term} at {} to a state that differs from the one n{} applied it to (the same log from different states: an update before index {index} lost or doubled)",
                    e.node,
                    op_text(op),
                    ms(e.at_ns),
                    first.state_node
                ));
            }
            return true;
        }
        if self.failure.is_none() {
            let how = if commit { "committed" } else { "applied" };
            self.failed_at_ns = e.at_ns;
            self.failure = Some(format!(
                "logs diverge at index {index}: n{} {} {} of term {} at {}, but n{} {how} {} of term {term} at {}",
                first.node,
                first.how(),
                op_text(first.op()),
                first.term,
                ms(first.at_ns),
                e.node,
                op_text(op),
                ms(e.at_ns)
            ));
        }
        true
    }

    /// The verdict on everything observed so far: the record's ([`LogWatch::record_verdict`])
    /// and what was seen ahead of time ([`LogWatch::completeness`]), the earlier violation
    /// first when both failed.
    pub fn verdict(&self) -> Verdict {
        let record = self.record_verdict();
        match (&self.foresight, &self.failure) {
            (None, _) => record,
            (Some((_, ahead)), None) => Verdict::fail(ahead.clone()),
            (Some((at, ahead)), Some(seen)) if *at <= self.failed_at_ns => {
                Verdict::fail(format!("{ahead}; later, {seen}"))
            }
            (Some(_), Some(_)) => record,
        }
    }

    /// The verdict on the record alone: what [`log_safety`] gives for the same events.
    pub fn record_verdict(&self) -> Verdict {
        match &self.failure {
            Some(why) => Verdict::fail(why.clone()),
            None if self.voters > 0 && self.accepts > 0 => Verdict::pass(format!(
                "{} indexes committed or applied, {} applies, all nodes agree; {} acceptances, never two entries chosen at one index",
                self.agreed.len, self.applies, self.accepts
            )),
            None => Verdict::pass(format!(
                "{} indexes committed or applied, {} applies, all nodes agree",
                self.agreed.len, self.applies
            )),
        }
    }
}

/// How a node would stand in an election whose voters compare logs (Raft §5.4.1: a vote
/// goes only to a candidate whose log is at least as up to date as the voter's), for
/// [`LogWatch::completeness`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The last entry, as (term, index), of the log it would campaign with: the one it
    /// holds, or for a crashed node the one it restarts with.
    pub last: (u64, u64),
    /// The voters of the configuration it would campaign in (node ids).
    pub members: Vec<u32>,
    /// The last entry of the log it would vote with: its durable log's (a live voter can
    /// crash and restart before the vote; it acknowledged only what it wrote).
    pub vote_last: (u64, u64),
    /// The voters of the configuration it would campaign in after a crash and restart,
    /// with the log it would vote with (a live node may crash first, and stand so).
    pub restart_members: Vec<u32>,
    /// Crashed: it campaigns and votes as it would restart.
    pub crashed: bool,
}

/// The committed entry a completeness check holds every electable node to: the latest
/// (by term, then index) any node reported committed, and who reported it when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    pub term: u64,
    pub index: u64,
    pub node: u32,
    pub at_ns: u64,
}

impl LogWatch {
    /// Leader completeness ahead of time (Raft §5.4.3: a leader's log holds every entry
    /// committed before its term). Fails when some node whose log lacks `committed` (its
    /// last entry is older) could win an election: the nodes of its configuration whose
    /// logs (as they would vote) stand no higher than its own make a majority of it, so
    /// once the others are cut off it wins, and as leader it overwrites the committed
    /// entry wherever its log differs. A live node stands both as it is and as it would
    /// restart (its `vote_last` in its `restart_members`): it may crash first. `standings[i]` is node `i + 1`'s; None for a node
    /// that takes no part (lost for good, an observer), which neither stands nor votes.
    /// `only` limits the candidates looked at to one node (by index into `standings`),
    /// when only its own standing changed, its vote rising or holding, since the last
    /// check: that makes no other electable.
    /// `position` words a (term, index) as the protocol speaks of it, and `rule` says how
    /// its voters rank candidates. Called whenever a standing or `committed` changes; the
    /// first failure stays.
    pub fn completeness(
        &mut self,
        at_ns: u64,
        standings: &[Option<Standing>],
        only: Option<usize>,
        committed: &Committed,
        position: impl Fn(u64, u64) -> String,
        rule: &str,
    ) {
        if self.foresight.is_some() || self.failure.is_some() {
            return;
        }
        let target = (committed.term, committed.index);
        let standing_of = |m: u32| {
            let i = (m as usize).checked_sub(1)?;
            standings.get(i).and_then(|v| v.as_ref())
        };
        let candidates = match only {
            Some(i) => i..(i + 1).min(standings.len()),
            None => 0..standings.len(),
        };
        for i in candidates {
            let Some(s) = standings[i].as_ref() else {
                continue;
            };
            // As it stands now, and (a live node) as it would stand after a crash.
            let ways = [
                (s.last, &s.members[..], s.crashed),
                (s.vote_last, &s.restart_members[..], true),
            ];
            let electable =
                ways.into_iter()
                    .take(if s.crashed { 1 } else { 2 })
                    .find(|&(last, members, _)| {
                        last < target
                            && members
                                .iter()
                                .filter(|&&m| standing_of(m).is_some_and(|v| v.vote_last <= last))
                                .count()
                                > members.len() / 2
                    });
            let Some((last, members, restarted)) = electable else {
                continue;
            };
            let voters: Vec<u32> = members
                .iter()
                .copied()
                .filter(|&m| standing_of(m).is_some_and(|v| v.vote_last <= last))
                .collect();
            let names = |ids: &[u32], crashed: bool| {
                ids.iter()
                    .map(|&m| {
                        let down = crashed && standing_of(m).is_some_and(|v| v.crashed);
                        format!("n{m}{}", if down { " (crashed)" } else { "" })
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let why = format!(
                "n{} could be elected without the entry n{} committed at {} ({}): it stands at {}{}, and {}, a majority of its configuration {{{}}}, stand no higher as voters ({rule}); cut off from the others it wins, and as leader overwrites the committed entry (leader completeness, seen at {})",
                i + 1,
                committed.node,
                ms(committed.at_ns),
                position(committed.term, committed.index),
                position(last.0, last.1),
                match (s.crashed, restarted) {
                    (true, _) => " as it restarts",
                    (false, true) => " once it crashes and restarts (its log on disk)",
                    (false, false) => "",
                },
                names(&voters, true),
                names(members, false),
                ms(at_ns)
            );
            self.foresight = Some((at_ns, why));
            return;
        }
    }
}

/// No acknowledged write is lost: every write (or successful cas) a client saw succeed
/// must have been committed by some node by the end of the record. Together with
/// `log_safety` (a committed index never changes its entry) this means it stays.
/// `acked` lists (operation id, true time the client got its answer).
pub fn acknowledged_writes(events: &[NodeEvent], acked: &[(u64, u64)]) -> Verdict {
    // The acknowledged operations no commit has been seen for yet: the events are read
    // until none is left, so that the set is the size of the acknowledgements, not of
    // every commit and apply of every node.
    let mut unseen: std::collections::BTreeSet<u64> = acked.iter().map(|&(op, _)| op).collect();
    for e in events {
        if unseen.is_empty() {
            break;
        }
        if let What::Commit { op: Some(op), .. } | What::Apply { op: Some(op), .. } = e.what {
            unseen.remove(&op);
        }
    }
    let lost: Vec<&(u64, u64)> = acked.iter().filter(|(op, _)| unseen.contains(op)).collect();
    match lost.first() {
        None => Verdict::pass(format!("{} acknowledged writes, all committed", acked.len())),
        Some((op, at)) => Verdict::fail(format!(
            "{} acknowledged writes were never committed by any node; the first, op{op}, was acknowledged at {}",
            lost.len(),
            ms(*at)
        )),
    }
}

/// When a node acted as leader, from its `Role{leader}` report to its next role report or
/// crash (or `end_ns`, the end of the run, for a reign still open then).
#[derive(Clone, Debug)]
struct Reign {
    node: u32,
    term: u64,
    from_ns: u64,
    until_ns: u64,
    /// Times it committed a new index or served a read without the log while leading
    /// (kept only for the reigns asked for: see `reigns`).
    acts: Vec<(u64, &'static str)>,
}

/// A reign's act of answering a client on its own authority.
const READ: &str = "served a read";

/// Every reign, sorted by when it began. Acts are kept only for the reigns `acts_of`
/// names by (node, from_ns), and none when it is `None`: a healthy leader commits every
/// index of a long run, and only reigns that overlap another of their term need them.
fn reigns(events: &[NodeEvent], end_ns: u64, acts_of: Option<&BTreeSet<(u32, u64)>>) -> Vec<Reign> {
    let mut open: BTreeMap<u32, Reign> = BTreeMap::new();
    let mut done = Vec::new();
    let end = end_ns.max(events.last().map_or(0, |e| e.at_ns));
    let mut first_commit: Runs<()> = Runs::new();
    let wanted = |r: &Reign| acts_of.is_some_and(|of| of.contains(&(r.node, r.from_ns)));
    for e in events {
        match e.what {
            What::Role { leader, term } => {
                if let Some(r) = open.remove(&e.node) {
                    done.push(Reign {
                        until_ns: e.at_ns,
                        ..r
                    });
                }
                if leader {
                    open.insert(
                        e.node,
                        Reign {
                            node: e.node,
                            term,
                            from_ns: e.at_ns,
                            until_ns: end,
                            acts: Vec::new(),
                        },
                    );
                }
            }
            What::Crash => {
                if let Some(r) = open.remove(&e.node) {
                    done.push(Reign {
                        until_ns: e.at_ns,
                        ..r
                    });
                }
            }
            What::Commit { index, .. } if acts_of.is_some() => {
                // Only a commit of an index nobody had committed before is an act of
                // leadership; learning an old commit is not.
                if first_commit.get(index).is_none() {
                    first_commit.insert_new(index, ());
                    if let Some(r) = open.get_mut(&e.node).filter(|r| wanted(r)) {
                        r.acts.push((e.at_ns, "committed"));
                    }
                }
            }
            What::ReadServed { .. } => {
                if let Some(r) = open.get_mut(&e.node).filter(|r| wanted(r)) {
                    r.acts.push((e.at_ns, READ));
                }
            }
            What::Commit { .. }
            | What::Apply { .. }
            | What::Accepted { .. }
            | What::Lease { .. } => {}
        }
    }
    done.extend(open.into_values());
    done.sort_by_key(|r| (r.from_ns, r.node));
    done
}

/// How long each election took: for every leader after the first moment no node led, the
/// time from then until it took office. Returns (leader node, term, took office at,
/// nanoseconds without a leader). Leaders that replaced a still-acting one (a deposed
/// leader that had not noticed) count from the moment the last acting leader stopped.
pub fn election_times(events: &[NodeEvent]) -> Vec<(u32, u64, u64, u64)> {
    let mut acting: BTreeMap<u32, u64> = BTreeMap::new();
    let mut leaderless_since = Some(0u64);
    let mut out = Vec::new();
    for e in events {
        match e.what {
            What::Role { leader: true, term } => {
                if let Some(since) = leaderless_since.take() {
                    out.push((e.node, term, e.at_ns, e.at_ns - since));
                }
                acting.insert(e.node, term);
            }
            What::Role { leader: false, .. } | What::Crash => {
                let was_leading = acting.remove(&e.node).is_some();
                if was_leading && acting.is_empty() {
                    leaderless_since = Some(e.at_ns);
                }
            }
            _ => {}
        }
    }
    out
}

/// Split brain: a leader acts as one after it was deposed, or two leaders of one term both
/// act.
///
/// - A read answered on a leader's own authority (a lease or local read, `ReadServed`) is
///   split brain when a leader of a later term had already taken office: the reader was
///   deposed and did not know it, so the value it answered may already be overwritten
///   (thesis §6.4: a leader must know it still leads before it answers alone).
/// - Two leaders of the *same* term that both commit a new index or serve such a read
///   while both lead are split brain too (Raft §5.2; `election_safety` reports the two
///   elections, this check that both acted).
///
/// What is not: a deposed leader that has not noticed yet and does nothing, or commits. A
/// deposed Raft leader may still learn, from acks already in flight, that an entry of its
/// own term is on a majority and commit it (§5.4): that is true, and leader completeness
/// puts the entry in every later leader's log. Commits that disagree are a log safety
/// violation, which `log_safety` reports. Nor is the new leader's read while the old one
/// commits: the new leader is the one that leads.
pub fn split_brain(events: &[NodeEvent]) -> Verdict {
    // (true time, sentence) of the earliest violation found by either rule.
    let mut first: Option<(u64, String)> = None;
    // Rule 1, in event order (a leader that took office at the same true time but later in
    // the record had not yet deposed the reader).
    let mut leading: BTreeMap<u32, u64> = BTreeMap::new();
    let mut took_office: BTreeMap<(u64, u32), u64> = BTreeMap::new();
    for e in events {
        match e.what {
            What::Role { leader, term } => {
                leading.remove(&e.node);
                if leader {
                    leading.insert(e.node, term);
                    took_office.entry((term, e.node)).or_insert(e.at_ns);
                }
            }
            What::Crash => {
                leading.remove(&e.node);
            }
            What::ReadServed { .. } => {
                let Some(&term) = leading.get(&e.node) else {
                    continue;
                };
                let deposer = took_office
                    .range((term + 1, 0)..)
                    .filter(|(&(_, node), _)| node != e.node)
                    .min_by_key(|(&(t, node), &at)| (at, t, node));
                if let Some((&(later, node), &at)) = deposer {
                    first = Some((
                        e.at_ns,
                        format!(
                            "split brain: n{} (leader of term {term}) served a read on its own authority at {}, after n{node} became leader of term {later} at {}: it had been deposed",
                            e.node,
                            ms(e.at_ns),
                            ms(at)
                        ),
                    ));
                    break;
                }
            }
            What::Commit { .. }
            | What::Apply { .. }
            | What::Accepted { .. }
            | What::Lease { .. } => {}
        }
    }
    // Rule 2: two leaders of one term, both acting while both lead. Acts happen at events,
    // so reigns need last no longer than the last event here. Only reigns of one term
    // that overlap can clash, and only their acts are gathered, in a second pass when
    // there are any: a healthy run has none.
    let all = reigns(events, 0, None);
    let pairs = same_term_overlaps(&all);
    let reigns = if pairs.is_empty() {
        all
    } else {
        let clashing: BTreeSet<(u32, u64)> = pairs
            .iter()
            .flat_map(|&(i, j)| [&all[i], &all[j]])
            .map(|r| (r.node, r.from_ns))
            .collect();
        reigns(events, 0, Some(&clashing))
    };
    for &(i, j) in &pairs {
        let (a, b) = (&reigns[i], &reigns[j]);
        let (lo, hi) = (a.from_ns.max(b.from_ns), a.until_ns.min(b.until_ns));
        let within = |r: &'_ Reign| r.acts.iter().find(|(t, _)| *t >= lo && *t <= hi).copied();
        if let Some(((ta, wa), (tb, wb))) = within(a).zip(within(b)) {
            let at = ta.max(tb);
            if first.as_ref().is_none_or(|(t, _)| at < *t) {
                first = Some((
                    at,
                    format!(
                        "split brain between {} and {}: n{} (leader of term {}) {wa} at {} while n{} (leader of term {}) {wb} at {}",
                        ms(lo),
                        ms(hi),
                        a.node,
                        a.term,
                        ms(ta),
                        b.node,
                        b.term,
                        ms(tb)
                    ),
                ));
            }
        }
    }
    match first {
        Some((_, detail)) => Verdict::fail(detail),
        None => Verdict::pass(format!(
            "{} leaderships, none acting at once with another",
            reigns.len()
        )),
    }
}

/// Pairs (i, j), i < j, of reigns of one term by two nodes that overlap in time, in that
/// order. Reigns are sorted by when they began, so the reigns that overlap reign i and
/// began after it are those that follow it up to the first that began after it ended.
fn same_term_overlaps(reigns: &[Reign]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for (i, a) in reigns.iter().enumerate() {
        for (j, b) in reigns
            .iter()
            .enumerate()
            .skip(i + 1)
            .take_while(|(_, b)| b.from_ns < a.until_ns)
        {
            if a.node != b.node && a.term == b.term {
                pairs.push((i, j));
            }
        }
    }
    pairs
}

/// A read lease as the record holds it: held by `node` for `term` from the moment it was
/// reported until the true time it ends, or until its holder reported another end for it,
/// stepped down or crashed (whichever comes first).
struct HeldLease {
    node: u32,
    term: u64,
    from_ns: u64,
    until_ns: u64,
}

/// Lease exclusivity in true time (thesis §6.4.1): no read lease of one term is held while
/// a leader of a later term leads. Every lease interval is compared with every later
/// leader's reign, whichever was recorded first: a leader elected inside a lease that still
/// holds, and a lease taken or extended while a later leader already leads (a paused
/// leader that resumes and counts acknowledgements queued during the pause) both fail,
/// whether or not a read happens to be served in the overlap. Finds a lease bug before a
/// stale read is observed. A lease holds while its holder leads: one that steps down (it
/// saw a higher term) or crashes serves no more reads from it, and may then vote for the
/// next leader itself.
pub fn lease_exclusivity(events: &[NodeEvent]) -> Verdict {
    let mut held: Vec<HeldLease> = Vec::new();
    // (node, term) -> its latest report in `held`, while it may still hold.
    let mut open: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    // The term each node leads (None: it reported that it does not lead, or crashed).
    let mut leads: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    for e in events {
        match e.what {
            What::Lease { term, until_ns } => {
                // A report about a lease its holder no longer leads by is not a lease (the
                // simulator re-times the lease a node last took when its clock changes,
                // even after it stepped down). A node that never said its role is taken
                // at its word.
                if leads.get(&e.node).is_some_and(|&t| t != Some(term)) {
                    continue;
                }
                // A later report replaces an earlier one: an extension moves the end later,
                // a clock step can move it either way.
                if let Some(i) = open.insert((e.node, term), held.len()) {
                    held[i].until_ns = held[i].until_ns.min(e.at_ns);
                }
                held.push(HeldLease {
                    node: e.node,
                    term,
                    from_ns: e.at_ns,
                    until_ns,
                });
            }
            What::Crash | What::Role { .. } => {
                // A crashed node's lease dies with its memory of it; a deposed leader's
                // with its leadership.
                let keep = match e.what {
                    What::Role { leader: true, term } => Some(term),
                    _ => None,
                };
                leads.insert(e.node, keep);
                open.retain(|&(node, t), &mut i| {
                    let ends = node == e.node && keep != Some(t);
                    if ends {
                        held[i].until_ns = held[i].until_ns.min(e.at_ns);
                    }
                    !ends
                });
            }
            _ => {}
        }
    }
    // An open reign lasts for ever: a lease reported at the record's last event still
    // overlaps it.
    let reigns = reigns(events, u64::MAX, None);
    // The earliest clash, as (start of the overlap, lease, reign): the first lease and
    // then the first reign in their orders among those whose overlap starts earliest.
    // The reigns a lease from `from_ns` to `until_ns` can clash with are those that began
    // before it and still led at `from_ns` (at most one per node: a node's reigns do not
    // overlap) and those that began while it held. Leases are visited by start time, and
    // each node's latest reign begun before the current lease is kept as the sweep
    // passes it, so each lease looks at a handful of reigns, not all of them.
    let mut clash: Option<(u64, usize, usize)> = None;
    let mut by_start: Vec<usize> = (0..held.len())
        .filter(|&i| held[i].until_ns > held[i].from_ns)
        .collect();
    by_start.sort_by_key(|&i| held[i].from_ns);
    let mut begun = 0;
    // Reigns that began before the current lease and may still lead, by node.
    let mut leading: BTreeMap<u32, usize> = BTreeMap::new();
    for li in by_start {
        let lease = &held[li];
        while begun < reigns.len() && reigns[begun].from_ns < lease.from_ns {
            leading.insert(reigns[begun].node, begun);
            begun += 1;
        }
        let still_leading = leading
            .values()
            .copied()
            .filter(|&ri| reigns[ri].until_ns > lease.from_ns);
        let began_inside =
            (begun..reigns.len()).take_while(|&ri| reigns[ri].from_ns < lease.until_ns);
        for ri in still_leading.chain(began_inside) {
            let r = &reigns[ri];
            if r.node == lease.node || r.term <= lease.term {
                continue;
            }
            let at = lease.from_ns.max(r.from_ns);
            if clash.is_none_or(|best| (at, li, ri) < best) {
                clash = Some((at, li, ri));
            }
        }
    }
    let first = clash.map(|(at, li, ri)| {
        let (lease, r) = (&held[li], &reigns[ri]);
        let elected_inside = lease.from_ns <= r.from_ns;
        let detail = if elected_inside {
            format!(
                "n{} became leader of term {} at {} while n{}'s lease for term {} held until {}",
                r.node,
                r.term,
                ms(r.from_ns),
                lease.node,
                lease.term,
                ms(lease.until_ns)
            )
        } else {
            format!(
                "n{} extended its lease for term {} at {} to {}, while n{} had led term {} since {}",
                lease.node,
                lease.term,
                ms(lease.from_ns),
                ms(lease.until_ns),
                r.node,
                r.term,
                ms(r.from_ns)
            )
        };
        (at, detail)
    });
    if let Some((_, detail)) = first {
        return Verdict::fail(detail);
    }
    if held.is_empty() {
        Verdict::pass("no leases were taken")
    } else {
        Verdict::pass(format!(
            "{} lease extensions, none overlapping a later leader",
            held.len()
        ))
    }
}

/// Liveness after the last fault heals: by `heal_ns + within_ns` some node acts as leader,
/// and an operation invoked at or after `heal_ns` completed successfully. `ops` holds each
/// operation's invocation time and, if it succeeded, its completion time. Unknown when the
/// record ends before the bound.
pub fn liveness(
    events: &[NodeEvent],
    ops: &[(u64, Option<u64>)],
    heal_ns: u64,
    within_ns: u64,
    end_ns: u64,
) -> Verdict {
    let deadline = heal_ns.saturating_add(within_ns);
    if deadline > end_ns {
        return Verdict {
            result: Outcome::Unknown,
            detail: format!(
                "unknown: the run ended at {}, before the bound {} ({} after the last heal at {})",
                ms(end_ns),
                ms(deadline),
                ms(within_ns),
                ms(heal_ns)
            ),
        };
    }
    // Prefer a leader elected after the heal over one left from before it (which may be
    // deposed without knowing it yet). A reign nothing ended lasts to the end of the run,
    // however long ago its last reported event (a read-only workload commits nothing).
    let all = reigns(events, end_ns, None);
    let leading = all
        .iter()
        .rev()
        .find(|r| r.from_ns >= heal_ns && r.from_ns <= deadline)
        .or_else(|| {
            all.iter()
                .find(|r| r.until_ns > heal_ns && r.from_ns <= deadline)
        })
        .cloned();
    let Some(leader) = leading else {
        return Verdict::fail(format!(
            "no node acted as leader between the last heal at {} and {}",
            ms(heal_ns),
            ms(deadline)
        ));
    };
    if ops.is_empty() {
        return Verdict::pass(format!(
            "n{} led term {} after the last heal; no operations to complete",
            leader.node, leader.term
        ));
    }
    let first = ops
        .iter()
        .filter(|(invoked, _)| *invoked >= heal_ns)
        .filter_map(|(_, done)| *done)
        .min();
    match first {
        Some(t) if t <= deadline => Verdict::pass(format!(
            "n{} led term {} after the last heal at {}; the first new operation completed {} later",
            leader.node,
            leader.term,
            ms(heal_ns),
            ms(t - heal_ns)
        )),
        Some(t) => Verdict::fail(format!(
            "the first operation invoked after the last heal at {} completed only at {}, past the bound {}",
            ms(heal_ns),
            ms(t),
            ms(deadline)
        )),
        None => Verdict::fail(format!(
            "no operation invoked after the last heal at {} completed (bound {})",
            ms(heal_ns),
            ms(deadline)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_find_what_a_map_of_every_position_finds() {
        let mut runs: Runs<u64> = Runs::new();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut x: u64 = 99;
        let mut end = 1;
        for step in 0..5_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly the next position; sometimes a gap ahead, sometimes one behind.
            let index = match (x >> 40) % 10 {
                0 => end + (x >> 20) % 5,
                1 => 1 + (x >> 20) % end,
                _ => end,
            };
            if model.contains_key(&index) {
                continue;
            }
            runs.insert_new(index, step);
            model.insert(index, step);
            end = end.max(index + 1);
            let probe = (x >> 12) % (end + 2);
            assert_eq!(runs.get(probe), model.get(&probe), "position {probe}");
            if let (Some(a), Some(b)) = (runs.get_mut(probe), model.get_mut(&probe)) {
                *a += 1;
                *b += 1;
            }
        }
        for i in 0..end + 2 {
            assert_eq!(runs.get(i), model.get(&i), "position {i}");
        }
        assert_eq!(runs.len, model.len());
        // Runs that touch are joined: as many runs as the model has stretches.
        let stretches = model
            .keys()
            .zip(model.keys().skip(1))
            .filter(|(a, b)| **a + 1 != **b)
            .count()
            + 1;
        assert_eq!(
            runs.runs.len() + usize::from(runs.last.is_some()),
            stretches
        );
    }

    /// A long run keeps one agreed entry per index of its log (issue #13).
    #[test]
    fn log_safety_keeps_forty_bytes_per_index() {
        assert_eq!(std::mem::size_of::<Agreed>(), 40);
        // And forty more where acceptors vote.
        assert_eq!(std::mem::size_of::<Chosen>(), 40);
    }

    fn ev(at_ns: u64, node: u32, what: What) -> NodeEvent {
        NodeEvent { at_ns, node, what }
    }

    #[test]
    fn two_leaders_in_one_term_fail_election_safety_and_name_both() {
        let events = vec![
            ev(
                1,
                1,
                What::Role {
                    leader: true,
                    term: 2,
                },
            ),
            ev(
                2,
                1,
                What::Role {
                    leader: false,
                    term: 3,
                },
            ),
            ev(
                3,
                2,
                What::Role {
                    leader: true,
                    term: 3,
                },
            ),
            ev(
                4,
                3,
                What::Role {
                    leader: true,
                    term: 3,
                },
            ),
        ];
        let v = election_safety(&events);
        assert_eq!(v.result, Outcome::Fail);
        assert!(
            v.detail.contains("term 3") && v.detail.contains("n2") && v.detail.contains("n3"),
            "{v}"
        );
        assert_eq!(election_safety(&events[..3]).result, Outcome::Pass);
    }

    /// n accepted `op` of `term` at index 5 in `ballot`, at `at_ns`.
    fn accepted(at_ns: u64, node: u32, ballot: u64, term: u64, op: Option<u64>) -> NodeEvent {
        ev(
            at_ns,
            node,
            What::Accepted {
                index: 5,
                ballot,
                term,
                op,
            },
        )
    }

    fn judged(voters: usize, events: &[NodeEvent]) -> Verdict {
        let mut watch = LogWatch::with_voters(voters);
        for e in events {
            assert!(
                !watch.observe(e),
                "an acceptance is kept for no other checker"
            );
        }
        watch.verdict()
    }

    /// A node's standing for the completeness check.
    fn standing(
        last: (u64, u64),
        members: &[u32],
        vote_last: (u64, u64),
        crashed: bool,
    ) -> Option<Standing> {
        Some(Standing {
            last,
            members: members.to_vec(),
            vote_last,
            restart_members: members.to_vec(),
            crashed,
        })
    }

    #[test]
    fn a_node_that_lacks_a_committed_entry_and_could_win_an_election_fails_log_safety() {
        // Raft's membership bug (raft-dev, 2015): n1 led term 1 over {1,2,3,4}, appended a
        // change adding n5 and reached only n5; n2 led term 2 and, before its term
        // committed, removed n1, which committed on n2 and n3 (index 3, term 2). n1's
        // configuration {1..5} still has a majority behind its log: itself, n4 (which never
        // wrote term 2's entries) and n5.
        let four: &[u32] = &[1, 2, 3, 4];
        let five: &[u32] = &[1, 2, 3, 4, 5];
        let three: &[u32] = &[2, 3, 4];
        let committed = Committed {
            term: 2,
            index: 3,
            node: 2,
            at_ns: 2_000_000_000,
        };
        let mut cluster = vec![
            standing((1, 2), five, (1, 2), false),
            standing((2, 3), three, (2, 3), false),
            standing((2, 3), three, (2, 3), false),
            standing((1, 1), four, (1, 1), true),
            standing((1, 2), five, (1, 2), false),
        ];
        let judged = |cluster: &[Option<Standing>]| {
            let mut watch = LogWatch::new();
            let position = |term, index| format!("term {term}, index {index}");
            watch.completeness(
                3_000_000_000,
                cluster,
                None,
                &committed,
                position,
                "the rule",
            );
            watch.verdict()
        };
        let v = judged(&cluster);
        assert_eq!(v.result, Outcome::Fail, "{v}");
        assert!(
            v.detail.starts_with(
                "n1 could be elected without the entry n2 committed at 2.000s (term 2, index 3): it stands at term 1, index 2, and n1, n4 (crashed), n5, a majority of its configuration {n1, n2, n3, n4, n5}, stand no higher as voters (the rule)"
            ),
            "{v}"
        );
        // Once n4 writes term 2's entries, n1 has two voters of five: it cannot win.
        cluster[3] = standing((2, 3), three, (2, 3), false);
        assert_eq!(judged(&cluster).result, Outcome::Pass);
        // n4 has them in memory but not on disk: it could crash and vote for n1.
        cluster[3] = standing((2, 3), three, (1, 1), false);
        assert_eq!(judged(&cluster).result, Outcome::Fail);
        // A node lost for good votes no more.
        cluster[3] = None;
        assert_eq!(judged(&cluster).result, Outcome::Pass);
        // n2, n3 and n4 hold the entry in memory only, not yet on disk: n2 could crash,
        // restart without it, and win with its own vote and theirs.
        let restarting = vec![
            standing((2, 3), three, (2, 3), false),
            standing((2, 3), three, (1, 2), false),
            standing((2, 3), three, (1, 2), false),
            standing((2, 3), three, (1, 1), false),
        ];
        let v = judged(&restarting);
        assert_eq!(v.result, Outcome::Fail, "{v}");
        assert!(
            v.detail.starts_with(
                "n2 could be elected without the entry n2 committed at 2.000s (term 2, index 3): it stands at term 1, index 2 once it crashes and restarts (its log on disk), and n2, n3, n4, a majority of its configuration {n2, n3, n4}"
            ),
            "{v}"
        );
        // A node behind the commit in a configuration whose majority holds it (n4 lags
        // in {2,3,4}) is an ordinary lagging follower.
        let lagging = [
            standing((2, 3), three, (2, 3), false),
            standing((2, 3), three, (2, 3), false),
            standing((2, 3), three, (2, 3), false),
            standing((1, 1), three, (1, 1), false),
        ];
        assert_eq!(judged(&lagging).result, Outcome::Pass);
    }

    #[test]
    fn a_completeness_failure_comes_first_only_when_it_came_first_and_the_record_keeps_its_own_verdict(
    ) {
        let commit = |at_ns, node, term, op| {
            ev(
                at_ns,
                node,
                What::Commit {
                    index: 3,
                    term,
                    op: Some(op),
                },
            )
        };
        let committed = Committed {
            term: 2,
            index: 3,
            node: 2,
            at_ns: 10,
        };
        // n1, behind, has n1 and n3 of {1,2,3} behind it.
        let behind = [
            standing((1, 2), &[1, 2, 3], (1, 2), false),
            standing((2, 3), &[1, 2, 3], (2, 3), false),
            standing((1, 1), &[1, 2, 3], (1, 1), false),
        ];
        let position = |term, index| format!("term {term}, index {index}");
        // Seen ahead at 20, then the logs diverge at 30: both, in that order.
        let mut watch = LogWatch::new();
        watch.observe(&commit(10, 2, 2, 7));
        watch.completeness(20, &behind, None, &committed, position, "rule");
        watch.observe(&commit(30, 1, 3, 8));
        let v = watch.verdict();
        assert_eq!(v.result, Outcome::Fail, "{v}");
        assert!(
            v.detail
                .starts_with("n1 could be elected without the entry n2 committed")
                && v.detail.contains("; later, logs diverge at index 3"),
            "{v}"
        );
        let record = watch.record_verdict();
        assert!(
            record.detail.starts_with("logs diverge at index 3"),
            "{record}"
        );
        // The record failed first: the check ahead has nothing to add.
        let mut watch = LogWatch::new();
        watch.observe(&commit(10, 2, 2, 7));
        watch.observe(&commit(15, 1, 3, 8));
        watch.completeness(20, &behind, None, &committed, position, "rule");
        assert_eq!(watch.verdict(), watch.record_verdict());
        assert_eq!(watch.verdict().result, Outcome::Fail);
    }

    #[test]
    fn two_entries_chosen_at_one_index_fail_log_safety_though_no_node_learned_either() {
        // Ballot 10 chose op7 (n1, n2 of 3); a stale accept of ballot 8 then reached n3 and
        // n1 again, which had accepted op9 there before: op9 is chosen too.
        let events = [
            accepted(10, 1, 8, 8, Some(9)),
            accepted(20, 1, 10, 10, Some(7)),
            accepted(21, 2, 10, 10, Some(7)),
            accepted(30, 3, 8, 8, Some(9)),
        ];
        let v = judged(3, &events);
        assert_eq!(v.result, Outcome::Fail, "{v}");
        assert!(
            v.detail.contains("two entries chosen at index 5")
                && v.detail
                    .contains("op7 of term 10 (ballot 10: accepted by n1, n2")
                && v.detail
                    .contains("op9 of term 8 (ballot 8: accepted by n1, n3"),
            "{v}"
        );
        // Without a count of voters, acceptances are not judged.
        assert_eq!(log_safety(&events, 0).result, Outcome::Pass);
    }

    #[test]
    fn an_acceptor_that_accepts_a_lower_ballot_after_a_higher_one_at_an_index_fails_log_safety() {
        // n1 accepted op7 in ballot 10, then a stale accept of ballot 8 reached it and it
        // took that too: its promise should have refused it, chosen or not.
        let events = [
            accepted(10, 1, 10, 10, Some(7)),
            accepted(11, 1, 10, 10, Some(7)),
            accepted(12, 2, 8, 8, Some(9)),
            accepted(13, 2, 12, 8, Some(9)),
            accepted(20, 1, 8, 8, Some(9)),
        ];
        // Again in the same ballot, or in a higher one, is no step back.
        assert_eq!(judged(5, &events[..4]).result, Outcome::Pass);
        let v = judged(5, &events);
        assert_eq!(v.result, Outcome::Fail, "{v}");
        assert!(
            v.detail.starts_with(
                "n1 accepted index 5 in ballot 8 at 0.000ms after it had accepted it in ballot 10"
            ),
            "{v}"
        );
        // Another index is another vote.
        let mut elsewhere = events[4].clone();
        if let What::Accepted { index, .. } = &mut elsewhere.what {
            *index = 6;
        }
        let mut moved = events[..4].to_vec();
        moved.push(elsewhere);
        assert_eq!(judged(5, &moved).result, Outcome::Pass);
    }

    #[test]
    fn an_entry_chosen_again_in_later_ballots_or_a_rival_short_of_a_majority_passes() {
        let events = [
            // op7 chosen in ballot 10 by three of five.
            accepted(10, 1, 10, 10, Some(7)),
            accepted(11, 2, 10, 10, Some(7)),
            accepted(12, 3, 10, 10, Some(7)),
            // A rival accepted by two in an older ballot, and by two in a newer one: no
            // ballot gives it a majority.
            accepted(13, 4, 8, 8, Some(9)),
            accepted(14, 5, 8, 8, Some(9)),
            accepted(15, 4, 12, 8, Some(9)),
            accepted(16, 5, 12, 8, Some(9)),
            // A later leader re-proposes op7 in its own ballot (the same entry: the term it
            // was first proposed in), and a no-op reaches one acceptor in another.
            accepted(17, 1, 14, 10, Some(7)),
            accepted(18, 4, 14, 10, Some(7)),
            accepted(19, 5, 14, 10, Some(7)),
            accepted(20, 2, 16, 16, None),
        ];
        let v = judged(5, &events);
        assert_eq!(v.result, Outcome::Pass, "{v}");
        assert!(
            v.detail
                .contains("11 acceptances, never two entries chosen at one index"),
            "{v}"
        );
    }

    #[test]
    fn a_different_entry_at_a_committed_index_fails_log_safety() {
        let ok = vec![
            ev(
                1,
                1,
                What::Commit {
                    index: 1,
                    term: 1,
                    op: Some(7),
                },
            ),
            ev(
                2,
                2,
                What::Apply {
                    index: 1,
                    term: 1,
                    op: Some(7),
                    state: None,
                },
            ),
        ];
        assert_eq!(log_safety(&ok, 0).result, Outcome::Pass);
        let mut bad = ok.clone();
        bad.push(ev(
            3,
            3,
            What::Apply {
                index: 1,
                term: 2,
                op: Some(9),
                state: None,
            },
        ));
        let v = log_safety(&bad, 0);
        assert_eq!(v.result, Outcome::Fail);
        assert!(
            v.detail.contains("index 1") && v.detail.contains("n3"),
            "{v}"
        );
    }

    #[test]
    fn a_deposed_leader_that_serves_reads_while_the_new_one_commits_is_split_brain() {
        let base = vec![
            ev(
                10,
                1,
                What::Role {
                    leader: true,
                    term: 1,
                },
            ),
            ev(
                20,
                1,
                What::Commit {
                    index: 1,
                    term: 1,
                    op: None,
                },
            ),
            ev(
                100,
                2,
                What::Role {
                    leader: true,
                    term: 2,
                },
            ),
            ev(
                120,
                2,
                What::Commit {
                    index: 2,
                    term: 2,
                    op: None,
                },
            ),
        ];
        // n1 never noticed it was deposed, but did nothing: not split brain.
        assert_eq!(split_brain(&base).result, Outcome::Pass);
        let mut acting = base.clone();
        acting.push(ev(130, 1, What::ReadServed { term: 1 }));
        let v = split_brain(&acting);
        assert_eq!(v.result, Outcome::Fail);
        assert!(
            v.detail.contains("n1")
                && v.detail.contains("n2")
                && v.detail.contains("served a read"),
            "{v}"
        );
        // Both committing at once is not split brain (a deposed Raft leader may still
        // commit an entry of its term from acks in flight; disagreeing commits are
        // log_safety's): only answering clients on its own authority is.
        let mut committing = base.clone();
        committing.push(ev(
            121,
            1,
            What::Commit {
                index: 3,
                term: 1,
                op: None,
            },
        ));
        assert_eq!(split_brain(&committing).result, Outcome::Pass);
        // Nor is a read served by the new leader while the deposed one commits: the new
        // leader is the one that leads (issue #11, nemesis_read_index in lease mode).
        committing.push(ev(125, 2, What::ReadServed { term: 2 }));
        assert_eq!(split_brain(&committing).result, Outcome::Pass);
        committing.pop();
        // Two leaders of one term that both commit are, reads or not.
        let same_term: Vec<NodeEvent> = committing
            .iter()
            .cloned()
            .map(|mut e| {
                if let What::Role { term, .. } = &mut e.what {
                    *term = 1;
                }
                e
            })
            .collect();
        assert_eq!(split_brain(&same_term).result, Outcome::Fail);
        // Learning an old commit is not an act of leadership.
        let mut learning = base;
        learning.push(ev(
            130,
            1,
            What::Commit {
                index: 1,
                term: 1,
                op: None,
            },
        ));
        assert_eq!(split_brain(&learning).result, Outcome::Pass);
    }

    #[test]
    fn a_new_leader_elected_inside_an_old_lease_breaks_lease_exclusivity() {
        let events = vec![
            ev(
                10,
                1,
                What::Role {
                    leader: true,
                    term: 1,
                },
            ),
            ev(
                20,
                1,
                What::Lease {
                    term: 1,
                    until_ns: 500,
                },
            ),
            ev(
                400,
                2,
                What::Role {
                    leader: true,
                    term: 2,
                },
            ),
        ];
        let v = lease_exclusivity(&events);
        assert_eq!(v.result, Outcome::Fail);
        assert!(
            v.detail.contains("n2 became leader of term 2") && v.detail.contains("n1's lease"),
            "{v}"
        );
        let mut later = events.clone();
        later[2].at_ns = 600;
        assert_eq!(lease_exclusivity(&later).result, Outcome::Pass);
    }

    fn leads(at_ns: u64, node: u32, term: u64) -> NodeEvent {
        ev(at_ns, node, What::Role { leader: true, term })
    }

    fn lease(at_ns: u64, node: u32, term: u64, until_ns: u64) -> NodeEvent {
        ev(at_ns, node, What::Lease { term, until_ns })
    }

    #[test]
    fn a_read_is_split_brain_only_when_served_by_a_leader_already_deposed() {
        // Seed 465 of nemesis_read_index in lease mode (issue #11): n3 leads term 1 and
        // is paused; n2 takes office in term 2; n3 resumes and commits its own entry from
        // acks that queued during the pause (true: §5.4); n2 serves a lease read.
        let commit = |at_ns, node, index, term| {
            ev(
                at_ns,
                node,
                What::Commit {
                    index,
                    term,
                    op: None,
                },
            )
        };
        let legitimate = vec![
            leads(179, 3, 1),
            commit(200, 3, 1, 1),
            ev(3_000, 3, What::ReadServed { term: 1 }),
            leads(3_481, 2, 2),
            commit(3_494, 3, 2, 1),
            ev(3_764, 2, What::ReadServed { term: 2 }),
            ev(
                3_789,
                3,
                What::Role {
                    leader: false,
                    term: 2,
                },
            ),
        ];
        let v = split_brain(&legitimate);
        assert_eq!(v.result, Outcome::Pass, "{v}");
        // n3 answering alone after n2 took office is split brain, whether or not n2 did
        // anything, and even after n2 crashed: n3 had been deposed all the same.
        for served_at in [3_490, 3_780] {
            let mut stale = legitimate.clone();
            stale.insert(5, ev(3_700, 2, What::Crash));
            stale.push(ev(served_at, 3, What::ReadServed { term: 1 }));
            stale.sort_by_key(|e| e.at_ns);
            let v = split_brain(&stale);
            assert_eq!(v.result, Outcome::Fail, "{v}");
            assert!(
                v.detail.contains("n3 (leader of term 1) served a read")
                    && v.detail.contains("n2 became leader of term 2 at"),
                "{v}"
            );
        }
        // The same true time as the new leader's election, but recorded before it: n3
        // was not yet deposed.
        let mut same_instant = legitimate.clone();
        same_instant.insert(3, ev(3_481, 3, What::ReadServed { term: 1 }));
        assert_eq!(split_brain(&same_instant).result, Outcome::Pass);
        // A read by a node that no longer leads is a follower's, not a leader's act.
        let mut follower = legitimate;
        follower.push(ev(3_800, 3, What::ReadServed { term: 1 }));
        assert_eq!(split_brain(&follower).result, Outcome::Pass);
    }

    #[test]
    fn a_lease_extended_while_a_later_leader_leads_breaks_lease_exclusivity_without_a_read() {
        // n1 leads term 1 with a lease to 300; it is paused from 250 to 450. n2 takes
        // office in term 2 at 400, after the lease ran out. On resuming, n1 counts acks
        // that queued during the pause as if they were fresh and extends its lease to
        // 750: it holds a lease while n2 leads, though it serves no read in the overlap.
        let late = vec![
            leads(10, 1, 1),
            lease(20, 1, 1, 300),
            leads(400, 2, 2),
            lease(450, 1, 1, 750),
        ];
        let v = lease_exclusivity(&late);
        assert_eq!(v.result, Outcome::Fail, "{v}");
        assert!(
            v.detail
                .contains("n1 extended its lease for term 1 at 0.000ms to 0.001ms")
                && v.detail.contains("while n2 had led term 2 since"),
            "{v}"
        );
        // Checked only when the later leader takes office, this passed.
        assert_eq!(lease_exclusivity(&late[..3]).result, Outcome::Pass);
        // Counted from when the acked round started, the same acks give a lease that had
        // already run out when they arrived: nothing held.
        let honest = [&late[..3], &[lease(450, 1, 1, 320)]].concat();
        assert_eq!(lease_exclusivity(&honest).result, Outcome::Pass);
        // n2 stepped down before n1's extension: no later leader's reign overlaps it.
        let n2_gone = [
            &late[..3],
            &[ev(
                420,
                2,
                What::Role {
                    leader: false,
                    term: 2,
                },
            )],
            &late[3..],
        ]
        .concat();
        assert_eq!(lease_exclusivity(&n2_gone).result, Outcome::Pass);
    }

    #[test]
    fn a_lease_reported_again_after_its_holder_stepped_down_is_no_lease() {
        // Seed 477 of lease_drift (raft): n2 leads term 5 and steps down at 4.588s; n1
        // takes office at 4.601s; at 5.000s n2's clock rate changes and the simulator
        // re-times the term-5 lease n2 last took, which n2 no longer serves reads from.
        let follower = |at_ns, node, term| {
            ev(
                at_ns,
                node,
                What::Role {
                    leader: false,
                    term,
                },
            )
        };
        let events = vec![
            leads(3_789, 2, 5),
            lease(4_587, 2, 5, 5_018),
            follower(4_588, 2, 6),
            leads(4_601, 1, 6),
            lease(5_000, 2, 5, 5_018),
        ];
        assert_eq!(lease_exclusivity(&events).result, Outcome::Pass);
        // Leading again, in a later term, does not revive it either.
        let mut again = events.clone();
        again.insert(4, leads(4_900, 2, 7));
        assert_eq!(lease_exclusivity(&again).result, Outcome::Pass);
        // Still leading term 5 (it never stepped down), the report is a lease.
        let still = [&events[..2], &events[3..]].concat();
        assert_eq!(lease_exclusivity(&still).result, Outcome::Fail);
    }

    #[test]
    fn a_lease_moved_earlier_by_a_clock_step_holds_only_until_its_new_end() {
        let events = vec![
            leads(10, 1, 1),
            lease(20, 1, 1, 500),
            // The clock stepped forward: the lease now ends at 350.
            lease(100, 1, 1, 350),
            leads(400, 2, 2),
        ];
        assert_eq!(lease_exclusivity(&events).result, Outcome::Pass);
        let mut stretched = events.clone();
        stretched[2] = lease(100, 1, 1, 450);
        let v = lease_exclusivity(&stretched);
        assert_eq!(v.result, Outcome::Fail, "{v}");
    }

    #[test]
    fn a_leader_that_stepped_down_gave_up_its_lease() {
        // n1 leads term 6 with a lease to 5.416s; at 5.310s a higher term deposes it, it
        // votes for n2, who takes office at 5.343s: n1 serves no reads after 5.310s.
        let events = vec![
            ev(
                3_301,
                1,
                What::Role {
                    leader: true,
                    term: 6,
                },
            ),
            ev(
                5_282,
                1,
                What::Lease {
                    term: 6,
                    until_ns: 5_416,
                },
            ),
            ev(
                5_310,
                1,
                What::Role {
                    leader: false,
                    term: 7,
                },
            ),
            ev(
                5_343,
                2,
                What::Role {
                    leader: true,
                    term: 7,
                },
            ),
        ];
        assert_eq!(lease_exclusivity(&events).result, Outcome::Pass);
        let still_leading = [&events[..2], &events[3..]].concat();
        assert_eq!(lease_exclusivity(&still_leading).result, Outcome::Fail);
    }

    #[test]
    fn liveness_needs_a_leader_and_a_completed_operation_within_the_bound_after_the_heal() {
        let events = vec![
            ev(
                10,
                1,
                What::Role {
                    leader: true,
                    term: 1,
                },
            ),
            ev(50, 1, What::Crash),
            ev(
                300,
                2,
                What::Role {
                    leader: true,
                    term: 2,
                },
            ),
        ];
        assert_eq!(
            liveness(&events, &[(120, Some(350))], 100, 500, 1000).result,
            Outcome::Pass
        );
        assert_eq!(
            liveness(&events, &[(120, Some(900))], 100, 500, 1000).result,
            Outcome::Fail
        );
        assert_eq!(
            liveness(&events, &[(120, None)], 100, 500, 1000).result,
            Outcome::Fail
        );
        assert_eq!(
            liveness(&events[..2], &[], 100, 500, 1000).result,
            Outcome::Fail
        );
        assert_eq!(
            liveness(&events, &[], 100, 500, 550).result,
            Outcome::Unknown
        );
    }

    #[test]
    fn a_leader_that_reports_nothing_after_taking_office_still_leads_after_the_heal() {
        // A read-only workload commits nothing: the leader's last event is its election.
        let events = vec![ev(
            4,
            3,
            What::Role {
                leader: true,
                term: 1,
            },
        )];
        assert_eq!(
            liveness(&events, &[(400, Some(410))], 350, 4000, 4850).result,
            Outcome::Pass
        );
        assert_eq!(
            liveness(&events, &[(400, None)], 350, 4000, 4850).result,
            Outcome::Fail
        );
    }

    #[test]
    fn an_acknowledged_write_no_node_committed_is_lost() {
        let events = vec![ev(
            1,
            1,
            What::Commit {
                index: 1,
                term: 1,
                op: Some(7),
            },
        )];
        assert_eq!(
            acknowledged_writes(&events, &[(7, 2)]).result,
            Outcome::Pass
        );
        let v = acknowledged_writes(&events, &[(7, 2), (9, 3_000_000_000)]);
        assert_eq!(v.result, Outcome::Fail);
        assert!(
            v.detail.contains("op9") && v.detail.contains("3.000s"),
            "{v}"
        );
    }

    #[test]
    fn election_time_runs_from_the_last_leader_stopping_to_the_next_taking_office() {
        let events = vec![
            ev(
                40,
                1,
                What::Role {
                    leader: true,
                    term: 1,
                },
            ),
            ev(100, 1, What::Crash),
            ev(
                250,
                2,
                What::Role {
                    leader: true,
                    term: 2,
                },
            ),
        ];
        assert_eq!(
            election_times(&events),
            vec![(1, 1, 40, 40), (2, 2, 250, 150)]
        );
    }

    #[test]
    fn the_same_entry_applied_to_different_states_fails_log_safety() {
        let apply = |at, node, index, state| {
            ev(
                at,
                node,
                What::Apply {
                    index,
                    term: 1,
                    op: Some(index),
                    state: Some(state),
                },
            )
        };
        // n1 and n2 agree at every index; a record without a digest changes nothing.
        let mut events = vec![
            apply(1, 1, 1, 11),
            apply(2, 2, 1, 11),
            apply(3, 1, 2, 22),
            ev(
                4,
                3,
                What::Apply {
                    index: 2,
                    term: 1,
                    op: Some(2),
                    state: None,
                },
            ),
            apply(5, 2, 2, 22),
        ];
        assert_eq!(log_safety(&events, 0).result, Outcome::Pass);
        // n3 restarted having lost index 1's update: the same entry 2, another state.
        events.push(ev(8, 3, What::Crash));
        events.push(apply(9, 3, 2, 2));
        let v = log_safety(&events, 0);
        assert_eq!(v.result, Outcome::Fail);
        assert!(
            v.detail
                .contains("state machines diverge at index 2: n3 applied op2")
                && v.detail.contains("the one n1 applied it to"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn a_restarted_node_may_apply_its_log_again_but_never_backwards_while_up() {
        let restart = vec![
            ev(
                1,
                1,
                What::Apply {
                    index: 1,
                    term: 1,
                    op: None,
                    state: None,
                },
            ),
            ev(2, 1, What::Crash),
            ev(
                3,
                1,
                What::Apply {
                    index: 1,
                    term: 1,
                    op: None,
                    state: None,
                },
            ),
        ];
        assert_eq!(log_safety(&restart, 0).result, Outcome::Pass);
        let backwards = vec![
            ev(
                1,
                1,
                What::Apply {
                    index: 2,
                    term: 1,
                    op: None,
                    state: None,
                },
            ),
            ev(
                3,
                1,
                What::Apply {
                    index: 1,
                    term: 1,
                    op: None,
                    state: None,
                },
            ),
        ];
        assert_eq!(log_safety(&backwards, 0).result, Outcome::Fail);
    }
}
