"""Packaging: the conda recipe, the wheel and sdist, and ROOT as an optional extra.

No conda channel is reachable from the project machines, so the conda recipe
cannot be built here. Instead these tests check the recipe against
pyproject.toml, render it with rattler-build's own parser, and run its test
commands in the project's environment against a copy of the package laid out
as an installation would have it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from bumpnet_root import resources
from bumpnet_root.errors import ModelNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_ROOT / "bumpnet_root"
MACRO_DIR = REPO_ROOT / "macros"
RECIPE_PATH = REPO_ROOT / "conda-recipe" / "recipe.yaml"
CONSTRAINTS_PATH = REPO_ROOT / "constraints.txt"
DEFAULT_MODEL = PACKAGE_DIR / "models" / "default.pt"

# PyPI project names (canonical form) whose conda-forge package has another
# name. All other dependencies have the same name on both.
PYPI_TO_CONDA = {
    "root": "root_base",
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
}
# Projects whose PyPI versions do not number the same releases as the conda
# package: the ROOT wheels on PyPI count 0.1a10, 0.1a12, ... while root_base
# carries ROOT's own release number (6.40).
VERSION_NOT_CARRIED = {"root"}
# Extras of pyproject.toml that the conda package always installs.
EXTRAS_IN_CONDA_RUN = ("root",)

DEMO_FILE = "DoubleMu12.root"
DEMO_SELECT = "demo/GMmass_extended"

_JINJA_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


# ---------------------------------------------------------------- helpers


def load_pyproject() -> dict:
    with open(REPO_ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def load_recipe() -> dict:
    return yaml.safe_load(RECIPE_PATH.read_text(encoding="utf-8"))


def package_version(root: Path = REPO_ROOT) -> str:
    """Return ``__version__`` as written in ``root``/bumpnet_root/_version.py."""
    version_file = root / "bumpnet_root" / "_version.py"
    tree = ast.parse(version_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__"
            for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("bumpnet_root/_version.py assigns no __version__")


def render(text: str, context: dict) -> str:
    """Replace each ``${{ name }}`` by the recipe's context variable ``name``.

    Only plain variable names are supported. Any other Jinja expression raises
    KeyError, so a recipe that starts using one needs this function extended.
    """

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in context:
            raise KeyError(
                f"recipe expression {match.group(0)!r} is not a context variable; "
                "extend render() in tests/test_packaging.py to evaluate it"
            )
        return str(context[name])

    return _JINJA_EXPRESSION.sub(substitute, text)


def rendered_list(recipe: dict, *keys: str) -> list[str]:
    """Return the rendered list at ``recipe[keys[0]][keys[1]]...``."""
    node = recipe
    for key in keys:
        node = node[key]
    return [render(item, recipe["context"]) for item in node]


def split_conda_spec(spec: str) -> tuple[str, str]:
    """Split a conda match spec such as ``numpy >=1.23`` into name and version."""
    name, _, version = spec.strip().partition(" ")
    return name, version.strip()


def conda_requirements(specs: list[str]) -> dict[str, SpecifierSet]:
    """Map conda package names to their version constraints."""
    result = {}
    for spec in specs:
        name, version = split_conda_spec(spec)
        result[name] = SpecifierSet(version)
    return result


def pypi_to_conda(requirements: list[str]) -> dict[str, SpecifierSet]:
    """Map PyPI requirements to conda names with the constraints conda should get."""
    result = {}
    for text in requirements:
        requirement = Requirement(text)
        assert requirement.marker is None, (
            f"{text!r} has an environment marker; give it a selector in "
            "conda-recipe/recipe.yaml and teach pypi_to_conda() about it"
        )
        name = canonicalize_name(requirement.name)
        conda_name = PYPI_TO_CONDA.get(name, name)
        if name in VERSION_NOT_CARRIED:
            result[conda_name] = SpecifierSet()
        else:
            result[conda_name] = requirement.specifier
    return result


def script_tests(recipe: dict) -> list[dict]:
    return [test for test in recipe["tests"] if "script" in test]


def python_tests(recipe: dict) -> list[dict]:
    return [test for test in recipe["tests"] if "python" in test]


def run(
    command: list[str | Path],
    timeout: float,
    **kwargs,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def describe(completed: subprocess.CompletedProcess) -> str:
    """Return a command's exit status and the end of its output, for asserts."""
    return (
        f"{completed.args!r} exited with {completed.returncode}\n"
        f"stdout:\n{completed.stdout[-4000:]}\nstderr:\n{completed.stderr[-4000:]}"
    )


def shipped_package_files(root: Path = REPO_ROOT) -> list[str]:
    """Return the data and model files under ``root``/bumpnet_root to ship.

    The names are relative to bumpnet_root/ and use ``/``.
    """
    package = root / "bumpnet_root"
    names = []
    for folder, patterns in (
        ("data", ("**/*",)),
        ("models", ("*.pt", "*.md", "*.json")),
    ):
        for pattern in patterns:
            for path in (package / folder).glob(pattern):
                if path.is_file() and "__pycache__" not in path.parts:
                    names.append(path.relative_to(package).as_posix())
    return sorted(set(names))


def checkout_macros(root: Path = REPO_ROOT) -> list[str]:
    return sorted(path.name for path in (root / "macros").glob("*.C"))


def write_entry_point_shims(recipe: dict, bin_dir: Path) -> None:
    """Write a shell script per recipe entry point that runs it with this Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        "python": f'exec "{sys.executable}" "$@"\n',
    }
    for entry in recipe["build"]["python"]["entry_points"]:
        name, _, target = (part.strip() for part in entry.partition("="))
        module, _, function = target.partition(":")
        code = f"import sys; from {module} import {function}; sys.exit({function}())"
        commands[name] = f'exec "{sys.executable}" -c \'{code}\' "$@"\n'
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
        path.chmod(0o755)


def install_copy(site: Path, model_path: Path) -> Path:
    """Copy the package into ``site`` as the wheel installs it and return it.

    The macros go into bumpnet_root/macros as the build puts them. Where the
    checkout has no default model yet, ``model_path`` is copied in its place.
    """
    package = site / "bumpnet_root"
    shutil.copytree(
        PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    macros = package / "macros"
    macros.mkdir(exist_ok=True)
    for name in checkout_macros():
        shutil.copy2(MACRO_DIR / name, macros / name)
    default_model = package / "models" / "default.pt"
    if not default_model.is_file():
        default_model.parent.mkdir(exist_ok=True)
        shutil.copy2(model_path, default_model)
    return package


# ---------------------------------------------------------------- the recipe


def test_recipe_run_requirements_match_pyproject():
    pyproject = load_pyproject()["project"]
    requirements = list(pyproject["dependencies"])
    for extra in EXTRAS_IN_CONDA_RUN:
        requirements += pyproject["optional-dependencies"][extra]
    recipe = load_recipe()
    run_specs = [
        spec
        for spec in rendered_list(recipe, "requirements", "run")
        if split_conda_spec(spec)[0] != "python"
    ]

    assert conda_requirements(run_specs) == pypi_to_conda(requirements)
    assert len(run_specs) == len(requirements), "a run requirement appears twice"


def test_recipe_python_matches_requires_python():
    requires_python = SpecifierSet(load_pyproject()["project"]["requires-python"])
    lower_bounds = [spec.version for spec in requires_python if spec.operator == ">="]
    recipe = load_recipe()
    python_min = recipe["context"]["python_min"]

    assert lower_bounds == [python_min]
    assert f"python >={python_min}" in rendered_list(recipe, "requirements", "run")
    assert f"python {python_min}.*" in rendered_list(recipe, "requirements", "host")
    for test in python_tests(recipe):
        assert render(test["python"]["python_version"], recipe["context"]) == (
            f"{python_min}.*"
        )


def test_recipe_version_matches_package():
    recipe = load_recipe()
    pyproject = load_pyproject()

    assert pyproject["project"]["dynamic"] == ["version"]
    version_attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert version_attr == "bumpnet_root._version.__version__"
    assert recipe["package"]["version"] == "${{ version }}"
    assert recipe["context"]["version"] == package_version(), (
        "set context.version in conda-recipe/recipe.yaml to __version__ of "
        "bumpnet_root/_version.py"
    )


def test_recipe_entry_points_match_scripts():
    scripts = load_pyproject()["project"]["scripts"]
    expected = sorted(f"{name} = {target}" for name, target in scripts.items())
    entry_points = load_recipe()["build"]["python"]["entry_points"]

    assert sorted(entry_points) == expected


def test_recipe_host_has_build_backend():
    build_requires = load_pyproject()["build-system"]["requires"]
    host_specs = rendered_list(load_recipe(), "requirements", "host")
    # "python 3.9.*" is a conda match spec, not a PEP 440 specifier.
    host = conda_requirements(
        [spec for spec in host_specs if split_conda_spec(spec)[0] != "python"]
    )

    for name, specifier in pypi_to_conda(build_requires).items():
        assert name in host
        assert host[name] == specifier


def test_recipe_about_matches_pyproject():
    project = load_pyproject()["project"]
    about = load_recipe()["about"]

    license = project["license"]
    assert about["license"] == (
        license if isinstance(license, str) else license["text"]
    )
    assert about["summary"] == project["description"]
    assert about["documentation"] == project["urls"]["Documentation"]


def test_recipe_source_is_repository():
    recipe = load_recipe()

    assert (RECIPE_PATH.parent / recipe["source"]["path"]).resolve() == REPO_ROOT
    assert recipe["build"]["noarch"] == "python"


def test_recipe_tests_cover_commands():
    recipe = load_recipe()
    imports = [
        name for test in python_tests(recipe) for name in test["python"]["imports"]
    ]
    commands = [line for test in script_tests(recipe) for line in test["script"]]

    assert "bumpnet_root" in imports
    assert "bumpnet --help" in commands
    assert "bumpnet --version" in commands
    assert any(line.startswith("bumpnet scan ") for line in commands)
    assert any(line.startswith("root -l -b -q ") for line in commands)


def test_recipe_renders_with_rattler_build():
    rattler_build = pytest.importorskip("rattler_build")
    recipe = load_recipe()

    variants = rattler_build.Stage0Recipe.from_file(RECIPE_PATH).render()
    assert len(variants) == 1
    rendered = variants[0].recipe.to_dict()

    assert rendered["package"]["version"] == recipe["context"]["version"]
    assert rendered["build"]["noarch"] == "python"
    assert rendered["requirements"]["run"] == rendered_list(
        recipe, "requirements", "run"
    )
    assert rendered["requirements"]["host"] == rendered_list(
        recipe, "requirements", "host"
    )


@pytest.mark.slow
def test_recipe_script_tests_pass(tmp_path: Path, model_path: Path):
    """Run the recipe's test commands against a copy of the package.

    Each command runs in its own ``bash -e -o pipefail -c``, all in one work
    folder, so commands share files but not shell variables. ``python`` and
    the recipe's entry points are shims for this interpreter. The ``root``
    commands need the root executable of PyROOT, and are skipped without it.
    """
    recipe = load_recipe()
    site = tmp_path / "site"
    package = install_copy(site, model_path)
    bin_dir = tmp_path / "bin"
    write_entry_point_shims(recipe, bin_dir)
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join(
        [str(bin_dir), str(Path(sys.executable).parent), environment.get("PATH", "")]
    )
    environment["PYTHONPATH"] = str(site)
    environment["MPLBACKEND"] = "Agg"
    environment.pop("BUMPNET_MODEL", None)
    has_root = shutil.which("root", path=environment["PATH"]) is not None

    # The commands must import the copy, not the checkout or an installation.
    completed = run(
        ["python", "-c", "import bumpnet_root; print(bumpnet_root.__file__)"],
        timeout=120,
        cwd=work_dir,
        env=environment,
    )
    assert completed.returncode == 0, describe(completed)
    assert Path(completed.stdout.strip()).parent == package

    skipped = []
    for test in script_tests(recipe):
        for line in test["script"]:
            command = render(line, recipe["context"])
            if command.startswith("root ") and not has_root:
                skipped.append(command)
                continue
            completed = run(
                ["bash", "-e", "-o", "pipefail", "-c", command],
                timeout=600,
                cwd=work_dir,
                env=environment,
            )
            assert completed.returncode == 0, describe(completed)
    if skipped:
        pytest.skip(f"the root executable is not on PATH, so {skipped} did not run")


# ---------------------------------------------------------------- resources


def test_data_path_finds_bundled_files():
    assert resources.data_path(DEMO_FILE) == PACKAGE_DIR / "data" / DEMO_FILE
    csv = resources.data_path("csv/atlas_hgg_2012.csv")
    assert csv == PACKAGE_DIR / "data" / "csv" / "atlas_hgg_2012.csv"


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../pyproject.toml", "csv/../x"])
def test_data_path_rejects_invalid_names(name: str):
    with pytest.raises(ValueError, match="invalid data name"):
        resources.data_path(name)


def test_data_path_lists_available_files():
    with pytest.raises(FileNotFoundError) as info:
        resources.data_path("missing.root")

    message = str(info.value)
    assert "'missing.root' not found" in message
    assert DEMO_FILE in message
    assert "csv/atlas_hgg_2012.csv" in message


def test_macro_path_finds_checkout_macros():
    macros = checkout_macros()
    if not macros:
        pytest.skip("macros/ contains no *.C file yet")

    for name in macros:
        assert resources.macro_path(name) == MACRO_DIR / name
        assert resources.macro_path(name.removesuffix(".C")) == MACRO_DIR / name


def test_macro_path_rejects_folders():
    with pytest.raises(ValueError, match="invalid macro name"):
        resources.macro_path("macros/bumpnet_scan.C")


def test_macro_path_lists_available_macros():
    with pytest.raises(FileNotFoundError) as info:
        resources.macro_path("missing.C")

    message = str(info.value)
    assert "'missing.C' not found" in message
    for name in checkout_macros():
        assert name in message


def test_default_model_path_matches_api():
    from bumpnet_root.api import DEFAULT_MODEL_PATH

    if DEFAULT_MODEL_PATH.is_file():
        assert resources.default_model_path() == DEFAULT_MODEL_PATH
    else:
        with pytest.raises(ModelNotFoundError, match="reinstall bumpnet-root"):
            resources.default_model_path()


def test_resources_command_prints_paths(capsys: pytest.CaptureFixture[str]):
    assert resources.main(["data", DEMO_FILE]) == 0
    assert capsys.readouterr().out == f"{PACKAGE_DIR / 'data' / DEMO_FILE}\n"

    assert resources.main(["data", "missing.root"]) == 1
    assert "error: bundled data file 'missing.root'" in capsys.readouterr().err

    assert resources.main(["unknown"]) == 2
    assert capsys.readouterr().err.startswith("usage:")


# ---------------------------------------------------------------- ROOT stays optional

# Runs in a fresh interpreter where every import of ROOT or cppyy fails, as on
# a machine without PyROOT. argv[1] is a model file, or "" for the default.
_WITHOUT_ROOT_SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import json
    import sys

    BLOCKED = {"ROOT", "cppyy", "cppyy_backend", "libcppyy"}


    class BlockROOT(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}", name=fullname
                )
            return None


    sys.meta_path.insert(0, BlockROOT())

    import hist
    import numpy as np

    import bumpnet_root
    from bumpnet_root.adapters import to_hist1d, to_th1d
    from bumpnet_root.api import BumpNet
    from bumpnet_root.errors import MissingDependencyError

    edges = np.linspace(100.0, 200.0, 51)
    counts = np.round(5000.0 * np.exp(-(edges[:-1] - 100.0) / 30.0))
    histogram = hist.Hist.new.Regular(50, 100.0, 200.0, name="mass").Double()
    histogram.view()[:] = counts
    converted = to_hist1d(histogram)
    z = BumpNet.load(sys.argv[1] or None).predict(histogram)
    try:
        to_th1d(converted)
    except MissingDependencyError as error:
        error_message = str(error)
    else:
        error_message = None
    loaded = sorted(
        name
        for name, module in sys.modules.items()
        if module is not None and name.partition(".")[0] in BLOCKED
    )
    print(
        json.dumps(
            {
                "version": bumpnet_root.__version__,
                "n_bins": converted.n_bins,
                "z_size": int(z.size),
                "z_finite": bool(np.isfinite(z).all()),
                "error": error_message,
                "loaded": loaded,
            }
        )
    )
    """
)


def test_package_works_without_root(model_path: Path):
    model_argument = "" if DEFAULT_MODEL.is_file() else str(model_path)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
    )

    completed = run(
        [sys.executable, "-c", _WITHOUT_ROOT_SCRIPT, model_argument],
        timeout=300,
        env=environment,
    )

    assert completed.returncode == 0, describe(completed)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["version"] == package_version()
    assert result["n_bins"] == 50
    assert result["z_size"] == 50
    assert result["z_finite"]
    assert result["loaded"] == []
    assert result["error"] is not None, "to_th1d worked without ROOT"
    assert "PyROOT is needed for to_th1d" in result["error"]
    assert "pip install 'bumpnet-root[root]'" in result["error"]


# ---------------------------------------------------------------- wheel and sdist


def copy_tracked_tree(destination: Path) -> Path:
    """Copy the files git would commit (tracked or not ignored) to ``destination``.

    Building from the copy keeps build/ and *.egg-info out of the checkout, and
    leaves out what .gitignore excludes (.venv, runs/), as a clone would.
    """
    completed = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, describe(completed)
    for name in filter(None, completed.stdout.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def build_distributions(source: Path, out_dir: Path) -> str:
    """Build the sdist and the wheel from it and return how the build ran.

    The build first runs isolated, as pip runs it. When that fails, for example
    because the build backend cannot be downloaded, it runs again with
    --no-isolation against the setuptools of this environment.
    """
    command = [sys.executable, "-m", "build", "--outdir", out_dir, source]
    completed = run(command, timeout=600)
    if completed.returncode == 0:
        return "isolated"
    isolated_failure = describe(completed)
    completed = run([*command, "--no-isolation"], timeout=600)
    assert completed.returncode == 0, (
        f"the isolated build failed:\n{isolated_failure}\nand so did the "
        f"build without isolation:\n{describe(completed)}"
    )
    return "no isolation"


@pytest.mark.slow
def test_wheel_and_sdist_install_and_scan(tmp_path: Path, model_path: Path):
    """Build both archives, check their contents, install the wheel and scan.

    Everything is compared with a snapshot of the checkout, because other
    work may change the checkout while the test runs. The wheel goes into a
    new virtual environment with nothing else installed, torch pinned by
    constraints.txt, and pip reuses its download cache.
    """
    if not (PACKAGE_DIR / "cli.py").is_file():
        pytest.skip("bumpnet_root/cli.py does not exist yet, so there is no CLI")
    if importlib.util.find_spec("build") is None:
        pytest.fail("the 'build' package is missing; pip install -e '.[test]'")
    source = copy_tracked_tree(tmp_path / "source")
    version = package_version(source)
    default_model = source / "bumpnet_root" / "models" / "default.pt"
    macros = checkout_macros(source)
    gaps = []
    if not default_model.is_file():
        gaps.append("the checkout has no default model, so the test model was used")
    if not macros:
        gaps.append("macros/ contains no *.C file")

    dist = tmp_path / "dist"
    build_distributions(source, dist)
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1, sorted(dist.iterdir())
    assert len(sdists) == 1, sorted(dist.iterdir())

    package_files = shipped_package_files(source)
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel_names = set(wheel.namelist())
    expected_in_wheel = [f"bumpnet_root/{name}" for name in package_files]
    expected_in_wheel += [f"bumpnet_root/macros/{name}" for name in macros]
    assert sorted(set(expected_in_wheel) - wheel_names) == []

    with tarfile.open(sdists[0]) as sdist:
        sdist_names = set(sdist.getnames())
    top = f"bumpnet_root-{version}"
    expected_in_sdist = [f"{top}/bumpnet_root/{name}" for name in package_files]
    expected_in_sdist += [f"{top}/macros/{name}" for name in macros]
    expected_in_sdist += [f"{top}/setup.py", f"{top}/pyproject.toml"]
    assert sorted(set(expected_in_sdist) - sdist_names) == []

    venv_dir = tmp_path / "venv"
    try:
        completed = run([sys.executable, "-m", "venv", venv_dir], timeout=300)
        assert completed.returncode == 0, describe(completed)
        venv_python = venv_dir / "bin" / "python"
        constraints = source / CONSTRAINTS_PATH.name
        # --no-compile skips writing .pyc files for all of torch, which halved
        # the install time here (35 s instead of 69 s on 2 busy cores).
        install = [venv_python, "-m", "pip", "install", "--no-compile"]
        install += ["-c", constraints, wheels[0]]
        completed = run(install, timeout=1200)
        assert completed.returncode == 0, describe(completed)
        model = default_model if default_model.is_file() else model_path
        check_installed_package(venv_dir, tmp_path / "run", source, model)
    finally:
        # torch alone takes about 750 MB installed, and pytest keeps old tmp folders.
        shutil.rmtree(venv_dir, ignore_errors=True)

    if gaps:
        pytest.skip("built, installed and scanned, but " + "; ".join(gaps))


def check_installed_package(
    venv_dir: Path, work_dir: Path, source: Path, model: Path
) -> None:
    """Run the installed ``bumpnet`` and resource lookups from ``venv_dir``.

    ``source`` is the tree the wheel was built from. ``model`` is its default
    model, or a stand-in that is passed to ``bumpnet scan --model``.
    """
    work_dir.mkdir()
    bin_dir = venv_dir / "bin"
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "BUMPNET_MODEL", "VIRTUAL_ENV")
    }
    environment["PATH"] = os.pathsep.join([str(bin_dir), environment.get("PATH", "")])
    environment["MPLBACKEND"] = "Agg"
    model_is_default = model == source / "bumpnet_root" / "models" / "default.pt"

    def run_installed(*args: str | Path) -> subprocess.CompletedProcess:
        completed = run(list(args), timeout=600, cwd=work_dir, env=environment)
        assert completed.returncode == 0, describe(completed)
        return completed

    version = run_installed(bin_dir / "bumpnet", "--version").stdout
    assert version.splitlines()[0] == f"bumpnet-root {package_version(source)}"
    if model_is_default:
        checksum = hashlib.sha256(model.read_bytes()).hexdigest()
        assert f"sha256: {checksum}" in version

    lookup = [bin_dir / "python", "-m", "bumpnet_root.resources"]
    data_file = Path(run_installed(*lookup, "data", DEMO_FILE).stdout.strip())
    assert data_file.is_relative_to(venv_dir)
    for name in checkout_macros(source):
        macro = Path(run_installed(*lookup, "macro", name).stdout.strip())
        assert macro.is_relative_to(venv_dir)
        assert macro.read_bytes() == (source / "macros" / name).read_bytes()

    out_dir = work_dir / "scan-out"
    scan = [bin_dir / "bumpnet", "scan", data_file, "--select", DEMO_SELECT]
    scan += ["--out", out_dir, "--plots", "1"]
    if not model_is_default:
        scan += ["--model", model]
    run_installed(*scan)
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert [entry["name"] for entry in summary] == [DEMO_SELECT]
    assert (out_dir / "significance.root").stat().st_size > 0


def test_bumpnet_class_importable_from_package():
    import bumpnet_root
    from bumpnet_root import BumpNet
    from bumpnet_root.api import BumpNet as api_class

    assert BumpNet is api_class
    assert "BumpNet" in bumpnet_root.__all__
    with pytest.raises(AttributeError, match="no attribute 'Bumpnet'"):
        bumpnet_root.Bumpnet  # noqa: B018
