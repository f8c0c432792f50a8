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
        Some(v) if Path::new(&v).exists() => Some(PathBuf::from(v)),
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
    assert!(installed.is_file(), "pip put no isoaudit in {}", bin.display());
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
    assert_eq!(via_python.stdout, direct.stdout, "the wheel's binary differs");

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
