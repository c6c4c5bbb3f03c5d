"""Named observables: quantities scientists compute from the data and want to survive compression.

Each observable maps an array to a scalar or a vector; its error between the original and the
decoded array is the worst component error. Tolerances are relative by default
(``{"energy": 1e-5}``: |O(x') - O(x)| <= 1e-5 |O(x)|, per component), absolute when asked
(``{"mean": {"abs": 1e-3}}``), both when both are given. Non-finite values (kept exactly by
phcomp) are counted as 0 in every observable, so they never mask or fake an error.

Built in: mean, sum (mass), energy (sum of squares), min, max, gradient_energy (sum of squared
finite differences along every axis), spectrum (radially binned power spectrum over the
trailing dims), and for small-angle-scattering curves (..., nq) stored as log10 I on a q grid:
guinier_rg (radius of gyration from the low-q Guinier fit, per curve) and porod_invariant
(integral of I q^2 dq, per curve). Add your own with ``register_observable(name, fn)``, a
callable in the spec, or the entry point group ``phcomp.observables``.

Every built-in has a torch twin (``Observable.torch``) for physics-informed training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..core.checks import Check
from ..core.errors import PhcompError

SPECTRUM_FLOOR = 1e-6  # bins below this fraction of the peak power count relative to the floor
SAS_Q = (1e-3, 1.0)  # default q range (1/Angstrom) of SAS curves: log-spaced, as phcomp.data makes them


@dataclass
class Observable:
    name: str
    numpy: Callable[..., Any]
    torch: Callable[..., Any] | None = None
    doc: str = ""
    options: dict = field(default_factory=dict)  # default keyword options (e.g. q grid, dims)


def _sum(x, xp):
    return xp.sum(x)


def _energy(x, xp):
    return xp.sum(x * x)


def _gradient_energy(x, xp):
    total = 0.0 * xp.sum(x)
    for ax in range(x.ndim):
        if x.shape[ax] > 1:
            d = xp.diff(x, axis=ax) if xp is np else xp.diff(x, dim=ax)
            total = total + xp.sum(d * d)
    return total


def _spectral_dims(x, dims):
    return min(x.ndim, 3) if dims is None else min(int(dims), x.ndim)


def _radial_bins(shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    grids = np.meshgrid(*[np.fft.fftfreq(n) * n for n in shape], indexing="ij")
    k = np.sqrt(sum(g * g for g in grids))
    b = np.rint(k).astype(np.int64).ravel()
    return b, int(b.max()) + 1 if b.size else 1


def _spectrum_np(x, dims=None):
    nd = _spectral_dims(x, dims)
    axes = tuple(range(x.ndim - nd, x.ndim))
    p = np.abs(np.fft.fftn(x, axes=axes)) ** 2
    p = p.reshape((-1,) + p.shape[x.ndim - nd :]).mean(axis=0)
    bins, n = _radial_bins(p.shape)
    return np.bincount(bins, weights=p.ravel(), minlength=n)


def _spectrum_torch(x, dims=None):
    import torch

    nd = _spectral_dims(x, dims)
    dim = tuple(range(x.ndim - nd, x.ndim))
    p = torch.fft.fftn(x, dim=dim).abs() ** 2
    p = p.reshape((-1,) + tuple(p.shape[x.ndim - nd :])).mean(dim=0)
    bins, n = _radial_bins(tuple(p.shape))
    out = torch.zeros(n, dtype=p.dtype, device=p.device)
    return out.index_add(0, torch.as_tensor(bins, device=p.device), p.reshape(-1))


def sas_q(n: int, q: Any = None) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) if q is not None else np.geomspace(SAS_Q[0], SAS_Q[1], n)


def _guinier(x, xp, q=None, log10=True, qrg_max=1.3, npoints=None):
    """Rg per curve from the slope of ln I against q^2 over the low-q points (Guinier region)."""
    qq = sas_q(x.shape[-1], q)
    n = npoints or max(4, x.shape[-1] // 16)
    q2 = qq[:n] ** 2
    lnI = x[..., :n] * np.log(10.0) if log10 else xp.log(xp.abs(x[..., :n]) + 1e-300)
    q2c = q2 - q2.mean()
    if xp is not np:
        q2c = xp.as_tensor(q2c, dtype=x.dtype, device=x.device)
    slope = ((lnI - lnI.mean(axis=-1, keepdims=True) if xp is np else lnI - lnI.mean(dim=-1, keepdim=True)) * q2c).sum(-1) / float((q2c * q2c).sum())
    return xp.sqrt(xp.abs(3.0 * slope))


def _porod(x, xp, q=None, log10=True):
    qq = sas_q(x.shape[-1], q)
    inten = 10.0 ** x if log10 else x
    w = np.zeros_like(qq)
    w[1:] += np.diff(qq) / 2
    w[:-1] += np.diff(qq) / 2  # trapezoid weights
    wq = w * qq * qq
    if xp is not np:
        wq = xp.as_tensor(wq, dtype=x.dtype, device=x.device)
    return (inten * wq).sum(-1)


def _torch_wrap(fn):
    def run(x, **kw):
        import torch

        return fn(x, torch, **kw)

    return run


def _np_wrap(fn):
    return lambda x, **kw: fn(x, np, **kw)


OBSERVABLES: dict[str, Observable] = {}


def register_observable(name: str, numpy_fn: Callable[..., Any], torch_fn: Callable[..., Any] | None = None,
                        doc: str = "", **options: Any) -> Observable:
    """Make ``name`` usable in every ``observables=`` spec of this process."""
    obs = Observable(name, numpy_fn, torch_fn, doc, options)
    OBSERVABLES[name] = obs
    return obs


register_observable("mean", lambda x: np.mean(x) if x.size else 0.0, lambda x: x.mean(), "mean of the values")
for _name, _fn, _doc in (
    ("sum", _sum, "sum of the values (mass)"),
    ("energy", _energy, "sum of squares"),
    ("gradient_energy", _gradient_energy, "sum of squared finite differences along every axis"),
):
    register_observable(_name, _np_wrap(_fn), _torch_wrap(_fn), _doc)
register_observable("min", lambda x: np.min(x) if x.size else 0.0, lambda x: x.amin(), "smallest value")
register_observable("max", lambda x: np.max(x) if x.size else 0.0, lambda x: x.amax(), "largest value")
register_observable("spectrum", _spectrum_np, _spectrum_torch,
                    "radially binned power spectrum over the trailing dims (option dims, default up to 3)")
register_observable("guinier_rg", _np_wrap(_guinier), _torch_wrap(_guinier),
                    "SAS: radius of gyration per curve from the Guinier fit (options q, log10, npoints)")
register_observable("porod_invariant", _np_wrap(_porod), _torch_wrap(_porod),
                    "SAS: integral of I q^2 dq per curve (options q, log10)")


def observable_names() -> list[str]:
    _load_entry_points()
    return sorted(OBSERVABLES)


_EP_LOADED = False


def _load_entry_points() -> None:
    global _EP_LOADED
    if _EP_LOADED:
        return
    _EP_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="phcomp.observables"):
        if ep.name not in OBSERVABLES:
            obj = ep.load()
            if isinstance(obj, Observable):
                OBSERVABLES[ep.name] = obj
            else:
                register_observable(ep.name, obj)


def get_observable(name: str) -> Observable:
    if name not in OBSERVABLES:
        _load_entry_points()
    if name not in OBSERVABLES:
        raise PhcompError(f"unknown observable {name!r}; known: {', '.join(observable_names())} "
                          "(add one with phcomp.observables.register_observable or the phcomp.observables entry point)")
    return OBSERVABLES[name]


def _tolerances(name: str, tol: Any) -> tuple[dict, list[tuple[str, float]]]:
    """Split a tolerance spec into observable options and (kind, value) tolerances."""
    if isinstance(tol, (int, float)) and not isinstance(tol, bool):
        return {}, [("rel", float(tol))]
    if isinstance(tol, dict):
        opts = {k: v for k, v in tol.items() if k not in ("rel", "abs")}
        tols = [(k, float(tol[k])) for k in ("rel", "abs") if k in tol]
        if tols:
            return opts, tols
    raise PhcompError(f"tolerance for {name!r} must be a number (relative) or a dict with 'rel' and/or 'abs', got {tol!r}")


def resolve_checks(spec: dict | None) -> list[Check]:
    """``{"energy": 1e-5, "mean": {"abs": 1e-3}, "spectrum": {"rel": 1e-2, "dims": 2}, fn: 1e-3}`` -> checks.
    Keys are registered names or callables (array -> scalar/vector)."""
    checks: list[Check] = []
    for key, tol in (spec or {}).items():
        if callable(key):
            name, fn, defaults = getattr(key, "__name__", "custom"), key, {}
        else:
            obs = get_observable(str(key))
            name, fn, defaults = obs.name, obs.numpy, obs.options
        opts, tols = _tolerances(name, tol)
        kwargs = {**defaults, **opts}
        for kind, value in tols:
            if not np.isfinite(value) or value < 0:
                raise PhcompError(f"tolerance for {name!r} must be finite and >= 0, got {value}")
            checks.append(Check(name, (lambda f, kw: lambda x: f(x, **kw))(fn, kwargs), kind, value,
                                spectrum_floor=SPECTRUM_FLOOR if name == "spectrum" else 0.0))
    return checks
