"""RooFit likelihood-ratio cross-check of BumpNet's per-bin significance.

For each histogram a background function is chosen among the requested
families by a Fisher F-test or AIC and fitted with RooFit (extended binned
Poisson likelihood, pdfs integrated over the bins). A Gaussian signal at each
scanned mass then gives q0, the signed local significance Z_LR, and optionally
an upper limit on the signal yield. With the default signal width (the width of
the bin containing the mass) and the masses at bin centres, Z_LR is the
quantity of :func:`bumpnet_root.significance.local_significance` with the
background fitted instead of known. See docs/crosscheck.md.

RooFit keeps global state, so these functions are not thread-safe.
"""

from ._roofit import to_roodatahist
from .background import fit_background
from .families import DEFAULT_FAMILIES, DEFAULT_SQRT_S, FAMILY_ORDERS
from .limits import upper_limits_from_z
from .results import BackgroundFit, CandidateFit, CrossCheckResult, UpperLimitResult
from .scan import crosscheck, crosscheck_many, upper_limits

__all__ = [
    "DEFAULT_FAMILIES",
    "DEFAULT_SQRT_S",
    "FAMILY_ORDERS",
    "BackgroundFit",
    "CandidateFit",
    "CrossCheckResult",
    "UpperLimitResult",
    "crosscheck",
    "crosscheck_many",
    "fit_background",
    "to_roodatahist",
    "upper_limits",
    "upper_limits_from_z",
]
