"""The RDataFrame engine: object selection and combination masses in C++.

The C++ code in :data:`COMMON_CODE` is declared once per process. Per event
it selects the objects of each collection, merges them in final-state order
and computes the final-state rank. The first event loop fills a Histo1D of
the ranks, from which the Python side lays out the histograms. Generated C++
tables, in a namespace named by a hash of the layout, then let ``slots()``
turn every combination mass into a position in one flat histogram. The
second event loop fills that one TH1D. So the number of RDataFrame nodes
does not grow with the number of combinations, and one JIT compilation
serves every histogram.

On a Dask cluster the same graph runs through distributed RDataFrame
(``ROOT.RDataFrame(..., executor=client)``, ROOT 6.36 and later). The C++
code reaches the workers through ``ROOT.RDF.Distributed.DistributeCppCode``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from .._root import import_root
from ..errors import MissingDependencyError
from .config import BuildConfig
from .layout import Layout
from .nanoaod import Collection, TreeSource, find_tree_name, present_collections
from .objects import INPUT_TYPES, number_of_final_states
from .table import unit_scale

logger = logging.getLogger(__name__)

COMMON_CODE = r"""
#include <ROOT/RVec.hxx>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

// The sums below must round exactly as the numpy engine does, so no fused
// multiply-add.
#pragma STDC FP_CONTRACT OFF

namespace bumpnet_events {

// Selected objects of one event: pT and mass in GeV, type = index into the
// final-state types of the build.
struct Objects {
   ROOT::RVecD pt, eta, phi, mass;
   ROOT::RVecI type;
};

template <typename Pt, typename Eta, typename Phi, typename Mass, typename Type>
Objects collect(const ROOT::RVec<Pt> &pt, const ROOT::RVec<Eta> &eta,
                const ROOT::RVec<Phi> &phi, const ROOT::RVec<Mass> &mass,
                const ROOT::RVec<Type> &type, double scale, const double *ptMin,
                const double *etaMax)
{
   Objects out;
   for (std::size_t i = 0; i < pt.size(); ++i) {
      const int t = int(type[i]);
      const double p = scale * double(pt[i]);
      if (p < ptMin[t] || std::abs(double(eta[i])) > etaMax[t])
         continue;
      out.pt.push_back(p);
      out.eta.push_back(double(eta[i]));
      out.phi.push_back(double(phi[i]));
      out.mass.push_back(scale * double(mass[i]));
      out.type.push_back(t);
   }
   return out;
}

inline void append(Objects &all, const Objects &part)
{
   for (std::size_t i = 0; i < part.pt.size(); ++i) {
      all.pt.push_back(part.pt[i]);
      all.eta.push_back(part.eta[i]);
      all.phi.push_back(part.phi[i]);
      all.mass.push_back(part.mass[i]);
      all.type.push_back(part.type[i]);
   }
}

// Concatenate the collections and sort by type, then by decreasing pT. The
// sort is stable, so objects of equal pT keep their input order.
template <typename... Parts>
Objects merge(const Parts &...parts)
{
   Objects all;
   (append(all, parts), ...);
   std::vector<std::size_t> order(all.pt.size());
   std::iota(order.begin(), order.end(), std::size_t(0));
   std::stable_sort(order.begin(), order.end(), [&all](std::size_t a, std::size_t b) {
      if (all.type[a] != all.type[b])
         return all.type[a] < all.type[b];
      return all.pt[a] > all.pt[b];
   });
   Objects out;
   for (std::size_t i : order) {
      out.pt.push_back(all.pt[i]);
      out.eta.push_back(all.eta[i]);
      out.phi.push_back(all.phi[i]);
      out.mass.push_back(all.mass[i]);
      out.type.push_back(all.type[i]);
   }
   return out;
}

inline long long choose(int n, int k)
{
   if (k < 0 || k > n)
      return 0;
   long long result = 1;
   for (int i = 1; i <= k; ++i)
      result = result * (n - k + i) / i;
   return result;
}

// Same formula as bumpnet_root.events.objects.final_state_rank.
inline int final_state_rank(const Objects &objects, int nTypes, int maxObjects)
{
   const int total = int(objects.type.size());
   if (total > maxObjects)
      return int(choose(maxObjects + nTypes, nTypes));
   std::array<int, 16> counts{};
   for (int t : objects.type)
      ++counts[t];
   long long rank = 0;
   int used = 0;
   for (int position = 0; position < nTypes; ++position) {
      const int rest = nTypes - position - 1;
      for (int value = 0; value < counts[position]; ++value)
         rank += choose(maxObjects - used - value + rest, rest);
      used += counts[position];
   }
   return int(rank);
}

// Flat slot + 0.5 of every combination mass of the event, or nothing when
// its final state is not filled. Combinations are enumerated by bit mask as
// in bumpnet_root.events.objects.combinations.
inline ROOT::RVecD slots(int rank, const Objects &objects,
                         const std::vector<long long> &firstHistogram,
                         const std::vector<long long> &firstSlot,
                         const std::vector<int> &edgeSet,
                         const std::vector<std::vector<double>> &edges)
{
   ROOT::RVecD out;
   if (rank < 0 || rank >= int(firstHistogram.size()))
      return out;
   long long histogram = firstHistogram[rank];
   if (histogram < 0)
      return out;
   const std::size_t n = objects.pt.size();
   std::vector<double> px(n), py(n), pz(n), e(n);
   for (std::size_t i = 0; i < n; ++i) {
      const double pt = objects.pt[i];
      const double m = objects.mass[i];
      px[i] = pt * std::cos(objects.phi[i]);
      py[i] = pt * std::sin(objects.phi[i]);
      pz[i] = pt * std::sinh(objects.eta[i]);
      e[i] = std::sqrt(px[i] * px[i] + py[i] * py[i] + pz[i] * pz[i] + m * m);
   }
   out.reserve((std::size_t(1) << n) - n - 1);
   for (unsigned mask = 1; mask < (1u << n); ++mask) {
      if (__builtin_popcount(mask) < 2)
         continue;
      double sx = 0, sy = 0, sz = 0, se = 0;
      for (std::size_t i = 0; i < n; ++i) {
         if (mask >> i & 1u) {
            sx += px[i];
            sy += py[i];
            sz += pz[i];
            se += e[i];
         }
      }
      const double m2 = se * se - sx * sx - sy * sy - sz * sz;
      const double mass = m2 > 0 ? std::sqrt(m2) : 0.0;
      const std::vector<double> &edge = edges[edgeSet[histogram]];
      const long long slot =
         std::upper_bound(edge.begin(), edge.end(), mass) - edge.begin();
      out.push_back(double(firstSlot[histogram] + slot) + 0.5);
      ++histogram;
   }
   return out;
}

} // namespace bumpnet_events
"""


def _cpp_list(values, kind: str) -> str:
    return f"std::vector<{kind}>{{{', '.join(values)}}}"


def guarded(code: str) -> str:
    """Wrap C++ code in an include guard named by its hash.

    Declaring the result twice in one process is harmless, whichever path
    declares it (gInterpreter.Declare here, DistributeCppCode, or a Dask
    worker thread in this process).
    """
    guard = f"BUMPNET_CODE_{hashlib.sha256(code.encode()).hexdigest()[:32]}"
    return f"#ifndef {guard}\n#define {guard}\n{code}\n#endif\n"


def _namespace(prefix: str, body: str) -> tuple[str, str]:
    """Return (name, guarded code) of a C++ namespace named by a hash of ``body``."""
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    name = f"{prefix}_{digest}"
    return name, guarded(f"namespace {name} {{\n{body}\n}}\n")


def config_code(config: BuildConfig) -> tuple[str, str]:
    """Return (namespace, code) with the pT and |eta| thresholds per type."""
    pt_min, eta_max = config.type_thresholds()
    body = (
        f"const double ptMin[] = {{{', '.join(map(repr, pt_min))}}};\n"
        f"const double etaMax[] = {{{', '.join(map(repr, eta_max))}}};"
    )
    return _namespace("bumpnet_selection", body)


def layout_code(layout: Layout) -> tuple[str, str]:
    """Return (namespace, code) with the layout tables and its ``slots`` function."""
    first_slot = [str(spec.offset) for spec in layout.histograms]
    edge_set = [str(spec.edge_set) for spec in layout.histograms]
    edges = ",\n".join(
        "{" + ", ".join(repr(float(x)) for x in edge_array) + "}"
        for edge_array in layout.edge_sets
    )
    body = (
        "const std::vector<long long> firstHistogram = "
        f"{_cpp_list(map(str, layout.first_histogram.tolist()), 'long long')};\n"
        "const std::vector<long long> firstSlot = "
        f"{_cpp_list(first_slot, 'long long')};\n"
        f"const std::vector<int> edgeSet = {_cpp_list(edge_set, 'int')};\n"
        f"const std::vector<std::vector<double>> edges = {{\n{edges}\n}};\n"
        "inline ROOT::RVecD slots(int rank, const bumpnet_events::Objects &objects)\n"
        "{\n"
        "   return bumpnet_events::slots(rank, objects, firstHistogram, firstSlot, "
        "edgeSet, edges);\n"
        "}"
    )
    return _namespace("bumpnet_layout", body)


def collection_expressions(
    collection: Collection, columns: set[str], config: BuildConfig
) -> dict[str, str]:
    """Return the C++ expressions of one collection's pt, eta, phi, mass and type."""
    codes = config.input_codes()
    pt = collection.branch("pt")

    def code_of(symbol: str) -> int:
        return codes[INPUT_TYPES.index(symbol)]

    mass_branch = collection.branch("mass")
    if mass_branch in columns:
        mass = mass_branch
    else:
        mass = f"ROOT::RVecD({pt}.size(), {float(collection.mass)!r})"
    if collection.charged:
        negative = code_of(f"{collection.family}-")
        positive = code_of(f"{collection.family}+")
        charge = collection.branch("charge")
        if negative == positive:
            kind = f"ROOT::RVecI({pt}.size(), {negative})"
        elif charge in columns:
            kind = f"ROOT::VecOps::Where({charge} < 0, {negative}, {positive})"
        else:
            raise ValueError(
                f"branch {charge} not found; it is needed to tell positive from "
                "negative charges (or fold the charges)"
            )
    elif collection.btag is not None:
        tag = collection.branch(collection.btag)
        if tag not in columns:
            raise ValueError(f"b-tag branch {tag} not found")
        kind = (
            f"ROOT::VecOps::Where({tag} >= {float(collection.btag_min)!r}, "
            f"{code_of('b')}, {code_of(collection.family)})"
        )
    else:
        kind = f"ROOT::RVecI({pt}.size(), {code_of(collection.family)})"
    return {
        "pt": pt,
        "eta": collection.branch("eta"),
        "phi": collection.branch("phi"),
        "mass": mass,
        "type": kind,
    }


def distributed_module(client: Any):
    """Return ROOT.RDF.Distributed, or raise why it cannot run on ``client``."""
    ROOT = import_root("the RDataFrame engine")
    try:
        module = ROOT.RDF.Distributed
    except AttributeError as error:
        raise MissingDependencyError(
            f"this ROOT ({ROOT.gROOT.GetVersion()}) has no distributed RDataFrame "
            "(ROOT.RDF.Distributed, added in ROOT 6.36 and needing ROOT's Python "
            "support); use a newer ROOT, or build without a Dask client"
        ) from error
    try:
        from distributed import Client
    except ImportError as error:
        raise MissingDependencyError(
            "the Dask backend of distributed RDataFrame needs the 'distributed' "
            "package; install it with pip install 'bumpnet-root[events]'"
        ) from error
    if not isinstance(client, Client):
        raise TypeError(
            f"client must be a distributed.Client, got {type(client).__name__}"
        )
    return module


class RDataFrameRun:
    """The RDataFrame graph of one build; use as a context manager.

    Entering enables ROOT's implicit multi-threading with ``threads`` threads
    when ``threads`` is more than 1 and restores the previous setting on exit.
    """

    def __init__(
        self,
        source: TreeSource,
        config: BuildConfig,
        threads: int | None = None,
        client: Any = None,
        npartitions: int | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if client is not None and threads is not None:
            raise ValueError(
                "threads applies to a local run; set the threads of a Dask cluster "
                "on its workers"
            )
        self.source = source
        self.config = config
        self.threads = threads
        self.client = client
        self.npartitions = npartitions
        self.ROOT = import_root("the RDataFrame engine")
        self._distributed = distributed_module(client) if client is not None else None
        self._imt_was_enabled = False
        self._frame = None

    def __enter__(self) -> RDataFrameRun:
        ROOT = self.ROOT
        self._imt_was_enabled = bool(ROOT.IsImplicitMTEnabled())
        if self.threads is not None and self.threads > 1:
            if self._imt_was_enabled and ROOT.GetThreadPoolSize() != self.threads:
                logger.warning(
                    "implicit multi-threading is already on with %d threads; ROOT "
                    "keeps that pool, so %d threads were not applied",
                    ROOT.GetThreadPoolSize(),
                    self.threads,
                )
            ROOT.EnableImplicitMT(self.threads)
        self._declare(guarded(COMMON_CODE))
        return self

    def __exit__(self, *exc_info) -> None:
        if self.threads is not None and self.threads > 1 and not self._imt_was_enabled:
            self.ROOT.DisableImplicitMT()

    def _declare(self, code: str) -> None:
        """Declare guarded C++ code here and, in a distributed run, on the workers."""
        if self._distributed is not None:
            self._distributed.DistributeCppCode(code)
            return
        if not self.ROOT.gInterpreter.Declare(code):
            raise RuntimeError(
                "the C++ code of the RDataFrame engine did not compile; the "
                "interpreter output above names the error"
            )

    def _columns(self, tree: str) -> set[str]:
        """Column names of the input (read locally) plus the defined ones."""
        frame = self.ROOT.RDataFrame(tree, self.source.files[0])
        return {str(name) for name in frame.GetColumnNames()} | set(self.source.defines)

    def _base_frame(self):
        ROOT = self.ROOT
        source = self.source
        tree = source.tree or find_tree_name(source.files[0])
        files = ROOT.std.vector["std::string"](source.files)
        columns = self._columns(tree)
        if self._distributed is not None:
            kwargs = {"executor": self.client}
            if self.npartitions is not None:
                kwargs["npartitions"] = self.npartitions
            frame = ROOT.RDataFrame(tree, list(source.files), **kwargs)
        else:
            frame = ROOT.RDataFrame(tree, files)
        for name, expression in source.defines.items():
            frame = frame.Define(name, expression)
        if source.filter:
            frame = frame.Filter(source.filter, "bumpnet_root input filter")
        return frame, columns

    def _objects_frame(self):
        frame, columns = self._base_frame()
        collections = present_collections(self.source.collections, columns)
        selection, code = config_code(self.config)
        self._declare(code)
        scale = unit_scale(self.source.energy_unit)
        names = []
        for index, collection in enumerate(collections):
            parts = collection_expressions(collection, columns, self.config)
            name = f"_bumpnet_objects_{index}"
            frame = frame.Define(
                name,
                "bumpnet_events::collect("
                f"{parts['pt']}, {parts['eta']}, {parts['phi']}, {parts['mass']}, "
                f"{parts['type']}, {scale!r}, {selection}::ptMin, {selection}::etaMax)",
            )
            names.append(name)
        frame = frame.Define(
            "_bumpnet_objects", f"bumpnet_events::merge({', '.join(names)})"
        )
        frame = frame.Define(
            "_bumpnet_rank",
            "bumpnet_events::final_state_rank(_bumpnet_objects, "
            f"{len(self.config.types)}, {self.config.max_objects})",
        )
        if self.config.weighted:
            weight = self.source.weight or "1.0"
            frame = frame.Define("_bumpnet_weight", f"double({weight})")
        return frame

    def count_final_states(self) -> np.ndarray:
        """Run the first event loop: events per final-state rank, plus over-limit."""
        self._frame = self._objects_frame()
        n_bins = (
            number_of_final_states(len(self.config.types), self.config.max_objects) + 1
        )
        histogram = self._frame.Histo1D(
            ("_bumpnet_ranks", "", n_bins, 0.0, float(n_bins)), "_bumpnet_rank"
        ).GetValue()
        return np.rint(_contents(histogram, n_bins)).astype(np.int64)

    def fill(
        self, layout: Layout
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Run the second event loop; return the slots as numpy_engine.fill does."""
        n_slots = layout.n_slots
        if n_slots == 0:
            return np.zeros(0), None, None
        namespace, code = layout_code(layout)
        self._declare(code)
        frame = self._frame.Define(
            "_bumpnet_slots", f"{namespace}::slots(_bumpnet_rank, _bumpnet_objects)"
        )
        model = ("_bumpnet_entries", "", n_slots, 0.0, float(n_slots))
        entries = frame.Histo1D(model, "_bumpnet_slots")
        weighted = None
        if self.config.weighted:
            frame = frame.Define(
                "_bumpnet_slot_weights",
                "ROOT::RVecD(_bumpnet_slots.size(), _bumpnet_weight)",
            )
            weighted_model = ("_bumpnet_weighted", "", n_slots, 0.0, float(n_slots))
            weighted = frame.Histo1D(
                weighted_model, "_bumpnet_slots", "_bumpnet_slot_weights"
            )
        entries_histogram = entries.GetValue()
        result_entries = _contents(entries_histogram, n_slots)
        if weighted is None:
            return result_entries, None, None
        weighted_histogram = weighted.GetValue()
        sum_weights = _contents(weighted_histogram, n_slots)
        sum_weights2 = _in_range(weighted_histogram.GetSumw2().GetArray(), n_slots)
        return result_entries, sum_weights, sum_weights2


def _in_range(buffer, n_bins: int) -> np.ndarray:
    """Return the in-range part of a TH1 buffer of n_bins + 2 doubles."""
    values = np.frombuffer(buffer, dtype=np.float64, count=n_bins + 2)
    return values[1:-1].copy()


def _contents(histogram, n_bins: int) -> np.ndarray:
    """Return the in-range bin contents of a TH1D as a numpy array."""
    return _in_range(histogram.GetArray(), n_bins)
