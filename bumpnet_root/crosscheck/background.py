"""Background-only fits and the choice of the background function.

Model selection (``selection``):

* ``"ftest"``: within each family the parameter count grows while a Fisher
  F-test on the Poisson deviance D prefers the larger function,

      F = [(D_k - D_k') / (k' - k)] / [D_k' / (N - k')],   p = P(F_{k'-k, N-k'} > F),

  accepting k' when p < ``alpha`` (N = number of bins). The first count whose
  F-test fails ends the family. The F-test only compares nested functions, so
  the families' winners are compared by AIC = D + 2k.
* ``"aic"``: every count of every family is fitted and the lowest AIC wins.

A function whose fit does not converge is skipped; the F-test compares the
next one with the last accepted function of the family.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import f as f_distribution

from ..errors import FitFailedError, InvalidHistogramError
from ..histogram import Hist1D
from ._model import BackgroundModel, HistogramModel, is_converged
from ._roofit import guarded_edges, load_root, roofit_output
from .families import (
    DEFAULT_FAMILIES,
    DEFAULT_SQRT_S,
    FAMILY_ORDERS,
    YIELD_NAME,
    StartingPoint,
    build_shape,
    dijet_range_problem,
    parse_families,
    starting_point,
)
from .results import STATUS_NOT_RUN, BackgroundFit, CandidateFit

logger = logging.getLogger(__name__)

SELECTIONS = ("ftest", "aic")
DEFAULT_ALPHA = 0.05


def as_hist1d(obj: Any) -> Hist1D:
    """Convert any supported histogram to a Hist1D (see adapters.to_hist1d)."""
    from ..adapters import to_hist1d

    return to_hist1d(obj)


def validate_options(
    families: Any, selection: str, sqrt_s: float, alpha: float
) -> dict[str, tuple[int, ...]]:
    """Check the model-selection options and return the parsed families."""
    parsed = parse_families(families)
    if selection not in SELECTIONS:
        raise ValueError(
            f"unknown selection {selection!r}; use 'ftest' (Fisher F-test within "
            "each family) or 'aic' (Akaike information criterion)"
        )
    if not (math.isfinite(sqrt_s) and sqrt_s > 0):
        raise ValueError(
            f"sqrt_s must be a positive centre-of-mass energy in the mass unit, "
            f"got {sqrt_s!r}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha!r}")
    return parsed


def poisson_deviance(counts: np.ndarray, expected: np.ndarray) -> float:
    """Return 2 sum[nu - n + n ln(n/nu)], the likelihood-ratio chi2 of a fit."""
    expected = np.maximum(expected, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(counts > 0, counts * np.log(counts / expected), 0.0)
    return float(2.0 * np.sum(expected - counts + log_term))


def pearson_chi2(counts: np.ndarray, expected: np.ndarray) -> float:
    """Return sum (n - nu)^2 / nu over the bins with nu > 0."""
    positive = expected > 0
    residual = counts[positive] - expected[positive]
    return float(np.sum(residual**2 / expected[positive]))


def f_test_p_value(
    deviance_small: float,
    deviance_large: float,
    params_small: int,
    params_large: int,
    n_bins: int,
) -> float:
    """Return the F-test p-value of the larger of two nested functions."""
    extra = params_large - params_small
    dof = n_bins - params_large
    improvement = deviance_small - deviance_large
    if improvement <= 0:
        return 1.0
    if deviance_large <= 0:
        return 0.0
    statistic = (improvement / extra) / (deviance_large / dof)
    return float(f_distribution.sf(statistic, extra, dof))


def fit_background(
    hist: Any,
    *,
    families: Any = DEFAULT_FAMILIES,
    selection: str = "ftest",
    sqrt_s: float = DEFAULT_SQRT_S,
    alpha: float = DEFAULT_ALPHA,
    verbose: bool = False,
) -> BackgroundFit:
    """Fit the background of ``hist`` with the function chosen by ``selection``.

    ``families`` lists families (``"dijet"``, ``"power_law"``, ``"expo_poly"``,
    ``"bernstein"``) or single functions (``"dijet4"``). ``sqrt_s`` is the
    centre-of-mass energy in the mass unit of the histogram (default 13000,
    i.e. 13 TeV for masses in GeV); it only enters the dijet function. Raises
    FitFailedError when no function converges, InvalidHistogramError for a
    histogram that cannot be fitted, and ValueError for invalid options.
    """
    parsed = validate_options(families, selection, sqrt_s, alpha)
    h = as_hist1d(hist)
    root = load_root()
    with roofit_output(root, verbose):
        histogram = HistogramModel(root, h, verbose)
        fit, _ = select_background(histogram, parsed, selection, sqrt_s, alpha)
    return fit


@dataclass
class _Attempt:
    model: BackgroundModel
    status: int
    deviance: float
    expected: np.ndarray
    p_value: float = math.nan

    @property
    def n_params(self) -> int:
        return self.model.shape.n_params

    @property
    def aic(self) -> float:
        return self.deviance + 2.0 * self.n_params


def select_background(
    histogram: HistogramModel,
    families: dict[str, tuple[int, ...]],
    selection: str,
    sqrt_s: float,
    alpha: float,
) -> tuple[BackgroundFit, BackgroundModel]:
    """Fit the candidate functions and return the chosen fit and its model."""
    h = histogram.hist
    _check_fittable(h)
    families = _usable_families(h, families, sqrt_s)

    attempts: list[_Attempt] = []
    winners: list[_Attempt] = []
    for family, orders in families.items():
        family_attempts = _fit_family(
            histogram, family, orders, selection, sqrt_s, alpha
        )
        attempts.extend(family_attempts)
        winner = _family_winner(family_attempts, selection, alpha, h.n_bins)
        if winner is not None:
            winners.append(winner)
    if not winners:
        statuses = ", ".join(f"{a.model.shape.name}: {a.status}" for a in attempts)
        raise FitFailedError(
            f"histogram {h.label!r}: no background function converged (Minuit2 "
            f"status per function: {statuses or 'none fitted'}); try other "
            "families or check the histogram for spikes or a very narrow range"
        )

    chosen = min(winners, key=lambda attempt: attempt.aic)
    values_before = chosen.model.values()
    status, hesse_status = chosen.model.refit_with_hesse()
    if is_converged(status):
        chosen.status = status
        chosen.expected = chosen.model.expected_counts()
        chosen.deviance = poisson_deviance(h.counts, chosen.expected)
    else:
        # Keep the converged selection fit. Its errors are then Migrad's.
        chosen.model.set_values(values_before)
        hesse_status = STATUS_NOT_RUN
    fit = _background_fit(histogram, chosen, attempts, selection, sqrt_s, hesse_status)
    logger.info(
        "background of %r: %s (status %d, deviance %.1f for %d bins)",
        h.label,
        fit.function,
        fit.fit_status,
        fit.deviance,
        h.n_bins,
    )
    return fit, chosen.model


def _check_fittable(h: Hist1D) -> None:
    if np.any(h.counts < 0) or not np.all(np.isfinite(h.counts)):
        raise InvalidHistogramError(
            f"histogram {h.label!r}: counts must be finite and non-negative for a "
            "Poisson fit"
        )
    if np.sum(h.counts) <= 0:
        raise InvalidHistogramError(
            f"histogram {h.label!r} has no entries, so there is no background to fit"
        )
    smallest = min(min(orders) for orders in FAMILY_ORDERS.values())
    if h.n_bins <= smallest:
        raise InvalidHistogramError(
            f"histogram {h.label!r} has {h.n_bins} bins, but the smallest "
            f"background function has {smallest} parameters; a fit needs more "
            "bins than parameters"
        )


def _usable_families(
    h: Hist1D, families: dict[str, tuple[int, ...]], sqrt_s: float
) -> dict[str, tuple[int, ...]]:
    usable = dict(families)
    if "dijet" in usable:
        problem = dijet_range_problem(guarded_edges(h.edges), sqrt_s)
        if problem is not None:
            logger.warning("histogram %r: skipping dijet family: %s", h.label, problem)
            del usable["dijet"]
    if "power_law" in usable and h.edges[0] <= 0:
        logger.warning(
            "histogram %r: skipping power_law family: it needs masses above 0, "
            "but the range starts at %r",
            h.label,
            float(h.edges[0]),
        )
        del usable["power_law"]
    if not usable:
        raise InvalidHistogramError(
            f"histogram {h.label!r}: none of the families {list(families)} can "
            f"describe the range [{float(h.edges[0])!r}, {float(h.edges[-1])!r}]; "
            "add expo_poly or bernstein, or set sqrt_s above the upper edge"
        )
    return usable


def _fit_family(
    histogram: HistogramModel,
    family: str,
    orders: tuple[int, ...],
    selection: str,
    sqrt_s: float,
    alpha: float,
) -> list[_Attempt]:
    """Fit the requested parameter counts of one family in increasing order.

    With ``selection="ftest"`` the F-test runs as the family is fitted, so the
    counts after the first rejected one are not fitted.
    """
    h = histogram.hist
    attempts: list[_Attempt] = []
    accepted: _Attempt | None = None
    for n_params in orders:
        if n_params >= h.n_bins:
            break
        shape = build_shape(family, n_params, histogram.fit_edges, sqrt_s)
        model = BackgroundModel(histogram, shape)
        starts = [starting_point(shape, h.edges, h.counts, sqrt_s)]
        if accepted is not None:
            starts.append(_nested_start(accepted.model, starts[0]))
        status, _ = model.fit(starts)
        expected = model.expected_counts()
        attempt = _Attempt(
            model, status, poisson_deviance(h.counts, expected), expected
        )
        attempts.append(attempt)
        if not is_converged(status):
            continue
        if accepted is None:
            accepted = attempt
            continue
        attempt.p_value = f_test_p_value(
            accepted.deviance,
            attempt.deviance,
            accepted.n_params,
            attempt.n_params,
            h.n_bins,
        )
        if attempt.p_value < alpha or selection == "aic":
            accepted = attempt
        else:
            break
    return attempts


def _family_winner(
    attempts: list[_Attempt], selection: str, alpha: float, n_bins: int
) -> _Attempt | None:
    converged = [a for a in attempts if is_converged(a.status)]
    if not converged:
        return None
    if selection == "aic":
        return min(converged, key=lambda attempt: attempt.aic)
    winner = converged[0]
    for attempt in converged[1:]:
        if attempt.p_value < alpha:
            winner = attempt
        else:
            break
    return winner


def _nested_start(previous: BackgroundModel, own: StartingPoint) -> StartingPoint:
    """Start from the fitted lower-order function, extended to the new count.

    The extra parameters start at values that leave the function unchanged:
    zero for the exponent families, and degree elevation for Bernstein.
    """
    values = [p.getVal() for p in previous.parameters]
    if previous.shape.family == "bernstein":
        degree = len(values) - 1
        elevated = [values[0]]
        for j in range(1, degree + 1):
            weight = j / (degree + 1)
            elevated.append(weight * values[j - 1] + (1 - weight) * values[j])
        elevated.append(values[-1])
        elevated = [max(v, 1e-3) for v in elevated]
        fixed = int(np.argmax(elevated))
        scale = elevated[fixed]
        elevated = [v / scale for v in elevated]
        return StartingPoint(tuple(elevated), own.steps, fixed)
    padded = values + [0.0] * (len(own.values) - len(values))
    return StartingPoint(tuple(padded), own.steps, None)


def _background_fit(
    histogram: HistogramModel,
    chosen: _Attempt,
    attempts: list[_Attempt],
    selection: str,
    sqrt_s: float,
    hesse_status: int,
) -> BackgroundFit:
    h = histogram.hist
    model = chosen.model
    shape = model.shape
    candidates = tuple(
        CandidateFit(
            function=a.model.shape.name,
            family=a.model.shape.family,
            n_params=a.n_params,
            fit_status=a.status,
            deviance=a.deviance,
            aic=a.aic,
            f_test_p_value=a.p_value,
            selected=a is chosen,
        )
        for a in attempts
    )
    fixed = model.fixed_flags()
    n_fitted = len(fixed) - sum(fixed)
    return BackgroundFit(
        name=h.label,
        function=shape.name,
        family=shape.family,
        formula=shape.description,
        parameter_names=(*shape.parameter_names, YIELD_NAME),
        parameter_values=tuple(model.values()),
        parameter_errors=tuple(model.parameter_errors()),
        fixed=tuple(fixed),
        fit_status=chosen.status,
        hesse_status=hesse_status,
        edges=h.edges,
        counts=h.counts,
        background=chosen.expected,
        deviance=chosen.deviance,
        chi2=pearson_chi2(h.counts, chosen.expected),
        ndf=h.n_bins - n_fitted,
        selection=selection,
        sqrt_s=sqrt_s,
        candidates=candidates,
    )
