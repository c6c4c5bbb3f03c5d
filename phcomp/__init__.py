"""phcomp: physics-aware learned compression for HPC scientific data.

    model = phcomp.train(training_array, kind="linear")
    blob = phcomp.compress(array, model, rel=1e-3)   # every value within 1e-3 of the range
    back = phcomp.decompress(blob)                   # model found by the id in the chunk
"""
from . import core as _core
from .core import (ModelNotFoundError, Model, PhcompError, decompress, default_model, find_model, inspect_chunk,
                   install_model, load_model, register_model)
from .models import train
from ._hooks import install_adapter_hooks
from . import adios2 as _adios2
from . import observables  # noqa: F401,F811  (phcomp.observables, the registry; compress's keyword shadows it)


def compress(array, model: Model | None = None, *, abs: float | None = None, rel: float | None = None,
             observables: dict | None = None, progress=None) -> bytes:
    """Compress ``array`` into one self-describing chunk (see ``phcomp.core.compress``).

    ``observables``: ``{"energy": 1e-5, "mean": {"abs": 1e-3}, "spectrum": 1e-2, callable: tol}``:
    every chunk that leaves phcomp meets every tolerance (re-encoded tighter, finally losslessly,
    when it would not); ``phcomp.inspect_chunk`` shows the path taken and the errors achieved.
    """
    from .physics import resolve_checks

    checks = resolve_checks(observables) if observables else None
    return _core.compress(array, model, abs=abs, rel=rel, checks=checks, progress=progress)


install_adapter_hooks()
_adios2.set_plugin_path()  # adios2 readers find the phcomp operator (no adios2 import here)

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "train", "default_model", "Model", "load_model", "register_model", "find_model",
           "install_model", "inspect_chunk", "PhcompError", "ModelNotFoundError", "__version__"]
