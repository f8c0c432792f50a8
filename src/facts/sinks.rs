//! Sinks: the calls that make a hazard (files written, ports bound, services
//! used or wiped, process state changed, models loaded), each turned into a
//! `Hazard` with its resource key, message and fix.

use super::*;

impl<'w, 'a> Walker<'w, 'a> {
    pub(super) fn write_path(&mut self, v: &Val, span: Span, verb: &str) {
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

    pub(super) fn file_call(
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
            let target = c.arg(0, "file").or_else(|| c.keyword("name"));
            let scoped = target.and_then(|p| self.scoped_key(p));
            if mode.contains(['w', 'a', 'x', '+']) {
                if let Some(k) = scoped {
                    self.scoped_write(&k, "writes", span);
                } else if let Some(p) = target {
                    let v = self.eval(p);
                    self.write_path(&v, span, "writes");
                }
            } else if let Some(k) = scoped {
                self.out.reads.insert(k);
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
                    if let Some(k) = self.scoped_key(p) {
                        self.scoped_write(&k, verb, span);
                        continue;
                    }
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
        // `data_dir / "rows.json").write_text(...)` on what a broad-scoped
        // fixture made for its scope.
        if let (Some(m), ExprKind::Attribute { value, .. }) = (method, &c.func.kind) {
            // `d.ensure("a")`, `d.mkdir("a")`: the entry made inside `d`.
            let made = match m {
                "ensure" | "mkdir" | "mkdir_p" => self.scoped_entry(c),
                _ => None,
            };
            if let Some(k) = made.or_else(|| self.scoped_key(value)) {
                if matches!(m, "remove" | "unlink" | "rmdir" | "rmtree") {
                    self.scoped_changes.push((k.clone(), span, true));
                }
                let mode = c.arg(0, "mode").and_then(|x| x.as_str()).unwrap_or("r");
                let writes = (catalog::is_path_write_method(m)
                    && !matches!(m, "replace" | "rename"))
                    || (m == "open" && mode.contains(['w', 'a', 'x', '+']));
                if writes {
                    self.scoped_write(&k, "writes", span);
                    return;
                }
            }
        }
        // Application code handed a fixed path to write to (not a method of
        // something private to the test, like `pytester.copy_example("x.py")`).
        if recv.is_some_and(Val::is_unique) {
            return;
        }
        let callee_name = method.unwrap_or_else(|| q.rsplit('.').next().unwrap_or(q));
        // An object built over an in-memory stream (`Upload(io.BytesIO(b""),
        // "a.txt")`): the name is metadata, nothing is written to disk.
        let over_memory = c
            .args
            .iter()
            .chain(c.keywords.iter().map(|k| &k.value))
            .any(|a| {
                a.as_call()
                    .and_then(|inner| self.q(&inner.func))
                    .is_some_and(|q| catalog::is_in_memory_stream(&q))
            });
        let writer = !over_memory
            && ((catalog::looks_like_writer(callee_name)
                && !catalog::is_write_to_arg_method(callee_name))
                || (method.is_none() && catalog::looks_like_file_backed(callee_name)));
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
        // Spark: `df.write.mode("overwrite").parquet(path)`.
        if catalog::is_spark_writer_sink(m)
            && receiver_chain_has(c, &["write", "writeTo", "writeStream"])
        {
            if let Some(p) = c.args.first().or_else(|| c.keyword("path")) {
                let v = self.eval(p);
                self.write_path(&v, span, "writes");
            }
            return;
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

    /// `runserver 127.0.0.1:8765`, `http.server 8000`: the address follows
    /// the server command in an argument list.
    fn server_command_port(&mut self, vals: &[Val], span: Span) {
        let Some(pos) = vals.iter().position(|v| {
            v.as_str().is_some_and(|s| {
                matches!(
                    s,
                    "runserver"
                        | "http.server"
                        | "uvicorn"
                        | "gunicorn"
                        | "daphne"
                        | "hypercorn"
                        | "serve"
                )
            })
        }) else {
            return;
        };
        for v in &vals[pos + 1..] {
            let Some(s) = v.as_str() else { continue };
            if s.starts_with('-') {
                continue;
            }
            if let Some(p) = s.rsplit(':').next().and_then(|p| p.parse::<i64>().ok()) {
                self.port_hazard(p, span, "starts a server on");
                return;
            }
        }
    }

    pub(super) fn port_hazard(&mut self, port: i64, span: Span, what: &str) {
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

    pub(super) fn address_port(&mut self, addr: &Expr) -> Option<i64> {
        match self.eval(addr) {
            Val::Tuple(items) if items.len() >= 2 => items[1].as_port(),
            Val::Str(s) => s.rsplit_once(':').and_then(|(_, p)| p.parse().ok()),
            _ => None,
        }
    }

    pub(super) fn network_call(
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
                    self.server_command_port(&vals, span);
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

    pub(super) fn service_call(
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

    pub(super) fn service_use(&mut self, key: &str, span: Span) {
        if !self.used_services.insert(key.to_string()) {
            return;
        }
        let shown = key.trim_start_matches("service:");
        self.hazard("ISO301", Some(key.to_string()), Effect::Shared, span,
            format!("uses the shared service `{shown}`; tests on other xdist workers read and write the same data at the same time"),
            "give each worker its own database (suffix the name with `worker_id`), or scope the data each test writes by a unique id");
    }

    pub(super) fn destructive(&mut self, key: Option<String>, span: Span, what: &str) {
        let shown = key
            .as_deref()
            .map(|k| format!(" on `{}`", k.trim_start_matches("service:")))
            .unwrap_or_default();
        self.hazard("ISO303", key, Effect::Serial, span,
            format!("runs `{what}`{shown}, wiping the whole database while other workers' tests use it"),
            "delete only the nodes/rows the test created (label or tag them with a per-test id), or use a database per worker");
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn state_call(
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
                                Some(Val::Str(s)) => keys.push(s.into()),
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
        if let (Some("close" | "detach"), Some(stream)) = (method, catalog::process_stream(recv_q))
        {
            // Closing a stream the body bound itself closes its own buffer.
            if !self.rebound_streams.contains(stream) || recv_q.contains("__") {
                self.hazard("ISO409", Some(format!("stream:sys.{stream}")), Effect::Order, span,
                    format!("closes `{recv_q}`, the worker's {stream} (while a test runs, pytest's capture file); every later test on the same worker fails when pytest reads or writes its output"),
                    "close only the buffer the test bound itself (`contextlib.redirect_stdout(io.StringIO())`), or use the `capsys` fixture");
            }
            return;
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
        // Switching a hook back off (`gc.enable()`, `sys.settrace(None)`)
        // changes nothing on its own; in teardown it restores the setting.
        if catalog::switches_hook_off(q, c.args.first().map(|a| &a.kind)) {
            if self.restoring {
                if let Some(setting) = catalog::hook_setting(q) {
                    self.setting_hazard(setting, q, span);
                }
            }
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
        // Undo calls (`removeHandler`, `reset_option`) change nothing on
        // their own; in teardown they restore the setting.
        if self.restoring
            && (matches!(method, Some("removeHandler" | "removeFilter"))
                || q == "pandas.reset_option")
        {
            let setting = if q == "pandas.reset_option" {
                "pandas-options"
            } else {
                "logging"
            };
            self.setting_hazard(setting, q, span);
            return;
        }
        if matches!(
            method,
            Some("setLevel" | "addHandler" | "addFilter" | "propagate")
        ) {
            let m = method.unwrap_or("setLevel");
            if let Some(ExprKind::Call(inner)) = receiver.map(|r| &r.kind) {
                if self.q(&inner.func).as_deref() == Some("logging.getLogger") {
                    if matches!(recv, Some(Val::Obj(Obj::Logger))) {
                        self.setting_hazard(
                            "logging",
                            &format!("logging.getLogger(...).{m}"),
                            span,
                        );
                    }
                    return;
                }
            }
            if recv_q.starts_with("logging.") {
                self.setting_hazard("logging", &format!("{recv_q}.{m}"), span);
                return;
            }
            if matches!(recv, Some(Val::Obj(Obj::Logger))) {
                self.setting_hazard("logging", &format!("logger.{m}"), span);
                return;
            }
        }
        // Setters on a shared fixture object or a part of it (`spark.conf.set`).
        if let (Some("set" | "setdefault" | "set_option" | "update"), Some(Val::Container(k))) =
            (method, recv)
        {
            if k.starts_with("fixtureobj:")
                && !matches!(receiver.map(|r| &r.kind), Some(ExprKind::Name(_)))
            {
                let k = k.clone();
                self.shared_fixture_mutation(&k, "changes a setting of", span);
                return;
            }
        }
        // Receivers connected to a process-wide signal.
        if let (Some("connect" | "disconnect"), Some(r)) = (method, receiver) {
            if self
                .imports
                .is_imported(r.dotted().map(|p| p[0]).unwrap_or(""))
                && catalog::is_signal(recv_q)
            {
                self.container_write(r, span);
            }
            return;
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

    pub(super) fn setting_hazard(&mut self, setting: &str, what: &str, span: Span) {
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

    pub(super) fn heavy_call(&mut self, c: &Call, q: &str, method: Option<&str>, span: Span) {
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
    pub(super) fn inline_helper(&mut self, c: &Call, q: &str, span: Span) {
        if self.depth >= 2 || self.patched(q) {
            return;
        }
        let mut nested = false;
        let (mi, func) = match &c.func.kind {
            ExprKind::Name(n) if self.local_funcs.contains_key(n.as_str()) => {
                nested = true;
                (
                    self.mi,
                    std::sync::Arc::clone(&self.local_funcs[n.as_str()]),
                )
            }
            ExprKind::Name(n) if !self.is_local(n) && !self.imports.is_imported(n) => {
                match self.module.functions.get(n.as_str()) {
                    Some(f) => (self.mi, f.clone()),
                    None => return,
                }
            }
            // `helpers.write_rows(...)` through an imported module, too.
            ExprKind::Name(_) | ExprKind::Attribute { .. } => {
                if let ExprKind::Attribute { value, .. } = &c.func.kind {
                    let module_base = value
                        .dotted()
                        .is_some_and(|p| !self.is_local(p[0]) && self.imports.is_imported(p[0]));
                    if !module_base {
                        return;
                    }
                }
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
        let mut scoped = HashMap::new();
        for (i, p) in func.params.iter().enumerate() {
            // Parameters left to their default are evaluated in the helper's
            // own module (by `walk_function`).
            if let Some(a) = c.args.get(i).or_else(|| c.keyword(&p.name)) {
                let v = self.eval(a);
                if let Some(k) = self.scoped_key(a) {
                    scoped.insert(p.name.to_string(), k);
                }
                params.insert(p.name.to_string(), v);
            } else if p.default.is_none() {
                params.insert(p.name.to_string(), Val::Unknown);
            }
        }
        let outer = nested.then(|| self.imports.local.clone());
        let mut sub = self.an.walk_function_in(
            mi,
            &func,
            None,
            (params, scoped),
            self.function_scoped,
            self.depth + 1,
            outer.as_ref(),
        );
        let latent = self.an.suite.modules[mi].application;
        for mut h in std::mem::take(&mut sub.hazards) {
            if h.api.as_deref().is_some_and(|a| self.patched(a)) {
                continue;
            }
            // A file a fixture made is the tests' own state, whoever writes it.
            h.latent |= latent && !h.key.as_deref().is_some_and(is_fixture_file);
            h.module = self.mi;
            h.span = span;
            // One note for the whole chain: `(in helper `outer` → `inner`)`.
            h.message = match h.message.split_once(" (in helper `") {
                Some((head, tail)) => format!("{head} (in helper `{}` → `{tail}", func.name),
                None => format!("{} (in helper `{}`)", h.message, func.name),
            };
            if h.effect == Effect::Order {
                if let Some(k) = &h.key {
                    if key_matches_any(k, self.mitigating.iter().map(String::as_str)) {
                        continue;
                    }
                }
            }
            self.out.hazards.push(h);
        }
        self.take_reads(&sub, latent);
        self.out.chdir_unique |= sub.chdir_unique;
    }
}

pub(super) fn first_words(s: &str) -> &str {
    let s = s.trim();
    let end = s.char_indices().nth(40).map(|(i, _)| i).unwrap_or(s.len());
    s[..end].lines().next().unwrap_or("")
}

pub(super) fn short_call(q: &str, method: Option<&str>) -> String {
    match method {
        Some(m) if m == "from_pretrained" => format!("{m}()"),
        _ => format!("{}()", q.rsplit('.').next().unwrap_or(q)),
    }
}

/// Does the callee's receiver chain go through one of `attrs`
/// (`df.write.mode(...).parquet` goes through `write`)?
pub(super) fn receiver_chain_has(c: &Call, attrs: &[&str]) -> bool {
    let mut e = match &c.func.kind {
        ExprKind::Attribute { value, .. } => &**value,
        _ => return false,
    };
    for _ in 0..16 {
        match &e.kind {
            ExprKind::Attribute { value, attr } => {
                if attrs.contains(&attr.as_str()) {
                    return true;
                }
                e = value;
            }
            ExprKind::Call(inner) => e = &inner.func,
            _ => return false,
        }
    }
    false
}
