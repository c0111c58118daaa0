"""Listing and reading the histograms of a ROOT file, with PyROOT when available.

uproot builds every histogram in Python and took about 0.8 ms per TH1D here;
PyROOT's ``TKey::ReadObj`` followed by :func:`bumpnet_root.adapters.to_hist1d`
(which copies the bin array with ``numpy.frombuffer``) took about 0.15 ms
(``bench/scan_throughput.py``, 2-core machine). :func:`read_entries`
therefore uses PyROOT when it can be imported and uproot otherwise. With
PyROOT, the TH1D and TH1F that convert without an error or a warning are read
in one compiled call per task (:mod:`bumpnet_root._batchread`): 30,000 of
them in 1.1 s against 3.5 s one at a time. The uproot reader reads TH1D and
TH1F of the current ROOT layout from their bytes instead of building uproot
objects (:mod:`bumpnet_root._th1_bytes`): 0.17 to 0.19 ms per histogram
against 1.2 to 1.5 ms. Both readers apply
the rules of :func:`bumpnet_root.scan.scan_files` to each object: newest cycle
of each name, skip reasons for other classes and for labelled axes, and the
same conversion with its warnings.

When PyROOT fails to open or read something, the same file or object is read
again with uproot, so errors are reported with the messages of the uproot path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import BumpNetError, MissingDependencyError
from .scan import (
    BIN_LABELS_REASON,
    EMPTY_FILE_REASON,
    Origins,
    ScanReport,
    _convert,
    _LoadedHistogram,
    _matches,
    _newest_cycles,
    _record_failure,
    _record_skip,
    _skip_reason_for_class,
    drop_text_not_utf8,
    note_origin,
    uproot_origins,
    warn_about_shared_names,
)

logger = logging.getLogger(__name__)

READERS = ("auto", "pyroot", "uproot")


@dataclass(frozen=True)
class ObjectEntry:
    """One object of a file: path inside the file, newest cycle and class."""

    name: str
    cycle: int
    class_name: str


def _pyroot() -> Any | None:
    from ._root import import_root

    try:
        return import_root("reading ROOT files with PyROOT")
    except MissingDependencyError:
        return None


def resolve_reader(reader: str) -> str:
    """Return 'pyroot' or 'uproot' for a reader name of :data:`READERS`."""
    if reader not in READERS:
        raise ValueError(f"reader must be one of {READERS}, got {reader!r}")
    if reader == "auto":
        return "pyroot" if _pyroot() is not None else "uproot"
    if reader == "pyroot" and _pyroot() is None:
        raise MissingDependencyError(
            "the PyROOT reader was requested, but PyROOT cannot be imported; "
            "install ROOT or use the uproot reader"
        )
    return reader


def _list_pyroot(
    root: Any, path: str, patterns: Sequence[str] = ()
) -> dict[str, str] | None:
    """Return {"name;cycle": class name} of every key, or None on any failure."""
    if not os.path.isfile(path):
        return None
    root_file = _open_pyroot(root, path)
    if root_file is None:
        return None
    if root_file.TestBit(root.TFile.kRecovered):
        logger.warning(
            "%s was not closed properly (a crashed or unfinished job, or a "
            "truncated copy); ROOT recovered its keys, but objects written last "
            "may be missing or damaged",
            path,
        )
    try:
        classnames: dict[str, str] = {}
        origins: Origins = {}
        try:
            _walk_keys(root_file, "", classnames, origins)
        except (TypeError, UnicodeError) as error:
            # A key name that is not UTF-8; uproot lists it and reports it.
            logger.debug("PyROOT cannot list %s: %s", path, error)
            return None
        warn_about_shared_names(path, origins, patterns)
        return classnames
    finally:
        root_file.Close()


def _open_pyroot(root: Any, path: str) -> Any | None:
    """Open ``path`` for reading with PyROOT, or return None if that fails.

    The uproot retry of the caller reports the error, so ROOT's own message is
    not printed.
    """
    ignore_level = root.gErrorIgnoreLevel
    root.gErrorIgnoreLevel = root.kFatal
    try:
        root_file = root.TFile.Open(path, "READ")
    except OSError:
        # PyROOT of ROOT 6.40 raises where older versions return null.
        return None
    finally:
        root.gErrorIgnoreLevel = ignore_level
    if not root_file or root_file.IsZombie():
        return None
    return root_file


def _walk_keys(
    directory: Any,
    prefix: str,
    classnames: dict[str, str],
    origins: Origins,
) -> None:
    for key in directory.GetListOfKeys():
        key_name = str(key.GetName())
        name = f"{prefix}{key_name}"
        class_name = str(key.GetClassName())
        classnames[f"{name};{key.GetCycle()}"] = class_name
        note_origin(origins, name, prefix, key_name)
        if class_name.startswith("TDirectory"):
            subdirectory = directory.GetDirectory(key_name)
            if subdirectory:
                _walk_keys(subdirectory, f"{name}/", classnames, origins)


def _list_uproot(path: str, patterns: Sequence[str] = ()) -> dict[str, str]:
    import uproot

    with uproot.open(path) as root_file:
        warn_about_shared_names(path, uproot_origins(root_file), patterns)
        return dict(root_file.classnames(recursive=True))


def list_entries(
    path: str,
    patterns: Sequence[str] = (),
    done: Callable[[str, str], bool] | None = None,
    reader: str = "auto",
    report: ScanReport | None = None,
) -> list[ObjectEntry]:
    """List the objects of a file to scan, in the order of the file's keys.

    Directories, names that match none of ``patterns`` and names for which
    ``done(path, name)`` is True are left out. A file without any object but
    directories is recorded as skipped in ``report``, as
    :func:`bumpnet_root.scan.scan_files` records it. Raises the uproot error
    when the file cannot be read.
    """
    classnames = None
    if resolve_reader(reader) == "pyroot":
        root = _pyroot()
        classnames = _list_pyroot(root, path, patterns)
    if classnames is None:
        classnames = _list_uproot(path, patterns)
    if report is not None and all(
        class_name.startswith("TDirectory") for class_name in classnames.values()
    ):
        _record_skip(report, path, "", "", EMPTY_FILE_REASON)
    entries = []
    for name, (cycle, class_name) in _newest_cycles(classnames).items():
        if class_name.startswith("TDirectory") or not _matches(name, patterns):
            continue
        if done is not None and done(path, name):
            continue
        entries.append(ObjectEntry(name, cycle, class_name))
    return entries


def read_entries(
    path: str, entries: Sequence[ObjectEntry], report: ScanReport, reader: str = "auto"
) -> list[_LoadedHistogram]:
    """Read the 1-D histograms among ``entries`` and record skips and failures."""
    to_read = []
    for entry in entries:
        reason = _skip_reason_for_class(entry.class_name)
        if reason is None:
            to_read.append(entry)
        else:
            _record_skip(report, path, entry.name, entry.class_name, reason)
    if not to_read:
        return []
    loaded = None
    if resolve_reader(reader) == "pyroot":
        loaded = _read_pyroot(path, to_read, report)
    if loaded is None:
        loaded = _read_uproot(path, to_read, report)
    return drop_text_not_utf8(path, loaded, report)


def _read_pyroot(
    path: str, entries: Sequence[ObjectEntry], report: ScanReport
) -> list[_LoadedHistogram] | None:
    """Read with PyROOT; return None when the file cannot be opened."""
    root = _pyroot()
    root_file = _open_pyroot(root, path)
    if root_file is None:
        return None
    add_directory = root.TH1.AddDirectoryStatus()
    # Histograms read with AddDirectory off belong to no ROOT directory, so
    # Python owns them and frees them with the last reference.
    root.TH1.AddDirectory(False)
    loaded: list[_LoadedHistogram] = []
    directories: dict[str, Any] = {"": root_file}
    try:
        clean = _read_clean(root, root_file, path, entries)
        for entry, read in zip(entries, clean):
            if read is not None:
                histogram, x_title = read
                loaded.append(
                    _LoadedHistogram(
                        entry.name, entry.class_name, histogram, x_title, ()
                    )
                )
                continue
            item = _read_one_pyroot(root, root_file, directories, path, entry, report)
            if item is not None:
                loaded.append(item)
    finally:
        root.TH1.AddDirectory(add_directory)
        root_file.Close()
    return loaded


def _read_clean(
    root: Any, root_file: Any, path: str, entries: Sequence[ObjectEntry]
) -> Sequence[tuple[Any, str] | None]:
    """Read the clean TH1D and TH1F of ``entries`` in one compiled call.

    See :mod:`bumpnet_root._batchread`; None marks the objects to read one at a
    time, which is all of them if the compiled call fails.
    """
    from ._batchread import read_clean_histograms

    try:
        clean = read_clean_histograms(
            root,
            root_file,
            [entry.name for entry in entries],
            [entry.cycle for entry in entries],
        )
    except Exception as error:
        logger.debug(
            "batch reading of %s failed (%s); reading one at a time", path, error
        )
        clean = None
    return [None] * len(entries) if clean is None else clean


def _read_one_pyroot(
    root: Any,
    root_file: Any,
    directories: dict[str, Any],
    path: str,
    entry: ObjectEntry,
    report: ScanReport,
) -> _LoadedHistogram | None:
    directory_name, _, base_name = entry.name.rpartition("/")
    try:
        directory = directories.get(directory_name)
        if directory is None:
            directory = root_file.GetDirectory(directory_name)
            directories[directory_name] = directory
        key = directory.GetKey(base_name, entry.cycle) if directory else None
        obj = key.ReadObj() if key else None
    except (TypeError, UnicodeError):
        # A name that is not UTF-8 (listed by uproot); uproot reads it.
        obj = None
    if not obj:
        # Let uproot read the object and report why it cannot.
        retry = _read_uproot(path, [entry], report)
        return retry[0] if retry else None
    root.SetOwnership(obj, True)
    try:
        axis = obj.GetXaxis()
        labels = axis.GetLabels()
        if labels and labels.GetEntries() > 0:
            _record_skip(report, path, entry.name, entry.class_name, BIN_LABELS_REASON)
            return None
        histogram, conversion_warnings = _convert(obj, entry.name)
        x_title = str(axis.GetTitle())
    except BumpNetError as error:
        _record_failure(report, path, entry.name, error)
        return None
    except Exception:
        retry = _read_uproot(path, [entry], report)
        return retry[0] if retry else None
    return _LoadedHistogram(
        entry.name, entry.class_name, histogram, x_title, conversion_warnings
    )


def _read_uproot(
    path: str, entries: Sequence[ObjectEntry], report: ScanReport
) -> list[_LoadedHistogram]:
    import uproot

    from .scan import load_uproot_object

    loaded: list[_LoadedHistogram] = []
    with uproot.open(path) as root_file:
        for entry in entries:
            item = load_uproot_object(
                root_file, path, entry.name, entry.cycle, entry.class_name, report
            )
            if item is not None:
                loaded.append(item)
    return loaded
