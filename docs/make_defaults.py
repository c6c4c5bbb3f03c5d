"""Regenerate docs/defaults.md: python docs/make_defaults.py

The shipped default models (phcomp models list) and the speed targets of the trained-compressor
work, measured single-process on this machine: training a field model on 64 MiB (target <= 10
min on CPU), compressing / decompressing with the shipped field model (targets >= 50 / >= 150 MB/s).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import phcomp
from phcomp.data import grayscott3d, turb2d
from phcomp.zoo import list_models

HERE = Path(__file__).parent


def main() -> None:
    w = turb2d(n=256, snapshots=16, seed=3)
    g = grayscott3d(n=64, snapshots=60, seed=3)
    data = [g.reshape(-1, 64, 64), w]
    mib = sum(a.nbytes for a in data) / 2**20
    t = time.time()
    phcomp.train(data, kind="separable", block=(64, 64))
    train_s = time.time() - t
    fm = phcomp.default_model("field")
    x = np.ascontiguousarray(g[:16])
    rows = []
    for rel in (1e-2, 1e-3, 1e-4):
        phcomp.compress(x, fm, rel=rel)  # warm-up
        tc, td = [], []
        for _ in range(3):
            t = time.time()
            b = phcomp.compress(x, fm, rel=rel)
            tc.append(time.time() - t)
            t = time.time()
            phcomp.decompress(b, fm)
            td.append(time.time() - t)
        rows.append(f"| {rel:g} | {x.nbytes / len(b):.1f} | {x.nbytes / np.median(tc) / 1e6:.0f} | "
                    f"{x.nbytes / np.median(td) / 1e6:.0f} |")
    models = "\n".join(f"| {m['role']} | {m['id']} | {m['kind']} | {'x'.join(map(str, m['block']))} | "
                       f"{m['bytes'] / 1e6:.2f} | {m['trained_on']} |" for m in list_models())
    text = f"""# Shipped default models

Regenerate with `python docs/make_defaults.py`; retrain the models with
`python -m phcomp.zoo.train_defaults`.

| role | id | kind | block | MB | trained on |
|---|---|---|---|---|---|
{models}

## Speed (single process, this machine)

Training a 64x64 separable field model (the shipped field recipe) on {mib:.0f} MiB (Gray-Scott slices + turbulence): **{train_s:.1f} s**
(target: at most 10 minutes on CPU).

The shipped field model on 16 MiB of Gray-Scott data it was not trained on (median of 3 runs after a
warm-up; targets: compress >= 50 MB/s, decompress >= 150 MB/s):

| rel | ratio | compress MB/s | decompress MB/s |
|---|---|---|---|
{chr(10).join(rows)}
"""
    (HERE / "defaults.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
