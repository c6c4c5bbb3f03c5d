"""The native codec (native/, C11) through ctypes: interpolation chunks encode and decode in C,
the transform kinds' chunks decode in C (every kind) and encode in C (linear, separable).

The shared library ``phcomp/core/libphcomp.so`` is built by setup.py from native/src (the same
sources the HDF5 plugin and the ADIOS2 operator are to link). ctypes releases the GIL during
each call, so chunks encode and decode in parallel on threads. The numpy implementation in
interp.py, decoder.py and the coders stay the reference: tests compare both on random and
mutated chunks (the same bits decoded; interp chunks byte for byte).

``PHCOMP_NATIVE=0`` turns the native path off (numpy only); without the library (a source
tree that was never built) phcomp falls back to numpy and ``available()`` says why.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from pathlib import Path

import numpy as np

from .errors import PhcompError

# PHCOMP_NATIVE_LIB: another build of the same sources (the tests load a sanitizer build)
_LIB_PATH = Path(os.environ.get("PHCOMP_NATIVE_LIB") or Path(__file__).with_name("libphcomp.so"))
_c_i64p = ctypes.POINTER(ctypes.c_int64)
_c_u32p = ctypes.POINTER(ctypes.c_uint32)
_c_i32p = ctypes.POINTER(ctypes.c_int32)
_c_u64p = ctypes.POINTER(ctypes.c_uint64)
_ERRLEN = 512
TRANSFORM_KINDS_ENCODED = ("linear", "separable")  # the transform kinds whose chunks phc_chunk_encode writes
_lock = threading.RLock()  # reentrant: interp_handle holds it while the library loads
_lib = None
_why = ""


class _Stream(ctypes.Structure):
    _fields_ = [("words", _c_u32p), ("nwords", ctypes.c_size_t), ("escapes", _c_i64p), ("nesc", ctypes.c_size_t),
                ("exceptions", _c_i64p), ("nexceptions", ctypes.c_size_t), ("nonfinite", _c_i64p),
                ("nnonfinite", ctypes.c_size_t), ("sets", ctypes.POINTER(ctypes.c_uint8)), ("nsets", ctypes.c_size_t)]


class ChunkInfo(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("dtype", ctypes.c_int), ("itemsize", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_uint64 * 8), ("nvalues", ctypes.c_uint64), ("model_id", ctypes.c_char * 17)]


def _load():
    global _lib, _why
    if _lib is not None or _why:
        return _lib
    with _lock:
        if _lib is not None or _why:
            return _lib
        try:
            lib = ctypes.CDLL(str(_LIB_PATH))
        except OSError as e:
            _why = f"native codec not built ({e}); run `pip install -e .` or `python setup.py build_ext --inplace`"
            return None
        lib.phc_version.restype = ctypes.c_int
        lib.phc_interp_new.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int, _c_i64p, _c_i32p,
                                       _c_i32p, ctypes.c_int, ctypes.c_int, _c_i64p, _c_u32p, _c_u32p, ctypes.c_char_p,
                                       ctypes.c_size_t]
        lib.phc_interp_free.argtypes = [ctypes.c_void_p]
        lib.phc_interp_free.restype = None
        lib.phc_interp_stream_free.argtypes = [ctypes.POINTER(_Stream)]
        lib.phc_interp_stream_free.restype = None
        lib.phc_interp_encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int,
                                          _c_i64p, ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_int,
                                          ctypes.c_int64, ctypes.c_int, ctypes.POINTER(_Stream), ctypes.c_char_p,
                                          ctypes.c_size_t]
        lib.phc_interp_decode.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int,
                                          _c_i64p, _c_u32p, ctypes.c_size_t, _c_i64p, ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.c_double, ctypes.c_double,
                                          ctypes.c_double, ctypes.c_int, ctypes.c_int,
                                          ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.phc_model_new.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                      ctypes.c_size_t]
        lib.phc_model_free.argtypes = [ctypes.c_void_p]
        lib.phc_model_wrap_interp.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_double]
        lib.phc_model_free.restype = None
        lib.phc_chunk_decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        lib.phc_chunk_inspect.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ChunkInfo), ctypes.c_char_p,
                                          ctypes.c_size_t]
        lib.phc_chunk_bound.argtypes = [ctypes.c_int, ctypes.c_int, _c_u64p]
        lib.phc_chunk_bound.restype = ctypes.c_size_t
        lib.phc_chunk_encode.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, _c_u64p, ctypes.c_void_p,
                                         ctypes.c_char_p, ctypes.c_double, ctypes.c_double, ctypes.c_int,
                                         ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                                         ctypes.c_char_p, ctypes.c_size_t]
        lib.phc_zstd_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        _lib = lib
        return lib


def available() -> bool:
    """Whether the native codec is built and loadable (PHCOMP_NATIVE=0 is not consulted)."""
    return _load() is not None


def why_unavailable() -> str:
    _load()
    return _why


def enabled() -> bool:
    """Whether encoders and decoders use the native codec now (built, and not PHCOMP_NATIVE=0)."""
    return os.environ.get("PHCOMP_NATIVE", "1") != "0" and available()


def _ptr(a: np.ndarray, t):
    return a.ctypes.data_as(t)


def _raise(rc: int, buf) -> None:
    msg = buf.value.decode("utf-8", "replace") or f"native codec error {rc}"
    raise PhcompError(msg)


class NativeInterp:
    """The C copy of an InterpSpec (weights, context exponents, tables), built once per model."""

    def __init__(self, spec) -> None:
        lib = _load()
        if lib is None:
            raise PhcompError(_why)
        self._lib = lib
        self.ndim = spec.ndim
        self.sets = spec.sets
        w = np.ascontiguousarray(spec.weights, np.int64)
        nexps = np.array([len(e) for e in spec.exps], np.int32)
        exps = np.array([v for e in spec.exps for v in e] or [0], np.int32)
        tables = spec.all_tables  # every table set, set after set
        if len(tables) != spec.ntables * spec.sets:  # the C side reads exactly that many
            raise PhcompError(f"corrupt model: {len(tables)} tables for {spec.sets} set(s) of {spec.ntables}")
        lo = np.array([t.lo for t in tables], np.int64)
        nfreq = np.array([t.freq.size for t in tables], np.uint32)
        # a loaded model hands over its one array of frequencies (~10^8 bytes with table sets) uncopied
        freq = spec.packed
        if freq is None or freq.size != int(nfreq.sum(dtype=np.int64)):
            freq = np.concatenate([t.freq for t in tables]).astype(np.uint32)
        handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRLEN)
        rc = lib.phc_interp_new(ctypes.byref(handle), spec.ndim, len(w), _ptr(w, _c_i64p), _ptr(nexps, _c_i32p),
                                _ptr(exps, _c_i32p), spec.ntables, spec.sets, _ptr(lo, _c_i64p), _ptr(nfreq, _c_u32p),
                                _ptr(freq, _c_u32p), err, _ERRLEN)
        if rc:
            _raise(rc, err)
        self._h = handle

    def __del__(self) -> None:
        h = getattr(self, "_h", None)
        if h:
            self._lib.phc_interp_free(h)
            self._h = None

    def encode(self, x: np.ndarray, items: int, spatial: tuple[int, ...], mid: float, delta: float, eps: float,
               bits: int, group: int, threads: int | None = None):
        """(words uint32, escapes int64, exception positions, non-finite positions, table set
        per item group uint8) of a C-contiguous native-order float32/float64 array."""
        code = {4: 1, 8: 2}[x.dtype.itemsize]
        sp = np.array(spatial or [1], np.int64)
        s = _Stream()
        err = ctypes.create_string_buffer(_ERRLEN)
        rc = self._lib.phc_interp_encode(self._h, x.ctypes.data, code, items, len(spatial), _ptr(sp, _c_i64p),
                                         mid, delta, eps, bits, group, thread_count(threads), ctypes.byref(s),
                                         err, _ERRLEN)
        if rc:
            _raise(rc, err)
        try:
            return tuple(_copy(p, n, dt) for p, n, dt in ((s.words, s.nwords, np.uint32), (s.escapes, s.nesc, np.int64),
                                                          (s.exceptions, s.nexceptions, np.int64),
                                                          (s.nonfinite, s.nnonfinite, np.int64),
                                                          (s.sets, s.nsets, np.uint8)))
        finally:
            self._lib.phc_interp_stream_free(ctypes.byref(s))

    def decode(self, bits: int, group: int, items: int, spatial: tuple[int, ...], words: np.ndarray,
               escapes: np.ndarray, mid: float, delta: float, out: np.ndarray, threads: int | None = None,
               sets: np.ndarray | None = None, half: float = float("inf")) -> None:
        """Decode into ``out`` (C-contiguous, native order, items x spatial values). ``half`` (the
        chunk header's) only picks the C decoder's lattice width: the result is the same."""
        if not (out.flags.c_contiguous and out.dtype.isnative):
            raise PhcompError("native decode needs a C-contiguous native-order output array")
        code = {4: 1, 8: 2}[out.dtype.itemsize]
        sp = np.array(spatial or [1], np.int64)
        group = min(int(group), max(int(items), 1))  # a u64 group past the items is one group (fits int64)
        w = np.ascontiguousarray(words, np.uint32)
        e = np.ascontiguousarray(escapes, np.int64)
        k = np.ascontiguousarray(np.zeros(0, np.uint8) if sets is None or self.sets == 1 else sets, np.uint8)
        err = ctypes.create_string_buffer(_ERRLEN)
        rc = self._lib.phc_interp_decode(self._h, bits, group, items, len(spatial), _ptr(sp, _c_i64p),
                                         _ptr(w, _c_u32p), w.size, _ptr(e, _c_i64p), e.size,
                                         _ptr(k, ctypes.POINTER(ctypes.c_uint8)), k.size, mid, delta, half, code,
                                         thread_count(threads), out.ctypes.data, err, _ERRLEN)
        if rc:
            _raise(rc, err)


_CALLER = threading.local()


@contextlib.contextmanager
def threads_per_call(n: int):
    """Inside the block (this thread only), calls that are not given ``threads`` use ``n``: for
    callers that already run one call per thread (a pool encoding chunks side by side)."""
    old = getattr(_CALLER, "n", None)
    _CALLER.n = n
    try:
        yield
    finally:
        _CALLER.n = old


def thread_count(threads: int | None = None) -> int:
    """Threads for one call: ``threads``, else the ``threads_per_call`` of this thread, else
    PHCOMP_THREADS, else the cores this process may use."""
    if threads is None:
        threads = getattr(_CALLER, "n", None)
    if threads is None:
        env = os.environ.get("PHCOMP_THREADS", "").strip()
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise PhcompError(f"PHCOMP_THREADS must be a whole number, got {env!r}") from None
        else:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads < 1:
        raise PhcompError(f"threads must be >= 1, got {threads}")
    return min(int(threads), 256)


def _copy(p, n: int, dtype) -> np.ndarray:
    if not n:
        return np.zeros(0, dtype)
    return np.ctypeslib.as_array(p, shape=(n,)).astype(dtype, copy=True)


def _kept(owner, attr: str, make):
    """owner.<attr>, made by make() on first use and kept there (once, whatever the threads)."""
    h = getattr(owner, attr, None)
    if h is None:
        with _lock:
            h = getattr(owner, attr, None)
            if h is None:
                h = make()
                setattr(owner, attr, h)
    return h


def interp_handle(spec) -> NativeInterp:
    """The spec's native handle, made on first use (one per model; thread-safe)."""
    return _kept(spec, "_native", lambda: NativeInterp(spec))


class InterpModel:
    """A C model (phc_model) over a spec's NativeInterp, for the whole-chunk decoder: the
    chunk's header, sections and point lists read in C, without a second copy of the tables."""

    def __init__(self, interp: NativeInterp, default_rel: float = 0.0) -> None:
        self._interp = interp  # the C model borrows its tables: keep them alive as long
        self._lib = interp._lib
        h = ctypes.c_void_p()
        rc = self._lib.phc_model_wrap_interp(ctypes.byref(h), interp._h, default_rel)
        if rc:
            _raise(rc, ctypes.create_string_buffer(b"cannot wrap the interp model"))
        self._h = h

    def __del__(self) -> None:
        h = getattr(self, "_h", None)
        if h:
            self._lib.phc_model_free(h)
            self._h = None


def interp_model(spec) -> InterpModel:
    """The spec's whole-chunk C model (over interp_handle's tables), made on first use."""
    return _kept(spec, "_native_model", lambda: InterpModel(interp_handle(spec)))


class NativeModel:
    """A model container loaded by the C reader (native/src/model.c): what the HDF5 plugin
    uses in hosts without Python, and what decompress uses for the transform kinds (modes 1-2)."""

    def __init__(self, data: bytes) -> None:
        lib = _load()
        if lib is None:
            raise PhcompError(_why)
        self._lib = lib
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRLEN)
        rc = lib.phc_model_new(ctypes.byref(h), data, len(data), err, _ERRLEN)
        if rc:
            _raise(rc, err)
        self._h = h

    def __del__(self) -> None:
        h = getattr(self, "_h", None)
        if h:
            self._lib.phc_model_free(h)
            self._h = None


_DTYPE_OF_CODE = {1: "<f4", 2: "<f8", 3: "|i1", 4: "<i2", 5: "<i4", 6: "<i8", 7: "|u1", 8: "<u2", 9: "<u4", 10: "<u8"}


def zstd_decompress(frame: bytes, expected: int) -> bytes:
    """One zstd frame of exactly ``expected`` bytes decoded by the libzstd the C codec uses
    (Debian's, resolved at run time), not the one bundled with the zstandard package."""
    lib = _load()
    if lib is None:
        raise PhcompError(_why)
    out = ctypes.create_string_buffer(max(expected, 1))
    err = ctypes.create_string_buffer(_ERRLEN)
    if lib.phc_zstd_decompress(out, expected, frame, len(frame), b"frame", err, _ERRLEN):
        _raise(-1, err)
    return out.raw[:expected]


def model_handle(model) -> NativeModel:
    """The C reader's copy of a transform-kind Model (from its container bytes), made on first
    use and kept with the model (thread-safe)."""
    return _kept(model, "_native_model", lambda: NativeModel(model.to_bytes()))


def decode_chunk_into(data: bytes, model: NativeModel | None, out: np.ndarray, threads: int | None = None) -> None:
    """A whole chunk decoded in C into ``out`` (C-contiguous, native order, the chunk's shape and
    dtype: the caller has parsed the header)."""
    lib = _load()
    if lib is None:
        raise PhcompError(_why)
    if not (out.flags.c_contiguous and out.dtype.isnative):
        raise PhcompError("native decode needs a C-contiguous native-order output array")
    err = ctypes.create_string_buffer(_ERRLEN)
    rc = lib.phc_chunk_decode(data, len(data), model._h if model else None, out.ctypes.data, out.nbytes,
                              thread_count(threads), err, _ERRLEN)
    if rc:
        _raise(rc, err)


def decode_chunk(data: bytes, model: NativeModel | None = None, threads: int | None = None) -> np.ndarray:
    """A whole chunk decoded in C (every mode): the HDF5 plugin's path."""
    lib = _load()
    if lib is None:
        raise PhcompError(_why)
    data = bytes(data)
    info = ChunkInfo()
    err = ctypes.create_string_buffer(_ERRLEN)
    rc = lib.phc_chunk_inspect(data, len(data), ctypes.byref(info), err, _ERRLEN)
    if rc:
        _raise(rc, err)
    shape = tuple(info.shape[i] for i in range(info.ndim))
    from .limits import admits

    if not admits(info.nvalues):  # a host passes its own buffer; here the declared shape is allocated
        raise PhcompError(f"chunk declares {info.nvalues} values, more than this process may decode")
    out = np.empty(shape, np.dtype(_DTYPE_OF_CODE[info.dtype]))
    decode_chunk_into(data, model, out, threads)
    return out


_CODE_OF_DTYPE = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPE_OF_CODE.items()}


def encode_chunk(x: np.ndarray, model: NativeModel | None = None, model_id: str | None = None, *,
                 abs: float | None = None, rel: float | None = None, threads: int | None = None) -> bytes:
    """A whole chunk written in C (native/src/chunk_write.c): the ADIOS2 operator's path."""
    lib = _load()
    if lib is None:
        raise PhcompError(_why)
    for name, v in (("abs", abs), ("rel", rel)):
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise PhcompError(f"{name} must be finite and >= 0, got {v}")
    x = np.ascontiguousarray(x, dtype=np.asarray(x).dtype.newbyteorder("="))
    code = _CODE_OF_DTYPE.get(x.dtype)
    if code is None:
        raise PhcompError(f"phcomp cannot store arrays of dtype {x.dtype}")
    shape = np.array(x.shape or (1,), np.uint64)
    cap = lib.phc_chunk_bound(code, x.ndim, _ptr(shape, _c_u64p))
    if not cap:
        raise PhcompError(f"cannot encode an array of shape {x.shape}")
    out = np.empty(cap, np.uint8)  # not create_string_buffer: zeroing the whole bound cost 5 % of a large chunk
    n = ctypes.c_size_t()
    err = ctypes.create_string_buffer(_ERRLEN)
    rc = lib.phc_chunk_encode(x.ctypes.data, code, x.ndim, _ptr(shape, _c_u64p), model._h if model else None,
                              model_id.encode() if model_id else None, -1.0 if abs is None else float(abs),
                              -1.0 if rel is None else float(rel), thread_count(threads), out.ctypes.data, cap,
                              ctypes.byref(n), err, _ERRLEN)
    if rc:
        _raise(rc, err)
    return out[: n.value].tobytes()
