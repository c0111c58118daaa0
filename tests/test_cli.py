"""The ``bumpnet`` command line, run as ``python -m bumpnet_root`` in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import uproot
from cli_helpers import run_cli

from bumpnet_root import __version__
from bumpnet_root.api import DEFAULT_MODEL_PATH
from bumpnet_root.cli import main
from bumpnet_root.scan import EMPTY_FILE_REASON

REPO_ROOT = Path(__file__).resolve().parents[1]
DOUBLE_MU = REPO_ROOT / "bumpnet_root" / "data" / "DoubleMu12.root"


@pytest.fixture(scope="module")
def scan_with_missing_file(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("cli_scan")
    missing = out_dir / "does_not_exist.root"
    completed = run_cli(
        "scan",
        DOUBLE_MU,
        missing,
        "--select",
        "demo/GMmass",
        "--select",
        "demo/e_RelPFIso_pT",
        "--model",
        model_path,
        "--out",
        out_dir,
        "--plots",
        "1",
        "--plot-format",
        "pdf",
    )
    return completed, out_dir, missing


def test_scan_missing_file_exit_zero(scan_with_missing_file):
    completed, _, missing = scan_with_missing_file
    assert completed.returncode == 0, completed.stderr
    error_lines = [
        line for line in completed.stderr.splitlines() if line.startswith("ERROR")
    ]
    assert len(error_lines) == 1
    assert str(missing) in error_lines[0]


def test_scan_prints_summary(scan_with_missing_file):
    completed, out_dir, _ = scan_with_missing_file
    closing = "scanned 1 histogram in 1 of 2 files; 1 file could not be read; "
    assert closing + "1 object skipped, 0 failed" in completed.stdout
    assert str(out_dir) in completed.stdout
    assert "candidate" in completed.stdout


def test_scan_logs_skip_reason(scan_with_missing_file):
    completed, _, _ = scan_with_missing_file
    assert "demo/e_RelPFIso_pT (TH2D)" in completed.stderr


def test_scan_writes_outputs(scan_with_missing_file):
    _, out_dir, missing = scan_with_missing_file
    summary = json.loads((out_dir / "summary.json").read_text())
    assert [entry["name"] for entry in summary] == ["demo/GMmass"]
    report = json.loads((out_dir / "scan_report.json").read_text())
    assert [f["file"] for f in report["failed"]] == [str(missing)]
    assert (out_dir / "summary.csv").is_file()
    assert (out_dir / "significance.root").is_file()
    # Two files were given, so keys and plot names carry the file prefix.
    assert summary[0]["key"] == "DoubleMu12/demo/GMmass"
    assert (out_dir / "plots" / "01_DoubleMu12_demo_GMmass.png").is_file()
    assert (out_dir / "plots" / "01_DoubleMu12_demo_GMmass.pdf").is_file()
    leftovers = [p.name for p in out_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_scan_nothing_matching_exit_one(model_path: Path, tmp_path: Path):
    completed = run_cli(
        "scan", DOUBLE_MU, "--select", "no/such/*", "--model", model_path,
        "--out", tmp_path, "-q",
    )  # fmt: skip
    assert completed.returncode == 1
    assert "no histogram was scanned: no object matched" in completed.stderr
    assert json.loads((tmp_path / "summary.json").read_text()) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_scan_of_empty_file_records_skip(model_path: Path, tmp_path: Path, jobs):
    import uproot

    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as handle:
        handle.mkdir("only_a_directory")
    out = tmp_path / "out"
    completed = run_cli(
        "scan", empty, "--model", model_path, "--out", out, "--no-lee",
        "--jobs", jobs,
    )  # fmt: skip
    assert completed.returncode == 1
    counts = "1 file without objects; 0 objects skipped, 0 failed"
    assert f"scanned 0 histograms in 1 file; {counts}" in completed.stdout
    assert f"no histogram was scanned: {counts}" in completed.stderr
    report = json.loads((out / "scan_report.json").read_text())
    assert [entry["reason"] for entry in report["skipped"]] == [EMPTY_FILE_REASON]


def test_scan_of_failed_file_names_failure(model_path: Path, tmp_path: Path):
    text = tmp_path / "spectrum.csv"
    text.write_text("low_edge,high_edge,count\n0,1,10\n")
    completed = run_cli(
        "scan", text, "--model", model_path, "--out", tmp_path / "out", "--no-lee"
    )
    assert completed.returncode == 1
    assert "the file is text" in completed.stderr
    assert "1 object or file failed" in completed.stderr
    assert "skipped" not in completed.stderr.splitlines()[-1]


def test_scan_missing_model_exit_one(tmp_path: Path):
    missing_model = tmp_path / "no_model.pt"
    completed = run_cli("scan", DOUBLE_MU, "--model", missing_model)
    assert completed.returncode == 1
    assert str(missing_model) in completed.stderr


def test_no_command_exit_two():
    completed = run_cli()
    assert completed.returncode == 2
    assert "usage: bumpnet" in completed.stderr


# In-process, because starting Python for each case costs about a second.
@pytest.mark.parametrize(
    "args",
    [
        ["scan"],
        ["scan", "x.root", "--batch-size", "0"],
        ["scan", "x.root", "--plots", "-1"],
        ["scan", "x.root", "--threshold", "high"],
        ["scan", "x.root", "--threshold", "nan"],
        ["scan", "x.root", "--threshold", "inf"],
        ["scan", "x.root", "--threshold", "-1"],
        ["crosscheck", "x.root", "--mass", "nan"],
        ["crosscheck", "x.root", "--sqrt-s", "0"],
        ["crosscheck", "x.root", "--resolution", "-1"],
        ["scan", "x.root", "--plot-format", "svg"],
        ["scan", "x.root", "-v", "-q"],
        ["train"],
        ["validate"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_two(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "usage: bumpnet" in capsys.readouterr().err


def test_version_prints_model(tmp_path: Path):
    completed = run_cli("--version")
    assert completed.returncode == 0
    lines = completed.stdout.splitlines()
    assert lines[0] == f"bumpnet-root {__version__}"
    if DEFAULT_MODEL_PATH.is_file():
        from bumpnet_root.export import file_checksum

        assert f"  sha256: {file_checksum(DEFAULT_MODEL_PATH)}" in lines
        assert any(line.startswith("  version: ") for line in lines)
    else:
        assert lines[1].startswith("default model: not available")
        assert str(DEFAULT_MODEL_PATH) in completed.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("cli_train")
    completed = run_cli(
        "train", "--out", out_dir, "--steps", "2", "--batch-size", "8",
        "--seed", "5", "--validation-histograms", "5",
        "--background-only-histograms", "5",
    )  # fmt: skip
    return completed, out_dir


def test_train_writes_model_and_card(trained):
    completed, out_dir = trained
    assert completed.returncode == 0, completed.stderr
    assert (out_dir / "model.pt").is_file()
    card = json.loads((out_dir / "model_card.json").read_text())
    assert card["training"]["steps"] == 2
    assert card["training"]["seed"] == 5
    assert "validation figures:" in completed.stdout
    assert "delta_z_max_median" in completed.stdout


def test_validate_prints_figures(trained):
    _, out_dir = trained
    completed = run_cli(
        "validate", out_dir / "model.pt", "--signal", "5", "--background-only", "5"
    )
    assert completed.returncode == 0, completed.stderr
    header = completed.stdout.splitlines()[0].split()
    assert header == ["figure", "this", "run", "model", "card"]
    assert "fraction_z_max_gt_5" in completed.stdout


def test_validate_missing_model_exit_one(tmp_path: Path):
    completed = run_cli("validate", tmp_path / "none.pt")
    assert completed.returncode == 1
    assert "none.pt" in completed.stderr


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_model_file_read_without_torch_matches_torch(tmp_path: Path):
    from bumpnet_root._model_file import read_model_file
    from bumpnet_root.errors import ModelNotFoundError
    from bumpnet_root.export import load_torchscript

    model = read_model_file(DEFAULT_MODEL_PATH)
    assert model.metadata == load_torchscript(DEFAULT_MODEL_PATH)[1]
    assert model.metadata
    cases = {
        "text.pt": b"not a model",
        "truncated.pt": DEFAULT_MODEL_PATH.read_bytes()[:5000],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    _archive(tmp_path / "no_version.pt", {"m/data.pkl": b"x", "m/constants.pkl": b""})
    damaged = bytearray(DEFAULT_MODEL_PATH.read_bytes())
    # Flip a byte inside the stored weights: only the CRC check finds it.
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / "damaged.pt").write_bytes(bytes(damaged))
    for path in sorted(tmp_path.iterdir()):
        with pytest.raises(ModelNotFoundError, match="cannot load BumpNet model"):
            read_model_file(path)


def test_workers_report_a_model_that_does_not_load(tmp_path: Path):
    members = {
        "m/data.pkl": b"not a pickle",
        "m/constants.pkl": b"",
        "m/.data/version": b"3\n",
        "m/extra/metadata.json": b"{}",
    }
    model = _archive(tmp_path / "fake.pt", members)
    completed = run_cli(
        "scan", DOUBLE_MU, "--model", model, "--jobs", "2", "--out", tmp_path / "out"
    )
    assert completed.returncode == 1
    assert "ERROR: cannot load BumpNet model" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_parallel_scan_main_skips_torch_and_root(tmp_path: Path):
    import subprocess
    import sys

    code = (
        "import sys; from bumpnet_root.cli import main; "
        f"status = main(['scan', {str(DOUBLE_MU)!r}, '--select', 'demo/GMmass', "
        f"'--jobs', '2', '--plots', '1', '--out', {str(tmp_path)!r}]); "
        "print('imported:', sorted({'torch', 'ROOT', 'cppyy'} & set(sys.modules)), "
        "'status:', status)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert "imported: [] status: 0" in completed.stdout, completed.stderr
    assert json.loads((tmp_path / "scan_report.json").read_text())["scanned"] == 1
    with uproot.open(tmp_path / "significance.root") as significance:
        assert significance.classnames(recursive=True) == {
            "demo;1": "TDirectory",
            "demo/GMmass;1": "TH1D",
        }
    assert len(list((tmp_path / "plots").glob("*.png"))) == 1


def test_parallel_scan_with_file_without_histograms(tmp_path: Path):
    no_histograms = tmp_path / "text.root"
    with uproot.recreate(no_histograms) as handle:
        handle["note"] = "not a histogram"
    out = tmp_path / "out"
    completed = run_cli(
        "scan",
        no_histograms,
        DOUBLE_MU,
        "--select",
        "demo/GMmass",
        "--select",
        "note",
        "--jobs",
        "2",
        "--plots",
        "0",
        "--out",
        out,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads((out / "scan_report.json").read_text())
    assert report["scanned"] == 1
    assert [entry["name"] for entry in report["skipped"]] == ["note"]
    assert len(json.loads((out / "summary.json").read_text())) == 1


def _write_latin1_file(path: Path) -> None:
    """Write a good histogram and three whose key, title or axis title is Latin-1."""
    from bumpnet_root._root import import_root

    root = import_root("the test file")
    code = (
        '{ TFile f("@PATH@", "RECREATE");'
        " auto fill = [](TH1D &h) { for (int i = 1; i <= 40; ++i)"
        " h.SetBinContent(i, std::round(1000 * std::exp(-i / 10.)) + 1); };"
        ' TH1D good("good", "good", 40, 0, 40); fill(good);'
        ' f.WriteTObject(&good, "good");'
        ' TH1D key("k", "k", 40, 0, 40); fill(key);'
        ' f.WriteTObject(&key, "key_\\xe9");'
        ' TH1D title("title", "caf\\xe9", 40, 0, 40); fill(title);'
        ' f.WriteTObject(&title, "title");'
        ' TH1D axis("axis", "axis", 40, 0, 40); fill(axis);'
        ' axis.GetXaxis()->SetTitle("m_{\\xe9}"); f.WriteTObject(&axis, "axis");'
        " f.Close(); }"
    )
    root.gInterpreter.ProcessLine(code.replace("@PATH@", str(path)))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_names_and_titles_not_utf8_fail_alone(tmp_path: Path, jobs: str):
    pytest.importorskip("ROOT")
    path = tmp_path / "latin1.root"
    _write_latin1_file(path)
    out = tmp_path / "out"
    completed = run_cli(
        "scan", path, "--out", out, "--plots", "0", "--no-lee", "--jobs", jobs
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    report = json.loads((out / "scan_report.json").read_text())
    assert report["scanned"] == 1
    reasons = {failure["error"].split(":")[1].strip() for failure in report["failed"]}
    assert reasons == {
        "its name is not UTF-8 text (bytes of another encoding, such as Latin-1), "
        "which the outputs cannot hold; write the histogram again with a UTF-8 "
        "name and titles",
        "its title is not UTF-8 text (bytes of another encoding, such as Latin-1), "
        "which the outputs cannot hold; write the histogram again with a UTF-8 "
        "name and titles",
        "its x-axis title is not UTF-8 text (bytes of another encoding, such as "
        "Latin-1), which the outputs cannot hold; write the histogram again with a "
        "UTF-8 name and titles",
    }
    assert [
        entry["name"] for entry in json.loads((out / "summary.json").read_text())
    ] == ["good"]


def test_recovered_file_is_reported(tmp_path: Path):
    pytest.importorskip("ROOT")
    from histogram_files import write_spectra_file

    whole = tmp_path / "whole.root"
    write_spectra_file(whole, 20)
    cut = tmp_path / "cut.root"
    cut.write_bytes(whole.read_bytes()[:-200])
    completed = run_cli(
        "scan", cut, "--out", tmp_path / "out", "--plots", "0", "--no-lee"
    )
    assert "was not closed properly" in completed.stderr


def test_reader_option_scans_with_either_library(tmp_path: Path):
    pytest.importorskip("ROOT")
    for reader in ("uproot", "pyroot"):
        completed = run_cli(
            "scan",
            DOUBLE_MU,
            "--select",
            "demo/GMmass",
            "--reader",
            reader,
            "--out",
            tmp_path / reader,
            "--plots",
            "0",
            "--no-lee",
        )
        assert completed.returncode == 0, completed.stderr
        assert "scanned 1 histogram" in completed.stdout


def test_model_paths_that_are_not_files_named(tmp_path: Path):
    import os

    from bumpnet_root._model_file import read_model_file
    from bumpnet_root.errors import ModelNotFoundError

    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.pt"
    loop.symlink_to(tmp_path / "loop.pt")
    dangling = tmp_path / "dangling.pt"
    dangling.symlink_to(tmp_path / "nothing.pt")
    expected = {
        fifo: "is not a regular file",
        loop: "a loop of links",
        dangling: "a symbolic link to nothing",
        tmp_path / "missing.pt": "does not exist",
    }
    for path, message in expected.items():
        with pytest.raises(ModelNotFoundError, match=message):
            read_model_file(path)


def test_huge_z_printed_short():
    from bumpnet_root.cli import _z_text

    assert _z_text(54.5612) == "54.56"
    assert _z_text(9.2e148) == "9.2e+148"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_scan_logs_reading_before_file_lines(model_path: Path, tmp_path: Path, jobs):
    import shutil

    paths = [tmp_path / "first.root", tmp_path / "second.root"]
    for path in paths:
        shutil.copyfile(DOUBLE_MU, path)
    completed = run_cli(
        "scan", *paths, "--model", model_path, "--out", tmp_path / "out",
        "--no-lee", "--select", "demo/GM*", "--jobs", jobs,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.splitlines()
    for path in paths:
        mentions = [i for i, line in enumerate(lines) if str(path) in line]
        reading = lines.index(f"INFO: reading {path}")
        # The skipped GM_phi and the underflow warning of GMmass name the file.
        assert len(mentions) >= 3
        assert mentions[0] == reading
