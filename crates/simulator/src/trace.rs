//! What a run records: every event in order with a stable running hash, the ghost record
//! no node can see (true time, every leader of every term, each index at the moment it
//! first committed, lease intervals in true time), and the client history.
//!
//! Events are recorded compactly (no formatting on the hot path); a trace file renders them
//! once, when it is written. The hash covers every field of every event, including a digest
//! of each message's content, so two runs with the same hash made the same decisions.
//! The hash covers the events only: what a trace file's header records beside them (the
//! scenario, the [`RunSettings`]) can grow without changing any run's hash.

use crate::scenario::Scenario;
use crate::sim::{RunOptions, RunOutput};
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fast, stable 64-bit hasher (FxHash's multiply-rotate). Stable means: the same bytes
/// give the same hash on every machine and run, which `std`'s RandomState does not promise.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher {
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl StableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so that nearby inputs give unrelated digests.
        crate::rng::splitmix64(self.hash)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// 1 to 7 bytes as a little-endian word, zero-padded, from two overlapping reads (the
/// same bytes land on the same places twice), without a loop or a call to memcpy: keys
/// and labels are short, and every event hashes one.
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    debug_assert!((1..8).contains(&n));
    if n >= 4 {
        let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else {
        u64::from(rest[0])
            | u64::from(rest[n / 2]) << (8 * (n / 2))
            | u64::from(rest[n - 1]) << (8 * (n - 1))
    }
}

/// The digest of any hashable value (a message, a write).
pub fn digest<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.finish()
}

/// What happened, in one word (the trace file's `e` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A message was delivered to `node` from `peer`; `a` is its digest, `b` the time it
    /// was sent.
    Recv,
    /// A message from `peer` to `node` was lost (`label` says why: partition, loss, reset,
    /// crashed); `b` is the time it was sent.
    Drop,
    /// A message was held by a clogged link.
    Clogged,
    /// A timer of `node` fired; `a` is the timer id.
    Timer,
    /// A durable write of `node` completed; `a` is its tag.
    WriteDone,
    /// The FIFO connection between `node` and `peer` was reset (`label` "reset"), or
    /// `node` closed it ("close").
    Reset,
    /// A fault was injected (`label` names it; `node` the node if any).
    Fault,
    /// A fault named a node selector ("leader") that matched no node; nothing happened.
    FaultSkipped,
    Crash,
    Restart,
    /// `node` reported a role (`label`) for term `a`.
    Role,
    /// `node` voted for `peer` in term `a`.
    Vote,
    /// `node` learned that index `a` (term `b`) committed.
    Commit,
    /// `node` applied index `a` (term `b`).
    Apply,
    /// Leader `node` of term `a` holds a lease until true time `b`.
    Lease,
    /// Leader `node` of term `a` served a read without the log.
    ReadServed,
    /// A coverage mark (`label`).
    Mark,
    /// Client `peer` invoked operation `a` on `node`.
    Invoke,
    /// Client `peer` got a reply to operation `a` (`label`: ok, fail, info, redirect).
    Return,
    /// Client `peer` timed out on operation `a`: gave up on it (`label` "timeout": it is
    /// indeterminate), or sent it again to `node` ("retry", `[workload] retries`).
    Timeout,
    /// `node`'s voting membership changed to `a` members, `b` their bit set (bit `i - 1`
    /// for node `i`).
    Members,
    /// A storage fault on crashed `node` with record choice `a`: `label` says whether the
    /// protocol damaged a record (`damaged`) or had none (`nothing_to_damage`); `b` is a
    /// digest of what it said it damaged.
    Corrupt,
    /// `node`'s own assertion (`label`) failed in its step and stopped the run; `a` is a
    /// digest of its message. Last, so the other kinds keep their numbers.
    Stop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Recv => "recv",
            Kind::Drop => "drop",
            Kind::Clogged => "clogged",
            Kind::Timer => "timer",
            Kind::WriteDone => "write_done",
            Kind::Reset => "reset",
            Kind::Fault => "fault",
            Kind::FaultSkipped => "fault_skipped",
            Kind::Crash => "crash",
            Kind::Restart => "restart",
            Kind::Role => "role",
            Kind::Vote => "vote",
            Kind::Commit => "commit",
            Kind::Apply => "apply",
            Kind::Lease => "lease",
            Kind::ReadServed => "read_served",
            Kind::Mark => "mark",
            Kind::Invoke => "invoke",
            Kind::Return => "return",
            Kind::Timeout => "timeout",
            Kind::Members => "members",
            Kind::Corrupt => "corrupt",
            Kind::Stop => "stop",
        }
    }
}

/// One recorded event. `node` and `peer` are node ids (0 when none); for client events
/// `peer` is the client number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub at_ns: u64,
    pub kind: Kind,
    pub node: u32,
    pub peer: u32,
    pub label: &'static str,
    pub a: u64,
    pub b: u64,
}

/// How often the running hash is checkpointed, so that two runs that diverge can be told
/// apart at the first checkpoint that differs rather than only at the end.
pub const CHECKPOINT_EVERY: usize = 1024;

/// The event log with its running hash. Events are hashed and then dropped, kept in
/// memory (`keep`: for a timeline or a page drawn from them), or streamed to a spool
/// file as the run goes, so that a long run's trace costs disk, not memory.
#[derive(Debug, Default)]
pub struct EventLog {
    pub events: Vec<Event>,
    /// Readable descriptions by event index (only when a run was asked to describe).
    pub details: Vec<(u64, String)>,
    hasher: StableHasher,
    /// The running hash after every `CHECKPOINT_EVERY` events.
    pub checkpoints: Vec<u64>,
    /// When false, only the hash and count are kept (benchmarks of the bare loop).
    keep: bool,
    count: u64,
    spool: Option<Spool>,
}

/// Events streamed to a file, each rendered as its line of a trace file. The file is
/// removed when the spool is dropped: it is a part of a trace, not one.
#[derive(Debug)]
struct Spool {
    path: PathBuf,
    w: Option<BufWriter<File>>,
    /// The first failure to create or write the file; the trace cannot be written then.
    error: Option<String>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.w = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes one event as a trace file renders it: `[at_ns,"kind",node,peer,"label",a,b]`.
pub fn write_event(w: &mut impl Write, e: &Event) -> io::Result<()> {
    write!(
        w,
        "[{},\"{}\",{},{},",
        e.at_ns,
        e.kind.name(),
        e.node,
        e.peer
    )?;
    if e.label
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        write!(w, "\"{}\"", e.label)?;
    } else {
        w.write_all(
            serde_json::to_string(e.label)
                .map_err(io::Error::other)?
                .as_bytes(),
        )?;
    }
    write!(w, ",{},{}]", e.a, e.b)
}

/// A spool file name no other run of this process or another uses.
fn spool_path(dir: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let k = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".sim-events-{}-{k}.tmp", std::process::id()))
}

impl EventLog {
    pub fn new(keep: bool) -> EventLog {
        EventLog {
            keep,
            ..EventLog::default()
        }
    }

    /// A log that streams its events to a new file in `dir` (see [`EventLog::copy_events`]).
    /// A file that cannot be created is not an error until the events are asked for.
    pub fn spooled(keep: bool, dir: &Path) -> EventLog {
        let path = spool_path(dir);
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map(|f| BufWriter::with_capacity(1 << 16, f));
        let (w, error) = match created {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(format!("{}: {e}", path.display()))),
        };
        EventLog {
            keep,
            spool: Some(Spool { path, w, error }),
            ..EventLog::default()
        }
    }

    #[inline]
    pub fn push(&mut self, e: Event) {
        let h = &mut self.hasher;
        h.add(e.at_ns);
        h.add(e.kind as u64 | (u64::from(e.node) << 8) | (u64::from(e.peer) << 40));
        h.write(e.label.as_bytes());
        h.add(e.a);
        h.add(e.b);
        self.count += 1;
        if self.count.is_multiple_of(CHECKPOINT_EVERY as u64) {
            self.checkpoints.push(self.hasher.finish());
        }
        if self.keep {
            self.events.push(e);
        }
        if let Some(spool) = &mut self.spool {
            spool.push(&e, self.count == 1);
        }
    }

    /// Whether events are kept in memory.
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// Whether the events themselves can be written out (kept or spooled).
    pub fn has_events(&self) -> bool {
        self.keep || self.spool.is_some()
    }

    /// Writes every event, one per line as a trace file holds them (lines separated by
    /// ",\n"), from memory or from the spool.
    pub fn copy_events(&self, w: &mut impl Write) -> io::Result<()> {
        if self.keep {
            for (i, e) in self.events.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",\n")?;
                }
                write_event(w, e)?;
            }
            return Ok(());
        }
        let Some(spool) = &self.spool else {
            return Err(io::Error::other(
                "the run kept no events (neither in memory nor in a spool file)",
            ));
        };
        if let Some(e) = &spool.error {
            return Err(io::Error::other(format!(
                "the run's events were not saved: {e}"
            )));
        }
        if spool.w.is_some() {
            return Err(io::Error::other("the run's events are still being written"));
        }
        let mut file = File::open(&spool.path)?;
        io::copy(&mut file, w)?;
        Ok(())
    }

    /// Flushes and closes the spool at the end of the run.
    pub fn finish(&mut self) {
        if let Some(spool) = &mut self.spool {
            if let Some(mut w) = spool.w.take() {
                if let Err(e) = w.flush() {
                    spool.error = Some(format!("{}: {e}", spool.path.display()));
                }
            }
        }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    /// The description attached to event `index`, if any.
    pub fn detail(&self, index: u64) -> Option<&str> {
        self.details
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|k| self.details[k].1.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The hash of the whole event sequence so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish() ^ self.count
    }
}

impl Spool {
    #[inline]
    fn push(&mut self, e: &Event, first: bool) {
        let Some(w) = &mut self.w else { return };
        let written =
            if first { Ok(()) } else { w.write_all(b",\n") }.and_then(|()| write_event(w, e));
        if let Err(err) = written {
            self.error = Some(format!("{}: {err}", self.path.display()));
            self.w = None;
        }
    }
}

/// Formats a hash the way traces and summaries print it.
pub fn hash_hex(h: u64) -> String {
    format!("{h:016x}")
}

/// Everything besides the scenario file's text that shaped a run: what `sim run`'s command
/// line can override. A trace file records all of it beside the scenario, so that `sim
/// replay`, `export` and `shrink` re-run the same run, and the printed reproduction line is
/// built from it. An override added to `sim run` belongs here (the binary's tests list
/// every `sim run` argument and fail until a new one is recorded or declared harmless).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSettings {
    pub protocol: String,
    pub seed: u64,
    /// Mutants on: the scenario's own and the command line's.
    pub bugs: Vec<String>,
    pub swarm: bool,
    /// The read mode the run's workload named (`--read-mode` or the scenario's
    /// `read_mode`); `None`: the protocol's default.
    pub read_mode: Option<protocol::ReadMode>,
}

impl RunSettings {
    /// The settings `out`, a run of `sc`, ran with.
    pub fn of(sc: &Scenario, out: &RunOutput) -> RunSettings {
        RunSettings {
            protocol: out.protocol.to_string(),
            seed: out.seed,
            bugs: out.bugs.clone(),
            swarm: out.swarm,
            read_mode: sc.workload.read_mode,
        }
    }

    /// Applies the settings that live in the scenario (protocol, seed, read mode) to `sc`,
    /// parsed from the text a trace embeds. A read mode of `None` leaves the scenario's
    /// own: a trace written before read modes were recorded says nothing about it.
    pub fn apply(&self, sc: &mut Scenario) {
        sc.protocol = self.protocol.clone();
        sc.seed = self.seed;
        if let Some(mode) = self.read_mode {
            sc.workload.read_mode = Some(mode);
        }
    }

    /// The options that re-run with these settings.
    pub fn options(&self, keep_events: bool, describe: bool) -> RunOptions {
        RunOptions {
            seed: self.seed,
            keep_events,
            bugs: self.bugs.clone(),
            swarm: self.swarm,
            describe,
            ..RunOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ns: u64, kind: Kind, label: &'static str) -> Event {
        Event {
            at_ns,
            kind,
            node: 1,
            peer: 2,
            label,
            a: 3,
            b: 4,
        }
    }

    #[test]
    fn the_hash_depends_on_every_field_and_on_order() {
        let mut a = EventLog::new(true);
        let mut b = EventLog::new(true);
        a.push(ev(1, Kind::Recv, "X"));
        a.push(ev(2, Kind::Timer, "Y"));
        b.push(ev(2, Kind::Timer, "Y"));
        b.push(ev(1, Kind::Recv, "X"));
        assert_ne!(a.hash(), b.hash());
        let mut c = EventLog::new(false);
        c.push(ev(1, Kind::Recv, "X"));
        c.push(ev(2, Kind::Timer, "Y"));
        assert_eq!(
            a.hash(),
            c.hash(),
            "keeping events must not change the hash"
        );
        let mut d = EventLog::new(false);
        d.push(ev(1, Kind::Recv, "Z"));
        d.push(ev(2, Kind::Timer, "Y"));
        assert_ne!(a.hash(), d.hash());
    }

    #[test]
    fn bytes_hash_as_zero_padded_little_endian_words() {
        // The reference: the tail copied into a zeroed 8-byte buffer.
        fn reference(bytes: &[u8]) -> u64 {
            let mut h = StableHasher::default();
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                h.add(u64::from_le_bytes(c.try_into().unwrap()));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut buf = [0u8; 8];
                buf[..rest.len()].copy_from_slice(rest);
                h.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
            }
            h.finish()
        }
        let text: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        for len in 0..=text.len() {
            let mut h = StableHasher::default();
            h.write(&text[..len]);
            assert_eq!(h.finish(), reference(&text[..len]), "{len} bytes");
        }
    }

    #[test]
    fn digests_are_stable_values_not_per_process_random() {
        // Pinned: a change here changes every trace hash, which needs a format bump.
        assert_eq!(digest(&(1u64, "abc")), digest(&(1u64, "abc")));
        assert_ne!(digest(&1u64), digest(&2u64));
    }
}
