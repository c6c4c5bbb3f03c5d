"""The entropy coders one by one: every coding round-trips exactly (properties over random
integer data), the encoder picks the coding that suits the data, and damaged section bodies give
a PhcompError or a well-formed array, nothing else."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import phcomp
from phcomp import PhcompError
from phcomp.core import chunk as ck
from phcomp.core import latent, residual, residual_runs
from phcomp.core.bytes_io import ByteWriter
from phcomp.core import latent_dense


@st.composite
def residuals(draw):
    """Mostly zeros with +-1, long zero runs, and now and then a large value (up to 2**29)."""
    n = draw(st.integers(0, 3000))
    seed = draw(st.integers(0, 2**32 - 1))
    p_nonzero = draw(st.sampled_from([0.0, 0.001, 0.02, 0.2, 0.6]))
    p_big = draw(st.sampled_from([0.0, 0.01, 0.3]))
    rng = np.random.default_rng(seed)
    q = np.where(rng.random(n) < p_nonzero, rng.choice([-1, 1], n), 0)
    big = rng.random(n) < p_nonzero * p_big
    q[big] = rng.choice([-1, 1], int(big.sum())) * rng.integers(2, 2**29, int(big.sum()))
    return q.astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(residuals())
def test_residual_codings_round_trip(q):
    kind, body = residual.encode_residual(q)
    assert kind == (ck.SEC_RESIDUAL_RUNS if residual_runs.suits(residual_runs.value_counts(q)) else ck.SEC_RESIDUAL)
    assert np.array_equal(residual.decode_residual(kind, body, q.size), q)
    # both codings, whichever the encoder would pick
    assert np.array_equal(residual_runs.decode(residual_runs.encode(q), q.size, residual.QR_LIMIT), q)
    assert np.array_equal(residual.decode_residual(ck.SEC_RESIDUAL, residual._encode_quads(q), q.size), q)


def test_runs_cover_long_runs_and_the_last_value():
    q = np.zeros(5000, np.int32)
    q[[0, 256, 513, 1300, 4999]] = [1, -1, 7, 1, -1]  # runs of 0, 255, 256, 786, 3698 zeros
    assert np.array_equal(residual_runs.decode(residual_runs.encode(q), q.size, residual.QR_LIMIT), q)


def test_runs_are_smaller_or_close_on_sparse_residuals():
    rng = np.random.default_rng(0)
    q = np.where(rng.random(200_000) < 0.03, rng.choice([-1, 1], 200_000), 0).astype(np.int32)
    runs, quads = residual_runs.encode(q), residual._encode_quads(q)
    assert len(runs) <= 1.01 * len(quads)


@pytest.mark.parametrize("seed", range(3))
def test_damaged_run_sections(seed):
    rng = np.random.default_rng(seed)
    q = np.where(rng.random(4000) < 0.05, rng.choice([-1, 1, 3], 4000, p=[0.45, 0.45, 0.1]), 0).astype(np.int32)
    body = residual_runs.encode(q)
    for n in range(len(body)):  # every truncation
        with pytest.raises(PhcompError):
            residual_runs.decode(body[:n], q.size, residual.QR_LIMIT)
    for _ in range(300):
        b = bytearray(body)
        b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        try:
            out = residual_runs.decode(bytes(b), q.size, residual.QR_LIMIT)
        except PhcompError:
            continue
        assert out.shape == q.shape and np.abs(out).max(initial=0) < residual.QR_LIMIT


@st.composite
def latents(draw, k):
    """Latent matrices with channels that fade out (as ranked by variance), some all-zero blocks."""
    nblocks = draw(st.integers(0, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.3, 3.0, 300.0]))
    rng = np.random.default_rng(seed)
    sd = scale * np.exp(-np.arange(k) / draw(st.sampled_from([2.0, 20.0, 1000.0])))
    q = np.rint(rng.standard_normal((nblocks, k)) * sd).astype(np.int32)
    q[rng.random(nblocks) < 0.2] = 0
    return q


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_latent_coders_round_trip(model3d, data):
    tables = model3d.tables
    q = data.draw(latents(model3d.latent_dim))
    step = data.draw(st.sampled_from([1e-4, 1e-2, 1.0]))
    for coder, enc in latent._ENCODERS.items():
        w = ByteWriter()
        written = enc(w, q, step, tables)
        assert written == coder or (coder, written) == (latent.DENSE_PLANES, latent.DENSE_ENDS)
        back = latent.decode_latents(bytes([written]) + w.getvalue(), len(q), model3d.latent_dim, tables)
        assert np.array_equal(back, q), latent.CODER_NAMES[coder]


def test_block_ends():
    edges = np.array([0, 1, 3, 6])
    q = np.array([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0], [0, 0, 0, 0, 0, 5], [0, 4, 0, 0, 0, 0]])
    assert latent_dense.block_ends(q, edges).tolist() == [0, 1, 2, 3, 2]


def test_new_chunks_use_block_ends_and_runs(model3d, gs_data):
    """Old codings stay readable (tests/fixtures/v1); new chunks use the faster ones where they suit."""
    h = ck.parse_chunk(phcomp.compress(gs_data[1], model3d, rel=1e-2))
    assert h.sections[ck.SEC_LATENT][0] in latent.TRIED and latent.DENSE not in latent.TRIED
    assert ck.SEC_RESIDUAL_RUNS in h.sections and ck.SEC_RESIDUAL not in h.sections


def test_two_residual_sections_are_refused(model3d, gs_data):
    h = ck.parse_chunk(phcomp.compress(gs_data[1], model3d, rel=1e-2))
    h.sections[ck.SEC_RESIDUAL] = residual._encode_quads(np.zeros(gs_data[1].size, np.int32))
    with pytest.raises(PhcompError, match="residual"):
        phcomp.decompress(ck.pack_chunk(h), model3d)
    del h.sections[ck.SEC_RESIDUAL], h.sections[ck.SEC_RESIDUAL_RUNS]
    with pytest.raises(PhcompError, match="residual"):
        phcomp.decompress(ck.pack_chunk(h), model3d)


def test_run_section_refuses_trailing_bytes_and_overruns():
    q = np.zeros(100, np.int32)
    q[99] = 1
    body = residual_runs.encode(q)
    with pytest.raises(PhcompError):
        residual_runs.decode(body + b"x", q.size, residual.QR_LIMIT)
    with pytest.raises(PhcompError, match="pass the end"):
        residual_runs.decode(body, 99, residual.QR_LIMIT)


def test_laplace_shape_is_a_distribution():
    from phcomp.core.tables import laplace_shape

    for scale in (1e-3, 0.3, 1.0, 40.0):
        p = laplace_shape(scale, 16)
        assert p.shape == (34,) and (p >= 0).all() and abs(p.sum() - 1) < 1e-12
        assert p[16] == p[:-1].max()  # the mode is 0


def test_table_prior_helps_small_training_sets(monkeypatch):
    """Tables fitted on a few blocks code held-out blocks of the same law in fewer bits with the
    pooled / Laplace prior than from raw per-context histograms."""
    from phcomp.core import tables as T

    rng = np.random.default_rng(0)
    sd = 3.0 * np.exp(-np.arange(64) / 10)
    train, test = (rng.laplace(size=(n, 64)) * sd for n in (40, 4000))

    def cost():
        fitted, spec, edges = T.LatentTables.fit(train, 8)
        lt = T.LatentTables(fitted, spec, edges)
        w = ByteWriter()
        latent_dense.encode(w, np.rint(test).astype(np.int32), 1.0, lt, ends=True)
        return len(w.getvalue())

    with_prior = cost()
    monkeypatch.setattr(T, "PRIOR_POOL", 0.0)
    monkeypatch.setattr(T, "PRIOR_SHAPE", 0.0)
    assert with_prior < 0.97 * cost()


def test_escape_heavy_streams_decode():
    """Every quad escaped and every value outside the table: more escape entries than values."""
    q = (np.arange(1000, dtype=np.int32) % 7 - 3) * 100_000
    assert np.array_equal(residual.decode_residual(ck.SEC_RESIDUAL, residual._encode_quads(q), q.size), q)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2**31, 2**31 - 1), max_size=300), st.sampled_from([0, 100, 40_000, 2**31 - 1]))
def test_byte_planes_round_trip(values, clip):
    v = np.array(values, np.int64)
    if clip:
        v = np.clip(v, -clip, clip)
    width, frame = latent_dense.planes_frame(v)
    top = max([2 * x if x >= 0 else -2 * x - 1 for x in v.tolist()], default=0)  # zigzag
    assert width == (1 if top < 2**8 else 2 if top < 2**16 else 4)
    assert np.array_equal(latent_dense.planes_values(frame, v.size, width), v)


def test_repeating_blocks_take_byte_planes(model3d):
    """Blocks that repeat each other (a volume's slices read by a 2-D model): zstd's matches beat one
    range-coder step per value, so coder 3 stores the wide groups as byte planes, and decodes them."""
    rng = np.random.default_rng(0)
    k = model3d.latent_dim
    base = np.rint(rng.standard_normal((4, k)) * 3000 * np.exp(-np.arange(k) / 30)).astype(np.int32)
    q = np.tile(base, (50, 1))
    w = ByteWriter()
    assert latent._ENCODERS[latent.DENSE_PLANES](w, q, 1.0, model3d.tables) == latent.DENSE_PLANES
    body = bytes([latent.DENSE_PLANES]) + w.getvalue()
    ngroups = model3d.tables.ngroups
    modes = [body[3 + 3 * g + 2] for g in range(ngroups)]
    assert any(m in latent_dense.PLANE_WIDTHS for m in modes)
    assert np.array_equal(latent.decode_latents(body, len(q), k, model3d.tables), q)
    assert len(latent.encode_latents(q, 1.0, model3d.tables)) <= len(body)
    with pytest.raises(PhcompError):  # a damaged frame is caught by zstd's checks or the size checks
        latent.decode_latents(body[:-5], len(q), k, model3d.tables)
    bad = bytearray(body)
    bad[3 + 2] = 3  # group 0: a byte width that does not exist
    with pytest.raises(PhcompError, match="group mode"):
        latent.decode_latents(bytes(bad), len(q), k, model3d.tables)


def test_segments_write_the_same_stream_as_one_call_per_segment():
    """encode_segments / decode_segments (the interp coder's path) match encode / decode per
    segment bit for bit, escapes included."""
    from phcomp.core.rangecoder import Decoder, Encoder, FreqTable

    rng = np.random.default_rng(5)
    tables = [FreqTable.fit(rng.integers(-3, 4, 500), -3, 3), FreqTable.fit(rng.integers(0, 9, 500), 0, 8)]
    counts = np.array([7, 0, 300, 12])
    use = [tables[0], tables[1], tables[1], tables[0]]
    v = rng.integers(-12, 12, int(counts.sum()))  # some outside both tables: escapes
    one, seg = Encoder(), Encoder()
    a = 0
    for t, n in zip(use, counts):
        one.encode(v[a : a + n], t)
        a += n
    seg.encode_segments(v, use, counts)
    assert np.array_equal(one.words(), seg.words()) and np.array_equal(one.escape_values(), seg.escape_values())
    dec = Decoder(seg.words(), seg.escape_values())
    assert np.array_equal(dec.decode_segments(use, counts), v)
    dec.finish()
