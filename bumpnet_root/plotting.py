"""Plots of scanned histograms: data with BumpNet's background, and Z per bin.

Figures are drawn on :class:`matplotlib.figure.Figure` objects, not through
pyplot, so plotting never changes the caller's matplotlib backend or opens a
window. The CMS style of mplhep is applied only inside :func:`plot_result`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .io import atomic_write
from .scan import ScanReport, ScanResult

logger = logging.getLogger(__name__)

PLOT_FORMATS = ("png", "pdf")
_PLOT_NAME = re.compile(r"\d{2,}_.+\.(png|pdf)")
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
# Candidates numbered in the lower panel and listed in the upper one.
_LABELLED_CANDIDATES = 5
# The Z axis turns logarithmic above 2 x threshold once Z exceeds this many times
# the threshold.
_SYMLOG_ABOVE = 10


def _plain_text(text: str) -> str:
    """Escape ``$`` so that matplotlib does not parse ROOT titles as mathtext."""
    return text.replace("$", r"\$")


# A run of ROOT TLatex markup: #word with optional {...}, or x_{...}, x^{...}.
_TLATEX_RUN = re.compile(
    r"(?:#[A-Za-z]+(?:\{[^{}$]*\})?|[A-Za-z0-9]*[_^]\{[^{}$]*\}|[A-Za-z0-9]*[_^][A-Za-z0-9])+"
)


def _axis_text(text: str) -> str:
    """Return a ROOT axis title with its TLatex markup as matplotlib mathtext.

    "m_{#mu#mu} [GeV]" becomes "$m_{\\mu \\mu}$ [GeV]". Titles without markup,
    and titles whose converted markup mathtext cannot parse, come back as
    plain text.
    """
    if "#" not in text and "_{" not in text and "^{" not in text:
        return _plain_text(text)

    def convert(match: re.Match) -> str:
        run = re.sub(
            r"#([A-Za-z]+)",
            lambda m: "\\" + m.group(1) + " ",
            match.group(0),
        )
        return "$" + run.replace(" }", "}").replace(" _", "_").replace(" ^", "^") + "$"

    converted = _TLATEX_RUN.sub(convert, text.replace("$", ""))
    try:
        from matplotlib.mathtext import MathTextParser

        MathTextParser("path").parse(converted)
    except Exception:  # any markup mathtext rejects: show the title as written
        return _plain_text(text)
    return converted


def _draw_spectrum(ax, result: ScanResult) -> None:
    histogram = result.histogram
    counts = histogram.counts
    centers = histogram.centers
    nonzero = counts > 0
    ax.errorbar(
        centers[nonzero],
        counts[nonzero],
        yerr=np.sqrt(counts[nonzero]),
        fmt="o",
        color="black",
        markersize=3 if histogram.n_bins > 100 else 5,
        elinewidth=1,
        label="Data",
    )

    domain = result.prediction.domain
    # Only the scanned bins have a background estimate. With baseline=None,
    # stairs draws no vertical lines down to zero at both ends.
    ax.stairs(
        result.prediction.background[domain.start : domain.stop],
        histogram.edges[domain.start : domain.stop + 1],
        baseline=None,
        color="tab:red",
        linewidth=2,
        label="Background (BumpNet)",
    )

    ax.set_yscale("log")
    if np.any(nonzero):
        ax.set_ylim(0.5 * float(np.min(counts[nonzero])), 2 * float(np.max(counts)))
    ax.set_ylabel("Events / bin")


def _draw_significance(ax, result: ScanResult, threshold: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    from matplotlib.transforms import blended_transform_factory

    histogram = result.histogram
    z = result.prediction.z
    edges = histogram.edges
    ax.stairs(z, edges, fill=True, color="tab:blue", alpha=0.6)

    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.5)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.text(
        0.99,
        threshold,
        f"Z = {threshold:g}",
        transform=blended_transform_factory(ax.transAxes, ax.transData),
        ha="right",
        va="bottom",
        fontsize=12,
        color="tab:red",
    )

    candidates = result.candidates
    if candidates:
        ax.plot(
            [c.mass for c in candidates],
            [c.z for c in candidates],
            "v",
            color="black",
            markersize=7,
        )
    # Rank numbers stay short, so neighbouring labels rarely overlap. The
    # upper panel lists Z and mass for each number.
    for rank, candidate in enumerate(candidates[:_LABELLED_CANDIDATES], start=1):
        ax.annotate(
            str(rank),
            (candidate.mass, candidate.z),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=12,
        )

    low = min(float(np.min(z)), 0.0)
    high = max(float(np.max(z)), threshold)
    # A threshold of 0 or below cannot set the scale, so Z = 1 does.
    scale = threshold if threshold > 0 else 1.0
    if high > _SYMLOG_ABOVE * scale:
        # Resonances such as the Z boson reach Z of several hundred. A scale
        # that is linear up to 2 x threshold and logarithmic above keeps both
        # the threshold line and such peaks readable. Deficits below
        # -2 x threshold are cut off, and a note in the panel reports it.
        linear_limit = 2 * scale
        ax.set_yscale("symlog", linthresh=linear_limit)
        ax.set_ylim(max(low * 1.2, -linear_limit), high * 5)
        powers = 10.0 ** np.arange(1, np.floor(np.log10(high * 5)) + 1)
        ticks = sorted({0.0, threshold, *powers[powers > linear_limit]})
        if low <= -scale:
            ticks.insert(0, -scale)
        if low < -linear_limit:
            ax.text(
                0.01,
                0.02,
                f"Z below {-linear_limit:g} cut off (lowest {low:.3g})",
                transform=ax.transAxes,
                ha="left",
                va="bottom",
                fontsize=10,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.set_ylim(low - 0.1 * (high - low), high + 0.3 * (high - low))
    ax.set_ylabel("Z")


def _shade_unscanned(axes, result: ScanResult) -> None:
    edges = result.histogram.edges
    low, high = result.scan_range
    for ax in axes:
        for start, stop in ((edges[0], low), (high, edges[-1])):
            if stop > start:
                ax.axvspan(start, stop, color="grey", alpha=0.15, linewidth=0)


def _label_spectrum(ax, result: ScanResult, threshold: float) -> None:
    """Add the legend, the histogram name, the candidate list and the range."""
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] != "Data")
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="upper right",
        fontsize=15,
        frameon=False,
    )

    lines = [f"{Path(result.file).name}:{result.name}"]
    if result.histogram.title:
        lines.append(result.histogram.title)
    if result.out_of_domain:
        lines.append("outside the training domain: maxima, NOT bumps")
    ax.text(
        0.03,
        0.96,
        _plain_text("\n".join(lines)),
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=15,
    )

    shown = result.candidates[:_LABELLED_CANDIDATES]
    if shown:
        rows = [
            f"{rank}: Z = {c.z:.1f} at {c.mass:.4g}"
            for rank, c in enumerate(shown, start=1)
        ]
        if len(result.candidates) > len(shown):
            rows.append(f"... {len(result.candidates) - len(shown)} more")
    else:
        rows = [f"no candidate with Z > {threshold:g}"]
    ax.text(
        0.03,
        0.96 - 0.065 * len(lines),
        "\n".join(rows),
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=12,
    )

    # Raise the top of the log axis until the text block covers only the
    # empty part above the data. The fractions are line heights at these font
    # sizes in a 10 x 9 inch figure, estimated from rendered plots.
    text_fraction = 0.07 + 0.065 * len(lines) + 0.045 * len(rows)
    bottom, top = ax.get_ylim()
    decades = np.log10(top / bottom)
    ax.set_ylim(bottom, top * 10 ** (decades * text_fraction / (1 - text_fraction)))

    low, high = result.scan_range
    ax.text(
        0.03,
        0.03,
        f"scanned {low:.4g} to {high:.4g} (unshaded)",
        transform=ax.transAxes,
        va="bottom",
        ha="left",
        fontsize=12,
        color="dimgrey",
    )


def plot_result(
    result: ScanResult,
    path: str | Path,
    threshold: float,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Draw one scanned histogram and save it once per format.

    ``path`` is the file name without suffix, and each format adds its own. The
    upper panel shows the data with sqrt(n) error bars and the network's
    background estimate on a log scale, the lower one Z per bin with the
    threshold and the candidates. Bins outside the scanned range are shaded.
    Returns the written paths.
    """
    unknown = [f for f in formats if f not in PLOT_FORMATS]
    if unknown:
        raise ValueError(
            f"unsupported plot formats {unknown}; choose from {list(PLOT_FORMATS)}"
        )
    path = Path(path)
    histogram = result.histogram
    # matplotlib and mplhep take about a second to import, which a scan
    # without plots does not spend.
    import matplotlib.style
    import mplhep
    from matplotlib.figure import Figure

    with matplotlib.style.context(mplhep.style.CMS):
        figure = Figure(figsize=(10, 9))
        grid = figure.add_gridspec(2, 1, height_ratios=(3, 1.4), hspace=0.05)
        top = figure.add_subplot(grid[0])
        bottom = figure.add_subplot(grid[1], sharex=top)
        _draw_spectrum(top, result)
        _draw_significance(bottom, result, threshold)
        _shade_unscanned((top, bottom), result)
        top.tick_params(labelbottom=False)
        top.set_xlim(histogram.edges[0], histogram.edges[-1])
        _label_spectrum(top, result, threshold)
        bottom.set_xlabel(_axis_text(result.x_title or "Mass"))
        figure.align_ylabels((top, bottom))
        written = []
        for extension in formats:
            target = path.with_name(f"{path.name}.{extension}")
            atomic_write(
                target,
                lambda tmp, fmt=extension: figure.savefig(
                    tmp, format=fmt, dpi=100, bbox_inches="tight"
                ),
            )
            written.append(target)
    return written


def plot_file_stem(rank: int, result: ScanResult) -> str:
    """Return the plot file name without suffix, e.g. ``01_demo_GMmass``."""
    safe = _UNSAFE_CHARACTERS.sub("_", result.key).strip("_") or "histogram"
    return f"{rank:02d}_{safe}"


def plot_top_results(
    report: ScanReport,
    out_dir: str | Path,
    threshold: float,
    count: int,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Plot the ``count`` histograms with the highest maximum Z into ``out_dir``.

    Histograms outside the training domain are plotted only after all others.

    Plots of an earlier run in ``out_dir`` that follow the same naming pattern
    (``NN_<key>.png`` or ``.pdf``) and were not rewritten are removed, so the
    directory matches the current scan. With ``count`` 0 the directory is not
    created. Returns the written paths.
    """
    out_dir = Path(out_dir)
    if count > 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    elif not out_dir.is_dir():
        return []
    written: list[Path] = []
    ranked = report.ranked_results()
    # Histograms outside the training domain come after the others, because
    # their maxima are not bumps and would otherwise take every plot.
    ranked = [r for r in ranked if not r.out_of_domain] + [
        r for r in ranked if r.out_of_domain
    ]
    for rank, result in enumerate(ranked[: max(count, 0)], start=1):
        stem = out_dir / plot_file_stem(rank, result)
        written.extend(plot_result(result, stem, threshold, formats))
        logger.debug("plotted %s:%s", result.file, result.name)
    current_names = {path.name for path in written}
    for old in out_dir.iterdir():
        if _PLOT_NAME.fullmatch(old.name) and old.name not in current_names:
            old.unlink()
            logger.debug("removed the earlier plot %s", old)
    return written
