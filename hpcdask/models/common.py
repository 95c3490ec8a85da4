"""Keys shared by every resource type: the worker block, scaling, dask config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import Self

from hpcdask._model import Model, Size
from hpcdask.daskconfig import dotted
from hpcdask.models.keys import Alias

__all__ = ["LocalResource", "Resource", "Scaling", "Text", "TextList", "WorkerSpec"]


def _text(value: Any) -> Any:
    """Accept numbers where text is expected (``OMP_NUM_THREADS: 1``)."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _text_list(value: Any) -> Any:
    """Accept one command where a list of commands is expected, and YAML's set notation
    (``{-C geyser}``, a mapping of keys to nothing), read as dask-jobqueue reads it: its keys."""
    if isinstance(value, Mapping) and value and all(v is None for v in value.values()):
        return list(value)
    return [value] if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_text)]
TextList = Annotated[tuple[str, ...], BeforeValidator(_text_list)]
Count = Annotated[int, Field(ge=1)]


class WorkerSpec(Model):
    """What one batch job (or one host's share) gives Dask workers.

    As in dask-jobqueue, ``cores`` and ``memory`` are shared by ``processes`` worker processes.
    """

    cores: Count | None = None
    memory: Size | None = None
    processes: Count | None = None
    nthreads: Count | None = None
    python: str | None = None
    env: Mapping[str, Text] = Field(default_factory=dict)
    nice: Annotated[int, Field(ge=-20, le=19)] | None = None
    gpus: Annotated[int, Field(ge=0)] = 0
    local_directory: str | None = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.cores and self.processes and self.processes > self.cores:
            raise ValueError(
                f"processes: {self.processes} worker processes cannot share {self.cores} cores"
            )
        return self

    def threads_per_process(self) -> int | None:
        """Return the threads of each worker process, when it can be known from the keys."""
        if self.nthreads:
            return self.nthreads
        if self.cores:
            return max(1, self.cores // (self.processes or 1))
        return None

    def memory_per_process(self) -> int | None:
        """Return the memory limit of each worker process in bytes, if memory is set."""
        return self.memory // (self.processes or 1) if self.memory else None


class Scaling(Model):
    """A fixed number of workers (``scaling: 4``) or adaptive bounds (minimum, maximum)."""

    workers: Annotated[int, Field(ge=0)] | None = None
    minimum: Annotated[int, Field(ge=0)] | None = None
    maximum: Count | None = None
    interval: str = "1s"
    wait_count: Count = 3
    target_duration: str = "5s"

    @model_validator(mode="before")
    @classmethod
    def _from_count(cls, data: Any) -> Any:
        if isinstance(data, int) and not isinstance(data, bool):
            return {"workers": data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.workers is not None and (self.minimum is not None or self.maximum is not None):
            raise ValueError("give either workers (a fixed count) or minimum/maximum, not both")
        if self.minimum is not None and self.maximum is None:
            raise ValueError("minimum needs a maximum for adaptive scaling")
        if self.maximum is not None and (self.minimum or 0) > self.maximum:
            raise ValueError(f"minimum ({self.minimum}) is more than maximum ({self.maximum})")
        return self

    @property
    def adaptive(self) -> bool:
        """Whether the number of workers follows the workload."""
        return self.maximum is not None


def _no_null_sections(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Refuse ``null`` where Dask has a whole section: it would replace the section.

    ``null`` for a single setting is kept (``distributed.comm.compression: null``).
    """
    nulls = [key for key, value in dotted(config).items() if value is None]
    if not nulls:
        return config
    import dask.config  # lazy: only to check a null, and with distributed's config sections
    import distributed  # noqa: F401

    for key in nulls:
        if isinstance(dask.config.get(key, default=None), Mapping):
            raise PydanticCustomError(
                "dask_section",
                "null would remove this whole section of Dask's config; set the keys in it",
                {"key": key},
            )
    return config


#: The ``dask:`` block: ordinary Dask config, nested or dotted.
DaskConfig = Annotated[Mapping[str, Any], AfterValidator(_no_null_sections)]


class Resource(Model):
    """Keys every resource has. ``name`` and ``origin`` are set by hpcdask, not by users."""

    #: dask-jobqueue's spellings of this type's keys, read as hpcdask's (see
    #: :mod:`hpcdask.models.keys`).
    aliases: ClassVar[tuple[Alias, ...]] = ()
    #: Whether dask-jobqueue's top-level worker keys (``cores: 8``) are read as ``worker:``'s.
    worker_keys_on_top: ClassVar[bool] = False

    name: str
    origin: str = ""
    type: str
    description: str = ""
    worker: WorkerSpec = Field(default_factory=WorkerSpec)
    scaling: Scaling = Field(default_factory=Scaling)
    dask: DaskConfig = Field(default_factory=dict)
    dashboard_address: str = "127.0.0.1:8787"
    tls: bool | None = None


class LocalResource(Resource):
    """Workers on this machine (distributed's LocalCluster)."""

    type: Literal["local"] = "local"

    @model_validator(mode="after")
    def _own_python(self) -> Self:
        if self.worker.python:
            raise ValueError("worker.python: local workers run with this Python; remove the key")
        return self
