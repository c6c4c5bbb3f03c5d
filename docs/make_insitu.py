"""Figures of docs/insitu.md: the MPI Gray-Scott example (phcomp/examples/grayscott_mpi.py) with
1 and 2 ranks and every backend (hdf5-parallel, hdf5-vds, adios2) in one run, then a projection to many nodes
from the measured per-rank figures of the adios2 backend (the in-process C++ operator).

    python docs/make_insitu.py [--n 160] [--steps 900] [--every 150] [--fs-gbs 50]

Rewrites the part of docs/insitu.md between the markers.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
BEGIN, END = "<!-- insitu-figures:begin -->", "<!-- insitu-figures:end -->"


ROOT = DOCS.parent


def run(ranks: int, backend: str, a) -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PHCOMP_THREADS="1")
        out = "gs.bp" if backend == "adios2" else "gs.h5"
        launcher = ["mpiexec", "-n", str(ranks), sys.executable]
        if backend == "hdf5-parallel":  # Debian's MPI h5py: the system Python under OpenMPI (as in the tests)
            env.update(PATH="/usr/bin:/bin", PYTHONPATH=f"{ROOT}:{ROOT / 'build' / 'system-python-deps'}")
            launcher = ["mpiexec.openmpi", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks), "/usr/bin/python3"]
        r = subprocess.run([*launcher, "-m", "phcomp.examples.grayscott_mpi",
                            "--n", str(a.n), "--steps", str(a.steps), "--every", str(a.every), "--compare",
                            "--backend", backend, "-o", out], capture_output=True, text=True, cwd=d, env=env,
                           check=True)
    keys = ["step", "sim", "out", "raw", "sz3", "mb_raw", "mb_phcomp", "ratio", "ratio_sz3", "err"]
    return [dict(zip(keys, map(float, line.split()))) for line in r.stdout.splitlines() if line.strip()[:1].isdigit()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=160)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--every", type=int, default=150)
    ap.add_argument("--fs-gbs", type=float, default=50.0, help="stated aggregate file-system bandwidth, GB/s")
    ap.add_argument("--node-ranks", type=int, default=64, help="ranks per node in the projection")
    ap.add_argument("--no-parallel", dest="parallel", action="store_false",
                    help="skip hdf5-parallel (needs Debian's python3-h5py-mpi, see tests/test_mpi.py)")
    a = ap.parse_args()
    backends = ("hdf5-parallel", "hdf5-vds", "adios2") if a.parallel else ("hdf5-vds", "adios2")
    runs = {(b, r): run(r, b, a) for b in backends for r in (1, 2)}
    res = {r: runs[("adios2", r)] for r in (1, 2)}
    lines = [BEGIN, "", f"Measured: Gray-Scott {a.n}^3 (u and v, float32), {a.steps} steps, output every {a.every}, "
             f"`--rel 1e-3`, shipped `field3d` model, one BLAS thread per rank, this machine (2 cores), one run "
             f"(`python docs/make_insitu.py`). Times are per output step, the slowest rank's (barriers around).", "",
             "| backend | ranks | step | simulate s (since last output) | phcomp compress+write s | "
             "uncompressed write s | SZ3 compress s | MB raw | MB phcomp | ratio phcomp | ratio SZ3 | max error / bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (b, r), rows in runs.items():
        for x in rows:
            lines.append(f"| {b} | {r} | {int(x['step'])} | {x['sim']:.2f} | {x['out']:.3f} | {x['raw']:.4f} | {x['sz3']:.3f} | "
                         f"{x['mb_raw']:.1f} | {x['mb_phcomp']:.2f} | {x['ratio']:.1f} | {x['ratio_sz3']:.1f} | "
                         f"{x['err']:.3f} |")
    lines += [""]
    lines += ["Encode throughput (raw MB per second of compress+write, all ranks), over every output step, and "
              "in steady state (without the first output step, which also loads the model and opens the output):", "",
              "| backend | 1 rank, all | 2 ranks, all | speed-up, all | 1 rank, steady | 2 ranks, steady | "
              "speed-up, steady (target >= 1.8x) |", "|---|---|---|---|---|---|---|"]
    for b in backends:
        t = {(r, k): sum(x["mb_raw"] for x in runs[(b, r)][k:]) / sum(x["out"] for x in runs[(b, r)][k:])
             for r in (1, 2) for k in (0, 1)}
        lines.append(f"| {b} | {t[1, 0]:.1f} | {t[2, 0]:.1f} | {t[2, 0] / t[1, 0]:.2f}x | {t[1, 1]:.1f} | "
                     f"{t[2, 1]:.1f} | **{t[2, 1] / t[1, 1]:.2f}x** |")
    lines += ["", "Throughput counts the slowest rank of each step (barriers around the write). Below the 1.8x "
              "target here; not separated in this run: the two slabs of the non-uniform Gray-Scott pattern code at "
              "different speeds (the slower rank sets the step), and the two ranks share this 2-core machine's "
              "memory bandwidth and caches with each other and the simulation's arrays.",
              "", "SZ3 is not installed for the system Python that runs hdf5-parallel (Debian's MPI h5py), so its "
              "SZ3 columns are empty; the same blocks' SZ3 figures are in the other backends' rows.", ""]
    thr = {r: sum(x["mb_raw"] for x in rows) / sum(x["out"] for x in rows) for r, rows in res.items()}
    # projection: weak scaling, each rank keeps the measured 2-rank block and per-rank encode rate
    per_rank_mb = res[2][-1]["mb_raw"] / 2
    rate = thr[2] / 2  # MB/s per rank, measured with 2 ranks
    ratio = sum(x["ratio"] for x in res[2]) / len(res[2])
    lines += [f"Projected (not measured), from the adios2 backend's figures: every rank holds the measured 2-rank block ({per_rank_mb:.1f} MB per step), "
              f"encodes at the measured {rate:.1f} MB/s per rank and reaches the measured mean ratio {ratio:.0f}; "
              f"{a.node_ranks} ranks per node; a file system delivering a stated **{a.fs_gbs:g} GB/s** aggregate. "
              "Output time per step: uncompressed = data / bandwidth; phcomp = block / encode rate (in parallel on "
              "every rank) + compressed data / bandwidth.", "",
              "| nodes | ranks | data per step | uncompressed write s | phcomp s | speed-up of the output step |",
              "|---|---|---|---|---|---|"]
    for nodes in (1, 16, 128, 1024, 4096):
        ranks = nodes * a.node_ranks
        data_gb = ranks * per_rank_mb / 1e3
        t_raw = data_gb / a.fs_gbs
        t_ph = per_rank_mb / rate + data_gb / ratio / a.fs_gbs
        lines.append(f"| {nodes} | {ranks} | {data_gb:,.1f} GB | {t_raw:,.2f} | {t_ph:,.2f} | {t_raw / t_ph:,.1f}x |")
    lines += ["", "The uncompressed write here goes to the page cache of a local disk (a few MB per step), so it "
              "costs almost nothing; on a parallel file system it is data / bandwidth, which the projection uses.", "",
              "Small runs are faster uncompressed (the encode costs more than writing a few GB); once the data "
              "per step passes what the file system writes in the encode time, phcomp's step is shorter, by up to "
              "the compression ratio.", "", END]
    doc = DOCS / "insitu.md"
    text = doc.read_text()
    i, j = text.index(BEGIN), text.index(END) + len(END)
    doc.write_text(text[:i] + "\n".join(lines) + text[j:])


if __name__ == "__main__":
    main()
