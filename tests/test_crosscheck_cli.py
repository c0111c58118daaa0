"""``bumpnet crosscheck`` and ``bumpnet scan --crosscheck``, with real RooFit fits.

The commands run as ``python -m bumpnet_root`` in a subprocess on ROOT files
written from the bundled CSV spectra, so RooFit's C++ output can be checked.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import uproot

pytest.importorskip("ROOT")

from cli_helpers import run_cli

from bumpnet_root._root import import_root
from bumpnet_root.adapters import read_csv_histogram, to_th1d
from bumpnet_root.api import BumpNet
from bumpnet_root.cli import main
from bumpnet_root.crosscheck.runner import (
    CrossCheckOptions,
    crosscheck_scan_result,
    top_candidate_results,
)
from bumpnet_root.histogram import Hist1D
from bumpnet_root.scan import Candidate, ScanReport, scan_files

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "bumpnet_root" / "data"
CSV = DATA / "csv"
SPECTRA = ("atlas_hgg_2012", "atlas_dijet_37fb")
# With 1e15 entries per bin every background fit fails with Minuit2 status -1,
# because RooFit evaluates an invalid likelihood (ROOT 6.40), while BumpNet
# still scans the histogram.
PATHOLOGICAL = "pathological"
# Prefixes of RooFit's message service and of ROOT's error handler.
ROOT_OUTPUT_PREFIXES = ("[#0]", "[#1]", "Info in <", "Warning in <", "Error in <")
CROSSCHECK_KEYS = (
    "z_lr",
    "z_lr_masses",
    "z_lr_max",
    "mass_at_z_lr_max",
    "background_function",
    "fit_status",
    "fit_error",
    "fit_range",
    "background_fit",
    "crosscheck",
)


def root_output_lines(completed: subprocess.CompletedProcess) -> list[str]:
    lines = (completed.stdout + completed.stderr).splitlines()
    return [line for line in lines if line.startswith(ROOT_OUTPUT_PREFIXES)]


def pathological_histogram() -> Hist1D:
    counts = 1e15 * np.exp(-np.arange(30) / 5.0)
    return Hist1D(np.linspace(100.0, 200.0, 31), counts, name=PATHOLOGICAL)


def write_root_file(path: Path, histograms: dict[str, Hist1D]) -> Path:
    root = import_root()
    root_file = root.TFile.Open(str(path), "RECREATE")
    for name, histogram in histograms.items():
        th1 = to_th1d(histogram, name=name)
        th1.GetXaxis().SetTitle("m [GeV]")
        root_file.WriteObject(th1, name)
    root_file.Close()
    return path


@pytest.fixture(scope="module")
def spectra_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    histograms = {name: read_csv_histogram(CSV / f"{name}.csv") for name in SPECTRA}
    histograms[PATHOLOGICAL] = pathological_histogram()
    return write_root_file(
        tmp_path_factory.mktemp("spectra") / "spectra.root", histograms
    )


@pytest.fixture(scope="module")
def crosscheck_run(spectra_file: Path, model_path: Path, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("crosscheck")
    completed = run_cli(
        "crosscheck", spectra_file, "--select", "*", "--model", model_path,
        "--out", out_dir,
    )  # fmt: skip
    summary = json.loads((out_dir / "summary.json").read_text())
    return completed, out_dir, {entry["name"]: entry for entry in summary}


def test_crosscheck_exit_zero_with_failed_fit(crosscheck_run):
    completed, _, _ = crosscheck_run
    assert completed.returncode == 0, completed.stderr
    assert "(1 fits failed)" in completed.stdout


def test_crosscheck_prints_table(crosscheck_run):
    completed, _, _ = crosscheck_run
    lines = completed.stdout.splitlines()
    header = next(line for line in lines if line.startswith("histogram"))
    assert header.split()[:4] == ["histogram", "Z_max", "BumpNet", "mass"]
    assert header.endswith("fit status   deviance/ndf")
    for name in SPECTRA:
        row = next(line for line in lines if f":{name} " in line)
        _, deviance = row.split("(ok)")
        dev, ndf = deviance.split()[0].split("/")
        assert float(dev) > 0
        assert int(ndf) > 0
    failed_row = next(line for line in lines if f":{PATHOLOGICAL} " in line)
    assert failed_row.endswith("-1 (failed)  -")


def test_crosscheck_roofit_silent(crosscheck_run):
    completed, _, _ = crosscheck_run
    assert root_output_lines(completed) == []


def test_crosscheck_summary_keys(crosscheck_run):
    _, _, entries = crosscheck_run
    assert sorted(entries) == sorted([*SPECTRA, PATHOLOGICAL])
    for entry in entries.values():
        missing = [key for key in CROSSCHECK_KEYS if key not in entry]
        assert missing == []
        assert "z_max" in entry
        assert len(entry["z_lr"]) == len(entry["counts"])
        assert entry["z_lr_masses"] == pytest.approx(
            0.5 * (np.array(entry["edges"][1:]) + np.array(entry["edges"][:-1]))
        )
        assert "upper_limits" not in entry


def test_crosscheck_diphoton_excess(crosscheck_run):
    _, _, entries = crosscheck_run
    hgg = entries["atlas_hgg_2012"]
    assert hgg["fit_status"] in (0, 1)
    assert hgg["fit_error"] is None
    assert 3.0 < hgg["z_lr_max"] < 4.5
    assert 126.0 <= hgg["mass_at_z_lr_max"] <= 128.0
    assert math.isfinite(hgg["z_max"])


def test_crosscheck_dijet_fit(crosscheck_run):
    _, _, entries = crosscheck_run
    dijet = entries["atlas_dijet_37fb"]
    assert dijet["fit_status"] in (0, 1)
    assert dijet["background_function"].startswith("dijet")
    low, high = dijet["fit_range"]
    edges = np.array(dijet["edges"])
    inside = (edges[:-1] >= low) & (edges[1:] <= high)
    background = np.array(dijet["background_fit"], dtype=float)
    z_lr = np.array(dijet["z_lr"], dtype=float)
    # The extended fit reproduces the number of entries in the fitted range.
    counts = np.array(dijet["counts"])
    assert background[inside].sum() == pytest.approx(counts[inside].sum(), rel=1e-3)
    assert np.all(np.isnan(background[~inside]))
    assert np.all(np.isfinite(z_lr[inside]))
    assert abs(dijet["z_lr_max"]) < 3.0


def test_crosscheck_records_failed_fit(crosscheck_run):
    _, _, entries = crosscheck_run
    failed = entries[PATHOLOGICAL]
    assert failed["fit_status"] == -1
    assert failed["fit_error"].startswith("FitFailedError")
    assert "no background function converged" in failed["fit_error"]
    assert failed["z_lr_max"] is None
    assert failed["background_function"] is None
    assert all(value is None for value in failed["z_lr"])
    assert math.isfinite(failed["z_max"])


def test_crosscheck_th1ds_readable(crosscheck_run):
    _, out_dir, entries = crosscheck_run
    with uproot.open(out_dir / "significance.root") as root_file:
        keys = {key.split(";")[0] for key in root_file.keys()}
        for name in SPECTRA:
            entry = entries[name]
            z_lr = root_file[f"{name}_z_lr"]
            expected_z = np.nan_to_num(np.array(entry["z_lr"], dtype=float))
            np.testing.assert_allclose(z_lr.values(), expected_z)
            np.testing.assert_allclose(z_lr.axis().edges(), entry["edges"])
            background = root_file[f"{name}_background_fit"]
            expected_background = np.array(entry["background_fit"], dtype=float)
            np.testing.assert_allclose(
                background.values(), np.nan_to_num(expected_background)
            )
            assert name in keys
        assert PATHOLOGICAL in keys
        assert f"{PATHOLOGICAL}_z_lr" not in keys
        assert f"{PATHOLOGICAL}_background_fit" not in keys


def test_crosscheck_writes_plots(crosscheck_run):
    _, out_dir, _ = crosscheck_run
    plots = sorted(path.name for path in (out_dir / "plots" / "crosscheck").iterdir())
    fit_plots = [name for name in plots if name.endswith("_fit.png")]
    assert len(fit_plots) == 2
    assert "z_comparison.png" in plots
    assert not any(PATHOLOGICAL in name for name in plots)


@pytest.fixture(scope="module")
def mass_run(spectra_file: Path, model_path: Path, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("crosscheck_mass")
    completed = run_cli(
        "crosscheck", spectra_file, "--select", "atlas_hgg_2012", "--mass", "127",
        "--limits", "--model", model_path, "--out", out_dir, "-v",
    )  # fmt: skip
    summary = json.loads((out_dir / "summary.json").read_text())
    return completed, out_dir, summary


def test_crosscheck_at_mass(mass_run):
    completed, _, summary = mass_run
    assert completed.returncode == 0, completed.stderr
    [entry] = summary
    assert entry["z_lr_masses"] == [127.0]
    assert len(entry["z_lr"]) == 1
    assert 3.0 < entry["z_lr"][0] < 4.5
    assert entry["mass_at_z_lr_max"] == 127.0


def test_crosscheck_limits_side_by_side(mass_run):
    _, out_dir, summary = mass_run
    limits = summary[0]["upper_limits"]
    assert limits["cl"] == 0.95
    assert limits["masses"] == [127.0]
    assert limits["lr"][0] > 0
    assert limits["bumpnet"][0] > 0
    plots = [p.name for p in (out_dir / "plots" / "crosscheck").iterdir()]
    assert "01_atlas_hgg_2012_limits.png" in plots


def test_crosscheck_verbose_shows_roofit(mass_run):
    completed, _, _ = mass_run
    assert root_output_lines(completed) != []


@pytest.fixture(scope="module")
def scan_run(spectra_file: Path, model_path: Path, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("scan_crosscheck")
    completed = run_cli(
        "scan", DATA / "DoubleMu12.root", DATA / "data2012_10GeV.root", spectra_file,
        "--select", "demo/massZto2muon", "--select", "h_mgg2012_1_[13]",
        "--select", PATHOLOGICAL, "--crosscheck", "2", "--plots", "0",
        "--model", model_path, "--out", out_dir,
    )  # fmt: skip
    summary = json.loads((out_dir / "summary.json").read_text())
    return completed, out_dir, summary


def test_scan_crosscheck_top_two(scan_run):
    completed, _, summary = scan_run
    assert completed.returncode == 0, completed.stderr
    with_candidates = [entry for entry in summary if entry["candidates"]]
    with_candidates.sort(key=lambda entry: entry["z_max"], reverse=True)
    expected = {entry["key"] for entry in with_candidates[:2]}
    checked = {entry["key"] for entry in summary if "z_lr" in entry}
    assert len(expected) == 2
    assert checked == expected
    for entry in summary:
        if entry["key"] in checked:
            assert [key for key in CROSSCHECK_KEYS if key not in entry] == []


def test_scan_crosscheck_failed_fit_recorded(scan_run):
    completed, _, summary = scan_run
    [failed] = [entry for entry in summary if entry["name"] == PATHOLOGICAL]
    assert failed["fit_status"] == -1
    assert "FitFailedError" in failed["fit_error"]
    assert "RooFit cross-check" in completed.stdout
    assert root_output_lines(completed) == []


def test_scan_crosscheck_th1ds(scan_run):
    _, out_dir, summary = scan_run
    fitted = [
        entry for entry in summary if "z_lr" in entry and entry["fit_status"] in (0, 1)
    ]
    assert fitted
    with uproot.open(out_dir / "significance.root") as root_file:
        for entry in fitted:
            z_lr = root_file[entry["key"] + "_z_lr"]
            np.testing.assert_allclose(
                z_lr.values(), np.nan_to_num(np.array(entry["z_lr"], dtype=float))
            )
            assert root_file[entry["key"] + "_background_fit"].values().sum() > 0


# In-process: these cases fail before any fit.


@pytest.fixture
def restore_logging():
    """Undo the logging set-up of ``main``, whose handler writes to captured stderr."""
    root = logging.getLogger()
    package = logging.getLogger("bumpnet_root")
    handlers, level, package_level = list(root.handlers), root.level, package.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    package.setLevel(package_level)


@pytest.mark.usefixtures("restore_logging")
def test_invalid_family_exit_two(spectra_file: Path, tmp_path: Path, capsys):
    status = main(
        ["crosscheck", str(spectra_file), "--select", "*", "--families", "gauss",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert status == 2
    error = capsys.readouterr().err
    assert "unknown background family or function 'gauss'" in error


def test_select_required_exit_two(spectra_file: Path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["crosscheck", str(spectra_file)])
    assert exit_info.value.code == 2
    assert "--select" in capsys.readouterr().err


@pytest.fixture(scope="module")
def dimuon_scan(model_path: Path):
    report = scan_files(
        [DATA / "DoubleMu12.root"],
        BumpNet.load(model_path),
        select=["demo/massZto2muon"],
    )
    [result] = report.results
    return report, result


def test_mass_outside_scan_range_recorded(dimuon_scan):
    _, result = dimuon_scan
    low, _ = result.scan_range
    check = crosscheck_scan_result(result, CrossCheckOptions(mass=low - 20.0))
    assert check.result.fit_status == -1
    assert "outside the scanned range" in check.result.error
    assert check.z_lr.size == 1
    assert math.isnan(check.z_lr[0])


def test_top_candidates_count_histogram_once(dimuon_scan):
    _, result = dimuon_scan
    mass = result.mass_at_z_max
    two_peaks = dataclasses.replace(
        result, candidates=(Candidate(9.0, mass, 1), Candidate(8.0, mass, 2))
    )
    one_peak = dataclasses.replace(
        result, key="other", candidates=(Candidate(5.0, mass, 3),)
    )
    no_peak = dataclasses.replace(result, key="none", candidates=())
    report = ScanReport(results=[one_peak, no_peak, two_peaks])
    assert top_candidate_results(report, 2) == [two_peaks, one_peak]
    assert top_candidate_results(report, 5) == [two_peaks, one_peak]
    assert top_candidate_results(report, 1) == [two_peaks]
    assert top_candidate_results(report, 0) == []


def test_options_reject_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        CrossCheckOptions(resolution=-1.0)
