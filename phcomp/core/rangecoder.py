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
MAX_UNIFORM_BITS = 20


@dataclass
class FreqTable:
    """Integer frequencies for symbols lo..lo+len(freq)-2, last entry = escape."""

    freq: np.ndarray
    lo: int
    _model: object = field(default=None, repr=False, compare=False)

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
        n = hi - lo + 1
        s = np.asarray(samples, dtype=np.int64).ravel()
        inside = (s >= lo) & (s <= hi)
        counts = np.bincount(s[inside] - lo, minlength=n).astype(np.float64)
        counts = np.append(counts, float((~inside).sum()))
        budget = total - counts.size
        if budget <= 0:
            raise ValueError("table alphabet larger than its total")
        tot = counts.sum()
        scaled = np.floor(counts * (budget / tot)) if tot > 0 else np.zeros_like(counts)
        return cls((scaled + 1).astype(np.uint32), lo)

    def validate(self) -> None:
        if self.freq.size < 2 or self.freq.min() < 1 or int(self.freq.sum()) >= 1 << 32:
            raise PhcompError("corrupt frequency table")


class Encoder:
    def __init__(self) -> None:
        self._enc = _RangeEncoder()
        self.escapes: list[np.ndarray] = []

    def encode(self, values: np.ndarray, table: FreqTable) -> None:
        v = np.asarray(values, dtype=np.int64).ravel()
        if v.size == 0:
            return
        idx = v - table.lo
        esc = (idx < 0) | (idx >= table.nsym)
        if esc.any():
            self.escapes.append(v[esc])
            idx[esc] = table.nsym
        self._enc.encode(idx.astype(np.int32), table.model)

    def encode_uniform(self, values: np.ndarray, bits: int) -> None:
        """Values in [0, 2**bits), each costing exactly ``bits`` bits."""
        if bits == 0 or np.size(values) == 0:
            return
        self._enc.encode(np.asarray(values, dtype=np.int32).ravel(), _Uniform(1 << bits))

    def words(self) -> np.ndarray:
        return self._enc.get_compressed()

    def escape_values(self) -> np.ndarray:
        return np.concatenate(self.escapes) if self.escapes else np.zeros(0, np.int64)


class Decoder:
    def __init__(self, words: np.ndarray, escapes: np.ndarray) -> None:
        self._dec = _RangeDecoder(np.ascontiguousarray(words, dtype=np.uint32))
        self._esc = escapes
        self._esc_pos = 0

    def decode(self, count: int, table: FreqTable) -> np.ndarray:
        if count == 0:
            return np.zeros(0, np.int64)
        try:
            idx = self._dec.decode(table.model, int(count))
        except Exception as e:  # constriction raises on states no encoder can produce
            raise PhcompError(f"corrupt range-coded stream: {e}") from None
        out = idx.astype(np.int64)
        esc = out == table.nsym
        n_esc = int(esc.sum())
        out += table.lo
        if n_esc:
            if self._esc_pos + n_esc > self._esc.size:
                raise PhcompError("corrupt range-coded stream: escape list exhausted")
            out[esc] = self._esc[self._esc_pos : self._esc_pos + n_esc]
            self._esc_pos += n_esc
        return out

    def decode_uniform(self, count: int, bits: int) -> np.ndarray:
        if bits == 0 or count == 0:
            return np.zeros(count, np.int64)
        try:
            return self._dec.decode(_Uniform(1 << bits), int(count)).astype(np.int64)
        except Exception as e:
            raise PhcompError(f"corrupt range-coded stream: {e}") from None

    def finish(self) -> None:
        if self._esc_pos != self._esc.size:
            raise PhcompError("corrupt range-coded stream: unused escape values")


def write_stream(w, enc: Encoder) -> None:
    """Range-coded words (u64 count + raw LE uint32) then the escape values."""
    from .intpack import pack_ints

    words = enc.words().astype("<u4")
    w.u64(words.size)
    w.raw(words.tobytes())
    pack_ints(w, enc.escape_values())


def read_stream(r, max_escapes: int) -> Decoder:
    from .intpack import unpack_ints

    nwords = r.u64()
    if nwords * 4 > r.remaining:
        raise PhcompError("truncated or corrupt range-coded stream")
    words = np.frombuffer(r.raw(nwords * 4), dtype="<u4").astype(np.uint32)
    escapes = unpack_ints(r, max_escapes, "escape values")
    return Decoder(words, escapes)
