//! A self-contained HTML page (no server, no network, no scripts) that draws a violation:
//! each process's operations as bars on a time axis, the longest linearizable prefix in
//! green with its order numbered, the operation that cannot be placed in red, the rest in
//! grey, and indeterminate operations as open-ended dashed bars.

use crate::linearizability::Violation;
use std::fmt::Write as _;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Operations drawn at most; a long history is drawn around the failing operation.
const MAX_DRAWN: usize = 400;

pub fn violation_page(title: &str, v: &Violation) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:20px}}pre{{background:#f6f6f6;padding:10px;white-space:pre-wrap}}\
         .k span{{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;border:1px solid}}</style></head><body>\
         <h1>{t}</h1>{figure}</body></html>\n",
        t = escape(title),
        figure = violation_figure(v),
    )
}

/// The drawing and the explanation of a violation, without a page around them (for pages
/// that show a violation among other things, such as `sim run --html`). Its legend uses
/// the class `k`, which the page styles.
pub fn violation_figure(v: &Violation) -> String {
    let stuck = &v.stuck;
    let end_of = |o: &crate::history::Operation| o.ret.unwrap_or(u64::MAX);
    // The window: the ops nearest in time to the failing one.
    let mut ops: Vec<&crate::history::Operation> = v.ops.iter().collect();
    ops.sort_by_key(|o| (o.call.abs_diff(stuck.call), o.process));
    ops.truncate(MAX_DRAWN);
    let t0 = ops.iter().map(|o| o.call).min().unwrap_or(0);
    let t1 = ops
        .iter()
        .map(|o| end_of(o).min(o.call.max(stuck.call) + 1))
        .max()
        .unwrap_or(1)
        .max(t0 + 1);
    let t1 = ops.iter().filter_map(|o| o.ret).max().unwrap_or(t1).max(t1);
    let mut processes: Vec<u64> = ops.iter().map(|o| o.process).collect();
    processes.sort();
    processes.dedup();
    let (width, lane, left) = (1200.0, 28.0, 110.0);
    let x =
        |t: u64| left + (t.saturating_sub(t0)) as f64 / (t1 - t0) as f64 * (width - left - 20.0);
    let order: std::collections::HashMap<(u64, u64), usize> = v
        .prefix
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.process, o.call), i + 1))
        .collect();
    let height = 60.0 + lane * processes.len() as f64;
    let mut svg = String::new();
    let _ = write!(svg, "<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='monospace' font-size='11'>");
    for (row, p) in processes.iter().enumerate() {
        let y = 40.0 + lane * row as f64;
        let _ = write!(svg, "<text x='4' y='{}'>process {p}</text>", y + 14.0);
        let _ = write!(
            svg,
            "<line x1='{left}' x2='{}' y1='{}' y2='{}' stroke='#eee'/>",
            width - 20.0,
            y + 24.0,
            y + 24.0
        );
    }
    for o in &ops {
        let row = processes.binary_search(&o.process).unwrap_or(0);
        let y = 40.0 + lane * row as f64 + 4.0;
        let (x0, x1) = (x(o.call), o.ret.map_or(width - 20.0, x));
        let is_stuck = o.process == stuck.process && o.call == stuck.call;
        let rank = order.get(&(o.process, o.call));
        let (fill, stroke) = if is_stuck {
            ("#f8c0c0", "#c00000")
        } else if rank.is_some() {
            ("#c8ecc8", "#2a7a2a")
        } else {
            ("#e4e4e4", "#888888")
        };
        let dash = if o.ret.is_none() {
            " stroke-dasharray='4 3'"
        } else {
            ""
        };
        let label = match rank {
            Some(r) => format!("#{r} {o}"),
            None => o.to_string(),
        };
        let _ = write!(
            svg,
            "<g><title>{}</title><rect x='{x0:.1}' y='{y:.1}' width='{:.1}' height='18' rx='3' fill='{fill}' stroke='{stroke}' stroke-width='{}'{dash}/>",
            escape(&format!("{label} [called {}, returned {}]", o.call, o.ret.map_or("never".into(), |r| r.to_string()))),
            (x1 - x0).max(2.0),
            if is_stuck { 2 } else { 1 }
        );
        if x1 - x0 > 60.0 {
            let _ = write!(
                svg,
                "<text x='{:.1}' y='{:.1}' clip-path='none'>{}</text>",
                x0 + 3.0,
                y + 13.0,
                escape(
                    &label
                        .chars()
                        .take(((x1 - x0) / 7.0) as usize)
                        .collect::<String>()
                )
            );
        }
        svg.push_str("</g>");
    }
    let _ = write!(svg, "<text x='{left}' y='20'>time {t0}</text><text x='{}' y='20' text-anchor='end'>{t1}</text></svg>", width - 20.0);
    format!(
        "<p class='k'>Legend:<span style='background:#c8ecc8;border-color:#2a7a2a'></span>the longest linearizable prefix, numbered in its order\
         <span style='background:#f8c0c0;border-color:#c00000'></span>the operation that cannot be placed\
         <span style='background:#e4e4e4;border-color:#888'></span>other operations (dashed: indeterminate, open-ended).\
         Hover a bar for its details. {shown} of {total} operations on this key are drawn, those nearest the failing one.</p>\
         {svg}<h2>Explanation</h2><pre>{explanation}</pre>",
        shown = ops.len(),
        total = v.ops.len(),
        explanation = escape(&v.to_string()),
    )
}
