"""Which part of a histogram BumpNet can scan.

The network is trained on smoothly falling spectra of 30 to 150 bins with up to
about 10^6 expected events per bin. Real histograms often rise first (trigger
and acceptance turn-on), so the scan starts at the maximum of the event density
after a running median over ``SMOOTHING_BINS`` bins or a fifteenth of the
bins, whichever is more, which a narrow resonance does not move. Histograms
that cannot be a falling mass spectrum are rejected with a reason instead of
being scanned.

Histograms that can be scanned but lie outside the training domain get reasons
in ``ScanDomain.out_of_domain``: a background (running median of the counts)
above ``MAX_TRAINED_COUNTS`` in the scanned bins, or counts per bin that do not
fall because the bins widen. They
are still scanned, and the outputs mark their candidates as out of domain
instead of presenting them as bumps (see docs/robustness.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .histogram import Hist1D

MIN_SCAN_BINS = 10
SMOOTHING_BINS = 5
# The training histograms have at least this many bins; shorter scans get a note.
SHORT_SCAN_BINS = 30
# The largest expected count per bin in the training spectra
# (SyntheticConfig.log10_peak reaches 10^6). Near and above it the network's
# background is biased and background-only spectra get Z > 3 far more often than
# below it (bench/out_of_domain_counts.py measures the rate per count level).
MAX_TRAINED_COUNTS = 1e6
# Counts in the last quarter of the scanned bins at or above this fraction of
# those in the first quarter are "not falling".
FALLING_RATIO = 0.8


@dataclass(frozen=True)
class ScanDomain:
    """Bins ``start:stop`` of a histogram to scan, or why none can be scanned.

    ``skip_reason`` is None when the histogram can be scanned; ``notes`` lists
    conditions worth reporting that do not prevent the scan. ``out_of_domain``
    lists why a scannable histogram lies outside the training domain, so that
    its Z maxima are not bumps; it is empty inside the domain.
    """

    start: int
    stop: int
    skip_reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    out_of_domain: tuple[str, ...] = ()


def running_median(values: np.ndarray, width: int) -> np.ndarray:
    """Return the running median over ``width`` bins (rounded up to odd).

    The first and last values are repeated beyond the ends. scipy's filter
    needs O(n) memory, where a window view with np.median copied n x width
    values (5 GB for 100,000 bins).
    """
    from scipy.ndimage import median_filter

    half = width // 2
    return median_filter(
        np.asarray(values, dtype=np.float64), size=2 * half + 1, mode="nearest"
    )


def scan_domain(h: Hist1D) -> ScanDomain:
    """Decide which bins of ``h`` to scan; see the module docstring."""
    # Sums of counts near the float64 maximum overflow to inf, which the
    # comparisons below handle, so numpy's overflow warning is not needed.
    with np.errstate(over="ignore", invalid="ignore"):
        return _decide_domain(h)


def scan_domains(histograms: Sequence[Hist1D]) -> list[ScanDomain]:
    """Return ``scan_domain(h)`` for every histogram, in order.

    The running medians of all histograms with the same number of bins come
    from one call. A scan of thousands of histograms with a few binnings saves
    most of the time of one call per histogram.
    """
    # Imported where used: the process of a scan with worker processes
    # only collects results and does not need scipy.
    from scipy.ndimage import median_filter

    domains: list[ScanDomain | None] = [None] * len(histograms)
    groups: dict[int, list[int]] = defaultdict(list)
    for position, h in enumerate(histograms):
        groups[h.n_bins].append(position)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for n_bins, members in groups.items():
            if n_bins < MIN_SCAN_BINS:
                for position in members:
                    domains[position] = _decide_domain(histograms[position])
                continue
            counts = np.stack([histograms[p].counts for p in members])
            widths = np.stack([histograms[p].widths for p in members])
            size = 2 * (min(_window(n_bins), n_bins) // 2) + 1
            smooth = median_filter(counts / widths, size=(1, size), mode="nearest")
            smooth_counts = median_filter(counts, size=(1, size), mode="nearest")
            stops = _simple_stops(
                histograms, members, counts, widths, smooth, smooth_counts
            )
            simple: dict[int, ScanDomain] = {}
            for row, position in enumerate(members):
                stop = int(stops[row])
                if stop:
                    if stop not in simple:
                        simple[stop] = ScanDomain(0, stop)
                    domains[position] = simple[stop]
                else:
                    domains[position] = _decide_domain(
                        histograms[position], smooth[row], smooth_counts[row]
                    )
    return [domain for domain in domains if domain is not None]


def _simple_stops(
    histograms: Sequence[Hist1D],
    members: list[int],
    counts: np.ndarray,
    widths: np.ndarray,
    smooth: np.ndarray,
    smooth_counts: np.ndarray,
) -> np.ndarray:
    """Return the stop of the rows that _decide_domain scans from bin 0 without notes.

    Such a row (of histograms ``members``, all with the same number of bins)
    has events, starts at x >= 0 with its maximum in bin 0, has at least
    SHORT_SCAN_BINS bins up to its last filled one, falls, has bins of one
    width and a background within the training range. _decide_domain gives
    it ScanDomain(0, stop), with stop one past the last filled bin. Most rows
    of a scan are such rows; the others get 0 and are decided one at a time.
    The background level of a row cut before its last bin is bounded by its
    largest count, which is at least the running median that _decide_domain
    compares. So a few rows go the slow way without need, and none goes the
    fast way wrongly.
    """
    n_rows, n_bins = counts.shape
    stops = np.zeros(n_rows, dtype=np.int64)
    if n_bins < SHORT_SCAN_BINS:
        return stops
    first_edges = np.array([histograms[p].edges[0] for p in members])
    last = n_bins - np.argmax(counts[:, ::-1] > 0, axis=1)
    equal_widths = np.all(
        np.abs(widths - widths[:, :1]) <= 1e-6 * np.abs(widths[:, :1]), axis=1
    )
    level = np.where(
        last == n_bins, np.max(smooth_counts, axis=1), np.max(counts, axis=1)
    )
    candidate = (
        (np.sum(counts, axis=1) > 0)
        & (first_edges >= 0)
        & (np.argmax(smooth, axis=1) == 0)
        & (last >= SHORT_SCAN_BINS)
        & (level <= MAX_TRAINED_COUNTS)
        & equal_widths
    )
    for stop in np.unique(last[candidate]).tolist():
        rows = np.flatnonzero(candidate & (last == stop))
        quarter = max(1, stop // 4)
        part = smooth[rows, :stop]
        falling = np.mean(part[:, -quarter:], axis=1) < FALLING_RATIO * np.mean(
            part[:, :quarter], axis=1
        )
        stops[rows[falling]] = stop
    return stops


def _window(n_bins: int) -> int:
    return max(SMOOTHING_BINS, (n_bins // 15) | 1)


def _decide_domain(
    h: Hist1D,
    smooth: np.ndarray | None = None,
    smooth_counts: np.ndarray | None = None,
) -> ScanDomain:
    """Decide the domain of ``h``; see the module docstring.

    ``smooth`` and ``smooth_counts`` are the running medians of the density and
    of the counts over all bins when the caller has computed them already.
    """
    n_bins = h.n_bins
    total = float(np.sum(h.counts))
    if n_bins < MIN_SCAN_BINS:
        unit = "bin" if n_bins == 1 else "bins"
        return ScanDomain(
            0, n_bins, f"only {n_bins} {unit}; a scan needs at least {MIN_SCAN_BINS}"
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
    window = _window(n_bins)
    if smooth is None:
        smooth = running_median(h.counts / h.widths, min(window, n_bins))
    start = int(np.argmax(smooth))
    # The scan stops at the last non-empty bin, and the network does not read
    # the empty bins after it (see BumpNet.evaluate).
    nonzero = np.nonzero(h.counts > 0)[0]
    stop = int(nonzero[-1]) + 1 if nonzero.size else n_bins
    stop = max(stop, min(n_bins, start + MIN_SCAN_BINS))
    notes: list[str] = []
    if start > 0:
        notes.append(
            f"scanned from the maximum of the smoothed density at {h.edges[start]:g} "
            f"on (bin {start}, counted from 0; running median over "
            f"{min(window, n_bins)} bins)"
        )
    if stop - start < MIN_SCAN_BINS:
        return ScanDomain(
            start,
            stop,
            f"only {stop - start} {'bin' if stop - start == 1 else 'bins'} from "
            f"the maximum at {h.edges[start]:g} on; "
            f"a scan needs at least {MIN_SCAN_BINS}",
        )
    if stop - start < SHORT_SCAN_BINS:
        notes.append(
            f"only {stop - start} bins scanned; below {SHORT_SCAN_BINS} the "
            "background estimate is less certain and background alone gives "
            "high Z more often"
        )
    part = smooth[start:stop]
    quarter = max(1, part.size // 4)
    if np.mean(part[-quarter:]) >= FALLING_RATIO * np.mean(part[:quarter]):
        return ScanDomain(
            start,
            stop,
            "the spectrum does not fall from its maximum on (flat or rising); "
            "BumpNet expects a smoothly falling spectrum",
        )
    if start == 0 and stop == n_bins and smooth_counts is not None:
        # The running median of all bins is that of the scanned bins.
        counts = smooth_counts
    else:
        counts = running_median(h.counts[start:stop], min(window, stop - start))
    out_of_domain = _out_of_domain_reasons(h, start, stop, counts)
    return ScanDomain(start, stop, None, tuple(notes), out_of_domain)


def _out_of_domain_reasons(
    h: Hist1D, start: int, stop: int, counts: np.ndarray
) -> tuple[str, ...]:
    """Return why the bins ``start:stop`` of ``h`` lie outside the training domain.

    ``counts`` is the running median of the counts in those bins. It follows
    the background and ignores a narrow peak, so a strong resonance on a
    background inside the range is not flagged.
    """
    reasons = []
    background_level = float(np.max(counts))
    if background_level > MAX_TRAINED_COUNTS:
        reasons.append(
            f"a background of up to {background_level:.3g} events per bin, beyond "
            f"the training range ({MAX_TRAINED_COUNTS:.0e}), where the background "
            "estimate is biased and Z is too high; rebin to narrower bins or scan "
            "a subset of the events"
        )
    widths = h.widths[start:stop]
    if np.allclose(widths, widths[0], rtol=1e-6, atol=0.0):
        # Equal widths: the counts follow the density, which falls.
        return tuple(reasons)
    quarter = max(1, counts.size // 4)
    if np.mean(counts[-quarter:]) >= FALLING_RATIO * np.mean(counts[:quarter]):
        reasons.append(
            "the counts per bin do not fall, although the event density does, "
            f"because the bins widen from {float(widths.min()):.3g} to "
            f"{float(widths.max()):.3g}; BumpNet reads counts per bin and was "
            "trained on falling counts in equal-width bins, so rebin to equal "
            "widths"
        )
    return tuple(reasons)
