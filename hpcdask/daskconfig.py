"""Helpers for the ``dask:`` block of a resource: ordinary Dask config for its cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["nested"]


def nested(config: Mapping[str, Any]) -> dict[str, Any]:
    """Expand dotted keys (``distributed.worker.memory.target``) into nested mappings.

    Examples
    --------
    >>> nested({"distributed.comm.compression": "lz4", "distributed": {"x": 1}})
    {'distributed': {'comm': {'compression': 'lz4'}, 'x': 1}}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        *parents, last = str(key).split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        if isinstance(value, Mapping):
            existing = target.get(last)
            merged = nested(value)
            if isinstance(existing, dict):
                existing.update(merged)
                merged = existing
            target[last] = merged
        else:
            target[last] = value
    return out
