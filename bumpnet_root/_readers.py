"""Readers that turn each supported histogram type into a checked Hist1D.

The public entry point is :func:`bumpnet_root.adapters.to_hist1d`, which picks
the reader and emits the warnings.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from . import _th1
from ._root import import_root
from .errors import (
    InvalidHistogramError,
    UnsupportedInputError,
    WeightedHistogramWarning,
    caller_stacklevel,
)
from .histogram import Hist1D

# Relative tolerance for treating bin widths as equal (fixed binning) and for
# matching the upper edge of one bin with the lower edge of the next.
EDGE_RTOL = 1e-9

_CATEGORY_AXIS_TYPES = ("StrCategory", "IntCategory", "Boolean")

# Largest content of the TH1 classes with integer bins. In ROOT 6.40, Fill and
# AddBinContent stop at it and SetBinContent wraps around to negative values, so
# a bin at the limit or below zero has lost events.
_INTEGER_CONTENT_LIMITS = {"TH1C": 127, "TH1S": 32767, "TH1I": 2**31 - 1}


def read_root(obj: Any, name: str | None) -> Hist1D:
    arrays = _th1.read_th1(import_root("reading ROOT histograms"), obj)
    check_integer_contents(
        arrays.class_name,
        arrays.contents,
        arrays.name if name is None else name,
        arrays.source,
    )
    return _assemble(
        edges=arrays.edges,
        cells=arrays.contents,
        variance_cells=arrays.sumw2,
        has_underflow=True,
        has_overflow=True,
        name=arrays.name if name is None else name,
        title=arrays.title,
        source=arrays.source,
    )


def is_uproot_histogram(obj: Any) -> bool:
    uproot = sys.modules.get("uproot")
    return uproot is not None and isinstance(obj, uproot.behaviors.TH1.Histogram)


def _uproot_source(class_name: str, file_path: str | None) -> str:
    """Return the source of a histogram read by the uproot reader, for messages."""
    if file_path:
        return f"uproot {class_name} in {file_path}"
    return f"uproot {class_name}"


def read_uproot(obj: Any, name: str | None) -> Hist1D:
    class_name = str(obj.classname)
    label = str(obj.name or "") if name is None else name
    file_path = getattr(getattr(obj, "file", None), "file_path", None)
    source = _uproot_source(class_name, file_path)

    if class_name.startswith("TProfile") or _is_mean_kind(obj.kind):
        raise InvalidHistogramError(
            f"histogram {label!r} ({source}) is a profile: each bin stores a mean, "
            "not a number of events; fill a TH1D of event counts and scan that"
        )
    if len(obj.axes) != 1:
        raise InvalidHistogramError(
            f"histogram {label!r} ({source}) has {len(obj.axes)} axes, but BumpNet "
            "scans 1-D mass spectra; project it first, for example with "
            ".to_hist().project(0)"
        )
    axis = obj.axis()
    bin_labels = axis.member("fLabels", none_if_missing=True)
    if bin_labels is not None and len(bin_labels) > 0:
        raise InvalidHistogramError(
            f"histogram {label!r} ({source}) has {len(bin_labels)} bin labels on its "
            "x axis, so its bins are categories, not mass intervals; scan a "
            "histogram with a numeric axis"
        )

    sumw2 = obj.member("fSumw2", none_if_missing=True)
    has_sumw2 = sumw2 is not None and len(sumw2) > 0
    cells = np.asarray(obj.values(flow=True), dtype=np.float64)
    check_integer_contents(class_name, cells, label or "<unnamed>", source)
    return _assemble(
        edges=np.asarray(axis.edges(), dtype=np.float64),
        cells=cells,
        variance_cells=np.asarray(obj.variances(flow=True)) if has_sumw2 else None,
        has_underflow=True,
        has_overflow=True,
        name=label,
        title=str(obj.title or ""),
        source=source,
    )


def read_th1_fields(fields: Any, class_name: str, name: str, file_path: str) -> Hist1D:
    """Build the Hist1D that :func:`read_uproot` builds, from TH1 fields.

    ``fields`` come from :func:`bumpnet_root._th1_bytes.read_fields`: a TH1D
    or TH1F without bin labels.
    """
    source = _uproot_source(class_name, file_path)
    cells = np.asarray(fields.cells, dtype=np.float64)
    check_integer_contents(class_name, cells, name or "<unnamed>", source)
    if fields.x_bins.size == fields.n_bins + 1:
        edges = fields.x_bins
    else:
        edges = np.linspace(fields.x_min, fields.x_max, fields.n_bins + 1)
    variance_cells = None
    if fields.sumw2.size > 0:
        # As uproot: fSumw2 where it is positive, 0 elsewhere.
        variance_cells = np.zeros(cells.shape)
        positive = fields.sumw2 > 0
        variance_cells[positive] = fields.sumw2[positive]
    return _assemble(
        edges=np.asarray(edges, dtype=np.float64),
        cells=cells,
        variance_cells=variance_cells,
        has_underflow=True,
        has_overflow=True,
        name=name,
        title=fields.title,
        source=source,
    )


def read_uhi(obj: Any, name: str | None) -> Hist1D:
    """Read hist, boost-histogram and other UHI PlottableHistogram objects.

    Flow bins are read with ``values(flow=True)`` where the object accepts it,
    and the axis traits determine which of them exist.
    """
    type_name = _type_name(obj)
    stored_name = getattr(obj, "name", None)
    axes = obj.axes
    if name is None:
        name = stored_name if isinstance(stored_name, str) else ""
        if not name and len(axes) == 1:
            axis_name = getattr(axes[0], "name", "")
            name = axis_name if isinstance(axis_name, str) else ""
    label = name or "<unnamed>"

    if _is_mean_kind(obj.kind):
        raise InvalidHistogramError(
            f"histogram {label!r} ({type_name}) has kind MEAN, so each bin stores a "
            "mean, not a number of events; fill a histogram with Double, Int64 or "
            "Weight storage and scan that"
        )
    if len(axes) != 1:
        raise InvalidHistogramError(
            f"histogram {label!r} ({type_name}) has {len(axes)} axes, but BumpNet "
            "scans 1-D mass spectra; project it first, for example with "
            "h.project(0)"
        )
    axis = axes[0]
    edges = _uhi_edges(axis, label, type_name)

    values = _uhi_values(obj)
    n_bins = edges.size - 1
    traits = getattr(axis, "traits", None)
    has_underflow = bool(getattr(traits, "underflow", False))
    has_overflow = bool(getattr(traits, "overflow", False))
    if values.size == n_bins:
        has_underflow = has_overflow = False
    elif values.size != n_bins + has_underflow + has_overflow:
        raise InvalidHistogramError(
            f"histogram {label!r} ({type_name}): values(flow=True) returned "
            f"{values.size} entries for {n_bins} bins; pass the histogram as a "
            "(counts, edges) pair instead"
        )

    variances = _uhi_variances(obj, values, flow=values.size != n_bins)
    if variances is None and _variances_unknown(obj):
        warnings.warn(
            f"histogram {label!r} ({type_name}) was filled with weights into "
            f"{_storage_name(obj)} storage, which keeps no sum of squared weights. "
            "The scan treats its contents as event counts, so its Poisson "
            "significances are only approximate; fill Weight storage to keep the "
            "variances",
            WeightedHistogramWarning,
            stacklevel=caller_stacklevel(),
        )
    title = getattr(obj, "label", "")
    return _assemble(
        edges=edges,
        cells=values,
        variance_cells=variances,
        has_underflow=has_underflow,
        has_overflow=has_overflow,
        name=name,
        title=title if isinstance(title, str) else "",
        source=type_name,
    )


def _uhi_edges(axis: Any, label: str, type_name: str) -> np.ndarray:
    """Return the bin edges of a UHI axis, rejecting category axes."""
    boost_histogram = sys.modules.get("boost_histogram")
    category_axes: tuple[type, ...] = ()
    if boost_histogram is not None:
        category_axes = tuple(
            getattr(boost_histogram.axis, axis_type)
            for axis_type in _CATEGORY_AXIS_TYPES
            if hasattr(boost_histogram.axis, axis_type)
        )
    if isinstance(axis, category_axes):
        raise InvalidHistogramError(
            f"histogram {label!r} ({type_name}) has a {type(axis).__name__} axis, "
            "so its bins are categories, not mass intervals; fill a histogram with "
            "a Regular or Variable axis"
        )
    if hasattr(axis, "edges"):
        return np.asarray(axis.edges, dtype=np.float64)

    # Plain UHI axes give each bin as a (lower, upper) pair, or as a single
    # value for a category bin.
    bins = [axis[i] for i in range(len(axis))]
    if not all(isinstance(b, tuple) and len(b) == 2 for b in bins):
        raise InvalidHistogramError(
            f"histogram {label!r} ({type_name}) has a category axis, so its bins "
            "are categories, not mass intervals; fill a histogram with a numeric "
            "axis"
        )
    lower = np.array([b[0] for b in bins], dtype=np.float64)
    upper = np.array([b[1] for b in bins], dtype=np.float64)
    if bins and not np.allclose(upper[:-1], lower[1:], rtol=EDGE_RTOL, atol=0.0):
        raise InvalidHistogramError(
            f"histogram {label!r} ({type_name}) has gaps between its bins; pass it "
            "as a (counts, edges) pair with contiguous bins"
        )
    return np.append(lower, upper[-1:])


def _uhi_values(obj: Any) -> np.ndarray:
    try:
        values = obj.values(flow=True)
    except TypeError:
        # The UHI protocol does not require the flow keyword.
        values = obj.values()
    return np.asarray(values, dtype=np.float64)


def _uhi_variances(obj: Any, values: np.ndarray, flow: bool) -> np.ndarray | None:
    """Return the variances of a UHI histogram, or None for Poisson counts."""
    storage_type = getattr(obj, "storage_type", None)
    if storage_type is not None:
        # boost-histogram: only Weight storage tracks the sum of squared weights.
        # The other storages return the counts as variances.
        if "Weight" not in getattr(storage_type, "__name__", ""):
            return None
    try:
        variances = obj.variances(flow=True) if flow else obj.variances()
    except TypeError:
        variances = obj.variances()
    if variances is None:
        return None
    variances = np.asarray(variances, dtype=np.float64)
    if storage_type is None and np.array_equal(variances, values):
        return None
    return variances


def _variances_unknown(obj: Any) -> bool:
    """Return True for a boost-histogram whose weighted fills lost the variances.

    boost-histogram's Double and other non-Weight storages return None from
    ``variances()`` after a fill with weights, and the counts before it.
    """
    if getattr(obj, "storage_type", None) is None:
        return False
    try:
        return obj.variances() is None
    except (TypeError, ValueError, RuntimeError):
        return False


def _storage_name(obj: Any) -> str:
    return getattr(getattr(obj, "storage_type", None), "__name__", "its")


def check_integer_contents(
    class_name: str, cells: np.ndarray, label: str, source: str
) -> None:
    """Raise InvalidHistogramError when a TH1C, TH1S or TH1I has clipped bins."""
    limit = _INTEGER_CONTENT_LIMITS.get(class_name)
    if limit is None:
        return
    clipped = (cells >= limit) | (cells < 0)
    if np.any(clipped):
        raise InvalidHistogramError(
            f"histogram {label!r} ({source}): {int(np.count_nonzero(clipped))} "
            f"cells (flow bins included) contain {float(cells[clipped][0]):g} or "
            f"another value at or beyond the {class_name} limits 0 to {limit}. A "
            f"{class_name} stops counting at {limit} and wraps around to negative "
            "values when set beyond it, so events are lost; fill a TH1D instead"
        )


def read_counts_edges(pair: tuple | list, name: str | None) -> Hist1D:
    label = name or "<unnamed>"
    if len(pair) != 2:
        raise UnsupportedInputError(
            f"expected a (counts, edges) pair, got a {type(pair).__name__} of "
            f"{len(pair)} items; pass exactly two arrays as numpy.histogram "
            "returns them"
        )
    try:
        counts = np.asarray(pair[0], dtype=np.float64)
        edges = np.asarray(pair[1], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UnsupportedInputError(
            f"histogram {label!r}: cannot convert the (counts, edges) pair to "
            f"numeric arrays ({err}); pass two sequences of numbers"
        ) from err
    if counts.ndim != 1 or edges.ndim != 1:
        raise InvalidHistogramError(
            f"histogram {label!r}: counts and edges must be 1-D arrays, got shapes "
            f"{counts.shape} and {edges.shape}; project a histogram with more "
            "dimensions first"
        )
    if counts.size == edges.size + 1:
        raise InvalidHistogramError(
            f"histogram {label!r}: got {counts.size} counts and {edges.size} edges, "
            "which looks like an (edges, counts) pair; pass (counts, edges) in the "
            "order numpy.histogram returns them"
        )
    return _assemble(
        edges=edges,
        cells=counts,
        variance_cells=None,
        has_underflow=False,
        has_overflow=False,
        name=name or "",
        title="",
        source="(counts, edges)",
    )


def _assemble(
    edges: np.ndarray,
    cells: np.ndarray,
    variance_cells: np.ndarray | None,
    has_underflow: bool,
    has_overflow: bool,
    name: str,
    title: str,
    source: str,
) -> Hist1D:
    """Split off the flow cells, check the contents and build the Hist1D."""
    stop = cells.size - 1 if has_overflow else cells.size
    start = 1 if has_underflow else 0
    counts = cells[start:stop]
    variances = None if variance_cells is None else variance_cells[start:stop]
    label = name or "<unnamed>"
    if counts.ndim == 1 and edges.ndim == 1 and counts.size + 1 == edges.size:
        # Hist1D reports shape mismatches itself, without the source.
        check_contents(edges, counts, variances, label, source)

    flow = {"underflow": cells[0] if has_underflow else 0.0}
    flow["overflow"] = cells[-1] if has_overflow else 0.0
    for where, value in flow.items():
        if not np.isfinite(value):
            raise InvalidHistogramError(
                f"histogram {label!r} ({source}): the {where} bin contains "
                f"{float(value)!r}; fix the entries that filled it"
            )
    return Hist1D(
        edges=edges,
        counts=counts,
        variances=variances,
        name=name,
        title=title,
        underflow=float(flow["underflow"]),
        overflow=float(flow["overflow"]),
        source=source,
    )


def check_contents(
    edges: np.ndarray,
    counts: np.ndarray,
    variances: np.ndarray | None,
    label: str,
    source: str,
) -> None:
    """Raise InvalidHistogramError for NaN, inf or negative counts or variances."""
    checks = [
        (
            "NaN or inf contents",
            counts,
            ~np.isfinite(counts),
            "remove the entries that filled them",
        ),
        (
            "negative contents",
            counts,
            counts < 0,
            "a resonance scan needs non-negative event counts, so remove the "
            "negative weights or scan a histogram of raw counts",
        ),
    ]
    if variances is not None:
        checks.append(
            (
                "NaN, inf or negative variances",
                variances,
                ~np.isfinite(variances) | (variances < 0),
                "the sum of squared weights must be finite and non-negative, so "
                "rebuild the histogram or drop its variances",
            )
        )
    for problem, array, bad, advice in checks:
        if np.any(bad):
            i = int(np.argmax(bad))
            count = _bins_have(int(np.count_nonzero(bad)))
            raise InvalidHistogramError(
                f"histogram {label!r} ({source}): {count} "
                f"{problem}, the first is the bin [{edges[i]:g}, "
                f"{edges[i + 1]:g}) with {float(array[i])!r}; {advice}"
            )


def _bins_have(count: int) -> str:
    """Return "1 bin has" or "N bins have"."""
    return "1 bin has" if count == 1 else f"{count} bins have"


def _type_name(obj: Any) -> str:
    """Return the type as ``package.Class``, for example ``hist.Hist``."""
    package = type(obj).__module__.split(".")[0]
    return f"{package}.{type(obj).__qualname__}"


def _is_mean_kind(kind: Any) -> bool:
    return str(getattr(kind, "value", kind)).upper() == "MEAN"
