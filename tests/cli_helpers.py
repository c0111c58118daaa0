"""Run the ``bumpnet`` command line in a subprocess, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str | Path,
    timeout: float = 300,
    extra_environment: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m bumpnet_root ARGS`` with the repository on the path."""
    environment = {**os.environ, **(extra_environment or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "bumpnet_root", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )
