"""The codec core: numpy, constriction and zstandard only (no torch, h5py, zarr, adios2, mpi4py)."""
from .codec import compress, compress_lossless, decompress, finite_range
from .errors import ModelNotFoundError, PhcompError
from .inspect import inspect_chunk
from .model import Model, default_model, find_model, install_model, load_model, register_model, register_model_source

__all__ = ["compress", "compress_lossless", "decompress", "finite_range", "inspect_chunk", "Model", "default_model", "find_model", "install_model", "load_model",
           "register_model", "register_model_source", "PhcompError", "ModelNotFoundError"]
