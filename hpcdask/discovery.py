"""Cluster discovery for dask-ctl and the JupyterLab Dask extension.

Registered under the ``dask_cluster_discovery`` entry point: ``discover()`` yields the name of
every running hpcdask cluster with the class whose ``from_name(name)`` attaches to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from hpcdask import state
from hpcdask.attached import AttachedCluster
from hpcdask.remote import alive

__all__ = ["discover"]


async def discover() -> AsyncIterator[tuple[str, Callable[..., Any]]]:
    """Yield ``(name, AttachedCluster)`` for every running cluster."""
    for record in state.records():
        if isinstance(record, state.Record) and alive(record):
            yield record.name, AttachedCluster
