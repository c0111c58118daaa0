"""How close can a background taken from the data come to the true one?

Delta Z_max = Z_max - Z_max(LR with the true background) on the held-out
dijet histograms (resolution bins) of ``bench/validate_bumpnet.py``, for three
backgrounds:

* BumpNet's estimate;
* a fit of the true family (the dijet function, 4 parameters, Poisson
  likelihood) to the whole histogram, signal included;
* the same fit with the bins within 3 sigma of the injected signal left out,
  a sideband fit given the signal position.

The last one is given the family and the signal position, which no search
has. Its spread therefore estimates the smallest spread that a background
taken from the data reaches on these histograms. It is an estimate, because
a joint fit of signal and background would use the signal bins a little.
Background-only histograms give the rates of Z_max above 4 and 5.

    python bench/background_fit_floor.py --signal 1000 --background-only 1000
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace

import numpy as np
import torch
from scipy.optimize import minimize

from bumpnet_root.api import DEFAULT_MODEL_PATH
from bumpnet_root.export import load_torchscript
from bumpnet_root.holdout import SQRT_S, HoldoutConfig, generate_holdout
from bumpnet_root.model import likelihood_ratio_z

# Starting values of the dijet shape parameters p1, p2 and p3. The fit keeps
# the best of the three.
STARTS = ((10.0, 5.0, 0.0), (7.0, 4.0, -0.2), (13.0, 6.0, 0.2))
BATCH = 100


def dijet_fit(counts: np.ndarray, edges: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Fit the dijet function to the bins where ``keep`` and return its background.

    The normalisation is profiled, so the fitted background sums to the kept
    counts over the kept bins. Each bin integrates the density with Simpson's
    rule, as the generator does.
    """
    points = np.stack([edges[:-1], 0.5 * (edges[1:] + edges[:-1]), edges[1:]])
    x = points / SQRT_S
    log_x = np.log(x)
    basis = np.stack([np.log1p(-x), -log_x, -log_x * log_x])
    widths = np.diff(edges)
    observed = counts[keep]

    def shape(params: np.ndarray) -> np.ndarray:
        log_density = np.tensordot(params, basis, 1)
        density = np.exp(log_density - log_density.max())
        return (density[0] + 4.0 * density[1] + density[2]) * widths / 6.0

    def negative_log_likelihood(params: np.ndarray) -> float:
        kept = shape(params)[keep]
        expected = np.maximum(kept * observed.sum() / kept.sum(), 1e-300)
        return float((expected - observed * np.log(expected)).sum())

    best = None
    for start in STARTS:
        result = minimize(
            negative_log_likelihood,
            np.array(start),
            method="Nelder-Mead",
            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000},
        )
        result = minimize(negative_log_likelihood, result.x, method="BFGS")
        if best is None or result.fun < best.fun:
            best = result
    fitted = shape(best.x)
    return fitted * observed.sum() / fitted[keep].sum()


def z_per_bin(counts: np.ndarray, background: np.ndarray, edges: np.ndarray):
    z = likelihood_ratio_z(
        torch.from_numpy(counts[None]),
        torch.from_numpy(np.maximum(background, 1e-9)[None]),
        torch.from_numpy(edges[None]),
    )
    return z.numpy()[0]


def collect(module, rng, size: int, config: HoldoutConfig) -> dict[str, np.ndarray]:
    keys = ("lr", "net", "fit", "sideband", "z_asimov")
    out: dict[str, list] = {key: [] for key in keys}
    for first in range(0, size, BATCH):
        n_bins = int(rng.integers(*config.bins, endpoint=True))
        batch = generate_holdout(rng, min(BATCH, size - first), n_bins, config)
        with torch.inference_mode():
            z_net, _ = module(
                torch.from_numpy(batch.counts), torch.from_numpy(batch.edges)
            )
        z_net = z_net.numpy()
        for row in range(batch.counts.shape[0]):
            counts, edges = batch.counts[row], batch.edges[row]
            out["lr"].append(z_per_bin(counts, batch.background[row], edges).max())
            out["net"].append(z_net[row].max())
            everything = np.ones(n_bins, dtype=bool)
            fitted = dijet_fit(counts, edges, everything)
            out["fit"].append(z_per_bin(counts, fitted, edges).max())
            sideband = np.nan
            if np.isfinite(batch.signal_center[row]):
                centers = 0.5 * (edges[1:] + edges[:-1])
                distance = np.abs(centers - batch.signal_center[row])
                keep = distance > 3.0 * batch.signal_sigma[row]
                if keep.sum() >= 10:
                    fitted = dijet_fit(counts, edges, keep)
                    sideband = z_per_bin(counts, fitted, edges).max()
            out["sideband"].append(sideband)
            out["z_asimov"].append(batch.z_asimov[row])
    return {key: np.asarray(value) for key, value in out.items()}


def interval(delta: np.ndarray) -> str:
    delta = delta[np.isfinite(delta)]
    q16, q50, q84 = np.percentile(delta, [16, 50, 84])
    return f"median {q50:+.3f}, half-width {(q84 - q16) / 2:.3f} ({delta.size})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=str(DEFAULT_MODEL_PATH), help="TorchScript model file"
    )
    parser.add_argument(
        "--signal", type=int, default=1000, help="held-out histograms with a signal"
    )
    parser.add_argument(
        "--background-only",
        type=int,
        default=1000,
        help="held-out histograms without signal",
    )
    parser.add_argument(
        "--seed", type=int, default=5, help="seed of the generated histograms"
    )
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    module, _ = load_torchscript(args.model)
    rng = np.random.default_rng(args.seed)
    config = HoldoutConfig()
    started = time.perf_counter()
    signal = collect(module, rng, args.signal, config)
    background = collect(
        module, rng, args.background_only, replace(config, signal_fraction=0.0)
    )
    print(f"model {args.model}; {time.perf_counter() - started:.0f} s")

    print("Delta Z_max against the LR with the true background, signal histograms:")
    labels = {
        "net": "BumpNet",
        "fit": "dijet fit, all bins",
        "sideband": "dijet fit, signal window left out",
    }
    for key, label in labels.items():
        print(f"  {label:34s} {interval(signal[key] - signal['lr'])}")

    print("per injected Asimov Z (BumpNet | sideband fit):")
    for low in range(1, 8):
        mask = (signal["z_asimov"] >= low) & (signal["z_asimov"] < low + 1)
        print(
            f"  [{low}, {low + 1}): "
            f"{interval(signal['net'][mask] - signal['lr'][mask])} | "
            f"{interval(signal['sideband'][mask] - signal['lr'][mask])}"
        )

    print("background-only histograms:")
    for key, label in (("lr", "LR, true background"), *labels.items()):
        if key == "sideband":
            continue
        values = background[key]
        print(
            f"  {label:34s} mean Z_max {values.mean():.3f}, "
            f"Z_max > 4 {100 * np.mean(values > 4):.2f} %, "
            f"Z_max > 5 {100 * np.mean(values > 5):.2f} % ({values.size})"
        )


if __name__ == "__main__":
    main()
