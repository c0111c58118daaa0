"""Local significance of a Gaussian resonance per bin, with the background known.

The label follows Cowan, Cranmer, Gross and Vitells, Eur. Phys. J. C 71 (2011) 1554.
For every bin j a Gaussian template s centred on bin j (sigma = width of bin j times
``width``) is integrated over the bins and normalised to sum 1. One signal strength
mu is fitted to the Poisson likelihood

    ln L(mu) = sum_i [n_i ln(b_i + mu s_i) - (b_i + mu s_i)]

with b fixed; mu may be negative while every b_i + mu s_i stays non-negative. Then
q0 = 2 [ln L(mu_hat) - ln L(0)] and Z_j = sign(mu_hat) sqrt(q0), so deficits get
negative Z. Conventions at the boundaries:

* n_i = 0 contributes 0 ln(.) = 0.
* b_i is clipped to at least ``MIN_BACKGROUND``; an event observed where the
  background is zero therefore gives a large but finite Z, never inf or NaN.
* When the likelihood grows towards the lower bound of mu (a deficit with empty
  bins), mu_hat sits on that bound.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidHistogramError

MIN_BACKGROUND = 1e-9
# Template bins further than this many sigma from the centre are dropped; the
# Gaussian mass beyond 8 sigma is below 1e-15.
TEMPLATE_REACH_SIGMA = 8.0
_NEWTON_ITERATIONS = 60
# Maximum number of elements of one (histograms, bins, K) work array in
# local_significance (2**22 float64 values: 32 MiB).
WORK_ELEMENTS = 2**22


def one_bin_significance(n: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Return sign(n - b) sqrt(2 [n ln(n/b) - n + b]) elementwise.

    This is the local significance when the whole signal template lies in one
    bin. n = 0 gives -sqrt(2 b); b is clipped to ``MIN_BACKGROUND``.
    """
    n = np.asarray(n, dtype=np.float64)
    b = np.maximum(np.asarray(b, dtype=np.float64), MIN_BACKGROUND)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0) / b), 0.0)
    q0 = np.maximum(2.0 * (log_term - n + b), 0.0)
    return np.sign(n - b) * np.sqrt(q0)


def asimov_significance(s: ArrayLike, b: ArrayLike) -> float:
    """Return the Asimov significance sqrt(2 sum[(b + s) ln(1 + s/b) - s]).

    This is the median Z expected for a signal s over a background b, summed
    over bins; s must be non-negative.
    """
    s = np.asarray(s, dtype=np.float64)
    b = np.maximum(np.asarray(b, dtype=np.float64), MIN_BACKGROUND)
    x = s / b
    # (b + s) ln(1 + s/b) - s = b [(1 + x) ln(1 + x) - x]. Below x = 1e-4 the
    # two terms cancel, so the series x^2/2 - x^3/6 + x^4/12 is used: its
    # relative error there is below 1e-12, less than that of the difference.
    small = np.abs(x) < 1e-4
    safe = np.where(small, 0.0, x)
    series = x * x * (0.5 - x / 6.0 + x * x / 12.0)
    terms = b * np.where(small, series, (1.0 + safe) * np.log1p(safe) - safe)
    return float(np.sqrt(max(2.0 * float(np.sum(terms)), 0.0)))


def _template_bounds(edges: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the first and one past the last bin that each template reaches."""
    if width <= 0 or not np.isfinite(width):
        raise ValueError(f"template width must be positive and finite, got {width!r}")
    n_bins = edges.size - 1
    centers = 0.5 * (edges[1:] + edges[:-1])
    sigma = np.diff(edges) * width
    lo = np.searchsorted(edges, centers - TEMPLATE_REACH_SIGMA * sigma, side="right")
    hi = np.searchsorted(edges, centers + TEMPLATE_REACH_SIGMA * sigma, side="left")
    lo = np.clip(lo - 1, 0, n_bins - 1)
    hi = np.clip(hi, lo + 1, n_bins)
    return lo, hi


def gaussian_template_windows(
    edges: ArrayLike, width: float = 1.0, rows: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Build the normalised Gaussian signal template of every bin.

    Returns ``(index, weight)``, both of shape (n_bins, K): row j lists the bins
    that template j reaches and the template's fraction in each. Padding
    entries have weight 0 and repeat a valid index. ``width`` scales sigma in
    units of the centre bin's width. ``rows`` selects the templates (bin
    indices) to build, in that order; K is then the widest of those.
    """
    edges = np.asarray(edges, dtype=np.float64)
    lo, hi = _template_bounds(edges, width)
    centers = 0.5 * (edges[1:] + edges[:-1])
    sigma = np.diff(edges) * width
    if rows is not None:
        rows = np.asarray(rows, dtype=np.intp)
        lo, hi, centers, sigma = lo[rows], hi[rows], centers[rows], sigma[rows]
    k = int(np.max(hi - lo))
    index = lo[:, None] + np.arange(k)[None, :]
    valid = index < hi[:, None]
    index = np.where(valid, index, lo[:, None])
    z_low = (edges[index] - centers[:, None]) / sigma[:, None]
    z_high = (edges[index + 1] - centers[:, None]) / sigma[:, None]
    # Right of the centre, 1 - Phi(z_low) - (1 - Phi(z_high)) keeps the digits
    # that Phi(z_high) - Phi(z_low) loses to cancellation near 1 (a relative
    # error of 1e-2 at 8 sigma), and it makes the templates mirror-symmetric.
    weight = np.where(
        z_low > 0,
        _normal_cdf(-z_low) - _normal_cdf(-z_high),
        _normal_cdf(z_high) - _normal_cdf(z_low),
    )
    weight = np.where(valid, np.maximum(weight, 0.0), 0.0)
    weight /= np.sum(weight, axis=-1, keepdims=True)
    return index, weight


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def local_significance(
    counts: ArrayLike,
    background: ArrayLike,
    edges: ArrayLike | None = None,
    width: float = 1.0,
) -> np.ndarray:
    """Return the signed local significance Z per bin for known background.

    ``counts`` and ``background`` have shape (n_bins,) or (n_hist, n_bins);
    ``edges`` (n_bins + 1,) defaults to unit-width bins. See the module
    docstring for the likelihood and the conventions at n = 0 and b = 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    if counts.shape != background.shape:
        raise InvalidHistogramError(
            f"counts have shape {counts.shape} but background {background.shape}"
        )
    squeeze = counts.ndim == 1
    counts2d = np.atleast_2d(counts)
    background2d = np.atleast_2d(background)
    n_bins = counts2d.shape[1]
    if edges is None:
        edges = np.arange(n_bins + 1, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if edges.shape != (n_bins + 1,):
        raise InvalidHistogramError(
            f"{n_bins} bins need {n_bins + 1} edges, got shape {edges.shape}"
        )
    _check_significance_inputs(counts2d, background2d, edges)
    lo, hi = _template_bounds(edges, width)
    z = np.empty_like(counts2d)
    for bins in _template_chunks(hi - lo, counts2d.shape[0]):
        index, weight = gaussian_template_windows(edges, width, rows=bins)
        # Histograms are processed in chunks so that the (histograms, bins, K)
        # work arrays stay below about WORK_ELEMENTS elements.
        chunk = max(1, WORK_ELEMENTS // index.size)
        for start in range(0, counts2d.shape[0], chunk):
            rows = slice(start, start + chunk)
            n = counts2d[rows][:, index]
            b = np.maximum(background2d[rows], MIN_BACKGROUND)[:, index]
            z[rows, bins] = _fit_templates(n, b, np.broadcast_to(weight, n.shape))
    return z[0] if squeeze else z


def _check_significance_inputs(
    counts: np.ndarray, background: np.ndarray, edges: np.ndarray
) -> None:
    """Raise InvalidHistogramError for inputs without a defined significance."""
    if counts.shape[1] == 0:
        raise InvalidHistogramError(
            "counts and background have no bins; pass at least one bin"
        )
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise InvalidHistogramError(
            f"the edges must be finite and increase strictly, got {edges[:5]} ... "
            f"{edges[-2:]}; pass the edges of the histogram in increasing order"
        )
    for label, array in (("counts", counts), ("background", background)):
        bad = ~np.isfinite(array)
        if np.any(bad):
            row, column = np.argwhere(bad)[0]
            raise InvalidHistogramError(
                f"{label} contain {int(np.count_nonzero(bad))} NaN or inf values, "
                f"the first in bin {int(column)} of histogram {int(row)}; pass "
                "finite values"
            )
    if np.any(counts < 0):
        row, column = np.argwhere(counts < 0)[0]
        raise InvalidHistogramError(
            f"counts must be non-negative, but bin {int(column)} of histogram "
            f"{int(row)} contains {float(counts[row, column])!r}; pass event counts"
        )


def _template_chunks(lengths: np.ndarray, n_hist: int) -> list[np.ndarray]:
    """Split the template rows into chunks of similar window length.

    Rows are sorted by window length, so one wide template (next to a very wide
    bin, or on bins spanning decades) does not pad every other row to its
    length. A chunk takes rows while rows x widest window x ``n_hist`` stays
    within WORK_ELEMENTS, and contains at least one row.
    """
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    chunks = []
    position = 0
    while position < order.size:
        taken = np.arange(1, order.size - position + 1)
        cost = taken * sorted_lengths[position:] * n_hist
        size = max(1, int(np.searchsorted(cost, WORK_ELEMENTS, side="right")))
        chunks.append(order[position : position + size])
        position += size
    return chunks


def _fit_templates(n: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Fit mu for every template row and return sign(mu_hat) sqrt(q0).

    ln L(mu) is concave in mu, so a Newton step safeguarded by bisection inside
    the bracket [mu_low, mu_high] converges. mu_low makes the smallest
    b_i + mu s_i zero; for mu above the window's total count N, dlnL/dmu < 0.
    """
    active = s > 0
    with np.errstate(divide="ignore"):
        ratio = np.where(active, b / np.where(active, s, 1.0), np.inf)
    mu_low = -np.min(ratio, axis=-1)
    mu_high = np.maximum(np.sum(n, axis=-1), 0.0) + 1.0
    low = mu_low.copy()
    high = mu_high.copy()
    mu = np.clip(
        np.sum((n - b) * s, axis=-1) / np.sum(s * s, axis=-1),
        0.5 * mu_low,
        0.5 * mu_high,
    )
    for _ in range(_NEWTON_ITERATIONS):
        expected = b + mu[..., None] * s
        safe = np.where(expected > 0, expected, 1.0)
        grad = np.sum(np.where(active, n * s / safe, 0.0), axis=-1) - 1.0
        hess = -np.sum(np.where(active, n * s * s / (safe * safe), 0.0), axis=-1)
        low = np.where(grad > 0, mu, low)
        high = np.where(grad <= 0, mu, high)
        # A nearly flat ln L (tiny counts) overflows the Newton step; the
        # infinite candidate then falls outside the bracket and bisection acts.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = np.where(hess < 0, -grad / hess, np.nan)
        candidate = mu + step
        inside = np.isfinite(candidate) & (candidate > low) & (candidate < high)
        mu = np.where(inside, candidate, 0.5 * (low + high))
    return _signed_sqrt_q0(n, b, s, mu)


def _signed_sqrt_q0(
    n: np.ndarray, b: np.ndarray, s: np.ndarray, mu: np.ndarray
) -> np.ndarray:
    shift = mu[..., None] * s / b
    # -1 + 1e-300 rounds to -1, whose log1p is -inf: that turned Z into 0 for
    # tiny fractional counts whose mu_hat sits on its lower bound.
    floor = -1.0 + np.finfo(np.float64).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(n > 0, n * np.log1p(np.maximum(shift, floor)), 0.0)
    q0 = 2.0 * np.sum(log_term - mu[..., None] * s, axis=-1)
    return np.sign(mu) * np.sqrt(np.maximum(q0, 0.0))
