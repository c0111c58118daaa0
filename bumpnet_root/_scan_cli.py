"""The options of ``bumpnet scan`` for speed and the look-elsewhere effect.

Kept apart from :mod:`bumpnet_root.cli` so that the command line module only
adds the arguments and passes them on.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from ._defaults import DEFAULT_TOYS

# Results whose arrays a streaming scan keeps beyond those it plots, so that
# ties in Z_max at the cut cannot leave a plotted histogram without arrays.
KEPT_RESULTS_MARGIN = 10
# Candidates listed with their scan-wide global Z in scan_report.json.
LEE_REPORT_CANDIDATES = 20


def add_arguments(parser: argparse.ArgumentParser, positive_int: Any) -> None:
    """Add --jobs, --threads, --dask-scheduler, --lee-toys, --no-lee and --reader."""
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="scan on N worker processes, each of which loads the model once "
        "(default: %(default)s); the results equal those of one process",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        metavar="N",
        help="torch threads per process (default: %(default)s); more threads "
        "help only on idle cores, so prefer --jobs",
    )
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="scan on the workers of this Dask cluster (for example "
        "tcp://127.0.0.1:8786) instead of local processes; the workers must "
        "read the input files and the model at the same paths",
    )
    parser.add_argument(
        "--lee-toys",
        type=positive_int,
        default=DEFAULT_TOYS,
        metavar="N",
        help="background-only toys per binning for the look-elsewhere "
        "correction, computed once per model and binning and cached in "
        "$BUMPNET_CACHE_DIR or ~/.cache/bumpnet-root/lee (default: %(default)s)",
    )
    parser.add_argument(
        "--no-lee",
        action="store_true",
        help="skip the look-elsewhere correction (no Z_global)",
    )
    parser.add_argument(
        "--reader",
        choices=("auto", "pyroot", "uproot"),
        default="auto",
        help="library that reads the input files: PyROOT (faster; 'auto' uses "
        "it when it is installed) or uproot, which reports a damaged object "
        "where ROOT itself may crash (default: %(default)s)",
    )


def fast_scan_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the keyword arguments of scan_files_fast set by the command line."""
    return {
        "jobs": args.jobs,
        "threads": args.threads,
        "scheduler": args.dask_scheduler,
        "lee_toys": 0 if args.no_lee else args.lee_toys,
        "batch_size": args.batch_size,
        "reader": args.reader,
    }


def kept_results(args: argparse.Namespace) -> int:
    """Return how many results a streaming scan keeps with their arrays."""
    return args.plots + KEPT_RESULTS_MARGIN


def look_elsewhere_fields(scan: Any, report: Any, threshold: float) -> dict[str, Any]:
    """Return the ``look_elsewhere`` section of ``scan_report.json``."""
    from scipy.special import log_ndtr

    from .lee import scan_wide_log_p, z_from_log_p

    if scan.expected_false_candidates is None:
        return {"look_elsewhere": {"enabled": False}}
    trials = sum(1 for _ in report.results)
    top = []
    for result, candidate in report.ranked_candidates()[:LEE_REPORT_CANDIDATES]:
        entry = {
            "file": result.file,
            "name": result.name,
            "mass": candidate.mass,
            "z": candidate.z,
            "z_global": candidate.z_global,
            "z_global_scan": None,
            "out_of_domain": bool(result.out_of_domain),
        }
        if candidate.z_global is not None:
            log_p_histogram = float(log_ndtr(-candidate.z_global))
            z_scan = z_from_log_p(scan_wide_log_p(log_p_histogram, trials))
            entry["z_global_scan"] = min(z_scan, candidate.z_global)
        top.append(entry)
    return {
        "look_elsewhere": {
            "enabled": True,
            "method": "background-only toys per model and binning, matched to "
            "each histogram's count level (docs/lee.md)",
            "toys_per_binning": scan.lee_toys,
            "trials": trials,
            "threshold": threshold,
            "expected_false_candidates": _finite_or_none(
                scan.expected_false_candidates
            ),
            "calibrations": dict(scan.lee_cache),
            "top_candidates": top,
        }
    }


def look_elsewhere_lines(fields: dict[str, Any]) -> list[str]:
    """Return the lines that ``bumpnet scan`` prints about the look-elsewhere effect."""
    section = fields["look_elsewhere"]
    if not section["enabled"]:
        return ["look-elsewhere correction off (--no-lee)"]
    expected = section["expected_false_candidates"]
    expected_text = "n/a" if expected is None else f"{expected:.3g}"
    trials = section["trials"]
    lines = [
        f"look-elsewhere effect: {expected_text} false candidates with "
        f"Z > {section['threshold']:g} expected from background alone in the "
        f"{trials} scanned {'histogram' if trials == 1 else 'histograms'}"
    ]
    # Maxima of histograms outside the training domain are not bumps.
    inside = [
        entry for entry in section["top_candidates"] if not entry["out_of_domain"]
    ]
    if inside and inside[0]["z_global_scan"] is not None:
        best = inside[0]
        lines.append(
            f"highest candidate: Z = {best['z']:.2f}, Z_global = "
            f"{best['z_global']:.2f} in its histogram, "
            f"{best['z_global_scan']:.2f} over all {section['trials']} histograms"
        )
    return lines


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
