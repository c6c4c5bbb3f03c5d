"""2-D decaying turbulence: incompressible Navier-Stokes vorticity, pseudo-spectral, periodic.

w_t + u . grad w = nu lap w on [0, 2 pi)^2, u = (psi_y, -psi_x), lap psi = -w. Fourier in space
with 2/3-rule dealiasing, classic RK4 in time (step from a CFL number), initial field random
with its energy near wavenumber k0. Snapshots are evenly spaced in time.
"""
from __future__ import annotations

import numpy as np

from .timestep import rk4_step


def turb2d(n: int = 128, snapshots: int = 8, *, t_end: float = 8.0, nu: float = 1e-3, k0: float = 6.0,
           cfl: float = 0.5, seed: int = 0, progress=None) -> np.ndarray:
    """Vorticity snapshots, shape (snapshots, n, n) float32."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(n, 1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = kx**2 + ky**2
    k2_inv = np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2))
    dealias = (np.abs(kx) < n / 3) & (np.abs(ky) < n / 3)
    kk = np.sqrt(k2)
    amp = kk**4 * np.exp(-2 * (kk / k0) ** 2)  # energy spectrum peaked near k0
    phase = np.exp(2j * np.pi * rng.random((n, n)))
    w_hat = np.fft.fft2(np.real(np.fft.ifft2(np.sqrt(amp) * phase))) * dealias
    w_hat[0, 0] = 0
    w0 = np.real(np.fft.ifft2(w_hat))
    w_hat /= np.abs(w0).max() / 10.0 if np.abs(w0).max() > 0 else 1.0  # peak vorticity ~10

    def rhs(wh: np.ndarray) -> np.ndarray:
        psi = wh * k2_inv
        u = np.real(np.fft.ifft2(1j * ky * psi))
        v = np.real(np.fft.ifft2(-1j * kx * psi))
        wx = np.real(np.fft.ifft2(1j * kx * wh))
        wy = np.real(np.fft.ifft2(1j * ky * wh))
        return -np.fft.fft2(u * wx + v * wy) * dealias - nu * k2 * wh

    dx = 2 * np.pi / n
    out = []
    times = np.linspace(t_end / snapshots, t_end, snapshots)
    t = 0.0
    for target in times:
        while t < target - 1e-12:
            w = np.real(np.fft.ifft2(w_hat))
            umax = max(np.abs(w).max(), 1e-6)  # |u| scales with |w| at these wavenumbers
            dt = min(cfl * dx / umax, target - t)
            w_hat = rk4_step(rhs, w_hat, dt)
            t += dt
        out.append(np.real(np.fft.ifft2(w_hat)).astype(np.float32))
        if progress:
            progress(1)
    return np.stack(out)
