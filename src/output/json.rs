//! `--output-format json`: the versioned schema of DESIGN.md
//! (`{"version": 1, "root": ".", "findings": [...], "summary": {...}}`).
//! Field order is fixed by these structs, not by a map, so the bytes are
//! stable. A finding's `path` is relative to the directory isoaudit ran in
//! (as ruff's are); `test`, `fixture` and `chain` are pytest nodeids,
//! relative to pytest's rootdir, which `root` names the same way as `path`.

use std::io::Write;

use serde::Serialize;

use crate::diagnostic::{Applicability, Finding, Severity, Summary};

pub(crate) const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    root: &'a str,
    findings: Vec<JsonFinding<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    test: Option<&'a str>,
    fixture: Option<&'a str>,
    resource: Option<&'a str>,
    chain: &'a [String],
    fix: Option<JsonFix<'a>>,
}

#[derive(Serialize)]
struct JsonFix<'a> {
    message: &'a str,
    applicability: Applicability,
    edits: Vec<JsonEdit<'a>>,
}

#[derive(Serialize)]
struct JsonEdit<'a> {
    content: &'a str,
    location: RowColumn,
    end_location: RowColumn,
}

#[derive(Serialize)]
struct RowColumn {
    row: usize,
    column: usize,
}

pub(crate) fn write(
    w: &mut dyn Write,
    findings: &[Finding],
    summary: &Summary,
    root: &str,
) -> std::io::Result<()> {
    let doc = Document {
        version: VERSION,
        root,
        findings: findings.iter().map(json_finding).collect(),
        summary: Summary {
            findings: findings.len(),
            ..*summary
        },
    };
    serde_json::to_writer_pretty(&mut *w, &doc)?;
    writeln!(w)
}

fn json_finding(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        code: &f.code,
        severity: f.severity,
        message: &f.message,
        path: &f.path,
        line: f.line,
        column: f.column,
        end_line: f.end_line,
        end_column: f.end_column,
        test: f.test.as_deref(),
        fixture: f.fixture.as_deref(),
        resource: f.resource.as_deref(),
        chain: &f.chain,
        fix: f.fix.as_ref().map(|fix| JsonFix {
            message: &fix.message,
            applicability: fix.applicability,
            edits: fix
                .edits
                .iter()
                .map(|e| JsonEdit {
                    content: &e.content,
                    location: RowColumn {
                        row: e.line,
                        column: e.column,
                    },
                    end_location: RowColumn {
                        row: e.end_line,
                        column: e.end_column,
                    },
                })
                .collect(),
        }),
    }
}
