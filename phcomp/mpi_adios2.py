"""phcomp.mpi's ``adios2`` backend: the PyPI adios2 wheel is serial (no MPI), so every rank
writes its own BP output through the phcomp ADIOS2 operator, and rank 0 keeps an index.

    out.bp/                  the output (a directory, like a BP output)
      index.json             per step and variable: global shape, dtype, each rank's block
      r00000.bp/ r00001.bp/  one BP output per rank: one ADIOS2 step per write, the variable
                             with its global shape and this rank's block at its offset; the
                             model in phcomp-models/ (each part is readable on its own). The
                             index's "adios_step" is the variable's own step number (ADIOS2
                             counts a variable's steps among those that hold it)

A step appears in the index only after every rank has ended its ADIOS2 step (the data are on
disk), and the index is replaced atomically: no partial step looks complete.
``phcomp.mpi.read(path, name, step)`` assembles the global array; each part is also a plain BP
output for adios2.FileReader.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .core.errors import PhcompError

INDEX = "index.json"
FORMAT = "phcomp.mpi adios2 index 1"


def _write_index(path: Path, index: dict) -> None:
    tmp = path / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, path / INDEX)


class Adios2Parts:
    name = "adios2"

    def __init__(self, w) -> None:
        import adios2

        if w.observables:
            raise PhcompError("the adios2 backend encodes in the ADIOS2 operator (C++), which does not check "
                              "observables: use backend='hdf5-vds' for observables")
        self.w, self.adios2 = w, adios2
        self.part = w.path / f"r{w.rank:05d}.bp"
        self.engine = None
        self.vars: dict = {}
        self.steps: dict = {}  # per variable: how many ADIOS2 steps of this rank hold it
        self.mine: dict = {}  # (name, step) -> (ADIOS2 step, offset, shape) of this rank's blocks

    def create(self) -> None:
        w = self.w
        if w.rank == 0:
            w.path.mkdir(parents=True, exist_ok=True)
            if not (w.path / INDEX).exists():
                _write_index(w.path, {"format": FORMAT, "ranks": w.size, "steps": {}})

    def open(self) -> None:
        w, a = self.w, self.adios2
        self.io = a.Adios().declare_io(f"phcomp.mpi.r{w.rank}")
        self.engine = self.io.open(str(self.part), a.bindings.Mode.Write)

    def write_part(self, name, x, offset, global_shape, step, eps) -> dict:
        from . import adios2 as pa

        if name not in self.vars:
            self.vars[name] = self.io.define_variable(name, x, list(global_shape), list(offset), list(x.shape))
        var = self.vars[name]
        var.set_shape(list(global_shape))
        var.set_selection([list(offset), list(x.shape)])
        var.remove_operations()  # the bound may change with each write (rel of the global range)
        pa.add_operation(var, self.w.model, abs=eps)
        self.engine.begin_step()
        self.engine.put(var, np.ascontiguousarray(x), self.adios2.bindings.Mode.Sync)
        self.engine.end_step()
        # readers select a variable's steps among those holding it: the k-th write of `name` is its step k
        self.steps[name] = k = self.steps.get(name, 0) + 1
        self.mine[(name, step)] = (k - 1, list(offset), list(x.shape))
        return {"rank": self.w.rank, "file": self.part.name, "adios_step": k - 1, "offset": list(offset),
                "shape": list(x.shape), "dtype": x.dtype.str}

    def finish(self, name, layout, global_shape, step) -> None:
        index = json.loads((self.w.path / INDEX).read_text())
        entry = index["steps"].setdefault(str(step), {})
        entry[name] = {"shape": list(global_shape), "dtype": layout[0]["dtype"], "blocks": layout}
        _write_index(self.w.path, index)

    def local_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.part.iterdir() if f.is_file()) if self.part.exists() else 0

    def read_local(self, name: str, step: int) -> np.ndarray:
        """This rank's block as stored (BP5 reads the steps already ended while the file is open)."""
        s, offset, shape = self.mine[(name, step)]
        with self.adios2.FileReader(str(self.part)) as r:
            return r.read(name, start=offset, count=shape, step_selection=[s, 1]).reshape(shape)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def read(path: Path, name: str, step: int) -> np.ndarray:
    import adios2

    from . import adios2 as pa

    pa.set_plugin_path()
    try:
        index = json.loads((path / INDEX).read_text())
    except (OSError, ValueError) as e:
        raise PhcompError(f"{path}: not a phcomp.mpi adios2 output ({e})") from None
    try:
        entry = index["steps"][str(step)][name]
    except KeyError:
        raise PhcompError(f"{path}: no {name!r} in step {step} (steps: {sorted(index['steps'], key=int)})") from None
    out = np.full(entry["shape"], np.nan, np.dtype(entry["dtype"]))  # unwritten regions read as NaN, as in the VDS
    for b in entry["blocks"]:
        with adios2.FileReader(str(path / b["file"])) as r:
            y = r.read(name, start=b["offset"], count=b["shape"], step_selection=[b["adios_step"], 1])
        out[tuple(slice(o, o + s) for o, s in zip(b["offset"], b["shape"]))] = y.reshape(b["shape"])
    return out
