//! The fixture graph: resolves fixture names the way pytest does (class,
//! module, conftest chain up to the root, then builtins), computes each test's
//! fixture closure with the chain that reached every fixture, and finds cycles.
//! Holds the markers conftest hooks apply (`hooks`). Reads the suite model;
//! knows nothing about hazards.

mod hooks;

pub use hooks::{hook_markings, HookMarking};

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::pytest::{builtins, Fixture, ModuleModel, Test};

/// A fixture definition: module index and index into its `fixtures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FixtureRef {
    pub module: usize,
    pub index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolved {
    Fixture(FixtureRef),
    Builtin(String),
    Unresolved(String),
}

/// One fixture in a test's closure.
#[derive(Debug, Clone)]
pub struct ClosureEntry {
    pub fixture: FixtureRef,
    /// Node ids from the test to this fixture, the test first.
    pub chain: Vec<String>,
    pub autouse: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Closure {
    pub fixtures: Vec<ClosureEntry>,
    /// Builtin/plugin fixtures reached (`tmp_path`, `monkeypatch`...).
    pub builtins: BTreeSet<String>,
    /// (name, chain of the requester) for names nothing defines.
    pub unresolved: Vec<(String, Vec<String>)>,
}

impl Closure {
    pub fn has_builtin(&self, name: &str) -> bool {
        self.builtins.contains(name)
    }
}

/// The whole suite: modules plus indexes for resolution.
pub struct Suite {
    pub modules: Vec<ModuleModel>,
    /// dir -> conftest module index.
    conftests: HashMap<String, usize>,
    /// `usefixtures` from the pytest ini.
    pub ini_usefixtures: Vec<String>,
    /// Modules loaded as plugins (`pytest_plugins`, `-p`): their fixtures
    /// are visible everywhere.
    plugins: Vec<usize>,
    /// Markers conftest and plugin hooks add at collection, every name.
    pub hook_markings: Vec<HookMarking>,
    /// Visible fixtures per (module, class), built on first use.
    cache: std::sync::Mutex<HashMap<ContextKey, Arc<Context>>>,
    /// Name tables by the visible list they were built from: modules and
    /// classes that see the same fixtures share one table.
    tables: std::sync::Mutex<HashMap<Vec<FixtureRef>, Arc<Candidates>>>,
}

type Candidates = HashMap<String, Vec<FixtureRef>>;
/// Fixtures visible from one (module, class): by name, nearest first, and
/// the autouse ones that apply. The name table is shared by every context
/// that sees the same fixtures.
type Context = (Arc<Candidates>, Vec<FixtureRef>);
/// (module index, class path).
type ContextKey = (usize, Option<String>);

impl Suite {
    pub fn new(modules: Vec<ModuleModel>, ini_usefixtures: Vec<String>) -> Self {
        let conftests = modules
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_conftest)
            .map(|(i, m)| (m.dir.clone(), i))
            .collect();
        let plugins = modules
            .iter()
            .enumerate()
            .filter(|(_, m)| m.plugin)
            .map(|(i, _)| i)
            .collect();
        let hook_markings = hook_markings(&modules);
        Suite {
            modules,
            conftests,
            ini_usefixtures,
            plugins,
            hook_markings,
            cache: std::sync::Mutex::new(HashMap::new()),
            tables: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn fixture(&self, r: FixtureRef) -> &Fixture {
        &self.modules[r.module].fixtures[r.index]
    }

    pub fn tests(&self) -> impl Iterator<Item = &Test> {
        self.modules.iter().flat_map(|m| m.tests.iter())
    }

    /// Conftest modules that apply to `dir`, nearest first.
    pub fn conftest_chain(&self, dir: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut d = dir.to_string();
        loop {
            if let Some(&i) = self.conftests.get(&d) {
                out.push(i);
            }
            if d.is_empty() {
                break;
            }
            d = d
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
        }
        out
    }

    /// Hook-added markers with one of `names`, by test nodeid.
    pub fn hook_markers(&self, names: &[String]) -> HashMap<String, Vec<crate::pytest::Marker>> {
        let mut out: HashMap<String, Vec<crate::pytest::Marker>> = HashMap::new();
        for hm in self
            .hook_markings
            .iter()
            .filter(|m| names.contains(&m.marker))
        {
            for t in &hm.tests {
                out.entry(t.clone()).or_default().push(hm.as_marker());
            }
        }
        out
    }

    /// The module-level fixtures a module's namespace holds: defined there
    /// or imported.
    fn namespace_fixtures(
        &self,
        module: usize,
        out: &mut Vec<FixtureRef>,
        seen: &mut HashSet<FixtureRef>,
    ) {
        let m = &self.modules[module];
        for (i, f) in m.fixtures.iter().enumerate() {
            let r = FixtureRef { module, index: i };
            if f.class.is_none() && !f.only_linked && seen.insert(r) {
                out.push(r);
            }
        }
        for l in m.linked.iter().filter(|l| l.class.is_none()) {
            let r = FixtureRef {
                module: l.module,
                index: l.index,
            };
            if seen.insert(r) {
                out.push(r);
            }
        }
    }

    /// Fixture definitions visible from `module`/`class`, nearest first:
    /// the class and its outer classes (with what their bases give them),
    /// the module, the conftest chain, then plugins.
    fn visible(&self, module: usize, class: Option<&str>) -> Vec<FixtureRef> {
        let m = &self.modules[module];
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        if let Some(class) = class {
            let mut path = class.to_string();
            loop {
                for l in m
                    .linked
                    .iter()
                    .filter(|l| l.class.as_deref() == Some(path.as_str()))
                {
                    let r = FixtureRef {
                        module: l.module,
                        index: l.index,
                    };
                    if seen.insert(r) {
                        out.push(r);
                    }
                }
                match path.rsplit_once("::") {
                    Some((outer, _)) => path = outer.to_string(),
                    None => break,
                }
            }
        }
        self.namespace_fixtures(module, &mut out, &mut seen);
        let chain = self.conftest_chain(&m.dir);
        for &c in &chain {
            if c != module {
                self.namespace_fixtures(c, &mut out, &mut seen);
            }
        }
        for &p in &self.plugins {
            self.namespace_fixtures(p, &mut out, &mut seen);
        }
        out
    }

    fn candidates(&self, module: usize, class: Option<&str>) -> Arc<Context> {
        let key = (module, class.map(str::to_string));
        if let Some(c) = self.cache.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return c;
        }
        let ctx = Arc::new(self.build_candidates(module, class));
        if let Ok(mut m) = self.cache.lock() {
            m.insert(key, Arc::clone(&ctx));
        }
        ctx
    }

    fn build_candidates(&self, module: usize, class: Option<&str>) -> Context {
        let visible = self.visible(module, class);
        let shared = self
            .tables
            .lock()
            .ok()
            .and_then(|t| t.get(&visible).cloned());
        let by_name = match shared {
            Some(t) => t,
            None => {
                let mut by_name: Candidates = HashMap::new();
                for r in &visible {
                    by_name
                        .entry(self.fixture(*r).name.clone())
                        .or_default()
                        .push(*r);
                }
                let by_name = Arc::new(by_name);
                if let Ok(mut t) = self.tables.lock() {
                    t.insert(visible.clone(), Arc::clone(&by_name));
                }
                by_name
            }
        };
        // Autouse fixtures, skipping ones shadowed by a nearer same-named one
        // (and `setup_function` for methods).
        let autouse = visible
            .iter()
            .filter(|r| {
                let f = self.fixture(**r);
                f.autouse
                    && by_name[&f.name].first() == Some(*r)
                    && !(f.only_functions && class.is_some())
            })
            .copied()
            .collect();
        (by_name, autouse)
    }

    fn resolve_in(
        cands: &Candidates,
        name: &str,
        requester: Option<FixtureRef>,
        requester_name: Option<&str>,
    ) -> Resolved {
        let list = cands.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let pick = match (requester, requester_name) {
            // A fixture requesting its own name gets the next outer definition.
            (Some(r), Some(rn)) if rn == name => list
                .iter()
                .position(|c| *c == r)
                .and_then(|p| list.get(p + 1))
                .copied(),
            _ => list.first().copied(),
        };
        match pick {
            Some(r) => Resolved::Fixture(r),
            None if builtins::is_known(name) => Resolved::Builtin(name.to_string()),
            None => Resolved::Unresolved(name.to_string()),
        }
    }

    /// Resolves `name` as requested by a test in `module`/`class`.
    pub fn resolve(&self, module: usize, class: Option<&str>, name: &str) -> Resolved {
        Self::resolve_in(&self.candidates(module, class).0, name, None, None)
    }

    /// Resolves `name` as requested by test `t`, from the module that
    /// collects it (which differs from where its function is defined for
    /// inherited and imported tests).
    pub fn resolve_for_test(&self, t: &Test, name: &str) -> Resolved {
        self.resolve(t.collector, t.class.as_deref(), name)
    }

    /// Resolves `name` as requested by fixture `from` in its own definition
    /// context (used by the graph view and fixture-level analysis).
    pub fn resolve_from_fixture(&self, from: FixtureRef, name: &str) -> Resolved {
        let f = self.fixture(from);
        let ctx = self.candidates(from.module, f.class.as_deref());
        Self::resolve_in(&ctx.0, name, Some(from), Some(&f.name))
    }

    /// Every test's closure, in the order of `self.tests()`.
    pub fn closures(&self) -> Vec<Closure> {
        use rayon::prelude::*;
        let tests: Vec<&Test> = self.tests().collect();
        tests
            .par_iter()
            .map(|t| {
                let ctx = self.candidates(t.collector, t.class.as_deref());
                self.closure_of(t, &ctx.0, &ctx.1)
            })
            .collect()
    }

    fn closure_of(&self, t: &Test, cands: &Candidates, autouse: &[FixtureRef]) -> Closure {
        let mut closure = Closure::default();
        let mut seen: BTreeSet<FixtureRef> = BTreeSet::new();
        let mut queue: VecDeque<(Resolved, Vec<String>, bool)> = VecDeque::new();
        let root = vec![t.nodeid.clone()];
        for r in autouse {
            queue.push_back((Resolved::Fixture(*r), root.clone(), true));
        }
        let direct = self
            .ini_usefixtures
            .iter()
            .chain(t.usefixtures.iter())
            .chain(t.requests.iter())
            .chain(t.dynamic_requests.iter());
        for name in direct {
            queue.push_back((
                Self::resolve_in(cands, name, None, None),
                root.clone(),
                false,
            ));
        }
        // Parametrize argnames act as fixtures for everything in the closure.
        let params: BTreeSet<&str> = t
            .parametrize
            .iter()
            .flat_map(|p| p.argnames.iter().map(String::as_str))
            .collect();
        while let Some((res, chain, auto)) = queue.pop_front() {
            match res {
                Resolved::Builtin(n) => {
                    closure.builtins.insert(n);
                }
                Resolved::Unresolved(n) if params.contains(n.as_str()) => {}
                Resolved::Unresolved(n) => closure.unresolved.push((n, chain)),
                Resolved::Fixture(r) => {
                    if !seen.insert(r) {
                        continue;
                    }
                    let f = self.fixture(r);
                    let mut chain = chain;
                    chain.push(f.id.clone());
                    for name in f.requests.iter().chain(f.dynamic_requests.iter()) {
                        let next = Self::resolve_in(cands, name, Some(r), Some(&f.name));
                        queue.push_back((next, chain.clone(), auto));
                    }
                    closure.fixtures.push(ClosureEntry {
                        fixture: r,
                        chain,
                        autouse: auto,
                    });
                }
            }
        }
        closure
    }

    /// The definition-context graph: a node per test, fixture, builtin and
    /// unresolved name; an edge per request.
    pub fn graph(&self) -> FixtureGraph {
        let mut g: DiGraph<GraphNode, ()> = DiGraph::new();
        let mut fixture_nodes: HashMap<FixtureRef, NodeIndex> = HashMap::new();
        let mut named: HashMap<Resolved, NodeIndex> = HashMap::new();
        for (mi, m) in self.modules.iter().enumerate() {
            for (fi, f) in m.fixtures.iter().enumerate() {
                let r = FixtureRef {
                    module: mi,
                    index: fi,
                };
                fixture_nodes.insert(r, g.add_node(GraphNode::Fixture(r, f.id.clone())));
            }
        }
        let mut node_for = |g: &mut DiGraph<GraphNode, ()>, res: Resolved| -> NodeIndex {
            match &res {
                Resolved::Fixture(r) => fixture_nodes[r],
                Resolved::Builtin(n) | Resolved::Unresolved(n) => {
                    let label = n.clone();
                    let builtin = matches!(res, Resolved::Builtin(_));
                    *named.entry(res).or_insert_with(|| {
                        g.add_node(if builtin {
                            GraphNode::Builtin(label)
                        } else {
                            GraphNode::Unresolved(label)
                        })
                    })
                }
            }
        };
        for (mi, m) in self.modules.iter().enumerate() {
            for (fi, f) in m.fixtures.iter().enumerate() {
                let r = FixtureRef {
                    module: mi,
                    index: fi,
                };
                let from = node_for(&mut g, Resolved::Fixture(r));
                for name in f.requests.iter().chain(f.dynamic_requests.iter()) {
                    let to = node_for(&mut g, self.resolve_from_fixture(r, name));
                    g.add_edge(from, to, ());
                }
            }
        }
        let mut test_nodes = Vec::new();
        for t in self.tests() {
            let n = g.add_node(GraphNode::Test(t.nodeid.clone()));
            test_nodes.push(n);
            let ctx = self.candidates(t.collector, t.class.as_deref());
            let (cands, autouse) = (&ctx.0, ctx.1.clone());
            for r in autouse {
                let to = node_for(&mut g, Resolved::Fixture(r));
                g.add_edge(n, to, ());
            }
            for name in self
                .ini_usefixtures
                .iter()
                .chain(t.usefixtures.iter())
                .chain(t.requests.iter())
                .chain(t.dynamic_requests.iter())
            {
                let to = node_for(&mut g, Self::resolve_in(cands, name, None, None));
                g.add_edge(n, to, ());
            }
        }
        FixtureGraph {
            graph: g,
            fixture_nodes,
            test_nodes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphNode {
    Test(String),
    Fixture(FixtureRef, String),
    Builtin(String),
    Unresolved(String),
}

impl GraphNode {
    pub fn label(&self) -> &str {
        match self {
            GraphNode::Test(s)
            | GraphNode::Fixture(_, s)
            | GraphNode::Builtin(s)
            | GraphNode::Unresolved(s) => s,
        }
    }
}

pub struct FixtureGraph {
    pub graph: DiGraph<GraphNode, ()>,
    pub fixture_nodes: HashMap<FixtureRef, NodeIndex>,
    pub test_nodes: Vec<NodeIndex>,
}

impl FixtureGraph {
    /// Fixture dependency cycles (each as sorted fixture ids), sorted.
    pub fn cycles(&self) -> Vec<Vec<FixtureRef>> {
        let mut out: Vec<Vec<FixtureRef>> = petgraph::algo::tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| {
                scc.len() > 1
                    || scc
                        .first()
                        .is_some_and(|n| self.graph.contains_edge(*n, *n))
            })
            .map(|scc| {
                let mut v: Vec<FixtureRef> = scc
                    .iter()
                    .filter_map(|n| match &self.graph[*n] {
                        GraphNode::Fixture(r, _) => Some(*r),
                        _ => None,
                    })
                    .collect();
                v.sort();
                v
            })
            .filter(|v| !v.is_empty())
            .collect();
        out.sort();
        out
    }
}
