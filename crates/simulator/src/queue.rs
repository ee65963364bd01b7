//! The event queue: pending events ordered by (true time, sequence number), each pointing
//! at a slot that holds the event itself.
//!
//! A 4-ary min-heap on plain `(at, seq, slot)` triples: half the depth of a binary heap,
//! and the four children of a node share a cache line or two, so a pop (the loop's most
//! frequent operation) touches fewer lines. Keys are unique (`seq` grows with every push),
//! so the order events leave in is fully determined by the keys: any correct priority
//! queue gives the same run, and this one gives the same trace hashes as the binary heap
//! it replaced.

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: Vec<(u64, u64, u32)>,
}

const ARITY: usize = 4;

#[inline]
fn before(a: &(u64, u64, u32), b: &(u64, u64, u32)) -> bool {
    (a.0, a.1) < (b.0, b.1)
}

impl EventQueue {
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Adds an event due at `at`, ordered among equal times by `seq`.
    #[inline]
    pub fn push(&mut self, at: u64, seq: u64, slot: u32) {
        let item = (at, seq, slot);
        let mut i = self.heap.len();
        self.heap.push(item);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !before(&item, &self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = item;
    }

    /// Takes the earliest event: `(at, seq, slot)`.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64, u32)> {
        let last = self.heap.pop()?;
        let n = self.heap.len();
        if n == 0 {
            return Some(last);
        }
        let top = self.heap[0];
        // Sift the last element down from the root, moving the hole rather than swapping.
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            let end = (first + ARITY).min(n);
            let mut best = first;
            for c in first + 1..end {
                if before(&self.heap[c], &self.heap[best]) {
                    best = c;
                }
            }
            if !before(&self.heap[best], &last) {
                break;
            }
            self.heap[i] = self.heap[best];
            i = best;
        }
        self.heap[i] = last;
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn pops_in_the_order_a_binary_heap_of_the_same_keys_does() {
        let mut rng = Rng::new(7, Stream::Network);
        let mut ours = EventQueue::new();
        let mut theirs = BinaryHeap::new();
        let mut seq = 0;
        let mut now = 0;
        for round in 0..20_000u64 {
            // Pushes at or after the current time (many at the very same time), pops
            // in between, as the event loop does.
            for _ in 0..rng.range_u64(0, 3) {
                seq += 1;
                let at = now + [0, 1, rng.range_u64(0, 1000)][rng.index(3)];
                let slot = (round % 97) as u32;
                ours.push(at, seq, slot);
                theirs.push(Reverse((at, seq, slot)));
            }
            if rng.chance(0.5) {
                let a = ours.pop();
                let b = theirs.pop().map(|Reverse(x)| x);
                assert_eq!(a, b);
                if let Some((at, _, _)) = a {
                    now = at;
                }
            }
            assert_eq!(ours.len(), theirs.len());
        }
        while let Some(Reverse(x)) = theirs.pop() {
            assert_eq!(ours.pop(), Some(x));
        }
        assert!(ours.is_empty());
    }
}
