"""Native codec benchmark: docs/native.md.

    pip install -e ".[bench]" && python docs/make_native.py

One run, one process per measurement block, the same arrays for every codec: phcomp's native
(C) path and its numpy path (PHCOMP_NATIVE=0), SZ3 (pysz), ZFP (zfpy) and zstd; single thread
unless a row says otherwise (PHCOMP_THREADS). Shipped default models only (no training), so
every array is data the model never saw.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single-threaded means the numpy path's BLAS too
import numpy as np  # noqa: E402

import phcomp
from phcomp import bench
from phcomp.core import native
from phcomp.core.model import ZOO_DIR, default_model
from phcomp.data import darcy2d, grayscott3d, sas, turb2d

from make_convert_threads import BEGIN as CONVERT_BEGIN, END as CONVERT_END  # docs/ is on the path as a script

DOCS = Path(__file__).resolve().parent
REPEAT = 5
bench.SUMMARY = min  # the least of REPEAT times, for every codec alike: noise here only ever adds time


def _env(**kv):
    for k, v in kv.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = str(v)


def phcomp_row(label: str, x: np.ndarray, model, rel: float, path: str, threads: int = 1) -> dict:
    _env(PHCOMP_NATIVE="1" if path == "native" else "0", PHCOMP_THREADS=threads)
    blob, tc = bench._timed(lambda: phcomp.compress(x, model, rel=rel), REPEAT)
    y, td = bench._timed(lambda: phcomp.decompress(blob, model), REPEAT)
    _env(PHCOMP_NATIVE=None, PHCOMP_THREADS=None)
    return bench._row(label, x, len(blob), y, tc, td, rel=rel, path=path, threads=threads, kind=model.kind)


def peers(x: np.ndarray, rel: float) -> list[dict]:
    return [bench.bench_sz3(x, rel, REPEAT), bench.bench_zfp(x, rel, REPEAT)]


def families() -> list[tuple[str, np.ndarray, list[tuple[str, object]]]]:
    g = grayscott3d(n=64, snapshots=8, seed=0)[1::2]
    w = turb2d(n=128, snapshots=8, seed=0)[1::2]
    p, _ = darcy2d(n=64, count=64, seed=0)
    c = sas(n=2000, seed=0).log10_intensity[1::2]
    field3d, sasm, field = default_model("field3d"), default_model("sas"), default_model("field")
    linear = phcomp.load_model(ZOO_DIR / "be1e879a62b6010f.phcm")
    return [
        ("grayscott3d", np.ascontiguousarray(g, np.float32), [("field3d (interp)", field3d)]),
        ("turb2d", np.ascontiguousarray(w, np.float32), [("field3d (interp)", field3d), ("field (separable)", field)]),
        ("darcy2d", np.ascontiguousarray(p[1::2], np.float32), [("field3d (interp)", field3d), ("field (separable)", field)]),
        ("sas", np.ascontiguousarray(c[:, :256], np.float32), [("sas (interp)", sasm), ("linear (SAS zoo)", linear)]),
    ]


def smooth_volume(n: int, seed: int = 0) -> np.ndarray:
    """A smooth random float32 volume (Gaussian-filtered noise), n^3 values."""
    rng = np.random.default_rng(seed)
    k = np.fft.rfftfreq(n), np.fft.fftfreq(n)
    kk = k[1][:, None, None] ** 2 + k[1][None, :, None] ** 2 + k[0][None, None, :] ** 2
    spec = np.fft.rfftn(rng.standard_normal((n, n, n), np.float32))
    spec *= np.exp(-kk * 400.0)
    return np.fft.irfftn(spec, s=(n, n, n), axes=(0, 1, 2)).astype(np.float32)


_PEAK_CHILD = """
import numpy as np, phcomp
def hwm():  # this process's peak RSS (ru_maxrss would include the parent's: it survives fork + exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) * 1024
from phcomp.core.model import default_model
m = default_model("field3d")
phcomp.decompress(phcomp.compress(np.load({path!r}, mmap_mode="r")[:8], m, rel=1e-3), m)  # tables, library
if {decode}:
    blob = open({blob!r}, "rb").read()
    base = hwm()
    y = phcomp.decompress(blob, m)
else:
    x = np.load({path!r})
    base = hwm()
    phcomp.compress(x, m, rel=1e-3)
print(hwm() - base)
"""


def peak_memory(n: int, path: str, tmp: Path) -> tuple[float, float]:
    """Peak RSS growth of one compress and of one decompress, each in a fresh child, in
    multiples of the array's size (the input array, or the compressed bytes, already in memory)."""
    f, b = tmp / f"peak{n}.npy", tmp / f"peak{n}.phc"
    if not f.exists():
        x = smooth_volume(n)
        np.save(f, x)
        b.write_bytes(phcomp.compress(x, default_model("field3d"), rel=1e-3))
    env = dict(os.environ, PHCOMP_NATIVE="1" if path == "native" else "0", PHCOMP_THREADS="1")
    nbytes = 4 * n**3
    res = []
    for decode in (False, True):
        out = subprocess.run([sys.executable, "-c", _PEAK_CHILD.format(path=str(f), blob=str(b), decode=decode)],
                             env=env, capture_output=True, text=True, check=True).stdout
        res.append(float(out) / nbytes)
    return res[0], res[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", type=int, default=320, help="side of the thread-scaling volume (320: 131 MB)")
    ap.add_argument("--render-only", action="store_true", help="rewrite docs/native.md from docs/native.json")
    args = ap.parse_args()
    if args.render_only:
        write_doc(json.loads((DOCS / "native.json").read_text()))
        return
    assert native.enabled(), native.why_unavailable()
    t0 = time.time()
    rows: list[dict] = []
    for fam, x, models in families():
        for rel in ((1e-2, 1e-3, 1e-4) if fam == "grayscott3d" else (1e-3,)):
            for label, model in models:
                for path in ("native", "numpy"):
                    rows.append(dict(phcomp_row(label, x, model, rel, path), family=fam))
            rows += [dict(r, family=fam) for r in peers(x, rel)]
        rows.append(dict(bench.bench_zstd(x, REPEAT), family=fam))
        print(f"{fam} done ({time.time() - t0:.0f} s)", flush=True)
    big = smooth_volume(args.big)
    field3d = default_model("field3d")
    scaling = [phcomp_row("field3d (interp)", big, field3d, 1e-3, "native", t) for t in (1, 2)]
    field = default_model("field")
    scaling += [phcomp_row("field (separable)", big, field, 1e-3, "native", t) for t in (1, 2)]
    scaling += [dict(r, path="", threads=1) for r in peers(big, 1e-3)[:1]]
    print(f"scaling done ({time.time() - t0:.0f} s)", flush=True)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        mem = {p: peak_memory(200, p, Path(tmp)) for p in ("native", "numpy")}
    out = {"rows": rows, "scaling": scaling, "big_MB": big.nbytes / 1e6, "peak_encode_x": mem,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "seconds": time.time() - t0}
    (DOCS / "native.json").write_text(json.dumps(out, indent=1, default=float))
    write_doc(out)
    print(f"wrote docs/native.md in {time.time() - t0:.0f} s")


def write_doc(out: dict) -> None:
    doc = DOCS / "native.md"
    keep = ""  # the section docs/make_convert_threads.py writes between its markers stays
    if doc.exists():
        old = doc.read_text()
        b, e = old.find(CONVERT_BEGIN), old.find(CONVERT_END)
        if 0 <= b < e:
            head = old.rfind("\n## ", 0, b)
            keep = "\n" + old[head if head >= 0 else b : e + len(CONVERT_END)].strip("\n") + "\n"
    doc.write_text(render(out).rstrip("\n") + "\n" + keep)


def _f(v: float, d: int = 1) -> str:
    return f"{v:.{d}f}"


def render(out: dict) -> str:
    rows = out["rows"]
    sz = {(r["family"], r["rel"]): r for r in rows if r["codec"] == "SZ3"}
    lines = ["# Native codec: speed against SZ3, ZFP and zstd", "",
             "Regenerate with `pip install -e \".[bench]\" && python docs/make_native.py` "
             f"({out['seconds']:.0f} s here; {out['machine']}). One process, the same arrays for every codec, "
             f"the least time of {REPEAT} timed runs after a warm-up, for every codec; phcomp single-threaded (`PHCOMP_THREADS=1`) except in the scaling table. "
             "`native` is the C codec (native/, the default), `numpy` the reference path (`PHCOMP_NATIVE=0`): for "
             "interp both write the same bytes; for linear and separable they make the same decisions and their "
             "ratios agree to 0.01 % (the float projections sum in different orders). Shipped default models only: "
             "none of these arrays was seen in training. SZ3 and ZFP get their best layout.", "",
             "| family | rel | codec | path | ratio | x SZ3 ratio | max err/range | comp MB/s | x SZ3 | decomp MB/s | x SZ3 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            continue
        s = sz.get((r["family"], r.get("rel")))
        rel = r.get("rel", 0.0)
        x_ratio = _f(r["ratio"] / s["ratio"], 2) if s and rel else ""
        x_c = _f(r["compress_MBps"] / s["compress_MBps"], 2) if s and rel else ""
        x_d = _f(r["decompress_MBps"] / s["decompress_MBps"], 2) if s and rel else ""
        lines.append(f"| {r['family']} | {rel:g} | {r['codec']} | {r.get('path', '')} | {_f(r['ratio'], 2)} | {x_ratio} | "
                     f"{r['max_err_over_range']:.3g} | {_f(r['compress_MBps'])} | {x_c} | {_f(r['decompress_MBps'])} | {x_d} |")
    sc = out["scaling"]
    speedup = {}  # kind -> (compress, decompress) of 2 threads over 1
    for r in sc:
        if r.get("threads") == 2:
            one = next(o for o in sc if o["codec"] == r["codec"] and o.get("threads") == 1)
            speedup[r["codec"]] = (r["compress_MBps"] / one["compress_MBps"], r["decompress_MBps"] / one["decompress_MBps"])
    lines += ["", f"## Threads: one {out['big_MB']:.0f} MB float32 volume, rel 1e-3", "",
              "interp parallelises each sub-pass's prediction (and, encoding, the closed loop), context "
              "histogram, write-back and table-set pricing, and runs the encoder's bound check beside its range "
              "coder, which is one sequential stream; the transform kinds project and reconstruct blocks in parallel, "
              "and code the residual beside the latents (two independent streams). Output and decoded bits "
              "are the same at every thread count (tests/test_native.py, tests/test_native_encode.py).", "",
              "| codec | threads | ratio | comp MB/s | decomp MB/s |", "|---|---|---|---|---|"]
    for r in sc:
        lines.append(f"| {r['codec']} {r.get('path', '')} | {r['threads']} | {_f(r['ratio'], 2)} | "
                     f"{_f(r['compress_MBps'])} | {_f(r['decompress_MBps'])} |")
    lines += [""] + [f"- {k}: 2 threads / 1 thread: compress **{c:.2f}x**, decompress **{d:.2f}x**."
                     for k, (c, d) in speedup.items()]
    lines += ["",
              "## Peak memory (200^3 float32, shipped field3d, rel 1e-3)", "",
              "Peak RSS growth of one call in a fresh process (input already in memory), in multiples of the "
              "array's size:", "",
              "| path | compress | decompress |", "|---|---|---|"]
    for p, (e, d) in out["peak_encode_x"].items():
        lines.append(f"| {p} | {e:.1f}x | {d:.1f}x |")
    lines += ["", "## Against the targets", ""]
    nat = [r for r in rows if r.get("path") == "native" and r.get("kind") == "interp" and r.get("rel") == 1e-3]
    xs = [(r["compress_MBps"] / sz[(r["family"], 1e-3)]["compress_MBps"],
           r["decompress_MBps"] / sz[(r["family"], 1e-3)]["decompress_MBps"]) for r in nat]
    tr = [r for r in rows if r.get("path") == "native" and r.get("kind") in ("linear", "separable") and r.get("rel") == 1e-3]
    tx = [(r["compress_MBps"] / sz[(r["family"], 1e-3)]["compress_MBps"],
           r["decompress_MBps"] / sz[(r["family"], 1e-3)]["decompress_MBps"]) for r in tr]
    num = {(r["family"], r["codec"]): r for r in rows if r.get("path") == "numpy" and r.get("rel") == 1e-3}
    gain = [r["decompress_MBps"] / num[(r["family"], r["codec"])]["decompress_MBps"] for r in tr]
    ratio_change = [r["ratio"] / num[(r["family"], r["codec"])]["ratio"] - 1 for r in tr]
    verdict = lambda v, t: "met" if v >= t else "**not met**"  # noqa: E731
    lines += [f"- `interp`, single thread, rel 1e-3: compress {min(x[0] for x in xs):.2f}-{max(x[0] for x in xs):.2f}x "
              f"SZ3 (target 0.5x: met on {sum(x[0] >= 0.5 for x in xs)} of {len(xs)} rows), decompress "
              f"{min(x[1] for x in xs):.2f}-{max(x[1] for x in xs):.2f}x (target 0.5x: met on "
              f"{sum(x[1] >= 0.5 for x in xs)} of {len(xs)} rows). Where a one-thread decode of the 320^3 volume "
              "below spends its time now (`perf record` of `phcomp.decompress`, not part of this script): the "
              "vectorised stage (8-tap prediction, same-level correction, four activities and their context "
              "bins, exact in float64, an AVX2 clone) about 32 %, writing q Q back into the lattices about "
              "24 % (a gather from many contexts' runs), the range decoder about 11 %, the per-target stores "
              "and the reflected targets at the ends of lines about 10 %, the kernel zeroing fresh pages about "
              "8 %. The encoder runs the same stage with its closed loop (q = rint((v - pred) / Q)) vectorised "
              "too. The format is unchanged: every chunk is byte-identical to the numpy encoder's.",
              "- `linear` / `separable` in C: the decoders are exact sums of integers in float64, so their "
              "order is free. They run as register-tiled products (4 x 8 outputs held across the terms); "
              "a DCT axis (mirror-symmetric) is summed as even and odd halves (half the products); only the "
              "nonzero latents are placed, and each stage reads only the rows they reach. The encoder "
              "projects 8 blocks per product, quantizes four values at a time, prices the latent coder's "
              "candidate levels from each group's high parts gathered once, and plans the groups on "
              "threads. A zero-run residual is decoded into a bitmap of its nonzeros (about 1 % of the values at "
              "rel 1e-3), not an int32 per value. A one-thread decode of the 320^3 volume (`perf record`, not "
              "part of this script) spends about 44 % in the products, 15 % in the latent range decoder (one "
              "sequential stream: with the residual now cheap, it is what two threads wait on) and 17 % in the "
              "kernel zeroing fresh pages (the output and the per-value latents). "
              f"Compress {min(x[0] for x in tx):.2f}-"
              f"{max(x[0] for x in tx):.2f}x SZ3 (target 0.5x: {verdict(min(x[0] for x in tx), 0.5)}), decompress "
              f"{min(x[1] for x in tx):.2f}-{max(x[1] for x in tx):.2f}x (target 1.0x: "
              f"{verdict(min(x[1] for x in tx), 1.0)}); decompress {min(gain):.1f}-{max(gain):.1f}x the numpy path. "
              f"Ratio against the numpy encoder: {min(ratio_change) * 100:+.2f} % to {max(ratio_change) * 100:+.2f} % "
              "(the C projection may round a latent the other way; the zstd frames come from another zstd).",
              f"- 2 threads on a {out['big_MB']:.0f} MB array (target 1.8x): met by "
              f"{', '.join(f'{k} {d}' for k, v in speedup.items() for d, x in zip(('compress', 'decompress'), v) if x >= 1.8) or 'none'}"
              f"; not by {', '.join(f'{k} {d} ({x:.2f}x)' for k, v in speedup.items() for d, x in zip(('compress', 'decompress'), v) if x < 1.8) or 'none'}. Across chunks (zarr reads, HDF5 chunks "
              "decoded on threads, `phcomp compress --threads`) the codec scales freely: it releases the GIL and "
              "shares nothing between calls but a lock-free cache of zstd contexts.",
              "- Ratios: interp identical to the numpy path (the same bytes) — met. Peak memory: lower than the "
              "numpy path.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
