"""Small-angle scattering curves I(q) computed with the sasmodels library.

Four shapes (sphere, cylinder, core_shell_sphere, ellipsoid) with random sizes, scattering
length densities (contrast at least 0.5), scale and background, a size polydispersity, and
5 % pinhole resolution smearing (dq/q), on a log-spaced q grid; returned as log10 I with the
shape of each curve as its label (for latent-quality checks). sasmodels compiles its kernels
into the phcomp cache (``SAS_DLL_PATH``, unless you set it), never into your home by surprise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

SHAPES = ("sphere", "cylinder", "core_shell_sphere", "ellipsoid")
Q_RANGE = (1e-3, 1.0)  # 1/Angstrom, matching phcomp.observables' SAS default


@dataclass
class SASCurves:
    log10_intensity: np.ndarray  # (n, nq) float32
    labels: np.ndarray  # (n,) index into SHAPES
    q: np.ndarray  # (nq,)
    shapes: tuple[str, ...] = SHAPES


def _kernel_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "phcomp", "sasmodels")
    os.makedirs(path, exist_ok=True)
    return path


def _params(shape: str, rng: np.random.Generator) -> dict:
    lu = lambda a, b: float(np.exp(rng.uniform(np.log(a), np.log(b))))  # noqa: E731
    sld_solvent = float(rng.uniform(0, 6))
    contrast = float(rng.choice([-1, 1]) * rng.uniform(0.5, 4))
    p = {"scale": lu(1e-3, 1e-1), "background": lu(1e-4, 1e-2)}
    if shape == "sphere":
        p.update(radius=lu(10, 200), sld=sld_solvent + contrast, sld_solvent=sld_solvent)
        pd = "radius"
    elif shape == "cylinder":
        p.update(radius=lu(10, 100), length=lu(40, 800), sld=sld_solvent + contrast, sld_solvent=sld_solvent)
        pd = "radius"
    elif shape == "core_shell_sphere":
        p.update(radius=lu(10, 150), thickness=lu(5, 50), sld_core=sld_solvent + contrast,
                 sld_shell=sld_solvent + contrast / 2, sld_solvent=sld_solvent)
        pd = "radius"
    else:
        p.update(radius_polar=lu(10, 300), radius_equatorial=lu(10, 150), sld=sld_solvent + contrast,
                 sld_solvent=sld_solvent)
        pd = "radius_equatorial"
    p[pd + "_pd"] = float(rng.uniform(0.0, 0.2))
    p[pd + "_pd_n"] = 15
    return p


def sas(n: int = 1024, *, nq: int = 256, seed: int = 0, resolution: float = 0.05, q_range: tuple[float, float] = Q_RANGE,
        shapes: tuple[str, ...] = SHAPES, progress=None) -> SASCurves:
    """``n`` curves on ``nq`` log-spaced points of ``q_range``, shapes drawn from ``shapes``
    (labels index SHAPES whatever the subset)."""
    unknown = set(shapes) - set(SHAPES)
    if unknown or not shapes:
        raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {shapes}")
    os.environ.setdefault("SAS_DLL_PATH", _kernel_cache())
    os.environ.setdefault("SAS_OPENCL", "none")
    from sasmodels.core import load_model
    from sasmodels.data import empty_data1D
    from sasmodels.direct_model import DirectModel

    rng = np.random.default_rng(seed)
    q = np.geomspace(*q_range, nq)
    data = empty_data1D(q, resolution=resolution)
    calculators = {s: DirectModel(data, load_model(s)) for s in shapes}
    labels = np.array([SHAPES.index(s) for s in shapes])[rng.integers(0, len(shapes), n)]
    out = np.empty((n, nq), np.float32)
    for i, lab in enumerate(labels):
        shape = SHAPES[lab]
        out[i] = np.log10(np.maximum(calculators[shape](**_params(shape, rng)), 1e-30))
        if progress:
            progress(1)
    return SASCurves(out, labels.astype(np.int64), q)
