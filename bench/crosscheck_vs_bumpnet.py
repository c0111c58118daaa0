"""Agreement and time of BumpNet and the RooFit cross-check on held-out spectra.

Run from the repository root (it takes minutes, so run it at low priority):

    nice -n 19 python bench/crosscheck_vs_bumpnet.py [--histograms 300] [--seed 11]

The histograms come from :mod:`bumpnet_root.holdout`: the dijet function with
resolution-like variable binning, a family the network is not trained on.
``--signal-fraction`` of them contain a Gaussian signal of known Asimov Z. For
every histogram, over the bins that BumpNet scans, the script computes

* Z_max of BumpNet,
* Z_max of the RooFit likelihood ratio with the background fitted by the
  dijet family (3 to 5 parameters, chosen by F-test), which is the code path
  of ``bumpnet crosscheck --families dijet``,
* Z_max of the likelihood ratio with the true background
  (``local_significance``),

and the wall time per histogram of BumpNet (one histogram per call, and all
in one batch) and of the RooFit cross-check. It prints the distribution of
Z_max(BumpNet) - Z_max(RooFit), the correlations and the time ratio, and
writes ``z_comparison.png``, ``z_truth.png`` and ``results.json`` into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bumpnet_root.api import BumpNet, Prediction
from bumpnet_root.crosscheck._roofit import load_root
from bumpnet_root.crosscheck.plotting import plot_z_comparison
from bumpnet_root.crosscheck.runner import (
    CrossCheckOptions,
    crosscheck_scan_result,
    quiet_roofit,
)
from bumpnet_root.histogram import Hist1D
from bumpnet_root.holdout import SQRT_S, HoldoutConfig, generate_holdout
from bumpnet_root.scan import ScanResult
from bumpnet_root.significance import local_significance


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--histograms", type=int, default=300, help="histograms in total"
    )
    parser.add_argument(
        "--bins",
        type=int,
        nargs="+",
        default=[40, 70, 100],
        help="bin counts; the histograms are split evenly among them",
    )
    parser.add_argument(
        "--signal-fraction",
        type=float,
        default=0.5,
        help="fraction of histograms with an injected signal",
    )
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads for BumpNet"
    )
    parser.add_argument("--model", type=Path, help="BumpNet model (default: shipped)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/crosscheck_vs_bumpnet"),
        help="directory for the plots and results.json",
    )
    return parser.parse_args()


def generate(args: argparse.Namespace) -> list[dict]:
    """Return the histograms with their truth, in a fixed order for the seed."""
    rng = np.random.default_rng(args.seed)
    config = HoldoutConfig(signal_fraction=args.signal_fraction)
    per_size = [args.histograms // len(args.bins)] * len(args.bins)
    per_size[0] += args.histograms - sum(per_size)
    samples = []
    for n_bins, size in zip(args.bins, per_size):
        batch = generate_holdout(rng, size, n_bins, config)
        for row in range(size):
            samples.append(
                {
                    "histogram": Hist1D(
                        batch.edges[row],
                        batch.counts[row],
                        name=f"holdout_{len(samples)}",
                    ),
                    "background": batch.background[row],
                    "z_injected": float(batch.z_asimov[row]),
                    "signal_center": float(batch.signal_center[row]),
                }
            )
    return samples


def time_bumpnet(model: BumpNet, histograms: list[Hist1D]) -> tuple[list, list, float]:
    """Evaluate one histogram per call; return predictions, times, batch time."""
    model.evaluate(histograms[:1])
    predictions, seconds = [], []
    for histogram in histograms:
        started = time.perf_counter()
        [prediction] = model.evaluate([histogram])
        seconds.append(time.perf_counter() - started)
        predictions.append(prediction)
    started = time.perf_counter()
    model.evaluate(histograms)
    return predictions, seconds, time.perf_counter() - started


def true_lr_z_max(sample: dict, prediction: Prediction) -> float:
    histogram = sample["histogram"]
    start, stop = prediction.domain.start, prediction.domain.stop
    z = local_significance(
        histogram.counts[start:stop],
        sample["background"][start:stop],
        histogram.edges[start : stop + 1],
    )
    return float(np.max(z))


def spread(values: np.ndarray) -> dict[str, float]:
    q16, q50, q84 = np.percentile(values, [16, 50, 84])
    return {"median": float(q50), "q16": float(q16), "q84": float(q84)}


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def summarise(rows: list[dict]) -> dict:
    z_net = np.array([row["z_bumpnet"] for row in rows])
    z_fit = np.array([row["z_roofit"] for row in rows])
    z_true = np.array([row["z_true"] for row in rows])
    signal = np.array([row["z_injected"] > 0 for row in rows])
    valid = np.isfinite(z_fit)
    summary: dict = {"histograms": len(rows), "roofit_failed": int(np.sum(~valid))}
    for label, subset in (
        ("all", valid),
        ("signal", valid & signal),
        ("background_only", valid & ~signal),
    ):
        if np.count_nonzero(subset) < 2:
            continue
        summary[label] = {
            "n": int(np.count_nonzero(subset)),
            "bumpnet_minus_roofit": spread(z_net[subset] - z_fit[subset]),
            "bumpnet_minus_true": spread(z_net[subset] - z_true[subset]),
            "roofit_minus_true": spread(z_fit[subset] - z_true[subset]),
            "correlation_bumpnet_roofit": correlation(z_net[subset], z_fit[subset]),
            "correlation_bumpnet_true": correlation(z_net[subset], z_true[subset]),
            "correlation_roofit_true": correlation(z_fit[subset], z_true[subset]),
        }
    return summary


def time_summary(rows: list[dict], batch_seconds: float) -> dict:
    net = np.array([row["seconds_bumpnet"] for row in rows])
    fit = np.array([row["seconds_roofit"] for row in rows])
    batched = batch_seconds / len(rows)
    return {
        "bumpnet_single_mean_s": float(np.mean(net)),
        "bumpnet_single_median_s": float(np.median(net)),
        "bumpnet_batched_per_histogram_s": batched,
        "roofit_mean_s": float(np.mean(fit)),
        "roofit_median_s": float(np.median(fit)),
        "roofit_max_s": float(np.max(fit)),
        "ratio_roofit_to_bumpnet_single": float(np.mean(fit) / np.mean(net)),
        "ratio_roofit_to_bumpnet_batched": float(np.mean(fit) / batched),
    }


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    root = load_root()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "root": str(root.gROOT.GetVersion()),
    }


def plot_truth(rows: list[dict], path: Path) -> None:
    z_true = np.array([row["z_true"] for row in rows])
    figure, axes = plt.subplots(1, 2, figsize=(12, 6), sharey=True)
    for ax, key, label in (
        (axes[0], "z_bumpnet", "BumpNet"),
        (axes[1], "z_roofit", "RooFit LR, dijet fit"),
    ):
        values = np.array([row[key] for row in rows])
        valid = np.isfinite(values)
        ax.scatter(z_true[valid], values[valid], s=8)
        high = float(np.nanmax([z_true.max(), np.nanmax(values)])) + 0.5
        ax.plot([0, high], [0, high], color="gray", linestyle="--")
        ax.set_xlabel(r"$Z_{max}$, LR with the true background")
        ax.set_title(label)
    axes[0].set_ylabel(r"$Z_{max}$")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    load_root()
    model = BumpNet.load(args.model)
    load_before = os.getloadavg()

    samples = generate(args)
    predictions, net_seconds, batch_seconds = time_bumpnet(
        model, [sample["histogram"] for sample in samples]
    )
    options = CrossCheckOptions(families=("dijet",), sqrt_s=SQRT_S)
    rows, checks, skipped = [], [], 0
    with quiet_roofit(verbose=False):
        for sample, prediction, seconds in zip(samples, predictions, net_seconds):
            if not isinstance(prediction, Prediction):
                skipped += 1
                continue
            histogram = sample["histogram"]
            scan = ScanResult(
                file="holdout",
                name=histogram.name,
                key=histogram.name,
                prediction=prediction,
                candidates=(),
            )
            started = time.perf_counter()
            check = crosscheck_scan_result(scan, options)
            roofit_seconds = time.perf_counter() - started
            checks.append(check)
            rows.append(
                {
                    "name": histogram.name,
                    "bins": histogram.n_bins,
                    "entries": float(histogram.counts.sum()),
                    "z_injected": sample["z_injected"],
                    "z_bumpnet": prediction.z_max,
                    "z_roofit": check.result.z_lr_max,
                    "z_true": true_lr_z_max(sample, prediction),
                    "function": check.result.background_function,
                    "fit_status": check.result.fit_status,
                    "seconds_bumpnet": seconds,
                    "seconds_roofit": roofit_seconds,
                }
            )
            print(
                f"{len(rows):4d} {histogram.n_bins:4d} bins  BumpNet "
                f"{prediction.z_max:6.2f}  RooFit {check.result.z_lr_max:6.2f}  "
                f"true {rows[-1]['z_true']:6.2f}  {roofit_seconds:5.2f} s",
                flush=True,
            )

    agreement = summarise(rows)
    timing = time_summary(rows, batch_seconds)
    record = {
        "command": "nice -n 19 python bench/crosscheck_vs_bumpnet.py "
        f"--histograms {args.histograms} --bins {' '.join(map(str, args.bins))} "
        f"--signal-fraction {args.signal_fraction} --seed {args.seed} "
        f"--threads {args.threads}",
        "model": {"path": str(model.path), "sha256": model.checksum},
        "machine": {
            **machine(),
            "load_average_1min_before": load_before[0],
            "load_average_1min_after": os.getloadavg()[0],
        },
        "skipped_by_bumpnet": skipped,
        "agreement": agreement,
        "time": timing,
        "histograms": rows,
    }
    (args.out / "results.json").write_text(
        json.dumps(record, indent=1, default=float) + "\n"
    )
    plot_z_comparison(
        [check.result for check in checks],
        [row["z_bumpnet"] for row in rows],
        args.out / "z_comparison.png",
    )
    plot_truth(rows, args.out / "z_truth.png")

    print(json.dumps({key: record[key] for key in ("command", "model", "machine")}))
    print(f"skipped by BumpNet's scan domain: {skipped}")
    print(json.dumps(agreement, indent=1))
    print(json.dumps(timing, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
