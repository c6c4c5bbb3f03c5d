"""Figures of docs/archives.md: a generated archive (phcomp.data.archive.make_archive) compressed
with `phcomp archive compress` as one task and as two tasks run at once, then verified.

    python docs/make_archives.py [--work /tmp/phcomp-archive-doc] [--runs 4]

Generating the archive takes several minutes (3-D Gray-Scott at 64^3, 2-D turbulence at 256^2);
it is kept in --work and reused. The table between the markers in docs/archives.md and
docs/archive_report.png are rewritten.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
BEGIN, END = "<!-- archive-figures:begin -->", "<!-- archive-figures:end -->"


def _run(args: list[str]) -> float:
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "phcomp.cli", "archive", *args], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/phcomp-archive-doc")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--rel", default="1e-3")
    ap.add_argument("--copies", type=int, default=8,
                    help="each generated run is also copied this many times (cheap volume for the timings)")
    a = ap.parse_args()
    from phcomp import archive
    from phcomp.data.archive import make_archive

    work = Path(a.work)
    src = work / "src"
    if not (src / "run000").exists():
        make_archive(src, runs=a.runs, n3d=64, n2d=256)
    for run in sorted(src.glob("run[0-9][0-9][0-9]")):
        for c in range(a.copies):
            copy = src / f"{run.name}-copy{c}"
            if not copy.exists():
                shutil.copytree(run, copy)
    rows = []
    for tasks, threads in ((1, None), (1, 1), (2, 1)):
        env = dict(os.environ)
        if threads:  # numpy's BLAS (the transform kinds' GEMMs) otherwise uses every core in each task
            env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
        dst = work / f"dst-{tasks}-{threads or 'all'}"
        shutil.rmtree(dst, ignore_errors=True)
        t0 = time.time()
        procs = [subprocess.Popen([sys.executable, "-m", "phcomp.cli", "archive", "compress", str(src), str(dst),
                                   "--rel", a.rel, "-q", "--task-index", str(i), "--task-count", str(tasks)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env) for i in range(tasks)]
        for p in procs:
            p.wait()
        wall = time.time() - t0
        st = archive.status(dst)
        t_verify = _run(["verify", str(dst), "-q"])
        rows.append((tasks, threads, st, wall, t_verify))
    png = archive.report(work / "dst-1-all", DOCS / "archive_report.png")
    st = rows[0][2]
    gb_in = st["bytes_in"] / 1e9
    lines = [BEGIN, "",
             f"Generated archive: {st['items']} items ({a.runs} simulated runs, each also copied {a.copies} times: HDF5 "
             f"with dimension scales, netCDF-4, Zarr, .npy, text files; and three bad inputs), `--rel {a.rel}`, "
             f"shipped default models, this machine (2 cores; each task is one process). "
             f"Command: `python docs/make_archives.py`.", "",
             "| tasks | BLAS threads per task | compressed | copied | failed | GB in | GB out | ratio (all) | ratio (compressed files) | "
             "wall s | s per GB | verify s | max error / bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for tasks, threads, s, wall, tv in rows:
        lines.append(f"| {tasks} | {threads or 'all (2)'} | {s['done']} | {s['copied']} | {s['failed']} | {s['bytes_in'] / 1e9:.3f} | "
                     f"{s['bytes_out'] / 1e9:.3f} | {s['ratio']:.2f} | {s['compressed_ratio']:.2f} | {wall:.1f} | "
                     f"{wall / max(gb_in, 1e-9):.0f} | {tv:.1f} | {s['max_error_over_bound']:.3f} |")
    lines += ["", f"Failed (as they should): {', '.join(p for p, _ in st['failed_items'])}.", "",
              f"![ratio and bytes per file]({png.name})", "", END]
    doc = DOCS / "archives.md"
    text = doc.read_text()
    i, j = text.index(BEGIN), text.index(END) + len(END)
    doc.write_text(text[:i] + "\n".join(lines) + text[j:])
    print(json.dumps([{"tasks": t, "threads": th, "wall_s": w, "ratio": s["ratio"]} for t, th, s, w, _ in rows]))


if __name__ == "__main__":
    main()
