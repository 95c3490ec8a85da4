"""Helpers for the ``dask:`` block of a resource: ordinary Dask config for its cluster.

Users may write the block nested, with dotted keys, or both. ``dask.config.set`` needs dotted
leaf keys (a nested mapping would replace whole sections); a Nanny's ``config`` needs nesting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["dotted", "nested"]


def dotted(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return the leaf settings of ``config`` under dotted keys.

    An empty mapping sets nothing (``dask.config.set`` would replace a whole section with it);
    ``None`` is a setting like any other.

    Examples
    --------
    >>> dotted({"distributed.comm": {"compression": "lz4"}, "distributed": {"x": 1}})
    {'distributed.comm.compression': 'lz4', 'distributed.x': 1}
    >>> dotted({"distributed": {"comm": {}, "worker": {"memory": {"spill": None}}}})
    {'distributed.worker.memory.spill': None}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(dotted(value, path + "."))
        else:
            out[path] = value
    return out


def nested(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``config`` as nested mappings, one level per dotted part.

    Examples
    --------
    >>> nested({"distributed.comm.compression": "lz4", "distributed": {"x": 1}})
    {'distributed': {'comm': {'compression': 'lz4'}, 'x': 1}}
    """
    out: dict[str, Any] = {}
    for key, value in dotted(config).items():
        *parents, last = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return out
