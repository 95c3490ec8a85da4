"""Sum the squares of 0..N-1 on the cluster hpcdask started, and check the answer.

    hpcdask run local -- python examples/sum_of_squares.py

`hpcdask run` sets DASK_SCHEDULER_ADDRESS, so a plain Client() connects to its cluster.
"""

import sys

from distributed import Client

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
CHUNKS = 40


def squares(start: int, stop: int) -> int:
    return sum(i * i for i in range(start, stop))


def main() -> int:
    with Client() as client:
        workers = client.scheduler_info()["workers"]
        print(f"{len(workers)} workers, dashboard {client.dashboard_link}")
        bounds = [N * k // CHUNKS for k in range(CHUNKS + 1)]
        parts = client.map(squares, bounds[:-1], bounds[1:])
        total = client.submit(sum, parts).result()
        hosts = {w["host"] for w in client.scheduler_info()["workers"].values()}
        print(f"sum of squares below {N}: {total} (computed on {', '.join(sorted(hosts))})")
        expected = (N - 1) * N * (2 * N - 1) // 6
        if total != expected:
            print(f"wrong: expected {expected}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
