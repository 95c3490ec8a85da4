"""connect("local") → first result, against a raw LocalCluster with the same workers.

Also times `hpcdask --help`, which must stay fast because it imports nothing heavy.
Prints medians; the two cluster variants alternate so that drift hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from distributed import Client, LocalCluster

import hpcdask

WORKERS = 2


def _inc(x: int) -> int:
    return x + 1


def raw_dask() -> float:
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        assert client.submit(_inc, 1).result() == 2
        return time.perf_counter() - start


def with_hpcdask() -> float:
    start = time.perf_counter()
    with (
        hpcdask.connect(
            "local", worker={"processes": WORKERS, "cores": WORKERS}, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        assert client.submit(_inc, 1).result() == 2
        return time.perf_counter() - start


def cli_help() -> float:
    command = [str(Path(sys.executable).parent / "hpcdask"), "--help"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def python_startup() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def _medians(functions: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            times[name].append(function())
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    raw_dask(), with_hpcdask()  # warm the import and file caches for both alike
    cluster = _medians({"raw LocalCluster": raw_dask, "hpcdask.connect": with_hpcdask}, args.repeat)
    ratio = cluster["hpcdask.connect"] / cluster["raw LocalCluster"]
    print(f"start {WORKERS} workers + first result (median of {args.repeat}):")
    for name, seconds in cluster.items():
        print(f"  {name:<18} {seconds:7.3f} s")
    print(f"  ratio hpcdask/raw   {ratio:7.3f}   (target <= 1.10)")
    cli = _medians({"hpcdask --help": cli_help, "python -c pass": python_startup}, 15)
    print("command wall time (median of 15):")
    for name, seconds in cli.items():
        print(f"  {name:<18} {seconds:7.3f} s")
    print("  target: hpcdask --help <= 0.300 s")


if __name__ == "__main__":
    main()
