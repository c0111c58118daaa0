"""A defined outcome for every hard input and failure, on real objects and files.

Each test here backs one row of docs/robustness.md. Histograms are written with
PyROOT or uproot, scanned with the scan library (one model load per module) or
with the ``bumpnet`` command line in a subprocess, and the outputs are read
back. Tests of file permissions switch the effective user to ``nobody`` when
they run as root, because root reads and writes files whatever their mode.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import hist
import numpy as np
import pytest
import torch
import uproot

from bumpnet_root._root import import_root
from bumpnet_root.adapters import read_csv_histogram, to_hist1d
from bumpnet_root.api import BumpNet
from bumpnet_root.checkpoint import (
    check_output_dir,
    load_previous_scan,
)
from bumpnet_root.cli import _format_table, main
from bumpnet_root.domain import MAX_TRAINED_COUNTS, MIN_SCAN_BINS, scan_domain
from bumpnet_root.errors import (
    FlowBinWarning,
    InvalidHistogramError,
    OutOfDomainWarning,
    WeightedHistogramWarning,
)
from bumpnet_root.histogram import Hist1D
from bumpnet_root.io import (
    REPORT_JSON,
    SIGNIFICANCE_ROOT,
    SUMMARY_CSV,
    SUMMARY_JSON,
    write_outputs,
)
from bumpnet_root.parallel import ResultSummary
from bumpnet_root.scan import EMPTY_FILE_REASON, ScanReport, scan_files
from bumpnet_root.significance import (
    WORK_ELEMENTS,
    _template_bounds,
    _template_chunks,
    local_significance,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DIJET_CSV = REPO_ROOT / "bumpnet_root" / "data" / "csv" / "atlas_dijet_139fb.csv"
DOUBLE_MU = REPO_ROOT / "bumpnet_root" / "data" / "DoubleMu12.root"
NOBODY = 65534
MASS_EDGES = np.linspace(0.0, 100.0, 51)


def falling_counts(edges: np.ndarray, peak: float = 2e4, seed: int = 0) -> np.ndarray:
    """Return Poisson counts of an exponentially falling spectrum."""
    centers = 0.5 * (edges[1:] + edges[:-1])
    expected = peak * np.exp(-(centers - edges[0]) / (0.2 * (edges[-1] - edges[0])))
    return np.random.default_rng(seed).poisson(expected).astype(float)


@pytest.fixture(scope="module")
def root():
    return import_root("the robustness tests")


@pytest.fixture(scope="module")
def model(model_path: Path) -> BumpNet:
    return BumpNet.load(model_path)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run torch with one thread, as the scan does on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_th1(root, class_name: str, name: str, edges, counts=None):
    """Create a ROOT histogram that no directory owns, filled with ``counts``."""
    edges = np.asarray(edges, dtype=np.float64)
    status = root.TH1.AddDirectoryStatus()
    root.TH1.AddDirectory(False)
    try:
        th1 = getattr(root, class_name)(name, name, edges.size - 1, edges)
    finally:
        root.TH1.AddDirectory(status)
    if counts is not None:
        for index, value in enumerate(counts):
            th1.SetBinContent(index + 1, float(value))
    return th1


@contextlib.contextmanager
def effective_user_nobody():
    """Run the block with the effective user and group ``nobody``.

    Without root, the caller already lacks the permissions that the tests
    remove, so nothing changes.
    """
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_tmp():
    """Return a directory that user ``nobody`` can enter, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bumpnet-robustness-"))
    path.chmod(0o755)
    yield path
    for item in path.rglob("*"):
        item.chmod(0o755 if item.is_dir() else 0o644)
    shutil.rmtree(path)


@pytest.fixture
def restore_logging():
    """Undo the logging setup of an in-process ``bumpnet`` run."""
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    package_level = logging.getLogger("bumpnet_root").level
    yield
    root_logger.handlers[:] = handlers
    root_logger.setLevel(level)
    logging.getLogger("bumpnet_root").setLevel(package_level)


class BumpnetRun:
    """A ``python -m bumpnet_root`` subprocess with the repository on the path.

    Its output goes to temporary files, not pipes, so a long log cannot fill
    a pipe and block the process while the test waits for it.
    """

    def __init__(self, *args, extra_environment: dict | None = None) -> None:
        environment = {**os.environ, **(extra_environment or {})}
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
        )
        self.stdout = tempfile.TemporaryFile("w+")
        self.stderr = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bumpnet_root", *map(str, args)],
            stdout=self.stdout,
            stderr=self.stderr,
            text=True,
            env=environment,
        )

    def wait(self, timeout: float = 300) -> subprocess.CompletedProcess:
        """Wait for the process and return its exit status and output."""
        try:
            status = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        output = []
        for stream in (self.stdout, self.stderr):
            stream.seek(0)
            output.append(stream.read())
            stream.close()
        return subprocess.CompletedProcess(self.process.args, status, *output)


def read_outputs(out_dir: Path) -> dict:
    """Parse every output file of a scan; fail when one does not parse."""
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    report = json.loads((out_dir / REPORT_JSON).read_text())
    with open(out_dir / SUMMARY_CSV, newline="") as stream:
        rows = list(csv.DictReader(stream))
    with uproot.open(out_dir / SIGNIFICANCE_ROOT) as root_file:
        z = {entry["key"]: root_file[entry["key"]].values() for entry in summary}
    return {"summary": summary, "report": report, "csv": rows, "z": z}


# ---------------------------------------------------------------- one file
# of hard histograms, scanned once


@pytest.fixture(scope="module")
def hard_file(root, tmp_path_factory) -> Path:
    """Write a ROOT file with PyROOT that contains one hard case per object."""
    path = tmp_path_factory.mktemp("hard") / "hard_inputs.root"
    dijet = read_csv_histogram(DIJET_CSV)
    log_edges = np.geomspace(1e-3, 1e5, 41)
    rng = np.random.default_rng(7)
    turn_on = falling_counts(MASS_EDGES, seed=3)
    turn_on[:12] *= 1.0 / (1.0 + np.exp(-(np.arange(12) - 6.0)))
    root_file = root.TFile(str(path), "RECREATE")
    try:
        objects = {
            "mass": make_th1(
                root, "TH1D", "mass", MASS_EDGES, falling_counts(MASS_EDGES)
            ),
            "empty": make_th1(root, "TH1D", "empty", MASS_EDGES, np.zeros(50)),
            "three_bins": make_th1(
                root, "TH1D", "three_bins", [0.0, 1.0, 2.0, 3.0], [30, 20, 10]
            ),
            "few_events": make_th1(
                root,
                "TH1D",
                "few_events",
                MASS_EDGES,
                np.r_[2, 1, 0, 1, 0, 0, 1, np.zeros(43)],
            ),
            "turn_on": make_th1(root, "TH1D", "turn_on", MASS_EDGES, turn_on),
            "dijet_139fb": make_th1(
                root, "TH1D", "dijet_139fb", dijet.edges, dijet.counts
            ),
            "log_bins": make_th1(
                root,
                "TH1D",
                "log_bins",
                log_edges,
                rng.poisson(200.0 * np.log(log_edges[1:] / log_edges[:-1])),
            ),
            "eta": make_th1(
                root, "TH1D", "eta", np.linspace(-2.5, 2.5, 51), np.full(50, 400.0)
            ),
            "phi": make_th1(
                root,
                "TH1D",
                "phi",
                np.linspace(0.0, 2 * np.pi, 51),
                rng.poisson(400.0, 50),
            ),
            "pt_plateau": make_th1(
                root,
                "TH1D",
                "pt_plateau",
                MASS_EDGES,
                np.round(1000.0 / (1.0 + np.exp(-(MASS_EDGES[:-1] - 30.0) / 5.0))),
            ),
            "huge_counts": make_th1(
                root,
                "TH1D",
                "huge_counts",
                MASS_EDGES,
                1.7e308 * np.exp(-MASS_EDGES[:-1] / 20),
            ),
        }
        nan_bin = make_th1(
            root, "TH1D", "nan_bin", MASS_EDGES, falling_counts(MASS_EDGES)
        )
        nan_bin.SetBinContent(7, float("nan"))
        objects["nan_bin"] = nan_bin
        negative = make_th1(root, "TH1D", "negative_weights", MASS_EDGES)
        negative.FillN(3, np.array([10.0, 20.0, 30.0]), np.array([1.0, -2.0, 1.0]))
        objects["negative_weights"] = negative
        weighted = make_th1(root, "TH1D", "weighted", MASS_EDGES)
        weighted.Sumw2()
        values = rng.exponential(20.0, 20000)
        weighted.FillN(values.size, values, rng.uniform(0.5, 1.5, values.size))
        objects["weighted"] = weighted
        overflow = make_th1(
            root, "TH1D", "overflow", MASS_EDGES, falling_counts(MASS_EDGES)
        )
        overflow.SetBinContent(51, 1e6)
        objects["overflow"] = overflow
        clipped = make_th1(root, "TH1C", "th1c_clipped", MASS_EDGES)
        clipped.FillN(300, np.full(300, 1.5), root.nullptr)
        objects["th1c_clipped"] = clipped
        unsorted = make_th1(root, "TH1D", "unsorted_edges", [0.0, 2.0, 1.0, 3.0, 4.0])
        objects["unsorted_edges"] = unsorted
        repeated = make_th1(root, "TH1D", "zero_width_bin", [0.0, 1.0, 1.0, 3.0, 4.0])
        objects["zero_width_bin"] = repeated
        for name, th1 in objects.items():
            root_file.WriteObject(th1, name)

        profile = root.TProfile("profile", "profile", 20, 0.0, 10.0)
        profile.Fill(1.0, 2.0)
        profile.Write()
        th2 = root.TH2D("th2", "th2", 10, 0.0, 1.0, 10, 0.0, 1.0)
        th2.Write()
        th3 = root.TH3D("th3", "th3", 4, 0.0, 1.0, 4, 0.0, 1.0, 4, 0.0, 1.0)
        th3.Write()
        labelled = make_th1(root, "TH1D", "cutflow", np.arange(13.0))
        for index in range(12):
            labelled.GetXaxis().SetBinLabel(index + 1, f"cut{index}")
            labelled.SetBinContent(index + 1, 1000.0 / (index + 1))
        root_file.WriteObject(labelled, "cutflow")
        graph = root.TGraph(3, np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 9.0]))
        graph.Write("graph")
        tree = root.TTree("events", "events")
        tree.Write()

        # Two cycles of one name: mass_cycles;1 is flat, mass_cycles;2 falls.
        cycles = make_th1(root, "TH1D", "mass_cycles", MASS_EDGES, np.full(50, 100.0))
        root_file.WriteObject(cycles, "mass_cycles")
        for index, value in enumerate(falling_counts(MASS_EDGES, seed=11)):
            cycles.SetBinContent(index + 1, value)
        root_file.WriteObject(cycles, "mass_cycles")

        directory = root_file.mkdir("données")
        directory.WriteObject(
            make_th1(
                root, "TH1D", "masse_μμ", MASS_EDGES, falling_counts(MASS_EDGES, seed=5)
            ),
            "masse_μμ",
        )
    finally:
        root_file.Close()
    return path


@pytest.fixture(scope="module")
def hard_scan(model: BumpNet, hard_file: Path, tmp_path_factory):
    """Scan the hard file, write the outputs and read them back."""
    out_dir = tmp_path_factory.mktemp("hard_out")
    report = scan_files([hard_file], model)
    write_outputs(report, out_dir, 3.0, {"path": "test"})
    outputs = read_outputs(out_dir)
    return report, outputs


def _outcome(report: ScanReport, name: str) -> tuple[str, object]:
    """Return ("scanned" | "skipped" | "failed", entry) for one object."""
    for result in report.results:
        if result.name == name:
            return "scanned", result
    for skipped in report.skipped:
        if skipped.name == name:
            return "skipped", skipped
    for failed in report.failed:
        if failed.name == name:
            return "failed", failed
    raise AssertionError(f"{name} is missing from the scan report")


def test_hard_file_every_object_accounted(hard_scan):
    report, outputs = hard_scan
    names = (
        [r.name for r in report.results]
        + [s.name for s in report.skipped]
        + [f.name for f in report.failed]
    )
    assert len(names) == len(set(names))
    assert len(names) == 26
    assert {entry["name"] for entry in outputs["summary"]} == {
        r.name for r in report.results
    }


def test_empty_histogram_skipped(hard_scan):
    kind, entry = _outcome(hard_scan[0], "empty")
    assert kind == "skipped"
    assert "empty" in entry.reason


def test_few_events_no_candidate(hard_scan):
    kind, entry = _outcome(hard_scan[0], "few_events")
    if kind == "scanned":
        assert entry.candidates == ()
    else:
        assert kind == "skipped"
        assert "fall" in entry.reason or "bins" in entry.reason


@pytest.mark.parametrize("n_bins", [1, 2, 3, 4, 5])
def test_one_to_five_bins(model: BumpNet, root, n_bins: int):
    edges = np.arange(n_bins + 1, dtype=float)
    th1 = make_th1(root, "TH1D", f"bins_{n_bins}", edges, np.arange(n_bins, 0, -1) * 10)
    h = to_hist1d(th1)
    domain = scan_domain(h)
    unit = "bin" if n_bins == 1 else "bins"
    assert domain.skip_reason == (
        f"only {n_bins} {unit}; a scan needs at least {MIN_SCAN_BINS}"
    )
    with pytest.raises(InvalidHistogramError, match=f"'bins_{n_bins}'"):
        model.predict(h)
    # Scanning every bin as given still returns a finite Z per bin.
    z = model.predict(h, domain="full")
    assert z.shape == (n_bins,)
    assert np.all(np.isfinite(z))


def test_three_bins_in_file_skipped(hard_scan):
    kind, entry = _outcome(hard_scan[0], "three_bins")
    assert kind == "skipped"
    assert "only 3 bins" in entry.reason


def test_twenty_thousand_bins_scanned(model: BumpNet, root):
    edges = np.linspace(100.0, 5100.0, 20001)
    th1 = make_th1(root, "TH1D", "fine", edges, falling_counts(edges, peak=50.0))
    h = to_hist1d(th1)
    started = time.perf_counter()
    domain = scan_domain(h)
    domain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    z = model.predict(h)
    predict_seconds = time.perf_counter() - started
    assert domain.skip_reason is None
    assert z.shape == (20000,)
    assert np.all(np.isfinite(z))
    # The running median used to take seconds and n x n/15 values of memory.
    assert domain_seconds < 1.0
    assert predict_seconds < 60.0


def test_significance_many_bins_bounded_memory():
    # 20,000 narrow bins and one 1000 times wider: the wide bin's template
    # reaches every bin, which used to pad all 20,001 windows to 20,001 bins.
    edges = np.concatenate([np.linspace(0.0, 1.0, 20001), [1000.0]])
    n_bins = edges.size - 1
    counts = np.random.default_rng(0).poisson(50.0, n_bins).astype(float)
    tracemalloc.start()
    try:
        z = local_significance(counts, np.full(n_bins, 50.0), edges)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(z))
    assert peak < 400 * 2**20
    lo, hi = _template_bounds(edges, 1.0)
    for chunk in _template_chunks(hi - lo, 1):
        widest = int(np.max((hi - lo)[chunk]))
        assert chunk.size == 1 or chunk.size * widest <= WORK_ELEMENTS


@pytest.mark.parametrize(
    ("name", "problem"),
    [("unsorted_edges", "not sorted"), ("zero_width_bin", "zero-width bin")],
)
def test_bad_edges_recorded_as_failed(hard_scan, name, problem):
    kind, entry = _outcome(hard_scan[0], name)
    assert kind == "failed"
    assert f"histogram {name!r}" in entry.error
    assert problem in entry.error
    assert "rebuild the histogram with increasing edges" in entry.error


def test_non_finite_edges_rejected():
    edges = np.array([0.0, 1.0, np.inf, 3.0])
    with pytest.raises(InvalidHistogramError) as error:
        to_hist1d(([1.0, 2.0, 3.0], edges), name="inf_edge")
    message = str(error.value)
    assert "'inf_edge'" in message
    assert "edge 2 (inf)" in message
    assert "finite edges" in message


def test_log_bins_over_eight_decades(hard_scan):
    kind, result = _outcome(hard_scan[0], "log_bins")
    assert kind == "scanned"
    assert np.all(np.isfinite(result.prediction.z))
    # Flat in log(m): the density falls, but the counts per bin do not.
    assert any("bins widen" in reason for reason in result.out_of_domain)
    z = local_significance(
        result.histogram.counts, result.histogram.counts + 1.0, result.histogram.edges
    )
    assert np.all(np.isfinite(z))


def test_nan_contents_recorded_as_failed(hard_scan):
    kind, entry = _outcome(hard_scan[0], "nan_bin")
    assert kind == "failed"
    assert "NaN or inf contents" in entry.error
    assert "[12, 14)" in entry.error
    assert "remove the entries" in entry.error


def test_negative_weights_recorded_as_failed(hard_scan):
    kind, entry = _outcome(hard_scan[0], "negative_weights")
    assert kind == "failed"
    assert "negative contents" in entry.error
    assert "remove the negative weights" in entry.error


def test_huge_counts_contained(hard_scan):
    report, outputs = hard_scan
    kind, entry = _outcome(report, "huge_counts")
    # Counts of 1e308 either overflow the network, and the histogram fails
    # alone, or give a finite Z that is marked as out of domain.
    if kind == "failed":
        assert entry.error_type == "FloatingPointError"
        assert "non-finite Z" in entry.error
        assert "huge_counts" not in {e["name"] for e in outputs["summary"]}
    else:
        assert kind == "scanned"
        assert np.all(np.isfinite(entry.prediction.z))
        assert any("beyond the training range" in r for r in entry.out_of_domain)
    assert _outcome(report, "mass")[0] == "scanned"


def test_sumw2_weights_scanned_with_warning(hard_scan):
    report, outputs = hard_scan
    kind, result = _outcome(report, "weighted")
    assert kind == "scanned"
    assert any("is weighted" in message for message in result.warnings)
    entry = next(e for e in outputs["summary"] if e["name"] == "weighted")
    assert any("is weighted" in message for message in entry["warnings"])


def test_hist_double_weighted_fill_warns():
    h = hist.Hist.new.Reg(20, 0.0, 10.0, name="m").Double()
    h.fill(np.linspace(1.0, 6.0, 100), weight=0.5)
    assert h.variances() is None
    with pytest.warns(WeightedHistogramWarning, match="into Double storage"):
        converted = to_hist1d(h)
    assert converted.variances is None
    np.testing.assert_allclose(converted.counts, h.values())


def test_weight_storage_uproot_round_trip(tmp_path: Path):
    h = hist.Hist.new.Reg(20, 0.0, 10.0, name="m").Weight()
    values = np.linspace(1.0, 6.0, 100)
    h.fill(values, weight=np.full(values.size, 0.5))
    path = tmp_path / "weight.root"
    with uproot.recreate(path) as root_file:
        root_file["m"] = h
    with uproot.open(path) as root_file:
        with pytest.warns(WeightedHistogramWarning, match="is weighted"):
            converted = to_hist1d(root_file["m"])
    np.testing.assert_allclose(converted.counts, h.values())
    np.testing.assert_allclose(converted.variances, h.variances())


def test_int64_storage_counts_no_warning():
    h = hist.Hist.new.Reg(20, 0.0, 10.0, name="m").Int64()
    h.fill(np.linspace(1.0, 6.0, 100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = to_hist1d(h)
    assert converted.variances is None
    np.testing.assert_array_equal(converted.counts, h.values())


@pytest.mark.parametrize("class_name", ["TH1C", "TH1S", "TH1I", "TH1F", "TH1D"])
def test_th1_classes_pyroot_and_uproot(root, tmp_path: Path, class_name: str):
    counts = np.array([100, 90, 70, 50, 30, 20, 10, 5, 2, 1], dtype=float)
    th1 = make_th1(root, class_name, f"k_{class_name}", np.arange(11.0), counts)
    np.testing.assert_array_equal(to_hist1d(th1).counts, counts)
    path = tmp_path / f"{class_name}.root"
    root_file = root.TFile(str(path), "RECREATE")
    root_file.WriteObject(th1, "h")
    root_file.Close()
    with uproot.open(path) as written:
        assert written["h"].classname == class_name
        np.testing.assert_array_equal(to_hist1d(written["h"]).counts, counts)


def test_th1c_clipped_recorded_as_failed(hard_scan):
    kind, entry = _outcome(hard_scan[0], "th1c_clipped")
    assert kind == "failed"
    assert "TH1C limits 0 to 127" in entry.error
    assert "fill a TH1D instead" in entry.error


def test_th1s_wrapped_rejected(root):
    th1 = make_th1(root, "TH1S", "wrapped", np.arange(11.0), np.arange(10, 0, -1))
    th1.SetBinContent(3, 40000.0)
    assert th1.GetBinContent(3) < 0
    with pytest.raises(InvalidHistogramError, match="TH1S limits 0 to 32767"):
        to_hist1d(th1)


def test_root_uhi_sumw2_read_as_weighted(root):
    th1 = make_th1(root, "TH1D", "uhi_sumw2", np.arange(11.0))
    th1.Sumw2()
    th1.FillN(3, np.array([1.5, 2.5, 2.5]), np.array([2.0, 0.5, 0.5]))
    # ROOT 6.40's UHI layer calls a TH1 with Sumw2 COUNT and a TProfile MEAN.
    # ROOT objects are read through TH1 methods, so the kind cannot reject a
    # weighted TH1 as a profile whatever ROOT reports.
    assert str(getattr(th1.kind, "value", th1.kind)).upper() == "COUNT"
    with pytest.warns(WeightedHistogramWarning):
        converted = to_hist1d(th1)
    np.testing.assert_allclose(converted.variances[1:3], [4.0, 0.5])
    profile = root.TProfile("uhi_profile", "p", 10, 0.0, 10.0)
    profile.SetDirectory(root.nullptr)
    assert str(getattr(profile.kind, "value", profile.kind)).upper() == "MEAN"
    with pytest.raises(InvalidHistogramError, match="is a profile"):
        to_hist1d(profile)


def test_large_overflow_warns_and_is_recorded(hard_scan, root):
    th1 = make_th1(root, "TH1D", "flow", MASS_EDGES, falling_counts(MASS_EDGES))
    th1.SetBinContent(51, 1e6)
    with pytest.warns(FlowBinWarning, match="'flow'"):
        to_hist1d(th1)
    report, outputs = hard_scan
    kind, _result = _outcome(report, "overflow")
    assert kind == "scanned"
    entry = next(e for e in outputs["summary"] if e["name"] == "overflow")
    assert any("overflow" in message for message in entry["warnings"])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("profile", "mean per bin"),
        ("th2", "2 dimensions"),
        ("th3", "3 dimensions"),
        ("cutflow", "bin labels"),
        ("graph", "not a 1-D histogram"),
        ("events", "TTree is not a histogram"),
    ],
)
def test_other_objects_skipped(hard_scan, name, reason):
    kind, entry = _outcome(hard_scan[0], name)
    assert kind == "skipped"
    assert reason in entry.reason
    skipped = hard_scan[1]["report"]["skipped"]
    assert any(s["name"] == name and reason in s["reason"] for s in skipped)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("eta", "not an invariant mass"),
        ("phi", "flat or rising"),
        ("pt_plateau", "flat or rising"),
    ],
)
def test_rising_or_flat_spectra_skipped(hard_scan, name, reason):
    kind, entry = _outcome(hard_scan[0], name)
    assert kind == "skipped"
    assert reason in entry.reason


def test_turn_on_scanned_from_maximum(hard_scan):
    report, outputs = hard_scan
    kind, result = _outcome(report, "turn_on")
    assert kind == "scanned"
    start = result.prediction.domain.start
    assert start > 0
    assert np.all(result.prediction.z[:start] == 0.0)
    entry = next(e for e in outputs["summary"] if e["name"] == "turn_on")
    assert entry["scan_start"] == start
    assert entry["scan_range"][0] == pytest.approx(MASS_EDGES[start])
    start_notes = [n for n in entry["notes"] if n.startswith("scanned from the max")]
    assert len(start_notes) == 1
    assert "maximum of the smoothed density" in start_notes[0]
    assert f"(bin {start}, counted from 0; " in start_notes[0]
    assert "running median over 5 bins" in start_notes[0]


def test_dijet_counts_out_of_domain(hard_scan, model: BumpNet):
    report, outputs = hard_scan
    kind, result = _outcome(report, "dijet_139fb")
    assert kind == "scanned"
    assert result.histogram.counts.max() > MAX_TRAINED_COUNTS
    assert any("beyond the training range" in r for r in result.out_of_domain)
    entry = next(e for e in outputs["summary"] if e["name"] == "dijet_139fb")
    assert entry["out_of_domain"] == list(result.out_of_domain)
    assert entry["candidates"], "the dijet spectrum should have Z maxima above 3"
    assert all(c["out_of_domain"] for c in entry["candidates"])
    rows = [row for row in outputs["csv"] if row["name"] == "dijet_139fb"]
    assert rows
    assert all("beyond the training range" in row["out_of_domain"] for row in rows)
    inside = [e for e in outputs["summary"] if not e["out_of_domain"]]
    assert all(not c["out_of_domain"] for e in inside for c in e["candidates"])
    with pytest.warns(OutOfDomainWarning, match="'atlas_dijet_139fb'"):
        model.predict(read_csv_histogram(DIJET_CSV))


def test_resonance_peak_not_out_of_domain():
    # The J/psi peak reaches 3.1e6 events per bin on a background below 1e6.
    with uproot.open(DOUBLE_MU) as root_file:
        h = to_hist1d(root_file["demo/GMmass_extended"], name="demo/GMmass_extended")
    domain = scan_domain(h)
    assert domain.skip_reason is None
    assert h.counts[domain.start : domain.stop].max() > MAX_TRAINED_COUNTS
    assert domain.out_of_domain == ()


def test_table_separates_out_of_domain(hard_scan):
    report, _ = hard_scan
    lines = _format_table(report, 3.0, 0)
    marker = next(i for i, line in enumerate(lines) if "NOT bumps" in line)
    assert all("dijet_139fb" not in line for line in lines[:marker])
    assert any("dijet_139fb" in line for line in lines[marker:])
    assert any("beyond the training range" in line for line in lines[marker:])


def test_newest_cycle_scanned(hard_scan):
    kind, result = _outcome(hard_scan[0], "mass_cycles")
    assert kind == "scanned"
    np.testing.assert_array_equal(
        result.histogram.counts, falling_counts(MASS_EDGES, seed=11)
    )


def test_non_ascii_names_round_trip(hard_scan):
    report, outputs = hard_scan
    kind, _result = _outcome(report, "données/masse_μμ")
    assert kind == "scanned"
    entry = next(e for e in outputs["summary"] if e["name"] == "données/masse_μμ")
    np.testing.assert_allclose(outputs["z"][entry["key"]], entry["z"])


# ---------------------------------------------------------------- files


@pytest.fixture(scope="module")
def small_root_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("small") / "small.root"
    with uproot.recreate(path) as root_file:
        for index in range(3):
            root_file[f"h{index}"] = (
                falling_counts(MASS_EDGES, seed=index),
                MASS_EDGES,
            )
    return path.read_bytes()


def test_bad_files_recorded_as_failed(model, small_root_bytes, tmp_path: Path):
    good = tmp_path / "good.root"
    good.write_bytes(small_root_bytes)
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(small_root_bytes[: len(small_root_bytes) // 10])
    # uproot writes the list of keys and the histograms before the streamers,
    # so half of this file still contains every histogram.
    half = tmp_path / "half.root"
    half.write_bytes(small_root_bytes[: len(small_root_bytes) // 2])

    corrupted = tmp_path / "corrupted.root"
    damaged = bytearray(small_root_bytes)
    damaged[:4] = b"XXXX"
    corrupted.write_bytes(bytes(damaged))
    not_root = tmp_path / "notes.root"
    not_root.write_text("this is not a ROOT file\n")
    directory = tmp_path / "folder.root"
    directory.mkdir()
    missing = tmp_path / "missing.root"

    paths = [good, truncated, half, corrupted, not_root, directory, missing]
    report = scan_files(paths, model)
    assert report.files == [str(path) for path in paths]
    assert sorted(r.name for r in report.results if r.file == str(good)) == [
        "h0",
        "h1",
        "h2",
    ]

    failed = {Path(f.file).name: f for f in report.failed if not f.name}
    assert "check the path" in failed["missing.root"].error
    assert "instead of the directory" in failed["folder.root"].error
    assert failed["missing.root"].error.startswith("[Errno 2]")
    for name in ("truncated.root", "corrupted.root"):
        error = failed[name].error
        # The diagnosis comes first, the reader's own message after it.
        assert error.startswith("the file is not a ROOT file, or it is truncated")
        assert "(uproot's message: " in error
        assert "\n" not in error
    assert failed["notes.root"].error.startswith("the file is text, not a ROOT file")

    good_z = {r.name: r.prediction.z for r in report.results if r.file == str(good)}
    half_z = {r.name: r.prediction.z for r in report.results if r.file == str(half)}
    assert sorted(half_z) == sorted(good_z)
    for name, z in half_z.items():
        np.testing.assert_array_equal(z, good_z[name])


def test_unreadable_file_recorded(model, small_root_bytes, shared_tmp: Path):
    path = shared_tmp / "locked.root"
    path.write_bytes(small_root_bytes)
    path.chmod(0)
    with effective_user_nobody():
        report = scan_files([path], model)
    assert report.results == []
    assert [f.error_type for f in report.failed] == ["PermissionError"]
    assert str(path) in report.failed[0].error
    assert "make the file readable" in report.failed[0].error


def test_empty_root_file_recorded(model, tmp_path: Path):
    path = tmp_path / "nothing.root"
    with uproot.recreate(path):
        pass
    report = scan_files([path], model)
    assert [(s.file, s.name, s.reason) for s in report.skipped] == [
        (str(path), "", EMPTY_FILE_REASON)
    ]


def test_thousands_of_keys_deep_directories(model, tmp_path: Path):
    path = tmp_path / "many_keys.root"
    deep = "/".join(f"level{depth}" for depth in range(30))
    with uproot.recreate(path) as root_file:
        for index in range(3000):
            root_file[f"notes/n{index:04d}"] = f"note {index}"
        for index in range(40):
            root_file[f"{deep}/h{index:02d}"] = (
                falling_counts(MASS_EDGES, seed=index),
                MASS_EDGES,
            )
    started = time.perf_counter()
    report = scan_files([path], model)
    seconds = time.perf_counter() - started
    assert len(report.results) == 40
    assert all(r.name.startswith(deep + "/h") for r in report.results)
    assert len(report.skipped) == 3000
    assert report.failed == []
    assert seconds < 60.0


def test_same_name_in_several_files(model, small_root_bytes, tmp_path: Path):
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "data.root")
        paths[-1].write_bytes(small_root_bytes)
    report = scan_files(paths, model)
    out_dir = tmp_path / "out"
    write_outputs(report, out_dir, 3.0, {"path": "test"})
    outputs = read_outputs(out_dir)
    keys = {entry["key"] for entry in outputs["summary"]}
    assert keys == {f"{prefix}/h{i}" for prefix in ("data", "data_2") for i in range(3)}
    assert set(outputs["z"]) == keys


@contextlib.contextmanager
def read_only_directory(path: Path):
    """Make ``path`` refuse new files, for root too.

    Root ignores file modes, so as root the directory is made immutable with
    ``chattr +i`` (ext4 and most Linux file systems support it).
    """
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)
        return
    try:
        result = subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        pytest.skip("running as root without chattr, so no directory is read-only")
    if result.returncode != 0:
        pytest.skip(f"chattr +i failed on {path}: {result.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_output_dir(
    model_path, small_root_bytes, tmp_path: Path, capsys, restore_logging
):
    source = tmp_path / "input.root"
    source.write_bytes(small_root_bytes)
    out_dir = tmp_path / "read_only"
    out_dir.mkdir()
    with read_only_directory(out_dir):
        with pytest.raises(PermissionError):
            check_output_dir(out_dir)
        status = main(
            ["scan", str(source), "--out", str(out_dir), "--model", str(model_path)]
        )
    assert status == 1
    error = capsys.readouterr().err
    assert f"cannot write into the output directory {out_dir}" in error
    assert "choose a writable --out" in error
    assert list(out_dir.iterdir()) == []


def test_full_output_dir_keeps_old_outputs(
    model_path, small_root_bytes, tmp_path, capsys, restore_logging, monkeypatch
):
    source = tmp_path / "input.root"
    source.write_bytes(small_root_bytes)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    old = {name: f"old {name}\n" for name in (SUMMARY_JSON, REPORT_JSON, SUMMARY_CSV)}
    for name, text in old.items():
        (out_dir / name).write_text(text)
    monkeypatch.setenv("BUMPNET_CACHE_DIR", str(tmp_path / "cache"))
    # No tmpfs can be mounted without privileges, so a soft file size limit of
    # 2 KiB makes every larger write fail as on a full disk (EFBIG instead of
    # ENOSPC). Python ignores SIGXFSZ, so write() raises OSError.
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, hard))
    try:
        status = main(
            [
                "scan",
                str(source),
                "--out",
                str(out_dir),
                "--model",
                str(model_path),
                "--plots",
                "0",
            ]
        )
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    error = capsys.readouterr().err
    assert status == 1, error
    assert f"failed to write the outputs into {out_dir}" in error
    assert "File too large" in error
    for name, text in old.items():
        assert (out_dir / name).read_text() == text
    # With space again, the next scan writes every output and removes any
    # temporary file that the failed write left.
    arguments = ["scan", str(source), "--out", str(out_dir), "--plots", "0"]
    status = main([*arguments, "--model", str(model_path)])
    assert status == 0, capsys.readouterr().err
    read_outputs(out_dir)
    assert [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- interrupts

# The command line saves its outputs after a batch of histograms at the
# earliest, and one batch can contain thousands of histograms of one file. So
# that a scan of a few seconds can be stopped in the middle, the histograms are
# spread over several files of one batch each, and every batch is slowed
# down (see interrupt_environment).
INTERRUPT_FILES = 60
HISTOGRAMS_PER_FILE = 30
INTERRUPT_HISTOGRAMS = INTERRUPT_FILES * HISTOGRAMS_PER_FILE
INTERRUPT_EDGES = np.linspace(0.0, 100.0, 101)


@pytest.fixture(scope="module")
def interrupt_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("interrupt")


@pytest.fixture(scope="module")
def interrupt_files(interrupt_dir: Path) -> list[Path]:
    """Write INTERRUPT_FILES files of 30 falling spectra of 100 bins each."""
    rng = np.random.default_rng(100)
    expected = 2e3 * np.exp(-INTERRUPT_EDGES[:-1] / 20.0)
    paths = []
    for file_index in range(INTERRUPT_FILES):
        path = interrupt_dir / f"many_{file_index:02d}.root"
        with uproot.recreate(path) as root_file:
            for index in range(HISTOGRAMS_PER_FILE):
                counts = rng.poisson(expected).astype(float)
                root_file[f"d{index % 4}/h{index:03d}"] = (counts, INTERRUPT_EDGES)
        paths.append(path)
    return paths


# Python imports ``sitecustomize`` from its path at start-up, so every scan
# subprocess of the interrupt tests loads this hook. It makes each chunk of
# histograms (here one file) cost 0.15 s more, with and without --resume. So a
# scan lasts long enough to be interrupted in the middle however fast the
# machine is. The scans run in one process, where _run_serial looks up
# scan_chunk in the module at every call.
_SLOW_CHUNKS = """
import signal
import time

import bumpnet_root.parallel as parallel

# A shell without job control starts background jobs with SIGINT ignored, and
# Python keeps it ignored; the tests need the usual Ctrl-C behaviour.
signal.signal(signal.SIGINT, signal.default_int_handler)

_scan_chunk = parallel.scan_chunk


def _slow_scan_chunk(*args, **kwargs):
    time.sleep(0.15)
    return _scan_chunk(*args, **kwargs)


parallel.scan_chunk = _slow_scan_chunk
"""


@pytest.fixture(scope="module")
def interrupt_environment(interrupt_dir: Path) -> dict:
    """Slow down the scan and keep the look-elsewhere cache private."""
    hooks = interrupt_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(_SLOW_CHUNKS)
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    return {"BUMPNET_CACHE_DIR": str(interrupt_dir / "cache"), "PYTHONPATH": path}


def _scan_arguments(sources: list[Path], out_dir: Path, model_path: Path) -> list:
    return [
        "scan",
        *sources,
        "--out",
        out_dir,
        "--model",
        model_path,
        "--plots",
        "0",
        "--checkpoint-interval",
        "0",
    ]


def assert_same_json(actual, expected, where: str = "") -> None:
    """Assert equal JSON values, with floats equal to 1e-12 relative.

    A scan in several processes or threads may change the last bits of the
    network's output.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert sorted(actual) == sorted(expected), where
        for key in expected:
            assert_same_json(actual[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same_json(a, e, f"{where}[{index}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12), where
    else:
        assert actual == expected, where


def run_results(report: dict) -> dict:
    """Return scan_report.json without the look-elsewhere cache statistics.

    How many calibrations came from memory, disk or new toys depends on the
    runs before, not on the results.
    """
    look_elsewhere = dict(report.get("look_elsewhere", {}))
    look_elsewhere.pop("calibrations", None)
    return {**report, "look_elsewhere": look_elsewhere}


def _scanned_count(out_dir: Path) -> int:
    """Return the number of histograms in summary.json, or -1 without the file."""
    try:
        return len(json.loads((out_dir / SUMMARY_JSON).read_text()))
    except (OSError, ValueError):
        return -1


def _interrupt_after_progress(
    arguments: list, out_dir: Path, done_before: int, signal_number: int, environment
) -> subprocess.CompletedProcess:
    """Start a scan, send the signal once it saved new results, and wait."""
    run = BumpnetRun(*arguments, extra_environment=environment)
    deadline = time.monotonic() + 240.0
    while _scanned_count(out_dir) <= done_before:
        if run.process.poll() is not None or time.monotonic() > deadline:
            run.process.kill()
            completed = run.wait()
            raise AssertionError(
                f"the scan saved no new result in time:\n{completed.stderr}"
            )
        time.sleep(0.02)
    run.process.send_signal(signal_number)
    return run.wait(timeout=120)


@pytest.mark.slow
def test_sigterm_then_sigint_then_resume(
    model_path: Path,
    interrupt_files: list[Path],
    interrupt_dir: Path,
    interrupt_environment: dict,
    tmp_path: Path,
):
    clean_dir = interrupt_dir / "clean"
    # The uninterrupted run goes on while the interrupted ones run.
    clean = BumpnetRun(
        *_scan_arguments(interrupt_files, clean_dir, model_path),
        extra_environment=interrupt_environment,
    )
    try:
        out_dir = tmp_path / "out"
        arguments = _scan_arguments(interrupt_files, out_dir, model_path)
        runs = []
        done = 0
        for signal_number, extra in (
            (signal.SIGTERM, []),
            (signal.SIGINT, ["--resume"]),
        ):
            completed = _interrupt_after_progress(
                arguments + extra, out_dir, done, signal_number, interrupt_environment
            )
            runs.append((signal_number, completed, read_outputs(out_dir)))
            done = _scanned_count(out_dir)
        final = BumpnetRun(
            *arguments, "--resume", extra_environment=interrupt_environment
        ).wait()
    finally:
        clean_run = clean.wait()
    assert clean_run.returncode == 0, clean_run.stderr
    clean_outputs = read_outputs(clean_dir)

    kept = 0
    for signal_number, completed, outputs in runs:
        expected_status = 143 if signal_number == signal.SIGTERM else 130
        assert completed.returncode == expected_status, completed.stderr
        assert "interrupted; writing the" in completed.stderr
        assert outputs["report"]["complete"] is False
        assert outputs["report"]["scanned"] == len(outputs["summary"])
        clean_entries = {entry["key"]: entry for entry in clean_outputs["summary"]}
        for entry in outputs["summary"]:
            assert_same_json(entry, clean_entries[entry["key"]], entry["key"])
            np.testing.assert_array_equal(outputs["z"][entry["key"]], entry["z"])
        assert len(outputs["summary"]) > kept
        kept = len(outputs["summary"])
    assert kept < INTERRUPT_HISTOGRAMS
    assert final.returncode == 0, final.stderr
    outputs = read_outputs(out_dir)
    assert_same_json(outputs["summary"], clean_outputs["summary"])
    assert_same_json(
        run_results(outputs["report"]), run_results(clean_outputs["report"])
    )
    assert outputs["csv"] == clean_outputs["csv"]
    assert outputs["report"]["complete"] is True
    leftovers = [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_resume_rescans_changed_inputs(
    model: BumpNet, interrupt_files: list[Path], tmp_path: Path, caplog
):
    path = tmp_path / "copy.root"
    path.write_bytes(interrupt_files[0].read_bytes())
    report = scan_files([str(path)], model, select=["d0/*"])
    out_dir = tmp_path / "out"
    write_outputs(report, out_dir, 3.0, {"path": "test", "sha256": "abc"})
    kept = load_previous_scan(out_dir, [str(path)], ["d0/*"], "abc", 3.0)
    assert len(kept.results) == len(report.results) == 8
    assert kept.done(str(path), "d0/h000")
    assert not kept.done(str(path), "d1/h001")
    narrower = load_previous_scan(out_dir, [str(path)], ["d0/h00*"], "abc", 3.0)
    assert [r.name for r in narrower.results] == ["d0/h000", "d0/h004", "d0/h008"]
    with caplog.at_level(logging.INFO, logger="bumpnet_root"):
        assert load_previous_scan(out_dir, [str(path)], [], "other", 3.0).results == []
        assert "another model" in caplog.text
        os.utime(path, ns=(1, 1))
        assert load_previous_scan(out_dir, [str(path)], [], "abc", 3.0).results == []
        assert "changed since the earlier scan" in caplog.text
        (out_dir / SUMMARY_JSON).write_text("[{")
        assert load_previous_scan(out_dir, [str(path)], [], "abc", 3.0).results == []
        assert "cannot resume" in caplog.text


# ---------------------------------------------------------------- cross-check


@pytest.mark.parametrize(
    ("counts", "problem"),
    [
        (np.zeros(30), "no entries"),
        (np.r_[np.nan, np.ones(29)], "NaN or inf contents"),
        (np.r_[-5.0, np.ones(29)], "negative contents"),
    ],
)
def test_crosscheck_rejects_bad_histograms(counts, problem):
    from bumpnet_root.crosscheck import crosscheck

    h = (counts, np.linspace(100.0, 200.0, 31))
    with pytest.raises(InvalidHistogramError, match=problem):
        crosscheck(h)


def test_crosscheck_one_bin_rejected():
    from bumpnet_root.crosscheck import crosscheck

    with pytest.raises(InvalidHistogramError, match="more bins than parameters"):
        crosscheck(Hist1D(np.array([100.0, 110.0]), np.array([50.0]), name="one"))


def test_short_scan_gets_a_note():
    edges = np.arange(25.0)
    counts = np.floor(5000.0 * np.exp(-edges[:-1] / 6.0))
    domain = scan_domain(Hist1D(edges, counts, name="short"))
    assert domain.skip_reason is None
    assert any("only 24 bins scanned" in note for note in domain.notes)
    longer = np.arange(61.0)
    falling = np.floor(5000.0 * np.exp(-longer[:-1] / 12.0))
    assert scan_domain(Hist1D(longer, falling, name="long")).notes == ()


def test_table_marks_edge_candidates(model: BumpNet, tmp_path: Path):
    edges = np.arange(61.0)
    expected = 5000.0 * np.exp(-edges[:-1] / 12.0)
    counts = np.random.default_rng(5).poisson(expected).astype(float)
    inside, last = counts.copy(), counts.copy()
    inside[30] += 8.0 * np.sqrt(expected[30])
    last[58] += 8.0 * np.sqrt(expected[58])
    path = tmp_path / "edge.root"
    with uproot.recreate(path) as handle:
        handle["inside"] = (inside, edges)
        handle["last"] = (last, edges)
    report = scan_files([path], model)
    lines = _format_table(report, 3.0, 0)
    # A streaming scan keeps summaries without arrays; the table is the same.
    report.results = [ResultSummary.of(result) for result in report.results]
    assert _format_table(report, 3.0, 0) == lines
    rows = {
        name: [line for line in lines if f":{name} " in line]
        for name in ("inside", "last")
    }
    at_30 = [line for line in rows["inside"] if " 30.5 " in line]
    at_58 = [line for line in rows["last"] if " 58.5 " in line]
    assert at_30 and at_58, lines
    assert "edge of the scanned range" not in at_30[0]
    assert "edge of the scanned range" in at_58[0]
