"""The ``login:`` block: reach a batch system through an SSH login node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, model_validator

from hpcdask._model import Model
from hpcdask.models.common import Resource, Text, TextList

__all__ = ["LoginSpec", "login_of"]

Port = Annotated[int, Field(ge=1, le=65535)]


class LoginSpec(Model):
    """Where the cluster's controller runs: an SSH login node with hpcdask installed.

    ``login: alice@login.hpc.example.org`` (optionally ``:port``) is short for ``host``, ``user``
    and ``port``. ``python`` is the login node's Python that has hpcdask (the same version as
    here); ``setup`` lines run before it (``module load python``, ``source venv/bin/activate``)
    and ``env`` is set for it. ``dashboard-port`` fixes the port of the dashboard on this
    machine (default: any free port). Keys left out come from ``~/.ssh/config`` and the agent.

    Examples
    --------
    >>> LoginSpec.model_validate("alice@login.example.org:2222").port
    2222
    """

    host: str
    user: str | None = None
    port: Port | None = None
    identity: str | None = None
    known_hosts: str | None = None
    python: str = "python3"
    setup: TextList = ()
    env: Mapping[str, Text] = Field(default_factory=dict)
    dashboard_port: Port | None = None
    connect_timeout: Annotated[float, Field(gt=0)] = 10.0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        user, _, rest = data.rpartition("@")
        host, colon, port = rest.partition(":")
        if not host or (colon and not port.isdigit()):
            raise ValueError(f"expected [user@]host[:port], got {data!r}")
        spec: dict[str, Any] = {"host": host}
        if user:
            spec["user"] = user
        if colon:
            spec["port"] = int(port)
        return spec

    def target(self) -> str:
        """Return ``user@host:port`` as far as it is known, for messages."""
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{who}{self.host}{port}"


def login_of(resource: Resource) -> LoginSpec | None:
    """Return the login node ``resource`` is reached through, or None (its cluster runs here).

    Examples
    --------
    >>> from hpcdask.models import LocalResource, SlurmResource
    >>> login_of(SlurmResource(name="c", login="alice@h")).host, login_of(LocalResource(name="l"))
    ('h', None)
    """
    login = getattr(resource, "login", None)
    return login if isinstance(login, LoginSpec) else None
