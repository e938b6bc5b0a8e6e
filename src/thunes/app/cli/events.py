"""``thunes events tail|replay``: read the engine's events back from the NATS JetStream stream a session
published them to (``thunes trade --bus``).

``replay --from SEQ|TIME`` prints every stored event from a stream sequence or a UTC time on, in stream
order, and exits once caught up; ``tail`` prints the last few and follows new ones (``--count`` stops it).
One line per event: sequence, stored time (UTC), subject and the event's JSON; ``--json`` prints one JSON
object per event instead. NATS unreachable, a stream missing or a bad ``--from`` is one ``error:`` line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

from thunes.app.cli.options import settings_from_options
from thunes.app.errors import fail

if TYPE_CHECKING:
    from thunes.adapters.bus import BusConfig, StoredEvent

__all__ = ["events_app"]

events_app = typer.Typer(help="The engine's events on NATS JetStream: tail and replay.", no_args_is_help=True)
DEFAULT_URL = "nats://127.0.0.1:4222"
NatsOpt = Annotated[
    str | None, typer.Option("--nats", help="NATS server (default: [bus] url, else " + DEFAULT_URL + ").")
]
ConfigOpt = Annotated[Path | None, typer.Option(help="TOML config file (its [bus] section).")]
SubjectOpt = Annotated[
    str | None, typer.Option(help="Only these subjects, e.g. thunes.sim.BTCUSDT.* or thunes.*.*.OrderFilled.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per event.")]


def _adapter() -> ModuleType:
    """The bus adapter; nats-py is an optional extra (``thunes --help`` lists this group without it)."""
    try:
        from thunes.adapters import bus
    except ModuleNotFoundError as e:
        fail(f"thunes events needs the nats extra (pip install 'thunes[nats]'): {e}")
    return bus


def _config(nats: str | None, config: Path | None) -> BusConfig:
    settings = settings_from_options(config, {}, console_level="WARNING").bus
    bus = _adapter()
    url = nats or settings.url or DEFAULT_URL
    try:
        return bus.BusConfig(url=url, prefix=settings.prefix, stream=settings.stream,  # type: ignore[no-any-return]
                         inbound_stream=settings.inbound_stream, duplicate_window_s=settings.duplicate_window_s,
                         connect_timeout_s=3.0)  # fmt: skip
    except ValueError as e:
        fail(f"--nats: {e}")


def _start(text: str) -> tuple[int | None, datetime | None]:
    """``--from``: a stream sequence (a positive integer) or an ISO date/time (UTC unless it says)."""
    if text.isascii() and text.isdigit():
        if len(text) > 20 or int(text) >= 2**64:
            fail(f"--from: a stream sequence is below 2^64, got {len(text)} digits")
        seq = int(text)
        if seq < 1:
            fail("--from: stream sequences start at 1")
        return seq, None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--from {text!r} is neither a stream sequence (e.g. 1) nor an ISO time (e.g. 2026-12-08T09:30)")
    return None, moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _line(event: StoredEvent, as_json: bool) -> str:
    when = event.time.astimezone(UTC)
    try:
        body = event.body()
    except ValueError:
        body = event.data.decode(errors="replace")
    if as_json:
        record = {
            "seq": event.seq,
            "time": when.isoformat(),
            "subject": event.subject,
            "id": event.msg_id,
            "data": body,
        }
        return json.dumps(record, separators=(",", ":"))
    shown = json.dumps(body.get("message", body) if isinstance(body, dict) else body, separators=(",", ":"))
    return f"{event.seq:>8} {when:%Y-%m-%d %H:%M:%S.%f} {event.subject} {shown}"


async def _print(events: AsyncIterator[StoredEvent], as_json: bool, count: int | None) -> int:
    shown = 0
    async for event in events:
        typer.echo(_line(event, as_json))
        shown += 1
        if count is not None and shown >= count:
            break
    return shown


def _run(config: BusConfig, work: AsyncIterator[StoredEvent], as_json: bool, count: int | None) -> int:
    try:
        return asyncio.run(_print(work, as_json, count))
    except _adapter().BusError as e:
        fail(str(e))
    except KeyboardInterrupt:
        return 0


@events_app.command("replay")
def replay(
    start: Annotated[str, typer.Option("--from", help="A stream sequence (1: everything) or a UTC ISO time.")] = "1",
    subject: SubjectOpt = None,
    durable: Annotated[
        str | None, typer.Option(help="A named consumer: resumes after what it replayed last time (--from starts it).")
    ] = None,
    nats: NatsOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every stored event from --from on, in stream order; exits once caught up."""
    seq, moment = _start(start)
    bus = _config(nats, config)
    events = _adapter().read_events(bus, from_seq=seq, from_time=moment, subject=subject, durable=durable)
    shown = _run(bus, events, as_json, None)
    typer.echo(f"{shown} events", err=True)


@events_app.command("tail")
def tail(
    last: Annotated[int, typer.Option(min=0, help="Start with the last N stored events (0: only new ones).")] = 10,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many events (default: follow until ^C).")
    ] = None,
    subject: SubjectOpt = None,
    nats: NatsOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The last events, then new ones as they are stored."""
    bus, adapter = _config(nats, config), _adapter()
    try:
        newest = asyncio.run(adapter.last_sequence(bus))
    except adapter.BusError as e:
        fail(str(e))
    events = adapter.read_events(bus, from_seq=max(1, newest - last + 1), subject=subject, follow=True)
    _run(bus, events, as_json, count)
