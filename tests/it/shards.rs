//! A CI matrix for real: a shipped suite split into K shards, each run on
//! its own copy (its own machine) with real pytest-xdist workers, then the
//! shards' `.isoaudit/` merged by `isoaudit history merge` in a fresh copy,
//! as the final job of `docs/ci.md`'s workflow does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::packaging::show;
use crate::support::copy_suite;

const SHARDS: usize = 3;

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/suites/conflicts")
}

fn python() -> Option<PathBuf> {
    match std::env::var_os("ISOAUDIT_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("ISOAUDIT_PYTHON is not set; run the tests with scripts/test")
        }
        None => {
            eprintln!("\n**********\n** SKIPPED shards: ISOAUDIT_PYTHON is not set\n**********\n");
            None
        }
    }
}

fn isoaudit(cwd: &Path, python: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(args)
        .current_dir(cwd)
        .env("ISOAUDIT_PYTHON", python)
        .env("NO_COLOR", "1")
        .env_remove("PYTEST_WORKERS")
        .env_remove("PYTEST_ADDOPTS")
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every test case pytest collects in `root`.
fn collected(python: &Path, root: &Path) -> BTreeSet<String> {
    let out = Command::new(python)
        .args([
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(root)
        .env_remove("PYTEST_ADDOPTS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("::"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_sharded_matrix_runs_every_test_once_keeps_units_whole_and_merges() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shard_dir = |i: usize| dir.path().join(format!("shard-{i}"));
    let every_case = {
        let probe = dir.path().join("probe");
        copy_suite(&suite(), &probe);
        collected(&python, &probe)
    };
    assert!(every_case.len() >= 40, "{every_case:?}");

    // The whole plan's units, to check that no shard split one.
    let whole = {
        let probe = dir.path().join("probe");
        let out = isoaudit(
            &probe,
            &python,
            &["plan", "--format", "json", "--workers", "2"],
        );
        assert!(out.status.success(), "{}", show(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let unit_of: BTreeMap<String, String> = whole["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["nodeid"].as_str().unwrap().to_string(),
                t["unit"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let shared_units = unit_of
        .values()
        .filter(|u| unit_of.values().filter(|v| v == u).count() > 1)
        .collect::<BTreeSet<_>>();
    assert!(
        shared_units.len() >= 3,
        "the suite has units of several tests: {shared_units:?}"
    );

    // Each shard on its own copy, as on its own CI machine.
    let mut ran_in: BTreeMap<String, usize> = BTreeMap::new();
    for i in 1..=SHARDS {
        let root = shard_dir(i);
        copy_suite(&suite(), &root);
        // What pytest-split recorded before is kept beside the new times.
        let gone = "tests/test_gone.py::test_old";
        std::fs::write(root.join(".test_durations"), format!("{{\"{gone}\": 1.5}}")).unwrap();
        let shard = i.to_string();
        let shards = SHARDS.to_string();
        let out = isoaudit(
            &root,
            &python,
            &[
                "run",
                "--workers",
                "2",
                "--shards",
                &shards,
                "--shard",
                &shard,
                "--store-durations",
                "--python",
                python.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "shard {i}: {}", show(&out));
        let mut cases = json(&root.join(".test_durations"));
        let cases = cases.as_object_mut().expect(".test_durations is an object");
        assert_eq!(
            cases.remove(gone),
            Some(serde_json::json!(1.5)),
            "shard {i}"
        );
        assert!(!cases.is_empty(), "shard {i} ran nothing");
        let keys: Vec<&String> = cases.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, ".test_durations keys are sorted");
        for nodeid in cases.keys() {
            if let Some(other) = ran_in.insert(nodeid.clone(), i) {
                panic!("{nodeid} ran in shard {other} and in shard {i}");
            }
        }
        let last = json(&root.join(".isoaudit/last-run.json"));
        assert_eq!(last["shard"]["index"], i);
        assert_eq!(last["shard"]["count"], SHARDS);
    }
    let ran: BTreeSet<String> = ran_in.keys().cloned().collect();
    assert_eq!(
        ran, every_case,
        "every test runs exactly once across the shards"
    );
    let mut shard_of_unit: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for (nodeid, shard) in &ran_in {
        let function = nodeid.split('[').next().unwrap();
        let unit = unit_of
            .get(function)
            .unwrap_or_else(|| panic!("{function} is not in the plan"));
        shard_of_unit.entry(unit).or_default().insert(*shard);
    }
    for (unit, shards) in &shard_of_unit {
        assert_eq!(
            shards.len(),
            1,
            "unit {unit} was split across shards {shards:?}"
        );
    }

    // The final job: a fresh copy merges the downloaded `.isoaudit/` dirs.
    let final_job = dir.path().join("final");
    copy_suite(&suite(), &final_job);
    let artifacts = dir.path().join("artifacts");
    for i in 1..=SHARDS {
        copy_dir(
            &shard_dir(i).join(".isoaudit"),
            &artifacts.join(format!("isoaudit-shard-{i}/.isoaudit")),
        );
    }
    let mut args = vec!["history".to_string(), "merge".to_string()];
    args.extend((1..=SHARDS).map(|i| format!("../artifacts/isoaudit-shard-{i}")));
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = isoaudit(&final_job, &python, &args_ref);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("({SHARDS} of {SHARDS} shard(s))")),
        "{}",
        show(&out)
    );
    let durations = json(&final_job.join(".isoaudit/durations.json"));
    let functions: BTreeSet<String> = every_case
        .iter()
        .map(|n| n.split('[').next().unwrap().to_string())
        .collect();
    let merged: BTreeSet<String> = durations.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        merged, functions,
        "the merged durations cover every shard's tests"
    );
    let history = json(&final_job.join(".isoaudit/history.json"));
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "the matrix is one run: {runs:?}");
    assert_eq!(runs[0]["shards"], SHARDS);
    assert_eq!(runs[0]["tests"], every_case.len());

    let report = std::fs::read_to_string(final_job.join("reports/ci_timings.md")).unwrap();
    assert!(
        report.contains(&format!("as a matrix of {SHARDS} shard(s)")),
        "{report}"
    );
    for i in 1..=SHARDS {
        assert!(report.contains(&format!("| {i}/{SHARDS} |")), "{report}");
    }
    assert!(
        report.contains(&format!("| **matrix** | {} |", every_case.len())),
        "{report}"
    );

    // Deterministic: the same inputs in another order, merged again into
    // the result, change nothing.
    let before: Vec<String> = [
        ".isoaudit/durations.json",
        ".isoaudit/history.json",
        "reports/ci_timings.md",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(final_job.join(f)).unwrap())
    .collect();
    let mut reversed = vec!["history".to_string(), "merge".to_string()];
    reversed.extend(
        (1..=SHARDS)
            .rev()
            .map(|i| format!("../artifacts/isoaudit-shard-{i}/.isoaudit")),
    );
    let reversed_ref: Vec<&str> = reversed.iter().map(String::as_str).collect();
    let out = isoaudit(&final_job, &python, &reversed_ref);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let after: Vec<String> = [
        ".isoaudit/durations.json",
        ".isoaudit/history.json",
        "reports/ci_timings.md",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(final_job.join(f)).unwrap())
    .collect();
    assert_eq!(before, after);

    // The next matrix plans from the merged durations: every test known.
    let out = isoaudit(
        &final_job,
        &python,
        &["plan", "--workers", "2", "--shards", "3", "--shard", "1"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "durations: {} known, 0 estimated",
            functions.len()
        )),
        "durations were estimated: {text}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn history_merge_rejects_what_is_not_a_history() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.pytest.ini_options]\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    std::fs::create_dir_all(dir.path().join("bad/.isoaudit")).unwrap();
    std::fs::write(dir.path().join("bad/.isoaudit/durations.json"), "[1, 2]").unwrap();
    let python = PathBuf::from("python3");
    for (arg, needle) in [
        ("missing", "no such directory"),
        ("empty", "holds no isoaudit history"),
        ("bad", "durations.json"),
    ] {
        let out = isoaudit(dir.path(), &python, &["history", "merge", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle) && err.contains(arg), "{arg}: {err}");
    }
    assert!(
        !dir.path().join(".isoaudit").exists(),
        "a failed merge writes nothing"
    );
    let out = isoaudit(dir.path(), &python, &["history", "merge"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}
