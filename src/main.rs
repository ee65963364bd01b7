//! `sim`: run, replay and benchmark deterministic simulations of consensus protocols.
//!
//! Exit codes (one place): 0 every expectation held; 1 a checker found a violation or an
//! expectation failed; 2 usage error or bad input; 3 inconclusive (a checker's budget ran
//! out, or a budget stopped the run: events, memory); 4 replay diverged (the same seed
//! gave a different run: a determinism bug).

mod cmd_check;
mod compare;
mod fuzz;
mod mutants;

use sim::hunt::{self, failure_signature};
use sim::progress::{self, RunWatch};
use sim::protocols;

use clap::{Args, Parser, Subcommand};
use protocols::RunError;
use simulator::judge::{judge, Judgement};
use simulator::report::{
    self, read_trace, save_new_trace, summary_json, summary_text, write_trace, TraceHeader,
};
use simulator::sim::RunOutput;
use simulator::trace::{hash_hex, Kind, RunSettings, CHECKPOINT_EVERY};
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
    /// Run one scenario and seeds under every protocol and read mode, side by side.
    Compare(compare::CompareArgs),
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
    /// Stop the run (exit 3) when this process's memory passes SIZE (e.g. 4GiB, 512MiB);
    /// default: three quarters of the machine's memory.
    #[arg(long, value_name = "SIZE", value_parser = sim::progress::parse_bytes)]
    max_memory: Option<u64>,
    /// Stop the run (exit 3) past N steps, the events taken off the simulator's queue (a
    /// delivery, a timer, a write, a client's or a fault's turn; the summary's event count,
    /// one per recorded effect, runs higher) (default 200000000, at most 10000000000): a
    /// heavy scenario, such as 64 nodes serving 1000 clients for an hour, needs more.
    #[arg(long, value_name = "N", value_parser = parse_max_events)]
    max_events: Option<u64>,
    /// Also write the run as a self-contained HTML page (timeline, faults, violations).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// A trace file written by `sim run` or `sim fuzz`.
    trace: PathBuf,
    /// Stop the run (exit 3) when this process's memory passes SIZE (e.g. 4GiB, 512MiB);
    /// default: three quarters of the machine's memory.
    #[arg(long, value_name = "SIZE", value_parser = sim::progress::parse_bytes)]
    max_memory: Option<u64>,
    /// Stop the run (exit 3) past N steps, the events taken off the simulator's queue (a
    /// delivery, a timer, a write, a client's or a fault's turn; the summary's event count,
    /// one per recorded effect, runs higher) (default 200000000, at most 10000000000): a
    /// heavy scenario, such as 64 nodes serving 1000 clients for an hour, needs more.
    #[arg(long, value_name = "N", value_parser = parse_max_events)]
    max_events: Option<u64>,
    /// Also write the run as a self-contained HTML page (timeline, faults, violations).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
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
    let options = header.settings().options(true, false);
    let (sc, out, _, _) = match execute(&sc, &header.protocol, &options) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if hash_hex(out.log.hash()) != header.trace_hash {
        eprintln!(
            "REPLAY DIVERGED: the re-run does not match the trace (`sim replay` says where). {}",
            diverged_because(&header, &sc.bugs)
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

/// What in this build differs from the one that made the trace, as it bears on replay;
/// `None` when the trace names the revisions this build runs.
fn changed_since(header: &TraceHeader) -> Option<String> {
    let now = protocols::find(&header.protocol)?.revisions();
    header.changed_since(now)
}

/// Why a replay that did not match its trace did not: a build that unfolds runs
/// differently, or, with the same revisions, a determinism bug. `own_bugs` are the mutants
/// the embedded scenario switches on itself.
fn diverged_because(header: &TraceHeader, own_bugs: &[String]) -> String {
    match changed_since(header) {
        Some(why) => {
            let expected = if header.revisions.is_some() {
                "Expected: only a build of the trace's revisions replays it exactly"
            } else {
                "This may be expected"
            };
            format!(
                "{expected}: {why}. What the seed does now: {}",
                rerun_command(
                    Path::new(&header.scenario_file),
                    own_bugs,
                    &header.settings()
                )
            )
        }
        None => match header.revisions {
            Some(r) => format!(
                "The trace names the revisions this build runs ({} {}, simulator {}), so \
                 unless it was edited this is a determinism bug: please report it with the \
                 trace.",
                header.protocol, r.protocol, r.simulator
            ),
            None => format!("This build runs no protocol named {:?}.", header.protocol),
        },
    }
}

/// Loads the scenario embedded in a trace with every recorded setting applied, as the
/// trace ran it (replay, export and shrink all start here).
fn trace_scenario(path: &Path) -> Result<(report::TraceHeader, Scenario), ExitCode> {
    let header = read_trace(path).map_err(|e| fail_input(&e))?;
    let sc = header.scenario(path).map_err(|e| fail_input(&e))?;
    Ok((header, sc))
}

fn cmd_shrink(args: ShrinkArgs) -> ExitCode {
    let (header, sc) = match trace_scenario(&args.trace) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let options = header.settings().options(false, false);
    let (sc, out, j, _) = match execute(&sc, &header.protocol, &options) {
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
    let dir = parent_dir(&args.trace);
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
        "shrunk in {} runs ({} accepted)\n{:<8} {:>10} {:>8} {:>11} {:>6} {:>10}\n{}{}still fails: {}\nsaved: {}\nReproduce with: {}\n\n{}",
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
        replay_command(&saved),
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
        Command::Compare(args) => ExitCode::from(compare::run(args)),
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

/// Runs `sc` under `protocol` in the world its seed draws (the scenario itself unless it
/// has a `[swarm]` table) and judges the run against that world, which it hands back.
fn execute(
    sc: &Scenario,
    protocol: &str,
    options: &RunOptions,
) -> Result<(Scenario, RunOutput, Judgement, Duration), ExitCode> {
    let started = Instant::now();
    let world = match protocols::world(protocol, sc, options.seed) {
        Ok(w) => w.into_owned(),
        Err(RunError::Input(message)) => return Err(fail_input(&message)),
        Err(RunError::Aborted(message)) | Err(RunError::Panicked(message)) => {
            eprintln!("error: {}: {message}", sc.file);
            return Err(ExitCode::from(1));
        }
    };
    let sc = &world;
    let out = match hunt::run_caught(protocol, sc, options) {
        Ok(out) => out,
        Err(RunError::Input(message)) => return Err(fail_input(&message)),
        // A budget (events, memory) stopped the run: no verdict either way.
        Err(RunError::Aborted(message)) => {
            eprintln!("stopped: {}: {message}", sc.file);
            return Err(ExitCode::from(3));
        }
        // A panic outside every protocol step (a protocol's own assertion stops the run
        // with a verdict and a trace instead): a bug of ours.
        Err(RunError::Panicked(message)) => {
            eprintln!(
                "error: {}: the run panicked outside any protocol step, a bug of the simulator: {message} (no verdicts, no trace)",
                sc.file
            );
            return Err(ExitCode::from(1));
        }
    };
    let wall = started.elapsed();
    let j = judge(sc, &out);
    Ok((world, out, j, wall))
}

/// A path as a shell word: quoted when it holds anything but letters, digits and `_-./+,:`
/// (so a printed command can be pasted as it is).
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./+,:".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The directory a file path names its file in ("." for a bare name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn replay_command(path: &Path) -> String {
    format!("sim replay {}", shell_word(path))
}

/// The `sim run` command that gives the run `settings` records, from the scenario file at
/// `scenario` (whose own mutants, `own_bugs`, need no `--bug`). Built from what a trace
/// records, not from this command line, so that an override a trace leaves out is missing
/// here too, and the tests that re-run this line catch it.
fn rerun_command(scenario: &Path, own_bugs: &[String], settings: &RunSettings) -> String {
    let mut line = format!(
        "sim run {} --seed {} --protocol {}",
        shell_word(scenario),
        settings.seed,
        settings.protocol
    );
    if let Some(mode) = settings.read_mode {
        line.push_str(&format!(" --read-mode {}", mode.name()));
    }
    for bug in settings.bugs.iter().filter(|b| !own_bugs.contains(b)) {
        line.push_str(&format!(" --bug {bug}"));
    }
    if settings.swarm {
        line.push_str(" --swarm");
    }
    line
}

/// The scenario and options a `sim run` command line runs: the file with every override
/// applied.
/// `--max-events`: a whole number of events from 1 to `MAX_EVENTS_LIMIT`.
fn parse_max_events(text: &str) -> Result<u64, String> {
    let limit = simulator::sim::MAX_EVENTS_LIMIT;
    match text.trim().replace('_', "").parse::<u64>() {
        Ok(n) if (1..=limit).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number of events from 1 to {limit}, got {text:?}"
        )),
    }
}

fn run_setup(args: &RunArgs) -> Result<(Scenario, RunOptions), ExitCode> {
    let mut sc = Scenario::load(&args.scenario).map_err(|e| fail_input(&e.to_string()))?;
    if let Some(p) = &args.protocol {
        sc.protocol = p.clone();
    }
    if let Some(mode) = args.read_mode {
        sc.workload.read_mode = Some(mode);
    }
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    let options = RunOptions {
        seed: sc.seed,
        // A trace asked for streams its events to disk beside it as the run goes; a
        // failing run without one is run again to save its trace (hunt::with_events).
        spool_dir: args.trace.as_ref().map(|p| parent_dir(p).to_path_buf()),
        bugs: args.bugs.clone(),
        swarm: args.swarm,
        describe: false,
        max_events: args.max_events,
        ..RunOptions::default()
    };
    Ok((sc, options))
}

fn cmd_run(args: RunArgs) -> ExitCode {
    let (sc, mut options) = match run_setup(&args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(html) = &args.html {
        let inputs: Vec<&Path> = [Some(args.scenario.as_path()), args.trace.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if let Err(m) = compare::check_html_path(html, &inputs) {
            return fail_input(&m);
        }
        options.keep_events = true;
    }
    let protocol = sc.protocol.clone();
    eprintln!(
        "sim run {} · protocol {protocol} · seed {}{}",
        args.scenario.display(),
        options.seed,
        sc.workload
            .read_mode
            .map(|m| format!(" · read mode {}", m.name()))
            .unwrap_or_default()
    );
    // The world a swarm scenario's seed draws, before the run (VOPR's header).
    if let (Some(entry), Ok(world)) = (
        protocols::find(&protocol),
        protocols::world(&protocol, &sc, options.seed),
    ) {
        eprint!(
            "{}",
            simulator::swarm::describe(&world, &entry.capabilities)
        );
    }
    let watch = RunWatch::new(
        args.max_memory.unwrap_or_else(progress::default_budget),
        "--max-memory",
        true,
    );
    options.watch = Some(watch.watch());
    let (sc, out, j, wall) = match execute(&sc, &protocol, &options) {
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
    if let Some(html) = &args.html {
        let replay = rerun_command(&args.scenario, &sc.bugs, &RunSettings::of(&sc, &out));
        if let Err(m) = compare::write_run_page(html, &sc, &out, &j, &replay) {
            return fail_input(&m);
        }
        eprintln!("page written to {}", html.display());
    }
    if !j.passed() {
        let saved = hunt::with_events(&sc, &options, out, &args.traces_dir).and_then(|out| {
            save_new_trace(&args.traces_dir, &sc, &out, &j)
                .map(|path| (path, RunSettings::of(&sc, &out)))
                .map_err(|e| e.to_string())
        });
        match saved {
            Ok((path, settings)) => {
                eprintln!("failing trace saved: {}", path.display());
                eprintln!("Reproduce with: {}", replay_command(&path));
                eprintln!(
                    "           or: {}",
                    rerun_command(&args.scenario, &sc.bugs, &settings)
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
    if let Some(html) = &args.html {
        if let Err(m) = compare::check_html_path(html, &[&args.trace]) {
            return fail_input(&m);
        }
    }
    let (header, sc) = match trace_scenario(&args.trace) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(why) = changed_since(&header) {
        eprintln!("note: {why}; the replay may differ");
    }
    let own_bugs = sc.bugs.clone();
    let mut options = header.settings().options(args.timeline, args.timeline);
    options.max_events = args.max_events;
    let watch = RunWatch::new(
        args.max_memory.unwrap_or_else(progress::default_budget),
        "--max-memory",
        true,
    );
    options.watch = Some(watch.watch());
    let (sc, out, j, wall) = match execute(&sc, &header.protocol, &options) {
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
    if let Some(html) = &args.html {
        if let Err(m) = compare::write_run_page(html, &sc, &out, &j, &replay_command(&args.trace)) {
            return fail_input(&m);
        }
        eprintln!("page written to {}", html.display());
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
        "REPLAY DIVERGED: the trace's hash is {}, the replay's is {hash}; {place}. {}",
        header.trace_hash,
        diverged_because(&header, &own_bugs)
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
        "bench: {} · 5 nodes · 10 clients · {}s simulated × {} seeds per profile · events hashed, not kept",
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
                ..RunOptions::default()
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

#[cfg(test)]
mod tests {
    //! Every saved run replays: a trace records every `sim run` option that shaped the run.
    use super::*;
    use clap::CommandFactory;

    /// `sim run`'s arguments that change the run, each with a command line (scenario
    /// first) on which it does: the run differs from the scenario's plain run.
    const OVERRIDES: &[(&str, &[&str])] = &[
        ("seed", &["scenarios/nemesis_mix.toml", "--seed", "7"]),
        (
            "protocol",
            &["scenarios/nemesis_mix.toml", "--protocol", "zab"],
        ),
        (
            "bugs",
            &[
                "scenarios/nemesis_mix.toml",
                "--bug",
                "raft.truncate_without_conflict",
            ],
        ),
        ("swarm", &["scenarios/nemesis_mix.toml", "--swarm"]),
        (
            "read_mode",
            &["scenarios/zab_local_reads.toml", "--read-mode", "sync"],
        ),
    ];

    /// `sim run`'s arguments that only say where and how results are told.
    const NOT_SHAPING_THE_RUN: &[&str] = &[
        "trace",
        "json",
        "traces_dir",
        "html",
        "max_memory",
        "max_events",
    ];

    /// The scenario file itself: every trace embeds its text.
    const THE_SCENARIO: &str = "scenario";

    fn run_args(words: &[&str]) -> RunArgs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut argv = vec!["sim".to_string(), "run".to_string()];
        for (i, w) in words.iter().enumerate() {
            argv.push(if i == 0 {
                root.join(w).display().to_string()
            } else {
                w.to_string()
            });
        }
        match Cli::try_parse_from(&argv) {
            Ok(Cli {
                command: Command::Run(args),
            }) => args,
            Ok(_) => panic!("{argv:?} is not `sim run`"),
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    fn run(args: &RunArgs) -> (Scenario, RunOutput) {
        let (sc, mut options) = run_setup(args).expect("the scenario loads");
        // Kept in memory, as `--trace` would stream them: these tests write traces.
        options.keep_events = true;
        let (_, out, _, _) = execute(&sc, &sc.protocol, &options).expect("the run runs");
        (sc, out)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sim-main-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Replays a trace file as `sim replay`, `sim export` and `sim shrink` do.
    fn replay(path: &Path) -> (Scenario, RunOutput) {
        let (header, sc) = trace_scenario(path).expect("the trace loads");
        let (_, out, _, _) = execute(
            &sc,
            &header.protocol,
            &header.settings().options(true, false),
        )
        .expect("the replay runs");
        (sc, out)
    }

    #[test]
    fn every_sim_run_argument_is_recorded_in_traces_or_declared_not_to_shape_the_run() {
        let cli = Cli::command();
        let run = cli.find_subcommand("run").expect("sim run");
        let ids: Vec<String> = run
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help")
            .collect();
        let declared: Vec<&str> = OVERRIDES
            .iter()
            .map(|(id, _)| *id)
            .chain(NOT_SHAPING_THE_RUN.iter().copied())
            .chain([THE_SCENARIO])
            .collect();
        let undeclared: Vec<&String> = ids
            .iter()
            .filter(|id| !declared.contains(&id.as_str()))
            .collect();
        assert!(
            undeclared.is_empty(),
            "`sim run` arguments {undeclared:?} are neither recorded overrides (OVERRIDES, \
             with a command line that shows them changing the run; record them in \
             simulator::trace::RunSettings) nor declared not to shape the run"
        );
        let stale: Vec<&&str> = declared
            .iter()
            .filter(|d| !ids.iter().any(|id| id == *d))
            .collect();
        assert!(
            stale.is_empty(),
            "declared but not `sim run` arguments: {stale:?}"
        );
    }

    /// The issue that asked for this: `sim run ... --read-mode sync --seed 2` saved a trace
    /// that replay re-ran in the scenario's own read mode (REPLAY DIVERGED, exit 4).
    #[test]
    fn every_override_replays_from_its_trace_and_from_the_printed_sim_run_line() {
        let dir = scratch("overrides");
        for (id, words) in OVERRIDES {
            let plain = run(&run_args(&words[..1])).1.log.hash();
            let args = run_args(words);
            let (sc, out) = run(&args);
            assert_ne!(
                out.log.hash(),
                plain,
                "{id}: `sim run {}` gives the plain run; pick a command line where it matters",
                words.join(" ")
            );
            let path = dir.join(format!("{id}.json"));
            write_trace(&path, &sc, &out, &judge(&sc, &out)).unwrap();
            let (_, again) = replay(&path);
            assert_eq!(
                hash_hex(again.log.hash()),
                hash_hex(out.log.hash()),
                "{id}: the trace of `sim run {}` does not replay",
                words.join(" ")
            );
            let line = rerun_command(&args.scenario, &sc.bugs, &RunSettings::of(&sc, &out));
            let words: Vec<&str> = line.split_whitespace().skip(2).collect();
            let (_, rerun) = run(&run_args(&words));
            assert_eq!(
                rerun.log.hash(),
                out.log.hash(),
                "{id}: the printed `{line}` gives another run"
            );
        }
        // Every override at once.
        let combined = [
            "scenarios/nemesis_mix.toml",
            "--seed",
            "7",
            "--protocol",
            "zab",
            "--bug",
            "zab.diff_instead_of_trunc",
            "--swarm",
            "--read-mode",
            "sync",
        ];
        let args = run_args(&combined);
        let (sc, out) = run(&args);
        let path = dir.join("combined.json");
        write_trace(&path, &sc, &out, &judge(&sc, &out)).unwrap();
        let (replayed_sc, again) = replay(&path);
        assert_eq!(again.log.hash(), out.log.hash(), "{combined:?}");
        assert_eq!(
            RunSettings::of(&replayed_sc, &again),
            RunSettings::of(&sc, &out)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_trace_without_a_read_mode_runs_in_the_scenarios_own_and_a_bad_one_is_refused() {
        let dir = scratch("read-mode-field");
        let (sc, out) = run(&run_args(&[
            "scenarios/zab_local_reads.toml",
            "--read-mode",
            "sync",
        ]));
        let path = dir.join("t.json");
        write_trace(&path, &sc, &out, &judge(&sc, &out)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"read_mode\":\"sync\""));
        // A trace written before read modes were recorded: the scenario's own (local).
        let old = dir.join("old.json");
        std::fs::write(&old, text.replace("\"read_mode\":\"sync\",", "")).unwrap();
        let header = read_trace(&old).unwrap();
        assert_eq!(header.read_mode, None);
        let sc_old = header.scenario(&old).unwrap();
        assert_eq!(sc_old.workload.read_mode, Some(protocol::ReadMode::Local));
        let bad = dir.join("bad.json");
        std::fs::write(
            &bad,
            text.replace("\"read_mode\":\"sync\"", "\"read_mode\":\"psychic\""),
        )
        .unwrap();
        let e = read_trace(&bad).unwrap_err();
        assert!(
            e.contains("bad.json") && e.contains("\"read_mode\"") && e.contains("psychic"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn printed_paths_are_shell_words() {
        assert_eq!(
            shell_word(Path::new("traces/a-b_c.json")),
            "traces/a-b_c.json"
        );
        assert_eq!(
            shell_word(Path::new("my traces/it's.json")),
            r"'my traces/it'\''s.json'"
        );
    }
}
