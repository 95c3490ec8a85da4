"""A bursty workload under adaptive scaling: hpcdask pilots vs dask-jobqueue (issue #7).

Three bursts of short tasks (300 tasks of 75 ms each) separated by idle gaps (10 s), on the
test Slurm, with a simulated queue wait of 20 s for every new batch job: ``--begin=now+20``
as an extra directive, applied alike to the pilot's allocations (``job-extra-directives``)
and to dask-jobqueue's worker jobs (``job_extra_directives``). Both variants scale adaptively
with the same settings, distributed's and hpcdask's defaults (0 to 4 workers, interval 1 s,
wait-count 3, target-duration 5 s), so both retire their workers ~2.5 s after a burst:
dask-jobqueue cancels its jobs and queues new ones for the next burst, while the pilot keeps
its allocations (idle-timeout 5 min) and starts workers inside them again in seconds.

Same workers for both: one dask-jobqueue job, or one node of a pilot allocation, holds two
workers of 2 threads and 1 GB (cores 4, processes 2, memory 2GB); no TLS; the schedulers on
loopback. The figure is the time to solution of the whole workload, gaps included, from the
first burst's submission to the last result; medians of ``--reps`` runs, variants alternating,
each run on a fresh cluster (so each pays for its first allocation or jobs). At the end of each
gap it counts the batch jobs still in ``squeue`` and the workers the scheduler still has: no
workers means the gap was long enough for adaptive scaling to release them all.

Needs the test Slurm (``tests/infra/up.sh``); hold the testbed lock while it runs:

    . /tmp/hpcdask-testbed/env.sh
    flock /tmp/hpcdask-testbed.lock python benchmarks/bench_bursty.py --reps 3
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from _slurm import cancel_named, idle_nodes, in_queue, write_resource
from dask_jobqueue.slurm import SLURMCluster, SLURMJob
from distributed import Client

import hpcdask
from hpcdask.pilot.cluster import PilotCluster

#: One batch job (dask-jobqueue) or one node (pilot): two workers of 2 threads and 1 GB.
WORKER = {"cores": 4, "processes": 2, "memory": "2GB"}
#: The same adaptive settings for both variants (distributed's and hpcdask's defaults).
ADAPT: dict[str, Any] = {
    "minimum": 0,
    "maximum": 4,
    "interval": "1s",
    "wait_count": 3,
    "target_duration": "5s",
}
#: Pilot allocations of one node (like one job of dask-jobqueue), kept through the gaps.
ALLOCATION = {"nodes": 1, "maximum": 2, "idle-timeout": "5m"}
TAG = f"bursty-{os.getpid()}"
PILOT_JOB, RAW_JOB = f"hpcdask-{TAG}", f"{TAG}-jq"  # batch job names, for the safety net


@dataclass(frozen=True)
class Workload:
    """The bursts, the gaps between them, and the Slurm they run on."""

    bursts: int = 3
    tasks: int = 300
    seconds: float = 0.075
    gap: float = 10.0
    queue_wait: int = 20
    queue: str = "debug"

    @property
    def directive(self) -> str:
        """The extra directive that makes every new batch job wait in the queue."""
        return f"--begin=now+{self.queue_wait}"


@dataclass(frozen=True)
class Run:
    """One run of the workload on one variant."""

    total: float
    bursts: tuple[float, ...]
    jobs: int  # batch jobs submitted
    held: tuple[int, ...]  # of those, still in squeue at the end of each gap
    warm: tuple[int, ...]  # workers the scheduler still had at the end of each gap


class CountedSLURMJob(SLURMJob):
    """dask-jobqueue's Slurm job, noting the id of every job it submits."""

    ids: ClassVar[list[str]] = []

    def _job_id_from_submit_output(self, out: str) -> str:
        job_id = str(super()._job_id_from_submit_output(out))  # type: ignore[no-untyped-call]
        CountedSLURMJob.ids.append(job_id)
        return job_id


def task(i: int, seconds: float) -> int:
    time.sleep(seconds)
    return i * i


def burst(client: Client, workload: Workload) -> float:
    """Run one burst; return its seconds from submission to the last result, checked."""
    start = time.perf_counter()
    futures = client.map(task, range(workload.tasks), seconds=workload.seconds, pure=False)
    results = client.gather(futures)  # type: ignore[no-untyped-call]
    elapsed = time.perf_counter() - start
    del futures  # nothing stays in memory on the workers: they may all retire
    if results != [i * i for i in range(workload.tasks)]:
        raise RuntimeError("a burst computed wrong results")
    return elapsed


def run_workload(client: Client, workload: Workload, jobs: Callable[[], list[str]]) -> Run:
    """Run the bursts and gaps; ``jobs()`` names the batch jobs the cluster submitted."""
    start = time.perf_counter()
    bursts: list[float] = []
    held: list[int] = []
    warm: list[int] = []
    for number in range(workload.bursts):
        if number:
            time.sleep(workload.gap)
            held.append(len(in_queue(jobs())))
            warm.append(client.run_on_scheduler(_workers))
        bursts.append(burst(client, workload))
    return Run(time.perf_counter() - start, tuple(bursts), len(jobs()), tuple(held), tuple(warm))


def _workers(dask_scheduler: Any) -> int:
    return len(dask_scheduler.workers)


def pilot_resource(workload: Workload) -> dict[str, Any]:
    return {
        "type": "slurm",
        "queue": workload.queue,
        "walltime": "00:30:00",
        "tls": False,
        "scheduler-host": "127.0.0.1",
        "dashboard-address": ":0",
        "death-timeout": 30,
        "worker": WORKER,
        "job-extra-directives": [workload.directive],
        "allocation": ALLOCATION,
        "scaling": {key.replace("_", "-"): value for key, value in ADAPT.items()},
    }


def pilot_run(workload: Workload, folder: Path) -> Run:
    """(a) hpcdask pilot mode, adaptive: allocations of one node, at most two."""
    cluster = hpcdask.connect(TAG, config=write_resource(folder, TAG, pilot_resource(workload)))
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        if not isinstance(cluster, PilotCluster):
            raise TypeError(f"expected a PilotCluster, got {type(cluster).__name__}")
        pilot = cluster.pilot
        return run_workload(client, workload, lambda: list(pilot.submitted))


def raw_run(workload: Workload, folder: Path) -> Run:
    """(b) dask-jobqueue's SLURMCluster with ``adapt()``: one batch job per two workers."""
    CountedSLURMJob.ids.clear()
    cluster = SLURMCluster(
        **WORKER,
        queue=workload.queue,
        walltime="00:30:00",
        interface="lo",
        death_timeout=30,
        python=sys.executable,
        job_name=RAW_JOB,
        job_extra_directives=[workload.directive],
        log_directory=str(folder / "logs"),
        scheduler_options={"dashboard_address": ":0"},
        job_cls=CountedSLURMJob,  # type: ignore[arg-type]  # annotated Job, takes a class
    )
    cluster.adapt(**ADAPT)
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        return run_workload(client, workload, lambda: list(CountedSLURMJob.ids))


VARIANTS: dict[str, Callable[[Workload, Path], Run]] = {
    "hpcdask pilot": pilot_run,
    "dask-jobqueue": raw_run,
}


def describe(run: Run) -> str:
    bursts = ", ".join(f"{seconds:.1f}" for seconds in run.bursts)
    held = ", ".join(str(count) for count in run.held)
    warm = ", ".join(str(count) for count in run.warm)
    return (
        f"{run.total:6.1f} s (bursts {bursts} s), {run.jobs} batch jobs, "
        f"in squeue at the gaps' ends: {held}; workers then: {warm}"
    )


def measure(workload: Workload, reps: int) -> dict[str, list[Run]]:
    """Run every variant ``reps`` times, alternating which goes first; print each run."""
    runs: dict[str, list[Run]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="hpcdask-bench-") as folder:
        for rep in range(reps):
            order = list(VARIANTS) if rep % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                idle_nodes(workload.queue)
                runs[name].append(VARIANTS[name](workload, Path(folder)))
                print(f"  run {rep + 1} {name:<14} {describe(runs[name][-1])}", flush=True)
    return runs


def summary(runs: list[Run]) -> Run:
    """Medians of the times and job counts; the most jobs in squeue at each gap's end."""
    return Run(
        statistics.median(r.total for r in runs),
        tuple(statistics.median(b) for b in zip(*(r.bursts for r in runs), strict=True)),
        round(statistics.median(r.jobs for r in runs)),
        tuple(max(h) for h in zip(*(r.held for r in runs), strict=True)),
        tuple(max(w) for w in zip(*(r.warm for r in runs), strict=True)),
    )


def header(workload: Workload) -> None:
    adapt = ", ".join(f"{key.replace('_', '-')} {value}" for key, value in ADAPT.items())
    print(
        f"Bursty workload on Slurm partition {workload.queue!r}: {workload.bursts} bursts of "
        f"{workload.tasks} tasks x {workload.seconds * 1000:.0f} ms, {workload.gap:g} s idle "
        f"gaps; every new batch job waits {workload.queue_wait} s ({workload.directive})\n"
        f"  workers: 2 of 2 threads and 1 GB per batch job or pilot node; adaptive: {adapt}\n"
        f"  pilot allocations: {', '.join(f'{k} {v}' for k, v in ALLOCATION.items())}",
        flush=True,
    )


def report(workload: Workload, runs: dict[str, list[Run]], reps: int) -> None:
    med = {name: summary(each) for name, each in runs.items()}
    pilot, raw = med["hpcdask pilot"], med["dask-jobqueue"]
    whole, busy = raw.total / pilot.total, sum(raw.bursts) / sum(pilot.bursts)
    heads = "".join(f"{f'burst {i + 1}':>9}" for i in range(workload.bursts))
    print(f"Median of {reps} runs (variants alternating; at gap ends: the most seen):")
    print(f"  {'':<14} {'time to solution':>17}{heads} {'batch jobs':>11}  in squeue at gap "
          "ends  workers at gap ends")  # fmt: skip
    for name, run in med.items():
        bursts = "".join(f"{seconds:>7.1f} s" for seconds in run.bursts)
        held = ", ".join(str(count) for count in run.held)
        warm = ", ".join(str(count) for count in run.warm)
        print(f"  {name:<14} {run.total:>15.1f} s{bursts} {run.jobs:>11}  {held:<21} {warm}")
    verdict = "met" if whole >= 2 else "missed"
    print(f"  speed-up jobqueue/pilot: {whole:.2f}x for the whole workload (target >= 2x: "
          f"{verdict}); {busy:.2f}x counting the bursts only (gaps left out)")  # fmt: skip


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Raise KeyboardInterrupt: the clusters close and cancel their jobs on the way out.

    Needed for SIGINT too: importing dask_jobqueue (its runner module) makes Ctrl-C call
    ``sys.exit()``, which ends the script silently with status 0.
    """
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--gap", type=float, default=Workload.gap, help="idle seconds")
    parser.add_argument("--queue", default=Workload.queue)
    args = parser.parse_args()
    workload = Workload(gap=args.gap, queue=args.queue)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    logging.getLogger("distributed").setLevel(logging.WARNING)  # no INFO line per worker
    header(workload)
    start = time.perf_counter()
    try:
        runs = measure(workload, args.reps)
    except KeyboardInterrupt:
        sys.exit("interrupted: clusters closed")
    finally:
        left = cancel_named([PILOT_JOB, RAW_JOB])
        if left:
            print(f"cancelled leftover jobs {', '.join(left)}", file=sys.stderr)
    report(workload, runs, args.reps)
    print(f"  (the benchmark took {(time.perf_counter() - start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
