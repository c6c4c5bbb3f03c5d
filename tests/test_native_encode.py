"""The C chunk writer (native/src/chunk_write.c, the ADIOS2 operator's encoder) against
phcomp.compress: the same decisions (mode, bound, offset, grid), the same range-coded words,
and chunks that decode to the same bits with both readers. The zstd frames inside may differ
in bytes where the Python zstandard module bundles another zstd release than Debian's libzstd."""
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import phcomp
from phcomp.core import chunk as ck
from phcomp.core import interp, native
from phcomp.core.codec import compress_lossless
from test_bound import SETTINGS, arrays, check_roundtrip
from test_fuzz import _assert_clean
from test_fuzz import _run as run_campaign
from test_interp import interp_models  # noqa: F401 -- the session fixture of trained interp models
from test_native import numpy_path

pytestmark = pytest.mark.skipif(not native.available(), reason="native codec not built")

BOUNDS = st.sampled_from([dict(rel=1e-1), dict(rel=1e-3), dict(rel=1e-6), dict(abs=1e-2), dict(abs=0.0), dict(rel=0.0),
                          dict(abs=1e-3, rel=1e-2), dict(abs=1e-300), dict()])


def _native_model(model):
    h = getattr(model, "_test_native_model", None)
    if h is None:
        h = model._test_native_model = native.NativeModel(model.to_bytes())
    return h


def _same_chunk(c: bytes, p: bytes, model) -> None:
    hc, hp = ck.parse_chunk(c), ck.parse_chunk(p)
    assert (hc.mode, hc.dtype, hc.shape, hc.model_id) == (hp.mode, hp.dtype, hp.shape, hp.model_id)
    assert [hc.eps, hc.mid, hc.half, hc.step] == [hp.eps, hp.mid, hp.half, hp.step]
    assert list(hc.sections) == list(hp.sections)
    if hc.mode == ck.MODE_INTERP:  # the same bits, group, words and escapes
        items, spatial = interp.split_shape(hc.shape, model.decoder.ndim)
        sc, sp = (interp.parse_section(h.sections[ck.SEC_INTERP], items, int(np.prod(spatial)), model.decoder.sets)
                  for h in (hc, hp))
        assert sc[:2] == sp[:2] and all(np.array_equal(a, b) for a, b in zip(sc[2:], sp[2:]))
    a, b = phcomp.decompress(c, model), phcomp.decompress(p, model)
    assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))
    d = native.decode_chunk(c, _native_model(model) if hc.mode == ck.MODE_INTERP else None)
    assert np.array_equal(d.view(np.uint8), b.view(np.uint8))


@SETTINGS
@given(x=arrays(), bound=BOUNDS, dims=st.integers(1, 3))
def test_c_chunks_match_python_chunks(interp_models, x, bound, dims):
    model = interp_models[dims]
    c = native.encode_chunk(x, _native_model(model), model.id, **bound)
    p = phcomp.compress(x, model, **bound)
    _same_chunk(c, p, model)
    h = ck.parse_chunk(c)
    eps = h.eps if h.mode == ck.MODE_INTERP else 0.0  # lossless chunks are exact
    if bound:
        fin = x[np.isfinite(x)].astype(np.float64)
        rng = float(fin.max() - fin.min()) if fin.size else 0.0
        asked = min(v * (rng if k == "rel" else 1.0) for k, v in bound.items())
        assert eps <= asked
    check_roundtrip(x, phcomp.decompress(c, model), eps)


def test_section_words_identical_on_a_large_array(interp_models):
    rng = np.random.default_rng(3)
    x = np.cumsum(np.cumsum(rng.standard_normal((30, 40, 50)), 0), 2).astype(np.float32)
    x[2, 3, 4], x[5, 6, 7] = np.nan, -np.inf
    model = interp_models[3]
    for bound in (dict(rel=1e-3), dict(abs=0.05), dict()):
        c = native.encode_chunk(x, _native_model(model), model.id, **bound)
        p = phcomp.compress(x, model, **bound)
        assert ck.parse_chunk(c).mode == ck.MODE_INTERP
        _same_chunk(c, p, model)


@pytest.mark.parametrize("dtype", ["i1", "u2", "<i4", "u8"])
def test_integer_arrays_are_stored_losslessly(dtype):
    x = np.arange(-5, 20).astype(dtype).reshape(5, 5)
    c = native.encode_chunk(x)
    assert phcomp.inspect_chunk(c)["mode"] == phcomp.inspect_chunk(compress_lossless(x))["mode"]
    assert np.array_equal(phcomp.decompress(c), x) and np.array_equal(native.decode_chunk(c), x)


def test_chunk_bound_holds_for_incompressible_data(interp_models):
    rng = np.random.default_rng(0)
    model = interp_models[1]
    for x in (rng.standard_normal(4096), rng.standard_normal(100).astype(np.float32),
              rng.integers(0, 2**63, 999, dtype=np.uint64).view(np.float64)):
        for bound in (dict(rel=1e-9), dict(abs=0.0), dict(rel=0.5)):
            c = native.encode_chunk(x, _native_model(model), model.id, **bound)
            shape = np.array(x.shape, np.uint64)
            cap = native._load().phc_chunk_bound(1 if x.dtype == np.float32 else 2, x.ndim,
                                                 shape.ctypes.data_as(native._c_u64p))
            assert len(c) <= cap


def test_clear_errors():
    x = np.linspace(0, 1, 100)
    with pytest.raises(phcomp.PhcompError, match="interp, linear or separable model"):
        native.encode_chunk(x, None, None, rel=1e-3)
    with pytest.raises(phcomp.PhcompError, match="abs must be"):
        native.encode_chunk(x, None, None, abs=-1.0)
    with pytest.raises(phcomp.PhcompError, match="dtype"):
        native.encode_chunk(np.zeros(3, np.complex64))


def test_hostile_arrays_campaign():
    """tests/fuzz_campaign.py encode-c in a child under the address-space limit: extremes near
    the float limits, denormals, NaN/Inf, constants, every shape class and bound; the C chunk
    decodes to the bits of Python's chunk, or both refuse. (Also run under ASan + UBSan:
    test_native.py.)"""
    result = run_campaign("encode-c", 1500, 3, 600, (), {}, True)
    _assert_clean(result)
    modes = result["modes"]
    assert modes["lossless"] > 100 and modes["error-bounded (interpolation)"] > 100
    assert modes.get("linear error-bounded", 0) > 10 and modes.get("separable error-bounded", 0) > 10


TRANSFORM = {"separable 64x64 (field)": "792586205cbaa8a7", "separable 16^3": "9ec423a6181fef31",
             "linear 8^3": "af8f9a63512d3b69", "linear 256": "be1e879a62b6010f"}


def _zoo(model_id: str):
    from phcomp.core.model import ZOO_DIR

    return phcomp.load_model(ZOO_DIR / f"{model_id}.phcm")


@SETTINGS
@given(x=arrays(), bound=BOUNDS, which=st.sampled_from(sorted(TRANSFORM)))
def test_c_transform_chunks_keep_the_bound_and_decode_alike(x, bound, which):
    """Linear and separable chunks written in C (native/src/transform_encode.c): the numpy and
    the C decoder give the same bits, the bound holds, non-finite values come back, and the
    mode, bound and size are the numpy encoder's (the float projection may round a latent the
    other way, so the bytes may differ)."""
    model = _zoo(TRANSFORM[which])
    c = native.encode_chunk(x, _native_model(model), model.id, **bound)
    with numpy_path():
        p = phcomp.compress(x, model, **bound)
        y = phcomp.decompress(c, model)
    hc, hp = ck.parse_chunk(c), ck.parse_chunk(p)
    d = native.decode_chunk(c, _native_model(model) if hc.mode else None)
    assert np.array_equal(d.view(np.uint8), y.view(np.uint8))
    assert hc.mode == hp.mode and hc.eps == hp.eps and [hc.mid, hc.half] == [hp.mid, hp.half]
    if hc.mode == ck.MODE_BOUNDED or hc.mode == ck.MODE_LOSSLESS:
        check_roundtrip(x, y, hc.eps)
    assert len(c) <= 1.01 * len(p) + 32


@pytest.mark.parametrize("which", sorted(TRANSFORM))
def test_c_transform_encoder_ratio_and_threads(which):
    """On a smooth field at three bounds: the C chunk is within 1 % of the numpy encoder's size,
    phcomp.compress writes the C chunk, and the bytes do not depend on the thread count."""
    model = _zoo(TRANSFORM[which])
    rng = np.random.default_rng(7)
    shape = (3, 150, 140) if len(model.block) < 3 else (40, 50, 60)
    x = rng.standard_normal(shape)
    for ax in range(x.ndim):
        x = np.cumsum(x, axis=ax)
    x = x.astype(np.float32)
    for rel in (1e-2, 1e-3, 1e-4):
        outs = {t: native.encode_chunk(x, _native_model(model), model.id, rel=rel, threads=t) for t in (1, 2, 3)}
        assert len(set(outs.values())) == 1
        assert phcomp.compress(x, model, rel=rel) == outs[1]
        with numpy_path():
            p = phcomp.compress(x, model, rel=rel)
        assert abs(len(outs[1]) - len(p)) <= 0.01 * len(p), (rel, len(outs[1]), len(p))


def test_vectorised_quantization_equals_floor(tmp_path):
    """The C encoder's quantization runs four values at a time with floor written as a shift;
    a C check (tests/c/quantize_check.c) compares it with floor() on edge-heavy values. Checked
    to fail when the shift's correction is dropped."""
    root = Path(__file__).resolve().parent.parent
    src = root / "native" / "src"
    exe = tmp_path / "quantize_check"
    others = sorted(str(p) for p in src.glob("*.c") if p.name != "transform_encode.c")
    subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-ffp-contract=off", f"-I{root / 'native' / 'include'}",
                    f"-I{src}", str(root / "tests" / "c" / "quantize_check.c"), *others, "-o", str(exe), "-lm", "-lpthread",
                    "-ldl"], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
