"""Matplotlib figures saved as PNG files (non-interactive backend)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_write_bytes  # noqa: E402

__all__ = ["save_figure", "plot_curves", "plot_grid_heatmaps"]


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save ``fig`` as PNG atomically and close it.

    Parameters
    ----------
    fig
        A Matplotlib figure.
    path
        The PNG file to write.
    dpi
        Resolution.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike,
    panels: Sequence[tuple[str, str]] = (("test_l1", "test L1"), ("kept", "fraction kept")),
    title: str = "",
) -> None:
    """One panel per ``(key, label)``; one line per curve name; x is the generation.

    Parameters
    ----------
    curves
        Per curve name, the series by key (one value per generation).
    path
        The PNG file to write.
    panels
        ``(key, y label)`` of each panel.
    title
        Figure title.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
    axes = [axes] if len(panels) == 1 else axes
    for ax, (key, label) in zip(axes, panels, strict=True):
        for name, series in curves.items():
            ax.plot(range(len(series[key])), series[key], label=name)
        ax.set_xlabel("generation")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_grid_heatmaps(values: Mapping[str, Sequence[float]], rows: int, cols: int, path: str | os.PathLike,
                       title: str = "") -> None:
    """One heatmap per named per-cell quantity, laid out on the ``rows × cols`` grid.

    Parameters
    ----------
    values
        Per quantity name, one value per cell (row-major).
    rows
        Grid rows.
    cols
        Grid columns.
    path
        The PNG file to write.
    title
        Figure title.
    """
    import numpy as np

    fig, axes = plt.subplots(1, len(values), figsize=(max(4, cols * 0.9) * len(values), max(2.2, rows * 0.9 + 1.2)))
    axes = [axes] if len(values) == 1 else axes
    for ax, (name, v) in zip(axes, values.items(), strict=True):
        arr = np.asarray(v, dtype=float).reshape(rows, cols)
        im = ax.imshow(arr, cmap="viridis")
        for (r, c), x in np.ndenumerate(arr):
            ax.text(c, r, f"{x:.3f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_title(name)
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
