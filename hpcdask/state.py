"""Records of running clusters, on disk: one JSON file per cluster in a private folder.

The folder is ``$HPCDASK_STATE_DIR``, else ``$XDG_STATE_HOME/hpcdask``, else
``~/.local/state/hpcdask``; it is made with mode 0700 and every file in it with 0600. A record
is written atomically (a temporary file renamed over the old one), so readers never see half
of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcdask._process import started
from hpcdask.errors import HpcdaskError

__all__ = [
    "Record",
    "StateError",
    "lock_path",
    "log_path",
    "read",
    "records",
    "remove",
    "state_dir",
    "write",
]


class StateError(HpcdaskError):
    """A record on disk cannot be read; ``name`` is the cluster's (its file's) name."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Record:
    """What ``hpcdask up`` leaves for other processes to find a running cluster by name."""

    name: str
    type: str
    scheduler_address: str
    dashboard_link: str
    controller_address: str
    pid: int
    started: float
    version: str
    #: Ids of the batch jobs (a pilot's allocations) the cluster holds and that have not
    #: ended; its controller writes the record again whenever they change.
    jobs: tuple[str, ...] = field(default_factory=tuple)
    #: ``user@host`` of the login node the cluster runs behind (reached through a tunnel).
    login: str = ""
    #: When process ``pid`` started (seconds since the epoch; 0: not known), so that a pid
    #: reused by another process is never taken for this cluster's keeper. :func:`write`
    #: sets it whenever the keeper writes its own record.
    pid_start: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Return the record ``dataclasses.asdict`` gave ``data`` for (JSON has no tuples).

        Keys this version does not know (a newer hpcdask wrote the record) are ignored.

        Raises
        ------
        TypeError
            When a key every record has is missing, or the pid is not a number.

        Examples
        --------
        >>> data = {"name": "x", "type": "local", "scheduler_address": "tls://h:1",
        ...         "dashboard_link": "", "controller_address": "tls://h:2", "pid": 7,
        ...         "started": 0.0, "version": "9.9", "jobs": ["1"], "newer": True}
        >>> Record.from_dict(data).jobs
        ('1',)
        """
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {key: value for key, value in data.items() if key in known}
        if not isinstance(kept.get("pid"), int):
            raise TypeError(f"pid is {kept.get('pid')!r}, not a process id")
        return cls(**{**kept, "jobs": tuple(kept.get("jobs", ()))})


def state_dir() -> Path:
    """Return the private folder of records, logs and locks, creating it (0700) if needed."""
    base = os.environ.get("HPCDASK_STATE_DIR")
    if base:
        folder = Path(base)
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
        folder = Path(xdg) / "hpcdask"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _path(name: str) -> Path:
    return state_dir() / f"{name}.json"


def log_path(name: str) -> Path:
    """Return the controller log of cluster ``name``."""
    return state_dir() / f"{name}.log"


def lock_path(name: str) -> Path:
    """Return the lock file a controller holds for as long as it runs."""
    return state_dir() / f"{name}.lock"


def write(record: Record) -> None:
    """Write ``record`` atomically with mode 0600; a keeper's own record gets its start time.

    A login tunnel writes a record made from the controller's on the login node: the start
    time is always this process's when the record names this process.
    """
    if record.pid == os.getpid():  # its keeper's own (a tunnel's is made from another's)
        record = dataclasses.replace(record, pid_start=started(record.pid) or 0.0)
    target = _path(record.name)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{record.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(dataclasses.asdict(record), out, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _load(path: Path) -> Record:
    try:
        return Record.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as error:
        raise StateError(
            f"{path}: the record of a running cluster is damaged ({error}); "
            f"remove it with `hpcdask down {path.stem}`",
            path.stem,
        ) from None


def read(name: str) -> Record | None:
    """Return the record of cluster ``name``, or None if there is none."""
    path = _path(name)
    if not path.exists():
        return None
    return _load(path)


def records() -> Iterator[Record | StateError]:
    """Yield every record (or the error of a damaged one), sorted by name."""
    for path in sorted(state_dir().glob("*.json")):
        try:
            yield _load(path)
        except StateError as error:
            yield error


def remove(name: str) -> None:
    """Forget cluster ``name``: its record (its log is kept for `hpcdask logs`)."""
    with contextlib.suppress(FileNotFoundError):
        _path(name).unlink()
