//! Exports for existing viewers and checkers, rather than home-made ones:
//! - Chrome Trace Event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open:
//!   nodes as threads of one process, client operations as slices on a second process,
//!   messages as flow arrows from a 1µs "send" slice to a 1µs "recv" slice (a dropped
//!   message ends on a 1µs "lost" slice, since arrows do not attach to instants), faults
//!   as global instants, term and commit index as counters; timestamps in simulated µs.
//! - The client history as Jepsen EDN, one map per line, so a verdict can be cross-checked
//!   with Knossos or Elle. A client that timed out continues as a new process, as in Jepsen.

use crate::sim::{HistoryOp, Outcome, RunOutput};
use crate::trace::{digest, Kind};
use protocol::{Op, OpResult};
use serde_json::{json, Value};

const CLUSTER_PID: u64 = 1;
const CLIENTS_PID: u64 = 2;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// The run as Chrome Trace Event JSON.
pub fn perfetto(out: &RunOutput, nodes: u32) -> Value {
    let mut events: Vec<Value> = Vec::new();
    let meta = |pid: u64, tid: u64, what: &str, name: String| json!({"ph": "M", "pid": pid, "tid": tid, "name": what, "args": {"name": name}});
    events.push(meta(
        CLUSTER_PID,
        0,
        "process_name",
        format!("cluster ({})", out.protocol),
    ));
    events.push(meta(CLIENTS_PID, 0, "process_name", "clients".into()));
    for n in 1..=nodes {
        events.push(meta(
            CLUSTER_PID,
            u64::from(n),
            "thread_name",
            format!("n{n}"),
        ));
    }
    let slice = |pid: u64, tid: u32, at_ns: u64, dur_us: f64, name: String, cat: &str| json!({"ph": "X", "pid": pid, "tid": tid, "ts": us(at_ns), "dur": dur_us, "name": name, "cat": cat});
    for e in &out.log.events {
        match e.kind {
            Kind::Recv | Kind::Drop => {
                // One id per message: sender, receiver, send time and content digest.
                let id = digest(&(e.peer, e.node, e.b, e.a)) >> 12;
                let mut send = slice(
                    CLUSTER_PID,
                    e.peer,
                    e.b,
                    1.0,
                    format!("send {}", e.label),
                    "message",
                );
                send["bind_id"] = json!(id);
                send["flow_out"] = json!(true);
                let name = if e.kind == Kind::Recv {
                    format!("recv {}", e.label)
                } else {
                    format!("lost ({})", e.label)
                };
                let mut end = slice(CLUSTER_PID, e.node, e.at_ns, 1.0, name, "message");
                end["bind_id"] = json!(id);
                end["flow_in"] = json!(true);
                events.push(send);
                events.push(end);
            }
            Kind::Fault | Kind::Crash | Kind::Restart => {
                let name = match e.kind {
                    Kind::Fault => format!(
                        "fault: {}{}",
                        e.label,
                        if e.node > 0 {
                            format!(" n{}", e.node)
                        } else {
                            String::new()
                        }
                    ),
                    Kind::Crash => format!("crash n{}", e.node),
                    _ => format!("restart n{}", e.node),
                };
                events.push(json!({"ph": "i", "s": "g", "pid": CLUSTER_PID, "tid": e.node, "ts": us(e.at_ns), "name": name}));
            }
            Kind::Role => {
                events.push(json!({"ph": "C", "pid": CLUSTER_PID, "tid": e.node, "ts": us(e.at_ns), "name": format!("n{} term", e.node), "args": {"term": e.a}}));
                events.push(slice(
                    CLUSTER_PID,
                    e.node,
                    e.at_ns,
                    1.0,
                    format!("{} of term {}", e.label, e.a),
                    "role",
                ));
            }
            Kind::Commit => {
                events.push(json!({"ph": "C", "pid": CLUSTER_PID, "tid": e.node, "ts": us(e.at_ns), "name": format!("n{} commit index", e.node), "args": {"index": e.a}}));
            }
            Kind::Timer => events.push(slice(
                CLUSTER_PID,
                e.node,
                e.at_ns,
                1.0,
                format!("timer {}", e.a),
                "timer",
            )),
            Kind::Mark => events.push(slice(
                CLUSTER_PID,
                e.node,
                e.at_ns,
                1.0,
                e.label.to_string(),
                "mark",
            )),
            _ => {}
        }
    }
    for op in &out.history {
        let end = op.return_ns.unwrap_or(out.end_ns);
        let outcome = match &op.outcome {
            Outcome::Ok(r) => format!("ok {r}"),
            Outcome::Fail => "fail".into(),
            Outcome::Info => "indeterminate".into(),
        };
        let mut s = slice(
            CLIENTS_PID,
            op.client,
            op.invoke_ns,
            us(end - op.invoke_ns).max(1.0),
            op.op.to_string(),
            "op",
        );
        s["args"] = json!({"outcome": outcome, "process": op.process, "node": op.node});
        events.push(s);
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

fn edn_value(op: &HistoryOp, completion: bool) -> (String, String) {
    let key = format!("\"{}\"", op.op.key());
    let result = match (&op.outcome, completion) {
        (Outcome::Ok(r), true) => Some(r),
        _ => None,
    };
    match &op.op {
        Op::Read { .. } => {
            let v = match result {
                Some(OpResult::Read(Some(v))) => v.to_string(),
                _ => "nil".into(),
            };
            (":read".into(), format!("[{key} {v}]"))
        }
        Op::Write { value, .. } => (":write".into(), format!("[{key} {value}]")),
        Op::Cas { from, to, .. } => (":cas".into(), format!("[{key} [{from} {to}]]")),
    }
}

/// The client history as Jepsen EDN, invocations and completions in time order.
pub fn edn_history(out: &RunOutput) -> String {
    // (time, order, line): completions sort before invocations at the same instant.
    let mut lines: Vec<(u64, u8, u64, String)> = Vec::new();
    for op in &out.history {
        let (f, value) = edn_value(op, false);
        lines.push((
            op.invoke_ns,
            1,
            op.id.0,
            format!(
                "{{:type :invoke, :f {f}, :value {value}, :process {}, :time {}}}",
                op.process, op.invoke_ns
            ),
        ));
        let (f, value) = edn_value(op, true);
        let (kind, time) = match &op.outcome {
            // Jepsen: a cas whose compare failed did not happen.
            Outcome::Ok(OpResult::Cas(false)) => (":fail", op.return_ns.unwrap_or(out.end_ns)),
            Outcome::Ok(_) => (":ok", op.return_ns.unwrap_or(out.end_ns)),
            Outcome::Fail => (":fail", op.return_ns.unwrap_or(out.end_ns)),
            Outcome::Info => (":info", op.return_ns.unwrap_or(out.end_ns)),
        };
        lines.push((
            time,
            0,
            op.id.0,
            format!(
                "{{:type {kind}, :f {f}, :value {value}, :process {}, :time {time}}}",
                op.process
            ),
        ));
    }
    lines.sort_by_key(|a| (a.0, a.1, a.2));
    let mut text = String::new();
    for (index, (_, _, _, line)) in lines.into_iter().enumerate() {
        text.push_str(&line[..line.len() - 1]);
        text.push_str(&format!(", :index {index}}}\n"));
    }
    text
}
