"""What a path holds, by its first bytes (never by its name): the CLI and ``phcomp archive``
dispatch on this."""
from __future__ import annotations

import os
from pathlib import Path

from .core import filefmt

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # netCDF-4 files are HDF5 files
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def is_zarr(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any((p / m).exists() for m in ZARR_MARKERS)


def detect(path: str | os.PathLike) -> str:
    """"zarr", "hdf5", "phc", "npy", "other" (a file of another kind) or "missing"."""
    p = Path(path)
    if is_zarr(p):
        return "zarr"
    if p.is_file():
        with open(p, "rb") as f:
            head = f.read(8)
        if head == HDF5_MAGIC:
            return "hdf5"
        if head == filefmt.MAGIC:
            return "phc"
        if head[:6] == b"\x93NUMPY":
            return "npy"
        return "other"
    return "other" if p.exists() else "missing"
