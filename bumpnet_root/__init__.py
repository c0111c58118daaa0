"""bumpnet-root: resonance search in invariant-mass histograms with BumpNet."""

from ._version import __version__
from .errors import (
    BumpNetError,
    FitFailedError,
    InvalidHistogramError,
    MissingDependencyError,
    ModelNotFoundError,
    UnsupportedInputError,
)
from .histogram import Hist1D

__all__ = [
    "BumpNet",
    "BumpNetError",
    "FitFailedError",
    "Hist1D",
    "InvalidHistogramError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "UnsupportedInputError",
    "__version__",
]


def __getattr__(name: str):
    # BumpNet imports torch, so it is loaded on first use: `import bumpnet_root`
    # stays fast for the command line and the ROOT macros.
    if name == "BumpNet":
        from .api import BumpNet

        return BumpNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
