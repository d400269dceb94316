"""Atomic file output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "jsonable", "logbook_records", "write_jsonl"]


def _umask() -> int:
    """The process umask; read from /proc where it can be (setting it to read it races with other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; output files are as readable as any other tool's
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, as :func:`atomic_write_bytes` does."""
    return atomic_write_bytes(path, text.encode())


def jsonable(v: Any) -> Any:
    """``v`` with NumPy and torch scalars and arrays as Python numbers and lists, in dicts, lists and tuples too."""
    if hasattr(v, "tolist") and hasattr(v, "ndim"):  # NumPy and torch scalars (ndim 0) and arrays
        return v.tolist()
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    return v


def logbook_records(logbook) -> list[dict]:
    """A DEAP Logbook as one JSON-able dict per generation, chapter fields as ``"<chapter>_<field>"``."""
    rows = []
    for i, rec in enumerate(logbook):
        row = {k: jsonable(v) for k, v in rec.items()}
        for name, chapter in logbook.chapters.items():
            for k, v in chapter[i].items():
                if k not in row:
                    row[f"{name}_{k}"] = jsonable(v)
        rows.append(row)
    return rows


def write_jsonl(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Write ``rows`` as JSON lines (one object per line, keys sorted), atomically."""
    return atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))




def _tmp_write(path: Path, data: bytes) -> Path:
    """A fully written (fsynced) temporary file next to ``path``, with a unique name."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists, atomically (also over NFS); True if this call created it."""
    tmp = _tmp_write(path, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                raise
            return _create_excl_open(path, data)
        return os.stat(tmp).st_nlink == 2  # 2: the link is ours (NFS may report EEXIST for a retried link)
    finally:
        tmp.unlink(missing_ok=True)


def _create_excl_open(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


def replace_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by a fully written file holding ``data`` (readers see the old or the new one)."""
    os.replace(_tmp_write(path, data), path)
