"""Checkpoints of a run: population, logbook, generation and RNG state in one safetensors file, written atomically.

Nothing in a checkpoint can run code when read: it is a safetensors file, never a pickle.

``ckpt-<gen>.safetensors`` holds

* tensors ``<i>.<half>.<pos>.<weight|bias>_<kind>``: individual ``i``'s tensors as a model file holds them
  (``evoprune.models.files.genome_tensors``: ``kind`` ``orig`` or ``mask``), with Adam's moments
  (``exp_avg``, ``exp_avg_sq``); all saved from the CPU.  (Format 2, still read: ``<i>.<half>.<kind>.<j>``,
  ``kind`` ``param``, ``mask``, ``exp_avg`` or ``exp_avg_sq``, ``j`` the index in the half's flat list.)
* metadata ``evoprune`` = ``"checkpoint"``, ``format`` (the format version),
  ``state`` (JSON: fingerprint, generation, the run's NumPy bit-generator state,
  the run's wall time so far in seconds (``wall_time``; 0 when absent), the logbook
  with its chapters and headers, and per individual its ``creator`` class name,
  architecture, learning rate, fitness values, JSON-able attributes (``pruned``, ``zeros_at_prune``),
  and per half Adam's step counter), and ``sha256``: the
  SHA-256 of the ``state`` text and every tensor's name, dtype, shape and bytes.

A file that does not parse or whose hash does not match is skipped with a warning in favour of the previous
good one; one of another configuration is refused (:class:`CheckpointMismatch`); old pickle checkpoints
(``ckpt-*.pkl``) are never read.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import creator, tools

from ..half import Half
from ..models.files import arch_from_dict, arch_to_dict, genome_from_tensors, genome_tensors, read_header
from ..util.io import atomic_write_bytes, jsonable

__all__ = ["Checkpoint", "CheckpointMismatch", "checkpoint_bytes", "checkpoints", "latest_checkpoint",
           "logbook_from_dict", "logbook_to_dict", "old_checkpoints", "read_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 3
#: Format versions this version reads.
READS = ("2", "3")
KIND = "checkpoint"
_NAME = re.compile(r"ckpt-(\d+)\.safetensors")
_OLD = re.compile(r"ckpt-(\d+)\.pkl")
_HALVES = ("encoder", "decoder")
#: Attributes of an individual rebuilt otherwise (the rest must be JSON scalars and are stored as they are).
_STRUCTURAL = frozenset({"fitness", "arch", "encoder", "decoder", "lr"})


class CheckpointMismatch(RuntimeError):
    """A checkpoint written by a different study configuration or format version."""


@dataclass
class Checkpoint:
    gen: int
    population: list
    logbook: Any
    rng_state: dict
    wall_time: float = 0.0  # seconds the run had taken when the checkpoint was written


# -- JSON of the non-tensor state ------------------------------------------------------------------------------


def logbook_to_dict(logbook: tools.Logbook) -> dict:
    """A DEAP Logbook (records, chapters, headers) as JSON-able data; :func:`logbook_from_dict` rebuilds it."""
    return {"header": None if logbook.header is None else list(logbook.header),
            "log_header": logbook.log_header, "buffindex": logbook.buffindex,
            "records": [jsonable(dict(r)) for r in logbook],
            "chapters": {name: logbook_to_dict(ch) for name, ch in logbook.chapters.items()}}


def logbook_from_dict(d: dict) -> tools.Logbook:
    """The Logbook :func:`logbook_to_dict` describes."""
    logbook = tools.Logbook()
    logbook.header = d["header"]
    logbook.log_header = d["log_header"]
    logbook.buffindex = d["buffindex"]
    logbook.extend(d["records"])
    for name, chapter in d["chapters"].items():
        logbook.chapters[name] = logbook_from_dict(chapter)
    return logbook


def _attrs(ind) -> dict:
    attrs = {k: v.item() if isinstance(v, np.generic) else v for k, v in vars(ind).items() if k not in _STRUCTURAL}
    for k, v in attrs.items():
        if isinstance(v, list | tuple) and all(_scalar(x) for x in v):
            attrs[k] = list(v)  # e.g. zeros_at_prune, one count per half
        elif not _scalar(v):
            raise TypeError(f"cannot checkpoint attribute {k!r} of {type(ind).__name__}: {type(v).__name__} "
                            "is not a JSON scalar or a list of them")
    return attrs


def _scalar(v) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _digest(state: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(state.encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"\n{key}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _bit_generator_state(rng: np.random.Generator) -> dict:
    state = rng.bit_generator.state
    json.dumps(state)  # a bit generator whose state is not JSON-able fails here, before anything is written
    return state


# -- files -----------------------------------------------------------------------------------------------------
def checkpoint_bytes(fingerprint: str, gen: int, population: list, logbook, rng: np.random.Generator,
                     wall_time: float = 0.0) -> bytes:
    """The bytes of one checkpoint file (see the module docstring)."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    individuals = []
    for i, ind in enumerate(population):
        tensors.update(genome_tensors(ind, f"{i}.", moments=True))
        fit = getattr(ind, "fitness", None)
        individuals.append({
            "class": type(ind).__name__, "arch": arch_to_dict(ind.arch), "lr": float(ind.lr),
            "fitness": [float(v) for v in fit.values] if fit is not None and fit.valid else None,
            "attrs": _attrs(ind),
            "halves": {name: {"step": int(getattr(ind, name).step)} for name in _HALVES}})
    state = json.dumps({"fingerprint": fingerprint, "gen": int(gen), "rng": _bit_generator_state(rng),
                        "wall_time": float(wall_time), "logbook": logbook_to_dict(logbook), "individuals": individuals})
    meta = {"evoprune": KIND, "format": str(FORMAT_VERSION), "state": state, "sha256": _digest(state, tensors)}
    return save(tensors, metadata=meta)


def save_checkpoint(run_dir: str | Path, fingerprint: str, gen: int, population: list, logbook,
                    rng: np.random.Generator, keep: int = 2, wall_time: float = 0.0) -> Path:
    """Write ``ckpt-<gen>.safetensors`` atomically and delete all but the newest ``keep`` checkpoints."""
    path = atomic_write_bytes(Path(run_dir) / f"ckpt-{gen:06d}.safetensors",
                              checkpoint_bytes(fingerprint, gen, population, logbook, rng, wall_time))
    for old in checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _numbered(run_dir: str | Path, pattern: re.Pattern) -> list[Path]:
    d = Path(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m[1]), p) for p in d.iterdir() if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    return _numbered(run_dir, _NAME)


def old_checkpoints(run_dir: str | Path) -> list[Path]:
    """Pickle checkpoints of evoprune versions before 0.2 (never read)."""
    return _numbered(run_dir, _OLD)


def _individual(i: int, info: dict, tensors: dict[str, torch.Tensor], path, version: str) -> Any:
    cls = getattr(creator, info["class"], None)
    if not isinstance(cls, type) or not hasattr(cls, "from_halves"):
        raise ValueError(f"{path}: individual {i} has class {info['class']!r}, not a creator class of this process")
    arch = arch_from_dict(info["arch"])
    steps = tuple(int(info["halves"][name]["step"]) for name in _HALVES)
    if version == "2":
        ind = cls.from_halves(*_halves_v2(i, info, arch, tensors, path), lr=info["lr"])
    else:
        ind = genome_from_tensors(arch, tensors, info["lr"], f"{i}.", cls, str(path), steps)
    if info["fitness"] is not None:
        ind.fitness.values = tuple(info["fitness"])
    for k, v in info["attrs"].items():
        setattr(ind, k, v)
    return ind


def _halves_v2(i: int, info: dict, arch, tensors: dict[str, torch.Tensor], path) -> list[Half]:
    """An individual's halves in format 2 (``<i>.<half>.<kind>.<j>``)."""
    halves = []
    for name, spec in zip(_HALVES, (arch.encoder, arch.decoder), strict=True):
        h = info["halves"][name]

        def get(kind, name=name, spec=spec):
            return [tensors[f"{i}.{name}.{kind}.{j}"] for j in range(len(spec.shapes))]

        try:
            moments = (get("exp_avg"), get("exp_avg_sq")) if h["moments"] else (None, None)
            halves.append(Half(spec, get("param"), get("mask"), *moments, step=int(h["step"])))
        except KeyError as e:
            raise ValueError(f"{path}: tensor {e.args[0]} is missing") from None
    return halves


def read_checkpoint(path: str | Path, fingerprint: str) -> Checkpoint:
    """Read one checkpoint; ``ValueError`` if corrupt, :class:`CheckpointMismatch` if of another run."""
    from safetensors.torch import load

    from ..runs import ensure_creator

    path = Path(path)
    blob = path.read_bytes()
    meta = read_header(blob, path).get("__metadata__") or {}
    if meta.get("evoprune") != KIND:
        raise ValueError(f"{path}: not an evoprune checkpoint (no checkpoint metadata)")
    if meta.get("format") not in READS:
        raise CheckpointMismatch(f"{path}: checkpoint format {meta.get('format')} is not one this evoprune version "
                                 f"reads ({', '.join(READS)})")
    try:
        tensors = load(blob)
    except Exception as e:  # noqa: BLE001 - safetensors' own error type
        raise ValueError(f"{path}: unreadable tensors (truncated or corrupt): {e}") from None
    state = meta.get("state", "")
    if _digest(state, tensors) != meta.get("sha256"):
        raise ValueError(f"{path}: checksum mismatch (truncated or corrupt)")
    body = json.loads(state)
    if body.get("fingerprint") != fingerprint:
        raise CheckpointMismatch(
            f"{path}: written for a different study configuration (fingerprint {body.get('fingerprint')}, "
            f"expected {fingerprint}); use a new --out folder or delete {path.parent}")
    ensure_creator()
    population = [_individual(i, info, tensors, path, meta["format"]) for i, info in enumerate(body["individuals"])]
    return Checkpoint(body["gen"], population, logbook_from_dict(body["logbook"]), body["rng"],
                      float(body.get("wall_time", 0.0)))


def latest_checkpoint(run_dir: str | Path, fingerprint: str) -> Checkpoint | None:
    """The newest readable checkpoint of the run, skipping corrupt and old pickle files (with a warning)."""
    for path in old_checkpoints(run_dir):
        warnings.warn(f"ignoring old-format checkpoint {path}: pickle checkpoints are never loaded (loading one "
                      "could run code); the run goes on from a new-format checkpoint or from the start", stacklevel=2)
    for path in reversed(checkpoints(run_dir)):
        try:
            return read_checkpoint(path, fingerprint)
        except CheckpointMismatch:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file falls back to the previous one
            warnings.warn(f"skipping unreadable checkpoint {path}: {e}", stacklevel=2)
    return None
