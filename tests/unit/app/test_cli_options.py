"""The shared input checks every command makes before it writes anything (``thunes.app.cli.options``):
each refuses with one ``error:`` line (``typer.Exit(2)`` or ``BadParameter``) and touches nothing."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from thunes.app.cli.options import bind_host, database_target, finite, http_url, output_location, thunes_data_dir


def _refused(call: object) -> None:
    with pytest.raises(typer.Exit) as refused:
        call()  # type: ignore[operator]
    assert refused.value.exit_code == 2


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_finite_when_any_float_then_kept_only_inside_the_bounds(value: float) -> None:
    check = finite(0, 1e6)

    if math.isfinite(value) and 0 < value <= 1e6:
        assert check(value) == value
    else:
        with pytest.raises(typer.BadParameter):
            check(value)


def test_finite_when_at_the_low_bound_then_open_or_closed_as_asked() -> None:
    assert finite(0, 10, above=False)(0.0) == 0.0
    assert finite(0, 10)(None) is None
    with pytest.raises(typer.BadParameter):
        finite(0, 10)(0.0)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "[::1]", "localhost", "metrics.internal", "a-b.c"])
def test_bind_host_when_an_address_or_a_name_then_kept(host: str) -> None:
    assert bind_host(host, "--host")


@pytest.mark.parametrize("host", ["", "999.1.1.1", "1.2.3", "x;rm -rf ~", "a" * 300, "-a.b", "a..b", "::g", "a b"])
def test_bind_host_when_not_an_address_nor_a_name_then_refused(host: str) -> None:
    _refused(lambda: bind_host(host, "--host"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "https://venue.example:443/", "http://[::1]:80"])
def test_http_url_when_valid_then_kept(url: str) -> None:
    assert http_url(url, "--url") == url


@pytest.mark.parametrize(
    "url", ["", "ftp://x", "javascript:alert(1)", "http://[::1", "http://127.0.0.1:99999", "http://:80", "http://h:0"]
)
def test_http_url_when_not_an_http_url_then_refused(url: str) -> None:
    _refused(lambda: http_url(url, "--url"))


def test_output_location_when_under_a_file_or_of_the_wrong_kind_then_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    (tmp_path / "folder").mkdir()

    _refused(lambda: output_location(plain / "below" / "out", "--out", directory=True))
    _refused(lambda: output_location(plain, "--out", directory=True))
    _refused(lambda: output_location(tmp_path / "folder", "--output", directory=False))
    assert output_location(tmp_path / "new" / "deeper", "--out", directory=True) == tmp_path / "new" / "deeper"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "plain"]  # nothing created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through mode 555")
def test_output_location_when_folder_not_writable_then_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        _refused(lambda: output_location(tmp_path / "out", "--out", directory=True))
    finally:
        tmp_path.chmod(0o755)


def test_thunes_data_dir_when_missing_or_a_file_then_refused_and_not_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")

    _refused(lambda: thunes_data_dir(tmp_path / "typo"))
    _refused(lambda: thunes_data_dir(tmp_path / "file"))
    assert thunes_data_dir(tmp_path) == tmp_path
    assert not (tmp_path / "typo").exists()


def test_database_target_when_bad_then_refused_before_anything_is_created(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00\xff not a database" * 10)

    for text in ("", "   ", "nope://x", str(garbage), str(tmp_path / "missing" / "p.db"), str(tmp_path)):
        _refused(lambda text=text: database_target(text, "--db", create=True))
    _refused(lambda: database_target(str(tmp_path / "absent.db"), "--db", create=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db"]


def test_database_target_when_valid_then_a_url(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "real.db").execute("CREATE TABLE t (x)").connection.close()
    (tmp_path / "empty.db").write_bytes(b"")

    assert database_target(str(tmp_path / "real.db"), "--db", create=False) == f"sqlite:///{tmp_path / 'real.db'}"
    assert database_target(str(tmp_path / "empty.db"), "--db", create=False).endswith("empty.db")
    assert database_target(str(tmp_path / "new.db"), "--db", create=True).endswith("new.db")
    assert database_target("sqlite:///x.db", "--db", create=True) == "sqlite:///x.db"
    assert not (tmp_path / "new.db").exists()
