"""Clock-boundary jobs of the trading loop: the daily reset at 00:00 UTC and the hourly
reconciliation (SPEC §2, §4), driven by the market clock so accelerated sessions keep them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Job", "due_jobs"]

NS_PER_HOUR = 3_600 * 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR


class Job(StrEnum):
    DAILY_RESET = "DAILY_RESET"
    RECONCILE = "RECONCILE"


def due_jobs(previous_ns: int | None, now_ns: int) -> list[Job]:
    """Jobs whose boundary lies in ``(previous_ns, now_ns]``; none on the first tick."""
    if previous_ns is None or now_ns <= previous_ns:
        return []
    jobs = []
    if now_ns // NS_PER_DAY > previous_ns // NS_PER_DAY:
        jobs.append(Job.DAILY_RESET)
    if now_ns // NS_PER_HOUR > previous_ns // NS_PER_HOUR:
        jobs.append(Job.RECONCILE)
    return jobs
