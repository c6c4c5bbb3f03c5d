"""`import phcomp` registers the HDF5 filter -- as soon as h5py is imported, not before, so
that importing phcomp stays light where h5py is absent or unused.

Hosts that embed phcomp through the compiled filter (h5dump, netCDF-C...) set
PHCOMP_EMBEDDED=1: there h5py must not be imported (it would load a second HDF5).
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, callback) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        callback = self.callback

        def run(module):
            exec_module(module)
            callback()

        spec.loader.exec_module = run
        return spec


def _register_hdf5() -> None:
    try:
        from . import hdf5  # noqa: F401  (registers at import)
    except Exception as e:  # a broken h5py must not break phcomp
        print(f"phcomp: HDF5 filter not registered: {e}", file=sys.stderr)


def install_adapter_hooks() -> None:
    if os.environ.get("PHCOMP_EMBEDDED"):
        return
    if "h5py" in sys.modules:
        _register_hdf5()
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("h5py", _register_hdf5))
