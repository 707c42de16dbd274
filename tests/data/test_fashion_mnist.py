import gzip
import shutil

import numpy as np
import pytest

from adlab.core.errors import DataCorruptError, DataMissingError
from adlab.data import fashion_mnist, require


def test_real_files_load_with_expected_shapes_and_balance():
    x, y = fashion_mnist.load("train")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [6000] * 10
    xt, yt = fashion_mnist.load("test")
    assert xt.shape == (10000, 28, 28) and np.bincount(yt).tolist() == [1000] * 10
    # pixel statistics used for standardisation in the experiments
    assert abs(x.mean() / 255 - 0.2860) < 1e-3 and abs(x.std() / 255 - 0.3530) < 1e-3


def test_missing_data_names_the_fetch_command(empty_data_home):
    with pytest.raises(DataMissingError, match="adlab data fetch fashion-mnist"):
        fashion_mnist.load("train")
    with pytest.raises(DataMissingError, match="adlab data fetch fashion-mnist"):
        require("fashion-mnist")


def test_checksum_mismatch_is_refused(empty_data_home):
    real = fashion_mnist.FILES
    dest = empty_data_home / "fashion-mnist"
    dest.mkdir()
    # valid IDX structure, right size, wrong content: one label changed
    labels = bytearray(gzip.decompress(open(_real_path("t10k-labels-idx1-ubyte"), "rb").read()))
    labels[100] = (labels[100] + 1) % 10
    for stem in real:
        if stem != "t10k-labels-idx1-ubyte":
            shutil.copy(_real_path(stem), dest / f"{stem}.gz")
    (dest / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    assert fashion_mnist.locate() == dest
    with pytest.raises(DataCorruptError, match="SHA-256 mismatch"):
        fashion_mnist.load("test")


REAL = fashion_mnist.locate()  # found before any fixture hides it


def _real_path(stem):
    if REAL is None:
        pytest.fail("Fashion-MNIST must be installed for the tests (make data)")
    return fashion_mnist._find(stem, [REAL])


def test_idx_pair_reader_checks_lengths(tmp_path):
    x, y = fashion_mnist.load_idx_pair(_real_path("t10k-images-idx3-ubyte"), _real_path("t10k-labels-idx1-ubyte"))
    assert len(x) == len(y) == 10000
    with pytest.raises(DataCorruptError):
        fashion_mnist.load_idx_pair(_real_path("t10k-labels-idx1-ubyte"), _real_path("t10k-labels-idx1-ubyte"))
