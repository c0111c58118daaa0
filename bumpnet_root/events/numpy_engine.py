"""The numpy engine: final states and combination masses of an in-memory EventTable.

Events are grouped by final state. All events of one final state have the
same number of objects of each type, so their objects form a regular
(events x objects) array and every combination mass is one vectorised sum
over columns. The sums and the mass use the same order of operations as the
C++ code of the RDataFrame engine, so both give the same masses for the same
inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .config import BuildConfig
from .layout import Layout
from .objects import final_state_rank, number_of_final_states
from .table import EventTable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectedObjects:
    """The selected objects of a table, sorted by event, type and decreasing pT.

    ``counts[i, t]`` is the number of objects of type t in event i, and the
    objects of event i start at ``starts[i]``. ``ranks`` holds each event's
    final-state rank.
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    energy: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    ranks: np.ndarray


def _ranks(counts: np.ndarray, max_objects: int) -> np.ndarray:
    """Return the final-state rank of each row of ``counts`` (events x types)."""
    if counts.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    states, inverse = np.unique(counts, axis=0, return_inverse=True)
    ranks = np.array(
        [final_state_rank(tuple(state), max_objects) for state in states.tolist()],
        dtype=np.int64,
    )
    return ranks[inverse.reshape(-1)]


def select_objects(table: EventTable, config: BuildConfig) -> SelectedObjects:
    """Apply the object selection and classify every event's final state."""
    codes = np.asarray(config.input_codes(), dtype=np.int64)[table.kind]
    pt_min, eta_max = (np.asarray(values) for values in config.type_thresholds())
    keep = (table.pt >= pt_min[codes]) & ~(np.abs(table.eta) > eta_max[codes])
    event = np.repeat(np.arange(table.n_events), np.diff(table.offsets))[keep]
    codes = codes[keep]
    pt = table.pt[keep]
    # lexsort is stable, so objects with equal pT keep their input order.
    order = np.lexsort((-pt, codes, event))
    px, py, pz, energy = (values[keep][order] for values in table.four_momenta())
    n_types = len(config.types)
    counts = np.bincount(
        event * n_types + codes, minlength=table.n_events * n_types
    ).reshape(table.n_events, n_types)
    totals = counts.sum(axis=1)
    starts = np.concatenate(([0], np.cumsum(totals)[:-1])).astype(np.int64)
    return SelectedObjects(
        px=px,
        py=py,
        pz=pz,
        energy=energy,
        counts=counts,
        starts=starts,
        ranks=_ranks(counts, config.max_objects),
    )


def count_final_states(selected: SelectedObjects, config: BuildConfig) -> np.ndarray:
    """Return the events per final-state rank, plus one entry for the over-limit."""
    n_ranks = number_of_final_states(len(config.types), config.max_objects)
    return np.bincount(selected.ranks, minlength=n_ranks + 1)


def _masses(columns: list[int], px, py, pz, energy) -> np.ndarray:
    first, *rest = columns
    sx = px[:, first].copy()
    sy = py[:, first].copy()
    sz = pz[:, first].copy()
    se = energy[:, first].copy()
    for column in rest:
        sx += px[:, column]
        sy += py[:, column]
        sz += pz[:, column]
        se += energy[:, column]
    m2 = se * se - sx * sx - sy * sy - sz * sz
    return np.sqrt(np.where(m2 > 0, m2, 0.0))


def fill(
    selected: SelectedObjects,
    weights: np.ndarray,
    layout: Layout,
    config: BuildConfig,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Fill the flat slot array of the layout.

    Returns (entries, sum of weights, sum of squared weights); the last two
    are None unless the build is weighted.
    """
    entries = np.zeros(layout.n_slots, dtype=np.float64)
    sum_weights = np.zeros(layout.n_slots) if config.weighted else None
    sum_weights2 = np.zeros(layout.n_slots) if config.weighted else None
    for state in layout.filled_final_states:
        rank = final_state_rank(state, config.max_objects)
        events = np.nonzero(selected.ranks == rank)[0]
        n_objects = sum(state)
        index = selected.starts[events][:, None] + np.arange(n_objects)
        px, py, pz, energy = (
            values[index]
            for values in (selected.px, selected.py, selected.pz, selected.energy)
        )
        event_weights = weights[events]
        first = int(layout.first_histogram[rank])
        n_combinations = (1 << n_objects) - n_objects - 1
        for spec in layout.histograms[first : first + n_combinations]:
            mask = spec.combination.mask
            columns = [i for i in range(n_objects) if mask >> i & 1]
            mass = _masses(columns, px, py, pz, energy)
            slot = np.searchsorted(spec.edges, mass, side="right")
            window = slice(spec.offset, spec.offset + spec.n_slots)
            entries[window] += np.bincount(slot, minlength=spec.n_slots)
            if config.weighted:
                sum_weights[window] += np.bincount(
                    slot, weights=event_weights, minlength=spec.n_slots
                )
                sum_weights2[window] += np.bincount(
                    slot, weights=event_weights**2, minlength=spec.n_slots
                )
    return entries, sum_weights, sum_weights2
