"""Backends turn a validated resource into a distributed cluster, one module per family.

A backend is looked up by resource type; its module is imported only when it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hpcdask.backends.base import Backend, Check, Status
from hpcdask.errors import UnsupportedTypeError

if TYPE_CHECKING:
    from hpcdask.models import Resource

__all__ = ["Backend", "Check", "Status", "backend_for", "backend_of"]

#: Resource type → "module:class" of the backend that starts it.
_BACKENDS = {
    "local": "hpcdask.backends.local:LocalBackend",
    "ssh": "hpcdask.backends.ssh:SSHBackend",
    **dict.fromkeys(
        ("slurm", "pbs", "sge", "lsf", "htcondor", "oar", "moab"),
        "hpcdask.backends.jobqueue:JobqueueBackend",
    ),
}


def backend_for(kind: str) -> Backend:
    """Return the backend for resource type ``kind``.

    Raises
    ------
    UnsupportedTypeError
        When the type validates but this version of hpcdask has no backend for it yet.
    """
    target = _BACKENDS.get(kind)
    if target is None:
        ready = ", ".join(sorted(_BACKENDS))
        raise UnsupportedTypeError(
            f"resources of type '{kind}' are validated but cannot be started by this version "
            f"of hpcdask; types it can start: {ready}"
        )
    module, _, name = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module), name)()
    return backend


def backend_of(resource: Resource) -> Backend:
    """Return the backend that starts ``resource``: pilots for an ``allocation:`` block."""
    if getattr(resource, "allocation", None) is not None:
        from hpcdask.pilot.backend import PilotBackend

        return PilotBackend()
    return backend_for(resource.type)
