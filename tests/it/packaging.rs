//! How users get isoaudit: the wheel `pip install isoaudit` installs (built
//! by scripts/test with maturin, installed here into a fresh venv), the
//! pre-commit hooks in a real git repository, and the script behind the
//! GitHub Action.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::Shipped;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path scripts/test exports, or `None` (after saying so loudly) outside
/// CI; with CI=true a missing tool fails the test.
pub fn from_test_script(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if Path::new(&v).exists() => Some(std::fs::canonicalize(&v).unwrap()),
        _ => {
            let message = format!("{var} is not set to {what}; run the tests with scripts/test");
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{message}");
            }
            eprintln!("\n**********\n** SKIPPED: {message}\n**********\n");
            None
        }
    }
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The interpreter venvs are made from: the one scripts/test made `.venv`
/// with (its `base_prefix`), so a fresh venv has nothing of `.venv` in it.
fn base_python(venv_bin: &Path) -> PathBuf {
    let out = Command::new(venv_bin.join("python"))
        .args([
            "-c",
            "import sys, os; print(os.path.join(sys.base_prefix, 'bin', 'python3'))",
        ])
        .output()
        .expect("start .venv's python");
    assert!(out.status.success(), "{}", show(&out));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// PATH with only the system's directories: no cargo, no `.venv`.
fn plain_path(first: &Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", first.display())
}

#[test]
fn the_wheel_installs_into_a_fresh_venv_and_runs_without_rust() {
    let Some(wheel) = from_test_script("ISOAUDIT_WHEEL", "the wheel scripts/test builds") else {
        return;
    };
    let Some(venv_bin) = from_test_script("ISOAUDIT_VENV_BIN", "the bin/ of scripts/test's .venv")
    else {
        return;
    };
    let name = wheel.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with(&format!("isoaudit-{}-py3-none-", env!("CARGO_PKG_VERSION"))),
        "a wheel for any Python 3, versioned as the crate: {name}"
    );

    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let out = Command::new(base_python(&venv_bin))
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let bin = venv.join("bin");
    let out = Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(&wheel)
        .output()
        .unwrap();
    assert!(out.status.success(), "pip install: {}", show(&out));

    // The binary is on the venv's PATH, as pip puts console scripts.
    let run = |program: &Path, args: &[&str], cwd: &Path| {
        Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("PATH", plain_path(&bin))
            .env_remove("CARGO_HOME")
            .env_remove("RUSTUP_HOME")
            .env_remove("VIRTUAL_ENV")
            .env_remove("PYTEST_WORKERS")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let installed = bin.join("isoaudit");
    assert!(
        installed.is_file(),
        "pip put no isoaudit in {}",
        bin.display()
    );
    let out = run(&installed, &["--version"], dir.path());
    assert!(out.status.success(), "{}", show(&out));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.starts_with(&format!("isoaudit {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    // `python -m isoaudit check` on the demo suite says what the binary says.
    let demo = Shipped::new(&["etl"]);
    let args = ["check", "--output-format", "concise", "fixtures/suites/etl"];
    let via_python = run(
        &bin.join("python"),
        &[&["-m", "isoaudit"][..], &args[..]].concat(),
        demo.root(),
    );
    assert_eq!(via_python.status.code(), Some(1), "{}", show(&via_python));
    let text = String::from_utf8_lossy(&via_python.stdout);
    assert!(
        text.contains("fixtures/suites/etl/tests/") && text.contains(": ISO101 "),
        "{text}"
    );
    let direct = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(args)
        .current_dir(demo.root())
        .env("NO_COLOR", "1")
        .env_remove("PYTEST_WORKERS")
        .output()
        .unwrap();
    assert_eq!(
        via_python.stdout, direct.stdout,
        "the wheel's binary differs"
    );

    // A clean suite exits 0 through `python -m` as well, and usage errors
    // keep their exit code.
    let clean = Shipped::new(&["safe_sleep"]);
    let out = run(
        &bin.join("python"),
        &["-m", "isoaudit", "check", "fixtures/suites/safe_sleep"],
        clean.root(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(
        &bin.join("python"),
        &["-m", "isoaudit", "check", "--select", "ISO999"],
        clean.root(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// The packaging `pyproject.toml` at the root is found by pytest and
/// isoaudit above everything in this repository: it must change no
/// suite's rootdir, pytest options or isoaudit settings.
#[test]
fn the_root_pyproject_changes_no_suites_rootdir_or_settings() {
    let root_pyproject = repo().join("pyproject.toml");
    let text = std::fs::read_to_string(&root_pyproject).unwrap();
    for table in ["[tool.pytest", "[tool.isoaudit"] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(table)),
            "pyproject.toml must not hold {table}"
        );
    }
    let suites = repo().join("fixtures/suites");
    let mut names: Vec<String> = std::fs::read_dir(&suites)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 3, "{names:?}");
    for name in &names {
        let arg = PathBuf::from("fixtures/suites").join(name);
        let project = isoaudit::config::load_in(&repo(), &[arg], None).unwrap();
        assert_eq!(project.root, suites.join(name), "{name}: rootdir moved");
        assert_ne!(
            project.config_file.as_deref(),
            Some(root_pyproject.as_path()),
            "{name}: settings from the packaging pyproject.toml"
        );
    }
    // Files with no configuration of their own (the rule fixtures) keep the
    // repository as their rootdir, with pytest's default options.
    let project =
        isoaudit::config::load_in(&repo(), &[PathBuf::from("fixtures/ISO101.py")], None).unwrap();
    assert_eq!(project.root, repo());
    assert_eq!(project.pytest.python_files, vec!["test_*.py", "*_test.py"]);
    assert_eq!(project.config_file, None);

    // And pytest itself agrees, run from the repository root.
    let Some(venv_bin) = from_test_script("ISOAUDIT_VENV_BIN", "the bin/ of scripts/test's .venv")
    else {
        return;
    };
    let out = Command::new(venv_bin.join("python"))
        .args(["-m", "pytest", "--collect-only", "-p", "no:cacheprovider"])
        .arg("fixtures/suites/conflicts")
        .current_dir(repo())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTEST_ADDOPTS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!("rootdir: {}", suites.join("conflicts").display());
    assert!(text.contains(&want), "{}", show(&out));
}

// --- pre-commit -------------------------------------------------------------

/// A git that reads no user or system configuration.
fn git_identity(cmd: &mut Command) {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "isoaudit test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "isoaudit test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid");
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir);
    git_identity(&mut cmd);
    cmd.output().expect("start git")
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository holding this checkout as it is now (committed or not,
/// without what git ignores), committed once: what a user's
/// `.pre-commit-config.yaml` names as `repo:` and `rev:`.
fn hook_repo(dest: &Path) -> String {
    let listed = git_ok(
        &repo(),
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    for rel in listed.split('\0').filter(|r| !r.is_empty()) {
        let from = repo().join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let to = dest.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git_ok(dest, &["init", "-q", "-b", "main"]);
    git_ok(dest, &["add", "-A"]);
    git_ok(dest, &["commit", "-q", "-m", "isoaudit"]);
    git_ok(dest, &["rev-parse", "HEAD"])
}

const CLEAN_TEST: &str = "def test_write(tmp_path, settings):\n    (tmp_path / \"out.txt\").write_text(settings)\n    assert (tmp_path / \"out.txt\").read_text() == \"ok\"\n";
const CONFTEST: &str = "import pytest\n\n\n@pytest.fixture\ndef settings():\n    return \"ok\"\n";
const HAZARDOUS_CONFTEST: &str = "import pytest\n\n\n@pytest.fixture\ndef settings():\n    with open(\"/tmp/isoaudit-hook-demo/settings.txt\", \"w\") as f:\n        f.write(\"ok\")\n    return \"ok\"\n";

#[test]
fn pre_commit_hooks_fail_a_hazard_pass_a_clean_tree_and_recheck_below_a_conftest() {
    let Some(venv_bin) = from_test_script("ISOAUDIT_VENV_BIN", "the bin/ of scripts/test's .venv")
    else {
        return;
    };
    let Some(wheelhouse) = from_test_script(
        "ISOAUDIT_WHEELHOUSE",
        "a directory holding the pinned maturin wheel",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("isoaudit");
    let rev = hook_repo(&hooks);

    let project = dir.path().join("project");
    let write = |rel: &str, text: &str| {
        let p = project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "pyproject.toml",
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
    );
    write("tests/conftest.py", CONFTEST);
    write("tests/sub/test_write.py", CLEAN_TEST);
    write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: isoaudit-check\n      - id: isoaudit-report\n",
            hooks.display()
        ),
    );
    git_ok(&project, &["init", "-q", "-b", "main"]);
    let report = |project: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
            .arg("report")
            .current_dir(project)
            .env_remove("PYTEST_WORKERS")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    };
    report(&project);

    // pre-commit builds the hook from the repository with pip and maturin,
    // offline (the pinned maturin from the wheelhouse), with the dev profile
    // and the intermediate artifacts `cargo test` already has: the hook is
    // the one users install, built faster. Its binary goes to a target
    // directory of its own, never over the one the tests run.
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let hook_env = |cmd: &mut Command| {
        cmd.current_dir(&project)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", dir.path().join("cache"))
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", &wheelhouse)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("MATURIN_PEP517_ARGS", "--profile dev")
            .env("CARGO_BUILD_BUILD_DIR", repo().join("target"))
            .env("CARGO_TARGET_DIR", dir.path().join("hook-target"))
            .env("NO_COLOR", "1")
            .env_remove("PYTEST_WORKERS")
            .env_remove("VIRTUAL_ENV");
    };
    let pre_commit = |args: &[&str]| {
        let mut cmd = Command::new(venv_bin.join("pre-commit"));
        cmd.args(args);
        hook_env(&mut cmd);
        git_identity(&mut cmd);
        cmd.output().expect("start pre-commit")
    };
    let commit = |message: &str| {
        let mut cmd = Command::new("git");
        cmd.args(["commit", "-q", "-m", message]);
        hook_env(&mut cmd);
        git_identity(&mut cmd);
        cmd.output().expect("start git")
    };
    let started = std::time::Instant::now();
    let out = pre_commit(&["install", "--install-hooks"]);
    assert!(out.status.success(), "pre-commit install: {}", show(&out));
    eprintln!(
        "pre-commit installed the hooks (pip + maturin build) in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // A clean tree with an up-to-date report commits.
    git_ok(&project, &["add", "-A"]);
    let out = commit("clean suite");
    assert!(
        out.status.success(),
        "a clean tree was refused: {}",
        show(&out)
    );
    let text = show(&out);
    assert!(
        text.contains("isoaudit check") && text.contains("Passed"),
        "{text}"
    );

    // A new test with a hazard fails the commit, naming it.
    write(
        "tests/sub/test_shared.py",
        "def test_shared():\n    with open(\"/tmp/isoaudit-hook-demo/out.txt\", \"w\") as f:\n        f.write(\"x\")\n",
    );
    git_ok(&project, &["add", "tests/sub/test_shared.py"]);
    let out = commit("hazard");
    let text = show(&out);
    assert!(!out.status.success(), "a hazard was committed: {text}");
    assert!(
        text.contains("tests/sub/test_shared.py") && text.contains("ISO101"),
        "{text}"
    );
    assert_eq!(
        git_ok(&project, &["rev-list", "--count", "HEAD"]),
        "1",
        "the failed commit left no commit"
    );
    git_ok(
        &project,
        &["rm", "-q", "--cached", "tests/sub/test_shared.py"],
    );
    std::fs::remove_file(project.join("tests/sub/test_shared.py")).unwrap();

    // A staged conftest.py alone re-checks the tests below it: its new
    // hazard is reported at the fixture, reaching the test in tests/sub/.
    write("tests/conftest.py", HAZARDOUS_CONFTEST);
    git_ok(&project, &["add", "tests/conftest.py"]);
    let out = pre_commit(&["run", "isoaudit-check"]);
    let text = show(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("tests/conftest.py") && text.contains("ISO101"),
        "{text}"
    );
    assert!(
        text.contains("in fixture `settings`, reaching 1 test"),
        "the test below the conftest.py is not checked: {text}"
    );

    // The report hook fails while the audit is stale, writing nothing, and
    // passes once `isoaudit report` has run.
    let before = std::fs::read_to_string(project.join("docs/test-isolation-audit.md")).unwrap();
    let out = pre_commit(&["run", "isoaudit-report"]);
    let text = show(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("out of date"), "{text}");
    let after = std::fs::read_to_string(project.join("docs/test-isolation-audit.md")).unwrap();
    assert_eq!(before, after, "report --check wrote the file");
    report(&project);
    git_ok(&project, &["add", "-A"]);
    let out = pre_commit(&["run", "isoaudit-report"]);
    assert!(out.status.success(), "{}", show(&out));
}

// --- the GitHub Action --------------------------------------------------------

#[test]
fn the_action_script_installs_the_given_wheel_and_runs_the_command() {
    let Some(wheel) = from_test_script("ISOAUDIT_WHEEL", "the wheel scripts/test builds") else {
        return;
    };
    let Some(venv_bin) = from_test_script("ISOAUDIT_VENV_BIN", "the bin/ of scripts/test's .venv")
    else {
        return;
    };
    let action = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    for needle in [
        "using: composite",
        "command:",
        "args:",
        "version:",
        "scripts/action",
    ] {
        assert!(action.contains(needle), "action.yml lacks {needle}");
    }
    let demo = Shipped::new(&["etl"]);
    let runner_temp = tempfile::tempdir().unwrap();
    let action = |command: &str, args: &str, version: &Path| {
        let output = runner_temp.path().join("github-output");
        let _ = std::fs::remove_file(&output);
        let out = Command::new("bash")
            .arg(repo().join("scripts/action"))
            .current_dir(demo.root())
            .env("INPUT_COMMAND", command)
            .env("INPUT_ARGS", args)
            .env("INPUT_VERSION", version)
            .env("RUNNER_TEMP", runner_temp.path())
            .env("GITHUB_OUTPUT", &output)
            .env("ISOAUDIT_ACTION_PYTHON", base_python(&venv_bin))
            .env("PIP_NO_INDEX", "1")
            .env("NO_COLOR", "1")
            .env_remove("PYTEST_WORKERS")
            .env_remove("VIRTUAL_ENV")
            .output()
            .unwrap();
        (out, std::fs::read_to_string(&output).unwrap_or_default())
    };

    // Annotations for the demo suite, and its exit code, passed through.
    let (out, written) = action(
        "check",
        "--output-format github 'fixtures/suites/etl'",
        &wheel,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error title=isoaudit (ISO101)")
            && stdout.contains("file=fixtures/suites/etl/tests/"),
        "{stdout}"
    );
    assert_eq!(written, "exit-code=1\n");

    // A second step reuses the venv; a clean command exits 0.
    let (out, written) = action("rule", "ISO101", &wheel);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# ISO101 "));
    assert_eq!(written, "exit-code=0\n");

    // Bad inputs are said plainly, with exit 2 and nothing run.
    for (command, args, version, needle) in [
        ("lint", "", wheel.as_path(), "unknown command `lint`"),
        ("check", "", Path::new("not-a-version"), "neither a release"),
        ("check", "'unbalanced", wheel.as_path(), "cannot split args"),
    ] {
        let (out, written) = action(command, args, version);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{}",
            show(&out)
        );
        assert_eq!(written, "", "no exit-code output for an input error");
    }
}
