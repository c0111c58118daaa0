"""RooFit models of one histogram: a background shape, optionally plus a Gaussian.

The extended likelihood of ``n_b f_b + n_s f_s`` with bin-integrated pdfs is the
binned Poisson likelihood

    -ln L = sum_i [nu_i - n_i ln nu_i] + const,   nu_i = n_b F_b,i + n_s F_s,i,

where F_x,i is the probability of bin i under pdf x. RooFit skips empty bins in
the sum, and their expectation still enters through the extended term, so empty
bins are handled exactly.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..histogram import Hist1D
from ._roofit import (
    CONVERGED_STATUSES,
    bin_integrated_pdf,
    create_nll,
    guarded_edges,
    make_observable,
    minimize,
    minimize_with_hesse,
    to_roodatahist,
)
from .families import YIELD_NAME, BackgroundShape, StartingPoint

logger = logging.getLogger(__name__)

# Fraction of the positivity bound -min_i(b_i / s_i) that a negative signal
# yield may reach, so the total expectation stays above zero in every bin.
NEGATIVE_YIELD_MARGIN = 0.999


def is_converged(status: int) -> bool:
    return status in CONVERGED_STATUSES


class HistogramModel:
    """RooFit data and observable of one histogram, shared by all its fits.

    ``fit_edges`` are the histogram edges plus the empty guard bin explained in
    ``_roofit``; shapes are defined over that range.
    """

    def __init__(self, root: ModuleType, hist: Hist1D, verbose: bool) -> None:
        self.root = root
        self.hist = hist
        self.verbose = verbose
        self.fit_edges = guarded_edges(hist.edges)
        observable = make_observable(root, self.fit_edges)
        self.data, self.observable = to_roodatahist(hist, observable=observable)
        self.normalisation_set = root.RooArgSet(self.observable)
        self.total = float(np.sum(hist.counts))


@dataclass(frozen=True)
class SignalFit:
    """Outcome of one signal-plus-background fit at a fixed mass and width."""

    status: int
    nll: float
    n_signal: float
    n_signal_error: float


class BackgroundModel:
    """A background shape with a yield, and a lazily built Gaussian signal.

    The RooFit objects are kept as attributes: PyROOT deletes a C++ object when
    its last Python reference goes, and RooFit does not own its servers.
    """

    def __init__(self, histogram: HistogramModel, shape: BackgroundShape) -> None:
        root = histogram.root
        self.histogram = histogram
        self.shape = shape
        prefix = shape.name
        self.parameters = [
            root.RooRealVar(f"{prefix}_{name}", name, 0.0, lower, math.inf)
            for name, lower in zip(shape.parameter_names, shape.lower_bounds)
        ]
        arguments = root.RooArgList(histogram.observable)
        for parameter in self.parameters:
            arguments.add(parameter)
        self.shape_function = root.RooFormulaVar(
            f"{prefix}_function", shape.description, shape.formula, arguments
        )
        self.pdf, self._keep_pdf = bin_integrated_pdf(
            root, f"{prefix}_pdf", self.shape_function, histogram.observable
        )
        total = histogram.total
        self.n_background = root.RooRealVar(
            f"{prefix}_{YIELD_NAME}", YIELD_NAME, total, 0.0, 10.0 * total + 100.0
        )
        self.extended = root.RooExtendPdf(
            f"{prefix}_extended", prefix, self.pdf, self.n_background
        )
        self._background_nll: Any = None
        self._signal: _SignalPart | None = None
        # Parameters that the last background fit varied, set by fit().
        self._floating: list[Any] = []

    # -- parameters ---------------------------------------------------------

    def floating(self) -> list[Any]:
        """Shape parameters and yield that the background fit varies."""
        return [p for p in self.parameters if not p.isConstant()] + [self.n_background]

    def values(self) -> list[float]:
        return [p.getVal() for p in self.parameters] + [self.n_background.getVal()]

    def set_values(self, values: list[float]) -> None:
        for parameter, value in zip(self.parameters, values):
            parameter.setVal(value)
        self.n_background.setVal(values[-1])

    def apply_start(self, start: StartingPoint) -> None:
        for index, (parameter, value, step) in enumerate(
            zip(self.parameters, start.values, start.steps)
        ):
            parameter.setVal(value)
            parameter.setError(step)
            parameter.setConstant(index == start.fixed_index)
        total = self.histogram.total
        self.n_background.setVal(total)
        self.n_background.setError(math.sqrt(total) + 1.0)

    def set_background_constant(self, constant: bool) -> None:
        """Fix or release the floating background parameters and the yield."""
        for parameter in self._floating:
            parameter.setConstant(constant)

    def parameter_errors(self) -> list[float]:
        return [p.getError() for p in self.parameters] + [self.n_background.getError()]

    def fixed_flags(self) -> list[bool]:
        return [bool(p.isConstant()) for p in self.parameters] + [False]

    # -- background-only fit ------------------------------------------------

    @property
    def background_nll(self) -> Any:
        if self._background_nll is None:
            root = self.histogram.root
            self._background_nll = create_nll(root, self.extended, self.histogram.data)
        return self._background_nll

    def fit(self, starts: list[StartingPoint]) -> tuple[int, float]:
        """Fit the background alone from each start in turn until one converges.

        Each start is tried with Minuit2 strategy 1 and, if that fails, again
        with strategy 2 from where it stopped. Returns ``(status, nll)`` of the
        best attempt (converged first, then lowest NLL) and leaves its
        parameters set.
        """
        root = self.histogram.root
        verbose = self.histogram.verbose
        nll = self.background_nll
        best: tuple[bool, float, int, list[float], StartingPoint] | None = None
        for start in starts:
            self.apply_start(start)
            status = minimize(root, nll, strategy=1, verbose=verbose)
            if not is_converged(status):
                status = minimize(root, nll, strategy=2, verbose=verbose)
            value = float(nll.getVal())
            attempt = (is_converged(status), value, status, self.values(), start)
            if best is None or _better(attempt, best):
                best = attempt
            if is_converged(status):
                break
        assert best is not None, "fit() needs at least one starting point"
        _, value, status, values, start = best
        self.apply_start(start)
        self.set_values(values)
        self._floating = self.floating()
        logger.debug(
            "%s fit of %r: status %d, NLL %.4f",
            self.shape.name,
            self.histogram.hist.label,
            status,
            value,
        )
        return status, value

    def refit_with_hesse(self) -> tuple[int, int]:
        """Refit from the current minimum and compute errors with Hesse.

        Returns the Migrad and Hesse statuses. When the refit does not
        converge, the caller restores the parameters it had before.
        """
        histogram = self.histogram
        return minimize_with_hesse(
            histogram.root, self.background_nll, 1, histogram.verbose
        )

    def expected_counts(self) -> np.ndarray:
        """Return the expected background count per bin at the current parameters."""
        histogram = self.histogram
        observable = histogram.observable
        density = np.empty(histogram.hist.n_bins)
        for i, center in enumerate(histogram.hist.centers):
            observable.setVal(float(center))
            density[i] = self.pdf.getVal(histogram.normalisation_set)
        return density * histogram.hist.widths * self.n_background.getVal()

    # -- signal plus background ---------------------------------------------

    def signal(self) -> _SignalPart:
        if self._signal is None:
            self._signal = _SignalPart(self)
        return self._signal


def _better(attempt: tuple, best: tuple) -> bool:
    """Order attempts by convergence first, then by lower NLL."""
    if attempt[0] != best[0]:
        return attempt[0]
    return attempt[1] < best[1]


class _SignalPart:
    """Gaussian signal added to a fitted background model."""

    def __init__(self, background: BackgroundModel) -> None:
        histogram = background.histogram
        root = histogram.root
        prefix = background.shape.name
        self.background = background
        edges = histogram.hist.edges
        self.mean = root.RooRealVar(
            f"{prefix}_mean", "mean", float(edges[0]), float(edges[-1])
        )
        self.sigma = root.RooRealVar(
            f"{prefix}_sigma", "sigma", float(edges[1] - edges[0]), 0.0, math.inf
        )
        self.mean.setConstant(True)
        self.sigma.setConstant(True)
        arguments = root.RooArgList(histogram.observable, self.mean, self.sigma)
        self.function = root.RooFormulaVar(
            f"{prefix}_gauss", "Gaussian", "exp(-0.5*pow((@0 - @1)/@2, 2))", arguments
        )
        self.pdf, self._keep_pdf = bin_integrated_pdf(
            root, f"{prefix}_signal_pdf", self.function, histogram.observable
        )
        self.n_signal = root.RooRealVar(f"{prefix}_n_signal", "n_signal", 0.0, -1, 1)
        self.model = root.RooAddPdf(
            f"{prefix}_signal_plus_background",
            prefix,
            root.RooArgList(background.pdf, self.pdf),
            root.RooArgList(background.n_background, self.n_signal),
        )
        self.nll = create_nll(root, self.model, histogram.data)

    def template(self, mass: float, sigma: float) -> np.ndarray:
        """Return the signal probability per bin, normalised over the range."""
        edges = self.background.histogram.hist.edges
        cdf = _normal_cdf((edges - mass) / sigma)
        template = np.diff(cdf)
        return template / np.sum(template)

    def configure(
        self, mass: float, sigma: float, background_counts: np.ndarray
    ) -> tuple[float, float, float]:
        """Set the Gaussian and the allowed range of the signal yield.

        The lower bound keeps b_i + n_s s_i positive in every bin for the given
        background. The upper bound is twice the entries within 5 sigma plus
        ten standard deviations. Returns ``(lower, upper, step)``, where step
        is the standard deviation of n_s for known background.
        """
        hist = self.background.histogram.hist
        self.mean.setVal(mass)
        self.sigma.setVal(sigma)
        template = self.template(mass, sigma)
        reached = template > 1e-12
        lower = -NEGATIVE_YIELD_MARGIN * float(
            np.min(background_counts[reached] / template[reached])
        )
        near = np.abs(hist.centers - mass) <= 5.0 * sigma
        window = float(np.sum(hist.counts[near])) if np.any(near) else 0.0
        # Fisher information of n_s for known background: sum s_i^2 / b_i.
        information = float(
            np.sum(
                template[reached] ** 2 / np.maximum(background_counts[reached], 1e-9)
            )
        )
        step = 1.0 / math.sqrt(information) if information > 0 else 1.0
        upper = 2.0 * window + 10.0 * step + 10.0
        self.n_signal.setRange(lower, upper)
        self.n_signal.setError(step)
        return lower, upper, step

    def fit(self, float_background: bool) -> SignalFit:
        """Fit the signal yield (and the background, when floating) from 0."""
        background = self.background
        histogram = background.histogram
        self.n_signal.setConstant(False)
        self.n_signal.setVal(0.0)
        background.set_background_constant(not float_background)
        try:
            status = minimize(histogram.root, self.nll, 1, histogram.verbose)
            if not is_converged(status):
                status = minimize(histogram.root, self.nll, 2, histogram.verbose)
        finally:
            background.set_background_constant(False)
        return SignalFit(
            status=status,
            nll=float(self.nll.getVal()),
            n_signal=float(self.n_signal.getVal()),
            n_signal_error=float(self.n_signal.getError()),
        )

    def profile(self, n_signal: float, float_background: bool) -> tuple[int, float]:
        """Return ``(status, nll)`` minimised over the background at fixed n_s."""
        background = self.background
        histogram = background.histogram
        if n_signal > self.n_signal.getMax():
            self.n_signal.setMax(2.0 * n_signal)
        self.n_signal.setVal(n_signal)
        self.n_signal.setConstant(True)
        try:
            if not float_background:
                return 0, float(self.nll.getVal())
            status = minimize(histogram.root, self.nll, 1, histogram.verbose)
            if not is_converged(status):
                status = minimize(histogram.root, self.nll, 2, histogram.verbose)
            return status, float(self.nll.getVal())
        finally:
            self.n_signal.setConstant(False)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)
