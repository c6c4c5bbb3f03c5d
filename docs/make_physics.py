"""Regenerate docs/physics.md: python docs/make_physics.py

What the per-chunk observable check costs on generated data: the Gray-Scott test array
(4 x 64^3 float32, linear model trained on the even snapshots) cut into chunks of 1 x 32^3
(as an HDF5 or Zarr writer would), each compressed at rel 1e-3 / 1e-2 (of the whole array's
range) without and with observable checks. Reported: share of chunks re-encoded tighter,
how far they went, and the total size against the unchecked run.
"""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

import phcomp
from phcomp.bench import quality
from phcomp.data import grayscott3d

HERE = Path(__file__).parent
SPECS = {
    "energy 1e-5": {"energy": 1e-5},
    "spectrum 1e-2": {"spectrum": 1e-2},
    "energy 1e-5 + spectrum 1e-2": {"energy": 1e-5, "spectrum": 1e-2},
    "mean abs 1e-6 + max 1e-5": {"mean": {"abs": 1e-6}, "max": 1e-5},
}


def chunks(x: np.ndarray, c: int = 32):
    for s in range(x.shape[0]):
        for i in range(0, x.shape[1], c):
            for j in range(0, x.shape[2], c):
                for k in range(0, x.shape[3], c):
                    yield x[s, i : i + c, j : j + c, k : k + c]


GAMMAS = (0.0, 0.01, 0.1, 1.0, 10.0)
SWEEP_OBS = ("energy", "gradient_energy", "spectrum")


def _families():
    from phcomp.data import darcy2d, turb2d

    w = turb2d(n=128, snapshots=8, seed=0)
    g = grayscott3d(n=32, snapshots=8, seed=0)
    p, _ = darcy2d(n=64, count=256, seed=0)
    return {"turb2d (8x8)": (w[0::2], w[1::2], (8, 8)), "grayscott3d (4^3)": (g[0::2], g[1::2], (4, 4, 4)),
            "darcy2d (8x8)": (p[0::2], p[1::2], (8, 8))}


def _blocks(x: np.ndarray, block) -> np.ndarray:
    from phcomp.core.blocking import Blocking

    lo, hi = float(x.min()), float(x.max())
    mid, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    b = Blocking(x.shape, block)
    return np.concatenate([b.to_blocks((b.slab_values(b.view(x), s) - mid) / half, s) for s in b.slabs()])


def _obs_error(name: str, x: np.ndarray, y: np.ndarray, block) -> float:
    """sqrt(sum_b ||O(y_b) - O(x_b)||^2 / sum_b ||O(x_b)||^2) over normalised blocks: the quantity
    the physics loss trains."""
    f = phcomp.observables.get_observable(name).numpy
    bx, by = _blocks(x, block), _blocks(y, block)
    num = den = 0.0
    for a, b in zip(bx, by):
        oa, ob = np.atleast_1d(f(a.reshape(block))), np.atleast_1d(f(b.reshape(block)))
        num += float(np.sum((ob - oa) ** 2))
        den += float(np.sum(oa**2))
    return float(np.sqrt(num / (den + 1e-12)))


def gamma_sweep() -> tuple[str, list]:
    from scipy.stats import spearmanr

    from phcomp.physics.alignment import diagnose

    rows, curves = [], {}
    for fam, (train, test, block) in _families().items():
        d = int(np.prod(block))
        for obs in SWEEP_OBS:
            pts = []
            for gamma in GAMMAS:
                # l1 acts on z / step: 5e-5 here is the 1e-3 on z this study was designed with (step 0.05)
                m = phcomp.train(train, kind="sparse-ae", block=block, latent=d, hidden=64, depth=1, l1=5e-5,
                                 step=0.05, normalize="chunk", epochs=40, patience=6, seed=0, progress=False,
                                 physics={obs: gamma} if gamma else None)
                blob = phcomp.compress(test, m)  # latent only: the model's fixed rate settings
                y = phcomp.decompress(blob, m)
                pts.append((gamma, quality(test, y)[1], _obs_error(obs, test, y, block), 8 * len(blob) / test.size))
                if gamma == 0:
                    align = diagnose(m, test, obs, k=1, points=24).overlap_obs_dist
            curves[(fam, obs)] = pts
            base, best = pts[0], min(pts, key=lambda p: p[2])
            decades = np.log10(base[2] / best[2]) if best[2] > 0 else 0.0
            strength = (base[1] - best[1]) / decades if decades > 0.05 else float("nan")
            rows.append((fam, obs, align, base[1], base[2], best[0], best[1], best[2], decades, strength,
                         min(p[3] for p in pts), max(p[3] for p in pts)))
    ok = [(r[2], r[9]) for r in rows if np.isfinite(r[9])]
    rho, pval = spearmanr(*zip(*ok)) if len(ok) >= 3 else (float("nan"), float("nan"))
    _plot_curves(curves)
    lines = ["| family | observable | alignment (obs vs dist, k=1) | PSNR / obs err at gamma 0 | best gamma | PSNR / obs err there "
             "| obs err gain (decades) | trade-off: dB lost per decade | bits/value range |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fam, obs, al, p0, e0, g, p1, e1, dec, st, b0, b1 in rows:
        lines.append(f"| {fam} | {obs} | {al:.3f} | {p0:.1f} dB / {e0:.2e} | {g:g} | {p1:.1f} dB / {e1:.2e} | "
                     f"{dec:.2f} | {st:.2f} | {b0:.2f}-{b1:.2f} |" if np.isfinite(st) else
                     f"| {fam} | {obs} | {al:.3f} | {p0:.1f} dB / {e0:.2e} | {g:g} | {p1:.1f} dB / {e1:.2e} | "
                     f"{dec:.2f} | no gain | {b0:.2f}-{b1:.2f} |")
    summary = (f"Spearman rank correlation between the alignment score and the trade-off strength over the "
               f"{len(ok)} combinations where the observable improved: rho = {rho:.2f} (p = {pval:.2f}). The paper "
               "predicts a negative correlation (aligned: the observable improves at little cost in PSNR).")
    return "\n".join(lines), summary


def _plot_curves(curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SWEEP_OBS), figsize=(15, 4.2))
    for ax, obs in zip(axes, SWEEP_OBS):
        for (fam, o), pts in curves.items():
            if o != obs:
                continue
            g, psnr, err, _ = zip(*pts)
            ax.plot(err, psnr, "o-", label=fam)
            for gi, x, y in zip(g, err, psnr):
                ax.annotate(f"{gi:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(f"relative {obs} error over blocks")
        ax.set_ylabel("data PSNR (dB)")
        ax.set_title(f"gamma sweep: {obs}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "physics_tradeoff.png", dpi=100)
    plt.close(fig)


def main() -> None:
    d = grayscott3d(n=64, snapshots=8, seed=0)
    model = phcomp.train(d[0::2], kind="linear")
    x = np.ascontiguousarray(d[1::2])
    rng = float(x.max() - x.min())
    rows = []
    for rel in (1e-3, 1e-2):
        eps = rel * rng
        parts = list(chunks(x))
        base = sum(len(phcomp.compress(p, model, abs=eps)) for p in parts)
        for label, spec in SPECS.items():
            paths = collections.Counter()
            total = 0
            for p in parts:
                blob = phcomp.compress(p, model, abs=eps, observables=spec)
                info = phcomp.inspect_chunk(blob)["checks"]
                paths[info["path"]] += 1
                total += len(blob)
            n = len(parts)
            escalated = n - paths["as requested"]
            rows.append((rel, label, n, escalated / n, dict(paths), x.nbytes / base, x.nbytes / total, total / base - 1))
    lines = ["| rel | checks | chunks | escalated | paths | ratio unchecked | ratio checked | cost |",
             "|---|---|---|---|---|---|---|---|"]
    for rel, label, n, share, paths, r0, r1, cost in rows:
        p = ", ".join(f"{k}: {v}" for k, v in sorted(paths.items()))
        lines.append(f"| {rel:g} | {label} | {n} | {share:.0%} | {p} | {r0:.2f} | {r1:.2f} | +{cost:.1%} bytes |")
    text = f"""# Physics-aware compression

Regenerate this page with `python docs/make_physics.py`.

## Observables and the per-chunk check

`phcomp.compress(x, model, rel=..., observables={{"energy": 1e-5, "spectrum": 1e-2}})` (and
`Phcomp(..., observables=...)` in HDF5, `"observables"` in Zarr configurations, `--observable
NAME=TOL` in the CLI) decodes every chunk with the exact decoder, computes each observable on
the original and the decoded chunk, and re-encodes a chunk that misses a tolerance with the
bound divided by 4, up to 3 times, finally losslessly. Every chunk that leaves phcomp meets
every tolerance; the chunk records the path it took and the errors achieved
(`phcomp inspect` shows them). Observables: {", ".join(phcomp.observables.observable_names())}
(see `phcomp/physics/observables.py`; relative tolerances by default, `{{"abs": x}}` for absolute).

## What the check costs

Gray-Scott 3-D U, 4 x 64^3 float32 cut into 32^3 chunks, linear model (block PCA, 8^3)
trained on the other snapshots; the bound is rel x the whole array's range. *escalated* is the
share of chunks re-encoded tighter; *cost* is the extra bytes over the same chunks without
checks.

{chr(10).join(lines)}

Reading it: a tolerance is cheap when the pointwise bound already implies it. At rel 1e-3
an energy tolerance of 1e-5 or a 1 % tolerance on every spectral bin is met by most chunks as
encoded, and the rest need one step (bound / 4). At rel 1e-2 the same tolerances are far
tighter than the bound implies, nearly every chunk is re-encoded 1-3 steps tighter, and the
checked ratio falls to about the rel 1e-3 level: ask for the bound the observables need. The
spectrum is strict because the highest-wavenumber bins of a smooth field hold almost no
power, so the bound's white noise changes them by a large relative amount. Keeping a chunk's
maximum to 1e-5 relative is stricter than any of these bounds, and most chunks end lossless.
These are the trade-offs the physics-informed training and the alignment diagnostic (below)
are meant to shift.

## Physics-informed training and the alignment diagnostic

`phcomp train --kind sparse-ae --observable energy=0.1` adds
gamma sum_b ||O(d(e(x_b))) - O(x_b)||^2 / sum_b ||O(x_b)||^2 over the blocks of a batch to the loss, for any observable with a
torch twin, at unchanged rate settings (latent step, L1 weight). `phcomp diagnose MODEL DATA
--observable NAME [--k K] [--plot out.png]` computes, at sampled operating points, the rate
(Fisher proxy from the entropy tables), observable (J_O^T J_O through the decoder) and
distortion (J_D^T J_D) sensitivity matrices and the overlaps of their dominant k-eigenspaces.

### Does the alignment score order the trade-off? (gamma sweep)

For three data families and three observables, a sparse-ae (latent = block size, hidden 64,
one hidden layer, L1 5e-5 on z / step, latent step 0.05, per-chunk normalisation, 40 epochs) is trained on the even snapshots/samples at gamma
{", ".join(f"{g:g}" for g in GAMMAS)} and measured on the odd ones without a bound (the model's
own rate point). *alignment* is the observable-vs-distortion overlap of the gamma=0 model
(k = 1: the scalar observables have rank-1 sensitivity). *trade-off* is the data PSNR lost per
decade of observable-error improvement from gamma 0 to the gamma with the smallest error; the
observable error is sqrt(sum_b ||O(y_b) - O(x_b)||^2 / sum_b ||O(x_b)||^2) over the normalised
blocks of the test data (what the loss term trains).

{{sweep_table}}

{{sweep_summary}}

What the curves show in this run: on Gray-Scott, where the gamma=0 model's energy and spectrum
sensitivities are aligned with the distortion (overlap ~0.95), a gamma of 0.1-1 improves the
observable at no PSNR cost (PSNR even rises slightly). gradient_energy (overlap ~0.01-0.06) is
never improved at a useful cost: its term (a quadratic in differences) dominates the loss, and
large gammas degrade every observable's short training. Elsewhere the gains are small (a few
hundredths to a tenth of a decade) and the costs vary from run to run. Whether the rank
correlation's sign agrees with the paper changes with details of training (it did in an earlier
version of the sparse-ae training, it does not here): with 4-5 usable combinations the test is
weak, and probing the trade-off properly needs longer training, a gamma warm-up and matched rates.

![trade-off curves](physics_tradeoff.png)

Caveats, honestly: the sparse-ae here is small and trained briefly (seconds per model), the
rate is held by the settings rather than matched exactly (bits/value column), and a handful of
combinations make a weak test of a rank correlation. The numbers are what this run measured.
"""
    sweep_table, sweep_summary = gamma_sweep()
    text = text.replace("{sweep_table}", sweep_table).replace("{sweep_summary}", sweep_summary)
    (HERE / "physics.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
