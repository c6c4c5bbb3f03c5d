"""3-D decaying turbulence: incompressible Navier-Stokes, pseudo-spectral, periodic [0, 2 pi)^3.

u_t = P[u x w] + nu lap u, w = curl u, P the projection onto divergence-free fields. Fourier in
space with 2/3-rule dealiasing, Heun's method (RK2) in time with a CFL step; the initial velocity
is random, solenoidal, with its energy near wavenumber ``k0``. The flow cascades energy to small
scales (thin vortex tubes), unlike Gray-Scott's smooth fronts: a test of the volume defaults
on physics they were not fitted to.
"""
from __future__ import annotations

import numpy as np


def _grid(n: int):
    k = np.fft.fftfreq(n, 1.0 / n)
    kz = np.fft.rfftfreq(n, 1.0 / n)
    kx, ky, kz = np.meshgrid(k, k, kz, indexing="ij")
    k2 = kx**2 + ky**2 + kz**2
    dealias = (np.abs(kx) < n / 3) & (np.abs(ky) < n / 3) & (np.abs(kz) < n / 3)
    return (kx, ky, kz), k2, dealias


def _project(uh: list[np.ndarray], kv, k2: np.ndarray) -> list[np.ndarray]:
    div = sum(k * u for k, u in zip(kv, uh))
    inv = np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2))
    return [u - k * div * inv for k, u in zip(kv, uh)]


def random_solenoidal(n: int, k0: float, rng: np.random.Generator) -> tuple[list[np.ndarray], tuple, np.ndarray, np.ndarray]:
    """A random divergence-free velocity (Fourier coefficients) with energy near ``k0``."""
    kv, k2, dealias = _grid(n)
    kk = np.sqrt(k2)
    amp = np.sqrt(kk**2 * np.exp(-2 * (kk / k0) ** 2)) * dealias
    uh = [np.fft.rfftn(rng.standard_normal((n, n, n))) * amp for _ in range(3)]
    uh = _project(uh, kv, k2)
    scale = max(float(np.sqrt(sum(np.mean(np.fft.irfftn(u, s=(n,) * 3, axes=(0, 1, 2)) ** 2) for u in uh))), 1e-12)
    return [u / scale for u in uh], kv, k2, dealias  # rms speed 1


def turb3d(n: int = 64, snapshots: int = 4, *, t_end: float = 3.0, nu: float = 1e-2, k0: float = 4.0,
           cfl: float = 0.4, field: str = "u", seed: int = 0, progress=None) -> np.ndarray:
    """Snapshots evenly spaced in time, shape (snapshots, n, n, n) float32: the x velocity
    (``field="u"``) or the vorticity magnitude (``"vorticity"``)."""
    if field not in ("u", "vorticity"):
        raise ValueError(f"field must be 'u' or 'vorticity', not {field!r}")
    rng = np.random.default_rng(seed)
    uh, kv, k2, dealias = random_solenoidal(n, k0, rng)
    shape = (n,) * 3
    ifft = lambda a: np.fft.irfftn(a, s=shape, axes=(0, 1, 2))  # noqa: E731

    def curl(vh):
        (kx, ky, kz), (a, b, c) = kv, vh
        return [1j * (ky * c - kz * b), 1j * (kz * a - kx * c), 1j * (kx * b - ky * a)]

    def rhs(vh):
        u = [ifft(x) for x in vh]
        w = [ifft(x) for x in curl(vh)]
        cross = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]]
        nl = _project([np.fft.rfftn(c) * dealias for c in cross], kv, k2)
        return [a - nu * k2 * x for a, x in zip(nl, vh)], max(float(np.abs(c).max()) for c in u)

    dx = 2 * np.pi / n
    out = []
    t = 0.0
    for target in np.linspace(t_end / snapshots, t_end, snapshots):
        while t < target - 1e-12:
            k1, umax = rhs(uh)
            dt = min(cfl * dx / max(umax, 1e-6), target - t)
            mid = [x + dt * a for x, a in zip(uh, k1)]
            k2_, _ = rhs(mid)
            uh = [x + 0.5 * dt * (a + b) for x, a, b in zip(uh, k1, k2_)]
            t += dt
        if field == "u":
            out.append(ifft(uh[0]))
        else:
            out.append(np.sqrt(sum(ifft(c) ** 2 for c in curl(uh))))
        if progress:
            progress(1)
    return np.stack(out).astype(np.float32)
