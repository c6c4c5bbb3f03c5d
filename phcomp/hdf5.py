"""HDF5 adapter: the phcomp filter for h5py (hdf5plugin style), registered at import.

    import h5py, phcomp
    f.create_dataset("u", data=u, chunks=(1, 64, 64, 64), **phcomp.hdf5.Phcomp(model, rel=1e-3))

The filter is a thin bridge: each HDF5 chunk is one phcomp chunk (``phcomp.compress``), so a
chunk read back is self-describing. ``set_local`` records the dtype, byte order and chunk
shape in cd_values and marks the filter *mandatory* (an encoder failure is an error, never a
silently raw chunk); ``can_apply`` refuses non-float types. When a dataset is created, the
model container is written into every file open for writing, under ``/_phcomp/models/<id>``,
and decoding looks there (in every open file) after the usual places, so a file read on
another machine needs only phcomp.

cd_values: see phcomp/hdf5_options.py (shared with the compiled plugin's helper). The
compiled plugin for other hosts (h5dump, h5py without ``import phcomp``) is in
``PLUGIN_PATH``: point HDF5_PLUGIN_PATH there (``phcomp hdf5-plugin-path`` prints it).

The filter id is in HDF5's testing range (256-511): **provisional** until registered with
The HDF Group.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import h5py
import numpy as np

from . import core
from .core.errors import PhcompError
from .core.model import Model
from .hdf5_options import CD_VERSION, FILTER_ID, MODEL_GROUP, cd_values, decode_chunk, encode_chunk, parse_cd  # noqa: F401  (public names)

FILTER_NAME = b"phcomp: learned error-bounded compression (provisional id)"
H5Z_FLAG_MANDATORY = 0x0000
H5Z_FLAG_REVERSE = 0x0100
H5T_FLOAT = 1
H5T_ORDER_BE = 1
_MAX_NDIM = 32

_lib = ctypes.CDLL(h5py.h5z.__file__)  # the HDF5 instance h5py itself uses
_hid = ctypes.c_int64
_lib.H5allocate_memory.restype = ctypes.c_void_p
_lib.H5allocate_memory.argtypes = [ctypes.c_size_t, ctypes.c_bool]
_lib.H5free_memory.argtypes = [ctypes.c_void_p]
_lib.H5Pget_filter_by_id2.argtypes = [_hid, ctypes.c_int, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_size_t),
                                      ctypes.POINTER(ctypes.c_uint), ctypes.c_size_t, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_uint)]
_lib.H5Pmodify_filter.argtypes = [_hid, ctypes.c_int, ctypes.c_uint, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint)]
_lib.H5Pget_chunk.argtypes = [_hid, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64)]
_lib.H5Tget_class.argtypes = [_hid]
_lib.H5Tget_size.argtypes = [_hid]
_lib.H5Tget_size.restype = ctypes.c_size_t
_lib.H5Tget_order.argtypes = [_hid]

_FILTER = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_uint, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint), ctypes.c_size_t,
                           ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p))
_CAN_APPLY = ctypes.CFUNCTYPE(ctypes.c_int, _hid, _hid, _hid)
_SET_LOCAL = ctypes.CFUNCTYPE(ctypes.c_int, _hid, _hid, _hid)


class _H5ZClass2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("id", ctypes.c_int), ("encoder_present", ctypes.c_uint),
                ("decoder_present", ctypes.c_uint), ("name", ctypes.c_char_p), ("can_apply", _CAN_APPLY),
                ("set_local", _SET_LOCAL), ("filter", _FILTER)]


def _report(where: str, e: BaseException) -> None:
    # HDF5 reports only "filter returned failure"; say why on stderr
    print(f"phcomp HDF5 filter ({where}): {e}", file=sys.stderr)


class Phcomp(h5py.filters.FilterRefBase):
    """The phcomp filter for ``h5py`` (usable as ``**Phcomp(...)`` or ``compression=Phcomp(...)``).

    ``model``: a Model, a model id, or a path to a .phcm file (None: the default model).
    ``abs`` / ``rel``: the bound, as in ``phcomp.compress``; ``rel`` is relative to each HDF5
    chunk's value range (edge chunks include HDF5's fill values in their padding).
    ``observables``: named observables and tolerances checked on every chunk (by name: they
    travel in the dataset's filter options as JSON).
    """

    filter_name = "phcomp"
    filter_id = FILTER_ID

    def __init__(self, model: Model | str | None = None, *, abs: float | None = None, rel: float | None = None,
                 observables: dict | None = None) -> None:
        self.filter_options = cd_values(model, abs, rel, observables)

    def __repr__(self) -> str:
        o = parse_cd(list(self.filter_options))
        return f"Phcomp(model={o['model_id']}, abs={o['abs']}, rel={o['rel']}, observables={o['observables']})"


def _dcpl_cd(dcpl: int) -> tuple[int, list[int]]:
    flags = ctypes.c_uint()
    n = ctypes.c_size_t(256)
    cd = (ctypes.c_uint * 256)()
    name = ctypes.create_string_buffer(64)
    cfg = ctypes.c_uint()
    if _lib.H5Pget_filter_by_id2(dcpl, FILTER_ID, ctypes.byref(flags), ctypes.byref(n), cd, 64, name, ctypes.byref(cfg)) < 0:
        raise PhcompError("cannot read the phcomp filter's cd_values")
    return flags.value, list(cd[: n.value])


def _can_apply(dcpl: int, dtype: int, space: int) -> int:
    try:
        if _lib.H5Tget_class(dtype) != H5T_FLOAT or _lib.H5Tget_size(dtype) not in (4, 8):
            _report("can_apply", PhcompError("phcomp compresses float32 and float64 datasets only"))
            return -1  # an error, not 0: h5py attaches filters as optional, and 0 would skip it silently
        return 1
    except BaseException as e:  # never let an exception cross into C
        _report("can_apply", e)
        return -1


def _set_local(dcpl: int, dtype: int, space: int) -> int:
    try:
        _, cd = _dcpl_cd(dcpl)
        if len(cd) < 9:
            raise PhcompError("phcomp filter attached without its options; use phcomp.hdf5.Phcomp(...)")
        base = list(cd[: parse_cd(cd)["base"]])
        dims = (ctypes.c_uint64 * _MAX_NDIM)()
        ndim = _lib.H5Pget_chunk(dcpl, _MAX_NDIM, dims)
        if ndim < 1:
            raise PhcompError("the phcomp filter needs a chunked dataset")
        code = 1 if _lib.H5Tget_size(dtype) == 4 else 2
        order = 1 if _lib.H5Tget_order(dtype) == H5T_ORDER_BE else 0
        full = base + [code, order, ndim] + [int(d) for d in dims[:ndim]]
        arr = (ctypes.c_uint * len(full))(*full)
        if _lib.H5Pmodify_filter(dcpl, FILTER_ID, H5Z_FLAG_MANDATORY, len(full), arr) < 0:
            raise PhcompError("cannot record the phcomp filter's options")
        mid = parse_cd(base)["model_id"]
        if mid:
            store_model_in_open_files(core.find_model(mid))
        return 1
    except BaseException as e:
        _report("set_local", e)
        return -1


def _filter(flags: int, n: int, cd_ptr, nbytes: int, buf_size, buf) -> int:
    try:
        cd = [cd_ptr[i] for i in range(n)]
        data = ctypes.string_at(buf[0], nbytes)
        out = decode_chunk(cd, data) if flags & H5Z_FLAG_REVERSE else encode_chunk(cd, data)
        p = _lib.H5allocate_memory(len(out), False)
        if not p:
            raise MemoryError("H5allocate_memory failed")
        ctypes.memmove(p, out, len(out))
        _lib.H5free_memory(buf[0])
        buf[0] = p
        buf_size[0] = len(out)
        return len(out)
    except BaseException as e:
        _report("decode" if flags & H5Z_FLAG_REVERSE else "encode", e)
        return 0


_NO_MODEL_COPIES = threading.local()


@contextlib.contextmanager
def without_model_copies():
    """Datasets created in this block (this thread) do not copy their model into the file: for
    writers that store it once elsewhere (phcomp.mpi's part files; the main file holds it)."""
    _NO_MODEL_COPIES.on = True
    try:
        yield
    finally:
        _NO_MODEL_COPIES.on = False


def store_model_in_open_files(model: Model) -> None:
    """Write ``model`` under /_phcomp/models/<id> in every HDF5 file open for writing."""
    if getattr(_NO_MODEL_COPIES, "on", False):
        return
    for fid in _open_files():
        if not fid.get_intent() & h5py.h5f.ACC_RDWR:
            continue
        f = h5py.File(fid)
        g = f.require_group(MODEL_GROUP)
        if model.id not in g:
            d = g.create_dataset(model.id, data=np.frombuffer(model.to_bytes(), np.uint8))
            d.attrs["kind"] = model.kind
            d.attrs["format"] = "phcomp model container v1 (docs/format.md)"


def _open_files() -> list:
    """Every HDF5 file this process has open: through a file id, or only through an object in it
    (``h5py.File(p)["x"]`` keeps the file open after its File object is gone, with no file id)."""
    files, seen = [], set()
    ids = list(h5py.h5f.get_obj_ids(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE))
    for obj in h5py.h5f.get_obj_ids(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_DATASET | h5py.h5f.OBJ_GROUP
                                    | h5py.h5f.OBJ_DATATYPE | h5py.h5f.OBJ_ATTR):
        try:
            ids.append(h5py.h5i.get_file_id(obj))
        except (TypeError, ValueError, RuntimeError):  # transient datatypes belong to no file
            continue
    for fid in ids:
        if fid.fileno not in seen:
            seen.add(fid.fileno)
            files.append(fid)
    return files


def _model_from_open_files(model_id: str) -> bytes | None:
    for fid in _open_files():
        f = h5py.File(fid)
        path = f"{MODEL_GROUP}/{model_id}"
        if path in f:
            return f[path][()].tobytes()
    return None


PLUGIN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hdf5_plugin")
"""Directory holding the compiled filter plugin: set HDF5_PLUGIN_PATH to it for other hosts."""

_CLASS = _H5ZClass2(1, FILTER_ID, 1, 1, FILTER_NAME, _CAN_APPLY(_can_apply), _SET_LOCAL(_set_local), _FILTER(_filter))


def register() -> None:
    """Register the filter with h5py's HDF5 (done at import; safe to call again)."""
    if hasattr(h5py.h5z, "register_filter"):
        h5py.h5z.register_filter(ctypes.addressof(_CLASS))
    elif PLUGIN_PATH.encode() not in [h5py.h5pl.get(i) for i in range(h5py.h5pl.size())]:
        # h5py < 3.8 (Debian 12's, the MPI build among them) cannot register a filter at run
        # time: the compiled plugin serves the filter id instead (in-process for interp models)
        # first in the search: appended after the default directory, HDF5 1.10.8 did not find it (measured)
        h5py.h5pl.prepend(PLUGIN_PATH.encode())
    core.register_model_source(f"HDF5 files open in this process ({MODEL_GROUP}/<id>)", _model_from_open_files)


register()


# --- whole-file conversion (``phcomp compress in.h5 -o out.h5``) -----------------------------

_DIM_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates")
MIN_VALUES = 4096  # smaller float datasets (and every dimension scale) are copied exactly


def _copy_attrs(src, dst) -> None:
    for k in src.attrs:
        if k in _DIM_ATTRS:
            continue
        try:
            dst.attrs.create(k, src.attrs[k], dtype=src.attrs.get_id(k).dtype)
        except (TypeError, ValueError, OSError) as e:  # e.g. object references: say so, go on
            print(f"phcomp: attribute {src.name}@{k} not copied: {e}", file=sys.stderr)


def _is_scale(ds) -> bool:
    return bool(h5py.h5ds.is_scale(ds.id))


def _compressible(ds) -> bool:
    return ds.dtype.kind == "f" and ds.dtype.itemsize in (4, 8) and ds.ndim >= 1 and ds.size >= MIN_VALUES \
        and not _is_scale(ds)


def _copy_rows(src, dst, progress) -> None:
    from .core.layout import slab_rows

    if src.shape == () or src.size == 0:
        if src.shape == ():
            dst[()] = src[()]
        return
    step = slab_rows(src.shape, dst.chunks or src.shape, src.dtype.itemsize)
    for r0 in range(0, src.shape[0], step):
        dst[r0 : r0 + step] = src[r0 : r0 + step]
        if progress:
            progress(min(step, src.shape[0] - r0) * int(np.prod(src.shape[1:], dtype=np.int64)))


def _filter_cd(dst) -> list[int]:
    """The phcomp filter's cd_values of a created dataset (as set_local completed them)."""
    plist = dst.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        fid, _, values, _ = plist.get_filter(i)
        if fid == FILTER_ID:
            return [int(v) for v in values]
    raise PhcompError(f"{dst.name}: no phcomp filter")


def _encode_rows(src, dst, progress, threads: int | None) -> None:
    """``_copy_rows`` for a phcomp dataset, its chunks encoded on ``threads`` threads (the native
    codec releases the GIL) and written with direct chunk I/O, which h5py's filter path cannot do
    in parallel (it runs every filter call behind one lock). The chunk bytes are what the filter
    makes of the same chunk (hdf5_options.encode_chunk with the dataset's own cd_values); edge
    chunks are padded with their edge values, where the filter would see HDF5's fill values.
    The bytes written do not depend on ``threads``."""
    from concurrent.futures import ThreadPoolExecutor

    from .core.layout import slab_rows
    from .core.native import thread_count, threads_per_call
    from .hdf5_options import encode_chunk

    def encode(data: bytes) -> bytes:
        with threads_per_call(1):  # the pool is the parallelism: one thread per chunk
            return encode_chunk(cd, data)

    n = thread_count(threads)
    if src.size == 0 or not dst.chunks:
        return _copy_rows(src, dst, progress)
    cd, ch = _filter_cd(dst), dst.chunks
    step = slab_rows(src.shape, ch, src.dtype.itemsize)
    with ThreadPoolExecutor(n) as pool:
        for r0 in range(0, src.shape[0], step):
            slab = np.asarray(src[r0 : r0 + step], dtype=dst.dtype)
            jobs = []
            for idx in np.ndindex(*(-(-s // c) for s, c in zip(slab.shape, ch))):
                sl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, ch))
                piece = slab[sl]
                if piece.shape != ch:
                    piece = np.pad(piece, [(0, c - s) for s, c in zip(piece.shape, ch)], mode="edge")
                offset = (r0 + idx[0] * ch[0],) + tuple(i * c for i, c in zip(idx[1:], ch[1:]))
                jobs.append((offset, pool.submit(encode, np.ascontiguousarray(piece).tobytes())))
            for offset, job in jobs:
                dst.id.write_direct_chunk(offset, job.result())
            if progress:
                progress(slab.size)


def _create_like(group, name, src, **filters):
    kw = dict(shape=src.shape, dtype=src.dtype, maxshape=src.maxshape)
    if src.shape != ():
        kw["chunks"] = src.chunks
        if src.chunks is None and filters:
            kw["chunks"] = True
    if src.fillvalue is not None and src.dtype.kind in "fiub":
        kw["fillvalue"] = src.fillvalue
    kw.update(filters)
    return group.create_dataset(name, **kw)


def _walk(src):
    """(path, object) for every group and dataset below ``src``, parents first."""
    items = []
    src.visititems(lambda name, obj: items.append((name, obj)))
    return items


def _rebuild_dims(src, dst) -> None:
    for name, obj in _walk(src):
        if isinstance(obj, h5py.Dataset) and name in dst and _is_scale(obj):
            label = obj.attrs.get("NAME", b"")
            label = label.decode() if isinstance(label, bytes) else str(label)
            dst[name].make_scale(label if not label.startswith("This is a netCDF dimension") else "")
    for name, obj in _walk(src):
        if not isinstance(obj, h5py.Dataset) or name not in dst or "DIMENSION_LIST" not in obj.attrs:
            continue
        for i, dim in enumerate(obj.dims):
            if dim.label:  # setting an empty label would add a DIMENSION_LABELS attribute the source lacks
                dst[name].dims[i].label = dim.label
            for scale in dim.values():
                if scale.name.lstrip("/") in dst:
                    dst[name].dims[i].attach_scale(dst[scale.name])


def _copy_file(src_path, dst_path, make_dataset, progress, threads: int | None = None) -> dict:
    """Walk ``src`` (groups first), recreate groups and attributes, let ``make_dataset(parent,
    leaf, name, obj)`` create each dataset, copy the values slab by slab, then dimension scales."""
    stats: dict[str, list[str]] = {}
    with h5py.File(src_path, "r") as src, h5py.File(dst_path, "w") as dst:
        _copy_attrs(src, dst)
        for name, obj in _walk(src):
            if name.startswith("_phcomp"):
                continue
            if isinstance(obj, h5py.Group):
                _copy_attrs(obj, dst.require_group(name))
                continue
            parent = dst.require_group(name.rsplit("/", 1)[0]) if "/" in name else dst
            out, kind = make_dataset(parent, name.rsplit("/", 1)[-1], name, obj)
            stats.setdefault(kind, []).append(name)
            _copy_attrs(obj, out)
            if kind == "compressed":
                _encode_rows(obj, out, progress, threads)
            else:
                _copy_rows(obj, out, progress)
        _rebuild_dims(src, dst)
    return stats


def compress_file(src_path, dst_path, model: Model | None = None, *, abs: float | None = None,
                  rel: float | None = None, chunks: tuple[int, ...] | None = None, observables: dict | None = None,
                  progress=None, threads: int | None = None) -> dict:
    """Copy an HDF5 file, compressing every float dataset (>= MIN_VALUES values, not a dimension
    scale) with phcomp; groups, attributes and dimension scales are kept. ``rel`` is relative to
    each dataset's whole range. Streams slab by slab: memory stays bounded whatever the size.
    ``threads``: chunks encoded at once (default: PHCOMP_THREADS, else every core); the file
    written is the same whatever the count."""
    from .core.layout import chunk_shape_for, whole_array_bound

    def make(parent, leaf, name, obj):
        if not _compressible(obj):
            return _create_like(parent, leaf, obj), "copied"
        eps = whole_array_bound(obj, abs, rel)
        ch = chunk_shape_for(obj.shape, obj.dtype.itemsize, chunks, model.block if model else None, name)
        return _create_like(parent, leaf, obj, chunks=ch, **Phcomp(model, abs=eps, observables=observables)), "compressed"

    stats = _copy_file(src_path, dst_path, make, progress, threads)
    return {"compressed": stats.get("compressed", []), "copied": stats.get("copied", [])}


def decompress_file(src_path, dst_path, progress=None) -> dict:
    """Plain HDF5 back: every dataset without the phcomp filter, the /_phcomp group dropped."""
    stats = _copy_file(src_path, dst_path, lambda parent, leaf, name, obj: (_create_like(parent, leaf, obj), "restored"),
                       progress)
    return {"restored": stats.get("restored", [])}
