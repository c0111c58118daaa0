"""Checkpoints, interrupts and resumption of ``bumpnet scan``.

A long scan saves its outputs while it runs: :class:`ScanCheckpoint` rewrites
``summary.json``, ``summary.csv``, ``scan_report.json`` and ``significance.root``
after a batch of histograms once ``interval`` seconds have passed since the last
save. Each file is replaced atomically (:func:`bumpnet_root.io.atomic_write`)
and SIGINT and SIGTERM wait until a save is finished
(:func:`interrupts_deferred`), so the outputs on disk always parse and hold
only histograms whose scan finished. ``scan_report.json`` records the model's
SHA-256 and each input file's size and modification time. With ``--resume``,
:func:`load_previous_scan` reads them back, and the scan skips every histogram
that was scanned or skipped before with the same model and an unchanged file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .domain import ScanDomain
from .histogram import Hist1D
from .interrupts import interrupts_deferred
from .io import (
    REPORT_JSON,
    SIGNIFICANCE_ROOT,
    SUMMARY_CSV,
    SUMMARY_JSON,
    atomic_write_text,
    write_outputs,
)
from .prediction import Prediction
from .scan import (
    ScanReport,
    ScanResult,
    SkippedObject,
    _matches,
    file_identity,
    find_candidates,
    output_prefixes,
)

logger = logging.getLogger(__name__)


def check_output_dir(out_dir: Path) -> None:
    """Create ``out_dir``, write and remove a small file, remove stale temporaries.

    Raises OSError when the directory cannot be created or written, so a scan
    fails before it starts instead of at its end. Temporary files of the output
    files (``.summary.json.<hex>.tmp``) are left behind only when a process was
    killed during a write (SIGKILL, power loss), so they are removed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    probe = atomic_write_text(out_dir / ".bumpnet-write-test", "ok\n")
    probe.unlink()
    for name in (SUMMARY_JSON, SUMMARY_CSV, REPORT_JSON, SIGNIFICANCE_ROOT):
        for stale in out_dir.glob(f".{name}.*.tmp"):
            logger.info("removing %s, left by an interrupted write", stale)
            stale.unlink()


def sort_report(report: ScanReport, paths: Sequence[str | Path]) -> None:
    """Order the results, skipped and failed objects by input file, then name.

    A resumed scan then writes its outputs in the same order as one that ran
    without interruption.
    """
    position = {str(path): index for index, path in enumerate(paths)}

    def key(entry: Any) -> tuple[int, str]:
        return position.get(entry.file, len(position)), entry.name

    report.results.sort(key=key)
    report.skipped.sort(key=key)
    report.failed.sort(key=key)


class ScanCheckpoint:
    """Saves the outputs of a running scan at most every ``interval`` seconds.

    Pass :meth:`save_if_due` as ``on_batch_done`` to
    :func:`bumpnet_root.scan.scan_files`. A failed save is logged and the scan
    goes on, because the outputs are written again at its end.
    """

    def __init__(
        self,
        report: ScanReport,
        out_dir: Path,
        paths: Sequence[str | Path],
        threshold: float,
        model_info: dict[str, Any],
        interval: float,
    ) -> None:
        self.report = report
        self.out_dir = out_dir
        self.paths = list(paths)
        self.threshold = threshold
        self.model_info = model_info
        self.interval = interval
        self.saves = 0
        self.failures = 0
        self._last_save = time.monotonic()

    def save_if_due(self, _path: str = "") -> None:
        """Save the outputs if ``interval`` seconds have passed since the last save."""
        if time.monotonic() - self._last_save >= self.interval:
            self.save()

    def save(self) -> None:
        """Write the outputs of the histograms scanned so far."""
        self._last_save = time.monotonic()
        try:
            with interrupts_deferred():
                sort_report(self.report, self.paths)
                write_outputs(
                    self.report, self.out_dir, self.threshold, self.model_info
                )
        except OSError as error:
            self.failures += 1
            if self.failures == 1:
                logger.error(
                    "failed to save the results so far into %s: %s; the scan goes "
                    "on and writes them at its end",
                    self.out_dir,
                    error,
                )
            return
        self.saves += 1
        logger.debug(
            "saved %d scanned histograms into %s",
            len(self.report.results),
            self.out_dir,
        )


@dataclass
class PreviousScan:
    """The reusable part of the outputs of an earlier scan into the same directory.

    ``results`` and ``skipped`` use the file paths and output keys of the new
    scan. :meth:`done` returns True for the objects that the new scan leaves out.
    """

    results: list[ScanResult] = field(default_factory=list)
    skipped: list[SkippedObject] = field(default_factory=list)
    _done: set[tuple[str, str]] = field(default_factory=set)

    def done(self, path: str, name: str) -> bool:
        """Return True when the object ``name`` in file ``path`` needs no new scan."""
        return (path, name) in self._done


def load_previous_scan(
    out_dir: Path,
    paths: Sequence[str | Path],
    select: Sequence[str],
    model_sha256: str,
    threshold: float,
) -> PreviousScan:
    """Read the outputs in ``out_dir`` and return what a resumed scan can keep.

    Kept are the scanned and skipped objects of the files in ``paths`` whose
    size and modification time are unchanged, when the model has the same
    SHA-256, and which match ``select``. Failed objects are scanned again.
    Candidates are found again with ``threshold``. Missing or unreadable
    outputs, another model or another file give an empty or smaller result,
    and a log message gives the reason.
    """
    report_path = out_dir / REPORT_JSON
    summary_path = out_dir / SUMMARY_JSON
    if not report_path.is_file() or not summary_path.is_file():
        logger.info("no earlier scan outputs in %s; scanning everything", out_dir)
        return PreviousScan()
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        recorded_sha256 = report["model"]["sha256"]
        inputs = report["inputs"]
        skipped_entries = report["skipped"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        logger.warning(
            "cannot resume from the outputs in %s (%s: %s); scanning everything",
            out_dir,
            type(error).__name__,
            error,
        )
        return PreviousScan()
    if recorded_sha256 != model_sha256:
        logger.warning(
            "the outputs in %s were made with another model (SHA-256 %s, now %s); "
            "scanning everything",
            out_dir,
            recorded_sha256,
            model_sha256,
        )
        return PreviousScan()

    current = _unchanged_files(paths, inputs)
    prefixes = output_prefixes(list(dict.fromkeys(str(path) for path in paths)))
    previous = PreviousScan()
    for entry in summary:
        path = current.get(os.path.abspath(str(entry.get("file", ""))))
        if path is None or not _matches(str(entry.get("name", "")), select):
            continue
        try:
            result = _result_from_summary(entry, path, prefixes[path], threshold)
        except (KeyError, TypeError, ValueError) as error:
            logger.warning(
                "cannot reuse %s:%s from %s (%s: %s); scanning it again",
                path,
                entry.get("name"),
                summary_path,
                type(error).__name__,
                error,
            )
            continue
        previous.results.append(result)
        previous._done.add((path, result.name))
    for entry in skipped_entries:
        path = current.get(os.path.abspath(str(entry.get("file", ""))))
        name = str(entry.get("name", ""))
        if path is None or not name or not _matches(name, select):
            continue
        previous.skipped.append(
            SkippedObject(path, name, str(entry.get("class", "")), str(entry["reason"]))
        )
        previous._done.add((path, name))
    logger.info(
        "resuming from %s: %d scanned and %d skipped objects are kept",
        out_dir,
        len(previous.results),
        len(previous.skipped),
    )
    return previous


def _unchanged_files(
    paths: Sequence[str | Path], inputs: dict[str, Any]
) -> dict[str, str]:
    """Map the absolute path of each unchanged input file to its path in ``paths``."""
    recorded = {os.path.abspath(path): identity for path, identity in inputs.items()}
    unchanged = {}
    for path in dict.fromkeys(str(path) for path in paths):
        absolute = os.path.abspath(path)
        if absolute not in recorded:
            continue
        if file_identity(path) != recorded[absolute]:
            logger.info("%s changed since the earlier scan; scanning it again", path)
            continue
        unchanged[absolute] = path
    return unchanged


def _result_from_summary(
    entry: dict[str, Any], path: str, prefix: str, threshold: float
) -> ScanResult:
    """Rebuild a ScanResult from its ``summary.json`` entry.

    The entry has no variances and no flow contents, so the rebuilt histogram
    has neither. Neither enters the outputs.
    """
    name = str(entry["name"])
    histogram = Hist1D(
        edges=np.asarray(entry["edges"], dtype=np.float64),
        counts=np.asarray(entry["counts"], dtype=np.float64),
        name=name,
        title=str(entry["title"]),
        source=path,
    )
    z = _array_from_json(entry["z"], histogram.n_bins, fill=0.0)
    background = _array_from_json(entry["background"], histogram.n_bins, math.nan)
    domain = ScanDomain(
        start=int(entry["scan_start"]),
        stop=int(entry["scan_stop"]),
        notes=tuple(entry["notes"]),
        out_of_domain=tuple(entry.get("out_of_domain", ())),
    )
    prediction = Prediction(histogram, z, background, domain, notes=domain.notes)
    return ScanResult(
        file=path,
        name=name,
        key=f"{prefix}/{name}" if prefix else name,
        prediction=prediction,
        candidates=find_candidates(z, histogram.centers, threshold),
        x_title=str(entry["x_title"]),
        notes=domain.notes,
        warnings=tuple(entry["warnings"]),
    )


def _array_from_json(values: list, size: int, fill: float) -> np.ndarray:
    """Turn a JSON list with null for non-finite values into a float array."""
    if len(values) != size:
        raise ValueError(f"expected {size} values, got {len(values)}")
    return np.array([fill if v is None else float(v) for v in values], dtype=float)
