"""Workers inside a held allocation vs new batch jobs: time from scale(4) to 4 workers.

Needs the test Slurm (sudo tests/infra/up.sh). Four variants alternate, medians printed:
hpcdask pilots scaling 0 → 4 inside an allocation they already hold; dask-jobqueue's
SLURMCluster scale(4) (four new batch jobs); and two floors on this machine: LocalCluster
(n_workers=4) starting, and a running LocalCluster scaling 0 → 4. Everything stays on loopback
(the test Slurm's nodes are 127.0.0.1). The pilot's node agents start with its allocation (in
the first, untimed scale-up) and fork workers from a warm forkserver; LocalCluster starts each
worker with distributed's default, a fresh spawned interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _slurm import wait, write_resource
from dask_jobqueue import SLURMCluster
from distributed import Client, LocalCluster

import hpcdask


def _until(client: Client, n: int, timeout: float = 120) -> None:
    wait(lambda: len(client.scheduler_info()["workers"]) == n, timeout, f"scaling to {n} workers")


def _timed_scale(cluster: object, client: Client) -> float:
    start = time.perf_counter()
    cluster.scale(4)  # type: ignore[attr-defined]
    _until(client, 4)
    elapsed = time.perf_counter() - start
    cluster.scale(0)  # type: ignore[attr-defined]
    _until(client, 0)
    return elapsed


def _local() -> float:
    start = time.perf_counter()
    with (
        LocalCluster(n_workers=4, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        _until(client, 4)
        return time.perf_counter() - start


def _pilot_config(folder: Path) -> Path:
    resource: dict[str, object] = {
        "type": "slurm",
        "queue": "debug",
        "walltime": "00:30:00",
        "tls": False,
        "scheduler-host": "127.0.0.1",
        "dashboard-address": ":0",
        "worker": {"cores": 2, "processes": 2, "memory": "1GB"},
        "allocation": {"nodes": 2, "idle-timeout": "1h"},
        "scaling": 0,
    }
    return write_resource(folder, "pilot", resource)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"pilot": [], "jobqueue": [], "local": [], "local-scale": []}
    with tempfile.TemporaryDirectory() as folder:
        pilot = hpcdask.connect("pilot", config=_pilot_config(Path(folder)))
        jobqueue = SLURMCluster(
            cores=1,
            processes=1,
            memory="1GB",
            queue="debug",
            walltime="00:30:00",
            interface="lo",
            scheduler_options={"dashboard_address": ":0"},
        )
        local = LocalCluster(n_workers=0, threads_per_worker=1, dashboard_address=":0")
        with (
            pilot,
            jobqueue,
            local,
            Client(pilot) as pc,
            Client(jobqueue) as jc,
            Client(local) as lc,
        ):
            _timed_scale(pilot, pc)  # the first scale-up acquires the allocation
            steps: dict[str, Callable[[], float]] = {
                "pilot": lambda: _timed_scale(pilot, pc),
                "jobqueue": lambda: _timed_scale(jobqueue, jc),
                "local": _local,
                "local-scale": lambda: _timed_scale(local, lc),
            }
            for _ in range(args.repeat):
                for name, step in steps.items():
                    times[name].append(step())
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"scale(4) -> 4 workers registered (median of {args.repeat}):")
    print(f"  hpcdask pilot, inside a held allocation  {med['pilot']:6.3f} s")
    print(f"  dask-jobqueue SLURMCluster (new jobs)    {med['jobqueue']:6.3f} s")
    print(f"  LocalCluster(4) start, the floor         {med['local']:6.3f} s")
    print(f"  LocalCluster running, scale 0 -> 4       {med['local-scale']:6.3f} s")
    print(
        f"  pilot / jobqueue {med['pilot'] / med['jobqueue']:.2f} (target <= 0.5), "
        f"pilot / local {med['pilot'] / med['local']:.2f} (target <= 1.3)"
    )


if __name__ == "__main__":
    main()
