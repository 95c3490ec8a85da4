"""``hpcdask status`` of a pilot cluster: its allocations, in the table and in ``--json``.

The controller is faked at the seam ``hpcdask.remote.call``; what it answers is the real
``snapshot()`` of a stand-in cluster whose allocations come from a real pilot's slot book.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from hpcdask import state
from hpcdask.backends.base import Reports
from hpcdask.cli import render
from hpcdask.cli.main import cli
from hpcdask.controller import snapshot
from hpcdask.pilot.pilot import Pilot, PilotSettings
from hpcdask.pilot.slots import AllocationSlots, Node, SlotBook, WorkerSize

GB = 10**9


def _pilot() -> Pilot:
    book = SlotBook(WorkerSize(1, GB, per_node=2))
    nodes = (Node("n1", 4, 4 * GB), Node("n2", 4, 4 * GB))
    book.allocations["41"] = AllocationSlots("41", 2, True, nodes, ends_at=time.time() + 3725.5)
    book.allocations["42"] = AllocationSlots("42", 3)
    for worker in ("w0", "w1", "w2"):
        book.place(worker, time.time(), 60)
    return Pilot(None, None, book, PilotSettings(margin=60), wanted=lambda: 3)  # type: ignore[arg-type]


class StandIn(Reports):
    """What the controller reads of a cluster: its scheduler's view and what it reports."""

    _adaptive = None
    dashboard_link = "http://127.0.0.1:8787/status"
    scheduler_address = "tcp://127.0.0.1:8786"

    def __init__(self, allocations: Callable[[], list[dict[str, object]]] | None) -> None:
        workers = {f"tcp://10.0.0.{i}:1": {"nthreads": 1, "memory_limit": GB} for i in range(3)}
        self.scheduler_info = {"workers": workers}
        self.worker_spec = dict.fromkeys(["w0", "w1", "w2", "w3"])
        self._allocations = allocations

    def allocations(self) -> list[dict[str, object]] | None:
        return self._allocations() if self._allocations else None


def _snapshot(name: str, allocations: Any) -> dict[str, Any]:
    stand_in = StandIn(allocations)
    resource = SimpleNamespace(name=name, type="slurm")
    report = snapshot(stand_in, resource, time.time() - 65)  # type: ignore[arg-type]
    return json.loads(json.dumps(report))  # as it crosses the wire


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Two running clusters, a pilot one and a plain batch one, behind faked controllers."""
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(tmp_path / "state"))
    reports = {"hpc": _snapshot("hpc", _pilot().describe), "jobs": _snapshot("jobs", None)}
    for name in reports:
        state.write(state.Record(name, "slurm", "tcp://x:1", "http://x", "tls://y:2", os.getpid(),
                                 time.time(), "0"))  # fmt: skip
    monkeypatch.setattr("hpcdask.remote.call", lambda record, op, **_: reports[record.name])
    return reports


def test_status_shows_the_allocations_of_a_pilot_cluster(running: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["status", "hpc"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[:4] == ["hpc", "slurm", "running", "3/4"]
    at = lines.index("hpc allocations:")
    assert lines[at + 1].split() == ["job", "state", "nodes", "walltime", "left", "workers", "per",
                                     "node"]  # fmt: skip
    assert lines[at + 2].split() == ["41", "running", "n1,n2", "1h02m", "n1:", "2,", "n2:", "1"]
    assert lines[at + 3].split() == ["42", "pending", "(3", "requested)", "-", "-"]
    assert len(lines) == at + 4


def test_status_json_has_the_same_allocations(running: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["status", "hpc", "--json"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    rows = report["allocations"]
    assert [(r["id"], r["state"], r["nodes"], r["size"]) for r in rows] == [
        ("41", "running", ["n1", "n2"], 2),
        ("42", "pending", [], 3),
    ]
    assert rows[0]["workers"] == {"n1": 2, "n2": 1}
    assert 3700 < rows[0]["walltime_left"] <= 3725
    assert rows[1]["walltime_left"] is None
    assert render.allocation_rows(rows)[0][:4] == ["41", "running", "n1,n2", "1h02m"]


def test_clusters_without_allocations_show_no_allocation_table(running: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    assert "hpc allocations:" in result.stdout
    assert "jobs allocations" not in result.stdout and "jobs: no allocation" not in result.stdout
    assert (
        json.loads(CliRunner().invoke(cli, ["status", "jobs", "--json"]).stdout)[0]["allocations"]
        is None
    )


def test_a_pilot_without_allocations_says_so(running: dict[str, Any]) -> None:
    running["hpc"]["allocations"] = []
    result = CliRunner().invoke(cli, ["status", "hpc"])
    assert result.stdout.rstrip().endswith("hpc: no allocation held")
