//! The marker audit (ISO5xx): a verdict per isolation-marker site, the fixes
//! that remove defensive/legacy markers or add a missing `reason=`, markers
//! that are unregistered or unused, and conftest hooks that add isolation
//! markers by name or path.

use std::collections::{BTreeMap, BTreeSet};

use crate::classify::{MarkerVerdict, Verdict};
use crate::diagnostic::{Applicability, Edit, Finding, Fix, Location};
use crate::graph::HookMarking;
use crate::plan::TestClass;
use crate::pytest::{registered_markers, Marker, MarkerSite};
use crate::python::ir::{ExprKind, Span};
use crate::python::SourceText;
use crate::Analysis;

use super::{finding_at, Selection};

/// Markers pytest and common plugins define (never "unregistered").
const KNOWN_MARKERS: &[&str] = &[
    "parametrize",
    "skip",
    "skipif",
    "xfail",
    "usefixtures",
    "filterwarnings",
    "tryfirst",
    "trylast",
    "asyncio",
    "anyio",
    "django_db",
    "timeout",
    "flaky",
    "order",
    "run",
    "dependency",
    "benchmark",
    "freeze_time",
    "httpx_mock",
    "vcr",
    "default_cassette",
    "block_network",
    "enable_socket",
    "allow_hosts",
    "no_cover",
    "forked",
    "repeat",
    "xdist_group",
    "randomly_dont_reorganize",
    "hypothesis",
    "trio",
    "gen_test",
    "qt_no_exception_capture",
    "urls",
    "ignore_template_errors",
    "smoke",
    "redis",
    "postgresql",
    "filterwarnings",
    // pytest's own pytester plugin (`pytest_plugins = "pytester"`).
    "pytester_example_path",
];

/// One marker site and the tests it applies to.
struct Site<'a> {
    module: usize,
    marker: &'a Marker,
    tests: Vec<&'a Verdict>,
}

fn site_key(m: &Marker) -> Span {
    match &m.site {
        MarkerSite::Decorator(s) | MarkerSite::Assignment(s) => *s,
        MarkerSite::ListElement { element, .. } => *element,
        MarkerSite::Hook { span, .. } => *span,
    }
}

fn strongest(tests: &[&Verdict]) -> MarkerVerdict {
    // Keep the marker if any test under it needs it; otherwise the mildest
    // reason to remove it.
    let verdicts: BTreeSet<MarkerVerdict> = tests.iter().filter_map(|v| v.marker_verdict).collect();
    for v in [
        MarkerVerdict::TrulyRequired,
        MarkerVerdict::ResourceConflict,
        MarkerVerdict::Legacy,
        MarkerVerdict::Defensive,
    ] {
        if verdicts.contains(&v) {
            return v;
        }
    }
    MarkerVerdict::Defensive
}

/// Verdict per isolation-marker site (for reports), sorted by location.
pub fn marker_sites(a: &Analysis) -> Vec<(usize, Marker, Vec<String>, MarkerVerdict)> {
    collect_sites(a)
        .into_iter()
        .map(|s| {
            let v = strongest(&s.tests);
            (
                s.module,
                s.marker.clone(),
                s.tests.iter().map(|t| t.nodeid.clone()).collect(),
                v,
            )
        })
        .collect()
}

fn collect_sites(a: &Analysis) -> Vec<Site<'_>> {
    let mut sites: BTreeMap<(usize, Span, String), Site> = BTreeMap::new();
    for v in &a.verdicts {
        for m in &v.isolation_markers {
            let module = match m.site {
                MarkerSite::Hook { module, .. } => module,
                _ => v.module,
            };
            let key = (module, site_key(m), m.name.clone());
            sites
                .entry(key)
                .or_insert_with(|| Site {
                    module,
                    marker: m,
                    tests: Vec::new(),
                })
                .tests
                .push(v);
        }
    }
    sites.into_values().collect()
}

/// Text and span covering whole lines `span` sits on, with its line break,
/// when nothing else shares those lines.
fn whole_lines(text: &SourceText, span: Span) -> Option<(usize, usize)> {
    let (l1, _) = text.line_col(span.start as usize);
    let (l2, _) = text.line_col(span.end as usize);
    let start = text.line_start(l1);
    let end_line_start = text.line_start(l2);
    let end = end_line_start + text.line_text(l2).len();
    let before = &text.text[start..span.start as usize];
    let after = &text.text[span.end as usize..end];
    let after_ok = after.trim().is_empty() || after.trim_start().starts_with('#');
    if !before.trim().is_empty() || !after_ok {
        return None;
    }
    let mut end_with_break = end;
    let bytes = text.text.as_bytes();
    if bytes.get(end_with_break) == Some(&b'\r') {
        end_with_break += 1;
    }
    if bytes.get(end_with_break) == Some(&b'\n') {
        end_with_break += 1;
    }
    Some((start, end_with_break))
}

fn edit(text: &SourceText, start: usize, end: usize, content: String) -> Edit {
    let (line, column) = text.line_col(start);
    let (end_line, end_column) = text.line_col(end);
    Edit {
        start,
        end,
        line,
        column,
        end_line,
        end_column,
        content,
    }
}

/// Edits that remove the marker at its site.
fn removal(text: &SourceText, m: &Marker) -> Option<Vec<Edit>> {
    match &m.site {
        // ISO508 speaks for hook-added markers; removing the call is a design change.
        MarkerSite::Hook { .. } => None,
        MarkerSite::Decorator(span) | MarkerSite::Assignment(span) => {
            let (s, e) = whole_lines(text, *span)?;
            Some(vec![edit(text, s, e, String::new())])
        }
        MarkerSite::ListElement {
            element,
            statement,
            len,
        } => {
            if *len == 1 {
                let (s, e) = whole_lines(text, *statement)?;
                return Some(vec![edit(text, s, e, String::new())]);
            }
            // Remove the element with the comma and spacing after it, or the
            // comma before it when it is last.
            let src = &text.text;
            let start = element.start as usize;
            let mut end = element.end as usize;
            let rest = &src[end..];
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if let Some(after_comma) = trimmed.strip_prefix(',') {
                end += rest.len() - trimmed.len() + 1;
                let ws = after_comma.len()
                    - after_comma
                        .trim_start_matches([' ', '\t', '\n', '\r'])
                        .len();
                // Keep the line break layout: eat spaces, and a newline plus
                // the next line's indent when the element stood on its own line.
                if whole_lines(text, *element).is_some() {
                    let (s, e) = whole_lines(text, Span::new(element.start, end as u32))?;
                    return Some(vec![edit(text, s, e, String::new())]);
                }
                end +=
                    ws.min(after_comma.len() - after_comma.trim_start_matches([' ', '\t']).len());
                Some(vec![edit(text, start, end, String::new())])
            } else {
                let before = &src[..start];
                let trimmed_b = before.trim_end_matches([' ', '\t', '\n', '\r']);
                if !trimmed_b.ends_with(',') {
                    return None;
                }
                let s = trimmed_b.len() - 1;
                Some(vec![edit(text, s, end, String::new())])
            }
        }
    }
}

/// Edit that adds `reason="..."` to the marker.
fn add_reason(text: &SourceText, m: &Marker, reason: &str) -> Option<Vec<Edit>> {
    let quoted = format!("{reason:?}");
    let span = m.span;
    let src = text.slice(span);
    if m.call.is_some() {
        // `...mark.isolation(...)`: insert before the closing parenthesis.
        let close = span.end as usize - 1;
        if !src.ends_with(')') {
            return None;
        }
        let inside = src[..src.len() - 1].trim_end();
        let content = if inside.ends_with('(') {
            format!("reason={quoted}")
        } else if inside.ends_with(',') {
            format!(" reason={quoted}")
        } else {
            format!(", reason={quoted}")
        };
        Some(vec![edit(text, close, close, content)])
    } else {
        let end = span.end as usize;
        Some(vec![edit(text, end, end, format!("(reason={quoted})"))])
    }
}

fn reason_text(tests: &[&Verdict]) -> String {
    let mut what: BTreeSet<String> = BTreeSet::new();
    for v in tests {
        for r in &v.hazards {
            if r.hazard.effect == crate::facts::Effect::Serial {
                let key = r
                    .hazard
                    .key
                    .as_deref()
                    .map(|k| k.split_once(':').map(|(_, v)| v).unwrap_or(k))
                    .unwrap_or("");
                what.insert(match r.hazard.code {
                    "ISO303" if key.is_empty() => "wipes a whole shared database".to_string(),
                    "ISO303" => format!("wipes the whole shared database {key}"),
                    "ISO106" if key.is_empty() => "deletes a shared temp root".to_string(),
                    "ISO106" => format!("deletes the shared directory {key}"),
                    "ISO705" => {
                        "parametrizes over a set, which xdist workers order differently".to_string()
                    }
                    code => format!(
                        "{code} hazard{}",
                        if key.is_empty() {
                            String::new()
                        } else {
                            format!(" on {key}")
                        }
                    ),
                });
            }
        }
    }
    if what.is_empty() {
        "Needs to run alone".to_string()
    } else {
        let mut text = what.into_iter().collect::<Vec<_>>().join("; ");
        if let Some(first) = text.get(..1) {
            text = first.to_uppercase() + &text[1..];
        }
        text
    }
}

fn summary_of(tests: &[&Verdict]) -> String {
    let mut res: BTreeSet<&str> = BTreeSet::new();
    for v in tests {
        res.extend(v.resources.iter().map(String::as_str));
        res.extend(v.order_keys.iter().map(String::as_str));
    }
    res.into_iter().take(3).collect::<Vec<_>>().join(", ")
}

pub fn marker_findings(a: &Analysis, sel: &Selection, out: &mut Vec<Finding>) {
    let sites = collect_sites(a);
    for s in &sites {
        if matches!(s.marker.site, MarkerSite::Hook { .. }) {
            // Reported once by ISO508, with the counts of what it marks.
            continue;
        }
        let text = &a.texts[s.module];
        let verdict = strongest(&s.tests);
        let n = s.tests.len();
        let scope = match s.marker.level {
            crate::pytest::MarkerLevel::Function => "this test".to_string(),
            _ => format!("the {n} test{} it covers", if n == 1 { "" } else { "s" }),
        };
        let name = &s.marker.name;
        let (code, message, fix) = match verdict {
            MarkerVerdict::Defensive => (
                "ISO501",
                format!("`{name}` marker is defensive: isoaudit finds no shared resource or leaked state in {scope}, so it can run in parallel; fix: remove the marker"),
                removal(text, s.marker).map(|edits| Fix {
                    message: format!("Remove the `{name}` marker"),
                    applicability: Applicability::Unsafe,
                    edits,
                }),
            ),
            MarkerVerdict::Legacy => (
                "ISO503",
                format!("`{name}` marker is legacy: what {scope} shares is already isolated ({}), so it can run in parallel; fix: remove the marker", mitigation_list(&s.tests)),
                removal(text, s.marker).map(|edits| Fix {
                    message: format!("Remove the `{name}` marker"),
                    applicability: Applicability::Unsafe,
                    edits,
                }),
            ),
            MarkerVerdict::ResourceConflict => {
                if s.marker.reason.is_some() {
                    continue;
                }
                (
                    "ISO502",
                    format!("`{name}` marker serialises {scope}, but the conflict is on keyed resources ({}); `isoaudit run` groups the tests that share them and runs everything else in parallel; fix: remove the marker and let the scheduler group them, or make the resource unique per worker", summary_of(&s.tests)),
                    None,
                )
            }
            MarkerVerdict::TrulyRequired => {
                if s.marker.reason.is_some() {
                    continue;
                }
                let reason = reason_text(&s.tests);
                (
                    "ISO504",
                                        format!("`{name}` marker is required ({}) but gives no reason; fix: add `reason=` so the next reader knows why it must stay", lower_first(&reason)),
                    add_reason(text, s.marker, &reason).map(|edits| Fix {
                        message: format!("Add reason=\"{reason}\""),
                        applicability: Applicability::Safe,
                        edits,
                    }),
                )
            }
        };
        let mut f = finding_at(a, code, s.module, s.marker.span, message);
        f.test = s.tests.iter().map(|t| t.nodeid.clone()).min();
        f.fix = fix;
        out.push(f);
    }

    // Tests that need coordination without a marker (for plain `pytest -n`).
    let suite_uses_markers = !sites.is_empty();
    let explicitly = sel
        .select
        .iter()
        .flatten()
        .chain(sel.extend_select.iter())
        .any(|p| p.eq_ignore_ascii_case("ISO505"));
    if suite_uses_markers || explicitly {
        let tests: Vec<_> = a.suite.tests().collect();
        for (i, v) in a.verdicts.iter().enumerate() {
            if v.isolation_markers.is_empty()
                && matches!(v.class, TestClass::Serial | TestClass::Grouped)
            {
                let t = tests[i];
                let mut f = finding_at(
                    a,
                    "ISO505",
                    t.module,
                    t.span,
                    format!("`{}` is {} ({}) but has no isolation marker; `isoaudit run` schedules it safely, but a plain `pytest -n` run does not; fix: add `@pytest.mark.{}(reason=...)` or run the suite with `isoaudit run`", t.name, v.class.as_str(), summary_of(&[v]), a.project.settings.isolation_markers.first().map(String::as_str).unwrap_or("isolation")),
                );
                f.test = Some(v.nodeid.clone());
                f.resource = v.resources.first().cloned();
                out.push(f);
            }
        }
    }

    registration_findings(a, out);
    auto_marking_findings(a, out);
}

fn mitigation_list(tests: &[&Verdict]) -> String {
    let all: BTreeSet<&str> = tests
        .iter()
        .flat_map(|v| v.mitigations.iter().map(String::as_str))
        .collect();
    all.into_iter().take(4).collect::<Vec<_>>().join(", ")
}

/// Markers registered in code: `config.addinivalue_line("markers", "slow: ...")`
/// in a `pytest_configure` hook.
fn configured_markers(a: &Analysis) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in &a.suite.modules {
        // Set when a line is computed rather than written out.
        let mut computed = false;
        for h in m.hooks.iter().filter(|h| h.name == "pytest_configure") {
            crate::python::ir::visit_exprs(&h.func.body, &mut |e| {
                let ExprKind::Call(c) = &e.kind else { return };
                if matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr == "addinivalue_line")
                    && c.args.first().and_then(|x| x.as_str()) == Some("markers")
                {
                    match c.args.get(1).and_then(|x| x.as_str()) {
                        Some(line) => {
                            out.insert(marker_line_name(line));
                        }
                        None => computed = true,
                    }
                }
            });
        }
        if computed {
            // `for line in MARKERS: config.addinivalue_line("markers", line)`:
            // the module's constant lists of "name: description" lines.
            for value in m.constants.values() {
                if let ExprKind::List(items) | ExprKind::Tuple(items) = &value.kind {
                    for line in items.iter().filter_map(|i| i.as_str()) {
                        if line.contains(':') && !line.starts_with(' ') {
                            out.insert(marker_line_name(line));
                        }
                    }
                }
            }
        }
    }
    out
}

fn marker_line_name(line: &str) -> String {
    line.split([':', '('])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn registration_findings(a: &Analysis, out: &mut Vec<Finding>) {
    let mut registered = registered_markers(&a.project.pytest);
    for name in configured_markers(a) {
        registered.entry(name).or_default();
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut reported: BTreeSet<(usize, Span)> = BTreeSet::new();
    for m in a.suite.modules.iter() {
        for t in &m.tests {
            for mk in &t.markers {
                used.insert(mk.name.clone());
            }
        }
    }
    let strict = a
        .project
        .pytest
        .addopts
        .iter()
        .any(|o| o == "--strict-markers" || o == "--strict");
    for m in a.suite.modules.iter() {
        for t in &m.tests {
            for mk in &t.markers {
                if registered.contains_key(&mk.name) || KNOWN_MARKERS.contains(&mk.name.as_str()) {
                    continue;
                }
                let mi = mk.site_module(t.module);
                if !reported.insert((mi, mk.span)) {
                    continue;
                }
                let consequence = if strict {
                    "with `--strict-markers` in addopts pytest fails collection"
                } else {
                    "pytest warns `PytestUnknownMarkWarning`, and `--strict-markers` would fail collection"
                };
                let mut f = finding_at(
                    a,
                    "ISO506",
                    mi,
                    mk.span,
                    format!("marker `{}` is not registered in the pytest configuration; {consequence}; fix: add `\"{}: <what it means>\"` to `markers` in the pytest config", mk.name, mk.name),
                );
                f.test = Some(t.nodeid.clone());
                out.push(f);
            }
        }
    }
    let Some(inifile) = &a.project.pytest.inifile else {
        return;
    };
    if !a.whole_suite {
        return;
    }
    for name in &a.project.settings.isolation_markers {
        if registered.contains_key(name) && !used.contains(name) && !auto_marked(a).contains(name) {
            out.push(Finding::new(
                "ISO507",
                inifile,
                Location {
                    line: 1,
                    column: 1,
                    end_line: 1,
                    end_column: 1,
                },
                format!("isolation marker `{name}` is registered but no test uses it; fix: remove it from `markers`, or from isoaudit's `isolation-markers` if the suite never will"),
            ));
        }
    }
}

/// Isolation marker names added by conftest hooks.
fn auto_marked(a: &Analysis) -> BTreeSet<String> {
    isolation_hook_markings(a)
        .map(|m| m.marker.clone())
        .collect()
}

/// Hook-added markers with an isolation marker's name.
fn isolation_hook_markings(a: &Analysis) -> impl Iterator<Item = &HookMarking> {
    a.suite
        .hook_markings
        .iter()
        .filter(|m| a.project.settings.isolation_markers.contains(&m.marker))
}

fn auto_marking_findings(a: &Analysis, out: &mut Vec<Finding>) {
    let class_of: std::collections::HashMap<&str, TestClass> = a
        .verdicts
        .iter()
        .map(|v| (v.nodeid.as_str(), v.class))
        .collect();
    for am in isolation_hook_markings(a) {
        let needed = am
            .tests
            .iter()
            .filter(|t| !matches!(class_of.get(t.as_str()), Some(TestClass::Parallel) | None))
            .count();
        let what = if am.patterns.is_empty() {
            "every test below its conftest".to_string()
        } else {
            format!(
                "tests matching {}",
                am.patterns
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        };
        let n = am.tests.len();
        let f = finding_at(
            a,
            "ISO508",
            am.module,
            am.span,
            format!(
                "a conftest hook adds the `{}` marker to {what}: {n} test{} here, of which isoaudit finds {needed} needing coordination and {} safe to run in parallel; fix: mark only the tests that share something, or drop the hook and run with `isoaudit run`",
                am.marker,
                if n == 1 { "" } else { "s" },
                n - needed
            ),
        );
        out.push(f);
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
