//! `--output-format rdjson`: reviewdog's Diagnostic Format, one
//! `DiagnosticResult` document. Positions are 1-based with an exclusive
//! end, and columns count UTF-8 bytes (the format's rule), so they are
//! recomputed from the source when it is at hand.

use std::io::Write;

use serde::Serialize;

use super::text::Range;
use super::{OutputOptions, TOOL_NAME};
use crate::diagnostic::{Edit, Finding, Severity, SourceMap};

#[derive(Serialize)]
struct DiagnosticResult<'a> {
    source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    diagnostics: Vec<Diagnostic<'a>>,
}

#[derive(Serialize)]
struct Source {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'static str>,
}

#[derive(Serialize)]
struct Diagnostic<'a> {
    message: &'a str,
    location: Location<'a>,
    severity: &'static str,
    source: Source,
    code: Code<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suggestions: Vec<Suggestion<'a>>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<RdRange>,
}

#[derive(Serialize)]
struct RdRange {
    start: Position,
    end: Position,
}

#[derive(Serialize)]
struct Position {
    line: usize,
    column: usize,
}

impl From<Range> for RdRange {
    fn from(r: Range) -> Self {
        RdRange {
            start: Position {
                line: r.line,
                column: r.column,
            },
            end: Position {
                line: r.end_line,
                column: r.end_column,
            },
        }
    }
}

#[derive(Serialize)]
struct Code<'a> {
    value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct Suggestion<'a> {
    range: RdRange,
    text: &'a str,
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
    }
}

pub(crate) fn write(
    w: &mut dyn Write,
    findings: &[Finding],
    sources: &SourceMap,
    opts: &OutputOptions,
) -> std::io::Result<()> {
    let source = || Source {
        name: TOOL_NAME,
        url: opts.tool_uri,
    };
    let diagnostics = findings
        .iter()
        .map(|f| {
            let src = sources.get(&f.path).map(|s| &**s);
            Diagnostic {
                message: &f.message,
                location: Location {
                    path: &f.path,
                    range: Range::of(f).map(|r| r.to_bytes(src).into()),
                },
                severity: severity(f.severity),
                source: source(),
                code: Code {
                    value: &f.code,
                    url: (opts.rules)(&f.code).and_then(|info| info.url),
                },
                suggestions: f
                    .fix
                    .iter()
                    .flat_map(|fix| &fix.edits)
                    .filter_map(|e| suggestion(e, src))
                    .collect(),
            }
        })
        .collect();
    // The overall severity is the worst one present, so a consumer filtering
    // on it does not drop real errors.
    let worst = findings.iter().map(|f| f.severity).min();
    let doc = DiagnosticResult {
        source: source(),
        severity: worst.map(severity),
        diagnostics,
    };
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

fn suggestion<'a>(e: &'a Edit, src: Option<&str>) -> Option<Suggestion<'a>> {
    let range = Range::new(e.line, e.column, e.end_line, e.end_column)?;
    Some(Suggestion {
        range: range.to_bytes(src).into(),
        text: &e.content,
    })
}
