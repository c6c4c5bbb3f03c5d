"""The alignment diagnostic (Segui & Armour, "A Geometric Lens on Physics-Aligned Data Compression").

At sampled operating points (encoded blocks), three latent-space sensitivity matrices compete:
  rate        R = Fisher proxy of -log p(z) under the model's entropy tables (diagonal: 1 / var
                  of each channel's table, in latent-step units),
  observable  O = J_O^T J_O, J_O the Jacobian of the observable through the decoder,
  distortion  D = J_D^T J_D, J_D the decoder's Jacobian.
Their dominant k-dimensional eigenspaces U_R, U_O, U_D show where each objective wants noise
suppressed; the overlap ||U_A^T U_B||_F^2 / k is 1 when two are aligned (the observable is kept
"for free" by keeping the data) and 0 when they compete. numpy only: decoder Jacobians are exact
for the model's decoders (ReLU gates of the integer MLP relaxed to reals), observable Jacobians
are central differences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.blocking import Blocking
from ..core.decoder import ACT_MAX
from ..core.errors import PhcompError
from ..core.model import Model
from ..core.tables import level_and_shift
from .observables import get_observable


@dataclass
class Alignment:
    observable: str
    k: int
    points: int
    overlap_obs_dist: float  # mean over points of ||U_O^T U_D||^2 / k
    overlap_rate_obs: float
    overlap_rate_dist: float
    spread: dict  # standard deviations of the three overlaps
    spectra: dict  # mean eigenvalues of each matrix, largest first, normalised to the largest
    degenerate: list  # matrices whose top-k eigenspace is not defined (no gap after the k-th value)

    def table(self) -> str:
        rows = [("observable vs distortion", self.overlap_obs_dist, self.spread["obs_dist"]),
                ("rate vs observable", self.overlap_rate_obs, self.spread["rate_obs"]),
                ("rate vs distortion", self.overlap_rate_dist, self.spread["rate_dist"])]
        head = f"alignment of the top-{self.k} eigenspaces, {self.observable}, {self.points} operating points"
        lines = [head] + [f"  {n:26s} {m:.3f} +- {s:.3f}" for n, m, s in rows]
        for name in self.degenerate:
            lines.append(f"  note: the {name} matrix has no gap after its eigenvalue {self.k}: its top-{self.k} space is "
                         "not unique (rank below k, e.g. rank 1 for a scalar observable; ties, e.g. channels sharing an "
                         "entropy table; or isotropy, e.g. an orthonormal decoder); read overlaps with it with care")
        return "\n".join(lines)

    def plot(self, path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        names = ["observable\nvs distortion", "rate\nvs observable", "rate\nvs distortion"]
        vals = [self.overlap_obs_dist, self.overlap_rate_obs, self.overlap_rate_dist]
        errs = [self.spread["obs_dist"], self.spread["rate_obs"], self.spread["rate_dist"]]
        a.bar(names, vals, yerr=errs, color=["tab:green", "tab:orange", "tab:blue"])
        a.set_ylim(0, 1)
        a.set_ylabel(f"overlap of top-{self.k} eigenspaces")
        a.set_title(f"alignment, {self.observable}")
        for name, spec in self.spectra.items():
            b.semilogy(np.arange(1, len(spec) + 1), np.maximum(spec, 1e-16), label=name)
        b.axvline(self.k + 0.5, color="grey", ls=":")
        b.set_xlabel("eigenvalue index")
        b.set_ylabel("eigenvalue / largest")
        b.set_title("sensitivity spectra (mean over points)")
        b.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def latent_step(model: Model, rel: float) -> float:
    if model.params.get("step_mode", "scaled") == "fixed":
        return float(model.params["default_step"])
    from ..core.codec import step_factor

    return step_factor(model, rel) * 4.0 * rel  # the step compress uses on a chunk at this bound


def decoder_jacobian(model: Model, q: np.ndarray, step: float) -> np.ndarray:
    """d x_n / d q at the integer latent ``q`` (shape (K,)) -> (D, K)."""
    dec = model.decoder
    if dec.kind == "linear_int":
        return (dec.weight * (step * 2.0 ** (-dec.shift))).T
    if dec.kind == "mlp_int":
        # chain rule through each hidden layer's ReLU + requantisation (slope m / 2**s where the
        # activation is inside (0, ACT_MAX), else 0), evaluated with the decoder's integer activations
        h = q.astype(np.float64)[None, :]
        jac = np.eye(q.size)
        for w, b, m, sh in dec.layers[:-1]:
            a = (h @ w).astype(np.int64) + b
            h = np.clip((a * m + (1 << (sh - 1))) >> sh, 0, ACT_MAX).astype(np.float64)
            scaled = a[0] * m / 2.0**sh
            gate = ((scaled > 0) & (scaled < ACT_MAX)).astype(np.float64)
            jac = (jac @ w) * (gate * m / 2.0**sh)
        j = jac @ dec.layers[-1][0] * dec.out_scale + dec.lin_weight * 2.0 ** (-dec.lin_shift)
        return j.T
    raise PhcompError(f"no Jacobian for decoder {dec.kind}")


def observable_jacobian(fn, x: np.ndarray, shape: tuple[int, ...], h: float = 1e-4) -> np.ndarray:
    """d O(x) / d x by central differences -> (dim O, D)."""
    f = lambda v: np.atleast_1d(np.asarray(fn(v.reshape(shape)), dtype=np.float64)).ravel()  # noqa: E731
    base = f(x)
    jac = np.empty((base.size, x.size))
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        jac[:, i] = (f(x + e) - f(x - e)) / (2 * h)
    return jac


def rate_hessian(model: Model, step: float) -> np.ndarray:
    """diag(1 / var_k): each channel's table (at the level the encoder would pick) as a Gaussian."""
    t = model.tables
    out = np.empty(model.latent_dim)
    for g in range(t.ngroups):
        level, shift = level_and_shift(t.sigma[g], step)
        f = t.dense(g, level, 0).freq[:-1].astype(np.float64)
        v = np.arange(f.size) + t.dense(g, level, 0).lo
        p = f / f.sum()
        var = float((p * v * v).sum() - (p * v).sum() ** 2) * 4.0**shift
        out[t.group_edges[g] : t.group_edges[g + 1]] = 1.0 / max(var, 1e-12)
    return np.diag(out)


def _eig(m: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    order = np.argsort(vals)[::-1]
    return vecs[:, order[:k]], np.maximum(vals[order], 0)


def _gap(vals: np.ndarray, k: int) -> bool:
    return k < len(vals) and vals[0] > 0 and (vals[k - 1] - vals[k]) > 1e-6 * vals[0]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum((a.T @ b) ** 2) / a.shape[1])


def diagnose(model: Model, data: np.ndarray, observable: str, *, k: int = 4, points: int = 32, rel: float = 1e-3,
             seed: int = 0, **options) -> Alignment:
    obs = get_observable(observable)
    fn = (lambda x: obs.numpy(x, **{**obs.options, **options}))
    x = np.asarray(data)
    fin = x[np.isfinite(x)]
    if fin.size == 0:
        raise PhcompError("no finite data to diagnose on")
    lo, hi = float(fin.min()), float(fin.max())
    mid, half = lo / 2 + hi / 2, (hi / 2 - lo / 2) or 1.0
    b = Blocking(x.shape, model.block)
    blocks = np.concatenate([b.to_blocks((b.slab_values(b.view(x), s) - mid) / half, s) for s in b.slabs()])
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(blocks), min(points, len(blocks)), replace=False)
    step = latent_step(model, rel)
    kk = max(1, min(k, model.latent_dim))
    u_r, v_r = _eig(rate_hessian(model, step), kk)
    scores, spectra, gaps = [], {"rate": [], "observable": [], "distortion": []}, {"observable": [], "distortion": []}
    for i in pick:
        q = np.rint(model.encoder(blocks[i][None])[0] / step)
        jd = decoder_jacobian(model, q, step)  # (D, K)
        xh = model.decoder(q[None].astype(np.int64), step)[0]
        jo = observable_jacobian(fn, xh, model.block) @ jd  # (dim O, K)
        (u_o, v_o), (u_d, v_d) = _eig(jo.T @ jo, kk), _eig(jd.T @ jd, kk)
        scores.append((overlap(u_o, u_d), overlap(u_r, u_o), overlap(u_r, u_d)))
        for name, v in (("rate", v_r), ("observable", v_o), ("distortion", v_d)):
            spectra[name].append(v / (v[0] or 1.0))
        gaps["observable"].append(_gap(v_o, kk))
        gaps["distortion"].append(_gap(v_d, kk))
    s = np.array(scores)
    degenerate = [n for n, g in gaps.items() if np.mean(g) < 0.5] + ([] if _gap(v_r, kk) else ["rate"])
    return Alignment(observable, kk, len(pick), *map(float, s.mean(axis=0)),
                     {"obs_dist": float(s[:, 0].std()), "rate_obs": float(s[:, 1].std()), "rate_dist": float(s[:, 2].std())},
                     {n: np.mean(v, axis=0) for n, v in spectra.items()}, degenerate)
