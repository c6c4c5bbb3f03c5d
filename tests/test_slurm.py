"""The jobs/ scripts on a real single-node SLURM (tests/slurm_cluster.py starts it when
slurm-wlm and munge are installed; .ci/run installs them). One test function runs the whole
sequence, so under pytest-xdist a single worker owns the cluster."""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from phcomp import archive
from phcomp.data.archive import make_archive

from slurm_cluster import Cluster, available

JOBS = Path(__file__).resolve().parent.parent / "jobs"
SCRIPTS = ["compress_archive.sbatch", "compress_archive_mpi.sbatch", "train.sbatch", "verify_archive.sbatch",
           "grayscott_insitu.sbatch"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if not available():
        pytest.skip("SLURM (slurm-wlm, munge) not installed or not root; .ci/run installs it")
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    env = c.start()
    yield dict(os.environ, **env)
    c.stop()


def _sbatch(env, cwd, *args) -> str:
    r = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split(";")[0]


def _wait(env, job: str, timeout: float = 400.0) -> dict[str, tuple[str, str]]:
    """Poll squeue until the job (every array task) left the queue; then each task's
    (JobState, ExitCode) from scontrol. Never sbatch --wait: it returns 0 for a cancelled job."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        q = subprocess.run(["squeue", "-h", "-j", job, "-o", "%i"], capture_output=True, text=True, env=env).stdout
        if not q.strip():
            break
        time.sleep(0.5)
    else:
        subprocess.run(["scancel", job], env=env)
        pytest.fail(f"job {job} still queued after {timeout} s")
    return _states(env, job)


def _states(env, job: str) -> dict[str, tuple[str, str]]:
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, env=env).stdout
    states = {}
    for block in out.strip().split("\n\n"):
        jid = re.search(r"JobId=(\d+)", block)
        task = re.search(r"ArrayTaskId=(\S+)", block)
        st = re.search(r"JobState=(\S+)", block)
        ec = re.search(r"ExitCode=(\S+)", block)
        if jid and st:
            states[task.group(1) if task else jid.group(1)] = (st.group(1), ec.group(1) if ec else "")
    return states


def _records(dst):
    out = []
    for f in sorted((Path(dst) / archive.STATE_DIR).glob("manifest-*.jsonl")):
        out += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return out


def _assert_complete_once(src, dst):
    recs = [r for r in _records(dst) if r["status"] in ("done", "copied")]
    paths = [r["path"] for r in recs]
    assert len(paths) == len(set(paths)), "an item was recorded done twice"
    assert set(paths) == {i.path for i in archive.scan(src)}
    assert archive.status(dst)["pending"] == 0


def test_jobs_on_a_real_slurm(slurm, tmp_path):
    env = dict(slurm, PHCOMP_BOUND="--rel 1e-3")
    # 1. every script is accepted as it is (partition debug, times, sizes)
    for s in SCRIPTS:
        r = subprocess.run(["sbatch", "--test-only", str(JOBS / s)], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.returncode == 0, f"{s}: {r.stderr}"

    # 2. the array job: three tasks share a generated archive
    src = make_archive(tmp_path / "src", runs=3, bad=False)
    dst = tmp_path / "dst-array"
    job = _sbatch(dict(env, PHCOMP_SRC=str(src), PHCOMP_DST=str(dst)), tmp_path, "--array=0-2",
                  str(JOBS / "compress_archive.sbatch"))
    states = _wait(env, job)
    assert set(states) == {"0", "1", "2"} and all(s == ("COMPLETED", "0:0") for s in states.values()), states
    assert len(list((dst / archive.STATE_DIR).glob("manifest-*.jsonl"))) == 3
    _assert_complete_once(src, dst)

    # 3. the MPI job: srun --mpi=pmi2 starts two ranks, each with its share
    dst = tmp_path / "dst-mpi"
    job = _sbatch(dict(env, PHCOMP_SRC=str(src), PHCOMP_DST=str(dst)), tmp_path, str(JOBS / "compress_archive_mpi.sbatch"))
    assert _wait(env, job)[job] == ("COMPLETED", "0:0")
    assert sorted(p.name for p in (dst / archive.STATE_DIR).glob("manifest-*.jsonl")) == [
        "manifest-0000-of-0002.jsonl", "manifest-0001-of-0002.jsonl"]
    _assert_complete_once(src, dst)

    # 4. scancel mid-way, resubmit: the archive completes, nothing lost, nothing twice
    big = make_archive(tmp_path / "big", runs=10, bad=False)
    dst = tmp_path / "dst-cancel"
    jenv = dict(env, PHCOMP_SRC=str(big), PHCOMP_DST=str(dst))
    job = _sbatch(jenv, tmp_path, "--array=0-1", str(JOBS / "compress_archive.sbatch"))
    t0 = time.time()
    while len(_records(dst)) < 6 and time.time() - t0 < 300:
        time.sleep(0.1)
    subprocess.run(["scancel", job], env=env, check=True)
    states = _wait(env, job)
    n_items = len(archive.scan(big))
    assert any(s[0] == "CANCELLED" for s in states.values()), states
    assert len({r["path"] for r in _records(dst)}) < n_items  # it was interrupted
    job = _sbatch(jenv, tmp_path, "--array=0-1", str(JOBS / "compress_archive.sbatch"))
    assert all(s == ("COMPLETED", "0:0") for s in _wait(env, job).values())
    _assert_complete_once(big, dst)

    # 5. the documented chain: train -> compress (afterok) -> verify (afterany)
    dst = tmp_path / "dst-chain"
    model = tmp_path / "chain.phcm"
    cenv = dict(env, PHCOMP_SRC=str(src), PHCOMP_DST=str(dst), PHCOMP_MODEL=str(model))
    r = subprocess.run([str(JOBS / "submit_chain.sh")], capture_output=True, text=True, env=cenv, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    train, compress, verify = re.findall(r"\d+", r.stdout)[:3]
    assert _wait(env, verify)[verify] == ("COMPLETED", "0:0")
    assert _states(env, train)[train] == ("COMPLETED", "0:0") and model.is_file()
    _assert_complete_once(src, dst)
    assert {r["model"] for r in _records(dst) if r["status"] == "done"} == {archive._model(str(model)).id}
    out = (tmp_path / f"phcomp-verify-{verify}.out").read_text()
    assert "0 bad" in out and (dst / archive.STATE_DIR / "report.png").is_file()
