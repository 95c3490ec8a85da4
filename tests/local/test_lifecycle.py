"""Clusters that outlive a process: hpcdask up / status / scale / adapt / down, and attach.

Real controller processes, started through the real command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from distributed import Client
from waiting import wait_until

import hpcdask
from hpcdask.attached import AttachedCluster

HPCDASK = str(Path(sys.executable).parent / "hpcdask")
QUIET = ["--set", "dashboard-address=:0"]


@pytest.fixture
def state_dir(isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = isolated_config.parent / "state"
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(folder))
    yield folder
    subprocess.run([HPCDASK, "down", "--all"], capture_output=True, timeout=120)


def hpcdask_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([HPCDASK, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def status(name: str) -> dict[str, Any]:
    reports = json.loads(hpcdask_cli("status", name, "--json").stdout)
    assert len(reports) == 1
    report: dict[str, Any] = reports[0]
    return report


def gone(pid: int) -> bool:
    """The process exited (a zombie waiting for this machine's init to reap it counts)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def workers_of(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_up_status_scale_adapt_down(state_dir: Path) -> None:
    out = hpcdask_cli("up", "local", "--workers", "2", "--wait", *QUIET).stdout
    assert out.startswith("local: running at tcp://127.0.0.1:")
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    record = json.loads((state_dir / "local.json").read_text())
    assert stat.S_IMODE((state_dir / "local.json").stat().st_mode) == 0o600
    assert out.splitlines()[1] == f"dashboard: {record['dashboard_link']}"
    report = status("local")
    assert (report["state"], report["workers"], report["requested"]) == ("running", 2, 2)
    assert hpcdask_cli("list").stdout == "local\n"
    assert hpcdask_cli("dashboard", "local").stdout == record["dashboard_link"] + "\n"
    assert hpcdask_cli("scale", "local", "3").stdout.startswith("local: 3 workers requested")
    wait_until(lambda: status("local")["workers"] == 3, "3 workers", 60)
    hpcdask_cli("adapt", "local", "--minimum", "0", "--maximum", "2")
    assert status("local")["adaptive"] == [0, 2]
    wait_until(lambda: status("local")["workers"] == 0, "adaptive scale down to 0", 60)
    logs = hpcdask_cli("logs", "local").stdout
    assert "cluster local running at" in logs
    assert "== Scheduler" in logs
    assert "Register worker" in logs.split("== Scheduler")[1]
    assert hpcdask_cli("down", "local").stdout == "local: stopped\n"
    assert not (state_dir / "local.json").exists()
    assert gone(record["pid"])
    assert hpcdask_cli("status", "--json").stdout.strip() == "[]"


def test_attach_from_another_process(state_dir: Path) -> None:
    hpcdask_cli("up", "local", "--workers", "2", "--wait", *QUIET)
    cluster = hpcdask.connect("local")
    assert isinstance(cluster, AttachedCluster)
    with Client(cluster) as client:
        assert client.submit(sum, range(10)).result() == 45
        cluster.scale(1)
        wait_until(
            lambda: len(client.scheduler_info()["workers"]) == 1, "scale to 1 via attach", 60
        )
    cluster.close()
    assert status("local")["state"] == "running"  # detaching does not stop the cluster
    code = (
        "import hpcdask, distributed; c = hpcdask.connect('local'); "
        "print(distributed.Client(c).submit(pow, 2, 10).result())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert other.stdout == "1024\n", other.stderr


def test_attaching_leaves_the_controller_its_view_of_the_workers(state_dir: Path) -> None:
    """Regression: an attached view once took the scheduler's only worker-status feed."""
    hpcdask_cli("up", "local", "--workers", "1", "--wait", *QUIET)
    cluster = hpcdask.connect("local")
    assert isinstance(cluster, AttachedCluster)
    assert len(cluster.scheduler_info["workers"]) == 1
    cluster.scale(2)
    wait_until(
        lambda: status("local")["workers"] == 2, "the controller to see its second worker", 60
    )
    wait_until(
        lambda: len(cluster.scheduler_info["workers"]) == 2, "the attached view to follow", 60
    )
    cluster.close()
    hpcdask_cli("scale", "local", "3")
    wait_until(
        lambda: status("local")["workers"] == 3, "the controller to see its third worker", 60
    )


def test_sigkill_of_the_controller_leaves_nothing(state_dir: Path) -> None:
    hpcdask_cli("up", "local", "--workers", "2", "--wait", *QUIET)
    pid = json.loads((state_dir / "local.json").read_text())["pid"]
    tree = workers_of(pid)
    assert len(tree) >= 2
    os.kill(pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert alive == []
    reports = json.loads(hpcdask_cli("status", "--json").stdout)
    assert [(r["name"], r["state"]) for r in reports] == [("local", "dead")]
    assert not (state_dir / "local.json").exists()
    assert hpcdask_cli("list").stdout == ""


def test_idle_timeout_shuts_a_forgotten_cluster_down(state_dir: Path) -> None:
    hpcdask_cli("up", "local", "--workers", "1", "--idle-timeout", "2s", *QUIET)
    pid = json.loads((state_dir / "local.json").read_text())["pid"]
    wait_until(lambda: gone(pid), "the idle cluster to stop", 60)
    assert not (state_dir / "local.json").exists()
    assert "shutting down" in (state_dir / "local.log").read_text()


def test_up_gives_up_on_a_cluster_that_never_starts(state_dir: Path, tmp_path: Path) -> None:
    """A start that hangs (here: a worker preload that sleeps) is stopped with all it began."""
    (tmp_path / "slow.py").write_text("import time\ntime.sleep(600)\n")
    preload = f"--set=dask.distributed.worker.preload=[{tmp_path / 'slow.py'}]"
    res = hpcdask_cli("up", "local", "--timeout", "5", preload, *QUIET, check=False)
    assert res.returncode == 2
    assert res.stderr.strip().endswith("cluster 'local' did not start within 5s")
    wait_until(lambda: not processes_of(state_dir), "the controller and its workers to stop", 15)
    assert not (state_dir / "local.json").exists()
    assert "while starting; giving up" in (state_dir / "local.log").read_text()


def test_concurrent_up_starts_one_cluster(state_dir: Path) -> None:
    with ThreadPoolExecutor(3) as pool:
        results = list(
            pool.map(lambda _: hpcdask_cli("up", "local", "--workers", "1", *QUIET), range(3))
        )
    addresses = {r.stdout.splitlines()[0] for r in results}
    assert len(addresses) == 1
    assert len(controllers_of(state_dir)) == 1


def processes_of(state_dir: Path) -> list[psutil.Process]:
    """Every process (controller, nanny, worker) started with ``state_dir`` as its state."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            mine = process.environ().get("HPCDASK_STATE_DIR") == str(state_dir)
            if mine and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def controllers_of(state_dir: Path) -> list[psutil.Process]:
    """Controller processes keeping their records in ``state_dir`` (other sessions may run)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if "hpcdask.controller" not in " ".join(process.info["cmdline"] or []):
            continue
        with contextlib.suppress(psutil.Error):
            if process.environ().get("HPCDASK_STATE_DIR") == str(state_dir):
                found.append(process)
    return found


def test_damaged_record_is_a_clear_message(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700, exist_ok=True)
    (state_dir / "broken.json").write_text('{"name": "broken", "ty')
    result = hpcdask_cli("status", "--json")
    report = json.loads(result.stdout)[0]
    assert report["state"] == "damaged"
    assert "broken.json: the record of a running cluster is damaged" in report["problem"]
    assert "hpcdask down broken" in report["problem"]
    assert hpcdask_cli("down", "broken").stdout == "broken: stopped\n"
    assert not (state_dir / "broken.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["scale", "nope", "3"],
            "hpcdask: error: no cluster named 'nope' is running (start it with "
            "`hpcdask up nope`)\n",
        ),
        (["down"], "hpcdask: error: name a cluster to stop, or give --all\n"),
        (["down", "nope"], "hpcdask: error: no cluster named 'nope' is running\n"),
        (
            ["adapt", "nope", "--minimum", "3", "--maximum", "1"],
            "hpcdask: error: --minimum (3) is more than --maximum (1)\n",
        ),
    ],
)
def test_verb_errors(state_dir: Path, args: list[str], message: str) -> None:
    result = hpcdask_cli(*args, check=False)
    assert (result.returncode, result.stderr) == (2, message)


def test_dask_ctl_discovery_contract(state_dir: Path) -> None:
    """As dask-ctl calls it: entry point → discover() → from_name(name) → compute, scale."""
    import asyncio
    from importlib.metadata import entry_points

    hpcdask_cli("up", "local", "--workers", "1", "--wait", *QUIET)
    [entry] = [e for e in entry_points(group="dask_cluster_discovery") if e.name == "hpcdask"]
    discover = entry.load()

    async def found() -> list[tuple[str, Any]]:
        return [item async for item in discover()]

    [(name, cluster_class)] = asyncio.run(found())
    assert name == "local"
    cluster = cluster_class.from_name(name)
    with Client(cluster) as client:
        assert client.submit(pow, 3, 3).result() == 27
        cluster.scale(2)
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, "scale via discovery", 60)
    cluster.shutdown()
    assert hpcdask_cli("list").stdout == ""


def test_state_folder_faults_never_break_or_kill_the_wrong_process(state_dir: Path) -> None:
    """A stale record naming a reused pid, a record from a newer hpcdask, empty credentials
    and a damaged record of a running cluster: clear words, and only the keeper is stopped."""
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        state_dir.mkdir(mode=0o700, exist_ok=True)
        stale = {"name": "stale", "type": "local", "scheduler_address": "tcp://127.0.0.1:1",
                 "dashboard_link": "", "controller_address": "tls://127.0.0.1:2",
                 "pid": stranger.pid, "started": 0.0, "version": "0", "pid_start": 1.0}  # fmt: skip
        (state_dir / "stale.json").write_text(json.dumps(stale))
        result = hpcdask_cli("down", "stale", check=False)
        assert (result.returncode, result.stderr) == (
            2, "hpcdask: error: no cluster named 'stale' is running\n"
        )  # fmt: skip
        assert stranger.poll() is None and not (state_dir / "stale.json").exists()
    finally:
        stranger.kill()
        stranger.wait()

    hpcdask_cli("up", "local", "--workers", "1", "--wait", *QUIET)
    path = state_dir / "local.json"
    record = json.loads(path.read_text())
    assert record["pid_start"] == pytest.approx(psutil.Process(record["pid"]).create_time())
    path.write_text(json.dumps({**record, "written_by": "a newer hpcdask"}))
    assert (status("local")["state"], status("local")["workers"]) == ("running", 1)

    credentials = state_dir / "local.credentials"
    saved = credentials.read_text()
    credentials.write_text("")
    result = hpcdask_cli("status", "local", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith(f"hpcdask: error: {credentials}: cluster 'local': ")
    assert len(result.stderr.splitlines()) == 1
    credentials.write_text(saved)

    controller, tree = psutil.Process(record["pid"]), workers_of(record["pid"])
    path.write_text('{"name": "local", "ty')
    result = hpcdask_cli("up", "local", *QUIET, check=False)
    assert result.returncode == 2
    assert f"cluster 'local' is held by process {controller.pid}, but " in result.stderr
    assert hpcdask_cli("down", "local").stdout == "local: stopped\n"
    _, left = psutil.wait_procs([controller, *tree], timeout=30)
    assert left == []
