"""The plug-in point for resource types: build a cluster, and check the resource beforehand.

Every cluster a backend builds reports what it is doing (:class:`Reporting`: where its workers
are, its jobs, allocations and failed hosts, its scaling), for the controller, ``hpcdask status``,
the dashboard page and the notebook widgets; :class:`Reports` gives the defaults.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = [
    "Backend",
    "Check",
    "Description",
    "Placement",
    "Reporting",
    "Reports",
    "Status",
    "reporting",
    "worker_names",
]


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
        by the caller afterwards. With ``security``, every connection uses TLS with it. The
        cluster implements :class:`Reporting`.
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
class Reporting(Protocol):
    """What every hpcdask cluster reports, for the controller, ``hpcdask status``, the
    dashboard page and the widgets, which read nothing else of a cluster.

    :class:`Reports` gives every member a default; a cluster class takes it and overrides
    what it knows better. ``failed_hosts`` is an attribute (an ``ssh`` cluster keeps it up to
    date); the rest are methods, cheap, and called on the cluster's event loop.

    Examples
    --------
    >>> class Plain(Reports):
    ...     worker_spec = {"w-0": {}, "w-1": {"group": ["-0", "-1"]}}
    ...     _adaptive = None
    >>> cluster = Plain()
    >>> isinstance(cluster, Reporting)
    True
    >>> cluster.workers_requested(), cluster.job_states(), cluster.allocations()
    (3, {}, None)
    >>> dict(cluster.failed_hosts), cluster.adaptive_bounds()
    ({}, None)
    >>> cluster.pending_reasons(), cluster.not_answering()
    ({}, None)
    >>> [p.workers for p in cluster.describe().placements]
    [('w-0',), ('w-1-0', 'w-1-1')]
    """

    #: Hosts left out, with the reason (``ssh``); empty for other clusters.
    failed_hosts: Mapping[str, str]

    def describe(self) -> Description:
        """Return the cluster's placements now."""
        ...

    def job_states(self) -> dict[str, str]:
        """Return batch job id (or a pilot's allocation id) → state name; {} without jobs."""
        ...

    def allocations(self) -> list[dict[str, object]] | None:
        """Return the allocations held (pilots), or None for clusters that hold none."""
        ...

    def pending_reasons(self) -> dict[str, str]:
        """Return pending batch job id → why the batch system keeps it waiting, as it says."""
        ...

    def not_answering(self) -> dict[str, object] | None:
        """Return since when (``since``, seconds since the epoch), how often (``tries``) and
        why (``error``) the batch system does not answer, or None while it answers."""
        ...

    def workers_requested(self) -> int:
        """Return how many workers the cluster asks for now (each worker of a group counts)."""
        ...

    def adaptive_bounds(self) -> tuple[int, int | None] | None:
        """Return (minimum, maximum or None for no bound) while adaptive, else None."""
        ...


class _Spec(Protocol):
    """What :class:`Reports` reads of the cluster it is mixed into (a distributed
    ``SpecCluster``): the workers it asked for, and its adaptive scaling."""

    worker_spec: Mapping[Any, Any]
    _adaptive: Any


class Reports:
    """The defaults of :class:`Reporting`, from a ``SpecCluster``'s own view of its workers:
    one placement per worker it asked for, no jobs, no allocations, no failed hosts."""

    failed_hosts: Mapping[str, str] = MappingProxyType({})

    def describe(self: _Spec) -> Description:
        """Return one placement per worker (or worker group) asked for."""
        return Description(
            "worker",
            tuple(
                Placement(str(n), "", workers=worker_names(n, s))
                for n, s in self.worker_spec.items()
            ),
        )

    def job_states(self) -> dict[str, str]:
        """Return no jobs."""
        return {}

    def allocations(self) -> list[dict[str, object]] | None:
        """Return None: the cluster holds no allocations."""
        return None

    def pending_reasons(self) -> dict[str, str]:
        """Return no pending jobs."""
        return {}

    def not_answering(self) -> dict[str, object] | None:
        """Return None: there is no batch system to answer."""
        return None

    def workers_requested(self: _Spec) -> int:
        """Return how many workers the cluster's spec asks for (each of a group counts)."""
        return sum(len(worker_names(name, spec)) for name, spec in self.worker_spec.items())

    def adaptive_bounds(self: _Spec) -> tuple[int, int | None] | None:
        """Return the bounds of distributed's adaptive scaling while it runs, else None."""
        adaptive = self._adaptive
        if adaptive is None or adaptive.periodic_callback is None:
            return None
        maximum = adaptive.maximum
        return int(adaptive.minimum), None if maximum == math.inf else int(maximum)


def reporting(cluster: object) -> Reporting:
    """Return ``cluster``, which every backend builds :class:`Reporting`.

    Raises
    ------
    TypeError
        When ``cluster`` does not report (it was not built by an hpcdask backend).
    """
    if not isinstance(cluster, Reporting):
        raise TypeError(f"{type(cluster).__name__} is not an hpcdask cluster (no Reporting)")
    return cluster


def worker_names(name: object, spec: object) -> tuple[str, ...]:
    """Return the worker names one spec entry starts: ``name``, or ``name+suffix`` per group.

    Examples
    --------
    >>> worker_names("job-0", {"group": ["-0", "-1"]}), worker_names(3, {})
    (('job-0-0', 'job-0-1'), ('3',))
    """
    group = spec.get("group") if isinstance(spec, Mapping) else None
    return tuple(f"{name}{suffix}" for suffix in group) if group else (str(name),)
