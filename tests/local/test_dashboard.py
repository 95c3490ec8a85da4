"""The hpcdask dashboard page: how clusters are described, and the page served by real clusters.

The browser's view of the page is tested in test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from waiting import wait_until

import hpcdask
from hpcdask.attached import AttachedCluster
from hpcdask.backends.base import Description, Placement, Reports
from hpcdask.backends.ssh.cluster import HostCluster
from hpcdask.backends.ssh.plan import HostPlan
from hpcdask.dashboard import fetch, page_link
from hpcdask.dashboard.describe import Seen, describe, join, requested, where
from hpcdask.dashboard.html import cells, snapshot_html
from hpcdask.dashboard.page import replace_data, serve
from hpcdask.dashboard.serving import install
from hpcdask.dashboard.snapshot import Heading, Snapshot, take
from hpcdask.models import LocalResource, SlurmResource, SSHResource

HPCDASK = str(Path(sys.executable).parent / "hpcdask")


# --- describing clusters, without starting any -----------------------------------------------


class BatchLike(Reports):
    """What a batch cluster reports: a placement per job, and the workers of its spec."""

    _adaptive = None

    def __init__(self) -> None:
        self.worker_spec = {"job-0": {"group": ["-0", "-1"]}, "job-1": {"group": ["-0", "-1"]}}

    def describe(self) -> Description:
        return Description(
            "job",
            (
                Placement("101", "running", nodes="n1", workers=("job-0-0", "job-0-1")),
                Placement("102", "pending", workers=("job-1-0", "job-1-1"), note="Resources"),
                Placement("100", "cancelled", workers=("job-old",)),
            ),
        )


def test_batch_jobs_are_rows_with_their_workers_and_estimated_walltime() -> None:
    seen = {"job-0-0": Seen("n1", "running"), "job-0-1": Seen("n1", "running")}
    heading = Heading("hpc", "slurm", "slurm batch jobs", walltime=3600)
    since: dict[str, float] = {}
    snapshot = take(BatchLike(), heading, seen, since)
    assert (snapshot.kind, snapshot.requested, snapshot.connected, snapshot.pending) == (
        "job", 4, 2, 1
    )  # fmt: skip
    running, pending, ended = snapshot.rows
    assert (running.id, running.state, running.workers, running.expected) == (
        "101", "running", ("job-0-0", "job-0-1"), 2
    )  # fmt: skip
    assert running.estimated and 3590 < (running.walltime_left or 0) <= 3600
    assert cells(running)["walltime"].startswith("≈1:00:00"[:5])
    assert (pending.state, pending.note, pending.workers, pending.walltime_left) == (
        "pending", "Resources", (), None
    )  # fmt: skip
    assert ended.state == "cancelled"
    assert set(since) == {"101"}


def test_any_spec_cluster_lists_its_workers_and_strays() -> None:
    class Spec(Reports):
        _adaptive = None

        def __init__(self) -> None:
            self.worker_spec: dict[int, dict[str, Any]] = {0: {}, 1: {}}

    seen = {"0": Seen("127.0.0.1", "running"), "by-hand": Seen("10.0.0.5", "paused")}
    rows = join(describe(Spec()), seen)
    assert [(r.id, r.state, r.nodes, r.workers) for r in rows] == [
        ("0", "running", "127.0.0.1", ("0",)),
        ("1", "starting", "", ()),
        ("by-hand", "paused", "10.0.0.5", ("by-hand",)),
    ]
    assert requested(Spec(), connected=2) == 2
    assert requested(object(), connected=5) == 5
    assert join(describe(None), {}) == ()


def test_ssh_hosts_are_described_by_the_cluster() -> None:
    cluster = HostCluster.__new__(HostCluster)  # its description needs no running cluster
    cluster.plans = {"ws1": HostPlan("ws1", slots=2), "ws2": HostPlan("ws2", slots=1)}
    cluster.failed_hosts = {"ws3": "connection refused"}
    cluster.worker_spec = {"ws1-0": {"options": {"plan": cluster.plans["ws1"]}}}
    description = describe(cluster)
    assert description == Description(
        "host",
        (
            Placement("ws1", "ok", "ws1", ("ws1-0",), note="1 of 2 slots used"),
            Placement("ws2", "idle", "ws2", (), note="0 of 1 slots used"),
            Placement("ws3", "failed", "ws3", note="connection refused"),
        ),
    )
    rows = join(description, {"ws1-0": Seen("ws1", "running")})
    assert [len(r.workers) for r in rows] == [1, 0, 0]


def test_where_each_type_runs() -> None:
    assert where(LocalResource(name="l")).startswith("this machine (")
    ssh = SSHResource(name="lab", hosts=["a", "b"], scheduler="a")
    assert where(ssh) == "SSH hosts a, b; scheduler on a"
    slurm = SlurmResource(name="hpc", queue="normal", account="p42", walltime="01:00:00")
    assert where(slurm) == "slurm batch jobs, queue normal, account p42, walltime 01:00:00"
    assert Heading.of(slurm).walltime == 3600


def test_a_snapshot_survives_the_trip_over_a_comm() -> None:
    seen = {"0": Seen("h", "running")}
    snapshot = take(BatchLike(), Heading("x", "slurm", "there", 60.0), seen)
    assert Snapshot.from_msg(json.loads(json.dumps(snapshot.to_msg()))) == snapshot
    html = snapshot_html(snapshot, "http://127.0.0.1:1/hpcdask")
    assert html.count("<tr>") == 1 + len(snapshot.rows)
    assert "pending jobs: <b>1</b>" in html


def test_no_page_on_a_scheduler_without_dashboard_or_in_another_process() -> None:
    class Bare:
        http_application = None

    assert serve(Bare(), plugin=None) is False  # type: ignore[arg-type]

    class RemoteScheduler:  # an ssh resource's ``scheduler: HOST``: a process elsewhere
        scheduler = object()

    assert install(RemoteScheduler(), LocalResource(name="x")) is False  # type: ignore[arg-type]


def test_a_table_of_the_same_length_is_redrawn() -> None:
    """BokehJS redraws a DataTable only when its length changes: go through an empty one."""
    from bokeh.models.sources import ColumnDataSource

    source = ColumnDataSource({"id": ["1", "2"], "state": ["starting", "starting"]})
    lengths: list[int] = []
    source.on_change("data", lambda _attr, _old, new: lengths.append(len(new["id"])))
    replace_data(source, {"id": ["1", "2"], "state": ["running", "running"]})
    assert lengths == [0, 2] and source.data["state"] == ["running", "running"]
    replace_data(source, {"id": ["1", "2"], "state": ["running", "running"]})
    replace_data(source, {"id": ["1"], "state": ["running"]})
    assert lengths == [0, 2, 1]


# --- the page served by real clusters --------------------------------------------------------


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.slow
def test_connect_serves_the_page_and_it_follows_scaling(isolated_config: Path) -> None:
    cluster = hpcdask.connect("local", worker={"processes": 1}, dashboard_address="127.0.0.1:0")
    try:
        with Client(cluster) as client:
            link = page_link(cluster)
            assert link == cluster.dashboard_link.replace("/status", "/hpcdask")
            assert 'href="hpcdask"' in get(cluster.dashboard_link)  # in the navigation bar
            assert "Bokeh" in get(link)
            assert [r.id for r in fetch(cluster).rows] == ["0"]
            cluster.scale(3)
            client.wait_for_workers(3)
            wait_until(lambda: fetch(cluster).connected == 3, "3 workers in the snapshot", 30)
            plugin = cluster.scheduler.plugins["hpcdask-dashboard"]

            def sampled() -> set[tuple[int, int]]:
                return {(s.requested, s.connected) for s in plugin.history}

            wait_until(lambda: (3, 3) in sampled(), "a sample of 3 workers", 30)
            cluster.scale(0)
            wait_until(lambda: not client.scheduler_info()["workers"], "no workers", 30)
            snapshot = fetch(cluster)
            assert (snapshot.requested, snapshot.connected, snapshot.rows) == (0, 0, ())
            wait_until(lambda: (0, 0) in sampled(), "a sample of no workers", 30)
            assert (1, 1) in sampled()
    finally:
        cluster.close()


@pytest.mark.slow
def test_a_controller_serves_the_page_for_its_cluster(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(isolated_config.parent / "state"))
    try:
        subprocess.run(
            [HPCDASK, "up", "local", "--workers", "2", "--wait", "--set", "dashboard-address=:0"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        cluster = hpcdask.connect("local")
        assert isinstance(cluster, AttachedCluster)
        snapshot = fetch(cluster)
        assert (snapshot.heading.name, snapshot.heading.type) == ("local", "local")
        assert (snapshot.connected, snapshot.requested) == (2, 2)
        assert "Bokeh" in get(page_link(cluster))
        cluster.close()
    finally:
        subprocess.run([HPCDASK, "down", "--all"], capture_output=True, timeout=120)


def test_fetch_falls_back_when_the_scheduler_serves_no_page(isolated_config: Path) -> None:
    from distributed import LocalCluster

    kwargs: dict[str, Any] = {"n_workers": 1, "processes": False, "dashboard_address": ":0"}
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        client.wait_for_workers(1)
        snapshot = fetch(cluster)  # a plain distributed cluster: no hpcdask handler
        assert (snapshot.heading.type, snapshot.connected, len(snapshot.rows)) == (
            "LocalCluster", 1, 1
        )  # fmt: skip
