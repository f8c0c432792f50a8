//! The run history under `.isoaudit/`: `durations.json` (`{function nodeid:
//! seconds}`, the planner's input, format owned by `plan::durations`) and
//! `history.json`, the run log behind the trend table:
//!
//! ```json
//! {"version": 1,
//!  "runs": [{"run": 7, "workers": 2, "tests": 48, "wall_seconds": 5.2,
//!            "serial_seconds": 9.8, "exit_code": 0, "isolation_bugs": 0,
//!            "failed": 0}],
//!  "last_seen": {"tests/test_a.py::test_x": 7}}
//! ```
//!
//! Bounded: the last [`KEEP_RUNS`] runs; a test not seen in the last
//! [`FORGET_AFTER`] runs loses its duration; at most [`MAX_TESTS`] durations.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::durations::{Durations, HISTORY_DURATIONS};

pub const HISTORY_RUNS: &str = ".isoaudit/history.json";
pub const KEEP_RUNS: usize = 50;
pub const FORGET_AFTER: u64 = 20;
pub const MAX_TESTS: usize = 100_000;

/// One line of the trend table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: u64,
    pub workers: usize,
    pub tests: usize,
    pub wall_seconds: f64,
    pub serial_seconds: f64,
    pub exit_code: i32,
    pub isolation_bugs: usize,
    pub failed: usize,
    /// The shard of a CI matrix this run was (`--shards K --shard I`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// For a matrix folded by `history merge`: how many shards it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
}

/// Shard I (1-based) of K.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub version: u32,
    pub runs: Vec<RunRecord>,
    pub last_seen: BTreeMap<String, u64>,
}

impl History {
    pub fn next_run(&self) -> u64 {
        self.runs.last().map_or(1, |r| r.run + 1)
    }
}

/// Reads both files; a missing file is an empty history, an unreadable one
/// is reported and replaced (it is a cache, not user data).
pub fn load(root: &Path) -> (Durations, History, Vec<String>) {
    let mut warnings = Vec::new();
    let durations_path = root.join(HISTORY_DURATIONS);
    let durations = if durations_path.is_file() {
        Durations::load(&durations_path).unwrap_or_else(|e| {
            warnings.push(format!("{e}; starting a new one"));
            Durations::new()
        })
    } else {
        Durations::new()
    };
    let runs_path = root.join(HISTORY_RUNS);
    let history = match std::fs::read_to_string(&runs_path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            warnings.push(format!(
                "{HISTORY_RUNS}: not an isoaudit run history ({e}); starting a new one"
            ));
            History::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => History::default(),
        Err(e) => {
            warnings.push(format!(
                "cannot read {HISTORY_RUNS}: {e}; starting a new one"
            ));
            History::default()
        }
    };
    (durations, history, warnings)
}

/// Folds one run into the history: the durations of the functions it ran
/// replace the old ones (newest wins), then old runs and stale tests go.
pub fn merge(durations: &mut Durations, history: &mut History, ran: &Durations, record: RunRecord) {
    let run = record.run;
    // Entries that predate the run log count as seen now, so that a
    // hand-made durations file is not dropped on the first run.
    for (nodeid, _) in durations.iter() {
        history.last_seen.entry(nodeid.to_string()).or_insert(run);
    }
    for (nodeid, seconds) in ran.iter() {
        durations.set(nodeid, seconds);
        history.last_seen.insert(nodeid.to_string(), run);
    }
    history.version = 1;
    history.runs.push(record);
    if history.runs.len() > KEEP_RUNS {
        let extra = history.runs.len() - KEEP_RUNS;
        history.runs.drain(..extra);
    }

    let oldest_kept = run.saturating_sub(FORGET_AFTER - 1);
    let mut by_age: Vec<(u64, String)> = history
        .last_seen
        .iter()
        .map(|(k, v)| (*v, k.clone()))
        .collect();
    // Newest first, then by nodeid: the cap keeps the recently seen.
    by_age.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (i, (seen, nodeid)) in by_age.iter().enumerate() {
        if *seen < oldest_kept || i >= MAX_TESTS {
            history.last_seen.remove(nodeid);
            durations.remove(nodeid);
        }
    }
    let stray: Vec<String> = durations
        .iter()
        .filter(|(k, _)| !history.last_seen.contains_key(*k))
        .map(|(k, _)| k.to_string())
        .collect();
    for nodeid in stray {
        durations.remove(&nodeid);
    }
}

/// Writes both files atomically.
pub fn save(root: &Path, durations: &Durations, history: &History) -> std::io::Result<()> {
    let mut runs = serde_json::to_string_pretty(history).map_err(std::io::Error::other)?;
    runs.push('\n');
    write_atomic(
        &root.join(HISTORY_DURATIONS),
        durations.to_json().as_bytes(),
    )?;
    write_atomic(&root.join(HISTORY_RUNS), runs.as_bytes())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`, so a reader sees the old file or the new one, never half. The
/// file keeps the permissions it had; a new one is readable by everyone
/// (0644), as an ordinary write would leave it, not the temporary file's 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => new_file_permissions(),
    };
    if let Some(p) = permissions {
        std::fs::set_permissions(tmp.path(), p)?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn atomic_writes_leave_ordinary_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("report.md");
        write_atomic(&fresh, b"one").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "a new file is readable by everyone");
        // An existing file keeps the mode its owner gave it.
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&fresh, b"two").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&fresh).unwrap(), b"two");
    }

    fn record(run: u64) -> RunRecord {
        RunRecord {
            run,
            workers: 2,
            tests: 1,
            wall_seconds: 1.0,
            serial_seconds: 1.0,
            exit_code: 0,
            isolation_bugs: 0,
            failed: 0,
            shard: None,
            shards: None,
        }
    }

    #[test]
    fn newest_duration_wins_and_stale_tests_are_forgotten() {
        let mut durations = Durations::new();
        durations.set("t.py::old", 9.0);
        let mut history = History::default();
        let mut ran = Durations::new();
        ran.add_case("t.py::a[1]", 1.0);
        ran.add_case("t.py::a[2]", 2.0);
        let run = history.next_run();
        merge(&mut durations, &mut history, &ran, record(run));
        assert_eq!(durations.get("t.py::a"), Some(3.0));
        assert_eq!(durations.get("t.py::old"), Some(9.0), "kept: seen now");

        let mut again = Durations::new();
        again.add_case("t.py::a", 0.5);
        for _ in 0..FORGET_AFTER {
            let run = history.next_run();
            merge(&mut durations, &mut history, &again, record(run));
        }
        assert_eq!(durations.get("t.py::a"), Some(0.5), "newest wins");
        assert_eq!(
            durations.get("t.py::old"),
            None,
            "not seen for {FORGET_AFTER} runs"
        );
        assert!(!history.last_seen.contains_key("t.py::old"));
        assert_eq!(history.runs.len(), FORGET_AFTER as usize + 1);
    }

    #[test]
    fn run_log_is_bounded() {
        let mut durations = Durations::new();
        let mut history = History::default();
        for _ in 0..KEEP_RUNS + 5 {
            let run = history.next_run();
            merge(&mut durations, &mut history, &Durations::new(), record(run));
        }
        assert_eq!(history.runs.len(), KEEP_RUNS);
        assert_eq!(history.runs[0].run, 6);
        assert_eq!(history.next_run(), KEEP_RUNS as u64 + 6);
    }

    #[test]
    fn save_and_load_round_trip_and_survive_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut durations = Durations::new();
        let mut history = History::default();
        let mut ran = Durations::new();
        ran.add_case("t.py::a", 1.25);
        merge(&mut durations, &mut history, &ran, record(1));
        save(dir.path(), &durations, &history).unwrap();
        let (d, h, warnings) = load(dir.path());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(d.get("t.py::a"), Some(1.25));
        assert_eq!(h, history);

        std::fs::write(dir.path().join(HISTORY_RUNS), "not json").unwrap();
        std::fs::write(dir.path().join(HISTORY_DURATIONS), "{\"x\": \"y\"}").unwrap();
        let (d, h, warnings) = load(dir.path());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(d.is_empty());
        assert_eq!(h, History::default());
    }
}
