"""Build of phcomp: the Python package and the C HDF5 filter plugin (hdf5_filter/).

The plugin is compiled like an extension module but is not one: it is a plain HDF5 plugin,
`phcomp/hdf5_plugin/libh5phcomp.so` (HDF5 only loads lib*.so files from a plugin directory),
linking neither libhdf5 nor libpython. The interpreter that builds it is baked in as the
default for its codec helper (PHCOMP_PYTHON overrides it). The C++ ADIOS2 operator
(plugins/adios2/) is built against the adios2 wheel's own headers (a build requirement in
pyproject.toml) into `phcomp/adios2_plugin/libphcomp_adios2.so`; without them it is skipped
with a warning.
"""
import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

PLUGIN = "phcomp.hdf5_plugin.libh5phcomp"
NATIVE = "phcomp.core.libphcomp"  # the native codec, loaded with ctypes (phcomp/core/native.py)
OPERATOR = "phcomp.adios2_plugin.libphcomp_adios2"  # ADIOS2 loads lib<PluginLibrary>.so from ADIOS2_PLUGIN_PATH
PLAIN_LIBS = (PLUGIN, NATIVE, OPERATOR)


def adios2_include() -> str | None:
    """The adios2 wheel's headers (plugin operator interface v2), found without importing adios2."""
    import importlib.util

    spec = importlib.util.find_spec("adios2")
    for d in spec.submodule_search_locations or [] if spec else []:
        inc = os.path.join(d, "include")
        if os.path.exists(os.path.join(inc, "adios2", "plugin", "PluginOperatorInterface.h")):
            return inc
    return None  # shared libraries that are not Python extension modules


class BuildExt(build_ext):
    def get_ext_filename(self, fullname):
        # called with the full dotted name, and (by get_ext_fullpath) with its last part only
        for lib in PLAIN_LIBS:
            if fullname == lib:
                return os.path.join(*lib.split(".")[:-1], lib.rsplit(".", 1)[1] + ".so")
            if fullname == lib.rsplit(".", 1)[1]:
                return fullname + ".so"
        return super().get_ext_filename(fullname)

    def get_export_symbols(self, ext):
        return [] if ext.name in PLAIN_LIBS else super().get_export_symbols(ext)

    def build_extension(self, ext):
        if ext.name != OPERATOR:
            return super().build_extension(ext)
        # C and C++ sources need their own flags: compile each group, then link with the C++ runtime
        inc = adios2_include()
        if inc is None:
            self.warn("adios2 headers not found: the ADIOS2 operator is not built (pip install adios2==2.12.*)")
            return
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        common = ["-O2", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-ffp-contract=off"]
        tmp = os.path.join(self.build_temp, "adios2_operator")  # not the other libraries' objects: other flags
        objs = self.compiler.compile(NATIVE_SOURCES, output_dir=tmp, include_dirs=["native/include"],
                                     extra_postargs=common + ["-std=c11"])
        objs += self.compiler.compile(OPERATOR_SOURCES, output_dir=tmp,
                                      include_dirs=["native/include", "native/src"],
                                      extra_postargs=common + ["-std=c++14", "-isystem", inc])
        self.compiler.link_shared_object(objs, out, extra_postargs=["-lstdc++", "-ldl", "-lpthread", "-lm"],
                                         target_lang="c++")



# One set of C sources for the codec (native/src); hosts link them. -ffp-contract=off: no fused
# multiply-add, so the float stages (grid <-> values) give numpy's bits on every CPU.
NATIVE_SOURCES = [f"native/src/{f}.c" for f in ("rangecoder", "parallel", "pages", "interp", "json", "zstd_rt", "model", "crc32", "chunk",
                                                "chunk_write", "model_paths", "intpack", "quads", "latent", "residual",
                                                "decoder_int", "model_arrays", "model_transform", "blocks",
                                                "latent_encode", "residual_encode", "transform_encode")]
native_codec = Extension(
    NATIVE,
    sources=NATIVE_SOURCES,
    include_dirs=["native/include"],
    define_macros=[("PHC_SHARED", None)],
    extra_compile_args=["-O3", "-fvisibility=hidden", "-std=c11", "-Wall", "-Wextra", "-ffp-contract=off", "-fno-fast-math"],
    extra_link_args=["-lm", "-lpthread", "-ldl"],
)

hdf5_plugin = Extension(
    PLUGIN,
    # the native codec's sources compiled in (hidden symbols): in-process decoding, no Python
    sources=["hdf5_filter/phcomp_h5filter.c"] + NATIVE_SOURCES,
    include_dirs=["native/include", "native/src"],
    define_macros=[("PHCOMP_PYTHON_DEFAULT", '"%s"' % sys.executable.replace("\\", "\\\\"))],
    extra_compile_args=["-O2", "-fvisibility=hidden", "-std=c11", "-Wall", "-Wextra", "-ffp-contract=off"],
    extra_link_args=["-ldl", "-lpthread", "-lm"],
)

# the C++ ADIOS2 operator: its own sources plus the codec's (build_extension above)
OPERATOR_SOURCES = ["plugins/adios2/phcomp_operator.cpp", "plugins/adios2/model_store.cpp"]
adios2_operator = Extension(OPERATOR, sources=OPERATOR_SOURCES + NATIVE_SOURCES)

setup(
    name="phcomp",
    version="0.1.0",
    description="Physics-aware learned compression for HPC scientific data",
    packages=find_packages(include=["phcomp", "phcomp.*"]),
    package_data={"phcomp": ["zoo/*.phcm", "zoo/index.json", "hdf5_plugin/README"]},
    ext_modules=[hdf5_plugin, native_codec, adios2_operator],
    cmdclass={"build_ext": BuildExt},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        # pinned: the range coder's bit stream is part of the chunk format, so a new
        # constriction release must be checked against the committed fixtures before use
        "constriction==0.5.0",
        "zstandard>=0.22",
        "tqdm>=4.60",
    ],
    extras_require={
        # zfpy pinned: 1.0.1.post0 breaks numcodecs' import (version parse), see HOST-FACTS
        "bench": ["pysz>=1.1", "zfpy==1.0.1", "matplotlib>=3.7", "hdf5plugin>=5"],
        "hdf5": ["h5py>=3.10"],
        # the 2.12 line: plugin operator interface v2 (2.11 and older load a different ABI)
        "adios2": ["adios2>=2.12,<2.13"],
        # generators: sasmodels (SAS curves), scipy (sparse solver of the Darcy problem)
        "data": ["sasmodels>=1.0", "scipy>=1.10"],
        # numcodecs pinned below 0.17: 0.16 ships the codec checks the tests run (numcodecs.tests.common)
        "zarr": ["zarr>=3.0", "numcodecs>=0.16,<0.17"],
        "test": ["pytest>=7", "hypothesis>=6.100", "pytest-xdist>=3", "h5py>=3.10", "zarr>=3.0",
                 "numcodecs>=0.16,<0.17", "xarray>=2024.1", "h5netcdf>=1.3", "sasmodels>=1.0", "scipy>=1.10",
                 # the read idioms of analysis code: dask-chunked xarray, netCDF4-python (own HDF5)
                 "dask>=2024.1", "netCDF4>=1.6", "adios2>=2.12,<2.13",
                 # phcomp.mpi under a real `mpiexec -n 2`: the PyPI mpich wheel needs no system MPI
                 "mpich>=4.1", "mpi4py>=4.0",
                 # a hung test fails with its stack trace instead of stalling CI past its limit
                 "pytest-timeout>=2"],
        # torch is for training neural kinds only; install torch==2.13.0 first (CPU wheel)
        "train": ["torch>=2.1"],
    },
    entry_points={
        "console_scripts": ["phcomp=phcomp.cli:main"],
        # stores written with phcomp open in zarr / xarray without `import phcomp`
        "numcodecs.codecs": ["phcomp=phcomp.zarr:Phcomp"],
        "zarr.codecs": ["phcomp=phcomp.zarr:PhcompCodec"],
    },
)
