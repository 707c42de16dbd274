"""Reader for the IDX format of MNIST-style data sets (raw or gzip-compressed).

Layout: 2 zero bytes, a type code (0x08 unsigned byte ... 0x0E double), the number of
dimensions d, then d big-endian uint32 sizes, then the data in C order. The reader checks
all of it and refuses a short or long file instead of returning a short array.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from adlab.core.errors import DataCorruptError, DataMissingError

# IDX type code -> numpy dtype (big-endian for multi-byte types)
IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed if it is gzip; a broken gzip stream is a :class:`DataCorruptError`."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataCorruptError(f"{path}: damaged gzip stream ({e}); fetch the file again") from None
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into an array, validating magic number, dimensions and length."""
    if len(data) < 4:
        raise DataCorruptError(f"{name}: {len(data)} bytes is too short for an IDX header (needs at least 4)")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataCorruptError(f"{name}: bad IDX magic number {data[:4].hex()} (expected 0000 + type code 08..0e + ndim)")
    ndim = data[3]
    if ndim == 0:
        raise DataCorruptError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataCorruptError(f"{name}: truncated IDX header ({len(data)} bytes, needs {header} for {ndim} dimensions)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[data[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise DataCorruptError(f"{name}: {what}: dimensions {dims} need {expected} bytes, the file has {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a numpy array."""
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"{path}: no such IDX file")
    return parse_idx(read_bytes(path), str(path))
