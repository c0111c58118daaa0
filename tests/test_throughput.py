"""The fast scan path: likelihood ratio, network calls, readers, streamed outputs."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
import uproot
from histogram_files import write_spectra_file

from bumpnet_root.api import BumpNet
from bumpnet_root.errors import WorkerError
from bumpnet_root.inference import (
    FILLED_BATCH_BINS,
    NETWORK_ROWS,
    PaddedNetwork,
    evaluate_arrays,
    evaluate_rows,
    network_calls,
    network_rows,
    padded_length,
)
from bumpnet_root.io import (
    REPORT_JSON,
    SIGNIFICANCE_ROOT,
    SUMMARY_CSV,
    SUMMARY_JSON,
    writable_keys,
    write_outputs,
)
from bumpnet_root.model import BumpNetModule, likelihood_ratio_z
from bumpnet_root.parallel import ResultSummary, scan_files_fast
from bumpnet_root.scan import ScanResult, scan_files
from bumpnet_root.significance import local_significance
from bumpnet_root.stream import PreparedResults, StreamingOutputs

MODEL_INFO = {"path": "model.pt", "sha256": "0" * 64, "version": "test"}


@pytest.fixture(scope="module")
def model(model_path: Path) -> BumpNet:
    return BumpNet.load(model_path)


@pytest.fixture(scope="module")
def spectra_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("throughput") / "spectra.root"
    write_spectra_file(path, 120, seed=4, per_directory=50)
    return path


def _hard_cases(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Counts and backgrounds with excesses, deficits, empty bins and 1e6 counts."""
    rows = []
    backgrounds = []
    for scale in (0.05, 3.0, 200.0, 1e6):
        background = scale * np.exp(-np.linspace(0.0, 4.0, 50)) + 0.01
        counts = rng.poisson(background).astype(float)
        counts[20] += 6.0 * np.sqrt(background[20]) + 3.0
        counts[35:42] = 0.0
        rows.append(counts)
        backgrounds.append(background)
    return np.array(rows), np.array(backgrounds)


@pytest.mark.parametrize("uniform", [True, False])
def test_fast_likelihood_ratio_matches_numpy(uniform):
    rng = np.random.default_rng(7)
    counts, background = _hard_cases(rng)
    if uniform:
        edges = np.linspace(100.0, 600.0, 51)
    else:
        # Slowly widening bins, as a mass resolution that grows with mass.
        edges = 100.0 + np.cumsum(np.concatenate([[0.0], np.linspace(5, 15, 50)]))
    expected = local_significance(counts, background, edges)
    got = likelihood_ratio_z(
        torch.from_numpy(counts),
        torch.from_numpy(background),
        torch.from_numpy(np.tile(edges, (counts.shape[0], 1))),
    ).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_evaluate_arrays_matches_module_forward(model):
    rng = np.random.default_rng(3)
    # 32 rows: two full network batches of 16, so the background is bit for bit
    # that of one call on all rows (see bumpnet_root.inference).
    counts = rng.poisson(
        np.geomspace(3e4, 3.0, 70)[None, :] * rng.uniform(0.01, 3.0, (32, 1))
    ).astype(float)
    edges = np.tile(np.linspace(0.0, 700.0, 71), (32, 1))
    with torch.inference_mode():
        z_module, background_module = model.module(
            torch.from_numpy(counts), torch.from_numpy(edges)
        )
    z, background = evaluate_arrays(model.module, counts, edges)
    np.testing.assert_array_equal(background, background_module.numpy())
    # Where the maximum lies on the lower bound of mu, the model file's fit
    # bisects 30 times and stops about 1e-9 short of it. The fast path takes
    # the bound itself.
    np.testing.assert_allclose(z, z_module.numpy(), rtol=0, atol=1e-8)


def test_rows_independent_of_batch_of_16_or_more(model):
    rng = np.random.default_rng(5)
    counts = rng.poisson(np.geomspace(1e3, 1.0, 64)[None, :], (40, 64)).astype(float)
    edges = np.tile(np.arange(65.0), (40, 1))
    z_all, background_all = evaluate_arrays(model.module, counts, edges)
    z_part, background_part = evaluate_arrays(model.module, counts[7:23], edges[7:23])
    np.testing.assert_array_equal(background_part, background_all[7:23])
    np.testing.assert_allclose(z_part, z_all[7:23], rtol=0, atol=1e-10)


def _rows_of_many_lengths(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Falling spectra of 5 to 140 bins: equal-width, shared and widening bins."""
    rng = np.random.default_rng(seed)
    rows = []
    for number in range(count):
        n_bins = int(rng.integers(5, 141))
        shape = np.geomspace(3e4, 2.0, n_bins) * rng.uniform(0.003, 3.0)
        counts = rng.poisson(shape).astype(float)
        counts[n_bins // 2] += 5.0 * np.sqrt(shape[n_bins // 2]) + 2.0
        if number % 3 == 0:
            edges = np.linspace(0.0, 1.0, n_bins + 1)
        elif number % 3 == 1:
            edges = rng.uniform(10.0, 50.0) + np.arange(n_bins + 1.0) * 7.0
        else:
            edges = np.cumsum(np.linspace(1.0, 4.0, n_bins + 1))
        rows.append((counts, edges))
    return rows


def _assert_rows_match_alone(module, rows) -> None:
    """Check evaluate_rows on ``rows`` against evaluate_arrays on each row alone."""
    outputs = evaluate_rows(module, rows)
    for (counts, edges), (z, background) in zip(rows, outputs):
        z_alone, background_alone = evaluate_arrays(
            module, counts[None, :], edges[None, :]
        )
        # The network computes in float32: log(b + 1) agrees to its precision.
        np.testing.assert_allclose(
            np.log1p(background), np.log1p(background_alone[0]), rtol=0, atol=2e-6
        )
        np.testing.assert_allclose(z, z_alone[0], rtol=0, atol=1e-4)


def test_padded_rows_match_each_row_alone(model):
    _assert_rows_match_alone(model.module, _rows_of_many_lengths(60, seed=8))


def test_long_rows_run_without_filled_batch(model):
    rng = np.random.default_rng(12)
    rows = []
    for n_bins in (FILLED_BATCH_BINS + 1, 3000):
        counts = rng.poisson(np.geomspace(1e5, 5.0, n_bins)).astype(float)
        rows.append((counts, np.linspace(0.0, 1.0, n_bins + 1)))
    _assert_rows_match_alone(model.module, rows)


def test_padded_row_independent_of_batch(model):
    rows = _rows_of_many_lengths(40, seed=9)
    together = evaluate_rows(model.module, rows)
    for index in (0, 17, 39):
        alone = evaluate_rows(model.module, [rows[index]])[0]
        np.testing.assert_array_equal(alone[1], together[index][1])
        np.testing.assert_allclose(alone[0], together[index][0], rtol=0, atol=1e-10)


def test_network_calls_cover_sorted_rows_in_order():
    rng = np.random.default_rng(13)
    lengths = np.sort(rng.integers(5, 300, 700))
    calls = network_calls(lengths)
    assert calls[0][0] == 0
    assert calls[-1][1] == lengths.size
    for (first, stop, n_bins), following in zip(calls, [*calls[1:], None]):
        assert n_bins == padded_length(int(lengths[stop - 1]))
        assert 1 <= stop - first <= network_rows(n_bins)
        if following is not None:
            assert following[0] == stop
            # A call stops only when the next row would exceed its rows.
            next_rows = network_rows(padded_length(int(lengths[stop])))
            assert stop - first >= next_rows
    # 700 rows of 5 to 300 bins in calls of 16 to 64 rows.
    assert len(calls) < 700 / NETWORK_ROWS


@pytest.mark.parametrize("n_bins", [8, 64, 72, 128, 256, 4096, 100_000])
def test_network_rows_within_bounds(n_bins):
    rows = network_rows(n_bins)
    assert NETWORK_ROWS <= rows <= 64
    assert rows * n_bins <= 4096 or rows == NETWORK_ROWS


@pytest.mark.parametrize("n_bins", [1, 8, 9, 60, 64, 65, 100, 1000, 5000])
def test_padded_length_leaves_at_most_an_eighth_empty(n_bins):
    length = padded_length(n_bins)
    assert length >= n_bins
    assert length - n_bins <= max(7, n_bins // 8)
    assert length % 8 == 0


def test_padded_network_reads_the_layout_of_other_modules():
    torch.manual_seed(3)
    module = BumpNetModule(channels=8, kernel_size=3, dilations=(1, 3, 5))
    torch.nn.init.normal_(module.head[-1].weight, std=0.3)
    scripted = torch.jit.script(module.eval())
    network = PaddedNetwork.from_module(scripted)
    assert network is not None
    rows = _rows_of_many_lengths(20, seed=10)
    outputs = evaluate_rows(scripted, rows)
    for (counts, _), (_, background) in zip(rows, outputs):
        with torch.inference_mode():
            expected = scripted.log_background(torch.from_numpy(counts[None, :]))
        np.testing.assert_allclose(
            np.log1p(background), expected[0].numpy().clip(np.log1p(1e-3)), atol=2e-6
        )


class _WholeModule(torch.nn.Module):
    """A module without log_background: background = counts, Z from forward."""

    def forward(
        self, counts: torch.Tensor, edges: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        background = counts.to(torch.float64).clamp(min=1.0)
        z = likelihood_ratio_z(counts.to(torch.float64), background, edges)
        return z, background


def test_modules_of_another_layout_run_whole():
    scripted = torch.jit.script(_WholeModule())
    assert PaddedNetwork.from_module(scripted) is None
    rows = _rows_of_many_lengths(10, seed=11)
    outputs = evaluate_rows(scripted, rows)
    for (counts, _), (z, background) in zip(rows, outputs):
        np.testing.assert_array_equal(background, counts.clip(1.0))
        assert z.shape == counts.shape


@pytest.mark.root
@pytest.mark.parametrize("reader", ["pyroot", "uproot"])
def test_fast_scan_matches_scan_files(spectra_file, model, reader):
    reference = scan_files([spectra_file], model)
    fast = scan_files_fast([spectra_file], model.path, reader=reader, chunk_size=45)
    by_name = {r.name: r for r in reference.results}
    assert sorted(by_name) == [r.name for r in fast.report.results]
    for result in fast.report.results:
        expected = by_name[result.name]
        assert result.prediction.domain == expected.prediction.domain
        np.testing.assert_array_equal(
            result.histogram.counts, expected.histogram.counts
        )
        np.testing.assert_array_equal(result.histogram.edges, expected.histogram.edges)
        assert result.x_title == expected.x_title == "m [GeV]"
        # scan_files batches the whole file and the fast path chunks of 45.
        # The network's float32 background may differ by about 1e-7 relative
        # between batches of fewer than 16 rows and larger ones, which moves Z
        # by about 1e-7 sqrt(b): 3e-5 at 10^5 events per bin.
        np.testing.assert_allclose(
            result.prediction.z, expected.prediction.z, rtol=0, atol=1e-4
        )
        assert [c.bin for c in result.candidates] == [
            c.bin for c in expected.candidates
        ]
    skipped = sorted((s.name, s.reason) for s in fast.report.skipped)
    assert skipped == sorted((s.name, s.reason) for s in reference.skipped)
    assert fast.report.failed == reference.failed == []


def _read_z(path: Path) -> dict[str, np.ndarray]:
    with uproot.open(path) as root_file:
        return {
            key.rsplit(";", 1)[0]: root_file[key].values()
            for key, class_name in root_file.classnames(recursive=True).items()
            if class_name == "TH1D"
        }


@pytest.mark.root
@pytest.mark.parametrize(
    ("writer", "separate_process", "prepared"),
    [
        ("pyroot", False, False),
        ("uproot", False, False),
        ("auto", True, False),
        ("pyroot", False, True),
        ("auto", True, True),
    ],
)
def test_streamed_outputs_equal_write_outputs(
    spectra_file, model, tmp_path, writer, separate_process, prepared
):
    scan = scan_files_fast([spectra_file], model.path, chunk_size=45)
    reference_dir = tmp_path / "reference"
    write_outputs(scan.report, reference_dir, 3.0, MODEL_INFO)
    streamed_dir = tmp_path / "streamed"
    outputs = StreamingOutputs(
        streamed_dir, writer=writer, separate_process=separate_process
    )
    if prepared:
        # As worker processes send them: a few hundred results per message,
        # none from a task whose objects were all skipped.
        results = scan.report.results
        outputs.add_prepared(PreparedResults.of([]))
        for first in range(0, len(results), 45):
            outputs.add_prepared(PreparedResults.of(results[first : first + 45]))
    else:
        for result in scan.report.results:
            outputs.add(result)
    outputs.finish(scan.report, 3.0, MODEL_INFO)

    for name in (SUMMARY_JSON, REPORT_JSON):
        streamed = json.loads((streamed_dir / name).read_text())
        reference = json.loads((reference_dir / name).read_text())
        assert streamed == reference
    # The same bytes, so that --resume, which writes all at the end, does too.
    streamed_summary = (streamed_dir / SUMMARY_JSON).read_bytes()
    assert streamed_summary == (reference_dir / SUMMARY_JSON).read_bytes()
    streamed_csv = (streamed_dir / SUMMARY_CSV).read_text()
    assert streamed_csv == (reference_dir / SUMMARY_CSV).read_text()
    streamed_z = _read_z(streamed_dir / SIGNIFICANCE_ROOT)
    reference_z = _read_z(reference_dir / SIGNIFICANCE_ROOT)
    assert sorted(streamed_z) == sorted(reference_z)
    for key, values in reference_z.items():
        np.testing.assert_array_equal(streamed_z[key], values)
    assert not list(streamed_dir.glob(".*.tmp"))


@pytest.mark.root
@pytest.mark.parametrize("prepared", [False, True])
def test_streamed_keys_avoid_directory_names(spectra_file, model, tmp_path, prepared):
    scan = scan_files_fast([spectra_file], model.path)
    first, second, third = scan.report.results[:3]
    results = [
        dataclasses.replace(first, key="a"),
        dataclasses.replace(second, key="a/b"),
        dataclasses.replace(third, key="a__b"),
    ]
    outputs = StreamingOutputs(tmp_path, separate_process=prepared)
    if prepared:
        outputs.add_prepared(PreparedResults.of(results))
    else:
        for result in results:
            outputs.add(result)
    outputs.finish(scan.report, 3.0, MODEL_INFO)
    entries = json.loads((tmp_path / SUMMARY_JSON).read_text())
    assert [entry["key"] for entry in entries] == ["a", "a__b", "a__b__2"]
    z = _read_z(tmp_path / SIGNIFICANCE_ROOT)
    assert sorted(z) == ["a", "a__b", "a__b__2"]
    np.testing.assert_array_equal(z["a__b"], np.nan_to_num(second.prediction.z))
    np.testing.assert_array_equal(z["a__b__2"], np.nan_to_num(third.prediction.z))


def test_writable_keys_are_unique():
    keys = ["a", "a/b", "a__b", "a__b__2", "c/d"]
    assert writable_keys(keys) == {
        "a": "a",
        "a/b": "a__b__3",
        "a__b": "a__b",
        "a__b__2": "a__b__2",
        "c/d": "c/d",
    }


@pytest.mark.root
def test_stopped_writer_process_leaves_other_outputs(
    spectra_file, model, tmp_path, caplog
):
    scan = scan_files_fast([spectra_file], model.path)
    results = scan.report.results
    (tmp_path / SIGNIFICANCE_ROOT).write_text("an earlier scan's file")
    outputs = StreamingOutputs(tmp_path, separate_process=True)
    outputs.add_prepared(PreparedResults.of(results[:10]))
    process = outputs._root._process
    process.kill()
    process.join(timeout=30)
    with pytest.raises(WorkerError, match=r"writes significance\.root stopped"):
        outputs.add_prepared(PreparedResults.of(results[10:20]))
    # Later results fail at once, with the same error.
    with pytest.raises(WorkerError, match=r"writes significance\.root stopped"):
        outputs.add(results[20])
    outputs.finish(scan.report, 3.0, MODEL_INFO)
    assert len(json.loads((tmp_path / SUMMARY_JSON).read_text())) == 10
    assert not (tmp_path / SIGNIFICANCE_ROOT).exists()
    assert (tmp_path / REPORT_JSON).exists()
    assert "significance.root is not written" in caplog.text
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.root
def test_writer_process_ends_with_failing_program(tmp_path):
    import subprocess
    import sys

    code = (
        "from bumpnet_root.stream import StreamingOutputs; "
        f"outputs = StreamingOutputs({str(tmp_path)!r}, separate_process=True); "
        "raise RuntimeError('a failing program')"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 1
    assert "RuntimeError: a failing program" in completed.stderr


@pytest.mark.root
def test_writer_start_error_reported(tmp_path):
    with pytest.raises(OSError, match=r"root failed to open it: ValueError"):
        StreamingOutputs(tmp_path, writer="ROOT", separate_process=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.root
def test_published_outputs_hold_results_so_far(spectra_file, model, tmp_path):
    scan = scan_files_fast([spectra_file], model.path)
    results = scan.report.results
    outputs = StreamingOutputs(tmp_path)
    for result in results[:30]:
        outputs.add(result)
    outputs.publish(scan.report, 3.0, MODEL_INFO)
    assert len(json.loads((tmp_path / SUMMARY_JSON).read_text())) == 30
    assert len(_read_z(tmp_path / SIGNIFICANCE_ROOT)) == 30
    for result in results[30:]:
        outputs.add(result)
    outputs.finish(scan.report, 3.0, MODEL_INFO)
    assert len(json.loads((tmp_path / SUMMARY_JSON).read_text())) == len(results)
    assert len(_read_z(tmp_path / SIGNIFICANCE_ROOT)) == len(results)


@pytest.mark.root
def test_abort_keeps_previous_outputs(spectra_file, model, tmp_path):
    scan = scan_files_fast([spectra_file], model.path)
    (tmp_path / SUMMARY_JSON).write_text("[]\n")
    outputs = StreamingOutputs(tmp_path)
    outputs.add(scan.report.results[0])
    outputs.abort()
    assert (tmp_path / SUMMARY_JSON).read_text() == "[]\n"
    assert not list(tmp_path.glob(".*.tmp"))


def _traced_peak(path: Path, model: BumpNet, out_dir: Path) -> tuple[int, int]:
    """Scan while streaming; return (traced peak bytes, results with arrays)."""
    outputs = StreamingOutputs(out_dir)
    tracemalloc.start()
    try:
        scan = scan_files_fast(
            [path], model.path, chunk_size=100, on_result=outputs.add, keep_results=3
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs.finish(scan.report, 3.0, MODEL_INFO)
    with_arrays = sum(isinstance(r, ScanResult) for r in scan.report.results)
    summaries = sum(isinstance(r, ResultSummary) for r in scan.report.results)
    assert with_arrays + summaries == len(scan.report.results)
    return peak, with_arrays


@pytest.mark.root
def test_streaming_memory_does_not_grow_with_histograms(model, tmp_path):
    small = tmp_path / "small.root"
    large = tmp_path / "large.root"
    write_spectra_file(small, 200, seed=8)
    write_spectra_file(large, 1000, seed=9)
    small_peak, small_kept = _traced_peak(small, model, tmp_path / "small")
    large_peak, large_kept = _traced_peak(large, model, tmp_path / "large")
    assert small_kept == large_kept == 3
    # Holding every result would add about 3 kB per histogram; the peak is set
    # by one chunk of 100 histograms instead, so 5 times the histograms stay
    # well below 5 times the peak.
    assert large_peak < 2 * small_peak


class _NoLogBackground(BumpNetModule):
    """BumpNet's layout, but a forward that does not use log_background."""

    def forward(
        self, counts: torch.Tensor, edges: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        background = counts.to(torch.float64).clamp(min=1.0)
        return torch.zeros_like(background), background


def test_layout_without_log_background_runs_whole():
    scripted = torch.jit.script(_NoLogBackground(channels=8).eval())
    assert not hasattr(scripted, "log_background")
    assert PaddedNetwork.from_module(scripted) is None
    rows = _rows_of_many_lengths(5, seed=13)
    for (counts, _), (z, background) in zip(rows, evaluate_rows(scripted, rows)):
        np.testing.assert_array_equal(background, counts.clip(1.0))
        np.testing.assert_array_equal(z, np.zeros_like(counts))


def test_padded_network_follows_weights_changed_in_place(model_path: Path):
    module = torch.jit.load(str(model_path))
    rows = _rows_of_many_lengths(3, seed=14)
    before = evaluate_rows(module, rows)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(0.5)
    after = evaluate_rows(module, rows)
    for (counts, edges), (_, background), (_, old) in zip(rows, after, before):
        _, alone = evaluate_arrays(module, counts[None, :], edges[None, :])
        np.testing.assert_allclose(
            np.log1p(background), np.log1p(alone[0]), rtol=0, atol=2e-6
        )
        assert np.abs(np.log1p(background) - np.log1p(old)).max() > 1e-3
