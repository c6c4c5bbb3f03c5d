"""Edges of the float range, every kind: values within a few ulps of +-float32/float64 max,
denormal bounds, with and without a bound. A finite value never comes back as Inf or NaN, a
bound below what float64 resolves is met losslessly, and no warning leaks."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import phcomp
from phcomp.core.model import ZOO_DIR, default_model

# (model file or role, shape of a small array it takes)
KINDS = {
    "interp 3-D": ("field3d", (12, 10, 9)),
    "interp 1-D": ("sas", (2, 150)),
    "separable 2-D": ("field", (64, 64)),
    "separable 3-D": ("9ec423a6181fef31", (16, 16, 16)),
    "linear 1-D": ("be1e879a62b6010f", (2, 256)),
    "linear 3-D": ("af8f9a63512d3b69", (8, 8, 16)),
    "sparse-ae": ("sas-coarse", (2, 256)),
}
_MODELS = {}


def _model(name):
    ref = KINDS[name][0]
    if ref not in _MODELS:
        _MODELS[ref] = default_model(ref) if len(ref) != 16 else phcomp.load_model(ZOO_DIR / f"{ref}.phcm")
    return _MODELS[ref]


def _near_max(rng, shape, dtype, ulps):
    """Values within ``ulps`` ulps of +-max of dtype, random signs (or all one sign)."""
    big = np.finfo(dtype).max
    steps = rng.integers(0, ulps + 1, shape)
    mag = np.full(shape, big, dtype)
    for _ in range(int(steps.max(initial=0))):  # walk down one ulp at a time where asked
        mag = np.where(steps > 0, np.nextafter(mag, dtype(0)), mag)
        steps = steps - 1
    sign = rng.choice([-1, 1], shape) if rng.random() < 0.7 else np.full(shape, rng.choice([-1, 1]))
    return (sign * mag).astype(dtype)


def _check(x, y, eps):
    assert y.shape == x.shape and y.dtype == x.dtype.newbyteorder("=")
    fin = np.isfinite(x)
    assert np.isfinite(y[fin]).all(), f"{int((~np.isfinite(y[fin])).sum())} finite values came back non-finite"
    assert np.array_equal(np.isnan(y), np.isnan(x))
    if eps is not None:
        err = np.abs(y[fin].astype(np.float64) - x[fin].astype(np.float64))
        assert (err <= eps).all(), float(err.max())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(KINDS)), dtype=st.sampled_from([np.float32, np.float64]),
       ulps=st.integers(0, 4), bound=st.sampled_from([None, ("rel", 1e-3), ("rel", 1e-6), ("abs", 1e-40),
                                                      ("abs", 5e-324), ("abs", 1e-310), ("abs", 0.0)]),
       seed=st.integers(0, 2**32 - 1), mix=st.booleans())
def test_near_float_max(kind, dtype, ulps, bound, seed, mix):
    rng = np.random.default_rng(seed)
    shape = KINDS[kind][1]
    x = _near_max(rng, shape, dtype, ulps)
    if mix:  # ordinary values and non-finite ones beside the extremes
        x = np.where(rng.random(shape) < 0.5, rng.standard_normal(shape).astype(dtype), x)
        x.reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    kw = {} if bound is None else {bound[0]: bound[1]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blob = phcomp.compress(x, _model(kind), **kw)
        y = phcomp.decompress(blob, _model(kind))
    fin = x[np.isfinite(x)].astype(np.float64)
    with np.errstate(over="ignore"):
        eps = None if bound is None else (bound[1] if bound[0] == "abs" else bound[1] * (fin.max() - fin.min()))
    _check(x, y, eps)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("abs_bound", [1e-40, 5e-324, 1e-310])
def test_denormal_bound_is_lossless(kind, abs_bound):
    x = np.random.default_rng(0).standard_normal(KINDS[kind][1]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = phcomp.decompress(phcomp.compress(x, _model(kind), abs=abs_bound))
    assert np.array_equal(x, y)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_latent_only_pairs_near_float32_max_stay_finite(kind):
    """The adversarial run's case: +-3.4e38 pairs, no bound, decoded with Inf before."""
    shape = KINDS[kind][1]
    big = np.finfo(np.float32).max
    x = np.where(np.arange(np.prod(shape)).reshape(shape) % 2 == 0, big, -big).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = phcomp.decompress(phcomp.compress(x, _model(kind)))
    _check(x, y, None)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_big_endian_input_comes_back_native(dtype):
    """Documented in docs/guide.md: chunks store little-endian, decoding gives native order."""
    x = np.random.default_rng(1).standard_normal((40, 30)).astype(dtype)
    y = phcomp.decompress(phcomp.compress(x, default_model("field"), rel=1e-4))
    assert y.dtype == np.dtype(dtype).newbyteorder("=") and y.dtype.isnative
    assert np.abs(y - x.astype(y.dtype)).max() <= 1e-4 * (x.max() - x.min())
    z = phcomp.decompress(phcomp.compress(x, abs=0))
    assert z.dtype.isnative and np.array_equal(z, x)
