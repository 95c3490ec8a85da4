"""Backends turn a validated resource into a distributed cluster, one module per family.

A backend is looked up by resource type; its module is imported only when it is needed.
"""

from __future__ import annotations

import importlib

from hpcdask.backends.base import Backend, Check, Status
from hpcdask.errors import UnsupportedTypeError

__all__ = ["Backend", "Check", "Status", "backend_for"]

#: Resource type → "module:class" of the backend that starts it.
_BACKENDS = {
    "local": "hpcdask.backends.local:LocalBackend",
    "ssh": "hpcdask.backends.ssh:SSHBackend",
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
