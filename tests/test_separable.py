"""kind="separable": one basis per axis over large blocks, decoded by the exact separable_int decoder."""
import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import phcomp
from conftest import max_err
from phcomp.core.decoder import SeparableIntDecoder
from phcomp.core.errors import PhcompError
from phcomp.models.separable import dct_basis
from test_bound import SETTINGS, arrays, check_roundtrip
from test_determinism import _run


@pytest.fixture(scope="session")
def sep_models(gs_data):
    train = gs_data[0::2]
    return {
        1: phcomp.train(train.reshape(-1, 24)[::5], kind="separable", block=(16,), groups=4),
        2: phcomp.train(train.reshape(-1, 24, 24), kind="separable", block=(8, 8), groups=8, basis="pca"),
        3: phcomp.train(train, kind="separable", block=(8, 8, 8), groups=8),
    }


@SETTINGS
@given(x=arrays(), rel=st.sampled_from([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-7]), dims=st.integers(1, 3))
def test_bound_holds(sep_models, x, rel, dims):
    model = sep_models[dims]
    y = phcomp.decompress(phcomp.compress(x, model, rel=rel), model)
    fin = x[np.isfinite(x)].astype(np.float64)
    check_roundtrip(x, y, rel * (fin.max() - fin.min()) if fin.size else 0.0)


def test_decoder_is_exact_integer_arithmetic(sep_models):
    """The float64 GEMM stages give exactly the integer tensor product (checked in int64)."""
    dec = sep_models[3].decoder
    rng = np.random.default_rng(0)
    q = (rng.standard_normal((5, dec.k)) * 300).astype(np.int32)
    q[0, :3] = dec.q_limit  # the worst case the decoder accepts
    c = np.zeros((5, dec.d), np.int64)
    c[:, dec.order] = q
    c = c.reshape((5,) + dec.block)
    a = [ax.astype(np.int64) for ax in dec.axes]
    exact = np.einsum("nijk,ia,jb,kc->nabc", c, *a, optimize=True).reshape(5, -1)
    step = 0.37
    want = exact.astype(np.float64) * (step * 2.0 ** (-dec.shift * 3)) + dec.mean
    got = dec(q, step)
    assert got.tobytes() == want.tobytes()


def test_dct_basis_is_orthonormal():
    for n in (1, 8, 16, 64):
        a = dct_basis(n)
        assert np.allclose(a @ a.T, np.eye(n), atol=1e-12)


def test_decode_same_bits_across_thread_counts(sep_models, gs_data, tmp_path):
    model = sep_models[3]
    paths = []
    for i, kw in enumerate([dict(rel=1e-2), dict(rel=1e-5), {}]):
        p = tmp_path / f"c{i}.phc"
        p.write_bytes(phcomp.compress(np.concatenate([gs_data] * 3), model, **kw))
        paths.append(str(p))
    mpath = str(model.save(tmp_path / "m.phcm"))
    here = [hashlib.sha256(phcomp.decompress(open(p, "rb").read(), model).tobytes()).hexdigest() for p in paths]
    for threads in ("1", "2"):
        env = {k: threads for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        assert _run([mpath, *paths], env, tmp_path)[:3] == here


def test_decode_without_torch(sep_models, gs_data, tmp_path, no_torch):
    model = sep_models[2]
    x = gs_data[1]
    p = tmp_path / "c.phc"
    p.write_bytes(phcomp.compress(x, model, rel=1e-3))
    out = _run([str(model.save(tmp_path / "m.phcm")), str(p)], {}, tmp_path, prefix=no_torch)
    assert out[-1] == "False"
    assert out[0] == hashlib.sha256(phcomp.decompress(p.read_bytes(), model).tobytes()).hexdigest()


def test_model_file_round_trip(sep_models, gs_data, tmp_path):
    model = sep_models[3]
    loaded = phcomp.load_model(model.save(tmp_path / "m.phcm"))
    assert loaded.id == model.id and loaded.kind == "separable"
    blob = phcomp.compress(gs_data[1], model, rel=1e-3)
    assert blob == phcomp.compress(gs_data[1], loaded, rel=1e-3)
    assert np.array_equal(phcomp.decompress(blob, loaded), phcomp.decompress(blob, model))


def test_corrupt_separable_decoder_arrays_are_refused():
    a = np.rint(dct_basis(4) * 2**10).astype(np.int32)
    order, mean = np.arange(16, dtype=np.int32), np.zeros(16)
    SeparableIntDecoder([a, a], order, mean, 10)
    with pytest.raises(PhcompError, match="permutation"):
        SeparableIntDecoder([a, a], np.zeros(16, np.int32), mean, 10)
    with pytest.raises(PhcompError, match="square integer"):
        SeparableIntDecoder([a.astype(np.float64), a], order, mean, 10)
    with pytest.raises(PhcompError, match="exact arithmetic"):
        big = np.full((4, 4), 2**30, np.int32)
        SeparableIntDecoder([big, big], order, mean, 10)
    with pytest.raises(PhcompError, match="do not match"):
        SeparableIntDecoder([a, a], order[:8], mean, 10)
    dec = SeparableIntDecoder([a, a], order, mean, 10)
    with pytest.raises(PhcompError, match="exact range"):
        dec(np.full((1, 16), dec.q_limit + 1, np.int64), 1.0)


def test_wider_blocks_win_on_smooth_fields():
    """What the kind is for: on a smooth periodic field a 32^2 separable model spends fewer bytes
    than an 8^2 block PCA trained on the same data, at the same bound."""
    from phcomp.data import turb2d

    w = turb2d(n=64, snapshots=6, seed=2)
    train, test = w[0::2], np.ascontiguousarray(w[1::2])
    lin = phcomp.train(train, kind="linear", block=(8, 8), groups=8)
    sep = phcomp.train(train, kind="separable", block=(32, 32), groups=8)
    for rel in (1e-2, 1e-3):
        b_sep, b_lin = phcomp.compress(test, sep, rel=rel), phcomp.compress(test, lin, rel=rel)
        assert len(b_sep) < len(b_lin)
        assert max_err(test, phcomp.decompress(b_sep, sep)) <= rel * (test.max() - test.min())


def test_cli_trains_separable(tmp_path, gs_data, capsys):
    from phcomp.cli import main

    np.save(tmp_path / "t.npy", gs_data[0::2])
    assert main(["train", str(tmp_path / "t.npy"), "-o", str(tmp_path / "m.phcm"), "--kind", "separable",
                 "--basis", "pca", "--block", "8,8,8", "--no-install"]) == 0
    m = phcomp.load_model(tmp_path / "m.phcm")
    assert m.kind == "separable" and m.block == (8, 8, 8) and m.meta["basis"] == "pca"
    assert main(["train", str(tmp_path / "t.npy"), "-o", str(tmp_path / "x.phcm"), "--basis", "pca"]) != 0
    assert "--basis is an option of --kind separable" in capsys.readouterr().err


def test_four_axes(gs_data):
    """Blocks of 4 axes (the most a model may have) round-trip within the bound."""
    x = np.stack([gs_data, gs_data[::-1]], axis=1)  # (4, 2, 24, 24, 24)
    m = phcomp.train(x[:2], kind="separable", block=(2, 8, 8, 8), groups=8)
    for rel in (1e-2, 1e-4):
        y = phcomp.decompress(phcomp.compress(x[2:], m, rel=rel), m)
        assert max_err(x[2:], y) <= rel * (x[2:].max() - x[2:].min())
