"""The phcomp command, run as a real subprocess."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import phcomp


def run(*args, check=True, cwd=None):
    r = subprocess.run([sys.executable, "-m", "phcomp.cli", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, env=dict(os.environ))
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, gs_data):
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "train.npy", gs_data[0::2])
    np.save(d / "test.npy", gs_data[1::2])
    return d


def test_help_explains_every_command():
    out = run("--help").stdout
    for cmd in ("train", "compress", "decompress", "inspect", "bench"):
        assert cmd in out
        sub = run(cmd, "--help").stdout
        assert "usage: phcomp " + cmd in sub and len(sub) > 300


def test_train_compress_decompress_inspect(workdir, tmp_path):
    # conftest points XDG_CACHE_HOME at a per-test directory that the subprocesses share
    out = run("train", workdir / "train.npy", "-o", tmp_path / "m.phcm", "--block", "4,4,4", "--groups", "8").stdout
    assert "installed in" in out
    run("compress", workdir / "test.npy", "-o", tmp_path / "t.phc", "--model", tmp_path / "m.phcm", "--rel", "1e-3",
        "--chunk-mb", "0.05")
    info = json.loads(run("inspect", tmp_path / "t.phc", "--json").stdout)
    assert info["chunks"] > 1 and info["chunk_headers"][0]["mode"] == "error-bounded"
    # decompress finds the model by id in the cache, without --model
    run("decompress", tmp_path / "t.phc", "-o", tmp_path / "back.npy")
    x, y = np.load(workdir / "test.npy"), np.load(tmp_path / "back.npy")
    assert y.shape == x.shape and np.abs(x - y).max() <= 1e-3 * (x.max() - x.min())
    # refuses to overwrite without --force, and leaves no temporary behind
    r = run("decompress", tmp_path / "t.phc", "-o", tmp_path / "back.npy", check=False)
    assert r.returncode == 2 and "--force" in r.stderr
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    text = run("inspect", tmp_path / "t.phc").stdout
    assert "model_id" in text and "latent" in text


def test_lossless_without_model(workdir, tmp_path):
    run("compress", workdir / "test.npy", "-o", tmp_path / "l.phc", "--abs", "0")
    run("decompress", tmp_path / "l.phc", "-o", tmp_path / "l.npy")
    assert np.array_equal(np.load(workdir / "test.npy"), np.load(tmp_path / "l.npy"))


def test_errors_are_clear(workdir, tmp_path):
    r = run("compress", workdir / "test.npy", "-o", tmp_path / "x.phc", "--rel", "1e-3", "--model", "0123456789abcdef",
            check=False)
    assert r.returncode == 2 and "0123456789abcdef" in r.stderr and "searched" in r.stderr
    (tmp_path / "junk.phc").write_bytes(b"PHCFILE1" + b"\0" * 40)
    r = run("decompress", tmp_path / "junk.phc", "-o", tmp_path / "j.npy", check=False)
    assert r.returncode == 2 and "phcomp: error" in r.stderr and not (tmp_path / "j.npy").exists()
    np.save(tmp_path / "ints.npy", np.arange(10))
    r = run("compress", tmp_path / "ints.npy", "--abs", "0", check=False)
    assert r.returncode == 2 and "float32/float64" in r.stderr
    r = run("train", workdir / "train.npy", "-o", tmp_path / "m.phcm", "--kind", "ved", "--restarts", "2", check=False)
    assert r.returncode == 2 and "--restarts" in r.stderr and "sparse-ae" in r.stderr


def test_bench_reports_all_columns(workdir, tmp_path):
    run("train", workdir / "train.npy", "-o", tmp_path / "m.phcm", "--block", "4,4,4", "--no-install")
    rows = json.loads(run("bench", workdir / "test.npy", "--model", tmp_path / "m.phcm", "--rel", "1e-2", "1e-3",
                          "--repeat", "1", "--json").stdout)
    codecs = {r["codec"] for r in rows}
    assert "phcomp" in codecs and "zstd-3" in codecs
    for r in rows:
        if "skipped" in r:
            continue
        assert {"ratio", "bits_per_value", "max_err_over_range", "psnr_db", "compress_MBps", "decompress_MBps"} <= set(r)
        if r["codec"] in ("phcomp", "SZ3"):
            assert r["max_err_over_range"] <= r["rel"] * (1 + 1e-6)
    ph = [r for r in rows if r["codec"] == "phcomp"]
    assert all(r["peak_mem_compress_x"] > 0 for r in ph)
    table = run("bench", workdir / "test.npy", "--model", tmp_path / "m.phcm", "--repeat", "1").stdout
    assert table.startswith("| codec |")


def test_demo_runs_end_to_end():
    out = run("demo", "--size", "small", "--rel", "1e-2", "--repeat", "1").stdout
    default = phcomp.default_model("field3d").id
    assert f"model field3d: {default}" in out and "| phcomp (field3d) | 0.01 |" in out
    assert "read back with h5py" in out and ": yes" in out and "trained model" not in out


def test_demo_train_and_keep_file(tmp_path):
    out = run("demo", "--size", "small", "--rel", "1e-2", "--repeat", "1", "--no-peers", "--train",
              "-o", tmp_path / "gs.h5").stdout
    assert "trained model" in out and "| phcomp (trained) | 0.01 |" in out and "SZ3" not in out
    assert (tmp_path / "gs.h5").stat().st_size > 0


def test_models_list_and_default(workdir, tmp_path):
    out = run("models", "list").stdout
    assert "field" in out and "sas" in out and "separable" in out and "interp" in out and "3 axes" in out
    rows = json.loads(run("models", "list", "--json").stdout)
    assert {r["role"] for r in rows} == {"field", "field3d", "sas", "sas-coarse"} and all(r["bytes"] < 5e6 for r in rows)
    kinds = {r["role"]: r["kind"] for r in rows}
    assert kinds["sas-coarse"] == "sparse-ae" and kinds["field3d"] == kinds["sas"] == "interp"
    run("compress", workdir / "test.npy", "-o", tmp_path / "d.phc", "--rel", "1e-2")  # no --model: the default
    info = json.loads(run("inspect", tmp_path / "d.phc", "--json").stdout)
    assert info["chunk_headers"][0]["model_id"] == [r for r in rows if r["role"] == "field"][0]["id"]


def test_shipped_roles_as_model_names(tmp_path, no_torch):
    """--model takes a shipped role; the SAS models keep the bound on curves they never saw, and the
    sparse-ae one decodes in a process where torch cannot be imported."""
    from phcomp.data import sas

    curves = sas(n=40, seed=7).log10_intensity
    np.save(tmp_path / "c.npy", curves)
    for role in ("sas", "sas-coarse"):
        out = tmp_path / f"{role}.phc"
        run("compress", tmp_path / "c.npy", "-o", out, "--model", role, "--rel", "1e-2")
        info = json.loads(run("inspect", out, "--json").stdout)
        assert info["chunk_headers"][0]["model_id"] == phcomp.default_model(role).id
    code = no_torch + ("import phcomp.cli\n"
            "sys.exit(phcomp.cli.main(['decompress', sys.argv[1], '-o', sys.argv[2]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "sas-coarse.phc"), str(tmp_path / "b.npy")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    back = np.load(tmp_path / "b.npy")
    assert np.abs(back.astype(np.float64) - curves).max() <= 1e-2 * (curves.max() - curves.min())


def test_train_family_tables_from_several_files(workdir, tmp_path):
    """--family-tables: each input file is a family with its own table set beside the pooled one;
    one file is refused with a message that says how many are needed."""
    rng = np.random.default_rng(0)
    rough = np.cumsum(np.cumsum(rng.standard_normal((2, 16, 16, 16)), axis=-1), axis=-2).astype(np.float32)
    np.save(tmp_path / "rough.npy", rough)
    model = tmp_path / "fam.phcm"
    run("train", workdir / "train.npy", tmp_path / "rough.npy", "-o", model, "--kind", "interp", "--family-tables",
        "--no-install")
    m = phcomp.load_model(model)
    assert m.kind == "interp" and m.decoder.sets == 3  # pooled + one per file
    run("compress", tmp_path / "rough.npy", "-o", tmp_path / "r.phc", "--model", model, "--rel", "1e-3")
    run("decompress", tmp_path / "r.phc", "-o", tmp_path / "r.npy", "--model", model)
    back = np.load(tmp_path / "r.npy")
    assert np.abs(back.astype(np.float64) - rough).max() <= 1e-3 * float(rough.max() - rough.min()) * (1 + 1e-12)
    r = run("train", workdir / "train.npy", "-o", tmp_path / "one.phcm", "--kind", "interp", "--family-tables",
            "--no-install", check=False)
    assert r.returncode != 0 and "family_tables needs 2" in r.stderr and "Traceback" not in r.stderr
