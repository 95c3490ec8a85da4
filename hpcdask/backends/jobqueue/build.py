"""Start a batch cluster, of its system's cluster class, from a validated resource."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hpcdask._model import walltime_seconds
from hpcdask.backends.jobqueue.args import cluster_kwargs, lifetime, require_startable
from hpcdask.backends.jobqueue.system import system_of
from hpcdask.errors import UnsupportedTypeError
from hpcdask.models.batch import duration_seconds

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.backends.jobqueue.book import JobBook
    from hpcdask.backends.jobqueue.cluster import BatchCluster
    from hpcdask.models import JobqueueResource

__all__ = ["build_cluster", "handover_after"]


def handover_after(life: tuple[int, int] | None, margin: float) -> float | None:
    """Return when (seconds after its first worker arrived) a job gets its successor.

    One margin before its workers may start to retire (lifetime - stagger), but not before
    half its lifetime: with walltimes close to the margin, successors would otherwise need
    successors at once.

    Examples
    --------
    >>> handover_after((3480, 60), 120.0), handover_after((35, 8), 25.0)
    (3300.0, 17.5)
    """
    if life is None:
        return None
    return max(life[0] - life[1] - margin, life[0] / 2)


def build_cluster(
    resource: JobqueueResource, book: JobBook, security: Security | None = None
) -> BatchCluster:
    """Start the (empty) cluster of ``resource``; its jobs go through ``book``; with
    ``security``, every connection uses TLS.

    Raises
    ------
    UnsupportedTypeError
        For a resource with ``allocation:``: pilot clusters are not one job per worker group.
    """
    if resource.allocation is not None:
        raise UnsupportedTypeError(
            f"resource '{resource.name}': allocation: pilot resources hold allocations and are "
            "started by the pilot backend (hpcdask.backends.backend_of), not one job per worker"
        )
    require_startable(resource)
    if resource.log_directory:
        os.makedirs(resource.log_directory, exist_ok=True)
    margin = duration_seconds(resource.walltime_margin)
    return system_of(resource).cluster_class(
        book=book,
        poll_interval=duration_seconds(resource.poll_interval),
        replace_grace=resource.death_timeout,
        handover_after=handover_after(lifetime(resource), margin),
        job_seconds=_job_seconds(resource),
        **cluster_kwargs(resource, security),
    )


def _job_seconds(resource: JobqueueResource) -> float | None:
    walltime = resource.walltime or resource.job_walltime()
    return float(walltime_seconds(walltime)) if walltime else None
