"""Built-in data sets and :func:`load_dataset`, each a :class:`~evoprune.data.Dataset` of train, test and
validation rows.  Randomness comes only from the ``seed`` argument; nothing is downloaded.

* :func:`binary_clustering` -- Baldi's synthetic binary clustering data.
* :func:`digits` -- scikit-learn's bundled 8x8 digits (``pip install evoprune[data]``).
* :func:`~evoprune.data.files.load_array` -- a local ``.npy`` / ``.npz`` file.
* :func:`~evoprune.data.files.read_idx` / :func:`~evoprune.data.files.load_idx` -- MNIST-format IDX files
  (optionally gzipped).
* :func:`load_dataset` -- one entry point for all of the above, by name or path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..rng import RNGLike
from ..util.validation import check_fraction, check_positive_int, check_probability
from .dataset import Dataset, split_rows
from .files import load_array, load_idx

__all__ = ["DATASETS", "binary_clustering", "digits", "load_dataset"]


# --------------------------------------------------------------------------- synthetic data


def binary_clustering(
    n_clusters: int = 10,
    dim: int = 1000,
    samples_per_cluster: int = 100,
    flip: float = 0.05,
    density: float = 0.75,
    seed: RNGLike = 0,
    heldout_repeats: int = 1,
) -> Dataset:
    """Baldi's binary clustering data: noisy copies of random binary centroids (``Dataset.centroids``).

    Each split holds ``samples_per_cluster`` shuffled rows per cluster, each with fresh noise.

    Parameters
    ----------
    n_clusters
        Number of centroids.
    dim
        Number of bits (features).
    samples_per_cluster
        Rows per cluster in each split.
    flip
        Probability that a sample's bit differs from its centroid's.
    density
        Probability that a centroid bit is 1.
    seed
        Seed or NumPy generator.
    heldout_repeats
        Times each test and validation row appears (a divisor of ``samples_per_cluster``); the published data
        (``data_loader.py`` ``create_binary_cluster_data``) has 100 distinct rows, each 10 times.
    """
    n_clusters = check_positive_int("n_clusters", n_clusters)
    heldout_repeats = check_positive_int("heldout_repeats", heldout_repeats)
    if samples_per_cluster % heldout_repeats:
        raise ValueError(f"heldout_repeats={heldout_repeats} must divide samples_per_cluster={samples_per_cluster}")
    dim = check_positive_int("dim", dim)
    samples_per_cluster = check_positive_int("samples_per_cluster", samples_per_cluster)
    flip = check_probability("flip", flip)
    density = check_probability("density", density)
    rng = np.random.default_rng(seed)

    centroids = rng.random((n_clusters, dim)) < density
    labels = np.repeat(np.arange(n_clusters), samples_per_cluster)

    def sample(repeats: int = 1) -> np.ndarray:
        order = rng.permutation(labels[::repeats])
        noise = rng.random((order.size, dim)) < flip
        return np.tile((centroids[order] ^ noise).astype(np.float32), (repeats, 1))

    train, test, validation = sample(), sample(heldout_repeats), sample(heldout_repeats)
    return Dataset(
        name="binary_clustering",
        train=train,
        test=test,
        validation=validation,
        centroids=centroids.astype(np.float32),
    )


# --------------------------------------------------------------------------- scikit-learn digits


def digits(seed: RNGLike = 0, test_fraction: float = 0.2, validation_fraction: float = 0.1,
           images: bool = False) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 x 64), scaled to [0, 1], split by a seeded permutation.

    Parameters
    ----------
    seed
        Seed or NumPy generator of the split.
    test_fraction
        Share of the rows in the test split.
    validation_fraction
        Share of the rows in the validation split.
    images
        Rows as ``(1, 8, 8)`` images instead of 64-vectors (the same values and split).
    """
    if not isinstance(images, bool | np.bool_):
        raise ValueError(f"images must be true or false, got {images!r}")
    test_fraction = check_fraction("test_fraction", test_fraction)
    validation_fraction = check_fraction("validation_fraction", validation_fraction)
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "the digits dataset needs scikit-learn: pip install evoprune[data] (or pip install scikit-learn)"
        ) from exc
    x = load_digits().data.astype(np.float64) / 16.0
    if images:
        x = x.reshape(len(x), 1, 8, 8)
    parts = split_rows(x, np.random.default_rng(seed), {"test": test_fraction, "validation": validation_fraction})
    return Dataset(name="digits", **parts)


# --------------------------------------------------------------------------- registry

#: Built-in data sets by name (for :func:`load_dataset` and study files).
#:
#: :meta hide-value:
DATASETS: dict[str, Callable[..., Dataset]] = {
    "binary_clustering": binary_clustering,
    "digits": digits,
}

_IDX_NAME = re.compile(r"(\.idx\d*|idx\d*[-.]ubyte)(\.gz)?$")


def _is_idx_name(name: str) -> bool:
    base = Path(name).name.lower()
    return bool(_IDX_NAME.search(base)) or (base.endswith(".gz") and "idx" in base)


def load_dataset(name: str | os.PathLike[str], **kwargs: Any) -> Dataset:
    """Load a registered dataset by name, or a ``.npy``/``.npz``/IDX file by path.

    Parameters
    ----------
    name
        A key of :data:`~evoprune.data.DATASETS`, or a path ending in ``.npy``, ``.npz`` or an IDX name.
    kwargs
        Passed to the loader.
    """
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name](**kwargs)
    text = os.fspath(name)
    lower = text.lower()
    if lower.endswith((".npy", ".npz")):
        return load_array(text, **kwargs)
    if _is_idx_name(text):
        return load_idx(text, **kwargs)
    raise ValueError(
        f"unknown dataset {text!r}; valid names: {', '.join(sorted(DATASETS))}, "
        "or a path ending in .npy, .npz, or an IDX file (*idx*-ubyte, *.idx, optionally .gz)"
    )
