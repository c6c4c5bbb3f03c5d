"""The compiled HDF5 filter plugin: h5dump (Debian's HDF5 1.10) and h5py without `import phcomp`."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
import phcomp  # noqa: E402
import phcomp.hdf5  # noqa: E402
from test_interp import interp_models  # noqa: E402,F401 -- trained interp models (session fixture)

PLUGIN_DIR = phcomp.hdf5.PLUGIN_PATH
H5DUMP = shutil.which("h5dump")
needs_h5dump = pytest.mark.skipif(H5DUMP is None and not os.environ.get("CI"),
                                  reason="h5dump not installed (apt-get install hdf5-tools; CI installs it)")


def env_for(tmp_path, **extra):
    env = dict(os.environ, HDF5_PLUGIN_PATH=PLUGIN_DIR, XDG_CACHE_HOME=str(tmp_path / "reader-cache"),
               PHCOMP_MODEL_PATH="")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def h5file(tmp_path_factory, gs_data):
    d = tmp_path_factory.mktemp("plugin")
    m = phcomp.train(gs_data[0::2], block=(4, 4, 4), groups=8)  # only in this process and in the file
    with h5py.File(d / "f.h5", "w") as f:
        f.create_dataset("u", data=gs_data, chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(m, rel=1e-3))
        f.create_dataset("g/v64", data=gs_data[1].astype(">f8"), chunks=(12, 12, 24), **phcomp.hdf5.Phcomp(m, abs=1e-6))
        interp = phcomp.train(gs_data[0::2], kind="interp", ndim=3)  # mode 3 chunks, a second model in the file
        f.create_dataset("w", data=gs_data, chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(interp, rel=1e-4))
    return d, m


def test_plugin_is_built_and_self_contained():
    lib = os.path.join(PLUGIN_DIR, "libh5phcomp.so")
    assert os.path.isfile(lib)
    out = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    assert "libhdf5" not in out and "libpython" not in out
    r = subprocess.run([sys.executable, "-m", "phcomp.cli", "hdf5-plugin-path"], capture_output=True, text=True)
    assert r.stdout.strip() == PLUGIN_DIR


@needs_h5dump
def test_h5dump_reads_values(h5file, gs_data, tmp_path):
    d, _ = h5file
    assert H5DUMP, "CI must install hdf5-tools"
    for name, expected, bound in (("/u", gs_data, 1e-3 * (gs_data.max() - gs_data.min())),
                                  ("/g/v64", gs_data[1].astype("f8"), 1e-6),
                                  ("/w", gs_data, 1e-4 * (gs_data.max() - gs_data.min()))):
        out = tmp_path / "dump.bin"
        r = subprocess.run([H5DUMP, "-d", name, "-b", "LE", "-o", str(out), str(d / "f.h5")],
                           capture_output=True, text=True, env=env_for(tmp_path))
        assert r.returncode == 0, r.stderr
        got = np.fromfile(out, dtype="<f4" if expected.dtype == np.float32 else "<f8").reshape(expected.shape)
        assert np.abs(got - expected).max() <= bound


@needs_h5dump
def test_h5dump_without_plugin_prints_nothing_useful(h5file, tmp_path):
    """Why the tests compare content: without the filter h5dump prints empty DATA and exits 0."""
    d, _ = h5file
    env = dict(os.environ)
    env.pop("HDF5_PLUGIN_PATH", None)
    env["HDF5_PLUGIN_PATH"] = str(tmp_path)  # an empty directory
    r = subprocess.run([H5DUMP, "-d", "/u", "-c", "1,1,1,4", str(d / "f.h5")], capture_output=True, text=True, env=env)
    with_plugin = subprocess.run([H5DUMP, "-d", "/u", "-c", "1,1,1,4", str(d / "f.h5")], capture_output=True,
                                 text=True, env=env_for(tmp_path))
    assert "(0,0,0,0):" not in r.stdout and "(0,0,0,0):" in with_plugin.stdout


def test_plain_h5py_through_plugin_path(h5file, gs_data, tmp_path):
    d, m = h5file
    np.save(tmp_path / "x.npy", gs_data)
    code = textwrap.dedent(f"""
        import sys, numpy as np, h5py
        with h5py.File({str(d / "f.h5")!r}) as f:
            u = f["u"][...]
            v = f["g/v64"][...]
        x = np.load({str(tmp_path / "x.npy")!r})
        print(np.abs(u - x).max() / (x.max() - x.min()), np.abs(v - x[1]).max(), v.dtype.str, "phcomp" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_for(tmp_path))
    assert r.returncode == 0, r.stderr
    rel_err, abs_err, dt, imported = r.stdout.split()
    assert float(rel_err) <= 1e-3 and float(abs_err) <= 1e-6 and dt == ">f8" and imported == "False"


def test_plugin_reports_missing_model(tmp_path, model3d, gs_data):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("u", data=gs_data[1], chunks=(12, 24, 24), **phcomp.hdf5.Phcomp(model3d, rel=1e-3))
        del f["_phcomp"]
    code = "import h5py\ntry:\n    h5py.File('m.h5')['u'][...]\nexcept OSError as e:\n    print('OSError')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=env_for(tmp_path, PHCOMP_MODEL_PATH=str(tmp_path / "nowhere")))
    assert "OSError" in r.stdout
    assert model3d.id in r.stderr and str(tmp_path / "nowhere") in r.stderr and "phcomp HDF5 plugin" in r.stderr


def test_plugin_reports_bad_python(h5file, tmp_path):
    d, _ = h5file
    code = f"import h5py\ntry:\n    h5py.File({str(d / 'f.h5')!r})['u'][...]\nexcept OSError:\n    print('OSError')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env_for(tmp_path, PHCOMP_PYTHON="/nonexistent/python"))
    assert "OSError" in r.stdout and "PHCOMP_PYTHON" in r.stderr


def test_netcdf4_file_via_h5netcdf_opens_in_xarray(tmp_path, model3d, gs_data):
    h5netcdf = pytest.importorskip("h5netcdf")
    xr = pytest.importorskip("xarray")
    x = gs_data
    with h5netcdf.File(tmp_path / "n.nc", "w") as f:
        f.dimensions = {"t": 4, "x": 24, "y": 24, "z": 24}
        v = f.create_variable("u", ("t", "x", "y", "z"), data=x, chunks=(1, 24, 24, 24),
                              **phcomp.hdf5.Phcomp(model3d, rel=1e-3))
        v.attrs["units"] = "1"
    ds = xr.open_dataset(tmp_path / "n.nc", engine="h5netcdf")
    assert ds["u"].attrs["units"] == "1"
    assert np.abs(ds["u"].values - x).max() <= 1e-3 * (x.max() - x.min())


def _no_python_env(tmp_path, **extra):
    """A host with no Python reachable: PATH holding only h5dump, PHCOMP_PYTHON pointing nowhere."""
    bindir = tmp_path / "bin-without-python"
    bindir.mkdir(exist_ok=True)
    if H5DUMP and not (bindir / "h5dump").exists():
        (bindir / "h5dump").symlink_to(H5DUMP)
    env = {"PATH": str(bindir), "HOME": str(tmp_path), "HDF5_PLUGIN_PATH": PLUGIN_DIR, "PHCOMP_PYTHON": str(tmp_path / "no-python"),
           "PHCOMP_MODEL_PATH": "", "XDG_CACHE_HOME": str(tmp_path / "empty-cache")}
    env.update(extra)
    return env


def _chunk_mode(dset) -> int:
    from phcomp.core import chunk as ck

    return ck.parse_chunk(dset.id.read_direct_chunk((0,) * dset.ndim)[1]).mode


@needs_h5dump
def test_h5dump_without_python_decodes_every_kind_in_process(tmp_path, gs_data, interp_models):
    """The plugin decodes every chunk itself (the native codec, the model read from the file):
    h5dump with no Python anywhere reads lossless, interp and the transform kinds (separable,
    linear, sparse-ae) within the bound."""
    from phcomp.core.model import ZOO_DIR, default_model

    x = gs_data.copy()
    x[0, 1, 2, 3] = np.nan
    rng = float(np.nanmax(x) - np.nanmin(x))
    field3d = default_model("field3d")
    linear3d = phcomp.load_model(ZOO_DIR / "af8f9a63512d3b69.phcm")
    cases = {"shipped": (field3d, {"rel": 1e-3}, np.float32, 3), "trained": (interp_models[3], {"rel": 1e-4}, np.float32, 3),
             "be64": (field3d, {"abs": 1e-6 * rng}, np.dtype(">f8"), 3), "lossless": (field3d, {"abs": 0}, np.float32, 0),
             "separable": (default_model("field"), {"rel": 1e-2}, np.float32, 2),
             "linear3d": (linear3d, {"rel": 1e-4}, np.float64, 2),
             "sparse-ae": (default_model("sas-coarse"), {"rel": 1e-2}, np.float32, 2)}
    path = tmp_path / "nopy.h5"
    with h5py.File(path, "w") as f:
        for name, (model, bound, dt, mode) in cases.items():
            d = f.create_dataset(name, data=x.astype(dt), chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(model, **bound))
            assert _chunk_mode(d) == mode
    env = _no_python_env(tmp_path)
    for name, (model, bound, dt, mode) in cases.items():
        out = tmp_path / f"{name}.bin"
        r = subprocess.run(["h5dump", "-d", f"/{name}", "-b", "LE", "-o", str(out), str(path)], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0 and "phcomp HDF5 plugin" not in r.stderr, (name, r.stderr)
        got = np.fromfile(out, "<f8" if np.dtype(dt).itemsize == 8 else "<f4").reshape(x.shape)
        assert np.isnan(got[0, 1, 2, 3]) and np.isnan(got).sum() == 1
        eps = bound.get("abs", bound.get("rel", 0) * rng)
        assert np.nanmax(np.abs(got.astype(np.float64) - x.astype(dt).astype(np.float64))) <= eps, name
        with h5py.File(path) as f:  # and the same bits as phcomp's own decoder
            assert np.array_equal(got, f[name][...].astype(got.dtype), equal_nan=True), name


def test_h5py_reads_interp_in_process_with_no_helper(tmp_path, gs_data):
    """h5py (its own bundled HDF5) without `import phcomp` and with the helper unreachable."""
    from phcomp.core.model import default_model

    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("w", data=gs_data, chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(default_model("field3d"), rel=1e-3))
    np.save(tmp_path / "x.npy", gs_data)
    code = textwrap.dedent(f"""
        import sys, numpy as np, h5py
        y = h5py.File({str(tmp_path / "a.h5")!r})["w"][...]
        x = np.load({str(tmp_path / "x.npy")!r})
        print(np.abs(y - x).max() / (x.max() - x.min()), "phcomp" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env_for(tmp_path, PHCOMP_PYTHON=str(tmp_path / "no-python")))
    assert r.returncode == 0, r.stderr
    err, imported = r.stdout.split()
    assert float(err) <= 1e-3 and imported == "False"


@needs_h5dump
def test_plugin_names_a_missing_interp_model_and_where_it_looked(tmp_path, gs_data, interp_models):
    model = interp_models[3]
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("w", data=gs_data, chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(model, rel=1e-3))
        del f["_phcomp"]
    r = subprocess.run([H5DUMP, "-d", "/w", "-c", "1,1,1,4", str(tmp_path / "m.h5")], capture_output=True, text=True,
                       env=_no_python_env(tmp_path, PHCOMP_MODEL_PATH=str(tmp_path / "nowhere")))
    assert "(0,0,0,0):" not in r.stdout
    assert model.id in r.stderr and str(tmp_path / "nowhere") in r.stderr and "/_phcomp/models" in r.stderr


def test_h5py_writes_every_native_kind_in_process_with_no_helper(tmp_path, gs_data, interp_models):
    """Encoding through the compiled plugin (h5py without `import phcomp`, the helper
    unreachable): interp, linear and separable models named in the options, the shipped default
    (separable) and lossless datasets encode in-process (phc_chunk_encode); the result reads
    back within the bound with phcomp."""
    from phcomp.core.model import ZOO_DIR, default_model

    model = interp_models[3]
    linear = phcomp.load_model(ZOO_DIR / "af8f9a63512d3b69.phcm")
    opts = {name: tuple(int(v) for v in phcomp.hdf5.Phcomp(m, **b)["compression_opts"])
            for name, m, b in (("w", model, {"rel": 1e-3}), ("l", None, {"abs": 0.0}), ("d", None, {"rel": 1e-2}),
                               ("s", linear, {"rel": 1e-3}))}
    np.save(tmp_path / "x.npy", gs_data)
    (tmp_path / "m.phcm").write_bytes(model.to_bytes())
    code = textwrap.dedent(f"""
        import sys, numpy as np, h5py
        x = np.load({str(tmp_path / "x.npy")!r})
        opts = {opts!r}
        with h5py.File({str(tmp_path / "w.h5")!r}, "w") as f:
            m = np.frombuffer(open({str(tmp_path / "m.phcm")!r}, "rb").read(), np.uint8)
            f.create_dataset("_phcomp/models/{model.id}", data=m)
            f.create_dataset("w", data=x.astype(np.float32), chunks=(1, 24, 24, 24), compression=418,
                             compression_opts=opts["w"])
            f.create_dataset("l", data=x, chunks=(2, 12, 24, 24), compression=418, compression_opts=opts["l"])
            for name in "ds":
                f.create_dataset(name, data=x.astype(np.float32), chunks=(1, 24, 24, 24), compression=418,
                                 compression_opts=opts[name])
        print("phcomp" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env_for(tmp_path, PHCOMP_PYTHON=str(tmp_path / "no-python")))
    assert r.returncode == 0 and r.stdout.split() == ["False"], r.stderr
    assert "phcomp HDF5 plugin" not in r.stderr  # the helper was never needed
    phcomp.register_model(model)
    with h5py.File(tmp_path / "w.h5", "r") as f:
        w, lossless, d, lin = f["w"][...], f["l"][...], f["d"][...], f["s"][...]
        modes = {name: _chunk_mode(f[name]) for name in "wds"}
        ids = {name: bytes(f[name].id.read_direct_chunk((0, 0, 0, 0))[1][12:20]).hex() for name in "ds"}
    assert modes == {"w": 3, "d": 2, "s": 2} and ids == {"d": default_model("field").id, "s": linear.id}
    x = gs_data.astype(np.float32)
    for k in range(x.shape[0]):  # rel is per chunk (one item here)
        for got, rel in ((w, 1e-3), (d, 1e-2), (lin, 1e-3)):
            assert np.abs(got[k].astype(np.float64) - x[k]).max() <= rel * np.ptp(x[k])
    assert np.array_equal(lossless, gs_data)
