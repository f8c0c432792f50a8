//! The markdown audit (`isoaudit report`) and the fixture graph (`isoaudit
//! graph`). Owns where the report goes by default, how it links back to the
//! sources, writing it atomically and recognising its date; the sections are
//! in `render.rs`, the "next steps" scoring in `steps.rs`, the graph in
//! `graph.rs`. Reads the analysis, the findings and the plan it is given;
//! changes none of them. The command glue (arguments, `--check`, messages)
//! is `app.rs`'s: nothing here knows the command line.

mod ctx;
pub mod graph;
pub mod md;
mod render;
mod steps;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{absolutize, strip_nodeid};
use crate::diagnostic::Finding;
use crate::plan::{self, durations::HISTORY_DURATIONS, Classified, Durations, Plan, PlanOptions};
use crate::Analysis;

/// Where the report goes unless `-o` says otherwise, under the project root.
pub const DEFAULT_REPORT: &str = "docs/test-isolation-audit.md";

/// Workers assumed when neither the command line, `PYTEST_WORKERS` nor the
/// config sets them: a fixed number keeps the report the same on every machine.
pub const DEFAULT_WORKERS: usize = 4;

/// Re-plans variants of the suite with the report's durations and workers.
pub struct Planner {
    durations: Durations,
    opts: PlanOptions,
}

impl Planner {
    pub fn new(durations: Durations, opts: PlanOptions) -> Self {
        Planner { durations, opts }
    }

    pub fn plan(&self, tests: Vec<Classified>) -> Option<Plan> {
        plan::build(tests, &self.durations, &self.opts).ok()
    }
}

/// Everything `render` needs besides the analysis.
pub struct ReportOptions {
    /// Directory the report is written in (absolute), for relative links.
    pub report_dir: PathBuf,
    pub date: Option<String>,
    /// `--workers` / `PYTEST_WORKERS` value, if any.
    pub workers: Option<String>,
    /// Where `workers` came from, in words.
    pub workers_from: String,
    /// Paths as given on the command line.
    pub paths: Vec<PathBuf>,
    /// Directory the paths are relative to.
    pub invocation_dir: PathBuf,
}

/// Renders the audit of `analysis` as markdown, listing `findings` (the
/// caller's selection of them, sorted).
pub fn render(
    analysis: &Analysis,
    findings: &[Finding],
    opts: &ReportOptions,
) -> anyhow::Result<String> {
    let root = md::normalize(&analysis.project.root);
    let sched = &analysis.project.settings.scheduler;
    let (workers, workers_source) = match &opts.workers {
        Some(w) => {
            let n = plan::parse_workers(w)?;
            let source = if w.trim().eq_ignore_ascii_case("auto") {
                format!(
                    "`auto` from {}: the CPUs of this machine",
                    opts.workers_from
                )
            } else {
                format!("from {}", opts.workers_from)
            };
            (n, source)
        }
        None => match sched.workers {
            Some(n) => (n, "from `[tool.isoaudit.scheduler] workers`".to_string()),
            None => (
                DEFAULT_WORKERS,
                "the report's default; set `--workers` or `PYTEST_WORKERS` to change it"
                    .to_string(),
            ),
        },
    };
    let explicit = sched.durations.as_deref();
    let durations = Durations::load_default(&root, explicit)?;
    let durations_source = match explicit {
        Some(p) => Some(display_rel(&root, &absolutize(&root, p))),
        None => [HISTORY_DURATIONS, ".test_durations"]
            .into_iter()
            .find(|c| root.join(c).is_file())
            .map(str::to_string),
    };
    let planner = Planner::new(
        durations,
        PlanOptions {
            workers,
            heavy_workers: sched.heavy_workers,
            shards: None,
        },
    );
    let base = relative_link_base(&opts.report_dir, &root);
    let cx = ctx::Ctx::new(analysis, md::Links { base });
    let plan = plan::build(
        steps::classified(&cx, false, &Default::default()),
        &planner.durations,
        &planner.opts,
    )?;
    let scope = scope(analysis, &opts.paths, &opts.invocation_dir);
    Ok(render::render(
        &cx,
        &planner,
        &render::Input {
            plan: &plan,
            findings,
            date: opts.date.as_deref(),
            workers_source: &workers_source,
            durations_source: durations_source.as_deref(),
            scope: &scope,
        },
    ))
}

/// `base` such that `base + rel` leads from the report's directory to a
/// project file; empty when no relative path exists.
fn relative_link_base(report_dir: &Path, root: &Path) -> String {
    md::relative_prefix(&md::normalize(report_dir), root).unwrap_or_default()
}

/// `path` relative to `root` with `/`, or its file name when outside it.
fn display_rel(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
        Err(_) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into()),
    }
}

/// The analysed paths, project-relative, for the report's first line.
fn scope(a: &Analysis, paths: &[PathBuf], cwd: &Path) -> Vec<String> {
    let root = md::normalize(&a.project.root);
    let mut out: Vec<String> = if paths.is_empty() {
        if a.project.pytest.testpaths.is_empty() {
            vec![".".into()]
        } else {
            a.project.pytest.testpaths.clone()
        }
    } else {
        paths
            .iter()
            .map(|p| display_rel(&root, &absolutize(cwd, &strip_nodeid(p))))
            .collect()
    };
    out.sort();
    out.dedup();
    out
}

/// Checks `--date`: `YYYY-MM-DD`.
pub fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return false;
    }
    let month: u32 = d[5..7].parse().unwrap_or(0);
    let day: u32 = d[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// The date a report on disk was written with, so `--check` without
/// `--date` compares content, not the day it was generated.
pub fn date_in(text: &str) -> Option<String> {
    let line = text.lines().take(5).find(|l| l.contains(" Audit date: "))?;
    let rest = &line[line.find(" Audit date: ")? + " Audit date: ".len()..];
    let d = rest.trim_end().trim_end_matches('.');
    valid_date(d).then(|| d.to_string())
}

/// Writes `text` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::run::history::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_and_found_again() {
        assert!(valid_date("2025-01-17"));
        assert!(!valid_date("2025-13-01"));
        assert!(!valid_date("17/01/2025"));
        assert_eq!(
            date_in("# T\n\nStatic audit of `.` by x. Audit date: 2025-01-17.\n").as_deref(),
            Some("2025-01-17")
        );
        assert_eq!(date_in("# T\n\nStatic audit of `.`.\n"), None);
    }
}
