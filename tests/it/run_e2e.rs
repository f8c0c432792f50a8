//! End to end: `isoaudit run` (and `run::execute`) on real suites with a
//! real pytest + pytest-xdist, against the control of plain `pytest -n 2`.
//!
//! The interpreter is `$ISOAUDIT_PYTHON`, else `<repo>/.venv/bin/python`; it
//! needs pytest and pytest-xdist. Without one these tests fail on CI
//! (`CI=true`) and print a loud notice elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use isoaudit::plan::{self, Classified, Durations, PlanOptions, TestClass};
use isoaudit::run::{self, RunOptions};

/// The suites bind one fixed port: one run at a time in this process.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter for the end-to-end runs, or `None` (after saying so
/// loudly) when there is none outside CI.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("ISOAUDIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv").join("bin").join("python"));
    let usable = Command::new(&candidate)
        .args(["-c", "import pytest, xdist"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if usable {
        return Some(candidate);
    }
    let message = format!(
        "no Python with pytest and pytest-xdist at {}; set ISOAUDIT_PYTHON \
         (e.g. a venv with pytest==9.2.0 pytest-xdist==3.8.0)",
        candidate.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("\n**********\n** SKIPPED run_e2e: {message}\n**********\n");
    None
}

/// A fresh copy of `fixtures/suites/<name>`, without caches or history.
fn copy_suite(name: &str) -> tempfile::TempDir {
    let dest = tempfile::tempdir().expect("temp dir");
    copy_dir(
        &repo().join("fixtures").join("suites").join(name),
        dest.path(),
    );
    dest
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read suite dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        let skip = [
            "__pycache__",
            ".pytest_cache",
            ".isoaudit",
            "reports",
            "jobs.sqlite3",
            "shared_cache.txt",
        ];
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy file");
        }
    }
}

fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn pytest(python: &Path, root: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .current_dir(root)
        .args(["-m", "pytest"])
        .args(args)
        .env_remove("PYTEST_ADDOPTS")
        .output()
        .expect("start pytest")
}

fn isoaudit(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .current_dir(root)
        .args(args)
        .env_remove("PYTEST_WORKERS")
        .env_remove("PYTEST_ADDOPTS")
        .output()
        .expect("start isoaudit")
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn durations_history(root: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = read(root, ".isoaudit/durations.json");
    match serde_json::from_str(&text).expect("durations.json is JSON") {
        serde_json::Value::Object(map) => map,
        other => panic!("durations.json is not an object: {other}"),
    }
}

/// The tests of `fixtures/suites/conflicts` that conflict, pair by pair
/// (its README says over what).
const CONFLICTING_PAIRS: &[(&str, &str)] = &[
    (
        "tests/test_a_config.py::test_enable_batch_mode",
        "tests/test_j_report.py::test_report_uses_batch_mode",
    ),
    (
        "tests/test_b_cache_writer.py::test_cache_roundtrip_alpha",
        "tests/test_f_cache_reader.py::test_cache_roundtrip_beta",
    ),
    (
        "tests/test_c_jobs_import.py::test_insert_job_alpha",
        "tests/test_g_jobs_retry.py::test_insert_job_beta",
    ),
    (
        "tests/test_d_server_health.py::test_serve_health",
        "tests/test_h_server_status.py::test_serve_status",
    ),
];

/// A suite where two tests conflict through a helper module the analysis
/// does not read (it is neither a test module nor a conftest), so a plan
/// leaves them in parallel and the run has to catch it.
const HIDDEN_CONFLICT: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\npythonpath = [\"src\"]\naddopts = \"-p no:cacheprovider\"\n",
    ),
    (
        "src/storage.py",
        "import time\nfrom pathlib import Path\n\n\ndef save_and_load(value):\n    path = Path(\"storage.txt\")\n    path.write_text(value)\n    time.sleep(1.0)\n    return path.read_text()\n",
    ),
    (
        "tests/test_storage.py",
        "from storage import save_and_load\n\n\ndef test_store_alpha():\n    assert save_and_load(\"alpha\") == \"alpha\"\n\n\ndef test_store_beta():\n    assert save_and_load(\"beta\") == \"beta\"\n\n\ndef test_sum():\n    assert 1 + 1 == 2\n\n\ndef test_upper():\n    assert \"a\".upper() == \"A\"\n",
    ),
];

#[test]
fn run_passes_the_conflicts_suite_where_plain_xdist_fails() {
    let Some(python) = python() else { return };
    let _guard = lock();

    let control = copy_suite("conflicts");
    let serial = pytest(&python, control.path(), &["-n", "0", "-q"]);
    assert!(
        serial.status.success(),
        "the suite passes serially\n{}",
        show(&serial)
    );
    let parallel = pytest(
        &python,
        control.path(),
        &["-n", "2", "-p", "no:randomly", "-q"],
    );
    assert_eq!(
        parallel.status.code(),
        Some(1),
        "plain pytest -n 2 must fail on this suite\n{}",
        show(&parallel)
    );

    let suite = copy_suite("conflicts");
    // A run can pass by luck when a conflict is missed, so the plan itself
    // must keep every conflicting pair in one unit or in the serial phase.
    let plan = isoaudit(
        suite.path(),
        &["plan", "--workers", "2", "--format", "json"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", show(&plan));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let placement = |nodeid: &str| {
        let test = plan["tests"]
            .as_array()
            .and_then(|tests| tests.iter().find(|t| t["nodeid"] == nodeid))
            .unwrap_or_else(|| panic!("{nodeid} is not in the plan"));
        (
            test["phase"].as_u64(),
            test["unit"].as_str().map(str::to_string),
        )
    };
    for (a, b) in CONFLICTING_PAIRS {
        let (pa, ua) = placement(a);
        let (pb, ub) = placement(b);
        let serial = pa == Some(3) && pb == Some(3);
        assert!(
            serial || (pa == pb && pa == Some(1) && ua == ub),
            "{a} ({pa:?}, {ua:?}) and {b} ({pb:?}, {ub:?}) conflict but may run side by side"
        );
    }

    let py = python.to_string_lossy().into_owned();
    let out = isoaudit(suite.path(), &["run", "--workers", "2", "--python", &py]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("isoaudit: phase 1 parallel"), "{stdout}");

    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(timings.contains("| 1 parallel |"), "{timings}");
    assert!(
        timings.contains("| **total** | 44 |"),
        "every test ran once:\n{timings}"
    );
    assert!(timings.contains("None found"), "{timings}");
    assert!(timings.contains("## Trend"), "{timings}");

    let durations = durations_history(suite.path());
    for nodeid in [
        "tests/test_j_report.py::test_report_uses_batch_mode",
        "tests/test_d_server_health.py::test_serve_health",
        "tests/test_k_compute.py::test_compute",
    ] {
        assert!(
            durations.contains_key(nodeid),
            "{nodeid} missing from durations.json"
        );
    }
    assert!(
        !durations.keys().any(|k| k.contains('[')),
        "parametrized cases are summed into their function"
    );
    let runs: serde_json::Value =
        serde_json::from_str(&read(suite.path(), ".isoaudit/history.json")).expect("history.json");
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1));
}

#[test]
fn run_reports_a_test_that_fails_only_in_parallel_as_an_isolation_bug() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = tempfile::tempdir().expect("temp dir");
    write_files(suite.path(), HIDDEN_CONFLICT);
    let py = python.to_string_lossy().into_owned();

    let out = isoaudit(suite.path(), &["run", "--workers", "2", "--python", &py]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("isolation bug: tests/test_storage.py::test_store_"),
        "{stdout}"
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(
        timings.contains("| `tests/test_storage.py::test_store_"),
        "{timings}"
    );

    let out = isoaudit(
        suite.path(),
        &[
            "run",
            "--workers",
            "2",
            "--python",
            &py,
            "--allow-isolation-bugs",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(timings.contains("isolation bug(s) allowed"), "{timings}");
    assert!(
        timings.contains("\n| 2 | 2 |") && timings.contains("\n| 1 | 2 |"),
        "trend of both runs:\n{timings}"
    );
}

// ---------------------------------------------------------------------------
// Library runs with hand-written plans. They exercise `run::execute` on its
// own; `hand_classified_conflicts` stands in for the analysis and is the only
// place that decides units by hand.
// ---------------------------------------------------------------------------

fn classified(nodeid: &str, class: TestClass, unit: &str, resources: &[&str]) -> Classified {
    Classified {
        nodeid: nodeid.into(),
        class,
        unit: unit.into(),
        resources: resources.iter().map(|r| r.to_string()).collect(),
        codes: Vec::new(),
    }
}

/// The conflicts suite's conflicting tests, classified by hand; the 20
/// other test functions are left out and run as tests the plan does not know.
fn hand_classified_conflicts() -> Vec<Classified> {
    let env = "order:env:CONFLICTS_MODE";
    let cache = "res:path:shared_cache.txt";
    vec![
        classified(
            "tests/test_a_config.py::test_enable_batch_mode",
            TestClass::OrderRisk,
            env,
            &["env:CONFLICTS_MODE"],
        ),
        classified(
            "tests/test_j_report.py::test_report_uses_batch_mode",
            TestClass::OrderRisk,
            env,
            &["env:CONFLICTS_MODE"],
        ),
        classified(
            "tests/test_b_cache_writer.py::test_cache_roundtrip_alpha",
            TestClass::Grouped,
            cache,
            &["path:shared_cache.txt"],
        ),
        classified(
            "tests/test_f_cache_reader.py::test_cache_roundtrip_beta",
            TestClass::Grouped,
            cache,
            &["path:shared_cache.txt"],
        ),
        classified(
            "tests/test_c_jobs_import.py::test_insert_job_alpha",
            TestClass::Heavy,
            "heavy:tests/test_c_jobs_import.py::test_insert_job_alpha",
            &["db:jobs.sqlite3"],
        ),
        classified(
            "tests/test_g_jobs_retry.py::test_insert_job_beta",
            TestClass::Heavy,
            "heavy:tests/test_g_jobs_retry.py::test_insert_job_beta",
            &["db:jobs.sqlite3"],
        ),
        classified(
            "tests/test_d_server_health.py::test_serve_health",
            TestClass::Serial,
            "serial:tests/test_d_server_health.py::test_serve_health",
            &["port:47613"],
        ),
        classified(
            "tests/test_h_server_status.py::test_serve_status",
            TestClass::Serial,
            "serial:tests/test_h_server_status.py::test_serve_status",
            &["port:47613"],
        ),
    ]
}

#[test]
fn execute_runs_every_phase_and_each_test_once() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = copy_suite("conflicts");
    let opts = PlanOptions {
        workers: 2,
        heavy_workers: Some(1),
        shards: None,
    };
    let plan = plan::build(hand_classified_conflicts(), &Durations::new(), &opts).expect("plan");
    let mut run_opts = RunOptions::new(python, 2);
    run_opts.heavy_workers = 1;
    run_opts.pytest_args = vec!["-q".into()];
    let code = run::execute(suite.path(), &plan, &run_opts).expect("run");
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert_eq!(code, 0, "{timings}");
    for row in [
        "| 1 parallel |",
        "| 2 heavy |",
        "| 3 serial |",
        "| **total** | 44 |",
    ] {
        assert!(timings.contains(row), "{row} missing:\n{timings}");
    }
    assert!(
        timings.contains(
            "test functions the plan did not know (run in phase 1, each as its own unit): 20"
        ),
        "{timings}"
    );
}

#[test]
fn execute_with_one_worker_is_one_serial_run() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = copy_suite("conflicts");
    let plan = plan::build(
        hand_classified_conflicts(),
        &Durations::new(),
        &PlanOptions::default(),
    )
    .expect("plan");
    let code = run::execute(suite.path(), &plan, &RunOptions::new(python, 1)).expect("run");
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert_eq!(code, 0, "{timings}");
    assert!(
        timings.contains("| all (serial run) | 44 | 1 |"),
        "{timings}"
    );
    assert!(!timings.contains("| 1 parallel |"), "{timings}");
}

#[test]
fn execute_reports_isolation_bugs_of_a_plan_that_does_not_group_them() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = tempfile::tempdir().expect("temp dir");
    write_files(suite.path(), HIDDEN_CONFLICT);
    let tests: Vec<Classified> = [
        "test_store_alpha",
        "test_store_beta",
        "test_sum",
        "test_upper",
    ]
    .iter()
    .map(|name| {
        let nodeid = format!("tests/test_storage.py::{name}");
        let unit = format!("test:{nodeid}");
        classified(&nodeid, TestClass::Parallel, &unit, &[])
    })
    .collect();
    let opts = PlanOptions {
        workers: 2,
        ..PlanOptions::default()
    };
    let plan = plan::build(tests, &Durations::new(), &opts).expect("plan");

    let mut run_opts = RunOptions::new(python.clone(), 2);
    assert_eq!(
        run::execute(suite.path(), &plan, &run_opts).expect("run"),
        1
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(
        timings.contains("| `tests/test_storage.py::test_store_")
            && timings.contains("| `test:tests/test_storage.py::test_store_"),
        "the bug names the test and its unit:\n{timings}"
    );

    run_opts.allow_isolation_bugs = true;
    assert_eq!(
        run::execute(suite.path(), &plan, &run_opts).expect("run"),
        0
    );

    run_opts.allow_isolation_bugs = false;
    run_opts.rerun_failures_serially = false;
    assert_eq!(
        run::execute(suite.path(), &plan, &run_opts).expect("run"),
        1,
        "without the re-run the parallel failure stands"
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(timings.contains("## Failures"), "{timings}");
}
