//! Reading Python source: bytes -> text (BOM, PEP 263) -> parser -> isoaudit IR.
//! The only module that touches `ruff_python_*` types. Never panics on input:
//! every problem comes back as a `SourceProblem`.

mod convert;
pub mod ir;

use ruff_python_ast::token::TokenKind;
use ruff_python_ast::PySourceType;
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::Ranged;

pub use convert::MAX_DEPTH;
use ir::{Comment, Module, Span};

/// Files above this size are skipped with a finding (the lexer's hard limit
/// is 4 GB; nothing near that is a real test module).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Decoded source plus a line index for span -> line/column conversion.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(text: String) -> Self {
        let mut line_starts = vec![0];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line_starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => line_starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        SourceText { text, line_starts }
    }

    /// 1-based line and 1-based character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() + 1;
        (line + 1, col)
    }

    pub fn location(&self, span: Span) -> crate::diagnostic::Location {
        let (line, column) = self.line_col(span.start as usize);
        let (end_line, end_column) = self.line_col(span.end as usize);
        crate::diagnostic::Location {
            line,
            column,
            end_line,
            end_column,
        }
    }

    /// Byte offset of the start of 1-based `line`.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len())
    }

    /// Text of 1-based `line` without its terminator.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_start(line);
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// A problem reading a file: which code it maps to is the caller's business.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceProblem {
    /// Parser error, with its message and span.
    Syntax { message: String, span: Span },
    /// The bytes are not valid in the declared (or default UTF-8) encoding.
    Undecodable { message: String, offset: usize },
    /// The file is larger than `MAX_FILE_BYTES`.
    TooLarge { bytes: usize },
    /// The tree was cut at `MAX_DEPTH`.
    TooDeep { span: Span },
}

#[derive(Debug)]
pub struct ParsedFile {
    pub source: SourceText,
    pub module: Module,
    pub problems: Vec<SourceProblem>,
}

/// Decodes bytes as Python does: a UTF-8 BOM, else a PEP 263 declaration on
/// line 1 or 2, else UTF-8.
pub fn decode(bytes: &[u8]) -> Result<String, SourceProblem> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(str::to_string)
            .map_err(|e| utf8_problem(e, 3));
    }
    if let Some(label) = declared_encoding(bytes) {
        let norm = label.to_ascii_lowercase().replace('_', "-");
        if matches!(norm.as_str(), "ascii" | "us-ascii" | "646") {
            // WHATWG maps "ascii" to windows-1252; Python does not.
            return match bytes.iter().position(|b| *b >= 0x80) {
                None => Ok(String::from_utf8_lossy(bytes).into_owned()),
                Some(offset) => Err(SourceProblem::Undecodable {
                    message: format!("byte {offset} is not ASCII, the declared encoding"),
                    offset,
                }),
            };
        }
        if !matches!(norm.as_str(), "utf-8" | "utf8" | "utf-8-sig") {
            // Python's codec names that WHATWG labels spell differently.
            let label_for_lookup = match norm.as_str() {
                "latin-1" | "iso-latin-1" | "l1" => "latin1",
                "shift-jis" | "sjis" | "cp932" => "shift_jis",
                "cp1252" => "windows-1252",
                other => other,
            };
            let Some(enc) = encoding_rs::Encoding::for_label(label_for_lookup.as_bytes()) else {
                return Err(SourceProblem::Undecodable {
                    message: format!("unknown encoding `{label}` declared in the coding comment"),
                    offset: 0,
                });
            };
            let (text, had_errors) = enc.decode_without_bom_handling(bytes);
            if had_errors {
                return Err(SourceProblem::Undecodable {
                    message: format!("bytes that are not valid {}", enc.name()),
                    offset: 0,
                });
            }
            return Ok(text.into_owned());
        }
    }
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|e| utf8_problem(e, 0))
}

fn utf8_problem(e: std::str::Utf8Error, base: usize) -> SourceProblem {
    SourceProblem::Undecodable {
        message: format!(
            "invalid UTF-8 at byte {} and no PEP 263 coding declaration",
            e.valid_up_to() + base
        ),
        offset: e.valid_up_to() + base,
    }
}

/// PEP 263: `coding[:=]\s*([-\w.]+)` in a comment on line 1 or 2.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    for (i, line) in bytes.split(|b| *b == b'\n').take(2).enumerate() {
        let trimmed: &[u8] = {
            let start = line
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\x0c'))
                .unwrap_or(line.len());
            &line[start..]
        };
        if !trimmed.starts_with(b"#") {
            // Line 2 only counts when line 1 is a comment or blank too.
            if i == 0 && !trimmed.is_empty() && trimmed != b"\r" {
                return None;
            }
            continue;
        }
        let text = String::from_utf8_lossy(trimmed);
        if let Some(pos) = text.find("coding") {
            let rest = &text[pos + 6..];
            let rest = rest.strip_prefix([':', '='])?;
            let name: String = rest
                .trim_start_matches([' ', '\t'])
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            if !name.is_empty() {
                return Some(name);
            }
        }
    }
    None
}

/// Parses decoded text. Syntax errors are returned as problems; the tree of
/// what parsed is still built.
pub fn parse(text: String) -> ParsedFile {
    let parsed = parse_unchecked_source(&text, PySourceType::Python);
    let mut problems: Vec<SourceProblem> = parsed
        .errors()
        .iter()
        .map(|e| SourceProblem::Syntax {
            message: e.error.to_string(),
            span: Span::new(e.location.start().to_u32(), e.location.end().to_u32()),
        })
        .collect();
    if let Some(pos) = text.find('\0') {
        problems.push(SourceProblem::Syntax {
            message: "source code cannot contain null bytes".to_string(),
            span: Span::new(pos as u32, pos as u32 + 1),
        });
    }
    let comments = parsed
        .tokens()
        .iter()
        .filter(|t| t.kind() == TokenKind::Comment)
        .map(|t| {
            let r = t.range();
            Comment {
                span: Span::new(r.start().to_u32(), r.end().to_u32()),
                text: text[r.start().to_usize()..r.end().to_usize()].to_string(),
            }
        })
        .collect();
    let mut conv = convert::Converter::new();
    let body = conv.suite(&parsed.syntax().body);
    if let Some(span) = conv.too_deep {
        problems.push(SourceProblem::TooDeep { span });
    }
    let module = Module {
        body,
        comments,
        too_deep: conv.too_deep,
    };
    drop(parsed);
    ParsedFile {
        source: SourceText::new(text),
        module,
        problems,
    }
}

/// Bytes -> parsed file; decoding problems give an empty module.
pub fn parse_bytes(bytes: &[u8]) -> ParsedFile {
    if bytes.len() > MAX_FILE_BYTES {
        return ParsedFile {
            source: SourceText::new(String::new()),
            module: Module::default(),
            problems: vec![SourceProblem::TooLarge { bytes: bytes.len() }],
        };
    }
    match decode(bytes) {
        Ok(text) => parse(text),
        Err(p) => ParsedFile {
            source: SourceText::new(String::new()),
            module: Module::default(),
            problems: vec![p],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bom_and_latin1_declaration() {
        assert_eq!(decode(b"\xEF\xBB\xBFx = 1\n").unwrap(), "x = 1\n");
        let latin = b"# -*- coding: latin-1 -*-\ns = '\xe9'\n";
        assert!(decode(latin).unwrap().contains('\u{e9}'));
    }

    #[test]
    fn ascii_declaration_rejects_high_bytes() {
        assert!(decode(b"# coding: ascii\nx = 1\n").is_ok());
        assert!(matches!(
            decode(b"# coding: ascii\nx = '\xe9'\n"),
            Err(SourceProblem::Undecodable { offset: 21, .. })
        ));
    }

    #[test]
    fn undecodable_and_unknown_encoding_are_problems() {
        assert!(matches!(
            decode(b"x = '\xff'\n"),
            Err(SourceProblem::Undecodable { offset: 5, .. })
        ));
        assert!(matches!(
            decode(b"# coding: klingon\nx = 1\n"),
            Err(SourceProblem::Undecodable { .. })
        ));
    }

    #[test]
    fn syntax_errors_keep_what_parsed() {
        let p = parse("def test_a():\n    pass\n\ndef broken(:\n".to_string());
        assert!(p
            .problems
            .iter()
            .any(|p| matches!(p, SourceProblem::Syntax { .. })));
        assert!(p
            .module
            .body
            .iter()
            .any(|s| matches!(&s.kind, ir::StmtKind::FunctionDef(f) if f.name == "test_a")));
    }

    #[test]
    fn deep_nesting_is_cut_not_overflowed() {
        let depth = 5000;
        let src = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
        let p = std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn(move || parse(src))
            .unwrap()
            .join()
            .unwrap();
        let _ = p;
        let src = format!("x = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        let p = std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn(move || parse(src))
            .unwrap()
            .join()
            .unwrap();
        assert!(p.module.too_deep.is_some());
    }

    #[test]
    fn line_col_counts_characters() {
        let s = SourceText::new("é = 1\r\nab = 2\n".to_string());
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (1, 3));
        assert_eq!(s.line_col(8), (2, 1));
        assert_eq!(s.line_text(1), "é = 1");
    }
}
