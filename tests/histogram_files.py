"""ROOT files of falling spectra for the throughput, parallel and LEE tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bumpnet_root._root import import_root

# Numbers of bins of the generated spectra; histogram i gets BINNINGS[i % 3].
BINNINGS = (40, 60, 90)


def falling_spectrum(
    rng: np.random.Generator, n_bins: int, bump: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return (counts, edges) of a power-law spectrum, with a 5-sigma bump if asked."""
    edges = np.linspace(100.0, 100.0 + 10.0 * n_bins, n_bins + 1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    expected = 10.0 ** rng.uniform(2.0, 4.5) * (centers / 100.0) ** -rng.uniform(2, 5)
    if bump:
        mass = rng.uniform(centers[n_bins // 4], centers[3 * n_bins // 4])
        peak = 5.0 * np.sqrt(np.interp(mass, centers, expected))
        expected = expected + peak * np.exp(-0.5 * ((centers - mass) / 10.0) ** 2)
    return rng.poisson(expected).astype(np.float64), edges


def write_spectra_file(
    path: Path, count: int, seed: int = 0, per_directory: int = 250
) -> list[str]:
    """Write ``count`` TH1D spectra into directories of a ROOT file; return names.

    Every tenth histogram has a bump. The file also contains objects that a scan
    skips: a TH2D, a TProfile and a TH1D with bin labels in ``other/``.
    """
    root = import_root("the test files")
    rng = np.random.default_rng(seed)
    names = []
    root_file = root.TFile(str(path), "RECREATE")
    add_directory = root.TH1.AddDirectoryStatus()
    root.TH1.AddDirectory(False)
    try:
        directory = None
        for index in range(count):
            if index % per_directory == 0:
                directory = root_file.mkdir(f"d{index // per_directory}")
            n_bins = BINNINGS[index % len(BINNINGS)]
            counts, edges = falling_spectrum(rng, n_bins, bump=index % 10 == 0)
            name = f"h{index:05d}"
            hist = root.TH1D(name, "spectrum", n_bins, edges[0], edges[-1])
            hist.GetXaxis().SetTitle("m [GeV]")
            hist.SetContent(np.concatenate(([0.0], counts, [0.0])))
            directory.WriteTObject(hist, name)
            names.append(f"{directory.GetName()}/{name}")
        other = root_file.mkdir("other")
        other.WriteTObject(root.TH2D("map", "", 5, 0, 1, 5, 0, 1), "map")
        other.WriteTObject(root.TProfile("profile", "", 20, 0, 1), "profile")
        labelled = root.TH1D("labels", "", 20, 0, 20)
        for bin_number in range(1, 21):
            labelled.GetXaxis().SetBinLabel(bin_number, f"counter {bin_number}")
        other.WriteTObject(labelled, "labels")
    finally:
        root.TH1.AddDirectory(add_directory)
        root_file.Close()
    return names
