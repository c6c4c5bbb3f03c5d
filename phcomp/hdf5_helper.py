"""Codec helper for the compiled HDF5 filter plugin (hdf5_filter/phcomp_h5filter.c).

The plugin, loaded into any HDF5 host, starts ``python -m phcomp.hdf5_helper`` once and sends
it chunks over a socket on stdin/stdout. Requests: u8 op (1 encode, 2 decode), u32 ncd,
ncd x u32 cd_values, u32 nfiles, nfiles x (u32 len, UTF-8 path of a file the host has open),
u64 n, n bytes. Replies: u8 status (0 ok, 1 error), u64 n, n bytes (result or message).
Models are looked up as usual, then inside the host's open files (``/_phcomp/models``), which
this process opens read-only with its own h5py when needed.
"""
from __future__ import annotations

import struct
import sys
from typing import BinaryIO

from . import core
from .core.errors import PhcompError
from .hdf5_options import MODEL_GROUP, decode_chunk, encode_chunk

_host_files: list[str] = []


def _model_from_host_files(model_id: str) -> bytes | None:
    if not _host_files:
        return None
    import h5py  # this process has its own HDF5: safe here, unlike inside the host

    for path in _host_files:
        try:
            with h5py.File(path, "r") as f:
                key = f"{MODEL_GROUP}/{model_id}"
                if key in f:
                    return f[key][()].tobytes()
        except OSError:
            continue
    return None


def _read(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def handle(op: int, cd: list[int], data: bytes) -> bytes:
    if op == 2:
        return decode_chunk(cd, data)
    if op == 1:
        return encode_chunk(cd, data)
    raise PhcompError(f"unknown request {op}")


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    core.register_model_source("HDF5 files open in the host program (/_phcomp/models/<id>)", _model_from_host_files)
    while True:
        try:
            op = _read(inp, 1)[0]
            (ncd,) = struct.unpack("<I", _read(inp, 4))
            cd = list(struct.unpack(f"<{ncd}I", _read(inp, 4 * ncd)))
            (nfiles,) = struct.unpack("<I", _read(inp, 4))
            files = []
            for _ in range(nfiles):
                (k,) = struct.unpack("<I", _read(inp, 4))
                files.append(_read(inp, k).decode("utf-8", "replace"))
            (n,) = struct.unpack("<Q", _read(inp, 8))
            data = _read(inp, n)
        except EOFError:
            return
        _host_files[:] = files
        try:
            result, status = handle(op, cd, data), 0
        except Exception as e:  # reported by the plugin on the host's stderr
            result, status = f"{type(e).__name__}: {e}".encode(), 1
        out.write(struct.pack("<BQ", status, len(result)))
        out.write(result)
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
