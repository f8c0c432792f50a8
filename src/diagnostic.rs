//! The finding type every stage produces and every output format consumes.
//! Owns no rendering (that is `output/`) and no rule logic (that is `rules/`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// Whether applying a fix can change what the suite does (ruff's terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Applicability {
    Safe,
    Unsafe,
}

/// One replacement in a file, in byte offsets of the original text plus the
/// 1-based line/column positions output formats need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Fix {
    pub message: String,
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
}

/// A 1-based, character-column location range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// Project-root relative, `/`-separated.
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte range in the file, for snippets; not serialised.
    #[serde(skip)]
    pub byte_range: (usize, usize),
    pub test: Option<String>,
    pub fixture: Option<String>,
    pub resource: Option<String>,
    pub chain: Vec<String>,
    pub fix: Option<Fix>,
    /// The one-line replacement advice ("use tmp_path"), also part of `message`.
    #[serde(skip)]
    pub help: Option<String>,
}

impl Finding {
    pub fn new(code: &str, path: &str, loc: Location, message: impl Into<String>) -> Self {
        Finding {
            code: code.to_string(),
            severity: Severity::Error,
            message: message.into(),
            path: path.to_string(),
            line: loc.line,
            column: loc.column,
            end_line: loc.end_line,
            end_column: loc.end_column,
            byte_range: (0, 0),
            test: None,
            fixture: None,
            resource: None,
            chain: Vec::new(),
            fix: None,
            help: None,
        }
    }

    pub fn sort_key(&self) -> (&str, usize, usize, &str, Option<&str>, &str) {
        (
            &self.path,
            self.line,
            self.column,
            &self.code,
            self.test.as_deref(),
            &self.message,
        )
    }
}

/// Sorts findings the way every format prints them and drops exact duplicates.
pub fn sort_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup_by(|a, b| a.sort_key() == b.sort_key());
}

/// Source text of every analysed file, by project-relative path (for snippets
/// and fixes).
pub type SourceMap = std::collections::BTreeMap<String, std::sync::Arc<str>>;

/// Totals printed with findings (`summary` in the JSON output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: usize,
    pub tests: usize,
    pub findings: usize,
    pub parse_errors: usize,
}
