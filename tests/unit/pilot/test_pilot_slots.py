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
    assert book.capacity(now=0, horizon=60, per_node=2) == 2 + 4
    assert book.allocations_to_request(6, 0, 60, per_node=2, nodes_per_allocation=2, maximum=5) == 0
    assert book.allocations_to_request(7, 0, 60, per_node=2, nodes_per_allocation=2, maximum=5) == 1
    assert (
        book.allocations_to_request(20, 0, 60, per_node=2, nodes_per_allocation=2, maximum=3) == 1
    )  # two exist, three at most


def test_pending_allocations_count_towards_the_maximum_once_polled() -> None:
    book = _book(AllocationSlots("p", size=1, ends_at=3600))  # squeue gave its time limit
    assert book.allocations_to_request(4, 0, 60, per_node=2, nodes_per_allocation=1, maximum=1) == 0


def test_an_allocation_ending_within_the_horizon_is_replaced_even_at_the_maximum() -> None:
    book = _book(_running("a", 2, ends_at=100))
    book.place("w0", 0, 30)
    book.place("w1", 0, 30)
    args = dict(per_node=2, nodes_per_allocation=2, maximum=1)
    assert book.allocations_to_request(2, now=0, horizon=60, **args) == 0  # 100 s left
    assert book.allocations_to_request(2, now=50, horizon=60, **args) == 1  # 50 s left
    assert book.allocations_to_request(0, now=50, horizon=60, **args) == 0  # nobody wanted


def test_give_back_ending_empty_and_unneeded_idle_allocations() -> None:
    spare = _running("spare", 1, ends_at=1000)
    ending = _running("ending", 1, ends_at=100)
    book = _book(spare, ending)
    ending.idle_since = spare.idle_since = 0
    args = dict(timeout=20, margin=30, horizon=40, per_node=2)
    assert book.to_give_back(10, wanted=0, **args) == []  # not idle for long yet
    assert book.to_give_back(50, wanted=0, **args) == ["ending", "spare"]  # nobody wanted
    assert book.to_give_back(50, wanted=2, **args) == ["ending"]  # the shorter-lived goes
    assert book.to_give_back(50, wanted=3, **args) == []  # both needed
    assert book.to_give_back(65, wanted=3, **args) == ["ending"]  # within the horizon
    assert book.to_give_back(80, wanted=4, **args) == ["ending"]  # within the margin
    book.place("w0", 80, 30)
    assert book.placed == {"w0": ("spare", "sparen0")}
    assert book.to_give_back(80, wanted=1, **args) == ["ending"]


def test_workers_of_an_ending_allocation_keep_it() -> None:
    book = _book(_running("ending", 1, ends_at=100))
    book.place("w0", 0, 30)
    assert book.to_give_back(80, 1, timeout=20, margin=30, horizon=40, per_node=2) == []
    assert book.expiring(now=80, margin=30) == ["w0"]


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
