"""Physics-informed training and the alignment diagnostic."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import phcomp
from phcomp.core.errors import PhcompError
from phcomp.physics.alignment import decoder_jacobian, diagnose, latent_step, overlap

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def fields(gs_data):
    return gs_data[0::2].reshape(-1, 24, 24)[:, :16, :16], gs_data[1::2].reshape(-1, 24, 24)[:, :16, :16]


def _train(train, **kw):
    kw = {"depth": 1, **kw}  # one hidden layer: 25 epochs train it steadily (a deeper decoder is noisier here)
    return phcomp.train(train, kind="sparse-ae", block=(8, 8), latent=64, hidden=32, l1=1e-3, step=0.05, epochs=25,
                        qat_epochs=2, groups=8, progress=False, seed=0, **kw)


def _block_energy_error(x, y):
    """What the physics loss trains: energy error over the normalised 8x8 blocks, relative to their energy."""
    lo, hi = float(x.min()), float(x.max())
    norm = lambda a: ((a.astype(float) - (lo + hi) / 2) / ((hi - lo) / 2)).reshape(-1, 2, 8, 2, 8)  # noqa: E731
    ex = (norm(x) ** 2).sum(axis=(2, 4))
    ey = (norm(y) ** 2).sum(axis=(2, 4))
    return float(np.sqrt(np.sum((ey - ex) ** 2) / np.sum(ex**2)))


def test_gamma_pulls_the_observable(fields):
    train, _ = fields
    errs = []
    for gamma in (0.0, 10.0):
        m = _train(train, physics={"energy": gamma} if gamma else None)
        y = phcomp.decompress(phcomp.compress(train, m), m)
        errs.append(_block_energy_error(train, y))
        assert m.meta["physics"] == ({"energy": gamma} if gamma else {})
    assert errs[1] < 0.8 * errs[0]  # the energy term brings the decoded block energies closer (0.164 -> 0.118 here)


def test_physics_rejects_bad_terms(fields):
    with pytest.raises(PhcompError):
        _train(fields[0], physics={"energy": -1.0})
    with pytest.raises(PhcompError):
        _train(fields[0], physics={"nope": 1.0})


@pytest.mark.parametrize("depth", [1, 3])
def test_decoder_jacobian_matches_finite_differences(fields, depth):
    m = _train(fields[0], depth=depth)
    step = latent_step(m, 1e-3)
    q = np.rint(m.encoder(np.zeros((1, 64)) + 0.1)[0] / step)
    j = decoder_jacobian(m, q, step)
    # the integer decoder is piecewise linear in q: a unit change of one latent moves x by J's column
    for k in np.argsort(-np.abs(j).sum(0))[:3]:
        dq = np.zeros_like(q)
        dq[k] = 1
        x0 = m.decoder(q[None].astype(np.int64), step)[0]
        x1 = m.decoder((q + dq)[None].astype(np.int64), step)[0]
        assert np.allclose(x1 - x0, j[:, k], atol=2e-3 * np.abs(j[:, k]).max() + 1e-6)


def test_diagnose_scores_and_flags(fields, model2d):
    m = _train(fields[0])
    res = diagnose(m, fields[1], "spectrum", k=2, points=8)
    for v in (res.overlap_obs_dist, res.overlap_rate_obs, res.overlap_rate_dist):
        assert 0.0 <= v <= 1.0 + 1e-9
    assert "observable vs distortion" in res.table()
    # block PCA: orthonormal decoder, distortion is isotropic, and the diagnostic says so
    lin = diagnose(model2d, fields[1], "energy", k=2, points=4)
    assert "distortion" in lin.degenerate
    a = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))[0]
    assert overlap(a[:, :2], a[:, :2]) == pytest.approx(1.0) and overlap(a[:, :2], a[:, 2:4]) == pytest.approx(0.0)


def test_cli_train_physics_and_diagnose(tmp_path, fields):
    np.save(tmp_path / "t.npy", fields[0])
    env = dict(os.environ)
    run = lambda *a: subprocess.run([sys.executable, "-m", "phcomp.cli", *map(str, a)], capture_output=True,  # noqa: E731
                                    text=True, env=env)
    r = run("train", tmp_path / "t.npy", "-o", tmp_path / "m.phcm", "--kind", "sparse-ae", "--block", "8,8",
            "--latent", "64", "--hidden", "32", "--epochs", "5", "--observable", "energy=0.5", "--observable", "mean")
    assert r.returncode == 0, r.stderr
    m = phcomp.load_model(tmp_path / "m.phcm")
    assert m.meta["physics"] == {"energy": 0.5, "mean": 0.1}
    r = run("diagnose", tmp_path / "m.phcm", tmp_path / "t.npy", "--observable", "energy", "--k", "1", "--points", "4",
            "--plot", tmp_path / "d.png", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout[: r.stdout.rindex("}") + 1])
    assert 0 <= out["overlap_obs_dist"] <= 1 and (tmp_path / "d.png").stat().st_size > 1000
    r = run("train", tmp_path / "t.npy", "-o", tmp_path / "l.phcm", "--observable", "energy")
    assert r.returncode == 2 and "sparse-ae" in r.stderr
