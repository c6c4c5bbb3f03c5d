"""Range coding of integer symbols with integer frequency tables and an escape path.

The bit stream is constriction's queue range coder (``RangeEncoder``: 32-bit words, 64-bit
state, 24-bit probabilities). Every option that changes the stream is set explicitly:
``Categorical(..., perfect=False)``. Tables are integer frequencies stored in the model or
the chunk; they reach constriction as ``freq / sum(freq)`` in float64, and constriction's
fixed-point quantization of those numbers is plain IEEE arithmetic, so encoder and decoder
build the same integer model on every platform.

A table covers the symbols ``lo .. lo+n-1`` plus one escape symbol (the last entry). A value
outside that range is coded as the escape and its true value is appended to an escape list
that the caller stores beside the range-coded words.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import constriction  # pinned in setup.py: the bit stream depends on its coder

from .errors import PhcompError

_Categorical = constriction.stream.model.Categorical
_Uniform = constriction.stream.model.Uniform
_RangeEncoder = constriction.stream.queue.RangeEncoder
_RangeDecoder = constriction.stream.queue.RangeDecoder

TABLE_TOTAL = 1 << 16  # fitted tables are normalised to this total (each entry >= 1)
# symbols go through the coder in pieces so temporaries stay small; the queue coder's stream
# does not depend on how symbols are split between calls, so this is not part of the format
PIECE = 1 << 16


@dataclass
class FreqTable:
    """Integer frequencies for symbols lo..lo+len(freq)-2, last entry = escape."""

    freq: np.ndarray
    lo: int
    _model: object = field(default=None, repr=False, compare=False)
    _quad: "FreqTable | None" = field(default=None, repr=False, compare=False)
    _bits: "np.ndarray | None" = field(default=None, repr=False, compare=False)

    @property
    def nsym(self) -> int:
        return int(self.freq.size) - 1

    @property
    def model(self):
        if self._model is None:
            f = self.freq.astype(np.float64)
            self._model = _Categorical(f / f.sum(), perfect=False)
        return self._model

    @classmethod
    def fit(cls, samples: np.ndarray, lo: int, hi: int, total: int = TABLE_TOTAL) -> "FreqTable":
        """Histogram of ``samples`` over [lo, hi] plus escapes, each entry at least 1."""
        return cls.from_weights(histogram(samples, lo, hi), lo, total)

    @classmethod
    def from_weights(cls, weights: np.ndarray, lo: int, total: int = TABLE_TOTAL) -> "FreqTable":
        """Table from nonnegative weights over lo..lo+n-2 plus escape (last), scaled to ``total``."""
        w = np.asarray(weights, np.float64)
        budget = total - w.size
        if budget <= 0:
            raise ValueError("table alphabet larger than its total")
        tot = w.sum()
        scaled = np.floor(w * (budget / tot)) if tot > 0 else np.zeros_like(w)
        return cls((scaled + 1).astype(np.uint32), lo)

    def cost_bits(self, values: np.ndarray, escape_bits: float = 24.0) -> float:
        """Ideal code length of ``values`` (what the coder spends, to ~0.1 %); an escape also
        costs ``escape_bits`` in the side stream. Used by encoders to choose between tables."""
        if self._bits is None:
            f = self.freq.astype(np.float64)
            self._bits = np.log2(f.sum()) - np.log2(f)
        idx = np.asarray(values).reshape(-1) - self.lo
        inside = (idx >= 0) & (idx < self.nsym)
        n_esc = idx.size - np.count_nonzero(inside)
        return float(self._bits[idx[inside]].sum() + n_esc * (self._bits[-1] + escape_bits))

    @property
    def quad(self) -> "FreqTable":
        """Table of 4-value symbols (values in [-2, 2]) derived from this one; see encode_quads."""
        if self._quad is None:
            self._quad = quad_table(self)
        return self._quad

    def validate(self) -> None:
        if self.freq.size < 2 or self.freq.min() < 1 or int(self.freq.sum()) >= 1 << 32:
            raise PhcompError("corrupt frequency table")


def histogram(samples: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Counts of each value lo..hi of ``samples``, then the count of values outside (escapes)."""
    n = hi - lo + 1
    flat = np.asarray(samples).reshape(-1)
    counts = np.zeros(n + 1, np.float64)
    for i in range(0, flat.size, PIECE):
        s = flat[i : i + PIECE].astype(np.int64)
        inside = (s >= lo) & (s <= hi)
        counts[:n] += np.bincount(s[inside] - lo, minlength=n)
        counts[n] += s.size - np.count_nonzero(inside)
    return counts


class Encoder:
    def __init__(self) -> None:
        self._enc = _RangeEncoder()
        self.escapes: list[np.ndarray] = []

    def encode(self, values: np.ndarray, table: FreqTable) -> None:
        flat = np.asarray(values).reshape(-1)
        for i in range(0, flat.size, PIECE):
            v = flat[i : i + PIECE].astype(np.int64)
            idx = v - table.lo
            esc = (idx < 0) | (idx >= table.nsym)
            if esc.any():
                self.escapes.append(v[esc])
                idx[esc] = table.nsym
            self._enc.encode(idx.astype(np.int32), table.model)

    def encode_segments(self, values: np.ndarray, tables: list[FreqTable], counts: np.ndarray) -> None:
        """Consecutive segments of ``values`` (lengths ``counts``), each with its own table: the
        same stream as one ``encode`` call per segment, with the escape handling done once."""
        v = np.asarray(values, dtype=np.int64)
        lo = np.repeat(np.array([t.lo for t in tables], np.int64), counts)
        nsym = np.repeat(np.array([t.nsym for t in tables], np.int64), counts)
        idx = v - lo
        esc = (idx < 0) | (idx >= nsym)
        if esc.any():
            self.escapes.append(v[esc])
            idx[esc] = nsym[esc]
        idx = idx.astype(np.int32)
        a = 0
        for t, n in zip(tables, counts.tolist()):
            self._enc.encode(idx[a : a + n], t.model)
            a += n

    def encode_uniform(self, values: np.ndarray, bits: int) -> None:
        """Values in [0, 2**bits), each costing exactly ``bits`` bits."""
        if bits == 0:
            return
        flat = np.asarray(values).reshape(-1)
        model = _Uniform(1 << bits)
        for i in range(0, flat.size, PIECE):
            self._enc.encode(flat[i : i + PIECE].astype(np.int32), model)

    def words(self) -> np.ndarray:
        return self._enc.get_compressed()

    def escape_values(self) -> np.ndarray:
        return np.concatenate(self.escapes) if self.escapes else np.zeros(0, np.int64)


class Decoder:
    def __init__(self, words: np.ndarray, escapes: np.ndarray) -> None:
        self._dec = _RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        self._esc = escapes
        self._esc_pos = 0

    def decode(self, count: int, table: FreqTable, out: np.ndarray | None = None) -> np.ndarray:
        """Decode ``count`` symbols into ``out`` (a new int64 array if None; any int dtype that holds them)."""
        if out is None:
            out = np.empty(count, np.int64)
        for i in range(0, count, PIECE):
            n = min(PIECE, count - i)
            try:
                idx = self._dec.decode(table.model, n)
            except Exception as e:  # constriction raises on states no encoder can produce
                raise PhcompError(f"corrupt range-coded stream: {e}") from None
            esc = idx == table.nsym
            n_esc = int(np.count_nonzero(esc))
            if n_esc:
                idx = idx.astype(np.int64)
                vals = self._take_escapes(n_esc)
                lim = np.iinfo(out.dtype).max // 2  # by min and max: np.abs(int64 min) is negative
                if out.dtype != np.int64 and vals.size and (vals.max() > lim or vals.min() < -lim):
                    raise PhcompError("corrupt range-coded stream: escape value out of range")
                idx[esc] = vals - table.lo
            np.add(idx, table.lo, out=out[i : i + n], casting="unsafe")
        return out

    def decode_segments(self, tables: list[FreqTable], counts: np.ndarray) -> np.ndarray:
        """The inverse of ``Encoder.encode_segments``: int64 values, segment after segment."""
        idx = np.empty(int(counts.sum()), np.int32)
        a = 0
        try:
            for t, n in zip(tables, counts.tolist()):
                idx[a : a + n] = self._dec.decode(t.model, n)
                a += n
        except Exception as e:  # constriction raises on states no encoder can produce
            raise PhcompError(f"corrupt range-coded stream: {e}") from None
        out = idx.astype(np.int64)
        esc = out == np.repeat(np.array([t.nsym for t in tables], np.int64), counts)
        out += np.repeat(np.array([t.lo for t in tables], np.int64), counts)
        n_esc = int(np.count_nonzero(esc))
        if n_esc:
            out[esc] = self._take_escapes(n_esc)
        return out

    def _take_escapes(self, n: int) -> np.ndarray:
        """The next ``n`` escaped values, in stream order."""
        if self._esc_pos + n > self._esc.size:
            raise PhcompError("corrupt range-coded stream: escape list exhausted")
        vals = self._esc[self._esc_pos : self._esc_pos + n]
        self._esc_pos += n
        return vals

    def decode_uniform(self, count: int, bits: int) -> np.ndarray:
        if bits == 0 or count == 0:
            return np.zeros(count, np.int64)
        model = _Uniform(1 << bits)
        out = np.empty(count, np.int64)
        for i in range(0, count, PIECE):
            n = min(PIECE, count - i)
            try:
                out[i : i + n] = self._dec.decode(model, n)
            except Exception as e:
                raise PhcompError(f"corrupt range-coded stream: {e}") from None
        return out

    def finish(self) -> None:
        if self._esc_pos != self._esc.size:
            raise PhcompError("corrupt range-coded stream: unused escape values")


# --- four values per symbol -------------------------------------------------------------
# Small integers (mostly 0, +-1) cost one range-coder step each; coding four at a time makes
# decoding ~3x faster at the same size. A quad symbol holds four values in [-2, 2]
# (5**4 = 625 symbols plus an escape); its table is the product of the single-value table
# with itself (values treated as independent), computed in integers from a 12-bit copy of
# the single table, so nothing is fitted or rounded in floating point at decode time.
# Stream: ceil(n/4) quad symbols (last quad padded with zeros), then the 4 values of each
# escaped quad with the single-value table (and its own escape path).
QUAD_RADIUS = 2
QUAD_BASE = 2 * QUAD_RADIUS + 1
QUAD_SYMBOLS = QUAD_BASE**4
_POW = QUAD_BASE ** np.arange(3, -1, -1)  # digit weights, first value most significant
# symbol -> its four values (the escape row is overwritten by the escaped values later)
_DIGITS = np.append((np.arange(QUAD_SYMBOLS)[:, None] // _POW % QUAD_BASE - QUAD_RADIUS), [[0, 0, 0, 0]],
                    axis=0).astype(np.int8)  # int8: the decode-side gather moves 8x fewer bytes


def quad_table(single: FreqTable) -> FreqTable:
    f = single.freq.astype(np.int64)
    shift = max(0, int(f.sum()).bit_length() - 12)
    g = np.maximum(f >> shift, 1)  # 12-bit weights: products of four stay below 2**48
    core = np.ones(QUAD_BASE, np.int64)  # a value the single table escapes keeps weight 1
    for v in range(-QUAD_RADIUS, QUAD_RADIUS + 1):
        i = v - single.lo
        if 0 <= i < single.nsym:
            core[v + QUAD_RADIUS] = g[i]
    prod = np.einsum("a,b,c,d->abcd", core, core, core, core).reshape(-1)
    escape = max(int(g.sum()) ** 4 - int(prod.sum()), 1)
    freq = np.append(prod, escape)
    top = int(freq.sum()).bit_length() - 31  # FreqTable keeps totals below 2**32
    if top > 0:
        freq = np.maximum(freq >> top, 1)
    return FreqTable(freq.astype(np.uint32), 0)


def encode_quads(enc: Encoder, values: np.ndarray, single: FreqTable) -> None:
    flat = np.asarray(values).reshape(-1)
    escaped = []
    for i in range(0, flat.size, PIECE):
        v = flat[i : i + PIECE].astype(np.int64)
        pad = (-v.size) % 4
        if pad:
            v = np.concatenate([v, np.zeros(pad, np.int64)])
        v = v.reshape(-1, 4)
        esc = (np.abs(v) > QUAD_RADIUS).any(axis=1)
        sym = (v + QUAD_RADIUS) @ _POW
        sym[esc] = QUAD_SYMBOLS
        enc.encode(sym, single.quad)
        if esc.any():
            escaped.append(v[esc])
    for v in escaped:
        enc.encode(v, single)


def decode_quads(dec: Decoder, n: int, single: FreqTable, dtype=np.int32) -> np.ndarray:
    nq = -(-n // 4)
    full = np.empty(nq * 4, dtype)
    digits_all = full.reshape(nq, 4)
    escaped = []
    for i in range(0, nq, PIECE // 4):
        m = min(PIECE // 4, nq - i)
        sym = dec.decode(m, single.quad, out=np.empty(m, np.int32))
        if sym.min() < 0 or sym.max() > QUAD_SYMBOLS:
            raise PhcompError("corrupt range-coded stream: bad quad symbol")
        digits_all[i : i + m] = _DIGITS[sym]
        esc = np.flatnonzero(sym == QUAD_SYMBOLS)
        if esc.size:
            escaped.append(i + esc)
    for rows in escaped:
        digits_all[rows] = dec.decode(rows.size * 4, single, out=np.empty(rows.size * 4, full.dtype)).reshape(-1, 4)
    return full[:n]


def write_stream(w, enc: Encoder) -> None:
    """Range-coded words (u64 count + raw LE uint32) then the escape values."""
    write_words(w, enc.words(), enc.escape_values())


def write_words(w, words: np.ndarray, escapes: np.ndarray) -> None:
    """``write_stream`` from the words and escapes themselves (the native encoder's output)."""
    from .intpack import pack_ints

    words = np.asarray(words).astype("<u4")
    w.u64(words.size)
    w.raw(words.tobytes())
    pack_ints(w, escapes)


def read_words(r, max_escapes: int) -> tuple[np.ndarray, np.ndarray]:
    """The words (uint32) and escape values (int64) that ``write_stream`` wrote."""
    from .intpack import unpack_ints

    nwords = r.u64()
    if nwords * 4 > r.remaining:
        raise PhcompError("truncated or corrupt range-coded stream")
    words = np.frombuffer(r.raw(nwords * 4), dtype="<u4").astype(np.uint32)
    escapes = unpack_ints(r, max_escapes, "escape values")
    return words, escapes


def read_stream(r, max_escapes: int) -> Decoder:
    return Decoder(*read_words(r, max_escapes))
