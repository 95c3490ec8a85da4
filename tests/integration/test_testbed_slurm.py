"""Smoke tests: the testbed's Slurm runs jobs on distinct nodes, inside the namespace hosts,
and in existing allocations; the leak guard catches jobs a test forgets."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import run, run_inner_pytest

pytestmark = pytest.mark.slurm


def check(cmd: list[str], timeout: float = 60) -> str:
    res = run(cmd, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(cmd)}: {res.stderr}"
    return res.stdout


def sbatch(*args: str) -> str:
    return check(["sbatch", "--parsable", "-t", "5", *args]).strip().split(";")[0]


def queue_states(job_ids: list[str]) -> dict[str, str]:
    """State of each of the jobs still in the queue (squeue -j fails once a job is purged)."""
    out = check(["squeue", "-h", "-o", "%i %T"])
    states = dict(line.split() for line in out.splitlines() if line.strip())
    return {job: state for job, state in states.items() if job in job_ids}


def wait_for_jobs(job_ids: list[str], timeout: float = 60) -> dict[str, float]:
    """Wait until the jobs left the queue; return when each was first seen RUNNING."""
    running: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while True:
        states = queue_states(job_ids)
        now = time.monotonic()
        for job, state in states.items():
            if state == "RUNNING":
                running.setdefault(job, now)
        if not states:
            return running
        assert now < deadline, f"jobs still queued after {timeout} s: {states}"
        time.sleep(0.05)


def wait_until_idle(partition: str, timeout: float = 30) -> None:
    """Wait until every node of ``partition`` is idle (not still completing earlier jobs)."""
    deadline = time.monotonic() + timeout
    while True:
        states = check(["sinfo", "-h", "-N", "-p", partition, "-o", "%N %T"]).split()[1::2]
        if states and all(state == "idle" for state in states):
            return
        assert time.monotonic() < deadline, f"{partition} nodes not idle: {states}"
        time.sleep(0.1)


def test_srun_spans_all_debug_nodes(slurm_conf: Path, slurm_info: dict[str, Any]) -> None:
    out = check(["srun", "-p", "debug", "-N4", "-t", "1", "printenv", "SLURMD_NODENAME"])
    assert sorted(out.split()) == slurm_info["partitions"]["debug"]


def test_sbatch_jobs_land_on_distinct_nodes(
    slurm_conf: Path, slurm_info: dict[str, Any], tmp_path: Path
) -> None:
    wait_until_idle("debug")  # so that each of the four exclusive jobs finds a free node
    submitted: dict[str, float] = {}
    for _ in range(4):
        job = sbatch("-p", "debug", "-N1", "--exclusive", "-o", f"{tmp_path}/%j.out",
                     "--wrap", "echo $SLURMD_NODENAME; sleep 1")  # fmt: skip
        submitted[job] = time.monotonic()
    jobs = list(submitted)
    running = wait_for_jobs(jobs)
    nodes = sorted((tmp_path / f"{job}.out").read_text().strip() for job in jobs)
    assert nodes == slurm_info["partitions"]["debug"]
    # Reported, not asserted (run with -s to see it).
    delays = ", ".join(f"{running[j] - submitted[j]:.2f}" for j in jobs if j in running)
    print(f"sbatch returned -> seen RUNNING (s): {delays}")


def test_ns_partition_runs_inside_namespace_hosts(
    slurm_conf: Path, slurm_info: dict[str, Any], tmp_path: Path
) -> None:
    addresses = slurm_info["node_addresses"]
    jobs = {
        node: sbatch("-p", "ns", "-w", node, "-o", f"{tmp_path}/{node}.out",
                     "--wrap", 'echo "$SLURMD_NODENAME $(hostname) $(hostname -I)"')
        for node in slurm_info["partitions"]["ns"]
    }  # fmt: skip
    wait_for_jobs(list(jobs.values()))
    for node in jobs:
        reported = (tmp_path / f"{node}.out").read_text().split()
        assert reported == [node, node, addresses[node]]


def test_salloc_then_srun_overlap_inside_the_allocation(slurm_conf: Path) -> None:
    res = run(["salloc", "--no-shell", "-N2", "-p", "debug", "-t", "5"], timeout=60)
    match = re.search(r"Granted job allocation (\d+)", res.stderr)
    assert res.returncode == 0 and match, res.stderr
    job = match.group(1)
    try:
        nodelist = check(["squeue", "-h", "-j", job, "-o", "%N"]).strip()
        nodes = check(["scontrol", "show", "hostnames", nodelist]).split()
        assert len(nodes) == 2
        for node in nodes:
            out = check(
                ["srun", f"--jobid={job}", "--overlap", "-N1", "-w", node,
                 "sh", "-c", "echo $SLURMD_NODENAME $SLURM_JOB_ID"]
            )  # fmt: skip
            assert out.split() == [node, job]
        assert queue_states([job]) == {job: "RUNNING"}
    finally:
        check(["scancel", job])
    wait_for_jobs([job], timeout=30)


INNER_LEAKY_MODULE = """
import os
import subprocess
import pytest

pytestmark = pytest.mark.slurm

def test_submits_a_job_and_forgets_it(slurm_conf):
    out = subprocess.run(
        ["sbatch", "--parsable", "-t", "5", "-o", "/dev/null", "--wrap", "sleep 300"],
        check=True, capture_output=True, text=True,
    ).stdout
    print("LEAKED_JOB", out.strip().split(";")[0])
"""


def test_leak_guard_cancels_and_fails(slurm_conf: Path, tmp_path: Path) -> None:
    res = run_inner_pytest(tmp_path, INNER_LEAKY_MODULE)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "1 passed, 1 error" in out, out
    job = out.split("LEAKED_JOB", 1)[1].split()[0]
    assert f"test left batch jobs behind: Slurm jobs {job} (now cancelled)" in out, out
    state = queue_states([job]).get(job)
    assert state in (None, "COMPLETING"), state
