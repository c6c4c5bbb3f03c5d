"""Latent section: runs the latent coders and keeps the smallest (u8 coder id first)."""
from __future__ import annotations

import numpy as np

from . import latent_dense, latent_sparse
from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .tables import LatentTables

DENSE, SPARSE, DENSE_ENDS, DENSE_PLANES = 0, 1, 2, 3
CODER_NAMES = {DENSE: "dense (per-group tables)", SPARSE: "sparse (index differences)",
               DENSE_ENDS: "dense with block ends", DENSE_PLANES: "dense with block ends and byte planes"}


def _dense(w: ByteWriter, q: np.ndarray, step: float, t: LatentTables) -> int:
    latent_dense.encode(w, q, step, t)
    return DENSE


def _sparse(w: ByteWriter, q: np.ndarray, step: float, t: LatentTables) -> int:
    latent_sparse.encode(w, q, step, t)
    return SPARSE


def _dense_ends(w: ByteWriter, q: np.ndarray, step: float, t: LatentTables) -> int:
    latent_dense.encode(w, q, step, t, ends=True)
    return DENSE_ENDS


def _dense_planes(w: ByteWriter, q: np.ndarray, step: float, t: LatentTables) -> int:
    # when no group is worth byte planes, the body is exactly coder 2's (no mode bytes to pay)
    return DENSE_PLANES if latent_dense.encode(w, q, step, t, planes=True) else DENSE_ENDS


# each writes a coder's body and returns the coder id it wrote
_ENCODERS = {DENSE: _dense, SPARSE: _sparse, DENSE_ENDS: _dense_ends, DENSE_PLANES: _dense_planes}
# the encoder tries these and keeps the smaller; coders 0 and 2 are only read (old chunks) or written
# by coder 3's encoder: 3 extends 2 (one mode byte per group) as 2 extends 0, and each is usually
# smaller and faster to decode
TRIED = (DENSE_PLANES, SPARSE)


def encode_latents(q: np.ndarray, step: float, tables: LatentTables) -> bytes:
    best = None
    for coder in TRIED:
        w = ByteWriter()
        written = _ENCODERS[coder](w, q, step, tables)
        b = bytes([written]) + w.getvalue()
        if best is None or len(b) < len(best):
            best = b
    return best


def decode_latents(data: bytes, nblocks: int, k: int, tables: LatentTables) -> np.ndarray:
    r = ByteReader(data, "latent section")
    coder = r.u8()
    if coder == DENSE:
        q = latent_dense.decode(r, nblocks, tables)
    elif coder == DENSE_ENDS:
        q = latent_dense.decode(r, nblocks, tables, ends=True)
    elif coder == DENSE_PLANES:
        q = latent_dense.decode(r, nblocks, tables, planes=True)
    elif coder == SPARSE:
        q = latent_sparse.decode(r, nblocks, k, tables)
    else:
        raise PhcompError(f"corrupt latent section: unknown coder {coder}")
    r.expect_end()
    if q.shape[1] != k:
        raise PhcompError("corrupt latent section: wrong latent width")
    return q


def latent_coder(data: bytes) -> str:
    return CODER_NAMES.get(data[0], "unknown") if data else "none"
