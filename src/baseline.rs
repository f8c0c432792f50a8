//! Baselines for gradual adoption: `check --write-baseline FILE` records the
//! findings a suite has today, `check --baseline FILE` reports only the ones
//! it does not hold and counts the known ones left and the ones fixed.
//!
//! A finding is known by its fingerprint: rule code, project-relative path,
//! test, fixture and resource key. Line and column are left out, so moving
//! code (an import added above it) keeps a finding known; its message is
//! left out too, so rewording a message in a new isoaudit version does not
//! make every finding new. Equal fingerprints are counted: a baseline with
//! two `ISO401 env:MODE` in one test lets two through, and a third is new.
//!
//! Owns the file format (versioned JSON, sorted, written atomically); knows
//! nothing of how findings are printed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diagnostic::Finding;

/// The format version this isoaudit writes and reads.
pub const VERSION: u32 = 1;

/// What makes a finding the same finding after the code around it moved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint {
    pub code: String,
    /// Relative to the project root, `/`-separated.
    pub path: String,
    pub test: Option<String>,
    pub fixture: Option<String>,
    pub resource: Option<String>,
}

impl Fingerprint {
    pub fn of(f: &Finding) -> Self {
        Fingerprint {
            code: f.code.clone(),
            path: f.path.clone(),
            test: f.test.clone(),
            fixture: f.fixture.clone(),
            resource: f.resource.clone(),
        }
    }

    /// One line for people: `ISO101 tests/conftest.py etl_dir path:/tmp/x`.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.code.clone(), self.path.clone()];
        let where_ = self
            .test
            .as_deref()
            .map(|t| t.rsplit("::").next().unwrap_or(t))
            .or(self.fixture.as_deref());
        parts.extend(where_.map(str::to_string));
        parts.extend(self.resource.clone());
        parts.join(" ")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    fingerprint: Fingerprint,
    count: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    findings: Vec<Entry>,
}

/// The known findings, counted by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    known: BTreeMap<Fingerprint, usize>,
}

/// Why a baseline file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read the baseline `{path}`: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not an isoaudit baseline: {reason}; write it again with `isoaudit check --write-baseline {path}`")]
    Invalid { path: String, reason: String },
    #[error("the baseline `{path}` has format version {found}; this isoaudit reads version {VERSION}: write it again with `isoaudit check --write-baseline {path}`")]
    Version { path: String, found: u64 },
}

/// What a baseline leaves of a run's findings.
#[derive(Debug, Default)]
pub struct Partition {
    /// Findings the baseline does not hold, in their original order.
    pub new: Vec<Finding>,
    /// Findings the baseline holds.
    pub known: usize,
    /// Baselined findings no longer found, sorted, one per occurrence.
    pub fixed: Vec<Fingerprint>,
}

impl Baseline {
    pub fn from_findings(findings: &[Finding]) -> Self {
        let mut known = BTreeMap::new();
        for f in findings {
            *known.entry(Fingerprint::of(f)).or_insert(0) += 1;
        }
        Baseline { known }
    }

    pub fn len(&self) -> usize {
        self.known.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The file's text: sorted by fingerprint, so equal findings give equal
    /// bytes whatever order they were found in.
    pub fn to_json(&self) -> String {
        let file = File {
            version: VERSION,
            findings: self
                .known
                .iter()
                .map(|(fingerprint, &count)| Entry {
                    fingerprint: fingerprint.clone(),
                    count,
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("a baseline serialises");
        text.push('\n');
        text
    }

    /// Parses a baseline's text; `shown` names the file in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Self, BaselineError> {
        let invalid = |reason: String| BaselineError::Invalid {
            path: shown.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        match value.get("version").map(serde_json::Value::as_u64) {
            Some(Some(v)) if v == u64::from(VERSION) => {}
            Some(Some(found)) => {
                return Err(BaselineError::Version {
                    path: shown.to_string(),
                    found,
                })
            }
            _ => return Err(invalid("no `version` number".into())),
        }
        let file: File = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        let mut known = BTreeMap::new();
        for entry in file.findings {
            if entry.count == 0 {
                return Err(invalid(format!(
                    "`{}` has count 0",
                    entry.fingerprint.describe()
                )));
            }
            *known.entry(entry.fingerprint).or_insert(0) += entry.count;
        }
        Ok(Baseline { known })
    }

    pub fn load(path: &Path, shown: &str) -> Result<Self, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Unreadable {
            path: shown.to_string(),
            source,
        })?;
        Self::parse(&text, shown)
    }

    /// Splits `findings` (sorted) into the new ones and the known ones. When
    /// a fingerprint occurs more often than the baseline counts, the later
    /// occurrences are the new ones.
    pub fn partition(&self, findings: &[Finding]) -> Partition {
        let mut left = self.known.clone();
        let mut out = Partition::default();
        for f in findings {
            match left.get_mut(&Fingerprint::of(f)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    out.known += 1;
                }
                _ => out.new.push(f.clone()),
            }
        }
        for (fingerprint, n) in left {
            out.fixed.extend(std::iter::repeat_n(fingerprint, n));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Location;

    fn finding(code: &str, path: &str, line: usize, test: &str, resource: &str) -> Finding {
        let loc = Location {
            line,
            column: 1,
            end_line: line,
            end_column: 2,
        };
        let mut f = Finding::new(code, path, loc, "message");
        f.test = Some(test.to_string());
        f.resource = Some(resource.to_string());
        f
    }

    #[test]
    fn lines_do_not_matter_and_counts_do() {
        let before = vec![
            finding(
                "ISO401",
                "tests/test_a.py",
                3,
                "tests/test_a.py::t",
                "env:MODE",
            ),
            finding(
                "ISO401",
                "tests/test_a.py",
                9,
                "tests/test_a.py::t",
                "env:MODE",
            ),
            finding(
                "ISO101",
                "tests/test_a.py",
                5,
                "tests/test_a.py::u",
                "path:/tmp/x",
            ),
        ];
        let base = Baseline::from_findings(&before);
        assert_eq!(base.len(), 3);
        let moved: Vec<Finding> = before
            .iter()
            .cloned()
            .map(|mut f| {
                f.line += 10;
                f
            })
            .collect();
        let p = base.partition(&moved);
        assert!(p.new.is_empty(), "{:?}", p.new);
        assert_eq!((p.known, p.fixed.len()), (3, 0));

        let mut more = moved.clone();
        more.push(finding(
            "ISO401",
            "tests/test_a.py",
            40,
            "tests/test_a.py::t",
            "env:MODE",
        ));
        let p = base.partition(&more);
        assert_eq!(p.new.len(), 1);
        assert_eq!(p.new[0].line, 40);

        let p = base.partition(&moved[..2]);
        assert_eq!(p.known, 2);
        assert_eq!(
            p.fixed
                .iter()
                .map(Fingerprint::describe)
                .collect::<Vec<_>>(),
            vec!["ISO101 tests/test_a.py u path:/tmp/x"]
        );
    }

    #[test]
    fn the_file_round_trips_and_is_sorted() {
        let a = finding("ISO401", "tests/b.py", 3, "tests/b.py::t", "env:MODE");
        let b = finding("ISO101", "tests/a.py", 5, "tests/a.py::u", "path:/tmp/x");
        let one = Baseline::from_findings(&[a.clone(), b.clone()]);
        let two = Baseline::from_findings(&[b, a]);
        assert_eq!(one.to_json(), two.to_json());
        let text = one.to_json();
        assert!(text.find("tests/a.py").unwrap() < text.find("tests/b.py").unwrap());
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(!text.contains("\"line\""), "{text}");
        assert_eq!(Baseline::parse(&text, "b.json").unwrap(), one);
    }

    #[test]
    fn a_broken_file_is_a_clear_error() {
        for (text, want) in [
            ("", "is not an isoaudit baseline"),
            ("[1]", "no `version` number"),
            ("{\"version\": 9, \"findings\": []}", "format version 9"),
            ("{\"version\": 1}", "missing field `findings`"),
            (
                "{\"version\": 1, \"findings\": [{\"code\": \"ISO101\"}]}",
                "is not an isoaudit baseline",
            ),
        ] {
            let err = Baseline::parse(text, "ci/base.json")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.contains("ci/base.json"), "{text}: {err}");
        }
    }
}
