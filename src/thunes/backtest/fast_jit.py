"""How the fast backtest's compiled code is compiled, and why numba's disk cache never serves a stale one.

numba keys a cached function on its own source file (modification time and size) and its bytecode;
code it inlines from another module, and constants it reads from one, are not in that key. The kernel
spans several modules (``KERNEL_MODULES``), so only its entry points are cached (:func:`entry`), each
with ``FINGERPRINT``, a hash of every kernel module's source, in its closure -- numba hashes a
function's closure into its cache key: change any kernel module and every entry point compiles again.
Helpers (:func:`helper`) are compiled into the entry points that call them, never cached on their own.

Helpers run without numba's runtime (``_nrt=False``): the kernel allocates nothing, and the runtime
would count the references to every array handed from one helper to the next with atomic operations,
about half the kernel's time (numba issue #2345). Without it, an allocation fails to compile rather
than leak. The series passes (``fast_series``) allocate their outputs: their entry points keep it.

Two more things the kernel's speed rests on (measured on the bench workload, ``bench/backtest_paths.py``):
its stages are inlined by numba (:func:`inlined`), since LLVM left them as calls that copy every array
field by field; and it fetches the bars of the signals ahead of the one it acts on (:data:`prefetch`),
since those rows lie far apart in columns far larger than the caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

from llvmlite import ir  # type: ignore[import-untyped]  # numba's code generator: no type hints
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["FINGERPRINT", "KERNEL_MODULES", "entry", "fingerprint", "helper", "inlined", "prefetch"]

_F = TypeVar("_F", bound=Callable[..., Any])
KERNEL_MODULES = ("fast_layout", "fast_jit", "fast_market", "fast_risk", "fast_kernel", "fast_series")
"""Every module whose source the compiled code is made of (``backtest/<name>.py``)."""


def fingerprint(paths: Iterable[Path]) -> str | None:
    """SHA-256 of the files' contents, in order; None when one cannot be read (then nothing is cached)."""
    digest = hashlib.sha256()
    try:
        for path in paths:
            digest.update(path.read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


FINGERPRINT = fingerprint(Path(__file__).with_name(f"{name}.py") for name in KERNEL_MODULES)


def helper(fn: _F) -> _F:
    """A kernel helper: compiled into the entry point that calls it, without numba's runtime. LLVM
    inlines it when it finds it small enough."""
    options: dict[str, Any] = {"nogil": True, "_nrt": False}  # ``_nrt``: not in numba's stubs
    return cast(_F, njit(**options)(fn))


def inlined(fn: _F) -> _F:
    """A kernel helper that numba inlines at every call (its IR, before LLVM sees it). LLVM keeps the
    larger helpers apart, and a call then passes every array it hands on field by field (seven words
    each): for the kernel's stages, which take the bars, the parameters and the state, that copying was
    most of an order's cost. Only those stages: inlining every helper costs minutes of compiling."""
    options: dict[str, Any] = {"nogil": True, "_nrt": False, "inline": "always"}
    return cast(_F, njit(**options)(fn))


def entry(source_fingerprint: str | None, *, runtime: bool = False) -> Callable[[Callable[[str], _F]], _F]:
    """Decorate ``make``, which returns the entry point it defines reading its argument (``fingerprint``
    on a line of its own): the compiled entry point, cached on disk under a key that holds
    ``source_fingerprint`` (not cached when it is None). ``runtime``: it allocates (numba's runtime)."""

    def build(make: Callable[[str], _F]) -> _F:
        fn = make(source_fingerprint or "")
        cells = [cell.cell_contents for cell in fn.__closure__ or ()]
        if (source_fingerprint or "") not in cells:  # fail closed: an entry point outside the fingerprint
            raise TypeError(f"{fn.__qualname__} does not read its fingerprint: numba's cache could serve it stale")
        options: dict[str, Any] = {"cache": source_fingerprint is not None, "nogil": True, "_nrt": runtime}
        return cast(_F, njit(**options)(fn))

    return build


def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """Ask the CPU to bring ``array[index]``'s cache line in (LLVM's ``llvm.prefetch``, for reading, kept
    in every cache level) and go on without waiting: the kernel reads a few bars around each signal row,
    rows far apart in arrays far larger than the caches, so each would otherwise wait on memory. A hint:
    it never faults and changes no result, so ``index`` may lie outside the array."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        module, name = builder.module, "llvm.prefetch.p0"
        fn = module.globals.get(name) or ir.Function(module, fnty, name)
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_pointer)
        builder.call(fn, [address, i32(0), i32(3), i32(1)])  # read, highest locality, data cache
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


prefetch = cast(Callable[[Any, int], None], intrinsic(_prefetch))
"""``prefetch(array, index)`` in compiled code (see ``_prefetch``)."""
