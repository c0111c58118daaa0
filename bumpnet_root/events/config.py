"""Settings of a histogram build: object selection, binning and acceptance."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .objects import FAMILIES, final_state_types, input_type_codes
from .resolution import DEFAULT_RESOLUTIONS, Resolution

# Lowest pT (GeV) and largest |eta| of a selected object, per object family.
DEFAULT_PT_MIN = MappingProxyType(
    {"e": 25.0, "m": 25.0, "g": 25.0, "b": 30.0, "j": 30.0}
)
DEFAULT_ETA_MAX = MappingProxyType({"e": 2.5, "m": 2.5, "g": 2.37, "b": 2.5, "j": 2.8})


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class BuildConfig:
    """Settings of a build: object selection, binning and acceptance.

    * ``pt_min``, ``eta_max``: object selection per family (``e``, ``m``,
      ``g``, ``b``, ``j``), in GeV. Families missing from a mapping take the
      default.
    * ``fold_charges``: count ``e-`` and ``e+`` as ``e`` (and ``m-``, ``m+``
      as ``m``). When False they are separate types (final state ``1e-1e+``).
    * ``max_objects``: events with more selected objects are not histogrammed
      (a final state with n objects has 2**n - n - 1 combinations).
    * ``min_events``, ``min_bins``: a histogram is kept when it has at least
      this many entries and bins from its maximum on (the defaults keep more
      than 30 bins).
    * ``smoothing_bins``: width of the running median over the bin contents
      that locates the maximum, so one high bin does not set it; 1 uses the
      raw contents.
    * ``mass_min``, ``mass_max``: the bin edges of every histogram start at
      ``mass_min`` and end at the first edge at or above ``mass_max`` (GeV).
      Masses above go to the overflow bin.
    * ``resolutions``, ``width_factor``: see
      :mod:`bumpnet_root.events.resolution`.
    * ``weighted``: fill the event weights instead of one per event. BumpNet
      treats the contents as Poisson counts either way.
    """

    pt_min: Mapping[str, float] = field(default_factory=lambda: DEFAULT_PT_MIN)
    eta_max: Mapping[str, float] = field(default_factory=lambda: DEFAULT_ETA_MAX)
    fold_charges: bool = True
    max_objects: int = 8
    min_events: int = 100
    min_bins: int = 31
    smoothing_bins: int = 5
    mass_min: float = 1.0
    mass_max: float = 13000.0
    width_factor: float = 0.5
    resolutions: Mapping[str, Resolution] = field(
        default_factory=lambda: DEFAULT_RESOLUTIONS
    )
    weighted: bool = False

    def __post_init__(self) -> None:
        for name, defaults in (
            ("pt_min", DEFAULT_PT_MIN),
            ("eta_max", DEFAULT_ETA_MAX),
        ):
            overrides = dict(getattr(self, name))
            unknown = sorted(set(overrides) - set(FAMILIES))
            if unknown:
                raise ValueError(
                    f"{name} has unknown object families {unknown}; use "
                    f"{', '.join(FAMILIES)}"
                )
            merged = {**defaults, **overrides}
            bad = {key: value for key, value in merged.items() if not value >= 0}
            if bad:
                raise ValueError(f"{name} values must be >= 0, got {bad}")
            object.__setattr__(self, name, _frozen(merged))
        resolutions = {**DEFAULT_RESOLUTIONS, **dict(self.resolutions)}
        unknown = sorted(set(resolutions) - set(FAMILIES))
        if unknown:
            raise ValueError(
                f"resolutions has unknown object families {unknown}; use "
                f"{', '.join(FAMILIES)}"
            )
        object.__setattr__(self, "resolutions", _frozen(resolutions))
        if not 2 <= self.max_objects <= 12:
            raise ValueError(
                f"max_objects must be between 2 and 12, got {self.max_objects}; "
                "12 objects already give 4083 combinations per event"
            )
        for name in ("min_events", "min_bins", "smoothing_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.mass_min < self.mass_max and math.isfinite(self.mass_max)):
            raise ValueError(
                f"need 0 < mass_min < mass_max, got mass_min={self.mass_min}, "
                f"mass_max={self.mass_max} GeV"
            )
        if not self.width_factor > 0:
            raise ValueError(f"width_factor must be > 0, got {self.width_factor}")

    @property
    def types(self) -> tuple[str, ...]:
        """The object types that final states count, in name order."""
        return final_state_types(self.fold_charges)

    def type_thresholds(self) -> tuple[list[float], list[float]]:
        """Return (pt_min, eta_max) per entry of :attr:`types`."""
        families = [symbol.rstrip("+-") for symbol in self.types]
        return (
            [float(self.pt_min[family]) for family in families],
            [float(self.eta_max[family]) for family in families],
        )

    def input_codes(self) -> tuple[int, ...]:
        """Return the index in :attr:`types` of each input type symbol."""
        return input_type_codes(self.fold_charges)
