"""The hpcdask page on the scheduler's Dask dashboard, and snapshots of a cluster for clients.

Every cluster hpcdask starts, in this process (``connect()``) or in a controller (``hpcdask
up``), serves ``/hpcdask`` beside ``/status`` on its dashboard: the resource, a live table of
its hosts, jobs or workers, and a plot of requested vs connected workers (and pending jobs).

>>> from hpcdask.dashboard import fetch, page_link
>>> page_link(cluster)  # doctest: +SKIP
'http://127.0.0.1:8787/hpcdask'

Importing this package loads nothing heavy; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcdask.dashboard.serving import install
    from hpcdask.dashboard.snapshot import PAGE, Snapshot, fetch, page_link

__all__ = ["PAGE", "Snapshot", "fetch", "install", "page_link"]

_LAZY = {
    "install": "hpcdask.dashboard.serving",
    "PAGE": "hpcdask.dashboard.snapshot",
    "Snapshot": "hpcdask.dashboard.snapshot",
    "fetch": "hpcdask.dashboard.snapshot",
    "page_link": "hpcdask.dashboard.snapshot",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpcdask.dashboard' has no attribute {name!r}")
