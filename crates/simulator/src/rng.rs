//! Seeded randomness, one independent ChaCha stream per concern.
//!
//! Every random decision of a run comes from one of these streams, all derived from the
//! run's seed. Streams are separate so that changing one concern (say, the workload's op
//! mix) does not shift every decision of another (the network's latencies): a shrunk run
//! stays close to the one it came from.

use rand_chacha::rand_core::{SeedableRng, TryRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// What a stream is for. Node timers get a stream each (`Timers(node)`).
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Network,
    Storage,
    Workload,
    Nemesis,
    Clocks,
    Swarm,
    /// The world a `[swarm]` scenario draws for the seed (`crate::swarm`).
    World,
    /// The coverage marks a `[swarm]` world's faults wait for (`[swarm] on_mark`): a stream
    /// of its own, so that the worlds drawn without them stay as they were.
    Marks,
    /// Whether a `[swarm]` world's membership starts from one voter (`[swarm]
    /// grow_from_one`): a stream of its own, so that the other worlds stay as they were.
    Growth,
    /// How many times a `[swarm]` world's clients retry a timed-out operation (`[swarm]
    /// retries`): a stream of its own, so that the other worlds stay as they were.
    Retries,
    Timers(u32),
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Storage => 2,
            Stream::Workload => 3,
            Stream::Nemesis => 4,
            Stream::Clocks => 5,
            Stream::Swarm => 6,
            Stream::World => 7,
            Stream::Marks => 8,
            Stream::Growth => 9,
            Stream::Retries => 10,
            Stream::Timers(node) => 1000 + u64::from(node),
        }
    }
}

/// A deterministic random stream.
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    pub fn new(seed: u64, stream: Stream) -> Rng {
        let mut key = [0u8; 32];
        let mut x = seed;
        for chunk in key.chunks_mut(8) {
            x = splitmix64(x);
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_stream(stream.number());
        Rng { inner }
    }

    pub fn next_u64(&mut self) -> u64 {
        match self.inner.try_next_u64() {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Uniform in `lo..=hi` (Lemire's multiply-shift; the bias is below 2^-64 per draw).
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        let wide = u128::from(self.next_u64()) * u128::from(span + 1);
        lo + (wide >> 64) as u64
    }

    /// Uniform index in `0..n`, `n > 0`.
    pub fn index(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        self.range_u64(0, n as u64 - 1) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`; draws nothing when `p` is 0 or 1, so that a scenario
    /// without loss consumes the same randomness whether or not the check exists.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_nanos(self.range_u64(lo.as_nanos() as u64, hi.as_nanos() as u64))
    }

    /// Exponentially distributed with the given mean (for fault inter-arrival times).
    pub fn exponential(&mut self, mean: Duration) -> Duration {
        let u = 1.0 - self.unit(); // (0, 1]
        mean.mul_f64(-u.ln())
    }
}

pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_give_the_same_numbers_and_streams_differ() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7, Stream::Network);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7, Stream::Network);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7, Stream::Workload);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn range_stays_inside_its_bounds() {
        let mut r = Rng::new(1, Stream::Clocks);
        for _ in 0..10_000 {
            let v = r.range_u64(10, 13);
            assert!((10..=13).contains(&v));
        }
        assert_eq!(r.range_u64(5, 5), 5);
    }
}
