"""kind="interp": multilevel interpolation with trained weights and trained context tables,
decoded by the core's exact ``interp_int`` predictor (phcomp/core/interp.py).

Transform models quantize coefficients and then fix every value with a residual; at tight
bounds that residual and the coefficients' spread cost most of the bits. Predictive coding
quantizes each value once, against a prediction from already decoded neighbours, so the
bound holds by construction. What is trained: the entropy tables of every (stride class,
4 activities) context, fitted on the symbols the exact encoder produces on the training data
at a ladder of bounds (contexts are in units of the quantizer step, so one set of tables
serves every bound), and the 8 symmetric interpolation weights of each stride class: fitted
by least absolute deviation (the code length grows with log |error|, which L1 tracks better
than least squares) or the 7th-order Lagrange ones, whichever codes the training data
shorter ("auto"; smooth fields keep Lagrange's, rougher ones gain from fitted weights).

``family_tables=True`` treats each training array as one family of physics and ships a table set
per family beside the one fitted on all of them (same weights): the encoder codes each item
group with whichever set prices it lowest (phcomp/core/interp.py), so data like one family
codes as well as with that family's own model, and data like none gets the pooled tables
(docs/defaults.md measures both, family by family).
"""
from __future__ import annotations

import numpy as np

from ..core import interp
from ..core.errors import PhcompError
from ..core.model import Model
from ..core.rangecoder import FreqTable, histogram
from ..core.tables import laplace_shape, pack_tables

LAGRANGE7 = np.array([-5, 49, -245, 1225, 1225, -245, 49, -5]) / 2048.0
# context bins at Q * 2**e (phcomp/core/interp.py): curvature, slope, correction (-64: an edge at
# 0, so uncorrected points, at -1, have bins of their own), errors of the nearest known points
CONTEXT_EXPS = [list(range(-4, 8)), list(range(-2, 12, 2)), [-64] + list(range(-2, 8, 2)), [-1, 1, 3]]
TRAIN_RELS = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5)
TRAIN_VALUES = 1 << 21  # values per bound the tables are fitted on
PRIOR = 256.0  # pseudo-counts of a Laplace shape of the context's own spread
RADIUS_MAX = 2048
WEIGHTS = ("auto", "fit", "lagrange")


def _items(arrays: list[np.ndarray], ndim: int, max_values: int, seed: int) -> list[np.ndarray]:
    """Training items (trailing ``ndim`` axes), a seeded subset of about ``max_values`` values;
    one entry per array, in order."""
    out = []
    for a in arrays:
        items, sp = interp.split_shape(a.shape, ndim)
        out.append(np.asarray(a, dtype=np.float64).reshape((items,) + sp))
    total = sum(x.size for x in out)
    if total <= max_values:
        return out
    rng = np.random.default_rng(seed)
    keep = []
    for x in out:
        k = max(1, int(round(len(x) * max_values / total)))
        keep.append(x[np.sort(rng.choice(len(x), min(k, len(x)), replace=False))])
    return keep


def _integer_weights(w: np.ndarray) -> np.ndarray:
    """Symmetric weights in units of 2**-16, summing to exactly 2**16 (constants are preserved)."""
    wi = np.rint(w * (1 << interp.WEIGHT_SHIFT)).astype(np.int64)
    m = interp.TAPS.size // 2
    diff = (1 << interp.WEIGHT_SHIFT) - int(wi.sum())
    wi[m - 1] += diff // 2
    wi[m] += diff - diff // 2
    return wi


def _fit_weights(items: list[np.ndarray], classes: int, iters: int = 10) -> np.ndarray:
    """Least-absolute-deviation symmetric weights per stride class, on the training values
    themselves (open loop: at the bounds that matter the decoded neighbours are that close)."""
    feats: list[list[np.ndarray]] = [[] for _ in range(classes)]
    targets: list[list[np.ndarray]] = [[] for _ in range(classes)]
    for x in items:
        for lv, s, ax, _, idx in interp.passes(x.shape[1:]):
            c = min(lv, classes - 1)
            nb = interp._neighbours(x, s, ax, idx)
            m = interp.TAPS.size // 2
            feats[c].append(np.stack([nb[m - 1 - i] + nb[m + i] for i in range(m)], 1))
            targets[c].append(x[(slice(None),) + np.ix_(*idx)].reshape(-1))
    out = np.tile(LAGRANGE7, (classes, 1))
    for c in range(classes):
        if not feats[c]:
            continue
        P, t = np.concatenate(feats[c]), np.concatenate(targets[c])
        if len(t) < 64:
            continue
        half = LAGRANGE7[4:].copy()
        base = np.abs(t - P @ half).mean()
        v = half
        for _ in range(iters):
            r = np.abs(t - P @ v)
            wt = 1.0 / np.maximum(r, 1e-3 * max(r.mean(), 1e-300))
            A = P * wt[:, None]
            try:
                v = np.linalg.solve(P.T @ A, A.T @ t)
            except np.linalg.LinAlgError:
                v = half
                break
        if np.abs(t - P @ v).mean() < base and np.abs(v).sum() * 2 < 3.5:  # well inside WEIGHT_ABS_SUM_MAX
            out[c] = np.r_[v[::-1], v]
    return out


def _fit_tables(items: list[np.ndarray], spec: interp.InterpSpec, rels, progress) -> tuple[list[FreqTable], float]:
    """One table per context from the exact encoder's symbols at each training bound, and
    the code length of those symbols with them (bits)."""
    buckets: list[list[np.ndarray]] = [[] for _ in range(spec.ntables)]

    def emit(ctx: np.ndarray, q: np.ndarray) -> None:
        order, used, counts = interp.context_runs(ctx, spec.ntables)
        for c, part in zip(used.tolist(), np.split(q[order], np.cumsum(counts)[:-1])):
            buckets[c].append(part)

    for rel in rels:
        for x in items:
            lo, hi = float(x.min()), float(x.max())
            half = max(hi / 2 - lo / 2, 1e-300)
            eps = rel * 2 * half
            bits = interp.grid_bits(half, eps)
            v = (x - (lo / 2 + hi / 2)) / (eps / 2.0**bits)
            interp.quantize(lambda i0, i1: v[i0:i1], len(v), v.shape[1:], spec, bits, emit,
                            interp.group_items(int(np.prod(x.shape[1:]))))
        if progress:
            progress(1)
    tables, bits = [], 0.0
    n1 = len(spec.exps[0]) + 1
    rest = int(np.prod([len(x) + 1 for x in spec.exps[1:]]))
    for t in range(spec.ntables):
        q = np.concatenate(buckets[t]) if buckets[t] else np.zeros(0, np.int64)
        b1 = (t // rest) % n1
        guess = 2.0 ** spec.exps[0][min(b1, n1 - 2)]  # the first activity bin's scale, in units of Q
        scale = float(np.sqrt(np.mean(q.astype(np.float64) ** 2))) if q.size >= 64 else max(guess, 0.3)
        radius = int(min(max(8 * scale, 4, np.abs(q).max() if q.size else 0), RADIUS_MAX))
        counts = histogram(q, -radius, radius).astype(np.float64)
        tables.append(FreqTable.from_weights(counts + PRIOR * laplace_shape(max(scale, 0.05), radius), -radius))
        bits += tables[-1].cost_bits(q) if q.size else 0.0
    return tables, bits


def train_interp(arrays: list[np.ndarray], ndim: int, *, classes: int = 4, weights: str = "auto",
                 rels=TRAIN_RELS, max_values: int = TRAIN_VALUES, seed: int = 0, default_rel: float = 1e-3,
                 family_tables: bool = False, progress=None, meta: dict | None = None) -> Model:
    if not isinstance(arrays, (list, tuple)):
        arrays = [arrays]
    if family_tables and not 2 <= len(arrays) <= interp.MAX_TABLE_SETS - 1:
        raise PhcompError(f"family_tables needs 2 to {interp.MAX_TABLE_SETS - 1} arrays (one per family), "
                          f"got {len(arrays)}")
    if weights not in WEIGHTS:
        raise PhcompError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    if not 1 <= ndim <= 4:
        raise PhcompError(f"kind 'interp' interpolates 1 to 4 trailing axes, not {ndim}")
    items = _items(arrays, ndim, max_values, seed)
    candidates = {}
    if weights in ("fit", "auto"):
        candidates["fit"] = _fit_weights(items, classes)
    if weights in ("lagrange", "auto"):
        candidates["lagrange"] = np.tile(LAGRANGE7, (classes, 1))
    ntables = classes * int(np.prod([len(x) + 1 for x in CONTEXT_EXPS]))
    best = None
    for name, w in candidates.items():  # "auto": the weights whose training symbols code shortest
        wi = np.stack([_integer_weights(r) for r in w])
        tables, bits = _fit_tables(items, interp.InterpSpec(wi, CONTEXT_EXPS, [None] * ntables, ndim), rels, progress)
        if best is None or bits < best[0]:
            best = (bits, name, wi, tables)
    _, weights, wi, tables = best
    decoder = {"type": "interp_int", "ndim": ndim, "context_exps": CONTEXT_EXPS}
    if family_tables:  # set 0 pooled, then one per family, all with the chosen weights
        spec = interp.InterpSpec(wi, CONTEXT_EXPS, [None] * ntables, ndim)
        for x in items:
            tables = tables + _fit_tables([x], spec, rels, progress)[0]
        decoder["table_sets"] = 1 + len(items)
    arrays_out = {"decoder.weights": wi, **pack_tables(tables)}
    params = {"decoder": decoder, "default_rel": float(default_rel)}
    info = {"trained_on_values": int(sum(x.size for x in items)), "weights": weights,
            "train_rels": [float(r) for r in rels], **(meta or {})}
    return Model("interp", (1,) * ndim, params, arrays_out, info)
