"""Tests of the per-bin likelihood-ratio significance (the training label)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bumpnet_root.errors import InvalidHistogramError
from bumpnet_root.model import likelihood_ratio_z
from bumpnet_root.significance import (
    asimov_significance,
    gaussian_template_windows,
    local_significance,
    one_bin_significance,
)


def test_one_bin_hand_values():
    # sqrt(2 [n ln(n/b) - n + b]) with the sign of n - b, computed by hand.
    z = one_bin_significance([10, 0, 100, 5], [5, 5, 80, 5])
    assert z[0] == pytest.approx(math.sqrt(2 * (10 * math.log(2) - 5)), rel=1e-12)
    assert z[1] == pytest.approx(-math.sqrt(10.0), rel=1e-12)
    assert z[2] == pytest.approx(math.sqrt(2 * (100 * math.log(1.25) - 20)))
    assert z[3] == 0.0


def test_one_bin_zero_background_is_finite():
    z = one_bin_significance([3.0, 0.0], [0.0, 0.0])
    assert np.all(np.isfinite(z))
    assert z[0] > 10
    # b is clipped to 1e-9, so n = 0 gives -sqrt(2e-9).
    assert z[1] == pytest.approx(-math.sqrt(2e-9))


def test_template_weights_uniform_bins():
    index, weight = gaussian_template_windows(np.arange(41.0))
    row = 20
    by_bin = dict(zip(index[row], weight[row]))
    # Phi(0.5) - Phi(-0.5) and Phi(1.5) - Phi(0.5) for sigma = one bin width.
    assert by_bin[20] == pytest.approx(0.382924922548, rel=1e-9)
    assert by_bin[21] == pytest.approx(0.241730337457, rel=1e-9)
    assert by_bin[19] == pytest.approx(by_bin[21], rel=1e-12)
    assert weight[row].sum() == pytest.approx(1.0, rel=1e-12)


def test_template_truncated_at_edge_is_renormalised():
    index, weight = gaussian_template_windows(np.arange(31.0))
    assert weight[0].sum() == pytest.approx(1.0)
    assert index[0].min() == 0
    # The Gaussian part below the first edge, Phi(-0.5) = 0.3085, is cut away.
    first = weight[0][index[0] == 0][0]
    assert first == pytest.approx(0.382924922548 / 0.691462461274, rel=1e-9)


def test_narrow_template_reduces_to_one_bin_form():
    rng = np.random.default_rng(5)
    b = np.linspace(500, 5, 40)
    n = rng.poisson(b).astype(float)
    z = local_significance(n, b, np.arange(41.0), width=1e-3)
    np.testing.assert_allclose(z, one_bin_significance(n, b), atol=1e-9)


def test_signal_exactly_on_template_gives_asimov():
    # With n = b + mu0 s the fit returns mu0 and q0 is the Asimov expression.
    edges = np.arange(51.0)
    b = 200.0 * np.exp(-np.arange(50) / 15.0)
    index, weight = gaussian_template_windows(edges)
    j = 22
    s = np.zeros(50)
    s[index[j]] += weight[j]
    n = b + 40.0 * s
    z = local_significance(n, b, edges)
    assert z[j] == pytest.approx(asimov_significance(40.0 * s, b), rel=1e-8)


def test_deficit_is_negative_and_excess_positive():
    edges = np.arange(31.0)
    b = np.full(30, 100.0)
    n = b.copy()
    n[10] = 40
    n[20] = 180
    z = local_significance(n, b, edges)
    assert z[10] < -3
    assert z[20] > 3


def test_empty_bins_with_background():
    edges = np.arange(21.0)
    z = local_significance(np.zeros(20), np.full(20, 2.0), edges)
    assert np.all(np.isfinite(z))
    assert np.all(z < 0)


def test_batched_equals_single_rows():
    rng = np.random.default_rng(3)
    b = np.tile(np.linspace(1000, 1, 35), (4, 1))
    n = rng.poisson(b).astype(float)
    edges = np.geomspace(100, 2000, 36)
    batched = local_significance(n, b, edges)
    for row in range(4):
        np.testing.assert_allclose(
            batched[row], local_significance(n[row], b[row], edges)
        )


def test_torch_graph_matches_numpy_on_variable_bins():
    rng = np.random.default_rng(11)
    widths = 4.0 * np.sqrt(np.linspace(100, 3000, 60))
    edges = np.concatenate([[100.0], 100.0 + np.cumsum(widths)])
    b = 5000.0 * np.exp(-np.linspace(0, 6, 60)) + 0.2
    n = rng.poisson(b).astype(float)
    n[30] += 60
    expected = local_significance(n, b, edges)
    got = likelihood_ratio_z(
        torch.tensor(n)[None], torch.tensor(b)[None], torch.tensor(edges)[None]
    )[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_rejects_shape_mismatch_and_nan():
    with pytest.raises(InvalidHistogramError, match="shape"):
        local_significance(np.ones(5), np.ones(4))
    with pytest.raises(InvalidHistogramError, match="finite"):
        local_significance(np.array([1.0, np.nan, 1.0]), np.ones(3))
    with pytest.raises(InvalidHistogramError, match="edges"):
        local_significance(np.ones(5), np.ones(5), np.arange(5.0))


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 10**6), min_size=3, max_size=40),
    scale=st.floats(0.01, 1e5),
)
def test_property_finite_and_sign_follows_fit(counts, scale):
    n = np.asarray(counts, dtype=float)
    b = np.full(n.size, scale)
    z = local_significance(n, b)
    assert np.all(np.isfinite(z))
    # Where every bin in reach is above (below) b the fitted mu must be >= 0 (<= 0).
    if np.all(n >= b):
        assert np.all(z >= 0)
    if np.all(n <= b):
        assert np.all(z <= 0)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 1000), min_size=12, max_size=30))
def test_property_mirror_symmetry_on_uniform_bins(counts):
    # Reversing the bin order of n and b reverses Z on uniform bins.
    n = np.asarray(counts, dtype=float)
    b = np.linspace(50, 5, n.size)
    z = local_significance(n, b)
    z_reversed = local_significance(n[::-1], b[::-1])
    np.testing.assert_allclose(z_reversed[::-1], z, atol=1e-7)
