"""Retire the workers of an ending allocation gracefully, through the scheduler.

Walltime expiry is not a worker failure: workers leave before the batch system kills them, in
three steps bounded by shares of the walltime margin, with distributed's own machinery
(``Scheduler.retire_workers`` and the Active Memory Manager's ``RetireWorker`` policy):

1. *drain*, until half the margin is left: once other workers run to take their data, the
   workers get no new tasks (``closing_gracefully``), their data is copied away, and the tasks
   they are processing finish;
2. *retire*, until a quarter of the margin is left: data computed meanwhile is moved too, and
   the scheduler removes them as expected departures, so a task still processing is
   rescheduled, never counted towards ``KilledWorker``;
3. workers still there then (no worker took their data) are removed as expected departures
   anyway: their data is recomputed elsewhere, and no task is blamed for the walltime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Collection
from typing import Any

__all__ = ["DRAIN_SHARE", "RETIRE_SHARE", "retire"]

logger = logging.getLogger(__name__)

#: Share of the margin still left when draining stops and retirement begins.
DRAIN_SHARE = 0.5
#: Share of the margin still left when workers not retired yet are removed regardless.
RETIRE_SHARE = 0.25


async def retire(
    scheduler: Any, names: Collection[str], ends_at: float, margin: float, poll: float = 0.5
) -> set[str]:
    """Retire workers ``names`` before ``ends_at`` (epoch seconds), when their allocation ends.

    Parameters
    ----------
    scheduler
        An rpc to the scheduler (``cluster.scheduler_comm``).
    names
        The workers' names.
    ends_at
        When their allocation ends.
    margin
        The walltime margin in seconds: retirement began this long before ``ends_at``.
    poll
        Seconds between looks at the scheduler.

    Returns
    -------
    set of str
        The workers that had to be removed without their data moved (nobody could take it).
    """
    await _drain(scheduler, names, ends_at - margin * DRAIN_SHARE, poll)
    left = await _retire(scheduler, names, ends_at - margin * RETIRE_SHARE, poll)
    for address in left:
        await scheduler.unregister(
            address=address, expected=True, close=True, stimulus_id=_stimulus("walltime")
        )
    if left:
        logger.warning(
            "workers %s removed before their walltime without moving their data "
            "(no other worker to take it)",
            ", ".join(sorted(left.values())),
        )
    return set(left.values())


def _stimulus(step: str) -> str:
    return f"hpcdask-{step}-{time.time()}"


async def _connected(scheduler: Any, names: Collection[str]) -> tuple[dict[str, str], bool]:
    """Return address → name of the connected ones of ``names``, and whether another worker
    runs (one that can take their tasks and data)."""
    workers: dict[str, dict[str, Any]] = (await scheduler.identity())["workers"]
    ours = {a: str(w.get("name")) for a, w in workers.items() if str(w.get("name")) in names}
    others = any(w.get("status") == "running" for a, w in workers.items() if a not in ours)
    return ours, others


async def _until(work: Awaitable[dict[str, Any]], deadline: float) -> dict[str, Any]:
    """Await ``work`` until ``deadline``; an empty answer if it takes longer."""
    with contextlib.suppress(asyncio.TimeoutError):
        return await asyncio.wait_for(work, max(0.1, deadline - time.time()))
    return {}


async def _drain(scheduler: Any, names: Collection[str], until: float, poll: float) -> None:
    """Stop placing tasks on ``names`` and wait for those they process to finish."""
    draining: set[str] = set()
    while time.time() < until:
        ours, others = await _connected(scheduler, names)
        todo = [a for a in ours if a not in draining]
        if todo and others:
            flushed = scheduler.retire_workers(
                workers=todo, remove=False, close_workers=False, stimulus_id=_stimulus("drain")
            )
            draining.update(await _until(flushed, until))
        if set(ours) <= draining:
            processing: dict[str, list[Any]] = await scheduler.processing()
            if not any(processing.get(a) for a in ours):
                return
        await asyncio.sleep(poll)


async def _retire(
    scheduler: Any, names: Collection[str], until: float, poll: float
) -> dict[str, str]:
    """Move the data of ``names`` away and remove them; return address → name of those left."""
    while True:
        ours, others = await _connected(scheduler, names)
        if not ours or time.time() >= until:
            return ours
        if others:
            retired = scheduler.retire_workers(
                workers=list(ours), remove=True, close_workers=True, stimulus_id=_stimulus("retire")
            )
            if set(await _until(retired, until)) >= set(ours):
                continue
        await asyncio.sleep(poll)
