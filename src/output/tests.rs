//! Snapshots of every format over one small hand-built set of findings, and
//! checks that hold whatever the snapshots say: schemas, positions that
//! point at the right text, escaping, and no panic on positions that do not
//! fit the source.

use std::sync::Arc;

use super::*;
use crate::diagnostic::{sort_findings, Edit, Fix, Location, Severity};

const CONFTEST: &str =
    "import pytest\n\n\n@pytest.fixture\ndef etl_dir():\n    return \"/tmp/sbir-etl\"\n";

const TEST_X: &str = "import os\n\nimport pytest\n\n\ndef test_a(etl_dir):\n    os.environ[\"MODE\"] = \"fast\"\n\n\ndef test_données():\n    path = \"/tmp/données/é.txt\"\n\n\n@pytest.mark.isolation\ndef test_b():\n    assert True\n\n\n@pytest.mark.serial\ndef test_c():\n    serve(port=8765)\n";

const BROKEN: &str = "def test_broken(\n";

/// A path whose source is missing from the map, with the characters that
/// GitHub properties and URIs must escape.
const GONE: &str = "tests/legacy:v2/test_gone, old.py";

/// 1-based (line, character column) of byte offset `at` in `src`.
fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, src[line_start..at].chars().count() + 1)
}

/// Location and byte range of the first occurrence of `needle`.
fn span_of(src: &str, needle: &str) -> (Location, (usize, usize)) {
    let start = src
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in fixture"));
    let end = start + needle.len();
    let (line, column) = line_col(src, start);
    let (end_line, end_column) = line_col(src, end);
    (
        Location {
            line,
            column,
            end_line,
            end_column,
        },
        (start, end),
    )
}

fn edit(src: &str, needle: &str, content: &str) -> Edit {
    let (loc, (start, end)) = span_of(src, needle);
    Edit {
        start,
        end,
        line: loc.line,
        column: loc.column,
        end_line: loc.end_line,
        end_column: loc.end_column,
        content: content.to_string(),
    }
}

fn insertion_after(src: &str, needle: &str, content: &str) -> Edit {
    let (loc, (_, end)) = span_of(src, needle);
    Edit {
        start: end,
        end,
        line: loc.end_line,
        column: loc.end_column,
        end_line: loc.end_line,
        end_column: loc.end_column,
        content: content.to_string(),
    }
}

fn finding(code: &str, path: &str, src: &str, needle: &str, message: &str) -> Finding {
    let (loc, range) = span_of(src, needle);
    let mut f = Finding::new(code, path, loc, message);
    f.byte_range = range;
    f
}

fn sources() -> SourceMap {
    [
        ("tests/conftest.py", CONFTEST),
        ("tests/test_x.py", TEST_X),
        ("tests/test_broken.py", BROKEN),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), Arc::<str>::from(s)))
    .collect()
}

fn findings() -> Vec<Finding> {
    let mut out = Vec::new();

    let mut f = finding(
        "ISO101",
        "tests/conftest.py",
        CONFTEST,
        "\"/tmp/sbir-etl\"",
        "fixture `etl_dir` returns the fixed path /tmp/sbir-etl, shared by every xdist worker",
    );
    f.test = Some("tests/test_x.py::test_a".into());
    f.fixture = Some("tests/conftest.py::etl_dir".into());
    f.resource = Some("path:/tmp/sbir-etl".into());
    f.chain = vec![
        "tests/test_x.py::test_a".into(),
        "tests/conftest.py::etl_dir".into(),
    ];
    f.help = Some("build the path from `tmp_path` or `tmp_path_factory`".into());
    out.push(f);

    let mut f = finding(
        "ISO401",
        "tests/test_x.py",
        TEST_X,
        "os.environ[\"MODE\"] = \"fast\"",
        "test writes os.environ[\"MODE\"] without restoring it: 100% leaks to later tests, on the same worker",
    );
    f.severity = Severity::Warning;
    f.test = Some("tests/test_x.py::test_a".into());
    f.resource = Some("env:MODE".into());
    f.chain = vec!["tests/test_x.py::test_a".into()];
    f.help = Some("use `monkeypatch.setenv(\"MODE\", \"fast\")`".into());
    out.push(f);

    let mut f = finding(
        "ISO101",
        "tests/test_x.py",
        TEST_X,
        "\"/tmp/données/é.txt\"",
        "test writes the fixed path /tmp/données/é.txt, shared by every xdist worker",
    );
    f.test = Some("tests/test_x.py::test_données".into());
    f.resource = Some("path:/tmp/données/é.txt".into());
    f.chain = vec!["tests/test_x.py::test_données".into()];
    f.help = Some("build the path from `tmp_path`".into());
    out.push(f);

    let mut f = finding(
        "ISO501",
        "tests/test_x.py",
        TEST_X,
        "@pytest.mark.isolation",
        "isolation marker on `test_b`, which has no hazard",
    );
    f.severity = Severity::Warning;
    f.test = Some("tests/test_x.py::test_b".into());
    f.chain = vec!["tests/test_x.py::test_b".into()];
    f.help = Some("remove the marker so the test runs in parallel".into());
    f.fix = Some(Fix {
        message: "Remove `@pytest.mark.isolation`".into(),
        applicability: Applicability::Unsafe,
        edits: vec![edit(TEST_X, "@pytest.mark.isolation\n", "")],
    });
    out.push(f);

    let mut f = finding(
        "ISO502",
        "tests/test_x.py",
        TEST_X,
        "@pytest.mark.serial",
        "serial marker on `test_c` has no reason; its hazard is port:8765",
    );
    f.severity = Severity::Warning;
    f.test = Some("tests/test_x.py::test_c".into());
    f.resource = Some("port:8765".into());
    f.chain = vec!["tests/test_x.py::test_c".into()];
    f.help = Some("say why, or bind port 0 and drop the marker".into());
    f.fix = Some(Fix {
        message: "Add `reason=\"port:8765\"`".into(),
        applicability: Applicability::Safe,
        edits: vec![insertion_after(
            TEST_X,
            "@pytest.mark.serial",
            "(reason=\"port:8765\")",
        )],
    });
    out.push(f);

    // A parse error reported at end of file: an empty span past the last line.
    let (line, column) = line_col(BROKEN, BROKEN.len());
    let loc = Location {
        line,
        column,
        end_line: line,
        end_column: column,
    };
    let mut f = Finding::new(
        "ISO001",
        "tests/test_broken.py",
        loc,
        "syntax error: unexpected end of file",
    );
    f.byte_range = (BROKEN.len(), BROKEN.len());
    out.push(f);

    // The source is not in the map (unreadable, say): still rendered.
    let loc = Location {
        line: 3,
        column: 1,
        end_line: 3,
        end_column: 9,
    };
    let mut f = Finding::new("ISO003", GONE, loc, "fixture `db` could not be resolved");
    f.severity = Severity::Info;
    f.byte_range = (20, 28);
    f.test = Some(format!("{GONE}::test_old"));
    f.chain = vec![format!("{GONE}::test_old"), "db".into()];
    out.push(f);

    sort_findings(&mut out);
    out
}

fn rules(code: &str) -> Option<RuleInfo> {
    let (name, summary) = match code {
        "ISO001" => ("syntax-error", "A file that does not parse."),
        "ISO101" => (
            "hardcoded-shared-path",
            "A fixed filesystem path that every worker shares.",
        ),
        "ISO401" => (
            "environ-write",
            "os.environ written without monkeypatch or restore.",
        ),
        "ISO501" => (
            "needless-isolation-marker",
            "An isolation marker on a test with no hazard.",
        ),
        "ISO502" => (
            "isolation-marker-without-reason",
            "An isolation marker with a hazard but no reason.",
        ),
        _ => return None,
    };
    Some(RuleInfo {
        name: name.into(),
        summary: summary.into(),
        url: Some(format!("https://isoaudit.invalid/rules/{code}")),
    })
}

fn opts(format: OutputFormat) -> OutputOptions<'static> {
    OutputOptions {
        tool_version: "0.0.0-test",
        rules: &rules,
        ..OutputOptions::new(format)
    }
}

fn render(findings: &[Finding], opts: &OutputOptions) -> String {
    let summary = Summary {
        files: 4,
        tests: 5,
        findings: 999,
        parse_errors: 1,
    };
    let mut out = Vec::new();
    print_findings(&mut out, findings, &sources(), &summary, opts).expect("rendering failed");
    String::from_utf8(out).expect("output is not UTF-8")
}

fn render_json(findings: &[Finding], format: OutputFormat) -> serde_json::Value {
    let text = render(findings, &opts(format));
    assert!(text.ends_with("}\n"), "no trailing newline: {text:?}");
    serde_json::from_str(&text).expect("output is not JSON")
}

const ALL_FORMATS: [OutputFormat; 6] = [
    OutputFormat::Full,
    OutputFormat::Concise,
    OutputFormat::Json,
    OutputFormat::Github,
    OutputFormat::Sarif,
    OutputFormat::Rdjson,
];

// ---- snapshots -----------------------------------------------------------

#[test]
fn full_snapshot() {
    insta::assert_snapshot!(render(&findings(), &opts(OutputFormat::Full)));
}

#[test]
fn full_with_fixes_snapshot() {
    let o = OutputOptions {
        show_fixes: true,
        ..opts(OutputFormat::Full)
    };
    insta::assert_snapshot!(render(&findings(), &o));
}

#[test]
fn concise_snapshot() {
    insta::assert_snapshot!(render(&findings(), &opts(OutputFormat::Concise)));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(render(&findings(), &opts(OutputFormat::Json)));
}

#[test]
fn github_snapshot() {
    insta::assert_snapshot!(render(&findings(), &opts(OutputFormat::Github)));
}

#[test]
fn sarif_snapshot() {
    insta::assert_snapshot!(render(&findings(), &opts(OutputFormat::Sarif)));
}

#[test]
fn rdjson_snapshot() {
    insta::assert_snapshot!(render(&findings(), &opts(OutputFormat::Rdjson)));
}

#[test]
fn statistics_snapshot() {
    let o = OutputOptions {
        statistics: true,
        ..opts(OutputFormat::Full)
    };
    insta::assert_snapshot!(render(&findings(), &o));
}

#[test]
fn statistics_json_snapshot() {
    let o = OutputOptions {
        statistics: true,
        ..opts(OutputFormat::Json)
    };
    insta::assert_snapshot!(render(&findings(), &o));
}

#[test]
fn config_error_snapshot() {
    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("unknown key `worker` in [tool.isoaudit.scheduler]")]
    #[diagnostic(code(isoaudit::config), help("did you mean `workers`?"))]
    struct UnknownKey {
        #[source_code]
        src: miette::NamedSource<String>,
        #[label("not a scheduler key")]
        span: miette::SourceSpan,
    }
    let toml = "[tool.isoaudit]\nselect = [\"ISO1\"]\n\n[tool.isoaudit.scheduler]\nworker = 4\n";
    let start = toml.find("worker =").expect("fixture");
    let err = UnknownKey {
        src: miette::NamedSource::new("pyproject.toml", toml.to_string()),
        span: (start, "worker".len()).into(),
    };
    let mut out = Vec::new();
    print_error(&mut out, &err, false).expect("rendering failed");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(text.contains("pyproject.toml:5:1"), "{text}");
    insta::assert_snapshot!(text);
}

// ---- closing line and empty runs ------------------------------------------

#[test]
fn empty_run_says_all_checks_passed() {
    for format in [OutputFormat::Full, OutputFormat::Concise] {
        assert_eq!(render(&[], &opts(format)), "All checks passed!\n");
    }
    let json = render_json(&[], OutputFormat::Json);
    assert_eq!(json["findings"], serde_json::json!([]));
    assert_eq!(json["summary"]["findings"], 0);
    let rd = render_json(&[], OutputFormat::Rdjson);
    assert_eq!(rd["diagnostics"], serde_json::json!([]));
    assert!(
        rd.get("severity").is_none(),
        "no overall severity without findings"
    );
    let sarif = render_json(&[], OutputFormat::Sarif);
    assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(render(&[], &opts(OutputFormat::Github)), "");
}

#[test]
fn closing_line_counts_fixes_by_safety() {
    let all = findings();
    let safe = all.iter().filter(|f| has_safe_fix(f)).count();
    let unsafe_ = all
        .iter()
        .filter(|f| f.fix.is_some() && !has_safe_fix(f))
        .count();
    assert_eq!((safe, unsafe_), (1, 1), "fixture changed");
    assert_eq!(
        closing_line(&all),
        format!(
            "Found {} findings (1 fixable with --fix, 1 more with --fix --unsafe-fixes).",
            all.len()
        )
    );
    assert_eq!(closing_line(&all[..1]), "Found 1 finding.");
}

// ---- colour -----------------------------------------------------------------

#[test]
fn colour_only_when_asked() {
    let plain = render(&findings(), &opts(OutputFormat::Full));
    assert!(!plain.contains('\u{1b}'), "escape codes without colour");
    let box_drawing = |s: &str| s.chars().any(|c| ('\u{2500}'..='\u{257f}').contains(&c));
    assert!(!box_drawing(&plain), "unicode drawing without colour");
    let coloured = render(
        &findings(),
        &OutputOptions {
            color: true,
            ..opts(OutputFormat::Full)
        },
    );
    assert!(coloured.contains("\u{1b}["), "no escape codes with colour");
    assert!(box_drawing(&coloured), "no unicode drawing with colour");
}

// ---- positions point at the right text --------------------------------------

/// The text a 1-based line/column range covers, columns counted by `unit`.
fn slice_by(src: &str, line: u64, col: u64, end_col: u64, bytes: bool) -> String {
    let text = src.lines().nth(line as usize - 1).expect("line exists");
    let (a, b) = ((col - 1) as usize, (end_col - 1) as usize);
    if bytes {
        text[a..b].to_string()
    } else {
        text.chars().skip(a).take(b - a).collect()
    }
}

#[test]
fn rdjson_columns_are_utf8_bytes_and_sarif_columns_are_chars() {
    let srcs = sources();
    let all = findings();
    let rd = render_json(&all, OutputFormat::Rdjson);
    let sarif = render_json(&all, OutputFormat::Sarif);
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let diags = rd["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags.len(), all.len());
    let mut checked = 0;
    for ((f, d), r) in all.iter().zip(diags).zip(results) {
        let Some(src) = srcs.get(&f.path) else {
            continue;
        };
        if f.line != f.end_line || f.byte_range.0 == f.byte_range.1 {
            continue;
        }
        let expected = &src[f.byte_range.0..f.byte_range.1];
        let range = &d["location"]["range"];
        let got = slice_by(
            src,
            range["start"]["line"].as_u64().expect("line"),
            range["start"]["column"].as_u64().expect("column"),
            range["end"]["column"].as_u64().expect("end column"),
            true,
        );
        assert_eq!(got, expected, "rdjson range of {}", f.code);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        let got = slice_by(
            src,
            region["startLine"].as_u64().expect("line"),
            region["startColumn"].as_u64().expect("column"),
            region["endColumn"].as_u64().expect("end column"),
            false,
        );
        assert_eq!(got, expected, "sarif region of {}", f.code);
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} findings checked");
    // The unicode line is where bytes and characters differ.
    let uni = all
        .iter()
        .position(|f| f.message.contains("données"))
        .expect("fixture");
    assert_ne!(
        diags[uni]["location"]["range"]["end"]["column"],
        results[uni]["locations"][0]["physicalLocation"]["region"]["endColumn"]
    );
}

// ---- GitHub escaping --------------------------------------------------------

#[test]
fn github_escapes_data_and_properties() {
    assert_eq!(github::escape_data("100%\r\ndone"), "100%25%0D%0Adone");
    assert_eq!(github::escape_property("a:b,c%d\ne"), "a%3Ab%2Cc%25d%0Ae");
    let mut f = findings().remove(0);
    f.message = "two\nlines, 50%: done".into();
    let out = render(&[f], &opts(OutputFormat::Github));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.ends_with("::ISO101 two%0Alines, 50%25: done\n"),
        "{out}"
    );
}

#[test]
fn github_file_property_escapes_separators() {
    let out = render(&findings(), &opts(OutputFormat::Github));
    let gone = out
        .lines()
        .find(|l| l.contains("ISO003"))
        .expect("ISO003 line");
    assert!(gone.starts_with("::notice "), "{gone}");
    assert!(
        gone.contains("file=tests/legacy%3Av2/test_gone%2C old.py,"),
        "{gone}"
    );
}

#[test]
fn sarif_uris_are_relative_and_encoded() {
    assert_eq!(
        sarif::path_to_uri("tests/legacy:v2/a b%é.py"),
        "tests/legacy%3Av2/a%20b%25%C3%A9.py"
    );
}

// ---- schemas ----------------------------------------------------------------

fn schema_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas")
}

fn load_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn assert_valid(schema: &serde_json::Value, instance: &serde_json::Value, what: &str) {
    let validator = jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("the {what} schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} output violates its schema:\n{}",
        errors.join("\n")
    );
}

/// Every document each test feeds a schema: the full fixture, the empty
/// run, and findings whose positions do not fit.
fn documents(format: OutputFormat) -> Vec<serde_json::Value> {
    vec![
        render_json(&findings(), format),
        render_json(&[], format),
        render_json(&misfits(), format),
    ]
}

#[test]
fn json_matches_its_schema() {
    let schema = load_json(&schema_dir().join("isoaudit-check.schema.json"));
    for doc in documents(OutputFormat::Json) {
        assert_valid(&schema, &doc, "json");
    }
    // The schema must be able to fail: a finding without a code is rejected.
    let mut bad = render_json(&findings(), OutputFormat::Json);
    bad["findings"][0]
        .as_object_mut()
        .expect("object")
        .remove("code");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn rdjson_matches_its_schema() {
    let schema = load_json(&schema_dir().join("rdjson.schema.json"));
    for doc in documents(OutputFormat::Rdjson) {
        assert_valid(&schema, &doc, "rdjson");
    }
    let mut bad = render_json(&findings(), OutputFormat::Rdjson);
    bad["diagnostics"][0]["location"]["range"]["start"]["line"] = serde_json::json!(0);
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    assert!(!validator.is_valid(&bad));
}

/// Validates against the official OASIS SARIF 2.1.0 schema, which the test
/// script installs from a package and names in `ISOAUDIT_SARIF_SCHEMA`.
/// In CI a missing schema is a failure; elsewhere the structural checks
/// below still run and the gap is reported on stderr.
#[test]
fn sarif_matches_the_official_schema() {
    let docs = documents(OutputFormat::Sarif);
    for doc in &docs {
        assert_eq!(doc["version"], "2.1.0");
        let run = &doc["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "isoaudit");
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        for result in run["results"].as_array().expect("results") {
            let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            assert!(result["message"]["text"].is_string());
            let loc = &result["locations"][0]["physicalLocation"];
            assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
            assert!(!loc["artifactLocation"]["uri"]
                .as_str()
                .expect("uri")
                .starts_with('/'));
        }
    }
    match std::env::var_os("ISOAUDIT_SARIF_SCHEMA") {
        Some(path) => {
            let schema = load_json(std::path::Path::new(&path));
            for doc in &docs {
                assert_valid(&schema, doc, "sarif");
            }
            // The schema must be able to fail, at the top and deep down.
            let validator = jsonschema::validator_for(&schema).expect("compiles");
            let mut bad = docs[0].clone();
            bad["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
            assert!(!validator.is_valid(&bad));
            let mut bad = docs[0].clone();
            bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
                ["startColumn"] = serde_json::json!(0);
            assert!(!validator.is_valid(&bad));
        }
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but ISOAUDIT_SARIF_SCHEMA is unset: install the SARIF schema package")
        }
        None => eprintln!(
            "ISOAUDIT_SARIF_SCHEMA unset: SARIF checked structurally only, not against the official schema"
        ),
    }
}

// ---- robustness ---------------------------------------------------------------

/// Findings whose positions do not fit their source: past EOF, inside a
/// multi-byte char, reversed, line 0, an edit without a line.
fn misfits() -> Vec<Finding> {
    let loc = |line, column, end_line, end_column| Location {
        line,
        column,
        end_line,
        end_column,
    };
    let mut out = Vec::new();
    let mut f = Finding::new("ISO101", "tests/test_x.py", loc(99, 1, 99, 5), "past EOF");
    f.byte_range = (10_000, 20_000);
    out.push(f);
    let e_acute = TEST_X.find('é').expect("fixture");
    let mut f = Finding::new("ISO101", "tests/test_x.py", loc(11, 20, 11, 19), "mid-char");
    f.byte_range = (e_acute + 1, e_acute - 3);
    f.fix = Some(Fix {
        message: "bad edit".into(),
        applicability: Applicability::Safe,
        edits: vec![Edit {
            start: e_acute + 1,
            end: 1_000_000,
            line: 0,
            column: 0,
            end_line: 0,
            end_column: 0,
            content: "x".into(),
        }],
    });
    out.push(f);
    let f = Finding::new("ISO002", "tests/conftest.py", loc(0, 0, 0, 0), "file-level");
    out.push(f);
    sort_findings(&mut out);
    out
}

#[test]
fn positions_that_do_not_fit_never_panic() {
    for format in ALL_FORMATS {
        for show_fixes in [false, true] {
            let o = OutputOptions {
                show_fixes,
                ..opts(format)
            };
            let out = render(&misfits(), &o);
            assert!(out.contains("ISO002"), "{format:?} lost a finding:\n{out}");
        }
    }
    let sarif = render_json(&misfits(), OutputFormat::Sarif);
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let file_level = results
        .iter()
        .find(|r| r["ruleId"] == "ISO002")
        .expect("ISO002");
    assert!(file_level["locations"][0]["physicalLocation"]
        .get("region")
        .is_none());
}

#[test]
fn missing_source_still_names_the_location() {
    let out = render(&findings(), &opts(OutputFormat::Full));
    assert!(out.contains(&format!("{GONE}:3:1: fixture `db` could not be resolved")));
}

#[test]
fn clamp_span_respects_char_boundaries() {
    let src = "aé";
    assert_eq!(text::clamp_span(src, (2, 2)), (1, 3));
    assert_eq!(text::clamp_span(src, (0, 2)), (0, 3));
    assert_eq!(text::clamp_span(src, (5, 1)), (3, 3));
    assert_eq!(text::byte_column(src, 1, 3), Some(4));
    assert_eq!(text::byte_column(src, 1, 5), Some(6));
    assert_eq!(text::byte_column(src, 2, 1), None);
}

#[test]
fn crlf_sources_render_without_carriage_returns() {
    let src = "import os\r\n\r\ndef test_a():\r\n    os.chdir(\"/\")\r\n";
    let mut f = finding(
        "ISO404",
        "tests/test_crlf.py",
        src,
        "os.chdir(\"/\")",
        "chdir",
    );
    f.chain = vec!["a".into(), "b".into()];
    let sources: SourceMap = [("tests/test_crlf.py".to_string(), Arc::<str>::from(src))]
        .into_iter()
        .collect();
    let mut out = Vec::new();
    print_findings(
        &mut out,
        &[f],
        &sources,
        &Summary::default(),
        &opts(OutputFormat::Full),
    )
    .expect("rendering failed");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(!text.contains('\r'), "{text:?}");
    assert!(text.contains("tests/test_crlf.py:4:5"), "{text}");
    assert!(text.contains("^^^"), "{text}");
}
