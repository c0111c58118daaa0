"""Compare models on the same validation histograms, one line per model and set.

For each model file: Delta Z_max = Z_max(BumpNet) - Z_max(LR with the true
background) on signal histograms (median and half-width of the 16-84 %
interval), the fraction of those with Z_max(LR) >= 3 whose maximum lies within
one bin of the signal, and on background-only histograms the fractions with
Z_max above 4 and 5 and the mean Z_max, next to the LR's. Two sets: the
training families (uniform bins) and the held-out dijet family (resolution
bins). Every model is evaluated on the same histograms.

``--edges`` adds, for background-only histograms of the held-out set, where
the maxima above Z = 4 sit and the pull (b_hat - b) / sqrt(b) of the
background estimate in the first bins, per expected count in the first bin.

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


def edge_lines(module, batches: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    config = replace(HoldoutConfig(), signal_fraction=0.0)
    pulls, first_counts, high_positions = [], [], []
    for _ in range(batches):
        n_bins = int(rng.integers(*config.bins, endpoint=True))
        batch = generate_holdout(rng, 250, n_bins, config)
        counts = torch.from_numpy(batch.counts)
        edges = torch.from_numpy(batch.edges)
        with torch.inference_mode():
            z, estimate = module(counts, edges)
        z = z.numpy()
        pulls.append(
            (estimate.numpy()[:, :6] - batch.background[:, :6])
            / np.sqrt(batch.background[:, :6])
        )
        first_counts.append(batch.background[:, 0])
        high = z.max(axis=1) > 4
        position = z.argmax(axis=1)[high]
        high_positions += [(int(j), n_bins) for j in position]
    lines = []
    if high_positions:
        index = np.array([j for j, _ in high_positions])
        length = np.array([n for _, n in high_positions])
        at_ends = np.mean((index <= 1) | (index >= length - 2))
        first_tenth = np.mean(index < 0.1 * length)
        lines.append(
            f"  {len(index)} maxima above Z = 4 in {250 * batches} histograms: "
            f"{100 * at_ends:.0f} % in the first or last two bins, "
            f"{100 * first_tenth:.0f} % in the first tenth"
        )
    pull = np.concatenate(pulls)
    first = np.concatenate(first_counts)
    lines.append(
        "  pull (b_hat - b) / sqrt(b) in bins 0 to 5 (mean | standard deviation):"
    )
    for low, high in ((0, 1e2), (1e2, 1e3), (1e3, 1e4), (1e4, 1e5), (1e5, 1e7)):
        rows = (first >= low) & (first < high)
        if rows.sum() < 20:
            continue
        means = " ".join(f"{value:+.2f}" for value in pull[rows].mean(axis=0))
        spreads = " ".join(f"{value:.2f}" for value in pull[rows].std(axis=0))
        lines.append(
            f"    b in the first bin [{low:g}, {high:g}), {rows.sum()} histograms: "
            f"{means} | {spreads}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="TorchScript model files")
    parser.add_argument(
        "--signal",
        type=int,
        default=2000,
        help="signal histograms per set (training families, held-out dijet)",
    )
    parser.add_argument(
        "--background-only",
        type=int,
        default=8000,
        help="background-only histograms per set",
    )
    parser.add_argument(
        "--seed", type=int, default=4242, help="seed of the generated histograms"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--edges",
        action="store_true",
        help="add where false maxima sit and the pull in the first bins",
    )
    parser.add_argument(
        "--edge-batches",
        type=int,
        default=40,
        help="batches of 250 background-only histograms for --edges",
    )
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    print(
        f"{args.signal} signal and {args.background_only} background-only "
        f"histograms per set, seed {args.seed}. median and half-width: of "
        "Delta Z_max = Z_max(BumpNet) - Z_max(LR), the 50 % quantile and half the "
        "16-84 % interval; LR: likelihood ratio with the true background; "
        "located: share of signals with Z_max(LR) >= 3 whose Z_max lies within "
        "1 bin of the signal"
    )
    for path in args.models:
        module, _ = load_torchscript(path)
        print(path)
        for line in figure_lines(module, args.signal, args.background_only, args.seed):
            print(line)
        if args.edges:
            for line in edge_lines(module, args.edge_batches, args.seed + 2):
                print(line)


if __name__ == "__main__":
    main()
