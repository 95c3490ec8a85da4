"""A batch resource behind an SSH login node: namespace host hpcd-h1 is the login node.

The root namespace plays the user's laptop. It has no Slurm config (``SLURM_CONF`` is unset
for the commands the test runs), so everything that reaches Slurm goes through the login node,
where the controller runs; this machine only holds the SSH tunnel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from distributed import Client
from waiting import wait_until

import hpcdask
from hpcdask.attached import AttachedCluster

from .conftest import SSHHost, run

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]
HPCDASK = str(Path(sys.executable).parent / "hpcdask")


class Login:
    """The test's resource ``hpc`` and the two state folders: here and on the login node."""

    def __init__(self, tmp_path: Path, host: SSHHost, login: dict[str, Any], slurm: str) -> None:
        self.tmp_path = tmp_path
        self.host = host
        self.slurm_conf = slurm
        self.config = tmp_path / "hpc.yaml"
        self.local = tmp_path / "local-state"
        self.remote = tmp_path / "remote-state"
        self.login = login
        self.write()

    def write(self, **login: Any) -> None:
        resource = {
            "type": "slurm",
            "queue": "ns",
            "interface": "eth0",
            "scheduler-host": self.host.address,
            "worker": {"cores": 1, "memory": "500MB"},
            "death-timeout": 10,
            "log-directory": str(self.tmp_path / "logs"),
            "login": {**self.login, **{k.replace("_", "-"): v for k, v in login.items()}},
        }
        self.config.write_text(yaml.safe_dump({"resources": {"hpc": resource}}))

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = run([HPCDASK, "--config", str(self.config), *args], timeout=180)
        if check:
            assert res.returncode == 0, res.stdout + res.stderr
        return res

    def status(self) -> dict[str, Any]:
        reports = json.loads(self.cli("status", "hpc", "--json").stdout)
        assert len(reports) == 1, reports
        report: dict[str, Any] = reports[0]
        return report

    def record(self, where: Path) -> dict[str, Any] | None:
        path = where / "hpc.json"
        return json.loads(path.read_text()) if path.exists() else None

    def squeue(self) -> list[str]:
        """Ids of the jobs in Slurm's queue."""
        env = {**os.environ, "SLURM_CONF": self.slurm_conf}
        res = run(["squeue", "-h", "-o", "%i"], env=env)
        assert res.returncode == 0, res.stderr
        return res.stdout.split()


def on_login_node(pid: int, host: SSHHost) -> bool:
    """Whether process ``pid`` runs inside the login node's network namespace."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{host.netns}").st_ino


@pytest.fixture
def hpc(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ssh_namespace_hosts: list[SSHHost],
    ssh_identity: Path,
    ssh_known_hosts: Path,
    slurm_info: dict[str, Any],
) -> Iterator[Login]:
    host = ssh_namespace_hosts[0]
    login = {
        "host": host.address,
        "port": host.port,
        "user": "root",
        "identity": str(ssh_identity),
        "known-hosts": str(ssh_known_hosts),
        "python": sys.executable,
        "env": {
            "SLURM_CONF": slurm_info["conf"],
            "HPCDASK_STATE_DIR": str(tmp_path / "remote-state"),
        },
    }
    setup = Login(tmp_path, host, login, slurm_info["conf"])
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(setup.local))
    monkeypatch.delenv("SLURM_CONF", raising=False)
    yield setup
    setup.cli("down", "hpc", check=False)
    remote = setup.record(setup.remote)
    if remote is not None and alive(remote["pid"]):  # stop it, so the next test starts clean
        psutil.Process(remote["pid"]).terminate()
        pytest.fail(f"the controller on the login node outlived `hpcdask down`: {remote}")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def compute(config: Path) -> tuple[AttachedCluster, int]:
    cluster = hpcdask.connect("hpc", config=config)
    assert isinstance(cluster, AttachedCluster)
    with Client(cluster) as client:
        total = client.submit(sum, range(100)).result()
    cluster.close()
    return cluster, total


def agent_processes() -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if "hpcdask.login.agent serve hpc" in " ".join(p.info["cmdline"] or [])
    ]


def test_up_compute_scale_lose_the_connection_reattach_down(hpc: Login) -> None:
    out = hpc.cli("up", "hpc", "--workers", "2", "--wait").stdout
    assert out.startswith("hpc: running at tls://127.0.0.1:"), out
    local, remote = hpc.record(hpc.local), hpc.record(hpc.remote)
    assert local is not None and remote is not None
    # The controller and scheduler live on the login node; this machine has the tunnel.
    assert remote["scheduler_address"].startswith(f"tls://{hpc.host.address}:")
    assert local["login"] == f"root@{hpc.host.address}:{hpc.host.port}"
    assert local["pid"] != remote["pid"] and alive(remote["pid"])
    assert oct((hpc.local / "hpc.credentials").stat().st_mode & 0o777) == "0o600"
    assert oct((hpc.remote / "hpc.credentials").stat().st_mode & 0o777) == "0o600"
    assert on_login_node(remote["pid"], hpc.host) and not on_login_node(local["pid"], hpc.host)
    assert len(hpc.squeue()) == 2  # submitted there: this machine has no Slurm config

    cluster, total = compute(hpc.config)
    assert total == 4950
    assert cluster.dashboard_link.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(cluster.dashboard_link, timeout=10) as page:
        assert page.status == 200 and b"Dask" in page.read()

    hpc.cli("scale", "hpc", "3")
    wait_until(lambda: hpc.status()["workers"] == 3, "a third worker", 60)
    logs = hpc.cli("logs", "hpc").stdout
    assert f"== tunnel ({hpc.local / 'hpc.log'})" in logs
    assert f"== controller ({hpc.remote / 'hpc.log'})" in logs
    assert "Register worker" in logs.split("== Scheduler")[1]

    # The laptop's side dies: the cluster lives on; `attach` makes a new tunnel.
    os.kill(local["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(local["pid"]), "the tunnel to die", 60)
    assert alive(remote["pid"])
    out = hpc.cli("attach", "hpc").stdout
    assert f"through root@{hpc.host.address}" in out
    again = hpc.record(hpc.local)
    assert again is not None and again["pid"] != local["pid"]
    assert compute(hpc.config)[1] == 4950
    assert hpc.status()["workers"] == 3

    # The connection drops at the login node's end: the tunnel leaves; connect() reconnects.
    (agent,) = agent_processes()
    agent.parent().kill()  # the sshd process serving the tunnel's connection
    wait_until(lambda: not alive(again["pid"]), "the tunnel to notice the lost connection", 30)
    wait_until(lambda: not agent_processes(), "the agent on the login node to leave", 30)
    assert hpc.record(hpc.local) is None and alive(remote["pid"])
    assert compute(hpc.config)[1] == 4950

    assert hpc.cli("down", "hpc").stdout == "hpc: stopped\n"
    wait_until(lambda: not alive(remote["pid"]), "the controller on the login node to stop", 60)
    assert hpc.record(hpc.local) is None and hpc.record(hpc.remote) is None
    assert not (hpc.local / "hpc.credentials").exists()
    assert hpc.squeue() == []


def test_down_reconnects_to_stop_a_cluster_left_without_tunnel(hpc: Login) -> None:
    hpc.cli("up", "hpc")
    local, remote = hpc.record(hpc.local), hpc.record(hpc.remote)
    assert local is not None and remote is not None
    os.kill(local["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(local["pid"]), "the tunnel to die", 60)
    assert hpc.status()["state"] == "running"  # status reconnects by itself
    assert hpc.cli("down", "hpc").stdout == "hpc: stopped\n"
    wait_until(lambda: not alive(remote["pid"]), "the controller on the login node to stop", 60)


def test_check_runs_the_batch_checks_on_the_login_node(hpc: Login) -> None:
    out = hpc.cli("check", "hpc").stdout
    for row in ("login ", "port forwarding ", "hpcdask there ", "queue (login node) "):
        line = next(line for line in out.splitlines() if line.startswith(row))
        assert " ok " in line, out
    assert "submission (login node)" in out


def _one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_refused_login_is_one_line(hpc: Login, tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    hpc.write(identity=str(key))
    line = _one_line_error(hpc.cli("up", "hpc", check=False))
    assert f"login node root@{hpc.host.address}:{hpc.host.port}: login refused as root" in line
    checked = hpc.cli("check", "hpc", check=False)
    assert checked.returncode == 1
    row = next(line for line in checked.stdout.splitlines() if line.startswith("login "))
    assert "FAILED" in row and "login refused as root" in row


def test_missing_remote_hpcdask_is_one_line(hpc: Login) -> None:
    hpc.write(python="/usr/bin/python3")
    line = _one_line_error(hpc.cli("up", "hpc", check=False))
    assert "hpcdask is not installed for /usr/bin/python3" in line


def test_other_remote_hpcdask_version_is_one_line(hpc: Login, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(Path(hpcdask.__file__).parent, other / "hpcdask")
    (other / "hpcdask" / "_version.py").write_text('__version__ = "0.0.1"\n')
    hpc.write(env={**hpc.login["env"], "PYTHONPATH": str(other)})
    line = _one_line_error(hpc.cli("up", "hpc", check=False))
    assert "hpcdask 0.0.1 is installed there and" in line and "install the same version" in line


def test_busy_dashboard_port_is_one_line(hpc: Login) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hpc.write(dashboard_port=port)
        line = _one_line_error(hpc.cli("up", "hpc", check=False))
    assert f"dashboard-port {port} is in use on this machine" in line
    assert hpc.record(hpc.remote) is None  # nothing was started on the login node


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def no_forwarding_sshd(tmp_path: Path, ssh_loopback_host: SSHHost) -> Iterator[int]:
    """A second sshd on loopback, with the testbed's keys but AllowTcpForwarding no."""
    testbed_config = Path(os.environ.get("HPCDASK_TESTBED", "/tmp/hpcdask-testbed"))
    original = (testbed_config / "ssh" / ssh_loopback_host.name / "sshd_config").read_text()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lines = [
        line
        for line in original.splitlines()
        if not line.startswith(("ListenAddress", "PidFile", "AllowTcpForwarding"))
    ]
    lines += [f"ListenAddress 127.0.0.1:{port}", "PidFile none", "AllowTcpForwarding no"]
    config = tmp_path / "sshd_config"
    config.write_text("\n".join(lines) + "\n")
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)])
    wait_until(lambda: listening(port), "the second sshd", 60)
    yield port
    sshd.terminate()
    sshd.wait(10)


def test_refused_port_forwarding_is_one_line(hpc: Login, no_forwarding_sshd: int) -> None:
    hpc.write(host="127.0.0.1", port=no_forwarding_sshd, known_hosts="ignore")
    line = _one_line_error(hpc.cli("up", "hpc", check=False))
    assert "refuses to forward ports" in line
    assert hpc.record(hpc.remote) is None
