"""Checkpoints of a run: population, logbook, generation and every RNG state, written atomically.

File layout: ``MAGIC`` + 32-byte SHA-256 of the body + pickled body.  A file
whose hash does not match (truncated, corrupt) is skipped in favour of the
previous good one.  The body carries a format version and the run's config
fingerprint; loading a checkpoint of another configuration is refused.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import atomic_write_bytes

FORMAT_VERSION = 1
MAGIC = b"EVOPRUNE-CKPT\n"
_NAME = re.compile(r"ckpt-(\d+)\.pkl$")


class CheckpointMismatch(RuntimeError):
    """A checkpoint written by a different study configuration or format version."""


@dataclass
class Checkpoint:
    gen: int
    population: list
    logbook: Any
    rng_state: dict
    python_random: Any = None
    numpy_global: Any = None
    torch_rng: Any = None

    def restore_global_rngs(self) -> None:
        """Restore Python's, NumPy's and torch's global generators (evoprune itself uses none of them)."""
        if self.python_random is not None:
            random.setstate(self.python_random)
        if self.numpy_global is not None:
            np.random.set_state(self.numpy_global)
        if self.torch_rng is not None:
            torch.set_rng_state(self.torch_rng)


def save_checkpoint(run_dir: str | Path, fingerprint: str, gen: int, population: list, logbook,
                    rng: np.random.Generator, keep: int = 2) -> Path:
    """Write ``ckpt-<gen>.pkl`` atomically and delete all but the newest ``keep`` checkpoints."""
    body = pickle.dumps({
        "format": FORMAT_VERSION, "fingerprint": fingerprint,
        "checkpoint": Checkpoint(gen, population, logbook, rng.bit_generator.state, random.getstate(),
                                 np.random.get_state(), torch.get_rng_state()),
    }, protocol=pickle.HIGHEST_PROTOCOL)
    path = atomic_write_bytes(Path(run_dir) / f"ckpt-{gen:06d}.pkl", MAGIC + hashlib.sha256(body).digest() + body)
    for old in checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    d = Path(run_dir)
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if _NAME.search(p.name)), key=lambda p: int(_NAME.search(p.name)[1]))


def read_checkpoint(path: str | Path, fingerprint: str) -> Checkpoint:
    """Read one checkpoint; ``ValueError`` if corrupt, :class:`CheckpointMismatch` if of another run."""
    blob = Path(path).read_bytes()
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 32:
        raise ValueError(f"{path}: not an evoprune checkpoint (bad header)")
    digest, body = blob[len(MAGIC) : len(MAGIC) + 32], blob[len(MAGIC) + 32 :]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError(f"{path}: checksum mismatch (truncated or corrupt)")
    payload = pickle.loads(body)
    if payload.get("format") != FORMAT_VERSION:
        raise CheckpointMismatch(
            f"{path}: checkpoint format {payload.get('format')} != {FORMAT_VERSION} of this evoprune version")
    if payload.get("fingerprint") != fingerprint:
        raise CheckpointMismatch(
            f"{path}: written for a different study configuration (fingerprint {payload.get('fingerprint')}, "
            f"expected {fingerprint}); use a new --out folder or delete {Path(path).parent}")
    return payload["checkpoint"]


def latest_checkpoint(run_dir: str | Path, fingerprint: str) -> Checkpoint | None:
    """The newest readable checkpoint of the run, skipping corrupt files (with a warning)."""
    for path in reversed(checkpoints(run_dir)):
        try:
            return read_checkpoint(path, fingerprint)
        except CheckpointMismatch:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file falls back to the previous one
            warnings.warn(f"skipping unreadable checkpoint {path}: {e}", stacklevel=2)
    return None
