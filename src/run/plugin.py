"""isoaudit's pytest plugin, loaded with ``-p isoaudit_plugin`` by ``isoaudit run``.

It reads the schedule that ``isoaudit run`` wrote (``ISOAUDIT_PLAN``) and
the phase being run (``ISOAUDIT_PHASE``: ``1``, ``2``, ``3`` or ``all``), then

- keeps only this phase's tests at collection time (the others are reported
  through ``pytest_deselected``, so ``-k``-style accounting stays right);
- hands pytest-xdist a scheduler whose scope is the plan's work unit, with
  units queued longest-first;
- records what it selected, beside the schedule, for ``isoaudit run`` to read.

Tests the plan does not know run in phase 1, each as its own unit. Nodeids
are never changed. Without ``ISOAUDIT_PLAN`` the plugin does nothing.
"""

import json
import os

import pytest

PLAN_ENV = "ISOAUDIT_PLAN"
PHASE_ENV = "ISOAUDIT_PHASE"

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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    schedule = _get_schedule()
    if schedule is None:
        return
    selected, deselected, unknown = [], [], set()
    for item in items:
        function = function_nodeid(item.nodeid)
        phase = schedule.phase_of(item.nodeid)
        if schedule.phase == "all":
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
        os.path.join(schedule.dir, "collected-%s.json" % schedule.phase),
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
        before the first unit leaves, and again after a crashed worker's
        units are put back.
        """

        def __init__(self, config, log, schedule):
            super().__init__(config, log)
            self._isoaudit = schedule
            self._scopes = {}
            self._ordered = False

        def _split_scope(self, nodeid):
            scope = self._scopes.get(nodeid)
            if scope is None:
                scope = self._isoaudit.unit_of(nodeid)
                self._scopes[nodeid] = scope
            return scope

        def _assign_work_unit(self, node):
            if not self._ordered:
                self._order_longest_first()
                self._ordered = True
            super()._assign_work_unit(node)

        def remove_node(self, node):
            self._ordered = False
            return super().remove_node(node)

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
