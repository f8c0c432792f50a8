//! The binary's surface: exit codes, formats, config errors, fixes.

use crate::support::Shipped;
use std::process::Command;

pub fn isoaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_isoaudit"))
}

#[test]
fn rule_explains_and_unknown_rule_is_usage_error() {
    let out = isoaudit().args(["rule", "ISO101"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# ISO101 "));
    let out = isoaudit().args(["rule", "ISO999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = isoaudit().args(["rule", "--all"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# ISO001 ") && text.contains("# ISO705 "));
}

#[test]
fn demo_suite_reports_iso101_in_every_format() {
    let demo = Shipped::new(&["etl"]);
    for (format, needle) in [
        ("full", "ISO101"),
        ("concise", ": ISO101 "),
        ("json", "\"code\": \"ISO101\""),
        ("github", "::error title=isoaudit (ISO101)"),
        ("sarif", "\"ruleId\": \"ISO101\""),
        ("rdjson", "\"value\": \"ISO101\""),
    ] {
        let out = isoaudit()
            .args(["check", "--output-format", format])
            .current_dir(demo.root())
            .arg("fixtures/suites/etl")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(needle),
            "{format} output lacks {needle}:\n{text}"
        );
        assert!(
            !text.contains(demo.root().to_str().unwrap())
                && !text.contains(env!("CARGO_MANIFEST_DIR")),
            "{format} leaks absolute paths"
        );
    }
}

#[test]
fn json_output_is_sorted_and_deterministic() {
    let demo = Shipped::new(&["etl"]);
    let run = || {
        isoaudit()
            .args(["check", "--output-format", "json"])
            .current_dir(demo.root())
            .arg("fixtures/suites/etl")
            .output()
            .unwrap()
            .stdout
    };
    let first = run();
    assert_eq!(first, run());
    let json: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(json["version"], 1);
    let keys: Vec<(String, u64, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Findings name the resource and the chain that brought it.
    let f = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "ISO101" && f["fixture"].is_string())
        .expect("a fixture-borne ISO101");
    assert!(f["resource"]
        .as_str()
        .unwrap()
        .starts_with("path:/tmp/sbir-etl"));
    assert!(f["chain"].as_array().unwrap().len() >= 2);
}

#[test]
fn select_ignore_exit_zero_statistics() {
    let demo = Shipped::new(&["etl"]);
    let out = isoaudit()
        .args(["check", "--select", "ISO2", "--output-format", "concise"])
        .current_dir(demo.root())
        .arg("fixtures/suites/etl")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("ISO101"), "{text}");
    let out = isoaudit()
        .args(["check", "--ignore", "ISO", "--output-format", "concise"])
        .current_dir(demo.root())
        .arg("fixtures/suites/etl")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = isoaudit()
        .args(["check", "--exit-zero"])
        .current_dir(demo.root())
        .arg("fixtures/suites/etl")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = isoaudit()
        .args(["check", "--statistics"])
        .current_dir(demo.root())
        .arg("fixtures/suites/etl")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ISO101"));
}

#[test]
fn bad_config_is_exit_2_with_the_span() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("pyproject.toml"),
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n\n[tool.isoaudit]\nisolation-markrs = [\"serial\"]\n",
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join("tests")).unwrap();
    std::fs::write(
        tmp.path().join("tests/test_a.py"),
        "def test_a():\n    pass\n",
    )
    .unwrap();
    let out = isoaudit().arg("check").arg(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("isolation-markrs"), "{err}");
    assert!(
        err.contains("isolation-markers"),
        "suggestion missing: {err}"
    );
    assert!(err.contains("pyproject.toml:5"), "span missing: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn single_file_still_loads_the_conftest_chain() {
    let demo = Shipped::new(&["etl"]);
    let file = demo.suite("etl").join("tests/unit/test_extract.py");
    let out = isoaudit()
        .current_dir(demo.suite("etl"))
        .args(["check", "--output-format", "json", "--select", "ISO1"])
        .arg(&file)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    // The shared staging directory comes from tests/conftest.py.
    assert!(
        findings.iter().any(|f| f["path"] == "tests/conftest.py"),
        "{findings:#?}"
    );
    assert!(
        !findings.iter().any(|f| f["code"] == "ISO004"),
        "{findings:#?}"
    );
}

#[test]
fn marker_fixes_diff_then_apply_then_clean() {
    let demo = Shipped::new(&["etl"]);
    let tmp = tempfile::tempdir().unwrap();
    crate::support::copy_suite(&demo.suite("etl"), tmp.path());
    let markers = ["--select", "ISO501,ISO503,ISO504"];
    let diff = isoaudit()
        .args(["check", "--diff"])
        .args(markers)
        .arg(tmp.path())
        .output()
        .unwrap();
    let diff_text = String::from_utf8_lossy(&diff.stdout).to_string();
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(diff_text.contains("-@pytest.mark.isolation"), "{diff_text}");
    assert!(diff_text.contains("reason="), "{diff_text}");
    // --diff writes nothing.
    let before = isoaudit()
        .args(["check", "--output-format", "json"])
        .args(markers)
        .arg(tmp.path())
        .output()
        .unwrap();
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    let removable = before["findings"].as_array().unwrap().len();
    assert!(removable >= 3, "{before:#?}");
    // Without --unsafe-fixes only the safe `reason=` fix applies.
    let out = isoaudit()
        .args(["check", "--fix", "--output-format", "json"])
        .args(markers)
        .arg(tmp.path())
        .output()
        .unwrap();
    let after_safe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(after_safe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["code"] != "ISO504"));
    assert!(after_safe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "ISO501" || f["code"] == "ISO503"));
    let out = isoaudit()
        .args(["check", "--fix", "--unsafe-fixes"])
        .args(markers)
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A second run is clean, and every file still parses.
    let again = isoaudit()
        .args(["check"])
        .args(markers)
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    let parse = isoaudit()
        .args(["check", "--select", "ISO001"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        parse.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&parse.stdout)
    );
    // The fix changed exactly what --diff showed.
    let applied = Command::new("diff")
        .args(["-ru"])
        .current_dir(demo.root())
        .arg("fixtures/suites/etl")
        .arg(tmp.path())
        .output()
        .unwrap();
    let applied = String::from_utf8_lossy(&applied.stdout);
    for line in diff_text
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
    {
        assert!(
            applied.contains(line),
            "diff line {line:?} not applied:\n{applied}"
        );
    }
}

#[test]
fn suppression_comments_and_per_file_ignores() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("pyproject.toml"),
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n\n[tool.isoaudit]\nper-file-ignores = { \"tests/legacy/**\" = [\"ISO4\"] }\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.join("tests/legacy")).unwrap();
    std::fs::write(
        d.join("tests/test_a.py"),
        "import os\n\ndef test_a():\n    open('/tmp/a', 'w')  # isoaudit: ignore[ISO101]\n    open('/tmp/b', 'w')\n    os.environ['X'] = '1'  # isoaudit: ignore\n",
    )
    .unwrap();
    std::fs::write(
        d.join("tests/test_file_ignored.py"),
        "# isoaudit: file-ignore[ISO1]\nimport os\n\ndef test_c():\n    open('/tmp/c', 'w')\n    os.environ['Y'] = '1'\n",
    )
    .unwrap();
    std::fs::write(
        d.join("tests/legacy/test_old.py"),
        "import os\n\ndef test_old():\n    os.environ['Z'] = '1'\n    open('/tmp/z', 'w')\n",
    )
    .unwrap();
    let out = isoaudit()
        .current_dir(d)
        .args(["check", "--output-format", "json"])
        .arg(d)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<(String, u64, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, u64, String)> = [
        ("tests/legacy/test_old.py", 5, "ISO101"),
        ("tests/test_a.py", 5, "ISO101"),
        ("tests/test_file_ignored.py", 6, "ISO401"),
    ]
    .iter()
    .map(|(p, l, c)| (p.to_string(), *l, c.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn check_given_a_conftest_checks_the_tests_below_it() {
    let demo = Shipped::new(&["etl"]);
    let suite = demo.suite("etl");
    let run = |path: &str| {
        let out = isoaudit()
            .args(["check", "--output-format", "json", "--exit-zero", path])
            .current_dir(&suite)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let via_conftest = run("tests/integration/conftest.py");
    let via_dir = run("tests/integration");
    assert_eq!(via_conftest["findings"], via_dir["findings"]);
    assert!(via_conftest["summary"]["tests"].as_u64().unwrap() > 0);
    // A test file alone still loads the conftest.py chain above it: the
    // fixture's hazard reaches the test.
    let one = run("tests/integration/test_neo4j_loader.py");
    let paths: Vec<&str> = one["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"tests/integration/conftest.py"),
        "{paths:?}"
    );
}

/// The thread count never shows in the output: `check` (json and sarif) and
/// `plan --format json` on every shipped suite are byte-identical with one
/// rayon thread and with many.
#[test]
fn output_is_byte_identical_across_thread_counts() {
    let shipped = Shipped::new(&[]);
    let suites = shipped.root().join("fixtures/suites");
    let mut names: Vec<String> = std::fs::read_dir(&suites)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 5, "the shipped suites are copied");
    let commands: [&[&str]; 3] = [
        &["check", "--exit-zero", "--output-format", "json"],
        &["check", "--exit-zero", "--output-format", "sarif"],
        &["plan", "--format", "json"],
    ];
    for name in &names {
        for args in commands {
            let run = |threads: &str| {
                let out = isoaudit()
                    .args(args)
                    .arg(".")
                    .current_dir(suites.join(name))
                    .env("RAYON_NUM_THREADS", threads)
                    .output()
                    .unwrap();
                (out.status.code(), out.stdout)
            };
            let one = run("1");
            assert!(!one.1.is_empty(), "{name} {args:?} printed nothing");
            assert_eq!(one, run("8"), "{name} {args:?} differs by thread count");
        }
    }
}
