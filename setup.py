"""Build hook that ships the ROOT macros of macros/ inside the package.

The macros stay in the top-level macros/ folder of the repository, and the
build copies each macros/*.C into the wheel as bumpnet_root/macros/*.C, where
``bumpnet_root.resources.macro_path`` finds them. The sdist carries them
because setuptools adds the sources of all package data to it. Everything
else about the package is configured in pyproject.toml.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MACRO_SOURCE_DIR = "macros"
MACRO_PACKAGE = "bumpnet_root.macros"


class BuildPyWithMacros(build_py):
    """``build_py`` that adds macros/*.C to the package data."""

    def _macro_data_files(self) -> list[tuple[str, str, str, list[str]]]:
        # Same tuple layout as build_py.data_files:
        # (package, source directory, build directory, file names).
        names = sorted(path.name for path in Path(MACRO_SOURCE_DIR).glob("*.C"))
        if not names:
            return []
        build_dir = os.path.join(self.build_lib, *MACRO_PACKAGE.split("."))
        return [(MACRO_PACKAGE, MACRO_SOURCE_DIR, build_dir, names)]

    # NOTE: both methods are setuptools internals, checked in setuptools 70.1
    # and 84.2. _get_data_files feeds the wheel and editable installs, and
    # get_data_files_without_manifest feeds the sdist file list.
    def _get_data_files(self):
        return super()._get_data_files() + self._macro_data_files()

    def get_data_files_without_manifest(self):
        return super().get_data_files_without_manifest() + self._macro_data_files()


setup(cmdclass={"build_py": BuildPyWithMacros})
