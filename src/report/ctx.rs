//! Lookups the report sections share: tests by index, fixture dependants,
//! source lines, links, and how a hazard reached a test. Reads the analysis;
//! renders no section itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::classify::{Reached, Verdict};
use crate::facts::Effect;
use crate::graph::FixtureRef;
use crate::plan::TestClass;
use crate::pytest::Test;
use crate::python::ir::Span;
use crate::Analysis;

use super::md::{self, Links};

pub struct Ctx<'a> {
    pub a: &'a Analysis,
    /// Aligned with `a.verdicts`.
    pub tests: Vec<&'a Test>,
    pub links: Links,
    /// Tests (indexes) whose closure holds each fixture, sorted.
    pub dependants: HashMap<FixtureRef, Vec<usize>>,
    pub index_of: HashMap<&'a str, usize>,
    /// Tests writing each in-process key (possibly a `prefix*` wildcard).
    pub order_writers: BTreeMap<&'a str, BTreeSet<usize>>,
}

impl<'a> Ctx<'a> {
    pub fn new(a: &'a Analysis, links: Links) -> Self {
        let tests: Vec<&Test> = a.suite.tests().collect();
        let mut dependants: HashMap<FixtureRef, Vec<usize>> = HashMap::new();
        for (i, c) in a.closures.iter().enumerate() {
            for e in &c.fixtures {
                dependants.entry(e.fixture).or_default().push(i);
            }
        }
        for list in dependants.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        let index_of = a
            .verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| (v.nodeid.as_str(), i))
            .collect();
        let mut order_writers: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for (i, v) in a.verdicts.iter().enumerate() {
            for r in &v.hazards {
                if r.hazard.effect == Effect::Order {
                    if let Some(k) = r.hazard.key.as_deref() {
                        order_writers.entry(k).or_default().insert(i);
                    }
                }
            }
        }
        Ctx {
            a,
            tests,
            links,
            dependants,
            index_of,
            order_writers,
        }
    }

    /// Tests other than `except` that write in-process key `key`, sorted.
    pub fn writers_of(&self, key: &str, except: usize) -> Vec<usize> {
        let mut out: BTreeSet<usize> = BTreeSet::new();
        for (w, tests) in &self.order_writers {
            if writes_key(w, key) {
                out.extend(tests.iter().copied().filter(|&t| t != except));
            }
        }
        out.into_iter().collect()
    }

    pub fn rel(&self, module: usize) -> &str {
        &self.a.suite.modules[module].rel
    }

    pub fn line(&self, module: usize, span: Span) -> usize {
        self.a.texts[module].location(span).line
    }

    /// `[rel:line](...)` for a span.
    pub fn site_link(&self, module: usize, span: Span) -> String {
        self.links.line(self.rel(module), self.line(module, span))
    }

    /// The test's nodeid, linked to its definition.
    pub fn test_link(&self, i: usize) -> String {
        let t = self.tests[i];
        self.links
            .labelled(&t.nodeid, self.rel(t.module), self.line(t.module, t.span))
    }

    /// The fixture's name as code, then its definition as a link.
    pub fn fixture_ref(&self, r: FixtureRef) -> String {
        let f = self.a.suite.fixture(r);
        format!(
            "{} ({})",
            md::code(&f.name),
            self.site_link(r.module, f.span)
        )
    }

    pub fn fixture_name(&self, r: FixtureRef) -> &str {
        &self.a.suite.fixture(r).name
    }

    pub fn dependants(&self, r: FixtureRef) -> &[usize] {
        self.dependants.get(&r).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The short name of test `i` (function, with its class).
    pub fn short(&self, i: usize) -> String {
        short_id(&self.a.verdicts[i].nodeid).to_string()
    }

    /// Up to `max` short test names as code, then "and N more".
    pub fn test_names(&self, tests: &[usize], max: usize) -> String {
        let mut names: Vec<String> = tests
            .iter()
            .take(max)
            .map(|&i| md::code(&self.short(i)))
            .collect();
        if tests.len() > max {
            names.push(format!("and {} more", tests.len() - max));
        }
        names.join(", ")
    }
}

/// `tests/a.py::TestX::test_y` -> `TestX::test_y`; fixture ids alike.
pub fn short_id(id: &str) -> &str {
    match id.find("::") {
        Some(i) => &id[i + 2..],
        None => id,
    }
}

/// The name at the end of a chain element (`tests/conftest.py::db` -> `db`).
pub fn tail(id: &str) -> &str {
    id.rsplit("::").next().unwrap_or(id)
}

/// Does this hazard decide the test's class? (Notes do not; an in-process
/// write without a key cannot be grouped, so classify ignores it too.)
pub fn counts(r: &Reached) -> bool {
    match r.hazard.effect {
        Effect::Note => false,
        Effect::Order => r.hazard.key.is_some(),
        _ => true,
    }
}

/// What the analysis alone says of a test, before markers are honoured.
pub fn analysed_class(v: &Verdict) -> TestClass {
    let has = |e: Effect| v.hazards.iter().any(|r| counts(r) && r.hazard.effect == e);
    if has(Effect::Serial) {
        TestClass::Serial
    } else if has(Effect::Heavy) {
        TestClass::Heavy
    } else if has(Effect::Shared) {
        TestClass::Grouped
    } else if !v.order_keys.is_empty() {
        TestClass::OrderRisk
    } else {
        TestClass::Parallel
    }
}

/// Order keys the test relies on without writing them itself.
pub fn read_keys(v: &Verdict) -> Vec<&str> {
    let written: BTreeSet<&str> = v
        .hazards
        .iter()
        .filter(|r| r.hazard.effect == Effect::Order)
        .filter_map(|r| r.hazard.key.as_deref())
        .collect();
    v.order_keys
        .iter()
        .map(String::as_str)
        .filter(|k| !written.contains(k))
        .collect()
}

/// Does writer key `w` (possibly a `prefix*` wildcard) set key `k`?
pub fn writes_key(w: &str, k: &str) -> bool {
    w == k || w.strip_suffix('*').is_some_and(|p| k.starts_with(p))
}

/// The isolation marker with a reason that makes the test serial, if any.
pub fn honoured_reason(v: &Verdict) -> Option<&str> {
    if v.class != TestClass::Serial {
        return None;
    }
    v.isolation_markers.iter().find_map(|m| m.reason.as_deref())
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1.50 s`, `2 min 05 s` for longer spans.
pub fn seconds(s: f64) -> String {
    // No "-0.0 s" for an empty plan.
    let s = if s.abs() < 0.05 { 0.0 } else { s };
    if s >= 120.0 {
        let total = s.round() as u64;
        format!("{} min {:02} s", total / 60, total % 60)
    } else {
        format!("{s:.1} s")
    }
}
