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


def test_due_jobs_when_crossing_23_utc_then_reconcile_and_daily_summary_once_a_day() -> None:
    eleven_pm = MIDNIGHT + 23 * NS_PER_HOUR
    assert due_jobs(eleven_pm - 1, eleven_pm) == [Job.RECONCILE, Job.DAILY_SUMMARY]
    day = [j for h in range(48) for j in due_jobs(MIDNIGHT + h * NS_PER_HOUR, MIDNIGHT + (h + 1) * NS_PER_HOUR)]
    assert day.count(Job.DAILY_SUMMARY) == 2
    assert day.count(Job.DAILY_RESET) == 2


def test_due_jobs_when_a_gap_spans_several_days_then_each_job_once() -> None:
    jobs = due_jobs(MIDNIGHT + 1, MIDNIGHT + 3 * NS_PER_DAY)
    assert sorted(jobs) == sorted([Job.DAILY_RESET, Job.RECONCILE, Job.DAILY_SUMMARY])
