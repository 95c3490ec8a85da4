"""Smoke tests: the testbed's Grid Engine (HPCDASK_TESTBED_SGE=1) runs a qsub job, and the
leak guard deletes jobs a test forgets."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from .conftest import run, run_inner_pytest

pytestmark = pytest.mark.sge


def job_state(job: str) -> str | None:
    res = run(["qstat", "-u", "*", "-xml"])
    assert res.returncode == 0, res.stderr
    for entry in ET.fromstring(res.stdout).iter("job_list"):
        if entry.findtext("JB_job_number") == job:
            return entry.findtext("state", "")
    return None


def test_qsub_job_is_seen_running_then_finishes(sge: dict[str, Any], tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nhostname\nsleep 2\n")
    out = tmp_path / "job.out"
    res = run(["qsub", "-terse", "-N", "hpcd-smoke", "-j", "y", "-o", str(out), str(script)])
    assert res.returncode == 0, res.stderr
    job = res.stdout.strip()
    assert job.isdigit(), res.stdout

    submitted = time.monotonic()
    seen: list[str] = []
    running_after: float | None = None
    while (state := job_state(job)) is not None:
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "r" and running_after is None:
            running_after = time.monotonic() - submitted
        assert time.monotonic() < submitted + 60, f"job {job} still in qstat: {seen}"
        time.sleep(0.1)
    assert running_after is not None, f"never saw job {job} running in qstat, states: {seen}"
    print(f"qsub -> running in qstat: {running_after:.2f} s")
    assert out.read_text().strip() == sge["host"]


INNER_LEAKY_MODULE = """
import subprocess
import pytest

pytestmark = pytest.mark.sge

def test_submits_a_job_and_forgets_it(sge):
    out = subprocess.run(
        ["qsub", "-terse", "-b", "y", "-j", "y", "-o", "/dev/null", "sleep", "300"],
        check=True, capture_output=True, text=True, cwd="/tmp",
    ).stdout
    print("LEAKED_JOB", out.strip())
"""


def test_leak_guard_deletes_and_fails(sge: dict[str, Any], tmp_path: Path) -> None:
    res = run_inner_pytest(tmp_path, INNER_LEAKY_MODULE)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "1 passed, 1 error" in out, out
    job = out.split("LEAKED_JOB", 1)[1].split()[0]
    assert f"test left batch jobs behind: Grid Engine jobs {job} (now cancelled)" in out, out
    assert job_state(job) in (None, "dr", "dt", "dqw"), job_state(job)
