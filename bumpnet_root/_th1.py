"""Conversion between PyROOT TH1 objects and numpy arrays.

Callers pass the ``ROOT`` module from :func:`bumpnet_root._root.import_root`, so
this module never imports ROOT itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .errors import InvalidHistogramError, UnsupportedInputError

logger = logging.getLogger(__name__)

_PROFILE_CLASSES = ("TProfile", "TProfile2D", "TProfile3D")

# PyROOT maps the ``Char_t*`` returned by TH1C::GetArray() to a Python str that
# stops at the first zero byte, so TH1C contents are copied in C++ instead.
_COPY_CONTENTS_CODE = """
#include "TH1.h"
namespace bumpnet_root_detail {
inline void copy_th1_contents(const TH1 &hist, double *out) {
  const Int_t n_cells = hist.GetNcells();
  for (Int_t i = 0; i < n_cells; ++i) out[i] = hist.GetBinContent(i);
}
}
"""
_copy_helper_declared = False


@dataclass(frozen=True)
class TH1Arrays:
    """Bin edges, contents and Sumw2 of a TH1, each content array with flow bins."""

    edges: np.ndarray
    contents: np.ndarray
    sumw2: np.ndarray | None
    name: str
    title: str
    source: str
    class_name: str = ""


def read_th1(root: ModuleType, obj: Any) -> TH1Arrays:
    """Copy the binning and contents of a 1-D ROOT histogram into numpy arrays.

    Accepts every TH1 class with one dimension and an RDataFrame result that contains
    one. Raises UnsupportedInputError for objects that are not histograms and
    InvalidHistogramError for profiles, TH2/TH3 and labelled axes.
    """
    class_name = type(obj).__name__
    if "RResultPtr" in class_name:
        # An RDataFrame Histo1D result: GetValue() runs the event loop if needed.
        obj = obj.GetValue()
    if root.addressof(obj) == 0:
        raise UnsupportedInputError(
            f"the ROOT object of type {class_name} is a null pointer; the histogram "
            "was probably not found, so check its name and path in the file "
            "(TFile.ls() lists them)"
        )
    if not isinstance(obj, root.TObject) or not obj.InheritsFrom("TH1"):
        raise UnsupportedInputError(
            f"ROOT object {_root_name(obj)!r} of class {class_name} is not a "
            "histogram; fill a TH1 (for example with TTree::Draw or "
            "RDataFrame::Histo1D) and pass that"
        )

    name = str(obj.GetName())
    class_name = str(obj.ClassName())
    source = _describe_source(obj, class_name)
    if any(obj.InheritsFrom(profile) for profile in _PROFILE_CLASSES):
        raise InvalidHistogramError(
            f"histogram {name!r} ({source}) is a profile: each bin stores a mean, "
            "not a number of events; fill a TH1D of event counts and scan that"
        )
    if obj.GetDimension() != 1:
        raise InvalidHistogramError(
            f"histogram {name!r} ({source}) has {obj.GetDimension()} dimensions, "
            "but BumpNet scans 1-D mass spectra; project it first, for example "
            "with ProjectionX()"
        )
    axis = obj.GetXaxis()
    labels = axis.GetLabels()
    if labels and labels.GetEntries() > 0:
        raise InvalidHistogramError(
            f"histogram {name!r} ({source}) has {labels.GetEntries()} bin labels on "
            "its x axis, so its bins are categories, not mass intervals; scan a "
            "histogram with a numeric axis"
        )

    if obj.GetBufferLength() > 0:
        # Entries still in the fill buffer (TH1::SetBuffer) are not in the
        # bins yet; GetBinContent would empty the buffer first, so do that.
        # A histogram with automatic binning gets its axis range here.
        obj.BufferEmpty()
    n_bins = int(obj.GetNbinsX())
    bin_edges = axis.GetXbins()
    if bin_edges.GetSize() == n_bins + 1:
        edges = np.frombuffer(
            bin_edges.GetArray(), dtype=np.float64, count=n_bins + 1
        ).copy()
    else:
        edges = np.linspace(axis.GetXmin(), axis.GetXmax(), n_bins + 1)

    sumw2 = None
    if obj.GetSumw2N() > 0:
        sumw2_array = obj.GetSumw2()
        sumw2 = np.frombuffer(
            sumw2_array.GetArray(), dtype=np.float64, count=sumw2_array.GetSize()
        ).copy()

    return TH1Arrays(
        edges=edges,
        contents=_read_contents(root, obj),
        sumw2=sumw2,
        name=name,
        title=str(obj.GetTitle()),
        source=source,
        class_name=class_name,
    )


def _read_contents(root: ModuleType, obj: Any) -> np.ndarray:
    """Return all cells of a 1-D TH1, flow bins included, as float64."""
    n_cells = int(obj.GetNcells())
    buffer = obj.GetArray()
    if hasattr(buffer, "typecode"):
        view = np.frombuffer(buffer, dtype=buffer.typecode, count=n_cells)
        return view.astype(np.float64)

    global _copy_helper_declared
    if not _copy_helper_declared:
        _copy_helper_declared = bool(root.gInterpreter.Declare(_COPY_CONTENTS_CODE))
    contents = np.empty(n_cells, dtype=np.float64)
    if _copy_helper_declared:
        root.bumpnet_root_detail.copy_th1_contents(obj, contents)
    else:
        # NOTE: untested, because Declare succeeds with the ROOT 6.40 wheel.
        logger.warning(
            "ROOT failed to compile the copy helper for %s; reading %d bins of "
            "%r one by one",
            obj.ClassName(),
            n_cells,
            obj.GetName(),
        )
        for cell in range(n_cells):
            contents[cell] = obj.GetBinContent(cell)
    return contents


def _root_name(obj: Any) -> str:
    get_name = getattr(obj, "GetName", None)
    return str(get_name()) if callable(get_name) else "<unnamed>"


def _describe_source(obj: Any, class_name: str) -> str:
    directory = obj.GetDirectory()
    if directory:
        file = directory.GetFile()
        if file:
            return f"ROOT {class_name} in {file.GetName()}"
    return f"ROOT {class_name}"


def write_th1d(
    root: ModuleType,
    edges: np.ndarray,
    uniform: bool,
    contents: np.ndarray,
    sumw2: np.ndarray | None,
    name: str,
    title: str,
) -> Any:
    """Create a TH1D that no ROOT directory owns and fill all its cells.

    ``contents`` and ``sumw2`` include the underflow and overflow cells. Without
    ``sumw2`` the histogram has no Sumw2 array, so ROOT uses Poisson errors.
    """
    n_bins = edges.size - 1
    # Creating the histogram with AddDirectory off keeps ROOT from registering it
    # in gDirectory and from replacing a histogram of the same name there.
    add_directory = root.TH1.AddDirectoryStatus()
    root.TH1.AddDirectory(False)
    try:
        if uniform:
            hist = root.TH1D(name, title, n_bins, float(edges[0]), float(edges[-1]))
        else:
            hist = root.TH1D(name, title, n_bins, np.ascontiguousarray(edges))
    finally:
        root.TH1.AddDirectory(add_directory)
    hist.SetDirectory(root.nullptr)

    n_cells = n_bins + 2
    hist.SetContent(np.ascontiguousarray(contents, dtype=np.float64))
    if sumw2 is None:
        # TH1::SetDefaultSumw2(true) would otherwise leave zero errors behind.
        if hist.GetSumw2N() > 0:
            hist.Sumw2(False)
    else:
        if hist.GetSumw2N() == 0:
            hist.Sumw2(True)
        hist.GetSumw2().Set(n_cells, np.ascontiguousarray(sumw2, dtype=np.float64))
    hist.ResetStats()
    return hist
