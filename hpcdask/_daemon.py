"""Run a cluster's keeper (controller or login tunnel) as a detached process holding its name.

The first process takes the name's lock, forks, prints the child's pid and exits, so the caller
learns at once whether the name was free; the child keeps the lock (the kernel releases it when
the child exits, however it exits), leaves the caller's session and logs to the name's log file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
from collections.abc import Callable, Iterator

from hpcdask import state
from hpcdask.errors import HpcdaskError

__all__ = ["ALREADY_RUNNING", "detach", "name_lock", "take_error"]

logger = logging.getLogger("hpcdask")
#: Exit code of a keeper that found another one holding the name.
ALREADY_RUNNING = 3


@contextlib.contextmanager
def name_lock(name: str) -> Iterator[bool]:
    """Hold the name's lock for the block; yield False if another process holds it."""
    fd = os.open(state.lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _error_path(name: str) -> str:
    return str(state.state_dir() / f"{name}.error")


def _write_error(name: str, message: str) -> None:
    fd = os.open(_error_path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(message)


def take_error(name: str) -> str | None:
    """Return (and forget) why the last keeper of ``name`` gave up, if it said."""
    try:
        with open(_error_path(name)) as source:
            message = source.read().strip()
        os.unlink(_error_path(name))
    except FileNotFoundError:
        return None
    return message or None


def _become_daemon(name: str) -> None:
    os.setsid()
    sys.stdout.flush()
    log = os.open(state.log_path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def detach(name: str, run: Callable[[], None], what: str = "the controller") -> None:
    """Run ``run()`` in a detached child that holds ``name``'s lock; never returns.

    Prints the child's pid and exits 0, or exits ``ALREADY_RUNNING`` if the name is taken.
    """
    with name_lock(name) as locked:
        if not locked:
            print(f"hpcdask: cluster '{name}' is already running", file=sys.stderr)
            sys.exit(ALREADY_RUNNING)
        take_error(name)  # a message left by an earlier attempt is not ours
        child = os.fork()
        if child:
            print(child, flush=True)
            os._exit(0)
        _become_daemon(name)
        try:
            run()
        except HpcdaskError as error:  # a user's problem: one line for whoever waits on us
            logging.getLogger("hpcdask").error("%s", error)
            _write_error(name, str(error))
            os._exit(1)
        except Exception:
            logging.getLogger("hpcdask").exception("%s failed", what)
            os._exit(1)
        os._exit(0)
