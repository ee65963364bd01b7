//! The HTML pages of `sim run --html`, `sim replay --html` and `sim compare --html`: every
//! node and fault of the run is on the page, a checker's violation is marked where it
//! happened with the checker's own explanation and the replay command, nothing is loaded
//! from anywhere, large runs say what they thinned out, and (where chromium is installed)
//! the page's script runs in a real browser without an error and pans and zooms.

mod common;

use common::{root, sim, temp_dir, text};
use std::path::Path;
use std::process::Command;

fn run_page(scenario: &str, extra: &[&str], dir: &Path) -> (String, String) {
    let page = dir.join("page.html");
    let page_arg = page.display().to_string();
    let traces = dir.join("traces").display().to_string();
    let mut args = vec![
        "run",
        scenario,
        "--html",
        &page_arg,
        "--traces-dir",
        &traces,
    ];
    args.extend_from_slice(extra);
    let out = sim(&args, &root());
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{args:?}: {}",
        text(&out.stderr)
    );
    (
        std::fs::read_to_string(&page).expect("the page is written"),
        text(&out.stdout),
    )
}

/// Nothing on the page comes from the network: no scripts, styles, fonts or images by
/// address (the SVG namespace is a name, not a fetch).
fn assert_self_contained(html: &str) {
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    for bad in [
        "http://", "https://", "<link", " src=", "@import", "url(http",
    ] {
        assert!(!without_ns.contains(bad), "the page loads something: {bad}");
    }
    assert!(html.contains("<script>") && html.contains("<style>"));
}

#[test]
fn the_clock_skew_lease_page_shows_every_node_and_fault_and_marks_the_stale_read() {
    let dir = temp_dir("html-skew");
    let (html, summary) = run_page("scenarios/clock_skew_lease.toml", &[], &dir);
    assert_self_contained(&html);
    for n in 1..=5 {
        assert!(html.contains(&format!(">node n{n}<")), "lane of n{n}");
        assert!(
            html.contains(&format!("data-node='{n}' data-role=")),
            "roles of n{n}"
        );
    }
    // The leader of term 1 and the one elected after the cut are drawn as leaders.
    assert!(html.contains("data-role='leader' data-term='1'"));
    assert!(html.contains("data-role='leader' data-term='3'"));
    for fault in ["clock_step", "isolate", "heal"] {
        assert!(html.contains(&format!("data-fault='{fault}'")), "{fault}");
    }
    assert!(html.contains("clock_step n3 by -2.000s at 5.000s"));
    // The violation: marked at the operation the checker could not place, with the
    // checker's own explanation and drawing, and the command that replays the run.
    let called_ns: u64 = summary
        .split("cannot take effect")
        .next()
        .and_then(|s| s.rsplit("(called ").next())
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("the summary names the operation that cannot be placed");
    let marker = format!(
        "class='t violation' data-checker='linearizability' data-t0='{:.9}'",
        called_ns as f64 / 1e9
    );
    assert!(html.contains(&marker), "no {marker}");
    for checker in ["split_brain", "lease_exclusivity"] {
        assert!(
            html.contains(&format!("class='t violation' data-checker='{checker}'")),
            "{checker}"
        );
    }
    assert!(
        html.contains("cannot take effect"),
        "the checker's explanation"
    );
    assert!(
        html.contains("the longest linearizable prefix"),
        "the checker's drawing"
    );
    assert!(html.contains(
        "<code class='replay'>sim run scenarios/clock_skew_lease.toml --seed 1 --protocol raft --read-mode lease</code>"
    ));
    // 5529 successful operations: thinned, and said so; the violating one is still drawn.
    assert!(html.contains("Downsampled:") && html.contains("successful ones thinned"));
    let dots = html.matches("<circle class='t op ok'").count();
    assert!(dots <= 3000 && dots > 1000, "{dots} ok dots");
    assert_eq!(html.matches("<circle class='t op violation'").count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_passing_run_marks_no_violation_and_draws_every_fault() {
    let dir = temp_dir("html-pass");
    let (html, _) = run_page("scenarios/partition_3_3.toml", &["--seed", "2"], &dir);
    assert_self_contained(&html);
    assert!(!html.contains("class='t violation'"));
    assert!(!html.contains("<h2>Violations</h2>"));
    for n in 1..=6 {
        assert!(html.contains(&format!(">node n{n}<")), "n{n}");
    }
    assert!(html.contains("data-fault='partition' data-nodes='1,2,3,4,5,6'"));
    assert!(html.contains("partition [[1, 2, 3], [4, 5, 6]] at 5.000s"));
    // Each node's band says which side of the split it is on.
    for (n, side) in [(1, 1), (3, 1), (4, 2), (6, 2)] {
        assert!(
            html.contains(&format!("at 5.000s · n{n} on side {side}<")),
            "n{n} side {side}"
        );
    }
    assert!(html.contains("data-fault='heal'"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_writes_the_same_page_as_the_run_and_refuses_to_overwrite_its_trace() {
    let dir = temp_dir("html-replay");
    let trace = dir.join("run.json").display().to_string();
    let (from_run, _) = run_page("scenarios/leader_crash.toml", &["--trace", &trace], &dir);
    let page = dir.join("replayed.html").display().to_string();
    let out = sim(&["replay", &trace, "--html", &page], &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replayed = std::fs::read_to_string(&page).unwrap();
    // The same run drawn: identical but for the replay line.
    let strip = |h: &str| {
        h.lines()
            .map(|l| l.split("sim r").next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&from_run).len(), strip(&replayed).len());
    assert!(replayed.contains(&format!("sim replay {trace}")));
    assert_eq!(
        from_run.matches("class='t role'").count(),
        replayed.matches("class='t role'").count()
    );
    let before = std::fs::read(&trace).unwrap();
    let out = sim(&["replay", &trace, "--html", &trace], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--html"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&trace).unwrap(),
        before,
        "the trace was overwritten"
    );
    // Nor any other file that is not a page: a trace saved under another name.
    let copy = dir.join("copy.json");
    std::fs::copy(&trace, &copy).unwrap();
    let copy = copy.display().to_string();
    let out = sim(&["replay", &trace, "--html", &copy], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not an HTML page"));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    // A page written before is replaced.
    let out = sim(&["replay", &trace, "--html", &page], &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Nor the scenario or the trace of a run.
    let out = sim(
        &[
            "run",
            "scenarios/leader_crash.toml",
            "--trace",
            &trace,
            "--html",
            &trace,
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_compare_page_has_the_table_and_a_timeline_per_row_on_one_axis() {
    let dir = temp_dir("html-compare");
    let page = dir.join("cmp.html").display().to_string();
    let out = sim(
        &[
            "compare",
            "scenarios/clock_skew_lease.toml",
            "--seeds",
            "0..2",
            "--read-modes",
            "read_index,lease,sync_quorum",
            "--html",
            &page,
        ],
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("lin p/f/u"), "the table");
    // raft read_index, raft lease, zab sync_quorum, paxos lease: a lane each.
    assert_eq!(html.matches("<h3 class='lane'>").count(), 4);
    assert_eq!(html.matches("<svg class='timeline'").count(), 4);
    // One axis: every timeline ends where the longest run ends.
    let ends: Vec<&str> = html
        .split("data-end='")
        .skip(1)
        .map(|s| s.split('\'').next().unwrap())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{ends:?}");
    // Only the lease rows' chosen seeds carry a linearizability violation.
    assert_eq!(
        html.matches("data-checker='linearizability' data-t0")
            .count(),
        2,
        "raft lease and paxos lease"
    );
    assert!(html.contains("raft lease · seed 0"));
    // Four timelines, one script: it runs in a browser, where there is one.
    if let Some(browser) = chromium() {
        let dom = dump_dom(&browser, Path::new(&page));
        assert!(
            dom.contains("data-rendered=\"1\""),
            "the script did not finish"
        );
        assert!(
            dom.contains("id=\"script-errors\" data-errors=\"0\""),
            "a script error"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Chromium, if installed (the page must also work in a real browser).
fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

fn dump_dom(browser: &str, page: &Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    text(&out.stdout)
}

#[test]
fn the_page_runs_in_headless_chromium_without_a_script_error_and_zooms() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no chromium installed (apt-get install chromium) to open the page in");
        return;
    };
    let dir = temp_dir("html-chromium");
    let (html, _) = run_page("scenarios/clock_skew_lease.toml", &[], &dir);
    let page = dir.join("page.html");
    let dom = dump_dom(&browser, &page);
    assert!(
        dom.contains("data-rendered=\"1\""),
        "the script did not finish: {}",
        &dom[..dom.len().min(2000)]
    );
    assert!(
        dom.contains("id=\"script-errors\" data-errors=\"0\""),
        "a script error: {}",
        dom.split("script-errors")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(500)
            .collect::<String>()
    );
    // The script drew the axis in seconds.
    assert!(
        dom.contains(">5s<") || dom.contains(">5.0s<"),
        "no axis labels"
    );
    // Zoom into the violation through the page's own functions, as a click would, and
    // check that the view and the drawing moved; a broken zoom shows as an error or an
    // unchanged view.
    let probe = html.replace(
        "</body></html>",
        "<script>try{window.timelineZoom(0.01,5.37);var v=window.timelineView();\
         var r=document.querySelector(\"rect.violation[data-checker='linearizability']\");\
         document.body.setAttribute('data-probe',v[0].toFixed(3)+'-'+v[1].toFixed(3)+'|'+r.getAttribute('width'));}\
         catch(e){document.body.setAttribute('data-probe','error '+e);}\
         try{document.querySelector('li.violation-item a[data-goto]').click();var w=window.timelineView();\
         document.body.setAttribute('data-goto-probe',w[0].toFixed(4)+'-'+w[1].toFixed(4));}\
         catch(e){document.body.setAttribute('data-goto-probe','error '+e);}</script></body></html>",
    );
    let probe_page = dir.join("probe.html");
    std::fs::write(&probe_page, probe).unwrap();
    let dom = dump_dom(&browser, &probe_page);
    let probe = dom
        .split("data-probe=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the probe ran");
    let (view, width) = probe.split_once('|').expect(probe);
    let (v0, v1) = view.split_once('-').unwrap();
    let (v0, v1): (f64, f64) = (v0.parse().unwrap(), v1.parse().unwrap());
    assert!(v0 < 5.37 && v1 > 5.37 && v1 - v0 < 0.2, "view {view}");
    let width: f64 = width.parse().unwrap();
    assert!(
        width > 10.0,
        "the violation did not widen when zoomed: {width}"
    );
    assert!(
        dom.contains("data-errors=\"0\""),
        "a script error while zooming"
    );
    // "show on the timeline" brings the first violation (linearizability) into view.
    let goto = dom
        .split("data-goto-probe=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the link probe ran");
    let (g0, g1) = goto.split_once('-').expect(goto);
    let (g0, g1): (f64, f64) = (g0.parse().unwrap(), g1.parse().unwrap());
    assert!(g0 <= 5.3706 && g1 >= 5.3724 && g1 - g0 < 1.0, "view {goto}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_matrix_page_draws_a_timeline_only_for_the_rows_that_served_a_stale_read() {
    let dir = temp_dir("html-matrix");
    let page = dir.join("matrix.html").display().to_string();
    let out = sim(
        &[
            "compare",
            "--matrix",
            "scenarios/compare",
            "--seeds",
            "0..1",
            "--protocols",
            "raft",
            "--read-modes",
            "read_index,lease",
            "--html",
            &page,
        ],
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    // 8 scenarios × 2 modes; only lease reads after the clock step back and under drift
    // beyond the lease's bound read stale.
    assert!(html.contains("Timelines of the 2 rows (of 16) whose linearizability failed"));
    assert_eq!(html.matches("<h3 class='lane'>").count(), 2);
    assert!(html.contains("clock_step_back · raft lease · seed 0"));
    assert!(html.contains("drift_beyond_bound · raft lease · seed 0"));
    assert_eq!(
        html.matches("data-checker='linearizability' data-t0")
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drawing_the_page_does_not_change_the_run() {
    let dir = temp_dir("html-hash");
    let hash = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("trace hash "))
            .map(str::to_string)
            .expect("a trace hash")
    };
    let (_, with_page) = run_page("scenarios/partition_3_3.toml", &[], &dir);
    let plain = sim(&["run", "scenarios/partition_3_3.toml"], &root());
    assert_eq!(hash(&with_page), hash(&text(&plain.stdout)));
    assert_eq!(hash(&with_page), "08521d74ae33f0f7", "the README's run");
    let _ = std::fs::remove_dir_all(&dir);
}
