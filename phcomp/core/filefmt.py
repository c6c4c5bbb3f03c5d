"""The ``.phc`` file: a large array as a sequence of independent chunks along axis 0.

    magic b"PHCFILE1" (8) | chunk 0 | chunk 1 | ... | index | u64 index offset | b"PHCEND1!" (8)
    index: u16 version (1), u8 dtype code, u8 ndim, u64 shape[ndim], u32 nchunks,
           nchunks * (u64 offset, u64 length, u64 first row, u64 rows)
Chunks are written as they are produced (so files larger than memory stream through) and
the index goes last. Each chunk is a normal phcomp chunk (see chunk.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from . import chunk as ck
from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError

MAGIC = b"PHCFILE1"
END = b"PHCEND1!"


@dataclass
class Entry:
    offset: int
    length: int
    row0: int
    rows: int


class FileWriter:
    def __init__(self, f: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.f, self.shape, self.dtype = f, tuple(shape), np.dtype(dtype)
        self.entries: list[Entry] = []
        f.write(MAGIC)
        self._row = 0

    def add(self, chunk: bytes, rows: int) -> None:
        self.entries.append(Entry(self.f.tell(), len(chunk), self._row, rows))
        self.f.write(chunk)
        self._row += rows

    def close(self) -> None:
        if self._row != (self.shape[0] if self.shape else 1):
            raise PhcompError("internal error: chunks do not cover the array")
        w = ByteWriter()
        w.u16(1)
        w.u8(ck.CODE_OF_DTYPE[self.dtype.newbyteorder("=")])
        w.u8(len(self.shape))
        for s in self.shape:
            w.u64(s)
        w.u32(len(self.entries))
        for e in self.entries:
            for v in (e.offset, e.length, e.row0, e.rows):
                w.u64(v)
        off = self.f.tell()
        self.f.write(w.getvalue())
        self.f.write(off.to_bytes(8, "little") + END)


def is_phc_file(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == MAGIC


class FileReader:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            if f.read(8) != MAGIC:
                raise PhcompError(f"{path}: not a phcomp file (bad magic)")
            if size < 32:
                raise PhcompError(f"{path}: truncated phcomp file")
            f.seek(size - 16)
            tail = f.read(16)
            if tail[8:] != END:
                raise PhcompError(f"{path}: truncated phcomp file (no index at the end)")
            off = int.from_bytes(tail[:8], "little")
            if not 8 <= off <= size - 16:
                raise PhcompError(f"{path}: corrupt phcomp file index offset")
            f.seek(off)
            r = ByteReader(f.read(size - 16 - off), "file index")
        if r.u16() != 1:
            raise PhcompError(f"{path}: unsupported file version")
        dcode, ndim = r.u8(), r.u8()
        if dcode not in ck.DTYPE_CODES or ndim > ck.MAX_NDIM:
            raise PhcompError(f"{path}: corrupt file index")
        self.dtype = ck.DTYPE_CODES[dcode].newbyteorder("=")
        self.shape = tuple(r.u64() for _ in range(ndim))
        n = r.u32()
        self.entries = [Entry(r.u64(), r.u64(), r.u64(), r.u64()) for _ in range(n)]
        r.expect_end()
        row = 0
        for e in self.entries:
            if e.row0 != row or e.offset + e.length > off:
                raise PhcompError(f"{path}: corrupt file index")
            row += e.rows
        if row != (self.shape[0] if self.shape else 1):
            raise PhcompError(f"{path}: corrupt file index (rows do not cover the array)")

    def chunks(self) -> Iterator[tuple[Entry, bytes]]:
        with open(self.path, "rb") as f:
            for e in self.entries:
                f.seek(e.offset)
                data = f.read(e.length)
                if len(data) != e.length:
                    raise PhcompError(f"{self.path}: truncated chunk")
                yield e, data
