//! Mitigations: context managers and decorators that restore what changes
//! inside them, and the keys a body restores in teardown, `finally` blocks or
//! finalizers.

use super::*;

impl<'w, 'a> Walker<'w, 'a> {
    /// Key patterns a `with` context or patch decorator restores.
    pub(super) fn patch_keys(&mut self, e: &Expr) -> Vec<String> {
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
        // `self.settings(...)` / `self.modify_settings(...)` of a Django
        // test case restore the settings they change.
        if let ExprKind::Attribute { value, attr } = &callee.kind {
            if matches!(attr.as_str(), "settings" | "modify_settings")
                && matches!(self.eval(value), Val::Obj(Obj::SelfRef))
                && call.is_some()
            {
                keys.push("attr:django.conf.settings".into());
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

    pub(super) fn with_mitigation(&mut self, ctx: &Expr) {
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

    pub(super) fn decorator_mitigations(&mut self, decorators: &[Decorator]) {
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
    pub(super) fn restored_keys(&mut self, body: &[Stmt]) -> BTreeSet<String> {
        let mut restore_blocks: Vec<Vec<Stmt>> = Vec::new();
        if let Some(pos) = body.iter().position(stmt_has_yield) {
            restore_blocks.push(body[pos + 1..].to_vec());
            // `with ctx: yield x; cleanup()`: the rest of the `with` block
            // after the yield is teardown too.
            let mut inner = &body[pos];
            while let StmtKind::With { body: b, .. } = &inner.kind {
                let Some(p) = b.iter().position(stmt_has_yield) else {
                    break;
                };
                restore_blocks.push(b[p + 1..].to_vec());
                inner = &b[p];
            }
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
                // Teardown may call a helper (a nested `reset()`), one
                // level deep and never from inside a helper: bounded.
                depth: self.depth.max(1),
                class: self.class.clone(),
                env_values: HashMap::new(),
                used_services: HashSet::new(),
                guards: Vec::new(),
                local_funcs: self.local_funcs.clone(),
                api: None,
                restoring: true,
                scoped: self.scoped.clone(),
                scoped_changes: Vec::new(),
                class_setup: self.class_setup,
                rebound_streams: self.rebound_streams.clone(),
            };
            // Globals declared anywhere in the function apply to teardown.
            collect_globals(body, &mut probe.globals);
            probe.block(&block);
            for h in probe.out.hazards {
                if h.effect == Effect::Order {
                    // Writing a fixture's file again in `finally` is one more
                    // write, not a restore of what the test found there.
                    // Closing a process stream puts nothing back either.
                    if let Some(k) = h
                        .key
                        .filter(|k| !is_fixture_file(k) && !is_broken_for_all(k))
                    {
                        keys.insert(k);
                    }
                }
            }
            // Putting back a container's whole contents (`X[:] = saved`)
            // restores what the attribute shows.
            for st in &block {
                if let StmtKind::Assign { targets, .. } = &st.kind {
                    for t in targets {
                        if let ExprKind::Subscript { value, index } = &t.kind {
                            if matches!(index.kind, ExprKind::Other(_)) {
                                if let Some(q) = self.q(value) {
                                    if q == "sys.path" {
                                        keys.insert(q.clone());
                                    }
                                    keys.insert(format!("attr:{q}"));
                                    keys.insert(format!("state:{q}"));
                                }
                            }
                        }
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

/// The key pattern of a process-wide container a snapshot can put back
/// whole: `sys.modules` (every entry), `sys.path`.
fn restorable_container(q: &str) -> Option<&'static str> {
    match q {
        "sys.modules" => Some("sys.modules:*"),
        "sys.path" => Some("sys.path"),
        _ => None,
    }
}

impl<'w, 'a> Walker<'w, 'a> {
    /// What the method `name` of the project class `cls` puts back whole at
    /// its top level: `sys.modules.clear()` then `sys.modules.update(saved)`,
    /// or `sys.path[:] = saved` (a snapshot's `restore()`).
    fn whole_container_restores(&self, cls: &super::value::ClassRef, name: &str) -> Vec<String> {
        let Some((owner, f)) = self.an.find_method(cls, name, 0) else {
            return Vec::new();
        };
        let imports = &self.an.suite.modules[owner.module].imports;
        let mut cleared: BTreeSet<&'static str> = BTreeSet::new();
        let mut out = Vec::new();
        for st in &f.body {
            match &st.kind {
                StmtKind::Expr(Expr {
                    kind: ExprKind::Call(c),
                    ..
                }) => {
                    let ExprKind::Attribute { value, attr } = &c.func.kind else {
                        continue;
                    };
                    let Some(k) = imports
                        .qualify(value)
                        .and_then(|q| restorable_container(&q))
                    else {
                        continue;
                    };
                    match attr.as_str() {
                        "clear" => {
                            cleared.insert(k);
                        }
                        "update" | "extend" if cleared.contains(k) => out.push(k.to_string()),
                        _ => {}
                    }
                }
                StmtKind::Assign { targets, .. } => {
                    let mut parts: Vec<&Expr> = Vec::new();
                    for t in targets {
                        match &t.kind {
                            ExprKind::Tuple(items) | ExprKind::List(items) => parts.extend(items),
                            _ => parts.push(t),
                        }
                    }
                    for t in parts {
                        if let ExprKind::Subscript { value, index } = &t.kind {
                            if matches!(index.kind, ExprKind::Other(_)) {
                                if let Some(k) = imports
                                    .qualify(value)
                                    .and_then(|q| restorable_container(&q))
                                {
                                    out.push(k.to_string());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Keys the body's own top-level code puts back to their initial state
    /// before it ends: a module attribute assigned last the literal its
    /// module binds it to (`cfg.strict = False ... cfg.strict = True`), a
    /// hook setting switched off last (`sys.setprofile(None)`,
    /// `gc.enable()`). The change leaks only if the test fails in between.
    pub(super) fn reset_by_the_end(&mut self, body: &[Stmt]) -> BTreeSet<String> {
        let mut last: HashMap<String, bool> = HashMap::new();
        // Locals holding what a setter returned: the setting they put back.
        let mut saved: HashMap<String, &'static str> = HashMap::new();
        for s in body {
            match &s.kind {
                StmtKind::Delete(targets) => {
                    for t in targets {
                        if let ExprKind::Subscript { value, .. } = &t.kind {
                            if let Some(k) = self.q(value).and_then(|q| restorable_container(&q)) {
                                last.insert(k.to_string(), false);
                            }
                        }
                    }
                }
                StmtKind::Assign { targets, value } => {
                    for t in targets {
                        if let ExprKind::Subscript { value, .. } = &t.kind {
                            if let Some(k) = self.q(value).and_then(|q| restorable_container(&q)) {
                                last.insert(k.to_string(), false);
                            }
                        }
                    }
                    if let ExprKind::Call(c) = &value.kind {
                        let q = self.q(&c.func).unwrap_or_default();
                        if let (true, Some(setting)) = (
                            catalog::returns_previous_setting(&q),
                            catalog::process_setting(&q),
                        ) {
                            for t in targets {
                                if let ExprKind::Name(n) = &t.kind {
                                    saved.insert(n.to_string(), setting);
                                }
                            }
                            last.insert(format!("setting:{setting}"), false);
                        }
                    }
                    for t in targets {
                        let ExprKind::Attribute { value: base, attr } = &t.kind else {
                            continue;
                        };
                        let Some(q) = self.q(base) else { continue };
                        let key = format!("attr:{q}.{attr}");
                        let initial = self.module_initial_literal(&q, attr);
                        let same = initial.is_some_and(|i| same_literal(&i.kind, &value.kind));
                        last.insert(key, same);
                    }
                }
                StmtKind::Expr(Expr {
                    kind: ExprKind::Call(c),
                    ..
                }) => {
                    // `snapshot.restore()`: a method of a project class that
                    // puts whole containers back.
                    if let ExprKind::Attribute { value, attr } = &c.func.kind {
                        if let ExprKind::Name(n) = &value.kind {
                            if let Some(Val::Obj(Obj::Instance(cls, _))) =
                                self.locals.get(n.as_str())
                            {
                                let cls = cls.clone();
                                for k in self.whole_container_restores(&cls, attr) {
                                    last.insert(k, true);
                                }
                                continue;
                            }
                        }
                    }
                    if let ExprKind::Attribute { value, .. } = &c.func.kind {
                        if let Some(k) = self.q(value).and_then(|q| restorable_container(&q)) {
                            last.insert(k.to_string(), false);
                        }
                    }
                    let q = self.q(&c.func).unwrap_or_default();
                    if catalog::returns_previous_setting(&q) {
                        if let Some(setting) = catalog::process_setting(&q) {
                            // `os.umask(old)` with what `old = os.umask(0)` returned.
                            let back = matches!(c.args.first().map(|a| &a.kind),
                                Some(ExprKind::Name(n)) if saved.get(n.as_str()) == Some(&setting));
                            last.insert(format!("setting:{setting}"), back);
                        }
                        continue;
                    }
                    let Some(setting) = catalog::hook_setting(&q) else {
                        continue;
                    };
                    let off = catalog::switches_hook_off(&q, c.args.first().map(|a| &a.kind));
                    last.insert(format!("setting:{setting}"), off);
                }
                _ => {}
            }
        }
        last.into_iter()
            .filter(|(_, reset)| *reset)
            .map(|(k, _)| k)
            .collect()
    }

    /// `mod.attr = value` where the project module `mod` binds `attr` at its
    /// top level to the same literal, the same empty container or a fresh
    /// object built the same way without arguments (`_cache = {}`,
    /// `_state = Local()`): the attribute is put back to its initial state
    /// (a cache emptied), which hands later tests what a fresh process has.
    pub(super) fn resets_to_initial(&self, base: &Expr, attr: &str, value: &Expr) -> bool {
        let Some(q) = self.q(base) else { return false };
        let q = q.trim_start_matches('.');
        let Some(&mi) = self.an.module_by_dotted.get(q) else {
            return false;
        };
        let m = &self.an.suite.modules[mi];
        let Some(initial) = m.constants.get(attr) else {
            return false;
        };
        match (&initial.kind, &value.kind) {
            (ExprKind::Dict(a), ExprKind::Dict(b)) => a.is_empty() && b.is_empty(),
            (ExprKind::List(a), ExprKind::List(b)) | (ExprKind::Set(a), ExprKind::Set(b)) => {
                a.is_empty() && b.is_empty()
            }
            (ExprKind::Call(a), ExprKind::Call(b)) => {
                let fresh = |c: &Call| c.args.is_empty() && c.keywords.is_empty();
                fresh(a) && fresh(b) && {
                    let ours = self.q(&b.func);
                    let theirs = m.imports.qualify(&a.func).or_else(|| {
                        a.func
                            .dotted()
                            .map(|d| format!("{}.{}", m.dotted, d.join(".")))
                    });
                    ours.is_some() && ours == theirs
                }
            }
            (a, b) => same_literal(a, b),
        }
    }

    /// The literal a project module binds `attr` to at its top level, for
    /// `q` naming that module.
    fn module_initial_literal(&self, q: &str, attr: &str) -> Option<Expr> {
        let q = q.trim_start_matches('.');
        let &mi = self.an.module_by_dotted.get(q)?;
        let e = self.an.suite.modules[mi].constants.get(attr)?;
        matches!(
            e.kind,
            ExprKind::Bool(_) | ExprKind::NoneLit | ExprKind::Int(_) | ExprKind::Str(_)
        )
        .then(|| e.clone())
    }
}

fn same_literal(a: &ExprKind, b: &ExprKind) -> bool {
    match (a, b) {
        (ExprKind::Bool(x), ExprKind::Bool(y)) => x == y,
        (ExprKind::NoneLit, ExprKind::NoneLit) => true,
        (ExprKind::Int(Some(x)), ExprKind::Int(Some(y))) => x == y,
        (ExprKind::Str(x), ExprKind::Str(y)) => x == y,
        _ => false,
    }
}

pub(super) fn stmt_has_yield(s: &Stmt) -> bool {
    fn e_has(e: &Expr) -> bool {
        matches!(e.kind, ExprKind::Yield(_)) || e.children().into_iter().any(e_has)
    }
    if matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return false;
    }
    s.exprs().into_iter().any(e_has) || s.blocks().into_iter().any(|b| b.iter().any(stmt_has_yield))
}

pub(super) fn collect_finally(body: &[Stmt], out: &mut Vec<Vec<Stmt>>) {
    for s in body {
        if let StmtKind::Try { finalbody, .. } = &s.kind {
            if !finalbody.is_empty() {
                out.push(finalbody.to_vec());
            }
        }
        if !matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            for b in s.blocks() {
                collect_finally(b, out);
            }
        }
    }
}

pub(super) fn collect_globals(body: &[Stmt], out: &mut HashSet<String>) {
    for s in body {
        if let StmtKind::Global(names) = &s.kind {
            out.extend(names.iter().map(|n| n.to_string()));
        }
        for b in s.blocks() {
            collect_globals(b, out);
        }
    }
}

pub(super) fn collect_finalizers(body: &[Stmt], out: &mut Vec<Vec<Stmt>>) {
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
                    "addfinalizer"
                        | "addCleanup"
                        | "addClassCleanup"
                        | "addModuleCleanup"
                        | "callback"
                        | "enter_context"
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
                    // `addfinalizer(functools.partial(undo, x))` calls `undo(x)`.
                    if let Some(ExprKind::Call(p)) = c.args.first().map(|a| &a.kind) {
                        let partial = p
                            .func
                            .dotted()
                            .is_some_and(|d| d.last() == Some(&"partial"));
                        if let (true, Some(f)) = (partial, p.args.first()) {
                            out.push(vec![Stmt {
                                kind: StmtKind::Expr(Expr {
                                    kind: ExprKind::Call(Box::new(Call {
                                        func: f.clone(),
                                        args: p.args[1..].to_vec(),
                                        keywords: p.keywords.clone(),
                                    })),
                                    span: e.span,
                                }),
                                span: e.span,
                            }]);
                        }
                    }
                    // `addCleanup(os.chdir, old)` / `addCleanup(setattr, mod, "x", old)`.
                    if let Some(first) = c.args.first() {
                        if !matches!(first.kind, ExprKind::Lambda(_) | ExprKind::Call(_)) {
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

pub(super) fn block_mentions_environ_restore(block: &[Stmt], imports: &Names) -> bool {
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
