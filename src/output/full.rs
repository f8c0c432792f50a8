//! `--output-format full`: one miette report per finding (header with code
//! and message, the source snippet with the resource underlined, `help:`),
//! followed by the fixture chain and, when asked, the fix as a line diff.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan,
};

use super::text::clamp_span;
use super::{has_safe_fix, OutputOptions};
use crate::diagnostic::{Applicability, Finding, Fix, Severity, SourceMap};

/// Fixed so output does not depend on the terminal it was produced in.
const WIDTH: usize = 120;

/// The one place the graphical handler is configured, shared with
/// `print_error` so findings and config errors look alike.
pub(crate) fn handler(color: bool) -> GraphicalReportHandler {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::none()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false)
        .with_urls(false)
        .with_context_lines(1)
}

pub(crate) fn write(
    w: &mut dyn Write,
    findings: &[Finding],
    sources: &SourceMap,
    opts: &OutputOptions,
) -> std::io::Result<()> {
    let handler = handler(opts.color);
    for finding in findings {
        let source = sources.get(&finding.path);
        let report = FindingReport::new(finding, source, opts);
        let mut out = String::new();
        handler
            .render_report(&mut out, &report)
            .map_err(|_| std::io::Error::other("could not render a finding"))?;
        w.write_all(out.as_bytes())?;
        if finding.chain.len() > 1 {
            writeln!(w, "  via: {}", finding.chain.join(" -> "))?;
        }
        if let Some(fix) = &finding.fix {
            write_fix(w, fix, source.map(|s| &**s), opts.show_fixes)?;
        }
        writeln!(w)?;
    }
    Ok(())
}

fn write_fix(
    w: &mut dyn Write,
    fix: &Fix,
    source: Option<&str>,
    show_edits: bool,
) -> std::io::Result<()> {
    let safety = match fix.applicability {
        Applicability::Safe => "safe",
        Applicability::Unsafe => "unsafe",
    };
    writeln!(w, "  fix ({safety}): {}", fix.message)?;
    if !show_edits {
        return Ok(());
    }
    match source.and_then(|src| line_diff(src, fix)) {
        Some((old, new)) => {
            for line in old.lines() {
                writeln!(w, "    - {line}")?;
            }
            for line in new.lines() {
                writeln!(w, "    + {line}")?;
            }
        }
        None => writeln!(w, "    (the fix does not match the current source)")?,
    }
    Ok(())
}

/// The whole lines a fix touches, before and after. `None` when the edits
/// do not fit the source (out of range, overlapping, or splitting a char).
fn line_diff(src: &str, fix: &Fix) -> Option<(String, String)> {
    let mut edits: Vec<_> = fix.edits.iter().collect();
    edits.sort_by_key(|e| (e.start, e.end));
    let first = edits.first()?;
    let last_end = edits.iter().map(|e| e.end).max()?;
    if last_end > src.len() {
        return None;
    }
    for e in &edits {
        if e.start > e.end || !src.is_char_boundary(e.start) || !src.is_char_boundary(e.end) {
            return None;
        }
    }
    if edits.windows(2).any(|pair| pair[0].end > pair[1].start) {
        return None;
    }
    let from = src[..first.start].rfind('\n').map_or(0, |i| i + 1);
    // An edit that consumes a whole line ends just after its newline; the
    // line after it is untouched and stays out of the diff.
    let ends_on_line_start = last_end > first.start && src[..last_end].ends_with('\n');
    let to = if ends_on_line_start {
        last_end
    } else {
        src[last_end..]
            .find('\n')
            .map_or(src.len(), |i| last_end + i)
    };
    let mut new = String::new();
    let mut at = from;
    for e in &edits {
        new.push_str(&src[at..e.start]);
        new.push_str(&e.content);
        at = e.end;
    }
    new.push_str(&src[at..to]);
    Some((src[from..to].to_string(), new))
}

/// A finding seen through miette's `Diagnostic` trait.
struct FindingReport<'a> {
    finding: &'a Finding,
    code: String,
    source: Option<NamedSource<Arc<str>>>,
    span: SourceSpan,
    label: Option<String>,
}

impl<'a> FindingReport<'a> {
    fn new(finding: &'a Finding, source: Option<&Arc<str>>, opts: &OutputOptions) -> Self {
        // `ISO101 hardcoded-shared-path [*]`: the name says what the code
        // means without a lookup, as in clippy's and ruff's output.
        let mut code = finding.code.clone();
        if let Some(info) = (opts.rules)(&finding.code) {
            code.push(' ');
            code.push_str(&info.name);
        }
        if has_safe_fix(finding) {
            code.push_str(" [*]");
        }
        let (span, source) = match source {
            Some(src) => {
                let (start, end) = clamp_span(src, finding.byte_range);
                (
                    SourceSpan::from(start..end),
                    Some(NamedSource::new(&finding.path, Arc::clone(src))),
                )
            }
            None => (SourceSpan::from(0..0), None),
        };
        let label = finding
            .resource
            .clone()
            .or_else(|| (opts.rules)(&finding.code).map(|info| info.name));
        FindingReport {
            finding,
            code,
            source,
            span,
            label,
        }
    }
}

impl fmt::Debug for FindingReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.finding, f)
    }
}

impl FindingReport<'_> {
    /// The message without its trailing "; fix: ..." when the fix is shown
    /// as `help:` below it anyway.
    fn headline(&self) -> &str {
        let m = self.finding.message.as_str();
        match &self.finding.help {
            Some(h) => m
                .strip_suffix(h.as_str())
                .and_then(|r| r.strip_suffix("; fix: "))
                .unwrap_or(m),
            None => m,
        }
    }
}

impl fmt::Display for FindingReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source.is_some() {
            f.write_str(self.headline())
        } else {
            // Without a snippet the location would be lost, so it goes into
            // the message line instead.
            write!(
                f,
                "{}:{}:{}: {}",
                self.finding.path, self.finding.line, self.finding.column, self.finding.message
            )
        }
    }
}

impl std::error::Error for FindingReport<'_> {}

impl Diagnostic for FindingReport<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.finding
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            self.label.clone(),
            self.span,
        ))))
    }
}
