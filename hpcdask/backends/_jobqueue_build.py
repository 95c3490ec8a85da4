"""The seven batch cluster classes, and building one from a validated resource."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from hpcdask._model import walltime_seconds
from hpcdask.backends._jobqueue_args import (
    cluster_kwargs,
    lifetime,
    quiet_import,
    require_startable,
)
from hpcdask.backends._jobqueue_cluster import BatchCluster
from hpcdask.backends._jobqueue_jobs import JOB_CLASSES
from hpcdask.errors import UnsupportedTypeError
from hpcdask.models.batch import duration_seconds

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.backends._jobbook import JobBook
    from hpcdask.models import JobqueueResource

__all__ = ["CLUSTER_CLASSES", "build_cluster", "handover_after"]

quiet_import()  # before dask_jobqueue's modules: its first import writes into ~/.config/dask
_jq: Any = importlib.import_module("dask_jobqueue")


class SlurmBatchCluster(BatchCluster, _jq.SLURMCluster):  # type: ignore[misc]
    """Dask workers in Slurm jobs."""

    job_cls = JOB_CLASSES["slurm"]


class PBSBatchCluster(BatchCluster, _jq.PBSCluster):  # type: ignore[misc]
    """Dask workers in PBS jobs."""

    job_cls = JOB_CLASSES["pbs"]


class MoabBatchCluster(BatchCluster, _jq.MoabCluster):  # type: ignore[misc]
    """Dask workers in Moab jobs."""

    job_cls = JOB_CLASSES["moab"]


class SGEBatchCluster(BatchCluster, _jq.SGECluster):  # type: ignore[misc]
    """Dask workers in Grid Engine jobs."""

    job_cls = JOB_CLASSES["sge"]


class LSFBatchCluster(BatchCluster, _jq.LSFCluster):  # type: ignore[misc]
    """Dask workers in LSF jobs."""

    job_cls = JOB_CLASSES["lsf"]


class HTCondorBatchCluster(BatchCluster, _jq.HTCondorCluster):  # type: ignore[misc]
    """Dask workers in HTCondor jobs."""

    job_cls = JOB_CLASSES["htcondor"]


class OARBatchCluster(BatchCluster, _jq.OARCluster):  # type: ignore[misc]
    """Dask workers in OAR jobs."""

    job_cls = JOB_CLASSES["oar"]


#: Resource type → cluster class.
CLUSTER_CLASSES: dict[str, type[BatchCluster]] = {
    "slurm": SlurmBatchCluster,
    "pbs": PBSBatchCluster,
    "moab": MoabBatchCluster,
    "sge": SGEBatchCluster,
    "lsf": LSFBatchCluster,
    "htcondor": HTCondorBatchCluster,
    "oar": OARBatchCluster,
}


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
    return CLUSTER_CLASSES[resource.type](
        book=book,
        poll_interval=duration_seconds(resource.poll_interval),
        replace_grace=resource.death_timeout,
        handover_after=handover_after(lifetime(resource), margin),
        job_seconds=walltime_seconds(resource.walltime) if resource.walltime else None,
        **cluster_kwargs(resource, security),
    )
