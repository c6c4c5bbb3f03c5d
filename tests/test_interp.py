"""kind="interp": multilevel interpolation with same-level error correction, chunk mode 3."""
import hashlib
import os
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import phcomp
from conftest import FIXTURES, decode_frozen, frozen_index, max_err
from phcomp.core import chunk as ck
from phcomp.core import interp
from phcomp.core.errors import PhcompError
from test_bound import SETTINGS, arrays, check_roundtrip
from test_determinism import _run


def _rough(x: np.ndarray) -> np.ndarray:
    """Another 'family': Brownian sheets on the same grid, far rougher than Gray-Scott."""
    rng = np.random.default_rng(11)
    return np.cumsum(np.cumsum(rng.standard_normal(x.shape), axis=1), axis=2).astype(np.float32)


@pytest.fixture(scope="session")
def interp_models(gs_data):
    train = gs_data[0::2]
    return {
        1: phcomp.train(train.reshape(-1, 24)[::5], kind="interp", ndim=1),
        # two families, so every property test of 2-D chunks runs through table sets too
        2: phcomp.train([train.reshape(-1, 24, 24), _rough(train.reshape(-1, 24, 24))], kind="interp", ndim=2,
                        weights="fit", family_tables=True),
        3: phcomp.train(train, kind="interp", ndim=3, weights="lagrange"),
    }


def _eps(x, rel):
    fin = x[np.isfinite(x)].astype(np.float64)
    return rel * (fin.max() - fin.min()) if fin.size else 0.0


@SETTINGS
@given(x=arrays(), rel=st.sampled_from([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-7, 1e-12]), dims=st.integers(1, 3))
def test_rel_bound_holds(interp_models, x, rel, dims):
    model = interp_models[dims]
    y = phcomp.decompress(phcomp.compress(x, model, rel=rel), model)
    check_roundtrip(x, y, _eps(x, rel))


@SETTINGS
@given(x=arrays(), abs_=st.floats(1e-12, 10.0))
def test_abs_bound_holds(interp_models, x, abs_):
    model = interp_models[3]
    check_roundtrip(x, phcomp.decompress(phcomp.compress(x, model, abs=abs_), model), abs_)


def test_without_a_bound_the_model_default_applies(interp_models, gs_data):
    model = interp_models[3]
    x = gs_data[1]
    blob = phcomp.compress(x, model)
    info = phcomp.inspect_chunk(blob)
    assert info["mode"] == "error-bounded (interpolation)"
    assert info["abs_bound"] == pytest.approx(model.params["default_rel"] * float(x.max() - x.min()))
    assert max_err(x, phcomp.decompress(blob, model)) <= info["abs_bound"]


def test_prediction_is_exact_integer_arithmetic():
    """int64 sums of the largest neighbours and weights a model may hold equal Python's integers."""
    rng = np.random.default_rng(0)
    w = rng.integers(-(1 << 15), 1 << 15, 8)
    w[0] = interp.WEIGHT_ABS_SUM_MAX - int(np.abs(w[1:]).sum())  # sum |w| at its limit
    nb = [rng.integers(-interp.REC_LIMIT, interp.REC_LIMIT + 1, 50) for _ in range(8)]
    nb[0][:] = interp.REC_LIMIT
    got = interp._predict([a.copy() for a in nb], w)
    want = [(sum(int(w[i]) * int(nb[i][j]) for i in range(8)) + (1 << 15)) >> 16 for j in range(50)]
    assert got.tolist() == want


def test_correction_is_the_rounded_mean_of_neighbour_errors():
    err = np.arange(5 * 6, dtype=np.int64).reshape(1, 5, 6) * 7 - 50
    idx = [np.array([1, 3]), np.array([1, 3, 5])]  # odd along both: 4 neighbours each, the edge reflected
    got = interp._correction(err, 1, [0, 1], idx).reshape(2, 3)
    for a, i in enumerate(idx[0]):
        for b, j in enumerate(idx[1]):
            jj = j + 1 if j + 1 <= 5 else j - 1
            s = int(err[0, i - 1, j] + err[0, i + 1, j] + err[0, i, j - 1] + err[0, i, jj])
            assert got[a, b] == (s + 2) // 4


def test_passes_cover_every_point_once():
    for shape in [(1,), (2,), (7,), (5, 1), (6, 9), (4, 5, 3), (3, 2, 2, 5)]:
        seen = np.zeros(shape, int)
        seen[(0,) * len(shape)] += 1
        for lv, s, ax, axes, idx in interp.passes(shape):
            seen[np.ix_(*idx)] += 1
            assert all(idx[a][0] % (2 * s) == s for a in axes)  # corrected along odd axes only
        assert (seen == 1).all(), shape


def test_groups_of_items_round_trip(interp_models, gs_data, monkeypatch):
    """Items coded in several groups (the encoder's memory bound) decode, the group size being
    read from the section whatever this process's own setting."""
    model = interp_models[2]
    x = gs_data.reshape(-1, 24, 24)
    monkeypatch.setattr(interp, "SLAB_VALUES", 3 * 24 * 24)
    blob = phcomp.compress(x, model, rel=1e-3)
    monkeypatch.setattr(interp, "SLAB_VALUES", 1 << 22)
    assert max_err(x, phcomp.decompress(blob, model)) <= _eps(x, 1e-3)
    assert blob != phcomp.compress(x, model, rel=1e-3)


def test_decode_in_a_fresh_process_without_torch(interp_models, gs_data, tmp_path, no_torch):
    model = interp_models[3]
    paths = []
    for i, kw in enumerate([dict(rel=1e-2), dict(rel=1e-5), dict(abs=1e-9)]):
        p = tmp_path / f"c{i}.phc"
        p.write_bytes(phcomp.compress(gs_data, model, **kw))
        paths.append(str(p))
    here = [hashlib.sha256(phcomp.decompress(open(p, "rb").read(), model).tobytes()).hexdigest() for p in paths]
    out = _run([str(model.save(tmp_path / "m.phcm")), *paths], {"OMP_NUM_THREADS": "1"}, tmp_path, prefix=no_torch)
    assert out[:3] == here and out[-1] == "False"


def test_model_file_round_trip(interp_models, gs_data, tmp_path):
    model = interp_models[3]
    loaded = phcomp.load_model(model.save(tmp_path / "m.phcm"))
    assert loaded.id == model.id and loaded.kind == "interp" and loaded.predictive
    blob = phcomp.compress(gs_data[1], model, rel=1e-3)
    assert blob == phcomp.compress(gs_data[1], loaded, rel=1e-3)


def test_corrupt_interp_models_are_refused(interp_models):
    m = interp_models[3]
    spec = m.params["decoder"]

    def build(arrays=None, **change):
        return phcomp.core.model.Model("interp", m.block, dict(m.params, decoder=dict(spec, **change)),
                                       dict(m.arrays, **(arrays or {})))
    with pytest.raises(PhcompError, match="exact arithmetic"):
        build({"decoder.weights": np.full((4, 8), 1 << 16, np.int64)})
    with pytest.raises(PhcompError, match="must be"):
        build({"decoder.weights": np.zeros((4, 6), np.int64)})
    with pytest.raises(PhcompError, match="tables for"):
        build(context_exps=spec["context_exps"][:3] + [[0]])
    with pytest.raises(PhcompError, match="exponents"):
        build(context_exps=[[3, 1]] + spec["context_exps"][1:])
    with pytest.raises(PhcompError, match="ndim"):
        build(ndim=7)


def test_damaged_chunks_give_errors_or_well_formed_arrays(interp_models, gs_data, monkeypatch):
    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", str(1 << 22))  # as in test_errors: no huge declared shapes
    model = interp_models[3]
    x = gs_data[1].copy()
    x[2, 3, 4] = np.nan
    blob = phcomp.compress(x, model, rel=1e-4)
    rng = np.random.default_rng(3)
    for n in list(rng.integers(0, len(blob), 30)) + [len(blob) - 1]:
        with pytest.raises(PhcompError):
            phcomp.decompress(blob[:n], model)
    errors = 0
    for _ in range(120):
        b = bytearray(blob[:-4])
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(12, len(b)))] = int(rng.integers(0, 256))
        data = bytes(b) + zlib.crc32(bytes(b)).to_bytes(4, "little")
        try:
            y = phcomp.decompress(data, model)
        except PhcompError:
            errors += 1
        else:
            assert y.shape == x.shape
    assert errors > 0


def test_observables_are_checked_and_escalated(interp_models, gs_data):
    """The per-chunk physics check works the same with interpolation chunks: a tolerance the
    first attempt misses re-encodes with a tighter bound, and the record says so."""
    model, x = interp_models[3], gs_data[1]
    easy = phcomp.inspect_chunk(phcomp.compress(x, model, rel=1e-2, observables={"energy": 1e-2}))
    assert easy["mode"] == "error-bounded (interpolation)" and easy["checks"]["attempt"] == 0
    tight = phcomp.compress(x, model, rel=1e-2, observables={"spectrum": 1e-4})
    info = phcomp.inspect_chunk(tight)
    assert info["checks"]["passed"] and info["checks"]["attempt"] >= 1
    assert max_err(x, phcomp.decompress(tight, model)) <= 1e-2 * float(x.max() - x.min())


def test_mode_and_model_kind_must_agree(interp_models, model3d, gs_data):
    blob = phcomp.compress(gs_data[1], interp_models[3], rel=1e-3)
    h = ck.parse_chunk(blob)
    h.model_id = model3d.id
    with pytest.raises(PhcompError, match="does not match model kind"):
        phcomp.decompress(ck.pack_chunk(h), model3d)


def test_smooth_volumes_beat_the_transform_kinds():
    """What the kind is for: on a resolved Gray-Scott volume filled with patterns, at tight bounds,
    it spends fewer bytes than the separable and linear kinds trained on the same snapshots.
    (On small volumes whose patterns have died out, block models win: docs/guide.md.)"""
    from phcomp.data import grayscott3d

    g = grayscott3d(n=32, steps=2000, snapshots=6, seed=5)
    train, test = g[0::2], np.ascontiguousarray(g[1::2])
    assert all((np.abs(s - 1) > 0.02).mean() > 0.3 for s in test)  # patterns everywhere
    models = {"interp": phcomp.train(train, kind="interp", ndim=3),
              "separable": phcomp.train(train, kind="separable", groups=8),
              "linear": phcomp.train(train, kind="linear", block=(8, 8, 8), groups=8)}
    for rel in (1e-3, 1e-4):
        sizes = {k: len(phcomp.compress(test, m, rel=rel)) for k, m in models.items()}
        assert sizes["interp"] < min(sizes["separable"], sizes["linear"]), (rel, sizes)


def test_cli_trains_interp(tmp_path, gs_data, capsys):
    from phcomp.cli import main

    np.save(tmp_path / "t.npy", gs_data[0::2])
    assert main(["train", str(tmp_path / "t.npy"), "-o", str(tmp_path / "m.phcm"), "--kind", "interp",
                 "--ndim", "3", "--weights", "lagrange", "--no-install"]) == 0
    m = phcomp.load_model(tmp_path / "m.phcm")
    assert m.kind == "interp" and m.decoder.ndim == 3 and m.meta["weights"] == "lagrange"
    assert main(["train", str(tmp_path / "t.npy"), "-o", str(tmp_path / "x.phcm"), "--kind", "interp",
                 "--groups", "4"]) != 0
    assert "--kind interp takes" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "t.npy"), "-o", str(tmp_path / "x.phcm"), "--ndim", "2"]) != 0


INTERP_FIX = os.path.join(FIXTURES, "v1_interp")
INTERP_INDEX = frozen_index(INTERP_FIX)


@pytest.mark.parametrize("name", sorted(INTERP_INDEX["cases"]))
def test_committed_interp_chunks_stay_frozen(name):
    """Chunks of mode 3 written once (tests/fixtures/make_interp.py): the same bits come back."""
    assert ck.parse_chunk(decode_frozen(INTERP_FIX, INTERP_INDEX, name)).mode == ck.MODE_INTERP


def test_table_sets_follow_the_family_and_both_encoders_choose_alike(interp_models, gs_data, monkeypatch):
    """A family-tables model codes each item group with the set that prices it lowest: Gray-Scott
    slices and rough sheets get different sets, in groups of one chunk; C and numpy agree."""
    model = interp_models[2]
    assert model.decoder.sets == 3 and model.params["decoder"]["table_sets"] == 3
    smooth, rough = gs_data.reshape(-1, 24, 24)[:6], _rough(gs_data.reshape(-1, 24, 24)[:6])
    x = np.concatenate([smooth, rough])
    monkeypatch.setattr(interp, "SLAB_VALUES", 6 * 24 * 24)  # two groups: 6 smooth items, then 6 rough
    blobs = {}
    for env in ("1", "0"):
        monkeypatch.setenv("PHCOMP_NATIVE", env)
        blobs[env] = phcomp.compress(x, model, rel=1e-3)
    assert blobs["1"] == blobs["0"]
    h = ck.parse_chunk(blobs["1"])
    _, group, sets, _, _ = interp.parse_section(h.sections[ck.SEC_INTERP], 12, 24 * 24, 3)
    assert group == 6 and sets.tolist() == [1, 2]
    for env in ("1", "0"):
        monkeypatch.setenv("PHCOMP_NATIVE", env)
        assert max_err(x, phcomp.decompress(blobs["1"], model)) <= _eps(x, 1e-3)
    # the chosen sets code the chunk shorter than the pooled set 0 alone (numpy path, choice forced)
    monkeypatch.setenv("PHCOMP_NATIVE", "0")
    monkeypatch.setattr(type(model.decoder), "choose", lambda self, symbols: 0)
    assert len(blobs["1"]) < len(phcomp.compress(x, model, rel=1e-3))


def test_a_bad_table_set_byte_is_a_clear_error(interp_models, gs_data, monkeypatch):
    model = interp_models[2]
    x = gs_data.reshape(-1, 24, 24)[:4]
    blob = bytearray(phcomp.compress(x, model, rel=1e-3))
    h = ck.parse_chunk(bytes(blob))
    body = bytearray(h.sections[ck.SEC_INTERP])
    body[9] = 7  # the set byte of the only group: past the model's 3 sets
    h.sections[ck.SEC_INTERP] = bytes(body)
    bad = ck.pack_chunk(h)
    for env in ("1", "0"):
        monkeypatch.setenv("PHCOMP_NATIVE", env)
        with pytest.raises(PhcompError, match="table set"):
            phcomp.decompress(bad, model)


def test_log2_units_are_exact_integers_close_to_256_log2():
    x = np.r_[1, 2, 3, 255, 256, 257, (1 << 24) - 1, 1 << 24, (1 << 32) - 1,
              np.random.default_rng(0).integers(1, 1 << 32, 1000)]
    u = interp.log2_units(x)
    assert u.dtype == np.int64
    assert np.all(np.abs(u - 256 * np.log2(x.astype(np.float64))) <= 1.01)
    assert np.all(np.diff(interp.log2_units(np.arange(1, 5000))) >= 0)  # monotone
