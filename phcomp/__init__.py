"""phcomp: physics-aware learned compression for HPC scientific data.

    model = phcomp.train(training_array, kind="linear")
    blob = phcomp.compress(array, model, rel=1e-3)   # every value within 1e-3 of the range
    back = phcomp.decompress(blob)                   # model found by the id in the chunk
"""
from .core import (ModelNotFoundError, Model, PhcompError, compress, decompress, find_model, inspect_chunk,
                   install_model, load_model, register_model)
from .models import train
from ._hooks import install_adapter_hooks

install_adapter_hooks()

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "train", "Model", "load_model", "register_model", "find_model",
           "install_model", "inspect_chunk", "PhcompError", "ModelNotFoundError", "__version__"]
