"""Scanning of ROOT files: find the 1-D histograms, run BumpNet, list candidates.

:func:`scan_files` opens each file once with uproot, walks every key (including
subdirectories), keeps the newest cycle of each name and scans the 1-D
histograms that pass :func:`bumpnet_root.domain.scan_domain`. Every other object
is recorded as skipped with a one-line reason, and every error on one file or
histogram is logged and recorded as failed, so one bad object never stops the
scan.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._defaults import DEFAULT_THRESHOLD
from ._peaks import find_peaks
from .domain import ScanDomain, scan_domain, scan_domains
from .errors import BumpNetError, InvalidHistogramError
from .histogram import Hist1D

if TYPE_CHECKING:
    from .api import BumpNet, Prediction

logger = logging.getLogger(__name__)

# Two candidates in one histogram are at least this many bins apart.
MIN_CANDIDATE_SEPARATION = 3
# A local maximum must rise this far in Z above the higher of the two minima
# that separate it from any higher maximum (the peak prominence of scipy.signal). So
# statistical ripples on the flank of one wide peak do not become candidates.
MIN_CANDIDATE_PROMINENCE = 1.0

_TH1_CLASS = re.compile(r"TH1[CSILFDK]?")
BIN_LABELS_REASON = (
    "the x axis has bin labels, so the bins are categories (a counter), not mass "
    "intervals"
)
_DAMAGED_OBJECT_ADVICE = (
    "reading the object failed, so the file is probably damaged; check it with "
    "root -l FILE and write it again"
)
EMPTY_FILE_REASON = (
    "the file contains no objects: it is empty, or its list of keys is damaged "
    "(check it with root -l FILE)"
)
_NOT_HISTOGRAM_REASONS = {
    "TTree": "a TTree is not a histogram; fill a TH1 from it first",
    "TNtuple": "a TNtuple is not a histogram; fill a TH1 from it first",
    "TNtupleD": "a TNtupleD is not a histogram; fill a TH1 from it first",
    "ROOT::RNTuple": (
        "a ROOT::RNTuple is not a histogram; fill a TH1 from it first, for "
        "example with 'bumpnet build-histograms'"
    ),
}


@dataclass(frozen=True)
class Candidate:
    """A local maximum of Z above the threshold, at the bin centre ``mass``.

    ``z_global`` is the significance after the look-elsewhere correction over
    the scanned range of the histogram (see :mod:`bumpnet_root.lee`), or None
    when it was not computed.
    """

    z: float
    mass: float
    bin: int
    z_global: float | None = None


@dataclass(frozen=True)
class ScanResult:
    """The scan of one histogram.

    ``name`` is the path inside the file without the cycle (``demo/GMmass``) and
    ``key`` the path of its Z histogram in the ``significance.root`` output.
    ``notes`` describe the scanned range and ``warnings`` the conversion
    warnings (flow bins, weights).
    """

    file: str
    name: str
    key: str
    prediction: Prediction
    candidates: tuple[Candidate, ...]
    x_title: str = ""
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def histogram(self) -> Hist1D:
        return self.prediction.histogram

    @property
    def z_max(self) -> float:
        return self.prediction.z_max

    @property
    def mass_at_z_max(self) -> float:
        return self.prediction.mass_at_z_max

    @property
    def scan_range(self) -> tuple[float, float]:
        """Lower and upper edge of the scanned bins."""
        edges = self.histogram.edges
        domain = self.prediction.domain
        return float(edges[domain.start]), float(edges[domain.stop])

    @property
    def scan_bins(self) -> tuple[int, int]:
        """First and one past the last scanned bin."""
        domain = self.prediction.domain
        return domain.start, domain.stop

    @property
    def out_of_domain(self) -> tuple[str, ...]:
        """Reasons why the histogram lies outside the training domain, if any.

        The candidates of such a histogram are Z maxima, not bumps.
        """
        return self.prediction.domain.out_of_domain


@dataclass(frozen=True)
class SkippedObject:
    """An object in a file that was not scanned, with the reason."""

    file: str
    name: str
    class_name: str
    reason: str


@dataclass(frozen=True)
class FailedObject:
    """A file or histogram whose reading or scan raised an error.

    ``name`` is empty when the whole file failed.
    """

    file: str
    name: str
    error: str
    error_type: str


@dataclass
class ScanReport:
    """Everything a scan produced, in the order the objects were read.

    ``inputs`` maps each file path to its size and modification time when it
    was read (see :func:`file_identity`), so ``bumpnet scan --resume`` can tell
    whether the file changed since. ``complete`` is True once every file was
    read to the end, and False while a scan runs or after an interruption.
    """

    files: list[str] = field(default_factory=list)
    results: list[ScanResult] = field(default_factory=list)
    skipped: list[SkippedObject] = field(default_factory=list)
    failed: list[FailedObject] = field(default_factory=list)
    inputs: dict[str, dict[str, int]] = field(default_factory=dict)
    complete: bool = False

    def ranked_candidates(self) -> list[tuple[ScanResult, Candidate]]:
        """Return the candidates of all histograms, highest Z first."""
        pairs = [(result, c) for result in self.results for c in result.candidates]
        pairs.sort(key=lambda pair: pair[1].z, reverse=True)
        return pairs

    def ranked_results(self) -> list[ScanResult]:
        """Return the scanned histograms ordered by their maximum Z, highest first."""
        return sorted(self.results, key=lambda result: result.z_max, reverse=True)


@dataclass(frozen=True)
class _LoadedHistogram:
    name: str
    class_name: str
    histogram: Hist1D
    x_title: str
    warnings: tuple[str, ...]


def find_candidates(
    z: np.ndarray,
    centers: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    min_separation: int = MIN_CANDIDATE_SEPARATION,
    min_prominence: float = MIN_CANDIDATE_PROMINENCE,
) -> tuple[Candidate, ...]:
    """Return the local maxima of ``z`` above ``threshold``, highest Z first.

    Maxima closer than ``min_separation`` bins to a higher one are dropped, as
    are maxima less prominent than ``min_prominence`` (see
    :data:`MIN_CANDIDATE_PROMINENCE`). A maximum in the first or last bin counts.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0 or not np.any(z > threshold):
        return ()
    # Padding with a value below every Z lets a maximum in the first or last bin
    # be found, which find_peaks would otherwise ignore.
    floor = min(float(np.min(z)), 0.0) - 1.0
    padded = np.concatenate(([floor], z, [floor]))
    peaks = find_peaks(
        padded,
        height=threshold,
        distance=max(1, min_separation),
        prominence=min_prominence,
    )
    bins = peaks - 1
    # find_peaks keeps heights equal to the threshold, so drop those.
    bins = bins[z[bins] > threshold]
    order = np.argsort(-z[bins], kind="stable")
    return tuple(
        Candidate(z=float(z[b]), mass=float(centers[b]), bin=int(b))
        for b in bins[order]
    )


def unique_file_paths(paths: Sequence[str | Path]) -> list[str]:
    """Return the paths without repeats, keeping the first spelling of each file.

    Two paths name the same file when their real paths (symbolic links and
    ``..`` resolved) are equal. A path that does not exist counts as itself.
    """
    first_spelling: dict[str, str] = {}
    for path in paths:
        first_spelling.setdefault(os.path.realpath(path), str(path))
    unique = list(first_spelling.values())
    if len(unique) < len(paths):
        repeated = len(paths) - len(unique)
        logger.warning(
            "%d file %s a file given before (the same path, or a link "
            "or another spelling of it); each file is scanned once",
            repeated,
            "path names" if repeated == 1 else "paths name",
        )
    return unique


def output_prefixes(paths: Sequence[str | Path]) -> dict[str, str]:
    """Return the key prefix of each file in ``significance.root``.

    A single file gets no prefix. Several files get their file name without the
    suffix, with ``_2``, ``_3`` ... appended when two names are equal.
    """
    if len(paths) <= 1:
        return {str(path): "" for path in paths}
    prefixes: dict[str, str] = {}
    used: set[str] = set()
    for path in paths:
        stem = Path(path).stem or "file"
        prefix = stem
        number = 2
        while prefix in used:
            prefix = f"{stem}_{number}"
            number += 1
        used.add(prefix)
        prefixes[str(path)] = prefix
    return prefixes


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _newest_cycles(classnames: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Map each name to (cycle, class name) of its newest cycle."""
    newest: dict[str, tuple[int, str]] = {}
    for key, class_name in classnames.items():
        name, _, cycle_text = key.rpartition(";")
        if not name:
            name, cycle = key, 0
        else:
            cycle = int(cycle_text) if cycle_text.isdigit() else 0
        if name not in newest or cycle > newest[name][0]:
            newest[name] = (cycle, class_name)
    return newest


def _skip_reason_for_class(class_name: str) -> str | None:
    """Return why an object of this class is not scanned, or None for a TH1."""
    if _TH1_CLASS.fullmatch(class_name):
        return None
    if class_name.startswith("TProfile"):
        return (
            f"a {class_name} stores a mean per bin, not a number of events; "
            "scan a TH1 of event counts"
        )
    if class_name.startswith(("TH2", "TH3")):
        return (
            f"a {class_name} has {class_name[2]} dimensions; project it to a "
            "1-D histogram (ProjectionX) to scan it"
        )
    if class_name in _NOT_HISTOGRAM_REASONS:
        return _NOT_HISTOGRAM_REASONS[class_name]
    return f"a {class_name} is not a 1-D histogram"


def _axis_title(obj: Any) -> str:
    try:
        return str(obj.axis().member("fTitle"))
    except (AttributeError, KeyError, IndexError, ValueError):
        return ""


def _has_bin_labels(obj: Any) -> bool:
    try:
        labels = obj.axis().labels()
    except (AttributeError, KeyError, ValueError):
        return False
    return bool(labels)


def _with_warnings(build: Callable[[], Hist1D]) -> tuple[Hist1D, tuple[str, ...]]:
    """Run ``build`` and return its histogram with the warnings it raised.

    The caller logs the warnings, and only for histograms that are scanned.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        histogram = build()
    return histogram, tuple(str(w.message) for w in caught)


def _convert(obj: Any, name: str) -> tuple[Hist1D, tuple[str, ...]]:
    """Convert an uproot histogram and return it with the warnings it raised."""
    from .adapters import to_hist1d

    return _with_warnings(lambda: to_hist1d(obj, name=name))


def _read_file(
    path: str,
    patterns: Sequence[str],
    report: ScanReport,
    done: Callable[[str, str], bool] | None = None,
) -> list[_LoadedHistogram]:
    """Read the selected 1-D histograms of one file and record what is skipped.

    Objects for which ``done(path, name)`` is True are left out unrecorded.
    """
    import uproot

    loaded: list[_LoadedHistogram] = []
    with uproot.open(path) as root_file:
        warn_about_shared_names(path, uproot_origins(root_file), patterns)
        newest = _newest_cycles(root_file.classnames(recursive=True))
        classes = [class_name for _, class_name in newest.values()]
        if all(class_name.startswith("TDirectory") for class_name in classes):
            # Recorded, so that every input file appears in the report.
            _record_skip(report, path, "", "", EMPTY_FILE_REASON)
        for name, (cycle, class_name) in newest.items():
            if class_name.startswith("TDirectory") or not _matches(name, patterns):
                continue
            if done is not None and done(path, name):
                continue
            reason = _skip_reason_for_class(class_name)
            if reason is not None:
                _record_skip(report, path, name, class_name, reason)
                continue
            item = load_uproot_object(root_file, path, name, cycle, class_name, report)
            if item is not None:
                loaded.append(item)
    return drop_text_not_utf8(path, loaded, report)


# Candidates this close to either end of the scanned range get EDGE_NOTE.
EDGE_BINS = 2
EDGE_NOTE = (
    "at the edge of the scanned range, where the background estimate has "
    "bins on one side only; check it with bumpnet crosscheck"
)


def at_edge(bin_index: int, start: int, stop: int) -> bool:
    """Return whether a bin is within EDGE_BINS of either end of ``start:stop``."""
    return bin_index < start + EDGE_BINS or bin_index >= stop - EDGE_BINS


def candidate_notes(result: Any, candidate: Candidate) -> list[str]:
    """Return the notes of a histogram, plus EDGE_NOTE for a candidate at an edge.

    ``result`` is a ScanResult or any record with ``notes`` and ``scan_bins``.
    """
    notes = list(result.notes)
    if at_edge(candidate.bin, *result.scan_bins):
        notes.append(EDGE_NOTE)
    return notes


# Origins of the keys listed under each path: {path: {(directory, key)}}.
Origins = dict[str, set[tuple[str, str]]]


def note_origin(origins: Origins, name: str, directory: str, key_name: str) -> None:
    """Record that the key ``key_name`` in ``directory`` is listed as ``name``.

    A key named "a/b" at the top level and a key "b" in a directory "a" are
    both listed as "a/b", and uproot reads "a//b" as "a/b" too. So names are
    compared with empty parts dropped, as :func:`output_key` writes them.
    """
    path = "/".join(part for part in name.split("/") if part)
    origins.setdefault(path, set()).add((directory, key_name))


def uproot_origins(root_file: Any) -> Origins:
    """Return the origins (see note_origin) of every key of an open uproot file."""
    origins: Origins = {}
    pending = [("", root_file)]
    while pending:
        prefix, directory = pending.pop()
        for key, class_name in directory.classnames(recursive=False).items():
            key_name = key.rpartition(";")[0] or key
            note_origin(origins, f"{prefix}{key_name}", prefix, key_name)
            if class_name.startswith("TDirectory") and "/" not in key_name:
                try:
                    pending.append((f"{prefix}{key_name}/", directory[key]))
                except Exception as error:  # the scan reports unreadable keys
                    logger.debug("cannot list %s%s: %s", prefix, key, error)
    return origins


def warn_about_shared_names(
    path: str, origins: Origins, patterns: Sequence[str] = ()
) -> None:
    """Warn about each path that several keys of the file share.

    Only paths that match ``patterns`` (all paths when empty) are reported.
    """
    for name, keys in origins.items():
        if len(keys) < 2 or not _matches(name, patterns):
            continue
        described = [
            f"{key!r} in the directory {directory.rstrip('/')!r}"
            if directory
            else f"{key!r} at the top level"
            for directory, key in sorted(keys)
        ]
        logger.warning(
            "%s: %d keys have the path %r (%s), so only one of them is scanned; "
            "rename the keys whose names contain '/' to scan them all",
            path,
            len(keys),
            name,
            ", ".join(described),
        )


def output_key(prefix: str, name: str) -> str:
    """Return the path of a histogram's Z in ``significance.root``.

    Empty path parts, from key names such as "a//b" or "/a", are dropped,
    because ROOT cannot create a directory without a name.
    """
    return "/".join(part for part in f"{prefix}/{name}".split("/") if part)


def read_key(root_file: Any, name: str, cycle: int) -> Any:
    """Return the object stored under ``name;cycle`` in an open uproot file.

    ``TFile::WriteTObject(h, "a/b")`` stores a key whose name contains "/".
    uproot's item access reads such a name as a directory path, so it is
    looked up as a key name in each directory that the path allows.

    A top-level key "a/b" and a key "b" in a directory "a" get the same name
    here, so only one of them is read. Listing the file warns about it
    (:func:`warn_about_shared_names`).
    """
    # Imported here: the PyROOT reader of the fast scan does not need uproot.
    import uproot

    try:
        return root_file[f"{name};{cycle}"]
    except uproot.KeyInFileError:
        if "/" not in name:
            raise
    positions = [i for i, char in enumerate(name) if char == "/"]
    for position in [-1, *positions]:
        folder, leaf = name[: max(position, 0)], name[position + 1 :]
        try:
            directory = root_file[folder] if folder else root_file
            found = directory.items(
                recursive=False,
                cycle=True,
                filter_name=lambda key, leaf=leaf: key == leaf,
            )
            for key_name, obj in found:
                if key_name == f"{leaf};{cycle}":
                    return obj
        except (uproot.KeyInFileError, AttributeError):
            continue
    raise uproot.KeyInFileError(f"{name};{cycle}", file_path=root_file.file_path)


def _load_th1_bytes(
    root_file: Any, path: str, name: str, cycle: int, class_name: str
) -> _LoadedHistogram | None:
    """Read a TH1D or TH1F from its bytes (see :mod:`bumpnet_root._th1_bytes`).

    Returns None when uproot must read the object: also when the conversion
    fails, so that the uproot path records the failure with its messages.
    """
    from ._readers import read_th1_fields
    from ._th1_bytes import object_bytes, read_fields
    from .adapters import _warn_about_contents

    try:
        key = root_file.key(f"{name};{cycle}")
        if key.fClassName != class_name:
            return None
        fields = read_fields(object_bytes(key), class_name)
    except Exception as error:
        # uproot reads the object again and reports what is wrong with it.
        logger.debug("reading %s:%s from its bytes failed: %s", path, name, error)
        return None
    if fields is None:
        return None

    def build() -> Hist1D:
        histogram = read_th1_fields(fields, class_name, name, root_file.file_path)
        # The warnings of adapters.to_hist1d after it reads an uproot object.
        _warn_about_contents(histogram)
        return histogram

    try:
        histogram, conversion_warnings = _with_warnings(build)
    except BumpNetError:
        return None
    return _LoadedHistogram(
        name, class_name, histogram, fields.x_title, conversion_warnings
    )


def load_uproot_object(
    root_file: Any,
    path: str,
    name: str,
    cycle: int,
    class_name: str,
    report: ScanReport,
) -> _LoadedHistogram | None:
    """Read and convert one object of an open uproot file.

    Returns None after recording a skip (bin labels) or a failure in ``report``.
    """
    if class_name in ("TH1D", "TH1F"):
        item = _load_th1_bytes(root_file, path, name, cycle, class_name)
        if item is not None:
            return item
    try:
        obj = read_key(root_file, name, cycle)
        if _has_bin_labels(obj):
            _record_skip(report, path, name, class_name, BIN_LABELS_REASON)
            return None
        histogram, conversion_warnings = _convert(obj, name)
    except BumpNetError as error:
        _record_failure(report, path, name, error)
        return None
    except Exception as error:
        _record_failure(report, path, name, error, _DAMAGED_OBJECT_ADVICE)
        return None
    return _LoadedHistogram(
        name, class_name, histogram, _axis_title(obj), conversion_warnings
    )


def _record_skip(
    report: ScanReport, file: str, name: str, class_name: str, reason: str
) -> None:
    if name:
        logger.info("skipped %s:%s (%s): %s", file, name, class_name, reason)
    else:
        logger.warning("skipped %s: %s", file, reason)
    report.skipped.append(SkippedObject(file, name, class_name, reason))


def drop_text_not_utf8(
    path: str, loaded: list[_LoadedHistogram], report: ScanReport
) -> list[_LoadedHistogram]:
    """Return ``loaded`` without the objects whose name or titles are not UTF-8.

    uproot reads such bytes (Latin-1 text of an old file, for example) as
    surrogate characters, which no output file can hold. So each such object
    is recorded as failed here, where it would otherwise stop the scan when
    the outputs are written.
    """
    readable = []
    for item in loaded:
        texts = {
            "name": item.name,
            "title": item.histogram.title,
            "x-axis title": item.x_title,
        }
        bad = [what for what, text in texts.items() if not _is_utf8(text)]
        if not bad:
            readable.append(item)
            continue
        escaped = item.name.encode("utf-8", "backslashreplace").decode("utf-8")
        error = InvalidHistogramError(
            f"histogram {escaped!r}: its {' and '.join(bad)} is not UTF-8 text "
            "(bytes of another encoding, such as Latin-1), which the outputs "
            "cannot hold; write the histogram again with a UTF-8 name and titles"
        )
        _record_failure(report, path, escaped, error)
    return readable


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _record_failure(
    report: ScanReport,
    file: str,
    name: str,
    error: BaseException,
    advice: str = "",
    message: str | None = None,
) -> None:
    """Log and record an error, with ``advice`` appended to its message if given.

    ``advice`` is the next step for the user when the message of the error has
    none. ``message``, if given, replaces both.
    """
    where = f"{file}:{name}" if name else file
    if message is None:
        message = f"{error}; {advice}" if advice else str(error)
    logger.error("failed to scan %s: %s: %s", where, type(error).__name__, message)
    report.failed.append(FailedObject(file, name, message, type(error).__name__))


def _record_file_failure(report: ScanReport, path: str, error: BaseException) -> None:
    """Log and record an error that stopped a whole file from being read.

    Errors of the operating system (with an errno) keep their message first.
    Otherwise uproot's message describes its own internals ("expected Chunk of
    length 108, received 0 bytes"), so the plain diagnosis comes first.
    """
    advice = _file_advice(error, path)
    if isinstance(error, OSError) and error.errno is not None:
        _record_failure(report, path, "", error, advice)
        return
    detail = " ".join(str(error).split())
    # Files are opened with uproot whichever reader reads the histograms.
    message = f"{advice} (uproot's message: {detail})" if detail else advice
    _record_failure(report, path, "", error, message=message)


def _file_advice(error: BaseException, path: str = "") -> str:
    """Return what to do about an error that stopped a whole file from being read."""
    if isinstance(error, FileNotFoundError):
        return "check the path"
    if isinstance(error, IsADirectoryError):
        return "pass the ROOT files in the directory instead of the directory"
    # uproot reports a file it may not open as an OSError without errno.
    unreadable = bool(path) and os.path.isfile(path) and not os.access(path, os.R_OK)
    if isinstance(error, PermissionError) or unreadable:
        return "make the file readable for this user"
    if isinstance(error, OSError) and error.errno is not None:
        return "check that the file system is readable"
    if path and os.path.isfile(path) and os.path.getsize(path) == 0:
        return "the file is empty (0 bytes); write it again"
    text_advice = _text_file_advice(path)
    if text_advice:
        return text_advice
    # uproot raises OSError without errno when a file ends before an object.
    return (
        "the file is not a ROOT file, or it is truncated or corrupted; check that "
        "it was written completely (root -l FILE opens it) and write it again"
    )


def _text_file_advice(path: str) -> str:
    """Return advice for a text file passed as a ROOT file, or "" otherwise."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(512)
    except OSError:
        return ""
    if not head or head.startswith(b"root"):
        return ""
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    # Text in an 8-bit encoding has no NUL bytes and is mostly printable ASCII.
    # In uniformly random bytes 98 of 256 values (38 %) are printable.
    printable = sum(32 <= byte < 127 or byte in b"\t\n\r" for byte in head)
    if not utf16 and (b"\x00" in head or printable < 0.9 * len(head)):
        return ""
    return (
        "the file is text, not a ROOT file; read a CSV histogram with "
        "bumpnet_root.adapters.read_csv_histogram and scan it with "
        "BumpNet.evaluate, or "
        "write it into a ROOT file with uproot first (README, section Python)"
    )


def file_identity(path: str | Path) -> dict[str, int] | None:
    """Return the size in bytes and the modification time in ns of a file.

    Returns None when the file cannot be examined (missing, no permission).
    """
    try:
        status = os.stat(path)
    except OSError:
        return None
    return {"size": int(status.st_size), "mtime_ns": int(status.st_mtime_ns)}


def _evaluate_chunk(
    model: BumpNet,
    histograms: list[Hist1D],
    batch_size: int,
    domains: list[ScanDomain] | None = None,
) -> list[Prediction | Exception]:
    """Evaluate a chunk, and one histogram at a time when the batch call fails."""
    try:
        return model.evaluate(
            histograms, domain="auto", batch_size=batch_size, domains=domains
        )
    except Exception as error:
        logger.warning(
            "batch of %d histograms failed (%s: %s); evaluating them one by one",
            len(histograms),
            type(error).__name__,
            error,
        )
    results: list[Prediction | Exception] = []
    for histogram in histograms:
        try:
            results.extend(model.evaluate([histogram], domain="auto"))
        except Exception as error:
            results.append(error)
    return results


def _check_finite(prediction: Prediction) -> None:
    domain = prediction.domain
    scanned = prediction.z[domain.start : domain.stop]
    bad = np.nonzero(~np.isfinite(scanned))[0]
    if bad.size:
        raise FloatingPointError(
            f"the network returned non-finite Z in {bad.size} bins (first: bin "
            f"{domain.start + int(bad[0])}); check the bin contents for values "
            "far outside the training range"
        )


def _domain_or_error(histogram: Hist1D) -> ScanDomain | Exception:
    try:
        return scan_domain(histogram)
    except Exception as error:
        return error


def _scan_loaded(
    path: str,
    prefix: str,
    loaded: list[_LoadedHistogram],
    model: BumpNet,
    threshold: float,
    batch_size: int,
    report: ScanReport,
    on_batch_done: Callable[[str], None] | None = None,
) -> None:
    scannable: list[_LoadedHistogram] = []
    domains: list[ScanDomain] = []
    decided: list[ScanDomain | Exception]
    try:
        decided = list(scan_domains([item.histogram for item in loaded]))
    except Exception:
        # One histogram broke the batch; find it one histogram at a time.
        decided = [_domain_or_error(item.histogram) for item in loaded]
    for item, domain in zip(loaded, decided):
        if isinstance(domain, Exception):
            _record_failure(report, path, item.name, domain)
            continue
        if domain.skip_reason is not None:
            _record_skip(report, path, item.name, item.class_name, domain.skip_reason)
            continue
        for message in item.warnings:
            # The message names the histogram but not its file.
            logger.warning("%s: %s", path, message)
        scannable.append(item)
        domains.append(domain)
    for first in range(0, len(scannable), batch_size):
        chunk = scannable[first : first + batch_size]
        predictions = _evaluate_chunk(
            model,
            [item.histogram for item in chunk],
            batch_size,
            domains[first : first + batch_size],
        )
        for item, prediction in zip(chunk, predictions):
            if isinstance(prediction, Exception):
                _record_failure(report, path, item.name, prediction)
                continue
            try:
                _check_finite(prediction)
            except FloatingPointError as error:
                _record_failure(report, path, item.name, error)
                continue
            candidates = find_candidates(
                prediction.z, item.histogram.centers, threshold
            )
            key = output_key(prefix, item.name)
            report.results.append(
                ScanResult(
                    file=path,
                    name=item.name,
                    key=key,
                    prediction=prediction,
                    candidates=candidates,
                    x_title=item.x_title,
                    notes=prediction.domain.notes,
                    warnings=item.warnings,
                )
            )
            # Z_max and its mass take a search each, so only when logged.
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "scanned %s:%s: Z_max %.2f at %g, %d candidates",
                    path,
                    item.name,
                    prediction.z_max,
                    prediction.mass_at_z_max,
                    len(candidates),
                )
        if on_batch_done is not None:
            on_batch_done(path)


def scan_files(
    paths: Sequence[str | Path],
    model: BumpNet,
    select: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = 1024,
    on_file_done: Callable[[str], None] | None = None,
    report: ScanReport | None = None,
    done: Callable[[str, str], bool] | None = None,
    on_batch_done: Callable[[str], None] | None = None,
) -> ScanReport:
    """Scan the 1-D histograms in ROOT files and return the report.

    ``select`` contains glob patterns (fnmatch, case-sensitive) matched against
    the path inside each file, such as ``demo/GMmass*``. Without patterns,
    every object is considered. A missing or unreadable file is recorded under
    ``failed`` and the scan goes on with the next one. Pass ``report`` to
    collect results into an existing object, so a caller keeps the finished
    part when the scan is interrupted. ``on_file_done(path)`` is called after
    each file and ``on_batch_done(path)`` after each batch of histograms has
    been added to the report, so a caller can save the results so far.
    Objects for which ``done(path, name)`` returns True are not read and not
    recorded (``bumpnet scan --resume`` passes the finished ones).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    report = ScanReport() if report is None else report
    unique_paths = unique_file_paths(paths)
    prefixes = output_prefixes(unique_paths)
    report.complete = False
    for path in unique_paths:
        report.files.append(path)
        identity = file_identity(path)
        if identity is not None:
            report.inputs[path] = identity
        logger.info("reading %s", path)
        try:
            loaded = _read_file(path, select, report, done)
        except Exception as error:
            _record_file_failure(report, path, error)
            loaded = []
        if loaded:
            _scan_loaded(
                path,
                prefixes[path],
                loaded,
                model,
                threshold,
                batch_size,
                report,
                on_batch_done,
            )
        if on_file_done is not None:
            on_file_done(path)
    report.complete = True
    return report
