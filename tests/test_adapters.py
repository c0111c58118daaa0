"""Tests of the conversions between ROOT, uproot, hist, numpy and Hist1D."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import boost_histogram as bh
import hist
import numpy as np
import pytest
import uproot

from bumpnet_root._root import import_root, is_root_object
from bumpnet_root.adapters import (
    FLOW_WARNING_FRACTION,
    read_csv_histogram,
    to_hist,
    to_hist1d,
    to_th1d,
)
from bumpnet_root.errors import (
    FlowBinWarning,
    InvalidHistogramError,
    MissingDependencyError,
    UnsupportedInputError,
    WeightedHistogramWarning,
)
from bumpnet_root.histogram import Hist1D

DATA = Path(__file__).resolve().parents[1] / "bumpnet_root" / "data"
DOUBLE_MU = DATA / "DoubleMu12.root"
VARIABLE_EDGES = np.array([0.0, 1.0, 3.0, 6.0, 10.0])
_unique_ids = itertools.count()


@pytest.fixture(scope="module")
def root():
    try:
        return import_root("the ROOT adapter tests")
    except MissingDependencyError as err:
        pytest.skip(str(err))


def make_th1(root, class_name="TH1D", edges=VARIABLE_EDGES, name=None, title="t"):
    """Create a ROOT histogram with a unique name that no directory owns."""
    name = name or f"h{next(_unique_ids)}"
    edges = np.asarray(edges, dtype=np.float64)
    th1 = getattr(root, class_name)(name, title, edges.size - 1, edges)
    th1.SetDirectory(root.nullptr)
    return th1


def assert_same_hist(actual, expected):
    np.testing.assert_allclose(actual.edges, expected.edges, rtol=1e-12)
    np.testing.assert_array_equal(actual.counts, expected.counts)
    if expected.variances is None:
        assert actual.variances is None
    else:
        np.testing.assert_array_equal(actual.variances, expected.variances)
    assert actual.name == expected.name
    assert actual.title == expected.title
    assert actual.underflow == expected.underflow
    assert actual.overflow == expected.overflow


def fill(th1, values, weights=None):
    weights = np.ones(len(values)) if weights is None else weights
    for value, weight in zip(values, weights):
        th1.Fill(float(value), float(weight))


# ROOT TH1


@pytest.mark.root
@pytest.mark.parametrize("class_name", ["TH1F", "TH1D", "TH1I", "TH1C", "TH1S"])
def test_th1_types_variable_bins(root, class_name):
    th1 = make_th1(root, class_name, name=f"mass_{class_name}", title="m_{#mu#mu}")
    fill(th1, [0.5] * 10 + [2.0] * 20 + [7.0] * 30 + [11.0])

    h = to_hist1d(th1)

    np.testing.assert_array_equal(h.edges, VARIABLE_EDGES)
    np.testing.assert_array_equal(h.counts, [10, 20, 0, 30])
    assert h.variances is None
    assert h.underflow == 0
    assert h.overflow == 1
    assert h.name == f"mass_{class_name}"
    assert h.title == "m_{#mu#mu}"
    assert class_name in h.source


@pytest.mark.root
def test_th1_fixed_bins(root):
    th1 = root.TH1F(f"fixed{next(_unique_ids)}", "", 50, 100.0, 200.0)
    th1.SetDirectory(root.nullptr)
    th1.SetBinContent(7, 4.0)

    h = to_hist1d(th1)

    np.testing.assert_allclose(h.edges, np.linspace(100.0, 200.0, 51))
    assert h.counts[6] == 4.0
    assert h.counts.sum() == 4.0


@pytest.mark.root
def test_th1c_reads_zero_bytes(root):
    # A Char_t array with zeros must not be cut short like a C string.
    th1 = make_th1(root, "TH1C")
    th1.SetBinContent(1, 0)
    th1.SetBinContent(2, 5)
    th1.SetBinContent(4, 7)

    np.testing.assert_array_equal(to_hist1d(th1).counts, [0, 5, 0, 7])


@pytest.mark.root
def test_th1_weighted_sumw2_warns(root):
    th1 = make_th1(root, name="weighted_mass")
    th1.Sumw2()
    fill(th1, [0.5, 2.0, 2.0], weights=[2.0, 0.5, 0.5])

    with pytest.warns(WeightedHistogramWarning) as record:
        h = to_hist1d(th1)

    assert len(record) == 1
    message = str(record[0].message)
    assert "weighted_mass" in message
    assert "counts**2 / variances" in message
    np.testing.assert_allclose(h.counts, [2.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(h.variances, [4.0, 0.5, 0.0, 0.0])


@pytest.mark.root
def test_th1_sumw2_unit_weights_no_warning(root):
    # Profiles are detected by class, so the UHI kind of a TH1 with Sumw2 is unused.
    th1 = make_th1(root)
    th1.Sumw2()
    fill(th1, [0.5, 2.0, 2.0])

    h = to_hist1d(th1)

    np.testing.assert_array_equal(h.variances, [1.0, 2.0, 0.0, 0.0])
    assert not h.is_weighted


@pytest.mark.root
def test_th1_flow_warning_above_threshold(root):
    assert FLOW_WARNING_FRACTION == 0.05
    th1 = make_th1(root, name="flowing")
    fill(th1, [0.5] * 90 + [-1.0] * 4 + [20.0] * 6)

    with pytest.warns(FlowBinWarning, match="flowing") as record:
        h = to_hist1d(th1)

    assert "10.0%" in str(record[0].message)
    assert "underflow and overflow bins (4 and 6 entries)" in str(record[0].message)
    assert record[0].filename == __file__
    assert h.underflow == 4
    assert h.overflow == 6
    assert h.counts.sum() == 90


def test_warnings_point_at_the_callers_line(model_path):
    from bumpnet_root import BumpNet

    counts = np.round(1000.0 * np.exp(-np.arange(40) / 10.0))
    flowing = hist.Hist(hist.axis.Regular(40, 0.0, 40.0))
    flowing.view(flow=True)[:] = np.concatenate(([5000.0], counts, [0.0]))
    net = BumpNet.load(model_path)
    with pytest.warns(FlowBinWarning) as record:
        net.predict(flowing)
    ours = [w.filename for w in record if issubclass(w.category, FlowBinWarning)]
    assert ours == [__file__]


@pytest.mark.root
def test_th1_flow_at_threshold_no_warning(root):
    th1 = make_th1(root)
    fill(th1, [0.5] * 95 + [20.0] * 5)

    assert to_hist1d(th1).overflow == 5


@pytest.mark.root
def test_th1_name_argument_overrides(root):
    th1 = make_th1(root, name="stored")

    assert to_hist1d(th1, name="given").name == "given"


@pytest.mark.root
def test_rdataframe_histo1d_result(root):
    result = (
        root.RDataFrame(10)
        .Define("x", "0.5 + rdfentry_")
        .Histo1D((f"rdf{next(_unique_ids)}", "rdf", 10, 0.0, 10.0), "x")
    )

    np.testing.assert_array_equal(to_hist1d(result).counts, np.ones(10))


@pytest.mark.root
def test_th1_from_root_file(root):
    file = root.TFile.Open(str(DOUBLE_MU))
    try:
        h = to_hist1d(file.Get("demo/GMmass_extended"))
    finally:
        file.Close()

    assert h.n_bins == 240
    assert h.overflow == 124291
    assert str(DOUBLE_MU) in h.source


# ROOT rejections


@pytest.mark.root
def test_th1_null_pointer_rejected(root):
    with pytest.raises(UnsupportedInputError, match="null pointer"):
        to_hist1d(root.bind_object(0, "TH1D"))


@pytest.mark.root
def test_root_non_histogram_rejected(root):
    graph = root.TGraph(3)
    graph.SetName("graph")

    with pytest.raises(UnsupportedInputError) as info:
        to_hist1d(graph)

    message = str(info.value)
    assert "'graph'" in message
    assert "TGraph" in message
    assert "not a histogram" in message


@pytest.mark.root
@pytest.mark.parametrize(
    ("class_name", "args", "dimensions"),
    [
        ("TH2D", (2, 0.0, 1.0, 2, 0.0, 1.0), 2),
        ("TH3D", (2, 0.0, 1.0, 2, 0.0, 1.0, 2, 0.0, 1.0), 3),
    ],
)
def test_th2_th3_rejected(root, class_name, args, dimensions):
    name = f"multi{next(_unique_ids)}"
    histogram = getattr(root, class_name)(name, "", *args)
    histogram.SetDirectory(root.nullptr)

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(histogram)

    message = str(info.value)
    assert name in message
    assert class_name in message
    assert f"{dimensions} dimensions" in message
    assert "ProjectionX" in message


@pytest.mark.root
def test_tprofile_rejected(root):
    profile = make_th1(root, "TProfile", name="profile")
    profile.Fill(0.5, 3.0)

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(profile)

    message = str(info.value)
    assert "'profile'" in message
    assert "TProfile" in message
    assert "mean" in message


@pytest.mark.root
def test_th1_bin_labels_rejected(root):
    th1 = make_th1(root, name="labelled")
    th1.GetXaxis().SetBinLabel(1, "signal region")

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(th1)

    message = str(info.value)
    assert "labelled" in message
    assert "bin labels" in message


@pytest.mark.root
@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_th1_nan_inf_rejected(root, bad_value):
    th1 = make_th1(root, name="broken")
    th1.SetBinContent(3, bad_value)

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(th1)

    message = str(info.value)
    assert "'broken'" in message
    assert "NaN or inf" in message
    assert "[3, 6)" in message


@pytest.mark.root
def test_th1_negative_rejected(root):
    th1 = make_th1(root, name="subtracted")
    th1.SetBinContent(2, -3.0)

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(th1)

    message = str(info.value)
    assert "'subtracted'" in message
    assert "-3.0" in message
    assert "negative weights" in message
    assert "raw counts" in message


# uproot


def test_uproot_bundled_file():
    with uproot.open(DOUBLE_MU) as file:
        h = to_hist1d(file["demo/GMmass_extended"])
        expected = file["demo/GMmass_extended"].values()

    assert h.name == "GMmass_extended"
    assert h.title == "GMmass"
    assert h.n_bins == 240
    np.testing.assert_allclose(h.edges, np.linspace(0.0, 120.0, 241))
    np.testing.assert_array_equal(h.counts, expected)
    assert h.variances is None
    assert h.overflow == 124291
    assert "uproot TH1D" in h.source


@pytest.mark.root
def test_uproot_matches_pyroot(root):
    # GMmass covers 0-4 GeV, so most dimuons sit in its overflow bin.
    file = root.TFile.Open(str(DOUBLE_MU))
    try:
        with pytest.warns(FlowBinWarning, match="GMmass"):
            from_root = to_hist1d(file.Get("demo/GMmass"))
    finally:
        file.Close()
    with uproot.open(DOUBLE_MU) as file:
        with pytest.warns(FlowBinWarning, match="GMmass"):
            from_uproot = to_hist1d(file["demo/GMmass"])

    np.testing.assert_array_equal(from_uproot.counts, from_root.counts)
    np.testing.assert_allclose(from_uproot.edges, from_root.edges)
    assert from_uproot.overflow == from_root.overflow


def test_uproot_written_weight_hist(tmp_path):
    weighted = hist.Hist(
        hist.axis.Variable(VARIABLE_EDGES), storage=hist.storage.Weight()
    )
    weighted.fill([0.5, 2.0, 2.0, 7.0], weight=[2.0, 0.5, 0.5, 1.0])
    unweighted = hist.Hist(hist.axis.Regular(4, 0.0, 4.0))
    unweighted.fill([0.5, 1.5, 1.5])
    path = tmp_path / "spectra.root"
    with uproot.recreate(path) as file:
        file["weighted"] = weighted
        file["unweighted"] = unweighted

    with uproot.open(path) as file:
        with pytest.warns(WeightedHistogramWarning, match="weighted"):
            h = to_hist1d(file["weighted"])
        plain = to_hist1d(file["unweighted"])

    np.testing.assert_array_equal(h.edges, VARIABLE_EDGES)
    np.testing.assert_allclose(h.counts, [2.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(h.variances, [4.0, 0.5, 0.0, 1.0])
    np.testing.assert_array_equal(plain.counts, [1, 2, 0, 0])
    assert plain.variances is None


def test_uproot_th2_rejected():
    with uproot.open(DOUBLE_MU) as file:
        with pytest.raises(InvalidHistogramError) as info:
            to_hist1d(file["demo/e_RelPFIso_pT"])

    message = str(info.value)
    assert "e_RelPFIso_pT" in message
    assert "TH2D" in message
    assert "2 axes" in message


@pytest.mark.root
def test_uproot_profile_and_labels_rejected(root, tmp_path):
    path = tmp_path / "rejected.root"
    file = root.TFile(str(path), "RECREATE")
    profile = root.TProfile("profile", "", 3, 0.0, 3.0)
    profile.Fill(0.5, 2.0)
    labelled = root.TH1D("labelled", "", 3, 0.0, 3.0)
    labelled.GetXaxis().SetBinLabel(1, "a")
    file.Write()
    file.Close()

    with uproot.open(path) as read:
        with pytest.raises(InvalidHistogramError, match=r"TProfile.*profile"):
            to_hist1d(read["profile"])
        with pytest.raises(InvalidHistogramError, match="1 bin labels"):
            to_hist1d(read["labelled"])


# hist and boost-histogram


@pytest.mark.parametrize(
    "storage", [hist.storage.Double(), hist.storage.Int64(), hist.storage.Weight()]
)
def test_hist_unit_weight_storages(storage):
    h = hist.Hist(hist.axis.Regular(4, 0.0, 4.0, name="mjj"), storage=storage)
    # 2 of 50 entries (4 %) in the flow bins stay below the warning threshold.
    h.fill([0.5, 1.5, 1.5, -2.0, 9.0] + [3.5] * 45)

    converted = to_hist1d(h)

    np.testing.assert_array_equal(converted.counts, [1, 2, 0, 45])
    assert converted.underflow == 1
    assert converted.overflow == 1
    assert converted.name == "mjj"
    if isinstance(storage, hist.storage.Weight):
        np.testing.assert_array_equal(converted.variances, [1, 2, 0, 45])
    else:
        assert converted.variances is None
    assert not converted.is_weighted


def test_hist_weight_storage_warns():
    h = hist.Hist(
        hist.axis.Variable(VARIABLE_EDGES),
        storage=hist.storage.Weight(),
        name="mc",
        label="simulated mass",
    )
    h.fill([0.5, 2.0], weight=[3.0, 0.5])

    with pytest.warns(WeightedHistogramWarning, match="'mc'"):
        converted = to_hist1d(h)

    assert converted.title == "simulated mass"
    np.testing.assert_allclose(converted.counts, [3.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(converted.variances, [9.0, 0.25, 0.0, 0.0])


def test_boost_histogram_without_underflow():
    h = bh.Histogram(bh.axis.Regular(3, 0.0, 3.0, underflow=False))
    h.fill([0.5, 1.5, 2.5, 2.5])

    converted = to_hist1d(h, name="no_underflow")

    np.testing.assert_array_equal(converted.counts, [1, 1, 2])
    assert converted.underflow == 0
    assert converted.overflow == 0
    assert converted.name == "no_underflow"
    assert converted.source == "boost_histogram.Histogram"


class PlainAxis:
    """A UHI axis without ``edges``, as the protocol allows."""

    traits = None

    def __init__(self, bins):
        self.bins = bins

    def __len__(self):
        return len(self.bins)

    def __getitem__(self, index):
        return self.bins[index]


class PlainHistogram:
    """A minimal UHI PlottableHistogram without flow bins."""

    kind = "COUNT"

    def __init__(self, bins, counts):
        self.axes = [PlainAxis(bins)]
        self.counts = np.asarray(counts, dtype=float)

    def values(self):
        return self.counts

    def variances(self):
        return self.counts


def test_plain_uhi_protocol():
    h = to_hist1d(PlainHistogram([(0.0, 1.0), (1.0, 2.5)], [4, 5]), name="plain")

    np.testing.assert_array_equal(h.edges, [0.0, 1.0, 2.5])
    np.testing.assert_array_equal(h.counts, [4, 5])
    assert h.variances is None


def test_plain_uhi_category_rejected():
    with pytest.raises(InvalidHistogramError, match="category axis"):
        to_hist1d(PlainHistogram(["a", "b"], [4, 5]), name="plain")


@pytest.mark.parametrize(
    "axis",
    [hist.axis.StrCategory(["ee", "mm"]), hist.axis.IntCategory([11, 13])],
)
def test_hist_category_axes_rejected(axis):
    h = hist.Hist(axis, name="channels")

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(h)

    message = str(info.value)
    assert "'channels'" in message
    assert type(axis).__name__ in message
    assert "categories" in message


def test_hist_two_axes_rejected():
    h = hist.Hist(hist.axis.Regular(2, 0, 1), hist.axis.Regular(2, 0, 1), name="2d")

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(h)

    message = str(info.value)
    assert "'2d'" in message
    assert "2 axes" in message
    assert "project" in message


def test_hist_mean_storage_rejected():
    h = hist.Hist(hist.axis.Regular(2, 0, 1), storage=hist.storage.Mean(), name="m")
    h.fill([0.5], sample=[3.0])

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(h)

    message = str(info.value)
    assert "'m'" in message
    assert "hist.Hist" in message
    assert "MEAN" in message


def test_hist_negative_weights_rejected():
    h = hist.Hist(hist.axis.Regular(2, 0, 1), storage=hist.storage.Weight(), name="n")
    h.fill([0.25, 0.75], weight=[1.0, -2.0])

    with pytest.raises(InvalidHistogramError) as info:
        to_hist1d(h)

    message = str(info.value)
    assert "'n'" in message
    assert "negative contents" in message
    assert "[0.5, 1)" in message


def test_hist_nan_rejected():
    h = hist.Hist(hist.axis.Regular(2, 0, 1), name="nan")
    h.view()[1] = np.nan

    with pytest.raises(InvalidHistogramError, match="NaN or inf"):
        to_hist1d(h)


def test_hist_nan_overflow_rejected():
    h = hist.Hist(hist.axis.Regular(2, 0, 1), name="nan_flow")
    h.view(flow=True)[-1] = np.nan

    with pytest.raises(InvalidHistogramError, match="overflow bin contains nan"):
        to_hist1d(h)


# (counts, edges) pairs and other inputs


def test_counts_edges_tuple_and_list():
    counts, edges = np.histogram([0.5, 1.5, 1.7], bins=[0.0, 1.0, 2.0])

    from_tuple = to_hist1d((counts, edges), name="pair")
    from_list = to_hist1d([list(counts), list(edges)])

    np.testing.assert_array_equal(from_tuple.counts, [1, 2])
    np.testing.assert_array_equal(from_tuple.edges, [0.0, 1.0, 2.0])
    assert from_tuple.name == "pair"
    assert_same_hist(from_list, Hist1D(edges=[0.0, 1.0, 2.0], counts=[1, 2]))


def test_counts_edges_swapped_rejected():
    with pytest.raises(InvalidHistogramError, match=r"\(edges, counts\)"):
        to_hist1d(([0.0, 1.0, 2.0], [1, 2]), name="swapped")


def test_counts_edges_wrong_length_rejected():
    with pytest.raises(UnsupportedInputError, match="3 items"):
        to_hist1d(([1, 2], [0, 1, 2], [0, 1]))


def test_counts_edges_two_dimensional_rejected():
    with pytest.raises(InvalidHistogramError, match="1-D arrays"):
        to_hist1d((np.ones((2, 2)), [0.0, 1.0, 2.0]), name="square")


@pytest.mark.parametrize(
    "edges", [[0.0, 2.0, 1.0], [0.0, 1.0, 1.0]], ids=["unsorted", "repeated"]
)
def test_bad_edges_rejected(edges):
    with pytest.raises(InvalidHistogramError, match="increase strictly"):
        to_hist1d(([1, 2], edges), name="edges")


def test_unsupported_type_rejected():
    with pytest.raises(UnsupportedInputError) as info:
        to_hist1d({"counts": [1, 2]})

    message = str(info.value)
    assert "dict" in message
    assert "(counts, edges)" in message


def test_hist1d_returned_as_is():
    h = Hist1D(edges=[0.0, 1.0, 2.0], counts=[1.0, 2.0], name="a")

    assert to_hist1d(h) is h
    renamed = to_hist1d(h, name="b")
    assert renamed.name == "b"
    np.testing.assert_array_equal(renamed.counts, h.counts)


def test_hist1d_negative_rejected():
    h = Hist1D(edges=[0.0, 1.0, 2.0], counts=[1.0, -2.0], name="bad")

    with pytest.raises(InvalidHistogramError, match=r"'bad'.*negative"):
        to_hist1d(h)


# Hist1D -> TH1D and hist.Hist


def weighted_hist1d():
    return Hist1D(
        edges=VARIABLE_EDGES,
        counts=[2.0, 1.0, 0.0, 4.0],
        variances=[4.0, 0.5, 0.0, 4.0],
        name="round_trip",
        title="a title",
        underflow=0.0,
        overflow=0.25,
    )


@pytest.mark.root
def test_th1d_round_trip_variable_weighted(root):
    original = weighted_hist1d()

    th1 = to_th1d(original)
    with pytest.warns(WeightedHistogramWarning):
        back = to_hist1d(th1)

    assert th1.GetXaxis().IsVariableBinSize()
    assert_same_hist(back, original)
    assert th1.GetBinError(1) == pytest.approx(2.0)


@pytest.mark.root
def test_th1d_round_trip_uniform_poisson(root):
    original = Hist1D(
        edges=np.linspace(100.0, 160.0, 31),
        counts=np.arange(30.0),
        name="uniform",
        underflow=1.0,
    )

    th1 = to_th1d(original)
    back = to_hist1d(th1)

    assert not th1.GetXaxis().IsVariableBinSize()
    assert th1.GetSumw2N() == 0
    assert th1.GetBinError(5) == pytest.approx(2.0)
    assert_same_hist(back, original)


@pytest.mark.root
def test_th1d_poisson_with_default_sumw2(root):
    previous = root.TH1.GetDefaultSumw2()
    root.TH1.SetDefaultSumw2(True)
    try:
        th1 = to_th1d(Hist1D(edges=[0.0, 1.0, 2.0], counts=[4.0, 9.0]))
    finally:
        root.TH1.SetDefaultSumw2(previous)

    assert th1.GetSumw2N() == 0
    assert th1.GetBinError(2) == pytest.approx(3.0)


@pytest.mark.root
def test_th1d_values_and_errors(root):
    original = weighted_hist1d()

    th1 = to_th1d(
        original,
        values=[0.5, -1.0, 3.0, 0.0],
        name="z",
        title="significance",
        errors=[0.1, 0.2, 0.3, 0.4],
    )

    assert th1.GetName() == "z"
    assert th1.GetTitle() == "significance"
    assert th1.GetBinContent(2) == -1.0
    assert th1.GetBinError(3) == pytest.approx(0.3)
    assert th1.GetBinContent(th1.GetNbinsX() + 1) == 0.0


@pytest.mark.root
def test_th1d_not_owned_by_open_file(root, tmp_path):
    file = root.TFile(str(tmp_path / "owner.root"), "RECREATE")
    try:
        first = to_th1d(weighted_hist1d(), name="same")
        second = to_th1d(weighted_hist1d(), name="same")
        assert not first.GetDirectory()
        assert not second.GetDirectory()
        assert not file.GetList().FindObject("same")
    finally:
        file.Close()
    assert first.GetEntries() > 0


@pytest.mark.root
def test_th1d_values_shape_rejected(root):
    with pytest.raises(InvalidHistogramError, match=r"one entry per bin.*\(3,\)"):
        to_th1d(weighted_hist1d(), values=[1.0, 2.0, 3.0])


def test_to_th1d_needs_hist1d():
    with pytest.raises(UnsupportedInputError, match="to_hist1d"):
        to_th1d(([1, 2], [0, 1, 2]))


def test_hist_round_trip_weighted():
    original = weighted_hist1d()

    converted = to_hist(original)
    with pytest.warns(WeightedHistogramWarning):
        back = to_hist1d(converted)

    assert isinstance(converted.axes[0], hist.axis.Variable)
    assert converted.storage_type is hist.storage.Weight
    assert_same_hist(back, original)


def test_hist_round_trip_uniform_poisson():
    original = Hist1D(edges=[0.0, 0.5, 1.0, 1.5], counts=[3.0, 1.0, 2.0], name="u")

    converted = to_hist(original)
    back = to_hist1d(converted)

    assert isinstance(converted.axes[0], hist.axis.Regular)
    assert converted.axes[0].name == "u"
    assert converted.storage_type is hist.storage.Double
    assert_same_hist(back, original)


def test_to_hist_values():
    converted = to_hist(weighted_hist1d(), values=[1.0, -2.0, 0.0, 4.0])

    assert converted.storage_type is hist.storage.Double
    np.testing.assert_array_equal(converted.values(), [1.0, -2.0, 0.0, 4.0])
    assert converted.values(flow=True)[-1] == 0.0


# CSV


def test_read_bundled_csv():
    h = read_csv_histogram(DATA / "csv" / "aleph_dimuon_os.csv")

    assert h.name == "aleph_dimuon_os"
    assert h.n_bins == 46
    np.testing.assert_array_equal(h.edges, np.arange(47.0))
    np.testing.assert_array_equal(h.counts[:3], [116, 259, 121])
    assert h.variances is None


@pytest.mark.parametrize("path", sorted((DATA / "csv").glob("*.csv")), ids=str)
def test_read_every_bundled_csv(path):
    h = read_csv_histogram(path, name="renamed")

    assert h.name == "renamed"
    assert h.n_bins > 10


def write_csv(tmp_path, text):
    path = tmp_path / "spectrum.csv"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_csv_gap_rejected(tmp_path):
    path = write_csv(
        tmp_path,
        """
        low_edge,high_edge,count
        0,1,5
        1,2,4
        3,4,2
        """,
    )

    with pytest.raises(InvalidHistogramError) as info:
        read_csv_histogram(path)

    message = str(info.value)
    assert "line 4" in message
    assert "starts at 3.0" in message
    assert "ends at 2.0" in message
    assert "contiguous" in message


def test_csv_bad_header_rejected(tmp_path):
    path = write_csv(tmp_path, "mass,count\n0,1\n")

    with pytest.raises(InvalidHistogramError, match="low_edge,high_edge,count"):
        read_csv_histogram(path)


def test_csv_non_numeric_rejected(tmp_path):
    path = write_csv(tmp_path, "low_edge,high_edge,count\n0,1,many\n")

    with pytest.raises(InvalidHistogramError, match="line 2"):
        read_csv_histogram(path)


def test_csv_without_rows_rejected(tmp_path):
    path = write_csv(tmp_path, "low_edge,high_edge,count\n")

    with pytest.raises(InvalidHistogramError, match="no bins"):
        read_csv_histogram(path)


def test_csv_negative_count_rejected(tmp_path):
    path = write_csv(tmp_path, "low_edge,high_edge,count\n0,1,3\n1,2,-1\n")

    with pytest.raises(InvalidHistogramError, match="negative contents"):
        read_csv_histogram(path)


# ROOT import helpers


def test_is_root_object_rejects_python_objects():
    assert not is_root_object(object())
    assert not is_root_object(np.zeros(3))


@pytest.mark.root
def test_is_root_object_accepts_th1(root):
    assert is_root_object(make_th1(root))


def test_import_root_missing_raises(monkeypatch):
    # None in sys.modules makes `import ROOT` raise ImportError.
    monkeypatch.setitem(sys.modules, "ROOT", None)

    with pytest.raises(MissingDependencyError) as info:
        import_root("the test")

    message = str(info.value)
    assert "PyROOT is needed for the test" in message
    assert "pip install 'bumpnet-root[root]'" in message


@pytest.mark.root
def test_import_root_fresh_process(root):
    script = textwrap.dedent(
        """
        import sys
        import warnings

        warnings.simplefilter("error")
        from bumpnet_root._root import import_root, is_root_object

        assert not is_root_object(object())
        assert "ROOT" not in sys.modules
        assert import_root().gROOT.IsBatch()
        """
    )

    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_csv_in_utf16_rejected_with_advice(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_text("low_edge,high_edge,count\n0,1,10\n", encoding="utf-16")
    with pytest.raises(InvalidHistogramError, match=r"is not UTF-8 text.*save it as"):
        read_csv_histogram(path)
