"""What hpcdask verifies about a login node: before starting a cluster, and for ``check``.

The login, port forwarding and the login node's hpcdask are checked from here; the batch
system is checked *on* the login node by the agent, with the same checks as a resource there.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Any

from hpcdask._sync import run_sync
from hpcdask.backends.base import Check, Status
from hpcdask.login.session import (
    LoginError,
    check_versions,
    login_node,
    open_login,
    probe_forwarding,
    remote_info,
    run_agent,
)
from hpcdask.login.tunnel import remote_resource

if TYPE_CHECKING:
    from hpcdask.models import LoginSpec, Resource

__all__ = ["login_checks", "preflight"]


def preflight(resource: Resource) -> list[str]:
    """Check the login node before relying on it; return version warnings.

    Raises
    ------
    hpcdask.login.session.LoginError
        When the login is refused, ports cannot be forwarded, or hpcdask is missing there or
        a different version.
    """
    login = login_node(resource)
    if login.dashboard_port:
        _port_free(login)

    async def work() -> list[str]:
        async with await open_login(login) as connection:
            await probe_forwarding(connection, login)
            info = await remote_info(connection, login, [])
        return check_versions(login, info)

    return run_sync(work)


def _port_free(login: LoginSpec) -> None:
    """Raise :class:`LoginError` if ``login.dashboard-port`` is taken on this machine."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", login.dashboard_port or 0))
        except OSError as error:
            raise LoginError(
                login, f"dashboard-port {login.dashboard_port} is in use on this machine "
                f"({error.strerror}): choose another or leave it out"
            ) from None  # fmt: skip


async def _checks(resource: Resource) -> list[Check]:
    login = login_node(resource)
    found = [Check("login", Status.OK, login.target())]
    async with await open_login(login) as connection:
        forwarding, info = await asyncio.gather(
            probe_forwarding(connection, login), remote_info(connection, login, []),
            return_exceptions=True,
        )  # fmt: skip
        found.append(_outcome("port forwarding", forwarding, "allowed"))
        if isinstance(info, BaseException):
            return [*found, _outcome("hpcdask there", info, "")]
        warnings = check_versions(login, info)
        found.append(Check("hpcdask there", Status.OK, f"{info['hpcdask']} ({info['executable']})"))
        found.append(_versions(warnings, info))
        request = json.dumps(remote_resource(resource))
        answer = await run_agent(connection, login, "check", stdin=request + "\n")
    there = [Check(f"{c['name']} (login node)", Status(c["status"]), c["detail"]) for c in
             answer["checks"]]  # fmt: skip
    return [*found, *there]


def _outcome(name: str, outcome: Any, detail: str) -> Check:
    if isinstance(outcome, LoginError):
        return Check(name, Status.FAILED, outcome.reason)
    if isinstance(outcome, BaseException):
        raise outcome
    return Check(name, Status.OK, detail)


def _versions(warnings: list[str], info: dict[str, Any]) -> Check:
    if warnings:
        return Check("versions", Status.WARNING, "; ".join(warnings))
    detail = f"python {info['python']}, dask {info['dask']}, distributed {info['distributed']}"
    return Check("versions", Status.OK, detail)


def login_checks(resource: Resource) -> list[Check]:
    """Return ``hpcdask check``'s rows for a resource behind a login node."""
    try:
        return run_sync(lambda: _checks(resource))
    except LoginError as error:
        return [Check("login", Status.FAILED, error.reason)]
