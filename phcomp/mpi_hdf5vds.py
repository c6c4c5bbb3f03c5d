"""phcomp.mpi's ``hdf5-vds`` backend: one HDF5 file per rank and step through the phcomp filter
(serial h5py), and a main file made by rank 0 with the model and, per step, virtual datasets of
the global shape mapping every rank's block."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .core.errors import PhcompError


def step_groups(step: int) -> tuple[str, str]:
    """(the step's group, the hidden group its datasets are made in until every rank is done)."""
    return f"step_{step:06d}", f".step_{step:06d}.incomplete"


def publish_step(f, step: int) -> None:
    """Rename the step's hidden group to ``step_<k>``; a step written variable by variable keeps
    what was complete before (moved into the hidden group first)."""
    group, hidden = step_groups(step)
    if group in f:
        for k in list(f[group]):
            if k not in f[hidden]:
                f.move(f"{group}/{k}", f"{hidden}/{k}")
        del f[group]
    f.move(hidden, group)


class Hdf5Vds:
    name = "hdf5-vds"

    def __init__(self, w) -> None:
        self.w = w  # the Writer: path, rank, size, model, observables
        self.parts = w.path.with_name(w.path.name + ".parts")

    def create(self) -> None:
        w = self.w
        if w.rank == 0:
            import h5py

            from . import hdf5

            self.parts.mkdir(parents=True, exist_ok=True)
            if not w.path.exists():
                tmp = w.path.with_name(w.path.name + ".tmp")
                with h5py.File(tmp, "w") as f:
                    f.attrs["phcomp_writer"] = f"phcomp.mpi.Writer {self.name}, {w.size} ranks"
                    if w.model is not None:
                        hdf5.store_model_in_open_files(w.model)
                os.replace(tmp, w.path)

    def _part_file(self, step: int, rank: int) -> Path:
        return self.parts / f"{self.w.path.stem}.s{step:06d}.r{rank:05d}.h5"

    def write_part(self, name, x, offset, global_shape, step, eps) -> dict:
        import h5py

        from . import hdf5

        part = self._part_file(step, self.w.rank)
        tmp = part.with_name(part.name + ".tmp")
        mode = "r+" if part.exists() else "w"
        if mode == "r+":  # another variable of the same step: add it to this rank's file
            os.replace(part, tmp)
        try:
            # the model is stored once, in the main file (the reader's VDS opens it)
            with h5py.File(tmp, mode) as f, hdf5.without_model_copies():
                if name in f:
                    del f[name]
                f.create_dataset(name, data=x, chunks=x.shape if x.size else None,
                                 **hdf5.Phcomp(self.w.model, abs=eps, observables=self.w.observables))
            os.replace(tmp, part)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return {"rank": self.w.rank, "file": part.name, "offset": offset, "shape": x.shape, "dtype": x.dtype.str}

    def finish(self, name, layout, global_shape, step) -> None:
        """Rank 0: the step's virtual dataset, made in a hidden group renamed when complete."""
        import h5py

        dt = np.dtype(layout[0]["dtype"])
        vl = h5py.VirtualLayout(shape=global_shape, dtype=dt)
        for e in layout:
            src = h5py.VirtualSource(f"{self.parts.name}/{e['file']}", name, shape=tuple(e["shape"]))
            vl[tuple(slice(o, o + s) for o, s in zip(e["offset"], e["shape"]))] = src
        with h5py.File(self.w.path, "a") as f:
            g = f.require_group(step_groups(step)[1])
            if name in g:
                del g[name]
            g.create_virtual_dataset(name, vl, fillvalue=np.nan)
            publish_step(f, step)

    def open(self) -> None:
        pass

    def local_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.parts.glob(f"{self.w.path.stem}.s*.r{self.w.rank:05d}.h5"))

    def read_local(self, name: str, step: int) -> np.ndarray:
        import h5py

        from . import hdf5  # noqa: F401 -- registers the filter

        with h5py.File(self._part_file(step, self.w.rank), "r") as f:
            return f[name][...]

    def close(self) -> None:
        pass


def read(path: Path, name: str, step: int) -> np.ndarray:
    import h5py

    from . import hdf5  # noqa: F401 -- registers the filter

    with h5py.File(path, "r") as f:
        key = f"{step_groups(step)[0]}/{name}"
        if key not in f:
            raise PhcompError(f"{path}: no {name!r} in step {step} (steps: {sorted(k for k in f if k.startswith('step_'))})")
        return f[key][...]
