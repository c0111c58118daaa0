"""Look-elsewhere correction: calibration cache, global Z and the scan's figures."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from histogram_files import write_spectra_file

from bumpnet_root.api import BumpNet
from bumpnet_root.lee import (
    FEW_TOYS,
    LeeCalibration,
    LeeCalibrator,
    build_calibration,
    calibration_key,
    count_upcrossings,
    scan_wide_log_p,
    scan_wide_p,
    z_from_log_p,
    z_from_p,
)
from bumpnet_root.parallel import scan_files_fast

REPO_ROOT = Path(__file__).resolve().parents[1]
TOYS = 80


@pytest.fixture(scope="module")
def model(model_path: Path) -> BumpNet:
    return BumpNet.load(model_path)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lee_cache")


@pytest.fixture(scope="module")
def calibration(model, cache) -> LeeCalibration:
    calibrator = LeeCalibrator(model, "model-a", TOYS, cache)
    return calibrator.calibration(np.linspace(0.0, 600.0, 61))


def test_cache_miss_then_hit_on_disk(model, cache, calibration):
    edges = np.linspace(0.0, 600.0, 61)
    first = LeeCalibrator(model, "model-a", TOYS, cache)
    first.calibration(edges)
    assert first.stats == {"memory": 0, "disk": 1, "computed": 0}
    first.calibration(edges)
    assert first.stats["memory"] == 1
    found = LeeCalibrator(model, "model-a", TOYS, cache).calibration(edges)
    np.testing.assert_array_equal(found.z_max, calibration.z_max)
    np.testing.assert_array_equal(found.candidate_z, calibration.candidate_z)


def test_equal_width_binnings_share_a_calibration():
    key = calibration_key("model-a", np.linspace(0.0, 600.0, 61), TOYS)
    assert calibration_key("model-a", np.linspace(50.0, 3050.0, 61), TOYS) == key
    assert calibration_key("model-a", np.linspace(0.0, 600.0, 62), TOYS) != key
    assert calibration_key("model-b", np.linspace(0.0, 600.0, 61), TOYS) != key
    assert calibration_key("model-a", np.linspace(0.0, 600.0, 61), 99) != key
    widening = np.concatenate([[0.0], np.cumsum(np.linspace(5.0, 15.0, 60))])
    assert calibration_key("model-a", widening, TOYS) != key


def test_damaged_cache_file_is_computed_again(model, tmp_path, caplog):
    edges = np.linspace(0.0, 300.0, 31)
    key = calibration_key("model-c", edges, 20)
    (tmp_path / f"{key}.npz").write_bytes(b"not an npz file")
    calibrator = LeeCalibrator(model, "model-c", 20, tmp_path)
    with caplog.at_level(logging.WARNING, logger="bumpnet_root.lee"):
        calibrator.calibration(edges)
    assert calibrator.stats["computed"] == 1
    damaged = [r for r in caplog.records if "damaged look-elsewhere" in r.message]
    assert len(damaged) == 1
    again = LeeCalibrator(model, "model-c", 20, tmp_path)
    again.calibration(edges)
    assert again.stats["disk"] == 1


def _empty_arrays(valid: bytes, path: Path) -> None:
    path.write_bytes(valid)
    with np.load(path) as data:
        arrays = {name: data[name][:0] for name in data.files}
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def _flipped(valid: bytes, path: Path) -> None:
    damaged = bytearray(valid)
    damaged[len(damaged) // 2] ^= 0xFF
    damaged[len(damaged) // 2 + 1] ^= 0xFF
    path.write_bytes(bytes(damaged))


@pytest.mark.parametrize(
    "damage",
    [
        lambda valid, path: path.write_bytes(b""),
        lambda valid, path: path.write_bytes(valid[: len(valid) // 2]),
        lambda valid, path: path.write_bytes(bytes(range(256)) * 4),
        _flipped,
        _empty_arrays,
    ],
    ids=["empty", "truncated", "random", "flipped", "empty-arrays"],
)
def test_damaged_cache_warned_once(model, tmp_path, caplog, damage):
    edges = np.linspace(0.0, 300.0, 31)
    path = tmp_path / f"{calibration_key('model-e', edges, 20)}.npz"
    first = LeeCalibrator(model, "model-e", 20, tmp_path).calibration(edges)
    valid = path.read_bytes()
    damage(valid, path)
    calibrator = LeeCalibrator(model, "model-e", 20, tmp_path)
    with caplog.at_level(logging.WARNING, logger="bumpnet_root.lee"):
        again = calibrator.calibration(edges)
    assert calibrator.stats["computed"] == 1
    damaged = [r.message for r in caplog.records if "damaged" in r.message]
    assert len(damaged) == 1, damaged
    assert "allow_pickle" not in damaged[0]
    np.testing.assert_array_equal(again.z_max, first.z_max)
    assert path.read_bytes() == valid


def test_cache_path_that_is_a_file(model, tmp_path, caplog):
    not_a_directory = tmp_path / "afile"
    not_a_directory.write_text("x")
    calibrator = LeeCalibrator(model, "model-f", 20, not_a_directory)
    with caplog.at_level(logging.WARNING, logger="bumpnet_root.lee"):
        calibrator.calibration(np.linspace(0.0, 300.0, 31))
    messages = [r.message for r in caplog.records]
    assert not any("damaged" in message for message in messages), messages
    assert any("cannot use the look-elsewhere cache directory" in m for m in messages)


def test_calibration_scans_background_only_toys(calibration):
    assert calibration.toys > 0.9 * TOYS
    assert np.all(np.isfinite(calibration.z_max))
    # Background only: the median Z_max of 60 bins is a few sigma at most.
    assert 0.5 < float(np.median(calibration.z_max)) < 3.5
    assert calibration.levels.min() < 1.0 < 4.0 < calibration.levels.max()


@pytest.mark.parametrize("level", [0.5, 2.0, 4.0])
def test_global_z_at_most_local_and_monotone(calibration, level):
    local = np.linspace(0.5, 9.0, 60)
    p = np.array([calibration.p_global(z, level) for z in local])
    z_global = np.array([z_from_p(value) for value in p])
    assert np.all(z_global <= local + 1e-12)
    assert np.all(z_global >= 0.0)
    assert np.all(np.diff(p) <= 0)
    assert np.all(np.diff(z_global) >= -1e-12)
    # Large excesses stay significant after the correction.
    assert z_global[-1] > 7.0


def test_more_trials_give_lower_global_z():
    p_histogram = 1e-5
    trials = [1, 10, 100, 1000, 30000]
    z_scan = [z_from_p(scan_wide_p(p_histogram, count)) for count in trials]
    assert np.all(np.diff(z_scan) < 0)
    assert z_scan[0] == pytest.approx(z_from_p(p_histogram))
    assert z_from_p(0.5) == z_from_p(0.9) == 0.0


def test_longer_range_gives_more_candidates(model, cache):
    calibrator = LeeCalibrator(model, "model-a", TOYS, cache)
    short = calibrator.calibration(np.linspace(0.0, 300.0, 31))
    long = calibrator.calibration(np.linspace(0.0, 1200.0, 121))
    assert np.mean(long.upcrossings) > 2 * np.mean(short.upcrossings)
    assert long.expected_candidates(2.0, 2.0) > short.expected_candidates(2.0, 2.0)
    # NOTE: p_global and candidates above Z = 3 are not compared. The shipped
    # model overestimates Z more often in 30-bin histograms than in 120-bin
    # ones (docs/validation.md), so there the short toys have the heavier tail.


def test_expected_candidates_fall_with_threshold(calibration):
    counts = [calibration.expected_candidates(t, 2.0) for t in (1.0, 2.0, 3.0)]
    assert counts[0] > counts[1] > counts[2] >= 0.0
    with pytest.raises(ValueError, match="local maxima above"):
        calibration.expected_candidates(-1.0, 2.0)


def test_count_upcrossings():
    assert count_upcrossings(np.array([0.0, 2.0, 0.5, 1.5, 1.5, 0.0])) == 2
    assert count_upcrossings(np.array([3.0, 0.0])) == 1
    assert count_upcrossings(np.array([])) == 0


def _run_cli(*args: str | Path, cache: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, extra_environment={"BUMPNET_CACHE_DIR": str(cache)})


@pytest.mark.root
def test_cli_reports_global_z_and_false_candidates(model_path, tmp_path):
    spectra = tmp_path / "spectra.root"
    write_spectra_file(spectra, 60, seed=5)
    out = tmp_path / "out"
    cache = tmp_path / "cache"
    completed = _run_cli(
        "scan",
        spectra,
        "--model",
        model_path,
        "--out",
        out,
        "--plots",
        "0",
        "--lee-toys",
        "40",
        cache=cache,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Z_global" in completed.stdout
    assert "false candidates with Z > 3 expected" in completed.stdout
    report = json.loads((out / "scan_report.json").read_text())
    lee = report["look_elsewhere"]
    assert lee["enabled"]
    assert lee["trials"] == report["scanned"] == 60
    assert lee["toys_per_binning"] == 40
    assert lee["expected_false_candidates"] > 0
    assert lee["calibrations"]["computed"] >= 1
    summary = json.loads((out / "summary.json").read_text())
    candidates = [c for entry in summary for c in entry["candidates"]]
    assert candidates
    assert all(c["z_global"] <= c["z"] for c in candidates)
    top = lee["top_candidates"][0]
    assert top["z_global_scan"] <= top["z_global"] <= top["z"]
    assert len(list(cache.glob("*.npz"))) == 3


def test_no_lee_option_turns_correction_off():
    from bumpnet_root._scan_cli import fast_scan_options
    from bumpnet_root.cli import build_parser

    parser = build_parser()
    default = fast_scan_options(parser.parse_args(["scan", "a.root"]))
    assert default["lee_toys"] == 1000
    off = fast_scan_options(parser.parse_args(["scan", "a.root", "--no-lee"]))
    assert off["lee_toys"] == 0
    toys = parser.parse_args(["scan", "a.root", "--lee-toys", "40", "--jobs", "3"])
    assert fast_scan_options(toys)["lee_toys"] == 40
    assert fast_scan_options(toys)["jobs"] == 3


@pytest.mark.root
def test_scan_without_lee_has_no_global_z(model_path, tmp_path):
    from bumpnet_root.parallel import scan_files_fast

    spectra = tmp_path / "spectra.root"
    write_spectra_file(spectra, 30, seed=6)
    scan = scan_files_fast([spectra], model_path, lee_toys=0)
    assert scan.expected_false_candidates is None
    candidates = [c for r in scan.report.results for c in r.candidates]
    assert candidates
    assert all(c.z_global is None for c in candidates)


def test_prepare_skips_binning_locked_elsewhere(model, tmp_path):
    import fcntl
    import threading

    locked_edges = np.linspace(0.0, 300.0, 31)
    free_edges = np.linspace(0.0, 400.0, 41)
    locked_key = calibration_key("model-d", locked_edges, 20)
    free_key = calibration_key("model-d", free_edges, 20)
    calibrator = LeeCalibrator(model, "model-d", 20, tmp_path)
    with open(tmp_path / f"{locked_key}.lock", "a+b") as lock:
        # Another process computing the first binning holds this lock.
        fcntl.flock(lock, fcntl.LOCK_EX)
        worker = threading.Thread(
            target=calibrator.prepare, args=([locked_edges, free_edges],)
        )
        worker.start()
        deadline = time.monotonic() + 60.0
        while not (tmp_path / f"{free_key}.npz").is_file():
            assert time.monotonic() < deadline, "the free binning was not computed"
            time.sleep(0.05)
        # The worker computed the free binning and now waits for the lock.
        assert worker.is_alive()
        assert not (tmp_path / f"{locked_key}.npz").exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert (tmp_path / f"{locked_key}.npz").is_file()
    assert calibrator.stats["computed"] == 2


def test_few_toys_are_warned_about(caplog, model_path, tmp_path):
    with caplog.at_level(logging.WARNING, logger="bumpnet_root.lee"):
        scan_files_fast([], model_path, lee_toys=5, lee_cache_dir=tmp_path)
        scan_files_fast([], model_path, lee_toys=FEW_TOYS, lee_cache_dir=tmp_path)
        scan_files_fast([], model_path, lee_toys=0)
    rough = [r.message for r in caplog.records if "rough" in r.message]
    assert len(rough) == 1
    assert "uses 5 background-only toys" in rough[0]


def test_highest_candidate_line_skips_out_of_domain():
    from bumpnet_root._scan_cli import look_elsewhere_lines

    def entry(z: float, outside: bool) -> dict:
        return {
            "z": z,
            "z_global": z - 1.0,
            "z_global_scan": z - 2.0,
            "out_of_domain": outside,
        }

    section = {
        "enabled": True,
        "expected_false_candidates": 0.5,
        "threshold": 3.0,
        "trials": 4,
        "top_candidates": [entry(60.0, True), entry(5.0, False)],
    }
    lines = look_elsewhere_lines({"look_elsewhere": section})
    assert lines[-1].startswith("highest candidate: Z = 5.00")
    section["top_candidates"] = [entry(60.0, True)]
    assert len(look_elsewhere_lines({"look_elsewhere": section})) == 1


def test_rejected_toys_are_counted_with_reason(model, monkeypatch, caplog):
    import bumpnet_root.lee as lee

    falling = lee._toy_backgrounds

    def some_empty(rng, edges, toys):
        expected = falling(rng, edges, toys)
        expected[:3] = 0.0
        return expected

    monkeypatch.setattr(lee, "_toy_backgrounds", some_empty)
    with caplog.at_level(logging.DEBUG, logger="bumpnet_root.lee"):
        calibration = build_calibration(
            model, np.linspace(0.0, 300.0, 41), 20, "0" * 64
        )
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(info) == 1
    assert "the others fail the checks that data fail" in info[0]
    messages = [record.getMessage() for record in caplog.records]
    lines = [message for message in messages if "were not scanned" in message]
    empty = "3 toys on 40 bins were not scanned, as data would not be: the "
    assert any(line.startswith(empty + "histogram is empty") for line in lines)
    rejected = sum(int(line.split()[0]) for line in lines)
    assert calibration.toys + rejected == 20


def test_z_from_log_p_beyond_underflow():
    from scipy.special import log_ndtr

    assert z_from_log_p(float(log_ndtr(-54.0))) == pytest.approx(54.0, rel=1e-9)
    assert z_from_log_p(float(log_ndtr(-3.0))) == pytest.approx(z_from_p(1.35e-3), 1e-3)
    assert z_from_log_p(np.log(0.7)) == 0.0


@pytest.mark.parametrize("p", [0.3, 1e-3, 1e-9])
def test_scan_wide_log_p_matches_scan_wide_p(p):
    expected = np.log(scan_wide_p(p, 500))
    assert scan_wide_log_p(float(np.log(p)), 500) == pytest.approx(expected, 1e-9)


def test_scan_wide_log_p_of_underflowing_p():
    assert scan_wide_log_p(-2000.0, 100) == pytest.approx(np.log(100) - 2000.0)


@pytest.mark.parametrize("z", [40.0, 60.0])
def test_global_z_below_local_at_huge_z(calibration, z):
    level = float(np.median(calibration.levels))
    z_global = z_from_log_p(calibration.log_p_global(z, level))
    assert np.isfinite(z_global)
    assert z - 2.0 < z_global < z


@pytest.mark.parametrize("trials", [500, 10**9, 10**12])
def test_scan_wide_log_p_continuous_across_branches(trials):
    for log_p in (-30.0, -700.0):
        below = scan_wide_log_p(log_p - 1e-9, trials)
        above = scan_wide_log_p(log_p + 1e-9, trials)
        assert below == pytest.approx(above, rel=1e-6, abs=1e-6)


def test_scan_wide_log_p_exact_for_many_trials():
    log_p = -31.0
    exact = np.log(-np.expm1(1e12 * np.log1p(-np.exp(log_p))))
    assert scan_wide_log_p(log_p, 10**12) == pytest.approx(exact, rel=1e-9)
