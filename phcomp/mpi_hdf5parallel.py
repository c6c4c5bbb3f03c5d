"""phcomp.mpi's ``hdf5-parallel`` backend: one shared HDF5 file written collectively
(``driver="mpio"``) through the phcomp filter, each rank's chunks encoded on that rank.

Needs an MPI-enabled h5py (Debian 12's python3-h5py-mpi, or a source build: HOST-FACTS). The
filter runs in-process on every rank: with h5py >= 3.8 phcomp's registered filter, with older
ones (Debian's 3.7) the compiled plugin, which encodes interp models natively (no helper is
forked inside MPI ranks). So this backend takes interp models only (default: the shipped
``field3d``). Chunks are tiled to the ranks' blocks (their shape divides every block and
offset), so no chunk straddles two ranks (a straddling chunk would be read, modified and
rewritten collectively). The model is stored once, collectively, under ``/_phcomp/models``.

Datasets of a step are created in ``/.step_<k>.incomplete`` and the group is renamed to
``/step_<k>`` after every rank has written: no partial step looks complete.
"""
from __future__ import annotations

import math

import numpy as np

from .core.errors import PhcompError
from .mpi_hdf5vds import publish_step, step_groups


def available() -> bool:
    try:
        import h5py
    except ImportError:
        return False
    return bool(h5py.get_config().mpi)


class Hdf5Parallel:
    name = "hdf5-parallel"
    collective = True  # finish() runs on every rank (renames in a shared file are collective)

    def __init__(self, w) -> None:
        import h5py

        if not h5py.get_config().mpi:
            raise PhcompError("backend 'hdf5-parallel' needs an MPI-enabled h5py (h5py.get_config().mpi is False): "
                              "install Debian's python3-h5py-mpi or build h5py with HDF5_MPI=ON (HOST-FACTS)")
        if w.observables:
            raise PhcompError("backend 'hdf5-parallel' encodes in-process in C, which does not check observables: "
                              "use backend='hdf5-vds' for observables")
        from . import adios2 as pa  # the same model rule as the ADIOS2 operator: interp, found as a file

        self.model, _ = pa.native_model_file(w.model)
        self.w, self.h5py, self.f = w, h5py, None
        self._mine: dict = {}

    def create(self) -> None:
        pass

    def open(self) -> None:
        from . import hdf5

        w, h5py = self.w, self.h5py
        self.f = h5py.File(w.path, "a", driver="mpio", comm=w.comm)
        g = self.f.require_group(hdf5.MODEL_GROUP)  # collective: every rank makes the same calls
        if self.model.id not in g:
            data = np.frombuffer(self.model.to_bytes(), np.uint8)
            d = g.create_dataset(self.model.id, shape=data.shape, dtype=np.uint8)
            if w.rank == 0:
                d[...] = data  # an unfiltered dataset: independent writes are allowed
            d.attrs["kind"] = self.model.kind
        self.f.attrs["phcomp_writer"] = f"phcomp.mpi.Writer {self.name}, {w.size} ranks"

    def _dcpl(self, layout: list[dict], eps):
        from . import hdf5

        nd = len(layout[0]["shape"])
        chunk = [0] * nd
        for e in layout:  # a chunk shape that divides every block and offset: no chunk straddles ranks
            for a in range(nd):
                chunk[a] = math.gcd(chunk[a], int(e["shape"][a]), int(e["offset"][a]))
        chunk = [max(1, c) for c in chunk]
        dcpl = self.h5py.h5p.create(self.h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(tuple(chunk))
        # h5py < 3.8 refuses compression=<an id only a plugin provides>: set the filter directly
        dcpl.set_filter(hdf5.FILTER_ID, 0, tuple(int(v) for v in hdf5.Phcomp(self.model, abs=eps)["compression_opts"]))
        dcpl.set_fill_time(self.h5py.h5d.FILL_TIME_NEVER)
        return dcpl

    def write_collective(self, name, x, mine: dict, layout, global_shape, step, eps) -> None:
        from . import hdf5

        g = self.f.require_group(step_groups(step)[1])
        if name in g:
            del g[name]
        with hdf5.without_model_copies():  # the model is in the file already
            d = g.create_dataset(name, shape=global_shape, dtype=np.dtype(layout[0]["dtype"]),
                                 dcpl=self._dcpl(layout, eps))
        self._mine[(name, step)] = mine
        sel = tuple(slice(o, o + s) for o, s in zip(mine["offset"], mine["shape"]))
        with d.collective:
            d[sel] = np.ascontiguousarray(x)

    def finish(self, name, layout, global_shape, step) -> None:
        publish_step(self.f, step)  # collective: every rank makes the same calls
        self.f.flush()

    def local_bytes(self) -> int:
        return self.w.path.stat().st_size if self.w.rank == 0 else 0  # one shared file: counted once

    def read_local(self, name: str, step: int) -> np.ndarray:
        e = self._mine[(name, step)]
        return self.f[f"{step_groups(step)[0]}/{name}"][tuple(slice(o, o + s) for o, s in zip(e["offset"], e["shape"]))]

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
