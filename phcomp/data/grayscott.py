"""3-D Gray-Scott reaction-diffusion (the ADIOS2 demo simulation), periodic, explicit Euler.

u_t = Du lap(u) - u v^2 + F (1 - u),  v_t = Dv lap(v) + u v^2 - (F + k) v
Parameters are the ADIOS2 demo's (F, k, Du, Dv and its 6-point stencil normalised by 6),
on a grid of spacing ``dx`` (default 0.5: the demo's patterns resolved by twice as many
points, as a production run would resolve them; dx=1 is the demo's own, under-resolved,
grid). The time step is dx**2 (stable for explicit Euler). Seeded with a perturbed cube of
v in the centre plus noise.
"""
from __future__ import annotations

import numpy as np


def _lap(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.multiply(a, -6.0, out=out)
    for ax in range(3):
        out += np.roll(a, 1, ax)
        out += np.roll(a, -1, ax)
    out *= 1.0 / 6.0  # stencil normalised as in the ADIOS2 demo: explicit Euler stays stable at dt=1
    return out


def grayscott3d(n: int = 64, steps: int = 8000, snapshots: int = 1, *, F: float = 0.01, k: float = 0.05,
                Du: float = 0.2, Dv: float = 0.1, dx: float = 0.5, noise: float = 0.01, seed: int = 0,
                field: str = "u", progress=None) -> np.ndarray:
    """Return ``snapshots`` fields (``"u"``, ``"v"`` or ``"uv"``) evenly spaced over ``steps``.

    Shape (snapshots, n, n, n) float32, or (snapshots, 2, n, n, n) for ``field="uv"``.
    """
    rng = np.random.default_rng(seed)
    dt = dx * dx
    Du, Dv = Du / (dx * dx), Dv / (dx * dx)
    u = np.ones((n, n, n), np.float32)
    v = np.zeros((n, n, n), np.float32)
    c, w = n // 2, max(2, n // 8)
    u[c - w : c + w, c - w : c + w, c - w : c + w] = 0.25
    v[c - w : c + w, c - w : c + w, c - w : c + w] = 0.33
    u += noise * rng.standard_normal(u.shape).astype(np.float32)
    v += noise * rng.standard_normal(v.shape).astype(np.float32)
    lu, lv, uvv = np.empty_like(u), np.empty_like(v), np.empty_like(u)
    every = max(1, steps // snapshots)
    out = []
    for t in range(1, steps + 1):
        _lap(u, lu)
        _lap(v, lv)
        np.multiply(u, v, out=uvv)
        uvv *= v
        u += dt * (Du * lu - uvv + F * (1 - u))
        v += dt * (Dv * lv + uvv - (F + k) * v)
        if t % every == 0 and len(out) < snapshots:
            out.append(np.stack([u, v]) if field == "uv" else (u if field == "u" else v).copy())
        if progress:
            progress(1)
    return np.stack(out).astype(np.float32)
