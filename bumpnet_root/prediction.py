"""BumpNet's output for one histogram: Z per bin and the background estimate.

It lives apart from :mod:`bumpnet_root.api`, which imports torch, so that a
process that only receives predictions, such as the main process of a scan
with worker processes, can unpickle them without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from .domain import ScanDomain
from .histogram import Hist1D

# Template widths (sigma in bins) that Prediction.best_width_z compares.
DEFAULT_WIDTHS = (1.0, 2.0, 3.0)


@dataclass(frozen=True)
class Prediction:
    """BumpNet's output for one histogram.

    ``z`` and ``background`` have one entry per bin of ``histogram``. Bins
    outside ``domain.start:domain.stop`` were not scanned: their Z is 0 and
    their background NaN.
    """

    histogram: Hist1D
    z: np.ndarray
    background: np.ndarray
    domain: ScanDomain
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def z_max(self) -> float:
        return float(self.z.max())

    @property
    def argmax(self) -> int:
        return int(self.z.argmax())

    @property
    def mass_at_z_max(self) -> float:
        return float(self.histogram.centers[self.argmax])

    def z_for_width(self, width: float) -> np.ndarray:
        """Return Z per bin for a Gaussian template of sigma = ``width`` bins.

        It is the likelihood ratio of ``z`` (which is width 1) with the
        network's background estimate, for signals wider than one bin. Bins
        outside the scanned range get 0.
        """
        from .significance import local_significance

        width = _template_width(width)
        if width == 1.0:
            return self.z.copy()
        start, stop = self.domain.start, self.domain.stop
        z = np.zeros(self.histogram.n_bins)
        z[start:stop] = local_significance(
            self.histogram.counts[start:stop],
            self.background[start:stop],
            self.histogram.edges[start : stop + 1],
            width=width,
        )
        return z

    def best_width_z(
        self, widths: Sequence[float] = DEFAULT_WIDTHS
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (Z, width) per bin: the largest Z over the template ``widths``.

        Z at a bin is the largest of :meth:`z_for_width` over ``widths``, and
        width is the template width (in bins) that gave it. Taking the best of
        several widths also raises Z on background-only histograms, because it
        is a larger search. The look-elsewhere correction of a scan uses width
        1 only.
        """
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Iterable):
            raise TypeError(
                f"widths must be a sequence of template widths in bins, such as "
                f"(1, 2, 3), got {widths!r}"
            )
        widths = [_template_width(w) for w in widths]
        if not widths:
            raise ValueError("best_width_z needs at least one template width")
        stacked = np.stack([self.z_for_width(w) for w in widths])
        best = np.argmax(stacked, axis=0)
        chosen = np.asarray(widths, dtype=np.float64)[best]
        return np.take_along_axis(stacked, best[None, :], axis=0)[0], chosen


def _template_width(width: Any) -> float:
    """Return ``width`` as a float, or raise if it is not a positive finite number."""
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, Real):
        raise TypeError(
            f"template width must be a number of bins such as 2.0, got {width!r}"
        )
    if not math.isfinite(width) or width <= 0:
        raise ValueError(
            f"template width must be a positive finite number of bins, got {width!r}"
        )
    return float(width)
