//! The one error type of configuration loading. Every variant that comes from
//! a file's content carries the file's text and the span of the offending key
//! or value, so `miette` can draw it; rendering itself belongs to `output/`.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    /// The file is not valid TOML or INI.
    #[error("{}: syntax error: {message}", .src.name())]
    #[diagnostic(code(isoaudit::config::syntax))]
    Syntax {
        message: String,
        /// Shared so the error stays small; its name is the file's path.
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{message}")]
        span: SourceSpan,
    },

    #[error("{}: unknown key `{key}` in {table}", .src.name())]
    #[diagnostic(code(isoaudit::config::unknown_key))]
    UnknownKey {
        key: String,
        table: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("unknown key")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// A key isoaudit (or pytest) knows, with a value it cannot use.
    #[error("{}: invalid value for `{key}` in {table}: {message}", .src.name())]
    #[diagnostic(code(isoaudit::config::invalid_value))]
    InvalidValue {
        key: String,
        table: String,
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{message}")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("cannot read config file {path}: {source}")]
    #[diagnostic(code(isoaudit::config::unreadable))]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// `--config` names a file that is not there (or is not a file).
    #[error("config file {path} not found")]
    #[diagnostic(
        code(isoaudit::config::not_found),
        help("check the path given to `--config`")
    )]
    NotFound { path: String },

    #[error("cannot determine the current directory: {0}")]
    #[diagnostic(code(isoaudit::config::cwd))]
    CurrentDir(#[source] std::io::Error),
}

impl ConfigError {
    /// The byte range the error points at, if it points into a file.
    pub fn span(&self) -> Option<Range<usize>> {
        let span = match self {
            ConfigError::Syntax { span, .. }
            | ConfigError::UnknownKey { span, .. }
            | ConfigError::InvalidValue { span, .. } => span,
            _ => return None,
        };
        Some(span.offset()..span.offset() + span.len())
    }
}

/// A file's text with the name errors show for it.
#[derive(Debug, Clone)]
pub(crate) struct SourceText {
    pub display: String,
    pub text: String,
}

impl SourceText {
    pub fn new(path: &Path, base: &Path, text: String) -> Self {
        SourceText {
            display: display_path(path, base),
            text,
        }
    }

    pub fn named(&self) -> Arc<NamedSource<String>> {
        Arc::new(NamedSource::new(self.display.clone(), self.text.clone()))
    }

    pub fn syntax(&self, message: impl Into<String>, span: Range<usize>) -> ConfigError {
        ConfigError::Syntax {
            message: message.into(),
            src: self.named(),
            span: self.clamp(span),
        }
    }

    pub fn invalid(
        &self,
        table: &str,
        key: &str,
        message: impl Into<String>,
        span: Range<usize>,
        help: Option<String>,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            key: key.to_string(),
            table: table.to_string(),
            message: message.into(),
            src: self.named(),
            span: self.clamp(span),
            help,
        }
    }

    pub fn unknown(&self, table: &str, key: &str, span: Range<usize>, help: String) -> ConfigError {
        ConfigError::UnknownKey {
            key: key.to_string(),
            table: table.to_string(),
            src: self.named(),
            span: self.clamp(span),
            help,
        }
    }

    /// A span miette can render: inside the text, and never zero-width
    /// past the end (which would draw nothing).
    fn clamp(&self, span: Range<usize>) -> SourceSpan {
        let len = self.text.len();
        let start = span.start.min(len);
        let end = span.end.clamp(start, len);
        SourceSpan::new(start.into(), end - start)
    }
}

/// `path` relative to `base` when it lies below it, else as given: error
/// messages then read like the command line the user typed.
pub(crate) fn display_path(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}
