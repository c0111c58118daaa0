"""The in-memory event format: the objects of many events in flat arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .objects import INPUT_TYPES

# Scale from an energy unit to GeV.
ENERGY_UNITS = {"MeV": 1e-3, "GeV": 1.0, "TeV": 1e3}


def unit_scale(unit: str) -> float:
    """Return the factor that converts energies in ``unit`` to GeV."""
    try:
        return ENERGY_UNITS[unit]
    except KeyError:
        raise ValueError(
            f"unknown energy unit {unit!r}; expected one of {', '.join(ENERGY_UNITS)}"
        ) from None


@dataclass(frozen=True)
class EventTable:
    """Objects of ``n_events`` events, stored flat and sliced by ``offsets``.

    The objects of event i are ``offsets[i]:offsets[i + 1]``. ``kind`` is the
    index of each object's type in :data:`~bumpnet_root.events.objects.INPUT_TYPES`.
    ``pt`` and ``energy`` are in GeV. ``weight`` has one entry per event and
    ``process`` the process label of each event where the input has one.
    """

    offsets: np.ndarray
    kind: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    weight: np.ndarray
    process: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, dtype=np.int64)
        if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0:
            raise ValueError("offsets must be a 1-D array that starts at 0")
        if np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must not decrease")
        n_objects = int(offsets[-1])
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "kind", np.asarray(self.kind, dtype=np.int8))
        for name in ("pt", "eta", "phi", "energy"):
            object.__setattr__(
                self, name, np.asarray(getattr(self, name), dtype=np.float64)
            )
        for name in ("kind", "pt", "eta", "phi", "energy"):
            if getattr(self, name).shape != (n_objects,):
                raise ValueError(
                    f"{name} has shape {getattr(self, name).shape}, but the offsets "
                    f"describe {n_objects} objects"
                )
        if np.any((self.kind < 0) | (self.kind >= len(INPUT_TYPES))):
            raise ValueError(f"kind must index INPUT_TYPES {INPUT_TYPES}")
        weight = np.asarray(self.weight, dtype=np.float64)
        if weight.shape != (offsets.size - 1,):
            raise ValueError(
                f"weight has shape {weight.shape}, expected ({offsets.size - 1},)"
            )
        object.__setattr__(self, "weight", weight)

    @property
    def n_events(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def n_objects(self) -> int:
        return int(self.offsets[-1])

    def four_momenta(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (px, py, pz, E) of every object in GeV."""
        px = self.pt * np.cos(self.phi)
        py = self.pt * np.sin(self.phi)
        pz = self.pt * np.sinh(self.eta)
        return px, py, pz, self.energy

    def select_events(self, mask: np.ndarray) -> EventTable:
        """Return the events where ``mask`` (one bool per event) is true."""
        mask = np.asarray(mask, dtype=bool)
        counts = np.diff(self.offsets)
        keep_objects = np.repeat(mask, counts)
        offsets = np.concatenate(([0], np.cumsum(counts[mask])))
        return EventTable(
            offsets=offsets,
            kind=self.kind[keep_objects],
            pt=self.pt[keep_objects],
            eta=self.eta[keep_objects],
            phi=self.phi[keep_objects],
            energy=self.energy[keep_objects],
            weight=self.weight[mask],
            process=None if self.process is None else self.process[mask],
        )


def concatenate(tables: list[EventTable]) -> EventTable:
    """Return the events of several tables, one after the other."""
    if not tables:
        raise ValueError("no event tables to concatenate")
    offsets = [np.zeros(1, dtype=np.int64)]
    start = 0
    for table in tables:
        offsets.append(table.offsets[1:] + start)
        start += table.n_objects
    processes = [table.process for table in tables]
    return EventTable(
        offsets=np.concatenate(offsets),
        kind=np.concatenate([t.kind for t in tables]),
        pt=np.concatenate([t.pt for t in tables]),
        eta=np.concatenate([t.eta for t in tables]),
        phi=np.concatenate([t.phi for t in tables]),
        energy=np.concatenate([t.energy for t in tables]),
        weight=np.concatenate([t.weight for t in tables]),
        process=None
        if any(p is None for p in processes)
        else np.concatenate(processes),
    )
