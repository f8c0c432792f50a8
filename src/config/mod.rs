//! Project configuration: `[tool.isoaudit]` / `isoaudit.toml` and pytest's own
//! ini options, plus rootdir discovery. Owns every TOML/ini read; errors carry
//! the span of the offending value so `output/` can point at it. Reads no
//! Python and walks no test tree (that is `walk`).
//!
//! [`load`] is the entry point: it finds pytest's rootdir and configfile
//! ([`pytest`]), then isoaudit's own settings ([`settings`]), and returns a
//! [`Project`] or the first [`ConfigError`].

#[cfg(test)]
mod doc_check;
mod error;
pub mod ini;
pub mod pytest;
pub mod settings;

use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use pytest::{absolutize, strip_nodeid};

/// `[tool.isoaudit.scheduler]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    /// `None` = auto (number of CPUs).
    pub workers: Option<usize>,
    pub heavy_workers: Option<usize>,
    pub durations: Option<PathBuf>,
    pub rerun_failures_serially: bool,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            workers: None,
            heavy_workers: None,
            durations: None,
            rerun_failures_serially: true,
        }
    }
}

/// `[tool.isoaudit]` keys, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub select: Option<Vec<String>>,
    pub extend_select: Vec<String>,
    pub ignore: Vec<String>,
    /// (glob relative to the project root, codes or prefixes)
    pub per_file_ignores: Vec<(String, Vec<String>)>,
    pub isolation_markers: Vec<String>,
    pub heavy_markers: Vec<String>,
    pub shared_paths: Vec<String>,
    pub catalog: Vec<PathBuf>,
    /// `timeout`: `run`'s per-test limit in seconds; None = no limit.
    pub timeout: Option<f64>,
    /// `heavy-rss-mb`: a test whose worker's peak memory grew this much in a
    /// run is heavy (0 = never).
    pub heavy_rss_mb: f64,
    /// `heavy-cpu-s`: a test that used this much CPU in a run is heavy.
    pub heavy_cpu_s: f64,
    /// `baseline`: `check` reports only findings this file does not hold.
    pub baseline: Option<PathBuf>,
    pub scheduler: SchedulerSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            select: None,
            extend_select: Vec::new(),
            ignore: Vec::new(),
            per_file_ignores: Vec::new(),
            isolation_markers: vec!["isolation".into(), "serial".into(), "no_parallel".into()],
            heavy_markers: vec!["use_real_models".into()],
            shared_paths: Vec::new(),
            catalog: Vec::new(),
            timeout: None,
            heavy_rss_mb: 1024.0,
            heavy_cpu_s: 120.0,
            baseline: None,
            scheduler: SchedulerSettings::default(),
        }
    }
}

/// pytest's ini options that change what isoaudit collects.
#[derive(Debug, Clone, PartialEq)]
pub struct PytestIni {
    pub testpaths: Vec<String>,
    pub python_files: Vec<String>,
    pub python_classes: Vec<String>,
    pub python_functions: Vec<String>,
    /// `None` = pytest's default list.
    pub norecursedirs: Option<Vec<String>>,
    /// Registered markers: (name, description).
    pub markers: Vec<(String, String)>,
    pub usefixtures: Vec<String>,
    pub addopts: Vec<String>,
    /// The file these came from, relative to the root (for findings).
    pub inifile: Option<String>,
}

impl Default for PytestIni {
    fn default() -> Self {
        PytestIni {
            testpaths: Vec::new(),
            python_files: vec!["test_*.py".into(), "*_test.py".into()],
            python_classes: vec!["Test".into()],
            python_functions: vec!["test".into()],
            norecursedirs: None,
            markers: Vec::new(),
            usefixtures: Vec::new(),
            addopts: Vec::new(),
            inifile: None,
        }
    }
}

/// Everything known about the project before any Python file is read.
#[derive(Debug, Clone)]
pub struct Project {
    /// pytest's rootdir; every output path is relative to it.
    pub root: PathBuf,
    pub settings: Settings,
    pub pytest: PytestIni,
    /// The file `[tool.isoaudit]` came from, if any.
    pub config_file: Option<PathBuf>,
}

impl Project {
    /// A project with defaults rooted at `root` (tests and tools use it).
    pub fn with_defaults(root: &Path) -> Self {
        Project {
            root: root.to_path_buf(),
            settings: Settings::default(),
            pytest: PytestIni::default(),
            config_file: None,
        }
    }
}

/// Loads the project for the command-line `paths` (relative to the current
/// directory; none means the current directory), with `explicit_config`
/// (`--config FILE`) replacing the search for isoaudit's settings.
pub fn load(paths: &[PathBuf], explicit_config: Option<&Path>) -> Result<Project, ConfigError> {
    let cwd = std::env::current_dir().map_err(ConfigError::CurrentDir)?;
    load_in(&cwd, paths, explicit_config)
}

/// [`load`] as if run from `invocation_dir`.
pub fn load_in(
    invocation_dir: &Path,
    paths: &[PathBuf],
    explicit_config: Option<&Path>,
) -> Result<Project, ConfigError> {
    let setup = pytest::determine_setup(invocation_dir, paths)?;
    let (settings, config_file) = match explicit_config {
        Some(file) => {
            let file = absolutize(invocation_dir, file);
            if !file.is_file() {
                return Err(ConfigError::NotFound {
                    path: error::display_path(&file, invocation_dir),
                });
            }
            (settings::load_file(&file, invocation_dir)?, Some(file))
        }
        None => {
            let start = paths
                .first()
                .map(|p| absolutize(invocation_dir, &strip_nodeid(p)))
                .unwrap_or_else(|| invocation_dir.to_path_buf());
            let start = if start.is_file() {
                start.parent().map(Path::to_path_buf).unwrap_or(start)
            } else {
                start
            };
            match settings::find(&start, invocation_dir)? {
                Some((file, settings)) => (settings, Some(file)),
                None => (Settings::default(), None),
            }
        }
    };
    Ok(Project {
        root: setup.rootdir,
        settings,
        pytest: setup.ini,
        config_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn pytest_and_isoaudit_settings_together() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            &root.join("pyproject.toml"),
            "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\nmarkers = [\"serial: alone\"]\n\n\
             [tool.isoaudit]\nheavy-markers = [\"gpu\"]\n",
        );
        write(&root.join("tests/unit/test_a.py"), "");
        let p = load_in(root, &[PathBuf::from("tests/unit/test_a.py")], None).unwrap();
        assert_eq!(p.root, root);
        assert_eq!(p.pytest.testpaths, vec!["tests"]);
        assert_eq!(
            p.pytest.markers,
            vec![("serial".to_string(), "alone".to_string())]
        );
        assert_eq!(p.settings.heavy_markers, vec!["gpu"]);
        assert_eq!(p.config_file, Some(root.join("pyproject.toml")));
    }

    #[test]
    fn isoaudit_config_is_searched_from_the_first_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("pytest.ini"), "[pytest]\n");
        write(&root.join("a/isoaudit.toml"), "ignore = [\"ISO1\"]\n");
        write(&root.join("a/test_a.py"), "");
        write(&root.join("b/test_b.py"), "");
        let p = load_in(
            root,
            &[PathBuf::from("a/test_a.py"), PathBuf::from("b")],
            None,
        )
        .unwrap();
        assert_eq!(p.root, root);
        assert_eq!(p.settings.ignore, vec!["ISO1"]);
        let p = load_in(root, &[PathBuf::from("b"), PathBuf::from("a")], None).unwrap();
        assert_eq!(p.config_file, None);
        assert_eq!(p.settings, Settings::default());
    }

    #[test]
    fn explicit_config_overrides_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("isoaudit.toml"), "ignore = [\"ISO1\"]\n");
        write(&root.join("ci/strict.toml"), "select = [\"ALL\"]\n");
        let p = load_in(root, &[], Some(Path::new("ci/strict.toml"))).unwrap();
        assert_eq!(p.settings.select, Some(vec!["ALL".to_string()]));
        assert!(p.settings.ignore.is_empty());
        assert_eq!(p.config_file, Some(root.join("ci/strict.toml")));

        let err = load_in(root, &[], Some(Path::new("ci/missing.toml"))).unwrap_err();
        assert!(
            matches!(&err, ConfigError::NotFound { path } if path == "ci/missing.toml"),
            "{err:?}"
        );
        let err = load_in(root, &[], Some(Path::new("ci"))).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn errors_name_the_file_relative_to_the_invocation_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("sub/isoaudit.toml"), "selectt = []\n");
        let err = load_in(root, &[PathBuf::from("sub")], None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("sub/isoaudit.toml: unknown key `selectt`"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Not UTF-8: reading it as text fails like a permission error would.
        fs::write(root.join("isoaudit.toml"), b"ignore = [\"\xff\"]\n").unwrap();
        let err = load_in(root, &[], None).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Unreadable { path, .. } if path == "isoaudit.toml"),
            "{err:?}"
        );
    }
}
