"""Data generators: deterministic, the right shapes, and physically sane."""
import os
import subprocess
import sys

import numpy as np
import pytest

from phcomp.data import darcy2d, grayscott3d, sas, scalar3d, turb2d, turb3d, wave3d
from phcomp.data.turbulence3d import random_solenoidal


def test_grayscott_deterministic_and_patterned():
    a = grayscott3d(n=16, steps=400, snapshots=2, seed=3)
    assert np.array_equal(a, grayscott3d(n=16, steps=400, snapshots=2, seed=3))
    assert a.shape == (2, 16, 16, 16) and a.dtype == np.float32 and a.std() > 0.01


def test_turbulence_decays_and_is_deterministic():
    w = turb2d(n=48, snapshots=3, t_end=3.0, seed=1)
    assert np.array_equal(w, turb2d(n=48, snapshots=3, t_end=3.0, seed=1))
    energy = (w.astype(float) ** 2).mean(axis=(1, 2))
    assert w.shape == (3, 48, 48) and np.all(np.diff(energy) < 0)  # viscosity only removes enstrophy
    assert abs(w.mean()) < 1e-3 * np.abs(w).max()  # periodic: zero mean vorticity


def test_turb3d_is_solenoidal_decays_and_is_deterministic():
    rng = np.random.default_rng(0)
    uh, (kx, ky, kz), _, _ = random_solenoidal(16, 3.0, rng)
    div = np.fft.irfftn(1j * (kx * uh[0] + ky * uh[1] + kz * uh[2]), s=(16,) * 3, axes=(0, 1, 2))
    assert np.abs(div).max() < 1e-10  # divergence-free to round-off
    u = turb3d(n=16, snapshots=3, t_end=1.5, seed=2)
    assert np.array_equal(u, turb3d(n=16, snapshots=3, t_end=1.5, seed=2))
    assert u.shape == (3, 16, 16, 16) and u.dtype == np.float32
    e = (u.astype(float) ** 2).mean(axis=(1, 2, 3))
    assert np.all(np.diff(e) < 0)  # decaying: no forcing
    w = turb3d(n=16, snapshots=1, t_end=0.5, seed=2, field="vorticity")
    assert (w >= 0).all() and w.std() > 0


def test_scalar3d_is_conserved_and_mixed():
    c = scalar3d(n=16, snapshots=3, t_end=3.0, seed=1)
    assert np.array_equal(c, scalar3d(n=16, snapshots=3, t_end=3.0, seed=1))
    means = c.astype(float).mean(axis=(1, 2, 3))
    assert np.allclose(means, 1.0, atol=1e-4)  # advection-diffusion conserves the scalar's mean
    var = c.astype(float).var(axis=(1, 2, 3))
    assert np.all(np.diff(var) < 0)  # and only mixes it


def test_wave3d_starts_quiet_and_propagates():
    p = wave3d(n=24, snapshots=4, t_end=0.8, seed=5)
    assert np.array_equal(p, wave3d(n=24, snapshots=4, t_end=0.8, seed=5))
    assert p.shape == (4, 24, 24, 24) and np.isfinite(p).all()
    active = (np.abs(p) > 1e-3 * np.abs(p).max()).mean(axis=(1, 2, 3))
    assert active[-1] > active[0] and np.abs(p).max() > 0  # fronts spread through the cube


def test_darcy_solves_its_equation():
    p, logk = darcy2d(n=24, count=3, seed=2)
    assert p.shape == logk.shape == (3, 24, 24)
    assert (p > 0).all()  # positive source, zero boundary: positive pressure
    k = np.exp(logk[0].astype(float))
    q = p[0].astype(float)
    h = 1 / 24
    i, j = 10, 13  # an interior cell: discrete flux balance = source
    face = lambda a, b: 2 * a * b / (a + b)  # noqa: E731
    flux = sum(face(k[i, j], k[i + di, j + dj]) * (q[i, j] - q[i + di, j + dj]) for di, dj in
               ((1, 0), (-1, 0), (0, 1), (0, -1))) / h**2
    assert abs(flux - 1.0) < 1e-3
    corr = np.corrcoef(logk[0, :, :-1].ravel(), logk[0, :, 1:].ravel())[0, 1]
    assert corr > 0.5  # a correlated field, not white noise


def test_sas_curves(tmp_path, monkeypatch):
    monkeypatch.delenv("SAS_DLL_PATH", raising=False)
    c = sas(n=40, seed=4)
    assert c.log10_intensity.shape == (40, 256) and set(np.unique(c.labels)) <= {0, 1, 2, 3}
    assert np.isfinite(c.log10_intensity).all()
    # scattering falls from the forward plateau to the background
    assert (c.log10_intensity[:, 0] > c.log10_intensity[:, -1]).mean() > 0.9
    assert np.array_equal(c.log10_intensity, sas(n=40, seed=4).log10_intensity)
    assert os.environ["SAS_DLL_PATH"].startswith(os.environ["XDG_CACHE_HOME"])  # kernels in phcomp's cache


@pytest.mark.parametrize("name", ["grayscott3d", "turb2d", "darcy2d", "sas"])
def test_cli_data(tmp_path, name):
    out = tmp_path / f"{name}.npy"
    r = subprocess.run([sys.executable, "-m", "phcomp.cli", "data", name, "-o", str(out), "--size", "small"],
                       capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    x = np.load(out)
    assert x.dtype == np.float32 and x.size > 0
    if name == "darcy2d":
        assert np.load(tmp_path / "darcy2d.logk.npy").shape == x.shape
    if name == "sas":
        assert np.load(tmp_path / "sas.labels.npy").shape == (x.shape[0],)
