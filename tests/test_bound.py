"""Error-bound and round-trip guarantees as properties (hypothesis)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import phcomp
from conftest import max_err

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=12)
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def arrays(draw, allow_nonfinite=True):
    shape = draw(shapes)
    dtype = draw(dtypes)
    kind = draw(st.sampled_from(["smooth", "noise", "constant", "spiky", "offset", "tiny"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(np.prod(shape))
    if kind == "smooth":
        t = np.linspace(0, draw(st.floats(0.5, 20)), n)
        x = np.sin(t) + 0.1 * np.cos(3.7 * t)
    elif kind == "noise":
        x = rng.standard_normal(n)
    elif kind == "constant":
        x = np.full(n, draw(st.floats(-1e6, 1e6)))
    elif kind == "spiky":
        x = rng.standard_normal(n) * 1e-3
        x[rng.integers(0, n, size=max(1, n // 50))] = 1e3
    elif kind == "offset":
        x = 1e5 + rng.standard_normal(n)
    else:
        x = rng.standard_normal(n) * 1e-30
    x = x.reshape(shape).astype(dtype)
    if allow_nonfinite and draw(st.booleans()):
        flat = x.reshape(-1)
        for v in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=1, max_size=4)):
            flat[rng.integers(0, n)] = v
    return x


def check_roundtrip(x, y, eps):
    assert y.shape == x.shape and y.dtype == x.dtype
    nf = ~np.isfinite(x)
    # non-finite values come back bit for bit
    assert np.array_equal(x[nf].view(np.uint8 if x.itemsize == 1 else f"u{x.itemsize}"),
                          y[nf].view(f"u{x.itemsize}"))
    if eps is not None:
        assert max_err(x, y) <= eps


@SETTINGS
@given(x=arrays(), rel=st.sampled_from([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7]), dims=st.integers(1, 3))
def test_rel_bound_holds(models, x, rel, dims):
    model = models[dims]  # any model fits any array: fewer dims get leading unit axes
    blob = phcomp.compress(x, model, rel=rel)
    event(phcomp.inspect_chunk(blob)["mode"])
    y = phcomp.decompress(blob, model)
    fin = x[np.isfinite(x)].astype(np.float64)
    eps = rel * (fin.max() - fin.min()) if fin.size else 0.0
    check_roundtrip(x, y, eps)
    if eps == 0:
        assert np.array_equal(x.view(f"u{x.itemsize}"), y.view(f"u{x.itemsize}"))


@SETTINGS
@given(x=arrays(), abs_=st.floats(1e-9, 10.0))
def test_abs_bound_holds(models, x, abs_):
    model = models[min(x.ndim, 3)]
    y = phcomp.decompress(phcomp.compress(x, model, abs=abs_), model)
    check_roundtrip(x, y, abs_)


@SETTINGS
@given(x=arrays())
def test_abs_zero_is_lossless(models, x):
    y = phcomp.decompress(phcomp.compress(x, models[min(x.ndim, 3)], abs=0))
    assert y.dtype == x.dtype and np.array_equal(x.view(f"u{x.itemsize}"), y.view(f"u{x.itemsize}"))


@SETTINGS
@given(x=arrays())
def test_unbounded_keeps_shape_and_nonfinite(models, x):
    model = models[min(x.ndim, 3)]
    check_roundtrip(x, phcomp.decompress(phcomp.compress(x, model), model), None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float64_bound_is_kept_in_float64(model3d, gs_data, dtype):
    x = gs_data[1].astype(dtype) + 1000.0  # big offset: float32 ulp(1000) ~ 6e-5
    eps = 1e-9 if dtype == np.float64 else 1e-4
    y = phcomp.decompress(phcomp.compress(x, model3d, abs=eps), model3d)
    assert max_err(x, y) <= eps


def test_fortran_order_and_views(model3d, gs_data):
    x = np.asfortranarray(gs_data[1])
    y = phcomp.decompress(phcomp.compress(x, model3d, rel=1e-3), model3d)
    assert max_err(np.ascontiguousarray(x), y) <= 1e-3 * (x.max() - x.min())
    v = gs_data[1][::2, 1:, ::-1]
    y = phcomp.decompress(phcomp.compress(v, model3d, rel=1e-3), model3d)
    assert max_err(v, y) <= 1e-3 * (v.max() - v.min())


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2), (1,), (1, 1, 1, 1), ()])
def test_empty_and_single(model3d, shape):
    x = np.full(shape, 1.5, np.float32)
    y = phcomp.decompress(phcomp.compress(x, model3d, rel=1e-3))
    assert y.shape == x.shape and np.array_equal(x, y)


def test_all_nonfinite(model3d):
    x = np.array([[np.nan, np.inf], [-np.inf, np.nan]], np.float64)
    y = phcomp.decompress(phcomp.compress(x, model3d, rel=1e-3))
    assert np.array_equal(x.view("u8"), y.view("u8"))


def test_nan_payload_kept(model3d, gs_data):
    x = gs_data[1].copy()
    x.reshape(-1).view(np.uint32)[7] = 0x7FC01234  # NaN with a payload
    y = phcomp.decompress(phcomp.compress(x, model3d, rel=1e-2))
    assert y.reshape(-1).view(np.uint32)[7] == 0x7FC01234


def test_tighter_of_abs_and_rel(model3d, gs_data):
    x = gs_data[1]
    y = phcomp.decompress(phcomp.compress(x, model3d, abs=1e-5, rel=1e-2))
    assert max_err(x, y) <= 1e-5


def test_ratio_improves_with_looser_bound(model3d, gs_data):
    x = gs_data[1]
    sizes = [len(phcomp.compress(x, model3d, rel=r)) for r in (1e-4, 1e-3, 1e-2)]
    assert sizes[0] > sizes[1] > sizes[2]
    assert x.nbytes / sizes[2] > 8  # smooth data at a loose bound must compress well
