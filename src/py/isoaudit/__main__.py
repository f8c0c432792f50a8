"""``python -m isoaudit ARGS``: runs the installed binary with ARGS."""

from __future__ import annotations

import os
import subprocess
import sys

from isoaudit import find_isoaudit_bin


def main() -> int:
    try:
        binary = find_isoaudit_bin()
    except FileNotFoundError as e:
        print(f"isoaudit: error: {e}", file=sys.stderr)
        return 2
    argv = [binary, *sys.argv[1:]]
    if sys.platform == "win32":
        # No exec on Windows: run it and hand back its exit code.
        return subprocess.call(argv)
    os.execv(binary, argv)
    return 2  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
