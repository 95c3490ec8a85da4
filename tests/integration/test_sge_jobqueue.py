"""Batch clusters on the testbed's real Grid Engine (queue all.q, 4 slots on one host)."""

from __future__ import annotations

import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from waiting import wait_until

import hpcdask
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.jobs import JobState, JobSubmissionError

from .conftest import run

pytestmark = pytest.mark.sge


@pytest.fixture
def connect(
    sge: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., BatchCluster]]:
    monkeypatch.chdir(tmp_path)  # Grid Engine jobs run in the submission folder (-cwd)
    config = tmp_path / "sge.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        resources:
          g:
            type: sge
            queue: {sge["queue"]}
            resource-spec: ""
            worker: {{cores: 1, memory: 500MB}}
            dashboard-address: ":0"
            poll-interval: 1s
            death-timeout: 10
            log-directory: {tmp_path / "logs"}
            scaling: 0
        """)
    )
    opened: list[BatchCluster] = []

    def open_cluster(**overrides: Any) -> BatchCluster:
        cluster = hpcdask.connect("g", config=config, **overrides)
        assert isinstance(cluster, BatchCluster)
        opened.append(cluster)
        return cluster

    yield open_cluster
    for cluster in opened:
        cluster.close()


def queued(job_ids: list[str]) -> dict[str, str]:
    res = run(["qstat", "-u", "*", "-xml"])
    assert res.returncode == 0, res.stderr
    states = {
        entry.findtext("JB_job_number", ""): entry.findtext("state", "")
        for entry in ET.fromstring(res.stdout).iter("job_list")
    }
    return {job: state for job, state in states.items() if job in job_ids}


def gone(job_ids: list[str]) -> None:
    """Wait until the jobs left qstat, or only show as being deleted."""
    wait_until(lambda: all("d" in s for s in queued(job_ids).values()), "jobs still queued", 20)


def test_scale_up_and_down(connect: Callable[..., BatchCluster], sge: dict[str, Any]) -> None:
    cluster = connect()
    with Client(cluster) as client:
        cluster.scale(2)  # an empty resource-spec writes no bare '#$ -l' that qsub refuses
        client.wait_for_workers(2, timeout=60)
        jobs = cluster.refresh_jobs()
        assert {(info.state, info.nodes) for info in jobs.values()} == {
            (JobState.RUNNING, sge["host"])
        }
        cluster.scale(0)
        gone(list(jobs))
        wait_until(lambda: not client.scheduler_info()["workers"], "workers still there", 20)


def test_held_job_is_pending(connect: Callable[..., BatchCluster]) -> None:
    cluster = connect(scaling=1, job_extra_directives=["-h"])
    jobs = cluster.refresh_jobs()
    assert [(info.state, info.reason) for info in jobs.values()] == [
        (JobState.PENDING, "held (hqw)")
    ]
    cluster.close()
    gone(list(jobs))


def test_unknown_queue_fails_fast(connect: Callable[..., BatchCluster]) -> None:
    began = time.monotonic()
    with pytest.raises(JobSubmissionError) as caught:
        connect(queue="nope", scaling=1)
    assert time.monotonic() - began < 10
    assert str(caught.value).startswith(
        "Grid Engine refused the worker job: Unable to run job: Job was rejected because "
        'job requests unknown queue "nope"'
    )
