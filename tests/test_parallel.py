"""Scans on worker processes and on a Dask cluster equal the serial scan."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import uproot
from cli_helpers import run_cli
from histogram_files import write_spectra_file

from bumpnet_root.io import result_to_dict
from bumpnet_root.parallel import (
    ResultSummary,
    _TopResults,
    rank_key,
    scan_files_fast,
)
from bumpnet_root.scan import ScanReport, ScanResult
from bumpnet_root.stream import StreamingOutputs

pytestmark = pytest.mark.root

CHUNK = 40
LEE_TOYS = 30


@pytest.fixture(scope="module")
def input_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    directory = tmp_path_factory.mktemp("parallel")
    first = directory / "first.root"
    second = directory / "second.root"
    write_spectra_file(first, 150, seed=1, per_directory=60)
    write_spectra_file(second, 60, seed=2)
    damaged = directory / "damaged.root"
    damaged.write_bytes(b"root" + bytes(200))
    missing = directory / "missing.root"
    return [str(first), str(missing), str(damaged), str(second)]


@pytest.fixture(scope="module")
def lee_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lee_cache")


def _scan(files, model_path, lee_cache, **options):
    return scan_files_fast(
        files,
        model_path,
        chunk_size=CHUNK,
        lee_toys=LEE_TOYS,
        lee_cache_dir=lee_cache,
        **options,
    )


@pytest.fixture(scope="module")
def serial(input_files, model_path, lee_cache):
    return _scan(input_files, model_path, lee_cache, jobs=1)


def _assert_same_scan(got, expected) -> None:
    assert got.report.files == expected.report.files
    assert got.report.skipped == expected.report.skipped
    assert got.report.failed == expected.report.failed
    assert len(got.report.results) == len(expected.report.results)
    for mine, theirs in zip(got.report.results, expected.report.results):
        assert isinstance(mine, ScanResult)
        assert mine.key == theirs.key
        assert (mine.file, mine.name) == (theirs.file, theirs.name)
        np.testing.assert_array_equal(mine.prediction.z, theirs.prediction.z)
        np.testing.assert_array_equal(
            mine.prediction.background, theirs.prediction.background
        )
        assert mine.candidates == theirs.candidates
    assert got.trials == expected.trials
    assert got.expected_false_candidates == expected.expected_false_candidates


def test_serial_scan_reads_every_object(serial, input_files):
    report = serial.report
    assert report.files == input_files
    assert serial.trials == 210
    assert len(report.results) == 210
    skipped = {(Path(s.file).name, s.name) for s in report.skipped}
    for file_name in ("first.root", "second.root"):
        assert (file_name, "other/map") in skipped
        assert (file_name, "other/profile") in skipped
        assert (file_name, "other/labels") in skipped
    # The header of damaged.root reads as a file without keys, with PyROOT
    # (whose TFile.Open rejects it, so uproot lists it) as with uproot.
    assert ("damaged.root", "") in skipped
    failed_files = [Path(f.file).name for f in report.failed]
    assert failed_files == ["missing.root"]
    assert report.complete


def test_results_in_name_order_per_file(serial):
    names = [r.name for r in serial.report.results if r.file.endswith("first.root")]
    assert names == sorted(names)


def test_lee_adds_global_z_to_every_candidate(serial):
    candidates = [c for r in serial.report.results for c in r.candidates]
    assert candidates
    for candidate in candidates:
        assert candidate.z_global is not None
        assert candidate.z_global <= candidate.z
    assert serial.expected_false_candidates > 0


@pytest.mark.parametrize("start", ["forkserver", "spawn"])
def test_processes_equal_serial(
    serial, input_files, model_path, lee_cache, start, monkeypatch
):
    import multiprocessing

    from bumpnet_root import parallel

    if start == "spawn":
        # The start method of systems other than Linux.
        monkeypatch.setattr(
            parallel, "worker_context", lambda: multiprocessing.get_context("spawn")
        )
    finished = []
    scan = _scan(
        input_files, model_path, lee_cache, jobs=2, on_file_done=finished.append
    )
    _assert_same_scan(scan, serial)
    assert finished == input_files


def test_dask_cluster_equals_serial(
    serial, input_files, model_path, lee_cache, tmp_path
):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        on_dask = _scan(
            input_files, model_path, lee_cache, scheduler=cluster.scheduler_address
        )
        # Outputs prepared by the cluster's workers, written here.
        outputs = StreamingOutputs(tmp_path)
        prepared = _scan(
            input_files,
            model_path,
            lee_cache,
            scheduler=cluster.scheduler_address,
            keep_results=3,
            outputs=outputs,
        )
        outputs.finish(prepared.report, 5.0, {"path": "model.pt"})
    _assert_same_scan(on_dask, serial)
    summaries = json.loads((tmp_path / "summary.json").read_text())
    assert [s["z_max"] for s in summaries] == [r.z_max for r in serial.report.results]


def test_keep_results_bounds_arrays(serial, input_files, model_path, lee_cache):
    seen: list[ScanResult] = []
    bounded = _scan(
        input_files, model_path, lee_cache, keep_results=5, on_result=seen.append
    )
    full = [r for r in bounded.report.results if isinstance(r, ScanResult)]
    assert len(full) == 5
    assert len(bounded.report.results) == len(serial.report.results)
    assert len(seen) == len(serial.report.results)
    top = sorted(serial.report.results, key=rank_key, reverse=True)[:5]
    assert {r.key for r in full} == {r.key for r in top}
    # The candidate table works on the kept summaries as on full results.
    ranked = [(r.key, c) for r, c in bounded.report.ranked_candidates()]
    assert ranked == [(r.key, c) for r, c in serial.report.ranked_candidates()]


def test_prepared_outputs_equal_serial(
    serial, input_files, model_path, lee_cache, tmp_path
):
    outputs = StreamingOutputs(tmp_path, separate_process=True)
    bounded = _scan(
        input_files, model_path, lee_cache, jobs=2, keep_results=5, outputs=outputs
    )
    outputs.finish(bounded.report, 5.0, {"path": "model.pt"})
    full = [r for r in bounded.report.results if isinstance(r, ScanResult)]
    top = sorted(serial.report.results, key=rank_key, reverse=True)[:5]
    assert [r.key for r in full] == [r.key for r in serial.report.results if r in top]
    assert bounded.trials == len(serial.report.results)
    summaries = json.loads((tmp_path / "summary.json").read_text())
    assert summaries == [
        json.loads(json.dumps(result_to_dict(r))) for r in serial.report.results
    ]
    with uproot.open(tmp_path / "significance.root") as significance:
        assert len(significance.keys(filter_classname="TH1D", recursive=True)) == (
            len(serial.report.results)
        )


def _result(index: int, out_of_domain: bool, z_max: float) -> tuple[Any, Any]:
    """Return a stand-in for a result with arrays and its summary."""
    reasons = ("rises",) if out_of_domain else ()
    summary = ResultSummary(
        file="f.root",
        name=f"h{index}",
        key=f"h{index}",
        candidates=(),
        x_title="m",
        notes=(),
        warnings=(),
        z_max=z_max,
        mass_at_z_max=1.0,
        scan_range=(0.0, 1.0),
        scan_bins=(0, 10),
        out_of_domain=reasons,
    )
    full = SimpleNamespace(key=f"h{index}", out_of_domain=reasons, z_max=z_max)
    return full, summary


def test_plotted_results_keep_arrays():
    # Plots show histograms inside the training domain first, so those keep
    # their arrays even when histograms outside it reach a higher Z.
    report = ScanReport()
    keeper = _TopResults(report, 2)
    for index, (out_of_domain, z_max) in enumerate(
        [(True, 9.0), (False, 5.0), (True, 8.0), (False, 4.0), (False, 3.0)]
    ):
        keeper.add(*_result(index, out_of_domain, z_max))
    with_arrays = [r.key for r in report.results if isinstance(r, SimpleNamespace)]
    assert with_arrays == ["h1", "h3"]
    assert [r.key for r in report.results] == ["h0", "h1", "h2", "h3", "h4"]


def test_invalid_jobs_rejected(input_files, model_path):
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        scan_files_fast(input_files, model_path, jobs=0)


def test_worker_log_lines_equal_serial(tmp_path: Path):
    edges = np.arange(61.0)
    falling = np.floor(2000.0 * np.exp(-edges[:-1] / 12.0))
    broken = falling.copy()
    broken[5] = np.nan
    path = tmp_path / "mixed.root"
    with uproot.recreate(path) as handle:
        handle["good"] = (falling, edges)
        handle["short"] = (falling[:5], edges[:6])
        handle["broken"] = (broken, edges)
    logs = {}
    for jobs in ("1", "2"):
        done = run_cli(
            "scan", path, "--out", tmp_path / jobs, "--jobs", jobs, "--no-lee"
        )
        assert done.returncode == 0, done.stderr
        logs[jobs] = sorted(
            line
            for line in done.stderr.splitlines()
            if line.startswith(("INFO: skipped", "ERROR:"))
        )
    assert len(logs["1"]) == 2, logs
    assert logs["2"] == logs["1"]


def test_small_files_split_so_workers_share_them():
    from bumpnet_root.parallel import MIN_CHUNK_SIZE, task_size

    assert task_size(30000, 4000) == 4000
    assert task_size(3000, 4000) == 750
    assert task_size(3000, 100) == 100
    assert task_size(10, 4000) == MIN_CHUNK_SIZE
    assert task_size(0, 4000) == MIN_CHUNK_SIZE
