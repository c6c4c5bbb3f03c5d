"""`phcomp compress/decompress` over whole HDF5 files and Zarr stores, as a user runs them."""
import os
import subprocess
import sys

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")


def run(*args, check=True, cwd=None, env=None):
    r = subprocess.run([sys.executable, "-m", "phcomp.cli", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, env=env or dict(os.environ))
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture()
def files(tmp_path, gs_data, model3d):
    d = gs_data
    with h5py.File(tmp_path / "in.h5", "w") as f:
        f.attrs["title"] = "run 1"
        g = f.create_group("fields")
        g.attrs["step"] = np.int64(42)
        u = g.create_dataset("u", data=d, chunks=(1, 24, 24, 24), compression="gzip")
        u.attrs["units"] = "mol/L"
        t = f.create_dataset("time", data=np.arange(4.0))
        t.make_scale("time")
        x = f.create_dataset("x", data=np.linspace(0, 1, 24))
        x.make_scale("x")
        u.dims[0].attach_scale(t)
        u.dims[1].attach_scale(x)
        u.dims[0].label = "t"
        f.create_dataset("ids", data=np.arange(10, dtype="i4"))
        f.create_dataset("names", data=np.array([b"a", b"bb"]))
        f.create_dataset("v64", data=d[1].astype("f8") * 1e3)
    g = zarr.open_group(tmp_path / "in.zarr", mode="w", zarr_format=2)
    a = g.create_array("u", shape=d.shape, chunks=(1, 24, 24, 24), dtype="f4")
    a[...] = d
    a.attrs["_ARRAY_DIMENSIONS"] = ["t", "x", "y", "z"]
    a.attrs["units"] = "1"
    s = g.create_array("small", shape=(5,), dtype="f8")
    s[...] = np.arange(5.0)
    s.attrs["_ARRAY_DIMENSIONS"] = ["n"]
    model3d.save(tmp_path / "m.phcm")
    return tmp_path


def test_hdf5_file_roundtrip(files, gs_data):
    p = files
    out = run("compress", p / "in.h5", "-o", p / "out.h5", "--model", p / "m.phcm", "--rel", "1e-3").stdout
    assert "compressed: 2 dataset(s)" in out
    with h5py.File(p / "in.h5") as src, h5py.File(p / "out.h5") as dst:
        assert dst.attrs["title"] == "run 1" and dst["fields"].attrs["step"] == 42
        assert dst["fields/u"].attrs["units"] == "mol/L"
        assert dst["fields/u"].compression == "418" or 418 in [int(k) for k in dst["fields/u"]._filters]
        for name in ("fields/u", "v64"):
            x, y = src[name][...], dst[name][...]
            assert np.abs(x - y).max() <= 1e-3 * (x.max() - x.min())  # relative to the whole dataset
        for name in ("ids", "names", "time", "x"):  # exact copies, no phcomp
            assert np.array_equal(src[name][...], dst[name][...]) and not dst[name]._filters
        u = dst["fields/u"]
        assert u.dims[0].label == "t" and u.dims[0][0].name == "/time" and u.dims[1][0].name == "/x"
        assert h5py.h5ds.is_scale(dst["time"].id)
        assert "_phcomp" in dst
    run("decompress", p / "out.h5", "-o", p / "plain.h5")
    code = ("import h5py, numpy as np\nf = h5py.File('plain.h5')\n"
            "print(bool(f['fields/u']._filters), '_phcomp' in f, f['fields/u'].dims[1][0].name, f['fields/u'].shape)")
    env = dict(os.environ)
    env.pop("HDF5_PLUGIN_PATH", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=p, env=env)
    assert r.stdout.split() == ["False", "False", "/x", "(4,", "24,", "24,", "24)"], r.stderr


def test_zarr_store_roundtrip(files, gs_data):
    p = files
    run("compress", p / "in.zarr", "-o", p / "out.zarr", "--model", p / "m.phcm", "--rel", "1e-3", "--chunks", "1,12,24,24")
    out = zarr.open_group(p / "out.zarr", mode="r")
    u = out["u"]
    assert u.metadata.zarr_format == 3 and list(u.metadata.dimension_names) == ["t", "x", "y", "z"]
    assert u.chunks == (1, 12, 24, 24) and u.attrs["units"] == "1"
    assert np.abs(u[...] - gs_data).max() <= 1e-3 * (gs_data.max() - gs_data.min())
    assert np.array_equal(out["small"][...], np.arange(5.0))
    assert "phcomp" in str(u.metadata.to_dict()["codecs"])
    xr = pytest.importorskip("xarray")
    ds = xr.open_zarr(p / "out.zarr", consolidated=False)
    assert ds["u"].dims == ("t", "x", "y", "z")
    run("decompress", p / "out.zarr", "-o", p / "plain.zarr")
    plain = zarr.open_group(p / "plain.zarr", mode="r")["u"]
    assert "phcomp" not in str(plain.metadata.to_dict()["codecs"]) and np.allclose(plain[...], u[...])


def test_refuses_overwrite_and_leaves_nothing_on_failure(files):
    p = files
    (p / "taken.h5").write_bytes(b"keep me")
    r = run("compress", p / "in.h5", "-o", p / "taken.h5", "--model", p / "m.phcm", "--rel", "1e-3", check=False)
    assert r.returncode == 2 and "--force" in r.stderr and (p / "taken.h5").read_bytes() == b"keep me"
    before = set(os.listdir(p))
    r = run("compress", p / "in.h5", "-o", p / "bad.h5", "--model", p / "m.phcm", "--chunks", "1,2", check=False)
    assert r.returncode == 2 and "--chunks" in r.stderr
    assert set(os.listdir(p)) == before  # no output, no temporary
    r = run("compress", p / "in.h5", "-o", p / "taken.h5", "--model", p / "m.phcm", "--rel", "1e-3", "--force")
    assert h5py.is_hdf5(p / "taken.h5")
