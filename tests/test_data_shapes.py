"""Data with shaped rows: vectors, sequences and images through the loaders, splits and checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evoprune.data import Dataset, check_data, check_row_shape, digits, load_dataset
from evoprune.data.files import check_shape, load_array, load_idx

from .test_data import write_idx


def test_check_row_shape_names_both_shapes():
    check_row_shape((1, 8, 8), (1, 8, 8))
    with pytest.raises(ValueError, match=r"data rows have shape \(64,\) but the architecture takes \(1, 8, 8\)"):
        check_row_shape((64,), (1, 8, 8))
    with pytest.raises(ValueError, match=r"training data rows have shape \(41,\) but the architecture takes "
                                         r"\(40,\) \(wrong width: expected 40 features, got 41\)"):
        check_row_shape([41], [40], "training data")


def test_check_data_shaped_rows():
    x = np.random.default_rng(0).random((5, 2, 3, 4))
    with pytest.raises(ValueError, match="must be 2-D"):
        check_data(x)
    t = check_data(x, shaped=True, dim=(2, 3, 4))
    assert t.shape == (5, 2, 3, 4) and t.dtype == torch.float32
    with pytest.raises(ValueError, match=r"rows have shape \(2, 3, 4\) but the architecture takes \(24,\)"):
        check_data(t, shaped=True, dim=24)  # checked once already: the shape is still compared
    bad = x.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        check_data(bad, "images", shaped=True)
    with pytest.raises(ValueError, match="at least 2-D"):
        check_data(np.zeros(3), shaped=True)


def test_dataset_of_images():
    rng = np.random.default_rng(0)
    ds = Dataset("img", rng.random((6, 1, 4, 3)), rng.random((2, 1, 4, 3)), rng.random((3, 1, 4, 3)))
    assert ds.shape == (1, 4, 3) and ds.dim == 12
    assert "shape=(1, 4, 3)" in repr(ds)
    flat = ds.flatten()
    assert flat.shape == (12,) and flat.train.shape == (6, 12) and torch.equal(flat.train, ds.train.reshape(6, 12))
    assert flat.flatten() is flat
    with pytest.raises(ValueError, match=r"img test has the wrong width: expected rows of shape \(1, 4, 3\)"):
        Dataset("img", rng.random((6, 1, 4, 3)), rng.random((2, 12)), rng.random((3, 1, 4, 3)))


def test_digits_as_images_same_values_and_split():
    pytest.importorskip("sklearn.datasets")
    flat, images = digits(seed=3), digits(seed=3, images=True)
    assert flat.shape == (64,) and images.shape == (1, 8, 8)
    for split in ("train", "test", "validation"):
        a, b = getattr(flat, split), getattr(images, split)
        assert b.shape == (len(a), 1, 8, 8) and torch.equal(b.reshape(len(a), 64), a)
    assert load_dataset("digits", images=True).shape == (1, 8, 8)
    with pytest.raises(ValueError, match="images must be true or false"):
        digits(images="yes")


def test_npy_keeps_or_reshapes_rows(tmp_path):
    x = np.arange(40 * 2 * 6, dtype=np.uint8).reshape(40, 2, 6)
    path = tmp_path / "seq.npy"
    np.save(path, x)
    assert load_array(path).shape == (12,)  # the default: flat, as before
    kept = load_array(path, shape="keep")
    assert kept.shape == (2, 6) and len(kept.train) + len(kept.test) + len(kept.validation) == 40
    same = load_array(path)
    assert torch.equal(kept.train.reshape(len(kept.train), -1), same.train)  # the same split either way
    images = load_dataset(path, shape=[1, 3, 4], scale="minmax")  # a list, as a study file gives it
    assert images.shape == (1, 3, 4)
    assert float(images.train.min()) == 0.0 and float(images.train.max()) == 1.0
    with pytest.raises(ValueError, match=r"seq.npy.*rows of shape \(2, 6\) \(12 values\) cannot take shape \(5,\)"):
        load_array(path, shape=(5,))
    with pytest.raises(ValueError, match="shape must be None"):
        load_array(path, shape="flat")


def test_npz_splits_keep_shape_and_must_agree(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "splits.npz"
    np.savez(path, train=rng.random((30, 1, 5)), test=rng.random((8, 1, 5)))
    ds = load_array(path, shape="keep")
    assert ds.shape == (1, 5) and ds.test.shape == (8, 1, 5) and ds.validation.shape == (3, 1, 5)
    bad = tmp_path / "bad.npz"
    np.savez(bad, train=rng.random((30, 1, 5)), test=rng.random((8, 5)))
    with pytest.raises(ValueError, match=r"bad.npz.*test has the wrong width: expected rows of shape \(1, 5\)"):
        load_array(bad, shape="keep")
    nan = tmp_path / "nan.npz"
    values = rng.random((30, 2, 2))
    values[4, 1, 1] = np.nan
    np.savez(nan, train=values)
    with pytest.raises(ValueError, match="nan.npz.*1 NaN"):
        load_array(nan, shape="keep")


def test_idx_images_keep_shape(tmp_path):
    imgs = np.random.default_rng(2).integers(0, 256, size=(20, 4, 3), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, imgs, 0x08)
    assert load_idx(path).shape == (12,)
    assert load_idx(path, shape="keep").shape == (4, 3)
    ds = load_dataset(path, shape=(1, 4, 3))
    assert ds.shape == (1, 4, 3) and float(ds.train.max()) <= 1.0
    test = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(test, imgs[:5, :2, :2], 0x08)
    with pytest.raises(ValueError, match=r"wrong image size: expected images of shape \(4, 3\)"):
        load_idx(path, test_images_path=test, shape="keep")


@pytest.mark.parametrize("bad", [(0, 3), (), "Keep", (1.5, 2), [True, 2]])
def test_check_shape_rejects(bad):
    with pytest.raises(ValueError, match="shape must be"):
        check_shape(bad)
