//! Reading histories: the native JSON (`docs/history-format.md`), Jepsen EDN histories
//! (one map per line; Porcupine's kv files are this format), and Jepsen log lines
//! (`INFO jepsen.util - 3 :invoke :read nil`). Every error names the line.
//!
//! The two Jepsen dialects differ on purpose. In EDN a `:fail` completion keeps Jepsen's
//! meaning: the operation did not happen, unless a cas says `:error :compare-failed` (as
//! `sim export` writes one): then, as in the JSON, it took effect and changed nothing. In
//! the etcd log corpus every `:fail :cas` is such an observation, and
//! `:fail :read :timed-out` is a read of unknown outcome.
//!
//! Times: EDN operations are timed by their `:time` when every one carries it (as Jepsen
//! and `sim export` write them), by line order when none does. Equal times are
//! concurrent, as in the JSON, so a history reads to the same verdict in either form.

use crate::history::{Func, History, Operation, Status, Value};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Edn,
    JepsenLog,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "edn" => Some(Format::Edn),
            "jepsen-log" => Some(Format::JepsenLog),
            _ => None,
        }
    }
}

/// A history that cannot be read, with the line where the trouble is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// Guesses the format from the text.
pub fn detect(text: &str) -> Format {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if text.contains("jepsen.util") {
        Format::JepsenLog
    } else if first.starts_with("{:") || first.starts_with("{ :") {
        Format::Edn
    } else {
        Format::Json
    }
}

pub fn parse(text: &str, format: Format) -> Result<History, ParseError> {
    match format {
        Format::Json => parse_json(text),
        Format::Edn => parse_edn(text),
        Format::JepsenLog => parse_jepsen_log(text),
    }
}

// ---------------------------------------------------------------------------------------
// JSON

/// The native format: `{"ops": [...]}` as `History` serialises, or a `sim` trace file,
/// whose `history` holds the same operations.
fn parse_json(text: &str) -> Result<History, ParseError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
        line: e.line(),
        message: format!("invalid JSON: {e}"),
    })?;
    let ops = match (v.get("ops"), v.get("history")) {
        (Some(ops), _) => ops,
        (None, Some(history)) => history,
        _ => {
            return err(
                1,
                "expected an object with \"ops\" (a history) or \"history\" (a sim trace)",
            )
        }
    };
    let Some(list) = ops.as_array() else {
        return err(1, "expected \"ops\" to be a list of operations");
    };
    let mut history = History::default();
    for (i, item) in list.iter().enumerate() {
        let op: Operation = serde_json::from_value(item.clone()).map_err(|e| ParseError {
            line: line_of_item(text, i),
            message: format!("operation {i}: {e}"),
        })?;
        if op.status != Status::Info && op.ret.is_none() && op.status == Status::Ok {
            return err(
                line_of_item(text, i),
                format!("operation {i}: status ok needs a \"ret\" time"),
            );
        }
        if op.ret.is_some_and(|r| r < op.call) {
            return err(
                line_of_item(text, i),
                format!("operation {i}: returns before it is called"),
            );
        }
        history.ops.push(op);
    }
    Ok(history)
}

/// A best guess at the line of the i-th operation of a pretty-printed list.
fn line_of_item(text: &str, i: usize) -> usize {
    let mut seen = 0;
    for (n, line) in text.lines().enumerate() {
        if line.contains("\"call\"") {
            if seen == i {
                return n + 1;
            }
            seen += 1;
        }
    }
    1
}

// ---------------------------------------------------------------------------------------
// EDN (the subset Jepsen histories use)

#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    Keyword(String),
    Vector(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Other(String),
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl Reader<'_> {
    fn skip(&mut self) {
        while self.at < self.text.len() {
            match self.text[self.at] {
                b' ' | b'\t' | b'\r' | b',' => self.at += 1,
                b';' => {
                    while self.at < self.text.len() && self.text[self.at] != b'\n' {
                        self.at += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Edn, ParseError> {
        if depth > 64 {
            return err(self.line, "values nested too deeply");
        }
        self.skip();
        let Some(&c) = self.text.get(self.at) else {
            return err(self.line, "unexpected end of line: a value was expected");
        };
        match c {
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip();
                    match self.text.get(self.at) {
                        None => return err(self.line, format!("unclosed '{}'", c as char)),
                        Some(&x) if x == close => {
                            self.at += 1;
                            break;
                        }
                        Some(_) => items.push(self.value(depth + 1)?),
                    }
                }
                if c == b'[' {
                    return Ok(Edn::Vector(items));
                }
                if items.len() % 2 != 0 {
                    return err(self.line, "a map needs an even number of forms");
                }
                let mut pairs = Vec::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            b'"' => {
                self.at += 1;
                let mut s = Vec::new();
                loop {
                    match self.text.get(self.at) {
                        None => return err(self.line, "unclosed string"),
                        Some(b'"') => {
                            self.at += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let escaped = self.text.get(self.at + 1).copied();
                            s.push(match escaped {
                                Some(b'n') => b'\n',
                                Some(b't') => b'\t',
                                Some(x) => x,
                                None => return err(self.line, "unclosed string"),
                            });
                            self.at += 2;
                        }
                        Some(&x) => {
                            s.push(x);
                            self.at += 1;
                        }
                    }
                }
                Ok(Edn::Str(String::from_utf8_lossy(&s).into_owned()))
            }
            _ => {
                let start = self.at;
                while self.at < self.text.len()
                    && !b" \t\r\n,;{}[]()\"".contains(&self.text[self.at])
                {
                    self.at += 1;
                }
                if self.at == start {
                    return err(self.line, format!("unexpected '{}'", c as char));
                }
                let token = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
                Ok(match token.as_str() {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    t if t.starts_with(':') => Edn::Keyword(t[1..].to_string()),
                    t => match t.trim_end_matches('N').parse::<i64>() {
                        Ok(i) => Edn::Int(i),
                        Err(_) => Edn::Other(t.to_string()),
                    },
                })
            }
        }
    }
}

fn read_edn(text: &str, line: usize) -> Result<Edn, ParseError> {
    let mut r = Reader {
        text: text.as_bytes(),
        at: 0,
        line,
    };
    let v = r.value(0)?;
    r.skip();
    if r.at < r.text.len() {
        return err(line, "unexpected text after the value");
    }
    Ok(v)
}

fn to_value(e: &Edn, line: usize) -> Result<Value, ParseError> {
    match e {
        Edn::Nil => Ok(Value::Nil),
        Edn::Int(i) => Ok(Value::Int(*i)),
        Edn::Str(s) => Ok(Value::Str(s.clone())),
        other => err(
            line,
            format!("expected nil, an integer or a string, got {other:?}"),
        ),
    }
}

fn func(name: &str, line: usize) -> Result<Func, ParseError> {
    Ok(match name {
        "read" => Func::Read,
        "write" => Func::Write,
        "cas" => Func::Cas,
        "get" => Func::Get,
        "put" => Func::Put,
        "append" => Func::Append,
        other => {
            return err(
                line,
                format!("unknown :f :{other}; expected :read, :write, :cas, :get, :put or :append"),
            )
        }
    })
}

/// An invocation waiting for its completion.
struct Open {
    op: Operation,
}

/// Pairs invocations with completions by process, in line order.
struct Pairing {
    open: BTreeMap<String, Open>,
    history: History,
}

impl Pairing {
    fn new() -> Pairing {
        Pairing {
            open: BTreeMap::new(),
            history: History::default(),
        }
    }

    fn invoke(&mut self, process: String, op: Operation, line: usize) -> Result<(), ParseError> {
        if let Some(previous) = self.open.remove(&process) {
            // Jepsen never reuses a process with an operation outstanding; treat the old
            // one as indeterminate, as a crashed client's would be.
            let mut old = previous.op;
            old.status = Status::Info;
            self.history.ops.push(old);
            let _ = line;
        }
        self.open.insert(process, Open { op });
        Ok(())
    }

    fn complete(&mut self, process: &str, line: usize) -> Result<Operation, ParseError> {
        match self.open.remove(process) {
            Some(open) => Ok(open.op),
            None => err(
                line,
                format!("a completion for process {process} without an invocation"),
            ),
        }
    }

    fn finish(mut self) -> History {
        for (_, open) in std::mem::take(&mut self.open) {
            let mut op = open.op;
            op.status = Status::Info;
            op.ret = None;
            self.history.ops.push(op);
        }
        self.history.ops.sort_by_key(|o| (o.call, o.process));
        self.history
    }
}

fn get<'a>(map: &'a [(Edn, Edn)], key: &str) -> Option<&'a Edn> {
    map.iter()
        .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
        .map(|(_, v)| v)
}

/// Splits a Jepsen `:value` into (key, value): `:key` wins; otherwise `[k v]` for reads and
/// writes and `[k [from to]]` for cas are independent keys; anything else is one register.
fn split_value(
    f: Func,
    key: Option<&Edn>,
    value: &Edn,
    line: usize,
) -> Result<(String, Edn), ParseError> {
    let key_text = |k: &Edn| -> Result<String, ParseError> {
        match k {
            Edn::Str(s) => Ok(s.clone()),
            Edn::Int(i) => Ok(i.to_string()),
            Edn::Keyword(s) => Ok(s.clone()),
            other => err(line, format!("expected a key, got {other:?}")),
        }
    };
    if let Some(k) = key {
        return Ok((key_text(k)?, value.clone()));
    }
    if let Edn::Vector(items) = value {
        let independent = match (f, items.as_slice()) {
            (Func::Cas, [_, Edn::Vector(_)]) => true,
            (Func::Cas, _) => false,
            (_, [_, _]) => true,
            _ => false,
        };
        if independent {
            return Ok((key_text(&items[0])?, items[1].clone()));
        }
    }
    Ok((String::new(), value.clone()))
}

fn cas_pair(v: &Edn, line: usize) -> Result<(Value, Value), ParseError> {
    match v {
        Edn::Vector(items) if items.len() == 2 => {
            Ok((to_value(&items[0], line)?, to_value(&items[1], line)?))
        }
        other => err(
            line,
            format!("a cas value must be [from to], got {other:?}"),
        ),
    }
}

/// An invoked operation, indeterminate until its completion is read.
fn invocation(
    process: u64,
    time: u64,
    f: Func,
    key: String,
    value: &Edn,
    line: usize,
) -> Result<Operation, ParseError> {
    let mut op = Operation {
        process,
        call: time,
        ret: None,
        f,
        key,
        value: Value::Nil,
        to: None,
        output: None,
        cas_ok: None,
        status: Status::Info,
        line: Some(line),
    };
    match f {
        Func::Write | Func::Put | Func::Append => op.value = to_value(value, line)?,
        Func::Cas => {
            let (from, to) = cas_pair(value, line)?;
            op.value = from;
            op.to = Some(to);
        }
        Func::Read | Func::Get => {}
    }
    Ok(op)
}

/// How an EDN history is timed: by `:time` or by line order, decided by its first
/// operation and then required of every other (a mix has no one meaning).
#[derive(Clone, Copy)]
enum Clock {
    Undecided,
    Times { first_line: usize },
    Lines { first_line: usize },
}

impl Clock {
    fn time(&mut self, map: &[(Edn, Edn)], line: usize) -> Result<u64, ParseError> {
        let time = match get(map, "time") {
            None => None,
            Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
            Some(other) => {
                return err(
                    line,
                    format!(":time must be a non-negative integer (nanoseconds), got {other:?}"),
                )
            }
        };
        match (*self, time) {
            (Clock::Undecided, Some(t)) => {
                *self = Clock::Times { first_line: line };
                Ok(t)
            }
            (Clock::Undecided, None) => {
                *self = Clock::Lines { first_line: line };
                Ok(line as u64)
            }
            (Clock::Times { .. }, Some(t)) => Ok(t),
            (Clock::Lines { .. }, None) => Ok(line as u64),
            (Clock::Times { first_line }, None) => err(
                line,
                format!(
                    "missing :time, which line {first_line} and the lines after it carry: \
                     either every operation has a :time or none does (then line order is time)"
                ),
            ),
            (Clock::Lines { first_line }, Some(_)) => err(
                line,
                format!(
                    "a :time, which line {first_line} and the lines after it lack: \
                     either every operation has a :time or none does (then line order is time)"
                ),
            ),
        }
    }
}

fn parse_edn(text: &str) -> Result<History, ParseError> {
    let mut pairing = Pairing::new();
    let mut clock = Clock::Undecided;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        let Edn::Map(map) = read_edn(trimmed, line)? else {
            return err(
                line,
                "expected a map like {:process 0, :type :invoke, :f :read, :value nil}",
            );
        };
        let process = match get(&map, "process") {
            Some(Edn::Int(p)) => p.to_string(),
            Some(Edn::Keyword(k)) if k == "nemesis" => continue,
            Some(other) => return err(line, format!(":process must be an integer, got {other:?}")),
            None => return err(line, "missing :process"),
        };
        let kind = match get(&map, "type") {
            Some(Edn::Keyword(k)) => k.clone(),
            _ => {
                return err(
                    line,
                    "missing :type (expected :invoke, :ok, :fail or :info)",
                )
            }
        };
        let f = match get(&map, "f") {
            Some(Edn::Keyword(k)) => func(k, line)?,
            _ => return err(line, "missing :f"),
        };
        let value = get(&map, "value").cloned().unwrap_or(Edn::Nil);
        let (key, value) = split_value(f, get(&map, "key"), &value, line)?;
        let time = clock.time(&map, line)?;
        match kind.as_str() {
            "invoke" => {
                let op = invocation(process.parse().unwrap_or(0), time, f, key, &value, line)?;
                pairing.invoke(process, op, line)?;
            }
            "ok" | "fail" | "info" => {
                let mut op = pairing.complete(&process, line)?;
                if op.f != f {
                    return err(
                        line,
                        format!(
                            "completion :f :{} does not match its invocation's :{}",
                            f.name(),
                            op.f.name()
                        ),
                    );
                }
                if time < op.call {
                    return err(
                        line,
                        format!(
                            "completes at :time {time}, before its invocation (line {}) at :time {}",
                            op.line.unwrap_or(0),
                            op.call
                        ),
                    );
                }
                op.ret = Some(time);
                let compare_failed = f == Func::Cas
                    && matches!(get(&map, "error"), Some(Edn::Keyword(e)) if e == "compare-failed");
                op.status = match kind.as_str() {
                    "ok" => Status::Ok,
                    // The compare failed: it took effect and changed nothing (the JSON's
                    // `cas_ok: false`).
                    "fail" if compare_failed => {
                        op.cas_ok = Some(false);
                        Status::Ok
                    }
                    "fail" => Status::Fail,
                    _ => Status::Info,
                };
                if op.status == Status::Ok && op.cas_ok.is_none() {
                    match f {
                        Func::Read | Func::Get => op.output = Some(to_value(&value, line)?),
                        Func::Cas => op.cas_ok = Some(true),
                        _ => {}
                    }
                }
                if op.status == Status::Info {
                    op.ret = None;
                }
                pairing.history.ops.push(op);
            }
            other => {
                return err(
                    line,
                    format!("unknown :type :{other}; expected :invoke, :ok, :fail or :info"),
                )
            }
        }
    }
    Ok(pairing.finish())
}

// ---------------------------------------------------------------------------------------
// Jepsen log lines

fn parse_jepsen_log(text: &str) -> Result<History, ParseError> {
    let mut pairing = Pairing::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let Some((_, rest)) = raw.split_once("jepsen.util - ") else {
            continue; // other log lines are noise
        };
        let mut fields = rest.split_whitespace();
        let (Some(process), Some(kind), Some(f)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if process.parse::<u64>().is_err() || !kind.starts_with(':') || !f.starts_with(':') {
            continue; // nemesis and other non-client lines
        }
        let value_text: Vec<&str> = fields.collect();
        let value = if value_text.is_empty() {
            Edn::Nil
        } else {
            read_edn(&value_text.join(" "), line)?
        };
        let f = func(&f[1..], line)?;
        let time = line as u64;
        match &kind[1..] {
            "invoke" => {
                let op = invocation(
                    process.parse().unwrap_or(0),
                    time,
                    f,
                    String::new(),
                    &value,
                    line,
                )?;
                pairing.invoke(process.to_string(), op, line)?;
            }
            kind @ ("ok" | "fail" | "info") => {
                let mut op = pairing.complete(process, line)?;
                if op.f != f {
                    return err(
                        line,
                        format!(
                            "completion :{} does not match its invocation's :{}",
                            f.name(),
                            op.f.name()
                        ),
                    );
                }
                op.ret = Some(time);
                match (kind, f) {
                    ("ok", Func::Read | Func::Get) => {
                        op.status = Status::Ok;
                        op.output = Some(to_value(&value, line)?);
                    }
                    ("ok", Func::Cas) => {
                        op.status = Status::Ok;
                        op.cas_ok = Some(true);
                    }
                    ("ok", _) => op.status = Status::Ok,
                    // The compare failed: it happened and changed nothing.
                    ("fail", Func::Cas) => {
                        op.status = Status::Ok;
                        op.cas_ok = Some(false);
                    }
                    // A timed-out read: its outcome is unknown.
                    ("fail", Func::Read | Func::Get) => {
                        op.status = Status::Info;
                        op.ret = None;
                    }
                    ("fail", _) => op.status = Status::Fail,
                    _ => {
                        op.status = Status::Info;
                        op.ret = None;
                    }
                }
                pairing.history.ops.push(op);
            }
            other => return err(line, format!("unknown :type :{other}")),
        }
    }
    Ok(pairing.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edn_reads_porcupine_kv_lines_and_pairs_them_by_process() {
        let text = "{:process 0, :type :invoke, :f :put, :key \"3\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :invoke, :f :get, :key \"3\", :value nil}\n\
                    {:process 0, :type :ok, :f :put, :key \"3\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :ok, :f :get, :key \"3\", :value \"x 0 0 y\"}\n";
        let h = parse(text, detect(text)).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].f, Func::Put);
        assert_eq!(h.ops[0].ret, Some(3));
        assert_eq!(h.ops[1].output, Some(Value::Str("x 0 0 y".into())));
        assert_eq!(h.ops[1].key, "3");
    }

    #[test]
    fn jepsen_log_reads_a_failed_cas_as_an_observation_and_a_timed_out_read_as_unknown() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 4]\n\
                    INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 0\t:fail\t:cas\t[1 4]\n\
                    INFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
                    INFO  jepsen.util - 2\t:invoke\t:write\t3\n";
        let h = parse(text, detect(text)).unwrap();
        let cas = h.ops.iter().find(|o| o.f == Func::Cas).unwrap();
        assert_eq!((cas.status, cas.cas_ok), (Status::Ok, Some(false)));
        let read = h.ops.iter().find(|o| o.f == Func::Read).unwrap();
        assert_eq!(read.status, Status::Info);
        let write = h.ops.iter().find(|o| o.f == Func::Write).unwrap();
        assert_eq!((write.status, write.ret), (Status::Info, None));
    }

    fn verdict(text: &str, format: Format) -> &'static str {
        use crate::linearizability::{check, Budget, Model};
        let h = parse(text, format).unwrap_or_else(|e| panic!("{e}\n{text}"));
        check(&h, Model::Kv, Budget::default()).name()
    }

    /// Issue 14's example: a write's return and a read's call share a time. Equal times
    /// are concurrent, so the read of nothing may come first: linearizable, whether the
    /// history is read from its JSON or from its EDN (by `:time`, whatever the line order).
    #[test]
    fn a_return_and_a_call_at_the_same_time_are_concurrent_in_edn_as_in_json() {
        let edn = "{:type :invoke, :f :write, :value [\"k1\" 1], :process 0, :time 10}\n\
                   {:type :ok, :f :write, :value [\"k1\" 1], :process 0, :time 20}\n\
                   {:type :invoke, :f :read, :value [\"k1\" nil], :process 1, :time 20}\n\
                   {:type :ok, :f :read, :value [\"k1\" nil], :process 1, :time 30}\n";
        let json = r#"{"ops": [
          {"process": 0, "call": 10, "ret": 20, "f": "write", "key": "k1", "value": 1, "status": "ok"},
          {"process": 1, "call": 20, "ret": 30, "f": "read", "key": "k1", "output": null, "status": "ok"}
        ]}"#;
        assert_eq!(detect(edn), Format::Edn);
        assert_eq!(verdict(json, Format::Json), "linearizable");
        assert_eq!(verdict(edn, Format::Edn), "linearizable");
        let from_edn = parse(edn, Format::Edn).unwrap();
        let from_json = parse(json, Format::Json).unwrap();
        let times = |h: &History| -> Vec<(u64, Option<u64>)> {
            h.ops.iter().map(|o| (o.call, o.ret)).collect()
        };
        assert_eq!(times(&from_edn), times(&from_json));
        // Without its times the same lines say the write returned before the read was
        // called, and the read of nothing is stale: the example tells the readings apart.
        let untimed: String = edn
            .lines()
            .map(|l| format!("{}}}\n", &l[..l.find(", :time").unwrap()]))
            .collect();
        assert_eq!(verdict(&untimed, Format::Edn), "not linearizable");
    }

    #[test]
    fn edn_times_order_operations_whatever_the_line_order() {
        // The read's lines come first, but by :time it is called after the write returned.
        let text = "{:process 1, :type :invoke, :f :read, :value [\"k\" nil], :time 50}\n\
                    {:process 1, :type :ok, :f :read, :value [\"k\" nil], :time 60}\n\
                    {:process 0, :type :invoke, :f :write, :value [\"k\" 1], :time 10}\n\
                    {:process 0, :type :ok, :f :write, :value [\"k\" 1], :time 20}\n";
        let h = parse(text, Format::Edn).unwrap();
        assert_eq!((h.ops[0].call, h.ops[0].ret), (10, Some(20)));
        assert_eq!(verdict(text, Format::Edn), "not linearizable");
    }

    #[test]
    fn edn_times_must_be_on_every_operation_or_none_and_never_run_backwards() {
        let mixed = "{:process 0, :type :invoke, :f :read, :value nil, :time 5}\n\
                     {:process 0, :type :ok, :f :read, :value nil}\n";
        let e = parse(mixed, Format::Edn).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("missing :time") && e.message.contains("line 1"),
            "{e}"
        );
        let mixed = "{:process 0, :type :invoke, :f :read, :value nil}\n\
                     {:process 0, :type :ok, :f :read, :value nil, :time 5}\n";
        assert_eq!(parse(mixed, Format::Edn).unwrap_err().line, 2);
        let backwards = "{:process 0, :type :invoke, :f :read, :value nil, :time 9}\n\
                         {:process 0, :type :ok, :f :read, :value nil, :time 3}\n";
        let e = parse(backwards, Format::Edn).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("before its invocation"), "{e}");
        let negative = "{:process 0, :type :invoke, :f :read, :value nil, :time -1}\n";
        assert!(parse(negative, Format::Edn)
            .unwrap_err()
            .message
            .contains(":time must be"));
        // Nemesis lines need no :time.
        let nemesis = "{:process 0, :type :invoke, :f :read, :value nil, :time 1}\n\
                       {:process :nemesis, :type :info, :f :start}\n\
                       {:process 0, :type :ok, :f :read, :value nil, :time 2}\n";
        assert_eq!(parse(nemesis, Format::Edn).unwrap().ops.len(), 1);
    }

    /// `sim export` writes a cas whose compare failed as Jepsen does, `:fail`, saying why in
    /// `:error`: Jepsen's tools read it as never having happened, `sim check` as the JSON's
    /// observation `cas_ok: false`. A `:fail` that gives no such reason did not happen.
    #[test]
    fn an_edn_cas_that_failed_its_compare_is_an_observation_and_a_plain_fail_did_not_happen() {
        let text = "{:process 0, :type :invoke, :f :cas, :value [\"k\" [1 2]], :time 1}\n\
                    {:process 0, :type :fail, :f :cas, :value [\"k\" [1 2]], :error :compare-failed, :time 2}\n\
                    {:process 1, :type :invoke, :f :cas, :value [\"k\" [3 4]], :time 3}\n\
                    {:process 1, :type :fail, :f :cas, :value [\"k\" [3 4]], :time 4}\n";
        let h = parse(text, Format::Edn).unwrap();
        assert_eq!(
            (h.ops[0].status, h.ops[0].cas_ok),
            (Status::Ok, Some(false))
        );
        assert_eq!((h.ops[1].status, h.ops[1].cas_ok), (Status::Fail, None));
        // The observation constrains: a failed compare against nil, the only value, is
        // impossible.
        let impossible = "{:process 0, :type :invoke, :f :cas, :value [\"k\" [nil 2]], :time 1}\n\
                          {:process 0, :type :fail, :f :cas, :value [\"k\" [nil 2]], :error :compare-failed, :time 2}\n";
        assert_eq!(verdict(impossible, Format::Edn), "not linearizable");
        assert_eq!(
            verdict(
                &impossible.replace(", :error :compare-failed", ""),
                Format::Edn
            ),
            "linearizable"
        );
    }

    #[test]
    fn bad_input_names_the_line() {
        let orphan = "{:process 0, :type :ok, :f :read, :value 1}\n";
        assert_eq!(parse(orphan, Format::Edn).unwrap_err().line, 1);
        let unknown = "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :invoke, :f :teleport}\n";
        let e = parse(unknown, Format::Edn).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains(":teleport"), "{e}");
        let truncated = "{:process 0, :type :invoke, :f :read";
        assert!(parse(truncated, Format::Edn)
            .unwrap_err()
            .message
            .contains("unclosed"));
        let json = "{\"ops\": [\n  {\"process\": 0, \"call\": 1,\n";
        assert_eq!(parse(json, Format::Json).unwrap_err().line, 3);
    }
}
