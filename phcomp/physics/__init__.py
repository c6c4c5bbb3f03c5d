"""Physics: observables, the per-chunk observable check (resolution of names to checks), and
(later) the alignment diagnostic. numpy only; torch versions of observables load lazily."""
from .observables import (OBSERVABLES, Observable, get_observable, observable_names, register_observable,
                          resolve_checks)

__all__ = ["OBSERVABLES", "Observable", "get_observable", "observable_names", "register_observable", "resolve_checks"]
