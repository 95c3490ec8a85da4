"""SSH connections to a resource's hosts: one per host, shared by its workers, clear errors."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import asyncssh

from hpcdask.backends.ssh.plan import HostPlan
from hpcdask.errors import HpcdaskError

__all__ = ["Connections", "HostError", "connect_options", "describe"]

#: Seconds between SSH keepalives, and how many may go unanswered before a host counts as lost.
KEEPALIVE = (5, 3)


class HostError(HpcdaskError):
    """A host could not be reached, logged into, or used; the message names the host."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"host {host}: {reason}")
        self.host = host
        self.reason = reason


def connect_options(plan: HostPlan) -> dict[str, Any]:
    """Return the keyword arguments of ``asyncssh.connect`` for ``plan``.

    Keys the resource leaves out are not passed, so ``~/.ssh/config`` and the agent decide.
    """
    options: dict[str, Any] = {
        "connect_timeout": plan.connect_timeout,
        "keepalive_interval": KEEPALIVE[0],
        "keepalive_count_max": KEEPALIVE[1],
    }
    if plan.port:
        options["port"] = plan.port
    if plan.user:
        options["username"] = plan.user
    if plan.identity:
        options["client_keys"] = [os.path.expanduser(plan.identity)]
    if plan.known_hosts == "ignore":
        options["known_hosts"] = None
    elif plan.known_hosts:
        options["known_hosts"] = os.path.expanduser(plan.known_hosts)
    return options


def describe(error: BaseException, plan: HostPlan) -> str:
    """Return why connecting to ``plan.host`` failed, in words a user can act on."""
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {plan.connect_timeout:g}s (host down or unreachable?)"
    if isinstance(error, asyncssh.PermissionDenied):
        who = f" as {plan.user}" if plan.user else ""
        return f"login refused{who}: no accepted key (check identity, the agent, authorized_keys)"
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return f"host key not verifiable ({error.reason}): add it to known_hosts"
    if isinstance(error, asyncssh.DisconnectError):
        return f"disconnected: {error.reason}"
    if isinstance(error, OSError):
        return os.strerror(error.errno) if error.errno else str(error)
    return str(error) or type(error).__name__


class Connections:
    """Open SSH connections by host, opened on first use and closed with their last user."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[asyncssh.SSHClientConnection]] = {}
        self._users: Counter[str] = Counter()

    async def _open(self, plan: HostPlan) -> asyncssh.SSHClientConnection:
        try:
            return await asyncio.wait_for(
                asyncssh.connect(plan.host, **connect_options(plan)), plan.connect_timeout + 1
            )
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
            raise HostError(plan.host, describe(error, plan)) from None

    async def get(self, plan: HostPlan) -> asyncssh.SSHClientConnection:
        """Return the open connection to ``plan.host``, opening it if needed; count a user."""
        future = self._pending.get(plan.host)
        usable = future is not None and not (
            future.done() and (future.exception() or future.result().is_closed())
        )
        if not usable:
            future = asyncio.ensure_future(self._open(plan))
            self._pending[plan.host] = future
        assert future is not None
        try:
            connection = await asyncio.shield(future)
        except HostError:
            if self._pending.get(plan.host) is future:
                del self._pending[plan.host]
            raise
        self._users[plan.host] += 1
        return connection

    def release(self, host: str) -> None:
        """Count one user of ``host`` fewer; close its connection when none is left."""
        self._users[host] -= 1
        if self._users[host] <= 0:
            self._users.pop(host, None)
            future = self._pending.pop(host, None)
            if future is not None and future.done() and not future.exception():
                future.result().close()

    def close_all(self) -> None:
        """Close every connection."""
        for host in list(self._pending):
            self._users[host] = 0
            self.release(host)
