"""Sending alerts without spamming and without ever making the trading loop wait.

:meth:`Alerter.alert` only appends to a queue (thread-safe, never blocks, never raises); a task on
the alerter's own event loop sends. A token bucket bounds the rate (SPEC §5: alerts never spam):
an alert that finds the bucket empty is held, and everything held is sent as *one* message
("N alerts suppressed by the rate limit", with each one's first line) when the next token comes.
A failed send is retried with backoff, after Telegram's ``retry_after`` on a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from thunes.adapters.alerts.telegram import FatalTelegramError, RejectedTelegramError, RetryableTelegramError

__all__ = ["Alerter", "RetryPolicy", "Sender", "TokenBucket", "deliver"]

_log = structlog.get_logger(__name__)
_DIGEST_LINES = 20  # first lines kept of suppressed alerts (the count is always exact)
_LINE = 160


class Sender(Protocol):
    """The one call the alerter needs (``TelegramClient`` satisfies it)."""

    async def send_message(self, chat_id: int, text: str, *, reply_to: int | None = None) -> None: ...


class TokenBucket:
    """``capacity`` messages back to back, refilled at ``per_minute``; ``clock`` in seconds (monotonic)."""

    def __init__(self, capacity: int, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1 or per_minute <= 0:
            raise ValueError("capacity >= 1 and per_minute > 0 are required")
        self.capacity, self.rate_per_s, self._clock = capacity, per_minute / 60.0, clock
        self._tokens, self._at = float(capacity), clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now

    def take(self) -> bool:
        """Spend one token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until the next token."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate_per_s)


class RetryPolicy(Protocol):
    @property
    def retry_initial_s(self) -> float: ...

    @property
    def retry_max_s(self) -> float: ...


async def deliver(sender: Sender, chat_id: int, text: str, policy: RetryPolicy, *, reply_to: int | None = None,
                  attempts: int | None = None) -> bool:  # fmt: skip
    """Send until it goes through (``attempts`` at most, None: no cap); True when delivered.

    Retryable failures wait ``retry_after`` (HTTP 429) or a doubling backoff; a rejected message is
    dropped; a wrong token raises :class:`FatalTelegramError` (nothing can be sent until it is fixed).
    """
    delay, attempt = policy.retry_initial_s, 0
    while True:
        attempt += 1
        try:
            await sender.send_message(chat_id, text, reply_to=reply_to)
            return True
        except RetryableTelegramError as e:
            wait = e.retry_after_s if e.retry_after_s is not None else delay
            if attempts is not None and attempt >= attempts:
                _log.warning("telegram_send_given_up", chat_id=chat_id, attempts=attempt, error=str(e))
                return False
            _log.warning("telegram_send_retry", chat_id=chat_id, retry_in_s=wait, error=str(e))
            await asyncio.sleep(wait)
            delay = min(delay * 2, policy.retry_max_s)
        except RejectedTelegramError as e:
            _log.warning("telegram_send_rejected", chat_id=chat_id, error=str(e))
            return False


class Alerter:
    """Queues alerts from any thread and sends each to every chat, at most at the bucket's rate.

    Run :meth:`run` as a task on the loop that owns ``sender``; :meth:`close` (on that loop) sends
    what is still queued as one last message, then stops. ``max_queue`` bounds memory during a long
    outage: alerts beyond it are counted into the next "suppressed" message.
    """

    def __init__(self, sender: Sender, chat_ids: Sequence[int], bucket: TokenBucket, policy: RetryPolicy, *,
                 label: str = "", max_queue: int = 500) -> None:  # fmt: skip
        self._sender, self._chats, self._bucket, self._policy = sender, tuple(chat_ids), bucket, policy
        self._label, self._max_queue = label, max_queue
        self._queue: deque[str] = deque()
        self._held: list[str] = []  # first lines of the alerts held back, up to _DIGEST_LINES
        self._held_count = 0
        self._held_full = ""  # the last alert held, sent as it is when it was the only one
        self._lock = threading.Lock()  # alert() runs on the trading thread, the sender on its own
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._disabled = False
        self.sent = 0  # messages delivered (to one chat at least)

    @property
    def disabled(self) -> bool:
        """True once Telegram refused the token: nothing is sent any more (fix it and restart)."""
        return self._disabled

    @property
    def held(self) -> int:
        """Alerts held back by the rate limit, to go out together when the next token comes."""
        with self._lock:
            return self._held_count

    def alert(self, text: str) -> None:
        """Queue one alert; returns at once, whatever happens to Telegram."""
        text = f"{self._label}: {text}" if self._label else text
        with self._lock:
            if len(self._queue) >= self._max_queue:
                self._hold(text)
            else:
                self._queue.append(text)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the session is ending
                loop.call_soon_threadsafe(wake.set)

    async def run(self) -> None:
        """Send forever (cancel to stop, or :meth:`close` to flush first)."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        while not self._closing:
            text = self._next()
            if text is not None:
                await self._send(text)
                continue
            if self._waiting():  # held alerts wait for a token; a new alert may wake us sooner
                wait = min(self._bucket.wait_s(), 1.0)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.01))
                continue
            self._wake.clear()
            if not self._waiting():
                await self._wake.wait()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop the rate limit and send what is left as one message, within ``timeout_s``."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        with self._lock:
            rest = list(self._queue)
            self._queue.clear()
            for text in rest:
                self._hold(text)
            last = self._digest("at shutdown")
        if last is not None and not self._disabled:
            with contextlib.suppress(TimeoutError, FatalTelegramError):
                async with asyncio.timeout(timeout_s):
                    for chat in self._chats:
                        await deliver(self._sender, chat, last, self._policy, attempts=3)

    def _waiting(self) -> bool:
        with self._lock:
            return bool(self._queue) or self._held_count > 0

    def _next(self) -> str | None:
        """The next message to send now, or None (nothing queued, or no token: then all is held)."""
        with self._lock:
            if not self._queue and not self._held_count:
                return None
            if not self._bucket.take():
                while self._queue:
                    self._hold(self._queue.popleft())
                return None
            if self._held_count:
                return self._digest("suppressed by the rate limit")
            return self._queue.popleft()

    def _hold(self, text: str) -> None:
        self._held_count += 1
        if len(self._held) < _DIGEST_LINES:
            first = text.splitlines()[0] if text else ""
            self._held.append(first if len(first) <= _LINE else first[: _LINE - 1] + "…")
        self._held_full = text

    def _digest(self, why: str) -> str | None:
        """One message for everything held (the alert itself when only one is), and forget them."""
        count, lines = self._held_count, self._held
        self._held, self._held_count = [], 0
        if count == 0:
            return None
        if count == 1:
            return self._held_full
        more = f"\n… and {count - len(lines)} more" if count > len(lines) else ""
        head = f"{self._label}: " if self._label else ""
        return f"{head}{count} alerts {why}:\n" + "\n".join(f"• {line}" for line in lines) + more

    async def _send(self, text: str) -> None:
        if self._disabled:
            return
        try:
            delivered = [await deliver(self._sender, chat, text, self._policy) for chat in self._chats]
            self.sent += any(delivered)
        except FatalTelegramError as e:  # nothing will ever go through: say it once, stop trying
            self._disabled = True
            _log.error("telegram_alerts_disabled", error=str(e))
