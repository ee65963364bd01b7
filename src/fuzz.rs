//! `sim fuzz`: run a scenario over a range of seeds on every core, each seed with its own
//! fault mix (swarm testing), and stop at the first failure (or keep going). A failing
//! seed is run once more with its full event record, its trace saved, and the command that
//! replays it printed.
//!
//! Each run is single-threaded and deterministic; parallelism is only between seeds. A
//! campaign splits across machines with `--shard I/N` (seed s belongs to shard
//! (s − A) mod N), which is how a CI matrix or a Kubernetes Indexed Job runs it.

use crate::protocols::{self, RunError};
use simulator::judge::judge;
use simulator::report::{save_new_trace, summary_json};
use simulator::{RunOptions, Scenario};
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Seeds `start..end` (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

/// Parses `A..B` (B exclusive), `A..=B`, or a single seed `N`.
pub fn parse_seed_range(text: &str) -> Result<SeedRange, String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("expected a seed range like 0..1000, got {text:?}"))
    };
    let range = if let Some((a, b)) = text.split_once("..=") {
        let (start, last) = (number(a)?, number(b)?);
        SeedRange {
            start,
            end: last.checked_add(1).ok_or("the range's end is too large")?,
        }
    } else if let Some((a, b)) = text.split_once("..") {
        SeedRange {
            start: number(a)?,
            end: number(b)?,
        }
    } else {
        let n = number(text)?;
        SeedRange {
            start: n,
            end: n + 1,
        }
    };
    if range.end <= range.start {
        return Err(format!(
            "expected a non-empty seed range (start < end), got {text:?}"
        ));
    }
    Ok(range)
}

/// Parses `I/N` with 0 <= I < N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || {
        format!("expected a shard like 0/4 (index from 0 to count-1, then the count), got {text:?}")
    };
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<u64>().map_err(|_| bad())?,
        n.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

pub fn parse_wall_time(text: &str) -> Result<Duration, String> {
    simulator::duration::parse_duration(text)
}

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// The scenario file; its nemesis section supplies the faults.
    scenario: PathBuf,
    /// Seeds to run: A..B (B exclusive), A..=B, or one seed.
    #[arg(long, value_parser = parse_seed_range)]
    seeds: SeedRange,
    /// Worker threads (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only this shard of the seeds: I/N, I from 0 (e.g. $JOB_COMPLETION_INDEX/8).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Stop after this much wall time (e.g. 60s), with a summary of what ran.
    #[arg(long, value_parser = parse_wall_time)]
    time: Option<Duration>,
    /// Protocol (default: the scenario's).
    #[arg(long, value_parser = protocols::value_parser())]
    protocol: Option<String>,
    /// Override the scenario's read mode for every seed (a swarm scenario then draws no
    /// read mode: each seed reads in this one).
    #[arg(long, value_parser = crate::parse_read_mode, long_help = protocols::read_mode_help())]
    read_mode: Option<protocol::ReadMode>,
    /// Switch a mutant on (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Keep running after a failure (default: stop at the first).
    #[arg(long)]
    keep_going: bool,
    /// Use the scenario's fault rates as they are, for every seed.
    #[arg(long)]
    no_swarm: bool,
    /// JSON Lines on stdout: one object per failure, then a summary object.
    #[arg(long)]
    json: bool,
    /// Where failing traces are saved.
    #[arg(long, default_value = "traces")]
    traces_dir: PathBuf,
    /// After the campaign, list every coverage mark the protocol declares and how many
    /// seeds took it, marks no seed took first (FoundationDB's CODE_PROBE report).
    #[arg(long)]
    marks: bool,
}

/// The seeds of one shard: start + index, start + index + count, ...
#[derive(Clone, Copy, Debug)]
struct ShardSeeds {
    first: u64,
    step: u64,
    count: u64,
}

impl ShardSeeds {
    fn new(range: SeedRange, index: u64, shards: u64) -> ShardSeeds {
        let span = range.end - range.start;
        let count = if index >= span {
            0
        } else {
            (span - index).div_ceil(shards)
        };
        ShardSeeds {
            first: range.start + index,
            step: shards,
            count,
        }
    }

    fn get(&self, k: u64) -> Option<u64> {
        (k < self.count).then(|| self.first + k * self.step)
    }
}

struct SeedResult {
    seed: u64,
    passed: bool,
    inconclusive: bool,
    failed: Vec<String>,
    /// The coverage marks the run took (each once).
    marks: Vec<&'static str>,
}

/// Runs one seed and judges it.
fn judge_seed(sc: &Scenario, bugs: &[String], swarm: bool, seed: u64) -> SeedResult {
    let options = sim::hunt::campaign_options(bugs, seed, swarm);
    // A protocol that asserts its own invariants panics on a violation: that is this
    // seed's finding, not the end of the campaign.
    match sim::hunt::run_world(&sc.protocol, sc, &options) {
        Ok((world, out)) => {
            let j = judge(&world, &out);
            SeedResult {
                seed,
                passed: j.passed(),
                inconclusive: j.inconclusive(),
                failed: j
                    .expectations
                    .iter()
                    .filter(|e| !e.held)
                    .map(|e| format!("{} ({})", e.what, e.detail))
                    .collect(),
                marks: out.marks.keys().copied().collect(),
            }
        }
        Err(RunError::Input(m)) | Err(RunError::Aborted(m)) => SeedResult {
            seed,
            passed: false,
            inconclusive: false,
            failed: vec![m],
            marks: Vec::new(),
        },
        Err(RunError::Panicked(m)) => SeedResult {
            seed,
            passed: false,
            inconclusive: false,
            failed: vec![format!("a panic outside any protocol step: {m}")],
            marks: Vec::new(),
        },
    }
}

/// Which of the shard's seeds (by position) finished, without one entry per seed: a
/// campaign may run billions. Seeds are handed out in order, so all but a few below the
/// highest handed out have finished.
#[derive(Default)]
struct Ledger {
    /// Every position below this finished.
    done_below: u64,
    /// Finished positions above `done_below` (at most about one per job).
    done_above: BTreeSet<u64>,
}

impl Ledger {
    fn finish(&mut self, k: u64) {
        if k != self.done_below {
            self.done_above.insert(k);
            return;
        }
        self.done_below += 1;
        while self.done_above.remove(&self.done_below) {
            self.done_below += 1;
        }
    }

    /// Positions handed out (below `handed_out`) that have not finished.
    fn running(&self, handed_out: u64) -> Vec<u64> {
        (self.done_below..handed_out)
            .filter(|k| !self.done_above.contains(k))
            .collect()
    }
}

/// How a campaign runs: its seeds, its workers, and when it stops.
struct Plan {
    seeds: ShardSeeds,
    jobs: usize,
    keep_going: bool,
    time: Option<Duration>,
}

/// What can stop a campaign from outside: `stop` ends it once the seeds running finish,
/// `abandon` at once, listing those seeds as not run (a second Ctrl-C).
#[derive(Clone, Default)]
struct Signals {
    stop: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
    abandon: Arc<AtomicBool>,
}

/// One seed: run and judge it. Shared by detached workers, hence `'static`.
type Runner = Arc<dyn Fn(u64) -> SeedResult + Send + Sync>;

/// What a campaign ran.
struct CampaignEnd {
    ran: u64,
    /// Every failing seed that ran, lowest first.
    failures: Vec<SeedResult>,
    /// Seeds whose verdict was unknown, lowest first.
    inconclusive: Vec<u64>,
    /// Seeds that were running when the campaign stopped (before its last seed).
    in_flight_at_stop: Vec<u64>,
    /// Seeds that were running when the campaign was abandoned: not run.
    abandoned: Vec<u64>,
    /// Seeds never started (from the shard's position `handed_out` on).
    never_started: u64,
    /// The first position never started: seeds from here on did not run.
    handed_out: u64,
}

/// Runs `plan`'s seeds on `plan.jobs` workers, calling `on_result` with each result as it
/// arrives (with the count so far). A failure (unless `keep_going`), the time budget or a
/// `stop` signal end the campaign: no new seed starts, and the seeds already running
/// finish. Seeds are handed out in order, so when a failure stops the campaign every seed
/// below it has run, and its lowest failure is the range's first, whatever the number of
/// jobs and whichever seed finished first.
fn drive(
    plan: &Plan,
    signals: &Signals,
    runner: Runner,
    mut on_result: impl FnMut(&SeedResult, u64),
) -> CampaignEnd {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<(u64, SeedResult)>();
    let mut workers = Vec::new();
    for _ in 0..plan.jobs {
        let (tx, next, stop, runner, seeds) = (
            tx.clone(),
            next.clone(),
            signals.stop.clone(),
            runner.clone(),
            plan.seeds,
        );
        // Detached, not scoped: an abandoned campaign returns without waiting for them.
        workers.push(std::thread::spawn(move || loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let k = next.fetch_add(1, Ordering::SeqCst);
            let Some(seed) = seeds.get(k) else {
                break;
            };
            let result = runner(seed);
            if tx.send((k, result)).is_err() {
                break;
            }
        }));
    }
    drop(tx);
    let handed_out = || next.load(Ordering::SeqCst).min(plan.seeds.count);
    let mut ledger = Ledger::default();
    let mut end = CampaignEnd {
        ran: 0,
        failures: Vec::new(),
        inconclusive: Vec::new(),
        in_flight_at_stop: Vec::new(),
        abandoned: Vec::new(),
        never_started: 0,
        handed_out: 0,
    };
    let mut stop_seen = false;
    let mut take = |k: u64, result: SeedResult, end: &mut CampaignEnd, ledger: &mut Ledger| {
        ledger.finish(k);
        end.ran += 1;
        if !result.passed && result.inconclusive {
            end.inconclusive.push(result.seed);
        } else if !result.passed && !plan.keep_going {
            signals.stop.store(true, Ordering::SeqCst);
        }
        on_result(&result, end.ran);
        if !result.passed && !result.inconclusive {
            end.failures.push(result);
        }
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((k, result)) => take(k, result, &mut end, &mut ledger),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if plan.time.is_some_and(|limit| started.elapsed() >= limit) {
            signals.stop.store(true, Ordering::SeqCst);
        }
        if signals.stop.load(Ordering::SeqCst) && !stop_seen {
            stop_seen = true;
            end.in_flight_at_stop = ledger
                .running(handed_out())
                .into_iter()
                .filter_map(|k| plan.seeds.get(k))
                .collect();
        }
        if signals.abandon.load(Ordering::SeqCst) {
            // A seed that finished before this moment ran, even if not yet counted.
            while let Ok((k, result)) = rx.try_recv() {
                take(k, result, &mut end, &mut ledger);
            }
            end.abandoned = ledger
                .running(handed_out())
                .into_iter()
                .filter_map(|k| plan.seeds.get(k))
                .collect();
            break;
        }
    }
    if end.abandoned.is_empty() {
        for w in workers {
            // A worker that panicked (a checker's bug) lost only its own seed's result.
            let _ = w.join();
        }
    }
    end.handed_out = handed_out();
    end.never_started = plan.seeds.count - end.handed_out;
    end.failures.sort_by_key(|f| f.seed);
    end.inconclusive.sort_unstable();
    end
}

/// Runs the campaign and returns the exit code: 0 no failure, 1 a failure, 2 bad input,
/// 3 only inconclusive runs.
pub fn run(args: FuzzArgs) -> u8 {
    let mut sc = match Scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if let Some(p) = &args.protocol {
        sc.protocol = p.clone();
    }
    if let Some(mode) = args.read_mode {
        sc.workload.read_mode = Some(mode);
    }
    let (shard_index, shard_count) = args.shard.unwrap_or((0, 1));
    // The shard's seeds, computed one at a time (a range may be far too large to list).
    let seeds = ShardSeeds::new(args.seeds, shard_index, shard_count);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let swarm = !args.no_swarm;
    // Bad configuration is found once, up front, not by every worker.
    let probe = RunOptions {
        seed: 0,
        keep_events: false,
        bugs: args.bugs.clone(),
        swarm,
        describe: false,
        ..RunOptions::default()
    };
    if let Err(RunError::Input(m)) = protocols::check(&sc.protocol, &sc, &probe) {
        eprintln!("error: {m}");
        return 2;
    }
    eprintln!(
        "sim fuzz {} · protocol {}{} · seeds {}..{}{} ({} seeds) · {jobs} jobs · swarm {}",
        args.scenario.display(),
        sc.protocol,
        args.read_mode
            .map(|m| format!(" · read mode {}", m.name()))
            .unwrap_or_default(),
        args.seeds.start,
        args.seeds.end,
        args.shard
            .map(|(i, n)| format!(" shard {i}/{n}"))
            .unwrap_or_default(),
        seeds.count,
        if swarm { "on" } else { "off" },
    );
    // A scenario's `[expect] marks` name paths its own run takes. Over a campaign each must
    // be taken by some seed (a path no seed reaches is a hole in the campaign), not by every
    // seed: paxos_log_holes.toml fills a hole in about one seed in five. Marks of another
    // protocol are not judged; a shard judges its own seeds.
    let expected_marks: Vec<String> = std::mem::take(&mut sc.expect.marks)
        .into_iter()
        .filter(|m| simulator::judge::mark_of_another_protocol(m, &sc.protocol).is_none())
        .collect();
    if !expected_marks.is_empty() {
        eprintln!(
            "paths the scenario expects ({}), judged over the campaign: each taken by at least one seed",
            expected_marks.join(", ")
        );
    }

    let signals = Signals::default();
    {
        let signals = signals.clone();
        // Failing to install the handler only loses the clean summary on Ctrl-C. The first
        // Ctrl-C lets the seeds running finish; a second one abandons them.
        let _ = ctrlc::set_handler(move || {
            if signals.interrupted.swap(true, Ordering::SeqCst) {
                signals.abandon.store(true, Ordering::SeqCst);
            }
            signals.stop.store(true, Ordering::SeqCst);
        });
    }
    let plan = Plan {
        seeds,
        jobs,
        keep_going: args.keep_going,
        time: args.time,
    };
    let runner: Runner = {
        let (sc, bugs) = (sc.clone(), args.bugs.clone());
        Arc::new(move |seed| judge_seed(&sc, &bugs, swarm, seed))
    };
    let started = Instant::now();
    let total = seeds.count;
    let bar = progress_bar(total);
    let say = |message: &str| match &bar {
        Some(b) => b.suspend(|| eprintln!("{message}")),
        None => eprintln!("{message}"),
    };
    let mut failed = 0usize;
    let mut last_line = Instant::now();
    let mut marks_taken: BTreeMap<&'static str, u64> = BTreeMap::new();
    let end = drive(&plan, &signals, runner, |result, ran| {
        for &mark in &result.marks {
            *marks_taken.entry(mark).or_insert(0) += 1;
        }
        if !result.passed && result.inconclusive {
            say(&format!(
                "UNKNOWN seed {}: {}",
                result.seed,
                result.failed.join("; ")
            ));
        } else if !result.passed {
            failed += 1;
            // Stopping at a failure reports the lowest one once the seeds running have
            // finished; with --keep-going every failure is reported as it comes.
            if args.keep_going {
                say(&report_failure(&sc, &args, result, swarm));
            }
        }
        match &bar {
            Some(b) => {
                b.set_position(ran);
                b.set_message(format!("{failed} failures"));
            }
            None if last_line.elapsed() >= Duration::from_secs(10) => {
                last_line = Instant::now();
                let rate = ran as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprintln!("fuzz: {ran}/{total} seeds, {failed} failures, {rate:.0} seeds/s");
            }
            None => {}
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let first_failure = end.failures.first();
    if let (false, Some(first)) = (args.keep_going, first_failure) {
        let mut message = report_failure(&sc, &args, first, swarm);
        let others: Vec<String> = end.failures[1..]
            .iter()
            .map(|f| f.seed.to_string())
            .collect();
        if !others.is_empty() {
            message.push_str(&format!(
                "\n  also failing, among the seeds that were running: {} (not re-run)",
                others.join(", ")
            ));
        }
        eprintln!("{message}");
    }
    let wall = started.elapsed().as_secs_f64();
    let ran = end.ran;
    let rate = ran as f64 / wall.max(1e-9);
    let why = if signals.interrupted.load(Ordering::SeqCst) {
        "interrupted"
    } else if first_failure.is_some() && !args.keep_going {
        "stopped at a failure"
    } else if end.never_started > 0 {
        "time budget reached"
    } else {
        "all seeds ran"
    };
    let not_run = end.never_started + end.abandoned.len() as u64;
    // Where to pick up: the first position not run (an abandoned seed, or the first
    // never started), as a range the same --shard splits the same way.
    let resume = (not_run > 0).then(|| {
        let first_k = end
            .abandoned
            .iter()
            .map(|s| (s - seeds.first) / seeds.step)
            .min()
            .unwrap_or(end.handed_out);
        let start = args.seeds.start + first_k * shard_count;
        format!("{start}..{}", args.seeds.end)
    });
    // Judged only over a campaign that ran as asked (to its end or its time budget).
    let marks_judged =
        !signals.interrupted.load(Ordering::SeqCst) && (args.keep_going || first_failure.is_none());
    let marks_expected: Vec<(&str, u64)> = expected_marks
        .iter()
        .map(|m| {
            (
                m.as_str(),
                marks_taken.get(m.as_str()).copied().unwrap_or(0),
            )
        })
        .collect();
    let marks_missing: Vec<&str> = marks_expected
        .iter()
        .filter(|&&(_, seeds)| marks_judged && seeds == 0)
        .map(|&(m, _)| m)
        .collect();
    let in_flight = if !end.abandoned.is_empty() {
        Some("not run")
    } else if !end.in_flight_at_stop.is_empty() {
        Some("finished")
    } else {
        None
    };
    if args.json {
        let failed: Vec<u64> = end.failures.iter().map(|f| f.seed).collect();
        crate::emit(&format!(
            "{}\n",
            serde_json::json!({
                "summary": true, "scenario": sc.name, "protocol": sc.protocol, "seeds_run": ran,
                "seeds_total": total, "failures": failed,
                "first_failure": first_failure.map(|f| f.seed),
                "inconclusive": end.inconclusive,
                "in_flight_at_stop": end.in_flight_at_stop, "in_flight": in_flight,
                "not_run": not_run, "not_run_in_flight": end.abandoned, "resume_seeds": resume,
                "wall_s": wall, "seeds_per_s": rate, "jobs": jobs, "ended": why,
                "marks_expected": marks_expected.iter().map(|&(m, n)| (m.to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
                "marks_missing": marks_missing, "marks_judged": marks_judged && !marks_expected.is_empty(),
            })
        ));
    } else {
        let mut line = format!(
            "{ran} of {total} seeds in {wall:.2}s ({rate:.1} seeds/s, {jobs} jobs): {} failures, {} inconclusive; {why}",
            end.failures.len(),
            end.inconclusive.len()
        );
        if let Some(f) = first_failure {
            line.push_str(&format!("; first failing seed {}", f.seed));
        }
        let listed = |seeds: &[u64]| {
            seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match in_flight {
            Some("not run") => line.push_str(&format!(
                "; seeds running when it was abandoned were not run: {}",
                listed(&end.abandoned)
            )),
            Some(_) => line.push_str(&format!(
                "; seeds running when it stopped finished: {}",
                listed(&end.in_flight_at_stop)
            )),
            None => {}
        }
        if let Some(r) = &resume {
            line.push_str(&format!("; {not_run} not run (resume with --seeds {r})"));
        }
        crate::emit(&format!("{line}\n"));
        if !marks_expected.is_empty() {
            crate::emit(&format!(
                "{}\n",
                expected_paths_line(&marks_expected, &marks_missing, marks_judged, ran)
            ));
        }
    }
    if args.marks {
        let entry = protocols::find(&sc.protocol);
        let declared = entry.map_or(&[][..], |e| e.capabilities.marks);
        // With a mutant on, its paths are paths like any other.
        let correct_never: Vec<&'static str> = match entry {
            Some(e) if args.bugs.is_empty() && sc.bugs.is_empty() => declared
                .iter()
                .copied()
                .filter(|m| m.contains(".bug.") || e.never_when_correct.contains(m))
                .collect(),
            _ => Vec::new(),
        };
        crate::emit(&marks_report(
            declared,
            &correct_never,
            &marks_taken,
            ran,
            args.json,
        ));
    }
    if !end.failures.is_empty() || !marks_missing.is_empty() {
        1
    } else if !end.inconclusive.is_empty() {
        3
    } else {
        0
    }
}

/// How many seeds took each path the scenario expects; a FAIL line when one was taken by
/// none (`missing`), or a note that a campaign stopped early judged none.
fn expected_paths_line(
    expected: &[(&str, u64)],
    missing: &[&str],
    judged: bool,
    ran: u64,
) -> String {
    let counts: Vec<String> = expected
        .iter()
        .map(|&(m, n)| format!("{m} by {n} of {ran} seeds"))
        .collect();
    if !judged {
        return format!(
            "expected paths not judged (the campaign stopped early): {}",
            counts.join(", ")
        );
    }
    if missing.is_empty() {
        return format!("expected paths taken: {}", counts.join(", "));
    }
    format!(
        "FAIL expected paths taken by no seed: {} ([expect] marks; {})",
        missing.join(", "),
        counts.join(", ")
    )
}

fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} seeds · {per_sec} · {msg} · eta {eta}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
}

/// The coverage report: every declared mark with the number of seeds that took it, those
/// no seed took first, then by count. `correct_never` (empty when a mutant is on) are the
/// marks a correct run never takes (the `.bug.` ones and `Protocol::NEVER_WHEN_CORRECT`):
/// they are listed last, apart from the holes, and one a seed took is flagged
/// `UNEXPECTED`. A mark taken but not declared (a defect: the protocol's `MARKS` is out of
/// date) is flagged `UNDECLARED`. JSON: one object.
fn marks_report(
    declared: &[&'static str],
    correct_never: &[&'static str],
    taken: &BTreeMap<&'static str, u64>,
    seeds: u64,
    json: bool,
) -> String {
    let count = |m: &&'static str| (*m, taken.get(m).copied().unwrap_or(0));
    let mut rows: Vec<(&str, u64)> = declared
        .iter()
        .filter(|m| !correct_never.contains(m))
        .map(count)
        .collect();
    rows.sort_by_key(|&(m, n)| (n, m));
    let off: Vec<(&str, u64)> = declared
        .iter()
        .filter(|m| correct_never.contains(m))
        .map(count)
        .collect();
    let undeclared: Vec<(&str, u64)> = taken
        .iter()
        .filter(|(m, _)| !declared.contains(m))
        .map(|(m, n)| (*m, *n))
        .collect();
    let never = rows.iter().filter(|(_, n)| *n == 0).count();
    let unexpected = off.iter().filter(|(_, n)| *n > 0).count();
    if json {
        let list = |rows: &[(&str, u64)], correct_never: bool| {
            rows.iter()
                .map(|(m, n)| {
                    serde_json::json!({"mark": m, "seeds": n, "correct_never": correct_never})
                })
                .collect::<Vec<_>>()
        };
        let mut all = list(&rows, false);
        all.extend(list(&off, true));
        return format!(
            "{}\n",
            serde_json::json!({
                "marks": all, "marks_never_taken": never,
                "marks_correct_never": off.len(), "marks_unexpected": unexpected,
                "marks_undeclared": list(&undeclared, false), "seeds_run": seeds,
            })
        );
    }
    let share = |n: u64| {
        if seeds > 0 {
            format!("{:5.1}%", 100.0 * n as f64 / seeds as f64)
        } else {
            "    -".to_string()
        }
    };
    let mut text = format!(
        "coverage marks: {} declared, {never} never taken in {seeds} seeds",
        declared.len()
    );
    if !off.is_empty() {
        text.push_str(&format!(
            " (and {} that a correct run never takes, listed last)",
            off.len()
        ));
    }
    text.push('\n');
    for (mark, n) in &rows {
        let flag = if *n == 0 { "NEVER" } else { "" };
        text.push_str(&format!("  {flag:<5} {n:>8} {}  {mark}\n", share(*n)));
    }
    for (mark, n) in &off {
        if *n == 0 {
            text.push_str(&format!("  off   {n:>8} {}  {mark}\n", share(0)));
        } else {
            text.push_str(&format!(
                "  UNEXPECTED {n:>8} seeds  {mark} (a correct run never takes it: a mutant's path, or a guard of an invariant or of the driver's contract)\n"
            ));
        }
    }
    for (mark, n) in &undeclared {
        text.push_str(&format!(
            "  UNDECLARED {n:>8} seeds  {mark} (add it to the protocol's MARKS)\n"
        ));
    }
    text
}

/// Re-runs a failing seed with its events recorded, saves the trace, and says how to
/// replay it.
fn report_failure(sc: &Scenario, args: &FuzzArgs, result: &SeedResult, swarm: bool) -> String {
    let mut text = format!("FAIL seed {}: {}", result.seed, result.failed.join("; "));
    let bugs: String = args.bugs.iter().map(|b| format!(" --bug {b}")).collect();
    let rerun = format!(
        "sim run {} --seed {} --protocol {}{bugs}{}{}",
        args.scenario.display(),
        result.seed,
        sc.protocol,
        args.read_mode
            .map(|m| format!(" --read-mode {}", m.name()))
            .unwrap_or_default(),
        if swarm { " --swarm" } else { "" }
    );
    if result
        .failed
        .iter()
        .any(|f| f.starts_with("a panic outside"))
    {
        // No trace can be saved from a run that panicked; the run itself reproduces it.
        return format!("{text}\n  Reproduce with: {rerun}");
    }
    if let Err(e) = std::fs::create_dir_all(&args.traces_dir) {
        return format!(
            "{text}\n  could not save the trace: {}: {e}\n  Reproduce with: {rerun}",
            args.traces_dir.display()
        );
    }
    let options = RunOptions {
        seed: result.seed,
        spool_dir: Some(args.traces_dir.clone()),
        bugs: args.bugs.clone(),
        swarm,
        describe: false,
        ..RunOptions::default()
    };
    match sim::hunt::run_world(&sc.protocol, sc, &options) {
        Ok((world, out)) => {
            let (sc, j) = (&*world, judge(&world, &out));
            match save_new_trace(&args.traces_dir, sc, &out, &j) {
                Ok(path) => {
                    text.push_str(&format!(
                        "\n  trace: {}\n  Reproduce with: sim replay {}",
                        path.display(),
                        path.display()
                    ));
                    if args.json {
                        let mut v = summary_json(sc, &out, &j);
                        v["trace"] = serde_json::json!(path.display().to_string());
                        crate::emit(&format!("{v}\n"));
                    }
                }
                Err(e) => text.push_str(&format!("\n  could not save the trace: {e}")),
            }
        }
        Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
            text.push_str(&format!("\n  {m}"))
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_range_into_disjoint_interleaved_parts_without_listing_it() {
        let range = SeedRange { start: 10, end: 21 };
        let mut all: Vec<u64> = (0..3)
            .flat_map(|i| {
                let s = ShardSeeds::new(range, i, 3);
                (0..s.count).map(move |k| s.get(k).unwrap())
            })
            .collect();
        all.sort();
        assert_eq!(all, (10..21).collect::<Vec<_>>());
        let huge = ShardSeeds::new(
            SeedRange {
                start: 0,
                end: u64::MAX,
            },
            7,
            8,
        );
        assert_eq!(huge.get(0), Some(7));
        assert_eq!(huge.get(huge.count), None);
    }

    fn result(seed: u64, passed: bool) -> SeedResult {
        SeedResult {
            seed,
            passed,
            inconclusive: false,
            failed: if passed {
                vec![]
            } else {
                vec!["log_safety passes (fail)".into()]
            },
            marks: vec![],
        }
    }

    fn plan(seeds: u64, jobs: usize, keep_going: bool) -> Plan {
        Plan {
            seeds: ShardSeeds::new(
                SeedRange {
                    start: 0,
                    end: seeds,
                },
                0,
                1,
            ),
            jobs,
            keep_going,
            time: None,
        }
    }

    #[test]
    fn with_several_jobs_the_lowest_failing_seed_is_reported_not_the_first_to_finish() {
        // Seed 6 fails slowly, seed 7 at once (issue #11: seed 73 was reported while 6 also
        // failed). The seeds running when 7 stops the campaign finish, so 6 is found, and
        // every seed below it ran.
        let ran = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
        let runner: Runner = {
            let ran = ran.clone();
            Arc::new(move |seed| {
                std::thread::sleep(Duration::from_millis(if seed == 6 { 500 } else { 2 }));
                ran.lock().unwrap().insert(seed);
                result(seed, seed != 6 && seed != 7)
            })
        };
        let mut arrived = Vec::new();
        let end = drive(
            &plan(1000, 4, false),
            &Signals::default(),
            runner,
            |r, _| arrived.push(r.seed),
        );
        assert_eq!(
            end.failures.iter().map(|f| f.seed).collect::<Vec<_>>(),
            vec![6, 7]
        );
        // 7 finished first and stopped the campaign while 6 was still running.
        let at = |s| arrived.iter().position(|&x| x == s).unwrap();
        assert!(at(7) < at(6), "{arrived:?}");
        assert!(
            end.in_flight_at_stop.contains(&6),
            "{:?}",
            end.in_flight_at_stop
        );
        assert!(end.abandoned.is_empty());
        // What ran is exactly the seeds handed out, a prefix of the range, all finished.
        let ran = ran.lock().unwrap().clone();
        assert_eq!(ran, (0..end.handed_out).collect::<BTreeSet<_>>());
        assert_eq!(end.ran, end.handed_out);
        assert_eq!(end.never_started, 1000 - end.handed_out);
        assert!(end.handed_out < 1000);
    }

    #[test]
    fn expected_paths_are_counted_and_a_path_no_seed_took_fails_by_name() {
        let taken = [("p.hole", 3), ("p.other", 10)];
        assert_eq!(
            expected_paths_line(&taken, &[], true, 10),
            "expected paths taken: p.hole by 3 of 10 seeds, p.other by 10 of 10 seeds"
        );
        let missing = [("p.hole", 0), ("p.other", 10)];
        assert_eq!(
            expected_paths_line(&missing, &["p.hole"], true, 10),
            "FAIL expected paths taken by no seed: p.hole ([expect] marks; p.hole by 0 of 10 seeds, p.other by 10 of 10 seeds)"
        );
        assert!(
            expected_paths_line(&missing, &[], false, 2).starts_with("expected paths not judged")
        );
    }

    #[test]
    fn the_marks_report_lists_every_declared_mark_never_taken_first_and_flags_undeclared_ones() {
        let taken: BTreeMap<&'static str, u64> = [("p.often", 9), ("p.rare", 1), ("p.stray", 2)]
            .into_iter()
            .collect();
        let text = marks_report(&["p.often", "p.never", "p.rare"], &[], &taken, 10, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "coverage marks: 3 declared, 1 never taken in 10 seeds"
        );
        assert!(
            lines[1].contains("NEVER") && lines[1].ends_with("p.never"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("p.rare") && lines[2].contains(" 1 "),
            "{text}"
        );
        assert!(
            lines[3].ends_with("p.often") && lines[3].contains("90.0%"),
            "{text}"
        );
        assert!(
            lines[4].contains("UNDECLARED") && lines[4].contains("p.stray"),
            "{text}"
        );
    }

    #[test]
    fn the_marks_report_lists_the_marks_a_correct_run_never_takes_apart_and_flags_one_taken() {
        let taken: BTreeMap<&'static str, u64> =
            [("p.often", 9), ("p.guard", 1)].into_iter().collect();
        let declared = ["p.often", "p.hole", "p.bug.path", "p.guard"];
        let text = marks_report(&declared, &["p.bug.path", "p.guard"], &taken, 10, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "coverage marks: 4 declared, 1 never taken in 10 seeds (and 2 that a correct run never takes, listed last)"
        );
        assert!(
            lines[1].starts_with("  NEVER") && lines[1].ends_with("p.hole"),
            "{text}"
        );
        assert!(lines[2].ends_with("p.often"), "{text}");
        assert!(
            lines[3].starts_with("  off") && lines[3].ends_with("p.bug.path"),
            "{text}"
        );
        assert!(
            lines[4].contains("UNEXPECTED") && lines[4].contains("p.guard"),
            "{text}"
        );
        assert_eq!(lines.len(), 5, "{text}");
        let json: serde_json::Value = serde_json::from_str(&marks_report(
            &declared,
            &["p.bug.path", "p.guard"],
            &taken,
            10,
            true,
        ))
        .expect("one JSON object");
        assert_eq!(json["marks_never_taken"], 1);
        assert_eq!(json["marks_correct_never"], 2);
        assert_eq!(json["marks_unexpected"], 1);
        assert_eq!(json["marks"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn keep_going_runs_every_seed_and_lists_failures_lowest_first() {
        let runner: Runner = Arc::new(|seed| {
            if seed == 2 {
                std::thread::sleep(Duration::from_millis(100));
            }
            result(seed, seed % 5 != 2)
        });
        let end = drive(&plan(30, 3, true), &Signals::default(), runner, |_, _| {});
        assert_eq!(end.ran, 30);
        assert_eq!(
            end.failures.iter().map(|f| f.seed).collect::<Vec<_>>(),
            vec![2, 7, 12, 17, 22, 27]
        );
        assert!(end.in_flight_at_stop.is_empty() && end.never_started == 0);
    }

    #[test]
    fn an_abandoned_campaign_lists_the_seeds_still_running_as_not_run() {
        // A second Ctrl-C: the campaign returns at once; seed 3, still running, did not run.
        let signals = Signals::default();
        let runner: Runner = Arc::new(|seed| {
            std::thread::sleep(Duration::from_millis(if seed == 3 { 3000 } else { 1 }));
            result(seed, true)
        });
        let started = Instant::now();
        let mut arrived = BTreeSet::new();
        let end = drive(&plan(1000, 2, false), &signals, runner, |r, ran| {
            arrived.insert(r.seed);
            if ran == 20 {
                signals.stop.store(true, Ordering::SeqCst);
                signals.abandon.store(true, Ordering::SeqCst);
            }
        });
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(end.abandoned.contains(&3), "{:?}", end.abandoned);
        // Every seed handed out either ran (and was counted) or is listed as not run.
        assert!(end.abandoned.iter().all(|s| !arrived.contains(s)));
        assert_eq!(end.ran + end.abandoned.len() as u64, end.handed_out);
        assert_eq!(arrived.len() as u64, end.ran);
        assert!(end.failures.is_empty());
    }

    #[test]
    fn the_ledger_knows_which_seeds_handed_out_are_still_running() {
        let mut ledger = Ledger::default();
        for k in [0, 2, 3, 5] {
            ledger.finish(k);
        }
        assert_eq!(ledger.running(7), vec![1, 4, 6]);
        ledger.finish(1);
        assert_eq!(ledger.done_below, 4);
        assert_eq!(ledger.running(7), vec![4, 6]);
    }

    #[test]
    fn seed_ranges_and_shards_parse_and_reject_nonsense() {
        assert_eq!(
            parse_seed_range("0..100"),
            Ok(SeedRange { start: 0, end: 100 })
        );
        assert_eq!(
            parse_seed_range("5..=7"),
            Ok(SeedRange { start: 5, end: 8 })
        );
        assert_eq!(parse_seed_range("9"), Ok(SeedRange { start: 9, end: 10 }));
        assert!(parse_seed_range("10..10").is_err());
        assert!(parse_seed_range("a..b").is_err());
        assert_eq!(parse_shard("2/8"), Ok((2, 8)));
        assert!(parse_shard("8/8").is_err());
        assert!(parse_shard("1/0").is_err());
    }
}
