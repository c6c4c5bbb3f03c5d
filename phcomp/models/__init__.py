"""Trainable model kinds. Torch (for the neural kinds) is imported here and nowhere in core."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import PhcompError
from ..core.model import Model, register_model

KINDS = ("linear", "separable", "interp", "sparse-ae", "ved")


def default_block(ndim: int, kind: str = "linear") -> tuple[int, ...]:
    """8^3 for volumes, 16^2 for images, 64 for 1-D signals (the calibrated defaults); the
    separable kind affords larger blocks: 16^3, 64^2, 256 (docs/families.md)."""
    if kind == "separable":
        return {1: (256,), 2: (64, 64)}.get(ndim, (16, 16, 16))
    return {1: (64,), 2: (16, 16)}.get(ndim, (8, 8, 8))


def train(data: Any, *, kind: str = "linear", block: tuple[int, ...] | None = None, **options: Any) -> Model:
    """Train a model on an array or a list of arrays (their trailing dims are blocked).

    kind="linear" options: rank (default: full), groups (32), max_blocks (200000), seed (0),
    step_factor (1.0: latent step = 2*eps), default_rel (1e-3: the unbounded rate point), deadzone (0).
    kind="separable" options: basis ("dct" | "pca": one basis per axis), groups, max_blocks, seed,
    step_factor, default_rel, deadzone, as for linear; blocks of 16^3, 64^2 or 256 by default.
    kind="interp" options: ndim (interpolated trailing axes; default len(block) if given, else
    min(3, ndim of the data)), weights ("auto" | "fit" | "lagrange"), classes (4 stride classes),
    rels (bounds the tables are fitted at), max_values, seed, default_rel (1e-3: used without a bound),
    family_tables (False; True: each array of ``data`` is a family with its own table set beside the
    pooled one, and the encoder picks the cheapest set per item group).
    kind="sparse-ae" (needs torch) options: latent (default: block size), hidden (256), depth (2: decoder
    hidden layers), l1 (1e-3, on z / step),
    l1_map ("identity" | "group"), step (0.02: latent step, the model's rate point), epochs (60),
    qat_epochs (10), batch, lr, patience (8), val_split (0.1), max_blocks, groups, seed, device,
    physics ({observable: gamma}), restarts (1: trainings from seeds seed, seed+1, ...; the one with
    the lowest validation objective is kept).
    kind="ved" (needs torch) options: latent r (16), hidden (256), beta (1e-3: KL weight), lam (1e-2:
    aggregate-posterior covariance penalty), step (0.02), epochs (100), and as for sparse-ae.
    The model is registered in-process, so chunks it writes decode without ``model=``.
    """
    arrays = [np.asarray(a) for a in (data if isinstance(data, (list, tuple)) else [data])]
    if not arrays:
        raise PhcompError("no training data")
    for a in arrays:
        if a.dtype.kind not in "fiu":
            raise PhcompError(f"training data must be numeric, got {a.dtype}")
    if kind == "interp":
        from .interp import train_interp

        ndim = int(options.pop("ndim", len(block) if block else min(3, min(a.ndim for a in arrays))))
        return register_model(train_interp(arrays, ndim, **options))
    if block is None:
        block = default_block(min(a.ndim for a in arrays), kind)
    block = tuple(int(b) for b in block)
    if kind == "linear":
        from .linear import train_linear

        model = train_linear(arrays, block, **options)
    elif kind == "separable":
        from .separable import train_separable

        model = train_separable(arrays, block, **options)
    elif kind == "sparse-ae":
        from .sparse_ae import train_sparse_ae

        model = train_sparse_ae(arrays, block, **options)
    elif kind == "ved":
        from .ved import train_ved

        model = train_ved(arrays, block, **options)
    else:
        raise PhcompError(f"unknown model kind {kind!r}; available: {', '.join(KINDS)}")
    return register_model(model)
