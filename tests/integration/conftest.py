"""Fixtures for integration tests on the real testbed started by ``tests/infra/up.sh``.

The testbed (sshd hosts, Slurm, optionally Grid Engine) describes itself in
``$HPCDASK_TESTBED/testbed.json`` (default ``/tmp/hpcdask-testbed``). Tests declare what they
need with the markers ``ssh``, ``slurm`` and ``sge``; when that part of the testbed is not up,
the test is skipped with a hint on how to start it, or fails when ``CI=true``.

Guards that apply to every test here:

- Slurm/SGE-marked tests fail (at teardown) if they leave batch jobs in the queue; the leaked
  jobs are cancelled.
- After each test module, no ``dask worker``/``dask scheduler``/``distributed.cli.dask_*``
  process may be left anywhere on the machine (the namespace hosts share the PID namespace);
  leftovers are killed and the module's last test errors.

Both guards look at the whole machine, so two pytest sessions (or a benchmark) using the testbed
at once would see each other's jobs and processes as leaks. Each integration module therefore
holds the machine-wide lock ``TESTBED_LOCK`` while it runs; benchmarks take it with
``flock /tmp/hpcdask-testbed.lock python benchmarks/...``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTBED_DIR = Path(os.environ.get("HPCDASK_TESTBED", "/tmp/hpcdask-testbed"))
SERVICES = ("ssh", "slurm", "sge")
START_HINT = {
    "ssh": "start it with: sudo tests/infra/up.sh",
    "slurm": "start it with: sudo tests/infra/up.sh",
    "sge": "start it with: sudo HPCDASK_TESTBED_SGE=1 tests/infra/up.sh",
}
TESTBED_LOCK = Path(os.environ.get("HPCDASK_TESTBED_LOCK", "/tmp/hpcdask-testbed.lock"))
COMMAND_TIMEOUT = 30.0
# Jobs a test cancelled may take a few seconds to leave the queue (COMPLETING / "dr").
JOB_EXIT_GRACE = 15.0
# distributed's SSHCluster leaves remote workers for 2-5 s after a successful close.
DASK_EXIT_GRACE = float(os.environ.get("HPCDASK_TEST_DASK_EXIT_GRACE", "8"))


def in_ci() -> bool:
    """True when running under CI (``CI=true``): missing infrastructure is then a failure."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# --- the testbed description -------------------------------------------------------------


@dataclass(frozen=True)
class SSHHost:
    """One sshd of the testbed: ``hpcd-lo`` (loopback) or ``hpcd-h1..3`` (namespaces)."""

    name: str
    address: str
    port: int
    hostname: str
    netns: str | None = None


@functools.cache
def load_testbed() -> tuple[dict[str, Any] | None, str]:
    """The parsed ``testbed.json``, or ``(None, why not)``."""
    path = TESTBED_DIR / "testbed.json"
    try:
        return json.loads(path.read_text()), ""
    except FileNotFoundError:
        return None, f"the testbed is not up (no {path})"
    except (OSError, ValueError) as exc:
        return None, f"cannot read {path}: {exc}"


def slurm_env(section: dict[str, Any]) -> dict[str, str]:
    return {**os.environ, "SLURM_CONF": section["conf"]}


def sge_env_vars(section: dict[str, Any]) -> dict[str, str]:
    return {
        "SGE_ROOT": section["root"],
        "SGE_CELL": section["cell"],
        "SGE_QMASTER_PORT": str(section["qmaster_port"]),
        "SGE_EXECD_PORT": str(section["execd_port"]),
    }


def run(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture text output, never raise on a non-zero exit."""
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _ssh_problem(section: dict[str, Any]) -> str | None:
    for host in section["hosts"]:
        try:
            with socket.create_connection((host["address"], host["port"]), timeout=3):
                pass
        except OSError as exc:
            return f"sshd of {host['name']} at {host['address']}:{host['port']}: {exc}"
    return None


def _slurm_problem(section: dict[str, Any]) -> str | None:
    try:
        res = run(["sinfo", "-h", "-o", "%P %a"], env=slurm_env(section), timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo: {exc}"
    if res.returncode != 0 or not res.stdout.strip():
        return f"sinfo failed: {res.stderr.strip() or res.stdout.strip()}"
    return None


def _sge_problem(section: dict[str, Any]) -> str | None:
    try:
        res = run(["qstat"], env={**os.environ, **sge_env_vars(section)}, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"qstat: {exc}"
    if res.returncode != 0:
        return f"qstat failed: {res.stderr.strip() or res.stdout.strip()}"
    return None


@functools.cache
def service_problem(service: str) -> str | None:
    """None when ``service`` is up and answering, else why it is not (checked once)."""
    data, why = load_testbed()
    if data is None:
        return why
    section = data.get(service)
    if not section:
        return f"{service} is not part of the running testbed"
    checks = {"ssh": _ssh_problem, "slurm": _slurm_problem, "sge": _sge_problem}
    return checks[service](section)


def require(service: str) -> dict[str, Any]:
    """The testbed section for ``service``; skip the test (fail under CI) if it is not up."""
    problem = service_problem(service)
    if problem is not None:
        message = f"{service} testbed unavailable: {problem}; {START_HINT[service]}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: integration tests must run)", pytrace=False)
        pytest.skip(reason=message)
    data, _ = load_testbed()
    assert data is not None
    section: dict[str, Any] = data[service]
    return section


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for service in SERVICES:
        if item.get_closest_marker(service) is not None:
            require(service)


# --- fixtures: what the testbed offers -------------------------------------------------------


@pytest.fixture(scope="session")
def testbed() -> dict[str, Any]:
    """The whole parsed ``testbed.json`` (needs at least the ssh part to be up)."""
    require("ssh")
    data, _ = load_testbed()
    assert data is not None
    return data


@pytest.fixture(scope="session")
def bridge_address(testbed: dict[str, Any]) -> str:
    """Root-namespace address on the hosts' bridge (10.200.0.1): what namespace hosts reach."""
    address: str = testbed["bridge_address"]
    return address


@pytest.fixture(scope="session")
def ssh_hosts() -> list[SSHHost]:
    """All sshd hosts: ``hpcd-lo`` (127.0.0.1) first, then the namespace hosts."""
    return [SSHHost(**host) for host in require("ssh")["hosts"]]


@pytest.fixture(scope="session")
def ssh_namespace_hosts(ssh_hosts: list[SSHHost]) -> list[SSHHost]:
    """The hosts in network namespaces (``hpcd-h1..3``, 10.200.0.11-13, port 22)."""
    return [host for host in ssh_hosts if host.netns is not None]


@pytest.fixture(scope="session")
def ssh_loopback_host(ssh_hosts: list[SSHHost]) -> SSHHost:
    """The sshd on 127.0.0.1 (``hpcd-lo``)."""
    return next(host for host in ssh_hosts if host.netns is None)


@pytest.fixture(scope="session")
def ssh_user() -> str:
    user: str = require("ssh")["user"]
    return user


@pytest.fixture(scope="session")
def ssh_identity() -> Path:
    """Private key (ed25519) accepted by every testbed sshd."""
    return Path(require("ssh")["identity"])


@pytest.fixture(scope="session")
def ssh_known_hosts() -> Path:
    """known_hosts with every testbed host key (by address, ``[127.0.0.1]:port`` and name)."""
    return Path(require("ssh")["known_hosts"])


@pytest.fixture(scope="session")
def ssh_config() -> Path:
    """OpenSSH client config: ``ssh -F <it> hpcd-h1`` works non-interactively."""
    return Path(require("ssh")["config"])


@pytest.fixture(scope="session")
def slurm_info() -> dict[str, Any]:
    """The ``slurm`` section of testbed.json (partitions, node addresses, controller, ...)."""
    return require("slurm")


@pytest.fixture
def slurm_conf(slurm_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Path of the testbed's slurm.conf; also sets ``SLURM_CONF`` for the test."""
    monkeypatch.setenv("SLURM_CONF", slurm_info["conf"])
    return Path(slurm_info["conf"])


@pytest.fixture
def sge(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The ``sge`` section of testbed.json; sets SGE_ROOT, SGE_CELL and the ports for the test."""
    section = require("sge")
    for name, value in sge_env_vars(section).items():
        monkeypatch.setenv(name, value)
    return section


# --- guard: no batch jobs left behind ------------------------------------------------------------


class SlurmQueue:
    name = "Slurm"

    def __init__(self, section: dict[str, Any]) -> None:
        self.env = slurm_env(section)

    def jobs(self) -> dict[str, str]:
        """Job id -> state of everything in the queue."""
        res = run(["squeue", "-h", "-o", "%i %T"], env=self.env)
        if res.returncode != 0:
            raise RuntimeError(f"squeue failed: {res.stderr.strip()}")
        return dict(line.split(None, 1) for line in res.stdout.splitlines() if line.strip())

    @staticmethod
    def ending(state: str) -> bool:
        return state.startswith("COMPLETING")

    def cancel(self, job_ids: list[str]) -> None:
        run(["scancel", *job_ids], env=self.env)


class SGEQueue:
    name = "Grid Engine"

    def __init__(self, section: dict[str, Any]) -> None:
        self.env = {**os.environ, **sge_env_vars(section)}

    def jobs(self) -> dict[str, str]:
        res = run(["qstat", "-u", "*", "-xml"], env=self.env)
        if res.returncode != 0:
            raise RuntimeError(f"qstat failed: {res.stderr.strip()}")
        jobs = {}
        for job in ET.fromstring(res.stdout).iter("job_list"):
            jobs[job.findtext("JB_job_number", "")] = job.findtext("state", "")
        return jobs

    @staticmethod
    def ending(state: str) -> bool:
        return "d" in state  # "dr", "dt": being deleted

    def cancel(self, job_ids: list[str]) -> None:
        run(["qdel", "-f", *job_ids], env=self.env)


def leaked_jobs(queue: SlurmQueue | SGEQueue, before: set[str]) -> list[str]:
    """Jobs that appeared since ``before`` and are still queued or running.

    Jobs that are already ending (cancelled, completing) get ``JOB_EXIT_GRACE`` to leave.
    """
    deadline = time.monotonic() + JOB_EXIT_GRACE
    while True:
        new = {job: state for job, state in queue.jobs().items() if job not in before}
        live = sorted(job for job, state in new.items() if not queue.ending(state))
        if live or not new or time.monotonic() > deadline:
            return live or sorted(new)
        time.sleep(0.2)


def _job_queues(item: pytest.Item) -> list[SlurmQueue | SGEQueue]:
    data, _ = load_testbed()
    queues: list[SlurmQueue | SGEQueue] = []
    if data and item.get_closest_marker("slurm") and service_problem("slurm") is None:
        queues.append(SlurmQueue(data["slurm"]))
    if data and item.get_closest_marker("sge") and service_problem("sge") is None:
        queues.append(SGEQueue(data["sge"]))
    return queues


@pytest.fixture(autouse=True)
def _no_leaked_batch_jobs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a slurm/sge test that leaves jobs in the queue; cancel those jobs."""
    queues = _job_queues(request.node)
    before = {queue.name: set(queue.jobs()) for queue in queues}
    yield
    problems = []
    for queue in queues:
        leaked = leaked_jobs(queue, before[queue.name])
        if leaked:
            queue.cancel(leaked)
            problems.append(f"{queue.name} jobs {', '.join(leaked)} (now cancelled)")
    if problems:
        pytest.fail(f"test left batch jobs behind: {'; '.join(problems)}", pytrace=False)


# --- guard: no dask processes left behind ---------------------------------------------------------

DASK_PROCESS = re.compile(
    r"(?:^|[\s/])dask[- ](?:worker|scheduler)(?:\s|$)"
    r"|distributed\.cli\.dask_(?:worker|scheduler|spec)\b"
    r"|hpcdask\.pilot\.agent\b"  # a pilot's node agent
    r"|multiprocessing\.forkserver import main"  # the agent's forkserver and its workers
)


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # start time in clock ticks since boot: (pid, start) survives pid reuse
    cmdline: str


def _ancestors(pid: int) -> set[int]:
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rpartition(")")[2].split()[1])
    return seen


def dask_processes() -> list[Proc]:
    """Every live dask worker/scheduler/spec process on the machine (all namespace hosts too)."""
    mine = _ancestors(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if cmdline and fields[0] != "Z" and DASK_PROCESS.search(cmdline):
            found.append(Proc(int(entry.name), int(fields[19]), cmdline))
    return found


def kill_leftover_dask_processes(
    ignore: frozenset[tuple[int, int]] = frozenset(), grace: float = DASK_EXIT_GRACE
) -> list[Proc]:
    """Wait up to ``grace`` s for dask processes to exit, SIGKILL the rest, return those."""
    deadline = time.monotonic() + grace
    clean_scans = 0
    while True:
        left = [p for p in dask_processes() if (p.pid, p.start) not in ignore]
        # Two clean scans in a row: a process caught inside execve() shows no command line.
        clean_scans = 0 if left else clean_scans + 1
        if clean_scans == 2 or (left and time.monotonic() > deadline):
            break
        time.sleep(0.1)
    for proc in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(process_alive(p.pid) for p in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (orphans may wait a while to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class LeftoverCheck:
    """``check(grace=...)``: kill and return dask processes left on the machine.

    Processes that were running when this module took the testbed lock are never touched.
    """

    def __init__(self) -> None:
        self.ignore: frozenset[tuple[int, int]] = frozenset()

    def baseline(self) -> None:
        self.ignore = frozenset((p.pid, p.start) for p in dask_processes())

    def __call__(self, grace: float = DASK_EXIT_GRACE) -> list[Proc]:
        return kill_leftover_dask_processes(self.ignore, grace)


@pytest.fixture(scope="session")
def leftover_dask_processes() -> LeftoverCheck:
    return LeftoverCheck()


@contextlib.contextmanager
def testbed_lock() -> Iterator[None]:
    """Hold the machine-wide testbed lock (blocking until other sessions release it)."""
    with open(TESTBED_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module", autouse=True)
def _no_leftover_dask_processes(leftover_dask_processes: LeftoverCheck) -> Iterator[None]:
    """Hold the testbed for the module; after it, kill its leftover dask processes and error."""
    with testbed_lock():
        leftover_dask_processes.baseline()
        yield
        left = leftover_dask_processes()
    if left:
        listing = "\n".join(f"  pid {p.pid}: {p.cmdline}" for p in left)
        pytest.fail(f"dask processes left running (now killed):\n{listing}", pytrace=False)


# --- testing the guards themselves -----------------------------------------------------------


def run_inner_pytest(tmp_path: Path, module: str) -> subprocess.CompletedProcess[str]:
    """Run a throwaway test module with this conftest in a separate pytest."""
    (tmp_path / "conftest.py").write_text((Path(__file__)).read_text())
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(module))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    ssh: x\n    slurm: x\n    sge: x\n"
    )
    return run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-q",
            "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path),
        ],
        env={
            **os.environ,
            "HPCDASK_TEST_DASK_EXIT_GRACE": "0.5",
            # The outer module holds the testbed lock: the inner session takes its own.
            "HPCDASK_TESTBED_LOCK": str(tmp_path / "testbed.lock"),
        },
        timeout=120,
    )  # fmt: skip
