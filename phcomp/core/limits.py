"""How many values a chunk may declare before anything is allocated for it.

A header's shape is only a claim: a chunk whose CRC an adversary fixed can declare 2**40 values
in a few hundred bytes, and range-coded streams cannot bound the count (a very probable symbol
costs far less than a bit). So a reader refuses any shape that could not be decoded here:
``PHCOMP_MAX_ELEMENTS`` when set, else what the memory this process may still use holds at
``BYTES_PER_VALUE`` bytes per value (the output and the decoder's working arrays). "Memory this
process may use" is the least of the system's available memory, the cgroup limit (SLURM jobs,
containers) and the address-space limit (``ulimit -v``).
"""
from __future__ import annotations

import os

FORMAT_MAX_ELEMENTS = 1 << 40  # hard limit of the format
BYTES_PER_VALUE = 16
# Counts up to this (16 MiB of working memory) are admitted without probing memory: the probe
# reads three files (~30 us, more than decoding a small chunk), and a process short of even
# this much fails the allocation itself, which decompress reports as a PhcompError.
ALWAYS_ADMITTED = 1 << 20


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_headroom() -> int | None:
    limit = _read_int("/sys/fs/cgroup/memory.max")  # cgroup v2; "max" (no limit) reads as None
    used = _read_int("/sys/fs/cgroup/memory.current")
    return None if limit is None or used is None else max(limit - used, 0)


def _address_space_headroom() -> int | None:
    try:
        import resource
    except ImportError:  # not on every platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        vm = 0
    return max(soft - vm, 0)


def usable_memory() -> int | None:
    """Bytes this process can still allocate, as far as the system says (None: unknown)."""
    known = [v for v in (_meminfo_available(), _cgroup_headroom(), _address_space_headroom()) if v is not None]
    return min(known) if known else None


def admits(total: int) -> bool:
    """Whether a chunk may declare ``total`` values (see max_elements)."""
    if total <= ALWAYS_ADMITTED and not os.environ.get("PHCOMP_MAX_ELEMENTS"):
        return True
    return total <= max_elements()


def max_elements() -> int:
    """Values a chunk may declare: PHCOMP_MAX_ELEMENTS if set (services decoding untrusted bytes
    set it lower; a cluster job may set it higher than a login node's memory), else what
    usable memory holds; never more than the format's 2**40."""
    env = os.environ.get("PHCOMP_MAX_ELEMENTS")
    if env:
        try:
            return max(0, min(FORMAT_MAX_ELEMENTS, int(env)))
        except ValueError:
            pass  # a malformed setting falls back to the memory-derived cap
    mem = usable_memory()
    return FORMAT_MAX_ELEMENTS if mem is None else min(FORMAT_MAX_ELEMENTS, mem // BYTES_PER_VALUE)
