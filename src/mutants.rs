//! `sim mutants`: does the testbed find the bugs it claims to? For every mutant of a
//! protocol, fuzz a scenario with the mutant switched on until a seed fails, and print a
//! table: found or not, seeds tried, wall time to the first failure, what caught it, and
//! (with `--shrink`) the size of the shrunk failing run.

use crate::protocols::{self, RunError};
use simulator::judge::judge;
use simulator::{RunOptions, Scenario};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct MutantsArgs {
    /// Protocol whose mutants to hunt.
    #[arg(long, default_value = "raft")]
    protocol: String,
    /// Seeds tried per mutant before it counts as not found.
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// The scenario to fuzz (its nemesis supplies the faults).
    #[arg(long, default_value = "scenarios/nemesis_mix.toml")]
    scenario: PathBuf,
    /// Also shrink each first failure and report its size (slower).
    #[arg(long)]
    shrink: bool,
    /// Only mutants whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

pub fn run(args: &MutantsArgs) -> u8 {
    let Some(bugs) = protocols::bugs(&args.protocol) else {
        eprintln!(
            "error: --protocol: expected one of {}, got {:?}",
            protocols::NAMES.join(", "),
            args.protocol
        );
        return 2;
    };
    let mut sc = match Scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    sc.protocol = args.protocol.clone();
    if args.seeds == 0 {
        eprintln!("error: --seeds: expected at least 1");
        return 2;
    }
    crate::emit(&format!(
        "{:<44} {:<9} {:>6} {:>9} {:<40} {}\n",
        "mutant", "found", "seeds", "time", "caught by", "shrunk (events/faults/ops)"
    ));
    let mut missed = 0;
    for (name, _) in bugs
        .iter()
        .filter(|(n, _)| args.only.as_ref().is_none_or(|o| n.contains(o.as_str())))
    {
        let started = Instant::now();
        let mut found = None;
        let mut tried = 0;
        for seed in 0..args.seeds {
            tried += 1;
            let options = RunOptions {
                seed,
                keep_events: false,
                bugs: vec![name.to_string()],
                swarm: true,
                describe: false,
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                protocols::run(&sc.protocol, &sc, &options)
            }));
            let caught: Vec<String> = match run {
                Ok(Ok(out)) => {
                    let j = judge(&sc, &out);
                    j.expectations
                        .iter()
                        .filter(|e| !e.held)
                        .map(|e| e.what.trim_end_matches(" passes").to_string())
                        .collect()
                }
                Ok(Err(RunError::Input(m))) => {
                    eprintln!("error: {m}");
                    return 2;
                }
                Ok(Err(RunError::Aborted(m))) | Ok(Err(RunError::Panicked(m))) => {
                    vec![format!("run stopped: {m}")]
                }
                Err(_) => vec!["a protocol assertion".to_string()],
            };
            if !caught.is_empty() {
                found = Some((seed, caught));
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let (found_text, caught_text, shrunk) = match &found {
            Some((seed, caught)) => {
                let shrunk = if args.shrink {
                    shrink_size(&sc, name, *seed)
                } else {
                    "-".to_string()
                };
                (format!("seed {seed}"), caught.join(", "), shrunk)
            }
            None => {
                missed += 1;
                ("NO".to_string(), "-".to_string(), "-".to_string())
            }
        };
        crate::emit(&format!(
            "{name:<44} {found_text:<9} {tried:>6} {elapsed:>8.2}s {caught_text:<40} {shrunk}\n"
        ));
    }
    u8::from(missed > 0)
}

/// The sizes of the shrunk run for a mutant's first failing seed.
fn shrink_size(sc: &Scenario, bug: &str, seed: u64) -> String {
    let options = RunOptions {
        seed,
        keep_events: false,
        bugs: vec![bug.to_string()],
        swarm: true,
        describe: false,
    };
    let Ok(out) = protocols::run(&sc.protocol, sc, &options) else {
        return "?".into();
    };
    let signature = |j: &simulator::judge::Judgement| {
        let mut failed: Vec<String> = j
            .expectations
            .iter()
            .filter(|e| !e.held)
            .map(|e| e.what.clone())
            .collect();
        failed.sort();
        failed
    };
    let want = signature(&judge(sc, &out));
    let explicit = simulator::shrink::explicit(sc, &out);
    let plain = RunOptions {
        swarm: false,
        ..options.clone()
    };
    let fails = |candidate: &Scenario| match protocols::run(&candidate.protocol, candidate, &plain)
    {
        Ok(o) => signature(&judge(candidate, &o)) == want,
        Err(_) => false,
    };
    if !fails(&explicit) {
        return "not reproducible without the nemesis".into();
    }
    let (small, _) = simulator::shrink::shrink(explicit, 150, fails);
    match protocols::run(&small.protocol, &small, &plain) {
        Ok(o) => format!("{}/{}/{}", o.log.len(), small.faults.len(), o.history.len()),
        Err(_) => "?".into(),
    }
}
