"""The pilot's policy over a fake batch system: replacements in time, give-backs, end states."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from hpcdask.jobs import JobState
from hpcdask.pilot.allocation import Allocations, AllocationStatus
from hpcdask.pilot.launcher import LocalLauncher
from hpcdask.pilot.pilot import LEAD, Pilot, PilotSettings
from hpcdask.pilot.slots import Node, SlotBook, WorkerSize

GB = 10**9


@dataclass
class FakeAllocations(Allocations):
    """Allocations that are whatever the test says; each holds node ``n<id>``."""

    states: dict[str, AllocationStatus] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    async def submit(self, nodes: int) -> str:
        allocation = str(100 + len(self.states))
        self.states[allocation] = AllocationStatus(allocation, JobState.PENDING, (), 3600.0)
        return allocation

    async def poll(self, ids: Sequence[str]) -> dict[str, AllocationStatus]:
        return {i: self.states.get(i, AllocationStatus(i, JobState.UNKNOWN)) for i in ids}

    async def cancel(self, ids: Sequence[str]) -> None:
        self.cancelled += ids
        for allocation in ids:
            self.states[allocation] = AllocationStatus(allocation, JobState.CANCELLED)

    async def describe(self, nodes: Sequence[str]) -> list[Node]:
        return [Node(name, 4, 4 * GB) for name in nodes]

    def run(self, allocation: str, left: float) -> None:
        self.states[allocation] = AllocationStatus(
            allocation, JobState.RUNNING, (f"n{allocation}",), left
        )


class QuietLauncher(LocalLauncher):
    """Starts no node agents: remembers which allocations' agents it was asked to start or stop."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared: list[tuple[str, tuple[str, ...]]] = []
        self.closed: list[str] = []

    async def prepare(self, allocation: str, nodes: Sequence[Node]) -> None:
        self.prepared.append((allocation, tuple(node.name for node in nodes)))

    async def close(self, allocations: Sequence[str] | None = None) -> None:
        self.closed += allocations or ["all"]

    def forget(self, allocation: str) -> None:
        self.closed.append(allocation)


def _pilot(wanted: int, **settings: object) -> tuple[Pilot, FakeAllocations]:
    fake = FakeAllocations()
    defaults: dict[str, object] = {"margin": 30.0, "idle_timeout": 0.0, "per_node": 2}
    pilot = Pilot(
        fake,
        QuietLauncher(),
        SlotBook(WorkerSize(1, GB, per_node=2)),
        PilotSettings(**{**defaults, **settings}),  # type: ignore[arg-type]
        wanted=lambda: wanted,
    )
    return pilot, fake


def _started(pilot: Pilot, fake: FakeAllocations, left: float, workers: int) -> str:
    """One allocation running with ``left`` seconds and ``workers`` placed in it."""
    wanted, pilot.wanted = pilot.wanted, lambda: 1
    asyncio.run(pilot._request())
    pilot.wanted = wanted
    [allocation] = pilot.submitted
    fake.run(allocation, left)
    asyncio.run(pilot.refresh(force=True))
    assert isinstance(pilot.launcher, QuietLauncher)
    assert pilot.launcher.prepared[-1] == (allocation, (f"n{allocation}",))  # agents start now
    for i in range(workers):
        assert pilot.book.place(f"w{i}", 0, 0) is not None
    return allocation


def test_replacement_is_requested_before_the_workers_must_retire() -> None:
    pilot, fake = _pilot(wanted=2)
    first = _started(pilot, fake, left=1000, workers=2)
    assert asyncio.run(pilot.tick()) == []
    assert pilot.submitted == [first]
    fake.run(first, 30 + LEAD - 1)  # within the horizon, not yet the margin
    assert asyncio.run(pilot.tick()) == []
    assert len(pilot.submitted) == 2
    second = pilot.submitted[1]
    fake.run(second, 3600)
    assert asyncio.run(pilot.tick()) == []  # idle, but the workers will need it: kept
    assert second in pilot.book.allocations and not fake.cancelled
    assert [row["state"] for row in pilot.describe()] == ["running", "running"]
    fake.run(first, 29)
    assert sorted(asyncio.run(pilot.tick())) == ["w0", "w1"]
    assert [row["state"] for row in pilot.describe()] == ["ending", "running"]
    assert len(pilot.submitted) == 2


def test_no_replacement_when_no_worker_is_wanted() -> None:
    pilot, fake = _pilot(wanted=0)
    first = _started(pilot, fake, left=35, workers=0)
    assert asyncio.run(pilot.tick()) == []
    assert pilot.submitted == [first]
    assert fake.cancelled == [first]  # idle and nobody wants it
    assert isinstance(pilot.launcher, QuietLauncher)
    assert pilot.launcher.closed == [first]  # and its node agents are stopped


def test_an_ending_allocation_without_workers_is_given_back_at_once() -> None:
    pilot, fake = _pilot(wanted=0, idle_timeout=3600.0)
    first = _started(pilot, fake, left=20, workers=0)
    asyncio.run(pilot.tick())
    assert fake.cancelled == [first]
    assert pilot.ended == {first: JobState.CANCELLED}


def test_the_longest_queue_wait_lengthens_the_horizon() -> None:
    pilot, fake = _pilot(wanted=2)
    asyncio.run(pilot._request())
    [first] = pilot.submitted
    pilot._submitted_at[first] -= 100  # it waited 100 s in the queue
    fake.run(first, 3600)
    asyncio.run(pilot.refresh(force=True))
    assert pilot.queue_wait == pytest.approx(100, abs=1)
    assert pilot.horizon == pytest.approx(130, abs=1)


@pytest.mark.parametrize(
    ("word", "state", "level"),
    [
        (JobState.TIMEOUT, JobState.TIMEOUT, logging.INFO),
        (JobState.UNKNOWN, JobState.TIMEOUT, logging.INFO),  # left the queue after its end
        (JobState.FAILED, JobState.FAILED, logging.WARNING),
    ],
)
def test_walltime_expiry_is_not_failure(
    word: JobState, state: JobState, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    pilot, fake = _pilot(wanted=2)
    first = _started(pilot, fake, left=1000, workers=2)
    pilot.book.allocations[first].ends_at = time.time() - 1  # its walltime has run out
    fake.states[first] = AllocationStatus(first, word)
    with caplog.at_level(logging.INFO, logger="hpcdask.pilot.pilot"):
        asyncio.run(pilot.refresh(force=True))
    assert pilot.ended[first] is state
    assert not pilot.book.placed and first not in pilot.book.allocations
    [record] = [r for r in caplog.records if "ended" in r.getMessage()]
    assert (record.levelno, record.getMessage()) == (
        level,
        f"allocation {first} ended ({state.name})",
    )


def test_the_current_allocation_is_never_replaced_nor_given_back() -> None:
    pilot, fake = _pilot(wanted=10, current="7")
    fake.run("7", 3600)
    asyncio.run(pilot.adopt_current("7"))
    pilot.book.place("w0", 0, 0)
    fake.run("7", 20)
    assert asyncio.run(pilot.tick()) == ["w0"]
    pilot.release("w0")
    assert asyncio.run(pilot.tick()) == []
    assert pilot.submitted == [] and fake.cancelled == []
    assert [row["id"] for row in pilot.describe()] == ["7"]


def test_the_agents_of_an_allocation_that_ended_are_stopped() -> None:
    pilot, fake = _pilot(wanted=1)
    first = _started(pilot, fake, left=1000, workers=1)
    fake.states[first] = AllocationStatus(first, JobState.TIMEOUT)
    asyncio.run(pilot.refresh(force=True))
    assert isinstance(pilot.launcher, QuietLauncher)
    assert pilot.launcher.closed == [first]
    assert pilot.ended == {first: JobState.TIMEOUT}
