//! Issue #13: checking a long healthy history costs steps in proportion to its length.
//! Each check here gets a step budget that grows linearly with the history; a search
//! whose cost grew faster would answer *unknown* at the longer lengths. Speed and memory
//! in seconds and bytes are the benchmark's (`cargo bench -p checker --bench
//! long_history`), never asserted here.

mod common;

use checker::history::{Func, Status, Value};
use checker::linearizability::{check, Budget, Model, Outcome};
use common::healthy_history;

/// A budget of `per_op` steps for each operation on a key of a history of `ops`
/// operations spread over three keys (the budget is per key).
fn budget(per_op: u64, ops: usize) -> Budget {
    Budget {
        time: None,
        steps: Some(per_op * ops as u64 / 3 + 1_000),
        threads: 1,
    }
}

#[test]
fn a_long_healthy_history_is_linearizable_within_a_step_budget_linear_in_its_length() {
    for ops in [10_000, 100_000, 400_000] {
        // Five clients on three keys, one write or cas in 200 timing out.
        let history = healthy_history(7, ops, 5, 3, 200);
        let outcome = check(&history, Model::Kv, budget(2, ops));
        assert!(
            matches!(outcome, Outcome::Linearizable { .. }),
            "{ops} operations: {outcome:?}"
        );
    }
}

/// To say "not linearizable" the search must rule out every order, back to the start of
/// the key's history: each operation is tried again in the few orders its concurrent
/// ones allow, and the memo stops every retry where it meets a state already explored.
/// No operation times out here: with indeterminate operations still open the orders to
/// rule out multiply with each of them (the problem is NP-complete), and a violation at
/// the end of a long faulty history may well be *unknown*.
#[test]
fn a_stale_read_at_the_end_of_a_long_history_is_found_within_a_step_budget_linear_in_its_length() {
    for ops in [10_000, 100_000] {
        let mut history = healthy_history(11, ops, 5, 3, u64::MAX);
        let first_write = (0..ops)
            .find(|&i| {
                let op = &history.ops[i];
                op.f == Func::Write && op.key == "k0"
            })
            .expect("a write");
        // The last read of k0 sees its first value, overwritten long since.
        let last_read = (0..ops)
            .rev()
            .find(|&i| {
                let op = &history.ops[i];
                op.f == Func::Read && op.status == Status::Ok && op.key == "k0"
            })
            .expect("a read");
        history.ops[last_read].output = Some(history.ops[first_write].value.clone());
        assert_ne!(history.ops[last_read].output, Some(Value::Nil));
        let outcome = check(&history, Model::Kv, budget(12, ops));
        let Outcome::NotLinearizable(violation) = outcome else {
            panic!("{ops} operations: {outcome:?}");
        };
        assert_eq!(violation.key, "k0");
        assert_eq!(violation.stuck, history.ops[last_read], "{ops} operations");
    }
}
