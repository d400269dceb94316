"""The data container and its checks: :class:`Dataset`, :func:`check_data` and :func:`check_row_shape`."""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Dataset", "check_data", "check_row_shape"]

#: Tensors that passed :func:`check_data` as they are, by id (weak: a freed tensor drops out).
_CHECKED: dict[int, weakref.ref] = {}


# --------------------------------------------------------------------------- checks


RowShape = tuple[int, ...]


def check_row_shape(rows: Sequence[int], takes: Sequence[int], name: str = "data") -> None:
    """Raise ValueError, naming both shapes, if data rows of shape ``rows`` do not fit an input of shape ``takes``.

    Parameters
    ----------
    rows
        The shape of one data row (the data's shape without its first axis).
    takes
        The shape of one input of the architecture.
    name
        What the data is, for the message.
    """
    rows, takes = tuple(int(s) for s in rows), tuple(int(s) for s in takes)
    if rows == takes:
        return
    msg = f"{name} rows have shape {rows} but the architecture takes {takes}"
    if len(rows) == len(takes) == 1:
        msg += f" (wrong width: expected {takes[0]} features, got {rows[0]})"
    raise ValueError(msg)


def check_data(x: Any, name: str = "data", dim: int | Sequence[int] | None = None, *,
               shaped: bool = False) -> torch.Tensor:
    """``x`` as a contiguous float32 ``(samples, features)`` tensor on its device; ValueError if it is not 2-D, is
    empty, holds NaN/inf or does not fit ``dim``.  A tensor that passed once is not scanned again.

    Parameters
    ----------
    x
        Array or tensor.
    name
        What the data is, for error messages.
    dim
        Required number of columns or row shape, or ``None``.
    shaped
        Accept rows of any shape, not only vectors.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ValueError(f"{name} must be real-valued, got dtype {x.dtype}")
        shape = tuple(x.shape)
    else:
        x = np.asarray(x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")
        if np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"{name} must be real-valued, got dtype {x.dtype}")
        shape = x.shape
    if len(shape) != 2 and not (shaped and len(shape) > 2):
        want = "at least 2-D (samples, ...)" if shaped else "2-D (samples, features)"
        raise ValueError(f"{name} must be {want}, got shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name} is empty: shape {shape} (need at least one row and one column)")
    takes = None if dim is None else ((dim,) if isinstance(dim, int | np.integer) else tuple(dim))
    if isinstance(x, torch.Tensor):
        ready = x.dtype == torch.float32 and x.is_contiguous() and not x.requires_grad
        t = x if ready else x.detach().to(dtype=torch.float32).contiguous()
        ref = _CHECKED.get(id(t))
        if ref is not None and ref() is t:  # scanned before (a data set's tensors are read every generation)
            if takes is not None:
                check_row_shape(shape[1:], takes, name)
            return t
    else:
        with np.errstate(over="ignore"):  # overflow to inf is reported below
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ValueError(f"{name} has non-finite values: {n_nan} NaN and {n_inf} inf (after float32 conversion)")
    if takes is not None:
        check_row_shape(shape[1:], takes, name)
    if t is x:
        key = id(t)
        _CHECKED[key] = weakref.ref(t, lambda _ref: _CHECKED.pop(key, None))
    return t


def _split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Rows per held-out split, each at least 1, leaving at least 1 training row."""
    counts = {}
    for split, frac in fractions.items():
        k = int(round(n * frac))
        if k < 1:
            raise ValueError(f"{split}_fraction={frac} of {n} rows leaves an empty {split} split")
        counts[split] = k
    if sum(counts.values()) >= n:
        detail = ", ".join(f"{s}_fraction={f}" for s, f in fractions.items())
        raise ValueError(f"{detail} of {n} rows leaves no training rows")
    return counts


def split_rows(x: np.ndarray, rng: np.random.Generator, fractions: dict[str, float]) -> dict[str, np.ndarray]:
    """Split ``x`` by a seeded permutation into ``train`` plus the named held-out splits."""
    counts = _split_counts(len(x), fractions)
    perm = rng.permutation(len(x))
    out, start = {}, 0
    for split, k in counts.items():
        out[split] = x[perm[start : start + k]]
        start += k
    out["train"] = x[perm[start:]]
    return out



# --------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / test / validation splits, each a float32 tensor of rows (checked by :func:`check_data`).

    Rows are vectors ``(samples, features)``, or shaped, e.g. images ``(samples, C, H, W)``; every split has
    the train split's row shape (:attr:`shape`).

    Parameters
    ----------
    name
        Name of the data set.
    train
        Training rows.
    test
        Test rows.
    validation
        Validation rows.
    centroids
        Generating cluster centres, or ``None``.
    """

    name: str
    train: torch.Tensor
    test: torch.Tensor
    validation: torch.Tensor
    centroids: torch.Tensor | None = None

    def __post_init__(self) -> None:
        train = check_data(self.train, f"{self.name} train", shaped=True)
        object.__setattr__(self, "train", train)
        for split in ("test", "validation", "centroids"):
            value = getattr(self, split)
            if value is None:
                continue
            t = check_data(value, f"{self.name} {split}", shaped=True)
            if t.shape[1:] != train.shape[1:]:
                rows, takes = tuple(t.shape[1:]), tuple(train.shape[1:])
                flat = len(rows) == len(takes) == 1
                want, got = (f"{takes[0]} features", rows[0]) if flat else (f"rows of shape {takes}", rows)
                raise ValueError(f"{self.name} {split} has the wrong width: expected {want} (like the train "
                                 f"split), got {got}")
            object.__setattr__(self, split, t)

    @property
    def dim(self) -> int:
        """The number of values in one row (of features, for vectors)."""
        return math.prod(self.shape)

    @property
    def shape(self) -> RowShape:
        """The shape of one row, e.g. ``(64,)`` for vectors or ``(1, 8, 8)`` for images."""
        return tuple(int(s) for s in self.train.shape[1:])

    def flatten(self) -> Dataset:
        """The same rows as vectors ``(samples, features)`` (this dataset itself if they are already)."""
        if len(self.shape) == 1:
            return self
        flat = {k: getattr(self, k).reshape(len(getattr(self, k)), -1) for k in ("train", "test", "validation")}
        if self.centroids is not None:
            flat["centroids"] = self.centroids.reshape(len(self.centroids), -1)
        return dataclasses.replace(self, **{k: v.contiguous() for k, v in flat.items()})

    def to(self, device: torch.device | str) -> Dataset:
        """The same splits on ``device`` (this dataset itself if they are there already).

        Parameters
        ----------
        device
            Target device.
        """
        device = torch.device(device)
        if self.train.device == device:
            return self
        move = {k: getattr(self, k).to(device) for k in ("train", "test", "validation")}
        return dataclasses.replace(self, **move)

    def __repr__(self) -> str:
        parts = [
            f"name={self.name!r}",
            f"dim={self.dim}" if len(self.shape) == 1 else f"shape={self.shape}",
            f"train={self.train.shape[0]}",
            f"test={self.test.shape[0]}",
            f"validation={self.validation.shape[0]}",
        ]
        if self.centroids is not None:
            parts.append(f"centroids={self.centroids.shape[0]}")
        return f"Dataset({', '.join(parts)})"
