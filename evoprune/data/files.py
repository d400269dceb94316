"""Data from local files: NumPy ``.npy`` / ``.npz`` arrays and MNIST-format IDX files.

Both loaders return a :class:`~evoprune.data.dataset.Dataset`; rows the file does not split are split by a
seeded permutation.  Rows are flattened unless ``shape="keep"`` or a row shape is asked for (:func:`check_shape`).
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..rng import RNGLike
from ..util.validation import check_fraction
from .dataset import Dataset, check_data, split_rows

__all__ = ["check_shape", "load_array", "read_idx", "load_idx"]

#: What ``shape=`` of a loader may be: ``None`` (flat vectors), ``"keep"`` (the file's) or a row shape.
ShapeLike = str | tuple[int, ...] | list[int] | None


def check_shape(shape: ShapeLike) -> str | tuple[int, ...] | None:
    """Return a loader's ``shape=`` argument checked: ``None``, ``"keep"`` or a tuple of positive ints.

    Parameters
    ----------
    shape
        ``None``, ``"keep"``, or a row shape such as ``(1, 28, 28)`` (a list is taken as a tuple).
    """
    if shape is None or shape == "keep":
        return shape
    if isinstance(shape, tuple | list) and shape and all(
            isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0 for s in shape):
        return tuple(int(s) for s in shape)
    raise ValueError(f"shape must be None (flat rows), 'keep' or a row shape of positive ints such as "
                     f"(1, 28, 28), got {shape!r}")


def _shape_rows(x: np.ndarray, shape: str | tuple[int, ...] | None) -> np.ndarray:
    """Rows (the first axis) of ``x`` flattened (``shape=None``), as they are (``"keep"``) or reshaped."""
    if x.ndim < 2 or shape == "keep":
        return x
    if shape is None:
        return x.reshape(x.shape[0], -1) if x.ndim > 2 else x
    size = math.prod(x.shape[1:])
    if size != math.prod(shape):
        raise ValueError(f"rows of shape {tuple(x.shape[1:])} ({size} values) cannot take shape {shape} "
                         f"({math.prod(shape)} values)")
    return x.reshape(x.shape[0], *shape)


def _as_float(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued, got dtype {x.dtype}")
    return x.astype(np.float64, copy=False)


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
    seed: RNGLike = 0,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    scale: str | None = None,
    shape: ShapeLike = None,
) -> Dataset:
    """Load a local ``.npy`` or ``.npz`` file as a :class:`~evoprune.data.Dataset` of float32 tensors.

    An ``.npz`` with a ``train`` array (and optionally ``test`` / ``validation``) gives the splits directly;
    missing splits are split off ``train``.  Otherwise all splits come from one array by a seeded permutation.

    Parameters
    ----------
    path
        The ``.npy`` or ``.npz`` file.
    key
        The array to use in an ``.npz`` without a ``train`` array (default: the only one).
    seed
        Seed or NumPy generator of the split.
    test_fraction
        Share of the rows in the test split (when split off).
    validation_fraction
        Share of the rows in the validation split (when split off).
    scale
        ``"minmax"`` (the train split's min and max to [0, 1], the same map on every split) or ``None``.
    shape
        ``None`` (flat rows), ``"keep"`` (the file's row shape, e.g. ``(C, H, W)``) or a row shape to reshape to.
    """
    if scale not in (None, "minmax"):
        raise ValueError(f"unknown scale {scale!r}; valid: None, 'minmax'")
    shape = check_shape(shape)
    test_fraction = check_fraction("test_fraction", test_fraction)
    validation_fraction = check_fraction("validation_fraction", validation_fraction)
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
        return _arrays_to_dataset(p.stem, given, seed, test_fraction, validation_fraction, scale, shape)
    except ValueError as e:  # wrong dtype or shape, NaN, too few rows: say which file
        raise ValueError(f"data file {where!r}: {e}") from e


def _arrays_to_dataset(
    name: str,
    given: dict[str, np.ndarray],
    seed: RNGLike,
    test_fraction: float,
    validation_fraction: float,
    scale: str | None,
    shape: str | tuple[int, ...] | None = None,
) -> Dataset:
    arrays = {s: _shape_rows(_as_float(a, "array" if s == "all" else f"{s} array"), shape) for s, a in given.items()}
    rng = np.random.default_rng(seed)
    if "all" in arrays:
        splits = split_rows(arrays["all"], rng, {"test": test_fraction, "validation": validation_fraction})
    else:
        missing = {s: f for s, f in (("test", test_fraction), ("validation", validation_fraction)) if s not in arrays}
        train = check_data(arrays["train"], "train array", shaped=True).numpy()
        splits = split_rows(train, rng, missing) if missing else {"train": train}
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
    """Read an IDX (MNIST-format) file, gzipped or not, into a native-endian array shaped as the file says.

    Parameters
    ----------
    path
        The IDX file (``.gz`` or not).
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


def _idx_images(path: str | os.PathLike[str], shape: str | tuple[int, ...] | None = None) -> np.ndarray:
    x = read_idx(path)
    where = f"IDX file {os.fspath(path)!r}"
    if x.ndim < 2:
        raise ValueError(f"{where} is 1-D {x.shape} (a labels file?); expected images (samples, ...)")
    scaled = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else _as_float(x, where)
    try:
        rows = _shape_rows(scaled, shape)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return check_data(rows, where, shaped=True).numpy()  # NaN/inf in float images: name the file


def load_idx(
    images_path: str | os.PathLike[str],
    test_images_path: str | os.PathLike[str] | None = None,
    seed: RNGLike = 0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    shape: ShapeLike = None,
) -> Dataset:
    """Load IDX images (uint8 scaled to [0, 1]) as a :class:`~evoprune.data.Dataset` of float32 tensors.

    With ``test_images_path`` that file is the test split and validation is split off the training images;
    otherwise both are split off by a seeded permutation.

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
    shape
        ``None`` (flat rows), ``"keep"`` (the file's image shape) or a row shape.
    """
    validation_fraction = check_fraction("validation_fraction", validation_fraction)
    test_fraction = check_fraction("test_fraction", test_fraction)
    shape = check_shape(shape)
    x = _idx_images(images_path, shape)
    rng = np.random.default_rng(seed)
    try:
        if test_images_path is not None:
            splits = split_rows(x, rng, {"validation": validation_fraction})
        else:
            splits = split_rows(x, rng, {"test": test_fraction, "validation": validation_fraction})
    except ValueError as e:  # too few images
        raise ValueError(f"IDX file {os.fspath(images_path)!r}: {e}") from e
    if test_images_path is not None:
        test = _idx_images(test_images_path, shape)
        if test.shape[1:] != x.shape[1:]:
            flat = x.ndim == test.ndim == 2
            want = f"{x.shape[1]} features per sample" if flat else f"images of shape {tuple(x.shape[1:])}"
            got = test.shape[1] if flat else tuple(test.shape[1:])
            raise ValueError(
                f"IDX file {os.fspath(test_images_path)!r} has the wrong image size: expected {want} "
                f"(like {os.fspath(images_path)!r}), got {got}"
            )
        splits["test"] = test
    return Dataset(name=Path(images_path).name, **splits)
