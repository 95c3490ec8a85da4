"""The node agent and its launcher, for real on this machine: agent processes, nannies, workers
forked from the agent's forkserver, and a scheduler in the test's process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import dask.config
import psutil
import pytest
from distributed import Scheduler
from waiting import until

from hpcdask.daskconfig import nested
from hpcdask.pilot.agent import METHOD
from hpcdask.pilot.launcher import LaunchError, LocalLauncher, WorkerHandle
from hpcdask.pilot.slots import Node

N1, N2 = Node("n1", 4, 4 * 10**9), Node("n2", 4, 4 * 10**9)
OPTIONS: dict[str, Any] = {"host": "127.0.0.1", "nthreads": 1, "death_timeout": 20.0}


@asynccontextmanager
async def _cluster() -> AsyncIterator[tuple[Scheduler, LocalLauncher]]:
    launcher = LocalLauncher()
    async with Scheduler(host="127.0.0.1", port=0, dashboard_address=":0") as scheduler:
        try:
            yield scheduler, launcher
        finally:
            await launcher.close()
    assert launcher.agents == {}


def _names(scheduler: Scheduler) -> set[str]:
    return {str(ws.name) for ws in scheduler.workers.values()}


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 120))


def test_one_agent_per_node_starts_and_stops_its_workers() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            await launcher.prepare("a1", [N1])
            start = [
                launcher.start("a1", N1, f"w{i}", scheduler.address, OPTIONS, 60) for i in range(3)
            ]
            handles: list[WorkerHandle] = list(await asyncio.gather(*start))
            assert _names(scheduler) == {"w0", "w1", "w2"}  # registered when start returns
            assert list(launcher.agents) == [("a1", "n1")]  # one agent for the node
            assert {h.address for h in handles} == set(scheduler.workers)
            pids = {ws.pid for ws in scheduler.workers.values()}
            assert len(pids) == 3 and launcher.agents[("a1", "n1")].process.pid not in pids

            await launcher.stop(handles[0])
            await until(lambda: _names(scheduler) == {"w1", "w2"}, "w0 to leave", 20)
            assert not handles[1].ended
            agent = launcher.agents[("a1", "n1")]
        assert agent.process.returncode == 0  # closing its input stopped it and its workers
        assert handles[1].ended and handles[2].ended

    _run(test)


def test_a_worker_retired_by_the_scheduler_leaves_without_being_killed() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            handle = await launcher.start("a1", N1, "w0", scheduler.address, OPTIONS, 60)
            await scheduler.retire_workers(names=["w0"], remove=True, close_workers=True)
            await launcher.stop(handle, leaving=True)
            assert _names(scheduler) == set()
            said = launcher.agents[("a1", "n1")].said()
            assert "killing" not in said, said  # the nanny's words when it kills a worker

    _run(test)


def test_a_worker_that_ends_on_its_own_is_seen_ended() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            handle = await launcher.start("a1", N1, "w0", scheduler.address, OPTIONS, 60)
            other = await launcher.start("a1", N1, "w1", scheduler.address, OPTIONS, 60)
            await scheduler.retire_workers(names=["w0"], remove=True, close_workers=True)
            await until(lambda: handle.ended, "the agent to report w0 exited", 20)
            assert not other.ended
            again = await launcher.start("a1", N1, "w0", scheduler.address, OPTIONS, 60)
            assert not again.ended  # a new worker of the same name is not the one that ended
            assert _names(scheduler) == {"w0", "w1"}

    _run(test)


def test_a_dead_agent_ends_its_workers_and_a_new_one_takes_its_place() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            handle = await launcher.start("a1", N1, "w0", scheduler.address, OPTIONS, 60)
            agent = launcher.agents[("a1", "n1")]
            os.killpg(agent.process.pid, signal.SIGKILL)  # as when its allocation ends
            await until(lambda: handle.ended, "the worker to be seen ended", 20)
            await until(lambda: ("a1", "n1") not in launcher.agents, "the agent to be dropped", 20)
            await launcher.stop(handle)  # nothing left to stop: returns at once
            again = await launcher.start("a1", N1, "w1", scheduler.address, OPTIONS, 60)
            assert launcher.agents[("a1", "n1")] is not agent and not again.ended

    _run(test)


def test_a_worker_that_cannot_start_is_a_launch_error_saying_why() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            options = {**OPTIONS, "nthreads": "many"}
            with pytest.raises(LaunchError, match=r"worker on n1 \(allocation a1\): TypeError"):
                await launcher.start("a1", N1, "w0", scheduler.address, options, 60)
            assert _names(scheduler) == set()

    _run(test)


def test_an_agent_that_cannot_start_is_a_launch_error_with_its_words() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            launcher.python = "/bin/false"  # as a node whose python cannot run the agent
            with pytest.raises(LaunchError, match="node agent exited with code 1"):
                await launcher.start("a1", N1, "w0", scheduler.address, OPTIONS, 60)
            launcher.python = "/nonexistent/python"
            with pytest.raises(LaunchError, match=r"cannot start the node agent.*nonexistent"):
                await launcher.start("a1", N2, "w0", scheduler.address, OPTIONS, 60)

    _run(test)


@pytest.mark.parametrize(
    ("env", "method"),
    [
        ({}, "forkserver"),  # the agent's default: workers forked from a warm process
        ({"DASK_INTERNAL_INHERIT_CONFIG": "spawn"}, "spawn"),  # from a resource's dask: block
        ({"DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD": "fork"}, "fork"),
    ],
)
def test_how_the_agent_starts_workers(env: dict[str, Any], method: str) -> None:
    if "DASK_INTERNAL_INHERIT_CONFIG" in env:
        inherited = {METHOD: env["DASK_INTERNAL_INHERIT_CONFIG"]}
        env["DASK_INTERNAL_INHERIT_CONFIG"] = dask.config.serialize(nested(inherited))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    script = (
        "import dask.config; from hpcdask.pilot import agent; agent._start_method(); "
        "print(dask.config.get(agent.METHOD))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True
    )
    assert ran.stdout.strip() == method, ran.stderr


def test_the_agent_answers_a_bad_request_and_keeps_serving() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            await launcher.prepare("a1", [N1])
            agent = launcher.agents[("a1", "n1")]
            await agent.ready
            agent.send({"op": "start", "name": "w9"})  # no scheduler
            assert agent.process.stdin is not None
            agent.process.stdin.write(b"not json\n")
            handle = await launcher.start("a1", N1, "w0", scheduler.address, OPTIONS, 60)
            assert agent.alive and not handle.ended and _names(scheduler) == {"w0"}
            assert sum("bad request" in line for line in agent.tail) == 2, agent.said()

    _run(test)


def test_workers_started_together_on_a_new_node_share_one_agent() -> None:
    async def test() -> None:
        async with _cluster() as (scheduler, launcher):
            starts = [
                launcher.start("a1", N1, f"w{i}", scheduler.address, OPTIONS, 60) for i in range(3)
            ]
            await asyncio.gather(*starts)
            agents = [
                child
                for child in psutil.Process().children()
                if child.cmdline()[1:3] == ["-m", "hpcdask.pilot.agent"]
            ]
            assert len(agents) == 1, agents

    _run(test)
