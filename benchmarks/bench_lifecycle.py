"""Wall time of `hpcdask status` and `hpcdask scale NAME 8`, and attach → first result.

Starts `hpcdask up local` in a private state folder, then times the commands as a user runs
them (whole processes), and `connect(NAME)` + first result against `Client(address)` on the
same running cluster. Medians; the two attach variants alternate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from distributed import Client

import hpcdask

HPCDASK = str(Path(sys.executable).parent / "hpcdask")


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def _first_result(make: Callable[[], Client]) -> float:
    start = time.perf_counter()
    with make() as client:
        assert client.submit(pow, 2, 8).result() == 256
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["HPCDASK_STATE_DIR"] = folder
        subprocess.run(
            [HPCDASK, "up", "local", "--workers", "2", "--wait", "--set", "dashboard-address=:0"],
            check=True,
            capture_output=True,
        )
        try:
            address = json.loads((Path(folder) / "local.json").read_text())["scheduler_address"]
            status = [_timed([HPCDASK, "status"]) for _ in range(args.repeat)]
            scale = []
            for i in range(args.repeat):
                scale.append(_timed([HPCDASK, "scale", "local", str(8 if i % 2 else 2)]))
            attach, direct = [], []
            for _ in range(args.repeat):
                attach.append(_first_result(lambda: Client(hpcdask.connect("local"))))
                direct.append(_first_result(lambda: Client(address)))
        finally:
            subprocess.run([HPCDASK, "down", "local"], check=True, capture_output=True)
    med = statistics.median
    print(f"hpcdask status          {med(status):.3f} s   (target <= 0.5 s)")
    print(f"hpcdask scale local N   {med(scale):.3f} s   (target <= 0.5 s)")
    print(
        f"attach -> first result: connect(NAME) {med(attach):.3f} s, "
        f"Client(address) {med(direct):.3f} s, ratio {med(attach) / med(direct):.2f}"
    )


if __name__ == "__main__":
    main()
