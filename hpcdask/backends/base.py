"""The plug-in point for resource types: build a cluster, and check the resource beforehand."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

    from hpcdask.models import Resource

__all__ = ["Backend", "Check", "Status"]


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
    def cluster(self, resource: Resource) -> Cluster:
        """Start and return the cluster of ``resource`` with its initial workers.

        Called with the resource's ``dask:`` settings in force. Adaptive scaling is applied
        by the caller afterwards.
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
