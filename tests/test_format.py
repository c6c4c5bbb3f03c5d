"""Format v1 is frozen: committed chunks keep decoding to the committed arrays, bit for bit."""
import os

import numpy as np
import pytest

import phcomp
from phcomp.core import chunk as ck
from conftest import FIXTURES, decode_frozen, frozen_index

V1 = os.path.join(FIXTURES, "v1")
V1_INDEX = frozen_index(V1)
CASES = sorted(V1_INDEX["cases"])


@pytest.fixture(scope="module")
def v1_model():
    return phcomp.load_model(os.path.join(V1, "model.phcm"))


@pytest.mark.parametrize("name", CASES)
def test_v1_fixtures_decode_bit_exact(v1_model, name):
    blob = open(os.path.join(V1, f"{name}.phc"), "rb").read()
    expected = np.load(os.path.join(V1, f"{name}.expected.npy"))
    y = phcomp.decompress(blob, v1_model)
    assert y.dtype == expected.dtype and y.shape == expected.shape
    assert np.array_equal(y.view(f"u{y.itemsize}"), expected.view(f"u{y.itemsize}"))


def test_v1_model_id_is_frozen(v1_model):
    assert v1_model.id == V1_INDEX["model_id"]


@pytest.mark.parametrize("name", CASES)
def test_v1_headers(name):
    blob = open(os.path.join(V1, f"{name}.phc"), "rb").read()
    info = phcomp.inspect_chunk(blob)
    assert info["format_version"] == 1 and blob[:4] == ck.MAGIC
    assert info["mode"] == V1_INDEX["cases"][name]["mode"]
    assert sum(info["sections"].values()) < len(blob)


def test_header_layout_matches_spec(model3d, gs_data):
    """The byte offsets documented in docs/format.md."""
    x = gs_data[1]
    blob = phcomp.compress(x, model3d, rel=1e-3)
    assert blob[:4] == b"\x89PHC"
    assert int.from_bytes(blob[4:6], "little") == 1
    assert blob[6] == ck.MODE_BOUNDED and blob[8] == 1 and blob[9] == x.ndim
    assert blob[12:20].hex() == model3d.id
    shape = [int.from_bytes(blob[20 + 8 * i : 28 + 8 * i], "little") for i in range(x.ndim)]
    assert shape == list(x.shape)
    eps = np.frombuffer(blob[20 + 8 * x.ndim : 28 + 8 * x.ndim], "<f8")[0]
    assert eps == pytest.approx(1e-3 * (x.max() - x.min()))


def test_new_chunks_use_current_version(model3d, gs_data):
    assert phcomp.inspect_chunk(phcomp.compress(gs_data[1], model3d, rel=1e-2))["format_version"] == ck.FORMAT_VERSION


ADDED = os.path.join(FIXTURES, "v1_additions")
ADDED_INDEX = frozen_index(ADDED)


@pytest.mark.parametrize("name", sorted(ADDED_INDEX["cases"]))
def test_codings_added_within_v1_stay_frozen(name):
    """Chunks of latent coder 3 (byte planes), residual section 7 and the separable_int decoder,
    committed once (tests/fixtures/make_additions.py): same bits back, same codings inside."""
    h = ck.parse_chunk(decode_frozen(ADDED, ADDED_INDEX, name))
    latent = h.sections[ck.SEC_LATENT]
    ngroups = int.from_bytes(latent[1:3], "little")
    assert latent[0] == 3 and any(latent[3 + 3 * g + 2] for g in range(ngroups))  # some group in byte planes
    assert ck.SEC_RESIDUAL_RUNS in h.sections
