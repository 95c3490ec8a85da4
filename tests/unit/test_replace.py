"""The one mechanism that replaces workers which ended by themselves, on a stand-in cluster."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hpcdask.backends.replace import ReplacesEnded
from hpcdask.errors import HpcdaskError


class Adaptive:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop(self, reason: str) -> None:
        self.stopped.append(reason)


class Cluster(ReplacesEnded):
    """What a SpecCluster has that the mechanism uses: a spec, workers, scale, adaptive."""

    name = "demo"

    def __init__(self, limit: bool = False) -> None:
        self.worker_spec: dict[Any, Any] = {"w-0": {}, "w-1": {}, "w-2": {}}
        self.workers: dict[Any, Any] = {"w-0": "zero", "w-1": "one", "w-2": "two"}
        self._adaptive = Adaptive()
        self.scaled: list[int] = []
        self.forgotten: list[tuple[str, Any]] = []
        self.limit = limit

    def scale(self, n: int) -> None:
        self.scaled.append(n)

    def forget_ended(self, name: str, worker: Any) -> None:
        self.forgotten.append((name, worker))

    def stop_replacing(self, names: list[str]) -> HpcdaskError | None:
        return HpcdaskError(f"{len(names)} ended too often") if self.limit else None


def test_ended_workers_are_taken_out_and_asked_for_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = Cluster()
    del cluster.worker_spec["w-2"]  # being scaled down: not the mechanism's to replace
    ended = cluster.ended_planned(lambda worker: worker in ("one", "two"))
    assert ended == ["w-1"]
    with caplog.at_level(logging.INFO, logger="hpcdask.backends.replace"):
        taken = cluster.replace_ended([*ended, "w-2", "w-1"])
    assert taken == {"w-1": "one"}
    assert (list(cluster.worker_spec), list(cluster.workers)) == (["w-0"], ["w-0", "w-2"])
    assert cluster.forgotten == [("w-1", "one")]
    assert cluster.scaled == [2]  # the count asked for before
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "demo: w-1 ended; replacing them")
    ]
    assert cluster.replace_ended(["w-1"]) == {} and cluster.scaled == [2]


def test_a_limit_stops_replacing_and_adaptive_scaling(caplog: pytest.LogCaptureFixture) -> None:
    cluster = Cluster(limit=True)
    with caplog.at_level(logging.ERROR, logger="hpcdask.backends.replace"):
        taken = cluster.replace_ended(["w-0", "w-1"])
    assert taken == {"w-0": "zero", "w-1": "one"}
    assert list(cluster.worker_spec) == ["w-2"] and cluster.scaled == []
    assert cluster._adaptive.stopped == ["2 ended too often"]
    assert [r.getMessage() for r in caplog.records] == ["2 ended too often"]
