"""Zarr adapters: numcodecs' own codec checks, entry points, zarr v2/v3 stores, xarray."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

numcodecs = pytest.importorskip("numcodecs")
zarr = pytest.importorskip("zarr")
from numcodecs.tests.common import (  # noqa: E402  (numcodecs 0.16 ships these)
    check_backwards_compatibility,
    check_config,
    check_encode_decode_array,
    check_err_decode_object_buffer,
    check_err_encode_object_buffer,
)

import phcomp  # noqa: E402
from phcomp.zarr import Phcomp, PhcompCodec  # noqa: E402
from conftest import FIXTURES, max_err  # noqa: E402

ARRAYS = [
    np.linspace(-3, 7, 1000, dtype="f8"),
    np.sin(np.arange(4096, dtype="f4") / 50).reshape(64, 64),
    np.random.default_rng(0).standard_normal((10, 20, 30)).astype("f4"),
    np.asfortranarray(np.random.default_rng(1).standard_normal((30, 40))),
    np.arange(1000, dtype="i4"),
    np.arange(100, dtype="u2").reshape(10, 10),
    np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]),
]


def run_py(code, env_extra=None, cwd=None, timeout=180):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


@pytest.mark.parametrize("arr", ARRAYS, ids=range(len(ARRAYS)))
def test_numcodecs_encode_decode_lossless(arr):
    check_encode_decode_array(arr, Phcomp(abs=0))


def test_numcodecs_config(model3d):
    check_config(Phcomp(abs=0))
    check_config(Phcomp(model3d, rel=1e-3))
    check_config(Phcomp(model3d.id, abs=1e-4))


def test_numcodecs_object_buffers():
    check_err_encode_object_buffer(Phcomp(abs=0))
    check_err_decode_object_buffer(Phcomp(abs=0))


def test_numcodecs_backwards_compatibility(monkeypatch):
    """Committed fixtures (tests/fixtures/fixture/phcomp) keep decoding to the same arrays."""
    monkeypatch.chdir(FIXTURES)
    arrays = [a for a in ARRAYS if a.dtype.kind in "iu" or not np.isnan(a).any()]
    check_backwards_compatibility(Phcomp.codec_id, arrays, [Phcomp(abs=0)])


def test_numcodecs_lossy_bound(model3d, gs_data):
    c = Phcomp(model3d, rel=1e-3)
    x = gs_data[1]
    y = c.decode(c.encode(x))
    assert max_err(x, y) <= 1e-3 * (x.max() - x.min())


def test_entry_points_resolve_without_import():
    code = """
    import sys, numcodecs, zarr.registry
    c = numcodecs.get_codec({"id": "phcomp", "model": None, "abs": 0.0, "rel": None})
    v3 = zarr.registry.get_codec_class("phcomp")
    print(type(c).__module__, v3.__name__)
    """
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["phcomp.zarr", "PhcompCodec"]


def test_zarr_v2_store(tmp_path, model3d, gs_data):
    x = gs_data
    z = zarr.create_array(tmp_path / "v2.zarr", shape=x.shape, chunks=(1, 24, 24, 24), dtype="f4", zarr_format=2,
                          compressors=Phcomp(model3d, rel=1e-3), fill_value=0.0)
    z[...] = x
    back = zarr.open_array(tmp_path / "v2.zarr", mode="r")[...]
    assert max_err(x, back) <= 1e-3 * (x.max() - x.min()) * 1.0000001


def test_store_carries_its_model_to_a_fresh_process(tmp_path, model3d, gs_data):
    _write_v3(tmp_path / "c.zarr", model3d, gs_data)
    code = """
    import warnings, zarr, phcomp
    warnings.simplefilter("error")  # the model copy is a proper zarr node: no warnings listing the store
    print(len(list(zarr.open_group("c.zarr", mode="r").members(max_depth=None))))
    print("read", zarr.open_group("c.zarr", mode="r")["u"][...].shape)  # found in the open store
    print(phcomp.zarr.register_store_models("c.zarr"))
    print(zarr.open_group("c.zarr", mode="r")["u"][...].shape)
    """
    r = run_py(code, {"XDG_CACHE_HOME": str(tmp_path / "empty"), "PHCOMP_MODEL_PATH": ""}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == f"read {gs_data.shape}" and model3d.id in lines[2] and lines[3] == str(gs_data.shape)


def test_many_chunk_read_finds_the_model_without_deadlock(tmp_path, model3d):
    """Regression: the model lookup from zarr's worker threads once used zarr's sync API, which
    waits on zarr's loop while every worker thread holds a chunk: 16 chunks hung every time."""
    x = np.random.default_rng(0).standard_normal((16, 12, 24, 24)).astype("f4").cumsum(axis=3)
    _write_v3(tmp_path / "m.zarr", model3d, x)
    code = """
    import zarr
    print(zarr.open_group("m.zarr", mode="r")["u"][...].shape)
    """
    r = run_py(code, {"XDG_CACHE_HOME": str(tmp_path / "empty"), "PHCOMP_MODEL_PATH": ""}, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(x.shape)


def _write_v3(path, model, x):
    g = zarr.open_group(path, mode="w")
    a = g.create_array("u", shape=x.shape, chunks=(1, 12, 24, 24), dtype="f4", dimension_names=["t", "x", "y", "z"],
                       serializer={"name": "phcomp", "configuration": {"model": model.id, "rel": 1e-3}},
                       compressors=None)  # zarr's default zstd after phcomp would only cost time
    a[...] = x
    phcomp.zarr.save_model(path, model)


def test_zarr_v3_and_xarray_without_import(tmp_path, model3d, gs_data):
    x = gs_data
    _write_v3(tmp_path / "v3.zarr", model3d, x)
    np.save(tmp_path / "orig.npy", x)
    meta = (tmp_path / "v3.zarr" / "u" / "zarr.json").read_text()
    assert '"phcomp"' in meta and model3d.id in meta
    code = """
    import sys, numpy as np, xarray as xr
    ds = xr.open_zarr("v3.zarr", consolidated=False)
    u = ds["u"].values
    x = np.load("orig.npy")
    print(float(np.abs(u - x).max() / (x.max() - x.min())), "phcomp" in sys.modules)
    """
    # the reader has no phcomp import; the model is found through PHCOMP_MODEL_PATH
    (tmp_path / "models").mkdir()
    model3d.save(tmp_path / "models")
    r = run_py(code, {"PHCOMP_MODEL_PATH": str(tmp_path / "models"), "XDG_CACHE_HOME": str(tmp_path / "empty-cache")},
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    err, imported = r.stdout.split()
    assert float(err) <= 1e-3 and imported == "True"  # loaded by zarr through the entry point


def test_store_models_register(tmp_path, model3d, gs_data, monkeypatch):
    from phcomp.core import model as m

    _write_v3(tmp_path / "s.zarr", model3d, gs_data)
    monkeypatch.setattr(m, "_REGISTRY", {})
    with pytest.raises(phcomp.ModelNotFoundError) as e:  # an id no open store holds
        phcomp.core.find_model("0123456789abcdef")
    assert any("zarr stores open in this process" in s for s in e.value.searched)
    assert phcomp.zarr.register_store_models(tmp_path / "s.zarr") == [model3d.id]
    assert zarr.open_group(tmp_path / "s.zarr", mode="r")["u"][...].shape == gs_data.shape


def test_v3_refuses_integer_arrays(tmp_path):
    with pytest.raises(Exception, match="float32/float64"):
        zarr.create_array(tmp_path / "i.zarr", shape=(10,), chunks=(5,), dtype="i4",
                          serializer={"name": "phcomp", "configuration": {"abs": 0}})


def test_v3_codec_roundtrip_dict(model3d):
    c = PhcompCodec(model=model3d, rel=1e-3)
    assert PhcompCodec.from_dict(c.to_dict()) == c
    assert c.to_dict() == {"name": "phcomp", "configuration": {"model": model3d.id, "rel": 1e-3}}


def test_corrupted_chunk_is_a_clear_error(tmp_path, model3d, gs_data):
    _write_v3(tmp_path / "k.zarr", model3d, gs_data)
    chunk = next(p for p in (tmp_path / "k.zarr" / "u").rglob("*") if p.is_file() and p.name != "zarr.json")
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    chunk.write_bytes(bytes(raw))
    with pytest.raises(phcomp.PhcompError, match="CRC32"):
        zarr.open_group(tmp_path / "k.zarr", mode="r")["u"][...]
    chunk.write_bytes(bytes(raw[:10]))
    with pytest.raises(phcomp.PhcompError):
        zarr.open_group(tmp_path / "k.zarr", mode="r")["u"][...]


def test_concurrent_reads(tmp_path, model3d, gs_data):
    from concurrent.futures import ThreadPoolExecutor

    _write_v3(tmp_path / "t.zarr", model3d, gs_data)
    a = zarr.open_group(tmp_path / "t.zarr", mode="r")["u"]
    with ThreadPoolExecutor(4) as ex:
        parts = list(ex.map(lambda i: a[i % 4], range(12)))
    first = [a[i] for i in range(4)]
    assert all(np.array_equal(p, first[i % 4]) for i, p in enumerate(parts))
