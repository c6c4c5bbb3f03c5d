"""Model container: one file, JSON header + raw little-endian arrays, zstd-compressed. No pickle.

Layout (docs/format.md has the byte-level description):
    magic  b"PHCMODEL"            8 bytes
    u32    container version (1)
    u32    header length H
    H      UTF-8 JSON header: {"kind", "block", "params", "arrays": {name: {dtype, shape, offset, nbytes}}, "meta"}
    u64    payload length P (uncompressed)
    rest   one zstd frame holding the P payload bytes (arrays back to back, at their offsets)
The model id is the first 16 hex digits of sha256(canonical JSON header + payload), where the
canonical header is ``json.dumps(header, sort_keys=True, separators=(",", ":"))`` without
``meta`` (free-form provenance that does not change how data decodes).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .intpack import zstd_compress, zstd_decompress
from .model_schema import check_header

MAGIC = b"PHCMODEL"
CONTAINER_VERSION = 1
MAX_HEADER = 16 << 20
MAX_PAYLOAD = 4 << 30
_DTYPES = {"<i4", "<i8", "<u4", "<f4", "<f8", "<i2", "|i1", "|u1"}


def _canonical(header: dict) -> bytes:
    return json.dumps({k: v for k, v in header.items() if k != "meta"}, sort_keys=True, separators=(",", ":")).encode()


def build(kind: str, block: tuple[int, ...], params: dict, arrays: dict[str, np.ndarray],
          meta: dict | None = None) -> tuple[dict, list[memoryview]]:
    """The header and the payload as one byte view per array (no copy where an array is already
    little-endian and contiguous, as every loaded one is: a model of 10^8 bytes is held once)."""
    entries = {}
    parts = []
    off = 0
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        dt = a.dtype.newbyteorder("<").str
        if dt not in _DTYPES:
            raise PhcompError(f"model array {name} has unsupported dtype {a.dtype}")
        raw = memoryview(a.astype(dt, copy=False).reshape(-1).view(np.uint8))
        entries[name] = {"dtype": dt, "shape": list(a.shape), "offset": off, "nbytes": raw.nbytes}
        parts.append(raw)
        off += raw.nbytes
    header = {"kind": kind, "block": list(block), "params": params, "arrays": entries, "meta": meta or {}}
    return header, parts


def _parts(payload) -> list:
    return [payload] if isinstance(payload, (bytes, bytearray, memoryview)) else list(payload)


def model_id(header: dict, payload) -> str:
    """sha256 over the canonical header and the payload (bytes, or build()'s parts), hashed
    piece by piece."""
    h = hashlib.sha256(_canonical(header))
    for part in _parts(payload):
        h.update(part)
    return h.hexdigest()[:16]


def dumps(header: dict, payload) -> bytes:
    w = ByteWriter()
    w.raw(MAGIC)
    w.u32(CONTAINER_VERSION)
    h = json.dumps(header, sort_keys=True).encode()
    w.u32(len(h))
    w.raw(h)
    payload = b"".join(_parts(payload))  # only when a model is written
    w.u64(len(payload))
    w.raw(zstd_compress(payload, level=19))
    return w.getvalue()


def loads(data: bytes) -> tuple[dict, bytes, dict[str, np.ndarray]]:
    r = ByteReader(data, "model file")
    if r.raw(8) != MAGIC:
        raise PhcompError("not a phcomp model file (bad magic)")
    version = r.u32()
    if version != CONTAINER_VERSION:
        raise PhcompError(f"model container version {version} is not supported by this phcomp")
    hlen = r.u32()
    if hlen > MAX_HEADER:
        raise PhcompError("corrupt model file: header too large")
    try:
        header = json.loads(r.raw(hlen).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PhcompError(f"corrupt model file: bad JSON header ({e})") from None
    except RecursionError:
        raise PhcompError("corrupt model file: JSON header nested too deeply") from None
    check_header(header)
    plen = r.u64()
    if plen > MAX_PAYLOAD:
        raise PhcompError("corrupt model file: payload too large")
    payload = zstd_decompress(r.raw(r.remaining), plen, "model payload")
    arrays = {}
    for name, e in header["arrays"].items():
        try:
            dt = np.dtype(e["dtype"])
            shape = tuple(int(s) for s in e["shape"])
            off, nbytes = int(e["offset"]), int(e["nbytes"])
        except (KeyError, TypeError, ValueError) as ex:
            raise PhcompError(f"corrupt model file: bad entry for array {name}: {ex}") from None
        if e["dtype"] not in _DTYPES or off < 0 or off + nbytes > len(payload) or nbytes != dt.itemsize * int(np.prod(shape)):
            raise PhcompError(f"corrupt model file: array {name} does not fit the payload")
        arrays[name] = np.frombuffer(payload, dtype=dt, count=int(np.prod(shape)), offset=off).reshape(shape)
    return header, payload, arrays
