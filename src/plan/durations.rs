//! Test durations, the weights of the schedule. Reads the three sources the
//! planner accepts and nothing else:
//!
//! - isoaudit's history, `.isoaudit/durations.json`: a JSON object
//!   `{function nodeid: seconds}`, sorted by nodeid (written by `run`; the
//!   run log beside it, `.isoaudit/history.json`, belongs to `run`);
//! - pytest-split's `.test_durations`: `{nodeid: seconds}` with parametrize
//!   suffixes (older releases wrote a list of `[nodeid, seconds]` pairs);
//! - a junit XML (`pytest --junitxml`), matched through junit's dotted
//!   `classname` + `name`, which is exact whatever the split between module
//!   path and class.
//!
//! Parametrized cases are summed into their function nodeid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::function_nodeid;

#[derive(Debug, thiserror::Error)]
pub enum DurationsError {
    #[error("cannot read durations file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a durations file: {message}")]
    Format { path: PathBuf, message: String },
}

/// Seconds per test function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Durations {
    /// Function nodeid -> seconds.
    by_nodeid: BTreeMap<String, f64>,
    /// Junit dotted name (`tests.test_a.TestX.test_y`) -> seconds, for
    /// sources that do not carry nodeids.
    by_dotted: BTreeMap<String, f64>,
}

impl Durations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the time of one test case; cases of one function add up.
    pub fn add_case(&mut self, nodeid: &str, seconds: f64) {
        *self
            .by_nodeid
            .entry(function_nodeid(nodeid).to_string())
            .or_default() += seconds;
    }

    /// Sets a function's duration, replacing what was there.
    pub fn set(&mut self, function: &str, seconds: f64) {
        self.by_nodeid.insert(function.to_string(), seconds);
    }

    pub fn remove(&mut self, function: &str) -> Option<f64> {
        self.by_nodeid.remove(function)
    }

    /// The duration of a function nodeid, if the source knows it.
    pub fn get(&self, function: &str) -> Option<f64> {
        self.by_nodeid
            .get(function)
            .or_else(|| self.by_dotted.get(&dotted_name(function)))
            .copied()
    }

    pub fn len(&self) -> usize {
        self.by_nodeid.len() + self.by_dotted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Function nodeid and seconds, sorted by nodeid.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.by_nodeid.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Reads any of the three formats, told apart by content.
    pub fn load(path: &Path) -> Result<Self, DurationsError> {
        let text = std::fs::read_to_string(path).map_err(|source| DurationsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| DurationsError::Format {
            path: path.to_path_buf(),
            message,
        })
    }

    /// `explicit` when given (it must exist), else the history under `root`,
    /// else pytest-split's `.test_durations` under `root`, else nothing.
    pub fn load_default(root: &Path, explicit: Option<&Path>) -> Result<Self, DurationsError> {
        if let Some(path) = explicit {
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                root.join(path)
            };
            return Self::load(&path);
        }
        for candidate in [HISTORY_DURATIONS, ".test_durations"] {
            let path = root.join(candidate);
            if path.is_file() {
                return Self::load(&path);
            }
        }
        Ok(Self::new())
    }

    /// Parses JSON (object or list of pairs) or junit XML.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        match trimmed.chars().next() {
            Some('<') => Self::from_junit(trimmed),
            Some('{') | Some('[') => Self::from_json(trimmed),
            Some(_) => Err("expected a JSON object of {nodeid: seconds} or a junit XML".into()),
            None => Err("the file is empty".into()),
        }
    }

    fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let mut out = Self::new();
        match value {
            serde_json::Value::Object(map) => {
                for (nodeid, seconds) in map {
                    let seconds = seconds_of(&nodeid, &seconds)?;
                    out.add_case(&nodeid, seconds);
                }
            }
            serde_json::Value::Array(pairs) => {
                for pair in pairs {
                    match pair.as_array().map(Vec::as_slice) {
                        Some([serde_json::Value::String(nodeid), seconds]) => {
                            let seconds = seconds_of(nodeid, seconds)?;
                            out.add_case(nodeid, seconds);
                        }
                        _ => return Err(format!("expected [nodeid, seconds] pairs, found {pair}")),
                    }
                }
            }
            other => return Err(format!("expected a JSON object, found {}", kind_of(&other))),
        }
        Ok(out)
    }

    fn from_junit(text: &str) -> Result<Self, String> {
        let mut out = Self::new();
        for case in parse_junit(text)? {
            if case.classname.is_empty() {
                continue; // a collection error, not a test
            }
            let name = case.name.split('[').next().unwrap_or_default();
            let key = format!("{}.{}", case.classname, name);
            *out.by_dotted.entry(key).or_default() += case.time;
        }
        Ok(out)
    }

    /// The history file's contents: `{function nodeid: seconds}`, sorted,
    /// rounded to the millisecond.
    pub fn to_json(&self) -> String {
        let map: BTreeMap<&str, f64> = self.iter().map(|(k, v)| (k, super::round3(v))).collect();
        let mut text = serde_json::to_string_pretty(&map).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }
}

/// pytest-split's durations file, relative to the project root.
pub const PYTEST_SPLIT_DURATIONS: &str = ".test_durations";

/// The exact test nodeids (parametrize suffix included) and seconds in a
/// pytest-split `.test_durations` (an object, or an older list of pairs).
pub fn read_test_durations(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let mut out = BTreeMap::new();
    match value {
        serde_json::Value::Object(map) => {
            for (nodeid, seconds) in map {
                let seconds = seconds_of(&nodeid, &seconds)?;
                out.insert(nodeid, seconds);
            }
        }
        serde_json::Value::Array(pairs) => {
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([serde_json::Value::String(nodeid), seconds]) => {
                        let seconds = seconds_of(nodeid, seconds)?;
                        out.insert(nodeid.clone(), seconds);
                    }
                    _ => return Err(format!("expected [nodeid, seconds] pairs, found {pair}")),
                }
            }
        }
        other => return Err(format!("expected a JSON object, found {}", kind_of(&other))),
    }
    Ok(out)
}

/// `ran` folded into `old` (a test that ran replaces its old time; the
/// rest stay), rendered as pytest-split writes the file: one JSON object,
/// keys sorted, four-space indent.
pub fn merge_test_durations(old: &BTreeMap<String, f64>, ran: &BTreeMap<String, f64>) -> String {
    let mut merged = old.clone();
    for (nodeid, seconds) in ran {
        merged.insert(nodeid.clone(), super::round3(*seconds));
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&merged, &mut ser).expect("a map of numbers serializes");
    let mut text = String::from_utf8(out).expect("serde_json writes UTF-8");
    text.push('\n');
    text
}

/// Where `run` keeps the durations, relative to the project root.
pub const HISTORY_DURATIONS: &str = ".isoaudit/durations.json";

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

fn seconds_of(nodeid: &str, value: &serde_json::Value) -> Result<f64, String> {
    match value.as_f64() {
        Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!(
            "`{nodeid}`: expected a number of seconds >= 0, found {value}"
        )),
    }
}

/// The name junit gives a test: the path dotted without `.py`, then the
/// class and function names (pytest's `mangle_test_address`).
pub fn dotted_name(nodeid: &str) -> String {
    let base = function_nodeid(nodeid);
    let mut parts = base.split("::");
    let path = parts.next().unwrap_or_default();
    let path = path.strip_suffix(".py").unwrap_or(path).replace('/', ".");
    std::iter::once(path)
        .chain(parts.map(str::to_string))
        .collect::<Vec<_>>()
        .join(".")
}

/// The `(classname, name)` pytest's junit XML gives a test case nodeid.
pub fn junit_key(nodeid: &str) -> (String, String) {
    let (path, params) = match nodeid.find('[') {
        Some(i) => nodeid.split_at(i),
        None => (nodeid, ""),
    };
    let mut names: Vec<String> = path.split("::").map(str::to_string).collect();
    if let Some(first) = names.first_mut() {
        let dotted = first.replace('/', ".");
        *first = dotted.strip_suffix(".py").unwrap_or(&dotted).to_string();
    }
    let last = names.pop().unwrap_or_default() + params;
    (names.join("."), last)
}

/// How one junit test case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Passed,
    Skipped,
    Failed,
    Error,
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }
}

/// One `<testcase>` of a junit XML.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    pub classname: String,
    pub name: String,
    pub time: f64,
    pub outcome: Outcome,
    /// When the test started (seconds since the epoch) and the process
    /// that ran it, from the `isoaudit_start` / `isoaudit_worker`
    /// properties `run`'s plugin records; `None` in other junit files.
    pub start: Option<f64>,
    pub worker: Option<String>,
}

/// Every `<testcase>` in `text`, in document order.
pub fn parse_junit(text: &str) -> Result<Vec<JunitCase>, String> {
    let mut reader = Reader::from_str(text);
    let mut cases = Vec::new();
    let mut current: Option<JunitCase> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                current = Some(case_of(&e)?);
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                cases.push(case_of(&e)?);
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"property" => {
                if let Some(case) = current.as_mut() {
                    property_of(case, &e)?;
                }
            }
            Event::Start(e) | Event::Empty(e) => {
                if let Some(case) = current.as_mut() {
                    let seen = match e.name().as_ref() {
                        b"failure" => Outcome::Failed,
                        b"error" => Outcome::Error,
                        b"skipped" => Outcome::Skipped,
                        _ => Outcome::Passed,
                    };
                    case.outcome = case.outcome.max(seen);
                }
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                if let Some(case) = current.take() {
                    cases.push(case);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(cases)
}

/// `<property name="isoaudit_start" value="..."/>` and its worker twin.
fn property_of(case: &mut JunitCase, e: &BytesStart<'_>) -> Result<(), String> {
    let mut name = String::new();
    let mut value = String::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| format!("invalid XML attribute: {e}"))?;
        let text = attr
            .unescape_value()
            .map_err(|e| format!("invalid XML attribute value: {e}"))?
            .into_owned();
        match attr.key.as_ref() {
            b"name" => name = text,
            b"value" => value = text,
            _ => {}
        }
    }
    match name.as_str() {
        "isoaudit_start" => {
            case.start = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)
        }
        "isoaudit_worker" if !value.is_empty() => case.worker = Some(value),
        _ => {}
    }
    Ok(())
}

fn case_of(e: &BytesStart<'_>) -> Result<JunitCase, String> {
    let mut case = JunitCase {
        classname: String::new(),
        name: String::new(),
        time: 0.0,
        outcome: Outcome::Passed,
        start: None,
        worker: None,
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|e| format!("invalid XML attribute: {e}"))?;
        let value = attr
            .unescape_value()
            .map_err(|e| format!("invalid XML attribute value: {e}"))?;
        match attr.key.as_ref() {
            b"classname" => case.classname = value.into_owned(),
            b"name" => case.name = value.into_owned(),
            b"time" => {
                case.time = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .unwrap_or(0.0)
            }
            _ => {}
        }
    }
    Ok(case)
}
