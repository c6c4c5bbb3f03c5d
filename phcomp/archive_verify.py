"""Verification of an archive twin against its original: decoded in full, slab by slab.

For every array: same path, shape and dtype; float arrays within the bound the archive asked
for (``whole_array_bound``: ``rel`` relative to the original's whole range), NaN / Inf at the
same places; every other array identical; attributes equal (HDF5 dimension-scale bookkeeping
compared as the scales each dimension has); observables, if asked, met on every stored chunk.
Any difference is a PhcompError naming the array; the return value is the largest
``|error| / bound`` seen (0 for lossless or exact).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .core.errors import PhcompError
from .core.layout import SLAB_BYTES, whole_array_bound

# dimension-scale bookkeeping (object references differ between files): compared as scales and labels
_DIM_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "DIMENSION_LABELS", "CLASS", "NAME", "_Netcdf4Dimid",
              "_Netcdf4Coordinates")


def _rows(shape: tuple[int, ...], itemsize: int) -> int:
    if not shape:
        return 1
    row = max(1, int(np.prod(shape[1:], dtype=np.int64))) * itemsize
    return max(1, SLAB_BYTES // row)


def _compare(name: str, a: np.ndarray, b: np.ndarray, eps: float | None, float_kind: bool) -> float:
    """Largest |error| / eps of one slab (eps None or 0: must be identical)."""
    if a.shape != b.shape:
        raise PhcompError(f"{name}: decoded slab has shape {b.shape}, original {a.shape}")
    if not float_kind or not eps:
        if not np.array_equal(a, b, equal_nan=float_kind):
            raise PhcompError(f"{name}: values differ from the original")
        return 0.0
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb], equal_nan=True):
        raise PhcompError(f"{name}: non-finite values not kept")
    if not fa.any():
        return 0.0
    err = float(np.max(np.abs(a[fa].astype(np.float64) - b[fb].astype(np.float64))))
    if not err <= eps:
        raise PhcompError(f"{name}: error {err:.6g} exceeds the bound {eps:.6g}")
    return err / eps


def _compare_array(name: str, src, dst, eps: float | None) -> float:
    if tuple(src.shape) != tuple(dst.shape) or np.dtype(src.dtype) != np.dtype(dst.dtype):
        raise PhcompError(f"{name}: {dst.shape} {dst.dtype} in the twin, {src.shape} {src.dtype} in the original")
    float_kind = np.dtype(src.dtype).kind == "f"
    if not src.shape:
        return _compare(name, np.asarray(src[()]), np.asarray(dst[()]), eps, float_kind)
    worst = 0.0
    step = _rows(tuple(src.shape), np.dtype(src.dtype).itemsize)
    for r in range(0, src.shape[0], step):
        worst = max(worst, _compare(name, np.asarray(src[r : r + step]), np.asarray(dst[r : r + step]), eps, float_kind))
    return worst


def _chunk_slices(shape: tuple[int, ...], chunks: tuple[int, ...]):
    import itertools

    ranges = [range(0, s, c) for s, c in zip(shape, chunks)]
    for corner in itertools.product(*ranges):
        yield tuple(slice(o, min(o + c, s)) for o, c, s in zip(corner, chunks, shape))


def _check_observables(name: str, src, dst, chunks: tuple[int, ...] | None, checks) -> None:
    """The observables on each stored chunk (what the codec checked when it wrote it)."""
    from .core.checks import evaluate

    if not checks or np.dtype(src.dtype).kind != "f" or not src.shape:
        return
    for sl in _chunk_slices(tuple(src.shape), tuple(chunks or src.shape)):
        failed = [o for o in evaluate(checks, np.asarray(src[sl]), np.asarray(dst[sl])) if not o.ok]
        if failed:
            o = failed[0]
            raise PhcompError(f"{name}{[(s.start, s.stop) for s in sl]}: observable {o.name} error {o.error:.3g} "
                              f"above its tolerance {o.tol:.3g}")


def _attrs_equal(name: str, a: dict, b: dict) -> None:
    ka = {k for k in a if k not in _DIM_ATTRS}
    kb = {k for k in b if k not in _DIM_ATTRS}
    if ka != kb:
        raise PhcompError(f"{name}: attributes {sorted(ka ^ kb)} not kept")
    for k in ka:
        va, vb = a[k], b[k]
        if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
            same = np.array_equal(np.asarray(va), np.asarray(vb))
        else:
            same = va == vb or (isinstance(va, float) and isinstance(vb, float) and np.isnan(va) and np.isnan(vb))
        if not same:
            raise PhcompError(f"{name}: attribute {k} changed")


def _bound(src, opts) -> float | None:
    if np.dtype(src.dtype).kind != "f":
        return 0.0
    return whole_array_bound(src, opts.abs, opts.rel)


def _checks(opts):
    if not opts.observables:
        return None
    from .physics import resolve_checks

    return resolve_checks(opts.observables)


def _verify_hdf5(src_path: Path, dst_path: Path, opts) -> float:
    import h5py

    from . import hdf5  # noqa: F401  (the filter, and the model lookup in open files)
    from .hdf5_options import MODEL_GROUP

    checks = _checks(opts)
    worst = 0.0
    with h5py.File(src_path, "r") as s, h5py.File(dst_path, "r") as d:
        names: list[str] = []
        s.visit(names.append)
        _attrs_equal("/", dict(s.attrs), dict(d.attrs))
        for name in names:
            so = s[name]
            if name not in d:
                raise PhcompError(f"{name}: missing in the twin")
            do = d[name]
            _attrs_equal(name, dict(so.attrs), dict(do.attrs))
            if not isinstance(so, h5py.Dataset):
                continue
            dims_s = [(dim.label, [sc.name for sc in dim.values()]) for dim in so.dims]
            dims_d = [(dim.label, [sc.name for sc in dim.values()]) for dim in do.dims]
            if dims_s != dims_d:
                raise PhcompError(f"{name}: dimension scales {dims_d} in the twin, {dims_s} in the original")
            worst = max(worst, _compare_array(name, so, do, _bound(so, opts)))
            _check_observables(name, so, do, do.chunks, checks)
        extra = set()
        d.visit(lambda n: extra.add(n) if n not in s and not n.startswith(MODEL_GROUP.strip("/")) else None)
        extra.discard(MODEL_GROUP.strip("/").split("/")[0])
        if extra:
            raise PhcompError(f"the twin holds objects the original lacks: {sorted(extra)[:5]}")
    return worst


def _verify_zarr(src_path: Path, dst_path: Path, opts) -> float:
    import zarr

    from . import zarr as _phzarr  # noqa: F401  (codecs, and the model lookup in open stores)
    from .zarr import STORE_MODEL_DIR, _dimension_names

    checks = _checks(opts)
    s = zarr.open(src_path, mode="r")
    d = zarr.open(dst_path, mode="r")
    _attrs_equal("/", dict(s.attrs), dict(d.attrs))
    if isinstance(s, zarr.Array):
        return _compare_array("/", s, d, _bound(s, opts))
    worst = 0.0
    for name, so in s.members(max_depth=None):
        if name.startswith(STORE_MODEL_DIR):
            continue
        try:
            do = d[name]
        except KeyError:
            raise PhcompError(f"{name}: missing in the twin") from None
        _attrs_equal(name, {k: v for k, v in so.attrs.items() if k != "_ARRAY_DIMENSIONS"},
                     {k: v for k, v in do.attrs.items() if k != "_ARRAY_DIMENSIONS"})
        if isinstance(so, zarr.Array):
            if _dimension_names(so) != _dimension_names(do):
                raise PhcompError(f"{name}: dimension names {_dimension_names(do)}, original {_dimension_names(so)}")
            worst = max(worst, _compare_array(name, so, do, _bound(so, opts)))
            _check_observables(name, so, do, tuple(do.chunks), checks)
    return worst


def _verify_npy(src_path: Path, dst_path: Path, opts) -> float:
    from .npyfile import load_npy, read_phc

    x = load_npy(src_path)
    shape, dtype, rows = read_phc(dst_path)
    if tuple(shape) != x.shape or np.dtype(dtype) != x.dtype.newbyteorder("="):
        raise PhcompError(f"twin holds {shape} {dtype}, original {x.shape} {x.dtype}")
    eps = _bound(x, opts)
    checks = _checks(opts)
    worst, seen = 0.0, 0
    from .core.checks import evaluate

    for r0, y in rows:
        orig = np.asarray(x[r0 : r0 + len(y)]) if x.ndim else np.asarray(x)
        worst = max(worst, _compare("array", orig, y.reshape(orig.shape), eps, True))
        if checks:
            failed = [o for o in evaluate(checks, orig, y.reshape(orig.shape)) if not o.ok]
            if failed:
                raise PhcompError(f"rows {r0}+: observable {failed[0].name} above its tolerance")
        seen += len(y) if x.ndim else 1
    if seen != (x.shape[0] if x.ndim else 1):
        raise PhcompError(f"twin decodes {seen} rows, original has {x.shape[0] if x.ndim else 1}")
    return worst


def verify_twin(src: str | os.PathLike, twin: str | os.PathLike, kind: str, opts) -> float:
    fn = {"hdf5": _verify_hdf5, "zarr": _verify_zarr, "npy": _verify_npy}[kind]
    return fn(Path(src), Path(twin), opts)


def decode_twin(twin: str | os.PathLike, kind: str) -> None:
    """Decode every array of a twin whose original is gone (no bound to check against)."""
    p = Path(twin)
    if kind == "hdf5":
        import h5py

        from . import hdf5  # noqa: F401

        with h5py.File(p, "r") as f:
            names: list[str] = []
            f.visit(names.append)
            for n in names:
                if isinstance(f[n], h5py.Dataset) and f[n].shape:
                    ds = f[n]
                    step = _rows(ds.shape, ds.dtype.itemsize)
                    for r in range(0, ds.shape[0], step):
                        ds[r : r + step]
    elif kind == "zarr":
        import zarr

        from . import zarr as _phzarr  # noqa: F401

        g = zarr.open(p, mode="r")
        for _, a in ([("", g)] if isinstance(g, zarr.Array) else g.members(max_depth=None)):
            if isinstance(a, zarr.Array) and a.shape:
                step = _rows(tuple(a.shape), np.dtype(a.dtype).itemsize)
                for r in range(0, a.shape[0], step):
                    a[r : r + step]
    else:
        from .npyfile import read_phc

        for _ in read_phc(p)[2]:
            pass
