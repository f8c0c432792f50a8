//! `reports/ci_timings.md`: what one `isoaudit run` did, phase by phase, and
//! the trend of earlier runs. Owns the layout only; `execute` measures.

use std::fmt::Write;

use super::history::RunRecord;

/// Where the timing report goes, relative to the project root.
pub const CI_TIMINGS: &str = "reports/ci_timings.md";

/// How many earlier runs the trend table shows.
const TREND_ROWS: usize = 10;

/// One pytest invocation of the run.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsolationBug {
    pub nodeid: String,
    pub unit: String,
    pub resources: Vec<String>,
    /// False when the plan did not know the test.
    pub planned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: u64,
    pub workers: usize,
    pub phases: Vec<PhaseRun>,
    pub isolation_bugs: Vec<IsolationBug>,
    /// Failed in parallel and again alone, or failed in a serial phase.
    pub failures: Vec<String>,
    /// Tests the plan did not know, run in phase 1.
    pub unknown: usize,
    pub exit_code: i32,
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

fn speedup(serial: f64, wall: f64) -> String {
    if wall > 0.0 {
        format!("{:.2}x", serial / wall)
    } else {
        "n/a".into()
    }
}

fn result_word(exit_code: i32, isolation_bugs: usize) -> String {
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
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}s | {:.2}s | {} |",
            p.label, p.tests, p.workers, p.wall_seconds, p.test_seconds, p.exit_code
        );
    }
    let wall = summary.wall_seconds();
    let serial = summary.serial_seconds();
    let _ = writeln!(
        out,
        "| **total** | {} | | {:.2}s | {:.2}s | {} |\n",
        summary.tests(),
        wall,
        serial,
        summary.exit_code
    );
    let _ = writeln!(
        out,
        "- summed serial time (the test durations added up): {serial:.2}s"
    );
    let _ = writeln!(out, "- wall time of the run: {wall:.2}s");
    let _ = writeln!(
        out,
        "- speedup against the summed serial time: {}",
        speedup(serial, wall)
    );
    if summary.unknown > 0 {
        let _ = writeln!(
            out,
            "- test functions the plan did not know (run in phase 1, each as its own unit): {}",
            summary.unknown
        );
    }
    let _ = writeln!(
        out,
        "- result: {}\n",
        result_word(summary.exit_code, summary.isolation_bugs.len())
    );

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
            let resources = if bug.resources.is_empty() {
                "none found".to_string()
            } else {
                bug.resources
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "| `{}` | {} | {} |", bug.nodeid, unit, resources);
        }
        out.push('\n');
    }

    if !summary.failures.is_empty() {
        let _ = writeln!(out, "## Failures\n");
        for nodeid in &summary.failures {
            let _ = writeln!(out, "- `{nodeid}`");
        }
        out.push('\n');
    }

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
            "| {} | {} | {} | {:.2}s | {:.2}s | {} | {} |",
            r.run,
            r.workers,
            r.tests,
            r.wall_seconds,
            r.serial_seconds,
            speedup(r.serial_seconds, r.wall_seconds),
            result_word(r.exit_code, r.isolation_bugs)
        );
    }
    out
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
            })
            .collect();
        let text = render(&summary, &trend);
        assert!(text.contains("| 12 |") && text.contains("| 3 |") && !text.contains("\n| 2 | 2 |"));
        insta::assert_snapshot!(text);
    }
}
