"""Leave-one-family-out: do the shipped defaults' recipes beat SZ3 on physics they never saw?

    python docs/make_lofo.py [--work DIR] [--roles field3d sas field] [--tables-only]

For each role and each family of ``phcomp.data`` it covers, the role's recipe
(phcomp/zoo/train_defaults.py) is retrained without that family and compared with SZ3 (pysz)
on unseen data of it (other seeds), at rel 1e-2 / 1e-3 / 1e-4, in one run; the shipped model is
measured on every family, beside the default it replaced. Both codecs get the same relative
bound of the same arrays (one 64^3 snapshot or 64^2 slice stack at a time; SAS: all curves
stacked, SZ3's best layout). Writes the "Leave-one-family-out" section of docs/defaults.md and
docs/lofo.json. Generated data is cached in --work (default /tmp/phcomp-lofo).
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

import phcomp
from phcomp.core import compress
from phcomp.data import darcy2d, grayscott3d, sas, scalar3d, turb2d, turb3d, wave3d
from phcomp.data.sas import SHAPES
from phcomp.zoo import train_defaults as td

HERE = Path(__file__).parent
RELS = (1e-2, 1e-3, 1e-4)
OLD = {"field3d": "41b37b0aa7e3477f"}  # the defaults these recipes replaced (still shipped)
SAS_TEST_GRID = {"nq": 200, "q_range": (2e-3, 0.5)}  # a q grid no SAS model was trained on


def _cached(work: Path, name: str, make) -> np.ndarray:
    p = work / f"{name}.npy"
    if not p.exists():
        t = time.time()
        np.save(p, make())
        print(f"  generated {name} in {time.time() - t:.0f} s", flush=True)
    return np.load(p)


def sz3_bytes(x: np.ndarray, rel: float) -> int:
    import pysz

    best = None
    layouts = [x] if x.ndim <= 2 else [x]
    if x.ndim == 2:
        layouts.append(x.reshape(-1))
    for arr in layouts:
        arr = np.ascontiguousarray(arr)
        cfg = pysz.szConfig(arr.shape)
        cfg.errorBoundMode = pysz.szErrorBoundMode.REL
        cfg.relErrorBound = rel
        c, _ = pysz.sz.compress(arr, cfg)
        best = c.nbytes if best is None else min(best, c.nbytes)
    return best


def ratios(model, pieces: list[np.ndarray], rel: float) -> tuple[float, float]:
    """(phcomp ratio, SZ3 ratio) over the pieces, each compressed on its own with both."""
    raw = sum(p.nbytes for p in pieces)
    ph, sz = 0, 0
    for p in pieces:
        p = np.ascontiguousarray(p)
        blob = compress(p, model, rel=rel)
        y = phcomp.decompress(blob, model)
        rng = float(p.max() - p.min())
        assert float(np.abs(y.astype(np.float64) - p).max()) <= rel * rng * (1 + 1e-12), "bound broken"
        ph += len(blob)
        sz += sz3_bytes(p, rel)
    return raw / ph, raw / sz


# --- the families of each role: training data (the recipe's seed 100) and unseen test data (seed 3)
def field3d_data(work: Path):
    train = {f: _cached(work, f"{f}_train", lambda f=f: td.FIELD3D_FAMILIES[f](100)) for f in td.FIELD3D_FAMILIES}
    test = {"grayscott3d": _cached(work, "grayscott3d_test", lambda: grayscott3d(n=64, snapshots=4, seed=3)),
            "turb3d": _cached(work, "turb3d_test", lambda: turb3d(n=64, snapshots=4, seed=3)),
            "scalar3d": _cached(work, "scalar3d_test", lambda: scalar3d(n=64, snapshots=4, seed=3)),
            "wave3d": _cached(work, "wave3d_test", lambda: wave3d(n=64, snapshots=4, seed=3))}
    return train, {f: list(x) for f, x in test.items()}


def sas_data(work: Path):
    train = _cached(work, "sas_train", lambda: sas(n=4096, seed=100).log10_intensity)
    labels = _cached(work, "sas_train_labels", lambda: sas(n=4096, seed=100).labels)
    test = {s: [_cached(work, f"sas_test_{s}", lambda s=s: sas(n=1000, seed=3, shapes=(s,), **SAS_TEST_GRID).log10_intensity)]
            for s in SHAPES}
    return {s: train[labels == i] for i, s in enumerate(SHAPES)}, test


def field_data(work: Path):
    gs = _cached(work, "grayscott3d_field_train", lambda: grayscott3d(n=64, snapshots=8, seed=100))
    train = {"grayscott3d": gs.reshape(-1, 64, 64),
             "turb2d": _cached(work, "turb2d_train", lambda: turb2d(n=128, snapshots=8, seed=100)),
             "darcy2d": _cached(work, "darcy2d_train", lambda: darcy2d(n=64, count=512, seed=100)[0])}
    g3 = _cached(work, "grayscott3d_test", lambda: grayscott3d(n=64, snapshots=4, seed=3))
    test = {"grayscott3d": list(g3),  # each snapshot as a stack of 64 slices of 64^2
            # the same volumes as a 2-D stack, slices 8 apart: no correlation along the stack for SZ3 to use
            "grayscott3d (2-D slices 8 apart)": [np.ascontiguousarray(g3[:, ::8].reshape(-1, 64, 64))],
            "turb2d": [_cached(work, "turb2d_test", lambda: turb2d(n=128, snapshots=8, seed=3))],
            "darcy2d": [_cached(work, "darcy2d_test", lambda: darcy2d(n=64, count=256, seed=3)[0])]}
    return train, test


def _fmt_cells(cells: dict) -> str:
    return " | ".join(f"{cells[r][0] / cells[r][1]:.2f}" for r in RELS)


def run_role(role: str, work: Path) -> dict:
    print(f"{role}:", flush=True)
    if role == "field3d":
        train, test = field3d_data(work)
        recipe = lambda fams: td.train_field3d(fams)  # noqa: E731
    elif role == "sas":
        train, test = sas_data(work)
        recipe = lambda fams: td.train_sas(list(fams.values()))  # noqa: E731
    else:
        train, test = field_data(work)
        recipe = lambda fams: td.train_field(list(fams.values()))  # noqa: E731
    shipped = phcomp.default_model(role)
    old = phcomp.core.model.find_model(OLD[role]) if role in OLD else None
    out = {"held_out": {}, "shipped": {}, "old": {}}
    for fam in train:
        t = time.time()
        model = recipe({f: a for f, a in train.items() if f != fam})
        for key in (k for k in test if k.split(" ")[0] == fam):  # a family may have more than one test set
            cells = {r: ratios(model, test[key], r) for r in RELS}
            out["held_out"][key] = {str(r): c for r, c in cells.items()}
            print(f"  without {fam}, on {key}: x SZ3 {_fmt_cells(cells)}  ({time.time() - t:.0f} s)", flush=True)
    for fam in test:
        out["shipped"][fam] = {str(r): ratios(shipped, test[fam], r) for r in RELS}
        if old is not None:
            out["old"][fam] = {str(r): ratios(old, test[fam], r) for r in RELS}
    return out


def _table(role: str, res: dict) -> str:
    head = " | ".join(f"x SZ3 at {r:g}" for r in RELS)
    lines = [f"| held-out family | {head} | ratios at {RELS[1]:g} (phcomp / SZ3) |", "|---" * (len(RELS) + 2) + "|"]
    for fam, cells in res["held_out"].items():
        c = {float(r): v for r, v in cells.items()}
        mid = c[RELS[1]]
        lines.append(f"| {fam} | {_fmt_cells(c)} | {mid[0]:.1f} / {mid[1]:.1f} |")
    lines += ["", f"The shipped `{role}` on every family (trained on all of them; seeds it never saw):", "",
              f"| family | {head} |" + ("".join(f" old default at {r:g} |" for r in RELS)
                                         + " change |" if res["old"] else ""),
              "|---" * (len(RELS) + 1 + (len(RELS) + 1 if res["old"] else 0)) + "|"]
    for fam, cells in res["shipped"].items():
        c = {float(r): v for r, v in cells.items()}
        row = f"| {fam} | {_fmt_cells(c)} |"
        if res["old"]:
            o = {float(r): v for r, v in res["old"][fam].items()}
            change = " / ".join(f"{100 * (c[r][0] / o[r][0] - 1):+.1f} %" for r in RELS)
            row += f" {_fmt_cells(o)} | {change} |"
        lines.append(row)
    return "\n".join(lines)


SECTION = re.compile(r"\n## Leave-one-family-out\n.*?(?=\n## |\Z)", re.S)  # this script's part of defaults.md
TARGETS = {"field3d": 1.1, "field": 1.1, "sas": 1.2}  # issue 15: x SZ3 on every held-out family, every bound


def _verdict(role: str, res: dict) -> str:
    """Which held-out cells miss the role's target, computed from the results (never typed in)."""
    goal = TARGETS[role]
    miss = [f"{fam} at {r} ({v[0] / v[1]:.2f}x)" for fam, cells in res["held_out"].items()
            for r, v in cells.items() if v[0] / v[1] < goal]
    if not miss:
        return f"Target {goal}x SZ3 on every held-out family at every bound: **met**."
    return f"Target {goal}x SZ3 on every held-out family at every bound: **missed** in " + "; ".join(miss) + "."


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/phcomp-lofo"))
    ap.add_argument("--tables-only", action="store_true", help="rewrite docs/defaults.md from docs/lofo.json, no runs")
    ap.add_argument("--roles", nargs="+", default=["field3d", "sas", "field"], choices=["field3d", "sas", "field"])
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    jpath = HERE / "lofo.json"
    results = json.loads(jpath.read_text()) if jpath.exists() else {}
    for role in [] if a.tables_only else a.roles:
        results[role] = run_role(role, a.work)
        jpath.write_text(json.dumps(results, indent=1) + "\n")
    notes = {
        "field3d": "3-D families: Gray-Scott, decaying turbulence (x velocity), a passive scalar in an ABC flow, "
                   "acoustic waves from point sources; the recipe keeps a table set per family beside the pooled one.",
        "sas": f"SAS shapes {', '.join(SHAPES)} (log10 I); test curves on a q grid no model saw "
               f"({SAS_TEST_GRID['nq']} points over {SAS_TEST_GRID['q_range'][0]:g}-{SAS_TEST_GRID['q_range'][1]:g} 1/A).",
        "field": "2-D families: Gray-Scott slices, 2-D turbulence, Darcy pressure; the separable 64x64 recipe. "
                 "`grayscott3d` is a 64^3 volume handed to this 2-D model: it codes each 64x64 slice on its own "
                 "while SZ3 predicts along all three axes, which is what `field3d` is for (1.66-1.82x SZ3 on the "
                 "same held-out volumes above); the row below it takes slices 8 apart, a true 2-D stack.",
    }
    parts = [f"### {role}\n\n{notes[role]}\n\n{_table(role, results[role])}\n\n{_verdict(role, results[role])}\n"
             for role in ("field3d", "sas", "field") if role in results]
    section = ("## Leave-one-family-out\n\nRegenerate with `python docs/make_lofo.py` (one run: each recipe retrained "
               "without each family, then phcomp and SZ3 on unseen data of that family at the same bounds; "
               "cells are phcomp's ratio over SZ3's).\n\n" + "\n".join(parts))
    doc = HERE / "defaults.md"
    text = doc.read_text()
    text = SECTION.sub("", text).rstrip() + "\n\n" + section
    doc.write_text(text)


if __name__ == "__main__":
    main()
