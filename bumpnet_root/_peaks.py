"""Local maxima of a 1-D array, selected by height, distance and prominence.

:func:`find_peaks` returns what ``scipy.signal.find_peaks(x, height=...,
distance=..., prominence=...)`` returns as its first value, index for index
(tests/test_peaks.py compares the two on random arrays with plateaus, ties
and NaN). Importing scipy.signal takes about half a second, which every
parallel scan would otherwise spend before its workers start.
"""

from __future__ import annotations

import math

import numpy as np


def local_maxima(x: list[float]) -> list[int]:
    """Return the maxima of ``x``: the middle (rounded down) of each plateau.

    A maximum has a lower neighbour on both sides, so the first and last
    values are never maxima. Comparisons with NaN are false, so NaN is never a
    maximum nor lets its neighbours be one.
    """
    peaks = []
    last = len(x) - 1
    i = 1
    while i < last:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < last and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    return peaks


def keep_distant(peaks: np.ndarray, heights: np.ndarray, distance: float) -> np.ndarray:
    """Return a mask that drops maxima closer than ``distance`` to a higher one.

    The maxima are taken from the highest down, and each one kept removes
    the others within ``distance`` of it.
    """
    keep = np.ones(peaks.size, dtype=bool)
    reach = math.ceil(distance)
    positions = peaks.tolist()
    # The same ordering as scipy's, ties included.
    for j in np.argsort(heights)[::-1].tolist():
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and positions[j] - positions[k] < reach:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < len(positions) and positions[k] - positions[j] < reach:
            keep[k] = False
            k += 1
    return keep


def prominences(x: list[float], peaks: np.ndarray) -> np.ndarray:
    """Return each maximum's height above the higher of its two bases.

    A base is the lowest value between the maximum and the nearest higher
    value on that side (or the end of the array).
    """
    result = np.empty(peaks.size)
    size = len(x)
    for number, peak in enumerate(peaks.tolist()):
        top = x[peak]
        left_min = top
        i = peak
        while i >= 0 and x[i] <= top:
            if x[i] < left_min:
                left_min = x[i]
            i -= 1
        right_min = top
        i = peak
        while i < size and x[i] <= top:
            if x[i] < right_min:
                right_min = x[i]
            i += 1
        result[number] = top - max(left_min, right_min)
    return result


def find_peaks(
    x: np.ndarray, height: float, distance: float, prominence: float
) -> np.ndarray:
    """Return the indices of the maxima that pass three conditions, in order.

    A maximum must reach ``height``. It must have no higher maximum within
    fewer than ``distance`` indices (``distance`` >= 1). Its prominence must
    reach ``prominence``.
    """
    if distance < 1:
        raise ValueError(f"distance must be at least 1, got {distance}")
    array = np.asarray(x, dtype=np.float64)
    values = array.tolist()
    peaks = np.array(local_maxima(values), dtype=np.intp)
    heights = array[peaks]
    high = height <= heights
    peaks, heights = peaks[high], heights[high]
    peaks = peaks[keep_distant(peaks, heights, distance)]
    return peaks[prominence <= prominences(values, peaks)]
