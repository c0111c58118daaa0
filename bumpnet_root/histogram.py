"""The internal 1-D histogram type that every input is converted to."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidHistogramError


@dataclass(frozen=True)
class Hist1D:
    """A 1-D histogram with explicit bin edges.

    ``variances`` is None for unweighted (Poisson) counts; for weighted
    histograms it holds the sum of squared weights per bin. Under- and overflow
    contents are kept apart from ``counts`` and never enter the scan.
    """

    edges: np.ndarray
    counts: np.ndarray
    variances: np.ndarray | None = None
    name: str = ""
    title: str = ""
    underflow: float = 0.0
    overflow: float = 0.0
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        edges = np.ascontiguousarray(self.edges, dtype=np.float64)
        counts = np.ascontiguousarray(self.counts, dtype=np.float64)
        label = self.name or "<unnamed>"
        if edges.ndim != 1 or counts.ndim != 1:
            raise InvalidHistogramError(
                f"histogram {label!r}: edges and counts must be 1-D arrays, got "
                f"shapes {edges.shape} and {counts.shape}"
            )
        if edges.size != counts.size + 1:
            raise InvalidHistogramError(
                f"histogram {label!r}: {counts.size} bins need {counts.size + 1} "
                f"edges, got {edges.size}"
            )
        if counts.size == 0:
            raise InvalidHistogramError(f"histogram {label!r} has no bins")
        if not np.all(np.isfinite(edges)):
            bad = int(np.argmax(~np.isfinite(edges)))
            raise InvalidHistogramError(
                f"histogram {label!r}: {int(np.count_nonzero(~np.isfinite(edges)))} "
                f"bin edges are NaN or inf, the first is edge {bad} "
                f"({float(edges[bad])!r}); rebuild the histogram with finite edges"
            )
        if np.any(np.diff(edges) <= 0):
            bad = int(np.argmax(np.diff(edges) <= 0))
            problem = (
                "a zero-width bin"
                if edges[bad + 1] == edges[bad]
                else "the edges are not sorted"
            )
            raise InvalidHistogramError(
                f"histogram {label!r}: bin edges must increase strictly, but edge "
                f"{bad + 1} ({float(edges[bad + 1])!r}) follows edge {bad} "
                f"({float(edges[bad])!r}): {problem}; rebuild the histogram with "
                "increasing edges, because sorting the edges alone would not move "
                "the contents with them"
            )
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "counts", counts)
        if self.variances is not None:
            variances = np.ascontiguousarray(self.variances, dtype=np.float64)
            if variances.shape != counts.shape:
                raise InvalidHistogramError(
                    f"histogram {label!r}: variances have shape {variances.shape}, "
                    f"counts {counts.shape}"
                )
            object.__setattr__(self, "variances", variances)

    @classmethod
    def trusted(
        cls,
        edges: np.ndarray,
        counts: np.ndarray,
        variances: np.ndarray | None,
        name: str,
        title: str,
        underflow: float,
        overflow: float,
        source: str,
    ) -> Hist1D:
        """Build a Hist1D from arrays already checked, without checking them again.

        For readers that check many histograms at once: ``edges``, ``counts``
        and ``variances`` must be contiguous float64 arrays that pass the checks
        of the constructor.
        """
        hist = object.__new__(cls)
        for attribute, value in (
            ("edges", edges),
            ("counts", counts),
            ("variances", variances),
            ("name", name),
            ("title", title),
            ("underflow", underflow),
            ("overflow", overflow),
            ("source", source),
        ):
            object.__setattr__(hist, attribute, value)
        return hist

    @property
    def n_bins(self) -> int:
        return int(self.counts.size)

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)

    @property
    def is_weighted(self) -> bool:
        """True when the variances differ from the counts (not Poisson)."""
        if self.variances is None:
            return False
        return not np.allclose(self.variances, self.counts, rtol=1e-6, atol=1e-9)

    @property
    def label(self) -> str:
        return self.name or "<unnamed>"

    def slice(self, start: int, stop: int) -> Hist1D:
        """Return the bins ``start:stop`` as a new histogram (flow set to zero)."""
        variances = None if self.variances is None else self.variances[start:stop]
        return Hist1D(
            edges=self.edges[start : stop + 1],
            counts=self.counts[start:stop],
            variances=variances,
            name=self.name,
            title=self.title,
            source=self.source,
        )
