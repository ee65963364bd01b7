//! Hunting bugs with the simulator: naming what a run failed, finding a mutant's first
//! failing seed, shrinking a failure, the mutant table and the frozen regressions. `sim
//! shrink`, `sim mutants` and the workspace tests all ask these questions through here, so
//! they ask them the same way.

use crate::protocols::{self, RunError};
use serde::Deserialize;
use simulator::judge::{judge, Judgement};
use simulator::shrink::Stats;
use simulator::sim::RunOutput;
use simulator::{RunOptions, Scenario};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The expectations a run fails, sorted: two runs fail "the same way" when these are equal.
/// One that failed only because its checker could not decide (a budget ran out) is not a
/// finding and is left out.
pub fn failure_signature(j: &Judgement) -> Vec<String> {
    let mut failed: Vec<String> = j
        .expectations
        .iter()
        .filter(|e| !e.held && !e.undecided)
        .map(|e| e.what.clone())
        .collect();
    failed.sort();
    failed
}

/// The same, with checkers named as on the command line (`linearizability`, not
/// `linearizability passes`); other expectations keep their words.
pub fn failed_checks(j: &Judgement) -> Vec<String> {
    failure_signature(j)
        .into_iter()
        .map(|w| w.trim_end_matches(" passes").to_string())
        .collect()
}

thread_local! {
    /// Set while `run_caught` runs a seed on this thread: its panic is a finding, reported
    /// once with the seed, not a crash for the default hook to print with a backtrace.
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that stays silent for panics `run_caught` catches and
/// hands every other panic to the hook that was there before.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(|c| c.get()) {
                default(info);
            }
        }));
    });
}

/// Runs one seed; a protocol that asserts one of its own invariants panics, and that panic
/// comes back as `RunError::Panicked` (a finding), not as the end of the caller.
pub fn run_caught(
    protocol: &str,
    sc: &Scenario,
    options: &RunOptions,
) -> Result<RunOutput, RunError> {
    catch_panics(|| protocols::run(protocol, sc, options))
}

/// `run`, with a panic inside it turned into `RunError::Panicked` carrying its message,
/// and no panic message or backtrace printed for it.
fn catch_panics<T>(run: impl FnOnce() -> Result<T, RunError>) -> Result<T, RunError> {
    quiet_caught_panics();
    let was = CATCHING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    CATCHING.with(|c| c.set(was));
    result.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        Err(RunError::Panicked(what))
    })
}

/// Runs one seed as `run_caught` does, in the world the seed draws (`Entry::world`: the
/// scenario itself unless it has a `[swarm]` table), and hands back that world: judge the
/// run against it.
pub fn run_world<'a>(
    protocol: &str,
    sc: &'a Scenario,
    options: &RunOptions,
) -> Result<(std::borrow::Cow<'a, Scenario>, RunOutput), RunError> {
    let world = protocols::world(protocol, sc, options.seed)?;
    let out = run_caught(protocol, &world, options)?;
    Ok((world, out))
}

/// `out`, a run of `world` with `options`, with its events available to a trace file:
/// `out` itself when it kept or spooled them, else the same run again with its events
/// streamed to a spool file in `dir`. A run that passes never pays for its events; one
/// that fails runs twice, and the two hashes must agree (the one rule, checked).
pub fn with_events(
    world: &Scenario,
    options: &RunOptions,
    out: RunOutput,
    dir: &Path,
) -> Result<RunOutput, String> {
    if out.log.has_events() {
        return Ok(out);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let again = RunOptions {
        spool_dir: Some(dir.to_path_buf()),
        ..options.clone()
    };
    let rerun = run_caught(&world.protocol, world, &again).map_err(|e| match e {
        RunError::Input(m) | RunError::Aborted(m) | RunError::Panicked(m) => m,
    })?;
    if rerun.log.hash() != out.log.hash() {
        return Err(format!(
            "the run did not repeat itself to record its events: trace hash {} then {} (a determinism bug of ours)",
            simulator::trace::hash_hex(out.log.hash()),
            simulator::trace::hash_hex(rerun.log.hash())
        ));
    }
    Ok(rerun)
}

/// A failing seed and what failed (checker names; an aborted run or a panic in words).
#[derive(Clone, Debug)]
pub struct Found {
    pub seed: u64,
    pub failed: Vec<String>,
}

/// How a campaign (fuzz, hunt) runs one seed: no event log kept, no descriptions.
pub fn campaign_options(bugs: &[String], seed: u64, swarm: bool) -> RunOptions {
    RunOptions {
        seed,
        keep_events: false,
        bugs: bugs.to_vec(),
        swarm,
        describe: false,
        ..RunOptions::default()
    }
}

/// What one seed of `sc` fails with `bugs` switched on: empty when every expectation held.
/// Bad input is an `Err` (it would fail every seed the same way).
pub fn seed_failures(
    sc: &Scenario,
    bugs: &[String],
    seed: u64,
    swarm: bool,
) -> Result<Vec<String>, String> {
    let options = campaign_options(bugs, seed, swarm);
    match run_world(&sc.protocol, sc, &options) {
        Ok((world, out)) => Ok(failed_checks(&judge(&world, &out))),
        Err(RunError::Input(m)) => Err(m),
        Err(RunError::Aborted(m)) => Ok(vec![format!("run stopped: {m}")]),
        Err(RunError::Panicked(m)) => Ok(vec![format!("a panic outside any protocol step: {m}")]),
    }
}

/// The first seed in `seeds` at which `sc` fails with `bug` switched on and `caught_by`
/// (see `caught`; empty: anything) is among the failures, and the same seed without the
/// mutant does not fail that way (else the find is the correct protocol's failure, not
/// the mutant's, and the hunt goes on). An earlier seed may fail another way first: a
/// mutant can also stall a cluster before it loses a write.
pub fn first_failure(
    sc: &Scenario,
    bug: &str,
    seeds: Range<u64>,
    swarm: bool,
    caught_by: &str,
) -> Result<Option<Found>, String> {
    let bugs = [bug.to_string()];
    for seed in seeds {
        let failed = seed_failures(sc, &bugs, seed, swarm)?;
        let hit = if caught_by.is_empty() {
            !failed.is_empty()
        } else {
            caught(&failed, caught_by)
        };
        if hit {
            let clean = seed_failures(sc, &[], seed, swarm)?;
            let also_clean = if caught_by.is_empty() {
                !clean.is_empty()
            } else {
                caught(&clean, caught_by)
            };
            if !also_clean {
                return Ok(Some(Found { seed, failed }));
            }
        }
    }
    Ok(None)
}

/// A run's size as shrinking measures it.
pub fn size_of(out: &RunOutput) -> simulator::shrink::Size {
    simulator::shrink::Size {
        events: out.log.len(),
        operations: out.history.len() as u64,
    }
}

/// A shrunk failing run.
pub struct Shrunk {
    pub scenario: Scenario,
    pub out: RunOutput,
    pub judgement: Judgement,
    pub stats: Stats,
    /// Whether the nemesis's faults replayed as an explicit schedule (the usual case); if
    /// not, the scenario was shrunk with its nemesis as it is.
    pub explicit: bool,
}

/// Shrinks the failing run `out` of `sc` (run with `options`) to a smaller scenario that
/// fails the same way (the same expectations fail), trying at most `max_runs` candidates.
/// With mutants on, a candidate also runs without them and must not fail any of those
/// expectations there: the shrunk run still shows the mutant, not a failure of its own.
/// The result runs without swarm: its faults are explicit.
pub fn shrink_failure(
    sc: &Scenario,
    options: &RunOptions,
    out: &RunOutput,
    max_runs: u64,
) -> Result<Shrunk, String> {
    let want = failure_signature(&judge(sc, out));
    if want.is_empty() {
        return Err("this run fails no expectation (each held, or its checker could not decide); there is nothing to shrink".into());
    }
    let plain = RunOptions {
        swarm: false,
        keep_events: false,
        describe: false,
        ..options.clone()
    };
    let mutants_on = !plain.bugs.is_empty() || !sc.bugs.is_empty();
    let fails_same_way = |candidate: &Scenario, swarm: bool| {
        let opts = RunOptions {
            swarm,
            ..plain.clone()
        };
        let out = run_caught(&candidate.protocol, candidate, &opts).ok()?;
        if failure_signature(&judge(candidate, &out)) != want {
            return None;
        }
        // With mutants on, the candidate must still be the mutants' doing: without them it
        // fails none of those expectations (else a shrink could keep a failure any
        // protocol has, such as liveness with most nodes crashed for good).
        if mutants_on {
            let correct = Scenario {
                bugs: Vec::new(),
                ..candidate.clone()
            };
            let opts = RunOptions {
                bugs: Vec::new(),
                ..opts
            };
            let without = run_caught(&correct.protocol, &correct, &opts).ok()?;
            let failed = failure_signature(&judge(&correct, &without));
            if failed.iter().any(|f| want.contains(f)) {
                return None;
            }
        }
        Some(size_of(&out))
    };
    // A nemesis run becomes an explicit schedule of the faults it applied (the same run,
    // since every concern draws from its own stream); if that does not fail the same way,
    // shrink the scenario with its nemesis (and swarm mix) as it is.
    let explicit = simulator::shrink::explicit(sc, out);
    let explicit_fails = fails_same_way(&explicit, false).is_some();
    // A drawn world's nemesis is already its swarm mix (and the shrunk file, which no
    // longer says it was drawn, must not mix it again).
    let (start, swarm) = if explicit_fails {
        (explicit, false)
    } else {
        (sc.clone(), options.swarm && sc.drawn.is_none())
    };
    let run_options = RunOptions {
        swarm,
        keep_events: true,
        ..plain.clone()
    };
    let (scenario, stats) =
        simulator::shrink::shrink(start, size_of(out), max_runs, |c| fails_same_way(c, swarm));
    let out = match run_caught(&scenario.protocol, &scenario, &run_options) {
        Ok(out) => out,
        Err(RunError::Input(m)) | Err(RunError::Aborted(m)) | Err(RunError::Panicked(m)) => {
            return Err(format!("the shrunk scenario no longer runs: {m}"))
        }
    };
    let judgement = judge(&scenario, &out);
    Ok(Shrunk {
        scenario,
        out,
        judgement,
        stats,
        explicit: explicit_fails,
    })
}

// ---------------------------------------------------------------------------------------
// The mutant table and the frozen regressions.

/// Where the mutant table lives, relative to the repository root.
pub const MUTANT_TABLE: &str = "scenarios/mutants/mutants.toml";

/// One row of the mutant table: the scenario that hunts a mutant, and its seed budget.
#[derive(Clone, Debug)]
pub struct MutantRow {
    pub bug: String,
    pub protocol: String,
    /// Why no scenario reaches this mutant yet (a gap the table states rather than hides:
    /// `sim mutants` reports it as not found). The other fields are then empty.
    pub unreached: Option<String>,
    pub scenario: PathBuf,
    pub seeds: u64,
    pub caught_by: String,
    pub swarm: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    mutant: Vec<toml::Spanned<RawRow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    bug: String,
    unreached: Option<String>,
    scenario: Option<String>,
    seeds: Option<u64>,
    caught_by: Option<String>,
    swarm: Option<bool>,
}

/// The checker names a row's `caught_by` may use: those a scenario's `[expect]` may.
pub use simulator::scenario::CHECKERS;

/// The other expectations a row's `caught_by` may name (a mutant whose only symptom is
/// that leadership never settles fails no checker), each with how its failure starts
/// when `failed_checks` prints it (`no new leader between 3s and 8s`).
pub const EXPECTATION_KINDS: &[(&str, &str)] = &[
    ("no_new_leader", "no new leader"),
    ("no_commit", "nothing commits"),
    ("progress", "an operation invoked after"),
    ("ops_ok_at_least", "at least "),
];

/// Whether `caught_by` (a checker, or an expectation kind of [`EXPECTATION_KINDS`]) is
/// among what a run failed (`failed_checks`).
pub fn caught(failed: &[String], caught_by: &str) -> bool {
    match EXPECTATION_KINDS
        .iter()
        .find(|(kind, _)| *kind == caught_by)
    {
        Some((_, text)) => failed.iter().any(|f| f.starts_with(text)),
        None => failed.iter().any(|f| f == caught_by),
    }
}

/// Most seeds a table row or regression may ask for (a budget, not a campaign).
const MAX_BUDGET: u64 = 100_000;

fn line_at(text: &str, offset: usize) -> usize {
    1 + text[..offset.min(text.len())].matches('\n').count()
}

/// A TOML file read into `T`, with its text; errors name the file and line.
fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(T, String), String> {
    let file = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let value = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_at(&text, s.start));
        format!("{file}:{line}: {}", e.message())
    })?;
    Ok((value, text))
}

/// The protocol a mutant belongs to, if a registered protocol has it.
pub fn protocol_of(bug: &str) -> Option<&'static str> {
    protocols::owner_of(bug).map(|e| e.name)
}

/// Reads and checks the mutant table; scenario paths come back relative to the table's
/// folder joined onto it.
pub fn load_table(path: &Path) -> Result<Vec<MutantRow>, String> {
    let file = path.display();
    let (raw, text): (RawTable, String) = read_toml(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut rows: Vec<MutantRow> = Vec::new();
    for spanned in raw.mutant {
        let line = line_at(&text, spanned.span().start);
        let row = spanned.into_inner();
        let at = |field: &str, what: String| format!("{file}:{line}: mutant.{field}: {what}");
        let protocol = protocol_of(&row.bug).ok_or_else(|| {
            at(
                "bug",
                format!(
                    "expected a mutant some protocol has (`sim mutants` lists them), got {:?}",
                    row.bug
                ),
            )
        })?;
        if rows.iter().any(|r| r.bug == row.bug) {
            return Err(at("bug", format!("{:?} has a row already", row.bug)));
        }
        let (scenario, seeds, caught_by) =
            match (row.unreached, row.scenario, row.seeds, row.caught_by) {
                (Some(why), None, None, None) if !why.trim().is_empty() => {
                    rows.push(MutantRow {
                        bug: row.bug,
                        protocol: protocol.to_string(),
                        unreached: Some(why.trim().to_string()),
                        scenario: PathBuf::new(),
                        seeds: 0,
                        caught_by: String::new(),
                        swarm: false,
                    });
                    continue;
                }
                (None, Some(scenario), Some(seeds), Some(caught_by)) => {
                    (scenario, seeds, caught_by)
                }
                _ => {
                    return Err(at(
                        "unreached",
                        "expected either scenario, seeds and caught_by (how fuzzing finds it), or \
                     unreached alone (why nothing does yet)"
                            .to_string(),
                    ))
                }
            };
        if !(1..=MAX_BUDGET).contains(&seeds) {
            return Err(at(
                "seeds",
                format!("expected 1 to {MAX_BUDGET}, got {seeds}"),
            ));
        }
        let kinds = EXPECTATION_KINDS.iter().map(|(kind, _)| *kind);
        if !CHECKERS.contains(&caught_by.as_str()) && !kinds.clone().any(|kind| kind == caught_by) {
            let names: Vec<&str> = CHECKERS.iter().copied().chain(kinds).collect();
            return Err(at(
                "caught_by",
                format!("expected one of {}, got {:?}", names.join(", "), caught_by),
            ));
        }
        let scenario = dir.join(&scenario);
        if !scenario.is_file() {
            return Err(at(
                "scenario",
                format!("no such file: {}", scenario.display()),
            ));
        }
        rows.push(MutantRow {
            bug: row.bug,
            protocol: protocol.to_string(),
            unreached: None,
            scenario,
            seeds,
            caught_by,
            swarm: row.swarm.unwrap_or(true),
        });
    }
    Ok(rows)
}

/// A mutant found once, frozen: a scenario and seed that fail with the switch on, exactly
/// how, and in words what happened.
#[derive(Clone, Debug)]
pub struct Regression {
    pub file: PathBuf,
    pub bug: String,
    pub scenario: PathBuf,
    pub seed: u64,
    pub swarm: bool,
    pub fails: Vec<String>,
    pub postmortem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegression {
    bug: String,
    scenario: String,
    seed: u64,
    swarm: Option<bool>,
    fails: Vec<String>,
    postmortem: String,
}

/// Reads a regression file; its scenario path is relative to `root` (the repository).
pub fn load_regression(path: &Path, root: &Path) -> Result<Regression, String> {
    let file = path.display();
    let (raw, _): (RawRegression, String) = read_toml(path)?;
    if protocol_of(&raw.bug).is_none() {
        return Err(format!(
            "{file}: bug: expected a mutant some protocol has, got {:?}",
            raw.bug
        ));
    }
    if raw.fails.is_empty() {
        return Err(format!(
            "{file}: fails: expected the checks the seed fails, got none"
        ));
    }
    let lines = raw.postmortem.trim().lines().count();
    if lines == 0 || lines > 3 {
        return Err(format!(
            "{file}: postmortem: expected two lines a person can read, got {lines}"
        ));
    }
    let mut fails = raw.fails;
    fails.sort();
    Ok(Regression {
        file: path.to_path_buf(),
        bug: raw.bug,
        scenario: root.join(raw.scenario),
        seed: raw.seed,
        swarm: raw.swarm.unwrap_or(true),
        fails,
        postmortem: raw.postmortem.trim().to_string(),
    })
}

/// Replays a regression: with its switch the seed fails exactly as recorded; without it,
/// the same seed passes.
pub fn replay_regression(r: &Regression) -> Result<(), String> {
    let file = r.file.display();
    let mut sc = Scenario::load(&r.scenario).map_err(|e| format!("{file}: {e}"))?;
    sc.protocol = protocol_of(&r.bug).expect("checked on load").to_string();
    let with = seed_failures(&sc, std::slice::from_ref(&r.bug), r.seed, r.swarm)
        .map_err(|e| format!("{file}: {e}"))?;
    if with != r.fails {
        return Err(format!(
            "{file}: seed {} with {} should fail exactly {:?}, but fails {:?}",
            r.seed, r.bug, r.fails, with
        ));
    }
    let without = seed_failures(&sc, &[], r.seed, r.swarm).map_err(|e| format!("{file}: {e}"))?;
    if !without.is_empty() {
        return Err(format!(
            "{file}: seed {} without {} should pass, but fails {:?}",
            r.seed, r.bug, without
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside a caught run is a finding carrying its message, whether the payload
    /// is a formatted `String` or a literal; after it the thread no longer counts as catching.
    #[test]
    fn a_panic_in_a_caught_run_is_a_finding_with_its_message() {
        let n = 3;
        let formatted = catch_panics::<()>(|| panic!("promise going from {n} to 2"));
        assert!(
            matches!(&formatted, Err(RunError::Panicked(m)) if m == "promise going from 3 to 2")
        );
        let literal = catch_panics::<()>(|| panic!("a literal"));
        assert!(matches!(&literal, Err(RunError::Panicked(m)) if m == "a literal"));
        assert!(matches!(catch_panics(|| Ok(7)), Ok(7)));
        assert!(!CATCHING.with(|c| c.get()));
    }

    #[test]
    fn caught_by_matches_checkers_exactly_and_expectations_by_kind() {
        let failed = vec![
            "log_safety".to_string(),
            "no new leader between 2s and 5s".to_string(),
        ];
        assert!(caught(&failed, "log_safety"));
        assert!(!caught(&failed, "linearizability"));
        assert!(caught(&failed, "no_new_leader"));
        assert!(!caught(&failed, "progress"));
        assert!(!caught(&failed, "no new leader"));
        let progress = vec!["an operation invoked after 3s completes within 2s".to_string()];
        assert!(caught(&progress, "progress"));
        assert!(!caught(&progress, "no_commit"));
    }

    #[test]
    fn table_accepts_expectation_kinds_and_rejects_unknown_names() {
        let dir = std::env::temp_dir().join(format!("hunt-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.toml"), "").unwrap();
        let table = dir.join("mutants.toml");
        let row = |caught_by: &str| {
            format!(
                "[[mutant]]\nbug = \"raft.no_vote_fence\"\nscenario = \"s.toml\"\nseeds = 5\ncaught_by = \"{caught_by}\"\n"
            )
        };
        std::fs::write(&table, row("no_new_leader")).unwrap();
        let rows = load_table(&table).unwrap();
        assert_eq!(rows[0].caught_by, "no_new_leader");
        std::fs::write(&table, row("no new leader")).unwrap();
        let err = load_table(&table).unwrap_err();
        assert!(
            err.contains("mutant.caught_by") && err.contains("no_new_leader"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
