//! `sim`: run, replay and benchmark deterministic simulations of consensus protocols.
//!
//! Exit codes (one place): 0 every expectation held; 1 a checker found a violation or an
//! expectation failed; 2 usage error or bad input; 3 inconclusive (a checker's budget ran
//! out); 4 replay diverged (the same seed gave a different run: a determinism bug).

mod cmd_check;
mod fuzz;
mod mutants;

use sim::hunt::{self, failure_signature};
use sim::protocols;

use clap::{Args, Parser, Subcommand};
use protocols::RunError;
use simulator::judge::{judge, Judgement};
use simulator::report::{
    self, read_trace, save_new_trace, summary_json, summary_text, write_trace,
};
use simulator::sim::RunOutput;
use simulator::trace::{hash_hex, Kind, CHECKPOINT_EVERY};
use simulator::{RunOptions, Scenario};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Deterministic simulation testbed for consensus protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed and judge it.
    #[command(after_long_help = run_after_help())]
    Run(RunArgs),
    /// Re-run a saved trace bit for bit and confirm its hash.
    Replay(ReplayArgs),
    /// Check histories for linearizability (native JSON, sim traces, Jepsen EDN or logs).
    Check(cmd_check::CheckArgs),
    /// Export a trace for Perfetto (Chrome Trace Event JSON) and its history as Jepsen EDN.
    Export(ExportArgs),
    /// Shrink a failing trace to the smallest run that still fails the same way.
    Shrink(ShrinkArgs),
    /// Run a scenario over many seeds on every core until something breaks.
    Fuzz(fuzz::FuzzArgs),
    /// Hunt every mutant of a protocol and print what found each.
    Mutants(mutants::MutantsArgs),
    /// Measure simulated events per second and time compression.
    Bench(BenchArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Protocol (default: the scenario's).
    #[arg(long, value_parser = protocols::value_parser())]
    protocol: Option<String>,
    /// Also write the trace to this path.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Switch a mutant on (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Draw this seed's own fault mix from the nemesis rates, as `sim fuzz` does.
    #[arg(long)]
    swarm: bool,
    /// Override the scenario's read mode (the protocol must serve it).
    #[arg(long, value_parser = parse_read_mode, long_help = protocols::read_mode_help())]
    read_mode: Option<protocol::ReadMode>,
    /// One JSON object on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Where failing traces are saved.
    #[arg(long, default_value = "traces")]
    traces_dir: PathBuf,
}

#[derive(Args)]
struct ReplayArgs {
    /// A trace file written by `sim run` or `sim fuzz`.
    trace: PathBuf,
    #[arg(long)]
    json: bool,
    /// Print every event as a readable line (messages, writes, operations in full).
    #[arg(long)]
    timeline: bool,
    /// Timeline: only events at or about this node (as receiver, sender or target).
    #[arg(long)]
    node: Option<u32>,
    /// Timeline: from this simulated time (e.g. 4.5s).
    #[arg(long, value_parser = simulator::duration::parse_duration)]
    from: Option<Duration>,
    /// Timeline: up to this simulated time.
    #[arg(long, value_parser = simulator::duration::parse_duration)]
    to: Option<Duration>,
}

#[derive(Args)]
struct ExportArgs {
    /// A trace written by `sim run`, `sim fuzz` or `sim shrink`.
    trace: PathBuf,
    /// Write Chrome Trace Event JSON here (open it at ui.perfetto.dev).
    #[arg(long)]
    perfetto: Option<PathBuf>,
    /// Write the client history as Jepsen EDN here (for Knossos or Elle).
    #[arg(long)]
    edn: Option<PathBuf>,
}

#[derive(Args)]
struct ShrinkArgs {
    /// A failing trace written by `sim run` or `sim fuzz`.
    trace: PathBuf,
    /// Give up after trying this many candidate runs.
    #[arg(long, default_value_t = 400)]
    max_runs: u64,
}

#[derive(Args)]
struct BenchArgs {
    /// Simulated seconds per measured run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Number of runs (seeds) to measure.
    #[arg(long, default_value_t = 5)]
    runs: u64,
    /// Protocol to measure.
    #[arg(long, default_value = protocols::DEFAULT, value_parser = protocols::value_parser())]
    protocol: String,
}

/// `sim run --help` ends with every protocol's own options.
fn run_after_help() -> String {
    format!(
        "Protocol options, set in a scenario's [options.NAME] table \
         (docs/scenarios.md):{}",
        protocols::options_help()
    )
}

fn parse_read_mode(text: &str) -> Result<protocol::ReadMode, String> {
    protocol::ReadMode::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = protocol::ReadMode::ALL.iter().map(|m| m.name()).collect();
        format!("expected one of {}, got {text:?}", names.join(", "))
    })
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn cmd_export(args: ExportArgs) -> ExitCode {
    if args.perfetto.is_none() && args.edn.is_none() {
        return fail_input("export: name at least one of --perfetto FILE and --edn FILE");
    }
    let (header, sc) = match trace_scenario(&args.trace) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let options = RunOptions {
        seed: header.seed,
        keep_events: true,
        bugs: header.bugs.clone(),
        swarm: header.swarm,
        describe: false,
    };
    let (out, _, _) = match execute(&sc, &header.protocol, &options) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if hash_hex(out.log.hash()) != header.trace_hash {
        eprintln!(
            "REPLAY DIVERGED: the re-run does not match the trace; run `sim replay` for where"
        );
        return ExitCode::from(4);
    }
    if let Some(path) = &args.perfetto {
        let text = simulator::export::perfetto(&out, sc.nodes).to_string();
        if let Err(e) = write_atomically(path, &text) {
            return fail_input(&format!("{}: cannot write: {e}", path.display()));
        }
        eprintln!(
            "Perfetto trace written to {} (open it at ui.perfetto.dev)",
            path.display()
        );
    }
    if let Some(path) = &args.edn {
        if let Err(e) = write_atomically(path, &simulator::export::edn_history(&out)) {
            return fail_input(&format!("{}: cannot write: {e}", path.display()));
        }
        eprintln!("Jepsen EDN history written to {}", path.display());
    }
    ExitCode::SUCCESS
}

/// Loads the scenario embedded in a trace, as the trace ran it.
fn trace_scenario(path: &Path) -> Result<(report::TraceHeader, Scenario), ExitCode> {
    let header = read_trace(path).map_err(|e| fail_input(&e))?;
    let file = format!("{} (embedded in {})", header.scenario_file, path.display());
    let mut sc =
        Scenario::from_toml(&file, &header.scenario).map_err(|e| fail_input(&e.to_string()))?;
    sc.file = header.scenario_file.clone();
    sc.protocol = header.protocol.clone();
    sc.seed = header.seed;
    Ok((header, sc))
}

fn cmd_shrink(args: ShrinkArgs) -> ExitCode {
    let (header, sc) = match trace_scenario(&args.trace) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let options = RunOptions {
        seed: header.seed,
        keep_events: false,
        bugs: header.bugs.clone(),
        swarm: header.swarm,
        describe: false,
    };
    let (out, j, _) = match execute(&sc, &header.protocol, &options) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let signature = failure_signature(&j);
    if signature.is_empty() {
        eprintln!(
            "{}: this run fails no expectation (each held, or its checker could not decide); there is nothing to shrink",
            args.trace.display()
        );
        return ExitCode::from(2);
    }
    eprintln!(
        "shrinking {} · fails: {}",
        args.trace.display(),
        signature.join("; ")
    );
    let shrunk = match hunt::shrink_failure(&sc, &options, &out, args.max_runs) {
        Ok(s) => s,
        Err(m) => return fail_input(&format!("{}: {m}", args.trace.display())),
    };
    if !shrunk.explicit {
        eprintln!(
            "note: the nemesis run does not reproduce as an explicit schedule; shrunk it as it is"
        );
    }
    let hunt::Shrunk {
        scenario: mut small,
        out: small_out,
        judgement: small_j,
        stats,
        ..
    } = shrunk;
    small.description = format!(
        "Shrunk by `sim shrink` from {} (seed {}): still fails {}.",
        args.trace.display(),
        header.seed,
        signature.join("; ")
    );
    let dir = args
        .trace
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let saved = match save_new_trace(dir, &small, &small_out, &small_j) {
        Ok(path) => path,
        Err(e) => {
            return fail_input(&format!(
                "{}: cannot save the shrunk trace: {e}",
                dir.display()
            ))
        }
    };
    let row = |name: &str, o: &RunOutput, sc: &Scenario| {
        format!(
            "{name:<8} {:>10} {:>8} {:>11} {:>6} {:>10}\n",
            o.log.len(),
            o.faults.len(),
            o.history.len(),
            sc.nodes,
            format!("{:.3}s", sc.duration.as_secs_f64())
        )
    };
    emit(&format!(
        "shrunk in {} runs ({} accepted)\n{:<8} {:>10} {:>8} {:>11} {:>6} {:>10}\n{}{}still fails: {}\nsaved: {}\nReproduce with: sim replay {}\n\n{}",
        stats.runs,
        stats.accepted,
        "",
        "events",
        "faults",
        "operations",
        "nodes",
        "duration",
        row("before", &out, &sc),
        row("after", &small_out, &small),
        failure_signature(&small_j).join("; "),
        saved.display(),
        saved.display(),
        small.to_toml(),
    ));
    ExitCode::SUCCESS
}

/// Writes to stdout; a closed pipe (`sim ... | head`) ends the program quietly.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn fail_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Replay(args) => cmd_replay(args),
        Command::Shrink(args) => cmd_shrink(args),
        Command::Export(args) => cmd_export(args),
        Command::Check(args) => ExitCode::from(cmd_check::run(&args)),
        Command::Fuzz(args) => ExitCode::from(fuzz::run(args)),
        Command::Mutants(args) => ExitCode::from(mutants::run(&args)),
        Command::Bench(args) => cmd_bench(args),
    }
}

fn exit_for(j: &Judgement) -> ExitCode {
    if j.passed() {
        ExitCode::SUCCESS
    } else if j.inconclusive() {
        ExitCode::from(3)
    } else {
        ExitCode::from(1)
    }
}

fn execute(
    sc: &Scenario,
    protocol: &str,
    options: &RunOptions,
) -> Result<(RunOutput, Judgement, Duration), ExitCode> {
    let started = Instant::now();
    let out = match protocols::run(protocol, sc, options) {
        Ok(out) => out,
        Err(RunError::Input(message)) => return Err(fail_input(&message)),
        Err(RunError::Aborted(message)) | Err(RunError::Panicked(message)) => {
            eprintln!("error: {}: {message}", sc.file);
            return Err(ExitCode::from(1));
        }
    };
    let wall = started.elapsed();
    let j = judge(sc, &out);
    Ok((out, j, wall))
}

fn replay_command(path: &Path) -> String {
    format!("sim replay {}", path.display())
}

fn cmd_run(args: RunArgs) -> ExitCode {
    let mut sc = match Scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => return fail_input(&e.to_string()),
    };
    if let Some(p) = &args.protocol {
        sc.protocol = p.clone();
    }
    if let Some(mode) = args.read_mode {
        sc.workload.read_mode = Some(mode);
    }
    let seed = args.seed.unwrap_or(sc.seed);
    let protocol = sc.protocol.clone();
    eprintln!(
        "sim run {} · protocol {protocol} · seed {seed}",
        args.scenario.display()
    );
    let options = RunOptions {
        seed,
        keep_events: true,
        bugs: args.bugs.clone(),
        swarm: args.swarm,
        describe: false,
    };
    let (out, j, wall) = match execute(&sc, &protocol, &options) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(path) = &args.trace {
        if let Err(e) = write_trace(path, &sc, &out, &j) {
            return fail_input(&format!("{}: cannot write the trace: {e}", path.display()));
        }
        eprintln!("trace written to {}", path.display());
    }
    if args.json {
        emit(&format!("{}\n", summary_json(&sc, &out, &j)));
    } else {
        emit(&summary_text(&sc, &out, &j, Some(wall)));
    }
    if !j.passed() {
        match save_new_trace(&args.traces_dir, &sc, &out, &j) {
            Ok(path) => {
                let bugs: String = args.bugs.iter().map(|b| format!(" --bug {b}")).collect();
                let bugs = if args.swarm {
                    format!("{bugs} --swarm")
                } else {
                    bugs
                };
                eprintln!("failing trace saved: {}", path.display());
                eprintln!("Reproduce with: {}", replay_command(&path));
                eprintln!(
                    "           or: sim run {} --seed {seed} --protocol {protocol}{bugs}",
                    args.scenario.display()
                );
            }
            Err(e) => eprintln!(
                "warning: could not save the failing trace under {}: {e}",
                args.traces_dir.display()
            ),
        }
    }
    exit_for(&j)
}

fn cmd_replay(args: ReplayArgs) -> ExitCode {
    let (header, sc) = match trace_scenario(&args.trace) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if header.program_version != report::PROGRAM_VERSION {
        eprintln!(
            "note: the trace was written by version {}, this is {}; the run may differ",
            header.program_version,
            report::PROGRAM_VERSION
        );
    }
    let options = RunOptions {
        seed: header.seed,
        keep_events: true,
        bugs: header.bugs.clone(),
        swarm: header.swarm,
        describe: args.timeline,
    };
    let (out, j, wall) = match execute(&sc, &header.protocol, &options) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if args.timeline {
        let (from, to) = (
            args.from.map_or(0, |d| d.as_nanos() as u64),
            args.to.map_or(u64::MAX, |d| d.as_nanos() as u64),
        );
        for (i, e) in out.log.events.iter().enumerate() {
            let about = |n: u32| {
                e.node == n
                    || (e.peer == n
                        && !matches!(e.kind, Kind::Invoke | Kind::Return | Kind::Timeout))
            };
            if e.at_ns < from || e.at_ns > to || args.node.is_some_and(|n| !about(n)) {
                continue;
            }
            emit(&format!(
                "{}\n",
                report::timeline_line(e, out.log.detail(i as u64))
            ));
        }
    }
    if args.json {
        emit(&format!("{}\n", summary_json(&sc, &out, &j)));
    } else {
        emit(&summary_text(&sc, &out, &j, Some(wall)));
    }
    let hash = hash_hex(out.log.hash());
    if hash == header.trace_hash {
        eprintln!(
            "replay matches: trace hash {hash}, {} events",
            out.log.len()
        );
        return exit_for(&j);
    }
    let mine: Vec<String> = out.log.checkpoints.iter().map(|h| hash_hex(*h)).collect();
    let first = mine
        .iter()
        .zip(&header.checkpoints)
        .position(|(a, b)| a != b);
    let place = match first {
        Some(k) => format!(
            "the runs first differ within events {}..{}",
            k * CHECKPOINT_EVERY,
            (k + 1) * CHECKPOINT_EVERY
        ),
        None => format!(
            "the runs agree on their first {} events, then differ (trace has {}, replay has {})",
            mine.len().min(header.checkpoints.len()) * CHECKPOINT_EVERY,
            header.event_count,
            out.log.len()
        ),
    };
    eprintln!(
        "REPLAY DIVERGED: the trace's hash is {}, the replay's is {hash}; {place}. \
         Trace version {}, this program {}.",
        header.trace_hash,
        header.program_version,
        report::PROGRAM_VERSION
    );
    ExitCode::from(4)
}

/// The bench workloads: `saturated` keeps every client busy back to back (events/s);
/// `steady` paces clients at about 10 operations a second each (time compression).
fn bench_scenario(protocol: &str, seconds: u64, profile: &str) -> String {
    let think = if profile == "steady" {
        r#"["50ms", "150ms"]"#
    } else {
        r#"["0ms", "1ms"]"#
    };
    format!(
        r#"
name = "bench_{profile}"
description = "5 nodes, 10 clients, no faults"
protocol = "{protocol}"
nodes = 5
duration = "{seconds}s"
[network]
latency = ["1ms", "5ms"]
[workload]
clients = 10
keys = 10
think = {think}
"#
    )
}

fn cmd_bench(args: BenchArgs) -> ExitCode {
    if args.seconds == 0 || args.seconds > 3600 || args.runs == 0 || args.runs > 1000 {
        return fail_input("bench: expected --seconds in 1..=3600 and --runs in 1..=1000");
    }
    eprintln!(
        "bench: {} · 5 nodes · 10 clients · {}s simulated × {} seeds per profile · trace recording on",
        args.protocol, args.seconds, args.runs
    );
    emit(&format!(
        "{:<10} {:>14} {:>14} {:>12} {:>12} {:>12}\n",
        "profile", "events/s", "queue pops/s", "compression", "ops/s wall", "events/sim s"
    ));
    for profile in ["saturated", "steady"] {
        let text = bench_scenario(&args.protocol, args.seconds, profile);
        let sc = match Scenario::from_toml("<bench>", &text) {
            Ok(sc) => sc,
            Err(e) => return fail_input(&e.to_string()),
        };
        let (mut events, mut queue, mut sim_ns, mut wall, mut ops) =
            (0u64, 0u64, 0u64, Duration::ZERO, 0u64);
        for seed in 0..args.runs {
            let options = RunOptions {
                seed,
                keep_events: true,
                bugs: vec![],
                swarm: false,
                describe: false,
            };
            let started = Instant::now();
            let out = match protocols::run(&args.protocol, &sc, &options) {
                Ok(out) => out,
                Err(RunError::Input(m))
                | Err(RunError::Aborted(m))
                | Err(RunError::Panicked(m)) => return fail_input(&m),
            };
            wall += started.elapsed();
            events += out.log.len();
            queue += out.queue_events;
            sim_ns += out.end_ns;
            ops += simulator::judge::op_counts(&out).0;
        }
        let w = wall.as_secs_f64();
        let sim_s = sim_ns as f64 / 1e9;
        emit(&format!(
            "{profile:<10} {:>14.0} {:>14.0} {:>11.0}x {:>12.0} {:>12.0}\n",
            events as f64 / w,
            queue as f64 / w,
            sim_s / w,
            ops as f64 / w,
            events as f64 / sim_s
        ));
    }
    ExitCode::SUCCESS
}
