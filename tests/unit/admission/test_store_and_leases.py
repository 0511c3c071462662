"""The shared counters and the leases replicas hold of them (no Ray)."""

from __future__ import annotations

from routing.admission.leases import LeaseBook
from routing.admission.store import Ask, CounterStore, Return, lease_extra


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_window_never_grants_more_than_its_limit_and_resets_at_its_end() -> None:
    clock = Clock(600.0)
    store = CounterStore(clock)
    grants = [store.take([Ask("b", 10, 60.0, 1, 1)])[0] for _ in range(15)]
    assert sum(g.granted for g in grants) == 10
    assert grants[9].remaining == 0 and grants[10].granted == 0
    assert grants[10].reset_s == 60.0  # the window runs 600..660
    clock.now = 659.5
    assert store.take([Ask("b", 10, 60.0, 1, 1)])[0].reset_s == 0.5
    clock.now = 660.0
    assert store.take([Ask("b", 10, 60.0, 1, 1)])[0].granted == 1  # a new window


def test_leases_shrink_to_exactly_the_need_as_the_window_runs_low() -> None:
    store = CounterStore(Clock())
    extra = lease_extra(1200)  # 60
    sizes = []
    while True:
        grant = store.take([Ask("b", 1200, 60.0, 1, 1, extra)])[0]
        if not grant.granted:
            break
        sizes.append(grant.granted)
    assert sum(sizes) == 1200
    assert sizes[0] == 61 and sizes[-5:] == [1] * 5
    assert lease_extra(10) == 0  # a 10 rpm rule is decided one request at a time


def test_a_partial_grant_only_when_the_ask_allows_it() -> None:
    store = CounterStore(Clock())
    store.take([Ask("t", 100, 60.0, 70, 70)])
    assert store.take([Ask("t", 100, 60.0, 50, 50)])[0].granted == 0  # refuse: all or nothing
    assert store.take([Ask("t", 100, 60.0, 11, 50)])[0].granted == 30  # shrink: what is left


def test_returns_count_only_for_the_same_window_and_the_same_store() -> None:
    clock = Clock(0.0)
    store = CounterStore(clock)
    grant = store.take([Ask("b", 10, 60.0, 5, 5)])[0]
    store.give_back([Return("b", grant.window, "another-store", 5)])
    assert store.take([Ask("b", 10, 60.0, 6, 6)])[0].granted == 0
    store.give_back([Return("b", grant.window, store.epoch, 5)])
    assert store.take([Ask("b", 10, 60.0, 6, 6)])[0].granted == 6
    clock.now = 61.0
    store.give_back([Return("b", grant.window, store.epoch, 6)])  # a past window: dropped
    assert store.take([Ask("b", 10, 60.0, 1, 1)])[0].remaining == 9


def test_slots_are_held_until_given_back() -> None:
    store = CounterStore(Clock())
    assert [store.take([Ask("c", 2, 0.0, 1, 1)])[0].granted for _ in range(3)] == [1, 1, 0]
    store.give_back([Return("c", -1, store.epoch, 1)])
    assert store.take([Ask("c", 2, 0.0, 1, 1)])[0].granted == 1


def test_a_lease_is_spent_locally_expires_with_its_window_and_goes_back_when_idle() -> None:
    clock = Clock(0.0)
    store = CounterStore(Clock(0.0))
    book = LeaseBook(clock)
    book.add("b", store.take([Ask("b", 100, 60.0, 1, 1, 5)])[0])
    assert book.available("b") == 6
    assert book.spend("b", 1, 1) == 1 and book.available("b") == 5
    clock.now = 0.1
    assert book.idle(0.25) == []  # used 0.1 s ago
    clock.now = 0.5
    returns = book.idle(0.25)
    assert [(r.bucket, r.amount) for r in returns] == [("b", 5)]
    book.add("b", store.take([Ask("b", 100, 60.0, 1, 1, 5)])[0])
    clock.now = 61.0
    assert book.available("b") == 0  # the window ended: the lease is worth nothing


def test_a_slot_whose_lease_left_the_book_is_owed_to_the_store() -> None:
    clock = Clock(0.0)
    store = CounterStore(Clock(0.0))
    book = LeaseBook(clock)
    grant = store.take([Ask("c", 1, 0.0, 1, 1)])[0]
    book.add("c", grant)
    assert book.spend("c", 1, 1) == 1
    clock.now = 1.0
    assert book.idle(0.25) == []  # an empty lease leaves the book, nothing to return
    book.put_back("c", -1, grant.epoch, 1)  # the request ends
    store.give_back(book.idle(0.25))
    assert store.take([Ask("c", 1, 0.0, 1, 1)])[0].granted == 1
