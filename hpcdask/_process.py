"""Which process is which: a pid is taken for a keeper only if it is the same process.

Pids are reused. A record names its keeper (a controller or a login tunnel) by pid and by the
process's start time, so nothing ever signals an unrelated process that got the pid later.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["holders", "is_keeper", "pid_alive", "started"]

#: Seconds two readings of one process's start time may differ by (psutil's resolution).
_SAME_START = 1.0


def pid_alive(pid: int) -> bool:
    """Return whether process ``pid`` exists (and is not a zombie)."""
    import psutil  # lazy: keeps hpcdask --help light (state imports this module)

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def started(pid: int) -> float | None:
    """Return when process ``pid`` started (seconds since the epoch), or None if it is gone."""
    import psutil  # lazy: keeps hpcdask --help light (state imports this module)

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _cmdline(pid: int) -> str:
    import psutil  # lazy: keeps hpcdask --help light (state imports this module)

    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def is_keeper(pid: int, start: float) -> bool:
    """Return whether ``pid`` is still the hpcdask process that started at ``start``.

    Records written before start times were kept (``start`` 0) fall back to the process's
    command line naming hpcdask.
    """
    if not pid_alive(pid):
        return False
    if start:
        now = started(pid)
        return now is not None and abs(now - start) < _SAME_START
    return "hpcdask" in _cmdline(pid)


def holders(path: Path) -> list[int]:
    """Return the pids of the hpcdask processes that have ``path`` open (a name's lock)."""
    import psutil  # lazy: keeps hpcdask --help light (state imports this module)

    found = []
    target = str(path.resolve())
    for process in psutil.process_iter():
        try:
            if any(f.path == target for f in process.open_files()):
                found.append(process.pid)
        except psutil.Error:
            continue
    return [pid for pid in found if "hpcdask" in _cmdline(pid)]
