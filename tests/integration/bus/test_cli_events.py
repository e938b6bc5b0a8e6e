"""``thunes events replay|tail`` over a real JetStream stream, and their one-line errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thunes.adapters.bus import BusConfig, JetStreamPublisher
from thunes.app.cli.main import app


@dataclass(frozen=True, slots=True)
class Tick:
    ts_ns: int
    symbol: str


@pytest.fixture
def five_events(bus_config: BusConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BusConfig:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THUNES_BUS__PREFIX", bus_config.prefix)
    monkeypatch.setenv("THUNES_BUS__STREAM", bus_config.stream)
    monkeypatch.setenv("THUNES_BUS__INBOUND_STREAM", bus_config.inbound_stream)
    publisher = JetStreamPublisher(bus_config, tmp_path / "spool", "sim", run="cli").start()
    for i in range(5):
        publisher.publish(Tick(i, "ETHUSDT" if i % 2 else "BTCUSDT"))
    assert publisher.close(30)
    return bus_config


def _json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_replay_when_from_a_sequence_then_that_one_and_after_in_order(five_events: BusConfig) -> None:
    result = CliRunner().invoke(app, ["events", "replay", "--nats", five_events.url, "--from", "3", "--json"])

    assert result.exit_code == 0, result.output
    lines = _json_lines(result.output)
    assert [line["seq"] for line in lines] == [3, 4, 5]
    assert [line["id"] for line in lines] == ["cli-3", "cli-4", "cli-5"]
    assert lines[1]["subject"] == f"{five_events.prefix}.sim.ETHUSDT.Tick"


def test_replay_when_from_a_time_then_what_was_stored_since(five_events: BusConfig) -> None:
    before = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    after = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    runner = CliRunner()

    everything = runner.invoke(app, ["events", "replay", "--nats", five_events.url, "--from", before, "--json"])
    nothing = runner.invoke(app, ["events", "replay", "--nats", five_events.url, "--from", after, "--json"])

    assert [line["seq"] for line in _json_lines(everything.output)] == [1, 2, 3, 4, 5]
    assert nothing.exit_code == 0 and _json_lines(nothing.output) == []


def test_tail_when_last_two_then_the_two_newest(five_events: BusConfig) -> None:
    result = CliRunner().invoke(app, ["events", "tail", "--nats", five_events.url, "--last", "2", "--count", "2"])

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row.split()[0]) for row in rows] == [4, 5]
    assert '"ts_ns":4' in rows[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "is neither a stream sequence"),
        (["--from", "0"], "stream sequences start at 1"),
        (["--nats", "http://127.0.0.1:4222"], "a NATS url starts with nats://"),
        (["--nats", "nats://127.0.0.1:9"], "NATS unreachable at nats://127.0.0.1:9"),
    ],
)
def test_replay_when_bad_input_then_one_error_line(args: list[str], message: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["events", "replay", *args])

    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output


def test_trade_when_bus_is_not_a_nats_url_then_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["trade", "--bus", "127.0.0.1:4222"])

    assert result.exit_code == 2
    assert "error: --bus must be a NATS url such as nats://127.0.0.1:4222" in result.output
    assert not (tmp_path / "data").exists()  # refused before the session touched anything
