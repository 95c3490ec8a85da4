"""The pilot backend: batch resources with an ``allocation:`` block (Slurm for now)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from distributed import Scheduler

from hpcdask.backends.base import Backend, Check
from hpcdask.backends.workers import inherited_config, worker_options
from hpcdask.errors import HpcdaskError, UnsupportedTypeError
from hpcdask.models import JobqueueResource, SlurmResource
from hpcdask.models.batch import duration_seconds
from hpcdask.pilot.checks import pilot_checks
from hpcdask.pilot.cluster import PilotCluster
from hpcdask.pilot.launcher import Launcher, SrunLauncher, SshLauncher
from hpcdask.pilot.pilot import Pilot, PilotSettings
from hpcdask.pilot.settings import margin_problem, slurm_allocations, ssh_options, worker_size
from hpcdask.pilot.slots import SlotBook
from hpcdask.shell import Shell, SubprocessShell

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = ["PilotBackend", "nanny_options"]


def _launcher(resource: SlurmResource, security: Security | None) -> Launcher:
    """Return how ``resource``'s node agents start: job steps, or ssh."""
    spec = resource.allocation
    assert spec is not None
    env = _env(resource, security)
    if spec.launcher == "ssh":
        return SshLauncher(resource.worker.python, env, ssh_options(spec.ssh))
    return SrunLauncher(resource.worker.python, env)


def _pilot(resource: SlurmResource, security: Security | None) -> Pilot:
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
        idle_timeout=duration_seconds(spec.idle_timeout),
        margin=duration_seconds(spec.walltime_margin),
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
    return {
        "nthreads": worker.threads_per_process() or 1,
        "memory_limit": worker.memory_per_process() or "auto",
        **worker_options(resource, security),
    }


def _env(resource: JobqueueResource, security: Security | None) -> dict[str, str]:
    """Environment of the node agents and their workers: the worker block's, Dask config,
    TLS credentials."""
    return {**resource.worker.env, **inherited_config(resource, security)}


class PilotBackend(Backend):
    """Builds a :class:`PilotCluster` that starts workers inside held allocations.

    Parameters
    ----------
    shell
        Runs Slurm's commands for the preflight checks (default: local subprocesses).
    """

    def __init__(self, shell: Shell | None = None) -> None:
        self.shell: Shell = shell or SubprocessShell()

    def checks(self, resource: Resource) -> list[Check]:
        """Check Slurm's commands (srun and scontrol too), the partition, the allocation
        request (``sbatch --test-only``), that workers fit on its nodes, the walltime margin."""
        if not isinstance(resource, SlurmResource):
            raise UnsupportedTypeError(
                f"allocation: pilots run on Slurm for now, not on '{resource.type}'"
            )
        return pilot_checks(resource, self.shell)

    def cluster(self, resource: Resource, security: Security | None = None) -> PilotCluster:
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
