"""Validation figures of a model against the ideal likelihood ratio.

The reference is Z_LR, the label computed with the true background; BumpNet's
figures are differences to it on freshly generated histograms (a seed separate
from training), as stored in each model card.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .export import load_torchscript
from .model import DEFAULT_TEMPLATE_REACH, likelihood_ratio_z
from .synthetic import SyntheticConfig, generate_batch

logger = logging.getLogger(__name__)

VALIDATION_SEED = 777_000
_BATCH = 250


def _evaluate(
    module, batch, widths: tuple[float, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return Z of the network and of the LR, and their maxima over ``widths``.

    The last two hold, per histogram, the largest Z over template widths 1 and
    ``widths`` (sigma in bins), with the network's and with the true
    background. Without ``widths`` they are the maxima of the first two.
    """
    counts = torch.from_numpy(batch.counts)
    edges = torch.from_numpy(batch.edges)
    true_background = torch.from_numpy(batch.background)
    with torch.inference_mode():
        z_net, background = module(counts, edges)
        z_lr = likelihood_ratio_z(counts, true_background, edges)
        best_net = z_net.max(dim=1).values
        best_lr = z_lr.max(dim=1).values
        for width in widths:
            reach = max(DEFAULT_TEMPLATE_REACH, math.ceil(6 * width))
            for z_max, b in ((best_net, background), (best_lr, true_background)):
                z = likelihood_ratio_z(counts, b, edges, reach, width)
                torch.maximum(z_max, z.max(dim=1).values, out=z_max)
    return z_net.numpy(), z_lr.numpy(), best_net.numpy(), best_lr.numpy()


def collect(
    module,
    n_histograms: int,
    config,
    seed: int,
    bins: tuple[int, int] = (30, 150),
    generator=generate_batch,
    widths: tuple[float, ...] = (),
) -> dict[str, np.ndarray]:
    """Generate histograms and return per-histogram Z_max, positions and context.

    ``generator(rng, size, n_bins, config)`` returns a SyntheticBatch; the
    default draws from the training families. ``center`` is the bin that
    contains the injected signal (NaN without signal), ``position`` its
    relative place in the histogram and ``b_center`` the expected background
    in that bin. ``z_net_best`` and ``z_lr_best`` are the largest Z over
    template widths 1 and ``widths`` (sigma in bins).
    """
    rng = np.random.default_rng(seed)
    keys = (
        "z_net",
        "z_lr",
        "z_net_best",
        "z_lr_best",
        "arg_net",
        "arg_lr",
        "center",
        "position",
        "b_center",
        "z_asimov",
        "n_bins",
    )
    out: dict[str, list] = {key: [] for key in keys}
    for first in range(0, n_histograms, _BATCH):
        size = min(_BATCH, n_histograms - first)
        n_bins = int(rng.integers(bins[0], bins[1] + 1))
        batch = generator(rng, size, n_bins, config)
        z_net, z_lr, best_net, best_lr = _evaluate(module, batch, widths)
        center = np.full(size, np.nan)
        b_center = np.full(size, np.nan)
        for row in range(size):
            if np.isfinite(batch.signal_center[row]):
                index = np.searchsorted(batch.edges[row], batch.signal_center[row])
                index = int(np.clip(index - 1, 0, n_bins - 1))
                center[row] = index
                b_center[row] = batch.background[row, index]
        out["z_net"].append(z_net.max(axis=1))
        out["z_lr"].append(z_lr.max(axis=1))
        out["z_net_best"].append(best_net)
        out["z_lr_best"].append(best_lr)
        out["arg_net"].append(z_net.argmax(axis=1))
        out["arg_lr"].append(z_lr.argmax(axis=1))
        out["center"].append(center)
        out["position"].append((center + 0.5) / n_bins)
        out["b_center"].append(b_center)
        out["z_asimov"].append(batch.z_asimov)
        out["n_bins"].append(np.full(size, n_bins))
    return {key: np.concatenate(value) for key, value in out.items()}


def summarize(signal: dict, background_only: dict) -> dict:
    """Return the model-card figures from :func:`collect` outputs."""
    delta = signal["z_net"] - signal["z_lr"]
    q16, q50, q84 = np.percentile(delta, [16, 50, 84])
    strong = signal["z_lr"] >= 3
    located = np.abs(signal["arg_net"] - signal["center"]) <= 1
    located_lr = np.abs(signal["arg_lr"] - signal["center"]) <= 1
    bkg_net = background_only["z_net"]
    bkg_lr = background_only["z_lr"]
    return {
        "signal_histograms": int(delta.size),
        "delta_z_max_median": round(float(q50), 4),
        "delta_z_max_half_width_16_84": round(float(0.5 * (q84 - q16)), 4),
        "location_within_1_bin_z_lr_ge_3": round(float(np.mean(located[strong])), 4),
        "location_within_1_bin_z_lr_ge_3_lr": round(
            float(np.mean(located_lr[strong])), 4
        ),
        "background_only_histograms": int(bkg_net.size),
        "fraction_z_max_gt_5": float(np.mean(bkg_net > 5)),
        "fraction_z_max_gt_5_lr": float(np.mean(bkg_lr > 5)),
        "mean_z_max_background_only": round(float(np.mean(bkg_net)), 4),
        "mean_z_max_background_only_lr": round(float(np.mean(bkg_lr)), 4),
    }


def validate_model(
    path: str | Path,
    n_signal: int = 2000,
    n_background_only: int = 5000,
    seed: int = VALIDATION_SEED,
) -> dict:
    """Return the validation figures of the model at ``path``.

    Signal histograms carry one Gaussian with Asimov Z uniform in [1, 8];
    background-only histograms carry none. Both use the training families.
    """
    module, _ = load_torchscript(path)
    config = SyntheticConfig(z_range=(1.0, 8.0), signal_fraction=1.0)
    signal = collect(module, n_signal, config, seed)
    background_only = collect(
        module, n_background_only, replace(config, signal_fraction=0.0), seed + 1
    )
    figures = summarize(signal, background_only)
    logger.info("validation: %s", figures)
    return figures
