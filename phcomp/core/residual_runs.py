"""Residual section, zero-run coding (section kind 7): for residuals that are nearly all zero.

At the bounds phcomp is used at, nearly all residual integers are 0 and nearly all others
are +-1. Coding the zeros as run lengths needs one range-coder symbol per nonzero value
instead of one per four values, so decoding is several times faster at the same size: the
run table is the exact i.i.d. model ``P(r zeros then v) = p0**r * p(v)``, derived in
integers from four stored weights, as the quad table is derived from the single-value table.

Section body: u16 w0, w+, w-, wo (12-bit weights of 0, +1, -1 and any other value; each >= 1);
u64 S (number of run symbols); packed ints: the runs and the values of the "other" symbols;
then the range-coded stream of S run symbols with the run table:
``2r`` / ``2r+1``: r zeros then +1 / -1 (r < RUN_MAX); ``2 RUN_MAX``: RUN_MAX zeros and no
value; ``2 RUN_MAX + 1``: the next entry of the side lists (its run < RUN_MAX zeros, then its
value, |value| >= 2). Positions after the last coded value are zero.
"""
from __future__ import annotations

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .intpack import pack_ints, unpack_ints
from .rangecoder import Encoder, FreqTable, read_stream, write_stream

RUN_MAX = 256
CONTINUE = 2 * RUN_MAX
OTHER = 2 * RUN_MAX + 1
WEIGHT_BITS = 12
_ONE = 1 << 30  # fixed-point 1 of the run probabilities


def value_counts(qr: np.ndarray) -> tuple[int, int, int, int]:
    """How many residuals are 0, +1, -1 and anything else (what both the choice of coding and the
    run weights need: counted once)."""
    n = qr.size
    pos = int(np.count_nonzero(qr == 1))
    neg = int(np.count_nonzero(qr == -1))
    zero = n - int(np.count_nonzero(qr))
    return zero, pos, neg, n - zero - pos - neg


def weights_of(counts: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The value counts scaled to a 12-bit total, each weight >= 1."""
    c = np.array(counts, np.float64)
    budget = (1 << WEIGHT_BITS) - 4
    scaled = np.floor(c * (budget / max(c.sum(), 1))) + 1
    return tuple(int(v) for v in scaled)


def run_table(w0: int, wp: int, wn: int, wo: int) -> FreqTable:
    """The i.i.d. run model in integers (Python ints: exact everywhere). The table's own escape
    entry (weight 1) is never coded."""
    total = w0 + wp + wn + wo
    p = [_ONE]
    for _ in range(RUN_MAX):
        p.append(p[-1] * w0 // total)  # p[r] = ONE * (w0/total)**r, rounded down step by step
    freq = np.ones(2 * RUN_MAX + 3, np.int64)
    pr = np.array(p[:RUN_MAX], np.int64)
    freq[0:CONTINUE:2] = np.maximum(pr * wp // total, 1)
    freq[1:CONTINUE:2] = np.maximum(pr * wn // total, 1)
    freq[CONTINUE] = max(p[RUN_MAX], 1)
    freq[OTHER] = max(int(pr.sum()) * wo // total, 1)
    return FreqTable(freq.astype(np.uint32), 0)


def suits(counts: tuple[int, int, int, int]) -> bool:
    """Runs (given ``value_counts``) when they need fewer symbols than quads and values other than
    0, +-1 are rare."""
    zero, pos, neg, other = counts
    nz = pos + neg + other
    return nz * 4 <= zero + nz and other * 16 <= nz


def encode(qr: np.ndarray, counts: tuple[int, int, int, int] | None = None) -> bytes:
    flat = qr.reshape(-1)
    w0, wp, wn, wo = weights_of(counts if counts is not None else value_counts(flat))
    nz = np.flatnonzero(flat)
    vals = flat[nz].astype(np.int64)
    gaps = np.diff(nz, prepend=-1) - 1  # zeros before each nonzero value
    counts = gaps // RUN_MAX + 1  # continuation symbols, then the value's symbol
    syms = np.full(int(counts.sum()), CONTINUE, np.int64)
    at = np.cumsum(counts) - 1
    run = gaps % RUN_MAX
    other = np.abs(vals) != 1
    syms[at] = np.where(other, OTHER, 2 * run + (vals < 0))
    w = ByteWriter()
    for v in (w0, wp, wn, wo):
        w.u16(v)
    w.u64(syms.size)
    pack_ints(w, run[other])
    pack_ints(w, vals[other])
    enc = Encoder()
    enc.encode(syms, run_table(w0, wp, wn, wo))
    write_stream(w, enc)
    return w.getvalue()


def decode(data: bytes, n: int, limit: int) -> np.ndarray:
    r = ByteReader(data, "residual section")
    weights = [r.u16() for _ in range(4)]
    if min(weights) < 1 or sum(weights) > 1 << WEIGHT_BITS:
        raise PhcompError("corrupt residual section: bad run weights")
    nsym = r.u64()
    if nsym > n:
        raise PhcompError("corrupt residual section: more run symbols than values")
    o_run = unpack_ints(r, nsym, "residual runs")
    o_val = unpack_ints(r, nsym, "residual values")
    dec = read_stream(r, 0)
    syms = dec.decode(nsym, run_table(*weights), out=np.empty(nsym, np.int64))
    dec.finish()
    r.expect_end()
    if nsym and syms.max() > OTHER:
        raise PhcompError("corrupt residual section: bad run symbol")
    adv = (syms >> 1) + 1
    adv[syms == CONTINUE] = RUN_MAX
    is_other = syms == OTHER
    if int(np.count_nonzero(is_other)) != o_run.size or o_val.size != o_run.size:
        raise PhcompError("corrupt residual section: side lists do not match the run symbols")
    if o_run.size and (o_run.min() < 0 or o_run.max() >= RUN_MAX or np.abs(o_val).max() >= limit
                       or np.abs(o_val).min() < 2):
        raise PhcompError("corrupt residual section: bad side-list entry")
    adv[is_other] = o_run + 1
    end = np.cumsum(adv)
    if nsym and end[-1] > n:
        raise PhcompError("corrupt residual section: runs pass the end of the chunk")
    has_value = syms != CONTINUE
    vals = 1 - 2 * (syms[has_value] & 1)
    vals[is_other[has_value]] = o_val
    out = np.zeros(n, np.int32)
    out[end[has_value] - 1] = vals
    return out
