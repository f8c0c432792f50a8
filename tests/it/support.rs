//! What several integration tests share: copying a shipped suite.

use std::path::Path;

/// What isoaudit (and pytest) write into a suite when run on it: the audit
/// report, `run`'s timings, history and observations, the `.test_durations`
/// of `run --store-durations`, caches. A copy made
/// for a test leaves them out, so a `report` or `run` someone ran on a
/// shipped suite never changes what the tests see; `.gitignore` ignores
/// them in `fixtures/suites/` for the same reason.
pub const WRITTEN_BY_RUNS: [&str; 6] = [
    "docs",
    "reports",
    ".isoaudit",
    ".test_durations",
    ".pytest_cache",
    "__pycache__",
];

/// Copies the suite at `from` into `to` (created), without [`WRITTEN_BY_RUNS`]
/// at any depth. Symlinks are not followed.
pub fn copy_suite(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if WRITTEN_BY_RUNS.iter().any(|w| name == *w) {
            continue;
        }
        let target = to.join(&name);
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_suite(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of shipped suites laid out as in the repository
/// (`<root>/fixtures/suites/NAME`), made with [`copy_suite`]: tests that
/// read a shipped suite read it as committed, whatever `report` or `run`
/// left in the working tree.
pub struct Shipped {
    dir: tempfile::TempDir,
}

impl Shipped {
    /// Copies `fixtures/suites/NAME` for each name (all suites for `&[]`).
    pub fn new(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let suites = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/suites");
        let mut all: Vec<String> = std::fs::read_dir(&suites)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| names.is_empty() || names.contains(&n.as_str()))
            .collect();
        all.sort();
        assert!(!all.is_empty(), "no suites named {names:?}");
        for name in all {
            copy_suite(
                &suites.join(&name),
                &dir.path().join("fixtures/suites").join(&name),
            );
        }
        Shipped { dir }
    }

    /// Stands for the repository root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `fixtures/suites/NAME` in the copy.
    pub fn suite(&self, name: &str) -> std::path::PathBuf {
        self.root().join("fixtures/suites").join(name)
    }
}
