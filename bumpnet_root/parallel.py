"""Fast scans of many histograms: in chunks, on worker processes or on Dask.

:func:`scan_files_fast` scans the same objects with the same rules as
:func:`bumpnet_root.scan.scan_files`, with four differences:

* Files are read with PyROOT when it is importable (:mod:`bumpnet_root._fastread`).
* The objects of each file are split into chunks of ``chunk_size`` objects,
  and a smaller file into a few chunks (:func:`task_size`).
  Each chunk is one task: read, scan, look-elsewhere correction. The tasks run
  in this process (``jobs=1``), on ``jobs`` worker processes that each load
  the model once, or on the workers of a Dask cluster (``scheduler``).
* The objects of each file are scanned in the order of their names, the order
  in which ``bumpnet scan`` writes its outputs. Results come back in the order
  of the tasks, so the report, the callbacks and the outputs are the same for
  every ``jobs`` and for Dask. The network's
  output does not depend on how histograms are grouped into batches (see
  :mod:`bumpnet_root.inference`). The likelihood ratio runs on groups of
  rows, whose sums can round differently: Z agrees with the serial Z to
  about 1e-13, and is the same for every ``jobs``, whose tasks are the same.
* ``on_result`` receives every result as soon as its chunk is done, and with
  ``keep_results=K`` the report keeps the arrays of the K results with the
  highest Z_max only. The others become :class:`ResultSummary` objects, so the
  memory of a long scan stays bounded while a writer streams the outputs.

With Dask, every worker must be able to read the input files and the model at
the same paths, and pickles its results back to this process.

With ``jobs`` > 1, each worker process imports the calling script's main
module before it starts, as every start method of multiprocessing but fork
does. A script that calls this function at its top level must do so under
``if __name__ == "__main__":``; without that guard, the workers fail to
start and the scan raises :class:`bumpnet_root.errors.WorkerError`.
"""

from __future__ import annotations

import heapq
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._fastread import ObjectEntry, list_entries, read_entries
from ._workers import parent_logging, use_parent_logging, worker_context
from .errors import WorkerError
from .scan import (
    DEFAULT_THRESHOLD,
    Candidate,
    FailedObject,
    ScanReport,
    ScanResult,
    SkippedObject,
    _record_file_failure,
    _scan_loaded,
    file_identity,
    output_prefixes,
    unique_file_paths,
)
from .stream import PreparedResults, StreamingOutputs

logger = logging.getLogger(__name__)

# Objects per task. The network and the likelihood ratio run once per group
# of histograms of one padded length (bumpnet_root.inference), so larger tasks
# make fewer, larger calls, but a worker keeps a task's results in memory
# until it is done. With --jobs 2 on 30,000 histograms, tasks of 4000 and
# 1000 objects took as long, and 1000 took about 100 MB less memory.
DEFAULT_CHUNK_SIZE = 1000
# Smaller files are split into this many tasks, of at least MIN_CHUNK_SIZE
# objects (see task_size). A file of 3000 histograms of 61 binnings, one task
# before, took as long with --jobs 2 as with --jobs 1, most of it to calibrate.
MIN_TASKS_PER_FILE = 4
MIN_CHUNK_SIZE = 500


@dataclass(frozen=True)
class ScanSettings:
    """Settings of a scan that every task needs; sent to each worker.

    ``lee_toys`` 0 turns the look-elsewhere correction off. ``threads`` sets
    torch's intra-op threads in each process that runs tasks (None leaves them
    as they are). ``reader`` is 'auto', 'pyroot' or 'uproot'. With
    ``prepare`` K, a task returns its results prepared for the streaming
    outputs, with the arrays of its K best results only (see
    :class:`ChunkOutput`).
    """

    model_path: str
    threshold: float = DEFAULT_THRESHOLD
    batch_size: int = 1024
    lee_toys: int = 0
    lee_cache_dir: str | None = None
    threads: int | None = 1
    reader: str = "auto"
    prepare: int | None = None


@dataclass(frozen=True)
class ChunkTask:
    """Objects ``entries`` of the file ``path`` to scan as one task."""

    path: str
    prefix: str
    entries: tuple[ObjectEntry, ...]


@dataclass
class ChunkOutput:
    """Output of one task; ``expected_false`` has one entry per result.

    With :attr:`ScanSettings.prepare` K, ``results`` contains a
    :class:`ResultSummary` per result and ``prepared`` their outputs.
    ``full_results`` maps the positions of the K results that rank first (see
    :func:`rank_key`) to those results with their arrays.
    """

    path: str
    results: list[Any] = field(default_factory=list)
    skipped: list[SkippedObject] = field(default_factory=list)
    failed: list[FailedObject] = field(default_factory=list)
    expected_false: list[float] = field(default_factory=list)
    lee_cache: dict[str, int] = field(default_factory=dict)
    prepared: PreparedResults | None = None
    full_results: dict[int, ScanResult] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultSummary:
    """A scanned histogram without its arrays, as kept by ``keep_results``.

    It has the attributes of :class:`bumpnet_root.scan.ScanResult` that the
    candidate table and ``summary.csv`` use, but no ``histogram`` or
    ``prediction``.
    """

    file: str
    name: str
    key: str
    candidates: tuple[Candidate, ...]
    x_title: str
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    z_max: float
    mass_at_z_max: float
    scan_range: tuple[float, float]
    scan_bins: tuple[int, int]
    out_of_domain: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: ScanResult) -> ResultSummary:
        return cls(
            file=result.file,
            name=result.name,
            key=result.key,
            candidates=result.candidates,
            x_title=result.x_title,
            notes=result.notes,
            warnings=result.warnings,
            z_max=result.z_max,
            mass_at_z_max=result.mass_at_z_max,
            scan_range=result.scan_range,
            scan_bins=result.scan_bins,
            out_of_domain=tuple(getattr(result, "out_of_domain", ())),
        )


@dataclass
class FastScan:
    """The report of :func:`scan_files_fast` and the look-elsewhere totals.

    ``trials`` is the number of scanned histograms. ``expected_false_candidates``
    sums, over them, the mean number of candidates above the threshold in
    background-only toys (None without the look-elsewhere correction).
    ``lee_cache`` counts calibrations found in memory, on disk and computed.
    Both totals grow as results arrive, so they are valid for an interrupted
    scan too.
    """

    report: ScanReport
    trials: int = 0
    expected_false_candidates: float | None = None
    lee_toys: int = 0
    lee_cache: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------- tasks

_calibrators: dict[tuple[int, int, str | None], Any] = {}


def _calibrator(model: Any, settings: ScanSettings) -> Any:
    """Return this process's LeeCalibrator for the model and settings."""
    from .lee import LeeCalibrator

    # load_model_cached returns a new object when the model file changed.
    key = (id(model), settings.lee_toys, settings.lee_cache_dir)
    calibrator = _calibrators.get(key)
    if calibrator is None:
        calibrator = LeeCalibrator(
            model, model.checksum, settings.lee_toys, settings.lee_cache_dir
        )
        _calibrators[key] = calibrator
    return calibrator


def _add_lee(
    results: list[ScanResult], model: Any, settings: ScanSettings, output: ChunkOutput
) -> list[ScanResult]:
    from .lee import histogram_lee

    calibrator = _calibrator(model, settings)
    before = dict(calibrator.stats)
    try:
        calibrator.prepare([result.histogram.edges for result in results])
    except (ValueError, FloatingPointError, OSError) as error:
        logger.error(
            "look-elsewhere calibration failed for %s (%s: %s); its %d histograms "
            "get no Z_global",
            output.path,
            type(error).__name__,
            error,
            len(results),
        )
        output.expected_false.extend([math.nan] * len(results))
        return results
    corrected = []
    failures = 0
    for result in results:
        domain = result.prediction.domain
        try:
            lee = histogram_lee(
                calibrator,
                result.histogram,
                result.prediction.background,
                domain.start,
                domain.stop,
                tuple(c.z for c in result.candidates),
                settings.threshold,
            )
        except (ValueError, FloatingPointError, OSError) as error:
            # The result stays, without Z_global; one message per task.
            if failures == 0:
                logger.error(
                    "look-elsewhere correction failed for %s:%s: %s: %s",
                    result.file,
                    result.name,
                    type(error).__name__,
                    error,
                )
            failures += 1
            corrected.append(result)
            output.expected_false.append(math.nan)
            continue
        if result.candidates:
            candidates = tuple(
                replace(candidate, z_global=z_global)
                for candidate, z_global in zip(result.candidates, lee.z_global)
            )
            result = replace(result, candidates=candidates)
        corrected.append(result)
        output.expected_false.append(lee.expected_false_candidates)
    if failures > 1:
        logger.error(
            "look-elsewhere correction failed for %d histograms in total", failures
        )
    output.lee_cache = {
        name: count - before.get(name, 0) for name, count in calibrator.stats.items()
    }
    return corrected


def scan_chunk(task: ChunkTask, settings: ScanSettings) -> ChunkOutput:
    """Read and scan the objects of one task; runs in any process."""
    from .inference import load_model_cached, set_torch_threads

    set_torch_threads(settings.threads)
    model = load_model_cached(settings.model_path)
    report = ScanReport()
    loaded = read_entries(task.path, task.entries, report, settings.reader)
    if loaded:
        _scan_loaded(
            task.path,
            task.prefix,
            loaded,
            model,
            settings.threshold,
            settings.batch_size,
            report,
        )
    output = ChunkOutput(task.path, skipped=report.skipped, failed=report.failed)
    if settings.lee_toys > 0 and report.results:
        output.results = _add_lee(report.results, model, settings, output)
    else:
        output.results = report.results
        output.expected_false = [math.nan] * len(report.results)
    if settings.prepare is not None:
        _prepare(output, settings.prepare)
    _release_root_module_files_once()
    return output


_module_files_released = False


def _release_root_module_files_once() -> None:
    """After the first task in a process that uses ROOT, unmap its module files.

    The first task compiles the reader's helpers and looks up ROOT's classes,
    which reads parts of ROOT's module files again; later tasks read little.
    See :func:`bumpnet_root._root.release_module_file_pages`.
    """
    global _module_files_released
    if _module_files_released or "ROOT" not in sys.modules:
        return
    from ._root import release_module_file_pages

    release_module_file_pages()
    _module_files_released = True


def rank_key(result: Any) -> tuple[bool, float]:
    """Return the key by which results are plotted, largest first.

    Histograms inside the training domain come first, then by Z_max; see
    :func:`bumpnet_root.plotting.plot_top_results`.
    """
    return (not result.out_of_domain, result.z_max)


def _prepare(output: ChunkOutput, keep: int) -> None:
    """Replace the results of ``output`` by their prepared outputs; see ChunkOutput."""
    results = output.results
    best = heapq.nlargest(
        keep, range(len(results)), key=lambda i: (rank_key(results[i]), -i)
    )
    output.full_results = {index: results[index] for index in best}
    output.prepared = PreparedResults.of(results)
    output.results = [ResultSummary.of(result) for result in results]


def _initialise_worker(
    settings: ScanSettings,
    log_level: int = logging.WARNING,
    log_format: str | None = None,
) -> None:
    use_parent_logging(log_level, log_format)
    from .inference import load_model_cached, set_torch_threads

    set_torch_threads(settings.threads)
    try:
        load_model_cached(settings.model_path)
    except Exception as error:
        # An initializer that raises only breaks the pool. So the first task
        # loads the model again and sends the error to the caller, which
        # reports it in one line.
        logger.debug(
            "worker failed to load %s: %s: %s",
            settings.model_path,
            type(error).__name__,
            error,
        )


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class _FileStart:
    path: str


@dataclass(frozen=True)
class _FileEnd:
    path: str


_Item = Any  # _FileStart | ChunkTask | ChunkOutput | _FileEnd


def list_file(
    path: str, select: Sequence[str], reader: str
) -> tuple[list[ObjectEntry], list[SkippedObject]]:
    """List the objects of a file to scan and the file's skip; runs in any process."""
    listing = ScanReport()
    entries = list_entries(path, select, None, reader, listing)
    return entries, listing.skipped


_Lister = Callable[[str, Sequence[str], str], tuple[list[ObjectEntry], list[Any]]]


def _plan(
    paths: Sequence[str],
    select: Sequence[str],
    done: Callable[[str, str], bool] | None,
    settings: ScanSettings,
    chunk_size: int,
    lister: _Lister = list_file,
) -> Iterator[_Item]:
    """Yield, per file: its start, its tasks (or its failure), its end.

    ``lister`` lists a file (:func:`list_file`, here or in a worker).
    """
    prefixes = output_prefixes(paths)
    for path in paths:
        yield _FileStart(path)
        # Logged here, just before the listing, and not where the scan takes
        # the file's results: the workers log the file's skipped objects while
        # they list it, which can be while the scan merges an earlier file.
        logger.info("reading %s", path)
        try:
            entries, skipped = lister(path, select, settings.reader)
            if done is not None:
                entries = [entry for entry in entries if not done(path, entry.name)]
            entries.sort(key=lambda entry: entry.name)
            if skipped:
                yield ChunkOutput(path, skipped=skipped)
        except BrokenProcessPool:
            raise
        except Exception as error:
            failed = ScanReport()
            _record_file_failure(failed, path, error)
            yield ChunkOutput(path, failed=failed.failed)
            entries = []
        size = task_size(len(entries), chunk_size)
        for first in range(0, len(entries), size):
            chunk = tuple(entries[first : first + size])
            yield ChunkTask(path, prefixes[path], chunk)
        yield _FileEnd(path)


def task_size(count: int, chunk_size: int) -> int:
    """Return the number of objects per task for a file of ``count`` objects.

    ``chunk_size``, but a file of fewer than ``MIN_TASKS_PER_FILE`` times
    that many objects is still split into that many tasks, of at least
    ``MIN_CHUNK_SIZE`` objects, so that the workers share it (and its
    look-elsewhere calibrations). The size does not depend on the number of
    workers, so every ``jobs`` value scans the same tasks and gets the same Z.
    """
    share = -(-count // MIN_TASKS_PER_FILE)
    return max(1, min(chunk_size, max(MIN_CHUNK_SIZE, share)))


def _run_ordered(
    items: Iterable[_Item],
    submit: Callable[[ChunkTask], Any],
    window: int,
) -> Iterator[_Item]:
    """Submit tasks ahead, at most ``window`` at a time; yield items in order."""
    pending: deque[tuple[bool, Any]] = deque()
    in_flight = 0
    for item in items:
        if isinstance(item, ChunkTask):
            pending.append((True, submit(item)))
            in_flight += 1
        else:
            pending.append((False, item))
        while pending and (in_flight >= window or not pending[0][0]):
            is_future, value = pending.popleft()
            if is_future:
                in_flight -= 1
                yield value.result()
            else:
                yield value
    while pending:
        is_future, value = pending.popleft()
        yield value.result() if is_future else value


def _run_serial(items: Iterable[_Item], settings: ScanSettings) -> Iterator[_Item]:
    for item in items:
        yield scan_chunk(item, settings) if isinstance(item, ChunkTask) else item


def _run_processes(
    plan: Callable[[_Lister], Iterable[_Item]], settings: ScanSettings, jobs: int
) -> Iterator[_Item]:
    """Run the tasks of ``plan`` on worker processes, which list the files too.

    Listing in a worker keeps ROOT out of this process, where PyROOT would
    take several hundred MB besides the workers' own.
    """
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=worker_context(),
        initializer=_initialise_worker,
        initargs=(settings, *parent_logging()),
    )

    # The pool starts a worker per task submitted while none is idle. So the
    # first file's listing starts one and these start the others, which load
    # the model meanwhile.
    for _ in range(jobs - 1):
        pool.submit(int)

    def lister(
        path: str, select: Sequence[str], reader: str
    ) -> tuple[list[ObjectEntry], list[Any]]:
        return pool.submit(list_file, path, select, reader).result()

    try:
        yield from _run_ordered(
            plan(lister), lambda task: pool.submit(scan_chunk, task, settings), 2 * jobs
        )
    except BrokenProcessPool as error:
        raise WorkerError(
            f"a worker process of the scan stopped ({error}); the log above may "
            f"say why, for example a model file {settings.model_path!r} that "
            "does not load; run the scan with --jobs 1 to see the error, or "
            "with fewer jobs if the machine ran out of memory"
        ) from error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(
    items: Iterable[_Item], settings: ScanSettings, scheduler: str
) -> Iterator[_Item]:
    try:
        from distributed import Client
    except ImportError as error:
        from .errors import MissingDependencyError

        raise MissingDependencyError(
            "scanning on a Dask cluster needs dask.distributed; install it with "
            "`pip install 'bumpnet-root[dask]'`"
        ) from error
    with Client(scheduler, set_as_default=False) as client:
        workers = max(1, sum(client.nthreads().values()))
        logger.info("scanning on the Dask cluster %s (%d threads)", scheduler, workers)
        yield from _run_ordered(
            items,
            lambda task: client.submit(scan_chunk, task, settings, pure=False),
            2 * workers,
        )


# ---------------------------------------------------------------- results


class _TopResults:
    """Keep the arrays of the ``limit`` results that rank first only.

    Results rank by :func:`rank_key`, so the results with arrays are those
    that ``bumpnet scan`` plots.
    """

    def __init__(self, report: ScanReport, limit: int) -> None:
        self.report = report
        self.limit = limit
        # (rank key, sequence number, position in report.results)
        self.heap: list[tuple[tuple[bool, float], int, int]] = []
        self.summaries: dict[int, ResultSummary] = {}
        self.count = 0

    def add(self, result: Any, summary: ResultSummary | None = None) -> None:
        """Add a result; ``summary`` takes its place if it loses its arrays."""
        position = len(self.report.results)
        entry = (rank_key(result), -self.count, position)
        self.count += 1
        if isinstance(result, ResultSummary):
            self.report.results.append(result)
            return
        if len(self.heap) < self.limit or (self.heap and entry > self.heap[0]):
            self.report.results.append(result)
            if summary is not None:
                self.summaries[position] = summary
            if len(self.heap) < self.limit:
                heapq.heappush(self.heap, entry)
                return
            _, _, dropped = heapq.heapreplace(self.heap, entry)
            self.report.results[dropped] = self.summaries.pop(
                dropped, None
            ) or ResultSummary.of(self.report.results[dropped])
        else:
            self.report.results.append(summary or ResultSummary.of(result))


def scan_files_fast(
    paths: Sequence[str | Path],
    model_path: str | Path,
    select: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = 1024,
    jobs: int = 1,
    scheduler: str | None = None,
    lee_toys: int = 0,
    lee_cache_dir: str | Path | None = None,
    threads: int | None = 1,
    reader: str = "auto",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    report: ScanReport | None = None,
    done: Callable[[str, str], bool] | None = None,
    on_result: Callable[[ScanResult], None] | None = None,
    on_file_done: Callable[[str], None] | None = None,
    on_batch_done: Callable[[str], None] | None = None,
    keep_results: int | None = None,
    scan: FastScan | None = None,
    outputs: StreamingOutputs | None = None,
) -> FastScan:
    """Scan the 1-D histograms of ROOT files in chunks; see the module docstring.

    ``select``, ``report``, ``done``, ``on_file_done`` and ``on_batch_done``
    (called after each task's results were added) work as in
    :func:`bumpnet_root.scan.scan_files`. ``jobs`` > 1 runs the tasks on that
    many worker processes, and ``scheduler`` (a Dask scheduler address such as
    ``tcp://127.0.0.1:8786``) on a Dask cluster instead. ``lee_toys`` > 0 adds
    the look-elsewhere correction with that many toys per binning. Pass
    ``scan`` to collect into an existing :class:`FastScan` (its report is used
    and ``report`` ignored), so a caller keeps the totals of an interrupted
    scan. Every result goes to ``outputs``, if given, in place of
    ``on_result``; with ``keep_results`` too, the tasks prepare the outputs
    (see :class:`bumpnet_root.stream.PreparedResults`).
    """
    if outputs is not None and on_result is not None:
        raise ValueError("pass on_result or outputs, not both")
    for name, value, minimum in (
        ("batch_size", batch_size, 1),
        ("jobs", jobs, 1),
        ("chunk_size", chunk_size, 1),
        ("lee_toys", lee_toys, 0),
    ):
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if keep_results is not None and keep_results < 0:
        raise ValueError(f"keep_results must be at least 0, got {keep_results}")
    from .lee import warn_if_few_toys

    warn_if_few_toys(lee_toys)
    started = time.perf_counter()
    settings = ScanSettings(
        model_path=str(Path(model_path).resolve()),
        threshold=threshold,
        batch_size=batch_size,
        lee_toys=lee_toys,
        lee_cache_dir=None if lee_cache_dir is None else str(lee_cache_dir),
        threads=threads,
        reader=reader,
        prepare=keep_results if outputs is not None else None,
    )
    if scan is None:
        scan = FastScan(report=ScanReport() if report is None else report)
    report = scan.report
    scan.lee_toys = lee_toys
    if lee_toys > 0 and scan.expected_false_candidates is None:
        scan.expected_false_candidates = 0.0
    unique_paths = unique_file_paths(paths)

    def plan(lister: _Lister = list_file) -> Iterator[_Item]:
        return _plan(unique_paths, select, done, settings, chunk_size, lister)

    if scheduler is not None:
        items = _run_dask(plan(), settings, scheduler)
    elif jobs > 1:
        items = _run_processes(plan, settings, jobs)
    else:
        items = _run_serial(plan(), settings)
    keeper = _TopResults(report, keep_results) if keep_results is not None else None
    if outputs is not None:
        on_result = outputs.add
    report.complete = False
    try:
        for item in items:
            if isinstance(item, _FileStart):
                report.files.append(item.path)
                identity = file_identity(item.path)
                if identity is not None:
                    report.inputs[item.path] = identity
            elif isinstance(item, _FileEnd):
                if on_file_done is not None:
                    on_file_done(item.path)
            else:
                _merge(item, report, scan, keeper, on_result, outputs)
                if on_batch_done is not None:
                    on_batch_done(item.path)
    finally:
        # Stops the worker processes here and now when a callback raised,
        # not later on whichever thread collects the generator.
        items.close()
    report.complete = True
    scan.seconds += time.perf_counter() - started
    return scan


def _merge(
    output: ChunkOutput,
    report: ScanReport,
    scan: FastScan,
    keeper: _TopResults | None,
    on_result: Callable[[ScanResult], None] | None,
    outputs: StreamingOutputs | None,
) -> None:
    """Add one task's output to the report and the totals."""
    report.skipped.extend(output.skipped)
    report.failed.extend(output.failed)
    for name, count in output.lee_cache.items():
        scan.lee_cache[name] = scan.lee_cache.get(name, 0) + count
    if output.prepared is None:
        for result in output.results:
            if on_result is not None:
                on_result(result)
            if keeper is None:
                report.results.append(result)
            else:
                keeper.add(result)
    else:
        if outputs is not None:
            outputs.add_prepared(output.prepared)
        for position, summary in enumerate(output.results):
            result = output.full_results.get(position) or summary
            if keeper is None:
                report.results.append(result)
            else:
                keeper.add(result, summary)
    scan.trials += len(output.results)
    if scan.expected_false_candidates is not None:
        scan.expected_false_candidates += sum(
            value for value in output.expected_false if not math.isnan(value)
        )


def add_lee_to_results(
    results: list[ScanResult],
    model_path: str | Path,
    lee_toys: int,
    threshold: float = DEFAULT_THRESHOLD,
    lee_cache_dir: str | Path | None = None,
) -> tuple[list[ScanResult], float]:
    """Return the results with Z_global and their expected false candidates.

    For results scanned before (``bumpnet scan --resume``), in this process.
    """
    settings = ScanSettings(
        model_path=str(Path(model_path).resolve()),
        threshold=threshold,
        lee_toys=lee_toys,
        lee_cache_dir=None if lee_cache_dir is None else str(lee_cache_dir),
        threads=None,
    )
    from .inference import load_model_cached

    output = ChunkOutput("")
    model = load_model_cached(settings.model_path)
    corrected = _add_lee(results, model, settings, output)
    expected = sum(value for value in output.expected_false if not math.isnan(value))
    return corrected, expected
