"""``thunes venue serve`` start-up errors: one ``error:`` line naming the option or file, exit 2, no
traceback, and nothing on disk changed (no journal left behind by a venue that did not start)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ccxt
import pytest
from typer.testing import CliRunner, Result

from tests.integration.simserver.conftest import ccxt_binance
from tests.ports import spare_port
from thunes.adapters.exchange_info_file import builtin_exchange_info
from thunes.adapters.venues.simserver.journal import Position, VenueJournal
from thunes.adapters.venues.simserver.server import build_state
from thunes.adapters.venues.simserver.state import PAPER_API_KEY, PAPER_API_SECRET, ApiKey
from thunes.app.cli.main import app
from thunes.domain.market import Timeframe

THUNES = str(Path(sys.executable).with_name("thunes"))
FAST = ["venue", "serve", "--synthetic", "300", "--warmup", "10", "--port", "0"]
runner = CliRunner()


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


BAD_OPTIONS = [
    (["--port", "99999"], "--port"),
    (["--port", "-1"], "--port"),
    (["--deposit", "USDT=-100"], "--deposit"),
    (["--deposit", "USDT=0"], "--deposit"),
    (["--deposit", "USDT=abc"], "--deposit"),
    (["--deposit", "USDT=NaN"], "--deposit"),
    (["--deposit", "USDT=Infinity"], "--deposit"),
    (["--deposit", "=100"], "--deposit"),
    (["--deposit", "US DT=5"], "--deposit"),
    (["--speed", "0"], "--speed"),
    (["--speed", "-3"], "--speed"),
    (["--speed", "fast"], "--speed"),
    (["--speed", "nan"], "--speed"),
    (["--speed", "inf"], "--speed"),
    (["--latency-ms", "-1"], "--latency-ms"),
    (["--jitter-ms", "nan"], "--jitter-ms"),
    (["--synthetic", "-5"], "--synthetic"),
    (["--synthetic", "0"], "--synthetic"),
    (["--warmup", "-1"], "--warmup"),
    (["--symbols", ""], "--symbols"),
    (["--symbols", "BTCUSDT,"], "--symbols"),
    (["--symbols", "BTCUSDT,,ETHUSDT"], "--symbols"),
    (["--symbols", "BTCUSDT,ETHUSDT,BTCUSDT"], "BTCUSDT more than once"),
    (["--symbols", "BTCUSDT,NOPEUSDT"], "NOPEUSDT"),
    (["--symbols", "BTCUSDT", "--symbol", "ETHUSDT"], "not both"),
    (["--symbols", "BTCUSDT,ETHUSDT", "--data", "candles.feather"], "--data"),
    (["--symbols", "BTCUSDT,ETHUSDT", "--warmup", "300"], "--warmup"),
]


@pytest.mark.parametrize(("args", "named"), BAD_OPTIONS)
def test_serve_when_an_option_is_bad_then_one_error_line_naming_it(
    args: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = runner.invoke(app, [*FAST, *args, "--state-file", str(tmp_path / "venue.db")])

    _assert_one_line_error(result, named)
    assert _tree(tmp_path) == {}


@pytest.mark.parametrize(
    "content", [b"garbage", b"\x1f\x8b\x08\x00cut gzip", b""], ids=["not gzip", "cut gzip", "empty"]
)
def test_serve_when_a_capture_file_is_corrupt_then_one_error_line_naming_it(
    content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    capture = _write(tmp_path / "capture.jsonl.gz", content)
    before = _tree(tmp_path)

    result = runner.invoke(app, ["venue", "serve", "--port", "0", "--capture", str(capture)])

    _assert_one_line_error(result, "capture.jsonl.gz")
    assert _tree(tmp_path) == before


def test_serve_when_the_port_is_in_use_then_one_error_line_and_no_journal_left(
    busy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [*FAST[:-2], "--port", str(busy_port), "--state-file", str(tmp_path / "venue.db")]

    result = runner.invoke(app, args)

    _assert_one_line_error(result, f"--port {busy_port}")
    assert _tree(tmp_path) == {}


def _journal_of(tmp_path: Path, symbol: str, events: int) -> Path:
    """A valid journal of a venue serving ``symbol`` whose replay stood at ``events`` events."""
    info = builtin_exchange_info()
    state = build_state(info.__class__({symbol: info.get(symbol)}, info.rate_limits, None), Timeframe.H1)
    path = tmp_path / "venue.db"
    journal = VenueJournal(path, state.venue)
    journal.position = lambda: Position(events, 0)
    journal.snapshot()
    journal.close()
    return path


STATE_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("a directory", lambda d: d, "is a directory"),
    ("garbage", lambda d: _write(d / "venue.db", b"garbage, not a journal"), "not a venue journal"),
    ("a cut SQLite file", lambda d: _write(d / "venue.db", b"SQLite format 3\x00" + b"\x07" * 300), "venue.db"),
    ("cut JSON", lambda d: _write(d / "venue.json", b'{"version": 1, "accounts": '), "not a valid venue state"),
    ("JSON of another version", lambda d: _write(d / "venue.json", json.dumps({"version": 99}).encode()), "venue.json"),
    ("a missing folder", lambda d: d / "missing" / "venue.db", "venue.db"),
    ("another symbol's journal", lambda d: _journal_of(d, "ETHUSDT", 10), "ETHUSDT"),
    ("a journal past the data's end", lambda d: _journal_of(d, "BTCUSDT", 10**6), "replayed events"),
    ("a journal of fewer symbols", lambda d: _journal_of(d, "BTCUSDT", 10), "['BTCUSDT']"),
]


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("make", "named"), [(m, n) for _, m, n in STATE_FILES], ids=[i for i, _, _ in STATE_FILES])
def test_serve_when_the_state_file_is_unusable_then_one_error_line_naming_it_and_nothing_changed(
    make: Callable[[Path], Path], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    state_file = make(tmp_path)
    before = _tree(tmp_path)

    several = ["--symbols", "BTCUSDT,ETHUSDT"] if named == "['BTCUSDT']" else []  # a journal of BTCUSDT alone

    result = runner.invoke(app, [*FAST, *several, "--state-file", str(state_file)])

    _assert_one_line_error(result, named)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    ("symbols", "named"),
    [("BTCUSDT,XRPUSDT", "XRPUSDT"), ("ETHBTC,BTCUSDT", "ETHBTC")],
    ids=["one symbol without data", "the first without data"],
)
def test_serve_when_a_listed_symbol_has_no_recorded_data_then_one_error_line_naming_it(
    symbols: str, named: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no data/store here: only the shared recorded data
    monkeypatch.setenv("THUNES_DATA__SHARED_DATA_DIR", str(shared_data))

    result = runner.invoke(app, ["venue", "serve", "--symbols", symbols, "--port", "0", "--speed", "max"])

    _assert_one_line_error(result, named, "no 1h candles")
    assert _tree(tmp_path) == {}


def _private_mount() -> bool:
    """True when this process may mount a tmpfs of its own (a private mount namespace via ``unshare``)."""
    try:
        probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _private_mount(), reason="no private mount namespace (unshare -rm) here")


def _serve_on_tmpfs(tmp_path: Path, mount_options: str, fill: bool) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``thunes venue serve`` with its journal on a tmpfs of its own; its result and what the tmpfs held after."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    filler = f'head -c 10M /dev/zero > "{mount}/filler" 2>/dev/null;' if fill else ""
    script = (
        f'mount -t tmpfs -o {mount_options} tmpfs "{mount}" && {filler}'
        f' "{THUNES}" {" ".join(FAST)} --state-file "{mount}/venue.db"; code=$?;'
        f' echo "left: $(ls "{mount}" | tr "\\n" " ")" >&2; exit $code'
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    *errors, left = done.stderr.strip().splitlines() or [""]
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, "\n".join(errors)), left


@needs_mount
def test_serve_when_the_disk_is_full_then_one_error_line_naming_the_journal_and_none_left(tmp_path: Path) -> None:
    done, left = _serve_on_tmpfs(tmp_path, "size=64k", fill=True)

    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line
    assert done.stderr.startswith("error: ") and "venue.db" in done.stderr and "full" in done.stderr
    assert left.split() == ["left:", "filler"]  # no journal of the venue that did not start


@needs_mount
def test_serve_when_the_data_dir_is_read_only_then_one_error_line_naming_the_journal(tmp_path: Path) -> None:
    done, left = _serve_on_tmpfs(tmp_path, "ro,size=64k", fill=False)

    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: ") and "venue.db" in done.stderr
    assert left.split() == ["left:"]


@dataclass(frozen=True)
class _Served:
    base_url: str


def _exchange(port: int) -> ccxt.binance:
    exchange = ccxt_binance(_Served(f"http://127.0.0.1:{port}"), ApiKey(PAPER_API_KEY, PAPER_API_SECRET, "paper"))  # type: ignore[arg-type]
    exchange.timeout = 10_000
    exchange.load_markets()
    return exchange


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v3/ping", timeout=1).close()
    except OSError:
        return False
    return True


@needs_mount
def test_venue_when_the_disk_fills_while_serving_then_it_stops_before_answering_and_keeps_every_answered_order(
    tmp_path: Path,
) -> None:
    port, mount, copy = spare_port(), tmp_path / "mnt", tmp_path / "copy"
    mount.mkdir()
    copy.mkdir()
    serve = f'"{THUNES}" venue serve --synthetic 300 --warmup 10 --speed 1 --port {port}'
    script = (  # the venue journals on a tmpfs of its own; on the word "go" the tmpfs is filled up
        f'mount -t tmpfs -o size=1m tmpfs "{mount}" || exit 9; {serve} --state-file "{mount}/venue.db" & pid=$!;'
        f' while [ ! -e "{tmp_path}/go" ]; do sleep 0.05; done;'
        f' head -c 10M /dev/zero > "{mount}/filler" 2>/dev/null; touch "{tmp_path}/full";'
        f' wait $pid; code=$?; cp "{mount}"/venue.db* "{copy}/"; exit $code'
    )
    venue = subprocess.Popen(["unshare", "-rm", "sh", "-c", script], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: _answers(port), "the venue")
        exchange = _exchange(port)
        answered = [exchange.create_order("BTC/USDT", "market", "buy", 0.001)["id"] for _ in range(2)]
        (tmp_path / "go").touch()
        _until((tmp_path / "full").exists, "the disk to fill")
        with pytest.raises(ccxt.NetworkError):  # no answer: the venue stopped rather than acknowledge it
            exchange.create_order("BTC/USDT", "market", "buy", 0.001)
        code = venue.wait(timeout=60)
    finally:
        if venue.poll() is None:
            venue.kill()
    stderr = venue.stderr.read() if venue.stderr else ""

    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert code == 1
    assert len(errors) == 1 and "venue.db" in errors[0] and "full" in errors[0], stderr
    assert "Traceback" not in stderr
    restarted = subprocess.Popen([*serve.replace('"', "").split(), "--state-file", str(copy / "venue.db")], cwd=copy)
    try:
        _until(lambda: _answers(port), "the restarted venue")
        kept = [o["id"] for o in _exchange(port).fetch_orders("BTC/USDT")]
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
    assert kept == answered  # every answered order, and not the one the venue could not journal
