"""kind="ved": variational encoder-decoder (Venkatasubramanian & Barajas-Solano, arXiv 2412.05175).

A dense latent of size r. The encoder gives a Gaussian posterior q(z|x) = N(mu(x), diag exp(s(x)));
training minimises
    ||d(z) - y||^2 + beta KL(q(z|x) || N(0, I)) / D + lam ||Cov_q(z)[z] - I||_F^2 / r^2,
z = mu + exp(s/2) eps, where Cov_q(z)[z] = Cov_batch(mu) + mean_batch(diag exp(s)) is the
aggregate posterior covariance (the disentangling penalty). ``y`` is the input itself
(a compressor) or, with ``targets``, another field (e.g. log-permeability -> pressure). As a
compressor the posterior mean is quantised (quantisation-aware fine-tuning) and the decoder is
exported to the core's exact integer MLP decoder, like kind="sparse-ae".
"""
from __future__ import annotations

import numpy as np

from ..core.errors import PhcompError
from .linear import sample_blocks
from .sparse_ae import _export, _net, _physics_terms, _split, _torch, fit


def _ved_net(torch, d_in: int, d_out: int, r: int, hidden: int):
    net = _net(torch, d_out, r, hidden)  # decoder sized for the output; encoder replaced below
    nn = torch.nn
    net.enc1, net.enc2 = nn.Linear(d_in, hidden), nn.Linear(hidden, r)
    net.encl = nn.Linear(d_in, r, bias=False)
    net.logvar = nn.Linear(hidden, r)
    net.register_buffer("in_mean", torch.zeros(d_in))

    def posterior(x):
        xc = x - net.in_mean
        h = torch.tanh(net.enc1(xc))
        return net.enc2(h) + net.encl(xc), net.logvar(h).clamp(-12, 6)

    net.posterior = posterior
    net.encode = lambda x: posterior(x)[0]
    return net


def train_ved(arrays: list[np.ndarray], block: tuple[int, ...], *, latent: int = 16, hidden: int = 256,
              beta: float = 1e-3, lam: float = 1e-2, step: float = 0.02, targets: list[np.ndarray] | None = None,
              physics: dict[str, float] | None = None, epochs: int = 100, qat_epochs: int = 10, batch: int = 128,
              lr: float = 1e-3, patience: int = 12, val_split: float = 0.1, max_blocks: int = 100_000,
              groups: int = 32, seed: int = 0, device: str | None = None, progress: bool = True,
              meta: dict | None = None, return_net: bool = False):
    torch = _torch()
    x = sample_blocks(arrays, block, max_blocks, seed).astype(np.float32)
    y = sample_blocks(targets, block, max_blocks, seed).astype(np.float32) if targets is not None else x
    if len(y) != len(x):
        raise PhcompError("targets must have as many blocks as the inputs")
    r = int(latent)
    if not 1 <= r:
        raise PhcompError("latent must be >= 1")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    xy = np.concatenate([x, y], axis=1)
    tt, tv = _split(torch, xy, val_split, seed, dev)
    d_in, d_out = x.shape[1], y.shape[1]
    phys = _physics_terms(torch, physics, block)
    net = _ved_net(torch, d_in, d_out, r, hidden).to(dev)
    net.in_mean.copy_(tt[:, :d_in].mean(0))
    net.mean.copy_(tt[:, d_in:].mean(0))
    eye = torch.eye(r, device=dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def objective(batch_xy, quantize: bool, train: bool):
        xb, yb = batch_xy[:, :d_in], batch_xy[:, d_in:]
        mu, logvar = net.posterior(xb)
        if quantize:
            z = mu + (torch.round(mu / step) * step - mu).detach() if train else torch.round(mu / step) * step
        else:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if train else mu
        yh = net.decode(z)
        loss = ((yh - yb) ** 2).mean()
        if beta:
            loss = loss + beta * (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1).mean()) / d_out
        if lam:
            mc = mu - mu.mean(0)
            cov = mc.T @ mc / max(len(mu) - 1, 1) + torch.diag(logvar.exp().mean(0))
            loss = loss + lam * ((cov - eye) ** 2).sum() / r**2
        if phys is not None:
            loss = loss + phys(yb, yh)
        return loss

    fit(torch, net, opt, tt, tv, lambda b, train: objective(b, False, train), epochs, batch, patience, progress, "ved")
    for g in opt.param_groups:
        g["lr"] = lr / 4
    fit(torch, net, opt, tt, tv, lambda b, train: objective(b, True, train), qat_epochs, batch, patience, progress,
        "quantisation-aware")
    if return_net:
        return net
    if targets is not None:
        raise PhcompError("a VED trained on targets maps one field to another; it is not a compressor to export")
    net.mean.copy_(net.in_mean)  # autoencoder: the export's encoder and decoder share the mean
    return _export(torch, net, x, block, step, groups, seed, {"kind": "ved", "latent": r, "hidden": hidden,
                                                               "beta": beta, "lam": lam, "physics": physics or {},
                                                               **(meta or {})})
