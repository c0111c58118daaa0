"""Z_max of background-only histograms per number of bins, network against LR.

For each model file and each number of bins, draws background-only histograms
from the training families and prints the fraction with Z_max > 4, the mean
Z_max and the share of those maxima that sit in the first or last two bins,
for the network and for the likelihood ratio with the true background.

    python bench/background_only_by_bins.py bumpnet_root/models/default.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bumpnet_root.export import load_torchscript
from bumpnet_root.model import likelihood_ratio_z
from bumpnet_root.synthetic import SyntheticConfig, generate_batch


def z_max_per_histogram(module, n_bins: int, batches: int, seed: int):
    """Return (network Z_max, network argmax, LR Z_max) of background-only draws."""
    rng = np.random.default_rng(seed)
    config = SyntheticConfig(signal_fraction=0.0)
    network, position, reference = [], [], []
    for _ in range(batches):
        batch = generate_batch(rng, 500, n_bins, config)
        counts = torch.from_numpy(batch.counts)
        edges = torch.from_numpy(batch.edges)
        with torch.inference_mode():
            z, _ = module(counts, edges)
            z_lr = likelihood_ratio_z(counts, torch.from_numpy(batch.background), edges)
        network.append(z.numpy().max(axis=1))
        position.append(z.numpy().argmax(axis=1))
        reference.append(z_lr.numpy().max(axis=1))
    return np.concatenate(network), np.concatenate(position), np.concatenate(reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="TorchScript model files")
    parser.add_argument("--bins", type=int, nargs="+", default=[30, 60, 120])
    parser.add_argument(
        "--batches",
        type=int,
        default=8,
        help="batches of 500 histograms per number of bins",
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'model':40s} {'bins':>5s} {'P(Z>4) net':>10s} {'P(Z>4) LR':>9s} "
        f"{'<Zmax> net':>10s} {'<Zmax> LR':>9s} {'edge share':>10s}"
    )
    for path in args.models:
        module, _ = load_torchscript(path)
        for n_bins in args.bins:
            network, position, reference = z_max_per_histogram(
                module, n_bins, args.batches, args.seed
            )
            high = network > 4
            edge = (position[high] <= 1) | (position[high] >= n_bins - 2)
            edge_share = float(np.mean(edge)) if high.any() else 0.0
            print(
                f"{path[-40:]:40s} {n_bins:5d} {100 * np.mean(high):9.2f}% "
                f"{100 * np.mean(reference > 4):8.2f}% {np.mean(network):10.3f} "
                f"{np.mean(reference):9.3f} {edge_share:10.2f}"
            )


if __name__ == "__main__":
    main()
