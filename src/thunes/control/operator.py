"""The operator's side of a session: Telegram alerts and commands, and the control API.

Both live on an event loop of their own, on a thread of its own: an alert or a command never
waits for a bar, a bar never waits for Telegram, and the session's (synchronous) exit stack can
stop them. The trading side only *reads* from there or posts requests to the control file; the
one thing it hands over is an alert text (:meth:`Alerter.alert` is thread-safe, never blocks).

What the session leaves for the CLI: ``control.json`` (the API's URL, the token file's path, the
pid; removed on a graceful stop, so a stale one means a crash and the CLI falls back to the files)
and ``control.token`` (mode 0600), unless the token comes from ``THUNES_CONTROL_TOKEN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog

from thunes import __version__
from thunes.adapters.alerts import Alerter, CommandPoller, RiskWatch, TelegramClient, TelegramSettings, TokenBucket
from thunes.adapters.control import DEFAULT_HOST, ControlServer
from thunes.adapters.storage.control_file import ControlFile
from thunes.app.token_file import env_token, new_token, write_token_file
from thunes.control.session_control import LedgerView, SessionControl
from thunes.control.status import ControlApplied, DailySummary, PaperStatus
from thunes.engine.bus import Bus
from thunes.engine.portfolio import Portfolio
from thunes.engine.trader import Trader
from thunes.governance.rodage import SESSION_MARKS_FILE, MarkKind, SessionMark
from thunes.risk import RiskEngine

__all__ = [
    "CONTROL_TOKEN_ENV",
    "DISCOVERY_FILE",
    "TOKEN_FILE",
    "control_token",
    "previous_run_crashed",
    "start_operator",
]

CONTROL_TOKEN_ENV = "THUNES_CONTROL_TOKEN"  # noqa: S105 - the variable's name, not a secret
DISCOVERY_FILE = "control.json"
TOKEN_FILE = "control.token"  # noqa: S105 - a file name
T = TypeVar("T")
_log = structlog.get_logger(__name__)


def control_token(data_dir: Path, environ: Mapping[str, str]) -> tuple[str, Path | None]:
    """The API's bearer token: ``THUNES_CONTROL_TOKEN``, else a new one written to ``control.token``
    (0600, readable by the session's user only) and that file's path."""
    given = env_token(environ, CONTROL_TOKEN_ENV)
    if given is not None:
        return given, None
    path, token = data_dir / TOKEN_FILE, new_token()
    write_token_file(path, token)
    return token, path


def previous_run_crashed(data_dir: Path) -> SessionMark | None:
    """The last mark of the previous run when it ended without STOP (a crash), else None.

    Call before this run writes its START. Reads the file's tail only (a long session has many BEATs).
    """
    path = data_dir / SESSION_MARKS_FILE
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 8192))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(tail):
        with contextlib.suppress(ValueError, TypeError):
            mark = SessionMark.from_json(line)
            return None if mark.kind is MarkKind.STOP else mark
    return None


class _OperatorThread:
    """An event loop on a daemon thread; :meth:`call` runs a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="thunes-operator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T], timeout_s: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` as a task on the operator loop; the task is returned to cancel it there."""

        async def create() -> asyncio.Task[None]:
            return asyncio.ensure_future(work)

        return self.call(create())

    def stop(self) -> None:
        """Cancel what still runs, stop the loop, join the thread."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.call(cancel_all(), timeout_s=10.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self.loop.close()


class _Ticker:
    """On the trading loop: asks the watch what changed, after each reconciliation too, twice a second."""

    def __init__(self, watch: RiskWatch, status: PaperStatus, every_s: float = 0.5) -> None:
        self.watch, self.status, self.every_s = watch, status, every_s
        self._reconciliations = status.reconciliations
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        self._timer = self._loop.call_later(self.every_s, self._tick)

    def _tick(self) -> None:
        self.check()
        self.start()

    def check(self) -> None:
        try:
            self.watch.check()
            if self.status.reconciliations != self._reconciliations:
                self._reconciliations = self.status.reconciliations
                self.watch.reconciled()
        except Exception:  # an alerting bug must never reach trading
            _log.exception("alert_check_failed")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.check()  # a change in the last moments still gets its alert


def _summary_text(summary: DailySummary) -> str:
    f = summary.figures
    switch = ", kill-switch ON" if f.get("kill_switch") else ""
    return (f"daily summary {f.get('day')}: PnL today {f.get('realized_pnl_today')}, total {f.get('realized_pnl')}, "
            f"fees {f.get('fees')}, orders {f.get('orders')}, fills {f.get('fills')}, position {f.get('position')}, "
            f"trading {f.get('trading_state')}{switch}")  # fmt: skip


def _restart_text(crashed: SessionMark, risk: RiskEngine) -> str:
    seen = datetime.fromtimestamp((crashed.wall_ns or 0) / 1e9, tz=UTC).isoformat(timespec="seconds")
    switch = risk.kill_switch
    state = f"kill-switch ON ({switch.by}: {switch.reason})" if switch.active else "kill-switch off"
    return (f"restarted after a crash: the previous run (last alive {seen}) ended without a STOP mark. "
            f"Trading {risk.trading_state.value}, {state}.")  # fmt: skip


def _start_telegram(thread: _OperatorThread, closing: contextlib.ExitStack, bus: Bus, trader: Trader,
                    status: PaperStatus, control: SessionControl, settings: TelegramSettings,
                    crashed: SessionMark | None) -> None:  # fmt: skip
    client = TelegramClient(settings)
    bucket = TokenBucket(settings.alert_burst, settings.alerts_per_minute)
    symbols = ",".join(str(t.instrument.symbol) for t in control.traders)
    alerter = Alerter(client, settings.chat_ids, bucket, settings, label=f"{settings.label} {symbols}")
    watch = RiskWatch(trader.risk, [trader.config.venue], alerter.alert)
    watch.attach(bus)
    bus.subscribe(DailySummary, lambda summary: alerter.alert(_summary_text(summary)))
    bus.subscribe(ControlApplied, lambda _: watch.check())  # each request its own change
    sending = thread.spawn(alerter.run())
    polling: list[asyncio.Task[None]] = []
    if settings.commands:
        polling.append(thread.spawn(CommandPoller(client, client, settings, control.telegram_commands()).run()))

    async def close() -> None:
        for task in polling:  # no new command while the last alerts go out
            task.cancel()
        await alerter.close()
        sending.cancel()
        await asyncio.gather(sending, *polling, return_exceptions=True)
        await client.close()

    closing.callback(lambda: thread.call(close()))
    ticker = _Ticker(watch, status)
    ticker.start()
    closing.callback(ticker.stop)  # first, so its last check is flushed by close()
    if crashed is not None:
        alerter.alert(_restart_text(crashed, trader.risk))


def _start_control_api(thread: _OperatorThread, closing: contextlib.ExitStack, control: SessionControl,
                       data_dir: Path, host: str, port: int, status: PaperStatus) -> None:  # fmt: skip
    token, token_file = control_token(data_dir, os.environ)
    if token_file is not None:
        closing.callback(token_file.unlink, missing_ok=True)
    server = ControlServer(control, token, host=host, port=port, version=__version__)
    thread.call(server.start())
    closing.callback(lambda: thread.call(server.stop()))
    discovery = data_dir / DISCOVERY_FILE
    tmp = discovery.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": server.url, "token_file": None if token_file is None else str(token_file),
                               "pid": os.getpid()}), encoding="utf-8")  # fmt: skip
    os.replace(tmp, discovery)
    closing.callback(discovery.unlink, missing_ok=True)  # first on stop: the CLI reads files from then on
    status.control_url = server.url
    _log.info("control_api_serving", url=server.url)


def start_operator(closing: contextlib.ExitStack, bus: Bus, traders: Trader | Portfolio, store: LedgerView,
                   status: PaperStatus, data_dir: Path, *, control_port: int | None,
                   telegram: TelegramSettings | None, control_host: str = DEFAULT_HOST) -> None:  # fmt: skip
    """Start what the session's config asks for (nothing when neither is set); ``closing`` stops it.

    Call it inside the session's event loop, before the session writes its START mark (a previous
    run without STOP is reported as a crash).
    """
    if control_port is None and telegram is None:
        return
    crashed = previous_run_crashed(data_dir)
    control = SessionControl(ControlFile(data_dir), traders, store, status)
    trader = control.trader  # the account's risk engine and venue are every trader's
    thread = _OperatorThread()
    thread.start()
    closing.callback(thread.stop)  # last
    if telegram is not None:
        _start_telegram(thread, closing, bus, trader, status, control, telegram, crashed)
    if control_port is not None:
        _start_control_api(thread, closing, control, data_dir, control_host, control_port, status)
