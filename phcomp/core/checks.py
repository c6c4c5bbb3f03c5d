"""The per-chunk observable check: compare observables of the original and the decoded chunk.

Core knows checks only as callables with a tolerance (the named observables live in
phcomp.physics). ``compress(..., checks=...)`` re-encodes a chunk that fails with a tighter
bound, finally losslessly, and records in the chunk which attempt passed and the errors
achieved (section ``checks``, see docs/format.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import PhcompError

TIGHTEN = 4.0  # each escalation divides the bound by this
MAX_TIGHTEN = 3  # bounded number of tighter attempts before lossless
UNBOUNDED_START = 1e-3  # first bound (relative to the range) when the request had none


@dataclass
class Check:
    name: str
    fn: Callable[[np.ndarray], object]
    kind: str  # "rel" or "abs"
    tol: float
    spectrum_floor: float = 0.0  # relative error denominators floored at this share of the peak

    def error(self, x: np.ndarray, y: np.ndarray) -> float:
        a = np.atleast_1d(np.asarray(self.fn(x), dtype=np.float64))
        b = np.atleast_1d(np.asarray(self.fn(y), dtype=np.float64))
        if a.shape != b.shape:
            raise PhcompError(f"observable {self.name} changed shape between original and decoded data")
        diff = np.abs(a - b)
        if self.kind == "abs":
            return float(diff.max()) if diff.size else 0.0
        denom = np.abs(a)
        if self.spectrum_floor and denom.size:
            denom = np.maximum(denom, self.spectrum_floor * denom.max())
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(diff == 0, 0.0, diff / denom)
        return float(np.nanmax(np.where(np.isnan(rel), np.inf, rel))) if rel.size else 0.0


@dataclass
class Outcome:
    name: str
    kind: str
    tol: float
    error: float

    @property
    def ok(self) -> bool:
        return self.error <= self.tol


def evaluate(checks: list[Check], x: np.ndarray, y: np.ndarray) -> list[Outcome]:
    """Observables are computed with non-finite values as 0 (phcomp keeps those exactly)."""
    xf = np.where(np.isfinite(x), x, 0).astype(np.float64)
    yf = np.where(np.isfinite(y), y, 0).astype(np.float64)
    return [Outcome(c.name, c.kind, c.tol, c.error(xf, yf)) for c in checks]


def path_name(attempt: int, lossless: bool) -> str:
    if lossless and attempt > 0:
        return "escalated to lossless"
    return "as requested" if attempt == 0 else f"tightened x{attempt} (bound / {TIGHTEN ** attempt:g})"


def encode_record(attempt: int, eps: float, outcomes: list[Outcome]) -> bytes:
    w = ByteWriter()
    w.u8(attempt)
    w.f64(eps)
    w.u8(len(outcomes))
    for o in outcomes:
        name = o.name.encode("utf-8")[:255]
        w.u8(len(name))
        w.raw(name)
        w.u8(0 if o.kind == "rel" else 1)
        w.f64(o.tol)
        w.f64(o.error)
    return w.getvalue()


def decode_record(data: bytes) -> tuple[int, float, list[Outcome]]:
    r = ByteReader(data, "checks section")
    attempt, eps, n = r.u8(), r.f64(), r.u8()
    out = []
    for _ in range(n):
        name = r.raw(r.u8()).decode("utf-8", "replace")
        kind = "rel" if r.u8() == 0 else "abs"
        tol, err = r.f64(), r.f64()
        out.append(Outcome(name, kind, tol, err))
    r.expect_end()
    return attempt, eps, out
