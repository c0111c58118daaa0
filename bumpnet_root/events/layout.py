"""Layout of the histograms in one flat array of bins, and their acceptance.

Both engines fill one flat array of bins. :func:`plan_layout` gives every
combination of every final state with enough events a run of ``n_bins + 2``
slots in it (underflow, the bins, overflow). :func:`finish` cuts each
histogram at its maximum and applies the acceptance of the BuildConfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import median_filter

from .config import BuildConfig
from .objects import (
    Combination,
    combinations,
    final_state_name,
    final_state_rank,
    number_of_final_states,
)
from .resolution import bin_edges


@dataclass(frozen=True)
class HistogramSpec:
    """One histogram of the flat array: its final state, combination and bins."""

    final_state: str
    combination: Combination
    edge_set: int
    edges: np.ndarray = field(repr=False)
    offset: int

    @property
    def path(self) -> str:
        return f"{self.final_state}/{self.combination.name}"

    @property
    def n_bins(self) -> int:
        return int(self.edges.size - 1)

    @property
    def n_slots(self) -> int:
        """Bins plus underflow and overflow."""
        return self.n_bins + 2


@dataclass(frozen=True)
class DroppedFinalState:
    """A final state that got no histograms, with its number of events."""

    final_state: str
    events: int
    reason: str


@dataclass(frozen=True)
class Layout:
    """The histograms to fill and the tables the C++ code needs to fill them.

    ``first_histogram[rank]`` is the index in ``histograms`` of the first
    combination of the final state with this rank (see
    :func:`~bumpnet_root.events.objects.final_state_rank`), or -1 when the
    final state is not filled. ``edge_sets`` contains each distinct edge
    array once.
    """

    histograms: tuple[HistogramSpec, ...]
    first_histogram: np.ndarray
    edge_sets: tuple[np.ndarray, ...]
    n_slots: int
    filled_final_states: tuple[tuple[int, ...], ...]


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _bins(n: int) -> str:
    return f"{n} bin" if n == 1 else f"{n} bins"


def final_state_events(
    counts_by_rank: np.ndarray, types: tuple[str, ...], max_objects: int
) -> tuple[dict[tuple[int, ...], int], int]:
    """Split events per final-state rank into a dict and the over-limit count.

    ``counts_by_rank`` has one entry per rank plus one for events with more
    than ``max_objects`` objects.
    """
    from .objects import enumerate_final_states

    states = enumerate_final_states(len(types), max_objects)
    if counts_by_rank.size != len(states) + 1:
        raise ValueError(
            f"expected {len(states) + 1} final-state counts, got {counts_by_rank.size}"
        )
    events = {
        state: int(n) for state, n in zip(states, counts_by_rank[:-1].tolist()) if n
    }
    return events, int(counts_by_rank[-1])


def plan_layout(
    events: Mapping[tuple[int, ...], int], over_limit: int, config: BuildConfig
) -> tuple[Layout, list[DroppedFinalState]]:
    """Lay out the histograms of every final state that can pass the acceptance.

    A final state is filled when it has at least two objects and at least
    ``min_events`` events, since each of its histograms gets one entry per
    event. The others are returned as dropped, with the reason.
    """
    types = config.types
    dropped: list[DroppedFinalState] = []
    if over_limit:
        dropped.append(
            DroppedFinalState(
                f"more than {config.max_objects} objects",
                over_limit,
                f"events with more than max_objects = {config.max_objects} selected "
                "objects are not histogrammed",
            )
        )
    edge_sets: list[np.ndarray] = []
    edge_set_of: dict[tuple[str, ...], int] = {}
    histograms: list[HistogramSpec] = []
    n_ranks = number_of_final_states(len(types), config.max_objects)
    first_histogram = np.full(n_ranks + 1, -1, dtype=np.int64)
    filled: list[tuple[int, ...]] = []
    offset = 0
    for state in sorted(events, key=lambda s: final_state_rank(s, config.max_objects)):
        n_events = events[state]
        name = final_state_name(state, types)
        if sum(state) < 2:
            dropped.append(
                DroppedFinalState(name, n_events, "fewer than 2 objects to combine")
            )
            continue
        if n_events < config.min_events:
            dropped.append(
                DroppedFinalState(
                    name,
                    n_events,
                    f"only {_events(n_events)}, fewer than min_events = "
                    f"{config.min_events}",
                )
            )
            continue
        first_histogram[final_state_rank(state, config.max_objects)] = len(histograms)
        filled.append(state)
        for combination in combinations(tuple(state), types):
            signature = combination.signature
            if signature not in edge_set_of:
                edge_set_of[signature] = len(edge_sets)
                edge_sets.append(
                    bin_edges(
                        signature,
                        config.resolutions,
                        config.mass_min,
                        config.mass_max,
                        config.width_factor,
                    )
                )
            edges = edge_sets[edge_set_of[signature]]
            spec = HistogramSpec(
                final_state=name,
                combination=combination,
                edge_set=edge_set_of[signature],
                edges=edges,
                offset=offset,
            )
            histograms.append(spec)
            offset += spec.n_slots
    layout = Layout(
        histograms=tuple(histograms),
        first_histogram=first_histogram,
        edge_sets=tuple(edge_sets),
        n_slots=offset,
        filled_final_states=tuple(filled),
    )
    return layout, dropped


@dataclass(frozen=True)
class MassHistogram:
    """A kept histogram, cut at its maximum: bins ``edges``, ``counts`` per bin.

    ``variances`` is None for unweighted builds. ``entries`` counts the
    events in the bins, ``overflow`` the events above the last edge and
    ``entries_below`` those below the first edge (before the maximum).
    """

    final_state: str
    combination: Combination
    edges: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    variances: np.ndarray | None = field(repr=False)
    entries: int
    entries_below: int
    overflow: float

    @property
    def path(self) -> str:
        return f"{self.final_state}/{self.combination.name}"

    @property
    def n_bins(self) -> int:
        return int(self.counts.size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "entries": self.entries,
            "bins": self.n_bins,
            "low": float(self.edges[0]),
            "high": float(self.edges[-1]),
            "entries_below_maximum": self.entries_below,
            "overflow": self.overflow,
        }


@dataclass(frozen=True)
class DroppedHistogram:
    """A filled histogram that failed the acceptance."""

    path: str
    entries: int
    bins: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "entries": self.entries,
            "bins": self.bins,
            "reason": self.reason,
        }


def find_maximum(entries: np.ndarray, smoothing_bins: int) -> tuple[int, int] | None:
    """Return (start, stop): the maximum bin and one past the last non-empty bin.

    The maximum is that of the running median over ``smoothing_bins`` bins
    (rounded up to an odd number), with empty bins assumed beyond both ends,
    and the first one where several bins tie. Where the median is zero
    everywhere, as in a histogram whose non-empty bins are isolated, the
    highest bin is used. Returns None for an empty histogram.
    """
    filled = np.nonzero(entries > 0)[0]
    if filled.size == 0:
        return None
    stop = int(filled[-1]) + 1
    part = np.asarray(entries[:stop], dtype=np.float64)
    window = min(smoothing_bins, part.size) | 1
    smooth = median_filter(part, size=window, mode="constant", cval=0.0)
    start = int(np.argmax(smooth)) if smooth.max() > 0 else int(np.argmax(part))
    return start, stop


def finish(
    layout: Layout,
    entries: np.ndarray,
    sum_weights: np.ndarray | None,
    sum_weights2: np.ndarray | None,
    config: BuildConfig,
) -> tuple[list[MassHistogram], list[DroppedHistogram]]:
    """Cut the filled histograms at their maximum and apply the acceptance.

    ``entries`` has one count per slot of the layout. For weighted builds
    ``sum_weights`` and ``sum_weights2`` hold the sums of weights and squared
    weights per slot; the acceptance always counts entries.
    """
    kept: list[MassHistogram] = []
    dropped: list[DroppedHistogram] = []
    for spec in layout.histograms:
        window = slice(spec.offset, spec.offset + spec.n_slots)
        slots = entries[window]
        in_range = slots[1:-1]
        bounds = find_maximum(in_range, config.smoothing_bins)
        if bounds is None:
            dropped.append(
                DroppedHistogram(
                    spec.path,
                    0,
                    0,
                    f"no entries between {config.mass_min:g} and "
                    f"{spec.edges[-1]:g} GeV",
                )
            )
            continue
        start, stop = bounds
        n_entries = round(float(in_range[start:stop].sum()))
        n_bins = stop - start
        reasons = []
        if n_entries < config.min_events:
            reasons.append(
                f"only {_entries(n_entries)} from the maximum at "
                f"{spec.edges[start]:.4g} GeV on, fewer than min_events = "
                f"{config.min_events}"
            )
        if n_bins < config.min_bins:
            reasons.append(
                f"only {_bins(n_bins)} from the maximum at {spec.edges[start]:.4g} GeV "
                f"to the last filled bin, fewer than min_bins = {config.min_bins}"
            )
        if reasons:
            dropped.append(
                DroppedHistogram(spec.path, n_entries, n_bins, "; ".join(reasons))
            )
            continue
        if sum_weights is None:
            counts = in_range[start:stop].astype(np.float64)
            variances = None
            overflow = float(slots[-1])
        else:
            counts = sum_weights[window][1:-1][start:stop].astype(np.float64)
            variances = sum_weights2[window][1:-1][start:stop].astype(np.float64)
            overflow = float(sum_weights[window][-1])
        kept.append(
            MassHistogram(
                final_state=spec.final_state,
                combination=spec.combination,
                edges=np.array(spec.edges[start : stop + 1]),
                counts=counts,
                variances=variances,
                entries=n_entries,
                entries_below=round(float(slots[0] + in_range[:start].sum())),
                overflow=overflow,
            )
        )
    return kept, dropped
