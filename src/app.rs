//! Command dispatch: glue between the CLI structs and the library. Owns
//! what every command shares before and after the analysis: the paths must
//! exist, a suite without tests is said to be one, paths are shown relative
//! to the directory isoaudit runs in, a closed pipe ends the command quietly,
//! and every outcome maps to an exit code: 0 clean, 1 findings, 2
//! usage/config/internal error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::baseline::Baseline;
use crate::cli::{
    CheckArgs, Cli, ColorChoice, Command, Common, CompletionsArgs, GlobalArgs, GraphArgs,
    GraphFormat, OutputFormat, ReportArgs, RuleArgs, Shell,
};
use crate::config::{self, absolutize, strip_nodeid, Project};
use crate::diagnostic::{sort_findings, Applicability, Finding, SourceMap, Summary};
use crate::output::{self, OutputOptions, RuleInfo};
use crate::report::{self, md};
use crate::rules::{self, fix, registry, Selection};
use crate::{analyze, Analysis, AnalyzeOptions};

pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// The global options, set once by [`main`]; library callers that never
/// set them get the defaults (colour on a terminal, normal chatter).
static UI: std::sync::OnceLock<GlobalArgs> = std::sync::OnceLock::new();

fn ui() -> GlobalArgs {
    UI.get().cloned().unwrap_or_default()
}

/// Whether `--quiet` was given: summaries, progress and warnings are left out.
pub fn quiet() -> bool {
    ui().quiet
}

/// Whether `--verbose` was given: what was read and how long it took.
pub fn verbose() -> bool {
    ui().verbose
}

/// A line of stderr chatter (a summary, a warning): left out with `--quiet`.
pub fn note(line: &str) {
    if !quiet() {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// A `--verbose` line on stderr.
pub fn detail(command: &str, line: &str) {
    if verbose() {
        let _ = writeln!(std::io::stderr(), "isoaudit {command}: {line}");
    }
}

/// `--color`: `auto` colours a terminal unless `NO_COLOR` is set to
/// something (no-color.org); `always` and `never` say so whatever the
/// stream or the environment.
fn color_for(is_terminal: bool) -> bool {
    match ui().color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// Runs one command; returns the process exit code.
pub fn main(cli: Cli) -> u8 {
    let _ = UI.set(cli.global.clone());
    let result = match cli.command {
        Command::Completions(args) => completions(&args),
        Command::Check(args) => check(&args),
        Command::Rule(args) => rule(&args),
        Command::Report(args) => report(&args),
        Command::Plan(args) => plan(&args),
        Command::Run(args) => run(&args),
        Command::Graph(args) => graph(&args),
        Command::History(crate::cli::HistoryCommand::Merge(args)) => history_merge(&args),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): nothing is left to tell, as with
        // ruff and ripgrep.
        Err(e) if is_broken_pipe(&e) => EXIT_CLEAN,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "isoaudit: error: {e:#}");
            EXIT_ERROR
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A write to stdout that the reader stopped reading counts as done: the
/// command still ends with the exit code its result calls for.
fn written(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub fn stdout_color() -> bool {
    color_for(std::io::stdout().is_terminal())
}

pub fn stderr_color() -> bool {
    color_for(std::io::stderr().is_terminal())
}

/// A command-line path, absolute: relative ones are taken from the current
/// directory, whatever directory the command later works in.
fn from_cwd(path: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => absolutize(&cwd, path),
        Err(_) => path.to_path_buf(),
    }
}

/// Loads the configuration, printing a config error (with its TOML span) on failure.
pub fn load_project(common: &Common) -> Result<Project, u8> {
    match config::load(&common.paths, common.config.as_deref()) {
        Ok(p) => Ok(p),
        Err(e) => {
            let _ = output::print_error(&mut std::io::stderr(), &e, stderr_color());
            Err(EXIT_ERROR)
        }
    }
}

/// Loads and analyses the suite for an analysing command. A path on the
/// command line that does not exist is a usage error for every command
/// (pytest: "file or directory not found"), never an empty analysis.
pub fn analyse(command: &str, common: &Common, opts: &AnalyzeOptions) -> Result<Analysis, u8> {
    check_paths(command, common)?;
    let started = std::time::Instant::now();
    let project = load_project(common)?;
    if verbose() {
        let shown = Shown::new(&project.root);
        detail(command, &format!("rootdir: {}", shown.root()));
        let config = match &project.config_file {
            Some(f) => shown_path(f),
            None => "none (defaults)".into(),
        };
        detail(command, &format!("[tool.isoaudit] from: {config}"));
        if let Some(ini) = &project.pytest.inifile {
            detail(
                command,
                &format!("pytest options from: {}", shown.path(ini)),
            );
        }
    }
    let analysis = analyze(project, &common.paths, opts);
    detail(
        command,
        &format!(
            "read {} in {:.2}s: {}",
            plural(analysis.files, "file", "files"),
            started.elapsed().as_secs_f64(),
            plural(analysis.test_count(), "test", "tests")
        ),
    );
    Ok(analysis)
}

/// A file path as the user would type it from the current directory.
fn shown_path(path: &Path) -> String {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| md::normalize(p));
    match std::env::current_dir() {
        Ok(cwd) => match crate::walk::relative(&canonical(&cwd), &canonical(path)) {
            rel if rel.is_empty() => ".".into(),
            rel => rel,
        },
        Err(_) => path.display().to_string(),
    }
}

/// Every path given must exist (a nodeid's file part, for `a.py::test_x`).
/// A dangling symlink exists as a name: the walk reports it as ISO002.
pub fn check_paths(command: &str, common: &Common) -> Result<(), u8> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut missing = false;
    for p in &common.paths {
        let path = absolutize(&cwd, &strip_nodeid(p));
        if let Err(e) = path.symlink_metadata() {
            if e.kind() == std::io::ErrorKind::NotFound {
                eprintln!(
                    "isoaudit {command}: error: `{}`: no such file or directory",
                    p.display()
                );
                missing = true;
            }
        }
    }
    if missing {
        Err(EXIT_ERROR)
    } else {
        Ok(())
    }
}

/// What to say when the analysed paths hold no test: no test file at all
/// (with the `python_files` patterns that decide it), or test files without
/// tests. `None` when there are tests. `check`, `plan`, `report` and `graph`
/// warn with it; `run` can use it for its own zero-test outcome (pytest's
/// exit 5).
pub fn no_tests_message(analysis: &Analysis, common: &Common) -> Option<String> {
    if analysis.test_count() > 0 {
        return None;
    }
    let testpaths = &analysis.project.pytest.testpaths;
    let in_root = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok())
        == analysis.project.root.canonicalize().ok();
    let under = if !common.paths.is_empty() {
        common
            .paths
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect::<Vec<_>>()
            .join(", ")
    } else if in_root && !testpaths.is_empty() {
        format!(
            "the testpaths ({})",
            testpaths
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        "the current directory".to_string()
    };
    let test_files = analysis
        .suite
        .modules
        .iter()
        .filter(|m| !m.is_conftest && !m.support)
        .count();
    Some(if test_files == 0 {
        format!(
            "no test files found under {under} (pytest collects files matching {})",
            analysis
                .project
                .pytest
                .python_files
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!(
            "no tests found in the {test_files} test file{} under {under}",
            if test_files == 1 { "" } else { "s" }
        )
    })
}

fn warn_if_no_tests(command: &str, analysis: &Analysis, common: &Common) -> bool {
    match no_tests_message(analysis, common) {
        Some(m) => {
            note(&format!("isoaudit {command}: warning: {m}"));
            true
        }
        None => false,
    }
}

/// Project-relative paths as the user sees them: relative to the directory
/// isoaudit runs in (climbing out with `..` when the project lies elsewhere),
/// so annotations and editors find the files from there, as with ruff.
pub struct Shown {
    cwd: PathBuf,
    root: PathBuf,
}

impl Shown {
    pub fn new(root: &Path) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| root.to_path_buf());
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| md::normalize(p));
        Shown {
            cwd: canonical(&cwd),
            root: canonical(root),
        }
    }

    /// `rel` (relative to the root) relative to the current directory.
    pub fn path(&self, rel: &str) -> String {
        let shown = crate::walk::relative(&self.cwd, &md::normalize(&self.root.join(rel)));
        if shown.is_empty() {
            ".".into()
        } else {
            shown
        }
    }

    /// The root itself, relative to the current directory.
    pub fn root(&self) -> String {
        self.path(".")
    }

    /// Findings with their paths shown from the current directory, sorted
    /// again in that order.
    pub fn findings(&self, findings: &[Finding]) -> Vec<Finding> {
        let mut out: Vec<Finding> = findings
            .iter()
            .cloned()
            .map(|mut f| {
                f.path = self.path(&f.path);
                f
            })
            .collect();
        sort_findings(&mut out);
        out
    }

    pub fn sources(&self, sources: SourceMap) -> SourceMap {
        sources
            .into_iter()
            .map(|(rel, text)| (self.path(&rel), text))
            .collect()
    }
}

fn rule_info(code: &str) -> Option<RuleInfo> {
    registry::get(code).map(|r| RuleInfo {
        name: r.name.to_string(),
        summary: r.summary.to_string(),
        url: None,
    })
}

pub fn selection(project: &Project, args: &CheckArgs) -> Selection {
    let s = &project.settings;
    Selection {
        select: args.select.clone().or_else(|| s.select.clone()),
        extend_select: s
            .extend_select
            .iter()
            .chain(args.extend_select.iter())
            .cloned()
            .collect(),
        ignore: s.ignore.iter().chain(args.ignore.iter()).cloned().collect(),
        per_file_ignores: s
            .per_file_ignores
            .iter()
            .cloned()
            .chain(
                args.per_file_ignores
                    .iter()
                    .map(|(glob, code)| (glob.clone(), vec![code.clone()])),
            )
            .collect(),
    }
}

/// Findings whose fix needs `--unsafe-fixes`.
fn unsafe_fixable(findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| {
            f.fix
                .as_ref()
                .is_some_and(|x| x.applicability == Applicability::Unsafe)
        })
        .count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What `check` reads for its paths: a `conftest.py` stands for the
/// directory it configures, so that a changed conftest.py (pre-commit passes
/// it alone) re-checks every test below it, not a file without tests.
fn conftests_as_dirs(common: &Common) -> Common {
    let mut common = common.clone();
    for p in &mut common.paths {
        let is_conftest = p.file_name().is_some_and(|n| n == "conftest.py");
        if is_conftest && p.is_file() {
            *p = match p.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
        }
    }
    common
}

fn check(args: &CheckArgs) -> anyhow::Result<u8> {
    if let Err(code) = check_output_files(args) {
        return Ok(code);
    }
    let common = conftests_as_dirs(&args.common);
    let analysis = match analyse("check", &common, &AnalyzeOptions::default()) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    warn_if_no_tests("check", &analysis, &common);
    let sel = selection(&analysis.project, args);
    let mut findings = rules::findings(&analysis, &sel);
    let shown = Shown::new(&analysis.project.root);
    let mut stdout = std::io::stdout().lock();
    let mut err = std::io::stderr();

    if args.diff {
        // What `--fix` with the same options would write, and no more.
        let fixes = fix::plan_fixes(&findings, &analysis.sources(&findings), args.unsafe_fixes);
        for f in &fixes {
            written(write!(stdout, "{}", fix::diff(f, &shown.path(&f.path))))?;
        }
        written(stdout.flush())?;
        let n: usize = fixes.iter().map(|f| f.applied).sum();
        let rejected: usize = fixes.iter().map(|f| f.rejected).sum();
        let held_back = if args.unsafe_fixes {
            0
        } else {
            unsafe_fixable(&findings)
        };
        let more = match held_back {
            0 => String::new(),
            h => format!(
                " ({} held back: add `--unsafe-fixes` to see {})",
                plural(h, "unsafe fix", "unsafe fixes"),
                if h == 1 { "it" } else { "them" }
            ),
        };
        if n == 0 {
            note(&format!("No fixes available{more}."));
        } else {
            note(&format!(
                "Would fix {}{more}.",
                plural(n, "finding", "findings")
            ));
        }
        if rejected > 0 {
            writeln!(
                err,
                "{rejected} fix(es) dropped: the result would not parse."
            )?;
        }
        return Ok(if n > 0 && !args.exit_zero {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        });
    }

    let mut fixed = 0;
    let mut analysis = analysis;
    if args.fix {
        let fixes = fix::plan_fixes(&findings, &analysis.sources(&findings), args.unsafe_fixes);
        for f in &fixes {
            if let Err(e) = fix::write_fix(&analysis.project.root, f) {
                eprintln!("{}: not fixed: {e}", shown.path(&f.path));
                continue;
            }
            fixed += f.applied;
            if f.rejected > 0 {
                eprintln!(
                    "{}: {} fix(es) dropped: the result would not parse",
                    shown.path(&f.path),
                    f.rejected
                );
            }
        }
        if fixed > 0 {
            // Report what is left, from the files as they are now.
            analysis = match analyse("check", &common, &AnalyzeOptions::default()) {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            findings = rules::findings(&analysis, &sel);
        }
    }

    if let Some(path) = &args.write_baseline {
        let baseline = Baseline::from_findings(&findings);
        let target = from_cwd(path);
        if let Err(e) = report::write_atomic(&target, &baseline.to_json()) {
            eprintln!(
                "isoaudit check: error: --write-baseline {}: {e:#}",
                path.display()
            );
            return Ok(EXIT_ERROR);
        }
        note(&format!(
            "Wrote {} to the baseline {}.",
            plural(baseline.len(), "finding", "findings"),
            path.display()
        ));
        return Ok(EXIT_CLEAN);
    }

    // The command line's `--baseline` is taken from the current directory,
    // the config's `baseline` from the config file's.
    let baseline_file = args
        .baseline
        .as_ref()
        .map(|p| (from_cwd(p), p.display().to_string()))
        .or_else(|| {
            analysis
                .project
                .settings
                .baseline
                .as_ref()
                .map(|p| (p.clone(), shown_path(p)))
        });
    let mut partition = None;
    if let Some((path, shown_file)) = &baseline_file {
        let baseline = match Baseline::load(path, shown_file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("isoaudit check: error: {e}");
                return Ok(EXIT_ERROR);
            }
        };
        detail(
            "check",
            &format!(
                "baseline {shown_file}: {}",
                plural(baseline.len(), "known finding", "known findings")
            ),
        );
        let split = baseline.partition(&findings);
        findings = split.new.clone();
        partition = Some((shown_file.clone(), split));
    }

    let summary = Summary {
        files: analysis.files,
        tests: analysis.test_count(),
        findings: findings.len(),
        parse_errors: findings.iter().filter(|f| f.code == "ISO001").count(),
    };
    let root = shown.root();
    let opts = OutputOptions {
        format: args.output_format,
        color: stdout_color() && args.output_format == OutputFormat::Full,
        statistics: args.statistics,
        show_fixes: false,
        tool_version: env!("CARGO_PKG_VERSION"),
        tool_uri: None,
        rules: &rule_info,
        root: &root,
    };
    let printed = shown.findings(&findings);
    let sources = shown.sources(analysis.sources(&findings));
    // The files first: one that cannot be written is a usage error before
    // anything is printed.
    for (format, path) in &args.output_file {
        let mut buf = Vec::new();
        let file_opts = OutputOptions {
            format: *format,
            color: false,
            ..opts
        };
        output::print_findings(&mut buf, &printed, &sources, &summary, &file_opts)?;
        let text = String::from_utf8_lossy(&buf);
        if let Err(e) = report::write_atomic(&from_cwd(path), &text) {
            eprintln!(
                "isoaudit check: error: --output-file {}={}: {e:#}",
                format_name(*format),
                path.display()
            );
            return Ok(EXIT_ERROR);
        }
        detail(
            "check",
            &format!("wrote {} to {}", format_name(*format), path.display()),
        );
    }
    written(output::print_findings(
        &mut stdout,
        &printed,
        &sources,
        &summary,
        &opts,
    ))?;
    written(stdout.flush())?;
    if let Some((shown_file, split)) = &partition {
        note(&baseline_line(shown_file, split));
        if !quiet() {
            for f in &split.fixed {
                writeln!(err, "  fixed: {}", f.describe())?;
            }
        }
    }
    if args.fix {
        let held_back = if args.unsafe_fixes {
            0
        } else {
            unsafe_fixable(&findings)
        };
        let more = match held_back {
            0 => String::new(),
            h => format!(" ({h} more fixable with `--fix --unsafe-fixes`)"),
        };
        if fixed > 0 {
            note(&format!(
                "Fixed {}{more}.",
                plural(fixed, "finding", "findings")
            ));
        } else if held_back > 0 {
            note(&format!("No fixes applied{more}."));
        }
    }
    Ok(if findings.is_empty() || args.exit_zero {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn format_name(format: OutputFormat) -> String {
    use clap::ValueEnum;
    format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The closing line for a baseline: what it holds back, and what of it the
/// suite no longer has.
fn baseline_line(shown_file: &str, split: &crate::baseline::Partition) -> String {
    let fixed = match split.fixed.len() {
        0 => String::new(),
        n => format!(
            "; {} fixed since (`--write-baseline {shown_file}` drops {})",
            plural(n, "baselined finding", "baselined findings"),
            if n == 1 { "it" } else { "them" }
        ),
    };
    format!(
        "Baseline {shown_file}: {} not shown{fixed}.",
        plural(split.known, "known finding", "known findings")
    )
}

/// `--output-file` targets are checked before the analysis: a directory,
/// or a parent that cannot hold a new file, is a usage error naming it.
fn check_output_files(args: &CheckArgs) -> Result<(), u8> {
    for (format, path) in &args.output_file {
        let target = from_cwd(path);
        let problem = if target.is_dir() {
            Some("it is a directory".to_string())
        } else {
            let dir = target
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&dir)
                .and_then(|()| tempfile::NamedTempFile::new_in(&dir).map(drop))
                .err()
                .map(|e| format!("cannot write in `{}`: {e}", shown_path(&dir)))
        };
        if let Some(problem) = problem {
            eprintln!(
                "isoaudit check: error: --output-file {}={}: {problem}",
                format_name(*format),
                path.display()
            );
            return Err(EXIT_ERROR);
        }
    }
    Ok(())
}

fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "isoaudit", &mut buf);
    let mut out = std::io::stdout().lock();
    written(out.write_all(&buf).and_then(|()| out.flush()))?;
    Ok(EXIT_CLEAN)
}

fn rule(args: &RuleArgs) -> anyhow::Result<u8> {
    let mut buf = Vec::new();
    let code = rule_text(args, &mut buf)?;
    let mut out = std::io::stdout().lock();
    written(out.write_all(&buf).and_then(|()| out.flush()))?;
    Ok(code)
}

fn rule_text(args: &RuleArgs, out: &mut Vec<u8>) -> anyhow::Result<u8> {
    if args.all {
        for (i, r) in registry::RULES.iter().enumerate() {
            if i > 0 {
                writeln!(out, "\n---\n")?;
            }
            write!(out, "{}", r.doc)?;
        }
        return Ok(EXIT_CLEAN);
    }
    match &args.code {
        Some(code) => match registry::get(code) {
            Some(r) => {
                write!(out, "{}", r.doc)?;
                let fix = match r.fix {
                    Some(crate::diagnostic::Applicability::Safe) => "safe fix available",
                    Some(crate::diagnostic::Applicability::Unsafe) => {
                        "unsafe fix available (--fix --unsafe-fixes)"
                    }
                    None => "no automatic fix",
                };
                writeln!(
                    out,
                    "\n{} {} · {} · {}",
                    r.code,
                    r.name,
                    if r.default_on {
                        "on by default"
                    } else {
                        "off by default"
                    },
                    fix
                )?;
                Ok(EXIT_CLEAN)
            }
            None => {
                let help = match registry::check_selector(code) {
                    // A family or prefix, not one rule.
                    Ok(()) => "give one rule's full code, or `--all`".to_string(),
                    Err(help) => help,
                };
                eprintln!("isoaudit: unknown rule `{code}`: {help}");
                Ok(EXIT_ERROR)
            }
        },
        None => {
            for r in registry::RULES {
                writeln!(out, "{:<7} {:<36} {}", r.code, r.name, r.summary)?;
            }
            Ok(EXIT_CLEAN)
        }
    }
}

/// The schedule for the analysed suite, as `plan` and `run` use it.
pub fn build_plan(
    analysis: &Analysis,
    sched: &crate::cli::ScheduleArgs,
) -> anyhow::Result<crate::plan::Plan> {
    Ok(plan_with_options(analysis, sched)?.0)
}

/// The plan and the options it was built with.
pub fn plan_with_options(
    analysis: &Analysis,
    sched: &crate::cli::ScheduleArgs,
) -> anyhow::Result<(crate::plan::Plan, crate::plan::PlanOptions)> {
    use crate::plan::{self, Classified, PlanOptions};
    let settings = &analysis.project.settings.scheduler;
    let workers = match &sched.workers {
        Some(w) => plan::parse_workers(w)?,
        None => match settings.workers {
            Some(n) => n,
            None => plan::parse_workers("auto")?,
        },
    };
    // `--durations` is a command-line path, taken from the current
    // directory; the config's `durations` is relative to the project root.
    let durations_file = sched
        .durations
        .as_deref()
        .map(from_cwd)
        .or_else(|| settings.durations.clone());
    let durations = plan::durations::Durations::load_default(
        &analysis.project.root,
        durations_file.as_deref(),
    )?;
    let tests: Vec<Classified> = analysis.verdicts.iter().map(|v| v.classified()).collect();
    let opts = PlanOptions {
        workers,
        heavy_workers: sched.heavy_workers.or(settings.heavy_workers),
        shards: match (sched.shards, sched.shard) {
            (Some(k), Some(i)) => Some((k, i)),
            _ => None,
        },
    };
    let mut built = plan::build(tests, &durations, &opts)?;
    let by_nodeid: std::collections::HashMap<&str, &crate::classify::Verdict> = analysis
        .verdicts
        .iter()
        .map(|v| (v.nodeid.as_str(), v))
        .collect();
    for t in &mut built.tests {
        if let Some(v) = by_nodeid.get(t.nodeid.as_str()) {
            t.observed = v
                .observed
                .iter()
                .map(|(key, e)| plan::ObservedFact {
                    key: key.clone(),
                    access: e.access.clone(),
                    at: e.at.clone(),
                    fixture: e.fixture.clone(),
                })
                .collect();
            t.triage = v.triage.clone();
        }
    }
    Ok((built, opts))
}

fn plan(args: &crate::cli::PlanArgs) -> anyhow::Result<u8> {
    let opts = AnalyzeOptions {
        honor_markers: args.schedule.honor_markers,
        no_observed: false,
    };
    let analysis = match analyse("plan", &args.common, &opts) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    warn_if_no_tests("plan", &analysis, &args.common);
    let plan = build_plan(&analysis, &args.schedule)?;
    let text = match args.format {
        crate::cli::PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(&plan)?;
            s.push('\n');
            s
        }
        crate::cli::PlanFormat::Text => crate::plan::render_text(&plan),
    };
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    Ok(EXIT_CLEAN)
}

fn run(args: &crate::cli::RunArgs) -> anyhow::Result<u8> {
    // A path that is not there is a usage error (`analyse` checks it, as
    // for every command), not pytest's "file or directory not found".
    if !args.forget.is_empty() {
        forget_triage(&args.common, &args.forget)?;
    }
    let opts = AnalyzeOptions {
        honor_markers: args.schedule.honor_markers,
        no_observed: false,
    };
    let analysis = match analyse("run", &args.common, &opts) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    if analysis.test_count() == 0 {
        let under = if args.common.paths.is_empty() {
            "the project's testpaths".to_string()
        } else {
            args.common
                .paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "isoaudit: no test files under {under} (pytest's python_files decide which \
             files are tests); running pytest to confirm"
        );
    }
    let (plan, plan_opts) = plan_with_options(&analysis, &args.schedule)?;
    // pytest runs from the project root; a `--python` path given relative to
    // the current directory must still name the same file there. A bare
    // name (`python3`) is looked up on PATH.
    let mut args = args.clone();
    if let Some(p) = &args.python {
        if p.components().count() > 1 {
            args.python = Some(from_cwd(p));
        }
    }
    let run_opts = crate::run::RunOptions::from_args(&analysis.project, &args, &plan_opts);
    let code = crate::run::execute(&analysis.project.root, &plan, &run_opts)?;
    Ok(u8::try_from(code).unwrap_or(EXIT_ERROR))
}

/// `run --forget NODEID...`: drops the remembered isolation bugs of those
/// tests from `.isoaudit/observed.json` before the run plans.
fn forget_triage(common: &Common, nodeids: &[String]) -> anyhow::Result<()> {
    let project = match load_project(common) {
        Ok(p) => p,
        Err(_) => return Ok(()),
    };
    let (mut memory, warning) = crate::observed::load(&project.root);
    if let Some(w) = warning {
        eprintln!("isoaudit: warning: {w}");
    }
    for nodeid in nodeids {
        if crate::observed::forget(&mut memory, nodeid) {
            println!("isoaudit: forgot the isolation bug of {nodeid}; it is scheduled as analysed and observed again");
        } else {
            println!("isoaudit: no isolation bug remembered for {nodeid}; nothing to forget");
        }
    }
    if project.root.join(crate::observed::OBSERVED).is_file() {
        crate::observed::save(&project.root, &memory)
            .with_context(|| format!("cannot write {}", crate::observed::OBSERVED))?;
    }
    Ok(())
}

/// Where `--workers` came from: clap fills it from `PYTEST_WORKERS` too.
fn workers_origin(value: &str) -> String {
    match std::env::var("PYTEST_WORKERS") {
        Ok(env) if env == value => "`PYTEST_WORKERS`".into(),
        _ => "`--workers`".into(),
    }
}

fn report(args: &ReportArgs) -> anyhow::Result<u8> {
    if let Some(d) = &args.date {
        if !report::valid_date(d) {
            eprintln!("isoaudit report: --date expects YYYY-MM-DD, got `{d}`");
            return Ok(EXIT_ERROR);
        }
    }
    let analysis = match analyse("report", &args.common, &AnalyzeOptions::default()) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    if warn_if_no_tests("report", &analysis, &args.common) {
        eprintln!("isoaudit report: nothing written");
        return Ok(EXIT_CLEAN);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let (path, shown) = match &args.output {
        Some(o) => (absolutize(&cwd, o), o.display().to_string()),
        None => {
            let p = md::normalize(&analysis.project.root.join(report::DEFAULT_REPORT));
            let shown = match p.strip_prefix(&cwd) {
                Ok(rel) => rel.display().to_string(),
                Err(_) => p.display().to_string(),
            };
            (p, shown)
        }
    };
    let report_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cwd.clone());
    let existing = std::fs::read_to_string(&path).ok();
    let mut opts = report::ReportOptions {
        report_dir,
        date: args.date.clone(),
        workers_from: args
            .workers
            .as_deref()
            .map(workers_origin)
            .unwrap_or_default(),
        workers: args.workers.clone(),
        paths: args.common.paths.clone(),
        invocation_dir: cwd,
    };
    if args.check && opts.date.is_none() {
        opts.date = existing.as_deref().and_then(report::date_in);
    }
    let mut selection = selection(&analysis.project, &CheckArgs::default());
    // What runs saw and the analysis missed is part of the report.
    selection.extend_select.push("ISO8".into());
    let findings = rules::findings(&analysis, &selection);
    let text = report::render(&analysis, &findings, &opts)?;

    if args.check {
        return Ok(match existing {
            Some(old) if old == text => {
                note(&format!("isoaudit report: {shown} is up to date"));
                EXIT_CLEAN
            }
            Some(old) => {
                eprintln!(
                    "isoaudit report: {shown} is out of date; run `isoaudit report` with the same paths and options to update it"
                );
                let diff = similar::TextDiff::from_lines(&old, &text);
                let unified = diff
                    .unified_diff()
                    .context_radius(1)
                    .header("on disk", "expected")
                    .to_string();
                let lines: Vec<&str> = unified.lines().collect();
                for l in lines.iter().take(40) {
                    eprintln!("{l}");
                }
                if lines.len() > 40 {
                    eprintln!("... {} more diff lines", lines.len() - 40);
                }
                EXIT_FINDINGS
            }
            None => {
                eprintln!(
                    "isoaudit report: {shown} does not exist; run `isoaudit report` to write it"
                );
                EXIT_FINDINGS
            }
        });
    }
    if existing.as_deref() == Some(text.as_str()) {
        note(&format!("isoaudit report: {shown} is already up to date"));
        return Ok(EXIT_CLEAN);
    }
    report::write_atomic(&path, &text)?;
    let n = analysis.verdicts.len();
    note(&format!(
        "isoaudit report: wrote {shown} ({n} test{})",
        if n == 1 { "" } else { "s" }
    ));
    Ok(EXIT_CLEAN)
}

/// `history merge`: the project is pytest's rootdir for `--project` (or the
/// current directory), as for every other command.
fn history_merge(args: &crate::cli::MergeArgs) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let common = Common {
        paths: args.project.iter().cloned().collect(),
        config: None,
    };
    if let Err(code) = check_paths("history merge", &common) {
        return Ok(code);
    }
    let project = match load_project(&common) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    match crate::run::merge::merge_into(&project.root, &cwd, &args.dirs) {
        Ok(m) => {
            let mut line = format!(
                "isoaudit history merge: merged {} history dir(s) into .isoaudit/: {} test duration(s), {} run(s), {} observed test(s)",
                m.inputs, m.durations, m.runs, m.observed
            );
            match &m.report {
                Some(r) => line.push_str(&format!(
                    "; wrote {} for run {} ({} of {} shard(s))",
                    crate::run::report::CI_TIMINGS,
                    r.run,
                    r.present.len(),
                    r.count
                )),
                None => line.push_str("; no sharded run to report"),
            }
            eprintln!("{line}");
            Ok(EXIT_CLEAN)
        }
        Err(e) => {
            eprintln!("isoaudit history merge: error: {e}");
            Ok(EXIT_ERROR)
        }
    }
}

fn graph(args: &GraphArgs) -> anyhow::Result<u8> {
    let analysis = match analyse("graph", &args.common, &AnalyzeOptions::default()) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    warn_if_no_tests("graph", &analysis, &args.common);
    use report::graph;
    let view = match graph::build(&analysis, args.test.as_deref(), args.resource.as_deref()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("isoaudit graph: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let text = match args.format {
        GraphFormat::Dot => graph::dot(&view),
        GraphFormat::Mermaid => graph::mermaid(&view),
        GraphFormat::Json => graph::json(&view),
    };
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    Ok(EXIT_CLEAN)
}
