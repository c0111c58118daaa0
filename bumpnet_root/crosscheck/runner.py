"""RooFit cross-check of scanned histograms, for ``bumpnet crosscheck`` and
``bumpnet scan --crosscheck N``.

Each histogram is fitted over the bins that BumpNet scanned (from the smoothed
maximum on, see :mod:`bumpnet_root.domain`), so both methods see the same
falling spectrum. :func:`crosscheck_scan_result` lays Z_LR, the fitted
background and the optional upper limits out on the histogram's full binning.
:func:`crosscheck_report` runs it over the histograms of a ScanReport and
returns the extra ``summary.json`` fields and ``significance.root`` histograms.
A fit that fails is recorded with its Minuit2 status and error message and
never stops the run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scan import ScanReport, ScanResult
from ._roofit import load_root
from .background import DEFAULT_ALPHA, validate_options
from .families import DEFAULT_FAMILIES, DEFAULT_SQRT_S
from .limits import PROFILE_LIMIT_METHOD, limit_threshold, upper_limits_from_z
from .outputs import values_th1d
from .results import CrossCheckResult, json_float, json_list
from .scan import crosscheck

logger = logging.getLogger(__name__)

# Suffixes of the extra histograms in significance.root, appended to the key
# of the histogram's BumpNet Z.
Z_LR_SUFFIX = "_z_lr"
BACKGROUND_FIT_SUFFIX = "_background_fit"
# Name of the limit method of upper_limits_from_z in summary.json.
Z_LIMIT_METHOD = "asimov_from_z_background_fixed"


@dataclass(frozen=True)
class CrossCheckOptions:
    """Options of the RooFit fits, checked on creation.

    ``mass`` None fits a signal at every bin centre of the scanned range, a
    number fits it only there. ``resolution`` is the signal's Gaussian sigma in
    the mass unit, and None uses the width of the bin that contains the mass,
    as BumpNet's training label does. ``sqrt_s`` (mass unit) only enters the
    dijet family. ``verbose`` lets RooFit and Minuit2 print.
    """

    mass: float | None = None
    families: tuple[str, ...] = DEFAULT_FAMILIES
    sqrt_s: float = DEFAULT_SQRT_S
    resolution: float | None = None
    limits: bool = False
    cl: float = 0.95
    verbose: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "families", tuple(self.families))
        validate_options(self.families, "ftest", self.sqrt_s, DEFAULT_ALPHA)
        if self.mass is not None and not math.isfinite(self.mass):
            raise ValueError(f"mass must be a finite number, got {self.mass!r}")
        if self.resolution is not None and not (
            math.isfinite(self.resolution) and self.resolution > 0
        ):
            raise ValueError(
                "resolution must be a positive signal sigma in the mass unit, got "
                f"{self.resolution!r}"
            )
        if self.limits:
            limit_threshold(self.cl)


@dataclass(frozen=True)
class HistogramCrossCheck:
    """RooFit cross-check of one scanned histogram, on its full binning.

    ``z_lr`` has one entry per bin, NaN outside the fitted bins
    ``fit_start:fit_stop`` and where the signal-plus-background fit failed.
    With a fixed mass it has one entry. ``z_lr_masses`` contains the mass of
    each entry. ``background_fit`` is the expected background per bin from the
    RooFit fit, NaN outside the fitted bins. ``limits_lr`` and
    ``limits_bumpnet`` are upper limits on the signal entries at
    ``z_lr_masses``, or None when limits were not requested.
    """

    scan: ScanResult
    result: CrossCheckResult
    fit_start: int
    fit_stop: int
    z_lr: np.ndarray
    z_lr_masses: np.ndarray
    background_fit: np.ndarray
    limits_lr: np.ndarray | None = None
    limits_bumpnet: np.ndarray | None = None

    @property
    def fit_range(self) -> tuple[float, float]:
        edges = self.scan.histogram.edges
        return float(edges[self.fit_start]), float(edges[self.fit_stop])

    def summary_fields(self) -> dict[str, Any]:
        """Return the fields added to the histogram's ``summary.json`` entry."""
        result = self.result
        fields: dict[str, Any] = {
            "z_lr": json_list(self.z_lr),
            "z_lr_masses": json_list(self.z_lr_masses),
            "z_lr_max": json_float(result.z_lr_max),
            "mass_at_z_lr_max": json_float(result.mass_at_z_lr_max),
            "background_function": result.background_function,
            "fit_status": result.fit_status,
            "fit_error": result.error,
            "fit_range": list(self.fit_range),
            "background_fit": json_list(self.background_fit),
            "crosscheck": result.to_dict(),
        }
        if self.limits_lr is not None and self.limits_bumpnet is not None:
            fields["upper_limits"] = {
                "cl": result.cl,
                "masses": json_list(self.z_lr_masses),
                "lr": json_list(self.limits_lr),
                "bumpnet": json_list(self.limits_bumpnet),
                "lr_method": PROFILE_LIMIT_METHOD,
                "bumpnet_method": Z_LIMIT_METHOD,
            }
        return fields

    def th1ds(self) -> dict[str, Any]:
        """Return the uproot-writable TH1Ds by their path in significance.root.

        ``<key>_z_lr`` is written when at least one Z_LR was computed, and
        ``<key>_background_fit`` when the background fit converged. Bins
        without a value contain 0.
        """
        scan = self.scan
        histogram = scan.histogram
        base = scan.name.rsplit("/", 1)[-1]
        label = histogram.title or base
        written: dict[str, Any] = {}
        z_per_bin = self._z_lr_per_bin()
        if np.any(np.isfinite(z_per_bin)):
            written[scan.key + Z_LR_SUFFIX] = values_th1d(
                histogram.edges,
                z_per_bin,
                name=base + Z_LR_SUFFIX,
                title=f"RooFit likelihood-ratio local significance of {label}",
                x_title=scan.x_title,
                y_title="Z_LR",
            )
        if self.result.ok and np.any(np.isfinite(self.background_fit)):
            written[scan.key + BACKGROUND_FIT_SUFFIX] = values_th1d(
                histogram.edges,
                self.background_fit,
                name=base + BACKGROUND_FIT_SUFFIX,
                title=(
                    f"RooFit background fit ({self.result.background_function}) "
                    f"of {label}"
                ),
                x_title=scan.x_title,
                y_title="Expected entries / bin",
            )
        return written

    def _z_lr_per_bin(self) -> np.ndarray:
        histogram = self.scan.histogram
        if self.z_lr.size == histogram.n_bins:
            return self.z_lr
        # A fixed mass: its Z_LR goes into the bin that contains it.
        per_bin = np.full(histogram.n_bins, np.nan)
        for mass, z in zip(self.z_lr_masses, self.z_lr):
            per_bin[bin_index(histogram.edges, float(mass))] = z
        return per_bin


@dataclass
class CrossCheckOutputs:
    """The cross-checks of a run and what they add to the scan outputs.

    ``interrupt`` is the KeyboardInterrupt (Ctrl-C, or SIGTERM in the command
    line) that ended the run, and ``checks`` then contains the cross-checks
    finished before it.
    """

    checks: list[HistogramCrossCheck] = field(default_factory=list)
    interrupt: KeyboardInterrupt | None = None

    @property
    def interrupted(self) -> bool:
        return self.interrupt is not None

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        """Extra ``summary.json`` fields by the scan key of each histogram."""
        return {check.scan.key: check.summary_fields() for check in self.checks}

    @property
    def histograms(self) -> dict[str, Any]:
        """Extra TH1Ds by their path in ``significance.root``."""
        written: dict[str, Any] = {}
        for check in self.checks:
            written.update(check.th1ds())
        return written

    @property
    def failed(self) -> list[HistogramCrossCheck]:
        return [check for check in self.checks if not check.result.ok]


def bin_index(edges: np.ndarray, mass: float) -> int:
    """Return the bin that contains ``mass``; the upper edge counts as the last bin."""
    index = int(np.searchsorted(edges, mass, side="right")) - 1
    return min(max(index, 0), edges.size - 2)


def crosscheck_scan_result(
    scan: ScanResult, options: CrossCheckOptions
) -> HistogramCrossCheck:
    """Fit one scanned histogram with RooFit over its scanned bins.

    Every error of the fit, RooFit's C++ exceptions included, is logged and
    recorded in the result: ``error`` contains the exception type and message,
    and ``fit_status`` is -1 when no background function converged or the fit
    could not start. The caller can go on with the next histogram.
    """
    histogram = scan.histogram
    domain = scan.prediction.domain
    start, stop = domain.start, domain.stop
    started = time.perf_counter()
    try:
        masses = None if options.mass is None else [_mass_in_range(scan, options)]
        result = crosscheck(
            histogram.slice(start, stop),
            masses,
            families=options.families,
            sqrt_s=options.sqrt_s,
            resolution=options.resolution,
            limits=options.limits,
            cl=options.cl,
            verbose=options.verbose,
        )
    # One bad histogram must not end the run.
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        logger.warning("cross-check of %s:%s failed: %s", scan.file, scan.name, message)
        result = CrossCheckResult.failed(
            histogram.label, message, time.perf_counter() - started
        )
    return _lay_out(scan, result, options)


def _mass_in_range(scan: ScanResult, options: CrossCheckOptions) -> float:
    assert options.mass is not None
    low, high = scan.scan_range
    if not low <= options.mass <= high:
        raise ValueError(
            f"mass {options.mass!r} lies outside the scanned range [{low!r}, "
            f"{high!r}] of {scan.name!r}, which starts at the maximum of the "
            "spectrum; pass a --mass inside that range"
        )
    return options.mass


def _lay_out(
    scan: ScanResult, result: CrossCheckResult, options: CrossCheckOptions
) -> HistogramCrossCheck:
    """Place the fit results, made on the scanned bins, on the full binning."""
    histogram = scan.histogram
    domain = scan.prediction.domain
    start, stop = domain.start, domain.stop
    n_bins = histogram.n_bins

    background = np.full(n_bins, np.nan)
    if result.background is not None:
        background[start:stop] = result.background

    limits_lr = limits_bumpnet = None
    if options.mass is None:
        masses = histogram.centers
        z_lr = np.full(n_bins, np.nan)
        if result.z_lr.size == stop - start:
            z_lr[start:stop] = result.z_lr
        if options.limits:
            limits_lr = np.full(n_bins, np.nan)
            if result.upper_limits is not None:
                limits_lr[start:stop] = result.upper_limits
            limits_bumpnet = np.full(n_bins, np.nan)
            limits_bumpnet[start:stop] = _bumpnet_limits(scan, options.cl)
    else:
        masses = np.array([options.mass])
        z_lr = result.z_lr if result.z_lr.size == 1 else np.array([np.nan])
        if options.limits:
            limits_lr = np.array([np.nan])
            if result.upper_limits is not None and result.upper_limits.size == 1:
                limits_lr = np.array(result.upper_limits)
            in_scan = bin_index(histogram.edges, options.mass) - start
            from_z = _bumpnet_limits(scan, options.cl)
            inside = 0 <= in_scan < from_z.size
            limits_bumpnet = np.array([from_z[in_scan] if inside else np.nan])
    return HistogramCrossCheck(
        scan=scan,
        result=result,
        fit_start=start,
        fit_stop=stop,
        z_lr=np.asarray(z_lr, dtype=np.float64),
        z_lr_masses=np.asarray(masses, dtype=np.float64),
        background_fit=background,
        limits_lr=limits_lr,
        limits_bumpnet=limits_bumpnet,
    )


def _bumpnet_limits(scan: ScanResult, cl: float) -> np.ndarray:
    """Return the upper limits from BumpNet's Z and background on the scanned bins.

    The template is the Gaussian of BumpNet's label (sigma = bin width), also
    when the RooFit signal uses ``resolution``. NaN where the computation fails.
    """
    prediction = scan.prediction
    start, stop = prediction.domain.start, prediction.domain.stop
    try:
        return upper_limits_from_z(
            prediction.z[start:stop],
            prediction.background[start:stop],
            scan.histogram.edges[start : stop + 1],
            cl=cl,
        )
    except (ValueError, FloatingPointError) as error:
        logger.warning(
            "upper limits from BumpNet's Z of %s:%s failed: %s",
            scan.file,
            scan.name,
            error,
        )
        return np.full(stop - start, np.nan)


def top_candidate_results(report: ScanReport, count: int) -> list[ScanResult]:
    """Return the histograms of the ``count`` highest candidates, highest Z first.

    A histogram with several candidates counts once, and histograms without a
    candidate above the threshold are not returned.
    """
    selected: dict[str, ScanResult] = {}
    for result, _ in report.ranked_candidates():
        if len(selected) == count:
            break
        selected.setdefault(result.key, result)
    return list(selected.values())


@contextlib.contextmanager
def quiet_roofit(verbose: bool) -> Iterator[None]:
    """Drop RooFit's messages up to level ERROR inside the block, unless ``verbose``.

    The fits themselves drop only the messages below ERROR. Failed fits are
    recorded with their status, so their ERROR lines would only clutter the
    output of a command.
    """
    if verbose:
        yield
        return
    root = load_root()
    service = root.RooMsgService.instance()
    old_kill_below = service.globalKillBelow()
    service.setGlobalKillBelow(root.RooFit.FATAL)
    try:
        yield
    finally:
        service.setGlobalKillBelow(old_kill_below)


def crosscheck_results(
    results: Sequence[ScanResult],
    options: CrossCheckOptions,
    on_histogram_done: Callable[[ScanResult], None] | None = None,
) -> CrossCheckOutputs:
    """Cross-check scanned histograms one by one.

    Ctrl-C ends the run and returns the cross-checks finished so far with
    ``interrupt`` set. Raises MissingDependencyError before the first fit
    when PyROOT is not installed.
    """
    outputs = CrossCheckOutputs()
    if not results:
        return outputs
    load_root()
    with quiet_roofit(options.verbose):
        try:
            for scan in results:
                outputs.checks.append(crosscheck_scan_result(scan, options))
                if on_histogram_done is not None:
                    on_histogram_done(scan)
        except KeyboardInterrupt as interrupt:
            outputs.interrupt = interrupt
            logger.warning(
                "interrupted; keeping the %d cross-checks finished so far",
                len(outputs.checks),
            )
    failed = len(outputs.failed)
    logger.info(
        "cross-checked %d histograms with RooFit (%d failed)",
        len(outputs.checks),
        failed,
    )
    return outputs


def select_results(report: ScanReport, top: int | None = None) -> list[ScanResult]:
    """Return the scanned histograms to cross-check, highest Z_max first.

    ``top`` None takes every scanned histogram, and a number takes the
    histograms of the ``top`` highest candidates (see
    :func:`top_candidate_results`).
    """
    if top is None:
        return report.ranked_results()
    selected = top_candidate_results(report, top)
    if len(selected) < top:
        logger.info(
            "%d histograms have a candidate above the threshold, so %d are "
            "cross-checked instead of %d",
            len(selected),
            len(selected),
            top,
        )
    return selected


def crosscheck_report(
    report: ScanReport,
    options: CrossCheckOptions,
    top: int | None = None,
    on_histogram_done: Callable[[ScanResult], None] | None = None,
) -> CrossCheckOutputs:
    """Cross-check the histograms of ``report`` chosen by :func:`select_results`.

    The returned outputs contain the extra ``summary.json`` fields
    (``fields``) and ``significance.root`` histograms (``histograms``) for
    :func:`bumpnet_root.io.write_outputs`.
    """
    return crosscheck_results(select_results(report, top), options, on_histogram_done)
