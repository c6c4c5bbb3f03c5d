"""Training-time calibration of the latent step against the error bound.

In the error-bounded mode the latent step is ``factor * 2 * eps``; the best factor depends on
the bound (coarse latents + residual at loose bounds, finer latents at tight ones). This tries
a few factors per decade of relative bound on a sample of the training data and stores the
winners in the model (``params["step_factors"]``); the encoder interpolates in log(rel). The
decoder never needs it: the step used is written in every chunk.
"""
from __future__ import annotations

import numpy as np

from ..core import compress
from ..core.model import Model

RELS = (1e-2, 1e-3, 1e-4, 1e-5)
FACTORS = (0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)  # a finer grid: +2 % on turb2d at rel 1e-2
SAMPLE_VALUES = 1 << 21


def _sample(arrays: list[np.ndarray]) -> np.ndarray:
    """The largest training array, cut along axis 0 to about SAMPLE_VALUES values."""
    a = max(arrays, key=lambda x: x.size)
    if a.ndim and a.size > SAMPLE_VALUES:
        rows = max(1, SAMPLE_VALUES * a.shape[0] // a.size)
        a = a[:rows]
    return np.ascontiguousarray(a, dtype=np.float32 if a.dtype != np.float64 else np.float64)


def calibrate_steps(model: Model, arrays: list[np.ndarray]) -> Model:
    x = _sample(arrays)
    table = []
    for rel in RELS:
        sizes = {}
        for f in FACTORS:
            trial = Model(model.kind, model.block, dict(model.params, step_factor=f), model.arrays, model.meta)
            sizes[f] = len(compress(x, trial, rel=rel))
        table.append([float(np.log10(rel)), min(FACTORS, key=lambda f: (sizes[f], abs(f - 1.0)))])
    params = dict(model.params, step_factors=table)
    return Model(model.kind, model.block, params, model.arrays, model.meta)
