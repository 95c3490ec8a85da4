"""The process that keeps a cluster behind a login node reachable from this machine.

It logs into the login node, has the agent there start the cluster's controller (or find it
running), forwards the scheduler, dashboard and controller ports to this machine's loopback
over the same SSH connection, saves the cluster's credentials (0600) and writes a record whose
addresses are the forwarded ones, so ``Client``, the browser and every ``hpcdask`` command work
as for a cluster started here. It leaves when the cluster stops or the connection is lost; the
cluster itself lives on (``hpcdask attach NAME`` or ``connect(NAME)`` reconnects).

Run as ``python -m hpcdask.login.tunnel`` with a JSON request on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from hpcdask import security, state
from hpcdask._daemon import detach
from hpcdask.login.session import LoginError, agent_command, login_node, open_login
from hpcdask.resource import from_dump

if TYPE_CHECKING:
    import asyncssh

    from hpcdask.models import LoginSpec, Resource

__all__ = ["dashboard_target", "main", "remote_resource"]

logger = logging.getLogger("hpcdask.login")


def remote_resource(resource: Resource) -> dict[str, Any]:
    """Return the resource as the login node starts it: the same keys, minus ``login``."""
    data = resource.model_dump(mode="json")
    data.pop("login", None)
    return data


async def _answer(process: asyncssh.SSHClientProcess[str], login: LoginSpec) -> dict[str, Any]:
    """Read the agent's lines until it reports the cluster (or an error)."""
    while line := await process.stdout.readline():
        message = json.loads(line) if line.startswith("{") else {"progress": line.strip()}
        if "progress" in message:
            logger.info("login node: %s", message["progress"])
        elif "error" in message:
            raise LoginError(login, message["error"])
        elif "record" in message:
            return dict(message)
    said = (await process.stderr.read()).strip().splitlines()
    raise LoginError(login, f"the hpcdask agent stopped: {said[-1] if said else 'no output'}")


async def _forward(
    connection: asyncssh.SSHClientConnection, login: LoginSpec, target: str, port: int = 0
) -> int:
    """Forward a port of this machine's loopback to ``target`` (host:port seen from the login
    node); return the local port."""
    from distributed.comm.addressing import get_address_host_port

    host, remote_port = get_address_host_port(target)
    try:
        listener = await connection.forward_local_port("127.0.0.1", port, host, remote_port)
    except OSError as error:
        raise LoginError(
            login, f"cannot forward port {port} on this machine to {target}: {error.strerror}"
        ) from None
    return int(listener.get_port())


def dashboard_target(link: str, bind: str) -> str:
    """Return ``host:port`` where the login node reaches the dashboard.

    The link names the scheduler's host, but the dashboard listens where ``bind`` (the
    resource's ``dashboard-address``) says, loopback by default.

    Examples
    --------
    >>> dashboard_target("http://10.0.0.5:8787/status", "127.0.0.1:8787")
    '127.0.0.1:8787'
    >>> dashboard_target("http://10.0.0.5:41000/status", ":0")
    '10.0.0.5:41000'
    """
    netloc = urlsplit(link).netloc
    host = bind.rpartition(":")[0].strip("[]")
    if host in ("", "0.0.0.0", "::", "*"):
        return netloc
    return f"{host}:{netloc.rpartition(':')[2]}"


async def _local_record(
    connection: asyncssh.SSHClientConnection, resource: Resource, remote: state.Record
) -> state.Record:
    """Forward the cluster's ports; return its record as seen through the forwards."""
    login = login_node(resource)
    scheme = remote.scheduler_address.split("://")[0]
    scheduler = await _forward(connection, login, remote.scheduler_address)
    controller = await _forward(connection, login, remote.controller_address)
    link = remote.dashboard_link
    if link:
        target = dashboard_target(link, resource.dashboard_address)
        local = await _forward(connection, login, target, login.dashboard_port or 0)
        link = urlunsplit(urlsplit(link)._replace(netloc=f"127.0.0.1:{local}"))
    return dataclasses.replace(
        remote,
        scheduler_address=f"{scheme}://127.0.0.1:{scheduler}",
        controller_address=f"tls://127.0.0.1:{controller}",
        dashboard_link=link,
        pid=os.getpid(),
        login=login.target(),
    )


async def _serve(resource: Resource, attach_only: bool) -> None:
    login = login_node(resource)
    async with await open_login(login) as connection:
        args = ["serve", resource.name, *(["--attach-only"] if attach_only else [])]
        process = await connection.create_process(agent_command(login, *args))
        if not attach_only:
            process.stdin.write(json.dumps(remote_resource(resource)) + "\n")
        answer = await _answer(process, login)
        remote = state.Record.from_dict(answer["record"])
        record = await _local_record(connection, resource, remote)
        security.save(resource.name, security.from_pem(answer["credentials"]))
        state.write(record)
        logger.info("cluster %s on %s reachable at %s", resource.name, login.target(),
                    record.scheduler_address)  # fmt: skip
        try:
            await _until_gone(process)
        finally:
            _forget(resource.name)


async def _until_gone(process: asyncssh.SSHClientProcess[str]) -> None:
    """Return when the cluster stops (the agent says so) or the connection is lost."""
    import asyncssh

    try:
        while line := await process.stdout.readline():
            if '"gone"' in line:
                logger.info("the cluster stopped")
                return
    except (asyncssh.Error, ConnectionError) as error:
        logger.info("connection to the login node lost (%s)", error)
        return
    logger.info("connection to the login node lost; `hpcdask attach` reconnects")


def _forget(name: str) -> None:
    record = state.read(name)
    if record is not None and record.pid == os.getpid():
        state.remove(name)
        security.remove(name)


async def _main(resource: Resource, attach_only: bool) -> None:
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    task = asyncio.ensure_future(_serve(resource, attach_only))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    """Read the request from stdin, then keep the tunnel detached, holding the name's lock."""
    request = json.load(sys.stdin)
    resource = from_dump(request["resource"])
    attach_only = bool(request.get("attach_only"))
    detach(resource.name, lambda: asyncio.run(_main(resource, attach_only)), "the tunnel")


if __name__ == "__main__":  # pragma: no cover
    main()
