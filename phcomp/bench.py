"""Side-by-side benchmark: phcomp vs SZ3 (pysz), ZFP (zfpy) and zstd on the same array, one run.

Ratios are comparable because every codec sees the same array in the same process; absolute
speeds are only comparable within one run. Peak memory is tracemalloc's peak (numpy buffers
and Python objects) during one call, as a multiple of the array's size.
"""
from __future__ import annotations

import statistics
import time
import tracemalloc
from typing import Any, Callable

import numpy as np

from . import core


# How the timed runs of one measurement are summarised: the median by default; a script may set
# min (the least time: on a shared machine noise only ever adds time)
SUMMARY: Callable[[list[float]], float] = statistics.median


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    out = fn()  # warm-up (and the result we measure)
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return out, SUMMARY(times)


def _peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def quality(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(max error / range, PSNR in dB over the range) of ``y`` against ``x``, finite values of x only."""
    fin = np.isfinite(x)
    xf, yf = x[fin].astype(np.float64), y[fin].astype(np.float64)
    rng = float(xf.max() - xf.min()) if xf.size else 0.0
    err = np.abs(xf - yf)
    maxerr = float(err.max()) if err.size else 0.0
    mse = float(np.mean(err**2)) if err.size else 0.0
    psnr = float("inf") if mse == 0 or rng == 0 else 20 * np.log10(rng) - 10 * np.log10(mse)
    return (maxerr / rng if rng else maxerr), psnr


def _layouts(x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Natural shape and samples stacked along the first spatial axis (SZ3/ZFP prefer either)."""
    out = [("natural", x)] if 1 <= x.ndim <= 4 else []
    if x.ndim >= 2:
        spatial = x.shape[x.ndim - min(3, x.ndim - 1) :]
        stacked = x.reshape((-1,) + spatial[1:])
        if stacked.shape != x.shape:
            out.append(("stacked " + "x".join(map(str, stacked.shape)), stacked))
    if not out:
        out.append(("flat", x.reshape(-1)))
    return out


def _row(name: str, x: np.ndarray, nbytes: int, y: np.ndarray, tc: float, td: float, **extra) -> dict:
    maxerr, psnr = quality(x, y)
    return {"codec": name, "ratio": x.nbytes / nbytes, "bits_per_value": 8 * nbytes / x.size,
            "max_err_over_range": maxerr, "psnr_db": psnr, "compress_MBps": x.nbytes / tc / 1e6,
            "decompress_MBps": x.nbytes / td / 1e6, **extra}


def bench_phcomp(x: np.ndarray, model: core.Model, rel: float, repeat: int) -> dict:
    blob, tc = _timed(lambda: core.compress(x, model, rel=rel), repeat)
    y, td = _timed(lambda: core.decompress(blob, model), repeat)
    mem_c = _peak(lambda: core.compress(x, model, rel=rel)) / x.nbytes
    mem_d = _peak(lambda: core.decompress(blob, model)) / x.nbytes
    info = core.inspect_chunk(blob)
    return _row("phcomp", x, len(blob), y, tc, td, rel=rel, peak_mem_compress_x=mem_c, peak_mem_decompress_x=mem_d,
                model_bytes=model.nbytes, mode=info["mode"], sections=info["sections"])


def bench_sz3(x: np.ndarray, rel: float, repeat: int) -> dict:
    import pysz

    best = None
    for layout, arr in _layouts(x):
        arr = np.ascontiguousarray(arr)
        cfg = pysz.szConfig(arr.shape)
        cfg.errorBoundMode = pysz.szErrorBoundMode.REL
        cfg.relErrorBound = rel
        (c, _), tc = _timed(lambda: pysz.sz.compress(arr, cfg), repeat)
        (y, _), td = _timed(lambda: pysz.sz.decompress(c, arr.dtype, arr.shape), repeat)
        row = _row("SZ3", arr, c.nbytes, y, tc, td, rel=rel, layout=layout)
        if best is None or row["ratio"] > best["ratio"]:
            best = row
    return best


def bench_zfp(x: np.ndarray, rel: float, repeat: int) -> dict:
    import zfpy

    fin = x[np.isfinite(x)]
    eps = rel * float(fin.max() - fin.min()) if fin.size else 0.0
    best = None
    for layout, arr in _layouts(x):
        arr = np.ascontiguousarray(arr)
        c, tc = _timed(lambda: zfpy.compress_numpy(arr, tolerance=eps), repeat)
        y, td = _timed(lambda: zfpy.decompress_numpy(c), repeat)
        row = _row("ZFP", arr, len(c), y, tc, td, rel=rel, layout=layout)
        if best is None or row["ratio"] > best["ratio"]:
            best = row
    return best


def bench_zstd(x: np.ndarray, repeat: int) -> dict:
    import zstandard

    raw = np.ascontiguousarray(x).tobytes()
    c, tc = _timed(lambda: zstandard.ZstdCompressor(level=3).compress(raw), repeat)
    d, td = _timed(lambda: zstandard.ZstdDecompressor().decompress(c), repeat)
    return _row("zstd-3", x, len(c), np.frombuffer(d, x.dtype).reshape(x.shape), tc, td, rel=0.0)


def run_bench(x: np.ndarray, model: core.Model, rels: list[float], repeat: int = 3, peers: bool = True,
              log: Callable[[str], None] | None = None) -> list[dict]:
    rows: list[dict] = []
    for rel in rels:
        rows.append(bench_phcomp(x, model, rel, repeat))
        if not peers:
            continue
        for name, fn in (("SZ3", bench_sz3), ("ZFP", bench_zfp)):
            try:
                rows.append(fn(x, rel, repeat))
            except ImportError as e:
                rows.append({"codec": name, "rel": rel, "skipped": f"not installed ({e.name}); pip install .[bench]"})
    if peers:
        rows.append(bench_zstd(x, repeat))
    return rows


def format_table(rows: list[dict]) -> str:
    head = "| codec | rel | ratio | bits/value | max err/range | PSNR dB | comp MB/s | decomp MB/s | notes |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['codec']} | {r['rel']:g} | - | - | - | - | - | - | skipped: {r['skipped']} |")
            continue
        notes = r.get("layout", "")
        if r["codec"] == "phcomp":
            notes = (f"{r['mode']}; peak mem {r['peak_mem_compress_x']:.1f}x / {r['peak_mem_decompress_x']:.1f}x "
                     f"array; model {r['model_bytes'] / 1e6:.2f} MB (not in ratio)")
        lines.append(f"| {r['codec']} | {r['rel']:g} | {r['ratio']:.2f} | {r['bits_per_value']:.3f} | "
                     f"{r['max_err_over_range']:.3g} | {r['psnr_db']:.2f} | {r['compress_MBps']:.1f} | "
                     f"{r['decompress_MBps']:.1f} | {notes} |")
    return "\n".join(lines)
