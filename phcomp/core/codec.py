"""compress / decompress: one array <-> one self-describing chunk. Every adapter calls these."""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import chunk as ck
from . import interp, native
from .checks import MAX_TIGHTEN, TIGHTEN, UNBOUNDED_START, Check, encode_record, evaluate
from .blocking import Blocking
from .errors import PhcompError
from .intpack import zstd_compress, zstd_decompress
from .latent import decode_latents, encode_latents
from .model import Model, find_model
from .points import decode_points, encode_points
from .residual import QR_LIMIT, decode_residual, encode_residual

Progress = Callable[[int], None]  # called with the number of values just processed
LOSSLESS_CHECK = 0.5  # results above this share of the raw size are compared to lossless


def _default_model() -> Model | None:
    from .model import default_model

    try:
        return default_model("field")
    except PhcompError:
        return None


def step_factor(model: Model, rel: float) -> float:
    """Latent step / (2 eps) for a bound of ``rel`` of the range: the model's calibration
    table interpolated in log10(rel), else its fixed factor. Encoder-only (steps are stored)."""
    table = model.params.get("step_factors")
    if not table:
        return float(model.params["step_factor"])
    logs, factors = zip(*sorted((float(a), float(b)) for a, b in table))
    return float(np.interp(np.log10(max(rel, 1e-300)), logs, factors))


def resolve_bound(values_range: float, abs: float | None, rel: float | None) -> float | None:
    """Absolute bound from abs/rel (both given: the tighter, like SZ3's ABS_AND_REL); None: no bound."""
    eps = None
    for name, v in (("abs", abs), ("rel", rel)):
        if v is None:
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise PhcompError(f"{name} must be a number, got {v!r}") from None
        if not np.isfinite(v) or v < 0:
            raise PhcompError(f"{name} must be finite and >= 0, got {v}")
        e = v if name == "abs" else v * values_range
        eps = e if eps is None else min(eps, e)
    return eps


def _check_array(array) -> np.ndarray:
    x = np.asarray(array)
    if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
        raise PhcompError(f"phcomp compresses float32 and float64 arrays, not {x.dtype}")
    if x.ndim > ck.MAX_NDIM:
        raise PhcompError(f"at most {ck.MAX_NDIM} dimensions are supported, got {x.ndim}")
    return x


def finite_range(x) -> tuple[float, float] | None:
    """min and max of the finite values, in pieces along axis 0 (no copy of a strided view);
    works on anything sliceable along axis 0 into numpy arrays (h5py datasets, zarr arrays)."""
    lo, hi = np.inf, -np.inf
    v = np.asarray(x).reshape(1, -1) if x.ndim == 0 else x
    rows = max(1, (1 << 20) // max(1, v[:1].size))
    for i in range(0, v.shape[0], rows):
        part = np.asarray(v[i : i + rows])
        fin = np.isfinite(part)
        lo = min(lo, float(np.min(part, where=fin, initial=np.inf)))
        hi = max(hi, float(np.max(part, where=fin, initial=-np.inf)))
    return None if lo > hi else (lo, hi)


def _lossless(x: np.ndarray) -> bytes:
    dt = x.dtype.newbyteorder("<")
    raw = np.ascontiguousarray(x, dtype=dt).reshape(-1).view(np.uint8)
    # byte shuffle: exponent bytes of neighbours line up, which zstd rewards
    shuffled = raw.reshape(-1, dt.itemsize).T.tobytes() if raw.size else b""
    h = ck.ChunkHeader(ck.MODE_LOSSLESS, dt, x.shape)
    h.sections[ck.SEC_RAW] = zstd_compress(shuffled)
    return ck.pack_chunk(h)


def compress_lossless(array) -> bytes:
    """Lossless chunk of any fixed-width float or integer array (for codec hosts that hand
    over arbitrary arrays, e.g. numcodecs); ``compress`` itself takes floats only."""
    x = np.asarray(array)
    if x.dtype.newbyteorder("=") not in ck.CODE_OF_DTYPE:
        raise PhcompError(f"phcomp cannot store arrays of dtype {x.dtype}")
    return _lossless(x)


def _quantize(c: np.ndarray, step: float, deadzone: float, limit: int) -> np.ndarray:
    # the float encoder is outside the exactness contract: whatever it returns (Inf, NaN from a
    # model's extreme weights) becomes a valid latent, and the bound is kept by the residual
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.floor(np.abs(c) / step + (0.5 - deadzone))
    a[~np.isfinite(a)] = 0
    np.minimum(a, limit, out=a)
    return (np.sign(c) * a).astype(np.int32)


def compress(array, model: Model | None = None, *, abs: float | None = None, rel: float | None = None,
             checks: list[Check] | None = None, progress: Progress | None = None) -> bytes:
    """Compress an array (float32/float64, any layout) into one self-describing chunk.

    ``abs``: absolute error bound; ``rel``: bound relative to the value range (max - min of the
    finite values) of ``array``; both: the tighter. ``abs=0`` or ``rel=0``: lossless. Neither:
    the model's own rate point (latents only, no bound). NaN and +-Inf round-trip exactly.
    ``checks``: observables that must survive (``phcomp.physics.resolve_checks``): a chunk that
    fails is re-encoded with the bound divided by 4 (up to 3 times), finally losslessly, and
    the chunk records the attempt that passed and the errors achieved.
    """
    if checks:
        out = _compress_checked(array, model, abs, rel, checks)
        if progress:
            progress(int(np.size(array)))
        return out
    return _compress(array, model, abs, rel, progress)


def _compress_checked(array, model: Model | None, abs: float | None, rel: float | None, checks: list[Check]) -> bytes:
    x, rng, eps = _prepare(array, abs, rel)
    value_range = (rng[1] - rng[0]) if rng else 0.0
    if eps == 0 or rng is None or value_range == 0 or not np.isfinite(value_range):
        ladder: list[float | None] = [0.0]
    else:
        first = eps if eps is not None else UNBOUNDED_START * value_range
        ladder = ([None] if eps is None else []) + [first / TIGHTEN**k for k in range(MAX_TIGHTEN + 1)] + [0.0]
    for attempt, e in enumerate(ladder):
        blob = _encode(x, rng, e, model, None)
        outcomes = evaluate(checks, x, decompress(blob, model))
        if all(o.ok for o in outcomes):
            break
    h = ck.parse_chunk(blob)
    h.sections[ck.SEC_CHECKS] = encode_record(attempt, e or 0.0, outcomes)
    return ck.pack_chunk(h)


def _prepare(array, abs: float | None, rel: float | None):
    """The validated array, its finite range (None: empty or no finite value) and the absolute bound."""
    x = _check_array(array)
    rng = finite_range(x) if x.size else None
    return x, rng, resolve_bound((rng[1] - rng[0]) if rng else 0.0, abs, rel)


def _compress(array, model: Model | None, abs: float | None, rel: float | None, progress: Progress | None) -> bytes:
    x, rng, eps = _prepare(array, abs, rel)
    return _encode(x, rng, eps, model, progress)


def lossless_floor(rng: tuple[float, float]) -> float:
    """The smallest absolute bound worth a lossy chunk for values in ``rng``: float64's spacing
    at their magnitude (2**-52 of it), and never below the smallest normal float64. Below it
    (a denormal ``abs``, say) grids and steps would overflow, and lossless is what it means."""
    return max(float(np.finfo(np.float64).tiny), max(abs(rng[0]), abs(rng[1]), rng[1] - rng[0]) * 2.0**-52)


# The float stages of the encoders may overflow near the float limits (a reconstruction cast to
# float32 above 3.4e38, a residual of values near 1.8e308): every such value is caught by the
# bound check and stored exactly, or (latent only) by the finiteness check, so numpy's warnings
# about them are noise and are silenced here.
_QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def _encode(x: np.ndarray, rng: tuple[float, float] | None, eps: float | None, model: Model | None,
            progress: Progress | None) -> bytes:
    """One chunk of a validated array at absolute bound ``eps`` (None: latent only, 0: lossless)."""
    with np.errstate(**_QUIET):
        return _encode_quiet(x, rng, eps, model, progress)


def _encode_quiet(x: np.ndarray, rng: tuple[float, float] | None, eps: float | None, model: Model | None,
                  progress: Progress | None) -> bytes:
    value_range = (rng[1] - rng[0]) if rng else 0.0
    if eps is not None and rng is not None and eps < lossless_floor(rng):
        eps = 0.0  # a bound finer than float64 can resolve at these magnitudes: only lossless meets it
    if x.size == 0 or rng is None or eps == 0 or not np.isfinite(value_range) or value_range == 0:
        # empty, all non-finite, constant or lossless: the shuffled-zstd path is exact and small
        out = _lossless(x)
        if progress:
            progress(x.size)
        return out
    if model is None:
        model = _default_model()
        if model is None:
            raise PhcompError("no model given and no shipped default model found: pass model=phcomp.train(...) "
                              "or phcomp.load_model(path), or use abs=0 for lossless")
    lo, hi = rng
    mid, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    if model.predictive:
        return _encode_interp(x, mid, half, eps if eps is not None else float(model.params["default_rel"]) * 2 * half,
                              model, progress)
    if model.kind in native.TRANSFORM_KINDS_ENCODED and native.enabled():
        # the whole chunk in C (native/src/transform_encode.c): the same decisions as below, its
        # float projection rounded in its own order (the chunk keeps the bound and decodes the
        # same with every decoder; its bytes may differ from this path's)
        out = native.encode_chunk(x, native.model_handle(model), model.id, abs=eps)
        if progress:
            progress(x.size)
        return out
    if model.params.get("normalization") == "fixed":
        # a nonlinear decoder only knows the value range it was trained on: every chunk uses the
        # model's (mid, half), written in the header as usual, whatever the chunk's own range
        mid, half = float(model.params["norm_mid"]), float(model.params["norm_half"])
    bounded = eps is not None
    if bounded and model.params.get("step_mode", "scaled") == "scaled":
        step = step_factor(model, eps / (2.0 * half)) * 2.0 * eps / half
        step = max(step, model.params.get("min_step", 0.0))
        if not np.isfinite(step):  # a bound past the range of denormal values: every latent is 0 at any step
            step = float(np.finfo(np.float64).max)
    else:  # unbounded, or a nonlinear decoder trained at one latent step (its rate point)
        step = float(model.params["default_step"])
    deadzone = float(model.params.get("deadzone", 0.0))
    blocking = Blocking(x.shape, model.block)
    xv = blocking.view(x)
    q = np.empty((blocking.nblocks, model.latent_dim), np.int32)
    qr = np.zeros(x.size, np.int32) if bounded else None
    points: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {ck.SEC_NONFINITE: [], ck.SEC_EXCEPTIONS: []}
    two_eps = 2.0 * eps if bounded else 0.0
    # latent only: a reconstruction may pass the dtype's largest value only for values near it;
    # then finite values that would decode as +-Inf are stored exactly (never Inf from finite)
    near_limit = not bounded and max(abs(lo), abs(hi)) > float(np.finfo(x.dtype).max) * 2.0**-10
    for s in blocking.slabs():
        orig = blocking.slab_original(xv, s)
        sub = orig.astype(np.float64)
        fin = np.isfinite(sub)
        if not fin.all():
            nf = np.flatnonzero(~fin)
            points[ck.SEC_NONFINITE].append((s.elem0 + nf, orig.reshape(-1)[nf]))
            sub[~fin] = mid
        xn = blocking.to_blocks((sub - mid) / half, s)
        with np.errstate(over="ignore", invalid="ignore"):
            coeffs = model.encoder(xn)
        qs = _quantize(coeffs, step, deadzone, model.decoder.q_limit)
        q[s.block0 : s.block0 + s.nblocks] = qs
        if near_limit:
            y = blocking.from_blocks(_reconstruct_blocks(model, qs, step, mid, half), s).astype(x.dtype)
            lost = fin & ~np.isfinite(y)
            if lost.any():
                pos = np.flatnonzero(lost)
                points[ck.SEC_EXCEPTIONS].append((s.elem0 + pos, orig.reshape(-1)[pos]))
        if bounded:
            xhat = blocking.from_blocks(_reconstruct_blocks(model, qs, step, mid, half), s)
            r = np.rint((sub - xhat) / two_eps)
            r[~fin] = 0
            big = np.abs(r) >= QR_LIMIT
            r[big] = 0
            y = (xhat + r * two_eps).astype(x.dtype)
            with np.errstate(invalid="ignore"):
                bad = fin & (big | ~(np.abs(y.astype(np.float64) - sub) <= eps))
            r[bad] = 0
            qr[s.elem0 : s.elem0 + s.nelems] = r.reshape(-1)
            if bad.any():
                pos = np.flatnonzero(bad)
                points[ck.SEC_EXCEPTIONS].append((s.elem0 + pos, orig.reshape(-1)[pos]))
        if progress:
            progress(s.nelems)
    h = ck.ChunkHeader(ck.MODE_BOUNDED if bounded else ck.MODE_LATENT, x.dtype.newbyteorder("<"), x.shape,
                       model.id, eps if bounded else 0.0, mid, half, step)
    h.sections[ck.SEC_LATENT] = encode_latents(q, step, model.tables)
    del q
    if bounded:
        kind, body = encode_residual(qr)
        h.sections[kind] = body
        del qr
    return _finish(h, points, x)


def _encode_interp(x: np.ndarray, mid: float, half: float, eps: float, model: Model,
                   progress: Progress | None) -> bytes:
    """Mode 3: values on the grid eps / 2**D, coded by the model's interpolation predictor."""
    bits = interp.grid_bits(half, eps)
    if bits < 2:  # a bound below ~2**-38 of the range: the grid would overflow; lossless is as small
        return _lossless(x)
    delta = eps / 2.0**bits
    items, sp = interp.split_shape(x.shape, model.decoder.ndim)
    x3 = x.reshape((items,) + sp)
    per = int(np.prod(sp))
    points: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {ck.SEC_NONFINITE: [], ck.SEC_EXCEPTIONS: []}

    def values(i0: int, i1: int) -> np.ndarray:
        v = x3[i0:i1].astype(np.float64)
        v -= mid
        v /= delta
        v[~np.isfinite(v)] = 0.0  # non-finite values are stored exactly; 0 is the mid value
        return v

    def done(i0: int, i1: int, rec: np.ndarray) -> None:
        orig = x3[i0:i1].reshape(-1)
        fin = np.isfinite(orig)
        y = _from_grid(rec, mid, delta, x.dtype).reshape(-1)
        with np.errstate(invalid="ignore"):
            bad = fin & ~(np.abs(y.astype(np.float64) - orig) <= eps)
        for kind, where in ((ck.SEC_EXCEPTIONS, bad), (ck.SEC_NONFINITE, ~fin)):
            pos = np.flatnonzero(where)
            if pos.size:
                points[kind].append((i0 * per + pos, orig[pos]))
        if progress:
            progress(orig.size)

    h = ck.ChunkHeader(ck.MODE_INTERP, x.dtype.newbyteorder("<"), x.shape, model.id, eps, mid, max(half, 1e-300), delta)
    if native.enabled():  # the same bytes, from C (tests/test_native.py compares both)
        xc = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
        group = interp.group_items(per)
        words, escapes, exc, nonfinite, sets = native.interp_handle(model.decoder).encode(
            xc, items, sp, mid, delta, eps, bits, group)
        flat = xc.reshape(-1)
        for kind, pos in ((ck.SEC_EXCEPTIONS, exc), (ck.SEC_NONFINITE, nonfinite)):
            if pos.size:
                points[kind].append((pos, flat[pos]))
        h.sections[ck.SEC_INTERP] = interp.pack_section(bits, group, words, escapes, model.decoder, sets)
        if progress:
            progress(x.size)
    else:
        h.sections[ck.SEC_INTERP] = interp.encode(values, items, sp, model.decoder, bits, done)
    return _finish(h, points, x)


def _finish(h: ck.ChunkHeader, points: dict, x: np.ndarray) -> bytes:
    """Add the exceptions and non-finite sections, pack, and for a chunk that came out large keep
    whichever of it and the lossless chunk is smaller (both encoders end here)."""
    for kind in (ck.SEC_EXCEPTIONS, ck.SEC_NONFINITE):
        if points[kind]:
            pos, vals = zip(*points[kind])
            h.sections[kind] = encode_points(np.concatenate(pos), np.concatenate(vals))
    out = ck.pack_chunk(h)
    # latents only too: a latent-only chunk of a few values can cost more than the values
    if len(out) > LOSSLESS_CHECK * x.nbytes:
        lossless = _lossless(x)
        if len(lossless) <= len(out):
            return lossless
    return out


def _from_grid(rec: np.ndarray, mid: float, delta: float, dtype) -> np.ndarray:
    """Grid units -> values, the same elementwise float64 operations in encoder and decoder."""
    y = rec.astype(np.float64)
    y *= delta
    y += mid
    return y.astype(dtype)


def _reconstruct_blocks(model: Model, q: np.ndarray, step: float, mid: float, half: float) -> np.ndarray:
    """The exact decoder path in block layout, shared by the encoder (for residuals) and decompress
    (elementwise operations give the same bits in either layout)."""
    xhat = model.decoder(q, step)
    xhat *= half
    xhat += mid
    return xhat


def decompress(data, model: Model | None = None, *, out: np.ndarray | None = None,
               progress: Progress | None = None) -> np.ndarray:
    """Decode one chunk. Without ``model`` the chunk's model id is looked up (registry,
    PHCOMP_MODEL_PATH, user cache). Needs only numpy, constriction and zstandard."""
    h = ck.parse_chunk(data)
    try:
        # adversarial header values (a huge half, a tiny step) may overflow to Inf in the float
        # stages: the result is then garbage of the declared shape, never a leaked warning
        with np.errstate(over="ignore", invalid="ignore"):
            return _decompress(h, model, out, progress, data)
    except MemoryError:
        raise PhcompError(f"chunk of shape {h.shape} ({h.dtype}) cannot be decoded: out of memory "
                          "(corrupt, or larger than this process may allocate)") from None


def _decompress(h: ck.ChunkHeader, model: Model | None, out: np.ndarray | None,
                progress: Progress | None, data) -> np.ndarray:
    result = np.empty(h.shape, h.dtype.newbyteorder("=")) if out is None else out
    if result.shape != h.shape or result.dtype != h.dtype or not result.flags.c_contiguous:
        raise PhcompError(f"out must be a C-contiguous {h.dtype} array of shape {h.shape}")
    flat = result.reshape(-1)
    if h.mode == ck.MODE_LOSSLESS:
        isz = h.dtype.itemsize
        raw = zstd_decompress(h.sections.get(ck.SEC_RAW, b""), h.size * isz, "lossless payload") if h.size else b""
        if h.size:
            flat.view(np.uint8)[:] = np.frombuffer(raw, np.uint8).reshape(isz, -1).T.reshape(-1)
        if progress:
            progress(h.size)
        return result
    if model is None:
        model = find_model(h.model_id)
    elif model.id != h.model_id:
        raise PhcompError(f"chunk was written with model {h.model_id}, but model {model.id} was given")
    if (h.mode == ck.MODE_INTERP) != model.predictive:
        raise PhcompError(f"chunk mode {ck.MODE_NAMES[h.mode]} does not match model kind {model.kind}")
    if native.enabled():
        # the whole chunk in C (native/src/chunk.c: sections and point lists too, which cost more
        # than a small chunk's decode in Python): the same bits as the paths below
        handle = native.interp_model(model.decoder) if h.mode == ck.MODE_INTERP else native.model_handle(model)
        native.decode_chunk_into(bytes(data) if not isinstance(data, bytes) else data, handle, result)
        if progress:
            progress(h.size)
        return result
    if h.mode == ck.MODE_INTERP:
        items, sp = interp.split_shape(h.shape, model.decoder.ndim)
        out3 = result.reshape((items,) + sp)
        bits, group, sets, words, escapes = interp.parse_section(h.sections[ck.SEC_INTERP], items, int(np.prod(sp)),
                                                                 model.decoder.sets)
        if h.step != h.eps / 2.0**bits:
            raise PhcompError("corrupt chunk: grid unit does not match the bound")

        def done(i0: int, i1: int, rec: np.ndarray) -> None:
            out3[i0:i1] = _from_grid(rec, h.mid, h.step, h.dtype)
            if progress:
                progress(rec.size)
        interp.decode_stream(bits, group, sets, words, escapes, items, sp, model.decoder, done)
    else:
        _decode_blocks(h, model, result, progress)
    for kind in (ck.SEC_EXCEPTIONS, ck.SEC_NONFINITE):
        if kind in h.sections:
            pos, vals = decode_points(h.sections[kind], h.size, h.dtype, ck.SECTION_NAMES[kind])
            flat[pos] = vals
    return result


def _decode_blocks(h: ck.ChunkHeader, model: Model, result: np.ndarray, progress: Progress | None) -> None:
    blocking = Blocking(h.shape, model.block)
    q = decode_latents(h.sections[ck.SEC_LATENT], blocking.nblocks, model.latent_dim, model.tables)
    qr = None
    if h.mode == ck.MODE_BOUNDED:
        kind = next(k for k in ck.RESIDUAL_KINDS if k in h.sections)
        qr = decode_residual(kind, h.sections[kind], h.size)
    two_eps = 2.0 * h.eps
    rv, b0 = blocking.view(result), blocking.block[0]
    for s in blocking.slabs():
        # the residual is added in block layout too, so the one transposing copy is the final cast
        acc = _reconstruct_blocks(model, q[s.block0 : s.block0 + s.nblocks], h.step, h.mid, h.half)
        if qr is not None:
            res = qr[s.elem0 : s.elem0 + s.nelems].reshape((s.b1 - s.b0, -1) + blocking.spatial[1:])
            acc += blocking.to_blocks(res, s) * two_eps
        rv[s.b0 : s.b1, s.r0 * b0 : s.r1 * b0] = blocking.from_blocks(acc, s)
        if progress:
            progress(s.nelems)
