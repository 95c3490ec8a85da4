"""Start, stop and inspect clusters that live in their own controller process.

These functions back ``hpcdask up / down / status / scale / adapt`` and ``connect(NAME)``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpcdask import state
from hpcdask._daemon import ALREADY_RUNNING, take_error
from hpcdask._process import holders, is_keeper, pid_alive, started
from hpcdask.errors import HpcdaskError
from hpcdask.login.checks import preflight
from hpcdask.login.protocol import NOT_RUNNING_THERE
from hpcdask.models import login_of
from hpcdask.remote import ControllerGone, alive, call, find_running
from hpcdask.state import Record

if TYPE_CHECKING:
    from hpcdask.models import LoginSpec, Resource

__all__ = ["NotRunning", "Progress", "down", "status", "up", "wait_for_workers"]

Progress = Callable[[str], None]
logger = logging.getLogger("hpcdask")


class NotRunning(HpcdaskError):
    """``up(..., attach_only=True)`` found no running cluster to attach to."""


def _quiet(message: str) -> None:
    """A progress callback that shows nothing."""


def _log_tail(name: str, lines: int = 8) -> str:
    try:
        text = state.log_path(name).read_text().strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _spawn(resource: Resource, attach_only: bool = False) -> int | None:
    """Start the keeper of ``resource``; return its pid, or None if another holds the name.

    The keeper is the controller, or for a resource behind a login node, the tunnel to the
    controller there.
    """
    data = resource.model_dump(mode="json")
    module, request = "hpcdask.controller", data
    if login_of(resource) is not None:
        module, request = "hpcdask.login.tunnel", {"resource": data, "attach_only": attach_only}
    launcher = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if launcher.returncode == ALREADY_RUNNING:
        return None
    if launcher.returncode != 0 or not launcher.stdout.strip().isdigit():
        raise HpcdaskError(
            f"the controller of '{resource.name}' did not start: "
            f"{launcher.stderr.strip() or launcher.stdout.strip()}"
        )
    return int(launcher.stdout.strip())


def _failed(name: str) -> HpcdaskError:
    said = take_error(name)
    if said and said.endswith(NOT_RUNNING_THERE):  # the login node's agent found none
        return NotRunning(f"cluster '{name}': {said}")
    if said:
        return HpcdaskError(f"cluster '{name}': {said}")
    return HpcdaskError(
        f"cluster '{name}' failed to start; the end of its log "
        f"({state.log_path(name)}):\n{_log_tail(name)}"
    )


def _preflight(resource: Resource, login: LoginSpec, progress: Progress) -> None:
    progress(f"Logging in to {login.target()}")
    for warning in preflight(resource):
        logger.warning("login node %s: %s", login.target(), warning)


def up(
    resource: Resource,
    *,
    timeout: float = 300.0,
    progress: Progress = _quiet,
    attach_only: bool = False,
) -> Record:
    """Start ``resource``'s cluster in a controller of its own; return its record.

    If the cluster is already running, return its record without starting anything. For a
    resource behind a login node, the controller starts there and a tunnel here makes the
    cluster reachable; ``attach_only`` only reconnects to a cluster running there.
    """
    try:
        running = find_running(resource.name)
    except state.StateError as error:
        raise _damaged(resource.name, error) from None
    if running is not None:
        return running
    login = login_of(resource)
    if login is not None:
        _preflight(resource, login, progress)
    elif attach_only:
        raise NotRunning(f"no cluster named '{resource.name}' is running")
    progress(f"Starting the controller of '{resource.name}'")
    pid = _spawn(resource, attach_only)
    if pid is None:
        return _started_elsewhere(resource.name, timeout, progress)
    deadline = time.monotonic() + timeout
    where = f" on {login.target()}" if login is not None else ""
    while (record := state.read(resource.name)) is None or record.pid != pid:
        if not pid_alive(pid):
            raise _failed(resource.name)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGTERM)
            raise HpcdaskError(f"cluster '{resource.name}' did not start within {timeout:g}s")
        progress(f"Starting cluster '{resource.name}' ({resource.type}){where}")
        time.sleep(0.1)
    return record


def _damaged(name: str, error: state.StateError) -> HpcdaskError:
    """The error for a damaged record, naming the process that holds the name, if one does."""
    holder = next(iter(holders(state.lock_path(name))), None)
    if holder is None:
        return error
    return HpcdaskError(f"cluster '{name}' is held by process {holder}, but {error}")


def _started_elsewhere(name: str, timeout: float, progress: Progress) -> Record:
    """Another process holds the name: return the record of the cluster it starts or runs.

    Raises at once, naming that process, when its record is damaged or it leaves no record.
    """
    holder = next(iter(holders(state.lock_path(name))), None)
    deadline = time.monotonic() + timeout
    while True:
        try:
            record = state.read(name)
        except state.StateError as error:
            raise _damaged(name, error) from None
        if record is not None and alive(record):
            return record
        if holder is None or not pid_alive(holder):
            raise HpcdaskError(
                f"cluster '{name}': the process that held it ended without starting it; "
                f"try `hpcdask up {name}` again"
            )
        if time.monotonic() > deadline:
            raise HpcdaskError(
                f"cluster '{name}' is being started by process {holder}, and was not "
                f"running within {timeout:g}s; stop it with `hpcdask down {name}`"
            )
        progress(f"Cluster '{name}' is being started by process {holder}")
        time.sleep(0.1)


def wait_for_workers(
    record: Record, n: int, *, timeout: float = 300.0, progress: Progress = _quiet
) -> dict[str, Any]:
    """Wait until the cluster has ``n`` workers; return its last status report."""
    deadline = time.monotonic() + timeout
    while (report := status(record))["workers"] < n:
        if time.monotonic() > deadline:
            raise HpcdaskError(
                f"cluster '{record.name}': {report['workers']} of {n} workers "
                f"arrived within {timeout:g}s"
            )
        progress(f"Waiting for workers: {report['workers']}/{n}")
        time.sleep(0.2)
    return report


def status(record: Record) -> dict[str, Any]:
    """Return the controller's status report of a running cluster."""
    report: dict[str, Any] = call(record, "status")
    return report


def _wait_gone(pid: int, start: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_keeper(pid, start):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(pid: int, start: float, timeout: float) -> None:
    """Wait ``timeout`` s for keeper ``pid`` to end, then SIGTERM it, then SIGKILL it (10 s
    apart); a process that is no longer that keeper is never signalled."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if _wait_gone(pid, start, timeout):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        timeout = 10.0
    _wait_gone(pid, start, timeout)


def _stop_holders(name: str, timeout: float) -> bool:
    """Stop the processes that hold ``name`` (whose record is damaged or not yet written)."""
    found = [(pid, started(pid) or 0.0) for pid in holders(state.lock_path(name))]
    for pid, _ in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # a keeper closes its cluster on SIGTERM
    for pid, start in found:
        _stop(pid, start, timeout)
    return bool(found)


def down(name: str, *, timeout: float = 60.0) -> bool:
    """Stop cluster ``name``: its workers, jobs and controller. Return False if none ran.

    A damaged record (or none yet, while a cluster starts) does not hide a running keeper:
    the process that holds the name is stopped. Only that process is ever signalled.
    """
    try:
        record = state.read(name)
    except state.StateError:
        _stop_holders(name, timeout)
        state.remove(name)
        return True
    if record is None or not alive(record):  # none, or stale: its pid is not its keeper's
        state.remove(name)
        return _stop_holders(name, timeout)
    with contextlib.suppress(ControllerGone):
        call(record, "shutdown")
    _stop(record.pid, record.pid_start, timeout)
    state.remove(name)
    return True
