"""isoaudit's pytest plugin, loaded with ``-p isoaudit_plugin`` by ``isoaudit run``.

It reads the schedule that ``isoaudit run`` wrote (``ISOAUDIT_PLAN``) and
the phase being run (``ISOAUDIT_PHASE``: ``1``, ``2``, ``3``, ``all`` or
``rerun``), then

- keeps only this phase's tests at collection time (the others are reported
  through ``pytest_deselected``, so ``-k``-style accounting stays right);
  the ``rerun`` phase keeps what the command line named;
- hands pytest-xdist a scheduler whose scope is the plan's work unit, with
  units queued longest-first; a test that kills its worker is never handed
  out again in the phase, and the rest of its unit goes on elsewhere;
- in every process that runs tests: logs each test's start and finish
  (``progress-*.log``, read by ``isoaudit run`` to say what is running when
  nothing moves), enforces ``ISOAUDIT_TIMEOUT`` with
  ``faulthandler.dump_traceback_later`` (stack in ``stack-*.txt``, then the
  worker exits and xdist replaces it), replaces a worker whose test closed
  ``sys.stdout``/``sys.stderr`` (pytest's capture is broken for every later
  test there), and stops processes tests left running when the session ends
  (``leftover-*.json``);
- in the process that reports (xdist's controller, or pytest alone):
  records crashes, timeouts, collection errors and worker restarts in
  ``events-*.json``, and what it selected in ``collected-*.json``.

With ``ISOAUDIT_OBSERVE=1`` every process that runs tests also loads the
observer (``isoaudit_observe``, beside this file), which records what each
test touched outside itself (``observed-*.json``).

Tests the plan does not know run in phase 1, each as its own unit. Nodeids
are never changed. Without ``ISOAUDIT_PLAN`` the plugin does nothing.
"""

import faulthandler
import json
import os
import signal
import sys
import time

import pytest

PLAN_ENV = "ISOAUDIT_PLAN"
PHASE_ENV = "ISOAUDIT_PHASE"
TIMEOUT_ENV = "ISOAUDIT_TIMEOUT"
OBSERVE_ENV = "ISOAUDIT_OBSERVE"

# Units whose tests share nothing: their parametrized cases may go to
# different workers.
_SPLITTABLE = ("test:", "heavy:")


def function_nodeid(nodeid):
    """``tests/a.py::TestX::test_y[1-2]`` -> ``tests/a.py::TestX::test_y``."""
    sep = nodeid.find("::")
    if sep < 0:
        return nodeid
    bracket = nodeid.find("[", sep)
    return nodeid if bracket < 0 else nodeid[:bracket]


def _fnv1a(text):
    """A hash that is the same in every process and every run."""
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Schedule:
    def __init__(self, path, phase):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        self.dir = os.path.dirname(path)
        self.phase = phase
        self.tests = data["tests"]
        self.default_seconds = float(data.get("default_seconds") or 1.0)
        self.recorded = data.get("recorded") or {}
        shard = data.get("shard")
        self.shard = (int(shard["count"]), int(shard["index"])) if shard else None
        self.excluded = set(shard["excluded"]) if shard else set()

    def entry(self, function):
        return self.tests.get(function)

    def phase_of(self, nodeid):
        """The phase a collected item runs in, or None when another shard owns it."""
        function = function_nodeid(nodeid)
        entry = self.entry(function)
        if entry is not None:
            return int(entry["phase"])
        if function in self.excluded:
            return None
        if self.shard is not None:
            count, index = self.shard
            if _fnv1a(function) % count != index - 1:
                return None
        return 1

    def unit_of(self, nodeid):
        function = function_nodeid(nodeid)
        entry = self.entry(function)
        unit = entry["unit"] if entry is not None else "test:" + function
        if unit.startswith(_SPLITTABLE):
            prefix = unit.split(":", 1)[0]
            return prefix + ":" + nodeid
        return unit

    def seconds_of(self, function):
        entry = self.entry(function)
        if entry is not None:
            return float(entry["duration"])
        return float(self.recorded.get(function, self.default_seconds))

    def path(self, kind, worker=None, ext="json"):
        """``<dir>/<kind>-<phase>[-<worker>].<ext>``: one file per phase (and process)."""
        name = "%s-%s" % (kind, self.phase)
        if worker is not None:
            name += "-" + worker
        return os.path.join(self.dir, "%s.%s" % (name, ext))


_schedule = None


def _get_schedule():
    global _schedule
    if _schedule is None:
        path = os.environ.get(PLAN_ENV)
        if not path:
            return None
        _schedule = Schedule(path, os.environ.get(PHASE_ENV, "all"))
    return _schedule


def _write_json(path, data):
    # Every xdist worker collects and writes the same record; a private temp
    # name and an atomic rename keep the readers from seeing half a file.
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


def _is_worker(config):
    return hasattr(config, "workerinput")


def _is_controller(config):
    """xdist's controller: it reports, its workers run the tests."""
    if _is_worker(config) or getattr(config.option, "collectonly", False):
        return False
    dist = getattr(config.option, "dist", "no")
    return dist != "no" and bool(getattr(config.option, "tx", None))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    schedule = _get_schedule()
    if schedule is None:
        return
    selected, deselected, unknown = [], [], set()
    for item in items:
        function = function_nodeid(item.nodeid)
        phase = schedule.phase_of(item.nodeid)
        if schedule.phase == "rerun":
            keep = True
        elif schedule.phase == "all":
            keep = phase is not None
        else:
            keep = phase is not None and str(phase) == schedule.phase
        if keep:
            selected.append(item)
            if schedule.entry(function) is None:
                unknown.add(function)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
    _write_json(
        schedule.path("collected"),
        {
            "phase": schedule.phase,
            "selected": [item.nodeid for item in selected],
            "unknown": sorted(unknown),
            "deselected": len(deselected),
        },
    )


def _unit_scheduler(base):
    class UnitScheduling(base):
        """xdist's load-scope scheduling with the plan's units as scopes.

        ``LoadScopeScheduling.schedule`` builds ``workqueue`` in collection
        order (or by test count) and then starts handing units out through
        ``_assign_work_unit``; the queue is reordered longest-first just
        before the first unit leaves. With one worker every test is its own
        unit, in collection order, as in a plain serial run.

        When a worker dies, xdist's ``remove_node`` would put the test it
        was running back in the queue, and the replacement worker would run
        it again and die again. Here the test that was running is marked
        done (xdist reports it as crashed), and the unfinished rest of the
        worker's units go to the front of the queue.
        """

        def __init__(self, config, log, schedule):
            super().__init__(config, log)
            self._isoaudit = schedule
            self._scopes = {}
            self._ordered = False

        def _split_scope(self, nodeid):
            scope = self._scopes.get(nodeid)
            if scope is None:
                if self.numnodes <= 1:
                    scope = nodeid
                else:
                    scope = self._isoaudit.unit_of(nodeid)
                self._scopes[nodeid] = scope
            return scope

        def _assign_work_unit(self, node):
            if not self._ordered:
                if self.numnodes > 1:
                    self._order_longest_first()
                self._ordered = True
            super()._assign_work_unit(node)

        def remove_node(self, node):
            workload = self.assigned_work.pop(node)
            crashitem = None
            for work_unit in workload.values():
                for nodeid, completed in work_unit.items():
                    if not completed:
                        crashitem = nodeid
                        work_unit[nodeid] = True
                        break
                if crashitem is not None:
                    break
            if crashitem is None:
                return None
            unfinished = [
                (scope, unit)
                for scope, unit in workload.items()
                if not all(unit.values())
            ]
            self.workqueue.update(unfinished)
            for scope, _ in reversed(unfinished):
                self.workqueue.move_to_end(scope, last=False)
            for other in self.assigned_work:
                self._reschedule(other)
            return crashitem

        def _reschedule(self, node):
            """Tops ``node`` up to more than two pending tests.

            xdist's version adds one unit per call. A worker runs a test only
            once it knows the next one (or that there is none), so a
            replacement worker, which gets a single call, would sit forever
            on a one-test unit. A replacement worker is also added before it
            has collected; it gets work once its collection is in
            (``schedule`` runs again then).
            """
            if node not in self.registered_collections or node.shutting_down:
                return
            while self.workqueue and self._pending_of(self.assigned_work[node]) <= 2:
                self._assign_work_unit(node)
            if not self.workqueue:
                node.shutdown()

        def _order_longest_first(self):
            cases = {}
            for nodeid in self.collection or ():
                function = function_nodeid(nodeid)
                cases[function] = cases.get(function, 0) + 1
            schedule = self._isoaudit

            def seconds(item):
                scope, work_unit = item
                functions = {function_nodeid(n) for n in work_unit}
                total = sum(schedule.seconds_of(f) for f in functions)
                if scope.startswith(_SPLITTABLE):
                    # One case of a split function: its share of the function.
                    function = next(iter(functions))
                    total /= max(1, cases.get(function, 1))
                return total

            units = list(self.workqueue.items())
            # sorted() is stable: equal units keep xdist's order.
            units.sort(key=lambda item: -seconds(item))
            self.workqueue.clear()
            self.workqueue.update(units)

    return UnitScheduling


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    schedule = _get_schedule()
    if schedule is None:
        return None
    from xdist.scheduler import LoadScopeScheduling

    return _unit_scheduler(LoadScopeScheduling)(config, log, schedule)


# ---------------------------------------------------------------------------
# The process that runs tests (an xdist worker, or pytest without workers).
# ---------------------------------------------------------------------------


def _children():
    """Direct children of this process (Linux), or None where unknown."""
    try:
        found = set()
        for tid in os.listdir("/proc/self/task"):
            with open("/proc/self/task/%s/children" % tid) as f:
                found.update(int(p) for p in f.read().split())
        return found
    except (OSError, ValueError):
        return None


def _descendants_of(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(p) for p in f.read().split())
    except (OSError, ValueError):
        return out
    for child in list(out):
        out.extend(_descendants_of(child))
    return out


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    # The state follows the command name in parentheses; Z is a zombie.
    state = stat[stat.rfind(")") + 2 : stat.rfind(")") + 3]
    return state not in ("Z", "X", "")


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return ""
    return " ".join(a.decode("utf-8", "replace") for a in raw.split(b"\0") if a)


def _channel_fds(config):
    """The file descriptors of xdist's channel to the controller, in a worker."""
    for plugin in config.pluginmanager.get_plugins():
        gateway = getattr(getattr(plugin, "channel", None), "gateway", None)
        io = getattr(gateway, "_io", None)
        if io is None:
            continue
        fds = []
        for f in (getattr(io, "outfile", None), getattr(io, "infile", None)):
            try:
                fds.append(f.fileno())
            except (AttributeError, OSError, ValueError):
                pass
        return fds
    return []


class Runner:
    """What isoaudit watches in a process that runs tests."""

    def __init__(self, config, schedule):
        self.config = config
        self.schedule = schedule
        self.worker = os.environ.get("PYTEST_XDIST_WORKER") if _is_worker(config) else None
        self.name = self.worker or "main"
        self.progress = open(
            schedule.path("progress", self.name, "log"), "a", encoding="utf-8", buffering=1
        )
        try:
            self.timeout = float(os.environ.get(TIMEOUT_ENV) or 0)
        except ValueError:
            self.timeout = 0.0
        self.stack = None
        if self.timeout > 0:
            self.stack = open(schedule.path("stack", self.name, "txt"), "w+", encoding="utf-8")
        # pid -> nodeid of the test that started it.
        self.spawned = {}
        if self.worker is not None and hasattr(os, "register_at_fork"):
            # A child a test forks would hold the worker's end of the channel
            # open: when the worker dies, the controller would never see it
            # go, and wait for ever. The child has no use for the channel.
            fds = _channel_fds(config)

            def close_channel():
                # /dev/null in their place rather than a close: a file the
                # child opens later must not get a number the worker's file
                # objects still hold.
                try:
                    null = os.open(os.devnull, os.O_RDWR)
                except OSError:
                    return
                for fd in fds:
                    try:
                        os.dup2(null, fd)
                    except OSError:
                        pass
                os.close(null)

            os.register_at_fork(after_in_child=close_channel)

    def log(self, event, nodeid):
        try:
            self.progress.write("%s\t%s\n" % (event, nodeid))
        except (OSError, ValueError):
            pass

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.log("start", item.nodeid)
        # When and where the test ran, as junit properties: the timeline of
        # reports/ci_timings.md is drawn from them.
        item.user_properties.append(("isoaudit_start", "%.6f" % time.time()))
        item.user_properties.append(("isoaudit_worker", self.name))
        before = _children()
        if self.stack is not None:
            self.stack.seek(0)
            self.stack.truncate()
            self.stack.flush()
            faulthandler.dump_traceback_later(self.timeout, exit=True, file=self.stack)
        try:
            return (yield)
        finally:
            if self.stack is not None:
                faulthandler.cancel_dump_traceback_later()
            after = _children()
            if before is not None and after is not None:
                for pid in after - before:
                    self.spawned.setdefault(pid, item.nodeid)
            self.log("finish", item.nodeid)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item):
        try:
            return (yield)
        finally:
            closed = [
                name
                for name in ("stdout", "stderr")
                if getattr(getattr(sys, name, None), "closed", False)
            ]
            if closed and self.worker is not None:
                # pytest's capture reads from the closed file after every later
                # test on this worker; a fresh worker is the only repair.
                what = " and ".join("sys." + n for n in closed)
                with open(self.schedule.path("fault", self.name, "txt"), "w") as f:
                    f.write("closed %s" % what)
                self.log("fault", item.nodeid)
                os._exit(1)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        """Stops the processes tests left running, once fixtures are torn down.

        A forked child keeps the worker's end of xdist's channel open, and
        pytest would wait for it as long as it lives.
        """
        current = _children()
        if current is None:
            return
        pids = set(current) | set(self.spawned)
        for pid in list(pids):
            pids.update(_descendants_of(pid))
        left = []
        own = _cmdline(os.getpid())
        for pid in sorted(pids):
            if pid == os.getpid() or not _alive(pid):
                continue
            cmdline = _cmdline(pid)
            if cmdline == own:
                cmdline = "a copy of the pytest process made by os.fork()"
            left.append({"pid": pid, "nodeid": self.spawned.get(pid), "cmdline": cmdline})
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in current:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
        if left:
            _write_json(self.schedule.path("leftover", self.name), {"processes": left})


# ---------------------------------------------------------------------------
# The process that reports (xdist's controller, or pytest without workers).
# ---------------------------------------------------------------------------


def _short(text):
    """The line of a long report that says what went wrong."""
    lines = [line.rstrip() for line in str(text).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("E "):
            return line[1:].strip()
    return lines[-1].strip() if lines else ""


def _stack_frames(text, rootdir):
    """The test's own frames from a faulthandler dump, innermost first.

    The dump lists every thread, most recent call first; the thread that ran
    the test is the one with pytest's frames, and its frames above the first
    pytest or pluggy frame are the test's. Paths under the rootdir are made
    relative to it, and thread ids are dropped, so the text is the same in
    every run.
    """
    blocks, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("File "):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    machinery = ("/_pytest/", "/pluggy/", "\\_pytest\\", "\\pluggy\\")
    for block in blocks:
        cut = next((i for i, f in enumerate(block) if any(m in f for m in machinery)), None)
        if cut is None:
            continue
        frames = block[:cut] or block
        prefix = 'File "%s%s' % (rootdir, os.sep)
        return [f.replace(prefix, 'File "', 1) for f in frames]
    return [f for block in blocks for f in block]


class Reporter:
    def __init__(self, config, schedule):
        self.config = config
        self.schedule = schedule
        self.crashed = []
        self.collection_errors = []
        self.seen_collection_errors = set()
        self.worker_crashes = 0
        self.timeout = os.environ.get(TIMEOUT_ENV) or ""

    def pytest_collectreport(self, report):
        if not report.failed:
            return
        key = (report.nodeid, _short(report.longreprtext))
        if key in self.seen_collection_errors:
            return
        self.seen_collection_errors.add(key)
        self.collection_errors.append({"nodeid": report.nodeid, "message": key[1]})
        if _is_controller(self.config) and not self.config.option.continue_on_collection_errors:
            # pytest stops at collection errors before running any test
            # ("Interrupted: 1 error during collection", exit 2); xdist's
            # controller skips that check and runs the rest. Same as pytest.
            dsession = self.config.pluginmanager.getplugin("dsession")
            if dsession is not None and not getattr(dsession, "shouldstop", True):
                n = len(self.collection_errors)
                dsession.shouldstop = "%d error%s during collection" % (n, "" if n == 1 else "s")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        if error:
            self.worker_crashes += 1

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        worker = report.node.gateway.id if hasattr(report, "node") else "?"
        kind, detail, stack = "crashed", "", []
        stack_path = self.schedule.path("stack", worker, "txt")
        fault_path = self.schedule.path("fault", worker, "txt")
        try:
            with open(stack_path, encoding="utf-8", errors="replace") as f:
                dump = f.read()
        except OSError:
            dump = ""
        try:
            with open(fault_path, encoding="utf-8", errors="replace") as f:
                fault = f.read().strip()
        except OSError:
            fault = ""
        if dump.startswith("Timeout"):
            kind = "timed-out"
            stack = _stack_frames(dump, str(self.config.rootpath))
            detail = "timed out after %ss (isoaudit run --timeout)" % self.timeout
            text = "%s; worker %s was stopped and replaced; it was running:\n  %s" % (
                detail,
                worker,
                "\n  ".join(stack) or "(no stack)",
            )
        elif fault:
            kind = "closed-output"
            detail = fault
            text = (
                "%s, which breaks pytest's output capture for every later test on "
                "worker %s; the worker was replaced" % (fault, worker)
            )
        else:
            text = (
                "crashed its worker %s (the process died: os._exit, a signal or a "
                "segfault); the worker was replaced and the test is not run again "
                "in this phase" % worker
            )
        report.longrepr = text
        self.crashed.append(
            {"nodeid": crashitem, "worker": worker, "kind": kind, "detail": detail, "stack": stack}
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        limit = None
        if _is_controller(self.config):
            try:
                from xdist.dsession import get_default_max_worker_restart

                limit = get_default_max_worker_restart(self.config)
            except Exception:  # noqa: BLE001 - an xdist without it: no limit known
                limit = None
        _write_json(
            self.schedule.path("events"),
            {
                "crashed": self.crashed,
                "collection_errors": self.collection_errors,
                "worker_crashes": self.worker_crashes,
                "max_worker_restart": limit,
                "exitstatus": int(exitstatus),
            },
        )


def pytest_configure(config):
    schedule = _get_schedule()
    if schedule is None:
        return
    if not _is_controller(config):
        config.pluginmanager.register(Runner(config, schedule), "isoaudit-runner")
        if os.environ.get(OBSERVE_ENV) == "1":
            from isoaudit_observe import Observer

            config.pluginmanager.register(Observer(config, schedule), "isoaudit-observer")
    if not _is_worker(config):
        config.pluginmanager.register(Reporter(config, schedule), "isoaudit-reporter")
