"""Synthetic training histograms: smooth falling backgrounds, Gaussian signals.

Every histogram is generated from a ``numpy.random.Generator``, so a seed fixes
the whole data set. Shapes are functions of t in [0, 1] (bin centre position),
multiplied so that the first bin expects ``peak`` events:

* analytic families: exponential, power law, logarithmic, linear, parabolic,
  cosine and cosh segments, each pinned between a maximum (t = 0) and a
  minimum height (t = 1);
* Gaussian-process shapes: log f(t) = -integral of softplus(g) with g drawn from
  a Gaussian process with a squared-exponential kernel, so every draw is smooth
  and falls monotonically.

The dijet function p0 (1 - x)^p1 x^-(p2 + p3 ln x) is deliberately not among the
training families so that validation can use it as a held-out family.

A signal is a Gaussian at a random position whose yield is chosen so that the
Asimov significance sqrt(2 sum[(b + s) ln(1 + s/b) - s]) equals a target drawn
uniformly in ``z_range``. The observed histogram is a Poisson draw of b + s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

ANALYTIC_FAMILIES = (
    "exponential",
    "power",
    "logarithmic",
    "linear",
    "parabolic",
    "cosine",
    "cosh",
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Ranges of the generated histograms.

    ``log10_peak`` is the range of log10 of the expected count in the first
    bin, ``log10_drop`` of log10(first/last) expected count. ``signal_fraction``
    of the histograms carry a signal with Asimov Z in ``z_range`` and width
    sigma in ``width_range`` bin widths.

    Three options serve training and are off by default, so validation sets
    keep their definition: ``strong_fraction`` of the signals get an Asimov Z
    in ``strong_z_range`` instead (large structures, such as the resonances of
    a dimuon spectrum, must not be absorbed into the background),
    ``second_signal_fraction`` of the histograms carry a second Gaussian of
    normal width with Asimov Z in ``z_range`` at another random position, and
    signal centres keep ``signal_margin_bins`` bins from either end.
    """

    log10_peak: tuple[float, float] = (0.5, 6.0)
    log10_drop: tuple[float, float] = (0.0, 4.0)
    min_background: float = 0.05
    gp_fraction: float = 0.4
    signal_fraction: float = 0.8
    z_range: tuple[float, float] = (1.0, 10.0)
    width_range: tuple[float, float] = (0.7, 1.3)
    wide_fraction: float = 0.15
    wide_width_range: tuple[float, float] = (1.3, 3.0)
    strong_fraction: float = 0.0
    strong_z_range: tuple[float, float] = (10.0, 60.0)
    second_signal_fraction: float = 0.0
    signal_margin_bins: float = 0.0
    # Shortest length scale of the GP family in bins (0: 0.15 of the axis at
    # any number of bins); see gaussian_process_shapes.
    gp_min_scale_bins: float = 0.0


@dataclass(frozen=True)
class SyntheticBatch:
    """Histograms of one batch, all with the same number of bins.

    Arrays have shape (batch, n_bins) except ``edges`` (batch, n_bins + 1) and
    the per-histogram ``signal_center`` (NaN without signal), ``signal_sigma``
    and ``z_asimov`` (0 without signal).
    """

    counts: np.ndarray
    background: np.ndarray
    signal: np.ndarray
    edges: np.ndarray
    signal_center: np.ndarray
    signal_sigma: np.ndarray
    z_asimov: np.ndarray


def analytic_shapes(
    rng: np.random.Generator, t: np.ndarray, drop: np.ndarray
) -> np.ndarray:
    """Draw one analytic falling shape per row, f(0) = 1 and f(1) = 10^-drop."""
    batch = drop.size
    # Real mass spectra fall like exponentials or power laws, so the
    # log-space families (codes 0-2) are drawn twice as often as the others.
    weights = np.array([2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    family = rng.choice(len(ANALYTIC_FAMILIES), size=batch, p=weights / weights.sum())
    floor = 10.0 ** (-drop)[:, None]
    tt = t[None, :]
    shapes = np.empty((batch, t.size))
    # Each family gives a monotone g(t) from 1 to 0; the shape interpolates
    # between the pinned heights in log space or linearly.
    steep = rng.uniform(0.5, 8.0, size=(batch, 1))
    g = {
        0: 1.0 - tt * np.ones_like(steep),
        1: 1.0 - np.log1p(steep * tt) / np.log1p(steep),
        2: 1.0 - np.log1p(steep * np.sqrt(tt)) / np.log1p(steep),
        3: 1.0 - tt * np.ones_like(steep),
        4: 1.0 - tt**2 * np.ones_like(steep),
        5: 0.5 * (1.0 + np.cos(np.pi * tt)) * np.ones_like(steep),
        6: 1.0 - (np.cosh(steep * tt) - 1.0) / (np.cosh(steep) - 1.0),
    }
    for code, profile in g.items():
        rows = family == code
        if not np.any(rows):
            continue
        p = profile[rows] if profile.shape[0] == batch else profile
        f_min = floor[rows]
        if code in (0, 1, 2):
            # Log-space interpolation: exponential-like and power-law-like.
            shapes[rows] = f_min ** (1.0 - p)
        else:
            shapes[rows] = f_min + (1.0 - f_min) * p
    return shapes


def gaussian_process_shapes(
    rng: np.random.Generator,
    t: np.ndarray,
    drop: np.ndarray,
    min_scale_bins: float = 0.0,
) -> np.ndarray:
    """Draw monotone falling shapes from a Gaussian process on the slope.

    The log slope g(t) is a GP draw with a squared-exponential kernel of random
    length scale, 0.15 to 0.6 of the axis and at least ``min_scale_bins``
    bins; log f = -cumulative integral of softplus(g), rescaled so that
    f(1) = 10^-drop. In a 30-bin histogram, 0.15 of the axis is 4.5 bins, and
    a change of slope that short looks like a wide signal.
    """
    batch = drop.size
    grid = np.linspace(0.0, 1.0, 64)
    shapes = np.empty((batch, t.size))
    scales = rng.uniform(0.15, 0.6, size=batch)
    if min_scale_bins > 0.0:
        scales = np.maximum(scales, min_scale_bins / t.size)
    for row in range(batch):
        distance = grid[:, None] - grid[None, :]
        kernel = np.exp(-0.5 * (distance / scales[row]) ** 2)
        kernel += 1e-6 * np.eye(grid.size)
        chol = np.linalg.cholesky(kernel)
        g = chol @ rng.standard_normal(grid.size) * rng.uniform(0.5, 1.5)
        slope = np.logaddexp(0.0, g + rng.uniform(-1.0, 1.0))
        log_f = -np.concatenate([[0.0], np.cumsum(0.5 * (slope[1:] + slope[:-1]))])
        log_f *= (drop[row] * np.log(10.0)) / max(-log_f[-1], 1e-12)
        if drop[row] < 1e-3:
            log_f = np.zeros_like(log_f)
        shapes[row] = np.exp(np.interp(t, grid, log_f))
    return shapes


def asimov_yield(
    background: np.ndarray, template: np.ndarray, z_target: np.ndarray
) -> np.ndarray:
    """Return the signal yield per row whose Asimov significance is z_target.

    Solved by bisection in log(yield); Z_A grows monotonically with the yield.
    """
    low = np.full(z_target.shape, -8.0)
    high = np.full(z_target.shape, 16.0)
    for _ in range(60):
        middle = 0.5 * (low + high)
        s = np.exp(middle)[:, None] * template
        z = np.sqrt(
            2.0 * np.sum((background + s) * np.log1p(s / background) - s, axis=1)
        )
        too_big = z > z_target
        high = np.where(too_big, middle, high)
        low = np.where(too_big, low, middle)
    return np.exp(0.5 * (low + high))


def generate_batch(
    rng: np.random.Generator,
    batch_size: int,
    n_bins: int,
    config: SyntheticConfig | None = None,
) -> SyntheticBatch:
    """Generate ``batch_size`` histograms of ``n_bins`` uniform bins."""
    config = config or SyntheticConfig()
    t = (np.arange(n_bins) + 0.5) / n_bins
    drop = rng.uniform(*config.log10_drop, size=batch_size)
    use_gp = rng.random(batch_size) < config.gp_fraction
    shapes = np.empty((batch_size, n_bins))
    if np.any(~use_gp):
        shapes[~use_gp] = analytic_shapes(rng, t, drop[~use_gp])
    if np.any(use_gp):
        shapes[use_gp] = gaussian_process_shapes(
            rng, t, drop[use_gp], config.gp_min_scale_bins
        )
    peak = 10.0 ** rng.uniform(*config.log10_peak, size=(batch_size, 1))
    background = np.maximum(peak * shapes, config.min_background)

    edges = np.broadcast_to(
        np.arange(n_bins + 1, dtype=np.float64), (batch_size, n_bins + 1)
    ).copy()
    has_signal = rng.random(batch_size) < config.signal_fraction
    margin = config.signal_margin_bins
    signal_center = rng.uniform(margin, n_bins - margin, size=batch_size)
    sigma = rng.uniform(*config.width_range, size=batch_size)
    wide = rng.random(batch_size) < config.wide_fraction
    sigma = np.where(wide, rng.uniform(*config.wide_width_range, batch_size), sigma)
    upper = (edges[:, 1:] - signal_center[:, None]) / sigma[:, None]
    lower = (edges[:, :-1] - signal_center[:, None]) / sigma[:, None]
    template = ndtr(upper) - ndtr(lower)
    template /= np.sum(template, axis=1, keepdims=True)
    z_target = rng.uniform(*config.z_range, size=batch_size)
    # Draws for the training options come after the others, so with both
    # options off a seed gives the same histograms as without them.
    if config.strong_fraction > 0.0:
        strong = rng.random(batch_size) < config.strong_fraction
        z_strong = rng.uniform(*config.strong_z_range, size=batch_size)
        z_target = np.where(strong, z_strong, z_target)
    yields = asimov_yield(background, template, z_target)
    signal = np.where(has_signal[:, None], yields[:, None] * template, 0.0)
    if config.second_signal_fraction > 0.0:
        signal = signal + _second_signal(rng, background, edges, config)
    counts = rng.poisson(background + signal).astype(np.float64)
    return SyntheticBatch(
        counts=counts,
        background=background,
        signal=signal,
        edges=edges,
        signal_center=np.where(has_signal, signal_center, np.nan),
        signal_sigma=np.where(has_signal, sigma, 0.0),
        z_asimov=np.where(has_signal, z_target, 0.0),
    )


def _second_signal(
    rng: np.random.Generator,
    background: np.ndarray,
    edges: np.ndarray,
    config: SyntheticConfig,
) -> np.ndarray:
    """Return a second Gaussian signal per row, zero outside the chosen rows."""
    batch_size, n_bins = background.shape
    chosen = rng.random(batch_size) < config.second_signal_fraction
    center = rng.uniform(0.0, n_bins, size=batch_size)
    sigma = rng.uniform(*config.width_range, size=batch_size)
    upper = (edges[:, 1:] - center[:, None]) / sigma[:, None]
    lower = (edges[:, :-1] - center[:, None]) / sigma[:, None]
    template = ndtr(upper) - ndtr(lower)
    template /= np.sum(template, axis=1, keepdims=True)
    z_target = rng.uniform(*config.z_range, size=batch_size)
    yields = asimov_yield(background, template, z_target)
    return np.where(chosen[:, None], yields[:, None] * template, 0.0)
