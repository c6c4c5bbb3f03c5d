"""Figure of docs/native.md, "Whole files on several threads": `phcomp compress` of an HDF5 file
(Gray-Scott volumes, shipped field3d model, rel 1e-3) with 1 and 2 threads in one run.

    python docs/make_convert_threads.py [--n 128] [--snapshots 8]

Rewrites the part of docs/native.md between the markers.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

DOCS = Path(__file__).resolve().parent
BEGIN, END = "<!-- convert-threads:begin -->", "<!-- convert-threads:end -->"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--snapshots", type=int, default=16)
    a = ap.parse_args()
    from phcomp.data import grayscott3d

    g = grayscott3d(n=a.n, steps=1500, snapshots=a.snapshots, seed=0).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "gs.h5"
        with h5py.File(src, "w") as f:
            f.create_dataset("u", data=g, chunks=(1, a.n, a.n, a.n))
        import phcomp
        import phcomp.hdf5

        model = phcomp.default_model("field3d")
        for t in (1, 2):  # what `phcomp compress --threads T` runs, timed without the start-up
            out = Path(d) / f"gs.t{t}.h5"
            t0 = time.perf_counter()
            phcomp.hdf5.compress_file(src, out, model, rel=1e-3, threads=t)
            rows.append((t, time.perf_counter() - t0, out.stat().st_size))
    mb = g.nbytes / 1e6
    lines = [BEGIN, "", f"Measured (`python docs/make_convert_threads.py`, one run, this machine's 2 cores): "
             f"`phcomp compress` of an HDF5 file of {a.snapshots} Gray-Scott volumes {a.n}^3 float32 ({mb:.0f} MB, "
             f"one chunk per volume), shipped `field3d` model, `--rel 1e-3` (`phcomp.hdf5.compress_file`, what `phcomp compress --threads T` runs).", "",
             "| threads | seconds | MB/s | output bytes |", "|---|---|---|---|"]
    for t, s, size in rows:
        lines.append(f"| {t} | {s:.2f} | {mb / s:.1f} | {size:,} |")
    lines += ["", f"2 threads: **{rows[0][1] / rows[1][1]:.2f}x**; the files are identical chunk for chunk "
              "(tests/test_hdf5.py checks it).", "", END]
    doc = DOCS / "native.md"
    text = doc.read_text()
    if BEGIN not in text:
        text += "\n## Whole files on several threads\n\n" + BEGIN + "\n" + END + "\n"
    i, j = text.index(BEGIN), text.index(END) + len(END)
    doc.write_text(text[:i] + "\n".join(lines) + text[j:])


if __name__ == "__main__":
    main()
