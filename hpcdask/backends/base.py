"""The plug-in point for resource types: build a cluster, and check the resource beforehand.

A cluster may also describe where its workers are (:class:`Describable`), for the dashboard
page and the notebook widgets.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = ["Backend", "Check", "Describable", "Description", "Placement", "Status"]


class Status(enum.Enum):
    """The outcome of one preflight check."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    """One preflight check's result, as ``hpcdask check`` shows it."""

    name: str
    status: Status
    detail: str = ""


class Backend(ABC):
    """Builds distributed clusters for one family of resource types."""

    @abstractmethod
    def cluster(self, resource: Resource, security: Security | None = None) -> Cluster:
        """Start and return the cluster of ``resource`` with its initial workers.

        Called with the resource's ``dask:`` settings in force. Adaptive scaling is applied
        by the caller afterwards. With ``security``, every connection uses TLS with it.
        """

    def checks(self, resource: Resource) -> list[Check]:
        """Return the preflight checks of ``resource``; none by default."""
        return []

    @staticmethod
    def initial_workers(resource: Resource) -> int | None:
        """Return how many workers to start with, or None to leave it to the backend."""
        scaling = resource.scaling
        if scaling.adaptive:
            return scaling.minimum or 0
        return scaling.workers


@dataclass(frozen=True)
class Placement:
    """One place a cluster keeps workers in: a host, a batch job, an allocation, or a worker.

    ``workers`` names the Dask workers meant to run there; a connected worker called ``NAME``
    or ``NAME<suffix>`` (distributed's naming of a worker group, e.g. ``NAME-0``) belongs to
    it. ``walltime_left`` is in seconds, when a batch system bounds the placement.

    Examples
    --------
    >>> Placement("ws1", "ok", nodes="ws1", workers=("ws1-0", "ws1-2"))
    Placement(id='ws1', state='ok', nodes='ws1', workers=('ws1-0', 'ws1-2'), \
walltime_left=None, note='')
    """

    id: str
    state: str
    nodes: str = ""
    workers: tuple[str, ...] = ()
    walltime_left: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Description:
    """Where a cluster's workers are: ``kind`` says what one placement is (``host``, ``job``,
    ``allocation`` or ``worker``)."""

    kind: str
    placements: tuple[Placement, ...]


@runtime_checkable
class Describable(Protocol):
    """A cluster that describes its placements; clusters without it are described from the
    scheduler's view of their workers."""

    def describe(self) -> Description:
        """Return the cluster's placements now; cheap, and called on the cluster's event loop."""
        ...
