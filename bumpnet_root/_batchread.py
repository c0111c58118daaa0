"""Read many TH1D and TH1F objects of one ROOT file in one compiled call.

:func:`read_clean_histograms` reads the objects of a list in C++, declared
once with ``gInterpreter.Declare``. It returns a :class:`Hist1D` for each
"clean" object:

* a TH1D or TH1F without bin labels,
* with finite, increasing edges,
* with finite, non-negative cells (flow bins included) and Sumw2,
* whose Sumw2, if any, equals its contents (unweighted),
* whose flow bins hold at most 4.9 % of the entries.

Such a histogram converts without an error or a warning, so the compiled
call can skip the per-object checks of
:func:`bumpnet_root.adapters.to_hist1d`. Every other object gets None, and
the caller reads it the usual way, which reports it with the usual
messages. The limits sit a little inside those of the warnings (5 % of the
entries in the flow bins; variances within 1e-9 + 1e-6 |count| of the
counts), so an object near a limit takes the usual way and gets the same
decision.

The Hist1D of a clean object equals the one of ``to_hist1d`` bit for bit:
equal-width edges come from the same ``numpy.linspace`` call, and TH1F
contents are converted from float to double as numpy converts them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .histogram import Hist1D

logger = logging.getLogger(__name__)

# Fraction of the entries in the flow bins up to which an object is read here;
# adapters.FLOW_WARNING_FRACTION (0.05) is the warning's limit.
CLEAN_FLOW_FRACTION = 0.049
# Variances within this fraction of is_weighted's tolerance count as equal.
CLEAN_VARIANCE_TOLERANCE = 0.5

_SOURCE = r"""
#include "TAxis.h"
#include "TDirectory.h"
#include "TH1.h"
#include "TH1D.h"
#include "TH1F.h"
#include "TKey.h"
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace bumpnet_root_batchread {

struct Batch {
  std::vector<int> clean;       // 1: read here; 0: read it the usual way
  std::vector<int> n_bins;
  std::vector<int> equal_width; // 1: edges from x_min to x_max
  std::vector<double> x_min, x_max;
  std::vector<long> edge_start; // into edges, variable bins only
  std::vector<double> edges;
  std::vector<long> cell_start; // into cells and sumw2: n_bins + 2 cells each
  std::vector<double> cells;
  std::vector<int> has_sumw2;
  std::vector<double> sumw2;
  std::vector<int> single_precision; // 1: a TH1F
  std::vector<std::string> title, x_title;
};

namespace {

bool cells_clean(const double *cells, int n_cells) {
  for (int i = 0; i < n_cells; ++i) {
    if (!std::isfinite(cells[i]) || cells[i] < 0.0) return false;
  }
  return true;
}

bool read_one(TH1 *hist, Batch &out, double flow_fraction,
              double variance_tolerance) {
  const bool is_double = hist->IsA() == TH1D::Class();
  if (!is_double && hist->IsA() != TH1F::Class()) return false;
  // A histogram with unsorted entries in its buffer fills its bins on first use.
  if (hist->GetBuffer() != nullptr) return false;
  TAxis *axis = hist->GetXaxis();
  THashList *labels = axis->GetLabels();
  if (labels && labels->GetEntries() > 0) return false;
  const int n_bins = hist->GetNbinsX();
  const int n_cells = n_bins + 2;
  if (n_bins < 1 || hist->GetNcells() != n_cells) return false;
  const TArrayD *bins = axis->GetXbins();
  const bool equal_width = bins->GetSize() != n_bins + 1;
  if (!equal_width) {
    const double *x = bins->GetArray();
    for (int i = 0; i <= n_bins; ++i) {
      if (!std::isfinite(x[i]) || (i > 0 && !(x[i] > x[i - 1]))) return false;
    }
  }
  const long start = static_cast<long>(out.cells.size());
  out.cells.resize(start + n_cells);
  double *cells = out.cells.data() + start;
  if (is_double) {
    const double *array = static_cast<TH1D *>(hist)->GetArray();
    std::copy(array, array + n_cells, cells);
  } else {
    const float *array = static_cast<TH1F *>(hist)->GetArray();
    std::copy(array, array + n_cells, cells);
  }
  const int n_sumw2 = hist->GetSumw2N();
  bool clean = cells_clean(cells, n_cells) && (n_sumw2 == 0 || n_sumw2 == n_cells);
  if (clean && n_sumw2 > 0) {
    const double *sumw2 = hist->GetSumw2()->GetArray();
    clean = cells_clean(sumw2, n_cells);
    for (int i = 1; clean && i <= n_bins; ++i) {
      const double limit = 1e-9 + 1e-6 * std::fabs(cells[i]);
      clean = std::fabs(sumw2[i] - cells[i]) <= variance_tolerance * limit;
    }
  }
  if (clean) {
    double total = 0.0;
    for (int i = 1; i <= n_bins; ++i) total += cells[i];
    const double flow = cells[0] + cells[n_cells - 1];
    total += flow;
    clean = !(total > 0.0 && flow > flow_fraction * total);
  }
  if (!clean) {
    out.cells.resize(start);
    return false;
  }
  out.cell_start.push_back(start);
  out.n_bins.push_back(n_bins);
  out.equal_width.push_back(equal_width ? 1 : 0);
  out.x_min.push_back(axis->GetXmin());
  out.x_max.push_back(axis->GetXmax());
  out.edge_start.push_back(static_cast<long>(out.edges.size()));
  if (!equal_width) {
    const double *x = bins->GetArray();
    out.edges.insert(out.edges.end(), x, x + n_bins + 1);
  }
  out.has_sumw2.push_back(n_sumw2 > 0 ? 1 : 0);
  out.sumw2.resize(start + n_cells, 0.0);
  if (n_sumw2 > 0) {
    const double *sumw2 = hist->GetSumw2()->GetArray();
    std::copy(sumw2, sumw2 + n_cells, out.sumw2.begin() + start);
  }
  out.single_precision.push_back(is_double ? 0 : 1);
  out.title.push_back(hist->GetTitle());
  out.x_title.push_back(axis->GetTitle());
  return true;
}

}  // namespace

void read(TDirectory *file, const std::vector<std::string> &directories,
          const std::vector<std::string> &names, const std::vector<int> &cycles,
          double flow_fraction, double variance_tolerance, Batch &out) {
  std::map<std::string, TDirectory *> opened;
  const bool add_directory = TH1::AddDirectoryStatus();
  TH1::AddDirectory(false);
  for (size_t i = 0; i < names.size(); ++i) {
    auto found = opened.find(directories[i]);
    TDirectory *directory = nullptr;
    if (found != opened.end()) {
      directory = found->second;
    } else {
      directory = directories[i].empty() ? file : file->GetDirectory(
          directories[i].c_str());
      opened[directories[i]] = directory;
    }
    TKey *key = directory ? directory->GetKey(names[i].c_str(), cycles[i]) : nullptr;
    TObject *object = key ? key->ReadObj() : nullptr;
    TH1 *hist = object ? dynamic_cast<TH1 *>(object) : nullptr;
    const bool clean = hist && read_one(hist, out, flow_fraction,
                                        variance_tolerance);
    out.clean.push_back(clean ? 1 : 0);
    delete object;
  }
  TH1::AddDirectory(add_directory);
}

}  // namespace bumpnet_root_batchread
"""

_declared: bool | None = None


def _namespace(root: Any) -> Any | None:
    """Return the compiled helpers, declaring them once; None if that fails."""
    global _declared
    if _declared is None:
        _declared = bool(root.gInterpreter.Declare(_SOURCE))
        if not _declared:
            logger.warning(
                "ROOT failed to compile the batch reader; reading histograms "
                "one at a time"
            )
    return root.bumpnet_root_batchread if _declared else None


def _view(vector: Any, dtype: type) -> np.ndarray:
    """Return a numpy view of a std::vector (valid while the vector lives)."""
    size = int(vector.size())
    if size == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(vector.data(), dtype=dtype, count=size)


def read_clean_histograms(
    root: Any, root_file: Any, names: Sequence[str], cycles: Sequence[int]
) -> list[tuple[Hist1D, str] | None] | None:
    """Return (histogram, x-axis title) or None for each object; see the module.

    ``names`` are paths inside ``root_file`` ("dir/name"). Returns None when the
    helpers cannot be compiled.
    """
    helpers = _namespace(root)
    if helpers is None:
        return None
    directories, base_names = [], []
    for name in names:
        directory, _, base = name.rpartition("/")
        directories.append(directory)
        base_names.append(base)
    batch = helpers.Batch()
    helpers.read(
        root_file,
        directories,
        base_names,
        [int(cycle) for cycle in cycles],
        CLEAN_FLOW_FRACTION,
        CLEAN_VARIANCE_TOLERANCE,
        batch,
    )
    clean = _view(batch.clean, np.int32)
    n_bins = _view(batch.n_bins, np.int32).tolist()
    equal_width = _view(batch.equal_width, np.int32).tolist()
    x_min = _view(batch.x_min, np.float64).tolist()
    x_max = _view(batch.x_max, np.float64).tolist()
    edge_start = _view(batch.edge_start, np.int64).tolist()
    cell_start = _view(batch.cell_start, np.int64).tolist()
    has_sumw2 = _view(batch.has_sumw2, np.int32).tolist()
    single_precision = _view(batch.single_precision, np.int32).tolist()
    all_edges = _view(batch.edges, np.float64)
    cells = _view(batch.cells, np.float64)
    sumw2 = _view(batch.sumw2, np.float64)
    titles = [_text(title) for title in batch.title]
    x_titles = [_text(title) for title in batch.x_title]

    equal_edges: dict[tuple[int, float, float], np.ndarray | None] = {}

    def build(row: int, name: str) -> tuple[Hist1D, str] | None:
        """Return the histogram of a clean object's row, or None to read it again."""
        if titles[row] is None or x_titles[row] is None:
            # Not UTF-8: the usual way reports the object.
            return None
        n = n_bins[row]
        if equal_width[row]:
            binning = (n, x_min[row], x_max[row])
            if binning not in equal_edges:
                equal_edges[binning] = _checked_linspace(*binning)
            shared = equal_edges[binning]
            if shared is None:
                return None
            edges = shared.copy()
        else:
            first = edge_start[row]
            edges = all_edges[first : first + n + 1].copy()
        first = cell_start[row]
        stop = first + n + 2
        histogram = Hist1D.trusted(
            edges=edges,
            counts=cells[first + 1 : stop - 1].copy(),
            variances=sumw2[first + 1 : stop - 1].copy() if has_sumw2[row] else None,
            name=name,
            title=titles[row],
            underflow=float(cells[first]),
            overflow=float(cells[stop - 1]),
            source="ROOT TH1F" if single_precision[row] else "ROOT TH1D",
        )
        return histogram, x_titles[row]

    # The arrays have one row per clean object, in the order of ``names``.
    results: list[tuple[Hist1D, str] | None] = []
    row = 0
    for name, is_clean in zip(names, clean.tolist()):
        if not is_clean:
            results.append(None)
            continue
        results.append(build(row, name))
        row += 1
    return results


def _text(value: Any) -> str | None:
    """Return a std::string as str, or None when it is not UTF-8."""
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _checked_linspace(n_bins: int, low: float, high: float) -> np.ndarray | None:
    """Return the edges of ``n_bins`` equal bins, or None if they do not increase."""
    edges = np.linspace(low, high, n_bins + 1)
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        return None
    return edges
