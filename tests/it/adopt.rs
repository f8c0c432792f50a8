//! What a team adopting isoaudit meets first: a baseline of today's
//! findings, several output files from one `check`, and the command-line
//! conventions of the tools it sits beside (`--color`/`NO_COLOR`,
//! `--quiet`/`--verbose`, `--version` with the commit, shell completions,
//! the rule name beside its code).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::copy_suite;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch copy of the demo suite.
fn etl_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_suite(&repo().join("fixtures/suites/etl"), dir.path());
    dir
}

fn isoaudit(cwd: &Path, args: &[&str]) -> Output {
    isoaudit_env(cwd, args, &[("NO_COLOR", "1")])
}

fn isoaudit_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_isoaudit"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env_remove("PYTEST_WORKERS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

/// The concise lines of a `check` run, without the closing line.
fn concise(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .filter(|l| l.starts_with("tests/"))
        .map(str::to_string)
        .collect()
}

// --- baseline -------------------------------------------------------------

#[test]
fn a_baseline_holds_todays_findings_through_line_moves() {
    let suite = etl_copy();
    let d = suite.path();
    let before = isoaudit(d, &["check", "--output-format", "concise"]);
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));
    let today = concise(&before).len();
    assert!(today > 10, "{}", stdout(&before));

    let wrote = isoaudit(d, &["check", "--write-baseline", "ci/baseline.json"]);
    assert_eq!(wrote.status.code(), Some(0), "{}", stderr(&wrote));
    assert!(
        stderr(&wrote).contains(&format!(
            "Wrote {today} findings to the baseline ci/baseline.json"
        )),
        "{}",
        stderr(&wrote)
    );
    assert!(stdout(&wrote).is_empty(), "{}", stdout(&wrote));
    let text = std::fs::read_to_string(d.join("ci/baseline.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    let entries = json["findings"].as_array().unwrap();
    let counted: u64 = entries.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(counted as usize, today);
    let keys: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "entries sorted by fingerprint");
    assert!(!text.contains("\"line\""), "no line numbers: {text}");

    // Written again from another directory: the same bytes.
    let again = isoaudit(
        &d.join("tests"),
        &["check", "--write-baseline", "../ci/again.json"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(d.join("ci/again.json")).unwrap(),
        text
    );

    let known = isoaudit(d, &["check", "--baseline", "ci/baseline.json"]);
    assert_eq!(known.status.code(), Some(0), "{}", stderr(&known));
    assert_eq!(stdout(&known).trim(), "All checks passed!");
    assert_eq!(
        stderr(&known).trim(),
        format!("Baseline ci/baseline.json: {today} known findings not shown.")
    );

    // Lines move: an import and comments above every hazard.
    for file in [
        "tests/conftest.py",
        "tests/unit/test_config.py",
        "tests/unit/test_extract.py",
        "tests/integration/test_neo4j_loader.py",
    ] {
        edit(&d.join(file), |t| {
            format!("# moved down\n# by three lines\nimport sys\n{t}")
        });
    }
    let moved = isoaudit(
        d,
        &[
            "check",
            "--baseline",
            "ci/baseline.json",
            "--output-format",
            "concise",
        ],
    );
    assert_eq!(moved.status.code(), Some(0), "{}", stdout(&moved));
    assert!(concise(&moved).is_empty(), "{}", stdout(&moved));
}

#[test]
fn a_baseline_reports_new_findings_and_counts_fixed_ones() {
    let suite = etl_copy();
    let d = suite.path();
    let wrote = isoaudit(d, &["check", "--write-baseline", "baseline.json"]);
    assert_eq!(wrote.status.code(), Some(0), "{}", stderr(&wrote));

    // One hazard fixed, one new.
    edit(&d.join("tests/unit/test_config.py"), |t| {
        t.replace(
            "    os.environ[\"SBIR_ETL_DATA_DIR\"] = \"/srv/sbir\"\n",
            "    pass\n",
        ) + "\n\ndef test_new_hazard():\n    os.environ[\"ISOAUDIT_NEW\"] = \"1\"\n"
    });
    let o = isoaudit(
        d,
        &[
            "check",
            "--baseline",
            "baseline.json",
            "--output-format",
            "concise",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let new = concise(&o);
    assert_eq!(new.len(), 1, "{}", stdout(&o));
    assert!(
        new[0].contains("ISO401") && new[0].contains("ISOAUDIT_NEW"),
        "{new:?}"
    );
    assert!(stdout(&o).contains("Found 1 finding."), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("1 baselined finding fixed since (`--write-baseline baseline.json` drops it)"),
        "{err}"
    );
    assert!(
        err.contains("  fixed: ISO401 tests/unit/test_config.py test_data_dir_from_env env:SBIR_ETL_DATA_DIR"),
        "{err}"
    );

    // The exit code follows the new findings only.
    let zero = isoaudit(d, &["check", "--baseline", "baseline.json", "--exit-zero"]);
    assert_eq!(zero.status.code(), Some(0));
    let quiet = isoaudit(d, &["check", "--quiet", "--baseline", "baseline.json"]);
    assert_eq!(quiet.status.code(), Some(1));
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
}

#[test]
fn the_config_names_the_baseline_and_a_broken_one_is_an_error() {
    let suite = etl_copy();
    let d = suite.path();
    let wrote = isoaudit(d, &["check", "--write-baseline", "ci/base.json"]);
    assert_eq!(wrote.status.code(), Some(0), "{}", stderr(&wrote));
    edit(&d.join("pyproject.toml"), |t| {
        t + "\n[tool.isoaudit]\nbaseline = \"ci/base.json\"\n"
    });
    // From a subdirectory: the config's path is the config file's.
    let o = isoaudit(&d.join("tests"), &["check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).starts_with("Baseline ../ci/base.json: "),
        "{}",
        stderr(&o)
    );

    std::fs::write(d.join("ci/base.json"), "{ not json").unwrap();
    let o = isoaudit(d, &["check"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("`ci/base.json` is not an isoaudit baseline"),
        "{err}"
    );
    assert!(err.contains("--write-baseline ci/base.json"), "{err}");

    let o = isoaudit(d, &["check", "--baseline", "nowhere.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read the baseline `nowhere.json`"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    let o = isoaudit(
        d,
        &[
            "check",
            "--baseline",
            "a.json",
            "--write-baseline",
            "b.json",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
}

// --- several outputs --------------------------------------------------------

#[test]
fn one_run_writes_every_output_file_as_its_format_prints_alone() {
    let suite = etl_copy();
    let d = suite.path();
    let o = isoaudit(
        d,
        &[
            "check",
            "--output-file",
            "sarif=out/isoaudit.sarif",
            "--output-file",
            "json=out/isoaudit.json",
            "--output-file=github=annotations.txt",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ISO101 hardcoded-temp-path"),
        "full on stdout"
    );
    for (format, file) in [
        ("sarif", "out/isoaudit.sarif"),
        ("json", "out/isoaudit.json"),
        ("github", "annotations.txt"),
    ] {
        let alone = isoaudit(d, &["check", "--output-format", format]);
        assert_eq!(alone.status.code(), Some(1));
        let written = std::fs::read_to_string(d.join(file)).unwrap();
        assert_eq!(written, stdout(&alone), "{format}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");

    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/isoaudit.sarif")).unwrap())
            .unwrap();
    match std::env::var_os("ISOAUDIT_SARIF_SCHEMA") {
        Some(path) => {
            let schema: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let validator = jsonschema::validator_for(&schema).unwrap();
            assert!(validator.is_valid(&sarif), "SARIF off the official schema");
        }
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but ISOAUDIT_SARIF_SCHEMA is unset: run scripts/test")
        }
        None => assert_eq!(sarif["version"], "2.1.0"),
    }

    // Baselined findings stay out of the files as of stdout.
    let base = isoaudit(d, &["check", "--write-baseline", "b.json"]);
    assert_eq!(base.status.code(), Some(0));
    let o = isoaudit(
        d,
        &[
            "check",
            "--baseline",
            "b.json",
            "--output-file",
            "json=out/isoaudit.json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/isoaudit.json")).unwrap())
            .unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{json}");
}

#[test]
fn a_bad_output_file_is_a_usage_error_naming_it() {
    let suite = etl_copy();
    let d = suite.path();
    let o = isoaudit(d, &["check", "--output-file", "xml=out.xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`xml` is not an output format"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("sarif"), "{}", stderr(&o));

    let o = isoaudit(d, &["check", "--output-file", "out.sarif"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("expected `FORMAT=PATH`"),
        "{}",
        stderr(&o)
    );

    std::fs::write(d.join("plain"), "a file, not a directory").unwrap();
    let o = isoaudit(d, &["check", "--output-file", "sarif=plain/x.sarif"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--output-file sarif=plain/x.sarif"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "nothing printed before the error");

    let o = isoaudit(d, &["check", "--output-file", "json=tests"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--output-file json=tests: it is a directory"),
        "{}",
        stderr(&o)
    );
}

// --- conventions --------------------------------------------------------------

#[test]
fn full_output_names_the_rule_beside_its_code() {
    let o = isoaudit(&repo().join("fixtures/suites/etl"), &["check"]);
    let out = stdout(&o);
    assert!(out.contains("ISO101 hardcoded-temp-path\n"), "{out}");
    assert!(out.contains("ISO504 "), "{out}");
    assert!(
        out.lines()
            .filter(|l| l.starts_with("ISO504"))
            .all(|l| l.ends_with(" [*]")),
        "{out}"
    );
}

#[test]
fn colour_follows_the_flag_then_no_color() {
    let etl = repo().join("fixtures/suites/etl");
    let has_escape = |o: &Output| o.stdout.contains(&0x1b);
    // Piped stdout: `auto` colours nothing.
    assert!(!has_escape(&isoaudit_env(&etl, &["check"], &[])));
    assert!(has_escape(&isoaudit_env(
        &etl,
        &["check", "--color", "always"],
        &[]
    )));
    // An explicit flag wins over NO_COLOR; `never` wins over everything.
    assert!(has_escape(&isoaudit_env(
        &etl,
        &["--color=always", "check"],
        &[("NO_COLOR", "1")]
    )));
    assert!(!has_escape(&isoaudit_env(
        &etl,
        &["check", "--color", "never"],
        &[]
    )));
    let bad = isoaudit(&etl, &["check", "--color", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn quiet_and_verbose_change_stderr_only() {
    let suite = etl_copy();
    let d = suite.path();
    let plain = isoaudit(d, &["check"]);
    let quiet = isoaudit(d, &["-q", "check"]);
    let verbose = isoaudit(d, &["check", "--verbose"]);
    assert_eq!(plain.stdout, quiet.stdout);
    assert_eq!(plain.stdout, verbose.stdout);
    let v = stderr(&verbose);
    assert!(v.contains("isoaudit check: rootdir: ."), "{v}");
    assert!(
        v.contains("isoaudit check: pytest options from: pyproject.toml"),
        "{v}"
    );
    assert!(
        v.contains("isoaudit check: read ") && v.contains(" tests"),
        "{v}"
    );

    let report = isoaudit(d, &["report", "--quiet"]);
    assert_eq!(report.status.code(), Some(0));
    assert!(stderr(&report).is_empty(), "{}", stderr(&report));
    assert!(d.join("docs/test-isolation-audit.md").is_file());
    let loud = isoaudit(d, &["report", "-o", "docs/again.md"]);
    assert!(
        stderr(&loud).contains("wrote docs/again.md"),
        "{}",
        stderr(&loud)
    );

    let both = isoaudit(d, &["check", "-q", "-v"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn every_command_that_reads_config_takes_config() {
    for command in ["check", "report", "plan", "run", "graph"] {
        let o = isoaudit(&repo(), &[command, "--help"]);
        assert!(
            stdout(&o).contains("--config <FILE>"),
            "{command}: {}",
            stdout(&o)
        );
    }
    // And uses it: a file elsewhere selects one rule family.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("isoaudit.toml");
    std::fs::write(&config, "select = [\"ISO2\"]\n").unwrap();
    let o = isoaudit(
        &repo().join("fixtures/suites/etl"),
        &[
            "check",
            "--output-format",
            "concise",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let lines = concise(&o);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.contains(" ISO2")),
        "{lines:?}"
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = isoaudit(&repo(), &["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let version = env!("CARGO_PKG_VERSION");
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let want = match head {
        Some(commit) => format!("isoaudit {version} ({commit})\n"),
        None => format!("isoaudit {version}\n"),
    };
    assert_eq!(stdout(&o), want);
}

/// build.rs compiled on its own and run as cargo would, in the repository
/// and in a copy of the sources without `.git` (a source tarball).
#[test]
fn the_build_script_falls_back_without_git() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("build-script");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let built = Command::new(rustc)
        .args(["--edition", "2021", "-o"])
        .arg(&exe)
        .arg(repo().join("build.rs"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    let run = |manifest: &Path, commit: Option<&str>| {
        let mut cmd = Command::new(&exe);
        cmd.env("CARGO_MANIFEST_DIR", manifest)
            .env("CARGO_PKG_VERSION", "9.8.7")
            .env_remove("ISOAUDIT_COMMIT");
        if let Some(c) = commit {
            cmd.env("ISOAUDIT_COMMIT", c);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let tarball = dir.path().join("isoaudit-9.8.7");
    std::fs::create_dir_all(&tarball).unwrap();
    std::fs::copy(repo().join("build.rs"), tarball.join("build.rs")).unwrap();
    let out = run(&tarball, None);
    assert!(
        out.contains("cargo:rustc-env=ISOAUDIT_VERSION=9.8.7\n"),
        "{out}"
    );
    assert!(!out.contains("HEAD"), "{out}");
    let out = run(&tarball, Some("abc1234"));
    assert!(
        out.contains("cargo:rustc-env=ISOAUDIT_VERSION=9.8.7 (abc1234)\n"),
        "{out}"
    );

    let in_git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output()
        .unwrap();
    if in_git.status.success() {
        let commit = String::from_utf8_lossy(&in_git.stdout).trim().to_string();
        let out = run(&repo(), None);
        assert!(
            out.contains(&format!("ISOAUDIT_VERSION=9.8.7 ({commit})\n")),
            "{out}"
        );
        // It reruns when HEAD moves.
        let head_line = out
            .lines()
            .find(|l| l.starts_with("cargo:rerun-if-changed=") && l.ends_with("HEAD"))
            .unwrap_or_else(|| panic!("HEAD is not watched: {out}"));
        assert!(
            Path::new(head_line.split_once('=').unwrap().1).is_file(),
            "{out}"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = isoaudit(&repo(), &["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains("isoaudit"), "{shell}");
        assert!(
            script.contains("baseline"),
            "{shell}: check's options are completed"
        );
        assert!(script.contains("completions"), "{shell}");
    }
    let bash = isoaudit(&repo(), &["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("isoaudit.bash");
    std::fs::write(&file, &bash.stdout).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));

    let o = isoaudit(&repo(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}
