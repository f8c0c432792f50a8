//! Hazard extraction: walks the bodies of tests and fixtures with a small
//! abstract interpreter and records what each function writes, binds,
//! connects to, destroys, mutates in-process or loads. Knows pytest only
//! through the suite model and the graph; classifies nothing.
//!
//! - `mod.rs`: the facts types, the per-fixture/per-test driver, shared helpers
//! - `walk.rs`: statements, assignments and the call dispatcher
//! - `eval.rs`: abstract values of expressions (`value.rs` defines them)
//! - `sinks.rs`: the calls that make hazards, guided by `catalog.rs`
//! - `restore.rs`: mitigations (patch contexts, teardown and finalizer restores)

pub mod catalog;
mod eval;
mod objects;
mod restore;
mod sinks;
pub mod value;
mod walk;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::graph::{FixtureRef, Resolved, Suite};
use crate::pytest::imports::Imports;
use crate::pytest::{builtins, ModuleModel, Scope};
use crate::python::ir::*;
use value::{classify_path, dirname, join_path, service_key, Obj, PathClass, Val};

/// How a hazard affects scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// A keyed external resource: group with its other users.
    Shared,
    /// Must run alone (whole-service destruction, unkeyable hazards).
    Serial,
    /// In-process state that leaks to later tests on the same worker.
    Order,
    /// Memory/CPU heavy.
    Heavy,
    /// Reported, no scheduling effect.
    Note,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    pub code: &'static str,
    pub key: Option<String>,
    pub effect: Effect,
    pub module: usize,
    pub span: Span,
    /// What is shared and why it conflicts.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// Found in application code a test calls: it matters only where another
    /// test depends on the same state (a reader), not on its own.
    pub latent: bool,
    /// The call that made it (`sentence_transformers.SentenceTransformer`),
    /// so a caller that patches that name can drop it.
    pub api: Option<String>,
}

/// Facts of one test or fixture body.
#[derive(Debug, Clone, Default)]
pub struct FnFacts {
    pub hazards: Vec<Hazard>,
    /// Process-wide keys read (env vars, module attributes, globals...).
    pub reads: BTreeSet<String>,
    /// Keys application code this body calls reads: they tie the test to
    /// writers in test code only (state the code under test both writes
    /// and reads is its own business).
    pub latent_reads: BTreeSet<String>,
    /// For fixtures: what it returns or yields.
    pub value: Option<Val>,
    /// Isolation already in place (`tmp_path`, `monkeypatch`, `mock.patch`...).
    pub mitigations: BTreeSet<String>,
    /// Changes the working directory to a unique one (`monkeypatch.chdir(tmp_path)`).
    pub chdir_unique: bool,
    /// Parameters (fixture values) the body mutates in place.
    pub mutated_params: BTreeSet<String>,
    /// Non-literal `request.getfixturevalue(...)` spans.
    pub dynamic_fixture_calls: Vec<Span>,
    /// In-process keys this body sets itself through a restoring API
    /// (`monkeypatch`, `mock.patch`): it does not depend on their prior value.
    pub overrides: BTreeSet<String>,
    /// Keys this body restores in teardown, `finally` or a finalizer.
    pub restores: BTreeSet<String>,
    /// Environment variables set to a value unique to the test or worker.
    pub unique_env: BTreeSet<String>,
    /// For method summaries: the body changes its receiver (`self.x = ...`,
    /// `self.items.append(...)`).
    pub mutates_self: bool,
    /// Attributes of the receiver changed in place (`self.rows.append(x)`):
    /// the objects a constructor stored there change with them.
    pub self_parts: BTreeSet<String>,
    /// For fixtures: the value is a path (or a name derived from one) that
    /// a broad-scoped fixture created once for all the tests of its scope:
    /// `fixturefile:ID`. Private to the worker, shared by those tests.
    pub scoped_value: Option<String>,
    /// State owned by test code that a test body touches (the object of a
    /// broad-scoped fixture it requests, `fixtureobj:ID`; a class of a test
    /// module, `attr:mod.Class`; an object a test module holds,
    /// `state:mod.NAME`), each with the attribute the first statement
    /// touching it assigns (`obj.attr = value`), or None when that first
    /// statement reads or uses it.
    pub touches: BTreeMap<String, Option<String>>,
}

pub struct Facts {
    pub fixtures: HashMap<FixtureRef, FnFacts>,
    /// Aligned with `suite.tests()`.
    pub tests: Vec<FnFacts>,
}

#[derive(Debug, Clone, Default)]
pub struct FactsOptions {
    /// Extra path prefixes known to be shared (`shared-paths`).
    pub shared_paths: Vec<String>,
    /// Module-level constants of the project's own (non-test) modules that
    /// test code imports, by module dotted name.
    pub app_constants: HashMap<String, HashMap<String, Expr>>,
}

/// Computes the facts of every fixture and test.
pub fn analyze(suite: &Suite, opts: &FactsOptions) -> Facts {
    let started = std::time::Instant::now();
    let mut an = Analyzer {
        suite,
        opts,
        memo: HashMap::new(),
        in_progress: HashSet::new(),
        module_by_dotted: dotted_index(suite),
        app_values: app_constant_values(&opts.app_constants),
        summaries: std::sync::Mutex::new(HashMap::new()),
        fixture_classes: HashMap::new(),
        cached_properties: std::sync::OnceLock::new(),
    };
    for (mi, m) in suite.modules.iter().enumerate() {
        for fi in 0..m.fixtures.len() {
            an.fixture_facts(FixtureRef {
                module: mi,
                index: fi,
            });
        }
    }
    if std::env::var_os("ISOAUDIT_TIMING").is_some() {
        eprintln!(
            "isoaudit timing: {} fixtures analysed in {:.3}s",
            an.memo.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let tests: Vec<(usize, &crate::pytest::Test)> = suite.tests().map(|t| (t.module, t)).collect();
    type Bound = (HashMap<String, Val>, HashMap<String, String>);
    let params: Vec<Bound> = tests
        .iter()
        .map(|(_, t)| {
            let mut scoped = HashMap::new();
            let params = t
                .requests
                .iter()
                .map(|n| {
                    let r = suite.resolve_for_test(t, n);
                    let v = an.resolved_value(&r);
                    if let Some(k) = an.resolved_scoped(&r) {
                        scoped.insert(n.clone(), k);
                    }
                    (n.clone(), v)
                })
                .collect();
            (params, scoped)
        })
        .collect();
    let an = &an;
    use rayon::prelude::*;
    let test_facts = tests
        .par_iter()
        .zip(params.into_par_iter())
        .map(|((mi, t), params)| {
            an.walk_function(*mi, &t.func, t.class.as_deref(), params, true, 0)
        })
        .collect();
    let mut facts = Facts {
        fixtures: an.memo.clone(),
        tests: test_facts,
    };
    drop_unwritten_reads(&mut facts);
    facts
}

/// Reads only matter when something writes the same key; dropping the rest
/// keeps large suites' memory down (most attribute reads are of functions).
fn drop_unwritten_reads(facts: &mut Facts) {
    let written: BTreeSet<String> = facts
        .fixtures
        .values()
        .chain(facts.tests.iter())
        .flat_map(|f| f.hazards.iter())
        .filter(|h| h.effect == Effect::Order)
        .filter_map(|h| h.key.clone())
        .collect();
    // Entries of a fixture's directory are matched to its writes later
    // (`fixture_files_related`): any write of that fixture keeps them.
    let written_files: HashSet<&str> = written
        .iter()
        .filter(|k| is_fixture_file(k))
        .map(|k| fixture_file_entry(k).0)
        .collect();
    let keep = |k: &String| {
        key_covered(k, &written)
            || is_fixture_file(k) && written_files.contains(fixture_file_entry(k).0)
    };
    for f in facts.fixtures.values_mut().chain(facts.tests.iter_mut()) {
        f.reads.retain(keep);
        f.latent_reads.retain(keep);
    }
}

/// Values of application constants (`lakehouse.config.WAREHOUSE_ROOT`),
/// evaluated from literals, joins and f-strings over the same module's
/// constants.
fn app_constant_values(modules: &HashMap<String, HashMap<String, Expr>>) -> HashMap<String, Val> {
    fn eval(e: &Expr, consts: &HashMap<String, Expr>, depth: u32) -> Val {
        if depth > 8 {
            return Val::Unknown;
        }
        let join = |vals: Vec<Val>| -> Val {
            let mut acc = String::new();
            for v in vals {
                match v {
                    Val::Str(s) => acc = join_path(&acc, &s),
                    Val::Unique => return Val::Unique,
                    _ => return Val::Unknown,
                }
            }
            Val::Str(acc)
        };
        match &e.kind {
            ExprKind::Str(s) => Val::Str(s.to_string()),
            ExprKind::Int(Some(n)) => Val::Int(*n),
            ExprKind::Name(n) => consts
                .get(n.as_str())
                .map(|c| eval(c, consts, depth + 1))
                .unwrap_or(Val::Unknown),
            ExprKind::FString(parts) => Val::concat(parts.iter().map(|p| match p {
                FPart::Lit(s) => Val::Str(s.to_string()),
                FPart::Expr(x) => eval(x, consts, depth + 1),
            })),
            ExprKind::BinOp {
                left,
                op: BinOp::Add,
                right,
            } => Val::concat([
                eval(left, consts, depth + 1),
                eval(right, consts, depth + 1),
            ]),
            ExprKind::BinOp {
                left,
                op: BinOp::Div,
                right,
            } => join(vec![
                eval(left, consts, depth + 1),
                eval(right, consts, depth + 1),
            ]),
            ExprKind::Call(c) => {
                let callee = c.func.dotted().map(|d| d.join(".")).unwrap_or_default();
                let last = callee.rsplit('.').next().unwrap_or("");
                match last {
                    "Path" | "PurePath" | "join" | "str" | "fspath" | "abspath"
                        if !c.args.is_empty() =>
                    {
                        join(c.args.iter().map(|a| eval(a, consts, depth + 1)).collect())
                    }
                    // `os.environ.get("X", default)` / `os.getenv("X", default)`.
                    "get" | "getenv" if c.args.len() == 2 => eval(&c.args[1], consts, depth + 1),
                    _ => Val::Unknown,
                }
            }
            _ => Val::Unknown,
        }
    }
    let mut out = HashMap::new();
    for (module, consts) in modules {
        for (name, expr) in consts {
            let v = eval(expr, consts, 0);
            if !matches!(v, Val::Unknown) {
                out.insert(format!("{module}.{name}"), v);
            }
        }
    }
    out
}

struct Analyzer<'a> {
    suite: &'a Suite,
    opts: &'a FactsOptions,
    memo: HashMap<FixtureRef, FnFacts>,
    in_progress: HashSet<FixtureRef>,
    module_by_dotted: HashMap<String, usize>,
    /// Values of imported application constants, by qualified name.
    app_values: HashMap<String, Val>,
    /// One summary per function or method, computed on first call.
    summaries: std::sync::Mutex<HashMap<objects::SummaryKey, std::sync::Arc<FnFacts>>>,
    /// Project class of the object a broad-scoped fixture hands out, by fixture id.
    fixture_classes: HashMap<String, value::ClassRef>,
    /// Names any class of the suite's modules defines as a cached
    /// property, computed on first use.
    cached_properties: std::sync::OnceLock<HashSet<String>>,
}

impl<'a> Analyzer<'a> {
    /// Does some class of the project define `name` as a cached property
    /// (`@functools.cached_property`, or a project's own `cached_property`)?
    fn is_cached_property(&self, name: &str) -> bool {
        self.cached_properties
            .get_or_init(|| {
                let mut out = HashSet::new();
                for m in &self.suite.modules {
                    for c in m.class_defs.values() {
                        for st in &c.body {
                            let StmtKind::FunctionDef(f) = &st.kind else {
                                continue;
                            };
                            let cached = f.decorators.iter().any(|d| {
                                d.expr
                                    .dotted()
                                    .and_then(|p| p.last().map(|l| l.to_string()))
                                    .is_some_and(|l| l == "cached_property")
                            });
                            if cached {
                                out.insert(f.name.to_string());
                            }
                        }
                    }
                }
                out
            })
            .contains(name)
    }

    fn resolved_value(&mut self, r: &Resolved) -> Val {
        match r {
            Resolved::Fixture(f) => {
                self.fixture_facts(*f);
                self.memo
                    .get(f)
                    .and_then(|x| x.value.clone())
                    .unwrap_or(Val::Unknown)
            }
            Resolved::Builtin(n) => builtin_value(n),
            Resolved::Unresolved(_) => Val::Unknown,
        }
    }

    /// The scope-wide file a requested fixture hands out, if it is one.
    fn resolved_scoped(&self, r: &Resolved) -> Option<String> {
        match r {
            Resolved::Fixture(f) => self.memo.get(f).and_then(|x| x.scoped_value.clone()),
            _ => None,
        }
    }

    fn fixture_facts(&mut self, r: FixtureRef) {
        if self.memo.contains_key(&r) || !self.in_progress.insert(r) {
            return;
        }
        let f = self.suite.fixture(r);
        let mut scoped = HashMap::new();
        let params: HashMap<String, Val> = f
            .requests
            .iter()
            .map(|n| {
                let res = self.suite.resolve_from_fixture(r, n);
                let v = self.resolved_value(&res);
                if let Some(k) = self.resolved_scoped(&res) {
                    scoped.insert(n.clone(), k);
                }
                (n.clone(), v)
            })
            .collect();
        let function_scoped = f.scope == Scope::Function;
        let mut facts = self.walk_function(
            r.module,
            &f.func,
            f.class.as_deref(),
            (params, scoped),
            function_scoped,
            0,
        );
        // A module/session fixture handing out a fresh container shares it
        // between the tests of its scope.
        // A broad-scoped fixture hands one object to every test of its scope:
        // mutating it in place leaks to the next test on the worker.
        if f.scope != Scope::Function {
            match &facts.value {
                Some(Val::Obj(Obj::Mutable)) => {
                    facts.value = Some(Val::Container(format!("fixture:{}", f.id)))
                }
                Some(Val::Obj(Obj::Instance(c, _))) => {
                    self.fixture_classes.insert(f.id.clone(), c.clone());
                    facts.value = Some(Val::Container(format!("fixtureobj:{}", f.id)))
                }
                // Any other object: its attributes are what tests share.
                Some(Val::Unknown) => {
                    facts.value = Some(Val::Container(format!("fixtureobj:{}", f.id)))
                }
                // A path made once for the scope (`tmp_path_factory.mktemp()`):
                // private to the worker, shared by the tests of the scope.
                Some(Val::Unique) if facts.scoped_value.is_none() => {
                    facts.scoped_value = Some(format!("fixturefile:{}", f.id))
                }
                _ => {}
            }
        }
        self.in_progress.remove(&r);
        self.memo.insert(r, facts);
    }

    /// `params`: values of the parameters, and which of them hold a file a
    /// broad-scoped fixture made for its whole scope.
    fn walk_function(
        &self,
        mi: usize,
        func: &Function,
        class: Option<&str>,
        params: (HashMap<String, Val>, HashMap<String, String>),
        function_scoped: bool,
        depth: u32,
    ) -> FnFacts {
        self.walk_function_in(mi, func, class, params, function_scoped, depth, None)
    }

    /// `walk_function` for a function nested in another, which sees the
    /// enclosing function's imports.
    #[allow(clippy::too_many_arguments)]
    fn walk_function_in(
        &self,
        mi: usize,
        func: &Function,
        class: Option<&str>,
        (params, scoped): (HashMap<String, Val>, HashMap<String, String>),
        function_scoped: bool,
        depth: u32,
        outer: Option<&Imports>,
    ) -> FnFacts {
        let module = &self.suite.modules[mi];
        let mut local = outer.cloned().unwrap_or_default();
        local.add_body(&func.body);
        let imports = Names {
            module: &module.imports,
            local,
        };
        let mut w = Walker {
            an: self,
            module,
            mi,
            imports,
            locals: params.clone(),
            params: params.keys().cloned().collect(),
            globals: HashSet::new(),
            mitigating: Vec::new(),
            out: FnFacts::default(),
            function_scoped,
            depth,
            class: class.map(|c| c.rsplit("::").next().unwrap_or(c).to_string()),
            env_values: HashMap::new(),
            used_services: HashSet::new(),
            guards: Vec::new(),
            local_funcs: HashMap::new(),
            api: None,
            restoring: false,
            scoped,
            scoped_changes: Vec::new(),
            class_setup: class.is_some() && catalog::is_class_setup_hook(&func.name),
            rebound_streams: HashSet::new(),
        };
        for (name, v) in &params {
            match v {
                Val::Unique => {
                    w.out.mitigations.insert(name.clone());
                }
                Val::Obj(Obj::Monkeypatch) => {
                    w.out.mitigations.insert("monkeypatch".into());
                }
                _ => {}
            }
        }
        // A method's receiver: writes through it change the instance (or,
        // for class-level attributes, the class every instance shares).
        if class.is_some() {
            let is_static = func
                .decorators
                .iter()
                .any(|d| matches!(d.expr.dotted().as_deref(), Some(["staticmethod"])));
            if let Some(first) = func.params.first() {
                if !is_static
                    && first.kind == ParamKind::Positional
                    && !w.locals.contains_key(first.name.as_str())
                {
                    w.locals
                        .insert(first.name.to_string(), Val::Obj(Obj::SelfRef));
                    w.params.insert(first.name.to_string());
                }
            }
        }
        // Parameters with defaults that nothing supplied (pytest never does).
        for p in &func.params {
            if let Some(default) = &p.default {
                if !w.locals.contains_key(p.name.as_str()) {
                    let v = w.eval(default);
                    w.locals.insert(p.name.to_string(), v);
                }
            }
        }
        w.decorator_mitigations(&func.decorators);
        w.block(&func.body);
        w.drop_undone_scoped_writes();
        if depth == 0 {
            w.out.touches = w.first_touches(&func.body);
        }
        // After the walk, so teardown code sees the locals setup bound.
        let mut restored = w.restored_keys(&func.body);
        restored.extend(w.reset_by_the_end(&func.body));
        // In-process changes undone in teardown, `finally` or a finalizer do not leak.
        let out = &mut w.out;
        out.hazards.retain(|h| {
            h.effect != Effect::Order
                || !h
                    .key
                    .as_deref()
                    .is_some_and(|k| key_matches_any(k, restored.iter().map(String::as_str)))
        });
        // Reading what the body itself restores is saving it for the
        // restore (`saved = X.y; X.y = v; ...; finally: X.y = saved`), not
        // depending on what earlier tests left there.
        // Reading `X.a` on the way to a restored `X.a.b` is part of the save.
        let saved = |k: &String| {
            let body = state_body(k);
            !key_matches_any(k, restored.iter().map(String::as_str))
                && !restored.iter().any(|r| {
                    let r = state_body(r);
                    r == body || r.starts_with(body) && r[body.len()..].starts_with('.')
                })
        };
        out.reads.retain(saved);
        out.latent_reads.retain(saved);
        if !restored.is_empty() {
            out.mitigations.insert("restored in teardown".into());
        }
        out.restores = restored;
        w.out
    }
}

/// A connection to a server's administrative database (used to create
/// per-worker databases), not to the data tests share.
fn is_admin_key(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(catalog::is_admin_database)
}

fn m_is_dotted(s: &str) -> bool {
    s.contains('.') && !s.contains(' ') && !s.contains('/')
}

/// Suite modules by dotted name and by every dotted suffix of it
/// (`tests.helpers.io`, `helpers.io`, `io`), since test code imports them
/// relative to whatever directory is on `sys.path`. Full names win; among
/// suffixes the first module in path order does.
fn dotted_index(suite: &Suite) -> HashMap<String, usize> {
    let mut index: HashMap<String, usize> = suite
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.dotted.clone(), i))
        .collect();
    for (i, m) in suite.modules.iter().enumerate() {
        let mut rest = m.dotted.as_str();
        while let Some((_, tail)) = rest.split_once('.') {
            index.entry(tail.to_string()).or_insert(i);
            rest = tail;
        }
    }
    index
}

fn builtin_value(name: &str) -> Val {
    match name {
        "monkeypatch" => Val::Obj(Obj::Monkeypatch),
        "request" => Val::Obj(Obj::Request),
        n if builtins::gives_unique_value(n) => Val::Unique,
        _ => Val::Unknown,
    }
}

/// The dotted name an in-process key is about, whichever way it was
/// reached (`attr:m.X.a` and `state:m.X.a` name the same thing).
fn state_body(key: &str) -> &str {
    key.strip_prefix("attr:")
        .or_else(|| key.strip_prefix("state:"))
        .unwrap_or(key)
}

/// Is `key` covered by any of `patterns` (see `key_matches_any`)?
pub fn key_covered(key: &str, patterns: &BTreeSet<String>) -> bool {
    key_matches_any(key, patterns.iter().map(String::as_str))
}

/// `key` is covered by a pattern (`env:*` covers `env:X`; `attr:a.b` covers `attr:a.b.c`).
fn key_matches_any<'k>(key: &str, patterns: impl Iterator<Item = &'k str>) -> bool {
    for p in patterns {
        if p == key {
            return true;
        }
        if let Some(prefix) = p.strip_suffix('*') {
            if key.starts_with(prefix) {
                return true;
            }
        }
        if key.starts_with(p) && key[p.len()..].starts_with('.') {
            return true;
        }
    }
    false
}

/// Import names seen from a function body: its own imports over its module's.
#[derive(Clone)]
struct Names<'a> {
    module: &'a Imports,
    local: Imports,
}

impl Names<'_> {
    fn pick(&self, head: &str) -> &Imports {
        if self.local.is_imported(head) {
            &self.local
        } else {
            self.module
        }
    }

    fn qualify(&self, e: &Expr) -> Option<String> {
        let head = e.dotted()?[0];
        self.pick(head).qualify(e)
    }

    fn is_imported(&self, name: &str) -> bool {
        self.local.is_imported(name) || self.module.is_imported(name)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.local.get(name).or_else(|| self.module.get(name))
    }
}

struct Walker<'w, 'a> {
    an: &'w Analyzer<'a>,
    module: &'a ModuleModel,
    mi: usize,
    imports: Names<'a>,
    locals: HashMap<String, Val>,
    params: HashSet<String>,
    globals: HashSet<String>,
    /// Key patterns restored by an enclosing context manager or decorator.
    mitigating: Vec<String>,
    out: FnFacts,
    function_scoped: bool,
    depth: u32,
    /// The class a method belongs to, for `self.X`/`cls.X` class attributes.
    class: Option<String>,
    /// Environment values set earlier in this body.
    env_values: HashMap<String, Val>,
    /// Service keys already reported as used in this body.
    used_services: HashSet<String>,
    /// Names the enclosing `if`s test for "not set yet" (`if X is None:`,
    /// `if key not in CACHE:`): writes to them there are one-time lazy
    /// initialisation, the same value for every test.
    guards: Vec<String>,
    /// Functions defined inside this body (teardown helpers, factories).
    local_funcs: HashMap<String, std::sync::Arc<Function>>,
    /// The qualified callee of the call being dispatched to the sinks.
    api: Option<String>,
    /// Walking teardown code for what it restores: undo calls count.
    restoring: bool,
    /// Locals holding a path a broad-scoped fixture created once for its
    /// whole scope, by the `fixturefile:` key of that file.
    scoped: HashMap<String, String>,
    /// Writes (false) and removals (true) of those files, in statement
    /// order: an entry the body makes and removes again does not last.
    scoped_changes: Vec<(String, Span, bool)>,
    /// Walking a class-level setup or teardown hook (`setUpClass`,
    /// `setup_class`): `cls` is the class being set up, whose own tests
    /// run after it.
    class_setup: bool,
    /// Process streams (`stdout`, `stderr`, `stdin` of `sys`) this body
    /// bound to an object of its own: closing them later closes that object.
    rebound_streams: HashSet<String>,
}

const HELP_TMP: &str = "build the path from `tmp_path` (or `tmp_path_factory.mktemp()` in session fixtures) so every test gets its own directory";
const HELP_ENV: &str = "use `monkeypatch.setenv`/`monkeypatch.delenv`, or restore the variable in a yield fixture's teardown";
const HELP_ATTR: &str =
    "use `monkeypatch.setattr` or `mock.patch.object`, which restore the attribute after the test";

impl<'w, 'a> Walker<'w, 'a> {
    fn q(&self, e: &Expr) -> Option<String> {
        let q = self.imports.qualify(e)?;
        // `Path` imported from pathlib keeps its module in front already.
        Some(q)
    }

    fn is_local(&self, name: &str) -> bool {
        self.locals.contains_key(name) && !self.globals.contains(name)
    }

    fn hazard(
        &mut self,
        code: &'static str,
        key: Option<String>,
        effect: Effect,
        span: Span,
        message: String,
        help: &str,
    ) {
        if effect == Effect::Order {
            if let Some(k) = &key {
                if key_matches_any(k, self.mitigating.iter().map(String::as_str)) {
                    self.out
                        .mitigations
                        .insert(format!("restored context for {k}"));
                    return;
                }
            }
        }
        self.out.hazards.push(Hazard {
            code,
            key,
            effect,
            module: self.mi,
            span,
            message,
            help: help.to_string(),
            latent: false,
            api: self.api.clone(),
        });
    }
}

fn written_path_like(p: &str) -> bool {
    match classify_path(p) {
        PathClass::Temp(_) | PathClass::Home(_) => true,
        PathClass::Relative(r) => {
            let name = r.rsplit('/').next().unwrap_or("");
            !p.contains(' ')
                && !p.contains('{')
                && name
                    .rsplit_once('.')
                    .is_some_and(|(stem, ext)| !stem.is_empty() && catalog::is_file_extension(ext))
        }
        _ => false,
    }
}

pub fn path_key(pc: &PathClass) -> String {
    match pc {
        PathClass::Temp(p)
        | PathClass::Home(p)
        | PathClass::Relative(p)
        | PathClass::Absolute(p) => {
            format!("path:{p}")
        }
        PathClass::NotShared => "path:".to_string(),
    }
}

/// `stream:sys.stdout`: a process stream closed under every test that runs
/// after it on the worker (pytest's capture writes each test's output
/// there), so every later test depends on it, whatever it reads.
pub fn is_broken_for_all(key: &str) -> bool {
    key.starts_with("stream:")
}

/// `fixturefile:ID`: a file or directory a broad-scoped fixture made once
/// for every test of its scope.
pub(crate) fn is_fixture_file(key: &str) -> bool {
    key.starts_with("fixturefile:")
}

/// A `fixturefile:` key split into the fixture's own key and the entry
/// inside it that a literal path names (`fixturefile:t.py::data/sub/a.json`
/// -> (`fixturefile:t.py::data`, `sub/a.json`)). Fixture ids name no `/`
/// after their `::`.
pub(crate) fn fixture_file_entry(key: &str) -> (&str, Option<&str>) {
    let Some(after) = key.find("::").map(|p| p + 2) else {
        return (key, None);
    };
    match key[after..].find('/') {
        Some(i) => (&key[..after + i], Some(&key[after + i + 1..])),
        None => (key, None),
    }
}

/// The key of `entry` (literal path segments) inside the fixture file or
/// directory `key`. A `..` segment leaves the entry unknown: the whole key.
pub(crate) fn fixture_file_child<'s>(
    key: &str,
    parts: impl IntoIterator<Item = &'s str>,
) -> String {
    let mut segs: Vec<&str> = Vec::new();
    for p in parts {
        for seg in p.split(['/', '\\']) {
            match seg {
                "" | "." => {}
                ".." => return key.to_string(),
                s => segs.push(s),
            }
        }
    }
    if segs.is_empty() {
        key.to_string()
    } else {
        format!("{key}/{}", segs.join("/"))
    }
}

/// Whether a test reading `read` can see what another wrote at `write`,
/// both in the same broad-scoped fixture's file or directory. A write of
/// the whole fixture (or an entry not named literally) reaches every
/// reader; a write of a named entry reaches readers of that entry or of
/// what lies under it, and readers that enumerate a directory holding it
/// (a `*` entry: `listdir`, `glob`). Using the fixture's directory itself
/// (`str(data_dir)`, `data_dir.chdir()`) does not see a new entry in it.
pub(crate) fn fixture_files_related(read: &str, write: &str) -> bool {
    let (rb, rs) = fixture_file_entry(read);
    let (wb, ws) = fixture_file_entry(write);
    if rb != wb {
        return false;
    }
    let under = |a: &str, b: &str| a == b || a.starts_with(b) && a[b.len()..].starts_with('/');
    match (rs, ws) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(r), Some(w)) => match r.find('*') {
            Some(star) => {
                let dir = r[..star].rsplit_once('/').map_or("", |(d, _)| d);
                dir.is_empty() || under(w, dir) || under(dir, w)
            }
            None => under(r, w),
        },
    }
}

#[cfg(test)]
mod fixture_entry_tests {
    use super::*;

    const DIR: &str = "fixturefile:tests/t.py::spool";

    #[test]
    fn entries_split_after_the_fixture_id() {
        assert_eq!(fixture_file_entry(DIR), (DIR, None));
        let k = fixture_file_child(DIR, ["a/b", "c.txt"]);
        assert_eq!(k, "fixturefile:tests/t.py::spool/a/b/c.txt");
        assert_eq!(fixture_file_entry(&k), (DIR, Some("a/b/c.txt")));
        // `..` leaves the entry unknown: the whole directory.
        assert_eq!(fixture_file_child(DIR, ["../x"]), DIR);
        assert_eq!(fixture_file_child(DIR, ["./"]), DIR);
    }

    #[test]
    fn a_named_entry_reaches_its_readers_and_listings_only() {
        let entry = format!("{DIR}/a/x.txt");
        // The whole directory written reaches every reader.
        assert!(fixture_files_related(&entry, DIR));
        assert!(fixture_files_related(DIR, DIR));
        // The same entry, a parent rewritten, a listing of a holding dir.
        assert!(fixture_files_related(&entry, &entry));
        assert!(fixture_files_related(&entry, &format!("{DIR}/a")));
        assert!(fixture_files_related(&format!("{DIR}/*"), &entry));
        assert!(fixture_files_related(&format!("{DIR}/a/*.txt"), &entry));
        // Using the directory, another entry, a listing elsewhere, another fixture.
        assert!(!fixture_files_related(DIR, &entry));
        assert!(!fixture_files_related(&format!("{DIR}/a/y.txt"), &entry));
        assert!(!fixture_files_related(
            &format!("{DIR}/ab"),
            &format!("{DIR}/a")
        ));
        assert!(!fixture_files_related(&format!("{DIR}/b/*"), &entry));
        assert!(!fixture_files_related(
            "fixturefile:tests/t.py::other/*",
            &entry
        ));
    }
}
