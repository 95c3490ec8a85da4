"""Launchers start one Dask worker on one node of an allocation, and stop it.

Each node gets one :mod:`agent <hpcdask.pilot.agent>` process, started when its allocation
starts running (or with the node's first worker); the agent forks the node's workers from a warm
process, so a worker starts in a fraction of a second. :class:`SrunLauncher` runs the agent as a
Slurm job step inside the held allocation (``srun --jobid=ID --overlap -N1 -w NODE``): no new
batch job, no queue wait. :class:`LocalLauncher` runs it as a plain subprocess, for tests and
``allocation: current`` on a single node.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpcdask.errors import HpcdaskError
from hpcdask.pilot.slots import Node

__all__ = [
    "Agent",
    "LaunchError",
    "Launcher",
    "LocalLauncher",
    "SrunLauncher",
    "SshLauncher",
    "WorkerHandle",
]

logger = logging.getLogger(__name__)

#: Seconds a stopped worker gets to close; its agent gets as much again to answer.
GRACE = 10.0


class LaunchError(HpcdaskError):
    """A worker could not be started inside its allocation."""


@dataclass(eq=False)
class Agent:
    """One node's agent process, its last words, and the answers awaited from it."""

    where: tuple[str, str]
    process: asyncio.subprocess.Process
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))
    ready: asyncio.Future[None] = field(default_factory=asyncio.Future)
    waiting: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    exited: set[str] = field(default_factory=set)
    readers: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def said(self) -> str:
        """Return its last lines of output, for error messages."""
        return " | ".join(self.tail) or "no output"

    def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(request) + "\n").encode())

    def expect(self, kind: str, name: str) -> asyncio.Future[dict[str, Any]]:
        """Return the future answer (``started`` or ``stopped``) about worker ``name``."""
        waiting = self.waiting.get((kind, name))
        if waiting is not None:  # asked twice: one answer for both
            return waiting
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_exception(LaunchError(f"node agent exited: {self.said()}"))
        self.waiting[(kind, name)] = future
        return future

    def answer(self, event: dict[str, Any]) -> None:
        """Take one event from the agent: resolve what awaits it, note workers that exited."""
        kind, name = str(event.get("event")), str(event.get("name"))
        if kind == "ready" and not self.ready.done():
            self.ready.set_result(None)
        elif kind == "exited":
            self.exited.add(name)
        if kind in ("started", "failed"):
            kind = "started"  # the answer to a start either way
            self.exited.discard(name)  # a new worker of a name used before
        future = self.waiting.pop((kind, name), None)
        if future is not None and not future.done():
            future.set_result(event)
        elif event.get("event") == "failed":  # nobody waits for it: keep it for errors
            self.tail.append(f"failed: {event.get('error')}")
            logger.warning("node agent on %s: %s", self.where[1], event.get("error"))

    def ended(self) -> None:
        """The process is gone: nothing it was asked will be answered."""
        error = LaunchError(f"node agent exited with code {self.process.returncode}: {self.said()}")
        futures: list[asyncio.Future[Any]] = [self.ready, *self.waiting.values()]
        for future in futures:
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: nobody may be awaiting it any more
        self.waiting.clear()


@dataclass
class WorkerHandle:
    """A worker running under a node agent."""

    agent: Agent
    name: str
    address: str

    @property
    def ended(self) -> bool:
        """Whether the worker ended on its own (or with its agent, its allocation)."""
        return not self.agent.alive or self.name in self.agent.exited


class Launcher(ABC):
    """Starts node agents inside allocations, and workers through them.

    Parameters
    ----------
    python
        The Python on the nodes (with distributed and hpcdask); default: this one.
    env
        Environment of the agents and so of the workers (Dask config, TLS credentials).
    """

    def __init__(self, python: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.python = python or sys.executable
        self.env = dict(env or {})
        self.agents: dict[tuple[str, str], Agent] = {}
        self._started: set[Agent] = set()  # every agent whose process may still be there
        self._spawning = asyncio.Lock()
        self._closing: set[asyncio.Future[None]] = set()

    #: Whether the agent's environment goes to it on its first line of input (where the
    #: command cannot carry it: ssh passes no environment, and a command line is public).
    env_on_stdin = False

    @abstractmethod
    def command(self, allocation: str, node: Node, argv: Sequence[str]) -> list[str]:
        """Return the command that runs ``argv`` on ``node`` of ``allocation``."""

    async def prepare(self, allocation: str, nodes: Sequence[Node]) -> None:
        """Start the agents of ``nodes`` now, so that their first workers need not wait."""
        for node in nodes:
            await self._agent(allocation, node)

    async def _agent(self, allocation: str, node: Node) -> Agent:
        """Return the agent of ``node``, starting it if there is none (one start at a time:
        workers claimed together must not each start one)."""
        async with self._spawning:
            agent = self.agents.get((allocation, node.name))
            if agent is not None and agent.alive:
                return agent
            return await self._spawn(allocation, node)

    async def _spawn(self, allocation: str, node: Node) -> Agent:
        argv = [self.python, "-m", "hpcdask.pilot.agent"]
        if self.env_on_stdin:
            argv.append("--env-on-stdin")
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command(allocation, node, argv),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=os.environ if self.env_on_stdin else {**os.environ, **self.env},
                start_new_session=True,
            )
        except OSError as error:
            raise LaunchError(f"cannot start the node agent on {node.name}: {error}") from None
        agent = Agent((allocation, node.name), process)
        if self.env_on_stdin:
            agent.send({"env": self.env})
        agent.readers = [
            asyncio.ensure_future(self._answers(agent)),
            asyncio.ensure_future(self._stderr(agent)),
        ]
        self.agents[(allocation, node.name)] = agent
        self._started.add(agent)
        return agent

    async def _answers(self, agent: Agent) -> None:
        assert agent.process.stdout is not None
        async for raw in agent.process.stdout:
            try:
                agent.answer(json.loads(raw))
            except ValueError:  # srun's own words, or a stray print: keep them for errors
                agent.tail.append(raw.decode(errors="replace").rstrip())
        await agent.process.wait()
        agent.ended()
        if self.agents.get(agent.where) is agent:
            del self.agents[agent.where]
        if agent.process.stdin is not None:
            agent.process.stdin.close()
        await agent.readers[1]  # its stderr, to the end: then nothing of it is left open
        self._started.discard(agent)

    async def _stderr(self, agent: Agent) -> None:
        assert agent.process.stderr is not None
        async for raw in agent.process.stderr:
            agent.tail.append(raw.decode(errors="replace").rstrip())

    async def start(
        self, allocation: str, node: Node, name: str, scheduler: str, options: Mapping[str, Any],
        timeout: float,
    ) -> WorkerHandle:  # fmt: skip
        """Start worker ``name`` (``options``: :class:`distributed.Nanny` keywords) on ``node``
        and return once it has registered with ``scheduler``."""
        agent = await self._agent(allocation, node)
        request = {"op": "start", "name": name, "scheduler": scheduler, "options": dict(options)}
        try:
            event = await asyncio.wait_for(self._ask(agent, request), timeout)
        except (asyncio.TimeoutError, LaunchError) as error:
            if agent.alive:
                agent.send({"op": "stop", "name": name})
            why = (
                f"did not register within {timeout:g}s"
                if isinstance(error, asyncio.TimeoutError)
                else str(error)
            )
            raise LaunchError(f"worker on {node.name} (allocation {allocation}): {why}") from None
        if event["event"] == "failed":
            raise LaunchError(f"worker on {node.name} (allocation {allocation}): {event['error']}")
        return WorkerHandle(agent, name, str(event.get("address")))

    async def _ask(self, agent: Agent, request: dict[str, Any]) -> dict[str, Any]:
        await agent.ready
        answer = agent.expect("started", request["name"])
        agent.send(request)
        return await answer

    async def stop(self, worker: WorkerHandle, leaving: bool = False) -> None:
        """Stop the worker: its agent closes it (its process is killed after a grace).

        ``leaving``: the scheduler has retired the worker, which closes by itself; the agent
        gives it a grace to do so before closing it."""
        agent = worker.agent
        if worker.ended:
            return
        patience = GRACE if leaving else 0.0
        answer = agent.expect("stopped", worker.name)
        agent.send({"op": "stop", "name": worker.name, "patience": patience})
        try:
            await asyncio.wait_for(answer, patience + 2 * GRACE)
        except asyncio.TimeoutError:
            logger.warning("worker %s on %s did not stop within %gs: %s", worker.name,
                           agent.where[1], patience + 2 * GRACE, agent.said())  # fmt: skip
        except LaunchError as error:
            logger.warning("stopping worker %s on %s: %s", worker.name, agent.where[1], error)

    def forget(self, allocation: str) -> None:
        """Stop the agents of ``allocation``, which has ended or was given back, in the
        background: over ssh they would outlive it, and an ``srun`` may wait for Slurm to
        end its step for half a minute."""
        task = asyncio.ensure_future(self.close([allocation]))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self, allocations: Sequence[str] | None = None) -> None:
        """Stop the agents (of ``allocations``, or all) and their workers: close their input,
        kill them after a grace."""
        agents = [  # listed or not: an agent is started until its process and pipes are gone
            agent
            for agent in self._started
            if allocations is None or agent.where[0] in allocations
        ]
        await asyncio.gather(*(self._close(agent) for agent in agents))
        if allocations is None:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _close(self, agent: Agent) -> None:
        if agent.alive:
            assert agent.process.stdin is not None
            agent.process.stdin.close()
            try:
                await asyncio.wait_for(agent.process.wait(), 2 * GRACE)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(agent.process.pid, signal.SIGKILL)
                await agent.process.wait()
        await asyncio.gather(*agent.readers, return_exceptions=True)
        self._started.discard(agent)


class SrunLauncher(Launcher):
    """Workers as Slurm job steps inside an existing allocation."""

    def command(self, allocation: str, node: Node, argv: Sequence[str]) -> list[str]:
        """Return ``srun --jobid=ID --overlap -N1 -n1 -w NODE ARGV``.

        Examples
        --------
        >>> SrunLauncher().command("42", Node("n3", 8, 2**30), ["python", "-V"])
        ['srun', '--jobid=42', '--overlap', '--nodes=1', '--ntasks=1', '--nodelist=n3', \
'--kill-on-bad-exit=1', '--unbuffered', 'python', '-V']
        """
        return [
            "srun",
            f"--jobid={allocation}",
            "--overlap",
            "--nodes=1",
            "--ntasks=1",
            f"--nodelist={node.name}",
            "--kill-on-bad-exit=1",
            "--unbuffered",
            *argv,
        ]


class SshLauncher(Launcher):
    """Node agents over ``ssh`` to the allocation's nodes (their Slurm address, else name),
    where the site allows no overlapping job steps. The agents' environment goes through their
    input, never their command line.

    Parameters
    ----------
    options
        Extra ``ssh`` options (see :func:`hpcdask.pilot.settings.ssh_options`).
    """

    env_on_stdin = True

    def __init__(
        self,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        options: Sequence[str] = (),
    ) -> None:
        super().__init__(python, env)
        self.options = tuple(options)

    def command(self, allocation: str, node: Node, argv: Sequence[str]) -> list[str]:
        """Return ``ssh [OPTIONS] NODE ARGV``, never asking for a password.

        Examples
        --------
        >>> SshLauncher(options=["-p", "2222"]).command(
        ...     "42", Node("n3", 8, 2**30, "10.0.0.3"), ["python", "-m", "x"])[-4:]
        ['-p', '2222', '10.0.0.3', 'python -m x']
        """
        return [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            *self.options,
            node.address or node.name,
            shlex.join(argv),
        ]  # fmt: skip


class LocalLauncher(Launcher):
    """Workers as subprocesses of this process (one node: this machine)."""

    def command(self, allocation: str, node: Node, argv: Sequence[str]) -> list[str]:
        return list(argv)
