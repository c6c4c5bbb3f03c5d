"""Dense latent coder: model tables per group of latent channels (ranked by variance) and
per activity context.

A block's context for group g is its activity, the sum of |q| over the channels below the
group (already decoded), binned by the model's edges for that group and level (shifted
right by ``shift`` bits). Section body: u16 ngroups; per group i8 level, u8 shift; then the
range-coded stream. For each group, in order: for each context c, the high parts
``(q + h) >> shift`` (h = 2**(shift-1)) of the group's values in the blocks of context c
(block-major), with table (group, level, c) -- four values per symbol (``encode_quads``)
when shift is 0 and level <= QUAD_LEVEL_MAX (mostly zeros); then the ``shift`` low bits
``q - (hi << shift) + h`` of all the group's values (block-major), uniform.
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .rangecoder import PIECE, Encoder, decode_quads, encode_quads, read_stream, write_stream
from .tables import LEVEL_MAX, LEVEL_MIN, QUAD_LEVEL_MAX, LatentTables, context_of, level_and_shift


def _row_pieces(nrows: int, width: int):
    rows = max(1, PIECE // max(width, 1))
    for r in range(0, nrows, rows):
        yield r, min(nrows, r + rows)


def _split(v: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    h = 1 << (shift - 1)
    hi = (v + h) >> shift
    return hi, v - (hi << shift) + h


LEVEL_SEARCH = 2  # the encoder tries levels within +-2 of the nominal one and keeps the cheapest


def _choose_level(q: np.ndarray, a: int, b: int, act: np.ndarray, g: int, step: float, tables: LatentTables) -> tuple[int, int]:
    """Nominal level from the model's sigma, then the cheapest neighbour on this chunk's data."""
    level, shift = level_and_shift(tables.sigma[g], step)
    cands = range(max(LEVEL_MIN, level - LEVEL_SEARCH), min(LEVEL_MAX, level + LEVEL_SEARCH) + 1)
    cost = dict.fromkeys(cands, 0.0)
    for r0, r1 in _row_pieces(len(q), b - a):
        v = q[r0:r1, a:b].astype(np.int64)
        if shift:
            v = _split(v, shift)[0]
        for cand in cands:
            ctx = context_of(act[r0:r1], tables.edges(g, cand), shift)
            cost[cand] += sum(tables.dense(g, cand, c).cost_bits(v[ctx == c]) for c in range(tables.contexts))
    return min(cands, key=lambda c: (cost[c], abs(c - level))), shift


def _runs(act: np.ndarray, tables: LatentTables, g: int, level: int, shift: int):
    """Stream order of group g's high parts: one run of blocks per activity context, with its table."""
    ctx = context_of(act, tables.edges(g, level), shift)
    for c in range(tables.contexts):
        yield np.flatnonzero(ctx == c), tables.dense(g, level, c)


def _quads(level: int, shift: int) -> bool:
    return shift == 0 and level <= QUAD_LEVEL_MAX


def encode(w: ByteWriter, q: np.ndarray, step: float, tables: LatentTables) -> None:
    enc = Encoder()
    e = tables.group_edges
    plan = []
    act = np.zeros(len(q), np.int64)
    for g in range(tables.ngroups):  # levels depend on the activity of the groups below
        plan.append(_choose_level(q, e[g], e[g + 1], act, g, step, tables))
        _add_activity(act, q, e[g], e[g + 1])
    w.u16(tables.ngroups)
    for level, shift in plan:
        w.i8(level)
        w.u8(shift)
    act = np.zeros(len(q), np.int64)
    for g, (level, shift) in enumerate(plan):
        a, b = e[g], e[g + 1]
        for rows, table in _runs(act, tables, g, level, shift):
            if _quads(level, shift):
                encode_quads(enc, q[rows, a:b], table)
                continue
            for r0, r1 in _row_pieces(rows.size, b - a):
                v = q[rows[r0:r1], a:b].astype(np.int64)
                enc.encode(_split(v, shift)[0] if shift else v, table)
        _add_activity(act, q, a, b)
        if shift:
            for r0, r1 in _row_pieces(len(q), b - a):
                enc.encode_uniform(_split(q[r0:r1, a:b].astype(np.int64), shift)[1], shift)
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
    q = np.empty((nblocks, k), np.int32)
    act = np.zeros(nblocks, np.int64)
    for g, (level, shift) in enumerate(plan):
        a, b = e[g], e[g + 1]
        for rows, table in _runs(act, tables, g, level, shift):
            if _quads(level, shift):
                q[rows, a:b] = decode_quads(dec, rows.size * (b - a), table).reshape(rows.size, b - a)
                continue
            for r0, r1 in _row_pieces(rows.size, b - a):
                n = (r1 - r0) * (b - a)
                hi = dec.decode(n, table, out=np.empty(n, np.int64 if shift else np.int32))
                q[rows[r0:r1], a:b] = hi.reshape(r1 - r0, b - a)
        if shift:
            for r0, r1 in _row_pieces(nblocks, b - a):
                lo = dec.decode_uniform((r1 - r0) * (b - a), shift).reshape(r1 - r0, b - a)
                v = (q[r0:r1, a:b].astype(np.int64) << shift) + lo - (1 << (shift - 1))
                if np.abs(v).max() >= 2**31:
                    raise PhcompError("corrupt latent section: latent value out of range")
                q[r0:r1, a:b] = v
        _add_activity(act, q, a, b)
    dec.finish()
    return q


def _add_activity(act: np.ndarray, q: np.ndarray, a: int, b: int) -> None:
    """act += sum |q| over channels [a, b) (the next group's context variable), in pieces."""
    for r0, r1 in _row_pieces(len(q), b - a):
        act[r0:r1] += np.abs(q[r0:r1, a:b].astype(np.int64)).sum(axis=1)
