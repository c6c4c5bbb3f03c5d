"""The model container's schema: what a model file's JSON header and arrays must hold.

A model file comes from anywhere (a colleague, a store, a download), so ``Model.from_bytes``
checks it here before building anything: types, ranges, nesting depth, and array shapes
consistent with the kind and the block. Every violation is one PhcompError naming the field
(``params.latent_coding.group_edges``, ``array decoder.weight``...). A model that passes can be
used: compress and decompress then raise nothing but PhcompError. docs/format.md lists the
fields; this module is the reference.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import PhcompError

MAX_DEPTH = 32  # JSON nesting of a header (shipped models use 5)
MAX_BLOCK_VALUES = 1 << 16
MAX_ARRAY_DIMS = 8
INT_ARRAYS = ("decoder.weight", "decoder.weights", "decoder.order", "decoder.lin.weight", "tables.freq",
              "tables.index", "tables.ctx_edges")
DECODER_TYPES = ("linear_int", "separable_int", "mlp_int", "interp_int")
ENCODER_TYPES = ("linear", "separable", "mlp")


def _fail(path: str, what: str) -> PhcompError:
    return PhcompError(f"corrupt model: {path} {what}")


def _depth(obj: Any) -> int:
    """Nesting depth, iteratively (a hostile header must not exhaust the stack here either)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            return d
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def _int(d: dict, key: str, path: str, lo: int, hi: int, default: int | None = None) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _fail(f"{path}.{key}", f"must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _num(d: dict, key: str, path: str, lo: float, hi: float, *, open_lo: bool = False,
         default: float | None = None) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi \
            or (open_lo and v == lo):
        raise _fail(f"{path}.{key}", f"must be a finite number in {'(' if open_lo else '['}{lo}, {hi}], got {v!r}")
    return float(v)


def _dict(d: dict, key: str, path: str) -> dict:
    v = d.get(key)
    if not isinstance(v, dict):
        raise _fail(f"{path}.{key}", f"must be an object, got {type(v).__name__}")
    return v


def _int_list(v: Any, path: str, lo: int, hi: int, max_len: int) -> list[int]:
    if not isinstance(v, list) or len(v) > max_len or any(
            isinstance(e, bool) or not isinstance(e, int) or not lo <= e <= hi for e in v):
        raise _fail(path, f"must be a list of at most {max_len} integers in [{lo}, {hi}]")
    return v


def check_header(header: Any) -> None:
    """The container header: kind, block, params, arrays (meta is free-form but bounded)."""
    if not isinstance(header, dict):
        raise PhcompError("corrupt model file: header is not a JSON object")
    if _depth(header) > MAX_DEPTH:
        raise PhcompError(f"corrupt model file: header nested deeper than {MAX_DEPTH} levels")
    for key in ("kind", "block", "params", "arrays"):
        if key not in header:
            raise PhcompError(f"corrupt model file: header lacks {key!r}")
    kind = header["kind"]
    if not isinstance(kind, str) or not 0 < len(kind) <= 64:
        raise _fail("kind", f"must be a short string, got {kind!r}")
    block = _int_list(header["block"], "block", 1, MAX_BLOCK_VALUES, 4)
    if not block or math.prod(block) > MAX_BLOCK_VALUES:
        raise _fail("block", f"must have 1 to 4 axes and at most {MAX_BLOCK_VALUES} values, got {block}")
    if "meta" in header and not isinstance(header["meta"], dict):
        raise _fail("meta", "must be an object")
    if not isinstance(header["arrays"], dict):
        raise _fail("arrays", "must be an object")
    for name, e in header["arrays"].items():
        p = f"arrays.{name}"
        if not isinstance(e, dict) or not isinstance(e.get("dtype"), str):
            raise _fail(p, "must be an object with a dtype string")
        _int_list(e.get("shape"), f"{p}.shape", 0, 1 << 40, MAX_ARRAY_DIMS)
        _int(e, "offset", p, 0, 1 << 62)
        _int(e, "nbytes", p, 0, 1 << 62)
    if not isinstance(header["params"], dict):
        raise _fail("params", "must be an object")
    check_params(header["params"], block)


def check_params(params: dict, block: list[int]) -> None:
    decoder = _dict(params, "decoder", "params")
    dtype = decoder.get("type")
    if dtype not in DECODER_TYPES:
        raise PhcompError(f"model uses decoder type {dtype!r}, unknown to this phcomp version "
                          f"(known: {', '.join(DECODER_TYPES)})")
    p = "params.decoder"
    if dtype == "interp_int":
        _int(decoder, "ndim", p, 1, 4)
        exps = decoder.get("context_exps")
        if not isinstance(exps, list) or len(exps) != 4:
            raise _fail(f"{p}.context_exps", "must be a list of 4 lists")
        for i, x in enumerate(exps):
            _int_list(x, f"{p}.context_exps.{i}", -64, 24, 64)
        if "table_sets" in decoder:
            _int(decoder, "table_sets", p, 1, 16)
        _num(params, "default_rel", "params", 0.0, 1.0, open_lo=True)
        return
    if dtype == "linear_int":
        _int(decoder, "shift", p, 0, 40)
    elif dtype == "separable_int":
        if _int(decoder, "ndim", p, 1, 4) != len(block):
            raise _fail(f"{p}.ndim", f"must equal the block's {len(block)} axes")
        _int(decoder, "shift", p, 0, 30)
    else:  # mlp_int
        layers = decoder.get("layers")
        if not isinstance(layers, list) or not 1 <= len(layers) <= 8 or not all(isinstance(x, dict) for x in layers):
            raise _fail(f"{p}.layers", "must be a list of 1 to 8 objects")
        for i, layer in enumerate(layers):
            _int(layer, "mult", f"{p}.layers.{i}", 0, (1 << 62) - 1, default=0)
            _int(layer, "shift", f"{p}.layers.{i}", 0, 62, default=0)
        _int(decoder, "lin_shift", p, 0, 60)
        _num(decoder, "out_scale", p, -1e300, 1e300)
    encoder = _dict(params, "encoder", "params")
    if encoder.get("type") not in ENCODER_TYPES:
        raise _fail("params.encoder.type", f"must be one of {', '.join(ENCODER_TYPES)}, got {encoder.get('type')!r}")
    if encoder["type"] == "separable" and _int(encoder, "ndim", "params.encoder", 1, 4) != len(block):
        raise _fail("params.encoder.ndim", f"must equal the block's {len(block)} axes")
    lc = _dict(params, "latent_coding", "params")
    edges = _int_list(lc.get("group_edges"), "params.latent_coding.group_edges", 0, MAX_BLOCK_VALUES, MAX_BLOCK_VALUES + 1)
    if len(edges) < 2 or edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise _fail("params.latent_coding.group_edges", "must rise strictly from 0")
    sig = lc.get("group_sigma")
    if not isinstance(sig, list) or len(sig) != len(edges) - 1 or any(
            isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0 for s in sig):
        raise _fail("params.latent_coding.group_sigma", "must be one finite number >= 0 per group")
    _num(lc, "sigma_all", "params.latent_coding", 0.0, 1e300)
    _int(lc, "dense_base", "params.latent_coding", 0, 1 << 31)
    _int(lc, "sparse_base", "params.latent_coding", 0, 1 << 31)
    _int(lc, "contexts", "params.latent_coding", 1, 64)
    _num(params, "default_step", "params", 0.0, 1e300, open_lo=True)
    _num(params, "step_factor", "params", 0.0, 1e300, open_lo=True)
    _num(params, "min_step", "params", 0.0, 1e300, default=0.0)
    _num(params, "deadzone", "params", 0.0, 0.5, default=0.0)
    table = params.get("step_factors")
    if table is not None:
        if not isinstance(table, list) or len(table) > 256 or not all(
                isinstance(r, list) and len(r) == 2
                and all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in r)
                and r[1] > 0 for r in table):
            raise _fail("params.step_factors", "must be a list of [log10 rel, factor > 0] pairs of finite numbers")
    if params.get("step_mode", "scaled") not in ("scaled", "fixed"):
        raise _fail("params.step_mode", f"must be 'scaled' or 'fixed', got {params.get('step_mode')!r}")
    if "normalization" in params:
        if params["normalization"] != "fixed":
            raise _fail("params.normalization", f"must be 'fixed' when present, got {params['normalization']!r}")
        _num(params, "norm_mid", "params", -1e300, 1e300)
        _num(params, "norm_half", "params", 0.0, 1e300, open_lo=True)


def _shape(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> None:
    if name not in arrays:
        raise _fail(f"array {name!r}", "is missing")
    if arrays[name].shape != shape:
        raise _fail(f"array {name!r}", f"has shape {arrays[name].shape}, the model needs {shape}")


def check_arrays(params: dict, block: tuple[int, ...], arrays: dict[str, np.ndarray]) -> None:
    """Array dtypes, finiteness and shapes against the (already checked) params and block."""
    for name, a in arrays.items():
        integer = name in INT_ARRAYS or name.startswith(("decoder.axis", "decoder.mlp."))
        if integer and a.dtype.kind not in "iu":
            raise _fail(f"array {name!r}", f"must hold integers, not {a.dtype}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise _fail(f"array {name!r}", "holds non-finite values")
    dtype = params["decoder"]["type"]
    if dtype == "interp_int":
        if "decoder.weights" in arrays and arrays["decoder.weights"].ndim != 2:
            raise _fail("array 'decoder.weights'", "must be (classes, 8)")
        return
    d = math.prod(block)
    if dtype == "linear_int":
        k = arrays["decoder.weight"].shape[0] if "decoder.weight" in arrays else 0
        _shape(arrays, "decoder.weight", (k, d))
        _shape(arrays, "decoder.mean", (d,))
    elif dtype == "separable_int":
        k = d
        for i, b in enumerate(block):
            _shape(arrays, f"decoder.axis{i}", (b, b))
        _shape(arrays, "decoder.order", (d,))
        _shape(arrays, "decoder.mean", (d,))
    else:
        k = arrays["decoder.lin.weight"].shape[0] if "decoder.lin.weight" in arrays else 0
        _shape(arrays, "decoder.lin.weight", (k, d))
        _shape(arrays, "decoder.mean", (d,))
    if k < 1:
        raise _fail("decoder", "has no latent channels")
    if params["latent_coding"]["group_edges"][-1] != k:
        raise _fail("params.latent_coding.group_edges", f"must end at the latent width {k}")
    etype = params["encoder"]["type"]
    if etype == "linear":
        _shape(arrays, "encoder.matrix", (d, k))
        _shape(arrays, "encoder.mean", (d,))
    elif etype == "separable":
        for i, b in enumerate(block):
            _shape(arrays, f"encoder.axis{i}.inverse", (b, b))
        _shape(arrays, "encoder.mean", (d,))
        if dtype != "separable_int":
            raise _fail("params.encoder.type", "separable needs a separable_int decoder")
    else:
        hidden = arrays["encoder.w1"].shape[-1] if "encoder.w1" in arrays else 0
        _shape(arrays, "encoder.mean", (d,))
        _shape(arrays, "encoder.w1", (d, hidden))
        _shape(arrays, "encoder.b1", (hidden,))
        _shape(arrays, "encoder.w2", (hidden, k))
        _shape(arrays, "encoder.b2", (k,))
        _shape(arrays, "encoder.wl", (d, k))
