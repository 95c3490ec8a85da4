"""Batch-system resources (dask-jobqueue's keys) and the pilot ``allocation:`` block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from hpcdask._model import Model, Size, Walltime
from hpcdask.models.common import Resource, TextList, WorkerSpec

__all__ = [
    "AllocationSpec",
    "HTCondorResource",
    "JobqueueResource",
    "LSFResource",
    "MoabResource",
    "OARResource",
    "PBSResource",
    "SGEResource",
    "SlurmResource",
]

#: dask-jobqueue keys that describe the workers; they may stand at the top level.
_WORKER_KEYS = ("cores", "memory", "processes", "nthreads", "python", "local_directory")


class AllocationSpec(Model):
    """Pilot mode: hold allocations of nodes and start workers inside them.

    ``allocation: current`` uses the allocation hpcdask runs inside (``SLURM_JOB_ID``).
    """

    current: bool = False
    nodes: Annotated[int, Field(ge=1)] = 1
    maximum: Annotated[int, Field(ge=1)] = 1
    walltime: Walltime | None = None
    idle_timeout: str = "5m"
    walltime_margin: str = "2m"

    @model_validator(mode="before")
    @classmethod
    def _current(cls, data: Any) -> Any:
        if data == "current":
            return {"current": True}
        if isinstance(data, str):
            raise ValueError(f"expected 'current' or a mapping of keys, got {data!r}")
        return data


class JobqueueResource(Resource):
    """Keys every batch system shares; each type adds its own few."""

    queue: str | None = None
    account: str | None = None
    walltime: Walltime | None = None
    job_name: str = "hpcdask-worker"
    job_extra_directives: TextList = ()
    job_directives_skip: TextList = ()
    job_script_prologue: TextList = ()
    worker_extra_args: TextList = ()
    interface: str | None = None
    scheduler_interface: str | None = None
    log_directory: str | None = None
    shebang: str = "#!/usr/bin/env bash"
    death_timeout: Annotated[float, Field(gt=0)] = 60.0
    walltime_margin: str = "2m"
    allocation: AllocationSpec | None = None

    @classmethod
    def _prepare(cls, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """Move dask-jobqueue's top-level worker keys (``cores: 8``) into ``worker:``."""
        data = dict(raw)
        worker = data.get("worker") or {}
        if not isinstance(worker, Mapping):
            return data
        worker = dict(worker)
        spelled = {str(k).replace("-", "_"): k for k in worker}
        for key in [k for k in data if str(k).replace("-", "_") in _WORKER_KEYS]:
            norm = str(key).replace("-", "_")
            if norm in spelled:
                raise ValueError(f"{key}: given both at the top level and in worker:")
            worker[key] = data.pop(key)
        if worker:
            data["worker"] = worker
        return data


class SlurmResource(JobqueueResource):
    """Slurm (sbatch, squeue, scancel)."""

    type: Literal["slurm"] = "slurm"
    job_cpu: Annotated[int, Field(ge=1)] | None = None
    job_mem: Size | None = None


class PBSResource(JobqueueResource):
    """PBS Pro and Torque (qsub, qstat, qdel)."""

    type: Literal["pbs"] = "pbs"
    resource_spec: str | None = None


class MoabResource(PBSResource):
    """Moab (msub over a PBS-like system)."""

    type: Literal["moab"] = "moab"  # type: ignore[assignment]


class SGEResource(JobqueueResource):
    """Grid Engine (qsub, qstat, qdel)."""

    type: Literal["sge"] = "sge"
    resource_spec: str | None = None


class LSFResource(JobqueueResource):
    """IBM Spectrum LSF (bsub, bjobs, bkill)."""

    type: Literal["lsf"] = "lsf"
    ncpus: Annotated[int, Field(ge=1)] | None = None
    mem: Size | None = None
    use_stdin: bool = True
    lsf_units: str | None = None


class HTCondorResource(JobqueueResource):
    """HTCondor (condor_submit, condor_q, condor_rm)."""

    type: Literal["htcondor"] = "htcondor"
    disk: Size | None = None


class OARResource(JobqueueResource):
    """OAR (oarsub, oarstat, oardel)."""

    type: Literal["oar"] = "oar"
    resource_spec: str | None = None
    memory_per_core_property_name: str | None = None


WorkerSpec.model_rebuild()
