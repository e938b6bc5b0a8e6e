"""Alerts over the fake Bot API: one per change of state, a burst folded into one message, a 429
honoured, and the token in no log line. Real risk engine, real client, real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import structlog
from pydantic import SecretStr

from tests.integration.alerts.fake_bot_api import TOKEN, FakeBotApi
from thunes.adapters.alerts import Alerter, RiskWatch, TelegramClient, TelegramSettings, TokenBucket
from thunes.domain.identifiers import VenueId
from thunes.execution.reconciliation import Mismatch, MismatchKind
from thunes.risk import FailureKind, RiskEngine, RiskLimits

VENUE = VenueId("sim")


class FakeClock:
    """Seconds, moved by the test only: the bucket refills when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _settings(api: FakeBotApi, chats: tuple[int, ...] = (11,)) -> TelegramSettings:
    return TelegramSettings(bot_token=SecretStr(TOKEN), chat_ids=chats, api_url=api.url, retry_initial_s=0.05,
                            retry_max_s=0.2)  # fmt: skip


async def _until(check: Callable[[], bool]) -> None:
    """Yield to the alerter until ``check`` holds (a hang fails the test through the timeout)."""
    async with asyncio.timeout(30):
        while not check():
            await asyncio.sleep(0.01)


async def _with_alerter(settings: TelegramSettings, bucket: TokenBucket,
                        body: Callable[[Alerter], Awaitable[None]]) -> None:  # fmt: skip
    client = TelegramClient(settings)
    alerter = Alerter(client, settings.chat_ids, bucket, settings)
    task = asyncio.ensure_future(alerter.run())
    try:
        await body(alerter)
    finally:
        await alerter.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def test_kill_switch_when_turned_on_twice_then_one_alert_per_change_to_every_chat(bot_api: FakeBotApi) -> None:
    clock_ns = [1_700_000_000_000_000_000]
    risk = RiskEngine(RiskLimits(), lambda: clock_ns[0])
    settings = _settings(bot_api, chats=(11, 12))

    async def body(alerter: Alerter) -> None:
        watch = RiskWatch(risk, [VENUE], alerter.alert)
        for _ in range(3):
            watch.check()  # nothing changed: nothing to say
        risk.activate_kill_switch("ops", "drill")
        watch.check()
        risk.activate_kill_switch("ops", "again")  # already on: not a change
        watch.check()
        watch.check()
        risk.deactivate("alice")
        watch.check()
        watch.check()
        await _until(lambda: alerter.sent == 2)

    asyncio.run(_with_alerter(settings, TokenBucket(5, 60), body))

    texts = [(r.body["chat_id"], r.body["text"]) for r in bot_api.sent()]
    assert texts == [
        (11, "kill-switch ON by ops: drill. Trading REDUCING: only exits (SELL of a held position) and cancels."),
        (12, "kill-switch ON by ops: drill. Trading REDUCING: only exits (SELL of a held position) and cancels."),
        (11, "kill-switch OFF by alice. Trading ACTIVE: orders flow within the limits."),
        (12, "kill-switch OFF by alice. Trading ACTIVE: orders flow within the limits."),
    ]


def test_breaker_and_reconciliation_when_state_persists_then_alerted_once_and_once_when_it_ends(
    bot_api: FakeBotApi,
) -> None:
    clock_ns = [1_700_000_000_000_000_000]
    risk = RiskEngine(RiskLimits(), lambda: clock_ns[0])
    drift = Mismatch(MismatchKind.BALANCE, "BTC", Decimal("0.1"), Decimal("0.2"), "kill-switch on")

    async def body(alerter: Alerter) -> None:
        watch = RiskWatch(risk, [VENUE], alerter.alert)
        for _ in range(5):
            risk.breaker(VENUE).record_failure(FailureKind.SERVER_ERROR)
        watch.check()
        watch.check()
        for _ in range(3):  # the same drift, hour after hour
            watch.on_mismatch(drift)
            watch.reconciled()
        watch.reconciled()  # clean
        watch.reconciled()
        clock_ns[0] += 61 * 1_000_000_000
        risk.breaker(VENUE).record_success()
        watch.check()
        await _until(lambda: alerter.sent == 4)

    asyncio.run(_with_alerter(_settings(bot_api), TokenBucket(10, 60), body))

    texts = [r.body["text"] for r in bot_api.sent()]
    assert len(texts) == 4
    assert texts[0].startswith("circuit breaker OPEN for venue sim")
    assert texts[1].startswith("reconciliation: 1 mismatch(es)")
    assert "BALANCE BTC: ledger 0.1, venue 0.2" in texts[1]
    assert texts[2] == "reconciliation clean again: ledger and venue agree."
    assert texts[3] == "circuit breaker closed for venue sim: orders flow again."


def test_burst_when_over_the_rate_then_the_excess_is_one_suppressed_message(bot_api: FakeBotApi) -> None:
    clock = FakeClock()
    bucket = TokenBucket(3, 60, clock=clock)  # 3 back to back, then one a second (of the fake clock)

    async def body(alerter: Alerter) -> None:
        for i in range(10):
            alerter.alert(f"alert {i}")
        await _until(lambda: alerter.sent == 3 and alerter.held == 7)
        clock.now += 1.0
        await _until(lambda: alerter.sent == 4)

    asyncio.run(_with_alerter(_settings(bot_api), bucket, body))

    texts = [r.body["text"] for r in bot_api.sent()]
    assert texts[:3] == ["alert 0", "alert 1", "alert 2"]
    assert len(texts) == 4  # nothing left for the shutdown flush
    assert texts[3].startswith("7 alerts suppressed by the rate limit:")
    assert [line.removeprefix("• ") for line in texts[3].splitlines()[1:]] == [f"alert {i}" for i in range(3, 10)]


def test_send_when_bot_api_answers_429_then_waits_retry_after_and_delivers_once(bot_api: FakeBotApi) -> None:
    bot_api.fail_next("sendMessage", 429, retry_after=1)

    async def body(alerter: Alerter) -> None:
        alerter.alert("kill-switch ON")
        await _until(lambda: alerter.sent == 1)

    asyncio.run(_with_alerter(_settings(bot_api), TokenBucket(5, 60), body))

    attempts = [r for r in bot_api.requests if r.method == "sendMessage"]
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # Telegram's retry_after, not our 0.05 s backoff
    assert [r.body["text"] for r in bot_api.sent()] == ["kill-switch ON"]


def test_failures_when_logged_then_the_token_appears_in_no_log_entry(bot_api: FakeBotApi) -> None:
    bot_api.fail_next("sendMessage", 429, retry_after=0)
    bot_api.fail_next("sendMessage", 502, raw="<html>bad gateway</html>")
    bot_api.fail_next("sendMessage", 400)

    async def body(alerter: Alerter) -> None:
        alerter.alert("first")  # 429, retried: 502, retried: 400, dropped
        alerter.alert("second")
        alerter.alert("third")
        await _until(lambda: alerter.sent == 2 and len(bot_api.requests) == 5)

    with structlog.testing.capture_logs() as logs:
        asyncio.run(_with_alerter(_settings(bot_api), TokenBucket(5, 60), body))
        wrong = _settings(bot_api).model_copy(update={"bot_token": SecretStr("777:WRONG-secret-token")})
        asyncio.run(_with_alerter(wrong, TokenBucket(5, 60), _one_alert))

    events = [e["event"] for e in logs]
    assert events.count("telegram_send_retry") == 2
    assert "telegram_send_rejected" in events
    assert "telegram_alerts_disabled" in events  # the wrong token: said once, no retry loop
    assert [r.body["text"] for r in bot_api.sent()] == ["second", "third"]
    assert TOKEN not in repr(logs)
    assert "WRONG-secret-token" not in repr(logs)


async def _one_alert(alerter: Alerter) -> None:
    alerter.alert("never delivered")
    await _until(lambda: alerter.disabled)
