"""Deterministic generators of test and benchmark data (nothing is downloaded)."""
from .darcy import darcy2d
from .grayscott import grayscott3d
from .sas import SASCurves, sas
from .scalar3d import scalar3d
from .turbulence import turb2d
from .turbulence3d import turb3d
from .wave3d import wave3d

__all__ = ["darcy2d", "grayscott3d", "sas", "SASCurves", "scalar3d", "turb2d", "turb3d", "wave3d"]
