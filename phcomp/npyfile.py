"""``.npy`` <-> ``.phc`` file conversion (one array as independent chunks along axis 0), shared by
``phcomp compress x.npy`` and ``phcomp archive``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from . import core
from .core import filefmt
from .core.errors import PhcompError
from .core.layout import whole_array_bound

DEFAULT_CHUNK_MB = 16.0


def load_npy(path: str | os.PathLike) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise PhcompError(f"cannot read {path} as .npy: {e}") from None


def row_chunks(shape: tuple[int, ...], itemsize: int, chunk_mb: float) -> list[tuple[int, int]]:
    if not shape:
        return [(0, 1)]
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    rows = max(1, int(chunk_mb * 2**20 // row_bytes))
    return [(r, min(shape[0], r + rows)) for r in range(0, max(shape[0], 1), rows)] or [(0, 0)]


def compress_npy_to(f: BinaryIO, x: np.ndarray, model: core.Model | None, *, abs: float | None = None,
                    rel: float | None = None, observables: dict | None = None, chunk_mb: float = DEFAULT_CHUNK_MB,
                    progress: Callable[[int], None] | None = None) -> int:
    """Write ``x`` as a .phc file to ``f``; ``rel`` is relative to the whole array's range.
    Returns how many chunks the observable checks made re-encode tighter."""
    from . import compress as compress_checked

    if x.dtype.kind != "f":
        raise PhcompError(f"phcomp compresses float32/float64 arrays, not {x.dtype}")
    abs_ = whole_array_bound(x, abs, rel)
    escalated = 0
    w = filefmt.FileWriter(f, x.shape, x.dtype)
    for r0, r1 in row_chunks(x.shape, x.itemsize, chunk_mb):
        part = x[r0:r1] if x.ndim else x
        blob = compress_checked(np.asarray(part), model, abs=abs_, observables=observables, progress=progress)
        if observables and core.inspect_chunk(blob)["checks"]["attempt"] > 0:
            escalated += 1
        w.add(blob, r1 - r0)
    w.close()
    return escalated


def read_phc(path: str | os.PathLike, progress: Callable[[int], None] | None = None):
    """(shape, dtype, iterator of (row0, decoded rows)) of a .phc file."""
    rd = filefmt.FileReader(Path(path))

    def rows():
        for e, blob in rd.chunks():
            yield e.row0, core.decompress(blob, progress=progress)
    return rd.shape, rd.dtype, rows()
