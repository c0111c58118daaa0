"""Writing a build: a ROOT file of TH1D histograms and a JSON report."""

from __future__ import annotations

import json
import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io import atomic_write, atomic_write_text

if TYPE_CHECKING:
    from .build import BuildResult
    from .layout import MassHistogram

logger = logging.getLogger(__name__)


def report_path(root_path: str | PathLike) -> Path:
    """Return the report path of a ROOT output: ``out.root`` -> ``out.json``."""
    return Path(root_path).with_suffix(".json")


def _to_th1d(histogram: MassHistogram):
    """Return the uproot model of a TH1D with variable bins for ``histogram``."""
    import uproot

    edges = histogram.edges
    counts = histogram.counts
    variances = histogram.variances if histogram.variances is not None else counts
    # The first and last entries are the underflow and overflow bins. The part
    # below the maximum was cut off on purpose, so the underflow stays empty.
    data = np.concatenate(([0.0], counts, [histogram.overflow]))
    sumw2 = np.concatenate(([0.0], variances, [histogram.overflow]))
    centers = 0.5 * (edges[1:] + edges[:-1])
    axis = uproot.writing.identify.to_TAxis(
        fName="xaxis",
        fTitle=histogram.combination.title,
        fNbins=counts.size,
        fXmin=float(edges[0]),
        fXmax=float(edges[-1]),
        fXbins=edges.astype(np.float64),
    )
    return uproot.writing.identify.to_TH1x(
        fName=histogram.combination.name,
        fTitle=f"{histogram.final_state}: {histogram.combination.title}",
        data=data,
        fEntries=float(histogram.entries),
        fTsumw=float(counts.sum()),
        fTsumw2=float(variances.sum()),
        fTsumwx=float((counts * centers).sum()),
        fTsumwx2=float((counts * centers**2).sum()),
        fSumw2=sumw2,
        fXaxis=axis,
    )


def write_root(result: BuildResult, path: str | PathLike) -> Path:
    """Write the kept histograms as TH1D to ``path``, one directory per final state.

    The file is written under a temporary name and moved into place, so an
    existing file is replaced only by a complete one.
    """
    import uproot

    def write(temporary: Path) -> None:
        with uproot.recreate(temporary) as root_file:
            for histogram in result.histograms:
                root_file[histogram.path] = _to_th1d(histogram)

    return atomic_write(path, write)


def write_report(result: BuildResult, path: str | PathLike) -> Path:
    """Write the build report (inputs, kept and dropped histograms) as JSON."""
    return atomic_write_text(path, json.dumps(result.to_dict(), indent=2) + "\n")
