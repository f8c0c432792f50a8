//! What runs saw: `.isoaudit/observed.json`, the memory of what each test
//! really touched (recorded by the run plugin's observer, `run/observe.py`)
//! and of the isolation bugs triage found. Keys use the static facts'
//! vocabulary (`path:`, `port:`, `env:`, `cwd`, `sys.path`, `sys.modules:`,
//! `setting:`, `state:`), so a static and an observed fact about one
//! resource are one resource.
//!
//! ```json
//! {"version": 1,
//!  "tests": {"tests/test_a.py::test_x": {
//!     "run": 7,
//!     "keys": {"path:/tmp/app.lock": {"access": "write", "at": "app/lock.py:12",
//!                                     "fixture": "locked", "stage": "setup"}},
//!     "rss_mb": 3.5, "cpu_s": 0.02,
//!     "triage": {"run": 6, "sharers": ["tests/test_b.py::test_y"],
//!                "file": "tests/test_a.py", "digest": "8c5d..."}}}}
//! ```
//!
//! Newest wins: a test's keys are those of the last run that ran it. Bounded:
//! a test not seen in the last [`FORGET_AFTER`] runs is dropped, at most
//! [`MAX_TESTS`] tests. A corrupt file is ignored with a warning (it is a
//! cache). Triage holds until the test's file changes or `run --forget`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const OBSERVED: &str = ".isoaudit/observed.json";
pub const FORGET_AFTER: u64 = 20;
pub const MAX_TESTS: usize = 100_000;
/// Keys kept per test.
pub const MAX_KEYS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub version: u32,
    #[serde(default)]
    pub tests: BTreeMap<String, ObservedTest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedTest {
    /// The run that last ran the test.
    #[serde(default)]
    pub run: u64,
    #[serde(default)]
    pub keys: BTreeMap<String, Evidence>,
    /// Growth of the worker's peak RSS while the test ran, in MB.
    #[serde(default)]
    pub rss_mb: f64,
    /// CPU time of the test (all its cases), in seconds.
    #[serde(default)]
    pub cpu_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    /// `write`, `mkdir`, `remove`, `rename`, `bind`, `connect`, `sqlite`,
    /// `spawn`, `env`, `chdir`, `change`...
    pub access: String,
    /// The first frame in the project's code, `path:line` ("" when the
    /// change was seen by comparing before and after the test).
    #[serde(default)]
    pub at: String,
    /// The fixture whose setup caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    /// `setup`, `call` or `teardown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// An isolation bug a run found: the test failed in parallel and passed
/// alone. Until its file changes, it runs with `sharers` (the tests it was
/// seen sharing a resource with), or serially when there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triage {
    pub run: u64,
    #[serde(default)]
    pub sharers: Vec<String>,
    /// The test's file, relative to the root, and its content's digest then.
    pub file: String,
    pub digest: String,
}

/// How an observed key weighs on the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Outside the process (files, ports, services): tests that share it
    /// run one after another.
    Resource,
    /// Process-wide state left changed after the test.
    Order,
    /// Recorded, not a hazard (`process:`).
    Note,
}

pub fn key_kind(key: &str) -> KeyKind {
    if key.starts_with("path:") || key.starts_with("port:") || key.starts_with("service:") {
        KeyKind::Resource
    } else if key.starts_with("process:") {
        KeyKind::Note
    } else {
        KeyKind::Order
    }
}

/// FNV-1a of a file's bytes, hex: the same in every run and platform.
pub fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The file part of a nodeid (`tests/a.py::t` -> `tests/a.py`).
pub fn nodeid_file(nodeid: &str) -> &str {
    nodeid.split("::").next().unwrap_or(nodeid)
}

/// Reads `.isoaudit/observed.json` under `root`: missing is empty, corrupt
/// is empty with a warning.
pub fn load(root: &Path) -> (Observed, Option<String>) {
    read(&root.join(OBSERVED), OBSERVED)
}

pub fn read(path: &Path, shown: &str) -> (Observed, Option<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<Observed>(&text) {
            Ok(o) if o.version <= 1 => (o, None),
            Ok(o) => (
                Observed::default(),
                Some(format!(
                    "{shown}: version {} is newer than this isoaudit knows; ignored",
                    o.version
                )),
            ),
            Err(e) => (
                Observed::default(),
                Some(format!(
                    "{shown}: not an isoaudit observation file ({e}); ignored, a new one is written after the next run"
                )),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Observed::default(), None),
        Err(e) => (
            Observed::default(),
            Some(format!("cannot read {shown}: {e}; ignored")),
        ),
    }
}

pub fn save(root: &Path, observed: &Observed) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(observed).map_err(std::io::Error::other)?;
    text.push('\n');
    crate::run::history::write_atomic(&root.join(OBSERVED), text.as_bytes())
}

/// What one run observed, per function nodeid.
pub type RunObservations = BTreeMap<String, ObservedTest>;

/// Folds one run into the memory: the tests it ran get the keys it saw
/// (newest wins; their triage stays), then stale and excess tests go.
pub fn fold(observed: &mut Observed, ran: RunObservations, run: u64) {
    observed.version = 1;
    for (nodeid, mut seen) in ran {
        seen.run = run;
        while seen.keys.len() > MAX_KEYS {
            let last = seen.keys.keys().next_back().cloned();
            if let Some(k) = last {
                seen.keys.remove(&k);
            }
        }
        let triage = observed.tests.get(&nodeid).and_then(|t| t.triage.clone());
        seen.triage = seen.triage.or(triage);
        observed.tests.insert(nodeid, seen);
    }
    bound(observed, run);
}

fn bound(observed: &mut Observed, run: u64) {
    let oldest_kept = run.saturating_sub(FORGET_AFTER - 1);
    observed.tests.retain(|_, t| t.run >= oldest_kept);
    if observed.tests.len() > MAX_TESTS {
        let mut by_age: Vec<(u64, String)> = observed
            .tests
            .iter()
            .map(|(k, t)| (t.run, k.clone()))
            .collect();
        by_age.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, nodeid) in by_age.into_iter().skip(MAX_TESTS) {
            observed.tests.remove(&nodeid);
        }
    }
}

/// Several memories (shards of one matrix) into one: per test the newest
/// run wins (more keys on a tie, then the larger record), triage likewise.
/// Independent of the inputs' order.
pub fn merge_all(inputs: &[Observed]) -> Observed {
    let mut out = Observed {
        version: 1,
        tests: BTreeMap::new(),
    };
    let rank = |t: &ObservedTest| {
        (
            t.run,
            t.keys.len(),
            serde_json::to_string(t).unwrap_or_default(),
        )
    };
    for input in inputs {
        for (nodeid, t) in &input.tests {
            match out.tests.get(nodeid) {
                Some(old) if rank(old) >= rank(t) => {}
                _ => {
                    out.tests.insert(nodeid.clone(), t.clone());
                }
            }
        }
    }
    // Triage found by any shard holds: the newest one.
    for input in inputs {
        for (nodeid, t) in &input.tests {
            let Some(tri) = &t.triage else { continue };
            if let Some(slot) = out.tests.get_mut(nodeid) {
                let newer = slot.triage.as_ref().is_none_or(|old| {
                    (old.run, &old.sharers, &old.digest) < (tri.run, &tri.sharers, &tri.digest)
                });
                if newer {
                    slot.triage = Some(tri.clone());
                }
            }
        }
    }
    if let Some(run) = out.tests.values().map(|t| t.run).max() {
        bound(&mut out, run);
    }
    out
}

/// `run --forget NODEID`: drops the triage of the test (a case nodeid names
/// its function); true when there was one.
pub fn forget(observed: &mut Observed, nodeid: &str) -> bool {
    let function = crate::plan::function_nodeid(nodeid);
    observed
        .tests
        .get_mut(function)
        .and_then(|t| t.triage.take())
        .is_some()
}

/// Tests whose observed resource keys overlap `nodeid`'s, sorted.
pub fn sharers_of(observed: &Observed, nodeid: &str) -> Vec<String> {
    let Some(me) = observed.tests.get(nodeid) else {
        return Vec::new();
    };
    let mine: Vec<&str> = me
        .keys
        .keys()
        .map(String::as_str)
        .filter(|k| key_kind(k) != KeyKind::Note)
        .collect();
    if mine.is_empty() {
        return Vec::new();
    }
    observed
        .tests
        .iter()
        .filter(|(other, _)| other.as_str() != nodeid)
        .filter(|(_, t)| {
            t.keys.keys().any(|k| {
                key_kind(k) != KeyKind::Note
                    && mine.iter().any(|m| crate::classify::keys_overlap(m, k))
            })
        })
        .map(|(other, _)| other.clone())
        .collect()
}

/// What the analysis merges into a test's verdict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestObservation {
    /// Observed keys with their evidence, sorted.
    pub facts: Vec<(String, Evidence)>,
    /// The worker's peak RSS grew by this much (MB), or the test used this
    /// much CPU (s), over the `heavy-*` settings.
    pub heavy: Option<String>,
    /// A triage that still holds: run with these tests (none: serially).
    pub triage: Option<Vec<String>>,
}

/// The observations the analysis uses, by function nodeid: triage whose
/// test file changed since is dropped here (the file on disk decides).
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub tests: BTreeMap<String, TestObservation>,
    /// Tests that are sharers of a triaged test: nodeid -> the triaged tests.
    pub joined: BTreeMap<String, BTreeSet<String>>,
}

impl Observations {
    pub fn prepare(root: &Path, observed: &Observed, heavy_rss_mb: f64, heavy_cpu_s: f64) -> Self {
        let mut out = Observations::default();
        let mut digests: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for (nodeid, t) in &observed.tests {
            let heavy = if heavy_rss_mb > 0.0 && t.rss_mb >= heavy_rss_mb {
                Some(format!(
                    "its worker's peak memory grew by {:.0} MB (heavy-rss-mb = {heavy_rss_mb})",
                    t.rss_mb
                ))
            } else if heavy_cpu_s > 0.0 && t.cpu_s >= heavy_cpu_s {
                Some(format!(
                    "it used {:.1}s of CPU (heavy-cpu-s = {heavy_cpu_s})",
                    t.cpu_s
                ))
            } else {
                None
            };
            let triage = t.triage.as_ref().filter(|tri| {
                let current = digests.entry(tri.file.as_str()).or_insert_with(|| {
                    std::fs::read(root.join(&tri.file)).ok().map(|b| digest(&b))
                });
                current.as_deref() == Some(tri.digest.as_str())
            });
            if let Some(tri) = triage {
                for s in &tri.sharers {
                    out.joined
                        .entry(s.clone())
                        .or_default()
                        .insert(nodeid.clone());
                }
            }
            let facts: Vec<(String, Evidence)> =
                t.keys.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
            if facts.is_empty() && heavy.is_none() && triage.is_none() {
                continue;
            }
            out.tests.insert(
                nodeid.clone(),
                TestObservation {
                    facts,
                    heavy,
                    triage: triage.map(|t| t.sharers.clone()),
                },
            );
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }
}

/// The plugin's per-process file (`observed-<phase>-<worker>.json`).
#[derive(Debug, Default, Deserialize)]
pub struct PluginFile {
    #[serde(default)]
    pub tests: BTreeMap<String, PluginTest>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PluginTest {
    #[serde(default)]
    pub keys: BTreeMap<String, (String, String, Option<String>, Option<String>)>,
    #[serde(default)]
    pub rss_mb: f64,
    #[serde(default)]
    pub cpu_s: f64,
}

/// Adds one plugin file to what this run observed (cases of one function,
/// and the same test seen in several phases, add up).
pub fn add_plugin_file(ran: &mut RunObservations, file: PluginFile) {
    for (nodeid, t) in file.tests {
        let slot = ran.entry(nodeid).or_default();
        for (key, (access, at, fixture, stage)) in t.keys {
            slot.keys.entry(key).or_insert(Evidence {
                access,
                at,
                fixture,
                stage,
            });
        }
        slot.rss_mb = slot.rss_mb.max(t.rss_mb);
        slot.cpu_s = crate::plan::round3(slot.cpu_s + t.cpu_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(keys: &[&str]) -> ObservedTest {
        ObservedTest {
            keys: keys
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        Evidence {
                            access: "write".into(),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn newest_run_wins_and_triage_survives_it() {
        let mut o = Observed::default();
        let mut ran = RunObservations::new();
        ran.insert("t.py::a".into(), seen(&["path:/tmp/x"]));
        fold(&mut o, ran, 1);
        o.tests.get_mut("t.py::a").unwrap().triage = Some(Triage {
            run: 1,
            sharers: vec![],
            file: "t.py".into(),
            digest: "0".into(),
        });
        let mut ran = RunObservations::new();
        ran.insert("t.py::a".into(), seen(&["port:9"]));
        fold(&mut o, ran, 2);
        let a = &o.tests["t.py::a"];
        assert_eq!(a.keys.keys().collect::<Vec<_>>(), ["port:9"]);
        assert_eq!(a.run, 2);
        assert!(a.triage.is_some());
        for run in 3..3 + FORGET_AFTER {
            fold(&mut o, RunObservations::new(), run);
        }
        assert!(o.tests.is_empty(), "not seen for {FORGET_AFTER} runs");
    }

    #[test]
    fn sharers_overlap_by_key_and_directory() {
        let mut o = Observed::default();
        o.tests.insert("t.py::a".into(), seen(&["path:./out"]));
        o.tests
            .insert("t.py::b".into(), seen(&["path:./out/x.txt"]));
        o.tests.insert("t.py::c".into(), seen(&["path:./outer"]));
        o.tests.insert("t.py::d".into(), seen(&["process:git"]));
        o.tests.insert("t.py::e".into(), seen(&["process:git"]));
        assert_eq!(sharers_of(&o, "t.py::a"), ["t.py::b"]);
        assert!(sharers_of(&o, "t.py::d").is_empty(), "notes are not shared");
        assert!(!forget(&mut o, "t.py::a[1]"));
    }

    #[test]
    fn merging_shards_is_order_free() {
        let mut a = Observed::default();
        let mut b = Observed::default();
        let mut x = seen(&["path:/tmp/a"]);
        x.run = 3;
        let mut y = seen(&["path:/tmp/b"]);
        y.run = 4;
        a.tests.insert("t.py::a".into(), x);
        b.tests.insert("t.py::a".into(), y);
        let ab = merge_all(&[a.clone(), b.clone()]);
        let ba = merge_all(&[b, a]);
        assert_eq!(ab, ba);
        assert!(ab.tests["t.py::a"].keys.contains_key("path:/tmp/b"));
    }

    #[test]
    fn corrupt_files_are_ignored_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".isoaudit")).unwrap();
        std::fs::write(dir.path().join(OBSERVED), "{not json").unwrap();
        let (o, warning) = load(dir.path());
        assert!(o.tests.is_empty());
        assert!(warning
            .unwrap()
            .contains("not an isoaudit observation file"));
        let mut good = Observed::default();
        good.tests.insert("t.py::a".into(), seen(&["env:X"]));
        save(dir.path(), &good).unwrap();
        assert_eq!(load(dir.path()), (good, None));
    }

    #[test]
    fn triage_lapses_when_the_test_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.py"), "def test_a(): pass\n").unwrap();
        let mut o = Observed::default();
        let mut t = seen(&[]);
        t.triage = Some(Triage {
            run: 1,
            sharers: vec!["t.py::b".into()],
            file: "t.py".into(),
            digest: digest(b"def test_a(): pass\n"),
        });
        o.tests.insert("t.py::a".into(), t);
        let prepared = Observations::prepare(dir.path(), &o, 0.0, 0.0);
        assert_eq!(
            prepared.tests["t.py::a"].triage.as_deref(),
            Some(&["t.py::b".to_string()][..])
        );
        assert!(prepared.joined["t.py::b"].contains("t.py::a"));
        std::fs::write(dir.path().join("t.py"), "def test_a(): assert 1\n").unwrap();
        let prepared = Observations::prepare(dir.path(), &o, 0.0, 0.0);
        assert!(!prepared.tests.contains_key("t.py::a"));
    }
}
