"""Background function families and their starting values.

Every family is a nested sequence of shapes indexed by the number of fitted
parameters, the background yield included (the yield plays the role of the
normalisation p0). ``m`` is the mass, ``m_lo`` and ``m_hi`` the histogram range.

* ``dijet`` (3, 4, 5 parameters): f = p0 (1 - x)^p1 x^-(p2 + p3 ln x + p4 ln^2 x)
  with x = m / sqrt(s), the parametrisation of the LHC dijet resonance searches.
* ``power_law`` (2, 3, 4): f = p0 y^-(b1 + b2 ln y + b3 ln^2 y) with y = m / m_lo.
* ``expo_poly`` (2 to 5): f = p0 exp(a1 t + ... + ak t^k) with
  t = (m - m_lo) / (m_hi - m_lo).
* ``bernstein`` (2 to 7): f = p0 sum_k c_k B_k,d(t) with degree d = parameters - 1,
  c_k >= 0 so that f >= 0, and the largest starting coefficient fixed to 1.

Starting values come from a weighted linear least-squares fit of
ln(count / bin width) at the bin centres (weights = counts, the inverse
variance of ln n), which is linear in the parameters of the first three
families, and from a non-negative least-squares fit for ``bernstein``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

FAMILY_ORDERS: dict[str, tuple[int, ...]] = {
    "dijet": (3, 4, 5),
    "power_law": (2, 3, 4),
    "expo_poly": (2, 3, 4, 5),
    "bernstein": (2, 3, 4, 5, 6, 7),
}
FAMILY_NAMES = tuple(FAMILY_ORDERS)
# Bernstein polynomials fit smooth spectra over a narrow range but need many
# parameters for steeply falling ones, so they are opt-in.
DEFAULT_FAMILIES = ("dijet", "power_law", "expo_poly")
# LHC Run 2 centre-of-mass energy in GeV, the scale of the dijet variable x.
DEFAULT_SQRT_S = 13000.0
YIELD_NAME = "n_background"


@dataclass(frozen=True)
class BackgroundShape:
    """One family at one number of parameters, set up for one mass range.

    ``formula`` is a RooFit formula of ``@0`` (the mass) and ``@1...`` (the
    shape parameters). The yield is not part of the formula.
    """

    family: str
    n_params: int
    parameter_names: tuple[str, ...]
    formula: str
    description: str
    lower_bounds: tuple[float, ...]

    @property
    def name(self) -> str:
        """Function name such as ``dijet4``: the family and the parameter count."""
        return f"{self.family}{self.n_params}"

    @property
    def n_shape_params(self) -> int:
        return self.n_params - 1


def parse_families(
    families: str | tuple[str, ...] | list[str],
) -> dict[str, tuple[int, ...]]:
    """Map each requested family to the parameter counts to try.

    An entry is a family name (all its parameter counts, for example
    ``"dijet"``) or a function name (one count, for example ``"dijet4"``).
    Raises ValueError for unknown names.
    """
    if isinstance(families, str):
        families = (families,)
    if not families:
        raise ValueError(
            f"no background family given; pass one or more of {list(FAMILY_NAMES)}"
        )
    requested: dict[str, set[int]] = {}
    for entry in families:
        family, n_params = _split_function_name(str(entry))
        orders = FAMILY_ORDERS[family] if n_params is None else (n_params,)
        requested.setdefault(family, set()).update(orders)
    return {family: tuple(sorted(orders)) for family, orders in requested.items()}


def _split_function_name(entry: str) -> tuple[str, int | None]:
    if entry in FAMILY_ORDERS:
        return entry, None
    family = entry.rstrip("0123456789")
    digits = entry[len(family) :]
    if family in FAMILY_ORDERS and digits and int(digits) in FAMILY_ORDERS[family]:
        return family, int(digits)
    functions = [f"{name}{n}" for name, ns in FAMILY_ORDERS.items() for n in ns]
    raise ValueError(
        f"unknown background family or function {entry!r}; choose a family from "
        f"{list(FAMILY_NAMES)} or a function from {functions}"
    )


def dijet_range_problem(edges: np.ndarray, sqrt_s: float) -> str | None:
    """Return why the dijet family cannot describe this range, or None if it can."""
    if edges[0] <= 0:
        return f"the dijet function needs masses above 0, got {float(edges[0])!r}"
    if edges[-1] >= sqrt_s:
        return (
            f"the dijet function needs masses below sqrt_s = {sqrt_s!r}, but the "
            f"histogram ends at {float(edges[-1])!r}; pass sqrt_s in the mass unit"
        )
    return None


def build_shape(
    family: str, n_params: int, edges: np.ndarray, sqrt_s: float
) -> BackgroundShape:
    """Set up ``family`` with ``n_params`` parameters for the range of ``edges``."""
    orders = FAMILY_ORDERS[family]
    if n_params not in orders:
        raise ValueError(
            f"family {family!r} has {list(orders)} parameters, not {n_params}"
        )
    m_lo, m_hi = float(edges[0]), float(edges[-1])
    if family == "dijet":
        return _dijet_shape(n_params, sqrt_s)
    if family == "power_law":
        return _power_law_shape(n_params, m_lo)
    if family == "expo_poly":
        return _expo_poly_shape(n_params, m_lo, m_hi)
    return _bernstein_shape(n_params, m_lo, m_hi)


def _dijet_shape(n_params: int, sqrt_s: float) -> BackgroundShape:
    k = n_params - 1
    x = f"(@0/{sqrt_s!r})"
    log_terms = ["@2", f"@3*log({x})", f"@4*pow(log({x}),2)"][: k - 1]
    formula = f"exp(@1*log(1 - {x}) - ({' + '.join(log_terms)})*log({x}))"
    names = tuple(f"p{i}" for i in range(1, n_params))
    description = _dijet_description(k, sqrt_s)
    return BackgroundShape(
        "dijet", n_params, names, formula, description, (-math.inf,) * k
    )


def _power_law_shape(n_params: int, m_lo: float) -> BackgroundShape:
    if m_lo <= 0:
        raise ValueError(
            f"the power law needs masses above 0, got a range from {m_lo!r}"
        )
    k = n_params - 1
    y = f"(@0/{m_lo!r})"
    terms = ["@1", f"@2*log({y})", f"@3*pow(log({y}),2)"][:k]
    formula = f"exp(-({' + '.join(terms)})*log({y}))"
    names = tuple(f"b{i}" for i in range(1, n_params))
    exponent = " + ".join(["b1", "b2 ln y", "b3 ln^2 y"][:k])
    description = f"p0 y^-({exponent}), y = m/{m_lo:g}"
    return BackgroundShape(
        "power_law", n_params, names, formula, description, (-math.inf,) * k
    )


def _scaled_mass(m_lo: float, m_hi: float) -> str:
    return f"((@0 - {m_lo!r})/{m_hi - m_lo!r})"


def _expo_poly_shape(n_params: int, m_lo: float, m_hi: float) -> BackgroundShape:
    t = _scaled_mass(m_lo, m_hi)
    terms = [f"@{i}*pow({t},{i})" for i in range(1, n_params)]
    formula = f"exp({' + '.join(terms)})"
    names = tuple(f"a{i}" for i in range(1, n_params))
    polynomial = " + ".join(f"a{i} t^{i}" for i in range(1, n_params))
    description = f"p0 exp({polynomial}), t = (m - {m_lo:g})/{m_hi - m_lo:g}"
    bounds = (-math.inf,) * (n_params - 1)
    return BackgroundShape("expo_poly", n_params, names, formula, description, bounds)


def _bernstein_shape(n_params: int, m_lo: float, m_hi: float) -> BackgroundShape:
    """Build the Bernstein polynomial of degree d = n_params - 1.

    It has d + 1 coefficients, and the fit keeps one of them constant.
    """
    degree = n_params - 1
    t = _scaled_mass(m_lo, m_hi)
    terms = [
        f"@{j + 1}*{math.comb(degree, j)}*pow({t},{j})*pow(1 - {t},{degree - j})"
        for j in range(degree + 1)
    ]
    names = tuple(f"c{j}" for j in range(degree + 1))
    description = f"p0 sum_k c_k B_k,{degree}(t), t = (m - {m_lo:g})/{m_hi - m_lo:g}"
    return BackgroundShape(
        "bernstein",
        n_params,
        names,
        " + ".join(terms),
        description,
        (0.0,) * (degree + 1),
    )


def _dijet_description(k: int, sqrt_s: float) -> str:
    exponent = ["p2", "p3 ln x", "p4 ln^2 x"][: k - 1]
    return f"p0 (1-x)^p1 x^-({' + '.join(exponent)}), x = m/{sqrt_s:g}"


@dataclass(frozen=True)
class StartingPoint:
    """Starting values and Minuit step sizes of the shape parameters.

    ``fixed_index`` names a parameter held constant at its value: the Bernstein
    coefficient that sets the scale, which the yield already fits.
    """

    values: tuple[float, ...]
    steps: tuple[float, ...]
    fixed_index: int | None = None


def starting_point(
    shape: BackgroundShape, edges: np.ndarray, counts: np.ndarray, sqrt_s: float
) -> StartingPoint:
    """Estimate the shape parameters from the histogram without RooFit.

    Falls back to a lower-order estimate padded with zeros when fewer non-empty
    bins than parameters are available.
    """
    if shape.family == "bernstein":
        return _bernstein_start(shape, edges, counts)
    centers = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    features = _log_features(shape.family, centers, edges, sqrt_s)
    k = shape.n_shape_params
    filled = counts > 0
    n_usable = int(np.count_nonzero(filled))
    used = min(k, max(n_usable - 1, 0))
    values = np.zeros(k)
    steps = np.full(k, 0.1)
    if used > 0:
        design = np.column_stack([np.ones(n_usable), features[filled, :used]])
        target = np.log(counts[filled] / widths[filled])
        weight = np.sqrt(counts[filled])
        solution, *_ = np.linalg.lstsq(
            design * weight[:, None], target * weight, rcond=None
        )
        values[:used] = solution[1:]
        normal_matrix = (design * weight[:, None]).T @ (design * weight[:, None])
        covariance = np.linalg.pinv(normal_matrix)
        errors = np.sqrt(np.maximum(np.diag(covariance)[1:], 0.0))
        steps[:used] = np.where(np.isfinite(errors) & (errors > 0), errors, 0.1)
    # Parameters the data do not constrain start with a step of their own scale.
    steps = np.maximum(steps, 1e-6 * (np.abs(values) + 1.0))
    return StartingPoint(tuple(values.tolist()), tuple(steps.tolist()))


def _log_features(
    family: str, centers: np.ndarray, edges: np.ndarray, sqrt_s: float
) -> np.ndarray:
    """Columns g_j of ln f = ln p0 + sum_j theta_j g_j(m) for the linear families."""
    if family == "dijet":
        x = centers / sqrt_s
        log_x = np.log(x)
        return np.column_stack([np.log1p(-x), -log_x, -(log_x**2), -(log_x**3)])
    if family == "power_law":
        log_y = np.log(centers / edges[0])
        return np.column_stack([-log_y, -(log_y**2), -(log_y**3)])
    t = (centers - edges[0]) / (edges[-1] - edges[0])
    return np.column_stack([t**i for i in range(1, 5)])


def _bernstein_start(
    shape: BackgroundShape, edges: np.ndarray, counts: np.ndarray
) -> StartingPoint:
    degree = shape.n_shape_params
    centers = 0.5 * (edges[1:] + edges[:-1])
    t = (centers - edges[0]) / (edges[-1] - edges[0])
    basis = np.column_stack(
        [
            math.comb(degree, j) * t**j * (1 - t) ** (degree - j)
            for j in range(degree + 1)
        ]
    )
    density = counts / np.diff(edges)
    # Pearson weights 1/sqrt(n + 1) keep empty bins from dominating.
    weight = 1.0 / np.sqrt(counts + 1.0)
    coefficients, _ = nnls(basis * weight[:, None], density * weight)
    largest = float(np.max(coefficients))
    if largest <= 0:
        coefficients = np.ones(degree + 1)
        largest = 1.0
    coefficients = coefficients / largest
    fixed = int(np.argmax(coefficients))
    # A coefficient on its lower bound would give Minuit a zero derivative.
    coefficients = np.maximum(coefficients, 1e-3)
    coefficients[fixed] = 1.0
    steps = np.maximum(0.1 * coefficients, 0.01)
    return StartingPoint(tuple(coefficients.tolist()), tuple(steps.tolist()), fixed)
