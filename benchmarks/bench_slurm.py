"""hpcdask's Slurm clusters against raw dask-jobqueue SLURMCluster, on the same Slurm.

Two figures, medians of several repetitions, the two variants alternating so that drift hits
both alike: from scale(4) to 4 connected workers, and from scale(0) to none of the cluster's
jobs left in squeue. Both clusters have the same workers (1 core, 500 MB, one process, same
Python, same walltime) and no TLS; hpcdask polls job states at its default interval. Slurm
starts jobs on a one-second scheduling tick, so single runs vary by up to a second: take the
median of many.

Run it where `sbatch` works (on the testbed: `. /tmp/hpcdask-testbed/env.sh` first):

    python benchmarks/bench_slurm.py --repeat 15 --queue debug
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _slurm import idle_nodes, in_queue, wait

import hpcdask

WORKERS = 4


def raw_cluster(queue: str, logs: str) -> Any:
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        queue=queue, cores=1, memory="500MB", processes=1, walltime="00:30:00",
        death_timeout=30, python=sys.executable, log_directory=logs,
        scheduler_options={"dashboard_address": ":0"},
    )  # fmt: skip


def hpcdask_cluster(queue: str, logs: str, folder: Path) -> Any:
    config = folder / "bench.yaml"
    config.write_text(
        "resources:\n  bench:\n    type: slurm\n"
        f"    queue: {queue}\n    worker: {{cores: 1, memory: 500MB, processes: 1}}\n"
        f"    walltime: '00:30:00'\n    death-timeout: 30\n    log-directory: {logs}\n"
        "    dashboard-address: ':0'\n    tls: false\n    scaling: 0\n"
    )
    return hpcdask.connect("bench", config=config)


def scale_up(cluster: Any) -> float:
    """Seconds from scale(4) to 4 workers connected to the scheduler."""
    start = time.perf_counter()
    cluster.scale(WORKERS)
    wait(lambda: len(cluster.scheduler.workers) >= WORKERS)
    return time.perf_counter() - start


def scale_down(cluster: Any) -> float:
    """Seconds from scale(0) to none of the cluster's jobs in squeue."""
    ids = [str(job.job_id) for job in cluster.workers.values() if job.job_id]
    start = time.perf_counter()
    cluster.scale(0)
    wait(lambda: not in_queue(ids))
    elapsed = time.perf_counter() - start
    wait(lambda: not cluster.scheduler.workers)  # a clean start for the next round
    return elapsed


def measure(clusters: dict[str, Any], repeat: int, queue: str) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, list[float]]] = {name: {"up": [], "down": []} for name in clusters}
    for round_ in range(repeat + 1):  # round 0 warms caches for both, and is dropped
        order = list(clusters) if round_ % 2 else list(reversed(clusters))
        for name in order:
            idle_nodes(queue)
            up, down = scale_up(clusters[name]), scale_down(clusters[name])
            if round_:
                times[name]["up"].append(up)
                times[name]["down"].append(down)
    return {
        name: {step: statistics.median(values) for step, values in steps.items()}
        for name, steps in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--queue", default="debug")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcdask-bench-") as folder:
        logs = str(Path(folder) / "logs")
        clusters = {
            "raw SLURMCluster": raw_cluster(args.queue, logs),
            "hpcdask.connect": hpcdask_cluster(args.queue, logs, Path(folder)),
        }
        try:
            medians = measure(clusters, args.repeat, args.queue)
        finally:
            for cluster in clusters.values():
                cluster.close()
    raw, ours = medians["raw SLURMCluster"], medians["hpcdask.connect"]
    print(f"Slurm queue {args.queue!r}, median of {args.repeat} (alternating):")
    print(f"  {'':<18} {'scale(4) -> 4 workers':>22} {'scale(0) -> empty queue':>24}")
    for name, figures in medians.items():
        print(f"  {name:<18} {figures['up']:>20.3f} s {figures['down']:>22.3f} s")
    print(f"  {'ratio hpcdask/raw':<18} {ours['up'] / raw['up']:>22.3f} "
          f"{ours['down'] / raw['down']:>24.3f}   (target <= 1.05)")  # fmt: skip


if __name__ == "__main__":
    main()
