"""Object types, final states and the combinations of objects in them.

Objects carry one of the Dark Machines type symbols ``j`` (jet), ``b``
(b-tagged jet), ``e-``, ``e+`` (electrons), ``m-``, ``m+`` (muons) and ``g``
(photon). A final state is the number of selected objects of each type. With
charges folded (the default) ``e-`` and ``e+`` both count as ``e`` and ``m-``
and ``m+`` as ``m``, so the types are ``e, m, g, b, j`` in this order. Final
state names list the non-zero counts in that order, for example ``2m`` or
``1e2j``.

Within a final state the objects are ordered by type and, within a type, by
decreasing pT, and numbered from 1 per type (``j1`` is the leading jet). A
combination is a subset of two or more of these objects. The combinations of a
final state with n objects are enumerated by the bit mask of their members,
from 1 to 2**n - 1 in increasing order, so object i is bit i. The RDataFrame
engine uses the same order in C++.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

# Type symbols of the input objects, as in the Dark Machines CSV files.
INPUT_TYPES: tuple[str, ...] = ("e-", "e+", "m-", "m+", "g", "b", "j")
# The family of each input type, which is its type when charges are folded.
FAMILY = {"e-": "e", "e+": "e", "m-": "m", "m+": "m", "g": "g", "b": "b", "j": "j"}
FAMILIES: tuple[str, ...] = ("e", "m", "g", "b", "j")


def final_state_types(fold_charges: bool) -> tuple[str, ...]:
    """Return the object types that final states count, in name order."""
    return FAMILIES if fold_charges else INPUT_TYPES


def input_type_codes(fold_charges: bool) -> tuple[int, ...]:
    """Return, for each entry of INPUT_TYPES, its index in final_state_types."""
    types = final_state_types(fold_charges)
    if fold_charges:
        return tuple(types.index(FAMILY[symbol]) for symbol in INPUT_TYPES)
    return tuple(types.index(symbol) for symbol in INPUT_TYPES)


def final_state_name(counts: Sequence[int], types: Sequence[str]) -> str:
    """Return the name of a final state, such as ``1e2j``, or ``none``."""
    if len(counts) != len(types):
        raise ValueError(f"got {len(counts)} counts for {len(types)} types {types}")
    parts = [f"{count}{symbol}" for count, symbol in zip(counts, types) if count]
    return "".join(parts) if parts else "none"


@dataclass(frozen=True)
class Combination:
    """Two or more objects of a final state whose invariant mass is histogrammed.

    ``mask`` has bit i set for object i of the final state, ``members`` names
    the objects (``("e1", "j1", "j2")``) and ``signature`` lists their types
    (``("e", "j", "j")``), which sets the bin width.
    """

    mask: int
    members: tuple[str, ...]
    signature: tuple[str, ...]

    @property
    def name(self) -> str:
        """Histogram name, such as ``m_e1_j1_j2``."""
        return "m_" + "_".join(self.members)

    @property
    def title(self) -> str:
        """Axis title in ROOT's TLatex syntax, such as ``m_{e1 j1 j2} [GeV]``."""
        return "m_{" + " ".join(self.members) + "} [GeV]"


@cache
def _objects_of(counts: tuple[int, ...], types: tuple[str, ...]) -> tuple:
    """Return (symbol, type) of each object of a final state, in object order."""
    objects = []
    for count, symbol in zip(counts, types):
        objects.extend((f"{symbol}{rank}", symbol) for rank in range(1, count + 1))
    return tuple(objects)


@cache
def combinations(counts: tuple[int, ...], types: tuple[str, ...]) -> tuple:
    """Return the combinations of two or more objects of a final state.

    They are ordered by their bit mask (see the module docstring).
    """
    objects = _objects_of(counts, types)
    result = []
    for mask in range(1, 1 << len(objects)):
        if bin(mask).count("1") < 2:
            continue
        chosen = [objects[i] for i in range(len(objects)) if mask >> i & 1]
        result.append(
            Combination(
                mask=mask,
                members=tuple(symbol for symbol, _ in chosen),
                signature=tuple(kind for _, kind in chosen),
            )
        )
    return tuple(result)


def number_of_final_states(n_types: int, max_objects: int) -> int:
    """Return how many final states have at most ``max_objects`` objects."""
    return math.comb(max_objects + n_types, n_types)


def final_state_rank(counts: Sequence[int], max_objects: int) -> int:
    """Return the index of a final state among those with at most max_objects.

    Final states are ordered lexicographically by their counts (first type
    most significant), which is the order of :func:`enumerate_final_states`.
    A final state with more than ``max_objects`` objects gets
    ``number_of_final_states(len(counts), max_objects)``, one past the last.
    The C++ function ``bumpnet_events::final_state_rank`` is the same formula.
    """
    n_types = len(counts)
    if sum(counts) > max_objects:
        return number_of_final_states(n_types, max_objects)
    rank = 0
    used = 0
    for position, count in enumerate(counts):
        remaining_types = n_types - position - 1
        for value in range(count):
            rank += math.comb(
                max_objects - used - value + remaining_types, remaining_types
            )
        used += count
    return rank


def enumerate_final_states(n_types: int, max_objects: int) -> list[tuple[int, ...]]:
    """Return every final state with at most ``max_objects`` objects, by rank."""
    states = [
        counts
        for counts in itertools.product(range(max_objects + 1), repeat=n_types)
        if sum(counts) <= max_objects
    ]
    states.sort()
    return states
