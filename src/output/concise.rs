//! `--output-format concise`: one `path:line:col: CODE message` line per
//! finding, ruff's shape, `[*]` after the code when `--fix` would fix it.

use std::io::Write;

use super::has_safe_fix;
use super::text::Range;
use crate::diagnostic::Finding;

pub(crate) fn write(w: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    for f in findings {
        let marker = if has_safe_fix(f) { " [*]" } else { "" };
        match Range::of(f) {
            Some(r) => write!(w, "{}:{}:{}: ", f.path, r.line, r.column)?,
            None => write!(w, "{}: ", f.path)?,
        }
        writeln!(w, "{}{marker} {}", f.code, one_line(&f.message))?;
    }
    Ok(())
}

/// Keeps one finding on one line whatever its message holds, so tools that
/// read the lines (editors, grep) see every finding.
pub(crate) fn one_line(message: &str) -> String {
    message
        .split(['\r', '\n'])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
