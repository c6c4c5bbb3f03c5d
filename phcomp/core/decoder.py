"""The exact decoder arithmetic: integer latents -> normalised blocks, bit-identical everywhere.

``linear_int``: x = mu + (q @ W) * (step * 2**-shift) with integer weights W (int32) and
integer latents q. The product is evaluated as a float64 GEMM whose operands are integers
and whose every partial sum stays below 2**53, so each partial sum is exact and the result
does not depend on summation order, BLAS, thread count, FMA or CPU. The two scalings after
it are single IEEE operations. ``q_limit`` is the largest |q| for which that holds; the
encoder clamps to it and the decoder rejects anything larger.
"""
from __future__ import annotations

import numpy as np

from .errors import PhcompError

EXACT = 2**53


class LinearIntDecoder:
    kind = "linear_int"

    def __init__(self, weight: np.ndarray, mean: np.ndarray, shift: int) -> None:
        if weight.ndim != 2 or mean.shape != (weight.shape[1],):
            raise PhcompError("corrupt model: decoder weight/mean shapes do not match")
        if weight.dtype.kind != "i":
            raise PhcompError("corrupt model: decoder weights must be integers")
        if not 0 <= shift <= 40:
            raise PhcompError("corrupt model: decoder shift out of range")
        self.k, self.d = weight.shape
        wmax = int(np.abs(weight.astype(np.int64)).max()) if weight.size else 0
        col_sum = int(np.abs(weight.astype(np.int64)).sum(axis=0).max()) if weight.size else 0
        # |sum_k q_k W_kj| <= q_limit * max_j sum_k |W_kj| < 2**53
        self.q_limit = int(min(EXACT // max(col_sum, 1) - 1, 2**31 - 1))
        if self.q_limit < 1 or wmax >= 2**31:
            raise PhcompError("corrupt model: decoder weights too large for exact arithmetic")
        self.weight = weight.astype(np.float64)
        self.mean = mean.astype(np.float64)
        self.shift = shift

    def __call__(self, q: np.ndarray, step: float) -> np.ndarray:
        _check_limit(q, self.q_limit)
        # latent channels that are zero in every block of this slab contribute exact zeros:
        # leaving them out changes no bit (every partial sum is an exact integer either way)
        used = np.flatnonzero(q.any(axis=0))
        if used.size < 0.75 * self.k:
            acc = q[:, used].astype(np.float64) @ self.weight[used]
        else:
            acc = q.astype(np.float64) @ self.weight
        acc *= step * 2.0 ** (-self.shift)
        acc += self.mean
        return acc


class LinearEncoder:
    """Float encoder (not part of the exactness contract): c = (x - mu) @ E."""

    kind = "linear"

    def __init__(self, matrix: np.ndarray, mean: np.ndarray) -> None:
        self.matrix = matrix.astype(np.float64)
        self.mean = mean.astype(np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.matrix


class SeparableIntDecoder:
    """``separable_int``: a block is the tensor product of one integer basis per axis.

    The latents q (variance-ranked channels; channel j is coefficient ``order[j]`` of the block
    in C order) are put back into the coefficient array c (block shape), then
    x = mean + (c x_0 A_0 x_1 A_1 ... ) * (step * 2**-(shift * ndim)), where x_i contracts axis i
    with the integer matrix A_i (coefficient -> position). Every stage is a float64 GEMM on
    integers whose partial sums stay below 2**53 (``q_limit``: |q| times the product of the axes'
    largest column sums), so each intermediate is an exact integer and the result is the same on
    every machine.
    """

    kind = "separable_int"

    def __init__(self, axes: list[np.ndarray], order: np.ndarray, mean: np.ndarray, shift: int) -> None:
        if not 1 <= len(axes) <= 4 or any(a.ndim != 2 or a.shape[0] != a.shape[1] or a.dtype.kind != "i" for a in axes):
            raise PhcompError("corrupt model: separable decoder needs 1 to 4 square integer matrices")
        self.block = tuple(int(a.shape[0]) for a in axes)
        self.d = int(np.prod(self.block))
        self.k = self.d
        if order.shape != (self.d,) or order.dtype.kind != "i" or mean.shape != (self.d,):
            raise PhcompError("corrupt model: separable decoder order/mean do not match its axes")
        if not np.array_equal(np.sort(order.astype(np.int64)), np.arange(self.d)):
            raise PhcompError("corrupt model: separable decoder order is not a permutation")
        if not 0 <= shift <= 30:
            raise PhcompError("corrupt model: decoder shift out of range")
        growth = 1
        for a in axes:
            a64 = np.abs(a.astype(np.int64))
            if int(a64.max(initial=0)) >= 2**31:
                raise PhcompError("corrupt model: decoder weights too large for exact arithmetic")
            growth *= max(int(a64.sum(axis=0).max(initial=0)), 1)
        # the last stage is the largest: |q| * prod(column sums) < 2**53
        self.q_limit = int(min(EXACT // growth - 1, 2**31 - 1))
        if self.q_limit < 1:
            raise PhcompError("corrupt model: decoder weights too large for exact arithmetic")
        self.axes = [a.astype(np.float64) for a in axes]
        self.order = order.astype(np.intp)
        self.position = np.argsort(self.order)  # natural coefficient index -> latent channel
        self.mean = mean.astype(np.float64)
        self.shift = shift

    def __call__(self, q: np.ndarray, step: float) -> np.ndarray:
        _check_limit(q, self.q_limit)
        n = len(q)
        x = np.take(q, self.position, axis=1).astype(np.float64)  # variance-ranked -> natural order
        nd = len(self.block)
        for i in range(nd - 1, -1, -1):  # last axis first: a plain GEMM on contiguous rows
            b = self.block[i]
            inner = int(np.prod(self.block[i + 1 :]))
            if inner == 1:
                x = x.reshape(-1, b) @ self.axes[i]
            else:
                x = np.matmul(self.axes[i].T, x.reshape(-1, b, inner))
        x = x.reshape(n, self.d)
        x *= step * 2.0 ** (-self.shift * nd)
        x += self.mean
        return x


class SeparableEncoder:
    """Float encoder (not part of the exactness contract): the exact inverse of each axis's
    integer basis, so the coefficients are those of the decoder's own (near-orthonormal) basis."""

    kind = "separable"

    def __init__(self, inverses: list[np.ndarray], order: np.ndarray, mean: np.ndarray) -> None:
        self.inverses = [a.astype(np.float64) for a in inverses]
        self.block = tuple(int(a.shape[0]) for a in inverses)
        self.order = order.astype(np.intp)
        self.mean = mean.astype(np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        c = (x - self.mean).reshape((n,) + self.block)
        for i, inv in enumerate(self.inverses):
            c = np.moveaxis(np.tensordot(c, inv, axes=([i + 1], [0])), -1, i + 1)
        return c.reshape(n, -1)[:, self.order]


ACT_MAX = (1 << 15) - 1  # hidden activations are integers in [0, ACT_MAX] (ReLU, clipped)


class MLPIntDecoder:
    """``mlp_int``: x = mean + (q @ Wl) * 2**-sl + MLP(q) * out_scale, all on integers until the
    last two float64 operations.

    MLP: h_0 = q; for each hidden layer a = h @ W + b (exact: float64 GEMM on integers with
    partial sums below 2**53), then h = clip((a * m + 2**(s-1)) >> s, 0, ACT_MAX) in int64
    (ReLU and requantization with a fixed multiplier m and shift s, round half up). The output
    layer's integer a is scaled once by out_scale. Bounds are checked when the model loads.
    """

    kind = "mlp_int"

    def __init__(self, arrays: dict[str, np.ndarray], spec: dict) -> None:
        self.lin_weight = _int_array(arrays, "decoder.lin.weight")
        self.mean = _arr(arrays, "decoder.mean").astype(np.float64)
        self.lin_shift = int(spec["lin_shift"])
        self.k, self.d = self.lin_weight.shape
        layers = spec["layers"]
        if not 1 <= len(layers) <= 8:
            raise PhcompError("corrupt model: bad MLP depth")
        self.layers = []
        width = self.k
        for i, layer in enumerate(layers):
            w = _int_array(arrays, f"decoder.mlp.{i}.weight")
            b = _int_array(arrays, f"decoder.mlp.{i}.bias")
            if w.shape[0] != width or b.shape != (w.shape[1],):
                raise PhcompError("corrupt model: MLP layer shapes do not chain")
            width = w.shape[1]
            self.layers.append((w.astype(np.float64), b.astype(np.int64), int(layer.get("mult", 0)), int(layer.get("shift", 0))))
        if width != self.d:
            raise PhcompError("corrupt model: MLP output does not match the block")
        self.out_scale = float(spec["out_scale"])
        colsum = lambda w: int(np.abs(w.astype(np.int64)).sum(axis=0).max()) if w.size else 0  # noqa: E731
        c_lin, (w0, b0, m0, _) = colsum(self.lin_weight), self.layers[0]
        c0, b0max = colsum(w0), int(np.abs(b0).max(initial=0))
        # |q| <= q_limit keeps q @ W exact (< 2**52) and, when requantized, a * mult below 2**62
        limit = (EXACT // 2 - b0max) // max(c_lin, c0, 1)
        if len(self.layers) > 1:
            limit = min(limit, ((1 << 62) // max(m0, 1) - b0max) // max(c0, 1))
        self.q_limit = int(min(limit - 1, 2**31 - 1))
        for i, (w, b, m, sh) in enumerate(self.layers[1:], start=1):
            worst = ACT_MAX * colsum(w) + int(np.abs(b).max(initial=0))
            last = i == len(self.layers) - 1
            if worst >= EXACT // 2 or (not last and worst * max(m, 1) >= 1 << 62):
                raise PhcompError("corrupt model: MLP weights too large for exact integer arithmetic")
        for i, (_, _, m, sh) in enumerate(self.layers[:-1]):
            if m <= 0 or not 0 < sh < 63:
                raise PhcompError("corrupt model: bad MLP requantization")
        if self.q_limit < 1 or not np.isfinite(self.out_scale) or not 0 <= self.lin_shift <= 60:
            raise PhcompError("corrupt model: bad MLP decoder scales")

    def __call__(self, q: np.ndarray, step: float) -> np.ndarray:
        _check_limit(q, self.q_limit)
        qf = q.astype(np.float64)
        h = qf
        for i, (w, b, m, sh) in enumerate(self.layers):
            a = (h @ w).astype(np.int64) + b
            if i == len(self.layers) - 1:
                out = a.astype(np.float64) * self.out_scale
            else:
                h = np.clip((a * m + (1 << (sh - 1))) >> sh, 0, ACT_MAX).astype(np.float64)
        lin = qf @ self.lin_weight.astype(np.float64)
        lin *= 2.0 ** (-self.lin_shift)
        lin += self.mean
        lin += out
        return lin


class MLPEncoder:
    """Float encoder (not part of the exactness contract): z = W2 tanh(W1 x + b1) + b2 + Wl x, over
    x - mean."""

    kind = "mlp"

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean = _arr(arrays, "encoder.mean").astype(np.float64)
        self.w1, self.b1 = _arr(arrays, "encoder.w1").astype(np.float64), _arr(arrays, "encoder.b1").astype(np.float64)
        self.w2, self.b2 = _arr(arrays, "encoder.w2").astype(np.float64), _arr(arrays, "encoder.b2").astype(np.float64)
        self.wl = _arr(arrays, "encoder.wl").astype(np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xc = x - self.mean
        return np.tanh(xc @ self.w1 + self.b1) @ self.w2 + self.b2 + xc @ self.wl


def _check_limit(q: np.ndarray, limit: int) -> None:
    """|q| <= limit for every latent (by min and max: np.abs of int32 -2**31 stays negative)."""
    if q.size and (int(q.max()) > limit or int(q.min()) < -limit):
        raise PhcompError("corrupt latent section: latent value outside the exact range")


def _int_array(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    a = _arr(arrays, name)
    if a.dtype.kind != "i":
        raise PhcompError(f"corrupt model: {name} must hold integers")
    return a


def build_decoder(spec: dict, arrays: dict[str, np.ndarray]):
    kind = spec.get("type")
    if kind == "linear_int":
        return LinearIntDecoder(_arr(arrays, "decoder.weight"), _arr(arrays, "decoder.mean"), int(spec["shift"]))
    if kind == "separable_int":
        axes = [_int_array(arrays, f"decoder.axis{i}") for i in range(int(spec.get("ndim", 0)))]
        return SeparableIntDecoder(axes, _int_array(arrays, "decoder.order"), _arr(arrays, "decoder.mean"), int(spec["shift"]))
    if kind == "mlp_int":
        try:
            return MLPIntDecoder(arrays, spec)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, PhcompError):
                raise
            raise PhcompError(f"corrupt model: MLP decoder spec ({e!r})") from None
    raise PhcompError(f"model uses decoder type {kind!r}, unknown to this phcomp version")


def build_encoder(spec: dict, arrays: dict[str, np.ndarray]):
    kind = spec.get("type")
    if kind == "linear":
        return LinearEncoder(_arr(arrays, "encoder.matrix"), _arr(arrays, "encoder.mean"))
    if kind == "mlp":
        return MLPEncoder(arrays)
    if kind == "separable":
        inverses = [_arr(arrays, f"encoder.axis{i}.inverse") for i in range(int(spec.get("ndim", 0)))]
        return SeparableEncoder(inverses, _arr(arrays, "decoder.order"), _arr(arrays, "encoder.mean"))
    raise PhcompError(f"model uses encoder type {kind!r}, unknown to this phcomp version")


def _arr(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in arrays:
        raise PhcompError(f"corrupt model: array {name!r} missing")
    return arrays[name]
