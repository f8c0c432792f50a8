//! `reports/ci_timings.md`: what one `isoaudit run` did, phase by phase, and
//! the trend of earlier runs. Owns the layout only; `execute` measures.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::history::RunRecord;

/// Where the timing report goes, relative to the project root.
pub const CI_TIMINGS: &str = "reports/ci_timings.md";

/// How many earlier runs the trend table shows.
pub(crate) const TREND_ROWS: usize = 10;

/// One pytest invocation of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRun {
    pub label: String,
    pub workers: usize,
    pub exit_code: i32,
    pub wall_seconds: f64,
    /// Test cases reported in the junit XML.
    pub tests: usize,
    /// The sum of those cases' durations.
    pub test_seconds: f64,
    /// A re-run of failures does not count toward the summed serial time.
    pub is_rerun: bool,
}

/// A test that failed in parallel and passed alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IsolationBug {
    pub nodeid: String,
    pub unit: String,
    pub resources: Vec<String>,
    /// False when the plan did not know the test.
    pub planned: bool,
}

/// How a test took its worker down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultKind {
    /// The worker process died (`os._exit`, a signal, a segfault).
    Crashed,
    /// It ran longer than `--timeout`; its worker was stopped.
    TimedOut,
    /// It closed `sys.stdout` or `sys.stderr`; its worker was replaced.
    ClosedOutput,
}

impl FaultKind {
    pub fn words(self) -> &'static str {
        match self {
            FaultKind::Crashed => "crashed its worker",
            FaultKind::TimedOut => "timed out",
            FaultKind::ClosedOutput => "closed its worker's output",
        }
    }
}

/// What the serial re-run said about a test that faulted in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Alone {
    /// Not re-run (a phase with no re-run, or re-runs are off).
    NotRerun,
    /// The same fault again, alone: the test itself is at fault.
    FaultedAgain,
    /// Failed alone without a fault.
    Failed,
    /// Passed alone: an isolation bug.
    Passed,
}

/// A test that crashed, hung or broke its worker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fault {
    pub nodeid: String,
    pub kind: FaultKind,
    /// The phase label it happened in.
    pub phase: String,
    pub worker: String,
    /// The test's own frames, innermost first (timeouts).
    pub stack: Vec<String>,
    pub alone: Alone,
}

/// A file pytest could not collect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CollectionError {
    /// The collector's nodeid: a path relative to the rootdir.
    pub path: String,
    /// The line of pytest's report that says what went wrong.
    pub message: String,
}

/// A process a test started and left running after the session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LeftBehind {
    /// The test that started it, when known.
    pub nodeid: Option<String>,
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: u64,
    pub workers: usize,
    pub phases: Vec<PhaseRun>,
    pub isolation_bugs: Vec<IsolationBug>,
    /// Failed in parallel and again alone, or failed in a serial phase.
    pub failures: Vec<String>,
    /// Tests the plan did not know, run in phase 1.
    pub unknown: usize,
    pub faults: Vec<Fault>,
    pub collection_errors: Vec<CollectionError>,
    pub left_behind: Vec<LeftBehind>,
    /// Selected but never reported: the phase stopped before them.
    pub not_run: Vec<String>,
    /// Why a phase stopped early, one sentence each.
    pub stops: Vec<String>,
    pub exit_code: i32,
    /// Each pytest invocation and its workers' units over time. Drawn for
    /// this run only: a merged matrix report has no single timeline.
    #[serde(skip)]
    pub timeline: Vec<super::gantt::PhaseTimeline>,
}

impl RunSummary {
    pub fn wall_seconds(&self) -> f64 {
        self.phases.iter().map(|p| p.wall_seconds).sum()
    }

    /// What the run's tests would take one after another.
    pub fn serial_seconds(&self) -> f64 {
        self.phases
            .iter()
            .filter(|p| !p.is_rerun)
            .map(|p| p.test_seconds)
            .sum()
    }

    pub fn tests(&self) -> usize {
        self.phases
            .iter()
            .filter(|p| !p.is_rerun)
            .map(|p| p.tests)
            .sum()
    }
}

/// A time for people: never negative, never a bare zero.
pub fn seconds(value: f64) -> String {
    if value.is_finite() && value >= 0.005 {
        format!("{value:.2}s")
    } else {
        "<0.01s".into()
    }
}

/// The speedup, when both times are large enough to divide.
pub fn speedup(serial: f64, wall: f64) -> String {
    if serial.is_finite() && wall.is_finite() && serial >= 0.005 && wall >= 0.005 {
        match serial / wall {
            ratio if ratio < 0.005 => "<0.01x".into(),
            ratio => format!("{ratio:.2}x"),
        }
    } else {
        "n/a".into()
    }
}

pub(crate) fn result_word(exit_code: i32, isolation_bugs: usize) -> String {
    match (exit_code, isolation_bugs) {
        (0, 0) => "passed".into(),
        (0, n) => format!("passed, {n} isolation bug(s) allowed"),
        (1, 0) => "failed".into(),
        (1, n) => format!("failed, {n} isolation bug(s)"),
        (5, _) => "no tests".into(),
        (2, _) => "interrupted".into(),
        (code, _) => format!("error (exit {code})"),
    }
}

/// Markdown for `reports/ci_timings.md`. `trend` is the history including
/// this run, oldest first.
pub fn render(summary: &RunSummary, trend: &[RunRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# CI timings\n");
    let _ = writeln!(
        out,
        "Run {} of `isoaudit run`, {} worker(s).\n",
        summary.run, summary.workers
    );

    let _ = writeln!(
        out,
        "| phase | tests | workers | wall time | test time | exit |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for p in &summary.phases {
        let test_time = if p.tests == 0 {
            "–".to_string()
        } else {
            seconds(p.test_seconds)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            p.label,
            p.tests,
            p.workers,
            seconds(p.wall_seconds),
            test_time,
            p.exit_code
        );
    }
    let wall = summary.wall_seconds();
    let serial = summary.serial_seconds();
    let tests = summary.tests();
    let serial_text = if tests == 0 {
        "–".to_string()
    } else {
        seconds(serial)
    };
    let _ = writeln!(
        out,
        "| **total** | {} | | {} | {} | {} |\n",
        tests,
        seconds(wall),
        serial_text,
        summary.exit_code
    );
    if tests == 0 {
        let _ = writeln!(out, "- no test ran");
    } else {
        let _ = writeln!(
            out,
            "- summed serial time (the test durations added up): {serial_text}"
        );
    }
    let _ = writeln!(out, "- wall time of the run: {}", seconds(wall));
    if tests > 0 {
        let _ = writeln!(
            out,
            "- speedup against the summed serial time: {}",
            speedup(serial, wall)
        );
    }
    if !summary.faults.is_empty() {
        let _ = writeln!(
            out,
            "- tests that crashed, hung or broke their worker: {}",
            summary.faults.len()
        );
    }
    if !summary.collection_errors.is_empty() {
        let _ = writeln!(
            out,
            "- collection errors: {}",
            summary.collection_errors.len()
        );
    }
    if !summary.not_run.is_empty() {
        let _ = writeln!(
            out,
            "- selected tests that did not run: {}",
            summary.not_run.len()
        );
    }
    if summary.unknown > 0 {
        let _ = writeln!(
            out,
            "- test functions the plan did not know (run in phase 1, each as its own unit): {}",
            summary.unknown
        );
    }
    let result = if summary.exit_code == 2 && !summary.collection_errors.is_empty() {
        "collection errors: pytest stopped before running tests".to_string()
    } else {
        result_word(summary.exit_code, summary.isolation_bugs.len())
    };
    let _ = writeln!(out, "- result: {result}\n");

    let chart = super::gantt::render(&summary.timeline);
    if !chart.is_empty() {
        let _ = writeln!(out, "## Timeline\n");
        let _ = writeln!(
            out,
            "The phases one after another, then each worker's units over time (minutes:seconds \
             from the start of the run); a bar is a unit, or the tests of one unit a worker ran \
             back to back.\n"
        );
        let _ = writeln!(out, "{chart}");
    }

    let _ = writeln!(out, "## Isolation bugs\n");
    if summary.isolation_bugs.is_empty() {
        let _ = writeln!(
            out,
            "None found: no test failed in parallel and passed alone.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "These tests failed in the parallel phase and passed when re-run alone: \
             something they share with a test that ran beside them is not in the plan.\n"
        );
        let _ = writeln!(out, "| test | unit | resources |");
        let _ = writeln!(out, "|---|---|---|");
        for bug in &summary.isolation_bugs {
            let unit = if bug.planned {
                format!("`{}`", bug.unit)
            } else {
                format!("`{}` (not in the plan)", bug.unit)
            };
            let resources = resource_list(&bug.resources);
            let _ = writeln!(out, "| `{}` | {} | {} |", bug.nodeid, unit, resources);
        }
        out.push('\n');
    }

    render_faults(&mut out, summary);
    render_failures(&mut out, summary);

    let _ = writeln!(out, "## Trend (last {TREND_ROWS} runs)\n");
    let _ = writeln!(
        out,
        "| run | workers | tests | wall time | serial time | speedup | result |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---|");
    let start = trend.len().saturating_sub(TREND_ROWS);
    for r in trend[start..].iter().rev() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.run,
            r.workers,
            r.tests,
            seconds(r.wall_seconds),
            if r.tests == 0 {
                "–".to_string()
            } else {
                seconds(r.serial_seconds)
            },
            speedup(r.serial_seconds, r.wall_seconds),
            result_word(r.exit_code, r.isolation_bugs)
        );
    }
    out
}

/// The sections on what went wrong outside ordinary failures: collection
/// errors, crashes and timeouts, processes left running, tests not run.
/// An isolation bug's resources, as a table cell.
pub(crate) fn resource_list(resources: &[String]) -> String {
    if resources.is_empty() {
        return "none found".to_string();
    }
    resources
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The "Failures" section: tests that failed for real.
pub(crate) fn render_failures(out: &mut String, summary: &RunSummary) {
    if summary.failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Failures\n");
    for nodeid in &summary.failures {
        let _ = writeln!(out, "- `{nodeid}`");
    }
    out.push('\n');
}

pub(crate) fn render_faults(out: &mut String, summary: &RunSummary) {
    if !summary.collection_errors.is_empty() {
        let _ = writeln!(out, "## Collection errors\n");
        let _ = writeln!(
            out,
            "pytest could not collect these files; none of their tests ran.\n"
        );
        let _ = writeln!(out, "| file | error |");
        let _ = writeln!(out, "|---|---|");
        for e in &summary.collection_errors {
            let _ = writeln!(out, "| `{}` | {} |", e.path, cell(&e.message));
        }
        out.push('\n');
    }
    if !summary.faults.is_empty() {
        let _ = writeln!(out, "## Crashes and timeouts\n");
        let _ = writeln!(
            out,
            "These tests took their worker down; each was reported as failed, never \
             handed out again in its phase, and its worker was replaced.\n"
        );
        let _ = writeln!(out, "| test | what happened | phase | worker | alone |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for f in &summary.faults {
            let alone = match f.alone {
                Alone::NotRerun => "not re-run",
                Alone::FaultedAgain => "the same again",
                Alone::Failed => "failed",
                Alone::Passed => "passed (isolation bug)",
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                f.nodeid,
                f.kind.words(),
                f.phase,
                f.worker,
                alone
            );
        }
        out.push('\n');
        for f in summary.faults.iter().filter(|f| !f.stack.is_empty()) {
            let _ = writeln!(out, "`{}` was running:\n", f.nodeid);
            let _ = writeln!(out, "```");
            for frame in &f.stack {
                let _ = writeln!(out, "{frame}");
            }
            let _ = writeln!(out, "```\n");
        }
    }
    if !summary.left_behind.is_empty() {
        let _ = writeln!(out, "## Processes left running\n");
        let _ = writeln!(
            out,
            "Tests started these and did not stop them; isoaudit stopped them when \
             the session ended. Stop what a test starts in its teardown.\n"
        );
        let _ = writeln!(out, "| test | command |");
        let _ = writeln!(out, "|---|---|");
        for l in &summary.left_behind {
            let test = l
                .nodeid
                .as_deref()
                .map_or_else(|| "unknown".to_string(), |n| format!("`{n}`"));
            let _ = writeln!(out, "| {} | `{}` |", test, cell(&l.cmdline));
        }
        out.push('\n');
    }
    if !summary.stops.is_empty() || !summary.not_run.is_empty() {
        let _ = writeln!(out, "## Not run\n");
        for stop in &summary.stops {
            let _ = writeln!(out, "{stop}\n");
        }
        for nodeid in &summary.not_run {
            let _ = writeln!(out, "- `{nodeid}`");
        }
        if !summary.not_run.is_empty() {
            out.push('\n');
        }
    }
}

/// Text that fits in one table cell.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(
        label: &str,
        workers: usize,
        wall: f64,
        tests: usize,
        secs: f64,
        rerun: bool,
    ) -> PhaseRun {
        PhaseRun {
            label: label.into(),
            workers,
            exit_code: if rerun { 0 } else { 1 },
            wall_seconds: wall,
            tests,
            test_seconds: secs,
            is_rerun: rerun,
        }
    }

    #[test]
    fn report_lists_phases_bugs_and_trend() {
        let summary = RunSummary {
            run: 12,
            workers: 2,
            phases: vec![
                phase("1 parallel", 2, 5.0, 40, 9.0, false),
                phase("3 serial", 1, 1.5, 2, 1.4, false),
                phase("re-run of phase-1 failures", 1, 0.9, 1, 0.6, true),
            ],
            isolation_bugs: vec![IsolationBug {
                nodeid: "tests/test_a.py::test_x[1]".into(),
                unit: "res:path:/tmp/x".into(),
                resources: vec!["path:/tmp/x".into()],
                planned: true,
            }],
            failures: vec!["tests/test_b.py::test_y".into()],
            unknown: 3,
            faults: vec![Fault {
                nodeid: "tests/test_c.py::test_hang".into(),
                kind: FaultKind::TimedOut,
                phase: "1 parallel".into(),
                worker: "gw1".into(),
                stack: vec!["File \"tests/test_c.py\", line 5 in test_hang".into()],
                alone: Alone::FaultedAgain,
            }],
            collection_errors: vec![CollectionError {
                path: "tests/test_broken.py".into(),
                message: "SyntaxError: invalid syntax | here".into(),
            }],
            left_behind: vec![LeftBehind {
                nodeid: Some("tests/test_c.py::test_fork".into()),
                cmdline: "sleep 600".into(),
            }],
            not_run: vec!["tests/test_c.py::test_later".into()],
            stops: vec!["phase 1 parallel stopped early.".into()],
            timeline: Vec::new(),
            exit_code: 1,
        };
        assert_eq!(summary.tests(), 42, "the re-run does not count twice");
        assert!((summary.serial_seconds() - 10.4).abs() < 1e-9);
        let trend: Vec<RunRecord> = (1..=12)
            .map(|run| RunRecord {
                run,
                workers: 2,
                tests: 42,
                wall_seconds: 7.4,
                serial_seconds: 10.4,
                exit_code: if run == 12 { 1 } else { 0 },
                isolation_bugs: usize::from(run == 12),
                failed: 1,
                shard: None,
                shards: None,
            })
            .collect();
        let text = render(&summary, &trend);
        assert!(text.contains("| 12 |") && text.contains("| 3 |") && !text.contains("\n| 2 | 2 |"));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn no_test_and_tiny_times_never_show_a_zero_or_negative_figure() {
        let summary = RunSummary {
            run: 1,
            workers: 2,
            phases: vec![phase("1 parallel", 2, 0.0, 0, -0.0, false)],
            isolation_bugs: vec![],
            failures: vec![],
            unknown: 0,
            faults: vec![],
            collection_errors: vec![],
            left_behind: vec![],
            not_run: vec![],
            stops: vec![],
            timeline: Vec::new(),
            exit_code: 5,
        };
        let text = render(&summary, &[]);
        assert!(text.contains("- no test ran"), "{text}");
        assert!(text.contains("- result: no tests"), "{text}");
        assert!(
            !text.contains("0.00s") && !text.contains("0.00x") && !text.contains("-0"),
            "{text}"
        );
        assert_eq!(seconds(-0.0), "<0.01s");
        assert_eq!(seconds(0.004), "<0.01s");
        assert_eq!(seconds(1.5), "1.50s");
        assert_eq!(speedup(0.01, 10.0), "<0.01x");
        assert_eq!(speedup(0.0, 1.0), "n/a");
        assert_eq!(speedup(4.0, 2.0), "2.00x");
    }
}
