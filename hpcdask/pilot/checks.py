"""Preflight checks of pilot resources (``allocation:``), for ``hpcdask check``.

A pilot needs more of Slurm than one batch job per worker group does: ``scontrol`` to learn the
nodes of its allocations, and ``srun`` (or ``ssh``, by its launcher) to start their agents.
It submits one allocation request (checked with ``sbatch --test-only``) and places workers on
nodes by their cores and memory (checked against the partition's nodes). Its node agents need
hpcdask in the workers' python (checked here when that python runs here too). The partition and
scheduler checks are the batch resources' own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from hpcdask._sync import run_sync
from hpcdask.backends.base import Check, Status
from hpcdask.backends.jobqueue.checks import (
    TIMEOUT,
    commands_check,
    python_check,
    queue_check,
    scheduler_check,
)
from hpcdask.models import SlurmResource
from hpcdask.pilot.settings import (
    allocation_walltime,
    margin_problem,
    slurm_allocations,
    worker_size,
)
from hpcdask.pilot.slots import Node
from hpcdask.shell import CommandError, Shell, one_line

__all__ = ["COMMANDS", "pilot_checks"]

#: The Slurm commands a pilot runs (and ``srun`` or ``ssh``, by its launcher).
COMMANDS = ("sbatch", "squeue", "scancel", "scontrol")


def pilot_checks(resource: SlurmResource, shell: Shell) -> list[Check]:
    """Run every check of the pilot resource ``resource``, in a fixed order."""
    spec = resource.allocation
    launcher = spec.launcher if spec is not None else "srun"
    found = commands_check([*COMMANDS, launcher], "Slurm")
    asked = run_sync(lambda: _ask(resource, shell)) if found.status is not Status.FAILED else []
    checks = [_agent_python(resource), _walltime(resource), scheduler_check(resource)]
    return [found, *asked, *checks]


def _agent_python(resource: SlurmResource) -> Check:
    """The workers' python must run the node agent: distributed and hpcdask importable."""
    where = python_check(resource)
    if where.status is not Status.OK:
        return Check("python", where.status, f"{where.detail}, with distributed and hpcdask")
    python = resource.worker.python or sys.executable
    try:
        ran = subprocess.run(
            [python, "-c", "import hpcdask.pilot.agent, distributed"],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check("python", Status.FAILED, f"{python}: {error}")
    if ran.returncode:
        lines = ran.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit code {ran.returncode}"
        return Check("python", Status.FAILED, f"{python} cannot run the node agent: {why}")
    return Check("python", Status.OK, f"{where.detail}; runs the node agent")


async def _ask(resource: SlurmResource, shell: Shell) -> list[Check]:
    """The checks that ask Slurm, concurrently."""
    checks = [queue_check(resource, shell), _allocation(resource, shell), _nodes(resource, shell)]
    return list(await asyncio.gather(*checks))


async def _allocation(resource: SlurmResource, shell: Shell) -> Check:
    """Let Slurm judge the allocation request without submitting it."""
    assert resource.allocation is not None
    if resource.allocation.current:
        job = os.environ.get("SLURM_JOB_ID")
        if job:
            return Check("allocation", Status.OK, f"current: Slurm job {job}")
        detail = "current: not inside a Slurm job here (no SLURM_JOB_ID); run hpcdask in one"
        return Check("allocation", Status.WARNING, detail)
    sbatch, *args = slurm_allocations(resource, shell).command(resource.allocation.nodes)
    try:
        result = await shell.run([sbatch, "--test-only", *args], timeout=TIMEOUT)
    except CommandError as error:
        said = one_line(error.stderr) or one_line(error.stdout) or str(error)
        return Check("allocation", Status.FAILED, f"sbatch --test-only: {said}")
    return Check("allocation", Status.OK, one_line(result.stderr + result.stdout))


async def _nodes(resource: SlurmResource, shell: Shell) -> Check:
    """How many workers fit on each node of the partition (the default one if none is set)."""
    command = ["sinfo", "--noheader", "--Node", "--format=%N|%c|%m|%P"]
    try:
        result = await shell.run(command, timeout=TIMEOUT)
    except CommandError as error:
        return Check("nodes", Status.FAILED, str(error))
    nodes = _partition_nodes(result.stdout, resource.queue)
    where = f"partition {resource.queue}" if resource.queue else "the default partition"
    if not nodes:
        return Check("nodes", Status.WARNING, f"sinfo lists no node of {where}")
    size = worker_size(resource)
    fits = sorted({size.fits(node) for node in nodes})
    need = f"{size.cores} cores, {size.memory // 2**20} MiB"
    if fits[-1] == 0:
        detail = f"no node of {where} has room for one worker ({need})"
        return Check("nodes", Status.FAILED, detail)
    room = [n for n in fits if n]
    per_node = str(room[0]) if len(room) == 1 else f"{room[0]}-{room[-1]}"
    return Check("nodes", Status.OK, f"{per_node} workers ({need}) per node of {where}")


def _partition_nodes(listing: str, partition: str | None) -> list[Node]:
    """Parse ``sinfo --Node --format=%N|%c|%m|%P`` for the nodes of ``partition``."""
    nodes = {}
    for line in listing.splitlines():
        name, cpus, memory, part = [*line.strip().split("|"), "", "", ""][:4]
        chosen = part.rstrip("*") == partition if partition else part.endswith("*")
        memory = memory.rstrip("+")
        if chosen and cpus.isdigit() and memory.isdigit():
            nodes[name] = Node(name, int(cpus), int(memory) * 2**20)
    return list(nodes.values())


def _walltime(resource: SlurmResource) -> Check:
    assert resource.allocation is not None
    problem = margin_problem(resource)
    if problem:
        return Check("walltime", Status.FAILED, problem.split(": ", 1)[1])
    margin = resource.allocation.walltime_margin
    if resource.allocation.current:
        return Check("walltime", Status.OK, f"workers retire {margin} before the job ends")
    detail = f"allocations of {allocation_walltime(resource)}; workers retire {margin} before"
    return Check("walltime", Status.OK, detail + " the end, into a replacement requested earlier")
