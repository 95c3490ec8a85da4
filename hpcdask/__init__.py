"""hpcdask: Dask on a laptop, a lab of machines over SSH, and HPC clusters, by name.

>>> from distributed import Client
>>> import hpcdask
>>> client = Client(hpcdask.connect("local"))  # doctest: +SKIP

Importing hpcdask does nothing but define names; heavy modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hpcdask._version import __version__
from hpcdask.errors import ConfigError, HpcdaskError, UnknownResourceError, UnsupportedTypeError

if TYPE_CHECKING:
    from hpcdask import widgets
    from hpcdask.api import connect, list_resources, load_resource
    from hpcdask.models import Resource

__all__ = [
    "ConfigError",
    "HpcdaskError",
    "Resource",
    "UnknownResourceError",
    "UnsupportedTypeError",
    "__version__",
    "connect",
    "list_resources",
    "load_resource",
    "widgets",
]

_LAZY = {
    "connect": "hpcdask.api",
    "list_resources": "hpcdask.api",
    "load_resource": "hpcdask.api",
    "Resource": "hpcdask.models",
}


#: Submodules loaded on first use: ``hpcdask.widgets.launcher()`` after ``import hpcdask``.
_SUBMODULES = frozenset({"widgets"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"hpcdask.{name}")
    raise AttributeError(f"module 'hpcdask' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
