"""Batch clusters on the testbed's real Slurm: scaling, honest job states, walltime, no orphans.

Jobs are small (1 core, 500 MB) unless a test spreads them over nodes (4 cores = a whole node).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.config
import pytest
from distributed import Client
from waiting import wait_until

import hpcdask
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.jobs import JobState, JobSubmissionError, WorkersFailedError

from .conftest import run

pytestmark = pytest.mark.slurm
TESTS = Path(__file__).parents[1]  # workers import this module's task functions from here

DEBUG = ["n1", "n2", "n3", "n4"]


@pytest.fixture
def config(slurm_conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with resource ``t`` (small Slurm jobs); the test runs in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)  # Slurm writes job output to the submission folder
    path = tmp_path / "slurm.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        resources:
          t:
            type: slurm
            queue: debug
            worker: {{cores: 1, memory: 500MB, env: {{PYTHONPATH: {TESTS}}}}}
            dashboard-address: ":0"
            poll-interval: 1s
            death-timeout: 10
            log-directory: {tmp_path / "logs"}
            scaling: 0
        """)
    )
    return path


@pytest.fixture
def connect(config: Path) -> Iterator[Callable[..., BatchCluster]]:
    opened: list[BatchCluster] = []

    def open_cluster(**overrides: Any) -> BatchCluster:
        cluster = hpcdask.connect("t", config=config, **overrides)
        assert isinstance(cluster, BatchCluster)
        opened.append(cluster)
        return cluster

    yield open_cluster
    for cluster in opened:
        cluster.close()


def queued(job_ids: list[str]) -> dict[str, str]:
    """State of each of ``job_ids`` still in Slurm's queue."""
    res = run(["squeue", "-h", "-t", "all", "-o", "%i %T"])
    assert res.returncode == 0, res.stderr
    states = dict(line.split() for line in res.stdout.splitlines() if line.strip())
    return {job: state for job, state in states.items() if job in job_ids}


def active(job_ids: list[str]) -> list[str]:
    """Those of ``job_ids`` that are pending or running (ended ones may linger briefly)."""
    return [job for job, state in queued(job_ids).items() if state in ("PENDING", "RUNNING")]


def gone(job_ids: list[str], timeout: float = 20) -> None:
    """Wait until none of ``job_ids`` is pending or running."""
    wait_until(lambda: not active(job_ids), f"jobs {job_ids} still queued", timeout)


def idle_debug_nodes() -> None:
    """Wait until the debug nodes have finished earlier jobs (so four whole-node jobs fit)."""

    def idle() -> bool:
        out = run(["sinfo", "-h", "-N", "-p", "debug", "-o", "%T"]).stdout.split()
        return bool(out) and all(state == "idle" for state in out)

    wait_until(idle, "debug nodes busy", 30)


#: A dask: block with a null, as dask-hpcconfig's site definitions carry.
NULL_BLOCK = {"distributed": {"worker": {"memory": {"target": 0.9, "pause": 0.95}},
                              "comm": {"compression": None}}}  # fmt: skip


def dask_settings() -> tuple[object, object, object]:
    """The null, a set value, and a default of the same section (not replaced by the null)."""
    get = dask.config.get
    return (get("distributed.comm.compression"), get("distributed.worker.memory.target"),
            get("distributed.comm.timeouts.connect"))  # fmt: skip


def test_scale_spreads_over_nodes_and_back_to_an_empty_queue(
    connect: Callable[..., BatchCluster],
) -> None:
    idle_debug_nodes()
    # a whole node per job; the dask: block reaches the job's workers, its null kept
    cluster = connect(worker={"cores": 4, "memory": "1GB", "processes": 1}, dask=NULL_BLOCK)
    with Client(cluster) as client:
        cluster.scale(4)
        client.wait_for_workers(4, timeout=60)
        nodes = client.run(lambda: os.environ["SLURMD_NODENAME"])
        assert sorted(nodes.values()) == DEBUG
        assert set(client.run(dask_settings).values()) == {(None, 0.9, "30s")}
        jobs = cluster.refresh_jobs()
        assert sorted(info.nodes for info in jobs.values()) == DEBUG
        assert {info.state for info in jobs.values()} == {JobState.RUNNING}
        ids = list(jobs)
        cluster.scale(1)
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 1, "scale down to 1", 30)
        wait_until(lambda: len(active(ids)) == 1, "not one job left", 20)
        cluster.scale(0)
        gone(ids)
        wait_until(lambda: not client.scheduler_info()["workers"], "workers still there", 10)


def _sleepy(x: int) -> int:
    time.sleep(0.5)
    return x


def test_adapt_to_a_burst_and_back_to_zero(connect: Callable[..., BatchCluster]) -> None:
    cluster = connect(scaling={"minimum": 0, "maximum": 4, "interval": "500ms",
                               "wait-count": 2, "target-duration": "2s"})  # fmt: skip
    most = 0
    with Client(cluster) as client:
        futures = client.map(_sleepy, range(40))
        deadline = time.monotonic() + 90
        while not all(f.done() for f in futures):
            most = max(most, len(client.scheduler_info()["workers"]))
            assert time.monotonic() < deadline, f"the burst is not done ({most} workers)"
            time.sleep(0.2)
        assert client.gather(futures) == list(range(40))
        del futures
        ids = list(cluster.jobs)
        assert most >= 2 and 2 <= len(ids) <= 6
        wait_until(lambda: not client.scheduler_info()["workers"], "workers not retired", 60)
        gone(ids)


def test_pending_job_is_reported_pending(connect: Callable[..., BatchCluster]) -> None:
    cluster = connect(scaling=1, job_extra_directives=["--hold"])
    jobs = cluster.refresh_jobs()
    (job_id, info), *_ = jobs.items()
    assert (info.state, info.reason) == (JobState.PENDING, "JobHeldUser")
    assert queued([job_id]) == {job_id: "PENDING"}
    assert cluster.pending_reasons() == {job_id: "JobHeldUser"}  # what status shows
    assert cluster.not_answering() is None
    assert "jobs: 1 pending" in repr(cluster) and "workers=0" in repr(cluster)
    cluster.close()
    assert cluster.jobs[job_id].state is JobState.CANCELLED
    gone([job_id])


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"queue": "nope"}, "sbatch: error: invalid partition specified: nope"),
        ({"worker": {"cores": 8, "memory": "500MB"}},
         "sbatch: error: CPU count per node can not be satisfied"),
    ],
)  # fmt: skip
def test_refused_submission_fails_fast_with_slurms_words(
    config: Path, overrides: dict[str, Any], said: str
) -> None:
    began = time.monotonic()
    with pytest.raises(JobSubmissionError) as caught:
        hpcdask.connect("t", config=config, scaling=2, **overrides)
    assert time.monotonic() - began < 10
    assert str(caught.value).startswith(f"Slurm refused the worker job: {said}")
    assert "\n" not in str(caught.value)


def test_cli_run_check_and_show(config: Path, tmp_path: Path) -> None:
    hpcdask_cli = str(Path(sys.executable).parent / "hpcdask")
    count = "from distributed import Client; print(len(Client().scheduler_info()['workers']))"
    res = run([hpcdask_cli, "--config", str(config), "run", "t", "--workers", "2", "--",
               sys.executable, "-c", count], timeout=120)  # fmt: skip
    assert (res.returncode, res.stdout.strip()) == (0, "2"), res.stderr
    res = run([hpcdask_cli, "--config", str(config), "run", "t", "--set", "queue=nope",
               "--workers", "1", "--", "true"], timeout=60)  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.splitlines()[-1].startswith(
        "hpcdask: error: Slurm refused the worker job: sbatch: error: invalid partition"
    )
    res = run([hpcdask_cli, "--config", str(config), "check", "t"])
    rows = check_rows(res.stdout)
    assert res.returncode == 0 and rows["queue"] == rows["submission"] == "ok", res.stdout
    res = run([hpcdask_cli, "--config", str(config), "check", "t", "--set", "queue=nope"])
    rows = check_rows(res.stdout)
    assert res.returncode == 1 and rows["queue"] == rows["submission"] == "FAILED"
    assert "'nope' does not exist; known: debug, ns" in res.stdout
    res = run([hpcdask_cli, "--config", str(config), "show", "t"])
    assert res.returncode == 0 and "#SBATCH -p debug" in res.stdout.splitlines()


def test_up_status_lists_the_running_jobs_then_down(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: ``status --json`` of a batch cluster once showed ``"jobs": {}``."""
    state = tmp_path / "state"
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(state))
    cli = [str(Path(sys.executable).parent / "hpcdask"), "--config", str(config)]

    def report() -> dict[str, Any]:
        res = run([*cli, "status", "t", "--json"])
        assert res.returncode == 0, res.stdout + res.stderr
        [found] = json.loads(res.stdout)
        assert isinstance(found, dict)
        return found

    ids: list[str] = []
    try:
        res = run([*cli, "up", "t", "--workers", "2", "--wait"], timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        wait_until(lambda: set(report()["jobs"].values()) == {"running"}, "2 running jobs", 30)
        shown = report()
        print(json.dumps(shown, indent=2))  # what a user sees (pytest -s)
        jobs = shown["jobs"]
        ids = list(jobs)
        assert len(jobs) == 2 and shown["workers"] == shown["requested"] == 2
        assert queued(ids) == dict.fromkeys(ids, "RUNNING")  # Slurm agrees
        assert (shown["allocations"], shown["failed_hosts"]) == (None, {})
        assert (shown["job_counts"], shown["pending"], shown["not_answering"]) == (
            {"running": 2}, {}, None
        )  # fmt: skip
        table = run([*cli, "status", "t"])
        assert "t: batch jobs: 2 running" in table.stdout.splitlines(), table.stdout
        wait_until(
            lambda: sorted(json.loads((state / "t.json").read_text())["jobs"]) == sorted(ids),
            "the record to name the jobs",
            10,
        )
    finally:
        res = run([*cli, "down", "t"], timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (state / "t.json").exists()
    gone(ids)


def check_rows(table: str) -> dict[str, str]:
    """The result of each check in ``hpcdask check``'s table (wrapped details skipped)."""
    names = ("config", "commands", "job-script", "queue", "submission", "python", "walltime",
             "scheduler")  # fmt: skip
    return {
        line.split()[0]: line.split()[1]
        for line in table.splitlines()
        if line.strip() and line.split()[0] in names
    }


def _square_on_schedule(args: tuple[int, float, str]) -> int:
    """Square ``x`` no earlier than its slot (so the work spans the workers' lifetimes)."""
    x, start, log = args
    time.sleep(max(0.0, start + 0.4 * x - time.time()) + 0.1)
    with open(log, "a") as done:
        done.write(f"{x}\n")
    return x * x


def test_walltime_expiry_mid_computation_keeps_every_result(
    connect: Callable[..., BatchCluster], tmp_path: Path
) -> None:
    # walltime 1 min, margin 25 s: workers retire 27-43 s after they start, successors are
    # requested 17.5 s after; the work runs ~50 s, so every worker retires in the middle of it.
    cluster = connect(scaling=2, walltime="00:01:00", walltime_margin="25s")
    log = tmp_path / "done.txt"
    n = 125
    with Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        start = time.time() + 1
        futures = client.map(_square_on_schedule, [(x, start, str(log)) for x in range(n)])
        total = client.submit(sum, futures)
        assert total.result(timeout=150) == sum(x * x for x in range(n))
        first = sorted(cluster.jobs)[:2]
        jobs = cluster.refresh_jobs()
        assert all(jobs[job].state is JobState.FINISHED for job in first), jobs
        assert not {JobState.TIMEOUT, JobState.FAILED} & {info.state for info in jobs.values()}
        assert len(client.scheduler_info()["workers"]) >= 2  # the requested count is kept
    done = log.read_text().split()
    assert sorted(set(done)) == sorted(str(x) for x in range(n))
    assert len(done) <= n + 4, f"{len(done) - n} results were computed again"


VICTIM = """
import sys, time
import hpcdask
from distributed import Client
config = sys.argv[1]
running = hpcdask.connect("t", config=config, scaling=2, death_timeout=5)
later = hpcdask.connect("t", config=config, scaling=1, death_timeout=5,
                        job_extra_directives=["--begin=now+4"])
with Client(running) as client:
    client.wait_for_workers(2, timeout=60)
print("READY", *running.jobs, *later.jobs, flush=True)
time.sleep(600)
"""


def test_sigkilled_client_leaves_no_job_behind(config: Path, tmp_path: Path) -> None:
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    victim = subprocess.Popen([sys.executable, str(script), str(config)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert victim.stdout is not None
        line = victim.stdout.readline()
        assert line.startswith("READY"), line
        ids = line.split()[1:]
        assert len(ids) == 3 and queued(ids)[ids[2]] == "PENDING"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if victim.stdout is not None:
            victim.stdout.close()
    killed = time.monotonic()
    # Running workers lose their scheduler and exit; the job that starts later finds no
    # scheduler and exits after its death timeout (5 s).
    wait_until(lambda: not queued(ids), "jobs outlived their client", 40)
    print(f"queue empty {time.monotonic() - killed:.1f} s after SIGKILL")


def test_workers_in_namespaces_reach_the_scheduler_on_the_bridge(
    connect: Callable[..., BatchCluster], slurm_info: dict[str, Any], bridge_address: str
) -> None:
    cluster = connect(queue="ns", interface="eth0", scheduler_host=bridge_address,
                      worker={"cores": 4, "memory": "1GB", "processes": 1}, scaling=3)  # fmt: skip
    assert cluster.scheduler_address.split("://")[1].startswith(f"{bridge_address}:")
    with Client(cluster) as client:
        client.wait_for_workers(3, timeout=60)
        hosts = {address.split("//")[1].split(":")[0]
                 for address in client.scheduler_info()["workers"]}  # fmt: skip
        expected = {slurm_info["node_addresses"][node] for node in slurm_info["partitions"]["ns"]}
        assert hosts == expected
        assert client.submit(sum, [1, 2, 3]).result() == 6


def test_workers_that_cannot_start_are_not_replaced_forever(
    connect: Callable[..., BatchCluster],
) -> None:
    cluster = connect(scaling=1, worker={"cores": 1, "memory": "500MB",
                                         "python": "/nonexistent/python"})  # fmt: skip
    wait_until(lambda: cluster.problem is not None, "no verdict on failing jobs", 40)
    assert isinstance(cluster.problem, WorkersFailedError)
    assert len(cluster.jobs) == 3
    assert not cluster.worker_spec
    gone(list(cluster.jobs))


FLAKY = """#!/bin/sh
# {name} that says "Socket timed out" for its first {times} calls, then is the real one.
count=$(cat "{counter}" 2>/dev/null || echo 0)
echo $((count + 1)) > "{counter}"
if [ "$count" -lt {times} ]; then
    echo "{name}: error: Batch job submission failed: Socket timed out on send/recv operation" >&2
    exit 1
fi
exec {real} "$@"
"""


def flaky(folder: Path, name: str, times: int) -> Path:
    """Put a ``name`` first on PATH that fails transiently ``times`` times; return its counter."""
    folder.mkdir(exist_ok=True)
    counter, real = folder / f"{name}.calls", shutil.which(name)
    assert real is not None
    wrapper = folder / name
    wrapper.write_text(FLAKY.format(name=name, times=times, counter=counter, real=real))
    wrapper.chmod(0o755)
    return counter


def test_a_batch_system_that_times_out_still_gets_every_job(
    connect: Callable[..., BatchCluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sbatch says "Socket timed out" twice: scale(2) still reaches 2 workers, and a scancel
    that times out too still cancels every job."""
    calls = flaky(tmp_path / "bin", "sbatch", 2)
    cancels = flaky(tmp_path / "bin", "scancel", 1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cluster = connect(retry={"initial": "200ms", "maximum": "1s"})
    with Client(cluster) as client:
        cluster.scale(2)
        client.wait_for_workers(2, timeout=60)
        assert int(calls.read_text()) == 4  # two that timed out, two that were accepted
        assert cluster.book.unanswered is None
        ids = cluster.book.live()
        assert len(ids) == 2 and {i.state for i in cluster.refresh_jobs().values()} == {
            JobState.RUNNING
        }
    cluster.close()
    assert int(cancels.read_text()) >= 2
    gone(ids)
