"""Measure how often BumpNet finds Z > 3 in background-only spectra per count level.

The shape is the ATLAS fit to the 139 fb^-1 dijet spectrum (the ``atlas_fit``
column of bumpnet_root/data/csv/atlas_dijet_139fb.csv, 91 bins), scaled so that
its highest bin expects PEAK events, and Poisson-fluctuated. Every bin is
scanned (``domain="full"``), so the count limit of domain.py does not act.

    python bench/out_of_domain_counts.py [--toys 60] [--seed 0]

The rate rises above the training range (domain.MAX_TRAINED_COUNTS).
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

from bumpnet_root.api import BumpNet
from bumpnet_root.histogram import Hist1D
from bumpnet_root.resources import data_path

PEAKS = (1e4, 1e5, 3e5, 5e5, 7e5, 1e6, 2e6, 4e6)


def fit_shape() -> tuple[np.ndarray, np.ndarray]:
    """Return the edges and the ATLAS fit of the 139 fb^-1 dijet spectrum."""
    with open(data_path("csv/atlas_dijet_139fb.csv"), newline="") as stream:
        rows = list(csv.DictReader(stream))
    low = np.array([float(row["low_edge"]) for row in rows])
    high = np.array([float(row["high_edge"]) for row in rows])
    fit = np.array([float(row["atlas_fit"]) for row in rows])
    return np.append(low, high[-1]), fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toys", type=int, default=60, help="spectra per level")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args()

    net = BumpNet.load()
    edges, fit = fit_shape()
    rng = np.random.default_rng(args.seed)
    print(f"{'peak':>8}  {'median Z_max':>12}  {'fraction Z_max > 3':>18}")
    for peak in PEAKS:
        expected = fit / fit.max() * peak
        spectra = [
            Hist1D(edges, rng.poisson(expected).astype(float)) for _ in range(args.toys)
        ]
        z_max = np.array([p.z_max for p in net.evaluate(spectra, domain="full")])
        print(f"{peak:>8.0e}  {np.median(z_max):>12.2f}  {np.mean(z_max > 3):>18.2f}")


if __name__ == "__main__":
    main()
