"""3-D Gray-Scott with MPI domain decomposition, writing through phcomp inside its output step.

    mpiexec -n 2 python -m phcomp.examples.grayscott_mpi --n 64 --steps 2000 --every 500 -o gs.h5

The same equations, parameters and initial state as ``phcomp.data.grayscott3d`` (the ADIOS2
demo's), decomposed in slabs along the first axis: each rank holds its planes plus one halo
plane on each side, exchanged with its neighbours (periodic) by ``Sendrecv`` every step. Every
``--every`` steps each rank compresses its block of u and v with ``phcomp.mpi.Writer`` (the
shipped volume model by default) and rank 0 prints the step's time to simulate, compress and
write, the ratio and the largest error relative to the bound. ``--compare`` also times an
uncompressed write of the same blocks and SZ3 (pysz) at the same bound, for docs/insitu.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


def _halo(comm, a: np.ndarray) -> None:
    """Fill planes 0 and -1 of ``a`` from the neighbours' edge planes (periodic along axis 0)."""
    r, s = comm.Get_rank(), comm.Get_size()
    up, down = (r + 1) % s, (r - 1) % s
    send_up, send_down = np.ascontiguousarray(a[-2]), np.ascontiguousarray(a[1])
    recv_low, recv_high = np.empty_like(send_up), np.empty_like(send_down)
    comm.Sendrecv(send_up, dest=up, recvbuf=recv_low, source=down, sendtag=1, recvtag=1)
    comm.Sendrecv(send_down, dest=down, recvbuf=recv_high, source=up, sendtag=2, recvtag=2)
    a[0], a[-1] = recv_low, recv_high


def _lap(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The 6-point stencil on the interior planes 1:-1 (halos hold the neighbours' planes)."""
    c = a[1:-1]
    np.multiply(c, -6.0, out=out)
    out += a[:-2]
    out += a[2:]
    for ax in (1, 2):
        out += np.roll(c, 1, ax)
        out += np.roll(c, -1, ax)
    out *= 1.0 / 6.0
    return out


def initial(n: int, z0: int, z1: int, seed: int, noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """This rank's planes z0:z1 of grayscott3d's initial state (same noise as the serial one)."""
    rng = np.random.default_rng(seed)
    u = np.ones((n, n, n), np.float32)
    v = np.zeros((n, n, n), np.float32)
    c, w = n // 2, max(2, n // 8)
    u[c - w : c + w, c - w : c + w, c - w : c + w] = 0.25
    v[c - w : c + w, c - w : c + w, c - w : c + w] = 0.33
    u += noise * rng.standard_normal(u.shape).astype(np.float32)
    v += noise * rng.standard_normal(v.shape).astype(np.float32)
    pad = lambda x: np.concatenate([x[z0 - 1 : z0] if z0 else x[-1:], x[z0:z1], x[z1 : z1 + 1] if z1 < n else x[:1]])  # noqa: E731
    return pad(u), pad(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64, help="grid points per axis (default 64)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--every", type=int, default=500, help="output every N steps")
    ap.add_argument("--rel", type=float, default=1e-3, help="bound relative to each field's global range")
    ap.add_argument("--model", default="field3d", help="model: a .phcm, a shipped role or an id")
    ap.add_argument("-o", "--output", default="grayscott.h5", help="output: an .h5 file (hdf5-vds) or a directory "
                    "such as gs.bp (adios2)")
    ap.add_argument("--backend", default="auto", help="hdf5-vds, adios2 or auto (hdf5-vds where h5py is installed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", action="store_true", help="also time an uncompressed write and SZ3")
    a = ap.parse_args(argv)
    from mpi4py import MPI

    import phcomp.mpi

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    n = a.n
    if n % size:
        raise SystemExit(f"--n {n} must be a multiple of the {size} ranks")
    z0, z1 = rank * n // size, (rank + 1) * n // size
    F, k, Du, Dv, dx = 0.01, 0.05, 0.2, 0.1, 0.5
    dt, Du, Dv = dx * dx, Du / (dx * dx), Dv / (dx * dx)
    u, v = initial(n, z0, z1, a.seed)
    lu, lv, uvv = (np.empty((z1 - z0, n, n), np.float32) for _ in range(3))
    t_sim = 0.0
    log = (lambda *x: print(*x, flush=True)) if rank == 0 else (lambda *x: None)
    log(f"Gray-Scott {n}^3 on {size} rank(s), output every {a.every} steps, rel {a.rel}, model {a.model}")
    log("step  simulate_s  compress+write_s  raw_write_s  sz3_s  MB_raw  MB_phcomp  ratio  ratio_sz3  max_err/bound")
    with phcomp.mpi.Writer(a.output, comm, backend=a.backend, model=a.model, rel=a.rel) as w:
        for t in range(1, a.steps + 1):
            t0 = time.perf_counter()
            _halo(comm, u)
            _halo(comm, v)
            _lap(u, lu)
            _lap(v, lv)
            ui, vi = u[1:-1], v[1:-1]
            np.multiply(ui, vi, out=uvv)
            uvv *= vi
            ui += dt * (Du * lu - uvv + F * (1 - ui))
            vi += dt * (Dv * lv + uvv - (F + k) * vi)
            t_sim += time.perf_counter() - t0
            if t % a.every:
                continue
            before = w.local_bytes()
            comm.Barrier()
            t1 = time.perf_counter()
            for name, f in (("u", ui), ("v", vi)):
                w.write(name, f, (z0, 0, 0), (n, n, n), step=t)
            comm.Barrier()
            t_out = time.perf_counter() - t1
            stats = _step_stats(comm, a, w, t, (ui, vi), z0, before)
            if a.compare:
                raw_s, sz3_s, sz3_bytes = _compare(comm, a, t, (ui, vi), w)
            else:
                raw_s = sz3_s = sz3_bytes = float("nan")
            if rank == 0:
                raw_mb = stats["raw"] / 1e6
                log(f"{t:5d}  {t_sim:10.3f}  {t_out:16.3f}  {raw_s:11.4f}  {sz3_s:5.3f}  {raw_mb:6.1f}  "
                    f"{stats['written'] / 1e6:9.2f}  {stats['raw'] / stats['written']:5.1f}  "
                    f"{stats['raw'] / sz3_bytes if sz3_bytes == sz3_bytes else float('nan'):9.1f}  {stats['err']:13.3f}")
            t_sim = 0.0
    return 0


def _step_stats(comm, a, w, step: int, fields, z0: int, before: int) -> dict:
    """Bytes this step added to the ranks' outputs and the largest error / bound, over all ranks."""
    written = w.local_bytes() - before
    err = 0.0
    for name, x in zip(("u", "v"), fields):
        y = w.read_local(name, step)
        lo, hi = comm.allreduce(float(x.min()), op=_op("MIN")), comm.allreduce(float(x.max()), op=_op("MAX"))
        err = max(err, float(np.abs(y - x).max()) / (a.rel * (hi - lo)))
    raw = sum(x.nbytes for x in fields)
    return {"written": comm.allreduce(written), "raw": comm.allreduce(raw), "err": comm.allreduce(err, op=_op("MAX"))}


def _op(name: str):
    from mpi4py import MPI

    return getattr(MPI, name)


def _compare(comm, a, step: int, fields, w):
    """An uncompressed write of the same blocks (one file per rank), and SZ3 at the same absolute
    bound on each rank's block (compress time only; bytes summed over ranks)."""
    import h5py

    comm.Barrier()
    t0 = time.perf_counter()
    raw = Path(a.output).with_name(f"{Path(a.output).name}.raw.s{step:06d}.r{comm.Get_rank():05d}.h5")
    with h5py.File(raw, "w") as f:
        for name, x in zip(("u", "v"), fields):
            f.create_dataset(name, data=x)
    comm.Barrier()
    raw_s = time.perf_counter() - t0
    os.unlink(raw)
    try:
        import pysz

        bounds = []
        for x in fields:
            lo, hi = comm.allreduce(float(x.min()), op=_op("MIN")), comm.allreduce(float(x.max()), op=_op("MAX"))
            bounds.append(a.rel * (hi - lo))
        comm.Barrier()
        t0 = time.perf_counter()
        nbytes = 0
        for x, eps in zip(fields, bounds):
            arr = np.ascontiguousarray(x)
            cfg = pysz.szConfig(arr.shape)
            cfg.errorBoundMode = pysz.szErrorBoundMode.ABS
            cfg.absErrorBound = eps
            c, _ = pysz.sz.compress(arr, cfg)
            nbytes += c.nbytes
        comm.Barrier()
        return raw_s, time.perf_counter() - t0, comm.allreduce(nbytes)
    except Exception as e:  # noqa: BLE001 -- the comparison is optional
        if comm.Get_rank() == 0:
            print(f"(SZ3 comparison skipped: {e})", file=sys.stderr)
        return raw_s, float("nan"), float("nan")


if __name__ == "__main__":
    sys.exit(main())
