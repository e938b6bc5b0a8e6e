"""``daily_summaries.jsonl``: a day is written once, whatever restarts replay (issue 15 item 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thunes.session.jobs import SummaryFile


def _days(path: Path) -> list[str]:
    return [json.loads(line)["day"] for line in path.read_text().splitlines()]


def test_append_when_a_restart_replays_written_days_then_each_day_stays_written_once(tmp_path: Path) -> None:
    path = tmp_path / "daily_summaries.jsonl"
    first = SummaryFile(path)
    assert [first.append({"day": d, "bars": 24}) for d in ("2024-01-01", "2024-01-02")] == [True, True]
    before = path.read_bytes()

    restarted = SummaryFile(path)  # a restart warms up over the same days
    replayed = [restarted.append({"day": d, "bars": 0}) for d in ("2024-01-01", "2024-01-02")]
    added = restarted.append({"day": "2024-01-03", "bars": 5})

    assert replayed == [False, False]
    assert added is True
    assert path.read_bytes().startswith(before)  # earlier days are never rewritten
    assert _days(path) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert json.loads(path.read_text().splitlines()[0])["bars"] == 24


@pytest.mark.parametrize(
    "existing",
    [
        b'{"day": "2024-01-01"}\n{"day": "2024-01-0',  # a line torn by a crash of an older version
        b"not json\n[1, 2]\n{}\n",  # foreign lines: kept, never taken for a day
        b"",
    ],
)
def test_append_when_the_file_holds_damaged_lines_then_they_are_kept_and_the_day_is_its_own_line(
    tmp_path: Path, existing: bytes
) -> None:
    path = tmp_path / "daily_summaries.jsonl"
    path.write_bytes(existing)

    assert SummaryFile(path).append({"day": "2024-01-02"}) is True

    text = path.read_bytes()
    assert text.startswith(existing)
    assert text.endswith(b'{"day": "2024-01-02"}\n')
    assert text.count(b'"2024-01-02"') == 1
