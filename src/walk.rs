//! Discovery: which files pytest would collect under the given paths, plus
//! every `conftest.py` (including the chain above single files). Owns the
//! file system walk; reads no file contents.

use std::path::{Path, PathBuf};

use crate::config::Project;
use crate::diagnostic::Finding;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Relative to the project root, `/`-separated.
    pub rel: String,
    pub is_conftest: bool,
}

#[derive(Debug, Default)]
pub struct Discovery {
    /// Sorted by `rel`, no duplicates.
    pub files: Vec<SourceFile>,
    /// ISO002 findings for paths that could not be walked or read.
    pub problems: Vec<Finding>,
}

/// Walks `paths` (or the project's testpaths, else its root).
pub fn discover(project: &Project, paths: &[PathBuf]) -> Discovery {
    let _ = (project, paths);
    Discovery::default()
}

/// `path` relative to `root`, `/`-separated (falls back to the path itself).
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
