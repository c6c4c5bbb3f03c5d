"""Residual of the error-bounded mode: integers q = round((x - x_hat) / (2 eps)).

They are close to white quantisation noise (mostly 0, +-1), so one categorical table fitted
on the chunk itself, stored in the section, beats context models (see CALIBRATION.md). Two
codings, each its own section kind: zero runs (``residual_runs``, kind 7) when nearly all
values are 0 and +-1, else four values per symbol (``rangecoder.encode_quads``, kind 2).

Quad section body (kind 2): pack_ints(table frequencies over -R..R plus escape), u32 radius R,
then the range-coded stream of encode_quads.
"""
from __future__ import annotations

import numpy as np

from . import residual_runs
from .bytes_io import ByteReader, ByteWriter
from .chunk import SEC_RESIDUAL, SEC_RESIDUAL_RUNS
from .errors import PhcompError
from .intpack import pack_ints, unpack_ints
from .rangecoder import PIECE, Encoder, FreqTable, decode_quads, encode_quads, read_stream, write_stream

MAX_RADIUS = 512
QR_LIMIT = 1 << 30  # larger residuals are stored as exceptions


def encode_residual(qr: np.ndarray) -> tuple[int, bytes]:
    """(section kind, body) of the residual integers."""
    counts = residual_runs.value_counts(qr)
    if residual_runs.suits(counts):
        return SEC_RESIDUAL_RUNS, residual_runs.encode(qr, counts)
    return SEC_RESIDUAL, _encode_quads(qr)


def decode_residual(kind: int, data: bytes, n: int) -> np.ndarray:
    if kind == SEC_RESIDUAL_RUNS:
        return residual_runs.decode(data, n, QR_LIMIT)
    return _decode_quads(data, n)


def _encode_quads(qr: np.ndarray) -> bytes:
    radius = 0
    for i in range(0, qr.size, PIECE):
        part = qr[i : i + PIECE]
        radius = max(radius, int(part.max()), -int(part.min()))
    radius = min(radius, MAX_RADIUS)
    single = FreqTable.fit(qr, -radius, radius)
    w = ByteWriter()
    pack_ints(w, single.freq)
    w.u32(radius)
    enc = Encoder()
    encode_quads(enc, qr, single)
    write_stream(w, enc)
    return w.getvalue()


def _decode_quads(data: bytes, n: int) -> np.ndarray:
    r = ByteReader(data, "residual section")
    freq = unpack_ints(r, 2 * MAX_RADIUS + 2, "residual table")
    radius = r.u32()
    if radius > MAX_RADIUS or freq.size != 2 * radius + 2:
        raise PhcompError("corrupt residual section: bad table")
    single = FreqTable(freq.astype(np.uint32), -radius)
    single.validate()
    dec = read_stream(r, 2 * n + 8)  # an escaped quad takes one entry, each of its values may take another
    out = decode_quads(dec, n, single, np.int32)
    dec.finish()
    r.expect_end()
    if out.size and max(int(out.max()), -int(out.min())) >= QR_LIMIT:
        raise PhcompError("corrupt residual section: value out of range")
    return out
