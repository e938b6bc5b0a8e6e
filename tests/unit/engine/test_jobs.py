from __future__ import annotations

from thunes.engine.jobs import NS_PER_DAY, NS_PER_HOUR, Job, due_jobs

MIDNIGHT = 20_000 * NS_PER_DAY


def test_due_jobs_when_crossing_midnight_then_daily_reset_and_reconcile() -> None:
    assert due_jobs(MIDNIGHT - 1, MIDNIGHT) == [Job.DAILY_RESET, Job.RECONCILE]


def test_due_jobs_when_crossing_an_hour_then_only_reconcile() -> None:
    assert due_jobs(MIDNIGHT + NS_PER_HOUR - 5, MIDNIGHT + NS_PER_HOUR + 5) == [Job.RECONCILE]


def test_due_jobs_when_within_an_hour_or_first_tick_or_time_still_then_nothing() -> None:
    assert due_jobs(MIDNIGHT + 1, MIDNIGHT + NS_PER_HOUR - 1) == []
    assert due_jobs(None, MIDNIGHT) == []
    assert due_jobs(MIDNIGHT, MIDNIGHT) == []
