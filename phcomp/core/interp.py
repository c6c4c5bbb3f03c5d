"""Predictive coding by multilevel interpolation ("interp" models): exact integer arithmetic
and the chunk section (mode 3, section 8; docs/format.md, "Interpolation chunks").

Every value lives on an integer grid of unit ``delta = eps / 2**D``: ``v = (x - mid) / delta``.
The trailing ``ndim`` axes of a chunk are refined coarse to fine, like SZ3's interpolation:
the origin of each item (leading axes are independent items) is predicted as 0; then for
strides s = 2**(L-1) .. 1 and each axis in turn, the points at odd multiples of s along that
axis are predicted from 8 known points along it (offsets -7s, -5s, .., +7s, reflected at the
borders) with the model's integer weights for that stride, ``p1 = (sum w_i n_i + 2**15) >> 16``.

Interpolation errors of smooth fields vary smoothly across the other axes (neighbouring errors
correlate at 0.9 and more on Gray-Scott), so each axis pass is split into *sub-passes* by
the parity (even / odd multiple of s) of the earlier axes, fewest odd first. A point odd along
earlier axes O adds to p1 the mean decoded error ``e = rec - p1`` of its 2 |O| neighbours at
+-s along those axes, which an earlier sub-pass decoded: ``pred = p1 + floor((sum e + k/2) / k)``.

The encoder sends ``q = rint((v - pred) / Q)`` with ``Q = 2**(D+1) - 2`` and both sides
continue from ``rec = pred + q * Q``, so |v - rec| <= Q / 2 < 2**D: the bound holds by
construction (the final cast to float32/64 is checked, and rare misses are stored exactly).
Each q is range-coded with the model's table for its context: the stride class and four
activities in grid units, binned at Q * 2**e for the model's exponents e: |p1 - ((n_-1 + n_+1)
>> 1)| (curvature), |n_-1 - n_+1| (slope), |pred - p1| (the correction; -1 for uncorrected
points, which so get bins of their own) and |e(n_-1)| + |e(n_+1)| (how well the two nearest
known points were predicted at their own level). Contexts are in units of Q, so one set of
tables serves every bound.

A model may carry several *table sets* (decoder spec ``table_sets``, up to 16: one fitted on all
its training data, one per family it was trained on). The encoder runs the closed loop once per
item group (the symbols do not depend on the tables), prices the group's symbols with every set
in exact integer units (``cost_units``: 1/256 bit, the same integers in C) and codes it with the
cheapest, lowest index on ties; the section names the set of each group in one byte.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .rangecoder import Decoder, Encoder, FreqTable, read_words, write_stream, write_words
from .tables import packed_extent

TAPS = np.array([-7, -5, -3, -1, 1, 3, 5, 7])
WEIGHT_SHIFT = 16
WEIGHT_ABS_SUM_MAX = 1 << 18  # with |rec| <= REC_LIMIT every partial sum stays below 2**61
MAX_GRID_BITS = 10
MAGNITUDE_BITS = 40  # |v| <= 2**40 grid units: D shrinks for bounds that tight, then lossless
REC_LIMIT = 1 << 42
Q_LIMIT = 1 << 40  # |v - pred| / Q stays below this for |v| <= 2**40, so q is never clipped
ACTIVITIES = 4
MAX_TABLE_SETS = 16
ESCAPE_COST_UNITS = 32 << 8  # what an escaped value is priced at beyond its escape symbol (set choice only)
SLAB_VALUES = 1 << 21  # the encoder codes items in groups of about this many values (bounds memory);
# the group size is written in the section, so it is the encoder's choice, not a format constant


class InterpSpec:
    """An interp model's decoder side: integer weights per stride class, context exponents, tables."""

    def __init__(self, weights: np.ndarray, exps: list[list[int]], tables: list[FreqTable], ndim: int,
                 sets: int = 1, packed: np.ndarray | None = None) -> None:
        self.weights = np.asarray(weights, dtype=np.int64)
        self.exps = [[int(e) for e in x] for x in exps]
        self.all_tables = tables
        self.packed = packed  # all_tables' frequencies back to back (uint32), when the model holds them so
        self.ndim = int(ndim)
        self.sets = int(sets)
        self._prices: list | None = None
        self.k = 0  # no latent: Model.latent_dim
        if self.weights.ndim != 2 or self.weights.shape[1] != TAPS.size or len(self.weights) < 1:
            raise PhcompError("corrupt model: interpolation weights must be (classes, 8)")
        if int(np.abs(self.weights).sum(axis=1).max()) > WEIGHT_ABS_SUM_MAX:
            raise PhcompError("corrupt model: interpolation weights too large for exact arithmetic")
        if not 1 <= self.ndim <= 4:
            raise PhcompError(f"corrupt model: interpolation over {self.ndim} axes")
        if len(self.exps) != ACTIVITIES or any(x != sorted(x) or any(not -64 <= e <= 24 for e in x) for x in self.exps):
            raise PhcompError("corrupt model: bad context exponents")
        if not 1 <= self.sets <= MAX_TABLE_SETS:
            raise PhcompError(f"corrupt model: {self.sets} table sets (1 to {MAX_TABLE_SETS})")
        if len(tables) != self.sets * self.ntables:
            raise PhcompError(f"corrupt model: {len(tables)} tables for {self.sets} set(s) of "
                              f"{self.ntables} interpolation contexts")
        n = self.ntables
        self.table_sets = [tables[k * n : (k + 1) * n] for k in range(self.sets)]
        self.tables = self.table_sets[0]

    def prices(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Set k's ``cost_units`` of every table, concatenated: (flat costs, offsets, lo, nsym)."""
        if self._prices is None:
            self._prices = [None] * self.sets
        if self._prices[k] is None:
            ts = self.table_sets[k]
            nsym = np.array([t.nsym for t in ts], np.int64)
            off = np.r_[0, np.cumsum(nsym + 1)[:-1]].astype(np.int64)
            flat = np.concatenate([cost_units(t.freq) for t in ts])
            self._prices[k] = (flat, off, np.array([t.lo for t in ts], np.int64), nsym)
        return self._prices[k]

    def price(self, k: int, ctx: np.ndarray, q: np.ndarray) -> int:
        """What the symbols q in contexts ctx cost with table set k (exact integers, 1/256 bit)."""
        flat, off, lo, nsym = self.prices(k)
        idx = q - lo[ctx]
        inside = (idx >= 0) & (idx < nsym[ctx])
        pos = off[ctx] + np.where(inside, idx, nsym[ctx])
        return int(flat[pos].sum()) + int(np.count_nonzero(~inside)) * ESCAPE_COST_UNITS

    def choose(self, symbols: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """The table set that codes a group's (ctx, q) symbols cheapest (lowest index on ties)."""
        if self.sets == 1:
            return 0
        costs = [sum(self.price(k, c, q) for c, q in symbols) for k in range(self.sets)]
        return int(np.argmin(costs))

    @property
    def classes(self) -> int:
        return len(self.weights)

    @property
    def ntables(self) -> int:
        return self.classes * math.prod(len(x) + 1 for x in self.exps)

    def edges(self, qstep: int) -> list[np.ndarray]:
        """Context edges in grid units: Q * 2**e, rounded down (exact integer arithmetic)."""
        return [np.array([qstep << e if e >= 0 else qstep >> min(-e, 62) for e in x], np.int64) for x in self.exps]

    def context(self, cls: int, acts: tuple[np.ndarray, ...], edges: list[np.ndarray]) -> np.ndarray:
        c = np.full(acts[0].shape, cls, np.int64)
        for a, e in zip(acts, edges):
            c = c * (e.size + 1) + np.searchsorted(e, a, side="right")
        return c


def log2_units(x: np.ndarray) -> np.ndarray:
    """floor-ish 256 * log2(x) of integers 1 <= x < 2**32 by exact integer squaring (8 fraction
    bits), so Python and C price symbols with the same integers (docs/format.md)."""
    x = np.asarray(x, np.uint64)
    k = np.zeros(x.shape, np.uint64)
    for b in (16, 8, 4, 2, 1):  # k = bit length - 1
        big = (x >> (k + np.uint64(b))) > 0
        k = np.where(big, k + np.uint64(b), k)
    m = np.where(k <= 31, x << (np.uint64(31) - np.minimum(k, np.uint64(31))), x >> (k - np.uint64(31)))  # [2**31, 2**32)
    frac = np.zeros(x.shape, np.uint64)
    for _ in range(8):
        m = (m * m) >> np.uint64(31)
        top = m >= np.uint64(1 << 32)
        m = np.where(top, m >> np.uint64(1), m)
        frac = (frac << np.uint64(1)) | top.astype(np.uint64)
    return ((k << np.uint64(8)) | frac).astype(np.int64)


def cost_units(freq: np.ndarray) -> np.ndarray:
    """A table's price of each symbol (escape last): log2_units(total) - log2_units(freq)."""
    f = np.asarray(freq, np.uint64)
    return log2_units(np.array([int(f.sum())]))[0] - log2_units(f)


def grid_bits(half: float, eps: float) -> int:
    """D for a chunk: 10, fewer when |v| would pass 2**40; below 2 the chunk goes lossless."""
    return min(MAX_GRID_BITS, MAGNITUDE_BITS - math.ceil(math.log2(max(half / eps, 1.0)) + 1e-9))


def passes(shape: tuple[int, ...]):
    """(level, stride, axis, correction axes, per-axis target indices), coarse to fine, for
    the spatial ``shape``: per level and axis, the sub-passes by parity of the earlier axes."""
    levels = max([math.ceil(math.log2(n)) for n in shape if n > 1], default=0)
    for lv in range(levels - 1, -1, -1):
        s = 1 << lv
        for ax in range(len(shape)):
            for odd in sorted(itertools.product((0, 1), repeat=ax), key=sum):
                idx = [np.arange(s, n, 2 * s) if a == ax or (a < ax and odd[a]) else np.arange(0, n, 2 * s)
                       for a, n in enumerate(shape)]
                if all(i.size for i in idx):
                    yield lv, s, ax, [a for a in range(ax) if odd[a]], idx


def _slices(idx: list[np.ndarray]) -> tuple:
    """The target index arrays (arithmetic progressions) as basic slices: views, not copies."""
    return tuple(slice(int(i[0]), int(i[-1]) + 1, int(i[1] - i[0]) if i.size > 1 else 1) for i in idx)


def _taps(a: np.ndarray, s: int, ax: int, idx: list[np.ndarray], taps=TAPS) -> list[np.ndarray]:
    """``a`` at the known points along ``ax`` at ``taps`` times s from each target (odd
    multiples of s), reflected into the known lattice [0, last multiple of 2s]; arrays of the
    targets' grid shape (items first). One gather of the known lattice, then a view per tap."""
    sl = list(_slices(idx))
    n = a.shape[1 + ax]
    last_k = (n - 1) // (2 * s)  # the known lattice along ax: indices 0..last_k (positions 2s*k)
    sl[ax] = slice(0, last_k * 2 * s + 1, 2 * s)
    shift = [(int(o) + 1) // 2 for o in taps]  # target k's tap o sits at known index k + (o+1)/2
    lo, t = min(shift), idx[ax].size
    j = np.abs(np.arange(lo, t + max(shift)))
    j = np.clip(np.where(j > last_k, 2 * last_k - j, j), 0, last_k)
    padded = np.take(a[(slice(None),) + tuple(sl)], j, axis=1 + ax)
    pre = (slice(None),) * (1 + ax)
    return [padded[pre + (slice(k - lo, k - lo + t),)] for k in shift]


def _neighbours(rec: np.ndarray, s: int, ax: int, idx: list[np.ndarray], taps=TAPS) -> list[np.ndarray]:
    """``_taps`` flattened (items first), for training."""
    return [x.reshape(-1) for x in _taps(rec, s, ax, idx, taps)]


def _correction(err: np.ndarray, s: int, axes: list[int], idx: list[np.ndarray]) -> np.ndarray:
    """Rounded mean of the decoded errors at +-s along each correction axis (the upper
    neighbour past the border is replaced by the lower one), in the targets' grid shape."""
    acc = None
    for a in axes:
        sl = list(_slices(idx))
        sl[a] = slice(0, None, 2 * s)  # the even points along a: err's lower and upper neighbours
        even = err[(slice(None),) + tuple(sl)]
        t, m = idx[a].size, even.shape[1 + a]
        pre = (slice(None),) * (1 + a)
        lower = even[pre + (slice(0, t),)]
        upper = even[pre + (slice(1, t + 1),)] if t + 1 <= m else \
            np.take(even, np.minimum(np.arange(1, t + 1), m - 1), axis=1 + a)
        acc = lower + upper if acc is None else acc + lower + upper
    k = 2 * len(axes)
    return (acc + k // 2) // k


def _predict(nb: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    acc = nb[0] * w[0]
    for i in range(1, TAPS.size):
        acc += nb[i] * w[i]
    acc += 1 << (WEIGHT_SHIFT - 1)
    return acc >> WEIGHT_SHIFT


def group_items(per_item: int) -> int:
    return max(1, SLAB_VALUES // max(per_item, 1))


def _item_groups(items: int, group: int):
    for i in range(0, items, group):
        yield i, min(items, i + group)


def split_shape(shape: tuple[int, ...], ndim: int) -> tuple[int, tuple[int, ...]]:
    """(items, spatial shape): the trailing ``ndim`` axes are interpolated, the rest are items."""
    sp = tuple(shape[len(shape) - min(ndim, len(shape)):])
    items = int(np.prod(shape[: len(shape) - len(sp)], dtype=np.int64))
    return items, sp


class _Pass:
    """One sub-pass of one group of items: prediction and context from decoded points."""

    def __init__(self, spec: InterpSpec, rec, err, lv, s, ax, axes, idx, edges):
        # everything in the targets' grid shape (items first); flattened in C order for coding
        self.cls = min(lv, spec.classes - 1)
        nb = _taps(rec, s, ax, idx)
        p1 = _predict(nb, spec.weights[self.cls])
        m = TAPS.size // 2
        corr = _correction(err, s, axes, idx) if axes else None
        pred = p1 + corr if axes else p1
        en = _taps(err, s, ax, idx, TAPS[m - 1 : m + 1])
        acts = (np.abs(p1 - ((nb[m - 1] + nb[m]) >> 1)), np.abs(nb[m - 1] - nb[m]),
                # uncorrected points get activity -1: below every edge, bins of their own
                np.abs(corr) if axes else np.full(p1.shape, -1, np.int64),
                np.abs(en[0]) + np.abs(en[1]))
        self.ctx = spec.context(self.cls, acts, edges).reshape(-1)
        self.p1, self.pred = p1.reshape(-1), pred.reshape(-1)
        self.sel = (slice(None),) + _slices(idx)
        self.shape = p1.shape

    def store(self, rec, err, r) -> None:
        rec[self.sel] = r.reshape(self.shape)
        err[self.sel] = (r - self.p1).reshape(self.shape)


def encode(values, items: int, spatial: tuple[int, ...], spec: InterpSpec, bits: int, done) -> bytes:
    """Section body. ``values(i0, i1)``: the grid values v (float64) of items i0:i1;
    ``done(i0, i1, rec)``: their reconstruction (int64 grid units), exactly what the decoder
    will produce. Items go in groups, so memory follows the group, not the array."""
    enc = Encoder()
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    chosen: list[int] = []

    def emit(ctx: np.ndarray, q: np.ndarray) -> None:
        pending.append((ctx, q))

    def group_done(i0: int, i1: int, rec: np.ndarray) -> None:
        k = spec.choose(pending)  # the closed loop's symbols do not depend on the tables
        chosen.append(k)
        for ctx, q in pending:
            order, tables, counts = _order(ctx, spec, k)
            enc.encode_segments(q[order], tables, counts)
        pending.clear()
        if done:
            done(i0, i1, rec)
    group = group_items(int(np.prod(spatial)))
    quantize(values, items, spatial, spec, bits, emit, group, group_done)
    w = ByteWriter()
    w.u8(bits)
    w.u64(group)
    write_sets(w, spec, chosen)
    write_stream(w, enc)
    return w.getvalue()


def write_sets(w: ByteWriter, spec: InterpSpec, chosen) -> None:
    """The table set of each item group, one byte each, for a model with several sets."""
    if spec.sets > 1:
        for k in chosen:
            w.u8(int(k))


def n_groups(items: int, group: int) -> int:
    return -(-items // group) if items else 0


def quantize(values, items: int, spatial: tuple[int, ...], spec: InterpSpec, bits: int, emit, group: int,
             done=None) -> None:
    """The encoder's closed loop: ``emit(ctx, q)`` per sub-pass (the origins first, in the
    last context), in coding order, and ``done(i0, i1, rec)`` per group of items. Training
    uses it to collect the symbols its tables are fitted on."""
    qstep = (1 << (bits + 1)) - 2
    edges = spec.edges(qstep)
    for i0, i1 in _item_groups(items, group):
        vs = values(i0, i1)
        rs = np.zeros(vs.shape, np.int64)
        err = np.zeros_like(rs)
        origin = (slice(None),) + (0,) * len(spatial)
        q0 = np.rint(vs[origin] / qstep).astype(np.int64).reshape(-1)
        rs[origin] = (q0 * qstep).reshape(rs[origin].shape)
        emit(np.full(q0.size, spec.ntables - 1), q0)
        for lv, s, ax, axes, idx in passes(spatial):
            p = _Pass(spec, rs, err, lv, s, ax, axes, idx, edges)
            q = np.rint((vs[p.sel].reshape(-1) - p.pred) / qstep).astype(np.int64)
            p.store(rs, err, p.pred + q * qstep)
            emit(p.ctx, q)
        if done:
            done(i0, i1, rs)


def context_runs(ctx: np.ndarray, ncontexts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coding order of one sub-pass (contexts in 0..ncontexts-1): contexts ascending, targets in
    order within one; returns the permutation, the contexts in use and how many symbols each has."""
    # stable argsort of 16-bit keys is a radix sort in numpy: several times faster than on int64
    order = np.argsort(ctx.astype(np.uint16) if ncontexts <= 1 << 16 else ctx, kind="stable")
    sc = ctx[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sc)) + 1]
    return order, sc[starts], np.diff(np.r_[starts, sc.size])


def _order(ctx: np.ndarray, spec: InterpSpec, k: int = 0) -> tuple[np.ndarray, list[FreqTable], np.ndarray]:
    """``context_runs`` with table set k's tables of the contexts in use."""
    order, used, counts = context_runs(ctx, spec.ntables)
    ts = spec.table_sets[k]
    return order, [ts[int(c)] for c in used], counts


def pack_section(bits: int, group: int, words: np.ndarray, escapes: np.ndarray, spec: InterpSpec | None = None,
                 sets=()) -> bytes:
    """The section body from a finished stream (what ``encode`` writes; the native encoder's path)."""
    w = ByteWriter()
    w.u8(bits)
    w.u64(group)
    if spec is not None:
        write_sets(w, spec, sets)
    write_words(w, words, escapes)
    return w.getvalue()


def parse_section(body: bytes, items: int, per_item: int, sets: int = 1
                  ) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """(D, item group, table set per group, words, escapes) of a section body of a chunk of
    ``items`` items of ``per_item`` values, for a model with ``sets`` table sets."""
    r = ByteReader(body)
    bits = r.u8()
    if not 2 <= bits <= MAX_GRID_BITS:
        raise PhcompError(f"corrupt interpolation section: grid bits {bits}")
    group = r.u64()
    if group < 1:
        raise PhcompError("corrupt interpolation section: item group of 0")
    chosen = np.zeros(n_groups(items, group), np.uint8)
    if sets > 1:
        chosen = np.frombuffer(r.raw(chosen.size), np.uint8) if chosen.size else chosen
        if chosen.size and int(chosen.max()) >= sets:
            raise PhcompError(f"corrupt interpolation section: table set {int(chosen.max())} of a model with {sets}")
    words, escapes = read_words(r, items * per_item)
    r.expect_end()
    return bits, group, chosen, words, escapes


def decode(body: bytes, items: int, spatial: tuple[int, ...], spec: InterpSpec, done) -> int:
    """Decode a section body group by group: ``done(i0, i1, rec)`` gets the grid values (int64)
    of items i0:i1. Returns D."""
    bits, group, chosen, words, escapes = parse_section(body, items, int(np.prod(spatial)), spec.sets)
    return decode_stream(bits, group, chosen, words, escapes, items, spatial, spec, done)


def decode_stream(bits: int, group: int, chosen: np.ndarray, words: np.ndarray, escapes: np.ndarray, items: int,
                  spatial: tuple[int, ...], spec: InterpSpec, done) -> int:
    """``decode`` of a parsed section (numpy: the reference the native decoder is tested against)."""
    qstep = (1 << (bits + 1)) - 2
    edges = spec.edges(qstep)
    dec = Decoder(words, escapes)
    for g, (i0, i1) in enumerate(_item_groups(items, group)):
        k = int(chosen[g])
        rs = np.zeros((i1 - i0,) + tuple(spatial), np.int64)
        err = np.zeros_like(rs)
        origin = (slice(None),) + (0,) * len(spatial)
        rs[origin] = (_checked(dec.decode(i1 - i0, spec.table_sets[k][spec.ntables - 1])) * qstep
                      ).reshape(rs[origin].shape)
        for lv, s, ax, axes, idx in passes(spatial):
            p = _Pass(spec, rs, err, lv, s, ax, axes, idx, edges)
            order, tables, counts = _order(p.ctx, spec, k)
            q = np.empty(p.pred.size, np.int64)
            q[order] = dec.decode_segments(tables, counts)
            rec = p.pred + _checked(q) * qstep
            if rec.size and int(np.abs(rec).max()) > REC_LIMIT:
                raise PhcompError("corrupt interpolation section: value outside the grid")
            p.store(rs, err, rec)
        done(i0, i1, rs)
    dec.finish()
    return bits


def _checked(q: np.ndarray) -> np.ndarray:
    """Decoded q within what an encoder writes (so q * Q cannot overflow)."""
    if q.size and int(np.abs(q).max()) > Q_LIMIT:
        raise PhcompError("corrupt interpolation section: quantized value out of range")
    return q


def build_interp(spec: dict, arrays: dict[str, np.ndarray], tables: list[FreqTable]) -> InterpSpec:
    """The ``interp_int`` decoder of a model: spec {"type", "ndim", "context_exps", optional
    "table_sets"}, array
    ``decoder.weights`` (classes x 8 int64) and the model's tables."""
    if "decoder.weights" not in arrays:
        raise PhcompError("corrupt model: array 'decoder.weights' missing")
    extent = packed_extent(arrays["tables.index"]) if "tables.index" in arrays else None
    packed = arrays["tables.freq"][:extent] if extent is not None and arrays["tables.freq"].dtype == np.uint32 else None
    try:
        return InterpSpec(arrays["decoder.weights"], [list(x) for x in spec["context_exps"]], tables, int(spec["ndim"]),
                          int(spec.get("table_sets", 1)), packed)
    except (KeyError, TypeError, ValueError) as e:
        raise PhcompError(f"corrupt model: interpolation decoder spec ({e!r})") from None
