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
            "faults_unit.txt",
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

/// A suite where two tests conflict through a file in project code whose
/// name is computed at run time: the analysis cannot see it, so a plan
/// leaves them in parallel and the run has to catch it.
const HIDDEN_CONFLICT: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\npythonpath = [\"src\"]\naddopts = \"-p no:cacheprovider\"\n",
    ),
    (
        "src/storage.py",
        "import time\nfrom pathlib import Path\n\n\ndef save_and_load(value):\n    path = Path(\"\".join([\"storage\", \".txt\"]))\n    path.write_text(value)\n    time.sleep(1.0)\n    return path.read_text()\n",
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
    // The timeline: drawn from the junit start times of both workers.
    let chart = timings
        .split_once("```mermaid\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .map(|(chart, _)| chart)
        .unwrap_or_else(|| panic!("no mermaid block:\n{timings}"));
    assert!(chart.contains("\ngantt\n  dateFormat x\n"), "{chart}");
    assert!(chart.contains("  section 1 parallel gw0\n"), "{chart}");
    assert!(chart.contains("  section 1 parallel gw1\n"), "{chart}");
    let bars: Vec<(u64, u64)> = chart
        .lines()
        .filter_map(|l| l.rsplit_once(" :").map(|(_, meta)| meta))
        .map(|meta| {
            let nums: Vec<u64> = meta.split(", ").filter_map(|n| n.parse().ok()).collect();
            assert_eq!(nums.len(), 2, "{meta}");
            (nums[0], nums[1])
        })
        .collect();
    assert!(bars.len() > 3, "{chart}");
    assert!(bars.iter().all(|(a, b)| a < b), "{chart}");

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

    // Without observation nothing is remembered, so the second run meets the
    // same bug (what observation changes is tested below, in
    // `run_observes_hidden_conflicts_and_never_repeats_an_isolation_bug`).
    let out = isoaudit(
        suite.path(),
        &["run", "--workers", "2", "--python", &py, "--no-observe"],
    );
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
            "--no-observe",
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

// ---------------------------------------------------------------------------
// Faults: `fixtures/suites/faults` (see its README) and small suites written
// here. Every run goes through `bounded`, which turns a hang into a failure
// with what the run printed, and fails when a process the run started is
// still alive after it.
// ---------------------------------------------------------------------------

/// Far beyond what any of these runs needs; only a hang reaches it.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// How a bounded run ended.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ended {
    fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A marker no other process on the machine carries in its environment.
fn marker(test: &str) -> String {
    format!("isoaudit-e2e-{test}-{}", std::process::id())
}

/// Processes whose environment carries `marker` (everything the run started
/// inherits it), with their command lines.
fn marked_processes(marker: &str) -> Vec<(u32, String)> {
    let needle = format!("ISOAUDIT_E2E_MARKER={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        found.push((pid, cmdline));
    }
    found
}

fn kill_marked(marker: &str) {
    for (pid, _) in marked_processes(marker) {
        // SAFETY: kill(2) on a process this test started (it carries the marker).
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

/// Starts `isoaudit ARGS` in `root` with `env`; `during` runs while it does
/// (it gets the child's pid and the run's marker). The run must end before
/// [`DEADLINE`] and leave no process behind.
fn bounded_with(
    root: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    test: &str,
    during: &mut dyn FnMut(u32, &str),
) -> Ended {
    use std::io::Read;
    use std::process::Stdio;
    let marker = marker(test);
    let mut child = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .current_dir(root)
        .args(args)
        .env_remove("PYTEST_WORKERS")
        .env_remove("PYTEST_ADDOPTS")
        .env("ISOAUDIT_E2E_MARKER", &marker)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start isoaudit");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("stdout")));
    let stderr = reader(Box::new(child.stderr.take().expect("stderr")));
    during(child.id(), &marker);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for isoaudit") {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        let left = marked_processes(&marker);
        kill_marked(&marker);
        let out = stdout.join().unwrap_or_default();
        panic!(
            "`isoaudit {}` did not end within {DEADLINE:?} (a hang); processes: {left:?}\n--- stdout\n{out}",
            args.join(" ")
        );
    };
    // Whatever the run killed is gone once its parent reaps it; give the
    // kernel a moment before calling a process left behind.
    let mut left = marked_processes(&marker);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = marked_processes(&marker);
    }
    kill_marked(&marker);
    let ended = Ended {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(
        left.is_empty(),
        "`isoaudit {}` left processes running: {left:?}\n{}",
        args.join(" "),
        ended.show()
    );
    ended
}

fn bounded(root: &Path, args: &[&str], test: &str) -> Ended {
    bounded_with(root, args, &[], test, &mut |_, _| {})
}

/// The passing tests of the fault suite, by nodeid.
const FAULT_SUITE_PASSES: &[&str] = &[
    "tests/test_ok.py::test_addition",
    "tests/test_ok.py::test_upper",
    "tests/test_ok.py::test_square",
    "tests/test_ok.py::TestStrings::test_join",
    "tests/test_ok.py::TestStrings::test_split",
    "tests/test_crash.py::test_after_the_crashes",
    "tests/test_unit.py::test_unit_first",
    "tests/test_unit.py::test_unit_last",
    "tests/test_stdout.py::test_prints_after",
    "tests/test_fork.py::test_forks_a_child_that_outlives_it",
    "tests/test_fork.py::test_starts_a_subprocess_that_outlives_it",
];

/// The tests that take their worker down, and how `run` must name it.
const FAULT_SUITE_FAULTS: &[(&str, &str)] = &[
    (
        "tests/test_crash.py::test_exits_the_process",
        "crashed its worker",
    ),
    (
        "tests/test_crash.py::test_kills_itself",
        "crashed its worker",
    ),
    ("tests/test_crash.py::test_segfaults", "crashed its worker"),
    ("tests/test_unit.py::test_unit_exits", "crashed its worker"),
    (
        "tests/test_fork.py::test_forks_a_child_then_exits",
        "crashed its worker",
    ),
    (
        "tests/test_stdout.py::test_closes_stdout",
        "closed sys.stdout",
    ),
    ("tests/test_hang.py::test_hangs", "timed out after 3s"),
];

#[test]
fn run_reports_every_fault_and_keeps_every_passing_result() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = copy_suite("faults");
    // The timeout comes from the configuration here, from --timeout below.
    let pyproject = read(suite.path(), "pyproject.toml");
    std::fs::write(
        suite.path().join("pyproject.toml"),
        format!("{pyproject}\n[tool.isoaudit]\ntimeout = 3\n"),
    )
    .expect("write pyproject.toml");
    let py = python.to_string_lossy().into_owned();
    let run = bounded(
        suite.path(),
        &[
            "run",
            "--workers",
            "2",
            "--continue-on-collection-errors",
            "--python",
            &py,
        ],
        "every-fault",
    );
    assert_eq!(run.code, Some(1), "{}", run.show());
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("isoaudit: "))
        .collect();
    for (nodeid, words) in FAULT_SUITE_FAULTS {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("isoaudit: {nodeid} {words}"))),
            "{nodeid} must be reported as `{words}`:\n{}",
            run.show()
        );
    }
    assert!(
        run.stdout
            .contains("File \"tests/test_hang.py\", line 10 in test_hangs"),
        "the timed-out test's stack:\n{}",
        run.show()
    );
    let collection: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("collection error in tests/test_broken.py"))
        .collect();
    assert_eq!(
        collection.len(),
        1,
        "one collection error, reported once:\n{}",
        run.show()
    );
    let summary = lines.last().copied().unwrap_or_default();
    assert!(
        summary.contains(&format!("{} passed", FAULT_SUITE_PASSES.len() + 2))
            && summary.contains("1 collection error(s) (tests/test_broken.py)")
            && summary.contains("1 timed out")
            && !summary.contains("-0.00"),
        "summary line: {summary}\n{}",
        run.show()
    );

    let timings = read(suite.path(), "reports/ci_timings.md");
    for needle in [
        "## Collection errors",
        "| `tests/test_broken.py` | SyntaxError",
        "## Crashes and timeouts",
        "| `tests/test_crash.py::test_segfaults` | crashed its worker | 1 parallel |",
        "| `tests/test_hang.py::test_hangs` | timed out | 1 parallel |",
        "File \"tests/test_hang.py\", line 10 in test_hangs",
        "## Processes left running",
        "time.sleep(600)",
        "- `tests/test_fixtures.py::test_with_a_teardown_that_raises`",
        "- `tests/test_fixtures.py::test_with_a_fixture_that_exits`",
    ] {
        assert!(timings.contains(needle), "{needle} missing:\n{timings}");
    }
    // Re-run alone, a crash crashes again: not an isolation bug.
    assert!(
        timings.contains("| `tests/test_crash.py::test_exits_the_process` | crashed its worker | 1 parallel | gw")
            && timings.contains("| the same again |"),
        "{timings}"
    );
    assert!(timings.contains("None found"), "{timings}");
    for passing in FAULT_SUITE_PASSES {
        assert!(
            !timings.contains(&format!("- `{passing}")),
            "{passing} passed but is listed as failing:\n{timings}"
        );
    }
    let durations = durations_history(suite.path());
    assert!(
        durations["tests/test_hang.py::test_hangs"].as_f64() >= Some(3.0),
        "a timed-out test is recorded as at least the timeout: {durations:?}"
    );
    for passing in FAULT_SUITE_PASSES {
        assert!(
            durations.contains_key(*passing),
            "{passing}'s result is missing from durations.json: {durations:?}"
        );
    }
}

#[test]
fn run_stops_at_a_collection_error_as_pytest_does_and_says_so() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = copy_suite("faults");
    let py = python.to_string_lossy().into_owned();
    let run = bounded(
        suite.path(),
        &["run", "--workers", "2", "--timeout", "3", "--python", &py],
        "collection-stop",
    );
    assert_eq!(
        run.code,
        Some(2),
        "pytest's exit for collection errors\n{}",
        run.show()
    );
    assert!(
        run.stdout
            .contains("isoaudit: collection error in tests/test_broken.py: SyntaxError"),
        "{}",
        run.show()
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(
        timings.contains("--continue-on-collection-errors")
            && timings.contains("| `tests/test_broken.py` |")
            && timings.contains("- result: collection errors"),
        "{timings}"
    );
}

#[test]
fn run_with_one_worker_contains_a_crash_and_reports_the_rest() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = copy_suite("faults");
    let py = python.to_string_lossy().into_owned();
    let run = bounded(
        suite.path(),
        &[
            "run",
            "--workers",
            "1",
            "--python",
            &py,
            "tests/test_crash.py",
            "tests/test_ok.py",
        ],
        "one-worker",
    );
    assert_eq!(run.code, Some(1), "{}", run.show());
    assert!(
        run.stdout
            .contains("isoaudit: tests/test_crash.py::test_segfaults crashed its worker"),
        "{}",
        run.show()
    );
    let summary = run.stdout.lines().last().unwrap_or_default();
    assert!(
        summary.contains("8 passed, 3 failed (3 crashed their worker)"),
        "{}",
        run.show()
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(
        timings.contains("| all (serial run) | 11 | 1 |"),
        "{timings}"
    );
}

#[test]
fn run_stops_a_phase_whose_workers_keep_dying() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = tempfile::tempdir().expect("temp dir");
    let tests: String = (0..12)
        .map(|i| format!("def test_{i:02}():\n    pass\n\n\n"))
        .collect();
    write_files(
        suite.path(),
        &[
            (
                "pyproject.toml",
                "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\naddopts = \"-p no:cacheprovider\"\n",
            ),
            (
                "tests/conftest.py",
                "import os\n\nimport pytest\n\n\n@pytest.fixture(autouse=True)\ndef dies():\n    os._exit(1)\n",
            ),
            ("tests/test_many.py", &tests),
        ],
    );
    let py = python.to_string_lossy().into_owned();
    let run = bounded(
        suite.path(),
        &[
            "run",
            "--workers",
            "2",
            "--no-rerun-failures-serially",
            "--python",
            &py,
        ],
        "always-dying",
    );
    assert_eq!(run.code, Some(1), "{}", run.show());
    // Each crash takes one test with it; the worker that is still running
    // when the limit is reached may crash once more before it stops.
    let stop = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("isoaudit: Phase 1 parallel stopped: its workers crashed "))
        .unwrap_or_else(|| panic!("no stop message\n{}", run.show()));
    let number = |text: &str| -> usize {
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in `{text}`"))
    };
    let crashes = number(stop);
    let (_, rest) = stop
        .split_once("pytest-xdist's restart limit of 8; ")
        .unwrap_or_else(|| panic!("no limit in `{stop}`"));
    let not_run = number(rest);
    assert!(
        crashes > 8 && crashes + not_run == 12 && rest.contains("selected test(s) did not run"),
        "{stop}"
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(
        timings.contains("## Not run")
            && timings.contains(&format!("- selected tests that did not run: {not_run}")),
        "{timings}"
    );

    // Workers that die while they start: no test ever runs, and the run
    // must neither loop nor claim that there were no tests.
    write_files(
        suite.path(),
        &[(
            "tests/conftest.py",
            "import os\n\nif os.environ.get(\"PYTEST_XDIST_WORKER\"):\n    os._exit(1)\n",
        )],
    );
    let run = bounded(
        suite.path(),
        &["run", "--workers", "2", "--python", &py],
        "dying-at-start",
    );
    assert_eq!(run.code, Some(3), "{}", run.show());
    assert!(
        run.stdout.contains(
            "isoaudit: Phase 1 parallel stopped: every worker died before running a test"
        ) && !run.stdout.contains("pytest selected no tests"),
        "{}",
        run.show()
    );
}

#[test]
fn run_names_the_tests_still_running_when_nothing_moves() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = copy_suite("faults");
    let py = python.to_string_lossy().into_owned();
    let run = bounded_with(
        suite.path(),
        &[
            "run",
            "--workers",
            "2",
            "--stall-warning",
            "1",
            "--python",
            &py,
            "tests/test_hang.py",
        ],
        &[("FAULTS_HANG_SECONDS", "5")],
        "stall",
        &mut |_, _| {},
    );
    assert_eq!(run.code, Some(0), "{}", run.show());
    // Which of the two workers gets the one test depends on which started first.
    let warning = run
        .stdout
        .lines()
        .find(|l| l.contains("no test has started or finished for 1s; still running: "))
        .unwrap_or_else(|| panic!("no stall warning\n{}", run.show()));
    assert!(
        warning.contains("still running: tests/test_hang.py::test_hangs on gw")
            && warning.ends_with("(set --timeout SECONDS to stop a test that hangs)"),
        "{warning}"
    );
}

#[test]
fn run_on_nothing_to_run_says_so() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let suite = tempfile::tempdir().expect("temp dir");
    write_files(
        suite.path(),
        &[
            (
                "pyproject.toml",
                "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
            ),
            ("tests/helpers.py", "VALUE = 1\n"),
        ],
    );
    let py = python.to_string_lossy().into_owned();
    let run = bounded(
        suite.path(),
        &["run", "--workers", "2", "--python", &py],
        "no-tests",
    );
    assert_eq!(
        run.code,
        Some(5),
        "pytest's exit for no tests\n{}",
        run.show()
    );
    assert!(
        run.stdout
            .contains("isoaudit: no test files under the project's testpaths")
            && run
                .stdout
                .contains("isoaudit: no tests ran: pytest selected no tests"),
        "{}",
        run.show()
    );
    assert!(
        !run.stdout.contains("-0.00") && !run.stdout.contains("0.00x"),
        "{}",
        run.show()
    );
    let timings = read(suite.path(), "reports/ci_timings.md");
    assert!(
        timings.contains("- no test ran") && !timings.contains("-0.00"),
        "{timings}"
    );

    let run = bounded(
        suite.path(),
        &["run", "--python", &py, "tests/does_not_exist"],
        "missing-path",
    );
    assert_eq!(run.code, Some(2), "{}", run.show());
    assert!(
        run.stderr
            .contains("`tests/does_not_exist`: no such file or directory"),
        "{}",
        run.show()
    );
}

#[test]
fn ctrl_c_and_sigterm_stop_the_run_and_everything_it_started() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let py = python.to_string_lossy().into_owned();
    for (signal, name) in [(libc::SIGINT, "sigint"), (libc::SIGTERM, "sigterm")] {
        let suite = copy_suite("faults");
        let started = tempfile::tempdir().expect("temp dir");
        let started_dir = started.path().to_string_lossy().into_owned();
        let run = bounded_with(
            suite.path(),
            &[
                "run",
                "--workers",
                "2",
                "--python",
                &py,
                "tests/test_hang.py",
                "tests/test_fork.py",
            ],
            &[("FAULTS_STARTED_DIR", &started_dir)],
            name,
            &mut |pid, marker| {
                let begin = std::time::Instant::now();
                while std::fs::read_dir(started.path())
                    .map(|d| d.count() == 0)
                    .unwrap_or(true)
                {
                    assert!(begin.elapsed() < DEADLINE, "the hanging test never started");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                // The process table check sees the run: pytest, its workers,
                // the child the fork test left behind.
                let running = marked_processes(marker);
                assert!(
                    running.iter().any(|(_, cmd)| cmd.contains("pytest")),
                    "the process scan must see the run's pytest: {running:?}"
                );
                // SAFETY: kill(2) on the isoaudit process this test started.
                unsafe {
                    libc::kill(pid as i32, signal);
                }
            },
        );
        assert_eq!(run.code, Some(130), "{name}\n{}", run.show());
        assert!(
            run.stderr
                .contains("isoaudit: interrupted, stopping pytest"),
            "{name}\n{}",
            run.show()
        );
    }
}

/// Observation: `fixtures/suites/observed` conflicts only through what a
/// static reading cannot see (its README says what). The first run finds the
/// isolation bugs and remembers what each test touched; every later run
/// passes, and the plan shows the observed keys.
#[test]
fn run_observes_hidden_conflicts_and_never_repeats_an_isolation_bug() {
    let Some(python) = python() else { return };
    let _guard = lock();
    let control = copy_suite("observed");
    let parallel = pytest(&python, control.path(), &["-n", "2", "-q"]);
    assert_eq!(
        parallel.status.code(),
        Some(1),
        "plain pytest -n 2 must fail on this suite\n{}",
        show(&parallel)
    );

    let suite = copy_suite("observed");
    let py = python.to_string_lossy().into_owned();
    let victim = "tests/test_a_registry.py::test_fast_mode_is_off_by_default";
    let first = isoaudit(suite.path(), &["run", "--workers", "2", "--python", &py]);
    assert_eq!(first.status.code(), Some(1), "{}", show(&first));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains(&format!("isolation bug: {victim} failed in parallel")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{victim} runs in the serial phase from the next run on"
        )),
        "{stdout}"
    );

    let plan = isoaudit(
        suite.path(),
        &["plan", "--workers", "2", "--format", "json"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", show(&plan));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let test = |nodeid: &str| {
        plan["tests"]
            .as_array()
            .and_then(|tests| tests.iter().find(|t| t["nodeid"] == nodeid))
            .unwrap_or_else(|| panic!("{nodeid} is not in the plan"))
            .clone()
    };
    let observed_keys = |nodeid: &str| -> Vec<String> {
        test(nodeid)["observed"]
            .as_array()
            .map(|facts| {
                facts
                    .iter()
                    .filter_map(|f| f["key"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let has = |nodeid: &str, want: &dyn Fn(&str) -> bool| {
        let keys = observed_keys(nodeid);
        assert!(keys.iter().any(|k| want(k)), "{nodeid}: {keys:?}");
    };
    has(
        "tests/test_b_ledger.py::test_ledger_keeps_the_opening_entry",
        &|k| k == "path:./workspace/ledger.txt",
    );
    has(
        "tests/test_c_ports.py::test_inventory_service_listens",
        &|k| k.starts_with("port:"),
    );
    has(
        "tests/test_d_memo.py::test_memo_remembers_a_greeting",
        &|k| k == "path:/tmp/appcore-memo.memo",
    );
    has("tests/test_a_registry.py::test_enable_fast_mode", &|k| {
        k == "state:appcore.registry.mode_fast"
    });
    let ledger = test("tests/test_b_ledger.py::test_ledger_keeps_the_opening_entry");
    let evidence = ledger["observed"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["key"] == "path:./workspace/ledger.txt"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(evidence["access"], "write", "{evidence}");
    assert!(
        evidence["at"]
            .as_str()
            .is_some_and(|at| at.starts_with("appcore/ledger.py:")),
        "the first frame in the project's code: {evidence}"
    );
    let pairs = [
        (
            "tests/test_b_ledger.py::test_ledger_keeps_the_opening_entry",
            "tests/test_b_ledger.py::test_ledger_keeps_the_closing_entry",
        ),
        (
            "tests/test_c_ports.py::test_inventory_service_listens",
            "tests/test_c_ports.py::test_inventory_service_restarts",
        ),
        (
            "tests/test_d_memo.py::test_memo_remembers_a_greeting",
            "tests/test_d_memo.py::test_memo_remembers_a_farewell",
        ),
    ];
    for (a, b) in pairs {
        assert_eq!(test(a)["unit"], test(b)["unit"], "{a} and {b}");
        assert_eq!(test(a)["phase"], 1);
    }
    assert_eq!(test(victim)["phase"], 3, "{}", test(victim));
    assert_eq!(test(victim)["triage"], serde_json::json!([]));

    for run in 2..=4 {
        let out = isoaudit(suite.path(), &["run", "--workers", "2", "--python", &py]);
        assert_eq!(out.status.code(), Some(0), "run {run}\n{}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("isolation bugs found by earlier runs:")
                && stdout.contains(&format!("{victim} in the serial phase")),
            "run {run}: {stdout}"
        );
    }

    // --no-observe leaves the memory as it is.
    let memory = read(suite.path(), ".isoaudit/observed.json");
    let out = isoaudit(
        suite.path(),
        &["run", "--workers", "2", "--no-observe", "--python", &py],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(read(suite.path(), ".isoaudit/observed.json"), memory);

    let out = isoaudit(
        suite.path(),
        &["plan", "--workers", "2", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let forget = isoaudit(
        suite.path(),
        &[
            "run",
            "--workers",
            "2",
            "--forget",
            victim,
            "--python",
            &py,
            "--",
            "-k",
            "flavours",
        ],
    );
    let stdout = String::from_utf8_lossy(&forget.stdout);
    assert!(
        stdout.contains(&format!("forgot the isolation bug of {victim}")),
        "{}",
        show(&forget)
    );
    let memory: serde_json::Value =
        serde_json::from_str(&read(suite.path(), ".isoaudit/observed.json")).expect("JSON");
    assert!(memory["tests"][victim]["triage"].is_null(), "{memory}");
}
