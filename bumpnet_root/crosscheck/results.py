"""Immutable results of the RooFit cross-check, with JSON-ready ``to_dict``.

Arrays are stored read-only. In ``to_dict`` NaN and inf become None, because
JSON has no literal for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2 as chi2_distribution

# Minuit2 status recorded for a mass point or histogram whose fit never ran.
STATUS_NOT_RUN = -1

# Goodness of fit below which a background fit is reported as poor.
POOR_FIT_P_VALUE = 1e-3


def frozen_array(values: Any, dtype: type = np.float64) -> np.ndarray:
    """Return a read-only copy of ``values`` as a 1-D array."""
    array = np.array(values, dtype=dtype, copy=True).reshape(-1)
    array.setflags(write=False)
    return array


def json_float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_list(values: np.ndarray | None) -> list | None:
    if values is None:
        return None
    if np.issubdtype(values.dtype, np.integer):
        return [int(v) for v in values]
    return [json_float(v) for v in values]


@dataclass(frozen=True)
class CandidateFit:
    """One background function tried during model selection.

    ``deviance`` is the Poisson deviance 2 sum[nu - n + n ln(n/nu)] and
    ``aic`` = deviance + 2 n_params. ``f_test_p_value`` compares this function
    with the last accepted one of its family (NaN for the first one).
    """

    function: str
    family: str
    n_params: int
    fit_status: int
    deviance: float
    aic: float
    f_test_p_value: float
    selected: bool = False

    @property
    def converged(self) -> bool:
        return self.fit_status in (0, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "family": self.family,
            "n_params": self.n_params,
            "fit_status": self.fit_status,
            "converged": self.converged,
            "deviance": json_float(self.deviance),
            "aic": json_float(self.aic),
            "f_test_p_value": json_float(self.f_test_p_value),
            "selected": self.selected,
        }


@dataclass(frozen=True)
class BackgroundFit:
    """Background-only fit of one histogram with the selected function.

    ``background`` is the expected count per bin (bin-integrated). The last
    parameter is the yield ``n_background``, the number of background entries
    in the histogram range, which replaces p0. ``fixed`` marks parameters held
    constant (one Bernstein coefficient). ``parameter_errors`` come from
    Minuit2 Hesse when ``hesse_status`` is 0, else from Migrad (-1: Hesse did
    not run). ``chi2`` is Pearson's sum (n - nu)^2 / nu and ``ndf`` = bins -
    fitted parameters. ``p_value`` is the chi2 probability of the deviance for
    ``ndf`` degrees of freedom (approximate for bins with few entries); a fit
    with ``p_value`` below :data:`POOR_FIT_P_VALUE` is ``poor``: the function
    does not describe the spectrum, and Z_LR computed with it is not reliable.
    """

    name: str
    function: str
    family: str
    formula: str
    parameter_names: tuple[str, ...]
    parameter_values: tuple[float, ...]
    parameter_errors: tuple[float, ...]
    fixed: tuple[bool, ...]
    fit_status: int
    hesse_status: int
    edges: np.ndarray
    counts: np.ndarray
    background: np.ndarray
    deviance: float
    chi2: float
    ndf: int
    selection: str
    sqrt_s: float
    candidates: tuple[CandidateFit, ...] = ()

    def __post_init__(self) -> None:
        for name in ("edges", "counts", "background"):
            object.__setattr__(self, name, frozen_array(getattr(self, name)))

    @property
    def converged(self) -> bool:
        return self.fit_status in (0, 1)

    @property
    def p_value(self) -> float:
        if self.ndf <= 0 or not math.isfinite(self.deviance):
            return math.nan
        return float(chi2_distribution.sf(self.deviance, self.ndf))

    @property
    def poor(self) -> bool:
        return bool(self.p_value < POOR_FIT_P_VALUE)

    @property
    def parameters(self) -> dict[str, float]:
        """Fitted parameter values by name (a new dict on every call)."""
        return dict(zip(self.parameter_names, self.parameter_values))

    @property
    def pulls(self) -> np.ndarray:
        """(n - nu) / sqrt(nu) per bin, 0 where nu = 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            pulls = (self.counts - self.background) / np.sqrt(self.background)
        return np.where(self.background > 0, pulls, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function": self.function,
            "family": self.family,
            "formula": self.formula,
            "parameters": {
                name: json_float(value)
                for name, value in zip(self.parameter_names, self.parameter_values)
            },
            "parameter_errors": {
                name: json_float(value)
                for name, value in zip(self.parameter_names, self.parameter_errors)
            },
            "fixed_parameters": [
                name for name, fixed in zip(self.parameter_names, self.fixed) if fixed
            ],
            "fit_status": self.fit_status,
            "hesse_status": self.hesse_status,
            "converged": self.converged,
            "edges": json_list(self.edges),
            "counts": json_list(self.counts),
            "background": json_list(self.background),
            "deviance": json_float(self.deviance),
            "chi2": json_float(self.chi2),
            "ndf": self.ndf,
            "p_value": json_float(self.p_value),
            "poor": self.poor,
            "selection": self.selection,
            "sqrt_s": json_float(self.sqrt_s),
            "candidates": [candidate.to_dict() for candidate in self.candidates],
        }


@dataclass(frozen=True)
class CrossCheckResult:
    """Likelihood-ratio significance of a Gaussian signal at each scanned mass.

    Per mass: ``z_lr`` = sign(n_s) sqrt(q0) with q0 = 2 [NLL(B) - NLL(S+B)],
    the fitted signal yield and its Minuit error, the Minuit2 status of the S+B
    fit (``scan_status``; z_lr is NaN where that fit failed) and, when
    requested, the one-sided upper limit on the signal yield at confidence
    level ``cl``. ``fit_status`` is the status of the background-only fit, or
    -1 when the histogram failed before it, and ``error`` then contains the
    reason.
    """

    name: str
    masses: np.ndarray
    sigmas: np.ndarray
    z_lr: np.ndarray
    q0: np.ndarray
    signal_yield: np.ndarray
    signal_yield_error: np.ndarray
    scan_status: np.ndarray
    background_fit: BackgroundFit | None
    fit_status: int
    upper_limits: np.ndarray | None = None
    cl: float = 0.95
    float_background: bool = True
    error: str | None = None
    elapsed_s: float = 0.0
    limit_status: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("masses", "sigmas", "z_lr", "q0", "signal_yield"):
            object.__setattr__(self, name, frozen_array(getattr(self, name)))
        object.__setattr__(
            self, "signal_yield_error", frozen_array(self.signal_yield_error)
        )
        object.__setattr__(
            self, "scan_status", frozen_array(self.scan_status, dtype=np.int64)
        )
        if self.upper_limits is not None:
            object.__setattr__(self, "upper_limits", frozen_array(self.upper_limits))
        if self.limit_status is not None:
            object.__setattr__(
                self, "limit_status", frozen_array(self.limit_status, dtype=np.int64)
            )

    @classmethod
    def failed(cls, name: str, error: str, elapsed_s: float = 0.0) -> CrossCheckResult:
        """Create the result of a histogram that could not be cross-checked."""
        empty: list[float] = []
        return cls(
            name=name,
            masses=empty,
            sigmas=empty,
            z_lr=empty,
            q0=empty,
            signal_yield=empty,
            signal_yield_error=empty,
            scan_status=empty,
            background_fit=None,
            fit_status=STATUS_NOT_RUN,
            error=error,
            elapsed_s=elapsed_s,
        )

    @property
    def ok(self) -> bool:
        """True when the background fit converged and no error occurred."""
        return self.error is None and self.fit_status in (0, 1)

    @property
    def background_function(self) -> str | None:
        return None if self.background_fit is None else self.background_fit.function

    @property
    def background(self) -> np.ndarray | None:
        """Expected background count per bin from the background-only fit."""
        return None if self.background_fit is None else self.background_fit.background

    @property
    def edges(self) -> np.ndarray | None:
        return None if self.background_fit is None else self.background_fit.edges

    @property
    def z_lr_max(self) -> float:
        """Largest z_lr over the scanned masses (NaN when none converged)."""
        index = self._max_index()
        return math.nan if index is None else float(self.z_lr[index])

    @property
    def mass_at_z_lr_max(self) -> float:
        index = self._max_index()
        return math.nan if index is None else float(self.masses[index])

    def _max_index(self) -> int | None:
        if self.z_lr.size == 0 or not np.any(np.isfinite(self.z_lr)):
            return None
        return int(np.nanargmax(self.z_lr))

    def to_dict(self) -> dict[str, Any]:
        background_fit = self.background_fit
        return {
            "name": self.name,
            "ok": self.ok,
            "error": self.error,
            "fit_status": self.fit_status,
            "background_function": self.background_function,
            "background_parameters": (
                None
                if background_fit is None
                else {k: json_float(v) for k, v in background_fit.parameters.items()}
            ),
            "z_lr_max": json_float(self.z_lr_max),
            "mass_at_z_lr_max": json_float(self.mass_at_z_lr_max),
            "masses": json_list(self.masses),
            "sigmas": json_list(self.sigmas),
            "z_lr": json_list(self.z_lr),
            "q0": json_list(self.q0),
            "signal_yield": json_list(self.signal_yield),
            "signal_yield_error": json_list(self.signal_yield_error),
            "scan_status": json_list(self.scan_status),
            "edges": json_list(self.edges),
            "background": json_list(self.background),
            "upper_limits": json_list(self.upper_limits),
            "limit_status": json_list(self.limit_status),
            "cl": self.cl,
            "float_background": self.float_background,
            "elapsed_s": json_float(self.elapsed_s),
            "background_fit": None
            if background_fit is None
            else background_fit.to_dict(),
        }


@dataclass(frozen=True)
class UpperLimitResult:
    """One-sided profile-likelihood upper limits on the signal yield per mass.

    ``method`` names the test statistic (see :func:`upper_limits`).
    ``limit_status`` is the worst Minuit2 status among the profile fits of
    each root search, -1 where the search did not run.
    """

    name: str
    masses: np.ndarray
    sigmas: np.ndarray
    limits: np.ndarray
    signal_yield: np.ndarray
    limit_status: np.ndarray
    background_fit: BackgroundFit
    cl: float
    method: str

    def __post_init__(self) -> None:
        for name in ("masses", "sigmas", "limits", "signal_yield"):
            object.__setattr__(self, name, frozen_array(getattr(self, name)))
        object.__setattr__(
            self, "limit_status", frozen_array(self.limit_status, dtype=np.int64)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "cl": self.cl,
            "background_function": self.background_fit.function,
            "masses": json_list(self.masses),
            "sigmas": json_list(self.sigmas),
            "upper_limits": json_list(self.limits),
            "signal_yield": json_list(self.signal_yield),
            "limit_status": json_list(self.limit_status),
        }
