"""Conversion of ROOT, uproot, hist and numpy histograms to and from Hist1D.

Policy of :func:`to_hist1d` for every input type other than Hist1D:

* Weighted histograms: the scan treats the contents as event counts. When the
  variances differ from the counts, :func:`to_hist1d` emits one
  :class:`~bumpnet_root.errors.WeightedHistogramWarning` per call. The variances
  stay in ``Hist1D.variances``. A hist or boost-histogram histogram filled with
  weights into Double (not Weight) storage has no variances: it is read with
  ``variances=None`` and gets the same warning.
* Under- and overflow contents go to ``Hist1D.underflow`` and ``Hist1D.overflow``
  and are never scanned. :class:`~bumpnet_root.errors.FlowBinWarning` is emitted
  when they contain more than ``FLOW_WARNING_FRACTION`` of all entries.
* Rejected: histograms with more than one axis, profiles, category or labelled
  axes, NaN or inf contents, negative contents, and TH1C, TH1S or TH1I
  histograms with a cell at their integer limit (clipped counts).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _th1
from ._readers import (
    EDGE_RTOL,
    check_contents,
    is_uproot_histogram,
    read_counts_edges,
    read_root,
    read_uhi,
    read_uproot,
)
from ._root import import_root, is_root_object
from .errors import (
    FlowBinWarning,
    InvalidHistogramError,
    UnsupportedInputError,
    WeightedHistogramWarning,
    caller_stacklevel,
)
from .histogram import Hist1D

logger = logging.getLogger(__name__)

# Fraction of all entries (in-range plus flow, absolute values) above which the
# under- and overflow bins trigger a FlowBinWarning.
FLOW_WARNING_FRACTION = 0.05

CSV_HEADER = ("low_edge", "high_edge", "count")


def to_hist1d(obj: Any, name: str | None = None) -> Hist1D:
    """Convert a 1-D histogram of any supported type to a :class:`Hist1D`.

    Supported inputs: a Hist1D, a PyROOT TH1 or RDataFrame ``Histo1D`` result,
    an uproot histogram, a ``hist.Hist`` or ``boost_histogram.Histogram``, any
    object with the UHI PlottableHistogram protocol, and a ``(counts, edges)``
    pair as returned by ``numpy.histogram``. ``name`` replaces the name stored
    in the object. A Hist1D is checked for NaN, inf and negative contents and
    then returned unchanged (or renamed), without warnings.

    A histogram counts as weighted when it has variances (ROOT Sumw2, uproot
    fSumw2, boost-histogram Weight storage) that differ from its counts. The scan
    still treats its contents as counts, so Poisson significances are only
    approximate. A WeightedHistogramWarning reports this, and the variances are kept.
    Scanning the effective counts ``counts**2 / variances`` is one alternative.

    Raises UnsupportedInputError for objects of other types and
    InvalidHistogramError for histograms that cannot be scanned (see the module
    docstring). Emits FlowBinWarning when the flow bins contain more than
    ``FLOW_WARNING_FRACTION`` of the entries.
    """
    if isinstance(obj, Hist1D):
        check_contents(
            obj.edges, obj.counts, obj.variances, obj.label, obj.source or "Hist1D"
        )
        if name is None or name == obj.name:
            return obj
        return dataclasses.replace(obj, name=name)

    # ROOT and uproot histograms also have the UHI methods, so they come first.
    if is_root_object(obj):
        hist = read_root(obj, name)
    elif is_uproot_histogram(obj):
        hist = read_uproot(obj, name)
    elif isinstance(obj, (tuple, list)):
        hist = read_counts_edges(obj, name)
    elif all(hasattr(obj, attr) for attr in ("kind", "values", "variances", "axes")):
        hist = read_uhi(obj, name)
    else:
        raise UnsupportedInputError(
            f"cannot convert {_short_repr(obj)} of type {type(obj).__qualname__} to "
            "a 1-D histogram; pass a ROOT TH1, an uproot or hist histogram, an "
            "object with the UHI PlottableHistogram protocol or a (counts, edges) "
            "pair"
        )
    _warn_about_contents(hist)
    logger.debug("converted %s %r with %d bins", hist.source, hist.name, hist.n_bins)
    return hist


def to_th1d(
    h: Hist1D,
    values: ArrayLike | None = None,
    name: str | None = None,
    title: str | None = None,
    errors: ArrayLike | None = None,
) -> Any:
    """Create a ``ROOT.TH1D`` with the binning of ``h``.

    The contents are ``values`` when given (a background prediction or a
    significance per bin, for example), with empty flow bins. Otherwise they are
    ``h.counts`` with ``h.underflow`` and ``h.overflow``, and ``h.variances``, if
    set, fill the Sumw2 array. ``errors``, when given, sets the per-bin errors
    (Sumw2 = errors**2) in both cases. Whenever the TH1D has a Sumw2 array, the
    flow bins get variances equal to their contents, because Hist1D stores no
    flow variances. The name defaults to ``h.name`` and the title to ``h.title``.

    The histogram is detached from any ROOT directory (``SetDirectory(nullptr)``),
    so Python owns it. Raises MissingDependencyError when PyROOT is not installed.
    """
    if not isinstance(h, Hist1D):
        raise UnsupportedInputError(
            f"to_th1d expects a Hist1D, got {type(h).__qualname__}; convert the "
            "object with to_hist1d first"
        )
    root = import_root("to_th1d")
    underflow, overflow = 0.0, 0.0
    if values is None:
        contents = h.counts
        sumw2 = h.variances
        underflow, overflow = h.underflow, h.overflow
    else:
        contents = _per_bin_array(values, h, "values")
        sumw2 = None
    if errors is not None:
        bin_errors = _per_bin_array(errors, h, "errors")
        if np.any(bin_errors < 0):
            raise InvalidHistogramError(
                f"histogram {h.label!r}: errors must be non-negative, got "
                f"{float(bin_errors.min())!r}; pass the standard deviation of each "
                "bin"
            )
        sumw2 = bin_errors**2

    cells = np.concatenate([[underflow], contents, [overflow]])
    sumw2_cells = None
    if sumw2 is not None:
        sumw2_cells = np.concatenate([[abs(underflow)], sumw2, [abs(overflow)]])
    return _th1.write_th1d(
        root,
        edges=h.edges,
        uniform=_is_uniform(h.edges),
        contents=cells,
        sumw2=sumw2_cells,
        name=name or h.name or "bumpnet_hist",
        title=h.title if title is None else title,
    )


def to_hist(h: Hist1D, values: ArrayLike | None = None) -> Any:
    """Create a ``hist.Hist`` with the binning of ``h``.

    The axis is Regular when all bins have the same width, otherwise Variable,
    and it is named after ``h.name``; the histogram label is ``h.title``. With
    ``values`` the storage is Double and contains those values, with empty flow
    bins. Without ``values`` the contents are ``h.counts`` and the flow bins. The
    storage is then Weight when ``h.variances`` is set (flow variances equal the
    flow contents, because Hist1D stores none) and Double otherwise.
    """
    import hist

    if _is_uniform(h.edges):
        axis = hist.axis.Regular(
            h.n_bins, float(h.edges[0]), float(h.edges[-1]), name=h.name
        )
    else:
        axis = hist.axis.Variable(h.edges, name=h.name)

    if values is not None:
        result = hist.Hist(
            axis, storage=hist.storage.Double(), name=h.name, label=h.title
        )
        result.view(flow=False)[...] = _per_bin_array(values, h, "values")
    elif h.variances is None:
        result = hist.Hist(
            axis, storage=hist.storage.Double(), name=h.name, label=h.title
        )
        result.view(flow=True)[...] = np.concatenate(
            [[h.underflow], h.counts, [h.overflow]]
        )
    else:
        result = hist.Hist(
            axis, storage=hist.storage.Weight(), name=h.name, label=h.title
        )
        view = result.view(flow=True)
        view.value = np.concatenate([[h.underflow], h.counts, [h.overflow]])
        view.variance = np.concatenate(
            [[abs(h.underflow)], h.variances, [abs(h.overflow)]]
        )
    return result


def read_csv_histogram(path: str | PathLike[str], name: str | None = None) -> Hist1D:
    """Read a histogram from a CSV file with columns ``low_edge,high_edge,count``.

    The first line must be that header. Further columns are ignored. Rows must
    list contiguous bins in increasing order. The name defaults to the file name
    without its suffix, and the counts are treated as unweighted.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            rows = list(csv.reader(file))
    except UnicodeDecodeError as error:
        raise InvalidHistogramError(
            f"CSV file {str(path)!r} is not UTF-8 text (byte {error.start}: "
            f"{error.reason}); save it as UTF-8"
        ) from error
    label = name or path.stem
    header = tuple(field.strip().lower() for field in rows[0][:3]) if rows else ()
    if header != CSV_HEADER:
        raise InvalidHistogramError(
            f"CSV file {str(path)!r}: the first line must start with the header "
            f"{','.join(CSV_HEADER)!r}, got {','.join(rows[0]) if rows else ''!r}; "
            "add that header or reorder the columns"
        )

    table = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not row or all(not field.strip() for field in row):
            continue
        if len(row) < 3:
            raise InvalidHistogramError(
                f"CSV file {str(path)!r}, line {line_number}: expected at least 3 "
                f"columns (low_edge, high_edge, count), got {row!r}"
            )
        try:
            table.append([float(field) for field in row[:3]] + [line_number])
        except ValueError as err:
            raise InvalidHistogramError(
                f"CSV file {str(path)!r}, line {line_number}: {row[:3]!r} are not "
                f"all numbers ({err}); fix the value in the file"
            ) from err
    if not table:
        raise InvalidHistogramError(
            f"CSV file {str(path)!r} contains a header but no bins; add one row per bin"
        )

    low, high, counts, line_numbers = (np.array(column) for column in zip(*table))
    inverted = np.flatnonzero(high <= low)
    if inverted.size:
        i = inverted[0]
        raise InvalidHistogramError(
            f"CSV file {str(path)!r}, line {int(line_numbers[i])}: high_edge "
            f"{float(high[i])!r} is not above low_edge {float(low[i])!r}"
        )
    gaps = np.flatnonzero(~np.isclose(high[:-1], low[1:], rtol=EDGE_RTOL, atol=0))
    if gaps.size:
        i = gaps[0]
        raise InvalidHistogramError(
            f"CSV file {str(path)!r}, line {int(line_numbers[i + 1])}: the bin "
            f"starts at {float(low[i + 1])!r}, but the bin before it ends at "
            f"{float(high[i])!r}; "
            "bins must be contiguous and in increasing order, so add the missing "
            "bins, sort the rows or split the file into contiguous ranges"
        )

    edges = np.append(low, high[-1])
    check_contents(edges, counts, None, label, str(path))
    hist = Hist1D(edges=edges, counts=counts, name=label, source=str(path))
    logger.debug("read %d bins of %r from %s", hist.n_bins, label, path)
    return hist


def _warn_about_contents(hist: Hist1D) -> None:
    """Emit the weighted-histogram and flow-bin warnings for ``hist``.

    They point at the user's line that called into the package.
    """
    stacklevel = caller_stacklevel()
    if hist.is_weighted:
        warnings.warn(
            f"histogram {hist.label!r} ({hist.source}) is weighted: its variances "
            "differ from its counts. The scan treats the contents as event counts, "
            "so its Poisson significances assume unweighted events and are only "
            "approximate. To scan effective counts instead, pass "
            "counts**2 / variances per bin.",
            WeightedHistogramWarning,
            stacklevel=stacklevel,
        )
    flow = abs(hist.underflow) + abs(hist.overflow)
    # Counts near the float64 maximum sum to inf, which gives a fraction of 0.
    with np.errstate(over="ignore"):
        total = float(np.sum(hist.counts)) + flow
    if total > 0 and flow / total > FLOW_WARNING_FRACTION:
        warnings.warn(
            f"histogram {hist.label!r} ({hist.source}): {flow / total:.1%} of the "
            f"entries are in the underflow and overflow bins ({hist.underflow:g} "
            f"and {hist.overflow:g} entries), which the scan ignores; widen the axis "
            f"range beyond [{hist.edges[0]:g}, {hist.edges[-1]:g}) if the spectrum "
            "continues there",
            FlowBinWarning,
            stacklevel=stacklevel,
        )


def _per_bin_array(values: ArrayLike, h: Hist1D, argument: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != h.counts.shape:
        raise InvalidHistogramError(
            f"histogram {h.label!r}: {argument} must have one entry per bin, shape "
            f"{h.counts.shape}, got shape {array.shape}"
        )
    return array


def _is_uniform(edges: np.ndarray) -> bool:
    widths = np.diff(edges)
    return bool(np.allclose(widths, widths[0], rtol=EDGE_RTOL, atol=0.0))


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."
