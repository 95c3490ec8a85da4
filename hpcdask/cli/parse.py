"""Parse command-line values into config overrides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpcdask.errors import HpcdaskError

__all__ = ["command_overrides", "parse_assignments", "scaling_override"]


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """Turn ``["worker.cores=4", "queue=short"]`` into nested overrides (values read as YAML).

    Examples
    --------
    >>> parse_assignments(["worker.cores=4", "worker.env.A=b", "queue=short"])
    {'worker': {'cores': 4, 'env': {'A': 'b'}}, 'queue': 'short'}
    """
    import yaml  # lazy: the commands import this module at start-up (--help)

    out: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise HpcdaskError(f"--set {assignment}: expected KEY=VALUE, e.g. worker.cores=4")
        try:
            value = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            value = text
        *parents, last = key.strip().split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise HpcdaskError(f"--set {assignment}: '{part}' is already set to a value")
        target[last] = value
    return out


def scaling_override(workers: int | None, adapt: str | None) -> dict[str, int | None] | None:
    """Return the ``scaling`` override for ``--workers N`` or ``--adapt MIN:MAX``.

    The override replaces the resource's own scaling (a key set to None is dropped).

    Examples
    --------
    >>> scaling_override(None, "0:8")
    {'workers': None, 'minimum': 0, 'maximum': 8}
    """
    if workers is not None and adapt is not None:
        raise HpcdaskError("give either --workers or --adapt, not both")
    if workers is not None:
        return {"workers": workers, "minimum": None, "maximum": None}
    if adapt is None:
        return None
    low, sep, high = adapt.partition(":")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise HpcdaskError(f"--adapt {adapt}: expected MIN:MAX, e.g. 0:8")
    return {"workers": None, "minimum": int(low), "maximum": int(high)}


def command_overrides(
    assignments: Sequence[str], workers: int | None = None, adapt: str | None = None
) -> dict[str, Any]:
    """Return the overrides of ``--set``, ``--workers`` and ``--adapt`` together.

    Examples
    --------
    >>> command_overrides(["queue=short"], workers=2)
    {'queue': 'short', 'scaling': {'workers': 2, 'minimum': None, 'maximum': None}}
    """
    overrides = parse_assignments(assignments)
    scaling = scaling_override(workers, adapt)
    if scaling is not None:
        overrides["scaling"] = scaling
    return overrides
