"""Build of phcomp: the Python package (the C HDF5 filter and C++ ADIOS2 operator arrive with
their adapters, see hdf5_filter/ and plugins/)."""
from setuptools import find_packages, setup

setup(
    name="phcomp",
    version="0.1.0",
    description="Physics-aware learned compression for HPC scientific data",
    packages=find_packages(include=["phcomp", "phcomp.*"]),
    package_data={"phcomp": ["zoo/*.phcm"]},
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
        "bench": ["pysz>=1.1", "zfpy==1.0.1", "matplotlib>=3.7"],
        "hdf5": ["h5py>=3.10"],
        # numcodecs pinned below 0.17: 0.16 ships the codec checks the tests run (numcodecs.tests.common)
        "zarr": ["zarr>=3.0", "numcodecs>=0.16,<0.17"],
        "test": ["pytest>=7", "hypothesis>=6.100", "pytest-xdist>=3", "h5py>=3.10", "zarr>=3.0",
                 "numcodecs>=0.16,<0.17", "xarray>=2024.1", "h5netcdf>=1.3"],
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
