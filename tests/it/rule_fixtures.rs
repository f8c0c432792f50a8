//! Every rule has a doc and a fixture; every fixture's `# expect: CODE`
//! lines fire exactly, and nothing else does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use isoaudit::rules::registry::RULES;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/CODE.py`, or `fixtures/CODE/` for rules that need a project.
fn fixture_of(code: &str) -> Option<PathBuf> {
    let file = repo().join("fixtures").join(format!("{code}.py"));
    if file.is_file() {
        return Some(file);
    }
    let dir = repo().join("fixtures").join(code);
    dir.is_dir().then_some(dir)
}

/// Files that can carry `# expect:` comments: Python sources and the
/// configuration files a finding can point at. Symlinks are not followed, so a
/// fixture may hold a symlink loop.
fn expectation_files(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| ["py", "toml", "ini", "cfg"].iter().any(|ext| x == *ext))
        })
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// (file name, line) pairs marked `# expect: CODE` (several codes may be
/// listed), plus `# expect-at: NAME:LINE CODE` for paths that cannot hold a
/// comment (a symlink loop).
fn expected(fixture: &Path, code: &str) -> BTreeSet<(String, usize)> {
    let mut out = BTreeSet::new();
    for f in expectation_files(fixture) {
        // Lossy: an undecodable source (ISO003) still carries its comment.
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for (i, line) in text.lines().enumerate() {
            if let Some(pos) = line.find("# expect:") {
                let codes = &line[pos + 9..];
                if codes.split([',', ' ']).any(|c| c.trim() == code) {
                    out.insert((name.clone(), i + 1));
                }
            }
            if let Some(pos) = line.find("# expect-at:") {
                let mut parts = line[pos + 12..].split_whitespace();
                if let (Some(at), Some(c)) = (parts.next(), parts.next()) {
                    if c == code {
                        let (other, at_line) = at.rsplit_once(':').expect("NAME:LINE");
                        out.insert((other.to_string(), at_line.parse().expect("line number")));
                    }
                }
            }
        }
    }
    out
}

fn actual(fixture: &Path, code: &str) -> (BTreeSet<(String, usize)>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .env("ISOAUDIT_TEST_PANIC_ON_FILE", "test_panics.py")
        .args([
            "check",
            "--output-format",
            "json",
            "--exit-zero",
            "--select",
            code,
        ])
        .arg(fixture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "isoaudit failed on {}: {}",
        fixture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got = BTreeSet::new();
    for f in json["findings"].as_array().unwrap() {
        assert_eq!(f["code"], code);
        let path = f["path"].as_str().unwrap();
        let name = path.rsplit('/').next().unwrap().to_string();
        got.insert((name, f["line"].as_u64().unwrap() as usize));
    }
    (got, json)
}

#[test]
fn every_rule_has_doc_and_fixture() {
    let mut missing = Vec::new();
    for r in RULES {
        if !repo()
            .join("rules")
            .join(format!("{}.md", r.code))
            .is_file()
        {
            missing.push(format!("rules/{}.md", r.code));
        }
        if fixture_of(r.code).is_none() {
            missing.push(format!("fixtures/{}.py", r.code));
        }
        if r.doc.contains("TODO") {
            missing.push(format!("rules/{}.md is a placeholder", r.code));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:#?}");
}

#[test]
fn fixtures_fire_exactly_where_expected() {
    let mut failures = Vec::new();
    let mut snapshot = String::new();
    for r in RULES {
        let Some(fixture) = fixture_of(r.code) else {
            continue;
        };
        let want = expected(&fixture, r.code);
        let (got, json) = actual(&fixture, r.code);
        if want.is_empty() {
            failures.push(format!(
                "{}: fixture has no `# expect: {}` line",
                r.code, r.code
            ));
        }
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        if !missing.is_empty() || !extra.is_empty() {
            failures.push(format!(
                "{}: missing {missing:?}, unexpected {extra:?}",
                r.code
            ));
        }
        for f in json["findings"].as_array().unwrap() {
            snapshot.push_str(&format!(
                "{}:{}:{} {} {}\n",
                f["path"].as_str().unwrap(),
                f["line"],
                f["column"],
                f["code"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    insta::assert_snapshot!("rule_fixture_messages", snapshot);
}
