"""A pilot resource's settings as the pilot's parts take them: walltimes, sizes, commands."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from hpcdask._model import walltime_seconds
from hpcdask.models import JobqueueResource, NodeSSH, SlurmResource
from hpcdask.models.batch import duration_seconds
from hpcdask.pilot.allocation import SlurmAllocations
from hpcdask.pilot.slots import WorkerSize
from hpcdask.shell import Shell

__all__ = [
    "allocation_walltime",
    "directive_words",
    "margin_problem",
    "slurm_allocations",
    "ssh_options",
    "worker_size",
]


def allocation_walltime(resource: SlurmResource) -> str:
    """Return the walltime of ``resource``'s allocations (``HH:MM:SS``)."""
    spec = resource.allocation
    return (spec.walltime if spec else None) or resource.walltime or "01:00:00"


def margin_problem(resource: SlurmResource) -> str | None:
    """Return why ``walltime-margin`` leaves workers no time in an allocation, if it does."""
    spec = resource.allocation
    if spec is None or spec.current:
        return None
    walltime = allocation_walltime(resource)
    if duration_seconds(spec.walltime_margin) < walltime_seconds(walltime):
        return None
    return (
        f"resource '{resource.name}': allocation.walltime-margin ({spec.walltime_margin}) "
        f"leaves no time to work in allocations of {walltime}"
    )


def directive_words(directives: Sequence[str]) -> tuple[str, ...]:
    """Return ``job-extra-directives`` as ``sbatch`` arguments: each line split as a shell would
    (dask-jobqueue writes them as ``#SBATCH`` lines, where ``--begin now+20`` is fine too).

    Examples
    --------
    >>> directive_words(["--begin now+20", "-t 5", '--comment="two words"'])
    ('--begin', 'now+20', '-t', '5', '--comment=two words')
    """
    return tuple(word for line in directives for word in shlex.split(line))


def slurm_allocations(resource: SlurmResource, shell: Shell) -> SlurmAllocations:
    """Return how ``resource`` requests, polls and cancels its allocations."""
    return SlurmAllocations(
        shell,
        walltime=allocation_walltime(resource),
        partition=resource.queue,
        account=resource.account,
        directives=directive_words(resource.job_extra_directives),
        job_name=f"hpcdask-{resource.name}",
    )


def worker_size(resource: JobqueueResource) -> WorkerSize:
    """Return what one worker of ``resource`` needs on a node."""
    worker = resource.worker
    per_node = worker.processes or 1
    return WorkerSize(worker.threads_per_process() or 1, worker.memory_per_process() or 0, per_node)


def ssh_options(spec: NodeSSH | None) -> list[str]:
    """Return the ``ssh`` options of ``launcher: ssh``'s ``ssh:`` block.

    Examples
    --------
    >>> from hpcdask.models import NodeSSH
    >>> ssh_options(NodeSSH(user="alice", port=2222, known_hosts="ignore"))
    ['-l', 'alice', '-p', '2222', '-o', 'StrictHostKeyChecking=no', '-o', \
'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR']
    """
    if spec is None:
        return []
    options: list[str] = []
    if spec.user:
        options += ["-l", spec.user]
    if spec.port:
        options += ["-p", str(spec.port)]
    if spec.identity:
        options += ["-i", os.path.expanduser(spec.identity), "-o", "IdentitiesOnly=yes"]
    if spec.known_hosts == "ignore":
        options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        options += ["-o", "LogLevel=ERROR"]
    elif spec.known_hosts:
        options += ["-o", f"UserKnownHostsFile={os.path.expanduser(spec.known_hosts)}"]
    return options
