"""Batch-system resources (dask-jobqueue's keys) and the pilot ``allocation:`` block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import Self

from hpcdask._model import Model, Size, Walltime, parse_size, parse_walltime, walltime_seconds
from hpcdask.models.common import Resource, TextList, WorkerSpec
from hpcdask.models.keys import COMMON, PROJECT, PROJECT_DEPRECATED, Alias, rename
from hpcdask.models.login import LoginSpec

__all__ = [
    "DEFAULT_WALLTIME",
    "AllocationSpec",
    "Duration",
    "HTCondorResource",
    "JobqueueResource",
    "LSFResource",
    "MoabResource",
    "NodeSSH",
    "OARResource",
    "PBSResource",
    "RetrySpec",
    "SGEResource",
    "SlurmResource",
]

#: The time limit of a worker job without ``walltime``: dask-jobqueue's (its jobqueue.yaml).
DEFAULT_WALLTIME = "00:30:00"


def duration_seconds(value: Any) -> float:
    """Return the seconds in a duration such as ``30s``, ``2m``, ``1.5h`` or a number.

    Examples
    --------
    >>> duration_seconds("2m")
    120.0
    """
    from dask.utils import parse_timedelta

    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value == "":
        raise ValueError(value)
    seconds = float(parse_timedelta(value, default="seconds"))
    if seconds < 0:
        raise ValueError(value)
    return seconds


def _duration(value: Any) -> Any:
    try:
        duration_seconds(value)
    except (ValueError, KeyError, TypeError, IndexError):
        raise PydanticCustomError(
            "duration",
            "{value} is not a duration (for example 30s, 2m or 1h)",
            {"value": repr(value)},
        ) from None
    return f"{value}s" if isinstance(value, (int, float)) else value


def _blank_is_unset(value: Any) -> Any:
    """Read ``queue: ""`` as no queue: an empty directive is refused by every batch system."""
    return None if isinstance(value, str) and not value.strip() else value


def _verbatim_size(value: Any) -> Any:
    """Check a size the batch system reads itself; keep it as written (``120GB``)."""
    parse_size(value)
    return str(value)


def _seconds_or_walltime(value: Any) -> Any:
    """Keep a walltime in seconds as written (``h_rt=3600``); check any other form."""
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return value.strip()
    return parse_walltime(value)


#: A duration such as ``30s`` or ``2m``, kept as written.
Duration = Annotated[str, BeforeValidator(_duration)]
#: A size handed to the batch system as written (Slurm's ``job-mem``).
VerbatimSize = Annotated[str, BeforeValidator(_verbatim_size)]
#: Grid Engine's ``h_rt``: a walltime, or whole seconds kept as written.
SecondsOrWalltime = Annotated[str, BeforeValidator(_seconds_or_walltime)]
#: A scalar value of an HTCondor submit command, written as given.
SubmitValue = str | bool | int | float
#: Text where an empty value means "not set" (so no bare ``#$ -l`` line is written).
Setting = Annotated[str | None, BeforeValidator(_blank_is_unset)]


class NodeSSH(Model):
    """How ``launcher: ssh`` logs into the nodes of an allocation. Keys left out come from
    ``~/.ssh/config`` and the agent (host-based login inside a cluster needs none);
    ``known-hosts: ignore`` skips host-key checks."""

    user: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    identity: str | None = None
    known_hosts: str | None = None


class AllocationSpec(Model):
    """Pilot mode: hold allocations of nodes and start workers inside them.

    ``allocation: current`` uses the allocation hpcdask runs inside (``SLURM_JOB_ID``).
    ``launcher`` is how the node agents start: as job steps (``srun``, the default) or over
    ``ssh`` (for sites that allow no overlapping job steps), with the ``ssh:`` settings.
    """

    current: bool = False
    nodes: Annotated[int, Field(ge=1)] = 1
    maximum: Annotated[int, Field(ge=1)] = 1
    walltime: Walltime | None = None
    idle_timeout: str = "5m"
    walltime_margin: str = "2m"
    launcher: Literal["srun", "ssh"] = "srun"
    ssh: NodeSSH | None = None

    @model_validator(mode="before")
    @classmethod
    def _current(cls, data: Any) -> Any:
        if data == "current":
            return {"current": True}
        if isinstance(data, str):
            raise ValueError(f"expected 'current' or a mapping of keys, got {data!r}")
        return data

    @model_validator(mode="after")
    def _ssh_needs_its_launcher(self) -> Self:
        if self.ssh is not None and self.launcher != "ssh":
            raise PydanticCustomError(
                "ssh_launcher", "ssh: settings are for launcher: ssh (the launcher is srun)"
            )
        return self


class RetrySpec(Model):
    """The ``retry:`` block: batch commands that failed transiently (a time-out, "Socket
    timed out", "unable to contact qmaster", …) are tried again after ``initial``, doubling
    up to ``maximum``, with jitter, until ``give-up`` has passed; refusals never are.
    Cancelling gives up after ``cancel-give-up``, so that closing a cluster never hangs.

    Examples
    --------
    >>> RetrySpec(give_up="5m").seconds()
    (1.0, 60.0, 300.0, 60.0)
    """

    initial: Duration = "1s"
    maximum: Duration = "60s"
    give_up: Duration = "10m"
    cancel_give_up: Duration = "1m"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        initial, maximum, _, _ = self.seconds()
        if not 0 < initial <= maximum:
            raise ValueError("initial: must be more than zero and at most maximum")
        return self

    def seconds(self) -> tuple[float, float, float, float]:
        """Return (initial, maximum, give-up, cancel-give-up) in seconds."""
        return (duration_seconds(self.initial), duration_seconds(self.maximum),
                duration_seconds(self.give_up), duration_seconds(self.cancel_give_up))  # fmt: skip


class JobqueueResource(Resource):
    """Keys every batch system shares; each type adds its own few."""

    # Slurm, PBS and Moab: dask-jobqueue renamed their ``project`` to ``account``.
    aliases: ClassVar[tuple[Alias, ...]] = (*COMMON, PROJECT_DEPRECATED)
    worker_keys_on_top: ClassVar[bool] = True

    queue: Setting = None
    account: Setting = None
    walltime: Walltime | None = None
    job_name: str = "hpcdask-worker"
    worker_command: str = "distributed.cli.dask_worker"
    scheduler_options: Mapping[str, Any] = Field(default_factory=dict)
    job_extra_directives: TextList = ()
    job_directives_skip: TextList = ()
    job_script_prologue: TextList = ()
    worker_extra_args: TextList = ()
    interface: Setting = None
    scheduler_interface: Setting = None
    scheduler_host: Setting = None
    log_directory: Setting = None
    shared_temp_directory: Setting = None
    shebang: str = "#!/usr/bin/env bash"
    death_timeout: Annotated[int | float, Field(gt=0)] = 60
    walltime_margin: Duration = "2m"
    poll_interval: Duration = "5s"
    retry: RetrySpec = Field(default_factory=RetrySpec)
    allocation: AllocationSpec | None = None
    login: LoginSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.scheduler_host and self.scheduler_interface:
            raise ValueError("give either scheduler-host or scheduler-interface, not both")
        if duration_seconds(self.poll_interval) <= 0:
            raise ValueError("poll-interval: must be more than zero")
        margin = duration_seconds(self.walltime_margin)
        if self.walltime and margin >= walltime_seconds(self.walltime):
            raise ValueError(
                f"walltime-margin: {self.walltime_margin} leaves no time to work in a "
                f"walltime of {self.walltime}"
            )
        return self

    def job_walltime(self) -> str | None:
        """Return the time limit of one worker job: ``walltime`` or dask-jobqueue's default."""
        return self.walltime or DEFAULT_WALLTIME

    @classmethod
    def _prepare(cls, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """Read dask-jobqueue's spellings (see :mod:`hpcdask.models.keys`) as hpcdask's keys.

        ``name`` is the resource's name here (set by hpcdask): :mod:`hpcdask.resource` has
        read a config's ``name`` (dask-jobqueue's job name) as ``job-name`` already.
        """
        own = {key: raw[key] for key in ("name", "origin") if key in raw}
        rest = {key: value for key, value in raw.items() if key not in own}
        data, _, _ = rename(cls, rest, {})
        return {**own, **data}


class SlurmResource(JobqueueResource):
    """Slurm (sbatch, squeue, scancel)."""

    type: Literal["slurm"] = "slurm"
    job_cpu: Annotated[int, Field(ge=1)] | None = None
    job_mem: VerbatimSize | None = None


class PBSResource(JobqueueResource):
    """PBS Pro and Torque (qsub, qstat, qdel)."""

    type: Literal["pbs"] = "pbs"
    resource_spec: Setting = None

    @model_validator(mode="after")
    def _gpus_in_spec(self) -> Self:
        _check_gpus_in_spec(self, "ngpus=N for PBS Pro, gpus=N for Torque")
        return self


class MoabResource(PBSResource):
    """Moab (msub over a PBS-like system)."""

    type: Literal["moab"] = "moab"  # type: ignore[assignment]


class SGEResource(JobqueueResource):
    """Grid Engine (qsub, qstat, qdel)."""

    aliases: ClassVar[tuple[Alias, ...]] = (*COMMON, PROJECT)  # its -P / --project

    type: Literal["sge"] = "sge"
    resource_spec: Setting = None
    walltime: SecondsOrWalltime | None = None


class LSFResource(JobqueueResource):
    """IBM Spectrum LSF (bsub, bjobs, bkill)."""

    aliases: ClassVar[tuple[Alias, ...]] = (*COMMON, PROJECT)  # its -P / --project

    type: Literal["lsf"] = "lsf"
    ncpus: Annotated[int, Field(ge=1)] | None = None
    mem: Size | None = None
    use_stdin: bool = True
    lsf_units: Setting = None


class HTCondorResource(JobqueueResource):
    """HTCondor (condor_submit, condor_q, condor_rm)."""

    aliases: ClassVar[tuple[Alias, ...]] = COMMON

    type: Literal["htcondor"] = "htcondor"
    disk: Size | None = None
    shebang: str = "#!/usr/bin/env condor_submit"
    #: dask-jobqueue's mapping of submit commands, or hpcdask's list of ``key = value`` lines.
    job_extra_directives: TextList | Mapping[str, SubmitValue] = ()  # type: ignore[assignment]
    submit_command_extra: TextList = ()
    cancel_command_extra: TextList = ()

    def job_walltime(self) -> str | None:
        """HTCondor jobs have no time limit (the walltime only retires workers)."""
        return None

    @model_validator(mode="after")
    def _condor_keys(self) -> Self:
        for key in ("queue", "account"):
            if getattr(self, key):
                raise ValueError(
                    f"{key}: HTCondor has no {key}s; use job-extra-directives "
                    "(e.g. 'accounting_group = name') instead"
                )
        if isinstance(self.job_extra_directives, Mapping):
            return self._skipped_keys()
        for line in self.job_extra_directives:
            if "=" not in line:
                raise ValueError(
                    f"job-extra-directives: {line!r} is not a submit command ('key = value')"
                )
        return self._skipped_keys()

    def _skipped_keys(self) -> Self:
        known = _CONDOR_KEYS + (_CONDOR_LOG_KEYS if self.log_directory else ())
        for key in self.job_directives_skip:
            if key not in known:
                raise ValueError(
                    f"job-directives-skip: {key!r} is not a submit command hpcdask writes; "
                    f"one of {', '.join(known)}"
                )
        return self


#: The submit commands dask-jobqueue writes for HTCondor (job-directives-skip names them).
_CONDOR_KEYS = (
    "MY.DaskWorkerName", "batch_name", "RequestCpus", "RequestMemory", "RequestDisk", "MY.JobId",
    "MY.DaskWorkerCores", "MY.DaskWorkerMemory", "MY.DaskWorkerDisk",
)  # fmt: skip
_CONDOR_LOG_KEYS = ("LogDirectory", "Output", "Error", "Log", "Stream_Output", "Stream_Error")


class OARResource(JobqueueResource):
    """OAR (oarsub, oarstat, oardel)."""

    aliases: ClassVar[tuple[Alias, ...]] = (*COMMON, PROJECT)  # its -P / --project

    type: Literal["oar"] = "oar"
    resource_spec: Setting = None
    memory_per_core_property_name: Setting = None

    @model_validator(mode="after")
    def _gpus_in_spec(self) -> Self:
        _check_gpus_in_spec(self, "/nodes=1/gpu=N")
        return self


def _check_gpus_in_spec(resource: PBSResource | OARResource, example: str) -> None:
    """With their own resource-spec, users request GPUs in it: hpcdask cannot edit it."""
    spec = resource.resource_spec
    if resource.worker.gpus and spec and "gpu" not in spec:
        raise ValueError(
            f"worker.gpus: with your own resource-spec, request the GPUs in it ({example})"
        )


WorkerSpec.model_rebuild()
