"""The chunk format (version 1): a self-describing header, sections, and a CRC32 trailer.

    offset size
    0      4    magic b"\\x89PHC"
    4      2    u16 format version (1)
    6      1    u8 mode: 0 lossless, 1 latent only (no bound), 2 error-bounded, 3 interpolation
    7      1    u8 flags (reserved, 0)
    8      1    u8 dtype: 1 float32, 2 float64; 3-6 int8-int64, 7-10 uint8-uint64 (lossless only)
    9      1    u8 ndim (0..8)
    10     2    u16 reserved (0)
    12     8    model id: 8 bytes = 16 hex digits of the model's sha256 prefix (zeros: no model)
    20     8*n  u64 shape
    ...    8    f64 eps      (absolute bound; 0 unless mode 2 or 3)
    ...    8    f64 mid      (chunk normalisation x_n = (x - mid) / half)
    ...    8    f64 half
    ...    8    f64 step     (latent quantiser step in normalised units; mode 3: grid unit)
    ...    1    u8 number of sections S
    ...    9*S  per section: u8 kind, u64 length
    ...         section payloads, in table order
    end-4  4    u32 CRC32 (zlib) of every byte before it
All integers little-endian. docs/format.md describes each section body.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError
from .intpack import zstd_content_size
from .limits import FORMAT_MAX_ELEMENTS, admits, max_elements

MAGIC = b"\x89PHC"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MODE_LOSSLESS, MODE_LATENT, MODE_BOUNDED = 0, 1, 2
MODE_INTERP = 3  # error-bounded by multilevel interpolation (readers before it reject the mode)
MODE_NAMES = {MODE_LOSSLESS: "lossless", MODE_LATENT: "latent-only", MODE_BOUNDED: "error-bounded",
              MODE_INTERP: "error-bounded (interpolation)"}
SEC_LATENT, SEC_RESIDUAL, SEC_NONFINITE, SEC_EXCEPTIONS, SEC_RAW, SEC_CHECKS = 1, 2, 3, 4, 5, 6
SEC_RESIDUAL_RUNS = 7  # the residual as zero runs (readers before it reject such chunks by section kind)
SEC_INTERP = 8  # mode 3's interpolation residuals (phcomp/core/interp.py)
SECTION_NAMES = {SEC_LATENT: "latent", SEC_RESIDUAL: "residual", SEC_NONFINITE: "nonfinite",
                 SEC_EXCEPTIONS: "exceptions", SEC_RAW: "raw", SEC_CHECKS: "checks",
                 SEC_RESIDUAL_RUNS: "residual (zero runs)", SEC_INTERP: "interpolation"}
RESIDUAL_KINDS = (SEC_RESIDUAL, SEC_RESIDUAL_RUNS)
DTYPE_CODES = {1: np.dtype("<f4"), 2: np.dtype("<f8"),
               # integers: lossless mode only (for codec hosts such as numcodecs that hand over any array)
               3: np.dtype("|i1"), 4: np.dtype("<i2"), 5: np.dtype("<i4"), 6: np.dtype("<i8"),
               7: np.dtype("|u1"), 8: np.dtype("<u2"), 9: np.dtype("<u4"), 10: np.dtype("<u8")}
CODE_OF_DTYPE = {dt.newbyteorder("="): code for code, dt in DTYPE_CODES.items()}
MAX_NDIM = 8
MAX_ELEMENTS = FORMAT_MAX_ELEMENTS
NO_MODEL = "0" * 16


@dataclass
class ChunkHeader:
    mode: int
    dtype: np.dtype
    shape: tuple[int, ...]
    model_id: str = NO_MODEL
    eps: float = 0.0
    mid: float = 0.0
    half: float = 1.0
    step: float = 0.0
    version: int = FORMAT_VERSION
    sections: dict[int, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def pack_chunk(h: ChunkHeader) -> bytes:
    w = ByteWriter()
    w.raw(MAGIC)
    w.u16(FORMAT_VERSION)
    w.u8(h.mode)
    w.u8(0)
    w.u8(CODE_OF_DTYPE[np.dtype(h.dtype).newbyteorder("=")])
    w.u8(len(h.shape))
    w.u16(0)
    w.raw(bytes.fromhex(h.model_id))
    for s in h.shape:
        w.u64(int(s))
    for v in (h.eps, h.mid, h.half, h.step):
        w.f64(float(v))
    w.u8(len(h.sections))
    for kind, body in h.sections.items():
        w.u8(kind)
        w.u64(len(body))
    for body in h.sections.values():
        w.raw(body)
    data = w.getvalue()
    return data + zlib.crc32(data).to_bytes(4, "little")


def parse_chunk(data: bytes | bytearray | memoryview) -> ChunkHeader:
    """Parse and verify a chunk (magic, version, CRC, sizes). Sections are returned undecoded."""
    data = bytes(data) if not isinstance(data, bytes) else data
    if len(data) < 4 or data[:4] != MAGIC:
        raise PhcompError("not a phcomp chunk (bad magic)")
    if len(data) < 12:
        raise PhcompError("truncated phcomp chunk")
    r = ByteReader(memoryview(data)[:-4])
    _, version = r.fields("<4sH")
    if version not in SUPPORTED_VERSIONS:
        raise PhcompError(f"phcomp chunk format version {version} is not supported (this phcomp reads {SUPPORTED_VERSIONS})")
    if zlib.crc32(memoryview(data)[:-4]) != int.from_bytes(data[-4:], "little"):
        raise PhcompError("corrupt or truncated phcomp chunk: CRC32 mismatch")
    mode, _, dcode, ndim, _, model_bytes = r.fields("<BBBBH8s")
    if mode not in MODE_NAMES:
        raise PhcompError(f"corrupt chunk: unknown mode {mode}")
    if dcode not in DTYPE_CODES or (dcode > 2 and mode != MODE_LOSSLESS):
        raise PhcompError(f"corrupt chunk: unknown dtype code {dcode} for mode {mode}")
    if ndim > MAX_NDIM:
        raise PhcompError(f"corrupt chunk: ndim {ndim}")
    model_id = model_bytes.hex()
    shape = r.fields(f"<{ndim}Q")
    total = math.prod(shape)
    if not admits(total):
        limit = max_elements()
        raise PhcompError(f"chunk declares shape {shape} ({total} values), more than the {limit} this "
                          "process can decode (corrupt, or more than the memory it may use; "
                          "PHCOMP_MAX_ELEMENTS sets the cap)")
    eps, mid, half, step, nsec = r.fields("<ddddB")
    flat = r.fields("<" + "BQ" * nsec)
    table = list(zip(flat[0::2], flat[1::2]))
    sections: dict[int, bytes] = {}
    for kind, length in table:
        if kind not in SECTION_NAMES or kind in sections:
            raise PhcompError(f"corrupt chunk: bad section kind {kind}")
        sections[kind] = r.raw(length)
    r.expect_end()
    h = ChunkHeader(mode, DTYPE_CODES[dcode], shape, model_id, eps, mid, half, step, version, sections)
    _check_values(h)
    return h


def _check_values(h: ChunkHeader) -> None:
    if h.mode != MODE_LOSSLESS and h.size == 0:  # encoders store empty arrays losslessly
        raise PhcompError(f"corrupt chunk: {MODE_NAMES[h.mode]} chunk of an empty shape {h.shape}")
    if h.mode == MODE_INTERP:
        if not (math.isfinite(h.mid) and math.isfinite(h.eps) and h.eps > 0 and math.isfinite(h.step) and h.step > 0):
            raise PhcompError("corrupt chunk: bad bound, offset or grid unit")
        if SEC_INTERP not in h.sections or h.model_id == NO_MODEL:
            raise PhcompError("corrupt chunk: interpolation section or model id missing")
        return
    if h.mode != MODE_LOSSLESS:
        if not (math.isfinite(h.mid) and math.isfinite(h.half) and h.half > 0 and math.isfinite(h.step) and h.step > 0):
            raise PhcompError("corrupt chunk: bad normalisation or step")
        if SEC_LATENT not in h.sections or h.model_id == NO_MODEL:
            raise PhcompError("corrupt chunk: latent section or model id missing")
    if h.mode == MODE_BOUNDED and (not math.isfinite(h.eps) or h.eps <= 0
                                   or sum(k in h.sections for k in RESIDUAL_KINDS) != 1):
        raise PhcompError("corrupt chunk: bad bound or missing residual")
    if h.mode == MODE_LOSSLESS and h.size:
        if SEC_RAW not in h.sections:
            raise PhcompError("corrupt chunk: lossless payload missing")
        # the zstd frame must declare exactly the shape's bytes (and can hold them: intpack)
        expected = h.size * h.dtype.itemsize
        if zstd_content_size(h.sections[SEC_RAW], "lossless payload") != expected:
            raise PhcompError(f"corrupt chunk: lossless payload does not hold the {expected} bytes of shape {h.shape}")
