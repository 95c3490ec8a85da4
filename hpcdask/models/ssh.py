"""The ``ssh`` resource: Dask workers on a list of machines reachable by SSH."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from hpcdask._model import Model, Size
from hpcdask.models.common import Resource, Text, TextList

__all__ = ["HostSpec", "SSHResource"]


class HostSpec(Model):
    """Per-host settings; anything left out comes from the resource's own keys."""

    workers: Annotated[int, Field(ge=1)] = 1
    user: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    identity: str | None = None
    python: str | None = None
    env: Mapping[str, Text] = Field(default_factory=dict)
    prologue: TextList = ()
    nice: Annotated[int, Field(ge=-20, le=19)] | None = None
    cores: Annotated[int, Field(ge=1)] | None = None
    memory: Size | None = None
    local_directory: str | None = None


class SSHResource(Resource):
    """Workers started over SSH on a lab's machines.

    ``hosts`` is a list (a host named twice runs two worker processes) or a mapping of host
    names to :class:`HostSpec` overrides. ``user``, ``port`` and ``identity`` left out come from
    ``~/.ssh/config`` and the SSH agent. ``known-hosts`` is a file, or ``ignore`` to skip host
    key checks (for throwaway test hosts only). Each worker process gets ``worker.cores``
    threads (``worker.nthreads`` if set) and ``worker.memory``; a host's ``cores`` and
    ``memory`` cap what its workers share.
    """

    type: Literal["ssh"] = "ssh"
    hosts: Mapping[str, HostSpec]
    user: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    identity: str | None = None
    known_hosts: str | None = None
    prologue: TextList = ()
    scheduler: str = "local"
    interface: str | None = None
    scheduler_address: str | None = None
    connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    start_timeout: Annotated[float, Field(gt=0)] = 60.0
    death_timeout: Annotated[float, Field(gt=0)] = 60.0
    on_host_failure: Literal["fail", "skip"] = "fail"

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            if not all(isinstance(host, str) and host for host in value):
                raise ValueError(f"expected host names, got {value!r}")
            value = {host: {"workers": n} for host, n in Counter(value).items()}
        if isinstance(value, Mapping):
            if not value:
                raise ValueError("must name at least one host")
            return {str(host): spec if spec is not None else {} for host, spec in value.items()}
        return value

    @model_validator(mode="after")
    def _no_processes(self) -> Self:
        if self.worker.processes and self.worker.processes > 1:
            raise ValueError(
                "worker.processes: ssh workers are one process each; list a host again or "
                "give it `workers: N` under hosts: to run more on it"
            )
        return self
