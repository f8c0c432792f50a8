//! `isoaudit report` and `isoaudit graph` on a copy of the demo suite: what
//! is written, that it is stable, `--check`, links that resolve, filters.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/suites/etl");

/// What `isoaudit run`, `isoaudit report` and pytest leave in a suite: a
/// copy leaves them out, so that local runs never change what these tests see.
const LEFT_BY_RUNS: &[&str] = &[
    ".isoaudit",
    "reports",
    "docs",
    ".pytest_cache",
    "__pycache__",
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if LEFT_BY_RUNS.iter().any(|s| entry.file_name() == *s) {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fresh copy of the demo suite at `<tmp>/etl`.
fn demo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("etl");
    copy_dir(Path::new(DEMO), &suite);
    (dir, suite)
}

fn isoaudit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PYTEST_WORKERS")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report_of(suite: &Path) -> String {
    std::fs::read_to_string(suite.join("docs/test-isolation-audit.md")).unwrap()
}

/// Every relative link target of a markdown file, with its line anchor.
fn links(text: &str) -> Vec<(String, Option<usize>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        let (path, anchor) = match target.split_once("#L") {
            Some((p, l)) => (p, l.parse().ok()),
            None => (target, None),
        };
        out.push((path.replace("%20", " "), anchor));
    }
    out
}

#[test]
fn report_is_written_under_the_root_and_is_byte_stable() {
    let (_tmp, suite) = demo();
    let first = isoaudit(&suite, &["report"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = report_of(&suite);
    for section in [
        "# Test isolation audit",
        "## How to read this",
        "## Summary",
        "## Tests that cannot run freely in parallel",
        "## Marker audit",
        "## Shared resources",
        "```mermaid",
        "## Fixtures",
        "## Findings by file",
        "## Next steps",
    ] {
        assert!(text.contains(section), "missing {section}");
    }
    let root = suite.to_string_lossy().into_owned();
    assert!(!text.contains(&root), "absolute path in the report");
    assert!(!text.contains("Audit date"), "date without --date");

    let second = isoaudit(&suite, &["report"]);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(report_of(&suite), text);
    // From elsewhere, naming the suite: the same bytes.
    let third = isoaudit(suite.parent().unwrap(), &["report", "etl/tests"]);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert_eq!(report_of(&suite), text);
}

#[test]
fn report_answers_the_audit_questions_from_the_data() {
    let (_tmp, suite) = demo();
    assert_eq!(isoaudit(&suite, &["report"]).status.code(), Some(0));
    let text = report_of(&suite);
    let plan = isoaudit(&suite, &["plan", "--format", "json", "--workers", "4"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let tests = plan["tests"].as_array().unwrap();
    // Every test the plan does not run freely is listed with its class.
    let section = text
        .split("## Tests that cannot run freely in parallel")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut listed = 0;
    for t in tests {
        let nodeid = t["nodeid"].as_str().unwrap();
        let class = t["class"].as_str().unwrap();
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| [{nodeid}]")));
        if class == "parallel" {
            assert!(row.is_none(), "{nodeid} is parallel but listed");
        } else {
            let row = row.unwrap_or_else(|| panic!("{nodeid} ({class}) not listed"));
            assert!(row.contains(&format!("`{class}`")), "{row}");
            listed += 1;
        }
    }
    assert!(listed > 0);
    // The makespan the summary states is the plan's at 4 workers.
    let makespan = plan["estimate"]["makespan_seconds"].as_f64().unwrap();
    assert!(
        text.contains(&format!("Planned makespan at 4 workers | {makespan:.1} s")),
        "summary lacks the planned makespan {makespan}"
    );
    // The marker audit has one row per marked test.
    let audit = text
        .split("## Marker audit")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let rows = audit.lines().filter(|l| l.starts_with("| [")).count();
    let marked = text
        .lines()
        .find(|l| l.starts_with("| Isolation markers |"))
        .unwrap();
    assert!(marked.contains(&format!("{rows} marked tests")), "{marked}");
    // The first next step is the one that frees the most tests.
    let steps = text.split("## Next steps").nth(1).unwrap();
    let freed: Vec<usize> = steps
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .filter_map(|l| {
            let i = l.find("frees **")? + "frees **".len();
            l[i..].split(' ').next()?.parse().ok()
        })
        .collect();
    assert!(freed.len() >= 2);
    assert!(freed.windows(2).all(|w| w[0] >= w[1]), "{freed:?}");
}

#[test]
fn report_links_resolve_from_the_report_directory() {
    let (tmp, _suite) = demo();
    // Written outside the suite, like the committed demo report.
    let out = isoaudit(
        tmp.path(),
        &["report", "-o", "docs/audit.md", "etl", "--workers", "2"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = tmp.path().join("docs/audit.md");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("](../etl/tests/"));
    assert!(text.contains("Planned makespan at 2 workers"));
    assert!(text.contains("from `--workers`"));
    let found = links(&text);
    assert!(found.len() > 20);
    for (path, line) in found {
        let target = report.parent().unwrap().join(&path);
        let source = std::fs::read_to_string(&target)
            .unwrap_or_else(|e| panic!("link {path} does not resolve: {e}"));
        if let Some(line) = line {
            assert!(
                line >= 1 && line <= source.lines().count(),
                "{path}#L{line} is past the end"
            );
        }
    }
}

#[test]
fn date_is_added_only_when_asked_and_must_be_a_date() {
    let (_tmp, suite) = demo();
    assert_eq!(isoaudit(&suite, &["report"]).status.code(), Some(0));
    let plain = report_of(&suite);
    let out = isoaudit(&suite, &["report", "--date", "2025-01-17"]);
    assert_eq!(out.status.code(), Some(0));
    let dated = report_of(&suite);
    assert!(dated.contains("Audit date: 2025-01-17."));
    assert_eq!(dated.replace(" Audit date: 2025-01-17.", ""), plain);
    // --check keeps the date already in the file.
    assert_eq!(
        isoaudit(&suite, &["report", "--check"]).status.code(),
        Some(0)
    );
    let bad = isoaudit(&suite, &["report", "--date", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("YYYY-MM-DD"));
    assert_eq!(report_of(&suite), dated, "a rejected run must not write");
}

#[test]
fn check_passes_when_current_and_fails_when_a_test_changes() {
    let (_tmp, suite) = demo();
    let missing = isoaudit(&suite, &["report", "--check"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("isoaudit report"));
    assert!(!suite.join("docs/test-isolation-audit.md").exists());

    assert_eq!(isoaudit(&suite, &["report"]).status.code(), Some(0));
    let current = isoaudit(&suite, &["report", "--check"]);
    assert_eq!(current.status.code(), Some(0), "{}", stderr(&current));

    let test_file = suite.join("tests/unit/test_enrichment.py");
    let mut source = std::fs::read_to_string(&test_file).unwrap();
    source.push_str(
        "\n\ndef test_writes_shared_scratch():\n    open(\"/tmp/sbir-etl/scratch.txt\", \"w\").write(\"x\")\n",
    );
    std::fs::write(&test_file, source).unwrap();
    let before = report_of(&suite);
    let stale = isoaudit(&suite, &["report", "--check"]);
    assert_eq!(stale.status.code(), Some(1));
    let err = stderr(&stale);
    assert!(err.contains("out of date"), "{err}");
    assert!(err.contains("run `isoaudit report`"), "{err}");
    assert_eq!(report_of(&suite), before, "--check must not write");

    assert_eq!(isoaudit(&suite, &["report"]).status.code(), Some(0));
    assert!(report_of(&suite).contains("test_writes_shared_scratch"));
    assert_eq!(
        isoaudit(&suite, &["report", "--check"]).status.code(),
        Some(0)
    );
}

#[test]
fn config_errors_exit_2_without_writing() {
    let (_tmp, suite) = demo();
    let pyproject = suite.join("pyproject.toml");
    let mut text = std::fs::read_to_string(&pyproject).unwrap();
    text.push_str("\n[tool.isoaudit]\nno-such-key = 1\n");
    std::fs::write(&pyproject, text).unwrap();
    let out = isoaudit(&suite, &["report"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!suite.join("docs").exists());
    let graph = isoaudit(&suite, &["graph"]);
    assert_eq!(graph.status.code(), Some(2));
}

#[test]
fn demo_report_snapshot() {
    let (_tmp, suite) = demo();
    assert_eq!(isoaudit(&suite, &["report"]).status.code(), Some(0));
    insta::assert_snapshot!("demo_report", report_of(&suite));
}

#[test]
fn graph_formats_snapshot() {
    let (_tmp, suite) = demo();
    for (format, name) in [("dot", "graph_dot"), ("mermaid", "graph_mermaid")] {
        let out = isoaudit(&suite, &["graph", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        insta::assert_snapshot!(name, stdout(&out));
    }
    let out = isoaudit(&suite, &["graph", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("graph_json", stdout(&out));
}

#[test]
fn graph_json_is_consistent_and_coloured_by_class() {
    let (_tmp, suite) = demo();
    let out = isoaudit(&suite, &["graph", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    let nodes = v["nodes"].as_array().unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "nodes are sorted by id");
    for e in v["edges"].as_array().unwrap() {
        assert!(ids.contains(&e["from"].as_str().unwrap()));
        assert!(ids.contains(&e["to"].as_str().unwrap()));
    }
    // Test classes agree with the plan.
    let plan = isoaudit(&suite, &["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    for t in plan["tests"].as_array().unwrap() {
        let id = format!("test:{}", t["nodeid"].as_str().unwrap());
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        assert_eq!(node["class"], t["class"], "{id}");
    }
    let clean = nodes
        .iter()
        .find(|n| n["id"] == "fixture:tests/integration/conftest.py::clean_graph")
        .unwrap();
    assert_eq!(clean["class"], "serial");
    assert!(clean["codes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "ISO303"));
}

#[test]
fn graph_test_filter_keeps_what_the_test_reaches() {
    let (_tmp, suite) = demo();
    let nodeid = "tests/integration/test_neo4j_loader.py::test_full_reload";
    let out = isoaudit(
        &suite,
        &[
            "graph",
            "--format",
            "json",
            "--test",
            &format!("{nodeid}[x-1]"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.iter().filter(|i| i.starts_with("test:")).count(), 1);
    for want in [
        "fixture:tests/integration/conftest.py::clean_graph",
        "fixture:tests/integration/conftest.py::neo4j_session",
        "fixture:tests/integration/conftest.py::neo4j_driver",
        "fixture:tests/conftest.py::_test_environment",
    ] {
        assert!(ids.contains(&want), "missing {want}");
    }
    assert!(!ids.contains(&"fixture:tests/integration/conftest.py::loader"));
    let mermaid = isoaudit(&suite, &["graph", "--format", "mermaid", "--test", nodeid]);
    insta::assert_snapshot!("graph_mermaid_one_test", stdout(&mermaid));
}

#[test]
fn graph_resource_filter_connects_tests_to_carriers() {
    let (_tmp, suite) = demo();
    let out = isoaudit(
        &suite,
        &["graph", "--format", "json", "--resource", "port:8765"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "fixture:tests/integration/test_health.py::health_server",
            "test:tests/integration/test_health.py::test_health_ok"
        ]
    );
    assert_eq!(v["edges"].as_array().unwrap().len(), 1);
}

#[test]
fn graph_unknown_filters_are_usage_errors() {
    let (_tmp, suite) = demo();
    let out = isoaudit(
        &suite,
        &["graph", "--test", "tests/unit/test_nope.py::test_x"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no test `tests/unit/test_nope.py::test_x`"));
    assert!(out.stdout.is_empty());
    let out = isoaudit(&suite, &["graph", "--resource", "port:1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("port:8765"), "suggests known keys: {err}");
}

#[test]
fn committed_demo_audit_is_current() {
    // The example in docs/ is generated; regenerate it with the command below.
    // It is checked against a copy laid out like the repository, so that the
    // history a local `isoaudit run fixtures/suites/etl` keeps in the suite
    // cannot change the estimates.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(Path::new(DEMO), &tmp.path().join("fixtures/suites/etl"));
    std::fs::create_dir_all(tmp.path().join("docs")).unwrap();
    std::fs::copy(
        repo.join("docs/test-isolation-audit.md"),
        tmp.path().join("docs/test-isolation-audit.md"),
    )
    .unwrap();
    let out = isoaudit(
        tmp.path(),
        &[
            "report",
            "--check",
            "-o",
            "docs/test-isolation-audit.md",
            "fixtures/suites/etl",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "run `isoaudit report -o docs/test-isolation-audit.md fixtures/suites/etl`: {}",
        stderr(&out)
    );
}
