"""Human-facing summary of a chunk's header (used by ``phcomp inspect``)."""
from __future__ import annotations

from typing import Any

from . import chunk as ck
from .checks import decode_record, path_name
from .latent import latent_coder


def inspect_chunk(data: bytes) -> dict[str, Any]:
    h = ck.parse_chunk(data)
    raw = h.size * h.dtype.itemsize
    info: dict[str, Any] = {
        "format_version": h.version,
        "mode": ck.MODE_NAMES[h.mode],
        "model_id": None if h.model_id == ck.NO_MODEL else h.model_id,
        "dtype": str(h.dtype.newbyteorder("=")),
        "shape": list(h.shape),
        "bytes": len(data),
        "ratio": raw / len(data) if len(data) else 0.0,
        "sections": {ck.SECTION_NAMES[k]: len(v) for k, v in h.sections.items()},
    }
    if h.mode in (ck.MODE_BOUNDED, ck.MODE_INTERP):
        info["abs_bound"] = h.eps
    if h.mode == ck.MODE_INTERP:
        info["grid_unit"] = h.step
    elif h.mode != ck.MODE_LOSSLESS:
        info["latent_step"] = h.step
        info["latent_coder"] = latent_coder(h.sections[ck.SEC_LATENT])
    if ck.SEC_CHECKS in h.sections:
        attempt, eps, outcomes = decode_record(h.sections[ck.SEC_CHECKS])
        info["checks"] = {"path": path_name(attempt, h.mode == ck.MODE_LOSSLESS), "attempt": attempt,
                          "bound_used": eps, "passed": all(o.ok for o in outcomes),
                          "errors": {f"{o.name} ({o.kind})": f"{o.error:.3g} <= {o.tol:g}" if o.ok else
                                     f"{o.error:.3g} > {o.tol:g}" for o in outcomes}}
    return info
