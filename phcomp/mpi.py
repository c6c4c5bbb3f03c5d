"""MPI-parallel writes: every rank compresses its own block inside the output step.

    from mpi4py import MPI
    import phcomp.mpi
    with phcomp.mpi.Writer("out.h5", MPI.COMM_WORLD, model="field3d", rel=1e-3) as w:
        for k in range(steps):
            ...simulate...
            w.write("u", local_u, offset=(z0, 0, 0), global_shape=(nz, ny, nx), step=k)

Backend ``hdf5-vds`` (the one built so far; ``auto`` picks it): each rank writes its blocks through
the phcomp HDF5 filter into its own file under ``out.h5.parts/`` with serial h5py (no MPI-enabled
HDF5 needed), and rank 0 writes ``out.h5``: the model (``/_phcomp/models``) and, per step, a
virtual dataset ``/step_<k>/<name>`` of the global shape mapping every rank's block. Readers use
plain h5py / xarray, serially, and see one array per step.

Faults: a rank whose encode fails (bad data, an exception) does not leave the others waiting:
after each write every rank learns every rank's outcome (one allgather) and all raise the same
PhcompError naming the failing ranks; an exception anywhere else inside the ``with`` block aborts
the whole job (``MPI_Abort``) with the message. No partial step looks complete: a step's part
files are written under temporary names and renamed, and its virtual datasets are made in a
hidden group that is renamed to ``step_<k>`` only after every rank has finished.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import PhcompError
from .core.model import Model

BACKENDS = ("hdf5-vds",)
PLANNED = {"hdf5-parallel": "an MPI-enabled h5py (collective filtered writes)",
           "adios2": "the ADIOS2 plugin operator (native codec)"}


def _resolve_model(model):
    if model is None or isinstance(model, Model):
        return model
    from .cli import _load_model

    return _load_model(str(model))


class Writer:
    """Collective writer: create it, call ``write`` and ``close`` (or use ``with``) on every rank."""

    def __init__(self, path: str | os.PathLike, comm: Any = None, backend: str = "auto", model: Model | str | None = None,
                 *, abs: float | None = None, rel: float | None = None, observables: dict | None = None) -> None:
        if comm is None:
            from mpi4py import MPI

            comm = MPI.COMM_WORLD
        self.comm, self.rank, self.size = comm, comm.Get_rank(), comm.Get_size()
        if backend == "auto":
            backend = "hdf5-vds"
        if backend in PLANNED:
            raise PhcompError(f"backend {backend!r} is not built yet (needs {PLANNED[backend]}); use 'hdf5-vds'")
        if backend not in BACKENDS:
            raise PhcompError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend = backend
        self.path = Path(path)
        self.parts = self.path.with_name(self.path.name + ".parts")
        self.abs, self.rel, self.observables = abs, rel, observables
        self.model = _resolve_model(model)
        self._closed = False
        self._collective(self._create)

    # --- coordination ------------------------------------------------------------------------

    def _collective(self, fn, *args) -> Any:
        """Run ``fn`` on this rank; every rank learns every rank's outcome and all raise together."""
        result, err = None, None
        try:
            result = fn(*args)
        except Exception as e:  # noqa: BLE001 -- reported to every rank, re-raised below
            err = f"{type(e).__name__}: {e}"
        errors = self.comm.allgather(err)
        bad = [(r, m) for r, m in enumerate(errors) if m]
        if bad:
            raise PhcompError("phcomp.mpi: " + "; ".join(f"rank {r}: {m}" for r, m in bad))
        return result if result is not None else True

    def _create(self) -> None:
        if self.rank == 0:
            import h5py

            from . import hdf5

            self.parts.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                tmp = self.path.with_name(self.path.name + ".tmp")
                with h5py.File(tmp, "w") as f:
                    f.attrs["phcomp_writer"] = f"phcomp.mpi.Writer {self.backend}, {self.size} ranks"
                    if self.model is not None:
                        hdf5.store_model_in_open_files(self.model)
                os.replace(tmp, self.path)
        self.comm.Barrier()

    # --- writing -------------------------------------------------------------------------------

    def write(self, name: str, local_block: np.ndarray, offset: tuple[int, ...], global_shape: tuple[int, ...],
              step: int = 0) -> None:
        """Compress this rank's ``local_block`` (placed at ``offset`` in ``global_shape``) into step
        ``step``. Collective: every rank calls it for the same name and step."""
        eps = self._global_bound(local_block)
        info = self._collective(self._write_part, name, local_block, tuple(offset), tuple(global_shape), step, eps)
        layout = self.comm.gather(info, root=0)
        self._collective(self._make_vds, name, layout, tuple(global_shape), step)

    def _global_bound(self, block) -> float | None:
        """The absolute bound for this write: ``rel`` is relative to the *global* array's finite
        range (one allgather of each rank's min and max), as if one process compressed it whole."""
        from .core.codec import finite_range, resolve_bound

        rng = None
        if self.rel is not None:
            x = np.asarray(block)
            try:
                rng = finite_range(x) if x.dtype.kind == "f" and x.size else None
            except Exception:  # noqa: BLE001 -- a bad block is reported by the write itself
                rng = None
        ranges = [r for r in self.comm.allgather(rng) if r is not None]
        if self.rel is None:
            return self.abs
        lo, hi = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else (0.0, 0.0)
        return resolve_bound(hi - lo, self.abs, self.rel)

    def _part_file(self, step: int, rank: int) -> Path:
        return self.parts / f"{self.path.stem}.s{step:06d}.r{rank:05d}.h5"

    def _write_part(self, name, block, offset, global_shape, step, eps) -> dict:
        import h5py

        from . import hdf5

        x = np.asarray(block)
        if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
            raise PhcompError(f"{name}: phcomp writes float32/float64 blocks, not {x.dtype}")
        if len(offset) != x.ndim or len(global_shape) != x.ndim or any(
                o < 0 or o + s > g for o, s, g in zip(offset, x.shape, global_shape)):
            raise PhcompError(f"{name}: block {x.shape} at {offset} does not fit {global_shape}")
        part = self._part_file(step, self.rank)
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
                                 **hdf5.Phcomp(self.model, abs=eps, observables=self.observables))
            os.replace(tmp, part)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return {"rank": self.rank, "file": part.name, "offset": offset, "shape": x.shape, "dtype": x.dtype.str}

    def _make_vds(self, name, layout, global_shape, step) -> None:
        if self.rank != 0:
            return
        import h5py

        dtypes = {e["dtype"] for e in layout}
        if len(dtypes) != 1:
            raise PhcompError(f"{name}: ranks wrote different dtypes {sorted(dtypes)}")
        dt = np.dtype(dtypes.pop())
        vl = h5py.VirtualLayout(shape=global_shape, dtype=dt)
        for e in layout:
            src = h5py.VirtualSource(f"{self.parts.name}/{e['file']}", name, shape=tuple(e["shape"]))
            vl[tuple(slice(o, o + s) for o, s in zip(e["offset"], e["shape"]))] = src
        group, hidden = f"step_{step:06d}", f".step_{step:06d}.incomplete"
        with h5py.File(self.path, "a") as f:
            g = f.require_group(hidden)
            if name in g:
                del g[name]
            g.create_virtual_dataset(name, vl, fillvalue=np.nan)
            if group in f:  # a step written variable by variable: move what is complete so far
                for k in list(f[group]):
                    if k not in g:
                        f.move(f"{group}/{k}", f"{hidden}/{k}")
                del f[group]
            f.move(hidden, group)

    # --- end -------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.comm.Barrier()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
            return
        if isinstance(exc, PhcompError) and str(exc).startswith("phcomp.mpi:"):
            return  # every rank raises this one together: no one is left waiting
        # an exception on this rank alone: the others would wait for it forever, so end the job
        print(f"phcomp.mpi: rank {self.rank} failed, aborting all {self.size} ranks:\n"
              + "".join(traceback.format_exception(exc_type, exc, tb)), file=sys.stderr, flush=True)
        self.comm.Abort(1)
