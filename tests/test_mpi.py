"""phcomp.mpi.Writer under a real `mpiexec -n 2` (PyPI mpich + mpi4py): each rank compresses its
block; one serial reader sees one array per step within the bound; a failing rank ends every
rank with a clear message, never a hang, and leaves no step that looks complete."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install mpich)")

WRITER = """
import sys, numpy as np
from mpi4py import MPI
import phcomp, phcomp.mpi
from phcomp.data import grayscott3d
comm = MPI.COMM_WORLD
g = grayscott3d(n=24, steps=300, snapshots=2, seed=3)
mode, backend = sys.argv[1], sys.argv[2]
out = "out.bp" if backend == "adios2" else "out.h5"
# a model trained in the writer and never saved elsewhere: the reader finds it in the file
m = phcomp.train(g[:1], kind="interp", ndim=3, seed=0) if comm.rank == 0 else None
m = comm.bcast(m.to_bytes() if m is not None else None, root=0)
m = phcomp.core.Model.from_bytes(m)
n = g.shape[1]
z0, z1 = comm.rank * n // comm.size, (comm.rank + 1) * n // comm.size
with phcomp.mpi.Writer(out, comm, backend=backend, model=m, rel=1e-3) as w:
    for k in range(2):
        u = g[k, z0:z1].astype(np.float32)
        if mode == "bad-data" and comm.rank == 1 and k == 1:
            u = u.astype(np.int32)
        if mode == "exception" and comm.rank == 0 and k == 1:
            raise RuntimeError("the simulation blew up on rank 0")
        w.write("u", u, (z0, 0, 0), g.shape[1:], step=k)
        w.write("v", (2 * u).astype(np.float64), (z0, 0, 0), g.shape[1:], step=k)
if comm.rank == 0:
    np.save("orig.npy", g)
"""


def _mpi(tmp_path, mode, timeout=180, backend="hdf5-vds"):
    (tmp_path / "w.py").write_text(WRITER)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PHCOMP_MODEL_PATH="")
    launcher = [MPIEXEC, "-n", "2", sys.executable]
    if backend == "hdf5-parallel":
        env.update(_system_python_env())
        launcher = [MPIEXEC_OPENMPI, "--allow-run-as-root", "--oversubscribe", "-n", "2", SYSTEM_PYTHON]
    return subprocess.run([*launcher, "w.py", mode, backend], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=timeout)


# hdf5-parallel: Debian's MPI-enabled h5py (python3-h5py-mpi, OpenMPI, HDF5 1.10) lives in the
# system Python 3.11; phcomp runs there from this checkout, constriction from a --target folder
SYSTEM_PYTHON = "/usr/bin/python3"
MPIEXEC_OPENMPI = shutil.which("mpiexec.openmpi")
SYSTEM_DEPS = Path(__file__).resolve().parents[1] / "build" / "system-python-deps"


def _system_python_env() -> dict:
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = f"{root}{os.pathsep}{SYSTEM_DEPS}"
    env["PATH"] = "/usr/bin:/bin"  # Debian's OpenMPI and Python, not the pip mpich's mpiexec
    return env


def _parallel_h5py_ready() -> str:
    """'' when the system Python can run phcomp with an MPI-enabled h5py, else why not."""
    if not (os.path.exists(SYSTEM_PYTHON) and MPIEXEC_OPENMPI):
        return "no system python3 or OpenMPI (apt-get install python3-h5py-mpi; .ci/run does)"
    if not (SYSTEM_DEPS / "constriction").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(SYSTEM_DEPS),
                        "constriction==0.5.0"], capture_output=True)
    code = "import h5py, mpi4py, phcomp, phcomp.hdf5; assert h5py.get_config().mpi; print('ok')"
    env = dict(_system_python_env(), H5PY_ALWAYS_USE_MPI="1")  # Debian's h5py picks MPI only under mpiexec
    r = subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True, env=env)
    return "" if r.stdout.strip() == "ok" else f"system python3 cannot run phcomp with MPI h5py: {r.stderr[-500:]}"


def test_two_ranks_write_one_array_per_step(tmp_path):
    r = _mpi(tmp_path, "ok")
    assert r.returncode == 0, r.stderr[-3000:]
    parts = sorted(p.name for p in (tmp_path / "out.h5.parts").iterdir())
    assert len(parts) == 4  # 2 steps x 2 ranks
    code = """
    import numpy as np, h5py, phcomp
    g = np.load("orig.npy")
    with h5py.File("out.h5", "r") as f:
        assert sorted(k for k in f if k.startswith("step_")) == ["step_000000", "step_000001"]
        for k in range(2):
            x = g[k].astype(np.float32)
            u = f[f"step_{k:06d}/u"][...]
            v = f[f"step_{k:06d}/v"][...]
            assert u.shape == x.shape and u.dtype == np.float32 and v.dtype == np.float64
            assert np.abs(u - x).max() <= 1e-3 * (x.max() - x.min())
            assert np.abs(v - 2 * x).max() <= 2e-3 * (x.max() - x.min()) * 1.0000001
        assert len(f["_phcomp/models"]) == 1
    print("ok")
    """
    # a fresh serial process, elsewhere, with the model only inside out.h5
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(tmp_path / "orig.npy", other)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code).replace('"out.h5"', repr(str(tmp_path / "out.h5")))],
                       capture_output=True, text=True, cwd=other,
                       env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "reader-cache"), PHCOMP_MODEL_PATH=""))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
    for p in (tmp_path / "out.h5.parts").iterdir():  # the model is stored once, not in every part
        assert p.stat().st_size < 200_000


@pytest.mark.parametrize("mode, message", [("bad-data", "rank 1: PhcompError"),
                                           ("exception", "the simulation blew up on rank 0")])
def test_a_failing_rank_ends_every_rank(tmp_path, mode, message):
    r = _mpi(tmp_path, mode, timeout=120)  # a hang would be a TimeoutExpired here
    assert r.returncode != 0
    assert message in r.stderr
    with h5py.File(tmp_path / "out.h5", "r") as f:
        # step 0 completed on both ranks; step 1 never looks complete
        assert "step_000000" in f and "step_000001" not in f
    assert not list((tmp_path / "out.h5.parts").glob("*.tmp"))


def _adios2_built():
    import phcomp.adios2 as pa

    return (pa.plugin_dir() / "libphcomp_adios2.so").exists() and importlib.util.find_spec("adios2") is not None


READ_BP = """
import numpy as np, phcomp, phcomp.mpi
g = np.load("orig.npy")
for k in range(2):
    x = g[k].astype(np.float32)
    u, v = phcomp.mpi.read(OUT, "u", k), phcomp.mpi.read(OUT, "v", k)
    assert u.shape == x.shape and u.dtype == np.float32 and v.dtype == np.float64
    assert np.abs(u - x).max() <= 1e-3 * (x.max() - x.min())
    assert np.abs(v - 2 * x).max() <= 2e-3 * (x.max() - x.min()) * 1.0000001
print("ok")
"""


@pytest.mark.skipif("not _adios2_built()")
def test_adios2_backend_two_ranks_read_serially_elsewhere(tmp_path):
    r = _mpi(tmp_path, "ok", backend="adios2")
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "out.bp"
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "r00000.bp", "r00001.bp"]
    other = tmp_path / "elsewhere"
    shutil.copytree(out, other / "out.bp")  # only the output travels: the model is inside each part
    shutil.copy(tmp_path / "orig.npy", other)
    r = subprocess.run([sys.executable, "-c", READ_BP.replace("OUT", repr(str(other / "out.bp")))], capture_output=True,
                       text=True, cwd=other, env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "reader-cache")))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


@pytest.mark.skipif("not _adios2_built()")
@pytest.mark.parametrize("mode, message", [("bad-data", "rank 1: PhcompError"),
                                           ("exception", "the simulation blew up on rank 0")])
def test_adios2_backend_a_failing_rank_ends_every_rank(tmp_path, mode, message):
    r = _mpi(tmp_path, mode, timeout=120, backend="adios2")
    assert r.returncode != 0 and message in r.stderr
    index = json.loads((tmp_path / "out.bp" / "index.json").read_text())
    assert sorted(index["steps"]) == ["0"]  # step 1 never looks complete
    code = "import phcomp.mpi, numpy as np; print(np.isfinite(phcomp.mpi.read('out.bp', 'v', 0)).all())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.strip() == "True", r.stderr[-2000:]  # what completed reads back, files unclosed or not


@pytest.fixture(scope="module")
def parallel_h5py():
    why = _parallel_h5py_ready()
    if why:
        pytest.skip(why)


def test_hdf5_parallel_backend_one_shared_file(tmp_path, parallel_h5py):
    r = _mpi(tmp_path, "ok", backend="hdf5-parallel")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "orig.npy", "out.h5", "w.py"]  # no part files
    code = READ_BP.replace("OUT", repr(str(tmp_path / "out.h5")))
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(tmp_path / "orig.npy", other)
    # read by this (pip) h5py, serially, elsewhere, the model only in the file
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=other,
                       env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "reader-cache"), PHCOMP_MODEL_PATH=""))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert f["step_000001/u"].chunks == (12, 24, 24)  # tiled to the two ranks' slabs
        assert len(f["_phcomp/models"]) == 1


def test_hdf5_parallel_backend_runs_the_example(tmp_path, parallel_h5py):
    r = subprocess.run([MPIEXEC_OPENMPI, "--allow-run-as-root", "--oversubscribe", "-n", "2", SYSTEM_PYTHON, "-m",
                        "phcomp.examples.grayscott_mpi", "--n", "16", "--steps", "40", "--every", "20", "-o", "gs.h5",
                        "--backend", "hdf5-parallel"], capture_output=True, text=True, cwd=tmp_path,
                       env=_system_python_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line.split() for line in r.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["20", "40"] and all(float(row[-1]) <= 1.0 for row in rows)
    with h5py.File(tmp_path / "gs.h5", "r") as f:
        assert f["step_000040/u"].shape == (16, 16, 16) and np.isfinite(f["step_000040/v"][...]).all()


@pytest.mark.parametrize("mode, message", [("bad-data", "rank 1: PhcompError"),
                                           ("exception", "the simulation blew up on rank 0")])
def test_hdf5_parallel_backend_a_failing_rank_ends_every_rank(tmp_path, parallel_h5py, mode, message):
    r = _mpi(tmp_path, mode, timeout=120, backend="hdf5-parallel")
    assert r.returncode != 0 and message in r.stderr
    if mode == "bad-data":  # every rank closed the file: step 0 is there, step 1 never looks complete
        with h5py.File(tmp_path / "out.h5", "r") as f:
            assert "step_000000" in f and "step_000001" not in f


HALO = """
import numpy as np
from mpi4py import MPI
from phcomp.examples import grayscott_mpi as g
from phcomp.data import grayscott3d
comm = MPI.COMM_WORLD
r, s, n = comm.rank, comm.size, 16
z0, z1 = r * n // s, (r + 1) * n // s
u, v = g.initial(n, z0, z1, 0)
dt, Du, Dv, F, k = 0.25, 0.2 / 0.25, 0.1 / 0.25, 0.01, 0.05
lu, lv, uvv = (np.empty((z1 - z0, n, n), np.float32) for _ in range(3))
for t in range(50):
    g._halo(comm, u); g._halo(comm, v); g._lap(u, lu); g._lap(v, lv)
    ui, vi = u[1:-1], v[1:-1]
    np.multiply(ui, vi, out=uvv); uvv *= vi
    ui += dt * (Du * lu - uvv + F * (1 - ui)); vi += dt * (Dv * lv + uvv - (F + k) * vi)
full = comm.gather(u[1:-1].copy(), root=0)
if r == 0:
    print(np.array_equal(np.concatenate(full), grayscott3d(n=n, steps=50, snapshots=1, seed=0)[0]))
"""


def test_grayscott_example_matches_the_serial_simulation_and_writes(tmp_path):
    (tmp_path / "halo.py").write_text(HALO)
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "halo.py"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=180)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr[-2000:]  # halo exchange: bit for bit
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "phcomp.examples.grayscott_mpi", "--n", "16",
                        "--steps", "40", "--every", "20", "-o", "gs.h5"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line.split() for line in r.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["20", "40"] and all(float(row[-1]) <= 1.0 for row in rows)
    with h5py.File(tmp_path / "gs.h5", "r") as f:
        assert f["step_000040/u"].shape == (16, 16, 16) and np.isfinite(f["step_000040/v"][...]).all()
    if _adios2_built():  # the same run through the ADIOS2 operator
        r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "phcomp.examples.grayscott_mpi", "--n", "16",
                            "--steps", "40", "--every", "20", "-o", "gs.bp", "--backend", "adios2"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        rows = [line.split() for line in r.stdout.splitlines() if line.strip()[:1].isdigit()]
        assert [row[0] for row in rows] == ["20", "40"] and all(float(row[-1]) <= 1.0 for row in rows)
        import phcomp.mpi

        assert np.isfinite(phcomp.mpi.read(tmp_path / "gs.bp", "v", 40)).all()
