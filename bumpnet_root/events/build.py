"""Build invariant-mass histograms from events: the entry points of the subpackage.

A build has two passes over the events. The first counts the events of each
final state, which decides which final states get histograms and so how
large the flat array of bins is. The second fills that array. Dark Machines
CSV files and EventTables go through the numpy engine; ROOT files go through
RDataFrame (or, on request, through uproot and the numpy engine).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from .config import BuildConfig
from .layout import (
    DroppedFinalState,
    DroppedHistogram,
    Layout,
    MassHistogram,
    final_state_events,
    finish,
    plan_layout,
)
from .nanoaod import TreeSource, read_nanoaod
from .objects import final_state_name
from .table import EventTable

logger = logging.getLogger(__name__)

FORMATS = ("darkmachines", "nanoaod")
ENGINES = ("numpy", "rdataframe")


@dataclass
class BuildResult:
    """The kept histograms and everything that was dropped, with the reasons."""

    histograms: list[MassHistogram]
    dropped_histograms: list[DroppedHistogram]
    dropped_final_states: list[DroppedFinalState]
    events_per_final_state: dict[str, int]
    n_events: int
    engine: str
    config: BuildConfig
    seconds: float = 0.0
    inputs: list[str] = field(default_factory=list)

    @property
    def n_filled(self) -> int:
        """Histograms filled before the acceptance."""
        return len(self.histograms) + len(self.dropped_histograms)

    def histogram(self, path: str) -> MassHistogram:
        """Return the kept histogram with this path, such as ``2m/m_m1_m2``."""
        for histogram in self.histograms:
            if histogram.path == path:
                return histogram
        dropped = [d for d in self.dropped_histograms if d.path == path]
        if dropped:
            raise KeyError(f"histogram {path!r} was dropped: {dropped[0].reason}")
        raise KeyError(f"no histogram {path!r}; it was not filled")

    def to_dict(self) -> dict[str, Any]:
        config = self.config
        return {
            "inputs": self.inputs,
            "engine": self.engine,
            "events": self.n_events,
            "seconds": round(self.seconds, 3),
            "config": {
                "pt_min": dict(config.pt_min),
                "eta_max": dict(config.eta_max),
                "fold_charges": config.fold_charges,
                "max_objects": config.max_objects,
                "min_events": config.min_events,
                "min_bins": config.min_bins,
                "smoothing_bins": config.smoothing_bins,
                "mass_min": config.mass_min,
                "mass_max": config.mass_max,
                "width_factor": config.width_factor,
                "weighted": config.weighted,
                "resolutions": {
                    family: {
                        "noise": r.noise,
                        "stochastic": r.stochastic,
                        "constant": r.constant,
                        "sagitta": r.sagitta,
                    }
                    for family, r in config.resolutions.items()
                },
            },
            "events_per_final_state": self.events_per_final_state,
            "histograms": [h.to_dict() for h in self.histograms],
            "dropped_histograms": [h.to_dict() for h in self.dropped_histograms],
            "dropped_final_states": [
                {"final_state": d.final_state, "events": d.events, "reason": d.reason}
                for d in self.dropped_final_states
            ],
        }


def _result(
    layout: Layout,
    events: dict[tuple[int, ...], int],
    dropped_states: list[DroppedFinalState],
    filled: tuple[np.ndarray, np.ndarray | None, np.ndarray | None],
    config: BuildConfig,
    engine: str,
    n_events: int,
    started: float,
    inputs: list[str],
) -> BuildResult:
    kept, dropped = finish(layout, *filled, config)
    per_state = {
        final_state_name(state, config.types): n
        for state, n in sorted(events.items(), key=lambda item: -item[1])
    }
    result = BuildResult(
        histograms=kept,
        dropped_histograms=dropped,
        dropped_final_states=dropped_states,
        events_per_final_state=per_state,
        n_events=n_events,
        engine=engine,
        config=config,
        seconds=time.perf_counter() - started,
        inputs=inputs,
    )
    logger.info(
        "%d events, %d final states: filled %d histograms, kept %d, dropped %d "
        "(%.2f s)",
        n_events,
        len(events),
        result.n_filled,
        len(kept),
        len(dropped),
        result.seconds,
    )
    return result


def build_from_table(
    table: EventTable, config: BuildConfig | None = None, inputs: Sequence[str] = ()
) -> BuildResult:
    """Build the histograms of the events in an EventTable (numpy engine)."""
    from . import numpy_engine

    config = config or BuildConfig()
    started = time.perf_counter()
    selected = numpy_engine.select_objects(table, config)
    by_rank = numpy_engine.count_final_states(selected, config)
    events, over_limit = final_state_events(by_rank, config.types, config.max_objects)
    layout, dropped_states = plan_layout(events, over_limit, config)
    filled = numpy_engine.fill(selected, table.weight, layout, config)
    return _result(
        layout,
        events,
        dropped_states,
        filled,
        config,
        "numpy",
        table.n_events,
        started,
        list(inputs),
    )


def build_from_tree(
    source: TreeSource,
    config: BuildConfig | None = None,
    *,
    engine: str = "rdataframe",
    threads: int | None = None,
    client: Any = None,
    npartitions: int | None = None,
) -> BuildResult:
    """Build the histograms of a ROOT TTree or RNTuple.

    ``engine="rdataframe"`` (default) runs two RDataFrame event loops, on
    ``threads`` threads when given (ROOT implicit multi-threading), or on a
    Dask cluster when ``client`` is a ``distributed.Client`` (split into
    ``npartitions`` tasks). ``engine="numpy"`` reads the branches with uproot
    and needs neither PyROOT nor C++ expressions.
    """
    config = config or BuildConfig()
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "numpy":
        if client is not None or threads is not None:
            raise ValueError(
                "threads and a Dask client apply to the RDataFrame engine only"
            )
        table = read_nanoaod(source, need_charge=not config.fold_charges)
        return build_from_table(table, config, inputs=list(source.files))
    from . import rdf_engine

    started = time.perf_counter()
    run = rdf_engine.RDataFrameRun(source, config, threads, client, npartitions)
    with run:
        by_rank = run.count_final_states()
        events, over_limit = final_state_events(
            by_rank, config.types, config.max_objects
        )
        layout, dropped_states = plan_layout(events, over_limit, config)
        filled = run.fill(layout)
    engine_name = "rdataframe-dask" if client is not None else "rdataframe"
    return _result(
        layout,
        events,
        dropped_states,
        filled,
        config,
        engine_name,
        int(by_rank.sum()),
        started,
        list(source.files),
    )


def detect_format(path: str | PathLike) -> str:
    """Return ``nanoaod`` for ``.root`` files and ``darkmachines`` for CSV files."""
    name = Path(path).name.lower()
    if name.endswith(".root"):
        return "nanoaod"
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz")):
        return "darkmachines"
    raise ValueError(
        f"cannot tell the format of {path} from its name; pass the format "
        f"({' or '.join(FORMATS)})"
    )
