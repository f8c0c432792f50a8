//! The statement walker: binds locals, records writes to names, attributes,
//! subscripts and the environment, and dispatches every call to the sinks.

use super::*;
use std::sync::Arc;

/// Names an `if` test checks are not set yet: `X is None`, `not X`,
/// `key not in X`, `not hasattr(X, "a")` (as `X.a`), and either side of `or`.
fn unset_guards(test: &Expr, out: &mut Vec<String>) {
    let name = |e: &Expr| e.dotted().map(|d| d.join("."));
    match &test.kind {
        ExprKind::Compare { left, comparators } if comparators.len() == 1 => {
            let right = &comparators[0];
            if matches!(right.kind, ExprKind::NoneLit) {
                out.extend(name(left));
            } else {
                // `key not in CACHE` (the operator is not kept; `in` guards
                // an update of an existing entry, equally one-time).
                out.extend(name(right));
            }
        }
        ExprKind::Call(c) if matches!(c.func.dotted().as_deref(), Some(["hasattr"])) => {}
        ExprKind::Other(parts) => {
            // `not X`, `not hasattr(X, "a")`, `a or b`.
            for p in parts {
                match &p.kind {
                    ExprKind::Call(c)
                        if matches!(c.func.dotted().as_deref(), Some(["hasattr"]))
                            && c.args.len() == 2 =>
                    {
                        if let (Some(obj), Some(attr)) = (name(&c.args[0]), c.args[1].as_str()) {
                            out.push(format!("{obj}.{attr}"));
                        }
                    }
                    // `not X` (a one-operand node); in `a or b` a bare
                    // name is a truth test, not a "not set yet" check.
                    ExprKind::Name(_) | ExprKind::Attribute { .. } if parts.len() == 1 => {
                        out.extend(name(p))
                    }
                    _ => unset_guards(p, out),
                }
            }
        }
        _ => {}
    }
}

impl<'w, 'a> Walker<'w, 'a> {
    pub(super) fn block(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    pub(super) fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Assign { targets, value } => {
                self.scan(value);
                let v = self.eval(value);
                self.bind_scoped(targets, value);
                for t in targets {
                    self.environ_assignment(t, value, &v, s.span);
                }
                for t in targets {
                    if let ExprKind::Attribute { value: base, attr } = &t.kind {
                        if self.resets_to_initial(base, attr, value) {
                            continue;
                        }
                    }
                    self.assign(t, v.clone(), s.span);
                }
            }
            StmtKind::AnnAssign { target, value } => {
                if let Some(value) = value {
                    self.scan(value);
                    let v = self.eval(value);
                    self.bind_scoped(std::slice::from_ref(target), value);
                    self.assign(target, v, s.span);
                }
            }
            StmtKind::AugAssign { target, value } => {
                self.scan(value);
                if self.is_os_environ(target) {
                    // `os.environ |= {...}` sets each key.
                    let keys: Vec<String> = match &value.kind {
                        ExprKind::Dict(items) => items
                            .iter()
                            .map(|(k, _)| match k.as_ref().map(|k| self.eval(k)) {
                                Some(Val::Str(k)) => k,
                                _ => "*".into(),
                            })
                            .collect(),
                        _ => vec!["*".into()],
                    };
                    for k in keys {
                        self.env_write(&k, None, s.span);
                    }
                    return;
                }
                match &target.kind {
                    // `x += 1` binds a local unless `x` is declared global.
                    ExprKind::Name(n) if self.globals.contains(n.as_str()) => {
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
                self.globals.extend(names.iter().map(|n| n.to_string()));
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
                    if let Some(k) = self.scoped_key(p) {
                        self.out.scoped_value.get_or_insert(k);
                    }
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
                let expects_raise = items.iter().any(|it| {
                    let callee = match &it.context.kind {
                        ExprKind::Call(c) => &c.func,
                        _ => &it.context,
                    };
                    let unittest_raises = matches!(&callee.kind,
                        ExprKind::Attribute { attr, .. } if catalog::is_raises_assertion(attr));
                    unittest_raises
                        || self
                            .q(callee)
                            .is_some_and(|q| catalog::is_raises_context(&q))
                });
                match body.split_last() {
                    Some((last, rest)) if expects_raise => {
                        // The block's last statement is the one expected to
                        // raise: what it would have changed never happens.
                        self.block(rest);
                        let kept = self.out.hazards.len();
                        self.stmt(last);
                        self.out.hazards.truncate(kept.min(self.out.hazards.len()));
                    }
                    _ => self.block(body),
                }
                self.mitigating.truncate(before);
            }
            StmtKind::FunctionDef(f) => {
                self.local_funcs.insert(f.name.to_string(), Arc::clone(f));
            }
            StmtKind::If { test, body, orelse } => {
                self.scan(test);
                let before = self.guards.len();
                // In application code a "not set yet" check makes the write
                // a one-time lazy initialisation; in test code a cached
                // object is exactly what tests end up sharing.
                if self.module.application {
                    unset_guards(test, &mut self.guards);
                }
                self.block(body);
                self.guards.truncate(before);
                self.block(orelse);
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
            } => {
                self.scan(iter);
                // `for row in SHARED_ROWS: row.pop("x")` changes the shared
                // container's elements, when they are objects.
                let element = match self.eval(iter) {
                    Val::Container(k) if self.elements_are_objects(iter, &k) => Val::Container(k),
                    _ => Val::Unknown,
                };
                self.assign(target, element, s.span);
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
    pub(super) fn context_target_value(&mut self, ctx: &Expr) -> Val {
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
    pub(super) fn environ_assignment(&mut self, target: &Expr, value: &Expr, v: &Val, span: Span) {
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

    pub(super) fn assign(&mut self, target: &Expr, v: Val, span: Span) {
        match &target.kind {
            ExprKind::Name(n) => {
                if self.globals.contains(n.as_str()) {
                    self.global_write(n, span);
                } else {
                    self.locals.insert(n.to_string(), v);
                }
            }
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                // `src, params = shared_pair`: each element is a part of the
                // shared container, under its key.
                let part = match &v {
                    Val::Container(k) if holds_shared_parts(k) => v.clone(),
                    _ => Val::Unknown,
                };
                for i in items {
                    self.assign(i, part.clone(), span);
                }
            }
            ExprKind::Starred(inner) => self.assign(inner, Val::Unknown, span),
            ExprKind::Attribute { value, attr } => {
                self.attr_write(value, attr, target.span);
                // `self.work_dir = tempfile.mkdtemp()`: later `self.work_dir`
                // in this body is that value.
                if let ExprKind::Name(n) = &value.kind {
                    if matches!(self.locals.get(n.as_str()), Some(Val::Obj(Obj::SelfRef)))
                        && matches!(v, Val::Unique | Val::Str(_))
                    {
                        self.locals.insert(format!("{n}.{attr}"), v);
                    }
                }
            }
            ExprKind::Subscript { value, index } => self.subscript_write(value, index, target.span),
            _ => {}
        }
    }

    pub(super) fn delete(&mut self, t: &Expr, span: Span) {
        match &t.kind {
            ExprKind::Subscript { value, index } => self.subscript_write(value, index, t.span),
            // `del obj.prop` of a cached property drops the cached value:
            // the next read computes it again, as in a fresh process.
            ExprKind::Attribute { attr, .. } if self.an.is_cached_property(attr) => {}
            ExprKind::Attribute { value, attr } => self.attr_write(value, attr, t.span),
            ExprKind::Name(n) if self.globals.contains(n.as_str()) => self.global_write(n, span),
            _ => {}
        }
    }

    /// Is `target` what an enclosing `if` checked was not set yet?
    pub(super) fn lazily_set(&self, target: &Expr) -> bool {
        !self.guards.is_empty()
            && target
                .dotted()
                .is_some_and(|d| self.guards.contains(&d.join(".")))
    }

    pub(super) fn global_write(&mut self, name: &str, span: Span) {
        if self.guards.iter().any(|g| g == name) {
            return;
        }
        let key = format!("global:{}.{}", self.module.dotted, name);
        let before = self.out.hazards.len();
        self.hazard(
            "ISO406",
            Some(key),
            Effect::Order,
            span,
            format!("assigns the module global `{name}`, which keeps its new value for every later test on the same worker"),
            "pass the value in through a fixture, or restore the global in a yield fixture's teardown",
        );
        // A global the module does not bind itself is created by this body
        // (for a lookup by name, say): it matters only where another test
        // reads it.
        if !self.module.constants.contains_key(name) && self.out.hazards.len() > before {
            if let Some(h) = self.out.hazards.last_mut() {
                h.latent = true;
            }
        }
    }

    /// `x.attr = v` / `del x.attr`.
    pub(super) fn attr_write(&mut self, base: &Expr, attr: &str, span: Span) {
        if let Some(b) = base.dotted() {
            let whole = format!("{}.{attr}", b.join("."));
            if self.guards.contains(&whole) {
                return;
            }
        }
        if let Some(cls) = self.class_target(base) {
            // `cls.x = v` / `type(self).x = v` in a project class; a test
            // class's own setup storing on `cls` only reaches its own tests,
            // and so does a class-setup hook's (`cls` is the class being
            // run, which sets it again before its tests read it).
            let own_cls_in_hook =
                self.class_setup && matches!(&base.kind, ExprKind::Name(n) if n != cls.name);
            if !self.is_test_class(&cls) && !own_cls_in_hook {
                self.class_attr_write(&cls, attr, span);
            }
            return;
        }
        let base_val = self.eval(base);
        match &base_val {
            Val::Obj(Obj::SelfRef) => {
                self.mutate_self_part(base);
                return;
            }
            Val::Container(key)
                if key.starts_with("fixtureobj:") || key.starts_with("fixture:") =>
            {
                let key = key.clone();
                self.shared_fixture_mutation(&key, &format!("sets `{attr}` on"), span);
                return;
            }
            // `store.rows.limit = 3` / `self.shared.flag = True`: a part of an
            // object every test shares.
            // In teardown, a local alias of the shared object counts too
            // (`saved = mod.obj; ...; finally: saved.attr = old`).
            Val::Container(key)
                if eval::is_object_key(key)
                    && (!matches!(base.kind, ExprKind::Name(_)) || self.restoring) =>
            {
                let key = key.clone();
                self.shared_object_change(&key, &format!("sets `{attr}` on"), span);
                return;
            }
            _ => {}
        }
        if let Val::Obj(Obj::Singleton(q)) = base_val {
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
        if q == "os.environ"
            || catalog::is_context_local(&q)
            || catalog::is_reset_per_test(&format!("{q}.{attr}"))
        {
            return;
        }
        if q == "sys" && matches!(attr, "stdout" | "stderr" | "stdin") {
            // pytest puts its capture stream back before each test; what
            // the body binds here is its own object from now on.
            self.rebound_streams.insert(attr.to_string());
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
    pub(super) fn subscript_write(&mut self, base: &Expr, index: &Expr, span: Span) {
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

    /// Are the elements of the shared container `iter` evaluates to objects
    /// (dicts, lists, instances) that a loop body can change in place? A
    /// broad-scoped fixture's list is taken to hold objects; a module
    /// constant shows what it holds.
    pub(super) fn elements_are_objects(&mut self, iter: &Expr, key: &str) -> bool {
        if key.starts_with("fixture:") {
            return true;
        }
        if !eval::is_object_key(key) {
            return false;
        }
        let literal = match &iter.kind {
            ExprKind::Name(n) if !self.is_local(n) => {
                self.module.constants.get(n.as_str()).cloned()
            }
            _ => None,
        };
        // A local alias of the container, or a module's attribute
        // (`rows = data.ROWS; for r in rows:`): the literal its key names.
        let literal = literal.or_else(|| self.an.shared_literal(key).cloned());
        let Some(literal) = literal else { return false };
        match &literal.kind {
            ExprKind::List(items) | ExprKind::Tuple(items) | ExprKind::Set(items) => {
                !items.is_empty()
                    && items.iter().all(|i| {
                        matches!(
                            i.kind,
                            ExprKind::Dict(_) | ExprKind::List(_) | ExprKind::Set(_)
                        )
                    })
            }
            _ => false,
        }
    }

    /// `x = <expr>`: whether `x` now holds (a path in) a scope-wide fixture file.
    pub(super) fn bind_scoped(&mut self, targets: &[Expr], value: &Expr) {
        let key = self.scoped_key(value);
        for t in targets {
            if let ExprKind::Name(n) = &t.kind {
                match &key {
                    Some(k) => self.scoped.insert(n.to_string(), k.clone()),
                    None => self.scoped.remove(n.as_str()),
                };
            }
        }
    }

    /// The `fixturefile:` key of a path built from a local that holds a file
    /// or directory a broad-scoped fixture made for its whole scope
    /// (`str(data_file)`, `data_dir / "rows.json"`).
    pub(super) fn scoped_key(&mut self, e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Name(n) => self.scoped.get(n.as_str()).cloned(),
            ExprKind::Lambda { .. } => None,
            // `self.dir`, where `setup_class`/`setUpClass` stored a fresh temp
            // dir on the class: one directory for every test of the class.
            ExprKind::Attribute { value, attr } if self.class_setup_dir(value, attr) => {
                let own = self.own_class()?;
                let path = &self.an.suite.modules[own.module].rel;
                Some(format!("fixturefile:{path}::{}.{attr}", own.name))
            }
            // `data_dir / "rows.json"`: that entry of the directory.
            ExprKind::BinOp {
                left,
                op: BinOp::Div,
                right,
            } if right.as_str().is_some() => {
                let k = self.scoped_key(left)?;
                Some(fixture_file_child(&k, right.as_str()))
            }
            ExprKind::Call(c) => match self.scoped_entry(c) {
                Some(k) => Some(k),
                None => e.children().into_iter().find_map(|c| self.scoped_key(c)),
            },
            _ => e.children().into_iter().find_map(|c| self.scoped_key(c)),
        }
    }

    /// For each piece of test-owned state the body touches (see
    /// `FnFacts::touches`), what the first top-level statement touching it
    /// does: assign one of its attributes from a value that does not use
    /// it (`Some(attr)`), or anything else (`None`).
    pub(super) fn first_touches(&self, body: &[Stmt]) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for s in body {
            let mut names: Vec<&str> = Vec::new();
            visit_exprs(std::slice::from_ref(s), &mut |e| {
                if let ExprKind::Name(n) = &e.kind {
                    names.push(n);
                }
            });
            for n in names {
                let Some(root) = self.touch_root(n) else {
                    continue;
                };
                if out.contains_key(&root) {
                    continue;
                }
                out.insert(root, assigned_attr(s, n));
            }
        }
        out
    }

    /// The test-owned state the name `n` stands for, if any.
    fn touch_root(&self, n: &str) -> Option<String> {
        if self.is_local(n) {
            return match self.locals.get(n) {
                Some(Val::Container(k))
                    if k.starts_with("fixtureobj:") && self.params.contains(n) =>
                {
                    Some(k.clone())
                }
                _ => None,
            };
        }
        let (m, q) = match self.imports.get(n) {
            Some(q) => {
                let (modpath, _) = q.rsplit_once('.')?;
                let &mi = self.an.module_by_dotted.get(modpath)?;
                (&self.an.suite.modules[mi], q.to_string())
            }
            None => (self.module, format!("{}.{n}", self.module.dotted)),
        };
        let name = q.rsplit('.').next().unwrap_or(n);
        if m.application {
            return None;
        }
        if m.class_defs.contains_key(name) {
            Some(format!("attr:{q}"))
        } else if m.constants.contains_key(name) {
            Some(format!("state:{q}"))
        } else {
            None
        }
    }

    /// `d.listdir()`, `d.iterdir()`, `d.glob("*.json")`, `os.listdir(d)`,
    /// `shutil.copytree(d, ...)`: a read of every entry of the scope-wide
    /// fixture directory `d` (the `*` entry).
    pub(super) fn scoped_listing(&mut self, c: &Call) -> Option<String> {
        let method = match &c.func.kind {
            ExprKind::Attribute { value, attr }
                if matches!(
                    attr.as_str(),
                    "listdir" | "iterdir" | "glob" | "rglob" | "visit" | "walk" | "scandir"
                ) =>
            {
                self.scoped_key(value)
            }
            _ => None,
        };
        let dir = match method {
            Some(k) => k,
            None => {
                let q = self.q(&c.func)?;
                if !matches!(
                    q.as_str(),
                    "os.listdir"
                        | "os.scandir"
                        | "os.walk"
                        | "glob.glob"
                        | "glob.iglob"
                        | "shutil.copytree"
                        | "shutil.make_archive"
                ) {
                    return None;
                }
                let a = c.arg(0, "path").or_else(|| c.arg(0, "pathname"))?;
                self.scoped_key(a)?
            }
        };
        // A glob pattern in the path already says which entries.
        if fixture_file_entry(&dir).1.is_some_and(|e| e.contains('*')) {
            return Some(dir);
        }
        Some(format!("{dir}/*"))
    }

    /// Entries of scope-wide fixture directories this body made and then
    /// removed again (an entry, or a directory holding it, deleted later
    /// in the body): nothing of them is left for the next test.
    pub(super) fn drop_undone_scoped_writes(&mut self) {
        fn under(a: &str, b: &str) -> bool {
            a == b || a.starts_with(b) && a[b.len()..].starts_with('/')
        }
        let changes = &self.scoped_changes;
        let undone: Vec<(&str, Span)> = changes
            .iter()
            .filter(|(k, s, removal)| {
                *removal
                    && fixture_file_entry(k).1.is_some()
                    && changes
                        .iter()
                        .any(|(m, ms, r)| !r && ms.start < s.start && under(m, k))
            })
            .map(|(k, s, _)| (k.as_str(), *s))
            .collect();
        if undone.is_empty() {
            return;
        }
        self.out.hazards.retain(|h| {
            h.effect != Effect::Order
                || !h.key.as_deref().is_some_and(|hk| {
                    is_fixture_file(hk)
                        && undone
                            .iter()
                            .any(|(k, s)| under(hk, k) && h.span.start <= s.start)
                })
        });
    }

    /// The entry of a scope-wide fixture directory a call names with
    /// literal segments: `d.join("a", "b")`, `d.joinpath("a")`,
    /// `d.ensure("a")`, `d.mkdir("a")` (py.path makes the child),
    /// `os.path.join(d, "a")`.
    pub(super) fn scoped_entry(&mut self, c: &Call) -> Option<String> {
        let literal = |args: &[Expr]| -> Option<Vec<String>> {
            args.iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect()
        };
        if c.args.len() >= 2 && self.q(&c.func).as_deref() == Some("os.path.join") {
            let parts = literal(&c.args[1..])?;
            let k = self.scoped_key(&c.args[0])?;
            return Some(fixture_file_child(&k, parts.iter().map(String::as_str)));
        }
        match &c.func.kind {
            ExprKind::Attribute { value, attr }
                if matches!(
                    attr.as_str(),
                    "join" | "joinpath" | "ensure" | "ensure_dir" | "mkdir" | "mkdir_p"
                ) && !c.args.is_empty() =>
            {
                let parts = literal(&c.args)?;
                let k = self.scoped_key(value)?;
                Some(fixture_file_child(&k, parts.iter().map(String::as_str)))
            }
            _ => None,
        }
    }

    /// `self.X`/`cls.X` in a test class whose class-level setup stored a
    /// unique path in `X` (`cls.dir = tempfile.mkdtemp()`).
    fn class_setup_dir(&mut self, base: &Expr, attr: &str) -> bool {
        let ExprKind::Name(n) = &base.kind else {
            return false;
        };
        if !matches!(self.locals.get(n.as_str()), Some(Val::Obj(Obj::SelfRef))) {
            return false;
        }
        let Some(own) = self.own_class() else {
            return false;
        };
        if own.module != self.mi {
            return false;
        }
        // The value a class-level setup hook stores: `cls.<attr> = <value>`.
        let Some(def) = self.module.class_defs.get(&own.name) else {
            return false;
        };
        let stored: Vec<Expr> = def
            .body
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::FunctionDef(f) if catalog::is_class_setup_hook(&f.name) => Some(f),
                _ => None,
            })
            .flat_map(|f| {
                let first = f.params.first().map(|p| p.name.clone()).unwrap_or_default();
                f.body.iter().filter_map(move |st| match &st.kind {
                    StmtKind::Assign { targets, value }
                        if targets.iter().any(|t| {
                            matches!(&t.kind, ExprKind::Attribute { value: b, attr: a }
                                if a == attr && matches!(&b.kind, ExprKind::Name(n) if *n == first))
                        }) =>
                    {
                        Some(value.clone())
                    }
                    _ => None,
                })
            })
            .collect();
        // Cheap test first: most classes store nothing there.
        if stored.is_empty()
            || !self.is_test_class(&own)
            || self.an.class_level_attr(&own, attr, 0).is_none()
        {
            return false;
        }
        stored.iter().any(|v| self.eval(v).is_unique())
    }

    /// A write into the file (or directory) a broad-scoped fixture created
    /// once for its scope: the next test of the scope on the worker reads
    /// what this one left.
    pub(super) fn scoped_write(&mut self, key: &str, verb: &str, span: Span) {
        self.scoped_changes
            .push((key.to_string(), span, verb.starts_with("deletes")));
        let (base, entry) = fixture_file_entry(key);
        let id = base.trim_start_matches("fixturefile:");
        let shown = id.rsplit_once("::").map_or(id, |(_, tail)| tail);
        // `Class.attr`: stored by the class's own setup hook.
        let maker = if shown.contains('.') {
            format!("the class-level setup stored in `{shown}`")
        } else {
            format!("the broad-scoped fixture `{shown}`")
        };
        self.hazard(
            "ISO703",
            Some(key.to_string()),
            Effect::Order,
            span,
            match entry {
                Some(e) => format!("{verb} `{e}` in the directory {maker} made once for every test in its scope; later tests on the same worker that read or list it find what this one left"),
                None => format!("{verb} the path {maker} made once for every test in its scope (its file, or a file in its directory); later tests on the same worker find what this one left"),
            },
            "give the test its own copy (a function-scoped fixture copying the file into `tmp_path`), or restore the file in a yield fixture's teardown",
        );
    }

    pub(super) fn shared_fixture_mutation(&mut self, key: &str, verb: &str, span: Span) {
        // `fixtureobj:tests/x.py::tr.stats` -> the fixture `tr`.
        let id = key
            .trim_start_matches("fixtureobj:")
            .trim_start_matches("fixture:");
        let shown = match id.rsplit_once("::") {
            Some((_, tail)) => tail.split('.').next().unwrap_or(tail),
            None => id,
        };
        self.hazard(
            "ISO703",
            Some(key.to_string()),
            Effect::Order,
            span,
            format!("{verb} the object of the broad-scoped fixture `{shown}`, which every test in its scope on the same worker shares"),
            "make the fixture function-scoped, restore the value in the test (`monkeypatch.setattr`), or hand out a copy",
        );
    }

    pub(super) fn container_write(&mut self, base: &Expr, span: Span) {
        if self.lazily_set(base) {
            return;
        }
        match self.eval(base) {
            Val::Obj(Obj::SelfRef) => {
                self.mutate_self_part(base);
                return;
            }
            // A part of a shared object, or a local alias of one; an element
            // reached by subscript is the container's own (below).
            Val::Container(k)
                if !matches!(base.kind, ExprKind::Name(_) | ExprKind::Subscript { .. }) =>
            {
                if k.starts_with("fixtureobj:") || k.starts_with("fixture:") {
                    self.shared_fixture_mutation(&k, "changes a part of", span);
                    return;
                }
                if eval::is_object_key(&k) {
                    self.shared_object_change(&k, "changes a part of", span);
                    return;
                }
            }
            _ => {}
        }
        let key = match &base.kind {
            // `CATALOG["A1"]["price"] = 0` mutates `CATALOG`.
            ExprKind::Subscript { value, .. } => return self.container_write(value, span),
            ExprKind::Name(n)
                if self.params.contains(n.as_str()) && !self.globals.contains(n.as_str()) =>
            {
                self.out.mutated_params.insert(n.to_string());
                if let Some(Val::Container(k)) = self.locals.get(n.as_str()).cloned() {
                    k
                } else {
                    return;
                }
            }
            ExprKind::Name(n) if self.is_local(n) => match self.locals.get(n.as_str()) {
                Some(Val::Container(k)) if k.starts_with("fixtureobj:") => {
                    let k = k.clone();
                    return self.shared_fixture_mutation(&k, "changes", span);
                }
                Some(Val::Container(k)) => k.clone(),
                _ => return,
            },
            ExprKind::Name(n) => {
                if let Some(q) = self.imports.get(n) {
                    if q.starts_with('.') || !q.contains('.') {
                        return;
                    }
                    format!("state:{}", q.trim_start_matches('.'))
                } else if let Some(c) = self.module.constants.get(n.as_str()) {
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
                if q == "os.environ"
                    || q.starts_with("sys.")
                    || catalog::is_context_local(&q)
                    || catalog::is_reset_per_test(&q)
                {
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

    pub(super) fn env_write(&mut self, key: &str, value_of: Option<&Expr>, span: Span) {
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

    pub(super) fn dagster_home(&mut self, value: &Expr, span: Span) {
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

    /// Walks an expression for calls and reads (not into lambdas).
    pub(super) fn scan(&mut self, e: &Expr) {
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
                // Naming an entry of a scope-wide fixture directory reads
                // that entry; listing the directory reads all of it.
                if let Some(k) = self.scoped_entry(c) {
                    self.out.reads.insert(k);
                }
                if let Some(k) = self.scoped_listing(c) {
                    self.out.reads.insert(k);
                }
                self.call(c, e.span);
                return;
            }
            ExprKind::BinOp { op: BinOp::Div, .. } => {
                if let Some(k) = self.scoped_key(e) {
                    self.out.reads.insert(k);
                }
            }
            ExprKind::Attribute { .. } => {
                // Using the directory class-level setup made for the class.
                if let Some(k) = self.scoped_key(e) {
                    self.out.reads.insert(k);
                }
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
                    } else if self.module.constants.contains_key(n.as_str()) {
                        self.out
                            .reads
                            .insert(format!("global:{}.{}", self.module.dotted, n));
                        self.out
                            .reads
                            .insert(format!("state:{}.{}", self.module.dotted, n));
                    }
                } else if let Some(k) = self.scoped.get(n.as_str()) {
                    // The file a broad-scoped fixture made for its scope.
                    let k = k.clone();
                    self.out.reads.insert(k);
                } else if let Some(Val::Obj(Obj::Instance(_, held))) = self.locals.get(n.as_str()) {
                    // Using an instance reads the shared objects it holds.
                    let keys: Vec<String> = held.iter().map(|(_, k)| k.clone()).collect();
                    self.out.reads.extend(keys);
                } else if let Some(Val::Container(k)) = self.locals.get(n.as_str()) {
                    // Using a shared object is no dependency; its attributes
                    // are read in `read_attr`.
                    if !k.starts_with("fixtureobj:") {
                        let k = k.clone();
                        self.out.reads.insert(k);
                    }
                }
            }
            _ => {}
        }
        for ch in e.children() {
            self.scan(ch);
        }
    }

    pub(super) fn read_attr(&mut self, e: &Expr) {
        if let ExprKind::Attribute { value, .. } = &e.kind {
            if !matches!(value.kind, ExprKind::Name(_)) {
                if let Val::Container(k) = self.eval(value) {
                    if eval::is_object_key(&k) || k.starts_with("fixtureobj:") {
                        self.out.reads.insert(k);
                        return;
                    }
                }
            }
        }
        let Some(parts) = e.dotted() else { return };
        if parts.len() < 2 {
            return;
        }
        if self.is_local(parts[0]) {
            // `embedder.max_seq_length` on a broad-scoped fixture's object.
            if let Some(Val::Container(k)) = self.locals.get(parts[0]) {
                if k.starts_with("fixtureobj:") || eval::is_object_key(k) {
                    let k = k.clone();
                    self.out.reads.insert(k);
                }
            }
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

    pub(super) fn call(&mut self, c: &Call, span: Span) {
        let q = self.q(&c.func).unwrap_or_default();
        let (method, receiver) = match &c.func.kind {
            ExprKind::Attribute { value, attr } => (Some(attr.as_str()), Some(&**value)),
            _ => (None, None),
        };
        // `super().setUp()`: the base class's method, on this receiver.
        if let (Some(m), Some(r)) = (method, receiver) {
            if let ExprKind::Call(inner) = &r.kind {
                if matches!(inner.func.dotted().as_deref(), Some(["super"])) {
                    self.super_call(m, span);
                    return;
                }
            }
        }
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
                            self.out.overrides.insert(format!("state:{dotted}"));
                        }
                        Some((target, _)) => {
                            if let (Some(q), Some(Val::Str(name))) =
                                (self.q(target), c.args.get(1).map(|n| self.eval(n)))
                            {
                                self.out.overrides.insert(format!("attr:{q}.{name}"));
                                self.out.overrides.insert(format!("state:{q}.{name}"));
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
                // An operation on something named uniquely (a per-worker
                // topic, a uuid bucket, `CREATE DATABASE {worker}`) shares nothing.
                let scoped_query = c.args.first().is_some_and(|a| self.eval(a).is_unique())
                    || c.keywords.iter().any(|kw| {
                        kw.name
                            .as_deref()
                            .is_some_and(catalog::is_resource_name_keyword)
                            && self.eval(&kw.value).is_unique()
                    });
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
        // A consumer of fixed topics reads them from the moment it exists.
        if catalog::kafka_client(&q) == Some(true) {
            if let Val::Obj(Obj::Service(k)) = self.call_value(c, 0) {
                self.service_use(&k, span);
            }
        }
        // Handing a connection to application code uses it, unless the call
        // also names something unique (`publish(producer, topic=worker_topic)`).
        let names_unique = c
            .args
            .iter()
            .chain(c.keywords.iter().map(|k| &k.value))
            .any(|a| !matches!(a.kind, ExprKind::Name(_)) && self.eval(a).is_unique()
                || matches!(&a.kind, ExprKind::Name(n) if self.locals.get(n.as_str()).is_some_and(|v| matches!(v, Val::Unique))));
        if catalog::service_constructor(&q).is_none() && !names_unique {
            for a in c.args.iter().chain(c.keywords.iter().map(|k| &k.value)) {
                if let ExprKind::Name(n) = &a.kind {
                    if let Some(Val::Obj(Obj::Service(k))) = self.locals.get(n.as_str()).cloned() {
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

        // Helpers defined in the suite, called by name or through their
        // module (`helpers.write_rows(...)`).
        if method.is_none() || matches!(c.func.kind, ExprKind::Attribute { .. }) {
            self.inline_helper(c, &q, span);
        }
        // Objects of the project's classes, and objects every test shares.
        let mut object_handled = false;
        if let Some(cls) = self.an.resolve_class(self.mi, &q) {
            self.constructor_call(&cls, span);
            object_handled = true;
        } else if let (Some(m), Some(r), Some(rv)) = (method, receiver, recv_val.as_ref()) {
            object_handled = self.object_call(c, m, r, rv, span);
            if !object_handled && !self.is_local(recv_q.split('.').next().unwrap_or("")) {
                // `Registry.register(x)`: a classmethod of a project class.
                if let Some(cls) = self.an.resolve_class(self.mi, &recv_q) {
                    if let Some((owner, f)) = self.an.find_method(&cls, m, 0) {
                        if let Some(sub) = self.an.summary(owner.module, Some(&owner), &f) {
                            self.absorb(
                                &sub,
                                span,
                                &format!("{}.{}", owner.name, f.name),
                                owner.module,
                            );
                        }
                    }
                    object_handled = true;
                }
            }
        }
        // Handing a shared object to other code may change it or read it.
        for a in c.args.iter().chain(c.keywords.iter().map(|k| &k.value)) {
            if let Val::Container(k) = self.eval(a) {
                if eval::is_object_key(&k) || k.starts_with("fixtureobj:") {
                    self.out.reads.insert(k);
                }
            }
        }

        self.api = (!q.is_empty()).then(|| q.clone());
        self.file_call(c, &q, method, recv_val.as_ref(), span);
        self.network_call(c, &q, method, recv_val.as_ref(), span);
        self.service_call(c, &q, method, recv_val.as_ref(), span);
        if !object_handled {
            self.state_call(c, &q, method, receiver, &recv_q, recv_val.as_ref(), span);
        }
        self.heavy_call(c, &q, method, span);
        self.api = None;
    }

    /// Is the callable `q` replaced by a mock in this context
    /// (`mock.patch("pkg.Loader")`, `@patch.object(mod, "load")`)?
    pub(super) fn patched(&self, q: &str) -> bool {
        !q.is_empty()
            && self.mitigating.iter().any(|k| {
                k.strip_prefix("attr:").is_some_and(|t| {
                    t == q
                        || t.strip_suffix(".*").is_some_and(|p| q.starts_with(p))
                        || q.rsplit_once('.').is_some_and(|(_, last)| {
                            t.rsplit_once('.').is_some_and(|(_, tl)| tl == last) && t.ends_with(q)
                        })
                })
            })
    }
}

/// Keys of containers whose elements stay parts of the shared object when
/// unpacked (`a, b = SHARED`): broad-scoped fixtures' values and module state.
fn holds_shared_parts(k: &str) -> bool {
    k.starts_with("fixture:") || k.starts_with("fixtureobj:") || eval::is_object_key(k)
}

/// `n.attr = value` (every target an attribute of `n`, the value not using
/// `n`): the attribute assigned, the state's prior value not read.
fn assigned_attr(s: &Stmt, n: &str) -> Option<String> {
    let StmtKind::Assign { targets, value } = &s.kind else {
        return None;
    };
    fn mentions(e: &Expr, n: &str) -> bool {
        matches!(&e.kind, ExprKind::Name(x) if x == n)
            || e.children().into_iter().any(|c| mentions(c, n))
    }
    if mentions(value, n) {
        return None;
    }
    let mut attr = None;
    for t in targets {
        match &t.kind {
            ExprKind::Attribute { value, attr: a } if matches!(&value.kind, ExprKind::Name(x) if x == n) =>
            {
                attr = Some(a.to_string());
            }
            _ => return None,
        }
    }
    attr
}
