"""The ``phcomp`` command. Nothing imports this module; it only calls the library."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import core
from .core import filefmt
from .core.errors import PhcompError

EPILOG_BOUNDS = ("Bounds follow SZ3: --abs E keeps every value within E; --rel R within R times the value "
                 "range (max - min of the finite values) of the whole input; both: the tighter; "
                 "--abs 0 is lossless; neither: the model's own rate point (no bound).")


def _progress(total: int, desc: str, unit: str = "val"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=None, file=sys.stderr, leave=False)


@contextmanager
def _atomic_output(path: Path, force: bool):
    """A file opened for writing at a temporary beside ``path``, renamed into place only on success."""
    with _atomic_path(path, force) as tmp, open(tmp, "wb") as f:
        yield f


@contextmanager
def _atomic_path(path: Path, force: bool):
    """Yield a temporary path beside ``path`` (file or directory); it replaces ``path`` only on success."""
    import shutil

    if path.exists() and not force:
        raise PhcompError(f"{path} exists; pass --force to overwrite")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")) / path.name
    try:
        yield tmp
        if path.exists():
            old = tmp.parent / (path.name + ".old")
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def _kind(path: str) -> str:
    from .filekinds import detect

    kind = detect(path)
    if kind == "missing":
        raise PhcompError(f"{path} does not exist")
    return "chunk" if kind == "other" else kind


def _convert(a: argparse.Namespace, kind: str, compressing: bool) -> int:
    """HDF5 files and Zarr stores: every float dataset through phcomp (or back to plain)."""
    if kind == "hdf5":
        from . import hdf5 as mod

        fn = mod.compress_file if compressing else mod.decompress_file
    else:
        from . import zarr as mod

        fn = mod.compress_store if compressing else mod.decompress_store
    if not a.output:
        raise PhcompError("-o/--output is required for HDF5 files and Zarr stores")
    out = Path(a.output)
    kw = {}
    if compressing:
        model = _load_model(a.model)
        if model is not None and not a.no_install:
            core.install_model(model)
        chunks = tuple(int(c) for c in a.chunks.split(",")) if a.chunks else None
        kw = dict(model=model, abs=a.abs, rel=a.rel, chunks=chunks, observables=_observables(a.observable))
        if kind == "hdf5":
            kw["threads"] = getattr(a, "threads", None)
    with _atomic_path(out, a.force) as tmp, _progress(None, "compress" if compressing else "decompress") as bar:
        stats = fn(a.input, tmp, progress=bar.update, **kw)
    for key, names in stats.items():
        print(f"{key}: {len(names)} dataset(s)" + (f" ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
                                                   if names else ""))
    size = lambda p: p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    print(f"{a.input} -> {out}: {size(Path(a.input))} -> {size(out)} bytes")
    return 0


def _observables(items: list[str] | None) -> dict | None:
    """--observable energy=1e-5 (relative) | mean=abs:1e-3 | spectrum=rel:1e-2"""
    if not items:
        return None
    out: dict = {}
    for item in items:
        name, sep, tol = item.partition("=")
        if not sep or not name:
            raise PhcompError(f"--observable wants NAME=TOL (e.g. energy=1e-5 or mean=abs:1e-3), got {item!r}")
        kind, _, value = tol.rpartition(":")
        try:
            v = float(value)
        except ValueError:
            raise PhcompError(f"--observable {item!r}: tolerance {value!r} is not a number") from None
        if kind not in ("", "rel", "abs"):
            raise PhcompError(f"--observable {item!r}: kind must be rel or abs")
        spec = out.setdefault(name, {})
        spec[kind or "rel"] = v
    return out


def _load_model(spec: str | None) -> core.Model | None:
    if spec is None:
        return None
    p = Path(spec)
    if p.is_file():
        return core.load_model(p)
    from .zoo import roles

    if spec in roles():  # a shipped role: field, field3d, sas, sas-coarse
        return core.default_model(spec)
    return core.find_model(spec)


def _load_npy(path: str) -> np.ndarray:
    from .npyfile import load_npy

    return load_npy(path)


def cmd_train(a: argparse.Namespace) -> int:
    from .models import train

    arrays = [_load_npy(p) for p in a.inputs]
    opts = {k: v for k, v in (("rank", a.rank), ("groups", a.groups), ("max_blocks", a.max_blocks),
                              ("seed", a.seed), ("step_factor", a.step_factor), ("latent", a.latent),
                              ("hidden", a.hidden), ("depth", a.depth), ("normalize", a.normalize), ("l1", a.l1),
                              ("l1_map", a.l1_map), ("step", a.step),
                              ("epochs", a.epochs), ("device", a.device), ("beta", a.beta), ("lam", a.lam),
                              ("restarts", a.restarts), ("basis", a.basis), ("ndim", a.ndim),
                              ("weights", a.weights), ("family_tables", a.family_tables or None))
            if v is not None}
    if a.observable:
        physics = {}
        for item in a.observable:
            name, _, gamma = item.partition("=")
            try:
                physics[name] = float(gamma) if gamma else float(a.gamma)
            except ValueError:
                raise PhcompError(f"--observable {item!r}: gamma must be a number") from None
        opts["physics"] = physics
    if a.kind in ("linear", "separable") and {"latent", "hidden", "depth", "normalize", "l1", "l1_map", "step", "epochs",
                                              "device", "physics"} & set(opts):
        raise PhcompError("--latent/--hidden/--depth/--normalize/--l1/--l1-map/--step/--epochs/--device/--observable "
                          "are options of "
                          f"--kind sparse-ae (the {a.kind} kind is fitted, not trained by gradient)")
    if a.kind != "interp" and {"ndim", "weights", "family_tables"} & set(opts):
        raise PhcompError("--ndim/--weights/--family-tables are options of --kind interp")
    if a.kind == "interp" and {"groups", "max_blocks", "step_factor", "latent", "hidden", "depth", "normalize", "l1",
                               "l1_map", "step", "epochs", "device", "physics", "basis", "rank"} & set(opts):
        raise PhcompError("--kind interp takes --ndim, --weights, --family-tables and --seed (it has no blocks, latents "
                          "or training loop)")
    if a.kind != "linear" and "rank" in opts:
        raise PhcompError("--rank is an option of --kind linear")
    if a.kind not in ("linear", "separable") and "step_factor" in opts:
        raise PhcompError("--step-factor is an option of --kind linear and separable")
    if a.kind != "separable" and "basis" in opts:
        raise PhcompError("--basis is an option of --kind separable")
    if a.kind != "ved" and {"beta", "lam"} & set(opts):
        raise PhcompError("--beta/--lam are options of --kind ved")
    if a.kind != "sparse-ae" and {"l1", "l1_map", "depth", "normalize", "restarts"} & set(opts):
        raise PhcompError("--l1/--l1-map/--depth/--normalize/--restarts are options of --kind sparse-ae")
    block = tuple(int(b) for b in a.block.split(",")) if a.block else None
    model = train(arrays, kind=a.kind, block=block,
                  meta={"trained_on": [os.path.basename(p) for p in a.inputs]}, **opts)
    out = Path(a.output)
    if out.exists() and not out.is_dir() and not a.force:
        raise PhcompError(f"{out} exists; pass --force to overwrite")
    written = model.save(out)
    msg = f"model {model.id} ({model.kind}, {model.layout}, {model.nbytes} bytes) -> {written}"
    if not a.no_install:
        msg += f"\n  installed in {core.install_model(model)} (decompress finds it by id)"
    print(msg)
    return 0


def cmd_compress(a: argparse.Namespace) -> int:
    kind = _kind(a.input)
    if kind in ("hdf5", "zarr"):
        return _convert(a, kind, True)
    x = _load_npy(a.input)
    if x.dtype.kind != "f":
        raise PhcompError(f"{a.input}: phcomp compresses float32/float64 arrays, not {x.dtype}")
    model = _load_model(a.model)
    if model is not None and not a.no_install:
        core.install_model(model)
    from .npyfile import compress_npy_to

    obs = _observables(a.observable)
    out = Path(a.output or a.input + ".phc")
    with _atomic_output(out, a.force) as f, _progress(x.size, "compress") as bar:
        # --rel is relative to the whole input, not to each chunk
        escalated = compress_npy_to(f, x, model, abs=a.abs, rel=a.rel, observables=obs, chunk_mb=a.chunk_mb,
                                    progress=bar.update)
    if obs:
        print(f"observable checks: {escalated} chunk(s) re-encoded tighter to meet them")
    print(f"{a.input} -> {out}: {x.nbytes} -> {out.stat().st_size} bytes, ratio {x.nbytes / max(out.stat().st_size, 1):.2f}")
    return 0


def cmd_decompress(a: argparse.Namespace) -> int:
    kind = _kind(a.input)
    if kind in ("hdf5", "zarr"):
        return _convert(a, kind, False)
    model = _load_model(a.model)
    src = Path(a.input)
    out = Path(a.output or (a.input[:-4] if a.input.endswith(".phc") else a.input) + ("" if a.output else ".npy"))
    if filefmt.is_phc_file(src):
        rd = filefmt.FileReader(src)
        with _atomic_output(out, a.force) as f, _progress(int(np.prod(rd.shape)), "decompress") as bar:
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(rd.dtype),
                                                     "fortran_order": False, "shape": rd.shape})
            for e, blob in rd.chunks():
                f.write(core.decompress(blob, model, progress=bar.update).tobytes())
    else:
        arr = core.decompress(src.read_bytes(), model)
        with _atomic_output(out, a.force) as f:
            np.save(f, arr)
    print(f"{src} -> {out}")
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    src = Path(a.input)
    if filefmt.is_phc_file(src):
        rd = filefmt.FileReader(src)
        chunks = [core.inspect_chunk(blob) for _, blob in rd.chunks()]
        raw = int(np.prod(rd.shape)) * rd.dtype.itemsize
        info = {"file": str(src), "shape": list(rd.shape), "dtype": str(rd.dtype), "chunks": len(chunks),
                "bytes": src.stat().st_size, "ratio": raw / max(src.stat().st_size, 1), "chunk_headers": chunks}
    else:
        info = core.inspect_chunk(src.read_bytes())
    if a.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def _print_info(info: dict, indent: str = "") -> None:
    for k, v in info.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for i, sub in enumerate(v):
                print(f"{indent}chunk {i}:")
                _print_info(sub, indent + "  ")
        elif isinstance(v, dict):
            print(f"{indent}{k}: " + ", ".join(f"{kk}={vv}" for kk, vv in v.items()))
        elif isinstance(v, float):
            print(f"{indent}{k}: {v:.6g}")
        else:
            print(f"{indent}{k}: {v}")


def cmd_bench(a: argparse.Namespace) -> int:
    from .bench import format_table, run_bench

    x = np.load(a.input, allow_pickle=False)
    model = _load_model(a.model) or core.default_model("field")
    rows = run_bench(x, model, rels=a.rel, repeat=a.repeat, peers=not a.no_peers)
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0


DATA_SIZES = {
    "grayscott3d": {"small": dict(n=32, snapshots=2), "medium": dict(n=64, snapshots=8), "large": dict(n=128, snapshots=8)},
    "turb2d": {"small": dict(n=64, snapshots=4), "medium": dict(n=128, snapshots=8), "large": dict(n=256, snapshots=16)},
    "darcy2d": {"small": dict(n=32, count=64), "medium": dict(n=64, count=512), "large": dict(n=64, count=2000)},
    "sas": {"small": dict(n=512), "medium": dict(n=4096), "large": dict(n=32768)},
    "turb3d": {"small": dict(n=32, snapshots=2), "medium": dict(n=64, snapshots=8), "large": dict(n=128, snapshots=8)},
    "scalar3d": {"small": dict(n=32, snapshots=2), "medium": dict(n=64, snapshots=8), "large": dict(n=128, snapshots=8)},
    "wave3d": {"small": dict(n=32, snapshots=2), "medium": dict(n=64, snapshots=8), "large": dict(n=128, snapshots=8)},
}


def cmd_data(a: argparse.Namespace) -> int:
    from . import data

    kw = dict(DATA_SIZES[a.name][a.size], seed=a.seed)
    out = Path(a.output)
    extra: dict[str, np.ndarray] = {}
    with _progress(None, a.name, unit="step") as bar:
        result = getattr(data, a.name)(progress=bar.update, **kw)
    if a.name == "darcy2d":
        arr, extra["logk"] = result
    elif a.name == "sas":
        arr, extra["labels"], extra["q"] = result.log10_intensity, result.labels, result.q
    else:
        arr = result
    stem = out.with_suffix("") if out.suffix == ".npy" else out
    for key, value in extra.items():  # companions first: the main file appearing means all are there
        with _atomic_output(Path(f"{stem}.{key}.npy"), a.force) as f:
            np.save(f, value)
    with _atomic_output(out, a.force) as f:
        np.save(f, arr)
    more = "".join(f", {stem}.{k}.npy" for k in extra)
    print(f"{a.name} {arr.shape} {arr.dtype} -> {out}{more}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    """Simulate, compress with the shipped default model, write/read an HDF5 file, compare with peers."""
    import tempfile

    import h5py

    from . import hdf5
    from .bench import format_table, run_bench
    from .data import grayscott3d

    sizes = {"small": (32, 4), "medium": (64, 8)}
    n, snaps = sizes[a.size]
    # seed 0: the shipped models were trained on seed 100, so this is data they never saw
    with _progress(8000, f"simulating Gray-Scott {n}^3", unit="step") as bar:
        d = grayscott3d(n=n, snapshots=snaps, seed=0, progress=bar.update)
    train_part, test_part = d[0::2], d[1::2]
    model = _load_model(a.model)
    print(f"model {a.model}: {model.id} ({model.kind}, {model.layout}, "
          f"{model.nbytes / 1e6:.2f} MB, trained on {model.meta.get('trained_on', '?')})")
    print(f"data: Gray-Scott U, {test_part.shape} {test_part.dtype} ({test_part.nbytes / 1e6:.1f} MB), seed 0")

    # the simulation's output step: an HDF5 file through the filter, read back with plain h5py
    rel = a.rel[min(1, len(a.rel) - 1)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(a.output) if a.output else Path(tmp) / "grayscott.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("U", data=test_part, chunks=(1,) + test_part.shape[1:], **hdf5.Phcomp(model, rel=rel))
        with h5py.File(path, "r") as f:
            back = f["U"][...]
            stored = f["U"].id.get_storage_size()
        err = float(np.abs(back.astype(np.float64) - test_part).max())
        bound = rel * float(test_part.max() - test_part.min())
        size = path.stat().st_size
        print(f"HDF5: wrote {path if a.output else path.name} at rel {rel:g}: dataset x{test_part.nbytes / max(stored, 1):.1f}, "
              f"file {size / 1e6:.2f} MB (x{test_part.nbytes / size:.1f}: it holds the {model.nbytes / 1e6:.2f} MB model "
              f"once, whatever the data's size); read back with h5py: "
              f"max error {err:.3g} <= bound {bound:.3g}: {'yes' if err <= bound else 'NO'}")
        if err > bound:
            return 1

    rows = run_bench(test_part, model, rels=a.rel, repeat=a.repeat, peers=not a.no_peers)
    for r in rows:
        if r["codec"] == "phcomp":
            r["codec"] = f"phcomp ({a.model})"
    if a.train:
        from .models import train

        kind = "interp" if model.kind == "interp" else "separable"  # the fitted kinds train in seconds
        own = train(train_part, kind=kind, meta={"trained_on": f"grayscott3d {n}^3 even snapshots"})
        print(f"trained model {own.id} ({own.kind}, {own.layout}, "
              f"{own.nbytes / 1e6:.2f} MB) on the even snapshots {train_part.shape}")
        extra = run_bench(test_part, own, rels=a.rel, repeat=a.repeat, peers=False)
        for r in extra:
            r["codec"] = "phcomp (trained)"
        rows = extra + rows
    print(format_table(rows))
    return 0


def cmd_hdf5_plugin_path(a: argparse.Namespace) -> int:
    path = Path(__file__).parent / "hdf5_plugin"
    if not (path / "libh5phcomp.so").is_file():
        raise PhcompError(f"the compiled HDF5 plugin is missing from {path} (reinstall phcomp with a C compiler)")
    print(path)
    return 0


def cmd_diagnose(a: argparse.Namespace) -> int:
    from .physics.alignment import diagnose

    model = _load_model(a.model)
    result = diagnose(model, np.load(a.data, allow_pickle=False), a.observable, k=a.k, points=a.points, rel=a.rel)
    if a.json:
        print(json.dumps({k: v for k, v in result.__dict__.items() if k != "spectra"}, indent=2))
    else:
        print(result.table())
    if a.plot:
        result.plot(a.plot)
        print(f"plot -> {a.plot}")
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    from .zoo import list_models

    rows = list_models()
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    wr = max((len(r["role"]) for r in rows), default=0)
    wb = max((len(r["layout"]) for r in rows), default=0)
    for r in rows:
        print(f"{r['role']:{wr}s} {r['id']}  {r['kind']:9s} {r['layout']:{wb}s} "
              f"{r['bytes'] / 1e6:5.2f} MB  {r['trained_on']}")
    return 0


def cmd_archive(a: argparse.Namespace) -> int:
    from . import archive

    if a.action == "compress":
        opts = archive.Options(model=a.model, abs=a.abs, rel=a.rel, observables=_observables(a.observable),
                               only_arrays=a.only_arrays, delete_originals=a.delete_originals)
        s = archive.compress_archive(a.src, a.dst, opts, task_index=a.task_index, task_count=a.task_count,
                                     progress=not a.quiet)
        print(f"task {s['task']}: {s['share']} item(s) in its share, {s['already_done']} already done; "
              f"now {s['done']} compressed, {s['copied']} copied, {s['skipped']} skipped, {s['failed']} failed; "
              f"{s['bytes_in']} -> {s['bytes_out']} bytes (ratio {s['ratio']:.2f}) in {s['seconds']:.1f} s")
        return 1 if s["failed"] else 0
    if a.action == "status":
        st = archive.status(a.dst)
        if a.json:
            print(json.dumps(st, indent=1))
            return 0
        print(f"{a.dst} (archive of {st['src']}): {st['items']} item(s): {st['done']} compressed, {st['copied']} copied, "
              f"{st['skipped']} skipped, {st['failed']} failed, {st['pending']} pending")
        print(f"bytes {st['bytes_in']} -> {st['bytes_out']} (saved {st['bytes_saved']}), ratio {st['ratio']:.2f} "
              f"(compressed files alone {st['compressed_ratio']:.2f}); largest error / bound {st['max_error_over_bound']:.3f}")
        for path, reason in st["failed_items"]:
            print(f"  failed: {path}: {reason}")
        return 0
    if a.action == "verify":
        v = archive.verify(a.dst, progress=not a.quiet)
        for path, why in v["bad"]:
            print(f"  BAD {path}: {why}")
        print(f"verified {v['checked']} item(s), {len(v['bad'])} bad")
        return 1 if v["bad"] else 0
    if a.action == "sample":
        info = archive.sample(a.src, a.output, ndim=a.ndim, max_mb=a.max_mb, seed=a.seed)
        print(f"{a.output}: {info['items']} slice(s) of {info['arrays']} array(s), shape {tuple(info['shape'])}; "
              f"train on it with: phcomp train {a.output} --kind interp --ndim {a.ndim} -o model.phcm")
        return 0
    out = archive.report(a.dst, a.output)
    print(f"report written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="phcomp", description=(
        "phcomp: learned, error-bounded compression of scientific arrays. Train a model on sample "
        "data, compress .npy arrays into .phc files with a guaranteed pointwise bound, read them back "
        "bit-exactly anywhere (decoding needs only numpy, constriction and zstandard)."))
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model on .npy arrays", description=(
        "Fit a model to one or more .npy arrays (their trailing dims are cut into blocks) and write "
        "it as a .phcm model file. The model is also installed in the user cache so that "
        "'phcomp decompress' finds it by the id recorded in each chunk."))
    t.add_argument("inputs", nargs="+", help=".npy training arrays")
    t.add_argument("-o", "--output", required=True, help="model file (or directory: <id>.phcm inside)")
    t.add_argument("--kind", default="linear", choices=["linear", "separable", "interp", "sparse-ae", "ved"],
                   help="linear: block PCA (numpy, seconds); separable: one basis per axis over large blocks "
                   "(numpy, seconds; smooth fields: docs/families.md); interp: multilevel interpolation with trained "
                   "weights and context tables (numpy, seconds; smooth volumes at tight bounds); "
                   "sparse-ae: sparse L1 autoencoder (torch); "
                   "ved: variational encoder-decoder with a dense latent (torch) (default linear)")
    t.add_argument("--block", help="block shape over the trailing dims, e.g. 8,8,8 (default: 8^3 for volumes, "
                   "16x16 for images, 64 for 1-D; separable: 16^3, 64x64, 256)")
    t.add_argument("--basis", choices=["dct", "pca"], help="separable: per-axis basis, the DCT-II or the "
                   "eigenvectors of the training data along each axis (default dct)")
    t.add_argument("--ndim", type=int, help="interp: trailing axes interpolated, the others are independent items "
                   "(default: the length of --block, else min(3, ndim of the data))")
    t.add_argument("--weights", choices=["auto", "fit", "lagrange"], help="interp: interpolation weights fitted per "
                   "stride (least absolute deviation), the 7th-order Lagrange ones, or auto: whichever codes the "
                   "training data shorter (default auto)")
    t.add_argument("--family-tables", action="store_true", help="interp: each input file is one family of "
                   "physics and gets its own table set beside the pooled one; the encoder picks the cheapest set "
                   "per item group (2 to 15 inputs; docs/defaults.md)")
    t.add_argument("--rank", type=int, help="latent size (default: full rank = block size)")
    t.add_argument("--groups", type=int, help="channel groups with their own entropy tables (default 32)")
    t.add_argument("--max-blocks", type=int, help="training blocks sampled (default 200000)")
    t.add_argument("--step-factor", type=float, help="latent step as a multiple of 2*eps (default 1.0)")
    t.add_argument("--seed", type=int, help="sampling / initialisation seed (default 0)")
    t.add_argument("--latent", type=int, help="sparse-ae: latent size, >= block size (default: block size); "
                   "ved: latent size r (default 16)")
    t.add_argument("--beta", type=float, help="ved: weight of the KL term (default 1e-3)")
    t.add_argument("--lam", type=float, help="ved: weight of the aggregate-posterior covariance penalty (default 1e-2)")
    t.add_argument("--hidden", type=int, help="sparse-ae: hidden layer width (default 256)")
    t.add_argument("--depth", type=int, help="sparse-ae: hidden ReLU layers of the decoder, 1..4 (default 2)")
    t.add_argument("--normalize", choices=["fixed", "chunk"],
                   help="sparse-ae: value map onto [-1, 1]: fixed = the training range for every chunk (default; a "
                   "nonlinear decoder knows only that range), chunk = each chunk's own range")
    t.add_argument("--l1", type=float, help="sparse-ae: L1 penalty lambda on the latent map f(z / step) (default 1e-3); "
                   "higher: fewer nonzero latents, lower rate")
    t.add_argument("--l1-map", choices=["identity", "group"], help="sparse-ae: structured latent map f (default identity)")
    t.add_argument("--step", type=float, help="sparse-ae: latent quantiser step, the model's rate point (default 0.02)")
    t.add_argument("--epochs", type=int, help="sparse-ae: maximum epochs, early stopping on a validation split (default 60)")
    t.add_argument("--device", help="sparse-ae: torch device (default cuda when available, else cpu)")
    t.add_argument("--restarts", type=int, help="sparse-ae: train this many times from seeds SEED, SEED+1, ... and keep "
                   "the one with the lowest validation objective (default 1; training can settle in poor optima)")
    t.add_argument("--observable", action="append", metavar="NAME[=GAMMA]",
                   help="sparse-ae: physics-informed training, adds GAMMA*sum||O(decoded)-O(x)||^2/sum||O(x)||^2 over blocks "
                   "for a differentiable observable (energy, mean, sum, gradient_energy, spectrum, ...); repeatable")
    t.add_argument("--gamma", type=float, default=0.1, help="weight of --observable terms given without =GAMMA (default 0.1)")
    t.add_argument("--no-install", action="store_true", help="do not copy the model into the user cache")
    t.add_argument("--force", action="store_true", help="overwrite an existing model file")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("compress", help="compress a .npy array, an HDF5 file or a Zarr store", epilog=EPILOG_BOUNDS,
                       description="Compress a .npy array (memory-mapped, streamed in chunks along axis 0) into a .phc "
                       "file; or copy an HDF5 file (.h5, .nc) or a Zarr store, compressing every float dataset "
                       "with phcomp (groups, attributes, dimension scales / names kept; the model stored inside; "
                       "small datasets and coordinates copied exactly). --rel is relative to each whole array. "
                       "Everything streams slab by slab, so inputs larger than memory work. Output is written to "
                       "a temporary and renamed into place when complete.")
    c.add_argument("input", help=".npy array (float32/float64), HDF5 file or Zarr store")
    c.add_argument("-o", "--output", help="output (.phc default: INPUT.phc; required for HDF5/Zarr)")
    c.add_argument("--chunks", help="HDF5/Zarr chunk shape, e.g. 1,64,64,64 (default: kept if sensible, else ~4 MiB)")
    c.add_argument("--threads", type=int, help="HDF5: chunks encoded at once (default: PHCOMP_THREADS, else every "
                   "core; the output decodes the same whatever the count)")
    c.add_argument("--observable", action="append", metavar="NAME=TOL",
                   help="observable checked on every chunk: energy=1e-5 (relative), mean=abs:1e-3, spectrum=rel:1e-2; "
                   "repeatable. A chunk that fails is re-encoded tighter, finally losslessly. Known: mean, sum, energy, "
                   "min, max, gradient_energy, spectrum, guinier_rg, porod_invariant (and entry points)")
    c.add_argument("--model", help="model file (.phcm) or model id (default: the shipped field model; see phcomp models list)")
    c.add_argument("--abs", type=float, help="absolute error bound")
    c.add_argument("--rel", type=float, help="error bound relative to the value range")
    c.add_argument("--chunk-mb", type=float, default=64.0, help="uncompressed MiB per chunk (default 64)")
    c.add_argument("--no-install", action="store_true", help="do not copy the model into the user cache")
    c.add_argument("--force", action="store_true", help="overwrite the output")
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", help="decompress a .phc file, a chunk, an HDF5 file or a Zarr store",
                       description="Decode a .phc file or a single chunk back to .npy, or turn a phcomp HDF5 file / "
                       "Zarr store back into a plain one (no phcomp needed to read it). The model is found by the "
                       "id in each chunk: in-process, PHCOMP_MODEL_PATH directories, the user cache, the shipped "
                       "models, then inside the file or store; --model names it explicitly.")
    d.add_argument("input", help=".phc file, one raw chunk, HDF5 file or Zarr store")
    d.add_argument("-o", "--output", help="output .npy (default: INPUT without .phc, plus .npy)")
    d.add_argument("--model", help="model file (.phcm) or id")
    d.add_argument("--force", action="store_true", help="overwrite the output")
    d.set_defaults(func=cmd_decompress)

    i = sub.add_parser("inspect", help="show the header of a .phc file or chunk",
                       description="Print format version, model id, shape, dtype, mode, bound, latent coder "
                       "and the size of every section, per chunk.")
    i.add_argument("input", help="a .phc file written by 'phcomp compress', or one raw chunk (bytes from phcomp.compress)")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_inspect)

    b = sub.add_parser("bench", help="compare phcomp with SZ3, ZFP and zstd on one array",
                       description="Run phcomp, SZ3 (pysz), ZFP (zfpy, fixed accuracy) and zstd on the same array "
                       "in one run: ratio, bits/value, max error/range, PSNR, compress/decompress MB/s (warm-up, "
                       "median of --repeat runs) and peak memory (tracemalloc, as a multiple of the array size). "
                       "Peers missing from the environment are skipped with a note (pip install .[bench]).")
    b.add_argument("input", help=".npy array")
    b.add_argument("--model", help="model file (.phcm) or id (default: the shipped field model)")
    b.add_argument("--rel", type=float, nargs="+", default=[1e-3], help="relative bounds (default 1e-3)")
    b.add_argument("--repeat", type=int, default=3, help="timed runs per codec (median reported)")
    b.add_argument("--no-peers", action="store_true", help="phcomp only")
    b.add_argument("--json", action="store_true", help="print rows as JSON")
    b.set_defaults(func=cmd_bench)

    m = sub.add_parser("demo", help="simulate, compress with the shipped model, compare with SZ3/ZFP/zstd",
                       description="The main job in one command: simulate 3-D Gray-Scott (seed 0, data the shipped "
                       "models never saw), write the odd snapshots to an HDF5 file through the phcomp filter with "
                       "a shipped model (field3d: the volume default) and read them back with h5py (bound checked), then "
                       "compress them at each --rel and print ratio, max error, PSNR and speeds next to SZ3, ZFP "
                       "and zstd (when installed). --train also fits a model of the same kind (interp, or separable for "
                       "block models) on the even snapshots.")
    m.add_argument("--size", choices=["small", "medium"], default="medium", help="small: 32^3, medium: 64^3 (default)")
    m.add_argument("--rel", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4], help="relative bounds")
    m.add_argument("--repeat", type=int, default=3, help="timed runs per codec (median reported)")
    m.add_argument("--no-peers", action="store_true", help="phcomp only")
    m.add_argument("--model", default="field3d",
                   help="shipped role (field3d: interpolation over volumes, default; field: 64x64 blocks, volumes read "
                   "as slices), "
                   "model id or .phcm file")
    m.add_argument("--train", action="store_true",
                   help="also train a model on the even snapshots and compare (interp for an interp model, else "
                   "separable with 16^3 blocks)")
    m.add_argument("-o", "--output", help="keep the HDF5 file here (default: a temporary file, removed)")
    m.set_defaults(func=cmd_demo)

    dg = sub.add_parser("diagnose", help="alignment diagnostic: rate vs observable vs distortion",
                        description="Segui & Armour's alignment diagnostic. At sampled operating points (encoded blocks "
                        "of DATA) compute three latent-space sensitivity matrices: rate (Fisher proxy of -log p under the "
                        "model's entropy tables), observable (J_O^T J_O through the decoder) and distortion (J_D^T J_D); "
                        "print the overlaps ||U_A^T U_B||_F^2 / k of their dominant k-eigenspaces (1: aligned, the "
                        "observable is kept for free; 0: a hard trade-off) and save a plot.")
    dg.add_argument("model", help="model file (.phcm) or id")
    dg.add_argument("data", help=".npy array to take operating points from")
    dg.add_argument("--observable", required=True, help="observable name (see phcomp.observables)")
    dg.add_argument("--k", type=int, default=4, help="eigenspace dimension (default 4)")
    dg.add_argument("--points", type=int, default=32, help="operating points sampled (default 32)")
    dg.add_argument("--rel", type=float, default=1e-3, help="bound that sets the latent step of scaled models (default 1e-3)")
    dg.add_argument("--plot", help="save a PNG: overlaps and eigenvalue spectra")
    dg.add_argument("--json", action="store_true")
    dg.set_defaults(func=cmd_diagnose)

    ml = sub.add_parser("models", help="list the shipped default models",
                        description="The models shipped with phcomp: role (field: gridded fields, the default of "
                        "compress; sas: SAS curves as log10 I), id, kind, block, size and training data. Retrain them "
                        "with python -m phcomp.zoo.train_defaults.")
    ml.add_argument("action", choices=["list"], help="what to do (list)")
    ml.add_argument("--json", action="store_true")
    ml.set_defaults(func=cmd_models)

    h = sub.add_parser("hdf5-plugin-path", help="print the directory of the compiled HDF5 filter plugin",
                       description="Print the directory holding libh5phcomp.so. Set HDF5_PLUGIN_PATH to it and any HDF5 "
                       "program (h5dump, h5py without `import phcomp`, netCDF-C, ParaView) reads phcomp datasets: "
                       "export HDF5_PLUGIN_PATH=$(phcomp hdf5-plugin-path)")
    h.set_defaults(func=cmd_hdf5_plugin_path)

    ar = sub.add_parser("archive", help="compress a whole archive, verified and resumable (SLURM arrays, MPI)",
                        description=(
        "Compress every HDF5 / netCDF-4 file, Zarr store and .npy array under SRC into a twin under DST "
        "(same relative path; x.npy becomes x.npy.phc); other files are copied. Each twin is written to a "
        "temporary, verified by decoding it in full (bound on every value, observables, shapes, dtypes, "
        "attributes, dimension scales), renamed, then recorded in DST/.phcomp-archive/manifest-*.jsonl. "
        "Rerunning the same command after a kill finishes the rest. In a SLURM job array each task takes "
        "its share (SLURM_ARRAY_TASK_ID / _COUNT); under srun / mpiexec each rank does."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    asub = ar.add_subparsers(dest="action", required=True, metavar="ACTION")
    ac = asub.add_parser("compress", help="compress SRC into DST (this task's share)", epilog=EPILOG_BOUNDS)
    ac.add_argument("src", help="directory of originals")
    ac.add_argument("dst", help="directory of the compressed twins (created)")
    ac.add_argument("--model", help="a .phcm file, a shipped role (field, field3d, sas) or a model id; "
                                    "default: the shipped default models")
    ac.add_argument("--abs", type=float, help="absolute error bound")
    ac.add_argument("--rel", type=float, help="bound relative to each array's value range")
    ac.add_argument("--observable", action="append", metavar="NAME=TOL",
                    help="observable every chunk must keep (e.g. energy=1e-5, mean=abs:1e-3); repeatable")
    ac.add_argument("--only-arrays", action="store_true", help="skip files that are not arrays (recorded as skipped)")
    ac.add_argument("--delete-originals", action="store_true",
                    help="delete each original after its twin is verified and recorded (never by default)")
    ac.add_argument("--task-index", type=int, help="this task's index (default: SLURM_ARRAY_TASK_ID, else 0)")
    ac.add_argument("--task-count", type=int, help="number of tasks (default: SLURM_ARRAY_TASK_COUNT, else 1)")
    ac.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ast = asub.add_parser("status", help="done / failed / pending, total ratio and bytes saved")
    ast.add_argument("dst")
    ast.add_argument("--json", action="store_true", help="print the status as JSON")
    av = asub.add_parser("verify", help="re-check every twin's checksum and decode it in full")
    av.add_argument("dst")
    av.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    arp = asub.add_parser("report", help="plot ratio and bytes before/after per file (PNG)")
    arp.add_argument("dst")
    arp.add_argument("-o", "--output", help="PNG path (default DST/.phcomp-archive/report.png)")
    asa = asub.add_parser("sample", help="a training sample of the archive's float arrays (.npy for phcomp train)")
    asa.add_argument("src")
    asa.add_argument("-o", "--output", required=True, help=".npy file to write")
    asa.add_argument("--ndim", type=int, default=3, help="trailing dimensions of each slice (default 3)")
    asa.add_argument("--max-mb", type=float, default=64.0, help="size of the sample (default 64 MiB)")
    asa.add_argument("--seed", type=int, default=0)
    ar.set_defaults(func=cmd_archive)

    g = sub.add_parser("data", help="generate test data (.npy)", description=(
        "Deterministic generators of test data (seeded; nothing is downloaded). grayscott3d: 3-D Gray-Scott "
        "reaction-diffusion, U field, snapshots. turb2d: 2-D decaying Navier-Stokes vorticity (pseudo-spectral). "
        "darcy2d: steady Darcy pressure over log-normal permeability (also writes OUT.logk.npy). sas: small-angle "
        "scattering curves from sasmodels as log10 I (also OUT.labels.npy with the shape index and OUT.q.npy). "
        "turb3d: 3-D decaying Navier-Stokes, x velocity. scalar3d: a passive scalar stirred by a 3-D ABC flow. "
        "wave3d: acoustic waves from point sources in a layered 3-D medium."),
        epilog="sizes: " + "; ".join(f"{k}: " + ", ".join(f"{s}={v}" for s, v in d.items()) for k, d in DATA_SIZES.items()))
    g.add_argument("name", choices=sorted(DATA_SIZES), help="data set")
    g.add_argument("-o", "--output", required=True, help="output .npy")
    g.add_argument("--size", choices=["small", "medium", "large"], default="medium", help="see below (default medium)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--force", action="store_true")
    g.set_defaults(func=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PhcompError as e:
        print(f"phcomp: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
