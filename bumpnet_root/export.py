"""TorchScript export and loading of BumpNet models.

A model file is a TorchScript archive with one extra file, ``metadata.json``,
that records the package and torch versions, the training settings and the
validation figures. Loading needs torch only, not this package's classes, so
the same file can be used from C++ (``torch::jit::load``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from .errors import ModelNotFoundError

METADATA_NAME = "metadata.json"


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
    if path.is_dir():
        raise ModelNotFoundError(
            f"BumpNet model path {str(path)!r} is a directory; pass the model.pt "
            "file that 'bumpnet train' wrote into it"
        )
    if not path.is_file():
        raise ModelNotFoundError(
            f"BumpNet model file {str(path)!r} does not exist; pass the path of a "
            "model written by 'bumpnet train', or None for the default model"
        )
    extra = {METADATA_NAME: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as error:
        raise ModelNotFoundError(
            f"cannot load BumpNet model {str(path)!r}: {error}; the file is not a "
            "TorchScript archive, or it is damaged"
        ) from error
    metadata = json.loads(extra[METADATA_NAME]) if extra[METADATA_NAME] else {}
    module.eval()
    return module, metadata


def file_checksum(path: str | Path) -> str:
    """Return the SHA-256 of a file as a hex string."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
