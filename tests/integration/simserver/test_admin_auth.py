"""The venue's ``/admin`` endpoints answer the operator's tools only: a token, no browser, JSON bodies.

Every admin route (and an unknown one) against a table of requests a web page or a stranger could
send, on the real server; none may change anything. Then the CLI's side: ``thunes venue serve``
writes the token file, ``thunes venue fault`` reads it, and binding beyond loopback needs keys of
one's own.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.simserver.live import TIMEOUT, LiveVenue
from thunes.adapters.venues.simserver.admin_auth import ADMIN_TOKEN_ENV
from thunes.app.cli.main import app

THUNES = str(Path(sys.executable).with_name("thunes"))
ROUTES = [
    ("GET", "/admin/faults"),
    ("POST", "/admin/faults"),
    ("POST", "/admin/faults/silence"),
    ("POST", "/admin/faults/clear"),
    ("POST", "/admin/ws/drop"),
    ("POST", "/admin/restart"),
    ("POST", "/admin/no-such-route"),
]
GOOD = object()  # stands for the venue's real token in the table below
# (name, token, extra headers, body, content type) -> (HTTP status, Binance code)
HOSTILE = [
    ("no token", None, {}, b'{"error_count": 3}', "application/json", 401),
    ("wrong token", "x" * 43, {}, b'{"error_count": 3}', "application/json", 401),
    ("token without Bearer", "raw", {}, b'{"error_count": 3}', "application/json", 401),
    ("browser origin", GOOD, {"Origin": "http://evil.example"}, b'{"error_count": 3}', "application/json", 403),
    ("null origin", GOOD, {"Origin": "null"}, b'{"error_count": 3}', "application/json", 403),
    ("same-site origin", GOOD, {"Origin": "http://127.0.0.1"}, b'{"error_count": 3}', "application/json", 403),
    ("text/plain body", GOOD, {}, b'{"error_count": 3}', "text/plain", 415),
    ("form body", GOOD, {}, b"error_count=3", "application/x-www-form-urlencoded", 415),
    ("origin and no token", None, {"Origin": "http://evil.example"}, b"{}", "text/plain", 403),
]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveVenue]:
    venue = LiveVenue()
    yield venue
    venue.stop()


def _call(live: LiveVenue, method: str, path: str, *, token: Any, headers: dict[str, str], body: bytes | None,
          content_type: str | None) -> tuple[int, Any]:  # fmt: skip
    sent = dict(headers)
    if token is not None:
        secret = live.running.admin_token if token is GOOD else token
        sent["Authorization"] = secret if token == "raw" else f"Bearer {secret}"
    if content_type is not None:
        sent["Content-Type"] = content_type
    request = urllib.request.Request(live.base_url + path, data=body, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize(("name", "token", "headers", "body", "content_type", "status"), HOSTILE,
                         ids=[row[0] for row in HOSTILE])  # fmt: skip
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_admin_when_request_is_not_the_operators_then_binance_shaped_refusal_and_nothing_changes(
    live: LiveVenue, method: str, path: str, name: str, token: Any, headers: dict[str, str], body: bytes,
    content_type: str, status: int,
) -> None:  # fmt: skip
    before = live.admin("/admin/faults")

    answer = _call(live, method, path, token=token, headers=headers, body=body or None, content_type=content_type)

    assert answer[0] == status, name
    assert answer[1]["code"] == -1002
    assert answer[1]["msg"].startswith("You are not authorized to execute this request.")
    assert live.admin("/admin/faults") == before  # no fault armed, no restart, nothing dropped


def test_admin_when_browser_preflight_then_refused(live: LiveVenue) -> None:
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip

    status, body = _call(live, "OPTIONS", "/admin/faults", token=None, headers=headers, body=None, content_type=None)

    assert (status, body["code"]) == (403, -1002)


def test_admin_when_good_token_and_json_then_fault_armed_and_shown(live: LiveVenue) -> None:
    armed = _call(live, "POST", "/admin/faults", token=GOOD, headers={}, body=b'{"latency_ms": 1}',
                  content_type="application/json; charset=utf-8")  # fmt: skip
    empty = _call(live, "POST", "/admin/faults/clear", token=GOOD, headers={}, body=None, content_type=None)

    assert armed[0] == 200
    assert armed[1]["latency_ms"] == 1.0
    assert empty == (200, {**armed[1], "latency_ms": 0.0})  # a POST without a body needs no content type


def test_cli_fault_when_token_from_file_or_env_then_works_else_one_error_line(live: LiveVenue, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    runner = CliRunner()
    token_file = tmp_path / "admin.token"
    token_file.write_text(live.running.admin_token + "\n")

    missing = runner.invoke(app, ["venue", "fault", "status", "--url", live.base_url])
    by_file = runner.invoke(app, ["venue", "fault", "latency", "--ms", "2", "--url", live.base_url,
                                  "--token-file", str(token_file)])  # fmt: skip
    by_env = runner.invoke(app, ["venue", "fault", "clear", "--url", live.base_url],
                           env={ADMIN_TOKEN_ENV: live.running.admin_token})  # fmt: skip
    port = live.base_url.rsplit(":", 1)[1]
    (tmp_path / f"venue-admin-{port}.token").write_text(live.running.admin_token)
    by_default_file = runner.invoke(app, ["venue", "fault", "status", "--url", live.base_url])
    token_file.write_text("not-the-token-but-long-enough")
    wrong = runner.invoke(app, ["venue", "fault", "status", "--url", live.base_url, "--token-file", str(token_file)])

    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [
        f"error: no admin token for {live.base_url}: cannot read venue-admin-{port}.token (No such file or directory);"
        f" pass --token-file or set ${ADMIN_TOKEN_ENV}"
    ]
    assert by_file.exit_code == 0, by_file.output
    assert '"latency_ms": 2.0' in by_file.output
    assert by_env.exit_code == 0, by_env.output
    assert '"latency_ms": 0.0' in by_default_file.output
    assert wrong.exit_code == 2
    assert wrong.output.startswith("error: venue answered 401:")
    assert live.running.admin_token not in wrong.output


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [THUNES, "venue", "serve", "--port", "0", "--synthetic", "300", "--speed", "60", "--warmup", "10", *args],
        cwd=tmp_path, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _startup_lines(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]  # blocks until printed, or EOF when it died
    if not all(lines):
        process.kill()
        pytest.fail(f"venue did not start: {lines} {process.communicate(timeout=TIMEOUT)}")
    return [line.strip() for line in lines]


def test_serve_when_non_loopback_host_with_published_keys_then_refused(tmp_path: Path) -> None:
    paper_key = {"THUNES_VENUE__API_KEY": "thunespaper" + "0" * 53, "THUNES_VENUE__API_SECRET": "s" * 64}
    results = []
    for extra in ({}, paper_key):  # no key configured (the defaults apply), or the published one
        process = _serve(tmp_path, "--host", "0.0.0.0", env={**extra})
        out, err = process.communicate(timeout=60)
        results.append((process.returncode, out, err.strip().splitlines()))

    for code, out, err in results:
        assert code == 2
        assert out == ""
        assert len(err) == 1
        assert err[0].startswith("error: --host 0.0.0.0 is not loopback: anyone who can reach it could trade")
    assert "s" * 64 not in results[1][2][0]
    assert list(tmp_path.iterdir()) == []  # no token file, nothing served


def test_serve_when_own_keys_then_binds_any_host_prints_it_and_token_file_is_0600_until_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {"THUNES_VENUE__API_KEY": "k" * 64, "THUNES_VENUE__API_SECRET": "my-own-secret-" + "z" * 30}
    (tmp_path / "state").mkdir()
    process = _serve(tmp_path, "--host", "0.0.0.0", "--state-file", "state/venue.json", env=keys)
    monkeypatch.chdir(tmp_path)  # where the operator started it: thunes venue fault finds the token there
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    try:
        lines = _startup_lines(process)
        port = int(lines[0].split("http://0.0.0.0:", 1)[1].split(" ", 1)[0])
        token_file = tmp_path / f"venue-admin-{port}.token"
        mode = stat.S_IMODE(token_file.stat().st_mode)
        shown = CliRunner().invoke(app, ["venue", "fault", "status", "--url", f"http://127.0.0.1:{port}"])
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)

    assert lines[0].startswith(f"venue on http://0.0.0.0:{port} (ws ws://0.0.0.0:{port})")
    assert lines[1] == "api key from your settings (not shown) (account 'paper'); the secret comes from your settings"
    assert lines[2] == f"admin token (thunes venue fault) in {token_file} (0600)"
    assert mode == 0o600
    assert shown.exit_code == 0, shown.output
    assert '"injected": 0' in shown.output
    assert not token_file.exists()  # removed on a clean stop
    assert "z" * 30 not in "\n".join(lines) + out + err


def test_admin_matrix_when_routes_registered_then_every_admin_route_is_in_it(live: LiveVenue) -> None:
    registered = {
        (route.method, route.resource.canonical)
        for route in live.running.runner.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/admin") and route.method != "HEAD"
    }

    assert len(registered) >= 6
    assert registered <= set(ROUTES)  # a new admin route joins the hostile matrix above
