"""Time to 4 workers over 3 SSH hosts: hpcdask's ssh type vs distributed's SSHCluster.

Needs the test hosts (sudo tests/infra/up.sh). Both variants use the same three namespace
hosts, keys and Python, with one-thread workers; they alternate, and medians are printed.
Each uses its own defaults for where the scheduler runs: distributed's SSHCluster starts it on
the first host, hpcdask runs it here. Also times hpcdask's scale 4 → 8 → 4 (SSHCluster has no
worker template, so it cannot scale).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from distributed import Client, SSHCluster

import hpcdask

TESTBED = Path(os.environ.get("HPCDASK_TESTBED", "/tmp/hpcdask-testbed"))


def _testbed() -> tuple[dict[str, str], list[str]]:
    bed = json.loads((TESTBED / "testbed.json").read_text())
    ssh = bed["ssh"]
    keys = {
        "username": ssh["user"],
        "client_keys": [ssh["identity"]],
        "known_hosts": ssh["known_hosts"],
    }
    hosts = [h["address"] for h in ssh["hosts"] if h.get("netns")]
    return keys, hosts


def raw_ssh_cluster(keys: dict[str, str], hosts: list[str]) -> float:
    h1, h2, h3 = hosts
    start = time.perf_counter()
    cluster = SSHCluster(
        [h1, h1, h2, h3, h2],
        connect_options=keys,
        remote_python=sys.executable,
        worker_options={"nthreads": 1, "interface": "eth0"},
        scheduler_options={"interface": "eth0", "dashboard_address": ":0"},
    )
    with cluster, Client(cluster) as client:
        client.wait_for_workers(4, timeout=120)
        return time.perf_counter() - start


def _config(keys: dict[str, str], hosts: dict[str, dict[str, int]], folder: Path) -> Path:
    resource = {
        "type": "ssh",
        "hosts": hosts,
        "user": keys["username"],
        "identity": keys["client_keys"][0],
        "known-hosts": keys["known_hosts"],
        "worker": {"nthreads": 1},
        "dashboard-address": ":0",
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump({"resources": {"bench": resource}}))
    return path


def with_hpcdask(keys: dict[str, str], hosts: list[str], folder: Path) -> float:
    h1, h2, h3 = hosts
    config = _config(keys, {h1: {"workers": 1}, h2: {"workers": 2}, h3: {"workers": 1}}, folder)
    start = time.perf_counter()
    with hpcdask.connect("bench", config=config) as cluster, Client(cluster) as client:
        client.wait_for_workers(4, timeout=120)
        return time.perf_counter() - start


def _until(client: Client, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(client.scheduler_info()["workers"]) != n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"never reached {n} workers")
        time.sleep(0.02)


def hpcdask_rescale(keys: dict[str, str], hosts: list[str], folder: Path) -> tuple[float, float]:
    config = _config(keys, {h: {"workers": 3} for h in hosts}, folder)
    with hpcdask.connect("bench", config=config, scaling=4) as cluster, Client(cluster) as client:
        _until(client, 4)
        start = time.perf_counter()
        cluster.scale(8)
        _until(client, 8)
        up = time.perf_counter() - start
        start = time.perf_counter()
        cluster.scale(4)
        _until(client, 4)
        return up, time.perf_counter() - start


def _median(function: Callable[[], float], times: list[float]) -> None:
    times.append(function())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    keys, hosts = _testbed()
    raw: list[float] = []
    ours: list[float] = []
    ups: list[float] = []
    downs: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeat):
            raw.append(raw_ssh_cluster(keys, hosts))
            ours.append(with_hpcdask(keys, hosts, Path(folder)))
            up, down = hpcdask_rescale(keys, hosts, Path(folder))
            ups.append(up)
            downs.append(down)
    r, o = statistics.median(raw), statistics.median(ours)
    print(f"4 workers over 3 SSH hosts, start to registered (median of {args.repeat}):")
    print(f"  distributed SSHCluster {r:7.3f} s")
    print(f"  hpcdask ssh            {o:7.3f} s")
    print(f"  ratio hpcdask/raw      {o / r:7.3f}   (target <= 1.0)")
    print(
        f"hpcdask scale 4 -> 8: {statistics.median(ups):.3f} s, "
        f"8 -> 4: {statistics.median(downs):.3f} s (medians)"
    )


if __name__ == "__main__":
    main()
