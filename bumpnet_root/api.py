"""Python interface: load a BumpNet model and compute Z per bin.

>>> from bumpnet_root import BumpNet
>>> net = BumpNet.load()                   # the default model shipped in the package
>>> z = net.predict((counts, edges))       # numpy array, one Z per bin
>>> z_th1 = net.predict_th1(root_th1)      # ROOT TH1D of Z with the input's binning
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._model_file import DEFAULT_MODEL_PATH as DEFAULT_MODEL_PATH
from ._model_file import file_checksum, resolve_model_path
from .domain import ScanDomain, scan_domain
from .errors import InvalidHistogramError, OutOfDomainWarning, caller_stacklevel
from .export import load_torchscript
from .histogram import Hist1D
from .inference import evaluate_rows
from .prediction import DEFAULT_WIDTHS as DEFAULT_WIDTHS
from .prediction import Prediction as Prediction

logger = logging.getLogger(__name__)


def _is_counts_edges_pair(obj: Any) -> bool:
    """Return True for a tuple of two 1-D arrays whose lengths differ by one."""
    if not isinstance(obj, tuple) or len(obj) != 2:
        return False
    if not all(isinstance(part, (np.ndarray, list)) for part in obj):
        return False
    try:
        counts, edges = (np.asarray(part) for part in obj)
    except ValueError:  # ragged lists, so not a pair of 1-D arrays
        return False
    return counts.ndim == 1 and edges.ndim == 1 and edges.size == counts.size + 1


def _warn_out_of_domain(prediction: Prediction) -> None:
    reasons = prediction.domain.out_of_domain
    if reasons:
        warnings.warn(
            f"histogram {prediction.histogram.label!r} lies outside BumpNet's "
            f"training domain: {'; '.join(reasons)}. Its Z maxima are not bumps.",
            OutOfDomainWarning,
            stacklevel=caller_stacklevel(),
        )


def _as_hist1d(obj: Any) -> Hist1D:
    from .adapters import to_hist1d

    return to_hist1d(obj)


class BumpNet:
    """A loaded BumpNet model (TorchScript) with its metadata."""

    def __init__(
        self, module: torch.jit.ScriptModule, metadata: dict, path: Path
    ) -> None:
        self.module = module
        self.metadata = metadata
        self.path = path

    @classmethod
    def load(cls, path: str | Path | None = None) -> BumpNet:
        """Load the model at ``path``.

        With ``path=None`` the model named by the environment variable
        ``BUMPNET_MODEL`` is loaded, or the package's default model when that
        is unset or empty.
        """
        resolved = resolve_model_path(path)
        module, metadata = load_torchscript(resolved)
        logger.debug("loaded BumpNet model %s", resolved)
        return cls(module, metadata, resolved)

    @property
    def checksum(self) -> str:
        """SHA-256 of the model file."""
        return file_checksum(self.path)

    def predict(self, histogram: Any, domain: str = "auto") -> np.ndarray:
        """Return Z per bin for one histogram of any accepted type.

        ``domain="auto"`` scans from the maximum of the spectrum on (bins before
        it get Z = 0) and raises InvalidHistogramError when the histogram is not
        a falling spectrum; ``domain="full"`` scans every bin as given. Emits
        OutOfDomainWarning when the histogram lies outside the training domain
        (``Prediction.domain.out_of_domain``), because its Z maxima are not bumps.
        """
        prediction = self.evaluate([histogram], domain=domain, strict=True)[0]
        assert isinstance(prediction, Prediction)
        _warn_out_of_domain(prediction)
        return prediction.z

    def predict_many(
        self, histograms: Iterable[Any], domain: str = "auto", batch_size: int = 1024
    ) -> list[np.ndarray]:
        """Return Z per bin for each histogram, evaluated in batches.

        Emits OutOfDomainWarning as :meth:`predict` does, once per histogram.
        """
        predictions = self.evaluate(
            list(histograms), domain=domain, strict=True, batch_size=batch_size
        )
        for prediction in predictions:
            if isinstance(prediction, Prediction):
                _warn_out_of_domain(prediction)
        return [p.z for p in predictions if isinstance(p, Prediction)]

    def predict_th1(self, histogram: Any, name: str | None = None, domain="auto"):
        """Return a ROOT ``TH1D`` of Z with the binning of ``histogram``."""
        from .adapters import to_th1d

        h = _as_hist1d(histogram)
        z = self.predict(h, domain=domain)
        return to_th1d(
            h,
            values=z,
            name=name or f"{h.name or 'h'}_z",
            title=f"BumpNet local significance of {h.title or h.name or 'h'}",
        )

    def evaluate(
        self,
        histograms: Sequence[Any],
        domain: str = "auto",
        strict: bool = False,
        batch_size: int = 1024,
        domains: Sequence[ScanDomain] | None = None,
    ) -> list[Prediction | Exception]:
        """Evaluate many histograms; return a Prediction or the error for each.

        With ``strict`` the first error is raised instead. The network reads
        only the scanned range of each histogram, without the empty bins after
        the last filled one. A spectrum cut off by a selection inside the axis
        range ends in a step to zero. The network would read that step as a
        falling background and report the bins before it as an excess.
        Histograms are run through the network in batches of a few common
        lengths, which does not change their results (see
        :func:`bumpnet_root.inference.evaluate_rows`). ``domains``, one per
        histogram, replaces the ranges that ``domain`` would compute (a caller
        that has already called scan_domain passes its results).
        """
        if domain not in ("auto", "full"):
            raise ValueError(f"domain must be 'auto' or 'full', got {domain!r}")
        if _is_counts_edges_pair(histograms):
            raise TypeError(
                "evaluate takes a sequence of histograms, but got one (counts, "
                "edges) pair; pass [(counts, edges)]"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if domains is not None and len(domains) != len(histograms):
            raise ValueError(
                f"got {len(domains)} domains for {len(histograms)} histograms"
            )
        results: list[Prediction | Exception | None] = [None] * len(histograms)
        accepted: list[tuple[int, Hist1D, ScanDomain]] = []
        for position, item in enumerate(histograms):
            try:
                h = _as_hist1d(item)
                if domains is not None:
                    checked = domains[position]
                    _check_domain(checked, h)
                elif domain == "full":
                    checked = ScanDomain(0, h.n_bins)
                else:
                    checked = scan_domain(h)
                if checked.skip_reason is not None:
                    rejected = InvalidHistogramError(
                        f"histogram {h.label!r} cannot be scanned: "
                        f"{checked.skip_reason}"
                    )
                    rejected.skip_reason = checked.skip_reason
                    raise rejected
            except Exception as error:
                if strict:
                    raise
                results[position] = error
                continue
            accepted.append((position, h, checked))
        for first in range(0, len(accepted), batch_size):
            self._run_batch(accepted[first : first + batch_size], results)
        return [r for r in results if r is not None]

    def _run_batch(
        self, chunk: list[tuple[int, Hist1D, ScanDomain]], results: list
    ) -> None:
        rows = [
            (
                h.counts[checked.start : checked.stop],
                h.edges[checked.start : checked.stop + 1],
            )
            for _, h, checked in chunk
        ]
        # Same Z and background as self.module on each row alone, several
        # times faster; see bumpnet_root.inference.
        outputs = evaluate_rows(self.module, rows)
        for (position, h, checked), (z_row, background_row) in zip(chunk, outputs):
            full_z = np.zeros(h.n_bins)
            full_b = np.full(h.n_bins, np.nan)
            full_z[checked.start : checked.stop] = z_row
            full_b[checked.start : checked.stop] = background_row
            results[position] = Prediction(
                histogram=h,
                z=full_z,
                background=full_b,
                domain=checked,
                notes=checked.notes,
            )


def _check_domain(checked: ScanDomain, h: Hist1D) -> None:
    """Raise ValueError for a scan range that is empty or outside the histogram."""
    if checked.skip_reason is None and not 0 <= checked.start < checked.stop <= (
        h.n_bins
    ):
        raise ValueError(
            f"the scan range {checked.start}:{checked.stop} given for histogram "
            f"{h.label!r} is empty or outside its {h.n_bins} bins; pass ranges "
            "from scan_domain or scan_domains"
        )
