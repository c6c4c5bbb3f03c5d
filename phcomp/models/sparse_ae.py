"""kind="sparse-ae": the sparse L1-autoencoder (Chung, Archibald, Atzberger, Solomon).

An overcomplete latent (``latent`` >= block size) made sparse by an L1 penalty on a
structured latent map f (identity, or group norms: ``l1_map="group"``):
    loss = ||d(e(x)) - x||^2 + lambda ||f(e(x))||_1.
Encoder: z = W2 tanh(W1 x + b1) + b2 + Wl x. Decoder: x = mean + Wl' z + MLP(z), an MLP with ``depth``
ReLU hidden layers of width ``hidden``.
Normalisation: ``normalize="fixed"`` (default) maps the training data's finite range onto [-1, 1] and
every chunk is encoded with that same map (a nonlinear decoder is not equivariant to the per-chunk
range normalisation the linear model uses); ``"chunk"`` uses each chunk's own range.
Physics-informed training (Segui & Armour): ``physics={"energy": gamma, ...}`` adds
    gamma * sum_b ||O(d(e(x_b))) - O(x_b)||^2 / sum_b ||O(x_b)||^2
over the blocks b of a batch, for each differentiable observable (its torch twin), at the same rate settings.
Training: Adam with a validation split and early stopping; the decoder sees the latents plus
uniform noise of one quantiser step (the usual differentiable stand-in for rounding), so the
latent scale is anchored and the L1 term, taken on z / step, prices bits rather than rewarding
a decoder that amplifies shrunken latents. Then quantisation-aware fine-tuning (latents
rounded to the step with a straight-through gradient). Export: channels ranked by
variance, decoder weights and activations quantised to integers with fixed scales (the core's
``mlp_int`` decoder: exact, torch-free), entropy tables fitted on the quantised training latents.
The sparse latents then go through the core's index-difference coder when that is smaller.
torch is imported here only.
"""
from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from ..core.decoder import ACT_MAX, MLPIntDecoder
from ..core.errors import PhcompError
from ..core.model import Model
from ..core.tables import LatentTables, pack_tables
from .linear import finite_range_of, sample_blocks


def _torch():
    try:
        import torch
    except ImportError:
        raise PhcompError("training kind='sparse-ae' needs torch: pip install torch==2.13.0") from None
    return torch


def _net(torch, d: int, k: int, hidden: int, depth: int = 1):
    nn = torch.nn

    class SparseAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1, self.enc2 = nn.Linear(d, hidden), nn.Linear(hidden, k)
            self.encl = nn.Linear(d, k, bias=False)
            self.dec_lin = nn.Linear(k, d, bias=False)
            widths = [k] + [hidden] * depth + [d]
            self.dec_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
            self.register_buffer("mean", torch.zeros(d))

        def encode(self, x):
            xc = x - self.mean
            return self.enc2(torch.tanh(self.enc1(xc))) + self.encl(xc)

        def hidden_acts(self, z):
            """The ReLU activations of each hidden layer (the export sizes its integer scales on them)."""
            acts, h = [], z
            for layer in self.dec_mlp[:-1]:
                h = torch.relu(layer(h))
                acts.append(h)
            return acts

        def decode(self, z):
            acts = self.hidden_acts(z)
            return self.mean + self.dec_lin(z) + self.dec_mlp[-1](acts[-1])

    return SparseAE()


def _split(torch, x: np.ndarray, val_split: float, seed: int, dev):
    perm = np.random.default_rng(seed).permutation(len(x))
    nval = max(1, int(len(x) * val_split)) if len(x) > 10 else 0
    return torch.as_tensor(x[perm[nval:]], device=dev), torch.as_tensor(x[perm[:nval]], device=dev)


def fit(torch, net, opt, xt, xv, objective, epochs: int, batch: int, patience: int, progress: bool, desc: str,
        cosine: bool = False) -> float:
    """Minibatch Adam with early stopping on the validation objective; keeps the best weights and
    returns their validation objective.
    ``objective(xb, train)`` returns the loss of a batch (train=False: deterministic evaluation).
    ``cosine``: the learning rate follows a cosine from its value down to 1 % over ``epochs``."""
    from tqdm import tqdm

    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs, eta_min=opt.param_groups[0]["lr"] / 100) \
        if cosine else None

    best, best_state, bad = math.inf, None, 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress or None, file=sys.stderr, leave=False)
    for _ in bar:
        net.train()
        order = torch.randperm(len(xt), device=xt.device)
        for i in range(0, len(xt), batch):
            loss = objective(xt[order[i : i + batch]], True)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        net.eval()
        with torch.no_grad():
            val = float(objective(xv if len(xv) else xt[:1024], False))
        bar.set_postfix(val=f"{val:.3g}")
        if val < best - 1e-9:
            best, bad = val, 0
            best_state = {n: t.detach().clone() for n, t in net.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return best


def _l1(torch, z, mode: str, groups: int):
    if mode == "identity":
        return z.abs().mean()
    g = z.reshape(z.shape[0], groups, -1)  # group lasso: sum of group L2 norms
    return torch.sqrt((g * g).sum(-1) + 1e-12).mean() / math.sqrt(g.shape[-1])


def _physics_terms(torch, physics: dict[str, float] | None, block: tuple[int, ...]):
    """The physics-informed loss: per observable, gamma x its batch-relative squared error."""
    from ..physics.observables import get_observable

    terms = []
    for name, gamma in (physics or {}).items():
        obs = get_observable(name)
        if obs.torch is None:
            raise PhcompError(f"observable {name!r} has no torch version: it cannot be trained for")
        if not np.isfinite(gamma) or gamma < 0:
            raise PhcompError(f"gamma for {name!r} must be finite and >= 0")
        terms.append((float(gamma), torch.func.vmap(lambda b, f=obs.torch, kw=obs.options: f(b, **kw))))

    def loss(xb, xh):
        total = 0.0
        shape = (xb.shape[0],) + tuple(block)
        for gamma, f in terms:
            o, oh = f(xb.reshape(shape)), f(xh.reshape(shape))
            o, oh = o.reshape(len(xb), -1), oh.reshape(len(xb), -1)
            # normalised over the batch, not per block: near-flat blocks have O(x) ~ 0
            total = total + gamma * ((oh - o) ** 2).sum() / ((o**2).sum() + 1e-12)
        return total

    return loss if terms else None


def train_sparse_ae(arrays: list[np.ndarray], block: tuple[int, ...], *, latent: int | None = None,
                    hidden: int = 256, depth: int = 2, l1: float = 1e-3, l1_map: str = "identity", step: float = 0.02,
                    normalize: str = "fixed", physics: dict[str, float] | None = None,
                    epochs: int = 60, qat_epochs: int = 10, batch: int = 256, lr: float = 2e-3,
                    patience: int = 8, val_split: float = 0.1, max_blocks: int = 100_000, groups: int = 32,
                    seed: int = 0, restarts: int = 1, device: str | None = None, progress: bool = True,
                    meta: dict | None = None) -> Model:
    torch = _torch()
    if normalize not in ("fixed", "chunk"):
        raise PhcompError("normalize is 'fixed' (the training range, for every chunk) or 'chunk' (each chunk's range)")
    norm = finite_range_of(arrays) if normalize == "fixed" else None
    x = sample_blocks(arrays, block, max_blocks, seed, norm).astype(np.float32)
    d = x.shape[1]
    k = int(latent or d)
    if k < d:
        raise PhcompError(f"sparse-ae needs an overcomplete latent: latent >= block size ({d}), got {k}")
    if l1_map not in ("identity", "group") or (l1_map == "group" and k % groups):
        raise PhcompError("l1_map is 'identity' or 'group' (latent divisible by groups)")
    if not 1 <= depth <= 4:
        raise PhcompError("depth (hidden layers of the decoder) must be 1..4")
    if restarts < 1:
        raise PhcompError("restarts must be >= 1")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    xt, xv = _split(torch, x, val_split, seed, dev)
    phys = _physics_terms(torch, physics, block)

    def train_one(init_seed: int):
        torch.manual_seed(init_seed)
        net = _net(torch, d, k, hidden, depth).to(dev)
        net.mean.copy_(xt.mean(0))
        opt = torch.optim.Adam(net.parameters(), lr=lr)

        def objective(xb, rounding: bool, train: bool):
            z = net.encode(xb)
            if not train:  # evaluation: the latents the codec will store
                zq = torch.round(z / step) * step
            elif rounding:  # straight-through rounding
                zq = z + (torch.round(z / step) * step - z).detach()
            else:  # uniform noise of one step: anchors the latent scale, so the L1 term prices real bits
                zq = z + (torch.rand_like(z) - 0.5) * step
            xh = net.decode(zq)
            loss = ((xh - xb) ** 2).mean() + l1 * _l1(torch, z / step, l1_map, groups)
            return loss + phys(xb, xh) if phys is not None else loss

        def run(n_epochs: int, rounding: bool, desc: str, cosine: bool) -> float:
            return fit(torch, net, opt, xt, xv, lambda xb, train: objective(xb, rounding, train), n_epochs, batch,
                       patience, progress, desc, cosine)

        run(epochs, False, "sparse-ae" if restarts == 1 else f"sparse-ae {init_seed - seed + 1}/{restarts}", True)
        for group in opt.param_groups:
            group["lr"] = lr / 20
        return run(qat_epochs, True, "quantisation-aware", False), net

    # the same recipe lands in optima of quite different quality from different initialisations
    # (docs/sas_sparse.md); the validation objective (distortion + L1 rate term, rounded latents)
    # ranks them as their compression ratios do, so restarts keep the best by it
    runs = [train_one(seed + i) for i in range(restarts)]
    val, net = min(runs, key=lambda r: r[0])
    vals = [r[0] for r in runs]
    return _export(torch, net, x, block, step, groups, seed, {"kind": "sparse-ae", "latent": k, "hidden": hidden,
                                                               "depth": depth, "l1": l1, "l1_map": l1_map,
                                                               "physics": physics or {}, "val_objective": val,
                                                               **({"restart_objectives": vals} if restarts > 1 else {}),
                                                               **(meta or {})}, norm)


def _export(torch, net, x: np.ndarray, block, step: float, groups: int, seed: int, meta: dict,
            norm: tuple[float, float] | None = None) -> Model:
    """Channels ranked by variance; decoder in integers. Hidden layer i's activations are integers
    act_i = a_i * relu(...) with a_i chosen so the training activations use 90 % of [0, ACT_MAX];
    each layer's integer weights carry 2**s_i and its requantization multiplier maps back to a_i."""
    sd = {n: t.detach().cpu().double().numpy() for n, t in net.state_dict().items()}
    with torch.no_grad():
        xt = torch.as_tensor(x, device=net.mean.device)
        z = net.encode(xt)
        acts = [a.max().item() for a in net.hidden_acts(torch.round(z / step) * step)]
        z = z.cpu().double().numpy()
    order = np.argsort(-z.var(axis=0))  # channels ranked by variance: groups of the entropy tables
    z = z[:, order]
    enc_w2, enc_b2, enc_wl = sd["enc2.weight"][order], sd["enc2.bias"][order], sd["encl.weight"][order]
    dec_lin = sd["dec_lin.weight"][:, order].T  # (k, d)
    nl = len(net.dec_mlp)
    ws = [sd[f"dec_mlp.{i}.weight"].T for i in range(nl)]
    bs = [sd[f"dec_mlp.{i}.bias"] for i in range(nl)]
    ws[0] = ws[0][order] * step  # integer latents q enter the first layer as q * step

    def shift_for(w: np.ndarray, target_bits: int) -> int:
        m = float(np.abs(w).max()) or 1.0
        return max(0, min(40, target_bits - int(math.ceil(math.log2(m)))))

    s_lin = shift_for(dec_lin * step, 22)
    a = [0.9 * ACT_MAX / (m or 1.0) for m in acts]  # activation scale of each hidden layer
    arrays = {
        "encoder.mean": sd["mean"], "encoder.w1": sd["enc1.weight"].T, "encoder.b1": sd["enc1.bias"],
        "encoder.w2": enc_w2.T, "encoder.b2": enc_b2, "encoder.wl": enc_wl.T,
        "decoder.mean": sd["mean"],
        "decoder.lin.weight": np.rint(dec_lin * step * 2.0**s_lin).astype(np.int32),
    }
    layers = []
    in_scale = 1.0  # the integer input of layer i is in_scale x its float input
    mult_shift = 30
    for i in range(nl):
        si = shift_for(ws[i], 16 if i == 0 else 14)
        arrays[f"decoder.mlp.{i}.weight"] = np.rint(ws[i] * 2.0**si).astype(np.int32)
        arrays[f"decoder.mlp.{i}.bias"] = np.rint(bs[i] * in_scale * 2.0**si).astype(np.int64)
        pre = in_scale * 2.0**si  # integer pre-activation = pre x float pre-activation
        if i < nl - 1:
            layers.append({"mult": int(round(a[i] / pre * 2.0**mult_shift)), "shift": mult_shift})
            in_scale = a[i]
        else:
            layers.append({})
            out_scale = 1.0 / pre
    spec = {"type": "mlp_int", "lin_shift": s_lin, "layers": layers, "out_scale": out_scale}
    MLPIntDecoder(arrays, spec)  # refuses weights outside the exact range before anything is saved
    tables, tspec, ctx_edges = LatentTables.fit(z, groups, seed)
    arrays.update(pack_tables(tables))
    arrays["tables.ctx_edges"] = ctx_edges
    params: dict[str, Any] = {"decoder": spec, "encoder": {"type": "mlp"}, "latent_coding": tspec,
                              "step_mode": "fixed", "default_step": float(step), "step_factor": 1.0,
                              "min_step": 0.0, "deadzone": 0.0}
    if norm is not None:
        params.update(normalization="fixed", norm_mid=float(norm[0]), norm_half=float(norm[1]))
    q = np.rint(z / step)
    meta = dict(meta, trained_on_blocks=int(len(x)), latent_nonzero_share=float((q != 0).mean()))
    return Model(meta.get("kind", "sparse-ae"), block, params, arrays, meta)
