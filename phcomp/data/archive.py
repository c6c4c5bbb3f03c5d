"""A small generated archive of finished runs, as a facility holds them: HDF5 with dimension
scales, netCDF-4, a Zarr store, .npy arrays, text files beside them, and the bad inputs an
archive job meets (a corrupt HDF5 file, a dangling link, an integer-only file). Used by the
archive tests and docs/archives.md; ``scale`` multiplies the number of runs."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .grayscott import grayscott3d
from .turbulence import turb2d


def make_archive(root: str | os.PathLike, runs: int = 2, *, n3d: int = 24, n2d: int = 64, bad: bool = True,
                 seed: int = 0) -> Path:
    import h5netcdf
    import h5py
    import zarr

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for r in range(runs):
        run = root / f"run{r:03d}"
        (run / "out").mkdir(parents=True, exist_ok=True)
        vol = grayscott3d(n=n3d, steps=400 + 100 * r, snapshots=3, seed=seed + r).astype(np.float32)
        flow = turb2d(n=n2d, snapshots=4, seed=seed + r).astype(np.float64)
        with h5py.File(run / "out" / "fields.h5", "w") as f:
            f.attrs["code"] = "gray-scott"
            f.attrs["run"] = r
            t = f.create_dataset("time", data=np.arange(vol.shape[0], dtype=np.float64))
            t.make_scale("time")
            d = f.create_dataset("u", data=vol, chunks=(1,) + vol.shape[1:])
            d.attrs["units"] = "1"
            d.dims[0].attach_scale(t)
            g = f.create_group("diag")
            g.create_dataset("step", data=np.arange(10, dtype=np.int64))
            g.create_dataset("vorticity", data=flow)
        with h5netcdf.File(run / "out" / "flow.nc", "w") as f:
            f.dimensions = {"t": flow.shape[0], "y": n2d, "x": n2d}
            v = f.create_variable("w", ("t", "y", "x"), "f8")
            v[...] = flow
            v.attrs["long_name"] = "vorticity"
            y = f.create_variable("y", ("y",), "f8")
            y[...] = np.linspace(0, 1, n2d)
        g = zarr.open_group(run / "out" / "u.zarr", mode="w")
        a = g.create_array("u", shape=vol.shape, chunks=(1,) + vol.shape[1:], dtype="f4",
                           dimension_names=["t", "z", "y", "x"])
        a[...] = vol
        a.attrs["units"] = "1"
        np.save(run / "out" / "spectrum.npy", np.abs(np.fft.rfft(flow.reshape(flow.shape[0], -1), axis=1)).astype(np.float32))
        (run / "input.txt").write_text(f"run {r}\nF=0.01 k=0.05\n")
    if bad:
        (root / "bad").mkdir(exist_ok=True)
        (root / "bad" / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(seed).bytes(4000))
        with h5py.File(root / "bad" / "ints.h5", "w") as f:
            f.create_dataset("counts", data=np.arange(50000, dtype=np.int32).reshape(500, 100))
        link = root / "bad" / "missing.h5"
        if not link.is_symlink():
            os.symlink(root / "bad" / "no-such-file.h5", link)
    return root
