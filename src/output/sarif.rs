//! `--output-format sarif`: a SARIF 2.1.0 log with one run. Rules are the
//! codes that occur, described through the rule lookup; results carry their
//! location relative to `%SRCROOT%`, the directory isoaudit ran in (never an
//! absolute machine path: `originalUriBaseIds` describes it without a `uri`,
//! as SARIF allows when the producer's absolute location would not mean
//! anything to the consumer), the fix as artifact changes, and the
//! test/resource/chain as properties. `PROJECTROOT`, relative to
//! `%SRCROOT%`, is pytest's rootdir, which the nodeids in `properties` are
//! relative to.
//!
//! Columns are counted in Unicode code points (`columnKind`), which is what
//! findings carry; SARIF's default would be UTF-16 code units.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::text::Range;
use super::{OutputOptions, TOOL_NAME};
use crate::diagnostic::{Finding, Fix, Severity};

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SARIF_VERSION: &str = "2.1.0";
const SRCROOT: &str = "%SRCROOT%";
const PROJECTROOT: &str = "PROJECTROOT";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    column_kind: &'static str,
    original_uri_base_ids: BTreeMap<&'static str, BaseId>,
    results: Vec<SarifResult<'a>>,
}

/// An entry of `originalUriBaseIds`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BaseId {
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
    description: Text,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    version: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_description: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fixes: Vec<SarifFix>,
    properties: Properties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

impl From<Range> for Region {
    fn from(r: Range) -> Self {
        Region {
            start_line: r.line,
            start_column: r.column,
            end_line: r.end_line,
            end_column: r.end_column,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifFix {
    description: Text,
    artifact_changes: [ArtifactChange; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactChange {
    artifact_location: ArtifactLocation,
    replacements: Vec<Replacement>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Replacement {
    deleted_region: Region,
    inserted_content: Text,
}

#[derive(Serialize)]
struct Properties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixture: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    chain: &'a [String],
}

pub(crate) fn write(
    w: &mut dyn Write,
    findings: &[Finding],
    opts: &OutputOptions,
) -> std::io::Result<()> {
    // BTreeMap: rules come out sorted by code whatever the finding order.
    let codes: BTreeMap<&str, usize> = findings
        .iter()
        .map(|f| (f.code.as_str(), 0))
        .collect::<BTreeMap<_, _>>()
        .into_keys()
        .enumerate()
        .map(|(i, code)| (code, i))
        .collect();
    let rules = codes
        .keys()
        .map(|&code| {
            let info = (opts.rules)(code);
            Rule {
                id: code,
                name: info.as_ref().map(|i| i.name.clone()),
                short_description: info.as_ref().map(|i| Text {
                    text: i.summary.clone(),
                }),
                help_uri: info.and_then(|i| i.url),
            }
        })
        .collect();
    let results = findings
        .iter()
        .map(|f| sarif_result(f, codes[f.code.as_str()]))
        .collect();
    let log = Log {
        schema: SCHEMA_URI,
        version: SARIF_VERSION,
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: TOOL_NAME,
                    information_uri: opts.tool_uri,
                    version: opts.tool_version,
                    rules,
                },
            },
            column_kind: "unicodeCodePoints",
            original_uri_base_ids: base_ids(opts.root),
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *w, &log)?;
    writeln!(w)
}

fn base_ids(root: &str) -> BTreeMap<&'static str, BaseId> {
    // A base id's uri ends with `/`; the root itself is `./`.
    let root = if root == "." || root.is_empty() {
        "./".to_string()
    } else {
        format!("{}/", path_to_uri(root.trim_end_matches('/')))
    };
    BTreeMap::from([
        (
            SRCROOT,
            BaseId {
                uri: None,
                uri_base_id: None,
                description: Text {
                    text: "The directory isoaudit ran in; every artifact uri is relative to it."
                        .into(),
                },
            },
        ),
        (
            PROJECTROOT,
            BaseId {
                uri: Some(root),
                uri_base_id: Some(SRCROOT),
                description: Text {
                    text: "pytest's rootdir; the test and fixture nodeids in result properties are relative to it.".into(),
                },
            },
        ),
    ])
}

fn sarif_result(f: &Finding, rule_index: usize) -> SarifResult<'_> {
    let artifact = ArtifactLocation {
        uri: path_to_uri(&f.path),
        uri_base_id: SRCROOT,
    };
    SarifResult {
        rule_id: &f.code,
        rule_index,
        level: match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "note",
        },
        message: Text {
            text: f.message.clone(),
        },
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: artifact.clone(),
                region: Range::of(f).map(Region::from),
            },
        }],
        fixes: f
            .fix
            .as_ref()
            .and_then(|fix| sarif_fix(fix, artifact))
            .into_iter()
            .collect(),
        properties: Properties {
            test: f.test.as_deref(),
            fixture: f.fixture.as_deref(),
            resource: f.resource.as_deref(),
            chain: &f.chain,
        },
    }
}

/// `None` for a fix without any positioned edit: SARIF requires at least
/// one replacement, and an edit without a line cannot be placed.
fn sarif_fix(fix: &Fix, artifact: ArtifactLocation) -> Option<SarifFix> {
    let replacements: Vec<Replacement> = fix
        .edits
        .iter()
        .filter_map(|e| {
            let range = Range::new(e.line, e.column, e.end_line, e.end_column)?;
            Some(Replacement {
                deleted_region: range.into(),
                inserted_content: Text {
                    text: e.content.clone(),
                },
            })
        })
        .collect();
    if replacements.is_empty() {
        return None;
    }
    Some(SarifFix {
        description: Text {
            text: fix.message.clone(),
        },
        artifact_changes: [ArtifactChange {
            artifact_location: artifact,
            replacements,
        }],
    })
}

/// A project-relative `/`-separated path as a relative URI reference:
/// everything outside RFC 3986's unreserved set (and `/`) is
/// percent-encoded, byte by byte, so spaces, `%`, `#` or non-ASCII names
/// survive a round trip.
pub(crate) fn path_to_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
