"""The pilot: keeps the slot book in step with the batch system, and claims slots for workers.

It requests an allocation only when the workers wanted do not fit in the running and pending
ones, never cancels a pending allocation because the target dipped, gives back allocations
idle longer than ``idle-timeout``, and names the workers whose allocation's walltime is about
to end so the cluster can retire them in time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hpcdask.backends.base import Placement
from hpcdask.jobs import JobState
from hpcdask.pilot.allocation import Allocations, AllocationStatus
from hpcdask.pilot.launcher import Launcher
from hpcdask.pilot.slots import AllocationSlots, Node, SlotBook

__all__ = ["Pilot", "PilotSettings"]

logger = logging.getLogger(__name__)


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
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _requesting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _polled: float = 0.0

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
            logger.info("allocation %s ended (%s)", status.id, status.state.name)
            del self.book.allocations[status.id]
            for worker in [w for w, (a, _) in self.book.placed.items() if a == status.id]:
                del self.book.placed[worker]
            return
        if status.state is JobState.RUNNING and not slots.running:
            missing = [n for n in status.nodes if n not in self.nodes]
            for node in await self.allocations.describe(missing) if missing else []:
                self.nodes[node.name] = node
            slots.running = True
            slots.nodes = tuple(self.nodes[n] for n in status.nodes)
            slots.idle_since = time.time()
        if status.time_left is not None:
            slots.ends_at = time.time() + status.time_left

    async def claim(self, worker: str) -> tuple[str, Node]:
        """Return a slot for ``worker``, requesting allocations while none is free."""
        while True:
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
        count = self.book.allocations_to_request(
            self.wanted(), time.time(), s.margin, s.per_node, s.nodes, s.maximum
        )
        for _ in range(count):
            allocation = await self.allocations.submit(s.nodes)
            logger.info("requested allocation %s of %d nodes", allocation, s.nodes)
            self.submitted.append(allocation)
            self.book.allocations[allocation] = AllocationSlots(allocation, size=s.nodes)

    def release(self, worker: str) -> None:
        """The worker has stopped: its slot is free."""
        self.book.free(worker, time.time())

    async def tick(self) -> list[str]:
        """Refresh, give back idle allocations; return workers that must retire now."""
        await self.refresh(force=True)
        now = time.time()
        idle = [
            a for a in self.book.idle(now, self.settings.idle_timeout) if a != self.settings.current
        ]
        if idle:
            logger.info("giving back idle allocations %s", ", ".join(idle))
            await self.allocations.cancel(idle)
            for allocation in idle:
                del self.book.allocations[allocation]
        return self.book.expiring(now, self.settings.margin)

    async def close(self) -> None:
        """Give back every allocation this pilot requested."""
        ours = [a for a in self.book.allocations if a != self.settings.current]
        await self.allocations.cancel(ours)
        self.book.allocations.clear()

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
                    "running" if a.running else "pending",
                    nodes=nodes,
                    workers=workers,
                    walltime_left=None if math.isinf(left) else left,
                    note=note,
                )
            )
        return tuple(rows)

    def describe(self) -> list[dict[str, object]]:
        """Return one row per allocation: id, state, nodes, walltime left, workers per node."""
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
                    "state": "running" if a.running else "pending",
                    "nodes": [n.name for n in a.nodes] or a.size,
                    "walltime_left": None if left == float("inf") else int(left),
                    "workers": workers,
                }
            )
        return rows
