//! pytest's rootdir and configfile, found the way pytest 9 finds them
//! (`_pytest/config/findpaths.py`), and the ini options isoaudit needs from
//! that file. Nodeids are relative to the rootdir, so a different answer here
//! than pytest's would make every nodeid in a plan wrong.
//!
//! The algorithm, given the command-line paths:
//! 1. the common ancestor of the paths that exist (files count as their
//!    directory; none given or none exist: the invocation directory);
//! 2. from the ancestor upwards, in each directory the first of
//!    `pytest.toml`, `.pytest.toml`, `pytest.ini`, `.pytest.ini`,
//!    `pyproject.toml`, `tox.ini`, `setup.cfg` that holds pytest settings
//!    (the dedicated pytest files always do, even empty; `pyproject.toml`
//!    needs `[tool.pytest]` or `[tool.pytest.ini_options]`, `tox.ini` a
//!    `[pytest]` section, `setup.cfg` a `[tool:pytest]` one). Its directory
//!    is the rootdir. If none does, the first `pyproject.toml` seen on the
//!    way up is the configfile anyway, with no options;
//! 3. else the first directory from the ancestor upwards holding `setup.py`;
//! 4. else step 2 again from each path's own directory;
//! 5. else the common ancestor of the invocation directory and the
//!    ancestor, unless that is the file system root, then the ancestor.

use std::path::{Component, Path, PathBuf};

use toml_edit::{ImDocument, Item, TableLike, Value};

use super::error::{ConfigError, SourceText};
use super::ini::{self, IniFile};
use super::PytestIni;

/// The config file names pytest looks for, in its order of precedence.
const CONFIG_NAMES: [&str; 7] = [
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

/// pytest's rootdir and what its configfile says.
#[derive(Debug, Clone, PartialEq)]
pub struct PytestSetup {
    pub rootdir: PathBuf,
    /// Absolute path of the configfile, if any.
    pub configfile: Option<PathBuf>,
    pub ini: PytestIni,
}

/// `path` made absolute against `base` with `.` and `..` removed lexically,
/// like Python's `os.path.abspath` (symlinks are not resolved, as in pytest).
pub fn absolutize(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for comp in joined.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                // `/..` stays `/`, as in abspath.
                if !matches!(
                    out.components().next_back(),
                    Some(Component::RootDir) | None
                ) {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A command-line path without a pytest nodeid suffix (`a.py::test_x`).
pub fn strip_nodeid(path: &Path) -> PathBuf {
    match path.to_str().and_then(|s| s.split_once("::")) {
        Some((file, _)) => PathBuf::from(file),
        None => path.to_path_buf(),
    }
}

/// Determines the rootdir and reads the configfile's options.
pub fn determine_setup(
    invocation_dir: &Path,
    args: &[PathBuf],
) -> Result<PytestSetup, ConfigError> {
    let dirs: Vec<PathBuf> = args
        .iter()
        .map(|a| absolutize(invocation_dir, &strip_nodeid(a)))
        .filter(|p| p.exists())
        .map(|p| if p.is_dir() { p } else { parent_or_self(&p) })
        .collect();
    let ancestor = common_ancestor(invocation_dir, &dirs);
    if let Some(found) = locate_config(invocation_dir, std::slice::from_ref(&ancestor))? {
        return Ok(found);
    }
    for dir in ancestor.ancestors() {
        if dir.join("setup.py").is_file() {
            return Ok(no_config(dir.to_path_buf()));
        }
    }
    if dirs.as_slice() != std::slice::from_ref(&ancestor) {
        if let Some(found) = locate_config(invocation_dir, &dirs)? {
            return Ok(found);
        }
    }
    let mut rootdir = common_ancestor(
        invocation_dir,
        &[invocation_dir.to_path_buf(), ancestor.clone()],
    );
    if rootdir.parent().is_none() {
        rootdir = ancestor;
    }
    Ok(no_config(rootdir))
}

fn no_config(rootdir: PathBuf) -> PytestSetup {
    PytestSetup {
        rootdir,
        configfile: None,
        ini: PytestIni::default(),
    }
}

fn parent_or_self(p: &Path) -> PathBuf {
    p.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| p.to_path_buf())
}

/// The deepest directory holding every path in `paths` that exists (the
/// invocation directory when none does).
fn common_ancestor(invocation_dir: &Path, paths: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths.iter().filter(|p| p.exists()) {
        common = Some(match common {
            None => path.clone(),
            Some(c) => {
                let shared: PathBuf = c
                    .components()
                    .zip(path.components())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a.as_os_str())
                    .collect();
                if shared.as_os_str().is_empty() {
                    c
                } else {
                    shared
                }
            }
        });
    }
    match common {
        None => invocation_dir.to_path_buf(),
        Some(c) if c.is_file() => parent_or_self(&c),
        Some(c) => c,
    }
}

fn locate_config(
    invocation_dir: &Path,
    args: &[PathBuf],
) -> Result<Option<PytestSetup>, ConfigError> {
    let fallback_args = [invocation_dir.to_path_buf()];
    let args = if args.is_empty() {
        &fallback_args[..]
    } else {
        args
    };
    let mut bare_pyproject: Option<PathBuf> = None;
    for arg in args {
        let arg = absolutize(invocation_dir, arg);
        for base in arg.ancestors() {
            for name in CONFIG_NAMES {
                let p = base.join(name);
                if !p.is_file() {
                    continue;
                }
                if name == "pyproject.toml" && bare_pyproject.is_none() {
                    bare_pyproject = Some(p.clone());
                }
                if let Some(mut ini) = load_pytest_options(&p, invocation_dir)? {
                    ini.inifile = Some(name.to_string());
                    return Ok(Some(PytestSetup {
                        rootdir: base.to_path_buf(),
                        configfile: Some(p),
                        ini,
                    }));
                }
            }
        }
    }
    Ok(bare_pyproject.map(|p| {
        let rootdir = parent_or_self(&p);
        PytestSetup {
            rootdir,
            ini: PytestIni {
                inifile: Some("pyproject.toml".into()),
                ..PytestIni::default()
            },
            configfile: Some(p),
        }
    }))
}

fn read(path: &Path, base: &Path) -> Result<SourceText, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: super::error::display_path(path, base),
        source,
    })?;
    Ok(SourceText::new(path, base, text))
}

/// The options in one candidate file, or `None` when it holds no pytest
/// settings (and so does not count as a configfile).
fn load_pytest_options(path: &Path, base: &Path) -> Result<Option<PytestIni>, ConfigError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let src = read(path, base)?;
    match name {
        "pytest.toml" | ".pytest.toml" => {
            let doc = parse_toml(&src)?;
            let Some(item) = doc.as_table().get("pytest") else {
                return Ok(Some(PytestIni::default()));
            };
            let table = expect_table(&src, "pytest", item)?;
            from_toml(&src, "[pytest]", table, Mode::Toml).map(Some)
        }
        "pyproject.toml" => {
            let doc = parse_toml(&src)?;
            let Some(tool_pytest) = doc
                .as_table()
                .get("tool")
                .and_then(Item::as_table_like)
                .and_then(|t| t.get("pytest"))
            else {
                return Ok(None);
            };
            let tool_pytest = expect_table(&src, "tool.pytest", tool_pytest)?;
            let ini_options = tool_pytest.get_key_value("ini_options");
            let has_native = tool_pytest.iter().any(|(k, _)| k != "ini_options");
            match ini_options {
                Some((key, _)) if has_native => Err(src.invalid(
                    "[tool.pytest]",
                    "ini_options",
                    "[tool.pytest] and [tool.pytest.ini_options] cannot be used together",
                    key.span().unwrap_or(0..0),
                    Some("pytest refuses this too: keep one of the two tables".into()),
                )),
                Some((_, item)) => {
                    let table = expect_table(&src, "tool.pytest.ini_options", item)?;
                    from_toml(&src, "[tool.pytest.ini_options]", table, Mode::Ini).map(Some)
                }
                None if has_native => {
                    from_toml(&src, "[tool.pytest]", tool_pytest, Mode::Toml).map(Some)
                }
                // An empty `[tool.pytest]` says nothing, as in pytest.
                None => Ok(None),
            }
        }
        "pytest.ini" | ".pytest.ini" => {
            let ini = parse_ini(&src)?;
            Ok(Some(match ini.section("pytest") {
                Some(_) => from_ini(&src, &ini, "pytest")?,
                None => PytestIni::default(),
            }))
        }
        "tox.ini" => {
            let ini = parse_ini(&src)?;
            match ini.section("pytest") {
                Some(_) => from_ini(&src, &ini, "pytest").map(Some),
                None => Ok(None),
            }
        }
        "setup.cfg" => {
            let ini = parse_ini(&src)?;
            match ini.section("tool:pytest") {
                Some(_) => from_ini(&src, &ini, "tool:pytest").map(Some),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

pub(crate) fn parse_toml(src: &SourceText) -> Result<ImDocument<String>, ConfigError> {
    ImDocument::parse(src.text.clone()).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        src.syntax(e.message().trim().to_string(), span)
    })
}

fn parse_ini(src: &SourceText) -> Result<IniFile, ConfigError> {
    ini::parse(&src.text).map_err(|e| src.syntax(e.message, e.span))
}

fn expect_table<'a>(
    src: &SourceText,
    name: &str,
    item: &'a Item,
) -> Result<&'a dyn TableLike, ConfigError> {
    item.as_table_like().ok_or_else(|| {
        src.invalid(
            name,
            name,
            "expected a table",
            item.span().unwrap_or(0..0),
            None,
        )
    })
}

/// The value types of the options read, as pytest registers them.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Split like a shell command line.
    Args,
    /// One item per line.
    LineList,
}

const OPTIONS: [(&str, Kind); 8] = [
    ("testpaths", Kind::Args),
    ("python_files", Kind::Args),
    ("python_classes", Kind::Args),
    ("python_functions", Kind::Args),
    ("norecursedirs", Kind::Args),
    ("markers", Kind::LineList),
    ("usefixtures", Kind::Args),
    ("addopts", Kind::Args),
];

/// `Ini`: `[tool.pytest.ini_options]`, where a string is split like an ini
/// value; `Toml`: `[pytest]`/`[tool.pytest]`, where lists must be lists.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ini,
    Toml,
}

fn set_option(ini: &mut PytestIni, name: &str, values: Vec<String>) {
    match name {
        "testpaths" => ini.testpaths = values,
        "python_files" => ini.python_files = values,
        "python_classes" => ini.python_classes = values,
        "python_functions" => ini.python_functions = values,
        "norecursedirs" => ini.norecursedirs = Some(values),
        "markers" => ini.markers = values.iter().map(|l| parse_marker_line(l)).collect(),
        "usefixtures" => ini.usefixtures = values,
        "addopts" => ini.addopts = values,
        _ => {}
    }
}

fn split_value(kind: Kind, value: &str) -> Result<Vec<String>, String> {
    match kind {
        Kind::Args => ini::shlex_split(value),
        Kind::LineList => Ok(ini::lines(value)),
    }
}

fn from_ini(src: &SourceText, file: &IniFile, section: &str) -> Result<PytestIni, ConfigError> {
    let mut out = PytestIni::default();
    let Some(section_data) = file.section(section) else {
        return Ok(out);
    };
    let table = format!("[{section}]");
    for (name, kind) in OPTIONS {
        if let Some(entry) = section_data.get(name) {
            let values = split_value(kind, &entry.value)
                .map_err(|m| src.invalid(&table, name, m, entry.value_span.clone(), None))?;
            set_option(&mut out, name, values);
        }
    }
    Ok(out)
}

fn from_toml(
    src: &SourceText,
    table_name: &str,
    table: &dyn TableLike,
    mode: Mode,
) -> Result<PytestIni, ConfigError> {
    let mut out = PytestIni::default();
    for (name, kind) in OPTIONS {
        let Some(item) = table.get(name) else {
            continue;
        };
        let span = item.span().unwrap_or(0..0);
        let invalid = |m: &str, span| src.invalid(table_name, name, m.to_string(), span, None);
        let values = match item.as_value() {
            Some(Value::Array(arr)) => {
                let mut items = Vec::with_capacity(arr.len());
                for v in arr.iter() {
                    match v.as_str() {
                        Some(s) => items.push(s.to_string()),
                        None => {
                            return Err(invalid(
                                "expected a string",
                                v.span().unwrap_or(span.clone()),
                            ))
                        }
                    }
                }
                items
            }
            Some(Value::String(s)) if mode == Mode::Ini => {
                split_value(kind, s.value()).map_err(|m| invalid(&m, span.clone()))?
            }
            // pytest's ini mode turns other scalars into their Python text.
            Some(Value::Integer(i)) if mode == Mode::Ini => vec![i.value().to_string()],
            Some(Value::Boolean(b)) if mode == Mode::Ini => {
                vec![if *b.value() { "True" } else { "False" }.to_string()]
            }
            _ => return Err(invalid("expected an array of strings", span)),
        };
        set_option(&mut out, name, values);
    }
    Ok(out)
}

/// `"name(args): description"` -> `(name, description)`, as pytest splits a
/// `markers` line.
pub fn parse_marker_line(line: &str) -> (String, String) {
    let (signature, description) = match line.split_once(':') {
        Some((sig, desc)) => (sig, desc.trim()),
        None => (line, ""),
    };
    let name = signature.split('(').next().unwrap_or("").trim();
    (name.to_string(), description.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        (dir, root)
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn absolutize_is_lexical() {
        assert_eq!(
            absolutize(Path::new("/a/b"), Path::new("../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(
            absolutize(Path::new("/a"), Path::new("/x/../../y")),
            PathBuf::from("/y")
        );
        assert_eq!(
            strip_nodeid(Path::new("t/test_a.py::TestX::test_y")),
            PathBuf::from("t/test_a.py")
        );
    }

    #[test]
    fn marker_lines() {
        assert_eq!(
            parse_marker_line("slow: takes long"),
            ("slow".into(), "takes long".into())
        );
        assert_eq!(
            parse_marker_line("isolation(reason): runs alone: really"),
            ("isolation".into(), "runs alone: really".into())
        );
        assert_eq!(parse_marker_line("bare"), ("bare".into(), String::new()));
        assert_eq!(
            parse_marker_line("  spaced ( x ) :d"),
            ("spaced".into(), "d".into())
        );
    }

    #[test]
    fn precedence_within_one_directory() {
        let (_d, root) = tmp();
        write(
            &root.join("setup.cfg"),
            "[tool:pytest]\npython_files = cfg_*.py\n",
        );
        write(&root.join("tox.ini"), "[pytest]\npython_files = tox_*.py\n");
        let s = determine_setup(&root, &[]).unwrap();
        assert_eq!(s.ini.python_files, vec!["tox_*.py"]);
        assert_eq!(s.ini.inifile.as_deref(), Some("tox.ini"));

        write(
            &root.join("pyproject.toml"),
            "[tool.pytest.ini_options]\npython_files = \"pp_*.py\"\n",
        );
        let s = determine_setup(&root, &[]).unwrap();
        assert_eq!(s.ini.python_files, vec!["pp_*.py"]);

        // An empty pytest.ini still wins: the dedicated file always counts.
        write(&root.join("pytest.ini"), "");
        let s = determine_setup(&root, &[]).unwrap();
        assert_eq!(s.ini.inifile.as_deref(), Some("pytest.ini"));
        assert_eq!(s.ini.python_files, PytestIni::default().python_files);

        write(
            &root.join("pytest.toml"),
            "[pytest]\npython_files = [\"t_*.py\"]\n",
        );
        let s = determine_setup(&root, &[]).unwrap();
        assert_eq!(s.ini.python_files, vec!["t_*.py"]);
        assert_eq!(s.rootdir, root);
    }

    #[test]
    fn sections_that_do_not_count() {
        let (_d, root) = tmp();
        let sub = root.join("pkg");
        write(&root.join("tox.ini"), "[pytest]\ntestpaths = tests\n");
        // No [pytest] section: tox.ini in pkg/ is not a configfile.
        write(&sub.join("tox.ini"), "[tox]\nenvlist = py311\n");
        write(&sub.join("setup.cfg"), "[pytest]\npython_files = x\n");
        let s = determine_setup(&root, std::slice::from_ref(&sub)).unwrap();
        assert_eq!(s.rootdir, root);
        assert_eq!(s.ini.testpaths, vec!["tests"]);
    }

    #[test]
    fn bare_pyproject_is_only_a_fallback() {
        let (_d, root) = tmp();
        let sub = root.join("sub");
        write(&sub.join("pyproject.toml"), "[project]\nname = \"x\"\n");
        write(
            &root.join("setup.cfg"),
            "[tool:pytest]\nusefixtures = a b\n",
        );
        let s = determine_setup(&sub, &[]).unwrap();
        // A real configfile further up beats a bare pyproject.toml nearer.
        assert_eq!(s.rootdir, root);
        assert_eq!(s.ini.usefixtures, vec!["a", "b"]);

        fs::remove_file(root.join("setup.cfg")).unwrap();
        let s = determine_setup(&sub, &[]).unwrap();
        assert_eq!(s.rootdir, sub);
        assert_eq!(s.configfile, Some(sub.join("pyproject.toml")));
        assert_eq!(s.ini.inifile.as_deref(), Some("pyproject.toml"));
    }

    #[test]
    fn rootdir_from_common_ancestor_and_files() {
        let (_d, root) = tmp();
        write(&root.join("proj/pytest.ini"), "[pytest]\n");
        write(&root.join("proj/tests/a/test_a.py"), "");
        write(&root.join("proj/tests/b/test_b.py"), "");
        let s = determine_setup(
            &root,
            &[
                PathBuf::from("proj/tests/a/test_a.py"),
                PathBuf::from("proj/tests/b/test_b.py::test_x"),
                PathBuf::from("does/not/exist"),
            ],
        )
        .unwrap();
        assert_eq!(s.rootdir, root.join("proj"));
        assert_eq!(s.configfile, Some(root.join("proj/pytest.ini")));
    }

    #[test]
    fn setup_py_then_invocation_dir() {
        let (_d, root) = tmp();
        write(&root.join("a/setup.py"), "");
        write(&root.join("a/b/test_x.py"), "");
        let s = determine_setup(&root, &[root.join("a/b")]).unwrap();
        assert_eq!(s.rootdir, root.join("a"));
        assert_eq!(s.configfile, None);

        let (_d2, other) = tmp();
        write(&other.join("t/u/test_x.py"), "");
        // No config anywhere: the common ancestor of cwd and the args.
        let s = determine_setup(&other, &[other.join("t/u")]).unwrap();
        assert_eq!(s.rootdir, other);
        let s = determine_setup(&other.join("t/u"), &[]).unwrap();
        assert_eq!(s.rootdir, other.join("t/u"));
    }

    #[test]
    fn per_arg_search_when_ancestor_has_none() {
        let (_d, root) = tmp();
        write(&root.join("x/tox.ini"), "[pytest]\nmarkers =\n  slow: s\n");
        fs::create_dir_all(root.join("y")).unwrap();
        let s = determine_setup(&root, &[root.join("x"), root.join("y")]).unwrap();
        assert_eq!(s.rootdir, root.join("x"));
        assert_eq!(s.ini.markers, vec![("slow".to_string(), "s".to_string())]);
    }

    #[test]
    fn ini_values_split_like_pytest() {
        let (_d, root) = tmp();
        write(
            &root.join("pytest.ini"),
            "[pytest]\ntestpaths =\n    tests\n    \"integration tests\"\npython_classes = Test Check\n\
             norecursedirs = .git build\nmarkers =\n    isolation(reason): must run alone\n    slow\n\
             addopts = -ra --strict-markers\n",
        );
        let s = determine_setup(&root, &[]).unwrap();
        assert_eq!(s.ini.testpaths, vec!["tests", "integration tests"]);
        assert_eq!(s.ini.python_classes, vec!["Test", "Check"]);
        assert_eq!(
            s.ini.norecursedirs,
            Some(vec![".git".to_string(), "build".to_string()])
        );
        assert_eq!(
            s.ini.markers,
            vec![
                ("isolation".to_string(), "must run alone".to_string()),
                ("slow".to_string(), String::new())
            ]
        );
        assert_eq!(s.ini.addopts, vec!["-ra", "--strict-markers"]);
    }

    #[test]
    fn toml_markers_and_native_mode() {
        let (_d, root) = tmp();
        write(
            &root.join("pyproject.toml"),
            "[tool.pytest]\nmarkers = [\"serial: one at a time\", \"db(name)\"]\ntestpaths = [\"t\"]\n",
        );
        let s = determine_setup(&root, &[]).unwrap();
        assert_eq!(
            s.ini.markers,
            vec![
                ("serial".into(), "one at a time".into()),
                ("db".into(), String::new())
            ]
        );
        assert_eq!(s.ini.testpaths, vec!["t"]);

        // Native mode wants lists, as pytest does.
        let text = "[tool.pytest]\ntestpaths = \"t\"\n";
        write(&root.join("pyproject.toml"), text);
        let err = determine_setup(&root, &[]).unwrap_err();
        assert_eq!(&text[err.span().unwrap()], "\"t\"");
    }

    #[test]
    fn syntax_errors_point_into_the_file() {
        let (_d, root) = tmp();
        let text = "[pytest]\nmarkers =\n  a\n oops no equals\nx\n";
        write(&root.join("pytest.ini"), text);
        let err = determine_setup(&root, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert_eq!(&text[err.span().unwrap()], "x");

        fs::remove_file(root.join("pytest.ini")).unwrap();
        let text = "[tool.pytest.ini_options\n";
        write(&root.join("pyproject.toml"), text);
        let err = determine_setup(&root, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(err.span().unwrap().start >= "[tool.pytest.ini_options".len() - 1);
    }
}
