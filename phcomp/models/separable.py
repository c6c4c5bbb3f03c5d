"""kind="separable": a large block as the tensor product of one basis per axis, exported to
the core's exact ``separable_int`` decoder.

A full block PCA needs a d x d matrix and many training blocks, so its blocks stay small
(8^3): it cannot use the correlation of smooth fields across block borders. One basis per
axis costs only sum(B_i^2) numbers, so blocks of 16^3 or 64^2 are cheap to store and to
decode (sum(B_i) multiply-adds per value instead of d). The per-axis bases are the DCT-II
("dct", the default: nothing to estimate) or the eigenvectors of the covariance of training
fibres along each axis ("pca"). What is trained either way: the ranking of the d coefficients
by training variance (the latent channel order), the per-group context tables of their
quantized values and the step factors per bound.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.decoder import SeparableEncoder, SeparableIntDecoder
from ..core.errors import PhcompError
from ..core.model import Model
from .linear import assemble_model, principal_axes, sample_blocks

BASES = ("dct", "pca")
MAX_SHIFT = 20  # basis entries to 2**-20 when the block is small enough to afford it
Q_TARGET = 1 << 21  # latents up to 2**21 stay exact: rel 1e-4 on a 16^3 block needs ~2**19
TRAIN_VALUES = 1 << 24  # training values used (blocks x block size): tables need no more


def dct_basis(n: int) -> np.ndarray:
    """Orthonormal DCT-II as rows: a[k, s] = basis function k at position s."""
    k, s = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * s + 1) * k / (2 * n))
    a[0] /= np.sqrt(2.0)
    return a


def pca_axis_basis(blocks: np.ndarray, axis: int) -> np.ndarray:
    """Rows: eigenvectors of the covariance of the training fibres along ``axis``, by variance."""
    fibres = np.moveaxis(blocks, axis + 1, -1).reshape(-1, blocks.shape[axis + 1])
    return principal_axes(fibres.T @ fibres / max(len(fibres), 1))[1].T


def _integer_axes(bases: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """The bases scaled by 2**shift and rounded, with the largest shift that keeps latents up to
    Q_TARGET exact in the decoder (larger blocks and more axes leave fewer bits per entry)."""
    for shift in range(MAX_SHIFT, 3, -1):
        axes = [np.rint(b * 2.0**shift).astype(np.int32) for b in bases]
        order = np.arange(int(np.prod([a.shape[0] for a in axes])), dtype=np.int32)
        mean = np.zeros(order.size)
        try:
            if SeparableIntDecoder(axes, order, mean, shift).q_limit >= Q_TARGET:
                return axes, shift
        except PhcompError:  # weights past the exact range at this shift: try a smaller one
            continue
    raise PhcompError("block too large for the separable decoder's exact arithmetic")


def train_separable(arrays: list[np.ndarray], block: tuple[int, ...], *, basis: str = "dct", groups: int = 32,
                    max_blocks: int | None = None, seed: int = 0, step_factor: float = 1.0, default_rel: float = 1e-3,
                    deadzone: float = 0.0, calibrate: bool = True, meta: dict | None = None) -> Model:
    if basis not in BASES:
        raise PhcompError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    d = int(np.prod(block))
    x = sample_blocks(arrays, block, max_blocks or max(1, TRAIN_VALUES // d), seed)
    mu = x.mean(axis=0)
    xc = (x - mu).reshape((len(x),) + tuple(block))
    bases = [dct_basis(b) if basis == "dct" else pca_axis_basis(xc, i) for i, b in enumerate(block)]
    axes, shift = _integer_axes(bases)
    inverses = [np.linalg.inv(a.astype(np.float64) / 2.0**shift) for a in axes]
    # coefficients of the training blocks in natural order, then channels ranked by variance
    natural = SeparableEncoder(inverses, np.arange(d), mu)(x)
    order = np.argsort(-np.mean(natural**2, axis=0), kind="stable").astype(np.int32)
    coeffs = natural[:, order]
    arrays_out = {f"encoder.axis{i}.inverse": inv for i, inv in enumerate(inverses)}
    arrays_out["encoder.mean"] = mu
    arrays_out.update({f"decoder.axis{i}": a for i, a in enumerate(axes)})
    arrays_out["decoder.order"] = order
    arrays_out["decoder.mean"] = mu
    q_limit = SeparableIntDecoder(axes, order, mu, shift).q_limit
    # |coefficient| <= max|x - mu| * prod of the inverses' column sums (x is normalised to [-1, 1])
    coef_bound = (1.0 + float(np.abs(mu).max())) * math.prod(float(np.abs(inv).sum(axis=0).max()) for inv in inverses)
    info = {"trained_on_blocks": int(len(x)), "basis": basis, "weight_shift": shift}
    return assemble_model("separable", tuple(block), arrays_out, coeffs,
                          {"type": "separable_int", "shift": shift, "ndim": len(block)},
                          {"type": "separable", "ndim": len(block)}, q_limit=q_limit, coef_bound=coef_bound,
                          groups=groups, seed=seed, step_factor=step_factor, default_rel=default_rel, deadzone=deadzone,
                          calibrate=calibrate, arrays=arrays, info={**info, **(meta or {})})

