"""The paper session's resume point: a damaged checkpoint is an error naming the file, never a
silent restart from the beginning nor a bare decoder message."""

from __future__ import annotations

from pathlib import Path

import pytest

from thunes.session.jobs import Checkpoint

DAMAGED = {
    "empty": b"",
    "truncated": b'{"last_bar_ns": 17',
    "garbage": b"\x00\xff\xfe garbage",
    "not_utf8": b'{"last_bar_ns": "\xff"}',
    "list": b"[1, 2]",
    "null": b"null",
    "missing_key": b'{"other": 1}',
    "string": b'{"last_bar_ns": "1700000000000000000"}',
    "float": b'{"last_bar_ns": 1.7e18}',
    "bool": b'{"last_bar_ns": true}',
    "below_minus_one": b'{"last_bar_ns": -5}',
    "nan": b'{"last_bar_ns": NaN}',
    "symbols_list": b'{"last_bar_ns": 1, "symbols": [1]}',
    "symbol_string": b'{"last_bar_ns": 1, "symbols": {"BTCUSDT": "1"}}',
    "symbol_below_minus_one": b'{"last_bar_ns": 1, "symbols": {"BTCUSDT": -2}}',
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_checkpoint_when_damaged_then_error_names_the_file_and_leaves_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(content)

    with pytest.raises(ValueError, match="checkpoint") as raised:
        Checkpoint(path)

    assert str(path) in str(raised.value)
    assert path.read_bytes() == content


def test_checkpoint_when_saved_then_read_back_and_absent_means_start(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    assert Checkpoint(path).last_bar_ns == -1

    Checkpoint(path).save(1_700_000_000_000_000_000)

    assert Checkpoint(path).last_bar_ns == 1_700_000_000_000_000_000
    assert not path.with_suffix(".tmp").exists()


def test_checkpoint_when_saved_per_symbol_then_each_symbol_resumes_from_its_own_last_bar(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    checkpoint = Checkpoint(path)
    checkpoint.save(3_000, "BTCUSDT")
    checkpoint.save(2_000, "ETHUSDT")  # the crash came between two symbols of one close time

    resumed = Checkpoint(path)

    assert (resumed.last("BTCUSDT"), resumed.last("ETHUSDT"), resumed.last("SOLUSDT")) == (3_000, 2_000, -1)
    assert resumed.last_bar_ns == 3_000


def test_checkpoint_when_written_before_portfolios_then_it_holds_for_every_symbol(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(b'{"last_bar_ns": 5000}')

    resumed = Checkpoint(path)

    assert (resumed.last("BTCUSDT"), resumed.last("ETHUSDT")) == (5_000, 5_000)
