"""Time and memory of the scan domain, the network and local_significance on large
histograms.

    python bench/large_histograms.py [--bins 20000] [--threads 1]

Prints the wall time of scan_domain, BumpNet.predict and local_significance
for one falling spectrum with BINS equal bins, the peak of numpy's traced
allocations (tracemalloc) of scan_domain and local_significance, and the
process's peak resident memory. local_significance also runs on BINS narrow
bins plus one bin 1000 times wider, whose template reaches every bin.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch

from bumpnet_root.api import BumpNet
from bumpnet_root.domain import scan_domain
from bumpnet_root.histogram import Hist1D
from bumpnet_root.significance import local_significance


def measure(label: str, function, *args, **kwargs):
    """Run ``function`` and print its wall time and traced peak memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"{label:<44} {seconds:8.3f} s  {peak / 2**20:8.1f} MiB traced")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", type=int, default=20000, help="number of bins")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    edges = np.linspace(100.0, 5100.0, args.bins + 1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    expected = 50.0 * np.exp(-(centers - 100.0) / 1000.0)
    counts = np.random.default_rng(0).poisson(expected).astype(float)
    h = Hist1D(edges, counts, name="large")
    net = BumpNet.load()
    net.predict(Hist1D(edges[:101], counts[:100]), domain="full")

    measure(f"scan_domain, {args.bins} bins", scan_domain, h)
    # tracemalloc does not see torch's allocations, so only time counts here.
    z = measure(f"BumpNet.predict, {args.bins} bins", net.predict, h)
    assert np.all(np.isfinite(z))
    measure(
        f"local_significance, {args.bins} bins",
        local_significance,
        counts,
        expected,
        edges,
    )
    wide = np.concatenate([np.linspace(0.0, 1.0, args.bins + 1), [1000.0]])
    wide_counts = np.random.default_rng(1).poisson(50.0, args.bins + 1).astype(float)
    measure(
        f"local_significance, {args.bins} + 1 wide bin",
        local_significance,
        wide_counts,
        np.full(args.bins + 1, 50.0),
        wide,
    )
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak_rss:.0f} MiB")


if __name__ == "__main__":
    main()
