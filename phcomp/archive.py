"""``phcomp archive``: compress a tree of finished runs, verified, resumable, shared between tasks.

Every HDF5 / netCDF-4 file, Zarr store and .npy array under SRC gets a compressed twin under
DST at the same relative path (a .npy becomes ``<name>.npy.phc``); other files are copied as
they are (or skipped with ``only_arrays``). Each twin is written to a temporary beside its
final name, **verified** (decoded in full: every value within its bound, observables per chunk
if asked, shapes, dtypes, attributes and dimension scales), renamed into place, and only then
recorded in the manifest: JSON lines in ``DST/.phcomp-archive/``, one file per task, each line
fsync'd. A rerun after a kill (SIGKILL at any moment) skips what a manifest records as done
and redoes everything else: a half-written temporary is never taken for done, and a twin that
was renamed but not yet recorded is simply written again. Originals are deleted
(``delete_originals``) only after their line is on disk.

Tasks (SLURM array tasks, MPI ranks, or ``task_index`` / ``task_count``) take deterministic
shares balanced by bytes: largest files first, each to the least-loaded task. Files already
recorded stay in the listing (from the manifests), so shares do not move when originals
are deleted between runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import core
from .core.errors import PhcompError
from .filekinds import detect, is_zarr

STATE_DIR = ".phcomp-archive"
CONFIG = "config.json"
PARTIAL = ".phcomp-partial"  # suffix of a twin being written (never a finished one)
DONE = ("done", "copied", "skipped")  # statuses a rerun does not redo
ARRAY_KINDS = ("hdf5", "zarr", "npy")


@dataclass
class Options:
    model: str | None = None  # a .phcm path, a shipped role or a model id; None: the defaults
    abs: float | None = None
    rel: float | None = None
    observables: dict | None = None
    only_arrays: bool = False
    delete_originals: bool = False


@dataclass
class Item:
    path: str  # relative to SRC, "/"-separated
    kind: str  # hdf5, zarr, npy, other
    nbytes: int


@dataclass
class Record:
    path: str
    status: str  # done, copied, skipped, failed
    kind: str
    output: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    ratio: float = 0.0
    max_error_over_bound: float = 0.0  # the largest |error| / bound over the compressed arrays
    arrays: int = 0  # arrays compressed
    sha256_in: str = ""
    sha256_out: str = ""
    model: str = ""
    seconds: float = 0.0
    reason: str = ""
    task: str = ""
    host: str = field(default_factory=socket.gethostname)
    finished: float = field(default_factory=time.time)
    deleted_original: bool = False


# --- listing and shares --------------------------------------------------------------------

def tree_bytes(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.exists() else 0


def scan(src: str | os.PathLike) -> list[Item]:
    """Every file under ``src`` (a Zarr store counts as one item), sorted by path."""
    root = Path(src)
    if not root.is_dir():
        raise PhcompError(f"{src} is not a directory")
    items: list[Item] = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if d.name == STATE_DIR:
            dirnames[:] = []
            continue
        for name in list(dirnames):
            if is_zarr(d / name):
                dirnames.remove(name)
                items.append(Item((d / name).relative_to(root).as_posix(), "zarr", tree_bytes(d / name)))
        for name in filenames:
            p = d / name
            if name.endswith(PARTIAL):
                continue
            try:
                kind = detect(p)
                kind = "other" if kind == "missing" else kind  # a dangling link: fails when read
                size = p.stat().st_size
            except OSError:  # unreadable or a dangling link: listed, and recorded as failed
                kind, size = "other", 0
            items.append(Item(p.relative_to(root).as_posix(), kind, size))
    return sorted(items, key=lambda i: i.path)


def share(items: list[Item], index: int, count: int) -> list[Item]:
    """Task ``index`` of ``count``'s items: largest first, each to the least-loaded task
    (ties to the lower task), so every task computes the same split from the same listing."""
    if not 0 <= index < count:
        raise PhcompError(f"task index {index} outside 0..{count - 1}")
    load = [0] * count
    mine = []
    for it in sorted(items, key=lambda i: (-i.nbytes, i.path)):
        t = min(range(count), key=lambda k: (load[k], k))
        load[t] += max(it.nbytes, 1)
        if t == index:
            mine.append(it)
    return sorted(mine, key=lambda i: i.path)


def task_from_env(index: int | None, count: int | None) -> tuple[int, int]:
    """(index, count): explicit values, else SLURM array variables, times MPI ranks when run
    under mpiexec / srun (each rank its own share; no MPI library needed)."""
    env = os.environ
    if index is None:
        index = int(env.get("SLURM_ARRAY_TASK_ID", 0)) - int(env.get("SLURM_ARRAY_TASK_MIN", 0))
    if count is None:
        count = int(env.get("SLURM_ARRAY_TASK_COUNT", 1))
    rank, size = 0, 1
    for r, s in (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                 ("PMIX_RANK", "PMIX_SIZE")):
        if r in env and s in env:
            rank, size = int(env[r]), int(env[s])
            break
    else:
        if "SLURM_STEP_ID" in env and "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
            rank, size = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
    return index * size + rank, count * size


# --- manifests -----------------------------------------------------------------------------

def state_dir(dst: str | os.PathLike) -> Path:
    return Path(dst) / STATE_DIR


def read_records(dst: str | os.PathLike) -> dict[str, Record]:
    """The latest record of every path over all tasks' manifests (a torn last line is ignored)."""
    latest: dict[str, Record] = {}
    d = state_dir(dst)
    if not d.is_dir():
        return latest
    names = set(Record.__dataclass_fields__)
    for f in sorted(d.glob("manifest-*.jsonl")):
        for line in f.read_text().splitlines():
            try:
                raw = json.loads(line)
                rec = Record(**{k: v for k, v in raw.items() if k in names})
            except (ValueError, TypeError):
                continue  # a line cut by a kill: that item simply is not done
            old = latest.get(rec.path)
            if old is None or rec.finished >= old.finished:
                latest[rec.path] = rec
    return latest


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_record(manifest: Path, rec: Record) -> None:
    with open(manifest, "a") as f:
        f.write(json.dumps(asdict(rec), sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


# --- checksums -----------------------------------------------------------------------------

def checksum(p: Path) -> str:
    """sha256 of a file, or of a directory tree (relative paths and contents, in sorted order)."""
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


# --- one item ------------------------------------------------------------------------------

def twin_name(item: Item) -> str:
    return item.path + ".phc" if item.kind == "npy" else item.path


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def _copy(src: Path, tmp: Path) -> None:
    """An exact copy, checked against the original's checksum."""
    if src.is_dir():
        shutil.copytree(src, tmp)
    else:
        shutil.copy2(src, tmp)
    _fsync_tree(tmp)
    if checksum(tmp) != checksum(src):
        raise PhcompError("copy differs from the original")


def _compress_item(src: Path, tmp: Path, kind: str, model, opts: Options) -> int:
    """Write the twin of ``src`` at ``tmp``; returns how many arrays were compressed."""
    if kind == "hdf5":
        from .hdf5 import compress_file

        stats = compress_file(src, tmp, model, abs=opts.abs, rel=opts.rel, observables=opts.observables)
        return len(stats["compressed"])
    if kind == "zarr":
        from .zarr import compress_store

        stats = compress_store(src, tmp, model, abs=opts.abs, rel=opts.rel, observables=opts.observables)
        return len(stats["compressed"])
    from .npyfile import compress_npy_to, load_npy

    x = load_npy(src)
    with open(tmp, "wb") as f:
        compress_npy_to(f, x, model, abs=opts.abs, rel=opts.rel, observables=opts.observables)
        f.flush()
        os.fsync(f.fileno())
    return 1


def _fsync_tree(p: Path) -> None:
    for f in ([p] if p.is_file() else [x for x in p.rglob("*") if x.is_file()]):
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def process(src_root: Path, dst_root: Path, item: Item, opts: Options, model, task: str) -> Record:
    """Compress (or copy), verify, rename, in that order; never raises for a bad input."""
    from .archive_verify import verify_twin

    t0 = time.time()
    src = src_root / item.path
    rec = Record(path=item.path, status="failed", kind=item.kind, task=task, bytes_in=item.nbytes)
    out = dst_root / twin_name(item)
    tmp = out.with_name(out.name + PARTIAL)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)  # a temporary left by a killed run is never trusted
        rec.sha256_in = checksum(src)
        if item.kind in ARRAY_KINDS:
            rec.arrays = _compress_item(src, tmp, item.kind, model, opts)
            if rec.arrays == 0:
                raise PhcompError("no floating-point arrays phcomp compresses (integers only, or arrays too "
                                  "small): nothing to compress; copy it as it is if you want it in the archive")
            _fsync_tree(tmp)
            rec.max_error_over_bound = verify_twin(src, tmp, item.kind, opts)
            rec.model = model.id if model is not None else "default"
            rec.status = "done"
            if tree_bytes(tmp) >= item.nbytes:  # tiny files: the model stored inside outweighs the gain
                _remove(tmp)
                _copy(src, tmp)
                rec.status, rec.max_error_over_bound, rec.model = "copied", 0.0, ""
                rec.reason = "compressed twin was not smaller than the original: copied as it is"
        elif opts.only_arrays:
            rec.status, rec.reason = "skipped", "not an array file (--only-arrays)"
            rec.seconds = time.time() - t0
            return rec
        else:
            _copy(src, tmp)
            rec.status = "copied"
        rec.sha256_out = checksum(tmp)
        rec.bytes_out = tree_bytes(tmp)
        rec.ratio = rec.bytes_in / max(rec.bytes_out, 1)
        if out.exists():  # a twin renamed by a killed run before its record: replaced
            _remove(out)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
        rec.output = twin_name(item)
    except (PhcompError, OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        rec.status = "failed"
        rec.reason = f"{type(e).__name__}: {e}"[:500]
        _remove(tmp)
    rec.seconds = time.time() - t0
    return rec


# --- the command ---------------------------------------------------------------------------

def _model(spec: str | None):
    if spec is None:
        return None
    p = Path(spec)
    if p.is_file():
        return core.load_model(p)
    from .zoo import roles

    return core.default_model(spec) if spec in roles() else core.find_model(spec)


def _write_config(dst: Path, src: Path, opts: Options) -> None:
    d = state_dir(dst)
    d.mkdir(parents=True, exist_ok=True)
    cfg = {"src": str(src.resolve()), "options": asdict(opts)}
    path = d / CONFIG
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("src") != cfg["src"]:
            raise PhcompError(f"{dst} is the archive of {old.get('src')}, not of {cfg['src']}")
        keep = ("model", "abs", "rel", "observables")
        if {k: old["options"].get(k) for k in keep} != {k: cfg["options"][k] for k in keep}:
            raise PhcompError(f"{dst} was started with other options ({ {k: old['options'].get(k) for k in keep} }); "
                              "rerun with the same ones, or use another destination")
        return
    tmp = path.with_name(CONFIG + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cfg, indent=1))
    os.replace(tmp, path)


def listing(src: Path, dst: Path) -> list[Item]:
    """The source tree plus every path the manifests record whose original is gone."""
    items = {i.path: i for i in scan(src)}
    for path, rec in read_records(dst).items():
        if path not in items:
            items[path] = Item(path, rec.kind, rec.bytes_in)
    return sorted(items.values(), key=lambda i: i.path)


def compress_archive(src: str | os.PathLike, dst: str | os.PathLike, opts: Options, *,
                     task_index: int | None = None, task_count: int | None = None,
                     progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Run this task's share; returns its summary (counts, bytes, ratio)."""
    src_p, dst_p = Path(src), Path(dst)
    if opts.abs is None and opts.rel is None:
        raise PhcompError("an archive needs a bound: --rel R or --abs A (--abs 0 is lossless)")
    core.codec.resolve_bound(1.0, opts.abs, opts.rel)
    index, count = task_from_env(task_index, task_count)
    _write_config(dst_p, src_p, opts)
    model = _model(opts.model)
    task = f"{index:04d}-of-{count:04d}"
    manifest = state_dir(dst_p) / f"manifest-{task}.jsonl"
    records = read_records(dst_p)
    mine = share(listing(src_p, dst_p), index, count)
    for it in mine:
        rec = records.get(it.path)
        if rec is None or rec.status != "done" or not (src_p / it.path).exists():
            continue
        if rec.deleted_original:  # killed after the deletion was recorded, before it happened
            _remove(src_p / it.path)
        elif opts.delete_originals:  # done in an earlier run: delete if the original is what was verified
            if checksum(src_p / it.path) == rec.sha256_in:
                rec.deleted_original, rec.finished = True, time.time()
                append_record(manifest, rec)
                _remove(src_p / it.path)
            else:  # changed since it was compressed: compress it again
                records.pop(it.path)
    todo = [i for i in mine if not (i.path in records and records[i.path].status in DONE)]
    todo = [i for i in todo if (src_p / i.path).exists() or (src_p / i.path).is_symlink()]
    summary = {"task": task, "share": len(mine), "already_done": len(mine) - len(todo), "done": 0, "copied": 0,
               "skipped": 0, "failed": 0, "bytes_in": 0, "bytes_out": 0, "seconds": 0.0}
    t0 = time.time()
    from tqdm import tqdm

    with tqdm(total=sum(i.nbytes for i in todo), unit="B", unit_scale=True, desc=f"archive {task}",
              disable=not progress or None, file=sys.stderr) as bar:
        for item in todo:
            rec = process(src_p, dst_p, item, opts, model, task)
            if rec.status == "done" and opts.delete_originals:
                rec.deleted_original = True  # recorded first, deleted after the line is on disk
            append_record(manifest, rec)
            if rec.deleted_original:
                _remove(src_p / item.path)
            summary[rec.status] += 1
            summary["bytes_in"] += rec.bytes_in if rec.status != "failed" else 0
            summary["bytes_out"] += rec.bytes_out
            if rec.status == "failed":
                log(f"failed: {item.path}: {rec.reason}")
            bar.update(item.nbytes)
    summary["seconds"] = round(time.time() - t0, 3)
    summary["ratio"] = round(summary["bytes_in"] / max(summary["bytes_out"], 1), 3)
    return summary


def status(dst: str | os.PathLike) -> dict:
    """Done / failed / pending over every task, total ratio and bytes saved."""
    dst_p = Path(dst)
    cfg_path = state_dir(dst_p) / CONFIG
    if not cfg_path.is_file():
        raise PhcompError(f"{dst} is not a phcomp archive (no {STATE_DIR}/{CONFIG})")
    cfg = json.loads(cfg_path.read_text())
    records = read_records(dst_p)
    src = Path(cfg["src"])
    items = listing(src, dst_p) if src.is_dir() else [Item(p, r.kind, r.bytes_in) for p, r in records.items()]
    counts = {s: 0 for s in ("done", "copied", "skipped", "failed", "pending")}
    failed = []
    for it in items:
        rec = records.get(it.path)
        st = rec.status if rec else "pending"
        counts[st] = counts.get(st, 0) + 1
        if st == "failed":
            failed.append((it.path, rec.reason))
    ok = [r for r in records.values() if r.status in ("done", "copied")]
    b_in, b_out = sum(r.bytes_in for r in ok), sum(r.bytes_out for r in ok)
    compressed = [r for r in ok if r.status == "done"]
    return {"src": cfg["src"], "options": cfg["options"], "items": len(items), **counts,
            "bytes_in": b_in, "bytes_out": b_out, "bytes_saved": b_in - b_out, "ratio": b_in / max(b_out, 1),
            "compressed_ratio": sum(r.bytes_in for r in compressed) / max(sum(r.bytes_out for r in compressed), 1),
            "max_error_over_bound": max((r.max_error_over_bound for r in compressed), default=0.0),
            "failed_items": failed}


def verify(dst: str | os.PathLike, progress: bool = True) -> dict:
    """Re-read every recorded twin: its checksum must match the manifest and it must decode in
    full (against the original, bound included, when the original is still there)."""
    from .archive_verify import decode_twin, verify_twin

    dst_p = Path(dst)
    cfg = json.loads((state_dir(dst_p) / CONFIG).read_text())
    opts = Options(**cfg["options"])
    src = Path(cfg["src"])
    bad, checked = [], 0
    records = [r for r in read_records(dst_p).values() if r.status in ("done", "copied")]
    from tqdm import tqdm

    for rec in tqdm(records, desc="verify", disable=not progress or None, file=sys.stderr):
        out = dst_p / rec.output
        try:
            if not out.exists():
                raise PhcompError("twin missing")
            if checksum(out) != rec.sha256_out:
                raise PhcompError("checksum differs from the manifest")
            if rec.status == "done":
                orig = src / rec.path
                if orig.exists() and not rec.deleted_original:
                    verify_twin(orig, out, rec.kind, opts)
                else:
                    decode_twin(out, rec.kind)
            checked += 1
        except (PhcompError, OSError, ValueError, KeyError, RuntimeError) as e:
            bad.append((rec.path, f"{type(e).__name__}: {e}"))
    return {"checked": checked, "bad": bad}


def report(dst: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """A plot of the archive: ratio per file, and bytes before / after per file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dst_p = Path(dst)
    recs = sorted((r for r in read_records(dst_p).values() if r.status == "done"), key=lambda r: -r.bytes_in)
    if not recs:
        raise PhcompError(f"{dst}: no compressed file recorded yet")
    out_p = Path(out) if out else state_dir(dst_p) / "report.png"
    names = [r.path if len(r.path) <= 28 else "..." + r.path[-25:] for r in recs]
    y = np.arange(len(recs))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, max(3.0, 0.28 * len(recs) + 1.5)), sharey=True)
    a1.barh(y, [r.ratio for r in recs], color="tab:blue")
    a1.set_yticks(y, names, fontsize=7)
    a1.invert_yaxis()
    a1.set_xlabel("compression ratio")
    a1.set_title("ratio per file")
    a2.barh(y - 0.2, [r.bytes_in / 2**20 for r in recs], height=0.4, label="before", color="tab:gray")
    a2.barh(y + 0.2, [r.bytes_out / 2**20 for r in recs], height=0.4, label="after", color="tab:green")
    a2.set_xscale("log")
    a2.set_xlabel("MiB")
    a2.set_title("bytes before / after")
    a2.legend()
    s = status(dst_p)
    fig.suptitle(f"{dst_p}: {s['done']} compressed, {s['copied']} copied, {s['failed']} failed, {s['pending']} pending; "
                 f"{s['bytes_in'] / 2**30:.2f} -> {s['bytes_out'] / 2**30:.2f} GiB (ratio {s['ratio']:.2f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_p, dpi=110)
    plt.close(fig)
    return out_p


def iter_failed(dst: str | os.PathLike) -> Iterator[Record]:
    return (r for r in read_records(dst).values() if r.status == "failed")


def sample(src: str | os.PathLike, out: str | os.PathLike, *, ndim: int = 3, max_mb: float = 64.0,
           seed: int = 0) -> dict:
    """A training sample of an archive as one .npy: slices of the last ``ndim`` axes of its float
    arrays (HDF5, netCDF-4, Zarr, .npy), taken evenly from every array whose trailing shape is
    that of the first one found (what ``phcomp train`` fits a model to)."""
    arrays = []  # (item path, array name, opener)
    for it in scan(src):
        p = Path(src) / it.path
        try:
            if it.kind == "hdf5":
                import h5py

                with h5py.File(p, "r") as f:
                    names: list[str] = []
                    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f"
                                 and o.ndim >= ndim else None)
                arrays += [(it.path, n, lambda p=p, n=n: h5py.File(p, "r")[n]) for n in names]
            elif it.kind == "zarr":
                import zarr

                g = zarr.open(p, mode="r")
                members = [("", g)] if isinstance(g, zarr.Array) else list(g.members(max_depth=None))
                arrays += [(it.path, n, lambda a=a: a) for n, a in members
                           if isinstance(a, zarr.Array) and np.dtype(a.dtype).kind == "f" and a.ndim >= ndim]
            elif it.kind == "npy":
                from .npyfile import load_npy

                x = load_npy(p)
                if x.dtype.kind == "f" and x.ndim >= ndim:
                    arrays.append((it.path, "", lambda x=x: x))
        except (OSError, ValueError, KeyError, PhcompError):
            continue  # unreadable files are the compress run's business, not the sample's
    if not arrays:
        raise PhcompError(f"no float arrays with {ndim} or more dimensions under {src}")
    trailing = None
    pieces, budget = [], int(max_mb * 2**20)
    opened = []
    for path, name, get in arrays:
        a = get()
        if trailing is None:
            trailing = tuple(a.shape[-ndim:])
        if tuple(a.shape[-ndim:]) == trailing:
            opened.append(a)
    per_item = int(np.prod(trailing)) * 4
    take_total = max(1, budget // per_item)
    rng = np.random.default_rng(seed)
    for a in opened:
        items = int(np.prod(a.shape[:-ndim], dtype=np.int64)) if a.ndim > ndim else 1
        k = max(1, min(items, take_total // len(opened)))
        for i in sorted(rng.choice(items, k, replace=False).tolist()):
            idx = np.unravel_index(i, a.shape[:-ndim]) if a.ndim > ndim else ()
            pieces.append(np.asarray(a[idx], dtype=np.float32))
    x = np.stack(pieces)
    np.save(out, x)
    return {"arrays": len(opened), "items": len(pieces), "shape": list(x.shape), "bytes": int(x.nbytes)}
