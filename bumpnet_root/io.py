"""Output files of a scan: JSON and CSV summaries and a ROOT file of Z.

Every file is written to a temporary name in its target directory and moved
into place with :func:`os.replace`, so a reader never sees a half-written file
and an interrupted run leaves the previous output intact.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .scan import ScanReport, ScanResult, at_edge, candidate_notes

logger = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
REPORT_JSON = "scan_report.json"
SIGNIFICANCE_ROOT = "significance.root"

CSV_COLUMNS = (
    "rank",
    "file",
    "name",
    "z",
    "mass",
    "bin",
    "scan_low",
    "scan_high",
    "notes",
    "out_of_domain",
    "z_global",
)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then move the file to ``path``.

    The temporary file lies in the same directory as ``path`` (so the move is
    atomic on POSIX file systems) and is removed when ``write`` raises.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    listed: list[float | None] = values.tolist()
    # A loop over the NaN and inf values only: the unscanned bins of a
    # background are NaN, which can be most of a histogram's bins.
    for index in np.flatnonzero(~np.isfinite(values)).tolist():
        listed[index] = None
    return listed


def result_to_dict(result: ScanResult, numpy_arrays: bool = False) -> dict[str, Any]:
    """Return the ``summary.json`` entry of one scanned histogram.

    The per-bin fields are lists with None for NaN and inf, or with
    ``numpy_arrays`` the contiguous float64 arrays themselves, for a
    serialiser that writes NaN and inf as null (orjson).
    """
    histogram = result.histogram
    domain = result.prediction.domain
    entry = {
        "file": result.file,
        "name": result.name,
        "key": result.key,
        "title": histogram.title,
        "x_title": result.x_title,
        "z_max": result.z_max,
        "mass_at_z_max": result.mass_at_z_max,
        "scan_start": domain.start,
        "scan_stop": domain.stop,
        "scan_range": list(result.scan_range),
        "notes": list(result.notes),
        "warnings": list(result.warnings),
        # Candidates of a histogram outside the training domain are Z maxima,
        # not bumps; "out_of_domain" lists why the histogram is outside.
        "out_of_domain": list(result.out_of_domain),
        "candidates": [
            {
                "z": c.z,
                "mass": c.mass,
                "bin": c.bin,
                "out_of_domain": bool(result.out_of_domain),
                # After the look-elsewhere correction; None when not computed.
                "z_global": c.z_global,
                "at_edge": at_edge(c.bin, domain.start, domain.stop),
            }
            for c in result.candidates
        ],
    }
    arrays = {
        "edges": histogram.edges,
        "counts": histogram.counts,
        "z": result.prediction.z,
        "background": result.prediction.background,
    }
    for name, values in arrays.items():
        values = np.ascontiguousarray(values, dtype=np.float64)
        entry[name] = values if numpy_arrays else _finite_or_none(values)
    return entry


def report_to_dict(
    report: ScanReport, threshold: float, model: dict[str, Any]
) -> dict[str, Any]:
    """Return the content of ``scan_report.json``."""
    return {
        "files": list(report.files),
        "model": model,
        "threshold": threshold,
        "scanned": len(report.results),
        "candidates": sum(len(r.candidates) for r in report.results),
        "skipped": [
            {
                "file": s.file,
                "name": s.name,
                "class": s.class_name,
                "reason": s.reason,
            }
            for s in report.skipped
        ],
        "failed": [
            {
                "file": f.file,
                "name": f.name,
                "error": f.error,
                "error_type": f.error_type,
            }
            for f in report.failed
        ],
        "complete": report.complete,
        "inputs": {path: dict(identity) for path, identity in report.inputs.items()},
    }


def candidates_csv(report: ScanReport) -> str:
    """Return the text of ``summary.csv``, one row per candidate, highest Z first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rank, (result, candidate) in enumerate(report.ranked_candidates(), start=1):
        low, high = result.scan_range
        writer.writerow(
            [
                rank,
                result.file,
                result.name,
                f"{candidate.z:.4f}",
                f"{candidate.mass:.6g}",
                candidate.bin,
                f"{low:.6g}",
                f"{high:.6g}",
                "; ".join(candidate_notes(result, candidate)),
                "; ".join(result.out_of_domain),
                "" if candidate.z_global is None else f"{candidate.z_global:.4f}",
            ]
        )
    return buffer.getvalue()


def significance_th1d(result: ScanResult) -> Any:
    """Return an uproot-writable TH1D of Z with the input's binning.

    Z is 0 outside the scanned bins. Sumw2 is zero, so GetBinError returns 0,
    because Z carries no statistical error of its own.
    """
    histogram = result.histogram
    return z_th1d(
        result.name.rsplit("/", 1)[-1],
        histogram.title,
        result.x_title,
        histogram.edges,
        result.prediction.z,
    )


def z_th1d(
    name: str, title: str, x_title: str, edges: np.ndarray, z: np.ndarray
) -> Any:
    """Return the TH1D of :func:`significance_th1d` from its parts.

    ``title`` is the input histogram's title, ``edges`` its bin edges and
    ``z`` the local significance per bin.
    """
    import uproot

    n_bins = edges.size - 1
    z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    data = np.concatenate(([0.0], z, [0.0]))
    widths = np.diff(edges)
    uniform = bool(np.allclose(widths, widths[0], rtol=1e-9, atol=0.0))
    x_axis = uproot.writing.identify.to_TAxis(
        fName="xaxis",
        fTitle=x_title,
        fNbins=n_bins,
        fXmin=float(edges[0]),
        fXmax=float(edges[-1]),
        fXbins=np.array([], dtype=np.float64) if uniform else edges,
    )
    centers = 0.5 * (edges[1:] + edges[:-1])
    title = f"BumpNet local significance of {title or name}"
    # Edges near the float64 maximum make the x moments inf, which ROOT reads.
    with np.errstate(over="ignore", invalid="ignore"):
        sum_zx = float(np.sum(z * centers))
        sum_zx2 = float(np.sum(z * centers * centers))
    return uproot.writing.identify.to_TH1x(
        fName=name,
        fTitle=title,
        data=data,
        fEntries=float(n_bins),
        fTsumw=float(np.sum(z)),
        fTsumw2=float(np.sum(z * z)),
        fTsumwx=sum_zx,
        fTsumwx2=sum_zx2,
        fSumw2=np.zeros(n_bins + 2),
        fXaxis=x_axis,
        fYaxis=uproot.writing.identify.to_TAxis(
            fName="yaxis", fTitle="Z", fNbins=1, fXmin=0.0, fXmax=1.0
        ),
    )


def write_significance_root(
    report: ScanReport,
    path: str | Path,
    extra_histograms: Mapping[str, Any] | None = None,
    keys: Mapping[str, str] | None = None,
) -> Path:
    """Write one TH1D of Z per scanned histogram to a ROOT file, atomically.

    ``extra_histograms`` maps more paths in the file to uproot-writable
    objects, such as the RooFit cross-check's TH1Ds. ``keys`` maps each path
    to the one written (see :func:`writable_keys`, which computes it when it
    is None).
    """
    extra_histograms = extra_histograms or {}
    if keys is None:
        keys = writable_keys([r.key for r in report.results] + list(extra_histograms))

    import uproot

    def write(temporary: Path) -> None:
        with uproot.recreate(temporary) as root_file:
            for result in report.results:
                root_file[keys[result.key]] = significance_th1d(result)
            for key, histogram in extra_histograms.items():
                root_file[keys[key]] = histogram

    return atomic_write(path, write)


def _summary_text(entries: list[dict[str, Any]]) -> str:
    """Return ``summary.json``: a JSON list with one entry per line.

    The layout of :class:`bumpnet_root.stream.StreamingOutputs`, so that a
    scan writes the same bytes with and without ``--resume``.
    """
    import orjson

    lines = [orjson.dumps(entry).decode() for entry in entries]
    return (
        "["
        + "".join(
            ("\n" if index == 0 else ",\n") + line for index, line in enumerate(lines)
        )
        + "\n]\n"
    )


def writable_keys(keys: Sequence[str]) -> dict[str, str]:
    """Map each key to a path under which it can be written into one ROOT file.

    A directory cannot be created where another object has its name (a
    histogram "a" and a key "a/b"). A key that needs such a directory gets its
    "/" replaced by "__", and a suffix "__2", "__3", ... if another key has
    that form already; the other keys stay as they are.
    """
    objects = set(keys)
    flat = {key for key in keys if _needs_flat_form(key, objects)}
    used = objects - flat
    resolved = {}
    for key in keys:
        resolved[key] = writable_key(key, objects, used) if key in flat else key
        used.add(resolved[key])
    for key, written in resolved.items():
        if written != key:
            logger.warning(
                "%r cannot be written into significance.root, because another "
                "histogram has the name of its directory; it is written as %r",
                key,
                written,
            )
    return resolved


def _needs_flat_form(key: str, objects: set[str]) -> bool:
    """Return True when a directory that ``key`` needs is a name in ``objects``."""
    end = key.find("/")
    while end >= 0:
        if key[:end] in objects:
            return True
        end = key.find("/", end + 1)
    return False


def writable_key(key: str, objects: set[str], used: set[str] | None = None) -> str:
    """Return ``key``, or its flat form when a directory it needs is in ``objects``.

    The result is not in ``used`` (``objects`` when None): a key already taken
    gets a suffix "__2", "__3", ...
    """
    used = objects if used is None else used
    if _needs_flat_form(key, objects):
        key = key.replace("/", "__")
    if key not in used:
        return key
    number = 2
    while f"{key}__{number}" in used:
        number += 1
    return f"{key}__{number}"


def write_outputs(
    report: ScanReport,
    out_dir: str | Path,
    threshold: float,
    model: dict[str, Any],
    extra_fields: Mapping[str, Mapping[str, Any]] | None = None,
    extra_histograms: Mapping[str, Any] | None = None,
    report_fields: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the summaries and ``significance.root`` into ``out_dir``.

    Returns the written paths by file name. ``model`` (path, checksum, version)
    goes into ``scan_report.json``. ``extra_fields`` maps a result's key to
    fields added to its ``summary.json`` entry, and ``extra_histograms`` adds
    objects to ``significance.root`` (both from the RooFit cross-check).
    ``report_fields`` are added to ``scan_report.json`` (the look-elsewhere
    figures).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra_fields = extra_fields or {}
    keys = writable_keys([r.key for r in report.results] + list(extra_histograms or {}))
    summary = [
        {
            **result_to_dict(result),
            **extra_fields.get(result.key, {}),
            "key": keys[result.key],
        }
        for result in report.results
    ]
    # summary.json comes last: when the process is killed between two writes,
    # every histogram that it lists is also in the other files.
    written = {
        SIGNIFICANCE_ROOT: write_significance_root(
            report, out_dir / SIGNIFICANCE_ROOT, extra_histograms, keys
        ),
        SUMMARY_CSV: atomic_write_text(out_dir / SUMMARY_CSV, candidates_csv(report)),
        REPORT_JSON: atomic_write_text(
            out_dir / REPORT_JSON,
            json.dumps(
                {**report_to_dict(report, threshold, model), **(report_fields or {})},
                indent=2,
                allow_nan=False,
            )
            + "\n",
        ),
        SUMMARY_JSON: atomic_write_text(out_dir / SUMMARY_JSON, _summary_text(summary)),
    }
    for path in written.values():
        logger.debug("wrote %s", path)
    return written
