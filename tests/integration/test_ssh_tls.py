"""Non-local clusters use TLS by default: clients without the cluster's credentials are refused."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from distributed import Client
from distributed.comm import connect
from distributed.core import rpc
from distributed.security import Security

import hpcdask

from .conftest import SSHHost, dask_processes

pytestmark = pytest.mark.ssh
HPCDASK = str(Path(sys.executable).parent / "hpcdask")


@pytest.fixture
def lab(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ssh_identity: Path,
    ssh_known_hosts: Path,
    ssh_namespace_hosts: list[SSHHost],
) -> Iterator[Path]:
    """A config file with an ssh resource 'lab' on two namespace hosts; a private state dir."""
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(tmp_path / "state"))
    resource = {
        "type": "ssh",
        "hosts": [h.address for h in ssh_namespace_hosts[:2]],
        "user": "root",
        "identity": str(ssh_identity),
        "known-hosts": str(ssh_known_hosts),
        "dashboard-address": ":0",
    }
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"resources": {"lab": resource}}))
    yield path
    subprocess.run([HPCDASK, "down", "--all"], capture_output=True, timeout=120)


def _refused(address: str) -> bool:
    """Whether clients without this cluster's credentials fail to reach ``address``.

    With none at all a client cannot even try; with credentials of its own (a stranger's
    certificate) the TLS handshake is refused.
    """
    with pytest.raises(TypeError, match="TLS expects a `ssl_context`"):
        asyncio.run(connect(address, timeout=3))
    try:
        with Client(address, timeout=3, security=Security.temporary()):
            return False
    except (OSError, TimeoutError):
        return True


def _no_secret_on_command_lines() -> None:
    assert not [p for p in dask_processes() if "BEGIN" in p.cmdline]


def test_in_process_ssh_cluster_uses_tls(lab: Path) -> None:
    with hpcdask.connect("lab", config=lab) as cluster:
        assert cluster.scheduler_address.startswith("tls://10.200.0.1:")
        with Client(cluster) as client:
            assert client.submit(sum, range(5)).result() == 10
            assert all(a.startswith("tls://") for a in client.scheduler_info()["workers"])
        assert _refused(cluster.scheduler_address)
        _no_secret_on_command_lines()


def test_local_type_stays_plain_unless_asked(lab: Path) -> None:
    with hpcdask.connect("local", worker={"processes": 1}, dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
    with hpcdask.connect(
        "local", worker={"processes": 1}, dashboard_address=":0", tls=True
    ) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with Client(cluster) as client:
            assert client.submit(pow, 2, 5).result() == 32


def test_controller_owned_cluster_and_its_controller_need_credentials(lab: Path) -> None:
    subprocess.run(
        [HPCDASK, "--config", str(lab), "up", "lab"], check=True, capture_output=True, timeout=120
    )
    state = Path(lab.parent / "state")
    record: dict[str, Any] = json.loads((state / "lab.json").read_text())
    assert stat.S_IMODE((state / "lab.credentials").stat().st_mode) == 0o600
    assert record["scheduler_address"].startswith("tls://")
    assert record["controller_address"].startswith("tls://127.0.0.1:")
    with Client(hpcdask.connect("lab", config=lab)) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
    assert _refused(record["scheduler_address"])

    async def plain_status() -> Any:
        async with rpc(record["controller_address"], timeout=3) as controller:
            return await controller.hpcdask_status()

    with pytest.raises(TypeError, match="TLS expects a `ssl_context`"):
        asyncio.run(plain_status())
    _no_secret_on_command_lines()
    subprocess.run([HPCDASK, "down", "lab"], check=True, capture_output=True, timeout=120)
    assert not (state / "lab.credentials").exists()


def test_run_gives_the_command_the_credentials(lab: Path) -> None:
    code = (
        "from distributed import Client; c = Client(); "
        "print(c.scheduler.address.split(':')[0], c.submit(pow, 3, 4).result())"
    )
    result = subprocess.run(
        [HPCDASK, "--config", str(lab), "run", "lab", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tls 81\n"


def test_connection_file_attaches_from_elsewhere(lab: Path, tmp_path: Path) -> None:
    up = subprocess.run(
        [HPCDASK, "--config", str(lab), "up", "lab"], capture_output=True, text=True, timeout=120
    )
    assert up.returncode == 0, up.stderr
    exported = tmp_path / "lab-connection.json"
    subprocess.run(
        [HPCDASK, "export", "lab", "-o", str(exported)], check=True, capture_output=True, timeout=60
    )
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import sys, hpcdask, distributed; c = hpcdask.connect(sys.argv[1]); "
        "print(distributed.Client(c).submit(pow, 2, 7).result()); c.scale(1)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(elsewhere),
        "HPCDASK_STATE_DIR": str(elsewhere / "state"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code, str(exported)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "128\n"
    report = json.loads(
        subprocess.run(
            [HPCDASK, "status", "lab", "--json"], check=True, capture_output=True, text=True
        ).stdout
    )[0]
    assert report["requested"] == 1
