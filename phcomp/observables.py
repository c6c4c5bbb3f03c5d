"""``phcomp.observables``: the registry of named observables (implemented in phcomp/physics)."""
from .physics.observables import (OBSERVABLES, Observable, get_observable, observable_names, register_observable,
                                  resolve_checks)

__all__ = ["OBSERVABLES", "Observable", "get_observable", "observable_names", "register_observable", "resolve_checks"]
