"""Shipped default models (the embedded defaults) and where they come from.

``phcomp.default_model("field")``: gridded fields (separable, 2-D 64x64 blocks; volumes are read
as stacks of slices), trained on grayscott3d + turb2d + darcy2d; ``"field3d"``: volumes (kind
interp: multilevel interpolation over 3 axes), trained on grayscott3d (the only 3-D generator).
``phcomp.default_model("sas")``: SAS curves of 256 points stored as log10 I (interp along q; at
rel >= 1e-2 ``"sas-coarse"`` does better). ``"sas-coarse"``: a sparse-ae for
the same curves at coarse bounds (rel >= 1e-2, its trained rate point), where it beats the linear
and interp models (docs/sas_sparse.md, docs/families.md). Each is the kind that wins on that data (docs/families.md). Retrain
them reproducibly with ``python -m phcomp.zoo.train_defaults``; earlier defaults stay here, found
by id, so that chunks written with them keep decoding.
"""
from __future__ import annotations

from ..core.model import ZOO_DIR, default_model, load_model, shipped_index

INDEX = ZOO_DIR / "index.json"

__all__ = ["ZOO_DIR", "INDEX", "default_model", "list_models", "roles"]


def roles() -> set[str]:
    """The shipped roles (names ``default_model`` accepts), without loading any model."""
    return set(shipped_index())


def list_models() -> list[dict]:
    """What ships: role, id, kind, block, size, what it was trained on."""
    out = []
    for role, entry in sorted(shipped_index().items()):
        m = load_model(ZOO_DIR / entry["file"])
        out.append({"role": role, "id": m.id, "kind": m.kind, "block": list(m.block), "layout": m.layout, "bytes": m.nbytes,
                    "trained_on": m.meta.get("trained_on", "")})
    return out
