"""Paths of the files shipped with bumpnet-root: default model, data and ROOT macros.

>>> from bumpnet_root.resources import data_path, macro_path
>>> data_path("DoubleMu12.root")             # a bundled ROOT file
>>> data_path("csv/atlas_hgg_2012.csv")      # a bundled CSV spectrum
>>> macro_path("bumpnet_scan.C")             # a ROOT macro, for `root -b -q`

The files are looked up with :mod:`importlib.resources`, so the functions work
for wheel, sdist and conda installs. They return filesystem paths, because
ROOT and torch open files by name, so a package imported from a zip archive is
not supported. The ROOT macros live in the top-level ``macros/`` folder of the
repository and the build copies them into the package (see setup.py), so in a
source checkout :func:`macro_path` reads that folder instead.

Run ``python -m bumpnet_root.resources data NAME`` (or ``macro NAME``,
``model``) to print a path from a shell script.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path, PurePosixPath

from .errors import ModelNotFoundError

_PACKAGE = "bumpnet_root"
_MACRO_SUFFIX = ".C"


def _package_dir() -> Path:
    """Return the installed package directory as a filesystem path."""
    root = resources.files(_PACKAGE)
    if not isinstance(root, Path):
        raise FileNotFoundError(
            f"{_PACKAGE} is imported from {root!r}, which is not a folder on disk; "
            "install it with pip or conda instead of importing it from an archive"
        )
    return root


def _checkout_macro_dir() -> Path | None:
    """Return the repository's macros/ folder when running from a source checkout."""
    repository = _package_dir().parent
    candidate = repository / "macros"
    if candidate.is_dir() and (repository / "pyproject.toml").is_file():
        return candidate
    return None


def _relative_name(name: str, kind: str, example: str) -> PurePosixPath:
    """Check that ``name`` is a relative path inside its folder and return it."""
    relative = PurePosixPath(name)
    if not name or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(
            f"invalid {kind} name {name!r}: expected a path relative to the "
            f"{kind} folder, such as {example!r}"
        )
    return relative


def _list_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
    )


def default_model_path() -> Path:
    """Return the path of the default BumpNet model shipped in the package.

    Raises ModelNotFoundError when the file is missing from the installation.
    """
    path = _package_dir() / "models" / "default.pt"
    if not path.is_file():
        raise ModelNotFoundError(
            f"the default BumpNet model {path} is not installed; reinstall "
            "bumpnet-root, or pass the path of a model written by 'bumpnet train'"
        )
    return path


def data_path(name: str) -> Path:
    """Return the path of a bundled data file, such as ``"DoubleMu12.root"``.

    ``name`` is relative to the package's data folder and uses ``/`` between
    folders (``"csv/atlas_hgg_2012.csv"``). Raises ValueError for an absolute
    name or one containing ``..``, and FileNotFoundError, listing the bundled
    files, when there is no such file.
    """
    relative = _relative_name(name, "data", "csv/atlas_hgg_2012.csv")
    folder = _package_dir() / "data"
    path = folder.joinpath(*relative.parts)
    if not path.is_file():
        available = ", ".join(_list_files(folder)) or "none"
        raise FileNotFoundError(
            f"bundled data file {name!r} not found in {folder}; available: {available}"
        )
    return path


def macro_dirs() -> list[Path]:
    """Return the folders searched for ROOT macros, in search order.

    These are the package's ``macros`` folder, when the installation has one,
    and the repository's ``macros/`` folder when running from a source checkout.
    """
    folders = []
    installed = _package_dir() / "macros"
    if installed.is_dir():
        folders.append(installed)
    checkout = _checkout_macro_dir()
    if checkout is not None:
        folders.append(checkout)
    return folders


def macro_path(name: str) -> Path:
    """Return the path of a ROOT macro shipped with the package.

    ``name`` is the file name, with or without the ``.C`` suffix. Raises
    ValueError for a name with a folder part, and FileNotFoundError, listing
    the shipped macros, when there is no such macro.
    """
    relative = _relative_name(name, "macro", "bumpnet_scan.C")
    if len(relative.parts) != 1:
        raise ValueError(
            f"invalid macro name {name!r}: expected a file name such as "
            "'bumpnet_scan.C'"
        )
    file_name = name if name.endswith(_MACRO_SUFFIX) else name + _MACRO_SUFFIX
    folders = macro_dirs()
    for folder in folders:
        path = folder / file_name
        if path.is_file():
            return path
    available = sorted(
        {
            path.name
            for folder in folders
            for path in folder.glob("*" + _MACRO_SUFFIX)
            if path.is_file()
        }
    )
    searched = ", ".join(str(folder) for folder in folders) or "no macro folder"
    raise FileNotFoundError(
        f"ROOT macro {file_name!r} not found (searched {searched}); available: "
        f"{', '.join(available) or 'none'}"
    )


_USAGE = "usage: python -m bumpnet_root.resources {data NAME | macro NAME | model}"


def main(argv: list[str] | None = None) -> int:
    """Print the path of a bundled file and return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 2 and args[0] == "data":
            path = data_path(args[1])
        elif len(args) == 2 and args[0] == "macro":
            path = macro_path(args[1])
        elif args == ["model"]:
            path = default_model_path()
        else:
            print(_USAGE, file=sys.stderr)  # noqa: T201 (command-line output)
            return 2
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 1
    print(path)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
