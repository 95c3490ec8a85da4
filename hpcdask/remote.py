"""Find running clusters by name and talk to their controllers.

A record whose controller does not answer is stale (the controller died): it is removed, and
the cluster counts as not running. :class:`hpcdask.attached.AttachedCluster` attaches to a
running cluster as a ``Cluster``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hpcdask import security, state
from hpcdask._process import is_keeper, pid_alive
from hpcdask._sync import run_sync
from hpcdask.errors import HpcdaskError
from hpcdask.state import Record

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["ControllerGone", "alive", "call", "credentials", "find_running", "pid_alive"]

#: Seconds a controller gets to answer one request.
TIMEOUT = 5.0


class ControllerGone(HpcdaskError):
    """The cluster's controller does not answer."""


def alive(record: Record) -> bool:
    """Return whether ``record``'s keeper still runs: its pid, and the same process."""
    return is_keeper(record.pid, record.pid_start)


def credentials(record: Record) -> Security:
    """Return the credentials that let this user talk to ``record``'s cluster."""
    found = security.load(record.name)
    if found is None:
        raise ControllerGone(
            f"cluster '{record.name}': its credentials are missing from {state.state_dir()}"
        )
    return found


async def _call(address: str, args: dict[str, Any], op: str, **kwargs: Any) -> Any:
    from distributed.core import rpc  # lazy: keeps hpcdask.api (load_resource) light

    async with rpc(address, timeout=TIMEOUT, connection_args=args) as controller:  # type: ignore[no-untyped-call]
        return await asyncio.wait_for(getattr(controller, f"hpcdask_{op}")(**kwargs), TIMEOUT)


def call(record: Record, op: str, *, security: Security | None = None, **kwargs: Any) -> Any:
    """Send request ``op`` to the controller of ``record`` and return its answer.

    ``security`` defaults to the credentials in this user's state folder.
    """
    if not alive(record):
        raise ControllerGone(f"cluster '{record.name}': its controller (pid {record.pid}) died")
    try:
        keys = security or credentials(record)
        args = keys.get_connection_args("client")  # type: ignore[no-untyped-call]
        return run_sync(lambda: _call(record.controller_address, args, op, **kwargs))
    except (OSError, asyncio.TimeoutError) as error:
        raise ControllerGone(
            f"cluster '{record.name}': its controller does not answer ({error or 'timeout'})"
        ) from None


def find_running(name: str) -> Record | None:
    """Return the record of the running cluster ``name``; clean up and None if it died."""
    record = state.read(name)
    if record is None:
        return None
    if alive(record):
        return record
    state.remove(name)
    return None
