"""The node agent: one per node of an allocation, it starts and stops that node's workers.

The launcher runs it once per node (``python -m hpcdask.pilot.agent``, as a job step with
``srun``, or as a subprocess). It imports distributed once and warms a forkserver that has
imported it too, then hosts one :class:`distributed.Nanny` per worker, as ``LocalCluster``
does on one machine: a new worker is a fork of a warm process, not two Python starts.

It reads one JSON request per line on stdin and answers with one JSON event per line on stdout:

- ``{"op": "start", "name": N, "scheduler": ADDRESS, "options": {...Nanny keywords}}`` →
  ``{"event": "started", "name": N, "address": WORKER}`` or ``{"event": "failed", ...}``
- ``{"op": "stop", "name": N, "patience": SECONDS}`` → ``{"event": "stopped", "name": N}``
- a worker that ends on its own (its scheduler went away) → ``{"event": "exited", "name": N}``

With ``--env-on-stdin`` its first line of input is ``{"env": {...}}``, the environment the
launcher could not pass otherwise (over ssh). It first says ``{"event": "ready"}``. When stdin
closes, or on SIGTERM, it stops its workers and leaves. This module needs only the standard
library and distributed on the nodes.

dask and distributed are imported inside functions on purpose: dask reads its config from the
environment when first imported, and that environment may come on stdin first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing.forkserver
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Nanny

__all__ = ["GRACE", "main"]

#: Seconds a stopping worker gets to close before its process is killed.
GRACE = 10.0
#: The Dask setting that picks how workers are started: a forkserver, unless set otherwise
#: (in the resource's ``dask:`` block, which reaches the agent as inherited config).
METHOD = "distributed.worker.multiprocessing-method"


def _say(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Agent:
    """The workers of this node, by name."""

    def __init__(self) -> None:
        self.nannies: dict[str, Nanny] = {}
        self.stopping: set[str] = set()
        self.tasks: set[asyncio.Future[None]] = set()

    def handle(self, request: dict[str, Any]) -> None:
        """Start or stop a worker in the background; the answer is an event."""
        op, name = request.get("op"), str(request.get("name"))
        if op == "start":
            work = self.start(name, str(request["scheduler"]), request.get("options") or {})
        elif op == "stop":
            work = self.stop(name, float(request.get("patience") or 0))
        else:
            _say("failed", name=name, error=f"unknown request {op!r}")
            return
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def start(self, name: str, scheduler: str, options: dict[str, Any]) -> None:
        from distributed import Nanny  # lazy: after the environment is set (module doc)
        from distributed.security import Security

        nanny: Nanny | None = None
        try:
            nanny = Nanny(scheduler, name=name, security=Security(), **options)  # type: ignore[no-untyped-call]
            self.nannies[name] = nanny
            await nanny
        except Exception as error:  # the worker never came up: say why
            self.nannies.pop(name, None)
            if nanny is not None:
                with contextlib.suppress(Exception):
                    await nanny.close(timeout=GRACE)
            _say("failed", name=name, error=f"{type(error).__name__}: {error}")
            return
        _say("started", name=name, address=nanny.worker_address)
        watch = asyncio.ensure_future(self._watch(name, nanny))
        self.tasks.add(watch)
        watch.add_done_callback(self.tasks.discard)

    async def _watch(self, name: str, nanny: Nanny) -> None:
        await nanny.finished()  # type: ignore[no-untyped-call]
        if self.nannies.get(name) is nanny and name not in self.stopping:
            del self.nannies[name]
            _say("exited", name=name)

    async def stop(self, name: str, patience: float = 0.0) -> None:
        """Stop worker ``name``. With ``patience``, first wait up to that long for it to tell
        its nanny that it is closing: a worker the scheduler has retired is closing already, and
        closing its nanny before it has said so leaves it waiting for the nanny until killed."""
        nanny = self.nannies.get(name)
        if nanny is not None:
            self.stopping.add(name)
            if patience:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(_closing(nanny), patience)
            with contextlib.suppress(Exception):
                await nanny.close(timeout=GRACE)
            if self.nannies.get(name) is nanny:  # not a new worker of the same name
                del self.nannies[name]
            self.stopping.discard(name)
        _say("stopped", name=name)

    async def close(self) -> None:
        """Stop every worker (closing stdin or SIGTERM)."""
        await asyncio.gather(*(self.stop(name) for name in list(self.nannies)))


async def _closing(nanny: Nanny) -> None:
    """Return once the worker of ``nanny`` has told it that it closes (or it has closed)."""
    from distributed.core import Status  # lazy: after the environment is set

    while nanny.status not in (Status.closing_gracefully, Status.closing, Status.closed):
        await asyncio.sleep(0.02)


def _start_method() -> None:
    """Fork workers from a forkserver unless the inherited config or the environment says."""
    import dask.config  # lazy: after the environment is set (module doc)

    inherited = os.environ.get("DASK_INTERNAL_INHERIT_CONFIG")
    said = dask.config.deserialize(inherited) if inherited else {}
    if "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD" in os.environ:
        return
    if dask.config.get(METHOD, default=None, config=said) is None:
        dask.config.set({METHOD: "forkserver"})


def _warm() -> None:
    """Import distributed and start the forkserver that workers are forked from."""
    from distributed.utils import get_mp_context  # lazy: after the environment is set

    context = get_mp_context()  # type: ignore[no-untyped-call]
    if context.get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, done.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    agent = Agent()
    _say("ready", pid=os.getpid())
    lines = asyncio.ensure_future(_read(reader, agent))
    stopped = asyncio.ensure_future(done.wait())
    await asyncio.wait({lines, stopped}, return_when=asyncio.FIRST_COMPLETED)
    lines.cancel()
    stopped.cancel()
    await agent.close()


async def _read(reader: asyncio.StreamReader, agent: Agent) -> None:
    while line := await reader.readline():
        try:
            agent.handle(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError) as error:  # not a request
            _say("failed", name=None, error=f"bad request {line[:200]!r}: {error}")


def _env_from_stdin() -> None:
    """Take the environment from the first line of input: ``{"env": {NAME: VALUE}}``.

    Read byte by byte, so that nothing after that line is taken from the requests."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            break
        line += byte
    if line.strip():
        os.environ.update(json.loads(line)["env"])


def main() -> None:
    """Serve until stdin closes (``--env-on-stdin``: the first line sets the environment)."""
    if "--env-on-stdin" in sys.argv[1:]:
        _env_from_stdin()
    _start_method()
    _warm()
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
