//! Every protocol declares its coverage marks (`Protocol::MARKS`), so that `sim fuzz
//! --marks` can list the ones no seed took. The list must not drift from the code: every
//! mark name written in a protocol crate's source is declared, and every declared mark is
//! written somewhere in it, and the marks it says a correct run never takes
//! (`Protocol::NEVER_WHEN_CORRECT`) are among those it declares.
//!
//! A mark name is a string literal `"<protocol>.<words>"` in the crate's `src/`: either the
//! argument of `out.mark("...")`, or any other such literal that is not a mutant's name
//! (some marks are chosen by a helper that returns the literal, as Paxos's
//! `prepare_refused` does).

use sim::protocols::PROTOCOLS;
use std::collections::BTreeSet;
use std::path::Path;

/// Every string literal in `text` that starts with `prefix`, with whether it is the
/// argument of a `mark(` call.
fn literals(text: &str, prefix: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = text;
    let quoted = format!("\"{prefix}");
    while let Some(start) = rest.find(&quoted) {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let name = &after[..end];
        let before = rest[..start].trim_end();
        let is_mark = before.ends_with("mark(");
        if name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            found.push((name.to_string(), is_mark));
        }
        rest = &after[end + 1..];
    }
    found
}

fn sources(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).expect("the crate's src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&std::fs::read_to_string(&path).expect("a readable source file"));
            into.push('\n');
        }
    }
}

#[test]
fn every_mark_a_protocol_writes_is_declared_and_every_declared_mark_is_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut problems = Vec::new();
    for p in PROTOCOLS {
        let mut text = String::new();
        sources(&root.join(p.name).join("src"), &mut text);
        let bugs: BTreeSet<&str> = p.bugs.iter().map(|b| b.name).collect();
        let declared: BTreeSet<&str> = p.capabilities.marks.iter().copied().collect();
        assert_eq!(
            declared.len(),
            p.capabilities.marks.len(),
            "{}: MARKS lists a mark twice",
            p.name
        );
        let mut written = BTreeSet::new();
        for (name, is_mark) in literals(&text, &format!("{}.", p.name)) {
            if is_mark || !bugs.contains(name.as_str()) {
                written.insert(name);
            }
        }
        for name in &written {
            if !declared.contains(name.as_str()) {
                problems.push(format!(
                    "{}: mark {name:?} is written in the source but not in MARKS",
                    p.name
                ));
            }
        }
        for name in &declared {
            if !written.contains(*name) {
                problems.push(format!(
                    "{}: MARKS declares {name:?}, which the source never writes",
                    p.name
                ));
            }
        }
        for name in p.never_when_correct {
            if !declared.contains(name) {
                problems.push(format!(
                    "{}: NEVER_WHEN_CORRECT lists {name:?}, which MARKS does not declare",
                    p.name
                ));
            }
        }
        assert!(
            !declared.is_empty(),
            "{} declares no marks; the test would prove nothing",
            p.name
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
