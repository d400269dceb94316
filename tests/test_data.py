"""Tests for evoprune.data: synthetic, bundled and file-backed datasets."""

from __future__ import annotations

import gzip
import io
import math
import struct
import sys
import zipfile

import numpy as np
import pytest
import torch

from evoprune.data import (
    DATASETS,
    Dataset,
    binary_clustering,
    check_data,
    digits,
    load_dataset,
)
from evoprune.data.files import load_array, load_idx, read_idx

# --------------------------------------------------------------------------- helpers


def nearest_centroid(x: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hamming distance to, and index of, the nearest centroid for every row."""
    dist = (x[:, None, :] != centroids[None, :, :]).sum(dim=2)
    d, idx = dist.min(dim=1)
    return d, idx


def write_idx(path, arr: np.ndarray, code: int, compress: bool = False) -> None:
    """Write an IDX file by hand with struct (big-endian header and data)."""
    fmt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(fmt).tobytes()
    if compress:
        payload = gzip.compress(payload)
    path.write_bytes(payload)


SMALL = dict(n_clusters=5, dim=400, samples_per_cluster=20)


# --------------------------------------------------------------------------- check_data / Dataset


def test_check_data_converts_numpy_and_tensor():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = check_data(a)
    assert t.dtype == torch.float32 and t.shape == (2, 3) and t.is_contiguous()
    assert torch.equal(t, torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.float32))
    t2 = check_data(torch.ones(4, 3, dtype=torch.float64).t())  # non-contiguous, float64
    assert t2.dtype == torch.float32 and t2.is_contiguous() and t2.shape == (3, 4)


def test_check_data_rejects_1d_with_shape():
    with pytest.raises(ValueError, match=r"2-D.*\(5,\)"):
        check_data(np.zeros(5), name="train")


@pytest.mark.parametrize("shape", [(0, 4), (3, 0)])
def test_check_data_rejects_empty(shape):
    with pytest.raises(ValueError, match="empty"):
        check_data(np.zeros(shape))


def test_check_data_rejects_nan_and_inf_naming_split():
    x = np.ones((4, 3))
    x[0, 0] = np.nan
    x[1, 2] = np.nan
    x[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN") as info:
        check_data(x, name="validation")
    msg = str(info.value)
    assert "validation" in msg and "2 NaN" in msg and "1 inf" in msg


def test_check_data_float32_overflow_is_non_finite():
    with pytest.raises(ValueError, match="inf"):
        check_data(np.full((2, 2), 1e300))


def test_check_data_wrong_width_reports_both_numbers():
    with pytest.raises(ValueError) as info:
        check_data(np.zeros((3, 7)), name="test", dim=5)
    msg = str(info.value)
    assert "5" in msg and "7" in msg and "test" in msg


def test_dataset_validates_and_converts():
    ds = Dataset("toy", np.zeros((4, 3), dtype=np.uint8), torch.zeros(2, 3), np.ones((1, 3)))
    assert ds.dim == 3
    assert all(s.dtype == torch.float32 for s in (ds.train, ds.test, ds.validation))
    assert ds.centroids is None
    with pytest.raises(ValueError, match="expected 3.*got 4"):
        Dataset("toy", np.zeros((4, 3)), np.zeros((2, 4)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="validation"):
        Dataset("toy", np.zeros((4, 3)), np.zeros((2, 3)), np.full((1, 3), np.nan))
    with pytest.raises(AttributeError):
        ds.name = "other"  # frozen


# --------------------------------------------------------------------------- binary clustering


def test_binary_clustering_shapes_and_values():
    ds = binary_clustering(**SMALL, seed=1)
    n = SMALL["n_clusters"] * SMALL["samples_per_cluster"]
    for split in (ds.train, ds.test, ds.validation):
        assert split.shape == (n, SMALL["dim"])
        assert split.dtype == torch.float32
        assert set(split.unique().tolist()) <= {0.0, 1.0}
    assert ds.centroids is not None and ds.centroids.shape == (SMALL["n_clusters"], SMALL["dim"])
    assert ds.dim == SMALL["dim"]
    assert ds.name == "binary_clustering"


def test_binary_clustering_defaults_match_paper_sizes():
    ds = binary_clustering()
    assert ds.train.shape == ds.test.shape == ds.validation.shape == (1000, 1000)
    assert ds.centroids.shape == (10, 1000)


def test_binary_clustering_deterministic_and_seed_sensitive():
    a = binary_clustering(**SMALL, seed=3)
    b = binary_clustering(**SMALL, seed=3)
    c = binary_clustering(**SMALL, seed=4)
    for split in ("train", "test", "validation", "centroids"):
        assert torch.equal(getattr(a, split), getattr(b, split))
        assert not torch.equal(getattr(a, split), getattr(c, split))


def test_binary_clustering_accepts_generator():
    a = binary_clustering(**SMALL, seed=np.random.default_rng(9))
    b = binary_clustering(**SMALL, seed=9)
    assert torch.equal(a.train, b.train)


def test_binary_clustering_rows_near_centroids_balanced_and_shuffled():
    ds = binary_clustering(**SMALL, seed=2)
    dim, spc = SMALL["dim"], SMALL["samples_per_cluster"]
    for split in (ds.train, ds.test, ds.validation):
        d, idx = nearest_centroid(split, ds.centroids)
        # expected 20 flips per row, std ~4.4; other centroids are ~150 bits away
        assert int(d.max()) <= 0.05 * dim + 6 * math.sqrt(dim * 0.05 * 0.95)
        assert torch.bincount(idx, minlength=SMALL["n_clusters"]).tolist() == [spc] * SMALL["n_clusters"]
        # rows are shuffled, not grouped by cluster
        assert not bool((idx[1:] >= idx[:-1]).all())


def test_binary_clustering_flip_rate_matches_binomial():
    ds = binary_clustering(**SMALL, flip=0.05, seed=5)
    rows = torch.cat([ds.train, ds.test, ds.validation])
    _, idx = nearest_centroid(rows, ds.centroids)
    flipped = rows != ds.centroids[idx]
    n_bits = flipped.numel()
    rate = flipped.float().mean().item()
    std = math.sqrt(0.05 * 0.95 / n_bits)
    assert abs(rate - 0.05) < 5 * std, (rate, std)
    # flips are symmetric: 1 -> 0 and 0 -> 1 happen at the same rate
    cent = ds.centroids[idx].bool()
    rate_ones = flipped[cent].float().mean().item()
    rate_zeros = flipped[~cent].float().mean().item()
    assert abs(rate_ones - 0.05) < 0.01 and abs(rate_zeros - 0.05) < 0.01


def test_binary_clustering_flip_extremes():
    clean = binary_clustering(n_clusters=3, dim=50, samples_per_cluster=4, flip=0.0, seed=0)
    d, _ = nearest_centroid(clean.train, clean.centroids)
    assert int(d.max()) == 0
    inverted = binary_clustering(n_clusters=3, dim=50, samples_per_cluster=4, flip=1.0, seed=0)
    d, _ = nearest_centroid(1 - inverted.train, inverted.centroids)
    assert int(d.max()) == 0


def test_binary_clustering_centroid_density():
    ds = binary_clustering(n_clusters=5, dim=20000, samples_per_cluster=1, seed=0)
    n_bits = ds.centroids.numel()
    density = ds.centroids.mean().item()
    assert abs(density - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n_bits)
    sparse = binary_clustering(n_clusters=5, dim=20000, samples_per_cluster=1, density=0.3, seed=0)
    assert abs(sparse.centroids.mean().item() - 0.3) < 0.01


def test_binary_clustering_fresh_noise_per_row_and_split():
    ds = binary_clustering(**SMALL, seed=6)
    n = ds.test.shape[0]
    for split in (ds.train, ds.test, ds.validation):
        assert torch.unique(split, dim=0).shape[0] == n  # no repeated rows
    # no test or validation row is a copy of a train row
    assert not bool((ds.test[:, None, :] == ds.train[None, :, :]).all(dim=2).any())
    assert not bool((ds.validation[:, None, :] == ds.train[None, :, :]).all(dim=2).any())
    assert not torch.equal(ds.test, ds.validation)


@pytest.mark.parametrize(
    "kwargs, bad",
    [
        (dict(n_clusters=0), "n_clusters"),
        (dict(dim=-3), "dim"),
        (dict(samples_per_cluster=2.5), "samples_per_cluster"),
        (dict(n_clusters=True), "n_clusters"),
        (dict(flip=1.5), "flip"),
        (dict(flip=float("nan")), "flip"),
        (dict(density=-0.1), "density"),
    ],
)
def test_binary_clustering_rejects_bad_parameters(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        binary_clustering(**{**SMALL, **kwargs})


# --------------------------------------------------------------------------- digits


def test_digits_scaled_split_and_complete():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ds = digits(seed=0)
    assert ds.dim == 64
    sizes = [ds.train.shape[0], ds.test.shape[0], ds.validation.shape[0]]
    assert sum(sizes) == 1797
    assert sizes[1] == round(1797 * 0.2) and sizes[2] == round(1797 * 0.1)
    rows = torch.cat([ds.train, ds.test, ds.validation]).numpy().astype(np.float64)
    assert rows.min() == 0.0 and rows.max() == 1.0
    # the splits are a permutation of all rows: same multiset of rows as the source
    ref = sklearn_datasets.load_digits().data / 16.0
    sort_rows = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(sort_rows(rows), sort_rows(ref), atol=1e-7)


def test_digits_seeded():
    pytest.importorskip("sklearn.datasets")
    a, b, c = digits(seed=1), digits(seed=1), digits(seed=2)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, c.train)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install evoprune\[data\]"):
        digits()


# --------------------------------------------------------------------------- .npy / .npz


def test_npy_round_trip_split(tmp_path):
    x = np.random.default_rng(0).random((50, 6))
    path = tmp_path / "points.npy"
    np.save(path, x)
    ds = load_array(path, seed=0)
    assert (ds.train.shape[0], ds.test.shape[0], ds.validation.shape[0]) == (35, 10, 5)
    assert ds.name == "points"
    rows = torch.cat([ds.train, ds.test, ds.validation]).numpy()
    np.testing.assert_allclose(np.sort(rows, axis=0), np.sort(x, axis=0).astype(np.float32))
    assert torch.equal(load_array(path, seed=0).train, ds.train)
    assert not torch.equal(load_array(path, seed=1).train, ds.train)


def test_npy_images_flattened_ints_to_float_and_minmax(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, size=(30, 4, 5), dtype=np.uint8)
    imgs[0, 0, 0], imgs[1, 0, 0] = 0, 255
    path = tmp_path / "imgs.npy"
    np.save(path, imgs)
    raw = load_array(path)
    assert raw.dim == 20 and raw.train.dtype == torch.float32
    assert raw.train.max().item() > 1.0  # scale=None leaves values alone
    scaled = load_array(path, scale="minmax")
    lo, hi = raw.train.min().item(), raw.train.max().item()
    torch.testing.assert_close(scaled.train, (raw.train - lo) / (hi - lo))
    torch.testing.assert_close(scaled.test, (raw.test - lo) / (hi - lo))
    assert scaled.train.min().item() == 0.0 and scaled.train.max().item() == 1.0
    with pytest.raises(ValueError, match="scale"):
        load_array(path, scale="zscore")


def test_npz_with_train_and_test_keys(tmp_path):
    rng = np.random.default_rng(2)
    train, test = rng.random((40, 3)), rng.random((7, 3))
    path = tmp_path / "splits.npz"
    np.savez(path, train=train, test=test)
    ds = load_array(path, validation_fraction=0.25)
    np.testing.assert_allclose(ds.test.numpy(), test.astype(np.float32))
    assert ds.validation.shape[0] == 10 and ds.train.shape[0] == 30
    both = torch.cat([ds.train, ds.validation]).numpy()
    np.testing.assert_allclose(np.sort(both, axis=0), np.sort(train, axis=0).astype(np.float32))

    full = tmp_path / "full.npz"
    np.savez(full, train=train, test=test, validation=rng.random((5, 3)))
    ds = load_array(full)
    assert ds.train.shape == (40, 3) and ds.validation.shape == (5, 3)
    np.testing.assert_allclose(ds.train.numpy(), train.astype(np.float32))


def test_npz_only_train_key_splits_it(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, train=np.random.default_rng(3).random((100, 2)))
    ds = load_array(path)
    assert (ds.train.shape[0], ds.test.shape[0], ds.validation.shape[0]) == (70, 20, 10)


def test_npz_key_selection(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "multi.npz"
    np.savez(path, images=rng.random((20, 2, 2)), labels=np.arange(20))
    with pytest.raises(ValueError) as info:
        load_array(path)
    assert "images" in str(info.value) and "labels" in str(info.value)
    ds = load_array(path, key="images")
    assert ds.dim == 4
    with pytest.raises(ValueError, match="nope"):
        load_array(path, key="nope")
    single = tmp_path / "single.npz"
    np.savez(single, data=rng.random((20, 3)))
    assert load_array(single).dim == 3


def test_load_array_bad_paths(tmp_path):
    missing = tmp_path / "absent.npy"
    with pytest.raises(FileNotFoundError, match="absent.npy"):
        load_array(missing)
    other = tmp_path / "data.csv"
    other.write_text("1,2\n")
    with pytest.raises(ValueError, match=r"\.csv"):
        load_array(other)


def test_load_array_nan_is_reported(tmp_path):
    x = np.ones((20, 3))
    x[4, 1] = np.nan
    path = tmp_path / "holes.npy"
    np.save(path, x)
    with pytest.raises(ValueError, match="NaN"):
        load_array(path)


# --------------------------------------------------------------------------- IDX


def test_read_idx_uint8_images_round_trip(tmp_path):
    imgs = np.random.default_rng(5).integers(0, 256, size=(6, 4, 3), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, imgs, 0x08)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (6, 4, 3)
    np.testing.assert_array_equal(out, imgs)


@pytest.mark.parametrize("compress, name", [(False, "values.idx"), (True, "values.idx.gz"), (True, "values.bin")])
def test_read_idx_float32_big_endian_and_gzip(tmp_path, compress, name):
    arr = np.array([[1.5, -2.25, 3.0], [1e-3, 0.0, -7.5]], dtype=np.float32)
    path = tmp_path / name
    write_idx(path, arr, 0x0D, compress=compress)
    out = read_idx(path)  # .bin + gzip: detected from magic bytes
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("code, dtype", [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0E, np.float64)])
def test_read_idx_other_dtypes(tmp_path, code, dtype):
    arr = np.array([[-3, 2], [1, 100]], dtype=dtype)
    path = tmp_path / "x.idx"
    write_idx(path, arr, code)
    out = read_idx(path)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, arr)


def test_read_idx_rejects_bad_files(tmp_path):
    bad_magic = tmp_path / "bad.idx"
    bad_magic.write_bytes(struct.pack(">BBBBI", 1, 0, 0x08, 1, 2) + b"\x00\x01")
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad_magic)
    bad_code = tmp_path / "code.idx"
    bad_code.write_bytes(struct.pack(">BBBBI", 0, 0, 0x07, 1, 2) + b"\x00\x01")
    with pytest.raises(ValueError, match="0x07"):
        read_idx(bad_code)
    short = tmp_path / "short.idx"
    short.write_bytes(struct.pack(">BBBBII", 0, 0, 0x08, 2, 3, 4) + bytes(11))
    with pytest.raises(ValueError, match=r"12 bytes.*11"):
        read_idx(short)
    long = tmp_path / "long.idx"
    long.write_bytes(struct.pack(">BBBBII", 0, 0, 0x08, 2, 3, 4) + bytes(13))
    with pytest.raises(ValueError, match="mismatch"):
        read_idx(long)
    with pytest.raises(FileNotFoundError, match="nothing.idx"):
        read_idx(tmp_path / "nothing.idx")


def test_load_idx_scales_flattens_and_splits(tmp_path):
    rng = np.random.default_rng(6)
    imgs = rng.integers(0, 256, size=(50, 4, 4), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, imgs, 0x08, compress=True)
    ds = load_idx(path, seed=0)
    assert ds.dim == 16
    assert (ds.train.shape[0], ds.test.shape[0], ds.validation.shape[0]) == (35, 10, 5)
    rows = torch.cat([ds.train, ds.test, ds.validation]).numpy()
    assert rows.min() >= 0.0 and rows.max() <= 1.0
    expected = imgs.reshape(50, 16).astype(np.float32) / 255
    np.testing.assert_allclose(np.sort(rows, axis=0), np.sort(expected, axis=0), rtol=1e-6)

    test_imgs = rng.integers(0, 256, size=(8, 4, 4), dtype=np.uint8)
    test_path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(test_path, test_imgs, 0x08)
    ds = load_idx(path, test_images_path=test_path, validation_fraction=0.2)
    np.testing.assert_allclose(ds.test.numpy(), test_imgs.reshape(8, 16) / 255, rtol=1e-6)
    assert ds.train.shape[0] == 40 and ds.validation.shape[0] == 10

    wrong = tmp_path / "wrong-idx3-ubyte"
    write_idx(wrong, rng.integers(0, 256, size=(8, 3, 3), dtype=np.uint8), 0x08)
    with pytest.raises(ValueError, match="expected 16.*got 9"):
        load_idx(path, test_images_path=wrong)


def test_load_idx_rejects_labels_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    write_idx(path, np.arange(10, dtype=np.uint8), 0x08)
    with pytest.raises(ValueError, match="1-D"):
        load_idx(path)


# --------------------------------------------------------------------------- load_dataset


def test_load_dataset_registry_and_paths(tmp_path):
    assert set(DATASETS) == {"binary_clustering", "digits"}
    ds = load_dataset("binary_clustering", **SMALL, seed=7)
    assert torch.equal(ds.train, binary_clustering(**SMALL, seed=7).train)

    npy = tmp_path / "x.npy"
    np.save(npy, np.random.default_rng(0).random((20, 3)))
    assert load_dataset(str(npy), seed=1).dim == 3
    npz = tmp_path / "x.npz"
    np.savez(npz, train=np.random.default_rng(0).random((20, 2)))
    assert load_dataset(str(npz)).dim == 2

    imgs = np.random.default_rng(1).integers(0, 256, size=(20, 2, 2), dtype=np.uint8)
    for name, compress in [("train-images-idx3-ubyte", False), ("train-images-idx3-ubyte.gz", True)]:
        write_idx(tmp_path / name, imgs, 0x08, compress=compress)
        assert load_dataset(str(tmp_path / name)).dim == 4


def test_load_dataset_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        load_dataset("mnist-please")
    msg = str(info.value)
    assert "mnist-please" in msg and "binary_clustering" in msg and "digits" in msg


# --------------------------------------------------------------------------- broken files are named


def test_broken_array_files_name_the_file_and_the_fault(tmp_path):
    good = np.random.default_rng(0).random((20, 3))
    buf = io.BytesIO()
    np.save(buf, good)
    with zipfile.ZipFile(tmp_path / "deflated.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", buf.getvalue())
    raw = bytearray((tmp_path / "deflated.npz").read_bytes())
    start = 30 + len("x.npy")  # the member's deflate stream follows its local header
    raw[start : start + 4] = b"\xff" * 4  # an invalid block type: zlib (not numpy or zipfile) complains
    (tmp_path / "corrupt.npz").write_bytes(bytes(raw))
    with zipfile.ZipFile(tmp_path / "text.npz", "w") as z:
        z.writestr("notes.txt", "hello")
    np.savez(tmp_path / "empty.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))  # needs pickle: refused
    np.save(tmp_path / "scalar.npy", np.float64(3.0))
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    holes = good.copy()
    holes[2, 1] = np.inf
    np.save(tmp_path / "holes.npy", holes)
    np.save(tmp_path / "tiny.npy", good[:2])
    cases = [
        ("corrupt.npz", ValueError, "cannot read data file", "invalid block type"),
        ("text.npz", ValueError, "member 'notes.txt' is not a NumPy array", ""),
        ("empty.npz", ValueError, "holds no arrays", ""),
        ("objects.npz", ValueError, "cannot read data file", "allow_pickle=False"),
        ("scalar.npy", ValueError, "is a scalar", ""),
        ("words.npy", ValueError, "must be a numeric array", "<U1"),
        ("holes.npy", ValueError, "non-finite values", "1 inf"),
        ("tiny.npy", ValueError, "of 2 rows", ""),
    ]
    for name, kind, fault, detail in cases:
        path = tmp_path / name
        with pytest.raises(kind) as info:
            load_array(path)
        msg = str(info.value)
        assert repr(str(path)) in msg and fault in msg and detail in msg, msg
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="folder, not a file.*folder.npz"):
        load_array(tmp_path / "folder.npz")


def test_broken_idx_files_name_the_path(tmp_path):
    imgs = np.random.default_rng(7).integers(0, 256, size=(20, 3, 3), dtype=np.uint8)
    good = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(good, imgs, 0x08, compress=True)
    raw = bytearray(good.read_bytes())
    raw[12:16] = b"\xff\xff\xff\xff"  # corrupt deflate stream: zlib.error, not OSError
    corrupt = tmp_path / "corrupt-idx3-ubyte.gz"
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(ValueError) as info:
        load_idx(corrupt)
    assert f"IDX file {str(corrupt)!r} is not a valid gzip file" in str(info.value)

    truncated = tmp_path / "cut-idx3-ubyte"
    write_idx(truncated, imgs, 0x08)
    truncated.write_bytes(truncated.read_bytes()[:-5])
    with pytest.raises(ValueError) as info:
        read_idx(truncated)
    assert f"IDX file {str(truncated)!r} data length mismatch (truncated)" in str(info.value)

    floats = tmp_path / "floats.idx"
    bad = imgs.astype(np.float32)
    bad[0, 0, 0] = np.nan
    write_idx(floats, bad, 0x0D)
    with pytest.raises(ValueError, match=f"IDX file '{floats}' has non-finite values: 1 NaN"):
        load_idx(floats)

    wrong = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(wrong, imgs[:, :2, :2], 0x08)
    with pytest.raises(ValueError) as info:
        load_idx(good, test_images_path=wrong)
    assert str(info.value).startswith(f"IDX file {str(wrong)!r} has the wrong image size: expected 9")
