"""Entropy-model tables of a model: fitting at training time, storage as two integer arrays.

Latent coefficients are coded with tables fitted on the training latents and stored in the
model (never refitted at decode time). Because the latent step changes with the error bound,
tables are fitted on a ladder of *scales* s = sigma / step, half an octave apart
(s = 2**(level/2)); the encoder picks the level nearest the chunk's step and records it.
For scales above the ladder, the dense coder drops ``shift`` low bits to a uniform code and
codes the high part with the top table (the low bits of a wide distribution are ~uniform).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import PhcompError
from .rangecoder import FreqTable, histogram

LEVEL_MIN = -8  # s = 1/16: nearly every coefficient quantizes to 0
LEVEL_MAX = 10  # s = 32
LEVELS = list(range(LEVEL_MIN, LEVEL_MAX + 1))
QUAD_LEVEL_MAX = 0  # dense groups at scale <= 1 are coded four values per symbol
CONTEXTS = 4  # activity contexts per dense table (quartiles of the training activity)
TABLE_SAMPLE = 20_000  # training blocks used to fit the tables
# Each context's table is its histogram plus PRIOR_POOL pseudo-counts of the group's histogram
# over all contexts, which has PRIOR_SHAPE pseudo-counts of a Laplace shape of the level's scale:
# with small training sets, raw per-context histograms overfit (on turb2d 4 contexts lost to 1).
PRIOR_POOL = 1024.0
PRIOR_SHAPE = 4096.0
SPARSE_ALPHABET = 1024  # count / gap alphabets of the index-difference coder (escape above)
VALUE_RADIUS = 256  # nonzero-value alphabet of the index-difference coder


def scale_of_level(level: int) -> float:
    return 2.0 ** (level / 2.0)


def level_and_shift(sigma: float, step: float) -> tuple[int, int]:
    """Ladder level and number of uniform low bits for coefficients of std ``sigma`` at ``step``."""
    s = min(max(sigma, 1e-300) / step, 1e300)  # a model's huge sigma must not reach inf
    shift = 0
    top = scale_of_level(LEVEL_MAX)
    if s > top:
        shift = min(int(math.ceil(math.log2(s / top))), 20)
        s /= 2.0**shift
    level = int(round(2.0 * math.log2(max(s, 1e-300))))
    return max(LEVEL_MIN, min(LEVEL_MAX, level)), shift


def zigzag_nonzero(v: np.ndarray) -> np.ndarray:
    """Nonzero ints -> 0, 1, 2, ...: +1 -> 0, -1 -> 1, +2 -> 2, -2 -> 3, ..."""
    return np.where(v > 0, 2 * v - 2, -2 * v - 1)


def unzigzag_nonzero(u: np.ndarray) -> np.ndarray:
    return np.where(u % 2 == 0, u // 2 + 1, -(u + 1) // 2)


def activity(q_lower: np.ndarray) -> np.ndarray:
    """Context variable of a block for a group: sum of |q| over all lower (already coded) channels."""
    return np.abs(q_lower.astype(np.int64)).sum(axis=1) if q_lower.shape[1] else np.zeros(len(q_lower), np.int64)


def context_of(act: np.ndarray, edges: np.ndarray, shift: int) -> np.ndarray:
    """Context index per block; with ``shift`` low bits dropped the table's units are 2**shift coarser."""
    return np.searchsorted(edges, act >> shift if shift else act, side="right")


def laplace_shape(scale: float, radius: int) -> np.ndarray:
    """Probabilities of the integers -radius..radius, then of |v| > radius, for a Laplace law of
    standard deviation ``scale`` (the spread of a coefficient at a level) integrated over each bin."""
    b = max(scale, 1e-3) / math.sqrt(2.0)
    v = np.arange(-radius, radius + 2) - 0.5
    cdf = np.where(v < 0, 0.5 * np.exp(np.minimum(v, 0) / b), 1.0 - 0.5 * np.exp(-np.maximum(v, 0) / b))
    p = np.diff(cdf)
    return np.append(p, max(0.0, 1.0 - p.sum()))


def fit_dense_tables(coeffs: np.ndarray, a: int, b: int, sigma: float, level: int) -> tuple[list[FreqTable], np.ndarray]:
    """Tables (one per activity context) for channels [a, b) at one ladder level, and the context edges."""
    step = max(sigma, 1e-300) / scale_of_level(level)
    q = np.rint(coeffs[:, a:b] / step).astype(np.int64)
    act = activity(np.rint(coeffs[:, :a] / step))
    edges = np.quantile(act, np.linspace(0, 1, CONTEXTS + 1)[1:-1], method="lower").astype(np.int64)
    ctx = context_of(act, edges, 0)
    radius = int(min(max(8 * scale_of_level(level), 4), 4096))
    counts = [histogram(q[ctx == c], -radius, radius) for c in range(CONTEXTS)]
    pooled = np.sum(counts, axis=0)
    pooled = (pooled + PRIOR_SHAPE * laplace_shape(scale_of_level(level), radius)) / (pooled.sum() + PRIOR_SHAPE)
    return [FreqTable.from_weights(c + PRIOR_POOL * pooled, -radius) for c in counts], edges


def fit_sparse_tables(coeffs: np.ndarray, sigma_all: float, level: int) -> list[FreqTable]:
    """Tables for (nonzeros per block, gaps between nonzeros, zigzagged nonzero values)."""
    step = max(sigma_all, 1e-300) / scale_of_level(level)
    q = np.rint(coeffs / step).astype(np.int64)
    nz = q != 0
    k = q.shape[1]
    counts = nz.sum(axis=1)
    rows, cols = np.nonzero(nz)
    gaps = index_gaps(rows, cols)
    vals = zigzag_nonzero(q[nz])
    return [
        FreqTable.fit(counts, 0, min(k, SPARSE_ALPHABET)),
        FreqTable.fit(gaps, 0, min(k - 1, SPARSE_ALPHABET)),
        FreqTable.fit(vals, 0, 2 * VALUE_RADIUS - 1),
    ]


def index_gaps(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Index differences of nonzeros (row-major order): first col of a row, then col - prev - 1."""
    if cols.size == 0:
        return cols.astype(np.int64)
    prev = np.empty_like(cols)
    prev[0] = -1
    prev[1:] = cols[:-1]
    prev[np.r_[True, rows[1:] != rows[:-1]]] = -1
    return (cols - prev - 1).astype(np.int64)


def pack_tables(tables: list[FreqTable]) -> dict[str, np.ndarray]:
    freqs = np.concatenate([t.freq for t in tables]).astype(np.uint32) if tables else np.zeros(0, np.uint32)
    index = np.zeros((len(tables), 3), np.int64)
    off = 0
    for i, t in enumerate(tables):
        index[i] = (off, t.freq.size, t.lo)
        off += t.freq.size
    return {"tables.freq": freqs, "tables.index": index}


def packed_extent(index: np.ndarray) -> int | None:
    """How many frequencies the tables of ``index`` cover when they lie back to back from 0 (as
    pack_tables writes them), else None."""
    if index.ndim != 2 or index.shape[1] != 3 or not len(index):
        return None
    off, n = index[:, 0], index[:, 1]
    if off[0] != 0 or not bool((off[1:] == off[:-1] + n[:-1]).all()):
        return None
    return int(off[-1] + n[-1])


def unpack_tables(freqs: np.ndarray, index: np.ndarray) -> list[FreqTable]:
    if index.ndim != 2 or index.shape[1] != 3:
        raise PhcompError("corrupt model: bad table index")
    if not len(index):
        return []
    off, n = index[:, 0], index[:, 1]
    if (off < 0).any() or (n < 2).any() or (n > freqs.size).any() or (off > freqs.size - n).any():
        raise PhcompError("corrupt model: table outside the frequency array")
    f = freqs.astype(np.uint32, copy=False)  # the tables are views of it (read-only when loaded)
    extent = packed_extent(index)
    if extent is not None:  # as pack_tables writes them: every table checked in one pass (a model has ~10^5)
        seg = f[:extent]
        if int(seg.min()) < 1:
            raise PhcompError("corrupt frequency table")
        # each total < 2**32: n * max bounds it; only tables where that bound is too loose are summed
        loose = np.flatnonzero(np.maximum.reduceat(seg, off).astype(np.uint64) * n.astype(np.uint64) >= 1 << 32)
        if any(int(seg[off[i] : off[i] + n[i]].sum(dtype=np.uint64)) >= 1 << 32 for i in loose):
            raise PhcompError("corrupt frequency table")
    out = [FreqTable(f[o : o + k], lo) for o, k, lo in index.tolist()]
    if extent is None:
        for t in out:
            t.validate()
    return out


class LatentTables:
    """The tables one model uses for its latents, with the lookups of both coders."""

    def __init__(self, tables: list[FreqTable], spec: dict, ctx_edges: np.ndarray) -> None:
        self.tables = tables
        self.group_edges = [int(e) for e in spec["group_edges"]]
        self.sigma = [float(s) for s in spec["group_sigma"]]
        self.sigma_all = float(spec["sigma_all"])
        self.dense_base = int(spec["dense_base"])
        self.sparse_base = int(spec["sparse_base"])
        self.contexts = int(spec["contexts"])
        ngroups = len(self.group_edges) - 1
        need = max(self.dense_base + ngroups * len(LEVELS) * self.contexts, self.sparse_base + 3 * len(LEVELS))
        if len(self.sigma) != ngroups or need > len(tables) or not 1 <= self.contexts <= 64:
            raise PhcompError("corrupt model: latent table spec does not match its tables")
        self.ctx_edges = np.asarray(ctx_edges, dtype=np.int64)
        if self.ctx_edges.shape != (ngroups, len(LEVELS), self.contexts - 1):
            raise PhcompError("corrupt model: context edges do not match the tables")
        if (np.diff(self.ctx_edges, axis=-1) < 0).any():  # contexts are found by binary search
            raise PhcompError("corrupt model: context edges are not sorted")

    @property
    def ngroups(self) -> int:
        return len(self.group_edges) - 1

    def dense(self, group: int, level: int, ctx: int) -> FreqTable:
        return self.tables[self.dense_base + (group * len(LEVELS) + level - LEVEL_MIN) * self.contexts + ctx]

    def edges(self, group: int, level: int) -> np.ndarray:
        return self.ctx_edges[group, level - LEVEL_MIN]

    def sparse(self, level: int) -> list[FreqTable]:
        b = self.sparse_base + 3 * (level - LEVEL_MIN)
        return self.tables[b : b + 3]

    @classmethod
    def fit(cls, coeffs: np.ndarray, ngroups: int = 32, seed: int = 0) -> tuple[list[FreqTable], dict, np.ndarray]:
        """Fit every table from training coefficients (n_blocks, K), channels ranked by variance."""
        if len(coeffs) > TABLE_SAMPLE:
            coeffs = coeffs[np.random.default_rng(seed).choice(len(coeffs), TABLE_SAMPLE, replace=False)]
        k = coeffs.shape[1]
        ngroups = max(1, min(ngroups, k))
        # geometric group edges: the few high-variance channels get groups of their own
        edges = np.unique(np.round(np.geomspace(1, k + 1, ngroups + 1)).astype(int) - 1)
        edges[0], edges[-1] = 0, k
        edges = np.unique(edges)
        sigma = [float(np.sqrt(np.mean(coeffs[:, a:b] ** 2))) for a, b in zip(edges[:-1], edges[1:])]
        sigma_all = float(np.sqrt(np.mean(coeffs**2)))
        tables: list[FreqTable] = []
        ctx_edges = np.zeros((len(sigma), len(LEVELS), CONTEXTS - 1), np.int64)
        for g, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            for i, level in enumerate(LEVELS):
                ts, ctx_edges[g, i] = fit_dense_tables(coeffs, a, b, sigma[g], level)
                tables.extend(ts)
        sparse_base = len(tables)
        for level in LEVELS:
            tables.extend(fit_sparse_tables(coeffs, sigma_all, level))
        spec = {
            "group_edges": [int(e) for e in edges],
            "group_sigma": sigma,
            "sigma_all": sigma_all,
            "dense_base": 0,
            "sparse_base": sparse_base,
            "contexts": CONTEXTS,
        }
        return tables, spec, ctx_edges
