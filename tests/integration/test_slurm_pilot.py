"""Pilots on the real Slurm: workers start inside held allocations, without new batch jobs."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from distributed import Client
from scheduler_events import removals
from waiting import wait_until

import hpcdask
from hpcdask.dashboard import fetch
from hpcdask.jobs import JobState
from hpcdask.pilot.allocation import parse_time_left
from hpcdask.pilot.cluster import PilotCluster

from .conftest import dask_processes

pytestmark = pytest.mark.slurm

#: The pilot resource the tests start from: two workers of 1 thread and 500 MB per node.
PILOT: dict[str, Any] = {
    "type": "slurm",
    "queue": "debug",
    "walltime": "00:10:00",
    "scheduler-host": "127.0.0.1",
    "dashboard-address": ":0",
    "worker": {"cores": 2, "processes": 2, "memory": "1GB"},
}


def _squeue(name: str, fields: str) -> list[str]:
    """One line per allocation of pilot ``name`` in squeue, in ``--format=fields``."""
    command = ["squeue", "--noheader", f"--format={fields}", f"--name=hpcdask-{name}"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()


def _queue(name: str) -> list[str]:
    return _squeue(name, "%i")


def _time_left(name: str) -> dict[str, float | None]:
    """Job id → seconds of walltime left, of the allocations of pilot ``name`` in squeue."""
    rows = (line.partition("|") for line in _squeue(name, "%i|%L"))
    return {job: parse_time_left(left) for job, _, left in rows}


@pytest.fixture
def pilot(tmp_path: Path, slurm_conf: Path) -> Iterator[Callable[..., PilotCluster]]:
    clusters: list[PilotCluster] = []

    def start(**keys: Any) -> PilotCluster:
        resource = {
            **PILOT,
            "tls": False,
            "allocation": {"nodes": 2, "maximum": 2, "idle-timeout": "3s"},
            "scaling": 0,
            **keys,
        }
        path = tmp_path / "pilot.yaml"
        path.write_text(yaml.safe_dump({"resources": {"pilot": resource}}))
        cluster = hpcdask.connect("pilot", config=path)
        assert isinstance(cluster, PilotCluster)
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.close()


def _workers(client: Client) -> list[dict[str, Any]]:
    return list(client.scheduler_info()["workers"].values())


def test_scale_inside_allocations_grow_and_give_back(pilot: Callable[..., PilotCluster]) -> None:
    cluster = pilot()
    with Client(cluster) as client:
        cluster.scale(2)
        client.wait_for_workers(2, timeout=60)
        [first] = _queue("pilot")
        assert cluster.pilot.submitted == [first]
        cluster.scale(4)  # the 2-node allocation holds 4 workers: no new batch job
        client.wait_for_workers(4, timeout=60)
        assert _queue("pilot") == [first]
        rows = cluster.allocations()
        assert [(r["id"], r["state"]) for r in rows] == [(first, "running")]
        assert sorted(Counter(rows[0]["workers"]).values()) == [2, 2]  # type: ignore[arg-type]
        assert client.submit(sum, range(10)).result() == 45
        shown = fetch(cluster).rows  # the dashboard page's table
        assert [(row.id, row.state) for row in shown] == [(first, "running")]
        started = time.monotonic()
        cluster.scale(6)  # slots ran out: a second allocation
        client.wait_for_workers(6, timeout=60)
        assert len(cluster.pilot.submitted) == 2
        assert len(_queue("pilot")) == 2
        cluster.scale(0)
        wait_until(lambda: not _workers(client), "workers to stop", 60)
        wait_until(lambda: not _queue("pilot"), "idle allocations to be given back", 30)
        assert time.monotonic() - started < 60


def test_close_cancels_allocations(pilot: Callable[..., PilotCluster]) -> None:
    cluster = pilot(scaling=2)
    assert len(cluster.workers) == 2
    assert len(_queue("pilot")) == 1
    cluster.close()
    wait_until(lambda: not _queue("pilot"), "the allocation to be cancelled", 30)


def test_scancel_of_an_allocation_mid_computation(pilot: Callable[..., PilotCluster]) -> None:
    cluster = pilot(scaling=4, allocation={"nodes": 1, "maximum": 2, "idle-timeout": "3s"})
    with Client(cluster) as client:
        first = cluster.pilot.submitted[0]
        futures = client.map(lambda i: time.sleep(0.3) or i * i, range(80), pure=False)
        wait_until(lambda: sum(f.done() for f in futures) >= 8, "first results", 60)
        subprocess.run(["scancel", first], check=True)
        assert sum(client.gather(futures)) == sum(i * i for i in range(80))
        assert first not in _queue("pilot")
        assert len(cluster.pilot.submitted) >= 3  # replacements in new allocations


def test_walltime_expiry_mid_computation(pilot: Callable[..., PilotCluster]) -> None:
    """Allocations of one minute whose workers retire 35 s before the end: a computation that
    spans the retirement finishes right, in a replacement allocation requested in time."""
    started = time.monotonic()
    cluster = pilot(
        scaling=4,
        worker={"cores": 4, "processes": 4, "memory": "2GB"},
        allocation={
            "nodes": 1,
            "walltime": "00:01:00",
            "walltime-margin": "35s",
            "idle-timeout": "3s",
        },
        dask={"distributed.scheduler.allowed-failures": 0},  # one worker death: KilledWorker
    )
    with Client(cluster) as client:
        [first] = cluster.pilot.submitted
        queued: list[dict[str, float | None]] = []  # squeue's allocations, once a second
        futures = []
        for batch in range(40):  # 4 tasks of 0.5 s a second, for 40 s
            futures += client.map(lambda i: time.sleep(0.5) or i, range(batch * 4, batch * 4 + 4))
            queued.append(_time_left("pilot"))
            time.sleep(1)
        total = client.submit(sum, futures)  # needs every result, wherever it was moved
        assert total.result(timeout=60) == sum(range(160))
        assert client.gather(futures) == list(range(160))
        removed = client.run_on_scheduler(removals)
    assert first not in cluster.pilot.book.allocations  # given back before its walltime
    assert cluster.pilot.ended[first] is JobState.CANCELLED
    second = cluster.pilot.submitted[1]
    # requested in time: queued while the first one had more than the margin left
    assert any(second in left and (left.get(first) or 0) > 35 for left in queued), queued
    assert len(removed) >= 4, removed  # the four workers of the first allocation
    assert all(r["expected"] and not r["lost-computed-tasks"] for r in removed), removed
    cluster.close()
    wait_until(lambda: not _queue("pilot"), "the allocations to be cancelled", 30)
    assert time.monotonic() - started < 100


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    hpcdask_cli = str(Path(sys.executable).parent / "hpcdask")
    return subprocess.run([hpcdask_cli, *args], capture_output=True, text=True, timeout=120)


def test_check_up_status_down_of_a_pilot_resource(
    tmp_path: Path, slurm_conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line on a pilot resource (TLS on, as by default): its checks ask Slurm,
    and `hpcdask status` shows its allocation as squeue does."""
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(tmp_path / "state"))
    resource = {**PILOT, "allocation": {"nodes": 2}}
    config = tmp_path / "cli.yaml"
    config.write_text(yaml.safe_dump({"resources": {"clipilot": resource}}))
    checked = _cli("--config", str(config), "check", "clipilot")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "job-script" not in checked.stdout
    for line in ("allocation  ok      sbatch: Job", "nodes       ok      2 workers (1 cores, "):
        assert line in checked.stdout, checked.stdout
    try:
        up = _cli("--config", str(config), "up", "clipilot", "--workers", "4", "--wait")
        assert up.returncode == 0, up.stdout + up.stderr
        [job] = _queue("clipilot")
        shown = _cli("status", "clipilot")
        assert shown.returncode == 0, shown.stderr
        [report] = json.loads(_cli("status", "clipilot", "--json").stdout)
        [row] = report["allocations"]
        assert (row["id"], row["state"], row["size"]) == (job, "running", 2)
        assert sorted(row["workers"].values()) == [2, 2]
        assert set(row["workers"]) == set(row["nodes"]) and len(row["nodes"]) == 2
        assert 0 < row["walltime_left"] <= 600
        lines = shown.stdout.splitlines()
        [cells] = [r.split() for r in lines[lines.index("clipilot allocations:") + 2 :]]
        assert cells[:3] == [job, "running", ",".join(row["nodes"])], shown.stdout
        per_node = ", ".join(f"{node}: {n}" for node, n in row["workers"].items())
        assert " ".join(cells[4:]) == per_node, shown.stdout
        assert report["jobs"] == {job: "running"}
    finally:
        down = _cli("down", "clipilot")
    assert down.stdout == "clipilot: stopped\n", down.stdout + down.stderr
    wait_until(lambda: not _queue("clipilot"), "the allocation to be cancelled", 30)


def test_allocation_current_from_inside_a_batch_job(tmp_path: Path, slurm_conf: Path) -> None:
    """A batch job of 2 nodes runs a script that scales workers inside its own allocation."""
    import sys

    resource = {
        "type": "slurm",
        "scheduler-host": "127.0.0.1",
        "dashboard-address": ":0",
        "tls": False,
        "worker": {"cores": 2, "processes": 2, "memory": "1GB"},
        "allocation": "current",
        "scaling": 4,
    }
    config = tmp_path / "inside.yaml"
    config.write_text(yaml.safe_dump({"resources": {"inside": resource}}))
    script = tmp_path / "job.py"
    script.write_text(
        "import os, subprocess, sys, hpcdask\n"
        "from distributed import Client\n"
        f"cluster = hpcdask.connect('inside', config={str(config)!r})\n"
        "with Client(cluster) as client:\n"
        "    hosts = sorted(w['name'] for w in client.scheduler_info()['workers'].values())\n"
        "    print('RESULT', len(hosts), client.submit(sum, range(100)).result())\n"
        "    print('RESULT', cluster.pilot.submitted, list(cluster.job_states()))\n"
        "    jobs = subprocess.run(['squeue', '--noheader', '--format=%i'],\n"
        "                          capture_output=True, text=True).stdout.split()\n"
        "    print('RESULT', jobs == [os.environ['SLURM_JOB_ID']])\n"
        "cluster.close()\n"
    )
    output = tmp_path / "job.out"
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--wait",
            "--nodes=2",
            "--partition=debug",
            "--time=5",
            f"--output={output}",
            f"--wrap={sys.executable} {script}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    text = output.read_text()
    assert submitted.returncode == 0, text + (tmp_path / "job.err").read_text()
    job = submitted.stdout.strip()
    printed = [line for line in text.splitlines() if line.startswith("RESULT ")]
    assert printed == ["RESULT 4 4950", f"RESULT [] ['{job}']", "RESULT True"], text


def test_sigkill_of_the_owner_leaves_no_allocation(tmp_path: Path, slurm_conf: Path) -> None:
    """The process holding the cluster dies hard: its allocation ends by itself."""
    import signal
    import sys

    resource = {
        "type": "slurm",
        "queue": "debug",
        "walltime": "00:10:00",
        "tls": False,
        "scheduler-host": "127.0.0.1",
        "dashboard-address": ":0",
        "death-timeout": 8,
        "worker": {"cores": 2, "processes": 2, "memory": "1GB"},
        "allocation": {"nodes": 1},
        "scaling": 2,
    }
    config = tmp_path / "doomed.yaml"
    config.write_text(yaml.safe_dump({"resources": {"doomed": resource}}))
    code = (
        f"import hpcdask, time; c = hpcdask.connect('doomed', config={str(config)!r}); "
        "print(len(c.workers), flush=True); time.sleep(300)"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline() == "2\n"
        assert len(_queue("doomed")) == 1
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        started = time.monotonic()
        wait_until(lambda: not _queue("doomed"), "the orphaned allocation to end", 60)
        assert time.monotonic() - started < 8 + 15
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()


#: The process an agent runs under, by launcher.
AGENT_PARENT = {"srun": "slurmstepd", "ssh": "sshd"}


def _agent_parents() -> list[set[str]]:
    """For each node agent on the machine (not the srun or ssh that started it), the command
    names of its ancestors."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if (process.info["cmdline"] or [])[1:3] == ["-m", "hpcdask.pilot.agent"]:
            with contextlib.suppress(psutil.Error):
                found.append({parent.name() for parent in process.parents()})
    return found


@pytest.mark.parametrize("launcher", ["srun", "ssh"])
def test_pilot_on_namespace_nodes_with_tls(
    pilot: Callable[..., PilotCluster],
    bridge_address: str,
    slurm_info: dict[str, Any],
    launcher: str,
    request: pytest.FixtureRequest,
) -> None:
    """Nodes with their own addresses (network namespaces) reach a scheduler on the bridge.
    The node agents are job steps, or (``launcher: ssh``) ssh sessions to the nodes' addresses
    that get their TLS credentials on their input."""
    # Agents of earlier tests' allocations may still be ending (Slurm kills steps in its time).
    wait_until(lambda: not _agent_parents(), "earlier tests' node agents to end", 60)
    allocation: dict[str, Any] = {"nodes": 2, "maximum": 2, "idle-timeout": "3s"}
    if launcher == "ssh":
        ssh = {
            "user": request.getfixturevalue("ssh_user"),
            "identity": str(request.getfixturevalue("ssh_identity")),
            "known-hosts": str(request.getfixturevalue("ssh_known_hosts")),
        }
        allocation.update(launcher="ssh", ssh=ssh)
    cluster = pilot(
        queue="ns",
        interface="eth0",
        tls=True,
        allocation=allocation,
        **{"scheduler-host": bridge_address},
    )
    assert cluster.scheduler_address.startswith(f"tls://{bridge_address}:")
    cluster.scale(4)
    with Client(cluster) as client:
        client.wait_for_workers(4, timeout=60)
        hosts = {w["host"] for w in _workers(client)}
        namespace_nodes = {slurm_info["node_addresses"][n] for n in slurm_info["partitions"]["ns"]}
        assert len(hosts) == 2 and hosts <= namespace_nodes
        assert client.submit(sum, range(10)).result() == 45
        parents = _agent_parents()  # one agent per node
        assert len(parents) == 2 and all(AGENT_PARENT[launcher] in p for p in parents), parents
        other = AGENT_PARENT["ssh" if launcher == "srun" else "srun"]
        assert not any(other in names for names in parents), parents
        assert not any("BEGIN" in p.cmdline for p in dask_processes())  # no key on a command line
    assert len(cluster.pilot.submitted) == 1
    cluster.close()
    wait_until(lambda: not _agent_parents(), "the agents to leave with their cluster", 30)
