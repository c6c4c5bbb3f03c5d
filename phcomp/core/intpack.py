"""Integer arrays and raw bytes as zstd frames, with sizes checked before anything is allocated.

Used for the side streams of a chunk (escape values, positions of non-finite values and
exceptions, residual tables) and for lossless payloads.
"""
from __future__ import annotations

import threading

import numpy as np
import zstandard

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError

ZSTD_LEVEL = 3
_WIDTHS = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


# One compressor and decompressor per thread, kept: making one costs more than coding a small
# frame (libzstd probes the CPU with `cpuid`, which virtual machines trap), and a zstandard
# object must not be used by two threads at once.
_tls = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    kept = getattr(_tls, "compressors", None)
    if kept is None:
        kept = _tls.compressors = {}
    c = kept.get(level)
    if c is None:
        # content size in the frame lets the reader check it before allocating
        c = kept[level] = zstandard.ZstdCompressor(level=level, write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_tls, "decompressor", None)
    if d is None:
        d = _tls.decompressor = zstandard.ZstdDecompressor()
    return d


def zstd_compress(data: bytes, level: int = ZSTD_LEVEL) -> bytes:
    return _compressor(level).compress(data)


# A zstd block holds at most 128 KiB and takes at least 4 bytes (3-byte header + 1 RLE byte):
# a frame of n bytes cannot decode to more than this, whatever its header says.
ZSTD_BLOCK_MAX = 128 << 10


def zstd_content_size(data: bytes, what: str = "stream") -> int:
    """The content size a zstd frame declares, refused when the frame cannot hold it."""
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as e:
        raise PhcompError(f"corrupt {what}: {e}") from None
    if size < 0 or size > (len(data) // 4 + 1) * ZSTD_BLOCK_MAX:
        raise PhcompError(f"corrupt {what}: zstd frame of {len(data)} bytes declares {size} bytes of content")
    return size


def zstd_decompress(data: bytes, expected_size: int, what: str = "stream") -> bytes:
    size = zstd_content_size(data, what)
    if size != expected_size:
        raise PhcompError(f"corrupt {what}: frame holds {size} bytes, expected {expected_size}")
    try:
        out = _decompressor().decompress(data, max_output_size=expected_size)
    except zstandard.ZstdError as e:
        raise PhcompError(f"corrupt {what}: {e}") from None
    if len(out) != expected_size:
        raise PhcompError(f"corrupt {what}: decoded {len(out)} bytes, expected {expected_size}")
    return out


def pack_ints(w: ByteWriter, values: np.ndarray) -> None:
    """Write a 1-D integer array: u8 width, u64 count, blob(zstd of little-endian ints)."""
    v = np.asarray(values, dtype=np.int64).ravel()
    width = 1
    if v.size:
        lo, hi = int(v.min()), int(v.max())
        for width in (1, 2, 4, 8):
            info = np.iinfo(_WIDTHS[width])
            if info.min <= lo and hi <= info.max:
                break
    w.u8(width)
    w.u64(v.size)
    w.blob(zstd_compress(v.astype(np.dtype(_WIDTHS[width]).newbyteorder("<")).tobytes()))


def unpack_ints(r: ByteReader, max_count: int, what: str = "integer stream") -> np.ndarray:
    width = r.u8()
    if width not in _WIDTHS:
        raise PhcompError(f"corrupt {what}: bad integer width {width}")
    count = r.u64()
    if count > max_count:
        raise PhcompError(f"corrupt {what}: {count} values declared, at most {max_count} possible")
    raw = zstd_decompress(r.blob(), count * width, what)
    return np.frombuffer(raw, dtype=np.dtype(_WIDTHS[width]).newbyteorder("<")).astype(np.int64)


def delta_encode_positions(pos: np.ndarray) -> np.ndarray:
    """Sorted positions -> gaps (first value kept), small numbers for zstd."""
    pos = np.asarray(pos, dtype=np.int64)
    return np.diff(pos, prepend=0) if pos.size else pos


def delta_decode_positions(gaps: np.ndarray, limit: int, what: str) -> np.ndarray:
    """Inverse of delta_encode_positions; positions must be strictly increasing and < limit."""
    if gaps.size == 0:
        return gaps
    if gaps[0] < 0 or gaps.max() >= limit or (gaps.size > 1 and gaps[1:].min() <= 0):
        raise PhcompError(f"corrupt {what}: positions not increasing")
    pos = np.cumsum(gaps)
    if pos[-1] >= limit:
        raise PhcompError(f"corrupt {what}: position {pos[-1]} outside array of {limit} values")
    return pos
