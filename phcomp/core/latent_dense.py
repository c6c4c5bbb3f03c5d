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

With ``ends`` (coder "dense-ends"), the section also stores, after the levels, each block's
*end*: the number of leading groups up to its last nonzero one (packed ints: the end table's
frequencies over 0..G plus escape), and the stream begins with the ends of all blocks (that
table). Group g is then coded only for the blocks whose end is above g; the others are zero.
On smooth data most blocks end early, so fewer symbols are coded and decoded.

With ``planes`` (coder "dense-planes"; implies ends), each group also has a mode byte: 0 codes
it as above, 1, 2 or 4 stores its values instead as zigzagged unsigned integers of that many
bytes, split into byte planes (all lowest bytes first) and compressed as one zstd frame after
the range-coded stream. The encoder takes, for each group, whichever is smaller (the range
coder's side by its ideal code length, good to about 0.1 %). Wide groups
(many bits per value) gain most: zstd's Huffman stage decodes them far faster than one range
coder step per value, at about the same size, and smaller where blocks repeat each other
(e.g. the slices of a volume read by a 2-D model).
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .intpack import pack_ints, unpack_ints, zstd_compress, zstd_decompress
from .rangecoder import PIECE, Encoder, FreqTable, decode_quads, encode_quads, read_stream, write_stream
from .tables import LEVEL_MAX, LEVEL_MIN, QUAD_LEVEL_MAX, LatentTables, context_of, level_and_shift


def _row_pieces(nrows: int, width: int):
    rows = max(1, PIECE // max(width, 1))
    for r in range(0, nrows, rows):
        yield r, min(nrows, r + rows)


def _rows(sel: np.ndarray, r0: int, r1: int, n: int):
    """Rows r0:r1 of the selection ``sel`` (a slice when it selects every one of the n blocks)."""
    return slice(r0, r1) if sel.size == n else sel[r0:r1]


def _split(v: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    h = 1 << (shift - 1)
    hi = (v + h) >> shift
    return hi, v - (hi << shift) + h


LEVEL_SEARCH = 2  # the encoder tries levels within +-2 of the nominal one and keeps the cheapest


def _choose_level(q: np.ndarray, a: int, b: int, act: np.ndarray, g: int, step: float, tables: LatentTables,
                  sel: np.ndarray) -> tuple[int, int, float]:
    """Nominal level from the model's sigma, then the cheapest neighbour on this chunk's data
    (the blocks ``sel`` that code this group); returns (level, shift, bits the group costs)."""
    level, shift = level_and_shift(tables.sigma[g], step)
    cands = range(max(LEVEL_MIN, level - LEVEL_SEARCH), min(LEVEL_MAX, level + LEVEL_SEARCH) + 1)
    cost = dict.fromkeys(cands, 0.0)
    for r0, r1 in _row_pieces(sel.size, b - a):
        rows = _rows(sel, r0, r1, len(q))
        v = q[rows, a:b].astype(np.int64)
        if shift:
            v = _split(v, shift)[0]
        for cand in cands:
            ctx = context_of(act[rows], tables.edges(g, cand), shift)
            cost[cand] += sum(tables.dense(g, cand, c).cost_bits(v[ctx == c]) for c in range(tables.contexts))
    best = min(cands, key=lambda c: (cost[c], abs(c - level)))
    return best, shift, cost[best] + shift * sel.size * (b - a)


def _runs(act: np.ndarray, sel: np.ndarray, tables: LatentTables, g: int, level: int, shift: int):
    """Stream order of group g's high parts: one run of blocks (of ``sel``) per activity context,
    with its table."""
    ctx = context_of(act[sel], tables.edges(g, level), shift)
    for c in range(tables.contexts):
        yield sel[ctx == c], tables.dense(g, level, c)


def block_ends(q: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per block, the number of leading groups up to its last nonzero one (0: all zero)."""
    ends = np.zeros(len(q), np.int64)
    for r0, r1 in _row_pieces(len(q), q.shape[1]):
        part = q[r0:r1]
        nz = part != 0
        last = np.where(nz.any(axis=1), part.shape[1] - np.argmax(nz[:, ::-1], axis=1), 0)  # last nonzero channel + 1
        ends[r0:r1] = np.searchsorted(edges, last, side="left")
    return ends


def _coded_blocks(end: np.ndarray | None, nblocks: int, ngroups: int) -> list[np.ndarray]:
    """Per group, the blocks that code it: all of them, or (with block ends) those ending above it."""
    if end is None:
        every = np.arange(nblocks)
        return [every] * ngroups
    return [np.flatnonzero(end > g) for g in range(ngroups)]


def _quads(level: int, shift: int) -> bool:
    return shift == 0 and level <= QUAD_LEVEL_MAX


PLANE_WIDTHS = (1, 2, 4)


def planes_frame(v: np.ndarray) -> tuple[int, bytes]:
    """(byte width, zstd frame) of int values as zigzagged unsigned ints in byte planes."""
    v = v.astype(np.int64).reshape(-1)
    u = np.where(v >= 0, 2 * v, -2 * v - 1)
    top = int(u.max()) if u.size else 0
    width = next(wd for wd in PLANE_WIDTHS if top < 1 << (8 * wd))
    raw = u.astype(f"<u{width}").view(np.uint8).reshape(-1, width).T.tobytes()
    return width, zstd_compress(raw)


def planes_values(frame: bytes, n: int, width: int) -> np.ndarray:
    raw = zstd_decompress(frame, n * width, "latent byte planes")
    u = np.frombuffer(raw, np.uint8).reshape(width, n).T.copy().view(f"<u{width}").reshape(-1).astype(np.int64)
    return (u >> 1) ^ -(u & 1)


def encode(w: ByteWriter, q: np.ndarray, step: float, tables: LatentTables, ends: bool = False,
           planes: bool = False) -> bool:
    """Write the body; with ``planes``, returns whether any group took byte planes (if none did,
    the body is written without mode bytes, i.e. as coder 2's)."""
    enc = Encoder()
    e = tables.group_edges
    end = block_ends(q, e) if ends or planes else None
    sels = _coded_blocks(end, len(q), tables.ngroups)
    plan, frames = [], []
    act = np.zeros(len(q), np.int64)
    for g in range(tables.ngroups):  # levels depend on the activity of the groups below
        level, shift, bits = _choose_level(q, e[g], e[g + 1], act, g, step, tables, sels[g])
        mode, frame = 0, b""
        if planes and sels[g].size:
            width, frame = planes_frame(q[sels[g], e[g] : e[g + 1]])
            if len(frame) + 8 <= bits / 8:  # the frame's u64 length counts too
                mode = width
        plan.append((level, shift, mode))
        frames.append(frame if mode else b"")
        _add_activity(act, q, e[g], e[g + 1])
    with_modes = any(mode for _, _, mode in plan)
    w.u16(tables.ngroups)
    for level, shift, mode in plan:
        w.i8(level)
        w.u8(shift)
        if with_modes:
            w.u8(mode)
    if end is not None:
        end_table = FreqTable.fit(end, 0, tables.ngroups)
        pack_ints(w, end_table.freq)
        enc.encode(end, end_table)
    act = np.zeros(len(q), np.int64)
    for g, (level, shift, mode) in enumerate(plan):
        a, b = e[g], e[g + 1]
        if mode:
            _add_activity(act, q, a, b)
            continue
        for rows, table in _runs(act, sels[g], tables, g, level, shift):
            if _quads(level, shift):
                encode_quads(enc, q[rows, a:b], table)
                continue
            for r0, r1 in _row_pieces(rows.size, b - a):
                v = q[rows[r0:r1], a:b].astype(np.int64)
                enc.encode(_split(v, shift)[0] if shift else v, table)
        _add_activity(act, q, a, b)
        if shift:
            sel = sels[g]
            for r0, r1 in _row_pieces(sel.size, b - a):
                enc.encode_uniform(_split(q[_rows(sel, r0, r1, len(q)), a:b].astype(np.int64), shift)[1], shift)
    write_stream(w, enc)
    for frame in frames:
        if frame:
            w.blob(frame)
    return with_modes


def decode(r: ByteReader, nblocks: int, tables: LatentTables, ends: bool = False, planes: bool = False) -> np.ndarray:
    ngroups = r.u16()
    if ngroups != tables.ngroups:
        raise PhcompError(f"corrupt latent section: {ngroups} groups, model has {tables.ngroups}")
    plan = []
    for _ in range(ngroups):
        level, shift = r.i8(), r.u8()
        mode = r.u8() if planes else 0
        if not (LEVEL_MIN <= level <= LEVEL_MAX) or shift > 20 or (mode and mode not in PLANE_WIDTHS):
            raise PhcompError("corrupt latent section: bad table level or group mode")
        plan.append((level, shift, mode))
    end_table = None
    if ends or planes:
        end_table = FreqTable(unpack_ints(r, ngroups + 2, "block-end table").astype(np.uint32), 0)
        if end_table.freq.size != ngroups + 2:
            raise PhcompError("corrupt latent section: bad block-end table")
        end_table.validate()
    e = tables.group_edges
    k = e[-1]
    # an escaped quad takes one escape entry and each of its values may take another
    dec = read_stream(r, 2 * nblocks * k + ngroups * tables.contexts + 8)
    frames = [r.blob() if mode else b"" for _, _, mode in plan]
    q = np.zeros((nblocks, k), np.int32)  # blocks past their end stay zero
    end = None
    if end_table is not None:
        end = dec.decode(nblocks, end_table)
        if nblocks and (end.min() < 0 or end.max() > ngroups):
            raise PhcompError("corrupt latent section: block end out of range")
    sels = _coded_blocks(end, nblocks, ngroups)
    act = np.zeros(nblocks, np.int64)
    for g, (level, shift, mode) in enumerate(plan):
        a, b = e[g], e[g + 1]
        sel = sels[g]
        if mode:
            q[sel, a:b] = planes_values(frames[g], sel.size * (b - a), mode).reshape(sel.size, b - a)
            _add_activity(act, q, a, b)
            continue
        for rows, table in _runs(act, sel, tables, g, level, shift):
            if _quads(level, shift):
                q[rows, a:b] = decode_quads(dec, rows.size * (b - a), table).reshape(rows.size, b - a)
                continue
            for r0, r1 in _row_pieces(rows.size, b - a):
                n = (r1 - r0) * (b - a)
                hi = dec.decode(n, table, out=np.empty(n, np.int64 if shift else np.int32))
                q[rows[r0:r1], a:b] = hi.reshape(r1 - r0, b - a)
        if shift:
            for r0, r1 in _row_pieces(sel.size, b - a):
                rows = _rows(sel, r0, r1, nblocks)
                lo = dec.decode_uniform((r1 - r0) * (b - a), shift).reshape(r1 - r0, b - a)
                v = (q[rows, a:b].astype(np.int64) << shift) + lo - (1 << (shift - 1))
                if np.abs(v).max() >= 2**31:
                    raise PhcompError("corrupt latent section: latent value out of range")
                q[rows, a:b] = v
        _add_activity(act, q, a, b)
    dec.finish()
    return q


def _add_activity(act: np.ndarray, q: np.ndarray, a: int, b: int) -> None:
    """act += sum |q| over channels [a, b) (the next group's context variable), in pieces."""
    for r0, r1 in _row_pieces(len(q), b - a):
        act[r0:r1] += np.abs(q[r0:r1, a:b].astype(np.int64)).sum(axis=1)
