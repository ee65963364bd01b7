//! Conformance: every history of Porcupine's test corpus gets the verdict Porcupine's own
//! tests assert (`verdicts.tsv`). The corpus is read from `PORCUPINE_DATA`, by default
//! `../shared/data/porcupine` beside the repository; when it is absent the test says so
//! and skips, unless `REQUIRE_PORCUPINE_DATA=1` (as in CI), when absence fails.

use checker::formats::{self, Format};
use checker::linearizability::{check, Budget, Model, Outcome};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("PORCUPINE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/porcupine")
        });
    if dir.join("jepsen-etcd/verdicts.tsv").exists() {
        return Some(dir);
    }
    if std::env::var("REQUIRE_PORCUPINE_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "the Porcupine corpus is required (REQUIRE_PORCUPINE_DATA=1) but absent at {}",
            dir.display()
        );
    }
    eprintln!(
        "skipping: no Porcupine corpus at {} (set PORCUPINE_DATA)",
        dir.display()
    );
    None
}

fn verdicts(dir: &Path) -> Vec<(PathBuf, bool)> {
    let text = std::fs::read_to_string(dir.join("verdicts.tsv")).expect("verdicts.tsv");
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(file, _)| seen.insert(file.to_string()))
        .map(|(file, v)| (dir.join(file), v.trim() == "true"))
        .collect()
}

fn judge(path: &Path, format: Format, model: Model) -> Outcome {
    let text = std::fs::read_to_string(path).expect("readable");
    let history =
        formats::parse(&text, format).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    check(
        &history,
        model,
        Budget {
            time: Some(Duration::from_secs(60)),
            steps: None,
            threads: 0,
        },
    )
}

fn assert_corpus(sub: &str, format: Format, model: Model, expected_files: usize) {
    let Some(dir) = corpus() else { return };
    let cases = verdicts(&dir.join(sub));
    assert_eq!(cases.len(), expected_files, "{sub}/verdicts.tsv");
    let mut wrong = Vec::new();
    for (path, linearizable) in &cases {
        let outcome = judge(path, format, model);
        let ok = match outcome {
            Outcome::Linearizable { .. } => *linearizable,
            Outcome::NotLinearizable(_) => !*linearizable,
            Outcome::Unknown { .. } => false,
        };
        if !ok {
            wrong.push(format!(
                "{}: expected {linearizable}, got {}",
                path.display(),
                outcome.name()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_jepsen_etcd_log_gets_porcupines_verdict() {
    assert_corpus("jepsen-etcd", Format::JepsenLog, Model::Register, 102);
}

#[test]
fn every_kv_history_gets_porcupines_verdict() {
    assert_corpus("kv", Format::Edn, Model::Kv, 6);
}
