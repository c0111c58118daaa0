"""Time the RooFit cross-check on the bundled spectra.

Run from the repository root:

    python bench/crosscheck_timing.py [--repeat N] [--limits]

For each spectrum it prints the number of bins, the chosen background
function, Z_LR max and the wall time of ``fit_background`` alone, of a
``crosscheck`` scan over every bin centre and, with ``--limits``, of that scan
with upper limits. The first call also pays for loading ROOT and RooFit, which
is timed separately. Times are the minimum over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from functools import partial
from pathlib import Path

from bumpnet_root.adapters import read_csv_histogram
from bumpnet_root.crosscheck import crosscheck, fit_background
from bumpnet_root.crosscheck._roofit import load_root

DATA = Path(__file__).resolve().parents[1] / "bumpnet_root" / "data" / "csv"
# sqrt(s) in GeV of each spectrum, for the dijet function.
SPECTRA = {
    "atlas_dijet_37fb": 13000.0,
    "atlas_dijet_139fb": 13000.0,
    "cms_dijet_137fb": 13000.0,
    "atlas_diphoton_2015": 13000.0,
    "atlas_hgg_2012": 8000.0,
}


def best_time(function, repeat: int) -> tuple[float, object]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing")
    parser.add_argument(
        "--limits", action="store_true", help="also time the scan with upper limits"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    load_root()
    print(f"python {platform.python_version()}, {platform.processor() or 'cpu'}")
    print(f"import ROOT: {time.perf_counter() - started:.2f} s")
    header = f"{'spectrum':22s} {'bins':>4s} {'function':>11s} {'Z_LR max':>8s}"
    header += f" {'fit [s]':>8s} {'scan [s]':>8s}"
    if args.limits:
        header += f" {'limits [s]':>10s}"
    print(header)
    for name, sqrt_s in SPECTRA.items():
        hist = read_csv_histogram(DATA / f"{name}.csv")
        fit_time, _ = best_time(
            partial(fit_background, hist, sqrt_s=sqrt_s), args.repeat
        )
        scan_time, result = best_time(
            partial(crosscheck, hist, sqrt_s=sqrt_s), args.repeat
        )
        line = f"{name:22s} {hist.n_bins:4d} {result.background_function:>11s}"
        line += f" {result.z_lr_max:8.2f} {fit_time:8.2f} {scan_time:8.2f}"
        if args.limits:
            limit_time, _ = best_time(
                partial(crosscheck, hist, sqrt_s=sqrt_s, limits=True), 1
            )
            line += f" {limit_time:10.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
