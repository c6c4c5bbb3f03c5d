"""kind="ved": trains with both penalties, exports exactly, keeps the bound; maps fields."""
import numpy as np
import pytest

import phcomp
from phcomp.core.errors import PhcompError
from phcomp.models.ved import train_ved

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def darcy():
    from phcomp.data import darcy2d

    return darcy2d(n=16, count=96, seed=5)


def test_ved_compresses_within_bound(darcy):
    p, _ = darcy
    m = phcomp.train(p[:64], kind="ved", block=(16, 16), latent=6, hidden=64, epochs=20, qat_epochs=2, groups=6,
                     progress=False)
    assert m.kind == "ved" and m.latent_dim == 6 and m.decoder.kind == "mlp_int"
    assert m.meta["beta"] > 0 and m.meta["lam"] > 0
    x = p[64:]
    for rel in (1e-2, 1e-4):
        y = phcomp.decompress(phcomp.compress(x, m, rel=rel), m)
        assert np.abs(y - x).max() <= rel * (x.max() - x.min())


def test_covariance_penalty_decorrelates(darcy):
    p, _ = darcy

    def cov_offdiag(lam):
        net = train_ved([p[:64]], (16, 16), latent=4, hidden=32, beta=0.0, lam=lam, epochs=40,
                                          qat_epochs=0, patience=40, progress=False, return_net=True)
        from phcomp.models.linear import sample_blocks

        with torch.no_grad():
            mu = net.encode(torch.as_tensor(sample_blocks([p[:64]], (16, 16), 10**6, 0), dtype=torch.float32)).numpy()
        c = np.cov(mu.T)
        return np.abs(c - np.diag(np.diag(c))).sum() / np.abs(np.diag(c)).sum()

    assert cov_offdiag(10.0) < cov_offdiag(0.0)  # the penalty pushes Cov_q(z) towards I


def test_field_map_is_not_exported(darcy):
    p, logk = darcy
    net = train_ved([logk[:32]], (16, 16), targets=[p[:32]], latent=4, hidden=32, epochs=3,
                                      qat_epochs=0, progress=False, return_net=True)
    assert net.encode(torch.zeros(2, 256)).shape == (2, 4) and net.decode(torch.zeros(2, 4)).shape == (2, 256)
    with pytest.raises(PhcompError, match="not a compressor"):
        train_ved([logk[:32]], (16, 16), targets=[p[:32]], latent=4, hidden=32, epochs=1,
                                    qat_epochs=0, progress=False)
