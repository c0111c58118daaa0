"""Lazy access to PyROOT.

Every other module imports ROOT through :func:`import_root`, so that the package
works without ROOT installed and pays ROOT's start-up time only when a ROOT feature
is used.
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType

from .errors import MissingDependencyError

# The ROOT wheels on PyPI (ROOT 6.40) emit this UserWarning on import.
_ALPHA_WARNING_PATTERN = r"\s*This distribution of ROOT is in alpha stage"


def import_root(purpose: str = "this feature") -> ModuleType:
    """Import PyROOT in batch mode and return the ``ROOT`` module.

    ``purpose`` completes the error message "PyROOT is needed for ...". Raises
    MissingDependencyError when ROOT cannot be imported.
    """
    module = sys.modules.get("ROOT")
    if module is None:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=_ALPHA_WARNING_PATTERN, category=UserWarning
            )
            try:
                import ROOT as module
            except ImportError as err:
                raise MissingDependencyError(
                    f"PyROOT is needed for {purpose}, but importing it failed "
                    f"({err}); install it with `pip install 'bumpnet-root[root]'` "
                    "or use a conda environment with root"
                ) from err
    # Batch mode keeps ROOT from opening windows or connecting to a display.
    if not module.gROOT.IsBatch():
        module.gROOT.SetBatch(True)
    return module


def is_root_object(obj: object) -> bool:
    """Return True when ``obj`` is a C++ object bound by PyROOT (cppyy).

    Never imports ROOT: when ROOT is not in ``sys.modules``, no ROOT object can
    exist, so it returns False.
    """
    if "ROOT" not in sys.modules:
        return False
    return type(obj).__module__.startswith("cppyy.gbl")
