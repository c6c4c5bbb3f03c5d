"""A passive scalar stirred by a steady 3-D flow: advection-diffusion, pseudo-spectral, periodic.

c_t + u . grad c = kappa lap c on [0, 2 pi)^3 with u the Arnold-Beltrami-Childress (ABC) flow
(A, B, C) = (1, 0.8, 0.6): chaotic streamlines that fold the scalar into sheets and filaments
whose thickness is set by ``kappa``. The initial scalar is a random large-scale field
(energy near wavenumber 2). Fourier in space with 2/3-rule dealiasing, RK4 in time.
"""
from __future__ import annotations

import numpy as np

from .timestep import rk4_step
from .turbulence3d import _grid


def scalar3d(n: int = 64, snapshots: int = 4, *, t_end: float = 6.0, kappa: float = 5e-3,
             abc: tuple[float, float, float] = (1.0, 0.8, 0.6), cfl: float = 0.5, seed: int = 0,
             progress=None) -> np.ndarray:
    """Scalar snapshots evenly spaced in time, shape (snapshots, n, n, n) float32."""
    rng = np.random.default_rng(seed)
    (kx, ky, kz), k2, dealias = _grid(n)
    x = np.arange(n) * 2 * np.pi / n
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    a, b, c = abc
    ux = a * np.sin(Z) + c * np.cos(Y)
    uy = b * np.sin(X) + a * np.cos(Z)
    uz = c * np.sin(Y) + b * np.cos(X)
    phase = rng.uniform(0, 2 * np.pi, 3)  # shift the flow, so seeds differ in more than the scalar
    ux, uy, uz = (np.roll(u, int(p / (2 * np.pi) * n), ax) for u, p, ax in zip((ux, uy, uz), phase, range(3)))
    kk = np.sqrt(k2)
    ch = np.fft.rfftn(rng.standard_normal((n,) * 3)) * np.exp(-((kk / 2.0) ** 2)) * dealias
    ch[0, 0, 0] = 0
    shape = (n,) * 3
    c0 = np.fft.irfftn(ch, s=shape, axes=(0, 1, 2))
    ch /= max(float(np.abs(c0).max()), 1e-12)
    ch[0, 0, 0] = n**3  # mean 1: a concentration, never near 0 everywhere

    def rhs(h):
        grads = [np.fft.irfftn(1j * k * h, s=shape, axes=(0, 1, 2)) for k in (kx, ky, kz)]
        adv = ux * grads[0] + uy * grads[1] + uz * grads[2]
        return -np.fft.rfftn(adv) * dealias - kappa * k2 * h

    dx = 2 * np.pi / n
    umax = float(max(np.abs(u).max() for u in (ux, uy, uz)))
    out = []
    t = 0.0
    for target in np.linspace(t_end / snapshots, t_end, snapshots):
        while t < target - 1e-12:
            dt = min(cfl * dx / umax, target - t)
            ch = rk4_step(rhs, ch, dt)
            t += dt
        out.append(np.fft.irfftn(ch, s=shape, axes=(0, 1, 2)))
        if progress:
            progress(1)
    return np.stack(out).astype(np.float32)
