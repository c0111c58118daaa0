"""Training of the BumpNet background estimator on synthetic histograms.

``bumpnet train --out DIR`` runs :func:`train`; the same seed and settings give
the same model on the same torch version and CPU. Data are generated on the fly
(see :mod:`bumpnet_root.synthetic`), one number of bins per step.

Loss: smooth-L1 per bin between Z computed with the estimated background and
the label Z computed with the true background; a smaller smooth-L1 on the
background pull (b_hat - b) / sqrt(b + 1), which keeps the estimate honest in
bins where Z is insensitive to it; and two terms per histogram on what a scan
reports: the largest Z of the histogram against the label's largest Z, and Z
in the bin where the label peaks. Signal bins are a few out of a hundred, so
without the last two the loss barely notices a network that absorbs part of
a bump into its background.

Options that the shipped model does not use (their defaults reproduce it;
docs/validation.md reports a run with them): ``edge_weight`` weighs the
per-bin terms of the bins next to either end of the histogram up,
``log_uniform_bins`` draws the number of bins per step log-uniformly so that
short histograms get a larger share of the steps, ``strong_fraction`` and
``second_signal_fraction`` add strong and second signals to the training data,
``gp_min_scale_bins`` keeps the slope changes of the Gaussian-process
backgrounds at least that many bins long, ``signal_margin_bins`` keeps signal
centres that many bins away from either end (see
:class:`bumpnet_root.synthetic.SyntheticConfig`), and ``over_weight`` adds the
squared excess of each histogram's largest Z over the label's largest Z to the
loss.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._version import __version__
from .export import save_torchscript
from .model import BumpNetModule, count_parameters, likelihood_ratio_z
from .synthetic import SyntheticConfig, generate_batch
from .validation import validate_model

logger = logging.getLogger(__name__)

# Template reach used for the training loss; uniform bins need no more than
# 6 sigma (lost probability 2e-9), and a shorter window is faster.
_TRAINING_REACH = 6
# sqrt(q0) has an infinite derivative at q0 = 0; the training loss compares
# sqrt(q0 + eps) - sqrt(eps) instead (see likelihood_ratio_z).
_Z_SMOOTHING = 0.05


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of one training run; stored in the model card."""

    steps: int = 10000
    batch_size: int = 256
    min_bins: int = 30
    max_bins: int = 150
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    pull_weight: float = 0.3
    max_weight: float = 1.0
    peak_weight: float = 0.3
    edge_weight: float = 0.0
    log_uniform_bins: bool = False
    wide_fraction: float = 0.15
    strong_fraction: float = 0.0
    second_signal_fraction: float = 0.0
    gp_min_scale_bins: float = 0.0
    signal_margin_bins: float = 0.0
    over_weight: float = 0.0
    channels: int = 32
    seed: int = 20261204
    threads: int = 2
    checkpoint_every: int = 500
    validation_histograms: int = 2000
    background_only_histograms: int = 5000
    # Stop after this many steps while keeping the learning-rate schedule
    # planned for ``steps``; None runs all ``steps``.
    stop_after: int | None = None


def _learning_rate(config: TrainingConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 1e-5 + 0.5 * (config.learning_rate - 1e-5) * (
        1 + math.cos(math.pi * progress)
    )


def training_loss(
    module: BumpNetModule,
    counts: torch.Tensor,
    background: torch.Tensor,
    edges: torch.Tensor,
    pull_weight: float,
    max_weight: float = 0.0,
    peak_weight: float = 0.0,
    edge_weight: float = 0.0,
    over_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the loss of one batch and its parts as floats."""
    with torch.no_grad():
        z_true = likelihood_ratio_z(
            counts, background, edges, _TRAINING_REACH, smoothing=_Z_SMOOTHING
        )
    log_b = module.log_background(counts)
    estimate = (torch.exp(log_b) - 1.0).clamp(min=1e-3)
    z_pred = likelihood_ratio_z(
        counts, estimate, edges, _TRAINING_REACH, smoothing=_Z_SMOOTHING
    )
    pull = (estimate - background) / torch.sqrt(background + 1.0)
    if edge_weight > 0.0:
        weight = _edge_weights(counts.shape[1], edge_weight, counts.dtype)
        loss_z = _weighted_mean(
            F.smooth_l1_loss(z_pred, z_true, beta=1.0, reduction="none"), weight
        )
        loss_pull = _weighted_mean(
            F.smooth_l1_loss(pull, torch.zeros_like(pull), beta=1.0, reduction="none"),
            weight,
        )
    else:
        loss_z = F.smooth_l1_loss(z_pred, z_true, beta=1.0)
        loss_pull = F.smooth_l1_loss(pull, torch.zeros_like(pull), beta=1.0)
    z_max_true, peak = z_true.max(dim=1)
    z_max_pred = z_pred.max(dim=1).values
    loss_max = F.smooth_l1_loss(z_max_pred, z_max_true, beta=1.0)
    # Squared excess of the largest Z over the label's: false maxima, the
    # source of false positives, cost more than maxima that fall short.
    loss_over = torch.relu(z_max_pred - z_max_true).square().mean()
    at_peak = z_pred.gather(1, peak[:, None])[:, 0]
    loss_peak = F.smooth_l1_loss(at_peak, z_max_true, beta=1.0)
    loss = (
        loss_z
        + pull_weight * loss_pull
        + max_weight * loss_max
        + peak_weight * loss_peak
        + over_weight * loss_over
    )
    parts = {
        "loss_z": float(loss_z.detach()),
        "loss_pull": float(loss_pull.detach()),
        "loss_max": float(loss_max.detach()),
        "loss_peak": float(loss_peak.detach()),
        "loss_over": float(loss_over.detach()),
    }
    return loss, parts


def _edge_weights(n_bins: int, edge_weight: float, dtype: torch.dtype) -> torch.Tensor:
    """Per-bin loss weights 1 + edge_weight exp(-d / 2), d bins from the nearer end."""
    index = torch.arange(n_bins, dtype=dtype)
    distance = torch.minimum(index, n_bins - 1 - index)
    return 1.0 + edge_weight * torch.exp(-0.5 * distance)


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / (weight.sum() * values.shape[0])


def draw_bins(rng: np.random.Generator, config: TrainingConfig) -> int:
    """Draw the number of bins of one step in [min_bins, max_bins].

    Uniform, or log-uniform with ``config.log_uniform_bins``.
    """
    if not config.log_uniform_bins:
        return int(rng.integers(config.min_bins, config.max_bins + 1))
    low, high = math.log(config.min_bins), math.log(config.max_bins + 1)
    return min(int(math.exp(rng.uniform(low, high))), config.max_bins)


def synthetic_config(config: TrainingConfig) -> SyntheticConfig:
    """Return the data settings of a training run."""
    return SyntheticConfig(
        wide_fraction=config.wide_fraction,
        strong_fraction=config.strong_fraction,
        second_signal_fraction=config.second_signal_fraction,
        gp_min_scale_bins=config.gp_min_scale_bins,
        signal_margin_bins=config.signal_margin_bins,
    )


def train(
    config: TrainingConfig,
    out_dir: str | Path,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    resume: bool = False,
) -> dict:
    """Train a model, write ``model.pt`` and its model card into ``out_dir``.

    ``progress(step, metrics)`` is called after every step (the command line
    draws a progress bar with it). Checkpoints go to ``out_dir/checkpoints``;
    with ``resume`` the newest one is loaded and training continues from it.
    Returns the model card as a dict.
    """
    out_dir = Path(out_dir)
    checkpoint_dir = out_dir / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    module = BumpNetModule(channels=config.channels)
    optimizer = torch.optim.AdamW(
        module.parameters(),
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    start_step = 0
    if resume:
        start_step = _load_latest_checkpoint(checkpoint_dir, module, optimizer)
    logger.info(
        "training %d parameters for %d steps of %d histograms (seed %d)",
        count_parameters(module),
        config.steps,
        config.batch_size,
        config.seed,
    )
    started = time.perf_counter()
    last_step = config.steps if config.stop_after is None else config.stop_after
    last_step = min(last_step, config.steps)
    data = synthetic_config(config)
    for step in range(start_step, last_step):
        # One generator per step makes a resumed run draw the same data.
        rng = np.random.default_rng([config.seed, step])
        batch = generate_batch(rng, config.batch_size, draw_bins(rng, config), data)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        loss, parts = training_loss(
            module,
            torch.from_numpy(batch.counts),
            torch.from_numpy(batch.background),
            torch.from_numpy(batch.edges),
            config.pull_weight,
            config.max_weight,
            config.peak_weight,
            config.edge_weight,
            config.over_weight,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        parts["loss"] = float(loss.detach())
        if progress is not None:
            progress(step, parts)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == last_step:
            _save_checkpoint(checkpoint_dir, step + 1, module, optimizer)
            logger.info("step %d: loss %.4f", step + 1, parts["loss"])
    training_seconds = time.perf_counter() - started
    module.eval()
    metadata = {
        "bumpnet_root_version": __version__,
        "torch_version": torch.__version__,
        "training": dataclasses.asdict(config),
        "training_seconds": round(training_seconds, 1),
        "parameters": count_parameters(module),
        "architecture": {"channels": config.channels},
    }
    model_path = out_dir / "model.pt"
    save_torchscript(module, model_path, metadata)
    logger.info("validating %s", model_path)
    metadata["validation"] = validate_model(
        model_path,
        n_signal=config.validation_histograms,
        n_background_only=config.background_only_histograms,
    )
    save_torchscript(module, model_path, metadata)
    (out_dir / "model_card.json").write_text(json.dumps(metadata, indent=2) + "\n")
    (out_dir / "model_card.md").write_text(model_card_markdown(metadata))
    return metadata


def model_card_markdown(metadata: dict) -> str:
    """Render the model card (training settings and validation figures)."""
    training = metadata["training"]
    figures = metadata.get("validation", {})
    run_steps = min(training["steps"], training.get("stop_after") or training["steps"])
    seen = run_steps * training["batch_size"]
    command = metadata.get("command", "bumpnet train --out DIR")
    lines = [
        "# BumpNet model card",
        "",
        f"Produced by `{command}` with the settings below "
        f"(bumpnet-root {metadata['bumpnet_root_version']}, "
        f"torch {metadata['torch_version']}).",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {value} |" for key, value in training.items()]
    lines += [
        f"| histograms seen | {seen:,} ({run_steps} steps of "
        f"{training['batch_size']}, generated on the fly) |",
        f"| trainable parameters | {metadata['parameters']:,} |",
        f"| training time | {metadata['training_seconds'] / 60:.1f} min on "
        f"{training['threads']} CPU threads |",
    ]
    if "training_seconds_note" in metadata:
        lines.append(f"| note on the time | {metadata['training_seconds_note']} |")
    lines += [
        "",
        "## Validation",
        "",
        "Fresh histograms from the training families (uniform bins, 30-150 bins, "
        "Asimov Z of the injected signal uniform in [1, 8]); the reference is "
        "Z_LR, the likelihood ratio with the true background.",
        "",
        "| figure | BumpNet | Z_LR |",
        "| --- | --- | --- |",
    ]
    if figures:
        lines += [
            "| median of Delta Z_max = Z_max(BumpNet) - Z_max(LR) | "
            f"{figures['delta_z_max_median']:+.3f} | 0 |",
            "| half-width of the 16-84 % interval of Delta Z_max | "
            f"{figures['delta_z_max_half_width_16_84']:.3f} | 0 |",
            "| Z_max within 1 bin of the signal (Z_max(LR) >= 3) | "
            f"{figures['location_within_1_bin_z_lr_ge_3']:.3f} | "
            f"{figures['location_within_1_bin_z_lr_ge_3_lr']:.3f} |",
            "| background-only histograms with Z_max > 5 | "
            f"{100 * figures['fraction_z_max_gt_5']:.3f} % | "
            f"{100 * figures['fraction_z_max_gt_5_lr']:.3f} % |",
            "| mean Z_max on background-only histograms | "
            f"{figures['mean_z_max_background_only']:.3f} | "
            f"{figures['mean_z_max_background_only_lr']:.3f} |",
            "",
            f"{figures['signal_histograms']:,} signal and "
            f"{figures['background_only_histograms']:,} background-only histograms.",
        ]
    return "\n".join(lines) + "\n"


def _save_checkpoint(
    directory: Path, step: int, module: torch.nn.Module, optimizer
) -> None:
    path = directory / f"step_{step:07d}.pt"
    temporary = path.with_suffix(".tmp")
    torch.save(
        {
            "step": step,
            "model": module.state_dict(),
            "optimizer": optimizer.state_dict(),
        },
        temporary,
    )
    temporary.replace(path)


def _load_latest_checkpoint(directory: Path, module: torch.nn.Module, optimizer) -> int:
    checkpoints = sorted(directory.glob("step_*.pt"))
    if not checkpoints:
        logger.info("no checkpoint in %s, starting from scratch", directory)
        return 0
    state = torch.load(checkpoints[-1], weights_only=True)
    module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    logger.info("resuming from %s", checkpoints[-1])
    return int(state["step"])


__all__ = ["SyntheticConfig", "TrainingConfig", "train", "training_loss"]
