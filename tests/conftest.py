import json
import os

import numpy as np
import pytest

import phcomp
from phcomp.data import grayscott3d

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

BLOCK_TORCH = r"""
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
"""


@pytest.fixture(scope="session")
def no_torch():
    """Code to put first in a ``python -c`` script: any import of torch then fails (decoding must not need it)."""
    return BLOCK_TORCH


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test sees or fills the user's model cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PHCOMP_MODEL_PATH", raising=False)


@pytest.fixture(scope="session")
def gs_data():
    return grayscott3d(n=24, steps=800, snapshots=4, seed=1)


@pytest.fixture(scope="session")
def model3d(gs_data):
    return phcomp.train(gs_data[0::2], kind="linear", block=(4, 4, 4), groups=8)


@pytest.fixture(scope="session")
def model2d(gs_data):
    return phcomp.train(gs_data[0::2].reshape(-1, 24, 24)[::3], kind="linear", block=(8, 8), groups=8)


@pytest.fixture(scope="session")
def model1d(gs_data):
    return phcomp.train(gs_data[0::2].reshape(-1, 24)[::5], kind="linear", block=(16,), groups=4)


@pytest.fixture(scope="session")
def models(model1d, model2d, model3d):
    return {1: model1d, 2: model2d, 3: model3d}


def max_err(x: np.ndarray, y: np.ndarray) -> float:
    fin = np.isfinite(x)
    return float(np.abs(x[fin].astype(np.float64) - y[fin].astype(np.float64)).max()) if fin.any() else 0.0


def frozen_index(directory: str) -> dict:
    """index.json of a committed fixture directory (tests/fixtures/make_*.py)."""
    with open(os.path.join(directory, "index.json")) as f:
        return json.load(f)


def decode_frozen(directory: str, index: dict, name: str) -> bytes:
    """Decode a committed chunk with its committed model (whose id must not have moved) and check
    the same bits come back; returns the chunk for checks of the codings inside it."""
    case = index["cases"][name]
    model = phcomp.load_model(os.path.join(directory, f"{case['model']}.phcm"))
    assert model.id == index["models"][case["model"]]
    with open(os.path.join(directory, f"{name}.phc"), "rb") as f:
        blob = f.read()
    expected = np.load(os.path.join(directory, f"{name}.expected.npy"))
    y = phcomp.decompress(blob, model)
    assert y.dtype == expected.dtype and np.array_equal(y.view(f"u{y.itemsize}"), expected.view(f"u{y.itemsize}"))
    return blob
