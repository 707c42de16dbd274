import gzip
import struct

import numpy as np
import pytest

from adlab.core.errors import DataCorruptError, DataMissingError
from adlab.data.idx import parse_idx, read_idx


def _idx(arr: np.ndarray, code: int = 0x08) -> bytes:
    dt = {0x08: ">u1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    return bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.astype(dt).tobytes()


@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)])
def test_roundtrip_all_types(tmp_path, code, dtype):
    arr = (np.arange(2 * 3 * 4) % 100).reshape(2, 3, 4).astype(dtype)
    raw = _idx(arr, code)
    assert np.array_equal(parse_idx(raw), arr)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a").write_bytes(raw)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr) and np.array_equal(read_idx(tmp_path / "a"), arr)


def test_truncated_file_is_refused_not_short_read():
    raw = _idx(np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(DataCorruptError, match="truncated.*7856.*7855"):
        parse_idx(raw[:-1], "x")
    with pytest.raises(DataCorruptError, match="too long"):
        parse_idx(raw + b"\x00", "x")
    with pytest.raises(DataCorruptError, match="header"):
        parse_idx(raw[:9], "x")


@pytest.mark.parametrize("header", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00"])
def test_wrong_magic(header):
    with pytest.raises(DataCorruptError):
        parse_idx(header + b"\x00" * 8, "bad")


def test_broken_gzip_and_missing_file(tmp_path):
    blob = gzip.compress(_idx(np.zeros(100, np.uint8)))
    (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataCorruptError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DataMissingError):
        read_idx(tmp_path / "nope")
