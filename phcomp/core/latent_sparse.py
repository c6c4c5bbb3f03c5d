"""Sparse latent coder: index-difference coding as in the sparse L1-autoencoder paper.

Per block, the number of nonzero latents; then, for all blocks, the gaps between successive
nonzero channel indices (first index, then index - previous - 1); then the nonzero values
(zigzagged without zero). Three model tables per ladder level; an all-zero block costs one
highly probable "0" count. Section body: i8 level; the range-coded stream.
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .rangecoder import Encoder, read_stream, write_stream
from .tables import LEVEL_MAX, LEVEL_MIN, LatentTables, index_gaps, level_and_shift, unzigzag_nonzero, zigzag_nonzero


def encode(w: ByteWriter, q: np.ndarray, step: float, tables: LatentTables) -> None:
    level, _ = level_and_shift(tables.sigma_all, step)
    t_count, t_gap, t_val = tables.sparse(level)
    w.i8(level)
    nz = q != 0
    rows, cols = np.nonzero(nz)
    enc = Encoder()
    enc.encode(nz.sum(axis=1), t_count)
    enc.encode(index_gaps(rows, cols), t_gap)
    enc.encode(zigzag_nonzero(q[rows, cols].astype(np.int64)), t_val)
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
    nnz = int(counts.sum())
    gaps = dec.decode(nnz, t_gap)
    vals = dec.decode(nnz, t_val)
    dec.finish()
    if nnz and (gaps.min() < 0 or vals.min() < 0):
        raise PhcompError("corrupt latent section: negative gap or value")
    rows = np.repeat(np.arange(nblocks), counts)
    steps = gaps + 1
    csum = np.cumsum(steps)
    # subtract the running sum at each row start so that positions restart per block
    starts = np.cumsum(counts) - counts
    base = np.repeat(np.concatenate([[0], csum])[starts], counts)
    cols = csum - base - 1
    if nnz and cols.max() >= k:
        raise PhcompError("corrupt latent section: latent index out of range")
    q = np.zeros((nblocks, k), np.int64)
    q[rows, cols] = unzigzag_nonzero(vals)
    return q
