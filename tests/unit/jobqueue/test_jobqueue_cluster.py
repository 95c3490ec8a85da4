"""Batch clusters against a faked Slurm: a real scheduler here, no jobs anywhere.

They show what the cluster does with what the batch system says: refusals raise at once, a
pending job stays pending, ended jobs are replaced (but not forever), close cancels them all.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakeshell import FakeShell
from waiting import wait_until

from hpcdask.backends.jobqueue import JobqueueBackend
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.jobs import JobState, JobSubmissionError, WorkersFailedError
from hpcdask.models import SlurmResource

REFUSED = "sbatch: error: Batch job submission failed: Invalid partition name specified\n"


def resource(**keys: Any) -> SlurmResource:
    base = {"name": "fake", "worker": {"cores": 1, "memory": "1GB"}, "queue": "debug",
            "dashboard_address": ":0", "poll_interval": "0.1s", "scaling": 0}  # fmt: skip
    return SlurmResource.model_validate({**base, **keys})


def numbered() -> Callable[[tuple[str, ...], str | None], tuple[int, str, str]]:
    ids = itertools.count(101)
    return lambda command, stdin: (0, f"{next(ids)}\n", "")


def squeue_says(line: str) -> Callable[[tuple[str, ...], str | None], tuple[int, str, str]]:
    def reply(command: tuple[str, ...], stdin: str | None) -> tuple[int, str, str]:
        ids = command[-1].removeprefix("--jobs=").split(",")
        return 0, "".join(f"{job_id}|{line}\n" for job_id in ids), ""

    return reply


@pytest.fixture
def shell() -> FakeShell:
    fake = FakeShell()
    fake.answer("sbatch", numbered())
    fake.answer("squeue", squeue_says("PENDING|Priority|"))
    fake.reply("scancel", "")
    return fake


@pytest.fixture
def start(shell: FakeShell) -> Iterator[Callable[..., BatchCluster]]:
    started: list[BatchCluster] = []

    def open_cluster(**keys: Any) -> BatchCluster:
        cluster = JobqueueBackend(shell).cluster(resource(**keys))
        assert isinstance(cluster, BatchCluster)
        started.append(cluster)
        return cluster

    yield open_cluster
    for cluster in started:
        cluster.close()


def test_refused_submission_raises_at_once(shell: FakeShell) -> None:
    shell.replies["sbatch"] = [(1, "", REFUSED)]
    began = time.monotonic()
    with pytest.raises(JobSubmissionError) as caught:
        JobqueueBackend(shell).cluster(resource(scaling=2))
    assert time.monotonic() - began < 10
    assert str(caught.value) == (
        "Slurm refused the worker job: "
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    assert not shell.called("scancel")  # nothing was submitted, nothing to cancel


def test_pending_job_is_shown_pending(shell: FakeShell, start: Callable[..., BatchCluster]) -> None:
    shell.replies["squeue"] = [(0, "101|PENDING|JobHeldUser|\n", "")]
    cluster = start(scaling=1)
    jobs = cluster.refresh_jobs()
    assert {k: (v.state, v.reason) for k, v in jobs.items()} == {
        "101": (JobState.PENDING, "JobHeldUser")
    }
    assert repr(cluster).endswith("workers=0, threads=0, memory=0 B, jobs: 1 pending)")
    assert "Jobs: 1 pending" in cluster._scaling_status()
    assert "PENDING (JobHeldUser)" in repr(cluster.workers["fake-0"])
    (place,) = cluster.describe().placements
    assert (place.id, place.state, place.workers, place.note, place.walltime_left) == (
        "101", "pending", ("fake-0",), "JobHeldUser", None
    )  # fmt: skip
    cluster.close()
    assert [c.command for c in shell.called("scancel")] == [("scancel", "101")]
    assert cluster.jobs["101"].state is JobState.CANCELLED


def test_close_cancels_every_job_in_one_command(
    shell: FakeShell, start: Callable[..., BatchCluster]
) -> None:
    cluster = start(scaling=3)
    assert len(shell.called("sbatch")) == 3  # submitted before connect() returned
    cluster.close()
    assert [c.command for c in shell.called("scancel")] == [("scancel", "101", "102", "103")]


def test_later_refusal_raises_from_scale(
    shell: FakeShell, start: Callable[..., BatchCluster]
) -> None:
    cluster = start(scaling=1)
    shell.replies["sbatch"] = [(1, "", REFUSED)]
    with pytest.raises(JobSubmissionError, match="Invalid partition name"):
        cluster.scale(3)
    assert list(cluster.worker_spec) == ["fake-0"]  # refused jobs are not waited for
    assert isinstance(cluster.problem, JobSubmissionError)


def test_adaptive_refusal_is_logged_once_and_backs_off(
    shell: FakeShell, start: Callable[..., BatchCluster], caplog: pytest.LogCaptureFixture
) -> None:
    shell.replies["sbatch"] = [(1, "", REFUSED)]
    cluster = start(scaling=0)
    with caplog.at_level(logging.ERROR, logger="hpcdask"):
        cluster.adapt(minimum=1, maximum=2, interval="100ms")
        wait_until(lambda: cluster.problem is not None, "the cluster's verdict", 10)
        time.sleep(1)
    assert len(shell.called("sbatch")) == 1  # later attempts met the back-off
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("hpcdask")]
    assert ours == [str(cluster.problem)]


def test_ended_jobs_are_replaced_but_not_forever(
    shell: FakeShell, start: Callable[..., BatchCluster]
) -> None:
    shell.replies["squeue"] = [squeue_says("FAILED|NonZeroExitCode|n1")]
    cluster = start(scaling=1)
    wait_until(lambda: cluster.problem is not None, "the cluster's verdict", 10)
    assert isinstance(cluster.problem, WorkersFailedError)
    assert str(cluster.problem).startswith(
        "3 worker jobs in a row ended before any of their workers connected "
        "(last: job 103: FAILED (FAILED: NonZeroExitCode) on n1)"
    )
    assert len(shell.called("sbatch")) == 3
    assert not cluster.worker_spec
    assert [info.name for info in cluster.jobs.values()] == ["fake-0", "fake-1", "fake-2"]
