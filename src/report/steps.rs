//! "Next steps": candidate changes (fix one fixture, fix one test body, stop
//! sharing one resource, remove a kind of marker) scored by how many tests
//! each frees, i.e. how many non-parallel tests have no reason left to be
//! coordinated once that change is made. Pure computation over the analysis;
//! the report renders the result.

use std::collections::{BTreeMap, BTreeSet};

use crate::classify::{keys_overlap, MarkerVerdict};
use crate::facts::Effect;
use crate::graph::FixtureRef;
use crate::plan::{Classified, TestClass};
use crate::python::ir::Span;

use super::ctx::{self, Ctx};
use super::Planner;

/// Where a hazard is written: a fixture's body or a test's own body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    Fixture(FixtureRef),
    Test(usize),
}

/// One hazard site, as a change would fix it.
#[derive(Debug, Clone)]
pub struct Site {
    pub owner: Owner,
    pub module: usize,
    pub span: Span,
    pub code: &'static str,
    pub key: Option<String>,
    pub effect: Effect,
    pub help: String,
}

/// Why a test is not parallel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    Site(usize),
    /// Relies on an in-process key other tests leak.
    Reads(String),
    /// A marker (honoured reason, heavy marker): no code change lifts it.
    Marker {
        serial: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepKind {
    /// Fix the hazards in one fixture.
    Fixture(FixtureRef),
    /// Fix the hazards in one test's own body.
    TestBody(usize),
    /// Stop sharing one resource (and the paths inside it), wherever it is used.
    Key(String),
    /// Remove the isolation markers of one audit category.
    RemoveMarkers(MarkerVerdict),
    /// Add `reason=` to required markers that lack one.
    AddReasons,
    /// Mark (or schedule) tests that need coordination and carry no marker.
    AddMarkers,
}

impl StepKind {
    fn rank(&self) -> u8 {
        match self {
            StepKind::Fixture(_) => 0,
            StepKind::TestBody(_) => 1,
            StepKind::Key(_) => 2,
            StepKind::RemoveMarkers(_) => 3,
            StepKind::AddReasons => 4,
            StepKind::AddMarkers => 5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub kind: StepKind,
    /// Hazard sites the change fixes (code steps).
    pub sites: Vec<usize>,
    /// Marker sites the change touches (marker steps).
    pub markers: Vec<(usize, Span)>,
    /// Tests that then need no coordination at all, sorted.
    pub freed: Vec<usize>,
    /// Serial tests that then leave the serial phase (but stay coordinated).
    pub unserialised: Vec<usize>,
    /// Planned makespan before and after, on the baseline this step is
    /// measured against (markers honoured for marker steps).
    pub makespan: Option<(f64, f64)>,
}

pub struct Steps {
    pub sites: Vec<Site>,
    pub steps: Vec<Step>,
    /// Code-change candidates left out of `steps`, and the most tests any
    /// of them frees.
    pub omitted: (usize, usize),
}

/// Identity of a hazard site: owner, module, span, code, key.
type SiteKey = (Owner, usize, u32, u32, &'static str, Option<String>);

/// Tests freed and tests leaving the serial phase.
type Outcome = (Vec<usize>, Vec<usize>);

/// How many code-change steps the report lists.
const MAX_CODE_STEPS: usize = 10;

pub fn compute(cx: &Ctx, planner: &Planner) -> Steps {
    let a = cx.a;
    let mut sites: Vec<Site> = Vec::new();
    let mut site_ids: BTreeMap<SiteKey, usize> = BTreeMap::new();
    let mut causes: Vec<BTreeSet<Cause>> = vec![BTreeSet::new(); a.verdicts.len()];
    for (i, v) in a.verdicts.iter().enumerate() {
        for r in &v.hazards {
            if !ctx::counts(r) {
                continue;
            }
            if r.hazard.code == "marker" {
                causes[i].insert(Cause::Marker { serial: false });
                continue;
            }
            let owner = match r.fixture {
                Some(f) => Owner::Fixture(f),
                None => Owner::Test(i),
            };
            let h = &r.hazard;
            let id = *site_ids
                .entry((
                    owner,
                    h.module,
                    h.span.start,
                    h.span.end,
                    h.code,
                    h.key.clone(),
                ))
                .or_insert_with(|| {
                    sites.push(Site {
                        owner,
                        module: h.module,
                        span: h.span,
                        code: h.code,
                        key: h.key.clone(),
                        effect: h.effect,
                        help: h.help.clone(),
                    });
                    sites.len() - 1
                });
            causes[i].insert(Cause::Site(id));
        }
        for k in ctx::read_keys(v) {
            causes[i].insert(Cause::Reads(k.to_string()));
        }
        if ctx::honoured_reason(v).is_some() {
            causes[i].insert(Cause::Marker { serial: true });
        }
    }
    let blocked: Vec<usize> = (0..a.verdicts.len())
        .filter(|&i| a.verdicts[i].class != TestClass::Parallel)
        .collect();
    // Who writes each read key: a read is lifted once all of them are fixed.
    let mut writers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in &blocked {
        for c in &causes[*i] {
            if let Cause::Reads(k) = c {
                writers.entry(k.clone()).or_insert_with(|| {
                    sites
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| {
                            s.effect == Effect::Order
                                && s.key.as_deref().is_some_and(|w| ctx::writes_key(w, k))
                        })
                        .map(|(id, _)| id)
                        .collect()
                });
            }
        }
    }

    let covered = |fixed: &BTreeSet<usize>, c: &Cause| match c {
        Cause::Site(s) => fixed.contains(s),
        Cause::Reads(k) => writers
            .get(k)
            .is_some_and(|w| !w.is_empty() && w.iter().all(|s| fixed.contains(s))),
        Cause::Marker { .. } => false,
    };
    let score = |fixed: &BTreeSet<usize>| -> (Vec<usize>, Vec<usize>) {
        let mut freed = Vec::new();
        let mut unserialised = Vec::new();
        for &i in &blocked {
            let cs = &causes[i];
            if cs.iter().all(|c| covered(fixed, c)) {
                freed.push(i);
            } else if a.verdicts[i].class == TestClass::Serial
                && cs.iter().all(|c| match c {
                    Cause::Site(s) if sites[*s].effect == Effect::Serial => fixed.contains(s),
                    Cause::Marker { serial } => !serial,
                    _ => true,
                })
            {
                unserialised.push(i);
            }
        }
        (freed, unserialised)
    };

    // Candidate changes.
    let mut candidates: BTreeMap<StepKind, BTreeSet<usize>> = BTreeMap::new();
    for (id, s) in sites.iter().enumerate() {
        let kind = match s.owner {
            Owner::Fixture(f) => StepKind::Fixture(f),
            Owner::Test(t) => StepKind::TestBody(t),
        };
        candidates.entry(kind).or_default().insert(id);
    }
    let keys: BTreeSet<&str> = sites.iter().filter_map(|s| s.key.as_deref()).collect();
    for k in keys {
        let fixed: BTreeSet<usize> = sites
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.key
                    .as_deref()
                    .is_some_and(|sk| keys_overlap(sk, k) && sk.len() >= k.len())
            })
            .map(|(id, _)| id)
            .collect();
        candidates.insert(StepKind::Key(k.to_string()), fixed);
    }
    // Keep, for each outcome, the narrowest change that achieves it.
    let mut best: BTreeMap<Outcome, (usize, StepKind, BTreeSet<usize>)> = BTreeMap::new();
    for (kind, fixed) in candidates {
        let outcome = score(&fixed);
        if outcome.0.is_empty() && outcome.1.is_empty() {
            continue;
        }
        let better = match best.get(&outcome) {
            None => true,
            Some((n, k, _)) => (fixed.len(), kind.rank()) < (*n, k.rank()),
        };
        if better {
            best.insert(outcome, (fixed.len(), kind, fixed));
        }
    }
    // Name only the sites that matter to the tests the change helps.
    let relevant = |fixed: &BTreeSet<usize>, tests: &[usize]| -> Vec<usize> {
        let mut out: BTreeSet<usize> = BTreeSet::new();
        for &i in tests {
            for c in &causes[i] {
                match c {
                    Cause::Site(s) if fixed.contains(s) => {
                        out.insert(*s);
                    }
                    Cause::Reads(k) => {
                        out.extend(
                            writers
                                .get(k)
                                .into_iter()
                                .flatten()
                                .filter(|s| fixed.contains(s)),
                        );
                    }
                    _ => {}
                }
            }
        }
        out.into_iter().collect()
    };
    let mut code_steps: Vec<Step> = best
        .into_iter()
        .map(|((freed, unserialised), (_, kind, fixed))| Step {
            sites: relevant(
                &fixed,
                &freed
                    .iter()
                    .chain(&unserialised)
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            kind,
            markers: Vec::new(),
            freed,
            unserialised,
            makespan: None,
        })
        .collect();
    sort_steps(&mut code_steps);
    let omitted = (
        code_steps.len().saturating_sub(MAX_CODE_STEPS),
        code_steps
            .iter()
            .skip(MAX_CODE_STEPS)
            .map(|s| s.freed.len())
            .max()
            .unwrap_or(0),
    );
    code_steps.truncate(MAX_CODE_STEPS);

    // Estimated effect on the plan: freed tests become parallel units, tests
    // leaving the serial phase join the group of what they still share.
    let base = planner.plan(classified(cx, false, &BTreeSet::new()));
    for step in &mut code_steps {
        let Some(base) = &base else { break };
        let mut tests = classified(cx, false, &BTreeSet::new());
        let fixed: BTreeSet<usize> = step.sites.iter().copied().collect();
        for &i in &step.freed {
            tests[i].class = TestClass::Parallel;
            tests[i].unit = format!("test:{}", tests[i].nodeid);
            tests[i].resources.clear();
        }
        for &i in &step.unserialised {
            let (class, unit) = remaining(cx, i, &sites, &causes[i], &fixed);
            tests[i].class = class;
            tests[i].unit = unit;
        }
        if let Some(after) = planner.plan(tests) {
            step.makespan = Some((
                base.estimate.makespan_seconds,
                after.estimate.makespan_seconds,
            ));
        }
    }

    let mut steps = code_steps;
    steps.extend(marker_steps(cx, planner));
    sort_steps(&mut steps);
    Steps {
        sites,
        steps,
        omitted,
    }
}

fn sort_steps(steps: &mut [Step]) {
    steps.sort_by(|x, y| {
        y.freed
            .len()
            .cmp(&x.freed.len())
            .then(y.unserialised.len().cmp(&x.unserialised.len()))
            .then(x.kind.rank().cmp(&y.kind.rank()))
            .then(x.sites.len().cmp(&y.sites.len()))
            .then(x.kind.cmp(&y.kind))
    });
}

/// Class and unit of a serial test once its serial hazards are fixed.
fn remaining(
    cx: &Ctx,
    i: usize,
    sites: &[Site],
    causes: &BTreeSet<Cause>,
    fixed: &BTreeSet<usize>,
) -> (TestClass, String) {
    let left: Vec<&Site> = causes
        .iter()
        .filter_map(|c| match c {
            Cause::Site(s) if !fixed.contains(s) => Some(&sites[*s]),
            _ => None,
        })
        .collect();
    let nodeid = &cx.a.verdicts[i].nodeid;
    if left.iter().any(|s| s.effect == Effect::Heavy) {
        return (TestClass::Heavy, format!("heavy:{nodeid}"));
    }
    if let Some(key) = left
        .iter()
        .filter(|s| s.effect == Effect::Shared)
        .find_map(|s| s.key.as_deref())
    {
        // Join the unit of a grouped test that shares the key, if any.
        let unit =
            cx.a.verdicts
                .iter()
                .find(|v| v.class == TestClass::Grouped && v.resources.iter().any(|r| r == key))
                .map(|v| v.unit.clone())
                .unwrap_or_else(|| format!("res:{key}"));
        return (TestClass::Grouped, unit);
    }
    if let Some(key) = left.iter().find_map(|s| s.key.as_deref()) {
        return (TestClass::OrderRisk, format!("order:{key}"));
    }
    (TestClass::Parallel, format!("test:{nodeid}"))
}

/// The scheduler's input; with `honour`, every isolation marker except those
/// at `removed` sites serialises its tests, as a plain `pytest -n` setup
/// that runs marked tests alone would.
pub fn classified(cx: &Ctx, honour: bool, removed: &BTreeSet<(usize, Span)>) -> Vec<Classified> {
    cx.a.verdicts
        .iter()
        .map(|v| {
            let marked = honour
                && v.isolation_markers
                    .iter()
                    .any(|m| !removed.contains(&(m.site_module(v.module), m.span)));
            let mut c = v.classified();
            if marked {
                c.class = TestClass::Serial;
                c.unit = format!("serial:{}", v.nodeid);
            }
            c
        })
        .collect()
}

fn marker_steps(cx: &Ctx, planner: &Planner) -> Vec<Step> {
    let a = cx.a;
    let sites = crate::rules::markers::marker_sites(a);
    let mut out = Vec::new();
    let honoured = planner.plan(classified(cx, true, &BTreeSet::new()));
    for verdict in [
        MarkerVerdict::Defensive,
        MarkerVerdict::Legacy,
        MarkerVerdict::ResourceConflict,
    ] {
        let chosen: Vec<&(usize, crate::pytest::Marker, Vec<String>, MarkerVerdict)> = sites
            .iter()
            .filter(|s| s.3 == verdict && s.1.reason.is_none())
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let markers: BTreeSet<(usize, Span)> = chosen.iter().map(|s| (s.0, s.1.span)).collect();
        // A test stays serialised if another marker on it is kept.
        let freed: BTreeSet<usize> = chosen
            .iter()
            .flat_map(|s| s.2.iter())
            .filter_map(|id| cx.index_of.get(id.as_str()).copied())
            .filter(|&i| {
                let v = &a.verdicts[i];
                v.isolation_markers
                    .iter()
                    .all(|m| markers.contains(&(m.site_module(v.module), m.span)))
            })
            .collect();
        let makespan = match (&honoured, planner.plan(classified(cx, true, &markers))) {
            (Some(before), Some(after)) => Some((
                before.estimate.makespan_seconds,
                after.estimate.makespan_seconds,
            )),
            _ => None,
        };
        out.push(Step {
            kind: StepKind::RemoveMarkers(verdict),
            sites: Vec::new(),
            markers: markers.into_iter().collect(),
            // Without a resource-conflict marker a test is grouped, not free.
            freed: if verdict == MarkerVerdict::ResourceConflict {
                Vec::new()
            } else {
                freed.iter().copied().collect()
            },
            unserialised: if verdict == MarkerVerdict::ResourceConflict {
                freed.into_iter().collect()
            } else {
                Vec::new()
            },
            makespan,
        });
    }
    let unexplained: Vec<(usize, Span)> = sites
        .iter()
        .filter(|s| s.3 == MarkerVerdict::TrulyRequired && s.1.reason.is_none())
        .map(|s| (s.0, s.1.span))
        .collect();
    if !unexplained.is_empty() {
        out.push(Step {
            kind: StepKind::AddReasons,
            sites: Vec::new(),
            markers: unexplained,
            freed: Vec::new(),
            unserialised: Vec::new(),
            makespan: None,
        });
    }
    // Only suites that mark tests rely on markers for plain `pytest -n`.
    if !sites.is_empty() && !unmarked(cx).is_empty() {
        out.push(Step {
            kind: StepKind::AddMarkers,
            sites: Vec::new(),
            markers: Vec::new(),
            freed: Vec::new(),
            unserialised: Vec::new(),
            makespan: None,
        });
    }
    out
}

/// Tests that need coordination but carry no isolation marker.
pub fn unmarked(cx: &Ctx) -> Vec<usize> {
    cx.a.verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v.isolation_markers.is_empty()
                && matches!(v.class, TestClass::Serial | TestClass::Grouped)
        })
        .map(|(i, _)| i)
        .collect()
}
