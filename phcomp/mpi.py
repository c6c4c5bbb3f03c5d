"""MPI-parallel writes: every rank compresses its own block inside the output step.

    from mpi4py import MPI
    import phcomp.mpi
    with phcomp.mpi.Writer("out.h5", MPI.COMM_WORLD, model="field3d", rel=1e-3) as w:
        for k in range(steps):
            ...simulate...
            w.write("u", local_u, offset=(z0, 0, 0), global_shape=(nz, ny, nx), step=k)

Backends (``auto``: ``hdf5-parallel`` with an MPI-enabled h5py, else ``hdf5-vds`` where h5py
is installed, else ``adios2``):

- ``hdf5-parallel`` (phcomp/mpi_hdf5parallel.py): one shared file written collectively
  (``driver="mpio"``), chunks tiled to the ranks' blocks, each rank's chunks encoded on that
  rank in-process; ``/step_<k>/<name>`` as below. Needs an MPI-enabled h5py; interp models.

- ``hdf5-vds`` (phcomp/mpi_hdf5vds.py): each rank writes its blocks through the phcomp HDF5
  filter into its own file under ``out.h5.parts/`` with serial h5py (no MPI-enabled HDF5
  needed), and rank 0 writes ``out.h5``: the model (``/_phcomp/models``) and, per step, a
  virtual dataset ``/step_<k>/<name>`` of the global shape mapping every rank's block. Readers
  use plain h5py / xarray, serially, and see one array per step.
- ``adios2`` (phcomp/mpi_adios2.py): the adios2 wheel is serial, so each rank writes its own
  BP output ``out.bp/r<rank>.bp`` through the phcomp ADIOS2 operator (C++, in-process) and rank
  0 keeps ``out.bp/index.json``; ``phcomp.mpi.read(path, name, step)`` assembles the global
  array (each part is also a plain BP output).

Faults: a rank whose encode fails (bad data, an exception) does not leave the others waiting:
after each write every rank learns every rank's outcome (one allgather) and all raise the same
PhcompError naming the failing ranks; an exception anywhere else inside the ``with`` block aborts
the whole job (``MPI_Abort``) with the message. No partial step looks complete: a step's part
files are written under temporary names and renamed, and its virtual datasets are made in a
hidden group that is renamed to ``step_<k>`` only after every rank has finished (adios2: the
step enters the index, replaced atomically, only after every rank has ended its ADIOS2 step).
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

def _hdf5_vds(w):
    from .mpi_hdf5vds import Hdf5Vds

    return Hdf5Vds(w)


def _adios2(w):
    from .mpi_adios2 import Adios2Parts

    return Adios2Parts(w)


def _hdf5_parallel(w):
    from .mpi_hdf5parallel import Hdf5Parallel

    return Hdf5Parallel(w)


BACKENDS = {"hdf5-parallel": _hdf5_parallel, "hdf5-vds": _hdf5_vds, "adios2": _adios2}


def auto_backend() -> str:
    """What ``backend="auto"`` picks: hdf5-parallel with an MPI-enabled h5py, else hdf5-vds
    where h5py is installed, else adios2."""
    import importlib.util

    from .mpi_hdf5parallel import available

    if available():
        return "hdf5-parallel"
    for name, module in (("hdf5-vds", "h5py"), ("adios2", "adios2")):
        if importlib.util.find_spec(module) is not None:
            return name
    raise PhcompError("phcomp.mpi needs h5py (backend hdf5-vds) or adios2 (backend adios2): pip install h5py")


def read(path: str | os.PathLike, name: str, step: int) -> np.ndarray:
    """The global array ``name`` of ``step`` from a phcomp.mpi output of any backend, in one
    serial process (an HDF5 output is also plain h5py: ``f[f"step_{step:06d}/{name}"]``)."""
    p = Path(path)
    if p.is_dir():
        from .mpi_adios2 import read as read_bp

        return read_bp(p, name, step)
    from .mpi_hdf5vds import read as read_h5

    return read_h5(p, name, step)


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
            backend = auto_backend()
        if backend not in BACKENDS:
            raise PhcompError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend = backend
        self.path = Path(path)
        self.abs, self.rel, self.observables = abs, rel, observables
        self.model = _resolve_model(model)
        self._closed = False
        self._backend = self._collective(BACKENDS[backend], self)
        self._collective(self._backend.create)  # rank 0 makes the output; the allgather orders it first
        self._collective(self._backend.open)

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

    # --- writing -------------------------------------------------------------------------------

    def write(self, name: str, local_block: np.ndarray, offset: tuple[int, ...], global_shape: tuple[int, ...],
              step: int = 0) -> None:
        """Compress this rank's ``local_block`` (placed at ``offset`` in ``global_shape``) into step
        ``step``. Collective: every rank calls it for the same name and step."""
        eps = self._global_bound(local_block)
        info = self._collective(self._write_part, name, local_block, tuple(offset), tuple(global_shape), step, eps)
        if getattr(self._backend, "collective", False):  # one shared file: every rank writes and renames together
            layout = self.comm.allgather(info)
            self._collective(self._backend.write_collective, name, np.asarray(local_block), info, layout,
                             tuple(global_shape), step, eps)
        else:
            layout = self.comm.gather(info, root=0)
        self._collective(self._finish, name, layout, tuple(global_shape), step)

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

    def _write_part(self, name, block, offset, global_shape, step, eps) -> dict:
        x = np.asarray(block)
        if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
            raise PhcompError(f"{name}: phcomp writes float32/float64 blocks, not {x.dtype}")
        if len(offset) != x.ndim or len(global_shape) != x.ndim or any(
                o < 0 or o + s > g for o, s, g in zip(offset, x.shape, global_shape)):
            raise PhcompError(f"{name}: block {x.shape} at {offset} does not fit {global_shape}")
        if getattr(self._backend, "collective", False):  # the data are written after every rank checked its block
            return {"rank": self.rank, "offset": list(offset), "shape": list(x.shape), "dtype": x.dtype.str}
        return self._backend.write_part(name, x, offset, global_shape, step, eps)

    def _finish(self, name, layout, global_shape, step) -> None:
        if self.rank != 0 and not getattr(self._backend, "collective", False):
            return
        dtypes = {e["dtype"] for e in layout}
        if len(dtypes) != 1:
            raise PhcompError(f"{name}: ranks wrote different dtypes {sorted(dtypes)}")
        self._backend.finish(name, layout, global_shape, step)

    # --- what this rank wrote (for reports) -----------------------------------------------

    def local_bytes(self) -> int:
        """Bytes this rank has written so far (its own part files)."""
        return self._backend.local_bytes()

    def read_local(self, name: str, step: int) -> np.ndarray:
        """This rank's block of ``name`` in ``step``, decoded from what it wrote."""
        return self._backend.read_local(name, step)

    # --- end -------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._collective(self._backend.close)

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
            return
        if isinstance(exc, PhcompError) and str(exc).startswith("phcomp.mpi:"):
            try:  # every rank raises this one together: no one is left waiting; keep what completed
                self._backend.close()
            except Exception:  # noqa: BLE001 -- the error being raised is the one to report
                pass
            return
        # an exception on this rank alone: the others would wait for it forever, so end the job
        print(f"phcomp.mpi: rank {self.rank} failed, aborting all {self.size} ranks:\n"
              + "".join(traceback.format_exception(exc_type, exc, tb)), file=sys.stderr, flush=True)
        self.comm.Abort(1)
