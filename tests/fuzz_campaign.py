"""Seeded fuzz campaigns against the chunk decoder and the model loader, counting outcomes.

    python tests/fuzz_campaign.py chunks --cases 3000 --seed 0
    python tests/fuzz_campaign.py models --cases 600 --seed 0
    python tests/fuzz_campaign.py encode-c --cases 2000 --seed 0

Each prints one JSON object: the count of every outcome and the first cases of each bad one
(with what was mutated, so a case can be reproduced from the seed). Good outcomes:

- ``error``: a PhcompError;
- ``ok``: a well-formed result (chunks: an ndarray of the shape and dtype the mutated header
  declares; models: the model loads, and compressing and decompressing a small array with it
  works within the bound, or raises PhcompError);
- ``noop``: the mutation left the bytes unchanged.

Anything else (another exception type, a malformed result, a broken bound) is bad. The test
suite (tests/test_fuzz.py) runs both campaigns in a child process with an address-space limit
and a timeout, so an attempt to allocate from a lie shows up as ``MemoryError`` and a hang as a
timeout. Only numpy, constriction and zstandard are needed (no torch).
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import phcomp  # noqa: E402
from phcomp.core import chunk as ck  # noqa: E402
from phcomp.core import container  # noqa: E402
from phcomp.core.model import ZOO_DIR, Model, shipped_index  # noqa: E402
import zstandard  # noqa: E402

from phcomp.core.intpack import zstd_compress  # noqa: E402

HOSTILE_U64 = [0, 1, 2, 3, 7, 255, 65535, 1 << 31, 1 << 32, (1 << 32) + 1, 1 << 40, 1 << 48, (1 << 63) - 1,
               1 << 63, (1 << 64) - 1]
HOSTILE_F64 = [0.0, -0.0, -1.0, 1.0, 0.5, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
               float("inf"), float("-inf"), float("nan"), 3.4e38, -3.4e38, 1e-45]


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    x = rng.standard_normal(shape)
    for ax in range(len(shape)):
        x = np.cumsum(x, axis=ax)
    return x.astype(dtype)


def _sample_array(model: Model, rng: np.random.Generator) -> np.ndarray:
    """A small array the model can compress (its block twice per axis, or a short line/volume)."""
    if model.predictive:
        nd = int(model.params["decoder"]["ndim"])
        return _smooth(rng, {1: (300,), 2: (40, 40), 3: (20, 20, 20)}.get(nd, (8,) * nd))
    shape = tuple(2 * b if b < 64 else b for b in model.block)
    return _smooth(rng, shape)


def build_chunks(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Real chunks of every mode and coding, from the shipped models (small, so decoding is fast)."""
    idx = shipped_index()
    field = phcomp.load_model(ZOO_DIR / idx["field"]["file"])
    field3d = phcomp.load_model(ZOO_DIR / idx["field3d"]["file"])
    sas = phcomp.load_model(ZOO_DIR / idx["sas"]["file"])
    coarse = phcomp.load_model(ZOO_DIR / idx["sas-coarse"]["file"])
    linear = phcomp.load_model(ZOO_DIR / "be1e879a62b6010f.phcm")
    f2 = _smooth(rng, (96, 80))
    f2_special = f2.copy()
    f2_special[3, 4:7] = [np.nan, np.inf, -np.inf]
    f2_special[10, 10] = 1e6  # an outlier: an exception point
    f3 = _smooth(rng, (20, 18, 16), np.float32)
    curve = np.log10(1 + np.exp(-np.linspace(0, 6, 400))) + 0.01 * rng.standard_normal(400)
    curves = np.stack([curve, curve[::-1]]).astype(np.float32)
    out = [
        ("lossless-f64", phcomp.compress(rng.standard_normal((70, 65)), abs=0)),
        ("lossless-f32-const", phcomp.compress(np.full((9, 5), 2.5, np.float32), field, rel=1e-3)),
        ("lossless-i16", phcomp.core.compress_lossless(rng.integers(-500, 500, (33, 7)).astype(np.int16))),
        ("field-bounded", phcomp.compress(f2, field, rel=1e-3)),
        ("field-bounded-tight", phcomp.compress(f2, field, rel=1e-6)),
        ("field-special", phcomp.compress(f2_special, field, rel=1e-3)),
        ("field-latent", phcomp.compress(f2, field)),
        ("field3d-interp", phcomp.compress(f3, field3d, rel=1e-3)),
        ("field3d-interp-special", phcomp.compress(np.where(f3 > f3.mean() + 2 * f3.std(), np.nan, f3), field3d, rel=1e-4)),
        ("sas-interp", phcomp.compress(curves, sas, rel=1e-3)),
        ("sas-interp-1d", phcomp.compress(curve, sas, rel=1e-3)),
        ("sas-linear", phcomp.compress(np.tile(curve[:256], (3, 1)), linear, rel=1e-3)),
        ("sas-sparse-ae", phcomp.compress(np.tile(curve[:256], (2, 1)), coarse)),
    ]
    return out


def _pick(rng: np.random.Generator, options: list):
    """One of ``options`` as it is (numpy's choice would turn big ints into floats or overflow)."""
    return options[int(rng.integers(0, len(options)))]


def _with_crc(body: bytes | bytearray) -> bytes:
    body = bytes(body)
    return body + zlib.crc32(body).to_bytes(4, "little")


def _layout(blob: bytes) -> dict:
    """Offsets of the header fields and of the section table of a valid chunk."""
    ndim = blob[9]
    shape_at = 20
    floats_at = shape_at + 8 * ndim
    nsec_at = floats_at + 32
    nsec = blob[nsec_at]
    table_at = nsec_at + 1
    bodies_at = table_at + 9 * nsec
    sections, off = [], bodies_at
    for i in range(nsec):
        length = int.from_bytes(blob[table_at + 9 * i + 1 : table_at + 9 * i + 9], "little")
        sections.append((table_at + 9 * i, off, length))
        off += length
    return {"ndim": ndim, "shape_at": shape_at, "floats_at": floats_at, "sections": sections}


def mutate_chunk(blob: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    lay = _layout(blob)
    body = bytearray(blob[:-4])
    kind = str(rng.choice(["flip", "flip", "section-flip", "section-flip", "truncate", "append", "shape", "shape", "ndim",
                           "section-length", "float", "mode-dtype", "raw-flip"]))
    if kind == "flip":
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(4, len(body)))
            body[i] = int(rng.integers(0, 256))
    elif kind == "section-flip" and lay["sections"]:
        _, start, length = lay["sections"][int(rng.integers(0, len(lay["sections"])))]
        if length:
            for _ in range(int(rng.integers(1, 4))):
                i = start + int(rng.integers(0, length))
                body[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncate":
        body = body[: int(rng.integers(0, len(body)))]
    elif kind == "append":
        body += rng.bytes(int(rng.integers(1, 17)))
    elif kind == "shape" and lay["ndim"]:
        i = lay["shape_at"] + 8 * int(rng.integers(0, lay["ndim"]))
        old = int.from_bytes(body[i : i + 8], "little")
        new = _pick(rng, HOSTILE_U64 + [0, 0, 1, old + 1, max(old - 1, 0), min(old * 2, (1 << 64) - 1), old // 2])
        body[i : i + 8] = new.to_bytes(8, "little")
    elif kind == "ndim":
        body[9] = int(rng.choice([0, 1, 2, 3, 4, 8, 9, 255, lay["ndim"] + 1, max(lay["ndim"] - 1, 0)]))
    elif kind == "section-length" and lay["sections"]:
        at, _, length = lay["sections"][int(rng.integers(0, len(lay["sections"])))]
        new = _pick(rng, HOSTILE_U64 + [length + 1, max(length - 1, 0)])
        body[at + 1 : at + 9] = new.to_bytes(8, "little")
    elif kind == "float":
        i = lay["floats_at"] + 8 * int(rng.integers(0, 4))
        body[i : i + 8] = struct.pack("<d", _pick(rng, HOSTILE_F64))
    elif kind == "mode-dtype":
        body[6 + int(rng.integers(0, 3))] = int(rng.integers(0, 12))
    else:  # raw flip without fixing the CRC
        b = bytearray(blob)
        b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
        return kind, bytes(b)
    return kind, _with_crc(body)


def _classify_chunk(data: bytes) -> tuple[str, str]:
    try:
        declared = ck.parse_chunk(data)
    except phcomp.PhcompError:
        declared = None
    except Exception as e:  # noqa: BLE001 -- the point is to see anything else
        return f"bad:{type(e).__name__}", str(e)[:200]
    try:
        y = phcomp.decompress(data)
    except phcomp.PhcompError:
        return "error", ""
    except Exception as e:  # noqa: BLE001
        return f"bad:{type(e).__name__}", str(e)[:200]
    if declared is None:
        return "bad:accepted-unparseable", ""
    if not isinstance(y, np.ndarray) or y.shape != declared.shape or y.dtype != declared.dtype.newbyteorder("="):
        return "bad:malformed", f"{type(y).__name__} {getattr(y, 'shape', None)} {getattr(y, 'dtype', None)}"
    return "ok", ""


def _decode_with(data: bytes, use_native: bool):
    """The decoded array's bytes with the native or the numpy decoder, or the exception type."""
    old = os.environ.get("PHCOMP_NATIVE")
    os.environ["PHCOMP_NATIVE"] = "1" if use_native else "0"
    try:
        y = phcomp.decompress(data)
        return ("ok", y.shape, y.dtype.str, y.tobytes())
    except phcomp.PhcompError:
        return ("error",)
    except Exception as e:  # noqa: BLE001
        return (f"bad:{type(e).__name__}", str(e)[:200])
    finally:
        if old is None:
            os.environ.pop("PHCOMP_NATIVE", None)
        else:
            os.environ["PHCOMP_NATIVE"] = old


def _mutations(chunks: list[tuple[str, bytes]], cases: int, rng: np.random.Generator, classify) -> tuple[Counter, list]:
    """``cases`` mutations of the chunks in turn; ``classify(data) -> (outcome, message)``."""
    counts: Counter = Counter()
    bad: list[dict] = []
    for i in range(cases):
        name, blob = chunks[i % len(chunks)]
        kind, data = mutate_chunk(blob, rng)
        if data == blob:
            counts["noop"] += 1
            continue
        outcome, msg = classify(data)
        counts[outcome] += 1
        if outcome.startswith("bad") and len(bad) < 40:
            bad.append({"case": i, "chunk": name, "mutation": kind, "outcome": outcome, "message": msg})
    return counts, bad


def run_chunks(cases: int, seed: int, only: str = "", compare: bool = False) -> dict:
    """``only``: chunks whose name contains it; ``compare``: every mutation is decoded by the
    native and the numpy decoder too, and any difference (one errs, or other bits) is counted."""
    from phcomp.core import native

    rng = np.random.default_rng(seed)
    chunks = [c for c in build_chunks(rng) if only in c[0]]

    def classify(data: bytes) -> tuple[str, str]:
        outcome, msg = _classify_chunk(data)
        if compare and not outcome.startswith("bad"):
            a, b = _decode_with(data, True), _decode_with(data, False)
            if a != b:
                return "bad:native-differs", f"native {a[0]}, numpy {b[0]}"
        return outcome, msg

    counts, bad = _mutations(chunks, cases, rng, classify)
    return {"campaign": "chunks", "seed": seed, "cases": cases, "chunks": len(chunks), "counts": dict(counts), "bad": bad,
            "native": str(native._LIB_PATH) if native.enabled() else None}


class _NativeZstd:
    """``zstandard`` as phcomp.core.intpack uses it, but decompressing with the libzstd of the C
    codec: two zstd versions (the wheel bundles 1.5.7, Debian ships 1.5.4) reject or misread
    some corrupt frames differently, and the comparison is of phcomp's two decoders, not of them."""

    ZstdError = zstandard.ZstdError
    frame_content_size = staticmethod(zstandard.frame_content_size)

    class ZstdDecompressor:
        def decompress(self, data: bytes, max_output_size: int = 0) -> bytes:
            from phcomp.core import native

            try:
                return native.zstd_decompress(bytes(data), max_output_size)
            except phcomp.PhcompError as e:
                raise zstandard.ZstdError(str(e)) from None


def _numpy_reference(data: bytes):
    """The numpy decoder's outcome, its zstd frames read by the C codec's libzstd."""
    from phcomp.core import intpack

    real, intpack.zstandard = intpack.zstandard, _NativeZstd
    kept, intpack._decompressor = intpack._decompressor, _NativeZstd.ZstdDecompressor  # not the thread's cached one
    try:
        return _decode_with(data, False)
    finally:
        intpack.zstandard, intpack._decompressor = real, kept


def run_chunks_c(cases: int, seed: int) -> dict:
    """Mutations of chunks of every mode decoded by the whole-chunk C decoder
    (native/src/chunk.c, the HDF5 plugin's path, the model found by the chunk's declared id)
    and by numpy: both must err, or give the same bits."""
    from phcomp.core import native

    rng = np.random.default_rng(seed)
    chunks = [c for c in build_chunks(rng) if c[0] != "lossless-i16"]  # integers: numcodecs' lossless path only
    models = {}
    for _, blob in chunks:
        mid = ck.parse_chunk(blob).model_id
        if mid != ck.NO_MODEL and mid not in models:
            models[mid] = native.NativeModel(phcomp.core.find_model(mid).to_bytes())

    def classify(data: bytes) -> tuple[str, str]:
        ref = _numpy_reference(data)
        try:
            declared = bytes(data[12:20]).hex() if len(data) >= 20 else ck.NO_MODEL
            y = native.decode_chunk(data, models.get(declared))
            got = ("ok", y.shape, y.dtype.newbyteorder("=").str, y.tobytes())
        except phcomp.PhcompError:
            got = ("error",)
        except Exception as e:  # noqa: BLE001
            got = (f"bad:{type(e).__name__}", str(e)[:200])
        return (got[0], "") if got == ref else ("bad:c-differs", f"C {got[0]}, numpy {ref[0]}")

    counts, bad = _mutations(chunks, cases, rng, classify)
    return {"campaign": "chunks-c", "seed": seed, "cases": cases, "chunks": len(chunks), "counts": dict(counts),
            "bad": bad, "native": str(native._LIB_PATH)}


def _hostile_array(rng: np.random.Generator) -> np.ndarray:
    """Arrays an encoder meets at the edges: every shape class, float32/64, NaN/Inf, extremes
    near the float limits, denormals, constants, a few values, big jumps."""
    nd = int(rng.integers(0, 5))
    shape = tuple(int(rng.integers(1, 14)) for _ in range(nd))
    x = _smooth(rng, shape) if nd else np.array(rng.standard_normal())
    kind = rng.integers(0, 6)
    scale = float(_pick(rng, [1.0, 1e-300, 1e-30, 1e30, 1e300, 3e38, 1e-45]))
    x = x * scale
    if kind == 1 and x.size:
        x.flat[rng.integers(0, x.size, max(1, x.size // 7))] = _pick(rng, [np.nan, np.inf, -np.inf, 1.7e308, -3.4e38])
    elif kind == 2:
        x = np.full(shape, _pick(rng, HOSTILE_F64))
    elif kind == 3 and x.size:
        x.flat[::3] += 1e6 * scale
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(np.float32 if rng.integers(0, 2) else np.float64)


def _check_transform_chunk(x: np.ndarray, c: bytes, ref: bytes, model, handle, modes: Counter) -> tuple[str, str]:
    """A linear or separable chunk the C writer made (its float projection may round a latent
    the other way from numpy's, so its bytes may differ): the numpy and the C decoder give the
    same bits, the mode and header bound are the numpy encoder's (lossless may stand in for a
    chunk past half the raw size), the bound holds and non-finite values come back exactly."""
    from phcomp.core import native

    for name, blob in (("C", c), ("numpy", ref)):
        try:
            ck.parse_chunk(blob)
        except phcomp.PhcompError as e:
            return "bad:unreadable", f"the {name} encoder's chunk: {e}"
    hc, hr = ck.parse_chunk(c), ck.parse_chunk(ref)
    modes[f"{model.kind} {ck.MODE_NAMES[hc.mode]}"] += 1
    old = os.environ.get("PHCOMP_NATIVE")
    os.environ["PHCOMP_NATIVE"] = "0"
    try:
        y = phcomp.decompress(c, model)
    finally:
        if old is None:
            os.environ.pop("PHCOMP_NATIVE", None)
        else:
            os.environ["PHCOMP_NATIVE"] = old
    if y.tobytes() != native.decode_chunk(c, handle if hc.mode else None).tobytes():
        return "bad:c-differs", "numpy and C decode the C chunk differently"
    if hc.mode != hr.mode and 0 not in (hc.mode, hr.mode):
        return "bad:c-differs", f"mode {hc.mode}, numpy's {hr.mode}"
    xf, yf = x.astype(np.float64).reshape(-1), y.astype(np.float64).reshape(-1)
    fin = np.isfinite(xf)
    if not np.array_equal(x.reshape(-1)[~fin].view(f"u{x.itemsize}"), y.reshape(-1)[~fin].view(f"u{x.itemsize}")):
        return "bad:c-differs", "non-finite values not kept"
    if hc.mode == ck.MODE_LOSSLESS and x.tobytes() != y.tobytes():
        return "bad:c-differs", "lossless chunk not exact"
    if hc.mode == ck.MODE_BOUNDED and (hc.eps != hr.eps or not (np.abs(yf[fin] - xf[fin]) <= hc.eps).all()):
        return "bad:bound", f"bound {hc.eps} (numpy's {hr.eps}) broken"
    if hc.mode == ck.MODE_LATENT and not np.isfinite(yf[fin]).all():
        return "bad:c-differs", "a finite value decoded as non-finite"
    return "ok", ""


def run_encode_c(cases: int, seed: int) -> dict:
    """The whole-chunk C writer (native/src/chunk_write.c, the ADIOS2 operator's encoder) on
    hostile arrays and bounds: its chunk must decode (with numpy and in C) to the bits of
    phcomp.compress's chunk of the same array, or both must refuse the array."""
    from phcomp.core import native

    rng = np.random.default_rng(seed)
    idx = shipped_index()
    models = [phcomp.load_model(ZOO_DIR / idx[r]["file"]) for r in ("field3d", "sas", "field")]
    models.append(phcomp.load_model(ZOO_DIR / "be1e879a62b6010f.phcm"))  # a linear model
    handles = [native.NativeModel(m.to_bytes()) for m in models]
    counts: Counter = Counter()
    modes: Counter = Counter()  # of the chunks written: both kinds must be exercised
    bad: list[dict] = []
    for i in range(cases):
        x = _hostile_array(rng)
        k = int(rng.integers(0, len(models)))
        bound = _pick(rng, [{"rel": 1e-3}, {"rel": 1e-7}, {"rel": 0.3}, {"abs": 1e-3}, {"abs": 1e-300}, {"abs": 0.0},
                            {"abs": 1e300}, {}, {"abs": 1e-2, "rel": 1e-5}, {"abs": -1.0}, {"rel": float("nan")},
                            {"rel": float("inf")}])  # the last three: refused by both
        outcome, msg = "ok", ""
        transform = not models[k].predictive
        old_native = os.environ.get("PHCOMP_NATIVE")
        if transform:  # phcomp.compress writes these in C itself: the reference is the numpy encoder
            os.environ["PHCOMP_NATIVE"] = "0"
        try:
            ref = phcomp.compress(x, models[k], **bound)
        except phcomp.PhcompError as e:
            ref = e
        finally:
            if old_native is None:
                os.environ.pop("PHCOMP_NATIVE", None)
            else:
                os.environ["PHCOMP_NATIVE"] = old_native
        try:
            c = native.encode_chunk(x, handles[k], models[k].id, **bound)
        except phcomp.PhcompError as e:
            c = e
        except Exception as e:  # noqa: BLE001
            outcome, msg = f"bad:{type(e).__name__}", str(e)[:200]
        if outcome == "ok":
            if isinstance(ref, Exception) or isinstance(c, Exception):
                outcome = "error" if type(ref) is type(c) else "bad:c-differs"
                msg = f"python {ref!r:.100}, C {c!r:.100}"
            elif transform:
                outcome, msg = _check_transform_chunk(x, c, ref, models[k], handles[k], modes)
                msg = msg and f"{msg}: shape {x.shape} {x.dtype} {bound}"
            else:
                want = phcomp.decompress(ref, models[k]).tobytes()
                mode = ck.parse_chunk(c).mode
                modes[ck.MODE_NAMES[mode]] += 1
                got = [phcomp.decompress(c, models[k]).tobytes(),
                       native.decode_chunk(c, handles[k] if mode == ck.MODE_INTERP else None).tobytes()]
                if got != [want, want]:
                    outcome, msg = "bad:c-differs", f"shape {x.shape} {x.dtype} {bound}"
        counts[outcome] += 1
        if outcome.startswith("bad") and len(bad) < 40:
            bad.append({"case": i, "outcome": outcome, "message": msg})
    return {"campaign": "encode-c", "seed": seed, "cases": cases, "counts": dict(counts), "modes": dict(modes), "bad": bad,
            "native": str(native._LIB_PATH)}


# ---------------------------------------------------------------- models

def _hostile_json(rng: np.random.Generator):
    choices = [None, 0, -1, 1, 2, 1 << 31, 1 << 63, 10**30, 1e308, float("inf"), float("-inf"), float("nan"), -0.5,
               "x", "", [], {}, [1, 1], [[1]], [0], [-1], True, False, {"type": "x"}, [None], ["x"], [1e308] * 3]
    if rng.random() < 0.05:
        depth = _pick(rng, [100, 5000, 100000])
        return "NESTED", depth
    return "VALUE", choices[int(rng.integers(0, len(choices)))]


def _paths(obj, prefix=(), depth=0):
    yield prefix
    if depth > 4:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,), depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):
            yield from _paths(v, prefix + (i,), depth + 1)


def _set(obj, path, value):
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


def _delete(obj, path):
    for p in path[:-1]:
        obj = obj[p]
    del obj[path[-1]]


def _container_bytes(header_text: str, plen: int, frame: bytes) -> bytes:
    h = header_text.encode()
    return container.MAGIC + struct.pack("<II", container.CONTAINER_VERSION, len(h)) + h + struct.pack("<Q", plen) + frame


def mutate_model(base: dict, rng: np.random.Generator) -> tuple[str, bytes]:
    header = json.loads(json.dumps(base["header"]))
    payload, frame = base["payload"], base["frame"]
    kind = str(rng.choice(["params", "params", "params", "top", "array-entry", "delete", "payload", "bytes"]))
    text = None
    if kind in ("params", "top", "delete"):
        root = header["params"] if kind != "top" else header
        paths = [p for p in _paths(root) if p]
        if kind == "top":
            paths = [p for p in paths if p[0] != "params" and p[0] != "arrays"] or paths
        path = paths[int(rng.integers(0, len(paths)))]
        if kind == "delete":
            _delete(root, path)
            kind = f"delete {'.'.join(map(str, path))}"
        else:
            how, v = _hostile_json(rng)
            if how == "NESTED":
                marker = "__NESTED__"
                _set(root, path, marker)
                text = json.dumps(header, sort_keys=True).replace(json.dumps(marker), "[" * v + "]" * v)
                kind = f"{kind} {'.'.join(map(str, path))}=nested{v}"
            else:
                _set(root, path, v)
                kind = f"{kind} {'.'.join(map(str, path))}={v!r}"
    elif kind == "array-entry":
        name = sorted(header["arrays"])[int(rng.integers(0, len(header["arrays"])))]
        e = header["arrays"][name]
        field = str(rng.choice(["dtype", "shape", "offset", "nbytes", "shape-swap"]))
        if field == "dtype":
            e["dtype"] = str(rng.choice(["<i4", "<i8", "<u4", "<f4", "<f8", "<i2", "|i1", "|u1", "<c8", "O", "x"]))
            e["nbytes"] = int(np.dtype(e["dtype"]).itemsize * int(np.prod(e["shape"]))) if e["dtype"] not in ("O", "x") else 0
        elif field == "shape":
            how, v = _hostile_json(rng)
            e["shape"] = v if how == "VALUE" else [1]
        elif field == "shape-swap" and len(e["shape"]) > 1:
            e["shape"] = e["shape"][::-1]
        elif field == "shape-swap":
            e["shape"] = [1] + e["shape"]
        else:
            e[field] = _pick(rng, [0, 1, -1, e[field] + 4, max(e[field] - 4, 0), 1 << 40])
        kind = f"array {name}.{field}"
    elif kind == "payload":
        p = bytearray(payload)
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(0, len(p)))
            p[i] = int(rng.integers(0, 256))
        payload = bytes(p)
        frame = zstd_compress(payload, level=1)
    else:  # bytes of the container itself
        data = bytearray(base["bytes"])
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        return kind, bytes(data)
    if text is None:
        text = json.dumps(header, sort_keys=True)
    return kind, _container_bytes(text, len(payload), frame)


def _classify_model(data: bytes, sample: np.ndarray) -> tuple[str, str]:
    try:
        model = Model.from_bytes(data)
    except phcomp.PhcompError:
        return "error", ""
    except Exception as e:  # noqa: BLE001
        return f"bad:load:{type(e).__name__}", str(e)[:200]
    # a model that loads can always be used: compress and decompress, bounded and not
    for bound in ({"rel": 1e-3}, {}):
        try:
            blob = phcomp.compress(sample, model, **bound)
            y = phcomp.decompress(blob, model)
        except phcomp.PhcompError:
            continue
        except Exception as e:  # noqa: BLE001
            return f"bad:use:{type(e).__name__}", f"{bound}: {str(e)[:200]}"
        if y.shape != sample.shape or y.dtype != sample.dtype:
            return "bad:malformed", str(bound)
        if bound:
            eps = 1e-3 * float(np.ptp(sample))
            if not np.all(np.abs(y - sample) <= eps):
                return "bad:bound-broken", f"max error {float(np.max(np.abs(y - sample)))} > {eps}"
    return "ok", ""


def run_models(cases: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    files = sorted(ZOO_DIR.glob("*.phcm"))
    bases = []
    for f in files:
        data = f.read_bytes()
        header, payload, _ = container.loads(data)
        model = Model.from_bytes(data)
        bases.append({"name": f.stem, "header": header, "payload": payload, "bytes": data,
                      "frame": zstd_compress(payload, level=1), "sample": _sample_array(model, rng)})
    counts: Counter = Counter()
    bad: list[dict] = []
    for i in range(cases):
        base = bases[i % len(bases)]
        kind, data = mutate_model(base, rng)
        outcome, msg = _classify_model(data, base["sample"])
        counts[outcome] += 1
        if outcome.startswith("bad") and len(bad) < 40:
            bad.append({"case": i, "model": base["name"], "mutation": kind[:200], "outcome": outcome, "message": msg})
    return {"campaign": "models", "seed": seed, "cases": cases, "models": len(bases), "counts": dict(counts), "bad": bad}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("campaign", choices=["chunks", "chunks-c", "encode-c", "models"])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="chunks: only the chunks whose name contains this")
    ap.add_argument("--compare", action="store_true",
                    help="chunks: also decode each mutation natively and with numpy; a difference is a finding")
    args = ap.parse_args(argv)
    import warnings

    warnings.simplefilter("error")  # a leaked RuntimeWarning is a finding too
    if args.campaign == "chunks":
        result = run_chunks(args.cases, args.seed, args.only, args.compare)
    elif args.campaign == "chunks-c":
        result = run_chunks_c(args.cases, args.seed)
    elif args.campaign == "encode-c":
        result = run_encode_c(args.cases, args.seed)
    else:
        result = run_models(args.cases, args.seed)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
