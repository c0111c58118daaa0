"""The compiled batch reader gives what the one-at-a-time PyROOT reader gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bumpnet_root import _fastread
from bumpnet_root._batchread import read_clean_histograms
from bumpnet_root._root import import_root
from bumpnet_root.scan import ScanReport

pytest.importorskip("ROOT")

# name -> whether the batch reader takes it (True) or leaves it to the usual way
EXPECTED_CLEAN = {
    "fixed": True,
    "variable": True,
    "single": True,
    "unweighted_sumw2": True,
    "nested/deeper/inner": True,
    "unicode_title": True,
    "cycles": True,
    "small_flow": True,
    "weighted": False,
    "large_flow": False,
    "flow_near_limit": False,
    "nan_content": False,
    "negative_content": False,
    "negative_underflow": False,
    "integer": False,
    "labels": False,
    "buffered": False,
    "latin1_title": False,
}


def _spectrum(n_bins: int) -> np.ndarray:
    return np.round(1000.0 * np.exp(-np.arange(n_bins) / 10.0)) + 1.0


def _cells(n_bins: int, underflow: float = 0.0, overflow: float = 0.0) -> np.ndarray:
    return np.concatenate(([underflow], _spectrum(n_bins), [overflow]))


def _write_file(path: Path) -> None:
    root = import_root("the test file")
    root_file = root.TFile(str(path), "RECREATE")
    add_directory = root.TH1.AddDirectoryStatus()
    root.TH1.AddDirectory(False)
    try:
        objects = {}
        objects["fixed"] = root.TH1D("fixed", "fixed bins", 40, 100.0, 500.0)
        objects["fixed"].SetContent(_cells(40))
        edges = np.cumsum(np.linspace(5.0, 20.0, 31)) + 100.0
        objects["variable"] = root.TH1D("variable", "variable bins", 30, edges)
        objects["variable"].SetContent(_cells(30))
        objects["single"] = root.TH1F("single", "float", 40, 0.0, 400.0)
        objects["single"].SetContent(_cells(40) + 0.1)
        objects["unweighted_sumw2"] = root.TH1D("unweighted_sumw2", "", 40, 0, 40)
        objects["unweighted_sumw2"].SetContent(_cells(40))
        objects["unweighted_sumw2"].Sumw2()
        objects["unicode_title"] = root.TH1D(
            "unicode_title", "m_{\u03b3\u03b3}", 40, 0, 4
        )
        objects["unicode_title"].GetXaxis().SetTitle("m_{\u03b3\u03b3} [GeV]")
        objects["unicode_title"].SetContent(_cells(40))
        total = _spectrum(40).sum()
        objects["small_flow"] = root.TH1D("small_flow", "", 40, 0, 40)
        objects["small_flow"].SetContent(_cells(40, 0.01 * total, 0.02 * total))
        weighted = root.TH1D("weighted", "", 40, 0, 40)
        weighted.SetContent(_cells(40))
        weighted.Sumw2()
        weighted.SetBinError(5, 100.0)
        objects["weighted"] = weighted
        objects["large_flow"] = root.TH1D("large_flow", "", 40, 0, 40)
        objects["large_flow"].SetContent(_cells(40, 0.2 * total, 0.0))
        # 4.95 % of the entries: between the batch reader's limit and the warning's.
        near = 0.0495 * total / (1 - 0.0495)
        objects["flow_near_limit"] = root.TH1D("flow_near_limit", "", 40, 0, 40)
        objects["flow_near_limit"].SetContent(_cells(40, near, 0.0))
        nan_cells = _cells(40)
        nan_cells[7] = np.nan
        objects["nan_content"] = root.TH1D("nan_content", "", 40, 0, 40)
        objects["nan_content"].SetContent(nan_cells)
        negative = _cells(40)
        negative[9] = -3.0
        objects["negative_content"] = root.TH1D("negative_content", "", 40, 0, 40)
        objects["negative_content"].SetContent(negative)
        objects["negative_underflow"] = root.TH1D("negative_underflow", "", 40, 0, 40)
        objects["negative_underflow"].SetContent(_cells(40, -2.0, 0.0))
        objects["integer"] = root.TH1I("integer", "", 40, 0, 40)
        for index, value in enumerate(_cells(40)):
            objects["integer"].SetBinContent(index, value)
        labels = root.TH1D("labels", "", 20, 0, 20)
        for bin_number in range(1, 21):
            labels.GetXaxis().SetBinLabel(bin_number, f"c{bin_number}")
            labels.SetBinContent(bin_number, 10.0)
        objects["labels"] = labels
        buffered = root.TH1D("buffered", "", 40, 0, 40)
        buffered.SetBuffer(100)
        for value in np.linspace(0.5, 10.5, 50):
            buffered.Fill(value)
        objects["buffered"] = buffered
        latin1 = root.TH1D("latin1_title", "", 40, 0, 40)
        latin1.SetContent(_cells(40))
        # A title in Latin-1, not UTF-8, as old files may have.
        root.gInterpreter.ProcessLine(
            f'((TH1*){root.addressof(latin1)})->SetTitle("caf\\xe9");'
        )
        objects["latin1_title"] = latin1
        for name, hist in objects.items():
            root_file.WriteTObject(hist, name)
        old = root.TH1D("cycles", "old cycle", 40, 0, 40)
        old.SetContent(_cells(40) * 2)
        root_file.WriteTObject(old, "cycles")
        new = root.TH1D("cycles", "new cycle", 40, 0, 40)
        new.SetContent(_cells(40))
        root_file.WriteTObject(new, "cycles")
        inner = root_file.mkdir("nested").mkdir("deeper")
        nested = root.TH1D("inner", "nested", 40, 0, 40)
        nested.SetContent(_cells(40))
        inner.WriteTObject(nested, "inner")
        root_file.WriteTObject(root.TH2D("map", "", 5, 0, 1, 5, 0, 1), "map")
        root_file.WriteTObject(root.TProfile("profile", "", 20, 0, 1), "profile")
    finally:
        root.TH1.AddDirectory(add_directory)
        root_file.Close()


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batchread") / "mixed.root"
    _write_file(path)
    return path


def _entries(path: Path) -> list[_fastread.ObjectEntry]:
    return _fastread.list_entries(str(path), (), None, "pyroot", ScanReport())


def test_batch_reader_takes_the_clean_histograms_only(mixed_file: Path):
    root = import_root("the test")
    entries = [e for e in _entries(mixed_file) if e.name in EXPECTED_CLEAN]
    assert {e.name for e in entries} == set(EXPECTED_CLEAN)
    root_file = root.TFile.Open(str(mixed_file))
    try:
        read = read_clean_histograms(
            root, root_file, [e.name for e in entries], [e.cycle for e in entries]
        )
    finally:
        root_file.Close()
    assert read is not None
    read_here = {entry.name: item is not None for entry, item in zip(entries, read)}
    assert read_here == EXPECTED_CLEAN


def test_batch_reader_matches_reading_one_at_a_time(
    mixed_file: Path, monkeypatch: pytest.MonkeyPatch
):
    entries = _entries(mixed_file)
    batch_report = ScanReport()
    batch = _fastread.read_entries(str(mixed_file), entries, batch_report, "pyroot")
    monkeypatch.setattr(
        _fastread, "_read_clean", lambda root, file, path, todo: [None] * len(todo)
    )
    single_report = ScanReport()
    single = _fastread.read_entries(str(mixed_file), entries, single_report, "pyroot")

    assert [item.name for item in batch] == [item.name for item in single]
    for ours, theirs in zip(batch, single):
        assert (ours.class_name, ours.x_title, ours.warnings) == (
            theirs.class_name,
            theirs.x_title,
            theirs.warnings,
        )
        a, b = ours.histogram, theirs.histogram
        for attribute in ("name", "title", "underflow", "overflow", "source"):
            assert getattr(a, attribute) == getattr(b, attribute), attribute
        for attribute in ("edges", "counts"):
            assert getattr(a, attribute).dtype == np.float64
            np.testing.assert_array_equal(getattr(a, attribute), getattr(b, attribute))
        if b.variances is None:
            assert a.variances is None
        else:
            np.testing.assert_array_equal(a.variances, b.variances)
    assert batch_report.skipped == single_report.skipped
    assert batch_report.failed == single_report.failed
    by_name = {item.name: item for item in batch}
    assert by_name["cycles"].histogram.title == "new cycle"
    assert by_name["unicode_title"].x_title == "m_{\u03b3\u03b3} [GeV]"
    assert any("weighted" in w for w in by_name["weighted"].warnings)
    assert any("underflow" in w for w in by_name["large_flow"].warnings)
    assert by_name["flow_near_limit"].warnings == ()
    # Entries left in the fill buffer when the histogram was written count.
    assert by_name["buffered"].histogram.counts.sum() == 50
    failed = {failure.name for failure in batch_report.failed}
    assert {"nan_content", "negative_content"} <= failed
