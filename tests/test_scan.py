"""Scanning of ROOT files and the output files, on real files written and read back."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import uproot
from cli_helpers import run_cli

from bumpnet_root._root import import_root
from bumpnet_root.api import BumpNet
from bumpnet_root.io import (
    REPORT_JSON,
    SIGNIFICANCE_ROOT,
    SUMMARY_CSV,
    SUMMARY_JSON,
    atomic_write,
    atomic_write_text,
    write_outputs,
)
from bumpnet_root.scan import (
    ScanReport,
    find_candidates,
    output_prefixes,
    scan_files,
    unique_file_paths,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "bumpnet_root" / "data"
DOUBLE_MU = DATA_DIR / "DoubleMu12.root"
DOUBLE_MU_SELECT = [
    "demo/GMmass*",
    "demo/e_RelPFIso_pT",
    "demo/b4_GM_eta",
    "demo/GM_phi",
    "demo/NMuons",
    "demo/NGMuons",
]
SUMMARY_KEYS = {
    "file",
    "name",
    "key",
    "title",
    "x_title",
    "z_max",
    "mass_at_z_max",
    "edges",
    "counts",
    "z",
    "background",
    "scan_start",
    "scan_stop",
    "scan_range",
    "notes",
    "warnings",
    "out_of_domain",
    "candidates",
}
VARIABLE_EDGES = 10.0 * 1.04 ** np.arange(61)


def _falling_counts(edges: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = 0.5 * (edges[1:] + edges[:-1])
    expected = 2e4 * np.exp(-centers / 25.0) * np.diff(edges)
    return rng.poisson(expected).astype(float)


@pytest.fixture(scope="module")
def model(model_path: Path) -> BumpNet:
    return BumpNet.load(model_path)


@pytest.fixture(scope="module")
def mixed_root_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write a ROOT file with PyROOT that contains every kind of object."""
    root = import_root("the test file")
    path = tmp_path_factory.mktemp("mixed") / "mixed.root"
    uniform_edges = np.linspace(0.0, 100.0, 51)
    root_file = root.TFile(str(path), "RECREATE")
    try:
        # Cycle 1 is flat and would be skipped. Cycle 2 is a falling spectrum.
        mass = root.TH1D("mass", "dijet mass;m_{jj} [GeV];events", 50, 0.0, 100.0)
        for index in range(50):
            mass.SetBinContent(index + 1, 100.0)
        mass.Write()
        for index, value in enumerate(_falling_counts(uniform_edges, seed=1)):
            mass.SetBinContent(index + 1, value)
        mass.Write()

        directory = root_file.mkdir("sub")
        directory.cd()
        variable = root.TH1D(
            "mass_var", "variable bins", VARIABLE_EDGES.size - 1, VARIABLE_EDGES
        )
        for index, value in enumerate(_falling_counts(VARIABLE_EDGES, seed=2)):
            variable.SetBinContent(index + 1, value)
        variable.Write()
        root_file.cd()

        profile = root.TProfile("profile", "a profile", 20, 0.0, 10.0)
        profile.Fill(1.0, 2.0)
        profile.Write()
        labelled = root.TH1D("cutflow", "cut flow", 12, 0.0, 12.0)
        for index in range(12):
            labelled.GetXaxis().SetBinLabel(index + 1, f"cut{index}")
            labelled.SetBinContent(index + 1, 1000.0 / (index + 1))
        labelled.Write()
        graph = root.TGraph(3, np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 9.0]))
        graph.Write("graph")
        tree = root.TTree("events", "events")
        tree.Write()
    finally:
        root_file.Close()
    return path


@pytest.fixture(scope="module")
def nan_root_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write a file with uproot where one histogram has a NaN bin."""
    path = tmp_path_factory.mktemp("nan") / "nan.root"
    edges = np.linspace(0.0, 100.0, 41)
    bad = _falling_counts(edges, seed=3)
    bad[7] = np.nan
    with uproot.recreate(path) as root_file:
        root_file["good"] = (_falling_counts(edges, seed=4), edges)
        root_file["bad"] = (bad, edges)
    return path


@pytest.fixture(scope="module")
def double_mu_scan(model: BumpNet, tmp_path_factory: pytest.TempPathFactory):
    report = scan_files([DOUBLE_MU], model, select=DOUBLE_MU_SELECT)
    out_dir = tmp_path_factory.mktemp("double_mu_out")
    write_outputs(report, out_dir, 3.0, {"path": "test"})
    return report, out_dir


@pytest.fixture(scope="module")
def mixed_scan(
    model: BumpNet,
    mixed_root_file: Path,
    nan_root_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    out_dir = tmp_path_factory.mktemp("mixed_out")
    missing = out_dir / "missing.root"
    not_root = out_dir / "notes.root"
    not_root.write_text("this is not a ROOT file\n")
    files = [mixed_root_file, missing, not_root, nan_root_file]
    report = scan_files(files, model)
    write_outputs(report, out_dir, 3.0, {"path": "test"})
    return report, out_dir, files


def _skip_reasons(report) -> dict[str, str]:
    return {skipped.name: skipped.reason for skipped in report.skipped}


def test_double_mu_scans_mass_histograms(double_mu_scan):
    report, _ = double_mu_scan
    names = sorted(result.name for result in report.results)
    assert names == ["demo/GMmass", "demo/GMmass_extended", "demo/GMmass_extended_600"]
    assert report.failed == []


def test_double_mu_skip_reasons(double_mu_scan):
    report, _ = double_mu_scan
    reasons = _skip_reasons(report)
    assert set(reasons) == {
        "demo/e_RelPFIso_pT",
        "demo/b4_GM_eta",
        "demo/GM_phi",
        "demo/NMuons",
        "demo/NGMuons",
    }
    assert "2 dimensions" in reasons["demo/e_RelPFIso_pT"]
    assert "not an invariant mass" in reasons["demo/b4_GM_eta"]
    assert "not an invariant mass" in reasons["demo/GM_phi"]
    assert "a scan needs at least" in reasons["demo/NMuons"]
    assert "a scan needs at least" in reasons["demo/NGMuons"]
    for skipped in report.skipped:
        assert "\n" not in skipped.reason


def test_summary_json_keys(double_mu_scan):
    report, out_dir = double_mu_scan
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    assert isinstance(summary, list)
    assert len(summary) == len(report.results)
    for entry in summary:
        assert set(entry) == SUMMARY_KEYS
        n_bins = len(entry["counts"])
        assert len(entry["edges"]) == n_bins + 1
        assert len(entry["z"]) == n_bins
        assert len(entry["background"]) == n_bins
        start, stop = entry["scan_start"], entry["scan_stop"]
        assert all(b is None for b in entry["background"][:start])
        assert all(b is not None for b in entry["background"][start:stop])
        assert entry["z_max"] == pytest.approx(max(entry["z"]))
        assert entry["file"] == str(DOUBLE_MU)


def test_summary_json_gmmass_content(double_mu_scan):
    _, out_dir = double_mu_scan
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    entry = next(e for e in summary if e["name"] == "demo/GMmass")
    assert len(entry["counts"]) == 400
    assert entry["edges"][0] == 0.0
    assert entry["edges"][-1] == pytest.approx(4.0)
    assert entry["title"] == "Global Muon mass"
    assert "Invariant Mass" in entry["x_title"]
    low, high = entry["scan_range"]
    assert low == pytest.approx(entry["edges"][entry["scan_start"]])
    assert high == pytest.approx(entry["edges"][entry["scan_stop"]])


def test_scan_report_lists_skipped(double_mu_scan):
    report, out_dir = double_mu_scan
    content = json.loads((out_dir / REPORT_JSON).read_text())
    assert content["scanned"] == 3
    assert content["failed"] == []
    assert len(content["skipped"]) == len(report.skipped)
    th2 = next(s for s in content["skipped"] if s["name"] == "demo/e_RelPFIso_pT")
    assert th2["class"] == "TH2D"


def test_significance_root_with_uproot(double_mu_scan):
    _, out_dir = double_mu_scan
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    with uproot.open(out_dir / SIGNIFICANCE_ROOT) as root_file:
        for entry in summary:
            histogram = root_file[entry["key"]]
            assert histogram.classname == "TH1D"
            np.testing.assert_allclose(histogram.axis().edges(), entry["edges"])
            np.testing.assert_allclose(histogram.values(), entry["z"])


@pytest.mark.root
def test_significance_root_with_pyroot(double_mu_scan):
    root = import_root("the read-back test")
    _, out_dir = double_mu_scan
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    root_file = root.TFile.Open(str(out_dir / SIGNIFICANCE_ROOT))
    try:
        for entry in summary:
            histogram = root_file.Get(entry["key"])
            assert histogram, f"{entry['key']} not found by ROOT"
            assert histogram.ClassName() == "TH1D"
            n_bins = histogram.GetNbinsX()
            assert n_bins == len(entry["z"])
            axis = histogram.GetXaxis()
            edges = [axis.GetBinLowEdge(i) for i in range(1, n_bins + 2)]
            np.testing.assert_allclose(edges, entry["edges"])
            z = np.array([histogram.GetBinContent(i) for i in range(1, n_bins + 1)])
            np.testing.assert_allclose(z, entry["z"])
            assert histogram.GetYaxis().GetTitle() == "Z"
            assert histogram.GetEntries() == n_bins
            stats = np.zeros(4)
            histogram.GetStats(stats)
            edges = np.asarray(entry["edges"])
            centers = 0.5 * (edges[:-1] + edges[1:])
            expected = [z.sum(), (z * z).sum(), (z * centers).sum()]
            expected.append((z * centers * centers).sum())
            np.testing.assert_allclose(stats, expected, rtol=1e-12)
    finally:
        root_file.Close()


def test_summary_csv_one_row_per_candidate(double_mu_scan):
    report, out_dir = double_mu_scan
    with open(out_dir / SUMMARY_CSV, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == sum(len(r.candidates) for r in report.results)
    z_values = [float(row["z"]) for row in rows]
    assert z_values == sorted(z_values, reverse=True)


def test_edge_candidates_noted_in_csv_and_json(double_mu_scan):
    from bumpnet_root.scan import EDGE_NOTE, at_edge

    _, out_dir = double_mu_scan
    with open(out_dir / SUMMARY_CSV, newline="") as stream:
        rows = list(csv.DictReader(stream))
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    flags = {
        (entry["name"], candidate["bin"]): candidate["at_edge"]
        for entry in summary
        for candidate in entry["candidates"]
    }
    ranges = {e["name"]: (e["scan_start"], e["scan_stop"]) for e in summary}
    for row in rows:
        edge = at_edge(int(row["bin"]), *ranges[row["name"]])
        assert flags[(row["name"], int(row["bin"]))] == edge
        assert (EDGE_NOTE in row["notes"]) == edge
    assert any(flags.values())


@pytest.mark.parametrize(
    "bin_index, expected",
    [(10, True), (11, True), (12, False), (37, False), (38, True), (39, True)],
)
def test_at_edge_marks_two_bins_at_each_end(bin_index, expected):
    from bumpnet_root.scan import at_edge

    assert at_edge(bin_index, 10, 40) == expected


def test_newest_cycle_is_scanned(mixed_scan):
    report, _, _ = mixed_scan
    result = next(r for r in report.results if r.name == "mass")
    assert result.histogram.counts[0] != 100.0
    assert "mass" not in _skip_reasons(report)


def test_subdirectory_and_variable_bins(mixed_scan):
    report, out_dir, _ = mixed_scan
    result = next(r for r in report.results if r.name == "sub/mass_var")
    assert result.key == "mixed/sub/mass_var"
    np.testing.assert_allclose(result.histogram.edges, VARIABLE_EDGES)
    with uproot.open(out_dir / SIGNIFICANCE_ROOT) as root_file:
        written = root_file["mixed/sub/mass_var"]
        np.testing.assert_allclose(written.axis().edges(), VARIABLE_EDGES)
        np.testing.assert_allclose(written.values(), result.prediction.z)


def test_mixed_file_skip_reasons(mixed_scan):
    reasons = _skip_reasons(mixed_scan[0])
    assert "mean per bin" in reasons["profile"]
    assert "bin labels" in reasons["cutflow"]
    assert "not a 1-D histogram" in reasons["graph"]
    assert "TTree is not a histogram" in reasons["events"]


def test_rntuple_skip_names_builder(model: BumpNet):
    path = (
        DATA_DIR
        / "events"
        / ("Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root")
    )
    report = scan_files([path], model)
    reasons = _skip_reasons(report)
    assert "RNTuple is not a histogram" in reasons["Events"]
    assert "bumpnet build-histograms" in reasons["Events"]


def test_bad_files_and_histograms_recorded(mixed_scan):
    report, _, files = mixed_scan
    failed = {(Path(f.file).name, f.name): f for f in report.failed}
    assert set(failed) == {
        ("missing.root", ""),
        ("notes.root", ""),
        ("nan.root", "bad"),
    }
    assert str(files[1]) in failed[("missing.root", "")].error
    assert "NaN" in failed[("nan.root", "bad")].error
    scanned = {(Path(r.file).name, r.name) for r in report.results}
    assert scanned == {
        ("mixed.root", "mass"),
        ("mixed.root", "sub/mass_var"),
        ("nan.root", "good"),
    }


def test_bad_histogram_does_not_block_outputs(mixed_scan):
    _, out_dir, _ = mixed_scan
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    assert {entry["key"] for entry in summary} == {
        "mixed/mass",
        "mixed/sub/mass_var",
        "nan/good",
    }
    content = json.loads((out_dir / REPORT_JSON).read_text())
    assert {(Path(f["file"]).name, f["name"]) for f in content["failed"]} == {
        ("missing.root", ""),
        ("notes.root", ""),
        ("nan.root", "bad"),
    }
    with uproot.open(out_dir / SIGNIFICANCE_ROOT) as root_file:
        assert "nan/bad" not in root_file
        assert "nan/good" in root_file


def test_interrupted_scan_keeps_results(
    model: BumpNet, nan_root_file: Path, mixed_root_file: Path
):
    report = ScanReport()

    def interrupt(_path: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan_files(
            [nan_root_file, mixed_root_file],
            model,
            on_file_done=interrupt,
            report=report,
        )
    assert report.files == [str(nan_root_file)]
    assert [result.name for result in report.results] == ["good"]
    assert [failure.name for failure in report.failed] == ["bad"]


def test_duplicate_paths_scanned_once(model: BumpNet, nan_root_file: Path):
    report = scan_files([nan_root_file, str(nan_root_file)], model)
    assert report.files == [str(nan_root_file)]
    assert [result.key for result in report.results] == ["good"]


def test_outputs_leave_no_temporary_files(mixed_scan, double_mu_scan):
    for out_dir in (mixed_scan[1], double_mu_scan[1]):
        leftovers = [p.name for p in out_dir.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == []


def test_atomic_write_keeps_old_file_on_error(tmp_path: Path):
    target = tmp_path / "summary.json"
    atomic_write_text(target, "old\n")

    def fail(temporary: Path) -> None:
        temporary.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


@pytest.mark.parametrize(
    ("z", "expected_bins"),
    [
        # Two separated peaks, the higher one first.
        ([0, 1, 4, 1, 0, 0, 0, 2, 6, 2, 0], [8, 2]),
        # Below the threshold: nothing.
        ([0, 1, 2.9, 1, 0], []),
        # A maximum in the last bin counts.
        ([0, 0, 1, 2, 5], [4]),
        # A maximum in the first bin counts.
        ([7, 2, 0, 0, 0], [0]),
        # A ripple on the flank of a wide peak is not a second candidate.
        ([0, 2, 5, 8, 10, 8, 6, 6.4, 5, 3, 1, 0], [4]),
        # Two maxima closer than the separation: only the higher one.
        ([0, 5, 2.5, 6, 0, 0], [3]),
        # A maximum equal to the threshold is not above it.
        ([0, 1, 3, 1, 0], []),
    ],
)
def test_find_candidates(z, expected_bins):
    centers = np.arange(len(z)) + 0.5
    candidates = find_candidates(np.array(z, dtype=float), centers, threshold=3.0)
    assert [c.bin for c in candidates] == expected_bins
    for candidate in candidates:
        assert candidate.mass == centers[candidate.bin]
        assert candidate.z == z[candidate.bin]


def test_output_prefixes_unique():
    prefixes = output_prefixes(["a/data.root", "b/data.root", "c/other.root"])
    assert prefixes == {
        "a/data.root": "data",
        "b/data.root": "data_2",
        "c/other.root": "other",
    }
    assert output_prefixes(["only.root"]) == {"only.root": ""}


def test_unique_file_paths_resolve_links(tmp_path: Path, caplog):
    target = tmp_path / "spectra.root"
    target.write_bytes(b"")
    link = tmp_path / "link.root"
    link.symlink_to(target)
    (tmp_path / "sub").mkdir()
    spellings = [
        str(target),
        str(tmp_path / "sub" / ".." / "spectra.root"),
        str(link),
        str(target),
        str(tmp_path / "missing.root"),
    ]
    with caplog.at_level("WARNING", logger="bumpnet_root"):
        unique = unique_file_paths(spellings)
    assert unique == [str(target), str(tmp_path / "missing.root")]
    assert "3 file paths name a file given before" in caplog.text


def test_unreadable_file_gets_permission_advice(tmp_path: Path):
    from bumpnet_root.scan import _file_advice

    path = tmp_path / "locked.root"
    path.write_bytes(b"root")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("needs a user whom file permissions stop (not root)")
        advice = _file_advice(OSError("Failed to open file"), str(path))
    finally:
        path.chmod(0o644)
    assert advice == "make the file readable for this user"


def test_file_advice_without_errno_means_damaged(tmp_path: Path):
    from bumpnet_root.scan import _file_advice

    path = tmp_path / "binary.root"
    path.write_bytes(b"XXXX\x00\x01\x02" * 10)
    advice = _file_advice(OSError("Failed to open file"), str(path))
    assert "not a ROOT file, or it is truncated or corrupted" in advice
    assert _file_advice(PermissionError(13, "denied"), str(path)).startswith("make")


def test_file_advice_for_empty_file(tmp_path: Path):
    from bumpnet_root.scan import _file_advice

    path = tmp_path / "empty.root"
    path.write_bytes(b"")
    advice = _file_advice(OSError("expected Chunk of length 403"), str(path))
    assert advice == "the file is empty (0 bytes); write it again"


def test_file_advice_for_text_files(tmp_path: Path):
    from bumpnet_root.scan import _file_advice

    path = tmp_path / "spectrum.csv"
    path.write_text("low_edge,high_edge,count\n0,1,10\n1,2,8\n")
    advice = _file_advice(OSError("Failed to open file"), str(path))
    assert advice.startswith("the file is text, not a ROOT file")
    assert "read_csv_histogram" in advice
    utf16 = tmp_path / "utf16.root"
    utf16.write_text("low_edge,high_edge,count\n0,1,10\n", encoding="utf-16")
    advice = _file_advice(OSError("Failed to open file"), str(utf16))
    assert advice.startswith("the file is text")
    no_nul = tmp_path / "no_nul.root"
    no_nul.write_bytes(bytes(range(1, 256)) * 4)
    advice = _file_advice(OSError("Failed to open file"), str(no_nul))
    assert advice.startswith("the file is not a ROOT file")


def _write_falling_under_keys(
    path: Path, keys: list[str], subdirectory_keys: tuple[str, ...] = ()
) -> None:
    """Write one falling 60-bin TH1D under each key name with TFile::WriteTObject.

    ``subdirectory_keys`` go into a directory "sub".
    """
    ROOT = import_root()
    handle = ROOT.TFile(str(path), "RECREATE")
    falling = ROOT.TH1D("falling", "falling", 60, 0.0, 60.0)
    for index in range(60):
        falling.SetBinContent(index + 1, float(int(2000 * np.exp(-index / 12))))
    for key in keys:
        handle.WriteTObject(falling, key)
    if subdirectory_keys:
        subdirectory = handle.mkdir("sub")
        for key in subdirectory_keys:
            subdirectory.WriteTObject(falling, key)
    handle.Close()


def test_key_name_with_slash_is_read(model: BumpNet, tmp_path: Path):
    path = tmp_path / "slash.root"
    _write_falling_under_keys(path, ["mass/ee", "plain"], ("mass/mm",))
    report = scan_files([path], model)
    assert not report.failed
    names = sorted(result.name for result in report.results)
    assert names == ["mass/ee", "plain", "sub/mass/mm"]
    z = {result.name: result.prediction.z for result in report.results}
    np.testing.assert_array_equal(z["mass/ee"], z["plain"])
    np.testing.assert_array_equal(z["sub/mass/mm"], z["plain"])


def _shared_path_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [record.getMessage() for record in caplog.records]
    return [message for message in messages if "keys have the path" in message]


@pytest.mark.parametrize("reader", ["pyroot", "uproot"])
def test_key_and_directory_with_one_path_warn(
    tmp_path: Path, reader: str, caplog: pytest.LogCaptureFixture
):
    from bumpnet_root._fastread import list_entries

    path = tmp_path / "shared.root"
    _write_falling_under_keys(path, ["sub/x", "plain"], ("x", "y"))
    with caplog.at_level("WARNING", logger="bumpnet_root"):
        entries = list_entries(str(path), reader=reader)
    assert sorted(entry.name for entry in entries) == ["plain", "sub/x", "sub/y"]
    warnings = _shared_path_warnings(caplog)
    assert len(warnings) == 1
    assert "2 keys have the path 'sub/x'" in warnings[0]
    assert "'sub/x' at the top level" in warnings[0]
    assert "'x' in the directory 'sub'" in warnings[0]


@pytest.mark.parametrize("reader", ["pyroot", "uproot"])
def test_shared_path_warning_names_real_keys(
    tmp_path: Path, reader: str, caplog: pytest.LogCaptureFixture
):
    from bumpnet_root._fastread import list_entries

    path = tmp_path / "deep.root"
    # "sub/a/b" at the top level and "a/b" inside the directory "sub".
    _write_falling_under_keys(path, ["sub/a/b", "x//y", "x/y"], ("a/b",))
    with caplog.at_level("WARNING", logger="bumpnet_root"):
        list_entries(str(path), reader=reader)
    warnings = sorted(_shared_path_warnings(caplog))
    assert len(warnings) == 2
    assert "'a/b' in the directory 'sub'" in warnings[0]
    assert "'sub/a/b' at the top level" in warnings[0]
    assert "'x//y' at the top level, 'x/y' at the top level" in warnings[1]


def test_shared_path_outside_selection_not_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from bumpnet_root._fastread import list_entries

    path = tmp_path / "shared.root"
    _write_falling_under_keys(path, ["sub/x", "plain"], ("x",))
    with caplog.at_level("WARNING", logger="bumpnet_root"):
        for reader in ("pyroot", "uproot"):
            list_entries(str(path), ["plain"], reader=reader)
    assert not _shared_path_warnings(caplog)


def test_scan_files_warns_about_a_shared_path(
    model: BumpNet, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "shared.root"
    _write_falling_under_keys(path, ["sub/x"], ("x",))
    with caplog.at_level("WARNING", logger="bumpnet_root"):
        report = scan_files([path], model)
    assert [result.name for result in report.results] == ["sub/x"]
    assert len(_shared_path_warnings(caplog)) == 1


def test_key_cycles_not_a_shared_path(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    from bumpnet_root._fastread import list_entries

    path = tmp_path / "cycles.root"
    _write_falling_under_keys(path, ["h", "h", "sub/h"], ("g",))
    with caplog.at_level("WARNING", logger="bumpnet_root"):
        for reader in ("pyroot", "uproot"):
            list_entries(str(path), reader=reader)
    assert not _shared_path_warnings(caplog)


def test_keys_clashing_with_directories_written(model: BumpNet, tmp_path: Path):
    path = tmp_path / "clash.root"
    _write_falling_under_keys(path, ["a", "a/b", "c//d", "/e"])
    out = tmp_path / "out"
    done = run_cli("scan", path, "--out", out, "--no-lee")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / SUMMARY_JSON).read_text())
    keys = {entry["name"]: entry["key"] for entry in summary}
    assert keys == {"a": "a", "a/b": "a__b", "c//d": "c/d", "/e": "e"}
    with uproot.open(out / SIGNIFICANCE_ROOT) as written:
        for key in keys.values():
            assert written[key].values().shape == (60,)
    report = scan_files([path], model)
    write_outputs(report, tmp_path / "batch", 3.0, {"path": "test"})
    batch = json.loads((tmp_path / "batch" / SUMMARY_JSON).read_text())
    assert {entry["name"]: entry["key"] for entry in batch} == keys
