"""Find a strategy by what the user wrote: a built-in name, ``package.module:Class``,
``path/to/file.py:Class``, or the name of an installed package's entry point (group
:data:`ENTRY_POINT_GROUP`).

Every way a spec can be wrong ends as one :class:`StrategyLoadError` line that names the spec and
what to change: a missing file, a module that does not import (the user's own exception, with its
line), no such class, a class that is not a :class:`~thunes.strategy.api.UserStrategy`, an API
version this THUNES does not support. Loading never adds anything to ``sys.path``: a module spec
imports what Python would import; a file spec runs that one file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from threading import Lock
from types import ModuleType

from thunes.domain.identifiers import StrategyId
from thunes.strategy.api import SUPPORTED_API_VERSIONS, Param, UserStrategy
from thunes.strategy.rsi_reversion import RsiReversion
from thunes.strategy.sma_cross import SmaCross

__all__ = [
    "BUILTIN_STRATEGIES",
    "ENTRY_POINT_GROUP",
    "StrategyLoadError",
    "StrategySpec",
    "build_user_strategy",
    "checked_class",
    "is_builtin",
    "load_strategy_class",
    "parse_spec",
    "strategy_fault",
]

ENTRY_POINT_GROUP = "thunes.strategies"
BUILTIN_STRATEGIES: tuple[str, ...] = (SmaCross.name, RsiReversion.name)
MAX_SPEC_LENGTH = 4096
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # an entry point's name
_STRATEGY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,54}")  # + "-" + 8 hex: a StrategyId
FORMS = "a built-in (sma_cross, rsi_reversion), an installed strategy's name, module:Class or path/to/file.py:Class"


_user_files: dict[str, str] = {}  # source file of each user strategy class checked -> the class's name


class StrategyLoadError(ValueError):
    """The strategy named cannot be used: the message says which spec and what to change."""


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A parsed spec: ``kind`` is ``builtin``, ``entry_point``, ``module`` or ``file``."""

    kind: str
    target: str  # the built-in or entry point name, the module path, or the file path
    attribute: str = ""  # the class name (module and file specs)

    def __str__(self) -> str:
        return f"{self.target}:{self.attribute}" if self.attribute else self.target


def is_builtin(spec: str) -> bool:
    return spec in BUILTIN_STRATEGIES


def parse_spec(text: str) -> StrategySpec:
    """The spec's form, checked without importing anything (settings validate with it)."""
    if not text or not text.strip():
        raise StrategyLoadError(f"the strategy is empty: give {FORMS}")
    if len(text) > MAX_SPEC_LENGTH or not text.isprintable():
        raise StrategyLoadError(f"the strategy must be printable text of at most {MAX_SPEC_LENGTH} characters")
    if is_builtin(text):
        return StrategySpec("builtin", text)
    if ":" not in text:
        if _NAME.fullmatch(text) and not text.endswith(".py"):
            return StrategySpec("entry_point", text)
        hint = " (a file needs its class: path/to/file.py:ClassName)" if text.endswith(".py") or "/" in text else ""
        raise StrategyLoadError(f"strategy {text[:200]!r} is not {FORMS}{hint}")
    target, _, attribute = text.rpartition(":")
    if not attribute.isidentifier():
        raise StrategyLoadError(f"strategy {text[:200]!r}: {attribute[:80]!r} after ':' is not a class name")
    if target.endswith(".py") or "/" in target:
        if not target.endswith(".py"):
            raise StrategyLoadError(f"strategy {text[:200]!r}: a strategy file is a .py file")
        return StrategySpec("file", target, attribute)
    if not all(part.isidentifier() for part in target.split(".")):
        raise StrategyLoadError(f"strategy {text[:200]!r}: {target[:120]!r} is not a module path (pkg.module)")
    return StrategySpec("module", target, attribute)


_lock = Lock()
_files: dict[tuple[str, int, int], ModuleType] = {}  # (resolved path, mtime, size): a file runs once per version


def load_strategy_class(text: str) -> type[UserStrategy]:
    """The user strategy class ``text`` names (not a built-in: those are built from settings)."""
    spec = parse_spec(text)
    if spec.kind == "builtin":
        raise StrategyLoadError(f"{text} is a built-in strategy: it is built from its own settings")
    if spec.kind == "entry_point":
        return _from_entry_point(spec.target)
    module = _module(spec) if spec.kind == "module" else _file_module(spec)
    found = getattr(module, spec.attribute, None)
    if found is None:
        defined = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__)
        listed = ", ".join(defined) if defined else "no class"
        raise StrategyLoadError(f"{spec.target} has no class {spec.attribute!r} (it defines {listed})")
    return checked_class(found, str(spec))


def checked_class(found: object, where: str) -> type[UserStrategy]:
    """``found`` when it is a runnable strategy class of a supported API version."""
    if not (inspect.isclass(found) and issubclass(found, UserStrategy)):
        raise StrategyLoadError(f"{where} is not a THUNES strategy: subclass thunes.strategy.api.UserStrategy")
    version = found.api_version
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(map(str, sorted(SUPPORTED_API_VERSIONS)))
        raise StrategyLoadError(f"{where} targets strategy API version {version!r}; this THUNES supports "
                                f"{supported} (see docs/strategy-api.md: port it, or use a THUNES that "
                                f"supports it)")  # fmt: skip
    source = inspect.getsourcefile(found)
    if source is not None:  # where its code runs: an error raised there is the strategy's (strategy_fault)
        _user_files[str(Path(source).resolve())] = found.__name__  # one store: atomic under the GIL
    if inspect.isabstract(found):
        missing = ", ".join(sorted(getattr(found, "__abstractmethods__", ())))
        raise StrategyLoadError(f"{where} does not implement {missing}")
    if not isinstance(found.name, str) or not _STRATEGY_NAME.fullmatch(found.name):
        raise StrategyLoadError(f"{where}: name {found.name!r} must be 1-55 letters, digits, '.', '_' or '-'")
    params = found.params
    if not isinstance(params, Mapping) or not all(isinstance(p, Param) for p in params.values()):
        raise StrategyLoadError(f"{where}: params must map each parameter's name to a Param(...)")
    bad = [k for k in params if not (isinstance(k, str) and k.isidentifier() and not k.startswith("_"))]
    if bad or {"tick_size", "strategy_id"} & set(params):
        raise StrategyLoadError(f"{where}: parameter names must be identifiers other than tick_size and "
                                f"strategy_id, got {(bad or sorted(params))[0]!r}")  # fmt: skip
    return found


def build_user_strategy(cls: type[UserStrategy], values: Mapping[str, object], tick_size: Decimal,
                        strategy_id: StrategyId | None = None) -> UserStrategy:  # fmt: skip
    """``cls`` with ``values``: a bad value is a ValueError naming it; anything else ``__init__`` raises
    (the user's bug) is a StrategyLoadError line naming the class and the exception."""
    try:
        return cls(tick_size=tick_size, strategy_id=strategy_id, **values)
    except ValueError:
        raise
    except Exception as e:  # the user's own code: one line, never a traceback from inside it
        source = inspect.getsourcefile(cls)
        raise StrategyLoadError(f"{cls.__name__}(...) failed: {_what(e, Path(source) if source else None)}") from e


def _module(spec: StrategySpec) -> ModuleType:
    try:
        return importlib.import_module(spec.target)
    except ModuleNotFoundError as e:
        if e.name is not None and spec.target.startswith(e.name):
            raise StrategyLoadError(
                f"cannot import {spec.target!r} (no module {e.name!r}): install the package "
                "or add its folder to PYTHONPATH; a single file is path/to/file.py:Class"
            ) from e
        raise StrategyLoadError(f"cannot import {spec.target!r}: {_what(e, None)}") from e
    except Exception as e:  # the module's own code failed: one line naming where
        raise StrategyLoadError(f"cannot import {spec.target!r}: {_what(e, None)}") from e


def _file_module(spec: StrategySpec) -> ModuleType:
    path = Path(spec.target)
    try:
        resolved = path.resolve(strict=True)
        stat = resolved.stat()
    except FileNotFoundError:
        raise StrategyLoadError(f"strategy file not found: {spec.target}") from None
    except (OSError, RuntimeError) as e:  # a loop of links, a path under a file, no permission
        raise StrategyLoadError(f"strategy file {spec.target}: {getattr(e, 'strerror', None) or e}") from None
    if not resolved.is_file():
        raise StrategyLoadError(f"strategy file {spec.target} is not a file")
    key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    with _lock:  # optimize's threads build strategies at once: the file runs once
        if key not in _files:
            _files[key] = _run_file(resolved, spec.target)
        return _files[key]


def _run_file(path: Path, shown: str) -> ModuleType:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"thunes_user_strategy_{stem}_{digest}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise StrategyLoadError(f"strategy file {shown} cannot be loaded as Python")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up by name
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as e:
        del sys.modules[name]
        if isinstance(e, KeyboardInterrupt):
            raise
        raise StrategyLoadError(f"cannot import strategy file {shown}: {_what(e, path)}") from e
    return module


def _what(error: BaseException, path: Path | None) -> str:
    """``ZeroDivisionError: division by zero (line 3)``: the error, and where in ``path`` it came from."""
    message = error.msg if isinstance(error, SyntaxError) else str(error)
    text = f"{type(error).__name__}: {message.splitlines()[0] if message else ''}".rstrip(": ")
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    if isinstance(error, SyntaxError) and error.lineno is not None and error.filename == str(path):
        lines.append(error.lineno)
    return f"{text} (line {lines[-1]})" if lines else text


def _from_entry_point(name: str) -> type[UserStrategy]:
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        installed = sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})
        listed = ", ".join(installed) if installed else "none installed"
        raise StrategyLoadError(f"unknown strategy {name!r}: give {FORMS} (installed strategies: {listed})")
    entry = found[0]
    where = f"entry point {name!r} ({entry.value})"
    try:
        loaded = entry.load()
    except Exception as e:  # the package's own import failed
        raise StrategyLoadError(f"cannot load {where}: {_what(e, None)}") from e
    return checked_class(loaded, where)


def strategy_fault(error: BaseException) -> str | None:
    """``Boom raised ZeroDivisionError: user bug (in on_bar, boom.py line 57)`` when ``error`` was raised
    in a user strategy's own code (the innermost frame of a loaded strategy's file), else None: the CLI
    says so in one line instead of a traceback through the engine."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if str(Path(f.filename).resolve()) in _user_files]
    if not frames:
        return None
    frame = frames[-1]
    message = str(error).splitlines()[0] if str(error) else ""
    text = f"{type(error).__name__}: {message}".rstrip(": ")
    owner = _user_files[str(Path(frame.filename).resolve())]
    return f"{owner} raised {text} (in {frame.name}, {Path(frame.filename).name} line {frame.lineno})"
