"""kind="linear": block PCA fitted with numpy, exported to the exact integer decoder.

The basis is full rank by default (CALIBRATION.md: truncated PCA loses at tight bounds,
where the residual takes over). Training blocks are normalised per array exactly as the
codec normalises a chunk (finite range mapped onto [-1, 1]).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..core.blocking import Blocking
from ..core.decoder import LinearIntDecoder
from ..core.errors import PhcompError
from ..core.model import Model
from ..core.tables import LatentTables, pack_tables

WEIGHT_SHIFT = 24  # basis entries |v| <= 1 kept to 2**-24: far below any useful bound


def finite_range_of(arrays: Iterable[np.ndarray]) -> tuple[float, float]:
    """(mid, half) of the finite values of all arrays together: a model's fixed normalisation."""
    lo, hi = np.inf, -np.inf
    for a in arrays:
        fin = np.asarray(a)[np.isfinite(a)]
        if fin.size:
            lo, hi = min(lo, float(fin.min())), max(hi, float(fin.max()))
    if not lo < hi:
        raise PhcompError("no usable training data (all arrays constant or non-finite)")
    return lo / 2 + hi / 2, hi / 2 - lo / 2


def sample_blocks(arrays: Iterable[np.ndarray], block: tuple[int, ...], max_blocks: int, seed: int,
                  norm: tuple[float, float] | None = None) -> np.ndarray:
    """Normalised blocks drawn uniformly from all arrays (at most ``max_blocks``): each array's finite
    range onto [-1, 1] as the codec does per chunk, or ``norm`` = (mid, half) for all of them."""
    arrays = [np.asarray(a) for a in arrays]
    total = sum(Blocking(a.shape, block).nblocks for a in arrays)
    if total == 0:
        raise PhcompError("no training data: every array is empty")
    keep = min(1.0, max_blocks / total)
    rng = np.random.default_rng(seed)
    out = []
    for a in arrays:
        if a.dtype.kind != "f":
            a = a.astype(np.float64)
        b = Blocking(a.shape, block)
        fin = a[np.isfinite(a)]
        if fin.size == 0:
            continue
        lo, hi = float(fin.min()), float(fin.max())
        mid, half = (lo / 2 + hi / 2, hi / 2 - lo / 2) if norm is None else norm
        if half == 0:
            continue
        xv = b.view(a)
        for s in b.slabs():
            sel = rng.random(s.nblocks) < keep
            if not sel.any():
                continue
            sub = b.slab_values(xv, s)
            sub[~np.isfinite(sub)] = mid
            out.append(b.to_blocks((sub - mid) / half, s)[sel])
    if not out:
        raise PhcompError("no usable training data (all arrays constant or non-finite)")
    return np.concatenate(out)


def principal_axes(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of a covariance, largest first, and their eigenvectors as columns, each with its
    largest entry positive (so training is reproducible across LAPACKs)."""
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    basis = evecs[:, order]
    idx = np.argmax(np.abs(basis), axis=0)
    basis *= np.sign(basis[idx, np.arange(basis.shape[1])])
    return evals[order], basis


def train_linear(arrays: list[np.ndarray], block: tuple[int, ...], *, rank: int | None = None, groups: int = 32,
                 max_blocks: int = 200_000, seed: int = 0, step_factor: float = 1.0, default_rel: float = 1e-3,
                 deadzone: float = 0.0, calibrate: bool = True, meta: dict | None = None) -> Model:
    x = sample_blocks(arrays, block, max_blocks, seed)
    d = x.shape[1]
    k = d if rank is None else int(rank)
    if not 1 <= k <= d:
        raise PhcompError(f"rank must be in 1..{d}, got {rank}")
    mu = x.mean(axis=0)
    xc = x - mu
    evals, basis = principal_axes(xc.T @ xc / max(len(x) - 1, 1))
    basis = basis[:, :k]
    weight = np.rint(basis.T * 2.0**WEIGHT_SHIFT).astype(np.int32)
    coeffs = xc @ basis
    arrays_out = {"encoder.matrix": basis, "encoder.mean": mu, "decoder.weight": weight, "decoder.mean": mu}
    q_limit = LinearIntDecoder(weight, mu, WEIGHT_SHIFT).q_limit
    info = {"trained_on_blocks": int(len(x)), "explained_variance": [float(v) for v in evals[:8]]}
    coef_bound = np.sqrt(d) * (1.0 + float(np.abs(mu).max()))
    return assemble_model("linear", block, arrays_out, coeffs, {"type": "linear_int", "shift": WEIGHT_SHIFT},
                          {"type": "linear"}, q_limit=q_limit, coef_bound=coef_bound, groups=groups, seed=seed,
                          step_factor=step_factor, default_rel=default_rel, deadzone=deadzone, calibrate=calibrate,
                          arrays=arrays, info={**info, **(meta or {})})


def assemble_model(kind: str, block: tuple[int, ...], arrays_out: dict[str, np.ndarray], coeffs: np.ndarray,
                   decoder: dict, encoder: dict, *, q_limit: int, coef_bound: float, groups: int, seed: int,
                   step_factor: float, default_rel: float, deadzone: float, calibrate: bool,
                   arrays: list[np.ndarray], info: dict) -> Model:
    """A transform model (linear or separable) from its arrays and its training coefficients
    (variance-ranked channels): latent tables fitted, step factors calibrated on ``arrays``.
    ``coef_bound`` bounds |coefficient| of any normalised block: the step never goes below the one
    that would push a coefficient past the decoder's ``q_limit``."""
    tables, spec, ctx_edges = LatentTables.fit(coeffs, groups, seed)
    arrays_out = dict(arrays_out, **pack_tables(tables))
    arrays_out["tables.ctx_edges"] = ctx_edges
    params = {
        "decoder": decoder,
        "encoder": encoder,
        "latent_coding": spec,
        "step_factor": float(step_factor),
        # the model's own rate point: the step a bound of default_rel of the range would use
        "default_step": float(step_factor * 4.0 * default_rel),
        "min_step": float(coef_bound / q_limit * 1.01),
        "deadzone": float(deadzone),
    }
    model = Model(kind, block, params, arrays_out, info)
    if calibrate:
        from .calibrate import calibrate_steps

        model = calibrate_steps(model, arrays)
    return model
