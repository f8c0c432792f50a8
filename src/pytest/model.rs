use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::imports::Imports;
use crate::config::PytestIni;
use crate::python::ir::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Function,
    Class,
    Module,
    Package,
    Session,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "function" => Scope::Function,
            "class" => Scope::Class,
            "module" => Scope::Module,
            "package" => Scope::Package,
            "session" => Scope::Session,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Function => "function",
            Scope::Class => "class",
            Scope::Module => "module",
            Scope::Package => "package",
            Scope::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerLevel {
    Function,
    Class,
    Module,
}

/// Where a marker is written, so fixes can remove it.
#[derive(Debug, Clone, PartialEq)]
pub enum MarkerSite {
    /// `@pytest.mark.x` line: the decorator span.
    Decorator(Span),
    /// An element of a `pytestmark = [...]` list: element span and the whole
    /// assignment statement span.
    ListElement {
        element: Span,
        statement: Span,
        len: usize,
    },
    /// `pytestmark = pytest.mark.x`: the statement span.
    Assignment(Span),
    /// Added at collection by a conftest hook (`item.add_marker(...)`): the
    /// call, in the hook's module.
    Hook { module: usize, span: Span },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub name: String,
    pub level: MarkerLevel,
    pub reason: Option<String>,
    /// The `pytest.mark.x(...)` call's argument list end (to add `reason=`).
    pub call: Option<Span>,
    pub span: Span,
    pub site: MarkerSite,
    /// Positional string arguments (usefixtures names, parametrize argnames).
    pub str_args: Vec<String>,
    /// The raw call, for parametrize values.
    pub args: Vec<Arc<Expr>>,
    pub keywords: Vec<(String, Arc<Expr>)>,
    /// The module the marker is written in when it is not the test's own:
    /// class and module markers of the collecting module on a test method
    /// defined in a base class elsewhere.
    pub module: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    /// `rel::name` or `rel::Class::name`.
    pub id: String,
    pub module: usize,
    pub class: Option<String>,
    pub func: Arc<Function>,
    pub scope: Scope,
    pub autouse: bool,
    pub params: bool,
    pub is_yield: bool,
    pub requests: Vec<String>,
    /// Literal `request.getfixturevalue("name")` calls in the body.
    pub dynamic_requests: Vec<String>,
    /// Span of the fixture name for findings.
    pub span: Span,
    /// Synthesised from xunit-style setup/teardown (`setup_method`,
    /// `setUpClass`, `setup_module`, ...).
    pub synthetic: bool,
    /// Visible only where it is linked (an imported xunit function made into
    /// a fixture for the importing module), not in its own module.
    pub only_linked: bool,
    /// Applies to module-level test functions only (`setup_function`).
    pub only_functions: bool,
}

#[derive(Debug, Clone)]
pub struct Parametrize {
    pub argnames: Vec<String>,
    pub values: Option<Arc<Expr>>,
    pub indirect: bool,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Test {
    /// Function-level nodeid (no parametrize suffix).
    pub nodeid: String,
    pub name: String,
    /// The module the test function is defined in (its body's imports and
    /// source text).
    pub module: usize,
    /// The module that collects it (its nodeid, fixture namespace and
    /// conftest chain); differs from `module` for test methods inherited
    /// from a base class in another module and for imported tests.
    pub collector: usize,
    /// Class path for methods (`TestA` or `TestA::TestNested`).
    pub class: Option<String>,
    pub func: Arc<Function>,
    pub requests: Vec<String>,
    /// Literal `request.getfixturevalue("name")` calls in the body.
    pub dynamic_requests: Vec<String>,
    pub usefixtures: Vec<String>,
    pub markers: Vec<Marker>,
    pub parametrize: Vec<Parametrize>,
    pub is_unittest: bool,
    /// The test's class inherits from a class isoaudit cannot read (outside
    /// the project), whose fixtures it cannot see.
    pub external_base: bool,
    pub span: Span,
}

/// A hook function such as `pytest_collection_modifyitems` in a conftest.
#[derive(Debug, Clone)]
pub struct Hook {
    pub name: String,
    pub func: Arc<Function>,
}

#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    /// line -> codes (empty = all).
    pub lines: HashMap<usize, Vec<String>>,
    /// File-level codes or prefixes.
    pub file: Vec<String>,
}

impl Suppressions {
    pub fn suppresses(&self, code: &str, line: usize) -> bool {
        if self.file.iter().any(|p| code.starts_with(p.as_str())) {
            return true;
        }
        match self.lines.get(&line) {
            Some(codes) => codes.is_empty() || codes.iter().any(|c| code.starts_with(c.as_str())),
            None => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModuleModel {
    pub rel: String,
    /// Directory part of `rel` ("" at the root).
    pub dir: String,
    pub is_conftest: bool,
    pub imports: Imports,
    /// Dotted module name guessed from the path (`tests.test_a`).
    pub dotted: String,
    /// Module-level `NAME = value` assignments (last one wins).
    pub constants: HashMap<String, Expr>,
    /// Module-level functions by name (helpers tests call).
    pub functions: HashMap<String, Arc<Function>>,
    pub fixtures: Vec<Fixture>,
    pub tests: Vec<Test>,
    pub hooks: Vec<Hook>,
    pub module_markers: Vec<Marker>,
    pub suppressions: Suppressions,
    pub uses_pytest: bool,
    /// `from x import *` at module level: names may come from anywhere.
    pub star_import: bool,
    /// Names of module-level classes (their attributes are process-wide).
    pub classes: BTreeSet<String>,
    /// Class-body assignments of module-level classes: class -> name -> value.
    pub class_attrs: HashMap<String, HashMap<String, Expr>>,
    /// Module-level class definitions, for method summaries and bases.
    pub class_defs: HashMap<String, Arc<Class>>,
    /// A project module the tests import (a helper or application code),
    /// read for its constants and helpers, never collected.
    pub support: bool,
    /// A support module outside the test tree (application code).
    pub application: bool,
    /// Top-level bindings, read across modules when collecting.
    pub namespace: Namespace,
    /// Fixtures defined elsewhere that this module's namespace (or one of
    /// its test classes) holds.
    pub linked: Vec<LinkedFixture>,
    /// Loaded through `pytest_plugins` or `-p`: its fixtures and hooks apply
    /// to the whole session.
    pub plugin: bool,
    /// A star import or `pytest_plugins` entry names a module isoaudit cannot
    /// read: fixture names may come from there.
    pub open_imports: bool,
}

impl ModuleModel {
    /// Records this module's index in the suite on everything it holds.
    pub fn set_index(&mut self, index: usize) {
        for f in &mut self.fixtures {
            f.module = index;
        }
        for t in &mut self.tests {
            t.module = index;
            t.collector = index;
        }
    }
}

impl Marker {
    /// The module the marker is written in: the test's, or a conftest's for
    /// markers a hook adds.
    pub fn site_module(&self, test_module: usize) -> usize {
        match self.site {
            MarkerSite::Hook { module, .. } => module,
            _ => self.module.unwrap_or(test_module),
        }
    }
}

/// Recognises pytest's collection names (`python_functions` etc.): a plain
/// entry is a prefix, one with glob characters is an fnmatch pattern.
#[derive(Debug, Clone)]
pub struct NameRules {
    functions: Vec<Matcher>,
    classes: Vec<Matcher>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Prefix(String),
    Glob(globset::GlobMatcher),
}

impl Matcher {
    fn new(p: &str) -> Matcher {
        if p.contains(['*', '?', '[']) {
            match globset::Glob::new(p) {
                Ok(g) => Matcher::Glob(g.compile_matcher()),
                Err(_) => Matcher::Prefix(p.to_string()),
            }
        } else {
            Matcher::Prefix(p.to_string())
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Prefix(p) => name.starts_with(p.as_str()),
            Matcher::Glob(g) => g.is_match(name),
        }
    }
}

impl NameRules {
    pub fn new(ini: &PytestIni) -> Self {
        NameRules {
            functions: ini
                .python_functions
                .iter()
                .map(|p| Matcher::new(p))
                .collect(),
            classes: ini.python_classes.iter().map(|p| Matcher::new(p)).collect(),
        }
    }

    pub fn is_test_function(&self, name: &str) -> bool {
        self.functions.iter().any(|m| m.matches(name))
    }

    pub fn is_test_class(&self, name: &str) -> bool {
        self.classes.iter().any(|m| m.matches(name))
    }
}

/// What a module's top level binds, as pytest sees it after import: the
/// final binding of each name, star imports, `__all__`, `pytest_plugins`,
/// `collect_ignore`. Read across modules by `collect` to find fixtures, test
/// classes, test functions and xunit functions wherever they are defined.
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    /// Final module-level binding of each name.
    pub names: HashMap<String, Binding>,
    /// `__all__` when it is a literal list or tuple of strings.
    pub all: Option<Vec<String>>,
    /// `from X import *` sources (qualified, relative imports resolved).
    pub stars: Vec<String>,
    /// `pytest_plugins = "a"` / `["a", "b"]`.
    pub plugins: Vec<String>,
    /// `collect_ignore` and `collect_ignore_glob` entries (conftest files).
    pub collect_ignore: Vec<Guarded>,
    pub collect_ignore_glob: Vec<Guarded>,
    /// The `if` conditions around the statement being bound.
    guards: Vec<(Span, bool)>,
    /// `__test__ = False` at module level.
    pub disabled: bool,
    /// Parameter names of every function and method, and `usefixtures`
    /// strings: the names a fixture imported here could be requested by.
    pub requested: BTreeSet<String>,
    /// Where each name is first bound (byte offset): pytest collects a
    /// module's names in that order.
    pub first_seen: HashMap<String, u32>,
}

/// A value added under `if` conditions: each condition's span and whether
/// it must hold (`false` in the `else` branch).
#[derive(Debug, Clone, PartialEq)]
pub struct Guarded {
    pub value: String,
    pub when: Vec<(Span, bool)>,
}

#[derive(Debug, Clone)]
pub enum Binding {
    Function(Arc<Function>),
    Class(Arc<Class>),
    /// `import a.b as c` / `from a import b`: the qualified target.
    Import(String),
    /// `name = value`.
    Value(Expr),
}

/// A fixture made visible in a namespace other than where it is defined:
/// imported into a module or conftest (`class: None`), or a fixture or xunit
/// method a test class gets from one of its bases (`class: Some(path)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedFixture {
    pub class: Option<String>,
    pub module: usize,
    pub index: usize,
}

/// Reads one module's decorators, markers and signatures: its imports and
/// constants resolve names, its relative path names what it defines.
pub(crate) struct Ctx<'a> {
    pub imports: &'a Imports,
    pub constants: &'a HashMap<String, Expr>,
    pub rel: &'a str,
    pub module: usize,
}

/// What a decorator or marker expression is, after import resolution.
enum DecoratorKind {
    Fixture { call: Option<Call> },
    Mark(Marker),
    Other,
}

impl<'a> Ctx<'a> {
    pub fn of(m: &'a ModuleModel, module: usize) -> Self {
        Ctx {
            imports: &m.imports,
            constants: &m.constants,
            rel: &m.rel,
            module,
        }
    }

    pub fn qualify(&self, e: &Expr) -> Option<String> {
        let q = self.imports.qualify(e)?;
        // A module-level alias (`isolation = pytest.mark.isolation`).
        if let ExprKind::Name(n) = &e.kind {
            if !self.imports.is_imported(n) {
                if let Some(v) = self.constants.get(n.as_str()) {
                    if let Some(inner) = self.imports.qualify(v) {
                        if inner.starts_with("pytest.") {
                            return Some(inner);
                        }
                    }
                }
            }
        }
        Some(q)
    }

    fn decorator_kind(
        &self,
        expr: &Expr,
        span: Span,
        level: MarkerLevel,
        depth: u32,
    ) -> DecoratorKind {
        // `params = pytest.mark.parametrize(...)` then `@params`.
        if let ExprKind::Name(n) = &expr.kind {
            if !self.imports.is_imported(n) && depth < 8 {
                if let Some(value) = self.constants.get(n.as_str()) {
                    if matches!(value.kind, ExprKind::Call(_)) {
                        return self.decorator_kind(value, span, level, depth + 1);
                    }
                }
            }
        }
        let (callee, call) = match &expr.kind {
            ExprKind::Call(c) => (&c.func, Some((**c).clone())),
            _ => (expr, None),
        };
        let Some(q) = self.qualify(callee) else {
            return DecoratorKind::Other;
        };
        match q.as_str() {
            "pytest.fixture" | "_pytest.fixtures.fixture" | "pytest_asyncio.fixture" => {
                return DecoratorKind::Fixture { call }
            }
            _ => {}
        }
        match marker_from(&q, call.as_ref(), span, level) {
            Some(m) => DecoratorKind::Mark(Marker {
                site: MarkerSite::Decorator(span),
                ..m
            }),
            None => DecoratorKind::Other,
        }
    }

    /// Markers of a `pytestmark = ...` value.
    pub fn pytestmark(&self, value: &Expr, stmt_span: Span, level: MarkerLevel) -> Vec<Marker> {
        let elems: Vec<&Expr> = match &value.kind {
            ExprKind::List(v) | ExprKind::Tuple(v) => v.iter().collect(),
            _ => vec![value],
        };
        let is_list = matches!(value.kind, ExprKind::List(_) | ExprKind::Tuple(_));
        let len = elems.len();
        elems
            .into_iter()
            .filter_map(|e| {
                let (callee, call) = match &e.kind {
                    ExprKind::Call(c) => (&c.func, Some(&**c)),
                    _ => (e, None),
                };
                let q = self.qualify(callee)?;
                let m = marker_from(&q, call, e.span, level)?;
                let site = if is_list {
                    MarkerSite::ListElement {
                        element: e.span,
                        statement: stmt_span,
                        len,
                    }
                } else {
                    MarkerSite::Assignment(stmt_span)
                };
                Some(Marker { site, ..m })
            })
            .collect()
    }

    /// Markers a class carries: its decorators and its `pytestmark`.
    pub fn class_markers(&self, c: &Class) -> Vec<Marker> {
        let mut out: Vec<Marker> = c
            .decorators
            .iter()
            .filter_map(
                |d| match self.decorator_kind(&d.expr, d.span, MarkerLevel::Class, 0) {
                    DecoratorKind::Mark(m) => Some(m),
                    _ => None,
                },
            )
            .collect();
        for stmt in &c.body {
            if let StmtKind::Assign { targets, value } = &stmt.kind {
                if targets
                    .iter()
                    .any(|t| matches!(&t.kind, ExprKind::Name(n) if n == "pytestmark"))
                {
                    out.extend(self.pytestmark(value, stmt.span, MarkerLevel::Class));
                }
            }
        }
        out
    }

    fn function_markers(&self, f: &Function, level: MarkerLevel) -> Vec<Marker> {
        f.decorators
            .iter()
            .filter_map(|d| match self.decorator_kind(&d.expr, d.span, level, 0) {
                DecoratorKind::Mark(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    pub fn is_fixture(&self, f: &Function) -> bool {
        f.decorators.iter().any(|d| {
            matches!(
                self.decorator_kind(&d.expr, d.span, MarkerLevel::Function, 0),
                DecoratorKind::Fixture { .. }
            )
        })
    }

    /// The fixture `f` declares, defined at module level (`class: None`) or
    /// in the class at `class` of this module.
    pub fn fixture_of(&self, f: &Arc<Function>, class: Option<&str>) -> Option<Fixture> {
        let call = f.decorators.iter().find_map(|d| {
            match self.decorator_kind(&d.expr, d.span, MarkerLevel::Function, 0) {
                DecoratorKind::Fixture { call } => Some(call),
                _ => None,
            }
        })?;
        let kw = |name: &str| call.as_ref().and_then(|c| c.keyword(name));
        let scope = match kw("scope") {
            Some(e) => e.as_str().and_then(Scope::parse).unwrap_or(Scope::Function),
            None => call
                .as_ref()
                .and_then(|c| c.args.first())
                .and_then(|e| e.as_str())
                .and_then(Scope::parse)
                .unwrap_or(Scope::Function),
        };
        let autouse = matches!(kw("autouse").map(|e| &e.kind), Some(ExprKind::Bool(true)));
        let params = kw("params").is_some();
        let name = kw("name")
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| f.name.to_string());
        let requests = requested_params(f, class.is_some(), &[], self.imports);
        let id = match class {
            Some(c) => format!("{}::{}::{}", self.rel, c, name),
            None => format!("{}::{}", self.rel, name),
        };
        Some(Fixture {
            name,
            id,
            module: self.module,
            class: class.map(str::to_string),
            func: Arc::clone(f),
            scope,
            autouse,
            params,
            is_yield: contains_yield(&f.body),
            requests,
            dynamic_requests: getfixturevalue_names(&f.body),
            span: f.name_span,
            synthetic: false,
            only_linked: false,
            only_functions: false,
        })
    }

    /// The test for `f` (defined in this module) collected as `nodeid`, with
    /// the markers of its class and module (`inherited`) after its own.
    pub fn make_test(
        &self,
        f: &Arc<Function>,
        nodeid: String,
        class: Option<&str>,
        inherited: &[Marker],
        unittest: bool,
        collector: usize,
    ) -> Test {
        let mut markers = self.function_markers(f, MarkerLevel::Function);
        markers.extend(inherited.iter().cloned());
        let mut parametrize = Vec::new();
        let mut usefixtures = Vec::new();
        for m in &markers {
            match m.name.as_str() {
                "parametrize" => {
                    let names = m.args.first().map(|a| argnames(a)).unwrap_or_default();
                    let indirect = m
                        .keywords
                        .iter()
                        .any(|(k, v)| k == "indirect" && !matches!(v.kind, ExprKind::Bool(false)));
                    parametrize.push(Parametrize {
                        argnames: names,
                        values: m.args.get(1).cloned().or_else(|| {
                            m.keywords
                                .iter()
                                .find(|(k, _)| k == "argvalues")
                                .map(|(_, v)| v.clone())
                        }),
                        indirect,
                        span: m.span,
                    });
                }
                "usefixtures" => usefixtures.extend(m.str_args.iter().cloned()),
                _ => {}
            }
        }
        // Project-specific parametrizing decorators (`@combinations(...,
        // argnames="a,b")`) name their arguments the same way.
        for d in &f.decorators {
            if let ExprKind::Call(c) = &d.expr.kind {
                if let Some(names) = c.keyword("argnames") {
                    parametrize.push(Parametrize {
                        argnames: argnames(names),
                        values: None,
                        indirect: false,
                        span: d.span,
                    });
                }
            }
        }
        let direct: Vec<String> = parametrize
            .iter()
            .filter(|p| !p.indirect)
            .flat_map(|p| p.argnames.iter().cloned())
            .collect();
        let requests = if unittest {
            Vec::new()
        } else {
            requested_params(f, class.is_some(), &direct, self.imports)
        };
        // `request.getfixturevalue(name)` over a parametrized list of names.
        let mut dynamic_requests = getfixturevalue_names(&f.body);
        for arg in getfixturevalue_args(&f.body) {
            for p in &parametrize {
                let Some(pos) = p.argnames.iter().position(|a| *a == arg) else {
                    continue;
                };
                if let Some(ExprKind::List(items) | ExprKind::Tuple(items)) =
                    p.values.as_ref().map(|v| &v.kind)
                {
                    for it in items {
                        let value = match &it.kind {
                            ExprKind::Tuple(parts) if p.argnames.len() > 1 => parts.get(pos),
                            _ => Some(it),
                        };
                        if let Some(name) = value.and_then(|v| v.as_str()) {
                            dynamic_requests.push(name.to_string());
                        }
                    }
                }
            }
        }
        dynamic_requests.sort();
        dynamic_requests.dedup();
        Test {
            nodeid,
            name: f.name.to_string(),
            module: self.module,
            collector,
            class: class.map(str::to_string),
            func: Arc::clone(f),
            requests,
            dynamic_requests,
            usefixtures,
            markers,
            parametrize,
            is_unittest: unittest,
            external_base: false,
            span: f.name_span,
        }
    }
}

/// A synthetic autouse yield fixture standing for xunit-style setup and
/// teardown (`setup_method`, `setUpClass`, `setup_module`, ...): the setup
/// body, a `yield`, then the teardown body, so facts and restores read it
/// like any fixture. Either half may be missing.
pub(crate) fn xunit_fixture(
    rel: &str,
    module: usize,
    class: Option<&str>,
    setup: Option<&Arc<Function>>,
    teardown: Option<&Arc<Function>>,
    scope: Scope,
) -> Option<Fixture> {
    let first = setup.or(teardown)?;
    let mut body = setup.map(|s| s.body.clone()).unwrap_or_default();
    body.push(Stmt {
        kind: StmtKind::Expr(Expr {
            kind: ExprKind::Yield(None),
            span: first.span,
        }),
        span: first.span,
    });
    if let Some(t) = teardown {
        body.extend(t.body.iter().cloned());
    }
    let func = Function {
        body,
        ..(**first).clone()
    };
    let name = first.name.clone();
    Some(Fixture {
        id: match class {
            Some(c) => format!("{rel}::{c}::{name}"),
            None => format!("{rel}::{name}"),
        },
        name: name.to_string(),
        module,
        class: class.map(str::to_string),
        func: Arc::new(func),
        scope,
        autouse: true,
        params: false,
        is_yield: true,
        requests: Vec::new(),
        dynamic_requests: Vec::new(),
        span: first.name_span,
        synthetic: true,
        only_linked: false,
        only_functions: false,
    })
}

/// The module's namespace: last binding per name, in statement order,
/// through `if`/`try`/`with` blocks.
fn namespace(body: &[Stmt], imports_dotted: &str) -> Namespace {
    let mut ns = Namespace::default();
    bind_block(body, imports_dotted, &mut ns, 0);
    ns.disabled = is_test_disabled(body);
    let mut requested = BTreeSet::new();
    collect_requested(body, &mut requested, 0);
    ns.requested = requested;
    ns
}

fn str_list(e: &Expr) -> Vec<String> {
    match &e.kind {
        ExprKind::Str(s) => vec![s.to_string()],
        ExprKind::List(v) | ExprKind::Tuple(v) => v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        ExprKind::BinOp {
            left,
            op: BinOp::Add,
            right,
        } => {
            let mut out = str_list(left);
            out.extend(str_list(right));
            out
        }
        _ => Vec::new(),
    }
}

fn bind_block(body: &[Stmt], dotted: &str, ns: &mut Namespace, depth: usize) {
    if depth > 16 {
        return;
    }
    for stmt in body {
        bind_stmt(stmt, dotted, ns, depth);
    }
}

impl Namespace {
    fn guarded(&self, values: Vec<String>) -> Vec<Guarded> {
        values
            .into_iter()
            .map(|value| Guarded {
                value,
                when: self.guards.clone(),
            })
            .collect()
    }

    fn bind(&mut self, name: String, binding: Binding, at: u32) {
        self.first_seen.entry(name.clone()).or_insert(at);
        self.names.insert(name, binding);
    }
}

fn bind_stmt(stmt: &Stmt, dotted: &str, ns: &mut Namespace, depth: usize) {
    {
        match &stmt.kind {
            StmtKind::FunctionDef(f) => {
                ns.bind(
                    f.name.to_string(),
                    Binding::Function(Arc::clone(f)),
                    stmt.span.start,
                );
            }
            StmtKind::ClassDef(c) => {
                ns.bind(
                    c.name.to_string(),
                    Binding::Class(Arc::clone(c)),
                    stmt.span.start,
                );
            }
            StmtKind::Import(aliases) => {
                for a in aliases {
                    let (local, target) = match &a.asname {
                        Some(as_) => (as_.to_string(), a.name.to_string()),
                        None => {
                            let first = a.name.split('.').next().unwrap_or(&a.name).to_string();
                            (first.clone(), first)
                        }
                    };
                    ns.bind(local, Binding::Import(target), stmt.span.start);
                }
            }
            StmtKind::ImportFrom {
                module,
                level,
                names,
            } => {
                let dots = ".".repeat(*level as usize);
                let base = match module {
                    Some(m) => format!("{dots}{m}"),
                    None => dots.clone(),
                };
                for a in names {
                    if a.name == "*" {
                        ns.stars
                            .push(super::imports::resolve_relative_name(&base, dotted));
                        continue;
                    }
                    let local = a.asname.clone().unwrap_or_else(|| a.name.clone());
                    let target = if module.is_some() {
                        format!("{base}.{}", a.name)
                    } else {
                        format!("{base}{}", a.name)
                    };
                    ns.bind(
                        local.to_string(),
                        Binding::Import(super::imports::resolve_relative_name(&target, dotted)),
                        stmt.span.start,
                    );
                }
            }
            StmtKind::Assign { targets, value } => {
                for t in targets {
                    if let ExprKind::Name(n) = &t.kind {
                        match n.as_str() {
                            "__all__" => ns.all = Some(str_list(value)),
                            "pytest_plugins" => ns.plugins = str_list(value),
                            "collect_ignore" => ns.collect_ignore = ns.guarded(str_list(value)),
                            "collect_ignore_glob" => {
                                ns.collect_ignore_glob = ns.guarded(str_list(value))
                            }
                            _ => {}
                        }
                        ns.bind(
                            n.to_string(),
                            Binding::Value(value.clone()),
                            stmt.span.start,
                        );
                    }
                }
            }
            StmtKind::AnnAssign {
                target,
                value: Some(value),
            } => {
                if let ExprKind::Name(n) = &target.kind {
                    match n.as_str() {
                        "__all__" => ns.all = Some(str_list(value)),
                        "pytest_plugins" => ns.plugins = str_list(value),
                        "collect_ignore" => ns.collect_ignore = ns.guarded(str_list(value)),
                        "collect_ignore_glob" => {
                            ns.collect_ignore_glob = ns.guarded(str_list(value))
                        }
                        _ => {}
                    }
                    ns.bind(
                        n.to_string(),
                        Binding::Value((**value).clone()),
                        stmt.span.start,
                    );
                }
            }
            StmtKind::AugAssign { target, value } => {
                if let ExprKind::Name(n) = &target.kind {
                    match n.as_str() {
                        "__all__" => ns.all.get_or_insert_with(Vec::new).extend(str_list(value)),
                        "collect_ignore" => {
                            let items = ns.guarded(str_list(value));
                            ns.collect_ignore.extend(items)
                        }
                        "collect_ignore_glob" => {
                            let items = ns.guarded(str_list(value));
                            ns.collect_ignore_glob.extend(items)
                        }
                        "pytest_plugins" => ns.plugins.extend(str_list(value)),
                        _ => {}
                    }
                }
            }
            StmtKind::Expr(e) => {
                // `collect_ignore.append("x")` / `__all__.extend([...])`.
                if let ExprKind::Call(c) = &e.kind {
                    if let ExprKind::Attribute { value, attr } = &c.func.kind {
                        if let ExprKind::Name(n) = &value.kind {
                            let items: Vec<String> = c.args.iter().flat_map(str_list).collect();
                            if attr == "append" || attr == "extend" {
                                match n.as_str() {
                                    "collect_ignore" => {
                                        let items = ns.guarded(items);
                                        ns.collect_ignore.extend(items)
                                    }
                                    "collect_ignore_glob" => {
                                        let items = ns.guarded(items);
                                        ns.collect_ignore_glob.extend(items)
                                    }
                                    "__all__" => ns.all.get_or_insert_with(Vec::new).extend(items),
                                    _ => {}
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        match &stmt.kind {
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
            // The `except ImportError:` fallback binds only when the body
            // fails; the body's bindings are what a working install sees.
            StmtKind::If { test, body, orelse } => {
                ns.guards.push((test.span, true));
                bind_block(body, dotted, ns, depth + 1);
                ns.guards.pop();
                ns.guards.push((test.span, false));
                bind_block(orelse, dotted, ns, depth + 1);
                ns.guards.pop();
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                for h in handlers {
                    bind_block(h, dotted, ns, depth + 1);
                }
                for b in [&body[..], &orelse[..], &finalbody[..]] {
                    bind_block(b, dotted, ns, depth + 1);
                }
            }
            _ => {
                for block in stmt.blocks() {
                    bind_block(block, dotted, ns, depth + 1);
                }
            }
        }
    }
}

/// Parameter names of functions and methods (nested classes included) and
/// the strings of `usefixtures(...)` calls.
fn collect_requested(body: &[Stmt], out: &mut BTreeSet<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(f) => {
                out.extend(f.params.iter().map(|p| p.name.to_string()));
                for d in &f.decorators {
                    usefixtures_strings(&d.expr, out);
                }
            }
            StmtKind::ClassDef(c) => {
                for d in &c.decorators {
                    usefixtures_strings(&d.expr, out);
                }
                collect_requested(&c.body, out, depth + 1);
            }
            _ => {
                for e in stmt.exprs() {
                    usefixtures_strings(e, out);
                }
                for block in stmt.blocks() {
                    collect_requested(block, out, depth + 1);
                }
            }
        }
    }
}

fn usefixtures_strings(e: &Expr, out: &mut BTreeSet<String>) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        if let ExprKind::Call(c) = &e.kind {
            if matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr == "usefixtures") {
                out.extend(c.args.iter().filter_map(|a| a.as_str().map(str::to_string)));
            }
        }
        stack.extend(e.children());
    }
}

/// Indexes of the statements that hold the final binding of their name
/// (pytest sees only the last `def` of a name).
fn last_bindings(body: &[Stmt]) -> BTreeSet<usize> {
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

/// `__test__ = False` in a module or class body.
fn is_test_disabled(body: &[Stmt]) -> bool {
    body.iter().any(|s| match &s.kind {
        StmtKind::Assign { targets, value } => {
            targets
                .iter()
                .any(|t| matches!(&t.kind, ExprKind::Name(n) if n == "__test__"))
                && matches!(value.kind, ExprKind::Bool(false))
        }
        _ => false,
    })
}

/// `pytest.mark.NAME(...)` -> a marker (site filled in by the caller).
fn marker_from(q: &str, call: Option<&Call>, span: Span, level: MarkerLevel) -> Option<Marker> {
    let name = q.strip_prefix("pytest.mark.")?;
    if name.contains('.') {
        return None;
    }
    let (args, keywords) = match call {
        Some(c) => (
            c.args.iter().cloned().map(Arc::new).collect(),
            c.keywords
                .iter()
                .filter_map(|k| Some((k.name.as_ref()?.to_string(), Arc::new(k.value.clone()))))
                .collect::<Vec<_>>(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let reason = keywords
        .iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| expr_text(v))
        .or_else(|| {
            // `@pytest.mark.serial("needs the shared Neo4j")`
            if name != "parametrize" && name != "usefixtures" {
                args.first().and_then(|a| a.as_str()).map(str::to_string)
            } else {
                None
            }
        });
    let str_args = args
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    Some(Marker {
        name: name.to_string(),
        level,
        reason,
        call: call.map(|_| span),
        span,
        site: MarkerSite::Decorator(span),
        str_args,
        args,
        keywords,
        module: None,
    })
}

fn expr_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => s.to_string(),
        ExprKind::FString(parts) => parts
            .iter()
            .map(|p| match p {
                FPart::Lit(s) => s.as_str(),
                FPart::Expr(_) => "{...}",
            })
            .collect(),
        _ => "<expression>".to_string(),
    }
}

/// `"a, b"` / `("a", "b")` / `["a", "b"]` -> names.
fn argnames(e: &Expr) -> Vec<String> {
    match &e.kind {
        ExprKind::Str(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        ExprKind::List(v) | ExprKind::Tuple(v) => v
            .iter()
            .filter_map(|x| x.as_str().map(|s| s.trim().to_string()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Fixture names a function requests through its signature: parameters
/// without defaults, minus `self`/`cls` on methods and parametrize argnames.
/// Arguments supplied by decorators rather than by fixtures: `mock.patch`
/// mocks fill positional parameters from the left (pytest skips them too),
/// `hypothesis.given` strategies fill keywords and the rightmost positionals.
struct Injected {
    leading: usize,
    trailing: usize,
    named: Vec<String>,
}

fn injected_args(f: &Function, imports: &Imports) -> Injected {
    let mut inj = Injected {
        leading: 0,
        trailing: 0,
        named: Vec::new(),
    };
    for d in &f.decorators {
        let ExprKind::Call(c) = &d.expr.kind else {
            continue;
        };
        let Some(q) = imports.qualify(&c.func) else {
            continue;
        };
        let q = q.trim_start_matches("unittest.");
        match q {
            "mock.patch" if c.args.len() < 2 && c.keyword("new").is_none() => inj.leading += 1,
            "mock.patch.object" if c.args.len() < 3 && c.keyword("new").is_none() => {
                inj.leading += 1
            }
            "hypothesis.given" => {
                inj.trailing += c.args.len();
                inj.named.extend(
                    c.keywords
                        .iter()
                        .filter_map(|k| k.name.as_ref().map(|n| n.to_string())),
                );
            }
            _ => {}
        }
    }
    inj
}

fn requested_params(
    f: &Function,
    is_method: bool,
    exclude: &[String],
    imports: &Imports,
) -> Vec<String> {
    let is_static = f
        .decorators
        .iter()
        .any(|d| matches!(d.expr.dotted().as_deref(), Some(["staticmethod"])));
    let inj = injected_args(f, imports);
    let mut positional: Vec<&Param> = Vec::new();
    let mut out = Vec::new();
    for (i, p) in f.params.iter().enumerate() {
        if i == 0 && is_method && !is_static && p.kind == ParamKind::Positional {
            continue;
        }
        if matches!(p.kind, ParamKind::VarArgs | ParamKind::VarKw) || p.default.is_some() {
            continue;
        }
        if exclude.iter().any(|e| e == p.name) || inj.named.iter().any(|e| e == p.name) {
            continue;
        }
        if p.kind == ParamKind::Positional {
            positional.push(p);
        } else {
            out.push(p.name.to_string());
        }
    }
    let end = positional.len().saturating_sub(inj.trailing);
    let start = inj.leading.min(end);
    let mut names: Vec<String> = positional[start..end]
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    names.extend(out);
    names
}

/// The first arguments of `request.getfixturevalue(...)` calls in a body,
/// on the body's own `request` fixture (not another item's request, as
/// `item._request` of an item a test builds).
fn getfixturevalue_calls(body: &[Stmt]) -> Vec<&Expr> {
    let mut out = Vec::new();
    visit_exprs(body, &mut |e| {
        if let ExprKind::Call(c) = &e.kind {
            if matches!(&c.func.kind, ExprKind::Attribute { attr, value }
                if attr == "getfixturevalue"
                    && matches!(&value.kind, ExprKind::Name(n) if n == "request"))
            {
                out.extend(c.args.first());
            }
        }
    });
    out
}

/// Plain names passed to `request.getfixturevalue(name)` in a body.
fn getfixturevalue_args(body: &[Stmt]) -> Vec<String> {
    getfixturevalue_calls(body)
        .into_iter()
        .filter_map(|a| match &a.kind {
            ExprKind::Name(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// Literal names passed to `request.getfixturevalue(...)` in a body.
pub fn getfixturevalue_names(body: &[Stmt]) -> Vec<String> {
    let mut out: Vec<String> = getfixturevalue_calls(body)
        .into_iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

pub fn contains_yield(body: &[Stmt]) -> bool {
    fn expr_has(e: &Expr) -> bool {
        matches!(e.kind, ExprKind::Yield(_)) || e.children().into_iter().any(expr_has)
    }
    body.iter().any(|s| {
        if matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            return false;
        }
        s.exprs().into_iter().any(expr_has) || s.blocks().into_iter().any(contains_yield)
    })
}

/// `# isoaudit: ignore[ISO101, ISO2]`, `# isoaudit: ignore`,
/// `# isoaudit: file-ignore[ISO4]`.
fn suppressions(module: &Module, source: &crate::python::SourceText) -> Suppressions {
    let mut s = Suppressions::default();
    for c in &module.comments {
        let text = c.text.trim_start_matches('#').trim();
        let Some(rest) = text.strip_prefix("isoaudit:") else {
            continue;
        };
        let rest = rest.trim();
        let (file, rest) = match rest.strip_prefix("file-ignore") {
            Some(r) => (true, r),
            None => match rest.strip_prefix("ignore") {
                Some(r) => (false, r),
                None => continue,
            },
        };
        let codes: Vec<String> = rest
            .trim()
            .strip_prefix('[')
            .and_then(|r| r.split(']').next())
            .map(|inner| {
                inner
                    .split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if file {
            if codes.is_empty() {
                s.file.push("ISO".to_string());
            } else {
                s.file.extend(codes);
            }
        } else {
            let (line, _) = source.line_col(c.span.start as usize);
            s.lines.entry(line).or_default().extend(codes);
        }
    }
    s
}

/// Extracts the model of one parsed module: what it defines at module level
/// (fixtures, hooks, test functions, markers) and its namespace. Test
/// classes, imported names and xunit functions are collected by
/// [`super::collect::link`] once every module is known.
pub fn extract(
    index: usize,
    rel: &str,
    is_conftest: bool,
    module: &Module,
    source: &crate::python::SourceText,
    rules: &NameRules,
) -> ModuleModel {
    let dotted = rel.trim_end_matches(".py").replace('/', ".");
    let mut imports = Imports::from_body(&module.body);
    imports.resolve_relative(&dotted);
    let body = &module.body;
    let mut constants: HashMap<String, Expr> = HashMap::new();
    let mut classes: HashMap<String, Arc<Class>> = HashMap::new();
    // Constants first so aliases resolve whatever the order.
    for stmt in body {
        match &stmt.kind {
            StmtKind::Assign { targets, value } => {
                for t in targets {
                    if let ExprKind::Name(n) = &t.kind {
                        constants.insert(n.to_string(), value.clone());
                    }
                }
            }
            StmtKind::AnnAssign {
                target,
                value: Some(value),
            } => {
                if let ExprKind::Name(n) = &target.kind {
                    constants.insert(n.to_string(), (**value).clone());
                }
            }
            StmtKind::ClassDef(c) => {
                classes.insert(c.name.to_string(), Arc::clone(c));
            }
            _ => {}
        }
    }
    let ctx = Ctx {
        imports: &imports,
        constants: &constants,
        rel,
        module: index,
    };
    let mut module_markers = Vec::new();
    for stmt in body {
        if let StmtKind::Assign { targets, value } = &stmt.kind {
            if targets
                .iter()
                .any(|t| matches!(&t.kind, ExprKind::Name(n) if n == "pytestmark"))
            {
                module_markers.extend(ctx.pytestmark(value, stmt.span, MarkerLevel::Module));
            }
        }
    }
    let mut fixtures: Vec<Fixture> = Vec::new();
    let mut hooks = Vec::new();
    let mut tests = Vec::new();
    if !is_test_disabled(body) {
        let live = last_bindings(body);
        for (i, stmt) in body.iter().enumerate() {
            if !live.contains(&i) {
                continue;
            }
            if let StmtKind::FunctionDef(f) = &stmt.kind {
                if let Some(fx) = ctx.fixture_of(f, None) {
                    fixtures.push(fx);
                } else if f.name.starts_with("pytest_") {
                    hooks.push(Hook {
                        name: f.name.to_string(),
                        func: Arc::clone(f),
                    });
                } else if rules.is_test_function(&f.name) && !is_conftest {
                    tests.push(ctx.make_test(
                        f,
                        format!("{rel}::{}", f.name),
                        None,
                        &module_markers,
                        false,
                        index,
                    ));
                }
            }
        }
    }
    // `alias = some_fixture` registers the same fixture under a second name.
    let mut aliases = Vec::new();
    for (alias, value) in &constants {
        if let ExprKind::Name(target) = &value.kind {
            if let Some(f) = fixtures
                .iter()
                .find(|f| f.class.is_none() && f.name == target)
            {
                if !fixtures.iter().any(|g| &g.name == alias) {
                    let mut copy = f.clone();
                    copy.name = alias.clone();
                    copy.id = format!("{}::{}", rel, alias);
                    aliases.push(copy);
                }
            }
        }
    }
    aliases.sort_by(|a, b| a.name.cmp(&b.name));
    fixtures.extend(aliases);
    // Helpers only: tests, fixtures and hooks are kept elsewhere already.
    let functions = body
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::FunctionDef(f)
                if !rules.is_test_function(&f.name)
                    && !f.name.starts_with("pytest_")
                    && !fixtures.iter().any(|x| x.func.span == f.span) =>
            {
                Some((f.name.to_string(), Arc::clone(f)))
            }
            _ => None,
        })
        .collect();
    let dir = rel
        .rsplit_once('/')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    let uses_pytest = imports.get("pytest").is_some()
        || body.iter().any(
            |s| matches!(&s.kind, StmtKind::ImportFrom { module: Some(m), .. } if m == "pytest"),
        );
    let class_attrs = classes
        .iter()
        .map(|(name, c)| {
            let attrs = c
                .body
                .iter()
                .filter_map(|s| match &s.kind {
                    StmtKind::Assign { targets, value } => match targets.first().map(|t| &t.kind) {
                        Some(ExprKind::Name(n)) => Some((n.to_string(), value.clone())),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            (name.clone(), attrs)
        })
        .collect();
    ModuleModel {
        rel: rel.to_string(),
        dir,
        is_conftest,
        namespace: namespace(body, &dotted),
        dotted,
        constants,
        functions,
        fixtures,
        tests,
        hooks,
        module_markers,
        suppressions: suppressions(module, source),
        uses_pytest,
        classes: classes.keys().cloned().collect(),
        class_attrs,
        class_defs: classes.clone(),
        support: false,
        application: false,
        star_import: body.iter().any(|s| {
            matches!(&s.kind, StmtKind::ImportFrom { names, .. } if names.iter().any(|a| a.name == "*"))
        }),
        imports,
        linked: Vec::new(),
        plugin: false,
        open_imports: false,
    }
}

/// Counts of what was collected (for summaries).
pub fn count_tests(modules: &[ModuleModel]) -> usize {
    modules.iter().map(|m| m.tests.len()).sum()
}

/// Registered-marker names from ini `markers` lines.
pub fn registered_markers(ini: &PytestIni) -> BTreeMap<String, String> {
    ini.markers
        .iter()
        .map(|(n, d)| {
            (
                n.split('(').next().unwrap_or(n).trim().to_string(),
                d.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::parse;

    fn model(src: &str) -> ModuleModel {
        let p = parse(src.to_string());
        let ini = PytestIni::default();
        let rules = NameRules::new(&ini);
        let m = extract(0, "tests/test_m.py", false, &p.module, &p.source, &rules);
        let mut modules = vec![m];
        super::super::collect::link(
            std::path::Path::new("/nonexistent"),
            &mut modules,
            &rules,
            &ini,
        );
        modules.pop().unwrap()
    }

    #[test]
    fn collects_like_pytest() {
        let m = model(
            r#"
import pytest as pt
from pytest import fixture as fx, mark
import unittest

pytestmark = [pt.mark.integration, mark.isolation(reason="shared neo4j")]

@fx(scope="session", autouse=True)
def db(tmp_path_factory):
    yield 1

@pt.fixture(name="renamed")
def _impl(request):
    return 2

@mark.parametrize("a, b", [(1, 2)])
@pt.mark.usefixtures("db")
def test_one(a, b, renamed, tmp_path, opt=3):
    pass

class TestGroup:
    @pt.fixture
    def local(self):
        return 1
    def test_m(self, local):
        pass
    class TestInner:
        def test_n(self):
            pass

class TestWithInit:
    def __init__(self):
        pass
    def test_skipped(self):
        pass

class Legacy(unittest.TestCase):
    def setUp(self):
        self.x = 1
    def tearDown(self):
        pass
    def test_u(self):
        pass

def helper():
    pass
"#,
        );
        let ids: Vec<_> = m.tests.iter().map(|t| t.nodeid.as_str()).collect();
        assert_eq!(
            ids,
            [
                "tests/test_m.py::test_one",
                "tests/test_m.py::TestGroup::test_m",
                "tests/test_m.py::TestGroup::TestInner::test_n",
                "tests/test_m.py::Legacy::test_u",
            ]
        );
        let t = &m.tests[0];
        assert_eq!(t.requests, ["renamed", "tmp_path"]);
        assert_eq!(t.usefixtures, ["db"]);
        let names: Vec<_> = t.markers.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["parametrize", "usefixtures", "integration", "isolation"]
        );
        assert_eq!(t.markers[3].reason.as_deref(), Some("shared neo4j"));
        let fx: Vec<_> = m
            .fixtures
            .iter()
            .map(|f| (f.name.as_str(), f.scope, f.autouse, f.is_yield))
            .collect();
        assert_eq!(
            fx,
            [
                ("db", Scope::Session, true, true),
                ("renamed", Scope::Function, false, false),
                ("local", Scope::Function, false, false),
                ("setUp", Scope::Function, true, true),
            ]
        );
        assert_eq!(m.tests[1].requests, ["local"]);
    }

    #[test]
    fn suppression_comments() {
        let m = model("# isoaudit: file-ignore[ISO4]\nx = 1  # isoaudit: ignore[ISO101]\ny = 2  # isoaudit: ignore\n");
        assert!(m.suppressions.suppresses("ISO401", 9));
        assert!(m.suppressions.suppresses("ISO101", 2));
        assert!(!m.suppressions.suppresses("ISO102", 2));
        assert!(m.suppressions.suppresses("ISO999", 3));
    }
}
