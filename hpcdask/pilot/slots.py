"""Slot accounting for pilots: pure, no I/O, so the policy can be tested in microseconds.

The book knows every allocation (pending or running, its nodes and when its walltime ends) and
every worker placed in one. It answers: where does the next worker go, how many more fit
(counting pending allocations as capacity that is coming), which allocations can be given
back, and which workers must retire because their allocation's walltime is nearly over.

Two time spans matter: the *margin* (workers of an allocation with less walltime left retire,
and none is placed there) and the *horizon*, the margin plus the time a new allocation takes
to start: capacity that ends within the horizon is not counted, so a replacement is requested
while the old allocation still runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["AllocationSlots", "Node", "SlotBook", "WorkerSize"]


@dataclass(frozen=True)
class Node:
    """One node of an allocation and what it has for workers; ``address`` reaches it."""

    name: str
    cores: int
    memory: int
    address: str = ""


@dataclass(frozen=True)
class WorkerSize:
    """What one worker needs: threads (cores) and memory in bytes; at most ``per_node``."""

    cores: int
    memory: int
    per_node: int | None = None

    def fits(self, node: Node) -> int:
        """Return how many such workers fit on ``node``."""
        by_memory = node.memory // self.memory if self.memory else math.inf
        return int(min(node.cores // self.cores, by_memory, self.per_node or math.inf))


@dataclass
class AllocationSlots:
    """An allocation as the book sees it. ``nodes`` is empty while it is pending."""

    id: str
    size: int
    running: bool = False
    nodes: tuple[Node, ...] = ()
    ends_at: float | None = None
    idle_since: float | None = None

    def time_left(self, now: float) -> float:
        """Seconds of walltime left (infinite when unknown)."""
        return math.inf if self.ends_at is None else self.ends_at - now


@dataclass
class SlotBook:
    """Allocations, and which worker runs on which node of which allocation."""

    size: WorkerSize
    allocations: dict[str, AllocationSlots] = field(default_factory=dict)
    placed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def _used(self, allocation: str) -> Counter[str]:
        return Counter(node for a, node in self.placed.values() if a == allocation)

    def _usable(self, now: float, margin: float) -> list[AllocationSlots]:
        """Running allocations with more than ``margin`` seconds left, longest-lived first."""
        usable = [a for a in self.allocations.values() if a.running and a.time_left(now) > margin]
        return sorted(usable, key=lambda a: -a.time_left(now))

    def place(self, worker: str, now: float, margin: float) -> tuple[str, str] | None:
        """Put ``worker`` on the freest node of the longest-lived usable allocation.

        Returns ``(allocation id, node name)``, or None when no usable slot is free.
        """
        for allocation in self._usable(now, margin):
            used = self._used(allocation.id)
            free = [
                (self.size.fits(n) - used[n.name], -i, n.name)
                for i, n in enumerate(allocation.nodes)
            ]
            room, _, node = max(free, default=(0, 0, ""))
            if room > 0:
                self.placed[worker] = (allocation.id, node)
                allocation.idle_since = None
                return allocation.id, node
        return None

    def free(self, worker: str, now: float) -> None:
        """Forget ``worker``; an allocation left without workers starts being idle now."""
        allocation, _ = self.placed.pop(worker, ("", ""))
        if allocation in self.allocations and not self._used(allocation):
            self.allocations[allocation].idle_since = now

    def slots(self, allocation: AllocationSlots, per_node: int) -> int:
        """Return the workers ``allocation`` can hold (pending ones: by their size)."""
        if not allocation.running:
            return allocation.size * per_node
        return sum(self.size.fits(node) for node in allocation.nodes)

    def capacity(self, now: float, horizon: float, per_node: int) -> int:
        """Return how many workers fit in allocations that outlast ``horizon`` seconds, pending
        ones included."""
        usable = self._usable(now, horizon)
        pending = [a for a in self.allocations.values() if not a.running]
        return sum(self.slots(a, per_node) for a in (*usable, *pending))

    def idle(self, now: float, timeout: float) -> list[str]:
        """Return running allocations without workers for longer than ``timeout`` seconds."""
        return [
            a.id
            for a in self.allocations.values()
            if a.running and a.idle_since is not None and now - a.idle_since > timeout
        ]

    def to_give_back(
        self, now: float, wanted: int, timeout: float, margin: float, horizon: float, per_node: int
    ) -> list[str]:
        """Return running allocations not worth holding any more.

        That is those without workers and within ``margin`` of their end (nothing can be placed
        there), and those idle longer than ``timeout`` whose slots the ``wanted`` workers do not
        need, shortest-lived first (an idle replacement, waiting for the workers of an ending
        allocation, is kept).
        """
        used = {a for a, _ in self.placed.values()}
        ending = [
            a.id
            for a in self.allocations.values()
            if a.running and a.id not in used and a.time_left(now) <= margin
        ]
        spare = self.capacity(now, horizon, per_node) - wanted
        idle = []
        by_end = sorted(self.idle(now, timeout), key=lambda a: self.allocations[a].time_left(now))
        for allocation in by_end:
            if allocation in ending:
                continue
            slots = self.allocations[allocation]
            counted = slots.time_left(now) > horizon
            if not counted or spare >= self.slots(slots, per_node):
                idle.append(allocation)
                spare -= self.slots(slots, per_node) if counted else 0
        return ending + idle

    def expiring(self, now: float, margin: float) -> list[str]:
        """Return workers whose allocation has ``margin`` seconds of walltime left or less."""
        ending = {a.id for a in self.allocations.values() if a.time_left(now) <= margin}
        return [worker for worker, (a, _) in self.placed.items() if a in ending]

    def allocations_to_request(
        self,
        wanted: int,
        now: float,
        horizon: float,
        per_node: int,
        nodes_per_allocation: int,
        maximum: int,
    ) -> int:
        """Return how many new allocations hold ``wanted`` workers, within ``maximum`` at once.

        Pending allocations count as capacity that is coming, so a target that rises while
        one is queued does not submit another for the same workers. Running allocations that
        end within ``horizon`` count neither as capacity nor towards ``maximum``: they are
        being replaced.
        """
        missing = wanted - self.capacity(now, horizon, per_node)
        if missing <= 0:
            return 0
        per_allocation = max(1, nodes_per_allocation * per_node)
        live = [a for a in self.allocations.values() if not a.running or a.time_left(now) > horizon]
        room = max(0, maximum - len(live))
        return min(room, math.ceil(missing / per_allocation))
