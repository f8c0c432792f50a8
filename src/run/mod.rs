//! Executes a plan with pytest + pytest-xdist: one pytest process per phase,
//! the embedded plugin (`plugin.py`) choosing each phase's tests and handing
//! units to workers longest-first, a serial re-run of parallel failures, the
//! duration history and `reports/ci_timings.md`. Owns every child process
//! isoaudit starts; reads the plan, never changes it.

pub mod gantt;
pub mod history;
pub mod merge;
mod process;
pub mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::plan::durations::{junit_key, parse_junit, Durations, JunitCase};
use crate::plan::{function_nodeid, units_of, Plan};
use history::RunRecord;
use report::{
    Alone, CollectionError, Fault, FaultKind, IsolationBug, LeftBehind, PhaseRun, RunSummary,
    CI_TIMINGS,
};

/// The plugin, written beside the schedule and loaded with `-p`.
pub const PLUGIN_SOURCE: &str = include_str!("plugin.py");
const PLUGIN_MODULE: &str = "isoaudit_plugin";
/// The observer the plugin loads when `ISOAUDIT_OBSERVE=1`.
pub const OBSERVER_SOURCE: &str = include_str!("observe.py");
const OBSERVER_MODULE: &str = "isoaudit_observe";

/// How `execute` runs pytest.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Interpreter that has pytest (and pytest-xdist when workers > 1).
    pub python: PathBuf,
    /// W; 1 = one plain serial pytest run of everything.
    pub workers: usize,
    /// H, the workers of the heavy phase.
    pub heavy_workers: usize,
    /// Passed to every pytest invocation, before isoaudit's own options.
    pub pytest_args: Vec<String>,
    /// Files or directories handed to pytest (relative to the root or absolute).
    pub paths: Vec<PathBuf>,
    pub rerun_failures_serially: bool,
    /// Exit 0 when every failure is an isolation bug.
    pub allow_isolation_bugs: bool,
    /// Per-test limit in seconds; a test over it is stopped with its worker.
    pub timeout: Option<f64>,
    /// With no timeout: after this long without a test starting or
    /// finishing, say which tests are running where. None = never.
    pub stall_warning: Option<f64>,
    /// pytest's `--continue-on-collection-errors`, for every phase.
    pub continue_on_collection_errors: bool,
    /// Also write pytest-split's `.test_durations` (merged with the one there).
    pub store_durations: bool,
    /// Observe what each test touches (`observe.py`) and remember it in
    /// `.isoaudit/observed.json`.
    pub observe: bool,
}

/// `--stall-warning`'s default, in seconds.
pub const DEFAULT_STALL_WARNING: f64 = 300.0;

impl RunOptions {
    /// `run`'s defaults: H = min(2, W), failures re-run serially.
    pub fn new(python: PathBuf, workers: usize) -> Self {
        RunOptions {
            python,
            workers,
            heavy_workers: workers.clamp(1, 2),
            pytest_args: Vec::new(),
            paths: Vec::new(),
            rerun_failures_serially: true,
            allow_isolation_bugs: false,
            timeout: None,
            stall_warning: Some(DEFAULT_STALL_WARNING),
            continue_on_collection_errors: false,
            store_durations: false,
            observe: true,
        }
    }
}

impl RunOptions {
    /// `isoaudit run`'s options from its arguments and the project's
    /// `[tool.isoaudit.scheduler]`, for the plan `plan_opts` describes.
    /// Paths given relative to the current directory are made relative to
    /// the root, where pytest runs.
    pub fn from_args(
        project: &crate::config::Project,
        args: &crate::cli::RunArgs,
        plan_opts: &crate::plan::PlanOptions,
    ) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| project.root.clone());
        let paths = args
            .common
            .paths
            .iter()
            .map(|p| {
                let absolute = cwd.join(p);
                match absolute.strip_prefix(&project.root) {
                    Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
                    Ok(rel) => rel.to_path_buf(),
                    Err(_) => absolute,
                }
            })
            .collect();
        RunOptions {
            // pytest runs in the root: a relative interpreter path is taken
            // from where isoaudit was started; a bare name goes through PATH.
            python: match &args.python {
                Some(p) if p.components().count() > 1 && p.is_relative() => cwd.join(p),
                Some(p) => p.clone(),
                None => default_python(&project.root),
            },
            workers: plan_opts.workers,
            heavy_workers: plan_opts.heavy(),
            pytest_args: args.pytest_args.clone(),
            paths,
            rerun_failures_serially: project.settings.scheduler.rerun_failures_serially
                && !args.no_rerun_failures_serially,
            allow_isolation_bugs: args.allow_isolation_bugs,
            timeout: args.timeout.or(project.settings.timeout),
            stall_warning: Some(args.stall_warning).filter(|s| *s > 0.0),
            continue_on_collection_errors: args.continue_on_collection_errors
                || args
                    .pytest_args
                    .iter()
                    .any(|a| a == "--continue-on-collection-errors"),
            store_durations: args.store_durations,
            observe: !args.no_observe,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the Python interpreter `{python}`: {source} (set --python or ISOAUDIT_PYTHON, or create .venv)")]
    Python {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{python}` cannot import {module}; install it (pip install {package})")]
    MissingModule {
        python: PathBuf,
        module: &'static str,
        package: &'static str,
    },
    #[error("workers must be at least 1")]
    NoWorkers,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// The interpreter `run` uses when none is given: the active virtualenv,
/// then `.venv` or `venv` under the root, then `python3` from `PATH`.
pub fn default_python(root: &Path) -> PathBuf {
    let bin = |dir: &Path| {
        if cfg!(windows) {
            dir.join("Scripts").join("python.exe")
        } else {
            dir.join("bin").join("python")
        }
    };
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        let python = bin(Path::new(&venv));
        if python.is_file() {
            return python;
        }
    }
    for dir in [".venv", "venv"] {
        let python = bin(&root.join(dir));
        if python.is_file() {
            return python;
        }
    }
    PathBuf::from(if cfg!(windows) { "python" } else { "python3" })
}

/// What the plugin reads: the plan's tests keyed by nodeid, the duration of
/// tests the plan does not know, and the shard.
#[derive(Serialize)]
struct Schedule<'a> {
    version: u32,
    tests: BTreeMap<&'a str, ScheduleEntry<'a>>,
    default_seconds: f64,
    /// Recorded durations of tests the plan does not list, for ordering.
    recorded: BTreeMap<&'a str, f64>,
    shard: Option<ScheduleShard<'a>>,
}

#[derive(Serialize)]
struct ScheduleEntry<'a> {
    phase: u8,
    unit: &'a str,
    duration: f64,
}

#[derive(Serialize)]
struct ScheduleShard<'a> {
    count: usize,
    index: usize,
    excluded: &'a [String],
}

fn schedule_json(plan: &Plan, recorded: &Durations) -> String {
    let planned: BTreeSet<&str> = plan.tests.iter().map(|t| t.nodeid.as_str()).collect();
    let schedule = Schedule {
        version: 1,
        tests: plan
            .tests
            .iter()
            .map(|t| {
                let entry = ScheduleEntry {
                    phase: t.phase,
                    unit: &t.unit,
                    duration: t.duration,
                };
                (t.nodeid.as_str(), entry)
            })
            .collect(),
        default_seconds: if plan.meta.default_seconds > 0.0 {
            plan.meta.default_seconds
        } else {
            1.0
        },
        recorded: recorded
            .iter()
            .filter(|(nodeid, _)| !planned.contains(nodeid))
            .collect(),
        shard: plan.meta.shard.as_ref().map(|s| ScheduleShard {
            count: s.count,
            index: s.index,
            excluded: &s.excluded,
        }),
    };
    serde_json::to_string(&schedule).unwrap_or_else(|_| "{}".into())
}

/// One pytest invocation of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// W = 1: everything in one serial pytest run.
    All,
    Phase(u8),
}

impl Step {
    fn tag(self) -> String {
        match self {
            Step::All => "all".into(),
            Step::Phase(p) => p.to_string(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Step::All => "all (serial run)",
            Step::Phase(1) => "1 parallel",
            Step::Phase(2) => "2 heavy",
            Step::Phase(_) => "3 serial",
        }
    }
}

/// The plugin's record of what one phase selected.
#[derive(Debug, Default, serde::Deserialize)]
struct Collected {
    #[serde(default)]
    selected: Vec<String>,
    #[serde(default)]
    unknown: Vec<String>,
}

/// The plugin's record of what went wrong in one phase (`events-*.json`,
/// written by the process that reports).
#[derive(Debug, Default, serde::Deserialize)]
struct Events {
    #[serde(default)]
    crashed: Vec<CrashEvent>,
    #[serde(default)]
    collection_errors: Vec<CollectionEvent>,
    #[serde(default)]
    worker_crashes: usize,
    #[serde(default)]
    max_worker_restart: Option<usize>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct CrashEvent {
    nodeid: String,
    #[serde(default)]
    worker: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    stack: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct CollectionEvent {
    nodeid: String,
    #[serde(default)]
    message: String,
}

/// `leftover-*.json`: processes a runner stopped at the end of its session.
#[derive(Debug, Default, serde::Deserialize)]
struct Leftovers {
    #[serde(default)]
    processes: Vec<LeftProcess>,
}

#[derive(Debug, serde::Deserialize)]
struct LeftProcess {
    #[serde(default)]
    nodeid: Option<String>,
    #[serde(default)]
    cmdline: String,
}

/// A junit test case with the nodeid it belongs to, when known.
#[derive(Debug, Clone)]
struct CaseResult {
    nodeid: Option<String>,
    case: JunitCase,
}

struct StepOutcome {
    run: PhaseRun,
    cases: Vec<CaseResult>,
    unknown: usize,
    faults: Vec<Fault>,
    not_run: Vec<String>,
}

struct Python<'a> {
    root: &'a Path,
    work: &'a Path,
    opts: &'a RunOptions,
    cov: bool,
    /// pytest invocations so far (`--cov-append` from the second on).
    started: usize,
}

impl Python<'_> {
    fn command(&mut self, plugin_phase: &str) -> Command {
        let mut cmd = Command::new(&self.opts.python);
        cmd.current_dir(self.root).arg("-m").arg("pytest");
        let mut pythonpath = vec![self.work.to_path_buf()];
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            pythonpath.extend(std::env::split_paths(&existing));
        }
        if let Ok(joined) = std::env::join_paths(pythonpath) {
            cmd.env("PYTHONPATH", joined);
        }
        cmd.args(["-p", PLUGIN_MODULE]);
        cmd.env("ISOAUDIT_PLAN", self.work.join("schedule.json"));
        cmd.env("ISOAUDIT_PHASE", plugin_phase);
        match self.opts.timeout {
            Some(t) => cmd.env("ISOAUDIT_TIMEOUT", format!("{t}")),
            None => cmd.env_remove("ISOAUDIT_TIMEOUT"),
        };
        if self.opts.observe {
            cmd.env("ISOAUDIT_OBSERVE", "1");
        } else {
            cmd.env_remove("ISOAUDIT_OBSERVE");
        }
        cmd.args(&self.opts.pytest_args);
        if self.opts.continue_on_collection_errors
            && !self
                .opts
                .pytest_args
                .iter()
                .any(|a| a == "--continue-on-collection-errors")
        {
            cmd.arg("--continue-on-collection-errors");
        }
        if self.cov && self.started > 0 {
            cmd.arg("--cov-append");
        }
        self.started += 1;
        cmd
    }
}

/// `-n N` with xdist, so that a test that kills its process takes down a
/// worker that xdist replaces, never the run; `-n 1` for one process. `-p
/// no:xdist` without it.
fn dist_args(workers: usize, has_xdist: bool) -> Vec<String> {
    match (workers, has_xdist) {
        (_, false) => vec!["-p".into(), "no:xdist".into()],
        (w, true) => vec!["-n".into(), w.max(1).to_string()],
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    // A pytest killed by a signal did not report; count it as pytest's
    // internal error.
    status.code().unwrap_or(3)
}

/// Probes the interpreter for pytest and pytest-xdist.
fn probe(python: &Path, root: &Path) -> Result<(bool, bool), RunError> {
    let script = "import importlib.util as u\n\
                  print(int(u.find_spec('pytest') is not None), int(u.find_spec('xdist') is not None))";
    let out = Command::new(python)
        .current_dir(root)
        .args(["-c", script])
        .output()
        .map_err(|source| RunError::Python {
            python: python.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags = text.split_whitespace().map(|f| f == "1");
    let pytest = flags.next().unwrap_or(false);
    let xdist = flags.next().unwrap_or(false);
    Ok((pytest, xdist))
}

fn header(line: &str) {
    if crate::app::quiet() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "isoaudit: {line}");
    let _ = stdout.flush();
}

fn stops_on_failure(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "-x" || a == "--exitfirst" || a.starts_with("--maxfail"))
}

/// Junit cases of one pytest run, each matched to a nodeid from `known`.
fn read_cases(junit: &Path, known: &[String]) -> Vec<CaseResult> {
    let Ok(text) = std::fs::read_to_string(junit) else {
        return Vec::new();
    };
    let cases = match parse_junit(&text) {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("isoaudit: warning: cannot read pytest's junit XML: {e}");
            return Vec::new();
        }
    };
    let by_key: HashMap<(String, String), &String> =
        known.iter().map(|n| (junit_key(n), n)).collect();
    cases
        .into_iter()
        .map(|case| CaseResult {
            nodeid: by_key
                .get(&(case.classname.clone(), case.name.clone()))
                .map(|n| n.to_string()),
            case,
        })
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The files of one phase whose names start with `<kind>-<tag>-`, sorted.
fn phase_files(work: &Path, kind: &str, tag: &str) -> Vec<PathBuf> {
    let prefix = format!("{kind}-{tag}-");
    let mut files: Vec<PathBuf> = std::fs::read_dir(work)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// The tests that started and have not finished, per process, from the
/// runners' `progress-*.log` files: `(worker, nodeid)`, sorted.
fn running_tests(work: &Path, tag: &str) -> Vec<(String, String)> {
    let prefix = format!("progress-{tag}-");
    let mut running = Vec::new();
    for path in phase_files(work, "progress", tag) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let worker = name
            .as_deref()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".log"))
            .unwrap_or("?")
            .to_string();
        let mut current: Option<&str> = None;
        for line in text.lines() {
            match line.split_once('\t') {
                Some(("start", nodeid)) => current = Some(nodeid),
                Some(("finish", _)) => current = None,
                _ => {}
            }
        }
        if let Some(nodeid) = current {
            running.push((worker, nodeid.to_string()));
        }
    }
    running.sort();
    running
}

/// Says which tests are running when no test has started or finished for
/// `after`, then again after each further `after`.
struct StallWatch<'a> {
    work: &'a Path,
    tag: String,
    after: Option<Duration>,
    seen: u64,
    since: Instant,
    checked: Instant,
}

impl<'a> StallWatch<'a> {
    fn new(work: &'a Path, tag: String, opts: &RunOptions) -> Self {
        let after = match opts.timeout {
            Some(_) => None,
            None => opts
                .stall_warning
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64),
        };
        StallWatch {
            work,
            tag,
            after,
            seen: 0,
            since: Instant::now(),
            checked: Instant::now(),
        }
    }

    fn tick(&mut self) {
        let Some(after) = self.after else { return };
        if self.checked.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.checked = Instant::now();
        let size: u64 = phase_files(self.work, "progress", &self.tag)
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if size != self.seen {
            self.seen = size;
            self.since = Instant::now();
            return;
        }
        if self.since.elapsed() < after {
            return;
        }
        self.since = Instant::now();
        let running = running_tests(self.work, &self.tag);
        let secs = after.as_secs_f64();
        if running.is_empty() {
            header(&format!(
                "no test has started or finished for {secs:.0}s, and none is running: \
                 pytest is collecting, or stuck outside a test"
            ));
        } else {
            let list = running
                .iter()
                .map(|(w, n)| format!("{n} on {w}"))
                .collect::<Vec<_>>()
                .join(", ");
            header(&format!(
                "no test has started or finished for {secs:.0}s; still running: {list} \
                 (set --timeout SECONDS to stop a test that hangs)"
            ));
        }
    }
}

fn fault_kind(kind: &str) -> FaultKind {
    match kind {
        "timed-out" => FaultKind::TimedOut,
        "closed-output" => FaultKind::ClosedOutput,
        _ => FaultKind::Crashed,
    }
}

/// What a phase's plugin files say went wrong: faults (from the reporting
/// process, else from a runner that died mid-test), collection errors and
/// processes left running.
struct PhaseEvents {
    faults: Vec<Fault>,
    collection_errors: Vec<CollectionError>,
    left_behind: Vec<LeftBehind>,
    /// Workers died more often than xdist restarts them.
    restarts_exhausted: Option<(usize, usize)>,
}

fn phase_events(work: &Path, tag: &str, label: &str, timeout: Option<f64>) -> PhaseEvents {
    let events_path = work.join(format!("events-{tag}.json"));
    let reported = events_path.is_file();
    let events: Events = read_json(&events_path);
    let mut faults: Vec<Fault> = events
        .crashed
        .iter()
        .map(|c| Fault {
            nodeid: c.nodeid.clone(),
            kind: fault_kind(&c.kind),
            phase: label.to_string(),
            worker: c.worker.clone(),
            stack: c.stack.clone(),
            alone: Alone::NotRerun,
        })
        .collect();
    if !reported {
        // pytest itself died (no xdist to contain it): the test it was
        // running is the one to blame.
        for (worker, nodeid) in running_tests(work, tag) {
            let stack_dump =
                std::fs::read_to_string(work.join(format!("stack-{tag}-{worker}.txt")))
                    .unwrap_or_default();
            let timed_out = timeout.is_some() && stack_dump.starts_with("Timeout");
            faults.push(Fault {
                nodeid,
                kind: if timed_out {
                    FaultKind::TimedOut
                } else {
                    FaultKind::Crashed
                },
                phase: label.to_string(),
                worker,
                stack: stack_dump
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("File "))
                    .map(str::to_string)
                    .collect(),
                alone: Alone::NotRerun,
            });
        }
    }
    let collection_errors = events
        .collection_errors
        .iter()
        .map(|e| CollectionError {
            path: e.nodeid.clone(),
            message: e.message.clone(),
        })
        .collect();
    let mut left_behind = Vec::new();
    for path in phase_files(work, "leftover", tag) {
        let found: Leftovers = read_json(&path);
        left_behind.extend(found.processes.into_iter().map(|p| LeftBehind {
            nodeid: p.nodeid,
            cmdline: p.cmdline,
        }));
    }
    let restarts_exhausted = events
        .max_worker_restart
        .filter(|limit| events.worker_crashes > *limit)
        .map(|limit| (events.worker_crashes, limit));
    PhaseEvents {
        faults,
        collection_errors,
        left_behind,
        restarts_exhausted,
    }
}

/// One line naming the tests a remembered isolation bug schedules.
fn announce_triage(plan: &Plan) {
    let mut with: Vec<String> = Vec::new();
    let mut serial: Vec<&str> = Vec::new();
    for t in &plan.tests {
        match &t.triage {
            Some(sharers) if sharers.is_empty() => serial.push(&t.nodeid),
            Some(sharers) => with.push(format!("{} with {}", t.nodeid, sharers.join(", "))),
            None => {}
        }
    }
    if with.is_empty() && serial.is_empty() {
        return;
    }
    let mut parts = Vec::new();
    if !with.is_empty() {
        parts.push(format!(
            "{} (sharing what they were seen to touch)",
            with.join("; ")
        ));
    }
    if !serial.is_empty() {
        parts.push(format!(
            "{} in the serial phase (nothing shared was seen)",
            serial.join(", ")
        ));
    }
    header(&format!(
        "isolation bugs found by earlier runs: {}; `isoaudit run --forget NODEID` schedules one as analysed again",
        parts.join("; ")
    ));
}

/// Folds what this run's observers saw into `.isoaudit/observed.json`, and
/// remembers each isolation bug with the tests it was seen sharing a
/// resource with.
fn remember_observations(
    root: &Path,
    work: &Path,
    run: u64,
    bugs: &mut [IsolationBug],
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut ran = crate::observed::RunObservations::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(work)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("observed-") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    for path in &files {
        let file: crate::observed::PluginFile = read_json(path);
        crate::observed::add_plugin_file(&mut ran, file);
    }
    let mut errors: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(work)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("observe-error-") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            errors.push((
                rest.trim_end_matches(".txt").to_string(),
                text.trim().to_string(),
            ));
        }
    }
    errors.sort();
    for (worker, text) in &errors {
        header(&format!(
            "observation failed in {worker} and was turned off there (test outcomes are unaffected): {text}"
        ));
    }
    let (mut memory, warning) = crate::observed::load(root);
    if let Some(w) = warning {
        eprintln!("isoaudit: warning: {w}");
    }
    crate::observed::fold(&mut memory, ran, run);
    for bug in bugs {
        let function = function_nodeid(&bug.nodeid).to_string();
        let sharers = crate::observed::sharers_of(&memory, &function);
        let file = crate::observed::nodeid_file(&function).to_string();
        let Ok(bytes) = std::fs::read(root.join(&file)) else {
            continue;
        };
        let line = if sharers.is_empty() {
            format!(
                "{function} runs in the serial phase from the next run on: it failed in parallel, passed alone, and was not seen sharing a resource"
            )
        } else {
            format!(
                "{function} runs with {} from the next run on: it failed in parallel, passed alone, and was seen sharing a resource with them",
                sharers.join(", ")
            )
        };
        lines.push(line);
        if bug.resources.is_empty() {
            if let Some(seen) = memory.tests.get(&function) {
                bug.resources = seen
                    .keys
                    .keys()
                    .filter(|k| crate::observed::key_kind(k) != crate::observed::KeyKind::Note)
                    .map(|k| format!("seen at run time: {k}"))
                    .collect();
            }
        }
        let slot = memory.tests.entry(function).or_default();
        slot.run = slot.run.max(run);
        slot.triage = Some(crate::observed::Triage {
            run,
            sharers,
            file,
            digest: crate::observed::digest(&bytes),
        });
    }
    if let Err(e) = crate::observed::save(root, &memory) {
        eprintln!(
            "isoaudit: warning: cannot write {}: {e}",
            crate::observed::OBSERVED
        );
    }
    lines
}

/// One line per fault, as it happens.
fn announce_fault(f: &Fault, timeout: Option<f64>, rerun_follows: bool) {
    let what = match f.kind {
        FaultKind::Crashed => format!(
            "crashed its worker {} (the process died: os._exit, a signal, or a crash in \
             native code)",
            f.worker
        ),
        FaultKind::TimedOut => format!(
            "timed out after {}s on worker {}; the worker was stopped and replaced",
            timeout.map_or_else(|| "?".into(), |t| format!("{t}")),
            f.worker
        ),
        FaultKind::ClosedOutput => format!(
            "closed sys.stdout or sys.stderr, which breaks pytest's capture on worker {}; \
             the worker was replaced (use capsys or contextlib.redirect_stdout instead)",
            f.worker
        ),
    };
    let next = if rerun_follows {
        "not run again in this phase; re-run alone at the end"
    } else {
        "not run again in this phase"
    };
    let mut line = format!("{} {what} (phase {}); {next}", f.nodeid, f.phase);
    if !f.stack.is_empty() {
        line.push_str("; it was running:");
        for frame in &f.stack {
            line.push_str("\n    ");
            line.push_str(frame);
        }
    }
    header(&line);
}

/// A collection error's path, when it names a test module that later
/// phases can skip with `--ignore`.
fn ignorable_module(path: &str) -> Option<&str> {
    let file = path.rsplit('/').next()?;
    (path.ends_with(".py") && !path.contains("::") && file != "conftest.py").then_some(path)
}

/// The worst of the phases' pytest exit codes. A phase that selected no
/// test (5) counts only when no phase ran any.
fn combine(codes: &[i32]) -> i32 {
    let ran: Vec<i32> = codes.iter().copied().filter(|c| *c != 5).collect();
    match ran.iter().max() {
        Some(worst) => *worst,
        None => 5,
    }
}

/// Runs `plan` under `root` and returns the exit code: pytest's, the worst
/// phase's; 1 for isolation bugs unless `allow_isolation_bugs`.
pub fn execute(root: &Path, plan: &Plan, opts: &RunOptions) -> Result<i32, RunError> {
    if opts.workers == 0 || opts.heavy_workers == 0 {
        return Err(RunError::NoWorkers);
    }
    let (has_pytest, has_xdist) = probe(&opts.python, root)?;
    if !has_pytest {
        return Err(RunError::MissingModule {
            python: opts.python.clone(),
            module: "pytest",
            package: "pytest",
        });
    }
    if opts.workers > 1 && !has_xdist {
        return Err(RunError::MissingModule {
            python: opts.python.clone(),
            module: "xdist",
            package: "pytest-xdist",
        });
    }

    let work = tempfile::Builder::new()
        .prefix("isoaudit-run-")
        .tempdir()
        .map_err(io_err("cannot create a private temporary directory"))?;
    process::guard(work.path().to_path_buf());
    std::fs::write(
        work.path().join(format!("{PLUGIN_MODULE}.py")),
        PLUGIN_SOURCE,
    )
    .map_err(io_err("cannot write the pytest plugin"))?;
    std::fs::write(
        work.path().join(format!("{OBSERVER_MODULE}.py")),
        OBSERVER_SOURCE,
    )
    .map_err(io_err("cannot write the pytest plugin"))?;
    let (recorded, _, _) = history::load(root);
    std::fs::write(
        work.path().join("schedule.json"),
        schedule_json(plan, &recorded),
    )
    .map_err(io_err("cannot write the schedule"))?;

    let result = run_steps(root, plan, opts, work.path(), has_xdist);
    process::unguard();
    drop(work);
    result
}

fn run_steps(
    root: &Path,
    plan: &Plan,
    opts: &RunOptions,
    work: &Path,
    has_xdist: bool,
) -> Result<i32, RunError> {
    announce_triage(plan);
    let units = units_of(&plan.tests);
    let unit_of: HashMap<&str, &str> = plan
        .tests
        .iter()
        .map(|t| (t.nodeid.as_str(), t.unit.as_str()))
        .collect();
    let mut timeline: Vec<gantt::PhaseTimeline> = Vec::new();
    let planned = |phase: u8| plan.tests.iter().filter(|t| t.phase == phase).count();
    let steps: Vec<Step> = if opts.workers == 1 {
        vec![Step::All]
    } else {
        // Phase 1 always runs: it also carries the tests the plan does not know.
        let mut steps = vec![Step::Phase(1)];
        steps.extend(
            [2, 3]
                .into_iter()
                .filter(|p| planned(*p) > 0)
                .map(Step::Phase),
        );
        steps
    };
    let mut py = Python {
        root,
        work,
        opts,
        cov: opts
            .pytest_args
            .iter()
            .any(|a| a == "--cov" || a.starts_with("--cov=")),
        started: 0,
    };
    let will_rerun = |step: Step| step == Step::Phase(1) && opts.rerun_failures_serially;

    let mut outcomes: Vec<(Step, StepOutcome)> = Vec::new();
    let mut collection_errors: Vec<CollectionError> = Vec::new();
    let mut left_behind: Vec<LeftBehind> = Vec::new();
    let mut stops: Vec<String> = Vec::new();
    for step in steps {
        let workers = match step {
            Step::All | Step::Phase(3) => 1,
            Step::Phase(1) => opts.workers,
            Step::Phase(_) => opts.heavy_workers,
        };
        match step {
            Step::All => header(&format!(
                "one serial pytest run of every test ({} planned), workers = 1",
                plan.tests.len()
            )),
            Step::Phase(p) => header(&format!(
                "phase {}: {} planned tests in {} units, {} worker(s)",
                step.label(),
                planned(p),
                units.get(&p).map_or(0, Vec::len),
                workers
            )),
        }
        let tag = step.tag();
        let junit = work.join(format!("junit-{tag}.xml"));
        let mut cmd = py.command(&tag);
        cmd.args(opts.paths.iter().map(|p| p.as_os_str()));
        cmd.args(dist_args(workers, has_xdist));
        // A module that failed to collect was reported once; later phases
        // would only report it again.
        for e in &collection_errors {
            if let Some(module) = ignorable_module(&e.path) {
                cmd.arg(format!("--ignore={}", root.join(module).display()));
            }
        }
        cmd.arg(format!("--junitxml={}", junit.display()));
        let started = epoch_seconds();
        let (finished, wall) = run_timed(&mut cmd, opts, work, &tag)?;
        let code = exit_code(finished.status);
        let collected: Collected = read_json(&work.join(format!("collected-{tag}.json")));
        let mut cases = read_cases(&junit, &collected.selected);
        timeline.push(phase_timeline(
            step.label(),
            started,
            wall,
            &cases,
            &unit_of,
        ));
        let events = phase_events(work, &tag, step.label(), opts.timeout);
        for e in &events.collection_errors {
            if !collection_errors.iter().any(|c| c.path == e.path) {
                header(&format!(
                    "collection error in {}: {}",
                    e.path,
                    if e.message.is_empty() {
                        "see pytest's report above"
                    } else {
                        &e.message
                    }
                ));
                collection_errors.push(e.clone());
            }
        }
        if !events.collection_errors.is_empty() {
            // junit lists each collection error as an errored case with no
            // test behind it; they are counted as collection errors instead.
            cases.retain(|c| c.nodeid.is_some() || !c.case.outcome.is_failure());
            if code == 2 && !opts.continue_on_collection_errors {
                stops.push(format!(
                    "Phase {} stopped at collection errors before running any test, as pytest \
                     does; fix them, or pass --continue-on-collection-errors to run the rest.",
                    step.label()
                ));
            }
        }
        for f in &events.faults {
            announce_fault(f, opts.timeout, will_rerun(step));
        }
        for l in &events.left_behind {
            header(&format!(
                "{} left a process running after the session (`{}`); isoaudit stopped it. \
                 Stop what a test starts in its teardown.",
                l.nodeid.as_deref().unwrap_or("a test"),
                l.cmdline
            ));
        }
        left_behind.extend(events.left_behind);
        if !finished.stopped_leftovers.is_empty() {
            header(&format!(
                "processes were still running after phase {}'s pytest exited; isoaudit \
                 stopped them: {}",
                step.label(),
                finished
                    .stopped_leftovers
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            left_behind.extend(finished.stopped_leftovers.iter().map(|c| LeftBehind {
                nodeid: None,
                cmdline: c.clone(),
            }));
        }
        let reported: BTreeSet<&str> = cases.iter().filter_map(|c| c.nodeid.as_deref()).collect();
        let not_run: Vec<String> = {
            let mut seen = BTreeSet::new();
            collected
                .selected
                .iter()
                .filter(|n| !reported.contains(n.as_str()) && seen.insert(n.as_str()))
                .cloned()
                .collect()
        };
        let mut code = code;
        if let Some((crashes, limit)) = events.restarts_exhausted {
            let message = if cases.is_empty() {
                // pytest says "no tests ran" (exit 5); the truth is worse.
                code = 3;
                format!(
                    "Phase {} stopped: every worker died before running a test ({crashes} \
                     crashes, more than pytest-xdist's restart limit of {limit}). Something \
                     in a conftest.py or a plugin ends the worker process while it starts or \
                     collects; run `pytest -n 1` to see it.",
                    step.label()
                )
            } else {
                format!(
                    "Phase {} stopped: its workers crashed {crashes} times, more than \
                     pytest-xdist's restart limit of {limit}; {} selected test(s) did not \
                     run. Fix the crashes reported above, or raise the limit with `-- \
                     --max-worker-restart N`.",
                    step.label(),
                    not_run.len()
                )
            };
            header(&message);
            stops.push(message);
        }
        if !collected.unknown.is_empty() {
            let n = collected.unknown.len();
            header(&match step {
                Step::All => format!("{n} test function(s) not in the plan ran too"),
                _ => format!(
                    "{n} test function(s) not in the plan ran in phase 1, each as its own unit"
                ),
            });
        }
        let run = PhaseRun {
            label: step.label().to_string(),
            workers,
            exit_code: code,
            wall_seconds: wall,
            tests: cases.len(),
            test_seconds: cases.iter().map(|c| c.case.time).sum::<f64>() + 0.0,
            is_rerun: false,
        };
        outcomes.push((
            step,
            StepOutcome {
                run,
                cases,
                unknown: collected.unknown.len(),
                faults: events.faults,
                not_run,
            },
        ));
        let stop = matches!(code, 2..=4) || (code == 1 && stops_on_failure(&opts.pytest_args));
        if stop {
            break;
        }
    }

    // Failures of the parallel phase, re-run alone.
    let mut codes: Vec<i32> = outcomes.iter().map(|(_, o)| o.run.exit_code).collect();
    let mut isolation_bugs: Vec<IsolationBug> = Vec::new();
    let mut failures: BTreeSet<String> = BTreeSet::new();
    let mut rerun_run: Option<PhaseRun> = None;
    let mut faults: Vec<Fault> = Vec::new();
    for (i, (step, outcome)) in outcomes.iter().enumerate() {
        let failed: Vec<&CaseResult> = outcome
            .cases
            .iter()
            .filter(|c| c.case.outcome.is_failure())
            .collect();
        let rerun = will_rerun(*step) && outcome.run.exit_code == 1 && !failed.is_empty();
        if !rerun {
            failures.extend(failed.iter().map(|c| case_name(c)));
            faults.extend(outcome.faults.iter().cloned());
            continue;
        }
        let nodeids: Vec<String> = {
            let mut seen = BTreeSet::new();
            failed
                .iter()
                .filter_map(|c| c.nodeid.clone())
                .filter(|n| seen.insert(n.clone()))
                .collect()
        };
        // Failures that are not tests (collection errors) cannot be re-run.
        failures.extend(
            failed
                .iter()
                .filter(|c| c.nodeid.is_none())
                .map(|c| case_name(c)),
        );
        if nodeids.is_empty() {
            faults.extend(outcome.faults.iter().cloned());
            continue;
        }
        header(&format!(
            "re-running {} phase-1 failure(s) alone, one at a time",
            nodeids.len()
        ));
        let junit = work.join("junit-rerun.xml");
        let mut cmd = py.command("rerun");
        cmd.args(dist_args(1, has_xdist));
        if has_xdist
            && !opts
                .pytest_args
                .iter()
                .any(|a| a.starts_with("--max-worker-restart"))
        {
            // Every test here may crash its worker once; none is retried.
            cmd.arg(format!("--max-worker-restart={}", nodeids.len()));
        }
        cmd.arg(format!("--junitxml={}", junit.display()));
        if nodeids.iter().map(|n| n.len() + 1).sum::<usize>() > 32_000 {
            // pytest reads `@file` as one argument per line.
            let list = work.join("rerun-args.txt");
            std::fs::write(&list, nodeids.join("\n"))
                .map_err(io_err("cannot write the re-run list"))?;
            cmd.arg(format!("@{}", list.display()));
        } else {
            cmd.args(&nodeids);
        }
        let label = "re-run of phase-1 failures";
        let started = epoch_seconds();
        let (finished, wall) = run_timed(&mut cmd, opts, work, "rerun")?;
        let rerun_code = exit_code(finished.status);
        let cases = read_cases(&junit, &nodeids);
        timeline.push(phase_timeline(label, started, wall, &cases, &unit_of));
        let rerun_events = phase_events(work, "rerun", label, opts.timeout);
        left_behind.extend(rerun_events.left_behind);
        left_behind.extend(finished.stopped_leftovers.iter().map(|c| LeftBehind {
            nodeid: None,
            cmdline: c.clone(),
        }));
        let mut passed_alone: BTreeSet<&str> = BTreeSet::new();
        let mut failed_alone: BTreeSet<&str> = BTreeSet::new();
        for c in &cases {
            if let Some(n) = &c.nodeid {
                if c.case.outcome.is_failure() {
                    failed_alone.insert(n);
                } else {
                    passed_alone.insert(n);
                }
            }
        }
        let faulted_alone: BTreeSet<&str> = rerun_events
            .faults
            .iter()
            .map(|f| f.nodeid.as_str())
            .collect();
        for f in &outcome.faults {
            let mut f = f.clone();
            let n = f.nodeid.as_str();
            f.alone = if faulted_alone.contains(n) {
                Alone::FaultedAgain
            } else if failed_alone.contains(n) {
                Alone::Failed
            } else if passed_alone.contains(n) {
                Alone::Passed
            } else {
                Alone::NotRerun
            };
            faults.push(f);
        }
        // A test that faults for the first time when alone is a fault too.
        for f in &rerun_events.faults {
            if !outcome.faults.iter().any(|o| o.nodeid == f.nodeid) {
                announce_fault(f, opts.timeout, false);
                let mut f = f.clone();
                f.alone = Alone::FaultedAgain;
                faults.push(f);
            }
        }
        for nodeid in &nodeids {
            if passed_alone.contains(nodeid.as_str()) && !failed_alone.contains(nodeid.as_str()) {
                let function = function_nodeid(nodeid);
                let planned = plan.tests.iter().find(|t| t.nodeid == function);
                isolation_bugs.push(IsolationBug {
                    nodeid: nodeid.clone(),
                    unit: planned.map_or_else(|| format!("test:{function}"), |t| t.unit.clone()),
                    resources: planned.map(|t| t.resources.clone()).unwrap_or_default(),
                    planned: planned.is_some(),
                });
            } else {
                failures.insert(nodeid.clone());
            }
        }
        let still_failing = nodeids.iter().any(|n| failures.contains(n))
            || failed.iter().any(|c| c.nodeid.is_none())
            || !collection_errors.is_empty();
        codes[i] = if still_failing || matches!(rerun_code, 2..=4) {
            rerun_code.max(1)
        } else {
            0
        };
        rerun_run = Some(PhaseRun {
            label: label.into(),
            workers: 1,
            exit_code: rerun_code,
            wall_seconds: wall,
            tests: cases.len(),
            test_seconds: cases.iter().map(|c| c.case.time).sum::<f64>() + 0.0,
            is_rerun: true,
        });
    }

    let mut code = combine(&codes);
    isolation_bugs.sort();
    let run_number = history::load(root).1.next_run();
    let triage_lines = if opts.observe {
        remember_observations(root, work, run_number, &mut isolation_bugs)
    } else {
        Vec::new()
    };
    for bug in &isolation_bugs {
        let resources = if bug.resources.is_empty() {
            "no resource found".to_string()
        } else {
            bug.resources.join(", ")
        };
        header(&format!(
            "isolation bug: {} failed in parallel and passed alone (unit {}; {})",
            bug.nodeid, bug.unit, resources
        ));
    }
    for line in &triage_lines {
        header(line);
    }
    if !isolation_bugs.is_empty() && code == 0 && !opts.allow_isolation_bugs {
        code = 1;
    }

    let unknown = outcomes.iter().map(|(_, o)| o.unknown).max().unwrap_or(0);
    let mut ran = Durations::new();
    // Exact nodeids, for pytest-split's file.
    let mut ran_cases: BTreeMap<String, f64> = BTreeMap::new();
    let mut counts = Counts::default();
    for (_, outcome) in &outcomes {
        for c in &outcome.cases {
            counts.add(c.case.outcome);
            if let Some(nodeid) = &c.nodeid {
                ran.add_case(nodeid, c.case.time);
                *ran_cases.entry(nodeid.clone()).or_default() += c.case.time;
            }
        }
    }
    // A timed-out test ran at least as long as the limit; the next plan
    // should know it is long, not that it took no time.
    if let Some(limit) = opts.timeout {
        for f in faults.iter().filter(|f| f.kind == FaultKind::TimedOut) {
            ran.add_case(&f.nodeid, limit);
        }
    }
    let mut not_run: Vec<String> = outcomes
        .iter()
        .flat_map(|(_, o)| o.not_run.iter().cloned())
        .collect();
    not_run.sort();
    not_run.dedup();
    let mut phases: Vec<PhaseRun> = outcomes.into_iter().map(|(_, o)| o.run).collect();
    phases.extend(rerun_run);
    faults.sort();
    collection_errors.sort();
    left_behind.sort();
    left_behind.dedup();

    let (mut durations, mut hist, warnings) = history::load(root);
    for w in warnings {
        eprintln!("isoaudit: warning: {w}");
    }
    let mut summary = RunSummary {
        run: hist.next_run(),
        workers: opts.workers,
        phases,
        isolation_bugs,
        failures: failures.into_iter().collect(),
        unknown,
        faults,
        collection_errors,
        left_behind,
        not_run,
        stops,
        exit_code: code,
        timeline,
    };
    let record = RunRecord {
        run: summary.run,
        workers: summary.workers,
        tests: summary.tests(),
        wall_seconds: crate::plan::round3(summary.wall_seconds()),
        serial_seconds: crate::plan::round3(summary.serial_seconds()),
        exit_code: code,
        isolation_bugs: summary.isolation_bugs.len(),
        failed: summary.failures.len(),
        shard: plan.meta.shard.as_ref().map(|s| history::Shard {
            index: s.index,
            count: s.count,
        }),
        shards: None,
    };
    let record_shard = record.shard;
    history::merge(&mut durations, &mut hist, &ran, record);
    if let Err(e) = history::save(root, &durations, &hist) {
        eprintln!("isoaudit: warning: cannot write the duration history under .isoaudit/: {e}");
    }
    if opts.store_durations {
        store_test_durations(root, &ran_cases);
    }
    summary.exit_code = code;
    if let Err(e) = merge::save_last_run(root, &summary, record_shard) {
        eprintln!("isoaudit: warning: cannot write {}: {e}", merge::LAST_RUN);
    }
    let text = report::render(&summary, &hist.runs);
    let line = summary_line(&summary, &counts, opts);
    match history::write_atomic(&root.join(CI_TIMINGS), text.as_bytes()) {
        Ok(()) => header(&format!("{line}; wrote {CI_TIMINGS}")),
        Err(e) => {
            header(&line);
            eprintln!("isoaudit: warning: cannot write {CI_TIMINGS}: {e}");
        }
    }
    Ok(code)
}

/// `--store-durations`: folds the cases that ran into pytest-split's
/// `.test_durations` under `root`, atomically. A file there that is not one
/// is left alone, with a warning: it may be someone's data.
fn store_test_durations(root: &Path, ran: &BTreeMap<String, f64>) {
    use crate::plan::durations::PYTEST_SPLIT_DURATIONS as FILE;
    use crate::plan::durations::{merge_test_durations, read_test_durations};
    let path = root.join(FILE);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => match read_test_durations(&text) {
            Ok(old) => old,
            Err(e) => {
                eprintln!("isoaudit: warning: {FILE} is not a durations file ({e}); not updated");
                return;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            eprintln!("isoaudit: warning: cannot read {FILE}: {e}; not updated");
            return;
        }
    };
    let text = merge_test_durations(&old, ran);
    let all: BTreeSet<&String> = old.keys().chain(ran.keys()).collect();
    match history::write_atomic(&path, text.as_bytes()) {
        Ok(()) => header(&format!(
            "wrote {FILE}: {} test(s) timed by this run, {} in all",
            ran.len(),
            all.len()
        )),
        Err(e) => eprintln!("isoaudit: warning: cannot write {FILE}: {e}"),
    }
}

/// Test cases by outcome, over the phases (not the re-run).
#[derive(Debug, Default)]
struct Counts {
    passed: usize,
    skipped: usize,
    failed: usize,
}

impl Counts {
    fn add(&mut self, outcome: crate::plan::durations::Outcome) {
        use crate::plan::durations::Outcome;
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed | Outcome::Error => self.failed += 1,
        }
    }
}

/// The run's last line: what ran and how it ended, then the times.
fn summary_line(summary: &RunSummary, counts: &Counts, opts: &RunOptions) -> String {
    let mut parts: Vec<String> = Vec::new();
    let tests = summary.tests();
    if tests == 0 && summary.collection_errors.is_empty() && !summary.stops.is_empty() {
        return "no test ran: the run stopped early, as said above".to_string();
    }
    if tests == 0 && summary.collection_errors.is_empty() && summary.exit_code != 5 {
        let meaning = match summary.exit_code {
            2 => "interrupted",
            3 => "an internal error, or pytest was killed",
            4 => {
                "a usage error: a bad option, a missing path, or a conftest.py that fails to import"
            }
            _ => "see pytest's output above",
        };
        return format!(
            "pytest stopped before running any test (exit {}: {meaning}); its output above \
             says why",
            summary.exit_code
        );
    }
    if tests == 0 && summary.collection_errors.is_empty() {
        let paths = if opts.paths.is_empty() {
            "the project's testpaths".to_string()
        } else {
            opts.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return format!(
            "no tests ran: pytest selected no tests under {paths} (check the paths, \
             pytest's testpaths and python_files, and any -k/-m expression); exit 5, \
             as pytest's"
        );
    }
    if tests > 0 {
        parts.push(format!("{} passed", counts.passed));
        if counts.skipped > 0 {
            parts.push(format!("{} skipped", counts.skipped));
        }
    }
    let crashed = summary
        .faults
        .iter()
        .filter(|f| f.kind != FaultKind::TimedOut)
        .count();
    let timed_out = summary.faults.len() - crashed;
    let failed = counts.failed.saturating_sub(summary.isolation_bugs.len());
    if failed > 0 {
        let mut how = Vec::new();
        if crashed > 0 {
            how.push(format!("{crashed} crashed their worker"));
        }
        if timed_out > 0 {
            how.push(format!("{timed_out} timed out"));
        }
        parts.push(if how.is_empty() {
            format!("{failed} failed")
        } else {
            format!("{failed} failed ({})", how.join(", "))
        });
    }
    if !summary.isolation_bugs.is_empty() {
        parts.push(format!("{} isolation bug(s)", summary.isolation_bugs.len()));
    }
    if !summary.collection_errors.is_empty() {
        parts.push(format!(
            "{} collection error(s) ({})",
            summary.collection_errors.len(),
            summary
                .collection_errors
                .iter()
                .map(|e| e.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !summary.not_run.is_empty() {
        parts.push(format!("{} not run", summary.not_run.len()));
    }
    let mut line = parts.join(", ");
    if tests > 0 {
        line.push_str(&format!(
            "; {} wall for {} of tests ({})",
            report::seconds(summary.wall_seconds()),
            report::seconds(summary.serial_seconds()),
            report::speedup(summary.serial_seconds(), summary.wall_seconds())
        ));
    }
    line
}

/// A readable name for a junit case: its nodeid, else junit's own names.
fn case_name(c: &CaseResult) -> String {
    c.nodeid.clone().unwrap_or_else(|| {
        if c.case.classname.is_empty() {
            c.case.name.clone()
        } else {
            format!("{}::{}", c.case.classname, c.case.name)
        }
    })
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One phase on the timeline: its cases that carry a start time, each on
/// its worker under its plan unit (a test the plan does not know is its own
/// unit).
fn phase_timeline(
    label: &str,
    started: f64,
    wall: f64,
    cases: &[CaseResult],
    unit_of: &HashMap<&str, &str>,
) -> gantt::PhaseTimeline {
    let spans: Vec<(String, String, f64, f64)> = cases
        .iter()
        .filter_map(|c| {
            let start = c.case.start?;
            let nodeid = c.nodeid.clone().unwrap_or_else(|| case_name(c));
            let function = function_nodeid(&nodeid);
            let unit = unit_of
                .get(function)
                .map_or_else(|| format!("test:{function}"), |u| u.to_string());
            let worker = c.case.worker.clone().unwrap_or_else(|| "main".into());
            Some((worker, unit, start, c.case.time))
        })
        .collect();
    gantt::PhaseTimeline {
        label: label.to_string(),
        start: started,
        wall,
        bars: gantt::bars(&spans),
    }
}

/// Runs one pytest process, watching it for stalls; how it ended and its
/// wall time in seconds.
fn run_timed(
    cmd: &mut std::process::Command,
    opts: &RunOptions,
    work: &Path,
    tag: &str,
) -> Result<(process::Finished, f64), RunError> {
    let start = Instant::now();
    let mut watch = StallWatch::new(work, tag.to_string(), opts);
    let finished = process::run(cmd, &mut || watch.tick()).map_err(|source| RunError::Python {
        python: opts.python.clone(),
        source,
    })?;
    Ok((finished, start.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_phase_wins_and_empty_phases_do_not_fail() {
        assert_eq!(combine(&[0, 5, 0]), 0);
        assert_eq!(combine(&[5, 1]), 1);
        assert_eq!(combine(&[1, 2]), 2);
        assert_eq!(combine(&[5, 5]), 5);
        assert_eq!(combine(&[]), 5);
    }

    #[test]
    fn serial_steps_run_in_one_xdist_worker_that_can_be_replaced() {
        assert_eq!(dist_args(1, true), ["-n", "1"]);
        assert_eq!(dist_args(4, true), ["-n", "4"]);
        assert_eq!(dist_args(1, false), ["-p", "no:xdist"]);
    }

    #[test]
    fn exitfirst_options_stop_later_phases() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(stops_on_failure(&args(&["-q", "-x"])));
        assert!(stops_on_failure(&args(&["--maxfail=2"])));
        assert!(!stops_on_failure(&args(&["-q", "-k", "x"])));
    }

    #[test]
    fn junit_cases_map_back_to_exact_nodeids() {
        let dir = tempfile::tempdir().unwrap();
        let junit = dir.path().join("j.xml");
        std::fs::write(
            &junit,
            r#"<testsuites><testsuite>
<testcase classname="tests.test_a.TestX" name="test_y[a.b]" time="0.5"><failure/></testcase>
<testcase classname="tests.test_a" name="test_z" time="0.25"/>
<testcase classname="" name="tests.test_broken" time="0"><error/></testcase>
</testsuite></testsuites>"#,
        )
        .unwrap();
        let known = vec![
            "tests/test_a.py::TestX::test_y[a.b]".to_string(),
            "tests/test_a.py::test_z".to_string(),
        ];
        let cases = read_cases(&junit, &known);
        let ids: Vec<Option<&str>> = cases.iter().map(|c| c.nodeid.as_deref()).collect();
        assert_eq!(
            ids,
            [
                Some("tests/test_a.py::TestX::test_y[a.b]"),
                Some("tests/test_a.py::test_z"),
                None
            ]
        );
        assert_eq!(case_name(&cases[2]), "tests.test_broken");
        assert_eq!(
            cases[0].case.outcome,
            crate::plan::durations::Outcome::Failed
        );
    }

    #[test]
    fn schedule_carries_units_phases_and_shard() {
        use crate::plan::{build, Classified, PlanOptions, TestClass};
        let tests = vec![Classified {
            nodeid: "t.py::a".into(),
            class: TestClass::Grouped,
            unit: "res:port:1".into(),
            resources: vec!["port:1".into()],
            codes: vec![],
        }];
        let opts = PlanOptions {
            workers: 2,
            heavy_workers: None,
            shards: Some((1, 1)),
        };
        let plan = build(tests, &Durations::new(), &opts).unwrap();
        let mut recorded = Durations::new();
        recorded.add_case("t.py::a", 9.0);
        recorded.add_case("t.py::new[1]", 2.5);
        let json: serde_json::Value =
            serde_json::from_str(&schedule_json(&plan, &recorded)).unwrap();
        assert_eq!(json["recorded"], serde_json::json!({"t.py::new": 2.5}));
        assert_eq!(json["tests"]["t.py::a"]["unit"], "res:port:1");
        assert_eq!(json["tests"]["t.py::a"]["phase"], 1);
        assert_eq!(json["default_seconds"], 1.0);
        assert_eq!(json["shard"]["count"], 1);
    }
}
