"""Sparse point lists: positions (delta-coded, zstd) and their exact values (raw bytes, zstd).

Used for non-finite values (NaN payloads and infinities kept bit for bit) and for the
"exceptions": values whose reconstruction would break the bound, stored verbatim.
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .intpack import delta_decode_positions, delta_encode_positions, pack_ints, unpack_ints, zstd_compress, zstd_decompress


def encode_points(positions: np.ndarray, values: np.ndarray) -> bytes:
    w = ByteWriter()
    pack_ints(w, delta_encode_positions(positions))
    v = np.asarray(values)
    # little-endian whatever the input's order (a big-endian array's exceptions decode right)
    w.blob(zstd_compress(np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")).tobytes()))
    return w.getvalue()


def decode_points(data: bytes, limit: int, dtype: np.dtype, what: str) -> tuple[np.ndarray, np.ndarray]:
    r = ByteReader(data, what)
    pos = delta_decode_positions(unpack_ints(r, limit, what), limit, what)
    raw = zstd_decompress(r.blob(), pos.size * dtype.itemsize, what)
    r.expect_end()
    return pos, np.frombuffer(raw, dtype=dtype)
