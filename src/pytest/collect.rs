//! Collection across modules: what pytest finds in a module's namespace once
//! its imports have run. A conftest or test module holds the fixtures it
//! defines, imports (`from x import fx`, `from x import *` honouring
//! `__all__`, re-exports through packages) or gets from `pytest_plugins`
//! and `-p` plugins; a test class holds the test methods, fixtures and xunit
//! methods of every base in its MRO, wherever the import graph finds them;
//! xunit setup/teardown (`setup_module`, `setup_method`, `setUpClass`, ...)
//! become synthetic autouse fixtures of their scope. Also applies
//! `collect_ignore`/`collect_ignore_glob` and `--deselect`.
//!
//! Reads the models `model.rs` extracts and project files it can find from
//! import names; never imports anything. Lookups are bounded in depth and
//! guarded against cycles, and a name that does not resolve is simply not
//! collected (a module outside the project marks `open_imports`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::model::*;
use crate::config::PytestIni;
use crate::python::ir::*;
use crate::python::SourceText;

/// How deep an import, re-export or inheritance chain is followed.
const MAX_DEPTH: usize = 24;
/// How many project modules collection may read besides the discovered ones.
const MAX_LOADED: usize = 4000;
/// Larger project files are not read for collection.
const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;

/// Where import names resolve to files, as pytest's default `prepend` import
/// mode sets up `sys.path`: the rootdir, `src/`, and each test module's
/// basedir (the first directory upwards without `__init__.py`).
pub struct ImportPaths {
    root: PathBuf,
    bases: Vec<PathBuf>,
    cache: Mutex<HashMap<String, Option<String>>>,
}

impl ImportPaths {
    pub fn new(root: &Path, modules: &[ModuleModel]) -> Self {
        let mut bases: BTreeSet<PathBuf> = BTreeSet::new();
        let dirs: BTreeSet<&str> = modules.iter().map(|m| m.dir.as_str()).collect();
        for d in dirs {
            let mut dir = root.join(d);
            let mut steps = 0;
            while dir.join("__init__.py").is_file() && dir != root && steps < 64 {
                match dir.parent() {
                    Some(p) if p.starts_with(root) => dir = p.to_path_buf(),
                    _ => break,
                }
                steps += 1;
            }
            bases.insert(dir);
        }
        // The rootdir first, then `src/`, then the test basedirs.
        let mut ordered = vec![root.to_path_buf(), root.join("src")];
        ordered.extend(
            bases
                .into_iter()
                .filter(|b| b != root && *b != root.join("src")),
        );
        ImportPaths {
            root: root.to_path_buf(),
            bases: ordered,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The project file (relative path) that `import name` loads.
    pub fn file_of(&self, name: &str) -> Option<String> {
        if name.is_empty() || name.starts_with('.') {
            return None;
        }
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return hit;
        }
        let rel = name.replace('.', "/");
        let found = self.bases.iter().find_map(|b| {
            [
                b.join(format!("{rel}.py")),
                b.join(&rel).join("__init__.py"),
            ]
            .into_iter()
            .find(|p| p.is_file())
        });
        let out = found
            .map(|p| crate::walk::relative(&self.root, &p))
            .filter(|r| !r.starts_with(".."));
        if let Ok(mut c) = self.cache.lock() {
            c.insert(name.to_string(), out.clone());
        }
        out
    }
}

/// What a name resolves to.
#[derive(Clone)]
enum Def {
    Function(usize, Arc<Function>),
    Class(usize, Arc<Class>),
    Module(usize, String),
}

struct Resolver<'a> {
    modules: &'a [ModuleModel],
    by_rel: HashMap<&'a str, usize>,
    paths: &'a ImportPaths,
}

impl<'a> Resolver<'a> {
    fn new(modules: &'a [ModuleModel], paths: &'a ImportPaths) -> Self {
        Resolver {
            by_rel: modules
                .iter()
                .enumerate()
                .map(|(i, m)| (m.rel.as_str(), i))
                .collect(),
            modules,
            paths,
        }
    }

    fn module(&self, name: &str) -> Option<usize> {
        let rel = self.paths.file_of(name)?;
        self.by_rel.get(rel.as_str()).copied()
    }

    /// Does `from m import *` bring `name`?
    fn exports(&self, m: usize, name: &str) -> bool {
        match &self.modules[m].namespace.all {
            Some(all) => all.iter().any(|a| a == name),
            None => !name.starts_with('_'),
        }
    }

    /// `name` in module `m`'s namespace.
    fn lookup(&self, m: usize, name: &str, depth: usize) -> Option<Def> {
        if depth > MAX_DEPTH {
            return None;
        }
        let ns = &self.modules[m].namespace;
        match ns.names.get(name) {
            Some(Binding::Function(f)) => Some(Def::Function(m, Arc::clone(f))),
            Some(Binding::Class(c)) => Some(Def::Class(m, Arc::clone(c))),
            Some(Binding::Import(t)) => self.qualified(t, depth + 1),
            Some(Binding::Value(e)) => match &e.kind {
                ExprKind::Name(n) if n == name => None,
                ExprKind::Name(_) | ExprKind::Attribute { .. } => self.expr(m, e, depth + 1),
                _ => None,
            },
            None => {
                for star in &ns.stars {
                    let Some(sm) = self.module(star) else {
                        continue;
                    };
                    if sm != m && self.exports(sm, name) {
                        if let Some(d) = self.lookup(sm, name, depth + 1) {
                            return Some(d);
                        }
                    }
                }
                None
            }
        }
    }

    /// A qualified import target: `a.b.c` is `c` in module `a.b`, or the
    /// module `a.b.c` itself.
    fn qualified(&self, q: &str, depth: usize) -> Option<Def> {
        if depth > MAX_DEPTH {
            return None;
        }
        if let Some((head, last)) = q.rsplit_once('.') {
            if let Some(m) = self.module(head) {
                if let Some(d) = self.lookup(m, last, depth + 1) {
                    return Some(d);
                }
            }
        }
        self.module(q).map(|m| Def::Module(m, q.to_string()))
    }

    /// A base-class expression (`Base`, `mod.Base`, `Base[T]`) in module `m`.
    fn expr(&self, m: usize, e: &Expr, depth: usize) -> Option<Def> {
        let e = match &e.kind {
            ExprKind::Subscript { value, .. } => value,
            _ => e,
        };
        let parts = e.dotted()?;
        let mut cur = self.lookup(m, parts[0], depth + 1)?;
        for p in &parts[1..] {
            cur = match cur {
                Def::Module(mm, name) => self.lookup(mm, p, depth + 1).or_else(|| {
                    let sub = format!("{name}.{p}");
                    self.module(&sub).map(|s| Def::Module(s, sub))
                })?,
                Def::Class(cm, c) => {
                    let inner = c.body.iter().find_map(|s| match &s.kind {
                        StmtKind::ClassDef(k) if k.name == *p => Some(Arc::clone(k)),
                        _ => None,
                    })?;
                    Def::Class(cm, inner)
                }
                Def::Function(..) => return None,
            };
        }
        Some(cur)
    }

    /// Every name `from m import *` brings, with what it is.
    fn star_names(
        &self,
        m: usize,
        depth: usize,
        seen: &mut HashSet<usize>,
        out: &mut BTreeMap<String, Def>,
    ) {
        if depth > MAX_DEPTH || !seen.insert(m) {
            return;
        }
        let ns = &self.modules[m].namespace;
        let names: Vec<String> = match &ns.all {
            Some(all) => all.clone(),
            None => {
                let mut v: Vec<String> = ns
                    .names
                    .keys()
                    .filter(|n| !n.starts_with('_'))
                    .cloned()
                    .collect();
                for star in &ns.stars {
                    if let Some(sm) = self.module(star) {
                        let mut inner = BTreeMap::new();
                        self.star_names(sm, depth + 1, seen, &mut inner);
                        v.extend(inner.into_keys());
                    }
                }
                v
            }
        };
        for n in names {
            if let Some(d) = self.lookup(m, &n, depth + 1) {
                out.insert(n, d);
            }
        }
    }

    /// The names module `m` holds after its imports ran: star imports first,
    /// its own bindings over them.
    fn namespace(&self, m: usize) -> BTreeMap<String, Def> {
        let mut out = BTreeMap::new();
        for star in &self.modules[m].namespace.stars {
            if let Some(sm) = self.module(star) {
                if sm != m {
                    self.star_names(sm, 1, &mut HashSet::from([m]), &mut out);
                }
            }
        }
        for name in self.modules[m].namespace.names.keys() {
            if let Some(d) = self.lookup(m, name, 0) {
                out.insert(name.clone(), d);
            }
        }
        out
    }
}

/// A class and where it is defined.
#[derive(Clone)]
struct ClassAt {
    module: usize,
    class: Arc<Class>,
}

impl ClassAt {
    fn key(&self) -> (usize, u32) {
        (self.module, self.class.span.start)
    }
}

/// A class's MRO as far as the project goes, and the bases outside it.
struct Mro {
    classes: Vec<ClassAt>,
    /// Qualified names of bases isoaudit cannot read (`unittest.TestCase`).
    external: Vec<String>,
}

impl<'a> Resolver<'a> {
    fn mro(&self, c: &ClassAt) -> Mro {
        let mut external = Vec::new();
        let mut stack = Vec::new();
        let classes = self.linearize(c, 0, &mut stack, &mut external);
        external.sort();
        external.dedup();
        Mro { classes, external }
    }

    /// C3 linearization over the bases that resolve to project classes;
    /// falls back to depth-first order when the hierarchy is inconsistent.
    fn linearize(
        &self,
        c: &ClassAt,
        depth: usize,
        stack: &mut Vec<(usize, u32)>,
        external: &mut Vec<String>,
    ) -> Vec<ClassAt> {
        if depth > MAX_DEPTH || stack.contains(&c.key()) {
            return vec![c.clone()];
        }
        stack.push(c.key());
        let ctx = Ctx::of(&self.modules[c.module], c.module);
        let mut seqs: Vec<Vec<ClassAt>> = Vec::new();
        let mut direct = Vec::new();
        for b in &c.class.bases {
            match self.expr(c.module, b, depth) {
                Some(Def::Class(m, k)) => {
                    let at = ClassAt {
                        module: m,
                        class: k,
                    };
                    seqs.push(self.linearize(&at, depth + 1, stack, external));
                    direct.push(at);
                }
                _ => {
                    let inner = match &b.kind {
                        ExprKind::Subscript { value, .. } => &**value,
                        _ => b,
                    };
                    let q = ctx.qualify(inner).unwrap_or_default();
                    if q != "object" {
                        external.push(q);
                    }
                }
            }
        }
        stack.pop();
        seqs.push(direct);
        let mut out = vec![c.clone()];
        loop {
            seqs.retain(|s| !s.is_empty());
            if seqs.is_empty() {
                break;
            }
            let head = seqs.iter().find_map(|s| {
                let h = &s[0];
                let in_tail = seqs
                    .iter()
                    .any(|t| t[1..].iter().any(|x| x.key() == h.key()));
                (!in_tail).then(|| h.clone())
            });
            let Some(head) = head else {
                // Inconsistent: keep the remaining classes in depth-first order.
                for s in &seqs {
                    for x in s {
                        if !out.iter().any(|o| o.key() == x.key()) {
                            out.push(x.clone());
                        }
                    }
                }
                break;
            };
            for s in &mut seqs {
                if s[0].key() == head.key() {
                    s.remove(0);
                }
            }
            if !out.iter().any(|o| o.key() == head.key()) {
                out.push(head);
            }
        }
        out
    }
}

/// Fixtures and tests one collecting module gets from collection.
#[derive(Default)]
struct Plan {
    tests: Vec<Test>,
    /// (class path to link under, module the fixture lives in, fixture).
    fixtures: Vec<(Option<String>, usize, Fixture)>,
    open_imports: bool,
}

/// A setup and teardown function living in one module.
type XunitPair<'f> = (usize, Option<&'f Arc<Function>>, Option<&'f Arc<Function>>);

/// xunit names per level: (setup names, teardown names, scope), the first
/// name found wins.
const MODULE_XUNIT: [(&[&str], &[&str], Scope); 2] = [
    (
        &["setUpModule", "setup_module"],
        &["tearDownModule", "teardown_module"],
        Scope::Module,
    ),
    (&["setup_function"], &["teardown_function"], Scope::Function),
];
const CLASS_XUNIT: [(&[&str], &[&str], Scope); 2] = [
    (&["setup_class"], &["teardown_class"], Scope::Class),
    // nose-style `setup`/`teardown` (pytest < 8) when there is no
    // `setup_method`/`teardown_method`.
    (
        &["setup_method", "setup"],
        &["teardown_method", "teardown"],
        Scope::Function,
    ),
];
const UNITTEST_XUNIT: [(&[&str], &[&str], Scope); 5] = [
    (&["setUpClass"], &["tearDownClass"], Scope::Class),
    (&["setUp"], &["tearDown"], Scope::Function),
    (&["asyncSetUp"], &["asyncTearDown"], Scope::Function),
    (&["setup_class"], &["teardown_class"], Scope::Class),
    (&["setup_method"], &["teardown_method"], Scope::Function),
];

fn is_unittest_base(q: &str) -> bool {
    q.ends_with("TestCase") || q.starts_with("unittest.")
}

/// Decorators that give a class a generated `__init__` (pytest skips it).
fn makes_init(ctx: &Ctx, c: &Class) -> bool {
    c.decorators.iter().any(|d| {
        let callee = match &d.expr.kind {
            ExprKind::Call(call) => &call.func,
            _ => &d.expr,
        };
        let q = ctx.qualify(callee).unwrap_or_default();
        q.ends_with("dataclass")
            || matches!(
                q.as_str(),
                "attr.s"
                    | "attr.attrs"
                    | "attr.define"
                    | "attrs.define"
                    | "attr.frozen"
                    | "attrs.frozen"
                    | "attr.mutable"
                    | "attrs.mutable"
            )
    })
}

struct Collector<'a> {
    r: &'a Resolver<'a>,
    rules: &'a NameRules,
    /// The collecting module.
    c: usize,
    plan: Plan,
}

impl<'a> Collector<'a> {
    fn ctx(&self, m: usize) -> Ctx<'a> {
        Ctx::of(&self.r.modules[m], m)
    }

    fn rel(&self) -> &'a str {
        &self.r.modules[self.c].rel
    }

    /// Markers written in module `m` seen from a test defined in another one.
    fn placed(markers: Vec<Marker>, m: usize) -> Vec<Marker> {
        markers
            .into_iter()
            .map(|mut mk| {
                mk.module.get_or_insert(m);
                mk
            })
            .collect()
    }

    fn collect_module(&mut self) {
        let m = &self.r.modules[self.c];
        if m.namespace.disabled || (m.support && !m.plugin) {
            return;
        }
        let names = self.r.namespace(self.c);
        // Conftest and plugin modules hold fixtures and hooks, never tests.
        let is_conftest = m.is_conftest || m.support;
        let module_markers = Self::placed(m.module_markers.clone(), self.c);
        // In the order pytest sees the names: where each is first bound.
        let mut ordered: Vec<(&String, &Def)> = names.iter().collect();
        ordered.sort_by_key(|(n, _)| m.namespace.first_seen.get(*n).copied().unwrap_or(u32::MAX));
        for (name, def) in ordered {
            match def {
                Def::Function(d, f) => {
                    let local = *d == self.c
                        && matches!(m.namespace.names.get(name), Some(Binding::Function(_)));
                    if local {
                        continue;
                    }
                    let ctx = self.ctx(*d);
                    if let Some(mut fx) = ctx.fixture_of(f, None) {
                        fx.module = *d;
                        self.plan.fixtures.push((None, *d, fx));
                    } else if !is_conftest
                        && self.rules.is_test_function(name)
                        && !f.name.starts_with("pytest_")
                    {
                        let mut t = ctx.make_test(
                            f,
                            format!("{}::{name}", self.rel()),
                            None,
                            &module_markers,
                            false,
                            self.c,
                        );
                        t.name = name.clone();
                        self.plan.tests.push(t);
                    }
                }
                Def::Class(d, k) if !is_conftest => {
                    let at = ClassAt {
                        module: *d,
                        class: Arc::clone(k),
                    };
                    self.collect_class(name, name, &at, &module_markers, 0);
                }
                _ => {}
            }
        }
        if is_conftest {
            return;
        }
        for (setups, teardowns, scope) in MODULE_XUNIT {
            let find = |list: &[&str]| {
                list.iter().find_map(|n| match names.get(*n) {
                    Some(Def::Function(d, f)) if !self.ctx(*d).is_fixture(f) => {
                        Some((*d, Arc::clone(f)))
                    }
                    _ => None,
                })
            };
            let only_functions = scope == Scope::Function;
            self.xunit(find(setups), find(teardowns), None, scope, only_functions);
        }
        for s in &m.namespace.stars {
            if self.r.module(s).is_none() {
                self.plan.open_imports = true;
            }
        }
    }

    /// Synthetic fixtures for a setup/teardown pair; one fixture when both
    /// live in one module, else one each.
    fn xunit(
        &mut self,
        setup: Option<(usize, Arc<Function>)>,
        teardown: Option<(usize, Arc<Function>)>,
        class: Option<(&str, &dyn Fn(usize) -> String)>,
        scope: Scope,
        only_functions: bool,
    ) {
        let pairs: Vec<XunitPair> = match (&setup, &teardown) {
            (Some((ms, s)), Some((mt, t))) if ms == mt => vec![(*ms, Some(s), Some(t))],
            _ => setup
                .iter()
                .map(|(m, s)| (*m, Some(s), None))
                .chain(teardown.iter().map(|(m, t)| (*m, None, Some(t))))
                .collect(),
        };
        for (m, s, t) in pairs {
            let def_class = class.map(|(_, f)| f(m));
            let Some(mut fx) =
                xunit_fixture(&self.r.modules[m].rel, m, def_class.as_deref(), s, t, scope)
            else {
                continue;
            };
            fx.only_functions = only_functions;
            // A module-level xunit function imported from elsewhere applies
            // only where it is imported.
            fx.only_linked = class.is_none() && m != self.c;
            self.plan
                .fixtures
                .push((class.map(|(p, _)| p.to_string()), m, fx));
        }
    }

    fn collect_class(
        &mut self,
        name: &str,
        path: &str,
        at: &ClassAt,
        outer: &[Marker],
        depth: usize,
    ) {
        if depth > 8 {
            return;
        }
        let mro = self.r.mro(at);
        let unittest = mro.external.iter().any(|q| is_unittest_base(q));
        // `__test__` as the MRO sees it.
        let dunder_test = mro.classes.iter().find_map(|k| {
            k.class.body.iter().rev().find_map(|s| match &s.kind {
                StmtKind::Assign { targets, value }
                    if targets
                        .iter()
                        .any(|t| matches!(&t.kind, ExprKind::Name(n) if n == "__test__")) =>
                {
                    Some(!matches!(
                        value.kind,
                        ExprKind::Bool(false) | ExprKind::NoneLit | ExprKind::Int(Some(0))
                    ))
                }
                _ => None,
            })
        });
        if dunder_test == Some(false) {
            return;
        }
        if !unittest && !self.rules.is_test_class(name) && dunder_test != Some(true) {
            return;
        }
        // Attributes in MRO order, the first definition of a name winning.
        let mut seen: HashSet<String> = HashSet::new();
        let mut groups: Vec<Vec<(ClassAt, Arc<Function>)>> = Vec::new();
        let mut inner_classes: Vec<(ClassAt, Arc<Class>)> = Vec::new();
        let mut abstract_left = false;
        let mut has_init = false;
        let mut abc_meta = false;
        for k in &mro.classes {
            let ctx = self.ctx(k.module);
            has_init |= makes_init(&ctx, &k.class);
            abc_meta |= k.class.keywords.iter().any(|kw| {
                kw.name.as_deref() == Some("metaclass")
                    && ctx
                        .qualify(&kw.value)
                        .unwrap_or_default()
                        .ends_with("ABCMeta")
            });
            let mut group = Vec::new();
            let live = live_bindings(&k.class.body);
            for (i, s) in k.class.body.iter().enumerate() {
                if !live.contains(&i) {
                    continue;
                }
                match &s.kind {
                    StmtKind::FunctionDef(f) => {
                        if !seen.insert(f.name.to_string()) {
                            continue;
                        }
                        if f.name == "__init__" || f.name == "__new__" {
                            has_init = true;
                        }
                        let is_abstract = f.decorators.iter().any(|d| {
                            ctx.qualify(&d.expr)
                                .unwrap_or_default()
                                .ends_with("abstractmethod")
                        });
                        abstract_left |= is_abstract;
                        group.push((k.clone(), Arc::clone(f)));
                    }
                    StmtKind::ClassDef(inner) if seen.insert(inner.name.to_string()) => {
                        inner_classes.push((k.clone(), Arc::clone(inner)));
                    }
                    StmtKind::Assign { targets, .. } => {
                        for t in targets {
                            if let ExprKind::Name(n) = &t.kind {
                                seen.insert(n.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            groups.push(group);
        }
        abc_meta |= mro
            .external
            .iter()
            .any(|q| q == "abc.ABC" || q.ends_with(".ABC") || q == "ABC");
        if !unittest && (has_init || (abc_meta && abstract_left)) {
            // pytest skips classes with a constructor and abstract classes.
            return;
        }
        let external_base = !mro.external.is_empty();
        // Markers of every class in the MRO, then the outer ones.
        let mut class_markers: Vec<Marker> = Vec::new();
        for k in &mro.classes {
            class_markers.extend(Self::placed(
                self.ctx(k.module).class_markers(&k.class),
                k.module,
            ));
        }
        class_markers.extend(outer.iter().cloned());
        // Where a fixture of class `k` is defined: the path being collected
        // for the class itself when it is local, else its own name.
        let root_key = at.key();
        let c = self.c;
        let def_path = |k: &ClassAt| -> String {
            if k.key() == root_key && k.module == c {
                path.to_string()
            } else {
                k.class.name.to_string()
            }
        };
        for group in &groups {
            for (k, f) in group {
                let ctx = self.ctx(k.module);
                if let Some(mut fx) = ctx.fixture_of(f, Some(&def_path(k))) {
                    fx.module = k.module;
                    self.plan
                        .fixtures
                        .push((Some(path.to_string()), k.module, fx));
                }
            }
        }
        let table: &[(&[&str], &[&str], Scope)] = if unittest {
            &UNITTEST_XUNIT
        } else {
            &CLASS_XUNIT
        };
        let methods: HashMap<&str, &(ClassAt, Arc<Function>)> = groups
            .iter()
            .flatten()
            .map(|e| (e.1.name.as_str(), e))
            .collect();
        for (setups, teardowns, scope) in table {
            let find = |list: &[&str]| {
                list.iter().find_map(|n| {
                    let (k, f) = methods.get(n)?;
                    (!self.ctx(k.module).is_fixture(f))
                        .then(|| (k.module, Arc::clone(f), k.clone()))
                })
            };
            let s = find(setups);
            let t = find(teardowns);
            // A setup of one class run with the teardown of another (a
            // subclass overriding only `setUp`) is a pair of its own: named
            // after the setup's class it would take the id of that class's
            // own pair and its facts.
            let mixed = match (&s, &t) {
                (Some((ms, _, ks)), Some((mt, _, kt))) if ms == mt && ks.key() != kt.key() => {
                    Some(format!("{}+{}", def_path(ks), def_path(kt)))
                }
                _ => None,
            };
            let mut class_of: HashMap<usize, String> = HashMap::new();
            for (m, _, k) in s.iter().chain(t.iter()) {
                class_of.insert(*m, def_path(k));
            }
            let lookup = move |m: usize| class_of.get(&m).cloned().unwrap_or_default();
            self.xunit(
                s.map(|(m, f, _)| (m, f)),
                t.map(|(m, f, _)| (m, f)),
                Some((path, &lookup)),
                *scope,
                false,
            );
            if let Some(mixed) = mixed {
                if let Some((_, _, fx)) = self.plan.fixtures.last_mut() {
                    fx.id = format!("{}::{mixed}::{}", self.r.modules[fx.module].rel, fx.name);
                }
            }
        }
        // Base-class tests come first, as pytest orders them.
        for group in groups.iter().rev() {
            for (k, f) in group {
                let is_test = if unittest {
                    f.name.starts_with("test")
                } else {
                    self.rules.is_test_function(&f.name)
                };
                let ctx = self.ctx(k.module);
                if !is_test || ctx.is_fixture(f) {
                    continue;
                }
                let mut t = ctx.make_test(
                    f,
                    format!("{}::{path}::{}", self.rel(), f.name),
                    Some(path),
                    &class_markers,
                    unittest,
                    self.c,
                );
                t.external_base = external_base;
                self.plan.tests.push(t);
            }
        }
        if !unittest {
            for (k, inner) in inner_classes {
                let at = ClassAt {
                    module: k.module,
                    class: inner,
                };
                let inner_path = format!("{path}::{}", at.class.name);
                let inner_name = at.class.name.clone();
                self.collect_class(&inner_name, &inner_path, &at, &class_markers, depth + 1);
            }
        }
    }
}

/// Indexes of the statements holding the final binding of their name.
fn live_bindings(body: &[Stmt]) -> BTreeSet<usize> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, s) in body.iter().enumerate() {
        match &s.kind {
            StmtKind::FunctionDef(f) => {
                last.insert(&f.name, i);
            }
            StmtKind::ClassDef(c) => {
                last.insert(&c.name, i);
            }
            StmtKind::Assign { targets, .. } => {
                for t in targets {
                    if let ExprKind::Name(n) = &t.kind {
                        last.insert(n, i);
                    }
                }
            }
            _ => {}
        }
    }
    last.into_values().collect()
}

#[derive(PartialEq, Eq, Hash, Clone)]
enum Want {
    /// A qualified name to follow.
    Name(String),
    /// Everything a module exports (a star import, or a plugin when `true`).
    All(String, bool),
}

/// Plugin module names from `-p NAME` / `-pNAME` in `addopts`.
fn addopts_plugins(ini: &PytestIni) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = ini.addopts.iter();
    while let Some(a) = it.next() {
        let name = if a == "-p" {
            it.next().cloned()
        } else {
            a.strip_prefix("-p")
                .filter(|r| !r.is_empty())
                .map(str::to_string)
        };
        if let Some(n) = name {
            if !n.starts_with("no:") {
                out.push(n);
            }
        }
    }
    out
}

/// Values of `--opt VALUE` / `--opt=VALUE` in `addopts`.
pub fn addopts_values(ini: &PytestIni, opt: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = ini.addopts.iter();
    let eq = format!("{opt}=");
    while let Some(a) = it.next() {
        if a == opt {
            out.extend(it.next().cloned());
        } else if let Some(v) = a.strip_prefix(&eq) {
            out.push(v.to_string());
        }
    }
    out
}

fn is_collecting(m: &ModuleModel) -> bool {
    !m.support
}

/// Reads the project modules that the namespaces of conftest and test
/// modules reach (base classes, imported fixtures and tests, star imports,
/// plugins), so `link` can see them. Modules already present are not read
/// again; a plugin module read earlier without its hooks gets them back.
pub fn load_reachable(
    root: &Path,
    modules: &mut Vec<ModuleModel>,
    texts: &mut Vec<Arc<SourceText>>,
    rules: &NameRules,
    ini: &PytestIni,
) {
    let paths = ImportPaths::new(root, modules);
    let test_dirs: Vec<String> = modules
        .iter()
        .filter(|m| !m.is_conftest && !m.support && !m.tests.is_empty())
        .map(|m| {
            if m.dir.is_empty() {
                String::new()
            } else {
                format!("{}/", m.dir)
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_rel: HashMap<String, usize> = modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.rel.clone(), i))
        .collect();
    // Names a fixture could be requested by anywhere in the suite.
    let requested: HashSet<String> = modules
        .iter()
        .filter(|m| is_collecting(m))
        .flat_map(|m| m.namespace.requested.iter().cloned())
        .chain(ini.usefixtures.iter().cloned())
        .collect();
    let xunit: HashSet<&str> = MODULE_XUNIT
        .iter()
        .chain(CLASS_XUNIT.iter())
        .flat_map(|(s, t, _)| s.iter().chain(t.iter()).copied())
        .collect();
    let interesting = |name: &str| {
        requested.contains(name)
            || rules.is_test_function(name)
            || rules.is_test_class(name)
            || xunit.contains(name)
    };
    let mut queue: VecDeque<Want> = VecDeque::new();
    let mut done: HashSet<Want> = HashSet::new();
    let mut followed: HashSet<(usize, String)> = HashSet::new();
    for name in addopts_plugins(ini) {
        queue.push_back(Want::All(name, true));
    }
    for m in modules.iter() {
        if !is_collecting(m) {
            continue;
        }
        for p in &m.namespace.plugins {
            queue.push_back(Want::All(p.clone(), true));
        }
        for s in &m.namespace.stars {
            queue.push_back(Want::All(s.clone(), false));
        }
        for (name, b) in &m.namespace.names {
            match b {
                Binding::Import(t) if m.is_conftest || interesting(name) => {
                    queue.push_back(Want::Name(t.clone()))
                }
                Binding::Class(_) => {
                    let (imported, _) = base_targets(m, name);
                    queue.extend(imported.into_iter().map(Want::Name));
                }
                _ => {}
            }
        }
    }
    let mut plugins: BTreeSet<usize> = BTreeSet::new();
    let mut loaded = 0usize;
    let in_test_tree = |rel: &str| {
        test_dirs.iter().any(|d| {
            if d.is_empty() {
                !rel.contains('/')
            } else {
                rel.starts_with(d.as_str())
            }
        })
    };
    // Reads the file `rel` into a new support module.
    let mut ensure = |rel: &str,
                      modules: &mut Vec<ModuleModel>,
                      texts: &mut Vec<Arc<SourceText>>,
                      loaded: &mut usize|
     -> Option<usize> {
        if let Some(&i) = by_rel.get(rel) {
            return Some(i);
        }
        if *loaded >= MAX_LOADED {
            return None;
        }
        *loaded += 1;
        let bytes = std::fs::read(root.join(rel)).ok()?;
        if bytes.len() > MAX_FILE_BYTES {
            return None;
        }
        let parsed = std::panic::catch_unwind(|| crate::python::parse_bytes(&bytes)).ok()?;
        let mut model = extract(
            modules.len(),
            rel,
            false,
            &parsed.module,
            &parsed.source,
            rules,
        );
        model.support = true;
        model.tests.clear();
        model.module_markers.clear();
        if !in_test_tree(rel) {
            model.functions.clear();
        }
        let i = modules.len();
        model.set_index(i);
        modules.push(model);
        texts.push(Arc::new(parsed.source));
        by_rel.insert(rel.to_string(), i);
        Some(i)
    };
    let mut steps = 0usize;
    while let Some(w) = queue.pop_front() {
        steps += 1;
        if steps > 200_000 || !done.insert(w.clone()) {
            continue;
        }
        match w {
            Want::All(name, plugin) => {
                let Some(rel) = paths.file_of(&name) else {
                    continue;
                };
                let Some(i) = ensure(&rel, modules, texts, &mut loaded) else {
                    continue;
                };
                if plugin {
                    plugins.insert(i);
                }
                let m = &modules[i];
                for p in &m.namespace.plugins {
                    queue.push_back(Want::All(p.clone(), true));
                }
                for s in &m.namespace.stars {
                    queue.push_back(Want::All(s.clone(), plugin));
                }
                let names: Vec<String> = match &m.namespace.all {
                    Some(all) => all.clone(),
                    None => m
                        .namespace
                        .names
                        .keys()
                        .filter(|n| !n.starts_with('_'))
                        .cloned()
                        .collect(),
                };
                for n in names {
                    follow(
                        i,
                        &n,
                        modules,
                        &mut queue,
                        &mut followed,
                        plugin || interesting(&n),
                    );
                }
            }
            Want::Name(q) => {
                let mut hit = false;
                if let Some((head, last)) = q.rsplit_once('.') {
                    if let Some(rel) = paths.file_of(head) {
                        if let Some(i) = ensure(&rel, modules, texts, &mut loaded) {
                            if modules[i].namespace.names.contains_key(last) {
                                hit = true;
                                follow(i, last, modules, &mut queue, &mut followed, true);
                            } else {
                                for s in modules[i].namespace.stars.clone() {
                                    queue.push_back(Want::Name(format!("{s}.{last}")));
                                }
                            }
                        }
                    }
                }
                if !hit {
                    if let Some(rel) = paths.file_of(&q) {
                        ensure(&rel, modules, texts, &mut loaded);
                    }
                }
            }
        }
    }
    for i in plugins {
        let m = &mut modules[i];
        m.plugin = true;
        // Read earlier as a plain support module: its hooks count now.
        if m.hooks.is_empty() && m.support {
            if let Ok(bytes) = std::fs::read(root.join(&m.rel)) {
                if let Ok(parsed) = std::panic::catch_unwind(|| crate::python::parse_bytes(&bytes))
                {
                    let fresh = extract(i, &m.rel, false, &parsed.module, &parsed.source, rules);
                    m.hooks = fresh.hooks;
                }
            }
        }
    }
}

/// What the bases of class `name` in `m` refer to: qualified names through
/// imports, and names of the same module.
fn base_targets(m: &ModuleModel, name: &str) -> (Vec<String>, Vec<String>) {
    let Some(Binding::Class(c)) = m.namespace.names.get(name) else {
        return (Vec::new(), Vec::new());
    };
    let mut out = Vec::new();
    let mut local = Vec::new();
    for b in &c.bases {
        let b = match &b.kind {
            ExprKind::Subscript { value, .. } => &**value,
            _ => b,
        };
        let Some(parts) = b.dotted() else { continue };
        match m.namespace.names.get(parts[0]) {
            Some(Binding::Import(t)) => {
                let mut q = t.clone();
                for p in &parts[1..] {
                    q.push('.');
                    q.push_str(p);
                }
                out.push(q);
            }
            None => {
                for s in &m.namespace.stars {
                    out.push(format!("{s}.{}", parts.join(".")));
                }
            }
            Some(_) => local.push(parts[0].to_string()),
        }
    }
    (out, local)
}

/// Queues what following `name` in module `i` needs read: where an import
/// leads, the bases of a class, the star imports that may hold it.
fn follow(
    i: usize,
    name: &str,
    modules: &[ModuleModel],
    queue: &mut VecDeque<Want>,
    followed: &mut HashSet<(usize, String)>,
    wanted: bool,
) {
    let mut work = vec![name.to_string()];
    while let Some(name) = work.pop() {
        if followed.len() > 500_000 || !followed.insert((i, name.clone())) {
            continue;
        }
        let m = &modules[i];
        match m.namespace.names.get(&name) {
            Some(Binding::Import(t)) if wanted => queue.push_back(Want::Name(t.clone())),
            Some(Binding::Class(_)) => {
                let (imported, local) = base_targets(m, &name);
                queue.extend(imported.into_iter().map(Want::Name));
                work.extend(local);
            }
            Some(Binding::Value(e)) => {
                if let ExprKind::Name(n) = &e.kind {
                    work.push(n.to_string());
                }
            }
            None if wanted => {
                for s in &m.namespace.stars {
                    queue.push_back(Want::Name(format!("{s}.{name}")));
                }
            }
            _ => {}
        }
    }
}

/// Collects, for every conftest, test and plugin module, what its namespace
/// and its test classes hold (see the module doc), then applies
/// `--deselect` from `addopts`.
pub fn link(root: &Path, modules: &mut [ModuleModel], rules: &NameRules, ini: &PytestIni) {
    let paths = ImportPaths::new(root, modules);
    let plans: Vec<(usize, Plan)> = {
        use rayon::prelude::*;
        let r = Resolver::new(modules, &paths);
        (0..modules.len())
            .into_par_iter()
            .filter(|&i| !modules[i].support || modules[i].plugin)
            .map(|c| {
                let mut col = Collector {
                    r: &r,
                    rules,
                    c,
                    plan: Plan::default(),
                };
                col.collect_module();
                (c, col.plan)
            })
            .collect()
    };
    let mut index: HashMap<(usize, String), usize> = HashMap::new();
    for (c, plan) in plans {
        for (class, m, fx) in plan.fixtures {
            let key = (m, fx.id.clone());
            let only_linked = fx.only_linked;
            let idx = match index.get(&key) {
                Some(&i) => i,
                None => {
                    let i = match modules[m].fixtures.iter().position(|f| f.id == fx.id) {
                        Some(i) => i,
                        None => {
                            modules[m].fixtures.push(fx);
                            modules[m].fixtures.len() - 1
                        }
                    };
                    index.insert(key, i);
                    i
                }
            };
            if !only_linked {
                modules[m].fixtures[idx].only_linked = false;
            }
            if class.is_some() || m != c || only_linked {
                let l = LinkedFixture {
                    class,
                    module: m,
                    index: idx,
                };
                if !modules[c].linked.contains(&l) {
                    modules[c].linked.push(l);
                }
            }
        }
        let module = &mut modules[c];
        module.open_imports |= plan.open_imports;
        module.tests.extend(plan.tests);
        // pytest collects a module's names in the order they are bound.
        let first_seen = &module.namespace.first_seen;
        let rel_len = module.rel.len() + 2;
        module.tests.sort_by_key(|t| {
            let top = t.nodeid.get(rel_len..).unwrap_or("");
            let top = top.split("::").next().unwrap_or(top);
            first_seen.get(top).copied().unwrap_or(u32::MAX)
        });
    }
    for m in modules.iter_mut() {
        if m.namespace
            .plugins
            .iter()
            .any(|p| paths.file_of(p).is_none())
        {
            m.open_imports = true;
        }
    }
    let deselect: Vec<String> = addopts_values(ini, "--deselect")
        .into_iter()
        .filter(|d| !d.contains('['))
        .map(|d| d.trim_start_matches("./").to_string())
        .collect();
    if !deselect.is_empty() {
        for m in modules.iter_mut() {
            m.tests
                .retain(|t| !deselect.iter().any(|d| t.nodeid.starts_with(d.as_str())));
        }
    }
}

/// Drops the modules pytest would not collect or load: files and
/// directories named by a conftest's `collect_ignore`/`collect_ignore_glob`
/// (relative to that conftest) or by `--ignore`/`--ignore-glob` in
/// `addopts`, and conftest files outside `--confcutdir`. Re-indexes what
/// is left.
pub fn drop_ignored(
    root: &Path,
    modules: &mut Vec<ModuleModel>,
    texts: &mut Vec<Arc<SourceText>>,
    ini: &PytestIni,
) {
    let abs = |rel: &str| crate::config::absolutize(root, Path::new(rel));
    // (directory the entry applies below, exact paths, globs).
    let mut exact: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut globs: Vec<(PathBuf, crate::walk::FnPattern)> = Vec::new();
    let mut conds = Conditions {
        root,
        paths: ImportPaths::new(root, modules),
        version: python_version(root),
        files: HashMap::new(),
    };
    for (i, m) in modules.iter().enumerate().filter(|(_, m)| m.is_conftest) {
        let dir = abs(&m.dir);
        let text = texts[i].clone();
        let mut holds = |g: &Guarded| {
            g.when.iter().all(|(span, want)| {
                conds.eval(text.slice(*span), &m.imports, &m.constants, &text, 0) == Some(*want)
            })
        };
        for e in m.namespace.collect_ignore.iter().filter(|g| holds(g)) {
            exact.push((
                dir.clone(),
                crate::config::absolutize(&dir, Path::new(&e.value)),
            ));
        }
        for g in m.namespace.collect_ignore_glob.iter().filter(|g| holds(g)) {
            let pattern = crate::config::absolutize(&dir, Path::new(&g.value));
            globs.push((
                dir.clone(),
                crate::walk::FnPattern::new(&pattern.to_string_lossy()),
            ));
        }
    }
    for e in addopts_values(ini, "--ignore") {
        exact.push((root.to_path_buf(), abs(&e)));
    }
    for g in addopts_values(ini, "--ignore-glob") {
        globs.push((
            root.to_path_buf(),
            crate::walk::FnPattern::new(&abs(&g).to_string_lossy()),
        ));
    }
    let confcutdir = addopts_values(ini, "--confcutdir").last().map(|d| abs(d));
    if exact.is_empty() && globs.is_empty() && confcutdir.is_none() {
        return;
    }
    let ignored = |m: &ModuleModel| {
        let path = abs(&m.rel);
        if m.is_conftest {
            if let Some(cut) = &confcutdir {
                if !abs(&m.dir).starts_with(cut) {
                    return true;
                }
            }
        }
        // The file, or a directory it lies in, matched below the conftest
        // (or rootdir) that names it.
        path.ancestors().any(|p| {
            let p = p.to_path_buf();
            exact
                .iter()
                .any(|(dir, e)| p.starts_with(dir) && p == *e && p != *dir)
                || globs
                    .iter()
                    .any(|(dir, g)| p.starts_with(dir) && p != *dir && g.matches(&p))
        })
    };
    let keep: Vec<bool> = modules.iter().map(|m| m.support || !ignored(m)).collect();
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut i = 0;
    modules.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    let mut j = 0;
    texts.retain(|_| {
        j += 1;
        keep[j - 1]
    });
    for (i, m) in modules.iter_mut().enumerate() {
        m.set_index(i);
    }
}

/// The Python version conditions are evaluated for: the project's own
/// virtualenv (`.venv`/`venv` with a `pyvenv.cfg`), else a current CPython.
fn python_version(root: &Path) -> Vec<i64> {
    for venv in [".venv", "venv", "env"] {
        let Ok(cfg) = std::fs::read_to_string(root.join(venv).join("pyvenv.cfg")) else {
            continue;
        };
        for line in cfg.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if matches!(k.trim(), "version_info" | "version") {
                let parts: Vec<i64> = v.trim().split('.').map_while(|p| p.parse().ok()).collect();
                if parts.len() >= 2 {
                    return parts;
                }
            }
        }
    }
    vec![3, 12, 0]
}

/// Evaluates the conditions that guard `collect_ignore` entries, from their
/// source text: `sys.version_info` comparisons, `True`/`False`, `not`, `and`,
/// `or`, and names bound to such expressions in the module or imported from
/// a project module. Anything else is unknown (`None`): the entry is then
/// not applied, as if optional dependencies were installed.
struct Conditions<'a> {
    root: &'a Path,
    paths: ImportPaths,
    version: Vec<i64>,
    /// Project modules read for their constants, by relative path.
    files: HashMap<String, Option<ConstModule>>,
}

use super::imports::Imports;

/// A module read only for its constants: imports, constants, source text.
type ConstModule = (Imports, HashMap<String, Expr>, Arc<SourceText>);

impl Conditions<'_> {
    fn eval(
        &mut self,
        text: &str,
        imports: &Imports,
        constants: &HashMap<String, Expr>,
        source: &SourceText,
        depth: usize,
    ) -> Option<bool> {
        if depth > 8 {
            return None;
        }
        let t = strip_parens(text.trim());
        if let Some(parts) = split_top(t, " or ") {
            let mut any_unknown = false;
            for p in parts {
                match self.eval(p, imports, constants, source, depth + 1) {
                    Some(true) => return Some(true),
                    None => any_unknown = true,
                    _ => {}
                }
            }
            return if any_unknown { None } else { Some(false) };
        }
        if let Some(parts) = split_top(t, " and ") {
            let mut any_unknown = false;
            for p in parts {
                match self.eval(p, imports, constants, source, depth + 1) {
                    Some(false) => return Some(false),
                    None => any_unknown = true,
                    _ => {}
                }
            }
            return if any_unknown { None } else { Some(true) };
        }
        if let Some(rest) = t.strip_prefix("not ") {
            return self
                .eval(rest, imports, constants, source, depth + 1)
                .map(|b| !b);
        }
        match t {
            "True" => return Some(true),
            "False" => return Some(false),
            _ => {}
        }
        if t.contains("version_info") {
            return self.version_compare(t);
        }
        if !t.is_empty()
            && t.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            // A name: a constant of this module, or one imported from the project.
            if let Some(value) = constants.get(t) {
                let value_text = source.slice(value.span).to_string();
                return self.eval(&value_text, imports, constants, source, depth + 1);
            }
            let head = t.split('.').next().unwrap_or(t);
            let q = imports.get(head)?;
            let q = format!("{q}{}", &t[head.len()..]);
            let (module, name) = q.rsplit_once('.')?;
            let rel = self.paths.file_of(module)?;
            if !self.files.contains_key(&rel) {
                let loaded = std::fs::read(self.root.join(&rel)).ok().and_then(|bytes| {
                    let parsed =
                        std::panic::catch_unwind(|| crate::python::parse_bytes(&bytes)).ok()?;
                    let mut imports = Imports::from_body(&parsed.module.body);
                    imports.resolve_relative(&rel.trim_end_matches(".py").replace('/', "."));
                    let mut constants = HashMap::new();
                    for stmt in &parsed.module.body {
                        if let StmtKind::Assign { targets, value } = &stmt.kind {
                            for t in targets {
                                if let ExprKind::Name(n) = &t.kind {
                                    constants.insert(n.to_string(), value.clone());
                                }
                            }
                        }
                    }
                    Some((imports, constants, Arc::new(parsed.source)))
                });
                self.files.insert(rel.clone(), loaded);
            }
            let (imports, constants, source) = self.files.get(&rel)?.clone()?;
            let value = constants.get(name)?;
            let value_text = source.slice(value.span).to_string();
            return self.eval(&value_text, &imports, &constants, &source, depth + 1);
        }
        None
    }

    /// `sys.version_info[:2] >= (3, 10)`, `sys.version_info < (3, 8)`,
    /// `sys.version_info.major == 3`, `sys.version_info[0] >= 3`.
    fn version_compare(&self, t: &str) -> Option<bool> {
        let ops = [">=", "<=", "==", "!=", ">", "<"];
        let (pos, op) = ops
            .iter()
            .filter_map(|op| t.find(op).map(|p| (p, *op)))
            .min_by_key(|(p, op)| (*p, std::cmp::Reverse(op.len())))?;
        let (left, right) = (t[..pos].trim(), t[pos + op.len()..].trim());
        let lhs: Vec<i64> =
            if let Some(idx) = left.strip_suffix(']').and_then(|l| l.split_once('[')) {
                let inner = idx.1.trim();
                if let Some(end) = inner.strip_prefix(':') {
                    let n: usize = end.trim().parse().ok()?;
                    self.version.iter().take(n).copied().collect()
                } else {
                    let i: usize = inner.parse().ok()?;
                    vec![*self.version.get(i)?]
                }
            } else if left.ends_with(".major") {
                vec![self.version[0]]
            } else if left.ends_with(".minor") {
                vec![*self.version.get(1)?]
            } else if left.ends_with("version_info") {
                self.version.clone()
            } else {
                return None;
            };
        let rhs: Vec<i64> = right
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<i64>>>()?;
        let ord = lhs.cmp(&rhs);
        Some(match op {
            ">=" => ord.is_ge(),
            "<=" => ord.is_le(),
            "==" => ord.is_eq(),
            "!=" => ord.is_ne(),
            ">" => ord.is_gt(),
            _ => ord.is_lt(),
        })
    }
}

fn strip_parens(t: &str) -> &str {
    let mut t = t.trim();
    while t.starts_with('(') && t.ends_with(')') && split_top(&t[1..t.len() - 1], ",").is_none() {
        let inner = &t[1..t.len() - 1];
        // Only when the parentheses enclose the whole text.
        let mut depth = 0i32;
        let balanced = inner.chars().all(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            depth >= 0
        });
        if !balanced || depth != 0 {
            break;
        }
        t = inner.trim();
    }
    t
}

/// `t` split at `sep` outside brackets, when it occurs there at all.
fn split_top<'t>(t: &'t str, sep: &str) -> Option<Vec<&'t str>> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = t.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {
                if depth == 0 && t[i..].starts_with(sep) {
                    parts.push(&t[start..i]);
                    i += sep.len();
                    start = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    if parts.is_empty() {
        return None;
    }
    parts.push(&t[start..]);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn analyze(root: &Path, addopts: &[&str]) -> crate::Analysis {
        let mut project = crate::config::Project::with_defaults(root);
        project.pytest.addopts = addopts.iter().map(|s| s.to_string()).collect();
        crate::analyze(project, &[root.to_path_buf()], &Default::default())
    }

    fn ids(a: &crate::Analysis) -> Vec<String> {
        let mut v: Vec<String> = a.suite.tests().map(|t| t.nodeid.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn version_conditions() {
        let c = Conditions {
            root: Path::new("/nonexistent"),
            paths: ImportPaths::new(Path::new("/nonexistent"), &[]),
            version: vec![3, 11, 7],
            files: HashMap::new(),
        };
        for (text, want) in [
            ("sys.version_info >= (3, 10)", Some(true)),
            ("sys.version_info[:2] < (3, 10)", Some(false)),
            ("sys.version_info[0] == 3", Some(true)),
            ("sys.version_info.minor > 11", Some(false)),
            ("sys.version_info <= (3, 11, 7)", Some(true)),
        ] {
            assert_eq!(c.version_compare(text), want, "{text}");
        }
        assert_eq!(c.version_compare("platform.python_version() > '3'"), None);
    }

    #[test]
    fn guarded_ignores_follow_their_condition_even_through_imported_names() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(root, "pkg/__init__.py", "");
        write(
            root,
            "pkg/compat.py",
            "import sys\nNEW = sys.version_info >= (3, 0)\nOLD = not NEW\n",
        );
        write(
            root,
            "tests/conftest.py",
            "import sys\nfrom pkg.compat import NEW, OLD\nHAS_X = True\ncollect_ignore = []\n\
             if not NEW:\n    collect_ignore.append('test_a.py')\n\
             if OLD or sys.version_info < (3, 0):\n    collect_ignore.append('test_b.py')\n\
             else:\n    collect_ignore.append('test_c.py')\n\
             if HAS_X and NEW:\n    collect_ignore += ['test_d.py']\n\
             if unknown_call():\n    collect_ignore.append('test_e.py')\n",
        );
        for f in ["a", "b", "c", "d", "e"] {
            write(
                root,
                &format!("tests/test_{f}.py"),
                "def test_x():\n    pass\n",
            );
        }
        assert_eq!(
            ids(&analyze(root, &[])),
            [
                "tests/test_a.py::test_x",
                "tests/test_b.py::test_x",
                "tests/test_e.py::test_x",
            ]
        );
    }

    #[test]
    fn addopts_ignores_deselects_and_confcutdir() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "conftest.py",
            "import pytest\n@pytest.fixture\ndef top():\n    return 1\n",
        );
        write(
            root,
            "tests/conftest.py",
            "import pytest\n@pytest.fixture\ndef mid():\n    return 1\n",
        );
        write(
            root,
            "tests/test_a.py",
            "def test_a(top, mid):\n    pass\ndef test_ab():\n    pass\n",
        );
        write(root, "tests/skip/test_s.py", "def test_s():\n    pass\n");
        write(root, "tests/test_g_slow.py", "def test_g():\n    pass\n");
        let a = analyze(
            root,
            &[
                "--ignore=tests/skip",
                "--ignore-glob",
                "*_slow.py",
                "--deselect",
                "tests/test_a.py::test_ab",
                "--confcutdir=tests",
            ],
        );
        assert_eq!(ids(&a), ["tests/test_a.py::test_a"]);
        // The root conftest is outside confcutdir: `top` is unknown there.
        let unresolved: Vec<&str> = a.closures[0]
            .unresolved
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(unresolved, ["top"]);
    }

    #[test]
    fn star_imports_honour_all_and_cycles_end() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(root, "tests/__init__.py", "");
        write(
            root,
            "tests/fx.py",
            "import pytest\nfrom tests.loop import *\n__all__ = ['shown']\n\
             @pytest.fixture\ndef shown():\n    return 1\n@pytest.fixture\ndef hidden():\n    return 2\n",
        );
        // A star-import cycle and an inheritance cycle through imports.
        write(root, "tests/loop.py", "from tests.fx import *\nfrom tests.test_c import B\nclass A(B):\n    def test_a(self):\n        pass\n");
        write(root, "tests/conftest.py", "from tests.fx import *\n");
        write(
            root,
            "tests/test_c.py",
            "from tests.loop import A\nclass B(A):\n    pass\nclass TestC(B):\n    def test_c(self):\n        pass\n\
             def test_uses(shown, hidden):\n    pass\n",
        );
        let a = analyze(root, &[]);
        let t = a
            .suite
            .tests()
            .position(|t| t.nodeid == "tests/test_c.py::test_uses")
            .unwrap();
        let unresolved: Vec<&str> = a.closures[t]
            .unresolved
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(unresolved, ["hidden"]);
        assert!(ids(&a).contains(&"tests/test_c.py::TestC::test_c".to_string()));
    }

    #[test]
    fn unparsable_project_code_degrades() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(root, "tests/__init__.py", "");
        write(
            root,
            "tests/base.py",
            "class Base(:\n    def test_x(self)\n",
        );
        write(root, "tests/test_a.py", "from tests.base import Base, missing\nfrom nowhere import Thing\n\
              class TestA(Base):\n    def test_own(self):\n        pass\nclass TestB(Thing):\n    def test_b(self):\n        pass\n");
        let a = analyze(root, &[]);
        // What the parser recovers of the broken base still counts.
        assert_eq!(
            ids(&a),
            [
                "tests/test_a.py::TestA::test_own",
                "tests/test_a.py::TestA::test_x",
                "tests/test_a.py::TestB::test_b"
            ]
        );
        let b = a.suite.tests().find(|t| t.name == "test_b").unwrap();
        assert!(b.external_base);
    }
}
