"""Build and load the C kernels of the ``cpu`` backend with the system's C compiler.

Each ``*.c`` source is compiled once per machine into a shared library, cached under
``$NAS_KERNEL_CACHE`` (default ``~/.cache/nas/kernels``) by a hash of the source, the compiler,
its flags and the CPU (``-march=native`` code must not run on another CPU model), and loaded
with ctypes. A build takes about a second; concurrent processes (Ray workers) may build the same
library at once: each writes its own temporary file and renames it into place, so none ever
loads a half-written file. ctypes releases the GIL during each call, so that a kernel runs
one part of the batch per torch CPU thread (:func:`batch_parts`, :func:`run_parts`).

Without a working compiler the ``cpu`` backend is unavailable (:func:`unavailable_reason` says
why) and ``backend="auto"`` falls back to the ``torch`` path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

CACHE_ENV = "NAS_KERNEL_CACHE"
HEADERS = Path(__file__).parent
# -O3 vectorises the loops over lanes; no -ffast-math: NaN and inf must propagate, so that a
# diverging proxy is still seen as one
BASE_FLAGS = ("-O3", "-std=c11", "-shared", "-fPIC")
CPU_FLAGS = (("-march=native",), ("-mcpu=native",), ())


class NativeBuildError(RuntimeError):
    """No C compiler, or the kernel source did not compile."""


def load(source: Path, functions: dict[str, tuple[int, int]]) -> ctypes.CDLL:
    """The library built from ``source``, compiled on first use, with each of ``functions``
    typed: name -> (int64 arguments, then pointer arguments), the shape of every kernel here.
    Raises NativeBuildError (the same one on every later call: a failed build is not retried
    in this process)."""
    loaded = _load(str(source))
    if isinstance(loaded, NativeBuildError):
        raise loaded
    for name, (integers, pointers) in functions.items():
        function = getattr(loaded, name)
        function.argtypes = [ctypes.c_int64] * integers + [ctypes.c_void_p] * pointers
        function.restype = None
    return loaded


def batch_parts(batch: int) -> list[slice]:
    """The batch split into one contiguous part per torch CPU thread (at most ``batch``
    parts): the kernels run one part per thread, so that they follow torch.set_num_threads."""
    parts = max(1, min(batch, torch.get_num_threads()))
    bounds = [batch * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def run_parts(calls: list[Callable[[], None]]) -> None:
    """Run ``calls`` at once, one per thread (ctypes releases the GIL during each call)."""
    if len(calls) == 1:
        calls[0]()
        return
    if len(_POOL) < len(calls) - 1:  # one pool, grown to the most threads asked for
        _POOL[:] = [ThreadPoolExecutor(1, thread_name_prefix="nas-kernels")
                    for _ in range(len(calls) - 1)]  # fmt: skip
    pending = [pool.submit(call) for pool, call in zip(_POOL, calls[1:], strict=False)]
    calls[0]()
    for future in pending:
        future.result()


_POOL: list[ThreadPoolExecutor] = []  # one single-thread executor per extra part


def pointer(tensor: torch.Tensor | None) -> ctypes.c_void_p:
    """The address of ``tensor``'s data (NULL for None), for a C kernel."""
    return ctypes.c_void_p(None if tensor is None else tensor.data_ptr())


def unavailable_reason(source: Path) -> str | None:
    """Why ``source`` cannot be built and loaded here, or None when it can."""
    loaded = _load(str(source))
    return str(loaded) if isinstance(loaded, NativeBuildError) else None


def build_into(source: Path, folder: Path) -> Path:
    """The library of ``source`` in ``folder``, compiled unless already there: with
    ``-march=native`` where the compiler takes it, else ``-mcpu=native``, else neither.
    Raises NativeBuildError."""
    compiler = _compiler()
    # the source and the headers it may include (kernels/*.h)
    text = b"".join(p.read_bytes() for p in (source, *sorted(HEADERS.glob("*.h"))))
    errors = []
    for cpu_flags in CPU_FLAGS:
        flags = (*BASE_FLAGS, *cpu_flags)
        key = hashlib.sha256(
            b"\0".join([text, compiler.encode(), " ".join(flags).encode(), _cpu_identity()])
        ).hexdigest()[:16]
        target = folder / f"{source.stem}-{key}.so"
        if target.exists():
            return target
        try:
            _build(compiler, flags, source, target)
        except NativeBuildError as exc:
            errors.append(str(exc))
            continue
        return target
    raise NativeBuildError("; ".join(errors))


@functools.cache
def _load(source: str) -> ctypes.CDLL | NativeBuildError:
    try:
        path = build_into(Path(source), _cache_dir())
    except NativeBuildError as exc:
        return exc
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        return NativeBuildError(f"could not load {path}: {exc}")


def _compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise NativeBuildError("no C compiler found (set CC, or install gcc or clang)")


def _build(compiler: str, flags: tuple[str, ...], source: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".so.partial")
        os.close(fd)
    except OSError as exc:
        raise NativeBuildError(f"cannot write the kernel cache {target.parent}: {exc}") from None
    try:
        done = subprocess.run(
            [compiler, *flags, "-o", partial, str(source), "-lm"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no message"])[0]
            raise NativeBuildError(f"{compiler} {' '.join(flags)} failed on {source.name}: {first}")
        os.replace(partial, target)  # atomic: a concurrent loader sees all of it or nothing
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeBuildError(f"could not run {compiler}: {exc}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "nas" / "kernels"


@functools.cache
def _cpu_identity() -> bytes:
    """The CPU model and its feature flags: what ``-march=native`` code depends on."""
    parts = [platform.machine(), platform.processor()]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("model name", "flags", "Features", "CPU part")):
                parts.append(line)
            if not line.strip():  # the first processor says it all
                break
    return "\n".join(parts).encode()
