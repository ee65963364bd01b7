//! The checker against a deliberately dumb reference: on random small histories, decide
//! linearizability by enumerating every admissible order (and every choice of which
//! indeterminate operations happened), and assert the search agrees. And: no parser
//! panics on any input.

use checker::formats::{self, Format};
use checker::history::{Func, History, Operation, Status, Value};
use checker::linearizability::{check, Budget, Model, Outcome};
use proptest::prelude::*;

fn val(v: u8) -> Value {
    if v == 0 {
        Value::Nil
    } else {
        Value::Int(i64::from(v))
    }
}

/// One process's operations, back to back: (kind, a, b, flag, gap, length).
fn history_strategy() -> impl Strategy<Value = History> {
    let op = (
        0u8..3,
        0u8..3,
        1u8..3,
        any::<bool>(),
        0u64..3,
        1u64..6,
        0u8..6,
    );
    prop::collection::vec(prop::collection::vec(op, 1..4), 1..4).prop_map(|processes| {
        let mut ops = Vec::new();
        for (p, list) in processes.iter().enumerate() {
            let mut t = 1 + p as u64;
            let count = list.len();
            for (k, &(kind, a, b, flag, gap, len, fate)) in list.iter().enumerate() {
                let call = t + gap * 3;
                let ret = call + len * 3;
                t = ret + 1;
                // Only a process's last operation may be indeterminate (Jepsen's rule).
                let info = k + 1 == count && fate == 0;
                let f = [Func::Read, Func::Write, Func::Cas][kind as usize];
                ops.push(Operation {
                    process: p as u64,
                    call,
                    ret: if info { None } else { Some(ret) },
                    f,
                    key: String::new(),
                    value: if f == Func::Read { Value::Nil } else { val(a) },
                    to: (f == Func::Cas).then(|| val(b)),
                    output: (f == Func::Read && !info).then(|| val(a)),
                    cas_ok: (f == Func::Cas && !info).then_some(flag),
                    status: if info { Status::Info } else { Status::Ok },
                    line: None,
                });
            }
        }
        History { ops }
    })
}

fn step(state: &Value, op: &Operation) -> Option<Value> {
    match op.f {
        Func::Read => match &op.output {
            Some(v) if v != state => None,
            _ => Some(state.clone()),
        },
        Func::Write => Some(op.value.clone()),
        Func::Cas => {
            let matches = *state == op.value;
            match op.cas_ok {
                Some(true) if matches => op.to.clone(),
                Some(true) => None,
                Some(false) if matches => None,
                Some(false) => Some(state.clone()),
                None => Some(if matches {
                    op.to.clone().unwrap_or_default()
                } else {
                    state.clone()
                }),
            }
        }
        _ => unreachable!(),
    }
}

/// Is there an order of `ops` that respects real time and the register's rules?
fn brute(ops: &[Operation]) -> bool {
    fn go(ops: &[Operation], used: &mut Vec<bool>, state: Value) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        for i in 0..ops.len() {
            if used[i] {
                continue;
            }
            // i may go next only if no unused op returned before i was called.
            let blocked = (0..ops.len())
                .any(|j| !used[j] && j != i && ops[j].ret.is_some_and(|r| r < ops[i].call));
            if blocked {
                continue;
            }
            if let Some(next) = step(&state, &ops[i]) {
                used[i] = true;
                if go(ops, used, next) {
                    return true;
                }
                used[i] = false;
            }
        }
        false
    }
    let info: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].status == Status::Info)
        .collect();
    // Each indeterminate op either happened (anywhere after its call) or did not.
    (0..1u32 << info.len()).any(|mask| {
        let chosen: Vec<Operation> = ops
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                info.iter()
                    .position(|x| x == i)
                    .is_none_or(|k| mask & (1 << k) != 0)
            })
            .map(|(_, o)| o.clone())
            .collect();
        go(&chosen, &mut vec![false; chosen.len()], Value::Nil)
    })
}

proptest! {
    #[test]
    fn the_search_agrees_with_brute_force_on_small_histories(history in history_strategy()) {
        let expected = brute(&history.ops);
        let outcome = check(&history, Model::Register, Budget::default());
        let got = match outcome {
            Outcome::Linearizable { .. } => true,
            Outcome::NotLinearizable(_) => false,
            Outcome::Unknown { .. } => panic!("a tiny history ran out of budget"),
        };
        prop_assert_eq!(got, expected, "history: {:#?}", history.ops);
    }

    #[test]
    fn no_parser_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        for format in [Format::Json, Format::Edn, Format::JepsenLog] {
            let _ = formats::parse(&text, format);
        }
    }

    #[test]
    fn no_parser_panics_on_mangled_histories(cut in 0usize..400, noise in "[\\[\\]{}:\" a-z0-9,\\n\\t-]{0,40}") {
        let edn = "{:process 0, :type :invoke, :f :cas, :value [1 [2 3]]}\n{:process 0, :type :ok, :f :cas, :value [1 [2 3]]}\n";
        let log = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t3\n";
        let json = "{\"ops\": [{\"process\": 0, \"call\": 1, \"ret\": 2, \"f\": \"read\", \"output\": 1, \"status\": \"ok\"}]}";
        for (base, format) in [(edn, Format::Edn), (log, Format::JepsenLog), (json, Format::Json)] {
            let mut text = base[..cut.min(base.len())].to_string();
            text.push_str(&noise);
            let _ = formats::parse(&text, format);
        }
    }
}
