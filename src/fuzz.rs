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
    };
    if let Err(RunError::Input(m)) = protocols::check(&sc.protocol, &sc, &probe) {
        eprintln!("error: {m}");
        return 2;
    }
    eprintln!(
        "sim fuzz {} · protocol {} · seeds {}..{}{} ({} seeds) · {jobs} jobs · swarm {}",
        args.scenario.display(),
        sc.protocol,
        args.seeds.start,
        args.seeds.end,
        args.shard
            .map(|(i, n)| format!(" shard {i}/{n}"))
            .unwrap_or_default(),
        seeds.count,
        if swarm { "on" } else { "off" },
    );

    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (stop, interrupted) = (stop.clone(), interrupted.clone());
        // Failing to install the handler only loses the clean summary on Ctrl-C.
        let _ = ctrlc::set_handler(move || {
            interrupted.store(true, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        });
    }
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let started = Instant::now();
    let total = seeds.count;
    let bar = progress_bar(total);
    let mut ran = 0u64;
    let mut failures: Vec<SeedResult> = Vec::new();
    let mut inconclusive: Vec<u64> = Vec::new();
    let mut exit = 0u8;
    let mut last_line = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (sc, seeds, next, stop, bugs) = (&sc, &seeds, &next, &stop, &args.bugs);
            scope.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(seed) = seeds.get(k) else {
                    break;
                };
                let options = RunOptions {
                    seed,
                    keep_events: false,
                    bugs: bugs.clone(),
                    swarm,
                    describe: false,
                };
                // A protocol that asserts its own invariants panics on a violation: that is
                // this seed's finding, not the end of the campaign.
                let run = sim::hunt::run_caught(&sc.protocol, sc, &options);
                let result = match run {
                    Ok(out) => {
                        let j = judge(sc, &out);
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
                        }
                    }
                    Err(RunError::Input(m)) | Err(RunError::Aborted(m)) => SeedResult {
                        seed,
                        passed: false,
                        inconclusive: false,
                        failed: vec![m],
                    },
                    Err(RunError::Panicked(m)) => SeedResult {
                        seed,
                        passed: false,
                        inconclusive: false,
                        failed: vec![format!(
                            "the protocol asserted an invariant and stopped: {m}"
                        )],
                    },
                };
                if tx.send(result).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for result in rx.iter() {
            ran += 1;
            if let Some(limit) = args.time {
                if started.elapsed() >= limit {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            if !result.passed && result.inconclusive {
                let message = format!("UNKNOWN seed {}: {}", result.seed, result.failed.join("; "));
                match &bar {
                    Some(b) => b.suspend(|| eprintln!("{message}")),
                    None => eprintln!("{message}"),
                }
                inconclusive.push(result.seed);
            } else if !result.passed && !failures.is_empty() && !args.keep_going {
                // Seeds already running when the campaign stopped: counted, not re-run.
                failures.push(result);
            } else if !result.passed {
                let message = report_failure(&sc, &args, &result, swarm);
                match &bar {
                    Some(b) => b.suspend(|| eprintln!("{message}")),
                    None => eprintln!("{message}"),
                }
                failures.push(result);
                if !args.keep_going {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            match &bar {
                Some(b) => {
                    b.set_position(ran);
                    b.set_message(format!("{} failures", failures.len()));
                }
                None if last_line.elapsed() >= Duration::from_secs(10) => {
                    last_line = Instant::now();
                    let rate = ran as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    eprintln!(
                        "fuzz: {ran}/{total} seeds, {} failures, {rate:.0} seeds/s",
                        failures.len()
                    );
                }
                None => {}
            }
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let wall = started.elapsed().as_secs_f64();
    let rate = ran as f64 / wall.max(1e-9);
    let why = if interrupted.load(Ordering::SeqCst) {
        "interrupted"
    } else if !failures.is_empty() && !args.keep_going {
        "stopped at the first failure"
    } else if ran < total {
        "time budget reached"
    } else {
        "all seeds ran"
    };
    if args.json {
        let failed: Vec<u64> = failures.iter().map(|f| f.seed).collect();
        crate::emit(&format!(
            "{}\n",
            serde_json::json!({
                "summary": true, "scenario": sc.name, "protocol": sc.protocol, "seeds_run": ran,
                "seeds_total": total, "failures": failed, "inconclusive": inconclusive,
                "wall_s": wall, "seeds_per_s": rate, "jobs": jobs, "ended": why,
            })
        ));
    } else {
        crate::emit(&format!(
            "{ran} of {total} seeds in {wall:.2}s ({rate:.1} seeds/s, {jobs} jobs): {} failures, {} inconclusive; {why}\n",
            failures.len(),
            inconclusive.len()
        ));
    }
    if !failures.is_empty() {
        exit = 1;
    } else if !inconclusive.is_empty() {
        exit = 3;
    }
    exit
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

/// Re-runs a failing seed with its events recorded, saves the trace, and says how to
/// replay it.
fn report_failure(sc: &Scenario, args: &FuzzArgs, result: &SeedResult, swarm: bool) -> String {
    let mut text = format!("FAIL seed {}: {}", result.seed, result.failed.join("; "));
    let bugs: String = args.bugs.iter().map(|b| format!(" --bug {b}")).collect();
    let rerun = format!(
        "sim run {} --seed {} --protocol {}{bugs}{}",
        args.scenario.display(),
        result.seed,
        sc.protocol,
        if swarm { " --swarm" } else { "" }
    );
    if result
        .failed
        .iter()
        .any(|f| f.starts_with("the protocol asserted"))
    {
        // No trace can be saved from a run that stopped; the run itself is the reproduction.
        return format!("{text}\n  Reproduce with: {rerun}");
    }
    let options = RunOptions {
        seed: result.seed,
        keep_events: true,
        bugs: args.bugs.clone(),
        swarm,
        describe: false,
    };
    match protocols::run(&sc.protocol, sc, &options) {
        Ok(out) => {
            let j = judge(sc, &out);
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
