//! A tree of hostile files yields findings and exit 1, never a panic
//! (exit 101) or a stack overflow.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

#[test]
fn hostile_tree_gives_findings_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "pytest.ini", b"[pytest]\n");
    write(
        d,
        "tests/test_syntax.py",
        b"def test_ok():\n    open('/tmp/h/x', 'w')\n\ndef broken(:\n    pass\n",
    );
    write(
        d,
        "tests/test_bad_utf8.py",
        b"x = '\xff\xfe'\ndef test_a():\n    pass\n",
    );
    write(
        d,
        "tests/test_unknown_encoding.py",
        b"# -*- coding: klingon -*-\ndef test_a():\n    pass\n",
    );
    write(
        d,
        "tests/test_latin1.py",
        b"# -*- coding: latin-1 -*-\ns = '\xe9'\ndef test_a():\n    pass\n",
    );
    write(
        d,
        "tests/test_bom.py",
        b"\xEF\xBB\xBFdef test_bom():\n    pass\n",
    );
    write(d, "tests/test_nul.py", b"def test_a():\n    x = 1\x00\n");
    write(d, "tests/test_empty.py", b"");
    write(
        d,
        "tests/test_crlf.py",
        b"def test_a():\r\n    open('/tmp/crlf', 'w')\r\n",
    );
    write(d, "tests/test_lone_cr.py", b"def test_a():\r    pass\r");
    let long_line = format!(
        "X = '{}'\ndef test_long():\n    pass\n",
        "a".repeat(2_000_000)
    );
    write(d, "tests/test_long_line.py", long_line.as_bytes());
    let depth = 30_000;
    let nested = format!(
        "X = {}1{}\ndef test_deep():\n    pass\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    write(d, "tests/test_deep_brackets.py", nested.as_bytes());
    let parens = format!(
        "def test_parens():\n    y = {}0{}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    write(d, "tests/test_deep_parens.py", parens.as_bytes());
    let calls = format!(
        "def test_calls():\n    f{}\n",
        "(x".repeat(5_000) + &")".repeat(5_000)
    );
    write(d, "tests/test_deep_calls.py", calls.as_bytes());
    write(
        d,
        "tests/test_binary.py",
        &(0u8..=255).cycle().take(4096).collect::<Vec<u8>>(),
    );
    fs::create_dir_all(d.join("tests/test_dir.py")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(d.join("nowhere.py"), d.join("tests/test_dangling.py")).unwrap();
        std::os::unix::fs::symlink(d.join("tests/loop"), d.join("tests/loop/inner")).ok();
        fs::create_dir_all(d.join("tests/loopdir")).unwrap();
        std::os::unix::fs::symlink(d.join("tests/loopdir"), d.join("tests/loopdir/again")).unwrap();
    }

    let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .current_dir(d)
        .args(["check", "--output-format", "json"])
        .arg(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: BTreeSet<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (path, code) in [
        ("tests/test_syntax.py", "ISO001"),
        ("tests/test_syntax.py", "ISO101"),
        ("tests/test_bad_utf8.py", "ISO003"),
        ("tests/test_unknown_encoding.py", "ISO003"),
        ("tests/test_nul.py", "ISO001"),
        ("tests/test_crlf.py", "ISO101"),
        ("tests/test_deep_brackets.py", "ISO006"),
        ("tests/test_deep_calls.py", "ISO006"),
        ("tests/test_binary.py", "ISO003"),
        ("tests/loopdir/again", "ISO002"),
    ] {
        assert!(
            found.contains(&(path.to_string(), code.to_string())),
            "expected {code} on {path}; got {found:#?}"
        );
    }
    for clean in [
        "tests/test_latin1.py",
        "tests/test_bom.py",
        "tests/test_empty.py",
        "tests/test_lone_cr.py",
        "tests/test_long_line.py",
        // Redundant parentheses leave no nesting in the tree.
        "tests/test_deep_parens.py",
    ] {
        assert!(
            !found.iter().any(|(p, _)| p == clean),
            "{clean} should analyse cleanly: {found:#?}"
        );
    }
    // Tests in files that parsed are still collected.
    assert!(json["summary"]["tests"].as_u64().unwrap() >= 8);
}

/// Project code that recurses (mutually recursive teardown helpers and
/// methods), deep call chains and a module of 10,000 functions: the
/// summaries stay bounded and the run ends with findings, never a crash.
#[test]
fn recursive_and_huge_project_code_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "pytest.ini", b"[pytest]\n");
    write(d, "app/__init__.py", b"");
    let mut chain = String::new();
    for i in 0..10_000 {
        chain.push_str(&format!("def step{i}():\n    return step{}()\n\n", i + 1));
    }
    chain.push_str("def step10000():\n    open('/tmp/chain-end', 'w')\n");
    write(d, "app/chain.py", chain.as_bytes());
    write(
        d,
        "app/nodes.py",
        b"class Node:\n    items = []\n\n    def grow(self):\n        self.items.append(1)\n        self.shrink()\n\n    def shrink(self):\n        self.grow()\n",
    );
    write(
        d,
        "tests/test_rec.py",
        b"import pytest\nfrom app.chain import step0\nfrom app.nodes import Node\n\n\ndef close_all():\n    try:\n        pass\n    finally:\n        close_again()\n\n\ndef close_again():\n    try:\n        pass\n    finally:\n        close_all()\n\n\n@pytest.fixture\ndef conn():\n    yield 1\n    close_all()\n\n\ndef test_conn(conn):\n    assert conn == 1\n\n\ndef test_chain():\n    step0()\n\n\ndef test_grow():\n    Node().grow()\n\n\ndef test_items():\n    assert Node.items == []\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
        .current_dir(d)
        .args(["plan", "--format", "json"])
        .arg(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let class = |name: &str| {
        plan["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["nodeid"].as_str().unwrap().ends_with(name))
            .map(|t| t["class"].as_str().unwrap().to_string())
            .unwrap()
    };
    // The recursive method still reports what it changes: Node.items,
    // which another test reads.
    assert_eq!(class("::test_grow"), "order-risk");
    assert_eq!(class("::test_items"), "order-risk");
    assert_eq!(class("::test_conn"), "parallel");
}
