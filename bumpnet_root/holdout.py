"""Validation histograms from families the network is not trained on.

* The dijet function f(x) = p0 (1 - x)^p1 x^-(p2 + p3 ln x), x = m / sqrt(s),
  with sqrt(s) = 13 TeV, as used by ATLAS and CMS dijet searches.
* Resolution-based variable binning: the bin width grows with mass as
  w(m) = c m^a (a = 0.5 for calorimeter-like, a = 1 for constant relative
  resolution); training uses uniform bins only.

The signal is a Gaussian whose sigma is ``width`` times the width of the bin
that contains its centre, with the yield set by a target Asimov Z, as in
:mod:`bumpnet_root.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .synthetic import SyntheticBatch, asimov_yield

SQRT_S = 13000.0


@dataclass(frozen=True)
class HoldoutConfig:
    """Ranges of the held-out histograms.

    ``log10_events`` is the range of log10 of the total expected background;
    ``binning`` is "resolution" (w ~ m^a with a drawn in [0.5, 1]) or "uniform".
    """

    log10_events: tuple[float, float] = (2.0, 6.0)
    bins: tuple[int, int] = (30, 150)
    z_range: tuple[float, float] = (1.0, 8.0)
    signal_fraction: float = 1.0
    width: tuple[float, float] = (1.0, 1.0)
    binning: str = "resolution"


def resolution_edges(low: float, high: float, n_bins: int, power: float) -> np.ndarray:
    """Return edges whose widths grow as m^power between ``low`` and ``high``."""
    if abs(power - 1.0) < 1e-9:
        return np.geomspace(low, high, n_bins + 1)
    exponent = 1.0 - power
    u = np.linspace(low**exponent, high**exponent, n_bins + 1)
    edges = u ** (1.0 / exponent)
    edges[0], edges[-1] = low, high
    return edges


def dijet_density(mass: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return the dijet function (p0 = 1) at ``mass`` for parameters p1..p3."""
    x = mass / SQRT_S
    log_x = np.log(x)
    return np.exp(p[0] * np.log1p(-x) - (p[1] + p[2] * log_x) * log_x)


def generate_holdout(
    rng: np.random.Generator, size: int, n_bins: int, config: HoldoutConfig
) -> SyntheticBatch:
    """Generate ``size`` dijet-family histograms with ``n_bins`` bins each."""
    counts = np.empty((size, n_bins))
    background = np.empty((size, n_bins))
    signal = np.zeros((size, n_bins))
    edges_all = np.empty((size, n_bins + 1))
    centers_out = np.full(size, np.nan)
    sigma_out = np.zeros(size)
    z_out = np.zeros(size)
    for row in range(size):
        low = rng.uniform(300.0, 2500.0)
        high = min(low * rng.uniform(2.0, 6.0), 0.75 * SQRT_S)
        if config.binning == "resolution":
            edges = resolution_edges(low, high, n_bins, rng.uniform(0.5, 1.0))
        else:
            edges = np.linspace(low, high, n_bins + 1)
        params = np.array(
            [rng.uniform(5.0, 15.0), rng.uniform(3.0, 7.0), rng.uniform(-0.3, 0.3)]
        )
        # Integrate the density over each bin with Simpson's rule.
        mid = 0.5 * (edges[1:] + edges[:-1])
        widths = np.diff(edges)
        shape = (
            dijet_density(edges[:-1], params)
            + 4.0 * dijet_density(mid, params)
            + dijet_density(edges[1:], params)
        ) * (widths / 6.0)
        total = 10.0 ** rng.uniform(*config.log10_events)
        b = np.maximum(shape / shape.sum() * total, 1e-6)
        background[row] = b
        edges_all[row] = edges
        if rng.random() < config.signal_fraction:
            center = rng.uniform(edges[0], edges[-1])
            containing = min(np.searchsorted(edges, center) - 1, n_bins - 1)
            sigma = widths[max(containing, 0)] * rng.uniform(*config.width)
            template = ndtr((edges[1:] - center) / sigma) - ndtr(
                (edges[:-1] - center) / sigma
            )
            template /= template.sum()
            z_target = rng.uniform(*config.z_range)
            amount = asimov_yield(b[None, :], template[None, :], np.array([z_target]))
            signal[row] = amount[0] * template
            centers_out[row] = center
            sigma_out[row] = sigma
            z_out[row] = z_target
        counts[row] = rng.poisson(b + signal[row])
    return SyntheticBatch(
        counts=counts,
        background=background,
        signal=signal,
        edges=edges_all,
        signal_center=centers_out,
        signal_sigma=sigma_out,
        z_asimov=z_out,
    )
