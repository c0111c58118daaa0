"""Plots of the RooFit cross-check: fit with pulls, Z comparison, upper limits.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, not through pyplot, so plotting never changes the caller's backend or
opens a window. The mplhep ROOT style is applied only while a figure is drawn.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .results import BackgroundFit, CrossCheckResult, UpperLimitResult

logger = logging.getLogger(__name__)


def plot_fit(
    result: CrossCheckResult | BackgroundFit,
    path: str | Path | None = None,
    *,
    logy: bool = True,
    xlabel: str = "Mass [GeV]",
) -> Figure:
    """Draw the data, the background fit and the pulls (n - nu)/sqrt(nu).

    For a CrossCheckResult the largest Z_LR is marked at its mass. The figure
    is saved to ``path`` (format from the suffix) when given, and returned.
    """
    if isinstance(result, CrossCheckResult):
        fit = result.background_fit
        if fit is None:
            raise ValueError(
                f"cross-check of {result.name!r} has no background fit to plot "
                f"({result.error})"
            )
    else:
        fit = result
    edges, counts, background = fit.edges, fit.counts, fit.background
    centers = 0.5 * (edges[1:] + edges[:-1])
    with matplotlib.style.context(mplhep.style.ROOT):
        figure = Figure(figsize=(10, 9))
        FigureCanvasAgg(figure)
        grid = figure.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.05)
        top = figure.add_subplot(grid[0])
        bottom = figure.add_subplot(grid[1], sharex=top)

        top.errorbar(
            centers,
            counts,
            yerr=np.sqrt(counts),
            fmt="o",
            color="black",
            markersize=3,
            label="Data",
        )
        mplhep.histplot(
            background,
            edges,
            ax=top,
            color="tab:red",
            edges=False,
            label=f"{fit.function}, $\\chi^2$/ndf = {fit.chi2:.1f}/{fit.ndf}",
        )
        positive = counts[counts > 0]
        if logy and positive.size:
            top.set_yscale("log")
            # Leave the top decade or so free for the legend.
            low, high = float(positive.min()), float(positive.max())
            top.set_ylim(0.5 * low, high * (high / low) ** 0.25 * 2.0)
        else:
            top.set_ylim(0.0, 1.4 * float(np.max(counts)))
        top.set_ylabel("Entries / bin")
        top.set_title(fit.name, fontsize="medium", loc="left")
        if isinstance(result, CrossCheckResult) and math.isfinite(result.z_lr_max):
            top.axvline(result.mass_at_z_lr_max, color="tab:blue", linestyle="--")
            top.plot(
                [],
                [],
                color="tab:blue",
                linestyle="--",
                label=(
                    f"max $Z_{{LR}}$ = {result.z_lr_max:.2f} at "
                    f"{result.mass_at_z_lr_max:.4g}"
                ),
            )
        top.legend(fontsize="small", loc="upper right")
        top.tick_params(labelbottom=False)

        bottom.bar(centers, fit.pulls, width=np.diff(edges), color="tab:gray")
        bottom.axhline(0.0, color="black", linewidth=0.8)
        bottom.set_ylabel("Pull")
        bottom.set_xlabel(xlabel)
        limit = max(3.0, float(np.max(np.abs(fit.pulls))) * 1.1)
        bottom.set_ylim(-limit, limit)
        figure.align_ylabels([top, bottom])
    _save(figure, path)
    return figure


def plot_z_comparison(
    results: Sequence[CrossCheckResult],
    z_bumpnet: Sequence[float],
    path: str | Path | None = None,
) -> Figure:
    """Scatter Z_max of the likelihood ratio against BumpNet's Z_max.

    ``z_bumpnet[i]`` belongs to ``results[i]``. Histograms whose cross-check
    failed or whose Z is NaN are left out, and the title counts them.
    """
    if len(results) != len(z_bumpnet):
        raise ValueError(
            f"got {len(results)} cross-check results but {len(z_bumpnet)} BumpNet "
            "values; pass one BumpNet Z_max per result"
        )
    z_lr = np.array([r.z_lr_max if r.ok else math.nan for r in results])
    z_net = np.asarray(z_bumpnet, dtype=np.float64)
    valid = np.isfinite(z_lr) & np.isfinite(z_net)
    with matplotlib.style.context(mplhep.style.ROOT):
        figure = Figure(figsize=(9, 9))
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        ax.scatter(z_net[valid], z_lr[valid], s=18, color="tab:blue")
        values = np.concatenate([z_net[valid], z_lr[valid], [0.0, 1.0]])
        low, high = float(values.min()) - 0.5, float(values.max()) + 0.5
        ax.plot([low, high], [low, high], color="gray", linestyle="--", label="y = x")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_xlabel(r"BumpNet $Z_{max}$")
        ax.set_ylabel(r"RooFit $Z_{max}$ (likelihood ratio)")
        title = f"{int(valid.sum())} histograms"
        if np.count_nonzero(valid) >= 2:
            correlation = np.corrcoef(z_net[valid], z_lr[valid])[0, 1]
            title += f", correlation {correlation:.2f}"
        left_out = int(np.count_nonzero(~valid))
        if left_out:
            title += f", {left_out} left out"
        ax.set_title(title, fontsize="medium", loc="left")
        ax.legend(fontsize="small", loc="upper left")
    _save(figure, path)
    return figure


def plot_upper_limits(
    result: UpperLimitResult | CrossCheckResult,
    z_limits: Sequence[float] | np.ndarray | None = None,
    path: str | Path | None = None,
    *,
    xlabel: str = "Mass [GeV]",
    z_label: str = "from BumpNet Z",
) -> Figure:
    """Draw the likelihood-ratio upper limits per mass, optionally next to others.

    ``z_limits`` are limits at the same masses from another method, for example
    :func:`upper_limits_from_z` applied to BumpNet's Z per bin.
    """
    if isinstance(result, UpperLimitResult):
        masses, limits, cl = result.masses, result.limits, result.cl
    else:
        if result.upper_limits is None:
            raise ValueError(
                f"cross-check of {result.name!r} has no upper limits; run it with "
                "limits=True"
            )
        masses, limits, cl = result.masses, result.upper_limits, result.cl
    with matplotlib.style.context(mplhep.style.ROOT):
        figure = Figure(figsize=(10, 8))
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        ax.plot(masses, limits, "o-", color="black", markersize=3, label="RooFit LR")
        if z_limits is not None:
            z_limits = np.asarray(z_limits, dtype=np.float64)
            if z_limits.shape != masses.shape:
                raise ValueError(
                    f"z_limits must have one entry per mass, shape {masses.shape}, "
                    f"got {z_limits.shape}"
                )
            ax.plot(
                masses, z_limits, "s--", color="tab:orange", markersize=3, label=z_label
            )
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{cl:.0%} CL upper limit on signal entries")
        ax.legend(fontsize="small")
    _save(figure, path)
    return figure


def _save(figure: Figure, path: str | Path | None) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path)
    logger.debug("wrote %s", path)


def save_figure(figure: Figure, path: Path) -> None:
    """Save ``figure`` with the style it was drawn in.

    Text, mathtext included, is laid out again when the figure is saved, so
    outside the style matplotlib's default math fonts would be used. Those
    look up a 'cursive' font that many Linux systems lack, which logs warnings.
    """
    with matplotlib.style.context(mplhep.style.ROOT):
        figure.savefig(path, dpi=120, bbox_inches="tight")
