"""Smoke tests: the testbed's sshd hosts are real, distinct hosts with key-only root login."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import asyncssh
import pytest

from .conftest import SSHHost, process_alive, run, run_inner_pytest

pytestmark = pytest.mark.ssh


def ssh(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["ssh", "-F", str(config), *args])


def test_each_namespace_host_answers_on_its_own_address(
    ssh_config: Path, ssh_namespace_hosts: list[SSHHost], ssh_user: str
) -> None:
    assert [h.name for h in ssh_namespace_hosts] == ["hpcd-h1", "hpcd-h2", "hpcd-h3"]
    for host in ssh_namespace_hosts:
        res = ssh(
            ssh_config, "-p", str(host.port), f"{ssh_user}@{host.address}", "hostname; hostname -I"
        )
        assert res.returncode == 0, res.stderr
        name, addresses = res.stdout.splitlines()
        assert name == host.hostname == host.name
        assert addresses.split() == [host.address]  # nothing but its own address


def test_host_aliases_in_ssh_config(ssh_config: Path, ssh_hosts: list[SSHHost]) -> None:
    for host in ssh_hosts:
        res = ssh(ssh_config, host.name, "hostname -s")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == host.hostname


def test_loopback_sshd(ssh_config: Path, ssh_loopback_host: SSHHost) -> None:
    host = ssh_loopback_host
    assert (host.address, host.name) == ("127.0.0.1", "hpcd-lo")
    res = ssh(ssh_config, "-p", str(host.port), f"root@{host.address}", "hostname -s")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == host.hostname


def test_namespace_hosts_reach_each_other(
    ssh_config: Path, ssh_namespace_hosts: list[SSHHost]
) -> None:
    first, second = ssh_namespace_hosts[:2]
    probe = f"exec 3<>/dev/tcp/{second.address}/{second.port}; head -c 8 <&3"
    res = ssh(ssh_config, first.name, f"bash -c '{probe}'")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("SSH-2.0")


def test_namespace_hosts_reach_the_root_namespace_at_the_bridge_address(
    ssh_config: Path, ssh_namespace_hosts: list[SSHHost], bridge_address: str
) -> None:
    # What a dask scheduler running here needs: workers on the hosts connect back to it.
    with socket.create_server((bridge_address, 0)) as server:
        server.settimeout(10)
        port = server.getsockname()[1]
        for host in ssh_namespace_hosts:
            probe = f"exec 3<>/dev/tcp/{bridge_address}/{port}; echo $(hostname) >&3"
            res = ssh(ssh_config, host.name, f"bash -c '{probe}'")
            assert res.returncode == 0, res.stderr
            conn, (peer, _) = server.accept()
            with conn, conn.makefile() as stream:
                assert (peer, stream.readline().strip()) == (host.address, host.name)


def test_asyncssh_with_testbed_key_and_known_hosts(
    ssh_hosts: list[SSHHost], ssh_identity: Path, ssh_known_hosts: Path, ssh_user: str
) -> None:
    async def hostname(host: SSHHost) -> str:
        async with asyncssh.connect(
            host.address,
            port=host.port,
            username=ssh_user,
            client_keys=[str(ssh_identity)],
            known_hosts=str(ssh_known_hosts),
            agent_path=None,
            config=None,
        ) as conn:
            result = await conn.run("hostname -s", check=True)
            return str(result.stdout).strip()

    async def all_hostnames() -> list[str]:
        return await asyncio.gather(*(hostname(h) for h in ssh_hosts))

    assert asyncio.run(all_hostnames()) == [h.hostname for h in ssh_hosts]


def test_password_and_unknown_keys_are_refused(
    ssh_hosts: list[SSHHost], ssh_known_hosts: Path, tmp_path: Path
) -> None:
    stranger = tmp_path / "id_stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    for host in ssh_hosts:
        base = [
            "ssh", "-F", "/dev/null", "-p", str(host.port),
            "-o", "BatchMode=yes", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={ssh_known_hosts}", "-o", "StrictHostKeyChecking=yes",
        ]  # fmt: skip
        no_key = run([*base, "-o", "PubkeyAuthentication=no", f"root@{host.address}", "true"])
        # The server offers nothing but publickey: no password, no keyboard-interactive.
        assert no_key.returncode == 255
        assert "Permission denied (publickey)" in no_key.stderr
        wrong_key = run([*base, "-i", str(stranger), f"root@{host.address}", "true"])
        assert wrong_key.returncode == 255
        assert "Permission denied (publickey)" in wrong_key.stderr

    async def with_password(host: SSHHost) -> None:
        async with asyncssh.connect(
            host.address,
            port=host.port,
            username="root",
            password="root",
            client_keys=None,
            known_hosts=str(ssh_known_hosts),
            agent_path=None,
            config=None,
        ):
            pass

    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(with_password(ssh_hosts[0]))


INNER_LEAKY_MODULE = """
import subprocess
import pytest

pytestmark = pytest.mark.ssh

def test_starts_a_fake_worker_and_forgets_it(ssh_config):
    cmd = (
        "setsid bash -c 'exec -a dask-worker sleep 300' </dev/null >/dev/null 2>&1 & "
        "while ! grep -q '^dask-worker' /proc/$!/cmdline; do sleep 0.05; done; echo $!"
    )
    out = subprocess.run(["ssh", "-F", str(ssh_config), "hpcd-h2", cmd],
                         check=True, capture_output=True, text=True).stdout
    print("FAKE_WORKER_PID", out.strip())
"""


def test_leftover_check_kills_dask_processes_in_namespace_hosts(tmp_path: Path) -> None:
    res = run_inner_pytest(tmp_path, INNER_LEAKY_MODULE)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "1 passed, 1 error" in out, out
    assert "dask processes left running (now killed)" in out, out
    pid = int(out.split("FAKE_WORKER_PID", 1)[1].split()[0])
    assert f"pid {pid}: dask-worker 300" in out, out
    assert not process_alive(pid)
