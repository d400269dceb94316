"""Datasets for autoencoder experiments.

Everything returns a :class:`Dataset` of float32 ``(samples, features)`` tensors
split into train, test and validation sets.  Randomness comes only from
``numpy.random.default_rng(seed)`` (or a passed Generator); nothing touches
global RNG state and nothing is downloaded.

* :func:`binary_clustering` -- Baldi's synthetic binary clustering data.
* :func:`digits` -- scikit-learn's bundled 8x8 digits (``pip install evoprune[data]``).
* :func:`load_array` -- a local ``.npy`` / ``.npz`` file.
* :func:`read_idx` / :func:`load_idx` -- MNIST-format IDX files (optionally gzipped).
* :func:`load_dataset` -- one entry point for all of the above, by name or path.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset, _check_fraction, _check_positive_int, _check_probability, check_data

__all__ = [
    "DATASETS",
    "Dataset",
    "binary_clustering",
    "check_data",
    "digits",
    "load_array",
    "load_dataset",
    "load_idx",
    "read_idx",
]

SeedLike = int | np.integer | np.random.Generator | None


# --------------------------------------------------------------------------- splitting helpers


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


def _split(x: np.ndarray, rng: np.random.Generator, fractions: dict[str, float]) -> dict[str, np.ndarray]:
    """Split ``x`` by a seeded permutation into ``train`` plus the named held-out splits."""
    counts = _split_counts(len(x), fractions)
    perm = rng.permutation(len(x))
    out, start = {}, 0
    for split, k in counts.items():
        out[split] = x[perm[start : start + k]]
        start += k
    out["train"] = x[perm[start:]]
    return out


def _flatten(x: np.ndarray) -> np.ndarray:
    """Flatten arrays with more than 2 dims per sample: ``(n, a, b, ...) -> (n, a*b*...)``."""
    if x.ndim > 2:
        return x.reshape(x.shape[0], -1)
    return x


def _as_float(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued, got dtype {x.dtype}")
    return x.astype(np.float64, copy=False)


# --------------------------------------------------------------------------- synthetic data


def binary_clustering(
    n_clusters: int = 10,
    dim: int = 1000,
    samples_per_cluster: int = 100,
    flip: float = 0.05,
    density: float = 0.75,
    seed: SeedLike = 0,
) -> Dataset:
    """Baldi's binary clustering data.

    ``n_clusters`` random binary centroids in ``dim`` dimensions (each bit 1 with
    probability ``density``); every sample is a centroid with each bit flipped
    independently with probability ``flip``.  Train, test and validation each hold
    ``samples_per_cluster`` rows per cluster (shuffled), each row with fresh noise,
    all around the same centroids (stored in ``Dataset.centroids``).

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
    """
    n_clusters = _check_positive_int("n_clusters", n_clusters)
    dim = _check_positive_int("dim", dim)
    samples_per_cluster = _check_positive_int("samples_per_cluster", samples_per_cluster)
    flip = _check_probability("flip", flip)
    density = _check_probability("density", density)
    rng = np.random.default_rng(seed)

    centroids = rng.random((n_clusters, dim)) < density
    labels = np.repeat(np.arange(n_clusters), samples_per_cluster)

    def sample() -> np.ndarray:
        order = rng.permutation(labels)
        noise = rng.random((order.size, dim)) < flip
        return (centroids[order] ^ noise).astype(np.float32)

    train, test, validation = sample(), sample(), sample()
    return Dataset(
        name="binary_clustering",
        train=train,
        test=test,
        validation=validation,
        centroids=centroids.astype(np.float32),
    )


# --------------------------------------------------------------------------- scikit-learn digits


def digits(seed: SeedLike = 0, test_fraction: float = 0.2, validation_fraction: float = 0.1) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 x 64), scaled to [0, 1], split by a seeded permutation.

    Parameters
    ----------
    seed
        Seed or NumPy generator of the split.
    test_fraction
        Share of the rows in the test split.
    validation_fraction
        Share of the rows in the validation split.
    """
    test_fraction = _check_fraction("test_fraction", test_fraction)
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "the digits dataset needs scikit-learn: pip install evoprune[data] (or pip install scikit-learn)"
        ) from exc
    x = load_digits().data.astype(np.float64) / 16.0
    parts = _split(x, np.random.default_rng(seed), {"test": test_fraction, "validation": validation_fraction})
    return Dataset(name="digits", **parts)


# --------------------------------------------------------------------------- user arrays


def _require_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"data path is a folder, not a file: {os.fspath(path)!r}")
    if not p.is_file():
        raise FileNotFoundError(f"no such data file: {os.fspath(path)!r}")
    return p


class _Unusable(ValueError):
    """A readable file whose content does not fit (wrong key, no arrays); the caller adds the file's path."""


#: What NumPy, zipfile and gzip raise for a broken file (none of them name it).
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _npz_member(archive: Any, key: str) -> np.ndarray:
    value = archive[key]  # allow_pickle=False: an object array raises ValueError here
    if not isinstance(value, np.ndarray):  # np.load returns the raw bytes of a member that is not .npy
        raise _Unusable(f"member {key!r} is not a NumPy array (.npy) but {len(value)} raw bytes")
    return value


def _read_arrays(p: Path, suffix: str, key: str | None) -> dict[str, np.ndarray]:
    with p.open("rb") as f:
        head = f.read(6)
    if suffix == ".npy" and head != b"\x93NUMPY":
        raise ValueError("not a NumPy .npy file (bad header)")
    if suffix == ".npz" and head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError("not a NumPy .npz file (not a zip archive)")
    given: dict[str, np.ndarray] = {}
    if suffix == ".npy":
        if key is not None:
            raise _Unusable(f"key={key!r} only applies to .npz files")
        given["all"] = np.load(p, allow_pickle=False)
    else:
        with np.load(p, allow_pickle=False) as archive:
            keys = list(archive.files)
            if not keys:
                raise _Unusable("the .npz archive holds no arrays")
            if key is not None:
                if key not in keys:
                    raise _Unusable(f"no array key={key!r} in the archive; keys: {', '.join(keys)}")
                given["all"] = _npz_member(archive, key)
            elif "train" in keys:
                for split in ("train", "test", "validation"):
                    if split in keys:
                        given[split] = _npz_member(archive, split)
            elif len(keys) == 1:
                given["all"] = _npz_member(archive, keys[0])
            else:
                raise _Unusable(f"holds several arrays and no 'train' array; pass key= one of: {', '.join(keys)}")
    for split, a in given.items():
        if a.ndim == 0:
            what = "the array" if split == "all" else f"the {split} array"
            raise _Unusable(f"{what} is a scalar; expected (samples, features)")
    return given


def load_array(
    path: str | os.PathLike[str],
    key: str | None = None,
    seed: SeedLike = 0,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    scale: str | None = None,
) -> Dataset:
    """Load a local ``.npy`` or ``.npz`` file as a :class:`Dataset`.

    An ``.npz`` with a ``train`` array (and optionally ``test`` / ``validation``)
    gives the splits directly; missing splits are split off ``train`` (fractions
    of the train rows).  Otherwise the array is ``key``, or the only array in the
    file, and all splits come from it by a seeded permutation.  Arrays with more
    than 2 dims are flattened per sample; integers become float.
    ``scale="minmax"`` maps the train split's global min/max to [0, 1] (the same
    affine map is applied to every split); ``scale=None`` leaves values as they are.

    Parameters
    ----------
    path
        The ``.npy`` or ``.npz`` file.
    key
        The array to use in an ``.npz`` without a ``train`` array.
    seed
        Seed or NumPy generator of the split.
    test_fraction
        Share of the rows in the test split (when split off).
    validation_fraction
        Share of the rows in the validation split (when split off).
    scale
        ``"minmax"`` or ``None``.
    """
    if scale not in (None, "minmax"):
        raise ValueError(f"unknown scale {scale!r}; valid: None, 'minmax'")
    test_fraction = _check_fraction("test_fraction", test_fraction)
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"unsupported file extension {p.suffix!r} for {os.fspath(path)!r}; expected .npy or .npz")
    p = _require_file(path)
    where = os.fspath(path)
    try:
        given = _read_arrays(p, suffix, key)
    except _Unusable as e:
        raise ValueError(f"data file {where!r}: {e}") from None
    except _READ_ERRORS as e:  # numpy's, zipfile's and zlib's errors do not name the file
        raise ValueError(f"cannot read data file {where!r}: {e}") from e
    try:
        return _arrays_to_dataset(p.stem, given, seed, test_fraction, validation_fraction, scale)
    except ValueError as e:  # wrong dtype or shape, NaN, too few rows: say which file
        raise ValueError(f"data file {where!r}: {e}") from e


def _arrays_to_dataset(
    name: str,
    given: dict[str, np.ndarray],
    seed: SeedLike,
    test_fraction: float,
    validation_fraction: float,
    scale: str | None,
) -> Dataset:
    arrays = {s: _flatten(_as_float(a, "array" if s == "all" else f"{s} array")) for s, a in given.items()}
    rng = np.random.default_rng(seed)
    if "all" in arrays:
        splits = _split(arrays["all"], rng, {"test": test_fraction, "validation": validation_fraction})
    else:
        missing = {s: f for s, f in (("test", test_fraction), ("validation", validation_fraction)) if s not in arrays}
        train = check_data(arrays["train"], "train array").numpy()
        splits = _split(train, rng, missing) if missing else {"train": train}
        splits.update({s: a for s, a in arrays.items() if s != "train"})

    if scale == "minmax":
        lo, hi = float(splits["train"].min()), float(splits["train"].max())
        if not hi > lo:
            raise ValueError(f"scale='minmax' needs a non-constant train split; the train split is all {lo}")
        splits = {s: (np.asarray(a, dtype=np.float64) - lo) / (hi - lo) for s, a in splits.items()}
    return Dataset(name=name, **splits)


# --------------------------------------------------------------------------- IDX (MNIST) files

_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX (MNIST-format) file, gzipped or not, into a native-endian array.

    A broken file raises ValueError naming the file and what is wrong with it.

    Parameters
    ----------
    path
        The IDX file (``.gz`` or not).

    Returns
    -------
    numpy.ndarray
        The array, shaped as the file says.
    """
    p = _require_file(path)
    where = f"IDX file {os.fspath(path)!r}"
    raw = p.read_bytes()
    if p.suffix.lower() == ".gz" or raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{where} is not a valid gzip file: {exc}") from exc
    if len(raw) < 4:
        raise ValueError(f"{where} is too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{where} has a bad IDX magic number {raw[:4].hex()}: must start with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{where} has unknown IDX dtype code 0x{code:02X}; valid: {valid}")
    if ndim == 0:
        raise ValueError(f"{where} declares 0 dimensions in its IDX header")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{where} is truncated: header needs {header} bytes, file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "too long"
        raise ValueError(
            f"{where} data length mismatch ({what}): shape {shape} of {dtype.name} needs {expected} bytes, "
            f"found {got}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _idx_images(path: str | os.PathLike[str]) -> np.ndarray:
    x = read_idx(path)
    where = f"IDX file {os.fspath(path)!r}"
    if x.ndim < 2:
        raise ValueError(f"{where} is 1-D {x.shape} (a labels file?); expected images (samples, ...)")
    scaled = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else _as_float(x, where)
    return check_data(_flatten(scaled), where).numpy()  # NaN/inf in float images: name the file


def load_idx(
    images_path: str | os.PathLike[str],
    test_images_path: str | os.PathLike[str] | None = None,
    seed: SeedLike = 0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> Dataset:
    """Load IDX images (uint8 scaled to [0, 1]; flattened per sample) as a :class:`Dataset`.

    With ``test_images_path`` that file is the test split (``test_fraction`` is
    unused) and validation is split off the training images; otherwise test and
    validation are both split off by a seeded permutation.

    Parameters
    ----------
    images_path
        IDX file of the (training) images.
    test_images_path
        IDX file of the test images, if separate.
    seed
        Seed or NumPy generator of the split.
    validation_fraction
        Share of the training rows in the validation split.
    test_fraction
        Share of the rows in the test split (without ``test_images_path``).
    """
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    x = _idx_images(images_path)
    rng = np.random.default_rng(seed)
    try:
        if test_images_path is not None:
            splits = _split(x, rng, {"validation": validation_fraction})
        else:
            splits = _split(x, rng, {"test": test_fraction, "validation": validation_fraction})
    except ValueError as e:  # too few images
        raise ValueError(f"IDX file {os.fspath(images_path)!r}: {e}") from e
    if test_images_path is not None:
        test = _idx_images(test_images_path)
        if test.shape[1] != x.shape[1]:
            raise ValueError(
                f"IDX file {os.fspath(test_images_path)!r} has the wrong image size: expected {x.shape[1]} "
                f"features per sample (like {os.fspath(images_path)!r}), got {test.shape[1]}"
            )
        splits["test"] = test
    return Dataset(name=Path(images_path).name, **splits)


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
        A key of :data:`DATASETS`, or a path ending in ``.npy``, ``.npz`` or an IDX name.
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
