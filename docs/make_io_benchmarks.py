"""Regenerate the "Through h5py and zarr" and "Files larger than memory" sections of
docs/benchmarks.md: python docs/make_io_benchmarks.py [--big-gib 4]

1. The Gray-Scott test array (4 x 64^3 float32, model trained on the even snapshots) written and
   read through h5py with phcomp, hdf5plugin's SZ3 and Zstd filters and no filter, and through
   zarr v3 with phcomp, Zstd and no compression: same data, same chunks (1 x 64^3), one run.
2. `phcomp compress` / `phcomp decompress` on an HDF5 file of --big-gib GiB (a smooth synthetic
   field, 256^3 per snapshot) in a child process; peak RSS from GNU time (apt-get install time).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import zarr

import phcomp
import phcomp.hdf5
from phcomp.data import grayscott3d

HERE = Path(__file__).parent
REL = 1e-3


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def h5_rows(x: np.ndarray, model, work: Path) -> list[dict]:
    eps = REL * float(x.max() - x.min())
    filters = {
        "phcomp": phcomp.hdf5.Phcomp(model, abs=eps),
        "SZ3 (hdf5plugin)": hdf5plugin.SZ3(absolute=eps),
        "Zstd (hdf5plugin)": hdf5plugin.Zstd(clevel=3),
        "none": {},
    }
    rows = []
    for name, flt in filters.items():
        path = work / "b.h5"

        def write():
            with h5py.File(path, "w") as f:
                f.create_dataset("u", data=x, chunks=(1,) + x.shape[1:], **flt)

        def read():
            with h5py.File(path, "r") as f:
                return f["u"][...], f["u"].id.get_storage_size()

        for _ in range(2):  # warm-up, then timed
            _, tw = timed(write)
            (y, stored), tr = timed(read)
        err = float(np.abs(y.astype(np.float64) - x).max()) / float(x.max() - x.min())
        rows.append({"via": "h5py", "codec": name, "ratio": x.nbytes / stored, "file": path.stat().st_size,
                     "write": x.nbytes / tw / 1e6, "read": x.nbytes / tr / 1e6, "err": err})
    return rows


def zarr_rows(x: np.ndarray, model, work: Path) -> list[dict]:
    eps = REL * float(x.max() - x.min())
    codecs = {
        "phcomp": dict(serializer={"name": "phcomp", "configuration": {"model": model.id, "abs": eps}}, compressors=None),
        "Zstd": dict(compressors=zarr.codecs.ZstdCodec(level=3)),
        "none": dict(compressors=None),
    }
    rows = []
    for name, kw in codecs.items():
        path = work / f"b-{name}.zarr"

        def write():
            shutil.rmtree(path, ignore_errors=True)
            a = zarr.create_array(path, shape=x.shape, chunks=(1,) + x.shape[1:], dtype=x.dtype, **kw)
            a[...] = x

        def read():
            return zarr.open_array(path, mode="r")[...]

        for _ in range(2):
            _, tw = timed(write)
            y, tr = timed(read)
        stored = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != "zarr.json")
        err = float(np.abs(y.astype(np.float64) - x).max()) / float(x.max() - x.min())
        rows.append({"via": "zarr v3", "codec": name, "ratio": x.nbytes / stored, "file": stored,
                     "write": x.nbytes / tw / 1e6, "read": x.nbytes / tr / 1e6, "err": err})
    return rows


def big_file(gib: float, work: Path) -> dict:
    n = 256
    snaps = max(1, int(round(gib * 2**30 / (n**3 * 4))))
    src = work / "big.h5"
    g = np.linspace(0, 2 * np.pi, n, dtype=np.float32)
    rng = np.random.default_rng(0)
    with h5py.File(src, "w") as f:
        d = f.create_dataset("field", shape=(snaps, n, n, n), dtype="f4", chunks=(1, 64, n, n))
        for s in range(snaps):
            a, b, c = rng.uniform(1, 4, 3)
            snap = (np.sin(a * g)[:, None, None] * np.cos(b * g)[None, :, None] + np.sin(c * g + s)[None, None, :])
            d[s] = snap + 0.001 * rng.standard_normal(snap.shape, dtype=np.float32)
    model = phcomp.train(h5py.File(src, "r")["field"][0], kind="linear", max_blocks=50_000)
    model.save(work / "big.phcm")
    out = {"gib": src.stat().st_size / 2**30, "shape": (snaps, n, n, n)}
    for step, args in (("compress", ["compress", src, "-o", work / "big.phc.h5", "--model", work / "big.phcm",
                                     "--rel", str(REL)]),
                       ("decompress", ["decompress", work / "big.phc.h5", "-o", work / "big.plain.h5"])):
        # GNU time forks the command from its own small process: ru_maxrss of a child forked
        # from this (large) process would count our pages from before its exec
        t = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "maxrss_kib=%M", sys.executable, "-m", "phcomp.cli",
                            *map(str, args)], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{step} failed: {r.stderr[-2000:]}")
        kib = int(re.findall(r"maxrss_kib=(\d+)", r.stderr)[-1])
        out[step] = {"seconds": time.perf_counter() - t, "peak_rss_mib": kib / 1024}
    out["ratio"] = src.stat().st_size / (work / "big.phc.h5").stat().st_size
    with h5py.File(src, "r") as a, h5py.File(work / "big.plain.h5", "r") as b:
        err = 0.0
        for s in range(snaps):
            x = a["field"][s]
            err = max(err, float(np.abs(x - b["field"][s]).max()))
        fin = phcomp.core.finite_range(a["field"])
        out["max_err_over_range"] = err / (fin[1] - fin[0])
    return out


def table(rows: list[dict]) -> str:
    lines = ["| via | codec | ratio (dataset) | max err/range | write MB/s | read MB/s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['via']} | {r['codec']} | {r['ratio']:.2f} | {r['err']:.3g} | {r['write']:.1f} | {r['read']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big-gib", type=float, default=4.0)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phcomp-io-", dir=os.environ.get("PHCOMP_BENCH_DIR")))
    try:
        d = grayscott3d(n=64, snapshots=8, seed=0)
        model = phcomp.train(d[0::2], kind="linear")
        x = np.ascontiguousarray(d[1::2])
        rows = h5_rows(x, model, work) + zarr_rows(x, model, work)
        big = big_file(a.big_gib, work) if a.big_gib > 0 else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    section = f"""## Through h5py and zarr

Regenerate with `python docs/make_io_benchmarks.py` (this section and the next).

The Gray-Scott test array above (4 x 64^3 float32), chunks of 1 x 64^3, bound rel {REL:g} of the
range given to each lossy codec as the same absolute bound; write = create + write + close,
read = open + read all; medians are not taken (one warm-up, one timed run). The ratio is the
dataset's stored size; the phcomp HDF5 file also holds the model ({model.nbytes / 1e6:.2f} MB,
once per file).

{table(rows)}
"""
    if big:
        section += f"""
## Files larger than memory

`phcomp compress big.h5 -o big.phc.h5 --model big.phcm --rel {REL:g}` and back with
`phcomp decompress`, each in its own process, on a {big['gib']:.2f} GiB HDF5 file
({big['shape'][0]} x 256^3 float32, a smooth synthetic field). Peak memory is the process's
peak RSS (GNU time's %M); both stream slab by slab.

| step | time s | MB/s | peak RSS MiB |
|---|---|---|---|
| compress | {big['compress']['seconds']:.0f} | {big['gib'] * 2**30 / big['compress']['seconds'] / 1e6:.1f} | {big['compress']['peak_rss_mib']:.0f} |
| decompress | {big['decompress']['seconds']:.0f} | {big['gib'] * 2**30 / big['decompress']['seconds'] / 1e6:.1f} | {big['decompress']['peak_rss_mib']:.0f} |

Ratio {big['ratio']:.1f} (whole file, model included); max error / range {big['max_err_over_range']:.3g}.
"""
    md = (HERE / "benchmarks.md").read_text()
    md = re.sub(r"\n## Through h5py and zarr.*?(?=\n## Rate-distortion)", "", md, flags=re.S)
    md = md.replace("\n## Rate-distortion", "\n" + section + "\n## Rate-distortion")
    (HERE / "benchmarks.md").write_text(md)
    print(section)


if __name__ == "__main__":
    main()
