"""The ADIOS2 operator (plugins/adios2/, phcomp/adios2.py) through the adios2 package: BP files
written with the operator and read back with a plain adios2.FileReader in a fresh process
(after `import phcomp` only), by a C++ host with no Python, with the model found inside the
output; the bound as a property; corrupt blocks, missing models and failures give clear errors
or a lossless block, never garbage."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import phcomp
import phcomp.adios2 as pa
from test_bound import SETTINGS, arrays, check_roundtrip
from test_interp import interp_models  # noqa: F401 -- the session fixture of trained interp models

adios2 = pytest.importorskip("adios2")
pytestmark = pytest.mark.skipif(not (pa.plugin_dir() / "libphcomp_adios2.so").exists(),
                                reason="the ADIOS2 operator is not built")
ROOT = Path(__file__).resolve().parents[1]


def field(shape=(24, 28, 32), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    for ax in range(len(shape)):
        x = np.cumsum(x, axis=ax)
    return x.astype(dtype)


def write(path, arrays_by_step, op, name="u"):
    with adios2.Stream(str(path), "w") as s:
        for x, _ in zip(arrays_by_step, s.steps(len(arrays_by_step))):
            s.write(name, x, list(x.shape), [0] * x.ndim, list(x.shape), operations=[op])


def bp_bytes(path) -> int:
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())


def read_fresh(path, name="u", env=None, steps=None):
    """A plain adios2.FileReader read in a new interpreter that has only imported phcomp."""
    out = Path(str(path) + ".npy")
    sel = "" if steps is None else f", step_selection={list(steps)!r}"
    code = (f"import numpy as np, phcomp, adios2\n"
            f"with adios2.FileReader({str(path)!r}) as r:\n"
            f"    np.save({str(out)!r}, r.read({name!r}{sel}))\n")
    e = dict(os.environ, **(env or {}))
    e.pop("ADIOS2_PLUGIN_PATH", None)  # `import phcomp` must set it
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)
    return p, (np.load(out) if p.returncode == 0 else None)


def test_write_and_read_in_a_fresh_process_within_the_bound(tmp_path):
    xs = [field(seed=k) for k in range(3)]
    path = tmp_path / "gs.bp"
    write(path, xs, pa.operation(rel=1e-3))
    p, y = read_fresh(path, steps=(0, 3))
    assert p.returncode == 0, p.stderr
    y = y.reshape((3,) + xs[0].shape)
    for k, x in enumerate(xs):
        assert np.abs(y[k] - x).max() <= 1e-3 * np.ptp(x)
    assert bp_bytes(path) * 3 < sum(x.nbytes for x in xs)  # compressed, and not raw bytes
    # the shipped default model travels with the output
    assert (path / pa.MODELS_DIR / f"{phcomp.default_model('field3d').id}.phcm").is_file()


@pytest.mark.parametrize("model_id", ["792586205cbaa8a7", "af8f9a63512d3b69"])  # separable (field), linear 8^3
def test_transform_kinds_write_through_the_operator(tmp_path, model_id):
    """The operator writes linear and separable chunks in C too (no Python while writing);
    a fresh process reads them within the bound."""
    from phcomp.core.model import ZOO_DIR

    model = phcomp.load_model(ZOO_DIR / f"{model_id}.phcm")
    xs = [field(seed=k, dtype=np.float32) for k in range(2)]
    path = tmp_path / "t.bp"
    write(path, xs, pa.operation(model, rel=1e-3))
    p, y = read_fresh(path, steps=(0, 2))
    assert p.returncode == 0, p.stderr
    y = y.reshape((2,) + xs[0].shape)
    for k, x in enumerate(xs):
        assert np.abs(y[k].astype(np.float64) - x).max() <= 1e-3 * np.ptp(x)
    assert bp_bytes(path) < sum(x.nbytes for x in xs)  # compressed (rough 3-D data for these block models)
    assert (path / pa.MODELS_DIR / f"{model.id}.phcm").is_file()


def test_add_operation_on_variables_blocks_and_float32(tmp_path):
    """The low-level API: two blocks of one global array, float32, an absolute bound."""
    x = field((20, 30, 16), seed=4, dtype=np.float32)
    path = tmp_path / "blocks.bp"
    ad = adios2.Adios()
    io = ad.declare_io("w")
    var = io.define_variable("t", x, list(x.shape), [0, 0, 0], [10, 30, 16])
    pa.add_operation(var, abs=0.05)
    with io.open(str(path), adios2.bindings.Mode.Write) as eng:
        eng.begin_step()
        for i in (0, 10):
            var.set_selection([[i, 0, 0], [10, 30, 16]])
            eng.put(var, np.ascontiguousarray(x[i : i + 10]), adios2.bindings.Mode.Sync)
        eng.end_step()
    p, y = read_fresh(path, "t")
    assert p.returncode == 0, p.stderr
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y.astype(np.float64) - x).max() <= 0.05


def test_custom_model_found_inside_the_output_on_another_machine(tmp_path, interp_models):
    """Only the BP directory travels: no cache, no PHCOMP_MODEL_PATH at the reader."""
    model = interp_models[3]
    x = field((16, 16, 16), seed=2)
    path = tmp_path / "w" / "out.bp"
    path.parent.mkdir()
    write(path, [x], pa.operation(model, rel=1e-4))
    moved = tmp_path / "elsewhere" / "out.bp"
    shutil.copytree(path, moved)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    env = {"XDG_CACHE_HOME": str(tmp_path / "empty-cache")}
    p, y = read_fresh(moved, env=env)
    assert p.returncode == 0, p.stderr
    assert np.abs(y - x).max() <= 1e-4 * np.ptp(x)
    # without the output's copy of the model the error names the id and every place searched
    shutil.rmtree(moved / pa.MODELS_DIR)
    p, _ = read_fresh(moved, env=env)
    assert p.returncode != 0
    assert f"model {model.id} not found" in p.stderr and "empty-cache" in p.stderr
    assert f"out.bp/{pa.MODELS_DIR}/{model.id}.phcm" in p.stderr


def test_cxx_host_without_python_reads_the_output(tmp_path):
    """A C++ program linked against the wheel's libadios2 reads through the operator with no
    Python anywhere: PATH holds no interpreter, PHCOMP_PYTHON points at nothing."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no C++ compiler")
    site = Path(adios2.__file__).resolve().parent
    exe = tmp_path / "adios2_read"
    subprocess.run([gxx, "-std=c++14", "-O1", "-isystem", str(site / "include"), str(ROOT / "tests/hosts/adios2_read.cpp"),
                    "-o", str(exe), f"-L{site}", "-ladios2_cxx", "-ladios2_core", f"-Wl,-rpath,{site}",
                    f"-Wl,-rpath-link,{site.parent / 'adios2.libs'}"], check=True, capture_output=True)
    xs = [field(seed=7), field(seed=8)]
    path = tmp_path / "c.bp"
    write(path, xs, pa.operation(rel=1e-3))
    raw = tmp_path / "out.raw"
    env = {"PATH": str(tmp_path / "no-bin"), "HOME": str(tmp_path / "home"), "PHCOMP_PYTHON": "/nonexistent/python",
           "ADIOS2_PLUGIN_PATH": str(pa.plugin_dir())}
    p = subprocess.run([str(exe), str(path), "u", str(raw)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    y = np.fromfile(raw, np.float64).reshape((2,) + xs[0].shape)
    for k, x in enumerate(xs):
        assert np.abs(y[k] - x).max() <= 1e-3 * np.ptp(x)


@SETTINGS
@given(x=arrays(), rel=st.sampled_from([1e-1, 1e-3, 1e-6, 0.0]))
def test_bound_holds_through_the_operator(tmp_path_factory, x, rel):
    path = tmp_path_factory.mktemp("prop") / "p.bp"
    write(path, [x], pa.operation(rel=rel))
    with adios2.FileReader(str(path)) as r:
        y = r.read("u")
    y = y.reshape(x.shape).astype(x.dtype)
    fin = x[np.isfinite(x)].astype(np.float64)
    check_roundtrip(x, y, rel * float(np.ptp(fin)) if fin.size else 0.0)


def test_corrupt_and_truncated_blocks_raise(tmp_path):
    x = field((32, 32), seed=3)
    path = tmp_path / "c.bp"
    write(path, [x], pa.operation(rel=1e-4))
    data = (path / "data.0").read_bytes()
    at = data.find(b"PHCA")
    assert at >= 0
    for offset, what in ((at + 200, "CRC32"), (at + 10, "header"), (at, "not a phcomp block")):
        bad = bytearray(data)
        bad[offset] ^= 0x5A
        (path / "data.0").write_bytes(bytes(bad))
        with pytest.raises(Exception, match=what):
            with adios2.FileReader(str(path)) as r:
                r.read("u")
    (path / "data.0").write_bytes(data)
    with adios2.FileReader(str(path)) as r:
        assert np.abs(r.read("u") - x).max() <= 1e-4 * np.ptp(x)


def test_failure_in_operate_stores_the_block_losslessly_and_warns_once(tmp_path):
    """A model that cannot be found (or observables, not checked in C++) must not corrupt the
    engine: the block is stored in phcomp's lossless mode, with one warning."""
    x = field((16, 16, 16), seed=5)
    path = tmp_path / "f.bp"
    code = (f"import numpy as np, phcomp, adios2\n"
            f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
            f"op = ('plugin', {{'PluginName': 'phcomp', 'PluginLibrary': 'phcomp_adios2', 'rel': '1e-3', "
            f"'model': '0123456789abcdef'}})\n"
            f"with adios2.Stream({str(path)!r}, 'w') as s:\n"
            f"    for _ in s.steps(2):\n"
            f"        s.write('u', x, list(x.shape), [0, 0, 0], list(x.shape), operations=[op])\n")
    np.save(tmp_path / "x.npy", x)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("phcomp ADIOS2 operator: warning") == 1 and "0123456789abcdef" in p.stderr
    p, y = read_fresh(path, steps=(0, 2))
    assert p.returncode == 0, p.stderr
    assert np.array_equal(y.reshape((2,) + x.shape), np.stack([x, x]))


def test_python_side_errors_are_clear():
    with pytest.raises(phcomp.PhcompError, match="observables"):
        pa.operation(rel=1e-3, observables={"energy": 1e-4})
    with pytest.raises(phcomp.PhcompError, match="rel must be finite"):
        pa.operation(rel=-1)
    with pytest.raises(phcomp.PhcompError, match="interp, linear or separable"):
        pa.operation(phcomp.default_model("sas-coarse"), rel=1e-3)
    with pytest.raises(phcomp.PhcompError, match="adios2 Variable"):
        pa.add_operation(object(), rel=1e-3)


def test_import_phcomp_sets_the_plugin_path():
    code = "import os, phcomp; print(os.environ['ADIOS2_PLUGIN_PATH'])"
    env = {k: v for k, v in os.environ.items() if k != "ADIOS2_PLUGIN_PATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert Path(out.strip()) == pa.plugin_dir()


ASAN_CHILD = """
import numpy as np, adios2, phcomp.adios2 as pa, os, sys
rng = np.random.default_rng(0)
out = sys.argv[1]
x = np.cumsum(np.cumsum(rng.standard_normal((20, 24, 28)), 0), 2)
x[1, 2, 3] = np.nan
for k, (dtype, op) in enumerate([(np.float64, pa.operation(rel=1e-3)), (np.float32, pa.operation(abs=0.1)),
                                 (np.float64, pa.operation(rel=0)),
                                 (np.float64, ("plugin", {"PluginName": "phcomp", "PluginLibrary": "phcomp_adios2",
                                                          "model": "0123456789abcdef"}))]):
    p = f"{out}/a{k}.bp"
    y0 = x.astype(dtype)
    with adios2.Stream(p, "w") as s:
        for _ in s.steps(1):
            s.write("u", y0, list(y0.shape), [0, 0, 0], list(y0.shape), operations=[op])
    with adios2.FileReader(p) as r:
        y = r.read("u")
    assert y.shape == y0.shape and np.isnan(y[1, 2, 3])
    data = open(f"{p}/data.0", "rb").read()
    at = data.find(b"PHCA")
    for cut in (5, 30, 100, len(data) - at - 7):  # flips at several depths, then a truncated block
        bad = bytearray(data)
        bad[at + cut] ^= 0x41
        open(f"{p}/data.0", "wb").write(bytes(bad))
        try:
            with adios2.FileReader(p) as r:
                r.read("u")
        except Exception as e:
            assert "phcomp" in str(e), e
first = os.environ["ADIOS2_PLUGIN_PATH"].split(os.pathsep)[0]
assert any(first in line for line in open("/proc/self/maps")), "the sanitized operator was not the one loaded"
print("clean")
"""


def test_operator_under_address_and_ub_sanitizers(tmp_path):
    """The operator and the codec sources built with -fsanitize=address,undefined, loaded by the
    adios2 package: writes of every path (interp, float32, lossless, the fallback) and reads of
    corrupt blocks must finish without a sanitizer report."""
    from test_native import _sanitizer_runtime

    runtime = _sanitizer_runtime()
    if not runtime or shutil.which("g++") is None:
        pytest.skip("gcc's sanitizer runtimes or g++ are not installed")
    site = Path(adios2.__file__).resolve().parent
    lib = tmp_path / "plugin" / "libphcomp_adios2.so"
    lib.parent.mkdir()
    sanitize = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer",
                "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-fPIC"]
    objs = []
    for src in sorted((ROOT / "native" / "src").glob("*.c")) + sorted((ROOT / "plugins" / "adios2").glob("*.cpp")):
        obj = tmp_path / (src.stem + ".o")
        cc = ["gcc", "-std=c11"] if src.suffix == ".c" else ["g++", "-std=c++14", "-isystem", str(site / "include")]
        subprocess.run([*cc, *sanitize, f"-I{ROOT / 'native' / 'include'}", f"-I{ROOT / 'native' / 'src'}", "-c",
                        str(src), "-o", str(obj)], check=True)
        objs.append(str(obj))
    subprocess.run(["g++", "-shared", "-fsanitize=address,undefined", *objs, "-o", str(lib), "-ldl", "-lpthread", "-lm"],
                   check=True)
    # the sanitized copy first on the plugin path (import phcomp appends the installed one after it)
    env = dict(os.environ, LD_PRELOAD=" ".join(runtime), ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               ADIOS2_PLUGIN_PATH=str(lib.parent), PHCOMP_MODEL_PATH=str(ROOT / "phcomp" / "zoo"))
    p = subprocess.run([sys.executable, "-c", ASAN_CHILD, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("clean"), p.stderr[-4000:]
