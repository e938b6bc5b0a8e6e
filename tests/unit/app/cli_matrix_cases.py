"""The table behind the CLI bad-input matrix: what kind of input each option takes, the bad values of each
kind, and a valid base command line per command so that a cell changes one input only.

Every command and every parameter the Typer app exposes must appear here (the matrix test fails
otherwise), so a new command or option is classified the day it is added.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "ANSWERS",
    "BAD",
    "BASE",
    "BASE_EXIT",
    "BASE_NOT_RUN",
    "COMBINATIONS",
    "CONFLICTS",
    "DISABLED",
    "EXEMPT",
    "EXTRAS",
    "FLAG_VARIANTS",
    "OPEN",
    "Bad",
    "Kind",
    "World",
    "kind_of",
    "left_out",
    "prepare",
]


@dataclass(frozen=True)
class World:
    """Where a cell runs: ``root`` is the working directory and HOME; ``readonly`` and ``full`` are
    mounts (a read-only tmpfs, a tmpfs without a free block or inode) when this machine allows them."""

    root: Path
    readonly: Path | None
    full: Path | None


@dataclass(frozen=True)
class Bad:
    """One bad input: ``make`` prepares what it needs under the world and returns the argv value."""

    label: str
    make: Callable[[World], str]
    needs: str = ""  # "nonroot": permission bits must bind; "readonly"/"full": that mount must exist; "inproc"


class Kind(StrEnum):
    IN_TOML = "config file (read)"
    IN_CANDLES = "candle file (read)"
    IN_GZ = "capture file (read)"
    IN_PLAIN = "plaintext secrets file (read)"
    IN_ENC = "encrypted secrets file (read)"
    IN_KEY = "key file (read)"
    IN_DIR = "directory (read)"
    IN_SHADOW_LOG = "shadow log (read)"
    SESSION_DIR = "session data directory (read)"
    WRITE_DIR = "data directory written into"
    NEW_DIR = "session directory (made when missing)"
    OUT_FILE = "output file"
    OUT_DIR = "output directory"
    STATE_FILE = "state file (read, then written)"
    DB = "SQLite path or database URL"
    INT_POS = "count >= 1"
    LIMIT = "newest N (a huge N means all)"
    INT_NONNEG = "count >= 0"
    BARS = "bar count >= 2"
    SEED = "seed"
    FLOAT_POS = "positive number"
    FLOAT_NONNEG = "number >= 0"
    FLOAT_FINITE = "finite number"
    AMOUNT = "money amount"
    SYMBOL = "symbol"
    SYMBOL_NAME = "symbol to store (need not be listed)"
    SYMBOLS = "comma-separated symbol list"
    PAIRS = "portfolio pairs SYMBOL[:STRATEGY],..."
    TIMEFRAME = "timeframe"
    STRATEGY = "strategy spec (built-in, entry point, module:Class, file.py:Class)"
    STRATEGY_PARAM = "a user strategy's NAME=VALUE"
    NEW_STRATEGY = "new strategy name"
    ISO = "ISO date/time"
    URL = "http(s) URL"
    PORT = "TCP port"
    HOST = "bind address"
    QUOTE = "quote asset"
    HASH = "param hash"
    EVENT = "audit event"
    SECRET_SPEC = "secrets provider spec"
    DEPOSIT = "ASSET=AMOUNT"
    SPEED = "replay speed"
    HTTP_STATUS = "fault HTTP status"
    VENUE_NAME = "data venue name"
    VENUE_CHOICE = "trade venue"
    CHAT = "telegram chat id"


def _file(name: str, data: bytes, mode: int = 0o600) -> Callable[[World], str]:
    def make(w: World) -> str:
        path = w.root / "bad" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        return str(path)

    return make


def _dir(name: str, inside: dict[str, bytes] | None = None, mode: int = 0o755) -> Callable[[World], str]:
    def make(w: World) -> str:
        path = w.root / "bad" / name
        path.mkdir(parents=True)
        for child, data in (inside or {}).items():
            (path / child).write_bytes(data)
        path.chmod(mode)
        return str(path)

    return make


def _at(template: str) -> Callable[[World], str]:
    return lambda w: template.format(w=w.root)


def _value(text: str) -> Callable[[World], str]:
    return lambda _w: text


def _readonly(name: str) -> Callable[[World], str]:
    return lambda w: str((w.readonly or w.root) / name)


def _full(name: str) -> Callable[[World], str]:
    return lambda w: str((w.full or w.root) / name)


GARBAGE = b"\x00\xff\xfe garbage \x80\x81" * 64
# A valid user strategy (prepare writes it as good_strategy.py in the world root, the cells' working
# directory); the bad strategy files are variations of it.
_GOOD_STRATEGY = b"""from thunes.strategy.api import Param, Signal, UserStrategy


class Good(UserStrategy):
    api_version = 1
    params = {"window": Param(3, low=1, high=50)}

    def on_bar(self, bar):
        return Signal.HOLD
"""
_RAISING_INIT = b"""
    def reset(self):
        raise RuntimeError("the user's own bug")
"""


def _strategy(name: str, code: bytes, cls: str) -> Callable[[World], str]:
    make = _file(name, code)
    return lambda w: f"{make(w)}:{cls}"


def _strategy_dir(name: str) -> Callable[[World], str]:
    make = _dir(name)
    return lambda w: f"{make(w)}:Good"


HUGE_LINE = b"A" * 2_000_000  # one 2 MB line, no newline
_MISSING = Bad("missing", _at("{w}/no/such/place"))
_UNDER_FILE = Bad("under a file", _at("{w}/plain.json/below"))  # ENOTDIR even for root
_NUL = Bad("NUL byte", _value("bad\x00name"), needs="inproc")  # argv cannot carry NUL: in-process only
_IN_FILE = [
    _MISSING,
    Bad("a directory", _dir("a-dir")),
    _UNDER_FILE,
    Bad("unreadable (mode 000)", _file("locked", b"x = 1\n", 0o000), needs="nonroot"),
    Bad("garbage bytes", _file("garbage.bin", GARBAGE)),
    Bad("huge line", _file("huge.txt", HUGE_LINE)),
    _NUL,
]
_IN_DIR = [
    _MISSING,
    Bad("a file", _at("{w}/plain.json")),
    _UNDER_FILE,
    Bad("unreadable (mode 000)", _dir("locked-dir", mode=0o000), needs="nonroot"),
    _NUL,
]
_OUT = [
    _UNDER_FILE,
    Bad("read-only location", _readonly("out"), needs="readonly"),
    Bad("full location", _full("out"), needs="full"),
    _NUL,
]
_TRUNCATED_GZ = gzip.compress(b'{"e":"trade","s":"BTCUSDT"}\n' * 50)[:40]
_NUMBER_NOISE = ["abc", "", "1e400", "9" * 40]

BAD: dict[Kind, list[Bad]] = {
    Kind.IN_TOML: [
        *_IN_FILE,
        Bad("truncated TOML", _file("cut.toml", b'[backtest]\nsymbol = "BTC')),
        Bad("unknown key", _file("extra.toml", b"[nope]\nx = 1\n")),
        Bad("wrong type", _file("type.toml", b"[backtest]\nfee_rate = 'abc'\n")),
    ],
    Kind.IN_CANDLES: [
        *_IN_FILE,
        Bad("empty file", _file("BTCUSDT-1h-empty.csv", b"")),
        Bad("truncated CSV", _file("BTCUSDT-1h-cut.csv", b"1704067200000,42000.1,42100.5,419")),
    ],
    Kind.IN_GZ: [
        *_IN_FILE,
        Bad("empty file", _file("empty.gz", b"")),
        Bad("truncated gzip", _file("cut.gz", _TRUNCATED_GZ)),
    ],
    Kind.IN_PLAIN: [
        *_IN_FILE,
        Bad("empty file", _file("empty.json", b"")),
        Bad("truncated JSON", _file("cut.json", b'{"api_key": "ab')),
    ],
    Kind.IN_ENC: [
        *_IN_FILE,
        Bad("empty file", _file("empty.enc", b"")),
        Bad("truncated token", _file("cut.enc", b"gAAAAABm")),
    ],
    Kind.IN_KEY: [
        *_IN_FILE,
        Bad("empty file", _file("empty.key", b"")),
        Bad("truncated key", _file("cut.key", b"q2Jx0hK")),
    ],
    Kind.IN_DIR: _IN_DIR,
    Kind.IN_SHADOW_LOG: [
        *_IN_FILE,
        Bad("empty file", _file("empty.jsonl", b"")),
        Bad("no decision record", _file("cut.jsonl", b'{"record": "decis')),
    ],
    Kind.SESSION_DIR: [*_IN_DIR, Bad("garbage ledger", _dir("bad-session", {"ledger.db": GARBAGE}))],
    Kind.WRITE_DIR: [
        _MISSING,
        Bad("a file", _at("{w}/plain.json")),
        _UNDER_FILE,
        Bad("read-only location", _readonly("session"), needs="readonly"),
        Bad("full location", _full("session"), needs="full"),
        _NUL,
    ],
    Kind.NEW_DIR: [
        Bad("a file", _at("{w}/plain.json")),
        _UNDER_FILE,
        Bad("read-only location", _readonly("session"), needs="readonly"),
        Bad("full location", _full("session"), needs="full"),
        _NUL,
    ],
    Kind.OUT_FILE: [*_OUT, Bad("a directory", _dir("out-dir"))],
    Kind.OUT_DIR: [*_OUT, Bad("a file", _at("{w}/plain.json"))],
    Kind.STATE_FILE: [
        Bad("a directory", _dir("state-dir")),
        _UNDER_FILE,
        Bad("garbage bytes", _file("state.json", GARBAGE)),
        _NUL,
    ],
    Kind.DB: [
        Bad("empty", _value("")),
        Bad("unknown scheme", _value("nope://x")),
        Bad("garbage file", _file("garbage.db", GARBAGE)),
        Bad("under a file", _at("{w}/plain.json/x.db")),
    ],
    Kind.INT_POS: [Bad(v or "empty", _value(v)) for v in ["-1", "0", *_NUMBER_NOISE]],
    Kind.LIMIT: [Bad(v or "empty", _value(v)) for v in ["-1", "0", "abc", "", "1e400"]],
    Kind.INT_NONNEG: [Bad(v or "empty", _value(v)) for v in ["-1", *_NUMBER_NOISE]],
    Kind.BARS: [Bad(v or "empty", _value(v)) for v in ["-1", "0", "1", *_NUMBER_NOISE]],
    Kind.SEED: [Bad(v or "empty", _value(v)) for v in ["-1", "abc", "1e400"]],
    Kind.FLOAT_POS: [Bad(v or "empty", _value(v)) for v in ["-1", "0", "nan", "inf", "-inf", *_NUMBER_NOISE[:3]]],
    Kind.FLOAT_NONNEG: [Bad(v or "empty", _value(v)) for v in ["-1", "nan", "inf", *_NUMBER_NOISE[:3]]],
    Kind.FLOAT_FINITE: [Bad(v or "empty", _value(v)) for v in ["nan", "inf", "-inf", *_NUMBER_NOISE[:3]]],
    Kind.AMOUNT: [
        Bad(v or "empty", _value(v)) for v in ["-100", "0", "nan", "inf", "1e400", "abc", "", "1" + "0" * 400]
    ],
    Kind.SYMBOL: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("unknown", "NOPEUSDT"),
            ("slash", "btc/usdt"),
            ("zero-width space", "BTC\u200bUSDT"),
            ("shell", "$(touch pwned); rm -rf ~"),
            ("10k long", "A" * 10_000),
            ("path", "../../etc/passwd"),
        ]
    ],
    Kind.SYMBOLS: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("only commas", ",,"),
            ("empty item", "BTCUSDT,,ETHUSDT"),
            ("trailing comma", "BTCUSDT,"),
            ("duplicate", "BTCUSDT,ETHUSDT,BTCUSDT"),
            ("unknown", "BTCUSDT,NOPEUSDT"),
            ("slash", "btc/usdt,ETHUSDT"),
            ("zero-width space", "BTCUSDT,ETH\u200bUSDT"),
            ("shell", "BTCUSDT,$(touch pwned); rm -rf ~"),
            ("10k long", ",".join(["BTCUSDT"] * 2_000)),
        ]
    ],
    Kind.PAIRS: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("only commas", ",,"),
            ("no strategy after colon", "BTCUSDT:,ETHUSDT"),
            ("unknown strategy", "BTCUSDT:nope,ETHUSDT"),
            ("unknown symbol", "BTCUSDT,NOPEUSDT"),
            ("duplicate", "BTCUSDT,ETHUSDT,BTCUSDT"),
            ("zero-width space", "BTCUSDT,ETH\u200bUSDT"),
            ("shell", "BTCUSDT:$(touch pwned); rm -rf ~"),
            ("10k long", ",".join(["BTCUSDT"] * 2_000)),
            ("too many pairs", ",".join(f"S{i}USDT" for i in range(65))),
        ]
    ],
    Kind.SYMBOL_NAME: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("zero-width space", "BTC\u200bUSDT"),
            ("shell", "$(touch pwned); rm -rf ~"),
            ("10k long", "A" * 10_000),
            ("path", "../../etc/passwd"),
        ]
    ],
    Kind.TIMEFRAME: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("unknown unit", "7x"),
            ("zero", "0m"),
            ("negative", "-1h"),
            ("shell", "1h; ls"),
            ("arabic digit", "\u0663h"),
            ("huge", "9" * 40 + "m"),
        ]
    ],
    Kind.STRATEGY: [
        *(Bad(label, _value(v)) for label, v in [("empty", ""), ("unknown", "nope"), ("path", "../../x")]),
        Bad("no class given", _value("good_strategy.py")),
        Bad("module not found", _value("no_such_package.strategies:Nope")),
        Bad("module class not a strategy", _value("json:JSONDecoder")),
        Bad("missing file", _at("{w}/no/such/strategy.py:Nope")),
        Bad("a directory", _strategy_dir("strategy-dir.py")),
        Bad("no such class", _strategy("noclass.py", _GOOD_STRATEGY, "Missing")),
        Bad("not a strategy subclass", _strategy("plain.py", b"class NotOne:\n    pass\n", "NotOne")),
        Bad("import error in the file", _strategy("raises.py", b"import math\nRATE = 1 / 0\n", "Good")),
        Bad("syntax error in the file", _strategy("syntax.py", b"def broken(:\n", "Good")),
        Bad("garbage bytes", _strategy("garbage.py", GARBAGE, "Good")),
        Bad("unsupported API version", _strategy("future.py", _GOOD_STRATEGY.replace(b"= 1", b"= 99"), "Good")),
        Bad("no on_bar", _strategy("abstract.py", _GOOD_STRATEGY.split(b"    def on_bar")[0], "Good")),
        Bad("__init__ raises", _strategy("init.py", _GOOD_STRATEGY + _RAISING_INIT, "Good")),
    ],
    Kind.STRATEGY_PARAM: [
        Bad(label, _value(v))
        for label, v in [
            ("no equals", "window"),
            ("no name", "=5"),
            ("unknown name", "nope=1"),
            ("not a number", "window=abc"),
            ("below its low", "window=0"),
            ("above its high", "window=100000"),
            ("empty value", "window="),
            ("huge", "window=" + "9" * 40),
            ("10k long", "window=" + "1" * 10_000),
        ]
    ],
    Kind.NEW_STRATEGY: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("digit first", "1strategy"),
            ("dash", "my-strategy"),
            ("path", "../escape"),
            ("keyword", "class"),
            ("keyword class name", "none"),
            ("upper case", "MyStrategy"),
            ("shell", "x; rm -rf ~"),
            ("10k long", "a" * 10_000),
        ]
    ],
    Kind.ISO: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("word", "yesterday"),
            ("month 13", "2024-13-45"),
            ("year 9999999", "9999999-01-01"),
            ("10k long", "2" * 10_000),
        ]
    ],
    Kind.URL: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("ftp", "ftp://example.org"),
            ("javascript", "javascript:alert(1)"),
            ("broken", "http://[::1"),
            ("port 99999", "http://127.0.0.1:99999"),
            ("nothing listening", "http://127.0.0.1:9"),
        ]
    ],
    Kind.PORT: [Bad(v, _value(v)) for v in ["-1", "70000", "abc"]],
    Kind.HOST: [
        Bad(label, _value(v))
        for label, v in [("empty", ""), ("bad address", "999.1.1.1"), ("shell", "x;rm -rf ~"), ("300 long", "a" * 300)]
    ],
    Kind.QUOTE: [Bad(label, _value(v)) for label, v in [("empty", ""), ("space", "US DT"), ("10k long", "A" * 10_000)]],
    Kind.HASH: [Bad(label, _value(v)) for label, v in [("empty", ""), ("not hex", "zz$(x)")]],
    Kind.EVENT: [Bad(label, _value(v)) for label, v in [("empty", ""), ("unknown", "NOPE"), ("shell", "x; ls")]],
    Kind.SECRET_SPEC: [
        Bad(label, _value(v))
        for label, v in [
            ("empty", ""),
            ("unknown provider", "bogus:x"),
            ("missing file", "file:/no/such/file"),
            ("under a file", "fernet:/etc/hostname/x"),
        ]
    ],
    Kind.DEPOSIT: [
        Bad(label, _value(v))
        for label, v in [
            ("no amount", "USDT"),
            ("word", "USDT=abc"),
            ("no asset", "=5"),
            ("nan", "USDT=nan"),
            ("inf", "USDT=inf"),
            ("negative", "USDT=-100"),
        ]
    ],
    Kind.SPEED: [Bad(v or "empty", _value(v)) for v in ["fast", "-1", "0", "nan", "inf", ""]],
    Kind.HTTP_STATUS: [Bad(v, _value(v)) for v in ["200", "99", "-1", "abc"]],
    Kind.VENUE_NAME: [Bad(label, _value(v)) for label, v in [("empty", ""), ("path", "../.."), ("slash", "a/b")]],
    Kind.VENUE_CHOICE: [Bad(label, _value(v)) for label, v in [("empty", ""), ("unknown", "nope")]],
    Kind.CHAT: [Bad(v, _value(v)) for v in ["abc", "1e400"]],
}

# Parameters that take no bad input of their own, with the reason.
FLAG = "a flag: present or not"
FREE = "free text recorded as given (an operator's name or note): any value is valid"
EXEMPT: dict[str, str] = {
    "--note": FREE,
    "--by": FREE,
    "--why": FREE,
    "--reason": FREE,
    "--study": FREE,
    "audit show --symbol": "a filter: an unknown symbol matches nothing, exit 0",
    "params history --strategy": "a filter: an unknown strategy matches nothing",
    "params decay --strategy": "a filter: an unknown strategy matches nothing",
    "schema rl --model": "a choice of four names: click refuses any other (exit 2, its own usage line)",
    "trade --secrets": "read by --live only, after its own checks (tests/unit/app/test_live_start.py)",
    "trade --bus": "a NATS url: checked in tests/integration/bus/test_cli_events.py (not nats://: one error line)",
    "--nats": "a NATS url: checked in tests/integration/bus/test_cli_events.py (bad scheme, unreachable)",
    "--subject": "a filter: JetStream refuses a malformed one (one error line), an unmatched one replays nothing",
    "events replay --durable": "a consumer name: JetStream refuses a malformed one (one error line)",
    "venue fault errors --count": "checked by the venue (issue 15 item 15, venue fuzz test)",
    "venue fault errors --retry-after": "checked by the venue (issue 15 item 15, venue fuzz test)",
    "venue fault drop-order-responses --count": "checked by the venue (issue 15 item 15, venue fuzz test)",
    "venue fault latency --ms": "checked by the venue (issue 15 item 15, venue fuzz test)",
    "venue fault latency --jitter": "checked by the venue (issue 15 item 15, venue fuzz test)",
    "venue fault silence --seconds": "checked by the venue (issue 15 item 15, venue fuzz test)",
}

# The kind of an option by its flag, for every command; a "command option" key overrides it.
_BY_FLAG: dict[str, Kind] = {
    "--config": Kind.IN_TOML,
    "--data": Kind.IN_CANDLES,
    "--symbol": Kind.SYMBOL,
    "--symbols": Kind.SYMBOLS,
    "--pairs": Kind.PAIRS,
    "--timeframe": Kind.TIMEFRAME,
    "--strategy": Kind.STRATEGY,
    "--param": Kind.STRATEGY_PARAM,
    "--synthetic": Kind.BARS,
    "--seed": Kind.SEED,
    "--sma-fast": Kind.INT_POS,
    "--sma-slow": Kind.INT_POS,
    "--data-dir": Kind.SESSION_DIR,
    "--url": Kind.URL,
    "--quote": Kind.QUOTE,
    "--db": Kind.DB,
    "--start": Kind.ISO,
    "--end": Kind.ISO,
    "--since": Kind.ISO,
    "--until": Kind.ISO,
    "--on": Kind.ISO,
    "--warmup": Kind.INT_NONNEG,
    "--out": Kind.OUT_DIR,
    "--limit": Kind.LIMIT,
    "--trials": Kind.INT_POS,
    "--jobs": Kind.INT_POS,
    "--store": Kind.IN_DIR,
    "--key-file": Kind.IN_KEY,
    "--output": Kind.OUT_FILE,
    "--dir": Kind.IN_DIR,
    "--event": Kind.EVENT,
    "--weeks": Kind.LIMIT,
    "--cuts": Kind.INT_POS,
    "--bars": Kind.BARS,
    "--skip": Kind.INT_NONNEG,
    "--keep": Kind.OUT_DIR,
    "--days": Kind.LIMIT,
    "--gate": Kind.INT_NONNEG,
    "--initial-cash": Kind.FLOAT_POS,
    "--fee-rate": Kind.FLOAT_NONNEG,
    "--min-oos-trades": Kind.INT_NONNEG,
    "--train-days": Kind.FLOAT_POS,
    "--test-days": Kind.FLOAT_POS,
    "--step-days": Kind.FLOAT_POS,
    "--min-oos-sharpe": Kind.FLOAT_FINITE,
    "--backtest-sharpe": Kind.FLOAT_FINITE,
    "--wf-sharpe": Kind.FLOAT_FINITE,
    "--duration": Kind.FLOAT_POS,
    "--speed": Kind.FLOAT_POS,
    "--venue-url": Kind.URL,
    "--telegram-api-url": Kind.URL,
    "--metrics-port": Kind.PORT,
    "--control-port": Kind.PORT,
    "--metrics-host": Kind.HOST,
    "--telegram-chat": Kind.CHAT,
    "--venue": Kind.VENUE_CHOICE,
    "--status": Kind.HTTP_STATUS,
    "--host": Kind.HOST,
    "--port": Kind.PORT,
    "--capture": Kind.IN_GZ,
    "--state-file": Kind.STATE_FILE,
    "--latency-ms": Kind.FLOAT_NONNEG,
    "--jitter-ms": Kind.FLOAT_NONNEG,
    "--storage": Kind.DB,
    "--token-file": Kind.IN_KEY,
    "--admin-token-file": Kind.OUT_FILE,
}
_OVERRIDE: dict[str, Kind] = {
    "events replay --from": Kind.ISO,  # also a stream sequence (digits)
    "events tail --last": Kind.INT_NONNEG,
    "events tail --count": Kind.INT_POS,
    "backtest --json": Kind.OUT_FILE,
    "capital deposit amount": Kind.AMOUNT,
    "capital withdraw amount": Kind.AMOUNT,
    "capital deposit --data-dir": Kind.WRITE_DIR,
    "capital withdraw --data-dir": Kind.WRITE_DIR,
    "kill-switch on --data-dir": Kind.WRITE_DIR,
    "kill-switch off --data-dir": Kind.WRITE_DIR,
    "trade --data-dir": Kind.NEW_DIR,
    "optimize --data-dir": Kind.WRITE_DIR,
    "walk-forward --data-dir": Kind.WRITE_DIR,
    "params record --data-dir": Kind.WRITE_DIR,
    "data import --symbol": Kind.SYMBOL_NAME,
    "data import --store": Kind.OUT_DIR,
    "data import paths": Kind.IN_CANDLES,
    "data import --venue": Kind.VENUE_NAME,
    "data gaps venue": Kind.VENUE_NAME,
    "data gaps symbol": Kind.SYMBOL,
    "data gaps timeframe": Kind.TIMEFRAME,
    "params diff hash_a": Kind.HASH,
    "params diff hash_b": Kind.HASH,
    "secrets check spec": Kind.SECRET_SPEC,
    "secrets decrypt encrypted": Kind.IN_ENC,
    "secrets encrypt plaintext": Kind.IN_PLAIN,
    "secrets keygen output": Kind.OUT_FILE,
    "config show --config": Kind.IN_TOML,
    "venue serve --speed": Kind.SPEED,
    "venue serve --deposit": Kind.DEPOSIT,
    "venue serve --data": Kind.IN_CANDLES,
    "new-strategy name": Kind.NEW_STRATEGY,
    "new-strategy --dir": Kind.OUT_DIR,
    "shadow report log": Kind.IN_SHADOW_LOG,
}


def kind_of(command: str, param: str) -> Kind | str:
    """The kind of ``param`` (its first flag, or an argument's name) of ``command``, or why it has none."""
    for key in (f"{command} {param}", param):
        if key in EXEMPT:
            return EXEMPT[key]
    return _OVERRIDE.get(f"{command} {param}") or _BY_FLAG.get(param) or ""


# A valid command line per command ({w} is the world root): a cell replaces one value in it.
_SYN = {"--synthetic": "200"}
_SESSION = {"--data-dir": "{w}/session"}
_WF = {"--synthetic": "1200", "--train-days": "20", "--test-days": "10"}  # two folds after the 243-bar warm-up
_FAULT = {"--url": "http://127.0.0.1:9", "--token-file": "{w}/key.txt"}
_NO_NATS = {"--nats": "nats://127.0.0.1:9"}  # a cell's input is refused before NATS is asked
BASE: dict[str, dict[str, str]] = {
    "events replay": _NO_NATS,
    "events tail": _NO_NATS,
    "audit show": {"--dir": "{w}/audit"},
    "audit verify": {"--dir": "{w}/audit"},
    "backtest": _SYN,
    "lookahead": {**_SYN, "--cuts": "3"},
    "report backtest": {**_SYN, "--out": "{w}/runs"},
    "report rodage": {**_SESSION, "--out": "{w}/rodage"},
    "optimize": {"--synthetic": "400", "--trials": "1", "--storage": "sqlite:///{w}/optuna.db", **_SESSION},
    "walk-forward": {**_WF, "--trials": "1", "--out": "{w}/runs", **_SESSION},
    "parity": {"--bars": "60", "--warmup": "20"},
    "capital deposit": {"amount": "100", "--data-dir": "{w}/live"},
    "capital withdraw": {"amount": "1", "--data-dir": "{w}/live"},
    "capital show": {"--data-dir": "{w}/live"},
    "config schema": {"--output": "{w}/schema.json"},
    "config show": {},
    "data gaps": {"venue": "binance", "symbol": "SYNUSDT", "timeframe": "1h", "--store": "{w}/store"},
    "data import": {"paths": "{w}/SYN_USDT-1h.parquet", "--store": "{w}/store"},
    "data list": {"--store": "{w}/store"},
    "kill-switch on": _SESSION,
    "kill-switch off": {**_SESSION, "--by": "ops"},
    "kill-switch status": _SESSION,
    "orders": _SESSION,
    "positions": _SESSION,
    "portfolio": _SESSION,
    "status": _SESSION,
    "params decay": {"--db": "{w}/params.db"},
    "params history": {"--db": "{w}/params.db"},
    "params diff": {"hash_a": "a", "hash_b": "b", "--db": "{w}/params.db"},  # prepare's two versions
    "params record": {**_SESSION, "--db": "{w}/params.db"},
    "params snapshot": {**_SESSION, "--db": "{w}/params.db"},
    "secrets check": {"spec": "env:"},
    "secrets decrypt": {"encrypted": "{w}/secrets.enc", "--key-file": "{w}/key.txt"},
    "secrets encrypt": {"plaintext": "{w}/plain.json", "--output": "{w}/new.enc", "--key-file": "{w}/key.txt"},
    "secrets keygen": {"output": "{w}/new.key"},
    "trade": {"--duration": "1", "--data-dir": "{w}/paper"},
    "venue serve": {"--synthetic": "150", "--port": "0", "--speed": "max"},
    "venue fault clear": _FAULT,
    "venue fault drop-order-responses": _FAULT,
    "venue fault drop-ws": _FAULT,
    "venue fault errors": _FAULT,
    "venue fault latency": _FAULT,
    "venue fault restart": _FAULT,
    "venue fault silence": _FAULT,
    "venue fault status": _FAULT,
    "version": {},
    "new-strategy": {"name": "my_strategy", "--dir": "{w}/strategies"},
    "schema rl": {},
    "shadow report": {"log": "{w}/shadow-log.jsonl", "--output": "{w}/shadow-report.html"},
}

# Inputs each valid alone that a command refuses together (or with the config's portfolio): one error
# line, exit 2, nothing written. {w} is the world root.
COMBINATIONS: dict[str, list[str]] = {
    "backtest --data with several --pairs": ["backtest", "--data", "{w}/SYN_USDT-1h.parquet", "--pairs",
                                             "BTCUSDT,ETHUSDT"],
    "backtest --fast --data with several --pairs": ["backtest", "--data", "{w}/SYN_USDT-1h.parquet", "--pairs",
                                                    "BTCUSDT,ETHUSDT", "--fast"],
    "backtest --data with a portfolio of several pairs": ["backtest", "--data", "{w}/SYN_USDT-1h.parquet", "--config",
                                                          "{w}/portfolio.toml"],
    "report backtest --data with several --pairs": ["report", "backtest", "--data", "{w}/SYN_USDT-1h.parquet",
                                                    "--pairs", "BTCUSDT,ETHUSDT", "--out", "{w}/runs"],
    "parity --data with several --pairs": ["parity", "--data", "{w}/SYN_USDT-1h.parquet", "--pairs",
                                           "BTCUSDT,ETHUSDT", "--bars", "60", "--warmup", "20"],
    "parity --skip past the data": ["parity", "--skip", "100000000", "--bars", "60"],
    "parity --symbol not in --pairs": ["parity", "--pairs", "BTCUSDT,ETHUSDT", "--symbol", "SOLUSDT", "--bars", "60"],
    "lookahead with a portfolio of several pairs": ["lookahead", "--config", "{w}/portfolio.toml", "--synthetic",
                                                    "200", "--cuts", "3"],
    "optimize with a portfolio of several pairs": ["optimize", "--config", "{w}/portfolio.toml", "--synthetic", "400",
                                                   "--trials", "1", "--storage", "sqlite:///{w}/optuna.db",
                                                   "--data-dir", "{w}/session"],
    "walk-forward with a portfolio of several pairs": ["walk-forward", "--config", "{w}/portfolio.toml",
                                                       "--synthetic", "1200", "--train-days", "20", "--test-days",
                                                       "10", "--trials", "1", "--out", "{w}/runs", "--data-dir",
                                                       "{w}/session"],
}  # fmt: skip

# Flags that send a command down another path: each of its cells runs again with the flag
# (``backtest --fast``: the fast path checks its input the same way as the event path).
FLAG_VARIANTS: dict[str, tuple[str, ...]] = {"backtest": ("--fast",)}
# A cell on the first option drops the others from the base (they would override it).
CONFLICTS: dict[str, tuple[str, ...]] = {"--data": ("--synthetic",), "--capture": ("--synthetic",)}
# Options that matter only with another one: the cell adds it.
EXTRAS: dict[str, list[str]] = {
    "trade --metrics-host": ["--metrics-port", "0"],
    "trade --telegram-api-url": ["--telegram", "--telegram-chat", "1"],
    "trade --telegram-chat": ["--telegram"],
    "optimize --data-dir": ["--record"],
    "optimize --db": ["--record"],
    **{f"{command} --param": ["--strategy", "good_strategy.py:Good"]  # a user strategy, in the cell's cwd
       for command in ("backtest", "lookahead", "report backtest", "optimize", "walk-forward", "parity", "trade")},
}  # fmt: skip

# Cells left out, each with why. A key is a cell ("command option/label"), every cell of an option
# ("command option") or of a command ("command"). Enable a cell by deleting its line once its fix lands.
DISABLED: dict[str, str] = {}
# Bugs this matrix found that no branch fixes yet (see the issue 15 closing note): left out, not hidden.
OPEN: dict[str, str] = {}
# Cells whose input is refused or reported with another exit code than 2, each with why; still run
# (no traceback, nothing on disk changed; a non-zero code with its one error line).
ANSWERS: dict[str, tuple[int, str]] = {
    "audit verify --db/garbage file": (1, "a garbled audit copy is a failed audit (exit 1, 'audit FAILED'), as a "
                                          "tampered one is: the verifier's verdict, not a usage error"),
    "kill-switch status --data-dir/garbage ledger": (0, "it reads risk.json, not the ledger: it shows the switch and "
                                                        "that the next session starts REDUCING (a report, exit 0)"),
}  # fmt: skip
# Commands whose base line is not run by the base check, with why (it must otherwise exit 0).
BASE_NOT_RUN: dict[str, str] = {
    "events replay": "needs a NATS server (tests/integration/bus/test_cli_events.py runs it against one)",
    "events tail": "needs a NATS server (tests/integration/bus/test_cli_events.py runs it against one)",
    "venue serve": "serves until stopped (its cells fail fast or hit the watchdog)",
    **{f"venue fault {c}": "needs a running venue (tests/integration/venue: the fault commands against one)"
       for c in ("clear", "drop-order-responses", "drop-ws", "errors", "latency", "restart", "silence", "status")},
}  # fmt: skip
# The exit code of a valid base line when not 0: walk-forward's verdict on the synthetic market.
BASE_EXIT: dict[str, set[int]] = {"walk-forward": {0, 3}, "report rodage": {1}}  # rodage: NO-GO, no session data


def left_out(key: str) -> str | None:
    """Why the cell ``key`` is left out (:data:`DISABLED` or :data:`OPEN`), or None."""
    for table in (DISABLED, OPEN):
        for prefix, why in table.items():
            if key == prefix or key.startswith((prefix + "/", prefix + " ")):
                return why
    return None


def _version(cls: Any, i: int) -> Any:
    return cls.propose("sma_cross", {"sma_fast": 10, "sma_slow": 30, "try": i}, git_sha="0" * 40,
                       created_ns=1_700_000_000_000_000_000, author="matrix", reason="base")  # fmt: skip


_SHADOW_LOG = (
    b'{"record":"decision","market_ns":1767225600000000000,"status":"REJECTED","gate":"PARSE",'
    b'"reason":"INVALID_JSON","latency_us":12,"placed":false}\n'
)


def prepare(world: World) -> None:
    """The valid files and directories the base command lines name."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pa_parquet

    from thunes.adapters.datastore.store import ParquetStore
    from thunes.adapters.datastore.synthetic import generate_ohlcv
    from thunes.adapters.secrets.document import parse_document
    from thunes.adapters.secrets.fernet import encrypt_document, generate_key
    from thunes.adapters.storage.params_sql import SqlParamStore
    from thunes.adapters.storage.sql_store import SqlStore
    from thunes.domain.market import Timeframe
    from thunes.governance.params import ParamVersion

    root = world.root
    for name in ("audit", "store", "live", "home", "session"):
        (root / name).mkdir()
    SqlStore(f"sqlite:///{root / 'session' / 'ledger.db'}").engine.dispose()
    candles = generate_ohlcv("SYNUSDT", Timeframe.H1, 120, seed=3)
    columns = ("open_time_ns", "open", "high", "low", "close", "volume")
    pa_parquet.write_table(
        pa.table({c: np.asarray(getattr(candles, c)) for c in columns}), root / "SYN_USDT-1h.parquet"
    )
    ParquetStore(root / "store").write("binance", candles)
    with SqlParamStore(f"sqlite:///{root / 'params.db'}") as history:  # a version whose hash starts a, one b
        for number, prefix in enumerate("ab", start=1):
            found = (v for i in range(1000) if (v := _version(ParamVersion, i)).param_hash.startswith(prefix))
            history.insert(replace(next(found), version=number))
    (root / "good_strategy.py").write_bytes(_GOOD_STRATEGY)
    (root / "shadow-log.jsonl").write_bytes(_SHADOW_LOG)
    (root / "portfolio.toml").write_text(
        '[[portfolio]]\nsymbol = "BTCUSDT"\n\n[[portfolio]]\nsymbol = "ETHUSDT"\nstrategy = "rsi_reversion"\n'
    )
    plain = b'{"api_key": "k", "api_secret": "s"}\n'
    (root / "plain.json").write_bytes(plain)
    key = generate_key()
    (root / "key.txt").write_bytes(key.reveal().encode() + b"\n")
    (root / "secrets.enc").write_bytes(encrypt_document(parse_document(plain, "plain.json"), key) + b"\n")
    for name in ("plain.json", "key.txt", "secrets.enc"):
        os.chmod(root / name, 0o600)
