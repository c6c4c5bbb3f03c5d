"""phcomp archive without SLURM: verified twins, manifests, bad inputs, shares, resume after
SIGKILL, deletion of originals only after verification, status / verify / report."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")

from phcomp import archive  # noqa: E402
from phcomp.data.archive import make_archive  # noqa: E402


def _cli(*args, cwd=None, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "phcomp.cli", "archive", *args], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, **(env or {})), timeout=timeout)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return make_archive(tmp_path_factory.mktemp("archive") / "src", runs=2)


def _records(dst):
    lines = []
    for f in sorted((Path(dst) / archive.STATE_DIR).glob("manifest-*.jsonl")):
        lines += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return lines


def test_compress_verify_status_report(src, tmp_path):
    dst = tmp_path / "dst"
    r = _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q")
    assert r.returncode == 1, r.stderr  # the bad inputs fail (and say so), the rest is done
    st = archive.status(dst)
    failed = dict(st["failed_items"])
    assert set(failed) == {"bad/corrupt.h5", "bad/ints.h5", "bad/missing.h5"}
    assert "no floating-point arrays" in failed["bad/ints.h5"] and "No such file" in failed["bad/missing.h5"]
    assert st["pending"] == 0 and st["done"] + st["copied"] == st["items"] - 3
    assert 0 < st["max_error_over_bound"] <= 1.0
    # every original is there; every twin opens with plain h5py / zarr / numpy and keeps the bound
    orig = h5py.File(src / "run000/out/fields.h5")
    twin = h5py.File(dst / "run000/out/fields.h5")
    u, v = orig["u"][...], twin["u"][...]
    assert np.abs(u - v).max() <= 1e-3 * (u.max() - u.min())
    assert twin.attrs["code"] == "gray-scott" and twin["u"].dims[0][0].name == "/time"
    assert np.array_equal(twin["diag/step"][...], orig["diag/step"][...])
    z = zarr.open(dst / "run001/out/u.zarr", mode="r")["u"][...]
    zo = zarr.open(src / "run001/out/u.zarr", mode="r")["u"][...]
    assert np.abs(z - zo).max() <= 1e-3 * (zo.max() - zo.min())
    assert (dst / "run000/input.txt").read_text() == (src / "run000/input.txt").read_text()
    assert (dst / "run000/out/spectrum.npy.phc").is_file()
    recs = _records(dst)
    assert {r["path"] for r in recs} == {i.path for i in archive.scan(src)}
    for rec in recs:
        assert rec["status"] in ("done", "copied", "failed")
        if rec["status"] == "done":
            assert rec["sha256_in"] and rec["sha256_out"] and rec["ratio"] > 0 and rec["model"]
    v = archive.verify(dst, progress=False)
    assert v["bad"] == [] and v["checked"] == st["done"] + st["copied"]
    png = archive.report(dst)
    assert png.stat().st_size > 10_000


def test_verify_catches_a_changed_twin(src, tmp_path):
    dst = tmp_path / "dst"
    _cli("compress", str(src), str(dst), "--abs", "1e-4", "-q")
    victim = dst / "run000/out/spectrum.npy.phc"
    b = bytearray(victim.read_bytes())
    b[len(b) // 2] ^= 0xFF
    victim.write_bytes(bytes(b))
    r = _cli("verify", str(dst), "-q")
    assert r.returncode == 1 and "run000/out/spectrum.npy" in r.stdout and "checksum" in r.stdout


def test_refuses_other_options_on_the_same_destination(src, tmp_path):
    dst = tmp_path / "dst"
    _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q", "--only-arrays")
    r = _cli("compress", str(src), str(dst), "--rel", "1e-2", "-q")
    assert r.returncode == 2 and "other options" in r.stderr
    r = _cli("compress", str(src), str(dst), "-q")
    assert r.returncode == 2 and "needs a bound" in r.stderr


def test_only_arrays_skips_and_records(src, tmp_path):
    dst = tmp_path / "dst"
    _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q", "--only-arrays")
    st = archive.status(dst)
    assert st["skipped"] == 2 and not (dst / "run000/input.txt").exists()


def test_shares_are_disjoint_balanced_and_deterministic(src):
    items = archive.scan(src)
    shares = [archive.share(items, i, 3) for i in range(3)]
    paths = [{i.path for i in s} for s in shares]
    assert set().union(*paths) == {i.path for i in items}
    assert sum(len(p) for p in paths) == len(items)
    loads = [sum(i.nbytes for i in s) for s in shares]
    assert max(loads) - min(loads) <= max(i.nbytes for i in items)
    assert shares == [archive.share(list(reversed(items)), i, 3) for i in range(3)]


def test_task_from_slurm_and_mpi_env(monkeypatch):
    for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMIX_SIZE",
              "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "4")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert archive.task_from_env(None, None) == (1, 3)
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert archive.task_from_env(None, None) == (3, 6)
    assert archive.task_from_env(0, 1) == (1, 2)


def test_two_tasks_complete_the_archive(src, tmp_path):
    dst = tmp_path / "dst"
    for i in range(2):
        _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q", "--task-index", str(i), "--task-count", "2")
    assert len(list((dst / archive.STATE_DIR).glob("manifest-*.jsonl"))) == 2
    st = archive.status(dst)
    assert st["pending"] == 0 and st["failed"] == 3


def test_delete_originals_only_after_verification(tmp_path):
    src = make_archive(tmp_path / "src", runs=1)
    dst = tmp_path / "dst"
    before = {i.path for i in archive.scan(src)}
    r = _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q", "--delete-originals")
    assert r.returncode == 1
    recs = {r["path"]: r for r in _records(dst)}
    for path in before:
        rec = recs[path]
        exists = (src / path).exists() or (src / path).is_symlink()
        if rec["status"] == "done":
            assert not exists and rec["deleted_original"]
        else:  # copied, or failed: the original stays
            assert exists, path
    # the listing keeps the deleted files (from the manifest): a rerun redoes nothing
    r = _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q", "--delete-originals")
    st = archive.status(dst)
    assert st["pending"] == 0 and sum(1 for r in _records(dst) if r["status"] == "done") == st["done"]


def test_resume_after_sigkill_at_any_moment(tmp_path):
    """Kill a running `phcomp archive compress` with SIGKILL at several moments, then rerun:
    the archive completes, every item is done exactly once, nothing half-written is kept."""
    src = make_archive(tmp_path / "src", runs=6, bad=False)
    dst = tmp_path / "dst"
    n_items = len(archive.scan(src))
    cmd = [sys.executable, "-m", "phcomp.cli", "archive", "compress", str(src), str(dst), "--rel", "1e-3", "-q"]
    kills = 0

    def recorded():
        return len(_records(dst)) if (dst / archive.STATE_DIR).is_dir() else 0
    # SIGKILL while starting, then as the manifest reaches a few lines (mid-item, at random)
    rng = np.random.default_rng(0)
    for target in (0, 3, 9, 17):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while p.poll() is None and recorded() < target and time.time() - t0 < 120:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.3)) if target else 0.5)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    assert kills >= 1
    done_before = sum(1 for r in _records(dst) if r["status"] in ("done", "copied"))
    assert done_before < n_items  # the kills did interrupt it
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    recs = [r for r in _records(dst) if r["status"] in ("done", "copied")]
    paths = [r["path"] for r in recs]
    assert len(paths) == len(set(paths)) == n_items  # nothing twice, nothing lost
    assert not list(dst.rglob(f"*{archive.PARTIAL}"))
    assert archive.verify(dst, progress=False)["bad"] == []


def test_delete_originals_on_a_later_run(tmp_path):
    src = make_archive(tmp_path / "src", runs=1, bad=False)
    dst = tmp_path / "dst"
    _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q")
    changed = src / "run000/out/spectrum.npy"
    np.save(changed, np.load(changed) * 2)  # changed after it was verified: must not be deleted unseen
    r = _cli("compress", str(src), str(dst), "--rel", "1e-3", "-q", "--delete-originals")
    assert r.returncode == 0, r.stderr
    latest = archive.read_records(dst)
    for path, rec in latest.items():
        if rec.status == "done":
            assert rec.deleted_original and not (src / path).exists(), path
        else:
            assert (src / path).exists(), path
    # the changed file was compressed again (its new content), then deleted
    assert latest["run000/out/spectrum.npy"].sha256_in != next(
        r for r in _records(dst) if r["path"] == "run000/out/spectrum.npy")["sha256_in"]
