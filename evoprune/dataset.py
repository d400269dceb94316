"""The data container and its checks: :class:`Dataset` and :func:`check_data`."""

from __future__ import annotations

import dataclasses
import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: Tensors that passed :func:`check_data` as they are, by id (weak: a freed tensor drops out).
_CHECKED: dict[int, weakref.ref] = {}


# --------------------------------------------------------------------------- checks


def check_data(x: Any, name: str = "data", dim: int | None = None) -> torch.Tensor:
    """Return ``x`` (array or tensor) as a contiguous float32 ``(samples, features)`` tensor.

    A tensor stays on its device (arrays become CPU tensors).  A float32
    contiguous tensor that passed once is not scanned again (change data in
    place and its finiteness is not re-checked).

    Raises ValueError if ``x`` is not 2-D, is empty, holds NaN/inf values, or
    (when ``dim`` is given) does not have ``dim`` columns.

    Parameters
    ----------
    x
        Array or tensor.
    name
        What the data is, for error messages.
    dim
        Required number of columns, or ``None``.
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
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {shape}")
    rows, cols = shape
    if rows == 0 or cols == 0:
        raise ValueError(f"{name} is empty: shape {shape} (need at least one row and one column)")
    if isinstance(x, torch.Tensor):
        ready = x.dtype == torch.float32 and x.is_contiguous() and not x.requires_grad
        t = x if ready else x.detach().to(dtype=torch.float32).contiguous()
        ref = _CHECKED.get(id(t))
        if ref is not None and ref() is t:  # scanned before (a data set's tensors are read every generation)
            if dim is not None and cols != dim:
                raise ValueError(f"{name} has the wrong width: expected {dim} features, got {cols}")
            return t
    else:
        with np.errstate(over="ignore"):  # overflow to inf is reported below
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ValueError(f"{name} has non-finite values: {n_nan} NaN and {n_inf} inf (after float32 conversion)")
    if dim is not None and cols != dim:
        raise ValueError(f"{name} has the wrong width: expected {dim} features, got {cols}")
    if t is x:
        key = id(t)
        _CHECKED[key] = weakref.ref(t, lambda _ref: _CHECKED.pop(key, None))
    return t


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_probability(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if math.isnan(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def _check_fraction(name: str, value: Any) -> float:
    v = _check_probability(name, value)
    if v >= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return v


# --------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / test / validation splits, each a float32 ``(samples, features)`` tensor.

    ``centroids`` optionally holds generating cluster centres (synthetic data).
    Inputs are validated and converted with :func:`check_data` on construction.

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
        train = check_data(self.train, f"{self.name} train")
        dim = train.shape[1]
        object.__setattr__(self, "train", train)
        object.__setattr__(self, "test", check_data(self.test, f"{self.name} test", dim))
        object.__setattr__(self, "validation", check_data(self.validation, f"{self.name} validation", dim))
        if self.centroids is not None:
            object.__setattr__(self, "centroids", check_data(self.centroids, f"{self.name} centroids", dim))

    @property
    def dim(self) -> int:
        """Number of features."""
        return int(self.train.shape[1])

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
            f"dim={self.dim}",
            f"train={self.train.shape[0]}",
            f"test={self.test.shape[0]}",
            f"validation={self.validation.shape[0]}",
        ]
        if self.centroids is not None:
            parts.append(f"centroids={self.centroids.shape[0]}")
        return f"Dataset({', '.join(parts)})"
