"""Which host gets the next worker: pure functions, no I/O.

Workers are spread round-robin: the next one goes to the usable host with the fewest workers
relative to its capacity (ties to the host listed first), never beyond a host's capacity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["capacity", "next_host"]


def capacity(slots: Mapping[str, int], unusable: Iterable[str] = ()) -> int:
    """Return how many workers the usable hosts can hold.

    Examples
    --------
    >>> capacity({"a": 2, "b": 1}, unusable=["b"])
    2
    """
    excluded = set(unusable)
    return sum(n for host, n in slots.items() if host not in excluded)


def next_host(
    slots: Mapping[str, int], placed: Iterable[str], unusable: Iterable[str] = ()
) -> str | None:
    """Return the host for one more worker, or None when every usable host is full.

    Parameters
    ----------
    slots
        Host → how many workers it may run, in the order the user listed the hosts.
    placed
        The host of every worker that exists now (one entry per worker).
    unusable
        Hosts to leave out (unreachable, or lost during the run).

    Examples
    --------
    >>> next_host({"a": 1, "b": 2}, ["b"])
    'a'
    >>> next_host({"a": 1, "b": 2}, ["a", "b"])
    'b'
    >>> next_host({"a": 1, "b": 2}, ["a", "b", "b"]) is None
    True
    """
    counts = Counter(placed)
    excluded = set(unusable)
    free = [h for h, n in slots.items() if h not in excluded and counts[h] < n]
    if not free:
        return None
    order = list(slots)
    return min(free, key=lambda h: (counts[h] / slots[h], counts[h], order.index(h)))
