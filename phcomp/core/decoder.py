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
        if q.size and int(np.abs(q).max()) > self.q_limit:
            raise PhcompError("corrupt latent section: latent value outside the exact range")
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


DECODERS = {"linear_int": LinearIntDecoder}
ENCODERS = {"linear": LinearEncoder}


def build_decoder(spec: dict, arrays: dict[str, np.ndarray]):
    kind = spec.get("type")
    if kind == "linear_int":
        return LinearIntDecoder(_arr(arrays, "decoder.weight"), _arr(arrays, "decoder.mean"), int(spec["shift"]))
    raise PhcompError(f"model uses decoder type {kind!r}, unknown to this phcomp version")


def build_encoder(spec: dict, arrays: dict[str, np.ndarray]):
    kind = spec.get("type")
    if kind == "linear":
        return LinearEncoder(_arr(arrays, "encoder.matrix"), _arr(arrays, "encoder.mean"))
    raise PhcompError(f"model uses encoder type {kind!r}, unknown to this phcomp version")


def _arr(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in arrays:
        raise PhcompError(f"corrupt model: array {name!r} missing")
    return arrays[name]
