//! Value evaluation: what an expression is worth to the analysis (a fixed
//! string or port, something unique per test or worker, a handle on a shared
//! service, a singleton...), following locals, module constants, fixture
//! values, pathlib joins, f-strings and `.format`.

use super::*;

impl<'w, 'a> Walker<'w, 'a> {
    pub(super) fn eval(&mut self, e: &Expr) -> Val {
        self.eval_depth(e, 0)
    }

    pub(super) fn eval_depth(&mut self, e: &Expr, d: u32) -> Val {
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

    pub(super) fn derives_from_unique(&mut self, e: &Expr, d: u32) -> bool {
        // Names and numbers computed from a unique value are unique; objects
        // built with one (a client given a tmp dir) are not thereby private.
        let name_like = match &e.kind {
            ExprKind::BinOp { .. }
            | ExprKind::FString(_)
            | ExprKind::Subscript { .. }
            | ExprKind::Other(_)
            | ExprKind::Tuple(_) => true,
            ExprKind::Call(c) => matches!(
                c.func.dotted().as_deref(),
                Some(["int" | "str" | "hash" | "hex" | "abs" | "format" | "repr"])
            ),
            _ => false,
        };
        if d > 8 || !name_like {
            return false;
        }
        // `eval_depth` of a child already folds in the child's own taint.
        e.children()
            .into_iter()
            .any(|c| self.eval_depth(c, d + 1).is_unique())
    }

    pub(super) fn eval_kind(&mut self, e: &Expr, d: u32) -> Val {
        match &e.kind {
            ExprKind::Str(s) => Val::Str(s.to_string()),
            ExprKind::Int(Some(n)) => Val::Int(*n),
            ExprKind::Name(n) => self.name_value(n, d),
            ExprKind::FString(parts) => {
                let vals: Vec<Val> = parts
                    .iter()
                    .map(|p| match p {
                        FPart::Lit(s) => Val::Str(s.to_string()),
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
                    return Val::Unknown;
                }
                // An element of an object every test shares is part of it
                // (`part = shared["records"][0]`): changing it changes that object.
                match self.eval_depth(value, d + 1) {
                    Val::Container(k)
                        if k.starts_with("fixtureobj:")
                            || k.starts_with("fixture:")
                            || is_object_key(&k) =>
                    {
                        Val::Container(k)
                    }
                    _ => Val::Unknown,
                }
            }
            ExprKind::Call(c) => self.call_value(c, d),
            ExprKind::Await(x) => self.eval_depth(x, d + 1),
            _ => Val::Unknown,
        }
    }

    pub(super) fn name_value(&mut self, n: &str, d: u32) -> Val {
        if n == "__file__" && !self.locals.contains_key(n) {
            // Relative to the rootdir: files next to the tests are shared too.
            return Val::Str(self.module.rel.clone());
        }
        if let Some(v) = self.locals.get(n) {
            if !self.globals.contains(n) {
                return v.clone();
            }
        }
        if let Some(q) = self.imports.get(n) {
            // An application constant (`from app.config import ROOT`), or
            // an object another module holds (`from app.data import ROWS`).
            if let Some(v) = self.an.app_values.get(q) {
                return v.clone();
            }
            let q = q.to_string();
            return self.an.imported_object(&q).unwrap_or(Val::Unknown);
        }
        if let Some(c) = self.module.constants.get(n) {
            let c = c.clone();
            let v = self.eval_depth(&c, d + 1);
            return match v {
                // One object for the whole process: every test that uses it
                // shares it.
                Val::Obj(Obj::Mutable | Obj::Instance(..)) => {
                    Val::Container(format!("state:{}.{}", self.module.dotted, n))
                }
                Val::Unknown if is_object_constructor(&c) || self.is_suite_factory_call(&c) => {
                    Val::Container(format!("state:{}.{}", self.module.dotted, n))
                }
                other => other,
            };
        }
        Val::Unknown
    }

    /// A call of a function the suite defines (a test helper, the project's
    /// own factory): at module level, whatever object it returns is made once
    /// and shared by every test of the module.
    fn is_suite_factory_call(&self, e: &Expr) -> bool {
        let ExprKind::Call(c) = &e.kind else {
            return false;
        };
        if let ExprKind::Name(n) = &c.func.kind {
            if !self.imports.is_imported(n) {
                return self.module.functions.contains_key(n.as_str());
            }
        }
        let Some(q) = self.q(&c.func) else {
            return false;
        };
        let Some((modpath, name)) = q.trim_start_matches('.').rsplit_once('.') else {
            return false;
        };
        self.an
            .module_by_dotted
            .get(modpath)
            .is_some_and(|&mi| self.an.suite.modules[mi].functions.contains_key(name))
    }

    pub(super) fn attr_value(&mut self, whole: &Expr, value: &Expr, attr: &str, d: u32) -> Val {
        // `self.import_dir` / `cls.registry`: an attribute of the class, which
        // every instance (every test of a test class) shares.
        if let ExprKind::Name(n) = &value.kind {
            if let Some(v) = self.locals.get(&format!("{n}.{attr}")) {
                return v.clone();
            }
        }
        if let (ExprKind::Name(n), Some(class)) = (&value.kind, self.class.clone()) {
            let receiver = matches!(n.as_str(), "self" | "cls")
                && matches!(
                    self.locals.get(n.as_str()),
                    None | Some(Val::Obj(Obj::SelfRef))
                );
            if receiver || *n == class {
                if let Some(v) = self.class_level_value(&class, attr, d) {
                    return v;
                }
            }
        }
        let base = self.eval_depth(value, d + 1);
        match (&base, attr) {
            (Val::Obj(Obj::SelfRef), _) => Val::Obj(Obj::SelfRef),
            (Val::Unique, _) => Val::Unique,
            (Val::Str(p), "parent") => Val::Str(dirname(p)),
            (Val::Str(_), "name" | "stem" | "suffix") => Val::Unknown,
            (Val::Obj(Obj::Service(k)), _) => Val::Obj(Obj::Service(k.clone())),
            (Val::Obj(Obj::PrivateService), _) => Val::Obj(Obj::PrivateService),
            // Parts of a shared object are that object (`spark.conf`,
            // `store.rows`): changing one changes what every user sees.
            // A model's manager (`Model.objects`) talks to the database,
            // which the test framework rolls back; it is no in-process state.
            (Val::Container(_), "objects") => Val::Unknown,
            (Val::Container(k), _)
                if k.starts_with("fixtureobj:")
                    || k.starts_with("fixture:")
                    || is_object_key(k) =>
            {
                Val::Container(k.clone())
            }
            // `solver.data` where the constructor stored a shared object there.
            (Val::Obj(Obj::Instance(_, held)), _) => match held.iter().find(|(a, _)| a == attr) {
                Some((_, k)) => Val::Container(k.clone()),
                None => Val::Unknown,
            },
            (Val::Obj(Obj::Singleton(q)), _) => {
                self.out.reads.insert(format!("attr:{q}.{attr}"));
                Val::Unknown
            }
            _ => {
                // `config.ROOT` where `config` is an application module.
                let Some(q) = self.q(whole) else {
                    return Val::Unknown;
                };
                if let Some(v) = self.an.app_values.get(&q) {
                    return v.clone();
                }
                self.an.imported_object(&q).unwrap_or(Val::Unknown)
            }
        }
    }

    /// The value of a class-level attribute seen through `self`/`cls`/the
    /// class name: literals as themselves, objects as the shared object.
    pub(super) fn class_level_value(&mut self, class: &str, attr: &str, d: u32) -> Option<Val> {
        let own = value::ClassRef {
            module: self.mi,
            name: class.to_string(),
        };
        let owner = if self.module.class_defs.contains_key(class) {
            self.an.class_level_attr(&own, attr, 0)
        } else {
            None
        };
        let expr = match &owner {
            Some(o) => self.an.suite.modules[o.module]
                .class_attrs
                .get(&o.name)
                .and_then(|a| a.get(attr))
                .cloned(),
            None => self
                .module
                .class_attrs
                .get(class)
                .and_then(|attrs| attrs.get(attr))
                .cloned(),
        };
        let v = match &expr {
            Some(e) if owner.as_ref().is_none_or(|o| o.module == self.mi) => {
                Some(self.eval_depth(e, d + 1))
            }
            _ => None,
        };
        let owner = owner?;
        match v {
            Some(v @ (Val::Str(_) | Val::Int(_) | Val::Unique | Val::Tuple(_))) => Some(v),
            Some(
                v @ Val::Obj(Obj::Service(_) | Obj::PrivateService | Obj::Logger | Obj::Socket),
            ) => Some(v),
            // Numbers, flags and text are values, not objects.
            _ if expr.as_ref().is_some_and(is_immutable_literal) => Some(Val::Unknown),
            _ => {
                let dotted = &self.an.suite.modules[owner.module].dotted;
                Some(Val::Container(format!(
                    "state:{dotted}.{}.{attr}",
                    owner.name
                )))
            }
        }
    }

    /// `~`, unless this body pointed HOME somewhere unique.
    pub(super) fn home_dir(&self) -> Val {
        match self.env_values.get("HOME") {
            Some(v) if v.is_unique() => Val::Unique,
            _ => Val::Str("~".into()),
        }
    }

    pub(super) fn is_os_environ(&self, e: &Expr) -> bool {
        self.q(e).as_deref() == Some("os.environ")
    }

    pub(super) fn call_value(&mut self, c: &Call, d: u32) -> Val {
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
        if let (Some(m), ExprKind::Attribute { value, .. }) = (method, &c.func.kind) {
            if catalog::is_test_client_factory(m) {
                if let Val::Container(k) = self.eval_depth(value, d + 1) {
                    if k.starts_with("fixtureobj:") || is_object_key(&k) {
                        return Val::Obj(Obj::AppClient(k));
                    }
                }
            }
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
            "logging.getLogger" => {
                // A logger named after something unique to the test
                // (`tmp_path.name`, a uuid) is that test's own.
                if c.arg(0, "name")
                    .is_some_and(|a| self.eval_depth(a, d + 1).is_unique())
                {
                    return Val::Unique;
                }
                return Val::Obj(Obj::Logger);
            }
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
        if let Some(consumer) = catalog::kafka_client(&q) {
            return self.kafka_value(c, consumer, d);
        }
        if q == "boto3.client" || q == "boto3.resource" || q == "boto3.session.Session.client" {
            // Under moto's mock the client talks to an in-process fake.
            if self.mitigating.iter().any(|k| k == "aws:mock") {
                return Val::Obj(Obj::PrivateService);
            }
            return match c.keyword("endpoint_url").map(|e| self.eval_depth(e, d + 1)) {
                Some(Val::Str(url)) => match service_key(&url) {
                    Some(k) => Val::Obj(Obj::Service(format!("service:{k}"))),
                    None => Val::Unknown,
                },
                Some(v) if v.is_unique() => Val::Obj(Obj::PrivateService),
                // Real AWS: shared by every worker, like any remote service.
                None => Val::Obj(Obj::Service("service:aws://default".into())),
                _ => Val::Unknown,
            };
        }
        if let Some((scheme, _)) = catalog::service_constructor(&q) {
            return self.service_value(c, scheme, d);
        }
        if let Some(cls) = self.an.resolve_class(self.mi, &q) {
            let held = self.held_by_constructor(&cls, c, d);
            return Val::Obj(Obj::Instance(cls, held));
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
    pub(super) fn service_value(&mut self, c: &Call, scheme: &str, d: u32) -> Val {
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
                if s.contains("://") {
                    // A URL with no host: a network database's driver
                    // connects to its local default; any other scheme names
                    // an in-process or registered test dialect, no server.
                    if !catalog::is_service_scheme(&s) {
                        return Val::Unknown;
                    }
                    let url_scheme = s.split("://").next().unwrap_or("");
                    let url_scheme = url_scheme.split('+').next().unwrap_or(url_scheme);
                    let key = format!("{}://localhost", url_scheme.to_ascii_lowercase());
                    return Val::Obj(Obj::Service(format!("service:{key}")));
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

    /// A Kafka client: the broker is shared; a consumer of fixed topics uses
    /// them from the start, one of per-worker topics is private.
    fn kafka_value(&mut self, c: &Call, consumer: bool, d: u32) -> Val {
        let servers = c
            .keyword("bootstrap_servers")
            .map(|v| self.eval_depth(v, d + 1))
            .or_else(|| {
                // confluent_kafka: `Producer({"bootstrap.servers": ...})`.
                let ExprKind::Dict(items) = &c.args.first()?.kind else {
                    return None;
                };
                items
                    .iter()
                    .find_map(|(k, v)| {
                        (k.as_ref()?.as_str()? == "bootstrap.servers").then(|| v.clone())
                    })
                    .map(|v| self.eval_depth(&v, d + 1))
            });
        let broker = match servers {
            Some(Val::Str(s)) => s,
            Some(v) if v.is_unique() => return Val::Obj(Obj::PrivateService),
            _ => "localhost:9092".to_string(),
        };
        if consumer {
            let topics: Vec<Val> = c.args.iter().map(|a| self.eval_depth(a, d + 1)).collect();
            if !topics.is_empty() && topics.iter().all(Val::is_unique) {
                return Val::Obj(Obj::PrivateService);
            }
        }
        Val::Obj(Obj::Service(format!("service:kafka://{broker}")))
    }

    /// The value of a client's `dbname=`/`database=`/`db=` keyword.
    pub(super) fn database_keyword(&mut self, c: &Call, d: u32) -> Option<Val> {
        ["dbname", "database", "db"]
            .iter()
            .find_map(|k| c.keyword(k))
            .map(|v| self.eval_depth(v, d + 1))
    }
}

/// A module-level `NAME = Something(...)` that builds an object (a class
/// call, by naming convention), not a value computed by a function.
fn is_object_constructor(e: &Expr) -> bool {
    let ExprKind::Call(c) = &e.kind else {
        return false;
    };
    c.func
        .dotted()
        .and_then(|d| d.last().copied())
        .is_some_and(|last| {
            last.chars().next().is_some_and(char::is_uppercase)
                && last.chars().any(char::is_lowercase)
        })
}

/// A literal no method can change in place.
fn is_immutable_literal(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Str(_)
            | ExprKind::FString(_)
            | ExprKind::Bytes
            | ExprKind::Int(_)
            | ExprKind::Float
            | ExprKind::Bool(_)
            | ExprKind::Tuple(_)
    )
}

/// Keys of objects that live for the whole process: module-level objects and
/// class-level attributes (`state:...`).
pub(super) fn is_object_key(k: &str) -> bool {
    k.starts_with("state:")
}

pub(super) fn service_key_of(
    scheme: &str,
    host: &str,
    port: Option<i64>,
    db: Option<Val>,
) -> String {
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

pub(super) fn percent_format(fmt: &str, args: &[String]) -> String {
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

pub(super) fn brace_format(fmt: &str, c: &Call, args: &[Val]) -> String {
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
