//! Swarm worlds: a scenario with a `[swarm]` table is a family of worlds, and every seed
//! draws its own (TigerBeetle VOPR's `options_swarm`, FoundationDB's BUGGIFY): cluster
//! size, observers and spares, timing and protocol options, network, disk, clocks,
//! workload, read mode, and which fault kinds are on at what rate. Rare combinations get
//! whole runs to themselves.
//!
//! The draw is a pure function of (scenario, protocol capabilities, seed) on its own random
//! stream (`Stream::World`), so `sim run --seed N` and `sim replay` of a saved trace (which
//! embeds the scenario's text and records the protocol and seed) draw the same world. A
//! drawn world is a plain scenario (`swarm: None`, `drawn: Some(seed)`): it runs, judges,
//! shrinks and prints like any other. A protocol gets only what it has: observers where it
//! takes them, spares and `reconfigure` with membership change, `corrupt` with storage
//! faults, read modes it serves, its own `[swarm.options.NAME]`.
//!
//! Every draw is made whatever the outcome of an override (`--read-mode`), so an override
//! shifts no other part of the world. New fields draw after the existing ones.

use crate::rng::{Rng, Stream};
use crate::scenario::{
    kind_is_undone, NemesisSpec, ProtocolOption, Scenario, Target, NEMESIS_KINDS,
    NEMESIS_KIND_COUNT, UNANCHORED,
};
use protocol::{LinkKind, OptionKind, OptionSpec, Protocol, ReadMode};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The ranges of `[swarm]`, as validated (`docs/scenarios.md` documents each). `None` (or
/// an empty list) keeps the scenario's own value.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmSpec {
    pub nodes: Option<(u32, u32)>,
    pub observers: Option<(u32, u32)>,
    /// Probability that the highest-numbered voter starts outside the membership.
    pub spare: Option<f64>,
    /// Probability that the membership starts as node 1 alone, the others spares that
    /// `reconfigure` adds one by one (a cluster bootstrapped from one server).
    pub grow_from_one: Option<f64>,
    /// The election timeout's minimum, and how much wider its maximum is.
    pub election_timeout: Option<(Duration, Duration)>,
    pub election_spread: Option<(Duration, Duration)>,
    pub heartbeat_interval: Option<(Duration, Duration)>,
    /// Probabilities that each option is on.
    pub pre_vote: Option<f64>,
    pub check_quorum: Option<f64>,
    pub backtrack: Option<f64>,
    pub clock_drift_bound: Option<(f64, f64)>,
    /// An envelope: each seed draws its own `[min, max]` inside it.
    pub latency: Option<(Duration, Duration)>,
    pub loss: Option<(f64, f64)>,
    pub duplicate: Option<(f64, f64)>,
    pub reorder: Option<(f64, f64)>,
    /// An envelope, as `latency`.
    pub write_latency: Option<(Duration, Duration)>,
    /// An envelope of initial clock offsets, in nanoseconds.
    pub offset_nanos: Option<(i64, i64)>,
    /// How much of the clock rate deviation the drift bound tolerates the clocks use
    /// (0: true rate; 1: the widest a correct lease survives).
    pub drift: Option<(f64, f64)>,
    pub clients: Option<(u32, u32)>,
    /// How many times clients retry an operation that timed out, for a protocol that
    /// deduplicates (`Protocol::DEDUPLICATES`).
    pub retries: Option<(u32, u32)>,
    pub keys: Option<(u32, u32)>,
    pub read: Option<(f64, f64)>,
    pub write: Option<(f64, f64)>,
    pub cas: Option<(f64, f64)>,
    pub timeout: Option<(Duration, Duration)>,
    /// An envelope, as `latency`.
    pub think: Option<(Duration, Duration)>,
    pub targets: Vec<Target>,
    pub read_modes: Vec<ReadMode>,
    /// Each nemesis kind the scenario enables stays on with this probability (one always
    /// does) ...
    pub kind_on: f64,
    /// ... at its rate scaled by a factor drawn from this range.
    pub rate_scale: (f64, f64),
    /// `[swarm.options.NAME]`: protocol options, drawn only for that protocol.
    pub by_protocol: BTreeMap<String, BTreeMap<String, SwarmOption>>,
    /// An envelope, as `latency`: how late a reordered (or duplicated) datagram arrives.
    pub reorder_delay: Option<(Duration, Duration)>,
    /// Each fault kind on in a world lasts its range times a factor drawn from this
    /// range (per kind): crashes of a few milliseconds that peers never notice, or
    /// partitions that outlast several elections.
    pub fault_duration_scale: Option<(f64, f64)>,
    /// Probability that a world aims its `crash_writing` faults at kinds of durable
    /// write, each of the protocol's kinds in the aim with probability ½ (BUGGIFY: a rare
    /// write, such as a snapshot's, gets as many crashes as the log's appends).
    pub crash_writing_kinds: Option<f64>,
    /// The same for `crash_sending` and the protocol's kinds of message.
    pub crash_sending_kinds: Option<f64>,
    /// Probability, per fault kind on in a world, that its faults wait for the next new
    /// leader (`[nemesis] on_new_leader`).
    pub on_new_leader: Option<f64>,
    /// Probability, per fault kind on in a world (and not waiting for new leaders), that
    /// its faults wait for a node to take one of the world's trigger marks, a few of the
    /// protocol's coverage marks drawn per world (`[nemesis] on_mark`, `trigger_marks`).
    pub on_mark: Option<f64>,
    /// A factor for every fault rate of a world at once, drawn log-uniformly: most worlds
    /// see a few faults a second, some a storm of them (a leader cut off again and again
    /// while nodes blink out for milliseconds).
    pub intensity: Option<(f64, f64)>,
    /// Probability that a world's clocks are adversarial (`[clocks] extremes`): every rate
    /// at one end of the drawn band, drift faults at the ends of what the bound tolerates.
    pub clock_extremes: Option<f64>,
    /// Boundary values: probability, per dimension of the world (election spread,
    /// latency, disk latency, loss, duplication, reordering, drift bound, drift, think
    /// time), that it takes one end of its range rather than a value inside it.
    pub corners: Option<f64>,
    /// Probability that a world loses a node for good at its final heal (`[nemesis]
    /// final_loss = 1`): whoever leads then. Drawn after every other dimension, so the
    /// worlds that lose no node are the worlds drawn without this field.
    pub final_loss: Option<f64>,
}

/// A protocol option's range in `[swarm.options.NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub enum SwarmOption {
    /// A true/false option, true with this probability.
    Chance(f64),
    Counts(u64, u64),
    Durations(Duration, Duration),
}

/// What a protocol can do, as far as drawing a world for it goes (from its trait consts).
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    pub name: &'static str,
    pub read_modes: &'static [ReadMode],
    pub links: LinkKind,
    pub membership: bool,
    pub storage_faults: bool,
    pub observers: bool,
    /// Whether a client may retry a command under its id (`Protocol::DEDUPLICATES`).
    pub deduplicates: bool,
    /// The shared `[options]` switches it honours (`Protocol::SWITCHES`).
    pub switches: &'static [&'static str],
    pub options: &'static [OptionSpec],
    /// The kinds of durable write it issues (`Protocol::WRITE_KINDS`).
    pub write_kinds: &'static [&'static str],
    /// The kinds of message it sends (`Protocol::MESSAGE_KINDS`).
    pub message_kinds: &'static [&'static str],
    /// The coverage marks it declares (`Protocol::MARKS`).
    pub marks: &'static [&'static str],
}

impl Capabilities {
    pub const fn of<P: Protocol>() -> Capabilities {
        Capabilities {
            name: P::NAME,
            read_modes: P::READ_MODES,
            links: P::LINKS,
            membership: P::SUPPORTS_MEMBERSHIP,
            storage_faults: P::STORAGE_FAULTS,
            deduplicates: P::DEDUPLICATES,
            observers: P::OBSERVERS,
            switches: P::SWITCHES,
            options: P::OPTIONS,
            write_kinds: P::WRITE_KINDS,
            message_kinds: P::MESSAGE_KINDS,
            marks: P::MARKS,
        }
    }
}

/// A world drawn for a protocol that cannot be run: the field at fault and why.
pub type DrawError = protocol::ConfigError;

fn kind(name: &str) -> usize {
    NEMESIS_KINDS
        .iter()
        .position(|&k| k == name)
        .expect("a nemesis kind")
}

/// Log-uniform when `lo` > 0 (a tenth of the range is as likely as ten times it),
/// uniform otherwise.
fn log_uniform(rng: &mut Rng, (lo, hi): (f64, f64)) -> f64 {
    if lo > 0.0 {
        lo * (hi / lo).powf(rng.unit())
    } else {
        fraction(rng, (lo, hi))
    }
}

/// With probability `p`, a fault kind that is `on` and aims at nothing yet aims at a
/// random subset of `kinds` (each in it with probability ½, one always). The draws are
/// made whatever the outcome, so that later fields draw the same.
fn draw_aim(rng: &mut Rng, p: f64, kinds: &[&str], on: bool, aimed: &mut Vec<String>) {
    let aim = rng.chance(p);
    let keep = rng.index(kinds.len().max(1));
    let mut subset = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        if rng.chance(0.5) || i == keep {
            subset.push(k.to_string());
        }
    }
    if aim && on && aimed.is_empty() {
        *aimed = subset;
    }
}

fn count(rng: &mut Rng, (lo, hi): (u32, u32)) -> u32 {
    rng.range_u64(lo.into(), hi.into()) as u32
}

fn fraction(rng: &mut Rng, (lo, hi): (f64, f64)) -> f64 {
    let x = lo + (hi - lo) * rng.unit();
    // Four decimals: a printed world reads as it runs.
    ((x * 10_000.0).round() / 10_000.0).clamp(lo, hi)
}

/// Whole milliseconds when the range allows it (a readable world), else nanoseconds.
fn duration(rng: &mut Rng, (lo, hi): (Duration, Duration)) -> Duration {
    let d = rng.duration(lo, hi);
    let ms = Duration::from_millis(d.as_millis() as u64);
    if ms >= lo {
        ms
    } else {
        d
    }
}

/// The chance that each of a protocol's coverage marks is one of a world's triggers (one
/// always is): a few marks per world, so that a rare one is not drowned by common ones
/// (the first trigger taken after a fault is drawn sets it off).
const TRIGGER_CHANCE: f64 = 0.1;

/// `[swarm] on_mark`: each kind on in the world (and not already waiting for new leaders
/// or aimed at a moment of its own) waits for a trigger mark with probability `p`; the
/// triggers are drawn among the protocol's marks but the mutants' own (`.bug.` in the
/// name). Drawn from a stream of its own (`Stream::Marks`), so that every other part of
/// the world is what it was without the field, and a world in which no kind waits is the
/// world drawn without it.
fn aim_at_marks(seed: u64, p: f64, marks: &[&str], nem: &mut NemesisSpec) {
    let mut rng = Rng::new(seed, Stream::Marks);
    for (k, name) in NEMESIS_KINDS.iter().enumerate() {
        let waits = rng.chance(p);
        if waits && nem.rates[k] > 0.0 && !UNANCHORED.contains(name) && !nem.on_new_leader[k] {
            nem.on_mark[k] = true;
        }
    }
    let candidates: Vec<&str> = marks
        .iter()
        .copied()
        .filter(|m| !m.contains(".bug."))
        .collect();
    if candidates.is_empty() {
        nem.on_mark = [false; NEMESIS_KIND_COUNT];
        return;
    }
    let keep = rng.index(candidates.len());
    let triggers: Vec<String> = candidates
        .iter()
        .enumerate()
        .filter(|(i, _)| rng.chance(TRIGGER_CHANCE) || *i == keep)
        .map(|(_, m)| m.to_string())
        .collect();
    if nem.on_mark.contains(&true) {
        nem.trigger_marks = triggers;
    }
}

/// How often, at least, a world grown from one voter asks its leader for a membership
/// change: about one a second, so that the cluster has grown within its first seconds.
const GROWTH_RATE: f64 = 1.0;

/// `[swarm] grow_from_one`: with probability `p`, the membership starts as node 1 alone
/// and `reconfigure` is on, at `GROWTH_RATE` or more, striking as it comes (not waiting
/// for a leader or a mark): the cluster elects its one voter, then grows a server at a
/// time, through the two-voter membership in which every write needs both. No server is
/// lost for good at the final heal. Drawn from a stream of its own (`Stream::Growth`), so
/// that the other worlds are what they were.
fn grow_from_one(seed: u64, p: f64, sc: &Scenario, w: &mut Scenario) {
    let mut rng = Rng::new(seed, Stream::Growth);
    let voters = w.nodes - w.options.observers;
    if !rng.chance(p) || voters < 2 || sc.options.members.is_some() {
        return;
    }
    w.options.members = Some(vec![1]);
    if let Some(nem) = w.nemesis.as_mut() {
        let k = kind("reconfigure");
        nem.rates[k] = nem.rates[k].max(GROWTH_RATE);
        nem.on_mark[k] = false;
        nem.on_new_leader[k] = false;
        if !nem.on_mark.contains(&true) {
            nem.trigger_marks.clear();
        }
        // A membership still of one or two at the end would be left with no quorum by a
        // server lost for good, and liveness could not be judged.
        nem.final_loss = 0.0;
    }
}

/// A sub-range of an envelope: two draws, in order.
fn within(rng: &mut Rng, envelope: (Duration, Duration)) -> (Duration, Duration) {
    let a = duration(rng, envelope);
    let b = duration(rng, envelope);
    (a.min(b), a.max(b))
}

/// The world seed `seed` draws from `sc` for a protocol with `caps`; `sc` itself when it
/// has no `[swarm]` table (or is already a drawn world).
pub fn draw(sc: &Scenario, caps: &Capabilities, seed: u64) -> Result<Scenario, DrawError> {
    let Some(spec) = &sc.swarm else {
        return Ok(sc.clone());
    };
    let mut rng = Rng::new(seed, Stream::World);
    let mut w = sc.clone();
    w.swarm = None;
    w.drawn = Some(seed);
    w.seed = seed;
    // The world is drawn for this protocol: written out (`to_toml`), it runs under it.
    w.protocol = caps.name.to_string();

    // The cluster: at least three voters remain beside any observers.
    if let Some(r) = spec.nodes {
        w.nodes = count(&mut rng, r);
    }
    if let (Some(r), true) = (spec.observers, caps.observers) {
        let drawn = count(&mut rng, r);
        w.options.observers = drawn.min(w.nodes.saturating_sub(3));
    } else if !caps.observers {
        w.options.observers = 0;
    }
    let voters = w.nodes - w.options.observers;

    // Timing and options.
    if let Some(r) = spec.election_timeout {
        let min = duration(&mut rng, r);
        let spread = spec
            .election_spread
            .map_or(Duration::ZERO, |s| duration(&mut rng, s));
        w.options.election_timeout = (min, min + spread);
    } else if let Some(s) = spec.election_spread {
        let spread = duration(&mut rng, s);
        w.options.election_timeout.1 = w.options.election_timeout.0 + spread;
    }
    if let Some(r) = spec.heartbeat_interval {
        w.options.heartbeat_interval = duration(&mut rng, r);
    }
    // A heartbeat at most a third of the election timeout keeps a healthy leader in office.
    let third = w.options.election_timeout.0 / 3;
    if w.options.heartbeat_interval > third && !third.is_zero() {
        w.options.heartbeat_interval = Duration::from_millis(third.as_millis().max(1) as u64);
    }
    let has = |switch: &str| caps.switches.contains(&switch);
    if let (Some(p), true) = (spec.pre_vote, has("pre_vote")) {
        w.options.pre_vote = rng.chance(p);
    }
    if let (Some(p), true) = (spec.check_quorum, has("check_quorum")) {
        w.options.check_quorum = rng.chance(p);
    }
    if let (Some(p), true) = (spec.backtrack, has("backtrack")) {
        w.options.backtrack_to_term_start = rng.chance(p);
    }
    if let Some(r) = spec.clock_drift_bound {
        w.options.clock_drift_bound = fraction(&mut rng, r);
    }
    if let Some(p) = spec.spare {
        let spare = rng.chance(p);
        if caps.membership && spare && voters >= 4 && sc.options.members.is_none() {
            w.options.members = Some((1..voters).collect());
        }
    }

    // Network: datagram links lose, duplicate and reorder; FIFO links (TCP) keep order,
    // and their loss is a connection reset, left to the nemesis.
    let fifo = w.network.fifo.unwrap_or(caps.links == LinkKind::Fifo);
    if let Some(r) = spec.latency {
        w.network.latency = within(&mut rng, r);
    }
    for (range, value) in [
        (spec.loss, &mut w.network.loss),
        (spec.duplicate, &mut w.network.duplicate),
        (spec.reorder, &mut w.network.reorder),
    ] {
        if let Some(r) = range {
            let p = fraction(&mut rng, r);
            *value = if fifo { 0.0 } else { p };
        }
    }
    if let Some(r) = spec.write_latency {
        w.storage.write_latency = within(&mut rng, r);
    }

    // Clocks: offsets anywhere in the envelope; rates within what the drift bound
    // tolerates. A follower's vote fence (its minimum election timeout on its clock) must
    // outlast a leader's lease (that timeout × (1 − bound) on the leader's clock), so the
    // fastest rate over the slowest, (1 + d) / (1 − d), is at most 1 / (1 − bound), that
    // is d ≤ bound / (2 − bound).
    if let Some((lo, hi)) = spec.offset_nanos {
        let mut one = || lo + rng.range_u64(0, (hi - lo) as u64) as i64;
        let (a, b) = (one(), one());
        let ms = |x: i64| x / 1_000_000 * 1_000_000;
        w.clocks.offset_nanos = (ms(a.min(b)).max(lo), ms(a.max(b)).max(lo));
        if w.clocks.offset_nanos.0 > w.clocks.offset_nanos.1 {
            w.clocks.offset_nanos.1 = w.clocks.offset_nanos.0;
        }
    }
    if let Some(r) = spec.drift {
        w.clocks.drift = drift_band(w.options.clock_drift_bound, fraction(&mut rng, r));
    }

    // Workload.
    if let Some(r) = spec.clients {
        w.workload.clients = count(&mut rng, r);
    }
    if let Some(r) = spec.keys {
        // At most two clients per key: more, under long faults, leave a key with dozens of
        // indeterminate operations, and the linearizability checker's budget ends in
        // "unknown" rather than a verdict.
        w.workload.keys = count(&mut rng, r).max(w.workload.clients.div_ceil(2));
    }
    for (range, i) in [(spec.read, 0), (spec.write, 1), (spec.cas, 2)] {
        if let Some(r) = range {
            w.workload.mix[i] = (fraction(&mut rng, r) * 10.0).round() / 10.0;
        }
    }
    if w.workload.mix.iter().sum::<f64>() <= 0.0 {
        w.workload.mix[1] = 1.0;
    }
    if let Some(r) = spec.timeout {
        w.workload.timeout = duration(&mut rng, r);
    }
    if let Some(r) = spec.think {
        w.workload.think = within(&mut rng, r);
    }
    if !spec.targets.is_empty() {
        w.workload.target = spec.targets[rng.index(spec.targets.len())];
    }
    if !spec.read_modes.is_empty() {
        let served: Vec<ReadMode> = spec
            .read_modes
            .iter()
            .copied()
            .filter(|m| caps.read_modes.contains(m))
            .collect();
        let pick = rng.next_u64();
        // A mode the scenario or `--read-mode` names stays; a protocol that serves none
        // of the listed modes reads in its default.
        if sc.workload.read_mode.is_none() && !served.is_empty() {
            w.workload.read_mode = Some(served[(pick % served.len() as u64) as usize]);
        }
    }
    let read_mode = w
        .workload
        .read_mode
        .unwrap_or(ReadMode::default_for(caps.read_modes));

    // The protocol's own options.
    if let Some(table) = spec.by_protocol.get(caps.name) {
        let mut options = w
            .options
            .by_protocol
            .get(caps.name)
            .cloned()
            .unwrap_or_default();
        for (key, range) in table {
            let field = format!("swarm.options.{}.{key}", caps.name);
            let Some(option) = caps.options.iter().find(|o| o.name == key) else {
                return Err(DrawError {
                    field: field.clone(),
                    ..protocol::unknown_option(caps.name, caps.options, key)
                });
            };
            let value = match (option.kind, range) {
                (OptionKind::Bool, SwarmOption::Chance(p)) => toml::Value::Boolean(rng.chance(*p)),
                (OptionKind::Count, SwarmOption::Counts(lo, hi)) => {
                    toml::Value::Integer(rng.range_u64(*lo, *hi).min(i64::MAX as u64) as i64)
                }
                (OptionKind::Duration, SwarmOption::Durations(lo, hi)) => toml::Value::String(
                    crate::duration::format_duration(duration(&mut rng, (*lo, *hi))),
                ),
                (kind, _) => {
                    return Err(DrawError {
                        field,
                        message: format!(
                            "expected a range for {} ({}: a probability for true/false, [min, max] otherwise)",
                            kind.describe(),
                            option.name
                        ),
                    })
                }
            };
            options.insert(
                key.clone(),
                ProtocolOption {
                    value,
                    line: crate::scenario::line_of_dotted(&sc.source, &field),
                },
            );
        }
        w.options.by_protocol.insert(caps.name.to_string(), options);
    }

    // Faults: the kinds the protocol and this world allow, then a swarm mix of them.
    if let Some(nem) = w.nemesis.as_mut() {
        let mut off = Vec::new();
        if !caps.membership {
            off.push(kind("reconfigure"));
        }
        if !caps.storage_faults {
            off.push(kind("corrupt"));
        }
        // A clock step breaks a correct lease by design (PROTOCOLS.md: "Clocks, leases and
        // split brain"), so under lease reads it is not drawn.
        if read_mode == ReadMode::Lease {
            off.push(kind("clock_step"));
        }
        // With instant writes no write is ever in flight to crash inside.
        if w.storage.write_latency.1.is_zero() {
            off.push(kind("crash_writing"));
        }
        for k in off {
            nem.rates[k] = 0.0;
        }
        let enabled: Vec<usize> = (0..NEMESIS_KIND_COUNT)
            .filter(|&k| nem.rates[k] > 0.0)
            .collect();
        if !enabled.is_empty() {
            let keep = enabled[rng.index(enabled.len())];
            for &k in &enabled {
                if k != keep && !rng.chance(spec.kind_on) {
                    nem.rates[k] = 0.0;
                } else {
                    let scale = fraction(&mut rng, spec.rate_scale);
                    nem.rates[k] = (nem.rates[k] * scale * 1000.0).round() / 1000.0;
                }
            }
        }
    }

    // "At the end everything heals": the drawn network's loss, duplication and reordering
    // too, so liveness is judged on a network that keeps its timing (half the messages a
    // second late would outlast any election timeout). No random draw.
    if spec.loss.is_some() || spec.duplicate.is_some() || spec.reorder.is_some() {
        w.network.calm_after_heal = true;
    }

    // Fields added later draw last, so that a scenario without them draws the worlds it
    // drew before they existed.
    if let Some(r) = spec.reorder_delay {
        w.network.reorder_delay = within(&mut rng, r);
    }
    if let (Some(r), Some(nem)) = (spec.fault_duration_scale, w.nemesis.as_mut()) {
        for (k, name) in NEMESIS_KINDS.iter().enumerate() {
            if nem.rates[k] > 0.0 {
                let scale = log_uniform(&mut rng, r);
                // A kind never undone has no span to stretch (its scale is still drawn, so
                // that every later draw stays where it was); giving it one made a world
                // that, written out, would not load again.
                if !kind_is_undone(name) {
                    continue;
                }
                let (lo, hi) = nem.duration_of(k);
                let stretch = |d: Duration| {
                    Duration::from_millis((d.as_secs_f64() * scale * 1000.0).round().max(1.0) as u64)
                };
                nem.durations[k] = Some((stretch(lo), stretch(hi).max(stretch(lo))));
            }
        }
    }
    if let (Some(p), Some(nem)) = (spec.crash_writing_kinds, w.nemesis.as_mut()) {
        let on = nem.rates[kind("crash_writing")] > 0.0;
        draw_aim(
            &mut rng,
            p,
            caps.write_kinds,
            on,
            &mut nem.crash_writing_kinds,
        );
    }
    if let (Some(p), Some(nem)) = (spec.crash_sending_kinds, w.nemesis.as_mut()) {
        let on = nem.rates[kind("crash_sending")] > 0.0;
        draw_aim(
            &mut rng,
            p,
            caps.message_kinds,
            on,
            &mut nem.crash_sending_kinds,
        );
    }
    if let (Some(p), Some(nem)) = (spec.on_new_leader, w.nemesis.as_mut()) {
        for (k, name) in NEMESIS_KINDS.iter().enumerate() {
            let anchored = rng.chance(p);
            if anchored && nem.rates[k] > 0.0 && !UNANCHORED.contains(name) {
                nem.on_new_leader[k] = true;
            }
        }
    }
    if let (Some(r), Some(nem)) = (spec.intensity, w.nemesis.as_mut()) {
        let factor = log_uniform(&mut rng, r);
        for rate in nem.rates.iter_mut() {
            *rate = (*rate * factor * 1000.0).round() / 1000.0;
        }
    }
    if let Some(p) = spec.clock_extremes {
        w.clocks.extremes = rng.chance(p);
    }
    if let Some(p) = spec.corners {
        corners(&mut rng, p, spec, &mut w, fifo);
    }
    if let (Some(p), Some(nem)) = (spec.final_loss, w.nemesis.as_mut()) {
        nem.final_loss = if rng.chance(p) { 1.0 } else { 0.0 };
    }
    if let (Some(p), Some(nem)) = (spec.on_mark, w.nemesis.as_mut()) {
        aim_at_marks(seed, p, caps.marks, nem);
    }
    if let (Some(p), true) = (spec.grow_from_one, caps.membership) {
        grow_from_one(seed, p, sc, &mut w);
    }
    if let (Some(r), true) = (spec.retries, caps.deduplicates) {
        w.workload.retries = count(&mut Rng::new(seed, Stream::Retries), r);
    }
    timely(&mut w);
    Ok(w)
}

/// The widest clock-rate deviation `d` (rates 1 ± d) a lease with drift bound `bound`
/// tolerates: a follower's vote fence (its minimum election timeout on its clock) must
/// outlast the leader's lease (that timeout × (1 − bound) on the leader's clock), so
/// (1 + d) / (1 − d) ≤ 1 / (1 − bound), that is d ≤ bound / (2 − bound).
pub fn widest_drift(bound: f64) -> f64 {
    bound / (2.0 - bound)
}

/// The rates `share` (0 to 1) of the widest band `bound` tolerates, rounded inwards to four
/// decimals: the band's exact edge leaves a lease no margin at all, and a printed world
/// reads as it runs.
pub fn drift_band(bound: f64, share: f64) -> (f64, f64) {
    let d = widest_drift(bound) * share;
    let lo = ((1.0 - d) * 10_000.0).ceil() / 10_000.0;
    let hi = ((1.0 + d) * 10_000.0).floor() / 10_000.0;
    (lo.min(1.0), hi.max(1.0))
}

/// Raft's timing requirement (§5.6: broadcast time ≪ election timeout), which every
/// protocol here shares: a world that breaks it elects no one however correct its protocol
/// is, so its election timeouts move up until it holds. A candidate's request reaches the
/// others a disk write and a message after it timed out (it writes its vote first); its
/// election needs that twice over (the voter writes too, then answers). So the smallest
/// timeout is at least one and a half elections, and the spread at least two requests: a
/// narrower spread has the next candidate time out before the first one's request arrives,
/// and candidates split the votes round after round. A world that loses a node for good may
/// leave a membership that needs every survivor's vote (three of four): a round wins only
/// when the first candidate's request reaches every other survivor before its own timer
/// fires, so the spread there is a request per node, enough for most rounds to win.
///
/// All of it in true time: timers run on the nodes' clocks, whose rates (`[clocks] drift`,
/// what they return to once the faults are undone) stretch a local timeout by 1 / rate.
/// The fastest clock's shortest timeout is still one and a half elections, and the slowest
/// clock's earliest timeout comes a spread before the fastest clock's latest, so that any
/// node, the one whose log can win among them, may be the first to stand. Checked only
/// against the band's two ends in local time before (swarm seed 160983 of Raft: clocks at
/// 0.67 and 1.33, 390–910 ms; the survivor with the fastest clock and an empty log stood
/// again and again, the one that could win, on the slowest, was rarely first by a request,
/// and a leader took office 11.9 s after the heal, past the 10 s bound).
fn timely(w: &mut Scenario) {
    let request = w.network.latency.1 + w.storage.write_latency.1;
    let least = 3 * request;
    let loses = w.nemesis.as_ref().is_some_and(|nem| nem.final_loss > 0.0);
    let spread = if loses {
        w.nodes.max(2) * request
    } else {
        2 * request
    };
    let (slowest, fastest) = w.clocks.drift;
    // A local span that lasts `d` in true time on a clock of this rate, up to the whole
    // millisecond; exact at the true rate, so that a world with no drift keeps its draw.
    let local = |d: Duration, rate: f64| {
        if rate == 1.0 {
            d
        } else {
            Duration::from_millis((d.as_secs_f64() * rate * 1000.0).ceil() as u64)
        }
    };
    let (lo, hi) = &mut w.options.election_timeout;
    let least = local(least, fastest);
    if *lo < least {
        *hi += least - *lo;
        *lo = least;
    }
    let needed = local(local(*lo, 1.0 / slowest) + spread, fastest);
    if *hi < needed {
        *hi = needed;
    }
    // Recovery after the final heal grows with the timeouts too: ZAB may wait out two init
    // limits (twice the longest timeout each, on the leader's clock, the slowest at worst)
    // before a leader is established, then sync. The liveness bound covers that, and the
    // run (with its clients) lasts that long after the heal (swarm seed 56183 of ZAB:
    // 496–1984 ms on clocks at 0.67, the leader established 8.4 s after the heal and not
    // synced by the 10 s bound).
    let recovery = Duration::from_secs_f64(4.0 * hi.as_secs_f64() / slowest) + RECOVERY_SLACK;
    let Some(stop) = w.nemesis.as_ref().map(|nem| nem.stop) else {
        return;
    };
    if w.expect.liveness_within < recovery {
        w.expect.liveness_within = Duration::from_millis(recovery.as_millis() as u64 + 1);
        let end = stop + w.expect.liveness_within;
        if w.duration < end {
            if w.workload.stop == w.duration {
                w.workload.stop = end;
            }
            w.duration = end;
        }
    }
}

/// What recovery takes beyond its init limits: an election, and a sync with slow disks.
const RECOVERY_SLACK: Duration = Duration::from_secs(2);

/// Boundary values, as a tester picks them: each dimension of `w` drawn from a range
/// takes, with probability `p`, the range's low or high end, the same at both ends of a
/// span (no latency at all, or every disk write the slowest). Bugs live at the edges: the
/// narrowest election spread with instant disks and the widest drift the bound allows is
/// where a lease without its margin overlaps the next leader. Every dimension draws twice
/// whatever the outcome, so that each keeps its place in the sequence.
fn corners(rng: &mut Rng, p: f64, spec: &SwarmSpec, w: &mut Scenario, fifo: bool) {
    fn end<T>(rng: &mut Rng, p: f64, range: Option<(T, T)>) -> Option<T> {
        let (hit, high) = (rng.chance(p), rng.chance(0.5));
        let (lo, hi) = range?;
        hit.then_some(if high { hi } else { lo })
    }
    if let Some(s) = end(rng, p, spec.election_spread) {
        w.options.election_timeout.1 = w.options.election_timeout.0 + s;
    }
    if let Some(d) = end(rng, p, spec.latency) {
        w.network.latency = (d, d);
    }
    if let Some(d) = end(rng, p, spec.write_latency) {
        w.storage.write_latency = (d, d);
        if let (true, Some(nem)) = (d.is_zero(), w.nemesis.as_mut()) {
            nem.rates[kind("crash_writing")] = 0.0;
        }
    }
    for (range, value) in [
        (spec.loss, &mut w.network.loss),
        (spec.duplicate, &mut w.network.duplicate),
        (spec.reorder, &mut w.network.reorder),
    ] {
        if let (Some(x), false) = (end(rng, p, range), fifo) {
            *value = x;
        }
    }
    // The drift band is a fraction of what the bound tolerates; a bound at its end keeps
    // the band's fraction, and a band at its end is none or all of it.
    let mut share = match widest_drift(w.options.clock_drift_bound) {
        d if d > 0.0 => ((w.clocks.drift.1 - 1.0) / d).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let bound = end(rng, p, spec.clock_drift_bound);
    if let Some(b) = bound {
        w.options.clock_drift_bound = b;
    }
    let drift = end(rng, p, spec.drift);
    if let Some(f) = drift {
        share = f;
    }
    if spec.drift.is_some() && (bound.is_some() || drift.is_some()) {
        w.clocks.drift = drift_band(w.options.clock_drift_bound, share);
    }
    if let Some(d) = end(rng, p, spec.think) {
        w.workload.think = (d, d);
    }
}

fn ms(d: Duration) -> String {
    crate::duration::format_duration(d)
}

fn span((lo, hi): (Duration, Duration)) -> String {
    if lo == hi {
        ms(lo)
    } else {
        format!("{}–{}", ms(lo), ms(hi))
    }
}

fn percent(p: f64) -> String {
    format!("{}%", (p * 1000.0).round() / 10.0)
}

/// The world a seed drew, in a few readable lines (`sim run` prints them); empty for a
/// scenario that was not drawn.
pub fn describe(w: &Scenario, caps: &Capabilities) -> String {
    let protocol_default = ReadMode::default_for(caps.read_modes);
    let Some(seed) = w.drawn else {
        return String::new();
    };
    let o = &w.options;
    let mut t = format!("world drawn for seed {seed}:\n  cluster  {} nodes", w.nodes);
    if o.observers > 0 {
        let _ = write!(t, " ({} observers)", o.observers);
    }
    if let Some(m) = &o.members {
        let _ = write!(t, ", members {m:?} (the rest spare)");
    }
    let onoff = |b: bool| if b { "on" } else { "off" };
    let _ = write!(
        t,
        "; election {}, heartbeat {}",
        span(o.election_timeout),
        ms(o.heartbeat_interval),
    );
    for switch in caps.switches {
        let _ = match *switch {
            "pre_vote" => write!(t, "; pre-vote {}", onoff(o.pre_vote)),
            "check_quorum" => write!(t, ", check-quorum {}", onoff(o.check_quorum)),
            "backtrack" => write!(
                t,
                ", backtrack {}",
                if o.backtrack_to_term_start {
                    "to_term_start"
                } else {
                    "skip_term"
                }
            ),
            _ => Ok(()),
        };
    }
    let _ = write!(t, "; drift bound {}", percent(o.clock_drift_bound));
    for (name, table) in &o.by_protocol {
        for (key, option) in table {
            let _ = write!(t, "; {name}.{key} = {}", option.value);
        }
    }
    let n = &w.network;
    let _ = write!(t, "\n  network  latency {}", span(n.latency));
    if n.loss + n.duplicate + n.reorder > 0.0 {
        let _ = write!(
            t,
            ", loss {}, duplicate {}, reorder {}",
            percent(n.loss),
            percent(n.duplicate),
            percent(n.reorder)
        );
        if n.duplicate + n.reorder > 0.0 {
            let _ = write!(t, " (late by {})", span(n.reorder_delay));
        }
        if n.calm_after_heal {
            t.push_str(", all calm after the final heal");
        }
    }
    let (olo, ohi) = w.clocks.offset_nanos;
    let _ = write!(
        t,
        "; disk writes {}; clock offsets {}ms..{}ms, rates {}–{}",
        span(w.storage.write_latency),
        olo / 1_000_000,
        ohi / 1_000_000,
        w.clocks.drift.0,
        w.clocks.drift.1
    );
    let drifts = w
        .nemesis
        .as_ref()
        .is_some_and(|nem| nem.rates[kind("drift")] > 0.0);
    if w.clocks.extremes && (w.clocks.drift.0 < w.clocks.drift.1 || drifts) {
        t.push_str(" (at the ends only)");
    }
    let wl = &w.workload;
    let _ = write!(
        t,
        "\n  workload {} clients, {} keys, read:write:cas {}:{}:{}, think {}, timeout {}, target {}, read mode {}",
        wl.clients,
        wl.keys,
        wl.mix[0],
        wl.mix[1],
        wl.mix[2],
        span(wl.think),
        ms(wl.timeout),
        match wl.target {
            Target::Leader => "leader",
            Target::Random => "random",
            Target::Sticky => "sticky",
        },
        wl.read_mode.unwrap_or(protocol_default).name()
    );
    if wl.retries > 0 {
        let _ = write!(t, ", {} retries", wl.retries);
    }
    if let Some(nem) = &w.nemesis {
        let mut on = Vec::new();
        let mut off = Vec::new();
        for (k, name) in NEMESIS_KINDS.iter().enumerate() {
            if nem.rates[k] > 0.0 {
                let lasting = if !kind_is_undone(name) {
                    String::new()
                } else {
                    format!(" ({})", span(nem.duration_of(k)))
                };
                let mut moment = String::new();
                if nem.on_new_leader[k] {
                    moment.push_str(" at each new leader");
                }
                if nem.on_mark[k] {
                    moment.push_str(" at a trigger mark");
                }
                if *name == "crash_writing" && !nem.crash_writing_kinds.is_empty() {
                    moment = format!(" in {} writes", nem.crash_writing_kinds.join("/"));
                }
                if *name == "crash_sending" && !nem.crash_sending_kinds.is_empty() {
                    moment = format!(" after {}", nem.crash_sending_kinds.join("/"));
                }
                on.push(format!("{name} {}/s{lasting}{moment}", nem.rates[k]));
            } else {
                off.push(*name);
            }
        }
        let _ = write!(
            t,
            "\n  faults   {}..{}: {}",
            ms(nem.start),
            ms(nem.stop),
            if on.is_empty() {
                "none".to_string()
            } else {
                on.join(", ")
            }
        );
        if !off.is_empty() {
            let _ = write!(t, "; off: {}", off.join(", "));
        }
        if !nem.trigger_marks.is_empty() {
            let _ = write!(t, "; trigger marks: {}", nem.trigger_marks.join(", "));
        }
        if nem.final_loss >= 1.0 {
            t.push_str("; at the final heal the leader is lost for good");
        } else if nem.final_loss > 0.0 {
            let _ = write!(
                t,
                "; at the final heal the leader is lost for good with chance {}",
                nem.final_loss
            );
        }
    }
    t.push('\n');
    t
}
