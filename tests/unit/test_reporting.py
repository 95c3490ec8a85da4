"""Every cluster class hpcdask builds reports through one Protocol, with real values.

Each cluster here is a real one (a scheduler in this process) whose workers, jobs or
allocations come from fakes: a faked Slurm, an SSH host never reached, a pilot's slot book.
``snapshot`` is what ``hpcdask status --json`` shows of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from distributed import Scheduler
from fakeshell import FakeShell

from hpcdask.backends.base import Reporting, Reports
from hpcdask.backends.jobqueue import JobqueueBackend
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.local import LocalBackend, LocalCluster
from hpcdask.backends.ssh.cluster import HostCluster
from hpcdask.backends.ssh.plan import HostPlan
from hpcdask.controller import live_jobs, snapshot
from hpcdask.jobs import JobState
from hpcdask.models import LocalResource, SlurmResource
from hpcdask.pilot.allocation import Allocations, AllocationStatus
from hpcdask.pilot.cluster import PilotCluster
from hpcdask.pilot.launcher import LocalLauncher
from hpcdask.pilot.pilot import Pilot, PilotSettings
from hpcdask.pilot.slots import AllocationSlots, Node, SlotBook, WorkerSize
from hpcdask.registry import KINDS, load
from hpcdask.shell import CommandError

GB = 10**9
SCHEDULER = {"cls": Scheduler, "options": {"dashboard_address": ":0", "port": 0}}


def status_of(cluster: Any, kind: str = "x") -> dict[str, Any]:
    resource = LocalResource(name="x") if kind == "x" else SlurmResource(name="x", queue="q")
    return snapshot(cluster, resource, time.time())


def test_every_batch_system_s_cluster_class_reports() -> None:
    for kind, entry in KINDS.items():
        if entry.system is not None:
            cluster_class = load(entry.system).cluster_class
            assert issubclass(cluster_class, BatchCluster), kind
            assert issubclass(cluster_class, Reports), kind


def test_a_local_cluster_reports_its_workers() -> None:
    resource = LocalResource(name="l", scaling=0, dashboard_address=":0")
    with LocalBackend().cluster(resource) as cluster:
        assert isinstance(cluster, LocalCluster) and isinstance(cluster, Reporting)
        cluster.scale(2)
        assert cluster.workers_requested() == 2
        assert [p.workers for p in cluster.describe().placements] == [("0",), ("1",)]
        assert cluster.describe().kind == "worker"
        assert (cluster.job_states(), cluster.allocations(), dict(cluster.failed_hosts)) == (
            {}, None, {}
        )  # fmt: skip
        assert cluster.adaptive_bounds() is None
        cluster.adapt(minimum=0, maximum=3)
        assert cluster.adaptive_bounds() == (0, 3)
        report = status_of(cluster)
        assert (report["adaptive"], report["jobs"], report["allocations"]) == ([0, 3], {}, None)
        assert report["failed_hosts"] == {}
        cluster._adaptive.stop()
        assert cluster.adaptive_bounds() is None


def test_an_ssh_cluster_reports_its_hosts_and_failed_hosts() -> None:
    plans = {"ws1": HostPlan("ws1", slots=2)}
    cluster = HostCluster(plans, threads={"ws1": None}, worker_options={}, secret_env={},
                          start_timeout=5, scheduler=SCHEDULER, n_workers=0,
                          failed_hosts={"ws2": "Connection refused"})  # fmt: skip
    with cluster:
        assert isinstance(cluster, Reporting)
        assert cluster.failed_hosts == {"ws2": "Connection refused"}
        assert [(p.id, p.state) for p in cluster.describe().placements] == [
            ("ws1", "idle"), ("ws2", "failed")
        ]  # fmt: skip
        assert (cluster.job_states(), cluster.allocations(), cluster.workers_requested()) == (
            {}, None, 0
        )  # fmt: skip
        report = status_of(cluster)
        assert (report["failed_hosts"], report["jobs"], report["requested"]) == (
            {"ws2": "Connection refused"}, {}, 0
        )  # fmt: skip


@pytest.fixture
def slurm() -> FakeShell:
    shell = FakeShell()
    ids = iter(range(101, 200))
    shell.answer("sbatch", lambda command, stdin: (0, f"{next(ids)}\n", ""))
    shell.answer(
        "squeue",
        lambda command, stdin: (0, "".join(
            f"{i}|RUNNING||n1\n" for i in command[-1].removeprefix("--jobs=").split(",")
        ), ""),
    )  # fmt: skip
    shell.reply("scancel", "")
    return shell


def test_a_batch_cluster_reports_its_jobs(slurm: FakeShell) -> None:
    resource = SlurmResource.model_validate(
        {"name": "fake", "worker": {"cores": 2, "memory": "2GB", "processes": 2},
         "queue": "debug", "dashboard_address": ":0", "poll_interval": "0.1s", "scaling": 4}
    )  # fmt: skip
    cluster = JobqueueBackend(slurm).cluster(resource)
    try:
        assert isinstance(cluster, BatchCluster) and isinstance(cluster, Reporting)
        cluster.refresh_jobs()
        assert cluster.job_states() == {"101": "running", "102": "running"}
        assert cluster.describe().kind == "job"
        assert (cluster.allocations(), dict(cluster.failed_hosts)) == (None, {})
        assert cluster.workers_requested() == 4  # 2 jobs of 2 workers each
        report = status_of(cluster, "slurm")
        assert (report["jobs"], report["requested"]) == (
            {"101": "running", "102": "running"}, 4
        )  # fmt: skip
        assert live_jobs(cluster) == ("101", "102")
        assert (report["job_counts"], report["pending"]) == ({"running": 2}, {})
        assert report["not_answering"] is None
    finally:
        cluster.close()
    assert cluster.job_states() == {"101": "cancelled", "102": "cancelled"}
    assert live_jobs(cluster) == ()


class HeldAllocations(Allocations):
    """Allocations that stay as they are: nothing is submitted, polled or cancelled."""

    async def submit(self, nodes: int) -> str:
        raise AssertionError("no allocation is requested here")

    async def poll(self, ids: Sequence[str]) -> dict[str, AllocationStatus]:
        return {i: AllocationStatus(i, JobState.RUNNING, ("n1", "n2"), 3600.0) for i in ids}

    async def cancel(self, ids: Sequence[str]) -> None:
        pass

    async def describe(self, nodes: Sequence[str]) -> list[Node]:
        return [Node(name, 4, 4 * GB) for name in nodes]


@pytest.fixture
def pilot_cluster() -> Iterator[PilotCluster]:
    book = SlotBook(WorkerSize(1, GB, per_node=2))
    nodes = (Node("n1", 4, 4 * GB), Node("n2", 4, 4 * GB))
    book.allocations["41"] = AllocationSlots("41", 2, True, nodes, ends_at=time.time() + 3600)
    settings = PilotSettings(margin=60, idle_timeout=3600)
    pilot = Pilot(HeldAllocations(), LocalLauncher(), book, settings, wanted=lambda: 0)
    pilot.ended["40"] = JobState.TIMEOUT
    options = {"options": {}, "start_timeout": 30}
    cluster = PilotCluster(pilot, worker=options, scheduler=SCHEDULER, n_workers=0, name="p")
    with cluster:
        yield cluster


def test_a_pilot_cluster_reports_its_allocations(pilot_cluster: PilotCluster) -> None:
    cluster = pilot_cluster
    assert isinstance(cluster, Reporting)
    assert cluster.job_states() == {"40": "timeout", "41": "running"}
    [row] = cluster.allocations() or []
    assert (row["id"], row["state"], row["nodes"], row["size"]) == (
        "41",
        "running",
        ["n1", "n2"],
        2,
    )
    assert [(p.id, p.state) for p in cluster.describe().placements] == [("41", "running")]
    assert (dict(cluster.failed_hosts), cluster.workers_requested()) == ({}, 0)
    report = status_of(cluster, "slurm")
    assert report["jobs"] == {"40": "timeout", "41": "running"}
    assert [r["id"] for r in report["allocations"]] == ["41"]
    assert live_jobs(cluster) == ("41",)


def test_a_cluster_built_elsewhere_is_not_reported_by_the_controller() -> None:
    with pytest.raises(TypeError, match="not an hpcdask cluster"):
        status_of(object())


def test_a_batch_cluster_reports_pending_reasons_and_a_silent_batch_system(
    slurm: FakeShell,
) -> None:
    """Why a job waits, and that the batch system stopped answering, reach status."""
    resource = SlurmResource.model_validate(
        {"name": "fake", "worker": {"cores": 1, "memory": "1GB"}, "queue": "debug",
         "dashboard_address": ":0", "poll_interval": "1h", "scaling": 1}
    )  # fmt: skip
    cluster = JobqueueBackend(slurm).cluster(resource)
    try:
        slurm.replies["squeue"] = [(0, "101|PENDING|Priority|(null)\n", "")]
        cluster.refresh_jobs()
        slurm.replies["squeue"] = [(1, "", "slurm_load_jobs error: Socket timed out\n")]
        with pytest.raises(CommandError):
            cluster.refresh_jobs()
        report = status_of(cluster, "slurm")
        assert (report["job_counts"], report["pending"]) == ({"pending": 1}, {"101": "Priority"})
        silent = report["not_answering"]
        assert silent["tries"] == 1 and "Socket timed out" in silent["error"]
        assert abs(silent["since"] - time.time()) < 60
    finally:
        cluster.close()
