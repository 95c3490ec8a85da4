"""Replacing workers that ended by themselves: one mechanism for every hpcdask cluster.

A worker can end without its cluster asking: its SSH host is lost, its batch job is killed or
reaches its walltime, the allocation its job step ran in ends. The cluster notices this its own
way (a process that exits, a job state it polls, a job step it watches) and hands the names to
:meth:`ReplacesEnded.replace_ended`, which takes them out of the plan and asks for as many
workers again, so the count the cluster was asked for holds. A cluster that sets a limit
(:meth:`ReplacesEnded.stop_replacing`) stops replacing when ends come too often, and says why.

Examples
--------
>>> class Cluster(ReplacesEnded):
...     name, _adaptive, asked = "demo", None, []
...     def __init__(self) -> None:
...         self.worker_spec = {"w-0": {}, "w-1": {}}
...         self.workers = {"w-0": "a worker", "w-1": "another"}
...     def scale(self, n: int) -> None:
...         self.asked.append(n)
>>> cluster = Cluster()
>>> cluster.ended_planned(lambda worker: worker == "another")
['w-1']
>>> cluster.replace_ended(["w-1", "gone"]), cluster.asked, list(cluster.worker_spec)
({'w-1': 'another'}, [2], ['w-0'])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from hpcdask.errors import HpcdaskError

__all__ = ["ReplacesEnded"]

logger = logging.getLogger(__name__)


class _Cluster(Protocol):
    """What :class:`ReplacesEnded` uses of the ``SpecCluster`` it is mixed into."""

    name: str
    worker_spec: dict[Any, Any]
    workers: dict[Any, Any]
    _adaptive: Any
    replaced_level: int

    def scale(self, n: int) -> Any: ...

    def forget_ended(self, name: str, worker: Any) -> None: ...

    def ask_again(self, target: int, names: list[str]) -> None: ...

    def stop_replacing(self, names: list[str]) -> HpcdaskError | None: ...


class ReplacesEnded:
    """Mixin of a ``SpecCluster`` (before it in the bases): replace workers that ended.

    A cluster overrides what differs: :meth:`forget_ended` (its own remains of an ended
    worker), :meth:`ask_again` (how it asks for the same count again), :meth:`stop_replacing`
    (a failure limit) and ``replaced_level`` (how loud a replacement is logged).
    """

    #: The log level of "... ended; replacing them".
    replaced_level = logging.WARNING

    def ended_planned(self: _Cluster, ended: Callable[[Any], bool]) -> list[str]:
        """Return the names of the planned workers (still in the spec) that ``ended``."""
        return [name for name, worker in self.workers.items()
                if name in self.worker_spec and ended(worker)]  # fmt: skip

    def replace_ended(self: _Cluster, names: Iterable[str]) -> dict[str, Any]:
        """Take the planned workers ``names``, which ended by themselves, out of the plan and
        the cluster, and ask for as many again; names no longer planned (scaled down since)
        are left to the cluster. If :meth:`stop_replacing` gives a reason, ask for none and
        stop adaptive scaling with it.

        Returns the workers taken out, by name, for the cluster to close if it must.
        """
        planned = [name for name in dict.fromkeys(names) if name in self.worker_spec]
        if not planned:
            return {}
        problem = self.stop_replacing(planned)
        if problem is not None:
            logger.error("%s", problem)
            taken = _take_out(self, planned)
            if self._adaptive is not None:
                self._adaptive.stop(reason=str(problem))
            return taken
        target = len(self.worker_spec)
        taken = _take_out(self, planned)
        logger.log(self.replaced_level, "%s: %s ended; replacing them", self.name, ", ".join(taken))
        self.ask_again(target, planned)
        return taken

    def forget_ended(self, name: str, worker: Any) -> None:
        """Clean up after worker ``name`` that ended (taken out of the plan); nothing here."""

    def ask_again(self: _Cluster, target: int, names: list[str]) -> None:
        """Ask for ``target`` workers again, the ended ``names`` being out of the plan."""
        self.scale(target)

    def stop_replacing(self, names: list[str]) -> HpcdaskError | None:
        """Return why the ended ``names`` must not be replaced, or None (never, here)."""
        return None


def _take_out(cluster: _Cluster, names: list[str]) -> dict[str, Any]:
    """Take ``names`` out of the spec and the cluster; return their workers, by name."""
    taken: dict[str, Any] = {}
    for name in names:
        cluster.worker_spec.pop(name, None)
        taken[name] = cluster.workers.pop(name, None)
        cluster.forget_ended(name, taken[name])
    return taken
