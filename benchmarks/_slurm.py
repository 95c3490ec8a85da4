"""Helpers the Slurm benchmarks share: waiting, squeue look-ups, resource files, clean-up.

Not a benchmark itself. The scripts import it as a sibling module (``python benchmarks/X.py``
puts ``benchmarks/`` first on ``sys.path``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["cancel_named", "idle_nodes", "in_queue", "wait", "write_resource"]


def wait(condition: Callable[[], bool], timeout: float = 120, what: str = "benchmark step") -> None:
    """Poll ``condition`` every 10 ms until it holds; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout:g} s")
        time.sleep(0.01)


def _squeue(*args: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", *args], capture_output=True, text=True, check=False
    ).stdout
    return out.splitlines()


def in_queue(job_ids: Iterable[str]) -> list[str]:
    """Those of ``job_ids`` that squeue still lists (pending, running or completing)."""
    wanted = list(job_ids)
    if not wanted:
        return []
    return [job for job in _squeue("-o", "%i", "-j", ",".join(wanted)) if job in wanted]


def idle_nodes(queue: str, timeout: float = 60) -> None:
    """Wait until every node of partition ``queue`` is idle (the last variant's jobs gone)."""

    def idle() -> bool:
        out = subprocess.run(["sinfo", "-h", "-N", "-p", queue, "-o", "%T"],
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
        return bool(out.split()) and all(state == "idle" for state in out.split())

    wait(idle, timeout, f"idle nodes in partition {queue!r}")


def write_resource(folder: Path, name: str, resource: dict[str, Any]) -> Path:
    """Write a config file holding the one resource ``name``; return its path."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"resources": {name: resource}}))
    return path


def cancel_named(names: Iterable[str]) -> list[str]:
    """Cancel this user's live jobs named one of ``names`` (a safety net); return their ids.

    Jobs already completing (cancelled, their processes ending) are left alone.
    """
    wanted = set(names)
    rows = (line.split("|", 1) for line in _squeue("--me", "-t", "PD,CF,R,S", "-o", "%i|%j"))
    ids = [job for job, name in rows if name in wanted]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, check=False)
    return ids
