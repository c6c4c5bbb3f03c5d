"""Regenerate docs/benchmarks.md and its plot: python docs/make_benchmarks.py

Gray-Scott 3-D (U field, 64^3, 8 snapshots, seed 0): an interp model (the kind of the shipped
field3d default) and, for comparison, a separable and a linear one are trained on the even
snapshots and every codec compresses the odd ones, side by side in one run. Then the memory
check on a larger array (16 snapshots of 128^3 = 128 MiB).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import phcomp
from phcomp.bench import format_table, run_bench
from phcomp.data import grayscott3d

HERE = Path(__file__).parent
os.environ.setdefault("PHCOMP_THREADS", "1")  # one thread, like SZ3 and ZFP here
RELS = [1e-2, 1e-3, 1e-4]


def main() -> None:
    t0 = time.time()
    d = grayscott3d(n=64, snapshots=8, seed=0)
    train, test = d[0::2], d[1::2]
    t = time.time()
    model = phcomp.train(train, kind="interp", ndim=3)
    train_s = time.time() - t
    separable = phcomp.train(train, kind="separable", block=(16, 16, 16))
    linear = phcomp.train(train, kind="linear", block=(8, 8, 8))
    rows = run_bench(test, model, RELS, repeat=5)
    rows += _renamed(run_bench(test, separable, RELS, repeat=5, peers=False), "phcomp (separable)")
    rows += _renamed(run_bench(test, linear, RELS, repeat=5, peers=False), "phcomp (linear)")
    # memory at a size where per-slab temporaries no longer matter
    big = grayscott3d(n=128, snapshots=16, steps=3200, seed=1)
    big_rows = run_bench(big, model, [1e-3], repeat=1, peers=False)
    # the ADIOS2 demo's own grid spacing (dx=1): patterns span only a few cells
    coarse = grayscott3d(n=64, snapshots=8, steps=2000, dx=1.0, seed=0)
    coarse_model = phcomp.train(coarse[0::2], kind="interp", ndim=3)
    coarse_sep = phcomp.train(coarse[0::2], kind="separable", block=(16, 16, 16))
    coarse_linear = phcomp.train(coarse[0::2], kind="linear", block=(8, 8, 8))
    coarse_rows = [r for r in run_bench(coarse[1::2], coarse_model, RELS, repeat=1) if r["codec"] != "zstd-3"]
    coarse_rows += _renamed(run_bench(coarse[1::2], coarse_sep, RELS, repeat=1, peers=False), "phcomp (separable)")
    coarse_rows += _renamed(run_bench(coarse[1::2], coarse_linear, RELS, repeat=1, peers=False), "phcomp (linear)")
    curve = []
    for rel in np.geomspace(3e-2, 1e-5, 10):
        curve += [r for r in run_bench(test, model, [float(rel)], repeat=1) if r["codec"] != "zstd-3"]
        curve += _renamed(run_bench(test, separable, [float(rel)], repeat=1, peers=False), "phcomp (separable)")
        curve += _renamed(run_bench(test, linear, [float(rel)], repeat=1, peers=False), "phcomp (linear)")
    plot(curve)
    (HERE / "benchmarks.json").write_text(json.dumps({"main": rows, "large": big_rows, "coarse": coarse_rows,
                                                     "curve": curve}, indent=1))
    by = {(r["codec"], r["rel"]): r for r in rows if "ratio" in r}
    vs = ["| rel | phcomp ratio | SZ3 ratio | phcomp / SZ3 | ZFP ratio | phcomp / ZFP | separable / SZ3 | linear / SZ3 |",
          "|---|---|---|---|---|---|---|---|"]
    for rel in RELS:
        p, s, z = by[("phcomp", rel)], by.get(("SZ3", rel)), by.get(("ZFP", rel))
        se, li = by[("phcomp (separable)", rel)], by[("phcomp (linear)", rel)]
        vs.append(f"| {rel:g} | {p['ratio']:.2f} | {s['ratio']:.2f} | **{p['ratio'] / s['ratio']:.2f}x** | "
                  f"{z['ratio']:.2f} | {p['ratio'] / z['ratio']:.2f}x | {se['ratio'] / s['ratio']:.2f}x | "
                  f"{li['ratio'] / s['ratio']:.2f}x |"
                  if s and z else f"| {rel:g} | {p['ratio']:.2f} | - | - | - | - | - | - |")
    vs_sz3 = [by[("phcomp", r)]["ratio"] / by[("SZ3", r)]["ratio"] for r in RELS if ("SZ3", r) in by]
    vs_zfp = [by[("phcomp", r)]["ratio"] / by[("ZFP", r)]["ratio"] for r in RELS if ("ZFP", r) in by]
    cby = {(r["codec"], r["rel"]): r for r in coarse_rows if "ratio" in r}
    coarse_sz3 = [cby[("phcomp", r)]["ratio"] / cby[("SZ3", r)]["ratio"] for r in RELS if ("SZ3", r) in cby]
    coarse_lin = [cby[("phcomp (linear)", r)]["ratio"] / cby[("SZ3", r)]["ratio"] for r in RELS if ("SZ3", r) in cby]
    coarse_se = [cby[("phcomp (separable)", r)]["ratio"] / cby[("SZ3", r)]["ratio"] for r in RELS if ("SZ3", r) in cby]
    dec = {c: [by[(c, r)]["decompress_MBps"] for r in RELS if (c, r) in by]
           for c in ("phcomp", "SZ3", "phcomp (separable)")}
    text = f"""# Benchmarks

Regenerate everything on this page (tables, `benchmarks.json`, `rate_distortion.png`) with

    pip install -e ".[bench]" && python docs/make_benchmarks.py

The native (C) codec against the numpy path, SZ3, ZFP and zstd, with thread scaling and
peak memory: [native.md](native.md) (`python docs/make_native.py`). phcomp runs on one thread
here (the script sets `PHCOMP_THREADS=1` unless it is set), like SZ3 and ZFP.

Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()},
phcomp {phcomp.__version__}; single process. Ratios are measured side by side in one run;
speeds are medians of 5 timed runs after a warm-up and only comparable within this page.

## Gray-Scott 3-D, U field (interp model)

Data: `phcomp.data.grayscott3d(n=64, snapshots=8, seed=0)` (float32, 8 x 64^3; see
`docs/guide.md` for the generator). Model: `phcomp.train(even snapshots, kind="interp", ndim=3)`
(multilevel interpolation with same-level error correction and trained context tables; the
kind of the shipped `field3d` default), trained in {train_s:.1f} s, {model.nbytes / 1e6:.2f} MB
(reported separately, not in the ratio: a model is shared by every file it compresses);
"phcomp (separable)" is the 16^3 DCT-per-axis kind ({separable.nbytes / 1e6:.2f} MB) and
"phcomp (linear)" the 8x8x8 block PCA ({linear.nbytes / 1e6:.2f} MB), on the same data.
Measured on the 4 odd snapshots ({test.nbytes / 2**20:.0f} MiB). Bound: rel x (max - min) of
the test array, the same for every codec. SZ3 and ZFP get their best layout (natural 4-D, or
snapshots stacked along the first axis); the table names the one used.

{chr(10).join(vs)}

{format_table(rows)}

Every phcomp value was within the bound (max err/range column). Peak memory is tracemalloc's
peak during one compress / decompress call as a multiple of the array's size: it sees Python's
and numpy's allocations (the output array, the chunk's bytes) but not the C codec's own, so it
understates the whole; the peak RSS of a call, C included, is in [native.md](native.md). On a
larger array ({big.nbytes / 2**20:.0f} MiB, 16 x 128^3):

{format_table(big_rows)}

## What this shows

- The interp model reaches {min(vs_sz3):.2f}-{max(vs_sz3):.2f}x SZ3's ratio at its best layout on
  this well-resolved field, and {min(vs_zfp):.1f}-{max(vs_zfp):.1f}x ZFP's. It predicts like SZ3
  (interpolation, coarse to fine) but corrects each prediction with the decoded errors of its
  same-level neighbours and codes every value with tables trained per context. The transform
  kinds stay near SZ3 here: CALIBRATION.md reports 1.25/1.83/1.69x SZ3 for full-rank block PCA on
  its Gray-Scott data, but on ours SZ3 compresses much better (its ratio at 1e-3 above, where
  CALIBRATION's reached 10.5), and that lead does not reproduce (`docs/families.md`).
- It decodes at {min(dec['phcomp']):.0f}-{max(dec['phcomp']):.0f} MB/s in the C codec (one thread), against
  {min(dec['SZ3']):.0f}-{max(dec['SZ3']):.0f} for SZ3 and {min(dec['phcomp (separable)']):.0f}-{max(dec['phcomp (separable)']):.0f} for the separable kind: each value costs an 8-tap prediction,
  a same-level correction, four context activities (vectorised) and a step of one sequential
  range-coded stream (`docs/native.md` has the time breakdown and thread scaling).
- On the demo's own under-resolved grid (dx=1, patterns a few cells wide) every codec
  compresses less; the interp model reaches {" / ".join(f"{v:.2f}" for v in coarse_sz3)}x SZ3 there
  (rel {" / ".join(f"{r:g}" for r in RELS)}), the separable one {" / ".join(f"{v:.2f}" for v in coarse_se)}x
  and the 8^3 block PCA {" / ".join(f"{v:.2f}" for v in coarse_lin)}x.

{format_table(coarse_rows)}

- Measured alternatives that did not pay on this data (with the 8^3 block PCA): predicting
  low-frequency coefficients from the neighbouring block (no gain: block coefficients are not
  predictive at this pattern scale), residual tables conditioned on block activity (about 2 %).

## Rate-distortion

![bits per value vs PSNR](rate_distortion.png)

Bits/value against PSNR over bounds from 3e-2 to 1e-5 of the range (same data).

Generated in {time.time() - t0:.0f} s.
"""
    (HERE / "benchmarks.md").write_text(text)
    print(text)


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for codec, style in (("phcomp", "o-"), ("phcomp (separable)", "d-"), ("phcomp (linear)", "v-"), ("SZ3", "s--"),
                         ("ZFP", "^:")):
        pts = sorted((r["bits_per_value"], r["psnr_db"]) for r in rows if r["codec"] == codec and "ratio" in r)
        if pts:
            ax.plot(*zip(*pts), style, label="phcomp (interp)" if codec == "phcomp" else codec)
    ax.set_xlabel("bits per value")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Gray-Scott 3-D U, 4 x 64^3 float32")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "rate_distortion.png", dpi=110)


def _renamed(rows: list[dict], codec: str) -> list[dict]:
    for r in rows:
        r["codec"] = codec
    return rows


if __name__ == "__main__":
    sys.exit(main())
