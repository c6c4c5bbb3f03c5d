"""The explicit time step the spectral generators share (turb2d, scalar3d)."""
from __future__ import annotations

from typing import Callable

import numpy as np


def rk4_step(rhs: Callable[[np.ndarray], np.ndarray], y: np.ndarray, dt: float) -> np.ndarray:
    """One classical Runge-Kutta step of dy/dt = rhs(y). The operation order is fixed: the
    generators' output (and so the shipped models' training data) depends on it bit for bit."""
    k1 = rhs(y)
    k2 = rhs(y + 0.5 * dt * k1)
    k3 = rhs(y + 0.5 * dt * k2)
    k4 = rhs(y + dt * k3)
    return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
