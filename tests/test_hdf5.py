"""The HDF5 filter through h5py: fresh-process reads, model inside the file, mandatory, errors."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
import phcomp  # noqa: E402
import phcomp.hdf5  # noqa: E402
from conftest import max_err  # noqa: E402


def run_py(code, env_extra=None, cwd=None):
    env = dict(os.environ, **(env_extra or {}))
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=cwd)
    return r


WRITE = """
import numpy as np, h5py, phcomp
from phcomp.data import grayscott3d
d = grayscott3d(n=24, steps=800, snapshots=4, seed=1)
m = phcomp.train(d[0::2], block=(4, 4, 4), groups=8)   # never saved: lives only in this process
with h5py.File("data.h5", "w") as f:
    f.create_dataset("u", data=d, chunks=(1, 24, 24, 24), **phcomp.hdf5.Phcomp(m, rel=1e-3))
    g = f.create_group("grp")
    g.create_dataset("v", data=d[1].astype("float64"), chunks=(8, 24, 24), compression=phcomp.hdf5.Phcomp(m, abs=1e-6))
    g.attrs["note"] = "hello"
np.save("orig.npy", d)
print(m.id)
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("h5")
    env = {"XDG_CACHE_HOME": str(d / "cache-writer"), "PHCOMP_MODEL_PATH": ""}
    r = run_py(WRITE, env, cwd=d)
    assert r.returncode == 0, r.stderr
    return d, r.stdout.strip()


def test_fresh_process_reads_with_model_only_in_file(written):
    d, model_id = written
    code = """
    import numpy as np, h5py, phcomp
    orig = np.load("orig.npy")
    with h5py.File("data.h5", "r") as f:
        u = f["u"][...]
        v = f["grp/v"][...]
        assert list(f["_phcomp/models"]) == [%r]
        assert f["grp"].attrs["note"] == "hello"
    rng = orig.max() - orig.min()
    print(np.abs(u - orig).max() / rng, np.abs(v - orig[1]).max(), u.dtype, v.dtype)
    """ % model_id
    # another cache, no model path: the only copy of the model is inside data.h5
    r = run_py(code, {"XDG_CACHE_HOME": str(d / "cache-reader"), "PHCOMP_MODEL_PATH": ""}, cwd=d)
    assert r.returncode == 0, r.stderr
    rel_err, abs_err, dt_u, dt_v = r.stdout.split()
    assert float(rel_err) <= 1e-3 and float(abs_err) <= 1e-6
    assert (dt_u, dt_v) == ("float32", "float64")
    assert not os.path.exists(d / "cache-reader" / "phcomp" / "models" / f"{model_id}.phcm")


@pytest.mark.parametrize("order", ["import h5py, phcomp", "import phcomp, h5py"])
def test_import_phcomp_registers_filter(order):
    r = run_py(f"{order}\nimport h5py\nprint(h5py.h5z.filter_avail({phcomp.hdf5.FILTER_ID}))")
    assert r.stdout.strip() == "True", r.stderr


def test_filter_is_mandatory_and_records_options(written, tmp_path, model3d, gs_data):
    d, _ = written
    with h5py.File(d / "data.h5", "r") as f:
        flags, opts, _ = f["u"].id.get_create_plist().get_filter_by_id(phcomp.hdf5.FILTER_ID)
        assert flags & 1 == 0  # H5Z_FLAG_OPTIONAL not set
        assert opts[0] == phcomp.hdf5.CD_VERSION and opts[8] == 0 and opts[9] == 1 and list(opts[11:]) == [4, 1, 24, 24, 24]


def test_encoder_failure_is_an_error(tmp_path, model3d, gs_data, monkeypatch):
    def boom(*a, **k):
        raise phcomp.PhcompError("boom")

    with h5py.File(tmp_path / "f.h5", "w") as f:
        ds = f.create_dataset("u", shape=(24, 24, 24), dtype="f4", chunks=(8, 24, 24), **phcomp.hdf5.Phcomp(model3d, rel=1e-3))
        monkeypatch.setattr(phcomp.core, "compress", boom)
        ds[...] = gs_data[1]
        with pytest.raises(Exception, match="filter returned failure"):
            ds.flush()  # the encoder runs when the chunk cache writes out: failure is an error
        monkeypatch.undo()


def test_can_apply_refuses_integers(tmp_path, model3d, capfd):
    with h5py.File(tmp_path / "i.h5", "w") as f:
        with pytest.raises(Exception):
            f.create_dataset("i", data=np.arange(100), chunks=(10,), **phcomp.hdf5.Phcomp(model3d, rel=1e-3))
    assert "float32 and float64" in capfd.readouterr().err


def test_bad_options_rejected_early(model3d):
    with pytest.raises(phcomp.PhcompError):
        phcomp.hdf5.Phcomp(model3d, rel=-1)


def test_lossless_and_unbounded(tmp_path, model3d, gs_data):
    x = gs_data[1]
    with h5py.File(tmp_path / "l.h5", "w") as f:
        f.create_dataset("a", data=x, chunks=(8, 24, 24), **phcomp.hdf5.Phcomp(abs=0))
        f.create_dataset("b", data=x, chunks=(8, 24, 24), **phcomp.hdf5.Phcomp(model3d))
    with h5py.File(tmp_path / "l.h5") as f:
        assert np.array_equal(f["a"][...], x)
        assert f["b"][...].shape == x.shape


def test_edge_chunks_and_partial_writes(tmp_path, model3d):
    x = np.random.default_rng(0).standard_normal((37, 29)).cumsum(axis=1).astype(np.float32)
    with h5py.File(tmp_path / "e.h5", "w") as f:
        ds = f.create_dataset("x", shape=x.shape, dtype="f4", chunks=(16, 16), **phcomp.hdf5.Phcomp(model3d, abs=1e-3))
        ds[:20] = x[:20]
        ds[20:] = x[20:]
    with h5py.File(tmp_path / "e.h5") as f:
        assert max_err(x, f["x"][...]) <= 1e-3
        assert max_err(x[5:30, 3:7], f["x"][5:30, 3:7]) <= 1e-3


def test_reads_from_several_threads(written):
    d, _ = written
    orig = np.load(d / "orig.npy")
    errors = []
    with h5py.File(d / "data.h5", "r") as f:
        def work(i):
            try:
                errors.append(np.abs(f["u"][i % 4] - orig[i % 4]).max())
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert all(isinstance(e, np.floating) and e <= 1e-3 * (orig.max() - orig.min()) for e in errors), errors


def test_missing_model_names_id_and_places(tmp_path, model3d, gs_data):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("u", data=gs_data[1], chunks=(8, 24, 24), **phcomp.hdf5.Phcomp(model3d, rel=1e-3))
        del f["_phcomp"]
    code = """
    import h5py, phcomp
    with h5py.File("m.h5") as f:
        try:
            f["u"][...]
        except OSError as e:
            print("OSError")
    """
    r = run_py(code, {"XDG_CACHE_HOME": str(tmp_path / "c"), "PHCOMP_MODEL_PATH": str(tmp_path / "nowhere")}, cwd=tmp_path)
    assert "OSError" in r.stdout
    assert model3d.id in r.stderr and str(tmp_path / "nowhere") in r.stderr and "_phcomp/models" in r.stderr


def test_corrupted_chunk_and_truncated_file(tmp_path, model3d, gs_data, capfd):
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("u", data=gs_data[1], chunks=(12, 24, 24), **phcomp.hdf5.Phcomp(model3d, rel=1e-3))
    with h5py.File(tmp_path / "c.h5", "r+") as f:
        ds = f["u"]
        mask, blob = ds.id.read_direct_chunk((0, 0, 0))
        bad = bytearray(blob)
        bad[len(bad) // 2] ^= 0xFF
        ds.id.write_direct_chunk((0, 0, 0), bytes(bad), mask)
    with h5py.File(tmp_path / "c.h5") as f:
        with pytest.raises(OSError):
            f["u"][:12]
        assert f["u"][12:].shape == (12, 24, 24)  # the other chunk is intact
    assert "CRC32" in capfd.readouterr().err
    raw = (tmp_path / "c.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(OSError):
        with h5py.File(tmp_path / "t.h5") as f:
            f["u"][...]


def test_compress_file_uses_threads_and_writes_the_same_file(tmp_path, gs_data):
    """`phcomp compress` of an HDF5 file encodes chunks on several threads (direct chunk
    writes); the chunks written are byte-identical for 1 and 2 threads, edge chunks included,
    and the bound holds."""
    from phcomp.core.model import default_model

    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("u", data=gs_data.astype(np.float32), chunks=(1, 24, 24, 24))
        f.create_dataset("g/v", data=gs_data[:, :20, :17, :23], chunks=(1, 8, 8, 23))  # edge chunks
    outs = {}
    for t in (1, 2):
        outs[t] = tmp_path / f"c{t}.h5"
        phcomp.hdf5.compress_file(src, outs[t], default_model("field3d"), rel=1e-3, chunks=(1, 8, 8, 16), threads=t)
    with h5py.File(src) as s, h5py.File(outs[1]) as a, h5py.File(outs[2]) as b:
        for name in ("u", "g/v"):
            x = s[name][...].astype(np.float64)
            assert np.abs(a[name][...] - x).max() <= 1e-3 * np.ptp(x)
            da, db = a[name].id, b[name].id
            assert da.get_num_chunks() == db.get_num_chunks() > 1
            for i in range(da.get_num_chunks()):
                ca, cb = da.get_chunk_info(i), db.get_chunk_info(i)
                assert ca.chunk_offset == cb.chunk_offset
                assert da.read_direct_chunk(ca.chunk_offset)[1] == db.read_direct_chunk(cb.chunk_offset)[1]
