"""Outputs of the RooFit cross-check runs: the printed table, plots and TH1Ds."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .runner import HistogramCrossCheck

logger = logging.getLogger(__name__)

_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def format_table(checks: Sequence[HistogramCrossCheck]) -> list[str]:
    """Return the lines of the table of BumpNet's and RooFit's Z_max."""
    if not checks:
        return ["no histogram was cross-checked"]
    labels = [f"{check.scan.file}:{check.scan.name}" for check in checks]
    functions = [check.result.background_function or "-" for check in checks]
    width = max(len("histogram"), *(len(label) for label in labels))
    function_width = max(len("function"), *(len(name) for name in functions))
    lines = [
        f"{'histogram':<{width}}  {'Z_max BumpNet':>13}  {'mass':>10}  "
        f"{'Z_max LR':>8}  {'mass':>10}  {'function':<{function_width}}  "
        f"{'fit status':<11}  deviance/ndf"
    ]
    for check, label, function in zip(checks, labels, functions):
        result = check.result
        status = f"{result.fit_status} ({'ok' if result.ok else 'failed'})"
        fit = result.background_fit
        quality = "-" if fit is None else f"{fit.deviance:.1f}/{fit.ndf}"
        if fit is not None and fit.poor:
            quality += " poor"
        lines.append(
            f"{label:<{width}}  {check.scan.z_max:>13.2f}  "
            f"{check.scan.mass_at_z_max:>10.4g}  "
            f"{_number(result.z_lr_max, '.2f'):>8}  "
            f"{_number(result.mass_at_z_lr_max, '.4g'):>10}  "
            f"{function:<{function_width}}  {status:<11}  {quality}"
        )
    for check, label in zip(checks, labels):
        if check.result.error is not None:
            lines.append(f"fit of {label} failed: {check.result.error}")
        fit = check.result.background_fit
        if fit is not None and fit.poor:
            lines.append(
                f"background fit of {label} is poor (deviance {fit.deviance:.1f} "
                f"for {fit.ndf} degrees of freedom, p {_p_text(fit.p_value)}): "
                f"{fit.function} does not describe the spectrum, so its Z_LR is "
                "not reliable; try other --families"
            )
    return lines


def _p_text(p_value: float) -> str:
    """Return "= p" with two digits, or "< 1e-300" where p underflows to 0."""
    return "< 1e-300" if p_value == 0.0 else f"= {p_value:.2g}"


def _number(value: float, spec: str) -> str:
    """Format ``value`` with ``spec``, or return "-" for NaN."""
    return "-" if math.isnan(value) else format(value, spec)


def write_plots(
    checks: Sequence[HistogramCrossCheck],
    plot_dir: str | Path,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Draw each fit with its pulls, the limits and the Z_max comparison.

    Files are numbered in the order of ``checks``:
    ``NN_<name>_fit.<format>``, ``NN_<name>_limits.<format>`` when limits were
    computed, and ``z_comparison.<format>`` for all histograms. A histogram
    without a background fit gets no fit plot.
    """
    from .plotting import plot_fit, plot_upper_limits, plot_z_comparison

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, check in enumerate(checks, start=1):
        result = check.result
        if result.background_fit is None:
            continue
        stem = f"{number:02d}_{_UNSAFE_CHARACTERS.sub('_', check.scan.name)}"
        xlabel = check.scan.x_title or "Mass"
        figure = plot_fit(result, xlabel=xlabel)
        written += _save(figure, plot_dir / f"{stem}_fit", formats)
        if result.upper_limits is not None and np.any(np.isfinite(result.upper_limits)):
            figure = plot_upper_limits(
                result, _limits_at_fit_masses(check), xlabel=xlabel
            )
            written += _save(figure, plot_dir / f"{stem}_limits", formats)
    if checks:
        figure = plot_z_comparison(
            [check.result for check in checks], [check.scan.z_max for check in checks]
        )
        written += _save(figure, plot_dir / "z_comparison", formats)
    for path in written:
        logger.debug("wrote %s", path)
    return written


def _limits_at_fit_masses(check: HistogramCrossCheck) -> np.ndarray:
    """Return BumpNet's limits at the masses of ``check.result``."""
    assert check.limits_bumpnet is not None
    if check.limits_bumpnet.size == check.result.masses.size:
        return check.limits_bumpnet
    return check.limits_bumpnet[check.fit_start : check.fit_stop]


def _save(figure: Any, stem: Path, formats: Sequence[str]) -> list[Path]:
    from .plotting import save_figure

    paths = []
    for suffix in formats:
        path = stem.with_name(f"{stem.name}.{suffix}")
        save_figure(figure, path)
        paths.append(path)
    return paths


def values_th1d(
    edges: np.ndarray,
    values: np.ndarray,
    *,
    name: str,
    title: str,
    x_title: str = "",
    y_title: str = "",
) -> Any:
    """Return an uproot-writable TH1D with ``values`` per bin and empty flow bins.

    NaN and inf become 0. Sumw2 is zero, so GetBinError returns 0.
    """
    import uproot

    edges = np.asarray(edges, dtype=np.float64)
    values = np.nan_to_num(
        np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0
    )
    n_bins = values.size
    centers = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    uniform = bool(np.allclose(widths, widths[0], rtol=1e-9, atol=0.0))
    x_axis = uproot.writing.identify.to_TAxis(
        fName="xaxis",
        fTitle=x_title,
        fNbins=n_bins,
        fXmin=float(edges[0]),
        fXmax=float(edges[-1]),
        fXbins=np.array([], dtype=np.float64) if uniform else edges,
    )
    y_axis = uproot.writing.identify.to_TAxis(
        fName="yaxis", fTitle=y_title, fNbins=1, fXmin=0.0, fXmax=1.0
    )
    return uproot.writing.identify.to_TH1x(
        fName=name,
        fTitle=title,
        data=np.concatenate(([0.0], values, [0.0])),
        fEntries=float(n_bins),
        fTsumw=float(np.sum(values)),
        fTsumw2=float(np.sum(values * values)),
        fTsumwx=float(np.sum(values * centers)),
        fTsumwx2=float(np.sum(values * centers * centers)),
        fSumw2=np.zeros(n_bins + 2),
        fXaxis=x_axis,
        fYaxis=y_axis,
    )
