"""Dense latent coder: one model table per group of latent channels (ranked by variance).

Section body: u16 ngroups; per group i8 level, u8 shift; then the range-coded stream. For
each group, in order, the high parts ``(q + h) >> shift`` of all its values (block-major)
with the group's table at that level, then the ``shift`` low bits of each value, uniform.
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .rangecoder import Encoder, read_stream, write_stream
from .tables import LEVEL_MAX, LEVEL_MIN, LatentTables, level_and_shift


def encode(w: ByteWriter, q: np.ndarray, step: float, tables: LatentTables) -> None:
    enc = Encoder()
    w.u16(tables.ngroups)
    plan = []
    for g in range(tables.ngroups):
        level, shift = level_and_shift(tables.sigma[g], step)
        w.i8(level)
        w.u8(shift)
        plan.append((level, shift))
    e = tables.group_edges
    for g, (level, shift) in enumerate(plan):
        v = q[:, e[g] : e[g + 1]].astype(np.int64).ravel()
        if shift:
            h = 1 << (shift - 1)
            hi = (v + h) >> shift
            enc.encode(hi, tables.dense(g, level))
            enc.encode_uniform(v - (hi << shift) + h, shift)
        else:
            enc.encode(v, tables.dense(g, level))
    write_stream(w, enc)


def decode(r: ByteReader, nblocks: int, tables: LatentTables) -> np.ndarray:
    ngroups = r.u16()
    if ngroups != tables.ngroups:
        raise PhcompError(f"corrupt latent section: {ngroups} groups, model has {tables.ngroups}")
    plan = []
    for _ in range(ngroups):
        level, shift = r.i8(), r.u8()
        if not (LEVEL_MIN <= level <= LEVEL_MAX) or shift > 20:
            raise PhcompError("corrupt latent section: bad table level")
        plan.append((level, shift))
    e = tables.group_edges
    k = e[-1]
    dec = read_stream(r, nblocks * k)
    q = np.empty((nblocks, k), np.int64)
    for g, (level, shift) in enumerate(plan):
        n = nblocks * (e[g + 1] - e[g])
        hi = dec.decode(n, tables.dense(g, level))
        if shift:
            lo = dec.decode_uniform(n, shift)
            hi = (hi << shift) + lo - (1 << (shift - 1))
        q[:, e[g] : e[g + 1]] = hi.reshape(nblocks, -1)
    dec.finish()
    return q
