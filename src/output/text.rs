//! Position arithmetic over source text shared by the formats: safe byte
//! spans for snippets, and UTF-8 byte columns for formats that count bytes.
//! Every function tolerates positions that do not fit the text (a stale
//! source map, a finding past EOF): it clamps instead of panicking.

use crate::diagnostic::Finding;

/// Clamps `(start, end)` into `src` on char boundaries, start <= end.
pub(crate) fn clamp_span(src: &str, (start, end): (usize, usize)) -> (usize, usize) {
    let len = src.len();
    let mut s = start.min(len);
    while !src.is_char_boundary(s) {
        s -= 1;
    }
    let mut e = end.clamp(s, len);
    while !src.is_char_boundary(e) {
        e += 1;
    }
    (s, e)
}

/// Byte offset where 1-based `line` starts, or `None` past the last line.
fn line_start(src: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    if line == 1 {
        return Some(0);
    }
    src.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)
}

/// The 1-based UTF-8 byte column of 1-based character column `column` on
/// `line`. Columns past the end of the line count one byte per missing
/// character, so an end position just after the last character (or at EOF)
/// still maps. `None` when the line does not exist.
pub(crate) fn byte_column(src: &str, line: usize, column: usize) -> Option<usize> {
    let start = line_start(src, line)?;
    let rest = &src[start..];
    let text = rest.split('\n').next().unwrap_or("");
    let wanted = column.max(1) - 1;
    let mut bytes = 0;
    let mut chars = 0;
    for ch in text.chars() {
        if chars == wanted {
            break;
        }
        bytes += ch.len_utf8();
        chars += 1;
    }
    Some(bytes + (wanted - chars) + 1)
}

/// A finding's position, normalised for formats that need a well-formed
/// range: `None` when the finding has no line (a file-level problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Range {
    pub(crate) fn of(f: &Finding) -> Option<Range> {
        Range::new(f.line, f.column, f.end_line, f.end_column)
    }

    pub(crate) fn new(
        line: usize,
        column: usize,
        end_line: usize,
        end_column: usize,
    ) -> Option<Range> {
        if line == 0 {
            return None;
        }
        let column = column.max(1);
        let (end_line, end_column) = if (end_line, end_column) < (line, column) {
            (line, column)
        } else {
            (end_line, end_column.max(1))
        };
        Some(Range {
            line,
            column,
            end_line,
            end_column,
        })
    }

    /// The same range with byte columns, when the source is at hand; the
    /// character columns otherwise (equal for ASCII lines).
    pub(crate) fn to_bytes(self, src: Option<&str>) -> Range {
        let Some(src) = src else {
            return self;
        };
        let column = byte_column(src, self.line, self.column).unwrap_or(self.column);
        let end_column =
            byte_column(src, self.end_line, self.end_column).unwrap_or(self.end_column);
        Range {
            column,
            end_column,
            ..self
        }
    }
}
