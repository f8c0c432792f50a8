//! The markdown of `docs/test-isolation-audit.md`, section by section. Every
//! list is sorted and every number comes from the analysis or the plan, so
//! the same suite gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::classify::{MarkerVerdict, Reached, Verdict};
use crate::diagnostic::{Applicability, Finding};
use crate::facts::value::{Obj, Val};
use crate::facts::Effect;
use crate::graph::FixtureRef;
use crate::plan::{Plan, TestClass};
use crate::pytest::{Marker, MarkerLevel, Scope};
use crate::python::ir::Span;

use super::ctx::{self, plural, seconds, tail, Ctx};
use super::md::{code, header, inline, row};
use super::steps::{self, Owner, Step, StepKind, Steps};
use super::Planner;

/// What the report states beyond the analysis.
pub struct Input<'a> {
    pub plan: &'a Plan,
    pub findings: &'a [Finding],
    pub date: Option<&'a str>,
    /// Where W came from, in words.
    pub workers_source: &'a str,
    /// The durations file used, project-relative, if any.
    pub durations_source: Option<&'a str>,
    /// The analysed paths, project-relative.
    pub scope: &'a [String],
}

const CLASSES: [TestClass; 5] = [
    TestClass::Parallel,
    TestClass::Grouped,
    TestClass::OrderRisk,
    TestClass::Heavy,
    TestClass::Serial,
];

const VERDICTS: [MarkerVerdict; 4] = [
    MarkerVerdict::TrulyRequired,
    MarkerVerdict::ResourceConflict,
    MarkerVerdict::Defensive,
    MarkerVerdict::Legacy,
];

/// Tests named in a list before "and N more".
const NAMES: usize = 6;
/// Rows a long table shows before pointing to the command that lists all:
/// GitHub stops rendering very large markdown files.
const MAX_ROWS: usize = 1000;
/// Keys drawn in the resource flowchart.
const FLOWCHART_KEYS: usize = 5;
/// Tests drawn under each fixture (or the test bodies) in it.
const FLOWCHART_TESTS: usize = 3;

pub fn render(cx: &Ctx, planner: &Planner, input: &Input) -> String {
    let steps = steps::compute(cx, planner);
    let honoured = if cx
        .a
        .verdicts
        .iter()
        .any(|v| !v.isolation_markers.is_empty())
    {
        planner.plan(steps::classified(cx, true, &BTreeSet::new()))
    } else {
        None
    };
    let mut out = String::new();
    title(&mut out, cx, input);
    how_to_read(&mut out, cx);
    summary(&mut out, cx, input, &steps, honoured.as_ref());
    coordinated(&mut out, cx);
    seen_at_run_time(&mut out, cx);
    marker_audit(&mut out, cx);
    resources(&mut out, cx);
    fixtures(&mut out, cx);
    findings(&mut out, cx, input.findings);
    next_steps(&mut out, cx, &steps);
    out
}

fn title(out: &mut String, _cx: &Ctx, input: &Input) {
    out.push_str("# Test isolation audit\n\n");
    let scope = if input.scope.iter().any(|s| s == ".") {
        "the whole project".to_string()
    } else {
        input
            .scope
            .iter()
            .map(|s| code(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = write!(
        out,
        "Static audit of {scope} by `isoaudit report`: the tests and fixtures were read, not run."
    );
    if let Some(d) = input.date {
        let _ = write!(out, " Audit date: {d}.");
    }
    out.push_str("\n\n");
}

/// Plain-words meaning of a resource kind, for the kinds this suite has.
fn kind_meaning(kind: &str) -> &'static str {
    match kind {
        "path" => "a file or directory",
        "port" => "a fixed TCP port",
        "service" => "a database or server, by URL",
        "dagster" => "a Dagster instance's storage",
        "env" => "an environment variable",
        "attr" => "a module or class attribute",
        "global" => "a module global",
        "state" => "a module-level container",
        "setting" => "a process-wide setting (logging, locale, timeouts...)",
        "fixture" => "an object a wider-scoped fixture hands to many tests",
        "heavy" => "memory or CPU",
        "cwd" => "the current working directory",
        "sys.path" => "the import path",
        "sys.modules" => "the imported modules",
        _ => "another resource",
    }
}

fn kind_of(key: &str) -> &str {
    key.split_once(':').map(|(k, _)| k).unwrap_or(key)
}

fn how_to_read(out: &mut String, cx: &Ctx) {
    out.push_str("## How to read this\n\n");
    out.push_str(
        "pytest-xdist runs tests in several worker processes at once. Two tests *conflict* when \
         they use the same thing outside the process (a path, a port, a database) at the same \
         time; a test *leaks* when it changes process-wide state (environment variables, module \
         attributes) that later tests on the same worker see. isoaudit finds both in the tests \
         and every fixture they reach, and gives each test function one class:\n\n",
    );
    out.push_str(&header(&[
        "class",
        "meaning",
        "how `isoaudit run` schedules it",
    ]));
    for (class, meaning, how) in [
        (
            TestClass::Parallel,
            "shares nothing with other tests",
            "on any worker",
        ),
        (
            TestClass::Grouped,
            "uses an outside resource other tests use too",
            "one unit per shared resource: in turn inside the unit, in parallel with the rest",
        ),
        (
            TestClass::OrderRisk,
            "leaks or relies on process-wide state",
            "on one worker with the other users of that state, in collection order",
        ),
        (
            TestClass::Heavy,
            "loads large models or uses every CPU",
            "own phase with few workers",
        ),
        (
            TestClass::Serial,
            "must run alone",
            "last phase, one process, no xdist",
        ),
    ] {
        out.push_str(&row(&[
            code(class.as_str()),
            meaning.to_string(),
            how.to_string(),
        ]));
    }
    out.push('\n');
    let kinds: BTreeSet<&str> =
        cx.a.verdicts
            .iter()
            .flat_map(|v| v.hazards.iter())
            .filter(|r| r.hazard.code != "marker")
            .filter_map(|r| r.hazard.key.as_deref())
            .map(kind_of)
            .collect();
    if !kinds.is_empty() {
        let list: Vec<String> = kinds
            .iter()
            .map(|k| format!("{} {}", code(k), kind_meaning(k)))
            .collect();
        let _ = writeln!(
            out,
            "Resources are named `kind:key`. Kinds in this suite: {}.\n",
            list.join("; ")
        );
    }
    // A real chain from this suite, when there is one, as the example.
    let example =
        cx.a.verdicts
            .iter()
            .flat_map(|v| v.hazards.iter())
            .filter(|r| r.chain.len() > 2)
            .map(|r| (r.chain.len(), chain_text(r)))
            .min()
            .map(|(_, c)| c)
            .unwrap_or_else(|| format!("{} → {}", code("a"), code("b")));
    let _ = writeln!(
        out,
        "Parametrized cases count as one test. A chain such as {example} is the path of \
         fixtures through which a test reaches a hazard: the test requests the first, which \
         requests the next. Links open the line in the source. Regenerate this file with \
         `isoaudit report`; `isoaudit report --check` fails when it is out of date.\n"
    );
}

fn class_counts(cx: &Ctx) -> BTreeMap<TestClass, usize> {
    let mut counts = BTreeMap::new();
    for v in &cx.a.verdicts {
        *counts.entry(v.class).or_default() += 1;
    }
    counts
}

fn marker_counts(cx: &Ctx) -> BTreeMap<MarkerVerdict, usize> {
    let mut counts = BTreeMap::new();
    for v in &cx.a.verdicts {
        if let Some(mv) = v.marker_verdict {
            *counts.entry(mv).or_default() += 1;
        }
    }
    counts
}

fn speedup(serial: f64, makespan: f64) -> String {
    if makespan > 0.0 {
        format!("{:.2}x", serial / makespan)
    } else {
        "n/a (no tests)".into()
    }
}

fn summary(out: &mut String, cx: &Ctx, input: &Input, steps: &Steps, honoured: Option<&Plan>) {
    let a = cx.a;
    let plan = input.plan;
    let total = a.verdicts.len();
    let classes = class_counts(cx);
    let markers = marker_counts(cx);
    let marked: usize = markers.values().sum();
    let removable = markers.get(&MarkerVerdict::Defensive).copied().unwrap_or(0)
        + markers.get(&MarkerVerdict::Legacy).copied().unwrap_or(0);
    let coordinated = total - classes.get(&TestClass::Parallel).copied().unwrap_or(0);
    let unmarked = steps::unmarked(cx);

    out.push_str("## Summary\n\n");
    // The answers first, in one paragraph.
    let mut lead = Vec::new();
    if total == 0 {
        lead.push("No tests were found.".to_string());
    } else if coordinated == 0 {
        lead.push(format!(
            "All {} can run in parallel: isoaudit finds nothing they share.",
            plural(total, "test", "tests")
        ));
    } else {
        let parts: Vec<String> = CLASSES
            .iter()
            .filter(|c| **c != TestClass::Parallel)
            .filter_map(|c| classes.get(c).map(|n| format!("{n} {}", c.as_str())))
            .collect();
        lead.push(format!(
            "**{coordinated} of {total} tests** cannot run freely in parallel ({}); the rest can.",
            parts.join(", ")
        ));
    }
    if marked > 0 {
        let n = |v: MarkerVerdict| markers.get(&v).copied().unwrap_or(0);
        let mut parts = Vec::new();
        if n(MarkerVerdict::TrulyRequired) > 0 {
            parts.push(format!("{} required", n(MarkerVerdict::TrulyRequired)));
        }
        let grouping = n(MarkerVerdict::ResourceConflict);
        if grouping > 0 {
            parts.push(format!(
                "{grouping} only {} grouping",
                if grouping == 1 { "needs" } else { "need" }
            ));
        }
        if removable > 0 {
            parts.push(format!("{removable} can go"));
        }
        lead.push(format!(
            "{} an isolation marker: {}.",
            if marked == 1 {
                "1 test carries".to_string()
            } else {
                format!("{marked} tests carry")
            },
            parts.join(", ")
        ));
    }
    if let Some(first) = steps.steps.iter().find(|s| !s.freed.is_empty()) {
        lead.push(format!(
            "The change that frees the most tests: {} ({}).",
            step_title(cx, first, &steps.sites),
            plural(first.freed.len(), "test", "tests")
        ));
    }
    let est = &plan.estimate;
    if total > 0 {
        lead.push(format!(
            "At {} workers the planned run takes {} instead of {} serially ({}).",
            plan.workers,
            seconds(est.makespan_seconds),
            seconds(est.serial_seconds),
            speedup(est.serial_seconds, est.makespan_seconds)
        ));
    }
    out.push_str(&lead.join(" "));
    out.push_str("\n\n");

    out.push_str(&header(&["measure", "value"]));
    let modules: Vec<_> = a.suite.modules.iter().filter(|m| !m.support).collect();
    let conftests = modules.iter().filter(|m| m.is_conftest).count();
    out.push_str(&row(&[
        "Files analysed".into(),
        format!(
            "{} ({} test {}, {} `conftest.py`)",
            a.files,
            modules.len() - conftests,
            if modules.len() - conftests == 1 {
                "module"
            } else {
                "modules"
            },
            conftests
        ),
    ]));
    out.push_str(&row(&[
        "Tests".into(),
        plural(total, "test function", "test functions"),
    ]));
    let fixtures: Vec<&crate::pytest::Fixture> = modules
        .iter()
        .flat_map(|m| m.fixtures.iter())
        .filter(|f| !f.synthetic)
        .collect();
    let with_hazards = a
        .facts
        .fixtures
        .iter()
        .filter(|(r, f)| {
            !a.suite.fixture(**r).synthetic && f.hazards.iter().any(|h| h.effect != Effect::Note)
        })
        .count();
    out.push_str(&row(&[
        "Fixtures".into(),
        format!(
            "{} defined ({} autouse), {} with hazards",
            fixtures.len(),
            fixtures.iter().filter(|f| f.autouse).count(),
            with_hazards
        ),
    ]));
    let by_class: Vec<String> = CLASSES
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                code(c.as_str()),
                classes.get(c).copied().unwrap_or(0)
            )
        })
        .collect();
    out.push_str(&row(&["Tests by class".into(), by_class.join(" · ")]));
    let sites = crate::rules::markers::marker_sites(a);
    let verdicts: Vec<String> = VERDICTS
        .iter()
        .map(|v| format!("{} {}", markers.get(v).copied().unwrap_or(0), v.as_str()))
        .collect();
    out.push_str(&row(&[
        "Isolation markers".into(),
        if marked == 0 {
            format!("none (looked for {})", isolation_marker_names(a))
        } else {
            format!(
                "{} at {}: {}",
                plural(marked, "marked test", "marked tests"),
                plural(sites.len(), "marker site", "marker sites"),
                verdicts.join(", ")
            )
        },
    ]));
    out.push_str(&row(&[
        "Markers that can go".into(),
        format!("{removable} (defensive or legacy)"),
    ]));
    out.push_str(&row(&[
        "Tests needing a marker they lack".into(),
        format!(
            "{} (serial or grouped with no isolation marker: unsafe under a plain `pytest -n`)",
            unmarked.len()
        ),
    ]));
    out.push_str(&row(&[
        "Findings".into(),
        format!(
            "{} in {}",
            input.findings.len(),
            plural(
                input
                    .findings
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<BTreeSet<_>>()
                    .len(),
                "file",
                "files"
            )
        ),
    ]));
    out.push_str(&row(&[
        "Estimated serial time".into(),
        seconds(est.serial_seconds),
    ]));
    out.push_str(&row(&[
        format!("Planned makespan at {} workers", plan.workers),
        phases_text(plan),
    ]));
    out.push_str(&row(&[
        "Speedup".into(),
        speedup(est.serial_seconds, est.makespan_seconds),
    ]));
    if let Some(h) = honoured {
        out.push_str(&row(&[
            "With every marker honoured".into(),
            format!(
                "{} ({}): the run you get when marked tests are kept out of the parallel phase",
                seconds(h.estimate.makespan_seconds),
                speedup(h.estimate.serial_seconds, h.estimate.makespan_seconds)
            ),
        ]));
    }
    out.push_str(&row(&[
        "Workers".into(),
        format!("{} ({})", plan.workers, input.workers_source),
    ]));
    out.push_str(&row(&["Durations".into(), durations_text(plan, input)]));
    out.push('\n');
}

fn phases_text(plan: &Plan) -> String {
    let mut parts = vec![seconds(plan.estimate.makespan_seconds)];
    let names: Vec<String> = plan
        .phases
        .iter()
        .map(|p| {
            let name = match p.phase {
                1 => "parallel",
                2 => "heavy",
                _ => "serial",
            };
            format!(
                "{name} phase {} ({} on {})",
                seconds(p.makespan_seconds),
                plural(p.tests, "test", "tests"),
                plural(p.workers, "worker", "workers")
            )
        })
        .collect();
    if !names.is_empty() {
        parts.push(format!("= {}", names.join(" + ")));
    }
    parts.join(" ")
}

fn durations_text(plan: &Plan, input: &Input) -> String {
    let m = &plan.meta;
    let source = input
        .durations_source
        .map(|s| format!(" from {}", code(s)))
        .unwrap_or_default();
    if m.known == 0 {
        format!(
            "none recorded{source}: every test is counted at the median, {} with no history (`isoaudit run` records them)",
            seconds(m.default_seconds)
        )
    } else if m.estimated == 0 {
        format!("measured for all {} tests{source}", m.known)
    } else {
        format!(
            "measured for {} of {} tests{source}; the other {} count as the median, {}",
            m.known,
            m.known + m.estimated,
            m.estimated,
            seconds(m.default_seconds)
        )
    }
}

/// `` `loader` → `neo4j_session` `` for the fixtures of a chain.
fn chain_text(r: &Reached) -> String {
    r.chain
        .iter()
        .skip(1)
        .map(|id| code(tail(id)))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Where a hazard sits, as it reached a test: the fixture chain (or "the
/// test") and a link to the line.
fn place_text(cx: &Ctx, r: &Reached) -> String {
    let h = &r.hazard;
    let line = cx.line(h.module, h.span);
    let at = cx
        .links
        .labelled(&format!("line {line}"), cx.rel(h.module), line);
    if r.fixture.is_some() {
        format!("{} ({at})", chain_text(r))
    } else {
        format!("the test ({at})")
    }
}

/// Hazards grouped by code and key, most severe first: "ISO301 `key` in
/// `a` (line 3), the test (line 9)".
fn hazards_text<'r>(cx: &Ctx, hazards: impl Iterator<Item = &'r Reached>) -> Vec<String> {
    let mut groups: BTreeMap<(u8, &str, Option<&str>), Vec<String>> = BTreeMap::new();
    let mut sorted: Vec<&Reached> = hazards.collect();
    sorted.sort_by_key(|r| (r.fixture.is_some(), r.chain.len(), r.chain.clone()));
    for r in sorted {
        let h = &r.hazard;
        if h.code == "marker" {
            groups
                .entry((effect_rank(h.effect), "marker", None))
                .or_default();
            continue;
        }
        let places = groups
            .entry((effect_rank(h.effect), h.code, h.key.as_deref()))
            .or_default();
        let p = place_text(cx, r);
        if !places.contains(&p) {
            places.push(p);
        }
    }
    groups
        .into_iter()
        .map(|((_, code_, key), places)| {
            if code_ == "marker" {
                return "heavy-resource marker".to_string();
            }
            let what = match key {
                Some(k) => format!("{code_} {}", code(k)),
                None => code_.to_string(),
            };
            let extra = places.len().saturating_sub(3);
            let mut shown: Vec<String> = places.into_iter().take(3).collect();
            if extra > 0 {
                shown.push(format!("{} more", extra));
            }
            format!("{what} in {}", shown.join(", "))
        })
        .collect()
}

/// Advice strings as sentences: capitalised, each ending in a full stop.
fn sentences<'s>(helps: impl IntoIterator<Item = &'s str>) -> String {
    let mut seen = BTreeSet::new();
    helps
        .into_iter()
        .map(str::trim)
        .filter(|h| !h.is_empty() && seen.insert(*h))
        .map(|h| {
            let mut t = capitalize(h);
            if !t.ends_with('.') {
                t.push('.');
            }
            inline(&t)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn effect_rank(e: Effect) -> u8 {
    match e {
        Effect::Serial => 0,
        Effect::Heavy => 1,
        Effect::Shared => 2,
        Effect::Order => 3,
        Effect::Note => 4,
    }
}

/// Why a test is coordinated: its hazards (most severe first), the state it
/// relies on, and an honoured marker.
fn why(cx: &Ctx, i: usize, max: usize) -> String {
    let v = &cx.a.verdicts[i];
    let mut parts: Vec<String> = Vec::new();
    if let Some(reason) = ctx::honoured_reason(v) {
        parts.push(format!("marker reason: “{}”", inline(reason)));
    }
    let mut texts = hazards_text(cx, v.hazards.iter().filter(|r| ctx::counts(r)));
    for k in ctx::read_keys(v) {
        let writers = cx.writers_of(k, i);
        texts.push(format!(
            "relies on {} that {} {}",
            code(k),
            cx.test_names(&writers, 2),
            if writers.len() == 1 { "leaks" } else { "leak" }
        ));
    }
    let extra = texts.len().saturating_sub(max);
    texts.truncate(max);
    if extra > 0 {
        texts.push(format!("and {extra} more"));
    }
    parts.extend(texts);
    parts.join("; ")
}

fn unit_text(cx: &Ctx, v: &Verdict, unit_sizes: &BTreeMap<&str, usize>) -> String {
    match v.class {
        TestClass::Serial => "alone, in the serial phase".into(),
        TestClass::Heavy => "heavy phase".into(),
        _ => {
            let n = unit_sizes.get(v.unit.as_str()).copied().unwrap_or(1);
            let _ = cx;
            format!("{} ({})", code(&v.unit), plural(n, "test", "tests"))
        }
    }
}

fn coordinated(out: &mut String, cx: &Ctx) {
    out.push_str("## Tests that cannot run freely in parallel\n\n");
    let mut rows: Vec<usize> = (0..cx.a.verdicts.len())
        .filter(|&i| cx.a.verdicts[i].class != TestClass::Parallel)
        .collect();
    if rows.is_empty() {
        out.push_str("None: every test can run on any worker at any time.\n\n");
        return;
    }
    let rank = |c: TestClass| match c {
        TestClass::Serial => 0,
        TestClass::Heavy => 1,
        TestClass::Grouped => 2,
        TestClass::OrderRisk => 3,
        TestClass::Parallel => 4,
    };
    rows.sort_by(|&x, &y| {
        let (vx, vy) = (&cx.a.verdicts[x], &cx.a.verdicts[y]);
        rank(vx.class)
            .cmp(&rank(vy.class))
            .then(vx.nodeid.cmp(&vy.nodeid))
    });
    let mut unit_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &cx.a.verdicts {
        *unit_sizes.entry(v.unit.as_str()).or_default() += 1;
    }
    out.push_str(
        "Every test here is scheduled with care by `isoaudit run`; a plain `pytest -n` run may \
         break it. Most severe first.\n\n",
    );
    let observed =
        cx.a.verdicts
            .iter()
            .any(|v| !v.observed.is_empty() || v.triage.is_some() || v.observed_heavy.is_some());
    if observed {
        out.push_str(&header(&[
            "test",
            "class",
            "runs with",
            "why",
            "seen at run time",
        ]));
    } else {
        out.push_str(&header(&["test", "class", "runs with", "why"]));
    }
    let hidden = rows.len().saturating_sub(MAX_ROWS);
    rows.truncate(MAX_ROWS);
    for i in rows {
        let v = &cx.a.verdicts[i];
        let mut cells = vec![
            cx.test_link(i),
            code(v.class.as_str()),
            unit_text(cx, v, &unit_sizes),
            why(cx, i, 4),
        ];
        if observed {
            cells.push(seen_text(v));
        }
        out.push_str(&row(&cells));
    }
    out.push('\n');
    if hidden > 0 {
        let _ = writeln!(
            out,
            "{hidden} more {} not listed; `isoaudit plan --format json` gives every test with its class and resources.\n",
            if hidden == 1 { "test is" } else { "tests are" }
        );
    }
}

/// The "seen at run time" cell: observed keys (at most 3), a remembered
/// isolation bug, a measured weight.
fn seen_text(v: &Verdict) -> String {
    let mut parts: Vec<String> = Vec::new();
    let keys: Vec<&str> = v
        .observed
        .iter()
        .filter(|(k, _)| crate::observed::key_kind(k) != crate::observed::KeyKind::Note)
        .map(|(k, _)| k.as_str())
        .collect();
    if !keys.is_empty() {
        parts.push(keys_text(&keys, 3));
    }
    match &v.triage {
        Some(s) if s.is_empty() => {
            parts.push("failed in parallel, passed alone: runs serially".into())
        }
        Some(s) => parts.push(format!(
            "failed in parallel, passed alone: runs with {}",
            s.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
        )),
        None => {}
    }
    if let Some(h) = &v.observed_heavy {
        parts.push(format!("heavy: {h}"));
    }
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join("; ")
    }
}

/// Hazards only a run saw: observed keys the static analysis did not find,
/// with the first frame in the project's code.
fn seen_at_run_time(out: &mut String, cx: &Ctx) {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (i, v) in cx.a.verdicts.iter().enumerate() {
        for (key, e) in v.observed_only() {
            let mut how = e.access.clone();
            if let Some(f) = &e.fixture {
                how.push_str(&format!(" in fixture {}", code(f)));
            }
            if let Some(stage) = &e.stage {
                how.push_str(&format!(" ({stage})"));
            }
            let at = if e.at.is_empty() {
                "changed between the test's start and end".to_string()
            } else {
                code(&e.at)
            };
            rows.push([cx.test_link(i), code(key), how, at]);
        }
    }
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "## Hazards only the run saw

",
    );
    out.push_str(
        "`isoaudit run` observed these tests touch these resources; the static analysis did not find them (`.isoaudit/observed.json`, from the last run of each test). They are scheduled as if found; fix them in the code at the frame given.\n\n",
    );
    out.push_str(&header(&["test", "resource", "how", "where"]));
    let hidden = rows.len().saturating_sub(MAX_ROWS);
    for r in rows.iter().take(MAX_ROWS) {
        out.push_str(&row(r));
    }
    out.push('\n');
    if hidden > 0 {
        let _ = writeln!(out, "{hidden} more not listed.\n");
    }
}

fn marker_text(cx: &Ctx, module: usize, m: &Marker) -> String {
    let module = m.site_module(module);
    let level = match (&m.site, m.level) {
        (crate::pytest::MarkerSite::Hook { .. }, _) => " (added by a conftest hook)",
        (_, MarkerLevel::Function) => "",
        (_, MarkerLevel::Class) => " (class)",
        (_, MarkerLevel::Module) => " (module)",
    };
    format!(
        "{}{level} {}",
        code(&m.name),
        cx.links.labelled(
            &format!("line {}", cx.line(module, m.span)),
            cx.rel(module),
            cx.line(module, m.span)
        )
    )
}

fn keys_text(keys: &[&str], max: usize) -> String {
    let mut parts: Vec<String> = keys.iter().take(max).map(|k| code(k)).collect();
    if keys.len() > max {
        parts.push(format!("and {} more", keys.len() - max));
    }
    parts.join(", ")
}

fn first_help(v: &Verdict, effects: &[Effect]) -> Option<String> {
    let mut hs: Vec<&Reached> = v
        .hazards
        .iter()
        .filter(|r| {
            ctx::counts(r) && effects.contains(&r.hazard.effect) && !r.hazard.help.is_empty()
        })
        .collect();
    hs.sort_by_key(|r| (effect_rank(r.hazard.effect), r.hazard.code));
    hs.first().map(|r| sentences([r.hazard.help.as_str()]))
}

fn marker_audit(out: &mut String, cx: &Ctx) {
    out.push_str("## Marker audit\n\n");
    let a = cx.a;
    let mut rows: Vec<(MarkerVerdict, usize)> = a
        .verdicts
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.marker_verdict.map(|mv| (mv, i)))
        .collect();
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "No test carries an isolation marker ({}).\n",
            isolation_marker_names(a)
        );
        return;
    }
    rows.sort_by(|x, y| {
        x.0.cmp(&y.0)
            .then(a.verdicts[x.1].nodeid.cmp(&a.verdicts[y.1].nodeid))
    });
    out.push_str(
        "One row per marked test. **Truly required**: a hazard that cannot be made unique, or a \
         reason the team gave: keep the marker. **Resource conflict**: the test shares a named \
         resource, so it can be grouped with the other users instead of running alone. \
         **Defensive**: nothing shared was found: remove the marker. **Legacy**: what it shares \
         is already isolated (`tmp_path`, `monkeypatch`...): remove the marker.\n\n",
    );
    let counts = marker_counts(cx);
    let list: Vec<String> = VERDICTS
        .iter()
        .map(|v| format!("{} {}", v.as_str(), counts.get(v).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(out, "{}.\n", list.join(" · "));
    // Site verdicts, for markers that cover several tests.
    let sites: BTreeMap<(usize, Span), (MarkerVerdict, usize)> =
        crate::rules::markers::marker_sites(a)
            .into_iter()
            .map(|(m, mk, tests, v)| ((m, mk.span), (v, tests.len())))
            .collect();
    out.push_str(&header(&[
        "test",
        "marker",
        "reason",
        "verdict",
        "why",
        "suggested change",
    ]));
    for (mv, i) in rows {
        let v = &a.verdicts[i];
        let markers: Vec<String> = v
            .isolation_markers
            .iter()
            .map(|m| marker_text(cx, v.module, m))
            .collect();
        let reason = v
            .isolation_markers
            .iter()
            .find_map(|m| m.reason.as_deref())
            .map(|r| format!("“{}”", inline(r)))
            .unwrap_or_else(|| "—".into());
        let shared: BTreeSet<&str> = v.resources.iter().map(String::as_str).collect();
        let order: BTreeSet<&str> = v.order_keys.iter().map(String::as_str).collect();
        let analysed = ctx::analysed_class(v);
        let fixtures = cx.a.closures[i].fixtures.len();
        let (why_text, change) = match mv {
            MarkerVerdict::TrulyRequired => {
                let has_reason = v.isolation_markers.iter().any(|m| m.reason.is_some());
                match (analysed, has_reason) {
                    (TestClass::Serial, false) => (
                        format!("must run alone: {}", why_hazards(cx, i)),
                        "Keep; add `reason=` (`isoaudit check --fix` writes it).".to_string(),
                    ),
                    (TestClass::Serial, true) => (
                        format!("must run alone: {}", why_hazards(cx, i)),
                        "Keep.".to_string(),
                    ),
                    (TestClass::Parallel, _) => (
                        format!(
                            "the reason is honoured; isoaudit finds nothing shared in the test or its {}",
                            plural(fixtures, "fixture", "fixtures")
                        ),
                        "Check the reason still holds; if not, remove the marker.".to_string(),
                    ),
                    (_, _) => (
                        format!(
                            "the reason is honoured; isoaudit finds only {}",
                            keys_text(&shared.iter().chain(order.iter()).copied().collect::<Vec<_>>(), 3)
                        ),
                        "Keep while the reason holds; without the marker the test would be grouped with the other users of these resources instead of running alone.".to_string(),
                    ),
                }
            }
            MarkerVerdict::ResourceConflict => {
                let keys: Vec<&str> = shared.iter().chain(order.iter()).copied().collect();
                let what = if !shared.is_empty() {
                    format!("shares {}", keys_text(&keys, 3))
                } else {
                    format!("leaks or relies on {}", keys_text(&keys, 3))
                };
                let better = first_help(v, &[Effect::Shared, Effect::Order, Effect::Heavy])
                    .map(|h| format!(" To free it entirely: {h}"))
                    .unwrap_or_default();
                (
                    format!("{what}: named resources, so the scheduler can group the tests that use them"),
                    format!("Remove the marker; `isoaudit run` runs it with the other users of the resource and in parallel with everything else.{better}"),
                )
            }
            MarkerVerdict::Defensive => (
                format!(
                    "nothing shared, leaked or heavy in the test or its {}",
                    plural(fixtures, "fixture", "fixtures")
                ),
                "Remove the marker (`isoaudit check --fix --unsafe-fixes`).".to_string(),
            ),
            MarkerVerdict::Legacy => (
                format!(
                    "already isolated by {}",
                    v.mitigations
                        .iter()
                        .map(|m| code(m))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "Remove the marker (`isoaudit check --fix --unsafe-fixes`).".to_string(),
            ),
        };
        // A class or module marker another test needs stays; say so.
        let change = match v
            .isolation_markers
            .iter()
            .filter_map(|m| sites.get(&(m.site_module(v.module), m.span)))
            .find(|(site_v, n)| *n > 1 && site_v < &mv)
        {
            Some((site_v, n)) if matches!(mv, MarkerVerdict::Defensive | MarkerVerdict::Legacy) => format!(
                "The marker covers {n} tests and is {} for another of them: move it onto the tests that need it.",
                site_v.as_str()
            ),
            _ => change,
        };
        out.push_str(&row(&[
            cx.test_link(i),
            markers.join(", "),
            reason,
            mv.as_str().to_string(),
            why_text,
            change,
        ]));
    }
    out.push('\n');
}

/// The serial hazards of a test, for "must run alone".
fn why_hazards(cx: &Ctx, i: usize) -> String {
    let v = &cx.a.verdicts[i];
    hazards_text(
        cx,
        v.hazards
            .iter()
            .filter(|r| ctx::counts(r) && r.hazard.effect == Effect::Serial),
    )
    .join("; ")
}

/// Per resource key: who carries it and who reaches it.
struct KeyInfo {
    effects: BTreeSet<Effect>,
    owners: BTreeMap<Owner, BTreeSet<usize>>,
    tests: BTreeSet<usize>,
    helps: BTreeMap<&'static str, String>,
}

fn key_infos(cx: &Ctx) -> BTreeMap<String, KeyInfo> {
    let mut keys: BTreeMap<String, KeyInfo> = BTreeMap::new();
    for (i, v) in cx.a.verdicts.iter().enumerate() {
        for r in &v.hazards {
            let Some(k) = &r.hazard.key else { continue };
            if r.hazard.code == "marker" || r.hazard.effect == Effect::Note {
                continue;
            }
            let info = keys.entry(k.clone()).or_insert_with(|| KeyInfo {
                effects: BTreeSet::new(),
                owners: BTreeMap::new(),
                tests: BTreeSet::new(),
                helps: BTreeMap::new(),
            });
            info.effects.insert(r.hazard.effect);
            let owner = match r.fixture {
                Some(f) => Owner::Fixture(f),
                None => Owner::Test(i),
            };
            info.owners.entry(owner).or_default().insert(i);
            info.tests.insert(i);
            if !r.hazard.help.is_empty() {
                info.helps
                    .entry(r.hazard.code)
                    .or_insert_with(|| r.hazard.help.clone());
            }
        }
    }
    // Readers of leaked state are in its blast radius too.
    for (i, v) in cx.a.verdicts.iter().enumerate() {
        for k in ctx::read_keys(v) {
            if let Some(info) = keys.get_mut(k) {
                info.tests.insert(i);
            }
        }
    }
    keys
}

fn effects_text(effects: &BTreeSet<Effect>) -> String {
    let mut parts = Vec::new();
    if effects.contains(&Effect::Serial) {
        parts.push("destroyed or locked as a whole: users run alone");
    }
    if effects.contains(&Effect::Shared) {
        parts.push("shared by every worker");
    }
    if effects.contains(&Effect::Order) {
        parts.push("leaks to later tests on the same worker");
    }
    if effects.contains(&Effect::Heavy) {
        parts.push("exhausts memory or CPU");
    }
    parts.join("; ")
}

fn owners_text(cx: &Ctx, owners: &BTreeMap<Owner, BTreeSet<usize>>) -> String {
    let mut fixtures: Vec<String> = Vec::new();
    let mut bodies = 0;
    for o in owners.keys() {
        match o {
            Owner::Fixture(f) => fixtures.push(cx.fixture_ref(*f)),
            Owner::Test(_) => bodies += 1,
        }
    }
    let extra = fixtures.len().saturating_sub(NAMES);
    fixtures.truncate(NAMES);
    if extra > 0 {
        fixtures.push(plural(extra, "more fixture", "more fixtures"));
    }
    if bodies > 0 {
        fixtures.push(plural(bodies, "test body", "test bodies"));
    }
    fixtures.join(", ")
}

fn resources(out: &mut String, cx: &Ctx) {
    out.push_str("## Shared resources\n\n");
    let keys = key_infos(cx);
    if keys.is_empty() {
        out.push_str("None found.\n\n");
        return;
    }
    let mut order: Vec<(&String, &KeyInfo)> = keys.iter().collect();
    order.sort_by(|x, y| y.1.tests.len().cmp(&x.1.tests.len()).then(x.0.cmp(y.0)));
    out.push_str(
        "One row per resource, most tests first. The blast radius is every test that reaches the \
         resource through its own body or its fixtures; the fix frees all of them.\n\n",
    );
    out.push_str(&header(&[
        "resource",
        "kind",
        "conflict",
        "where",
        "blast radius",
        "fix",
    ]));
    for (k, info) in order.iter().take(MAX_ROWS) {
        let tests: Vec<usize> = info.tests.iter().copied().collect();
        out.push_str(&row(&[
            code(k),
            code(kind_of(k)),
            effects_text(&info.effects),
            owners_text(cx, &info.owners),
            format!(
                "**{}**: {}",
                plural(tests.len(), "test", "tests"),
                cx.test_names(&tests, NAMES)
            ),
            sentences(info.helps.values().map(String::as_str)),
        ]));
    }
    out.push('\n');
    if order.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "{} reaching fewer tests are not listed.\n",
            plural(order.len() - MAX_ROWS, "more resource", "more resources")
        );
    }

    // The largest groups, drawn.
    let drawn: Vec<FlowKey> = order
        .iter()
        .take(FLOWCHART_KEYS)
        .map(|(k, info)| {
            let mut owners = Vec::new();
            let mut bodies: BTreeSet<usize> = BTreeSet::new();
            for (owner, tests) in &info.owners {
                match owner {
                    Owner::Fixture(f) => owners.push(FlowOwner {
                        name: cx.fixture_name(*f).to_string(),
                        tests: tests
                            .iter()
                            .map(|&i| (cx.a.verdicts[i].nodeid.clone(), cx.short(i)))
                            .collect(),
                    }),
                    Owner::Test(_) => bodies.extend(tests.iter().copied()),
                }
            }
            if !bodies.is_empty() {
                owners.push(FlowOwner {
                    name: "test bodies".into(),
                    tests: bodies
                        .iter()
                        .map(|&i| (cx.a.verdicts[i].nodeid.clone(), cx.short(i)))
                        .collect(),
                });
            }
            FlowKey {
                key: k.to_string(),
                owners,
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "The {} largest {}, as resource → where it is used → the tests behind it:\n",
        drawn.len(),
        if drawn.len() == 1 {
            "resource"
        } else {
            "resources"
        }
    );
    out.push_str(&resource_flowchart(&drawn, FLOWCHART_TESTS));
    if order.len() > drawn.len() {
        let _ = writeln!(
            out,
            "{} not drawn (see the table above).",
            plural(
                order.len() - drawn.len(),
                "smaller resource",
                "smaller resources"
            )
        );
    }
    out.push('\n');
}

/// A resource in the flowchart and where its tests reach it.
pub struct FlowKey {
    pub key: String,
    pub owners: Vec<FlowOwner>,
}

/// A fixture (or the test bodies) using a resource, with the tests behind
/// it as (nodeid, short name).
pub struct FlowOwner {
    pub name: String,
    pub tests: Vec<(String, String)>,
}

/// The fenced Mermaid flowchart of `keys`: resource → owner → tests, at
/// most `max_tests` tests per owner and the rest counted in one node. A
/// test reached through several resources is one node, so the groups that
/// share tests are drawn joined.
pub fn resource_flowchart(keys: &[FlowKey], max_tests: usize) -> String {
    use super::graph::mermaid_id;
    let mut out = String::from("```mermaid\nflowchart LR\n");
    let mut tests: BTreeMap<String, String> = BTreeMap::new();
    let mut edges = String::new();
    for (ki, k) in keys.iter().enumerate() {
        let _ = writeln!(out, "  r{ki}[\"{}\"]", mermaid_label(&k.key));
        for (oi, owner) in k.owners.iter().enumerate() {
            let o = format!("r{ki}o{oi}");
            let _ = writeln!(out, "  {o}[\"{}\"]", mermaid_label(&owner.name));
            let _ = writeln!(edges, "  r{ki} --> {o}");
            for (nodeid, name) in owner.tests.iter().take(max_tests) {
                let id = format!("t_{}", mermaid_id(nodeid));
                tests.entry(id.clone()).or_insert_with(|| name.clone());
                let _ = writeln!(edges, "  {o} --> {id}");
            }
            if owner.tests.len() > max_tests {
                let more = owner.tests.len() - max_tests;
                let _ = writeln!(
                    out,
                    "  {o}m([\"{}\"])",
                    plural(more, "more test", "more tests")
                );
                let _ = writeln!(edges, "  {o} --> {o}m");
            }
        }
    }
    for (id, name) in &tests {
        let _ = writeln!(out, "  {id}([\"{}\"])", mermaid_label(name));
    }
    out.push_str(&edges);
    out.push_str("```\n");
    out
}

/// Text inside a quoted Mermaid label.
pub fn mermaid_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

fn fixtures(out: &mut String, cx: &Ctx) {
    out.push_str("## Fixtures\n\n");
    let a = cx.a;
    let total = a.verdicts.len();
    let many = (total / 5).max(5);
    let mut list: Vec<(FixtureRef, usize)> = Vec::new();
    let mut all = 0;
    for (mi, m) in a.suite.modules.iter().enumerate() {
        if m.support {
            continue;
        }
        for (fi, f) in m.fixtures.iter().enumerate() {
            if f.synthetic {
                continue;
            }
            all += 1;
            let r = FixtureRef {
                module: mi,
                index: fi,
            };
            let n = cx.dependants(r).len();
            let hazardous = a
                .facts
                .fixtures
                .get(&r)
                .is_some_and(|ff| ff.hazards.iter().any(|h| h.effect != Effect::Note));
            if hazardous || n >= many || shared_value(cx, r).is_some() {
                list.push((r, n));
            }
        }
    }
    if list.is_empty() {
        let _ = writeln!(
            out,
            "No fixture has hazards or {many} or more dependent tests ({} defined).\n",
            plural(all, "fixture", "fixtures")
        );
        return;
    }
    list.sort_by(|x, y| {
        y.1.cmp(&x.1)
            .then_with(|| a.suite.fixture(x.0).id.cmp(&a.suite.fixture(y.0).id))
    });
    let _ = writeln!(
        out,
        "Fixtures with hazards, handing out a shared connection, or used by {many} or more tests \
         ({} of {} defined), most dependants first.\n",
        list.len(),
        all
    );
    out.push_str(&header(&[
        "fixture",
        "scope",
        "autouse",
        "hazards",
        "tests depending on it",
    ]));
    for (r, n) in list {
        let f = a.suite.fixture(r);
        // Codes per key: `key` (ISO101, ISO304); unkeyed codes alone.
        let mut by_key: BTreeMap<Option<&str>, BTreeSet<&str>> = BTreeMap::new();
        if let Some(ff) = a.facts.fixtures.get(&r) {
            for h in &ff.hazards {
                if h.effect != Effect::Note {
                    by_key.entry(h.key.as_deref()).or_default().insert(h.code);
                }
            }
        }
        let mut hz: Vec<String> = by_key
            .into_iter()
            .map(|(k, codes)| {
                let codes: Vec<&str> = codes.into_iter().collect();
                match k {
                    Some(k) => format!("{} ({})", code(k), codes.join(", ")),
                    None => codes.join(", "),
                }
            })
            .collect();
        if let Some(k) = shared_value(cx, r) {
            hz.push(format!(
                "hands one {} connection to every test in its scope",
                code(&k)
            ));
        }
        out.push_str(&row(&[
            cx.fixture_ref(r),
            code(f.scope.as_str()),
            if f.autouse { "yes" } else { "no" }.into(),
            if hz.is_empty() {
                "—".into()
            } else {
                hz.join(", ")
            },
            n.to_string(),
        ]));
    }
    out.push('\n');
}

/// A wider-scoped fixture handing out a shared service client.
fn shared_value(cx: &Ctx, r: FixtureRef) -> Option<String> {
    let f = cx.a.suite.fixture(r);
    if f.scope == Scope::Function {
        return None;
    }
    match cx.a.facts.fixtures.get(&r)?.value.as_ref()? {
        Val::Obj(Obj::Service(k)) => Some(k.clone()),
        _ => None,
    }
}

/// Splits "problem; fix: advice" at the last "; fix: ".
fn split_fix(f: &Finding) -> (String, String) {
    match f.message.rfind("; fix: ") {
        Some(i) => (
            f.message[..i].to_string(),
            f.message[i + "; fix: ".len()..].to_string(),
        ),
        None => (f.message.clone(), f.help.clone().unwrap_or_default()),
    }
}

fn findings(out: &mut String, cx: &Ctx, findings: &[Finding]) {
    out.push_str("## Findings by file\n\n");
    if findings.is_empty() {
        out.push_str("No findings.\n\n");
        return;
    }
    let _ = writeln!(
        out,
        "{} as `isoaudit check` reports them; `isoaudit rule CODE` explains each code.\n",
        plural(findings.len(), "finding", "findings")
    );
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().take(MAX_ROWS) {
        by_file.entry(f.path.as_str()).or_default().push(f);
    }
    for (path, list) in by_file {
        let _ = writeln!(out, "### {}\n", cx.links.file(path));
        out.push_str(&header(&["line", "code", "problem", "fix"]));
        for f in list {
            let (problem, fix) = split_fix(f);
            let mut fix = inline(&fix);
            if let Some(x) = &f.fix {
                fix.push_str(match x.applicability {
                    Applicability::Safe => " (automatic: `isoaudit check --fix`)",
                    Applicability::Unsafe => " (automatic: `isoaudit check --fix --unsafe-fixes`)",
                });
            }
            out.push_str(&row(&[
                cx.links.labelled(&f.line.to_string(), path, f.line),
                code(&f.code),
                inline(&problem),
                if fix.is_empty() { "—".into() } else { fix },
            ]));
        }
        out.push('\n');
    }
    if findings.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "{} more {} not listed; `isoaudit check` prints them all.\n",
            findings.len() - MAX_ROWS,
            if findings.len() - MAX_ROWS == 1 {
                "finding is"
            } else {
                "findings are"
            }
        );
    }
}

fn step_title(cx: &Ctx, step: &Step, sites: &[steps::Site]) -> String {
    match &step.kind {
        StepKind::Fixture(f) => format!("fix fixture {}", code(cx.fixture_name(*f))),
        StepKind::TestBody(t) => format!("fix the body of {}", code(&cx.short(*t))),
        StepKind::Key(k) => {
            let effects: BTreeSet<Effect> = step.sites.iter().map(|&i| sites[i].effect).collect();
            if effects.iter().all(|e| *e == Effect::Order) {
                format!("stop leaking {}", code(k))
            } else if effects.iter().all(|e| *e == Effect::Heavy) {
                match k.as_str() {
                    "heavy:model" => "load models once, not per test".to_string(),
                    "heavy:cpu" => "size process pools for tests, not for every CPU".to_string(),
                    _ => format!("lighten {}", code(k)),
                }
            } else {
                format!("stop sharing {}", code(k))
            }
        }
        StepKind::RemoveMarkers(v) => format!(
            "remove {} {}",
            step.markers.len(),
            match (v, step.markers.len()) {
                (MarkerVerdict::ResourceConflict, 1) => "resource-conflict marker".to_string(),
                (MarkerVerdict::ResourceConflict, _) => "resource-conflict markers".to_string(),
                (v, 1) => format!("{} marker", v.as_str()),
                (v, _) => format!("{} markers", v.as_str()),
            }
        ),
        StepKind::AddReasons => format!(
            "give {} a reason",
            plural(step.markers.len(), "required marker", "required markers")
        ),
        StepKind::AddMarkers => "mark the tests that need coordination".into(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn next_steps(out: &mut String, cx: &Ctx, steps: &Steps) {
    out.push_str("## Next steps\n\n");
    if steps.steps.is_empty() {
        out.push_str("Nothing to do: no test needs coordination and no marker needs attention.\n");
        return;
    }
    out.push_str(
        "Ordered by how many tests each change frees. A freed test has no reason left to be \
         coordinated: it runs on any worker at any time. Makespans are planned at the same \
         workers as the summary.\n\n",
    );
    for (n, step) in steps.steps.iter().enumerate() {
        let mut head = format!(
            "{}. **{}**",
            n + 1,
            capitalize(&step_title(cx, step, &steps.sites))
        );
        match &step.kind {
            StepKind::Fixture(f) => {
                let fx = cx.a.suite.fixture(*f);
                let _ = write!(head, " ({})", cx.site_link(f.module, fx.span));
            }
            StepKind::TestBody(t) => {
                let test = cx.tests[*t];
                let _ = write!(head, " ({})", cx.site_link(test.module, test.span));
            }
            _ => {}
        }
        let mut lines: Vec<String> = Vec::new();
        let effect = match &step.kind {
            StepKind::RemoveMarkers(MarkerVerdict::ResourceConflict) => {
                if step.unserialised.is_empty() {
                    "frees no test: each also carries a marker that stays".to_string()
                } else {
                    format!(
                        "frees no test entirely; {} stop running alone and run with the other users of {} resource instead ({})",
                        plural(step.unserialised.len(), "test", "tests"),
                        if step.unserialised.len() == 1 { "its" } else { "their" },
                        cx.test_names(&step.unserialised, NAMES)
                    )
                }
            }
            StepKind::RemoveMarkers(_) => {
                if step.freed.is_empty() {
                    "frees no test: each also carries a marker that stays".to_string()
                } else {
                    format!(
                        "frees **{}** from marker serialisation: {}",
                        plural(step.freed.len(), "test", "tests"),
                        cx.test_names(&step.freed, NAMES)
                    )
                }
            }
            StepKind::AddReasons => {
                "frees no test, but tells the next reader why the marker must stay (`isoaudit check --fix` writes the reason)".to_string()
            }
            StepKind::AddMarkers => {
                let unmarked = steps::unmarked(cx);
                format!(
                    "frees no test: {} without a marker; a plain `pytest -n` run can break them. Add `@pytest.mark.{}(reason=...)` or run the suite with `isoaudit run`",
                    plural(unmarked.len(), "test is serial or grouped", "tests are serial or grouped"),
                    cx.a.project
                        .settings
                        .isolation_markers
                        .first()
                        .map(String::as_str)
                        .unwrap_or("isolation")
                )
            }
            _ => {
                let mut s = format!(
                    "frees **{}**: {}",
                    plural(step.freed.len(), "test", "tests"),
                    cx.test_names(&step.freed, NAMES)
                );
                if step.freed.is_empty() {
                    s = "frees no test entirely".into();
                }
                if !step.unserialised.is_empty() {
                    let _ = write!(
                        s,
                        "; moves {} out of the serial phase ({})",
                        plural(step.unserialised.len(), "test", "tests"),
                        cx.test_names(&step.unserialised, NAMES)
                    );
                }
                s
            }
        };
        let _ = write!(head, ": {effect}");
        if let Some((before, after)) = step.makespan {
            if (before - after).abs() >= 0.05 {
                let base = if matches!(step.kind, StepKind::RemoveMarkers(_)) {
                    " with markers honoured"
                } else {
                    ""
                };
                let _ = write!(
                    head,
                    ". Planned makespan{base}: {} → {}",
                    seconds(before),
                    seconds(after)
                );
            }
        }
        head.push('.');
        match &step.kind {
            StepKind::Key(_) => {
                let mut owners: BTreeSet<Owner> = BTreeSet::new();
                let mut helps: BTreeMap<&str, &str> = BTreeMap::new();
                for &s in &step.sites {
                    owners.insert(steps.sites[s].owner);
                    helps
                        .entry(steps.sites[s].code)
                        .or_insert(steps.sites[s].help.as_str());
                }
                let owners: BTreeMap<Owner, BTreeSet<usize>> =
                    owners.into_iter().map(|o| (o, BTreeSet::new())).collect();
                lines.push(format!("Where: {}.", owners_text(cx, &owners)));
                let how = sentences(helps.values().copied());
                if !how.is_empty() {
                    lines.push(format!("How: {how}"));
                }
            }
            StepKind::Fixture(_) | StepKind::TestBody(_) => {
                let mut seen = BTreeSet::new();
                let mut what: Vec<String> = Vec::new();
                let mut helps: Vec<&str> = Vec::new();
                for &s in &step.sites {
                    let site = &steps.sites[s];
                    let w = match &site.key {
                        Some(k) => format!("{} {}", site.code, code(k)),
                        None => site.code.to_string(),
                    };
                    if seen.insert(w.clone()) {
                        what.push(format!("{w} ({})", cx.site_link(site.module, site.span)));
                    }
                    helps.push(&site.help);
                }
                lines.push(format!("What: {}.", what.join(", ")));
                let how = sentences(helps);
                if !how.is_empty() {
                    lines.push(format!("How: {how}"));
                }
            }
            StepKind::RemoveMarkers(_) | StepKind::AddReasons => {
                let mut links: Vec<String> = step
                    .markers
                    .iter()
                    .take(NAMES)
                    .map(|(m, span)| cx.site_link(*m, *span))
                    .collect();
                if step.markers.len() > NAMES {
                    links.push(format!("and {} more", step.markers.len() - NAMES));
                }
                lines.push(format!("Markers: {}.", links.join(", ")));
                match step.kind {
                    StepKind::RemoveMarkers(MarkerVerdict::ResourceConflict) => lines.push(
                        "Remove them by hand once the suite runs under `isoaudit run`, which groups these tests; a plain `pytest -n` run still needs them."
                            .into(),
                    ),
                    StepKind::RemoveMarkers(_) => {
                        lines.push("`isoaudit check --fix --unsafe-fixes` removes them.".into())
                    }
                    _ => {}
                }
            }
            StepKind::AddMarkers => {}
        }
        out.push_str(&head);
        out.push('\n');
        // Sub-items line up with the item's text, past "10. ".
        let indent = " ".repeat(format!("{}. ", n + 1).len());
        for l in lines {
            let _ = writeln!(out, "{indent}- {l}");
        }
    }
    if steps.omitted.0 > 0 {
        let _ = writeln!(
            out,
            "\n{}, each freeing at most {}, are in the findings above.",
            plural(steps.omitted.0, "more change", "more changes"),
            plural(steps.omitted.1, "test", "tests")
        );
    }
}

/// The configured isolation marker names, as inline code, comma-separated.
fn isolation_marker_names(a: &crate::Analysis) -> String {
    a.project
        .settings
        .isolation_markers
        .iter()
        .map(|m| code(m))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks what Mermaid needs to parse a flowchart: the header, node
    /// ids of `[A-Za-z0-9_]` only, quoted labels without a raw `"`, and
    /// every edge between declared nodes. Returns (nodes, edges).
    fn well_formed(chart: &str) -> (BTreeMap<String, String>, Vec<(String, String)>) {
        let body = chart
            .strip_prefix("```mermaid\nflowchart LR\n")
            .and_then(|b| b.strip_suffix("```\n"))
            .unwrap_or_else(|| panic!("fences: {chart}"));
        let id_ok =
            |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let mut nodes = BTreeMap::new();
        let mut edges = Vec::new();
        for line in body.lines() {
            let line = line.strip_prefix("  ").unwrap_or_else(|| panic!("{line}"));
            if let Some((a, b)) = line.split_once(" --> ") {
                assert!(id_ok(a) && id_ok(b), "{line}");
                edges.push((a.to_string(), b.to_string()));
                continue;
            }
            let open = line.find(['[', '(']).unwrap_or_else(|| panic!("{line}"));
            let (id, shape) = line.split_at(open);
            assert!(id_ok(id), "{line}");
            let label = shape
                .strip_prefix("[\"")
                .and_then(|l| l.strip_suffix("\"]"))
                .or_else(|| {
                    shape
                        .strip_prefix("([\"")
                        .and_then(|l| l.strip_suffix("\"])"))
                })
                .unwrap_or_else(|| panic!("{line}"));
            assert!(!label.contains(['"', '<', '>', '\n']), "{line}");
            assert!(
                nodes.insert(id.to_string(), label.to_string()).is_none(),
                "{line}"
            );
        }
        for (a, b) in &edges {
            assert!(
                nodes.contains_key(a) && nodes.contains_key(b),
                "{a} --> {b}"
            );
        }
        (nodes, edges)
    }

    fn owner(name: &str, tests: &[&str]) -> FlowOwner {
        FlowOwner {
            name: name.into(),
            tests: tests
                .iter()
                .map(|t| (t.to_string(), t.rsplit("::").next().unwrap().to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_resource_flowchart_is_well_formed_escaped_and_limited() {
        let keys = vec![
            FlowKey {
                key: "path:/tmp/\"x\"<y>#1".into(),
                owners: vec![
                    owner(
                        "work_dir",
                        &[
                            "tests/a b.py::test_one[x-\"q\"]",
                            "tests/a b.py::test_two",
                            "tests/c.py::TestK::test_3",
                            "tests/c.py::test_4",
                            "tests/c.py::test_5",
                        ],
                    ),
                    owner("test bodies", &["tests/a b.py::test_two"]),
                ],
            },
            FlowKey {
                key: "env:MODE".into(),
                owners: vec![owner("mode", &["tests/a b.py::test_two"])],
            },
        ];
        let chart = resource_flowchart(&keys, 3);
        let (nodes, edges) = well_formed(&chart);
        assert_eq!(nodes["r0"], "path:/tmp/#quot;x#quot;#lt;y#gt;#35;1");
        // Three tests drawn under `work_dir`, the other two counted.
        assert_eq!(nodes["r0o0m"], "2 more tests");
        assert_eq!(edges.iter().filter(|(a, _)| a == "r0o0").count(), 4);
        // A test behind two resources is one node with two edges in.
        let two = format!(
            "t_{}",
            crate::report::graph::mermaid_id("tests/a b.py::test_two")
        );
        assert_eq!(nodes[&two], "test_two");
        assert_eq!(edges.iter().filter(|(_, b)| *b == two).count(), 3);
        let tests = nodes.keys().filter(|k| k.starts_with("t_")).count();
        assert_eq!(tests, 3);
    }
}
