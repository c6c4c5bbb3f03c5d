"""``Model``: a trained compressor as the codec sees it (container + encoder + exact decoder + tables),
and where models are found: in-process registry, PHCOMP_MODEL_PATH, the user cache directory."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import container
from .decoder import build_decoder, build_encoder
from .interp import build_interp
from .model_schema import check_arrays, check_params
from .errors import ModelNotFoundError, PhcompError
from .tables import LatentTables, unpack_tables

MODEL_SUFFIX = ".phcm"


class Model:
    """A trained compressor. Immutable once built; ``id`` is a hash of its canonical bytes."""

    def __init__(self, kind: str, block: tuple[int, ...], params: dict, arrays: dict[str, np.ndarray], meta: dict | None = None):
        self.kind = kind
        self.block = tuple(int(b) for b in block)
        self.params = params
        self.arrays = arrays
        self.meta = dict(meta or {})
        check_params(params, list(self.block))
        self._header, self._payload = container.build(kind, self.block, params, arrays, self.meta)
        self._bytes: bytes | None = None
        self.id = container.model_id(self._header, self._payload)
        check_arrays(params, self.block, arrays)
        tables = unpack_tables(arrays["tables.freq"], arrays["tables.index"]) if "tables.index" in arrays else []
        # an interp model predicts values from decoded neighbours: no blocks, latents or encoder
        self.predictive = params.get("decoder", {}).get("type") == "interp_int"
        self._check()
        if self.predictive:
            self.decoder = build_interp(params["decoder"], arrays, tables)
            self.encoder = self.tables = None
            return
        self.decoder = build_decoder(params.get("decoder", {}), arrays)
        self.encoder = build_encoder(params.get("encoder", {}), arrays)
        self.tables = LatentTables(tables, params["latent_coding"], arrays.get("tables.ctx_edges", np.zeros(0)))
        if self.tables.group_edges[-1] != self.latent_dim:
            raise PhcompError("corrupt model: table groups do not cover the latent")

    def _check(self) -> None:
        if not self.block or len(self.block) > 4 or min(self.block) < 1 or int(np.prod(self.block)) > 1 << 16:
            raise PhcompError(f"model block shape {self.block} is not supported")
        required = ("decoder", "default_rel") if self.predictive else \
            ("decoder", "encoder", "latent_coding", "default_step", "step_factor")
        for key in required:
            if key not in self.params:
                raise PhcompError(f"corrupt model: parameter {key!r} missing")

    @property
    def layout(self) -> str:
        """How the model cuts arrays, for people: "block 16x16x16", or "3 axes" for an interp model
        (no blocks: it interpolates the trailing axes)."""
        if self.predictive:
            return f"{self.decoder.ndim} ax{'is' if self.decoder.ndim == 1 else 'es'}"
        return "block " + "x".join(map(str, self.block))

    @property
    def block_size(self) -> int:
        return int(np.prod(self.block))

    @property
    def latent_dim(self) -> int:
        return self.decoder.k

    @property
    def nbytes(self) -> int:
        return len(self.to_bytes())

    def to_bytes(self) -> bytes:
        if self._bytes is None:  # the container is zstd-19 compressed: build it once (models are immutable)
            self._bytes = container.dumps(self._header, self._payload)
        return self._bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        header, _, arrays = container.loads(data)
        try:
            model = cls(header["kind"], tuple(header["block"]), header["params"], arrays, header.get("meta"))
            model._bytes = bytes(data)
            return model
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
            if isinstance(e, PhcompError):
                raise
            # the schema (model_schema.py) should have caught it: still a clear error, never a crash
            raise PhcompError(f"corrupt model file: {e!r}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model; a directory gets ``<id>.phcm`` inside it. Returns the file written."""
        p = Path(path)
        if p.is_dir():
            p = p / f"{self.id}{MODEL_SUFFIX}"
        tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")  # processes (MPI ranks) saving at once each write their own
        tmp.write_bytes(self.to_bytes())
        os.replace(tmp, p)
        return p

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "block": list(self.block), "latent_dim": self.latent_dim,
                "bytes": self.nbytes, "meta": self.meta}

    def __repr__(self) -> str:
        return f"<phcomp.Model {self.kind} id={self.id} block={self.block} latent={self.latent_dim}>"


_REGISTRY: dict[str, Model] = {}
# extra places adapters know about (e.g. models stored inside open HDF5 files): (description, lookup)
_SOURCES: list[tuple[str, "Callable[[str], bytes | None]"]] = []


def register_model_source(description: str, lookup: "Callable[[str], bytes | None]") -> None:
    """Add a place to search after the cache: ``lookup(model_id)`` returns model bytes or None."""
    if all(d != description for d, _ in _SOURCES):
        _SOURCES.append((description, lookup))


def register_model(model: Model) -> Model:
    """Make ``model`` findable by id in this process (decompress without ``model=``)."""
    _REGISTRY[model.id] = model
    return model


def model_ref(model: "Model | str | os.PathLike | None") -> str | None:
    """The id adapters record for ``model``: a Model (registered in this process), an id, or a
    .phcm path (loaded and registered); None stays None (the default model)."""
    if model is None:
        return None
    if isinstance(model, Model):
        return register_model(model).id
    if isinstance(model, str) and len(model) == 16 and all(c in "0123456789abcdef" for c in model):
        return model
    return load_model(model).id


def load_model(path: str | os.PathLike) -> Model:
    """Load a model file (no code is executed: the container holds only JSON and arrays)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise PhcompError(f"cannot read model file {path}: {e}") from None
    return register_model(Model.from_bytes(data))


ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"  # shipped default models (package data)


def shipped_index() -> dict:
    """The shipped models' index (role -> {file, id, kind}); empty when missing or unreadable."""
    import json

    try:
        return json.loads((ZOO_DIR / "index.json").read_text())
    except (OSError, ValueError):
        return {}


def default_model(role: str = "field") -> Model:
    """A shipped default model by role ("field": gridded fields in 2-D blocks, "field3d": volumes by
    interpolation, "sas" and "sas-coarse": SAS curves as log10 I)."""
    index = shipped_index()
    if role not in index:
        raise PhcompError(f"no shipped default model {role!r}; shipped: {', '.join(sorted(index)) or 'none'}")
    known = _REGISTRY.get(index[role].get("id", ""))
    return known if known is not None else load_model(ZOO_DIR / index[role]["file"])


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "phcomp" / "models"


def search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PHCOMP_MODEL_PATH", "").split(os.pathsep) if p]
    return dirs + [cache_dir(), ZOO_DIR]


def find_model(model_id: str) -> Model:
    """Registry, then each PHCOMP_MODEL_PATH directory, then the cache; error names them all."""
    if model_id in _REGISTRY:
        return _REGISTRY[model_id]
    searched = ["in-process registry (phcomp.register_model)"]
    for d in search_dirs():
        f = d / f"{model_id}{MODEL_SUFFIX}"
        searched.append(str(f))
        if f.is_file():
            m = Model.from_bytes(f.read_bytes())
            if m.id != model_id:
                raise PhcompError(f"model file {f} holds model {m.id}, not {model_id}")
            return register_model(m)
    for description, lookup in _SOURCES:
        searched.append(description)
        data = lookup(model_id)
        if data is not None:
            m = Model.from_bytes(data)
            if m.id != model_id:
                raise PhcompError(f"{description} holds model {m.id} under the name {model_id}")
            return register_model(m)
    raise ModelNotFoundError(model_id, searched)


def install_model(model: Model) -> Path:
    """Copy a model into the user cache directory so later processes find it by id."""
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    return model.save(d)
