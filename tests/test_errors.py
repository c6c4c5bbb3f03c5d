"""Bad input: corrupt/truncated/foreign bytes, bad dtypes and bounds, missing or wrong models."""
import numpy as np
import pytest

import phcomp
from phcomp import PhcompError
from phcomp.core import chunk as ck


@pytest.fixture(scope="module")
def blobs(model3d, gs_data):
    x = gs_data[1].copy()
    x[0, 0, :2] = [np.nan, np.inf]
    return [phcomp.compress(x, model3d, rel=r) for r in (1e-2, 1e-4)] + [
        phcomp.compress(x, model3d), phcomp.compress(x, model3d, abs=0)]


def _try_decode(data, model):
    try:
        y = phcomp.decompress(data, model)
    except PhcompError:
        return None
    return y


def test_fuzz_truncation_and_flips(blobs, model3d):
    rng = np.random.default_rng(0)
    for blob in blobs:
        for n in list(rng.integers(0, len(blob), 40)) + [0, 1, 4, 11, len(blob) - 1]:
            with pytest.raises(PhcompError):
                phcomp.decompress(blob[:n], model3d)
        for _ in range(60):
            b = bytearray(blob)
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
            with pytest.raises(PhcompError):  # the CRC catches every single-bit flip
                phcomp.decompress(bytes(b), model3d)


def test_fuzz_flips_with_valid_crc(blobs, model3d, monkeypatch):
    """An adversary who fixes the CRC gets an error or a well-formed array, never a crash, a hang
    or a huge allocation (PHCOMP_MAX_ELEMENTS caps what a header may declare)."""
    import zlib

    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", str(1 << 22))
    rng = np.random.default_rng(1)
    for blob in blobs:
        shape = ck.parse_chunk(blob).shape
        for _ in range(150):
            b = bytearray(blob[:-4])
            for _ in range(int(rng.integers(1, 4))):
                i = int(rng.integers(4, len(b)))
                b[i] = int(rng.integers(0, 256))
            data = bytes(b) + zlib.crc32(bytes(b)).to_bytes(4, "little")
            y = _try_decode(data, model3d)
            if y is not None:
                assert y.shape == shape


def test_random_and_foreign_bytes(model3d):
    rng = np.random.default_rng(2)
    for n in (0, 1, 3, 8, 100, 5000):
        with pytest.raises(PhcompError):
            phcomp.decompress(rng.bytes(n), model3d)
    for foreign in (b"\x89PNG\r\n\x1a\n" + bytes(100), b"PK\x03\x04" + bytes(50), np.zeros(10).tobytes()):
        with pytest.raises(PhcompError, match="not a phcomp chunk"):
            phcomp.decompress(foreign)


def test_future_version_is_refused(blobs):
    b = bytearray(blobs[0])
    b[4:6] = (99).to_bytes(2, "little")
    with pytest.raises(PhcompError, match="version 99"):
        phcomp.decompress(bytes(b))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.complex64, object, np.float16, bool])
def test_unsupported_dtypes(model3d, dtype):
    with pytest.raises(PhcompError, match="float32 and float64"):
        phcomp.compress(np.zeros(10, dtype=dtype), model3d, rel=1e-3)


@pytest.mark.parametrize("kw", [dict(rel=-1), dict(abs=-1e-3), dict(abs=float("nan")), dict(rel=float("inf")),
                                dict(rel="x")])
def test_bad_bounds(model3d, kw):
    with pytest.raises(PhcompError):
        phcomp.compress(np.linspace(0, 1, 100), model3d, **kw)


def test_default_model_when_none_given(gs_data, monkeypatch, tmp_path):
    x = gs_data[1]
    blob = phcomp.compress(x, rel=1e-3)
    assert phcomp.inspect_chunk(blob)["model_id"] == phcomp.default_model("field").id
    from phcomp.core import model as m

    monkeypatch.setattr(m, "_REGISTRY", {})
    y = phcomp.decompress(blob)  # found among the shipped models by id
    assert np.abs(y - x).max() <= 1e-3 * (x.max() - x.min())
    monkeypatch.setattr(m, "ZOO_DIR", tmp_path)  # an installation without shipped models
    with pytest.raises(PhcompError, match="no model given"):
        phcomp.compress(x, rel=1e-3)


def test_missing_model_names_id_and_places(model3d, gs_data, tmp_path, monkeypatch):
    from phcomp.core import model as m

    blob = phcomp.compress(gs_data[1], model3d, rel=1e-3)
    monkeypatch.setattr(m, "_REGISTRY", {})
    monkeypatch.setenv("PHCOMP_MODEL_PATH", str(tmp_path / "a") + ":" + str(tmp_path / "b"))
    with pytest.raises(phcomp.ModelNotFoundError) as e:
        phcomp.decompress(blob)
    msg = str(e.value)
    assert model3d.id in msg and str(tmp_path / "a") in msg and str(tmp_path / "b") in msg
    assert "registry" in msg and "cache" in msg.lower() or "phcomp/models" in msg
    assert e.value.model_id == model3d.id and len(e.value.searched) >= 4
    # once a directory on the path holds it, it is found
    (tmp_path / "b").mkdir()
    model3d.save(tmp_path / "b")
    assert phcomp.decompress(blob).shape == gs_data[1].shape


def test_wrong_model(model3d, model2d, gs_data):
    blob = phcomp.compress(gs_data[1], model3d, rel=1e-3)
    with pytest.raises(PhcompError, match="written with model"):
        phcomp.decompress(blob, model2d)


def test_declared_size_limit(blobs, monkeypatch):
    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", "100")
    with pytest.raises(PhcompError, match="PHCOMP_MAX_ELEMENTS"):
        phcomp.decompress(blobs[0])
