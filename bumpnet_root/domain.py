"""Which part of a histogram BumpNet can scan.

The network is trained on smoothly falling spectra of 30 to 150 bins with up to
about 10^6 expected events per bin. Real histograms often rise first (trigger
and acceptance turn-on), so the scan starts at the maximum of the event density
after a running median over ``SMOOTHING_BINS`` bins or a fifteenth of the
bins, whichever is more, which a narrow resonance does not move. Histograms that cannot be a falling mass spectrum are rejected
with a reason instead of being scanned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .histogram import Hist1D

MIN_SCAN_BINS = 10
SMOOTHING_BINS = 5
# Expected counts per bin above this are beyond the training range.
MAX_TRAINED_COUNTS = 3e6


@dataclass(frozen=True)
class ScanDomain:
    """Bins ``start:stop`` of a histogram to scan, or why none can be scanned.

    ``skip_reason`` is None when the histogram can be scanned; ``notes`` lists
    conditions worth reporting that do not prevent the scan.
    """

    start: int
    stop: int
    skip_reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def running_median(values: np.ndarray, width: int) -> np.ndarray:
    """Return the running median over ``width`` bins (shrinking at the ends)."""
    half = width // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)


def scan_domain(h: Hist1D) -> ScanDomain:
    """Decide which bins of ``h`` to scan; see the module docstring."""
    n_bins = h.n_bins
    total = float(np.sum(h.counts))
    if n_bins < MIN_SCAN_BINS:
        return ScanDomain(
            0, n_bins, f"only {n_bins} bins; a scan needs at least {MIN_SCAN_BINS}"
        )
    if total <= 0:
        return ScanDomain(0, n_bins, "the histogram is empty")
    if h.edges[0] < 0:
        return ScanDomain(
            0,
            n_bins,
            f"the axis starts at {h.edges[0]:g} < 0, so it is not an invariant "
            "mass (angular distributions such as eta or phi are not scanned)",
        )
    density = h.counts / h.widths
    window = max(SMOOTHING_BINS, (n_bins // 15) | 1)
    smooth = running_median(density, min(window, n_bins))
    start = int(np.argmax(smooth))
    # Trailing empty bins carry no information about the falling spectrum.
    nonzero = np.nonzero(h.counts > 0)[0]
    stop = int(nonzero[-1]) + 1 if nonzero.size else n_bins
    stop = max(stop, min(n_bins, start + MIN_SCAN_BINS))
    notes: list[str] = []
    if start > 0:
        notes.append(f"scanned from the maximum at {h.edges[start]:g} on (bin {start})")
    if stop - start < MIN_SCAN_BINS:
        return ScanDomain(
            start,
            stop,
            f"only {stop - start} bins from the maximum at {h.edges[start]:g} on; "
            f"a scan needs at least {MIN_SCAN_BINS}",
        )
    part = smooth[start:stop]
    quarter = max(1, part.size // 4)
    if np.mean(part[-quarter:]) >= 0.8 * np.mean(part[:quarter]):
        return ScanDomain(
            start,
            stop,
            "the spectrum does not fall from its maximum on (flat or rising); "
            "BumpNet expects a smoothly falling spectrum",
        )
    if float(np.max(h.counts[start:stop])) > MAX_TRAINED_COUNTS:
        notes.append(
            f"up to {np.max(h.counts[start:stop]):.3g} events per bin, beyond the "
            f"training range ({MAX_TRAINED_COUNTS:.0g}); treat Z with care"
        )
    return ScanDomain(start, stop, None, tuple(notes))
