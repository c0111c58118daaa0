"""Look-elsewhere correction: global significance from background-only toys.

A calibration belongs to one model file and one binning. It holds, for
``toys`` background-only pseudo-experiments, the maximum of BumpNet's Z over
the scanned range (Z_max), the number of upcrossings of Z above
:data:`REFERENCE_LEVEL`, the Z of every local maximum above
:data:`CANDIDATE_FLOOR` and the count level of the toy. The pseudo-experiments
are Poisson draws from the smooth falling shapes of the training generator
(:mod:`bumpnet_root.synthetic`: exponential, power-law, logarithmic, linear,
parabolic, cosine and cosh segments and Gaussian-process shapes). Their
expected counts are spread log-uniformly over the training range. Each toy is
scanned exactly like data (:func:`bumpnet_root.domain.scan_domain`, the
network, :func:`bumpnet_root.scan.find_candidates`).

For a histogram, only the toys whose count level (log10 of the mean network
background over the scanned bins) lies within :data:`LEVEL_WINDOW` decades of
the histogram's own level are used. The global p-value of a candidate with
local Z = z is the fraction of those toys with Z_max >= z. Where fewer than
:data:`MIN_TAIL_TOYS` toys reach z, the tail is extrapolated with the upcrossing
formula of Gross and Vitells (Eur. Phys. J. C 70 (2010) 525, arXiv:1005.1891),
p(z) = Phi(-z) + N(u0) exp(-(z^2 - u0^2) / 2), scaled to match the toys at
the last z they resolve. docs/lee.md states the assumptions.

Calibrations are cached as ``.npz`` files in :func:`cache_dir`, keyed by the
model's SHA-256, the number of bins, a hash of the bin edges, the number of
toys and the method version. The edges are shifted and scaled first: Z does
not depend on the axis units, so all equal-width binnings with the same
number of bins share one calibration. A lock file makes concurrent scans on
one machine compute each calibration once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_ndtr, ndtri, ndtri_exp

from ._defaults import DEFAULT_TOYS
from .histogram import Hist1D

if TYPE_CHECKING:
    from .api import BumpNet

logger = logging.getLogger(__name__)

CACHE_ENV = "BUMPNET_CACHE_DIR"
# With fewer toys per binning than this, a warning calls the correction rough.
FEW_TOYS = 100
# Changing how toys are drawn or scanned must change this, so that old cache
# files are not reused.
METHOD_VERSION = 1
# u0 of the upcrossing formula: low enough that every toy has a few upcrossings.
REFERENCE_LEVEL = 1.0
# Local maxima of the toys down to this Z are stored, so that the expected
# number of false candidates can be computed for any threshold from it on.
CANDIDATE_FLOOR = 0.0
# Half-width in decades of the count-level window that matches toys to data.
LEVEL_WINDOW = 0.5
# At least this many toys (or all) are used, the nearest in level first.
MIN_MATCHED_TOYS = 50
# The empirical Z_max distribution is used down to this many toys above z.
MIN_TAIL_TOYS = 10
# Range of log10(expected counts in the first bin) of the toys, that of the
# training data (SyntheticConfig.log10_peak).
LOG10_PEAK_RANGE = (0.5, 6.0)
# Histograms evaluated per network call while calibrating.
TOY_BATCH = 512


def cache_dir() -> Path:
    """Return the calibration cache directory.

    ``$BUMPNET_CACHE_DIR`` when set and not empty, else
    ``$XDG_CACHE_HOME/bumpnet-root/lee`` or ``~/.cache/bumpnet-root/lee``.
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bumpnet-root" / "lee"


def warn_if_few_toys(toys: int) -> None:
    """Log a warning when ``toys`` per binning is too few for a usable correction."""
    if 0 < toys < FEW_TOYS:
        logger.warning(
            "the look-elsewhere correction uses %d background-only toys per "
            "binning; with fewer than %d its global significances and expected "
            "false candidates are rough, use %d or more",
            toys,
            FEW_TOYS,
            DEFAULT_TOYS,
        )


def normalised_edges(edges: np.ndarray) -> np.ndarray:
    """Return the edges shifted to 0 and scaled so the first bin has width 1."""
    edges = np.asarray(edges, dtype=np.float64)
    return (edges - edges[0]) / (edges[1] - edges[0])


def calibration_key(model_sha256: str, edges: np.ndarray, toys: int) -> str:
    """Return the cache key (a hex SHA-256) of a calibration."""
    shape = np.round(normalised_edges(edges), 9)
    description = {
        "model_sha256": model_sha256,
        "n_bins": int(shape.size - 1),
        "edges_sha256": hashlib.sha256(shape.tobytes()).hexdigest(),
        "toys": int(toys),
        "version": METHOD_VERSION,
    }
    text = json.dumps(description, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class LeeCalibration:
    """Background-only toys of one model and binning; see the module docstring.

    Arrays per toy: ``levels``, ``z_max``, ``upcrossings``. Local maxima of all
    toys: ``candidate_z`` with the index of their toy in ``candidate_toy``.
    """

    key: str
    levels: np.ndarray
    z_max: np.ndarray
    upcrossings: np.ndarray
    candidate_z: np.ndarray
    candidate_toy: np.ndarray
    _candidates_per_toy: dict[float, np.ndarray] = field(
        default_factory=dict, compare=False, repr=False
    )
    # The toys matched to the last requested level, because the lookups of
    # one histogram request the same level several times.
    _matched: dict[float, np.ndarray] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def toys(self) -> int:
        return int(self.z_max.size)

    def matched_toys(self, level: float) -> np.ndarray:
        """Return the indices of the toys whose count level matches ``level``."""
        matched = self._matched.get(level)
        if matched is not None:
            return matched
        distance = np.abs(self.levels - level)
        matched = np.nonzero(distance <= LEVEL_WINDOW)[0]
        minimum = min(MIN_MATCHED_TOYS, self.toys)
        if matched.size < minimum:
            matched = np.argsort(distance, kind="stable")[:minimum]
        matched.flags.writeable = False
        self._matched.clear()
        self._matched[level] = matched
        return matched

    def p_global(self, z: float, level: float) -> float:
        """Return P(Z_max >= z) of a background-only histogram at ``level``."""
        return float(np.exp(self.log_p_global(z, level)))

    def log_p_global(self, z: float, level: float) -> float:
        """Return the natural log of :meth:`p_global`.

        The log stays finite where the p-value itself underflows to 0, above
        Z of about 38.
        """
        toys = self.matched_toys(level)
        log_p_local = float(log_ndtr(-z))
        if toys.size == 0:
            return 0.0
        upcrossings = float(np.mean(self.upcrossings[toys]))

        def log_upcrossing_formula(value: float) -> float:
            log_tail = float(log_ndtr(-value))
            if upcrossings <= 0.0:
                return log_tail
            log_rise = math.log(upcrossings) - 0.5 * (
                value * value - REFERENCE_LEVEL**2
            )
            return float(np.logaddexp(log_tail, log_rise))

        z_max = np.sort(self.z_max[toys])[::-1]
        above = int(np.count_nonzero(z_max >= z))
        if above >= MIN_TAIL_TOYS or z <= REFERENCE_LEVEL:
            log_p = math.log(above / toys.size) if above > 0 else -math.inf
        elif toys.size < MIN_TAIL_TOYS:
            log_p = log_upcrossing_formula(z)
        else:
            # The last Z that MIN_TAIL_TOYS toys reach anchors the extrapolation.
            anchor = float(z_max[MIN_TAIL_TOYS - 1])
            log_p = (
                math.log(MIN_TAIL_TOYS / toys.size)
                + log_upcrossing_formula(z)
                - log_upcrossing_formula(anchor)
            )
        return float(min(max(log_p, log_p_local), 0.0))

    def expected_candidates(self, threshold: float, level: float) -> float:
        """Return the mean number of candidates with Z > threshold per toy."""
        if threshold < CANDIDATE_FLOOR:
            raise ValueError(
                f"the calibration stores local maxima above Z = {CANDIDATE_FLOOR} "
                f"only, so it cannot count candidates above {threshold}"
            )
        toys = self.matched_toys(level)
        if toys.size == 0:
            return 0.0
        per_toy = self._candidates_per_toy.get(threshold)
        if per_toy is None:
            above = self.candidate_toy[self.candidate_z > threshold]
            per_toy = np.bincount(above, minlength=self.toys)
            self._candidates_per_toy[threshold] = per_toy
        return float(np.mean(per_toy[toys]))


def z_from_p(p: float) -> float:
    """Return the one-sided Z of a p-value, Phi^-1(1 - p), but at least 0.

    p >= 0.5 gives 0, the usual convention for a result that is no excess.
    """
    return max(float(-ndtri(p)), 0.0)


def z_from_log_p(log_p: float) -> float:
    """Return :func:`z_from_p` of exp(``log_p``); finite where p underflows to 0."""
    if log_p >= math.log(0.5):
        return 0.0
    return max(float(-ndtri_exp(log_p)), 0.0)


def scan_wide_log_p(log_p_global: float, trials: int) -> float:
    """Return the natural log of :func:`scan_wide_p`, for p-values of any size."""
    if log_p_global >= 0.0:
        return 0.0
    if log_p_global >= -30.0:
        return math.log(scan_wide_p(math.exp(log_p_global), trials))
    if log_p_global > -700.0:
        # For p below 1e-13, (1 - p)^n = exp(-n p) to float64 precision.
        return math.log(-math.expm1(-trials * math.exp(log_p_global)))
    # exp(log p) underflows here, and n p is tiny for any number of trials.
    return min(math.log(trials) + log_p_global, 0.0)


def scan_wide_p(p_global: float, trials: int) -> float:
    """Return 1 - (1 - p_global)^trials: at least one of ``trials`` histograms."""
    if p_global >= 1.0:
        return 1.0
    return float(-np.expm1(trials * np.log1p(-p_global)))


def count_level(background: np.ndarray) -> float:
    """Return log10 of the mean background over the scanned bins."""
    finite = np.isfinite(background)
    if not finite.all():
        background = background[finite]
    if background.size == 0:
        return 0.0
    return float(np.log10(max(float(background.mean()), 1e-3)))


def count_upcrossings(z: np.ndarray, level: float = REFERENCE_LEVEL) -> int:
    """Return how often ``z`` rises above ``level``, a start above it included."""
    above = np.asarray(z) > level
    if above.size == 0:
        return 0
    return int(above[0]) + int(np.count_nonzero(above[1:] & ~above[:-1]))


def _toy_backgrounds(
    rng: np.random.Generator, edges: np.ndarray, toys: int
) -> np.ndarray:
    """Return expected counts (toys, n_bins) of smooth falling spectra on ``edges``."""
    from .synthetic import SyntheticConfig, analytic_shapes, gaussian_process_shapes

    config = SyntheticConfig()
    shape_edges = normalised_edges(edges)
    centers = 0.5 * (shape_edges[1:] + shape_edges[:-1])
    t = centers / shape_edges[-1]
    widths = np.diff(shape_edges)
    drop = rng.uniform(*config.log10_drop, size=toys)
    use_gp = rng.random(toys) < config.gp_fraction
    shapes = np.empty((toys, t.size))
    if np.any(~use_gp):
        shapes[~use_gp] = analytic_shapes(rng, t, drop[~use_gp])
    if np.any(use_gp):
        shapes[use_gp] = gaussian_process_shapes(rng, t, drop[use_gp])
    peak = 10.0 ** rng.uniform(*LOG10_PEAK_RANGE, size=(toys, 1))
    # The shapes are densities; wider bins collect proportionally more events.
    return np.maximum(peak * shapes * widths[None, :], config.min_background)


def build_calibration(
    model: BumpNet, edges: np.ndarray, toys: int, key: str
) -> LeeCalibration:
    """Generate and scan ``toys`` background-only histograms on ``edges``."""
    from .prediction import Prediction
    from .scan import find_candidates

    if toys < 1:
        raise ValueError(f"toys must be at least 1, got {toys}")
    seed = int(key[:16], 16)
    rng = np.random.default_rng(seed)
    levels: list[float] = []
    z_max: list[float] = []
    upcrossings: list[int] = []
    candidate_z: list[float] = []
    candidate_toy: list[int] = []
    rejected: Counter[str] = Counter()
    edges = np.asarray(edges, dtype=np.float64)
    centers = 0.5 * (edges[1:] + edges[:-1])
    for first in range(0, toys, TOY_BATCH):
        size = min(TOY_BATCH, toys - first)
        expected = _toy_backgrounds(rng, edges, size)
        counts = rng.poisson(expected).astype(np.float64)
        histograms = [Hist1D(edges=edges, counts=row) for row in counts]
        predictions = model.evaluate(histograms, domain="auto", batch_size=TOY_BATCH)
        for prediction in predictions:
            if not isinstance(prediction, Prediction):
                # A toy that the domain check rejects is not scanned, as data.
                reason = getattr(prediction, "skip_reason", None)
                rejected[reason or type(prediction).__name__] += 1
                continue
            domain = prediction.domain
            z = prediction.z[domain.start : domain.stop]
            index = len(z_max)
            levels.append(
                count_level(prediction.background[domain.start : domain.stop])
            )
            z_max.append(float(np.max(z)))
            upcrossings.append(count_upcrossings(z))
            for candidate in find_candidates(prediction.z, centers, CANDIDATE_FLOOR):
                candidate_z.append(candidate.z)
                candidate_toy.append(index)
    logger.info(
        "calibrated the look-elsewhere effect on %d bins with %d of %d toys scanned%s",
        edges.size - 1,
        len(z_max),
        toys,
        "; the others fail the checks that data fail (-v lists why)"
        if rejected
        else "",
    )
    # One line per binning at INFO: a first scan of a file with many
    # binnings calibrates each of them.
    for reason, count in rejected.most_common():
        logger.debug(
            "%d toys on %d bins were not scanned, as data would not be: %s",
            count,
            edges.size - 1,
            reason,
        )
    return LeeCalibration(
        key=key,
        levels=np.asarray(levels, dtype=np.float64),
        z_max=np.asarray(z_max, dtype=np.float64),
        upcrossings=np.asarray(upcrossings, dtype=np.int64),
        candidate_z=np.asarray(candidate_z, dtype=np.float64),
        candidate_toy=np.asarray(candidate_toy, dtype=np.int64),
    )


def _save(calibration: LeeCalibration, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "wb") as stream:
            np.savez(
                stream,
                levels=calibration.levels,
                z_max=calibration.z_max,
                upcrossings=calibration.upcrossings,
                candidate_z=calibration.candidate_z,
                candidate_toy=calibration.candidate_toy,
            )
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def _load(path: Path, key: str, warn: bool = True) -> LeeCalibration | None:
    """Return the calibration stored at ``path``, or None when there is none.

    A file that cannot be read as a calibration (truncated, overwritten,
    arrays of the wrong shape) is reported with ``warn`` and treated as
    missing, so that the calibration is computed again and the file replaced.
    """
    try:
        # np.load leaves its own file handle open when the zip archive is
        # damaged, so the file is opened here.
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as data:
            calibration = LeeCalibration(
                key=key,
                levels=data["levels"],
                z_max=data["z_max"],
                upcrossings=data["upcrossings"],
                candidate_z=data["candidate_z"],
                candidate_toy=data["candidate_toy"],
            )
        problem = _calibration_problem(calibration)
    except (FileNotFoundError, NotADirectoryError):
        # A missing file, or a cache path that is not a directory, which
        # _compute_locked reports.
        return None
    except Exception as error:
        problem = f"not a readable calibration file ({type(error).__name__})"
    if problem is None:
        return calibration
    if warn:
        logger.warning(
            "ignoring the damaged look-elsewhere cache file %s (%s); it is "
            "computed again",
            path,
            problem,
        )
    return None


def _calibration_problem(calibration: LeeCalibration) -> str | None:
    """Return what makes a loaded calibration unusable, or None."""
    levels, z_max = calibration.levels, calibration.z_max
    if z_max.ndim != 1 or z_max.size == 0:
        return f"toy maxima of shape {z_max.shape}"
    if levels.shape != z_max.shape or calibration.upcrossings.shape != z_max.shape:
        return (
            f"{levels.size} count levels and {calibration.upcrossings.size} "
            f"upcrossing counts for {z_max.size} toys"
        )
    if calibration.candidate_z.shape != calibration.candidate_toy.shape:
        return "candidate arrays differ in shape"
    if not (np.all(np.isfinite(levels)) and np.all(np.isfinite(z_max))):
        return "values that are not finite"
    return None


class LeeCalibrator:
    """Look-elsewhere calibrations of one model, from memory, disk or computed.

    ``stats`` counts the calibrations found in memory (``memory``), read from
    the cache directory (``disk``) and computed (``computed``).
    """

    def __init__(
        self,
        model: BumpNet,
        model_sha256: str,
        toys: int = DEFAULT_TOYS,
        directory: str | Path | None = None,
    ) -> None:
        if toys < 1:
            raise ValueError(f"toys must be at least 1, got {toys}")
        self.model = model
        self.model_sha256 = model_sha256
        self.toys = toys
        self.directory = Path(directory) if directory is not None else cache_dir()
        self.stats = {"memory": 0, "disk": 0, "computed": 0}
        self._memory: dict[str, LeeCalibration] = {}
        self._keys: dict[bytes, str] = {}

    def key(self, edges: np.ndarray) -> str:
        """Return :func:`calibration_key` of ``edges``, computed once per binning."""
        edges = np.ascontiguousarray(edges, dtype=np.float64)
        raw = edges.tobytes()
        key = self._keys.get(raw)
        if key is None:
            key = calibration_key(self.model_sha256, edges, self.toys)
            self._keys[raw] = key
        return key

    def calibration(self, edges: np.ndarray) -> LeeCalibration:
        """Return the calibration of the binning ``edges``."""
        key = self.key(edges)
        found = self._memory.get(key)
        if found is not None:
            self.stats["memory"] += 1
            return found
        found = self._load_or_compute(edges, key, wait=True)
        assert found is not None
        return found

    def prepare(self, binnings: list[np.ndarray]) -> None:
        """Load or compute the calibrations of several binnings.

        A binning that another process is computing is left for later, so
        that parallel workers compute different calibrations at the same time
        instead of waiting for each other.
        """
        pending: dict[str, np.ndarray] = {}
        for edges in binnings:
            key = self.key(edges)
            if key not in self._memory:
                pending.setdefault(key, edges)
        while pending:
            done = [
                key
                for key, edges in pending.items()
                if self._load_or_compute(edges, key, wait=False) is not None
            ]
            if not done:
                # Every one is being computed elsewhere: wait for the first.
                key, edges = next(iter(pending.items()))
                self._load_or_compute(edges, key, wait=True)
                done = [key]
            for key in done:
                del pending[key]

    def _load_or_compute(
        self, edges: np.ndarray, key: str, wait: bool
    ) -> LeeCalibration | None:
        """Return the calibration from disk or computed, and keep it in memory.

        Returns None when ``wait`` is False and another process holds the
        lock of this calibration.
        """
        path = self.directory / f"{key}.npz"
        found = _load(path, key)
        if found is None:
            found = self._compute_locked(edges, key, path, wait)
            if found is None:
                return None
        else:
            self.stats["disk"] += 1
        self._memory[key] = found
        return found

    def _compute_locked(
        self, edges: np.ndarray, key: str, path: Path, wait: bool
    ) -> LeeCalibration | None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = open(self.directory / f"{key}.lock", "a+b")
        except OSError as error:
            logger.warning(
                "cannot use the look-elsewhere cache directory %s (%s); set %s to "
                "a writable directory to keep calibrations between runs",
                self.directory,
                error,
                CACHE_ENV,
            )
            self.stats["computed"] += 1
            return build_calibration(self.model, edges, self.toys, key)
        with lock:
            # Another process may be computing the same calibration: wait for
            # it, or return None to come back later.
            try:
                fcntl.flock(
                    lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
                )
            except BlockingIOError:
                return None
            # Another process may have written the file meanwhile, so it is
            # read again under the lock. The first read reported a damaged file.
            found = _load(path, key, warn=False)
            if found is not None:
                self.stats["disk"] += 1
                return found
            calibration = build_calibration(self.model, edges, self.toys, key)
            self.stats["computed"] += 1
            try:
                _save(calibration, path)
            except OSError as error:
                logger.warning(
                    "failed to write the look-elsewhere cache file %s: %s", path, error
                )
            return calibration


@dataclass(frozen=True)
class HistogramLee:
    """Look-elsewhere figures of one scanned histogram.

    ``z_global`` has one entry per candidate, in the order of the candidates.
    ``expected_false_candidates`` is the mean number of candidates above the
    threshold in background-only toys of the same binning and count level (NaN
    for a threshold below :data:`CANDIDATE_FLOOR`).
    """

    z_global: tuple[float, ...]
    expected_false_candidates: float
    level: float
    toys: int


def histogram_lee(
    calibrator: LeeCalibrator,
    histogram: Hist1D,
    background: np.ndarray,
    start: int,
    stop: int,
    candidate_z: tuple[float, ...],
    threshold: float,
) -> HistogramLee:
    """Return the look-elsewhere figures of one scanned histogram."""
    calibration = calibrator.calibration(histogram.edges)
    level = count_level(background[start:stop])
    z_global = []
    for z in candidate_z:
        log_p = calibration.log_p_global(z, level)
        # p_global >= Phi(-z), so only rounding could make Z_global > Z here.
        z_global.append(min(z_from_log_p(log_p), max(z, 0.0)))
    if threshold >= CANDIDATE_FLOOR:
        expected = calibration.expected_candidates(threshold, level)
    else:
        expected = float("nan")
    return HistogramLee(
        z_global=tuple(z_global),
        expected_false_candidates=expected,
        level=level,
        toys=int(calibration.matched_toys(level).size),
    )
