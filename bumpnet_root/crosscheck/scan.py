"""Signal-plus-background fits at one or many masses: Z_LR, q0 and limits.

At each mass m the signal is a Gaussian with sigma = ``width`` times the width
of the bin containing m (the convention of the BumpNet label and of
``local_significance``), or ``resolution`` when given, integrated over the
bins and normalised to 1 over the histogram range. Its yield n_s may be
negative down to the value where the expectation of some bin reaches zero.

    q0 = 2 [NLL(B) - NLL(S+B)],   Z_LR = sign(n_s) sqrt(q0)

NLL(B) and NLL(S+B) are minimised over the background parameters and yield
(``float_background=True``), so Z_LR is a profile-likelihood significance. The
background-only fit runs once; every S+B fit starts from its parameters. With
``float_background=False`` the background stays at the background-only fit,
and Z_LR is then the quantity of ``local_significance`` with that background.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import FitFailedError
from ..histogram import Hist1D
from ._model import BackgroundModel, HistogramModel, is_converged
from ._roofit import load_root, roofit_output
from .background import (
    DEFAULT_ALPHA,
    as_hist1d,
    select_background,
    validate_options,
)
from .families import DEFAULT_FAMILIES, DEFAULT_SQRT_S
from .limits import (
    PROFILE_LIMIT_METHOD,
    converged_limit,
    limit_threshold,
    profile_upper_limit,
)
from .results import STATUS_NOT_RUN, CrossCheckResult, UpperLimitResult

logger = logging.getLogger(__name__)

Resolution = Union[float, Callable[[float], float], None]
MassSelection = Union[float, Sequence[float], np.ndarray, None]


def crosscheck(
    hist: Any,
    mass: MassSelection = None,
    *,
    families: Any = DEFAULT_FAMILIES,
    selection: str = "ftest",
    sqrt_s: float = DEFAULT_SQRT_S,
    alpha: float = DEFAULT_ALPHA,
    resolution: Resolution = None,
    width: float = 1.0,
    float_background: bool = True,
    limits: bool = False,
    cl: float = 0.95,
    verbose: bool = False,
) -> CrossCheckResult:
    """Fit background and signal plus background to ``hist`` with RooFit.

    ``mass`` is None (scan every bin centre, so ``z_lr`` has one entry per bin),
    one mass, or a sequence of masses inside the histogram range.
    ``resolution`` is the signal sigma in the mass unit, a number or a function
    of the mass; None uses ``width`` times the width of the bin containing the
    mass. ``limits=True`` adds the profile-likelihood upper limit on the signal
    yield at confidence level ``cl`` (see ``limits``). Its root search of
    profile fits made the scans of the bundled spectra 3.5 to 5 times slower.
    The model-selection options are those of
    :func:`fit_background`; ``verbose=True`` lets RooFit and Minuit2 print.

    Raises FitFailedError when the background fit fails and, for a single
    mass, when the signal-plus-background fit fails. A scan records the
    Minuit2 status of each mass in ``scan_status`` and sets ``z_lr`` to NaN
    where the fit failed.
    """
    parsed = validate_options(families, selection, sqrt_s, alpha)
    if limits:
        limit_threshold(cl)
    h = as_hist1d(hist)
    single = mass is not None and np.ndim(mass) == 0
    masses = resolve_masses(h, mass)
    sigmas = signal_widths(h, masses, resolution, width)
    started = time.perf_counter()
    root = load_root()
    with roofit_output(root, verbose):
        histogram = HistogramModel(root, h, verbose)
        fit, model = select_background(histogram, parsed, selection, sqrt_s, alpha)
        scan = _scan(
            model, fit.background, masses, sigmas, float_background, limits, cl
        )
    if single and not is_converged(int(scan.status[0])):
        raise FitFailedError(
            f"histogram {h.label!r}: the signal-plus-background fit at mass "
            f"{float(masses[0])!r} (sigma {float(sigmas[0])!r}) failed with Minuit2 "
            f"status {int(scan.status[0])}; pass verbose=True to see Minuit's "
            "output, or try float_background=False or another background family"
        )
    result = CrossCheckResult(
        name=h.label,
        masses=masses,
        sigmas=sigmas,
        z_lr=scan.z_lr,
        q0=scan.q0,
        signal_yield=scan.n_signal,
        signal_yield_error=scan.n_signal_error,
        scan_status=scan.status,
        background_fit=fit,
        fit_status=fit.fit_status,
        upper_limits=scan.limits if limits else None,
        limit_status=scan.limit_status if limits else None,
        cl=cl,
        float_background=float_background,
        elapsed_s=time.perf_counter() - started,
    )
    logger.info(
        "cross-check of %r: %s, Z_LR max %.2f at %.4g over %d masses (%.1f s)",
        h.label,
        fit.function,
        result.z_lr_max,
        result.mass_at_z_lr_max,
        masses.size,
        result.elapsed_s,
    )
    return result


def upper_limits(
    hist: Any,
    masses: MassSelection = None,
    *,
    cl: float = 0.95,
    **options: Any,
) -> UpperLimitResult:
    """Compute the one-sided profile-likelihood upper limit on the signal yield.

    The limit at each mass is the signal yield s above max(s_hat, 0) where
    q~(s) = 2 [NLL(s) - NLL(max(s_hat, 0))] reaches Phi^-1(cl)^2, with NLL
    minimised over the background at fixed s (asymptotic CL_s+b, not CL_s;
    see ``limits``). ``masses`` and ``options`` are those of :func:`crosscheck`.
    A mass whose fits failed gets a NaN limit.
    """
    options.pop("limits", None)
    result = crosscheck(hist, masses, cl=cl, limits=True, **options)
    assert result.background_fit is not None
    assert result.upper_limits is not None and result.limit_status is not None
    return UpperLimitResult(
        name=result.name,
        masses=result.masses,
        sigmas=result.sigmas,
        limits=result.upper_limits,
        signal_yield=result.signal_yield,
        limit_status=result.limit_status,
        background_fit=result.background_fit,
        cl=cl,
        method=PROFILE_LIMIT_METHOD,
    )


def crosscheck_many(
    histograms: Iterable[Any] | Mapping[str, Any],
    masses: MassSelection | Callable[[Hist1D], MassSelection] = None,
    **options: Any,
) -> Iterator[CrossCheckResult]:
    """Cross-check histograms one by one and yield one result per histogram.

    ``histograms`` is an iterable of histograms of any supported type, or a
    mapping from name to histogram. ``masses`` is None (scan all bin
    centres), masses used for every histogram, or a function that returns the
    masses for a Hist1D. ``options`` are the keyword options of
    :func:`crosscheck`; invalid options raise before the first histogram.

    A histogram that cannot be cross-checked never stops the iteration: its
    result has ``error`` set (exception type and message) and
    ``fit_status == -1`` when no background fit was made.
    """
    _validate_batch_options(options)
    if isinstance(histograms, Mapping):
        items: Iterable[tuple[str | None, Any]] = histograms.items()
    else:
        items = ((None, obj) for obj in histograms)
    for index, (key, obj) in enumerate(items):
        name = key if key is not None else _fallback_name(obj, index)
        started = time.perf_counter()
        try:
            h = as_hist1d(obj)
            if key is not None and h.name != key:
                h = Hist1D(
                    edges=h.edges,
                    counts=h.counts,
                    variances=h.variances,
                    name=key,
                    title=h.title,
                    underflow=h.underflow,
                    overflow=h.overflow,
                    source=h.source,
                )
            name = h.label
            chosen = masses(h) if callable(masses) else masses
            result = crosscheck(h, chosen, **options)
        # One bad histogram must not end a batch: every error, including
        # RooFit's C++ exceptions, is reported in that histogram's result.
        except Exception as error:
            elapsed = time.perf_counter() - started
            logger.warning("cross-check of %r failed: %s", name, error)
            message = f"{type(error).__name__}: {error}"
            yield CrossCheckResult.failed(name, message, elapsed)
            continue
        yield result


def _validate_batch_options(options: dict[str, Any]) -> None:
    parameters = inspect.signature(crosscheck).parameters
    unknown = sorted(set(options) - set(parameters) - {"hist", "mass"})
    if unknown or "hist" in options or "mass" in options:
        allowed = [name for name in parameters if name not in ("hist", "mass")]
        raise TypeError(
            f"crosscheck_many got invalid options {unknown or ['hist/mass']}; "
            f"pass masses as the second argument and options from {allowed}"
        )
    validate_options(
        options.get("families", DEFAULT_FAMILIES),
        options.get("selection", "ftest"),
        options.get("sqrt_s", DEFAULT_SQRT_S),
        options.get("alpha", DEFAULT_ALPHA),
    )
    if options.get("limits"):
        limit_threshold(options.get("cl", 0.95))


def _fallback_name(obj: Any, index: int) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"histogram {index}"


def resolve_masses(h: Hist1D, mass: MassSelection) -> np.ndarray:
    """Return the masses to fit: the bin centres for None, else ``mass``."""
    if mass is None:
        return h.centers.copy()
    masses = np.atleast_1d(np.asarray(mass, dtype=np.float64))
    if masses.ndim != 1 or masses.size == 0:
        raise ValueError(
            f"mass must be None, a number or a 1-D sequence of numbers, got "
            f"shape {np.shape(mass)}"
        )
    outside = ~np.isfinite(masses) | (masses < h.edges[0]) | (masses > h.edges[-1])
    if np.any(outside):
        raise ValueError(
            f"histogram {h.label!r}: masses {masses[outside].tolist()} lie outside "
            f"the histogram range [{float(h.edges[0])!r}, {float(h.edges[-1])!r}]"
        )
    return masses


def signal_widths(
    h: Hist1D, masses: np.ndarray, resolution: Resolution, width: float
) -> np.ndarray:
    """Return the signal sigma at each mass (see :func:`crosscheck`)."""
    if resolution is None:
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"width must be positive and finite, got {width!r}")
        bins = np.clip(
            np.searchsorted(h.edges, masses, side="right") - 1, 0, h.n_bins - 1
        )
        sigmas = width * h.widths[bins]
    elif callable(resolution):
        sigmas = np.array([float(resolution(float(m))) for m in masses])
    else:
        sigmas = np.full(masses.shape, float(resolution))
    bad = ~np.isfinite(sigmas) | (sigmas <= 0)
    if np.any(bad):
        raise ValueError(
            f"signal sigma must be positive and finite, got {sigmas[bad].tolist()} "
            f"at masses {masses[bad].tolist()}; check resolution"
        )
    return sigmas


@dataclass
class _ScanArrays:
    z_lr: np.ndarray
    q0: np.ndarray
    n_signal: np.ndarray
    n_signal_error: np.ndarray
    status: np.ndarray
    limits: np.ndarray
    limit_status: np.ndarray


def _scan(
    model: BackgroundModel,
    background_counts: np.ndarray,
    masses: np.ndarray,
    sigmas: np.ndarray,
    float_background: bool,
    limits: bool,
    cl: float,
) -> _ScanArrays:
    n = masses.size
    scan = _ScanArrays(
        z_lr=np.full(n, np.nan),
        q0=np.full(n, np.nan),
        n_signal=np.full(n, np.nan),
        n_signal_error=np.full(n, np.nan),
        status=np.full(n, STATUS_NOT_RUN, dtype=np.int64),
        limits=np.full(n, np.nan),
        limit_status=np.full(n, STATUS_NOT_RUN, dtype=np.int64),
    )
    signal = model.signal()
    label = model.histogram.hist.label
    # The S+B likelihood at n_s = 0 is the background-only likelihood, which
    # the model selection has minimised, so its value there is NLL(B).
    signal.configure(float(masses[0]), float(sigmas[0]), background_counts)
    _, nll_background = signal.profile(0.0, float_background=False)
    if not math.isfinite(nll_background):
        raise FitFailedError(
            f"histogram {label!r}: the signal-plus-background likelihood is "
            f"{nll_background!r} at the background-only fit; pass verbose=True to "
            "see RooFit's evaluation errors"
        )
    reference = model.values()

    def profile(n_signal: float) -> tuple[int, float]:
        return signal.profile(n_signal, float_background)

    for i, (mass, sigma) in enumerate(zip(masses, sigmas)):
        model.set_values(reference)
        _, _, step = signal.configure(float(mass), float(sigma), background_counts)
        fit = signal.fit(float_background)
        scan.status[i] = fit.status
        scan.n_signal[i] = fit.n_signal
        scan.n_signal_error[i] = fit.n_signal_error
        if not is_converged(fit.status):
            logger.debug(
                "%r: S+B fit at %.6g failed with status %d", label, mass, fit.status
            )
            continue
        q0 = max(2.0 * (nll_background - fit.nll), 0.0)
        scan.q0[i] = q0
        scan.z_lr[i] = math.copysign(math.sqrt(q0), fit.n_signal)
        if limits:
            limit, limit_status = profile_upper_limit(
                profile, fit, nll_background, step, cl
            )
            scan.limits[i] = converged_limit(limit, limit_status)
            scan.limit_status[i] = limit_status
    model.set_values(reference)
    return scan
