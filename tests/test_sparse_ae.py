"""kind="sparse-ae": a tiny model trains, exports to the exact integer MLP decoder, keeps the bound,
and decodes identically everywhere without torch."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import phcomp
from phcomp.core.errors import PhcompError

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def sae(gs_data):
    curves = gs_data[0::2].reshape(-1, 24)[:400]
    return phcomp.train(curves, kind="sparse-ae", block=(24,), latent=48, hidden=32, l1=5e-2, step=0.1,
                        epochs=25, qat_epochs=3, groups=8, progress=False)


def test_trains_sparse_and_exports_integers(sae):
    assert sae.kind == "sparse-ae" and sae.decoder.kind == "mlp_int" and sae.latent_dim == 48
    assert sae.arrays["decoder.mlp.0.weight"].dtype == np.int32
    assert 0 < sae.meta["latent_nonzero_share"] < 0.9
    assert sae.params["step_mode"] == "fixed"


def test_bound_and_roundtrip(sae, gs_data, tmp_path):
    x = gs_data[1].reshape(-1, 24)
    for rel in (1e-2, 1e-4):
        y = phcomp.decompress(phcomp.compress(x, sae, rel=rel), sae)
        assert np.abs(y - x).max() <= rel * (x.max() - x.min())
    path = sae.save(tmp_path / "s.phcm")
    again = phcomp.core.Model.from_bytes(path.read_bytes())
    assert again.id == sae.id
    assert phcomp.compress(x, again, rel=1e-3) == phcomp.compress(x, sae, rel=1e-3)


def test_decode_exact_across_threads_without_torch(sae, gs_data, tmp_path, no_torch):
    x = np.concatenate([gs_data.reshape(-1, 24)] * 4)
    blob = tmp_path / "c.phc"
    blob.write_bytes(phcomp.compress(x, sae))
    model = sae.save(tmp_path / "m.phcm")
    here = hashlib.sha256(phcomp.decompress(blob.read_bytes(), sae).tobytes()).hexdigest()
    code = no_torch + ("import hashlib, phcomp\nm = phcomp.load_model(sys.argv[1])\n"
            "print(hashlib.sha256(phcomp.decompress(open(sys.argv[2], 'rb').read()).tobytes()).hexdigest())")
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        r = subprocess.run([sys.executable, "-c", code, str(model), str(blob)], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == here


def test_rejects_undercomplete_latent(gs_data):
    with pytest.raises(PhcompError, match="overcomplete"):
        phcomp.train(gs_data.reshape(-1, 24)[:50], kind="sparse-ae", block=(24,), latent=8, epochs=1, progress=False)


@pytest.mark.parametrize("bad", [{"mult": 0}, {"shift": 70}, {"out_scale": float("nan")}, {"weights": np.int64(2**40)},
                                 {"float": True}])
def test_corrupt_mlp_decoders_refused(sae, bad):
    import copy

    params, arrays = copy.deepcopy(sae.params), dict(sae.arrays)
    if "mult" in bad or "shift" in bad:
        params["decoder"]["layers"][0].update(bad)
    elif "out_scale" in bad:
        params["decoder"]["out_scale"] = bad["out_scale"]
    elif "weights" in bad:  # an int64 weight beyond any exact bound
        arrays["decoder.mlp.0.weight"] = np.full(arrays["decoder.mlp.0.weight"].shape, bad["weights"], np.int64)
    else:
        arrays["decoder.mlp.0.weight"] = arrays["decoder.mlp.0.weight"].astype(np.float32)
    with pytest.raises(PhcompError, match="corrupt model"):
        phcomp.core.Model(sae.kind, sae.block, params, arrays, sae.meta)


@pytest.mark.parametrize("depth", [1, 3])
def test_integer_decoder_follows_the_float_network(gs_data, depth):
    """Each depth's integer export (weights, biases, per-layer requantization) decodes what torch decodes,
    up to the integer rounding: far closer than the quantiser step."""
    from phcomp.models import sparse_ae

    curves = gs_data[0::2].reshape(-1, 24)[:300].astype(np.float32)
    torch.manual_seed(0)
    net = sparse_ae._net(torch, 24, 48, 32, depth)
    net.mean.copy_(torch.as_tensor(curves.mean(0)))
    step = 0.05
    model = sparse_ae._export(torch, net, curves, (24,), step, 8, 0, {"kind": "sparse-ae"})
    with torch.no_grad():
        zq = torch.round(net.encode(torch.as_tensor(curves)) / step) * step
        ref = net.decode(zq).double().numpy()
    order = np.argsort(-net.encode(torch.as_tensor(curves)).detach().double().numpy().var(axis=0))
    q = np.rint(zq.double().numpy() / step).astype(np.int32)[:, order]
    got = model.decoder(q, step)
    assert len(model.params["decoder"]["layers"]) == depth + 1
    assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()


def test_fixed_normalisation_keeps_the_bound_outside_the_training_range(sae, gs_data):
    """Chunks are encoded with the model's training range, not their own: a small chunk decodes as well
    as a large one, and data far outside that range still keeps every value within the bound."""
    assert sae.params["normalization"] == "fixed" and sae.params["norm_half"] > 0
    x = gs_data[1].reshape(-1, 24)
    from phcomp.core.chunk import parse_chunk

    for part in (x[:40], x):  # different ranges, the same map
        h = parse_chunk(phcomp.compress(part, sae, rel=1e-2))
        assert (h.mid, h.half) == (sae.params["norm_mid"], sae.params["norm_half"])
    for data in (x[:3], x * 1e4 - 7.0, -x):
        y = phcomp.decompress(phcomp.compress(data, sae, rel=1e-3), sae)
        assert np.abs(y.astype(np.float64) - data).max() <= 1e-3 * (data.max() - data.min())


def test_restarts_keep_the_best_validation_objective(gs_data, sae):
    """restarts=2 trains from seeds 0 and 1 and keeps the lower validation objective; the first run
    is the plain (restarts=1) training, bit for bit."""
    curves = gs_data[0::2].reshape(-1, 24)[:400]
    m = phcomp.train(curves, kind="sparse-ae", block=(24,), latent=48, hidden=32, l1=5e-2, step=0.1,
                     epochs=25, qat_epochs=3, groups=8, progress=False, restarts=2)
    objs = m.meta["restart_objectives"]
    assert len(objs) == 2 and objs[0] != objs[1]
    assert m.meta["val_objective"] == min(objs)
    assert objs[0] == sae.meta["val_objective"]
    if objs[0] < objs[1]:
        assert np.array_equal(m.arrays["decoder.mlp.0.weight"], sae.arrays["decoder.mlp.0.weight"])
    with pytest.raises(PhcompError, match="restarts"):
        phcomp.train(curves, kind="sparse-ae", block=(24,), restarts=0, progress=False)
