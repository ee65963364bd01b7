//! `sim check FILE...`: linearizability of histories from anywhere (the native JSON, a
//! `sim` trace, Jepsen EDN or Jepsen logs). Folders are walked; each file gets a verdict.
//! Exit 0 all linearizable, 1 one is not, 2 bad input (with its line), 3 one is unknown.

use checker::formats::{self, Format};
use checker::linearizability::{check, Budget, Model, Outcome};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files or folders of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// auto, json, edn or jepsen-log.
    #[arg(long, default_value = "auto")]
    format: String,
    /// auto (register for Jepsen logs, kv otherwise), register or kv.
    #[arg(long, default_value = "auto")]
    model: String,
    /// Give up on a history after this long: its verdict is then unknown.
    #[arg(long, default_value = "10s", value_parser = simulator::duration::parse_duration)]
    budget: Duration,
    /// Write a page drawing the first violation found.
    #[arg(long)]
    html: Option<PathBuf>,
    /// One JSON object per file on stdout (JSON Lines).
    #[arg(long)]
    json: bool,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let history_like = entry.is_dir()
                || [".log", ".txt", ".edn", ".json"]
                    .iter()
                    .any(|ext| name.ends_with(ext));
            if history_like && !name.starts_with('.') && !name.eq_ignore_ascii_case("README.md") {
                collect(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

pub fn run(args: &CheckArgs) -> u8 {
    let format = match args.format.as_str() {
        "auto" => None,
        name => match Format::from_name(name) {
            Some(f) => Some(f),
            None => {
                eprintln!("error: --format: expected auto, json, edn or jepsen-log, got {name:?}");
                return 2;
            }
        },
    };
    let model = match args.model.as_str() {
        "auto" => None,
        "register" => Some(Model::Register),
        "kv" => Some(Model::Kv),
        other => {
            eprintln!("error: --model: expected auto, register or kv, got {other:?}");
            return 2;
        }
    };
    let mut files = Vec::new();
    for f in &args.files {
        if let Err(e) = collect(f, &mut files) {
            eprintln!("error: {}: {e}", f.display());
            return 2;
        }
    }
    let started = Instant::now();
    let (mut bad, mut violations, mut unknown, mut html_written) = (0, 0, 0, false);
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                bad += 1;
                continue;
            }
        };
        let format = format.unwrap_or_else(|| formats::detect(&text));
        let history = match formats::parse(&text, format) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {}:{}: {}", file.display(), e.line, e.message);
                bad += 1;
                continue;
            }
        };
        let model = model.unwrap_or(if format == Format::JepsenLog {
            Model::Register
        } else {
            Model::Kv
        });
        let t = Instant::now();
        let outcome = check(
            &history,
            model,
            Budget {
                time: Some(args.budget),
                steps: None,
                threads: 0,
            },
        );
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let detail = match &outcome {
            Outcome::Linearizable { keys, ops } => format!("{ops} operations on {keys} keys"),
            Outcome::NotLinearizable(v) => v.to_string(),
            Outcome::Unknown { explored } => explored.clone(),
        };
        match &outcome {
            Outcome::NotLinearizable(v) => {
                violations += 1;
                if let (Some(path), false) = (&args.html, html_written) {
                    let page = checker::html::violation_page(
                        &format!("{}: not linearizable", file.display()),
                        v,
                    );
                    if let Err(e) = std::fs::write(path, page) {
                        eprintln!("error: {}: cannot write the page: {e}", path.display());
                        return 2;
                    }
                    html_written = true;
                    eprintln!("violation drawn in {}", path.display());
                }
            }
            Outcome::Unknown { .. } => unknown += 1,
            Outcome::Linearizable { .. } => {}
        }
        if args.json {
            crate::emit(&format!(
                "{}\n",
                serde_json::json!({"file": file.display().to_string(), "verdict": outcome.name(), "ms": ms, "detail": detail})
            ));
        } else if matches!(outcome, Outcome::Linearizable { .. }) {
            crate::emit(&format!(
                "{}: linearizable ({detail}, {ms:.1}ms)\n",
                file.display()
            ));
        } else {
            crate::emit(&format!(
                "{}: {} ({ms:.1}ms)\n  {}\n",
                file.display(),
                outcome.name().to_uppercase(),
                detail.replace('\n', "\n  ")
            ));
        }
    }
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "{} histories in {wall:.3}s: {} linearizable, {violations} not, {unknown} unknown, {bad} unreadable",
        files.len(),
        files.len() - violations - unknown - bad
    );
    if bad > 0 {
        2
    } else if violations > 0 {
        1
    } else if unknown > 0 {
        3
    } else {
        0
    }
}
