"""Upper limits on the number of signal entries.

Two methods, meant to be shown side by side:

* :func:`profile_upper_limit` (used by ``upper_limits`` and
  ``crosscheck(limits=True)``): the one-sided profile-likelihood limit. With
  q(s) = 2 [NLL(s) - NLL(s_ref)], where NLL(s) is minimised over the
  background parameters at fixed signal yield s and s_ref = max(s_hat, 0), the
  limit is the s > s_ref with q(s) = Phi^-1(cl)^2 (2.706 for cl = 0.95). This is
  the statistic q~_mu of Cowan, Cranmer, Gross and Vitells, Eur. Phys. J. C 71
  (2011) 1554, eq. 16, with its asymptotic (Wald) threshold. It is a CL_s+b
  limit, not CL_s, so after a downward fluctuation it is smaller than a CL_s
  limit.
* :func:`upper_limits_from_z`: a limit from a per-bin significance Z alone,
  for example BumpNet's, and a background estimate b. The signal yield s_hat
  is the one whose Asimov data set b + s_hat s gives q0 = Z^2 (s_hat < 0 for
  Z < 0). The limit then follows from the same q~ with b fixed, evaluated on
  that Asimov data set. Without background uncertainty it is usually smaller
  than the profile limit, by an amount that grows with the correlation of the
  background parameters with the signal yield.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import ndtri

from ..errors import InvalidHistogramError
from ..significance import MIN_BACKGROUND, gaussian_template_windows
from ._model import SignalFit, is_converged

logger = logging.getLogger(__name__)

PROFILE_LIMIT_METHOD = "profile_likelihood_one_sided_qtilde"
# Bracket expansions before a root search gives up; each one doubles the step.
_MAX_EXPANSIONS = 30


def limit_threshold(cl: float) -> float:
    """Return Phi^-1(cl)^2, the one-sided asymptotic threshold of q~."""
    if not 0.5 < cl < 1:
        raise ValueError(f"confidence level must lie between 0.5 and 1, got {cl!r}")
    return float(ndtri(cl) ** 2)


def profile_upper_limit(
    profile: Callable[[float], tuple[int, float]],
    fit: SignalFit,
    nll_background_only: float,
    step: float,
    cl: float,
) -> tuple[float, int]:
    """Solve q~(s) = threshold for s above the best fit; return (limit, status).

    ``profile(s)`` returns the Minuit2 status and the NLL minimised over the
    background at fixed s. ``status`` is the first failed status among the
    profile fits (else the largest valid one), or 5 when no bracket of the
    root was found.
    """
    threshold = limit_threshold(cl)
    if fit.n_signal >= 0:
        reference, nll_reference = fit.n_signal, fit.nll
    else:
        reference, nll_reference = 0.0, nll_background_only
    width = fit.n_signal_error
    if not (math.isfinite(width) and width > 0):
        width = step
    statuses: list[int] = []
    cache: dict[float, float] = {}

    def excess(s: float) -> float:
        if s not in cache:
            status, nll = profile(s)
            statuses.append(status)
            cache[s] = 2.0 * (nll - nll_reference) - threshold
        return cache[s]

    cache[reference] = -threshold
    low = reference
    high = max(fit.n_signal + math.sqrt(threshold) * width, reference + 0.5 * width)
    for expansion in range(_MAX_EXPANSIONS):
        if excess(high) > 0:
            break
        low, high = high, high + width * 2.0**expansion
    else:
        return math.nan, 5
    limit = brentq(excess, low, high, xtol=1e-3 * width, rtol=1e-8)
    failed = [status for status in statuses if not is_converged(status)]
    return float(limit), failed[0] if failed else max(statuses, default=0)


def upper_limits_from_z(
    z: ArrayLike,
    background: ArrayLike,
    edges: ArrayLike,
    *,
    width: float = 1.0,
    cl: float = 0.95,
) -> np.ndarray:
    """Turn a signed significance per bin into an upper limit on the signal yield.

    ``z`` and ``background`` have one entry per bin; the signal template of bin
    j is the Gaussian of ``local_significance`` (sigma = ``width`` times the
    width of bin j, integrated over the bins and normalised to 1). See the
    module docstring for the method. NaN in ``z`` gives NaN. A negative Z
    deeper than the deepest deficit the background allows uses that deficit.
    """
    z = np.asarray(z, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    n_bins = edges.size - 1
    if z.shape != (n_bins,) or background.shape != (n_bins,):
        raise InvalidHistogramError(
            f"{n_bins} bins need z and background of shape ({n_bins},), got "
            f"{z.shape} and {background.shape}"
        )
    if not np.all(np.isfinite(background)) or np.any(background < 0):
        raise InvalidHistogramError(
            "background must be finite and non-negative in every bin"
        )
    threshold = limit_threshold(cl)
    index, weight = gaussian_template_windows(edges, width)
    limits = np.full(n_bins, np.nan)
    for j in range(n_bins):
        if not math.isfinite(z[j]):
            continue
        reached = weight[j] > 0
        b = np.maximum(background[index[j][reached]], MIN_BACKGROUND)
        s = weight[j][reached]
        s_hat = _asimov_signal(float(z[j]), b, s)
        limits[j] = _fixed_background_limit(s_hat, b, s, threshold)
    return limits


def _asimov_q0(mu: float, b: np.ndarray, s: np.ndarray) -> float:
    expected = b + mu * s
    return float(2.0 * np.sum(expected * np.log(expected / b) - mu * s))


def _asimov_signal(z: float, b: np.ndarray, s: np.ndarray) -> float:
    """Return the yield s_hat with q0(b + s_hat s) = z^2 and sign(s_hat) = sign(z)."""
    target = z * z
    if target == 0:
        return 0.0
    scale = 1.0 / math.sqrt(float(np.sum(s * s / b)))
    if z > 0:
        high = abs(z) * scale
        while _asimov_q0(high, b, s) < target:
            high *= 2.0
        return float(brentq(lambda mu: _asimov_q0(mu, b, s) - target, 0.0, high))
    # The deepest deficit empties the bin with the smallest b_i / s_i.
    deepest = -float(np.min(b / s)) * (1.0 - 1e-12)
    if _asimov_q0(deepest, b, s) <= target:
        return deepest
    return float(brentq(lambda mu: _asimov_q0(mu, b, s) - target, deepest, 0.0))


def _fixed_background_limit(
    s_hat: float, b: np.ndarray, s: np.ndarray, threshold: float
) -> float:
    """Solve q~(mu) = threshold with b fixed, for the Asimov data b + s_hat s."""
    observed = b + s_hat * s
    filled = observed > 0

    def nll(mu: float) -> float:
        expected = b + mu * s
        log_term = observed[filled] * np.log(expected[filled])
        return float(np.sum(expected) - np.sum(log_term))

    reference = max(s_hat, 0.0)
    nll_reference = nll(reference)
    scale = 1.0 / math.sqrt(float(np.sum(s * s / b)))
    high = reference + scale
    while 2.0 * (nll(high) - nll_reference) < threshold:
        high += 2.0 * scale
    return float(
        brentq(
            lambda mu: 2.0 * (nll(mu) - nll_reference) - threshold,
            reference,
            high,
            xtol=1e-6 * scale,
        )
    )


def converged_limit(limit: float, status: int) -> float:
    """Return ``limit``, or NaN when a profile fit of its search failed."""
    return limit if is_converged(status) else math.nan
