"""Saved models: a run's reported genome (and a grid run's population) as safetensors files.

A model file holds, per parametric layer (Linear or convolution) of each half, the tensors that
``genome.to_module(prune_layout=True).state_dict()`` names (the layout of :mod:`torch.nn.utils.prune`)::

    encoder.<i>.weight_orig   float32, pruned entries exactly zero
    encoder.<i>.weight_mask   bool
    encoder.<i>.bias_orig     float32
    encoder.<i>.bias_mask     bool
    decoder.<i>....           the same for the decoder

where ``i`` is the layer's index in the half's ``nn.Sequential`` (in a dense half Linear and activation
modules alternate: 0, 2, 4, ...).  Biases are pruned too, so they carry ``bias_orig``/``bias_mask`` as
``prune.custom_from_mask(lin, "bias", mask)`` names them.  Masks are stored as ``bool``;
``module.load_state_dict`` converts them to the module's float masks.

The safetensors metadata (``str -> str``) holds JSON strings: ``format``
(``evoprune-model``), ``version``, ``architecture`` (per half, sizes and
activations, or the input shape and the layers with their settings), ``lr``,
``fitness`` (a list, or ``null``), ``fraction_kept``, ``run_id`` and ``config`` (the run's ``config.json``).

A population file (``population.safetensors``, written by grid runs) holds
the same tensors per individual, keys prefixed by its cell index
(``<c>.encoder.0.weight_orig``, ...); its metadata has ``architecture`` (one
shared architecture), ``lr`` and ``fitness`` (lists, one entry per cell),
``run_id`` and ``config``.

Nothing here executes code from a file: safetensors holds only tensors and strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..architecture import Architecture, HalfSpec
from ..genome import AutoencoderGenome
from ..half import Half
from ..layers import layer_from_dict
from ..util import flat
from ..util.io import atomic_write_bytes
from ..util.moments import Moments

__all__ = [
    "save_model",
    "load_model",
    "model_metadata",
    "save_population",
    "load_population",
    "export_state_dict",
    "export_model",
]

MODEL_FILE = "model.safetensors"
POPULATION_FILE = "population.safetensors"
MODEL_FORMAT = "evoprune-model"
POPULATION_FORMAT = "evoprune-population"
VERSION = 1


# -- architecture and tensors ----------------------------------------------------------------------------------
def _spec_to_dict(spec: HalfSpec) -> dict:
    if spec.dense:
        return {"sizes": list(spec.sizes), "activations": list(spec.activations)}
    return {"input_shape": list(spec.input_shape), "layers": [layer.to_dict() for layer in spec.layers]}


def _spec_from_dict(d: dict) -> HalfSpec:
    if "layers" in d:
        return HalfSpec(layers=tuple(layer_from_dict(x) for x in d["layers"]), input_shape=tuple(d["input_shape"]))
    return HalfSpec(tuple(d["sizes"]), tuple(d["activations"]))


def arch_to_dict(arch: Architecture) -> dict:
    """JSON-able architecture: per half, ``sizes``/``activations`` (dense) or ``input_shape``/``layers``."""
    return {name: _spec_to_dict(spec) for name, spec in (("encoder", arch.encoder), ("decoder", arch.decoder))}


def arch_from_dict(d: dict) -> Architecture:
    """The architecture :func:`arch_to_dict` describes."""
    return Architecture(_spec_from_dict(d["encoder"]), _spec_from_dict(d["decoder"]))


def _cpu(t: torch.Tensor) -> torch.Tensor:
    """A CPU copy owning its memory (safetensors refuses tensors that share storage)."""
    return t.detach().to("cpu", copy=True).contiguous()


def genome_tensors(genome: AutoencoderGenome, prefix: str = "", moments: bool = False) -> dict[str, torch.Tensor]:
    """The prune-layout tensors of ``genome`` (see the module docstring), on the CPU; with ``moments`` also Adam's
    (``<key>_exp_avg``, ``<key>_exp_avg_sq``) where the half has them (what a checkpoint keeps)."""
    out = {}
    for name, half in (("encoder", genome.encoder), ("decoder", genome.decoder)):
        for layer, (pos, _, _) in enumerate(half.spec.param_layers):
            for j, what in ((flat.weight(layer), "weight"), (flat.bias(layer), "bias")):
                key = f"{prefix}{name}.{pos}.{what}"
                mask = half.masks[j].bool()
                out[f"{key}_orig"] = _cpu(half.params[j] * mask)
                out[f"{key}_mask"] = _cpu(mask)
                if moments and half.exp_avg is not None:
                    out[f"{key}_exp_avg"] = _cpu(half.exp_avg[j])
                    out[f"{key}_exp_avg_sq"] = _cpu(half.exp_avg_sq[j])
            if moments and half.activity is not None:  # the recorded training passes (a checkpoint keeps them)
                out[f"{prefix}{name}.{pos}.activity_mean"] = _cpu(half.activity[layer].mean)
                out[f"{prefix}{name}.{pos}.activity_m2"] = _cpu(half.activity[layer].m2)
        if moments and half.activity is not None:
            out[f"{prefix}{name}.activity_count"] = torch.tensor(half.activity[0].count)
    return out


def genome_from_tensors(arch: Architecture, tensors: dict[str, torch.Tensor], lr: float, prefix: str = "",
                        cls=AutoencoderGenome, where: str = "model file", steps: tuple[int, int] = (0, 0)):
    """Rebuild a genome of class ``cls`` from :func:`genome_tensors`' layout (Adam's moments too, when there,
    with the halves' ``steps``)."""
    halves = []
    for name, spec, step in (("encoder", arch.encoder, steps[0]), ("decoder", arch.decoder, steps[1])):
        params, masks, m, v = [], [], [], []
        for layer, (pos, _, _) in enumerate(spec.param_layers):
            for j, what in ((flat.weight(layer), "weight"), (flat.bias(layer), "bias")):
                key = f"{prefix}{name}.{pos}.{what}"
                try:
                    value, mask = tensors[f"{key}_orig"], tensors[f"{key}_mask"]
                except KeyError as e:
                    raise ValueError(f"{where}: tensor {e.args[0]} is missing") from None
                if tuple(value.shape) != spec.shapes[j] or tuple(mask.shape) != spec.shapes[j]:
                    raise ValueError(f"{where}: {key} has shape {tuple(value.shape)}, the architecture says "
                                     f"{spec.shapes[j]}")
                mask = mask.bool()
                params.append((value.float() * mask).contiguous())
                masks.append(mask.contiguous())
                if f"{key}_exp_avg" in tensors:
                    m.append(tensors[f"{key}_exp_avg"].contiguous())
                    v.append(tensors[f"{key}_exp_avg_sq"].contiguous())
        moments = (m, v) if m else (None, None)
        activity = None
        if f"{prefix}{name}.activity_count" in tensors:
            count = int(tensors[f"{prefix}{name}.activity_count"])
            activity = [Moments(count, tensors[f"{prefix}{name}.{pos}.activity_mean"].double(),
                                tensors[f"{prefix}{name}.{pos}.activity_m2"].double())
                        for pos, _, _ in spec.param_layers]
        halves.append(Half(spec, params, masks, *moments, step=int(step), activity=activity))
    return cls.from_halves(halves[0], halves[1], lr=lr)


def _fitness(genome) -> list[float] | None:
    fit = getattr(genome, "fitness", None)
    return [float(v) for v in fit.values] if fit is not None and fit.valid else None


def _save(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> Path:
    from safetensors.torch import save

    meta = {k: json.dumps(v) for k, v in metadata.items()}
    return atomic_write_bytes(path, save(tensors, metadata=meta))


def read_header(blob: bytes, where: str | os.PathLike) -> dict[str, Any]:
    """The header of a safetensors file's bytes (tensor table and ``__metadata__``); ``ValueError`` if it is not one."""
    if len(blob) < 8:
        raise ValueError(f"{where}: not a safetensors file (too short: truncated or corrupt)")
    n = int.from_bytes(blob[:8], "little")
    if n < 2 or 8 + n > len(blob):
        raise ValueError(f"{where}: not a safetensors file (bad header length: truncated or corrupt)")
    try:
        header = json.loads(blob[8 : 8 + n])
    except ValueError as e:
        raise ValueError(f"{where}: not a safetensors file (unreadable header: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: not a safetensors file (header is not a table)")
    return header


def _read(path: Path, fmt: str, device) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load

    blob = path.read_bytes()
    raw = read_header(blob, path).get("__metadata__") or {}
    try:
        meta = {k: json.loads(v) for k, v in raw.items()}
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: metadata is not valid JSON ({e})") from None
    if meta.get("format") != fmt:
        raise ValueError(f"{path}: not an evoprune {fmt.split('-')[1]} file (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: {fmt} version {meta.get('version')!r} is not {VERSION} of this evoprune version")
    try:
        tensors = load(blob)
    except Exception as e:  # noqa: BLE001 - safetensors' own error type
        raise ValueError(f"{path}: unreadable tensors (truncated or corrupt): {e}") from None
    if device is not None and str(device) != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors, meta


def _resolve(path_or_run_dir: str | os.PathLike, name: str) -> Path:
    p = Path(path_or_run_dir)
    if p.is_dir():
        f = p / name
        if not f.is_file():
            why = ("the run is not finished" if not (p / "result.json").is_file() else
                   "the run was written by an evoprune version that did not save models")
            raise FileNotFoundError(f"{p} has no {name}: {why}")
        return f
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such model file or run folder")
    return p


# -- single models ---------------------------------------------------------------------------------------------
def save_model(path: str | os.PathLike, genome: AutoencoderGenome, run_id: str | None = None,
               config: dict | None = None, **extra: Any) -> Path:
    """Write ``genome`` as a model file (atomically); ``extra`` adds JSON-able metadata entries.

    Parameters
    ----------
    path
        The file to write.
    genome
        The genome to save.
    run_id
        Id of the run the model comes from, or ``None``.
    config
        The run's configuration (JSON-able), or ``None``.
    extra
        Further JSON-able metadata entries.
    """
    meta = {"format": MODEL_FORMAT, "version": VERSION, "architecture": arch_to_dict(genome.arch),
            "lr": float(genome.lr), "fitness": _fitness(genome), "fraction_kept": genome.fraction_kept,
            "run_id": run_id, "config": config, **extra}
    return _save(path, genome_tensors(genome), meta)


def load_model(path_or_run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> AutoencoderGenome:
    """The model saved by a run (its ``model.safetensors``, or that file's path) as a genome on ``device``.

    ``genome.to_module()`` gives a plain ``nn.Module``; :func:`model_metadata` the rest of what the file records.

    Parameters
    ----------
    path_or_run_dir
        A model file, or the run folder holding it.
    device
        Device of the genome's tensors.
    """
    path = _resolve(path_or_run_dir, MODEL_FILE)
    tensors, meta = _read(path, MODEL_FORMAT, device)
    try:
        arch = arch_from_dict(meta["architecture"])
        lr = float(meta["lr"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad architecture or lr in the metadata ({e})") from None
    return genome_from_tensors(arch, tensors, lr, where=str(path))


def model_metadata(path_or_run_dir: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a model file (JSON values decoded).

    Parameters
    ----------
    path_or_run_dir
        A model file, or the run folder holding it.
    """
    path = _resolve(path_or_run_dir, MODEL_FILE)
    raw = read_header(path.read_bytes(), path).get("__metadata__") or {}
    return {k: json.loads(v) for k, v in raw.items()}


# -- populations -----------------------------------------------------------------------------------------------
def save_population(path: str | os.PathLike, population: Sequence[AutoencoderGenome], run_id: str | None = None,
                    config: dict | None = None) -> Path:
    """Write a population (one shared architecture) as one file, keys prefixed by the cell index.

    Parameters
    ----------
    path
        The file to write.
    population
        Genomes sharing one architecture.
    run_id
        Id of the run, or ``None``.
    config
        The run's configuration (JSON-able), or ``None``.
    """
    if not population:
        raise ValueError("cannot save an empty population")
    arch = population[0].arch
    if any(ind.arch != arch for ind in population):
        raise ValueError("save_population needs one architecture for every individual")
    tensors: dict[str, torch.Tensor] = {}
    for c, ind in enumerate(population):
        tensors.update(genome_tensors(ind, prefix=f"{c}."))
    meta = {"format": POPULATION_FORMAT, "version": VERSION, "architecture": arch_to_dict(arch),
            "size": len(population), "lr": [float(i.lr) for i in population],
            "fitness": [_fitness(i) for i in population], "run_id": run_id, "config": config}
    return _save(path, tensors, meta)


def load_population(path_or_run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> list[AutoencoderGenome]:
    """The population saved by a grid run (``population.safetensors``), one genome per cell, in cell order.

    Parameters
    ----------
    path_or_run_dir
        A population file, or the run folder holding it.
    device
        Device of the genomes' tensors.
    """
    path = _resolve(path_or_run_dir, POPULATION_FILE)
    tensors, meta = _read(path, POPULATION_FORMAT, device)
    try:
        arch, lrs, n = arch_from_dict(meta["architecture"]), meta["lr"], int(meta["size"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad metadata ({e})") from None
    return [genome_from_tensors(arch, tensors, float(lrs[c]), prefix=f"{c}.", where=str(path)) for c in range(n)]


# -- export ----------------------------------------------------------------------------------------------------
def export_state_dict(genome: AutoencoderGenome, dense: bool = False) -> dict[str, torch.Tensor]:
    """A state dict of plain tensors: the prune layout (``weight_orig``/``weight_mask``, ...), or with
    ``dense=True`` the pruned weights of a plain ``nn.Sequential`` (``encoder.0.weight``, ...) and no masks.

    Parameters
    ----------
    genome
        The genome.
    dense
        Apply the masks and use plain ``nn.Sequential`` names instead of the prune layout.
    """
    if dense:
        return {k: _cpu(v) for k, v in genome.to_module().state_dict().items()}
    return genome_tensors(genome)


def export_model(run_dir_or_file: str | os.PathLike, out: str | os.PathLike, dense: bool = False,
                 compact: bool = False) -> Path:
    """Write a run's model as a file PyTorch alone loads: safetensors if ``out`` ends with ``.safetensors``,
    else ``torch.save`` of a plain dict of tensors (``torch.load(out, weights_only=True)`` reads it).

    Parameters
    ----------
    run_dir_or_file
        A run folder or its model file.
    out
        The file to write (``.safetensors`` or a ``torch.save`` file; with ``compact``, ``.pt2`` or ``.onnx``).
    dense
        As in :func:`export_state_dict`.
    compact
        Write the genome's :func:`~evoprune.models.compaction.compact` model, dead units removed, as a ``torch.export``
        program (``torch.export.load(out).module()`` runs it) or, for ``out`` ending with ``.onnx``, ONNX.
    """
    if dense and compact:
        raise ValueError("export: choose dense (a state dict) or compact (a program), not both")
    genome = load_model(run_dir_or_file)
    if compact:
        from .compaction import export_compact

        return export_compact(genome.compact(), out)
    state = export_state_dict(genome, dense)
    out = Path(out)
    if out.suffix == ".safetensors":
        from safetensors.torch import save

        meta = {"format": "evoprune-export", "layout": "dense" if dense else "prune",
                "architecture": json.dumps(arch_to_dict(genome.arch))}
        return atomic_write_bytes(out, save(state, metadata=meta))
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(out, buf.getvalue())
