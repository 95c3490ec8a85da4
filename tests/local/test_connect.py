"""connect() on the local type: a real LocalCluster, configured from the resource."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from distributed import Client

import hpcdask
from hpcdask import registry

RESOURCE = """
resources:
  small:
    type: local
    worker: {processes: 2, cores: 2, memory: 1GB, nice: 7, gpus: 1, env: {HPCDASK_TEST: "yes"}}
    dashboard-address: ":0"
    dask:
      distributed.scheduler.allowed-failures: 7
      distributed:
        worker:
          memory:
            target: 0.55
"""


@pytest.fixture
def configs(isolated_config: Path) -> Path:
    (isolated_config / "configs").mkdir()
    (isolated_config / "configs" / "small.yaml").write_text(RESOURCE)
    return isolated_config / "configs"


def _children() -> list[psutil.Process]:
    """This process's descendants, less multiprocessing's resource tracker (it lives on)."""
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "resource_tracker" not in " ".join(p.cmdline())
    ]


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    before = {p.pid for p in _children()}
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in _children() if p.pid not in before]
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes left behind: {[p.cmdline() for p in left]}")


def _environ(key: str) -> str | None:
    """Read the worker's environment (``os.environ.get`` would pickle this process's)."""
    return os.environ.get(key)


def test_connect_computes_with_the_resource_settings(configs: Path, no_leftovers: None) -> None:
    with hpcdask.connect("small") as cluster, Client(cluster) as client:
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == 2
        assert {w["nthreads"] for w in workers} == {1}
        assert {w["memory_limit"] for w in workers} == {500_000_000}
        assert {tuple(w["resources"].items()) for w in workers} == {(("GPU", 1),)}
        assert set(client.run(os.getpriority, os.PRIO_PROCESS, 0).values()) == {7}
        assert set(client.run(_environ, "HPCDASK_TEST").values()) == {"yes"}
        targets = client.run(
            lambda: __import__("dask").config.get("distributed.worker.memory.target")
        )
        assert set(targets.values()) == {0.55}
        failures = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        assert failures == 7
        assert client.submit(sum, range(10)).result() == 45
        with urllib.request.urlopen(cluster.dashboard_link, timeout=10) as page:
            assert page.status == 200


def test_overrides_at_call_time(configs: Path, no_leftovers: None) -> None:
    overrides = {"worker": {"processes": 1, "nice": None}}
    with hpcdask.connect("small", **overrides) as cluster, Client(cluster) as client:
        workers = client.scheduler_info()["workers"].values()
        assert [w["nthreads"] for w in workers] == [2]
        assert set(client.run(os.getpriority, os.PRIO_PROCESS, 0).values()) == {0}


def test_adaptive_scaling_follows_the_work(configs: Path, no_leftovers: None) -> None:
    scaling = {"minimum": 0, "maximum": 2, "interval": "100ms", "target-duration": "1s"}
    with hpcdask.connect("small", scaling=scaling) as cluster, Client(cluster) as client:
        assert cluster._adaptive is not None
        assert len(cluster.workers) == 0
        futures = client.map(time.sleep, [0.5] * 20, pure=False)
        client.gather(futures)
        assert len(client.scheduler_info()["workers"]) >= 1
        del futures
        deadline = time.monotonic() + 30
        while cluster.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not cluster.workers


def test_fixed_scaling(configs: Path, no_leftovers: None) -> None:
    with hpcdask.connect("small", scaling=3) as cluster, Client(cluster) as client:
        client.wait_for_workers(3, timeout=30)
        assert len(client.scheduler_info()["workers"]) == 3


def test_unsupported_type_is_a_clear_error(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(registry.KINDS, "slurm")
    with pytest.raises(hpcdask.UnsupportedTypeError, match="type 'slurm' are validated but"):
        hpcdask.connect("x", config=_write_slurm(configs))


def _write_slurm(folder: Path) -> Path:
    path = folder / "slurm.yaml"
    path.write_text(
        "resources:\n  x: {type: slurm, queue: normal, worker: {cores: 1, memory: 1GB}}\n"
    )
    return path


def test_dask_block_keeps_distributed_config_in_a_fresh_process(isolated_config: Path) -> None:
    """Starting a cluster with a dask: block must not drop distributed's own config."""
    code = (
        "import hpcdask, dask.config\n"
        "c = hpcdask.connect('local', worker={'processes': 1}, dashboard_address=':0',\n"
        "                    dask={'distributed.scheduler.idle-timeout': '1h'})\n"
        "print(dask.config.get('distributed.deploy.lost-worker-timeout'))\n"
        "c.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "15s\n"


TUNED = """
resources:
  tuned:
    type: local
    worker: {processes: 1, cores: 1, memory: 1GB}
    dashboard-address: ":0"
    dask:
      distributed:
        worker:
          memory: {target: 0.9, pause: 0.95}
        comm: {compression: null}
"""


def _settings() -> tuple[object, object, bool]:
    import dask.config

    comm = dask.config.get("distributed.comm")
    target = dask.config.get("distributed.worker.memory.target")
    return comm["compression"], target, "require-encryption" in comm


def test_dask_block_with_a_null_reaches_the_workers(
    isolated_config: Path, no_leftovers: None
) -> None:
    """The block dask-hpcconfig's sites carry: its null is kept, no section is replaced."""
    config = isolated_config / "tuned.yaml"
    config.write_text(TUNED)
    with hpcdask.connect("tuned", config=config) as cluster, Client(cluster) as client:
        assert set(client.run(_settings).values()) == {(None, 0.9, True)}
        assert client.submit(sum, range(10)).result() == 45
