"""The pilot backend: batch resources with an ``allocation:`` block (Slurm for now)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpcdask.backends.base import Backend, Check
from hpcdask.errors import HpcdaskError, UnsupportedTypeError
from hpcdask.models import JobqueueResource, SlurmResource

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.models import NodeSSH, Resource
    from hpcdask.pilot.allocation import SlurmAllocations
    from hpcdask.pilot.cluster import PilotCluster
    from hpcdask.pilot.launcher import Launcher
    from hpcdask.pilot.pilot import Pilot
    from hpcdask.pilot.slots import WorkerSize
    from hpcdask.shell import Shell

__all__ = [
    "PilotBackend",
    "allocation_walltime",
    "directive_words",
    "margin_problem",
    "nanny_options",
    "slurm_allocations",
    "ssh_options",
    "worker_size",
]


def _seconds(text: str) -> float:
    from dask.utils import parse_timedelta

    return float(parse_timedelta(text))


def allocation_walltime(resource: SlurmResource) -> str:
    """Return the walltime of ``resource``'s allocations (``HH:MM:SS``)."""
    spec = resource.allocation
    return (spec.walltime if spec else None) or resource.walltime or "01:00:00"


def margin_problem(resource: SlurmResource) -> str | None:
    """Return why ``walltime-margin`` leaves workers no time in an allocation, if it does."""
    from hpcdask._model import walltime_seconds

    spec = resource.allocation
    if spec is None or spec.current:
        return None
    walltime = allocation_walltime(resource)
    if _seconds(spec.walltime_margin) < walltime_seconds(walltime):
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
    from hpcdask.pilot.allocation import SlurmAllocations

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
    from hpcdask.pilot.slots import WorkerSize

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


def _launcher(resource: SlurmResource, security: Security | None) -> Launcher:
    """Return how ``resource``'s node agents start: job steps, or ssh."""
    from hpcdask.pilot.launcher import SrunLauncher, SshLauncher

    spec = resource.allocation
    assert spec is not None
    env = _env(resource, security)
    if spec.launcher == "ssh":
        return SshLauncher(resource.worker.python, env, ssh_options(spec.ssh))
    return SrunLauncher(resource.worker.python, env)


def _pilot(resource: SlurmResource, security: Security | None) -> Pilot:
    from hpcdask.pilot.pilot import Pilot, PilotSettings
    from hpcdask.pilot.slots import SlotBook
    from hpcdask.shell import SubprocessShell

    spec = resource.allocation
    assert spec is not None
    current = None
    if spec.current:
        current = os.environ.get("SLURM_JOB_ID")
        if not current:
            raise HpcdaskError(
                f"resource '{resource.name}': allocation: current, but this "
                "process does not run inside a Slurm job (no SLURM_JOB_ID)"
            )
    problem = margin_problem(resource)
    if problem:
        raise HpcdaskError(problem)
    size = worker_size(resource)
    settings = PilotSettings(
        nodes=spec.nodes,
        maximum=spec.maximum,
        idle_timeout=_seconds(spec.idle_timeout),
        margin=_seconds(spec.walltime_margin),
        per_node=size.per_node or 1,
        current=current,
    )
    allocations = slurm_allocations(resource, SubprocessShell())
    launcher = _launcher(resource, security)
    return Pilot(allocations, launcher, SlotBook(size), settings, wanted=lambda: 0)


def nanny_options(resource: JobqueueResource, security: Security | None) -> dict[str, Any]:
    """Return the :class:`distributed.Nanny` keywords of ``resource``'s pilot workers (each
    adds its node's ``host``).

    Examples
    --------
    >>> resource = SlurmResource(name="c", worker={"cores": 4, "processes": 2, "gpus": 1,
    ...                                           "memory": "4GB"}, death_timeout=30)
    >>> nanny_options(resource, None)
    {'nthreads': 2, 'memory_limit': 2000000000, 'death_timeout': 30.0, 'resources': {'GPU': 1}}
    """
    worker = resource.worker
    nanny: dict[str, Any] = {
        "nthreads": worker.threads_per_process() or 1,
        "memory_limit": worker.memory_per_process() or "auto",
        "death_timeout": float(resource.death_timeout),
    }
    if worker.gpus:
        nanny["resources"] = {"GPU": worker.gpus}
    if security is not None:
        nanny["protocol"] = "tls"
    return nanny


def _env(resource: JobqueueResource, security: Security | None) -> dict[str, str]:
    """Environment of the node agents and their workers: the worker block's, Dask config,
    TLS credentials."""
    import dask.config

    from hpcdask.daskconfig import nested
    from hpcdask.security import as_dask_config

    config = nested(resource.dask)
    if security is not None:
        config = dask.config.merge(config, as_dask_config(security))
    env = dict(resource.worker.env)
    if config:
        env["DASK_INTERNAL_INHERIT_CONFIG"] = dask.config.serialize(config)
    return env


class PilotBackend(Backend):
    """Builds a :class:`PilotCluster` that starts workers inside held allocations.

    Parameters
    ----------
    shell
        Runs Slurm's commands for the preflight checks (default: local subprocesses).
    """

    def __init__(self, shell: Shell | None = None) -> None:
        from hpcdask.shell import SubprocessShell

        self.shell: Shell = shell or SubprocessShell()

    def checks(self, resource: Resource) -> list[Check]:
        """Check Slurm's commands (srun and scontrol too), the partition, the allocation
        request (``sbatch --test-only``), that workers fit on its nodes, the walltime margin."""
        from hpcdask.pilot.checks import pilot_checks

        if not isinstance(resource, SlurmResource):
            raise UnsupportedTypeError(
                f"allocation: pilots run on Slurm for now, not on '{resource.type}'"
            )
        return pilot_checks(resource, self.shell)

    def cluster(self, resource: Resource, security: Security | None = None) -> PilotCluster:
        from distributed import Scheduler

        from hpcdask.pilot.cluster import PilotCluster

        if not isinstance(resource, SlurmResource):
            raise UnsupportedTypeError(
                f"allocation: pilots run on Slurm for now, not on '{resource.type}'"
            )
        options: dict[str, Any] = {"dashboard_address": resource.dashboard_address, "port": 0}
        if resource.scheduler_host:
            options["host"] = resource.scheduler_host
        if resource.scheduler_interface:
            options["interface"] = resource.scheduler_interface
        if security is not None:
            options.update(security=security, protocol="tls://")
        initial = self.initial_workers(resource) or 0
        return PilotCluster(
            _pilot(resource, security),
            worker={"options": nanny_options(resource, security), "start_timeout": 300.0},
            scheduler={"cls": Scheduler, "options": options},
            n_workers=initial,
            name=resource.name,
            security=security,
        )
