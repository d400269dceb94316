"""Matplotlib figures saved as PNG files (non-interactive backend)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..util.io import atomic_write_bytes  # noqa: E402

__all__ = ["save_figure", "plot_curves"]


def save_figure(fig, path: str | os.PathLike, dpi: int = 200) -> None:
    """Save ``fig`` as PNG atomically and close it (200 dpi: sharp when the figure is zoomed)."""
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
    """One panel per ``(key, label)``; one line per curve name; x is the generation."""
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
