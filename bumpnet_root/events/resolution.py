"""Transverse-momentum resolution per object type and the bin edges built from it.

Every object type uses the same form,

    sigma(pT) / pT = sqrt((N / pT)^2 + S^2 / pT + C^2 + (B * pT)^2),

with a noise term N (GeV), a stochastic term S (sqrt(GeV)), a constant term C
and a term B (1/GeV) that grows with pT, as the sagitta term of a tracker does.
The defaults below are typical magnitudes for the central region of the ATLAS
and CMS detectors in LHC Run 2, not a fit to either:

* jets and b-jets: N = 4 GeV, S = 0.75 sqrt(GeV), C = 0.03, so 19 % at
  30 GeV, 9 % at 100 GeV and 4 % at 1 TeV;
* electrons and photons: S = 0.10 sqrt(GeV), C = 0.01, so 1.7 % at 50 GeV
  and 1.1 % at 500 GeV;
* muons: C = 0.01, B = 1e-4 / GeV, so 1.0 % at 25 GeV, 2.2 % at 200 GeV,
  3.2 % at 300 GeV and 10 % at 1 TeV.

The bin width at mass m of a histogram of the combination k = 1..n is

    width(m) = width_factor * sqrt(sum_k sigma_k(pT = m / 2)^2),

about half the mass resolution for a two-body decay at rest, with
``width_factor`` = 0.5. Bin edges start at a lowest mass and step
m -> m + width(m) until they pass the highest mass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Largest number of bins one signature may get, so that a resolution that is
# much too small fails quickly instead of building millions of edges.
MAX_EDGES = 200_000


@dataclass(frozen=True)
class Resolution:
    """pT resolution sigma(pT) = sqrt(N^2 + S^2 pT + C^2 pT^2 + B^2 pT^4), in GeV.

    ``noise`` is N in GeV, ``stochastic`` S in sqrt(GeV), ``constant`` C
    (a fraction) and ``sagitta`` B in 1/GeV.
    """

    noise: float = 0.0
    stochastic: float = 0.0
    constant: float = 0.0
    sagitta: float = 0.0

    def __post_init__(self) -> None:
        for name in ("noise", "stochastic", "constant", "sagitta"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"resolution term {name} must be finite and >= 0, got {value!r}"
                )

    def sigma(self, pt: float) -> float:
        """Return the pT resolution in GeV at transverse momentum ``pt`` (GeV)."""
        return math.sqrt(
            self.noise**2
            + self.stochastic**2 * pt
            + (self.constant * pt) ** 2
            + (self.sagitta * pt * pt) ** 2
        )

    def relative(self, pt: float) -> float:
        """Return sigma(pT) / pT."""
        return self.sigma(pt) / pt


JET_RESOLUTION = Resolution(noise=4.0, stochastic=0.75, constant=0.03)
ELECTRON_RESOLUTION = Resolution(stochastic=0.10, constant=0.01)
PHOTON_RESOLUTION = Resolution(stochastic=0.10, constant=0.01)
MUON_RESOLUTION = Resolution(constant=0.01, sagitta=1e-4)

# Keyed by object family; with charges unfolded, e+ and e- use "e", m+ and m- "m".
DEFAULT_RESOLUTIONS: Mapping[str, Resolution] = {
    "j": JET_RESOLUTION,
    "b": JET_RESOLUTION,
    "e": ELECTRON_RESOLUTION,
    "g": PHOTON_RESOLUTION,
    "m": MUON_RESOLUTION,
}


def family_of(symbol: str) -> str:
    """Return the family of a type symbol: ``e+`` -> ``e``, ``j`` -> ``j``."""
    return symbol.rstrip("+-")


def bin_width(
    mass: float,
    signature: Sequence[str],
    resolutions: Mapping[str, Resolution],
    width_factor: float = 0.5,
) -> float:
    """Return the bin width in GeV at ``mass`` for a combination of these types."""
    pt = 0.5 * mass
    total = 0.0
    for symbol in signature:
        total += resolutions[family_of(symbol)].sigma(pt) ** 2
    return width_factor * math.sqrt(total)


@lru_cache(maxsize=256)
def _cached_edges(
    signature: tuple[str, ...],
    resolutions: tuple[tuple[str, Resolution], ...],
    low: float,
    high: float,
    width_factor: float,
) -> np.ndarray:
    table = dict(resolutions)
    edges = [low]
    mass = low
    while mass < high:
        width = bin_width(mass, signature, table, width_factor)
        if not math.isfinite(width) or width <= 0:
            raise ValueError(
                f"bin width {width!r} GeV at m = {mass:g} GeV for the types "
                f"{signature}; give these types a resolution with a non-zero "
                "term, or raise the lowest mass"
            )
        mass = mass + width
        edges.append(mass)
        if len(edges) > MAX_EDGES:
            raise ValueError(
                f"more than {MAX_EDGES} bins from {low:g} to {high:g} GeV for the "
                f"types {signature} (width {width:.3g} GeV at {mass:g} GeV); the "
                "resolution or width_factor is too small for this mass range"
            )
    result = np.array(edges, dtype=np.float64)
    result.setflags(write=False)
    return result


def bin_edges(
    signature: Sequence[str],
    resolutions: Mapping[str, Resolution],
    low: float,
    high: float,
    width_factor: float = 0.5,
) -> np.ndarray:
    """Return the bin edges from ``low`` until past ``high`` (GeV), read-only.

    Each edge is the previous one plus :func:`bin_width` there. The last edge
    is the first one at or above ``high``.
    """
    if not (0 < low < high) or not math.isfinite(high):
        raise ValueError(
            f"the mass range must satisfy 0 < low < high, got low={low!r}, "
            f"high={high!r} GeV"
        )
    if not (math.isfinite(width_factor) and width_factor > 0):
        raise ValueError(f"width_factor must be > 0, got {width_factor!r}")
    families = sorted({family_of(symbol) for symbol in signature})
    missing = [family for family in families if family not in resolutions]
    if missing:
        raise KeyError(
            f"no resolution for the object types {missing}; add them to the "
            "resolutions of the build configuration"
        )
    key = tuple((family, resolutions[family]) for family in families)
    return _cached_edges(tuple(signature), key, float(low), float(high), width_factor)
