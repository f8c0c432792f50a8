//! Classification accuracy on the labelled suites (`fixtures/suites/*/
//! expected.json`, written as ground truth independently of the analyser):
//! precision and recall of "needs coordination" and class accuracy must stay
//! at or above the product's targets.

use std::path::PathBuf;
use std::process::Command;

#[derive(Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    right: usize,
    n: usize,
}

#[test]
fn labelled_suites_meet_accuracy_targets() {
    // The suites as committed, not what a `run` on them left behind.
    let shipped = crate::support::Shipped::new(&[]);
    let suites_dir = shipped.root().join("fixtures/suites");
    let mut suites: Vec<PathBuf> = std::fs::read_dir(&suites_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    suites.sort();
    assert!(suites.len() >= 5, "labelled suites missing: {suites:?}");
    let mut total = Counts::default();
    let mut wrong = Vec::new();
    for suite in &suites {
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(suite.join("expected.json")).unwrap())
                .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_isoaudit"))
            .args(["plan", "--format", "json", "--workers", "2"])
            .arg(suite)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: std::collections::HashMap<&str, &str> = plan["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["nodeid"].as_str().unwrap(), t["class"].as_str().unwrap()))
            .collect();
        for (nodeid, label) in expected["tests"].as_object().unwrap() {
            let want = label["class"].as_str().unwrap();
            let have = got.get(nodeid.as_str()).copied().unwrap_or("missing");
            total.n += 1;
            if want == have {
                total.right += 1;
            } else {
                wrong.push(format!(
                    "{}: {nodeid}: label {want}, isoaudit {have}",
                    suite.file_name().unwrap().to_string_lossy()
                ));
            }
            match (want != "parallel", have != "parallel" && have != "missing") {
                (true, true) => total.tp += 1,
                (false, true) => total.fp += 1,
                (true, false) => total.fn_ += 1,
                (false, false) => {}
            }
        }
    }
    let precision = total.tp as f64 / (total.tp + total.fp).max(1) as f64;
    let recall = total.tp as f64 / (total.tp + total.fn_).max(1) as f64;
    let accuracy = total.right as f64 / total.n.max(1) as f64;
    eprintln!(
        "{} labelled tests: precision {precision:.3}, recall {recall:.3}, class accuracy {accuracy:.3}\n{}",
        total.n,
        wrong.join("\n")
    );
    assert!(
        precision >= 0.95,
        "precision {precision:.3} < 0.95:\n{}",
        wrong.join("\n")
    );
    assert!(
        recall >= 0.90,
        "recall {recall:.3} < 0.90:\n{}",
        wrong.join("\n")
    );
    assert!(
        accuracy >= 0.90,
        "class accuracy {accuracy:.3} < 0.90:\n{}",
        wrong.join("\n")
    );
}
