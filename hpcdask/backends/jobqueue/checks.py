"""Preflight checks of batch resources, for ``hpcdask check``.

Each check asks the batch system what it can tell (its commands exist, the queue exists, a
test submission is accepted) through the shell seam, with a timeout, so none can hang.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Sequence
from typing import Any

from hpcdask._sync import run_sync
from hpcdask.backends.base import Check, Status
from hpcdask.backends.jobqueue.args import lifetime
from hpcdask.backends.jobqueue.jobs import preview_script
from hpcdask.backends.jobqueue.system import System, system_of
from hpcdask.errors import HpcdaskError
from hpcdask.models import JobqueueResource
from hpcdask.models.batch import duration_seconds
from hpcdask.shell import CommandError, Shell, one_line

__all__ = ["commands_check", "python_check", "queue_check", "run_checks", "scheduler_check"]

#: Seconds any one check's command may take.
TIMEOUT = 15.0


def run_checks(resource: JobqueueResource, shell: Shell) -> list[Check]:
    """Run every check of ``resource`` and return their results, in a fixed order."""
    pilot = resource.allocation is not None  # pilots submit allocations, not this script
    system = system_of(resource)
    dialect = system.dialect(resource)
    script = _script(resource)
    found = commands_check(dialect.commands(), dialect.system)
    asked = (
        run_sync(lambda: _ask(resource, shell, script, pilot))
        if found.status is not Status.FAILED
        else []
    )
    results = [found, *([] if pilot else [_script_check(script)]), *asked]
    results += [python_check(resource), _walltime(resource, system), scheduler_check(resource)]
    return results + system.checks(resource)


async def _ask(
    resource: JobqueueResource, shell: Shell, script: str | HpcdaskError, pilot: bool
) -> list[Check]:
    """The checks that ask the batch system, concurrently."""
    system = system_of(resource)
    checks = [queue_check(resource, shell)]
    if not pilot:
        checks.append(_submission(resource, system, shell, script))
    return list(await asyncio.gather(*checks))


def commands_check(commands: Sequence[str], system: str) -> Check:
    """Check that the batch system's client ``commands`` are on PATH."""
    missing = [name for name in commands if shutil.which(name) is None]
    if missing:
        detail = f"not found on PATH: {', '.join(missing)} ({system} client commands)"
        return Check("commands", Status.FAILED, detail)
    return Check("commands", Status.OK, ", ".join(commands))


def _script(resource: JobqueueResource) -> str | HpcdaskError:
    try:
        return preview_script(resource)
    except HpcdaskError as error:
        return error


def _script_check(script: str | HpcdaskError) -> Check:
    if isinstance(script, HpcdaskError):
        return Check("job-script", Status.FAILED, one_line(str(script)))
    return Check("job-script", Status.OK, f"{len(script.splitlines())} lines (hpcdask show)")


async def queue_check(resource: JobqueueResource, shell: Shell) -> Check:
    """Check that the resource's queue exists, where the batch system can tell."""
    system = system_of(resource)
    listing = system.queue_listing
    if resource.queue is None:
        return Check("queue", Status.OK, "the batch system's default")
    if listing is None and system.queue_query is None:
        detail = f"{resource.queue} (not checked: hpcdask cannot ask {resource.type} about it)"
        return Check("queue", Status.OK, detail)
    argv = list(listing) if listing else [*(system.queue_query or ()), resource.queue]
    try:
        result = await shell.run(argv, timeout=TIMEOUT)
    except CommandError as error:
        return Check("queue", Status.FAILED, str(error))
    if listing and resource.queue not in result.stdout.split():
        known = ", ".join(sorted(set(result.stdout.split()))) or "none"
        return Check("queue", Status.FAILED, f"{resource.queue!r} does not exist; known: {known}")
    return Check("queue", Status.OK, resource.queue)


async def _submission(
    resource: JobqueueResource, system: System[Any], shell: Shell, script: str | HpcdaskError
) -> Check:
    """Let the batch system judge the job script without running it, where it can."""
    if system.test_submit is None:
        return Check("submission", Status.OK, f"{resource.type} cannot test a job; not checked")
    command = list(system.test_submit)
    if isinstance(script, HpcdaskError):
        return Check("submission", Status.FAILED, "no job script to test")
    try:
        result = await shell.run(command, timeout=TIMEOUT, stdin=script)
    except CommandError as error:
        said = one_line(error.stderr) or one_line(error.stdout) or str(error)
        return Check("submission", Status.FAILED, f"{' '.join(command)}: {said}")
    return Check("submission", Status.OK, one_line(result.stderr + result.stdout))


def python_check(resource: JobqueueResource) -> Check:
    """Check the workers' python, where this machine can see it."""
    python = resource.worker.python
    if python is None:
        return Check("python", Status.OK, "this Python (the nodes must see the same path)")
    found = shutil.which(python) if os.sep not in python else python
    if found and os.path.isfile(found) and os.access(found, os.X_OK):
        return Check("python", Status.OK, found)
    return Check("python", Status.WARNING, f"{python} is not an executable here; it must be one "
                 "on the compute nodes")  # fmt: skip


def _walltime(resource: JobqueueResource, system: System[Any]) -> Check:
    life = lifetime(resource)
    if life is None:
        detail = "no walltime: workers cannot retire before the batch system's time limit"
        return Check("walltime", Status.WARNING, detail)
    if resource.walltime is None:
        detail = (f"no walltime: jobs ask for dask-jobqueue's default, "
                  f"{resource.job_walltime()}; workers retire after {life[0]} s")  # fmt: skip
        return Check("walltime", Status.WARNING, detail)
    if not system.limits_walltime:
        detail = (f"{system.dialect_class.system} jobs get no time limit from hpcdask; "
                  "the walltime only retires workers")  # fmt: skip
        return Check("walltime", Status.OK, detail)
    margin = duration_seconds(resource.walltime_margin)
    return Check("walltime", Status.OK, f"workers retire after {life[0]} s ± {life[1]} s "
                 f"({resource.walltime} minus {margin:g} s)")  # fmt: skip


def scheduler_check(resource: JobqueueResource) -> Check:
    """The scheduler runs here: its interface must exist on this machine."""
    if resource.scheduler_host:
        return Check("scheduler", Status.OK, f"listens on {resource.scheduler_host}")
    interface = resource.scheduler_interface or resource.interface
    if interface is None:
        return Check("scheduler", Status.OK, "listens on this machine's default address")
    known = {name for _, name in socket.if_nameindex()}
    if interface not in known:
        detail = f"no interface {interface!r} here (have: {', '.join(sorted(known))})"
        return Check("scheduler", Status.FAILED, detail)
    return Check("scheduler", Status.OK, f"listens on interface {interface}")
