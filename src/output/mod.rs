//! Every output format; the only place that prints findings or renders
//! diagnostics (miette lives here).
//!
//! Owns: the human formats (`full`, `concise`, the closing summary line and
//! `--statistics`), the machine formats (`json`, `github`, `sarif`,
//! `rdjson`), and the rendering of configuration errors. It must not decide
//! anything: which findings exist, their order, whether colour is wanted and
//! what a rule is called all arrive from the caller, so every byte written
//! here follows from the arguments alone.

mod concise;
mod full;
mod github;
mod json;
mod rdjson;
mod sarif;
mod statistics;
mod text;

#[cfg(test)]
mod tests;

use std::io::Write;

use crate::cli::OutputFormat;
use crate::diagnostic::{Applicability, Finding, SourceMap, Summary};

/// What the output formats need to know about a rule; supplied by the rule
/// registry through [`OutputOptions::rules`], so this module never depends
/// on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// kebab-case rule name, e.g. `hardcoded-tmp-path`.
    pub name: String,
    /// One sentence: what the rule finds.
    pub summary: String,
    /// Where the rule's documentation lives, if it has a public address.
    pub url: Option<String>,
}

/// Looks a rule code up; `None` for codes the registry does not know.
pub type RuleLookup<'a> = &'a dyn Fn(&str) -> Option<RuleInfo>;

fn no_rules(_code: &str) -> Option<RuleInfo> {
    None
}

/// How findings are printed. Colour is the caller's decision (it knows
/// whether the stream is a terminal and what `NO_COLOR` says).
#[derive(Clone, Copy)]
pub struct OutputOptions<'a> {
    pub format: OutputFormat,
    pub color: bool,
    /// Print per-code counts instead of the findings.
    pub statistics: bool,
    /// In the human formats, also show what each fix would change.
    pub show_fixes: bool,
    pub tool_version: &'static str,
    /// The tool's home page, for SARIF's `informationUri` and rdjson's
    /// `source.url`; left out when unknown rather than invented.
    pub tool_uri: Option<&'static str>,
    pub rules: RuleLookup<'a>,
    /// pytest's rootdir as the findings' paths are written (relative to the
    /// directory isoaudit ran in, `/`-separated, `.` when it is that
    /// directory). Test nodeids stay relative to it; JSON and SARIF say so.
    pub root: &'a str,
}

impl OutputOptions<'static> {
    /// Options for `format` with colour, statistics and fix display off and
    /// no rule metadata.
    pub fn new(format: OutputFormat) -> Self {
        OutputOptions {
            format,
            color: false,
            statistics: false,
            show_fixes: false,
            tool_version: env!("CARGO_PKG_VERSION"),
            tool_uri: None,
            rules: &no_rules,
            root: ".",
        }
    }
}

impl std::fmt::Debug for OutputOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputOptions")
            .field("format", &self.format)
            .field("color", &self.color)
            .field("statistics", &self.statistics)
            .field("show_fixes", &self.show_fixes)
            .field("tool_version", &self.tool_version)
            .field("tool_uri", &self.tool_uri)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// The tool name every machine format reports.
pub(crate) const TOOL_NAME: &str = "isoaudit";

/// Prints `findings` (already sorted) in `opts.format`.
///
/// `summary` feeds the JSON `summary` object; its `findings` count is
/// replaced by `findings.len()` so the output never contradicts itself.
pub fn print_findings(
    w: &mut dyn Write,
    findings: &[Finding],
    sources: &SourceMap,
    summary: &Summary,
    opts: &OutputOptions,
) -> std::io::Result<()> {
    if opts.statistics {
        return match opts.format {
            OutputFormat::Json => statistics::write_json(w, findings, opts),
            _ => statistics::write_table(w, findings, opts),
        };
    }
    match opts.format {
        OutputFormat::Full => {
            full::write(w, findings, sources, opts)?;
            write_closing_line(w, findings)
        }
        OutputFormat::Concise => {
            concise::write(w, findings)?;
            write_closing_line(w, findings)
        }
        OutputFormat::Json => json::write(w, findings, summary, opts.root),
        OutputFormat::Github => github::write(w, findings),
        OutputFormat::Sarif => sarif::write(w, findings, opts),
        OutputFormat::Rdjson => rdjson::write(w, findings, sources, opts),
    }
}

/// Renders a diagnostic that is not a finding (a configuration error with
/// its TOML span, say) the way `full` renders findings.
pub fn print_error(
    w: &mut dyn Write,
    err: &dyn miette::Diagnostic,
    color: bool,
) -> std::io::Result<()> {
    let mut out = String::new();
    full::handler(color)
        .render_report(&mut out, err)
        .map_err(|_| std::io::Error::other("could not render the diagnostic"))?;
    w.write_all(out.as_bytes())
}

/// How many findings `--fix` would fix, and how many more need
/// `--unsafe-fixes` as well.
pub(crate) fn fix_counts(findings: &[Finding]) -> (usize, usize) {
    let mut safe = 0;
    let mut unsafe_ = 0;
    for fix in findings.iter().filter_map(|f| f.fix.as_ref()) {
        match fix.applicability {
            Applicability::Safe => safe += 1,
            Applicability::Unsafe => unsafe_ += 1,
        }
    }
    (safe, unsafe_)
}

/// Whether `--fix` alone would fix this finding (the `[*]` marker).
pub(crate) fn has_safe_fix(finding: &Finding) -> bool {
    finding
        .fix
        .as_ref()
        .is_some_and(|fix| fix.applicability == Applicability::Safe)
}

/// The ruff-style closing line of the human formats.
fn write_closing_line(w: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    writeln!(w, "{}", closing_line(findings))
}

pub(crate) fn closing_line(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "All checks passed!".to_string();
    }
    let n = findings.len();
    let noun = if n == 1 { "finding" } else { "findings" };
    let (safe, unsafe_) = fix_counts(findings);
    let fixable = match (safe, unsafe_) {
        (0, 0) => String::new(),
        (s, 0) => format!(" ({s} fixable with --fix)"),
        (0, u) => format!(" ({u} fixable with --fix --unsafe-fixes)"),
        (s, u) => format!(" ({s} fixable with --fix, {u} more with --fix --unsafe-fixes)"),
    };
    format!("Found {n} {noun}{fixable}.")
}
