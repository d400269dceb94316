"""What pruning kept: the masks of each operator's best model (its run folder's or its pack's model file)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..util import flat
from .figures import colour
from .plots import plt, save_figure

__all__ = ["masks_figure"]


def _load(path: Path | None):
    from ..models import load_model

    if path is None:
        return None
    try:
        return load_model(path)
    except (OSError, ValueError, KeyError) as exc:
        warnings.warn(f"cannot read the model {path}: {exc}", RuntimeWarning, stacklevel=3)
        return None


def _layer_kept(genome) -> tuple[list[str], list[float]]:
    names, kept = [], []
    for half_name, half in (("enc", genome.encoder), ("dec", genome.decoder)):
        for i in range(len(half.masks) // 2):
            names.append(f"{half_name}{i}")
            kept.append(float(half.masks[flat.weight(i)].float().mean()))
    return names, kept


def _rows(mask, axis: int) -> np.ndarray:
    """A weight mask as a matrix: ``axis`` as rows, the other axes (a kernel's too) as columns."""
    m = mask.cpu().numpy().astype(float)
    return np.moveaxis(m, axis, 0).reshape(m.shape[axis], -1)


def masks_figure(setting: str, best_runs: Mapping[str, str], model_of: Callable[[str], Path | None],
                 path: Path) -> list[str]:
    """One row per operator (its best run): the outer layers' masks and the kept fraction per layer; the operators
    drawn (none: no figure written)."""
    models = {op: g for op, run_id in best_runs.items() if (g := _load(model_of(run_id))) is not None}
    if not models:
        return []
    height = 1.6 * len(models) + 1.2
    fig, axes = plt.subplots(len(models), 3, figsize=(13, height), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 3, 1.6], "hspace": 0.45})
    fig.subplots_adjust(top=1 - 0.9 / height)  # room for the two-line title above the first row's titles
    for k, (row, (op, genome)) in enumerate(zip(axes, models.items(), strict=True)):
        first = _rows(genome.encoder.masks[0], genome.encoder.spec.neuron_axis(0))  # (hidden, inputs)
        dec = genome.decoder
        last = _rows(dec.masks[-2], 1 - dec.spec.neuron_axis(dec.spec.n_layers - 1))  # (hidden, outputs)
        for ax, mask, what in ((row[0], first, "encoder layer 1"), (row[1], last, "decoder last layer")):
            ax.imshow(mask, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
            empty = int((~mask.any(axis=1)).sum())
            ax.set_title(f"{what}: {mask.mean():.0%} kept, {empty}/{mask.shape[0]} hidden units cut off",
                         fontsize="small")
            ax.set_yticks([])
            if k < len(models) - 1:
                ax.set_xticks([])
        row[0].set_ylabel(f"{op}\n{best_runs[op]}", color=colour(op), fontsize="small", rotation=0, ha="right",
                          va="center")
        names, kept = _layer_kept(genome)
        row[2].bar(np.arange(len(kept)), kept, color=colour(op))
        row[2].set_xticks(np.arange(len(kept)), names if k == len(models) - 1 else [""] * len(kept),
                          fontsize="x-small")
        row[2].set_ylim(0, 1)
        row[2].set_title("kept per layer", fontsize="small")
    axes[-1, 0].set_xlabel("input")
    axes[-1, 1].set_xlabel("output")
    fig.suptitle(f"{setting}: surviving connections of each operator's best run\n"
                 "(black: kept; rows: hidden units or channels; columns: inputs or outputs, with a convolution's "
                 "kernel positions)")
    save_figure(fig, path)
    return list(models)
