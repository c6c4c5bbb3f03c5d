"""The native codec (native/, phcomp/core/native.py) against the numpy reference: the same
bytes out of the encoder, the same bits out of the decoder, on the frozen fixtures, on random
arrays of every shape class, on mutated chunks, whatever the thread count; and under
AddressSanitizer + UBSan."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import phcomp
from conftest import FIXTURES, frozen_index
from phcomp.core import native
from phcomp.core.model import default_model
from test_bound import SETTINGS, arrays, check_roundtrip
from test_fuzz import _assert_clean
from test_fuzz import _run as run_campaign
from test_interp import interp_models  # noqa: F401 -- the session fixture of trained interp models

ROOT = Path(__file__).resolve().parents[1]


class numpy_path:
    """PHCOMP_NATIVE=0 inside the block (the numpy reference), restored after."""

    def __enter__(self):
        self.old = os.environ.get("PHCOMP_NATIVE")
        os.environ["PHCOMP_NATIVE"] = "0"

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("PHCOMP_NATIVE", None)
        else:
            os.environ["PHCOMP_NATIVE"] = self.old


def _bits(y: np.ndarray) -> bytes:
    return y.dtype.str.encode() + str(y.shape).encode() + y.tobytes()


def test_native_codec_is_built():
    # CI installs with pip, which builds it: a missing library is a build failure, not a skip
    assert native.available(), native.why_unavailable()
    assert native.enabled()


@pytest.mark.parametrize("name", sorted(frozen_index(os.path.join(FIXTURES, "v1_interp"))["cases"]))
def test_frozen_interp_chunks_decode_to_the_same_bits(name):
    d = os.path.join(FIXTURES, "v1_interp")
    case = frozen_index(d)["cases"][name]
    model = phcomp.load_model(os.path.join(d, f"{case['model']}.phcm"))
    blob = Path(d, f"{name}.phc").read_bytes()
    expected = np.load(os.path.join(d, f"{name}.expected.npy"))
    y = phcomp.decompress(blob, model)
    with numpy_path():
        z = phcomp.decompress(blob, model)
    assert _bits(y) == _bits(z) == _bits(expected)


TRANSFORM_MODELS = {"separable 64x64 (field)": "792586205cbaa8a7", "separable 16^3": "9ec423a6181fef31",
                    "linear 8^3": "af8f9a63512d3b69", "linear 256": "be1e879a62b6010f",
                    "sparse-ae 256 (sas-coarse)": "f2d8d3cbac338cb9"}


def _zoo(model_id: str):
    from phcomp.core.model import ZOO_DIR

    return phcomp.load_model(ZOO_DIR / f"{model_id}.phcm")


def _frozen_cases():
    for sub in ("v1", "v1_additions"):
        index = frozen_index(os.path.join(FIXTURES, sub))
        for name, case in sorted(index["cases"].items()):
            if case.get("mode", 1) != 0:
                yield sub, name, case.get("model", "model")


@pytest.mark.parametrize("sub,name,model_file", list(_frozen_cases()))
def test_frozen_transform_chunks_decode_to_the_same_bits_in_c(sub, name, model_file):
    """The committed chunks of modes 1-2 (latent coders, residual kinds, linear and separable
    decoders): the whole-chunk C decoder (the HDF5 plugin's path), decompress (which calls it)
    and the numpy decoder give the committed bits."""
    d = os.path.join(FIXTURES, sub)
    model = phcomp.load_model(os.path.join(d, f"{model_file}.phcm"))
    blob = Path(d, f"{name}.phc").read_bytes()
    expected = np.load(os.path.join(d, f"{name}.expected.npy"))
    c = native.decode_chunk(blob, native.NativeModel(model.to_bytes()))
    y = phcomp.decompress(blob, model)
    with numpy_path():
        z = phcomp.decompress(blob, model)
    assert _bits(c) == _bits(y) == _bits(z) == _bits(expected)


@SETTINGS
@given(x=arrays(), rel=st.sampled_from([None, 1e-1, 1e-3, 1e-6]), which=st.sampled_from(sorted(TRANSFORM_MODELS)))
def test_transform_kinds_decode_to_numpys_bits_in_c(x, rel, which):
    """Random shapes (partial and tiny blocks, fewer dims than the block), dtypes, NaN/Inf and
    bounds through every transform decoder: C gives numpy's bits, and the bound holds."""
    model = _zoo(TRANSFORM_MODELS[which])
    blob = phcomp.compress(x, model, rel=rel)
    y = phcomp.decompress(blob, model)
    with numpy_path():
        z = phcomp.decompress(blob, model)
    assert _bits(y) == _bits(z)
    if rel is not None:
        fin = x[np.isfinite(x)].astype(np.float64)
        check_roundtrip(x, y, rel * (fin.max() - fin.min()) if fin.size else 0.0)


def _mirror_symmetric(axis) -> bool:
    """axis[k, b-1-s] == (-1)**k axis[k, s]: the C decoder's even/odd path for this axis"""
    a = np.asarray(axis)
    return bool((a[:, ::-1] == np.array([(-1) ** k for k in range(a.shape[0])])[:, None] * a).all())


@pytest.mark.parametrize("basis,block", [("dct", (5, 7)), ("dct", (3, 4, 5)), ("pca", (6, 9))])
def test_separable_even_odd_and_general_axes_decode_to_numpys_bits(basis, block):
    """The C separable decoder sums a mirror-symmetric axis (DCT) as even and odd halves, odd
    sizes' middle output included, and any other axis (PCA) directly: both give numpy's bits."""
    rng = np.random.default_rng(5)
    model = phcomp.train([np.cumsum(np.cumsum(rng.standard_normal((4, 40, 42)), 1), 2)], kind="separable",
                         block=block, basis=basis, groups=4)
    assert all(_mirror_symmetric(a) for a in model.decoder.axes) == (basis == "dct")
    x = np.cumsum(rng.standard_normal((3, 23, 31)), 2)
    for rel in (1e-1, 1e-3, 1e-6):
        blob = phcomp.compress(x, model, rel=rel)
        y = phcomp.decompress(blob, model)
        with numpy_path():
            z = phcomp.decompress(blob, model)
        assert _bits(y) == _bits(z), rel


def test_transform_decode_is_bit_identical_across_thread_counts():
    rng = np.random.default_rng(11)
    x = np.cumsum(np.cumsum(rng.standard_normal((6, 130, 140)), axis=1), axis=2)
    for model_id, bound in (("792586205cbaa8a7", {"rel": 1e-4}), ("9ec423a6181fef31", {"rel": 1e-3}), ("f2d8d3cbac338cb9", {})):
        model = _zoo(model_id)
        blob = phcomp.compress(x, model, **bound)
        handle = native.NativeModel(model.to_bytes())
        outs = {t: _bits(native.decode_chunk(blob, handle, threads=t)) for t in (1, 2, 3, 8)}
        with numpy_path():
            ref = _bits(phcomp.decompress(blob, model))
        assert set(outs.values()) == {ref}, model_id


def _both(x, model, **bound):
    blob = phcomp.compress(x, model, **bound)
    with numpy_path():
        ref = phcomp.compress(x, model, **bound)
        y_ref = phcomp.decompress(blob, model)
    assert blob == ref, "native encoder wrote other bytes than the numpy encoder"
    y = phcomp.decompress(blob, model)
    assert _bits(y) == _bits(y_ref), "native decoder gave other bits than the numpy decoder"
    return y


@SETTINGS
@given(x=arrays(), rel=st.sampled_from([1e-1, 1e-3, 1e-5, 1e-9]), dims=st.integers(1, 3))
def test_random_arrays_same_bytes_and_bits(interp_models, x, rel, dims):
    model = interp_models[dims]
    y = _both(x, model, rel=rel)
    fin = x[np.isfinite(x)].astype(np.float64)
    check_roundtrip(x, y, rel * (fin.max() - fin.min()) if fin.size else 0.0)


@pytest.mark.parametrize("name,shape,dtype", [
    ("field3d", (33, 17, 20), np.float32), ("field3d", (2, 9, 7, 5), np.float64), ("field3d", (40, 1, 3), np.float32),
    ("field3d", (6,), np.float64), ("field3d", (), np.float32), ("sas", (3, 301), np.float32), ("sas", (1000,), np.float64),
])
def test_shipped_defaults_same_bytes_and_bits(name, shape, dtype):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    for ax in range(x.ndim):
        x = np.cumsum(x, axis=ax)
    x = np.asarray(x, dtype)
    if x.size > 10:
        x.reshape(-1)[[1, 7]] = [np.nan, -np.inf]
        x.reshape(-1)[5] = 1e30  # an outlier: an exception point
    model = default_model(name)
    for bound in ({"rel": 1e-2}, {"rel": 1e-4}, {"abs": 1e-6}):
        y = _both(x, model, **bound)
        assert y.shape == x.shape


def test_big_endian_and_strided_input_same_bytes():
    model = default_model("field3d")
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal((20, 30, 24)), axis=1)
    x[2, 3, 4] = np.nan
    _both(x.astype(">f4"), model, rel=1e-3)
    _both(x[:, ::2, 1:], model, rel=1e-3)


def test_decode_is_bit_identical_across_thread_counts():
    model = default_model("field3d")
    rng = np.random.default_rng(4)
    x = np.cumsum(np.cumsum(rng.standard_normal((96, 80, 72)), axis=0), axis=2).astype(np.float32)
    h = phcomp.core.chunk.parse_chunk(phcomp.compress(x, model, rel=1e-3))
    items, sp = 1, x.shape
    bits, group, sets, words, escapes = phcomp.core.interp.parse_section(h.sections[8], items, h.size,
                                                                         model.decoder.sets)
    handle = native.interp_handle(model.decoder)
    outs = []
    for threads in (1, 2, 3, 7):
        out = np.empty(x.shape, np.float32)
        handle.decode(bits, group, items, sp, words, escapes, h.mid, h.step, out, threads=threads, sets=sets)
        outs.append(out.tobytes())
        enc = handle.encode(np.ascontiguousarray(x), items, sp, h.mid, h.step, h.eps, bits, group, threads=threads)
        assert np.array_equal(enc[0], words) and np.array_equal(enc[1], escapes)
    assert len(set(outs)) == 1


def test_lattice_width_never_changes_the_bits():
    """The C codec keeps its grids in 32-bit lattices when the values allow and in 64-bit ones
    otherwise. A group that turns out not to fit starts again wide: in the decoder when the
    header's range lies, in the encoder when a later group's values are wider. Neither changes
    a byte or a bit."""
    model = default_model("field3d")
    rng = np.random.default_rng(6)
    x = np.cumsum(rng.standard_normal((40, 36, 30)), axis=0)
    x_mid = x.copy()
    x_mid[0, 0, 0] = (x.min() + x.max()) / 2  # v = 0 at the origin: the lie shows only in a pass
    handle = native.interp_handle(model.decoder)
    for rel, x in ((1e-3, x), (1e-8, x), (1e-8, x_mid)):  # narrow, then wide lattices
        h = phcomp.core.chunk.parse_chunk(phcomp.compress(x, model, rel=rel))
        bits, group, sets, words, escapes = phcomp.core.interp.parse_section(h.sections[8], 1, h.size,
                                                                             model.decoder.sets)
        outs, outs32 = set(), set()
        for half in (float("inf"), h.half, h.half * 1e-9):  # wide, the header's, a lie (narrow, then wide)
            out = np.empty(x.shape)
            handle.decode(bits, group, 1, x.shape, words, escapes, h.mid, h.step, out, sets=sets, half=half)
            outs.add(out.tobytes())
            out32 = np.empty(x.shape, np.float32)  # narrow float32: the output is the lattice
            handle.decode(bits, group, 1, x.shape, words, escapes, h.mid, h.step, out32, sets=sets, half=half)
            outs32.add(out32.tobytes())
        assert len(outs) == 1 and outs32 == {out.astype(np.float32).tobytes()}
    # 9 items of 64^3 are two groups of the encoder; the first spans 1e-6 of the range (narrow)
    y = rng.standard_normal((9, 64, 64, 64)).astype(np.float32)
    y[:8] *= 1e-6
    _both(y, model, rel=1e-8)


def test_chunks_decode_on_many_threads_at_once():
    """Nothing shared between calls but the C codec's zstd context cache and the Python side's
    per-thread zstd objects: chunks of both native paths (interp, and the transform kinds with
    their zstd frames) encoded and decoded concurrently (ctypes drops the GIL) give the bytes
    and bits they give one at a time."""
    rng = np.random.default_rng(5)
    for model in (default_model("field3d"), default_model("field")):
        xs = [np.cumsum(rng.standard_normal((24, 20, 16)), axis=0) for _ in range(12)]
        blobs = [phcomp.compress(x, model, rel=1e-3) for x in xs]
        serial = [_bits(phcomp.decompress(b, model)) for b in blobs]
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda b: _bits(phcomp.decompress(b, model)), blobs)) == serial
            assert list(pool.map(lambda x: phcomp.compress(x, model, rel=1e-3), xs)) == blobs


def test_phcomp_threads_setting():
    old = os.environ.get("PHCOMP_THREADS")
    try:
        os.environ["PHCOMP_THREADS"] = "3"
        assert native.thread_count() == 3
        assert native.thread_count(5) == 5
        os.environ["PHCOMP_THREADS"] = "many"
        with pytest.raises(phcomp.PhcompError, match="PHCOMP_THREADS"):
            native.thread_count()
    finally:
        if old is None:
            os.environ.pop("PHCOMP_THREADS", None)
        else:
            os.environ["PHCOMP_THREADS"] = old
    with pytest.raises(phcomp.PhcompError):
        native.thread_count(0)


def test_corrupt_model_arrays_are_refused_in_c():
    model = default_model("field3d")
    spec = model.decoder

    class Bad:
        ndim, exps, all_tables, ntables, sets = spec.ndim, spec.exps, spec.all_tables, spec.ntables, spec.sets
        weights, packed = spec.weights.copy(), None  # no packed frequencies: the tables below are what C gets
    Bad.weights[0, 0] = 1 << 40  # past the exact-arithmetic limit
    with pytest.raises(phcomp.PhcompError, match="weights too large"):
        native.NativeInterp(Bad)
    Bad.weights = spec.weights
    Bad.all_tables = spec.all_tables[:-1]
    with pytest.raises(phcomp.PhcompError, match="tables"):
        native.NativeInterp(Bad)
    Bad.all_tables, Bad.sets = list(spec.tables) * 17, 17  # a consistent count, but the C side refuses more than 16 sets
    with pytest.raises(phcomp.PhcompError, match="table sets"):
        native.NativeInterp(Bad)


def _campaign(extra_env: dict, cases: int, timeout: int, campaign: str = "chunks", limit: bool = True) -> dict:
    args = ("--only", "interp", "--compare") if campaign == "chunks" else ()
    return run_campaign(campaign, cases, 7, timeout, args, extra_env, limit)


def test_mutated_interp_chunks_native_and_numpy_agree():
    """Truncations, flips with a valid CRC, edited shapes and section sizes of interp chunks:
    the C decoder errs exactly where numpy does and otherwise gives the same bits."""
    result = _campaign({}, 1500, 600)
    assert result["native"], "the campaign did not run the native decoder"
    _assert_clean(result)


def test_mutated_chunks_whole_chunk_c_decoder_agrees():
    """The HDF5 plugin's path (native/src/chunk.c + model.c: header, CRC, sections, zstd, point
    lists, the model read from its container) against numpy on mutated lossless and interp chunks."""
    result = _campaign({}, 2000, 600, "chunks-c")
    _assert_clean(result)


def test_c_model_reader_refuses_corrupt_containers():
    data = default_model("field3d").to_bytes()
    native.NativeModel(data)  # the real one loads
    for bad in (data[:7], b"XX" + data[2:], data[:100], data[:-50], data[:12] + b"\xff\xff\xff\x7f" + data[16:]):
        with pytest.raises(phcomp.PhcompError):
            native.NativeModel(bad)
    native.NativeModel(default_model("field").to_bytes())  # a transform kind loads too
    from phcomp.core import container

    m = default_model("field")
    params = dict(m.params, decoder=dict(m.params["decoder"], type="wavelet_int"))
    header = {"kind": m.kind, "block": list(m.block), "params": params, "arrays": {}, "meta": {}}
    text = json.dumps(header).encode()
    unknown = b"PHCMODEL" + (1).to_bytes(4, "little") + len(text).to_bytes(4, "little") + text
    with pytest.raises(phcomp.PhcompError, match="decoder type is not known"):
        native.NativeModel(unknown + (0).to_bytes(8, "little") + container.zstd_compress(b""))


def test_c_model_reader_refuses_bad_table_arrays():
    """Containers that are well-formed but whose table arrays lie (an index past the frequency
    array, a zero frequency): the C reader refuses them with a message, the same as Python's."""
    from phcomp.core import container

    model = default_model("sas")  # one small interp model: every variant is quick to build
    arrays = {k: np.array(v) for k, v in model.arrays.items()}

    def c_load(**changed):
        a = dict(arrays, **changed)
        header, payload = container.build(model.kind, model.block, model.params, a, model.meta)
        return native.NativeModel(container.dumps(header, payload))

    c_load()  # unchanged, it loads
    index = arrays["tables.index"].copy()
    index[-1, 0] = arrays["tables.freq"].size - 1  # the last table runs past the array
    with pytest.raises(phcomp.PhcompError, match="outside the frequency array"):
        c_load(**{"tables.index": index})
    freq = arrays["tables.freq"].copy()
    freq[5] = 0
    with pytest.raises(phcomp.PhcompError, match="frequency table"):
        c_load(**{"tables.freq": freq})
    with pytest.raises(phcomp.PhcompError, match="interp arrays"):
        c_load(**{"tables.freq": freq.astype(np.int64)})


def _sanitizer_runtime() -> list[str]:
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        try:
            p = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
        except FileNotFoundError:
            return []
        if not os.path.isabs(p) or not os.path.exists(p):
            return []
        libs.append(p)
    return libs


def test_native_codec_under_address_and_ub_sanitizers(tmp_path):
    """The same sources built with -fsanitize=address,undefined (UB aborts), encoding the
    campaign's chunks and decoding its mutations: any out-of-bounds access, use after free or
    undefined behaviour kills the child."""
    runtime = _sanitizer_runtime()
    if not runtime:
        pytest.skip("gcc's sanitizer runtimes are not installed")
    lib = tmp_path / "libphcomp.so"
    sources = sorted(str(p) for p in (ROOT / "native" / "src").glob("*.c"))
    subprocess.run(["gcc", "-std=c11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                    "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-fPIC", "-shared",
                    f"-I{ROOT / 'native' / 'include'}", *sources, "-o", str(lib), "-lm", "-lpthread", "-ldl"], check=True)
    env = {"LD_PRELOAD": " ".join(runtime), "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "PHCOMP_NATIVE_LIB": str(lib)}
    for campaign, cases in (("chunks", 500), ("chunks-c", 800), ("encode-c", 600)):
        result = _campaign(env, cases, 600, campaign, limit=False)
        assert result["native"] == str(lib)
        _assert_clean(result)


_ISA_SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import phcomp
from phcomp.core.model import default_model
rng = np.random.default_rng(11)
out = []
for kind, shape, dtype, rel in (("field3d", (3, 40, 36, 30), np.float32, 1e-3), ("field3d", (40, 36, 30), np.float64, 1e-8),
                                 ("field3d", (2, 64, 50), np.float32, 1e-4), ("sas", (64, 256), np.float32, 1e-3)):
    m = default_model(kind)
    x = np.cumsum(rng.standard_normal(shape), axis=-1).astype(dtype)
    x.flat[::97] = np.nan
    x.flat[5] = np.inf
    blob = phcomp.compress(x, m, rel=rel)
    y = phcomp.decompress(blob, m)
    out.append([hashlib.sha256(blob).hexdigest(), hashlib.sha256(y.tobytes()).hexdigest()])
json.dump(out, sys.stdout)
"""


def test_baseline_and_avx2_stages_agree():
    """The interp predictor's vectorised stage has an AVX2 copy and a baseline (SSE2) one, picked
    per CPU. Both must write the same bytes and decode the same bits; PHCOMP_NATIVE_ISA=baseline
    forces the baseline copy here (on a CPU without AVX2 both runs take it)."""
    runs = {}
    for isa in ("baseline", "auto"):
        env = dict(os.environ, PHCOMP_NATIVE_ISA=isa)
        done = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs[isa] = json.loads(done.stdout)
    assert runs["baseline"] == runs["auto"]
