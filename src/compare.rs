//! `sim compare`: the same scenario and the same seeds under every protocol that accepts it
//! (and, with `--read-modes`, every read mode each serves), side by side in one table.
//!
//! Each run is boiled down to a [`RunSummary`] as soon as it ends (a few numbers and a
//! sparse latency histogram), so a comparison over thousands of seeds holds no run's
//! events. Runs go to worker threads (`--jobs`) one (row, seed) at a time; summaries are
//! merged in whatever order they finish, and every merge is order-free (sums, minima,
//! maxima with the lowest seed winning ties, histograms), so the table is the same for
//! any number of jobs.
//!
//! `--matrix DIR` runs every scenario in a directory under every protocol × read mode and
//! prints the read-mode matrix (docs/read-modes.md): a row per scenario, a column per
//! protocol × read mode, each cell whether every seed was linearizable.

use crate::fuzz::{parse_seed_range, SeedRange};
use protocol::ReadMode;
use serde_json::{json, Value};
use sim::hunt;
use sim::protocols::{self, RunError};
use simulator::judge::judge;
use simulator::scenario::Fault;
use simulator::sim::{Outcome as OpOutcome, RunOutput};
use simulator::trace::Kind;
use simulator::{RunOptions, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Which read modes each protocol runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadModes {
    /// Every mode the protocol serves.
    All,
    /// These, where the protocol serves them.
    Only(Vec<ReadMode>),
}

fn parse_read_modes(text: &str) -> Result<ReadModes, String> {
    if text == "all" {
        return Ok(ReadModes::All);
    }
    let mut modes = Vec::new();
    for word in text.split(',').map(str::trim) {
        let mode = ReadMode::from_name(word).ok_or_else(|| {
            let names: Vec<&str> = ReadMode::ALL.iter().map(|m| m.name()).collect();
            format!(
                "expected \"all\" or a comma-separated list of {}, got {word:?}",
                names.join(", ")
            )
        })?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(ReadModes::Only(modes))
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The scenario file (with --matrix: a directory of scenario files).
    scenario: PathBuf,
    /// Seeds to run under every protocol: A..B (B exclusive), A..=B, or one seed.
    #[arg(long, value_parser = parse_seed_range, default_value = "0..10")]
    seeds: SeedRange,
    /// Protocols to compare, comma-separated (default: every registered one).
    #[arg(long, value_delimiter = ',', value_parser = protocols::value_parser())]
    protocols: Vec<String>,
    /// Read modes: "all" (every mode each protocol serves) or a comma-separated list
    /// (each protocol runs those it serves). Default: the scenario's own.
    #[arg(long, value_parser = parse_read_modes)]
    read_modes: Option<ReadModes>,
    /// Worker threads (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML page: the table and, per row, the timeline of one
    /// seed (its first failing seed, else its first) on a shared time axis.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// SCENARIO is a directory: run each *.toml in it under every protocol and read mode
    /// and print the read-mode matrix (rows: scenarios; cells: linearizable or not).
    #[arg(long)]
    matrix: bool,
    /// With --matrix: print the matrix as the Markdown table of docs/read-modes.md.
    #[arg(long, requires = "matrix")]
    markdown: bool,
}

// ---------------------------------------------------------------------------------------
// One run, summarised.

/// A log-linear histogram of non-negative values (nanoseconds): exact below 128, then 128
/// buckets per power of two (under 1% error), stored sparsely. Merging two is adding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    max: u64,
}

const SUB_BITS: u32 = 7;

impl Histogram {
    fn bucket(v: u64) -> u32 {
        if v < (1 << SUB_BITS) {
            return v as u32;
        }
        let e = 63 - v.leading_zeros();
        let sub = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        ((e - SUB_BITS + 1) << SUB_BITS) | sub as u32
    }

    /// The smallest value in bucket `b`.
    fn floor(b: u32) -> u64 {
        if b < (1 << SUB_BITS) {
            return u64::from(b);
        }
        let e = (b >> SUB_BITS) + SUB_BITS - 1;
        let sub = u64::from(b & ((1 << SUB_BITS) - 1));
        (1u64 << e) | (sub << (e - SUB_BITS))
    }

    pub fn add(&mut self, v: u64) {
        *self.buckets.entry(Self::bucket(v)).or_insert(0) += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_insert(0) += n;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The nearest-rank `q` quantile (0 < q <= 1), to within its bucket (the bucket's
    /// floor, never above the true maximum).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::floor(*b).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// What one run of one row comes to. Small: no events, no history.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub seed: u64,
    /// Every checker's result, in the judge's order.
    pub verdicts: Vec<(&'static str, checker::safety::Outcome)>,
    /// For each fault, the time from it until a leader served: the first commit (ghost
    /// record) after it of anything but an entry in flight at the fault; to the end of the
    /// run if none came.
    pub leader_gaps_ns: Histogram,
    /// The longest stretch with no client operation completing: (length, start, the fault
    /// it is blamed on).
    pub unavailable: (u64, u64, String),
    /// Latency of every operation that completed ok.
    pub latency_ns: Histogram,
    pub ops_ok: u64,
    pub sim_ns: u64,
    pub messages_sent: u64,
    pub durable_writes: u64,
    /// Indexes (slots, zxids) committed that carry a client operation.
    pub committed_ops: u64,
    /// Distinct terms (epochs, ballots) that had a leader.
    pub elections: u64,
}

/// Faults that undo others: the stretch after one is blamed on what it undid.
fn is_repair(f: &Fault) -> bool {
    matches!(
        f,
        Fault::Heal | Fault::Resume { .. } | Fault::Restart { .. } | Fault::Unclog | Fault::HealAll
    )
}

impl RunSummary {
    /// Summarises a run (recorded with `keep_events`, for the durable writes).
    pub fn of(
        sc: &Scenario,
        seed: u64,
        out: &RunOutput,
        j: &simulator::judge::Judgement,
    ) -> RunSummary {
        // A gap ends at the first commit after the fault that shows a leader serving. Not
        // an entry merely in flight at the fault: a deposed Raft leader may still count
        // acks sent before a cut and commit (§5.4) while no leader can serve. In flight
        // means invoked before the fault and committed within a round trip of the slowest
        // message and disk write after it; an entry of a newer term (a new leader's) or of
        // an operation invoked after the fault always counts.
        let network = &sc.network;
        let in_flight_ns = (2 * (network.latency.1 + network.reorder_delay.1)
            + sc.storage.write_latency.1)
            .as_nanos() as u64;
        let invoked: BTreeMap<u64, u64> =
            out.history.iter().map(|h| (h.id.0, h.invoke_ns)).collect();
        let mut committed: Vec<(u64, u64, Option<u64>)> = out
            .commits()
            .iter()
            .map(|c| {
                let invoke = c.op.and_then(|op| invoked.get(&op.0).copied());
                (c.at_ns, c.term, invoke)
            })
            .collect();
        committed.sort_unstable();
        let mut leader_gaps_ns = Histogram::default();
        for f in &out.faults {
            let term_then = out
                .leaders
                .iter()
                .filter(|l| l.at_ns <= f.at_ns)
                .map(|l| l.term)
                .max()
                .unwrap_or(0);
            let from = committed.partition_point(|&(t, _, _)| t < f.at_ns);
            let next = committed[from..]
                .iter()
                .find(|&&(at, term, invoke)| {
                    term > term_then
                        || invoke.is_some_and(|i| i >= f.at_ns)
                        || at > f.at_ns + in_flight_ns
                })
                .map_or(out.end_ns, |&(t, _, _)| t);
            leader_gaps_ns.add(next.saturating_sub(f.at_ns));
        }
        let mut latency_ns = Histogram::default();
        let mut done: Vec<u64> = Vec::new();
        for op in &out.history {
            if let (OpOutcome::Ok(_), Some(ret)) = (&op.outcome, op.return_ns) {
                latency_ns.add(ret.saturating_sub(op.invoke_ns));
                done.push(ret);
            }
        }
        done.sort_unstable();
        let (mut longest, mut start) = (0u64, 0u64);
        let mut previous = 0u64;
        for &t in done.iter().chain(std::iter::once(&out.end_ns)) {
            if t.saturating_sub(previous) > longest {
                longest = t - previous;
                start = previous;
            }
            previous = previous.max(t);
        }
        let end = start + longest;
        // Blame the first fault (not a repair) that began within the stretch, else the
        // last that began before it.
        let blamed = out
            .faults
            .iter()
            .filter(|f| !is_repair(&f.fault))
            .find(|f| f.at_ns >= start && f.at_ns <= end)
            .or_else(|| {
                out.faults
                    .iter()
                    .rev()
                    .find(|f| !is_repair(&f.fault) && f.at_ns < start)
            })
            .map(|f| {
                format!(
                    "{} at {:.3}s",
                    sim::timeline::fault_label(f),
                    f.at_ns as f64 / 1e9
                )
            })
            .unwrap_or_else(|| {
                if start == 0 {
                    "none (start-up)".into()
                } else {
                    "none".into()
                }
            });
        let mut terms: Vec<u64> = out.leaders.iter().map(|l| l.term).collect();
        terms.sort_unstable();
        terms.dedup();
        RunSummary {
            seed,
            // The table compares read modes and availability; disruption (a property of
            // elections, judged by `sim run` and `sim fuzz`) keeps out of it, so the
            // read-mode matrix of docs/read-modes.md stays as it was.
            verdicts: j
                .verdicts
                .iter()
                .filter(|(n, _)| *n != "disruption")
                .map(|(n, v)| (*n, v.result))
                .collect(),
            leader_gaps_ns,
            unavailable: (longest, start, blamed),
            ops_ok: done.len() as u64,
            latency_ns,
            sim_ns: out.end_ns,
            messages_sent: out.messages_sent,
            durable_writes: out
                .log
                .events
                .iter()
                .filter(|e| e.kind == Kind::WriteDone)
                .count() as u64,
            committed_ops: out.commits().iter().filter(|c| c.op.is_some()).count() as u64,
            elections: terms.len() as u64,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rows: a protocol in a read mode, and what its seeds came to.

/// One protocol in one read mode on one scenario.
#[derive(Clone, Debug)]
pub struct RowSpec {
    pub scenario: Scenario,
    /// The scenario file as the command line named it (for replay commands).
    pub path: PathBuf,
    pub protocol: &'static str,
    /// The read mode the rows runs in (the scenario's, or the protocol's default).
    pub read_mode: ReadMode,
    /// Whether the command line chose the read mode (so a replay must name it).
    pub read_mode_override: bool,
    /// Why the protocol cannot run this scenario (exit 2 under `sim run`).
    pub refused: Option<String>,
}

impl RowSpec {
    pub fn label(&self) -> String {
        format!("{} {}", self.protocol, self.read_mode.name())
    }

    /// The `sim run` line that reproduces seed `seed` of this row.
    pub fn rerun(&self, seed: u64) -> String {
        let mut line = format!(
            "sim run {} --protocol {}",
            crate::shell_word(&self.path),
            self.protocol
        );
        if self.read_mode_override || self.scenario.workload.read_mode.is_some() {
            line.push_str(&format!(" --read-mode {}", self.read_mode.name()));
        }
        line.push_str(&format!(" --seed {seed}"));
        line
    }

    /// How a comparison runs a seed: as a campaign does, with the events kept (durable
    /// writes are counted from them, and a page draws them).
    fn options(&self, seed: u64) -> RunOptions {
        let mut options = hunt::campaign_options(&[], seed, false);
        options.keep_events = true;
        options
    }

    /// Runs one seed with its events kept (for a timeline page).
    pub fn run_full(
        &self,
        seed: u64,
    ) -> Result<(Scenario, RunOutput, simulator::judge::Judgement), String> {
        match hunt::run_world(self.protocol, &self.scenario, &self.options(seed)) {
            Ok((world, out)) => {
                let j = judge(&world, &out);
                Ok((world.into_owned(), out, j))
            }
            Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
                Err(m)
            }
        }
    }

    /// One seed's row entry; a run a protocol's own assertion stopped did not finish, and
    /// counts as stopped, not in the checkers' columns.
    fn run_summary(&self, seed: u64) -> Result<RunSummary, String> {
        let (world, out, j) = self.run_full(seed)?;
        if let Some(stop) = &out.stopped {
            return Err(format!("stopped on its own assertion, {stop}"));
        }
        Ok(RunSummary::of(&world, seed, &out, &j))
    }
}

/// Pass, fail and unknown counts of one checker over a row's seeds.
#[derive(Clone, Debug, Default)]
pub struct CheckerCount {
    pub passed: u64,
    pub failed: u64,
    pub unknown: u64,
    pub first_failed: Option<u64>,
}

/// A row's seeds merged.
#[derive(Clone, Debug, Default)]
pub struct RowTotals {
    pub runs: u64,
    pub checkers: Vec<(&'static str, CheckerCount)>,
    pub leader_gaps_ns: Histogram,
    /// Each run's longest stretch without a completed operation.
    pub unavailable_ns: Histogram,
    /// The longest of them: (length, seed, start, blamed fault); the lowest seed wins a tie.
    pub unavailable_max: Option<(u64, u64, u64, String)>,
    pub latency_ns: Histogram,
    pub ops_ok: u64,
    pub sim_ns: u64,
    pub messages_sent: u64,
    pub durable_writes: u64,
    pub committed_ops: u64,
    pub elections: u64,
    pub elections_max: u64,
    /// Runs that did not finish (the event budget ran out, or the protocol asserted one of
    /// its invariants): how many, and the lowest seed with what it said.
    pub stopped: u64,
    pub first_stopped: Option<(u64, String)>,
    /// Runs where `split_brain` or `lease_exclusivity` failed.
    pub exclusivity_broken: u64,
}

impl RowTotals {
    fn add(&mut self, s: &RunSummary) {
        use checker::safety::Outcome;
        self.runs += 1;
        for (name, result) in &s.verdicts {
            let i = match self.checkers.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    self.checkers.push((name, CheckerCount::default()));
                    self.checkers.len() - 1
                }
            };
            let c = &mut self.checkers[i].1;
            match result {
                Outcome::Pass => c.passed += 1,
                Outcome::Unknown => c.unknown += 1,
                Outcome::Fail => {
                    c.failed += 1;
                    c.first_failed = Some(c.first_failed.map_or(s.seed, |f| f.min(s.seed)));
                }
            }
        }
        if s.verdicts
            .iter()
            .any(|(n, r)| matches!(*n, "split_brain" | "lease_exclusivity") && *r == Outcome::Fail)
        {
            self.exclusivity_broken += 1;
        }
        self.leader_gaps_ns.merge(&s.leader_gaps_ns);
        let (len, start, fault) = &s.unavailable;
        self.unavailable_ns.add(*len);
        let better = match &self.unavailable_max {
            None => true,
            Some((l, seed, _, _)) => {
                (*len, std::cmp::Reverse(s.seed)) > (*l, std::cmp::Reverse(*seed))
            }
        };
        if better {
            self.unavailable_max = Some((*len, s.seed, *start, fault.clone()));
        }
        self.latency_ns.merge(&s.latency_ns);
        self.ops_ok += s.ops_ok;
        self.sim_ns += s.sim_ns;
        self.messages_sent += s.messages_sent;
        self.durable_writes += s.durable_writes;
        self.committed_ops += s.committed_ops;
        self.elections += s.elections;
        self.elections_max = self.elections_max.max(s.elections);
    }

    fn add_stopped(&mut self, seed: u64, message: String) {
        self.stopped += 1;
        if self.first_stopped.as_ref().is_none_or(|(s, _)| seed < *s) {
            self.first_stopped = Some((seed, message));
        }
    }

    pub fn checker(&self, name: &str) -> Option<&CheckerCount> {
        self.checkers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
    }

    fn per_committed(&self, n: u64) -> Option<f64> {
        (self.committed_ops > 0).then(|| n as f64 / self.committed_ops as f64)
    }
}

/// The rows `sc` gives under `protocols` and `modes`: one per protocol and read mode it
/// serves; a protocol that refuses the scenario (or serves none of the modes asked for)
/// is one row that says why.
pub fn rows_for(
    sc: &Scenario,
    path: &Path,
    protocol_names: &[String],
    modes: Option<&ReadModes>,
) -> Vec<RowSpec> {
    let mut rows = Vec::new();
    for name in protocol_names {
        let Some(entry) = protocols::find(name) else {
            continue;
        };
        let mut base = sc.clone();
        base.protocol = entry.name.to_string();
        let chosen: Vec<(ReadMode, bool)> = match modes {
            None => vec![(
                sc.workload
                    .read_mode
                    .unwrap_or_else(|| entry.default_read_mode()),
                false,
            )],
            Some(ReadModes::All) => entry
                .capabilities
                .read_modes
                .iter()
                .map(|m| (*m, true))
                .collect(),
            Some(ReadModes::Only(list)) => list
                .iter()
                .filter(|m| entry.serves(**m))
                .map(|m| (*m, true))
                .collect(),
        };
        if chosen.is_empty() {
            let served = entry.read_mode_names();
            rows.push(RowSpec {
                scenario: base,
                path: path.to_path_buf(),
                protocol: entry.name,
                read_mode: entry.default_read_mode(),
                read_mode_override: true,
                refused: Some(format!(
                    "serves none of the read modes asked for (it serves {})",
                    served.join(", ")
                )),
            });
            continue;
        }
        for (mode, overridden) in chosen {
            let mut row_sc = base.clone();
            if overridden {
                row_sc.workload.read_mode = Some(mode);
            }
            let probe = hunt::campaign_options(&[], sc.seed, false);
            let refused = match protocols::check(entry.name, &row_sc, &probe) {
                Err(RunError::Input(m)) => Some(m),
                _ => None,
            };
            rows.push(RowSpec {
                scenario: row_sc,
                path: path.to_path_buf(),
                protocol: entry.name,
                read_mode: mode,
                read_mode_override: overridden,
                refused,
            });
        }
    }
    rows
}

/// Runs every (row, seed) on `jobs` workers, with a progress bar, and merges each row's
/// summaries. Refused rows run nothing.
pub fn run_rows(rows: &[RowSpec], seeds: SeedRange, jobs: usize) -> Vec<RowTotals> {
    let runnable: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].refused.is_none())
        .collect();
    let per_row = seeds.end - seeds.start;
    let total = runnable.len() as u64 * per_row;
    let mut totals: Vec<RowTotals> = vec![RowTotals::default(); rows.len()];
    if total == 0 {
        return totals;
    }
    let bar = progress_bar(total);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, u64, Result<RunSummary, String>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, next, runnable) = (tx.clone(), &next, &runnable);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::SeqCst) as u64;
                if k >= total {
                    break;
                }
                let row = runnable[(k / per_row) as usize];
                let seed = seeds.start + k % per_row;
                let result = rows[row].run_summary(seed);
                if tx.send((row, seed, result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let started = Instant::now();
        let mut last_line = Instant::now();
        let mut done = 0u64;
        for (row, seed, result) in rx {
            match result {
                Ok(summary) => totals[row].add(&summary),
                Err(message) => totals[row].add_stopped(seed, message),
            }
            done += 1;
            match &bar {
                Some(b) => b.set_position(done),
                None if last_line.elapsed().as_secs() >= 10 => {
                    last_line = Instant::now();
                    eprintln!(
                        "compare: {done}/{total} runs, {:.0} runs/s",
                        done as f64 / started.elapsed().as_secs_f64().max(1e-9)
                    );
                }
                None => {}
            }
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    totals
}

/// indicatif's bar on a terminal (and not in CI), as `sim fuzz` shows one; `None`
/// elsewhere, where a plain line every ten seconds says how far the comparison got.
fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} runs · {per_sec} · eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

// ---------------------------------------------------------------------------------------
// Telling it.

fn ms(ns: u64) -> String {
    let v = ns as f64 / 1e6;
    if v >= 1_000.0 {
        format!("{:.2}s", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

fn opt_ms(v: Option<u64>) -> String {
    v.map_or("-".into(), ms)
}

/// Checker names shortened for the table's header.
fn short(name: &str) -> &str {
    match name {
        "linearizability" => "lin",
        "acknowledged_writes" => "acked",
        "election_safety" => "elect",
        "log_safety" => "log",
        "split_brain" => "split",
        "lease_exclusivity" => "lease",
        "liveness" => "live",
        other => other,
    }
}

/// The judge's checkers, in its order (every run reports the same).
fn checker_names(totals: &[RowTotals]) -> Vec<&'static str> {
    totals
        .iter()
        .find(|t| !t.checkers.is_empty())
        .map(|t| t.checkers.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default()
}

pub fn table_text(title: &str, rows: &[RowSpec], totals: &[RowTotals]) -> String {
    let names = checker_names(totals);
    let mut header = vec!["protocol".to_string(), "read mode".into(), "runs".into()];
    header.extend(names.iter().map(|n| format!("{} p/f/u", short(n))));
    header.extend(
        [
            "leader gap p50/p99/max",
            "unavailable max (fault)",
            "latency p50/p99",
            "ops/sim s",
            "msgs/op",
            "writes/op",
            "elections/run",
        ]
        .map(String::from),
    );
    let mut lines: Vec<Vec<String>> = vec![header];
    let mut notes = Vec::new();
    for (spec, t) in rows.iter().zip(totals) {
        let mut cells = vec![spec.protocol.to_string(), spec.read_mode.name().to_string()];
        if let Some(why) = &spec.refused {
            cells.push(format!("refused: {why}"));
            lines.push(cells);
            continue;
        }
        cells.push(t.runs.to_string());
        // The row's first failures, grouped by seed: one replay line per seed.
        let mut first_failures: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for n in &names {
            let c = t.checker(n).cloned().unwrap_or_default();
            let mut cell = format!("{}/{}/{}", c.passed, c.failed, c.unknown);
            if let Some(seed) = c.first_failed {
                cell.push_str(&format!(" #{seed}"));
                first_failures.entry(seed).or_default().push(n);
            }
            cells.push(cell);
        }
        for (seed, checkers) in &first_failures {
            notes.push(format!(
                "  {} {}: {} first failed at seed {seed}: {}",
                spec.protocol,
                spec.read_mode.name(),
                checkers.join(", "),
                spec.rerun(*seed)
            ));
        }
        let g = &t.leader_gaps_ns;
        cells.push(if g.count() == 0 {
            "no faults".into()
        } else {
            format!(
                "{}/{}/{}",
                opt_ms(g.quantile(0.5)),
                opt_ms(g.quantile(0.99)),
                opt_ms(g.max())
            )
        });
        cells.push(match &t.unavailable_max {
            Some((len, seed, start, fault)) => format!(
                "{} at {:.3}s #{seed} ({fault})",
                ms(*len),
                *start as f64 / 1e9
            ),
            None => "-".into(),
        });
        cells.push(format!(
            "{}/{}",
            opt_ms(t.latency_ns.quantile(0.5)),
            opt_ms(t.latency_ns.quantile(0.99))
        ));
        cells.push(if t.sim_ns > 0 {
            format!("{:.1}", t.ops_ok as f64 / (t.sim_ns as f64 / 1e9))
        } else {
            "-".into()
        });
        let per = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.1}"));
        cells.push(per(t.per_committed(t.messages_sent)));
        cells.push(per(t.per_committed(t.durable_writes)));
        cells.push(if t.runs > 0 {
            format!(
                "{:.1} (max {})",
                t.elections as f64 / t.runs as f64,
                t.elections_max
            )
        } else {
            "-".into()
        });
        if let Some((seed, m)) = &t.first_stopped {
            notes.push(format!(
                "  {} {}: {} runs did not finish, first seed {seed} ({m}): {}",
                spec.protocol,
                spec.read_mode.name(),
                t.stopped,
                spec.rerun(*seed)
            ));
        }
        lines.push(cells);
    }
    let mut widths: Vec<usize> = Vec::new();
    for l in &lines {
        // A refused row's reason runs on past the columns: it does not widen them.
        let counted = if l.len() == 3 && lines[0].len() > 3 {
            2
        } else {
            l.len()
        };
        for (i, c) in l.iter().take(counted).enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut text = format!("{title}\n");
    for l in &lines {
        let mut line = String::new();
        for (i, c) in l.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(c.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < l.len() {
                line.push_str(&" ".repeat(pad));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    if !notes.is_empty() {
        text.push_str("first failures (replay with the command shown):\n");
        for n in notes {
            text.push_str(&n);
            text.push('\n');
        }
    }
    text.push_str(
        "p/f/u: seeds passed/failed/unknown, #N the first failing seed · leader gap: from each \
         fault until a leader commits something not already in flight at it · unavailable: the longest stretch with no \
         operation completing · per op: per committed client operation · elections: terms \
         (epochs, ballots) that had a leader\n",
    );
    text
}

fn ms_value(v: Option<u64>) -> Value {
    v.map_or(Value::Null, |ns| json!(ns as f64 / 1e6))
}

pub fn row_json(spec: &RowSpec, t: &RowTotals) -> Value {
    if let Some(why) = &spec.refused {
        return json!({
            "protocol": spec.protocol, "read_mode": spec.read_mode.name(), "refused": why,
        });
    }
    let mut checkers = serde_json::Map::new();
    for (name, c) in &t.checkers {
        checkers.insert(
            name.to_string(),
            json!({
                "passed": c.passed, "failed": c.failed, "unknown": c.unknown,
                "first_failed_seed": c.first_failed,
                "replay": c.first_failed.map(|s| spec.rerun(s)),
            }),
        );
    }
    let g = &t.leader_gaps_ns;
    let per = |n: u64| t.per_committed(n).map_or(Value::Null, |v| json!(v));
    json!({
        "protocol": spec.protocol,
        "read_mode": spec.read_mode.name(),
        "refused": Value::Null,
        "runs": t.runs,
        "checkers": checkers,
        "leader_gap_ms": {
            "faults": g.count(), "p50": ms_value(g.quantile(0.5)),
            "p99": ms_value(g.quantile(0.99)), "max": ms_value(g.max()),
        },
        "unavailable": t.unavailable_max.as_ref().map(|(len, seed, start, fault)| json!({
            "longest_ms": *len as f64 / 1e6, "seed": seed, "from_s": *start as f64 / 1e9,
            "fault": fault, "p50_ms": ms_value(t.unavailable_ns.quantile(0.5)),
        })),
        "latency_ms": {
            "p50": ms_value(t.latency_ns.quantile(0.5)),
            "p99": ms_value(t.latency_ns.quantile(0.99)),
        },
        "ops_ok": t.ops_ok,
        "ops_per_sim_s": if t.sim_ns > 0 { json!(t.ops_ok as f64 / (t.sim_ns as f64 / 1e9)) } else { Value::Null },
        "committed_ops": t.committed_ops,
        "messages_per_committed_op": per(t.messages_sent),
        "durable_writes_per_committed_op": per(t.durable_writes),
        "elections_per_run": if t.runs > 0 { json!(t.elections as f64 / t.runs as f64) } else { Value::Null },
        "elections_max": t.elections_max,
        "runs_stopped": t.stopped,
        "first_stopped": t.first_stopped.as_ref().map(|(s, m)| json!({
            "seed": s, "why": m, "replay": spec.rerun(*s),
        })),
    })
}

// ---------------------------------------------------------------------------------------
// The command.

fn usage(message: &str) -> u8 {
    eprintln!("error: {message}");
    2
}

fn jobs_of(args: &CompareArgs) -> Result<usize, String> {
    match args.jobs {
        Some(0) => Err("--jobs: expected a number of worker threads of at least 1, got 0".into()),
        Some(n) => Ok(n.min(256)),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn protocol_names(args: &CompareArgs) -> Vec<String> {
    if args.protocols.is_empty() {
        protocols::names().iter().map(|s| s.to_string()).collect()
    } else {
        let mut names = Vec::new();
        for p in &args.protocols {
            if !names.contains(p) {
                names.push(p.clone());
            }
        }
        names
    }
}

/// Checks that `--html FILE` can be written and is not one of the inputs.
pub fn check_html_path(html: &Path, inputs: &[&Path]) -> Result<(), String> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    if let Some(input) = inputs.iter().find(|i| same(html, i)) {
        return Err(format!(
            "--html: expected a new file for the page, got {}, which is this command's input",
            input.display()
        ));
    }
    if html.is_dir() {
        return Err(format!(
            "--html: expected a file path, got the directory {}",
            html.display()
        ));
    }
    // Replacing a page written before is what a second run is for; replacing anything
    // else (a trace, a scenario, notes) would lose it silently.
    if html.is_file() {
        let mut head = [0u8; 15];
        let n = std::fs::File::open(html)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .unwrap_or(0);
        if !head[..n].eq_ignore_ascii_case(b"<!DOCTYPE html>") {
            return Err(format!(
                "--html: expected a new file or an HTML page to replace, got {}, which \
                 exists and is not an HTML page; name another path or remove it",
                html.display()
            ));
        }
    }
    let dir = html
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!(
            "--html: cannot write {}: the directory {} does not exist",
            html.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// Writes the page through a temporary file and a rename.
pub fn write_html(path: &Path, text: &str) -> Result<(), String> {
    crate::write_atomically(path, text)
        .map_err(|e| format!("--html: cannot write {}: {e}", path.display()))
}

/// `sim run --html` and `sim replay --html`: the page of one run, written to `path`.
pub fn write_run_page(
    path: &Path,
    sc: &Scenario,
    out: &RunOutput,
    j: &simulator::judge::Judgement,
    replay: &str,
) -> Result<(), String> {
    let view = sim::timeline::RunView::of(sc, out, j);
    write_html(
        path,
        &sim::timeline::run_page(&view, replay, &sc.description),
    )
}

pub fn run(args: CompareArgs) -> u8 {
    let jobs = match jobs_of(&args) {
        Ok(j) => j,
        Err(m) => return usage(&m),
    };
    if let Some(html) = &args.html {
        if let Err(m) = check_html_path(html, &[&args.scenario]) {
            return usage(&m);
        }
    }
    if args.matrix {
        return run_matrix(&args, jobs);
    }
    if args.scenario.is_dir() {
        return usage(&format!(
            "{}: expected a scenario file (a directory needs --matrix)",
            args.scenario.display()
        ));
    }
    let sc = match Scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => return usage(&e.to_string()),
    };
    let names = protocol_names(&args);
    let rows = rows_for(&sc, &args.scenario, &names, args.read_modes.as_ref());
    let runnable = rows.iter().filter(|r| r.refused.is_none()).count();
    let seed_count = args.seeds.end - args.seeds.start;
    eprintln!(
        "sim compare {} · seeds {}..{} · {} rows ({} refused) · {} runs · {jobs} jobs",
        args.scenario.display(),
        args.seeds.start,
        args.seeds.end,
        rows.len(),
        rows.len() - runnable,
        runnable as u64 * seed_count,
    );
    let started = Instant::now();
    let totals = run_rows(&rows, args.seeds, jobs);
    let wall = started.elapsed().as_secs_f64();
    let title = format!(
        "{} · seeds {}..{} · {} runs in {wall:.1}s wall ({jobs} jobs)",
        sc.name,
        args.seeds.start,
        args.seeds.end,
        runnable as u64 * seed_count
    );
    if args.json {
        let rows_json: Vec<Value> = rows
            .iter()
            .zip(&totals)
            .map(|(r, t)| row_json(r, t))
            .collect();
        crate::emit(&format!(
            "{}\n",
            json!({
                "scenario": sc.name, "file": args.scenario.display().to_string(),
                "seeds": {"start": args.seeds.start, "end": args.seeds.end},
                "jobs": jobs, "wall_s": wall, "rows": rows_json,
            })
        ));
    } else {
        crate::emit(&table_text(&title, &rows, &totals));
    }
    if let Some(html) = &args.html {
        let page = compare_page(
            &title,
            &table_text(&title, &rows, &totals),
            &rows,
            &totals,
            args.seeds,
            false,
        );
        if let Err(m) = write_html(html, &page) {
            return usage(&m);
        }
        eprintln!("comparison page written to {}", html.display());
    }
    0
}

/// The seed a row's timeline shows: its first linearizability failure, else its first
/// failure of any checker, else the first seed.
fn chosen_seed(t: &RowTotals, seeds_start: u64) -> u64 {
    t.checker("linearizability")
        .and_then(|c| c.first_failed)
        .or_else(|| t.checkers.iter().filter_map(|(_, c)| c.first_failed).min())
        .unwrap_or(seeds_start)
}

/// The comparison page: the table, then a timeline of one seed per row (with
/// `only_stale`, only of the rows whose linearizability failed: a matrix has many rows).
fn compare_page(
    title: &str,
    table: &str,
    rows: &[RowSpec],
    totals: &[RowTotals],
    seeds: SeedRange,
    only_stale: bool,
) -> String {
    let mut timelines = Vec::new();
    for (spec, t) in rows.iter().zip(totals) {
        if spec.refused.is_some() || t.runs == 0 {
            continue;
        }
        let stale = t.checker("linearizability").is_some_and(|c| c.failed > 0);
        if only_stale && !stale {
            continue;
        }
        let seed = chosen_seed(t, seeds.start);
        if let Ok((world, out, j)) = spec.run_full(seed) {
            timelines.push(sim::timeline::Lane {
                title: format!("{} · {} · seed {seed}", spec.scenario.name, spec.label()),
                replay: spec.rerun(seed),
                run: sim::timeline::RunView::with_detail(
                    &world,
                    &out,
                    &j,
                    sim::timeline::Detail::LANE,
                ),
            });
        }
    }
    let note = if only_stale {
        format!(
            "Timelines of the {} rows (of {}) whose linearizability failed, each at its first failing seed.",
            timelines.len(),
            rows.len()
        )
    } else {
        "One seed per row: its first linearizability failure, else its first failure of any checker, else its first seed.".to_string()
    };
    sim::timeline::compare_page(title, table, &note, &timelines)
}

// ---------------------------------------------------------------------------------------
// The read-mode matrix.

/// One cell: a scenario under one protocol in one read mode.
pub struct Cell {
    pub refused: Option<String>,
    pub runs: u64,
    pub failed: u64,
    pub unknown: u64,
    pub first_failed: Option<u64>,
    /// Seeds on which a leader's exclusivity broke (`split_brain`, `lease_exclusivity`),
    /// whether or not a stale read was observed.
    pub exclusivity_broken: u64,
}

impl Cell {
    fn text(&self) -> String {
        if self.refused.is_some() {
            return "refused".into();
        }
        let mut text = match self.first_failed {
            Some(seed) => format!("**stale** {}/{}, first seed {seed}", self.failed, self.runs),
            None if self.unknown > 0 => format!("unknown {}/{}", self.unknown, self.runs),
            None => format!("linearizable {}/{}", self.runs, self.runs),
        };
        if self.exclusivity_broken > 0 {
            text.push_str(&format!(
                " · split brain or lease overlap {}/{}",
                self.exclusivity_broken, self.runs
            ));
        }
        text
    }
}

fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "--matrix: expected a directory of scenario files, got {}: {e}",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "--matrix: expected *.toml scenario files in {}, found none",
            dir.display()
        ));
    }
    Ok(files)
}

fn run_matrix(args: &CompareArgs, jobs: usize) -> u8 {
    let files = match scenario_files(&args.scenario) {
        Ok(f) => f,
        Err(m) => return usage(&m),
    };
    let names = protocol_names(args);
    let modes = args.read_modes.clone().unwrap_or(ReadModes::All);
    let mut scenarios = Vec::new();
    let mut rows = Vec::new();
    for file in &files {
        let sc = match Scenario::load(file) {
            Ok(sc) => sc,
            Err(e) => return usage(&e.to_string()),
        };
        let mine = rows_for(&sc, file, &names, Some(&modes));
        scenarios.push((sc, rows.len()..rows.len() + mine.len()));
        rows.extend(mine);
    }
    eprintln!(
        "sim compare --matrix {} · {} scenarios · seeds {}..{} · {} columns · {jobs} jobs",
        args.scenario.display(),
        scenarios.len(),
        args.seeds.start,
        args.seeds.end,
        rows.len() / scenarios.len().max(1)
    );
    let started = Instant::now();
    let totals = run_rows(&rows, args.seeds, jobs);
    let wall = started.elapsed().as_secs_f64();
    // Columns: every (protocol, read mode) in the order rows_for gives them.
    let mut columns: Vec<(&'static str, ReadMode)> = Vec::new();
    for r in &rows {
        if !columns.contains(&(r.protocol, r.read_mode)) {
            columns.push((r.protocol, r.read_mode));
        }
    }
    let cell = |range: &std::ops::Range<usize>, col: (&str, ReadMode)| -> Option<Cell> {
        let i = range
            .clone()
            .find(|&i| rows[i].protocol == col.0 && rows[i].read_mode == col.1)?;
        let lin = totals[i]
            .checker("linearizability")
            .cloned()
            .unwrap_or_default();
        Some(Cell {
            refused: rows[i].refused.clone(),
            runs: totals[i].runs,
            failed: lin.failed,
            unknown: lin.unknown + totals[i].stopped,
            first_failed: lin.first_failed,
            exclusivity_broken: totals[i].exclusivity_broken,
        })
    };
    if args.json {
        let mut out = Vec::new();
        for (sc, range) in &scenarios {
            let cells: Vec<Value> = rows[range.clone()]
                .iter()
                .zip(&totals[range.clone()])
                .map(|(r, t)| row_json(r, t))
                .collect();
            out.push(
                json!({"scenario": sc.name, "description": sc.description.trim(), "rows": cells}),
            );
        }
        crate::emit(&format!(
            "{}\n",
            json!({"matrix": args.scenario.display().to_string(),
                   "seeds": {"start": args.seeds.start, "end": args.seeds.end},
                   "wall_s": wall, "scenarios": out})
        ));
    } else if args.markdown {
        let mut text = format!(
            "<!-- generated by `sim compare --matrix {} --seeds {}..{} --markdown`; tests/compare.rs checks it -->\n",
            args.scenario.display(),
            args.seeds.start,
            args.seeds.end
        );
        text.push_str("| fault |");
        for (p, m) in &columns {
            text.push_str(&format!(" {p} `{}` |", m.name()));
        }
        text.push_str("\n|---|");
        for _ in &columns {
            text.push_str("---|");
        }
        text.push('\n');
        for (sc, range) in &scenarios {
            text.push_str(&format!("| `{}` |", sc.name));
            for col in &columns {
                let t = cell(range, *col).map_or("-".into(), |c| c.text());
                text.push_str(&format!(" {t} |"));
            }
            text.push('\n');
        }
        crate::emit(&text);
    }
    let plain = {
        let mut text = format!(
            "read-mode matrix · {} · seeds {}..{} · {:.1}s wall ({jobs} jobs)\n",
            args.scenario.display(),
            args.seeds.start,
            args.seeds.end,
            wall
        );
        for (sc, range) in &scenarios {
            text.push_str(&format!("{}\n", sc.name));
            for col in &columns {
                if let Some(c) = cell(range, *col) {
                    let why = c
                        .refused
                        .as_deref()
                        .map(|w| format!(": {w}"))
                        .unwrap_or_default();
                    text.push_str(&format!(
                        "  {:<6} {:<12} {}{why}\n",
                        col.0,
                        col.1.name(),
                        c.text().replace("**", "")
                    ));
                }
            }
        }
        let lines: Vec<String> = rows
            .iter()
            .zip(&totals)
            .filter_map(|(r, t)| {
                t.checker("linearizability")
                    .and_then(|c| c.first_failed)
                    .map(|s| format!("  {}", r.rerun(s)))
            })
            .collect();
        if !lines.is_empty() {
            text.push_str("first stale reads, replay with:\n");
            text.push_str(&lines.join("\n"));
            text.push('\n');
        }
        text
    };
    if !args.json && !args.markdown {
        crate::emit(&plain);
    }
    if let Some(html) = &args.html {
        let title = format!(
            "read-mode matrix · {} · seeds {}..{}",
            args.scenario.display(),
            args.seeds.start,
            args.seeds.end
        );
        let page = compare_page(&title, &plain, &rows, &totals, args.seeds, true);
        if let Err(m) = write_html(html, &page) {
            return usage(&m);
        }
        eprintln!("comparison page written to {}", html.display());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_quantiles_agree_with_a_sort_to_within_a_bucket() {
        let mut values: Vec<u64> = (0..5000u64)
            .map(|i| (i * 2_654_435_761) % 900_000_007)
            .collect();
        let mut h = Histogram::default();
        for &v in &values {
            h.add(v);
        }
        values.sort_unstable();
        for q in [0.01, 0.5, 0.9, 0.99, 1.0] {
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let exact = values[rank - 1];
            let got = h.quantile(q).unwrap();
            assert!(got <= exact, "q {q}: {got} > {exact}");
            assert!(
                (exact - got) as f64 <= exact as f64 / 128.0 + 1.0,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.max(), values.last().copied());
        assert_eq!(Histogram::default().quantile(0.5), None);
        for v in [0u64, 1, 127, 128, 129, 255, 256, 1 << 40, u64::MAX] {
            let b = Histogram::bucket(v);
            assert!(Histogram::floor(b) <= v, "{v}");
            assert_eq!(Histogram::bucket(Histogram::floor(b)), b, "{v}");
        }
    }

    #[test]
    fn merging_histograms_is_adding_their_values() {
        let (mut a, mut b, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in 0..300u64 {
            let v = v * v * 1000;
            if v % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            both.add(v);
        }
        a.merge(&b);
        assert_eq!(a, both);
    }

    #[test]
    fn read_modes_parse_all_or_a_list_and_name_what_was_expected() {
        assert_eq!(parse_read_modes("all"), Ok(ReadModes::All));
        assert_eq!(
            parse_read_modes("lease,log,lease"),
            Ok(ReadModes::Only(vec![ReadMode::Lease, ReadMode::Log]))
        );
        let e = parse_read_modes("log,psychic").unwrap_err();
        assert!(e.contains("psychic") && e.contains("read_index"), "{e}");
    }
}
