"""TH1D and TH1F read from their bytes give what the uproot objects give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from bumpnet_root import _fastread
from bumpnet_root._root import import_root
from bumpnet_root._th1_bytes import object_bytes, read_fields
from bumpnet_root.errors import BumpNetError
from bumpnet_root.scan import (
    ScanReport,
    _axis_title,
    _convert,
    _has_bin_labels,
    _load_th1_bytes,
    read_key,
)

DATA = Path(__file__).resolve().parents[1] / "bumpnet_root" / "data"
# ROOT's compression settings: none, ZLIB, LZMA, LZ4 and ZSTD.
COMPRESSIONS = [0, 101, 207, 404, 505]


def _spectrum(n_bins: int) -> np.ndarray:
    return np.round(800.0 * np.exp(-np.arange(n_bins) / 9.0)) + 1.0


def _write_root_file(path: Path, compression: int) -> None:
    root = import_root("the test file")
    root_file = root.TFile(str(path), "RECREATE", "", compression)
    add_directory = root.TH1.AddDirectoryStatus()
    root.TH1.AddDirectory(False)
    try:
        hists = []
        fixed = root.TH1D("fixed", "fixed bins", 40, 100.0, 500.0)
        fixed.SetContent(np.concatenate(([3.0], _spectrum(40), [7.0])))
        fixed.GetXaxis().SetTitle("m_{jj} [GeV]")
        hists.append(fixed)
        edges = np.cumsum(np.linspace(5.0, 20.0, 31)) + 100.0
        variable = root.TH1D("variable", "variable bins", 30, edges)
        variable.SetContent(np.concatenate(([0.0], _spectrum(30), [0.0])))
        hists.append(variable)
        single = root.TH1F("single", "float \u03b3\u03b3", 50, 0.0, 5.0)
        single.SetContent(np.concatenate(([0.0], _spectrum(50) + 0.25, [1.0])))
        hists.append(single)
        weighted = root.TH1D("weighted", "x" * 300, 40, 0.0, 40.0)
        rng = np.random.default_rng(4)
        for value in rng.exponential(8.0, 2000):
            weighted.Fill(value, float(rng.uniform(0.5, 1.5)))
        weighted.Fill(3.5, -50.0)
        hists.append(weighted)
        fitted = root.TH1D("fitted", "with a function", 40, 0.0, 40.0)
        fitted.SetContent(np.concatenate(([0.0], _spectrum(40), [0.0])))
        fitted.GetListOfFunctions().Add(root.TF1("f1", "expo", 0.0, 40.0))
        hists.append(fitted)
        labels = root.TH1D("labels", "", 10, 0.0, 10.0)
        for bin_number in range(1, 11):
            labels.GetXaxis().SetBinLabel(bin_number, f"c{bin_number}")
        hists.append(labels)
        negative = root.TH1D("negative", "", 20, 0.0, 20.0)
        negative.SetContent(np.concatenate(([0.0], _spectrum(20) - 500.0, [0.0])))
        hists.append(negative)
        buffered = root.TH1D("buffered", "", 20, 0.0, 20.0)
        buffered.SetBuffer(1000)
        for value in np.linspace(0.5, 10.5, 30):
            buffered.Fill(value)
        hists.append(buffered)
        latin1 = root.TH1D("latin1_title", "", 20, 0.0, 20.0)
        latin1.SetContent(np.concatenate(([0.0], _spectrum(20), [0.0])))
        # A title in Latin-1, not UTF-8, as old files may have.
        root.gInterpreter.ProcessLine(
            f'((TH1*){root.addressof(latin1)})->SetTitle("caf\\xe9");'
        )
        hists.append(latin1)
        for hist in hists:
            root_file.WriteTObject(hist, hist.GetName())
        for factor in (2.0, 1.0):
            cycle = root.TH1D("cycles", f"factor {factor}", 40, 0, 40)
            cycle.SetContent(np.concatenate(([0.0], factor * _spectrum(40), [0.0])))
            root_file.WriteTObject(cycle, "cycles")
        directory = root_file.mkdir("nested")
        inner = root.TH1D("inner", "nested", 25, 0, 25)
        inner.SetContent(np.concatenate(([0.0], _spectrum(25), [0.0])))
        directory.WriteTObject(inner, "inner")
        root_file.WriteTObject(root.TProfile("profile", "", 20, 0, 1), "profile")
    finally:
        root.TH1.AddDirectory(add_directory)
        root_file.Close()


def _write_uproot_file(path: Path) -> None:
    with uproot.recreate(path) as root_file:
        root_file["from_arrays"] = (_spectrum(30), np.linspace(0.0, 3.0, 31))
        root_file["nested/second"] = (_spectrum(12), np.linspace(1.0, 2.0, 13))


def _compare_file(path: Path) -> int:
    """Compare both ways for every TH1D and TH1F, and count those read from bytes."""
    read_from_bytes = 0
    with uproot.open(path) as root_file:
        for key, class_name in root_file.classnames(recursive=True).items():
            if class_name not in ("TH1D", "TH1F"):
                continue
            name, cycle = key.rsplit(";", 1)
            fast = _load_th1_bytes(root_file, str(path), name, int(cycle), class_name)
            obj = read_key(root_file, name, int(cycle))
            if _has_bin_labels(obj):
                assert fast is None, key
                continue
            try:
                histogram, conversion_warnings = _convert(obj, name)
            except BumpNetError:
                assert fast is None, key
                continue
            if fast is None:
                # Another layout, which uproot reads.
                continue
            read_from_bytes += 1
            got = fast.histogram
            np.testing.assert_array_equal(got.edges, histogram.edges)
            np.testing.assert_array_equal(got.counts, histogram.counts)
            if histogram.variances is None:
                assert got.variances is None, key
            else:
                np.testing.assert_array_equal(got.variances, histogram.variances)
            for attribute in ("name", "title", "underflow", "overflow", "source"):
                assert getattr(got, attribute) == getattr(histogram, attribute), key
            assert fast.x_title == _axis_title(obj), key
            assert fast.warnings == conversion_warnings, key
            assert fast.class_name == class_name
    return read_from_bytes


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_root_written_histograms_match_uproot(tmp_path: Path, compression: int):
    pytest.importorskip("ROOT")
    path = tmp_path / f"hists-{compression}.root"
    _write_root_file(path, compression)
    # All but the labelled one and the negative one, which neither way converts.
    assert _compare_file(path) == 10


def test_uproot_written_histograms_match_uproot(tmp_path: Path):
    path = tmp_path / "uproot.root"
    _write_uproot_file(path)
    assert _compare_file(path) == 2


@pytest.mark.parametrize(
    "name",
    [
        "DoubleMu12.root",
        "data2011_10GeV.root",
        "data2011_15GeV.root",
        "data2012_10GeV.root",
        "data2012_15GeV.root",
    ],
)
def test_bundled_files_match_uproot(name: str):
    # These files hold TH1D version 1 on TH1 version 6 (ROOT of 2012), which
    # uproot reads: none of them is read from its bytes.
    assert _compare_file(DATA / name) == 0


def test_damaged_bytes_never_raise(tmp_path: Path):
    path = tmp_path / "uproot.root"
    _write_uproot_file(path)
    with uproot.open(path) as root_file:
        data = object_bytes(root_file.key("from_arrays;1"))
    assert read_fields(data, "TH1D") is not None
    assert read_fields(data, "TH1F") is None
    assert read_fields(data, "TH1I") is None
    rng = np.random.default_rng(5)
    outcomes = {"none": 0, "fields": 0}
    for trial in range(400):
        damaged = bytearray(data)
        if trial % 2:
            damaged = damaged[: int(rng.integers(0, len(data)))]
        else:
            for position in rng.integers(0, len(data), 3):
                damaged[position] = int(rng.integers(0, 256))
        fields = read_fields(bytes(damaged), "TH1D")
        outcomes["none" if fields is None else "fields"] += 1
    assert outcomes["none"] > 100


def test_list_object_uproot_cannot_read(tmp_path: Path):
    root = pytest.importorskip("ROOT")
    path = tmp_path / "efficiency.root"
    root.TH1.AddDirectory(False)
    root_file = root.TFile(str(path), "RECREATE")
    hist = root.TH1D("h", "with an efficiency", 30, 0.0, 30.0)
    hist.SetContent(np.concatenate(([0.0], _spectrum(30), [0.0])))
    efficiency = root.TEfficiency("efficiency", "", 5, 0.0, 5.0)
    # The histogram's list owns the efficiency and deletes it.
    root.SetOwnership(efficiency, False)
    hist.GetListOfFunctions().Add(efficiency)
    root_file.WriteTObject(hist, "h")
    root_file.Close()
    with uproot.open(path) as root_file:
        fast = _load_th1_bytes(root_file, str(path), "h", 1, "TH1D")
    entries = _fastread.list_entries(str(path), reader="pyroot")
    (expected,) = _fastread.read_entries(str(path), entries, ScanReport(), "pyroot")
    assert fast is not None
    np.testing.assert_array_equal(fast.histogram.counts, expected.histogram.counts)
    np.testing.assert_array_equal(fast.histogram.edges, expected.histogram.edges)


def test_damaged_attribute_version_goes_to_uproot(tmp_path: Path):
    path = tmp_path / "uproot.root"
    _write_uproot_file(path)
    with uproot.open(path) as root_file:
        data = bytearray(object_bytes(root_file.key("from_arrays;1")))
    assert read_fields(bytes(data), "TH1D") is not None
    # TH1D header (6 bytes), TH1 header (6), then TNamed: its byte count
    # gives where TAttLine starts; the version follows TAttLine's byte count.
    named_count = int.from_bytes(data[12:16], "big") & ~0x40000000
    line_version = 12 + 4 + named_count + 4
    data[line_version] = 0xFF
    assert read_fields(bytes(data), "TH1D") is None
