"""Graceful retirement before the walltime, on a real scheduler and workers in this process
(``inproc://``: no network), with ``allowed-failures: 0`` so that one unexpected worker death
holding a task would end it as ``KilledWorker``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import dask
from distributed import Client, Scheduler, Worker
from distributed.core import rpc
from scheduler_events import removals
from waiting import until

from hpcdask.pilot.retire import retire

Test = Callable[[Scheduler, Client, Any], Awaitable[None]]


@asynccontextmanager
async def _cluster() -> AsyncIterator[tuple[Scheduler, Client, Any]]:
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        async with (
            Scheduler(protocol="inproc", dashboard=False) as scheduler,
            Client(scheduler.address, asynchronous=True) as client,
        ):
            comm = rpc(scheduler.address)
            try:
                yield scheduler, client, comm
            finally:
                await comm.close_rpc()


def _run(test: Test) -> None:
    async def main() -> None:
        async with _cluster() as (scheduler, client, comm):
            await test(scheduler, client, comm)

    asyncio.run(main())


def test_tasks_in_flight_finish_and_their_data_moves() -> None:
    async def test(scheduler: Scheduler, client: Client, comm: Any) -> None:
        async with Worker(scheduler.address, name="old", nthreads=1) as old:
            slow = client.submit(lambda: time.sleep(0.6) or 42, pure=False)
            await until(lambda: bool(old.state.executing), "a task to run on old", 10, 0.01)
            async with Worker(scheduler.address, name="new", nthreads=1) as new:
                left = await retire(comm, ["old"], time.time() + 4, margin=4, poll=0.02)
                assert left == set()
                assert await slow == 42
                assert set(scheduler.workers) == {new.address}
                assert scheduler.tasks[slow.key].suspicious == 0
                [removed] = removals(scheduler)
                assert removed["expected"] and not removed["processing-tasks"]
                assert not removed["lost-computed-tasks"]  # moved, not recomputed
                assert new.data[slow.key] == 42

    _run(test)


def test_no_new_tasks_while_draining() -> None:
    async def test(scheduler: Scheduler, client: Client, comm: Any) -> None:
        async with Worker(scheduler.address, name="old", nthreads=1) as old:
            first = client.submit(lambda: time.sleep(0.5) or 1, pure=False)
            await until(lambda: bool(old.state.executing), "a task to run on old", 10, 0.01)
            async with Worker(scheduler.address, name="new", nthreads=1) as new:
                retiring = asyncio.ensure_future(
                    retire(comm, ["old"], time.time() + 4, margin=4, poll=0.02)
                )
                await until(
                    lambda: scheduler.workers[old.address].status.name != "running",
                    "old to stop running",
                    10,
                    0.01,
                )
                later = client.map(lambda i: i + 1, range(5), pure=False)
                assert await client.gather(later) == [1, 2, 3, 4, 5]
                holders = {ws.address for f in later for ws in scheduler.tasks[f.key].who_has or ()}
                assert holders == {new.address}
                assert await retiring == set()
                assert await first == 1

    _run(test)


def test_tasks_longer_than_the_drain_are_rescheduled_not_blamed() -> None:
    async def test(scheduler: Scheduler, client: Client, comm: Any) -> None:
        async with Worker(scheduler.address, name="old", nthreads=1) as old:
            slow = client.submit(lambda: time.sleep(1.5) or 7, pure=False)
            await until(lambda: bool(old.state.executing), "a task to run on old", 10, 0.01)
            async with Worker(scheduler.address, name="new", nthreads=1):
                started = time.monotonic()
                assert await retire(comm, ["old"], time.time() + 0.8, 0.8, poll=0.02) == set()
                assert time.monotonic() - started < 1.0  # it did not wait for the task
                [removed] = removals(scheduler)
                assert removed["expected"] and removed["processing-tasks"] == {slow.key}
                assert await slow == 7  # rescheduled on the other worker: no KilledWorker

    _run(test)


def test_without_another_worker_they_leave_as_expected_at_the_deadline() -> None:
    async def test(scheduler: Scheduler, client: Client, comm: Any) -> None:
        async with Worker(scheduler.address, name="old", nthreads=1):
            done = client.submit(lambda: 3, pure=False)
            assert await done == 3
            ends_at = time.time() + 0.8
            assert await retire(comm, ["old"], ends_at, 0.8, poll=0.02) == {"old"}
            assert time.time() >= ends_at - 0.8 * 0.25 - 0.05
            assert not scheduler.workers
            [removed] = removals(scheduler)
            assert removed["expected"]
            assert removed["lost-computed-tasks"] == {done.key}

    _run(test)
