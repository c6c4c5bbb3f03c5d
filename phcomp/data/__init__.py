"""Deterministic generators of test and benchmark data (nothing is downloaded)."""
from .grayscott import grayscott3d

__all__ = ["grayscott3d"]
