"""Errors raised by phcomp. Every bad-input condition is a PhcompError (a ValueError)."""
from __future__ import annotations


class PhcompError(ValueError):
    """Bad input: corrupt or truncated chunk bytes, unsupported dtype, bad bound, wrong model."""


class ModelNotFoundError(PhcompError, LookupError):
    """A chunk names a model that is neither registered nor found on disk.

    ``model_id`` is the id the chunk asked for and ``searched`` every place that was looked at.
    """

    def __init__(self, model_id: str, searched: list[str]):
        self.model_id = model_id
        self.searched = list(searched)
        where = "\n  ".join(self.searched) if self.searched else "(nowhere)"
        super().__init__(
            f"model {model_id} not found; searched:\n  {where}\n"
            "pass model=..., register it with phcomp.register_model(), or put "
            f"{model_id}.phcm in a directory listed in PHCOMP_MODEL_PATH; files and stores written by "
            "phcomp carry their model: HDF5 under /_phcomp/models, Zarr stores under _phcomp/models "
            "(load it with phcomp.zarr.register_store_models(store))"
        )
