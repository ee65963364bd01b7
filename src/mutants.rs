//! `sim mutants`: does the testbed find the bugs it claims to? For every mutant, fuzz the
//! scenario the mutant table (`scenarios/mutants/mutants.toml`) names for it, with the
//! mutant switched on, until a seed fails; print a table: found or not, seeds tried, wall
//! time to the first failure, what caught it, and (with `--shrink`) the size of the shrunk
//! failing run. Mutants run side by side on `--jobs` threads; each run stays
//! single-threaded.

use crate::protocols;
use sim::hunt::{self, MutantRow};
use simulator::{RunOptions, Scenario};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args)]
pub struct MutantsArgs {
    /// Only this protocol's mutants (default: every protocol's).
    #[arg(long, value_parser = protocols::value_parser())]
    protocol: Option<String>,
    /// Seeds tried per mutant before it counts as not found (default: the table's budget).
    #[arg(long)]
    seeds: Option<u64>,
    /// The mutant table: which scenario hunts each mutant, and its seed budget.
    #[arg(long, default_value = hunt::MUTANT_TABLE)]
    table: PathBuf,
    /// Hunt every mutant with this scenario instead of the table's (run under each
    /// mutant's protocol; each caught by the table row's own checker; default budget
    /// 2000 seeds), e.g. scenarios/swarm.toml.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Also shrink each first failure and report its size (slower).
    #[arg(long)]
    shrink: bool,
    /// Only mutants whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Mutants hunted at once (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
}

/// The seed budget per mutant of `--scenario` (issue #11: a general scenario must find
/// every mutant within it).
const SCENARIO_SEEDS: u64 = 2000;

/// What hunting one mutant came to.
struct Outcome {
    text: String,
    found: bool,
}

pub fn run(args: &MutantsArgs) -> u8 {
    match plan(args) {
        Ok(rows) => hunt_all(args, &rows),
        Err(m) => {
            eprintln!("error: {m}");
            2
        }
    }
}

/// The mutants to hunt, each with its scenario and budget.
fn plan(args: &MutantsArgs) -> Result<Vec<MutantRow>, String> {
    if args.seeds == Some(0) {
        return Err("--seeds: expected at least 1".into());
    }
    if args.jobs == Some(0) {
        return Err("--jobs: expected at least 1".into());
    }
    let entries: Vec<&protocols::Entry> = match &args.protocol {
        Some(p) => vec![protocols::lookup(p).map_err(|m| format!("--protocol: {m}"))?],
        None => protocols::PROTOCOLS.iter().collect(),
    };
    let table = hunt::load_table(&args.table)?;
    let mut rows = Vec::new();
    for entry in entries {
        let protocol = entry.name;
        for bug in entry.bugs.iter().map(|b| b.name) {
            if args
                .only
                .as_ref()
                .is_some_and(|o| !bug.contains(o.as_str()))
            {
                continue;
            }
            let row = match &args.scenario {
                // The row's own checker: a mutant is found when what it breaks is caught,
                // not when some other expectation happens to fail first.
                Some(scenario) => Some(MutantRow {
                    bug: bug.to_string(),
                    protocol: protocol.to_string(),
                    unreached: None,
                    scenario: scenario.clone(),
                    seeds: SCENARIO_SEEDS,
                    caught_by: table
                        .iter()
                        .find(|r| r.bug == bug)
                        .map(|r| r.caught_by.clone())
                        .unwrap_or_default(),
                    swarm: true,
                }),
                None => table.iter().find(|r| r.bug == bug).cloned(),
            };
            rows.push(row.unwrap_or_else(|| MutantRow {
                bug: bug.to_string(),
                protocol: protocol.to_string(),
                unreached: Some("it has no row in the table".to_string()),
                scenario: PathBuf::new(),
                seeds: 0,
                caught_by: String::new(),
                swarm: true,
            }));
        }
    }
    if rows.is_empty() {
        return Err("no mutant matches".into());
    }
    for row in &mut rows {
        if let (Some(n), None) = (args.seeds, &row.unreached) {
            row.seeds = n;
        }
    }
    Ok(rows)
}

fn hunt_all(args: &MutantsArgs, rows: &[MutantRow]) -> u8 {
    crate::emit(&format!(
        "{:<42} {:<26} {:<9} {:>6} {:>8} {:<36} {}\n",
        "mutant", "scenario", "found", "seeds", "time", "caught by", "shrunk (events/faults/ops)"
    ));
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(rows.len());
    // Rows finish out of order; print each as soon as every row above it is done.
    let done: Mutex<(usize, Vec<Option<Outcome>>)> =
        Mutex::new((0, rows.iter().map(|_| None).collect()));
    let next = AtomicUsize::new(0);
    let bad_input: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                if bad_input.lock().unwrap().is_some() {
                    break;
                }
                let outcome = match hunt_one(row, args.shrink) {
                    Ok(o) => o,
                    Err(m) => {
                        *bad_input.lock().unwrap() = Some(m);
                        break;
                    }
                };
                let mut d = done.lock().unwrap();
                d.1[i] = Some(outcome);
                while let Some(Some(o)) = d.1.get(d.0) {
                    crate::emit(&o.text);
                    d.0 += 1;
                }
            });
        }
    });
    if let Some(m) = bad_input.into_inner().unwrap() {
        eprintln!("error: {m}");
        return 2;
    }
    let outcomes = done.into_inner().unwrap().1;
    let missed = outcomes.iter().flatten().filter(|o| !o.found).count();
    eprintln!(
        "{} of {} mutants found",
        outcomes.len() - missed,
        outcomes.len()
    );
    u8::from(missed > 0)
}

fn hunt_one(row: &MutantRow, shrink: bool) -> Result<Outcome, String> {
    let line = |scenario: &str, found: &str, seeds: u64, secs: f64, caught: &str, shrunk: &str| {
        format!(
            "{:<42} {scenario:<26} {found:<9} {seeds:>6} {secs:>7.2}s {caught:<36} {shrunk}\n",
            row.bug
        )
    };
    if let Some(why) = &row.unreached {
        return Ok(Outcome {
            text: line("(unreached)", "NO", 0, 0.0, why, "-"),
            found: false,
        });
    }
    let mut sc = Scenario::load(&row.scenario).map_err(|e| e.to_string())?;
    sc.protocol = row.protocol.clone();
    let name = row
        .scenario
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let started = Instant::now();
    let found = hunt::first_failure(&sc, &row.bug, 0..row.seeds, row.swarm, &row.caught_by)?;
    let secs = started.elapsed().as_secs_f64();
    Ok(match found {
        Some(f) => {
            let shrunk = if shrink {
                shrink_size(&sc, row, f.seed)
            } else {
                "-".to_string()
            };
            Outcome {
                text: line(
                    &name,
                    &format!("seed {}", f.seed),
                    f.seed + 1,
                    secs,
                    &f.failed.join(", "),
                    &shrunk,
                ),
                found: true,
            }
        }
        None => Outcome {
            text: line(&name, "NO", row.seeds, secs, "-", "-"),
            found: false,
        },
    })
}

/// The size of the shrunk run for a mutant's first failing seed (events/faults/ops).
fn shrink_size(sc: &Scenario, row: &MutantRow, seed: u64) -> String {
    let options = RunOptions {
        seed,
        keep_events: false,
        bugs: vec![row.bug.clone()],
        swarm: row.swarm,
        describe: false,
        ..RunOptions::default()
    };
    let Ok((world, out)) = hunt::run_world(&sc.protocol, sc, &options) else {
        return "(a panic: not shrunk)".into();
    };
    match hunt::shrink_failure(&world, &options, &out, 150) {
        Ok(s) => format!(
            "{}/{}/{} from {}/{}/{}",
            s.out.log.len(),
            s.out.faults.len(),
            s.out.history.len(),
            out.log.len(),
            out.faults.len(),
            out.history.len()
        ),
        Err(m) => m,
    }
}
