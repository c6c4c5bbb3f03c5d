"""Model container: save/load, id, no pickle, lookup, training options."""
import json

import numpy as np
import pytest

import phcomp
from phcomp import PhcompError
from phcomp.core import container


def test_save_load_roundtrip(model3d, gs_data, tmp_path):
    p = model3d.save(tmp_path / "m.phcm")
    m2 = phcomp.load_model(p)
    assert m2.id == model3d.id and m2.block == model3d.block
    x = gs_data[1]
    assert phcomp.compress(x, m2, rel=1e-3) == phcomp.compress(x, model3d, rel=1e-3)
    d = model3d.save(tmp_path)
    assert d.name == f"{model3d.id}.phcm"


def test_container_is_json_plus_arrays(model3d, tmp_path):
    raw = model3d.save(tmp_path / "m.phcm").read_bytes()
    assert raw[:8] == b"PHCMODEL" and b"pickle" not in raw
    hlen = int.from_bytes(raw[12:16], "little")
    header = json.loads(raw[16 : 16 + hlen])
    assert header["kind"] == "linear" and header["block"] == [4, 4, 4]
    assert header["arrays"]["decoder.weight"]["dtype"] == "<i4"
    assert header["params"]["decoder"]["type"] == "linear_int"


def test_id_is_stable_and_content_based(gs_data):
    a = phcomp.train(gs_data[0::2], block=(4, 4, 4), groups=8)
    b = phcomp.train(gs_data[0::2], block=(4, 4, 4), groups=8)
    c = phcomp.train(gs_data[1::2], block=(4, 4, 4), groups=8)
    assert a.id == b.id != c.id and len(a.id) == 16
    h, payload, _ = container.loads(a.to_bytes())
    assert container.model_id(h, payload) == a.id


def test_corrupt_model_files(model3d, tmp_path):
    raw = model3d.to_bytes()
    for bad in (b"", raw[:10], raw[:100], b"PHCMODEL" + bytes(20), raw[:-50], b"x" * 200):
        with pytest.raises(PhcompError):
            phcomp.core.Model.from_bytes(bad)
    with pytest.raises(PhcompError, match="cannot read"):
        phcomp.load_model(tmp_path / "nope.phcm")


def test_rank_and_options(gs_data):
    m = phcomp.train(gs_data[0::2], block=(4, 4, 4), rank=16, groups=4)
    assert m.latent_dim == 16
    x = gs_data[1]
    y = phcomp.decompress(phcomp.compress(x, m, rel=1e-4), m)
    assert np.abs(y - x).max() <= 1e-4 * (x.max() - x.min())
    with pytest.raises(PhcompError):
        phcomp.train(gs_data, block=(4, 4, 4), rank=1000)
    with pytest.raises(PhcompError, match="unknown model kind"):
        phcomp.train(gs_data, kind="nope")


def test_install_model_into_cache(model3d, gs_data):
    from phcomp.core import model as m

    blob = phcomp.compress(gs_data[1], model3d, rel=1e-3)
    path = phcomp.install_model(model3d)
    assert path.parent == m.cache_dir()
    saved = dict(m._REGISTRY)
    m._REGISTRY.clear()
    try:
        assert phcomp.decompress(blob).shape == gs_data[1].shape
    finally:
        m._REGISTRY.update(saved)


def test_every_shipped_model_file_is_found_by_id():
    """Retraining a default adds a file and moves index.json; older defaults stay in the package,
    so chunks that name them by id keep decoding."""
    from phcomp.core.model import ZOO_DIR, find_model, shipped_index

    files = sorted(ZOO_DIR.glob("*.phcm"))
    assert {e["file"] for e in shipped_index().values()} <= {f.name for f in files}
    assert len(files) >= 7  # four roles, three of them retrained at least once
    for f in files:
        assert find_model(f.stem).id == f.stem


@pytest.mark.parametrize("layout", ["back_to_back", "gapped"])
def test_table_unpacking_refuses_bad_frequencies(layout):
    """Tables are checked in one pass when packed back to back, one by one otherwise: either way a
    zero frequency, a total of 2**32 or more, or a table past the array is refused."""
    from phcomp.core.tables import unpack_tables

    gap = 0 if layout == "back_to_back" else 1
    freqs = np.array([3, 1, 2] + [7] * gap + [1, 1, 1, 5], np.uint32)
    index = np.array([[0, 3, -1], [3 + gap, 4, 0]], np.int64)
    tables = unpack_tables(freqs, index)
    assert [t.freq.tolist() for t in tables] == [[3, 1, 2], [1, 1, 1, 5]] and [t.lo for t in tables] == [-1, 0]
    bad = freqs.copy()
    bad[4 + gap] = 0
    with pytest.raises(PhcompError, match="corrupt frequency table"):
        unpack_tables(bad, index)
    big = freqs.copy()
    big[3 + gap : 5 + gap] = 2**31  # n * max is loose for both tables' bound; this one's sum is 2**32
    with pytest.raises(PhcompError, match="corrupt frequency table"):
        unpack_tables(big, index)
    ok = freqs.copy()
    ok[3 + gap] = 2**31  # loose bound, true total below 2**32: accepted
    assert unpack_tables(ok, index)[1].freq[0] == 2**31
    with pytest.raises(PhcompError, match="outside the frequency array"):
        unpack_tables(freqs, index + np.array([[0, 0, 0], [1, 0, 0]]))
