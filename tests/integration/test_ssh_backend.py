"""The ssh type on real sshd hosts: placement, scaling, niceness, failures, nothing left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.config
import distributed
import psutil
import pytest
import yaml
from distributed import Client
from waiting import wait_until

import hpcdask
from hpcdask.backends.ssh.cluster import HostCluster

from .conftest import SSHHost, dask_processes

pytestmark = pytest.mark.ssh
# Remote workers cannot import this test package, so what runs there is a lambda (sent by
# value) or a standard-library function, never a function defined in this module.

Connect = Callable[..., HostCluster]


@pytest.fixture
def connect(tmp_path: Path, ssh_identity: Path, ssh_known_hosts: Path) -> Iterator[Connect]:
    """connect(hosts, **keys): start an ssh resource on the testbed; closed after the test."""
    clusters: list[HostCluster] = []

    def start(hosts: Any, **keys: Any) -> HostCluster:
        resource = {
            "type": "ssh",
            "hosts": hosts,
            "user": "root",
            "identity": str(ssh_identity),
            "known-hosts": str(ssh_known_hosts),
            "dashboard-address": ":0",
            "connect-timeout": 5,
            "death-timeout": 10,
            **keys,
        }
        path = tmp_path / "ssh.yaml"
        path.write_text(yaml.safe_dump({"resources": {"lab": resource}}))
        cluster = hpcdask.connect("lab", config=path)
        assert isinstance(cluster, HostCluster)
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.close()


def _addresses(hosts: list[SSHHost]) -> list[str]:
    return [h.address for h in hosts]


def _workers(client: Client) -> list[dict[str, Any]]:
    return list(client.scheduler_info()["workers"].values())


def test_workers_land_on_the_hosts_asked_for(
    connect: Connect, ssh_namespace_hosts: list[SSHHost]
) -> None:
    h1, h2, h3 = ssh_namespace_hosts
    null_block = {"distributed": {"worker": {"memory": {"target": 0.9}},
                                  "comm": {"compression": None}}}  # fmt: skip
    cluster = connect([h1.address, h2.address, h2.address, h3.address], worker={"nice": 5},
                      dask=null_block)  # fmt: skip
    with Client(cluster) as client:
        # the dask: block reaches remote workers, its null kept, no section replaced
        for key, value in [("distributed.comm.compression", None),
                           ("distributed.worker.memory.target", 0.9),
                           ("distributed.comm.timeouts.connect", "30s")]:  # fmt: skip
            assert set(client.run(dask.config.get, key).values()) == {value}
        assert Counter(w["host"] for w in _workers(client)) == {
            h1.address: 1,
            h2.address: 2,
            h3.address: 1,
        }
        names = Counter(client.run(socket.gethostname).values())
        assert names == {h1.hostname: 1, h2.hostname: 2, h3.hostname: 1}
        assert set(client.run(os.getpriority, os.PRIO_PROCESS, 0).values()) == {5}
        nannies = [w.process.pid for w in cluster.workers.values()]
        assert [psutil.Process(pid).nice() for pid in nannies] == [5, 5, 5, 5]
        assert client.submit(sum, range(100)).result() == 4950


def test_scale_and_adapt(connect: Connect, ssh_namespace_hosts: list[SSHHost]) -> None:
    hosts = _addresses(ssh_namespace_hosts)
    cluster = connect({h: {"workers": 2} for h in hosts}, scaling=0)
    with Client(cluster) as client:
        assert _workers(client) == []
        cluster.scale(4)
        client.wait_for_workers(4, timeout=60)
        assert len({w["host"] for w in _workers(client)}) == 3  # round-robin: every host used
        data = client.map(lambda i: bytes(1000) * i, range(40), pure=False)
        client.gather(data)
        cluster.scale(1)
        wait_until(lambda: len(_workers(client)) == 1, "scale down to 1", 30)
        assert sum(len(b) for b in client.gather(data)) == 1000 * sum(range(40))  # none lost
        cluster.scale(100)  # more than the 6 slots: capped
        client.wait_for_workers(6, timeout=60)
        assert len(cluster.worker_spec) == 6
        cluster.adapt(minimum=0, maximum=6, interval="200ms", wait_count=2)
        del data
        wait_until(lambda: not _workers(client), "adaptive scale down to 0", 60)
        futures = client.map(time.sleep, [0.3] * 30, pure=False)
        wait_until(lambda: len(_workers(client)) >= 2, "adaptive scale up", 30)
        client.gather(futures)


def test_mixed_loopback_and_namespace_hosts(
    connect: Connect, ssh_loopback_host: SSHHost, ssh_namespace_hosts: list[SSHHost]
) -> None:
    lo, h1 = ssh_loopback_host, ssh_namespace_hosts[0]
    cluster = connect(
        {lo.address: {"port": lo.port}, h1.address: {}},
        prologue=["export FROM_PROLOGUE=yes"],
        worker={"env": {"FROM_ENV": "1"}},
        **{"dashboard-address": "127.0.0.1:0"},
    )
    with Client(cluster) as client:
        assert sorted(w["host"] for w in _workers(client)) == sorted([lo.address, h1.address])
        assert cluster.scheduler_address.startswith("tls://10.200.0.1:")
        port = cluster.scheduler.http_server.port
        assert cluster.dashboard_link == f"http://127.0.0.1:{port}/status"
        with urllib.request.urlopen(cluster.dashboard_link, timeout=10) as page:
            assert page.status == 200
        env = client.run(lambda: (os.environ.get("FROM_PROLOGUE"), os.environ.get("FROM_ENV")))
        assert set(env.values()) == {("yes", "1")}


def test_close_leaves_nothing_behind(connect: Connect, ssh_namespace_hosts: list[SSHHost]) -> None:
    cluster = connect(_addresses(ssh_namespace_hosts))
    nannies = [w.process.pid for w in cluster.workers.values()]
    assert len(nannies) == 3
    cluster.close()
    assert [p for p in dask_processes() if "dask_spec" in p.cmdline] == []
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in nannies
    )


def test_unreachable_host_is_named_quickly(
    connect: Connect, ssh_namespace_hosts: list[SSHHost]
) -> None:
    started = time.monotonic()
    with pytest.raises(hpcdask.HpcdaskError) as info:
        connect({ssh_namespace_hosts[0].address: {}, "127.0.0.1": {"port": 1}})
    assert time.monotonic() - started < 10
    assert str(info.value).splitlines() == [
        "host 127.0.0.1: Connection refused",
        "set on-host-failure: skip to start on the hosts that work",
    ]


def test_skip_starts_on_the_hosts_that_work(
    connect: Connect, ssh_namespace_hosts: list[SSHHost]
) -> None:
    h1 = ssh_namespace_hosts[0]
    cluster = connect({h1.address: {}, "127.0.0.1": {"port": 1}}, on_host_failure="skip")
    assert cluster.failed_hosts == {"127.0.0.1": "Connection refused"}
    with Client(cluster) as client:
        assert [w["host"] for w in _workers(client)] == [h1.address]


def test_failed_login_is_named(
    connect: Connect, tmp_path: Path, ssh_namespace_hosts: list[SSHHost]
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(hpcdask.HpcdaskError) as info:
        connect([ssh_namespace_hosts[0].address], identity=str(stranger))
    host = ssh_namespace_hosts[0].address
    assert str(info.value).splitlines()[0] == (
        f"host {host}: login refused as root: no accepted key "
        "(check identity, the agent, authorized_keys)"
    )


def test_missing_python_is_named(connect: Connect, ssh_namespace_hosts: list[SSHHost]) -> None:
    h1 = ssh_namespace_hosts[0]
    with pytest.raises(hpcdask.HpcdaskError) as info:
        connect({h1.address: {"python": "/nowhere/bin/python3"}})
    assert str(info.value).splitlines()[0] == (
        f"host {h1.address}: exited with status 127 before it started: "
        "python not found: /nowhere/bin/python3"
    )


def test_failed_start_leaves_nothing_behind(
    connect: Connect, ssh_namespace_hosts: list[SSHHost]
) -> None:
    h1, h2, _ = ssh_namespace_hosts
    with pytest.raises(
        hpcdask.HpcdaskError, match=f"host {h2.address}: exited with status 1 before it started"
    ):
        connect({h1.address: {}, h2.address: {"python": "/bin/false"}})
    assert [p for p in dask_processes() if "dask_spec" in p.cmdline] == []


def test_a_host_dying_mid_computation(connect: Connect, ssh_namespace_hosts: list[SSHHost]) -> None:
    cluster = connect(_addresses(ssh_namespace_hosts))
    with Client(cluster) as client:
        futures = client.map(lambda i: time.sleep(0.1) or i * i, range(60), pure=False)
        wait_until(lambda: sum(f.done() for f in futures) >= 5, "first results", 30)
        victim = next(iter(cluster.workers.values()))
        os.killpg(victim.process.pid, 9)  # the host's dask processes die at once
        assert sum(client.gather(futures)) == sum(i * i for i in range(60))


def test_a_host_lost_from_the_network(connect: Connect, ssh_namespace_hosts: list[SSHHost]) -> None:
    """The host's link goes down: SSH keepalive notices, its worker is dropped, tasks move."""
    h1, h2, h3 = ssh_namespace_hosts
    cluster = connect(_addresses(ssh_namespace_hosts))
    link = ["ip", "-n", str(h3.netns), "link", "set", "eth0"]
    try:
        with Client(cluster) as client:
            futures = client.map(lambda i: time.sleep(0.2) or i * i, range(120), pure=False)
            wait_until(lambda: sum(f.done() for f in futures) >= 10, "first results", 30)
            subprocess.run([*link, "down"], check=True)
            started = time.monotonic()
            assert sum(client.gather(futures)) == sum(i * i for i in range(120))
            assert time.monotonic() - started < 60
            wait_until(lambda: h3.address in cluster.failed_hosts, "the host to count as lost", 30)
            assert {w["host"] for w in _workers(client)} <= {h1.address, h2.address}
    finally:
        subprocess.run([*link, "up"], check=True)
    cluster.close()
    # Cut off from the scheduler, the stranded worker exits by its death timeout (10 s).
    wait_until(
        lambda: not [p for p in dask_processes() if "dask_spec" in p.cmdline],
        "the stranded worker to exit",
        60,
    )


def test_version_mismatch_is_reported(
    tmp_path: Path, ssh_identity: Path, ssh_known_hosts: Path, ssh_namespace_hosts: list[SSHHost]
) -> None:
    """A remote python whose distributed differs: `hpcdask check` names host and versions."""
    fake = tmp_path / "old" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "2024.1.0"\n')
    python = tmp_path / "oldpython"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={fake.parent} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    h1, h2, _ = ssh_namespace_hosts
    hosts = {h1.address: {}, h2.address: {"python": str(python)}}
    resource = {
        "type": "ssh",
        "hosts": hosts,
        "user": "root",
        "identity": str(ssh_identity),
        "known-hosts": str(ssh_known_hosts),
    }
    path = tmp_path / "ssh.yaml"
    path.write_text(yaml.safe_dump({"resources": {"lab": resource}}))
    hpcdask_cli = str(Path(sys.executable).parent / "hpcdask")
    result = subprocess.run(
        [hpcdask_cli, "--config", str(path), "check", "lab"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {
        line.split()[1]: line.split(None, 3)[2:]
        for line in result.stdout.splitlines()
        if line.startswith("host ")
    }
    assert rows[h1.address][0] == "ok"
    assert rows[h2.address] == [
        "FAILED",
        "versions differ, which breaks serialisation: distributed 2024.1.0 "
        f"(here {distributed.__version__})",
    ]


def test_scheduler_on_a_named_host(connect: Connect, ssh_namespace_hosts: list[SSHHost]) -> None:
    h1, h2, h3 = ssh_namespace_hosts
    cluster = connect([h2.address, h3.address], scheduler=h1.address)
    assert cluster.scheduler_address.startswith(f"tls://{h1.address}:")
    with Client(cluster) as client:
        assert sorted(w["host"] for w in _workers(client)) == [h2.address, h3.address]
        assert client.submit(sum, range(10)).result() == 45
        assert client.run_on_scheduler(socket.gethostname) == h1.hostname
    cluster.close()
    assert [p for p in dask_processes() if "dask_spec" in p.cmdline] == []


def test_failed_remote_scheduler_leaves_nothing(
    connect: Connect, ssh_namespace_hosts: list[SSHHost]
) -> None:
    h1, h2, _ = ssh_namespace_hosts
    preload = {"distributed.scheduler.preload": ["nonexistent-hpcdask-preload"]}
    with pytest.raises(hpcdask.HpcdaskError) as info:
        connect({h2.address: {}}, scheduler=h1.address, dask=preload)
    message = str(info.value)
    assert message.startswith(f"host {h1.address}: exited with status 1 before it started: ")
    assert message.endswith("No module named 'nonexistent-hpcdask-preload'")
    assert [p for p in dask_processes() if "dask_spec" in p.cmdline] == []


def test_ssh_config_and_agent_are_honoured(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ssh_identity: Path,
    ssh_known_hosts: Path,
    ssh_loopback_host: SSHHost,
) -> None:
    """No user, port or key in the resource: ~/.ssh/config names the host, the agent has the key."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    lo = ssh_loopback_host
    (home / ".ssh" / "config").write_text(
        f"Host labhost\n    HostName {lo.address}\n    Port {lo.port}\n    User root\n"
    )
    (home / ".ssh" / "known_hosts").write_text(ssh_known_hosts.read_text())
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True)
    env = dict(
        line.split(";")[0].split("=", 1)
        for line in agent.stdout.splitlines()
        if "=" in line.split(";")[0]
    )
    try:
        subprocess.run(
            ["ssh-add", str(ssh_identity)],
            env={**os.environ, **env},
            capture_output=True,
            check=True,
        )
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        config = tmp_path / "lab.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "resources": {
                        "lab": {"type": "ssh", "hosts": ["labhost"], "dashboard-address": ":0"}
                    }
                }
            )
        )
        with hpcdask.connect("lab", config=config) as cluster, Client(cluster) as client:
            assert [w["host"] for w in _workers(client)] == [lo.address]
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)
