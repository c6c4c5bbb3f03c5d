"""Sparse latent coder: index-difference coding as in the sparse L1-autoencoder paper.

Per block, the number of nonzero latents; then, for all blocks, the gaps between successive
nonzero channel indices (first index, then index - previous - 1); then the nonzero values
(zigzagged without zero: +1, -1, +2, -2, ... -> 0, 1, 2, 3, ...). Three model tables per ladder
level; an all-zero block costs one highly probable "0" count. Section body: i8 level, then
the range-coded stream (counts, gaps, values).
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .rangecoder import PIECE, Encoder, read_stream, write_stream
from .tables import LEVEL_MAX, LEVEL_MIN, LatentTables, index_gaps, level_and_shift, unzigzag_nonzero, zigzag_nonzero


def _pieces(nblocks: int, k: int):
    rows = max(1, PIECE // max(k, 1))
    for r in range(0, nblocks, rows):
        yield r, min(nblocks, r + rows)


def encode(w: ByteWriter, q: np.ndarray, step: float, tables: LatentTables) -> None:
    level, _ = level_and_shift(tables.sigma_all, step)
    t_count, t_gap, t_val = tables.sparse(level)
    w.i8(level)
    enc = Encoder()
    n, k = q.shape
    for r0, r1 in _pieces(n, k):
        enc.encode(np.count_nonzero(q[r0:r1], axis=1), t_count)
    for r0, r1 in _pieces(n, k):
        rows, cols = np.nonzero(q[r0:r1])
        enc.encode(index_gaps(rows, cols), t_gap)
    for r0, r1 in _pieces(n, k):
        part = q[r0:r1]
        enc.encode(zigzag_nonzero(part[part != 0].astype(np.int64)), t_val)
    write_stream(w, enc)


def decode(r: ByteReader, nblocks: int, k: int, tables: LatentTables) -> np.ndarray:
    level = r.i8()
    if not (LEVEL_MIN <= level <= LEVEL_MAX):
        raise PhcompError("corrupt latent section: bad table level")
    t_count, t_gap, t_val = tables.sparse(level)
    dec = read_stream(r, 2 * nblocks * k + nblocks)
    counts = dec.decode(nblocks, t_count)
    if counts.size and (counts.min() < 0 or counts.max() > k):
        raise PhcompError("corrupt latent section: impossible nonzero count")
    ends = np.cumsum(counts)
    nnz = int(ends[-1]) if nblocks else 0
    # gaps are < k <= 2**16 when valid; anything else is caught below
    gaps = dec.decode(nnz, t_gap, out=np.empty(nnz, np.int32))
    if nnz and (gaps.min() < 0 or gaps.max() >= k):
        raise PhcompError("corrupt latent section: impossible gap")
    q = np.zeros((nblocks, k), np.int32)
    for r0, r1 in _pieces(nblocks, k):
        c = counts[r0:r1]
        g0 = int(ends[r0 - 1]) if r0 else 0
        g1 = int(ends[r1 - 1])
        vals = dec.decode(g1 - g0, t_val)
        if vals.size and (vals.min() < 0 or vals.max() >= 2**32):
            raise PhcompError("corrupt latent section: impossible value")
        steps = gaps[g0:g1].astype(np.int64) + 1
        csum = np.cumsum(steps)
        starts = np.cumsum(c) - c
        base = np.repeat(np.concatenate([[0], csum])[starts], c)
        cols = csum - base - 1
        if cols.size and cols.max() >= k:
            raise PhcompError("corrupt latent section: latent index out of range")
        rows = np.repeat(np.arange(r0, r1), c)
        q[rows, cols] = unzigzag_nonzero(vals)
    dec.finish()
    return q
