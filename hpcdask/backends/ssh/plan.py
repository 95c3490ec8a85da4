"""Per-host settings of an ``ssh`` resource, resolved once from the validated model."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from hpcdask.models import SSHResource

__all__ = ["HostPlan", "host_plans"]


@dataclass(frozen=True)
class HostPlan:
    """Everything needed to reach one host and start workers on it."""

    host: str
    slots: int
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 10.0
    python: str = sys.executable
    env: Mapping[str, str] = field(default_factory=dict)
    prologue: tuple[str, ...] = ()
    nice: int | None = None
    cores: int | None = None
    memory: int | None = None
    nthreads: int | None = None
    memory_limit: int | None = None
    local_directory: str | None = None

    def threads(self, host_cpus: int | None) -> int | None:
        """Return threads per worker: asked for, capped by the host's cores over its slots.

        ``host_cpus`` (what the host reported) stands in for ``cores`` when neither the
        worker block nor the host gives a count, so that several workers share the host.
        """
        share = (self.cores or host_cpus or 0) // self.slots or None
        if self.nthreads and share:
            return min(self.nthreads, share)
        return self.nthreads or share

    def memory_per_worker(self) -> int | None:
        """Return each worker's memory limit in bytes, capped by the host's share."""
        share = self.memory // self.slots if self.memory else None
        if self.memory_limit and share:
            return min(self.memory_limit, share)
        return self.memory_limit or share


def host_plans(resource: SSHResource) -> dict[str, HostPlan]:
    """Return the plan of every host of ``resource``, in the order the user listed them.

    Examples
    --------
    >>> from hpcdask.models import SSHResource
    >>> r = SSHResource(name="lab", hosts=["a", "b", "b"], user="alice", worker={"cores": 2})
    >>> plans = host_plans(r)
    >>> plans["b"].slots, plans["b"].user, plans["b"].nthreads
    (2, 'alice', 2)
    """
    worker = resource.worker
    plans = {}
    for host, spec in resource.hosts.items():
        plans[host] = HostPlan(
            host=host,
            slots=spec.workers,
            user=spec.user or resource.user,
            port=spec.port or resource.port,
            identity=spec.identity or resource.identity,
            known_hosts=resource.known_hosts,
            connect_timeout=resource.connect_timeout,
            python=spec.python or worker.python or sys.executable,
            env={**worker.env, **spec.env},
            prologue=(*resource.prologue, *spec.prologue),
            nice=spec.nice if spec.nice is not None else worker.nice,
            cores=spec.cores,
            memory=spec.memory,
            nthreads=worker.nthreads or worker.cores,
            memory_limit=worker.memory,
            local_directory=spec.local_directory or worker.local_directory,
        )
    return plans
