//! `--statistics`: per-code counts instead of the findings, ruff's table
//! (`count  CODE  name  [*]`), sorted by count descending, then code.
//! `[*]` means `--fix` would fix at least one finding of that code.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::{has_safe_fix, OutputOptions};
use crate::diagnostic::Finding;

#[derive(Serialize)]
struct Row<'a> {
    code: &'a str,
    name: Option<String>,
    count: usize,
    fixable: bool,
}

fn rows<'a>(findings: &'a [Finding], opts: &OutputOptions) -> Vec<Row<'a>> {
    let mut by_code: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for f in findings {
        let entry = by_code.entry(&f.code).or_default();
        entry.0 += 1;
        entry.1 |= has_safe_fix(f);
    }
    let mut rows: Vec<Row> = by_code
        .into_iter()
        .map(|(code, (count, fixable))| Row {
            code,
            name: (opts.rules)(code).map(|info| info.name),
            count,
            fixable,
        })
        .collect();
    // Stable sort over code-ordered rows keeps codes ascending within a count.
    rows.sort_by_key(|r| std::cmp::Reverse(r.count));
    rows
}

pub(crate) fn write_table(
    w: &mut dyn Write,
    findings: &[Finding],
    opts: &OutputOptions,
) -> std::io::Result<()> {
    let rows = rows(findings, opts);
    let count_width = rows
        .iter()
        .map(|r| r.count.to_string().len())
        .max()
        .unwrap_or(1);
    let code_width = rows.iter().map(|r| r.code.len()).max().unwrap_or(0);
    for r in &rows {
        let mut line = format!("{:>count_width$}  {:<code_width$}", r.count, r.code);
        if let Some(name) = &r.name {
            line.push_str("  ");
            line.push_str(name);
        }
        if r.fixable {
            line.push_str("  [*]");
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    Ok(())
}

pub(crate) fn write_json(
    w: &mut dyn Write,
    findings: &[Finding],
    opts: &OutputOptions,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &rows(findings, opts))?;
    writeln!(w)
}
