//! Project configuration: `[tool.isoaudit]` / `isoaudit.toml` and pytest's own
//! ini options, plus rootdir discovery. Owns every TOML/ini read; errors carry
//! the span of the offending value so `output/` can point at it.

use std::path::{Path, PathBuf};

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
