//! A run you can look at: one self-contained HTML page (inline CSS, inline SVG, a little
//! inline JavaScript for pan and zoom; no network, no fonts, no scripts from anywhere)
//! that draws a run on one time axis in seconds. Per node: its role over time (follower,
//! candidate, leader, with the term) and its commits; faults as bands across the nodes
//! they touch; client operations as latency dots coloured by result; and, when a checker
//! failed, the violation marked on the same axis with the checker's explanation and the
//! command that replays the run. The linearizability explanation is the checker's own
//! (`checker::html::violation_figure`), not a second one.
//!
//! Large runs are downsampled where drawing every item would not help a reader (commits
//! become counts per time bin; successful operations are thinned past [`MAX_OP_DOTS`]);
//! the page says so, and never thins out failed or indeterminate operations or the
//! violation.

use checker::safety::Outcome as Verdict;
use simulator::judge::Judgement;
use simulator::scenario::{Fault, Scenario};
use simulator::sim::{AppliedFault, Outcome as OpOutcome, RunOutput};
use simulator::trace::Kind;
use std::fmt::Write as _;

/// Successful operations drawn at most per run; the rest are thinned evenly.
pub const MAX_OP_DOTS: usize = 3000;
/// Commit counts are drawn per this many bins over the run.
pub const COMMIT_BINS: usize = 600;

/// How much of a run a page draws: at most `op_dots` successful operations, commits in
/// `commit_bins` bins. A comparison page, with a timeline per row, draws less of each.
#[derive(Clone, Copy, Debug)]
pub struct Detail {
    pub op_dots: usize,
    pub commit_bins: usize,
}

impl Detail {
    /// A page of one run.
    pub const FULL: Detail = Detail {
        op_dots: MAX_OP_DOTS,
        commit_bins: COMMIT_BINS,
    };
    /// A row's timeline on a comparison page.
    pub const LANE: Detail = Detail {
        op_dots: 800,
        commit_bins: 200,
    };
}

const PLOT_LEFT: f64 = 150.0;
const PLOT_WIDTH: f64 = 1050.0;
const LANE: f64 = 22.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// A node's role over an interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub node: u32,
    pub from_ns: u64,
    pub to_ns: u64,
    /// `follower`, `candidate`, `leader`, ..., or `down` (crashed).
    pub role: String,
    pub term: u64,
}

/// A fault as a band: from when it was applied until what undid it (or the run's end),
/// over the nodes it acts on (all nodes for network-wide faults). Instant faults (a clock
/// step) have `to_ns == from_ns`.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub kind: &'static str,
    pub label: String,
    pub from_ns: u64,
    pub to_ns: u64,
    pub nodes: Vec<u32>,
    /// For a partition or a bridge, the side each node is on (0, 1, ...; a node in no
    /// group of a partition is on one more side, a bridge node on its own).
    pub sides: Vec<(u32, usize)>,
}

/// A client operation as a dot.
#[derive(Clone, Debug, PartialEq)]
pub struct Dot {
    pub invoke_ns: u64,
    /// Its return, or the run's end for one that never returned.
    pub end_ns: u64,
    /// `ok`, `failed` or `indeterminate`.
    pub result: &'static str,
    pub label: String,
}

/// A checker's finding placed on the axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub checker: String,
    pub from_ns: u64,
    pub to_ns: u64,
    pub text: String,
}

/// What a page draws of one run: everything it needs, nothing more.
#[derive(Clone, Debug)]
pub struct RunView {
    pub scenario: String,
    pub protocol: String,
    pub read_mode: String,
    pub seed: u64,
    pub nodes: u32,
    pub end_ns: u64,
    pub segments: Vec<Segment>,
    pub bands: Vec<Band>,
    /// Per node, commits counted in `bins` bins over the run.
    pub commit_bins: Vec<(u32, Vec<u32>)>,
    pub commits_total: u64,
    pub bins: usize,
    pub dots: Vec<Dot>,
    /// Operations in the run, and how many successful ones were left out of `dots`.
    pub ops_total: usize,
    pub ops_thinned: usize,
    pub markers: Vec<Marker>,
    /// Each checker's name, result and text.
    pub verdicts: Vec<(String, String, String)>,
    /// The checker's own drawing of a linearizability violation (SVG and explanation).
    pub violation_figure: Option<String>,
}

fn role_segments(sc: &Scenario, out: &RunOutput) -> Vec<Segment> {
    let mut open: Vec<Option<(u64, String, u64)>> =
        vec![Some((0, "starting".into(), 0)); sc.nodes as usize + 1];
    let mut segments = Vec::new();
    let close =
        |open: &mut Option<(u64, String, u64)>, node: u32, at: u64, segments: &mut Vec<Segment>| {
            if let Some((from, role, term)) = open.take() {
                if at > from {
                    segments.push(Segment {
                        node,
                        from_ns: from,
                        to_ns: at,
                        role,
                        term,
                    });
                }
            }
        };
    let kept = !out.log.events.is_empty();
    if kept {
        for e in &out.log.events {
            let slot = e.node as usize;
            if slot == 0 || slot >= open.len() {
                continue;
            }
            let next = match e.kind {
                Kind::Role => (e.label.to_string(), e.a),
                Kind::Crash => ("down".to_string(), 0),
                Kind::Restart => ("restarting".to_string(), 0),
                _ => continue,
            };
            close(&mut open[slot], e.node, e.at_ns, &mut segments);
            open[slot] = Some((e.at_ns, next.0, next.1));
        }
    } else {
        // Without the event log, the ghost record: leader or not, and crashes.
        for e in &out.node_events {
            let slot = e.node as usize;
            if slot == 0 || slot >= open.len() {
                continue;
            }
            let next = match e.what {
                checker::safety::What::Role { leader, term } => {
                    (if leader { "leader" } else { "follower" }.to_string(), term)
                }
                checker::safety::What::Crash => ("down".to_string(), 0),
                _ => continue,
            };
            close(&mut open[slot], e.node, e.at_ns, &mut segments);
            open[slot] = Some((e.at_ns, next.0, next.1));
        }
    }
    for node in 1..=sc.nodes {
        close(&mut open[node as usize], node, out.end_ns, &mut segments);
    }
    segments.sort_by_key(|s| (s.node, s.from_ns));
    segments
}

/// A fault in a few words: its kind, its node, what it does (`partition [[1, 2], [3, 4,
/// 5]]`, `clock_step n3 by -2.000s`).
pub fn fault_label(f: &AppliedFault) -> String {
    let node = f.node.map(|n| format!(" n{n}")).unwrap_or_default();
    match &f.fault {
        Fault::Partition { groups } => format!("partition {groups:?}"),
        Fault::Bridge { groups, bridge } => {
            format!("bridge {:?} | n{bridge} | {:?}", groups[0], groups[1])
        }
        Fault::OneWay { from, to } => format!("one-way cut {from:?} -> {to:?}"),
        Fault::ClockStep { by_nanos, .. } => {
            format!("clock_step{node} by {:+.3}s", *by_nanos as f64 / 1e9)
        }
        Fault::Drift { rate, .. } => format!("drift{node} rate {rate}"),
        Fault::Loss { probability } => format!("loss {probability}"),
        Fault::Clog { from, to } => format!("clog {from:?} -> {to:?}"),
        Fault::Corrupt { .. } => match &f.outcome {
            Some(what) => format!("corrupt{node} ({what})"),
            None => format!("corrupt{node}"),
        },
        other => format!("{}{node}", other.name()),
    }
}

/// Pairs each fault with what undoes it.
fn fault_bands(sc: &Scenario, out: &RunOutput) -> Vec<Band> {
    let all: Vec<u32> = (1..=sc.nodes).collect();
    let mut bands = Vec::new();
    let undoes = |later: &Fault, earlier: &Fault, node: Option<u32>, later_node: Option<u32>| {
        use Fault::*;
        match (earlier, later) {
            (_, HealAll) => true,
            (Partition { .. } | Bridge { .. } | OneWay { .. } | Isolate { .. }, Heal) => true,
            (Crash { .. } | Corrupt { .. }, Restart { .. }) => node == later_node,
            (Pause { .. }, Resume { .. }) => node == later_node,
            (Clog { .. }, Unclog) => true,
            (Loss { .. }, Loss { .. }) => true,
            (Drift { .. }, Drift { .. }) => node == later_node,
            _ => false,
        }
    };
    for (i, f) in out.faults.iter().enumerate() {
        use Fault::*;
        let nodes: Vec<u32> = match &f.fault {
            Partition { groups } => {
                let mut n: Vec<u32> = groups.iter().flatten().copied().collect();
                n.sort_unstable();
                n.dedup();
                if n.len() < all.len() {
                    all.clone()
                } else {
                    n
                }
            }
            Bridge { .. } | OneWay { .. } | Clog { .. } | Loss { .. } => all.clone(),
            _ => f.node.map_or_else(|| all.clone(), |n| vec![n]),
        };
        let sides: Vec<(u32, usize)> = match &f.fault {
            Partition { groups } => all
                .iter()
                .map(|n| {
                    let side = groups.iter().position(|g| g.contains(n));
                    (*n, side.unwrap_or(groups.len()))
                })
                .collect(),
            Bridge { groups, bridge } => all
                .iter()
                .map(|n| {
                    let side = if n == bridge {
                        2
                    } else {
                        groups.iter().position(|g| g.contains(n)).unwrap_or(2)
                    };
                    (*n, side)
                })
                .collect(),
            _ => Vec::new(),
        };
        let instant = matches!(
            f.fault,
            ClockStep { .. } | AddServer { .. } | RemoveServer { .. }
        );
        let repair = matches!(
            f.fault,
            Heal | Restart { .. } | Resume { .. } | Unclog | HealAll
        );
        let to_ns = if instant || repair {
            f.at_ns
        } else {
            out.faults[i + 1..]
                .iter()
                .find(|g| undoes(&g.fault, &f.fault, f.node, g.node))
                .map_or(out.end_ns, |g| g.at_ns)
        };
        bands.push(Band {
            kind: f.fault.name(),
            label: format!("{} at {:.3}s", fault_label(f), secs(f.at_ns)),
            from_ns: f.at_ns,
            to_ns,
            nodes,
            sides,
        });
    }
    bands
}

/// The first `at N.NNNs` in a checker's text, as the moment it names.
fn time_in(text: &str) -> Option<u64> {
    let mut rest = text;
    while let Some(i) = rest.find("at ") {
        let tail = &rest[i + 3..];
        let number: String = tail
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if !number.is_empty() && tail[number.len()..].starts_with('s') {
            if let Ok(v) = number.parse::<f64>() {
                return Some((v * 1e9).round() as u64);
            }
        }
        rest = tail;
    }
    None
}

impl RunView {
    pub fn of(sc: &Scenario, out: &RunOutput, j: &Judgement) -> RunView {
        RunView::with_detail(sc, out, j, Detail::FULL)
    }

    pub fn with_detail(sc: &Scenario, out: &RunOutput, j: &Judgement, detail: Detail) -> RunView {
        let bins = detail.commit_bins.max(1);
        let segments = role_segments(sc, out);
        let bands = fault_bands(sc, out);
        let end = out.end_ns.max(1);
        let bin_of = |t: u64| ((t as u128 * bins as u128 / end as u128) as usize).min(bins - 1);
        let mut commit_bins: Vec<(u32, Vec<u32>)> =
            (1..=sc.nodes).map(|n| (n, vec![0; bins])).collect();
        let mut commits_total = 0u64;
        for e in out.log.events.iter().filter(|e| e.kind == Kind::Commit) {
            if let Some((_, bins)) = commit_bins.get_mut((e.node as usize).wrapping_sub(1)) {
                bins[bin_of(e.at_ns)] += 1;
                commits_total += 1;
            }
        }
        if out.log.events.is_empty() {
            for c in &out.commits() {
                if let Some((_, bins)) = commit_bins.get_mut((c.node as usize).wrapping_sub(1)) {
                    bins[bin_of(c.at_ns)] += 1;
                    commits_total += 1;
                }
            }
        }
        // The violation, with the checker's own account of it.
        let mut markers = Vec::new();
        let mut violation_figure = None;
        let mut stuck_op: Option<(u64, u64)> = None;
        let lin_failed = j
            .verdict("linearizability")
            .is_some_and(|v| v.result == Verdict::Fail);
        if lin_failed {
            let history = simulator::judge::history(out);
            if let checker::linearizability::Outcome::NotLinearizable(v) =
                checker::linearizability::check(
                    &history,
                    checker::linearizability::Model::Kv,
                    checker::linearizability::Budget {
                        time: None,
                        steps: Some(simulator::judge::linearizability_steps(history.ops.len())),
                        threads: 1,
                    },
                )
            {
                let to = v.stuck.ret.unwrap_or(out.end_ns);
                stuck_op = Some((v.stuck.process, v.stuck.call));
                markers.push(Marker {
                    checker: "linearizability".into(),
                    from_ns: v.stuck.call,
                    to_ns: to,
                    text: format!(
                        "{} (called {:.6}s, returned {}): no order of the operations allows it — a stale read or lost write",
                        v.stuck,
                        secs(v.stuck.call),
                        v.stuck.ret.map_or("never".into(), |r| format!("{:.6}s", secs(r)))
                    ),
                });
                violation_figure = Some(checker::html::violation_figure(&v));
            }
        }
        for (name, v) in &j.verdicts {
            if v.result != Verdict::Fail || *name == "linearizability" {
                continue;
            }
            let at = time_in(&v.detail).unwrap_or(0);
            markers.push(Marker {
                checker: name.to_string(),
                from_ns: at,
                to_ns: at,
                text: v.detail.clone(),
            });
        }
        // Client operations: every failed, indeterminate and violating one; successful
        // ones thinned evenly past MAX_OP_DOTS.
        let ok_total = out
            .history
            .iter()
            .filter(|op| matches!(op.outcome, OpOutcome::Ok(_)))
            .count();
        let stride = ok_total.div_ceil(detail.op_dots.max(1)).max(1);
        let mut dots = Vec::new();
        let mut ok_seen = 0usize;
        let mut thinned = 0usize;
        for op in &out.history {
            let result = match op.outcome {
                OpOutcome::Ok(_) => "ok",
                OpOutcome::Fail => "failed",
                OpOutcome::Info => "indeterminate",
            };
            let is_stuck = stuck_op == Some((op.process, op.invoke_ns));
            if result == "ok" && !is_stuck {
                ok_seen += 1;
                if !(ok_seen - 1).is_multiple_of(stride) {
                    thinned += 1;
                    continue;
                }
            }
            let returned = match (&op.outcome, op.return_ns) {
                (OpOutcome::Ok(r), Some(_)) => format!(" -> {r:?}"),
                _ => String::new(),
            };
            dots.push(Dot {
                invoke_ns: op.invoke_ns,
                end_ns: op.return_ns.unwrap_or(out.end_ns),
                result: if is_stuck { "violation" } else { result },
                label: format!(
                    "{:?}{returned} by process {} at n{} ({result})",
                    op.op, op.process, op.node
                ),
            });
        }
        RunView {
            scenario: sc.name.clone(),
            protocol: out.protocol.to_string(),
            read_mode: sc
                .workload
                .read_mode
                .or_else(|| crate::protocols::find(out.protocol).map(|e| e.default_read_mode()))
                .map_or_else(|| "default".to_string(), |m| m.name().to_string()),
            seed: out.seed,
            nodes: sc.nodes,
            end_ns: out.end_ns,
            segments,
            bands,
            commit_bins,
            commits_total,
            bins,
            dots,
            ops_total: out.history.len(),
            ops_thinned: thinned,
            markers,
            verdicts: j
                .verdicts
                .iter()
                .map(|(n, v)| (n.to_string(), v.result.name().to_string(), v.detail.clone()))
                .collect(),
            violation_figure,
        }
    }
}

fn role_colour(role: &str) -> &'static str {
    match role {
        "leader" | "leading" => "#d9822b",
        "candidate" | "pre-candidate" | "looking" => "#e8c547",
        "follower" | "following" => "#9cc3e6",
        "observing" => "#b9d7b0",
        "down" | "crashed" => "#444444",
        _ => "#dddddd",
    }
}

fn band_colour(kind: &str) -> &'static str {
    match kind {
        "partition" | "isolate" | "bridge" | "one_way" => "rgba(200,40,40,0.16)",
        "crash" | "corrupt" => "rgba(60,60,60,0.22)",
        "pause" => "rgba(120,60,200,0.18)",
        "clock_step" | "drift" => "rgba(0,140,140,0.22)",
        "loss" | "clog" => "rgba(200,120,0,0.16)",
        _ => "rgba(90,90,90,0.14)",
    }
}

/// The sides of a partition, one hue each.
const SIDE_COLOURS: [&str; 4] = [
    "rgba(200,40,40,0.18)",
    "rgba(40,90,200,0.18)",
    "rgba(30,150,60,0.18)",
    "rgba(160,40,160,0.18)",
];

fn dot_colour(result: &str) -> &'static str {
    match result {
        "ok" => "#2a8a2a",
        "failed" => "#c03030",
        "indeterminate" => "#8a8a8a",
        _ => "#e00000",
    }
}

/// A rectangle positioned by time: the script moves it when the view changes.
fn timed_rect(
    svg: &mut String,
    x: &dyn Fn(u64) -> f64,
    (from, to): (u64, u64),
    (y, h): (f64, f64),
    style: &str,
    class: &str,
    title: &str,
) {
    let (x0, x1) = (x(from), x(to));
    let _ = write!(
        svg,
        "<rect class='t {class}' data-t0='{:.9}' data-t1='{:.9}' x='{x0:.2}' y='{y:.1}' width='{:.2}' height='{h:.1}' {style}><title>{}</title></rect>",
        secs(from),
        secs(to),
        (x1 - x0).max(1.0),
        escape(title)
    );
}

/// One run's timeline as an SVG on the axis `[0, axis_end_ns]`.
pub fn timeline_svg(view: &RunView, axis_end_ns: u64, id: &str) -> String {
    let end = axis_end_ns.max(1);
    let x = |t: u64| PLOT_LEFT + t as f64 / end as f64 * PLOT_WIDTH;
    let nodes = view.nodes as f64;
    let nodes_top = 30.0;
    let faults_top = nodes_top + nodes * LANE + 10.0;
    // Fault rows: one per fault kind family, so overlapping bands stay readable.
    let ops_top = faults_top + 40.0;
    let ops_height = 130.0;
    let markers_top = ops_top + ops_height + 14.0;
    let height = markers_top + 20.0 + 16.0 * view.markers.len() as f64 + 24.0;
    let width = PLOT_LEFT + PLOT_WIDTH + 20.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class='timeline' id='{id}' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height:.0}' \
         data-left='{PLOT_LEFT}' data-width='{PLOT_WIDTH}' data-end='{:.9}' font-family='sans-serif' font-size='11'>",
        secs(end)
    );
    let _ = write!(
        svg,
        "<defs><clipPath id='{id}-clip'><rect x='{PLOT_LEFT}' y='0' width='{PLOT_WIDTH}' height='{height:.0}'/></clipPath></defs>"
    );
    // Lane labels.
    for n in 1..=view.nodes {
        let y = nodes_top + (n - 1) as f64 * LANE;
        let _ = write!(
            svg,
            "<text class='node-label' data-node='{n}' x='6' y='{:.1}'>node n{n}</text>",
            y + 14.0
        );
    }
    let _ = write!(
        svg,
        "<text x='6' y='{:.1}'>faults</text>",
        faults_top + 14.0
    );
    let _ = write!(
        svg,
        "<text x='6' y='{:.1}'>client ops</text><text x='6' y='{:.1}' fill='#666'>latency (log)</text>",
        ops_top + 14.0,
        ops_top + 28.0
    );
    let _ = write!(
        svg,
        "<g class='axis' data-top='{:.1}' data-bottom='{:.1}'></g>",
        18.0, markers_top
    );
    let _ = write!(svg, "<g clip-path='url(#{id}-clip)'>");
    // Roles.
    for s in &view.segments {
        let y = nodes_top + (s.node - 1) as f64 * LANE + 2.0;
        let title = if s.role == "down" {
            format!(
                "n{} down (crashed) {:.3}s–{:.3}s",
                s.node,
                secs(s.from_ns),
                secs(s.to_ns)
            )
        } else {
            format!(
                "n{} {} term {} {:.3}s–{:.3}s",
                s.node,
                s.role,
                s.term,
                secs(s.from_ns),
                secs(s.to_ns)
            )
        };
        timed_rect(
            &mut svg,
            &x,
            (s.from_ns, s.to_ns),
            (y, LANE - 8.0),
            &format!(
                "fill='{}' data-node='{}' data-role='{}' data-term='{}'",
                role_colour(&s.role),
                s.node,
                escape(&s.role),
                s.term
            ),
            "role",
            &title,
        );
    }
    // Leader terms written on the leader segments (visible when wide enough after zoom).
    for s in view
        .segments
        .iter()
        .filter(|s| s.role == "leader" || s.role == "leading")
    {
        let y = nodes_top + (s.node - 1) as f64 * LANE + 13.0;
        let _ = write!(
            svg,
            "<text class='t lbl' data-t0='{:.9}' data-t1='{:.9}' x='{:.2}' y='{y:.1}' font-size='9'>T{}</text>",
            secs(s.from_ns),
            secs(s.to_ns),
            x(s.from_ns) + 2.0,
            s.term
        );
    }
    // Commits per node: a tick per bin whose height is the bin's count.
    let max_bin = view
        .commit_bins
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    for (node, bins) in &view.commit_bins {
        let base = nodes_top + *node as f64 * LANE - 4.0;
        for (i, &count) in bins.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let from = (i as u128 * view.end_ns as u128 / view.bins as u128) as u64;
            let to = ((i + 1) as u128 * view.end_ns as u128 / view.bins as u128) as u64;
            let h = 2.0 + 6.0 * count as f64 / max_bin as f64;
            timed_rect(
                &mut svg,
                &x,
                (from, to),
                (base - h, h),
                &format!("fill='#1f4e79' data-node='{node}'"),
                "commit",
                &format!(
                    "n{node}: {count} commits {:.3}s–{:.3}s",
                    secs(from),
                    secs(to)
                ),
            );
        }
    }
    // Faults: a band over the nodes it acts on, and a mark in the fault row.
    for (i, b) in view.bands.iter().enumerate() {
        let colour = band_colour(b.kind);
        let data = format!(
            "data-fault='{}' data-nodes='{}'",
            escape(b.kind),
            b.nodes
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        if b.to_ns > b.from_ns {
            for n in b.nodes.iter().filter(|n| (1..=view.nodes).contains(*n)) {
                let y = nodes_top + (n - 1) as f64 * LANE;
                // A partition's sides in different hues, so the groups show at a glance.
                let side = b.sides.iter().find(|(m, _)| m == n).map(|(_, k)| *k);
                let (fill, title) = match side {
                    Some(k) => (
                        SIDE_COLOURS[k % SIDE_COLOURS.len()],
                        format!("{} · n{n} on side {}", b.label, k + 1),
                    ),
                    None => (colour, b.label.clone()),
                };
                timed_rect(
                    &mut svg,
                    &x,
                    (b.from_ns, b.to_ns),
                    (y, LANE),
                    &format!("fill='{fill}' {data}"),
                    "band",
                    &title,
                );
            }
        }
        let row = (i % 3) as f64;
        timed_rect(
            &mut svg,
            &x,
            (b.from_ns, b.to_ns.max(b.from_ns)),
            (faults_top + row * 9.0, 8.0),
            &format!(
                "fill='{}' stroke='#333' stroke-width='0.5' {data}",
                colour.replace("0.1", "0.6").replace("0.2", "0.7")
            ),
            "fault",
            &b.label,
        );
    }
    // Client operations: latency on a log scale from 0.1 ms to the slowest.
    let slowest = view
        .dots
        .iter()
        .map(|d| d.end_ns.saturating_sub(d.invoke_ns))
        .max()
        .unwrap_or(1)
        .max(1_000_000);
    let (lo, hi) = (1e5f64.ln(), (slowest as f64).ln());
    let y_of = |lat: u64| {
        let v = (lat.max(100_000) as f64).ln();
        ops_top + ops_height - (v - lo) / (hi - lo).max(1e-9) * (ops_height - 6.0) - 3.0
    };
    for d in &view.dots {
        let lat = d.end_ns.saturating_sub(d.invoke_ns);
        let r = if d.result == "violation" {
            5.0
        } else if d.result == "ok" {
            1.6
        } else {
            2.4
        };
        let _ = write!(
            svg,
            "<circle class='t op {}' data-t0='{:.9}' data-t1='{:.9}' cx='{:.2}' cy='{:.1}' r='{r}' fill='{}'><title>{} · latency {:.3}ms</title></circle>",
            d.result,
            secs(d.end_ns),
            secs(d.end_ns),
            x(d.end_ns),
            y_of(lat),
            dot_colour(d.result),
            escape(&d.label),
            lat as f64 / 1e6
        );
    }
    // Checker findings: a red band through every lane, and a numbered flag.
    for (i, m) in view.markers.iter().enumerate() {
        let _ = write!(
            svg,
            "<rect class='t violation' data-checker='{}' data-t0='{:.9}' data-t1='{:.9}' x='{:.2}' y='{nodes_top}' width='{:.2}' height='{:.1}' fill='rgba(230,0,0,0.25)' stroke='#e00000' stroke-width='1.5'><title>{}</title></rect>",
            escape(&m.checker),
            secs(m.from_ns),
            secs(m.to_ns),
            x(m.from_ns),
            (x(m.to_ns) - x(m.from_ns)).max(2.0),
            markers_top - nodes_top,
            escape(&format!("{}: {}", m.checker, m.text))
        );
        let _ = write!(
            svg,
            "<text class='t flag' data-t0='{:.9}' data-t1='{:.9}' x='{:.2}' y='{:.1}' fill='#c00000' font-weight='bold'>{}</text>",
            secs(m.from_ns),
            secs(m.to_ns),
            x(m.from_ns) + 2.0,
            nodes_top - 2.0,
            i + 1
        );
    }
    svg.push_str("</g>");
    for (i, m) in view.markers.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x='6' y='{:.1}' fill='#c00000'>{} {} at {:.3}s: {}</text>",
            markers_top + 32.0 + 16.0 * i as f64,
            i + 1,
            escape(&m.checker),
            secs(m.from_ns),
            escape(
                &m.text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(170)
                    .collect::<String>()
            )
        );
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222}\
h1{font-size:20px}h2{font-size:16px;margin-top:24px}\
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;font-size:12px}\
code{background:#f0f0f0;padding:1px 4px}\
.controls button{margin-right:6px}\
.key span{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;border:1px solid #777}\
.pass{color:#2a7a2a}.fail{color:#c00000;font-weight:bold}.unknown{color:#8a6d00}\
table.v td{padding:2px 8px;vertical-align:top;font-size:13px}\
#script-errors:empty{display:none}\
svg.timeline{display:block;margin:6px 0 18px;border:1px solid #ddd;background:#fff;cursor:grab}\
pre.table{white-space:pre;overflow-x:auto}\
.note{color:#555;font-size:13px}\
.k span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;border:1px solid}";

/// Pan and zoom on the time axis: every timeline on the page shares one view. Wheel
/// zooms around the pointer, dragging pans, the buttons zoom and reset. Errors go to the
/// page (`#script-errors`), where a headless browser test reads them.
const SCRIPT: &str = r#"
(function(){
var errs=document.getElementById('script-errors');
window.onerror=function(m){if(errs){errs.textContent+=String(m)+'\n';errs.setAttribute('data-errors','1');}};
var svgs=Array.prototype.slice.call(document.querySelectorAll('svg.timeline'));
if(!svgs.length)return;
var L=+svgs[0].getAttribute('data-left'),W=+svgs[0].getAttribute('data-width'),E=+svgs[0].getAttribute('data-end');
var v0=0,v1=E,NS='http://www.w3.org/2000/svg';
function X(t){return L+(t-v0)/(v1-v0)*W;}
function step(span){var s=Math.pow(10,Math.floor(Math.log(span/8)/Math.LN10));
 if(span/s>40)s*=5;else if(span/s>16)s*=2;return s;}
function axis(svg){var g=svg.querySelector('g.axis');if(!g)return;
 while(g.firstChild)g.removeChild(g.firstChild);
 var top=+g.getAttribute('data-top'),bottom=+g.getAttribute('data-bottom');
 var s=step(v1-v0),d=Math.max(0,-Math.floor(Math.log(s)/Math.LN10));
 for(var t=Math.ceil(v0/s)*s;t<=v1+1e-12;t+=s){var x=X(t);
  var l=document.createElementNS(NS,'line');l.setAttribute('x1',x);l.setAttribute('x2',x);
  l.setAttribute('y1',top);l.setAttribute('y2',bottom);l.setAttribute('stroke','#eee');g.appendChild(l);
  var tx=document.createElementNS(NS,'text');tx.setAttribute('x',x);tx.setAttribute('y',top-4);
  tx.setAttribute('text-anchor','middle');tx.setAttribute('fill','#555');tx.textContent=t.toFixed(d)+'s';g.appendChild(tx);}}
function draw(){svgs.forEach(function(svg){
 var els=svg.querySelectorAll('.t');
 for(var i=0;i<els.length;i++){var e=els[i],t0=+e.getAttribute('data-t0'),t1=+e.getAttribute('data-t1');
  var a=X(t0),b=X(t1);
  if(e.tagName==='circle'){e.setAttribute('cx',a);}
  else if(e.tagName==='text'){e.setAttribute('x',a+2);e.style.display=(b-a>18||e.getAttribute('class').indexOf('flag')>=0)?'':'none';}
  else{e.setAttribute('x',a);e.setAttribute('width',Math.max(e.classList.contains('violation')?2:1,b-a));}}
 axis(svg);});
 var r=document.getElementById('view');if(r)r.textContent=v0.toFixed(3)+'s – '+v1.toFixed(3)+'s';}
function zoom(f,at){var c=at===undefined?(v0+v1)/2:at;var span=Math.min(E,Math.max(1e-6,(v1-v0)*f));
 v0=c-(c-v0)*span/(v1-v0);v1=v0+span;if(v0<0){v1-=v0;v0=0;}if(v1>E){v0-=v1-E;v1=E;}if(v0<0)v0=0;draw();}
function pan(dt){var span=v1-v0;v0=Math.min(Math.max(0,v0+dt),E-span);v1=v0+span;draw();}
window.timelineView=function(){return [v0,v1];};
window.timelineZoom=zoom;window.timelinePan=pan;
svgs.forEach(function(svg){
 svg.addEventListener('wheel',function(ev){ev.preventDefault();var r=svg.getBoundingClientRect();
  var t=v0+(ev.clientX-r.left-L)/W*(v1-v0);zoom(ev.deltaY<0?0.8:1.25,t);},{passive:false});
 var drag=null;
 svg.addEventListener('mousedown',function(ev){drag=ev.clientX;});
 window.addEventListener('mouseup',function(){drag=null;});
 window.addEventListener('mousemove',function(ev){if(drag===null)return;pan(-(ev.clientX-drag)/W*(v1-v0));drag=ev.clientX;});});
var b=function(id,fn){var e=document.getElementById(id);if(e)e.addEventListener('click',fn);};
b('zoom-in',function(){zoom(0.5);});b('zoom-out',function(){zoom(2);});
b('pan-left',function(){pan(-(v1-v0)/4);});b('pan-right',function(){pan((v1-v0)/4);});
b('reset',function(){v0=0;v1=E;draw();});
var vs=document.querySelectorAll('[data-goto]');
for(var i=0;i<vs.length;i++){vs[i].addEventListener('click',function(ev){ev.preventDefault();
 var a=+this.getAttribute('data-goto'),z=+this.getAttribute('data-goto-end');var pad=Math.max(0.05,(z-a)*2);
 v0=Math.max(0,a-pad);v1=Math.min(E,z+pad);draw();});}
draw();
document.body.setAttribute('data-rendered','1');
})();
"#;

fn controls() -> &'static str {
    "<p class='controls'><button id='zoom-in'>zoom in</button><button id='zoom-out'>zoom out</button>\
     <button id='pan-left'>◀</button><button id='pan-right'>▶</button><button id='reset'>whole run</button>\
     <span class='note'>view <span id='view'></span> · wheel to zoom at the pointer, drag to pan</span></p>"
}

fn key() -> String {
    let mut k = String::from("<p class='key note'>Roles:");
    for (name, role) in [
        ("follower", "follower"),
        ("candidate", "candidate"),
        ("leader (T = term)", "leader"),
        ("down", "down"),
    ] {
        let _ = write!(
            k,
            "<span style='background:{}'></span>{name}",
            role_colour(role)
        );
    }
    k.push_str(" · commits: dark ticks under each lane (height: count per bin) · faults:");
    k.push_str(" partition sides");
    for c in &SIDE_COLOURS[..2] {
        let _ = write!(k, "<span style='background:{c}'></span>");
    }
    for (name, kind) in [
        ("isolate", "partition"),
        ("crash", "crash"),
        ("pause", "pause"),
        ("clock", "clock_step"),
        ("loss/clog", "loss"),
    ] {
        let _ = write!(
            k,
            "<span style='background:{}'></span>{name}",
            band_colour(kind)
        );
    }
    k.push_str(" · operations:");
    for (name, r) in [
        ("ok", "ok"),
        ("failed", "failed"),
        ("indeterminate", "indeterminate"),
        ("the violating one", "violation"),
    ] {
        let _ = write!(
            k,
            "<span style='background:{};border-radius:6px'></span>{name}",
            dot_colour(r)
        );
    }
    k.push_str(" · violation: red band across the lanes, numbered</p>");
    k
}

fn downsample_note(view: &RunView) -> String {
    let mut parts = Vec::new();
    if view.ops_thinned > 0 {
        parts.push(format!(
            "{} of {} operations drawn: successful ones thinned evenly (every failed, indeterminate and violating one is drawn)",
            view.ops_total - view.ops_thinned,
            view.ops_total
        ));
    } else {
        parts.push(format!("all {} operations drawn", view.ops_total));
    }
    parts.push(format!(
        "{} commit reports drawn as counts in {} time bins per node",
        view.commits_total, view.bins
    ));
    format!(
        "<p class='note downsample'>Downsampled: {}.</p>",
        parts.join("; ")
    )
}

fn verdict_table(view: &RunView) -> String {
    let mut t = String::from("<table class='v'>");
    for (name, result, detail) in &view.verdicts {
        let first = detail.lines().next().unwrap_or("");
        let _ = write!(
            t,
            "<tr><td class='{result}'>{result}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(first)
        );
    }
    t.push_str("</table>");
    t
}

fn findings(view: &RunView, replay: &str) -> String {
    if view.markers.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h2>Violations</h2><ol class='violations'>");
    for m in &view.markers {
        let _ = write!(
            s,
            "<li class='violation-item' data-checker='{}'><b>{}</b> at {:.3}s – {:.3}s \
             (<a href='#' data-goto='{:.9}' data-goto-end='{:.9}'>show on the timeline</a>)<pre>{}</pre></li>",
            escape(&m.checker),
            escape(&m.checker),
            secs(m.from_ns),
            secs(m.to_ns),
            secs(m.from_ns),
            secs(m.to_ns),
            escape(&m.text)
        );
    }
    let _ = write!(
        s,
        "</ol><p>Replay with: <code class='replay'>{}</code></p>",
        escape(replay)
    );
    if let Some(fig) = &view.violation_figure {
        let _ = write!(
            s,
            "<h2>The linearizability violation, as the checker draws it</h2>{fig}"
        );
    }
    s
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{}</title><style>{STYLE}</style></head><body>\
         <pre id='script-errors' data-errors='0' style='color:#c00000'></pre>{body}<script>{SCRIPT}</script></body></html>\n",
        escape(title)
    )
}

/// The page for one run (`sim run --html`, `sim replay --html`).
pub fn run_page(view: &RunView, replay: &str, description: &str) -> String {
    let title = format!(
        "{} · {} · read mode {} · seed {}",
        view.scenario, view.protocol, view.read_mode, view.seed
    );
    let failed = view.verdicts.iter().filter(|(_, r, _)| r == "fail").count();
    let mut body = format!(
        "<h1>{}</h1><p class='note'>{}</p>",
        escape(&title),
        escape(description.trim())
    );
    let _ = write!(
        body,
        "<p>{} nodes · {:.3}s simulated · {} checkers failed · replay: <code>{}</code></p>",
        view.nodes,
        secs(view.end_ns),
        failed,
        escape(replay)
    );
    body.push_str(controls());
    body.push_str(&timeline_svg(view, view.end_ns, "run"));
    body.push_str(&key());
    body.push_str(&downsample_note(view));
    body.push_str(&findings(view, replay));
    body.push_str("<h2>Checkers</h2>");
    body.push_str(&verdict_table(view));
    let _ = write!(body, "<h2>Faults</h2><ul class='faults'>");
    for b in &view.bands {
        let _ = write!(
            body,
            "<li data-fault='{}'>{}</li>",
            escape(b.kind),
            escape(&b.label)
        );
    }
    body.push_str("</ul>");
    page(&title, &body)
}

/// One row of a comparison page: a run and how to replay it.
pub struct Lane {
    pub title: String,
    pub replay: String,
    pub run: RunView,
}

/// The comparison page (`sim compare --html`): the table, then one timeline per row, all
/// on one time axis.
pub fn compare_page(title: &str, table: &str, note: &str, lanes: &[Lane]) -> String {
    let axis_end = lanes.iter().map(|l| l.run.end_ns).max().unwrap_or(1);
    let mut body = format!(
        "<h1>{}</h1><pre class='table'>{}</pre>",
        escape(title),
        escape(table)
    );
    body.push_str("<h2>One seed per row, on a shared time axis</h2>");
    let _ = write!(body, "<p class='note'>{}</p>", escape(note));
    body.push_str(controls());
    body.push_str(&key());
    for (i, lane) in lanes.iter().enumerate() {
        let failed: Vec<&str> = lane
            .run
            .verdicts
            .iter()
            .filter(|(_, r, _)| r == "fail")
            .map(|(n, _, _)| n.as_str())
            .collect();
        let _ = write!(
            body,
            "<h3 class='lane'>{} <span class='{}'>{}</span></h3><p class='note'>replay: <code>{}</code></p>",
            escape(&lane.title),
            if failed.is_empty() { "pass" } else { "fail" },
            if failed.is_empty() { "every checker passed or could not decide".to_string() } else { format!("failed: {}", failed.join(", ")) },
            escape(&lane.replay)
        );
        body.push_str(&timeline_svg(&lane.run, axis_end, &format!("lane{i}")));
        body.push_str(&downsample_note(&lane.run));
    }
    page(title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_read_from_a_checkers_sentence() {
        assert_eq!(
            time_in("n2 became leader of term 3 at 5.262s while n3's lease"),
            Some(5_262_000_000)
        );
        assert_eq!(time_in("at most 3 of its 5 operations"), None);
        assert_eq!(time_in("no time here"), None);
    }
}
