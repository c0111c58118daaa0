"""Defaults that the command line needs before it imports torch or ROOT."""

from __future__ import annotations

# Candidates are local maxima of Z above this local significance.
DEFAULT_THRESHOLD = 3.0
# Background-only pseudo-experiments per binning for the look-elsewhere effect.
DEFAULT_TOYS = 1000
