"""Transparent reads in the idioms analysis code uses, each in a fresh process whose only copy
of the model is inside the file or store (empty cache, no PHCOMP_MODEL_PATH, a model trained
in the writer and never saved anywhere else)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")

WRITE = """
import numpy as np, h5py, h5netcdf, zarr, phcomp, phcomp.hdf5, phcomp.zarr
from phcomp.data import grayscott3d
d = grayscott3d(n=24, steps=800, snapshots=3, seed=1).astype("float32")
m = phcomp.train(d[0::2], block=(4, 4, 4), groups=8)   # lives only in this process and the outputs
np.save("orig.npy", d)
with h5py.File("a.h5", "w") as f:
    f.create_dataset("x", data=d, chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(m, rel=1e-3))
with h5netcdf.File("a.nc", "w") as f:
    f.dimensions = {"t": d.shape[0], "i": 24, "j": 24, "k": 24}
    v = f.create_variable("x", ("t", "i", "j", "k"), "f4", chunks=(1, 24, 24, 24),
                          **phcomp.hdf5.Phcomp(m, rel=1e-3))
    v[...] = d
g = zarr.open_group("a.zarr", mode="w")
a = g.create_array("x", shape=d.shape, chunks=(1, 24, 24, 24), dtype="f4", dimension_names=["t", "i", "j", "k"],
                   serializer={"name": "phcomp", "configuration": {"model": m.id, "rel": 1e-3}}, compressors=None)
a[...] = d
phcomp.zarr.save_model("a.zarr", m)
print(m.id)
"""

CHECK = """
import numpy as np
orig = np.load("orig.npy")
def check(y):
    y = np.asarray(y)
    assert y.shape == orig.shape, y.shape
    err = float(np.abs(y.astype(np.float64) - orig).max() / (orig.max() - orig.min()))
    assert err <= 1e-3, err
    print("ok", err)
"""


def _run(cwd, code, tmp):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "empty-cache"), PHCOMP_MODEL_PATH="")
    return subprocess.run([sys.executable, "-c", CHECK + textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("idioms")
    r = subprocess.run([sys.executable, "-c", WRITE], capture_output=True, text=True, cwd=d,
                       env=dict(os.environ, XDG_CACHE_HOME=str(d / "writer-cache"), PHCOMP_MODEL_PATH=""))
    assert r.returncode == 0, r.stderr
    return d


IDIOMS = {
    "h5py one-liner": 'import h5py, phcomp\ncheck(h5py.File("a.h5")["x"][:])',
    "h5py one-liner, phcomp imported after": 'import h5py\nds = h5py.File("a.h5")["x"]\nimport phcomp\ncheck(ds[:])',
    "h5py with block": 'import h5py, phcomp\nwith h5py.File("a.h5", "r") as f:\n    check(f["x"][...])',
    "dataset kept after its file object": (
        'import gc, h5py, phcomp\nf = h5py.File("a.h5", "r")\nds = f["x"]\ndel f\ngc.collect()\ncheck(ds[...])'),
    "h5py slices": 'import h5py, phcomp\nds = h5py.File("a.h5")["x"]\ncheck([ds[i] for i in range(ds.shape[0])])',
    "h5py threads": (
        'import h5py, phcomp\nfrom concurrent.futures import ThreadPoolExecutor\nds = h5py.File("a.h5")["x"]\n'
        'with ThreadPoolExecutor(4) as ex:\n    parts = list(ex.map(lambda i: ds[i], range(ds.shape[0])))\ncheck(parts)'),
    "xarray h5netcdf lazy": (
        'import xarray as xr, phcomp\nds = xr.open_dataset("a.nc", engine="h5netcdf")\ncheck(ds["x"].values)'),
    "xarray h5netcdf dask chunks": (
        'import xarray as xr, phcomp\nds = xr.open_dataset("a.nc", engine="h5netcdf", chunks={})\n'
        'assert ds["x"].chunks is not None\ncheck(ds["x"].compute().values)'),
    "zarr.open": 'import zarr\ncheck(zarr.open("a.zarr", mode="r")["x"][...])',
    "zarr.open_array": 'import zarr\ncheck(zarr.open_array("a.zarr", path="x", mode="r")[:])',
    "xarray open_zarr": 'import xarray as xr\ncheck(xr.open_zarr("a.zarr", consolidated=False)["x"].values)',
    "xarray open_zarr dask": (
        'import xarray as xr\nds = xr.open_zarr("a.zarr", consolidated=False, chunks={})\n'
        'assert ds["x"].chunks is not None\ncheck(ds["x"].compute().values)'),
    "dask from_zarr": 'import dask.array as da\ncheck(da.from_zarr("a.zarr", component="x").compute())',
    "zarr threads": (
        'import zarr\nfrom concurrent.futures import ThreadPoolExecutor\nz = zarr.open_array("a.zarr", path="x", mode="r")\n'
        'with ThreadPoolExecutor(4) as ex:\n    parts = list(ex.map(lambda i: z[i], range(z.shape[0])))\ncheck(parts)'),
}


@pytest.mark.parametrize("idiom", list(IDIOMS))
def test_idiom_reads_transparently(files, idiom, tmp_path):
    if "dask" in idiom:
        pytest.importorskip("dask")
    r = _run(files, IDIOMS[idiom], tmp_path)
    assert r.returncode == 0, f"{idiom}:\n{r.stderr[-3000:]}"
    assert r.stdout.startswith("ok")
    assert not (tmp_path / "empty-cache" / "phcomp" / "models").exists()  # nothing was installed


def test_netcdf4_python_reads_through_the_compiled_plugin(files, tmp_path):
    """netCDF4-python carries its own HDF5 library: it reads through the compiled plugin, which
    phcomp's import puts on HDF5_PLUGIN_PATH."""
    pytest.importorskip("netCDF4")
    code = """
    import phcomp, phcomp.hdf5, os
    os.environ["HDF5_PLUGIN_PATH"] = phcomp.hdf5.PLUGIN_PATH
    import netCDF4
    with netCDF4.Dataset("a.nc") as nc:
        check(nc["x"][...].filled(np.nan))
    """
    r = _run(files, code, tmp_path)
    if r.returncode != 0 and "plugin" in (r.stderr + r.stdout).lower() and not os.path.isdir(
            os.path.join(os.path.dirname(__file__), "..", "phcomp", "hdf5_plugin")):
        pytest.skip("compiled HDF5 plugin not built")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok")
