"""Dask processes started over SSH and stopped with their whole process group.

sshd starts each command in a session of its own, so the remote shell's ``$$`` names a
process group holding the nanny and its worker; stopping the group leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from distributed.deploy.spec import ProcessInterface

from hpcdask.backends.ssh.connect import Connections, HostError
from hpcdask.backends.ssh.plan import HostPlan

if TYPE_CHECKING:
    import asyncssh

__all__ = [
    "RemoteProcess",
    "SSHProcess",
    "SSHScheduler",
    "SSHWorker",
    "kill_command",
    "shell_command",
]

logger = logging.getLogger(__name__)
PID_MARK = "HPCDASK_PID="
#: Seconds a stopped process group gets between SIGTERM and SIGKILL.
STOP_GRACE = 3.0


def shell_command(
    plan: HostPlan, argv: Sequence[str], env: Mapping[str, str], stdin_env: Sequence[str] = ()
) -> str:
    """Return the remote shell line: prologue, environment, then ``exec`` of ``argv``.

    Examples
    --------
    >>> plan = HostPlan(host="ws1", slots=1, prologue=("module load python",), nice=5)
    >>> print(shell_command(plan, ["python3", "-V"], {"A": "x y"}))
    module load python && export A='x y' && { command -v python3 >/dev/null || \
{ echo 'python not found: python3' >&2; exit 127; }; } && echo HPCDASK_PID=$$ >&2 && \
exec nice -n 5 python3 -V
    """
    steps = list(plan.prologue)
    steps += [f"export {key}={shlex.quote(value)}" for key, value in {**plan.env, **env}.items()]
    # Secrets (credentials) arrive on stdin, one line each: never on a command line.
    steps += [f"IFS= read -r {name} && export {name}" for name in stdin_env]
    python = shlex.quote(argv[0])
    missing = shlex.quote(f"python not found: {argv[0]}")
    steps.append(f"{{ command -v {python} >/dev/null || {{ echo {missing} >&2; exit 127; }}; }}")
    steps.append(f"echo {PID_MARK}$$ >&2")
    niceness = ["nice", "-n", str(plan.nice)] if plan.nice is not None else []
    steps.append("exec " + shlex.join([*niceness, *argv]))
    return " && ".join(steps)


def kill_command(pid: int, grace: float = STOP_GRACE) -> str:
    """Return a shell line that stops process group ``pid``: SIGTERM, then SIGKILL after grace.

    It returns once the group is gone.
    """
    group = f"-{int(pid)}"
    tries = max(1, int(grace * 10))
    return (
        f"kill -TERM -- {group} 2>/dev/null || exit 0; i=0; "
        f"while kill -0 -- {group} 2>/dev/null; do i=$((i+1)); "
        f"if [ $i -ge {tries} ]; then kill -KILL -- {group} 2>/dev/null; fi; sleep 0.1; done"
    )


class RemoteProcess:
    """One command on one host; its output is drained (and kept in part) in the background."""

    def __init__(self, plan: HostPlan, connections: Connections) -> None:
        self.plan = plan
        self._connections = connections
        self.connection: asyncssh.SSHClientConnection | None = None
        self.pid: int | None = None
        self.exited = asyncio.Event()
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._process: asyncssh.SSHClientProcess[str] | None = None
        self._drain: asyncio.Task[None] | None = None

    async def connect(self) -> asyncssh.SSHClientConnection:
        """Take this host's shared connection."""
        self.connection = await self._connections.get(self.plan)
        return self.connection

    async def start(
        self, command: str, ready: Callable[[str], bool], timeout: float, stdin: str = ""
    ) -> None:
        """Run ``command`` with ``stdin``; return once a line of its stderr satisfies ``ready``."""
        assert self.connection is not None
        process = await self.connection.create_process(command)
        process.stdin.write(stdin)
        process.stdin.write_eof()
        self._process = process
        try:
            await asyncio.wait_for(self._read_until(process, ready), timeout)
        except asyncio.TimeoutError:
            raise HostError(
                self.plan.host,
                f"did not start within {timeout:g}s; its last output: {self._last()}",
            ) from None
        self._drain = asyncio.create_task(self._drain_output(process))

    async def launch(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        secret_env: Mapping[str, str],
        ready: Callable[[str], bool],
        timeout: float,
    ) -> None:
        """Start ``argv`` under the host's prologue and environment; ``secret_env`` travels on
        stdin, never on a command line. Returns once a stderr line satisfies ``ready``."""
        command = shell_command(self.plan, argv, env, list(secret_env))
        await self.start(command, ready, timeout, _lines(secret_env))

    async def _read_until(self, process: Any, ready: Callable[[str], bool]) -> None:
        while True:
            line = await process.stderr.readline()
            if not line:
                status = await process.wait()
                raise HostError(
                    self.plan.host,
                    f"exited with status {status.exit_status} before it started: {self._last()}",
                )
            self._keep(line)
            if line.startswith(PID_MARK):
                self.pid = int(line[len(PID_MARK) :])
            elif ready(line):
                return

    async def _drain_output(self, process: Any) -> None:
        try:
            async for line in process.stderr:
                self._keep(line)
        except Exception as error:  # the connection went away
            self._keep(f"(connection lost: {error})")
        finally:
            self.exited.set()

    def _keep(self, line: str) -> None:
        line = line.rstrip()
        self.tail.append(line)
        logger.debug("%s: %s", self.plan.host, line)

    def _last(self) -> str:
        return " | ".join(list(self.tail)[-5:]) or "(no output)"

    async def stop(self) -> None:
        """Stop the process group and give the connection back; never hangs."""
        try:
            connection = self.connection
            if self.pid and connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.run(kill_command(self.pid)), STOP_GRACE + 5)
            if self._process is not None:
                self._process.close()
            if self._drain is not None:
                self._drain.cancel()
        finally:
            self.exited.set()
            if self.connection is not None:
                self.connection = None
                self._connections.release(self.plan.host)


class SSHProcess(ProcessInterface):
    """A Dask process on one host, started over SSH by ``distributed.cli.dask_spec`` under the
    host's prologue and environment, and stopped with its process group.

    A subclass says what to run (:meth:`spec_argv`), which stderr line says it is up
    (``ready``) and where it listens then (:meth:`listening`).
    """

    #: Words of the stderr line that says the process is up.
    ready: ClassVar[str]

    def __init__(
        self,
        *,
        plan: HostPlan,
        connections: Connections,
        options: Mapping[str, Any],
        env: Mapping[str, str],
        start_timeout: float,
        secret_env: Mapping[str, str] | None = None,
        **process: Any,  # ProcessInterface's scheduler and name, for a worker
    ) -> None:
        super().__init__(**process)  # type: ignore[no-untyped-call]
        self.plan = plan
        self.options = dict(options)
        self.env = dict(env)
        self.secret_env = dict(secret_env or {})
        self.start_timeout = start_timeout
        self.process = RemoteProcess(plan, connections)

    def spec_argv(self, host: str) -> list[str]:
        """Return the command that runs the process, listening on ``host``."""
        raise NotImplementedError

    def listening(self, host: str) -> str:
        """Return the address the process listens on, once up (``host`` by default)."""
        return host

    def _dask_spec(self, *args: str, spec: object) -> list[str]:
        """Return ``python -m distributed.cli.dask_spec ARGS --spec SPEC`` on the host."""
        module = ["-m", "distributed.cli.dask_spec"]
        return [self.plan.python, *module, *args, "--spec", json.dumps(spec)]

    async def start(self) -> None:
        """Connect to the host, launch the process there, and return once it is up."""
        connection = await self.process.connect()
        host = connection.get_extra_info("peername")[0]
        await self.process.launch(
            self.spec_argv(host),
            self.env,
            self.secret_env,
            lambda line: self.ready in line,
            self.start_timeout,
        )
        self.address = self.listening(host)
        await super().start()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Stop the process group and give the connection back."""
        await self.process.stop()
        await super().close()  # type: ignore[no-untyped-call]


class SSHWorker(SSHProcess):
    """A Dask nanny and worker on one host, started over SSH (SpecCluster's worker class).

    ``on_exit`` is called with the worker when it exits without being closed.
    """

    ready = "Registered to:"

    def __init__(
        self,
        scheduler: str,
        *,
        name: str,
        plan: HostPlan,
        connections: Connections,
        options: Mapping[str, Any],
        env: Mapping[str, str],
        start_timeout: float,
        secret_env: Mapping[str, str] | None = None,
        on_exit: Callable[[SSHWorker], None] | None = None,
    ) -> None:
        super().__init__(
            plan=plan,
            connections=connections,
            options=options,
            env=env,
            start_timeout=start_timeout,
            secret_env=secret_env,
            scheduler=scheduler,
            name=name,
        )
        self.scheduler = scheduler
        self.name = name
        self._on_exit = on_exit
        self._closing = False
        self._watcher: asyncio.Task[None] | None = None

    def spec_argv(self, host: str) -> list[str]:
        opts = {"name": self.name, "host": host, **self.options}
        return self._dask_spec(
            self.scheduler, spec={"0": {"cls": "distributed.Nanny", "opts": opts}}
        )

    async def start(self) -> None:
        await super().start()
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        await self.process.exited.wait()
        if not self._closing and self._on_exit is not None:
            logger.warning(
                "worker %s on %s exited: %s", self.name, self.plan.host, self.process._last()
            )
            self._on_exit(self)

    async def close(self) -> None:
        self._closing = True
        await super().close()

    def connection_lost(self) -> bool:
        """Whether this worker's host is unreachable (its SSH connection is gone)."""
        connection = self.process.connection
        return connection is None or connection.is_closed()


class SSHScheduler(SSHProcess):
    """A Dask scheduler on a named host, started over SSH (``scheduler: HOST``)."""

    ready = "Scheduler at:"

    def spec_argv(self, host: str) -> list[str]:
        opts = {"host": host, **self.options}
        return self._dask_spec(spec={"cls": "distributed.Scheduler", "opts": opts})

    def listening(self, host: str) -> str:
        return self.process.tail[-1].split(self.ready)[1].strip()


def _lines(values: Mapping[str, str]) -> str:
    """Return ``values`` as the stdin lines ``shell_command``'s reads expect, in order."""
    return "".join(f"{value}\n" for value in values.values())
