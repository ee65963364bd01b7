//! Long histories for tests and benchmarks: what a healthy run of a key-value store looks
//! like to its clients, linearizable by construction.

use checker::history::{Func, History, Operation, Status, Value};

/// A small deterministic generator (splitmix64), so that a history is the same on every
/// machine without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// `ops` operations by `processes` clients on `keys` keys, as the simulator's default
/// workload makes them: each client keeps one operation outstanding (half reads, a third
/// writes of unique values, the rest cas), each takes 1-10ms, and every
/// `timeout_every`-th times out: it took effect within three times its length, or
/// (every other time) never. Each operation takes effect at a random instant inside its
/// interval, and reads and cas see what the order of those instants gives.
pub fn healthy_history(
    seed: u64,
    ops: usize,
    processes: u64,
    keys: u64,
    timeout_every: u64,
) -> History {
    const MS: u64 = 1_000_000;
    let mut rng = Rng::new(seed);
    let mut free_at: Vec<u64> = (0..processes).map(|p| p * MS / 3).collect();
    let mut history = Vec::with_capacity(ops);
    // (instant it takes effect, op) for every op that does.
    let mut effects: Vec<(u64, usize)> = Vec::with_capacity(ops);
    for k in 0..ops {
        let p = k as u64 % processes;
        let call = free_at[p as usize] + rng.range(0, MS);
        let length = rng.range(MS, 10 * MS);
        let f = match rng.range(0, 6) {
            0..=2 => Func::Read,
            3 | 4 => Func::Write,
            _ => Func::Cas,
        };
        let timed_out = f != Func::Read && rng.range(0, timeout_every) == 0;
        let effect = if timed_out {
            (rng.range(0, 2) == 0).then(|| call + rng.range(0, 3 * length))
        } else {
            Some(call + rng.range(0, length + 1))
        };
        if let Some(at) = effect {
            effects.push((at, k));
        }
        free_at[p as usize] = call + length;
        history.push(Operation {
            process: p,
            call,
            ret: (!timed_out).then_some(call + length),
            f,
            key: format!("k{}", rng.range(0, keys)),
            value: match f {
                Func::Write => Value::Int(k as i64 + 1),
                _ => Value::Nil,
            },
            to: (f == Func::Cas).then(|| Value::Int(k as i64 + 1)),
            output: None,
            cas_ok: None,
            status: if timed_out { Status::Info } else { Status::Ok },
            line: None,
        });
    }
    effects.sort();
    let mut state: std::collections::BTreeMap<String, Value> = Default::default();
    for (_, i) in effects {
        let op = &mut history[i];
        let now = state.entry(op.key.clone()).or_default();
        match op.f {
            Func::Read => op.output = Some(now.clone()),
            Func::Write => *now = op.value.clone(),
            _ => {
                // Compare with the current value half the time, with a stale one else.
                let expected = if i % 2 == 0 {
                    now.clone()
                } else {
                    Value::Int(-1)
                };
                let swapped = *now == expected;
                op.value = expected;
                if swapped {
                    *now = op.to.clone().unwrap_or_default();
                }
                if op.status == Status::Ok {
                    op.cas_ok = Some(swapped);
                }
            }
        }
    }
    History { ops: history }
}
