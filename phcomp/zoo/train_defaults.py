"""Retrain the shipped default models reproducibly: python -m phcomp.zoo.train_defaults

Fixed seeds and data sizes; writes phcomp/zoo/<id>.phcm and index.json (role -> file). The kind for each
role is the one that wins on that data in docs/benchmarks.md (today: linear for both).
"""
from __future__ import annotations

import json


from ..data import darcy2d, grayscott3d, sas, turb2d
from ..models import train
from . import INDEX, ZOO_DIR


def main() -> None:
    gs = grayscott3d(n=64, snapshots=8, seed=100)
    w = turb2d(n=128, snapshots=8, seed=100)
    p, _ = darcy2d(n=64, count=512, seed=100)
    field = train([gs.reshape(-1, 64, 64), w, p], kind="linear", block=(16, 16), seed=0,
                  meta={"trained_on": "grayscott3d 8x64^3 (as 64^2 slices) + turb2d 8x128^2 + darcy2d 512x64^2, seed 100",
                        "role": "field"})
    curves = sas(n=4096, seed=100).log10_intensity
    sas_model = train(curves, kind="linear", block=(256,), seed=0,
                      meta={"trained_on": "sas 4096 curves x 256 q points (log10 I), seed 100", "role": "sas"})
    index = {}
    for role, model in (("field", field), ("sas", sas_model)):
        # <id>.phcm, found by id like any model. Never delete an older default: chunks written with
        # it name it by id, and must keep decoding with every later phcomp (only index.json moves on)
        path = model.save(ZOO_DIR)
        index[role] = {"file": path.name, "id": model.id, "kind": model.kind}
        print(f"{role}: {model.id} {model.kind} block {model.block} {model.nbytes / 1e6:.2f} MB")
    INDEX.write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
