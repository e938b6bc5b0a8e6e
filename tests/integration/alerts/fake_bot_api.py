"""A local server that behaves like the Telegram Bot API for the two calls THUNES makes.

``POST /bot<token>/sendMessage`` records the message; ``POST /bot<token>/getUpdates`` long-polls
the updates pushed with :meth:`FakeBotApi.push` (from ``offset`` on, waiting up to ``timeout``).
A wrong token gets Telegram's 401. :meth:`FakeBotApi.fail_next` makes the next calls of a method
fail (429 with ``parameters.retry_after``, or a 5xx). It runs on a thread and loop of its own, so
tests drive it synchronously and wait on conditions, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"


@dataclass
class Recorded:
    method: str
    token: str
    body: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)


class FakeBotApi:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.updates: list[dict[str, Any]] = []
        self._failures: dict[str, list[tuple[int, Any]]] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._pushed: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- test side ----------------------------------------------------------------------------------
    def start(self) -> FakeBotApi:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def push(self, chat_id: int, text: str, username: str | None = "alice", sent_s: int | None = None) -> int:
        """Queue a text message from ``username`` in ``chat_id``; returns its message id."""
        message_id = next(self._ids)
        sender: dict[str, Any] = {"id": 4242, "is_bot": False, "first_name": "Op"}
        if username is not None:
            sender["username"] = username
        update = {"update_id": 1000 + message_id, "message": {
            "message_id": message_id, "from": sender, "chat": {"id": chat_id, "type": "private"},
            "date": int(time.time()) if sent_s is None else sent_s, "text": text,
        }}  # fmt: skip
        with self._cond:
            self.updates.append(update)
        self._loop.call_soon_threadsafe(self._wake)
        return message_id

    def fail_next(self, method: str, status: int, retry_after: int | None = None, times: int = 1,
                  raw: str | None = None) -> None:  # fmt: skip
        """The next ``times`` calls of ``method`` answer ``status`` (``raw``: this text instead of JSON)."""
        body: Any = {"ok": False, "error_code": status, "description": f"Error {status}"}
        if retry_after is not None:
            body["description"] = f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        with self._cond:
            self._failures.setdefault(method, []).extend([(status, raw if raw is not None else body)] * times)

    def sent(self) -> list[Recorded]:
        """sendMessage calls that succeeded, in order."""
        with self._cond:
            return [r for r in self.requests if r.method == "sendMessage" and r.status == 200]

    def wait_for(self, predicate: Any, timeout_s: float = 30.0) -> None:
        """Block until ``predicate(self)`` holds; fail the test after ``timeout_s`` (a hang, not a timing)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"condition not met; requests: {[(r.method, r.status, r.body) for r in self.requests]}"
                    )
                self._cond.wait(min(left, 0.2))

    # --- server side --------------------------------------------------------------------------------
    def _wake(self) -> None:
        if self._pushed is not None:
            self._pushed.set()

    async def _start(self) -> None:
        self._pushed = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _record(self, method: str, token: str, body: dict[str, Any], status: int) -> None:
        with self._cond:
            self.requests.append(Recorded(method, token, body, status))
            self._cond.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        body = await request.json() if request.can_read_body else {}
        if token != self.token:
            self._record(method, token, body, 401)
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        with self._cond:
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
        if failure is not None:
            self._record(method, token, body, failure[0])
            if isinstance(failure[1], str):
                return web.Response(text=failure[1], status=failure[0], content_type="text/html")
            return web.json_response(failure[1], status=failure[0])
        if method == "sendMessage":
            self._record(method, token, body, 200)
            return web.json_response({"ok": True, "result": {"message_id": next(self._ids), "text": body["text"]}})
        if method == "getUpdates":
            return await self._get_updates(token, body)
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _get_updates(self, token: str, body: dict[str, Any]) -> web.Response:
        self._record("getUpdates", token, body, 200)  # on arrival: a long poll may be cut by the test's end
        offset, timeout = int(body.get("offset") or 0), float(body.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        assert self._pushed is not None
        while True:
            with self._cond:
                pending = [u for u in self.updates if u["update_id"] >= offset]
            left = deadline - time.monotonic()
            if pending or left <= 0:
                break
            self._pushed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pushed.wait(), timeout=left)
        return web.json_response({"ok": True, "result": pending})
