"""The scan's peak finder against scipy.signal.find_peaks."""

import numpy as np
import pytest
from scipy.signal import find_peaks as scipy_find_peaks

from bumpnet_root._peaks import find_peaks


def _arrays(seed: int, count: int):
    """Random arrays with plateaus, ties, NaN and maxima at the ends."""
    rng = np.random.default_rng(seed)
    for number in range(count):
        size = int(rng.integers(0, 60))
        if number % 4 == 0:
            # Few distinct values: plateaus and equal maxima.
            x = rng.integers(-2, 6, size).astype(float)
        else:
            x = rng.normal(2.0, 2.0, size).cumsum() * 0.3 + rng.normal(0, 1.5, size)
        if number % 7 == 0 and size > 3:
            x[rng.integers(0, size, 2)] = np.nan
        yield x


@pytest.mark.parametrize("distance", [1, 2, 3, 5.5])
@pytest.mark.parametrize("prominence", [0.0, 1.0, 2.5])
def test_same_peaks_as_scipy(distance, prominence):
    compared = 0
    for x in _arrays(seed=int(distance * 10 + prominence * 3), count=400):
        for height in (-1.0, 1.0, 3.0):
            expected, _ = scipy_find_peaks(
                x, height=height, distance=distance, prominence=prominence
            )
            got = find_peaks(x, height=height, distance=distance, prominence=prominence)
            np.testing.assert_array_equal(got, expected)
            compared += expected.size
    assert compared > 100


def test_plateau_maximum_is_its_middle():
    x = np.array([0.0, 1.0, 4.0, 4.0, 4.0, 4.0, 1.0, 5.0])
    assert find_peaks(x, height=0.0, distance=1, prominence=0.0).tolist() == [3]


def test_distance_below_one_raises():
    with pytest.raises(ValueError, match=r"distance must be at least 1, got 0\.5"):
        find_peaks(np.zeros(5), height=0.0, distance=0.5, prominence=0.0)
