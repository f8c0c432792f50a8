"""isoaudit's observer: what each test really touches outside itself.

Loaded by ``isoaudit_plugin`` in every process that runs tests when
``isoaudit run`` observes (the default; ``--no-observe`` turns it off). It
records, per test function, resource keys in the vocabulary of isoaudit's
static facts, so that a static and an observed fact about one resource are
one resource:

- through ``sys.addaudithook`` (PEP 578): files opened for writing, created,
  renamed, deleted (``path:``), ``socket.bind`` to a fixed port and
  ``socket.connect`` to a fixed local port (``port:``), ``sqlite3.connect``
  (``path:``), ``subprocess.Popen`` (``process:``, a note);
- by comparing before and after each test: ``os.environ`` (``env:``), the
  working directory (``cwd``), ``sys.path``, entries of ``sys.modules``
  replaced or removed (``sys.modules:``), loggers' levels and handlers
  (``setting:logging``), module-level names and class attributes of the
  project's own modules (``state:``: rebinding; containers' length; objects'
  attributes);
- the growth of the peak RSS and the CPU time of each test.

Each key carries the first frame in the project's code as evidence
(``path:line``), the stage (setup, call, teardown) and the fixture whose
setup caused it. Paths under pytest's basetemp or a fresh
``tempfile.mkdtemp()``/``TemporaryDirectory()``, and files the ``tempfile``
module makes, are private and ignored.

Observation never changes a test's outcome: the audit hook never raises, no
code under test is patched, and a failure inside the observer is written
once (``observe-error-*.txt``) and turns observation off in this process.
The hook is cheap for the events it does not want: one dict lookup.
"""

import logging
import operator
import os
import sys
import time

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import pytest

# The plugin that imports this module is loaded by then (``-p isoaudit_plugin``).
from isoaudit_plugin import function_nodeid

# How much of the project's state is fingerprinted before and after a test.
MAX_MODULES = 2000
MAX_CONTAINER = 10000
MAX_KEYS_PER_TEST = 200
MAX_TESTS = 100000

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_LOCAL_HOSTS = frozenset(("127.0.0.1", "localhost", "::1", "0.0.0.0", "", "::"))
_CONTAINERS = (list, dict, set, bytearray)
_is = operator.is_


def _ephemeral_ports():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = f.read().split()[:2]
            return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _fspath(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return os.fsdecode(value)
    if isinstance(value, int):
        return None
    try:
        value = os.fspath(value)
    except TypeError:
        return None
    return os.fsdecode(value) if isinstance(value, bytes) else value


class _Snapshot:
    """The project's module and class state: dicts compared by identity of
    their keys and values (C speed), containers and objects by length."""

    def __init__(self, observer):
        self.observer = observer
        # name -> (mapping, keys, values, containers, lengths)
        self.tracked = {}
        self.modules_seen = set()
        self.modules_count = -1

    def _entry(self, mapping):
        keys = list(mapping)
        values = list(mapping.values())
        containers = []
        names = []
        for k, v in zip(keys, values):
            t = type(v)
            if t in _CONTAINERS:
                if len(v) <= MAX_CONTAINER:
                    containers.append(v)
                    names.append(k)
            elif t.__module__ not in ("builtins", "typing") and not isinstance(
                v, (type, type(sys), type(_fspath))
            ):
                try:
                    d = object.__getattribute__(v, "__dict__")
                except Exception:  # noqa: BLE001 - no __dict__: nothing to watch
                    continue
                if type(d) is dict and len(d) <= MAX_CONTAINER:
                    containers.append(d)
                    names.append(k)
        return [mapping, keys, values, containers, names, list(map(len, containers))]

    def add_new_modules(self):
        """Starts tracking the project's modules imported since the last call."""
        obs = self.observer
        if len(sys.modules) == self.modules_count:
            return
        self.modules_count = len(sys.modules)
        for name, module in list(sys.modules.items()):
            if name in self.modules_seen:
                continue
            self.modules_seen.add(name)
            if len(self.tracked) >= MAX_MODULES:
                continue
            path = getattr(module, "__file__", None)
            if not isinstance(path, str) or not obs.is_project_file(path):
                continue
            try:
                mapping = module.__dict__
            except Exception:  # noqa: BLE001
                continue
            self.tracked[name] = self._entry(mapping)
            for attr, value in list(mapping.items()):
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    self.tracked["%s.%s" % (name, attr)] = self._entry(value.__dict__)

    def changes(self):
        """Names whose state changed since the last call; the new state is
        the baseline for the next."""
        changed = []
        for name, entry in self.tracked.items():
            mapping, keys, values, containers, cnames, lengths = entry
            same = (
                len(mapping) == len(keys)
                and all(map(_is, mapping, keys))
                and all(map(_is, mapping.values(), values))
            )
            if same and list(map(len, containers)) == lengths:
                continue
            if not same:
                old = dict(zip(keys, values))
                for k, v in mapping.items():
                    if isinstance(k, str) and old.get(k, _is) is not v:
                        if not k.startswith("__"):
                            changed.append("%s.%s" % (name, k))
                for k in old:
                    if isinstance(k, str) and k not in mapping and not k.startswith("__"):
                        changed.append("%s.%s" % (name, k))
            for c, k, n in zip(containers, cnames, lengths):
                if len(c) != n and isinstance(k, str):
                    changed.append("%s.%s" % (name, k))
            self.tracked[name] = self._entry(mapping)
        return changed


def _environ():
    # The encoded mapping behind os.environ: copied and compared in C.
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


def _loggers():
    manager = logging.Logger.manager
    out = {"": (logging.root.level, len(logging.root.handlers), logging.root.disabled)}
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            out[name] = (logger.level, len(logger.handlers), logger.disabled, logger.propagate)
    return out


class Observer:
    def __init__(self, config, schedule):
        self.config = config
        self.schedule = schedule
        self.worker = os.environ.get("PYTEST_XDIST_WORKER") or "main"
        self.root = str(config.rootpath)
        self.root_slash = self.root + os.sep
        self.work = os.path.realpath(schedule.dir) + os.sep
        excluded = {os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix)}
        excluded.add(os.path.dirname(os.path.abspath(__file__)) + os.sep)
        for p in sys.path:
            if p and ("site-packages" in p or "dist-packages" in p):
                excluded.add(os.path.realpath(p) + os.sep)
        self.excluded = tuple(sorted(excluded))
        self.tmp = os.path.realpath(os.environ.get("TMPDIR") or "/tmp")
        import tempfile

        self.gettempdir = os.path.realpath(tempfile.gettempdir())
        self.home = os.path.expanduser("~")
        self.private = set()
        basetemp = getattr(config.option, "basetemp", None)
        if basetemp:
            self.private.add(os.path.realpath(os.path.abspath(str(basetemp))))
        try:
            import getpass

            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name: pytest uses "unknown"
            user = "unknown"
        self.private.add(os.path.join(self.gettempdir, "pytest-of-%s" % user))
        self.ephemeral = _ephemeral_ports()
        self.tests = {}
        self.fixture_keys = {}
        self.current = None
        self.stage = None
        self.fixtures = []
        self.pending = None
        self.events = None
        self.inside = False
        self.broken = None
        self.project_files = {}
        self.snapshot = _Snapshot(self)
        self.handlers = {
            "open": self._on_open,
            "os.rename": self._on_two_paths,
            "os.link": self._on_two_paths,
            "os.symlink": self._on_symlink,
            "os.remove": self._on_path,
            "os.rmdir": self._on_path,
            "os.mkdir": self._on_path,
            "os.chmod": self._on_path,
            "os.truncate": self._on_path,
            "shutil.rmtree": self._on_path,
            "os.chdir": self._on_pending,
            "os.putenv": self._on_pending,
            "os.unsetenv": self._on_pending,
            "tempfile.mkdtemp": self._on_mkdtemp,
            "socket.bind": self._on_bind,
            "socket.connect": self._on_connect,
            "sqlite3.connect": self._on_sqlite,
            "subprocess.Popen": self._on_popen,
        }
        self.active = True
        sys.addaudithook(self._hook)

    # -- failure ------------------------------------------------------------

    def _fail(self, what, exc):
        if self.broken is not None:
            return
        self.active = False
        self.broken = "%s: %s: %s" % (what, type(exc).__name__, exc)
        try:
            path = self.schedule.path("observe-error", self.worker, "txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.broken)
        except Exception:  # noqa: BLE001 - nowhere to say it; observation is off anyway
            pass

    # -- the audit hook (hot path) ----------------------------------------

    def _hook(self, event, args):
        if self.events is None:
            return
        handler = self.handlers.get(event)
        if handler is None or self.inside or not self.active:
            return
        self.inside = True
        try:
            handler(event, args)
        except BaseException as exc:  # noqa: BLE001 - the hook never raises
            self._fail("audit hook (%s)" % event, exc)
        finally:
            self.inside = False

    def _on_open(self, event, args):
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if isinstance(mode, str):
            if "w" not in mode and "a" not in mode and "x" not in mode and "+" not in mode:
                return
        elif not (isinstance(flags, int) and flags & _WRITE_FLAGS):
            return
        self._path(args[0], "write")

    def _on_path(self, event, args):
        self._path(args[0], event.split(".", 1)[1])

    def _on_two_paths(self, event, args):
        self._path(args[0], event.split(".", 1)[1])
        self._path(args[1], event.split(".", 1)[1])

    def _on_symlink(self, event, args):
        self._path(args[1], "symlink")

    def _on_mkdtemp(self, event, args):
        path = _fspath(args[0])
        if path:
            self.private.add(os.path.realpath(path))

    def _on_sqlite(self, event, args):
        path = _fspath(args[0])
        if not path or path == ":memory:" or "mode=memory" in path:
            return
        if path.startswith("file:"):
            path = path[5:].split("?", 1)[0]
        self._path(path, "sqlite")

    def _on_pending(self, event, args):
        # os.environ, chdir: kept only if the change is still there after
        # the test; the frame is the evidence.
        if event == "os.chdir":
            key = "cwd"
        else:
            name = args[0]
            if isinstance(name, bytes):
                name = os.fsdecode(name)
            key = "env:%s" % name
        if key not in self.pending:
            self.pending[key] = self._frame()

    def _on_bind(self, event, args):
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2:
            port = address[1]
            if isinstance(port, int) and port > 0:
                self._key("port:%d" % port, "bind")
        else:
            path = _fspath(address)
            if path and not path.startswith("\0"):
                self._path(path, "bind")

    def _on_connect(self, event, args):
        address = args[1]
        if not (isinstance(address, tuple) and len(address) >= 2):
            return
        host, port = address[0], address[1]
        if not isinstance(port, int) or port <= 0 or host not in _LOCAL_HOSTS:
            return
        low, high = self.ephemeral
        if low <= port <= high:
            return
        self._key("port:%d" % port, "connect")

    def _on_popen(self, event, args):
        argv = args[1]
        if isinstance(argv, (list, tuple)) and argv:
            first = argv[0]
        else:
            first = argv if argv is not None else args[0]
        name = _fspath(first)
        if name is None:
            return
        name = os.path.basename(name.split()[0]) if name.strip() else name
        self._key("process:%s" % name, "spawn")

    # -- keys -----------------------------------------------------------------

    def _path(self, raw, access):
        path = _fspath(raw)
        if not path:
            return
        if not os.path.isabs(path):
            path = os.path.join(os.getcwd(), path)
        path = os.path.normpath(path)
        if path.startswith(("/dev/", "/proc/", "/sys/")) or path.startswith(self.work):
            return
        if "__pycache__" in path or "/.pytest_cache" in path or "/.coverage" in path:
            return
        real = os.path.realpath(path)
        probe = real
        while True:
            if probe in self.private:
                return
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        frame = self._frame(private_if_tempfile=True)
        if frame is False:
            return
        self._key(self._path_key(real), access, frame)

    def _path_key(self, real):
        if real.startswith(self.root_slash):
            return "path:./" + real[len(self.root_slash) :]
        for base in (self.gettempdir, self.tmp):
            if real == base or real.startswith(base + os.sep):
                return "path:/tmp" + real[len(base) :]
        if self.home and real.startswith(self.home + os.sep):
            return "path:~" + real[len(self.home) :]
        return "path:" + real

    def _key(self, key, access, frame=None):
        keys = self.events
        if key in keys or len(keys) >= MAX_KEYS_PER_TEST:
            return
        if frame is None:
            frame = self._frame()
        fixture = self.fixtures[-1] if self.fixtures else None
        keys[key] = [access, frame or "", fixture, self.stage]

    def is_project_file(self, path):
        known = self.project_files.get(path)
        if known is None:
            known = path.startswith(self.root_slash) and not path.startswith(self.excluded)
            self.project_files[path] = known
        return known

    def _frame(self, private_if_tempfile=False):
        """``rel/path.py:line`` of the innermost frame in the project's code;
        False when ``tempfile`` made the file (it is private)."""
        frame = sys._getframe(2)
        seen_tempfile = False
        while frame is not None:
            filename = frame.f_code.co_filename
            if self.is_project_file(filename):
                if seen_tempfile:
                    return False
                return "%s:%d" % (filename[len(self.root_slash) :], frame.f_lineno)
            if private_if_tempfile and filename.endswith(os.sep + "tempfile.py"):
                seen_tempfile = True
            frame = frame.f_back
        return False if seen_tempfile else ""

    # -- per test -----------------------------------------------------------

    def _begin(self, item):
        self.current = item.nodeid
        self.events = {}
        self.pending = {}
        self.environ = _environ()
        self.cwd = os.getcwd()
        self.sys_path = list(sys.path)
        self.sys_modules = dict(sys.modules)
        self.loggers = _loggers()
        if self.snapshot.modules_count < 0:
            self.snapshot.add_new_modules()
        self.cpu = time.process_time()
        self.rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if resource else 0
        # Keys the fixtures this test uses were seen to cause elsewhere.
        self.inherited = {}
        for name in getattr(item, "fixturenames", ()):
            keys = self.fixture_keys.get(name)
            if keys:
                for key, evidence in keys.items():
                    self.inherited.setdefault(key, evidence)

    def _end(self, item):
        events, self.events = self.events, None
        cpu = time.process_time() - self.cpu
        rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.rss) if resource else 0
        pending = self.pending
        found = dict(events)
        env = _environ()
        if env != self.environ:
            for k in set(env) | set(self.environ):
                if env.get(k) != self.environ.get(k):
                    name = os.fsdecode(k) if isinstance(k, bytes) else k
                    key = "env:%s" % name
                    found.setdefault(key, ["env", pending.get(key, ""), None, None])
        if os.getcwd() != self.cwd:
            found.setdefault("cwd", ["chdir", pending.get("cwd", ""), None, None])
        if sys.path != self.sys_path:
            found.setdefault("sys.path", ["change", "", None, None])
        modules = sys.modules
        for name, module in self.sys_modules.items():
            if modules.get(name) is not module:
                found.setdefault("sys.modules:%s" % name, ["change", "", None, None])
        if _loggers() != self.loggers:
            found.setdefault("setting:logging", ["change", "", None, None])
        # Modules first imported by this test start with the state they
        # were imported with.
        changed = self.snapshot.changes()
        self.snapshot.add_new_modules()
        for name in changed[:MAX_KEYS_PER_TEST]:
            found.setdefault("state:%s" % name, ["change", "", None, None])
        # What a fixture's setup caused belongs to every test that uses it.
        for key, evidence in found.items():
            fixture = evidence[2]
            if fixture is not None:
                self.fixture_keys.setdefault(fixture, {}).setdefault(key, evidence)
        for key, evidence in self.inherited.items():
            found.setdefault(key, evidence)
        function = function_nodeid(item.nodeid)
        test = self.tests.get(function)
        if test is None:
            if len(self.tests) >= MAX_TESTS:
                return
            test = self.tests[function] = {"keys": {}, "rss_mb": 0.0, "cpu_s": 0.0}
        for key, evidence in found.items():
            test["keys"].setdefault(key, evidence)
        test["rss_mb"] = max(test["rss_mb"], round(rss / 1024.0, 1))
        test["cpu_s"] = round(test["cpu_s"] + cpu, 3)
        self.current = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.active:
            try:
                self._begin(item)
            except Exception as exc:  # noqa: BLE001
                self.events = None
                self._fail("before %s" % item.nodeid, exc)
        try:
            return (yield)
        finally:
            if self.active and self.events is not None:
                try:
                    self._end(item)
                except Exception as exc:  # noqa: BLE001
                    self.events = None
                    self._fail("after %s" % item.nodeid, exc)

    def _staged(self, stage):
        self.stage = stage
        try:
            return (yield)
        finally:
            self.stage = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        return (yield from self._staged("setup"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item):
        return (yield from self._staged("call"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        return (yield from self._staged("teardown"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(self, fixturedef, request):
        self.fixtures.append(fixturedef.argname)
        try:
            return (yield)
        finally:
            self.fixtures.pop()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        self.events = None
        data = {"version": 1, "tests": self.tests}
        if self.broken is not None:
            data["error"] = self.broken
        path = self.schedule.path("observed", self.worker)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        try:
            import json

            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, sort_keys=True)
            os.replace(tmp, path)
        except Exception as exc:  # noqa: BLE001
            self._fail("writing %s" % path, exc)
