"""Build and load a C++ torch extension once per environment, with no lock that can hang a machine.

The binary's file name carries a key over everything it depends on (source, flags, compiler, torch version and
include paths, Python, CPU), so environments that share a folder never load each other's copy.  The compiler is
called directly and writes a temporary file renamed into place.  The lock beside it names its owner and carries
a heartbeat: a dead owner's lock is taken over at once, a silent one's after :data:`STALE_SECONDS`.  A compile
error is recorded beside the binary, so later processes fall back at once (``force=True`` retries).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch.utils import cpp_extension

from ..util.io import atomic_write_text

__all__ = ["Outcome", "STALE_SECONDS", "kernel_dir", "load_or_build"]

#: A lock whose heartbeat is older than this (seconds) is taken over, whoever holds it.
STALE_SECONDS = 30.0
_HEARTBEAT = 2.0
_POLL = 0.2


@dataclass(frozen=True)
class Outcome:
    """How :func:`load_or_build` went."""

    module: ModuleType | None
    how: str
    detail: str
    seconds: float


def kernel_dir() -> Path:
    """Where binaries live: ``EVOPRUNE_KERNEL_DIR``, else ``<sys.prefix>/share/evoprune`` if writable, else a cache."""
    if os.environ.get("EVOPRUNE_KERNEL_DIR"):
        return Path(os.environ["EVOPRUNE_KERNEL_DIR"])
    env = Path(sys.prefix) / "share" / "evoprune"
    if os.access(env if env.exists() else env.parent if env.parent.exists() else sys.prefix, os.W_OK):
        return env
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evoprune" / "kernels"


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "c++"))


def _cpu() -> str:
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:  # -march=native binaries must not be shared across CPU models
            text += "".join(sorted({ln for ln in f if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        pass
    return text


def _command(cxx: str, modname: str, cflags: list[str], src: Path, out: Path) -> list[str]:
    includes = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"]]
    libs = cpp_extension.library_paths()
    return [
        cxx, "-shared", "-fPIC", "-std=c++20", *cflags,
        f"-DTORCH_EXTENSION_NAME={modname}", "-DTORCH_API_INCLUDE_EXTENSION_H",
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch.compiled_with_cxx11_abi())}",
        *(f"-isystem{p}" for p in includes), str(src), "-o", str(out),
        *(f"-L{p}" for p in libs), *(f"-Wl,-rpath,{p}" for p in libs),
        "-lc10", "-ltorch_cpu", "-ltorch", "-ltorch_python",
    ]


def _key(cxx: str, source: str, cflags: list[str]) -> str:
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    parts = [source, " ".join(_command(os.path.realpath(cxx), "m", cflags, Path("s"), Path("o"))), version,
             torch.__version__, sys.version, _cpu()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _load(modname: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(lock: Path) -> dict | None:
    """The live owner of ``lock``; ``None`` when it is free or stale (a dead or silent owner)."""
    try:
        age = time.time() - lock.stat().st_mtime
        text = lock.read_text(encoding="utf-8")
    except OSError:
        return None
    if age > STALE_SECONDS:
        return None
    try:
        owner = json.loads(text)
    except ValueError:
        return {"host": "?", "pid": "?"}  # being written by its owner right now
    if owner.get("host") == socket.gethostname() and not _alive(int(owner.get("pid", -1))):
        return None
    return owner


def _acquire(lock: Path) -> bool:
    """Take ``lock`` if it is free, or stale (then it is removed first)."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _owner(lock) is not None:
                return False
            lock.unlink(missing_ok=True)  # a dead or silent owner's: take it over
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}, f)
        return True
    return False


def _compile(cmd: list[str], lock: Path, timeout: float) -> str | None:
    """Run the compiler, touching ``lock`` as a heartbeat; ``None`` on success, else why it failed."""
    t0 = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        while True:
            try:
                output, _ = proc.communicate(timeout=_HEARTBEAT)
                break
            except subprocess.TimeoutExpired:
                os.utime(lock)
                if time.monotonic() - t0 > timeout:
                    proc.kill()
                    proc.communicate()
                    return f"the compiler ran over {timeout:.0f} s"
    if proc.returncode != 0:
        tail = [ln for ln in output.splitlines() if "error" in ln.lower()][:3] or output.splitlines()[-3:]
        return f"compile failed (exit {proc.returncode}): " + " | ".join(tail)
    return None


def load_or_build(
    name: str, source: str, cflags: list[str], *, build: bool = True, force: bool = False, wait: float = 60.0,
    timeout: float = 900.0, directory: Path | None = None,
) -> Outcome:
    """Load the extension ``name`` compiled from ``source`` with ``cflags``, building it first if needed."""
    t0 = time.monotonic()

    def done(module, how, detail):
        return Outcome(module, how, detail, time.monotonic() - t0)

    cxx = _compiler()
    if cxx is None:
        return done(None, "failed", f"no C++ compiler ({os.environ.get('CXX', 'c++')!r} is not on PATH)")
    key = _key(cxx, source, cflags)
    modname = f"{name}_{key}"
    folder = Path(directory or kernel_dir())
    binary, lock, failed = (folder / f"{modname}{s}" for s in (".so", ".lock", ".failed"))
    while True:
        if binary.exists():
            try:
                return done(_load(modname, binary), "loaded", str(binary))
            except ImportError as e:
                return done(None, "failed", f"cannot load {binary}: {e}")
        if failed.exists() and not force:
            return done(None, "failed", failed.read_text(encoding="utf-8").strip() + f" (recorded in {failed})")
        if not build:
            return done(None, "missing", f"not built ({binary} does not exist)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return done(None, "failed", f"cannot create {folder}: {e}")
        if _acquire(lock):
            break
        owner = _owner(lock) or {}
        if time.monotonic() - t0 > wait:
            return done(None, "busy", f"process {owner.get('pid')} on {owner.get('host')} was still building "
                                      f"{binary.name} after {wait:.0f} s")
        time.sleep(_POLL)
    try:
        if binary.exists():  # finished by another process between our look and our lock
            return done(_load(modname, binary), "loaded", str(binary))
        for leftover in folder.glob(f".{modname}.*"):  # a killed builder's temporary files (we hold the lock)
            leftover.unlink(missing_ok=True)
        src = folder / f".{modname}.{os.getpid()}.cpp"
        tmp = folder / f".{modname}.{os.getpid()}.so"
        src.write_text(source, encoding="utf-8")
        try:
            error = _compile(_command(cxx, modname, cflags, src, tmp), lock, timeout)
            if error is None:
                os.replace(tmp, binary)
        finally:
            src.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
        if error is not None:
            atomic_write_text(failed, error + "\n")
            return done(None, "failed", error)
        failed.unlink(missing_ok=True)
        return done(_load(modname, binary), "built", str(binary))
    finally:
        lock.unlink(missing_ok=True)
