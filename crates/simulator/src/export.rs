//! Exports for existing viewers and checkers, rather than home-made ones:
//! - Chrome Trace Event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open:
//!   nodes as threads of one process, client operations as slices on a second process,
//!   messages as flow arrows from a 1µs "send" slice to a 1µs "recv" slice (a dropped
//!   message ends on a 1µs "lost" slice, since arrows do not attach to instants), faults
//!   as global instants, term and commit index as counters; timestamps in simulated µs.
//! - The client history as Jepsen EDN, one map per line, so a verdict can be cross-checked
//!   with Knossos or Elle. A client that timed out continues as a new process, as in Jepsen.
//!   The EDN keeps what the JSON history keeps (`sim check` gives both one verdict).

use crate::sim::{HistoryOp, Outcome, RunOutput};
use crate::trace::{digest, Kind};
use protocol::{Op, OpResult};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

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
            Kind::Fault | Kind::Crash | Kind::Restart | Kind::Stop => {
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
                    Kind::Stop => format!("n{}'s own {} failed: the run stops", e.node, e.label),
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

/// One line of the EDN history: its time, process and text.
struct EdnLine {
    time: u64,
    process: u64,
    invoke: bool,
    text: String,
}

/// The client history as Jepsen EDN, invocations and completions in time order, each with
/// its `:time` in nanoseconds.
///
/// Readers that take line order for time (Knossos, Elle) must see what the JSON and
/// `:time` say: at equal times operations are concurrent. So at one instant every
/// invocation comes before every completion, except that a process's completion comes
/// before its own next invocation (a process has one operation outstanding at a time).
///
/// A cas whose compare failed is written as Jepsen writes it, `:fail`, with
/// `:error :compare-failed`: Jepsen's tools read it as never having happened (weaker
/// than the JSON, and sound); `sim check` reads the observation the JSON keeps.
pub fn edn_history(out: &RunOutput) -> String {
    edn_of(&out.history.iter().collect::<Vec<_>>(), out.end_ns)
}

/// The EDN of `history`, in which operations that never returned end at `end_ns`.
fn edn_of(history: &[HistoryOp], end_ns: u64) -> String {
    // Each process's operations in order: one outstanding at a time.
    let mut by_process: BTreeMap<u64, Vec<&HistoryOp>> = BTreeMap::new();
    for op in history {
        by_process.entry(op.process).or_default().push(op);
    }
    // Each process's lines in order, then all of them by time (a stable sort keeps each
    // process's order among its lines of one instant).
    let mut lines: Vec<EdnLine> = Vec::new();
    for ops in by_process.values_mut() {
        ops.sort_by_key(|op| (op.invoke_ns, op.id.0));
        for op in ops.iter() {
            let (f, value) = edn_value(op, false);
            lines.push(EdnLine {
                time: op.invoke_ns,
                process: op.process,
                invoke: true,
                text: format!(
                    "{{:type :invoke, :f {f}, :value {value}, :process {}, :time {}",
                    op.process, op.invoke_ns
                ),
            });
            let (f, value) = edn_value(op, true);
            let (kind, error) = match &op.outcome {
                Outcome::Ok(OpResult::Cas(false)) => (":fail", ", :error :compare-failed"),
                Outcome::Ok(_) => (":ok", ""),
                Outcome::Fail => (":fail", ""),
                Outcome::Info => (":info", ""),
            };
            let time = op.return_ns.unwrap_or(end_ns).max(op.invoke_ns);
            lines.push(EdnLine {
                time,
                process: op.process,
                invoke: false,
                text: format!(
                    "{{:type {kind}, :f {f}, :value {value}{error}, :process {}, :time {time}",
                    op.process
                ),
            });
        }
    }
    lines.sort_by_key(|l| l.time);
    let mut ordered: Vec<EdnLine> = Vec::with_capacity(lines.len());
    let mut rest = lines.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut instant = vec![first];
        while let Some(next) = rest.next_if(|l| l.time == instant[0].time) {
            instant.push(next);
        }
        ordered.extend(order_instant(instant));
    }
    let mut text = String::new();
    for (index, line) in ordered.iter().enumerate() {
        text.push_str(&format!("{}, :index {index}}}\n", line.text));
    }
    text
}

/// Orders the lines of one instant: an invocation as soon as its process allows, a
/// completion only when no invocation can go first (then one that lets its process invoke
/// again, if any), so that no completion precedes an invocation it need not.
fn order_instant(lines: Vec<EdnLine>) -> Vec<EdnLine> {
    let mut queues: BTreeMap<u64, VecDeque<EdnLine>> = BTreeMap::new();
    for line in lines {
        queues.entry(line.process).or_default().push_back(line);
    }
    let mut ordered = Vec::new();
    loop {
        let head_invokes = |q: &VecDeque<EdnLine>| q.front().is_some_and(|l| l.invoke);
        let unblocks = |q: &VecDeque<EdnLine>| q.get(1).is_some_and(|l| l.invoke);
        let next = queues
            .iter()
            .find(|(_, q)| head_invokes(q))
            .or_else(|| queues.iter().find(|(_, q)| unblocks(q)))
            .or_else(|| queues.iter().find(|(_, q)| !q.is_empty()))
            .map(|(p, _)| *p);
        let Some(process) = next else { break };
        let queue = queues.get_mut(&process).expect("found above");
        ordered.extend(queue.pop_front());
        if queue.is_empty() {
            queues.remove(&process);
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(process: u64, invoke: bool) -> EdnLine {
        EdnLine {
            time: 7,
            process,
            invoke,
            text: format!("{}{process}", if invoke { "invoke " } else { "complete " }),
        }
    }

    /// At one instant: process 0 completes; process 1 completes and invokes again (it may
    /// not invoke first: one operation outstanding per process); process 2 invokes. Every
    /// invocation comes before every completion it can, so a reader that takes line order
    /// for time sees them concurrent, as the `:time`s say.
    #[test]
    fn at_one_instant_invocations_come_first_after_their_own_process_completes() {
        let ordered = order_instant(vec![
            line(0, false),
            line(1, false),
            line(1, true),
            line(2, true),
        ]);
        let texts: Vec<&str> = ordered.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["invoke 2", "complete 1", "invoke 1", "complete 0"]);
    }

    fn op(process: u64, id: u64, op: Op, at: (u64, u64), outcome: Outcome) -> HistoryOp {
        HistoryOp {
            process,
            client: process as u32,
            id: protocol::OpId(id),
            op,
            invoke_ns: at.0,
            return_ns: Some(at.1),
            outcome,
            node: 1,
        }
    }

    fn verdict(edn: &str) -> &'static str {
        use checker::linearizability::{check, Budget, Model};
        let h = checker::formats::parse(edn, checker::formats::Format::Edn)
            .unwrap_or_else(|e| panic!("{e}\n{edn}"));
        check(&h, Model::Kv, Budget::default()).name()
    }

    /// Issue 14's example as a run would record it: a write returns at the instant another
    /// process reads. The JSON calls them concurrent (the read of nothing may go first), and
    /// so must the EDN, read by `:time` or, as Knossos reads it, by line order.
    #[test]
    fn a_return_and_a_call_at_one_instant_stay_concurrent_in_the_edn() {
        let history = [
            op(
                0,
                1,
                Op::Write {
                    key: "k1".into(),
                    value: 1,
                },
                (10, 20),
                Outcome::Ok(OpResult::Written),
            ),
            op(
                1,
                2,
                Op::Read { key: "k1".into() },
                (20, 30),
                Outcome::Ok(OpResult::Read(None)),
            ),
        ];
        let edn = edn_of(&history, 30);
        assert_eq!(verdict(&edn), "linearizable", "{edn}");
        // The same lines without their times: line order is then time.
        let by_lines: String = edn
            .lines()
            .map(|l| {
                let (head, tail) = l.split_once(", :time ").expect(":time");
                let rest = tail.split_once(',').map_or("}", |(_, rest)| rest);
                format!("{head},{rest}\n")
            })
            .collect();
        assert!(!by_lines.contains(":time"), "{by_lines}");
        assert_eq!(verdict(&by_lines), "linearizable", "{by_lines}");
    }

    /// A cas whose compare failed is Jepsen's `:fail` with `:error :compare-failed`, which
    /// `sim check` reads as the JSON's observation: after a write of 1, a failed compare
    /// against 1 is impossible.
    #[test]
    fn a_cas_whose_compare_failed_keeps_its_observation() {
        let history = [
            op(
                0,
                1,
                Op::Write {
                    key: "k1".into(),
                    value: 1,
                },
                (10, 20),
                Outcome::Ok(OpResult::Written),
            ),
            op(
                1,
                2,
                Op::Cas {
                    key: "k1".into(),
                    from: 1,
                    to: 2,
                },
                (30, 40),
                Outcome::Ok(OpResult::Cas(false)),
            ),
        ];
        let edn = edn_of(&history, 40);
        assert!(
            edn.contains(":type :fail, :f :cas, :value [\"k1\" [1 2]], :error :compare-failed"),
            "{edn}"
        );
        assert_eq!(verdict(&edn), "not linearizable", "{edn}");
    }
}
