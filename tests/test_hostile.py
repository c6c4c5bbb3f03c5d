"""The reproducers of the adversarial run (issue: hostile input): each is a PhcompError naming
what is wrong, never a MemoryError, IndexError, AttributeError or RecursionError."""
import json
import struct
import zlib

import numpy as np
import pytest

import phcomp
from phcomp import PhcompError
from phcomp.core import container, limits
from phcomp.core.intpack import zstd_compress
from phcomp.core.model import ZOO_DIR, Model, default_model


def _fix_crc(blob: bytes | bytearray) -> bytes:
    body = bytes(blob[:-4])
    return body + zlib.crc32(body).to_bytes(4, "little")


def _set_shape0(blob: bytes, value: int) -> bytes:
    b = bytearray(blob)
    b[20:28] = value.to_bytes(8, "little")
    return _fix_crc(b)


def test_lossless_shape_lie_is_refused_before_allocating(monkeypatch):
    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", str(1 << 40))  # not the cap: the zstd frame says no
    blob = phcomp.compress(np.random.default_rng(0).standard_normal((70, 65)), abs=0)
    for lie in (1 << 32, 71, 69):
        with pytest.raises(PhcompError, match="lossless payload"):
            phcomp.decompress(_set_shape0(blob, lie))


def test_zstd_frame_cannot_declare_more_than_it_holds():
    from phcomp.core.intpack import zstd_decompress

    frame = bytearray(zstd_compress(bytes(1000)))
    with pytest.raises(PhcompError, match="declares"):
        # a frame header claiming 2**40 bytes in a frame of a few bytes
        fake = bytes(frame[:4]) + bytes([0xE0]) + (1 << 40).to_bytes(8, "little") + bytes(frame[-6:])
        zstd_decompress(fake, 1 << 40)


def test_coded_shape_lie_hits_the_memory_cap(monkeypatch):
    monkeypatch.delenv("PHCOMP_MAX_ELEMENTS", raising=False)
    curve = np.log10(1 + np.exp(-np.linspace(0, 6, 512)))
    blob = phcomp.compress(curve, default_model("sas"), rel=1e-3)
    with pytest.raises(PhcompError, match="PHCOMP_MAX_ELEMENTS"):
        phcomp.decompress(_set_shape0(blob, 1 << 40))
    assert limits.max_elements() < 1 << 40  # this machine's memory, not the format's limit


def test_small_counts_skip_the_memory_probe_but_not_the_cap(monkeypatch):
    """Counts up to ALWAYS_ADMITTED are admitted without reading memory; above, the probe decides,
    and PHCOMP_MAX_ELEMENTS always does."""
    monkeypatch.delenv("PHCOMP_MAX_ELEMENTS", raising=False)
    monkeypatch.setattr(limits, "usable_memory", lambda: 0)  # as if nothing were left
    assert limits.admits(limits.ALWAYS_ADMITTED)
    assert not limits.admits(limits.ALWAYS_ADMITTED + 1)
    curve = np.log10(1 + np.exp(-np.linspace(0, 6, 512)))
    blob = phcomp.compress(curve, default_model("sas"), rel=1e-3)
    assert phcomp.decompress(blob).shape == curve.shape
    with pytest.raises(PhcompError, match="PHCOMP_MAX_ELEMENTS"):
        phcomp.decompress(_set_shape0(blob, limits.ALWAYS_ADMITTED + 1))
    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", "100")
    assert not limits.admits(101)
    with pytest.raises(PhcompError, match="PHCOMP_MAX_ELEMENTS"):
        phcomp.decompress(blob)


def test_empty_shape_in_a_coded_mode_is_refused():
    curve = np.log10(1 + np.exp(-np.linspace(0, 6, 512)))
    for model in (default_model("sas"), phcomp.load_model(ZOO_DIR / "be1e879a62b6010f.phcm")):
        blob = phcomp.compress(curve, model, rel=1e-3)
        with pytest.raises(PhcompError, match="empty shape"):
            phcomp.decompress(_set_shape0(blob, 0))


def test_max_elements_env(monkeypatch):
    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", "1000")
    assert limits.max_elements() == 1000
    monkeypatch.setenv("PHCOMP_MAX_ELEMENTS", str(1 << 50))
    assert limits.max_elements() == 1 << 40


def _model_with(file: str, edit) -> bytes:
    data = (ZOO_DIR / file).read_bytes()
    header, payload, _ = container.loads(data)
    text = edit(header)
    if text is None:
        text = json.dumps(header, sort_keys=True)
    h = text.encode()
    return container.MAGIC + struct.pack("<II", 1, len(h)) + h + struct.pack("<Q", len(payload)) + zstd_compress(payload, 1)


def _params(**kv):
    def edit(header):
        header["params"].update(kv)
    return edit


FIELD = "792586205cbaa8a7.phcm"


@pytest.mark.parametrize("edit, field", [
    (_params(encoder="x"), "params.encoder"),
    (_params(encoder=None), "params.encoder"),
    (_params(encoder=0), "params.encoder"),
    (_params(decoder=[1]), "params.decoder"),
    (_params(step_factors=float("inf")), "params.step_factors"),
    (_params(step_factors=[[-3.0, "x"]]), "params.step_factors"),
    (_params(deadzone=[]), "params.deadzone"),
    (_params(min_step=[]), "params.min_step"),
    (_params(default_step=0), "params.default_step"),
    (lambda h: h.update(block=[1, 1]), "decoder.axis0"),
    (lambda h: h.update(block="x"), "block"),
    (lambda h: h["params"]["latent_coding"].update(group_edges=[0, 5, 3]), "group_edges"),
])
def test_hostile_model_headers_name_the_field(edit, field):
    with pytest.raises(PhcompError, match=field.replace(".", r"\.")):
        Model.from_bytes(_model_with(FIELD, edit))


def test_deeply_nested_model_header():
    def nest(header):
        header["params"]["step_factor"] = "__N__"
        return json.dumps(header, sort_keys=True).replace('"__N__"', "[" * 100000 + "]" * 100000)
    with pytest.raises(PhcompError, match="nested"):
        Model.from_bytes(_model_with(FIELD, nest))


def test_non_finite_model_arrays_are_refused():
    data = (ZOO_DIR / FIELD).read_bytes()
    header, payload, _ = container.loads(data)
    e = header["arrays"]["encoder.mean"]
    p = bytearray(payload)
    p[e["offset"] : e["offset"] + 8] = struct.pack("<d", float("nan"))
    h = json.dumps(header, sort_keys=True).encode()
    blob = container.MAGIC + struct.pack("<II", 1, len(h)) + h + struct.pack("<Q", len(p)) + zstd_compress(bytes(p), 1)
    with pytest.raises(PhcompError, match="encoder.mean.*non-finite"):
        Model.from_bytes(blob)


def test_every_shipped_model_passes_the_schema():
    for f in sorted(ZOO_DIR.glob("*.phcm")):
        m = Model.from_bytes(f.read_bytes())
        assert m.id == f.stem
