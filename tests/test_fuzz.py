"""Scan hundreds of randomly damaged ROOT files without a crash or a lost file.

Three real files (written with uproot with and without compression, and with
PyROOT) are damaged in 330 ways: truncated at a random length, with random
bits flipped, or with a random byte range set to zero. One in-process scan
with one model load reads them all. Every file must end up in the report as
scanned, skipped or failed, every failure must carry a message, and the output
files must parse. The damage is drawn from a fixed seed, so a failure repeats.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import uproot

from bumpnet_root._root import import_root
from bumpnet_root.api import BumpNet
from bumpnet_root.io import (
    REPORT_JSON,
    SIGNIFICANCE_ROOT,
    SUMMARY_CSV,
    SUMMARY_JSON,
    write_outputs,
)
from bumpnet_root.scan import scan_files

SEED = 20240917
DAMAGED_PER_BASE = 110
EDGES = np.linspace(0.0, 100.0, 41)


def falling_counts(seed: int) -> np.ndarray:
    expected = 3e3 * np.exp(-EDGES[:-1] / 20.0)
    return np.random.default_rng(seed).poisson(expected).astype(float)


def write_uproot_base(path: Path, compression) -> None:
    with uproot.recreate(path, compression=compression) as root_file:
        for index in range(5):
            root_file[f"dir/h{index}"] = (falling_counts(index), EDGES)
        root_file["h2"] = (np.ones((5, 5)), np.arange(6.0), np.arange(6.0))
        root_file["tree"] = {"x": np.arange(100.0)}


def write_pyroot_base(path: Path) -> None:
    root = import_root("the fuzz test")
    root_file = root.TFile(str(path), "RECREATE")
    try:
        for index, class_name in enumerate(["TH1D", "TH1F", "TH1I", "TH1D"]):
            th1 = getattr(root, class_name)(f"m{index}", "m", 40, 0.0, 100.0)
            for bin_index, value in enumerate(falling_counts(10 + index)):
                th1.SetBinContent(bin_index + 1, value)
            th1.Write()
        profile = root.TProfile("profile", "p", 10, 0.0, 1.0)
        profile.Fill(0.5, 1.0)
        profile.Write()
        graph = root.TGraph(3, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
        graph.Write("graph")
    finally:
        root_file.Close()


def damage(data: bytes, mode: str, rng: np.random.Generator) -> bytes:
    """Return ``data`` truncated, with bits flipped, or with a range zeroed."""
    buffer = bytearray(data)
    if mode == "truncate":
        return bytes(buffer[: int(rng.integers(0, len(buffer)))])
    if mode == "flip":
        for _ in range(int(rng.integers(1, 20))):
            buffer[int(rng.integers(0, len(buffer)))] ^= 1 << int(rng.integers(0, 8))
        return bytes(buffer)
    start = int(rng.integers(0, len(buffer)))
    stop = min(len(buffer), start + int(rng.integers(1, 512)))
    buffer[start:stop] = bytes(stop - start)
    return bytes(buffer)


@pytest.fixture(scope="module")
def damaged_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    bases = [folder / "zlib.root", folder / "plain.root", folder / "pyroot.root"]
    write_uproot_base(bases[0], uproot.ZLIB(1))
    write_uproot_base(bases[1], None)
    write_pyroot_base(bases[2])
    rng = np.random.default_rng(SEED)
    paths = []
    for base in bases:
        data = base.read_bytes()
        for index in range(DAMAGED_PER_BASE):
            mode = ("truncate", "flip", "zero")[index % 3]
            path = folder / f"{base.stem}_{mode}_{index:03d}.root"
            path.write_bytes(damage(data, mode, rng))
            paths.append(path)
    return [*bases, *paths]


@pytest.fixture(scope="module")
def fuzz_scan(model_path: Path, damaged_files: list[Path], tmp_path_factory):
    threads = torch.get_num_threads()
    # One thread: two threads on a loaded machine made the network far slower.
    torch.set_num_threads(1)
    try:
        report = scan_files(damaged_files, BumpNet.load(model_path))
    finally:
        torch.set_num_threads(threads)
    out_dir = tmp_path_factory.mktemp("fuzz_out")
    write_outputs(report, out_dir, 3.0, {"path": str(model_path)})
    return report, out_dir


def test_fuzz_every_file_accounted(fuzz_scan, damaged_files):
    report, _ = fuzz_scan
    assert report.files == [str(path) for path in damaged_files]
    seen = (
        {r.file for r in report.results}
        | {s.file for s in report.skipped}
        | {f.file for f in report.failed}
    )
    missing = [str(path) for path in damaged_files if str(path) not in seen]
    assert missing == []


def test_fuzz_undamaged_files_scanned(fuzz_scan, damaged_files):
    report, _ = fuzz_scan
    for base in damaged_files[:3]:
        assert [f for f in report.failed if f.file == str(base)] == []
    scanned = {(Path(r.file).name, r.name) for r in report.results}
    for index in range(5):
        assert ("zlib.root", f"dir/h{index}") in scanned
        assert ("plain.root", f"dir/h{index}") in scanned
    for index in range(4):
        assert ("pyroot.root", f"m{index}") in scanned


def test_fuzz_failures_explained(fuzz_scan):
    report, _ = fuzz_scan
    assert report.failed, "the damage should make some files or objects fail"
    for failure in report.failed:
        assert failure.error.strip()
        assert failure.error_type
    scanned = {(r.file, r.name) for r in report.results}
    failed = {(f.file, f.name) for f in report.failed if f.name}
    assert scanned & failed == set()


def test_fuzz_results_finite(fuzz_scan):
    report, _ = fuzz_scan
    for result in report.results:
        assert np.all(np.isfinite(result.prediction.z)), (result.file, result.name)


def test_fuzz_outputs_parse(fuzz_scan):
    report, out_dir = fuzz_scan
    summary = json.loads((out_dir / SUMMARY_JSON).read_text())
    content = json.loads((out_dir / REPORT_JSON).read_text())
    with open(out_dir / SUMMARY_CSV, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(summary) == len(report.results)
    assert content["scanned"] == len(report.results)
    assert len(content["failed"]) == len(report.failed)
    assert len(rows) == sum(len(r.candidates) for r in report.results)
    with uproot.open(out_dir / SIGNIFICANCE_ROOT) as root_file:
        for entry in summary:
            np.testing.assert_allclose(root_file[entry["key"]].values(), entry["z"])
