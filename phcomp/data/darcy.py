"""Steady Darcy flow over a log-normal random permeability (the VED paper's setting).

-div(K grad p) = f on the unit square, p = 0 on the boundary, f = 1, K = exp(g) with g a
stationary Gaussian field (squared-exponential covariance, correlation length ``ell``,
standard deviation ``sigma``) drawn by FFT filtering of white noise. Cell-centred finite
volumes with harmonic means of K on faces, solved with a sparse direct solver (scipy).
"""
from __future__ import annotations

import numpy as np


def log_permeability(n: int, count: int, *, ell: float = 0.1, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = 2 * n  # generate on a doubled periodic grid, keep a corner: no wrap-around correlation
    k = 2 * np.pi * np.fft.fftfreq(m, d=1.0 / n)  # angular wavenumber, grid spacing 1/n on the unit square
    kx, ky = np.meshgrid(k, k, indexing="ij")
    filt = np.exp(-(kx**2 + ky**2) * ell**2 / 4)
    out = np.empty((count, n, n))
    for i in range(count):
        g = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((m, m))) * filt))[:n, :n]
        out[i] = sigma * (g - g.mean()) / (g.std() or 1.0)
    return out


def _solve(logk: np.ndarray) -> np.ndarray:
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    n = logk.shape[0]
    h = 1.0 / n
    kk = np.exp(logk)
    idx = np.arange(n * n).reshape(n, n)
    rows, cols, vals = [], [], []
    diag = np.zeros((n, n))
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        nb = np.roll(np.roll(kk, -dx, 0), -dy, 1)
        face = 2 * kk * nb / (kk + nb)  # harmonic mean
        inside = np.ones((n, n), bool)
        if dx == 1:
            inside[-1, :] = False
        if dx == -1:
            inside[0, :] = False
        if dy == 1:
            inside[:, -1] = False
        if dy == -1:
            inside[:, 0] = False
        # boundary faces: Dirichlet p = 0 half a cell away -> conductance 2 K
        cond = np.where(inside, face, 2 * kk) / h**2
        diag += cond
        r = idx[inside]
        c = np.roll(np.roll(idx, -dx, 0), -dy, 1)[inside]
        rows.append(r)
        cols.append(c)
        vals.append(-cond[inside])
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n))
    return spsolve(a, np.ones(n * n)).reshape(n, n)


def darcy2d(n: int = 64, count: int = 256, *, ell: float = 0.1, sigma: float = 1.0, seed: int = 0,
            progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(pressure, log-permeability), each (count, n, n) float32."""
    logk = log_permeability(n, count, ell=ell, sigma=sigma, seed=seed)
    p = np.empty_like(logk)
    for i in range(count):
        p[i] = _solve(logk[i])
        if progress:
            progress(1)
    return p.astype(np.float32), logk.astype(np.float32)
