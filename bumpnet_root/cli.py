"""The ``bumpnet`` command line: scan ROOT files, train and validate models.

Each subcommand is one ``_add_<name>_parser(subparsers, parent)`` function. It
adds its parser (with ``parents=[parent]`` for -v/-q) and sets ``handler`` to a
function that takes the parsed arguments and returns the exit status.
:data:`SUBCOMMANDS` lists these functions, so a new subcommand is one more
entry in that tuple. Heavy modules (torch, uproot, matplotlib)
are imported inside the handlers, which keeps ``bumpnet --help`` fast.

Exit status: 0 on success (for ``scan``: at least one histogram was scanned),
1 when nothing could be done (no histogram scanned, model missing, outputs not
writable), 2 for usage errors. An interruption exits with 130 for SIGINT
(Ctrl-C) and with 143 for SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .scan import ScanReport

logger = logging.getLogger("bumpnet_root.cli")

EXIT_OK = 0
EXIT_NOTHING_DONE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# 128 + SIGTERM, as a shell reports a process ended by SIGTERM.
EXIT_TERMINATED = 143

# Candidates printed in the ranked table unless --table-rows sets another
# number. summary.csv always lists all of them.
DEFAULT_TABLE_ROWS = 50
# Seconds between two saves of the outputs of a running scan, unless
# --checkpoint-interval sets another value.
DEFAULT_CHECKPOINT_INTERVAL = 30.0


def _configure_logging(verbosity: int) -> None:
    """Send log records of level INFO (-v: DEBUG, -q: WARNING) to stderr."""
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Other libraries log at WARNING and above only, even with -v.
    root.setLevel(logging.WARNING)
    logging.getLogger("bumpnet_root").setLevel(level)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {value}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value:g}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value:g}")
    return value


def _model_version(metadata: dict[str, Any]) -> str:
    """Return the version recorded in a model's metadata, or 'unknown'."""
    for key in ("model_version", "version"):
        if metadata.get(key):
            return str(metadata[key])
    if metadata.get("bumpnet_root_version"):
        return f"trained with bumpnet-root {metadata['bumpnet_root_version']}"
    return "unknown"


class _VersionAction(argparse.Action):
    """Print the package version and the default model's version and SHA-256."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="print the package version and the default model's version and "
            "SHA-256 checksum, then exit",
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from .api import DEFAULT_MODEL_PATH, BumpNet
        from .errors import ModelNotFoundError

        print(f"bumpnet-root {__version__}")
        try:
            model = BumpNet.load()
        except ModelNotFoundError as error:
            print(f"default model: not available ({error})")
            print(
                f"  reinstall bumpnet-root to restore {DEFAULT_MODEL_PATH}, or pass "
                "--model PATH to 'bumpnet scan'"
            )
        else:
            print(f"default model: {model.path}")
            print(f"  version: {_model_version(model.metadata)}")
            print(f"  sha256: {model.checksum}")
        parser.exit(EXIT_OK)


def _verbosity_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=1,
        default=0,
        help="log debug messages too",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        help="log warnings and errors only",
    )
    return parent


# ---------------------------------------------------------------- scan


def _add_scan_parser(subparsers, parent: argparse.ArgumentParser) -> None:
    from ._defaults import DEFAULT_THRESHOLD

    parser = subparsers.add_parser(
        "scan",
        parents=[parent],
        help="scan the 1-D histograms in ROOT files for resonances",
        description="Scan every 1-D histogram in the given ROOT files (all "
        "directories, newest cycle of each name) with BumpNet, print the "
        "candidates ranked by Z and write summary.json, summary.csv, "
        "scan_report.json, significance.root and plots into --out.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="ROOT files")
    parser.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="GLOB",
        help="scan only objects whose whole path inside the file matches this "
        "glob (fnmatch, for example 'demo/GMmass*'; '*/name' finds name in any "
        "directory); may be given several times",
    )
    parser.add_argument(
        "--out",
        default="bumpnet-out",
        type=Path,
        metavar="DIR",
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="PATH",
        help="BumpNet model file (default: the model shipped with the package)",
    )
    parser.add_argument(
        "--threshold",
        type=_non_negative_float,
        default=DEFAULT_THRESHOLD,
        metavar="Z",
        help="local significance a candidate must exceed (default: %(default)s)",
    )
    parser.add_argument(
        "--plots",
        type=_non_negative_int,
        default=10,
        metavar="N",
        help="plot the N histograms with the highest Z (default: %(default)s)",
    )
    parser.add_argument(
        "--plot-format",
        choices=("png", "pdf"),
        default="png",
        help="'pdf' writes a PDF next to each PNG (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1024,
        metavar="N",
        help="histograms evaluated together, padded to a few common lengths; "
        "the network runs them 16 at a time (default: %(default)s)",
    )
    parser.add_argument(
        "--table-rows",
        type=_non_negative_int,
        default=DEFAULT_TABLE_ROWS,
        metavar="N",
        help="candidates printed in the ranked table, 0 for all "
        "(default: %(default)s); summary.csv lists all",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the histograms that the outputs in --out already list as "
        "scanned or skipped, when the model's SHA-256 and each file's size and "
        "modification time are unchanged, and scan only the rest",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=_non_negative_float,
        default=DEFAULT_CHECKPOINT_INTERVAL,
        metavar="SECONDS",
        help="minimum time between two saves of the outputs while the scan runs, "
        "0 to save after every batch (default: %(default)s)",
    )
    parser.add_argument(
        "--crosscheck",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="after the scan, fit the histograms of the N highest candidates with "
        "RooFit (the default options of 'bumpnet crosscheck') and add Z_LR and "
        "the fitted background to summary.json and significance.root "
        "(default: %(default)s)",
    )
    from ._scan_cli import add_arguments

    add_arguments(parser, _positive_int)
    parser.set_defaults(handler=_run_scan)


def _format_table(report, threshold: float, max_rows: int) -> list[str]:
    """Return the lines of the ranked candidate table.

    Candidates of histograms outside the training domain follow in a table of
    their own, because their Z maxima are not bumps.
    """
    from .scan import candidate_notes

    ranked = [pair for pair in report.ranked_candidates() if not pair[0].out_of_domain]
    outside = _format_out_of_domain(report, threshold, max_rows)
    if not ranked:
        return [f"no candidate with Z > {threshold:g}", *outside]
    shown = ranked if max_rows == 0 else ranked[:max_rows]
    labels = [f"{result.file}:{result.name}" for result, _ in shown]
    width = max(len("histogram"), *(len(label) for label in labels))
    lines = [
        f"candidates with Z > {threshold:g}, highest first (Z_global: after the "
        "look-elsewhere correction over the histogram's scanned range):",
        f"{'rank':>4}  {'Z':>7}  {'Z_global':>8}  {'mass':>10}  "
        f"{'histogram':<{width}}  scanned range",
    ]
    for rank, ((result, candidate), label) in enumerate(zip(shown, labels), start=1):
        low, high = result.scan_range
        scanned = f"{low:.4g} to {high:.4g}"
        notes = candidate_notes(result, candidate)
        if notes:
            scanned += ": " + "; ".join(notes)
        z_global = "-" if candidate.z_global is None else _z_text(candidate.z_global)
        lines.append(
            f"{rank:>4}  {_z_text(candidate.z):>7}  {z_global:>8}  "
            f"{candidate.mass:>10.4g}  "
            f"{label:<{width}}  {scanned}"
        )
    if len(shown) < len(ranked):
        lines.append(
            f"... {len(ranked) - len(shown)} more in summary.csv "
            "(--table-rows 0 prints all)"
        )
    return lines + outside


def _z_text(z: float) -> str:
    """Return Z with two decimals, or in 3 significant digits when it is huge."""
    return f"{z:.2f}" if abs(z) < 1e5 else f"{z:.3g}"


def _format_out_of_domain(report, threshold: float, max_rows: int) -> list[str]:
    """Return the table of candidates in histograms outside the training domain."""
    pairs = [pair for pair in report.ranked_candidates() if pair[0].out_of_domain]
    if not pairs:
        return []
    shown = pairs if max_rows == 0 else pairs[:max_rows]
    lines = [
        f"{len(pairs)} maxima with Z > {threshold:g} in histograms outside the "
        "training domain, NOT bumps (out_of_domain in summary.json and "
        "summary.csv):",
        f"{'Z':>7}  {'mass':>10}  histogram: why it is out of domain; scanned range",
    ]
    for result, candidate in shown:
        low, high = result.scan_range
        lines.append(
            f"{_z_text(candidate.z):>7}  {candidate.mass:>10.4g}  "
            f"{result.file}:{result.name}: {'; '.join(result.out_of_domain)}; "
            f"scanned {low:.4g} to {high:.4g}"
        )
    if len(shown) < len(pairs):
        lines.append(f"... {len(pairs) - len(shown)} more in summary.csv")
    return lines


def _run_scan(args: argparse.Namespace) -> int:
    if args.jobs > 1 and args.dask_scheduler is None:
        from ._workers import start_worker_server

        # Before the imports below: the workers' imports run meanwhile.
        start_worker_server()
    from tqdm import tqdm

    from ._model_file import read_model_file
    from ._scan_cli import (
        fast_scan_options,
        kept_results,
        look_elsewhere_fields,
        look_elsewhere_lines,
    )
    from .checkpoint import (
        PreviousScan,
        ScanCheckpoint,
        check_output_dir,
        load_previous_scan,
        sort_report,
    )
    from .errors import ModelNotFoundError, WorkerError
    from .interrupts import interrupts_deferred
    from .io import write_outputs
    from .parallel import FastScan, add_lee_to_results, scan_files_fast
    from .plotting import plot_top_results
    from .scan import ScanReport
    from .stream import StreamingCheckpoint, StreamingOutputs

    try:
        model = read_model_file(args.model)
        if args.jobs == 1 or args.dask_scheduler is not None:
            from .inference import load_model_cached

            # Loaded as the scan loads it, so that it fails here if it fails.
            # Worker processes load it themselves, and this process needs no
            # torch then (see _model_file).
            load_model_cached(model.path)
    except ModelNotFoundError as error:
        logger.error("%s", error)
        return EXIT_NOTHING_DONE
    model_info = {
        "path": str(model.path),
        "sha256": model.checksum,
        "version": _model_version(model.metadata),
    }
    try:
        check_output_dir(args.out)
    except OSError as error:
        logger.error(
            "cannot write into the output directory %s: %s; choose a writable --out",
            args.out,
            error,
        )
        return EXIT_NOTHING_DONE

    previous = PreviousScan()
    if args.resume:
        previous = load_previous_scan(
            args.out, args.files, args.select, model_info["sha256"], args.threshold
        )
    report = ScanReport(results=previous.results, skipped=previous.skipped)
    options = fast_scan_options(args)
    fast = FastScan(report)
    if previous.results and options["lee_toys"]:
        report.results, fast.expected_false_candidates = add_lee_to_results(
            report.results, model.path, options["lee_toys"], args.threshold
        )
    # Without --resume and --crosscheck, which need every result in memory,
    # the outputs are written while the scan runs, and only the results to
    # plot keep their arrays, so the memory stays bounded.
    outputs = None
    if not args.resume and not args.crosscheck:
        try:
            # With worker processes, a process of its own writes
            # significance.root, so this one imports no ROOT.
            outputs = StreamingOutputs(
                args.out,
                separate_process=args.jobs > 1 and args.dask_scheduler is None,
            )
        except OSError as error:
            logger.error(
                "cannot write into the output directory %s: %s; choose a "
                "writable --out",
                args.out,
                error,
            )
            return EXIT_NOTHING_DONE
        checkpoint = StreamingCheckpoint(
            outputs,
            report,
            args.threshold,
            model_info,
            args.checkpoint_interval,
            lambda: look_elsewhere_fields(fast, report, args.threshold),
        )
    else:
        checkpoint = ScanCheckpoint(
            report,
            args.out,
            args.files,
            args.threshold,
            model_info,
            args.checkpoint_interval,
        )
    interrupted: bool | KeyboardInterrupt = False
    workers_failed = False
    with tqdm(total=len(args.files), unit="file", disable=None) as bar:
        try:
            scan_files_fast(
                args.files,
                model.path,
                select=args.select,
                threshold=args.threshold,
                on_file_done=lambda _path: bar.update(),
                done=previous.done,
                on_batch_done=checkpoint.save_if_due,
                outputs=outputs,
                keep_results=None if outputs is None else kept_results(args),
                scan=fast,
                **options,
            )
        except KeyboardInterrupt as interrupt:
            interrupted = interrupt
            logger.warning(
                "interrupted; writing the %d histograms scanned so far, which "
                "--resume keeps",
                len(report.results),
            )
        except ModelNotFoundError as error:
            # Raised by worker processes, which load the model themselves.
            logger.error("%s", error)
            if outputs is not None:
                outputs.abort()
            return EXIT_NOTHING_DONE
        except WorkerError as error:
            interrupted = workers_failed = True
            logger.error(
                "%s; writing the %d histograms scanned so far, which --resume keeps",
                error,
                len(report.results),
            )
        except Exception:
            # An error of the program itself: the traceback follows, and the
            # previous outputs stay in place.
            if outputs is not None:
                outputs.abort()
            raise

    crosschecks = None
    if args.crosscheck and not interrupted:
        crosschecks = _crosscheck_top_candidates(report, args)
        if crosschecks is not None and crosschecks.interrupt is not None:
            interrupted = crosschecks.interrupt
    lee_fields = look_elsewhere_fields(fast, report, args.threshold)
    try:
        # A signal during the write waits until every output file is complete.
        with interrupts_deferred():
            if outputs is not None:
                outputs.finish(report, args.threshold, model_info, lee_fields)
            else:
                sort_report(report, args.files)
                write_outputs(
                    report,
                    args.out,
                    args.threshold,
                    model_info,
                    **_extra_outputs(crosschecks),
                    report_fields=lee_fields,
                )
        formats = ("png", "pdf") if args.plot_format == "pdf" else ("png",)
        if interrupted:
            logger.warning(
                "no plots for an interrupted scan; run the same command with "
                "--resume to finish the scan and draw them"
            )
        else:
            plot_top_results(
                report, args.out / "plots", args.threshold, args.plots, formats
            )
        if crosschecks is not None:
            _write_crosscheck_plots(crosschecks, args.out, formats)
    except OSError as error:
        logger.error(
            "failed to write the outputs into %s: %s; choose a writable --out",
            args.out,
            error,
        )
        return EXIT_NOTHING_DONE

    for line in _format_table(report, args.threshold, args.table_rows):
        print(line)
    if crosschecks is not None:
        _print_crosscheck_table(crosschecks)
    for line in look_elsewhere_lines(lee_fields):
        print(line)
    print(f"{_closing_line(report)}; outputs in {args.out}")
    if workers_failed:
        return EXIT_NOTHING_DONE
    if interrupted:
        return _interrupted_status(interrupted)
    if not report.results:
        _log_nothing_scanned(report, args.out)
        return EXIT_NOTHING_DONE
    return EXIT_OK


def _closing_line(report: ScanReport) -> str:
    """Return what a scan read: histograms, files, and objects skipped or failed."""
    files = len(report.files)
    unreadable = sum(1 for failure in report.failed if not failure.name)
    scanned = _count(len(report.results), "histogram")
    if unreadable:
        read = f"scanned {scanned} in {files - unreadable} of {_count(files, 'file')}"
    else:
        read = f"scanned {scanned} in {_count(files, 'file')}"
    return "; ".join([read, *_problem_counts(report)])


def _problem_counts(report: ScanReport) -> list[str]:
    """Return the counts of unreadable or empty files and of skipped or failed objects.

    Files that could not be read count apart from the objects inside files.
    """
    unreadable = sum(1 for failure in report.failed if not failure.name)
    # A file without objects is recorded as a skipped entry without a name.
    empty = sum(1 for entry in report.skipped if not entry.name)
    counts = []
    if unreadable:
        counts.append(f"{_count(unreadable, 'file')} could not be read")
    if empty:
        counts.append(f"{_count(empty, 'file')} without objects")
    skipped = len(report.skipped) - empty
    failed = len(report.failed) - unreadable
    counts.append(f"{_count(skipped, 'object')} skipped, {failed} failed")
    return counts


def _count(number: int, noun: str) -> str:
    """Return "1 histogram" or "N histograms"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _log_nothing_scanned(report: ScanReport, out: Path) -> None:
    """Log why a scan produced no result: failures, skips or an empty selection."""
    where = out / "scan_report.json"
    if report.failed and not report.skipped:
        logger.error(
            "no histogram was scanned: %d %s failed (errors above and in %s)",
            len(report.failed),
            "object or file" if len(report.failed) == 1 else "objects or files",
            where,
        )
    elif report.skipped or report.failed:
        logger.error(
            "no histogram was scanned: %s; the reasons are in %s",
            "; ".join(_problem_counts(report)),
            where,
        )
    else:
        logger.error(
            "no histogram was scanned: no object matched; check the file paths "
            "and --select patterns, which match the whole path inside the file "
            "('dir/name'; '*/name' matches name in any directory)"
        )


# ---------------------------------------------------------------- train


def _add_train_parser(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "train",
        parents=[parent],
        help="train a BumpNet model on synthetic spectra",
        description="Train a model, write DIR/model.pt and DIR/model_card.json "
        "and print the validation figures. Unset options take the defaults of "
        "bumpnet_root.train.TrainingConfig.",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory for model.pt, model_card.json and checkpoints/",
    )
    parser.add_argument(
        "--steps", type=_positive_int, metavar="N", help="optimiser steps"
    )
    parser.add_argument(
        "--stop-after",
        type=_positive_int,
        metavar="N",
        help="stop after N steps, keeping the learning-rate schedule of --steps",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed of the weights and the data"
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, metavar="N", help="histograms per step"
    )
    parser.add_argument(
        "--threads", type=_positive_int, metavar="N", help="torch CPU threads"
    )
    parser.add_argument(
        "--validation-histograms",
        type=_positive_int,
        metavar="N",
        help="signal histograms generated for the validation figures",
    )
    parser.add_argument(
        "--background-only-histograms",
        type=_positive_int,
        metavar="N",
        help="background-only histograms generated for the validation figures",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in DIR/checkpoints",
    )
    parser.set_defaults(handler=_run_train)


def _print_figures(figures: dict[str, Any], reference: dict[str, Any] | None) -> None:
    width = max(len(key) for key in figures)
    if reference:
        print(f"{'figure':<{width}}  {'this run':>12}  {'model card':>12}")
    for key, value in figures.items():
        line = f"{key:<{width}}  {value!s:>12}"
        if reference:
            line += f"  {reference.get(key, '-')!s:>12}"
        print(line)


def _run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .train import TrainingConfig, train

    overrides = {
        key: value
        for key, value in {
            "steps": args.steps,
            "stop_after": args.stop_after,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "validation_histograms": args.validation_histograms,
            "background_only_histograms": args.background_only_histograms,
        }.items()
        if value is not None
    }
    config = dataclasses.replace(TrainingConfig(), **overrides)
    total = min(config.steps, config.stop_after or config.steps)
    with tqdm(total=total, unit="step", disable=None) as bar:

        def progress(step: int, metrics: dict[str, float]) -> None:
            bar.update(step + 1 - bar.n)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", refresh=False)

        card = train(config, args.out, progress=progress, resume=args.resume)
    print(f"wrote {args.out / 'model.pt'} and {args.out / 'model_card.json'}")
    print("validation figures:")
    _print_figures(card["validation"], None)
    return EXIT_OK


# ---------------------------------------------------------------- validate


def _add_validate_parser(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "validate",
        parents=[parent],
        help="compute a model's validation figures on fresh synthetic spectra",
        description="Compare a model's Z with the likelihood ratio computed with "
        "the true background on freshly generated spectra, and print the figures "
        "next to those stored in the model card.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="model file")
    parser.add_argument(
        "--signal",
        type=_positive_int,
        default=2000,
        metavar="N",
        help="histograms with one injected signal (default: %(default)s)",
    )
    parser.add_argument(
        "--background-only",
        type=_positive_int,
        default=5000,
        metavar="N",
        help="histograms without signal (default: %(default)s)",
    )
    parser.set_defaults(handler=_run_validate)


def _run_validate(args: argparse.Namespace) -> int:
    from .errors import ModelNotFoundError
    from .export import load_torchscript
    from .validation import validate_model

    try:
        _, metadata = load_torchscript(args.model)
    except ModelNotFoundError as error:
        logger.error("%s", error)
        return EXIT_NOTHING_DONE
    figures = validate_model(args.model, args.signal, args.background_only)
    _print_figures(figures, metadata.get("validation"))
    return EXIT_OK


# ---------------------------------------------------------------- crosscheck


def _add_crosscheck_parser(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "crosscheck",
        parents=[parent],
        help="compare BumpNet's Z with a RooFit likelihood-ratio fit",
        description="For each selected 1-D histogram, fit a background function "
        "with RooFit over the bins that BumpNet scans, compute the "
        "likelihood-ratio local significance Z_LR of a Gaussian signal at every "
        "bin centre (or at --mass), run BumpNet on the same histogram and print "
        "both maxima. Writes summary.json, summary.csv, scan_report.json, "
        "significance.root (BumpNet's Z, <key>_z_lr and <key>_background_fit) "
        "and plots into --out. A failed fit is recorded with its Minuit2 status "
        "and does not stop the run. RooFit prints nothing unless -v is given.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="ROOT files")
    parser.add_argument(
        "--select",
        action="append",
        required=True,
        metavar="GLOB",
        help="cross-check only objects whose path inside the file matches this "
        "glob (fnmatch, for example 'demo/massZto2muon'); may be given several "
        "times",
    )
    parser.add_argument(
        "--mass",
        type=_finite_float,
        metavar="M",
        help="fit the signal only at mass M, in the unit of the x axis "
        "(default: at every bin centre of the scanned range)",
    )
    parser.add_argument(
        "--out",
        default="bumpnet-crosscheck",
        type=Path,
        metavar="DIR",
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--families",
        nargs="+",
        metavar="NAME",
        help="background families (dijet, power_law, expo_poly, bernstein) or "
        "single functions such as dijet4; the best is chosen by F-test and AIC "
        "(default: dijet power_law expo_poly)",
    )
    parser.add_argument(
        "--sqrt-s",
        type=_positive_float,
        metavar="GEV",
        help="centre-of-mass energy in the unit of the x axis, used only by the "
        "dijet family (default: 13000, for 13 TeV and masses in GeV)",
    )
    parser.add_argument(
        "--resolution",
        type=_positive_float,
        metavar="GEV",
        help="sigma of the Gaussian signal in the unit of the x axis (default: "
        "the width of the bin that contains the mass, as in BumpNet's label)",
    )
    parser.add_argument(
        "--limits",
        action="store_true",
        help="also compute the 95%% CL upper limit on the signal entries per "
        "mass, from the profile likelihood and from BumpNet's Z (3.5 to 5 times "
        "slower)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="PATH",
        help="BumpNet model file (default: the model shipped with the package)",
    )
    parser.set_defaults(handler=_run_crosscheck)


def _crosscheck_options(args: argparse.Namespace, **overrides: Any):
    """Return the CrossCheckOptions of the command line, or raise ValueError."""
    from .crosscheck.runner import CrossCheckOptions

    given = {
        "mass": getattr(args, "mass", None),
        "families": getattr(args, "families", None),
        "sqrt_s": getattr(args, "sqrt_s", None),
        "resolution": getattr(args, "resolution", None),
        "limits": getattr(args, "limits", False),
        **overrides,
    }
    options = {key: value for key, value in given.items() if value is not None}
    return CrossCheckOptions(verbose=args.verbosity > 0, **options)


def _crosscheck_with_progress(report, options, top: int | None):
    """Cross-check the histograms chosen by select_results, with a progress bar."""
    from tqdm import tqdm

    from .crosscheck.runner import crosscheck_results, select_results

    selected = select_results(report, top)
    with tqdm(total=len(selected), unit="fit", disable=None) as bar:
        return crosscheck_results(
            selected, options, on_histogram_done=lambda _scan: bar.update()
        )


def _crosscheck_top_candidates(report, args: argparse.Namespace):
    """Run ``scan --crosscheck N``; return None when PyROOT is missing."""
    from .errors import MissingDependencyError

    try:
        return _crosscheck_with_progress(
            report, _crosscheck_options(args), args.crosscheck
        )
    except MissingDependencyError as error:
        logger.error("%s; the scan outputs are written without the cross-check", error)
        return None


def _extra_outputs(crosschecks) -> dict[str, Any]:
    """Return the keyword arguments that add the cross-checks to write_outputs."""
    if crosschecks is None:
        return {}
    return {
        "extra_fields": crosschecks.fields,
        "extra_histograms": crosschecks.histograms,
    }


def _write_crosscheck_plots(crosschecks, out_dir: Path, formats) -> None:
    from .crosscheck.outputs import write_plots

    write_plots(crosschecks.checks, out_dir / "plots" / "crosscheck", formats)


def _print_crosscheck_table(crosschecks) -> None:
    from .crosscheck.outputs import format_table

    print("RooFit cross-check, highest BumpNet Z_max first:")
    for line in format_table(crosschecks.checks):
        print(line)


def _run_crosscheck(args: argparse.Namespace) -> int:
    from .api import BumpNet
    from .crosscheck._roofit import load_root
    from .errors import MissingDependencyError, ModelNotFoundError
    from .interrupts import interrupts_deferred
    from .io import write_outputs
    from .scan import DEFAULT_THRESHOLD, ScanReport, scan_files

    try:
        options = _crosscheck_options(args)
    except ValueError as error:
        logger.error("invalid cross-check option: %s", error)
        return EXIT_USAGE
    try:
        load_root()
        model = BumpNet.load(args.model)
    except (MissingDependencyError, ModelNotFoundError) as error:
        logger.error("%s", error)
        return EXIT_NOTHING_DONE
    model_info = {
        "path": str(model.path),
        "sha256": model.checksum,
        "version": _model_version(model.metadata),
    }

    report = ScanReport()
    try:
        scan_files(args.files, model, select=args.select, report=report)
    except KeyboardInterrupt as interrupt:
        logger.warning("interrupted during the BumpNet scan; nothing is written")
        return _interrupted_status(interrupt)
    crosschecks = _crosscheck_with_progress(report, options, None)
    try:
        # A signal during the write waits until every output file is complete.
        with interrupts_deferred():
            write_outputs(
                report,
                args.out,
                DEFAULT_THRESHOLD,
                model_info,
                **_extra_outputs(crosschecks),
            )
        _write_crosscheck_plots(crosschecks, args.out, ("png",))
    except OSError as error:
        logger.error(
            "failed to write the outputs into %s: %s; choose a writable --out",
            args.out,
            error,
        )
        return EXIT_NOTHING_DONE

    _print_crosscheck_table(crosschecks)
    print(
        f"cross-checked {_count(len(crosschecks.checks), 'histogram')} "
        f"({len(crosschecks.failed)} fits failed) in "
        f"{_count(len(report.files), 'file')} ({len(report.skipped)} skipped, "
        f"{len(report.failed)} failed); outputs in {args.out}"
    )
    if crosschecks.interrupt is not None:
        return _interrupted_status(crosschecks.interrupt)
    if not report.results:
        _log_nothing_scanned(report, args.out)
        return EXIT_NOTHING_DONE
    return EXIT_OK


# ---------------------------------------------------------------- build-histograms


def _add_build_histograms_parser(subparsers, parent: argparse.ArgumentParser) -> None:
    from .events.cli import add_build_histograms_arguments, run_build_histograms

    parser = subparsers.add_parser(
        "build-histograms",
        parents=[parent],
        help="build invariant-mass histograms of object combinations from events",
        description="Split events into final states by object multiplicity, fill "
        "one invariant-mass histogram per combination of two or more objects with "
        "resolution-sized bins, and write those that pass the acceptance to a "
        "ROOT file that 'bumpnet scan' reads. See docs/events.md.",
    )
    add_build_histograms_arguments(parser)
    parser.set_defaults(handler=run_build_histograms)


SubcommandAdder = Callable[[Any, argparse.ArgumentParser], None]
SUBCOMMANDS: tuple[SubcommandAdder, ...] = (
    _add_scan_parser,
    _add_train_parser,
    _add_validate_parser,
    _add_crosscheck_parser,
    _add_build_histograms_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``bumpnet`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="bumpnet",
        description="Search invariant-mass histograms for resonances with BumpNet.",
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = _verbosity_parent()
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(subparsers, parent)
    return parser


def _interrupted_status(interrupt: object) -> int:
    """Return the exit status for SIGTERM (143) or any other interruption (130)."""
    from .interrupts import Terminated

    return EXIT_TERMINATED if isinstance(interrupt, Terminated) else EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    SIGTERM raises :class:`bumpnet_root.interrupts.Terminated`, a
    KeyboardInterrupt, so every subcommand stops as on Ctrl-C (``scan`` writes
    the results so far).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbosity)
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .interrupts import sigterm_raises_terminated

    # Log lines go through tqdm.write, so they do not break a progress bar.
    with logging_redirect_tqdm(), sigterm_raises_terminated():
        try:
            return int(args.handler(args))
        except KeyboardInterrupt as interrupt:
            logger.error("interrupted")
            return _interrupted_status(interrupt)


if __name__ == "__main__":
    sys.exit(main())
