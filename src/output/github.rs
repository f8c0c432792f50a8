//! `--output-format github`: GitHub Actions workflow commands, one
//! `::error`/`::warning`/`::notice` annotation per finding.
//!
//! Escaping follows the runner's rules: in the message `%`, CR and LF are
//! percent-encoded; in property values `:` and `,` are too, since they
//! separate properties.

use std::io::Write;

use super::text::Range;
use super::TOOL_NAME;
use crate::diagnostic::{Finding, Severity};

pub(crate) fn write(w: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    for f in findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = vec![
            ("title", format!("{TOOL_NAME} ({})", f.code)),
            ("file", f.path.clone()),
        ];
        if let Some(r) = Range::of(f) {
            props.push(("line", r.line.to_string()));
            props.push(("col", r.column.to_string()));
            props.push(("endLine", r.end_line.to_string()));
            props.push(("endColumn", r.end_column.to_string()));
        }
        let props = props
            .iter()
            .map(|(k, v)| format!("{k}={}", escape_property(v)))
            .collect::<Vec<_>>()
            .join(",");
        let data = format!("{} {}", f.code, f.message);
        writeln!(w, "::{command} {props}::{}", escape_data(&data))?;
    }
    Ok(())
}

pub(crate) fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub(crate) fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
