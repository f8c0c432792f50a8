//! Objects: instances of the project's own classes, objects bound at module
//! level, class-level attributes every instance shares, and one summary per
//! method (what calling it changes: the receiver, class attributes, globals,
//! the process) computed once and applied at each call site.
//!
//! A summary is walked with the receiver bound to `Obj::SelfRef`, so writes
//! through `self` say "mutates its receiver" instead of naming a key; the call
//! site turns that into a write of the receiver's shared key, or into nothing
//! when the receiver is a fresh object.

use std::cell::RefCell;
use std::sync::Arc;

use super::*;
use value::ClassRef;

/// How deep summaries may nest (method -> method -> ...).
const MAX_SUMMARY_DEPTH: usize = 4;
/// How far base classes are followed.
const MAX_MRO_DEPTH: usize = 12;

thread_local! {
    /// Summaries being computed on this thread, for cycles.
    static IN_PROGRESS: RefCell<Vec<SummaryKey>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct SummaryKey {
    module: usize,
    class: Option<String>,
    function: String,
    span: Span,
}

/// Methods whose names say they change their receiver, for objects of
/// classes isoaudit cannot read (libraries).
pub(super) fn mutating_verb(m: &str) -> bool {
    if catalog::is_mutating_method(m) {
        return true;
    }
    // Verbs that change the receiver; persisting or sending it (`save`,
    // `write`, `send`) does not.
    const VERBS: &[&str] = &[
        "add",
        "append",
        "register",
        "unregister",
        "set",
        "put",
        "push",
        "insert",
        "remove",
        "clear",
        "reset",
        "update",
        "extend",
        "pop",
        "drop",
        "install",
        "uninstall",
        "attach",
        "detach",
        "bind",
        "subscribe",
        "unsubscribe",
        "enable",
        "disable",
        "fit",
        "train",
        "increment",
        "decrement",
        "configure",
        "close",
        "replace",
        "assign",
        "sort",
        "reverse",
        "shuffle",
        "flush",
        "purge",
        "evict",
        "invalidate",
        "seed",
        "patch",
        "enqueue",
        "dequeue",
        "release",
        "acquire",
        "lock",
        "unlock",
        "login",
        "logout",
        "commit",
        "rollback",
        "toggle",
        "discard",
        "inc",
        "dec",
    ];
    let m = m.trim_start_matches('_');
    let head = m.split('_').next().unwrap_or(m);
    VERBS.contains(&head) || VERBS.contains(&m.to_ascii_lowercase().as_str())
}

impl<'a> Analyzer<'a> {
    /// The project class an expression names, seen from module `mi`.
    pub(super) fn resolve_class(&self, mi: usize, q: &str) -> Option<ClassRef> {
        let m = &self.suite.modules[mi];
        if let Some(c) = m.class_defs.get(q) {
            let _ = c;
            return Some(ClassRef {
                module: mi,
                name: q.to_string(),
            });
        }
        let q = q.trim_start_matches('.');
        // `name` defined in the module known as `modpath`.
        let class_in = |modpath: &str, name: &str| {
            let &cm = self.module_by_dotted.get(modpath)?;
            self.suite.modules[cm]
                .class_defs
                .contains_key(name)
                .then(|| ClassRef {
                    module: cm,
                    name: name.to_string(),
                })
        };
        match q.rsplit_once('.') {
            Some((modpath, name)) => class_in(modpath, name),
            // A bare name may come from `from pkg.mod import *`.
            None => m.imports.stars().find_map(|star| class_in(star, q)),
        }
    }

    /// A base class expression of `c`, resolved in `c`'s module.
    pub(super) fn base_classes(&self, c: &ClassRef) -> Vec<ClassRef> {
        let m = &self.suite.modules[c.module];
        let Some(def) = m.class_defs.get(&c.name) else {
            return Vec::new();
        };
        def.bases
            .iter()
            .filter_map(|b| {
                // `Base[T]` names `Base`.
                let b = match &b.kind {
                    ExprKind::Subscript { value, .. } => value,
                    _ => b,
                };
                let q = match &b.kind {
                    ExprKind::Name(n) if m.class_defs.contains_key(n.as_str()) => n.to_string(),
                    _ => m.imports.qualify(b)?,
                };
                self.resolve_class(c.module, &q)
            })
            .collect()
    }

    /// `name` looked up along the class and its bases (depth-first, as
    /// Python's MRO does for the single and mixin hierarchies tests use).
    pub(super) fn find_method(
        &self,
        c: &ClassRef,
        name: &str,
        depth: usize,
    ) -> Option<(ClassRef, Arc<Function>)> {
        if depth > MAX_MRO_DEPTH {
            return None;
        }
        let def = self.suite.modules[c.module].class_defs.get(&c.name)?;
        let found = def.body.iter().rev().find_map(|s| match &s.kind {
            StmtKind::FunctionDef(f) if f.name == name => Some(Arc::clone(f)),
            _ => None,
        });
        if let Some(f) = found {
            return Some((c.clone(), f));
        }
        self.base_classes(c)
            .iter()
            .find_map(|b| self.find_method(b, name, depth + 1))
    }

    /// Attributes every instance of `c` shares: class-body assignments and
    /// what classmethods (`setUpClass`, `setup_class`) store on `cls`, minus
    /// names each instance sets for itself in `__init__`/`setUp`/`setup_method`.
    pub(super) fn class_level_attr(
        &self,
        c: &ClassRef,
        attr: &str,
        depth: usize,
    ) -> Option<ClassRef> {
        if depth > MAX_MRO_DEPTH {
            return None;
        }
        let def = self.suite.modules[c.module].class_defs.get(&c.name)?;
        let mut class_level = false;
        let mut per_instance = false;
        for s in &def.body {
            match &s.kind {
                StmtKind::Assign { targets, .. }
                    if targets
                        .iter()
                        .any(|t| matches!(&t.kind, ExprKind::Name(n) if n == attr)) =>
                {
                    class_level = true;
                }
                StmtKind::AnnAssign {
                    target,
                    value: Some(_),
                } if matches!(&target.kind, ExprKind::Name(n) if n == attr) => {
                    class_level = true;
                }
                StmtKind::FunctionDef(f) => {
                    let classmethod = f
                        .decorators
                        .iter()
                        .any(|d| matches!(d.expr.dotted().as_deref(), Some(["classmethod"])));
                    let first = f.params.first().map(|p| p.name.as_str()).unwrap_or("");
                    let per_test_setup = matches!(
                        f.name.as_str(),
                        "__init__" | "setUp" | "setup_method" | "setup" | "__post_init__"
                    );
                    if classmethod || per_test_setup {
                        let mut hit = false;
                        visit_assign_targets(&f.body, &mut |t| {
                            if let ExprKind::Attribute { value, attr: a } = &t.kind {
                                if a == attr
                                    && matches!(&value.kind, ExprKind::Name(n) if n == first)
                                {
                                    hit = true;
                                }
                            }
                        });
                        // Django copies what `setUpTestData` stores for each
                        // test: per instance, not shared.
                        if hit && f.name == "setUpTestData" {
                            per_instance = true;
                        } else if hit && classmethod {
                            class_level = true;
                        } else if hit {
                            per_instance = true;
                        }
                    }
                }
                _ => {}
            }
        }
        if per_instance {
            return None;
        }
        if class_level {
            return Some(c.clone());
        }
        self.base_classes(c)
            .iter()
            .find_map(|b| self.class_level_attr(b, attr, depth + 1))
    }

    /// Parameters `cls.__init__` stores as they are on the instance
    /// (`self.rows = rows`): (position after `self`, name, attribute).
    pub(super) fn captured_params(&self, cls: &ClassRef) -> Vec<(usize, String, String)> {
        let Some((_, init)) = self.find_method(cls, "__init__", 0) else {
            return Vec::new();
        };
        let params: Vec<&str> = init
            .params
            .iter()
            .skip(1)
            .map(|p| p.name.as_str())
            .collect();
        let receiver = init
            .params
            .first()
            .map(|p| p.name.as_str())
            .unwrap_or("self");
        let mut out = Vec::new();
        for s in &init.body {
            let StmtKind::Assign { targets, value } = &s.kind else {
                continue;
            };
            // `self.rows = rows`, or a part of it: `self.rows = source.rows`,
            // `self.rows = source["rows"]`.
            let root = match &value.kind {
                ExprKind::Attribute { value: b, .. } | ExprKind::Subscript { value: b, .. } => b,
                _ => value,
            };
            let ExprKind::Name(v) = &root.kind else {
                continue;
            };
            let Some(index) = params.iter().position(|p| p == v) else {
                continue;
            };
            for t in targets {
                if let ExprKind::Attribute { value: base, attr } = &t.kind {
                    if matches!(&base.kind, ExprKind::Name(n) if n == receiver) {
                        out.push((index, v.to_string(), attr.to_string()));
                    }
                }
            }
        }
        out
    }

    /// `pkg.mod.NAME` where that module is read and binds NAME to a
    /// container or an object at module level: the shared object itself.
    pub(super) fn imported_object(&self, q: &str) -> Option<Val> {
        let (modpath, name) = q.rsplit_once('.')?;
        let &mi = self.module_by_dotted.get(modpath)?;
        let m = &self.suite.modules[mi];
        let e = m.constants.get(name)?;
        let object = match &e.kind {
            ExprKind::List(_) | ExprKind::Dict(_) | ExprKind::Set(_) => true,
            ExprKind::Call(c) => {
                let callee = m.imports.qualify(&c.func).unwrap_or_default();
                catalog::is_container_constructor(&callee)
                    || self.resolve_class(mi, &callee).is_some()
            }
            _ => false,
        };
        object.then(|| Val::Container(format!("state:{}.{name}", m.dotted)))
    }

    /// The module-level literal a `state:pkg.mod.NAME` key names.
    pub(super) fn shared_literal(&self, key: &str) -> Option<&Expr> {
        let (modpath, name) = key.strip_prefix("state:")?.rsplit_once('.')?;
        let &mi = self.module_by_dotted.get(modpath)?;
        self.suite.modules[mi].constants.get(name)
    }

    /// The class of the object a shared key names, when it is one of the
    /// project's classes.
    pub(super) fn class_of_shared(&self, key: &str) -> Option<ClassRef> {
        if let Some(id) = key.strip_prefix("fixtureobj:") {
            return self.fixture_classes.get(id).cloned();
        }
        let rest = key.strip_prefix("state:")?;
        let (owner, name) = rest.rsplit_once('.')?;
        let expr = if let Some(&mi) = self.module_by_dotted.get(owner) {
            self.suite.modules[mi].constants.get(name).map(|e| (mi, e))
        } else {
            // `state:mod.Class.attr`.
            let (modpath, class) = owner.rsplit_once('.')?;
            let &mi = self.module_by_dotted.get(modpath)?;
            self.suite.modules[mi]
                .class_attrs
                .get(class)
                .and_then(|a| a.get(name))
                .map(|e| (mi, e))
        };
        let (mi, e) = match expr {
            Some(found) => found,
            None => return self.class_of_cls_attr(key),
        };
        let call = e.as_call()?;
        let m = &self.suite.modules[mi];
        let q = match &call.func.kind {
            ExprKind::Name(n) if m.class_defs.contains_key(n.as_str()) => n.to_string(),
            _ => m.imports.qualify(&call.func)?,
        };
        self.resolve_class(mi, &q)
    }

    /// `state:mod.Class.attr` stored by a classmethod (`cls.attr = Thing()`
    /// in `setUpClass`): the class of that object.
    fn class_of_cls_attr(&self, key: &str) -> Option<ClassRef> {
        let rest = key.strip_prefix("state:")?;
        let (owner, attr) = rest.rsplit_once('.')?;
        let (modpath, class) = owner.rsplit_once('.')?;
        let &mi = self.module_by_dotted.get(modpath)?;
        let m = &self.suite.modules[mi];
        let def = m.class_defs.get(class)?;
        let mut found = None;
        for s in &def.body {
            let StmtKind::FunctionDef(f) = &s.kind else {
                continue;
            };
            let first = f.params.first().map(|p| p.name.as_str()).unwrap_or("");
            for st in &f.body {
                if let StmtKind::Assign { targets, value } = &st.kind {
                    let hit = targets.iter().any(|t| {
                        matches!(&t.kind, ExprKind::Attribute { value: b, attr: a }
                            if a == attr && matches!(&b.kind, ExprKind::Name(n) if n == first))
                    });
                    if hit {
                        if let Some(c) = value.as_call() {
                            let q = match &c.func.kind {
                                ExprKind::Name(n) if m.class_defs.contains_key(n.as_str()) => {
                                    n.to_string()
                                }
                                _ => m.imports.qualify(&c.func).unwrap_or_default(),
                            };
                            found = found.or_else(|| self.resolve_class(mi, &q));
                        }
                    }
                }
            }
        }
        found
    }

    /// The summary of `func` (a method of `class`, or a module function when
    /// `class` is None), computed once.
    pub(super) fn summary(
        &self,
        mi: usize,
        class: Option<&ClassRef>,
        func: &Arc<Function>,
    ) -> Option<Arc<FnFacts>> {
        let key = SummaryKey {
            module: mi,
            class: class.map(|c| c.name.clone()),
            function: func.name.to_string(),
            span: func.span,
        };
        if let Some(s) = self.summaries.lock().ok()?.get(&key) {
            return Some(Arc::clone(s));
        }
        let busy = IN_PROGRESS.with(|p| {
            let p = p.borrow();
            p.len() >= MAX_SUMMARY_DEPTH || p.contains(&key)
        });
        if busy {
            return None;
        }
        IN_PROGRESS.with(|p| p.borrow_mut().push(key.clone()));
        let mut params = HashMap::new();
        let is_static = func
            .decorators
            .iter()
            .any(|d| matches!(d.expr.dotted().as_deref(), Some(["staticmethod"])));
        for (i, p) in func.params.iter().enumerate() {
            let v = if i == 0 && class.is_some() && !is_static {
                Val::Obj(Obj::SelfRef)
            } else if p.default.is_some() {
                // Evaluated in the function's own module by `walk_function`.
                continue;
            } else {
                Val::Unknown
            };
            params.insert(p.name.to_string(), v);
        }
        let facts = self.walk_function(
            mi,
            func,
            class.map(|c| c.name.as_str()),
            (params, HashMap::new()),
            true,
            0,
        );
        IN_PROGRESS.with(|p| {
            p.borrow_mut().pop();
        });
        let facts = Arc::new(facts);
        if let Ok(mut memo) = self.summaries.lock() {
            memo.insert(key, Arc::clone(&facts));
        }
        Some(facts)
    }
}

/// Calls `f` on every assignment target in `body`, nested blocks included.
fn visit_assign_targets(body: &[Stmt], f: &mut impl FnMut(&Expr)) {
    for s in body {
        match &s.kind {
            StmtKind::Assign { targets, .. } => targets.iter().for_each(&mut *f),
            StmtKind::AugAssign { target, .. } | StmtKind::AnnAssign { target, .. } => f(target),
            _ => {}
        }
        for b in s.blocks() {
            visit_assign_targets(b, f);
        }
    }
}

impl<'w, 'a> Walker<'w, 'a> {
    /// The class this body's `self`/`cls` belongs to, when walking a method.
    pub(super) fn own_class(&self) -> Option<ClassRef> {
        let name = self.class.as_ref()?;
        self.module.class_defs.contains_key(name).then(|| ClassRef {
            module: self.mi,
            name: name.clone(),
        })
    }

    /// Is `e` this method's receiver (`self`), or a part of it?
    pub(super) fn is_self(&mut self, e: &Expr) -> bool {
        matches!(self.eval(e), Val::Obj(Obj::SelfRef))
    }

    /// `cls`, `type(self)`, `self.__class__` or the class's own name inside
    /// one of its methods: writes through it change the class for everyone.
    pub(super) fn class_target(&mut self, e: &Expr) -> Option<ClassRef> {
        let own = self.own_class()?;
        let hit = match &e.kind {
            ExprKind::Name(n) => {
                n == own.name
                    || (n == "cls"
                        && matches!(self.locals.get("cls"), Some(Val::Obj(Obj::SelfRef))))
            }
            ExprKind::Attribute { value, attr } if attr == "__class__" => self.is_self(value),
            ExprKind::Call(c) => {
                matches!(c.func.dotted().as_deref(), Some(["type"]))
                    && c.args.len() == 1
                    && self.is_self(&c.args[0])
            }
            _ => false,
        };
        hit.then_some(own)
    }

    /// A write to an attribute of a class: every instance, in every later
    /// test on the worker, sees it.
    pub(super) fn class_attr_write(&mut self, c: &ClassRef, attr: &str, span: Span) {
        let dotted = &self.an.suite.modules[c.module].dotted;
        let key = format!("attr:{dotted}.{}.{attr}", c.name);
        self.hazard(
            "ISO408",
            Some(key),
            Effect::Order,
            span,
            format!(
                "sets the class attribute `{}.{attr}`, which every instance shares; later tests on the same worker see the changed value",
                c.name
            ),
            HELP_ATTR,
        );
    }

    /// `recv.method(...)` where what `recv` is can be told: a fresh instance
    /// of a project class, the receiver of the method being summarised, or
    /// an object every test shares. Returns true when handled.
    pub(super) fn object_call(
        &mut self,
        c: &Call,
        method: &str,
        receiver: &Expr,
        recv: &Val,
        span: Span,
    ) -> bool {
        match recv {
            Val::Obj(Obj::SelfRef) => {
                let target = self
                    .own_class()
                    .and_then(|own| self.an.find_method(&own, method, 0));
                match target {
                    Some((cls, f)) => {
                        if let Some(sub) = self.an.summary(cls.module, Some(&cls), &f) {
                            self.out.mutates_self |= sub.mutates_self;
                            self.out.self_parts.extend(sub.self_parts.iter().cloned());
                            self.absorb(
                                &sub,
                                span,
                                &format!("{}.{}", cls.name, f.name),
                                cls.module,
                            );
                        }
                    }
                    None => {
                        // `self.items.append(x)`: a part of the receiver.
                        if !matches!(receiver.kind, ExprKind::Name(_)) && mutating_verb(method) {
                            self.mutate_self_part(receiver);
                        }
                    }
                }
                true
            }
            Val::Obj(Obj::Instance(cls, held)) => {
                let sub = self.an.find_method(cls, method, 0).and_then(|(owner, f)| {
                    let sub = self.an.summary(owner.module, Some(&owner), &f)?;
                    Some((owner, f, sub))
                });
                let mut changed = BTreeSet::new();
                if let Some((owner, f, sub)) = &sub {
                    let callee = format!("{}.{}", owner.name, f.name);
                    self.absorb(sub, span, &callee, owner.module);
                    changed.extend(sub.self_parts.iter().cloned());
                }
                // The instance holds objects other tests share (`Table(ROWS)`
                // storing `self.rows = rows`): changing that part of the
                // instance changes them.
                for (attr, key) in held {
                    if changed.contains(attr) {
                        let verb = format!(
                            "calls `{}.{method}()`, which changes (through `self.{attr}`)",
                            cls.name
                        );
                        self.shared_object_change(key, &verb, span);
                    } else {
                        self.out.reads.insert(key.clone());
                    }
                }
                true
            }
            Val::Obj(Obj::AppClient(key)) => {
                let key = key.clone();
                if catalog::is_writing_request(method) {
                    let verb =
                        format!("changes, with a `{method}` request through its test client,");
                    if key.starts_with("fixtureobj:") {
                        self.shared_fixture_mutation(&key, &verb, span);
                    } else {
                        self.shared_object_change(&key, &verb, span);
                    }
                } else {
                    self.out.reads.insert(key);
                }
                true
            }
            Val::Container(key) if key.starts_with("state:") || key.starts_with("fixtureobj:") => {
                let key = key.clone();
                let class = self.an.class_of_shared(&key);
                // Container methods on plain lists and dicts: the container rules.
                if class.is_none() && catalog::is_mutating_method(method) {
                    return false;
                }
                let summarised = class.and_then(|cls| {
                    let (owner, f) = self.an.find_method(&cls, method, 0)?;
                    let sub = self.an.summary(owner.module, Some(&owner), &f)?;
                    Some((owner, f, sub))
                });
                let writes = match &summarised {
                    Some((owner, f, sub)) => {
                        let sub = Arc::clone(sub);
                        self.absorb(
                            &sub,
                            span,
                            &format!("{}.{}", owner.name, f.name),
                            owner.module,
                        );
                        sub.mutates_self
                    }
                    None => {
                        mutating_verb(method)
                            || c.keywords.iter().any(|k| {
                                k.name.as_deref() == Some("inplace")
                                    && matches!(k.value.kind, ExprKind::Bool(true))
                            })
                    }
                };
                if writes {
                    self.shared_object_write(&key, method, span);
                } else {
                    self.out.reads.insert(key);
                }
                true
            }
            _ => false,
        }
    }

    /// An in-place change of `self` or a part of it (`self.rows.append(x)`,
    /// `self.rows[k] = v`): the receiver changes, and so does whatever object
    /// the named attribute holds.
    pub(super) fn mutate_self_part(&mut self, target: &Expr) {
        self.out.mutates_self = true;
        let mut e = target;
        loop {
            match &e.kind {
                ExprKind::Attribute { value, attr } => {
                    if matches!(&value.kind, ExprKind::Name(_)) {
                        if self.is_self(value) {
                            self.out.self_parts.insert(attr.to_string());
                        }
                        return;
                    }
                    e = value;
                }
                ExprKind::Subscript { value, .. } => e = value,
                ExprKind::Call(c) => e = &c.func,
                _ => return,
            }
        }
    }

    /// The shared objects a constructor call hands to attributes of the new
    /// instance: `C(ROWS)` where `__init__` stores `self.rows = rows`.
    pub(super) fn held_by_constructor(
        &mut self,
        cls: &ClassRef,
        c: &Call,
        d: u32,
    ) -> Vec<(String, String)> {
        let captured = self.an.captured_params(cls);
        let mut held = Vec::new();
        for (index, param, attr) in captured {
            let arg = c.arg(index, &param);
            let Some(arg) = arg else { continue };
            if let Val::Container(key) = self.eval_depth(arg, d + 1) {
                if eval::is_object_key(&key) || key.starts_with("fixture") {
                    held.push((attr, key));
                }
            }
        }
        held.sort();
        held.dedup();
        held
    }

    /// A method call that changes an object every test on the worker shares.
    pub(super) fn shared_object_write(&mut self, key: &str, method: &str, span: Span) {
        if key.starts_with("fixtureobj:") {
            self.shared_fixture_mutation(key, &format!("calls `.{method}()`, which changes"), span);
            return;
        }
        self.shared_object_change(key, &format!("calls `.{method}()` on"), span);
    }

    /// A change to a module-level object or a class-level attribute.
    pub(super) fn shared_object_change(&mut self, key: &str, verb: &str, span: Span) {
        let shown = key.trim_start_matches("state:");
        self.hazard(
            "ISO407",
            Some(key.to_string()),
            Effect::Order,
            span,
            format!("{verb} `{shown}`, an object shared by every test on the same worker, and does not restore it"),
            "create the object per test (a function-scoped fixture), or reset it in a yield fixture's teardown",
        );
    }

    /// Does the class hold tests (its `cls` state reaches only them)?
    pub(super) fn is_test_class(&self, c: &ClassRef) -> bool {
        self.an.suite.modules[c.module].tests.iter().any(|t| {
            t.class
                .as_deref()
                .is_some_and(|p| p.rsplit("::").next() == Some(c.name.as_str()))
        })
    }

    /// `super().method(...)` in a method: the first base class (in MRO
    /// order) that defines it, run on this body's receiver.
    pub(super) fn super_call(&mut self, method: &str, span: Span) {
        let Some(own) = self.own_class() else { return };
        let target = self
            .an
            .base_classes(&own)
            .iter()
            .find_map(|b| self.an.find_method(b, method, 1));
        let Some((owner, f)) = target else { return };
        if let Some(sub) = self.an.summary(owner.module, Some(&owner), &f) {
            self.out.mutates_self |= sub.mutates_self;
            self.absorb(
                &sub,
                span,
                &format!("{}.{}", owner.name, f.name),
                owner.module,
            );
        }
    }

    /// Brings a callee's summary into this body: its hazards at the call
    /// site (unless a surrounding patch restores them) and its reads.
    pub(super) fn absorb(&mut self, sub: &FnFacts, span: Span, callee: &str, callee_module: usize) {
        let latent = self.an.suite.modules[callee_module].application;
        for h in &sub.hazards {
            // What a patched callable would have done, the mock does not.
            if h.api.as_deref().is_some_and(|a| self.patched(a)) {
                continue;
            }
            if h.effect == Effect::Order
                && h.key
                    .as_deref()
                    .is_some_and(|k| key_matches_any(k, self.mitigating.iter().map(String::as_str)))
            {
                continue;
            }
            let mut h = h.clone();
            h.module = self.mi;
            h.span = span;
            h.latent |= latent;
            if !h.message.contains(" (in `") {
                h.message = format!("{} (in `{callee}`)", h.message);
            }
            self.out.hazards.push(h);
        }
        self.take_reads(sub, latent);
        // A callee that moves into a directory of its own (`os.chdir` to a
        // `mkdtemp()`) puts this body's relative paths there too.
        self.out.chdir_unique |= sub.chdir_unique;
    }

    /// A callee's reads, as this body's: application code's are latent, and
    /// its environment reads (configuration, everywhere) are left out.
    pub(super) fn take_reads(&mut self, sub: &FnFacts, latent: bool) {
        let all = sub.reads.iter().chain(sub.latent_reads.iter());
        // Files fixtures made are the tests' own state, whoever reads them.
        self.out
            .reads
            .extend(all.clone().filter(|k| is_fixture_file(k)).cloned());
        if latent {
            let kept = all.filter(|k| !k.starts_with("env:") && !k.starts_with("attr:os.environ"));
            self.out.latent_reads.extend(kept.cloned());
        } else {
            self.out.reads.extend(sub.reads.iter().cloned());
            self.out
                .latent_reads
                .extend(sub.latent_reads.iter().cloned());
        }
    }

    /// `C(...)` for a project class: what its constructor does beyond the
    /// new object (class counters, registries, globals).
    pub(super) fn constructor_call(&mut self, cls: &ClassRef, span: Span) {
        if let Some((owner, f)) = self.an.find_method(cls, "__init__", 0) {
            if let Some(sub) = self.an.summary(owner.module, Some(&owner), &f) {
                self.absorb(
                    &sub,
                    span,
                    &format!("{}.__init__", owner.name),
                    owner.module,
                );
            }
        }
    }
}
