//! Turns the analysis into findings: hazards (with the chain that brought
//! them to a test), analyzer problems (ISO0xx), fixture-structure rules
//! (ISO7xx) and the marker audit (ISO5xx, in `markers.rs`). Filtering by
//! selection, per-file ignores and suppression comments happens here too.

pub mod fix;
pub mod markers;
pub mod registry;

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::{sort_findings, Finding};
use crate::facts::value::{Obj, Val};
use crate::facts::{Effect, Hazard};
use crate::graph::FixtureRef;
use crate::pytest::Scope;
use crate::python::ir::Span;
use crate::Analysis;
pub use registry::{Rule, Selection, RULES};

/// (module, span) of every test and fixture by id, for locating findings.
pub(crate) fn sites(a: &Analysis) -> HashMap<String, (usize, Span)> {
    let mut out = HashMap::new();
    for (mi, m) in a.suite.modules.iter().enumerate() {
        for f in &m.fixtures {
            out.insert(f.id.clone(), (mi, f.span));
        }
        for t in &m.tests {
            out.insert(t.nodeid.clone(), (mi, t.span));
        }
    }
    out
}

pub(crate) fn finding_at(
    a: &Analysis,
    code: &str,
    module: usize,
    span: Span,
    message: String,
) -> Finding {
    let m = &a.suite.modules[module];
    let loc = a.texts[module].location(span);
    let mut f = Finding::new(code, &m.rel, loc, message);
    f.byte_range = (span.start as usize, span.end as usize);
    if let Some(rule) = registry::get(code) {
        f.severity = rule.severity;
    }
    f
}

/// A hazard, the (test, chain) pairs it reaches, and the fixture holding it.
type SiteUsers = (Hazard, Vec<(String, Vec<String>)>, Option<FixtureRef>);

fn hazard_findings(a: &Analysis, out: &mut Vec<Finding>) {
    // One finding per hazard site, attributed to the first test it reaches.
    type Site = (usize, Span, &'static str, Option<String>);
    let mut by_site: BTreeMap<Site, SiteUsers> = BTreeMap::new();
    for v in &a.verdicts {
        for r in &v.hazards {
            if r.hazard.code == "marker" {
                continue;
            }
            let key = (
                r.hazard.module,
                r.hazard.span,
                r.hazard.code,
                r.hazard.key.clone(),
            );
            let entry = by_site
                .entry(key)
                .or_insert_with(|| (r.hazard.clone(), Vec::new(), r.fixture));
            entry.1.push((v.nodeid.clone(), r.chain.clone()));
        }
    }
    for ((module, span, code, key), (h, mut tests, fixture)) in by_site {
        tests.sort();
        tests.dedup_by(|a, b| a.0 == b.0);
        let (first, chain) = tests[0].clone();
        let mut message = h.message.clone();
        if let Some(fr) = fixture {
            let fx = a.suite.fixture(fr);
            let n = tests.len();
            message.push_str(&format!(
                " — in fixture `{}`, reaching {} test{}",
                fx.name,
                n,
                if n == 1 { "" } else { "s" }
            ));
        }
        message.push_str(&format!("; fix: {}", h.help));
        let mut f = finding_at(a, code, module, span, message);
        f.test = Some(first);
        f.fixture = fixture.map(|r| a.suite.fixture(r).id.clone());
        f.resource = key;
        f.chain = chain;
        f.help = Some(h.help.clone());
        out.push(f);
    }
}

fn structure_findings(a: &Analysis, out: &mut Vec<Finding>) {
    let sites = sites(a);
    // Which tests reach each fixture.
    let mut reach: HashMap<FixtureRef, Vec<usize>> = HashMap::new();
    for (ti, c) in a.closures.iter().enumerate() {
        for e in &c.fixtures {
            reach.entry(e.fixture).or_default().push(ti);
        }
    }
    let mut unresolved_seen = std::collections::HashSet::new();
    let tests: Vec<_> = a.suite.tests().collect();
    for (ti, c) in a.closures.iter().enumerate() {
        let t = tests[ti];
        if generates_tests(a, t.collector) || t.external_base {
            continue;
        }
        for (name, chain) in &c.unresolved {
            let requester = chain.last().cloned().unwrap_or_default();
            if !unresolved_seen.insert((requester.clone(), name.clone())) {
                continue;
            }
            let Some(&(mi, span)) = sites.get(&requester) else {
                continue;
            };
            // A fixture asking for its own name with nothing outer to override.
            let self_request =
                requester.rsplit("::").next() == Some(name.as_str()) && chain.len() > 1;
            let mut f = if self_request {
                finding_at(
                    a,
                    "ISO005",
                    mi,
                    span,
                    format!("fixture `{name}` requests itself and no outer fixture of that name exists; pytest fails with a recursive dependency error; fix: rename the parameter, or define the outer `{name}` it means to override"),
                )
            } else {
                finding_at(
                    a,
                    "ISO004",
                    mi,
                    span,
                    format!("fixture `{name}` is not defined in this module, its classes, the conftest.py files above it or the known plugins; isoaudit cannot see what it shares; fix: define it in a conftest.py, or add the plugin that provides it"),
                )
            };
            f.test = Some(t.nodeid.clone());
            f.chain = chain.clone();
            out.push(f);
        }
    }
    for cycle in a.suite.graph().cycles() {
        let first = cycle[0];
        let fx = a.suite.fixture(first);
        let names: Vec<String> = cycle
            .iter()
            .map(|r| a.suite.fixture(*r).name.clone())
            .collect();
        let mut f = finding_at(
            a,
            "ISO005",
            first.module,
            fx.span,
            format!("fixtures request each other in a cycle ({}); pytest fails with a recursive dependency error", names.join(" -> ")),
        );
        f.fixture = Some(fx.id.clone());
        out.push(f);
    }
    let mut refs: Vec<&FixtureRef> = a.facts.fixtures.keys().collect();
    refs.sort();
    for r in refs {
        let ff = &a.facts.fixtures[r];
        let fx = a.suite.fixture(*r);
        let Some(users) = reach.get(r) else { continue };
        let first_test = users.iter().map(|&i| tests[i].nodeid.clone()).min();
        // A pooled driver or engine is meant to be shared; a session or
        // connection handed to many tests is what leaks state between them.
        let hands_out_session = {
            let body = a.texts[r.module].slice(fx.func.span);
            [
                ".session(",
                ".connect(",
                ".cursor(",
                "sessionmaker(",
                "Session(",
                ".begin(",
            ]
            .iter()
            .any(|m| body.contains(m))
        };
        if fx.scope != Scope::Function && hands_out_session {
            if let Some(Val::Obj(Obj::Service(key))) = &ff.value {
                let mut f = finding_at(
                    a,
                    "ISO306",
                    r.module,
                    fx.span,
                    format!(
                        "`{}`-scoped fixture `{}` hands one connection to `{}` to {} test{}; their writes and open transactions are visible to each other; fix: yield a function-scoped session that rolls back, built on the shared driver",
                        fx.scope.as_str(),
                        fx.name,
                        key.trim_start_matches("service:").trim_start_matches("path:"),
                        users.len(),
                        if users.len() == 1 { "" } else { "s" }
                    ),
                );
                f.fixture = Some(fx.id.clone());
                f.test = first_test.clone();
                f.resource = Some(key.clone());
                out.push(f);
            }
        }
        if fx.autouse && !fx.synthetic {
            let codes: std::collections::BTreeSet<&str> = ff
                .hazards
                .iter()
                .filter(|h| h.effect != Effect::Note)
                .map(|h| h.code)
                .collect();
            if !codes.is_empty() {
                let codes: Vec<&str> = codes.into_iter().collect();
                let mut f = finding_at(
                    a,
                    "ISO701",
                    r.module,
                    fx.span,
                    format!(
                        "autouse fixture `{}` has hazards ({}) that reach every test in its scope ({} test{}), whether they need it or not; fix: make it opt-in (request it by name or with `usefixtures`) or remove the hazard",
                        fx.name,
                        codes.join(", "),
                        users.len(),
                        if users.len() == 1 { "" } else { "s" }
                    ),
                );
                f.fixture = Some(fx.id.clone());
                f.test = first_test.clone();
                out.push(f);
            }
        }
        for span in &ff.dynamic_fixture_calls {
            let mut f = finding_at(a, "ISO704", r.module, *span,
                "`request.getfixturevalue()` with a computed name: the fixtures this brings in cannot be known statically, so their hazards are not counted; fix: request the fixtures by name, or parametrize with `indirect=True`".into());
            f.fixture = Some(fx.id.clone());
            out.push(f);
        }
    }
    for (ti, t) in tests.iter().enumerate() {
        for span in &a.facts.tests[ti].dynamic_fixture_calls {
            let mut f = finding_at(a, "ISO704", t.module, *span,
                "`request.getfixturevalue()` with a computed name: the fixtures this brings in cannot be known statically, so their hazards are not counted; fix: request the fixtures by name, or parametrize with `indirect=True`".into());
            f.test = Some(t.nodeid.clone());
            out.push(f);
        }
    }
}

/// `pytest_generate_tests` in the module or a conftest above it can supply
/// any argument name, and so can a plugin or star import isoaudit cannot
/// read, so unresolved names there are not reported.
fn generates_tests(a: &Analysis, module: usize) -> bool {
    let m = &a.suite.modules[module];
    std::iter::once(module)
        .chain(a.suite.conftest_chain(&m.dir))
        .any(|i| {
            let mm = &a.suite.modules[i];
            mm.hooks.iter().any(|h| h.name == "pytest_generate_tests") || mm.open_imports
        })
}

/// Per-file ignores: (glob, codes) from the config and the command line.
fn per_file_ignored(sel: &Selection, f: &Finding) -> bool {
    sel.per_file_ignores.iter().any(|(glob, codes)| {
        let matches = globset::Glob::new(glob)
            .map(|g| g.compile_matcher().is_match(&f.path))
            .unwrap_or(false)
            || f.path
                .starts_with(glob.trim_end_matches("/**").trim_end_matches('/'));
        matches
            && codes
                .iter()
                .any(|c| f.code.starts_with(c.as_str()) || c == "ALL")
    })
}

/// All findings of the analysis, filtered and sorted.
/// ISO801/ISO802: what a run saw a test touch that the static analysis did
/// not find (`.isoaudit/observed.json`), at the test's definition, one
/// finding per test and family.
fn observed_findings(a: &Analysis, out: &mut Vec<Finding>) {
    use crate::observed::{key_kind, KeyKind};
    let sites = sites(a);
    for v in &a.verdicts {
        let only = v.observed_only();
        if only.is_empty() {
            continue;
        }
        let Some(&(module, span)) = sites.get(&v.nodeid) else {
            continue;
        };
        for (code, kind) in [("ISO801", KeyKind::Resource), ("ISO802", KeyKind::Order)] {
            let facts: Vec<_> = only.iter().filter(|(k, _)| key_kind(k) == kind).collect();
            if facts.is_empty() {
                continue;
            }
            let shown: Vec<String> = facts
                .iter()
                .take(3)
                .map(|(k, e)| {
                    let mut what = format!("`{k}` ({}", e.access);
                    if !e.at.is_empty() {
                        what.push_str(&format!(" at {}", e.at));
                    }
                    if let Some(f) = &e.fixture {
                        what.push_str(&format!(", in fixture `{f}`"));
                    }
                    what.push(')');
                    what
                })
                .collect();
            let more = facts.len().saturating_sub(3);
            let mut listed = shown.join(", ");
            if more > 0 {
                listed.push_str(&format!(" and {more} more"));
            }
            let (what, help) = if kind == KeyKind::Resource {
                (
                    "touch a resource every worker shares",
                    "give each test its own copy: `tmp_path` for files, port 0 for servers, a per-worker name (`worker_id`) for services",
                )
            } else {
                (
                    "leave process-wide state changed",
                    "restore it: `monkeypatch.setenv`/`setattr`/`chdir`/`syspath_prepend`, or undo the change in the fixture's teardown",
                )
            };
            let mut f = finding_at(
                a,
                code,
                module,
                span,
                format!(
                    "`isoaudit run` saw this test {what} that the static analysis did not find: {listed}"
                ),
            );
            f.help = Some(help.to_string());
            out.push(f);
        }
    }
}

pub fn findings(a: &Analysis, sel: &Selection) -> Vec<Finding> {
    let mut out = a.file_findings.clone();
    hazard_findings(a, &mut out);
    structure_findings(a, &mut out);
    markers::marker_findings(a, sel, &mut out);
    observed_findings(a, &mut out);
    let by_rel: HashMap<&str, usize> = a
        .suite
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.rel.as_str(), i))
        .collect();
    out.retain(|f| {
        if !sel.enabled_code(&f.code) || per_file_ignored(sel, f) {
            return false;
        }
        match by_rel.get(f.path.as_str()) {
            Some(&mi) => !a.suite.modules[mi].suppressions.suppresses(&f.code, f.line),
            None => true,
        }
    });
    for f in &mut out {
        if let Some(rule) = registry::get(&f.code) {
            f.severity = rule.severity;
        }
    }
    sort_findings(&mut out);
    out
}
