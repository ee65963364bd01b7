//! The event queue: pending events ordered by (true time, sequence number), each pointing
//! at a slot that holds the event itself.
//!
//! A 4-ary min-heap on plain `(at, seq, slot)` triples: half the depth of a binary heap,
//! and the four children of a node share a cache line or two, so a pop (the loop's most
//! frequent operation) touches fewer lines. Beside it, a FIFO of events due at the very
//! time of the last pop (a write with no disk latency, a connection reset): pushed with a
//! sequence number higher than any before them, they leave in push order, and need no
//! place in the heap. Keys are unique (`seq` grows with every push), so the order events
//! leave in is fully determined by the keys: any correct priority queue gives the same
//! run, and this one gives the same trace hashes as the binary heap it replaced.

use protocol::TimerId;
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct EventQueue {
    /// Entries as one 128-bit word each: `at` above, then `seq`, then `slot` in the low
    /// [`SLOT_BITS`]. Ordering the words orders by (at, seq), since sequence numbers are
    /// unique, and one comparison of two words replaces a branch per field.
    heap: Vec<u128>,
    /// Events due at `now`, in ascending `seq`: `(seq, slot)`.
    now_fifo: VecDeque<(u64, u32)>,
    /// The time of the last event popped: nothing is ever pushed earlier.
    now: u64,
}

const ARITY: usize = 4;

/// Bits of an entry's low word that hold its slot: at most this many events wait at once
/// (16M; a run stops at `sim::MAX_WAITING_EVENTS`, 4M, before).
const SLOT_BITS: u32 = 24;
/// Sequence numbers stay below this (2^40: a run stops at `MAX_EVENTS` = 2 * 10^8 events,
/// each arming at most a few timers and sending a few messages).
const SEQ_LIMIT: u64 = 1 << (64 - SLOT_BITS);

#[inline]
fn pack(at: u64, seq: u64, slot: u32) -> u128 {
    assert!(
        seq < SEQ_LIMIT && slot >> SLOT_BITS == 0,
        "event queue limits exceeded: sequence number {seq}, slot {slot}"
    );
    u128::from(at) << 64 | u128::from(seq << SLOT_BITS | u64::from(slot))
}

#[inline]
fn unpack(e: u128) -> (u64, u64, u32) {
    let low = e as u64;
    (
        (e >> 64) as u64,
        low >> SLOT_BITS,
        (low & ((1 << SLOT_BITS) - 1)) as u32,
    )
}

/// The slot bits of an entry.
const SLOT_MASK: u128 = (1 << SLOT_BITS) - 1;

/// The (at, seq) key of an entry, as a word that orders as the pair does.
#[inline]
fn key_of(at: u64, seq: u64) -> u128 {
    u128::from(at) << 64 | u128::from(seq << SLOT_BITS)
}

impl EventQueue {
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.now_fifo.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.now_fifo.is_empty()
    }

    /// Adds an event due at `at`, ordered among equal times by `seq`.
    #[inline]
    pub fn push(&mut self, at: u64, seq: u64, slot: u32) {
        debug_assert!(
            at >= self.now,
            "an event pushed at {at}, before {}",
            self.now
        );
        if at == self.now && self.now_fifo.back().is_none_or(|&(last, _)| last < seq) {
            self.now_fifo.push_back((seq, slot));
            return;
        }
        self.push_heap(at, seq, slot);
    }

    /// The key `(at, seq)` of the earliest event, without taking it.
    #[inline]
    pub fn peek(&self) -> Option<(u64, u64)> {
        let heap = self.heap.first().map(|&e| {
            let (at, seq, _) = unpack(e);
            (at, seq)
        });
        match (self.now_fifo.front(), heap) {
            (Some(&(seq, _)), Some(top)) => Some(top.min((self.now, seq))),
            (Some(&(seq, _)), None) => Some((self.now, seq)),
            (None, heap) => heap,
        }
    }

    /// Takes the earliest event if its key `(at, seq)` comes before `limit` (any key
    /// does when there is no limit): the event loop's step, with `limit` the next timer.
    #[inline]
    pub fn pop_before(&mut self, limit: Option<(u64, u64)>) -> Option<(u64, u64, u32)> {
        let Some((at, seq)) = limit else {
            return self.pop();
        };
        let limit = key_of(at, seq);
        let fifo = self.now_fifo.front().map(|&(seq, _)| key_of(self.now, seq));
        let heap = self.heap.first().map(|&top| top & !SLOT_MASK);
        let earliest = match (fifo, heap) {
            (Some(f), Some(h)) => f.min(h),
            (Some(f), None) => f,
            (None, Some(h)) => h,
            (None, None) => return None,
        };
        if earliest < limit {
            self.pop()
        } else {
            None
        }
    }

    /// Takes the earliest event: `(at, seq, slot)`.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64, u32)> {
        if let Some(&(seq, slot)) = self.now_fifo.front() {
            // Every FIFO entry is due at `now`; the heap may hold earlier keys at `now`.
            if self
                .heap
                .first()
                .is_none_or(|&top| key_of(self.now, seq) < top)
            {
                self.now_fifo.pop_front();
                return Some((self.now, seq, slot));
            }
        }
        let top = self.pop_heap()?;
        self.now = top.0;
        Some(top)
    }

    #[inline]
    fn push_heap(&mut self, at: u64, seq: u64, slot: u32) {
        let item = pack(at, seq, slot);
        let mut i = self.heap.len();
        self.heap.push(item);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if item >= self.heap[parent] {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = item;
    }

    #[inline]
    fn pop_heap(&mut self) -> Option<(u64, u64, u32)> {
        let last = self.heap.pop()?;
        let n = self.heap.len();
        if n == 0 {
            return Some(unpack(last));
        }
        let heap = &mut self.heap[..];
        let top = heap[0];
        // Floyd's bottom-up sift: move the hole from the root down to a leaf, always
        // promoting the least child, then let the last element rise from there. It
        // belongs near the bottom, so this saves a comparison per level.
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            let (best, least) = match heap.get(first..first + ARITY) {
                // Four children (all but the last parent): a tournament of two pairs.
                Some(&[a, b, c, d]) => {
                    let (x, ix) = if b < a { (b, 1) } else { (a, 0) };
                    let (y, iy) = if d < c { (d, 3) } else { (c, 2) };
                    if y < x {
                        (first + iy, y)
                    } else {
                        (first + ix, x)
                    }
                }
                _ => {
                    let mut best = first;
                    for c in first + 1..n {
                        if heap[c] < heap[best] {
                            best = c;
                        }
                    }
                    (best, heap[best])
                }
            };
            heap[i] = least;
            i = best;
        }
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if last >= heap[parent] {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = last;
        Some(unpack(top))
    }
}

/// One node's armed timers: id -> (generation, local deadline), in id order. A node arms
/// a handful (election, heartbeat, a few more), so a sorted vector, scanned, beats a tree
/// on every operation; iteration is in id order, as a `BTreeMap`'s is.
#[derive(Debug, Default)]
pub struct ArmedTimers {
    armed: Vec<(TimerId, (u64, u64))>,
}

impl ArmedTimers {
    #[inline]
    fn find(&self, timer: &TimerId) -> Result<usize, usize> {
        for (i, (t, _)) in self.armed.iter().enumerate() {
            if t >= timer {
                return if t == timer { Ok(i) } else { Err(i) };
            }
        }
        Err(self.armed.len())
    }

    #[inline]
    pub fn get(&self, timer: &TimerId) -> Option<&(u64, u64)> {
        self.find(timer).ok().map(|i| &self.armed[i].1)
    }

    #[inline]
    pub fn insert(&mut self, timer: TimerId, armed: (u64, u64)) {
        match self.find(&timer) {
            Ok(i) => self.armed[i].1 = armed,
            Err(i) => self.armed.insert(i, (timer, armed)),
        }
    }

    #[inline]
    pub fn remove(&mut self, timer: &TimerId) {
        if let Ok(i) = self.find(timer) {
            self.armed.remove(i);
        }
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Every armed timer, in id order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&TimerId, &mut (u64, u64))> {
        self.armed.iter_mut().map(|(t, a)| (&*t, a))
    }
}

/// An armed timer waiting to fire: due at true time `at`, ordered among equal times by
/// the sequence number `seq` it was given when armed, as every queued event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueTimer {
    pub at: u64,
    pub seq: u64,
    pub node: u32,
    pub timer: TimerId,
    pub generation: u64,
}

/// The timers armed on every node, kept beside the event queue rather than in it: at most
/// one entry per (node, timer), replaced when the timer is re-armed and removed when it is
/// cancelled or its node crashes. A protocol re-arms its election timer on every
/// heartbeat; in the queue, each re-arming would leave an entry behind that only comes up
/// to be thrown away (a saturated 5-node Raft run kept some 650 of them, against some 40
/// live events). Here the set stays as small as the number of armed timers, and the event
/// loop takes whichever of the two is earlier by the same (time, sequence) key, so events
/// happen in exactly the order a queue holding every entry gives.
#[derive(Debug, Default)]
pub struct TimerSet {
    due: Vec<DueTimer>,
    /// Index in `due` of the earliest entry; `None` when it must be searched for again.
    earliest: Option<usize>,
}

impl TimerSet {
    pub fn new() -> TimerSet {
        TimerSet::default()
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// Arms `t.timer` of `t.node` as `t`, replacing the entry it had, if any.
    #[inline]
    pub fn set(&mut self, t: DueTimer) {
        let (i, old) = match self
            .due
            .iter()
            .position(|d| d.node == t.node && d.timer == t.timer)
        {
            Some(i) => (i, Some(std::mem::replace(&mut self.due[i], t))),
            None => {
                self.due.push(t);
                (self.due.len() - 1, None)
            }
        };
        self.earliest = match (self.earliest, old) {
            // The earliest came earlier still; or moved later, to be searched for.
            (Some(e), Some(old)) if e == i => (key(&t) < key(&old)).then_some(i),
            (Some(e), _) if key(&t) < key(&self.due[e]) => Some(i),
            (Some(e), _) => Some(e),
            (None, _) if self.due.len() == 1 => Some(0),
            (None, _) => None,
        };
    }

    /// Disarms `timer` of `node`, if armed.
    #[inline]
    pub fn remove(&mut self, node: u32, timer: TimerId) {
        if let Some(i) = self
            .due
            .iter()
            .position(|d| d.node == node && d.timer == timer)
        {
            self.take(i);
        }
    }

    /// Disarms every timer of `node`.
    pub fn remove_node(&mut self, node: u32) {
        self.due.retain(|d| d.node != node);
        self.earliest = None;
    }

    /// The key `(at, seq)` of the earliest timer.
    #[inline]
    pub fn peek(&mut self) -> Option<(u64, u64)> {
        let e = self.earliest()?;
        Some(key(&self.due[e]))
    }

    /// Takes the earliest timer.
    #[inline]
    pub fn pop(&mut self) -> Option<DueTimer> {
        let e = self.earliest()?;
        Some(self.take(e))
    }

    fn earliest(&mut self) -> Option<usize> {
        if self.earliest.is_none() && !self.due.is_empty() {
            let mut best = 0;
            for i in 1..self.due.len() {
                if key(&self.due[i]) < key(&self.due[best]) {
                    best = i;
                }
            }
            self.earliest = Some(best);
        }
        self.earliest
    }

    fn take(&mut self, i: usize) -> DueTimer {
        let t = self.due.swap_remove(i);
        self.earliest = match self.earliest {
            // The one moved into `i` was the last; the earliest moved with it.
            Some(e) if e == self.due.len() && e != i => Some(i),
            Some(e) if e != i => Some(e),
            _ => None,
        };
        t
    }
}

#[inline]
fn key(t: &DueTimer) -> (u64, u64) {
    (t.at, t.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// A node's armed timers answer, and iterate, as the `BTreeMap` they replaced.
    #[test]
    fn armed_timers_behave_as_a_btree_map() {
        let mut rng = Rng::new(3, Stream::Timers(1));
        let mut ours = ArmedTimers::default();
        let mut theirs = std::collections::BTreeMap::new();
        for step in 0..5_000u64 {
            let timer = TimerId(rng.index(7) as u32);
            match rng.index(10) {
                0..=4 => {
                    ours.insert(timer, (step, step * 3));
                    theirs.insert(timer, (step, step * 3));
                }
                5..=7 => {
                    ours.remove(&timer);
                    theirs.remove(&timer);
                }
                8 if step % 50 == 0 => {
                    ours.clear();
                    theirs.clear();
                }
                _ => {
                    for ((a, x), (b, y)) in ours.iter_mut().zip(theirs.iter_mut()) {
                        assert_eq!(a, b);
                        x.0 += 1;
                        y.0 += 1;
                    }
                }
            }
            for t in 0..8 {
                assert_eq!(
                    ours.get(&TimerId(t)),
                    theirs.get(&TimerId(t)),
                    "step {step}"
                );
            }
            assert_eq!(ours.iter_mut().count(), theirs.len());
        }
    }

    #[test]
    fn pops_in_the_order_a_binary_heap_of_the_same_keys_does() {
        let mut rng = Rng::new(7, Stream::Network);
        let mut ours = EventQueue::new();
        let mut theirs = BinaryHeap::new();
        let mut seq = 0;
        let mut now = 0;
        // Sequence numbers taken earlier and pushed later (as a deferred client timeout is).
        let mut reserved = Vec::new();
        for round in 0..20_000u64 {
            // Pushes at or after the current time (many at the very same time), pops
            // in between, as the event loop does.
            for _ in 0..rng.range_u64(0, 3) {
                seq += 1;
                if rng.chance(0.1) {
                    reserved.push(seq);
                    continue;
                }
                let at = now + [0, 1, rng.range_u64(0, 1000)][rng.index(3)];
                let slot = (round % 97) as u32;
                ours.push(at, seq, slot);
                theirs.push(Reverse((at, seq, slot)));
            }
            if !reserved.is_empty() && rng.chance(0.2) {
                let old = reserved.swap_remove(rng.index(reserved.len()));
                let at = now + [0, 1, rng.range_u64(0, 1000)][rng.index(3)];
                ours.push(at, old, 1000);
                theirs.push(Reverse((at, old, 1000)));
            }
            if rng.chance(0.2) {
                // A limit such as the next timer's key, at times before the earliest event.
                let limit = (now + rng.range_u64(0, 3), rng.range_u64(0, seq + 1));
                let expected = match theirs.peek() {
                    Some(Reverse((at, s, _))) if (*at, *s) < limit => {
                        theirs.pop().map(|Reverse(x)| x)
                    }
                    _ => None,
                };
                assert_eq!(ours.pop_before(Some(limit)), expected);
                if let Some((at, _, _)) = expected {
                    now = at;
                }
            } else if rng.chance(0.5) {
                let peeked = ours.peek();
                let a = ours.pop();
                assert_eq!(peeked, a.map(|(at, seq, _)| (at, seq)));
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

    #[test]
    fn timers_come_due_in_the_order_of_a_queue_that_keeps_every_arming() {
        // The reference: every arming queued (stale ones included), a popped entry counting
        // only if its generation is the one armed, as the event loop once did.
        let mut rng = Rng::new(11, Stream::Timers(1));
        let mut ours = TimerSet::new();
        let mut every = BinaryHeap::new();
        let mut armed: std::collections::BTreeMap<(u32, TimerId), u64> = Default::default();
        let (mut seq, mut generation, mut now) = (0u64, 0u64, 0u64);
        for _ in 0..50_000 {
            let node = 1 + rng.index(5) as u32;
            let timer = TimerId(rng.index(3) as u32);
            match rng.index(10) {
                0..=5 => {
                    seq += 1;
                    generation += 1;
                    let at = now + rng.range_u64(0, 300);
                    armed.insert((node, timer), generation);
                    every.push(Reverse((at, seq, node, timer.0, generation)));
                    ours.set(DueTimer {
                        at,
                        seq,
                        node,
                        timer,
                        generation,
                    });
                }
                6 => {
                    armed.remove(&(node, timer));
                    ours.remove(node, timer);
                }
                7 if rng.chance(0.05) => {
                    armed.retain(|&(n, _), _| n != node);
                    ours.remove_node(node);
                }
                _ => {
                    let expected = loop {
                        match every.pop() {
                            None => break None,
                            Some(Reverse((at, seq, node, timer, generation))) => {
                                let timer = TimerId(timer);
                                if armed.get(&(node, timer)) == Some(&generation) {
                                    armed.remove(&(node, timer));
                                    break Some(DueTimer {
                                        at,
                                        seq,
                                        node,
                                        timer,
                                        generation,
                                    });
                                }
                            }
                        }
                    };
                    let peeked = ours.peek();
                    let got = ours.pop();
                    assert_eq!(got, expected);
                    assert_eq!(peeked, got.map(|t| (t.at, t.seq)));
                    if let Some(t) = got {
                        now = t.at;
                    }
                }
            }
            assert_eq!(ours.len(), armed.len());
        }
    }
}
