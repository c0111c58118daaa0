"""TorchScript export and loading of BumpNet models.

A model file is a TorchScript archive with one extra file, ``metadata.json``,
that records the package and torch versions, the training settings and the
validation figures. Loading needs torch only, not this package's classes, so
the same file can be used from C++ (``torch::jit::load``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from ._model_file import (
    METADATA_NAME,
    check_model_path,
    damaged_model_error,
    file_checksum,
)

__all__ = ["METADATA_NAME", "file_checksum", "load_torchscript", "save_torchscript"]


def save_torchscript(module: torch.nn.Module, path: str | Path, metadata: dict) -> None:
    """Script ``module`` and write it with ``metadata`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(module.eval())
    extra = {METADATA_NAME: json.dumps(metadata, sort_keys=True)}
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".pt.tmp")
    os.close(descriptor)
    try:
        torch.jit.save(scripted, temporary, _extra_files=extra)
        # mkstemp creates the file readable by its owner only.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict]:
    """Load a model file and return ``(module, metadata)``.

    Raises ModelNotFoundError when the file is missing or is not a TorchScript
    archive written by :func:`save_torchscript`.
    """
    path = Path(path)
    check_model_path(path)
    extra = {METADATA_NAME: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as error:
        raise damaged_model_error(path, error) from error
    metadata = json.loads(extra[METADATA_NAME]) if extra[METADATA_NAME] else {}
    module.eval()
    return module, metadata
