"""Zarr adapters: a numcodecs codec (zarr v2, any numcodecs host) and a zarr v3 array-to-bytes
codec, both named ``phcomp`` and registered through entry points (``numcodecs.codecs``,
``zarr.codecs``), so stores open without ``import phcomp``. Each zarr chunk is one phcomp chunk.

    zarr.create_array(store, shape=..., chunks=..., dtype="f4",
                      serializer={"name": "phcomp", "configuration": {"model": m.id, "rel": 1e-3}})

Configurations are JSON only; the model is named by id and resolved like every phcomp model
(registry, PHCOMP_MODEL_PATH, user cache). ``save_model(store_path, model)`` puts the model
container inside a local store (``_phcomp/models/<id>.phcm``, ignored by zarr), and
``register_store_models(store_path)`` makes a store's models findable on another machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numcodecs
import numcodecs.abc
import numpy as np
from numcodecs.compat import ensure_bytes, ensure_ndarray_like, ndarray_copy

from . import core
from .core.errors import PhcompError
from .core.model import MODEL_SUFFIX, Model

STORE_MODEL_DIR = "_phcomp/models"


def _model_ref(model: Model | str | None) -> str | None:
    if isinstance(model, Model):
        core.register_model(model)
        return model.id
    return model


def _encode(arr: np.ndarray, model_id: str | None, abs: float | None, rel: float | None) -> bytes:
    if arr.dtype == object:
        raise TypeError("phcomp cannot encode object arrays")
    if arr.dtype.kind != "f":
        return core.compress_lossless(arr)
    model = core.find_model(model_id) if model_id else None
    return core.compress(arr, model, abs=abs, rel=rel)


class Phcomp(numcodecs.abc.Codec):
    """numcodecs codec ``{"id": "phcomp", "model": <id or null>, "abs": ..., "rel": ...}``.

    Floats are compressed with the model and bound (``abs=0``: lossless); other numeric
    dtypes are stored losslessly.
    """

    codec_id = "phcomp"

    def __init__(self, model: Model | str | None = None, abs: float | None = None, rel: float | None = None):
        core.codec.resolve_bound(1.0, abs, rel)
        self.model = _model_ref(model)
        self.abs = None if abs is None else float(abs)
        self.rel = None if rel is None else float(rel)

    def encode(self, buf: Any) -> bytes:
        arr = np.asarray(ensure_ndarray_like(buf))
        if arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
            arr = arr.T  # numcodecs codecs work on the buffer in memory order
        return _encode(arr, self.model, self.abs, self.rel)

    def decode(self, buf: Any, out: Any = None) -> Any:
        if out is not None and np.asarray(out).dtype == object:
            raise TypeError("phcomp cannot decode into an object array")
        arr = core.decompress(ensure_bytes(buf))
        return ndarray_copy(arr, out) if out is not None else arr

    def get_config(self) -> dict:
        return {"id": self.codec_id, "model": self.model, "abs": self.abs, "rel": self.rel}

    @classmethod
    def from_config(cls, config: dict) -> "Phcomp":
        cfg = dict(config)
        cfg.pop("id", None)
        return cls(**cfg)

    def __repr__(self) -> str:
        return f"Phcomp(model={self.model!r}, abs={self.abs!r}, rel={self.rel!r})"


def save_model(store_path: str | os.PathLike, model: Model) -> Path:
    """Put ``model`` inside a local zarr store (a directory zarr ignores) and in this process."""
    core.register_model(model)
    d = Path(store_path) / STORE_MODEL_DIR
    d.mkdir(parents=True, exist_ok=True)
    return model.save(d)


def register_store_models(store_path: str | os.PathLike) -> list[str]:
    """Load every model a local store carries (``_phcomp/models``); returns their ids."""
    d = Path(store_path) / STORE_MODEL_DIR
    return [core.load_model(p).id for p in sorted(d.glob(f"*{MODEL_SUFFIX}"))] if d.is_dir() else []


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

        def __init__(self, *, model: Model | str | None = None, abs: float | None = None, rel: float | None = None):
            core.codec.resolve_bound(1.0, abs, rel)
            object.__setattr__(self, "model", _model_ref(model))
            object.__setattr__(self, "abs", None if abs is None else float(abs))
            object.__setattr__(self, "rel", None if rel is None else float(rel))

        @classmethod
        def from_dict(cls, data: dict) -> "PhcompCodec":
            _, cfg = parse_named_configuration(data, "phcomp", require_configuration=False)
            return cls(**(cfg or {}))

        def to_dict(self) -> dict:
            cfg = {k: v for k, v in (("model", self.model), ("abs", self.abs), ("rel", self.rel)) if v is not None}
            return {"name": "phcomp", "configuration": cfg}

        def validate(self, *, shape, dtype, chunk_grid) -> None:
            native = dtype.to_native_dtype()
            if native.kind != "f" or native.itemsize not in (4, 8):
                raise PhcompError(f"the phcomp serializer takes float32/float64 arrays, not {native}")

        async def _decode_single(self, chunk_bytes, chunk_spec):
            arr = core.decompress(chunk_bytes.to_bytes())
            native = chunk_spec.dtype.to_native_dtype()
            arr = arr.astype(native, copy=False).reshape(chunk_spec.shape)
            return chunk_spec.prototype.nd_buffer.from_ndarray_like(arr)

        async def _encode_single(self, chunk_array, chunk_spec):
            arr = np.asarray(chunk_array.as_ndarray_like())
            return chunk_spec.prototype.buffer.from_bytes(_encode(arr, self.model, self.abs, self.rel))

        def compute_encoded_size(self, input_byte_length: int, chunk_spec) -> int:
            raise NotImplementedError("phcomp output size depends on the data")
