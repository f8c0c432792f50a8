//! Collection parity: on `fixtures/suites/collect_constructs` (imported and
//! star-imported fixtures, plugins, inherited and imported tests, xunit
//! setups, ignores and deselects), isoaudit's test functions must equal what
//! real pytest collects, parametrize suffixes removed.
//!
//! The interpreter is `$ISOAUDIT_PYTHON`, else `<repo>/.venv/bin/python`
//! (`scripts/test` makes it); without one this fails on CI (`CI=true`) and
//! prints a loud notice elsewhere.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/suites/collect_constructs")
}

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("ISOAUDIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let usable = Command::new(&candidate)
        .args(["-c", "import pytest"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if usable {
        return Some(candidate);
    }
    let message = format!(
        "no Python with pytest at {}; set ISOAUDIT_PYTHON",
        candidate.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("\n**********\n** SKIPPED collect parity: {message}\n**********\n");
    None
}

/// `a.py::T::test_x[1-2]` -> `a.py::T::test_x`.
fn function_id(nodeid: &str) -> String {
    match nodeid.split_once("::") {
        Some((file, rest)) => format!("{file}::{}", rest.split('[').next().unwrap_or(rest)),
        None => nodeid.to_string(),
    }
}

fn pytest_collection(python: &PathBuf) -> BTreeSet<String> {
    let out = Command::new(python)
        .args([
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(suite())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest collection failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| l.contains("::") && !l.starts_with([' ', '=']))
        .map(|l| function_id(l.trim()))
        .collect()
}

fn isoaudit_tests() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(["plan", "--format", "json"])
        .current_dir(suite())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["nodeid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn test_set_equals_real_pytest_collection() {
    let ours = isoaudit_tests();
    let Some(python) = python() else { return };
    let theirs = pytest_collection(&python);
    let only_pytest: Vec<_> = theirs.difference(&ours).collect();
    let only_isoaudit: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        only_pytest.is_empty() && only_isoaudit.is_empty(),
        "only pytest: {only_pytest:#?}\nonly isoaudit: {only_isoaudit:#?}"
    );
}

#[test]
fn every_construct_is_collected_and_near_misses_are_not() {
    let ours = isoaudit_tests();
    for hit in [
        // Inherited from a helper module, a mixin first in the MRO, through
        // a module attribute, from the project's package via a generic base.
        "tests/test_inherit.py::TestCRUD::test_create",
        "tests/test_inherit.py::TestMulti::test_from_mixin",
        "tests/test_inherit.py::TestByAttribute::test_delete",
        "tests/test_inherit.py::TestConcrete::test_made",
        "tests/test_inherit.py::TestReenabled::test_never_alone",
        "tests/test_generic.py::TestMemoryStore::test_put",
        // Imported into another test module, collected there too.
        "tests/test_reexported.py::TestCRUD::test_own",
        "tests/test_reexported.py::test_shared_check",
        "tests/unit/test_unit.py::TestRelative::test_delete",
        "tests/flat/test_flat.py::TestFlat::test_flat_inherited",
        "tests/test_unittest_style.py::ChildCase::test_base",
        "tests/test_deselect.py::test_kept",
        "tests/test_modern.py::test_modern",
    ] {
        assert!(ours.contains(hit), "{hit} not collected: {ours:#?}");
    }
    for miss in [
        "tests/test_inherit.py::TestStillAbstract::test_would_run",
        "tests/test_inherit.py::TestDisabledSub::test_not_collected",
        "tests/test_inherit.py::TestWithInit::test_create",
        "tests/test_reexported.py::helper_not_a_test",
        "tests/test_deselect.py::test_deselected",
        "tests/ignored_by_opt/test_ignored.py::test_ignored_by_addopts",
        "tests/test_thing_skipglob.py::test_ignored_by_glob",
        "tests/legacy/test_legacy.py::test_collect_ignore",
        "tests/test_thing_old.py::test_collect_ignore_glob",
        "tests/test_ancient.py::test_ancient_only",
    ] {
        assert!(!ours.contains(miss), "{miss} collected");
    }
}

#[test]
fn only_the_absent_plugin_fixture_is_unresolved() {
    let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(["check", "--output-format", "json", "--select", "ISO004"])
        .current_dir(suite())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unresolved: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(unresolved.len(), 1, "{unresolved:#?}");
    assert!(unresolved[0].contains("fixture_of_an_absent_plugin"));
}
