"""Backends turn a validated resource into a distributed cluster, one package per family.

- :mod:`hpcdask.backends.local`: distributed's ``LocalCluster``;
- :mod:`hpcdask.backends.ssh`: workers started over SSH on a list of hosts;
- :mod:`hpcdask.backends.jobqueue`: one batch job per group of workers, on every batch system
  of :mod:`hpcdask.backends.jobqueue.systems`.

A backend is looked up by resource type in :data:`hpcdask.registry.KINDS`; its module is
imported only when it is needed.
"""

from __future__ import annotations

from hpcdask.backends.base import Backend, Check, Status
from hpcdask.errors import UnsupportedTypeError
from hpcdask.models import JobqueueResource, Resource
from hpcdask.registry import KINDS, PILOT_BACKEND, load

__all__ = ["Backend", "Check", "Status", "backend_for", "backend_of"]


def backend_for(kind: str) -> Backend:
    """Return the backend for resource type ``kind``.

    Raises
    ------
    UnsupportedTypeError
        When the type validates but this version of hpcdask has no backend for it yet.
    """
    entry = KINDS.get(kind)
    if entry is None:
        ready = ", ".join(sorted(KINDS))
        raise UnsupportedTypeError(
            f"resources of type '{kind}' are validated but cannot be started by this version "
            f"of hpcdask; types it can start: {ready}"
        )
    backend: Backend = load(entry.backend)()
    return backend


def backend_of(resource: Resource) -> Backend:
    """Return the backend that starts ``resource``: pilots for an ``allocation:`` block."""
    if isinstance(resource, JobqueueResource) and resource.allocation is not None:
        backend: Backend = load(PILOT_BACKEND)()
        return backend
    return backend_for(resource.type)
