"""Compare models on the same validation histograms, one line per model and set.

For each model file: Delta Z_max = Z_max(BumpNet) - Z_max(LR with the true
background) on signal histograms (median and half-width of the 16-84 %
interval), the fraction of those with Z_max(LR) >= 3 whose maximum lies within
one bin of the signal, and on background-only histograms the fractions with
Z_max above 4 and 5 and the mean Z_max, next to the LR's. Two sets: the
training families (uniform bins) and the held-out dijet family (resolution
bins). Every model sees the same histograms.

    python bench/compare_models.py bumpnet_root/models/default.pt DIR/model.pt
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

import numpy as np
import torch

from bumpnet_root.export import load_torchscript
from bumpnet_root.holdout import HoldoutConfig, generate_holdout
from bumpnet_root.synthetic import SyntheticConfig
from bumpnet_root.validation import collect

SETS = {
    "training families": (
        SyntheticConfig(z_range=(1.0, 8.0), signal_fraction=1.0),
        None,
    ),
    "dijet, resolution bins": (HoldoutConfig(), generate_holdout),
}


def figure_lines(module, n_signal: int, n_background: int, seed: int) -> list[str]:
    lines = []
    for name, (config, generator) in SETS.items():
        kwargs = {} if generator is None else {"generator": generator}
        signal = collect(module, n_signal, config, seed, **kwargs)
        background = collect(
            module,
            n_background,
            replace(config, signal_fraction=0.0),
            seed + 1,
            **kwargs,
        )
        delta = signal["z_net"] - signal["z_lr"]
        q16, q50, q84 = np.percentile(delta, [16, 50, 84])
        strong = signal["z_lr"] >= 3
        located = np.mean(np.abs(signal["arg_net"] - signal["center"])[strong] <= 1)
        z_net, z_lr = background["z_net"], background["z_lr"]
        above_4 = (
            f"{100 * np.mean(z_net > 4):.2f} % (LR {100 * np.mean(z_lr > 4):.2f} %)"
        )
        above_5 = (
            f"{100 * np.mean(z_net > 5):.3f} % (LR {100 * np.mean(z_lr > 5):.3f} %)"
        )
        lines.append(
            f"  {name:23s} median {q50:+.3f}, half-width {(q84 - q16) / 2:.3f}, "
            f"located {located:.3f} | background only: Z_max > 4 {above_4}, "
            f"> 5 {above_5}, mean {z_net.mean():.3f} (LR {z_lr.mean():.3f})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="TorchScript model files")
    parser.add_argument("--signal", type=int, default=2000, help="per set")
    parser.add_argument("--background-only", type=int, default=8000, help="per set")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    print(
        f"{args.signal} signal and {args.background_only} background-only "
        f"histograms per set, seed {args.seed}"
    )
    for path in args.models:
        module, _ = load_torchscript(path)
        print(path)
        for line in figure_lines(module, args.signal, args.background_only, args.seed):
            print(line)


if __name__ == "__main__":
    main()
