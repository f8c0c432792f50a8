//! `isoaudit history merge DIR...`: folds the `.isoaudit/` directories of
//! several runs (the shards of a CI matrix, downloaded as artifacts) into
//! the local one, and writes one `reports/ci_timings.md` for the whole
//! matrix from the shards' `last-run.json`. Owns `last-run.json` (what one
//! `run` did, for a later merge) and the matrix report; the durations and
//! the run log keep their formats (`plan::durations`, `history`).
//!
//! The result depends on the inputs, never on their order: for each test
//! the most recently seen duration wins (the longer one on a tie), run
//! records of one matrix run fold into one, and everything is sorted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::history::{self, History, RunRecord, Shard, HISTORY_RUNS, KEEP_RUNS};
use super::report::{self, seconds, speedup, RunSummary, CI_TIMINGS};
use crate::plan::durations::{Durations, HISTORY_DURATIONS};

/// What the last `run` did, relative to the project root.
pub const LAST_RUN: &str = ".isoaudit/last-run.json";

/// `last-run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub version: u32,
    #[serde(default)]
    pub shard: Option<Shard>,
    pub summary: RunSummary,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("`{0}`: no such directory")]
    Missing(String),
    #[error(
        "`{0}` holds no isoaudit history: expected `.isoaudit/` in it, or durations.json, \
         history.json or last-run.json"
    )]
    NotHistory(String),
    #[error("`{path}`: {message}")]
    Unreadable { path: String, message: String },
    #[error("cannot write {what}: {source}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `last-run.json` under `root`, atomically.
pub fn save_last_run(
    root: &Path,
    summary: &RunSummary,
    shard: Option<Shard>,
) -> std::io::Result<()> {
    let last = LastRun {
        version: 1,
        shard,
        summary: summary.clone(),
    };
    let mut text = serde_json::to_string_pretty(&last).map_err(std::io::Error::other)?;
    text.push('\n');
    history::write_atomic(&root.join(LAST_RUN), text.as_bytes())
}

/// One `.isoaudit/` directory, read.
#[derive(Debug, Clone, Default)]
struct Input {
    durations: Durations,
    history: History,
    last_run: Option<LastRun>,
    observed: crate::observed::Observed,
}

/// The `.isoaudit/` a command-line DIR names: `DIR/.isoaudit` when there is
/// one, else DIR itself.
fn history_dir(dir: &Path) -> PathBuf {
    let nested = dir.join(".isoaudit");
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

fn read_input(dir: &Path, shown: &str, required: bool) -> Result<Input, MergeError> {
    if !dir.is_dir() {
        return if required {
            Err(MergeError::Missing(shown.to_string()))
        } else {
            Ok(Input::default())
        };
    }
    let file = |name: &str| dir.join(name);
    let names = [
        "durations.json",
        "history.json",
        "last-run.json",
        "observed.json",
    ];
    if required && !names.iter().any(|n| file(n).is_file()) {
        return Err(MergeError::NotHistory(shown.to_string()));
    }
    let unreadable = |name: &str, message: String| MergeError::Unreadable {
        path: format!("{}/{name}", shown.trim_end_matches('/')),
        message,
    };
    let mut input = Input::default();
    if file("observed.json").is_file() {
        let (observed, warning) =
            crate::observed::read(&file("observed.json"), &format!("{shown}/observed.json"));
        if let Some(w) = warning {
            eprintln!("isoaudit history merge: warning: {w}");
        }
        input.observed = observed;
    }
    if file("durations.json").is_file() {
        input.durations = Durations::load(&file("durations.json"))
            .map_err(|e| unreadable("durations.json", e.to_string()))?;
    }
    for (name, slot) in [("history.json", 0), ("last-run.json", 1)] {
        let path = file(name);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| unreadable(name, e.to_string()))?;
        if slot == 0 {
            input.history = serde_json::from_str(&text)
                .map_err(|e| unreadable(name, format!("not an isoaudit run history ({e})")))?;
        } else {
            input.last_run = Some(
                serde_json::from_str(&text)
                    .map_err(|e| unreadable(name, format!("not an isoaudit last run ({e})")))?,
            );
        }
    }
    Ok(input)
}

/// What a merge did, for the command's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub inputs: usize,
    /// Tests in the merged `observed.json`.
    pub observed: usize,
    pub durations: usize,
    pub runs: usize,
    /// The shards whose last run went into the report, if one was written.
    pub report: Option<MatrixRun>,
}

/// The shards of one matrix run that a report covers.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRun {
    pub run: u64,
    pub count: usize,
    pub present: Vec<usize>,
}

/// Merges the histories in `dirs` (relative to `cwd`, or absolute) into
/// `root/.isoaudit/`, and writes `root/reports/ci_timings.md` for the
/// newest matrix run among them.
pub fn merge_into(root: &Path, cwd: &Path, dirs: &[PathBuf]) -> Result<Merged, MergeError> {
    let mut inputs = vec![read_input(&root.join(".isoaudit"), ".isoaudit", false)?];
    // Order-free: the inputs are read sorted by path.
    let mut sorted: Vec<(PathBuf, String)> = dirs
        .iter()
        .map(|d| (crate::config::absolutize(cwd, d), d.display().to_string()))
        .collect();
    sorted.sort();
    sorted.dedup_by(|a, b| a.0 == b.0);
    for (dir, shown) in &sorted {
        if !dir.is_dir() {
            return Err(MergeError::Missing(shown.clone()));
        }
        inputs.push(read_input(&history_dir(dir), shown, true)?);
    }

    let (durations, last_seen) = merge_durations(&inputs);
    let runs = merge_runs(&inputs);
    let hist = History {
        version: 1,
        runs,
        last_seen,
    };
    history::save(root, &durations, &hist).map_err(|source| MergeError::Write {
        what: format!("{HISTORY_DURATIONS} and {HISTORY_RUNS}"),
        source,
    })?;
    let observed_inputs: Vec<crate::observed::Observed> =
        inputs.iter().map(|i| i.observed.clone()).collect();
    let observed = crate::observed::merge_all(&observed_inputs);
    if !observed.tests.is_empty() {
        crate::observed::save(root, &observed).map_err(|source| MergeError::Write {
            what: crate::observed::OBSERVED.into(),
            source,
        })?;
    }

    let shards = newest_matrix(&inputs);
    let report = match shards.first() {
        None => None,
        Some(first) => {
            let text = render_matrix(&shards, &hist.runs);
            history::write_atomic(&root.join(CI_TIMINGS), text.as_bytes()).map_err(|source| {
                MergeError::Write {
                    what: CI_TIMINGS.into(),
                    source,
                }
            })?;
            Some(MatrixRun {
                run: first.summary.run,
                count: first.shard.map_or(1, |s| s.count),
                present: shards
                    .iter()
                    .filter_map(|s| s.shard.map(|s| s.index))
                    .collect(),
            })
        }
    };
    Ok(Merged {
        inputs: sorted.len(),
        observed: observed.tests.len(),
        durations: durations.len(),
        runs: hist.runs.len(),
        report,
    })
}

/// Per test: the duration seen in the newest run (by the run log's
/// `last_seen`), the longer one when runs tie.
fn merge_durations(inputs: &[Input]) -> (Durations, BTreeMap<String, u64>) {
    let mut best: BTreeMap<String, (Option<u64>, f64)> = BTreeMap::new();
    for input in inputs {
        for (nodeid, secs) in input.durations.iter() {
            let seen = input.history.last_seen.get(nodeid).copied();
            let candidate = (seen, secs);
            match best.get(nodeid) {
                Some(old) if !newer(candidate, *old) => {}
                _ => {
                    best.insert(nodeid.to_string(), candidate);
                }
            }
        }
    }
    let mut durations = Durations::new();
    let mut last_seen = BTreeMap::new();
    for (nodeid, (seen, secs)) in best {
        durations.set(&nodeid, secs);
        if let Some(seen) = seen {
            last_seen.insert(nodeid, seen);
        }
    }
    (durations, last_seen)
}

fn newer(a: (Option<u64>, f64), b: (Option<u64>, f64)) -> bool {
    match a.0.cmp(&b.0) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => a.1.total_cmp(&b.1).is_gt(),
    }
}

/// The run logs, one record per run: the records of one run's shards fold
/// into one matrix record (tests and test time add up, the wall time is the
/// slowest shard's, the worst exit wins); the same record seen in several
/// inputs counts once.
fn merge_runs(inputs: &[Input]) -> Vec<RunRecord> {
    let mut plain: BTreeMap<u64, RunRecord> = BTreeMap::new();
    let mut sharded: BTreeMap<(u64, usize), BTreeMap<usize, RunRecord>> = BTreeMap::new();
    let key = |r: &RunRecord| serde_json::to_string(r).unwrap_or_default();
    for record in inputs.iter().flat_map(|i| i.history.runs.iter()) {
        match record.shard {
            Some(s) => {
                let slot = sharded.entry((record.run, s.count)).or_default();
                match slot.get(&s.index) {
                    Some(old) if key(old) >= key(record) => {}
                    _ => {
                        slot.insert(s.index, record.clone());
                    }
                }
            }
            None => match plain.get(&record.run) {
                Some(old) if key(old) >= key(record) => {}
                _ => {
                    plain.insert(record.run, record.clone());
                }
            },
        }
    }
    for ((run, count), shards) in sharded {
        let records: Vec<&RunRecord> = shards.values().collect();
        let exit_codes: Vec<i32> = records.iter().map(|r| r.exit_code).collect();
        let folded = RunRecord {
            run,
            workers: records.iter().map(|r| r.workers).sum(),
            tests: records.iter().map(|r| r.tests).sum(),
            wall_seconds: records.iter().map(|r| r.wall_seconds).fold(0.0, f64::max),
            serial_seconds: crate::plan::round3(records.iter().map(|r| r.serial_seconds).sum()),
            exit_code: worst_exit(&exit_codes),
            isolation_bugs: records.iter().map(|r| r.isolation_bugs).sum(),
            failed: records.iter().map(|r| r.failed).sum(),
            shard: None,
            shards: Some(count),
        };
        // The folded record replaces one folded before from the same shards.
        plain.insert(run, folded);
    }
    let mut runs: Vec<RunRecord> = plain.into_values().collect();
    if runs.len() > KEEP_RUNS {
        runs.drain(..runs.len() - KEEP_RUNS);
    }
    runs
}

/// pytest's exit codes of several runs: the worst, where "no tests" (5)
/// counts only when nothing else ran.
fn worst_exit(codes: &[i32]) -> i32 {
    codes
        .iter()
        .copied()
        .filter(|c| *c != 5)
        .max()
        .unwrap_or(if codes.is_empty() { 0 } else { 5 })
}

/// The last runs of the newest matrix run among the inputs, one per shard,
/// by shard index.
fn newest_matrix(inputs: &[Input]) -> Vec<LastRun> {
    let all: Vec<&LastRun> = inputs.iter().filter_map(|i| i.last_run.as_ref()).collect();
    let newest = all
        .iter()
        .filter(|l| l.shard.is_some())
        .map(|l| (l.summary.run, l.shard.map_or(0, |s| s.count)))
        .max();
    let Some((run, count)) = newest else {
        return Vec::new();
    };
    let mut by_index: BTreeMap<usize, LastRun> = BTreeMap::new();
    for l in all {
        if let Some(s) = l.shard {
            if l.summary.run == run && s.count == count {
                by_index.entry(s.index).or_insert_with(|| l.clone());
            }
        }
    }
    by_index.into_values().collect()
}

/// `reports/ci_timings.md` for a matrix: one row per shard, the matrix's
/// wall time (its slowest shard) against the summed test time, what went
/// wrong in any shard, and the trend of the merged run log.
pub fn render_matrix(shards: &[LastRun], trend: &[RunRecord]) -> String {
    let mut out = String::new();
    let count = shards.first().and_then(|s| s.shard).map_or(1, |s| s.count);
    let run = shards.first().map_or(0, |s| s.summary.run);
    let _ = writeln!(out, "# CI timings\n");
    let _ = writeln!(
        out,
        "Run {run} of `isoaudit run` as a matrix of {count} shard(s), merged by \
         `isoaudit history merge`{}.\n",
        if shards.len() == count {
            String::new()
        } else {
            format!(
                "; only {} of them reported (missing: {})",
                shards.len(),
                (1..=count)
                    .filter(|i| !shards
                        .iter()
                        .any(|s| s.shard.is_some_and(|x| x.index == *i)))
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let _ = writeln!(
        out,
        "| shard | tests | workers | wall time | test time | exit |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let mut wall: f64 = 0.0;
    let mut serial = 0.0;
    let mut tests = 0;
    let mut codes = Vec::new();
    for s in shards {
        let label = s
            .shard
            .map_or_else(|| "–".into(), |x| format!("{}/{}", x.index, x.count));
        let (w, t, n) = (
            s.summary.wall_seconds(),
            s.summary.serial_seconds(),
            s.summary.tests(),
        );
        wall = wall.max(w);
        serial += t;
        tests += n;
        codes.push(s.summary.exit_code);
        let _ = writeln!(
            out,
            "| {label} | {n} | {} | {} | {} | {} |",
            s.summary.workers,
            seconds(w),
            if n == 0 { "–".into() } else { seconds(t) },
            s.summary.exit_code
        );
    }
    let exit = worst_exit(&codes);
    let _ = writeln!(
        out,
        "| **matrix** | {tests} | | {} | {} | {exit} |\n",
        seconds(wall),
        if tests == 0 {
            "–".into()
        } else {
            seconds(serial)
        }
    );
    let combined = combine(shards);
    let _ = writeln!(
        out,
        "- summed serial time (the test durations added up): {}",
        seconds(serial)
    );
    let _ = writeln!(
        out,
        "- wall time of the matrix (its slowest shard): {}",
        seconds(wall)
    );
    let _ = writeln!(
        out,
        "- speedup against the summed serial time: {}",
        speedup(serial, wall)
    );
    let _ = writeln!(
        out,
        "- result: {}\n",
        report::result_word(exit, combined.isolation_bugs.len())
    );

    let _ = writeln!(out, "## Phases\n");
    let _ = writeln!(
        out,
        "| shard | phase | tests | workers | wall time | test time | exit |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for s in shards {
        let label = s
            .shard
            .map_or_else(|| "–".into(), |x| format!("{}/{}", x.index, x.count));
        for p in &s.summary.phases {
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {} | {} | {} |",
                p.label,
                p.tests,
                p.workers,
                seconds(p.wall_seconds),
                if p.tests == 0 {
                    "–".into()
                } else {
                    seconds(p.test_seconds)
                },
                p.exit_code
            );
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## Isolation bugs\n");
    if combined.isolation_bugs.is_empty() {
        let _ = writeln!(
            out,
            "None found: no test failed in parallel and passed alone.\n"
        );
    } else {
        let _ = writeln!(out, "| test | unit | resources |");
        let _ = writeln!(out, "|---|---|---|");
        for bug in &combined.isolation_bugs {
            let resources = report::resource_list(&bug.resources);
            let _ = writeln!(out, "| `{}` | `{}` | {resources} |", bug.nodeid, bug.unit);
        }
        out.push('\n');
    }
    report::render_faults(&mut out, &combined);
    report::render_failures(&mut out, &combined);

    let _ = writeln!(out, "## Trend (last {} runs)\n", report::TREND_ROWS);
    let _ = writeln!(
        out,
        "| run | shards | workers | tests | wall time | serial time | speedup | result |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---|");
    let start = trend.len().saturating_sub(report::TREND_ROWS);
    for r in trend[start..].iter().rev() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.run,
            r.shards.unwrap_or(1),
            r.workers,
            r.tests,
            seconds(r.wall_seconds),
            if r.tests == 0 {
                "–".into()
            } else {
                seconds(r.serial_seconds)
            },
            speedup(r.serial_seconds, r.wall_seconds),
            report::result_word(r.exit_code, r.isolation_bugs)
        );
    }
    out
}

/// The shards' findings as one summary, sorted and without repeats, for
/// the sections a single run's report shares.
fn combine(shards: &[LastRun]) -> RunSummary {
    let mut c = RunSummary {
        run: shards.first().map_or(0, |s| s.summary.run),
        workers: shards.iter().map(|s| s.summary.workers).sum(),
        phases: Vec::new(),
        isolation_bugs: Vec::new(),
        failures: Vec::new(),
        unknown: shards.iter().map(|s| s.summary.unknown).sum(),
        faults: Vec::new(),
        collection_errors: Vec::new(),
        left_behind: Vec::new(),
        not_run: Vec::new(),
        stops: Vec::new(),
        timeline: Vec::new(),
        exit_code: worst_exit(
            &shards
                .iter()
                .map(|s| s.summary.exit_code)
                .collect::<Vec<_>>(),
        ),
    };
    for s in shards {
        let label = s
            .shard
            .map_or_else(String::new, |x| format!("shard {}/{}: ", x.index, x.count));
        c.isolation_bugs
            .extend(s.summary.isolation_bugs.iter().cloned());
        c.failures.extend(s.summary.failures.iter().cloned());
        c.faults
            .extend(s.summary.faults.iter().cloned().map(|mut f| {
                f.phase = format!("{label}{}", f.phase);
                f
            }));
        c.collection_errors
            .extend(s.summary.collection_errors.iter().cloned());
        c.left_behind.extend(s.summary.left_behind.iter().cloned());
        c.not_run.extend(s.summary.not_run.iter().cloned());
        c.stops
            .extend(s.summary.stops.iter().map(|m| format!("{label}{m}")));
    }
    fn tidy<T: Ord>(v: &mut Vec<T>) {
        v.sort();
        v.dedup();
    }
    tidy(&mut c.isolation_bugs);
    tidy(&mut c.failures);
    tidy(&mut c.faults);
    tidy(&mut c.collection_errors);
    tidy(&mut c.left_behind);
    tidy(&mut c.not_run);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run: u64, shard: Option<(usize, usize)>, tests: usize, wall: f64) -> RunRecord {
        RunRecord {
            run,
            workers: 2,
            tests,
            wall_seconds: wall,
            serial_seconds: wall * 2.0,
            exit_code: 0,
            isolation_bugs: 0,
            failed: 0,
            shard: shard.map(|(index, count)| Shard { index, count }),
            shards: None,
        }
    }

    #[test]
    fn shards_observations_merge_into_the_local_memory() {
        let root = tempfile::tempdir().unwrap();
        let shards = tempfile::tempdir().unwrap();
        for (i, key) in [(1, "path:/tmp/a.lock"), (2, "port:20001")] {
            let dir = shards.path().join(format!("shard-{i}/.isoaudit"));
            std::fs::create_dir_all(&dir).unwrap();
            let text = format!(
                r#"{{"version": 1, "tests": {{"t.py::test_{i}": {{"run": 4, "keys": {{"{key}": {{"access": "write"}}}}}}}}}}"#
            );
            std::fs::write(dir.join("observed.json"), text).unwrap();
        }
        let dirs = [PathBuf::from("shard-2"), PathBuf::from("shard-1")];
        let merged = merge_into(root.path(), shards.path(), &dirs).unwrap();
        assert_eq!(merged.observed, 2);
        let (memory, warning) = crate::observed::load(root.path());
        assert!(warning.is_none());
        assert!(memory.tests["t.py::test_1"]
            .keys
            .contains_key("path:/tmp/a.lock"));
        assert!(memory.tests["t.py::test_2"].keys.contains_key("port:20001"));
    }

    fn input(durations: &[(&str, f64, u64)], runs: Vec<RunRecord>) -> Input {
        let mut d = Durations::new();
        let mut h = History {
            version: 1,
            runs,
            last_seen: BTreeMap::new(),
        };
        for (nodeid, secs, seen) in durations {
            d.set(nodeid, *secs);
            h.last_seen.insert(nodeid.to_string(), *seen);
        }
        Input {
            durations: d,
            history: h,
            last_run: None,
            observed: Default::default(),
        }
    }

    #[test]
    fn newest_duration_wins_then_the_longer_whatever_the_order() {
        let a = input(&[("t.py::x", 1.0, 3), ("t.py::y", 2.0, 2)], vec![]);
        let b = input(
            &[
                ("t.py::x", 5.0, 2),
                ("t.py::y", 4.0, 2),
                ("t.py::z", 1.0, 1),
            ],
            vec![],
        );
        let (d1, s1) = merge_durations(&[a.clone(), b.clone()]);
        let (d2, s2) = merge_durations(&[b, a]);
        assert_eq!(d1, d2);
        assert_eq!(s1, s2);
        assert_eq!(d1.get("t.py::x"), Some(1.0), "seen in run 3 beats run 2");
        assert_eq!(d1.get("t.py::y"), Some(4.0), "a tie keeps the longer");
        assert_eq!(d1.get("t.py::z"), Some(1.0));
        assert_eq!(s1.get("t.py::x"), Some(&3));
    }

    #[test]
    fn shards_of_one_run_fold_into_one_record_once() {
        let base = record(1, None, 10, 5.0);
        let one = input(&[], vec![base.clone(), record(2, Some((1, 2)), 6, 3.0)]);
        let two = input(&[], vec![base.clone(), record(2, Some((2, 2)), 4, 4.0)]);
        let runs = merge_runs(&[one.clone(), two.clone()]);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0], base, "a record every shard carries counts once");
        let matrix = &runs[1];
        assert_eq!((matrix.run, matrix.tests, matrix.workers), (2, 10, 4));
        assert_eq!(matrix.wall_seconds, 4.0, "the slowest shard");
        assert_eq!(matrix.serial_seconds, 14.0, "test time adds up");
        assert_eq!((matrix.shard, matrix.shards), (None, Some(2)));
        // Merging the folded history with the shards again changes nothing.
        let folded = input(&[], runs.clone());
        assert_eq!(merge_runs(&[folded, two, one]), runs);
    }

    #[test]
    fn worst_exit_ignores_no_tests_unless_nothing_ran() {
        assert_eq!(worst_exit(&[0, 5, 1]), 1);
        assert_eq!(worst_exit(&[5, 0]), 0);
        assert_eq!(worst_exit(&[5, 5]), 5);
    }

    fn shard_run(index: usize, wall: f64, exit_code: i32) -> LastRun {
        use crate::run::report::{IsolationBug, PhaseRun};
        LastRun {
            version: 1,
            shard: Some(Shard { index, count: 2 }),
            summary: RunSummary {
                run: 4,
                workers: 2,
                phases: vec![PhaseRun {
                    label: "1 parallel".into(),
                    workers: 2,
                    exit_code,
                    wall_seconds: wall,
                    tests: 10 + index,
                    test_seconds: wall * 1.5,
                    is_rerun: false,
                }],
                isolation_bugs: if index == 2 {
                    vec![IsolationBug {
                        nodeid: "tests/test_b.py::test_y".into(),
                        unit: "test:tests/test_b.py::test_y".into(),
                        resources: Vec::new(),
                        planned: true,
                    }]
                } else {
                    Vec::new()
                },
                failures: Vec::new(),
                unknown: 0,
                faults: Vec::new(),
                collection_errors: Vec::new(),
                left_behind: Vec::new(),
                not_run: Vec::new(),
                stops: Vec::new(),
                timeline: Vec::new(),
                exit_code,
            },
        }
    }

    #[test]
    fn matrix_report_has_a_row_per_shard_and_the_slowest_as_wall_time() {
        let shards = vec![shard_run(1, 3.0, 0), shard_run(2, 4.0, 1)];
        let trend = vec![
            record(3, None, 20, 6.0),
            RunRecord {
                shards: Some(2),
                exit_code: 1,
                isolation_bugs: 1,
                ..record(4, None, 23, 4.0)
            },
        ];
        let text = render_matrix(&shards, &trend);
        assert!(
            text.contains("| **matrix** | 23 | | 4.00s | 10.50s | 1 |"),
            "{text}"
        );
        assert!(
            text.contains("speedup against the summed serial time: 2.62x"),
            "{text}"
        );
        let missing = render_matrix(&shards[..1], &trend);
        assert!(
            missing.contains("only 1 of them reported (missing: 2)"),
            "{missing}"
        );
        insta::assert_snapshot!(text);
    }
}
