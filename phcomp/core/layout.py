"""Chunk shapes and streaming slabs for converting whole files (shared by the HDF5 and Zarr adapters)."""
from __future__ import annotations

import math

import numpy as np

TARGET_CHUNK_BYTES = 4 << 20  # phcomp chunks of a few MiB: good ratio, bounded memory per chunk
SLAB_BYTES = 64 << 20  # how much a converter reads at a time


def choose_chunks(shape: tuple[int, ...], itemsize: int, block: tuple[int, ...] | None = None,
                  target: int = TARGET_CHUNK_BYTES) -> tuple[int, ...]:
    """A chunk shape of about ``target`` bytes: whole trailing dims where possible, split
    leading dims first, trailing sizes kept multiples of the model's block when they are cut."""
    if not shape:
        return ()
    chunk = [max(1, s) for s in shape]
    blk = list(block or ())
    blk = [1] * (len(chunk) - len(blk)) + blk[-len(chunk):] if blk else [1] * len(chunk)
    for axis in range(len(chunk)):
        while math.prod(chunk) * itemsize > target and chunk[axis] > 1:
            half = -(-chunk[axis] // 2)
            b = blk[axis]
            chunk[axis] = max(b, -(-half // b) * b) if half >= b else half
            if chunk[axis] == shape[axis]:  # cannot shrink further in block units
                break
    return tuple(chunk)


def slab_rows(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int, budget: int = SLAB_BYTES) -> int:
    """Rows (along axis 0) per read: a multiple of the chunk's first dim within ``budget`` bytes."""
    if not shape:
        return 1
    row = max(1, int(np.prod(shape[1:], dtype=np.int64))) * itemsize
    rows = max(chunks[0], budget // row // chunks[0] * chunks[0]) if chunks else max(1, budget // row)
    return int(min(rows, shape[0])) or 1


def whole_array_bound(x, abs: float | None, rel: float | None) -> float | None:
    """Absolute bound for a whole array (numpy, memmap, h5py, zarr): ``rel`` is relative to its
    finite range, read slab by slab; both given: the tighter; None: no bound."""
    from .codec import finite_range, resolve_bound

    rng = finite_range(x) if rel is not None else None
    return resolve_bound((rng[1] - rng[0]) if rng else 0.0, abs, rel)


def chunk_shape_for(shape: tuple[int, ...], itemsize: int, chunks: tuple[int, ...] | None,
                    block: tuple[int, ...] | None, name: str = "array") -> tuple[int, ...]:
    """The chunk shape asked for (clipped to the array), or a sensible one (choose_chunks)."""
    from .errors import PhcompError

    if chunks is None:
        return choose_chunks(shape, itemsize, block)
    if len(chunks) != len(shape):
        raise PhcompError(f"--chunks has {len(chunks)} dims, {name} has {len(shape)}")
    return tuple(max(1, min(c, s)) for c, s in zip(chunks, shape))
