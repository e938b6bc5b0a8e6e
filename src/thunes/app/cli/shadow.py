"""``thunes shadow``: a policy's actions (RLAction JSON lines) decided against a running market, nothing
placed; one Decision JSON line out per line in, in order (SPEC §9). ``thunes shadow report LOG``: the
session's validation report as one HTML file.

stdout carries only the decisions (a policy reads them back line by line); the summary goes to stderr
and, as JSON, beside the shadow log in ``--out``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from thunes.app.cli.options import http_url, settings_from_options
from thunes.app.composition import portfolio_pairs
from thunes.app.errors import fail
from thunes.app.sources import load_exchange_info_source
from thunes.domain.exchange_info import ExchangeInfoError
from thunes.domain.identifiers import Symbol
from thunes.domain.venue import VenueError
from thunes.rl import PolicySettings
from thunes.rl.report import render_html
from thunes.rl.stub import STUB_POLICY
from thunes.rl.summary import read_log, summarize
from thunes.session.config import PaperConfig
from thunes.session.shadow import ShadowConfig, ShadowOutputs, ShadowSession, StubSettings, replay_window
from thunes.session.venue import replayed_bars

__all__ = ["shadow_app"]

shadow_app = typer.Typer(help="Shadow mode: decide a policy's actions against a live market, place nothing.",
                         invoke_without_command=True, add_completion=False)  # fmt: skip
_CHUNK = 1 << 16
_POLICY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _reader(stream: BinaryIO, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]) -> None:
    """A daemon thread reading ``stream`` in chunks (a blocked read never holds up the session's end)."""
    try:
        while chunk := stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK):
            asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()
    except Exception:  # noqa: S110 - the loop is gone (the session ended): nothing left to read for
        pass
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()


async def _lines(stream: BinaryIO) -> AsyncIterator[bytes]:
    """The lines of ``stream`` (without their newline), as they arrive; a last line without one too."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)
    threading.Thread(target=_reader, args=(stream, asyncio.get_running_loop(), queue), daemon=True).start()
    rest = b""
    while (chunk := await queue.get()) is not None:
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            yield line
    if rest:
        yield rest


def _start_ns(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        fail(f"--start expects a date like 2025-01-06, got {text!r}")
    return int(day.timestamp()) * 1_000_000_000


def _policies(names: list[str] | None, stub: bool, min_confidence: float) -> dict[str, PolicySettings]:
    chosen = list(names or ([STUB_POLICY] if stub else []))
    if not chosen:
        fail("name the whitelisted policy with --policy ID (repeat it for several), or run --policy-stub")
    for name in chosen:
        if not re.match(_POLICY_ID, name):
            fail(f"--policy {name[:80]!r} is not a policy id (letters, digits, . _ -, at most 64)")
    return {name: PolicySettings(min_confidence=min_confidence) for name in chosen}


def _print_summary(summary: dict[str, Any]) -> None:
    lat, slip = summary["latency_us"], summary["slippage_bps"]

    def num(value: Any, digits: int = 1) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    rate = summary["acceptance_rate"]
    rows = [
        ("decisions", f"{summary['decisions']:,} ({summary['input_lines']:,} lines in)"),
        ("accepted / rejected / noop", f"{summary['accepted']:,} / {summary['rejected']:,} / {summary['noop']:,}"),
        ("acceptance rate", "-" if rate is None else f"{rate:.1%}"),
        ("market days, actions/day", f"{num(summary['market_days'], 2)}, {num(summary['actions_per_day'])}"),
        ("rejections by gate", ", ".join(f"{g} {n}" for g, n in summary["rejections_by_gate"].items()) or "-"),
        ("latency p50/p95/p99 us", f"{num(lat['p50'])} / {num(lat['p95'])} / {num(lat['p99'])}"),
        ("would-be fills", ", ".join(f"{k} {n}" for k, n in summary["would_be_fills"].items()) or "-"),
        ("slippage bps p05/p50/p95", f"{num(slip['p05'], 2)} / {num(slip['p50'], 2)} / {num(slip['p95'], 2)}"),
        ("orders placed on the venue", "-" if summary["venue_orders"] is None else str(summary["venue_orders"])),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        typer.echo(f"{key:<{width}}  {value}", err=True)


def _run(session: ShadowSession, input_file: Path | None, *, stub: bool) -> dict[str, Any]:
    """The session on its input (the stub's, a file's or stdin's); its failures as one line."""
    try:
        if stub:
            return asyncio.run(session.run(None))
        if input_file is None:
            return asyncio.run(session.run(_lines(sys.stdin.buffer)))
        try:
            f = input_file.open("rb")
        except OSError as e:
            fail(f"{input_file}: {e.strerror or e}")
        with f:
            return asyncio.run(session.run(_lines(f)))
    except (VenueError, ExchangeInfoError, ValueError) as e:
        fail(str(e), 1)
    except KeyError as e:  # a symbol the venue does not list
        fail(str(e.args[0]) if e.args else "unknown symbol", 1)
    except BrokenPipeError:
        fail("stdout closed before the session ended", 1)


@shadow_app.callback()
def shadow(
    ctx: typer.Context,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="Read actions from this file, not stdin.", dir_okay=False)
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Symbols traded, e.g. BTCUSDT,ETHUSDT (default: the portfolio's).")
    ] = None,
    policy: Annotated[list[str] | None, typer.Option("--policy", help="A whitelisted policy id (repeatable).")] = None,
    min_confidence: Annotated[float, typer.Option(min=0.0, max=1.0, help="Gate 3's floor.")] = 0.5,
    policy_stub: Annotated[
        bool, typer.Option("--policy-stub", help="A seeded random policy instead of input.")
    ] = False,
    seed: Annotated[int, typer.Option(help="The stub policy's seed.")] = 0,
    stub_every: Annotated[float, typer.Option(min=0.001, help="Market seconds between the stub's actions.")] = 60.0,
    speed: Annotated[float, typer.Option(min=0.001, help="Replay seconds per wall second (embedded venue).")] = 60.0,
    days: Annotated[
        float | None, typer.Option(min=0.01, help="Replay this many days of candles (default: all).")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First day replayed, YYYY-MM-DD (default: the last --days).")
    ] = None,
    venue_url: Annotated[str | None, typer.Option(help="A venue already running (thunes venue serve).")] = None,
    deposit: Annotated[float, typer.Option(min=1.0, max=1e12, help="The shadow account's quote balance.")] = 10_000.0,
    max_actions: Annotated[int | None, typer.Option(min=1, help="Stop after this many actions.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many wall seconds.")] = None,
    out: Annotated[
        Path, typer.Option(help="Where the shadow log, the summary and the audit trail go.", file_okay=False)
    ] = Path("data/shadow"),
    config: Annotated[Path | None, typer.Option(help="Settings file (TOML).", dir_okay=False)] = None,
) -> None:
    """Read RLAction JSON lines (stdin, --input, or --policy-stub) and write one Decision JSON line per
    line to stdout, in order, while the market runs; nothing is ever placed. The summary goes to stderr
    and OUT/summary.json, every decision to OUT/shadow-log.jsonl and the audit trail OUT/audit/."""
    if ctx.invoked_subcommand is not None:
        return
    if policy_stub and input_file is not None:
        fail("give --policy-stub or --input, not both")
    if venue_url is not None:
        venue_url = http_url(venue_url, "--venue-url")
        if days is not None or start is not None:
            fail(
                "--days and --start choose the embedded venue's candles; a running venue (--venue-url) replays its own"
            )
    settings = settings_from_options(config, {}, console_level="WARNING")
    names = [s.strip() for s in symbols.split(",")] if symbols else [str(p.symbol) for p in portfolio_pairs(settings)]
    if not all(names) or len(set(names)) != len(names):
        fail(f"--symbols expects distinct symbols like BTCUSDT,ETHUSDT, got {symbols!r}")
    if venue_url is None:  # the embedded venue trades what the exchange rules know; a running venue says itself
        known, origin = load_exchange_info_source(settings.rules, settings.data)
        unknown = [s for s in names if Symbol(s) not in known.instruments]
        if unknown:
            fail(f"unknown symbol {', '.join(unknown)} (not in the {origin})")
    policies = _policies(policy, policy_stub, min_confidence)
    start_ns = _start_ns(start)
    bars = None
    try:
        if venue_url is None and (days is not None or start_ns is not None):
            loaded = replayed_bars(settings, PaperConfig(warmup_bars=0), [Symbol(s) for s in names])
            bars = replay_window(loaded, days or 7.0, start_ns)
    except (ValueError, OSError, ExchangeInfoError) as e:
        fail(str(e))
    shadow_config = ShadowConfig(speed=speed, bars=bars, venue_url=venue_url, deposit=Decimal(repr(deposit)),
                                 policies=policies, stub=StubSettings(seed, stub_every) if policy_stub else None,
                                 max_actions=max_actions, duration_s=duration)  # fmt: skip
    outputs = ShadowOutputs(sys.stdout.buffer, out / "shadow-log.jsonl", out / "audit", out / "summary.json")
    summary = _run(ShadowSession(settings, shadow_config, names, outputs), input_file, stub=policy_stub)
    _print_summary(summary)
    typer.echo(f"summary: {outputs.summary}  log: {outputs.log}", err=True)


@shadow_app.command("report")
def report(
    log: Annotated[Path, typer.Argument(help="A shadow log (OUT/shadow-log.jsonl).", exists=True, dir_okay=False)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML file (default: LOG.html).", dir_okay=False)
    ] = None,
) -> None:
    """Render a shadow log's validation report (latency, rejections, acceptance, slippage, actions per
    day) as one self-contained HTML file."""
    target = output or log.with_suffix(".html")
    try:
        records = list(read_log(log))
        if not any(r.get("record") == "decision" for r in records):
            fail(f"{log}: no shadow decision record (is it OUT/shadow-log.jsonl of thunes shadow?)")
        target.write_text(render_html(summarize(records), records, title=f"Shadow session {log.name}"),
                          encoding="utf-8")  # fmt: skip
    except OSError as e:
        fail(f"{e.filename or log}: {e.strerror or e}")
    typer.echo(f"wrote {target}", err=True)
