"""What the HDF5 filter does with a chunk, shared by both HDF5 hosts of the codec: the in-process
h5py filter (phcomp/hdf5.py) and the helper of the compiled plugin (phcomp/hdf5_helper.py).
numpy-only: the helper must run where importing h5py would be wrong.

cd_values (all u32): [0] cd version (1), [1] flags (bit 0: abs given, bit 1: rel given),
[2:4] abs as f64, [4:6] rel as f64, [6:8] model id (8 bytes; 0 = default model),
[8] length L in bytes of the observables JSON (0: none), [9:9+ceil(L/4)] its UTF-8 bytes,
then from set_local (at B = 9 + ceil(L/4)): [B] dtype code (1 float32, 2 float64),
[B+1] byte order (0 little, 1 big), [B+2] ndim, [B+3:B+3+ndim] chunk shape.
"""
from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from . import core
from .core.errors import PhcompError
from .core.model import Model, model_ref
from .physics import resolve_checks

FILTER_ID = 418  # provisional: HDF5's testing range (256-511), until registered with The HDF Group
CD_VERSION = 1
MODEL_GROUP = "_phcomp/models"


def _f64_words(v: float) -> list[int]:
    return list(struct.unpack("<II", struct.pack("<d", v)))


def _words_f64(lo: int, hi: int) -> float:
    return struct.unpack("<d", struct.pack("<II", lo, hi))[0]


def cd_values(model: Model | str | None = None, abs: float | None = None, rel: float | None = None,
              observables: dict | None = None) -> tuple[int, ...]:
    """The user part of cd_values (set_local appends dtype, byte order and chunk shape)."""
    core.codec.resolve_bound(1.0, abs, rel)  # validates the numbers now, not at write time
    mid = model_ref(model)
    if mid is None and (abs != 0 and rel != 0):
        try:  # name the default explicitly, so that the file stores it like any other model
            mid = core.default_model("field").id
        except PhcompError:
            pass
    flags = (1 if abs is not None else 0) | (2 if rel is not None else 0)
    words = [CD_VERSION, flags, *_f64_words(abs or 0.0), *_f64_words(rel or 0.0)]
    words += list(struct.unpack("<II", bytes.fromhex(mid))) if mid else [0, 0]
    text = b""
    if observables:
        if any(not isinstance(k, str) for k in observables):
            raise PhcompError("the HDF5 filter takes observables by name (register callables under a name)")
        resolve_checks(observables)  # unknown names and bad tolerances fail now
        text = json.dumps(observables, sort_keys=True, separators=(",", ":")).encode()
    padded = text + b"\0" * (-len(text) % 4)
    words += [len(text)] + list(struct.unpack(f"<{len(padded) // 4}I", padded))
    return tuple(words)


def parse_cd(cd: list[int]) -> dict[str, Any]:
    if len(cd) < 9 or cd[0] != CD_VERSION:
        raise PhcompError(f"phcomp filter cd_values version {cd[0] if cd else None} not supported")
    mid = struct.pack("<II", cd[6], cd[7]).hex()
    nbytes = cd[8]
    base = 9 + (nbytes + 3) // 4
    if base > len(cd):
        raise PhcompError("phcomp filter cd_values truncated")
    text = struct.pack(f"<{base - 9}I", *cd[9:base])[:nbytes]
    out: dict[str, Any] = {"abs": _words_f64(cd[2], cd[3]) if cd[1] & 1 else None,
                           "rel": _words_f64(cd[4], cd[5]) if cd[1] & 2 else None,
                           "model_id": None if mid == "0" * 16 else mid,
                           "observables": json.loads(text) if nbytes else None, "base": base}
    if len(cd) >= base + 3:
        dt = np.dtype("<f4" if cd[base] == 1 else "<f8")
        out["dtype"] = dt.newbyteorder(">") if cd[base + 1] == 1 else dt
        out["chunk"] = tuple(cd[base + 3 : base + 3 + cd[base + 2]])
    return out


def encode_chunk(cd: list[int], data: bytes) -> bytes:
    """HDF5 chunk bytes (file dtype and byte order) -> one phcomp chunk."""
    opts = parse_cd(cd)
    if "dtype" not in opts:
        raise PhcompError("dataset options incomplete (set_local did not run)")
    arr = np.frombuffer(data, opts["dtype"]).reshape(opts["chunk"])
    model = core.find_model(opts["model_id"]) if opts["model_id"] else None
    checks = resolve_checks(opts["observables"]) if opts["observables"] else None
    return core.compress(arr, model, abs=opts["abs"], rel=opts["rel"], checks=checks)


def decode_chunk(cd: list[int], data: bytes) -> bytes:
    """One phcomp chunk -> HDF5 chunk bytes in the dataset's dtype and byte order."""
    opts = parse_cd(cd)
    arr = core.decompress(data)
    if "dtype" in opts and arr.dtype != opts["dtype"]:
        arr = arr.astype(opts["dtype"])
    return arr.tobytes()
