from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from thunes.engine.bus import InMemoryBus, subject_of
from thunes.engine.clock import ManualClock


@dataclass(frozen=True)
class Base:
    n: int


@dataclass(frozen=True)
class Child(Base):
    pass


def test_publish_when_subscribed_to_base_then_subclass_messages_delivered_in_order() -> None:
    bus = InMemoryBus()
    base, child = [], []
    bus.subscribe(Base, base.append)
    bus.subscribe(Child, child.append)

    bus.publish(Base(1))
    bus.publish(Child(2))

    assert base == [Base(1), Child(2)]
    assert child == [Child(2)]
    assert subject_of(Child) == "thunes.Child"


def test_publish_when_a_subscriber_joins_after_a_type_was_published_then_it_receives_the_next_ones() -> None:
    """Routes are resolved once per message type: a later subscription, to the type or to a base of
    it, must still be seen by the next publish."""
    bus = InMemoryBus()
    child, base = [], []
    bus.publish(Child(1))  # resolves Child's route while nobody listens
    bus.subscribe(Child, child.append)
    bus.publish(Child(2))
    bus.subscribe(Base, base.append)
    bus.publish(Child(3))

    assert child == [Child(2), Child(3)]
    assert base == [Child(3)]


def test_wants_when_nobody_then_yes_once_the_type_or_a_base_is_subscribed() -> None:
    bus = InMemoryBus()
    assert not bus.wants(Child)  # resolves Child's route while nobody listens

    bus.subscribe(Base, lambda _: None)

    assert bus.wants(Child) and bus.wants(Base)
    assert not bus.wants(int)
    assert bus.published == 0  # asking publishes nothing


def test_publish_when_a_subscriber_fails_then_others_still_receive_and_error_counted() -> None:
    bus = InMemoryBus()
    got: list[Base] = []

    def broken(_: Base) -> None:
        raise RuntimeError("alerting is down")

    bus.subscribe(Base, broken)
    bus.subscribe(Base, got.append)

    bus.publish(Base(1))

    assert got == [Base(1)]
    assert bus.handler_errors == 1


def test_publish_when_many_threads_then_every_message_delivered_once() -> None:
    bus = InMemoryBus()
    got: list[Base] = []
    lock = threading.Lock()

    def record(m: Base) -> None:
        with lock:
            got.append(m)

    bus.subscribe(Base, record)
    threads = [
        threading.Thread(target=lambda k=k: [bus.publish(Base(k * 1000 + i)) for i in range(500)]) for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(m.n for m in got) == sorted(k * 1000 + i for k in range(8) for i in range(500))
    assert bus.published == 4000


def test_manual_clock_when_moved_then_reports_and_refuses_going_back() -> None:
    clock = ManualClock(100)

    clock.advance(50)
    clock.set(200)

    assert clock.now_ns() == 200
    with pytest.raises(ValueError, match="back"):
        clock.set(199)
