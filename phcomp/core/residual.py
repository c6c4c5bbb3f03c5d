"""Residual stream of the error-bounded mode: integers q = round((x - x_hat) / (2 eps)).

They are close to white quantisation noise (mostly 0, +-1), so one categorical table fitted
on the chunk itself, stored in the section, beats context models (see CALIBRATION.md).
Section body: pack_ints(table frequencies over -R..R plus escape), u32 radius R,
then the range-coded stream.
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .intpack import pack_ints, unpack_ints
from .rangecoder import Encoder, FreqTable, read_stream, write_stream

MAX_RADIUS = 512
QR_LIMIT = 1 << 30  # larger residuals are stored as exceptions


def encode_residual(qr: np.ndarray) -> bytes:
    radius = int(min(np.abs(qr).max(), MAX_RADIUS)) if qr.size else 0
    table = FreqTable.fit(qr, -radius, radius)
    w = ByteWriter()
    pack_ints(w, table.freq)
    w.u32(radius)
    enc = Encoder()
    enc.encode(qr, table)
    write_stream(w, enc)
    return w.getvalue()


def decode_residual(data: bytes, n: int) -> np.ndarray:
    r = ByteReader(data, "residual section")
    freq = unpack_ints(r, 2 * MAX_RADIUS + 2, "residual table")
    radius = r.u32()
    if radius > MAX_RADIUS or freq.size != 2 * radius + 2:
        raise PhcompError("corrupt residual section: bad table")
    table = FreqTable(freq.astype(np.uint32), -radius)
    table.validate()
    dec = read_stream(r, n)
    qr = dec.decode(n, table)
    dec.finish()
    r.expect_end()
    if qr.size and np.abs(qr).max() >= QR_LIMIT:
        raise PhcompError("corrupt residual section: value out of range")
    return qr
