"""phcomp as an ADIOS2 operator: the C++ plugin in phcomp/adios2_plugin (plugins/adios2/),
attached to variables from Python.

    import adios2, phcomp.adios2
    with adios2.Stream("out.bp", "w") as s:
        for _ in s.steps(10):
            s.write("u", u, u.shape, [0, 0, 0], u.shape, operations=[phcomp.adios2.operation(rel=1e-3)])
    # any process, after `import phcomp` (which sets ADIOS2_PLUGIN_PATH):
    u = adios2.FileReader("out.bp").read("u")

The operator encodes in-process with phcomp's C codec (no Python is called while writing or
reading, so a C++ or Fortran host reads and writes the same files with ADIOS2_PLUGIN_PATH set
to ``plugin_dir()``). It encodes with interp models (the shipped ``field3d`` default, or one
trained with ``kind="interp"``), linear or separable ones; the model is copied into the output (``<out>.bp/phcomp-models/``)
and found there at read time, so a BP output read on another machine needs only phcomp.
"""
from __future__ import annotations

import os
from pathlib import Path

from .core import native
from .core.errors import PhcompError
from .core.model import (MODEL_SUFFIX, ZOO_DIR, Model, cache_dir, default_model, find_model, install_model,
                         model_ref)

PLUGIN_NAME = "phcomp"
PLUGIN_LIBRARY = "phcomp_adios2"  # ADIOS2 loads lib<PluginLibrary>.so from ADIOS2_PLUGIN_PATH
MODELS_DIR = "phcomp-models"  # inside a BP output directory: the models its blocks use


def plugin_dir() -> Path:
    """The directory holding libphcomp_adios2.so (what ADIOS2_PLUGIN_PATH must contain)."""
    return Path(__file__).resolve().parent / "adios2_plugin"


def set_plugin_path() -> None:
    """Put ``plugin_dir()`` on ADIOS2_PLUGIN_PATH (done by ``import phcomp``; ADIOS2 reads the
    variable when it first loads a plugin, so this works any time before the first use)."""
    d = str(plugin_dir())
    parts = [p for p in os.environ.get("ADIOS2_PLUGIN_PATH", "").split(os.pathsep) if p]
    if d not in parts:
        os.environ["ADIOS2_PLUGIN_PATH"] = os.pathsep.join(parts + [d])


NATIVE_KINDS = ("interp",) + native.TRANSFORM_KINDS_ENCODED  # the kinds whose chunks the C codec writes


def native_model_file(model: Model | str | os.PathLike | None) -> tuple[Model, Path]:
    """The model (default: the shipped ``field3d``; interp, linear or separable) and a file of it that the C codec's
    hosts (this operator, the compiled HDF5 plugin) find by id: shipped, or copied to the cache."""
    ref = model_ref(model)
    m = default_model("field3d") if ref is None else find_model(ref)
    if m.kind not in NATIVE_KINDS:
        raise PhcompError(f"the ADIOS2 operator encodes with interp, linear or separable models (native C codec); "
                          f"model {m.id} is of kind {m.kind!r}: train another kind or use the default")
    for known in (ZOO_DIR / f"{m.id}{MODEL_SUFFIX}", cache_dir() / f"{m.id}{MODEL_SUFFIX}"):
        if known.is_file():
            return m, known
    return m, install_model(m)


def _number(name: str, v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise PhcompError(f"{name} must be a number, got {v!r}") from None
    if not (f >= 0 and f != float("inf")):
        raise PhcompError(f"{name} must be finite and >= 0, got {v}")
    return repr(f)


def operation(model: Model | str | os.PathLike | None = None, *, abs: float | None = None,
              rel: float | None = None, observables=None, threads: int | None = None) -> tuple[str, dict]:
    """The ``(type, parameters)`` pair of the phcomp operator, for ``Stream.write(...,
    operations=[...])`` or ``Variable.add_operation_string``. ``abs``/``rel``: error bounds as
    in ``phcomp.compress`` (both: the tighter; 0: lossless; neither: the model's default rel);
    ``model``: a Model, id or .phcm path (default: the shipped ``field3d`` model); ``threads``:
    encoder threads per block (default 1: ADIOS2 hosts usually run one rank per core)."""
    if observables:
        raise PhcompError("observables are checked by phcomp's Python encoder (phcomp.compress, the HDF5 filter, the "
                          "Zarr codec), not inside the ADIOS2 operator, which runs in C++: pass a bound, or write "
                          "through phcomp.compress")
    m, path = native_model_file(model)
    params = {"PluginName": PLUGIN_NAME, "PluginLibrary": PLUGIN_LIBRARY, "model": str(path)}
    if abs is not None:
        params["accuracy"] = _number("abs", abs)
    if rel is not None:
        params["rel"] = _number("rel", rel)
    if threads is not None:
        if not isinstance(threads, int) or not 1 <= threads <= 256:
            raise PhcompError(f"threads must be a whole number in 1..256, got {threads!r}")
        params["threads"] = str(threads)
    set_plugin_path()
    return "plugin", params


def add_operation(variable, model: Model | str | os.PathLike | None = None, *, abs: float | None = None,
                  rel: float | None = None, observables=None, threads: int | None = None):
    """Attach the phcomp operator to an adios2 Variable (the ``adios2.Variable`` of the Python
    API, or a ``adios2.bindings.Variable``); arguments as in ``operation``. Returns the variable."""
    kind, params = operation(model, abs=abs, rel=rel, observables=observables, threads=threads)
    if hasattr(variable, "add_operation_string"):
        variable.add_operation_string(kind, params)
    elif hasattr(variable, "AddOperation"):
        variable.AddOperation(kind, params)
    else:
        raise PhcompError(f"add_operation needs an adios2 Variable, got {type(variable).__name__}")
    return variable
