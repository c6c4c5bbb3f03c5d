"""Observables and the per-chunk check: every chunk that leaves phcomp meets every tolerance."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import phcomp
from phcomp.observables import get_observable, observable_names, register_observable

SPEC = {"energy": 1e-6, "mean": {"abs": 1e-6}, "spectrum": 1e-3, "max": 1e-5, "gradient_energy": 1e-5}


def obs_error(name, x, y, kind="rel", **opts):
    """Independent recomputation of an observable's error (not the code under test's record)."""
    xf, yf = np.where(np.isfinite(x), x, 0).astype(float), np.where(np.isfinite(y), y, 0).astype(float)
    f = get_observable(name).numpy
    a, b = np.atleast_1d(f(xf, **opts)), np.atleast_1d(f(yf, **opts))
    d = np.abs(a - b)
    if kind == "abs":
        return d.max()
    den = np.abs(a)
    if name == "spectrum":
        den = np.maximum(den, 1e-6 * den.max())
    return np.max(np.where(d == 0, 0, d / np.where(den == 0, np.inf, den)) if den.all() else np.where(d == 0, 0, np.inf))


@st.composite
def adversarial(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=10))
    n = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["smooth", "spike", "noise", "offset", "constant", "tiny"]))
    if kind == "smooth":
        x = np.sin(np.linspace(0, 6, n))
    elif kind == "spike":
        x = np.zeros(n)
        x[rng.integers(0, n)] = 1e4
    elif kind == "noise":
        x = rng.standard_normal(n)
    elif kind == "offset":
        x = 1e6 + rng.standard_normal(n) * 1e-2
    elif kind == "constant":
        x = np.full(n, 3.25)
    else:
        x = rng.standard_normal(n) * 1e-20
    return x.reshape(shape).astype(draw(st.sampled_from([np.float32, np.float64]))), kind


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=adversarial(), rel=st.sampled_from([1e-1, 1e-2, 1e-3]), use_bound=st.booleans())
def test_tolerances_never_exceeded(models, case, rel, use_bound):
    x, kind = case
    model = models[min(x.ndim, 3)]
    blob = phcomp.compress(x, model, rel=rel if use_bound else None, observables=SPEC)
    y = phcomp.decompress(blob, model)
    info = phcomp.inspect_chunk(blob)
    event(info["checks"]["path"])
    assert info["checks"]["passed"]
    for name, tol in SPEC.items():
        kind_, value = ("abs", tol["abs"]) if isinstance(tol, dict) else ("rel", tol)
        assert obs_error(name, x, y, kind_) <= value, (name, kind)
    if use_bound:  # the bound still holds (tighter is fine)
        fin = x[np.isfinite(x)].astype(float)
        assert np.abs(y.astype(float) - x).max() <= rel * (fin.max() - fin.min()) or fin.max() == fin.min()


def test_escalation_is_recorded_and_costs_ratio(model3d, gs_data):
    x = gs_data[1]
    plain = phcomp.compress(x, model3d, rel=1e-2)
    tight = phcomp.compress(x, model3d, rel=1e-2, observables={"spectrum": 1e-3})
    info = phcomp.inspect_chunk(tight)
    assert info["checks"]["attempt"] >= 1 and len(tight) > len(plain)
    assert "spectrum (rel)" in info["checks"]["errors"]
    easy = phcomp.inspect_chunk(phcomp.compress(x, model3d, rel=1e-2, observables={"energy": 1e-2}))
    assert easy["checks"]["path"] == "as requested" and easy["checks"]["attempt"] == 0


def test_nonfinite_do_not_break_checks(model3d, gs_data):
    x = gs_data[1].copy()
    x[0, 0, :3] = [np.nan, np.inf, -np.inf]
    blob = phcomp.compress(x, model3d, rel=1e-3, observables={"energy": 1e-5, "max": 1e-6})
    assert phcomp.inspect_chunk(blob)["checks"]["passed"]


def test_builtin_values():
    x = np.arange(12.0).reshape(3, 4)
    assert get_observable("sum").numpy(x) == 66 and get_observable("energy").numpy(x) == (x**2).sum()
    assert get_observable("mean").numpy(x) == 5.5 and get_observable("min").numpy(x) == 0
    ge = get_observable("gradient_energy").numpy(x)
    assert ge == (np.diff(x, axis=0) ** 2).sum() + (np.diff(x, axis=1) ** 2).sum()
    # Parseval: the spectrum's bins add up to N * sum of squares (one sample)
    f = np.random.default_rng(0).standard_normal((16, 16))
    spec = get_observable("spectrum").numpy(f, dims=2)
    assert np.isclose(spec.sum(), f.size * (f**2).sum())


def test_sas_observables_recover_known_values():
    q = np.geomspace(1e-3, 1.0, 256)
    rg = 50.0
    curve = 2.0 - (q**2) * rg**2 / 3 / np.log(10)  # log10 of a pure Guinier curve 100 exp(-q^2 Rg^2 / 3)
    got = get_observable("guinier_rg").numpy(curve[None, :], q=q)
    assert abs(got[0] - rg) / rg < 1e-6
    flat = np.zeros(256)  # I = 1: Porod invariant = integral q^2 dq
    assert np.isclose(get_observable("porod_invariant").numpy(flat, q=q), np.trapezoid(q**2, q), rtol=1e-12)
    assert np.isclose(np.trapezoid(q**2, q), (1.0**3 - 1e-3**3) / 3, rtol=1e-3)


def test_torch_twins_match_numpy():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((4, 12, 12))
    for name in ("mean", "sum", "energy", "gradient_energy", "spectrum", "min", "max"):
        o = get_observable(name)
        assert np.allclose(np.asarray(o.torch(torch.as_tensor(x))), o.numpy(x)), name
    curves = -np.geomspace(1e-3, 1, 64)[None, :] ** 2 * np.array([[100.0], [900.0]]) / np.log(10)
    for name in ("guinier_rg", "porod_invariant"):
        o = get_observable(name)
        assert np.allclose(np.asarray(o.torch(torch.as_tensor(curves))), o.numpy(curves)), name


def test_custom_observables(model3d, gs_data):
    def p99(a):
        return np.percentile(a, 99)

    blob = phcomp.compress(gs_data[1], model3d, rel=1e-2, observables={p99: 1e-4})
    assert "p99 (rel)" in phcomp.inspect_chunk(blob)["checks"]["errors"]
    register_observable("centre", lambda a: a.reshape(-1)[a.size // 2])
    assert "centre" in observable_names()
    blob = phcomp.compress(gs_data[1], model3d, rel=1e-2, observables={"centre": {"abs": 1e-9}})
    y = phcomp.decompress(blob)
    assert abs(y.reshape(-1)[y.size // 2] - gs_data[1].reshape(-1)[y.size // 2]) <= 1e-9


def test_entry_point_observables(tmp_path):
    dist = tmp_path / "myobs-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myobs\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[phcomp.observables]\nl1 = myobs_mod:l1\n")
    (tmp_path / "myobs_mod.py").write_text("import numpy as np\ndef l1(x):\n    return np.abs(x).sum()\n")
    code = textwrap.dedent("""
        import sys; sys.path.insert(0, %r)
        import numpy as np, phcomp
        print("l1" in phcomp.observables.observable_names(), phcomp.observables.get_observable("l1").numpy(np.array([-1.0, 2.0])))
    """ % str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["True", "3.0"], r.stderr


@pytest.mark.parametrize("spec", [{"nope": 1e-3}, {"energy": -1}, {"energy": "x"}, {"energy": {"dims": 2}}])
def test_bad_specs(spec, model3d, gs_data):
    with pytest.raises(phcomp.PhcompError):
        phcomp.compress(gs_data[1], model3d, rel=1e-3, observables=spec)


def test_adapters_carry_observables(tmp_path, model3d, gs_data):
    h5py = pytest.importorskip("h5py")
    import phcomp.hdf5
    import phcomp.zarr

    with h5py.File(tmp_path / "o.h5", "w") as f:
        f.create_dataset("u", data=gs_data[1], chunks=(12, 24, 24),
                         **phcomp.hdf5.Phcomp(model3d, rel=1e-2, observables={"spectrum": 1e-3}))
        assert "spectrum" in repr(phcomp.hdf5.Phcomp(model3d, rel=1e-2, observables={"spectrum": 1e-3}))
    with h5py.File(tmp_path / "o.h5") as f:
        _, blob = f["u"].id.read_direct_chunk((0, 0, 0))
        assert phcomp.inspect_chunk(blob)["checks"]["passed"]
    c = phcomp.zarr.Phcomp(model3d, rel=1e-2, observables={"energy": 1e-6})
    assert phcomp.inspect_chunk(c.encode(gs_data[1]))["checks"]["passed"]
    assert c.get_config()["observables"] == {"energy": 1e-6}
    v3 = phcomp.zarr.PhcompCodec(model=model3d, rel=1e-2, observables={"mean": {"abs": 1e-4}})
    assert phcomp.zarr.PhcompCodec.from_dict(v3.to_dict()) == v3


def test_cli_observable_flag(tmp_path, model3d, gs_data):
    np.save(tmp_path / "x.npy", gs_data)
    model3d.save(tmp_path / "m.phcm")
    r = subprocess.run([sys.executable, "-m", "phcomp.cli", "compress", str(tmp_path / "x.npy"), "--model",
                        str(tmp_path / "m.phcm"), "--rel", "1e-2", "--observable", "spectrum=1e-3",
                        "--observable", "mean=abs:1e-6", "--chunk-mb", "0.06"], capture_output=True, text=True,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert "re-encoded tighter" in r.stdout
    out = subprocess.run([sys.executable, "-m", "phcomp.cli", "inspect", str(tmp_path / "x.npy.phc")],
                         capture_output=True, text=True).stdout
    assert "checks:" in out and "spectrum (rel)" in out
    bad = subprocess.run([sys.executable, "-m", "phcomp.cli", "compress", str(tmp_path / "x.npy"), "--rel", "1e-2",
                          "--observable", "energy", "--force"], capture_output=True, text=True)
    assert bad.returncode == 2 and "NAME=TOL" in bad.stderr
