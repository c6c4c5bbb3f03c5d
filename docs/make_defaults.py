"""Regenerate docs/defaults.md: python docs/make_defaults.py

The shipped default models (phcomp models list) and the speed targets of the trained-compressor
work, measured single-process on this machine: training a field model on 64 MiB (target <= 10
min on CPU), compressing / decompressing with the shipped field model (targets >= 50 / >= 150 MB/s);
the same for the volume default (field3d, kind interp).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import phcomp
from phcomp.data import grayscott3d, turb2d
from phcomp.zoo import list_models
from phcomp.zoo import train_defaults as td

from make_lofo import SECTION as LOFO_SECTION  # docs/ is on the path when run as a script

HERE = Path(__file__).parent


def main() -> None:
    w = turb2d(n=256, snapshots=16, seed=3)
    g = grayscott3d(n=64, snapshots=60, seed=3)
    data = [g.reshape(-1, 64, 64), w]
    mib = sum(a.nbytes for a in data) / 2**20
    t = time.time()
    phcomp.train(data, kind="separable", block=(64, 64))
    train_s = time.time() - t
    fams = td.field3d_families()
    fam_mib = sum(a.nbytes for a in fams.values()) / 2**20
    t = time.time()
    td.train_field3d(fams)  # the shipped volume recipe (data generation not counted)
    train3_s = time.time() - t
    x = np.ascontiguousarray(g[:16])
    rows = _speed(x, phcomp.default_model("field"))
    rows3 = _speed(x, phcomp.default_model("field3d"))
    sas_rows = _sas_roles()
    models = "\n".join(f"| {m['role']} | {m['id']} | {m['kind']} | {m['layout']} | "
                       f"{m['bytes'] / 1e6:.2f} | {m['trained_on']} |" for m in list_models())
    text = f"""# Shipped default models

Regenerate with `python docs/make_defaults.py`; retrain the models with
`python -m phcomp.zoo.train_defaults`.

| role | id | kind | blocks / axes | MB | trained on |
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

The volume default `field3d` (kind interp, the C codec) on the same data, read as volumes: a
higher ratio at every bound (compare the tables), slower (a sequential range-coded stream, and
each item group priced with every table set; docs/native.md). Training its recipe (four 3-D
families, {fam_mib:.0f} MiB, one table set per family beside the pooled one): **{train3_s:.1f} s**.

| rel | ratio | compress MB/s | decompress MB/s |
|---|---|---|---|
{chr(10).join(rows3)}

## SAS roles

Ratios on the 8000 odd curves of `sas(n=16000, seed=0)` (log10 I; the test half of
`docs/families.md`, curves the defaults never saw), the same bound for every codec; SZ3 stacks the
curves. `sas` (interp) replaced the linear `{OLD_SAS}` (still shipped, so its chunks decode);
`sas-coarse` is the sparse-ae for rel >= 1e-2.

| rel | sas (interp) | linear {OLD_SAS} | sas-coarse | SZ3 | sas x SZ3 | linear x SZ3 | sas-coarse x SZ3 |
|---|---|---|---|---|---|---|---|
{chr(10).join(sas_rows)}
"""
    doc = HERE / "defaults.md"
    old = doc.read_text() if doc.exists() else ""
    lofo = LOFO_SECTION.search(old)  # docs/make_lofo.py's section stays
    doc.write_text(text + (lofo.group(0) if lofo else ""))
    print(text)


OLD_SAS = "be1e879a62b6010f"  # the linear sas default shipped before the interp one


def _sas_roles() -> list[str]:
    from phcomp.bench import bench_sz3
    from phcomp.core.model import find_model
    from phcomp.data import sas

    test = np.ascontiguousarray(sas(n=16000, seed=0).log10_intensity[1::2])
    models = [phcomp.default_model("sas"), find_model(OLD_SAS), phcomp.default_model("sas-coarse")]
    rows = []
    for rel in (1e-2, 1e-3, 1e-4):
        r = [test.nbytes / len(phcomp.compress(test, m, rel=rel)) for m in models]
        sz = bench_sz3(test, rel, 0)["ratio"]
        rows.append(f"| {rel:g} | " + " | ".join(f"{v:.2f}" for v in r) + f" | {sz:.2f} | "
                    + " | ".join(f"{v / sz:.2f}" for v in r) + " |")
    return rows


def _speed(x: np.ndarray, model) -> list[str]:
    rows = []
    for rel in (1e-2, 1e-3, 1e-4):
        phcomp.compress(x, model, rel=rel)  # warm-up
        tc, td = [], []
        for _ in range(3):
            t = time.time()
            b = phcomp.compress(x, model, rel=rel)
            tc.append(time.time() - t)
            t = time.time()
            phcomp.decompress(b, model)
            td.append(time.time() - t)
        rows.append(f"| {rel:g} | {x.nbytes / len(b):.1f} | {x.nbytes / np.median(tc) / 1e6:.0f} | "
                    f"{x.nbytes / np.median(td) / 1e6:.0f} |")
    return rows


if __name__ == "__main__":
    main()
