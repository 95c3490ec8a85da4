"""The pilot backend: batch resources with an ``allocation:`` block (Slurm for now)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from hpcdask.backends.base import Backend
from hpcdask.errors import HpcdaskError, UnsupportedTypeError
from hpcdask.models import JobqueueResource, SlurmResource

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.models import Resource
    from hpcdask.pilot.cluster import PilotCluster
    from hpcdask.pilot.pilot import Pilot

__all__ = ["PilotBackend"]


def _seconds(text: str) -> float:
    from dask.utils import parse_timedelta

    return float(parse_timedelta(text))


def _pilot(resource: SlurmResource) -> Pilot:
    from hpcdask.pilot.allocation import SlurmAllocations
    from hpcdask.pilot.launcher import SrunLauncher
    from hpcdask.pilot.pilot import Pilot, PilotSettings
    from hpcdask.pilot.slots import SlotBook, WorkerSize
    from hpcdask.shell import SubprocessShell

    spec = resource.allocation
    assert spec is not None
    worker = resource.worker
    current = None
    if spec.current:
        current = os.environ.get("SLURM_JOB_ID")
        if not current:
            raise HpcdaskError(
                f"resource '{resource.name}': allocation: current, but this "
                "process does not run inside a Slurm job (no SLURM_JOB_ID)"
            )
    per_node = worker.processes or 1
    size = WorkerSize(worker.threads_per_process() or 1, worker.memory_per_process() or 0, per_node)
    settings = PilotSettings(
        nodes=spec.nodes,
        maximum=spec.maximum,
        idle_timeout=_seconds(spec.idle_timeout),
        margin=_seconds(spec.walltime_margin),
        per_node=per_node,
        current=current,
    )
    allocations = SlurmAllocations(
        SubprocessShell(),
        walltime=spec.walltime or resource.walltime or "01:00:00",
        partition=resource.queue,
        account=resource.account,
        directives=tuple(resource.job_extra_directives),
        job_name=f"hpcdask-{resource.name}",
    )
    return Pilot(allocations, SrunLauncher(), SlotBook(size), settings, wanted=lambda: 0)


def _worker_options(resource: JobqueueResource, security: Security | None) -> dict[str, Any]:
    worker = resource.worker
    options: dict[str, Any] = {
        "python": worker.python,
        "nthreads": worker.threads_per_process() or 1,
        "memory_limit": worker.memory_per_process(),
        "death_timeout": resource.death_timeout,
        "gpus": worker.gpus,
        "protocol": "tls" if security is not None else None,
    }
    return {"options": options, "env": _env(resource, security), "start_timeout": 300.0}


def _env(resource: JobqueueResource, security: Security | None) -> dict[str, str]:
    """Environment of the workers: the worker block's, Dask config, TLS credentials."""
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
    """Builds a :class:`PilotCluster` that starts workers inside held allocations."""

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
            _pilot(resource),
            worker=_worker_options(resource, security),
            scheduler={"cls": Scheduler, "options": options},
            n_workers=initial,
            name=resource.name,
            security=security,
        )
