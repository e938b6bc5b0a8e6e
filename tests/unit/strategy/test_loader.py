"""Loading a user strategy by file, by module and by entry point, and every way a spec can be wrong
ending as one StrategyLoadError line that says what to change."""

from __future__ import annotations

import importlib
import os
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from thunes.strategy.api import StrategyParamError, UserStrategy
from thunes.strategy.loader import (
    ENTRY_POINT_GROUP,
    StrategyLoadError,
    StrategySpec,
    build_user_strategy,
    load_strategy_class,
    parse_spec,
)

GOOD = """
from thunes.strategy.api import Param, Signal, UserStrategy


class Good(UserStrategy):
    api_version = 1
    name = "{name}"
    params = {{"window": Param(3, low=1, high=50)}}

    def on_bar(self, bar):
        return Signal.HOLD


class Helper:
    pass
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sma_cross", StrategySpec("builtin", "sma_cross")),
        ("breakout", StrategySpec("entry_point", "breakout")),
        ("my_pkg.strategies:Breakout", StrategySpec("module", "my_pkg.strategies", "Breakout")),
        ("strats/b.py:Breakout", StrategySpec("file", "strats/b.py", "Breakout")),
        ("/abs/b.py:Breakout", StrategySpec("file", "/abs/b.py", "Breakout")),
        ("b.py:Breakout", StrategySpec("file", "b.py", "Breakout")),
    ],
)
def test_parse_when_each_form_then_kind_target_and_class(text: str, expected: StrategySpec) -> None:
    assert parse_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the strategy is empty"),
        ("../../x", "a file needs its class: path/to/file.py:ClassName"),
        ("b.py", "a file needs its class"),
        ("b.py:", "is not a class name"),
        ("b.py:1x", "is not a class name"),
        ("strats/b.txt:X", "a strategy file is a .py file"),
        ("my-pkg.mod:X", "is not a module path"),
        ("a\x00b", "printable text"),
        ("x" * 5000, "printable text of at most 4096"),
    ],
)
def test_parse_when_malformed_then_one_line_saying_the_form(text: str, message: str) -> None:
    with pytest.raises(StrategyLoadError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_spec(text)
    assert "\n" not in str(caught.value)


def test_load_when_file_spec_then_class_built_with_its_params(tmp_path: Path) -> None:
    path = _write(tmp_path / "strats", "good.py", GOOD.format(name="good_one"))

    cls = load_strategy_class(f"{path}:Good")
    strategy = build_user_strategy(cls, {"window": "7"}, Decimal("0.01"))

    assert issubclass(cls, UserStrategy) and cls.name == "good_one"
    assert strategy.p.window == 7 and strategy.tick_size == Decimal("0.01")
    with pytest.raises(StrategyParamError, match="must be <= 50"):
        build_user_strategy(cls, {"window": 51}, Decimal("0.01"))


def test_load_when_relative_path_then_from_working_directory_and_same_class_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "good.py", GOOD.format(name="relative"))
    monkeypatch.chdir(tmp_path)

    first, again = load_strategy_class("good.py:Good"), load_strategy_class(f"{tmp_path}/good.py:Good")

    assert first is again  # one module per file version: optimize's trials share the class


def test_load_when_file_changed_then_new_version_loaded(tmp_path: Path) -> None:
    path = _write(tmp_path, "evolving.py", GOOD.format(name="before"))
    before = load_strategy_class(f"{path}:Good")
    path.write_text(GOOD.format(name="after_the_edit"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))

    after = load_strategy_class(f"{path}:Good")

    assert (before.name, after.name) == ("before", "after_the_edit")


BAD_FILES = [
    ("missing", None, "X", "strategy file not found: {dir}/missing.py"),
    ("no_class", GOOD.format(name="n"), "Missing", "has no class 'Missing' (it defines Good, Helper)"),
    ("not_strategy", GOOD.format(name="n"), "Helper", ":Helper is not a THUNES strategy: subclass "
                                                      "thunes.strategy.api.UserStrategy"),
    ("raises", "import math\n\nRATE = math.log(0)\n", "X", "cannot import strategy file {dir}/raises.py: "
                                                           "ValueError: math domain error (line 3)"),
    ("syntax", "def broken(:\n    pass\n", "X", "SyntaxError: invalid syntax (line 1)"),
    ("missing_import", "import thunes_no_such_thing\n", "X", "ModuleNotFoundError: No module named "
                                                             "'thunes_no_such_thing' (line 1)"),
    ("exits", "import sys\nsys.exit(3)\n", "X", "SystemExit: 3 (line 2)"),
    ("future", GOOD.format(name="f").replace("api_version = 1", "api_version = 99"), "Good",
     "targets strategy API version 99; this THUNES supports 1"),
    ("text_version", GOOD.format(name="f").replace("api_version = 1", "api_version = '1'"), "Good",
     "targets strategy API version '1'"),
    ("abstract", GOOD.format(name="f").split("    def on_bar")[0], "Good", "does not implement on_bar"),
    ("bad_name", GOOD.format(name="has space"), "Good", "name 'has space' must be 1-55 letters"),
    ("bad_params", GOOD.format(name="p").replace('Param(3, low=1, high=50)', "3"), "Good",
     "params must map each parameter's name to a Param"),
    ("reserved", GOOD.format(name="r").replace('"window"', '"tick_size"'), "Good",
     "parameter names must be identifiers other than tick_size"),
]  # fmt: skip


@pytest.mark.parametrize(("stem", "text", "cls", "message"), BAD_FILES, ids=[row[0] for row in BAD_FILES])
def test_load_when_file_spec_bad_then_one_line_saying_what(tmp_path: Path, stem: str, text: str | None, cls: str,
                                                          message: str) -> None:  # fmt: skip
    if text is not None:
        _write(tmp_path, f"{stem}.py", text)

    with pytest.raises(StrategyLoadError) as caught:
        load_strategy_class(f"{tmp_path}/{stem}.py:{cls}")

    shown = str(caught.value)
    assert message.format(dir=tmp_path) in shown
    assert "\n" not in shown


def test_load_when_file_raises_then_its_module_not_left_half_imported(tmp_path: Path) -> None:
    import sys

    path = _write(tmp_path, "half.py", "VALUE = 1\nraise RuntimeError('late')\n")
    before = set(sys.modules)

    with pytest.raises(StrategyLoadError, match="RuntimeError: late"):
        load_strategy_class(f"{path}:X")

    assert set(sys.modules) == before


def test_build_when_user_init_raises_then_load_error_naming_the_class(tmp_path: Path) -> None:
    text = GOOD.format(name="buggy").replace(
        "class Helper:", "    def reset(self):\n        self.x = 1 / 0\n\n\nclass Helper:"
    )
    cls = load_strategy_class(f"{_write(tmp_path, 'buggy.py', text)}:Good")

    with pytest.raises(StrategyLoadError, match=r"Good\(\.\.\.\) failed: ZeroDivisionError: division by zero"):
        build_user_strategy(cls, {}, Decimal("0.01"))


def test_load_when_module_spec_then_imported_from_python_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "user_strats_pkg", "__init__.py", "")
    _write(tmp_path / "user_strats_pkg", "trend.py", GOOD.format(name="trend"))
    monkeypatch.syspath_prepend(str(tmp_path))

    cls = load_strategy_class("user_strats_pkg.trend:Good")

    assert cls.name == "trend" and cls.__module__ == "user_strats_pkg.trend"
    with pytest.raises(StrategyLoadError, match=r"no module 'user_strats_nope'.*add its folder to PYTHONPATH"):
        load_strategy_class("user_strats_nope.trend:Good")
    with pytest.raises(StrategyLoadError, match=r"user_strats_pkg\.trend has no class 'Nope'"):
        load_strategy_class("user_strats_pkg.trend:Nope")


def _install_entry_points(site: Path, monkeypatch: pytest.MonkeyPatch, entries: dict[str, str]) -> None:
    """A package "installed" the way pip leaves it: a module and a dist-info with entry_points.txt on sys.path."""
    _write(site, "ep_strats_module.py", GOOD.format(name="from_entry_point"))
    info = site / "ep_strats-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-strats\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def test_load_when_entry_point_name_then_installed_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_entry_points(tmp_path, monkeypatch, {"ep_good": "ep_strats_module:Good",
                                                  "ep_broken": "ep_strats_module:Missing",
                                                  "ep_helper": "ep_strats_module:Helper"})  # fmt: skip

    cls = load_strategy_class("ep_good")

    assert cls.name == "from_entry_point"
    with pytest.raises(StrategyLoadError, match=r"cannot load entry point 'ep_broken' \(ep_strats_module:Missing\)"):
        load_strategy_class("ep_broken")
    with pytest.raises(StrategyLoadError, match=r"entry point 'ep_helper' .* is not a THUNES strategy"):
        load_strategy_class("ep_helper")
    with pytest.raises(StrategyLoadError, match=r"unknown strategy 'ep_nope'.*installed strategies: .*ep_good"):
        load_strategy_class("ep_nope")


def test_load_when_builtin_name_then_refused_it_is_built_from_settings() -> None:
    with pytest.raises(StrategyLoadError, match="sma_cross is a built-in"):
        load_strategy_class("sma_cross")
