"""Regenerate docs/ved.md: python docs/make_ved.py

The VED paper's kind of comparison on darcy2d (32x32 fields, 1024 samples: 512 train, 512
test): the relative L2 test error as a function of the latent size r, for
  (a) compressing the pressure (autoencoding): VED vs PCA (the optimal linear code of size r);
  (b) the log-permeability -> pressure map: VED (encoder on log K, decoder to p) vs rank-r CCA
      (canonical-correlation reduced-rank regression),
with and without each penalty (beta: KL weight; lam: aggregate-posterior covariance penalty),
and the smallest r that reaches each target error. Errors use the posterior mean, in float:
this compares the models' capacity, before any quantisation.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from phcomp.data import darcy2d
from phcomp.models.ved import train_ved

HERE = Path(__file__).parent
RS = (2, 4, 8, 16, 32, 64, 128)
VARIANTS = {"VED (beta, lam)": (1e-3, 1e-2), "no cov penalty (lam=0)": (1e-3, 0.0),
            "no KL (beta=0)": (0.0, 1e-2), "neither (plain AE)": (0.0, 0.0)}
TARGETS = {True: (0.30, 0.20, 0.10), False: (0.60, 0.50, 0.45)}  # per task: autoencoding, field map


def rel_err(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(pred - truth) / np.linalg.norm(truth - truth.mean(0)))


def pca_error(train: np.ndarray, test: np.ndarray, r: int) -> float:
    mu = train.mean(0)
    _, _, vt = np.linalg.svd(train - mu, full_matrices=False)
    v = vt[:r].T
    return rel_err(mu + (test - mu) @ v @ v.T, test)


def cca_error(xtr, ytr, xte, yte, r: int, dims: int = 200, ridge: float = 1e-3) -> float:
    def reduce(a, b):
        mu = a.mean(0)
        _, _, vt = np.linalg.svd(a - mu, full_matrices=False)
        v = vt[:dims].T
        return (a - mu) @ v, (b - mu) @ v, v, mu

    xa, xb, _, _ = reduce(xtr, xte)
    ya, _, vy, muy = reduce(ytr, ytr)
    n = len(xa)
    cxx = xa.T @ xa / n
    cyy = ya.T @ ya / n
    cxy = xa.T @ ya / n
    cxx += ridge * np.trace(cxx) / len(cxx) * np.eye(len(cxx))
    cyy += ridge * np.trace(cyy) / len(cyy) * np.eye(len(cyy))

    def inv_sqrt(c):
        w, u = np.linalg.eigh(c)
        return u @ np.diag(w**-0.5) @ u.T, u @ np.diag(w**0.5) @ u.T

    cx_is, _ = inv_sqrt(cxx)
    cy_is, cy_s = inv_sqrt(cyy)
    u, s, vt = np.linalg.svd(cx_is @ cxy @ cy_is)
    # rank-r prediction of y from x through the top r canonical pairs
    b = cx_is @ u[:, :r] @ np.diag(s[:r]) @ vt[:r] @ cy_s
    pred = muy + (xb @ b) @ vy.T
    return rel_err(pred, yte)


def ved_error(xtr, ytr, xte, yte, r, beta, lam, autoencode) -> float:
    import torch

    net = train_ved([xtr.reshape(-1, 32, 32)], (32, 32), targets=None if autoencode else [ytr.reshape(-1, 32, 32)],
                    latent=r, hidden=256, beta=beta, lam=lam, epochs=200, qat_epochs=0, patience=25, batch=64,
                    lr=1e-3, progress=False, seed=0, return_net=True)

    def norm(a, ref):
        lo, hi = float(ref.min()), float(ref.max())
        return (a - (lo / 2 + hi / 2)) / (hi / 2 - lo / 2), (lo, hi)

    # train_ved normalises each training array by its range: do the same to evaluate
    xn, _ = norm(xte, xtr)
    _, (lo, hi) = norm(ytr, ytr)
    with torch.no_grad():
        yh = net.decode(net.encode(torch.as_tensor(xn, dtype=torch.float32))).numpy().astype(np.float64)
    return rel_err(yh * (hi / 2 - lo / 2) + (lo / 2 + hi / 2), yte)


def smallest_r(errs: dict[int, float], target: float) -> str:
    ok = [r for r in RS if errs[r] <= target]
    return str(min(ok)) if ok else f"> {RS[-1]}"


def main() -> None:
    t0 = time.time()
    p, logk = darcy2d(n=32, count=1024, seed=0)
    p, logk = p.reshape(len(p), -1).astype(np.float64), logk.reshape(len(logk), -1).astype(np.float64)
    ptr, pte, ktr, kte = p[:512], p[512:], logk[:512], logk[512:]
    tables = []
    for task, autoencode in (("(a) compressing the pressure", True), ("(b) log-permeability -> pressure", False)):
        rows = {}
        rows["PCA (rank r)" if autoencode else "CCA (rank r)"] = {
            r: (pca_error(ptr, pte, r) if autoencode else cca_error(ktr, ptr, kte, pte, r)) for r in RS}
        for name, (beta, lam) in VARIANTS.items():
            xtr, xte = (ptr, pte) if autoencode else (ktr, kte)
            rows[name] = {r: ved_error(xtr, ptr, xte, pte, r, beta, lam, autoencode) for r in RS}
        targets = TARGETS[autoencode]
        head = "| model | " + " | ".join(f"r={r}" for r in RS) + " | " + " | ".join(f"r for {t:.0%}" for t in targets) + " |"
        lines = [f"### {task}", "", head, "|" + "---|" * (1 + len(RS) + len(targets))]
        for name, errs in rows.items():
            lines.append(f"| {name} | " + " | ".join(f"{errs[r]:.3f}" for r in RS) + " | "
                         + " | ".join(smallest_r(errs, t) for t in targets) + " |")
        tables.append("\n".join(lines))
    text = f"""# Variational encoder-decoder on Darcy flow

Regenerate with `python docs/make_ved.py` ({time.time() - t0:.0f} s here).

`kind="ved"` (phcomp/models/ved.py): an encoder to a Gaussian posterior of size r, a decoder
(linear synthesis + one hidden ReLU layer), trained on
||d(z) - y||^2 + beta KL / D + lam ||Cov_q(z)[z] - I||_F^2 / r^2 (beta = 1e-3, lam = 1e-2 by
default). Data: `darcy2d(n=32, count=1024)`: steady Darcy pressure over log-normal
permeability, 512 samples to train, 512 to test. Entries are relative L2 test errors
||y_hat - y|| / ||y - mean(y)|| from the posterior mean (float, before quantisation); the last
columns give the smallest r reaching each target error.

{chr(10).join(tables)}

Reading it: for the field-to-field map (the paper's setting) the VED reaches a given error
with a much smaller latent than rank-r CCA at small and moderate r, the kind of gap the paper
reports (r = 50 for VED where CCA needs 147, on a larger groundwater problem); both level off
near 0.44 here, where 512 training samples limit what any map can learn. For compressing the
pressure itself, PCA is the optimal linear code and the small VED does not beat it: it matches
PCA up to r ~ 16 and then plateaus (training-limited). The covariance penalty lowers the map's
errors by 1-2 % at small r, enough to halve the r needed for the 60 % and 50 % targets; the KL
term, at beta = 1e-3 per output value, changes nothing measurable.
The networks are small and trained for seconds to a minute each: these are the numbers this
run measured, not tuned results.
"""
    (HERE / "ved.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
