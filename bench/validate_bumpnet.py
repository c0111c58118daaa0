"""Validation benchmark: BumpNet against the ideal likelihood ratio.

Prints Delta Z_max = Z_max(BumpNet) - Z_max(LR with the true background), the
location accuracy and the false-positive rate on background-only histograms,
for the training families and for held-out families (the dijet function and
resolution-based variable binning), then BumpNet next to a RooFit likelihood
ratio on the bundled real spectra. Draws the plots into --out.

    python bench/validate_bumpnet.py --out docs/validation
    python bench/validate_bumpnet.py --quick          # a few minutes, fewer histograms
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bumpnet_root.api import DEFAULT_MODEL_PATH, BumpNet
from bumpnet_root.export import load_torchscript
from bumpnet_root.holdout import HoldoutConfig, generate_holdout
from bumpnet_root.synthetic import SyntheticConfig
from bumpnet_root.validation import collect

# Template widths (sigma in bins) besides 1 for the best-width figures.
WIDTHS = (2.0, 3.0)

REAL_SPECTRA = (
    ("atlas_hgg_2012", "excess near 126.5 GeV (ATLAS: 4.5 sigma local, 10 categories)"),
    ("atlas_diphoton_2015", "excess near 750 GeV (ATLAS: 3.9 sigma local)"),
    ("atlas_dijet_37fb", "no significant excess"),
    ("atlas_dijet_139fb", "no significant excess"),
    ("cms_dijet_137fb", "no significant excess"),
)


def figures(signal: dict, background_only: dict | None) -> dict:
    delta = signal["z_net"] - signal["z_lr"]
    q16, q50, q84 = np.percentile(delta, [16, 50, 84])
    strong = signal["z_lr"] >= 3
    located = np.abs(signal["arg_net"] - signal["center"]) <= 1
    row = {
        "n": delta.size,
        "median": q50,
        "half_width": 0.5 * (q84 - q16),
        "located": float(np.mean(located[strong])) if np.any(strong) else np.nan,
    }
    if background_only is not None:
        row["fp_net"] = float(np.mean(background_only["z_net"] > 5))
        row["fp_lr"] = float(np.mean(background_only["z_lr"] > 5))
        row["mean_net"] = float(np.mean(background_only["z_net"]))
        row["mean_lr"] = float(np.mean(background_only["z_lr"]))
        row["n_bkg"] = background_only["z_net"].size
    return row


def binned_delta(ax, x, delta, bins, label, log=False):
    centers, medians, lows, highs = [], [], [], []
    for low, high in zip(bins[:-1], bins[1:]):
        mask = (x >= low) & (x < high)
        if mask.sum() < 20:
            continue
        q16, q50, q84 = np.percentile(delta[mask], [16, 50, 84])
        centers.append(np.sqrt(low * high) if log else 0.5 * (low + high))
        medians.append(q50)
        lows.append(q16)
        highs.append(q84)
    ax.plot(centers, medians, "o-", label=label)
    ax.fill_between(centers, lows, highs, alpha=0.2)
    if log:
        ax.set_xscale("log")


def draw(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True)
    for name, (signal, _) in results.items():
        if name.startswith("wide"):
            continue
        delta = signal["z_net"] - signal["z_lr"]
        binned_delta(axes[0], signal["z_asimov"], delta, np.arange(1, 8.5, 0.5), name)
        binned_delta(axes[1], signal["position"], delta, np.linspace(0, 1, 11), name)
        binned_delta(
            axes[2], signal["b_center"], delta, np.logspace(-1, 6, 15), name, log=True
        )
    axes[0].set_xlabel("injected Asimov $Z$")
    axes[1].set_xlabel("signal position (fraction of the mass range)")
    axes[2].set_xlabel("expected background in the signal bin")
    axes[0].set_ylabel(r"$\Delta Z_{max}$ = BumpNet - LR (median, 16-84 %)")
    for ax in axes:
        ax.axhline(0, color="black", lw=0.8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = out / "delta_z_max.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4))
    for ax, (name, (signal, _)) in zip(np.atleast_1d(axes), results.items()):
        ax.hist2d(
            signal["z_lr"], signal["z_net"], bins=60, range=[[0, 12], [0, 12]], cmin=1
        )
        ax.plot([0, 12], [0, 12], color="red", lw=0.8)
        ax.set_xlabel(r"$Z_{max}$ (LR, true background)")
        ax.set_ylabel(r"$Z_{max}$ (BumpNet)")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    path = out / "z_max_bumpnet_vs_lr.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def real_spectra(net: BumpNet) -> list[tuple]:
    from bumpnet_root.adapters import read_csv_histogram
    from bumpnet_root.crosscheck import crosscheck
    from bumpnet_root.resources import data_path

    rows = []
    for name, published in REAL_SPECTRA:
        h = read_csv_histogram(data_path(f"csv/{name}.csv"), name=name)
        prediction = net.evaluate([h])[0]
        try:
            result = crosscheck(h)
            lr = (result.z_lr_max, result.mass_at_z_lr_max, result.background_function)
        except Exception as error:  # a failed fit is reported, not fatal
            lr = (np.nan, np.nan, f"fit failed: {error}")
        rows.append((name, prediction.z_max, prediction.mass_at_z_max, *lr, published))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    parser.add_argument("--signal", type=int, default=5000, help="per set")
    parser.add_argument("--background-only", type=int, default=20000)
    parser.add_argument("--out", default="docs/validation")
    parser.add_argument("--quick", action="store_true", help="1,000 / 2,000 histograms")
    parser.add_argument("--seed", type=int, default=424242)
    args = parser.parse_args()
    if args.quick:
        args.signal, args.background_only = 1000, 2000
    warnings.simplefilter("ignore")
    module, metadata = load_torchscript(args.model)
    net = BumpNet.load(args.model)
    training = metadata.get("training", {})
    steps = training.get("stop_after") or training.get("steps")
    print(f"model {args.model} (trained {steps} steps)")

    train_config = SyntheticConfig(z_range=(1.0, 8.0), signal_fraction=1.0)
    holdout = HoldoutConfig()
    sets = {
        "training families, uniform bins": (train_config, None),
        "dijet, resolution bins": (holdout, generate_holdout),
        "dijet, uniform bins": (replace(holdout, binning="uniform"), generate_holdout),
        "wide (2-3 bins), dijet, resolution bins": (
            replace(holdout, width=(2.0, 3.0)),
            generate_holdout,
        ),
    }
    results = {}
    started = time.perf_counter()
    for offset, (name, (config, generator)) in enumerate(sets.items()):
        kwargs = {} if generator is None else {"generator": generator}
        kwargs["widths"] = WIDTHS
        signal = collect(module, args.signal, config, args.seed + 10 * offset, **kwargs)
        background_only = None
        if not name.startswith("wide"):
            n_bkg = args.background_only if "resolution" in name else args.signal
            background_only = collect(
                module,
                n_bkg,
                replace(config, signal_fraction=0.0),
                args.seed + 10 * offset + 1,
                **kwargs,
            )
        results[name] = (signal, background_only)
    elapsed = time.perf_counter() - started

    header = (
        f"{'set':42s} {'N':>6s} {'median dZ':>9s} {'16-84/2':>8s} {'loc<=1':>7s} "
        f"{'N bkg':>6s} {'P(Z>5) net':>10s} {'P(Z>5) LR':>9s} {'<Zmax> net':>10s} "
        f"{'<Zmax> LR':>9s}"
    )
    print(header)
    for name, (signal, background_only) in results.items():
        row = figures(signal, background_only)
        line = (
            f"{name:42s} {row['n']:6d} {row['median']:+9.3f} {row['half_width']:8.3f} "
            f"{row['located']:7.3f}"
        )
        if background_only is not None:
            line += (
                f" {row['n_bkg']:6d} {100 * row['fp_net']:9.3f}%"
                f" {100 * row['fp_lr']:8.3f}%"
                f" {row['mean_net']:10.3f} {row['mean_lr']:9.3f}"
            )
        print(line)
    print(f"(generation and evaluation took {elapsed:.0f} s)")

    print(
        "\nbest of template widths 1, 2 and 3 bins (Prediction.best_width_z), "
        "network and LR alike:"
    )
    for name, (signal, background_only) in results.items():
        delta = signal["z_net_best"] - signal["z_lr_best"]
        q16, q50, q84 = np.percentile(delta, [16, 50, 84])
        gain = np.median(signal["z_lr_best"] - signal["z_lr"])
        line = (
            f"  {name:42s} median dZ {q50:+.3f}, half-width {(q84 - q16) / 2:.3f}, "
            f"LR gain over width 1 {gain:+.3f}"
        )
        if background_only is not None:
            line += (
                f", P(Z>5) net {100 * np.mean(background_only['z_net_best'] > 5):.3f}%"
                f" LR {100 * np.mean(background_only['z_lr_best'] > 5):.3f}%"
            )
        print(line)

    # Figures per range of injected strength for the held-out set.
    signal, _ = results["dijet, resolution bins"]
    delta = signal["z_net"] - signal["z_lr"]
    print("\ndijet, resolution bins, per injected Asimov Z:")
    for low in range(1, 8):
        mask = (signal["z_asimov"] >= low) & (signal["z_asimov"] < low + 1)
        q16, q50, q84 = np.percentile(delta[mask], [16, 50, 84])
        half_width = (q84 - q16) / 2
        print(
            f"  Z_A in [{low}, {low + 1}): median {q50:+.3f}, "
            f"half-width {half_width:.3f}"
        )
    print("dijet, resolution bins, per expected background in the signal bin:")
    for low, high in ((0, 10), (10, 100), (100, 1e4), (1e4, 1e7)):
        mask = (signal["b_center"] >= low) & (signal["b_center"] < high)
        if mask.sum() < 20:
            continue
        q16, q50, q84 = np.percentile(delta[mask], [16, 50, 84])
        print(
            f"  b in [{low:g}, {high:g}): median {q50:+.3f}, "
            f"half-width {(q84 - q16) / 2:.3f} ({mask.sum()} histograms)"
        )

    paths = draw(results, Path(args.out))
    print("\nplots: " + ", ".join(str(p) for p in paths))

    print(
        "\nreal spectra: BumpNet next to a RooFit likelihood ratio (fitted background)"
    )
    print(
        f"{'spectrum':22s} {'Z_max net':>9s} {'mass':>8s} {'Z_max LR':>8s} "
        f"{'mass':>8s}  function; published"
    )
    for name, z_net, m_net, z_lr, m_lr, function, published in real_spectra(net):
        print(
            f"{name:22s} {z_net:9.2f} {m_net:8.1f} {z_lr:8.2f} {m_lr:8.1f}  "
            f"{function}; {published}"
        )


if __name__ == "__main__":
    main()
