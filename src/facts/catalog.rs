//! The API catalog: which calls write files, bind ports, connect to services,
//! destroy data, change process-wide state or load heavy resources. Names are
//! qualified through imports before they are looked up here.

/// Calls whose argument `index` is a path they write, create or delete.
pub fn path_write_call(q: &str) -> Option<&'static [usize]> {
    Some(match q {
        "os.makedirs"
        | "os.mkdir"
        | "os.remove"
        | "os.unlink"
        | "os.rmdir"
        | "os.removedirs"
        | "os.truncate"
        | "os.mkfifo"
        | "os.mknod"
        | "shutil.rmtree"
        | "numpy.save"
        | "numpy.savez"
        | "numpy.savez_compressed"
        | "numpy.savetxt"
        | "logging.FileHandler"
        | "logging.handlers.RotatingFileHandler"
        | "logging.handlers.TimedRotatingFileHandler"
        | "shutil.make_archive"
        | "pathlib.Path.mkdir"
        | "pathlib.Path.touch"
        | "pathlib.Path.write_text"
        | "pathlib.Path.write_bytes"
        | "pathlib.Path.unlink" => &[0],
        "os.rename" | "os.replace" | "os.renames" => &[0, 1],
        "os.symlink"
        | "os.link"
        | "shutil.copy"
        | "shutil.copy2"
        | "shutil.copyfile"
        | "shutil.copytree"
        | "shutil.move"
        | "shutil.unpack_archive"
        | "torch.save"
        | "joblib.dump"
        | "pickle.dump" => &[1],
        _ => return None,
    })
}

/// Methods that write, create or delete the path they are called on.
pub fn is_path_write_method(m: &str) -> bool {
    matches!(
        m,
        "write_text"
            | "write_bytes"
            | "mkdir"
            | "touch"
            | "unlink"
            | "rmdir"
            | "rename"
            | "replace"
            | "symlink_to"
            | "hardlink_to"
            | "mkdir_p"
            | "rmtree"
            | "ensure"
            | "write"
    )
}

/// Methods that write the path given as their first argument relative to
/// the working directory (`df.to_csv(path)`, `fig.savefig(path)`).
pub fn writes_relative_to_cwd(m: &str) -> bool {
    m.starts_with("to_") || m == "savefig"
}

/// Methods that write to the path given as their first argument
/// (`df.to_csv(path)`, `fig.savefig(path)`, `img.save(path)`).
pub fn is_write_to_arg_method(m: &str) -> bool {
    matches!(
        m,
        "to_csv"
            | "to_parquet"
            | "to_json"
            | "to_excel"
            | "to_pickle"
            | "to_feather"
            | "to_hdf"
            | "to_stata"
            | "to_sql_file"
            | "savefig"
            | "save"
            | "save_pretrained"
            | "dump_to"
            | "write_file"
            | "extractall"
    )
}

/// Calls that open a file with an explicit mode argument.
pub fn is_open_call(q: &str) -> bool {
    matches!(
        q,
        "open"
            | "io.open"
            | "builtins.open"
            | "codecs.open"
            | "gzip.open"
            | "bz2.open"
            | "lzma.open"
    )
}

/// Calls that open archives/stores for writing with mode in argument 1.
pub fn is_mode_archive(q: &str) -> bool {
    matches!(
        q,
        "zipfile.ZipFile" | "tarfile.open" | "h5py.File" | "shelve.open" | "dbm.open"
    )
}

/// Server constructors taking an `(host, port)` address as argument 0.
pub fn is_address_server(q: &str) -> bool {
    matches!(
        q,
        "socket.create_server"
            | "socketserver.TCPServer"
            | "socketserver.ThreadingTCPServer"
            | "socketserver.UDPServer"
            | "http.server.HTTPServer"
            | "http.server.ThreadingHTTPServer"
            | "xmlrpc.server.SimpleXMLRPCServer"
            | "multiprocessing.connection.Listener"
    )
}

/// Server starters taking host and port as separate positional arguments
/// (index of the port argument).
pub fn host_port_server(q: &str) -> Option<usize> {
    Some(match q {
        "wsgiref.simple_server.make_server"
        | "werkzeug.serving.make_server"
        | "werkzeug.serving.run_simple" => 1,
        "asyncio.start_server" | "asyncio.start_unix_server" => 2,
        "aiohttp.web.TCPSite" => 2,
        _ => return None,
    })
}

/// Calls or methods that serve on a `port=` keyword.
pub fn is_port_keyword_server(q: &str, method: Option<&str>) -> bool {
    matches!(
        q,
        "uvicorn.run"
            | "uvicorn.Config"
            | "aiohttp.web.run_app"
            | "aiohttp.web.TCPSite"
            | "hypercorn.Config"
            | "waitress.serve"
            | "gunicorn.app.base.BaseApplication"
            | "pytest_httpserver.HTTPServer"
            | "asyncio.start_server"
    ) || matches!(
        method,
        Some(
            "run"
                | "run_server"
                | "serve"
                | "listen"
                | "start_server"
                | "create_server"
                | "run_app"
        )
    )
}

/// HTTP client calls that change server state.
pub fn is_mutating_http(q: &str, method: Option<&str>) -> bool {
    let m = q.rsplit('.').next().unwrap_or(q);
    let lib = q.starts_with("requests.") || q.starts_with("httpx.") || q.starts_with("aiohttp.");
    (lib || method.is_some()) && matches!(method.unwrap_or(m), "post" | "put" | "patch" | "delete")
}

/// Service client constructors: the URL/DSN argument index and the scheme to
/// use when the argument is keyword-style.
pub fn service_constructor(q: &str) -> Option<(&'static str, usize)> {
    Some(match q {
        "neo4j.GraphDatabase.driver"
        | "neo4j.AsyncGraphDatabase.driver"
        | "neo4j.GraphDatabase.bolt_driver"
        | "neo4j.GraphDatabase.neo4j_driver"
        | "py2neo.Graph" => ("bolt", 0),
        "sqlalchemy.create_engine"
        | "sqlalchemy.ext.asyncio.create_async_engine"
        | "sqlmodel.create_engine"
        | "databases.Database" => ("sql", 0),
        "psycopg2.connect"
        | "psycopg.connect"
        | "psycopg.AsyncConnection.connect"
        | "asyncpg.connect"
        | "asyncpg.create_pool"
        | "psycopg_pool.ConnectionPool" => ("postgresql", 0),
        "pymysql.connect" | "MySQLdb.connect" | "mysql.connector.connect" => ("mysql", 0),
        "redis.Redis"
        | "redis.StrictRedis"
        | "redis.asyncio.Redis"
        | "redis.Redis.from_url"
        | "redis.from_url"
        | "redis.asyncio.from_url"
        | "redis.StrictRedis.from_url" => ("redis", 0),
        "pymongo.MongoClient" | "motor.motor_asyncio.AsyncIOMotorClient" => ("mongodb", 0),
        "elasticsearch.Elasticsearch" | "opensearchpy.OpenSearch" => ("http", 0),
        "pika.BlockingConnection" | "kombu.Connection" => ("amqp", 0),
        "boto3.client" | "boto3.resource" => ("aws", 0),
        _ => return None,
    })
}

/// In-process fakes whose state is private to the test.
pub fn is_fake_service(q: &str) -> bool {
    q.starts_with("fakeredis.")
        || q.starts_with("mongomock.")
        || q.starts_with("unittest.mock.")
        || q.starts_with("mock.")
        || q.starts_with("moto.")
}

/// Calls that return a value unique to this test or worker.
pub fn is_unique_source(q: &str) -> bool {
    matches!(
        q,
        "tempfile.mkdtemp"
            | "tempfile.mkstemp"
            | "tempfile.TemporaryDirectory"
            | "tempfile.NamedTemporaryFile"
            | "tempfile.SpooledTemporaryFile"
            | "tempfile.TemporaryFile"
            | "tempfile.mktemp"
            | "uuid.uuid1"
            | "uuid.uuid3"
            | "uuid.uuid4"
            | "uuid.uuid5"
            | "os.getpid"
            | "os.urandom"
            | "time.time"
            | "time.time_ns"
            | "time.monotonic_ns"
            | "time.perf_counter_ns"
            | "random.randint"
            | "random.random"
            | "random.choice"
            | "random.getrandbits"
            | "secrets.token_hex"
            | "secrets.token_urlsafe"
            | "secrets.token_bytes"
            | "dagster.DagsterInstance.ephemeral"
            | "dagster.DagsterInstance.local_temp"
            | "dagster.instance_for_test"
            | "dagster._core.test_utils.instance_for_test"
            | "sqlite3.connect_memory"
            | "threading.get_ident"
            | "socket.socketpair"
    ) || q.starts_with("secrets.")
        || q.starts_with("fakeredis.")
        || q.starts_with("mongomock.")
        || q.starts_with("testcontainers.")
}

/// Methods on values that return a unique value (`tmp_path_factory.mktemp`).
pub fn is_unique_method(m: &str) -> bool {
    matches!(m, "mktemp" | "getbasetemp" | "mkdtemp")
}

/// Environment variables that name the xdist worker.
pub fn is_worker_env(name: &str) -> bool {
    matches!(name, "PYTEST_XDIST_WORKER" | "PYTEST_XDIST_TESTRUNUID")
}

/// Heavy resource loaders (ML models).
pub fn is_model_loader(q: &str, method: Option<&str>) -> bool {
    matches!(
        q,
        "sentence_transformers.SentenceTransformer"
            | "sentence_transformers.CrossEncoder"
            | "transformers.pipeline"
            | "torch.load"
            | "torch.hub.load"
            | "torch.jit.load"
            | "spacy.load"
            | "tensorflow.keras.models.load_model"
            | "keras.models.load_model"
            | "keras.saving.load_model"
            | "whisper.load_model"
            | "fasttext.load_model"
            | "stanza.Pipeline"
            | "open_clip.create_model_and_transforms"
            | "gensim.models.KeyedVectors.load_word2vec_format"
            | "gensim.downloader.load"
            | "flair.models.SequenceTagger.load"
            | "tensorflow_hub.load"
    ) || (matches!(method, Some("from_pretrained")) && !is_light_pretrained(q))
        || (q == "timm.create_model")
}

/// `from_pretrained` on classes that load configuration or vocabulary files
/// (kilobytes to a few megabytes), not model weights.
fn is_light_pretrained(q: &str) -> bool {
    let class = q.rsplit('.').nth(1).unwrap_or("");
    [
        "Config",
        "Tokenizer",
        "TokenizerFast",
        "FeatureExtractor",
        "ImageProcessor",
        "Processor",
    ]
    .iter()
    .any(|suffix| class.ends_with(suffix))
}

/// Process pools: is this call sized to every CPU?
pub fn is_process_pool(q: &str) -> bool {
    matches!(
        q,
        "concurrent.futures.ProcessPoolExecutor"
            | "multiprocessing.Pool"
            | "multiprocessing.pool.Pool"
            | "joblib.Parallel"
            | "loky.get_reusable_executor"
    )
}

pub fn is_cpu_count(q: &str) -> bool {
    matches!(
        q,
        "os.cpu_count" | "multiprocessing.cpu_count" | "os.process_cpu_count" | "psutil.cpu_count"
    )
}

/// Process-wide settings: qualified call -> setting key.
pub fn process_setting(q: &str) -> Option<&'static str> {
    Some(match q {
        "logging.basicConfig"
        | "logging.config.dictConfig"
        | "logging.config.fileConfig"
        | "logging.disable"
        | "logging.setLoggerClass"
        | "logging.captureWarnings" => "logging",
        "locale.setlocale" => "locale",
        "socket.setdefaulttimeout" => "socket-timeout",
        "sys.setrecursionlimit" => "recursion-limit",
        "sys.setswitchinterval" => "switch-interval",
        "signal.signal" | "signal.alarm" | "signal.setitimer" => "signals",
        "numpy.set_printoptions" | "numpy.seterr" => "numpy",
        "pandas.set_option" => "pandas-options",
        "torch.set_default_dtype" | "torch.set_num_threads" | "torch.set_grad_enabled" => "torch",
        "matplotlib.use" | "matplotlib.rcParams.update" => "matplotlib",
        "time.tzset" => "timezone",
        "asyncio.set_event_loop_policy" | "asyncio.set_event_loop" => "event-loop",
        "os.umask" => "umask",
        "gc.disable" | "gc.set_threshold" => "gc",
        "sys.settrace" | "sys.setprofile" | "threading.settrace" => "tracing",
        "django.conf.settings.configure" => "django-settings",
        _ => return None,
    })
}

/// Setters that return the value they replace (`old = os.umask(0)`):
/// calling them again with that value puts the setting back.
pub fn returns_previous_setting(q: &str) -> bool {
    matches!(q, "os.umask")
}

/// Context managers that restore what changes inside them: key patterns.
pub fn restoring_context(q: &str) -> Option<&'static str> {
    Some(match q {
        "warnings.catch_warnings" | "pytest.warns" | "pytest.deprecated_call" => "setting:warnings",
        "pandas.option_context" => "setting:pandas-options",
        "numpy.errstate" | "numpy.printoptions" => "setting:numpy",
        "contextlib.chdir" => "cwd",
        "django.test.override_settings"
        | "django.test.utils.override_settings"
        | "django.test.modify_settings"
        | "django.test.utils.modify_settings" => "attr:django.conf.settings",
        "decimal.localcontext" => "setting:decimal",
        "torch.no_grad" | "torch.inference_mode" => "setting:torch",
        "matplotlib.rc_context" => "setting:matplotlib",
        q if is_aws_fake_context(q) => "aws:mock",
        _ => return None,
    })
}

/// In-memory file objects: what is built over one keeps its bytes in memory.
pub fn is_in_memory_stream(q: &str) -> bool {
    matches!(
        q,
        "io.BytesIO"
            | "io.StringIO"
            | "_io.BytesIO"
            | "_io.StringIO"
            | "tempfile.SpooledTemporaryFile"
    )
}

/// Process hooks switched on and off by one call each: the setting they
/// belong to.
pub fn hook_setting(q: &str) -> Option<&'static str> {
    Some(match q {
        "sys.settrace" | "sys.setprofile" | "threading.settrace" | "threading.setprofile" => {
            "tracing"
        }
        "gc.disable" | "gc.enable" => "gc",
        "faulthandler.enable" | "faulthandler.disable" => "faulthandler",
        _ => return None,
    })
}

/// Does this call put its hook back to the interpreter's default
/// (`sys.settrace(None)`, `gc.enable()`)?
pub fn switches_hook_off(q: &str, first_arg: Option<&crate::python::ir::ExprKind>) -> bool {
    use crate::python::ir::ExprKind;
    match q {
        "gc.enable" | "faulthandler.disable" => true,
        "sys.settrace" | "sys.setprofile" | "threading.settrace" | "threading.setprofile" => {
            matches!(first_arg, Some(ExprKind::NoneLit))
        }
        _ => false,
    }
}

/// Context managers whose block is expected to raise (the test fails
/// otherwise).
pub fn is_raises_context(q: &str) -> bool {
    matches!(q, "pytest.raises" | "_pytest.python_api.raises")
}

/// unittest's (and its frameworks') `with self.assertRaises(...)` family.
pub fn is_raises_assertion(method: &str) -> bool {
    matches!(
        method,
        "assertRaises" | "assertRaisesRegex" | "assertRaisesMessage"
    )
}

/// xunit and unittest hooks that set up or tear down a whole test class:
/// they run once per class, before (or after) that class's tests, with `cls`
/// bound to the class being run (a subclass, when the hook is inherited).
pub fn is_class_setup_hook(name: &str) -> bool {
    matches!(
        name,
        "setUpClass" | "tearDownClass" | "setup_class" | "teardown_class"
    )
}

/// State a test framework resets before every test it runs, so what one
/// test leaves there no later test sees: Django's test cases (and
/// pytest-django's autouse mailbox fixture) empty the outbox of the locmem
/// email backend before each test.
/// Methods of web-framework app objects that hand out a test client
/// (Flask/Quart/Werkzeug-style `app.test_client()`).
pub fn is_test_client_factory(m: &str) -> bool {
    matches!(m, "test_client")
}

/// A request through a test client that changes what the app holds:
/// `post`/`put`/`patch`/`delete`, and thin wrappers named after them
/// (`post_json`, a one-letter prefix as in `jput`). Reads (`get`, `head`,
/// `options`) are not.
pub fn is_writing_request(m: &str) -> bool {
    const VERBS: &[&str] = &["post", "put", "patch", "delete"];
    m.to_ascii_lowercase().split('_').any(|part| {
        VERBS
            .iter()
            .any(|v| part.ends_with(v) && part.len() <= v.len() + 1)
    })
}

/// The stream name of a process stream (`sys.stdout`, `sys.__stderr__`).
pub fn process_stream(q: &str) -> Option<&'static str> {
    match q {
        "sys.stdout" | "sys.__stdout__" => Some("stdout"),
        "sys.stderr" | "sys.__stderr__" => Some("stderr"),
        "sys.stdin" | "sys.__stdin__" => Some("stdin"),
        _ => None,
    }
}

pub fn is_reset_per_test(q: &str) -> bool {
    matches!(q, "django.core.mail.outbox")
}

/// Per-request and per-app-context proxies of web frameworks (`flask.g`,
/// `flask.session`): each request or context gets its own object, so what a
/// test stores on them is not module state.
pub fn is_context_local(q: &str) -> bool {
    const PROXIES: &[&str] = &[
        "flask.g",
        "flask.session",
        "flask.request",
        "flask.current_app",
        "flask.globals.g",
        "flask.globals.session",
        "flask.globals.request",
        "flask.globals.current_app",
        "quart.g",
        "quart.session",
        "quart.request",
        "starlette.requests.Request",
    ];
    PROXIES
        .iter()
        .any(|p| q == *p || q.strip_prefix(p).is_some_and(|rest| rest.starts_with('.')))
}

/// Container methods that mutate.
pub fn is_mutating_method(m: &str) -> bool {
    matches!(
        m,
        "append"
            | "extend"
            | "insert"
            | "add"
            | "setdefault"
            | "update"
            | "clear"
            | "pop"
            | "popitem"
            | "remove"
            | "discard"
            | "appendleft"
            | "extendleft"
            | "popleft"
    )
}

/// Constructors of mutable containers.
pub fn is_container_constructor(q: &str) -> bool {
    matches!(
        q,
        "dict"
            | "list"
            | "set"
            | "collections.defaultdict"
            | "collections.OrderedDict"
            | "collections.Counter"
            | "collections.deque"
            | "weakref.WeakValueDictionary"
            | "weakref.WeakKeyDictionary"
    )
}

/// Query verbs that wipe a whole database or service.
pub fn whole_service_wipe(query: &str) -> bool {
    let q = query.to_ascii_uppercase();
    let q: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if q.contains("DROP DATABASE") || q.contains("FLUSHALL") {
        return true;
    }
    // `MATCH (n) DETACH DELETE n` with no label and no WHERE.
    if let Some(pos) = q.find("MATCH (") {
        let rest = &q[pos + 7..];
        if let Some(close) = rest.find(')') {
            let pattern = &rest[..close];
            let after = &rest[close + 1..];
            let unlabelled = !pattern.contains(':') && !pattern.contains('{');
            if unlabelled
                && !after.contains("WHERE")
                && (after.trim_start().starts_with("DETACH DELETE")
                    || after.trim_start().starts_with("DELETE"))
            {
                return true;
            }
        }
    }
    false
}

/// Query verbs that wipe a table or keyspace (narrower than the service).
pub fn table_wipe(query: &str) -> bool {
    let q = query.to_ascii_uppercase();
    let q: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    q.starts_with("TRUNCATE")
        || q.contains(" TRUNCATE ")
        || q.starts_with("DROP TABLE")
        || q.contains("DROP SCHEMA")
        || q.contains("FLUSHDB")
        || (q.starts_with("DELETE FROM") && !q.contains("WHERE"))
}

/// Methods of a service handle that open a narrower handle without touching
/// data (`driver.session()`, `engine.connect()`).
pub fn is_handle_method(m: &str) -> bool {
    matches!(
        m,
        "session"
            | "connect"
            | "cursor"
            | "begin"
            | "transaction"
            | "pipeline"
            | "close"
            | "dispose"
            | "verify_connectivity"
            | "get_server_info"
            | "ping"
            | "flush"
            | "metrics"
            | "bootstrap_connected"
            | "__enter__"
            | "__exit__"
    )
}

/// Methods that run a query or command on a service.
pub fn is_query_method(m: &str) -> bool {
    matches!(
        m,
        "run"
            | "execute"
            | "executemany"
            | "executescript"
            | "query"
            | "execute_query"
            | "execute_command"
            | "execute_write"
            | "write_transaction"
    )
}

/// Class-method names that return a process-wide singleton.
pub fn is_singleton_accessor(m: &str) -> bool {
    matches!(
        m,
        "instance"
            | "get_instance"
            | "getInstance"
            | "shared"
            | "current"
            | "default_instance"
            | "get_default"
    )
}

/// Callee names that start a server (their `port=` is bound).
pub fn looks_like_server(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "serve", "server", "start", "launch", "spawn", "listen", "run_app", "bind",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Callee names of application code that writes to the path it is given.
pub fn looks_like_writer(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if [
        "read",
        "load",
        "parse",
        "exists",
        "open_for_read",
        "stat",
        "glob",
        "list",
    ]
    .iter()
    .any(|w| n.starts_with(w))
    {
        return false;
    }
    [
        "write",
        "save",
        "dump",
        "append",
        "record",
        "touch",
        "purge",
        "clean",
        "rotate",
        "archive",
        "install",
        "export",
        "store",
        "persist",
        "snapshot",
        "mkdir",
        "makedirs",
        "copy",
        "move",
        "extract",
        "download",
        "generate",
        "emit",
        "output",
        "init_",
        "create_dir",
        "prepare",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Keyword names that name a directory or file a callee writes to.
pub fn is_output_keyword(k: &str) -> bool {
    matches!(
        k,
        "output"
            | "output_dir"
            | "output_path"
            | "out"
            | "out_dir"
            | "outdir"
            | "dest"
            | "destination"
            | "target_dir"
            | "workdir"
            | "work_dir"
            | "cache_dir"
            | "data_dir"
            | "save_path"
            | "save_dir"
            | "log_file"
            | "logfile"
            | "export_dir"
            | "staging_dir"
            | "base_dir"
            | "root_dir"
            | "home"
    )
}

/// Callee names of clients/resources configured by a service URL.
pub fn looks_like_service_client(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "resource",
        "client",
        "driver",
        "engine",
        "connection",
        "graph",
        "database",
        "store",
        "repository",
        "pool",
    ]
    .iter()
    .any(|w| n.ends_with(w))
}

/// URL schemes of data services (not plain web pages).
pub fn is_service_scheme(url: &str) -> bool {
    let scheme = url.split("://").next().unwrap_or("").to_ascii_lowercase();
    let scheme = scheme.split('+').next().unwrap_or("");
    matches!(
        scheme,
        "bolt"
            | "neo4j"
            | "postgresql"
            | "postgres"
            | "mysql"
            | "mariadb"
            | "redis"
            | "rediss"
            | "mongodb"
            | "amqp"
            | "kafka"
            | "memcached"
            | "clickhouse"
            | "elasticsearch"
    )
}

/// Handle methods that open a session on a database (a use of its data
/// unless the database is per-worker or administrative).
pub fn is_session_method(m: &str) -> bool {
    matches!(
        m,
        "session" | "connect" | "cursor" | "begin" | "transaction" | "pipeline"
    )
}

/// Administrative databases that hold no test data.
pub fn is_admin_database(name: &str) -> bool {
    matches!(
        name,
        "system"
            | "postgres"
            | "template0"
            | "template1"
            | "admin"
            | "master"
            | "mysql"
            | "information_schema"
    )
}

/// Class names of application objects that keep data in the file they are
/// given (`ScoreStore("scores.json")`).
pub fn looks_like_file_backed(name: &str) -> bool {
    let first_upper = name.chars().next().is_some_and(char::is_uppercase);
    first_upper
        && [
            "Store",
            "Storage",
            "Cache",
            "Repository",
            "Repo",
            "Db",
            "DB",
            "Database",
            "History",
            "Journal",
            "Log",
            "Writer",
            "Ledger",
            "Registry",
        ]
        .iter()
        .any(|w| name.ends_with(w))
}

/// Callee names that run a command-line entry point with an argument list.
pub fn looks_like_cli_entry(name: &str) -> bool {
    matches!(
        name,
        "main" | "cli" | "run_cli" | "invoke" | "app" | "entrypoint" | "run_main" | "console_main"
    )
}

/// Command-line flags that name something the command reads.
pub fn is_input_flag(flag: &str) -> bool {
    let f = flag.trim_start_matches('-').to_ascii_lowercase();
    [
        "in", "input", "config", "conf", "read", "from", "src", "source", "bank", "load", "data",
    ]
    .iter()
    .any(|w| f == *w || f.starts_with(&format!("{w}-")) || f.starts_with(&format!("{w}_")))
}

/// File extensions that make a bare relative string a file name.
pub fn is_file_extension(ext: &str) -> bool {
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "json"
            | "jsonl"
            | "csv"
            | "tsv"
            | "txt"
            | "db"
            | "sqlite"
            | "sqlite3"
            | "log"
            | "xml"
            | "yaml"
            | "yml"
            | "toml"
            | "ini"
            | "cfg"
            | "pkl"
            | "pickle"
            | "parquet"
            | "npy"
            | "npz"
            | "h5"
            | "hdf5"
            | "png"
            | "jpg"
            | "jpeg"
            | "svg"
            | "pdf"
            | "html"
            | "md"
            | "zip"
            | "tar"
            | "gz"
            | "bz2"
            | "xz"
            | "dat"
            | "bin"
            | "out"
            | "lock"
            | "pid"
            | "sock"
            | "xlsx"
            | "feather"
            | "arrow"
            | "avro"
            | "orc"
            | "bak"
            | "tmp"
            | "cache"
            | "conf"
            | "env"
            | "pem"
            | "key"
            | "crt"
    )
}

/// Keyword arguments that name the resource an operation touches
/// (`Bucket=`, `topic=`): unique values make the operation private.
pub fn is_resource_name_keyword(k: &str) -> bool {
    matches!(
        k,
        "Bucket"
            | "Key"
            | "TableName"
            | "QueueUrl"
            | "QueueName"
            | "StreamName"
            | "topic"
            | "name"
            | "database"
            | "index"
            | "collection"
            | "key"
    )
}

/// Kafka clients: `(is a consumer, bootstrap keyword)`.
pub fn kafka_client(q: &str) -> Option<bool> {
    Some(match q {
        "kafka.KafkaProducer" | "aiokafka.AIOKafkaProducer" | "confluent_kafka.Producer" => false,
        "kafka.KafkaConsumer" | "aiokafka.AIOKafkaConsumer" | "confluent_kafka.Consumer" => true,
        _ => return None,
    })
}

/// Contexts under which AWS clients talk to an in-process fake.
pub fn is_aws_fake_context(q: &str) -> bool {
    q.starts_with("moto.mock_") || q == "moto.mock_aws"
}

/// Spark writer sinks (`df.write.mode(...).parquet(path)`).
pub fn is_spark_writer_sink(m: &str) -> bool {
    matches!(
        m,
        "parquet" | "csv" | "json" | "orc" | "text" | "save" | "saveAsTable"
    )
}

/// `signal.connect(receiver)` / `.disconnect(...)` on a process-wide
/// signal (Django, blinker): registers a receiver for every later test.
pub fn is_signal(q: &str) -> bool {
    let last = q.rsplit('.').next().unwrap_or(q);
    q.starts_with("django.db.models.signals.")
        || q.starts_with("django.core.signals.")
        || q.starts_with("django.test.signals.")
        || q.starts_with("blinker.")
        || last.contains("signal")
        || [
            "_save",
            "_delete",
            "_changed",
            "_created",
            "_started",
            "_finished",
            "_init",
            "_migrate",
            "_updated",
            "_registered",
        ]
        .iter()
        .any(|s| last.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipes() {
        assert!(whole_service_wipe("MATCH (n) DETACH DELETE n"));
        assert!(whole_service_wipe("match (n)\n detach delete n"));
        assert!(!whole_service_wipe("MATCH (n:TestNode) DETACH DELETE n"));
        assert!(!whole_service_wipe(
            "MATCH (n) WHERE n.run = $id DETACH DELETE n"
        ));
        assert!(whole_service_wipe("DROP DATABASE test"));
        assert!(table_wipe("TRUNCATE awards"));
        assert!(table_wipe("DELETE FROM awards"));
        assert!(!table_wipe("DELETE FROM awards WHERE id = 1"));
    }

    #[test]
    fn pretrained_weights_are_heavy_configs_are_not() {
        let m = Some("from_pretrained");
        assert!(is_model_loader("transformers.AutoModel.from_pretrained", m));
        assert!(is_model_loader(
            "transformers.BertForSequenceClassification.from_pretrained",
            m
        ));
        assert!(!is_model_loader(
            "transformers.AutoConfig.from_pretrained",
            m
        ));
        assert!(!is_model_loader(
            "transformers.AutoTokenizer.from_pretrained",
            m
        ));
        assert!(!is_model_loader(
            "transformers.BertTokenizerFast.from_pretrained",
            m
        ));
        assert!(!is_model_loader(
            "transformers.AutoProcessor.from_pretrained",
            m
        ));
    }
}
