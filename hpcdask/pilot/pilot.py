"""The pilot: keeps the slot book in step with the batch system, and claims slots for workers.

It requests an allocation only when the workers wanted do not fit in the running and pending
ones, never cancels a pending allocation because the target dipped, gives back allocations
idle longer than ``idle-timeout`` that no wanted worker needs, and names the workers whose
allocation's walltime is about to end so the cluster can retire them in time.

Allocations that end within the *horizon* (the walltime margin plus the longest queue wait seen,
at least :data:`LEAD`) do not count as capacity, so the replacement of an ending allocation is
requested early enough to run when its workers retire. Job states keep walltime expiry
(TIMEOUT) apart from failure (FAILED).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from hpcdask.backends.base import Placement
from hpcdask.errors import HpcdaskError
from hpcdask.jobs import JobState
from hpcdask.pilot.allocation import Allocations, AllocationStatus
from hpcdask.pilot.launcher import Launcher
from hpcdask.pilot.slots import AllocationSlots, Node, SlotBook

__all__ = ["LEAD", "Pilot", "PilotSettings"]

logger = logging.getLogger(__name__)

#: Seconds, at least, by which a replacement is requested before an allocation's margin begins.
LEAD = 10.0
#: How many ended allocations the pilot remembers, with how they ended.
REMEMBERED = 10
#: How allocations end without anything being wrong.
_QUIET_ENDS = frozenset({JobState.TIMEOUT, JobState.FINISHED, JobState.CANCELLED})


@dataclass(frozen=True)
class PilotSettings:
    """The ``allocation:`` block, in seconds and counts."""

    nodes: int = 1
    maximum: int = 1
    idle_timeout: float = 300.0
    margin: float = 120.0
    per_node: int = 1
    current: str | None = None  # the id of the allocation we run inside, never cancelled


@dataclass
class Pilot:
    """Allocations and slots for one cluster; ``wanted()`` is how many workers it wants."""

    allocations: Allocations
    launcher: Launcher
    book: SlotBook
    settings: PilotSettings
    wanted: Callable[[], int]
    nodes: dict[str, Node] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    ended: OrderedDict[str, JobState] = field(default_factory=OrderedDict)
    queue_wait: float = 0.0
    _submitted_at: dict[str, float] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _requesting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _polled: float = 0.0

    @property
    def horizon(self) -> float:
        """Seconds before its end from which an allocation no longer counts as capacity."""
        return self.settings.margin + max(LEAD, self.queue_wait)

    async def adopt_current(self, allocation: str) -> None:
        """Use the allocation this process already runs in (``allocation: current``)."""
        self.book.allocations[allocation] = AllocationSlots(allocation, size=0)
        await self.refresh(force=True)

    async def refresh(self, force: bool = False) -> None:
        """Poll the batch system (at most twice a second) and update the book."""
        async with self._lock:
            if not force and time.monotonic() - self._polled < 0.5:
                return
            statuses = await self.allocations.poll(list(self.book.allocations))
            self._polled = time.monotonic()
            for status in statuses.values():
                await self._update(status)

    async def _update(self, status: AllocationStatus) -> None:
        slots = self.book.allocations.get(status.id)
        if slots is None:
            return
        if status.state.ended:
            self._ended(status, slots)
            return
        if status.state is JobState.RUNNING and not slots.running:
            missing = [n for n in status.nodes if n not in self.nodes]
            for node in await self.allocations.describe(missing) if missing else []:
                self.nodes[node.name] = node
            slots.running = True
            slots.nodes = tuple(self.nodes[n] for n in status.nodes)
            await self.launcher.prepare(status.id, slots.nodes)
            slots.idle_since = time.time()
            if status.id in self._submitted_at:
                wait = time.time() - self._submitted_at.pop(status.id)
                self.queue_wait = max(self.queue_wait, wait)
        if status.time_left is not None:
            slots.ends_at = time.time() + status.time_left

    def _ended(self, status: AllocationStatus, slots: AllocationSlots) -> None:
        """Forget an allocation that ended and its workers; remember how it ended."""
        state = status.state
        if state is JobState.UNKNOWN and slots.time_left(time.time()) <= 0:
            state = JobState.TIMEOUT  # left the queue after its walltime ran out
        why = f": {status.reason}" if status.reason else ""
        level = logging.INFO if state in _QUIET_ENDS else logging.WARNING
        logger.log(level, "allocation %s ended (%s%s)", status.id, state.name, why)
        self._forget(status.id, state)

    def _forget(self, allocation: str, state: JobState) -> None:
        """Forget an allocation that ended or was given back: its slots, its workers' places,
        its node agents (stopped in the background: an srun may linger a while)."""
        self.launcher.forget(allocation)
        self.book.allocations.pop(allocation, None)
        self._submitted_at.pop(allocation, None)
        for worker in [w for w, (a, _) in self.book.placed.items() if a == allocation]:
            del self.book.placed[worker]
        self.ended[allocation] = state
        while len(self.ended) > REMEMBERED:
            self.ended.popitem(last=False)

    async def claim(self, worker: str) -> tuple[str, Node]:
        """Return a slot for ``worker``, requesting allocations while none is free.

        A free slot in the book is taken at once: the tick keeps the book within a second of
        the batch system, and a launch into an allocation that has just ended fails and claims
        again. The batch system is asked only when no slot is free."""
        while True:
            placed = self.book.place(worker, time.time(), self.settings.margin)
            if placed is None:
                await self.refresh()
                placed = self.book.place(worker, time.time(), self.settings.margin)
            if placed is not None:
                allocation, node = placed
                return allocation, self.nodes[node]
            await self._request()
            await asyncio.sleep(0.25)

    async def _request(self) -> None:
        """Request what the wanted workers still lack; one claim at a time decides."""
        async with self._requesting:
            await self._request_missing()

    async def _request_missing(self) -> None:
        s = self.settings
        if s.current:
            return  # the allocation we run inside is all there is
        count = self.book.allocations_to_request(
            self.wanted(), time.time(), self.horizon, s.per_node, s.nodes, s.maximum
        )
        for _ in range(count):
            allocation = await self.allocations.submit(s.nodes)
            logger.info("requested allocation %s of %d nodes", allocation, s.nodes)
            self.submitted.append(allocation)
            self._submitted_at[allocation] = time.time()
            self.book.allocations[allocation] = AllocationSlots(allocation, size=s.nodes)

    def release(self, worker: str) -> None:
        """The worker has stopped: its slot is free."""
        self.book.free(worker, time.time())

    async def tick(self) -> list[str]:
        """Refresh, give back allocations not needed, request replacements of ending ones in
        time; return the workers that must retire now."""
        await self.refresh(force=True)
        s = self.settings
        now = time.time()
        spare = self.book.to_give_back(
            now, self.wanted(), s.idle_timeout, s.margin, self.horizon, s.per_node
        )
        spare = [a for a in spare if a != s.current]
        if spare:
            logger.info("giving back allocations %s (idle or ending)", ", ".join(spare))
            await self.allocations.cancel(spare)
            for allocation in spare:
                self._forget(allocation, JobState.CANCELLED)
        try:
            await self._request()
        except HpcdaskError as error:  # retiring workers matters more; claims will raise it
            logger.warning("requesting an allocation: %s", error)
        return self.book.expiring(now, s.margin)

    def ends_at(self, worker: str) -> float:
        """Return when the allocation of ``worker`` ends (in a margin from now if unknown)."""
        allocation, _ = self.book.placed.get(worker, ("", ""))
        slots = self.book.allocations.get(allocation)
        ends = slots.ends_at if slots is not None else None
        return ends if ends is not None else time.time() + self.settings.margin

    async def close(self) -> None:
        """Give back every allocation this pilot requested."""
        ours = [a for a in self.book.allocations if a != self.settings.current]
        await self.launcher.close()
        await self.allocations.cancel(ours)
        self.book.allocations.clear()

    def _state(self, allocation: AllocationSlots, now: float) -> str:
        """``pending``, ``running``, or ``ending`` (its workers retire, none is placed there)."""
        if not allocation.running:
            return "pending"
        return "ending" if allocation.time_left(now) <= self.settings.margin else "running"

    def placements(self) -> tuple[Placement, ...]:
        """Return one dashboard placement per allocation, with the workers placed in it."""
        now = time.time()
        rows = []
        for a in self.book.allocations.values():
            workers = tuple(w for w, (alloc, _) in self.book.placed.items() if alloc == a.id)
            left = a.time_left(now)
            nodes = ",".join(n.name for n in a.nodes)
            note = f"{len(a.nodes)} nodes" if a.running else f"{a.size} nodes requested"
            rows.append(
                Placement(
                    a.id,
                    self._state(a, now),
                    nodes=nodes,
                    workers=workers,
                    walltime_left=None if math.isinf(left) else left,
                    note=note,
                )
            )
        return tuple(rows)

    def describe(self) -> list[dict[str, object]]:
        """Return one row per allocation held: ``id``, ``state`` (pending, running, ending),
        ``nodes`` (names, once running), ``size`` (nodes requested), ``walltime_left``
        (seconds, None if unknown) and ``workers`` (node name → workers placed there)."""
        now = time.time()
        rows: list[dict[str, object]] = []
        for a in self.book.allocations.values():
            workers: dict[str, int] = {}
            for alloc, node in self.book.placed.values():
                if alloc == a.id:
                    workers[node] = workers.get(node, 0) + 1
            left = a.time_left(now)
            rows.append(
                {
                    "id": a.id,
                    "state": self._state(a, now),
                    "nodes": [n.name for n in a.nodes],
                    "size": a.size or len(a.nodes),
                    "walltime_left": None if math.isinf(left) else int(left),
                    "workers": workers,
                }
            )
        return rows
