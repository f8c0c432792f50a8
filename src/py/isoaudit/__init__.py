"""isoaudit: static isolation audit and parallel scheduler for pytest suites.

The wheel carries the ``isoaudit`` binary (installed into the environment's
scripts directory, beside ``pip``); this package only finds it, so that
``python -m isoaudit`` works where the scripts directory is not on PATH.
"""

from __future__ import annotations

import os
import sys
import sysconfig

__all__ = ["find_isoaudit_bin"]


def _candidates(exe: str) -> list[str]:
    # Where pip puts a wheel's scripts: the environment's own scheme, the
    # user scheme (`pip install --user`), and `bin/` beside the package for
    # `pip install --target DIR`.
    dirs = [sysconfig.get_path("scripts")]
    if sys.version_info >= (3, 10):
        user_scheme = sysconfig.get_preferred_scheme("user")
    elif os.name == "nt":
        user_scheme = "nt_user"
    elif sys.platform == "darwin" and getattr(sys, "_framework", None):
        user_scheme = "osx_framework_user"
    else:
        user_scheme = "posix_user"
    try:
        dirs.append(sysconfig.get_path("scripts", scheme=user_scheme))
    except KeyError:
        pass
    dirs.append(os.path.join(os.path.dirname(os.path.dirname(__file__)), "bin"))
    return [os.path.join(d, exe) for d in dirs if d]


def find_isoaudit_bin() -> str:
    """The path of the installed ``isoaudit`` binary.

    Raises FileNotFoundError, naming the places looked at, when there is none.
    """
    exe = "isoaudit" + (sysconfig.get_config_var("EXE") or "")
    candidates = _candidates(exe)
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "the isoaudit binary is not installed beside this package; looked in: "
        + ", ".join(candidates)
        + " (reinstall with `pip install --force-reinstall isoaudit`)"
    )
