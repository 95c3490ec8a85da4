"""Value types and model rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hpcdask._model import parse_size, walltime_seconds
from hpcdask.models import (
    AllocationSpec,
    LocalResource,
    Scaling,
    SlurmResource,
    SSHResource,
    WorkerSpec,
)


@pytest.mark.parametrize(
    ("text", "size"), [("8GB", 8 * 10**9), ("512 MiB", 512 * 2**20), (1024, 1024), ("1.5kB", 1500)]
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("01:00:00", "01:00:00"),
        ("1-00:30:00", "24:30:00"),
        ("2:30", "02:30:00"),
        (3600, "01:00:00"),
        ("100:00:00", "100:00:00"),
    ],
)
def test_walltimes(given: object, normal: str) -> None:
    assert SlurmResource(name="x", walltime=given).walltime == normal


def test_walltime_seconds() -> None:
    assert walltime_seconds("24:30:05") == 88205


def test_worker_shares() -> None:
    worker = WorkerSpec(cores=8, memory="16GB", processes=2)
    assert worker.threads_per_process() == 4
    assert worker.memory_per_process() == 8 * 10**9
    assert WorkerSpec(nthreads=3, cores=8).threads_per_process() == 3
    assert WorkerSpec().threads_per_process() is None


def test_scaling_forms() -> None:
    assert Scaling.model_validate(3).workers == 3
    assert not Scaling.model_validate(3).adaptive
    assert Scaling(minimum=0, maximum=4).adaptive
    assert Scaling(maximum=4).adaptive


def test_models_are_frozen() -> None:
    resource = LocalResource(name="x")
    with pytest.raises(ValidationError):
        resource.description = "changed"  # type: ignore[misc]


def test_ssh_hosts_list_counts_repeats() -> None:
    resource = SSHResource(name="x", hosts=["a", "b", "a"])
    assert {h: s.workers for h, s in resource.hosts.items()} == {"a": 2, "b": 1}
    assert list(SSHResource(name="x", hosts="a").hosts) == ["a"]


def test_jobqueue_top_level_worker_keys() -> None:
    resource = SlurmResource.model_validate(
        {"name": "x", "cores": 8, "memory": "16GB", "processes": 2, "python": "/bin/python3"}
    )
    assert resource.worker.cores == 8
    assert resource.worker.python == "/bin/python3"


def test_allocation_current() -> None:
    assert SlurmResource(name="x", allocation="current").allocation == AllocationSpec(current=True)
    assert SlurmResource(name="x", allocation={"nodes": 4}).allocation.nodes == 4  # type: ignore[union-attr]
