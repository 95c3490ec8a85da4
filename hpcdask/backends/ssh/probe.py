"""Reach every host of a resource at once, run one command on each, within a time bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hpcdask._sync import run_sync
from hpcdask.backends.ssh.connect import Connections, HostError
from hpcdask.backends.ssh.plan import HostPlan

__all__ = ["Reached", "probe", "start_check"]


@dataclass(frozen=True)
class Reached:
    """What a host answered: its address as seen from here and the command's output."""

    address: str
    output: str


def start_check(plan: HostPlan) -> str | None:
    """Return the command run before starting workers, or None when connecting is enough.

    Only a host whose threads per worker must come from its CPU count is asked for it.

    Examples
    --------
    >>> start_check(HostPlan(host="a", slots=2)), start_check(HostPlan(host="a", slots=1))
    ('nproc', None)
    """
    unknown = plan.nthreads is None and plan.cores is None
    return "nproc" if unknown and plan.slots > 1 else None


async def _one(
    plan: HostPlan, command: str | None, connections: Connections, timeout: float
) -> Reached:
    connection = await connections.get(plan)
    address = str(connection.get_extra_info("peername")[0])
    if command is None:
        connections.release(plan.host)
        return Reached(address, "")
    try:
        result = await asyncio.wait_for(connection.run(command), timeout)
    except asyncio.TimeoutError:
        raise HostError(plan.host, f"'{command}' gave no answer within {timeout:g}s") from None
    finally:
        connections.release(plan.host)
    if result.exit_status != 0:
        error = str(result.stderr or result.stdout or "").strip().splitlines()
        raise HostError(plan.host, error[-1] if error else f"exit status {result.exit_status}")
    return Reached(address, str(result.stdout))


async def _all(
    plans: Mapping[str, HostPlan], command: Callable[[HostPlan], str | None], timeout: float
) -> tuple[dict[str, Reached], dict[str, str]]:
    connections = Connections()
    hosts = list(plans)
    results = await asyncio.gather(
        *(_one(plans[h], command(plans[h]), connections, timeout) for h in hosts),
        return_exceptions=True,
    )
    reached: dict[str, Reached] = {}
    failed: dict[str, str] = {}
    for host, result in zip(hosts, results, strict=True):
        if isinstance(result, HostError):
            failed[host] = result.reason
        elif isinstance(result, BaseException):
            raise result
        else:
            reached[host] = result
    return reached, failed


def probe(
    plans: Mapping[str, HostPlan],
    command: Callable[[HostPlan], str | None],
    timeout: float = 30.0,
) -> tuple[dict[str, Reached], dict[str, str]]:
    """Connect to every host in parallel and run ``command(plan)`` where it is not None.

    Returns the hosts that answered (with their output) and the reason for each that did not.
    """
    return run_sync(lambda: _all(plans, command, timeout))
