//! Values by slot, kept as a window of consecutive slots rather than a tree.
//!
//! A node's slots are handed out in order by leaders, compacted from the front by
//! snapshots, and looked up near the end: the accepted records, the chosen values and a
//! leader's proposals each cover a run of consecutive slots with few holes. A window
//! answers every lookup with a subtraction, where a B-tree searched nodes (and allocated
//! them as it grew), on the path every Accept, Accepted and execution takes. Iteration is
//! in slot order, as the tree's was, so nothing that depends on order changes.
//!
//! Holes cost one empty cell each; the window never holds slots below its first value or
//! above its last.

use std::collections::VecDeque;
use std::fmt;
use std::ops::{Index, RangeFrom};

/// A map from slot to value, dense between its first and last slot.
#[derive(Clone, PartialEq, Eq)]
pub struct Slots<V> {
    /// The slot of `cells[0]`.
    base: u64,
    /// One cell per slot from `base`; the first and the last are full when any is.
    cells: VecDeque<Option<V>>,
    /// How many cells are full.
    len: usize,
}

impl<V> Default for Slots<V> {
    fn default() -> Self {
        Slots {
            base: 0,
            cells: VecDeque::new(),
            len: 0,
        }
    }
}

impl<V> Slots<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn cell(&self, slot: u64) -> Option<usize> {
        let i = usize::try_from(slot.checked_sub(self.base)?).ok()?;
        (i < self.cells.len()).then_some(i)
    }

    pub fn get(&self, slot: &u64) -> Option<&V> {
        self.cell(*slot).and_then(|i| self.cells[i].as_ref())
    }

    pub fn get_mut(&mut self, slot: &u64) -> Option<&mut V> {
        self.cell(*slot).and_then(|i| self.cells[i].as_mut())
    }

    pub fn contains_key(&self, slot: &u64) -> bool {
        self.get(slot).is_some()
    }

    /// Puts `value` at `slot`, returning what was there.
    pub fn insert(&mut self, slot: u64, value: V) -> Option<V> {
        if self.cells.is_empty() {
            self.base = slot;
            self.cells.push_back(Some(value));
            self.len = 1;
            return None;
        }
        if slot < self.base {
            let gap = usize::try_from(self.base - slot).expect("a window of addressable size");
            for _ in 1..gap {
                self.cells.push_front(None);
            }
            self.cells.push_front(Some(value));
            self.base = slot;
            self.len += 1;
            return None;
        }
        let i = usize::try_from(slot - self.base).expect("a window of addressable size");
        if i >= self.cells.len() {
            // Nearly always the next slot: no hole to fill.
            if i > self.cells.len() {
                self.cells.resize_with(i, || None);
            }
            self.cells.push_back(Some(value));
            self.len += 1;
            return None;
        }
        let old = self.cells[i].replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Takes the value at `slot` out.
    pub fn remove(&mut self, slot: &u64) -> Option<V> {
        let i = self.cell(*slot)?;
        let old = self.cells[i].take()?;
        self.len -= 1;
        self.trim();
        Some(old)
    }

    /// Drops empty cells at both ends, so that the ends are values.
    fn trim(&mut self) {
        while let Some(None) = self.cells.front() {
            self.cells.pop_front();
            self.base += 1;
        }
        while let Some(None) = self.cells.back() {
            self.cells.pop_back();
        }
        if self.cells.is_empty() {
            self.base = 0;
        }
    }

    pub fn first_key_value(&self) -> Option<(u64, &V)> {
        self.cells
            .front()
            .and_then(|c| c.as_ref())
            .map(|v| (self.base, v))
    }

    pub fn last_key_value(&self) -> Option<(u64, &V)> {
        let last = self.base + self.cells.len() as u64;
        self.cells
            .back()
            .and_then(|c| c.as_ref())
            .map(|v| (last - 1, v))
    }

    pub fn last_key(&self) -> Option<u64> {
        self.last_key_value().map(|(s, _)| s)
    }

    /// Splits at `slot`: the values from `slot` on move to the map returned; those
    /// below stay (as `BTreeMap::split_off`).
    pub fn split_off(&mut self, slot: &u64) -> Self {
        let at = match slot.checked_sub(self.base) {
            None => 0,
            Some(d) => usize::try_from(d).map_or(self.cells.len(), |d| d.min(self.cells.len())),
        };
        let tail_cells = self.cells.split_off(at);
        let tail_len = tail_cells.iter().filter(|c| c.is_some()).count();
        let mut tail = Slots {
            base: self.base + at as u64,
            cells: tail_cells,
            len: tail_len,
        };
        self.len -= tail_len;
        self.trim();
        tail.trim();
        tail
    }

    /// Drops every value below `slot`, in place (compaction: the window keeps its
    /// allocation, where `x = x.split_off(..)` would copy the rest into a new one).
    pub fn retain_from(&mut self, slot: u64) {
        if self.cells.is_empty() || slot <= self.base {
            return;
        }
        let drop =
            usize::try_from(slot - self.base).map_or(self.cells.len(), |d| d.min(self.cells.len()));
        let dropped = self.cells.drain(..drop).filter(|c| c.is_some()).count();
        self.len -= dropped;
        self.base += drop as u64;
        self.trim();
    }

    /// The values in slot order, with their slots.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &V)> + '_ {
        let base = self.base;
        self.cells
            .iter()
            .enumerate()
            .filter_map(move |(i, c)| c.as_ref().map(|v| (base + i as u64, v)))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.iter().map(|(s, _)| s)
    }

    /// The values in slot order, taken out.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> {
        self.cells.into_iter().flatten()
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + '_ {
        self.cells.iter_mut().filter_map(|c| c.as_mut())
    }

    /// The values from `range.start` on, in slot order, with their slots.
    pub fn range(&self, range: RangeFrom<u64>) -> impl DoubleEndedIterator<Item = (u64, &V)> + '_ {
        let skip = range.start.saturating_sub(self.base);
        let skip = usize::try_from(skip).map_or(self.cells.len(), |s| s.min(self.cells.len()));
        let base = self.base;
        self.cells
            .range(skip..)
            .enumerate()
            .filter_map(move |(i, c)| c.as_ref().map(|v| (base + (skip + i) as u64, v)))
    }
}

impl<V> Index<&u64> for Slots<V> {
    type Output = V;

    fn index(&self, slot: &u64) -> &V {
        self.get(slot).expect("no value at that slot")
    }
}

impl<V: fmt::Debug> fmt::Debug for Slots<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> FromIterator<(u64, V)> for Slots<V> {
    fn from_iter<I: IntoIterator<Item = (u64, V)>>(iter: I) -> Self {
        let mut s = Slots::new();
        for (slot, v) in iter {
            s.insert(slot, v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        SplitKeepHead(u64),
        SplitKeepTail(u64),
        RetainFrom(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..40, any::<u32>()).prop_map(|(s, v)| Op::Insert(s, v)),
            2 => (0u64..40).prop_map(Op::Remove),
            1 => (0u64..45).prop_map(Op::SplitKeepHead),
            1 => (0u64..45).prop_map(Op::SplitKeepTail),
            1 => (0u64..45).prop_map(Op::RetainFrom),
        ]
    }

    proptest! {
        /// Every operation answers as a `BTreeMap` does, and iteration agrees.
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec(op(), 0..60)) {
            let mut s: Slots<u32> = Slots::new();
            let mut m: BTreeMap<u64, u32> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(s.insert(k, v), m.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(s.remove(&k), m.remove(&k)),
                    Op::SplitKeepHead(k) => {
                        let a = s.split_off(&k);
                        let b = m.split_off(&k);
                        prop_assert_eq!(a.iter().map(|(k, v)| (k, *v)).collect::<Vec<_>>(),
                            b.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
                    }
                    Op::SplitKeepTail(k) => {
                        s = s.split_off(&k);
                        m = m.split_off(&k);
                    }
                    Op::RetainFrom(k) => {
                        s.retain_from(k);
                        m = m.split_off(&k);
                    }
                }
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.is_empty(), m.is_empty());
                prop_assert_eq!(
                    s.iter().map(|(k, v)| (k, *v)).collect::<Vec<_>>(),
                    m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>()
                );
                prop_assert_eq!(s.first_key_value().map(|(k, v)| (k, *v)),
                    m.first_key_value().map(|(k, v)| (*k, *v)));
                prop_assert_eq!(s.last_key_value().map(|(k, v)| (k, *v)),
                    m.last_key_value().map(|(k, v)| (*k, *v)));
                for k in 0..45 {
                    prop_assert_eq!(s.get(&k), m.get(&k));
                    prop_assert_eq!(
                        s.range(k..).map(|(k, v)| (k, *v)).collect::<Vec<_>>(),
                        m.range(k..).map(|(k, v)| (*k, *v)).collect::<Vec<_>>()
                    );
                }
                prop_assert_eq!(s.keys().rev().collect::<Vec<_>>(), m.keys().rev().copied().collect::<Vec<_>>());
                prop_assert_eq!(s.clone().into_values().collect::<Vec<_>>(), m.values().copied().collect::<Vec<_>>());
            }
        }
    }
}
