"""Python side of the ROOT macros in ``macros/``.

The macros call these functions through TPython in ROOT builds that have it
(``libROOTTPython``, as in conda-forge and LCG). They work from PyROOT as well:

>>> from bumpnet_root import macro_bridge
>>> z = macro_bridge.scan_th1(th1, outdir="out")  # ROOT TH1D of Z per bin

With an output directory, the scans write the files of ``bumpnet scan``
(``summary.json``, ``summary.csv``, ``scan_report.json`` and
``significance.root``) but no plots. The ``*_any`` functions wrap a result in
a ``std::any`` for ``TPython::Exec`` and hand the ROOT objects in it over to C++.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._root import import_root
from .adapters import to_hist1d, to_th1d
from .api import BumpNet
from .errors import InvalidHistogramError
from .histogram import Hist1D
from .scan import DEFAULT_THRESHOLD, ScanReport, ScanResult, find_candidates

logger = logging.getLogger(__name__)

MODEL_ENV = "BUMPNET_MODEL"

_models: dict[str, BumpNet] = {}


def resolve_model(model: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the model path: ``model``, else ``$BUMPNET_MODEL``, else None.

    None means the default model shipped with the package.
    """
    if model:
        return Path(model)
    from_environment = os.environ.get(MODEL_ENV)
    return Path(from_environment) if from_environment else None


def load_model(model: str | os.PathLike[str] | None = None) -> BumpNet:
    """Load the model chosen by :func:`resolve_model`, once per path and process."""
    path = resolve_model(model)
    cache_key = "" if path is None else str(path.resolve())
    if cache_key not in _models:
        _models[cache_key] = BumpNet.load(path)
    return _models[cache_key]


def _model_info(net: BumpNet) -> dict[str, Any]:
    """Return the model entry of ``scan_report.json`` as ``bumpnet scan`` writes it."""
    from .cli import _model_version

    return {
        "path": str(net.path),
        "sha256": net.checksum,
        "version": _model_version(net.metadata),
    }


def _x_title(th1: Any) -> str:
    try:
        return str(th1.GetXaxis().GetTitle())
    except AttributeError:
        return ""


def _z_th1d(histogram: Hist1D, z: Any, name: str) -> Any:
    """Return a TH1D of Z with the binning of ``histogram``, owned by Python."""
    return to_th1d(
        histogram,
        values=z,
        name=name,
        title=f"BumpNet local significance of {histogram.title or histogram.name}",
    )


def scan_th1(
    th1: Any,
    outdir: str | os.PathLike[str] = "",
    model: str | os.PathLike[str] | None = None,
    source: str = "",
    key: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Any:
    """Scan one histogram and return a ROOT ``TH1D`` of Z named ``<key>_z``.

    ``th1`` is any histogram that :func:`~bumpnet_root.adapters.to_hist1d`
    accepts. ``key`` (default: the histogram's name) names it in the outputs,
    and ``source`` is the ``file`` entry of ``summary.json``. With ``outdir``,
    the outputs of ``bumpnet scan`` are written there. Raises
    InvalidHistogramError when the histogram cannot be scanned.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        histogram = to_hist1d(th1, name=key)
    for warning in caught:
        logger.warning("%s", warning.message)
    net = load_model(model)
    prediction = net.evaluate([histogram], strict=True)[0]
    name = histogram.name or "h"
    if outdir:
        from .io import write_outputs

        result = ScanResult(
            file=source,
            name=name,
            key=name,
            prediction=prediction,
            candidates=find_candidates(prediction.z, histogram.centers, threshold),
            x_title=_x_title(th1),
            notes=prediction.domain.notes,
            warnings=tuple(str(warning.message) for warning in caught),
        )
        report = ScanReport(files=[source], results=[result])
        write_outputs(report, Path(outdir), threshold, _model_info(net))
    return _z_th1d(histogram, prediction.z, f"{name}_z")


def scan_file(
    path: str | os.PathLike[str],
    select: str | Sequence[str] = (),
    outdir: str | os.PathLike[str] = "",
    model: str | os.PathLike[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Any]:
    """Scan the 1-D histograms of a ROOT file as ``bumpnet scan`` does.

    ``select`` contains glob patterns on the path inside the file. Returns one
    ROOT ``TH1D`` of Z per scanned histogram, named after its key in
    ``significance.root`` (``demo/GMmass``), in scan order. With ``outdir``,
    the outputs of ``bumpnet scan`` are written there. Raises
    InvalidHistogramError when no histogram was scanned.
    """
    from .io import write_outputs
    from .scan import scan_files

    patterns = [select] if isinstance(select, str) else list(select)
    patterns = [pattern for pattern in patterns if pattern]
    net = load_model(model)
    report = scan_files([str(path)], net, select=patterns, threshold=threshold)
    if outdir:
        write_outputs(report, Path(outdir), threshold, _model_info(net))
    if not report.results:
        reasons = [f"{s.name}: {s.reason}" for s in report.skipped]
        reasons += [f"{f.name or f.file}: {f.error}" for f in report.failed]
        raise InvalidHistogramError(
            f"no histogram in {str(path)!r} matching {patterns or ['*']} was "
            "scanned; "
            + ("; ".join(reasons) if reasons else "no 1-D histogram matched")
        )
    return [
        _z_th1d(result.histogram, result.prediction.z, result.key)
        for result in report.results
    ]


def crosscheck_th1(th1: Any, mass: float, **options: Any) -> float:
    """Return the RooFit likelihood-ratio significance Z_LR of a signal at ``mass``.

    ``options`` go to :func:`bumpnet_root.crosscheck.crosscheck`. Raises
    FitFailedError when a fit fails.
    """
    from .crosscheck import crosscheck

    result = crosscheck(th1, mass=float(mass), **options)
    return float(result.z_lr[0])


def release_to_cpp(obj: Any) -> Any:
    """Hand the ownership of a PyROOT object to C++ and return the object."""
    root = import_root("release_to_cpp")
    root.SetOwnership(obj, False)
    return obj


def to_tlist(objects: Sequence[Any]) -> Any:
    """Return a ``TList`` that owns ``objects``. C++ owns the list."""
    root = import_root("to_tlist")
    tlist = root.TList()
    tlist.SetOwner(True)
    for obj in objects:
        tlist.Add(release_to_cpp(obj))
    return release_to_cpp(tlist)


def _any_of_pointer(obj: Any, class_name: str) -> Any:
    root = import_root("the ROOT macros")
    pointer_type = f"{class_name}*"
    return root.std.make_any[pointer_type, pointer_type](release_to_cpp(obj))


def scan_th1_any(*args: Any, **kwargs: Any) -> Any:
    """Call :func:`scan_th1` and return its TH1D in a ``std::any``, owned by C++."""
    return _any_of_pointer(scan_th1(*args, **kwargs), "TH1D")


def scan_file_any(*args: Any, **kwargs: Any) -> Any:
    """Call :func:`scan_file` and return a ``TList`` of its TH1Ds in a ``std::any``."""
    return _any_of_pointer(to_tlist(scan_file(*args, **kwargs)), "TList")


def crosscheck_th1_any(*args: Any, **kwargs: Any) -> Any:
    """Call :func:`crosscheck_th1` and return Z_LR in a ``std::any``."""
    root = import_root("the ROOT macros")
    return root.std.make_any["double", "double"](crosscheck_th1(*args, **kwargs))
