//! Hazard extraction: walks the bodies of tests and fixtures with a small
//! abstract interpreter (`value.rs`) guided by the API catalog
//! (`catalog.rs`), and records what each function writes, binds, connects to,
//! destroys, mutates in-process or loads. Knows pytest only through the suite
//! model and the graph; classifies nothing.

pub mod catalog;
pub mod value;

use std::collections::{BTreeSet, HashMap, HashSet};

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
}

/// Facts of one test or fixture body.
#[derive(Debug, Clone, Default)]
pub struct FnFacts {
    pub hazards: Vec<Hazard>,
    /// Process-wide keys read (env vars, module attributes, globals...).
    pub reads: BTreeSet<String>,
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
    let params: Vec<HashMap<String, Val>> = tests
        .iter()
        .map(|(mi, t)| {
            t.requests
                .iter()
                .map(|n| {
                    let r = suite.resolve(*mi, t.class.as_deref(), n);
                    (n.clone(), an.resolved_value(&r))
                })
                .collect()
        })
        .collect();
    let an = &an;
    use rayon::prelude::*;
    let test_facts = tests
        .par_iter()
        .zip(params.into_par_iter())
        .map(|((mi, t), params)| an.walk_function(*mi, &t.func, params, true, 0))
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
    let keep = |k: &String| key_covered(k, &written);
    for f in facts.fixtures.values_mut().chain(facts.tests.iter_mut()) {
        f.reads.retain(keep);
    }
}

struct Analyzer<'a> {
    suite: &'a Suite,
    opts: &'a FactsOptions,
    memo: HashMap<FixtureRef, FnFacts>,
    in_progress: HashSet<FixtureRef>,
    module_by_dotted: HashMap<String, usize>,
}

impl<'a> Analyzer<'a> {
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

    fn fixture_facts(&mut self, r: FixtureRef) {
        if self.memo.contains_key(&r) || !self.in_progress.insert(r) {
            return;
        }
        let f = self.suite.fixture(r);
        let params: HashMap<String, Val> = f
            .requests
            .iter()
            .map(|n| {
                let res = self.suite.resolve_from_fixture(r, n);
                (n.clone(), self.resolved_value(&res))
            })
            .collect();
        let function_scoped = f.scope == Scope::Function;
        let mut facts = self.walk_function(r.module, &f.func, params, function_scoped, 0);
        // A module/session fixture handing out a fresh container shares it
        // between the tests of its scope.
        if f.scope != Scope::Function {
            if let Some(Val::Obj(Obj::Mutable)) = facts.value {
                facts.value = Some(Val::Container(format!("fixture:{}", f.id)));
            }
        }
        self.in_progress.remove(&r);
        self.memo.insert(r, facts);
    }

    fn walk_function(
        &self,
        mi: usize,
        func: &Function,
        params: HashMap<String, Val>,
        function_scoped: bool,
        depth: u32,
    ) -> FnFacts {
        let module = &self.suite.modules[mi];
        let mut local = Imports::default();
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
            env_values: HashMap::new(),
            used_services: HashSet::new(),
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
        w.decorator_mitigations(&func.decorators);
        w.block(&func.body);
        // After the walk, so teardown code sees the locals setup bound.
        let restored = w.restored_keys(&func.body);
        // In-process changes undone in teardown, `finally` or a finalizer do not leak.
        let out = &mut w.out;
        out.hazards.retain(|h| {
            h.effect != Effect::Order
                || !h
                    .key
                    .as_deref()
                    .is_some_and(|k| key_matches_any(k, restored.iter().map(String::as_str)))
        });
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
    /// Environment values set earlier in this body.
    env_values: HashMap<String, Val>,
    /// Service keys already reported as used in this body.
    used_services: HashSet<String>,
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
        });
    }

    // ---- evaluation -------------------------------------------------------

    fn eval(&mut self, e: &Expr) -> Val {
        self.eval_depth(e, 0)
    }

    fn eval_depth(&mut self, e: &Expr, d: u32) -> Val {
        if d > 24 {
            return Val::Unknown;
        }
        let v = self.eval_kind(e, d);
        if v == Val::Unknown && self.derives_from_unique(e, d) {
            // A name built from `worker_id`, `tmp_path`, a uuid... is unique too.
            return Val::Unique;
        }
        v
    }

    fn derives_from_unique(&mut self, e: &Expr, d: u32) -> bool {
        if d > 8 || matches!(e.kind, ExprKind::Lambda(_) | ExprKind::Comprehension(_)) {
            return false;
        }
        // `eval_depth` of a child already folds in the child's own taint.
        e.children()
            .into_iter()
            .any(|c| self.eval_depth(c, d + 1).is_unique())
    }

    fn eval_kind(&mut self, e: &Expr, d: u32) -> Val {
        match &e.kind {
            ExprKind::Str(s) => Val::Str(s.clone()),
            ExprKind::Int(Some(n)) => Val::Int(*n),
            ExprKind::Name(n) => self.name_value(n, d),
            ExprKind::FString(parts) => {
                let vals: Vec<Val> = parts
                    .iter()
                    .map(|p| match p {
                        FPart::Lit(s) => Val::Str(s.clone()),
                        FPart::Expr(x) => self.eval_depth(x, d + 1),
                    })
                    .collect();
                Val::concat(vals)
            }
            ExprKind::BinOp { left, op, right } => {
                let l = self.eval_depth(left, d + 1);
                let r = self.eval_depth(right, d + 1);
                match op {
                    BinOp::Div => match (&l, &r) {
                        (Val::Unique, _) | (_, Val::Unique) => Val::Unique,
                        (Val::Str(a), Val::Str(b)) => Val::Str(join_path(a, b)),
                        _ => Val::Unknown,
                    },
                    BinOp::Add => Val::concat([l, r]),
                    BinOp::Mod => match (&l, &r) {
                        (_, Val::Unique) => Val::Unique,
                        (Val::Str(fmt), Val::Str(_) | Val::Int(_)) => {
                            let arg = match &r {
                                Val::Str(s) => s.clone(),
                                Val::Int(n) => n.to_string(),
                                _ => String::new(),
                            };
                            Val::Str(percent_format(fmt, &[arg]))
                        }
                        (Val::Str(fmt), Val::Tuple(items)) => {
                            if items.iter().any(|i| matches!(i, Val::Unique)) {
                                return Val::Unique;
                            }
                            let args: Option<Vec<String>> = items
                                .iter()
                                .map(|i| match i {
                                    Val::Str(s) => Some(s.clone()),
                                    Val::Int(n) => Some(n.to_string()),
                                    _ => None,
                                })
                                .collect();
                            match args {
                                Some(a) => Val::Str(percent_format(fmt, &a)),
                                None => Val::Unknown,
                            }
                        }
                        _ => Val::Unknown,
                    },
                    _ => Val::Unknown,
                }
            }
            ExprKind::Tuple(items) | ExprKind::List(items) if d < 4 && items.len() <= 8 => {
                let vals = items.iter().map(|i| self.eval_depth(i, d + 1)).collect();
                if matches!(e.kind, ExprKind::List(_)) {
                    Val::Obj(Obj::Mutable)
                } else {
                    Val::Tuple(vals)
                }
            }
            ExprKind::List(_) | ExprKind::Dict(_) | ExprKind::Set(_) => Val::Obj(Obj::Mutable),
            ExprKind::Attribute { value, attr } => self.attr_value(e, value, attr, d),
            ExprKind::Subscript { value, index } => {
                if self.is_os_environ(value) {
                    if let Some(Val::Str(k)) = Some(self.eval_depth(index, d + 1)) {
                        if catalog::is_worker_env(&k) {
                            return Val::Unique;
                        }
                    }
                }
                Val::Unknown
            }
            ExprKind::Call(c) => self.call_value(c, d),
            ExprKind::Await(x) => self.eval_depth(x, d + 1),
            _ => Val::Unknown,
        }
    }

    fn name_value(&mut self, n: &str, d: u32) -> Val {
        if n == "__file__" && !self.locals.contains_key(n) {
            // Relative to the rootdir: files next to the tests are shared too.
            return Val::Str(self.module.rel.clone());
        }
        if let Some(v) = self.locals.get(n) {
            if !self.globals.contains(n) {
                return v.clone();
            }
        }
        if self.imports.is_imported(n) {
            return Val::Unknown;
        }
        if let Some(c) = self.module.constants.get(n) {
            let c = c.clone();
            let v = self.eval_depth(&c, d + 1);
            return match v {
                Val::Obj(Obj::Mutable) => {
                    Val::Container(format!("state:{}.{}", self.module.dotted, n))
                }
                other => other,
            };
        }
        Val::Unknown
    }

    fn attr_value(&mut self, whole: &Expr, value: &Expr, attr: &str, d: u32) -> Val {
        let base = self.eval_depth(value, d + 1);
        match (&base, attr) {
            (Val::Unique, _) => Val::Unique,
            (Val::Str(p), "parent") => Val::Str(dirname(p)),
            (Val::Str(_), "name" | "stem" | "suffix") => Val::Unknown,
            (Val::Obj(Obj::Service(k)), _) => Val::Obj(Obj::Service(k.clone())),
            (Val::Obj(Obj::PrivateService), _) => Val::Obj(Obj::PrivateService),
            (Val::Obj(Obj::Singleton(q)), _) => {
                self.out.reads.insert(format!("attr:{q}.{attr}"));
                Val::Unknown
            }
            _ => {
                // `tempfile.tempdir`, `settings.CACHE` (a module attribute).
                let _ = whole;
                Val::Unknown
            }
        }
    }

    /// `~`, unless this body pointed HOME somewhere unique.
    fn home_dir(&self) -> Val {
        match self.env_values.get("HOME") {
            Some(v) if v.is_unique() => Val::Unique,
            _ => Val::Str("~".into()),
        }
    }

    fn is_os_environ(&self, e: &Expr) -> bool {
        self.q(e).as_deref() == Some("os.environ")
    }

    fn call_value(&mut self, c: &Call, d: u32) -> Val {
        let q = self.q(&c.func).unwrap_or_default();
        let method = match &c.func.kind {
            ExprKind::Attribute { attr, .. } => Some(attr.as_str()),
            _ => None,
        };
        if catalog::is_unique_source(&q) {
            return Val::Unique;
        }
        if catalog::is_fake_service(&q) {
            return Val::Obj(Obj::PrivateService);
        }
        match q.as_str() {
            "tempfile.gettempdir" | "tempfile.gettempdirb" => return Val::Str("/tmp".into()),
            "pathlib.Path.home" | "os.path.expanduser" if c.args.is_empty() => {
                return self.home_dir();
            }
            "pathlib.Path" | "pathlib.PurePath" | "pathlib.PosixPath" | "os.path.join"
            | "os.path.abspath" | "os.path.realpath" | "os.path.normpath" | "os.fspath"
            | "os.path.expanduser" | "str" | "py.path.local" | "posixpath.join" => {
                if c.args.is_empty() {
                    return if q == "pathlib.Path" {
                        Val::Str(".".into())
                    } else {
                        Val::Unknown
                    };
                }
                let mut acc = Val::Str(String::new());
                for a in &c.args {
                    let v = self.eval_depth(a, d + 1);
                    acc = match (acc, v) {
                        (Val::Unique, _) | (_, Val::Unique) => Val::Unique,
                        (Val::Str(x), Val::Str(y)) => Val::Str(join_path(&x, &y)),
                        _ => Val::Unknown,
                    };
                }
                return acc;
            }
            "os.path.dirname" => {
                return match c.args.first().map(|a| self.eval_depth(a, d + 1)) {
                    Some(Val::Str(p)) => Val::Str(dirname(&p)),
                    Some(Val::Unique) => Val::Unique,
                    _ => Val::Unknown,
                }
            }
            "os.environ.get" | "os.getenv" => {
                let key = c.args.first().map(|a| self.eval_depth(a, d + 1));
                if let Some(Val::Str(k)) = &key {
                    if catalog::is_worker_env(k) {
                        return Val::Unique;
                    }
                }
                // The default is what a CI run uses unless it sets the variable.
                return c
                    .args
                    .get(1)
                    .or_else(|| c.keyword("default"))
                    .map(|a| self.eval_depth(a, d + 1))
                    .unwrap_or(Val::Unknown);
            }
            "socket.socket" => return Val::Obj(Obj::Socket),
            "logging.getLogger" => return Val::Obj(Obj::Logger),
            "sqlite3.connect" => {
                return match c.arg(0, "database").map(|a| self.eval_depth(a, d + 1)) {
                    Some(Val::Str(p))
                        if p == ":memory:"
                            || p.is_empty()
                            || p.contains("mode=memory")
                            || p.contains(":memory:")
                            || p.contains("mode=ro") =>
                    {
                        Val::Obj(Obj::PrivateService)
                    }
                    Some(Val::Str(p)) if p.starts_with("file:") => {
                        let path = p
                            .trim_start_matches("file:")
                            .split('?')
                            .next()
                            .unwrap_or("");
                        match classify_path(path) {
                            PathClass::NotShared => Val::Obj(Obj::PrivateService),
                            pc => Val::Obj(Obj::Service(path_key(&pc))),
                        }
                    }
                    Some(Val::Str(p)) => match classify_path(&p) {
                        PathClass::NotShared => Val::Obj(Obj::PrivateService),
                        pc => Val::Obj(Obj::Service(path_key(&pc))),
                    },
                    Some(Val::Unique) => Val::Obj(Obj::PrivateService),
                    _ => Val::Unknown,
                }
            }
            "dagster.DagsterInstance.get" => {
                return match self.env_values.get("DAGSTER_HOME") {
                    Some(v) if v.is_unique() => Val::Obj(Obj::PrivateService),
                    Some(Val::Str(p)) => match classify_path(p) {
                        PathClass::NotShared => Val::Obj(Obj::PrivateService),
                        pc => Val::Obj(Obj::Service(path_key(&pc))),
                    },
                    _ => Val::Obj(Obj::Service("dagster:$DAGSTER_HOME".into())),
                };
            }
            _ => {}
        }
        if catalog::is_container_constructor(&q) {
            return Val::Obj(Obj::Mutable);
        }
        if let Some((scheme, _)) = catalog::service_constructor(&q) {
            return self.service_value(c, scheme, d);
        }
        if let (Some(m), ExprKind::Attribute { value, .. }) = (method, &c.func.kind) {
            let recv = self.eval_depth(value, d + 1);
            if catalog::is_unique_method(m) && !matches!(recv, Val::Str(_)) {
                return Val::Unique;
            }
            if catalog::is_singleton_accessor(m) {
                if let Some(q) = self.q(value) {
                    if q.rsplit('.')
                        .next()
                        .is_some_and(|l| l.chars().next().is_some_and(char::is_uppercase))
                    {
                        return Val::Obj(Obj::Singleton(q));
                    }
                }
            }
            match (&recv, m) {
                (Val::Unique, _) => return Val::Unique,
                (Val::Obj(Obj::Service(_)), "session" | "connect" | "cursor")
                    if ["database", "db", "dbname"].iter().any(|k| {
                        c.keyword(k)
                            .is_some_and(|v| self.eval_depth(v, d + 1).is_unique())
                    }) =>
                {
                    return Val::Obj(Obj::PrivateService)
                }
                (Val::Obj(Obj::Service(k)), _) => return Val::Obj(Obj::Service(k.clone())),
                (Val::Obj(Obj::PrivateService), _) => return Val::Obj(Obj::PrivateService),
                (Val::Str(p), "joinpath") => {
                    let mut acc = Val::Str(p.clone());
                    for a in &c.args {
                        acc = match (acc, self.eval_depth(a, d + 1)) {
                            (Val::Unique, _) | (_, Val::Unique) => Val::Unique,
                            (Val::Str(x), Val::Str(y)) => Val::Str(join_path(&x, &y)),
                            _ => Val::Unknown,
                        };
                    }
                    return acc;
                }
                (Val::Str(p), "resolve" | "absolute" | "expanduser" | "strip" | "lower") => {
                    return Val::Str(p.clone())
                }
                (Val::Str(p), "with_suffix" | "with_name") => {
                    return match c.args.first().map(|a| self.eval_depth(a, d + 1)) {
                        Some(Val::Str(s)) if m == "with_suffix" => {
                            let stem = p.rsplit_once('.').map(|(a, _)| a).unwrap_or(p);
                            Val::Str(format!("{stem}{s}"))
                        }
                        Some(Val::Str(s)) => Val::Str(join_path(&dirname(p), &s)),
                        Some(Val::Unique) => Val::Unique,
                        _ => Val::Unknown,
                    }
                }
                (Val::Str(fmt), "format") => {
                    let mut args = Vec::new();
                    for a in c.args.iter().chain(c.keywords.iter().map(|k| &k.value)) {
                        args.push(self.eval_depth(a, d + 1));
                    }
                    if args.iter().any(|a| matches!(a, Val::Unique)) {
                        return Val::Unique;
                    }
                    if args.iter().all(|a| matches!(a, Val::Str(_) | Val::Int(_))) {
                        return Val::Str(brace_format(fmt, c, &args));
                    }
                    return Val::Unknown;
                }
                _ => {}
            }
        }
        Val::Unknown
    }

    /// The shared service a client constructor points at, or a private one.
    fn service_value(&mut self, c: &Call, scheme: &str, d: u32) -> Val {
        let target = c
            .args
            .first()
            .or_else(|| {
                [
                    "url",
                    "uri",
                    "dsn",
                    "host",
                    "hosts",
                    "conninfo",
                    "database_url",
                    "endpoint_url",
                ]
                .iter()
                .find_map(|k| c.keyword(k))
            })
            .map(|a| self.eval_depth(a, d + 1));
        // A per-worker database name or index anywhere in the call.
        for k in ["dbname", "database", "db", "name"] {
            if let Some(v) = c.keyword(k) {
                if self.eval_depth(v, d + 1).is_unique() {
                    return Val::Obj(Obj::PrivateService);
                }
            }
        }
        match target {
            Some(Val::Unique) => Val::Obj(Obj::PrivateService),
            Some(Val::Str(s)) => {
                let lower = s.to_ascii_lowercase();
                if lower.starts_with("sqlite") {
                    let path = s.split_once(":///").map(|(_, p)| p).unwrap_or("");
                    if path.is_empty() || path.starts_with(":memory:") || lower == "sqlite://" {
                        return Val::Obj(Obj::PrivateService);
                    }
                    let p = if let Some(abs) = path.strip_prefix('/') {
                        format!("/{abs}")
                    } else {
                        path.to_string()
                    };
                    return match classify_path(&p) {
                        PathClass::NotShared => Val::Obj(Obj::PrivateService),
                        pc => Val::Obj(Obj::Service(path_key(&pc))),
                    };
                }
                if let Some(k) = service_key(&s) {
                    return Val::Obj(Obj::Service(format!("service:{k}")));
                }
                if scheme == "postgresql" && s.contains('=') {
                    // libpq key=value DSN.
                    let get = |name: &str| {
                        s.split_whitespace()
                            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                            .map(str::to_string)
                    };
                    let host = get("host").unwrap_or_else(|| "localhost".into());
                    let db = get("dbname").unwrap_or_default();
                    return Val::Obj(Obj::Service(format!("service:postgresql://{host}/{db}")));
                }
                // A bare host name.
                let port = c
                    .keyword("port")
                    .map(|p| self.eval_depth(p, d + 1))
                    .and_then(|p| p.as_port());
                let db = self.database_keyword(c, d);
                Val::Obj(Obj::Service(service_key_of(scheme, &s, port, db)))
            }
            None if !c.keywords.is_empty() || c.args.is_empty() => {
                // Keyword-only clients default to localhost.
                let port = c
                    .keyword("port")
                    .map(|p| self.eval_depth(p, d + 1))
                    .and_then(|p| p.as_port());
                let db = self.database_keyword(c, d);
                if matches!(db, Some(Val::Unknown)) {
                    return Val::Unknown;
                }
                Val::Obj(Obj::Service(service_key_of(scheme, "localhost", port, db)))
            }
            _ => Val::Unknown,
        }
    }

    /// The value of a client's `dbname=`/`database=`/`db=` keyword.
    fn database_keyword(&mut self, c: &Call, d: u32) -> Option<Val> {
        ["dbname", "database", "db"]
            .iter()
            .find_map(|k| c.keyword(k))
            .map(|v| self.eval_depth(v, d + 1))
    }

    // ---- statements -------------------------------------------------------

    fn block(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Assign { targets, value } => {
                self.scan(value);
                let v = self.eval(value);
                for t in targets {
                    self.environ_assignment(t, value, &v, s.span);
                }
                for t in targets {
                    self.assign(t, v.clone(), s.span);
                }
            }
            StmtKind::AnnAssign { target, value } => {
                if let Some(value) = value {
                    self.scan(value);
                    let v = self.eval(value);
                    self.assign(target, v, s.span);
                }
            }
            StmtKind::AugAssign { target, value } => {
                self.scan(value);
                match &target.kind {
                    ExprKind::Name(n) if !self.is_local(n) || self.globals.contains(n) => {
                        self.global_write(n, s.span)
                    }
                    _ => self.assign(target, Val::Unknown, s.span),
                }
            }
            StmtKind::Delete(targets) => {
                for t in targets {
                    self.delete(t, s.span);
                }
            }
            StmtKind::Global(names) => {
                self.globals.extend(names.iter().cloned());
            }
            StmtKind::Expr(e) | StmtKind::Return(Some(e)) => {
                self.scan(e);
                let produced = match (&s.kind, &e.kind) {
                    (StmtKind::Return(_), _) => Some(e),
                    (_, ExprKind::Yield(Some(v))) => Some(&**v),
                    _ => None,
                };
                if let Some(p) = produced {
                    let v = self.eval(p);
                    self.out.value.get_or_insert(v);
                }
            }
            StmtKind::With { items, body } => {
                let before = self.mitigating.len();
                for it in items {
                    self.scan(&it.context);
                    let v = self.eval(&it.context);
                    self.with_mitigation(&it.context);
                    if let Some(t) = &it.target {
                        let v = match &v {
                            Val::Unknown => self.context_target_value(&it.context),
                            other => other.clone(),
                        };
                        self.assign(t, v, s.span);
                    }
                }
                self.block(body);
                self.mitigating.truncate(before);
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                self.scan(iter);
                self.assign(target, Val::Unknown, s.span);
                self.block(body);
                self.block(orelse);
            }
            _ => {
                for e in s.exprs() {
                    self.scan(e);
                }
                for b in s.blocks() {
                    self.block(b);
                }
            }
        }
    }

    /// Value bound by `with X as t` when X itself evaluated to nothing known.
    fn context_target_value(&mut self, ctx: &Expr) -> Val {
        if let ExprKind::Call(c) = &ctx.kind {
            let q = self.q(&c.func).unwrap_or_default();
            if catalog::is_unique_source(&q) {
                return Val::Unique;
            }
        }
        Val::Unknown
    }

    /// `os.environ["K"] = value`: remember the value (DAGSTER_HOME decides
    /// which Dagster instance `DagsterInstance.get()` opens).
    fn environ_assignment(&mut self, target: &Expr, value: &Expr, v: &Val, span: Span) {
        let ExprKind::Subscript { value: base, index } = &target.kind else {
            return;
        };
        if !self.is_os_environ(base) {
            return;
        }
        let Val::Str(key) = self.eval(index) else {
            return;
        };
        if v.is_unique() {
            self.out.unique_env.insert(key.clone());
        }
        if key == "DAGSTER_HOME" {
            self.dagster_home(value, span);
        }
        self.env_values.insert(key, v.clone());
    }

    fn assign(&mut self, target: &Expr, v: Val, span: Span) {
        match &target.kind {
            ExprKind::Name(n) => {
                if self.globals.contains(n) {
                    self.global_write(n, span);
                } else {
                    self.locals.insert(n.clone(), v);
                }
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                for i in items {
                    self.assign(i, Val::Unknown, span);
                }
            }
            ExprKind::Starred(inner) => self.assign(inner, Val::Unknown, span),
            ExprKind::Attribute { value, attr } => self.attr_write(value, attr, target.span),
            ExprKind::Subscript { value, index } => self.subscript_write(value, index, target.span),
            _ => {}
        }
    }

    fn delete(&mut self, t: &Expr, span: Span) {
        match &t.kind {
            ExprKind::Subscript { value, index } => self.subscript_write(value, index, t.span),
            ExprKind::Attribute { value, attr } => self.attr_write(value, attr, t.span),
            ExprKind::Name(n) if self.globals.contains(n) => self.global_write(n, span),
            _ => {}
        }
    }

    fn global_write(&mut self, name: &str, span: Span) {
        let key = format!("global:{}.{}", self.module.dotted, name);
        self.hazard(
            "ISO406",
            Some(key),
            Effect::Order,
            span,
            format!("assigns the module global `{name}`, which keeps its new value for every later test on the same worker"),
            "pass the value in through a fixture, or restore the global in a yield fixture's teardown",
        );
    }

    /// `x.attr = v` / `del x.attr`.
    fn attr_write(&mut self, base: &Expr, attr: &str, span: Span) {
        if let Val::Obj(Obj::Singleton(q)) = self.eval(base) {
            self.hazard(
                "ISO408",
                Some(format!("attr:{q}.{attr}")),
                Effect::Order,
                span,
                format!("sets `{attr}` on the process-wide `{q}` singleton; later tests on the same worker get the changed instance"),
                "use `monkeypatch.setattr(instance, ...)`, or reset the singleton in a yield fixture's teardown",
            );
            return;
        }
        let Some(parts) = base.dotted() else { return };
        let head = parts[0];
        if matches!(head, "self" | "cls") || self.params.contains(head) || self.is_local(head) {
            return;
        }
        let Some(mut q) = self.q(base) else { return };
        if !self.imports.is_imported(head) {
            // A module-level object or class of this module.
            if !self.module.constants.contains_key(head) && !self.module.classes.contains(head) {
                return;
            }
            q = format!("{}.{q}", self.module.dotted);
        }
        let key = format!("attr:{q}.{attr}");
        if q == "os.environ" {
            return;
        }
        if q == "sys" && matches!(attr, "path" | "modules") {
            let (code, key) = if attr == "path" {
                ("ISO403", "sys.path".to_string())
            } else {
                ("ISO404", "sys.modules:*".to_string())
            };
            self.hazard(code, Some(key), Effect::Order, span,
                format!("replaces `sys.{attr}` for the whole worker process; imports in later tests on the same worker resolve differently"),
                "use `monkeypatch.syspath_prepend(...)` / `monkeypatch.setitem(sys.modules, ...)`, which restore it after the test");
            return;
        }
        let last = parts.last().copied().unwrap_or(head);
        let singleton = last.chars().next().is_some_and(char::is_uppercase);
        let (code, what) = if singleton {
            ("ISO408", "class attribute")
        } else {
            ("ISO402", "module attribute")
        };
        self.hazard(
            code,
            Some(key),
            Effect::Order,
            span,
            format!("sets the {what} `{q}.{attr}` for the whole process; later tests on the same worker see the changed value"),
            HELP_ATTR,
        );
    }

    /// `x[k] = v` / `del x[k]`.
    fn subscript_write(&mut self, base: &Expr, index: &Expr, span: Span) {
        if self.is_os_environ(base) {
            let key = match self.eval(index) {
                Val::Str(k) => k,
                _ => "*".to_string(),
            };
            self.env_write(&key, Some(index), span);
            return;
        }
        let q = self.q(base).unwrap_or_default();
        if q == "sys.modules" {
            let name = self.eval(index).as_str().unwrap_or("*").to_string();
            self.hazard(
                "ISO404",
                Some(format!("sys.modules:{name}")),
                Effect::Order,
                span,
                format!("replaces `sys.modules[{name:?}]`; every later import of that module on the same worker gets the replacement"),
                "use `monkeypatch.setitem(sys.modules, ...)` or `mock.patch.dict(sys.modules, ...)`",
            );
            return;
        }
        self.container_write(base, span);
    }

    fn container_write(&mut self, base: &Expr, span: Span) {
        let key = match &base.kind {
            // `CATALOG["A1"]["price"] = 0` mutates `CATALOG`.
            ExprKind::Subscript { value, .. } => return self.container_write(value, span),
            ExprKind::Name(n) if self.params.contains(n) && !self.globals.contains(n) => {
                self.out.mutated_params.insert(n.clone());
                if let Some(Val::Container(k)) = self.locals.get(n).cloned() {
                    k
                } else {
                    return;
                }
            }
            ExprKind::Name(n) if self.is_local(n) => match self.locals.get(n) {
                Some(Val::Container(k)) => k.clone(),
                _ => return,
            },
            ExprKind::Name(n) => {
                if let Some(q) = self.imports.get(n) {
                    if q.starts_with('.') || !q.contains('.') {
                        return;
                    }
                    format!("state:{}", q.trim_start_matches('.'))
                } else if let Some(c) = self.module.constants.get(n) {
                    let is_container = match &c.kind {
                        ExprKind::List(_) | ExprKind::Dict(_) | ExprKind::Set(_) => true,
                        ExprKind::Call(call) => self
                            .q(&call.func)
                            .is_some_and(|q| catalog::is_container_constructor(&q)),
                        _ => false,
                    };
                    if !is_container {
                        return;
                    }
                    format!("state:{}.{}", self.module.dotted, n)
                } else {
                    return;
                }
            }
            ExprKind::Attribute { .. } => {
                let Some(parts) = base.dotted() else { return };
                if !self.imports.is_imported(parts[0]) || self.is_local(parts[0]) {
                    return;
                }
                let Some(q) = self.q(base) else { return };
                if q == "os.environ" || q.starts_with("sys.") {
                    return;
                }
                // ORM and client objects (`db.session.add`, `Order.objects.update`)
                // are not containers; neither are attributes of classes.
                let orm = parts.iter().any(|p| {
                    matches!(
                        *p,
                        "session"
                            | "objects"
                            | "query"
                            | "db"
                            | "client"
                            | "conn"
                            | "connection"
                            | "cursor"
                            | "engine"
                            | "api"
                            | "app"
                            | "redis"
                            | "cache_client"
                    )
                });
                let last = parts.last().copied().unwrap_or("");
                if orm
                    || last.chars().next().is_some_and(char::is_uppercase)
                        && last.chars().any(char::is_lowercase)
                {
                    return;
                }
                format!("state:{q}")
            }
            _ => return,
        };
        let shown = key
            .trim_start_matches("state:")
            .trim_start_matches("fixture:");
        if key.starts_with("fixture:") {
            self.hazard(
                "ISO703",
                Some(key.clone()),
                Effect::Order,
                span,
                format!("mutates the value of the broad-scoped fixture `{shown}`, which every test in its scope on the same worker shares"),
                "make the fixture function-scoped, return a copy, or return an immutable value (tuple, frozenset, MappingProxyType)",
            );
            return;
        }
        self.hazard(
            "ISO407",
            Some(key.clone()),
            Effect::Order,
            span,
            format!("mutates `{shown}`, a module-level container shared by every test on the same worker, and does not restore it"),
            "copy the container per test (a function-scoped fixture), or use `monkeypatch.setitem`/`mock.patch.dict`",
        );
    }

    fn env_write(&mut self, key: &str, value_of: Option<&Expr>, span: Span) {
        let _ = value_of;
        self.hazard(
            "ISO401",
            Some(format!("env:{key}")),
            Effect::Order,
            span,
            format!("changes the environment variable `{key}` for the whole worker process; tests that run after it on the same worker see the new value"),
            HELP_ENV,
        );
    }

    fn dagster_home(&mut self, value: &Expr, span: Span) {
        let v = self.eval(value);
        if let Val::Str(p) = v {
            let pc = classify_path(&p);
            if pc != PathClass::NotShared {
                let key = path_key(&pc);
                self.hazard(
                    "ISO305",
                    Some(key.clone()),
                    Effect::Shared,
                    span,
                    format!("points DAGSTER_HOME at the fixed directory `{}`; every worker's Dagster instance then shares its run storage and event log", key.trim_start_matches("path:")),
                    "use `DagsterInstance.ephemeral()` or `instance_for_test()`, or set DAGSTER_HOME to a directory under `tmp_path`",
                );
            }
        }
    }

    // ---- expressions with effects ------------------------------------------

    /// Walks an expression for calls and reads (not into lambdas).
    fn scan(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Lambda(_) => return,
            ExprKind::Call(c) => {
                for a in c.args.iter().chain(c.keywords.iter().map(|k| &k.value)) {
                    self.scan(a);
                }
                // The callee is not state read; its receiver may be
                // (`registry.PLUGINS.count(x)` reads `registry.PLUGINS`).
                match &c.func.kind {
                    ExprKind::Attribute { value, .. } => self.scan(value),
                    ExprKind::Name(_) => {}
                    _ => self.scan(&c.func),
                }
                self.call(c, e.span);
                return;
            }
            ExprKind::Attribute { .. } => {
                self.read_attr(e);
            }
            ExprKind::Subscript { value, index } if self.is_os_environ(value) => {
                if let Val::Str(k) = self.eval(index) {
                    self.out.reads.insert(format!("env:{k}"));
                }
            }
            // `"X" in os.environ`
            ExprKind::Compare { left, comparators }
                if comparators.iter().any(|c| self.is_os_environ(c)) =>
            {
                if let Val::Str(k) = self.eval(left) {
                    self.out.reads.insert(format!("env:{k}"));
                }
            }
            ExprKind::Name(n) => {
                if !self.is_local(n) {
                    if let Some(q) = self.imports.get(n) {
                        if q.contains('.') && !q.starts_with('.') {
                            self.out.reads.insert(format!("state:{q}"));
                        }
                    } else if self.module.constants.contains_key(n) {
                        self.out
                            .reads
                            .insert(format!("global:{}.{}", self.module.dotted, n));
                        self.out
                            .reads
                            .insert(format!("state:{}.{}", self.module.dotted, n));
                    }
                } else if let Some(Val::Container(k)) = self.locals.get(n) {
                    let k = k.clone();
                    self.out.reads.insert(k);
                }
            }
            _ => {}
        }
        for ch in e.children() {
            self.scan(ch);
        }
    }

    fn read_attr(&mut self, e: &Expr) {
        let Some(parts) = e.dotted() else { return };
        if parts.len() < 2 || self.is_local(parts[0]) {
            return;
        }
        if !self.imports.is_imported(parts[0]) {
            if self.module.classes.contains(parts[0])
                || self.module.constants.contains_key(parts[0])
            {
                self.out
                    .reads
                    .insert(format!("attr:{}.{}", self.module.dotted, parts.join(".")));
            }
            return;
        }
        if let Some(q) = self.q(e) {
            // An attribute may be a container other tests mutate in place.
            self.out.reads.insert(format!("state:{q}"));
            self.out.reads.insert(format!("attr:{q}"));
        }
    }

    fn call(&mut self, c: &Call, span: Span) {
        let q = self.q(&c.func).unwrap_or_default();
        let (method, receiver) = match &c.func.kind {
            ExprKind::Attribute { value, attr } => (Some(attr.as_str()), Some(&**value)),
            _ => (None, None),
        };
        let recv_val = receiver.map(|r| self.eval(r));
        let recv_q = receiver.and_then(|r| self.q(r)).unwrap_or_default();

        // monkeypatch: restoring by construction, except what it points at.
        if matches!(recv_val, Some(Val::Obj(Obj::Monkeypatch))) {
            self.out.mitigations.insert("monkeypatch".into());
            match method {
                Some("setenv") | Some("delenv") => {
                    if let Some(k) = c.arg(0, "name") {
                        let key = self.eval(k).as_str().unwrap_or("*").to_string();
                        self.out.overrides.insert(format!("env:{key}"));
                        if let Some(v) = c.arg(1, "value") {
                            let val = self.eval(v);
                            if val.is_unique() {
                                self.out.unique_env.insert(key.clone());
                            }
                            self.env_values.insert(key.clone(), val.clone());
                            if key == "DAGSTER_HOME" {
                                self.dagster_home(v, span);
                            }
                        }
                    }
                }
                Some("setattr") | Some("delattr") => {
                    match c.args.first().map(|a| (a, self.eval(a))) {
                        Some((_, Val::Str(dotted)))
                            if c.args.len() <= 2 && m_is_dotted(&dotted) =>
                        {
                            self.out.overrides.insert(format!("attr:{dotted}"));
                        }
                        Some((target, _)) => {
                            if let (Some(q), Some(Val::Str(name))) =
                                (self.q(target), c.args.get(1).map(|n| self.eval(n)))
                            {
                                self.out.overrides.insert(format!("attr:{q}.{name}"));
                            }
                        }
                        None => {}
                    }
                }
                Some("setitem") | Some("delitem") => {
                    if let Some(q) = c.args.first().and_then(|t| self.q(t)) {
                        if q == "os.environ" {
                            self.out.overrides.insert("env:*".into());
                        }
                        self.out.overrides.insert(format!("state:{q}"));
                    }
                }
                Some("syspath_prepend") => {
                    self.out.overrides.insert("sys.path".into());
                }
                Some("chdir") => {
                    self.out.overrides.insert("cwd".into());
                    if let Some(p) = c.arg(0, "path") {
                        if self.eval(p).is_unique() {
                            self.out.chdir_unique = true;
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        if q.starts_with("unittest.mock.")
            || q.starts_with("mock.")
            || q.starts_with("pytest_mock.")
        {
            self.out.mitigations.insert("mock.patch".into());
        }

        // Using a connection to a shared service.
        if let Some(Val::Obj(Obj::Service(k))) = &recv_val {
            if k.starts_with("service:") {
                let m = method.unwrap_or("");
                let scoped_query = catalog::is_query_method(m)
                    && c.args.first().is_some_and(|a| self.eval(a).is_unique());
                let handle_use = catalog::is_session_method(m) && !is_admin_key(k) && {
                    let db = ["database", "db", "dbname"]
                        .iter()
                        .find_map(|n| c.keyword(n));
                    match db.map(|v| self.eval(v)) {
                        None => true,
                        Some(Val::Str(name)) => !catalog::is_admin_database(&name),
                        Some(v) => !v.is_unique(),
                    }
                };
                if (handle_use || !catalog::is_handle_method(m)) && !scoped_query {
                    let k = k.clone();
                    self.service_use(&k, span);
                }
            }
        }
        if catalog::service_constructor(&q).is_none() {
            for a in c.args.iter().chain(c.keywords.iter().map(|k| &k.value)) {
                if let ExprKind::Name(n) = &a.kind {
                    if let Some(Val::Obj(Obj::Service(k))) = self.locals.get(n).cloned() {
                        if k.starts_with("service:") {
                            self.service_use(&k, span);
                        }
                    }
                }
            }
        }

        // Dynamic fixture requests.
        if method == Some("getfixturevalue") && c.args.first().is_some_and(|a| a.as_str().is_none())
        {
            self.out.dynamic_fixture_calls.push(span);
        }

        // Helpers defined in the suite.
        if method.is_none() {
            self.inline_helper(c, &q, span);
        }

        self.file_call(c, &q, method, recv_val.as_ref(), span);
        self.network_call(c, &q, method, recv_val.as_ref(), span);
        self.service_call(c, &q, method, recv_val.as_ref(), span);
        self.state_call(c, &q, method, receiver, &recv_q, recv_val.as_ref(), span);
        self.heavy_call(c, &q, method, span);
    }

    fn write_path(&mut self, v: &Val, span: Span, verb: &str) {
        let Val::Str(p) = v else { return };
        if value::is_template(p) {
            return;
        }
        let mut pc = classify_path(p);
        if let PathClass::Absolute(abs) = &pc {
            let configured = self.an.opts.shared_paths.iter().any(|prefix| {
                let prefix = prefix.trim_end_matches('/');
                abs == prefix || abs.starts_with(&format!("{prefix}/"))
            });
            if configured {
                pc = PathClass::Temp(abs.clone());
            }
        }
        let key = path_key(&pc);
        let shown = key.trim_start_matches("path:").to_string();
        if verb == "deletes tree" && pc != PathClass::NotShared {
            self.hazard("ISO106", Some(key), Effect::Serial, span,
                format!("deletes the whole directory tree `{shown}`, which every xdist worker shares; tests on other workers lose their files mid-run"),
                "delete only what the test created, under `tmp_path`");
            return;
        }
        match pc {
            PathClass::NotShared => {}
            PathClass::Temp(ref t) => {
                let root = matches!(t.as_str(), "/tmp" | "/var/tmp" | "/dev/shm");
                if root && verb.starts_with("deletes") {
                    self.hazard("ISO106", None, Effect::Serial, span,
                        format!("deletes the shared temporary root `{t}`, which every worker's files live under"),
                        "delete only what the test created, under `tmp_path`");
                } else {
                    self.hazard("ISO101", Some(key), Effect::Shared, span,
                        format!("{verb} `{shown}`, a fixed path under the system temp directory that every xdist worker shares; tests using it at the same time overwrite each other"),
                        HELP_TMP);
                }
            }
            PathClass::Home(_) => {
                if shown == "~" && verb == "deletes" {
                    self.hazard(
                        "ISO106",
                        None,
                        Effect::Serial,
                        span,
                        "deletes the home directory".to_string(),
                        "delete only what the test created, under `tmp_path`",
                    );
                } else {
                    self.hazard("ISO102", Some(key), Effect::Shared, span,
                        format!("{verb} `{shown}` in the home directory, which every xdist worker shares"),
                        "use `tmp_path`, and point HOME or the tool's config dir at it with `monkeypatch.setenv`");
                }
            }
            PathClass::Relative(_) => {
                self.hazard("ISO103", Some(key), Effect::Shared, span,
                    format!("{verb} `{shown}`, a fixed path under the rootdir, where every xdist worker starts and which they all share"),
                    "write under `tmp_path`, or `monkeypatch.chdir(tmp_path)` first");
            }
            PathClass::Absolute(_) => {
                self.hazard(
                    "ISO105",
                    Some(key),
                    Effect::Shared,
                    span,
                    format!(
                        "{verb} the fixed absolute path `{shown}`, shared by every xdist worker"
                    ),
                    HELP_TMP,
                );
            }
        }
    }

    fn file_call(
        &mut self,
        c: &Call,
        q: &str,
        method: Option<&str>,
        recv: Option<&Val>,
        span: Span,
    ) {
        if q == "tempfile.mktemp" {
            self.hazard("ISO104", None, Effect::Note, span,
                "`tempfile.mktemp()` returns a name without creating the file; another worker (or process) can take the same name before this test creates it".into(),
                "use `tmp_path`, `tempfile.mkstemp()` or `NamedTemporaryFile()`, which create the file atomically");
            return;
        }
        if catalog::is_open_call(q) || catalog::is_mode_archive(q) {
            let mode = c.arg(1, "mode").and_then(|m| m.as_str()).unwrap_or("r");
            if mode.contains(['w', 'a', 'x', '+']) {
                if let Some(p) = c.arg(0, "file").or_else(|| c.keyword("name")) {
                    let v = self.eval(p);
                    self.write_path(&v, span, "writes");
                }
            }
            return;
        }
        if let Some(indexes) = catalog::path_write_call(q) {
            let verb = if q == "shutil.rmtree" {
                "deletes tree"
            } else if q.contains("remove") || q.contains("unlink") || q.contains("rmdir") {
                "deletes"
            } else if q.contains("mkdir") || q.contains("makedirs") {
                "creates"
            } else {
                "writes"
            };
            for &i in indexes {
                if let Some(p) = c.args.get(i) {
                    let v = self.eval(p);
                    self.write_path(&v, span, verb);
                }
            }
            if q == "logging.FileHandler" || q.starts_with("logging.handlers.") {
                if let Some(p) = c.keyword("filename") {
                    let v = self.eval(p);
                    self.write_path(&v, span, "writes");
                }
            }
            return;
        }
        // Application code handed a fixed path to write to (not a method of
        // something private to the test, like `pytester.copy_example("x.py")`).
        if recv.is_some_and(Val::is_unique) {
            return;
        }
        let callee_name = method.unwrap_or_else(|| q.rsplit('.').next().unwrap_or(q));
        let writer = (catalog::looks_like_writer(callee_name)
            && !catalog::is_write_to_arg_method(callee_name))
            || (method.is_none() && catalog::looks_like_file_backed(callee_name));
        for a in c.args.iter() {
            if writer {
                let v = self.eval(a);
                if let Val::Str(p) = &v {
                    // A relative name given to a method (`archive.writestr("a.csv")`)
                    // is the object's business; given to a function, the cwd's.
                    let relative_ok = method.is_none();
                    let shared = match classify_path(p) {
                        PathClass::Relative(_) => relative_ok && written_path_like(p),
                        _ => written_path_like(p),
                    };
                    if shared {
                        self.write_path(&v, span, "passes for writing");
                    }
                }
            }
        }
        // A command-line entry point given output files: `main(["--out", "x.csv"])`.
        if catalog::looks_like_cli_entry(callee_name) {
            if let Some(ExprKind::List(items)) = c.args.first().map(|a| &a.kind) {
                let vals: Vec<Val> = items.iter().map(|i| self.eval(i)).collect();
                for w in vals.windows(2) {
                    if let (Val::Str(flag), Val::Str(p)) = (&w[0], &w[1]) {
                        if flag.starts_with('-')
                            && !catalog::is_input_flag(flag)
                            && written_path_like(p)
                        {
                            self.write_path(&w[1], span, "passes for writing");
                        }
                    }
                }
            }
        }
        for k in &c.keywords {
            if k.name.as_deref().is_some_and(catalog::is_output_keyword)
                || (writer && k.name.is_some())
            {
                let v = self.eval(&k.value);
                if let Val::Str(p) = &v {
                    if matches!(classify_path(p), PathClass::Temp(_) | PathClass::Home(_)) {
                        self.write_path(&v, span, "passes for writing");
                    }
                }
            }
        }
        let Some(m) = method else { return };
        if let Some(Val::Str(_)) = recv {
            // `str.replace(old, new)` is not `Path.replace(target)`.
            let string_method = matches!(m, "replace" | "rename") && c.args.len() != 1;
            if catalog::is_path_write_method(m) && m != "write" && !string_method {
                let verb = match m {
                    "unlink" | "rmdir" | "rmtree" => "deletes",
                    "mkdir" | "touch" | "mkdir_p" | "ensure" => "creates",
                    _ => "writes",
                };
                self.write_path(recv.unwrap_or(&Val::Unknown), span, verb);
                return;
            }
            if m == "open" {
                let mode = c.arg(0, "mode").and_then(|x| x.as_str()).unwrap_or("r");
                if mode.contains(['w', 'a', 'x', '+']) {
                    self.write_path(recv.unwrap_or(&Val::Unknown), span, "writes");
                }
                return;
            }
        }
        if catalog::is_write_to_arg_method(m) {
            if let Some(p) = c
                .args
                .first()
                .or_else(|| c.keyword("path"))
                .or_else(|| c.keyword("fname"))
            {
                let v = self.eval(p);
                if let Val::Str(s) = &v {
                    // `df.to_csv("x.csv")` writes the working directory; a
                    // relative name given to `storage.save("x")` is the
                    // object's business, so only shared absolute paths count.
                    let shared = match classify_path(s) {
                        PathClass::Relative(_) => {
                            catalog::writes_relative_to_cwd(m) && written_path_like(s)
                        }
                        PathClass::NotShared => false,
                        _ => true,
                    };
                    if shared {
                        self.write_path(&v, span, "writes");
                    }
                }
            }
        }
    }

    fn port_hazard(&mut self, port: i64, span: Span, what: &str) {
        if port <= 0 || port > 65535 {
            return;
        }
        self.hazard(
            "ISO201",
            Some(format!("port:{port}")),
            Effect::Shared,
            span,
            format!("{what} the fixed port {port}; a second xdist worker binding it at the same time fails with `Address already in use`"),
            "bind port 0 and read the chosen port back (`sock.getsockname()[1]`), or use the `unused_tcp_port` fixture",
        );
    }

    fn address_port(&mut self, addr: &Expr) -> Option<i64> {
        match self.eval(addr) {
            Val::Tuple(items) if items.len() >= 2 => items[1].as_port(),
            Val::Str(s) => s.rsplit_once(':').and_then(|(_, p)| p.parse().ok()),
            _ => None,
        }
    }

    fn network_call(
        &mut self,
        c: &Call,
        q: &str,
        method: Option<&str>,
        recv: Option<&Val>,
        span: Span,
    ) {
        if method == Some("bind") && c.args.len() == 1 {
            let sockety = matches!(
                recv,
                Some(Val::Obj(Obj::Socket)) | Some(Val::Unknown) | None
            );
            if sockety {
                if let Some(p) = self.address_port(&c.args[0]) {
                    self.port_hazard(p, span, "binds");
                }
            }
            return;
        }
        if catalog::is_address_server(q) {
            if let Some(a) = c.arg(0, "address").or_else(|| c.keyword("server_address")) {
                if let Some(p) = self.address_port(a) {
                    self.port_hazard(p, span, "serves on");
                }
            }
            return;
        }
        if let Some(i) = catalog::host_port_server(q) {
            if let Some(p) = c.arg(i, "port") {
                if let Some(port) = self.eval(p).as_port() {
                    self.port_hazard(port, span, "serves on");
                }
            }
            return;
        }
        if method == Some("add_insecure_port") || method == Some("add_secure_port") {
            if let Some(Val::Str(a)) = c.args.first().map(|a| self.eval(a)) {
                if let Some(p) = a.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
                    self.port_hazard(p, span, "serves on");
                }
            }
            return;
        }
        let callee_name = method.unwrap_or_else(|| q.rsplit('.').next().unwrap_or(q));
        if !catalog::is_port_keyword_server(q, method) && catalog::looks_like_server(callee_name) {
            if let Some(p) = c.keyword("port") {
                if let Some(port) = self.eval(p).as_port() {
                    self.port_hazard(port, span, "serves on");
                }
            }
            return;
        }
        if catalog::is_port_keyword_server(q, method) {
            if let Some(p) = c.keyword("port") {
                if let Some(port) = self.eval(p).as_port() {
                    self.port_hazard(port, span, "serves on");
                }
            }
            return;
        }
        if q.starts_with("subprocess.") || q == "os.system" {
            if let Some(arg) = c.args.first() {
                if let ExprKind::List(items) = &arg.kind {
                    let vals: Vec<Val> = items.iter().map(|i| self.eval(i)).collect();
                    for w in vals.windows(2) {
                        if let (Val::Str(flag), v) = (&w[0], &w[1]) {
                            if matches!(flag.as_str(), "--port" | "--bind" | "--listen") {
                                if let Some(p) = v.as_port().or_else(|| {
                                    v.as_str().and_then(|s| s.rsplit(':').next()?.parse().ok())
                                }) {
                                    self.port_hazard(p, span, "starts a server on");
                                }
                            }
                        }
                    }
                }
            }
            return;
        }
        if catalog::is_mutating_http(q, method) {
            let recv_is_client = match recv {
                None => true,
                Some(Val::Unknown) => q.starts_with("requests.") || q.starts_with("httpx."),
                _ => false,
            };
            if !recv_is_client
                && method.is_some()
                && !(q.starts_with("requests.") || q.starts_with("httpx."))
            {
                return;
            }
            if let Some(Val::Str(url)) = c.arg(0, "url").map(|u| self.eval(u)) {
                let local = url.contains("://localhost")
                    || url.contains("://127.0.0.1")
                    || url.contains("://0.0.0.0");
                if local {
                    if let Some(k) = service_key(&url) {
                        let host = k.split('/').take(3).collect::<Vec<_>>().join("/");
                        self.hazard("ISO203", Some(format!("service:{host}")), Effect::Shared, span,
                            format!("changes state on the fixed local service `{host}`, which every xdist worker talks to"),
                            "start the service per worker on port 0 (or per `worker_id`), or use a test client that needs no server");
                    }
                }
            }
        }
    }

    fn service_call(
        &mut self,
        c: &Call,
        q: &str,
        method: Option<&str>,
        recv: Option<&Val>,
        span: Span,
    ) {
        // Connections to fixed services.
        let constructed = if catalog::service_constructor(q).is_some()
            || q == "sqlite3.connect"
            || q == "dagster.DagsterInstance.get"
        {
            Some(self.call_value(c, 0))
        } else {
            None
        };
        if let Some(Val::Obj(Obj::Service(key))) = &constructed {
            if q == "dagster.DagsterInstance.get" {
                self.hazard("ISO304", Some(key.clone()), Effect::Shared, span,
                    "`DagsterInstance.get()` opens the instance in DAGSTER_HOME, whose run and event storage every xdist worker shares".into(),
                    "use `DagsterInstance.ephemeral()` or `dagster.instance_for_test()` per test");
            } else if key.starts_with("path:") {
                let shown = key.trim_start_matches("path:");
                self.hazard("ISO302", Some(key.clone()), Effect::Shared, span,
                    format!("opens the fixed database file `{shown}`; every xdist worker writes the same file, so fixed keys collide and `database is locked` errors appear"),
                    "put the database under `tmp_path`, suffix it with `worker_id`, or use `:memory:`");
            }
            // Connections to services are reported where they are used.
            return;
        }
        // Application resources configured with a fixed service URL.
        if constructed.is_none()
            && catalog::looks_like_service_client(q.rsplit('.').next().unwrap_or(""))
        {
            for a in c.args.iter().chain(c.keywords.iter().map(|k| &k.value)) {
                if let Val::Str(url) = self.eval(a) {
                    if catalog::is_service_scheme(&url) {
                        if let Some(k) = service_key(&url) {
                            self.service_use(&format!("service:{k}"), span);
                        }
                    }
                }
            }
        }
        // Destructive queries and commands.
        let m = method.unwrap_or("");
        let target_key = match recv {
            Some(Val::Obj(Obj::Service(k))) => Some(k.clone()),
            Some(Val::Obj(Obj::PrivateService)) | Some(Val::Unique) => return,
            _ => None,
        };
        if matches!(m, "flushall") && !matches!(recv, Some(Val::Obj(Obj::PrivateService))) {
            if target_key.is_some() || recv.is_none() || matches!(recv, Some(Val::Unknown)) {
                self.destructive(target_key, span, "FLUSHALL");
            }
            return;
        }
        if m == "drop_all" || m == "flushdb" {
            let engine = c
                .args
                .first()
                .or_else(|| c.keyword("bind"))
                .map(|a| self.eval(a));
            let key = match (&engine, &target_key) {
                (Some(Val::Obj(Obj::Service(k))), _) => Some(k.clone()),
                (_, Some(k)) => Some(k.clone()),
                _ => None,
            };
            if let Some(k) = key {
                self.hazard("ISO307", Some(k.clone()), Effect::Shared, span,
                    format!("drops every table or key of `{}`, which other xdist workers' tests use at the same time", k.trim_start_matches("service:")),
                    "create and drop a schema or database per worker (suffix with `worker_id`)");
            }
            return;
        }
        if matches!(
            m,
            "run"
                | "execute"
                | "executescript"
                | "execute_query"
                | "query"
                | "write_transaction"
                | "execute_write"
                | "executemany"
                | "execute_command"
        ) {
            let Some(text) = c.args.first().map(|a| self.eval(a)) else {
                return;
            };
            let text = match text {
                Val::Str(s) => s,
                _ => match c.args.first().map(|a| &a.kind) {
                    // `text("...")` wrappers.
                    Some(ExprKind::Call(inner)) => match inner.args.first().map(|a| self.eval(a)) {
                        Some(Val::Str(s)) => s,
                        _ => return,
                    },
                    _ => return,
                },
            };
            if catalog::whole_service_wipe(&text) {
                self.destructive(target_key, span, first_words(&text));
            } else if catalog::table_wipe(&text) {
                if let Some(k) = target_key {
                    self.hazard("ISO307", Some(k.clone()), Effect::Shared, span,
                        format!("runs `{}` on `{}`, wiping data other xdist workers' tests are using", first_words(&text), k.trim_start_matches("service:")),
                        "scope the data each test writes by a unique id and delete only that, or use a database per worker");
                }
            }
        }
    }

    fn service_use(&mut self, key: &str, span: Span) {
        if !self.used_services.insert(key.to_string()) {
            return;
        }
        let shown = key.trim_start_matches("service:");
        self.hazard("ISO301", Some(key.to_string()), Effect::Shared, span,
            format!("uses the shared service `{shown}`; tests on other xdist workers read and write the same data at the same time"),
            "give each worker its own database (suffix the name with `worker_id`), or scope the data each test writes by a unique id");
    }

    fn destructive(&mut self, key: Option<String>, span: Span, what: &str) {
        let shown = key
            .as_deref()
            .map(|k| format!(" on `{}`", k.trim_start_matches("service:")))
            .unwrap_or_default();
        self.hazard("ISO303", key, Effect::Serial, span,
            format!("runs `{what}`{shown}, wiping the whole database while other workers' tests use it"),
            "delete only the nodes/rows the test created (label or tag them with a per-test id), or use a database per worker");
    }

    #[allow(clippy::too_many_arguments)]
    fn state_call(
        &mut self,
        c: &Call,
        q: &str,
        method: Option<&str>,
        receiver: Option<&Expr>,
        recv_q: &str,
        recv: Option<&Val>,
        span: Span,
    ) {
        // Environment.
        if recv_q == "os.environ" {
            match method {
                Some("get" | "copy" | "items" | "keys" | "values") => {
                    if let Some(Val::Str(k)) = c.args.first().map(|a| self.eval(a)) {
                        self.out.reads.insert(format!("env:{k}"));
                    }
                }
                Some("update") => {
                    let mut keys = Vec::new();
                    for k in &c.keywords {
                        if let Some(n) = &k.name {
                            keys.push(n.clone());
                        }
                    }
                    if let Some(ExprKind::Dict(items)) = c.args.first().map(|a| &a.kind) {
                        for (k, _) in items {
                            match k.as_ref().map(|k| self.eval(k)) {
                                Some(Val::Str(s)) => keys.push(s),
                                _ => keys.push("*".into()),
                            }
                        }
                    } else if !c.args.is_empty() {
                        keys.push("*".into());
                    }
                    for k in keys {
                        self.env_write(&k, None, span);
                    }
                }
                Some("setdefault" | "pop" | "__setitem__" | "__delitem__") => {
                    let k = c.args.first().map(|a| self.eval(a));
                    let k = k
                        .as_ref()
                        .and_then(|v| v.as_str())
                        .unwrap_or("*")
                        .to_string();
                    self.env_write(&k, c.args.get(1), span);
                    if k == "DAGSTER_HOME" {
                        if let Some(v) = c.args.get(1) {
                            self.dagster_home(v, span);
                        }
                    }
                }
                Some("clear" | "popitem") => self.env_write("*", None, span),
                _ => {}
            }
            return;
        }
        match q {
            "os.getenv" => {
                if let Some(Val::Str(k)) = c.args.first().map(|a| self.eval(a)) {
                    self.out.reads.insert(format!("env:{k}"));
                }
                return;
            }
            "os.putenv" | "os.unsetenv" => {
                let k = c.args.first().map(|a| self.eval(a));
                let k = k
                    .as_ref()
                    .and_then(|v| v.as_str())
                    .unwrap_or("*")
                    .to_string();
                self.env_write(&k, None, span);
                return;
            }
            "os.chdir" => {
                if let Some(p) = c.args.first() {
                    if self.eval(p).is_unique() {
                        self.out.chdir_unique = true;
                    }
                }
                self.hazard("ISO405", Some("cwd".into()), Effect::Order, span,
                    "changes the working directory of the whole worker process; later tests on the same worker run in the wrong directory".into(),
                    "use `monkeypatch.chdir(...)`, or `contextlib.chdir(...)` as a context manager");
                return;
            }
            "setattr" | "delattr" => {
                if let (Some(target), Some(name)) = (c.args.first(), c.args.get(1)) {
                    if let Val::Str(attr) = self.eval(name) {
                        self.attr_write(target, &attr, span);
                    }
                }
                return;
            }
            "importlib.reload" => return,
            _ => {}
        }
        if recv_q == "sys.path" && method.is_some_and(catalog::is_mutating_method) {
            self.hazard("ISO403", Some("sys.path".into()), Effect::Order, span,
                "changes `sys.path` for the whole worker process; imports in later tests on the same worker resolve differently".into(),
                "use `monkeypatch.syspath_prepend(...)`, which restores `sys.path` after the test");
            return;
        }
        if recv_q == "sys.modules"
            && matches!(
                method,
                Some("pop" | "update" | "setdefault" | "clear" | "popitem")
            )
        {
            let name = c.args.first().map(|a| self.eval(a));
            let name = name
                .as_ref()
                .and_then(|v| v.as_str())
                .unwrap_or("*")
                .to_string();
            self.hazard("ISO404", Some(format!("sys.modules:{name}")), Effect::Order, span,
                format!("changes `sys.modules` (`{name}`) for the whole worker process"),
                "use `monkeypatch.delitem(sys.modules, ...)` or `mock.patch.dict(sys.modules, ...)`");
            return;
        }
        if let Some(setting) = catalog::process_setting(q) {
            // `locale.setlocale(category)` only reads the current locale.
            let query_only =
                q == "locale.setlocale" && c.args.len() < 2 && c.keyword("locale").is_none();
            if !query_only {
                self.setting_hazard(setting, q, span);
            }
            return;
        }
        // `logging.getLogger(...).setLevel(...)` / `.addHandler(...)`.
        if matches!(
            method,
            Some("setLevel" | "addHandler" | "removeHandler" | "addFilter" | "propagate")
        ) {
            if let Some(ExprKind::Call(inner)) = receiver.map(|r| &r.kind) {
                if self.q(&inner.func).as_deref() == Some("logging.getLogger") {
                    self.setting_hazard("logging", "logging.getLogger(...).setLevel", span);
                    return;
                }
            }
            if recv_q.starts_with("logging.") {
                self.setting_hazard("logging", recv_q, span);
                return;
            }
            if matches!(recv, Some(Val::Obj(Obj::Logger))) {
                self.setting_hazard("logging", "logger.setLevel", span);
                return;
            }
        }
        // Module-level containers.
        if let (Some(m), Some(r)) = (method, receiver) {
            if catalog::is_mutating_method(m) {
                if let Some(Val::Container(_))
                | None
                | Some(Val::Unknown)
                | Some(Val::Obj(Obj::Mutable)) = recv
                {
                    self.container_write(r, span);
                }
            }
        }
    }

    fn setting_hazard(&mut self, setting: &str, what: &str, span: Span) {
        let key = format!("setting:{setting}");
        self.hazard("ISO409", Some(key), Effect::Order, span,
            format!("`{what}` changes a process-wide setting ({setting}) that stays changed for later tests on the same worker"),
            match setting {
                "logging" => "use the `caplog` fixture (`caplog.set_level`) instead of configuring logging globally",
                "warnings" => "wrap the code in `warnings.catch_warnings()` or use `pytest.warns`",
                "locale" | "socket-timeout" | "signals" => "restore the previous value in a `try/finally` or a yield fixture's teardown",
                "pandas-options" => "use `pandas.option_context(...)` as a context manager",
                _ => "restore the previous value in a `try/finally` or a yield fixture's teardown",
            });
    }

    fn heavy_call(&mut self, c: &Call, q: &str, method: Option<&str>, span: Span) {
        // Loading a file the test itself wrote under `tmp_path` is no model.
        let private_file = c.args.first().is_some_and(|a| self.eval(a).is_unique());
        if catalog::is_model_loader(q, method) && !private_file {
            if q == "timm.create_model"
                && !matches!(
                    c.keyword("pretrained").map(|k| &k.kind),
                    Some(ExprKind::Bool(true))
                )
            {
                return;
            }
            if self.function_scoped {
                self.hazard("ISO601", Some("heavy:model".into()), Effect::Heavy, span,
                    format!("loads a model (`{}`) for every test; with N xdist workers N copies sit in memory at once", short_call(q, method)),
                    "load it once in a `scope=\"session\"` fixture, or mock the model in unit tests");
            } else {
                self.out.mitigations.insert("session-scoped model".into());
            }
            return;
        }
        if catalog::is_process_pool(q) {
            let size = c
                .arg(0, "max_workers")
                .or_else(|| c.keyword("processes"))
                .or_else(|| c.keyword("n_jobs"));
            let all = match size {
                None => q != "joblib.Parallel",
                Some(e) => match &e.kind {
                    ExprKind::Call(inner) => self
                        .q(&inner.func)
                        .is_some_and(|f| catalog::is_cpu_count(&f)),
                    ExprKind::Other(v) => {
                        v.iter().any(|x| matches!(x.kind, ExprKind::Int(Some(1))))
                    }
                    ExprKind::Int(Some(-1)) => true,
                    _ => false,
                },
            };
            if all {
                self.hazard("ISO602", Some("heavy:cpu".into()), Effect::Heavy, span,
                    "starts a process pool sized to every CPU; under xdist each worker does so and the machine is oversubscribed".into(),
                    "size the pool to 1-2 workers in tests, or mark the test for the heavy phase");
            }
        }
    }

    /// Calls into helper functions of the suite are analysed in place.
    fn inline_helper(&mut self, c: &Call, q: &str, span: Span) {
        if self.depth >= 2 {
            return;
        }
        let (mi, func) = match &c.func.kind {
            ExprKind::Name(n) if !self.is_local(n) && !self.imports.is_imported(n) => {
                match self.module.functions.get(n) {
                    Some(f) => (self.mi, f.clone()),
                    None => return,
                }
            }
            ExprKind::Name(_) => {
                let Some((modpath, name)) = q.trim_start_matches('.').rsplit_once('.') else {
                    return;
                };
                let Some(&mi) = self.an.module_by_dotted.get(modpath) else {
                    return;
                };
                match self.an.suite.modules[mi].functions.get(name) {
                    Some(f) => (mi, f.clone()),
                    None => return,
                }
            }
            _ => return,
        };
        if func.span == Span::default() {
            return;
        }
        let mut params = HashMap::new();
        for (i, p) in func.params.iter().enumerate() {
            let v = c
                .args
                .get(i)
                .or_else(|| c.keyword(&p.name))
                .map(|a| self.eval(a))
                .or_else(|| p.default.as_ref().map(|_| Val::Unknown))
                .unwrap_or(Val::Unknown);
            params.insert(p.name.clone(), v);
        }
        let sub = self
            .an
            .walk_function(mi, &func, params, self.function_scoped, self.depth + 1);
        for mut h in sub.hazards {
            h.module = self.mi;
            h.span = span;
            h.message = format!("{} (in helper `{}`)", h.message, func.name);
            if h.effect == Effect::Order {
                if let Some(k) = &h.key {
                    if key_matches_any(k, self.mitigating.iter().map(String::as_str)) {
                        continue;
                    }
                }
            }
            self.out.hazards.push(h);
        }
        self.out.reads.extend(sub.reads);
        self.out.chdir_unique |= sub.chdir_unique;
    }

    // ---- mitigations --------------------------------------------------------

    /// Key patterns a `with` context or patch decorator restores.
    fn patch_keys(&mut self, e: &Expr) -> Vec<String> {
        let (callee, call) = match &e.kind {
            ExprKind::Call(c) => (&c.func, Some(&**c)),
            _ => (e, None),
        };
        let q = self.q(callee).unwrap_or_default();
        let qn = q.trim_start_matches("unittest.");
        let mut keys = Vec::new();
        if let Some(k) = catalog::restoring_context(&q) {
            keys.push(k.to_string());
        }
        if matches!(callee.kind, ExprKind::Attribute { ref attr, .. } if attr == "context") {
            if let ExprKind::Attribute { value, .. } = &callee.kind {
                if matches!(self.eval(value), Val::Obj(Obj::Monkeypatch))
                    || self.q(value).as_deref() == Some("pytest.MonkeyPatch")
                {
                    keys.push("*".into());
                }
            }
        }
        let Some(call) = call else { return keys };
        match qn {
            "mock.patch.dict" => {
                if let Some(t) = call.args.first() {
                    let target = match self.eval(t) {
                        Val::Str(s) => Some(s),
                        _ => self.q(t),
                    };
                    match target.as_deref() {
                        Some("os.environ") => keys.push("env:*".into()),
                        Some("sys.modules") => keys.push("sys.modules:*".into()),
                        Some(other) => {
                            keys.push(format!("state:{other}"));
                            keys.push(format!("attr:{other}"));
                        }
                        None => {}
                    }
                }
            }
            "mock.patch" => {
                if let Some(Val::Str(t)) = call.args.first().map(|a| self.eval(a)) {
                    keys.push(format!("attr:{t}"));
                    keys.push(format!("state:{t}"));
                    if t == "os.environ" {
                        keys.push("env:*".into());
                    }
                }
            }
            "mock.patch.object" | "mock.patch.multiple" => {
                if let Some(t) = call.args.first().and_then(|a| self.q(a)) {
                    match call.args.get(1).map(|a| self.eval(a)) {
                        Some(Val::Str(attr)) => keys.push(format!("attr:{t}.{attr}")),
                        _ => keys.push(format!("attr:{t}.*")),
                    }
                    if t == "os" || t == "os.environ" {
                        keys.push("env:*".into());
                    }
                }
            }
            _ => {}
        }
        keys
    }

    fn with_mitigation(&mut self, ctx: &Expr) {
        if let ExprKind::Call(c) = &ctx.kind {
            if self.q(&c.func).as_deref() == Some("contextlib.chdir")
                && c.args.first().is_some_and(|a| self.eval(a).is_unique())
            {
                self.out.chdir_unique = true;
            }
        }
        let keys = self.patch_keys(ctx);
        if !keys.is_empty() {
            self.out
                .mitigations
                .insert("restoring context manager".into());
        }
        self.out.overrides.extend(keys.iter().cloned());
        self.mitigating.extend(keys);
    }

    fn decorator_mitigations(&mut self, decorators: &[Decorator]) {
        for d in decorators {
            let keys = self.patch_keys(&d.expr);
            if !keys.is_empty() {
                self.out.mitigations.insert("mock.patch".into());
            }
            self.out.overrides.extend(keys.iter().cloned());
            self.mitigating.extend(keys);
        }
    }

    /// Keys whose changes are undone: statements after a top-level `yield`,
    /// `finally` blocks, and finalizer/cleanup callbacks.
    fn restored_keys(&mut self, body: &[Stmt]) -> BTreeSet<String> {
        let mut restore_blocks: Vec<Vec<Stmt>> = Vec::new();
        if let Some(pos) = body.iter().position(stmt_has_yield) {
            restore_blocks.push(body[pos + 1..].to_vec());
            // A yield inside `try`: the `finally` is teardown too (collected below).
        }
        collect_finally(body, &mut restore_blocks);
        collect_finalizers(body, &mut restore_blocks);
        let mut keys = BTreeSet::new();
        for block in restore_blocks {
            let mut probe = Walker {
                an: self.an,
                module: self.module,
                mi: self.mi,
                imports: self.imports.clone(),
                locals: self.locals.clone(),
                params: self.params.clone(),
                globals: self.globals.clone(),
                mitigating: Vec::new(),
                out: FnFacts::default(),
                function_scoped: self.function_scoped,
                depth: 2,
                env_values: HashMap::new(),
                used_services: HashSet::new(),
            };
            // Globals declared anywhere in the function apply to teardown.
            collect_globals(body, &mut probe.globals);
            probe.block(&block);
            for h in probe.out.hazards {
                if h.effect == Effect::Order {
                    if let Some(k) = h.key {
                        keys.insert(k);
                    }
                }
            }
            // `os.environ.update(saved)` style restores cover every variable.
            if block_mentions_environ_restore(&block, &self.imports) {
                keys.insert("env:*".into());
            }
        }
        keys
    }
}

fn stmt_has_yield(s: &Stmt) -> bool {
    fn e_has(e: &Expr) -> bool {
        matches!(e.kind, ExprKind::Yield(_)) || e.children().into_iter().any(e_has)
    }
    if matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return false;
    }
    s.exprs().into_iter().any(e_has) || s.blocks().into_iter().any(|b| b.iter().any(stmt_has_yield))
}

fn collect_finally(body: &[Stmt], out: &mut Vec<Vec<Stmt>>) {
    for s in body {
        if let StmtKind::Try { finalbody, .. } = &s.kind {
            if !finalbody.is_empty() {
                out.push(finalbody.clone());
            }
        }
        if !matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            for b in s.blocks() {
                collect_finally(b, out);
            }
        }
    }
}

fn collect_globals(body: &[Stmt], out: &mut HashSet<String>) {
    for s in body {
        if let StmtKind::Global(names) = &s.kind {
            out.extend(names.iter().cloned());
        }
        for b in s.blocks() {
            collect_globals(b, out);
        }
    }
}

/// Bodies of callbacks passed to `request.addfinalizer` / `addCleanup` /
/// `atexit`-style registration: nested functions and lambdas.
fn collect_finalizers(body: &[Stmt], out: &mut Vec<Vec<Stmt>>) {
    let nested: HashMap<&str, &Function> = body
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::FunctionDef(f) => Some((f.name.as_str(), &**f)),
            _ => None,
        })
        .collect();
    fn visit(e: &Expr, nested: &HashMap<&str, &Function>, out: &mut Vec<Vec<Stmt>>) {
        if let ExprKind::Call(c) = &e.kind {
            if let ExprKind::Attribute { attr, .. } = &c.func.kind {
                if matches!(
                    attr.as_str(),
                    "addfinalizer" | "addCleanup" | "callback" | "enter_context"
                ) {
                    for a in &c.args {
                        match &a.kind {
                            ExprKind::Name(n) => {
                                if let Some(f) = nested.get(n.as_str()) {
                                    out.push(f.body.clone());
                                }
                            }
                            ExprKind::Lambda(b) => out.push(vec![Stmt {
                                kind: StmtKind::Expr((**b).clone()),
                                span: b.span,
                            }]),
                            _ => {}
                        }
                    }
                    // `addCleanup(os.chdir, old)` / `addCleanup(setattr, mod, "x", old)`.
                    if let Some(first) = c.args.first() {
                        if !matches!(first.kind, ExprKind::Lambda(_)) {
                            out.push(vec![Stmt {
                                kind: StmtKind::Expr(Expr {
                                    kind: ExprKind::Call(Box::new(Call {
                                        func: first.clone(),
                                        args: c.args[1..].to_vec(),
                                        keywords: Vec::new(),
                                    })),
                                    span: e.span,
                                }),
                                span: e.span,
                            }]);
                        }
                    }
                }
            }
        }
        for ch in e.children() {
            visit(ch, nested, out);
        }
    }
    fn walk(body: &[Stmt], nested: &HashMap<&str, &Function>, out: &mut Vec<Vec<Stmt>>) {
        for s in body {
            for e in s.exprs() {
                visit(e, nested, out);
            }
            for b in s.blocks() {
                walk(b, nested, out);
            }
        }
    }
    walk(body, &nested, out);
}

fn block_mentions_environ_restore(block: &[Stmt], imports: &Names) -> bool {
    block.iter().any(|s| match &s.kind {
        StmtKind::Expr(Expr {
            kind: ExprKind::Call(c),
            ..
        }) => {
            imports.qualify(&c.func).as_deref() == Some("os.environ.update")
                && c.args
                    .first()
                    .is_some_and(|a| !matches!(a.kind, ExprKind::Dict(_)))
        }
        StmtKind::Assign { targets, .. } => targets
            .iter()
            .any(|t| imports.qualify(t).as_deref() == Some("os.environ")),
        _ => s
            .blocks()
            .into_iter()
            .any(|b| block_mentions_environ_restore(b, imports)),
    })
}

/// A fixed string that names a shared file: under /tmp or home, or a
/// relative file name with an extension (`scores.json`).
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

/// `service:scheme://host[:port][/db]` for a keyword-configured client.
fn service_key_of(scheme: &str, host: &str, port: Option<i64>, db: Option<Val>) -> String {
    let mut key = format!("service:{scheme}://{host}");
    if let Some(p) = port {
        key.push_str(&format!(":{p}"));
    }
    match db {
        Some(Val::Str(x)) => key.push_str(&format!("/{x}")),
        Some(Val::Int(x)) => key.push_str(&format!("/{x}")),
        _ => {}
    }
    key
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

fn percent_format(fmt: &str, args: &[String]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.peek() {
                Some('%') => {
                    chars.next();
                    out.push('%');
                }
                Some(_) => {
                    // Skip the conversion spec up to its type letter.
                    for n in chars.by_ref() {
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                    if let Some(a) = it.next() {
                        out.push_str(a);
                    }
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn brace_format(fmt: &str, c: &Call, args: &[Val]) -> String {
    let named: HashMap<&str, &Val> = c
        .keywords
        .iter()
        .zip(args.iter().skip(c.args.len()))
        .filter_map(|(k, v)| Some((k.name.as_deref()?, v)))
        .collect();
    let mut out = String::new();
    let mut auto = 0;
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let field = &rest[open + 1..open + close];
        let name = field.split([':', '!']).next().unwrap_or("");
        let v = if name.is_empty() {
            auto += 1;
            args.get(auto - 1)
        } else if let Ok(i) = name.parse::<usize>() {
            args.get(i)
        } else {
            named.get(name).copied()
        };
        match v {
            Some(Val::Str(s)) => out.push_str(s),
            Some(Val::Int(n)) => out.push_str(&n.to_string()),
            _ => out.push_str("{?}"),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn first_words(s: &str) -> &str {
    let s = s.trim();
    let end = s.char_indices().nth(40).map(|(i, _)| i).unwrap_or(s.len());
    s[..end].lines().next().unwrap_or("")
}

fn short_call(q: &str, method: Option<&str>) -> String {
    match method {
        Some(m) if m == "from_pretrained" => format!("{m}()"),
        _ => format!("{}()", q.rsplit('.').next().unwrap_or(q)),
    }
}
