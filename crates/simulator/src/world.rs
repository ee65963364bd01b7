//! The parts of the simulated world that are not the event loop itself: per-node clocks
//! and the network's link state (partitions, clogs, FIFO connections).

use std::collections::VecDeque;

/// Local clocks start at this reading so that a clock stepped backwards stays positive.
pub const LOCAL_EPOCH_NS: i64 = 1_000_000 * 1_000_000_000;

/// Integers below this are exact as `f64`.
const EXACT_IN_F64: u64 = 1 << 53;

/// A node's clock: local = base_local + rate × (true − base_true). Steps and rate changes
/// re-base it at the moment they happen, so the reading never jumps except by a step.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_true: u64,
    base_local: i64,
    pub rate: f64,
}

impl Clock {
    pub fn new(offset_ns: i64, rate: f64) -> Clock {
        Clock {
            base_true: 0,
            base_local: LOCAL_EPOCH_NS + offset_ns,
            rate,
        }
    }

    /// The local reading at true time `t` (t >= the last re-basing).
    #[inline]
    pub fn local(&self, t: u64) -> u64 {
        let elapsed = t.saturating_sub(self.base_true);
        // A clock without drift (the usual case) skips the floating point: below 2^53
        // every integer is exact as an f64, so the result is the same.
        let elapsed = if self.rate == 1.0 && elapsed < EXACT_IN_F64 {
            elapsed as i64
        } else {
            (elapsed as f64 * self.rate) as i64
        };
        (self.base_local + elapsed).max(0) as u64
    }

    /// The earliest true time at or after `now` when the local reading reaches `deadline`.
    #[inline]
    pub fn true_at(&self, deadline: u64, now: u64) -> u64 {
        if deadline <= self.local(now) {
            return now;
        }
        let ahead = deadline as i64 - self.base_local;
        // As in `local`: exact without the floating point (a negative `ahead` becomes 0,
        // as the cast of a negative f64 to u64 does).
        let ahead = if self.rate == 1.0 && ahead.unsigned_abs() < EXACT_IN_F64 {
            ahead.max(0) as u64
        } else {
            (ahead as f64 / self.rate).ceil() as u64
        };
        let t = self.base_true + ahead;
        t.max(now)
    }

    pub fn step(&mut self, now: u64, by_ns: i64) {
        self.rebase(now);
        self.base_local = (self.base_local + by_ns).max(0);
    }

    pub fn set_rate(&mut self, now: u64, rate: f64) {
        self.rebase(now);
        self.rate = rate;
    }

    fn rebase(&mut self, now: u64) {
        self.base_local = self.local(now) as i64;
        self.base_true = now;
    }

    /// Local minus true time, for summaries.
    pub fn offset_ns(&self, now: u64) -> i64 {
        self.local(now) as i64 - LOCAL_EPOCH_NS - now as i64
    }
}

/// Link state between every ordered pair of nodes (ids are 1-based; index 0 unused).
#[derive(Debug)]
pub struct Links<M> {
    n: usize,
    /// Partitions: messages from a to b are lost.
    cut: Vec<bool>,
    /// Clogs: messages from a to b are held until unclogged.
    clogged: Vec<bool>,
    pub held: Vec<VecDeque<M>>,
    /// FIFO connection generation; a reset bumps it and strands what is in flight.
    pub epoch: Vec<u32>,
    /// Last scheduled arrival on a FIFO link, so later sends arrive later.
    pub last_arrival: Vec<u64>,
    /// FIFO connections: the next sequence number to send, the next to hand over, and
    /// what arrived ahead of its turn.
    next_send: Vec<u64>,
    pub next_recv: Vec<u64>,
    pub early: Vec<std::collections::BTreeMap<u64, M>>,
}

impl<M> Links<M> {
    pub fn new(nodes: u32) -> Links<M> {
        let n = nodes as usize + 1;
        Links {
            n,
            cut: vec![false; n * n],
            clogged: vec![false; n * n],
            held: (0..n * n).map(|_| VecDeque::new()).collect(),
            epoch: vec![0; n * n],
            last_arrival: vec![0; n * n],
            next_send: vec![0; n * n],
            next_recv: vec![0; n * n],
            early: (0..n * n)
                .map(|_| std::collections::BTreeMap::new())
                .collect(),
        }
    }

    #[inline]
    pub fn index(&self, from: u32, to: u32) -> usize {
        from as usize * self.n + to as usize
    }

    #[inline]
    pub fn is_cut(&self, from: u32, to: u32) -> bool {
        self.cut[self.index(from, to)]
    }

    #[inline]
    pub fn is_clogged(&self, from: u32, to: u32) -> bool {
        self.clogged[self.index(from, to)]
    }

    pub fn cut(&mut self, from: u32, to: u32) {
        if from != to {
            let i = self.index(from, to);
            self.cut[i] = true;
        }
    }

    pub fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
    }

    pub fn clog(&mut self, from: u32, to: u32) {
        if from != to {
            let i = self.index(from, to);
            self.clogged[i] = true;
        }
    }

    /// The sequence number of the next message sent on link `i`.
    pub fn take_send_seq(&mut self, i: usize) -> u64 {
        let seq = self.next_send[i];
        self.next_send[i] += 1;
        seq
    }

    /// A new connection on link `i`: what was in flight is stranded (its epoch is old).
    pub fn reset(&mut self, i: usize) {
        self.epoch[i] += 1;
        self.next_send[i] = 0;
        self.next_recv[i] = 0;
        self.early[i].clear();
    }

    /// Clears every clog.
    pub fn unclog(&mut self) {
        self.clogged.iter_mut().for_each(|c| *c = false);
    }

    /// Hands back what links that are neither cut nor clogged held, in link order then
    /// FIFO order.
    pub fn take_clear(&mut self) -> Vec<(u32, u32, M)> {
        let mut released = Vec::new();
        for from in 1..self.n as u32 {
            for to in 1..self.n as u32 {
                let i = self.index(from, to);
                if !self.cut[i] && !self.clogged[i] {
                    released.extend(self.held[i].drain(..).map(|m| (from, to, m)));
                }
            }
        }
        released
    }

    /// Is there any partition or clog at all?
    pub fn any_fault(&self) -> bool {
        self.cut.iter().any(|&c| c) || self.clogged.iter().any(|&c| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_stepped_back_reads_less_and_delays_its_timers_in_true_time() {
        let mut c = Clock::new(0, 1.0);
        let t = 1_000_000;
        let before = c.local(t);
        let deadline = before + 500;
        assert_eq!(c.true_at(deadline, t), t + 500);
        c.step(t, -200);
        assert_eq!(c.local(t), before - 200);
        assert_eq!(c.true_at(deadline, t), t + 700);
    }

    #[test]
    fn a_clock_without_drift_reads_as_the_floating_point_formula_does() {
        let float_local = |c: &Clock, t: u64| {
            let elapsed = (t.saturating_sub(c.base_true)) as f64 * c.rate;
            (c.base_local + elapsed as i64).max(0) as u64
        };
        let float_true_at = |c: &Clock, deadline: u64, now: u64| {
            if deadline <= float_local(c, now) {
                return now;
            }
            let ahead = (deadline as i64 - c.base_local) as f64 / c.rate;
            (c.base_true + ahead.ceil() as u64).max(now)
        };
        let mut rng = crate::rng::Rng::new(3, crate::rng::Stream::Clocks);
        for offset in [0, -5_000_000_000, 7_000_000_000, -LOCAL_EPOCH_NS] {
            let mut c = Clock::new(offset, 1.0);
            c.step(1_000, -300);
            for _ in 0..10_000 {
                let now = 1_000 + rng.range_u64(0, 1 << 40);
                let deadline = c.local(now).saturating_sub(1 << 20) + rng.range_u64(0, 1 << 41);
                assert_eq!(c.local(now), float_local(&c, now));
                assert_eq!(c.true_at(deadline, now), float_true_at(&c, deadline, now));
            }
        }
    }

    #[test]
    fn a_slow_clock_fires_timers_late_and_never_before_now() {
        let mut c = Clock::new(0, 1.0);
        c.set_rate(0, 0.5);
        let start = c.local(0);
        assert_eq!(c.true_at(start + 1000, 0), 2000);
        assert_eq!(c.true_at(start, 50), 50);
    }
}
