"""Retrain the shipped default models reproducibly: python -m phcomp.zoo.train_defaults [--only ROLE ...]

Fixed seeds and data sizes; writes phcomp/zoo/<id>.phcm and index.json (role -> file). The kind for each
role is the one that wins on that data (docs/families.md, docs/sas_sparse.md): separable for gridded
fields in general ("field": 64x64 blocks, any gridded data), interp for volumes ("field3d": multilevel
interpolation over 3 axes) and for SAS curves ("sas": interpolation along q; it wins at rel <= 1e-3),
a sparse-ae for SAS curves at coarse bounds, rel >= 1e-2, its rate point ("sas-coarse").
Files of earlier defaults stay in the package (chunks name their model by id).
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from ..data import darcy2d, grayscott3d, sas, scalar3d, turb2d, turb3d, wave3d
from ..core.model import shipped_index
from ..models import train
from . import INDEX, ZOO_DIR


def train_field(arrays: list[np.ndarray], meta: dict | None = None):
    """The field recipe: a separable model of 64x64 blocks."""
    return train(arrays, kind="separable", block=(64, 64), seed=0, meta=meta)


def _field():
    gs = grayscott3d(n=64, snapshots=8, seed=100)
    w = turb2d(n=128, snapshots=8, seed=100)
    p, _ = darcy2d(n=64, count=512, seed=100)
    return train_field([gs.reshape(-1, 64, 64), w, p],
                       {"trained_on": "grayscott3d 8x64^3 (as 64^2 slices) + turb2d 8x128^2 + darcy2d 512x64^2, seed 100",
                        "role": "field"})


FIELD3D_FAMILIES = {  # the volume default's training data, one array per family of 3-D physics
    "grayscott3d": lambda seed: grayscott3d(n=64, snapshots=32, seed=seed),
    "turb3d": lambda seed: turb3d(n=64, snapshots=8, seed=seed),
    "scalar3d": lambda seed: scalar3d(n=64, snapshots=8, seed=seed),
    "wave3d": lambda seed: wave3d(n=64, snapshots=8, seed=seed),
}


def field3d_families(seed: int = 100) -> dict[str, np.ndarray]:
    return {name: make(seed) for name, make in FIELD3D_FAMILIES.items()}


def train_field3d(families: dict[str, np.ndarray], meta: dict | None = None):
    """The field3d recipe on these families: pooled tables plus one set per family (docs/defaults.md)."""
    arrays = list(families.values())
    # every value: the context tables gain from each one (docs/families.md, training size)
    return train(arrays, kind="interp", ndim=3, seed=0, max_values=sum(a.size for a in arrays), family_tables=True,
                 meta=meta)


def _field3d():
    fams = field3d_families()
    return train_field3d(fams, {"trained_on": "grayscott3d 32x64^3 + turb3d, scalar3d, wave3d 8x64^3 each, seed 100; "
                                              "a table set per family beside the pooled one", "role": "field3d"})


def train_sas(arrays: list[np.ndarray], meta: dict | None = None):
    """The sas recipe: interpolation along q, over all the curves given."""
    return train(arrays, kind="interp", ndim=1, seed=0, meta=meta)


def _sas():
    curves = sas(n=4096, seed=100).log10_intensity
    return train_sas([curves], {"trained_on": "sas 4096 curves x 256 q points (log10 I), seed 100", "role": "sas"})


def _sas_coarse():
    """The SAS rate point of docs/sas_sparse.md that wins at rel 1e-2 (fixed step: coarse bounds only).
    The recipe lands in optima of quite different quality from different initialisations
    (docs/sas_sparse.md), so it is trained from two seeds and the lower validation objective ships."""
    curves = sas(n=16000, seed=0).log10_intensity[0::2]
    return train(curves, kind="sparse-ae", block=(256,), seed=0, restarts=2, latent=512, hidden=512, depth=2,
                 l1=1e-3, step=0.07, epochs=300, patience=300, lr=1e-3,
                 meta={"trained_on": "sas(n=16000, seed=0) even curves: 8000 curves x 256 q points (log10 I); "
                                     "for rel >= 1e-2", "role": "sas-coarse"})


ROLES = {"field": _field, "field3d": _field3d, "sas": _sas, "sas-coarse": _sas_coarse}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(ROLES), help="retrain these roles, keep the others")
    a = ap.parse_args(argv)
    index = shipped_index()
    for role in a.only or ROLES:
        model = ROLES[role]()
        # <id>.phcm, found by id like any model. Never delete an older default: chunks written with
        # it name it by id, and must keep decoding with every later phcomp (only index.json moves on)
        path = model.save(ZOO_DIR)
        index[role] = {"file": path.name, "id": model.id, "kind": model.kind}
        print(f"{role}: {model.id} {model.kind} block {model.block} {model.nbytes / 1e6:.2f} MB")
    INDEX.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
