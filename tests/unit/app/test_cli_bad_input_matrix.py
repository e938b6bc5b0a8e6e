"""Every ``thunes`` command against a table of bad inputs: one ``error:`` line, exit 2, no traceback, and
nothing on disk created, deleted or changed.

The commands and their parameters are read from the Typer app itself, so a new command or option
fails :func:`test_every_command_and_parameter_has_an_entry` until ``cli_matrix_cases`` says what it
takes. Cells run in-process (the app the entry point builds, mounted the same way) with a watchdog;
a sample also runs as real processes. The table: ``tests/unit/app/cli_matrix_cases.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.unit.app import cli_matrix_cases as table
from thunes.app.cli import main as cli

WATCHDOG_S = 15.0
_ROOT = os.geteuid() == 0


def _commands() -> dict[str, Any]:
    """``"venue fault errors" -> click command`` for every leaf command of the whole app."""
    found: dict[str, Any] = {}

    def walk(command: Any, words: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*words, name])
        else:
            found[" ".join(words)] = command

    walk(typer.main.get_command(cli.build_app()), [])
    return found


COMMANDS = _commands()


def _name(param: Any) -> str:
    return str(param.opts[0]) if param.param_type_name == "option" else str(param.name)


@dataclass(frozen=True)
class Cell:
    command: str
    param: str
    bad: table.Bad
    flags: tuple[str, ...] = ()  # a flag that changes the command's path (table.FLAG_VARIANTS)

    @property
    def key(self) -> str:
        return f"{' '.join((self.command, *self.flags))} {self.param}/{self.bad.label}"


def _variants(command: str) -> list[tuple[str, ...]]:
    """The command as it is, then with each flag that sends it down another path."""
    return [(), *((flag,) for flag in table.FLAG_VARIANTS.get(command, ()))]


def _cells() -> tuple[list[Cell], int]:
    cells, inputs = [], 0
    for command, click_command in sorted(COMMANDS.items()):
        for param in click_command.params:
            if getattr(param, "is_flag", False) or param.name == "help":
                continue
            kind = table.kind_of(command, _name(param))
            if isinstance(kind, table.Kind):
                inputs += 1
                cells += [Cell(command, _name(param), bad, flags) for flags in _variants(command)
                          for bad in table.BAD[kind]]  # fmt: skip
    return cells, inputs


CELLS, INPUTS = _cells()


def _skip_reason(cell: Cell, world: table.World) -> str | None:
    why = table.left_out(cell.key)
    if why:
        return f"left out: {why}"
    needs = cell.bad.needs
    if needs == "nonroot" and _ROOT:
        return "running as root: mode 000 does not stop root from reading"
    if needs == "readonly" and world.readonly is None:
        return "no read-only location here (root, and tmpfs cannot be mounted)"
    if needs == "full" and world.full is None:
        return "no full location here (tmpfs cannot be mounted)"
    return None


def _argv(cell: Cell, value: str, world: table.World) -> list[str]:
    """The command's base line with ``value`` for the cell's parameter (and its extras)."""
    base = {k: v.format(w=world.root) for k, v in table.BASE[cell.command].items()}
    for dropped in table.CONFLICTS.get(cell.param, ()):
        base.pop(dropped, None)
    base[cell.param] = value
    argv = cell.command.split()
    for param in COMMANDS[cell.command].params:
        name = _name(param)
        if name not in base:
            continue
        argv += [base[name]] if param.param_type_name == "argument" else [name, base[name]]
    return argv + list(cell.flags) + table.EXTRAS.get(f"{cell.command} {cell.param}", [])


def _snapshot(*roots: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``roots``: mode, size, mtime and content hash of files (directory times left
    out: a temporary file made and removed is not a change)."""
    seen: dict[str, tuple[int, int, int, str]] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                st = os.lstat(path)
                digest, mtime = "", 0
                if os.path.isfile(path) and not os.path.islink(path):
                    mtime = st.st_mtime_ns
                    try:
                        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                    except OSError:
                        digest = "unreadable"
                seen[path] = (st.st_mode, st.st_size if digest else 0, mtime, digest)
    return seen


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What differs between two snapshots: the first few paths created, removed or changed."""
    changed = [f"+{p}" for p in after.keys() - before.keys()] + [f"-{p}" for p in before.keys() - after.keys()]
    changed += [f"~{p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return ", ".join(sorted(changed)[:8])


def _mount(where: Path, options: str) -> bool:
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                          check=False, timeout=10)  # fmt: skip
    return done.returncode == 0


def _fill(where: Path) -> None:
    """Use up every block and inode of the tmpfs at ``where``."""
    try:
        with (where / "ballast").open("wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass
    for i in range(100_000):
        try:
            (where / f"i{i}").touch()
        except OSError:
            break


@pytest.fixture(scope="module")
def mounts() -> Iterator[tuple[Path | None, Path | None]]:
    """A read-only location and a full one: tmpfs mounts when allowed, else a mode-555 directory when
    permission bits bind (not root), else none (those cells are skipped and say why)."""
    base = Path(tempfile.mkdtemp(prefix="thunes-matrix-"))
    readonly, full = base / "readonly", base / "full"
    readonly.mkdir()
    full.mkdir()
    mounted: list[Path] = []
    if _ROOT and _mount(readonly, "size=64k,mode=755,ro"):
        mounted.append(readonly)
    elif not _ROOT:
        readonly.chmod(0o555)
    else:
        readonly = None  # type: ignore[assignment]
    if _ROOT and _mount(full, "size=64k,nr_inodes=64,mode=777"):
        mounted.append(full)
        _fill(full)
    else:
        full = None  # type: ignore[assignment]
    yield readonly, full
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False, timeout=10)
    for path in (base / "readonly", base / "full"):
        path.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, mounts: tuple[Path | None, Path | None]) -> Path:
    """The valid files every base line names, prepared once: each cell gets a copy (a store, two
    databases and a key per cell made the matrix a third slower)."""
    root = tmp_path_factory.mktemp("matrix-template") / "w"
    root.mkdir()
    table.prepare(table.World(root, *mounts))
    return root


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mounts: tuple[Path | None, Path | None], template: Path
) -> table.World:
    root = tmp_path / "w"
    shutil.copytree(template, root, symlinks=True)  # modes and times too: the snapshot is taken after
    built = table.World(root, *mounts)
    monkeypatch.chdir(root)
    for name in [n for n in os.environ if n.startswith("THUNES_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(root / "home"))
    return built


class _StuckError(Exception):
    """The cell did not finish within the watchdog: the bad input was taken and the command ran on."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _StuckError(f"still running after {WATCHDOG_S} s")


def _assert_one_line_error(code: int | None, stdout: str, stderr: str, where: str, expected: int = 2) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == expected, f"{where}: exit {code}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
    assert "Traceback" not in stdout + stderr, where
    if expected:
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{where}: stderr {stderr[-3000:]!r}"


def _invoke(argv: list[str]) -> Any:
    """The app as the entry point builds it, run in-process under the watchdog."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
    try:
        only = argv[0] if argv[0] in cli.COMMANDS else None  # `version` lives in every app
        return CliRunner().invoke(cli.build_app(only), argv)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raised(result: Any, where: str) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{where}: {result.exception!r}\nstderr: {result.stderr[-2000:]}") from result.exception


@pytest.mark.parametrize("cell", CELLS, ids=[c.key for c in CELLS])
def test_bad_input_when_given_then_one_error_line_exit_2_and_disk_unchanged(cell: Cell, world: table.World) -> None:
    # Arrange
    reason = _skip_reason(cell, world)
    if reason:
        pytest.skip(reason)
    value = cell.bad.make(world)
    argv = _argv(cell, value, world)
    roots = [p for p in (world.root, world.readonly, world.full) if p is not None]
    before = _snapshot(*roots)

    # Act
    result = _invoke(argv)

    # Assert
    _raised(result, cell.key)
    expected = table.ANSWERS.get(cell.key, (2, ""))[0]
    _assert_one_line_error(result.exit_code, result.stdout, result.stderr, cell.key, expected)
    after = _snapshot(*roots)
    assert after == before, f"{cell.key}: the disk changed: {_changes(before, after)}"


@pytest.mark.parametrize("name", sorted(table.COMBINATIONS))
def test_combination_when_refused_together_then_one_error_line_exit_2_and_disk_unchanged(
    name: str, world: table.World
) -> None:
    argv = [arg.format(w=world.root) for arg in table.COMBINATIONS[name]]
    before = _snapshot(world.root)

    result = _invoke(argv)

    _raised(result, name)
    _assert_one_line_error(result.exit_code, result.stdout, result.stderr, name)
    after = _snapshot(world.root)
    assert after == before, f"{name}: the disk changed: {_changes(before, after)}"


_SAMPLE = ("status --data-dir/missing", "backtest --config/truncated TOML", "audit show --limit/abc",
           "secrets keygen output/under a file", "data import paths/garbage bytes", "capital deposit amount/nan")  # fmt: skip


@pytest.mark.parametrize("key", _SAMPLE)
def test_bad_input_when_real_process_then_one_error_line_exit_2_and_disk_unchanged(
    key: str, world: table.World
) -> None:
    (cell,) = [c for c in CELLS if c.key == key]
    argv = _argv(cell, cell.bad.make(world), world)
    before = _snapshot(world.root)

    done = subprocess.run([str(Path(sys.executable).with_name("thunes")), *argv], capture_output=True, text=True,
                          cwd=world.root, env=dict(os.environ), check=False, timeout=120)  # fmt: skip

    _assert_one_line_error(done.returncode, done.stdout, done.stderr, key)
    after = _snapshot(world.root)
    assert after == before, f"{key}: the disk changed: {_changes(before, after)}"


def test_every_command_and_parameter_has_an_entry(capsys: pytest.CaptureFixture[str]) -> None:
    missing_base = sorted(set(COMMANDS) - set(table.BASE))
    unclassified = [
        f"{command} {_name(p)}"
        for command, click_command in COMMANDS.items()
        for p in click_command.params
        if not getattr(p, "is_flag", False) and p.name != "help" and not table.kind_of(command, _name(p))
    ]
    keys = [c.key for c in CELLS]
    stale = [
        k
        for k in [*table.DISABLED, *table.OPEN, *table.ANSWERS]
        if not any(c == k or c.startswith((k + "/", k + " ")) for c in keys)
    ]
    left_out = sum(1 for c in keys if table.left_out(c))

    assert not missing_base, f"commands with no base command line in cli_matrix_cases.BASE: {missing_base}"
    assert not unclassified, f"parameters with no kind (or exemption) in cli_matrix_cases: {unclassified}"
    assert not stale, f"DISABLED/OPEN/ANSWERS name cells that do not exist: {stale}"
    assert set(table.BAD) == set(table.Kind)
    with capsys.disabled():
        print(f"\nCLI bad-input matrix: {len(COMMANDS)} commands, {INPUTS} inputs, {len(CELLS)} cells "
              f"({left_out} left out: DISABLED/OPEN in cli_matrix_cases; {len(table.ANSWERS)} answered with "
              "another exit code: ANSWERS)")  # fmt: skip


_BASES = [(c, flags) for c in sorted(set(COMMANDS) - set(table.BASE_NOT_RUN)) for flags in _variants(c)]


@pytest.mark.parametrize(("command", "flags"), _BASES, ids=[" ".join((c, *f)) for c, f in _BASES])
def test_base_command_line_when_run_then_it_succeeds(command: str, flags: tuple[str, ...], world: table.World) -> None:
    # A cell changes one input of its command's base line: a base that fails on its own would let every
    # cell pass for the base's reason, not the cell's (optimize's once did: too few bars for its warm-up).
    argv = command.split()
    for param in COMMANDS[command].params:
        name = _name(param)
        if name in table.BASE[command]:
            value = table.BASE[command][name].format(w=world.root)
            argv += [value] if param.param_type_name == "argument" else [name, value]
    argv += flags

    result = _invoke(argv)

    _raised(result, command)
    assert result.exit_code in table.BASE_EXIT.get(command, {0}), f"{command}: exit {result.exit_code}\n" + (
        result.stdout[-1500:] + result.stderr[-1500:]
    )
