"""Zarr adapters: a numcodecs codec (zarr v2, any numcodecs host) and a zarr v3 array-to-bytes
codec, both named ``phcomp`` and registered through entry points (``numcodecs.codecs``,
``zarr.codecs``), so stores open without ``import phcomp``. Each zarr chunk is one phcomp chunk.

    zarr.create_array(store, shape=..., chunks=..., dtype="f4",
                      serializer={"name": "phcomp", "configuration": {"model": m.id, "rel": 1e-3}},
                      compressors=None)  # zarr would add zstd after phcomp by default

Configurations are JSON only; the model is named by id and resolved like every phcomp model
(registry, PHCOMP_MODEL_PATH, user cache). ``save_model(store, model)`` puts the model
container inside the store (array ``_phcomp/models/<id>``; ``phcomp compress`` does it), and
a reader finds them there: a zarr codec is never told which store it reads, so on a model
miss every zarr store open in the process is asked (``register_store_models(store)`` loads a
store's models explicitly, e.g. before handing chunks to a process that has no store open).
"""
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

import numcodecs
import numcodecs.abc
import numpy as np
from numcodecs.compat import ensure_bytes, ensure_ndarray_like, ndarray_copy

from . import core
from .core.errors import PhcompError
from .core.model import Model, model_ref
from .physics import resolve_checks

STORE_MODEL_DIR = "_phcomp/models"


def _encode(arr: np.ndarray, model_id: str | None, abs: float | None, rel: float | None,
            observables: dict | None = None) -> bytes:
    if arr.dtype == object:
        raise TypeError("phcomp cannot encode object arrays")
    if arr.dtype.kind != "f":
        return core.compress_lossless(arr)
    model = core.find_model(model_id) if model_id else None
    checks = resolve_checks(observables) if observables else None
    return core.compress(arr, model, abs=abs, rel=rel, checks=checks)


def _observables(spec: dict | None) -> dict | None:
    if not spec:
        return None
    if any(not isinstance(k, str) for k in spec):
        raise PhcompError("codec configurations take observables by name (JSON)")
    resolve_checks(spec)  # unknown names and bad tolerances fail when the codec is made
    return dict(spec)


class Phcomp(numcodecs.abc.Codec):
    """numcodecs codec ``{"id": "phcomp", "model": <id or null>, "abs": ..., "rel": ..., "observables": {...}}``.

    Floats are compressed with the model and bound (``abs=0``: lossless); other numeric
    dtypes are stored losslessly.
    """

    codec_id = "phcomp"

    def __init__(self, model: Model | str | None = None, abs: float | None = None, rel: float | None = None,
                 observables: dict | None = None):
        core.codec.resolve_bound(1.0, abs, rel)
        self.model = model_ref(model)
        self.abs = None if abs is None else float(abs)
        self.rel = None if rel is None else float(rel)
        self.observables = _observables(observables)

    def encode(self, buf: Any) -> bytes:
        arr = np.asarray(ensure_ndarray_like(buf))
        if arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
            arr = arr.T  # numcodecs codecs work on the buffer in memory order
        return _encode(arr, self.model, self.abs, self.rel, self.observables)

    def decode(self, buf: Any, out: Any = None) -> Any:
        if out is not None and np.asarray(out).dtype == object:
            raise TypeError("phcomp cannot decode into an object array")
        arr = core.decompress(ensure_bytes(buf))
        return ndarray_copy(arr, out) if out is not None else arr

    def get_config(self) -> dict:
        cfg = {"id": self.codec_id, "model": self.model, "abs": self.abs, "rel": self.rel}
        if self.observables:
            cfg["observables"] = self.observables
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Phcomp":
        cfg = dict(config)
        cfg.pop("id", None)
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"Phcomp(model={self.model!r}, abs={self.abs!r}, rel={self.rel!r}, observables={self.observables!r})"


def save_model(store_path: str | os.PathLike, model: Model) -> None:
    """Put ``model`` inside a zarr store, as the uint8 array ``_phcomp/models/<id>`` (a normal
    zarr node, so zarr and xarray list the store without complaint), and register it here."""
    import zarr

    core.register_model(model)
    root = zarr.open_group(store_path, mode="a")
    models = root.require_group(STORE_MODEL_DIR)
    if model.id not in models:
        raw = np.frombuffer(model.to_bytes(), np.uint8)
        arr = models.create_array(model.id, shape=raw.shape, chunks=raw.shape, dtype="u1", compressors=None,
                                  attributes={"kind": model.kind, "format": "phcomp model container v1"})
        arr[...] = raw


def register_store_models(store_path: str | os.PathLike) -> list[str]:
    """Load every model a zarr store carries (``_phcomp/models``) into this process; their ids."""
    import zarr

    try:
        root = zarr.open_group(store_path, mode="r")
        models = root[STORE_MODEL_DIR]
    except (KeyError, FileNotFoundError, ValueError, TypeError):
        return []
    ids = []
    for name, arr in models.arrays():
        ids.append(core.register_model(Model.from_bytes(arr[...].tobytes())).id)
    return sorted(ids)


# --- models carried by stores open in this process --------------------------------------------
# A zarr codec is never told which store it reads. What this process has open is known, though:
# every store object alive (behind zarr.open, xarray.open_zarr, a dask graph's arrays). On a
# model miss, each is asked for _phcomp/models/<id>; a model found is registered, so the scan
# runs once per model and process.

def _open_stores() -> list:
    try:
        from zarr.abc.store import Store
    except ImportError:  # pragma: no cover - zarr < 3
        return []
    import gc

    stores, seen = [], set()
    for obj in gc.get_objects():
        # the type's MRO, not isinstance: isinstance reads __class__, which some proxies (torch's
        # deprecated aliases) answer with a warning
        if Store in type(obj).__mro__ and id(obj) not in seen:
            seen.add(id(obj))
            stores.append(obj)
    return stores


def _accept(model_id: str, raw: bytes) -> bool:
    model = Model.from_bytes(raw)
    if model.id != model_id:
        raise PhcompError(f"a zarr store holds model {model.id} under the name {model_id}")
    core.register_model(model)
    return True


def _in_zarr_loop() -> bool:
    """True on zarr's own event-loop thread, where its synchronous API cannot be called."""
    import asyncio

    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _model_from_open_stores(model_id: str) -> bytes | None:
    """Synchronous lookup (a codec decoding in a worker thread: numcodecs, or zarr's to_thread).

    It runs the stores' async API on a private event loop in this thread, never through zarr's
    synchronous API: that one waits on zarr's loop, whose store reads need worker threads of
    the same pool the decoding chunks already hold, and a read of many chunks deadlocks."""
    if _in_zarr_loop():
        return None
    return asyncio.run(_raw_from_open_stores(model_id))


async def _raw_from_open_stores(model_id: str) -> bytes | None:
    from zarr.api.asynchronous import open_array

    for store in _open_stores():
        try:
            arr = await open_array(store=store, path=f"{STORE_MODEL_DIR}/{model_id}", mode="r")
            return (await arr.getitem(slice(None))).tobytes()
        except Exception:  # noqa: BLE001 -- any store that cannot answer simply does not hold it
            continue
    return None


async def _load_from_open_stores(model_id: str) -> bool:
    """Asynchronous lookup for the zarr v3 codec, on zarr's event loop."""
    raw = await _raw_from_open_stores(model_id)
    return raw is not None and _accept(model_id, raw)


core.register_model_source(f"zarr stores open in this process ({STORE_MODEL_DIR}/<id>)", _model_from_open_stores)


try:  # the zarr v3 codec needs zarr>=3; the numcodecs codec above works without it
    from zarr.abc.codec import ArrayBytesCodec
    from zarr.core.common import parse_named_configuration
except ImportError:  # pragma: no cover
    ArrayBytesCodec = None

if ArrayBytesCodec is not None:

    @dataclass(frozen=True)
    class PhcompCodec(ArrayBytesCodec):
        """zarr v3 serializer ``{"name": "phcomp", "configuration": {"model": id, "abs"|"rel": x}}``."""

        is_fixed_size = False
        model: str | None = None
        abs: float | None = None
        rel: float | None = None
        observables: tuple | None = None  # sorted (name, tolerance) pairs: hashable, as the frozen dataclass needs

        def __init__(self, *, model: Model | str | None = None, abs: float | None = None, rel: float | None = None,
                     observables: dict | None = None):
            core.codec.resolve_bound(1.0, abs, rel)
            object.__setattr__(self, "model", model_ref(model))
            object.__setattr__(self, "abs", None if abs is None else float(abs))
            object.__setattr__(self, "rel", None if rel is None else float(rel))
            obs = _observables(observables)
            object.__setattr__(self, "observables", tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in obs.items()))
                               if obs else None)

        def _observables_dict(self) -> dict | None:
            return {k: json.loads(v) for k, v in self.observables} if self.observables else None

        @classmethod
        def from_dict(cls, data: dict) -> "PhcompCodec":
            _, cfg = parse_named_configuration(data, "phcomp", require_configuration=False)
            return cls(**(cfg or {}))

        def to_dict(self) -> dict:
            cfg = {k: v for k, v in (("model", self.model), ("abs", self.abs), ("rel", self.rel),
                                     ("observables", self._observables_dict())) if v is not None}
            return {"name": "phcomp", "configuration": cfg}

        def validate(self, *, shape, dtype, chunk_grid) -> None:
            native = dtype.to_native_dtype()
            if native.kind != "f" or native.itemsize not in (4, 8):
                raise PhcompError(f"the phcomp serializer takes float32/float64 arrays, not {native}")

        async def _decode_single(self, chunk_bytes, chunk_spec):
            data = chunk_bytes.to_bytes()
            # on a worker thread, like zarr's own CPU codecs: the native codec releases the GIL,
            # so the chunks zarr reads concurrently decode on every core
            try:
                arr = await asyncio.to_thread(core.decompress, data)
            except core.ModelNotFoundError as e:
                if not await _load_from_open_stores(e.model_id):
                    raise
                arr = await asyncio.to_thread(core.decompress, data)
            native = chunk_spec.dtype.to_native_dtype()
            arr = arr.astype(native, copy=False).reshape(chunk_spec.shape)
            return chunk_spec.prototype.nd_buffer.from_ndarray_like(arr)

        async def _encode_single(self, chunk_array, chunk_spec):
            arr = np.asarray(chunk_array.as_ndarray_like())
            blob = await asyncio.to_thread(_encode, arr, self.model, self.abs, self.rel, self._observables_dict())
            return chunk_spec.prototype.buffer.from_bytes(blob)

        def compute_encoded_size(self, input_byte_length: int, chunk_spec) -> int:
            raise NotImplementedError("phcomp output size depends on the data")


# --- whole-store conversion (``phcomp compress in.zarr -o out.zarr``) ------------------------

MIN_VALUES = 4096  # smaller float arrays are copied exactly


def _dimension_names(arr) -> list[str] | None:
    names = getattr(arr.metadata, "dimension_names", None)
    if names:
        return list(names)
    dims = arr.attrs.get("_ARRAY_DIMENSIONS")  # zarr v2 stores written by xarray
    return list(dims) if dims else None


def _members(src):
    import zarr

    if isinstance(src, zarr.Array):
        return [("", src)]
    return list(src.members(max_depth=None))


def _convert(src_path, dst_path, make_array, progress) -> dict:
    import zarr

    from .core.layout import slab_rows

    src = zarr.open(src_path, mode="r")
    root_is_array = isinstance(src, zarr.Array)
    dst = None if root_is_array else zarr.open_group(dst_path, mode="w", zarr_format=3,
                                                     attributes=dict(src.attrs.asdict()))
    stats: dict[str, list[str]] = {"compressed": [], "copied": []}
    for path, node in _members(src):
        if path.startswith("_phcomp"):
            continue
        if isinstance(node, zarr.Group):
            dst.require_group(path).attrs.update(node.attrs.asdict())
            continue
        attrs = {k: v for k, v in node.attrs.asdict().items() if k != "_ARRAY_DIMENSIONS"}
        out, kind = make_array(dst, dst_path, path, node, attrs)
        stats[kind].append(path or "/")
        if node.size:
            step = slab_rows(node.shape, out.chunks, node.dtype.itemsize) if node.ndim else 1
            for r0 in range(0, node.shape[0] if node.ndim else 1, step):
                sl = slice(r0, r0 + step) if node.ndim else ()
                out[sl] = node[sl]
                if progress:
                    progress(min(step, node.shape[0] - r0) * int(np.prod(node.shape[1:], dtype=np.int64))
                             if node.ndim else 1)
    return stats


def compress_store(src_path, dst_path, model: Model | None = None, *, abs: float | None = None,
                   rel: float | None = None, chunks: tuple[int, ...] | None = None, observables: dict | None = None,
                   progress=None) -> dict:
    """Copy a zarr store (v2 or v3) to a v3 store whose float arrays use the phcomp serializer;
    groups, attributes and dimension names are kept; the model is saved inside the store.
    ``rel`` is relative to each array's whole range. Streams slab by slab."""
    import zarr

    from .core.layout import chunk_shape_for, whole_array_bound

    def make(dst, root, path, node, attrs):
        create = dst.create_array if dst is not None else (lambda name, **kw: zarr.create_array(root, **kw))
        common = dict(shape=node.shape, dtype=node.dtype, attributes=attrs, dimension_names=_dimension_names(node),
                      fill_value=node.fill_value)
        if node.dtype.kind == "f" and node.dtype.itemsize in (4, 8) and node.size >= MIN_VALUES:
            eps = whole_array_bound(node, abs, rel)
            ch = chunk_shape_for(node.shape, node.dtype.itemsize, chunks, model.block if model else None, path or "/")
            cfg = {k: v for k, v in (("model", model.id if model else None), ("abs", eps),
                                     ("observables", observables)) if v is not None}
            return create(name=path, chunks=ch, serializer={"name": "phcomp", "configuration": cfg},
                          compressors=None, **common), "compressed"
        return create(name=path, chunks=node.chunks, **common), "copied"

    if model is not None:
        core.register_model(model)
    stats = _convert(src_path, dst_path, make, progress)
    if model is not None:
        save_model(dst_path, model)
    return stats


def decompress_store(src_path, dst_path, progress=None) -> dict:
    """A plain zarr v3 store back (default codecs), without phcomp or its model copy."""
    import zarr

    def make(dst, root, path, node, attrs):
        create = dst.create_array if dst is not None else (lambda name, **kw: zarr.create_array(root, **kw))
        return create(name=path, shape=node.shape, dtype=node.dtype, chunks=node.chunks, attributes=attrs,
                      dimension_names=_dimension_names(node), fill_value=node.fill_value), "copied"

    register_store_models(src_path)
    return _convert(src_path, dst_path, make, progress)
