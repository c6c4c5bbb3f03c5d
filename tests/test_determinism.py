"""Decoding is bit-identical across runs, BLAS thread counts and processes, and needs no torch."""
import hashlib
import os
import subprocess
import sys

import numpy as np

import phcomp
from conftest import FIXTURES

DECODE_SCRIPT = r"""
import hashlib, os, sys
import numpy as np
import phcomp
m = phcomp.load_model(sys.argv[1])
for p in sys.argv[2:]:
    y = phcomp.decompress(open(p, "rb").read())
    print(hashlib.sha256(y.tobytes()).hexdigest())
print("torch loaded:", "torch" in sys.modules)
"""

def _run(args, env_extra, tmp_path, prefix=""):
    env = dict(os.environ, **env_extra)
    code = prefix + DECODE_SCRIPT
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_decode_same_bits_across_thread_counts(model3d, gs_data, tmp_path):
    big = np.concatenate([gs_data] * 4)  # several slabs, real GEMMs
    paths = []
    for i, kw in enumerate([dict(rel=1e-2), dict(rel=1e-4), {}]):
        p = tmp_path / f"c{i}.phc"
        p.write_bytes(phcomp.compress(big, model3d, **kw))
        paths.append(str(p))
    mpath = str(model3d.save(tmp_path / "m.phcm"))
    here = [hashlib.sha256(phcomp.decompress(open(p, "rb").read(), model3d).tobytes()).hexdigest() for p in paths]
    outs = []
    for threads in ("1", "2"):
        env = {k: threads for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        outs.append(_run([mpath, *paths], env, tmp_path))
    assert outs[0][:3] == outs[1][:3] == here


def test_decode_without_torch(tmp_path, no_torch):
    v1 = os.path.join(FIXTURES, "v1")
    chunks = sorted(os.path.join(v1, f) for f in os.listdir(v1) if f.endswith(".phc"))
    out = _run([os.path.join(v1, "model.phcm"), *chunks], {}, tmp_path, prefix=no_torch)
    assert out[-1] == "False"
    for c, h in zip(chunks, out):
        expected = np.load(c[: -len(".phc")] + ".expected.npy")
        assert h == hashlib.sha256(expected.tobytes()).hexdigest()


def test_repeated_decode_identical(model3d, gs_data):
    blob = phcomp.compress(gs_data, model3d, rel=1e-3)
    first = phcomp.decompress(blob, model3d).tobytes()
    for _ in range(3):
        assert phcomp.decompress(blob, model3d).tobytes() == first


def test_core_imports_no_heavy_modules():
    code = ("import sys, phcomp, phcomp.core; "
            "bad = [m for m in ('torch', 'h5py', 'zarr', 'adios2', 'mpi4py') if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
