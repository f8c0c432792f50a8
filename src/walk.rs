//! Discovery: which files pytest would collect under the given paths, plus
//! every `conftest.py` (including the chain above single files). Owns the
//! file system walk; reads no file contents.
//!
//! What is kept, following pytest's collection rules:
//! - under a directory: `.py` files whose name matches `python_files`
//!   (fnmatch, as pytest matches them), and every `conftest.py`; the walk
//!   skips directories matching `norecursedirs`, virtualenvs (a `pyvenv.cfg`
//!   or `conda-meta/history` inside), `__pycache__`, hidden entries, and what
//!   `.gitignore`/`.ignore` files exclude;
//! - a file given explicitly: kept whatever its name (pytest collects given
//!   files), if it is a `.py` file;
//! - for every given path, the `conftest.py` files from its directory up to
//!   the root, so fixtures defined above it resolve.
//!
//! Nothing here stops the run: a path that cannot be walked or read is an
//! `ISO002` finding and is skipped.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use globset::{GlobBuilder, GlobMatcher};
use ignore::WalkBuilder;

use crate::config::{absolutize, strip_nodeid, Project};
use crate::diagnostic::{sort_findings, Finding, Location};

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
    /// The walk covered everything pytest collects from the rootdir with no
    /// arguments (the testpaths, else the root), so conclusions about the
    /// whole suite ("no test uses this marker") hold.
    pub whole_suite: bool,
}

/// The code of the findings discovery produces.
pub const UNREADABLE_PATH: &str = "ISO002";

/// pytest's default `norecursedirs`.
pub const DEFAULT_NORECURSEDIRS: [&str; 9] = [
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
];

/// Walks `paths`; with none, what pytest would collect when run without
/// arguments: the current directory when it lies below the root, else the
/// project's testpaths, else the root. Relative paths are taken from the
/// current directory, like the command line's.
pub fn discover(project: &Project, paths: &[PathBuf]) -> Discovery {
    let cwd = std::env::current_dir().unwrap_or_else(|_| project.root.clone());
    discover_in(project, &cwd, paths)
}

/// [`discover`] with relative `paths` taken from `cwd`.
pub fn discover_in(project: &Project, cwd: &Path, paths: &[PathBuf]) -> Discovery {
    let mut walker = Walker::new(project, cwd);
    let root = &project.root;
    let targets: Vec<PathBuf> = if paths.is_empty() {
        // pytest without arguments collects the current directory, and uses
        // testpaths only when run from the rootdir. A cwd outside the root
        // (a project built by hand) means the root.
        if cwd != root && cwd.starts_with(root) {
            vec![cwd.to_path_buf()]
        } else {
            let mut found = Vec::new();
            for testpath in &project.pytest.testpaths {
                found.extend(expand_glob(root, testpath));
            }
            if found.is_empty() {
                vec![root.clone()]
            } else {
                found
            }
        }
    } else {
        paths
            .iter()
            .map(|p| absolutize(cwd, &strip_nodeid(p)))
            .collect()
    };
    for target in &targets {
        walker.target(target);
    }
    let whole_suite = covers_suite(project, &targets);
    Discovery {
        whole_suite,
        ..walker.finish()
    }
}

/// Whether `targets` hold every directory pytest collects from the rootdir
/// when run without arguments: the testpaths, else the root.
fn covers_suite(project: &Project, targets: &[PathBuf]) -> bool {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root = canonical(&project.root);
    let mut suite: Vec<PathBuf> = project
        .pytest
        .testpaths
        .iter()
        .flat_map(|t| expand_glob(&project.root, t))
        .map(|p| canonical(&p))
        .collect();
    if suite.is_empty() {
        suite.push(root);
    }
    let targets: Vec<PathBuf> = targets.iter().map(|t| canonical(t)).collect();
    suite
        .iter()
        .all(|s| targets.iter().any(|t| s.starts_with(t)))
}

/// A pattern with Python `fnmatch` semantics, matched like pytest's
/// `fnmatch_ex`: against the file name, or against the whole path when the
/// pattern holds a `/`.
#[derive(Debug, Clone)]
pub struct FnPattern {
    matcher: Option<GlobMatcher>,
    whole_path: bool,
}

impl FnPattern {
    pub fn new(pattern: &str) -> Self {
        let whole_path = pattern.contains('/');
        let pattern = if whole_path && !pattern.starts_with('/') {
            format!("*/{pattern}")
        } else {
            pattern.to_string()
        };
        let matcher = GlobBuilder::new(&translate_fnmatch(&pattern))
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            // globset refuses a few things fnmatch takes (a reversed range):
            // such a pattern then matches only its own text.
            .or_else(|_| GlobBuilder::new(&globset::escape(&pattern)).build())
            .ok()
            .map(|g| g.compile_matcher());
        FnPattern {
            matcher,
            whole_path,
        }
    }

    /// `path` should be absolute, as pytest matches absolute paths.
    pub fn matches(&self, path: &Path) -> bool {
        let Some(matcher) = &self.matcher else {
            return false;
        };
        if self.whole_path {
            matcher.is_match(path)
        } else {
            path.file_name().is_some_and(|n| matcher.is_match(n))
        }
    }
}

/// Python's `fnmatch` syntax in globset's: `*` crosses `/`, classes use `!`,
/// `{}` and `\` are literal, an unclosed `[` is literal.
fn translate_fnmatch(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                // `**` means `*` to fnmatch; globset gives it another meaning.
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push('*');
            }
            '?' => out.push('?'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                    continue;
                }
                let content: String = chars[i..j].iter().collect();
                i = j + 1;
                let (negated, body) = match content.strip_prefix('!') {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, content),
                };
                // A leading `^` is literal to fnmatch but negates in globset.
                let body = match body.strip_prefix('^') {
                    Some("") => {
                        out.push_str(if negated { "[!^]" } else { "\\^" });
                        continue;
                    }
                    Some(rest) => format!("{rest}^"),
                    None => body,
                };
                out.push('[');
                if negated {
                    out.push('!');
                }
                out.push_str(&body);
                out.push(']');
            }
            '{' | '}' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Python's `glob.glob(pattern, recursive=True)` from `root`, sorted, as
/// pytest expands `testpaths`. Hidden entries only match patterns that
/// start with `.`, as in Python.
pub fn expand_glob(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let has_magic = |s: &str| s.contains(['*', '?', '[']);
    let full = absolutize(root, Path::new(pattern));
    if !has_magic(pattern) {
        return if full.symlink_metadata().is_ok() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let base = if Path::new(pattern).is_absolute() {
        PathBuf::from("/")
    } else {
        root.to_path_buf()
    };
    let mut current = vec![base];
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for (idx, part) in parts.iter().enumerate() {
        let last = idx + 1 == parts.len();
        let mut next = Vec::new();
        for dir in &current {
            if *part == "**" {
                next.push(dir.clone());
                descendants(dir, last, &mut next);
            } else if has_magic(part) {
                let pat = FnPattern::new(part);
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let hidden = name.to_string_lossy().starts_with('.');
                    let path = entry.path();
                    if (hidden && !part.starts_with('.')) || !pat.matches(&path) {
                        continue;
                    }
                    if last || path.is_dir() {
                        next.push(path);
                    }
                }
            } else {
                let path = absolutize(dir, Path::new(part));
                if path.symlink_metadata().is_ok() {
                    next.push(path);
                }
            }
        }
        current = next;
    }
    current.sort();
    current.dedup();
    current
}

/// Every non-hidden directory below `dir` (and file, when `files`), without
/// following symlinks so a loop cannot run forever.
fn descendants(dir: &Path, files: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            out.push(entry.path());
            descendants(&entry.path(), files, out);
        } else if files {
            out.push(entry.path());
        }
    }
}

/// A pytest virtualenv check: pytest never collects inside one.
fn is_virtualenv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file() || dir.join("conda-meta").join("history").is_file()
}

struct Walker<'a> {
    project: &'a Project,
    /// Where isoaudit runs: messages name paths from there, as the
    /// findings' locations are shown.
    cwd: PathBuf,
    python_files: Vec<FnPattern>,
    norecurse: Arc<Vec<FnPattern>>,
    /// (canonical path, file), before deduplication.
    found: Vec<(PathBuf, SourceFile)>,
    problems: Vec<Finding>,
    /// Directories whose conftest chain was already added.
    chained: BTreeSet<PathBuf>,
}

impl<'a> Walker<'a> {
    fn new(project: &'a Project, cwd: &Path) -> Self {
        let norecurse: Vec<FnPattern> = match &project.pytest.norecursedirs {
            Some(patterns) => patterns.iter().map(|p| FnPattern::new(p)).collect(),
            None => DEFAULT_NORECURSEDIRS
                .iter()
                .map(|p| FnPattern::new(p))
                .collect(),
        };
        Walker {
            project,
            cwd: cwd.to_path_buf(),
            python_files: project
                .pytest
                .python_files
                .iter()
                .map(|p| FnPattern::new(p))
                .collect(),
            norecurse: Arc::new(norecurse),
            found: Vec::new(),
            problems: Vec::new(),
            chained: BTreeSet::new(),
        }
    }

    fn rel(&self, path: &Path) -> String {
        relative(&self.project.root, path)
    }

    /// `path` as a message names it: relative to the current directory.
    fn shown(&self, path: &Path) -> String {
        let shown = relative(&self.cwd, path);
        if shown.is_empty() {
            ".".into()
        } else {
            shown
        }
    }

    fn problem(&mut self, path: &Path, message: String) {
        let loc = Location {
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
        };
        let rel = self.rel(path);
        // The root itself has an empty relative path; findings need a name.
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        self.problems
            .push(Finding::new(UNREADABLE_PATH, &rel, loc, message));
    }

    fn target(&mut self, path: &Path) {
        let rel = self.shown(path);
        let link = match path.symlink_metadata() {
            Ok(meta) => meta,
            Err(e) => {
                self.problem(path, format!("`{rel}` {}; skipped", io_reason(&e)));
                return;
            }
        };
        let meta = match path.metadata() {
            Ok(meta) => meta,
            Err(e) if link.file_type().is_symlink() && e.kind() == io::ErrorKind::NotFound => {
                self.problem(
                    path,
                    format!("`{rel}` is a dangling symlink (its target does not exist); skipped"),
                );
                return;
            }
            Err(e) => {
                self.problem(
                    path,
                    format!("`{rel}` cannot be followed: {}; skipped", io_reason(&e)),
                );
                return;
            }
        };
        if meta.is_file() {
            if path.extension().is_some_and(|e| e == "py") {
                self.keep(path);
            }
            if let Some(dir) = path.parent() {
                self.conftest_chain(dir);
            }
        } else if meta.is_dir() {
            self.conftest_chain(path);
            self.walk_dir(path);
        }
    }

    /// `conftest.py` in `dir` and every directory above it up to the root.
    fn conftest_chain(&mut self, dir: &Path) {
        let root = self.project.root.clone();
        for d in dir.ancestors() {
            if !d.starts_with(&root) || !self.chained.insert(d.to_path_buf()) {
                break;
            }
            let conftest = d.join("conftest.py");
            if conftest.is_file() {
                self.keep(&conftest);
            }
        }
    }

    fn walk_dir(&mut self, dir: &Path) {
        let norecurse = Arc::clone(&self.norecurse);
        let mut builder = WalkBuilder::new(dir);
        builder
            .standard_filters(true)
            // A user's global gitignore would make results differ by machine.
            .git_global(false)
            .require_git(false)
            .follow_links(true)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(move |entry| {
                if entry.depth() == 0 || !entry.file_type().is_some_and(|t| t.is_dir()) {
                    return true;
                }
                let path = entry.path();
                !(entry.file_name() == "__pycache__"
                    || norecurse.iter().any(|p| p.matches(path))
                    || is_virtualenv(path))
            });
        for result in builder.build() {
            match result {
                Ok(entry) => {
                    if !entry.file_type().is_some_and(|t| t.is_file()) {
                        continue;
                    }
                    let path = entry.path();
                    let is_conftest = entry.file_name() == "conftest.py";
                    let is_test = path.extension().is_some_and(|e| e == "py")
                        && self.python_files.iter().any(|p| p.matches(path));
                    if is_conftest || is_test {
                        self.keep(path);
                    }
                }
                Err(err) => self.walk_error(&err, None),
            }
        }
    }

    fn walk_error(&mut self, err: &ignore::Error, path: Option<&Path>) {
        match err {
            ignore::Error::Partial(errs) => {
                for e in errs {
                    self.walk_error(e, path);
                }
            }
            ignore::Error::WithLineNumber { err, .. } | ignore::Error::WithDepth { err, .. } => {
                self.walk_error(err, path)
            }
            ignore::Error::WithPath { path, err } => self.walk_error(err, Some(path)),
            ignore::Error::Loop { ancestor, child } => {
                let message = format!(
                    "`{}` is a symlink loop (it leads back to `{}`); skipped",
                    self.shown(child),
                    self.shown(ancestor)
                );
                self.problem(child, message);
            }
            ignore::Error::Io(e) => {
                let Some(path) = path else { return };
                let dangling = e.kind() == io::ErrorKind::NotFound
                    && path
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink());
                // Only explicitly given dangling symlinks are worth a finding.
                if dangling {
                    return;
                }
                let rel = self.shown(path);
                self.problem(
                    path,
                    format!("`{rel}` cannot be read: {}; skipped", io_reason(e)),
                );
            }
            // Bad globs in ignore files and the like concern no test path.
            _ => {}
        }
    }

    fn keep(&mut self, path: &Path) {
        // Opening is the only sure test of readability (permissions, ACLs).
        if let Err(e) = std::fs::File::open(path) {
            let rel = self.shown(path);
            self.problem(
                path,
                format!("`{rel}` cannot be read: {}; skipped", io_reason(&e)),
            );
            return;
        }
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let file = SourceFile {
            path: path.to_path_buf(),
            rel: self.rel(path),
            is_conftest: path.file_name().is_some_and(|n| n == "conftest.py"),
        };
        self.found.push((canonical, file));
    }

    fn finish(mut self) -> Discovery {
        // One entry per real file. The name kept is the one that needs no
        // symlink, else the one inside the root, else the smallest.
        self.found.sort_by(|(ca, a), (cb, b)| {
            let key = |c: &PathBuf, f: &SourceFile| {
                (
                    c.clone(),
                    f.path != *c,
                    f.rel.starts_with(".."),
                    f.rel.clone(),
                )
            };
            key(ca, a).cmp(&key(cb, b))
        });
        self.found.dedup_by(|(ca, _), (cb, _)| ca == cb);
        let mut files: Vec<SourceFile> = self.found.into_iter().map(|(_, f)| f).collect();
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        sort_findings(&mut self.problems);
        Discovery {
            files,
            problems: self.problems,
            whole_suite: false,
        }
    }
}

/// An I/O error in words that do not depend on the platform's errno text.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "does not exist".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `path` relative to `root`, `/`-separated. An absolute path outside the
/// root climbs out with `..`; a relative path is returned as it is.
pub fn relative(root: &Path, path: &Path) -> String {
    let join = |comps: Vec<String>| comps.join("/");
    let names = |p: &Path| -> Vec<String> {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    if let Ok(rel) = path.strip_prefix(root) {
        return join(names(rel));
    }
    if !(path.is_absolute() && root.is_absolute()) {
        return join(names(path));
    }
    let root_parts = names(root);
    let path_parts = names(path);
    let shared = root_parts
        .iter()
        .zip(&path_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = vec!["..".to_string(); root_parts.len() - shared];
    out.extend(path_parts[shared..].iter().cloned());
    join(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PytestIni;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn project(root: &Path) -> Project {
        Project::with_defaults(root)
    }

    fn rels(d: &Discovery) -> Vec<&str> {
        d.files.iter().map(|f| f.rel.as_str()).collect()
    }

    fn tree(root: &Path, files: &[&str]) {
        for f in files {
            write(&root.join(f), "");
        }
    }

    #[test]
    fn fnmatch_semantics() {
        let p = FnPattern::new("test_*.py");
        assert!(p.matches(Path::new("/r/a/test_x.py")));
        assert!(!p.matches(Path::new("/r/test_x/a.py")));
        let p = FnPattern::new("{arch}");
        assert!(p.matches(Path::new("/r/{arch}")));
        assert!(!p.matches(Path::new("/r/arch")));
        let p = FnPattern::new("tests/**/doc/test*.py");
        assert!(p.matches(Path::new("/r/tests/foo/bar/doc/test_foo.py")));
        assert!(!p.matches(Path::new("/r/tests/doc/test_foo.py")));
        let p = FnPattern::new("check_[!x]*.py");
        assert!(p.matches(Path::new("/r/check_a.py")));
        assert!(!p.matches(Path::new("/r/check_x.py")));
        assert!(FnPattern::new("[^a]").matches(Path::new("/r/^")));
        assert!(FnPattern::new("a[b").matches(Path::new("/r/a[b")));
        assert!(FnPattern::new(".*").matches(Path::new("/r/.git")));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c/d.py")),
            "c/d.py"
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/x/y.py")),
            "../x/y.py"
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("rel/y.py")),
            "rel/y.py"
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), "");
    }

    #[test]
    fn default_globs_conftests_and_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                "conftest.py",
                "tests/test_b.py",
                "tests/a_test.py",
                "tests/helpers.py",
                "tests/sub/conftest.py",
                "tests/sub/test_a.py",
                "tests/test_data.txt",
                "tests/__pycache__/test_b.py",
            ],
        );
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(
            rels(&d),
            vec![
                "conftest.py",
                "tests/a_test.py",
                "tests/sub/conftest.py",
                "tests/sub/test_a.py",
                "tests/test_b.py"
            ]
        );
        assert!(d.files[0].is_conftest && !d.files[1].is_conftest);
        assert_eq!(d.files[1].path, root.join("tests/a_test.py"));
        assert!(d.problems.is_empty());
    }

    #[test]
    fn gitignore_and_ignore_files_are_respected() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                "tests/test_a.py",
                "generated/test_gen.py",
                "tests/test_skip.py",
                "tests/test_keep.py",
            ],
        );
        write(&root.join(".gitignore"), "generated/\n");
        write(&root.join("tests/.ignore"), "test_skip.py\n");
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(rels(&d), vec!["tests/test_a.py", "tests/test_keep.py"]);
    }

    #[test]
    fn norecursedirs_default_custom_and_virtualenvs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                "build/test_a.py",
                "node_modules/x/test_a.py",
                "pkg.egg/test_a.py",
                "{arch}/test_a.py",
                ".hidden/test_a.py",
                "env/pyvenv.cfg",
                "env/lib/test_a.py",
                "legacy/test_a.py",
                "tests/test_a.py",
            ],
        );
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(rels(&d), vec!["legacy/test_a.py", "tests/test_a.py"]);

        // A custom list replaces the default, as in pytest.
        let mut p = project(root);
        p.pytest.norecursedirs = Some(vec!["legacy".into()]);
        let d = discover_in(&p, root, &[]);
        assert_eq!(
            rels(&d),
            vec![
                "build/test_a.py",
                "node_modules/x/test_a.py",
                "pkg.egg/test_a.py",
                "tests/test_a.py",
                "{arch}/test_a.py"
            ]
        );
    }

    #[test]
    fn custom_python_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &["t/check_a.py", "t/test_a.py", "t/deep/x.py"]);
        let mut p = project(root);
        p.pytest.python_files = vec!["check_*.py".into(), "t/deep/*.py".into()];
        let d = discover_in(&p, root, &[]);
        assert_eq!(rels(&d), vec!["t/check_a.py", "t/deep/x.py"]);
    }

    #[test]
    fn directory_named_like_a_test_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("tests/test_x.py")).unwrap();
        tree(root, &["tests/test_x.py/test_inner.py", "tests/test_y.py"]);
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(
            rels(&d),
            vec!["tests/test_x.py/test_inner.py", "tests/test_y.py"]
        );
        assert!(d.problems.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn dangling_symlinks() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &["tests/test_a.py"]);
        symlink(root.join("nowhere.py"), root.join("tests/test_gone.py")).unwrap();
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(rels(&d), vec!["tests/test_a.py"]);
        assert!(d.problems.is_empty(), "{:?}", d.problems);

        let d = discover_in(&project(root), root, &[root.join("tests/test_gone.py")]);
        assert!(d.files.is_empty());
        assert_eq!(d.problems.len(), 1);
        let f = &d.problems[0];
        assert_eq!(
            (f.code.as_str(), f.path.as_str(), f.line, f.column),
            ("ISO002", "tests/test_gone.py", 1, 1)
        );
        assert!(
            f.message.contains("dangling symlink") && f.message.contains("skipped"),
            "{}",
            f.message
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_reported_and_walk_ends() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &["tests/sub/test_a.py"]);
        symlink(root.join("tests"), root.join("tests/sub/back")).unwrap();
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(rels(&d), vec!["tests/sub/test_a.py"]);
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        let f = &d.problems[0];
        assert_eq!(
            (f.code.as_str(), f.path.as_str()),
            ("ISO002", "tests/sub/back")
        );
        assert!(
            f.message.contains("symlink loop") && f.message.contains("`tests`"),
            "{}",
            f.message
        );
    }

    #[cfg(unix)]
    #[test]
    fn same_file_through_a_symlinked_dir_counts_once() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &["real/test_a.py"]);
        symlink(root.join("real"), root.join("alias")).unwrap();
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(rels(&d), vec!["real/test_a.py"]);
        // Given twice, by two spellings: still once.
        let d = discover_in(
            &project(root),
            root,
            &[
                root.join("alias/test_a.py"),
                PathBuf::from("real/../real/test_a.py"),
            ],
        );
        assert_eq!(rels(&d), vec!["real/test_a.py"]);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_dir_outside_is_walked() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(outside.path(), &["test_ext.py"]);
        tree(root, &["tests/test_a.py"]);
        symlink(outside.path(), root.join("tests/ext")).unwrap();
        let d = discover_in(&project(root), root, &[]);
        assert_eq!(rels(&d), vec!["tests/ext/test_ext.py", "tests/test_a.py"]);
    }

    #[test]
    fn single_file_gets_its_conftest_chain() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                "conftest.py",
                "tests/conftest.py",
                "tests/unit/helpers_check.py",
                "tests/unit/test_other.py",
                "tests/other/conftest.py",
            ],
        );
        // Outside the root: never loaded by pytest, never added here.
        let parent_conftest = root.parent().unwrap().join("conftest.py");
        assert!(!parent_conftest.exists());
        let d = discover_in(
            &project(root),
            root,
            &[PathBuf::from("tests/unit/helpers_check.py")],
        );
        assert_eq!(
            rels(&d),
            vec![
                "conftest.py",
                "tests/conftest.py",
                "tests/unit/helpers_check.py"
            ]
        );
        assert!(d.files[0].is_conftest && d.files[1].is_conftest && !d.files[2].is_conftest);
    }

    #[test]
    fn explicit_paths_and_nodeids() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &["build/test_a.py", "tests/test_b.py", "README.md"]);
        let d = discover_in(
            &project(root),
            root,
            &[
                PathBuf::from("build"),
                PathBuf::from("tests/test_b.py::test_x"),
                PathBuf::from("README.md"),
            ],
        );
        // An explicitly given directory is walked even if norecursedirs names it.
        assert_eq!(rels(&d), vec!["build/test_a.py", "tests/test_b.py"]);

        let d = discover_in(&project(root), root, &[PathBuf::from("missing")]);
        assert!(d.files.is_empty());
        assert_eq!(d.problems[0].path, "missing");
        assert!(
            d.problems[0].message.contains("does not exist"),
            "{}",
            d.problems[0].message
        );
    }

    #[test]
    fn files_outside_the_root_climb_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        tree(
            dir.path(),
            &[
                "proj/tests/test_a.py",
                "other/test_b.py",
                "other/conftest.py",
            ],
        );
        let d = discover_in(
            &project(&root),
            &root,
            &[PathBuf::from("../other/test_b.py")],
        );
        assert_eq!(rels(&d), vec!["../other/test_b.py"]);
    }

    #[test]
    fn testpaths_when_no_paths_given() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                "conftest.py",
                "tests/test_a.py",
                "integration/one/test_i.py",
                "integration/two/test_j.py",
                "scratch/test_s.py",
            ],
        );
        let mut p = project(root);
        p.pytest = PytestIni {
            testpaths: vec!["tests".into(), "integration/*".into(), "nope".into()],
            ..PytestIni::default()
        };
        let d = discover_in(&p, root, &[]);
        assert_eq!(
            rels(&d),
            vec![
                "conftest.py",
                "integration/one/test_i.py",
                "integration/two/test_j.py",
                "tests/test_a.py"
            ]
        );
        // Paths on the command line win over testpaths.
        let d = discover_in(&p, root, &[root.join("scratch")]);
        assert_eq!(rels(&d), vec!["conftest.py", "scratch/test_s.py"]);
        // testpaths that match nothing fall back to the root.
        p.pytest.testpaths = vec!["nope".into()];
        let d = discover_in(&p, root, &[]);
        assert_eq!(d.files.len(), 5);
        // From a subdirectory, pytest collects that directory only.
        let d = discover_in(&p, &root.join("scratch"), &[]);
        assert_eq!(rels(&d), vec!["conftest.py", "scratch/test_s.py"]);
        // A cwd outside the root says nothing about the project.
        let elsewhere = tempfile::tempdir().unwrap();
        let d = discover_in(&p, elsewhere.path(), &[]);
        assert_eq!(d.files.len(), 5);
    }

    #[test]
    fn recursive_glob() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &["a/b/tests/x.py", "a/tests/y.py", ".h/tests/z.py"]);
        let got: Vec<String> = expand_glob(root, "**/tests")
            .iter()
            .map(|p| relative(root, p))
            .collect();
        assert_eq!(got, vec!["a/b/tests", "a/tests"]);
    }
}
