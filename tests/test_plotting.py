"""Plots of scanned histograms, rendered to real PNG and PDF files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from bumpnet_root.api import BumpNet, Prediction
from bumpnet_root.domain import ScanDomain
from bumpnet_root.histogram import Hist1D
from bumpnet_root.plotting import plot_file_stem, plot_result, plot_top_results
from bumpnet_root.scan import ScanResult, find_candidates, scan_files

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """Scan two spectra with a rise, a falling tail and a Gaussian bump."""
    rng = np.random.default_rng(11)
    edges = np.linspace(0.0, 200.0, 81)
    centers = 0.5 * (edges[1:] + edges[:-1])
    turn_on = 1.0 / (1.0 + np.exp(-(centers - 30.0) / 5.0))
    background = 5e4 * np.exp(-centers / 30.0) * turn_on
    bump = 600.0 * np.exp(-0.5 * ((centers - 110.0) / 4.0) ** 2)
    path = tmp_path_factory.mktemp("plot_input") / "spectra.root"
    with uproot.recreate(path) as root_file:
        root_file["with_bump"] = (rng.poisson(background + bump).astype(float), edges)
        root_file["dir/plain"] = (rng.poisson(background).astype(float), edges)
    report = scan_files([path], BumpNet.load(model_path))
    assert len(report.results) == 2
    return report


def test_plot_result_writes_png(report, tmp_path: Path):
    result = report.results[0]
    written = plot_result(result, tmp_path / "one", threshold=3.0)
    assert written == [tmp_path / "one.png"]
    content = written[0].read_bytes()
    assert content.startswith(PNG_SIGNATURE)
    assert len(content) > 20_000


def test_plot_result_writes_pdf(report, tmp_path: Path):
    written = plot_result(
        report.results[1], tmp_path / "two", threshold=3.0, formats=("png", "pdf")
    )
    assert written == [tmp_path / "two.png", tmp_path / "two.pdf"]
    assert written[1].read_bytes().startswith(b"%PDF")


def test_plot_result_large_z(tmp_path: Path):
    # A Z of several hundred, as for the Z boson in a dimuon spectrum, switches
    # the lower panel to a symmetric log scale.
    edges = np.linspace(40.0, 120.0, 81)
    centers = 0.5 * (edges[1:] + edges[:-1])
    background = 1e5 * np.exp(-centers / 20.0)
    z = 800.0 * np.exp(-0.5 * ((centers - 91.5) / 2.5) ** 2) - 2.0
    z[:5] = 0.0
    histogram = Hist1D(edges, background + 50 * z.clip(0), name="massZ")
    background[:5] = np.nan
    prediction = Prediction(histogram, z, background, ScanDomain(5, 80))
    result = ScanResult(
        file="dimuon.root",
        name="massZ",
        key="massZ",
        prediction=prediction,
        candidates=find_candidates(z, centers),
        x_title="m [GeV]",
    )
    assert [c.mass for c in result.candidates] == [91.5]
    written = plot_result(result, tmp_path / "large", threshold=3.0)
    assert written[0].read_bytes().startswith(PNG_SIGNATURE)


def test_plot_result_threshold_zero(report, tmp_path: Path):
    # A threshold of 0 cannot set the linear range of the log scale.
    written = plot_result(report.results[0], tmp_path / "zero", threshold=0.0)
    assert written[0].read_bytes().startswith(PNG_SIGNATURE)


def test_plot_result_rejects_unknown_format(report, tmp_path: Path):
    with pytest.raises(ValueError, match="svg"):
        plot_result(report.results[0], tmp_path / "x", 3.0, formats=("svg",))
    assert list(tmp_path.iterdir()) == []


def test_plot_top_results_limits_count(report, tmp_path: Path):
    written = plot_top_results(report, tmp_path, threshold=3.0, count=1)
    best = report.ranked_results()[0]
    assert written == [tmp_path / f"{plot_file_stem(1, best)}.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [written[0].name]


def test_plot_top_results_out_of_domain_last(report, tmp_path: Path):
    import dataclasses

    from bumpnet_root.scan import ScanReport

    best, other = report.ranked_results()
    domain = dataclasses.replace(
        best.prediction.domain, out_of_domain=("a background beyond the training",)
    )
    outside = dataclasses.replace(
        best, prediction=dataclasses.replace(best.prediction, domain=domain)
    )
    mixed = ScanReport(results=[outside, other])
    written = plot_top_results(mixed, tmp_path, threshold=3.0, count=1)
    assert written == [tmp_path / f"{plot_file_stem(1, other)}.png"]


def test_plot_top_results_removes_stale_plots(report, tmp_path: Path):
    stale = tmp_path / "07_old_histogram.png"
    stale.write_bytes(PNG_SIGNATURE)
    unrelated = tmp_path / "notes.png"
    unrelated.write_bytes(PNG_SIGNATURE)
    written = plot_top_results(report, tmp_path, threshold=3.0, count=5)
    assert len(written) == 2
    assert not stale.exists()
    assert unrelated.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_plot_file_stem_is_safe(report):
    result = next(r for r in report.results if r.name == "dir/plain")
    assert plot_file_stem(3, result) == "03_dir_plain"


@pytest.mark.parametrize("outside", [False, True])
def test_plot_marks_out_of_domain_histograms(report, outside: bool):
    import dataclasses

    import matplotlib.pyplot as plt

    from bumpnet_root.plotting import _label_spectrum

    result = report.results[0]
    if outside:
        domain = dataclasses.replace(
            result.prediction.domain, out_of_domain=("too many events",)
        )
        prediction = dataclasses.replace(result.prediction, domain=domain)
        result = dataclasses.replace(result, prediction=prediction)
    figure, ax = plt.subplots()
    ax.semilogy([1.0, 2.0], [1.0, 10.0], label="Data")
    _label_spectrum(ax, result, 3.0)
    texts = " ".join(text.get_text() for text in ax.texts)
    plt.close(figure)
    assert ("NOT bumps" in texts) == outside


@pytest.mark.parametrize(
    "title, expected",
    [
        ("m_{#mu#mu} [GeV]", r"$m_{\mu \mu}$ [GeV]"),
        ("p_{T}^{miss} [GeV]", "$p_{T}^{miss}$ [GeV]"),
        ("m(#mu^{+}#mu^{-}) [GeV]", r"m($\mu^{+}\mu^{-}$) [GeV]"),
        ("Invariant Mass (GeV/c^2)", "Invariant Mass (GeV/c^2)"),
        ("cost $5", r"cost \$5"),
        ("#frac{a}{b}", "#frac{a}{b}"),
    ],
)
def test_axis_titles_from_tlatex(title, expected):
    from bumpnet_root.plotting import _axis_text

    assert _axis_text(title) == expected


def test_cut_off_deficits_are_noted(tmp_path: Path):
    import matplotlib.pyplot as plt

    from bumpnet_root.plotting import _draw_significance

    edges = np.linspace(0.0, 100.0, 51)
    centers = 0.5 * (edges[1:] + edges[:-1])
    z = np.where(centers < 30.0, -40.0, 0.5)
    z[40] = 120.0
    histogram = Hist1D(edges, np.full(50, 100.0), name="deficit")
    prediction = Prediction(histogram, z, np.full(50, 100.0), ScanDomain(0, 50))
    result = ScanResult(
        file="f.root",
        name="deficit",
        key="deficit",
        prediction=prediction,
        candidates=find_candidates(z, centers),
        x_title="m",
    )
    figure, ax = plt.subplots()
    _draw_significance(ax, result, 3.0)
    texts = [text.get_text() for text in ax.texts]
    ticks = list(ax.yaxis.get_major_locator().tick_values(-6.0, 600.0))
    plt.close(figure)
    assert "Z below -6 cut off (lowest -40)" in texts
    assert -3.0 in ticks
