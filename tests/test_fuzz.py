"""Bounded fuzz campaigns (tests/fuzz_campaign.py) in a child with an address-space limit and a
timeout: every mutated chunk or model file gives a PhcompError or a well-formed result."""
import json
import os
import resource
import subprocess
import sys

import pytest

CAMPAIGN = os.path.join(os.path.dirname(__file__), "fuzz_campaign.py")
ADDRESS_SPACE = 6 << 30  # an allocation from a lie fails as MemoryError here instead of swapping


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _run(campaign: str, cases: int, seed: int, timeout: int, args: tuple[str, ...] = (), env: dict | None = None,
         limit: bool = True) -> dict:
    """The campaign in a child; ``limit=False`` drops the address-space limit (a sanitizer
    runtime reserves terabytes of shadow memory up front)."""
    env = dict(os.environ, **(env or {}))
    env.pop("PHCOMP_MAX_ELEMENTS", None)  # the memory-derived default is what is tested
    try:
        r = subprocess.run([sys.executable, CAMPAIGN, campaign, "--cases", str(cases), "--seed", str(seed), *args],
                           preexec_fn=_limit if limit else None, capture_output=True, text=True, timeout=timeout,
                           env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{campaign} campaign (seed {seed}) hung: no result within {timeout} s")
    assert r.returncode == 0, f"campaign crashed (rc {r.returncode}):\n{r.stderr[-4000:]}"
    return json.loads(r.stdout)


def _assert_clean(result: dict) -> None:
    counts = result["counts"]
    bad = {k: v for k, v in counts.items() if k not in ("error", "ok", "noop")}
    assert not bad, f"{bad}\nfirst cases:\n" + "\n".join(json.dumps(b) for b in result["bad"][:15])
    assert counts.get("error", 0) > 0 and counts.get("ok", 0) > 0  # the campaign reached both outcomes


@pytest.mark.parametrize("seed", [0, 1])
def test_chunk_mutations(seed):
    result = _run("chunks", 3000, seed, timeout=600)
    assert result["chunks"] >= 10 and result["cases"] == 3000
    _assert_clean(result)


def test_model_mutations():
    result = _run("models", 600, 0, timeout=900)
    assert result["models"] >= 10
    _assert_clean(result)
