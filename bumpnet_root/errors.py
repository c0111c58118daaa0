"""Exceptions and warnings raised by bumpnet-root.

Every error derives from :class:`BumpNetError`, so a caller can catch the whole
family at once; each one also derives from the matching built-in exception.
"""

from __future__ import annotations

import os
import sys


class BumpNetError(Exception):
    """Base class of every error raised by bumpnet-root."""


class InvalidHistogramError(BumpNetError, ValueError):
    """A histogram cannot be scanned (wrong dimension, bad edges, NaN contents).

    ``skip_reason`` is the reason of the scan-domain check when that check
    rejected the histogram, and None otherwise.
    """

    skip_reason: str | None = None


class UnsupportedInputError(BumpNetError, TypeError):
    """An object is not a histogram type that bumpnet-root can read."""


class ModelNotFoundError(BumpNetError, FileNotFoundError):
    """A BumpNet model file is missing or cannot be loaded."""


class FitFailedError(BumpNetError, RuntimeError):
    """A likelihood fit did not converge."""


class MissingDependencyError(BumpNetError, ImportError):
    """An optional package needed for this feature is not installed."""


class WorkerError(BumpNetError, RuntimeError):
    """A worker process of a parallel scan stopped before its tasks were done."""


class BumpNetWarning(UserWarning):
    """Base class of every warning emitted by bumpnet-root."""


class WeightedHistogramWarning(BumpNetWarning):
    """A weighted histogram is scanned as if its contents were Poisson counts."""


class FlowBinWarning(BumpNetWarning):
    """A large fraction of the entries sits in the underflow or overflow bin."""


class OutOfDomainWarning(BumpNetWarning):
    """A spectrum lies outside the domain the network was trained on."""


_PACKAGE_DIRECTORY = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_stacklevel() -> int:
    """Return the ``stacklevel`` that points a warning at the caller's code.

    For ``warnings.warn`` called in the function that calls this one: the
    first frame outside this package, the line of the user's code that
    called a public function, however deep inside the package the warning
    is raised.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIRECTORY):
        frame = frame.f_back
        level += 1
    return level
