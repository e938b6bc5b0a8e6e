"""Clock-boundary jobs of the trading loop: the daily reset at 00:00 UTC, the hourly
reconciliation (SPEC §2, §4) and the daily summary at 23:00 UTC (SPEC §5), driven by the market
clock so accelerated sessions keep them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Job", "due_jobs"]

NS_PER_HOUR = 3_600 * 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
SUMMARY_HOUR_UTC = 23


class Job(StrEnum):
    DAILY_RESET = "DAILY_RESET"
    RECONCILE = "RECONCILE"
    DAILY_SUMMARY = "DAILY_SUMMARY"


def due_jobs(previous_ns: int | None, now_ns: int) -> list[Job]:
    """Jobs whose boundary lies in ``(previous_ns, now_ns]``; none on the first tick."""
    if previous_ns is None or now_ns <= previous_ns:
        return []
    jobs = []
    if now_ns // NS_PER_DAY > previous_ns // NS_PER_DAY:
        jobs.append(Job.DAILY_RESET)
    if now_ns // NS_PER_HOUR > previous_ns // NS_PER_HOUR:
        jobs.append(Job.RECONCILE)
    shift = SUMMARY_HOUR_UTC * NS_PER_HOUR
    if (now_ns - shift) // NS_PER_DAY > (previous_ns - shift) // NS_PER_DAY:
        jobs.append(Job.DAILY_SUMMARY)
    return jobs
