//! Per-test verdicts: each test's hazards (its own plus its fixture closure's,
//! with the chain that brought them), its class, its work unit, and the audit
//! of its isolation markers. The scheduler and every report read this.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::facts::{Effect, Facts, Hazard};
use crate::graph::{Closure, FixtureRef, Suite};
use crate::plan::TestClass;
use crate::pytest::{Marker, Test};
use crate::python::ir::{ExprKind, Span};

/// A hazard as it reaches a test.
#[derive(Debug, Clone)]
pub struct Reached {
    pub hazard: Hazard,
    /// Test first, then the fixtures down to where the hazard is.
    pub chain: Vec<String>,
    /// The fixture whose body holds the hazard (None: the test's own body).
    pub fixture: Option<FixtureRef>,
}

/// The four marker-audit categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarkerVerdict {
    /// A hazard with no key, or a reason given: keep (runs serial).
    TrulyRequired,
    /// A keyed shared resource: group instead of serialising.
    ResourceConflict,
    /// No hazard at all: remove.
    Defensive,
    /// The hazard is already mitigated (`tmp_path`, `monkeypatch`...): remove.
    Legacy,
}

impl MarkerVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerVerdict::TrulyRequired => "truly required",
            MarkerVerdict::ResourceConflict => "resource conflict",
            MarkerVerdict::Defensive => "defensive",
            MarkerVerdict::Legacy => "legacy",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub nodeid: String,
    pub module: usize,
    pub class: TestClass,
    pub unit: String,
    /// External resource keys (Shared/Serial hazards), sorted.
    pub resources: Vec<String>,
    /// In-process keys written or relied on, sorted.
    pub order_keys: Vec<String>,
    pub codes: Vec<String>,
    pub hazards: Vec<Reached>,
    /// Isolation markers on the test (any level).
    pub isolation_markers: Vec<Marker>,
    pub marker_verdict: Option<MarkerVerdict>,
    pub mitigations: BTreeSet<String>,
    /// What runs saw this test touch (`.isoaudit/observed.json`), sorted.
    pub observed: Vec<(String, crate::observed::Evidence)>,
    /// Why a run's measurement makes it heavy.
    pub observed_heavy: Option<String>,
    /// An isolation bug a run found that still holds: the tests it runs
    /// with (none: it runs serially).
    pub triage: Option<Vec<String>>,
}

impl Verdict {
    /// Observed keys the static analysis did not find for this test.
    pub fn observed_only(&self) -> Vec<&(String, crate::observed::Evidence)> {
        use crate::observed::{key_kind, KeyKind};
        let static_keys: Vec<&str> = self
            .hazards
            .iter()
            .filter_map(|r| r.hazard.key.as_deref())
            .collect();
        self.observed
            .iter()
            .filter(|(k, _)| key_kind(k) != KeyKind::Note)
            .filter(|(k, _)| !static_keys.iter().any(|s| keys_overlap(s, k)))
            .collect()
    }
}

impl Verdict {
    /// What the scheduler needs of this verdict: external resources and
    /// in-process keys alike tell it which tests belong together.
    pub fn classified(&self) -> crate::plan::Classified {
        crate::plan::Classified {
            nodeid: self.nodeid.clone(),
            class: self.class,
            unit: self.unit.clone(),
            resources: self
                .resources
                .iter()
                .chain(self.order_keys.iter())
                .cloned()
                .collect(),
            codes: self.codes.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClassifyOptions {
    pub isolation_markers: Vec<String>,
    pub heavy_markers: Vec<String>,
    pub honor_markers: bool,
    /// Isolation markers conftest hooks add at collection, by nodeid.
    pub hook_markers: std::collections::HashMap<String, Vec<Marker>>,
    /// What earlier runs observed; merged with the static facts.
    pub observations: crate::observed::Observations,
}

/// Hazards a test's own parametrization brings (`parametrize` over a set).
fn parametrize_hazards(t: &Test, module: &crate::pytest::ModuleModel) -> Vec<Hazard> {
    let mut out = Vec::new();
    for p in &t.parametrize {
        let Some(values) = &p.values else { continue };
        // A module constant holding the values.
        let values = match &values.kind {
            ExprKind::Name(n) => module.constants.get(n.as_str()).unwrap_or(values),
            _ => values,
        };
        let unordered = match &values.kind {
            ExprKind::Set(items) => items
                .iter()
                .any(|i| !matches!(i.kind, ExprKind::Int(_) | ExprKind::Bool(_))),
            ExprKind::Call(c) => {
                matches!(c.func.dotted().as_deref(), Some(["set"] | ["frozenset"]))
            }
            _ => false,
        };
        if unordered {
            out.push(Hazard {
                code: "ISO705",
                key: None,
                effect: Effect::Serial,
                module: t.module,
                span: values.span,
                message: "parametrizes over a set, whose iteration order differs between processes; xdist workers collect different test lists and the run aborts".into(),
                help: "use a list or tuple, or `sorted(...)` of the set".into(),
                latent: false,
                api: None,
            });
        }
    }
    out
}

/// Does a key reach another (same key, or a path/URL inside the other)?
pub fn keys_overlap(a: &str, b: &str) -> bool {
    a == b || is_inside(a, b) || is_inside(b, a)
}

fn is_inside(child: &str, parent: &str) -> bool {
    (parent.starts_with("path:") || parent.starts_with("service:"))
        && child.len() > parent.len()
        && child.starts_with(parent)
        && child[parent.len()..].starts_with('/')
}

/// Ancestors of a path/service key (`path:/tmp/a/b` -> `path:/tmp/a`, `path:/tmp`).
fn ancestors(key: &str) -> Vec<String> {
    let (prefix, rest) = match key.split_once(':') {
        Some((p, r)) if p == "path" || p == "service" => (p, r),
        _ => return Vec::new(),
    };
    let floor = if prefix == "service" {
        rest.find("://").map(|i| i + 3).unwrap_or(0)
    } else {
        0
    };
    let mut out = Vec::new();
    let mut cur = rest.to_string();
    while let Some(i) = cur.rfind('/') {
        if i <= floor || i == 0 {
            break;
        }
        cur.truncate(i);
        out.push(format!("{prefix}:{cur}"));
    }
    out
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

pub fn classify(
    suite: &Suite,
    closures: &[Closure],
    facts: &Facts,
    opts: &ClassifyOptions,
) -> Vec<Verdict> {
    let tests: Vec<&Test> = suite.tests().collect();
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(tests.len());
    let mut reads: Vec<BTreeSet<String>> = Vec::with_capacity(tests.len());
    let mut latent_reads: Vec<BTreeSet<String>> = Vec::with_capacity(tests.len());
    // Direct reads before a test's own writes are taken out (it reads back
    // what it wrote: run again, it sees its own leftovers).
    let mut own_reads: Vec<BTreeSet<String>> = Vec::with_capacity(tests.len());
    // Tests that run more than once in a session: parametrized (directly
    // or through a fixture with `params`) or marked for reruns. They see
    // what their own earlier run left.
    let mut repeated: Vec<bool> = Vec::with_capacity(tests.len());
    for (i, t) in tests.iter().enumerate() {
        let own = &facts.tests[i];
        let closure = &closures[i];
        repeated.push(
            !t.parametrize.is_empty()
                || t.markers
                    .iter()
                    .any(|m| matches!(m.name.as_str(), "flaky" | "repeat"))
                || closure
                    .fixtures
                    .iter()
                    .any(|e| suite.fixture(e.fixture).params),
        );
        let mut hazards: Vec<Reached> = own
            .hazards
            .iter()
            .cloned()
            .chain(parametrize_hazards(t, &suite.modules[t.module]))
            .map(|h| Reached {
                hazard: h,
                chain: vec![t.nodeid.clone()],
                fixture: None,
            })
            .collect();
        let mut test_reads = own.reads.clone();
        let mut test_latent = own.latent_reads.clone();
        let mut mitigations = own.mitigations.clone();
        let mut chdir_unique = own.chdir_unique;
        let mut overrides = own.overrides.clone();
        let mut restores: BTreeSet<String> = BTreeSet::new();
        let mut unique_env = own.unique_env.clone();
        for entry in &closure.fixtures {
            let Some(ff) = facts.fixtures.get(&entry.fixture) else {
                continue;
            };
            chdir_unique |= ff.chdir_unique;
            overrides.extend(ff.overrides.iter().cloned());
            restores.extend(ff.restores.iter().cloned());
            unique_env.extend(ff.unique_env.iter().cloned());
            test_reads.extend(ff.reads.iter().cloned());
            test_latent.extend(ff.latent_reads.iter().cloned());
            mitigations.extend(ff.mitigations.iter().cloned());
            for h in &ff.hazards {
                hazards.push(Reached {
                    hazard: h.clone(),
                    chain: entry.chain.clone(),
                    fixture: Some(entry.fixture),
                });
            }
        }
        for b in &closure.builtins {
            if matches!(
                b.as_str(),
                "tmp_path"
                    | "tmpdir"
                    | "tmp_path_factory"
                    | "monkeypatch"
                    | "worker_id"
                    | "testrun_uid"
                    | "mocker"
            ) {
                mitigations.insert(b.clone());
            }
        }
        if closure
            .builtins
            .iter()
            .any(|b| matches!(b.as_str(), "pytester" | "testdir"))
        {
            // pytester runs each test in its own directory and snapshots and
            // restores `sys.path` and `sys.modules`.
            hazards.retain(|r| {
                r.hazard.effect != Effect::Order
                    || !r.hazard.key.as_deref().is_some_and(|k| {
                        k == "cwd" || k == "sys.path" || k.starts_with("sys.modules:")
                    })
            });
            chdir_unique = true;
        }
        if chdir_unique {
            // Relative paths land in the test's own directory: writing there,
            // or deleting a whole tree there, touches nothing shared.
            hazards.retain(|r| {
                r.hazard.code != "ISO103"
                    && !(r.hazard.code == "ISO106"
                        && r.hazard.key.as_deref().is_some_and(|k| {
                            matches!(
                                crate::facts::value::classify_path(k.trim_start_matches("path:")),
                                crate::facts::value::PathClass::Relative(_)
                            )
                        }))
            });
        }
        if unique_env.contains("HOME") {
            // `~` is the test's own directory.
            hazards.retain(|r| r.hazard.code != "ISO102");
        }
        if unique_env.contains("DAGSTER_HOME") {
            // The instance lives under this test's own DAGSTER_HOME.
            hazards.retain(|r| r.hazard.key.as_deref() != Some("dagster:$DAGSTER_HOME"));
        }
        // A fixture's teardown (or its monkeypatch, which restores the value
        // it saved) undoes what the test changes in-process.
        let mut undone = restores.clone();
        for entry in &closure.fixtures {
            if let Some(ff) = facts.fixtures.get(&entry.fixture) {
                undone.extend(ff.overrides.iter().cloned());
            }
        }
        hazards.retain(|r| {
            r.fixture.is_some()
                || r.hazard.effect != Effect::Order
                || !r
                    .hazard
                    .key
                    .as_deref()
                    .is_some_and(|k| crate::facts::key_covered(k, &undone))
        });
        // Keys the test sets itself through monkeypatch/mock do not make it
        // depend on what earlier tests left behind.
        // So do keys it writes itself before reading them.
        overrides.extend(restores.iter().cloned());
        overrides.extend(
            hazards
                .iter()
                .filter(|r| r.hazard.effect == Effect::Order)
                .filter_map(|r| r.hazard.key.clone()),
        );
        own_reads.push(test_reads.clone());
        test_reads.retain(|k| !crate::facts::key_covered(k, &overrides));
        test_latent
            .retain(|k| !crate::facts::key_covered(k, &overrides) && !test_reads.contains(k));
        let isolation_markers: Vec<Marker> = t
            .markers
            .iter()
            .filter(|m| opts.isolation_markers.contains(&m.name))
            .cloned()
            .chain(
                opts.hook_markers
                    .get(&t.nodeid)
                    .into_iter()
                    .flatten()
                    .cloned(),
            )
            .collect();
        if t.markers
            .iter()
            .any(|m| opts.heavy_markers.contains(&m.name))
        {
            hazards.push(Reached {
                hazard: Hazard {
                    code: "marker",
                    key: Some("heavy:marker".into()),
                    effect: Effect::Heavy,
                    module: t.module,
                    span: t.span,
                    message: "carries a heavy-resource marker".into(),
                    help: String::new(),
                    latent: false,
                    api: None,
                },
                chain: vec![t.nodeid.clone()],
                fixture: None,
            });
        }
        verdicts.push(Verdict {
            nodeid: t.nodeid.clone(),
            module: t.module,
            class: TestClass::Parallel,
            unit: String::new(),
            resources: Vec::new(),
            order_keys: Vec::new(),
            codes: Vec::new(),
            hazards,
            isolation_markers,
            marker_verdict: None,
            mitigations,
            observed: Vec::new(),
            observed_heavy: None,
            triage: None,
        });
        reads.push(test_reads);
        latent_reads.push(test_latent);
    }

    // State changed deep in application code matters where test code
    // depends on it (another test, or this one run again); on its own it is
    // the code under test at work.
    let read_keys: std::collections::HashSet<&str> = reads
        .iter()
        .chain(own_reads.iter())
        .flat_map(|r| r.iter().map(String::as_str))
        .collect();
    for v in verdicts.iter_mut() {
        v.hazards.retain(|r| {
            !r.hazard.latent
                || r.hazard.effect != Effect::Order
                || r.hazard
                    .key
                    .as_deref()
                    .is_some_and(|k| read_keys.contains(k))
        });
    }

    // A write of a named entry in a broad-scoped fixture's directory
    // matters only to a test that reads that entry (or lists the
    // directory) without writing it first itself: tests that each make
    // their own entries there do not see each other's.
    let mut file_reads: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
    for (j, r) in reads.iter().enumerate() {
        for k in r.iter().filter(|k| crate::facts::is_fixture_file(k)) {
            let (base, _) = crate::facts::fixture_file_entry(k);
            file_reads.entry(base).or_default().push((j, k.as_str()));
        }
    }
    for (i, v) in verdicts.iter_mut().enumerate() {
        v.hazards.retain(|r| {
            let Some(k) = r.hazard.key.as_deref() else {
                return true;
            };
            if r.hazard.effect != Effect::Order || !crate::facts::is_fixture_file(k) {
                return true;
            }
            let (base, entry) = crate::facts::fixture_file_entry(k);
            entry.is_none()
                || file_reads.get(base).is_some_and(|rs| {
                    rs.iter()
                        .any(|&(j, rk)| j != i && crate::facts::fixture_files_related(rk, k))
                })
        });
    }

    // State owned by test code (a broad-scoped fixture's object, a class or
    // object of a test module) that every other test touching it starts by
    // assigning: what one test leaves there, the next overwrites before
    // looking. Its changes matter only to a test (the writer included) that
    // uses it first, or reads it through a fixture or helper without
    // touching it itself.
    let mut touched: HashMap<&str, Vec<(usize, Option<&str>)>> = HashMap::new();
    for (j, f) in facts.tests.iter().enumerate() {
        for (k, a) in &f.touches {
            touched
                .entry(k.as_str())
                .or_default()
                .push((j, a.as_deref()));
        }
    }
    if !touched.is_empty() {
        for (i, v) in verdicts.iter_mut().enumerate() {
            v.hazards.retain(|r| {
                let Some(k) = r.hazard.key.as_deref() else {
                    return true;
                };
                if r.fixture.is_some() || r.hazard.effect != Effect::Order {
                    return true;
                }
                // The state itself, or the class owning the attribute.
                let (root, attr) = match touched.get(k) {
                    Some(_) => (k, None),
                    None => match k.rsplit_once('.') {
                        Some((c, a)) if c.starts_with("attr:") && touched.contains_key(c) => {
                            (c, Some(a))
                        }
                        _ => return true,
                    },
                };
                let users = &touched[root];
                if !users.iter().any(|&(j, _)| j == i) {
                    return true;
                }
                // The writer counts too: its parametrized copies and reruns
                // find what it left. A test that runs once and is the only
                // one touching the state leaves it to nobody.
                let alone = !repeated[i] && users.iter().all(|&(j, _)| j == i);
                let first_use = users.iter().any(|&(_, first)| match (first, attr) {
                    (None, _) => true,
                    (Some(w), Some(a)) => w != a,
                    (Some(_), None) => false,
                });
                (first_use && !alone)
                    || own_reads.iter().enumerate().any(|(j, rs)| {
                        j != i
                            && !users.iter().any(|&(u, _)| u == j)
                            && rs.iter().any(|rk| rk == k || rk == root)
                    })
            });
        }
    }

    // Which tests leak each in-process key (and which do so from test code).
    let mut writers: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut direct_writers: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, v) in verdicts.iter().enumerate() {
        for r in &v.hazards {
            if r.hazard.effect == Effect::Order {
                if let Some(k) = &r.hazard.key {
                    writers.entry(k.clone()).or_default().insert(i);
                    if !r.hazard.latent {
                        direct_writers.entry(k.clone()).or_default().insert(i);
                    }
                }
            }
        }
    }
    let wildcard_writers: Vec<(String, BTreeSet<usize>)> = writers
        .iter()
        .filter(|(k, _)| k.ends_with('*'))
        .map(|(k, v)| (k.trim_end_matches('*').to_string(), v.clone()))
        .collect();

    for (i, v) in verdicts.iter_mut().enumerate() {
        let mut resources = BTreeSet::new();
        let mut order = BTreeSet::new();
        let mut codes = BTreeSet::new();
        let (mut serial, mut heavy, mut shared) = (false, false, false);
        for r in &v.hazards {
            let h = &r.hazard;
            if h.code != "marker" {
                codes.insert(h.code.to_string());
            }
            match h.effect {
                Effect::Serial => {
                    serial = true;
                    if let Some(k) = &h.key {
                        resources.insert(k.clone());
                    }
                }
                Effect::Shared => {
                    shared = true;
                    if let Some(k) = &h.key {
                        resources.insert(k.clone());
                    }
                }
                Effect::Heavy => heavy = true,
                Effect::Order => {
                    if let Some(k) = &h.key {
                        order.insert(k.clone());
                    }
                }
                Effect::Note => {}
            }
        }
        // Relying on state another test leaks.
        for key in &reads[i] {
            let leaked = writers.get(key).is_some_and(|w| w.iter().any(|&x| x != i))
                || crate::facts::is_fixture_file(key) && {
                    let (base, _) = crate::facts::fixture_file_entry(key);
                    writers
                        .range::<str, _>((
                            std::ops::Bound::Included(base),
                            std::ops::Bound::Unbounded,
                        ))
                        .take_while(|(w, _)| w.starts_with(base))
                        .any(|(w, ws)| {
                            crate::facts::fixture_files_related(key, w)
                                && ws.iter().any(|&x| x != i)
                        })
                }
                || wildcard_writers
                    .iter()
                    .any(|(p, w)| key.starts_with(p.as_str()) && w.iter().any(|&x| x != i));
            if leaked {
                order.insert(key.clone());
            }
        }
        // A process stream another test closed breaks every test after it.
        for (key, w) in writers.range("stream:".to_string()..) {
            if !crate::facts::is_broken_for_all(key) {
                break;
            }
            if w.iter().any(|&x| x != i) {
                order.insert(key.clone());
            }
        }
        for key in &latent_reads[i] {
            if direct_writers
                .get(key)
                .is_some_and(|w| w.iter().any(|&x| x != i))
            {
                order.insert(key.clone());
            }
        }
        // What runs saw: the stricter of the static and the observed class.
        if let Some(o) = opts.observations.tests.get(&v.nodeid) {
            use crate::observed::{key_kind, KeyKind};
            for (k, _) in &o.facts {
                match key_kind(k) {
                    KeyKind::Resource => {
                        shared = true;
                        resources.insert(k.clone());
                    }
                    KeyKind::Order => {
                        order.insert(k.clone());
                    }
                    KeyKind::Note => {}
                }
            }
            if o.heavy.is_some() {
                heavy = true;
            }
            match &o.triage {
                Some(sharers) if sharers.is_empty() => serial = true,
                Some(_) => {
                    shared = true;
                    resources.insert(format!("triage:{}", v.nodeid));
                }
                None => {}
            }
            v.observed = o.facts.clone();
            v.observed_heavy = o.heavy.clone();
            v.triage = o.triage.clone();
        }
        if let Some(victims) = opts.observations.joined.get(&v.nodeid) {
            shared = true;
            resources.extend(victims.iter().map(|t| format!("triage:{t}")));
        }
        let analysed = if serial {
            TestClass::Serial
        } else if heavy {
            TestClass::Heavy
        } else if shared {
            TestClass::Grouped
        } else if !order.is_empty() {
            TestClass::OrderRisk
        } else {
            TestClass::Parallel
        };
        let reason = v.isolation_markers.iter().any(|m| m.reason.is_some());
        v.marker_verdict = if v.isolation_markers.is_empty() {
            None
        } else if reason || analysed == TestClass::Serial {
            Some(MarkerVerdict::TrulyRequired)
        } else if analysed != TestClass::Parallel {
            Some(MarkerVerdict::ResourceConflict)
        } else if v.mitigations.is_empty() {
            Some(MarkerVerdict::Defensive)
        } else {
            Some(MarkerVerdict::Legacy)
        };
        v.class = if !v.isolation_markers.is_empty() && (reason || opts.honor_markers) {
            TestClass::Serial
        } else {
            analysed
        };
        v.resources = resources.into_iter().collect();
        v.order_keys = order.into_iter().collect();
        v.codes = codes.into_iter().collect();
    }
    assign_units(suite, &mut verdicts);
    verdicts
}

/// Work units: union-find over resource and order keys within each phase.
fn assign_units(suite: &Suite, verdicts: &mut [Verdict]) {
    for phase in [1u8, 2] {
        let members: Vec<usize> = (0..verdicts.len())
            .filter(|&i| {
                verdicts[i].class.phase() == phase && verdicts[i].class != TestClass::Parallel
            })
            .collect();
        let mut key_ids: HashMap<String, usize> = HashMap::new();
        let mut key_names: Vec<String> = Vec::new();
        let intern =
            |k: &str, ids: &mut HashMap<String, usize>, names: &mut Vec<String>| -> usize {
                if let Some(&i) = ids.get(k) {
                    return i;
                }
                ids.insert(k.to_string(), names.len());
                names.push(k.to_string());
                names.len() - 1
            };
        let mut test_keys: Vec<(usize, Vec<usize>)> = Vec::new();
        for &i in &members {
            let v = &verdicts[i];
            let keys: Vec<usize> = v
                .resources
                .iter()
                .chain(v.order_keys.iter())
                .map(|k| intern(k, &mut key_ids, &mut key_names))
                .collect();
            test_keys.push((i, keys));
        }
        let n_keys = key_names.len();
        let mut uf = UnionFind::new(n_keys + verdicts.len());
        for (i, keys) in &test_keys {
            for &k in keys {
                uf.union(n_keys + i, k);
            }
        }
        // A directory overlaps the files inside it; a wildcard the keys it covers.
        for (k, name) in key_names.iter().enumerate() {
            for a in ancestors(name) {
                if let Some(&ai) = key_ids.get(&a) {
                    uf.union(k, ai);
                }
            }
            if let Some(prefix) = name.strip_suffix('*') {
                for (other, oname) in key_names.iter().enumerate() {
                    if oname.starts_with(prefix) {
                        uf.union(k, other);
                    }
                }
            }
        }
        // Per component: its tests and keys.
        let mut comp_tests: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, _) in &test_keys {
            let root = uf.find(n_keys + i);
            comp_tests.entry(root).or_default().push(*i);
        }
        for tests in comp_tests.values() {
            let mut res: BTreeSet<&str> = BTreeSet::new();
            let mut ord: BTreeSet<&str> = BTreeSet::new();
            for &i in tests {
                res.extend(verdicts[i].resources.iter().map(String::as_str));
                ord.extend(verdicts[i].order_keys.iter().map(String::as_str));
            }
            let unit = if let Some(k) = res.iter().next() {
                Some(format!("res:{k}"))
            } else if tests.len() > 1 {
                ord.iter().next().map(|k| format!("order:{k}"))
            } else {
                None
            };
            let unit: Vec<(usize, String)> = tests
                .iter()
                .map(|&i| {
                    let v = &verdicts[i];
                    let u = match (&unit, v.class) {
                        (_, TestClass::Serial) => format!("serial:{}", v.nodeid),
                        (Some(u), _) => u.clone(),
                        (None, TestClass::Heavy) => format!("heavy:{}", v.nodeid),
                        (None, _) => format!("module:{}", suite.modules[v.module].rel),
                    };
                    (i, u)
                })
                .collect();
            for (i, u) in unit {
                verdicts[i].unit = u;
            }
        }
    }
    for v in verdicts.iter_mut() {
        if v.unit.is_empty() {
            v.unit = match v.class {
                TestClass::Serial => format!("serial:{}", v.nodeid),
                _ => format!("test:{}", v.nodeid),
            };
        }
    }
}

/// Spans of hazards inside a fixture, for de-duplicating fixture findings.
pub fn hazard_site(r: &Reached) -> (usize, Span, &'static str, Option<&str>) {
    (
        r.hazard.module,
        r.hazard.span,
        r.hazard.code,
        r.hazard.key.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_overlap_by_directory() {
        assert!(keys_overlap("path:/tmp/a", "path:/tmp/a/b.db"));
        assert!(!keys_overlap("path:/tmp/a", "path:/tmp/ab"));
        assert_eq!(ancestors("path:/tmp/a/b"), ["path:/tmp/a", "path:/tmp"]);
        assert_eq!(
            ancestors("service:postgresql://localhost:5432/db"),
            ["service:postgresql://localhost:5432"]
        );
    }
}
