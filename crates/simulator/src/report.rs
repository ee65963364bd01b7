//! How a run is told: the human summary, the `--json` object, and the trace file (written
//! atomically: a temporary file, then a rename or a link that never replaces a saved one).

use crate::judge::{op_counts, Judgement};
use crate::scenario::Scenario;
use crate::sim::RunOutput;
use crate::trace::{hash_hex, RunSettings, CHECKPOINT_EVERY};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The trace file format's name and version; bump on any change that alters hashes.
pub const TRACE_FORMAT: &str = "sim-trace/1";
/// The program version recorded in traces.
pub const PROGRAM_VERSION: &str = env!("CARGO_PKG_VERSION");

fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

fn fault_text(f: &crate::sim::AppliedFault) -> String {
    use crate::scenario::Fault::*;
    let node = f.node.map(|n| format!(" n{n}")).unwrap_or_default();
    match &f.fault {
        Partition { groups } => format!("partition {groups:?}"),
        Bridge { groups, bridge } => {
            format!("bridge {:?} | n{bridge} | {:?}", groups[0], groups[1])
        }
        OneWay { from, to } => format!("one-way {from:?} -> {to:?} cut"),
        ClockStep { by_nanos, .. } => {
            format!("clock_step{node} by {:+.3}ms", *by_nanos as f64 / 1e6)
        }
        Drift { rate, .. } => format!("drift{node} rate {rate}"),
        Loss { probability } => format!("loss {probability:.3}"),
        Clog { from, to } => format!("clog {from:?} -> {to:?}"),
        Corrupt { .. } => match &f.outcome {
            Some(what) => format!("corrupt{node} ({what})"),
            None => format!("corrupt{node}"),
        },
        other => format!("{}{node}", other.name()),
    }
}

/// The `--json` object (also the trace file's `summary`).
pub fn summary_json(sc: &Scenario, out: &RunOutput, j: &Judgement) -> Value {
    let (ok, fail, info) = op_counts(out);
    let mut verdicts = serde_json::Map::new();
    for (name, v) in &j.verdicts {
        verdicts.insert(
            (*name).into(),
            json!({"result": v.result.name(), "detail": v.detail}),
        );
    }
    json!({
        "scenario": sc.name,
        "scenario_file": sc.file,
        "protocol": out.protocol,
        "seed": out.seed,
        "bugs": out.bugs,
        "swarm": out.swarm,
        "read_mode": sc.workload.read_mode.map(|m| m.name()),
        "nodes": sc.nodes,
        "trace_hash": hash_hex(out.log.hash()),
        "sim_time_ms": out.end_ns as f64 / 1e6,
        "events": out.log.len(),
        "messages": {"sent": out.messages_sent, "dropped": out.messages_dropped},
        "ops": {"ok": ok, "fail": fail, "indeterminate": info},
        "leaders": out.leaders.iter().map(|l| json!({"node": l.node, "term": l.term, "at_ms": l.at_ns as f64 / 1e6})).collect::<Vec<_>>(),
        "elections": checker::safety::election_times(&out.node_events).iter().map(|(node, term, at, took)| json!({"node": node, "term": term, "at_ms": *at as f64 / 1e6, "leaderless_ms": *took as f64 / 1e6})).collect::<Vec<_>>(),
        "faults": out.faults.iter().map(|f| json!({"at_ms": f.at_ns as f64 / 1e6, "fault": fault_text(f), "nemesis": f.from_nemesis})).collect::<Vec<_>>(),
        "verdicts": verdicts,
        "expectations": j.expectations.iter().map(|e| json!({"what": e.what, "held": e.held, "detail": e.detail})).collect::<Vec<_>>(),
        "passed": j.passed(),
    })
}

/// The human summary.
pub fn summary_text(
    sc: &Scenario,
    out: &RunOutput,
    j: &Judgement,
    wall: Option<Duration>,
) -> String {
    let mut s = String::new();
    let (ok, fail, info) = op_counts(out);
    let _ = writeln!(
        s,
        "{} · {} · seed {} · {} nodes",
        sc.name, out.protocol, out.seed, sc.nodes
    );
    for line in sc.description.trim().lines() {
        let _ = writeln!(s, "  {}", line.trim());
    }
    if !out.bugs.is_empty() {
        let _ = writeln!(s, "  mutants on: {}", out.bugs.join(", "));
    }
    let speed = wall
        .filter(|w| !w.is_zero())
        .map(|w| {
            format!(
                " in {:.2}s wall ({:.0}x)",
                w.as_secs_f64(),
                out.end_ns as f64 / 1e9 / w.as_secs_f64()
            )
        })
        .unwrap_or_default();
    let stopped = out
        .stopped
        .as_ref()
        .map(|stop| format!(", stopped by n{}'s own assertion", stop.node))
        .unwrap_or_default();
    let _ = writeln!(s, "simulated {}{stopped}{speed}", secs(out.end_ns));
    let _ = writeln!(
        s,
        "events    {} · messages {} sent, {} dropped",
        out.log.len(),
        out.messages_sent,
        out.messages_dropped
    );
    let leaders: Vec<String> = out
        .leaders
        .iter()
        .map(|l| format!("n{} term {} at {}", l.node, l.term, secs(l.at_ns)))
        .collect();
    let elections: Vec<String> = checker::safety::election_times(&out.node_events)
        .iter()
        .map(|(_, _, _, took)| format!("{:.0}ms", *took as f64 / 1e6))
        .collect();
    if !elections.is_empty() {
        let _ = writeln!(
            s,
            "elections {} (time without a leader before each)",
            elections.join(" · ")
        );
    }
    let _ = writeln!(
        s,
        "leaders   {}",
        if leaders.is_empty() {
            "none".into()
        } else {
            leaders.join(" · ")
        }
    );
    if !out.faults.is_empty() {
        let shown: Vec<String> = out
            .faults
            .iter()
            .take(12)
            .map(|f| format!("{} {}", secs(f.at_ns), fault_text(f)))
            .collect();
        let more = out.faults.len().saturating_sub(12);
        let tail = if more > 0 {
            format!(" · … {more} more")
        } else {
            String::new()
        };
        let _ = writeln!(s, "faults    {}{tail}", shown.join(" · "));
    }
    let _ = writeln!(
        s,
        "ops       {ok} ok · {fail} failed · {info} indeterminate"
    );
    let _ = writeln!(s, "checks");
    for (name, v) in &j.verdicts {
        let _ = writeln!(s, "  {:<7} {:<19} {}", v.result.name(), name, v.detail);
    }
    if !j.expectations.is_empty() {
        let _ = writeln!(s, "expectations");
        for e in &j.expectations {
            let _ = writeln!(
                s,
                "  {:<7} {} ({})",
                if e.held { "held" } else { "FAILED" },
                e.what,
                e.detail
            );
        }
    }
    let _ = writeln!(s, "trace hash {}", hash_hex(out.log.hash()));
    let _ = writeln!(s, "{}", if j.passed() { "PASS" } else { "FAIL" });
    s
}

/// Writes the trace file for a run to `path` atomically (replacing it if it exists: the
/// user named it).
pub fn write_trace(path: &Path, sc: &Scenario, out: &RunOutput, j: &Judgement) -> io::Result<()> {
    let tmp = temp_path(path);
    if let Err(e) = write_trace_to(&tmp, sc, out, j) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Saves a failing run's trace under `dir` with a new name, never replacing a saved trace.
pub fn save_new_trace(
    dir: &Path,
    sc: &Scenario,
    out: &RunOutput,
    j: &Judgement,
) -> io::Result<PathBuf> {
    let hash = hash_hex(out.log.hash());
    let base = format!(
        "{}-{}-seed{}-{}",
        sanitize(&sc.name),
        out.protocol,
        out.seed,
        &hash[..8]
    );
    save_new_file(dir, &base, "json", |tmp| write_trace_to(tmp, sc, out, j))
}

/// Saves a new file under `dir` as `base.ext` (or `base-1.ext`, `base-2.ext`, … if taken):
/// `write` fills a temporary file, which is then linked into place, so a reader never sees
/// half a file and a saved file is never replaced.
pub fn save_new_file(
    dir: &Path,
    base: &str,
    ext: &str,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{base}.{}.tmp", std::process::id()));
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let result = (0..10_000)
        .map(|k| {
            if k == 0 {
                dir.join(format!("{base}.{ext}"))
            } else {
                dir.join(format!("{base}-{k}.{ext}"))
            }
        })
        .find_map(|candidate| match std::fs::hard_link(&tmp, &candidate) {
            Ok(()) => Some(Ok(candidate)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
            Err(e) => Some(Err(e)),
        })
        .unwrap_or_else(|| Err(io::Error::other("no free file name")));
    let _ = std::fs::remove_file(&tmp);
    result
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_trace_to(path: &Path, sc: &Scenario, out: &RunOutput, j: &Judgement) -> io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut w = io::BufWriter::new(file);
    let settings = RunSettings::of(sc, out);
    let header = json!({
        "format": TRACE_FORMAT,
        "program_version": PROGRAM_VERSION,
        "revisions": { "simulator": crate::REVISION, "protocol": out.protocol_revision },
        "scenario_file": sc.file,
        "scenario": sc.source,
        "protocol": settings.protocol,
        "seed": settings.seed,
        "bugs": settings.bugs,
        "swarm": settings.swarm,
        "read_mode": settings.read_mode.map(|m| m.name()),
        "trace_hash": hash_hex(out.log.hash()),
        "event_count": out.log.len(),
        "checkpoint_every": CHECKPOINT_EVERY,
        "checkpoints": out.log.checkpoints.iter().map(|h| hash_hex(*h)).collect::<Vec<_>>(),
        "summary": summary_json(sc, out, j),
        "ghost": {
            "leaders": out.leaders.iter().map(|l| json!({"node": l.node, "term": l.term, "at_ns": l.at_ns})).collect::<Vec<_>>(),
            "commits": out.commits().iter().map(|c| json!({"index": c.index, "term": c.term, "op": c.op.map(|o| o.0), "node": c.node, "at_ns": c.at_ns})).collect::<Vec<_>>(),
            "leases": out.leases.iter().map(|l| json!({"node": l.node, "term": l.term, "from_ns": l.from_ns, "until_ns": l.until_ns})).collect::<Vec<_>>(),
            "faults": out.faults.iter().map(|f| json!({"at_ns": f.at_ns, "fault": fault_text(f), "node": f.node, "nemesis": f.from_nemesis})).collect::<Vec<_>>(),
            "marks": out.marks,
        },
        "history": crate::judge::history(out).ops,
    });
    // Everything but the events as one object, then the events one per line.
    let head = serde_json::to_string(&header).map_err(io::Error::other)?;
    w.write_all(&head.as_bytes()[..head.len() - 1])?;
    w.write_all(b",\"events\":[\n")?;
    out.log.copy_events(&mut w)?;
    w.write_all(b"\n]}\n")?;
    w.flush()?;
    w.get_ref().sync_all()
}

/// The revisions of what unfolds a run: the simulator's ([`crate::REVISION`]) and the
/// protocol's (`Protocol::REVISION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revisions {
    pub simulator: u32,
    pub protocol: u32,
}

/// What replay needs from a trace file.
#[derive(Clone, Debug)]
pub struct TraceHeader {
    pub program_version: String,
    /// The revisions that made the trace; absent from traces written before they were
    /// recorded.
    pub revisions: Option<Revisions>,
    pub scenario_file: String,
    pub scenario: String,
    pub protocol: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub swarm: bool,
    /// Absent from traces written before read modes were recorded.
    pub read_mode: Option<protocol::ReadMode>,
    pub trace_hash: String,
    pub event_count: u64,
    pub checkpoints: Vec<String>,
}

impl TraceHeader {
    /// What shaped the recorded run besides its scenario.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            protocol: self.protocol.clone(),
            seed: self.seed,
            bugs: self.bugs.clone(),
            swarm: self.swarm,
            read_mode: self.read_mode,
        }
    }

    /// Why a build with revisions `now` may not replay this trace exactly: the parts that
    /// changed how a run unfolds since the trace was made; `None` when the trace names
    /// the revisions `now` names.
    pub fn changed_since(&self, now: Revisions) -> Option<String> {
        let Some(then) = self.revisions else {
            return Some(format!(
                "the trace records no revisions (sim {} wrote it, before traces recorded \
                 them): {} or the simulator may have changed how a run unfolds since",
                self.program_version, self.protocol
            ));
        };
        let mut changed = Vec::new();
        if then.protocol != now.protocol {
            changed.push(format!(
                "{} (revision {} then, {} now)",
                self.protocol, then.protocol, now.protocol
            ));
        }
        if then.simulator != now.simulator {
            changed.push(format!(
                "the simulator (revision {} then, {} now)",
                then.simulator, now.simulator
            ));
        }
        (!changed.is_empty()).then(|| {
            format!(
                "{} changed how a run unfolds since the trace was made",
                changed.join(" and ")
            )
        })
    }

    /// The recorded run's scenario: the embedded text with the recorded settings applied.
    /// `trace` names the trace file in errors.
    pub fn scenario(&self, trace: &Path) -> Result<Scenario, String> {
        let file = format!("{} (embedded in {})", self.scenario_file, trace.display());
        let mut sc = Scenario::from_toml(&file, &self.scenario).map_err(|e| e.to_string())?;
        sc.file = self.scenario_file.clone();
        self.settings().apply(&mut sc);
        Ok(sc)
    }
}

/// Reads a trace file's header, or says what is wrong with it.
pub fn read_trace(path: &Path) -> Result<TraceHeader, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the trace: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}: not a complete trace file (truncated or edited?): {e}",
            path.display(),
            e.line()
        )
    })?;
    let field = |name: &str| {
        v.get(name)
            .ok_or_else(|| format!("{}: field {name:?} is missing", path.display()))
    };
    let string = |name: &str| -> Result<String, String> {
        field(name)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{}: field {name:?}: expected a string", path.display()))
    };
    let format = string("format")?;
    if format != TRACE_FORMAT {
        return Err(format!(
            "{}: field \"format\": expected {TRACE_FORMAT:?}, got {format:?}",
            path.display()
        ));
    }
    let seed = field("seed")?.as_u64().ok_or_else(|| {
        format!(
            "{}: field \"seed\": expected an unsigned integer",
            path.display()
        )
    })?;
    let strings = |name: &str| -> Result<Vec<String>, String> {
        field(name)?
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                format!(
                    "{}: field {name:?}: expected a list of strings",
                    path.display()
                )
            })
    };
    let revisions = match v.get("revisions") {
        None => None,
        Some(r) => {
            let number = |name: &str| {
                r.get(name)
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        format!(
                            "{}: field \"revisions\": expected {{\"simulator\": N, \"protocol\": N}} with whole numbers, got {r}",
                            path.display()
                        )
                    })
            };
            Some(Revisions {
                simulator: number("simulator")?,
                protocol: number("protocol")?,
            })
        }
    };
    let read_mode = match v.get("read_mode") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            Some(protocol::ReadMode::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = protocol::ReadMode::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "{}: field \"read_mode\": expected one of {} or null, got {name:?}",
                    path.display(),
                    names.join(", ")
                )
            })?)
        }
        Some(other) => {
            return Err(format!(
                "{}: field \"read_mode\": expected a read mode's name or null, got {other}",
                path.display()
            ))
        }
    };
    Ok(TraceHeader {
        program_version: string("program_version")?,
        revisions,
        scenario_file: string("scenario_file")?,
        scenario: string("scenario")?,
        protocol: string("protocol")?,
        seed,
        bugs: strings("bugs")?,
        swarm: v.get("swarm").and_then(Value::as_bool).unwrap_or(false),
        read_mode,
        trace_hash: string("trace_hash")?,
        event_count: field("event_count")?.as_u64().unwrap_or(0),
        checkpoints: strings("checkpoints")?,
    })
}

/// One line of a readable timeline: true time, node, what happened.
pub fn timeline_line(e: &crate::trace::Event, detail: Option<&str>) -> String {
    use crate::trace::Kind::*;
    let d = detail.map(|t| format!(": {t}")).unwrap_or_default();
    let node = if e.node == 0 {
        "  -".to_string()
    } else {
        format!("n{:<2}", e.node)
    };
    let what = match e.kind {
        Recv => format!("recv {} from n{}{d}", e.label, e.peer),
        Drop => format!(
            "lost {} n{} -> n{} ({})",
            "message", e.peer, e.node, e.label
        ),
        Clogged => format!("held {} n{} -> n{} (clogged link)", e.label, e.peer, e.node),
        Timer => format!("timer {} fired", e.a),
        WriteDone => format!("write {} durable{d}", e.a),
        Reset if e.label == "close" => format!("closes its connection to n{}", e.peer),
        Reset => format!("connection n{} <-> n{} reset", e.node, e.peer),
        Fault => format!("FAULT {}{d}", e.label),
        FaultSkipped => format!(
            "fault {} skipped: its node selector matched no node",
            e.label
        ),
        Crash => "CRASH".to_string(),
        Restart => "RESTART from durable state".to_string(),
        Role => format!("becomes {} of term {}", e.label, e.a),
        Vote => format!("votes for n{} in term {}", e.peer, e.a),
        Commit => format!("commit index {} (term {})", e.a, e.b),
        Apply => format!("apply index {} (term {})", e.a, e.b),
        Lease => format!("lease for term {} until {}", e.a, secs(e.b)),
        ReadServed => format!("serves a read without the log (term {})", e.a),
        Mark => format!("mark {}", e.label),
        Invoke => format!("client {} invokes op{}{d}", e.peer, e.a >> 10),
        Return => format!("client {} gets op{}: {}{d}", e.peer, e.a >> 10, e.label),
        Timeout if e.label == "retry" => format!(
            "client {} times out on op{} and sends it again, to this node",
            e.peer,
            e.a >> 10
        ),
        Timeout => format!(
            "client {} gives up on op{} (indeterminate)",
            e.peer,
            e.a >> 10
        ),
        Corrupt if e.label == "damaged" => {
            format!("STORAGE FAULT: damaged (pick {}){d}", e.a)
        }
        Corrupt => format!("storage fault: nothing to damage (pick {})", e.a),
        Stop => format!("STOPS THE RUN: its own {} failed{d}", e.label),
        Members => {
            let ids: Vec<String> = (0..64)
                .filter(|i| e.b >> i & 1 == 1)
                .map(|i| format!("n{}", i + 1))
                .collect();
            format!("voting members now {}", ids.join(" "))
        }
    };
    format!(
        "{:>12} {node} {what}",
        format!("{:.6}s", e.at_ns as f64 / 1e9)
    )
}
