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
    "BumpNetError",
    "FitFailedError",
    "Hist1D",
    "InvalidHistogramError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "UnsupportedInputError",
    "__version__",
]
