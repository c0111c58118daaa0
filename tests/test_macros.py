"""The ROOT macros in macros/, run with the ``root`` executable of this Python.

The ROOT wheel on PyPI has no TPython, so the macros take the command path
there. The TPython path runs in a PyROOT subprocess that declares a stand-in
``TPython`` class: its ``Exec(code, std::any*, name)`` and ``Bind(object,
label)`` behave as ROOT 6.36 documents them, running the code in that
subprocess's own Python.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import uproot

from bumpnet_root.adapters import to_hist1d
from bumpnet_root.api import DEFAULT_MODEL_PATH, BumpNet
from bumpnet_root.errors import FlowBinWarning, OutOfDomainWarning
from bumpnet_root.histogram import Hist1D

REPO_ROOT = Path(__file__).resolve().parents[1]
MACROS = REPO_ROOT / "macros"
DATA = REPO_ROOT / "bumpnet_root" / "data"
DOUBLE_MU = DATA / "DoubleMu12.root"
DIPHOTON = DATA / "data2012_10GeV.root"
BIN_DIR = Path(sys.executable).parent
ROOT_EXECUTABLE = BIN_DIR / "root"

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(
        not ROOT_EXECUTABLE.exists(), reason=f"no root executable at {ROOT_EXECUTABLE}"
    ),
]

Z_LINE = re.compile(r"^(?P<label>\S+): Z_max = (?P<z>\S+) at mass (?P<mass>\S+)$", re.M)


def macro_environment(model: Path | None, **overrides: str | None) -> dict[str, str]:
    """Return the environment of a macro run: this venv's bin first on PATH.

    BUMPNET_PYTHON is this interpreter, with the repository on PYTHONPATH, so
    the command path needs no installed package. ``overrides`` set variables,
    or remove them when None.
    """
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([str(BIN_DIR), environment.get("PATH", "")])
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
    )
    environment["BUMPNET_PYTHON"] = sys.executable
    environment.pop("BUMPNET_MACRO_MODE", None)
    environment.pop("BUMPNET_MODEL", None)
    if model is not None:
        environment["BUMPNET_MODEL"] = str(model)
    for name, value in overrides.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def run_root(
    *arguments: str, environment: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``root -l -b -q ARGUMENTS`` in the repository root."""
    return subprocess.run(
        [str(ROOT_EXECUTABLE), "-l", "-b", "-q", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def root_string(text: str | Path) -> str:
    """Return ``text`` as a C++ string literal for a root command line."""
    return json.dumps(str(text))


def read_histogram(file: Path, name: str) -> Hist1D:
    """Read a histogram with uproot, ignoring the diphoton data's flow-bin warning."""
    with uproot.open(file) as root_file, warnings.catch_warnings():
        warnings.simplefilter("ignore", FlowBinWarning)
        return to_hist1d(root_file[name], name=name)


def reference_prediction(model: Path, file: Path, name: str):
    """Return the Python API's prediction for the histogram ``name`` of ``file``."""
    return BumpNet.load(model).evaluate([read_histogram(file, name)], strict=True)[0]


def significance_values(path: Path, key: str) -> np.ndarray:
    with uproot.open(path) as root_file:
        return root_file[key].values()


def th1_values(th1) -> np.ndarray:
    return np.array([th1.GetBinContent(i) for i in range(1, th1.GetNbinsX() + 1)])


@pytest.fixture
def pyroot_macros(model_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Return PyROOT with the scan and plot macros loaded, for the command path."""
    from bumpnet_root._root import import_root

    for name, value in macro_environment(model_path).items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("BUMPNET_MACRO_MODE", raising=False)
    root = import_root("the macro tests")
    # Loading a macro a second time makes cling unload it first, which breaks
    # the functions already compiled from it, so the macros are loaded once per
    # process. bumpnet_plot.C includes bumpnet_scan.C.
    if not hasattr(root, "bumpnet_plot"):
        assert root.gROOT.ProcessLine(f".L {MACROS / 'bumpnet_plot.C'}") == 0
    return root


def diphoton_th1(root):
    """Return the CMS 2012 diphoton histogram h_mgg2012_1_1, read by PyROOT."""
    root_file = root.TFile.Open(str(DIPHOTON))
    th1 = root_file.Get("h_mgg2012_1_1")
    th1.SetDirectory(0)
    root_file.Close()
    return th1


def double_mu_th1(root):
    """Return demo/GMmass_extended of the dimuon file as a TH1D built in Python."""
    from bumpnet_root.adapters import to_th1d

    histogram = read_histogram(DOUBLE_MU, "demo/GMmass_extended")
    return to_th1d(histogram, name="GMmass_extended")


# ------------------------------------------------ scan of a file


@pytest.fixture(scope="module")
def scanned_file(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("macro_scan")
    call = (
        f"{MACROS / 'bumpnet_scan.C'}({root_string(DOUBLE_MU)}, "
        f'"demo/GMmass*", {root_string(out_dir)})'
    )
    completed = run_root(call, environment=macro_environment(model_path))
    return completed, out_dir


def test_scan_macro_exit_status(scanned_file):
    completed, _ = scanned_file
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_scan_macro_logs_command_path(scanned_file):
    completed, _ = scanned_file
    assert "using the bumpnet command" in completed.stderr
    assert "libROOTTPython was not found" in completed.stderr


def test_scan_macro_writes_outputs(scanned_file):
    _, out_dir = scanned_file
    for name in ("summary.json", "significance.root", "summary.csv"):
        assert (out_dir / name).stat().st_size > 0, name
    summary = json.loads((out_dir / "summary.json").read_text())
    names = [entry["name"] for entry in summary]
    assert names == ["demo/GMmass", "demo/GMmass_extended", "demo/GMmass_extended_600"]
    for entry in summary:
        assert entry["file"] == str(DOUBLE_MU)
        assert len(entry["background"]) == len(entry["z"])


def test_scan_macro_z_matches_api(scanned_file, model_path: Path):
    # The scanner evaluates histograms with the same number of scanned bins in
    # one batch, and the network's output changes with the batch at the 1e-4
    # level, so the reference is one evaluate() call over the same histograms.
    _, out_dir = scanned_file
    names = ("demo/GMmass", "demo/GMmass_extended", "demo/GMmass_extended_600")
    histograms = [read_histogram(DOUBLE_MU, name) for name in names]
    predictions = BumpNet.load(model_path).evaluate(histograms, strict=True)
    for name, prediction in zip(names, predictions):
        found = significance_values(out_dir / "significance.root", name)
        np.testing.assert_allclose(found, prediction.z, rtol=0, atol=1e-5, err_msg=name)


def test_scan_macro_single_histogram_matches_predict(model_path: Path, tmp_path: Path):
    call = (
        f"{MACROS / 'bumpnet_scan.C'}({root_string(DOUBLE_MU)}, "
        f'"demo/GMmass_extended_600", {root_string(tmp_path)})'
    )
    completed = run_root(call, environment=macro_environment(model_path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # Its falling part starts at 6.45e6 events per bin, above the training range.
    with pytest.warns(OutOfDomainWarning, match="beyond the training range"):
        expected = BumpNet.load(model_path).predict(
            read_histogram(DOUBLE_MU, "demo/GMmass_extended_600")
        )
    found = significance_values(
        tmp_path / "significance.root", "demo/GMmass_extended_600"
    )
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-5)


def test_scan_macro_prints_z_max(scanned_file):
    completed, out_dir = scanned_file
    printed = {m["label"]: m for m in Z_LINE.finditer(completed.stdout)}
    summary = json.loads((out_dir / "summary.json").read_text())
    assert len(printed) == len(summary)
    for entry in summary:
        line = printed[f"{DOUBLE_MU}:{entry['name']}"]
        assert float(line["z"]) == pytest.approx(entry["z_max"], abs=1e-3)
        assert float(line["mass"]) == pytest.approx(entry["mass_at_z_max"], rel=1e-5)


def test_scan_macro_without_arguments_prints_usage(model_path: Path):
    completed = run_root(
        str(MACROS / "bumpnet_scan.C"), environment=macro_environment(model_path)
    )
    assert completed.returncode == 2
    assert "usage:" in completed.stdout


# ------------------------------------------------ PyROOT, histograms in memory


def test_pyroot_scan_th1_matches_api(pyroot_macros, model_path: Path, tmp_path: Path):
    th1 = double_mu_th1(pyroot_macros)
    z = pyroot_macros.bumpnet_scan(th1, str(tmp_path))
    assert z, "bumpnet_scan returned a null pointer"
    assert z.GetName() == "GMmass_extended_z"
    assert z.GetNbinsX() == th1.GetNbinsX()
    assert z.GetXaxis().GetXmax() == th1.GetXaxis().GetXmax()
    expected = BumpNet.load(model_path).predict(th1)
    np.testing.assert_allclose(th1_values(z), expected, rtol=0, atol=1e-5)
    assert z.GetBinError(z.GetMaximumBin()) == 0.0


def test_pyroot_scan_th1_writes_input_and_summary(pyroot_macros, tmp_path: Path):
    th1 = double_mu_th1(pyroot_macros)
    assert pyroot_macros.bumpnet_scan(th1, str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [entry["name"] for entry in summary] == ["GMmass_extended"]
    assert summary[0]["file"] == str(tmp_path / "bumpnet_input.root")
    with uproot.open(tmp_path / "bumpnet_input.root") as root_file:
        counts = root_file["GMmass_extended"].values()
    np.testing.assert_array_equal(counts, th1_values(th1))


def test_pyroot_scan_without_outdir_leaves_no_files(pyroot_macros, tmp_path: Path):
    th1 = diphoton_th1(pyroot_macros)
    # The macro names its temporary folders bumpnet_<process id>_<counter>.
    pattern = f"bumpnet_{os.getpid()}_*"
    temporary = Path(pyroot_macros.gSystem.TempDirectory())
    before = set(temporary.glob(pattern))
    z = pyroot_macros.bumpnet_scan(th1)
    assert z
    assert set(temporary.glob(pattern)) == before


def test_pyroot_scan_file_returns_tlist(pyroot_macros, model_path: Path):
    # h_mgg2012_1_2 is empty, so the scan skips it.
    zs = pyroot_macros.bumpnet_scan_file(str(DIPHOTON), "h_mgg2012_1_[123]")
    assert zs, "bumpnet_scan_file returned a null pointer"
    names = [z.GetName() for z in zs]
    assert names == ["h_mgg2012_1_1", "h_mgg2012_1_3"]
    histograms = [read_histogram(DIPHOTON, name) for name in names]
    predictions = BumpNet.load(model_path).evaluate(histograms, strict=True)
    for z, prediction in zip(zs, predictions):
        np.testing.assert_allclose(th1_values(z), prediction.z, rtol=0, atol=1e-5)


def test_pyroot_scan_rejects_2d_histogram(pyroot_macros):
    th2 = pyroot_macros.TH2D("macro_test_th2", "", 4, 0, 1, 4, 0, 1)
    assert not pyroot_macros.bumpnet_scan(th2)


# ------------------------------------------------ plots


def test_plot_macro_writes_pdf_and_png(model_path: Path, tmp_path: Path):
    call = (
        f"{MACROS / 'bumpnet_plot.C'}({root_string(DOUBLE_MU)}, "
        f'"demo/GMmass_extended", {root_string(tmp_path)})'
    )
    completed = run_root(call, environment=macro_environment(model_path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    pdf = tmp_path / "demo_GMmass_extended_bumpnet.pdf"
    png = tmp_path / "demo_GMmass_extended_bumpnet.png"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert pdf.stat().st_size > 1000
    assert png.stat().st_size > 1000


def test_plot_background_is_python_estimate(
    pyroot_macros, model_path: Path, tmp_path: Path
):
    th1 = double_mu_th1(pyroot_macros)
    canvas = pyroot_macros.bumpnet_plot(th1, str(tmp_path))
    assert canvas, "bumpnet_plot returned a null pointer"
    graph = canvas.GetPrimitive("top").GetPrimitive("bumpnet_background")
    assert graph, "no graph named bumpnet_background in the top pad"
    expected = BumpNet.load(model_path).evaluate([th1], strict=True)[0].background
    finite = np.isfinite(expected)
    drawn = np.array([graph.GetPointY(i) for i in range(graph.GetN())])
    assert drawn.size == 2 * np.count_nonzero(finite)
    np.testing.assert_allclose(drawn[::2], expected[finite], rtol=1e-12)
    np.testing.assert_allclose(drawn[1::2], expected[finite], rtol=1e-12)
    assert (tmp_path / "GMmass_extended_bumpnet.png").stat().st_size > 0


# ------------------------------------------------ choice of the path


@pytest.mark.parametrize(
    ("requested", "chosen", "message"),
    [
        (None, "command", "libROOTTPython was not found"),
        ("command", "command", "BUMPNET_MACRO_MODE=command"),
        ("tpython", "", "set BUMPNET_MACRO_MODE=command"),
        ("Bogus", "", "set it to auto, tpython or command"),
    ],
)
def test_mode_choice_in_wheel(requested, chosen, message, model_path: Path):
    completed = run_root(
        "-e",
        f".L {MACROS / 'bumpnet_scan.C'}",
        "-e",
        'printf("mode=[%s]\\n", bumpnet_mode().c_str())',
        environment=macro_environment(model_path, BUMPNET_MACRO_MODE=requested),
    )
    assert f"mode=[{chosen}]" in completed.stdout, completed.stdout + completed.stderr
    assert message in completed.stderr


def test_forced_tpython_scan_fails_clearly(model_path: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    call = (
        f"{MACROS / 'bumpnet_scan.C'}({root_string(DIPHOTON)}, "
        f'"h_mgg2012_1_1", {root_string(out_dir)})'
    )
    completed = run_root(
        call, environment=macro_environment(model_path, BUMPNET_MACRO_MODE="tpython")
    )
    assert completed.returncode == 1
    assert "BUMPNET_MACRO_MODE=tpython, but TPython cannot be used" in completed.stderr
    assert "libROOTTPython" in completed.stderr
    assert not out_dir.exists()


def _write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("case", ["BUMPNET_PYTHON", "bumpnet", "python3", "nothing"])
def test_command_resolution(case: str, tmp_path: Path):
    python = _write_executable(tmp_path / "python3", "#!/bin/sh\nexit 0\n")
    bumpnet = _write_executable(tmp_path / "bumpnet", "#!/bin/sh\nexit 0\n")
    only_python = tmp_path / "only_python"
    only_python.mkdir()
    (only_python / "python3").symlink_to(python)
    empty = tmp_path / "empty"
    empty.mkdir()

    overrides = {
        "BUMPNET_PYTHON": (str(python), None),
        "bumpnet": (None, str(tmp_path)),
        "python3": (None, str(only_python)),
        "nothing": (None, str(empty)),
    }
    bumpnet_python, search_path = overrides[case]
    environment = macro_environment(None, BUMPNET_PYTHON=bumpnet_python)
    if search_path is not None:
        environment["PATH"] = search_path

    completed = run_root(
        "-e",
        f".L {MACROS / 'bumpnet_scan.C'}",
        "-e",
        'printf("command=[%s]\\n", bumpnet_command().c_str())',
        environment=environment,
    )

    expected = {
        "BUMPNET_PYTHON": f"'{python}' -m bumpnet_root",
        "bumpnet": f"'{bumpnet}'",
        "python3": f"'{only_python / 'python3'}' -m bumpnet_root",
        "nothing": "",
    }[case]
    assert f"command=[{expected}]" in completed.stdout, completed.stdout
    if case == "nothing":
        assert "pip install bumpnet-root" in completed.stderr


def test_missing_package_names_pip_install(model_path: Path, tmp_path: Path):
    # -S skips site-packages and -I ignores PYTHONPATH, so bumpnet_root is missing.
    python = _write_executable(
        tmp_path / "python_without_package",
        f'#!/bin/sh\nexec "{sys.executable}" -I -S "$@"\n',
    )
    call = f'{MACROS / "bumpnet_scan.C"}({root_string(DIPHOTON)}, "h_mgg2012_1_1")'
    completed = run_root(
        call, environment=macro_environment(model_path, BUMPNET_PYTHON=str(python))
    )
    assert completed.returncode == 1
    assert "--version' failed" in completed.stderr
    assert "No module named bumpnet_root" in completed.stderr
    assert "pip install bumpnet-root" in completed.stderr


def test_missing_model_file_is_named(tmp_path: Path):
    missing = tmp_path / "no_model.pt"
    call = f'{MACROS / "bumpnet_scan.C"}({root_string(DIPHOTON)}, "h_mgg2012_1_1")'
    completed = run_root(call, environment=macro_environment(missing))
    assert completed.returncode == 1
    assert f"BUMPNET_MODEL is set to '{missing}'" in completed.stderr


@pytest.mark.skipif(
    DEFAULT_MODEL_PATH.is_file(), reason="needs a checkout without the default model"
)
def test_missing_default_model_is_reported():
    call = f'{MACROS / "bumpnet_scan.C"}({root_string(DIPHOTON)}, "h_mgg2012_1_1")'
    completed = run_root(call, environment=macro_environment(None))
    assert completed.returncode == 1
    assert "default model is missing" in completed.stderr


# ------------------------------------------------ cross-check


def _crosscheck_command_exists() -> bool:
    completed = subprocess.run(
        [sys.executable, "-m", "bumpnet_root", "crosscheck", "--help"],
        env=macro_environment(None),
        capture_output=True,
        check=False,
        timeout=120,
    )
    return completed.returncode == 0


COMPARISON_LINE = re.compile(
    r"at mass (?P<mass>\S+): BumpNet Z = (?P<z>\S+), RooFit Z_LR = (?P<z_lr>\S+)$", re.M
)


def test_crosscheck_macro_command(model_path: Path, tmp_path: Path):
    if not _crosscheck_command_exists():
        pytest.skip("this bumpnet command has no crosscheck subcommand")
    from bumpnet_root.crosscheck import crosscheck

    call = (
        f"{MACROS / 'bumpnet_crosscheck.C'}({root_string(DIPHOTON)}, "
        f'"h_mgg2012_1_1", 125, {root_string(tmp_path)})'
    )
    completed = run_root(call, environment=macro_environment(model_path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    line = COMPARISON_LINE.search(completed.stdout)
    assert line, completed.stdout
    histogram = read_histogram(DIPHOTON, "h_mgg2012_1_1")
    expected = crosscheck(histogram, mass=125.0).z_lr[0]
    assert float(line["z_lr"]) == pytest.approx(expected, abs=2e-3)


# ------------------------------------------------ TPython path (stand-in)

TPYTHON_STAND_IN = textwrap.dedent(
    r'''
    import json
    import sys
    import traceback

    import __main__
    import cppyy

    from bumpnet_root._root import import_root

    ROOT = import_root("the TPython stand-in")
    ROOT.gInterpreter.Declare("""
    #include <any>
    #include <cstdint>
    #include <functional>
    #include <string>
    namespace ROOT { namespace Internal {
    template <class T> inline void SwapWithObjAtAddr(T &a, std::intptr_t b)
    { std::swap(a, *reinterpret_cast<T *>(b)); }
    } }
    namespace stand_in {
    std::function<bool(std::string, std::intptr_t, std::string)> exec;
    std::function<bool(std::intptr_t, std::string, std::string)> bind;
    void set(std::function<bool(std::string, std::intptr_t, std::string)> e,
             std::function<bool(std::intptr_t, std::string, std::string)> b)
    { exec = e; bind = b; }
    }
    class TPython {
    public:
       static bool Exec(const char *cmd, std::any *result = nullptr,
                        std::string const &name = "_anyresult")
       { return stand_in::exec(cmd, reinterpret_cast<std::intptr_t>(result), name); }
       static bool Bind(TObject *object, const char *label)
       { return object && stand_in::bind(reinterpret_cast<std::intptr_t>(object),
                                         object->IsA()->GetName(), label); }
    };
    """)


    def execute(code, address, name):
        # Like TPython::Exec: append the swap of the named std::any, run in __main__.
        code = str(code)
        if address:
            code += f"; ROOT.Internal.SwapWithObjAtAddr['std::any']({name}, {address})"
        try:
            exec(code, __main__.__dict__)
        except Exception:
            traceback.print_exc()
            return False
        return True


    def bind(address, class_name, label):
        pointer = cppyy.ll.cast["void*"](address)
        __main__.__dict__[str(label)] = cppyy.bind_object(pointer, str(class_name))
        return True


    ROOT.stand_in.set(execute, bind)
    macros, data, out_dir, result_path = sys.argv[1:5]
    ROOT.gROOT.ProcessLine(f".L {macros}/bumpnet_crosscheck.C")
    results = {"mode": str(ROOT.bumpnet_mode())}

    root_file = ROOT.TFile.Open(f"{data}/DoubleMu12.root")
    th1 = root_file.Get("demo/GMmass_extended")
    th1.SetDirectory(0)
    z = ROOT.bumpnet_scan(th1, out_dir)
    results["scan_name"] = z.GetName()
    results["scan_z"] = [z.GetBinContent(i) for i in range(1, z.GetNbinsX() + 1)]

    zs = ROOT.bumpnet_scan_file(f"{data}/data2012_10GeV.root", "h_mgg2012_1_[123]")
    results["file_names"] = [h.GetName() for h in zs]
    results["file_z"] = [
        [h.GetBinContent(i) for i in range(1, h.GetNbinsX() + 1)] for h in zs
    ]

    diphoton_file = ROOT.TFile.Open(f"{data}/data2012_10GeV.root")
    diphoton = diphoton_file.Get("h_mgg2012_1_1")
    diphoton.SetDirectory(0)
    results["z_lr"] = ROOT.bumpnet_crosscheck(diphoton, 125.0)
    with open(result_path, "w") as file:
        json.dump(results, file)
    '''
)


@pytest.fixture(scope="module")
def stand_in_run(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("macro_tpython")
    script = work / "stand_in.py"
    script.write_text(TPYTHON_STAND_IN)
    result_path = work / "result.json"
    out_dir = work / "out"
    completed = subprocess.run(
        [
            sys.executable,
            str(script),
            str(MACROS),
            str(DATA),
            str(out_dir),
            result_path,
        ],
        cwd=REPO_ROOT,
        env=macro_environment(model_path, BUMPNET_MACRO_MODE="tpython"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed, json.loads(result_path.read_text()), out_dir


def test_tpython_path_is_used(stand_in_run):
    completed, results, _ = stand_in_run
    assert results["mode"] == "tpython"
    assert "using TPython (BUMPNET_MACRO_MODE=tpython)" in completed.stderr
    assert "running" not in completed.stderr


def test_tpython_scan_th1_matches_api(stand_in_run, model_path: Path):
    _, results, _ = stand_in_run
    expected = reference_prediction(model_path, DOUBLE_MU, "demo/GMmass_extended").z
    assert results["scan_name"] == "GMmass_extended_z"
    np.testing.assert_allclose(results["scan_z"], expected, rtol=0, atol=1e-5)


def test_tpython_scan_writes_command_outputs(stand_in_run, model_path: Path):
    _, _, out_dir = stand_in_run
    summary = json.loads((out_dir / "summary.json").read_text())
    assert [entry["name"] for entry in summary] == ["GMmass_extended"]
    assert summary[0]["file"] == str(out_dir / "bumpnet_input.root")
    prediction = reference_prediction(model_path, DOUBLE_MU, "demo/GMmass_extended")
    background = np.array(
        [math.nan if value is None else value for value in summary[0]["background"]]
    )
    np.testing.assert_allclose(background, prediction.background, rtol=1e-12)
    found = significance_values(out_dir / "significance.root", "GMmass_extended")
    np.testing.assert_allclose(found, prediction.z, rtol=0, atol=1e-5)


def test_tpython_scan_file_matches_api(stand_in_run, model_path: Path):
    _, results, _ = stand_in_run
    assert results["file_names"] == ["h_mgg2012_1_1", "h_mgg2012_1_3"]
    histograms = [read_histogram(DIPHOTON, name) for name in results["file_names"]]
    predictions = BumpNet.load(model_path).evaluate(histograms, strict=True)
    for name, z, prediction in zip(
        results["file_names"], results["file_z"], predictions
    ):
        np.testing.assert_allclose(z, prediction.z, rtol=0, atol=1e-5, err_msg=name)


def test_tpython_crosscheck_matches_python(stand_in_run):
    from bumpnet_root.crosscheck import crosscheck

    _, results, _ = stand_in_run
    histogram = read_histogram(DIPHOTON, "h_mgg2012_1_1")
    expected = crosscheck(histogram, mass=125.0).z_lr[0]
    assert results["z_lr"] == pytest.approx(expected, abs=1e-4)
