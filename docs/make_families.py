"""Regenerate docs/families.md: python docs/make_families.py

The four data families, each model trained on one half and measured on the other, against SZ3
(best layout: natural or samples stacked along one axis) and ZFP, all in one run, at rel 1e-2,
1e-3, 1e-4; plus bits/value against PSNR curves (rel 3e-2 .. 1e-5) in families_rd.png. The
targets of the trained-compressor work are checked in the last table.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import phcomp
from phcomp.bench import bench_phcomp, bench_sz3, bench_zfp
from phcomp.data import darcy2d, grayscott3d, sas, turb2d

HERE = Path(__file__).parent
RELS = (1e-2, 1e-3, 1e-4)
CURVE = (3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5)
TARGETS = {"grayscott3d": (1.3, 1.8, 1.6), "sas": (1.3, 1.3, 1.1), "turb2d": (1.0, 1.1, 1.1), "darcy2d": (1.0, 1.1, 1.1)}


# the sparse-ae rate point for SAS at rel 1e-2 (docs/make_sas_sparse.py compares rate points)
SAS_SAE = dict(latent=512, hidden=512, depth=2, l1=1e-3, step=0.1, epochs=300, patience=300, lr=1e-3)


def families():
    g = grayscott3d(n=64, snapshots=8, seed=0)
    w = turb2d(n=128, snapshots=8, seed=0)
    p, _ = darcy2d(n=64, count=512, seed=0)
    c = sas(n=16000, seed=0).log10_intensity
    return {
        "grayscott3d": (g[0::2], np.ascontiguousarray(g[1::2]), (8, 8, 8), (16, 16, 16), dict(latent=512, hidden=256)),
        "sas": (c[0::2], np.ascontiguousarray(c[1::2]), (256,), (256,), SAS_SAE),
        "turb2d": (w[0::2], np.ascontiguousarray(w[1::2]), (16, 16), (64, 64), dict(latent=256, hidden=256)),
        "darcy2d": (p[0::2], np.ascontiguousarray(p[1::2]), (16, 16), (64, 64), dict(latent=256, hidden=256)),
    }  # the interp kind interpolates the axes a block would cover (len(block)); the first axis holds items


def gs_training_size() -> list[str]:
    """Gray-Scott's linear model against SZ3 as the run (and so the training half) grows."""
    lines = ["| snapshots (train / test) | rel | linear ratio | separable ratio | interp ratio | SZ3 | linear x SZ3 "
             "| separable x SZ3 | interp x SZ3 |", "|---|---|---|---|---|---|---|---|---|"]
    for snaps in (32, 64):
        g = grayscott3d(n=64, snapshots=snaps, seed=0)
        test = np.ascontiguousarray(g[1::2])
        lin = phcomp.train(g[0::2], kind="linear", block=(8, 8, 8))
        sep = phcomp.train(g[0::2], kind="separable", block=(16, 16, 16))
        itp = phcomp.train(g[0::2], kind="interp", ndim=3)
        for rel in RELS:
            r, rs, ri, sz = (bench_phcomp(test, lin, rel, 0)["ratio"], bench_phcomp(test, sep, rel, 0)["ratio"],
                             bench_phcomp(test, itp, rel, 0)["ratio"], bench_sz3(test, rel, 0)["ratio"])
            lines.append(f"| {snaps // 2} / {snaps // 2} | {rel:g} | {r:.2f} | {rs:.2f} | {ri:.2f} | {sz:.2f} | "
                         f"{r / sz:.2f} | {rs / sz:.2f} | {ri / sz:.2f} |")
    return lines


def main() -> None:
    t0 = time.time()
    rows, curves = [], {}
    for fam, (train, test, block, sep_block, sae_opts) in families().items():
        lin = phcomp.train(train, kind="linear", block=block)
        sep = phcomp.train(train, kind="separable", block=sep_block)
        itp = phcomp.train(train, kind="interp", ndim=len(block))
        sae = phcomp.train(train, kind="sparse-ae", block=block, progress=False, **{"epochs": 150, "patience": 15, **sae_opts})
        kinds = (("linear", lin), ("separable", sep), ("interp", itp), ("sparse-ae", sae))
        for rel in RELS:
            sz, zf = bench_sz3(test, rel, 1), bench_zfp(test, rel, 1)
            for name, m in kinds:
                r = bench_phcomp(test, m, rel, 1)
                rows.append((fam, rel, name, r["ratio"], sz["ratio"], zf["ratio"], r["max_err_over_range"],
                             r["decompress_MBps"], r["compress_MBps"], m.nbytes))
        pts = {"linear": [], "separable": [], "interp": [], "sparse-ae": [], "SZ3": [], "ZFP": []}
        for rel in CURVE:
            for name, m in kinds:
                r = bench_phcomp(test, m, rel, 0)
                pts[name].append((r["bits_per_value"], r["psnr_db"]))
            for name, fn in (("SZ3", bench_sz3), ("ZFP", bench_zfp)):
                r = fn(test, rel, 0)
                pts[name].append((r["bits_per_value"], r["psnr_db"]))
        curves[fam] = pts
    plot(curves)
    sizes = gs_training_size()
    lines = ["| family | rel | model | ratio | SZ3 | x SZ3 | ZFP | max err/range | decomp MB/s | comp MB/s | model MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for fam, rel, name, ratio, sz, zf, err, dm, cm, nb in rows:
        lines.append(f"| {fam} | {rel:g} | {name} | {ratio:.2f} | {sz:.2f} | {ratio / sz:.2f} | {zf:.2f} | {err:.3g} | "
                     f"{dm:.0f} | {cm:.0f} | {nb / 1e6:.2f} |")
    best = {}
    for fam, rel, name, ratio, sz, *_ in rows:
        if ratio / sz > best.get((fam, rel), (0, ""))[0]:
            best[(fam, rel)] = (ratio / sz, name)
    tl = ["| family | rel | target x SZ3 | best phcomp x SZ3 | by | met |", "|---|---|---|---|---|---|"]
    for fam, targets in TARGETS.items():
        for rel, target in zip(RELS, targets):
            v, name = best[(fam, rel)]
            tl.append(f"| {fam} | {rel:g} | {target:.1f} | {v:.2f} | {name} | {'yes' if v >= target else 'no'} |")
    text = f"""# Four data families against SZ3 and ZFP

Regenerate with `python docs/make_families.py` ({time.time() - t0:.0f} s here; one timed run
per codec, so speeds are rough). Data: `grayscott3d(n=64, snapshots=8)`, `sas(n=16000)` (log10 I),
`turb2d(n=128, snapshots=8)`, `darcy2d(n=64, count=512)` (pressure), seed 0; every model is
trained on the even snapshots / samples and measured on the odd ones. Blocks: 8^3, 256, 16^2,
16^2 for linear and sparse-ae; the separable kind's defaults (16^3, 256, 64^2, 64^2); the interp
kind interpolates the same axes (3, 1, 2, 2), the first axis holding independent items. SZ3 and
ZFP get their best layout (natural, or samples stacked along one axis). Model sizes are reported
separately, not in the ratio.

{chr(10).join(lines)}

## Targets (ratio / SZ3's ratio, one run)

{chr(10).join(tl)}

## Gray-Scott: how much the training half holds

The same Gray-Scott run written with more snapshots (same steps, snapshots evenly spaced), trained
on the even ones and measured on the odd ones:

{chr(10).join(sizes)}

With 4 training snapshots (the table above) the 8^3 block PCA estimates 512 dimensions from 2048
blocks: more training data helps it. The separable kind (DCT-II per axis over 16^3 blocks) has no
basis to estimate, only the variance ranking, entropy tables and step factors; it reaches across
block borders that the 8^3 PCA cannot, which pays most at loose bounds on these smooth fields.

Neither transform kind reaches the 1e-3 / 1e-4 targets on this data, where SZ3's multilevel
interpolation is a strong predictor (its ratio here is ~1.8x what it reached on the calibration
data). The interp kind does: it predicts like SZ3 (7th-order interpolation, coarse to fine),
but adds to each point the decoded interpolation errors of its neighbours along the axes
already refined at that level (on Gray-Scott these errors correlate at 0.9 and more from one
point to the next), and codes every quantized value with tables trained per context (stride,
curvature, slope, correction, and how well the nearest known points were predicted). On the
rougher 2-D families and SAS at loose bounds the transform kinds stay ahead: each family's
winner is in the targets table.

## Rate-distortion

![bits per value against PSNR](families_rd.png)

The "by" column says which kind wins each family and bound. A sparse-ae is trained at one
latent step (its rate point; for SAS the one for rel 1e-2, see docs/sas_sparse.md, which also
compares bits/value at equal PSNR without a bound); at tighter bounds the residual has to carry
the rest, and a transform kind (linear: block PCA; separable: one basis per axis over a larger
block; both with per-group, per-context range coding), whose latent step follows the bound,
wins. The sparse-ae of the field families uses the training defaults (step 0.02, l1 1e-3; 150
epochs with early stopping), not tuned per family. The targets are those of the
trained-compressor work.
"""
    (HERE / "families.md").write_text(text)
    print(text)


def plot(curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    for ax, (fam, pts) in zip(axes, curves.items()):
        for name, style in (("linear", "o-"), ("separable", "v-"), ("interp", "*-"), ("sparse-ae", "d-"), ("SZ3", "s--"),
                            ("ZFP", "^:")):
            xs = sorted(pts[name])
            ax.plot(*zip(*xs), style, label=name)
        ax.set_title(fam)
        ax.set_xlabel("bits per value")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "families_rd.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
