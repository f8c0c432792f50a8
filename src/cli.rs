//! Command-line surface (clap derive). Parsing only: no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "isoaudit",
    version = VERSION,
    about = "Finds what keeps a pytest suite from running in parallel, and runs it in parallel safely.",
    long_about = None,
    after_help = "Examples:\n  isoaudit check tests/\n  isoaudit check --output-format github --select ISO1,ISO3 tests/\n  isoaudit check --diff tests/test_db.py\n  isoaudit report -o docs/test-isolation-audit.md\n  isoaudit plan --workers 4\n  isoaudit run --workers auto -- -x -q\n  isoaudit rule ISO101"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `--version`: the crate's version and, when `build.rs` could tell, the
/// commit it was built from (`0.1.0 (1a2b3c4)`).
pub const VERSION: &str = env!("ISOAUDIT_VERSION");

/// Options of every command.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// When to colour output: auto = on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print findings, reports and errors only: no summaries, progress or warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also say what was read and how long each step took (on stderr).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint a suite: print isolation findings (exit 0 none, 1 findings, 2 error).
    Check(CheckArgs),
    /// Write the markdown isolation audit (default docs/test-isolation-audit.md).
    Report(ReportArgs),
    /// Print the parallel schedule: classes, units, phases and estimates.
    Plan(PlanArgs),
    /// Run the suite with pytest + pytest-xdist following the plan.
    Run(RunArgs),
    /// Print the fixture dependency graph.
    Graph(GraphArgs),
    /// Explain a rule, or list all rules.
    Rule(RuleArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell).
    Completions(CompletionsArgs),
    /// Work with the run history under `.isoaudit/`.
    #[command(subcommand)]
    History(HistoryCommand),
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Merge the `.isoaudit/` directories of several runs (the shards of a CI
    /// matrix) into this project's, and write one reports/ci_timings.md for
    /// the matrix.
    Merge(MergeArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct MergeArgs {
    /// `.isoaudit/` directories, or directories holding one (downloaded artifacts).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The project whose history receives them (default: the current directory's).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// Options every analysing command shares.
#[derive(Debug, Args, Clone, Default)]
pub struct Common {
    /// Files or directories to analyse (default: pytest's testpaths, else `.`).
    pub paths: Vec<PathBuf>,
    /// Use this isoaudit.toml / pyproject.toml instead of searching for one.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Full,
    Concise,
    Json,
    Github,
    Sarif,
    Rdjson,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// How findings are printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Full)]
    pub output_format: OutputFormat,
    /// Only these rule codes or prefixes (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CODES", value_parser = selector)]
    pub select: Option<Vec<String>>,
    /// Also these rule codes or prefixes.
    #[arg(long, value_delimiter = ',', value_name = "CODES", value_parser = selector)]
    pub extend_select: Vec<String>,
    /// Not these rule codes or prefixes.
    #[arg(long, value_delimiter = ',', value_name = "CODES", value_parser = selector)]
    pub ignore: Vec<String>,
    /// Not these codes in the files a glob matches: `GLOB:CODE` pairs
    /// (comma-separated), added to the config's `per-file-ignores`.
    #[arg(long, value_delimiter = ',', value_name = "GLOB:CODE", value_parser = per_file_ignore)]
    pub per_file_ignores: Vec<(String, String)>,
    /// Apply safe fixes in place.
    #[arg(long)]
    pub fix: bool,
    /// With --fix, also apply unsafe fixes (marker removals change scheduling).
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Show the fixes as a unified diff instead of writing them.
    #[arg(long)]
    pub diff: bool,
    /// Exit 0 even when there are findings.
    #[arg(long)]
    pub exit_zero: bool,
    /// Print counts per rule instead of findings.
    #[arg(long)]
    pub statistics: bool,
    /// Report only findings this baseline file does not hold (default:
    /// `baseline` in [tool.isoaudit]).
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,
    /// Record today's findings in FILE (for `--baseline`) and exit 0.
    #[arg(long, value_name = "FILE", conflicts_with = "diff")]
    pub write_baseline: Option<PathBuf>,
    /// Also write the findings in FORMAT to PATH (repeatable), e.g.
    /// `--output-file sarif=isoaudit.sarif --output-file github=annotations.txt`.
    #[arg(long, value_name = "FORMAT=PATH", value_parser = output_file)]
    pub output_file: Vec<(OutputFormat, PathBuf)>,
}

/// `FORMAT=PATH`, the format one of `--output-format`'s.
fn output_file(value: &str) -> Result<(OutputFormat, PathBuf), String> {
    let names = || {
        OutputFormat::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((format, path)) = value.split_once('=') else {
        return Err(format!(
            "expected `FORMAT=PATH`, e.g. `sarif=isoaudit.sarif` (formats: {})",
            names()
        ));
    };
    let format = OutputFormat::from_str(format.trim(), false)
        .map_err(|_| format!("`{format}` is not an output format (formats: {})", names()))?;
    if path.is_empty() {
        return Err("the PATH after `=` is empty".into());
    }
    Ok((format, PathBuf::from(path)))
}

/// A rule code or prefix, checked against the registry so that a typo or
/// another linter's code is a usage error, never a selection of nothing.
fn selector(value: &str) -> Result<String, String> {
    let code = value.trim();
    crate::rules::registry::check_selector(code)?;
    Ok(code.to_string())
}

/// `GLOB:CODE`, both checked.
fn per_file_ignore(value: &str) -> Result<(String, String), String> {
    let Some((glob, code)) = value.trim().rsplit_once(':') else {
        return Err("expected `GLOB:CODE`, e.g. `tests/legacy/*:ISO4`".into());
    };
    globset::Glob::new(glob).map_err(|e| format!("invalid glob `{glob}`: {}", e.kind()))?;
    Ok((glob.to_string(), selector(code)?))
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: Common,
    /// Output file (default docs/test-isolation-audit.md under the project root).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Put this date in the header (the report is otherwise date-free).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Do not write; exit 1 if the file on disk differs from what would be written.
    #[arg(long)]
    pub check: bool,
    /// Workers assumed for the speedup estimate.
    #[arg(long, env = "PYTEST_WORKERS", value_name = "auto|N")]
    pub workers: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ScheduleArgs {
    /// Parallel workers: auto, N, or 1 for a plain serial run.
    #[arg(long, env = "PYTEST_WORKERS", value_name = "auto|N")]
    pub workers: Option<String>,
    /// Workers for the heavy phase (default min(2, workers)).
    #[arg(long, value_name = "N")]
    pub heavy_workers: Option<usize>,
    /// Durations file: .isoaudit/durations.json, a junit XML, or .test_durations.
    #[arg(long, value_name = "FILE")]
    pub durations: Option<PathBuf>,
    /// Split the plan into K shards (for a CI matrix).
    #[arg(long, value_name = "K", requires = "shard")]
    pub shards: Option<usize>,
    /// Which shard to plan or run, 1-based.
    #[arg(long, value_name = "I", requires = "shards")]
    pub shard: Option<usize>,
    /// Every test with an isolation marker runs in the serial phase.
    #[arg(long)]
    pub honor_markers: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Do not re-run parallel-phase failures serially.
    #[arg(long)]
    pub no_rerun_failures_serially: bool,
    /// Exit 0 when the only failures are isolation bugs (fail in parallel, pass alone).
    #[arg(long)]
    pub allow_isolation_bugs: bool,
    /// Stop a test that runs longer than this (its worker is replaced, the run goes on).
    /// Default: `timeout` in [tool.isoaudit], else no limit.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub timeout: Option<f64>,
    /// With no timeout, say which tests are running after this long without
    /// a test starting or finishing; 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = seconds)]
    pub stall_warning: f64,
    /// Run the tests of the files that collected when others failed to (pytest's option).
    #[arg(long)]
    pub continue_on_collection_errors: bool,
    /// Also write pytest-split's `.test_durations` (nodeid -> seconds), merged
    /// with the one there, so that pytest-split can plan from isoaudit's runs.
    #[arg(long)]
    pub store_durations: bool,
    /// Do not observe what each test touches (files, ports, environment,
    /// module state); the plan still uses what earlier runs observed.
    #[arg(long)]
    pub no_observe: bool,
    /// Drop the isolation bug remembered for this test (its nodeid): it is
    /// scheduled by the analysis and observation alone again. Repeatable.
    #[arg(long, value_name = "NODEID")]
    pub forget: Vec<String>,
    /// Python interpreter with pytest and pytest-xdist (default: $VIRTUAL_ENV, .venv, python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Arguments passed through to every pytest invocation.
    #[arg(last = true)]
    pub pytest_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GraphFormat {
    #[default]
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GraphArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Only this test and the fixtures it reaches.
    #[arg(long, value_name = "NODEID")]
    pub test: Option<String>,
    /// Only the fixtures and tests that reach this resource key.
    #[arg(long, value_name = "KEY")]
    pub resource: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// Rule code, e.g. ISO101.
    pub code: Option<String>,
    /// Explain every rule.
    #[arg(long)]
    pub all: bool,
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds (e.g. 300)")),
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match seconds(text)? {
        s if s > 0.0 => Ok(s),
        _ => Err("the timeout must be above 0 seconds; leave it out for no limit".into()),
    }
}
