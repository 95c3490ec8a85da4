"""The login node's side of a tunnel: run over SSH by the user's own machine, never by hand.

``python -m hpcdask.login.agent info [COMMAND ...]`` prints one JSON line: versions, the state
folder and where each batch COMMAND is found; ``check`` runs the preflight checks of the
resource on stdin. ``python -m hpcdask.login.agent serve NAME``
starts cluster NAME from the resource (JSON, one line on stdin) unless it is already running
(``--attach-only``: never start it), prints JSON lines (``progress``, then ``record`` with
``credentials``, or ``error``), and then stays until the cluster stops (``{"gone": true}``) or
its stdin closes (the SSH connection is gone); leaving never stops the cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import sys
import threading
from importlib.metadata import version
from typing import Any

from hpcdask import state
from hpcdask._version import __version__
from hpcdask.backends import backend_of
from hpcdask.errors import HpcdaskError
from hpcdask.lifecycle import up
from hpcdask.login.protocol import NOT_RUNNING, NOT_RUNNING_THERE
from hpcdask.remote import find_running
from hpcdask.resource import from_dump
from hpcdask.security import saved

__all__ = ["main"]


def _say(**message: Any) -> None:
    print(json.dumps(message), flush=True)


def info(commands: list[str]) -> dict[str, Any]:
    """Return what the user's machine checks before it relies on this login node."""
    return {
        "hpcdask": __version__,
        "dask": version("dask"),
        "distributed": version("distributed"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "state_dir": str(state.state_dir()),
        "commands": {command: shutil.which(command) for command in commands},
    }


def _read_resource() -> Any:
    return from_dump(json.loads(sys.stdin.readline()))


def check() -> dict[str, Any]:
    """Run the preflight checks of the resource on stdin, here where its batch system is."""
    resource = _read_resource()
    found = backend_of(resource).checks(resource)
    return {"checks": [{"name": c.name, "status": c.status.value, "detail": c.detail}
                       for c in found]}  # fmt: skip


def _start_or_find(name: str, attach_only: bool) -> Any:
    if attach_only:
        return find_running(name)
    said: list[str] = []

    def progress(text: str) -> None:  # `up` repeats itself while it waits: say each once
        if not said or said[-1] != text:
            said.append(text)
            _say(progress=text)

    return up(_read_resource(), progress=progress)


def _stdin_closed() -> threading.Event:
    closed = threading.Event()

    def watch() -> None:
        while sys.stdin.readline():
            pass
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def serve(name: str, attach_only: bool) -> int:
    """Start or find cluster ``name``, report it, and stay while both ends live."""
    try:
        record = _start_or_find(name, attach_only)
        if record is None:
            _say(error=f"cluster '{name}' {NOT_RUNNING_THERE}")
            return NOT_RUNNING
        credentials = saved(name)
        if credentials is None:
            _say(error=f"cluster '{name}': its credentials are missing on the login node")
            return 1
        _say(record=dataclasses.asdict(record), credentials=credentials)
    except HpcdaskError as error:
        _say(error=str(error))
        return 1
    closed = _stdin_closed()
    while not closed.wait(0.5):
        running = find_running(name)
        if running is None or running.pid != record.pid:
            _say(gone=True)
            return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the agent's command line; return its exit code."""
    parser = argparse.ArgumentParser(prog="python -m hpcdask.login.agent")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info").add_argument("commands", nargs="*")
    commands.add_parser("check")
    serving = commands.add_parser("serve")
    serving.add_argument("name")
    serving.add_argument("--attach-only", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "info":
        _say(**info(args.commands))
        return 0
    if args.command == "check":
        _say(**check())
        return 0
    return serve(args.name, args.attach_only)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
