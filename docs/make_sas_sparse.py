"""Regenerate docs/sas_sparse.md and docs/sas_rd.png: python docs/make_sas_sparse.py

The sparse L1-autoencoder against the linear model (block PCA) on SAS curves (log10 I), where
the paper puts it: a low-dimensional nonlinear family of curves. Two comparisons, one run:
- ratio at rel 1e-2 (the error-bounded codec, every value within the bound), with SZ3 and ZFP;
- without a bound: bits/value at equal PSNR. The linear model's rate-distortion curve comes from
  its unbounded rate point (``default_rel``) swept; each sparse-ae is one trained rate point
  (l1, step); the linear bits at the sparse-ae's PSNR are interpolated on that curve.
Data: sas(n=16000, seed=0); trained on the even curves, measured on the odd ones.
Takes about 12 minutes on 2 CPU cores (four autoencoders of 300 epochs).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import phcomp
from phcomp.bench import bench_phcomp, bench_sz3, bench_zfp, quality
from phcomp.data import sas

HERE = Path(__file__).parent
LINEAR_RATES = (0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.003)
# (l1, step): the sparse-ae rate points; SAE_COMMON are the shared training options
SAE_POINTS = ((1e-2, 0.1), (2e-3, 0.1), (1e-3, 0.07))
SAE_COMMON = dict(latent=512, hidden=512, depth=2, epochs=300, patience=300, lr=1e-3)


def unbounded(x: np.ndarray, model) -> tuple[float, float]:
    blob = phcomp.compress(x, model)  # the model's own rate point: latents only, no bound
    return 8 * len(blob) / x.size, quality(x, phcomp.decompress(blob, model))[1]


def main() -> None:
    t0 = time.time()
    c = sas(n=16000, seed=0).log10_intensity
    train, test = c[0::2], np.ascontiguousarray(c[1::2])
    lin_curve = []
    for r in LINEAR_RATES:
        m = phcomp.train(train, kind="linear", block=(256,), default_rel=r)
        lin_curve.append((r,) + unbounded(test, m))
    lin = phcomp.train(train, kind="linear", block=(256,))
    lin_ratio = bench_phcomp(test, lin, 1e-2, 0)["ratio"]
    sz, zf = bench_sz3(test, 1e-2, 0)["ratio"], bench_zfp(test, 1e-2, 0)["ratio"]
    peers = {name: [(r["bits_per_value"], r["psnr_db"]) for r in (fn(test, rel, 0) for rel in (3e-2, 1e-2, 3e-3, 1e-3))]
             for name, fn in (("SZ3", bench_sz3), ("ZFP", bench_zfp))}
    pts = sorted(lin_curve, key=lambda p: p[2])
    psnrs, bits = [p[2] for p in pts], [p[1] for p in pts]
    eps = 1e-2 * float(test.max() - test.min())

    def chunked(model, rows_per_chunk: int = 256) -> float:
        """Ratio at rel 1e-2 of the whole array when stored in chunks of 256 curves (as in HDF5/Zarr)."""
        size = 0
        for i in range(0, len(test), rows_per_chunk):
            part = test[i : i + rows_per_chunk]
            blob = phcomp.compress(part, model, abs=eps)
            assert np.abs(phcomp.decompress(blob, model).astype(np.float64) - part).max() <= eps
            size += len(blob)
        return test.nbytes / size

    lin_chunked = chunked(lin)
    rows = []
    m = None
    for l1, step in SAE_POINTS:
        t = time.time()
        m = phcomp.train(train, kind="sparse-ae", block=(256,), l1=l1, step=step, progress=False, seed=0,
                         **SAE_COMMON)
        ts = time.time() - t
        b, p = unbounded(test, m)
        lb = float(np.interp(p, psnrs, bits)) if psnrs[0] <= p <= psnrs[-1] else float("nan")
        r = bench_phcomp(test, m, 1e-2, 0)
        q = phcomp.core.inspect_chunk(phcomp.compress(test, m))
        rows.append(dict(l1=l1, step=step, bits=b, psnr=p, lin_bits=lb, ratio=r["ratio"], train_s=ts, chunked=chunked(m),
                         nnz=m.meta["latent_nonzero_share"] * m.latent_dim, mb=m.nbytes / 1e6,
                         err=r["max_err_over_range"], coder=q.get("latent_coder", "")))
    # robustness: the last rate point's recipe from other initialisations, and on an independent sample;
    # the validation objective (what restarts= selects by) next to the ratio on the test curves
    robust = [("even curves", 0, m, rows[-1]["train_s"])]
    recipe = dict(kind="sparse-ae", block=(256,), l1=SAE_POINTS[-1][0], step=SAE_POINTS[-1][1], progress=False,
                  **SAE_COMMON)
    for name, data, seed in (("even curves", train, 1), ("even curves", train, 2),
                             ("sas(n=8000, seed=100)", sas(n=8000, seed=100).log10_intensity, 0)):
        t = time.time()
        robust.append((name, seed, phcomp.train(data, seed=seed, **recipe), time.time() - t))
    rl = ["| training sample | seed | validation objective | ratio at rel 1e-2 | x linear | train s |",
          "|---|---|---|---|---|---|"]
    for name, seed, model, ts in robust:
        ratio = bench_phcomp(test, model, 1e-2, 0)["ratio"]
        rl.append(f"| {name} | {seed} | {model.meta['val_objective']:.4g} | {ratio:.1f} | {ratio / lin_ratio:.2f} | {ts:.0f} |")
    plot(lin_curve, rows, peers)

    sl = ["| l1 | step | nonzero latents / curve | bits/value | PSNR dB | linear bits/value at that PSNR | "
          "bits saved | ratio at rel 1e-2 | x linear | x SZ3 | in chunks of 256 curves | max err/range | latent coder | "
          "train s | model MB |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sl.append(f"| {r['l1']:g} | {r['step']:g} | {r['nnz']:.1f} | {r['bits']:.3f} | {r['psnr']:.1f} | "
                  f"{r['lin_bits']:.3f} | {100 * (1 - r['bits'] / r['lin_bits']):.0f} % | {r['ratio']:.1f} | "
                  f"{r['ratio'] / lin_ratio:.2f} | {r['ratio'] / sz:.2f} | {r['chunked']:.1f} | {r['err']:.3g} | {r['coder']} | {r['train_s']:.0f} | "
                  f"{r['mb']:.2f} |")
    ll = ["| linear default_rel | bits/value | PSNR dB |", "|---|---|---|"]
    ll += [f"| {r:g} | {b:.3f} | {p:.1f} |" for r, b, p in lin_curve]
    text = f"""# sparse-ae against the linear model on SAS curves

Regenerate with `python docs/make_sas_sparse.py` ({time.time() - t0:.0f} s here). Data:
`sas(n=16000, seed=0)` (log10 I, 256 q points); every model trained on the 8000 even curves and
measured on the 8000 odd ones. sparse-ae options: {', '.join(f'{k}={v}' for k, v in SAE_COMMON.items())},
one model per (l1, step) rate point.

At rel 1e-2 (every value within the bound): linear **{lin_ratio:.1f}**, SZ3 {sz:.1f}, ZFP {zf:.1f};
stored in chunks of 256 curves (the bound still 1e-2 of the whole array's range, as an HDF5 or Zarr
store would hold them): linear {lin_chunked:.1f}.

{chr(10).join(sl)}

**Training is not robust.** The last rate point's recipe, from other initial seeds and on an
independent sample (ratios on the same test curves):

{chr(10).join(rl)}

The same recipe lands in optima of quite different quality. The validation objective (distortion
plus the L1 rate term on a held-out tenth of the training curves, latents rounded) ranks the runs
of one sample as their ratios do, so `phcomp.train(..., restarts=N)` (`phcomp train --restarts N`)
trains from N seeds and keeps the lowest objective; the shipped `sas-coarse` model is the better
of two seeds (`python -m phcomp.zoo.train_defaults --only sas-coarse`). Restarts pick the best of
the draws, they do not make a bad draw good: the "beats linear" row above is the good draw, and
the table says how often this recipe gets one. Tried earlier on the seed-100 sample without
closing the gap: a lower learning rate (3e-4), an L1 weight ramped up over the first 20 % of the
epochs, rolling back to the best weights on a validation spike.

"bits saved": 1 - sparse-ae bits / linear bits at the same PSNR, without a bound (the
linear curve below, interpolated). The sparse-ae is trained at one latent step, so it is a
compressor for *its* rate point: at tighter bounds (rel 1e-3 and below) the residual has to
carry the rest and the linear model, whose step follows the bound, wins (docs/families.md).

![bits per value against PSNR, SAS](sas_rd.png)

The linear model's unbounded rate-distortion curve:

{chr(10).join(ll)}
"""
    (HERE / "sas_sparse.md").write_text(text)
    print(text)


def plot(lin_curve, rows, peers) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot([b for _, b, _ in lin_curve], [p for _, _, p in lin_curve], "o-", label="linear (block PCA)")
    ax.plot([r["bits"] for r in rows], [r["psnr"] for r in rows], "D", ms=8, label="sparse-ae (one model per point)")
    for name, style in (("SZ3", "s--"), ("ZFP", "^:")):
        ax.plot(*zip(*sorted(peers[name])), style, label=f"{name} (bounded, rel 3e-2..1e-3)")
    ax.set_xlabel("bits per value")
    ax.set_ylabel("PSNR (dB)")
    ax.set_xlim(0, 1.0)
    ax.set_title("SAS curves (log10 I), unbounded rate points")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "sas_rd.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
