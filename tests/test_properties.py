"""Property-based tests of the adapters, the scan domain and the significance code.

Hypothesis draws histograms with arbitrary binnings and contents (zero, tiny
and huge counts, widths over six decades) and checks what must hold for all of
them: conversions round-trip, invalid input raises InvalidHistogramError and
nothing else, and the significance is finite, has the sign of the excess and
mirrors with the bins. pytest turns warnings into errors, so a numpy overflow
or invalid-value warning fails these tests too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bumpnet_root._root import import_root
from bumpnet_root.adapters import to_hist, to_hist1d, to_th1d
from bumpnet_root.domain import scan_domain
from bumpnet_root.errors import BumpNetWarning, InvalidHistogramError
from bumpnet_root.histogram import Hist1D
from bumpnet_root.significance import (
    MIN_BACKGROUND,
    asimov_significance,
    gaussian_template_windows,
    local_significance,
    one_bin_significance,
)

FAST = settings(max_examples=60, deadline=None)
SLOW = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def edges_strategy(draw, min_bins: int = 1, max_bins: int = 60) -> np.ndarray:
    """Draw strictly increasing edges with widths from 1e-3 to 1e3."""
    n_bins = draw(st.integers(min_bins, max_bins))
    start = draw(st.floats(-1e3, 1e3, allow_nan=False))
    if draw(st.booleans()):
        width = draw(st.floats(1e-3, 1e3))
        return start + width * np.arange(n_bins + 1, dtype=float)
    log_widths = draw(hnp.arrays(np.float64, n_bins, elements=st.floats(-3.0, 3.0)))
    return start + np.concatenate([[0.0], np.cumsum(10.0**log_widths)])


def counts_strategy(n_bins: int, max_count: float = 1e9):
    """Integer-valued or fractional non-negative counts, zeros included."""
    element = st.one_of(
        st.integers(0, 1000).map(float),
        st.floats(0.0, max_count, allow_nan=False, allow_infinity=False),
    )
    return hnp.arrays(np.float64, n_bins, elements=element)


@st.composite
def histogram_strategy(draw, with_variances: bool = False, max_bins: int = 60):
    edges = draw(edges_strategy(max_bins=max_bins))
    n_bins = edges.size - 1
    counts = draw(counts_strategy(n_bins))
    variances = None
    if with_variances and draw(st.booleans()):
        variances = draw(counts_strategy(n_bins))
    return Hist1D(
        edges=edges,
        counts=counts,
        variances=variances,
        name="drawn",
        underflow=draw(st.floats(0.0, 1e6)),
        overflow=draw(st.floats(0.0, 1e6)),
    )


def assert_same_histogram(actual: Hist1D, expected: Hist1D) -> None:
    np.testing.assert_allclose(actual.edges, expected.edges, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(actual.counts, expected.counts)
    if expected.variances is None:
        assert actual.variances is None
    else:
        np.testing.assert_array_equal(actual.variances, expected.variances)


def without_bumpnet_warnings(function, *args, **kwargs):
    """Call ``function`` with the weighted and flow-bin warnings ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BumpNetWarning)
        return function(*args, **kwargs)


# ---------------------------------------------------------------- adapters


@FAST
@given(histogram_strategy())
def test_counts_edges_pair_round_trip(h: Hist1D):
    converted = to_hist1d((h.counts, h.edges), name="drawn")
    assert_same_histogram(converted, Hist1D(h.edges, h.counts, name="drawn"))
    assert converted.underflow == 0.0
    assert converted.overflow == 0.0


@FAST
@given(histogram_strategy(with_variances=True))
def test_hist_round_trip(h: Hist1D):
    converted = without_bumpnet_warnings(to_hist1d, to_hist(h))
    assert_same_histogram(converted, h)
    assert converted.underflow == h.underflow
    assert converted.overflow == h.overflow


@FAST
@given(histogram_strategy(with_variances=True))
def test_th1d_round_trip(h: Hist1D):
    import_root("the TH1D round trip")
    converted = without_bumpnet_warnings(to_hist1d, to_th1d(h))
    assert_same_histogram(converted, h)
    assert converted.underflow == h.underflow
    assert converted.overflow == h.overflow


@SLOW
@given(h=histogram_strategy(max_bins=30))
def test_uproot_file_round_trip(h: Hist1D, tmp_path: Path):
    path = tmp_path / "round_trip.root"
    with uproot.recreate(path) as root_file:
        root_file["drawn"] = (h.counts, h.edges)
    with uproot.open(path) as root_file:
        converted = without_bumpnet_warnings(to_hist1d, root_file["drawn"])
    assert_same_histogram(converted, Hist1D(h.edges, h.counts))


@FAST
@given(edges_strategy(min_bins=2), st.data())
def test_unsorted_edges_raise_invalid(edges: np.ndarray, data):
    position = data.draw(st.integers(1, edges.size - 1))
    broken = edges.copy()
    broken[position] = broken[position - 1] - data.draw(st.floats(0.0, 10.0))
    counts = np.ones(edges.size - 1)
    with pytest.raises(InvalidHistogramError, match="'broken'"):
        to_hist1d((counts, broken), name="broken")


@FAST
@given(
    histogram_strategy(),
    st.sampled_from([np.nan, np.inf, -np.inf, -1.0, -1e-9]),
    st.data(),
)
def test_bad_contents_raise_invalid(h: Hist1D, bad_value: float, data):
    counts = h.counts.copy()
    counts[data.draw(st.integers(0, counts.size - 1))] = bad_value
    with pytest.raises(InvalidHistogramError, match="'drawn'"):
        to_hist1d((counts, h.edges), name="drawn")


@FAST
@given(histogram_strategy())
def test_scan_domain_defined_for_any_histogram(h: Hist1D):
    domain = scan_domain(h)
    if domain.skip_reason is None:
        assert 0 <= domain.start < domain.stop <= h.n_bins
    else:
        assert isinstance(domain.skip_reason, str)
        assert domain.out_of_domain == ()
    for reason in domain.out_of_domain:
        assert isinstance(reason, str)


# ---------------------------------------------------------------- significance


@st.composite
def counts_and_background(draw, max_bins: int = 40, uniform: bool = False):
    edges = draw(edges_strategy(max_bins=max_bins))
    if uniform:
        edges = np.linspace(edges[0], edges[-1], edges.size)
    n_bins = edges.size - 1
    counts = draw(counts_strategy(n_bins, max_count=1e8))
    background = draw(hnp.arrays(np.float64, n_bins, elements=st.floats(0.0, 1e8)))
    return counts, background, edges


@FAST
@given(counts_and_background())
def test_local_significance_finite(data):
    counts, background, edges = data
    z = local_significance(counts, background, edges)
    assert z.shape == counts.shape
    assert np.all(np.isfinite(z))


@FAST
@given(counts_and_background())
def test_local_significance_sign_of_excess(data):
    counts, background, edges = data
    z = local_significance(counts, background, edges)
    # d ln L / d mu at mu = 0 is sum_i s_i n_i / b_i - 1, so its sign is the
    # sign of mu_hat and of Z.
    index, weight = gaussian_template_windows(edges)
    b = np.maximum(background, MIN_BACKGROUND)
    slope = np.sum(weight * counts[index] / b[index], axis=1) - 1.0
    assert np.all(z[slope > 1e-3] > 0)
    assert np.all(z[slope < -1e-3] < 0)


@FAST
@given(counts_and_background(uniform=True))
def test_reversed_bins_reverse_z(data):
    counts, background, edges = data
    z = local_significance(counts, background, edges)
    z_reversed = local_significance(counts[::-1], background[::-1], edges)
    np.testing.assert_allclose(z_reversed[::-1], z, rtol=1e-6, atol=1e-6)


@FAST
@given(counts_and_background())
def test_mirrored_variable_bins_reverse_z(data):
    counts, background, edges = data
    mirrored = edges[0] + edges[-1] - edges[::-1]
    z = local_significance(counts, background, edges)
    z_mirrored = local_significance(counts[::-1], background[::-1], mirrored)
    np.testing.assert_allclose(z_mirrored[::-1], z, rtol=1e-6, atol=1e-6)


@FAST
@given(counts_and_background())
def test_counts_equal_background_zero_z(data):
    _, background, edges = data
    # A background below MIN_BACKGROUND is raised to it, so n = b = 0 would
    # give a slightly negative Z (-sqrt(2 MIN_BACKGROUND) for one bin).
    background = np.maximum(background, 1e-3)
    z = local_significance(background, background, edges)
    np.testing.assert_allclose(z, 0.0, atol=1e-5)


@FAST
@given(counts_and_background(), st.data())
def test_more_counts_raise_z(data, choice):
    counts, background, edges = data
    j = choice.draw(st.integers(0, counts.size - 1))
    extra = choice.draw(st.floats(1.0, 1e6))
    higher = counts.copy()
    higher[j] += extra
    z = local_significance(counts, background, edges)
    z_higher = local_significance(higher, background, edges)
    assert z_higher[j] >= z[j] - 1e-6


@FAST
@given(counts_and_background(max_bins=20), st.integers(2, 4))
def test_rows_independent(data, rows: int):
    counts, background, edges = data
    scale = np.arange(1, rows + 1, dtype=float)[:, None]
    batch_counts = np.round(counts[None, :] * scale)
    batch_background = background[None, :] * scale
    z = local_significance(batch_counts, batch_background, edges)
    for row in range(rows):
        np.testing.assert_array_equal(
            z[row], local_significance(batch_counts[row], batch_background[row], edges)
        )


@FAST
@given(
    hnp.arrays(np.float64, 30, elements=st.floats(0.0, 1e9)),
    hnp.arrays(np.float64, 30, elements=st.floats(0.0, 1e9)),
)
def test_one_bin_significance_sign(n: np.ndarray, b: np.ndarray):
    z = one_bin_significance(n, b)
    assert np.all(np.isfinite(z))
    clipped = np.maximum(b, MIN_BACKGROUND)
    assert np.all(z[n > clipped] >= 0)
    assert np.all(z[n < clipped] <= 0)
    np.testing.assert_allclose(one_bin_significance(clipped, clipped), 0.0)


@FAST
@given(
    hnp.arrays(np.float64, 10, elements=st.floats(0.0, 1e6)),
    hnp.arrays(np.float64, 10, elements=st.floats(0.0, 1e8)),
    st.floats(1.0, 10.0),
)
def test_asimov_grows_with_signal(s: np.ndarray, b: np.ndarray, factor: float):
    assume(np.any(s > 0))
    z = asimov_significance(s, b)
    assert np.isfinite(z)
    assert z >= 0
    assert asimov_significance(s * factor, b) >= z * (1 - 1e-9)


def test_batched_domains_equal_single_domains():
    from bumpnet_root.domain import ScanDomain, scan_domain, scan_domains

    rng = np.random.default_rng(21)
    histograms = []
    for index in range(300):
        n_bins = int(rng.choice([5, 40, 40, 90, 90, 150]))
        mass = np.linspace(0.0, 1.0, n_bins)
        turn_on = 1.0 - np.exp(-(mass + 0.02) / rng.uniform(0.01, 0.3))
        if index % 3 == 0:
            # Falling from the first bin on, as most spectra of a scan.
            turn_on = 1.0
        shape = 10 ** rng.uniform(0, 7) * np.exp(-rng.uniform(0, 12) * mass) * turn_on
        counts = rng.poisson(shape).astype(float)
        counts[rng.integers(n_bins // 2, n_bins) :] *= rng.integers(0, 2)
        if index % 7 == 0:
            counts = counts[::-1].copy()
        if index % 11 == 0:
            edges = np.concatenate(([0.0], np.cumsum(rng.uniform(1.0, 3.0, n_bins))))
        else:
            edges = np.linspace(10.0, 100.0, n_bins + 1)
        if index % 13 == 0:
            edges = edges - 50.0
        if index % 17 == 0:
            counts[:] = 0.0
        if index % 19 == 0:
            # Widths that differ by about the tolerance of "equal widths".
            jitter = rng.choice([0.3e-6, 3e-6]) * np.arange(n_bins + 1) ** 2 / n_bins
            edges = np.linspace(10.0, 100.0, n_bins + 1) * (1.0 + jitter)
        histograms.append(Hist1D(edges=edges, counts=counts, name=f"h{index}"))
    batched = scan_domains(histograms)
    assert len(batched) == len(histograms)
    kinds = set()
    for h, domain in zip(histograms, batched):
        assert domain == scan_domain(h), h.name
        kinds.add((domain.skip_reason is None, bool(domain.out_of_domain)))
        if domain == ScanDomain(0, domain.stop):
            kinds.add("whole" if domain.stop == h.n_bins else "cut before the end")
    assert {"whole", "cut before the end"} <= kinds
    assert len(kinds) >= 5
