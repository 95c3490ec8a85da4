"""Pilot slot accounting: placement, capacity, idle allocations, walltime."""

from __future__ import annotations

from hpcdask.pilot.slots import AllocationSlots, Node, SlotBook, WorkerSize

GB = 10**9


def _book(*allocations: AllocationSlots) -> SlotBook:
    book = SlotBook(WorkerSize(cores=1, memory=1 * GB))
    for allocation in allocations:
        book.allocations[allocation.id] = allocation
    return book


def _running(id: str, nodes: int, ends_at: float | None = None) -> AllocationSlots:
    members = tuple(Node(f"{id}n{i}", cores=2, memory=4 * GB) for i in range(nodes))
    return AllocationSlots(id, size=nodes, running=True, nodes=members, ends_at=ends_at)


def test_workers_spread_over_nodes_then_fill() -> None:
    book = _book(_running("a", 2))
    places = [book.place(f"w{i}", now=0, margin=60) for i in range(5)]
    assert places == [("a", "an0"), ("a", "an1"), ("a", "an0"), ("a", "an1"), None]


def test_memory_limits_slots() -> None:
    book = SlotBook(WorkerSize(cores=1, memory=3 * GB))
    book.allocations["a"] = _running("a", 1)
    assert book.place("w0", 0, 60) == ("a", "an0")
    assert book.place("w1", 0, 60) is None


def test_longest_lived_allocation_first_and_short_ones_skipped() -> None:
    book = _book(_running("short", 1, ends_at=100), _running("long", 1, ends_at=1000))
    assert book.place("w0", now=0, margin=60)[0] == "long"
    assert book.place("w1", now=0, margin=60)[0] == "long"
    assert book.place("w2", now=0, margin=60)[0] == "short"
    assert book.place("w3", now=50, margin=60) is None  # short has 50 s left: not usable


def test_pending_allocations_count_as_coming_capacity() -> None:
    book = _book(_running("a", 1), AllocationSlots("p", size=2))
    assert book.capacity(now=0, margin=60, per_node=2) == 2 + 4
    assert book.allocations_to_request(6, 0, 60, per_node=2, nodes_per_allocation=2, maximum=5) == 0
    assert book.allocations_to_request(7, 0, 60, per_node=2, nodes_per_allocation=2, maximum=5) == 1
    assert (
        book.allocations_to_request(20, 0, 60, per_node=2, nodes_per_allocation=2, maximum=3) == 1
    )  # two exist, three at most


def test_idle_allocations_and_expiring_workers() -> None:
    book = _book(_running("a", 1, ends_at=500), _running("b", 1))
    book.place("w0", 0, 60)
    book.place("w1", 0, 60)
    assert book.placed == {"w0": ("b", "bn0"), "w1": ("b", "bn0")}
    book.free("w0", now=10)
    book.free("w1", now=20)
    assert book.idle(now=100, timeout=60) == ["b"]
    assert book.idle(now=50, timeout=60) == []
    book.place("w2", now=100, margin=60)
    assert book.idle(now=1000, timeout=60) == []
    book.allocations["b"].ends_at = 130
    assert book.expiring(now=100, margin=60) == ["w2"]


def test_pilot_placements_for_the_dashboard() -> None:
    from hpcdask.backends.base import Placement
    from hpcdask.pilot.pilot import Pilot, PilotSettings

    book = _book(_running("a", 2, ends_at=None), AllocationSlots("p", size=3))
    book.place("w0", 0, 60)
    book.place("w1", 0, 60)
    pilot = Pilot(
        allocations=None,
        launcher=None,
        book=book,  # type: ignore[arg-type]
        settings=PilotSettings(),
        wanted=lambda: 2,
    )
    assert pilot.placements() == (
        Placement("a", "running", nodes="an0,an1", workers=("w0", "w1"), note="2 nodes"),
        Placement("p", "pending", nodes="", workers=(), note="3 nodes requested"),
    )
