"""Arguments and handler of ``bumpnet build-histograms``.

Only argparse is imported at module level, so that ``bumpnet --help`` stays
fast; the build modules are imported by the handler.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..cli import _positive_int

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NOTHING_DONE = 1

FAMILY_NAMES = ("e", "m", "g", "b", "j")
# Fixed mass (GeV) of a --collection without a mass branch, per family.
DEFAULT_MASS = {"e": 0.000511, "m": 0.105658, "g": 0.0, "b": 0.0, "j": 0.0}


def _family_value(text: str) -> tuple[str, float]:
    """Parse FAMILY=NUMBER, such as ``m=20``."""
    family, sep, number = text.partition("=")
    if not sep or family not in FAMILY_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected FAMILY=VALUE with FAMILY one of {', '.join(FAMILY_NAMES)}, "
            f"got {text!r}"
        )
    try:
        return family, float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number after '=', got {text!r}"
        ) from None


def _name_expression(text: str) -> tuple[str, str]:
    """Parse NAME=EXPRESSION for --define."""
    name, sep, expression = text.partition("=")
    if not sep or not name.strip() or not expression.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=EXPRESSION, got {text!r}")
    return name.strip(), expression.strip()


def _collection(text: str):
    """Parse PREFIX=FAMILY[:MASS], such as ``Muon_=m`` or ``Tau_=j:1.777``."""
    from .nanoaod import Collection

    prefix, sep, rest = text.partition("=")
    family, _, mass_text = rest.partition(":")
    if not sep or not prefix or family not in FAMILY_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected PREFIX=FAMILY[:MASS] with FAMILY one of "
            f"{', '.join(FAMILY_NAMES)}, got {text!r}"
        )
    try:
        mass = float(mass_text) if mass_text else DEFAULT_MASS[family]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a mass in GeV after ':', got {text!r}"
        ) from None
    return Collection(prefix, family, mass=mass)


def _btag(text: str) -> tuple[str, float]:
    """Parse BRANCH=MIN for --btag, such as ``Jet_btagDeepB=0.4184``."""
    branch, sep, number = text.partition("=")
    try:
        if not (sep and branch):
            raise ValueError
        return branch, float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected BRANCH=MIN with a number, got {text!r}"
        ) from None


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the inputs, outputs, input format and weighting."""
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="Dark Machines CSV files (.csv, .csv.gz) or ROOT files with a TTree "
        "or RNTuple of NanoAOD-style collections",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="FILE.root", help="output ROOT file"
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE.json",
        help="JSON report of kept and dropped histograms (default: --out with "
        "the suffix .json)",
    )
    parser.add_argument(
        "--format",
        choices=("darkmachines", "nanoaod"),
        help="input format (default: nanoaod for .root files, darkmachines otherwise)",
    )
    parser.add_argument(
        "--unit",
        choices=("MeV", "GeV", "TeV"),
        help="unit of E, pT and mass in the input (default: MeV for darkmachines, "
        "GeV for nanoaod)",
    )
    parser.add_argument(
        "--weighted",
        action="store_true",
        help="fill event weights (CSV: the weight column; ROOT: --weight)",
    )


def _add_selection_arguments(group) -> None:
    """Add the object selection and the acceptance."""
    group.add_argument(
        "--min-events",
        type=_positive_int,
        default=100,
        metavar="N",
        help="keep histograms with at least N entries from the maximum on "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--min-bins",
        type=_positive_int,
        default=31,
        metavar="N",
        help="keep histograms with at least N bins from the maximum to the last "
        "filled bin (default: %(default)s, that is more than 30)",
    )
    group.add_argument(
        "--max-objects",
        type=_positive_int,
        default=8,
        metavar="N",
        help="skip events with more than N selected objects (default: %(default)s)",
    )
    group.add_argument(
        "--pt-min",
        type=_family_value,
        action="append",
        default=[],
        metavar="FAMILY=GEV",
        help="lowest object pT, such as m=20; may be given for each of e, m, g, "
        "b, j (defaults: e, m, g 25 GeV; b, j 30 GeV)",
    )
    group.add_argument(
        "--eta-max",
        type=_family_value,
        action="append",
        default=[],
        metavar="FAMILY=VALUE",
        help="largest object |eta|, such as j=2.5 (defaults: e, m, b 2.5; g "
        "2.37; j 2.8)",
    )
    group.add_argument(
        "--split-charges",
        action="store_true",
        help="count e-/e+ and m-/m+ as different types (final states such as 1m-1m+)",
    )


def _add_root_arguments(group) -> None:
    """Add the options of ROOT inputs and the RDataFrame engine."""
    group.add_argument(
        "--engine",
        choices=("rdataframe", "numpy"),
        default="rdataframe",
        help="engine for ROOT inputs: RDataFrame, or uproot with numpy (no "
        "--define or --filter); CSV inputs always use numpy (default: %(default)s)",
    )
    group.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="RDataFrame threads (ROOT implicit multi-threading)",
    )
    group.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run RDataFrame on the Dask cluster with this scheduler address, "
        "such as tcp://127.0.0.1:8786",
    )
    group.add_argument(
        "--npartitions",
        type=_positive_int,
        metavar="N",
        help="tasks of a distributed run (default: chosen by ROOT)",
    )
    group.add_argument("--tree", metavar="NAME", help="TTree or RNTuple name")
    group.add_argument(
        "--collection",
        type=_collection,
        action="append",
        default=[],
        metavar="PREFIX=FAMILY[:MASS]",
        help="a collection such as Muon_=m, with a fixed mass in GeV "
        "when it has no mass branch; replaces the NanoAOD defaults Electron_, "
        "Muon_, Photon_ and Jet_",
    )
    group.add_argument(
        "--btag",
        type=_btag,
        metavar="BRANCH=MIN",
        help="b-tag score branch of the jet collection and the score "
        "from which a jet is a b-jet, such as Jet_btagDeepB=0.4184",
    )
    group.add_argument(
        "--define",
        type=_name_expression,
        action="append",
        default=[],
        metavar="NAME=EXPR",
        help="define a column with a C++ expression (RDataFrame), "
        "such as 'Muon_pt=ROOT::RVecD{pt1, pt2}'",
    )
    group.add_argument(
        "--filter",
        metavar="EXPR",
        help="keep events where this C++ expression is true",
    )
    group.add_argument(
        "--weight",
        metavar="EXPR",
        help="branch or C++ expression of the event weight",
    )


def add_build_histograms_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``bumpnet build-histograms`` to ``parser``."""
    _add_input_arguments(parser)
    _add_selection_arguments(parser.add_argument_group("selection and acceptance"))
    _add_root_arguments(parser.add_argument_group("ROOT inputs"))


def _config(args: argparse.Namespace):
    from .config import BuildConfig

    return BuildConfig(
        pt_min=dict(args.pt_min),
        eta_max=dict(args.eta_max),
        fold_charges=not args.split_charges,
        max_objects=args.max_objects,
        min_events=args.min_events,
        min_bins=args.min_bins,
        weighted=args.weighted,
    )


def _collections(args: argparse.Namespace):
    from dataclasses import replace

    from .nanoaod import NANOAOD_COLLECTIONS

    collections = tuple(args.collection) or NANOAOD_COLLECTIONS
    if args.btag is None:
        return collections
    branch, threshold = args.btag
    matched = [
        c for c in collections if c.family == "j" and branch.startswith(c.prefix)
    ]
    if not matched:
        raise ValueError(
            f"--btag {branch}: no jet collection has a prefix that starts this "
            "branch name; name the collection with --collection PREFIX=j"
        )
    return tuple(
        replace(c, btag=branch[len(c.prefix) :], btag_min=threshold)
        if c in matched
        else c
        for c in collections
    )


def _build(args: argparse.Namespace, config):
    from ..errors import MissingDependencyError
    from .build import build_from_table, build_from_tree, detect_format
    from .darkmachines import read_darkmachines
    from .nanoaod import TreeSource

    formats = {args.format or detect_format(path) for path in args.inputs}
    if len(formats) > 1:
        raise ValueError(
            "the inputs mix CSV and ROOT files; build them separately or pass --format"
        )
    if formats == {"darkmachines"}:
        root_only = [
            name
            for name, value in (
                ("--threads", args.threads),
                ("--dask-scheduler", args.dask_scheduler),
                ("--define", args.define),
                ("--filter", args.filter),
                ("--collection", args.collection),
                ("--tree", args.tree),
            )
            if value
        ]
        if root_only:
            raise ValueError(
                f"{', '.join(root_only)} apply to ROOT inputs only; Dark Machines "
                "CSV files are built with the numpy engine"
            )
        table = read_darkmachines(args.inputs, energy_unit=args.unit or "MeV")
        return build_from_table(table, config, inputs=args.inputs)
    source = TreeSource(
        files=tuple(args.inputs),
        tree=args.tree,
        collections=_collections(args),
        defines=dict(args.define),
        filter=args.filter,
        weight=args.weight,
        energy_unit=args.unit or "GeV",
    )
    if args.dask_scheduler is None:
        return build_from_tree(
            source,
            config,
            engine=args.engine,
            threads=args.threads,
            npartitions=args.npartitions,
        )
    try:
        from distributed import Client
    except ImportError as error:
        raise MissingDependencyError(
            "--dask-scheduler needs the 'distributed' package; install it with "
            "pip install 'bumpnet-root[events]'"
        ) from error
    with Client(args.dask_scheduler) as client:
        return build_from_tree(
            source,
            config,
            engine=args.engine,
            client=client,
            npartitions=args.npartitions,
        )


def run_build_histograms(args: argparse.Namespace) -> int:
    """Build, write the ROOT file and the JSON report, and return the exit status."""
    from ..errors import BumpNetError
    from .output import report_path, write_report, write_root

    try:
        config = _config(args)
        result = _build(args, config)
    except (BumpNetError, ValueError, OSError) as error:
        logger.error("build-histograms failed: %s", error)
        return EXIT_NOTHING_DONE
    report = args.report or report_path(args.out)
    try:
        write_root(result, args.out)
        write_report(result, report)
    except OSError as error:
        logger.error(
            "failed to write %s or %s: %s; choose a writable --out",
            args.out,
            report,
            error,
        )
        return EXIT_NOTHING_DONE
    for dropped in result.dropped_final_states:
        logger.debug(
            "final state %s (%d events) dropped: %s",
            dropped.final_state,
            dropped.events,
            dropped.reason,
        )
    for dropped in result.dropped_histograms:
        logger.debug("histogram %s dropped: %s", dropped.path, dropped.reason)
    if result.dropped_final_states:
        logger.info(
            "%d final states with %d events got no histograms (fewer than 2 "
            "objects, fewer than %d events or more than %d objects); -v lists them",
            len(result.dropped_final_states),
            sum(d.events for d in result.dropped_final_states),
            config.min_events,
            config.max_objects,
        )
    rate = result.n_filled / result.seconds if result.seconds > 0 else float("inf")
    sys.stdout.write(
        f"{result.n_events} events, {len(result.events_per_final_state)} final states; "
        f"kept {len(result.histograms)} of {result.n_filled} histograms "
        f"({len(result.dropped_histograms)} dropped by the acceptance, see the report) "
        f"in {result.seconds:.2f} s ({rate:.3g} histograms/s, {result.engine} engine)\n"
    )
    sys.stdout.write(f"wrote {args.out} and {report}\n")
    if not result.histograms:
        logger.error(
            "no histogram passed the acceptance (min-events %d, min-bins %d); the "
            "reasons are in %s",
            config.min_events,
            config.min_bins,
            report,
        )
        return EXIT_NOTHING_DONE
    return EXIT_OK
