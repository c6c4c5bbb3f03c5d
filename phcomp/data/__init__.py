"""Deterministic generators of test and benchmark data (nothing is downloaded)."""
from .darcy import darcy2d
from .grayscott import grayscott3d
from .sas import SASCurves, sas
from .turbulence import turb2d

__all__ = ["darcy2d", "grayscott3d", "sas", "SASCurves", "turb2d"]
