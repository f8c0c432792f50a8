//! Markdown building blocks for the audit: table cells that survive GitHub's
//! renderer, code spans, and links from the report's directory to a source
//! line. Knows nothing about the analysis.

use std::path::{Component, Path, PathBuf};

/// Prose that may hold `code spans` (finding messages, hazard help): outside
/// code spans, the characters GitHub would take for HTML, emphasis or links
/// are escaped; line breaks become spaces. Pipes are left to [`row`].
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &ch) in chars.iter().enumerate() {
        match ch {
            '_' if !in_code && intraword(&chars, i) => out.push('_'),
            '\n' | '\r' | '\t' => out.push(' '),
            '`' => {
                in_code = !in_code;
                out.push('`');
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '*' | '_' | '[' | ']' | '\\' if !in_code => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    if in_code {
        // An unbalanced backtick would swallow the rest of the line.
        out.push('`');
    }
    out
}

/// An underscore between two letters or digits never starts emphasis, so it
/// stays unescaped and the markdown source stays readable.
fn intraword(chars: &[char], i: usize) -> bool {
    i > 0
        && chars[i - 1].is_alphanumeric()
        && chars
            .get(i + 1)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// One table row. Every `|` inside a cell is escaped here, code spans
/// included (GitHub reads `\|` there as a literal pipe), so cell builders
/// never escape pipes themselves.
pub fn row(cells: &[String]) -> String {
    let mut out = String::from("|");
    for c in cells {
        out.push(' ');
        out.push_str(&c.replace('|', "\\|"));
        out.push_str(" |");
    }
    out.push('\n');
    out
}

/// A table header and its separator line.
pub fn header(cells: &[&str]) -> String {
    let mut out = row(&cells.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    out.push('|');
    for _ in cells {
        out.push_str("---|");
    }
    out.push('\n');
    out
}

/// `text` as an inline code span, whatever backticks it holds.
pub fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    if longest == 0 {
        return format!("`{text}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

/// Escapes link text (the part in brackets).
fn link_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &ch) in chars.iter().enumerate() {
        match ch {
            '_' if intraword(&chars, i) => out.push('_'),
            '[' | ']' | '\\' | '*' | '_' | '`' | '<' | '>' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// Percent-encodes a relative URL path; `/` stays.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds links from the report to project files.
#[derive(Debug, Clone)]
pub struct Links {
    /// Prefix from the report's directory to the project root, `/`-separated,
    /// empty or ending in `/`.
    pub base: String,
}

impl Links {
    /// `[rel:line](base/rel#Lline)`.
    pub fn line(&self, rel: &str, line: usize) -> String {
        self.labelled(&format!("{rel}:{line}"), rel, line)
    }

    /// `[label](base/rel#Lline)`.
    pub fn labelled(&self, label: &str, rel: &str, line: usize) -> String {
        format!(
            "[{}]({}{}#L{line})",
            link_text(label),
            self.base,
            url_path(rel)
        )
    }

    /// `[rel](base/rel)`.
    pub fn file(&self, rel: &str) -> String {
        format!("[{}]({}{})", link_text(rel), self.base, url_path(rel))
    }
}

/// Lexically normalised absolute path (no `.`/`..`), without touching the disk.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(
                    out.components().next_back(),
                    Some(Component::RootDir | Component::Prefix(_)) | None
                ) {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The `/`-separated prefix leading from directory `from` to directory `to`
/// (both absolute and normalised): empty when they are the same, else ending
/// in `/`. `None` when no relative path exists (different drives).
pub fn relative_prefix(from: &Path, to: &Path) -> Option<String> {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    if a.first() != b.first() {
        return None;
    }
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..a.len() {
        parts.push("..".into());
    }
    for c in &b[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        Some(String::new())
    } else {
        Some(format!("{}/", parts.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_escapes_html_outside_code_and_rows_escape_pipes() {
        assert_eq!(inline("`<what>` *x* <y>"), "`<what>` \\*x\\* &lt;y&gt;");
        assert_eq!(inline("line\nbreak"), "line break");
        assert_eq!(inline("open `code"), "open `code`");
        assert_eq!(
            row(&["a | b".into(), "`x|y`".into()]),
            "| a \\| b | `x\\|y` |\n"
        );
        assert_eq!(header(&["a", "b"]), "| a | b |\n|---|---|\n");
    }

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }

    #[test]
    fn links_are_relative_and_encoded() {
        let l = Links { base: "../".into() };
        assert_eq!(
            l.line("tests/x y.py", 12),
            "[tests/x y.py:12](../tests/x%20y.py#L12)"
        );
        assert_eq!(l.file("tests/a_b.py"), "[tests/a_b.py](../tests/a_b.py)");
        assert_eq!(inline("_private x_"), "\\_private x\\_");
    }

    #[test]
    fn relative_prefixes() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(relative_prefix(&p("/r/docs"), &p("/r")).unwrap(), "../");
        assert_eq!(relative_prefix(&p("/r"), &p("/r")).unwrap(), "");
        assert_eq!(
            relative_prefix(&p("/w/docs"), &p("/w/fixtures/suites/etl")).unwrap(),
            "../fixtures/suites/etl/"
        );
        assert_eq!(normalize(&p("/a/./b/../c")), p("/a/c"));
    }
}
