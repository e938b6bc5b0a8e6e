"""The control file: operator requests to a running trader, numbered, durable, applied once."""

from __future__ import annotations

import threading
from pathlib import Path

from thunes.adapters.storage.control_file import ControlAction, ControlFile


def test_post_when_several_requests_then_pending_in_order_until_marked_applied(tmp_path: Path) -> None:
    control = ControlFile(tmp_path / "s")
    first = control.post(ControlAction.KILL_SWITCH_ON, "ops", "drill", 1)
    second = control.post(ControlAction.KILL_SWITCH_OFF, "alice", "manual", 2)

    pending = control.pending()
    control.mark_applied(first)
    after_first = ControlFile(tmp_path / "s").pending()  # a restarted trader reads the same
    control.mark_applied(second)

    assert (first, second) == (1, 2)
    assert [(r.seq, r.action, r.by) for r in pending] == [(1, ControlAction.KILL_SWITCH_ON, "ops"),
                                                          (2, ControlAction.KILL_SWITCH_OFF, "alice")]  # fmt: skip
    assert [r.seq for r in after_first] == [2]
    assert control.pending() == []
    assert ControlFile(tmp_path / "s").applied() == 2


def test_pending_when_last_line_torn_by_a_crash_then_ignored_and_next_post_starts_a_new_line(tmp_path: Path) -> None:
    control = ControlFile(tmp_path)
    control.post(ControlAction.KILL_SWITCH_ON, "ops", "drill", 1)
    with control.requests_path.open("a", encoding="utf-8") as handle:
        handle.write('{"action": "KILL_SWITCH_OFF", "by": "x"')  # cut mid-write

    torn = control.pending()
    seq = control.post(ControlAction.KILL_SWITCH_OFF, "bob", "manual", 3)

    assert [r.seq for r in torn] == [1]
    assert seq == 2
    assert [(r.seq, r.by) for r in control.pending()] == [(1, "ops"), (2, "bob")]


def test_post_when_many_threads_post_at_once_then_every_number_is_distinct(tmp_path: Path) -> None:
    control = ControlFile(tmp_path)
    numbers: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        for _ in range(20):
            n = ControlFile(tmp_path).post(ControlAction.KILL_SWITCH_ON, "ops", "load", 0)
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(numbers) == list(range(1, 161))
    assert [r.seq for r in control.pending()] == list(range(1, 161))


def test_pending_when_nothing_posted_then_empty(tmp_path: Path) -> None:
    assert ControlFile(tmp_path / "none").pending() == []
    assert ControlFile(tmp_path / "none").applied() == 0
