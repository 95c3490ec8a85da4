"""Turn a layered resource config into its frozen, validated model.

Examples
--------
>>> from hpcdask.config import load_catalog
>>> resource = validate(load_catalog().resolve("local"))
>>> resource.type
'local'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hpcdask._messages import error_lines
from hpcdask.config import ResolvedResource
from hpcdask.errors import ConfigError, did_you_mean
from hpcdask.models import Resource
from hpcdask.models.keys import rename
from hpcdask.registry import KINDS

__all__ = ["TYPES", "from_dump", "renamed", "validate"]

logger = logging.getLogger(__name__)

#: Every resource type hpcdask knows, and its model.
TYPES: dict[str, type[Resource]] = {kind: entry.model for kind, entry in KINDS.items()}


def _model_for(resolved: ResolvedResource) -> type[Resource]:
    where = f"{resolved.source_of('type')}: resource '{resolved.name}': type"
    kind = resolved.data.get("type")
    known = ", ".join(TYPES)
    if kind is None:
        raise ConfigError(f"{where}: required key is missing; one of {known}")
    model = TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        hint = did_you_mean(str(kind), TYPES)
        raise ConfigError(f"{where}: {kind!r} is not a known type{hint}; known types: {known}")
    return model


def renamed(resolved: ResolvedResource) -> tuple[ResolvedResource, list[str]]:
    """Return ``resolved`` with dask-jobqueue's spellings read as hpcdask's keys (the origin
    of each value kept), and one note per key renamed (see :mod:`hpcdask.models.keys`)."""
    try:
        kind = resolved.data.get("type")
        model = TYPES.get(kind) if isinstance(kind, str) else None
        data, sources, notes = rename(model, resolved.data, resolved.sources)
    except ValueError as error:
        lines = [
            f"{resolved.source_of(line.partition(':')[0].replace('-', '_'))}: "
            f"resource '{resolved.name}': {line}"
            for line in str(error).splitlines()
        ]
        raise ConfigError(lines) from None
    shown = [
        f"{resolved.source_of(note.partition(':')[0].replace('-', '_'))}: "
        f"resource '{resolved.name}': {note}"
        for note in notes
    ]
    return ResolvedResource(resolved.name, resolved.origin, data, sources), shown


def validate(resolved: ResolvedResource) -> Resource:
    """Return the validated model of ``resolved``, or raise :class:`ConfigError`.

    Every problem is reported on one line naming the file, the resource and the key; keys
    dask-jobqueue deprecated are read as it reads them, with a logged warning each.
    """
    model = _model_for(resolved)
    resolved, notes = renamed(resolved)
    for note in notes:
        if "deprecated" in note:
            logger.warning("%s", note)
    for reserved in ("name", "origin"):
        if reserved in resolved.data:
            raise ConfigError(
                f"{resolved.source_of(reserved)}: resource '{resolved.name}': {reserved}: "
                "set by hpcdask (a resource's name is its key under 'resources:'); remove it"
            )
    data = {**resolved.data, "name": resolved.name, "origin": resolved.origin}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(error_lines(exc, resolved.name, resolved.source_of)) from None


def from_dump(data: Mapping[str, Any]) -> Resource:
    """Return the resource that ``resource.model_dump(mode="json")`` gave ``data`` for.

    This is how a resource, validated where the user's configs are, reaches the process that
    runs its cluster (a controller, a login node's agent).
    """
    return TYPES[data["type"]].model_validate(data)
