"""Scan outputs written while the scan runs, moved into place at the end.

:class:`StreamingOutputs` appends each result to a temporary ``summary.json``
and ``significance.root`` as soon as it arrives, so the results need not stay
in memory. :meth:`StreamingOutputs.finish` writes ``summary.csv`` and
``scan_report.json`` and moves every file into place with :func:`os.replace`.
Until then a reader sees the previous outputs, and
:meth:`StreamingOutputs.abort` removes the temporary files. The files have the
content that :func:`bumpnet_root.io.write_outputs` writes: ``summary.json`` is
one JSON list with the entries of :func:`bumpnet_root.io.result_to_dict`, one
per line.

``significance.root`` is written with PyROOT when it is importable, with LZ4
level 4 compression, else with uproot and ZLIB level 1. uproot reads LZ4 with
its own dependencies (cramjam, xxhash). Writing one Z histogram into
``significance.root`` with PyROOT took 25 us with LZ4 level 4, 60 to 68 us with
ZLIB level 1 (a file of the same size) and 17 us without compression (twice
the size), on 4000 results of ``bench/scan_throughput.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing.util
import os
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .errors import WorkerError
from .io import (
    REPORT_JSON,
    SIGNIFICANCE_ROOT,
    SUMMARY_CSV,
    SUMMARY_JSON,
    atomic_write_text,
    candidates_csv,
    report_to_dict,
    result_to_dict,
    writable_key,
    z_th1d,
)
from .scan import ScanReport, ScanResult

logger = logging.getLogger(__name__)


# ROOT's compression setting of significance.root: LZ4 (algorithm 4), level 4.
LZ4_LEVEL_4 = 404


def _temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


@dataclasses.dataclass(frozen=True)
class ZRecord:
    """The part of one result that ``significance.root`` contains.

    ``key`` is the path of the TH1D in the file, ``title`` the input
    histogram's title, ``edges`` its bin edges and ``z`` the local
    significance per bin. ``file`` and ``name`` name the input in messages.
    """

    file: str
    name: str
    key: str
    title: str
    x_title: str
    edges: np.ndarray
    z: np.ndarray

    @classmethod
    def of(cls, result: ScanResult) -> ZRecord:
        histogram = result.histogram
        return cls(
            result.file,
            result.name,
            result.key,
            histogram.title,
            result.x_title,
            histogram.edges,
            result.prediction.z,
        )


def _write_logged(writer: Any, record: ZRecord) -> bool:
    """Write one record; log a failure that concerns this record alone."""
    try:
        writer.write(record)
    except (TypeError, UnicodeError, ValueError) as error:
        # A name or title that ROOT cannot take (not UTF-8, for example).
        logger.error(
            "cannot write the Z histogram of %s:%s into significance.root "
            "(%s: %s); summary.json has its Z",
            record.file,
            record.name,
            type(error).__name__,
            error,
        )
        return False
    return True


# Fills the reusable TH1D of a result and writes it, in one call from Python in
# place of eight. Statistics as in bumpnet_root.io.significance_th1d.
_WRITE_Z_SOURCE = """
namespace bumpnet_root_stream {
void write_z(TH1D *hist, TDirectory *directory, const char *name,
             const char *title, const char *x_title, const double *z,
             const double *centers, int n_bins) {
    hist->SetName(name);
    hist->SetTitle(title);
    hist->GetXaxis()->SetTitle(x_title);
    double stats[4] = {0.0, 0.0, 0.0, 0.0};
    hist->SetBinContent(0, 0.0);
    hist->SetBinContent(n_bins + 1, 0.0);
    for (int i = 0; i < n_bins; ++i) {
        hist->SetBinContent(i + 1, z[i]);
        stats[0] += z[i];
        stats[1] += z[i] * z[i];
        stats[2] += z[i] * centers[i];
        stats[3] += z[i] * centers[i] * centers[i];
    }
    hist->PutStats(stats);
    hist->SetEntries(n_bins);
    directory->WriteTObject(hist, name);
}
}
"""


def _declare_write_z(root: Any) -> Any:
    """Return the compiled ``write_z`` helper, declaring it on first use."""
    namespace = getattr(root, "bumpnet_root_stream", None)
    if namespace is None:
        if not root.gInterpreter.Declare(_WRITE_Z_SOURCE):
            raise RuntimeError("ROOT failed to compile the TH1D writer helper")
        namespace = root.bumpnet_root_stream
    return namespace.write_z


class _PyRootWriter:
    """One TH1D of Z per result, written with PyROOT."""

    def __init__(self, root: Any, path: Path) -> None:
        self.root = root
        self.path = path
        self._write_z = _declare_write_z(root)
        self.templates: dict[bytes, Any] = {}
        self._open("RECREATE")

    def _open(self, mode: str) -> None:
        # The fourth argument is the compression setting, 100 x algorithm +
        # level: LZ4 (4) level 4.
        self.file = self.root.TFile(str(self.path), mode, "", LZ4_LEVEL_4)
        if not self.file or self.file.IsZombie():
            raise OSError(f"ROOT cannot open {self.path} in {mode} mode")
        self.directories: dict[str, Any] = {"": self.file}

    def _template(self, edges: np.ndarray) -> Any:
        """Return a reusable TH1D with these edges; WriteTObject copies it out."""
        key = edges.tobytes()
        hist = self.templates.get(key)
        if hist is None:
            root = self.root
            add_directory = root.TH1.AddDirectoryStatus()
            root.TH1.AddDirectory(False)
            try:
                n_bins = edges.size - 1
                widths = np.diff(edges)
                if np.allclose(widths, widths[0], rtol=1e-9, atol=0.0):
                    hist = root.TH1D("z", "", n_bins, float(edges[0]), float(edges[-1]))
                else:
                    hist = root.TH1D("z", "", n_bins, np.ascontiguousarray(edges))
            finally:
                root.TH1.AddDirectory(add_directory)
            # An empty Sumw2 array keeps the bin errors at 0: Z has none.
            hist.Sumw2(True)
            hist.GetYaxis().SetTitle("Z")
            self.templates[key] = hist
        return hist

    def write(self, record: ZRecord) -> None:
        z = record.z
        if not np.isfinite(z).all():
            z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        edges = record.edges
        directory_name, _, name = record.key.rpartition("/")
        # Edges near the float64 maximum make the x moments inf, which ROOT
        # accepts.
        self._write_z(
            self._template(edges),
            self._directory(directory_name),
            name,
            f"BumpNet local significance of {record.title or name}",
            record.x_title,
            np.ascontiguousarray(z, dtype=np.float64),
            np.ascontiguousarray(0.5 * (edges[1:] + edges[:-1]), dtype=np.float64),
            edges.size - 1,
        )

    def _directory(self, name: str) -> Any:
        directory = self.directories.get(name)
        if directory is None:
            directory = self.file.mkdir(name, "", True)
            if not directory:
                raise OSError(f"ROOT cannot create the directory {name!r}")
            self.directories[name] = directory
        return directory

    def close(self) -> None:
        self.file.Close()

    def snapshot(self, destination: Path) -> None:
        """Copy the file as written so far to ``destination``, then go on writing.

        Only a closed ROOT file is complete (key lists, streamer info), so the
        file is closed, copied and opened again for update.
        """
        self.file.Close()
        shutil.copyfile(self.path, destination)
        self._open("UPDATE")


class _UprootWriter:
    """One TH1D of Z per result, written with uproot."""

    def __init__(self, path: Path) -> None:
        import uproot

        self.path = path
        self.file = uproot.recreate(path)

    def write(self, record: ZRecord) -> None:
        self.file[record.key] = z_th1d(
            record.name.rsplit("/", 1)[-1],
            record.title,
            record.x_title,
            record.edges,
            record.z,
        )

    def close(self) -> None:
        self.file.close()

    def snapshot(self, destination: Path) -> None:
        """Copy the file as written so far to ``destination``, then go on writing."""
        import uproot

        self.file.close()
        shutil.copyfile(self.path, destination)
        self.file = uproot.update(self.path)


def _significance_writer(path: Path, writer: str) -> Any:
    if writer not in ("auto", "pyroot", "uproot"):
        raise ValueError(f"writer must be 'auto', 'pyroot' or 'uproot', got {writer!r}")
    if writer != "uproot":
        from ._root import import_root
        from .errors import MissingDependencyError

        try:
            root = import_root("writing significance.root with PyROOT")
        except MissingDependencyError:
            if writer == "pyroot":
                raise
        else:
            return _PyRootWriter(root, path)
    return _UprootWriter(path)


# Records sent to the writer process per message.
_RECORDS_PER_MESSAGE = 256


# ZRecords as text fields per record and two buffers, which pickle fast.
PackedRecords = tuple[list[tuple[str, ...]], bytes, bytes]


def _pack(records: list[ZRecord]) -> PackedRecords:
    """Return records as text fields and two buffers."""
    if not records:
        return [], b"", b""
    fields = [
        (r.file, r.name, r.key, r.title, r.x_title, str(r.edges.size)) for r in records
    ]
    edges = np.concatenate([r.edges for r in records]).astype(np.float64, copy=False)
    z = np.concatenate([r.z for r in records]).astype(np.float64, copy=False)
    return fields, edges.tobytes(), z.tobytes()


def _unpack(message: PackedRecords) -> list[ZRecord]:
    fields, edge_buffer, z_buffer = message
    edges = np.frombuffer(edge_buffer, dtype=np.float64)
    z = np.frombuffer(z_buffer, dtype=np.float64)
    records = []
    edge_start = z_start = 0
    for file, name, key, title, x_title, size in fields:
        n_edges = int(size)
        records.append(
            ZRecord(
                file,
                name,
                key,
                title,
                x_title,
                edges[edge_start : edge_start + n_edges],
                z[z_start : z_start + n_edges - 1],
            )
        )
        edge_start += n_edges
        z_start += n_edges - 1
    return records


def summary_entry(
    result: ScanResult, extra_fields: Mapping[str, Any] | None = None
) -> bytes:
    """Return the ``summary.json`` entry of a result as UTF-8 JSON."""
    entry = result_to_dict(result, numpy_arrays=True)
    if extra_fields:
        entry.update(extra_fields)
    # orjson writes NaN and inf as null, also inside numpy arrays, as
    # result_to_dict does in its lists.
    return orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclasses.dataclass
class PreparedResults:
    """Results as :meth:`StreamingOutputs.add_prepared` writes them.

    A worker process makes them where the results are. Then only the text of
    the ``summary.json`` entries and the packed Z histograms travel to the
    process that writes, in place of pickled results, which took about 0.1 ms
    per result to unpickle.
    """

    keys: list[str]
    entries: list[bytes]
    records: PackedRecords

    @classmethod
    def of(cls, results: list[ScanResult]) -> PreparedResults:
        return cls(
            [result.key for result in results],
            [summary_entry(result) for result in results],
            _pack([ZRecord.of(result) for result in results]),
        )


def _serve_writer(
    connection: Any, path: str, writer: str, log_level: int, log_format: str | None
) -> None:
    """Run the writer process: write the records it receives until a close request."""
    import signal

    from ._workers import use_parent_logging

    # The scan's process decides when to stop: it closes the writer after an
    # interrupt too, so that the results so far are written.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    use_parent_logging(log_level, log_format)
    try:
        target = _significance_writer(Path(path), writer)
    except Exception as error:
        connection.send(("error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ok", ""))
    while True:
        try:
            kind, payload = connection.recv()
        except EOFError:
            # The scan's process is gone; its temporary file is of no use.
            target.close()
            return
        try:
            if kind == "write":
                for record in _unpack(payload):
                    _write_logged(target, record)
                continue
            if kind == "snapshot":
                target.snapshot(Path(payload))
            else:
                target.close()
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))
        else:
            connection.send(("ok", ""))
        if kind == "close":
            return


class _ProcessWriter:
    """Writes ``significance.root`` in a process of its own.

    The scan's process then needs no ROOT when worker processes scan: PyROOT
    takes several hundred MB in each process that imports it. On Linux the writer
    is forked from the workers' fork server, which has imported ROOT (see
    :mod:`bumpnet_root._workers`), so it starts at once and shares that
    memory. Records go to it in messages of a few hundred; it writes them
    with the writer of :func:`_significance_writer` and logs what it cannot
    write. It ignores SIGINT and SIGTERM: the scan's process closes it.
    """

    def __init__(self, path: Path, writer: str) -> None:
        from ._workers import parent_logging, worker_context

        context = worker_context()
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve_writer,
            args=(child, str(path), writer, *parent_logging()),
            name="bumpnet-root significance.root writer",
            daemon=True,
        )
        self._process.start()
        child.close()
        # At exit, multiprocessing stops its daemon processes with SIGTERM,
        # which the writer ignores, and then waits for them. Closing this end
        # of the pipe before that ends the writer, after an error too.
        multiprocessing.util.Finalize(self, self._connection.close, exitpriority=10)
        self._records: list[ZRecord] = []
        self._reply("open it")

    def write(self, record: ZRecord) -> None:
        self._records.append(record)
        if len(self._records) >= _RECORDS_PER_MESSAGE:
            self._flush()

    def write_many(self, records: PackedRecords) -> None:
        self._flush()
        self._send("write", records)

    def snapshot(self, destination: Path) -> None:
        self._flush()
        self._send("snapshot", str(destination))
        self._reply("copy it")

    def close(self) -> None:
        try:
            self._flush()
            self._send("close", "")
            self._reply("close it")
        finally:
            self._connection.close()
            self._process.join(timeout=60)

    def _flush(self) -> None:
        if self._records:
            records, self._records = self._records, []
            self._send("write", _pack(records))

    def _send(self, kind: str, payload: Any) -> None:
        try:
            self._connection.send((kind, payload))
        except OSError as error:
            raise self._stopped(error) from error

    def _reply(self, action: str) -> None:
        try:
            status, message = self._connection.recv()
        except (EOFError, OSError) as error:
            raise self._stopped(error) from error
        if status != "ok":
            raise OSError(
                f"the process that writes significance.root failed to {action}: "
                f"{message}"
            )

    def _stopped(self, error: BaseException) -> WorkerError:
        self._process.join(timeout=5)
        return WorkerError(
            f"the process that writes significance.root stopped (exit code "
            f"{self._process.exitcode}, {type(error).__name__}); if the machine "
            "ran out of memory, run the scan with fewer jobs"
        )


class StreamingOutputs:
    """Write the scan outputs into ``out_dir`` while results arrive.

    Call :meth:`add` for each result, then :meth:`finish` (or :meth:`abort`).
    ``writer`` picks the library for ``significance.root``: 'auto' (PyROOT if
    importable), 'pyroot' or 'uproot'. With ``separate_process``, the file is
    written by a process of its own (see :class:`_ProcessWriter`); if that
    process stops, :meth:`add` raises :class:`bumpnet_root.errors.WorkerError`
    and :meth:`finish` writes the other outputs.
    """

    def __init__(
        self, out_dir: str | Path, writer: str = "auto", separate_process: bool = False
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self._objects: set[str] = set()
        self._summary_path = _temporary_path(self.out_dir / SUMMARY_JSON)
        self._root_path = _temporary_path(self.out_dir / SIGNIFICANCE_ROOT)
        self._summary = open(self._summary_path, "w", encoding="utf-8")
        self._root_failure: WorkerError | None = None
        try:
            self._summary.write("[")
            if separate_process:
                self._root = _ProcessWriter(self._root_path, writer)
            else:
                self._root = _significance_writer(self._root_path, writer)
        except WorkerError as error:
            self.abort()
            raise OSError(str(error)) from error
        except BaseException:
            self.abort()
            raise
        self._closed = False

    def add(
        self, result: ScanResult, extra_fields: Mapping[str, Any] | None = None
    ) -> None:
        """Append one result to ``summary.json`` and ``significance.root``."""
        key = self._writable_key(result.file, result.name, result.key)
        if key != result.key:
            result = dataclasses.replace(result, key=key)
        self._check_root()
        try:
            _write_logged(self._root, ZRecord.of(result))
        except WorkerError as error:
            self._root_failure = error
            raise
        self._append_entry(summary_entry(result, extra_fields))

    def add_prepared(self, prepared: PreparedResults) -> None:
        """Append results made into :class:`PreparedResults`, as :meth:`add` does."""
        fields, edges, z = prepared.records
        fields = list(fields)
        entries = list(prepared.entries)
        for index, key in enumerate(prepared.keys):
            file, name = fields[index][:2]
            writable = self._writable_key(file, name, key)
            if writable != key:
                fields[index] = (file, name, writable, *fields[index][3:])
                entry = orjson.loads(entries[index])
                entry["key"] = writable
                entries[index] = orjson.dumps(entry)
        self._check_root()
        try:
            if isinstance(self._root, _ProcessWriter):
                self._root.write_many((fields, edges, z))
            else:
                for record in _unpack((fields, edges, z)):
                    _write_logged(self._root, record)
        except WorkerError as error:
            self._root_failure = error
            raise
        for entry in entries:
            self._append_entry(entry)

    def _writable_key(self, file: str, name: str, key: str) -> str:
        """Return the key under which a result is written, and reserve it."""
        # A key "a/b" after a histogram "a" needs a directory "a" that cannot
        # exist, so such a result is written as "a__b" (see writable_keys),
        # and a later key "a__b" as "a__b__2".
        writable = writable_key(key, self._objects)
        if writable != key:
            logger.warning(
                "the Z histogram of %s:%s cannot be written as %r, because "
                "another histogram has that name or the name of its directory; "
                "it is written as %r",
                file,
                name,
                key,
                writable,
            )
        self._objects.add(writable)
        return writable

    def _check_root(self) -> None:
        """Raise the error of a writer process that stopped before."""
        if self._root_failure is not None:
            raise self._root_failure

    def _append_entry(self, entry: bytes) -> None:
        self._summary.write(("\n" if self.count == 0 else ",\n") + entry.decode())
        self.count += 1

    def publish(
        self,
        report: ScanReport,
        threshold: float,
        model: dict[str, Any],
        report_fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the outputs of the results so far, each file replaced atomically.

        The scan goes on writing afterwards; a checkpoint calls this so that
        an interrupted or killed scan leaves complete outputs behind.
        """
        self._summary.flush()
        summary = _temporary_path(self.out_dir / SUMMARY_JSON)
        significance = _temporary_path(self.out_dir / SIGNIFICANCE_ROOT)
        try:
            shutil.copyfile(self._summary_path, summary)
            with open(summary, "a", encoding="utf-8") as stream:
                stream.write("\n]\n")
            try:
                self._root.snapshot(significance)
            except WorkerError as error:
                self._root_failure = error
                raise
            os.replace(summary, self.out_dir / SUMMARY_JSON)
            os.replace(significance, self.out_dir / SIGNIFICANCE_ROOT)
        finally:
            for path in (summary, significance):
                if path.exists():
                    path.unlink()
        self._write_tables(report, threshold, model, report_fields)

    def _write_tables(
        self,
        report: ScanReport,
        threshold: float,
        model: dict[str, Any],
        report_fields: Mapping[str, Any] | None,
    ) -> dict[str, Path]:
        content = report_to_dict(report, threshold, model)
        content.update(report_fields or {})
        return {
            REPORT_JSON: atomic_write_text(
                self.out_dir / REPORT_JSON,
                json.dumps(content, indent=2, allow_nan=False) + "\n",
            ),
            SUMMARY_CSV: atomic_write_text(
                self.out_dir / SUMMARY_CSV, candidates_csv(report)
            ),
        }

    def finish(
        self,
        report: ScanReport,
        threshold: float,
        model: dict[str, Any],
        report_fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Path]:
        """Write the remaining outputs and move all into place; return their paths.

        ``report_fields`` are added to ``scan_report.json``. ``report`` may
        hold :class:`bumpnet_root.parallel.ResultSummary` objects in place of
        results, because only the candidate table needs it. If the process
        that writes ``significance.root`` stopped, the other files are written
        and a ``significance.root`` of an earlier scan is removed.
        """
        self._summary.write("\n]\n")
        self._summary.close()
        root_complete = self._close_root()
        self._closed = True
        written = {SUMMARY_JSON: self.out_dir / SUMMARY_JSON}
        try:
            os.replace(self._summary_path, written[SUMMARY_JSON])
            if root_complete:
                written[SIGNIFICANCE_ROOT] = self.out_dir / SIGNIFICANCE_ROOT
                os.replace(self._root_path, written[SIGNIFICANCE_ROOT])
            else:
                (self.out_dir / SIGNIFICANCE_ROOT).unlink(missing_ok=True)
        finally:
            self._remove_temporary_files()
        written.update(self._write_tables(report, threshold, model, report_fields))
        for path in written.values():
            logger.debug("wrote %s", path)
        return written

    def _close_root(self) -> bool:
        """Close ``significance.root``; return False if its writer process stopped."""
        if self._root_failure is not None:
            # add() or publish() raised this error before, and the caller
            # logged it.
            logger.error(
                "significance.root is not written, because its writer process "
                "stopped; summary.json has the Z of every scanned histogram"
            )
            return False
        try:
            self._root.close()
        except WorkerError as error:
            self._root_failure = error
            logger.error(
                "%s; significance.root is not written, summary.json has the Z of "
                "every scanned histogram",
                error,
            )
            return False
        return True

    def abort(self) -> None:
        """Close and remove the temporary files; the previous outputs stay."""
        if not getattr(self, "_closed", False):
            self._summary.close()
            root = getattr(self, "_root", None)
            if root is not None:
                try:
                    root.close()
                except (OSError, WorkerError) as error:
                    logger.warning("failed to close %s: %s", self._root_path, error)
            self._closed = True
        self._remove_temporary_files()

    def _remove_temporary_files(self) -> None:
        for path in (self._summary_path, self._root_path):
            if path.exists():
                path.unlink()


class StreamingCheckpoint:
    """Publishes the outputs of a streaming scan at most every ``interval`` seconds.

    Pass :meth:`save_if_due` as ``on_batch_done`` to
    :func:`bumpnet_root.parallel.scan_files_fast`. ``report_fields`` is called
    at each save for the extra fields of ``scan_report.json``. A failed save
    is logged and the scan goes on, because the outputs are written at its end.
    """

    def __init__(
        self,
        outputs: StreamingOutputs,
        report: ScanReport,
        threshold: float,
        model: dict[str, Any],
        interval: float,
        report_fields: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.outputs = outputs
        self.report = report
        self.threshold = threshold
        self.model = model
        self.interval = interval
        self.report_fields = report_fields
        self.saves = 0
        self.failures = 0
        self._last_save = time.monotonic()

    def save_if_due(self, _path: str = "") -> None:
        """Publish the outputs if ``interval`` seconds have passed since the last."""
        if time.monotonic() - self._last_save < self.interval:
            return
        self._last_save = time.monotonic()
        from .interrupts import interrupts_deferred

        fields = self.report_fields() if self.report_fields is not None else None
        try:
            with interrupts_deferred():
                self.outputs.publish(self.report, self.threshold, self.model, fields)
        except OSError as error:
            self.failures += 1
            if self.failures == 1:
                logger.error(
                    "failed to save the results so far into %s: %s; the scan goes "
                    "on and writes them at its end",
                    self.outputs.out_dir,
                    error,
                )
            return
        self.saves += 1
        logger.debug(
            "saved %d scanned histograms into %s",
            self.outputs.count,
            self.outputs.out_dir,
        )
