//! The command line's contract, as ruff keeps it (issue 11): nothing passes
//! silently. Every test drives the real binary from a chosen directory:
//! - an unknown rule code or prefix is a usage error (exit 2) with the
//!   nearest known one, and another linter's code gets a hint, on the
//!   command line exactly as in the config file;
//! - a path that does not exist is exit 2 for every analysing command, and
//!   a directory without test files says so;
//! - a reader that stops reading (`| head`) ends the command quietly;
//! - every path in every format is relative to the current directory, and
//!   nodeids stay pytest's, whatever the directory;
//! - suite-wide conclusions (ISO507) need the whole suite;
//! - `--diff` shows what `--fix` writes, and both count what needs
//!   `--unsafe-fixes`;
//! - what isoaudit writes into a suite never changes what the tests see;
//! - `report` reaches the library, never the command glue.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{copy_suite, Shipped, WRITTEN_BY_RUNS};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped demo suite, for copying.
fn etl() -> PathBuf {
    repo().join("fixtures/suites/etl")
}

/// `isoaudit ARGS` run from `cwd`, with colour and worker settings of the
/// environment kept out.
fn isoaudit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("PYTEST_WORKERS")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

// --- rule codes -----------------------------------------------------------

/// Each flag that takes codes, with how a bad `code` is written for it.
fn code_flags(code: &str) -> Vec<Vec<String>> {
    vec![
        vec!["--select".into(), code.into()],
        vec!["--extend-select".into(), code.into()],
        vec!["--ignore".into(), code.into()],
        vec!["--select".into(), format!("ISO1,{code}")],
        vec!["--per-file-ignores".into(), format!("tests/*:{code}")],
    ]
}

#[test]
fn unknown_codes_are_usage_errors_with_the_nearest_code() {
    let shipped = Shipped::new(&["etl"]);
    let suite = shipped.suite("etl");
    let suite = suite.to_str().unwrap();
    // Control: known codes and prefixes are accepted and select findings.
    for flag in code_flags("ISO101") {
        let mut args = vec!["check", "--output-format", "concise"];
        args.extend(flag.iter().map(String::as_str));
        args.push(suite);
        let out = isoaudit(shipped.root(), &args);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    for (typo, nearest) in [
        ("ISO1011", "ISO101"),
        ("iso401", "ISO401"),
        ("ISO4011", "ISO401"),
    ] {
        for flag in code_flags(typo) {
            let mut args = vec!["check"];
            args.extend(flag.iter().map(String::as_str));
            args.push(suite);
            let out = isoaudit(shipped.root(), &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?} printed findings");
            assert!(err.contains(typo), "{args:?} does not name {typo}: {err}");
            assert!(
                err.contains(&format!("did you mean `{nearest}`?")),
                "{args:?}: {err}"
            );
        }
    }
    // A well-formed code no rule has, and a family that does not exist.
    for code in ["ISO999", "ISO9", "ISO90"] {
        for flag in code_flags(code) {
            let mut args = vec!["check"];
            args.extend(flag.iter().map(String::as_str));
            args.push(suite);
            let out = isoaudit(shipped.root(), &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(!stdout(&out).contains("All checks passed"), "{args:?}");
            assert!(
                err.contains("did you mean `ISO") || err.contains("the families are ISO0"),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn other_linters_codes_get_a_one_line_hint() {
    let shipped = Shipped::new(&["etl"]);
    let suite = shipped.suite("etl");
    for code in ["E501", "F401", "PT004", "B", "PLR0913", "S108"] {
        for flag in code_flags(code) {
            let mut args = vec!["check"];
            args.extend(flag.iter().map(String::as_str));
            args.push(suite.to_str().unwrap());
            let out = isoaudit(shipped.root(), &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            let hint: Vec<&str> = err.lines().filter(|l| l.contains("ISOnnn")).collect();
            assert_eq!(hint.len(), 1, "{args:?}: one hint line wanted: {err}");
            assert!(hint[0].contains(code), "{args:?}: {err}");
            assert!(hint[0].contains("another linter"), "{args:?}: {err}");
        }
    }
}

#[test]
fn the_config_file_rejects_the_same_codes_as_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "tests/test_a.py",
        "def test_a():\n    open('/tmp/shared', 'w')\n",
    );
    for (key, code) in [
        ("select", "ISO999"),
        ("ignore", "E501"),
        ("extend-select", "ISO9"),
        ("select", "ISO1011"),
    ] {
        let cli = isoaudit(d, &["check", &format!("--{key}"), code]);
        write(
            d,
            "pyproject.toml",
            &format!("[tool.isoaudit]\n{key} = [\"{code}\"]\n"),
        );
        let config = isoaudit(d, &["check"]);
        std::fs::remove_file(d.join("pyproject.toml")).unwrap();
        assert_eq!(cli.status.code(), Some(2), "--{key} {code}");
        assert_eq!(config.status.code(), Some(2), "{key} = [{code}]");
        assert!(
            stderr(&config).contains("pyproject.toml"),
            "{}",
            stderr(&config)
        );
        // The same help on both sides (the config's is wrapped by the
        // diagnostic renderer).
        let words = |o: &Output| {
            stderr(o)
                .split_whitespace()
                .filter(|w| *w != "|")
                .collect::<Vec<_>>()
                .join(" ")
        };
        let cli_err = words(&cli);
        let at = cli_err
            .find("did you mean")
            .or_else(|| cli_err.find(&format!("`{code}` looks like")))
            .or_else(|| cli_err.find("there is no rule family"))
            .unwrap_or_else(|| panic!("no help in {cli_err}"));
        let help = cli_err[at..].split(" For more information").next().unwrap();
        assert!(
            words(&config).contains(help),
            "{key} {code}: `{help}` not in {}",
            stderr(&config)
        );
    }
    // Control: a good code in the config is used.
    write(
        d,
        "pyproject.toml",
        "[tool.isoaudit]\nselect = [\"ISO101\"]\n",
    );
    let out = isoaudit(d, &["check", "--output-format", "concise"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("ISO101"));
}

// --- paths ----------------------------------------------------------------

const ANALYSING: [&str; 5] = ["check", "report", "plan", "run", "graph"];

#[test]
fn a_missing_path_is_an_error_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "tests/test_a.py", "def test_a():\n    pass\n");
    for command in ANALYSING {
        for missing in ["tests/nope", "nope.py::test_x", "/nonexistent/isoaudit"] {
            // A good path beside it does not hide the bad one.
            let out = isoaudit(d, &[command, "tests", missing]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{command} {missing}: {err}");
            let file = missing.split("::").next().unwrap();
            assert!(
                err.contains(&format!("`{missing}`")) && err.contains("no such file or directory"),
                "{command} {file}: {err}"
            );
            assert!(out.stdout.is_empty(), "{command} printed: {}", stdout(&out));
        }
    }
    assert!(!d.join("docs").exists(), "report wrote for a missing path");
    assert!(!d.join("reports").exists(), "run wrote for a missing path");
    // With --select narrowing the rules, still an error, not a pass.
    let out = isoaudit(d, &["check", "--select", "ISO1", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_directory_without_test_files_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "empty/conftest.py", "import pytest\n");
    write(d, "empty/helpers.py", "X = 1\n");
    write(d, "notests/test_nothing.py", "X = 1\n");
    for command in ["check", "plan", "report", "graph"] {
        let out = isoaudit(d, &[command, "empty"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{command}: {err}");
        assert!(
            err.contains("no test files found under `empty`") && err.contains("test_*.py"),
            "{command}: {err}"
        );
        let out = isoaudit(d, &[command, "notests"]);
        let err = stderr(&out);
        assert!(
            err.contains("no tests found in the 1 test file under `notests`"),
            "{command}: {err}"
        );
    }
    assert!(
        !d.join("empty/docs").exists(),
        "report wrote an empty audit"
    );
    assert!(!d.join("docs").exists(), "report wrote an empty audit");
    // With no arguments: what pytest would collect, named as such.
    let project = d.join("project");
    write(
        &project,
        "pyproject.toml",
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
    );
    write(&project, "tests/conftest.py", "\n");
    for command in ["check", "plan"] {
        let err = stderr(&isoaudit(&project, &[command]));
        assert!(
            err.contains("no test files found under the testpaths (`tests`)"),
            "{command}: {err}"
        );
        let err = stderr(&isoaudit(&project.join("tests"), &[command]));
        assert!(
            err.contains("no test files found under the current directory"),
            "{command}: {err}"
        );
    }
    // Control: a suite with tests gets no such warning.
    write(d, "real/test_a.py", "def test_a():\n    pass\n");
    let out = isoaudit(d, &["check", "real"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("no test"), "{}", stderr(&out));
}

// --- broken pipe ----------------------------------------------------------

/// Runs `args` with a stdout whose reader goes away: after the first line
/// when `read_one`, else before anything is written.
fn with_closed_stdout(cwd: &Path, args: &[&str], read_one: bool) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("PYTEST_WORKERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    if read_one {
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "{args:?} printed nothing");
    } else {
        drop(out);
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let shipped = Shipped::new(&["etl"]);
    let suite = "fixtures/suites/etl";
    let cases: [(&[&str], i32); 8] = [
        (&["check", suite], 1),
        (&["check", "--output-format", "json", suite], 1),
        (&["check", "--output-format", "sarif", suite], 1),
        (&["check", "--statistics", suite], 1),
        (&["check", "--diff", "--unsafe-fixes", suite], 1),
        (&["plan", suite], 0),
        (&["graph", suite], 0),
        (&["rule", "--all"], 0),
    ];
    for (args, code) in cases {
        for read_one in [false, true] {
            let out = with_closed_stdout(shipped.root(), args, read_one);
            let err = stderr(&out);
            assert!(
                !err.contains("Broken pipe") && !err.contains("error"),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            // The exit code is the command's result, not the pipe's.
            assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        }
    }
}

/// Every file path a format prints, as printed.
fn printed_paths(format: &str, text: &str) -> Vec<String> {
    let decode = |s: &str| {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    let json = || serde_json::from_str::<serde_json::Value>(text).unwrap();
    let strings = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    match format {
        "full" => text
            .lines()
            .filter_map(|l| l.split_once(",-[").map(|(_, r)| r))
            .map(|r| {
                let inner = r.trim_end().trim_end_matches(']');
                let mut parts = inner.rsplitn(3, ':');
                let _col = parts.next();
                let _line = parts.next();
                parts.next().unwrap().to_string()
            })
            .collect(),
        "concise" => text
            .lines()
            .filter(|l| l.contains(": ISO"))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect(),
        "json" => json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| strings(&f["path"]))
            .collect(),
        "github" => text
            .lines()
            .map(|l| {
                let at = l.find(",file=").unwrap() + 6;
                decode(l[at..].split([',', ':']).next().unwrap())
            })
            .collect(),
        "sarif" => json()["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let a = &r["locations"][0]["physicalLocation"]["artifactLocation"];
                assert_eq!(a["uriBaseId"], "%SRCROOT%");
                decode(a["uri"].as_str().unwrap())
            })
            .collect(),
        "rdjson" => json()["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| strings(&d["location"]["path"]))
            .collect(),
        other => panic!("unknown format {other}"),
    }
}

const FORMATS: [&str; 6] = ["full", "concise", "json", "github", "sarif", "rdjson"];

#[test]
fn paths_in_every_format_are_relative_to_the_current_directory() {
    let shipped = Shipped::new(&["etl"]);
    let outside = tempfile::tempdir().unwrap();
    let suite = shipped.suite("etl");
    let unit = suite.join("tests/unit");
    let suite_arg = suite.to_str().unwrap().to_string();
    // (where isoaudit runs, its path arguments): the whole suite each time.
    let runs: Vec<(PathBuf, Vec<String>)> = vec![
        (
            shipped.root().to_path_buf(),
            vec!["fixtures/suites/etl".into()],
        ),
        (suite.clone(), vec![]),
        (unit.clone(), vec!["../..".into()]),
        (outside.path().to_path_buf(), vec![suite_arg.clone()]),
    ];
    for format in FORMATS {
        let mut seen: Option<BTreeSet<(PathBuf, String)>> = None;
        for (cwd, paths) in &runs {
            let mut args = vec!["check", "--output-format", format];
            args.extend(paths.iter().map(String::as_str));
            let out = isoaudit(cwd, &args);
            assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
            let text = stdout(&out);
            let printed = printed_paths(format, &text);
            assert!(!printed.is_empty(), "{format}: no paths in\n{text}");
            let mut files = BTreeSet::new();
            for p in &printed {
                assert!(!p.starts_with('/'), "{format}: absolute {p}");
                let file = cwd.join(p);
                assert!(
                    file.is_file(),
                    "{format} from {}: `{p}` is not a file there",
                    cwd.display()
                );
                files.insert((file.canonicalize().unwrap(), format.to_string()));
            }
            // The same files whatever the directory: only how they are named changes.
            match &seen {
                None => seen = Some(files),
                Some(first) => assert_eq!(first, &files, "{format} from {}", cwd.display()),
            }
        }
    }
    // From the repository root the GitHub annotation names the real file.
    let out = isoaudit(
        shipped.root(),
        &["check", "--output-format", "github", "fixtures/suites/etl"],
    );
    assert!(stdout(&out).contains("file=fixtures/suites/etl/tests/conftest.py,"));
}

#[test]
fn json_and_sarif_say_where_the_root_is_and_nodeids_stay_pytests() {
    let shipped = Shipped::new(&["etl"]);
    let suite = shipped.suite("etl");
    let mut nodeids: Option<BTreeSet<String>> = None;
    for (cwd, arg) in [
        (shipped.root().to_path_buf(), "fixtures/suites/etl"),
        (suite.clone(), "."),
        (suite.join("tests/unit"), "../.."),
    ] {
        let out = isoaudit(&cwd, &["check", "--output-format", "json", arg]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let root = json["root"].as_str().expect("root");
        assert_eq!(
            cwd.join(root).canonicalize().unwrap(),
            suite.canonicalize().unwrap(),
            "root {root} from {}",
            cwd.display()
        );
        let mut ids = BTreeSet::new();
        for f in json["findings"].as_array().unwrap() {
            for id in f["test"].as_str().into_iter().chain(
                f["chain"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap()),
            ) {
                let file = id.split("::").next().unwrap();
                assert!(
                    cwd.join(root).join(file).is_file(),
                    "nodeid {id} is not under root {root}"
                );
                ids.insert(id.to_string());
            }
        }
        assert!(!ids.is_empty());
        match &nodeids {
            None => nodeids = Some(ids),
            Some(first) => assert_eq!(first, &ids, "nodeids changed with the directory"),
        }
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("tests/schemas/isoaudit-check.schema.json"))
                .unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(
            validator.is_valid(&json),
            "JSON off its schema from {}",
            cwd.display()
        );

        let out = isoaudit(&cwd, &["check", "--output-format", "sarif", arg]);
        let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let bases = &sarif["runs"][0]["originalUriBaseIds"];
        assert!(bases["%SRCROOT%"].is_object(), "{bases}");
        assert!(
            bases["%SRCROOT%"]["uri"].is_null(),
            "no machine path: {bases}"
        );
        let project = &bases["PROJECTROOT"];
        assert_eq!(project["uriBaseId"], "%SRCROOT%");
        let uri = project["uri"].as_str().unwrap();
        assert!(uri.ends_with('/'), "{uri}");
        assert_eq!(
            cwd.join(uri).canonicalize().unwrap(),
            suite.canonicalize().unwrap()
        );
        if let Some(path) = std::env::var_os("ISOAUDIT_SARIF_SCHEMA") {
            let schema: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let validator = jsonschema::validator_for(&schema).unwrap();
            assert!(validator.is_valid(&sarif), "SARIF off the official schema");
        }
    }
}

#[test]
fn diff_headers_and_fix_messages_name_files_from_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path().join("suite");
    copy_suite(&etl(), &suite);
    let out = isoaudit(tmp.path(), &["check", "--diff", "--unsafe-fixes", "suite"]);
    let diff = stdout(&out);
    let headers: Vec<&str> = diff
        .lines()
        .filter_map(|l| l.strip_prefix("--- a/"))
        .collect();
    assert!(!headers.is_empty(), "{diff}");
    for h in headers {
        assert!(h.starts_with("suite/"), "{h}");
        assert!(tmp.path().join(h).is_file(), "{h}");
    }
}

// --- suite-wide rules -----------------------------------------------------

/// A suite registering `isolation` and `serial`, where only a test in
/// `tests/a` uses `serial` and nothing uses `isolation`.
fn marker_suite(d: &Path) {
    write(
        d,
        "pyproject.toml",
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\nmarkers = [\n  \"isolation: alone\",\n  \"serial: alone\",\n]\n",
    );
    write(
        d,
        "tests/a/test_a.py",
        "import pytest\n\n@pytest.mark.serial(reason=\"writes the shared spool\")\ndef test_a():\n    open('/tmp/spool', 'w')\n",
    );
    write(d, "tests/b/test_b.py", "def test_b():\n    pass\n");
}

fn iso507(cwd: &Path, paths: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["check", "--output-format", "json", "--select", "ISO507"];
    args.extend(paths);
    let out = isoaudit(cwd, &args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let m = f["message"].as_str().unwrap();
            m.split('`').nth(1).unwrap().to_string()
        })
        .collect()
}

#[test]
fn suite_wide_rules_need_the_whole_suite_wherever_check_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    marker_suite(d);
    let unused: BTreeSet<String> = ["isolation".to_string()].into();
    // The whole suite, however it is named.
    assert_eq!(iso507(d, &[]), unused, "no arguments from the root");
    assert_eq!(iso507(d, &["."]), unused);
    assert_eq!(iso507(d, &["tests"]), unused, "the testpaths");
    assert_eq!(
        iso507(&d.join("tests"), &[]),
        unused,
        "no arguments from the testpath"
    );
    assert_eq!(iso507(&d.join("tests/b"), &["../.."]), unused);
    // Part of it: no conclusion about markers used elsewhere.
    assert!(iso507(&d.join("tests/b"), &[]).is_empty(), "from tests/b");
    assert!(iso507(d, &["tests/b"]).is_empty(), "tests/b from the root");
    assert!(iso507(d, &["tests/b/test_b.py"]).is_empty(), "one file");
    assert!(iso507(&d.join("tests/a"), &[]).is_empty(), "from tests/a");
}

// --- --diff and --fix -----------------------------------------------------

fn fixable(d: &Path) -> (usize, usize) {
    let out = isoaudit(d, &["check", "--output-format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut counts = (0, 0);
    for f in json["findings"].as_array().unwrap() {
        match f["fix"]["applicability"].as_str() {
            Some("safe") => counts.0 += 1,
            Some("unsafe") => counts.1 += 1,
            _ => {}
        }
    }
    counts
}

/// Every file under `d` with its text.
fn snapshot(d: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = walkdir::WalkDir::new(d)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(d).unwrap().to_path_buf(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn diff_shows_what_fix_writes_and_both_count_unsafe_fixes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_suite(&etl(), d);
    let (safe, unsafe_) = fixable(d);
    assert!(
        safe > 0 && unsafe_ > 0,
        "the demo suite has both kinds: {safe} {unsafe_}"
    );
    let before = snapshot(d);

    let diff = isoaudit(d, &["check", "--diff"]);
    let err = stderr(&diff);
    assert_eq!(diff.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("Would fix {safe} finding")),
        "--diff counts only safe fixes: {err}"
    );
    assert!(
        err.contains(&format!("{unsafe_} unsafe fix")) && err.contains("--unsafe-fixes"),
        "--diff counts what it held back: {err}"
    );
    assert_eq!(snapshot(d), before, "--diff wrote");
    let shown = stdout(&diff);
    let diff_files: BTreeSet<String> = shown
        .lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .map(str::to_string)
        .collect();

    // With --unsafe-fixes, --diff shows more.
    let all = isoaudit(d, &["check", "--diff", "--unsafe-fixes"]);
    assert!(stderr(&all).contains(&format!("Would fix {} findings", safe + unsafe_)));
    assert!(stdout(&all).len() > shown.len());

    let fix = isoaudit(d, &["check", "--fix", "--output-format", "concise"]);
    let err = stderr(&fix);
    assert!(err.contains(&format!("Fixed {safe} finding")), "{err}");
    assert!(
        err.contains(&format!(
            "{unsafe_} more fixable with `--fix --unsafe-fixes`"
        )),
        "{err}"
    );
    // --fix changed exactly the files --diff showed, each the way it showed.
    let after = snapshot(d);
    let changed: BTreeSet<String> = before
        .iter()
        .zip(after.iter())
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.to_string_lossy().replace('\\', "/"))
        .collect();
    assert_eq!(changed, diff_files);
    for line in shown.lines() {
        if let Some(added) = line.strip_prefix('+').filter(|_| !line.starts_with("+++")) {
            assert!(
                after
                    .iter()
                    .any(|(_, text)| text.lines().any(|l| l == added)),
                "--diff showed `{added}`, --fix did not write it"
            );
        }
    }
    // What is left is exactly the unsafe fixes, and both commands say so.
    assert_eq!(fixable(d), (0, unsafe_));
    let again = isoaudit(d, &["check", "--diff"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("No fixes available"));
    assert!(stderr(&again).contains(&format!("{unsafe_} unsafe fix")));
    let nothing = isoaudit(d, &["check", "--fix", "--output-format", "concise"]);
    assert!(stderr(&nothing).contains(&format!(
        "No fixes applied ({unsafe_} more fixable with `--fix --unsafe-fixes`)"
    )));
}

// --- what isoaudit writes into a suite ------------------------------------

#[test]
fn what_isoaudit_writes_into_a_suite_never_reaches_the_tests() {
    // A "shipped" suite someone ran `report` and `run` on.
    let tmp = tempfile::tempdir().unwrap();
    let used = tmp.path().join("used");
    copy_suite(&etl(), &used);
    let out = isoaudit(&used, &["report"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(used.join("docs/test-isolation-audit.md").is_file());
    write(
        &used,
        ".isoaudit/durations.json",
        "{\"tests/unit/test_config.py::test_x\": 999.0}\n",
    );
    write(&used, "reports/ci_timings.md", "# stale\n");
    // Tests copy suites without it, so what they see is what was shipped.
    let fresh = tmp.path().join("fresh");
    let again = tmp.path().join("again");
    copy_suite(&etl(), &fresh);
    copy_suite(&used, &again);
    for dir in WRITTEN_BY_RUNS {
        assert!(!again.join(dir).exists(), "{dir} was copied");
    }
    let report = |d: &Path| {
        let out = isoaudit(d, &["report", "--check"]);
        (
            out.status.code(),
            stderr(&out).replace(&d.display().to_string(), "<suite>"),
        )
    };
    assert_eq!(report(&fresh), report(&again));
    let plan = |d: &Path| {
        stdout(&isoaudit(
            d,
            &["plan", "--format", "json", "--workers", "2"],
        ))
    };
    assert_eq!(plan(&fresh), plan(&again));
    // And git ignores it in the shipped suites, so it is never committed.
    let git = Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(repo())
        .output();
    if git.is_ok_and(|o| o.status.success()) {
        for dir in ["docs", "reports", ".isoaudit"] {
            let probe = format!("fixtures/suites/etl/{dir}/file");
            let ignored = Command::new("git")
                .args(["check-ignore", "-q", &probe])
                .current_dir(repo())
                .status()
                .unwrap();
            assert!(ignored.success(), "{probe} is not ignored by git");
        }
    } else {
        eprintln!("not a git work tree: .gitignore not checked");
    }
}

// --- structure ------------------------------------------------------------

#[test]
fn report_uses_the_library_not_the_command_glue() {
    for entry in walkdir::WalkDir::new(repo().join("src/report")) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for needle in ["crate::app", "crate::cli", "app::"] {
            assert!(
                !text.contains(needle),
                "{} uses `{needle}`: the report takes what it needs from its caller",
                entry.path().display()
            );
        }
    }
}

#[test]
fn path_options_are_taken_from_the_current_directory() {
    // `--durations FILE` names a file as the shell sees it, not one under
    // the project root (where the config's `durations` lives).
    let tmp = tempfile::tempdir().unwrap();
    copy_suite(&etl(), &tmp.path().join("suite"));
    let plan = |args: &[&str]| {
        let mut all = vec!["plan", "--format", "json", "--workers", "2"];
        all.extend(args);
        all.push("suite");
        let out = isoaudit(tmp.path(), &all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let nodeid = plan(&[])["tests"][0]["nodeid"]
        .as_str()
        .unwrap()
        .to_string();
    write(
        tmp.path(),
        "durations.json",
        &format!("{{\"{nodeid}\": 42.5}}\n"),
    );
    let json = plan(&["--durations", "durations.json"]);
    let test = json["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["nodeid"] == nodeid.as_str())
        .unwrap();
    assert_eq!(test["duration"], 42.5);
}

#[cfg(unix)]
#[test]
fn messages_name_paths_as_the_locations_do() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("proj");
    write(&project, "pytest.ini", "[pytest]\n");
    write(&project, "tests/test_a.py", "def test_a():\n    pass\n");
    std::os::unix::fs::symlink(project.join("tests"), project.join("tests/again")).unwrap();
    let out = isoaudit(tmp.path(), &["check", "--output-format", "json", "proj"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let loops: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "ISO002")
        .collect();
    assert_eq!(loops.len(), 1, "{json:#}");
    let path = loops[0]["path"].as_str().unwrap();
    assert_eq!(path, "proj/tests/again");
    let message = loops[0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{path}`")), "{message}");
    assert!(message.contains("`proj/tests`"), "{message}");
}
